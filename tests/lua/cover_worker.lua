-- cover_worker.lua: corners of the worker's task loop (runtime/bind/worker.c)
-- that the other parallel tests leave: error objects that are not strings,
-- a script's own math.randomseed (called with each task's index, or
-- raising), a math that is not a table, many results, results that fail
-- half-encoded (their descriptors closed), a result message past 16 MB,
-- more big results than a worker lends at once, one big result sent twice
-- (its segment never recycled while the parent maps it), task times when
-- a result with shared arrays goes before its batch ends, and the
-- kill-point hook with a hang past the timeout, with a setting it does not
-- understand, and without TIDE_KILLPOINT_ONCE.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")

local function errs(f, n, o)
  local out = {}
  for i, r, e in tide.map(f, n, o or {jobs = 2, on_error = "yield"}) do out[i] = e or r end
  return out
end

-- error objects ------------------------------------------------------------------
local r = errs(function(i)
  if i == 1 then error(setmetatable({}, {__tostring = function() return 42 end})) end
  if i == 2 then error({code = 7}) end
  if i == 4 then error(setmetatable({}, {__tostring = function() return "custom error" end})) end
  return "fine"
end, 4)
check.truthy(tostring(r[1]):find("error object is a table value", 1, true), "odd __tostring: " .. tostring(r[1]))
check.truthy(tostring(r[2]):find("error object is a table value", 1, true), "a table: " .. tostring(r[2]))
check.eq(r[3], "fine", "the other task")
check.truthy(tostring(r[4]):find("custom error", 1, true), "a __tostring giving a string: " .. tostring(r[4]))

-- the script's own math.randomseed --------------------------------------------------
local stock = math.randomseed
local seeded = tide.zeros(6, {shared = true, dtype = "i64"})
math.randomseed = function(_, i) seeded[i] = i end
local got = tide.collect(function(i) return i * 2 end, 6, {jobs = 2, chunk = 1})
math.randomseed = function() error("no seeds today") end
local got2 = tide.collect(function(i) return i + 1 end, 4, {jobs = 2})
math.randomseed = stock
for i = 1, 6 do
  check.eq(got[i], i * 2, "with a Lua randomseed, task " .. i)
  check.eq(seeded[i], i, "randomseed called with the task's index " .. i)
end
for i = 1, 4 do check.eq(got2[i], i + 1, "a raising randomseed does not fail task " .. i) end
local m = math
math = 5 -- luacheck: ignore
local got3 = tide.collect(function(i) return i * i end, 4, {jobs = 2})
math = m -- luacheck: ignore
for i = 1, 4 do check.eq(got3[i], i * i, "with math not a table, task " .. i) end

-- C functions as math.randomseed: called like the script's own, harmlessly
local co_seed = coroutine.wrap(function() while true do coroutine.yield() end end)
for _, rs in ipairs{math.abs, co_seed} do
  math.randomseed = rs
  local got4 = tide.collect(function(i) return i * 5 end, 4, {jobs = 2})
  math.randomseed = stock
  for i = 1, 4 do check.eq(got4[i], i * 5, "with a C randomseed, task " .. i) end
end

-- what a spawned worker cannot rebuild: each task fails naming it ----------------------
package.preload.cover_worker_pre = function() return {twice = function(x) return 2 * x end} end
local pre = require "cover_worker_pre"
local function spawn_errs(f, xs)
  local res, es = {}, {}
  for i, r2, e in tide.map(f, xs, {jobs = 2, backend = "spawn", on_error = "yield"}) do
    res[i], es[i] = r2, e
  end
  return res, es
end
local _, es = spawn_errs(function(i) return pre.twice(i) end, 3)
for i = 1, 3 do
  check.truthy(es[i] and es[i]:find("the worker cannot load the loop's function", 1, true) and
               es[i]:find("cover_worker_pre", 1, true), "a preloaded module's function, task " .. i ..
               ": " .. tostring(es[i]))
end
_, es = spawn_errs(function(m) return m.twice(3) end, {pre, pre})
for i = 1, 2 do
  check.truthy(es[i] and es[i]:find("the worker cannot load the loop's input", 1, true),
               "a preloaded module as input, task " .. i .. ": " .. tostring(es[i]))
