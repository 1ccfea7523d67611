-- bench/fits_knn.lua: k-NN regression (k = 5) of 10,000 Friedman #1
-- queries against 100,000 training rows x 10 and x 50, with the held-out
-- R^2 beside the time; compare with bench/fits_knn_sklearn.py.  Run with
-- one BLAS thread on both sides: OPENBLAS_NUM_THREADS=1 tide bench/fits_knn.lua
-- With KNN_BENCH_DATA=dir the data are saved there (X10.npy, y10.npy, ...)
-- and the scikit-learn script reads the same data, so the R^2 compare.
local NTRAIN, NTEST, K = 100000, 10000, 5

local function friedman1(n, p, seed)
  local X = tide.rand({n, p}, {seed = seed})
  local e = tide.randn(n, {seed = seed + 1})
  local y = tide.zeros(n)
  for i = 1, n do
    local x1, x2, x3 = X:get(i, 1), X:get(i, 2), X:get(i, 3)
    y[i] = 10 * math.sin(math.pi * x1 * x2) + 20 * (x3 - 0.5) ^ 2 + 10 * X:get(i, 4)
           + 5 * X:get(i, 5) + e[i]
  end
  return X, y
end

local out = arg and arg[1]
local save = os.getenv("KNN_BENCH_DATA")
for _, p in ipairs{10, 50} do
  local X, y = friedman1(NTRAIN + NTEST, p, 42)
  if save then
    tide.save(save .. "/X" .. p .. ".npy", X)
    tide.save(save .. "/y" .. p .. ".npy", y)
  end
  local train, test = tide.arange(1, NTRAIN + 1), tide.arange(NTRAIN + 1, NTRAIN + NTEST + 1)
  local m = tide.models.knn_regressor{k = K}:fit(X, y, {rows = train})
  local best, r2 = math.huge
  for _ = 1, 2 do
    local t0 = tide.now()
    local yhat = m:predict(X, {rows = test})
    local dt = (tide.now()) - t0
    if dt < best then best = dt end
    r2 = tide.metrics.r2(y, yhat, {rows = test})
  end
  local name = "knn x" .. p
  print(string.format("fits     tide    %-15s %7.3f s  R2 %.4f", name, best, r2))
  if out then
    local f = assert(io.open(out, "a"))
    f:write(string.format('{"bench": "fits", "impl": "tide", "what": "%s", "value": %.6g, ' ..
                          '"unit": "s", "r2": %.6f}\n', name, best, r2))
    f:close()
  end
end
