-- cover_job.lua: the job handle and the loops' Lua surface at the corners
-- the other tests pass by: every option check with its message, methods on
-- jobs that are closed, cancelled, finished or failed, the iterators in both
-- orders with on_error = "yield", an early break (no child, nothing in
-- /dev/shm), statistics after errors, the serial backend's paths, and the
-- allocation failures that land in the job's code (TIDE_FAULTS builds).
local check = require "check"
local tide = require "tide"

local shm = check.shm
local shm0 = shm()
local me = check.pid()
-- this process's children, read without a fork (a popen would be one)
local function kids()
  local f = io.open(string.format("/proc/self/task/%d/children", me))
  local s = f and f:read("a") or ""
  if f then f:close() end
  return (s:gsub("%s+$", ""))
end
local function spin(s) local t = os.clock() while os.clock() - t < s do end end
local function sq(i) return i * i end

-- 1. bad arguments and options: each message names what was wrong
local bad = {
  {function() tide.map(5, 3) end, "bad argument #1"},
  {function() tide.map(sq, true) end, "table, count, array or iterator function"},
  {function() tide.map(sq, -1) end, "task count must be >= 0"},
  {function() tide.map(sq, 2.5) end, "number has no integer representation"},
  {function() tide.map(sq, tide.zeros({})) end, "0-dimensional array has no rows"},
  {function() tide.map(sq, 3, "fast") end, "bad argument #3"},
  {function() tide.map(sq, 3, {job = 2}) end, "job"},
  {function() tide.map(sq, 3, {jobs = 0}) end, "option 'jobs' must be a positive count or -1"},
  {function() tide.map(sq, 3, {jobs = -100000}) end, "option 'jobs' must be a positive count"},
  {function() tide.map(sq, 3, {jobs = 300}) end, "option 'jobs' is 300; at most 256 workers"},
  {function() tide.map(sq, 3, {order = "random"}) end,
   "option 'order' must be \"submitted\" or \"completed\", got 'random'"},
  {function() tide.map(sq, 3, {on_error = "ignore"}) end,
   "option 'on_error' must be \"raise\" or \"yield\", got 'ignore'"},
  {function() tide.map(sq, 3, {timeout = -1}) end, "option 'timeout' must be >= 0"},
  {function() tide.map(sq, 3, {timeout = 0 / 0}) end, "option 'timeout' must be >= 0"},
  {function() tide.map(sq, 3, {chunk = 0}) end, "option 'chunk' must be \"auto\" or a count >= 1"},
  {function() tide.map(sq, 3, {chunk = "big"}) end, "option 'chunk' must be \"auto\" or a count >= 1"},
  {function() tide.map(sq, 3, {chunk = {}}) end, "option 'chunk' must be \"auto\" or a count >= 1"},
  {function() tide.map(sq, 3, {inflight = -1}) end, "option 'inflight' must be a count >= 1"},
  {function() tide.map(sq, 3, {seed = "x"}) end, "number expected, got string"},
  {function() tide.map(sq, 3, {backend = "threads"}) end,
   "option 'backend' must be \"fork\", \"spawn\", \"mpi\" or \"serial\", got 'threads'"},
  {function() tide._internal.check_backend("gpu") end,
   "option 'backend' must be \"fork\", \"spawn\", \"mpi\" or \"serial\", got 'gpu'"},
  {function() tide._internal.check_backend() end, "bad argument #1"},
  {function() tide.pfor("x", sq) end, "bad argument #1"},
  {function() tide.pfor(3, 4) end, "bad argument #2"},
  {function() tide.collect(sq, 3, {jobs = 2, order = 1}) end, "order"},
  {function() tide.task_rng() end, "task_rng: not inside a task"},
}
for k, b in ipairs(bad) do check.errors(b[1], b[2], "bad call " .. k) end
check.eq(tide._internal.check_backend("serial"), nil, "serial is always a backend")
check.eq(tide._internal.check_backend("fork"), nil, "fork is a backend here")
check.eq(tide.task_index(), nil, "no task index outside a task")
check.eq(tide.in_worker(), false, "the script is not a worker")
local inside = tide.collect(function(i)
  return string.format("%s %s %s", tide.in_worker(), tide.task_index(), math.type(tide.task_rng():integer(1, 9)))
end, 2, {jobs = 2})
check.eq(inside[2], "true 2 integer", "in a worker: in_worker, task_index and task_rng")
-- a method called on something else than a job
local job = tide.start(sq, 2, {jobs = 2})
for _, m in ipairs{"wait", "results", "cancel", "stats", "progress", "ready", "take", "errors",
                   "done_so_far", "close"} do
  check.errors(function() job[m]({}) end, "tide.job expected", "job:" .. m .. " on a table")
