-- par.lua: parallel loops over forked workers: results, order, errors,
-- worker death, timeouts, cancellation, arrays in workers, randomness.
local check = require "check"
local me = check.pid()

-- live children of this process (workers), by reading /proc
local children = check.children

-- descriptors tide creates: shared segments and worker sockets
local function fds()
  local n = 0
  local p = io.popen("ls -l /proc/" .. me .. "/fd")
  for line in p:lines() do
    if line:find("memfd:tide", 1, true) or line:find("socket:", 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

local base_fds = fds()
local function spin(s) local e = tide.now() + s; while tide.now() < e do end end

-- results in submission order, every input kind
local got = {}
for i, r in tide.map(function(x) return x * x end, 10, {jobs = 2}) do got[#got + 1] = i .. "=" .. r end
check.eq(table.concat(got, " "), "1=1 2=4 3=9 4=16 5=25 6=36 7=49 8=64 9=81 10=100")
check.array(tide.collect(function(s) return s:upper() end, {"a", "b", "c"}), {"A", "B", "C"})
local rows = tide.collect(function(row) return row[1] + row[2] end, tide.arange(6):reshape(3, 2))
check.array(rows, {1, 5, 9}, nil, "array rows")
local k = 0
local function gen() k = k + 1; if k <= 5 then return k * 10 end end
check.array(tide.collect(function(x) return x + 1 end, gen), {11, 21, 31, 41, 51}, nil, "iterator")
check.eq(#tide.collect(function(x) return x end, 0), 0, "no tasks")

-- several results, nil results, integers and floats kept apart
for i, a, b, c in tide.map(function(x) return x, nil, x / 2 end, 3) do
  check.eq(a, i); check.eq(b, nil); check.eq(c, i / 2)
  check.eq(math.type(a), "integer")
end

-- closures and upvalues reach workers without serialization
local big = {}
for i = 1, 1000 do big[i] = i end
local offset = 7
check.eq(tide.collect(function(i) return big[i] + offset end, 1000)[1000], 1007, "upvalues")

-- completed order: a slow first task comes last
local order = {}
for i in tide.map(function(x) if x == 1 then spin(0.3) end return x end, 4,
                  {order = "completed", jobs = 2, chunk = 1}) do
  order[#order + 1] = i
end
check.eq(order[#order], 1, "slow task last in completed order")
check.eq(#order, 4)

-- the iterator input is never read ahead of the window
local drawn = 0
local function lazy() drawn = drawn + 1; return drawn <= 100 and drawn or nil end
for i in tide.map(function(x) return x end, lazy, {jobs = 2, chunk = 1, inflight = 4}) do
  check.truthy(drawn <= i + 4 + 2, "drawn " .. drawn .. " at result " .. i)
  if i == 10 then break end
end

-- an error in a task re-raises with its task and worker, and a traceback
check.errors(function()
  for _ in tide.map(function(x) if x == 3 then error("boom") end return x end, 6, {jobs = 2}) do end
end, "[task 3, worker ")
local ok, err = pcall(tide.collect, function(x) if x == 2 then error("bad " .. x) end end, 4)
check.truthy(not ok and err:find("bad 2", 1, true) and err:find("stack traceback", 1, true),
             "message and worker traceback: " .. tostring(err))
-- on_error = "yield" goes on
local errs = 0
for i, r, e in tide.map(function(x) if x % 3 == 0 then error("no " .. x) end return x end, 9,
                        {on_error = "yield"}) do
  if r == nil then errs = errs + 1; check.truthy(e:find("no " .. i, 1, true), e) end
end
check.eq(errs, 3, "three failed tasks yielded")
local res, errt = tide.collect(function(x) if x == 2 then error("x") end return x end, 3,
                               {on_error = "yield"})
check.eq(res[3], 3); check.truthy(errt and errt[2], "collect returns the errors")

-- what cannot cross names its path
check.errors(function() tide.collect(function() return {f = print} end, 2) end,
             "result 1 → field f: cannot send a function")

-- a worker killed by SIGKILL: an error naming the task, pid and signal, fast
local t0 = tide.now()
ok, err = pcall(tide.collect, function(x)
  if x == 5 then os.execute("kill -9 " .. io.open("/proc/self/stat"):read("n")) end
  spin(0.01)
  return x
end, 20, {jobs = 2, chunk = 1})
check.truthy(not ok and err:find("[task 5, worker", 1, true) and err:find("SIGKILL", 1, true)
             and err:find("worker process %d+"), "worker death: " .. tostring(err))
check.truthy(tide.now() - t0 < 5, "death noticed quickly")
-- a crash (SIGSEGV) with on_error = "yield": reported, the rest goes on
local crashed, others = nil, 0
for i, r, e in tide.map(function(x)
  if x == 4 then os.execute("kill -SEGV " .. io.open("/proc/self/stat"):read("n")) end
  return x
end, 12, {jobs = 2, chunk = 1, on_error = "yield"}) do
  if r == nil then crashed = e else others = others + 1 end
end
check.truthy(crashed and crashed:find("SIGSEGV", 1, true), "crash reported: " .. tostring(crashed))
check.eq(others, 11, "every other task completed")

-- a task past its timeout is killed; the others go on
local late
local n = 0
for i, r, e in tide.map(function(x) if x == 2 then spin(30) end return x end, 6,
                        {jobs = 2, timeout = 0.5}) do
  if r == nil then late = i; check.truthy(e:find("timed out after 0.5 s", 1, true), e)
  else n = n + 1 end
end
check.eq(late, 2, "the late task"); check.eq(n, 5, "the rest")

-- break cancels and reaps; so does dropping a handle
for i in tide.map(function(x) spin(0.05) return x end, 100, {jobs = 2}) do
  if i == 3 then break end
end
check.eq(children(), 0, "no worker after break")
do
  local j = tide.start(function(x) spin(0.1) return x end, 50)
  j = nil
  collectgarbage(); collectgarbage()
end
check.eq(children(), 0, "no worker after a dropped handle")
local j = tide.start(function(x) spin(0.05) return x end, 40)
check.eq(j:cancel(), true)
check.eq(children(), 0, "no worker after cancel")

-- job handle
j = tide.start(function(x) return x * 3 end, 10)
check.eq(j:wait(), true)
local done, total = j:progress()
check.eq(done, 10); check.eq(total, 10)
check.eq(j:ready(), true)
check.eq(j:done_so_far()[4], 12)
local st = j:stats()
check.eq(st.count, 10); check.truthy(st.tasks[1].worker >= 1)
local sum = 0
for _, r in j:results() do sum = sum + r end
check.eq(sum, 165, "results after wait")

-- progress function receives completions
local calls, last = 0, nil
tide.collect(function(x) return x end, 20, {progress = function(d, t) calls = calls + 1; last = d .. "/" .. t end})
check.truthy(calls >= 1 and last == "20/20", "progress " .. tostring(last))

-- arrays: inherited ones are read-only in workers, shared ones writable,
-- worker_mode "c" private; large results come back shared and writable
local ro = tide.zeros(10)
check.errors(function() tide.collect(function(i) ro[i] = 1 end, 2) end, "read-only in workers")
local sh = tide.zeros(10, {shared = true})
tide.pfor(10, function(i) sh[i] = i * i end)
check.eq(sh[10], 100, "shared writes seen by the parent")
local cow = tide.zeros(1 << 18, {worker_mode = "c"})
local seen = tide.collect(function(i) cow[1] = i; return cow[1] end, 2)
check.eq(seen[2], 2); check.eq(cow[1], 0, "copy-on-write writes stay in the worker")
local fd_before = fds()
for i, a in tide.map(function(x) return tide.full({512, 512}, x) end, 6, {jobs = 2}) do
  check.eq(a.storage, "shared"); check.eq(a:get(512, 512), i)
  a[1] = 5; check.eq(a:get(1, 1), 5, "result writable")
end
collectgarbage(); collectgarbage()
check.eq(fds(), fd_before, "result segments freed")

-- per-task randomness depends on the task only, not on the worker count
local function draws(jobs)
  return tide.collect(function() return tide.task_rng():uniform() + math.random() end, 8,
                      {jobs = jobs, seed = 42, chunk = 1})
end
local d1, d2, d4 = draws(1), draws(2), draws(4)
for i = 1, 8 do check.eq(d1[i], d2[i]); check.eq(d1[i], d4[i]) end
check.truthy(d1[1] ~= d1[2], "tasks differ")

-- nested loops run serially inside a task
local nested = tide.collect(function(x)
  return tide.in_worker() and #tide.collect(function(y) return y end, x) or -1
end, 3)
check.array(nested, {1, 2, 3})

-- a pool scope with defaults
do
  local pool <close> = tide.pool{jobs = 2}
  check.eq(pool:collect(function(x) return x + 1 end, 3)[3], 4)
end

-- a worker holds one socket (its own), never the other workers' ends
local sockets = tide.collect(function()
  local pid = io.open("/proc/self/stat"):read("n")
  local n = 0
  local p = io.popen("ls -l /proc/" .. pid .. "/fd")
  for line in p:lines() do if line:find("socket:", 1, true) then n = n + 1 end end
  p:close()
  return n
end, 4, {jobs = 2, chunk = 1})
for i = 1, 4 do check.eq(sockets[i], 1, "sockets in worker " .. i) end

-- bad options
check.errors(function() tide.map(function() end, 3, {order = "random"}) end, "option 'order'")
check.errors(function() tide.map(function() end, 3, {chunk = 0}) end, "option 'chunk'")
check.errors(function() tide.map(function() end, 3, {backend = "mpi"}) end, "backend 'mpi'")
check.errors(function() tide.map(function() end, "x") end, "table, count, array or iterator")
check.errors(function() tide.map(3, 3) end, "function expected")

sh:close(); cow:close()
collectgarbage(); collectgarbage()
check.eq(children(), 0, "no worker left")
check.eq(fds(), base_fds, "no descriptor leaked")
-- scalar results take a fast path (no protected call, no codec state):
-- every kind of scalar, several per task, nils among them, arrive exactly
do
  local vals = {0, -1, 127, 128, -129, 2^31 - 1, math.mininteger, math.maxinteger, 0.5, -0.0,
                1 / 0, -1 / 0, true, false}
  local got = {}
  for i, a, b, c in tide.map(function(i) return vals[i], nil, i end, #vals, {jobs = 2, chunk = 3}) do
    got[i] = {a, b, c}
  end
  for i, v in ipairs(vals) do
    check.truthy(rawequal(got[i][1], v) or (v ~= v and got[i][1] ~= got[i][1]), "scalar " .. tostring(v))
    check.eq(math.type(got[i][1]), math.type(v), "number kind of " .. tostring(v))
    check.eq(got[i][2], nil); check.eq(got[i][3], i)
  end
  check.eq(1 / got[10][1], -1 / 0, "-0.0 keeps its sign")
  local nan = tide.collect(function() return 0 / 0 end, 2, {jobs = 2, chunk = 1})
  check.truthy(nan[1] ~= nan[1], "NaN")
end

-- big results are lent: a dropped one goes back to its worker and holds a
-- later result; one the script keeps is never written again
do
  local n, kept, bad = 300000, {}, 0   -- 2.4 MB each: shared segments
  for i, a in tide.map(function(i) tide.sleep(0.005); return tide.full(n, i) end, 40,
                       {jobs = 2, chunk = 1}) do
    if a[1] ~= i or a[n] ~= i then bad = bad + 1 end
    if i % 5 == 0 then kept[#kept + 1] = {i, a} else a:close() end
  end
  collectgarbage()
  check.eq(bad, 0, "each result holds its own task's values")
  for _, k in ipairs(kept) do
    check.truthy(k[2]:min() == k[1] and k[2]:max() == k[1], "kept result " .. k[1] .. " intact")
  end
  -- a result sent on to workers as an item is not given back meanwhile
  local firsts = tide.collect(function(i) return tide.full(n, i) end, 4, {jobs = 2, chunk = 1})
  local k = 0
  local sums = tide.collect(function(a) tide.sleep(0.01); return a:sum() end,
                            function() k = k + 1; return firsts[k] end, {jobs = 2, chunk = 1})
  for i = 1, 4 do check.eq(sums[i], i * n, "sent-on result " .. i) end
end

-- the task times outlive the loop: stats after the results were drained and
-- after close (a drained handle freed them while keeping their count: a crash)
do
  local j = tide.start(function(i) return i end, 3, {jobs = 2})
  j:wait()
  for _ in j:results() do end
  check.eq(#j:stats().tasks, 3, "stats after the results were drained")
  j:close()
  check.eq(j:stats().count, 3, "stats after close")
end

check.done()
