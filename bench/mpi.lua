-- mpi.lua: the mpi backend's figures (scripts/bench mpi runs each part).
--   tide bench/mpi.lua rtt OUT                 under mpirun -n 2: chunk = 1 round
--                                              trip, rank 0 <-> rank 1's one worker
--   tide bench/mpi.lua search OUT ROWS         the main grid search (ridge, elastic
--                                              net, k-NN; gridsearch.lua's grids):
--                                              wall, and under mpirun the peak PSS
--                                              of every tide process of the node
--   tide bench/mpi.lua compare OUT             mpi's search wall against fork's
local mode, out, rows = arg[1], arg[2], tonumber(arg[3]) or 400000
local function record(name, value, unit)
  print(string.format("mpi      tide  %-34s %10.4g %s", name, value, unit))
  local f = out and io.open(out, "a")
  if f then
    f:write(string.format('{"bench":"mpi","impl":"tide","what":"%s","value":%.6g,"unit":"%s"}\n',
                          name, value, unit))
    f:close()
  end
end

if mode == "rtt" then
  assert(tide.mpi and tide.mpi.size == 2, "run under mpirun -n 2")
  local sq = function(x) return x * x end
  tide.collect(sq, 200, {jobs = 1, chunk = 1}) -- the loop machinery warm
  local best = math.huge
  for _ = 1, 3 do
    local N = 5000
    local t0 = tide.now()
    tide.collect(sq, N, {jobs = 1, chunk = 1})
    best = math.min(best, (tide.now() - t0) / N)
  end
  record("chunk=1 round trip, 2 ranks", best * 1e6, "us")
elseif mode == "search" then
  local n, p = rows, 10
  local X = tide.rand(n, p, {seed = 0})
  local y = tide.zeros(n, {shared = true})
  tide.pfor(8, function(b)
    local noise = tide.rng(1, b)
    for i = (b - 1) * n // 8 + 1, b * n // 8 do
      local r = X[i]
      y[i] = 10 * math.sin(math.pi * r[1] * r[2]) + 20 * (r[3] - 0.5) ^ 2 + 10 * r[4] + 5 * r[5]
             + noise:normal()
    end
  end, {backend = "fork"})
  local data = X.nbytes + y.nbytes
  local mon = not tide.mpi and tide.monitor{interval = 0.05} or nil
  local folds, knn_n = tide.cv.kfold(n, 5), math.min(n, 100000)
  local Xk, yk, ck = X:slice(1, 1, knn_n), y:slice(1, 1, knn_n), tide.cv.kfold(knn_n, 5)
  local jobs = tide.mpi and 1 or 2 -- 2 ranks x 1 worker against 2 forked workers
  local t0 = tide.now()
  tide.search{model = tide.models.ridge{}, grid = {alpha = tide.logspace(-3, 3, 7)}, X = X, y = y,
              cv = folds, jobs = jobs, scoring = "r2"}
  tide.search{model = tide.models.elasticnet{}, X = X, y = y, cv = folds, jobs = jobs,
              grid = {alpha = tide.logspace(-3, 0, 4), l1_ratio = {0.1, 0.5, 0.9}}, scoring = "r2"}
  tide.search{model = tide.models.knn_regressor{}, grid = {k = {5, 10}}, X = Xk, y = yk, cv = ck,
              jobs = jobs, scoring = "r2", train_score = false}
  local wall = tide.now() - t0
  local name = tide.mpi and string.format("search %d rows, %d ranks x 1", n, tide.mpi.size - 1)
                        or string.format("search %d rows, fork x 2", n)
  record(name, wall, "s")
  if tide.mpi then
    local node = tide.mpi.stats().nodes[1]
    record(string.format("search peak PSS / data, %d ranks", node.ranks), node.pss_peak / data, "x")
  else
    record("search peak PSS / data, fork x 2", mon:stop().peak_pss / data, "x")
  end
elseif mode == "compare" then
  local last = {}
  for line in io.lines(out) do
    local what, v = line:match('"bench":"mpi","impl":"tide","what":"([^"]+)","value":([^,]+)')
    if what then last[what:gsub("%d+ ranks x 1", "mpi"):gsub("fork x 2", "fork")] = tonumber(v) end
  end
  for k, v in pairs(last) do
    local rows_ = k:match("^search (%d+) rows, mpi$")
    local fork = rows_ and last["search " .. rows_ .. " rows, fork"]
    if fork then record("search " .. rows_ .. " rows, mpi / fork wall", v / fork, "x") end
  end
end
