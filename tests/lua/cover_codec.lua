-- cover_codec.lua: corners of the codec (runtime/bind/l_codec.c) that
-- codec.lua leaves: scalar messages with bytes past their value, classes
-- whose module is not loaded in the decoding process (tide.* names found
-- through package.preload or not, other names), hooked classes unknown
-- there, register_class's argument checks, and a shipped array with a
-- write mode no array has.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")

local V = tide.encode(nil):sub(1, 1)

-- scalars: the fast path refuses a message longer than its value -------------------
local scalars = table.pack(nil, true, false, 5, -70000, 1 << 40, 0.5)
for k = 1, scalars.n do
  local v = scalars[k]
  local m = tide.encode(v)
  check.eq(tide.decode(m), v, "scalar " .. tostring(v))
  check.errors(function() tide.decode(m .. "\0") end, "trailing bytes", "scalar " .. tostring(v) .. " + 1 byte")
end
check.errors(function() tide.decode(V .. "\0\0") end, "trailing bytes", "nil + 1 byte")
check.errors(function() tide.decode(V .. "\2\0") end, "trailing bytes", "true + 1 byte")

-- register_class checks ----------------------------------------------------------------
check.errors(function() tide.register_class("", {}) end, "class name must have 1 to 255 bytes")
check.errors(function() tide.register_class(string.rep("n", 256), {}) end, "1 to 255 bytes")
check.errors(function() tide.register_class("Half", {}, {encode = function() end}) end,
             "hooks need both encode and decode functions")
check.errors(function() tide.register_class("Half", {}, {decode = 5, encode = print}) end,
             "hooks need both encode and decode functions")

-- classes the decoding process does not know -------------------------------------------
local names = {"tide.nosuchmod.Thing", "tide.x", "tide.models.NoSuchModel", "plain.Thing"}
local msgs = {}
for _, name in ipairs(names) do
  local mt = {}
  tide.register_class(name, mt)
  msgs[#msgs + 1] = tide.encode(setmetatable({k = name}, mt))
  local hmt = {}
  tide.register_class(name .. "H", hmt, {encode = function(o) return o.k end,
                                         decode = function(k) return setmetatable({k = k}, hmt) end})
  msgs[#msgs + 1] = tide.encode(setmetatable({k = name}, hmt))
  check.eq(tide.decode(msgs[#msgs]).k, name, "decoded here, where " .. name .. "H is known")
end
-- and a fitted model, whose module a fresh process has not loaded yet
local X = tide.arange(12):reshape(6, 2):astype("f64")
local y = tide.arange(6):astype("f64")
local model = tide.models.ridge{alpha = 1}:fit(X, y)
msgs[#msgs + 1] = tide.encode(model)
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
for i, m in ipairs(msgs) do
  local f = assert(io.open(dir .. "/m" .. i, "wb"))
  f:write(m)
  f:close()
end
local child = dir .. "/child.lua"
local f = assert(io.open(child, "w"))
f:write([[
local dir, n = arg[1], tonumber(arg[2])
for i = 1, n do
  local h = assert(io.open(dir .. "/m" .. i, "rb")); local s = h:read("a"); h:close()
  local ok, v = pcall(tide.decode, s)
  if ok and type(v) == "table" and v.predict then
    v = string.format("model %.6f", v:predict(tide.array{{1, 2}})[1])
  elseif not ok then
    v = tostring(v):gsub("\n.*", "")
  end
  print(i, ok, v)
end
]])
f:close()
local p = io.popen(string.format("%q %q %q %d 2>&1", bin, child, dir, #msgs))
local out = p:read("a")
p:close()
os.execute("rm -rf " .. dir)
local lines = {}
for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
check.eq(#lines, #msgs, "one line per message: " .. out)
for k, name in ipairs(names) do
  local plain, hooked = lines[2 * k - 1] or "", lines[2 * k] or ""
  check.truthy(plain:find("false", 1, true) and
               plain:find("cannot rebuild an object of unknown class '" .. name .. "'", 1, true),
               "unknown class " .. name .. " in a fresh process: " .. plain)
  check.truthy(hooked:find("false", 1, true) and
               hooked:find("no class with a decode hook has that name here", 1, true),
               "unknown hooked class " .. name .. "H: " .. hooked)
end
local want = string.format("model %.6f", model:predict(tide.array{{1, 2}})[1])
check.truthy((lines[#msgs] or ""):find("true\t" .. want, 1, true),
             "a model decoded where tide.models was never loaded: " .. tostring(lines[#msgs]))

-- a shipped array with a write mode no array has ----------------------------------------
local s = tide._internal.ship(tide.array{1, 2, 3})
local T_ARR = 13
check.eq(s:byte(2), T_ARR, "an array by content")
local bad = s:sub(1, 2) .. "\9" .. s:sub(4)
check.errors(function() tide._internal.unship(bad) end, "bad array mode")
check.eq(tide._internal.unship(s)[3], 3, "the untouched message decodes")

-- shipping tags and dump tags where they do not belong ------------------------------------
check.errors(function() tide.decode(V .. string.char(32) .. string.pack("<I4", 0)) end, "unknown tag",
             "a library value outside shipping")
check.errors(function() tide.decode(V .. string.char(16) .. string.pack("<I4", 0)) end,
             "a dump's array outside a dump")
-- a private-copy array by content keeps its mode: writable where it lands
local cow = tide.zeros(4, {worker_mode = "c"})
local back = tide._internal.unship(tide._internal.ship(function() return cow end))()
back[1] = 9
check.eq(back[1], 9, "a worker_mode 'c' array shipped by content is writable")
check.eq(cow[1], 0, "and a copy")
-- an empty view of a shared array, by handle
local sh = tide.zeros(8, {shared = true})
local empty = sh:slice(1, 3, 2)
check.eq(#empty, 0, "an empty view")
local e2 = tide._internal.ship_local(function() return empty end)()
check.eq(#e2, 0, "an empty view by handle")

check.done()
