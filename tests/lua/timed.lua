-- timed.lua: tide.timed logs each call, a failed one too ("name failed
-- after 1.23 s: message"), and raises the same error object again.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN not set")

-- the hook: (name, seconds) on success, the error object third on failure
local seen = {}
local function log(name, s, err) seen[#seen + 1] = {name = name, s = s, err = err} end

local add = tide.timed(function(a, b) return a + b, nil, "x" end, "add", {log = log})
local r = table.pack(add(2, 3))
check.eq(r.n, 3, "every result comes back, nils too")
check.eq(r[1], 5); check.eq(r[2], nil); check.eq(r[3], "x")
check.eq(seen[1].name, "add")
check.truthy(type(seen[1].s) == "number" and seen[1].s >= 0, "seconds")
check.eq(seen[1].err, nil, "no error on success")

local function boom() error("boom") end
local _, plain = pcall(boom)
local ok, e = pcall(tide.timed(boom, "work", {log = log}))
check.eq(ok, false)
check.eq(e, plain, "the message is raised again unchanged (no position added)")
check.eq(seen[2].name, "work")
check.eq(seen[2].err, plain, "the hook gets the error")
check.truthy(seen[2].s >= 0, "seconds on failure")

local obj = setmetatable({}, {__tostring = function() return "an object" end})
ok, e = pcall(tide.timed(function() error(obj) end, "obj", {log = log}))
check.truthy(rawequal(e, obj), "an error object is raised again as itself")
check.truthy(rawequal(seen[3].err, obj), "and given to the hook as itself")

ok, e = pcall(tide.timed(function() error() end, "nil", {log = log}))
check.eq(ok, false); check.eq(e, nil, "a nil error stays nil")
check.eq(type(seen[4].err), "string", "the hook still learns it failed")

-- hooks written for (name, seconds) keep working
local calls = 0
local old = tide.timed(function() return 1 end, "old", {log = function(n, s) calls = calls + 1 end})
check.eq(old(), 1); check.eq(calls, 1)
check.errors(function() tide.timed(42) end, "bad argument #1 to 'timed'")

-- the default log goes to stderr
local p = io.popen(bin .. " -e " .. [['
local f = tide.timed(function(x) if x then error("bad input", 0) end return 7 end, "step")
print(f(false))
print(pcall(f, true))
' 2>&1]])
local out = p:read("a")
local good, how, code = p:close()
check.truthy(good and how == "exit" and code == 0, "child ran: " .. out)
check.truthy(out:find("step finished in %d+%.%d%d%d s\n"), out)
check.truthy(out:find("step failed after %d+%.%d%d%d s: bad input\n"), out)
check.truthy(out:find("false\tbad input\n", 1, true), "raised again: " .. out)

check.done()
