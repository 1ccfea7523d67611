-- bench/fits_forest.lua: random forest regression on Friedman #1, 200,000
-- training rows x 10 and 50,000 held-out rows, 100 trees on 2 workers:
-- fit and predict wall times, held-out R^2, and peak PSS above the start
-- against the data and the trees; the same with max_bins = 256 (histogram
-- candidates).  Compare with bench/fits_forest_sklearn.py.
-- usage: tide bench/fits_forest.lua [train rows=200000] [trees=100] [jobs=2] [out.jsonl]
-- With FOREST_BENCH_DATA=dir, X.npy and y.npy there (the training rows
-- first, then the held-out ones) are used, so both sides fit the same data.
local ntrain = tonumber(arg[1]) or 200000
local ntrees = tonumber(arg[2]) or 100
local jobs = tonumber(arg[3]) or 2
local out = arg[4]
local ntest = ntrain // 4

local X, y
local dir = os.getenv("FOREST_BENCH_DATA")
if dir and io.open(dir .. "/X.npy") then
  X, y = tide.load(dir .. "/X.npy"), tide.load(dir .. "/y.npy")
  ntest = #X - ntrain
else
  local N = ntrain + ntest
  X = tide.rand(N, 10, {seed = 0})
  local e = tide.randn(N, {seed = 1})
  y = tide.zeros(N)
  for i = 1, N do
    local r = X[i]
    y[i] = 10 * math.sin(math.pi * r[1] * r[2]) + 20 * (r[3] - 0.5) ^ 2 + 10 * r[4] + 5 * r[5] + e[i]
  end
end
local train, test = tide.rowset(1, ntrain), tide.rowset(ntrain + 1, ntrain + ntest)
local data = X.nbytes + y.nbytes
collectgarbage()

local function record(what, value, unit, extra)
  if not out then return end
  local f = assert(io.open(out, "a"))
  f:write(string.format('{"bench": "forest", "impl": "tide", "what": "%s", "value": %.6g, ' ..
                        '"unit": "%s"%s}\n', what, value, unit, extra or ""))
  f:close()
end

for _, bins in ipairs{false, 256} do
  local name = bins and "max_bins=256" or "exact"
  local mon = tide.monitor{interval = 0.05}
  local t0 = tide.now()
  local m = tide.models.random_forest_regressor{n_estimators = ntrees, jobs = jobs, seed = 0,
                                                max_bins = bins}
  m:fit(X, y, {rows = train})
  local t1 = tide.now()
  local yhat = m:predict(X, {rows = test})
  local t2 = tide.now()
  local rep = mon:stop()
  local r2 = tide.metrics.r2(y, yhat, {rows = test})
  local trees, nodes = 0, 0
  for _, t in ipairs(m.estimators) do
    trees = trees + t.nodes.nbytes
    nodes = nodes + t.n_nodes
  end
  local above = rep.peak_pss - rep.baseline_pss
  print(string.format("forest   tide    %-12s fit %6.2f s  predict %5.2f s  total %6.2f s  R2 %.4f  " ..
                      "(%d trees, %d x 10, %d workers)", name, t1 - t0, t2 - t1, t2 - t0, r2,
                      ntrees, ntrain, jobs))
  print(string.format("forest   tide    %-12s peak PSS %.0f MB (%.0f MB at the start, with the " ..
                      "data: %.0f MB) = %.2f x data + trees (%.0f MB, %.1f M nodes); above the " ..
                      "start: trees + %.1f MB", name, rep.peak_pss / 1e6, rep.baseline_pss / 1e6,
                      data / 1e6, (rep.peak_pss - trees) / data, trees / 1e6, nodes / 1e6,
                      (above - trees) / 1e6))
  record(name .. " fit+predict", t2 - t0, "s",
         string.format(', "fit": %.4f, "predict": %.4f, "r2": %.6f, "peak_pss": %d, ' ..
                       '"peak_pss_above": %d, "data_bytes": %d, "tree_bytes": %d, "jobs": %d',
                       t1 - t0, t2 - t1, r2, rep.peak_pss, above, data, trees, jobs))
  m, yhat = nil, nil
  collectgarbage()
  collectgarbage()
end
