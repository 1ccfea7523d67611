-- pipelines.lua: memory of preprocessing without copies.  A
-- pipeline{standard_scaler, ridge} fitted on a fold of 1.6M rows of a
-- 160 MB X, a 3 x 5 search over that pipeline, and a SuperLearner of three
-- scaled linear models on 480 MB: peak PSS above the start / data.
-- usage: tide bench/pipelines.lua [rows=2000000] [sl_rows=6000000] [jobs=2] [out.jsonl]
local n = tonumber(arg[1]) or 2000000
local nsl = tonumber(arg[2]) or 6000000
local jobs = tonumber(arg[3]) or 2
local out = arg[4]
local M = tide.models
local function record(t)
  if not out then return end
  local f = assert(io.open(out, "a"))
  f:write(string.format('{"bench": "pipelines", "what": "%s", "value": %.4f, "unit": "%s"}\n',
                        t.what, t.value, t.unit))
  f:close()
end

local function data(rows, seed)
  local X = tide.rand(rows, 10, {seed = seed})
  local y = (X:col(1) * 3 + X:col(2) * 10 + X:col(5)):copy()
  y:add_(tide.randn(rows, {seed = seed + 1}))
  collectgarbage()
  tide.trim()   -- the temporaries' segments, kept for reuse, are not the data's
  return X, y
end

local X, y = data(n, 1)
local bytes = X.nbytes + y.nbytes
local fold = tide.cv.kfold(n, 5)[1]
collectgarbage()
local mon = tide.monitor{interval = 0.02}
tide.pipeline{M.standard_scaler, M.ridge}:fit(X, y, {rows = fold.train})
local rep = mon:stop()
local plus = (rep.peak_pss - rep.baseline_pss) / 1e6
print(string.format("pipelines fit of pipeline{standard_scaler, ridge} on %d rows of %.0f MB: +%.1f MB",
                    #fold.train, X.nbytes / 1e6, plus))
record{what = "pipeline fit extra MB", value = plus, unit = "MB"}

for _, share in ipairs{true, false} do
  collectgarbage()
  mon = tide.monitor{interval = 0.02}
  local t0 = tide.now()
  local s = tide.search{model = tide.pipeline{M.standard_scaler, M.ridge},
                        grid = {["ridge.alpha"] = {0.1, 1, 10}}, X = X, y = y, cv = 5,
                        jobs = jobs, share = share}
  local wall = tide.now() - t0
  rep = mon:stop()
  print(string.format("pipelines 3 x 5 search over the pipeline (share = %s): %.2f s, peak PSS %.2f x data",
                      tostring(share), wall, rep.peak_pss / bytes))
  record{what = "pipeline search peak / data, share " .. tostring(share), value = rep.peak_pss / bytes,
         unit = "x"}
end
X, y = nil, nil
collectgarbage()

local Xs, ys = data(nsl, 3)
bytes = Xs.nbytes + ys.nbytes
collectgarbage()
mon = tide.monitor{interval = 0.02}
local t0 = tide.now()
local sl = tide.ensemble.superlearner{
  layers = {{tide.pipeline{M.standard_scaler, M.ridge},
             tide.pipeline{M.standard_scaler, M.lasso{alpha = 0.01}},
             tide.pipeline{M.standard_scaler, M.elasticnet{alpha = 0.01}}}},
  meta = M.linear, folds = 2, jobs = jobs}
sl:fit(Xs, ys)
local wall = tide.now() - t0
rep = mon:stop()
print(string.format("pipelines SuperLearner of three scaled linear models on %.0f MB: %.2f s, peak PSS %.2f x data " ..
                    "(out-of-fold matrix %.0f MB)", Xs.nbytes / 1e6, wall, rep.peak_pss / bytes,
                    nsl * 3 * 8 / 1e6))
record{what = "superlearner peak / data", value = rep.peak_pss / bytes, unit = "x"}
