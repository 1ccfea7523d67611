-- ship.lua: function shipping (runtime/bind/ship.c), through
-- tide._internal.ship / unship: every kind of value a function can hold,
-- shared upvalues, globals read transitively, library values by name,
-- tracebacks naming the script's lines, every refusal with its path, and
-- a decode in a separate process so that nothing is shared by accident.
local check = require "check"

local I = tide._internal
local ship, unship = I.ship, I.unship
local function rt(f) return unship(ship(f)) end

-- scalars and strings as upvalues -------------------------------------------
local ints = {0, 1, -1, 127, -128, 128, 2^31 - 1, -2^31, 2^31, math.maxinteger, math.mininteger}
for i, v in ipairs(ints) do ints[i] = math.tointeger(v) end
local floats = {0.5, -1.5, 1e300, 5e-324, math.huge, -math.huge, 2^63}
local nan, nz = 0 / 0, -0.0
local s0, big = "a\0b\0", string.rep("xy\0", 1000)
local yes, no = true, false
local function scalars() return ints, floats, nan, nz, s0, big, yes, no end
local i2, f2, nan2, nz2, s2, big2, yes2, no2 = rt(scalars)()
for i, v in ipairs(ints) do
  check.eq(i2[i], v, "integer " .. v)
  check.eq(math.type(i2[i]), "integer", "integer stays integer " .. v)
end
for i, v in ipairs(floats) do
  check.eq(f2[i], v, "float " .. v)
  check.eq(math.type(f2[i]), "float", "float stays float " .. v)
end
check.truthy(nan2 ~= nan2, "NaN survives")
check.eq(1 / nz2, -math.huge, "-0.0 keeps its sign")
check.eq(s2, s0, "string with NULs")
check.eq(big2, big, "long string")
check.eq(yes2, true, "true")
check.eq(no2, false, "false")

-- tables: nesting, cycles, shared subtables ---------------------------------
local shared = {n = 1}
local cyc = {name = "c", deep = {a = {b = {c = "bottom"}}}, s1 = shared, s2 = shared, [1.5] = "f"}
cyc.self = cyc
local t2 = rt(function() return cyc end)()
check.truthy(t2 ~= cyc, "a copy, not the same table")
check.eq(t2.self, t2, "cycle kept")
check.eq(t2.s1, t2.s2, "shared subtable stays shared")
check.eq(t2.deep.a.b.c, "bottom", "nested tables")
check.eq(t2[1.5], "f", "float key")

-- a table shared between an upvalue and a global stays one table
shared_global = shared
local g2 = rt(function() return shared, shared_global end)
local x1, x2 = g2()
check.eq(x1, x2, "one table through an upvalue and a global")

-- arrays -------------------------------------------------------------------
local af = tide.array{1.5, -2.25, 0 / 0}
local ai = tide.arange(6):astype("int32"):reshape(2, 3)
local ab = tide.array({true, false, true}, "bool")
local av = tide.arange(12):reshape(3, 4):t()                 -- a strided view
local ar = tide.arange(10):slice(1, 10, 1, -1)              -- reversed
local bf, bi, bb, bv, br = rt(function() return af, ai, ab, av, ar end)()
check.eq(bf.dtype, "f64"); check.eq(bf[1], 1.5); check.truthy(bf[3] ~= bf[3], "NaN element")
check.eq(bi.dtype, "i32"); check.array(bi, {{0, 1, 2}, {3, 4, 5}}, 0, "int32 matrix")
check.eq(bb.dtype, "bool"); check.eq(bb[2], false); check.eq(bb[3], true)
check.array(bv, {{0, 4, 8}, {1, 5, 9}, {2, 6, 10}, {3, 7, 11}}, 0, "transposed view")
check.eq(br[1], 9, "reversed view starts at its last element")
check.eq(br[10], 0, "reversed view")
-- one array reached twice is one array
local pair = rt(function() return {af, af} end)()
check.eq(pair[1], pair[2], "an array reached twice stays one")

-- shared memory by handle (ship_local: encoded with descriptors, decoded
-- here): the decoded array maps the same pages
local sh = tide.zeros(4, {shared = true})
local back = I.ship_local(function() return sh end)()
back[2] = 7
check.eq(sh[2], 7, "array by handle shares its pages")
local view = I.ship_local(function() return sh:slice(1, 2, 3) end)()
check.eq(view[1], 7, "a view by handle")

-- functions ----------------------------------------------------------------
local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end
check.eq(rt(fact)(10), 3628800, "recursive local function")
local f2 = rt(function(n) return fact(n) end)
check.eq(f2(5), 120, "recursive local through an upvalue")

