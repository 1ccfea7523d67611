-- dump.lua: tide.dump / tide.undump.  Round trips of every kind of value
-- (read and mapped), fitted models that predict the same after a trip
-- through a file in a fresh process, refusal of code, atomic writes, and a
-- file altered at every section boundary (bit flips, truncations) refused
-- with a clear error, never a crash or a wrong value.
local check = require "check"
local bin = os.getenv("TIDE_BIN")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
local function path(name) return dir .. "/" .. name end

local function trip(v, opts)
  tide.dump(v, path("v.tide"))
  return tide.undump(path("v.tide"), opts)
end

local function ls(d)
  local names = {}
  local p = io.popen("ls -A " .. d)
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  return names
end

-- scalars, strings, tables ----------------------------------------------
for _, v in ipairs{0, -1, 127, 128, -129, 2^31, math.maxinteger, math.mininteger} do
  if math.type(v) == "float" then v = math.tointeger(v) end
  local r = trip(v)
  check.eq(r, v, "integer " .. v)
  check.eq(math.type(r), "integer", "integer stays integer " .. v)
end
for _, v in ipairs{0.0, 1.0, -2.5, 1e300, 5e-324, math.huge, -math.huge, 2^63} do
  local r = trip(v)
  check.eq(r, v, "float " .. v)
  check.eq(math.type(r), "float", "float stays float " .. v)
