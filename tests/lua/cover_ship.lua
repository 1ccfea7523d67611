-- cover_ship.lua: the corners of function shipping (runtime/bind/ship.c)
-- that ship.lua leaves: corrupt shipping streams (each a named error,
-- never a crash), functions nested past the limit, generators reached
-- twice, _ENV games, globals that are nil, descriptors dropped when a
-- value half-encoded with handles fails, and the same odd values sent to
-- `tide --worker` processes by the spawn backend.
local check = require "check"

local I = tide._internal
local ship, unship = I.ship, I.unship
local function rt(f) return unship(ship(f)) end

local function u32(n) return string.pack("<I4", n) end
local V = ship(nil):sub(1, 1)            -- the codec's version byte
local T_I8, T_TABLE, T_REF, T_NAMED, T_FUNC, T_RNG = 3, 9, 10, 32, 33, 34
check.eq(ship(nil), V .. "\0\0", "nil: version, nil, no globals")

-- corrupt streams -------------------------------------------------------------
local function corrupt(msg, want, what)
  local ok, err = pcall(unship, msg)
  check.eq(ok, false, what .. " is refused")
  check.truthy(tostring(err):find(want, 1, true), what .. ": " .. tostring(err))
end
corrupt(V .. "\0\2", "bad globals list", "a globals list flag other than 0 or 1")
corrupt(V .. string.char(T_FUNC + 2), "unknown tag", "a shipping tag past the last")
corrupt(V .. string.char(T_FUNC) .. u32(2) .. "ab\0\0", "function without bytecode",
        "a function of two bytes")
corrupt(V .. string.char(T_FUNC) .. u32(6) .. "return\0\0", "function without bytecode",
        "a function in source form")
corrupt(V .. string.char(T_FUNC) .. u32(8) .. "\27Lua\0\0\0\0\0\0", "corrupt message",
        "bytecode that does not load")
