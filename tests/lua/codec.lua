-- codec.lua: tide.encode / tide.decode round trips of every kind of value,
-- the error paths with their messages, and corrupt input (every truncation,
-- random bit flips) that must give errors, never crashes.
local check = require "check"

local enc, dec = tide.encode, tide.decode
local function rt(v) return dec(enc(v)) end

-- scalars ------------------------------------------------------------------
check.eq(rt(nil), nil, "nil")
check.eq(rt(true), true, "true")
check.eq(rt(false), false, "false")
for _, v in ipairs{0, 1, -1, 127, -128, 128, -129, 2^31 - 1, -2^31, 2^31, -2^31 - 1,
                   math.maxinteger, math.mininteger, 1 << 40} do
  if math.type(v) == "float" then v = math.tointeger(v) end
  local r = rt(v)
  check.eq(r, v, "integer " .. v)
  check.eq(math.type(r), "integer", "integer stays integer " .. v)
end
for _, v in ipairs{0.0, 1.0, -1.5, 3.0, 1e300, -1e-300, math.huge, -math.huge, math.pi,
                   2^63, 5e-324} do
  local r = rt(v)
  check.eq(r, v, "float " .. v)
  check.eq(math.type(r), "float", "float stays float " .. v)
end
local nan = rt(0 / 0)
check.truthy(nan ~= nan, "NaN survives")
check.eq(math.type(nan), "float", "NaN is a float")
local nz = rt(-0.0)
check.eq(1 / nz, -math.huge, "-0.0 keeps its sign")
check.eq(string.pack("<d", rt(0 / 0)), string.pack("<d", 0 / 0), "NaN bits kept")

