-- par_spawn.lua: the spawn backend.  Its workers are `tide --worker`
-- processes, not forks, so the loop's function, its upvalues and globals
-- and the input are shipped to them; the same script must give the same
-- results as on fork: map, collect, pfor, start, searches, each task's
-- math.random stream.  Arrays: {shared = true} ones are the parent's pages
-- (a worker's writes are seen), others read-only, {worker_mode = "c"}
-- private copies, as on fork.  What cannot be shipped is an error before
-- any task runs.  A tide.pool{backend = "spawn"} keeps its workers between
-- loops: 50 loops with descriptors and children flat.  Timeouts, Ctrl-C
-- and the parent's death end every worker.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")

local me = check.pid()
local function children()
  local kids = {}
  local p = io.popen("grep -l '^[0-9]* ([^)]*) [A-Z] " .. me .. " ' /proc/[0-9]*/stat 2>/dev/null")
  for path in p:lines() do kids[#kids + 1] = tonumber(path:match("/proc/(%d+)/")) end
  p:close()
  return #kids - 1 -- grep's shell
end
-- tide's descriptors: sockets, memfds, eventfds, shared files (not the
-- pipes these checks read through)
local function nfds()
  collectgarbage()
  collectgarbage()
  local n = 0
  local p = io.popen("ls -l /proc/" .. me .. "/fd")
  for line in p:lines() do
    if line:find("socket:", 1, true) or line:find("memfd:", 1, true) or line:find("anon_inode", 1, true)
       or line:find("tide", 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

local function both(what, run)
  local a, b = run{backend = "fork", jobs = 2}, run{backend = "spawn", jobs = 2}
  check.eq(type(b), type(a), what .. ": same kind of result")
  if type(a) == "table" then
    check.eq(#b, #a, what .. ": as many results")
    for i = 1, #a do check.eq(b[i], a[i], what .. ": result " .. i) end
  else
    check.eq(b, a, what)
  end
end

-- ---- same results as on fork
local k = 3
local coef = {2, -1}
local function helper(x) return coef[1] * x + coef[2] end
poly_offset = 100 -- a global the task reads: shipped with it
local function task(i) return helper(i) * k + poly_offset + math.floor(math.sqrt(i)) end
both("collect", function(o) return tide.collect(task, 40, o) end)
both("collect, chunk 1", function(o) o.chunk = 1; return tide.collect(task, 40, o) end)
both("map over a table", function(o)
  local out = {}
  for i, r in tide.map(function(s) return s:upper() .. #s end, {"a", "bb", "ccc"}, o) do out[i] = r end
  return out
end)
both("map, completed order", function(o)
  o.order = "completed"
  local out = {}
  for i, r in tide.map(task, 30, o) do out[i] = r end
  return out
end)
both("map over an iterator", function(o)
  local n = 0
  local out = {}
  for i, r in tide.map(function(x) return x.v * 2 end, function()
    n = n + 1
    if n <= 25 then return {v = n} end
  end, o) do out[i] = r end
  return out
end)
both("pfor into a shared array", function(o)
  local out = tide.zeros(50, {shared = true})
  tide.pfor(50, function(i) out[i] = task(i) end, o)
  return out:totable()
end)
both("start", function(o)
  local job = tide.start(task, 20, o)
  check.truthy(job:wait(), "job finished")
  local out = {}
  for i, r in job:results() do out[i] = r end
  return out
end)
both("multiple results and tables", function(o)
  local t = tide.collect(function(i) return {i, tostring(i), {deep = i * 2}} end, 8, o)
  local flat = {}
  for i = 1, 8 do flat[i] = t[i][1] .. t[i][2] .. t[i][3].deep end
  return flat
end)
both("an array input", function(o)
  local xs = tide.arange(1, 13)
  return tide.collect(function(x) return x * x end, xs, o)
end)
both("arrays as results", function(o)
  local t = tide.collect(function(i) return tide.full(1 << 17, i) end, 6, o) -- 1 MB each: lent
  local s = {}
  for i = 1, 6 do s[i] = t[i]:sum() end
  return s
end)
both("seeded math.random streams", function(o)
  o.seed = 42
  return tide.collect(function() return math.random(1 << 40) end, 16, o)
end)
both("seeded task_rng", function(o)
  o.seed = 7
  return tide.collect(function() return tide.task_rng():uniform() end, 8, o)
end)
-- a model class shipped by name, fitted in the worker
both("models", function(o)
  local X = tide.rand(80, 3, {seed = 3})
  local y = X:matmul(tide.array{1, 2, 3})
  return tide.collect(function(i)
    local m = tide.models.ridge{alpha = i}:fit(X, y)
    return m:score(X, y)
  end, 4, o)
end)

-- a search gives the same rows
do
  local X = tide.rand(90, 4, {seed = 11})
  local y = X:matmul(tide.array{1, -2, 0.5, 3}) + tide.rand(90, {seed = 12}) * 0.1
  local grid = {alpha = {0.001, 0.1, 10, 1000}}
  local function rows(backend)
    local s = tide.search{model = tide.models.ridge{}, grid = grid, X = X, y = y, cv = 3, jobs = 2,
                          backend = backend}
    return (s:rows()), s
  end
  local rf, sf = rows("fork")
  local rs, ss = rows("spawn")
  check.eq(#rs, #rf, "search: as many rows")
  for c = 1, #rf do
    check.eq(rs[c].params.alpha, rf[c].params.alpha, "search row " .. c .. ": params")
    check.eq(rs[c].mean_test, rf[c].mean_test, "search row " .. c .. ": mean score")
    check.eq(rs[c].rank, rf[c].rank, "search row " .. c .. ": rank")
    for f = 1, 3 do check.eq(rs[c].scores[f], rf[c].scores[f], "search row " .. c .. " fold " .. f) end
  end
  check.eq(ss.best_params.alpha, sf.best_params.alpha, "search: best alpha")
end

-- ---- what a worker has: copies, as on fork
do
  local count = 0
  local t = tide.collect(function(i) count = count + i; return count end, 4,
                         {backend = "spawn", jobs = 2, chunk = 4})
  check.eq(t[4], 10, "an upvalue is the worker's copy: it keeps counting there")
  check.eq(count, 0, "and the parent's is untouched")
  spawn_global = 1
  tide.collect(function() spawn_global = 99 end, 2, {backend = "spawn", jobs = 2})
  check.eq(spawn_global, 1, "a global set in a worker stays there")
end

-- ---- arrays: the parent's pages, zero-copy
do
  local shared = tide.zeros(1 << 16, {shared = true})
  tide.pfor(8, function(i) shared[i] = i; shared[(1 << 16) - i + 1] = -i end,
            {backend = "spawn", jobs = 2})
  check.eq(shared[8], 8, "a worker's write to a shared array is seen by the parent")
  check.eq(shared[(1 << 16) - 7], -8, "at both ends")
  local ro = tide.zeros(10)
  check.errors(function()
    tide.collect(function(i) ro[i] = 1 end, 2, {backend = "spawn", jobs = 2})
  end, "array is read-only in workers", "an inherited array is read-only, as on fork")
  local cow = tide.zeros(10, {worker_mode = "c"})
  local s = tide.collect(function(i) cow[1] = 5; return cow:sum() end, 3, {backend = "spawn", jobs = 2})
  check.eq(s[3], 5, "a private copy is writable in the worker")
  check.eq(cow:sum(), 0, "and the parent's is untouched")
end

-- ---- refusals: before any task runs, naming the path
do
  local ran = tide.zeros(4, {shared = true})
  local co = coroutine.create(function() end)
  local cfg = {co = co}
  check.errors(function()
    tide.collect(function(i) ran[i] = 1; return cfg.co end, 4, {backend = "spawn", jobs = 2})
  end, "upvalue 'cfg' → field co: cannot send a coroutine", "a coroutine upvalue")
  check.eq(ran:sum(), 0, "no task ran")
  local fh = io.tmpfile()
  check.errors(function()
    tide.pfor(4, function(i) ran[i] = 1; fh:write("x") end, {backend = "spawn", jobs = 2})
  end, "upvalue 'fh'", "a file handle")
  fh:close()
  check.eq(ran:sum(), 0, "no task ran")
  check.errors(function()
    tide.collect(function(i) return i end, {co}, {backend = "spawn", jobs = 2})
  end, "the loop's input", "an input that cannot travel")
  check.eq(children(), 0, "no worker started")
end

-- a module the worker cannot load: each task fails saying so
do
  package.preload["spawn_test_mod"] = function() return {f = function(x) return x end} end
  local mod = require "spawn_test_mod"
  local t = {}
  for i, r, err in tide.map(function(i) return mod.f(i) end, 3,
                            {backend = "spawn", jobs = 2, on_error = "yield"}) do
    t[#t + 1] = err or ""
  end
  check.eq(#t, 3, "every task answered")
  check.truthy(t[1]:find("cannot load the loop's function", 1, true) and t[1]:find("spawn_test_mod", 1, true),
               "the error says why: " .. t[1])
  package.loaded["spawn_test_mod"] = nil
end

-- Runs body(m) with m the module `name` of source text src, written in a
-- fresh folder on package.path (which spawned workers search too).
local function with_module(name, src, body)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -m 700 " .. dir)
  local f = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
  f:write(src)
  f:close()
  local saved = package.path
  package.path = dir .. "/?.lua;" .. package.path
  body(require(name))
  package.path = saved
  package.loaded[name] = nil
  os.remove(dir .. "/" .. name .. ".lua")
  os.remove(dir)
end

-- a module on the parent's package.path is found by the workers
with_module("spawn_path_mod", "return {triple = function(x) return 3 * x end}\n", function(m)
  local t = tide.collect(function(i) return m.triple(i) end, 5, {backend = "spawn", jobs = 2})
  check.eq(t[5], 15, "a module on package.path")
end)

-- a worker's start is not its task's time: a module that takes 1.5 s to load
-- in each worker (during its setup) does not make 0.75-s tasks time out
with_module("spawn_slow_mod", "tide.sleep(1.5)\nreturn {twice = function(x) return 2 * x end}\n",
            function(m)
  local t, errs = tide.collect(function(i) return m.twice(i) end, 4,
                               {backend = "spawn", jobs = 2, timeout = 0.75})
  check.eq(errs, nil, "no task timed out while its worker started: "
           .. tostring(errs and errs[next(errs)]))
  check.eq(t[4], 8, "every result")
  -- a task that is late once started still times out
  t, errs = tide.collect(function(i) if i == 2 then tide.sleep(30) end return m.twice(i) end, 3,
                         {backend = "spawn", jobs = 2, timeout = 0.75, chunk = 1})
  check.truthy(errs and errs[2] and errs[2]:find("timed out", 1, true), "the late task times out")
  check.eq(t[3], 6, "the others are delivered")
end)

-- ---- a search on a warm spawn pool: the pool's workers serve all its stages
do
  local p <close> = tide.pool{backend = "spawn", jobs = 2}
  local function pids()
    local set = {}
    for _, pid in ipairs(p:collect(function() tide.sleep(0.05) return check.pid() end, 6, {chunk = 1})) do
      set[pid] = true
    end
    return set
  end
  local before = pids()
  local X = tide.rand({300, 3}, {seed = 7})
  local y = X:col(1) * 2 - X:col(3) + tide.rand(300, {seed = 8}) * 0.1
  local grid = {alpha = {0.001, 1, 1000}}
  local s = tide.search{model = tide.models.ridge, grid = grid, X = X, y = y, cv = 3, pool = p}
  local f = tide.search{model = tide.models.ridge, grid = grid, X = X, y = y, cv = 3, jobs = 2}
  check.eq(s.best_params.alpha, f.best_params.alpha, "same best alpha as on fork")
  check.near(s.best_score, f.best_score, 1e-12, "same best score as on fork")
  local cv = tide.cross_validate(tide.models.ridge, X, y, {cv = 3, pool = p})
  check.near(cv.test_score[1], tide.cross_validate(tide.models.ridge, X, y, {cv = 3, jobs = 2}).test_score[1],
             1e-12, "cross_validate on the pool")
  local lc = tide.learning_curve(tide.models.ridge, X, y, {cv = 3, sizes = {0.5, 1}, pool = p})
  check.eq(#lc.test_scores, 2, "learning_curve on the pool")
  local after = pids()
  for pid in pairs(after) do check.truthy(before[pid], "worker " .. pid .. " was the pool's from the start") end
  check.eq(p:workers(), 2, "the pool still keeps two workers")
  check.errors(function() tide.search{model = tide.models.ridge, X = X, y = y, pool = {}} end,
               "search: 'pool' must be a tide.pool, got table", "a pool that is not one")
end

-- ---- a warm pool: the same workers for every loop
do
  local p = tide.pool{backend = "spawn", jobs = 2}
  local pids = p:collect(function() return check.pid() end, 4, {chunk = 1})
  check.eq(p:workers(), 2, "the pool keeps its two workers")
  local fds0, kids0 = nfds(), children()
  check.eq(kids0, 2, "two children")
  for l = 1, 50 do
    local r = p:collect(function(i) return i + l end, 10)
    check.eq(r[10], 10 + l, "loop " .. l)
    if l % 10 == 0 then
      local t = {}
      for i, v in p:map(function(x) return x * l end, {1, 2, 3}) do t[i] = v end
      check.eq(t[3], 3 * l, "map in loop " .. l)
    end
  end
  for l = 1, 5 do -- big results: segments the warm workers lend, given back between loops
    local t = p:collect(function(i) return tide.full(1 << 17, i + l) end, 4)
    check.eq(t[4][1], 4 + l, "array results, loop " .. l)
  end
  -- a forked worker meanwhile holds none of the spawned workers' descriptors
  local held = tide.collect(function()
    local n = 0
    local fh = io.popen("ls -l /proc/" .. check.pid() .. "/fd")
    for line in fh:lines() do if line:find("tide-word", 1, true) then n = n + 1 end end
    fh:close()
    return n
  end, 2, {jobs = 2})
  check.eq(held[1] + held[2], 0, "fork workers do not inherit the spawn pool's descriptors")
  check.eq(nfds(), fds0, "descriptors flat over 50 loops")
  check.eq(children(), kids0, "children flat over 50 loops")
  local again = p:collect(function() return check.pid() end, 4, {chunk = 1})
  local was = {}
  for _, pid in ipairs(pids) do was[pid] = true end
  for _, pid in ipairs(again) do check.truthy(was[pid], "the same worker processes: " .. pid) end
  -- a worker that dies is replaced, in its loop and for the next
  local t = {}
  for i, r, err in p:map(function(i) if i == 3 then os.exit(5) end return i end, 6,
                         {on_error = "yield"}) do t[i] = err or r end
  check.truthy(tostring(t[3]):find("exited with status 5", 1, true), "the death is named: " .. tostring(t[3]))
  check.eq(t[6], 6, "the others delivered")
  check.eq(p:collect(function(i) return -i end, 4)[4], -4, "the pool runs on")
  check.eq(p:workers(), 2, "two workers again")
  -- an interrupted loop (break): the pool's workers still serve
  for i in p:map(function(i) tide.sleep(0.01); return i end, 100) do if i == 2 then break end end
  check.eq(p:collect(function(i) return i end, 3)[3], 3, "after a break")
  -- two loops of one pool at once: the second gets workers of its own
  local job = p:start(function(i) tide.sleep(0.05); return i end, 4)
  check.eq(p:collect(function(i) return i * 2 end, 4)[4], 8, "a second loop while one runs")
  check.truthy(job:wait(), "the first finishes")
  p:close()
  check.eq(p:workers(), 0, "a closed pool has no workers")
  check.truthy(children() == 0, "and no children")
end

-- ---- timeouts: the hanging task fails, its worker is replaced
do
  local t = {}
  for i, r, err in tide.map(function(i) if i == 2 then tide.sleep(60) end return i end, 5,
                            {backend = "spawn", jobs = 2, timeout = 0.5, on_error = "yield", chunk = 1}) do
    t[i] = err or r
  end
  check.truthy(tostring(t[2]):find("timed out", 1, true), "timeout named: " .. tostring(t[2]))
  check.eq(t[5], 5, "the others delivered")
  check.eq(children(), 0, "no worker left after a timeout")
end

-- ---- Ctrl-C and SIGKILL of the parent
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -m 700 " .. dir)
local script = dir .. "/loop.lua"
local f = assert(io.open(script, "w"))
f:write([[
io.write(io.open("/proc/self/stat"):read("n"), "\n"); io.flush()
for i, r in tide.map(function(x) tide.sleep(0.2); return x end, 1000,
                     {jobs = 2, backend = "spawn"}) do end
]])
f:close()
local function kids_of(pid)
  local kids = {}
  local p = io.popen("grep -l '^[0-9]* ([^)]*) [A-Z] " .. pid .. " ' /proc/[0-9]*/stat 2>/dev/null")
  for path in p:lines() do kids[#kids + 1] = tonumber(path:match("/proc/(%d+)/")) end
  p:close()
  return kids
end
local function alive(pid)
  local fh = io.open("/proc/" .. pid .. "/stat")
  if not fh then return false end
  local st = fh:read("a")
  fh:close()
  return not st:match("^%d+ %b() [ZX]")
end
local function wait_until(cond, seconds)
  local t0 = tide.now()
  while tide.now() - t0 < seconds do
    if cond() then return true end
    tide.sleep(0.02)
  end
  return cond()
end
for _, sig in ipairs{"INT", "KILL"} do
  local out = dir .. "/err"
  local p = io.popen(bin .. " " .. script .. " 2>" .. out)
  local pid = tonumber(p:read("l"))
  check.truthy(wait_until(function() return #kids_of(pid) >= 2 end, 10), sig .. ": workers running")
  tide.sleep(0.3)
  local kids = kids_of(pid)
  os.execute("kill -" .. sig .. " " .. pid)
  local ok = p:close()
  check.truthy(not ok, sig .. ": the script failed")
  check.truthy(wait_until(function()
    for _, kid in ipairs(kids) do if alive(kid) then return false end end
    return true
  end, 2), sig .. ": every worker gone within 2 s")
  if sig == "INT" then
    local e = io.open(out):read("a")
    check.truthy(e:find("interrupted!", 1, true), "SIGINT reported as interrupted!: " .. e)
  end
  os.remove(out)
end
os.remove(script)
os.remove(dir)

check.done()
