-- mpi.lua: the main grid search (examples/gridsearch.lua) across machines.
--   mpirun -n 3 tide examples/mpi.lua      rank 0 runs this script; ranks 1
--                                          and 2 serve its loops
--   tide examples/mpi.lua                  the same search on one machine
-- Nothing in the search names MPI: under mpirun with more than one rank
-- every loop's default backend is "mpi", so tide.search spreads its tasks
-- over the serving ranks, each running them on its own forked workers,
-- and X and y reach each machine once.  Both runs print the same best
-- parameters and scores; under mpirun the report adds the tasks each rank
-- ran and each node's peak memory (PSS, all its tide processes).
-- usage: [mpirun -n N] tide examples/mpi.lua [rows=200000] [features=10] [jobs] [knn_rows=20000]
--   jobs: workers per serving rank (default: its cores, shared by the ranks of its node)
local n = tonumber(arg[1]) or 200000
local p = tonumber(arg[2]) or 10
local jobs = tonumber(arg[3])
local knn_n = math.min(tonumber(arg[4]) or 20000, n)
assert(p >= 5, "Friedman #1 needs at least 5 features")
local mpi = tide.mpi -- nil unless under mpirun with more than one rank

-- Friedman #1, as in gridsearch.lua.  The tasks that write y run on this
-- machine (backend = "fork"): a task's writes into a shared array reach
-- rank 0 only from rank 0's own node.
local X = tide.rand(n, p, {seed = 0})
local y = tide.zeros(n, {shared = true})
local blocks = 8
tide.pfor(blocks, function(b)
  local from, to = (b - 1) * n // blocks + 1, b * n // blocks
  local noise = tide.rng(1, b)
  for i = from, to do
    local r = X[i]
    y[i] = 10 * math.sin(math.pi * r[1] * r[2]) + 20 * (r[3] - 0.5) ^ 2 + 10 * r[4] + 5 * r[5]
           + noise:normal()
  end
end, {backend = "fork"})
local data_bytes = X.nbytes + y.nbytes
print(string.format("Friedman #1: %d x %d (%.0f MB); %s", n, p, data_bytes / 1e6,
                    mpi and string.format("%d MPI ranks (rank 0 + %d serving)", mpi.size, mpi.size - 1)
                        or "one machine"))

local mon = not mpi and tide.monitor{interval = 0.05} or nil
local folds = tide.cv.kfold(n, 5)
local searches = {
  {name = "ridge", model = tide.models.ridge{}, grid = {alpha = tide.logspace(-3, 3, 7)}},
  {name = "elastic net", model = tide.models.elasticnet{},
   grid = {alpha = tide.logspace(-3, 0, 4), l1_ratio = {0.1, 0.5, 0.9}}},
  {name = "k-NN", model = tide.models.knn_regressor{}, grid = {k = {5, 10}}, rows = knn_n},
}
local t_all = tide.now()
for _, s in ipairs(searches) do
  local Xs, ys, cv = X, y, folds
  if s.rows and s.rows < n then
    Xs, ys = X:slice(1, 1, s.rows), y:slice(1, 1, s.rows)
    cv = tide.cv.kfold(s.rows, 5)
  end
  local t0 = tide.now()
  local res = tide.search{model = s.model, grid = s.grid, X = Xs, y = ys, cv = cv, jobs = jobs,
                          scoring = "r2", train_score = false}
  print(string.format("\n%s: %d candidates x 5 folds in %.2f s", s.name, #res.candidates,
                      tide.now() - t0))
  print(res:report(3))
end
print(string.format("\nall searches: %.2f s", tide.now() - t_all))

if mpi then
  local st = mpi.stats()
  print("tasks per rank:")
  for _, r in ipairs(st.ranks) do
    if r.rank > 0 then
      print(string.format("  rank %d (%s, node %d): %d tasks, %.1f MB of arrays received", r.rank,
                          r.host, r.node, r.tasks, r.received / 1e6))
    end
  end
  print("peak PSS per node (every tide process of the node):")
  for _, nd in ipairs(st.nodes) do
    print(string.format("  node %d (%s, %d ranks): %.1f MB = %.2f x data", nd.node, nd.host,
                        nd.ranks, nd.pss_peak / 1e6, nd.pss_peak / data_bytes))
  end
else
  local rep = mon:stop()
  print(string.format("peak PSS (this machine): %.1f MB = %.2f x data", rep.peak_pss / 1e6,
                      rep.peak_pss / data_bytes))
end