-- strings ------------------------------------------------------------------
for _, s in ipairs{"", "a", "a\0b", "\0\0\0", string.rep("x", 255), string.rep("y", 256),
                   string.rep("z\0", 50000), "\xff\xfe utf8 →"} do
  check.eq(rt(s), s, "string of " .. #s .. " bytes")
end

-- tables -------------------------------------------------------------------
local t = rt{1, 2, 3, nil, 5}
check.eq(t[1], 1); check.eq(t[3], 3); check.eq(t[4], nil); check.eq(t[5], 5)
local nested = rt{a = {b = {c = {d = "deep"}}}, list = {{1}, {2}, {3}}}
check.eq(nested.a.b.c.d, "deep", "nested fields")
check.eq(nested.list[3][1], 3, "nested lists")
check.eq(next(rt{}), nil, "empty table")

local mixed = rt{[true] = "t", [false] = "f", [1.5] = "float key", [2] = "two",
                 [-7] = "neg", [0] = "zero", x = 1, [2^53] = "big float key"}
check.eq(mixed[true], "t", "boolean key true")
check.eq(mixed[false], "f", "boolean key false")
check.eq(mixed[1.5], "float key", "float key")
check.eq(mixed[2], "two", "integer key outside the sequence")
check.eq(mixed[-7], "neg", "negative key")
check.eq(mixed[0], "zero", "zero key")
check.eq(mixed[2^53], "big float key", "float key with an integer value")

local ik = rt{[3.0] = "x"}
check.eq(ik[3], "x", "3.0 key normalized to 3")
check.eq(math.type(next(ik)), "integer", "normalized key is an integer")

-- table keys that are tables, shared with values
local k = {name = "k"}
local tk = rt{[k] = k}
local kk = next(tk)
check.eq(kk.name, "k", "table key")
check.truthy(tk[kk] == kk, "table key and value are one table")

-- shared references and cycles
local shared = {}
local s = {a = shared, b = shared, list = {shared, shared}}
s.self = s
local r = rt(s)
check.truthy(r.a == r.b, "shared reference kept")
check.truthy(r.list[1] == r.a and r.list[2] == r.a, "shared inside lists")
check.truthy(r.self == r, "cycle to the root")
check.truthy(r.a ~= shared, "decoded tables are new tables")
local ring = {}
local node = ring
for i = 1, 10 do node.next = {i = i}; node = node.next end
node.next = ring
local rr = rt(ring)
local n, steps = rr, 0
repeat n = n.next; steps = steps + 1 until n == rr or steps > 20
check.eq(steps, 11, "ring of 11 tables comes back as a ring")

-- a large sequence of small records (the pool's result batches)
local batch = {}
for i = 1, 20000 do batch[i] = {i = i, score = i * 0.5, ok = i % 2 == 0} end
local rb = rt(batch)
check.eq(#rb, 20000, "batch length")
check.eq(rb[20000].i, 20000); check.eq(rb[777].score, 388.5); check.eq(rb[10].ok, true)

-- arrays -------------------------------------------------------------------
for _, dt in ipairs{"f64", "f32", "i64", "i32", "u8", "bool"} do
  local a = tide.arange(6):astype(dt):reshape(2, 3)
  if dt == "bool" then a = tide.array({{true, false, true}, {false, false, true}}, "bool") end
  local b = rt(a)
  check.eq(b.dtype, dt, dt .. " dtype")
  check.eq(b.ndim, 2, dt .. " ndim")
  check.array(b, a:totable(), nil, dt .. " values")
  b[1][1] = dt == "bool" and false or 9
  check.truthy(a[1][1] ~= b[1][1] or dt == "bool", dt .. " decoded array independent")
end
local f = tide.array{1.5, -2.25, 0 / 0}
local fb = rt(f)
check.eq(fb[1], 1.5); check.eq(fb[2], -2.25); check.truthy(fb[3] ~= fb[3], "NaN in array")
local orig = tide.arange(5)
local copy = rt(orig)
copy[1] = 100
check.eq(orig[1], 0, "writing the decoded copy leaves the original")
check.eq(copy[1], 100, "decoded array is writable")

-- views: transposed and strided arrays come back C-ordered
local m = tide.arange(12):reshape(3, 4)
local mt_ = rt(m:t())
check.array(mt_, m:t():totable(), nil, "transpose values")
check.eq(mt_:is_contiguous(), true, "decoded transpose is C-contiguous")
check.eq(mt_.shape[1], 4); check.eq(mt_.shape[2], 3)
local strided = m:slice(2, 1, 4, 2)  -- columns 1 and 3
check.array(rt(strided), strided:totable(), nil, "strided columns")
check.array(rt(m:col(2)), m:col(2):totable(), nil, "column view")
local rev = tide.arange(10):slice(1, 10, 1, -1)
check.array(rt(rev), rev:totable(), nil, "negative stride")
local scalar = rt(tide.full({}, 7))
check.eq(scalar.ndim, 0, "0-d array")
check.eq(scalar:item(), 7.0, "0-d value")
local empty = rt(tide.zeros(0, 3))
check.eq(empty.shape[1], 0); check.eq(empty.shape[2], 3); check.eq(empty.size, 0)

-- one array twice: one decoded array; arrays inside tables
local arr = tide.ones(3)
local two = rt{arr, arr, {w = arr}}
check.truthy(two[1] == two[2] and two[3].w == two[1], "same array decoded once")
check.eq(two[1][2], 1.0)

-- a big array inline (above share_bytes: the decoded copy is shared memory)
local big = tide.arange(200000)
local bigr = rt(big)
check.eq(bigr.storage, "shared", "big decoded array in shared memory")
check.eq(bigr[200000], 199999); check.eq(bigr[1], 0)

-- registered classes -------------------------------------------------------
local Point = {}
Point.__index = Point
function Point.new(x, y) return setmetatable({x = x, y = y}, Point) end
function Point:norm2() return self.x * self.x + self.y * self.y end
check.eq(tide.register_class("Point", Point), Point, "register_class returns mt")
local p = rt(Point.new(3, 4))
check.eq(getmetatable(p), Point, "object keeps its class")
check.eq(p:norm2(), 25, "methods work on the decoded object")
local ps = rt{a = Point.new(1, 2), b = Point.new(5, 6)}
check.eq(ps.b:norm2(), 61)
local pself = Point.new(0, 0); pself.me = pself
local pr = rt{pself, pself}
check.truthy(pr[1] == pr[2] and pr[1].me == pr[1], "object shared and cyclic")

-- with hooks: the object is rebuilt by decode from what encode returned
local Box = {}
Box.__index = Box
local made = 0
tide.register_class("Box", Box, {
  encode = function(b) return {b.w, b.h} end,
  decode = function(v) made = made + 1; return setmetatable({w = v[1], h = v[2]}, Box) end,
})
function Box:area() return self.w * self.h end
local bx = Box.__index and setmetatable({w = 2, h = 5, cache = function() end}, Box)
local rbx = rt(bx)
check.eq(getmetatable(rbx), Box, "hooked class")
check.eq(rbx:area(), 10, "hooked object rebuilt")
check.eq(rbx.cache, nil, "the hook chose what crosses")
made = 0
local rboxes = rt{bx, bx, Point.new(bx, 1)}
check.eq(made, 1, "a shared hooked object is rebuilt once")
check.truthy(rboxes[1] == rboxes[2] and rboxes[3].x == rboxes[1], "hooked object shared")

-- hooks can return anything sendable, including arrays
local Model = {}
Model.__index = Model
tide.register_class("Model", Model, {
  encode = function(o) return {coef = o.coef, name = o.name} end,
  decode = function(v) return setmetatable({coef = v.coef, name = v.name}, Model) end,
})
local mo = rt(setmetatable({coef = tide.array{1, 2, 3}, name = "ridge"}, Model))
check.eq(mo.name, "ridge"); check.eq(mo.coef[3], 3.0)

-- hooks may encode and decode themselves (nested codec calls)
local Nest = {}
tide.register_class("Nest", Nest, {
  encode = function(o) return tide.encode{o.x, o.x} end,
  decode = function(str)
    local v = tide.decode(str)
    return setmetatable({x = v[1], same = v[1] == v[2]}, Nest)
  end,
})
local nshared = {k = 1}
local rn = rt{setmetatable({x = nshared}, Nest), nshared, nshared}
check.eq(rn[1].x.k, 1, "nested encode in a hook")
check.truthy(rn[1].same, "nested encode keeps its own references")
check.truthy(rn[2] == rn[3] and rn[2] ~= rn[1].x, "outer references unaffected")

-- encoding the same structure again gives the same bytes
local again = {a = nshared, b = nshared, c = {nshared}}
check.eq(enc(again), enc(again), "repeat encodes are identical")
check.eq(enc(again), enc(rt(again)), "a round trip re-encodes identically")

-- a hooked object that contains itself through its hook cannot cross
local Loop = {}
tide.register_class("Loop", Loop, {encode = function(o) return {o} end,
                                   decode = function(v) return v end})
check.errors(function() enc(setmetatable({}, Loop)) end,
             "value → encode hook of Loop → [1]: cannot send an object that contains itself")

-- re-registering a name moves it to the new metatable
local P2 = {}
tide.register_class("Point", P2)
check.errors(function() enc(Point.new(1, 2)) end, "cannot send a table with a metatable")
check.eq(getmetatable(rt(setmetatable({x = 1}, P2))), P2, "re-registered class")
tide.register_class("Point", Point)
check.eq(getmetatable(rt(Point.new(1, 1))), Point, "registered back")

-- an unknown class on decode names it
local Ghost = {}
tide.register_class("Ghost", Ghost)
local gs = enc(setmetatable({}, Ghost))
tide.register_class("Ghost2", Ghost) -- the metatable moves to another name
check.errors(function() dec(gs) end, "unknown class 'Ghost'")
local Hooked = {}
tide.register_class("Hooked", Hooked, {encode = function() return 1 end,
                                       decode = function() return nil end})
check.errors(function() rt(setmetatable({}, Hooked)) end,
             "decode hook of class 'Hooked' returned nil")

check.errors(function() tide.register_class("", {}) end, "class name")
check.errors(function() tide.register_class("X", {}, {encode = print}) end,
             "hooks need both encode and decode")
check.errors(function() tide.register_class("X") end, "bad argument #2")

-- errors with their paths --------------------------------------------------
check.errors(function() enc(print) end, "value: cannot send a function")
check.errors(function() enc(function() end) end, "cannot send a function")
check.errors(function() enc(coroutine.create(print)) end, "value: cannot send a thread")
check.errors(function() enc{f = io.stdout} end, "value → field f: cannot send a userdata (FILE*)")
check.errors(function() enc(setmetatable({}, {})) end,
             "value: cannot send a table with a metatable (register its class with " ..
             "tide.register_class)")
check.errors(function() enc({x = {1, print}}, "result") end,
             "result → field x → [2]: cannot send a function")
check.errors(function() enc({x = {1, 2, {[true] = coroutine.create(print)}}}, "result 3") end,
             "result 3 → field x → [3] → [true]: cannot send a thread")
check.errors(function() enc{[print] = 1} end, "value → key: cannot send a function")
check.errors(function() enc{[{1, print}] = 1} end, "value → key → [2]: cannot send a function")
check.errors(function() enc{[2.5] = {print}} end, "value → [2.5] → [1]: cannot send a function")
check.errors(function() enc{[{}] = print} end, "value → [a table key]: cannot send a function")
check.errors(function() enc{m = setmetatable({}, {})} end,
             "value → field m: cannot send a table with a metatable")
check.errors(function() enc{p = Point.new(print, 1)} end,
             "value → field p → field x: cannot send a function")
check.errors(function() enc{b = setmetatable({w = print, h = 1}, Box)} end,
             "value → field b → encode hook of Box → [1]: cannot send a function")
local closed = tide.zeros(3); closed:close()
check.errors(function() enc{closed} end, "value → [1]: cannot send a closed array")
check.errors(function() enc(tide.config) end, "cannot send a table with a metatable")
check.errors(function() enc() end, "bad argument #1")
check.errors(function() dec(1) end, "corrupt message")
check.errors(function() dec() end, "bad argument #1")

local deep = {}
local cur = deep
for _ = 1, 250 do cur.x = {}; cur = cur.x end
check.errors(function() enc(deep) end, "nested too deep")
check.errors(function() enc(deep) end, "value → field x → field x → field x → field x → ...")
local ok200 = {}
cur = ok200
for _ = 1, 198 do cur[1] = {}; cur = cur[1] end
cur[1] = "bottom"
local back = rt(ok200)
for _ = 1, 198 do back = back[1] end
check.eq(back[1], "bottom", "199 levels cross")
-- long field names are shortened in paths
check.errors(function() enc{[string.rep("n", 100)] = print} end,
             "field " .. string.rep("n", 40) .. "...: cannot send")

-- a failed encode leaves nothing behind: the next one works
check.eq(rt{1, 2}[2], 2, "encode after errors")

-- corrupt input ------------------------------------------------------------
local sample = {1, -300, 70000, 1 << 50, 2.5, "str", "a\0b", true, false,
                {x = {y = {z = "deep"}}}, tide.arange(4):reshape(2, 2):t(),
                Point.new(1, 2), setmetatable({w = 3, h = 4}, Box),
                [1.5] = "f", [true] = string.rep("long", 100)}
sample.self = sample
sample.again = sample[10]
local good = enc(sample)
local back2 = dec(good)
check.eq(back2[10].x.y.z, "deep"); check.truthy(back2.again == back2[10])
check.eq(back2[13]:area(), 12)

local allerr, crashed = true, 0
for i = 0, #good - 1 do
  local okd, err = pcall(dec, good:sub(1, i))
  if okd or not tostring(err):find("corrupt message", 1, true) then
    allerr = false
    io.stderr:write("prefix ", i, ": ", tostring(err), "\n")
  end
end
check.truthy(allerr, "every truncation of " .. #good .. " bytes is a corrupt-message error")
check.errors(function() dec(good .. "\0") end, "corrupt message: trailing bytes")
check.errors(function() dec("") end, "corrupt message: truncated")
check.errors(function() dec("\2\0") end, "unknown format version")
check.errors(function() dec("\1\99") end, "unknown tag")
check.errors(function() dec("\1\10\0\0\0\0") end, "reference to a table not yet seen")
check.errors(function() dec("\1\9\255\255\255\255\0\0\0\0") end, "table size past the end")
check.errors(function() dec("\1\9\0\0\0\0\255\255\255\127") end, "table size past the end")
check.errors(function() dec("\1\8" .. string.pack("<I8", 1 << 62) .. "ab") end,
             "length past the end")
check.errors(function() dec("\1\13\99\1" .. string.pack("<I8", 1)) end, "bad dtype")
check.errors(function() dec("\1\13\0\33") end, "too many dimensions")
check.errors(function() dec("\1\13\0\2" .. string.pack("<I8I8", 1 << 40, 1 << 40)) end,
             "shape overflows")
check.errors(function()
  dec("\1\13\0\3" .. string.pack("<I8I8I8", 1 << 60, 0, 1 << 60))
end, "shape overflows")
check.errors(function() dec("\1\13\0\1" .. string.pack("<I8", 1 << 40)) end,
             "array bytes past the end")
check.errors(function() dec("\1\13\0\1" .. string.pack("<I8", -1)) end, "bad shape")
check.errors(function()
  dec("\1\14\0\1" .. string.pack("<I8i8I4I8I8I4", 4, 8, 0, 32, 0, 0))
end, "array handle without its descriptor")
check.errors(function() dec("\1\9\0\0\0\0\1\0\0\0\0\1") end, "table key is nil")
check.errors(function() dec("\1\9\0\0\0\0\1\0\0\0\6" .. string.pack("<d", 0 / 0) .. "\0") end,
             "table key is NaN")
-- nesting past 200 levels in a message
local nest = {"\1"}
for _ = 1, 300 do nest[#nest + 1] = "\9\1\0\0\0\0\0\0\0" end
nest[#nest + 1] = "\0"
check.errors(function() dec(table.concat(nest)) end, "nesting deeper than 200")
-- a reference to a hooked object while it is rebuilt
check.errors(function()
  dec("\1\12\3Box\9\1\0\0\0\0\0\0\0\10\0\0\0\0")
end, "reference to an object still being rebuilt")

-- random bit flips: an error or a value, never a crash
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local errs, vals = 0, 0
for _ = 1, 3000 do
  local bytes = {good:byte(1, -1)}
  for _ = 1, 1 + rand(3) do
    local at = 1 + rand(#bytes)
    bytes[at] = bytes[at] ~ (1 << rand(8))
  end
  local okd = pcall(dec, string.char(table.unpack(bytes)))
  if okd then vals = vals + 1 else errs = errs + 1 end
end
check.eq(errs + vals, 3000, "3000 flipped messages decoded or refused")
check.truthy(errs > 0, "some flips are refused")
-- random garbage
for _ = 1, 2000 do
  local n = rand(40)
  local bytes = {1}
  for i = 2, n do bytes[i] = rand(256) end
  pcall(dec, string.char(table.unpack(bytes)))
end
check.truthy(true, "random garbage decoded or refused")
collectgarbage()

-- rowsets travel as their ranges
do
  local r = tide.rowset{{1, 3}, {7, 9}, {20, 19}}
  local back = tide.decode(tide.encode({a = r, b = r}))
  check.truthy(tide.is_rowset(back.a) and back.a == r, "a rowset round trip")
  check.array(back.b:totable(), {1, 2, 3, 7, 8, 9})
  check.eq(#tide.decode(tide.encode(tide.rowset(1, 0))), 0, "an empty rowset")
  local folds = tide.collect(function() return tide.cv.kfold(100, 4) end, 2, {jobs = 2, chunk = 1})
  check.truthy(folds[2][3].test == tide.rowset(51, 75), "folds made in a worker")
  check.errors(function() tide.decode("\1\15" .. string.pack("<I8", 1 << 40)) end, "rowset past the end")
  check.errors(function() tide.decode("\1\15" .. string.pack("<I8I8I8", 1, 1 << 53, 1)) end,
               "bad rowset range")
  check.errors(function()
    tide.decode("\1\15" .. string.pack("<I8I8I8I8I8", 2, 0, 1 << 52, 0, (1 << 52) + 1))
  end, "bad rowset range")
end

check.done()