end
job:close()

-- 2. the serial backend and forked workers alike: each kind of input, both
-- orders, errors yielded or raised, an iterator input
local function odd_fails(i) if i % 2 == 1 then error("odd " .. i, 0) end return i * 10, -i end
local function counter(n)
  local k = 0
  return function() k = k + 1 if k <= n then return k end end
end
for _, backend in ipairs{"serial", "fork"} do
  for _, order in ipairs{"submitted", "completed"} do
    for _, input in ipairs{"count", "iterator", "table"} do
      local xs = input == "count" and 5 or input == "table" and {1, 2, 3, 4, 5} or counter(5)
      local what = backend .. ", " .. order .. ", " .. input
      local seen, errs, prev = {}, 0, 0
      for i, a, b in tide.map(odd_fails, xs, {jobs = 2, backend = backend, on_error = "yield",
                                              order = order}) do
        seen[#seen + 1] = i
        if order == "submitted" then check.eq(i, prev + 1, what .. ": in task order") end
        prev = i
        if a == nil then
          errs = errs + 1
          check.truthy(b:match("^%[task " .. i .. ", [^%]]+%] odd " .. i .. "%f[\n\0]"),
                       what .. ": the error of task " .. i .. ": " .. tostring(b))
        else
          check.eq(a, i * 10, what .. ": result of " .. i)
          check.eq(b, -i, what .. ": second result of " .. i)
        end
      end
      table.sort(seen)
      check.eq(table.concat(seen, ","), "1,2,3,4,5", what .. ": every task once")
      check.eq(errs, 3, what .. ": three errors yielded")
    end
    -- raised: the first failure, after the tasks before it (in task order)
    local before = {}
    local ok, err = pcall(function()
      for _, v in tide.map(function(i) if i >= 3 then error("at " .. i, 0) end return i end,
                           4, {jobs = 2, backend = backend, order = order}) do
        before[#before + 1] = v
      end
    end)
    local what = backend .. ", " .. order
    check.truthy(not ok and err:match("^%[task [34], [^%]]+%] at [34]%f[\n\0]"),
                 what .. ": raised at a failed task: " .. tostring(err))
    table.sort(before)
    if order == "submitted" then
      check.eq(table.concat(before, ","), "1,2", what .. ": the tasks before it were delivered")
    else -- what finished before the failure, none of the failed ones
      check.truthy(("|1,2|1|2||"):find("|" .. table.concat(before, ",") .. "|", 1, true),
                   what .. ": only good tasks delivered: " .. table.concat(before, ","))
    end
  end
  -- an array input: its rows
  local A = tide.array({{1, 2}, {3, 4}, {5, 6}})
  local r = tide.collect(function(row) return row:sum() end, A, {jobs = 2, backend = backend})
  check.eq(table.concat(r, ","), "3,7,11", backend .. ": rows of an array")
end
-- serial, seeded, with math.randomseed replaced by something not callable:
-- the tasks run, unseeded
local real = math.randomseed
math.randomseed = 42
local r = tide.collect(function(i) return i end, 3, {jobs = 1, seed = 5})
math.randomseed = real
check.eq(table.concat(r, ","), "1,2,3", "serial tasks run when math.randomseed is not a function")
local rs = tide.collect(function() return math.random(1 << 40) end, 2, {jobs = 1, seed = 5})
local rf = tide.collect(function() return math.random(1 << 40) end, 2, {jobs = 2, seed = 5})
check.eq(rs[1] .. " " .. rs[2], rf[1] .. " " .. rf[2], "a seed gives the same streams serial or forked")

-- 3. a handle's methods through its life: running, finished, failed,
-- cancelled, closed
local function wait_done(j, n)
  for _ = 1, 600 do
    if j:progress() >= n then return true end
    os.execute("sleep 0.05")
  end
  return false
end
-- several results per task, and errors: take(), done_so_far(), errors()
job = tide.start(function(i)
  if i == 3 then error("bad three", 0) end
  if i == 4 then return i, "and more" end
  return i * 2
end, 5, {jobs = 2, on_error = "yield"})
check.errors(function() job:wait("soon") end, "bad argument #1 to 'wait'")
check.eq(job:wait(), true, "wait: every task done")
check.eq(job:ready(), true, "ready once done")
local d = job:done_so_far()
check.eq(string.format("%s %s %s %s %s", d[1], d[2], d[3], d[4], d[5]), "2 4 nil 4 10",
         "done_so_far: first results of the good tasks")
check.truthy(job:errors()[3]:match("^%[task 3, worker %d%] bad three"), "errors(): task 3's")
local res, errs = job:take()
check.eq(string.format("%s %s %s %s %s", res[1], res[2], res[3], res[4], res[5]), "2 4 nil 4 10",
         "take: the first result of every good task")
check.truthy(errs[3] and errs[3]:match("bad three") and not errs[1], "take: the error of task 3")
res, errs = job:take()
check.eq(next(res) == nil and next(errs) == nil, true, "take again: nothing new")
check.eq(tostring(job), "tide.job(5/5 done, 2 workers)", "tostring of a finished job")
check.eq(job:cancel(), false, "cancel of a finished job: nothing was running")
local all = {}
for i, a, b in job:results() do all[#all + 1] = string.format("%d=%s/%s", i, a, b) end
check.eq(#all, 5, "results(): one per task")
check.eq(table.concat(all, " ", 1, 2) .. " " .. table.concat(all, " ", 4, 5),
         "1=2/nil 2=4/nil 4=4/and more 5=10/nil", "results(): the good tasks")
check.truthy(all[3]:match("^3=nil/%[task 3, worker %d%] bad three"), "results(): the error in its place")
check.truthy(tostring(job):match("closed%)$"), "the generic for closed the job: " .. tostring(job))
local st = job:stats()
check.eq(st.count, 5, "stats count every task, the failed one too")
check.eq(#st.tasks, 5, "stats: one entry per task")
check.eq(st.jobs, 2, "stats: jobs")
check.truthy(st.max >= st.mean and st.mean >= 0 and st.task_time >= st.max and st.mean_wait >= 0,
             "stats: max >= mean >= 0")
check.truthy(st.tasks[3].worker >= 1 and st.tasks[3].rank == nil, "stats: a worker, no rank off mpi")
job:close()
check.eq(tostring(job), "tide.job(5/5 done, 2 workers, closed)", "tostring of a closed job")
check.eq(job:wait(), true, "wait on a closed job")
check.eq(job:wait(0), true, "wait on a closed job, with a limit")
check.eq(select("#", job:results()), 4, "results() of a closed job: the generic for's four values")
local n = 0
for _ in job:results() do n = n + 1 end
check.eq(n, 0, "a closed job yields nothing")
check.eq(job:cancel(), false, "cancel of a closed job")
check.eq(job:stats().count, 5, "stats outlive close")
job:close() -- twice is harmless

-- take() is a tide.start handle's only
check.errors(function()
  local it, j = tide.map(sq, 2, {jobs = 2})
  local ok, e = pcall(j.take, j)
  j:close()
  error(e)
end, "take: only handles from tide.start keep results to take")

-- a job in "raise" mode: wait raises the failure, and the job is closed
job = tide.start(function(i) if i == 2 then error("no two", 0) end return i end, 3, {jobs = 2})
check.errors(function() job:wait() end, "no two")
check.truthy(tostring(job):match("closed%)$"), "a job whose wait raised is closed: " .. tostring(job))

-- a limit: wait returns false while a task runs, true once it is done
job = tide.start(function(i) if i == 1 then spin(0.6) end return i end, 2, {jobs = 2})
check.eq(job:wait(0), false, "wait(0) on a running job")
check.eq(job:wait(0.02), false, "wait(0.02) on a running job")
check.eq(job:ready(), false, "not ready while task 1 runs")
check.eq(job:wait(60), true, "wait(60) sees it finish")
job:close()

-- an iterator input: the total is unknown until it ends
local gate = os.tmpname()
job = tide.start(function(i)
  while io.open(gate) do os.execute("sleep 0.02") end
  return i
end, counter(40), {jobs = 2, inflight = 2})
local done, total = job:progress()
check.eq(total, nil, "progress: no total while the iterator runs")
check.truthy(tostring(job):match("^tide%.job%(%d+ done, 2 workers%)$"), "tostring with no total: " .. tostring(job))
os.remove(gate)
check.eq(job:wait(), true, "the iterator job finishes")
done, total = job:progress()
check.eq(done .. "/" .. total, "40/40", "progress at the end")
job:close()

-- cancel: what arrived stays; a task before it that never came is an error
-- in submitted order
job = tide.start(function(i) if i == 1 then spin(30) end return i end, 3, {jobs = 2, chunk = 1})
check.truthy(wait_done(job, 2), "tasks 2 and 3 finished")
check.eq(job:cancel(), true, "cancel of a running job")
check.eq(kids(), "", "cancel stops the workers")
check.eq(job:ready(), true, "a cancelled job is ready")
done, total = job:progress()
check.eq(done .. "/" .. total, "2/2", "cancel: the stream ends after what arrived")
check.errors(function() for _ in job:results() do end end, "task 1 was lost: its loop was cancelled")
job:close()
-- in completed order, the ones that arrived, then the end
local got = {}
for i, v in tide.map(function(i) if i == 1 then spin(30) end return i end, 3,
                     {jobs = 2, chunk = 1, order = "completed"}) do
  got[#got + 1] = v
  if #got == 2 then break end
end
table.sort(got)
check.eq(table.concat(got, ","), "2,3", "completed order: the quick tasks first")
check.eq(kids(), "", "a break stops the workers")
job = tide.start(function(i) if i == 1 then spin(30) end return i end, 3, {jobs = 2, chunk = 1,
                                                                         order = "completed"})
check.truthy(wait_done(job, 2), "tasks 2 and 3 finished")
job:cancel()
got = {}
for _, v in job:results() do got[#got + 1] = v end
table.sort(got)
check.eq(table.concat(got, ","), "2,3", "after cancel, completed order gives what arrived")
check.eq(job:stats().count, 2, "stats of a cancelled job: the tasks that ran to the end")
job:close()
-- a job cancelled before anything arrived
job = tide.start(function() spin(30) end, counter(3), {jobs = 2})
check.eq(job:cancel(), true, "cancel before any result")
done, total = job:progress()
check.eq(done .. "/" .. total, "0/0", "nothing arrived: an empty stream")
n = 0
for _ in job:results() do n = n + 1 end
check.eq(n, 0, "an empty stream yields nothing")
check.eq(job:stats().count, 0, "stats with no task")
check.eq(job:stats().mean, 0, "mean of no task")
job:close()

-- 4. more corners: methods on a closed job, two failures arriving out of
-- order, an iterator's job closed early, inputs of other kinds, progress
job = tide.start(sq, 3, {jobs = 2})
job:close()
done, total = job:progress()
check.eq(done .. "/" .. total, "0/3", "progress of a job closed before any result")
check.eq(job:ready(), true, "a closed job is ready")
check.eq(next(job:done_so_far()), nil, "done_so_far of a job closed at once")
res, errs = job:take()
check.eq(next(res) == nil and next(errs) == nil, true, "take of a closed job: nothing")
job = tide.start(sq, counter(5), {jobs = 2})
job:close()
check.truthy(tostring(job):match("^tide%.job%(%d+ done, 2 workers, closed%)$"),
             "tostring of a closed iterator job: " .. tostring(job))
-- raise mode: task 2 fails first, then task 1: task 1's error is the one
check.errors(function()
  for _ in tide.map(function(i) if i == 1 then spin(0.5) end error("e" .. i, 0) end, 2,
                    {jobs = 2, chunk = 1}) do end
end, "] e1", "the earliest failed task raises, whichever failed first")
-- both in one batch: the first of them raises
check.errors(function()
  for _ in tide.map(function(i) error("f" .. i, 0) end, 2, {jobs = 2, chunk = 2}) do end
end, "] f1", "two failures of one batch")
-- a failed handle in raise mode is ready before its error is delivered
job = tide.start(function(i) if i == 2 then error("late", 0) end spin(0.2) return i end, 2,
                 {jobs = 2, chunk = 1})
local ready = false
for _ = 1, 600 do
  ready = job:ready()
  if ready then break end
  os.execute("sleep 0.05")
end
check.eq(ready, true, "ready once a task failed in raise mode")
check.errors(function() job:wait() end, "late", "wait raises the failure")
-- serial handles
job = tide.start(sq, 3, {jobs = 1})
check.eq(job:ready(), false, "a serial job runs its tasks when asked")
check.eq(job:wait(), true, "a serial job's wait runs them")
check.eq(job:cancel(), false, "cancel of a finished serial job")
check.eq(job:done_so_far()[3], 9, "a serial job's results")
job:close()
-- a serial job closed before it ran: ready, as a closed forked job is (it
-- said false, while wait answered at once)
job = tide.start(sq, 3, {jobs = 1})
job:close()
check.eq(job:ready(), true, "a closed serial job is ready")
check.eq(job:wait(), true, "and its wait answers at once")
r = tide.collect(function(i) return i + 1 end, counter(4), {jobs = 1})
check.eq(table.concat(r, ","), "2,3,4,5", "collect over an iterator, serial")
check.eq(next(tide.collect(sq, 0, {jobs = 2})), nil, "collect of no task: an empty table")
-- a rowset input: its row numbers; something else is refused
local rows = tide.collect(function(k) return k end, tide.rowset{{2, 3}, {7, 7}}, {jobs = 2})
check.eq(table.concat(rows, ","), "2,3,7", "a rowset input: one task per row number")
check.errors(function() tide.map(sq, io.stdout) end, "table, count, array or iterator function")
check.errors(function() tide._internal.check_backend("mpi") end, "mpirun",
             "mpi without mpirun names what it needs")
-- serial, seeded, with no math table: the tasks still run (they did not:
-- the stack lost the task's argument, and the message handler ran instead)
local m = math
math = nil -- luacheck: ignore
r = tide.collect(function(i) return i * 3 end, 2, {jobs = 1, seed = 1})
math = m -- luacheck: ignore
check.eq(table.concat(r, ","), "3,6", "no math table: the seed is skipped, the tasks run")
-- a spawned worker when package.path is not a string, or package is gone
local pk, pth = package, package.path
package.path = nil
r = tide.collect(function(i) return i - 1 end, 2, {jobs = 2, backend = "spawn"})
package.path = pth
check.eq(table.concat(r, ","), "0,1", "spawn with no package.path")
package = nil -- luacheck: ignore
r = tide.collect(function(i) return -i end, 2, {jobs = 2, backend = "spawn"})
package = pk -- luacheck: ignore
check.eq(table.concat(r, ","), "-1,-2", "spawn with no package table")
-- a progress function sees the total, or nil while an iterator runs
local calls = {}
tide.collect(function(i) return i end, counter(3), {jobs = 1, progress = function(d, t, e, final)
  calls[#calls + 1] = string.format("%d/%s/%s", d, t, final)
end})
check.eq(calls[#calls], "3/3/true", "the final progress call has the total")
check.eq(calls[1], "1/nil/false", "the first call, while the iterator runs: no total")
-- progress = true: tide.progress's lines on stderr; false: none
local bin = os.getenv("TIDE_BIN")
if bin then
  local function run(opt)
    local p = io.popen(bin .. " -e 'tide.collect(function(i) return i end, 3, {jobs = 1, progress = "
                       .. opt .. "})' 2>&1")
    local out = p:read("a")
    p:close()
    return out
  end
  check.truthy(run("true"):match("3/3 100%%"), "progress = true reports the end")
  check.eq(run("false"), "", "progress = false reports nothing")
end

-- an iterator input that raises while a handle runs: the job ends with the
-- error (it went on without the item drawn, the next one taking its task
-- number, and kept its workers until collected)
local k, raised = 0, false
job = tide.start(function(x) return x * 10 end, function()
  k = k + 1
  if k == 3 and not raised then raised = true error("no item three", 0) end
  if k <= 5 then return k end
end, {jobs = 2, inflight = 1})
check.errors(function() job:wait() end, "no item three", "the iterator's error comes out of wait")
check.truthy(tostring(job):match("closed%)$"), "the job ended: " .. tostring(job))
check.eq(kids(), "", "its workers are gone")
check.eq(job:wait(), true, "wait on the ended job")
n = 0
for _ in job:results() do n = n + 1 end
check.eq(n, 0, "the ended job yields nothing, not items after the lost one")

-- an iterator's end found after its last result was delivered (a window
-- of one): the stream ends there, in either order
for _, order in ipairs{"submitted", "completed"} do
  local got = {}
  for i, v in tide.map(function(x) return x * 2 end, counter(4), {jobs = 2, inflight = 1,
                                                                  order = order}) do
    got[#got + 1] = i .. "=" .. v
  end
  table.sort(got)
  check.eq(table.concat(got, " "), "1=2 2=4 3=6 4=8", order .. ": a window of one over an iterator")
end

-- 5. an early break: the job is closed at once, its workers gone
for _, order in ipairs{"submitted", "completed"} do
  local shm1 = shm()
  for i, v in tide.map(function(i) return tide.zeros(5000) + i end, 50, {jobs = 2, order = order}) do
    check.eq(v[1], i, order .. ": a big result")
    if i >= 1 then break end
  end
  check.eq(kids(), "", order .. ": no worker after a break")
  local extra = {}
  for k in pairs(shm()) do if not shm1[k] then extra[#extra + 1] = k end end
  check.eq(table.concat(extra, " "), "", order .. ": nothing new in /dev/shm after a break")
end

-- 6. allocation failures that land in the job's code (TIDE_FAULTS builds):
-- each run ends in the right result or an error saying what ran out; no
-- worker stays; the state works afterwards
local faults = tide._internal.faults
if faults then
  -- the Lua allocator failing while a handle's results are taken: a result
  -- that cannot be decoded fails its task only; an error elsewhere ends the
  -- job (it said "tasks were lost (no worker holds them)" at the next wait:
  -- the rest of the half-taken event went nowhere)
  local decode_failed, ended = 0, 0
  for N = 1, 2000 do
    job = tide.start(function(i) return {i, "x" .. i}, i end, 6, {jobs = 2, on_error = "yield"})
    faults{at = N, kind = "lua"}
    local ok, err = pcall(job.wait, job)
    local _, fired = faults()
    if ok then
      check.eq(err, true, "wait under faults: done")
      local good = 0
      for i, a, b in job:results() do
        if a then
          good = good + 1
          check.eq(a[2] .. "/" .. b, "x" .. i .. "/" .. i, "the results of task " .. i)
        else
          decode_failed = decode_failed + 1
          check.truthy(b:match("^%[task " .. i .. ", worker %d%] cannot decode result 1: not enough memory"),
                       "a result that could not be decoded: " .. b)
        end
      end
      check.truthy(good >= 5, "one task failed at most: " .. good .. " good")
    else
      ended = ended + 1
      check.truthy(tostring(err):match("not enough memory"), "the error says so: " .. tostring(err))
      check.truthy(tostring(job):match("closed%)$"), "the job ended: " .. tostring(job))
      check.eq(job:wait(), true, "the ended job's wait answers at once")
    end
    job:close()
    check.eq(kids(), "", "lua fault " .. N .. ": no worker stays")
    if fired == 0 then break end
  end
  check.truthy(decode_failed > 0, "some runs failed a task's decoding: " .. decode_failed)
  check.truthy(ended > 0, "some runs ended the job: " .. ended)

  -- the core's allocations: drawing an iterator's items, the setup shipped
  -- to spawned workers, the service side's books (raised by the script's
  -- thread), a worker replaced, a result decoded
  local known = {"out of memory", "cannot start workers: ", "Too many open files",
                 "Resource temporarily unavailable", "Cannot allocate memory",
                 "No space left on device", "cannot replace a worker: "}
  local seen = {}
  local scenarios = {
    {"iterator", 210, function()
      local j = tide.start(function(i) return i end, counter(20), {jobs = 2, inflight = 2})
      j:wait()
      local s = 0
      for _, v in j:results() do s = s + v end
      return s
    end},
    {"spawn", 6, function()
      local t = tide.collect(function(i) return i end, 3, {jobs = 2, backend = "spawn"})
      return t[1] + t[2] + t[3]
    end},
    {"running", 6, nil, function()
      return tide.start(function(i) os.execute("sleep 0.05") return tide.zeros(3000) + 1 end, 6,
                        {jobs = 2})
    end},
  }
  for _, sc in ipairs(scenarios) do
    local name, want, run, make = sc[1], sc[2], sc[3], sc[4]
    for N = 1, 5000 do
      -- "running": the job started first, then every allocation from N on fails
      local j = make and make()
      faults{at = N, kind = "core", persist = make ~= nil}
      local ok, r
      if j then
        ok, r = pcall(function()
          j:wait()
          local s = 0
          for _, v in j:results() do s = s + v[1] end
          return s
        end)
      else
        ok, r = pcall(run)
      end
      local _, fired = faults()
      if j and not ok then -- the error ended the job (it only stopped its workers)
        check.truthy(tostring(j):match("closed%)$"), name .. ", fault " .. N .. ": the job ended: "
                     .. tostring(j) .. " after " .. tostring(r))
        check.eq(j:ready(), true, name .. ", fault " .. N .. ": the ended job is ready")
      end
      if j then j:close() end
      if ok then
        check.eq(r, want, name .. ", fault " .. N .. ": the result")
      else
        r = tostring(r)
        local kind
        for _, k in ipairs(known) do if r:find(k, 1, true) then kind = k end end
        check.truthy(kind, name .. ", fault " .. N .. ": an error saying what ran out: " .. r)
        for _, p in ipairs{"^item %d+: out of memory", "out of memory for the loop's setup",
                           "could not be kept", "cannot replace a worker", "cannot decode result"} do
          if r:match(p) then seen[p] = true end
        end
      end
      check.eq(kids(), "", name .. ", fault " .. N .. ": no worker stays after " .. tostring(r))
      if fired == 0 then break end
    end
  end
  check.truthy(seen["^item %d+: out of memory"], "an item could not be drawn")
  check.truthy(seen["out of memory for the loop's setup"], "a setup could not be built")
  check.truthy(seen["could not be kept"], "the service side's failure raised in the script")
  check.eq(tide.collect(sq, 4, {jobs = 2})[4], 16, "loops work after the faults")
end

check.done()