local function make_adder(k) return function(x) return x + k end end
local adders = rt(function() return make_adder(3)(1), make_adder end)
local v, mk = adders()
check.eq(v, 4, "nested closure built by a shipped function")
check.eq(mk(10)(5), 15, "a closure factory comes back working")
local add5 = make_adder(5)
check.eq(rt(function(x) return add5(x) * 2 end)(1), 12, "closure as an upvalue")

-- two functions sharing an upvalue keep sharing it
local count = 0
local function inc() count = count + 1; return count end
local function get() return count end
local fs = rt({inc, get, inc})
fs[1](); fs[1]()
check.eq(fs[2](), 2, "shared upvalue stays shared")
check.eq(fs[1], fs[3], "one function reached twice stays one")
check.eq(count, 0, "the sender's upvalue is untouched")

-- mutual recursion through upvalues
local is_even, is_odd
function is_even(n) if n == 0 then return true end return is_odd(n - 1) end
function is_odd(n) if n == 0 then return false end return is_even(n - 1) end
local ev = rt(is_even)
check.eq(ev(10), true, "mutually recursive locals")
check.eq(ev(7), false, "mutually recursive locals (odd)")

-- globals, transitively; library values by name -----------------------------
ship_data = {scale = 3}
function ship_helper(x) return ship_inner(x) * ship_data.scale end
function ship_inner(x) return math.sqrt(x) end
local fg = rt(function(x) return ship_helper(x) + #("ab"):rep(2) end)
check.eq(fg(16), 16, "globals read transitively, string methods")

local sqrt, ridge, tmod = math.sqrt, tide.models.ridge, tide
local lib = rt(function() return sqrt, ridge, tmod, string, print end)
local l1, l2, l3, l4, l5 = lib()
check.eq(l1, math.sqrt, "math.sqrt by name")
check.eq(l2, tide.models.ridge, "tide.models.ridge by name")
check.eq(l3, tide, "tide by name")
check.eq(l4, string, "string by name")
check.eq(l5, print, "print by name")
check.truthy(#ship(ridge) < 32, "a library function is a name, not code")
-- fields of library tables that are not modules themselves, a few levels down
for _, name in ipairs{"tide.metrics.r2", "tide.linalg.solve", "tide.optimize.minimize",
                      "string.format", "io.stdout"} do
  local v = load("return " .. name)()
  check.eq(unship(ship(v)), v, name .. " by name")
end
-- the script's own globals never go by name: a global table is copied
ship_global_table = {1}
check.truthy(unship(ship(function() return ship_global_table end))() == ship_global_table,
             "a global read is the receiver's global after shipping (set there)")
check.truthy(unship(ship({ship_global_table}))[1] ~= ship_global_table,
             "a global table as a value is copied, not named")

-- a generator travels by its state, as a fork would copy it
local gen = tide.rng(42, 3)
gen:uniform(); gen:normal()                                  -- a spare normal pending
local gens = rt(function() return gen, gen end)
local g1, g1b = gens()
check.eq(g1, g1b, "one generator reached twice stays one")
for i = 1, 5 do
  check.eq(g1:normal(), gen:normal(), "same normal draw " .. i)
  check.eq(g1:uniform(), gen:uniform(), "same uniform draw " .. i)
end

-- a memoized function travels as its class's object, its function by value
local cache = os.tmpname()
os.remove(cache)
local twice = tide.memoize(function(x) return 2 * x end, {dir = cache})
local mt = rt(function(x) return twice(x) + twice(x) end)
check.eq(mt(21), 84, "a memoized function, shipped")
check.errors(function() tide.encode(twice) end, "cannot send a function")
os.execute("rm -rf '" .. cache .. "'")

-- data only stays data only
check.errors(function() tide.decode(ship(fact)) end, "unknown tag")
check.errors(function() tide.encode(fact) end, "cannot send a function")

-- refusals, with the path ---------------------------------------------------
local gm = ("a"):gmatch("a")                                 -- a C closure, nowhere in package.loaded
local holder = {cb = gm}
local function uses_holder() return holder end
local uses_line = debug.getinfo(1, "l").currentline + 1
check.errors(function() ship(function() return uses_holder() end) end,
             "ship.lua:" .. uses_line .. " \xe2\x86\x92 upvalue 'uses_holder' \xe2\x86\x92 upvalue 'holder' \xe2\x86\x92 field cb: cannot send a C function not reachable from package.loaded")
local co = coroutine.create(function() end)
check.errors(function() ship(function() return co end) end, "upvalue 'co': cannot send a coroutine")
local fh = io.tmpfile()
check.errors(function() ship(function() return {f = fh} end) end, "upvalue 'fh': cannot send a file handle")
fh:close()
local mon = tide.monitor()
check.errors(function() ship(function() return mon end) end, "upvalue 'mon': cannot send a userdata (tide.monitor)")
mon:stop()
ship_bad_global = {co}
check.errors(function() ship(function() return ship_bad_global end) end,
             "global 'ship_bad_global' \xe2\x86\x92 [1]: cannot send a coroutine")
ship_bad_global = nil
check.errors(function() ship(function() return _ENV end) end, "uses _ENV as a value")
check.truthy(ship(function() return io.stdout end), "io.stdout goes by name")

-- corrupt messages: every truncation is an error, never a crash
local msg = ship(function(x) return fact(x) + #cyc.name end)
for n = 0, #msg - 1 do
  check.truthy(not pcall(unship, msg:sub(1, n)), "truncated at " .. n)
end

-- tracebacks name the script's lines ---------------------------------------
local line_of_error = debug.getinfo(1, "l").currentline + 1
local function fails() error("boom") end
local ok, err = pcall(rt(fails))
check.eq(ok, false)
check.truthy(err:find("ship.lua:" .. line_of_error .. ": boom", 1, true), "error names the line: " .. err)
local tb = select(2, xpcall(rt(function() fails() end), debug.traceback))
check.truthy(tb:find("ship.lua:" .. line_of_error, 1, true), "traceback names the line")

-- in a separate process: nothing is shared with this one --------------------
local bin = os.getenv("TIDE_BIN")
if bin then
  local counter = 0
  local function bump() counter = counter + 1; return counter end
  local function peek() return counter end
  ship_table = {k = "v", list = {1, 2, 3}}
  function ship_twice(x) return 2 * x end
  local mat = tide.arange(6):reshape(2, 3):t()
  -- a module of the user's, which the child requires by name
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local mf = assert(io.open(dir .. "/shipmod_test.lua", "w"))
  mf:write("return {add1 = function(x) return x + 1 end, loads = (shipmod_loads or 0) + 1}\n")
  mf:close()
  package.path = dir .. "/?.lua;" .. package.path
  local umod = require "shipmod_test"
  -- a fitted model (an object of a registered class) and a model class
  local X = tide.arange(20):reshape(10, 2):astype("f64")
  local y = tide.arange(10):astype("f64")
  local model = tide.models.ridge{alpha = 1}:fit(X, y)
  local ridge_cls = tide.models.ridge
  local expect_pred = model:predict(X)[3]
  local payload = {
    function(x)  -- globals, library values, arrays, a local recursion
      return ship_twice(fact(x)) + math.floor(math.sqrt(16)) + mat[3][2] + #ship_table.list
    end,
    bump, peek, fails, cyc,
    function() return umod.add1(41), model:predict(X)[3], ridge_cls{alpha = 2}:params().alpha end,
    function() return gen:uniform() end,
  }
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(ship(payload))
  f:close()
  local expect_u = gen:uniform()     -- what the child's copy draws first
  local child = [[
    local f = assert(io.open(arg[1], "rb")); local s = f:read("a"); f:close()
    assert(ship_table == nil and ship_twice == nil, "globals leaked into the child")
    local p = tide._internal.unship(s)
    p[2](); p[2](); p[2]()
    local ok, err = pcall(p[4])
    local m1, m2, m3 = p[6]()
    io.write(p[1](4), " ", p[3](), " ", tostring(p[5].self == p[5]), " ",
             tostring(ship_table.k), " ", m1, " ", string.format("%.17g", m2), " ", m3, " ",
             string.format("%.17g", p[7]()), " ", err, "\n")
  ]]
  local cpath = os.tmpname()
  f = assert(io.open(cpath, "w"))
  f:write(child)
  f:close()
  local pipe = io.popen(string.format("LUA_PATH=%q %q %q %q 2>&1", dir .. "/?.lua;;", bin,
                                      cpath, path))
  local out = pipe:read("a")
  pipe:close()
  os.remove(path)
  os.remove(cpath)
  os.remove(dir .. "/shipmod_test.lua")
  os.remove(dir)
  -- 2 * 24 + 4 + mat[3][2] (= 5) + 3 = 60; the module's add1(41) = 42
  local want = string.format("60 3 true v 42 %.17g 2 %.17g", expect_pred, expect_u)
  local head, msg = out:match("^(.-) (%S+: boom)\n$")
  check.eq(head, want, "decoded in a child: " .. out)
  check.truthy(msg and msg:find("ship.lua:" .. line_of_error .. ": boom", 1, true),
               "the child's error names the line")
  check.eq(counter, 0, "the child's calls leave this process alone")
end

check.done()