end
local Pt = {}
Pt.__index = Pt
tide.register_class("cover_worker.Pt", Pt)
local k = 0
local res
res, es = spawn_errs(function(p) return p.x end, function()
  k = k + 1
  if k <= 2 then return setmetatable({x = k}, Pt) end
end)
for i = 1, 2 do
  check.truthy(es[i] and es[i]:find("unknown class 'cover_worker.Pt'", 1, true),
               "an item of a class the worker lacks, task " .. i .. ": " .. tostring(es[i]))
  check.eq(res[i], nil, "no result for it")
end
-- 250 values from a task travel; 251 are that task's error, named (the
-- worker used to send them and be killed for a malformed message)
local vals = {}
for i = 1, 251 do vals[i] = i end
for _, backend in ipairs{"fork", "spawn"} do
  local got250, errs251 = {}, {}
  for i, a1, e in tide.map(function(i) return table.unpack(vals, 1, 249 + i) end, 3,
                           {jobs = 2, on_error = "yield", backend = backend}) do
    if e == nil or type(e) == "number" then got250[i] = a1 else errs251[i] = e end
  end
  check.eq(got250[1], 1, backend .. ": 250 values")
  for i = 2, 3 do
    check.truthy(errs251[i] and errs251[i]:find("a task may return at most 250 values, not " .. 249 + i, 1, true),
                 backend .. ": " .. 249 + i .. " values: " .. tostring(errs251[i]))
  end
  local last = {}
  for i, r2 in tide.map(function() return select(250, table.unpack(vals, 1, 250)) end, 2,
                        {jobs = 2, backend = backend}) do last[i] = r2 end
  check.eq(last[2], 250, backend .. ": the 250th value")
end

-- many results, and results that fail half-encoded ---------------------------------
local six = tide.collect(function(i) return i, "a", "b", "c", "d", {i} end, 2, {jobs = 2})
check.eq(six[2], 2, "six results: the first is kept by collect")
local many = {}
for i, a, b, c, d, e, f in tide.map(function(i) return i, "a", "b", "c", "d", {i} end, 2, {jobs = 2}) do
  many[i] = {a, b, c, d, e, f}
end
check.eq(many[2][6][1], 2, "the sixth result, a table")
check.eq(many[1][5], "d", "the fifth")
local sh = tide.zeros(1 << 18, {shared = true})
r = errs(function(i)
  if i == 2 then return sh, coroutine.create(print) end
  return i
end, 3)
check.truthy(tostring(r[2]):find("result 2: cannot send a thread", 1, true), "a result that cannot travel: " .. tostring(r[2]))
check.eq(r[3], 3, "the task after it")

-- a result message past 16 MB, and more big results than one worker lends ----------
local big = tide.collect(function(i) return string.rep(string.char(64 + i), 17 << 20) end, 2,
                         {jobs = 2, chunk = 2})
