-- gridsearch.lua: the main example.  Friedman #1 data in shared memory,
-- 5-fold grid search over ridge, elastic net and k-NN over the same X, y
-- and folds (fits use `rows =`, so no fold is copied); candidates of a fold
-- share their work (one pass of moments for the linear models, one
-- neighbour search for k-NN: see s:plan()), with a progress bar, the
-- ranked report, the memory profile and two SVG plots.
-- usage: tide examples/gridsearch.lua [rows=1000000] [features=10] [jobs=2] [knn_rows=100000]
--                                     [--no-train-score]   (as GridSearchCV's default)
--                                     [--data DIR]   (DIR/X.npy and DIR/y.npy instead)
--                                     [--no-share]   (every candidate x fold alone)
--                                     [--csv PATH]   (the memory profile's samples)
local no_train, data_dir, share, csv = false, nil, true, nil
for i = #arg, 1, -1 do
  if arg[i] == "--csv" then csv = table.remove(arg, i + 1); table.remove(arg, i) end
  if arg[i] == "--no-train-score" then no_train = true; table.remove(arg, i) end
  if arg[i] == "--no-share" then share = false; table.remove(arg, i) end
  if arg[i] == "--data" then data_dir = table.remove(arg, i + 1); table.remove(arg, i) end
end
local n = tonumber(arg[1]) or 1000000
local p = tonumber(arg[2]) or 10
local jobs = tonumber(arg[3]) or tide.config.jobs
local knn_n = math.min(tonumber(arg[4]) or 100000, n)
assert(p >= 5, "Friedman #1 needs at least 5 features")

local mon = tide.monitor{interval = 0.05}
mon:mark("data")

-- Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise,
-- x uniform on [0, 1]; extra columns are noise.  y is written by parallel
-- tasks straight into a shared array.  (--data: the same kind of data from
-- .npy files, e.g. the peers' own, loaded into shared memory.)
local X, y
if data_dir then
  X, y = tide.load(data_dir .. "/X.npy"), tide.load(data_dir .. "/y.npy")
  n, p = X.shape[1], X.shape[2]
  knn_n = math.min(knn_n, n)
else
  X = tide.rand(n, p, {seed = 0})
  y = tide.zeros(n, {shared = true})
  local blocks = 8
  tide.pfor(blocks, function(b)
    local from, to = (b - 1) * n // blocks + 1, b * n // blocks
    local noise = tide.rng(1, b) -- block b's own stream: same y for any jobs
    for i = from, to do
      local r = X[i]
      y[i] = 10 * math.sin(math.pi * r[1] * r[2]) + 20 * (r[3] - 0.5) ^ 2 + 10 * r[4] + 5 * r[5]
             + noise:normal()
    end
  end, {jobs = jobs})
end
local data_bytes = X.nbytes + y.nbytes
print(string.format("Friedman #1: %d x %d in %s memory (%.0f MB), %d workers", n, p, X.storage,
                    data_bytes / 1e6, jobs))

local folds = tide.cv.kfold(n, 5)
local searches = {
  {name = "ridge", model = tide.models.ridge{},
   grid = {alpha = tide.logspace(-3, 3, 7)}},
  {name = "elastic net", model = tide.models.elasticnet{},
   grid = {alpha = tide.logspace(-3, 0, 4), l1_ratio = {0.1, 0.5, 0.9}}},
  -- k-NN scores only its validation folds (scikit-learn's default): a train
  -- score would predict every training row too, four times the work
  {name = "k-NN", model = tide.models.knn_regressor{}, grid = {k = {5, 10}}, rows = knn_n,
   train_score = false},
}

local t_all = tide.now()
local results = {}
for _, s in ipairs(searches) do
  mon:mark(s.name)
  local Xs, ys, cv = X, y, folds
  if s.rows and s.rows < n then    -- k-NN on the first rows: views, no copies
    Xs, ys = X:slice(1, 1, s.rows), y:slice(1, 1, s.rows)
    cv = tide.cv.kfold(s.rows, 5)
  end
  local t0 = tide.now()
  local res = tide.search{model = s.model, grid = s.grid, X = Xs, y = ys, cv = cv, jobs = jobs,
                          scoring = "r2", train_score = not no_train and s.train_score ~= false,
                          progress = true, share = share}
  local wall = tide.now() - t0
  print(string.format("\n%s: %d candidates x 5 folds in %.2f s%s", s.name, #res.candidates, wall,
                      s.rows and string.format(" (first %d rows)", s.rows) or ""))
  print(res:plan())
  print(res:report(5))
  results[#results + 1] = {name = s.name, search = res, wall = wall}
end
mon:mark("end")
local rep = mon:stop()
print(string.format("\nall searches: %.2f s", tide.now() - t_all))
print(rep:summary())
print(string.format("peak PSS: %.2f x data with %d workers (%.2f x data above the start)",
                    rep.peak_pss / data_bytes, jobs, (rep.peak_pss - rep.baseline_pss) / data_bytes))
rep:plot("gridsearch-memory.svg")
if csv then rep:csv(csv) end
results[2].search:plot("gridsearch-search.svg")
print("plots: gridsearch-memory.svg gridsearch-search.svg")