local name = "no_such_module_xq.f"
corrupt(V .. string.char(T_NAMED) .. u32(#name) .. name .. "\0",
        "cannot find library value 'no_such_module_xq.f'", "a library value nobody has")

-- a function of one upvalue, its stream taken apart: V FUNC len code nup kind value
local up = 5
local function one() return up end
local m = ship(one)
local n = string.unpack("<I4", m, 3)
local head, nup_at = m:sub(1, 6 + n), 7 + n
check.eq(m:byte(nup_at), 1, "one upvalue")
check.eq(m:sub(nup_at + 1), "\0" .. string.char(T_I8, 5) .. "\0", "sent by value: an int8")
check.eq(unship(m)(), 5, "the untouched stream decodes")
corrupt(head .. "\2\0" .. string.char(T_I8, 5) .. "\0", "wrong number of upvalues",
        "a count that is not the function's")
corrupt(head .. "\1\7" .. string.char(T_I8, 5) .. "\0", "bad upvalue", "an upvalue kind of 7")
corrupt(head .. "\1\1" .. u32(9) .. "\1\0", "upvalue of a function not yet seen",
        "a shared upvalue of a later function")
corrupt(head .. "\1\1" .. u32(0) .. "\0\0", "shared upvalue of no function",
        "a shared upvalue number 0")
corrupt(head .. "\1\1" .. u32(0) .. "\2\0", "shared upvalue of no function",
        "a shared upvalue past the function's count")
-- {t, f}: the table is id 0, so f's upvalue "shared with function 0" names a table
local inner = head .. "\1\1" .. u32(0) .. "\1"
corrupt(V .. string.char(T_TABLE) .. "\2\0\0\0" .. u32(0) .. inner .. "\0", "corrupt message",
        "a shared upvalue of a table")
-- a generator with a state it cannot have
local gen = tide.rng(7)
local g = ship(gen)
check.eq(#g, 1 + 1 + 40 + 2 + 8 + 1, "a generator: tag, 10 words, 2 bytes, a double, end")
local avail_at = 1 + 1 + 40 + 1
corrupt(g:sub(1, avail_at - 1) .. "\5" .. g:sub(avail_at + 1), "bad generator state",
        "five numbers buffered")
corrupt(g:sub(1, avail_at) .. "\2" .. g:sub(avail_at + 2), "bad generator state",
        "a spare flag of 2")
-- one generator reached twice stays one
local two = rt({gen, gen})
check.truthy(two[1] == two[2], "a generator reached twice stays one")
check.eq(two[1]:uniform(), gen:uniform(), "and draws what the original draws")

-- functions nested past the limit -----------------------------------------------
local f = function() return 0 end
for _ = 1, 210 do
  local g2 = f
  f = function() return g2() + 1 end
end
check.errors(function() ship(f) end, "nested too deep")
local f100 = function() return 0 end
for _ = 1, 100 do
  local g2 = f100
  f100 = function() return g2() + 1 end
end
check.eq(rt(f100)(), 100, "a hundred nested closures travel")

-- _ENV games ----------------------------------------------------------------------
local check_own_env
do
  local _ENV = {x = 41}
  function own_env() return x + 1 end        -- a field of the local _ENV
  check_own_env = own_env
end
local sent = rt(check_own_env)
check.eq(sent(), 42, "a function with its own _ENV carries that table")
local function envswap()
  local _ENV = {y = 2}
  return function() return y end
end
check.eq(rt(envswap())(), 2, "a closure over a local _ENV")
-- a global that is nil when shipped is nil on the other side too
cover_ship_maybe = nil
local function reads_nil() return cover_ship_maybe end
cover_ship_maybe = nil
check.eq(rt(reads_nil)(), nil, "a global that is nil stays nil")
-- globals read transitively: a global function reading another global
cover_ship_base = 10
function cover_ship_add(x) return x + cover_ship_base end
function cover_ship_twice(x) return 2 * cover_ship_add(x) end
local gm = ship(function(x) return cover_ship_twice(x) end)
cover_ship_base, cover_ship_add, cover_ship_twice = nil, nil, nil
check.eq(unship(gm)(1), 22, "globals read through other globals travel")
check.eq(cover_ship_base, 10, "and are set on the receiving side (here, this one)")
cover_ship_base, cover_ship_add, cover_ship_twice = nil, nil, nil

-- errors with handles: descriptors taken before the failure are closed -----------
local sh = tide.zeros(8, {shared = true})
local co = coroutine.create(function() end)
check.errors(function() I.ship_local({sh, co}) end, "cannot send a coroutine")
check.eq(I.ship_local(function() return sh end)()[1], 0, "after the failures, a shared array travels")

-- C functions and userdata that cannot travel -------------------------------------
local cf = tide._internal.ship                  -- reachable: tide._internal is loaded
check.eq(rt(cf), cf, "a C function of a loaded library goes by name")
local lost = load("return ...")                 -- a Lua function: travels
check.eq(rt(lost)(3), 3, "a loaded chunk travels")
local sock = io.tmpfile()
check.errors(function() ship(function() return sock end) end, "a file handle")
sock:close()
check.errors(function() ship({coroutine.create(print)}) end, "cannot send a coroutine")

-- the same over the spawn backend ------------------------------------------------
local shared_n = 0
local function inc() shared_n = shared_n + 1; return shared_n end
local function get() return shared_n end
local obj = {name = "o"}
obj.me = obj
local function task(i)
  inc(); inc()
  -- inc and get share shared_n in the worker too: get sees inc's writes
  return get() * 100 + i + (obj.me == obj and 1 or 0) + check_own_env() + f100()
end
local r = tide.collect(task, 6, {backend = "spawn", jobs = 2, chunk = 6})
-- one chunk of six on one worker: shared_n counts 2, 4, ... 12
for i = 1, 6 do check.eq(r[i], 200 * i + i + 1 + 42 + 100, "spawn, shared upvalue, task " .. i) end
check.eq(shared_n, 0, "the parent's upvalue is untouched")
local ok, err = pcall(tide.collect, function() return sock end, 2, {backend = "spawn", jobs = 2})
check.eq(ok, false, "a closed file handle cannot go to a spawn worker")
check.truthy(tostring(err):find("file handle", 1, true), "named: " .. tostring(err))
ok, err = pcall(tide.collect, f, 2, {backend = "spawn", jobs = 2})
check.eq(ok, false, "nor closures nested 210 deep")
check.truthy(tostring(err):find("nested too deep", 1, true), "named: " .. tostring(err))
-- a generator as an upvalue draws in the worker what the parent would draw
local g3 = tide.rng(11)
local want = tide.rng(11):uniform()
local got = tide.collect(function() return g3:uniform() end, 2, {backend = "spawn", jobs = 2, chunk = 1})
check.eq(got[1], want, "a generator's state travels to a spawn worker")

check.done()
