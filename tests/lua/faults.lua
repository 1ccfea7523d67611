-- faults.lua: allocation-failure injection over tide's Lua-facing scenarios,
-- in the manner of SQLite's malloc tests.  For each scenario and each kind
-- of fault ("core": the core's malloc, mmap, memfd, fallocate, socketpair,
-- fork; "core+": the same, every one from N on failing; "lua": the
-- lua_State's allocator), the scenario runs once to count
-- its points, then again with point N failed, N = 1, 2, ... (every N up to
-- DENSE, then a sample, so a scenario of thousands of points stays quick).
-- Each run must end in a Lua error (or in the right result, where tide got
-- around the failure), leave nothing in its folder or in /dev/shm, and
-- leave the state usable: the scenario run again without faults gives its
-- first result.  A crash or an abort kills the test; a leak is reported by
-- LeakSanitizer at exit (the ASan build is the one with faults).
--   TIDE_FAULTS_ONLY=name[:kind[:N]]  runs one scenario (one kind, one N)
--   TIDE_FAULTS_ALL=1                 every N, no sampling (the long run)
local check = require "check"
local tide = require "tide"

local faults = tide._internal.faults
if not faults then
  print("skip: this build has no fault injection (cmake -DTIDE_FAULTS=ON; scripts/build --asan)")
  os.exit(77)
end

local DENSE, SAMPLES = 20, 20 -- every N up to DENSE, then about SAMPLES more
if os.getenv("TIDE_FAULTS_ALL") then DENSE = math.maxinteger end -- every N: the long run
local tty = tide._internal.isatty(2)

local root = os.getenv("TMPDIR") or "/tmp"
-- folders of runs that were killed (a test timeout, a machine restart) go
-- first: their process is gone, so nobody else will remove them
for _, dir in ipairs{root, "/dev/shm"} do
  local p = io.popen("ls -d " .. dir .. "/tide-faults-* 2>/dev/null")
  for old in p:lines() do
    local pid = old:match("tide%-faults%-(%d+)$")
    local alive = pid and io.open("/proc/" .. pid .. "/stat")
    if alive then alive:close() elseif pid then os.execute("rm -rf " .. old) end
  end
  p:close()
end
local work = string.format("%s/tide-faults-%d", root, io.open("/proc/self/stat"):read("n"))
-- segments go to files in a folder of this test's own (memfd otherwise,
-- which leaves no name to look for): a failure must leave none behind
local segs = "/dev/shm/" .. work:match("[^/]+$")
assert(os.execute("mkdir -p " .. work .. " " .. segs))
tide.config.temp_dir = segs
tide.config.share_bytes = 4096 -- small arrays take the shared path too

