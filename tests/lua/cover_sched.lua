-- cover_sched.lua: the scheduler (runtime/core/schedule.c) at its edges, as
-- a script meets them: items that carry more shared arrays than one TASK
-- message may (the batch is cut where the descriptors run out), a timeout
-- in the middle of a batch (that task fails, the ones before and after it
-- arrive once), and a loop broken off in the middle of batches.
local check = require "check"

local children = check.children

-- items from an iterator, each a shared array: 70 in one batch of 70 ----------------------
for _, backend in ipairs{"fork", "spawn"} do
  local arrs = {}
  for i = 1, 70 do arrs[i] = tide.full(1 << 14, i, {shared = true}) end
  local k = 0
  local function xs()
    k = k + 1
    if k <= 70 then return arrs[k] end
  end
  local got, n = {}, 0
  for i, r in tide.map(function(a, i) a[2] = -i; return a[1] end, xs,
                       {jobs = 2, chunk = 70, backend = backend}) do
    got[i] = r
    n = n + 1
  end
  check.eq(n, 70, backend .. ": every item's task ran once")
  for i = 1, 70 do
    check.eq(got[i], i, backend .. ": item " .. i)
    check.eq(arrs[i][2], -i, backend .. ": its shared array written by the worker")
  end
end
check.eq(children(), 0, "no child left")

-- a timeout in the middle of a batch -----------------------------------------------------------
for _, backend in ipairs{"fork", "spawn"} do
  local runs = tide.zeros(12, {shared = true, dtype = "i64"})
  local res, errs = {}, {}
  for i, r, e in tide.map(function(i)
    runs[i] = runs[i] + 1
    if i == 6 then tide.sleep(30) end
    return i * 2
  end, 12, {jobs = 2, chunk = 4, timeout = 1, on_error = "yield", backend = backend}) do
    if e then errs[i] = e else res[i] = r end
  end
  check.truthy(errs[6] and errs[6]:find("[task 6, worker", 1, true) and errs[6]:find("timed out", 1, true),
               backend .. ": task 6 timed out: " .. tostring(errs[6]))
  for i = 1, 12 do
    if i ~= 6 then
      check.eq(res[i], 2 * i, backend .. ": task " .. i .. " of the batches")
      check.eq(errs[i], nil, backend .. ": no error for task " .. i)
    end
    check.eq(runs[i], 1, backend .. ": task " .. i .. " ran once")
  end
end
check.eq(children(), 0, "no child left after the timeouts")

-- a loop broken off in the middle of batches ------------------------------------------------------
for _, backend in ipairs{"fork", "spawn"} do
  local seen = 0
  for i, r in tide.map(function(i) tide.sleep(0.01) return i end, 200,
                       {jobs = 2, chunk = 8, backend = backend}) do
    check.eq(r, i, backend .. ": result " .. i)
    seen = seen + 1
    if seen == 20 then break end
  end
  collectgarbage()
  collectgarbage()
  check.eq(seen, 20, backend .. ": broke after 20")
  -- the next loop runs at once and whole
  local r = tide.collect(function(i) return -i end, 30, {jobs = 2, backend = backend})
  check.eq(r[30], -30, backend .. ": a loop after the break")
end
check.eq(children(), 0, "no child left after breaks")

-- loops at once: a fork loop's workers are forked while other loops (a fork
-- one, a spawn one and a warm spawn pool) are live, and must not keep theirs --
do
  local warm = tide.pool{backend = "spawn", jobs = 2}
  check.eq(warm:collect(function(i) return i end, 4)[4], 4, "the warm pool runs")
  local slow = function(i) tide.sleep(0.02) return i * 3 end
  local a = tide.start(slow, 20, {jobs = 2})
  local b = tide.start(slow, 20, {jobs = 2, backend = "spawn"})
  local c = tide.start(function(i) return i + 1000 end, 20, {jobs = 2})
  local ra, rb, rc = {}, {}, {}
  for _, pair in ipairs{{a, ra}, {b, rb}, {c, rc}} do
    for i, r in pair[1]:results() do pair[2][i] = r end
  end
  for i = 1, 20 do
    check.eq(ra[i], 3 * i, "fork loop beside others, task " .. i)
    check.eq(rb[i], 3 * i, "spawn loop beside others, task " .. i)
    check.eq(rc[i], i + 1000, "a fork loop started while two ran, task " .. i)
  end
  check.eq(warm:collect(function(i) return -i end, 4)[4], -4, "the warm pool still runs")
  warm:close()
end
check.eq(children(), 0, "no child left after loops at once")

-- a worker that collects its copy of a running job's handle (the parent's
-- job, inherited by the fork) leaves the parent's job and workers alone -------
cover_sched_job = tide.start(function(i) tide.sleep(0.05) return i * 7 end, 10, {jobs = 2})
local drops = tide.collect(function(i)
  cover_sched_job = nil -- this process's copy only
  collectgarbage()
  collectgarbage()
  return i
end, 4, {jobs = 2})
check.eq(drops[4], 4, "the tasks that dropped the handle")
local from_job = {}
for i, r in cover_sched_job:results() do from_job[i] = r end
for i = 1, 10 do check.eq(from_job[i], 7 * i, "the parent's job, task " .. i) end
cover_sched_job = nil
collectgarbage()
check.eq(children(), 0, "no child left after the job")

check.done()
