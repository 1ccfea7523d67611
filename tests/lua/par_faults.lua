-- par_faults.lua: a task that kills its own worker (SIGKILL, SIGSEGV,
-- os.exit) or raises, at the first, a middle or the last task of a batch,
-- in every order, chunking and error mode: exactly one error, naming the
-- task and the cause; every other result exactly once; no task run twice;
-- no hang.  Then the loop's other promises: inflight never hangs, the
-- window bounds an iterator input, a job runs while the script does
-- something else, and every task gets its own math.random stream.  The
-- matrix runs on the fork backend, and on spawn with one victim per cell
-- (its workers take longer to start); the rest on both.
local check = require "check"

local N = 21
local causes = {
  KILL = "killed by signal 9 (SIGKILL)",
  SEGV = "killed by signal 11 (SIGSEGV)",
  exit = "exited with status 3",
  error = "boom",
}

local function pid() return io.open("/proc/self/stat"):read("n") end

local function run_cell(how, order, chunk, mode, victim, backend)
  local runs = tide.zeros(N, {shared = true, dtype = "i64"})
  local function f(i)
    runs[i] = runs[i] + 1
    if i == victim then
      if how == "exit" then os.exit(3)
      elseif how == "error" then error("boom")
      else os.execute("kill -" .. how .. " " .. pid()); tide.sleep(5) end
    end
    return i * 10
  end
  local got, errs, order_seen = {}, {}, {}
  local ok, raised = pcall(function()
    for i, r, err in tide.map(f, N, {jobs = 2, chunk = chunk, order = order, on_error = mode,
                                     backend = backend}) do
      if err then errs[#errs + 1] = {i, err}
      else
        got[i] = (got[i] or 0) + 1
        order_seen[#order_seen + 1] = i
        if r ~= i * 10 then errs[#errs + 1] = {i, "wrong result " .. tostring(r)} end
      end
    end
  end)
  local cell = string.format("%s %s %s chunk=%s %s victim=%d", backend, how, order, chunk, mode,
                             victim)
  local function names_victim(msg)
    return msg:find("[task " .. victim .. ",", 1, true) and msg:find(causes[how], 1, true)
  end
  for i = 1, N do
    check.truthy(runs[i] <= 1, cell .. ": task " .. i .. " ran " .. runs[i] .. " times")
    local n = got[i] or 0
    check.truthy(n <= 1, cell .. ": task " .. i .. " delivered " .. n .. " times")
  end
  if mode == "yield" then
    check.truthy(ok, cell .. ": no error raised: " .. tostring(raised))
    check.eq(#errs, 1, cell .. ": one error")
    if errs[1] then
      check.eq(errs[1][1], victim, cell .. ": the error is the victim's")
      check.truthy(names_victim(errs[1][2]), cell .. ": message " .. errs[1][2])
    end
    for i = 1, N do
      if i ~= victim then check.eq(got[i], 1, cell .. ": task " .. i .. " delivered once") end
      check.eq(runs[i], 1, cell .. ": task " .. i .. " ran once")
    end
  else
    check.truthy(not ok and names_victim(tostring(raised)), cell .. ": raised " .. tostring(raised))
    check.eq(#errs, 0, cell .. ": nothing yielded as an error")
    check.truthy(not got[victim], cell .. ": the victim delivered no result")
    if order == "submitted" then -- as a serial loop: every task before it, in order
      check.eq(#order_seen, victim - 1, cell .. ": tasks before the victim")
      for k, i in ipairs(order_seen) do check.eq(i, k, cell .. ": in order") end
    end
  end
end

for _, how in ipairs{"KILL", "SEGV", "exit", "error"} do
  for _, order in ipairs{"submitted", "completed"} do
    for _, chunk in ipairs{1, "auto", 7} do
      for _, mode in ipairs{"raise", "yield"} do
        -- chunk 7: batches 1-7, 8-14, 15-21; auto: the first, a middle and
        -- the last task of the loop
        local victims = chunk == "auto" and {1, 11, 21} or {8, 11, 14}
        for _, v in ipairs(victims) do run_cell(how, order, chunk, mode, v, "fork") end
        run_cell(how, order, chunk, mode, victims[2], "spawn")
      end
    end
  end
end

-- Two deaths in one loop, a whole batch's worth of finished results before
-- each: nothing lost, nothing run twice.
for _, backend in ipairs{"fork", "spawn"} do
  local runs = tide.zeros(60, {shared = true, dtype = "i64"})
  local n, errs = 0, {}
  for i, r, err in tide.map(function(i)
    runs[i] = runs[i] + 1
    if i == 20 or i == 45 then os.execute("kill -KILL " .. pid()); tide.sleep(5) end
    return i
  end, 60, {jobs = 2, chunk = 10, on_error = "yield", backend = backend}) do
    if err then errs[#errs + 1] = i else n = n + 1; check.eq(r, i, "two deaths: result") end
  end
  check.eq(n, 58, "two deaths: every other result")
  check.eq(table.concat(errs, ","), "20,45", "two deaths: the two victims")
  check.eq(runs:max(), 1, "two deaths: no task ran twice")
  check.eq(runs:sum(), 60, "two deaths: every task ran")
end

-- A death in collect: the error names the task.
for _, backend in ipairs{"fork", "spawn"} do
  check.errors(function()
    tide.collect(function(i) if i == 5 then os.exit(7) end return i end, 12,
                 {jobs = 2, backend = backend})
  end, "[task 5, worker", backend .. " collect: dead worker")
end

-- inflight never hangs: collect, pfor and a handle count results as taken
-- when they arrive.
for _, k in ipairs{1, 2, 3, 4, 8} do
  local t = tide.collect(function(i) return i * 2 end, 20, {jobs = 2, inflight = k})
  check.eq(#t, 20, "collect with inflight " .. k)
  check.eq(t[20], 40, "collect with inflight " .. k .. ": values")
  local job = tide.start(function(i) return i end, 20, {jobs = 2, inflight = k})
  check.truthy(job:wait(), "start with inflight " .. k .. " waits to the end")
  local seen = 0
  for i, r in job:results() do seen = seen + 1 end
  check.eq(seen, 20, "start with inflight " .. k .. ": results")
  local m = 0
  for i, r in tide.map(function(i) return i end, 20, {jobs = 2, inflight = k, order = "completed"}) do
    m = m + 1
  end
  check.eq(m, 20, "map with inflight " .. k)
end

-- The window bounds the input: items drawn from an iterator and not yet
-- taken stay within inflight tasks (default 2 x jobs x 64), whatever the
-- chunking.
for _, chunk in ipairs{1, "auto", 7} do
  for _, k in ipairs{false, 1, 8, 100} do
    local drawn = 0
    local function gen() drawn = drawn + 1; return drawn end
    for i in tide.map(function(x) return x end, gen, {jobs = 2, chunk = chunk, inflight = k or nil}) do
      if i == 50 then break end
    end
    local bound = 50 + (k or 2 * 2 * 64)
    check.truthy(drawn <= bound, string.format("chunk %s inflight %s: drew %d of an endless iterator, bound %d",
      chunk, k, drawn, bound))
  end
end

-- A job advances while the script does something else entirely.
do
  local job = tide.start(function(i) tide.sleep(0.002); return i end, 40, {jobs = 2})
  tide.sleep(2) -- not a call into the job
  local done = 0
  for _ in pairs(job:done_so_far()) do done = done + 1 end
  check.eq(done, 40, "a started job ran in the background")
  local me = pid()
  local kids = 0
  local p = io.popen("grep -l '^[0-9]* ([^)]*) [A-Z] " .. me .. " ' /proc/[0-9]*/stat 2>/dev/null")
  for _ in p:lines() do kids = kids + 1 end
  p:close()
  check.eq(kids, 1, "a finished job's workers are gone (the one child is grep's shell)")
  local Xa = tide.rand({200, 4}, {seed = 1})
  local ya = Xa:col(1) * 2 + 1
  local s = tide.search{model = tide.models.ridge{}, grid = {alpha = {0.1, 1, 10}},
                        X = Xa, y = ya, cv = tide.cv.kfold(200, 4), jobs = 2, async = true}
  tide.sleep(2)
  local d, total = s:progress()
  check.eq(d, total, "an async search ran in the background")
  check.truthy(s:wait(), "async search finished")
end

-- Every task gets its own math.random stream: no two tasks draw the same
-- first number, nor the parent's next one; with a seed, the same streams
-- for any jobs and chunk.
do
  local t = tide.collect(function() return math.random() end, 16, {jobs = 2})
  local mine = math.random()
  local seen = {[mine] = true}
  local distinct = true
  for i = 1, 16 do
    if seen[t[i]] then distinct = false end
    seen[t[i]] = true
  end
  check.truthy(distinct, "unseeded tasks draw distinct numbers, unlike the parent's next")
  local function draws(opts)
    return tide.collect(function() return math.random(1 << 40) end, 12, opts)
  end
  local ref = draws{jobs = 1, seed = 5}
  for _, o in ipairs{{jobs = 2, seed = 5, chunk = 1}, {jobs = 2, seed = 5}, {jobs = 2, seed = 5, chunk = 5},
                     {jobs = 2, seed = 5, backend = "spawn"}, {jobs = 2, seed = 5, chunk = 1, backend = "spawn"}} do
    local t2 = draws(o)
    for i = 1, 12 do check.eq(t2[i], ref[i], "seeded stream of task " .. i) end
  end
end

check.done()