end
check.truthy(trip(0 / 0) ~= trip(0 / 0), "NaN")
check.eq(1 / trip(-0.0), -math.huge, "-0.0")
check.eq(trip(nil), nil, "nil")
check.eq(trip(true), true, "true")
check.eq(trip(false), false, "false")
for _, s in ipairs{"", "a\0b", string.rep("x", 300), string.rep("\xff", 100000)} do
  check.eq(trip(s), s, "string of " .. #s .. " bytes")
end
local shared = {k = "shared"}
local t = {1, 2.0, "three", {4}, shared = shared, again = shared, [2.5] = "f", [true] = false,
           list = {shared, shared}, deep = {a = {b = {c = {d = "deep"}}}}}
t.self = t
local r = trip(t)
check.eq(r[1], 1); check.eq(math.type(r[2]), "float"); check.eq(r[3], "three")
check.eq(r[4][1], 4); check.eq(r[2.5], "f"); check.eq(r[true], false)
check.truthy(r.shared == r.again and r.list[1] == r.shared and r.list[2] == r.shared,
             "shared references kept")
check.truthy(r.self == r, "cycle kept")
check.eq(r.deep.a.b.c.d, "deep")
local ring = {}
local node = ring
for i = 1, 10 do node.next = {i = i}; node = node.next end
node.next = ring
local rr, steps = trip(ring), 0
local n = rr
repeat n = n.next; steps = steps + 1 until n == rr or steps > 20
check.eq(steps, 11, "a ring of 11 tables")
local k = {name = "key"}
local tk = trip{[k] = k}
check.truthy(next(tk) == tk[next(tk)], "a table key that is also its value")

-- arrays --------------------------------------------------------------------
for _, dt in ipairs{"f64", "f32", "i64", "i32", "u8", "bool"} do
  local a = dt == "bool" and tide.array({{true, false, true}, {false, true, true}}, "bool")
            or tide.arange(6):astype(dt):reshape(2, 3)
  for _, mode in ipairs{false, "r", "c"} do
    local b = trip({a = a}, {mmap = mode or nil}).a
    check.eq(b.dtype, dt, dt .. " dtype")
    check.array(b, a:totable(), nil, dt .. " values, mmap " .. tostring(mode))
    check.eq(b.storage, mode and "file" or "heap", dt .. " storage")
    check.eq(b.readonly, mode == "r", dt .. " read-only only when mapped r")
  end
end
local m = tide.arange(12.0):reshape(3, 4)
local views = trip{t = m:t(), col = m:col(2), rev = tide.arange(10):slice(1, 10, 1, -1),
                   scalar = tide.full({}, 7), empty = tide.zeros(0, 3), m = m, m2 = m}
check.array(views.t, m:t():totable(), nil, "transposed view")
check.eq(views.t:is_contiguous(), true, "comes back C-ordered")
check.array(views.col, m:col(2):totable(), nil, "column view")
check.array(views.rev, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, nil, "negative strides")
check.eq(views.scalar.ndim, 0); check.eq(views.scalar:item(), 7.0)
check.eq(views.empty.shape[1], 0); check.eq(views.empty.shape[2], 3)
check.truthy(views.m == views.m2, "one array twice is one array")
local mapped = trip({m = m, e = tide.zeros(0), s = tide.full({}, 1)}, {mmap = "r"})
check.eq(mapped.e.size, 0, "an empty array mapped")
check.eq(mapped.s:item(), 1.0, "a 0-d array mapped")
check.errors(function() mapped.m[1][1] = 5 end, "read-only")
local cow = trip({m = m}, {mmap = "c"}).m
cow[1][1] = 99
check.eq(cow[1][1], 99.0, "copy-on-write map is writable")
check.eq(tide.undump(path("v.tide")).m[1][1], 0.0, "and the file keeps its bytes")

-- a big array: shared memory when read, the file's pages when mapped
local big = tide.rand(400000, {seed = 3})
tide.dump({big = big, small = {1, 2}}, path("big.tide"))
local f = io.open(path("big.tide"), "rb")
local size = f:seek("end")
f:close()
check.truthy(size >= 3200000 and size < 3200000 + 8192, "file size " .. size)
local rb = tide.undump(path("big.tide"))
check.eq(rb.big.storage, "shared", "big array read into shared memory")
check.eq(rb.big:sum(), big:sum(), "big array values")
local mb = tide.undump(path("big.tide"), {mmap = "r", verify = true})
check.eq(mb.big.storage, "file", "big array mapped")
check.eq(mb.big:sum(), big:sum(), "mapped values")
check.eq(#mb.small, 2)

-- rowsets, registered classes ----------------------------------------------
local rs = trip{tide.rowset{{1, 3}, {7, 9}}}[1]
check.truthy(tide.is_rowset(rs) and rs == tide.rowset{{1, 3}, {7, 9}}, "a rowset")
local Point = {}
Point.__index = Point
tide.register_class("test.Point", Point)
local p = trip{p = setmetatable({x = 1, y = tide.ones(2)}, Point)}.p
check.eq(getmetatable(p), Point, "a registered class")
check.eq(p.y[2], 1.0)

-- fitted models predict the same, here and in a fresh process ---------------
local X = tide.rand({300, 4}, {seed = 7})
local y = X:col(1) * 3 - X:col(2) + tide.randn(300, {seed = 8}) * 0.1
local ycls = (X:col(1):gt(0.5)):astype("i64")
local fitted = {
  linear = tide.models.linear{}:fit(X, y),
  ridge = tide.models.ridge{alpha = 0.3}:fit(X, y),
  lasso = tide.models.lasso{alpha = 0.01}:fit(X, y),
  enet = tide.models.elasticnet{alpha = 0.01}:fit(X, y),
  logistic = tide.models.logistic{}:fit(X, ycls),
  knn = tide.models.knn_regressor{k = 3}:fit(X, y),
  knc = tide.models.knn_classifier{k = 3}:fit(X, ycls),
  pipe = tide.pipeline{tide.models.standard_scaler{}, tide.models.ridge{}}:fit(X, y),
}
tide.dump({models = fitted, X = X}, path("models.tide"))
for _, mode in ipairs{false, "r"} do
  local back = tide.undump(path("models.tide"), {mmap = mode or nil})
  for name, model in pairs(fitted) do
    local b = back.models[name]
    check.eq(getmetatable(b), getmetatable(model), name .. " keeps its class")
    check.array(b:predict(X), model:predict(X):totable(), nil, name .. " predicts the same")
  end
end
if bin then
  -- a process that never touched tide.models rebuilds them from the file
  local code = string.format([[
    local back = tide.undump(%q, {mmap = "r"})
    local p = back.models.ridge:predict(back.X)
    io.write(string.format("%%.17g %%s", p:sum(), tostring(back.models.pipe)))
  ]], path("models.tide"))
  local h = io.popen(bin .. " -e '" .. code:gsub("'", "'\\''") .. "' 2>&1")
  local out = h:read("a")
  h:close()
  check.eq(out:match("^(%S+)"), string.format("%.17g", fitted.ridge:predict(X):sum()),
           "a fresh process predicts the same: " .. out)
end

-- data only: code is refused ----------------------------------------------------
tide.dump({ok = 1}, path("keep.tide"))
for what, v in pairs{
  ["a function"] = {f = function() end},
  ["a function (C)"] = {print},
  ["a thread"] = {co = coroutine.create(print)},
  ["a userdata (FILE*)"] = {io.stdout},
  ["Lua bytecode"] = {code = string.dump(function() return 1 end)},
  ["a table with a metatable"] = {setmetatable({}, {})},
} do
  check.errors(function() tide.dump(v, path("keep.tide")) end, "cannot dump " .. what:gsub(" %(C%)", ""))
  check.eq(tide.undump(path("keep.tide")).ok, 1, "a refused dump leaves the old file (" .. what .. ")")
end
check.errors(function() tide.dump({print}, path("keep.tide")) end, "value → [1]: cannot dump a function")
check.errors(function() tide.dump({a = {b = {coroutine.create(print)}}}, path("x.tide")) end,
             "value → field a → field b → [1]: cannot dump a thread")
local names = ls(dir)
table.sort(names)
check.eq(table.concat(names, " "), "big.tide keep.tide models.tide v.tide", "no temp file left")
-- a stream that would carry bytecode is refused on undump too
do
  local code = string.dump(function() end)
  local s = string.rep("x", #code)
  tide.dump({s}, path("bc.tide"))
  local bytes = io.open(path("bc.tide"), "rb"):read("a")
  local at = bytes:find(s, 1, true)
  -- rewrite the string and fix the stream's and header's checksums as a
  -- forger would: only tide's refusal stands in the way
  local forged = bytes:sub(1, at - 1) .. code .. bytes:sub(at + #code)
  local ssize, soff = string.unpack("<I8", forged, 65), string.unpack("<I8", forged, 57)
  forged = forged:sub(1, 96) .. tide._internal.digest(forged:sub(soff + 1, soff + ssize)) .. forged:sub(113)
  forged = forged:sub(1, 112) .. tide._internal.digest(forged:sub(1, 112)) .. forged:sub(129)
  io.open(path("bc.tide"), "wb"):write(forged):close()
  check.errors(function() tide.undump(path("bc.tide")) end, "Lua bytecode in a data-only dump")
  os.remove(path("bc.tide"))
end

-- arguments ----------------------------------------------------------------------
check.errors(function() tide.undump(path("nope.tide")) end, "cannot open")
check.errors(function() tide.undump(path("v.tide"), {mmap = "r+"}) end, "mmap must be")
check.errors(function() tide.undump(path("v.tide"), 3) end, "bad argument #2")
check.errors(function() tide.dump(1) end, "bad argument #2")
check.errors(function() tide.dump({}, dir .. "/no/such/dir/x.tide") end, "cannot create")
io.open(path("short"), "wb"):write("\x89TI"):close()
check.errors(function() tide.undump(path("short")) end, "truncated")
io.open(path("other"), "wb"):write(string.rep("not a dump ", 20)):close()
check.errors(function() tide.undump(path("other")) end, "not a tide dump")
io.open(path("empty"), "wb"):close()
check.errors(function() tide.undump(path("empty")) end, "truncated: 0 bytes")

-- altered files: every section boundary ---------------------------------------------
local value = {n = 1, f = 2.5, s = "text", t = {1, 2, 3}, a = tide.arange(1000.0),
               b = tide.ones(3, 3):astype("i32"), e = tide.zeros(0), c = tide.arange(5)}
value.self = value
tide.dump(value, path("good.tide"))
local good = io.open(path("good.tide"), "rb"):read("a")
local count = string.unpack("<I8", good, 33)
local tsize = string.unpack("<I8", good, 49)
local soff, ssize = string.unpack("<I8", good, 57), string.unpack("<I8", good, 65)
check.eq(count, 4, "four arrays")
-- section boundaries: header, table, stream, each blob and its padding
local bounds = {0, 128, 128 + tsize, soff + ssize}
local blobs = {}
local at = 129
for _ = 1, count do
  local off, nb = string.unpack("<I8I8", good, at)
  local nd = good:byte(at + 33)
  blobs[#blobs + 1] = {off, nb}
  bounds[#bounds + 1] = off
  bounds[#bounds + 1] = off + nb
  at = at + 40 + 8 * nd
end
check.eq(bounds[#bounds], #good, "the last blob ends the file")
local function in_blob(pos) -- 0-based byte inside some blob's data
  for _, b in ipairs(blobs) do if pos >= b[1] and pos < b[1] + b[2] then return true end end
  return false
end
local function refused(bytes, what, modes)
  io.open(path("bad.tide"), "wb"):write(bytes):close()
  for _, o in ipairs(modes) do
    local ok, err = pcall(tide.undump, path("bad.tide"), o)
    if ok then
      check.truthy(false, what .. " accepted with " .. (o.mmap or "read") ..
                   (o.verify and "+verify" or ""))
    else
      check.truthy(tostring(err):find("bad.tide", 1, true), what .. ": error names the file: " ..
                   tostring(err))
    end
  end
end
local all = {{}, {mmap = "r", verify = true}, {mmap = "c", verify = true}}
local seen, nflips = {}, 0
for _, b in ipairs(bounds) do
  for _, pos in ipairs{b - 1, b, b + 1} do
    if pos >= 0 and pos < #good and not seen[pos] then
      seen[pos] = true
      for bit = 0, 7, 7 do
        local x = string.char(good:byte(pos + 1) ~ (1 << bit))
        local modes = in_blob(pos) and all or {{}, {mmap = "r", verify = true}, {mmap = "r"}}
        refused(good:sub(1, pos) .. x .. good:sub(pos + 2), "flip of bit " .. bit .. " at byte " .. pos,
                modes)
        nflips = nflips + 1
      end
    end
  end
  for _, len in ipairs{b - 1, b, b + 1} do
    if len >= 0 and len < #good then
      refused(good:sub(1, len), "truncation to " .. len .. " bytes", {{}, {mmap = "r"}})
    end
  end
end
check.truthy(nflips >= 30, "flips tried: " .. nflips)
refused(good .. "\0", "a byte appended", {{}, {mmap = "r"}})
-- random flips anywhere: read and verified maps refuse each one
local seed = 99
for _ = 1, 300 do
  seed = (seed * 1103515245 + 12345) % 2147483648
  local pos = seed % #good
  local x = string.char(good:byte(pos + 1) ~ (1 << (seed >> 8) % 8))
  refused(good:sub(1, pos) .. x .. good:sub(pos + 2), "flip at " .. pos, {{}, {mmap = "r", verify = true}})
end
-- an unverified map reads an altered blob: that is what verify is for
local first = blobs[1][2] > 0 and blobs[1][1] or blobs[2][1]
local altered = good:sub(1, first) .. string.char(good:byte(first + 1) ~ 1) .. good:sub(first + 2)
io.open(path("bad.tide"), "wb"):write(altered):close()
check.truthy(pcall(tide.undump, path("bad.tide"), {mmap = "r"}), "unverified map of an altered blob")
check.errors(function() tide.undump(path("bad.tide"), {mmap = "r", verify = true}) end,
             "checksum mismatch: the file was altered or damaged")
check.errors(function() tide.undump(path("bad.tide")) end, "checksum mismatch")
check.eq(tide.undump(path("good.tide")).a[1000], 999.0, "the good file is good")

os.execute("rm -rf " .. dir)
check.done()