check.eq(#big[1], 17 << 20, "a 17 MB string result")
check.eq(big[2]:sub(-1), "B", "and the next")
local arrs = tide.collect(function(i) return tide.full(1 << 17, i) end, 24, {jobs = 2, chunk = 12})
for i = 1, 24 do
  check.eq(arrs[i][1], i, "big result " .. i .. " of a batch of 12")
  check.eq(arrs[i][1 << 17], i, "its last element")
end
arrs = nil
collectgarbage()

-- one big result sent twice ------------------------------------------------------------
-- Tasks 1 and 2 (one batch, one worker) return the same 2 MB array: lent
-- with the first, sent bare with the second.  The parent drops the first
-- (its lease goes back) and keeps the second, which still maps the
-- segment: the worker must not recycle it for the arrays it makes next.
do
  local N = 1 << 18
  local flag = tide.zeros(1, {shared = true})
  local kept = {}
  for i, a in tide.map(function(i)
    if i <= 2 then
      keep = keep or tide.full(N, 7) -- luacheck: ignore
      return keep
    end
    keep = nil -- luacheck: ignore
    collectgarbage()
    if i <= 5 then
      while flag[1] == 0 do tide.sleep(0.01) end
      return i
    end
    return tide.full(N, i) -- a segment the size of the one sent twice
  end, 8, {jobs = 2, chunk = 2}) do
    kept[i] = a
    if i == 2 then
      kept[1] = nil
      collectgarbage()
      collectgarbage()
      flag[1] = 1
    end
  end
  check.eq(kept[2]:sum(), 7 * N, "the result sent twice keeps its contents")
  for i = 6, 8 do check.eq(kept[i]:sum(), i * N, "result " .. i) end
end

-- task times when shared results go before their batch ends ---------------------------
do
  local sh = tide.full(4, 3, {shared = true})
  local job = tide.start(function(i) if i % 5 == 0 then return sh end return i end, 40,
                         {jobs = 2, chunk = 20})
  check.truthy(job:wait(), "the loop ends")
  local st = job:stats()
  check.eq(st.count, 40, "every task has its times")
  local bad = {}
  for i = 1, 40 do
    local t = st.tasks[i]
    if not (t and t.wall > 0 and t.wall < 60) then bad[#bad + 1] = i .. "=" .. tostring(t and t.wall) end
  end
  check.eq(table.concat(bad, " "), "", "every task's time is filled in")
  local n = 0
  for i, r in job:results() do
    n = n + 1
    if i % 5 == 0 then check.eq(r:sum(), 12, "task " .. i .. " returns the shared array")
    else check.eq(r, i, "task " .. i) end
  end
  check.eq(n, 40, "every result")
  job:close()
end

-- kill points: a hang past the timeout, and settings the hook ignores -----------------
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
local script = dir .. "/kp.lua"
local f = assert(io.open(script, "w"))
f:write([[
local out = {}
for i, r, e in tide.map(function(i) return i * 10 end, 5,
                        {jobs = 2, chunk = 1, timeout = 1, on_error = "yield"}) do
  out[#out + 1] = i .. "=" .. tostring(e and e:gsub("\n.*", "") or r)
end
table.sort(out)
print(table.concat(out, ";"))
]])
f:close()
local function run(kp)
  local p = io.popen(string.format("TIDE_KILLPOINT='%s' TIDE_KILLPOINT_ONCE='%s/once-%s' %q %q 2>&1",
                                   kp, dir, kp:gsub("%W", "_"), bin, script))
  local out = p:read("a")
  p:close()
  return out
end
local hang = run("run:3:hang")
check.truthy(hang:find("3=[task 3, worker", 1, true), "a hang names task 3: " .. hang)
check.truthy(hang:find("timed out after 1 s", 1, true), "by its timeout: " .. hang)
check.truthy(hang:find("1=10;2=20;", 1, true) and hang:find("4=40;5=50", 1, true), "others run: " .. hang)
check.eq(run("nonsense"), "1=10;2=20;3=30;4=40;5=50\n", "a setting the hook does not parse")
check.eq(run("nowhere:3:KILL"), "1=10;2=20;3=30;4=40;5=50\n", "a stage it does not know")
local function run_every(kp) -- no TIDE_KILLPOINT_ONCE: every worker that meets it
  local p = io.popen(string.format("TIDE_KILLPOINT='%s' %q %q 2>&1", kp, bin, script))
  local out = p:read("a")
  p:close()
  return out
end
local every = run_every("run:2:error")
check.truthy(every:find("2=[task 2, worker", 1, true) and every:find("killpoint: error", 1, true),
             "without ONCE, task 2 raises: " .. every)
check.truthy(every:find("1=10;", 1, true) and every:find("3=30;4=40;5=50", 1, true), "others run: " .. every)
local shrug = run("run:3:shrug") -- an action it does not know: the task raises instead
check.truthy(shrug:find("3=[task 3, worker", 1, true) and shrug:find("killpoint: error", 1, true),
             "an unknown action makes the task raise: " .. shrug)
check.truthy(shrug:find("1=10;2=20;", 1, true) and shrug:find("4=40;5=50", 1, true), "others run: " .. shrug)
os.execute("rm -rf " .. dir)

check.done()
