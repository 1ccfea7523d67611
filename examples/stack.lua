-- stack.lua: ML-Ensemble's memory benchmark.  A SuperLearner with lasso and
-- elastic net in the first layer and a k-NN meta learner, on Friedman #1
-- data with 40 noise columns (1,000,000 x 50, 400 MB) in shared memory.
-- The base learners are fitted on 2 folds in parallel over the one shared
-- copy of X; prints fit time, held-out R^2 and peak PSS over the data size.
-- usage: tide examples/stack.lua [rows=1000000] [features=50] [jobs=2]
local n = tonumber(arg[1]) or 1000000
local p = tonumber(arg[2]) or 50
local jobs = tonumber(arg[3]) or tide.config.jobs
local ntest = 10000
local N = n + ntest

local X = tide.rand(N, p, {seed = 0})
local noise = tide.randn(N, {seed = 1})
local y = tide.zeros(N, {shared = true})
tide.pfor(8, function(b)
  for i = (b - 1) * N // 8 + 1, b * N // 8 do
    local r = X[i]
    y[i] = 10 * math.sin(math.pi * r[1] * r[2]) + 20 * (r[3] - 0.5) ^ 2 + 10 * r[4] + 5 * r[5] + noise[i]
  end
end, {jobs = jobs})
noise:close()
local train, test = tide.rowset(1, n), tide.rowset(n + 1, N)   -- ranges: no index arrays
local data_bytes = X.nbytes + y.nbytes
print(string.format("Friedman #1 with %d noise columns: %d x %d (%.0f MB) in %s memory, %d workers",
                    p - 10, N, p, data_bytes / 1e6, X.storage, jobs))

local models = tide.models
local mon = tide.monitor{interval = 0.05}
local t0 = tide.now()
local sl = tide.ensemble.superlearner{
  layers = {{models.lasso{alpha = 0.01}, models.elasticnet{alpha = 0.01, l1_ratio = 0.5}}},
  meta = models.knn_regressor{k = 5},
  folds = 2, jobs = jobs,
}
sl:fit(X, y, {rows = train})
local fit = tide.now() - t0
mon:mark("fitted")
local r2 = sl:score(X, y, {rows = test})
local rep = mon:stop()
print(string.format("stack: fit %.2f s, held-out R2 %.4f (%d rows), predict %.2f s", fit, r2, ntest,
                    tide.now() - t0 - fit))
print(string.format("stack: peak PSS %.0f MB = %.2f x data (%.2f x data above the start)",
                    rep.peak_pss / 1e6, rep.peak_pss / data_bytes,
                    (rep.peak_pss - rep.baseline_pss) / data_bytes))
for _, m in ipairs{models.lasso{alpha = 0.01}, models.elasticnet{alpha = 0.01, l1_ratio = 0.5}} do
  local t1 = tide.now()
  m:fit(X, y, {rows = train})
  print(string.format("alone: %-40s fit %.2f s, held-out R2 %.4f", tostring(m), tide.now() - t1,
                      m:score(X, y, {rows = test})))
end