local function ls(dir)
  local p = io.popen("ls -A " .. dir .. " 2>/dev/null")
  local t = {}
  for name in p:lines() do t[#t + 1] = name end
  p:close()
  table.sort(t)
  return table.concat(t, " ")
end

-- tide's names in /dev/shm, but the folders of this test's runs (this
-- one's, and another's running beside it); joined by hand, so a name of
-- another kind coming or going does not change the spaces
local function tide_shm()
  local t = {}
  for n in ls("/dev/shm"):gmatch("%S+") do
    if n:match("^tide") and not n:match("^tide%-faults%-%d+$") then t[#t + 1] = n end
  end
  return table.concat(t, " ")
end
local shm0 = tide_shm()

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function sum(a) return string.format("%.10g", a:sum()) end

-- the processes this one started and has not reaped (workers are started
-- on the script's thread); read without a fork
local self_pid = io.open("/proc/self/stat"):read("n")
local function children()
  local f = io.open(string.format("/proc/self/task/%d/children", self_pid))
  local s = f and f:read("a") or ""
  if f then f:close() end
  return (s:gsub("%s+$", ""))
end

local X = tide.rand({60, 3}, {seed = 1})
local y = X:col(1) * 2 + X:col(2)

-- Each scenario: run(dir) returns a string summing up its result; dir is a
-- fresh folder; files(dir) lists what may stay in it afterwards (by
-- default, anything a successful run leaves, checked against a failed one
-- by `after`).
local scenarios = {
  {name = "constructors", run = function()
    local a = tide.array({{1, 2}, {3, 4}})
    local z = tide.zeros({3, 5}, {dtype = "f32"})
    local r = tide.rand({20, 4}, {seed = 3})
    local s = tide.rand(2000, {seed = 4, shared = true})
    local l = tide.linspace(0, 1, 11)
    local rs = tide.rowset{{1, 3}, {7, 9}}
    -- tostring used to leak its text when the push failed
    return table.concat({sum(a), sum(z), sum(r), sum(s), sum(l), tostring(a), tostring(rs)}, " ")
  end},
  {name = "ops", run = function()
    local a = tide.rand({30, 4}, {seed = 5})
    local b = (a + 1) * a:col(2):copy():reshape(30, 1)
    local m = tide.matmul(a:t(), b)
    local s = a:col(1):sort()
    local t = a:take({3, 1, 2})
    return table.concat({sum(b), sum(m), sum(s), sum(t), sum(a:mean(1)), sum(a:std(2)),
                         sum(a:col(3):argsort()), tostring(a:row(1))}, " ")
  end},
  {name = "npy", run = function(dir)
    local a = tide.rand({40, 3}, {seed = 6})
    tide.save(dir .. "/a.npy", a)
    local b = tide.load(dir .. "/a.npy")
    local c = tide.load(dir .. "/a.npy", {mmap = "r"})
    return sum(b) .. " " .. sum(c)
  end},
  {name = "npz", run = function(dir)
    local a, b = tide.rand({10, 3}, {seed = 7}), tide.arange(12)
    tide.savez(dir .. "/z.npz", {a = a, b = b}, {compress = true})
    tide.savez(dir .. "/u.npz", {a = a})
    local z, u = tide.load(dir .. "/z.npz"), tide.load(dir .. "/u.npz")
    return sum(z.a) .. " " .. sum(z.b) .. " " .. sum(u.a)
  end},
  {name = "csv", run = function(dir)
    local f = io.open(dir .. "/d.csv", "w")
    f:write("id,city,temp\n1,Paris,12.5\n2,Lyon,NA\n3,Paris,\n# note\n4,\"Nice, F\",9\n")
    f:close()
    local D, names, levels = tide.read_csv(dir .. "/d.csv", {comment = "#"})
    return table.concat({tostring(D), table.concat(names, ","),
                         table.concat(levels.city, ",")}, " ")
  end},
  {name = "par", forks = true, run = function()
    local t = tide.collect(function(i) return i * i end, 12, {jobs = 2})
    local big = tide.collect(function(i) return tide.rand(4000, {seed = i}) end, 2, {jobs = 2})
    local s = 0
    for i = 1, #t do s = s + t[i] end
    return s .. " " .. sum(big[1]) .. " " .. sum(big[2])
  end},
  {name = "job", forks = true, run = function()
    local job = tide.start(function(i) return i * 2 end, 8, {jobs = 2, on_error = "yield"})
    local done = job:wait()
    local s, m = 0, 0
    for _, r in job:results() do s = s + r end
    job:close()
    for _, r in tide.map(function(i) return i + 1 end, 6, {jobs = 2, order = "completed"}) do
      m = m + r
    end
    local out = tide.zeros(10, {shared = true})
    tide.pfor(10, function(i) out[i] = i * i end, {jobs = 2})
    return table.concat({tostring(done), s, m, sum(out)}, " ")
  end},
  {name = "numeric", run = function(dir)
    local x = tide.linalg.solve(tide.array({{3, 1}, {1, 2}}), tide.array({9, 8}))
    local F = tide.fft.rfft(tide.rand(16, {seed = 2}))
    local c = tide.convolve(tide.array({1, 2, 3}), tide.array({0, 1, 0.5}))
    local mm = tide.memmap(dir .. "/m.npy", {shape = {4, 3}, dtype = "f32", mode = "w+"})
    mm[2] = 1
    mm:flush()
    local f = io.open(dir .. "/d.csv", "w")
    f:write("a,b\n1,2\n3,4\n")
    f:close()
    local D = tide.read_csv(dir .. "/d.csv", {mmap = dir .. "/d.npy"})
    return table.concat({sum(x), tostring(F), sum(c), sum(mm), sum(X:astype("i32")), sum(D)}, " ")
  end},
  {name = "search2", forks = true, run = function() -- folds in workers
    local s = tide.search{model = tide.models.ridge{}, grid = {alpha = {0.1, 10}}, X = X, y = y,
                          cv = tide.cv.kfold(#X, 3), jobs = 2}
    return string.format("%.10g %.10g", s.best_params.alpha, s.best_score)
  end},
  {name = "search", run = function()
    local s = tide.search{model = tide.models.ridge{}, grid = {alpha = {0.1, 10}}, X = X, y = y,
                          cv = tide.cv.kfold(#X, 3), jobs = 1}
    return string.format("%.10g %.10g", s.best_params.alpha, s.best_score)
  end},
  {name = "models", run = function()
    local M, c, out = tide.models, y:gt(1.5), {}
    for _, m in ipairs{M.decision_tree_classifier{}, M.logistic{}, M.knn_classifier{k = 3}, M.svc{},
                       M.random_forest_classifier{n_estimators = 3, seed = 1, jobs = 1}} do
      out[#out + 1] = sum(m:fit(X, c):predict(X))
    end
    for _, m in ipairs{M.lasso{alpha = 0.01}, M.knn_regressor{k = 3},
                       M.random_forest_regressor{n_estimators = 3, seed = 1, jobs = 1}} do
      out[#out + 1] = sum(m:fit(X, y):predict(X))
    end
    out[#out + 1] = sum(M.kmeans{k = 3, seed = 1}:fit(X):predict(X))
    out[#out + 1] = sum(M.pca{n_components = 2}:fit(X):transform(X):abs())
    out[#out + 1] = sum(M.standard_scaler{}:fit(X):transform(X):abs())
    return table.concat(out, " ")
  end},
  {name = "dump", run = function(dir)
    local path = dir .. "/v.tide"
    local m = tide.models.ridge{}:fit(X, y)
    tide.dump({X = X, model = m, note = "run", list = {1, 2.5, "x"}}, path)
    local back = tide.undump(path)
    local mapped = tide.undump(path, {mmap = "r", verify = true})
    return table.concat({sum(back.X), sum(back.model:predict(X)), back.note,
                         sum(mapped.X), tostring(mapped.list[2])}, " ")
  end, before = function(dir) -- an older dump the failed write must leave intact
    tide.dump({note = "old"}, dir .. "/v.tide")
  end, after = function(dir, ok)
    if ok then return end
    local good, v = pcall(tide.undump, dir .. "/v.tide")
    check.truthy(good and (v.note == "old" or v.note == "run"),
                 "dump: the target is the old value or the whole new one: " .. tostring(v))
  end},
  -- the spawn backend: each acquisition of a loop's start in turn (its
  -- set, a slot's word and spill memfds, their mapping, the socketpair,
  -- posix_spawn, the shipped function's buffers), then a warm pool whose
  -- second loop reuses its workers; no worker may outlive a failed loop
  {name = "spawn", forks = true, run = function()
    local t = tide.collect(function(i) return i * i end, 6, {jobs = 2, backend = "spawn"})
    local big = tide.collect(function(i) return tide.rand(4000, {seed = i}) end, 2,
                             {jobs = 2, backend = "spawn"})
    local s = 0
    for i = 1, #t do s = s + t[i] end
    return s .. " " .. sum(big[1]) .. " " .. sum(big[2])
  end, after = function() check.eq(children(), "", "spawn: no worker left after the loop") end},
  {name = "spawn_pool", forks = true, run = function()
    local warm <close> = tide.pool{jobs = 2, backend = "spawn"}
    local a = warm:collect(function(i) return i + 1 end, 4)
    local b = warm:collect(function(i) return X:row(i):sum() end, 3) -- X travels by descriptor
    return a[4] .. " " .. string.format("%.10g", b[1] + b[2] + b[3]) .. " " .. warm:workers()
  end, after = function() check.eq(children(), "", "spawn_pool: no worker left once it closed") end},
  {name = "memoize", run = function(dir)
    local g = tide.memoize(function(A, k) return A * k end, {dir = dir .. "/cache", name = "scale"})
    local a = g(X, 2)
    local b = g(X, 2)
    -- a cache that cannot store (or read) an entry computes again: hits vary
    return sum(a) .. " " .. sum(b)
  end},
}

local only = os.getenv("TIDE_FAULTS_ONLY")
local only_name, only_kind, only_n
if only then only_name, only_kind, only_n = only:match("^([^:]+):?([^:]*):?(%d*)$") end

-- A fresh folder for a scenario that writes files (run(dir) takes one):
-- forking a sanitized process for mkdir and ls is most of this test's time.
local runs = 0
local function fresh(sc)
  if debug.getinfo(sc.run, "u").nparams == 0 then return nil end
  runs = runs + 1
  local dir = string.format("%s/r%d", work, runs)
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

-- The N to try, from the point count of a clean run.  Scenarios that
-- fork workers cost tens of times more per run (a sanitized fork, its
-- workers' start and exit): a smaller sample of them, but every N still
-- in the long run.
local function schedule(points, sc)
  local dense, samples = DENSE, SAMPLES
  if sc.forks and DENSE < math.maxinteger then dense, samples = 8, 8 end
  local t = {}
  for n = 1, math.min(points, dense) do t[#t + 1] = n end
  if points > dense then
    local step = math.max(1, (points - dense) // samples)
    for n = dense + step, points, step do t[#t + 1] = n end
  end
  return t
end

local total_failed, total_points, total_runs = 0, 0, 0
for _, sc in ipairs(scenarios) do
  if not only_name or only_name == sc.name then
    local dir = fresh(sc)
    if sc.before then sc.before(dir) end
    local ref = sc.run(dir)
    local expect = dir and ls(dir)
    -- "core+": from point N on, every acquisition fails (SQLite's persistent
    -- fault): the error paths that allocate are failed too
    for _, kind in ipairs({"core", "core+", "lua"}) do
      if not only_kind or only_kind == "" or only_kind == kind then
        dir = fresh(sc)
        if sc.before then sc.before(dir) end
        collectgarbage()
        local arm = {kind = kind:match("%a+"), persist = kind == "core+" or nil}
        arm.at = math.maxinteger
        faults(arm)
        sc.run(dir)
        local points = faults()
        local ns = schedule(points, sc)
        if only_n and only_n ~= "" then ns = {tonumber(only_n)} end
        local failed, absorbed = 0, 0
        for _, n in ipairs(ns) do
          if tty then io.stderr:write(string.format("\r%-12s %-4s N=%d/%d   ", sc.name, kind, n, points)) end
          dir = fresh(sc)
          if sc.before then sc.before(dir) end
          collectgarbage()
          arm.at = n
          faults(arm)
          local ok, res = pcall(sc.run, dir)
          local _, fired = faults()
          if os.getenv("TIDE_FAULTS_DEBUG") then io.stderr:write(string.format("%s %s N=%d fired=%d ok=%s %s\n", sc.name, kind, n, fired, ok, tostring(res))) end
          local what = string.format("%s %s N=%d", sc.name, kind, n)
          if fired > 0 then
            failed = failed + 1
            if ok then
              absorbed = absorbed + 1
              check.eq(res, ref, what .. ": a run that got around the failure gives the result")
            else
              check.truthy(type(res) == "string" and #res > 0,
                           what .. ": the failure is an error message: " .. tostring(res))
              -- running out is not the argument's fault (take said so once)
              check.truthy(type(res) ~= "string" or not res:find("bad argument", 1, true),
                           what .. ": not blamed on an argument: " .. tostring(res))
            end
          end
          if sc.after then sc.after(dir, ok) end
          collectgarbage()
          collectgarbage()
          check.eq(ls(segs), "", what .. ": no segment left in temp_dir")
          if dir then
            -- a failed run may leave fewer files than a clean one, never others
            local left = ls(dir)
            for name in left:gmatch("%S+") do
              check.truthy((" " .. expect .. " "):find(" " .. name .. " ", 1, true),
                           what .. ": only the files of a clean run stay, not " .. name)
            end
          end
          local again = fresh(sc)
          if sc.before then sc.before(again) end
          local good, res2 = pcall(sc.run, again)
          check.truthy(good, what .. ": usable afterwards: " .. tostring(res2))
          check.eq(res2, ref, what .. ": the same result afterwards")
        end
        io.stderr:write(string.format("\r%-12s %-4s %d points, %d tried, %d failed (%d got around)\n",
                                      sc.name, kind, points, #ns, failed, absorbed))
        total_failed = total_failed + failed
        total_points = total_points + points
        total_runs = total_runs + 1
      end
    end
  end
end
collectgarbage()
check.eq(ls(segs), "", "temp_dir empty at the end")
check.eq(tide_shm(), shm0, "nothing of tide's new in /dev/shm")
print(string.format("faults: %d scenario runs, %d allocation points, %d failed in turn",
                    total_runs, total_points, total_failed))
tide.config.temp_dir = nil
os.execute("rm -rf " .. work .. " " .. segs)
check.done()
