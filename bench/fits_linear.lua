-- fits_linear.lua: fit times of tide.models.linear / ridge / lasso /
-- elasticnet on Friedman #1 data (800,000 training rows x 10 and x 50
-- features, uniform x, y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5
-- + N(0, 1); the extra columns are noise), with the R^2 on 200,000 held-out
-- rows.  Best of 3 fits.  Run with OPENBLAS_NUM_THREADS=1 beside
-- fits_linear_sklearn.py.  The "rows=" lines fit the same training rows
-- picked out of one 1,000,000-row X by a shuffled index (a CV fold).
-- With TIDE_FITS_DATA=<dir> set, the data is also saved there as
-- friedman_x<p>_{X,y}.npy so fits_linear_sklearn.py fits the very same rows.
-- usage: OPENBLAS_NUM_THREADS=1 tide bench/fits_linear.lua [json-out]
local out = arg and arg[1]
local f = out and io.open(out, "a")
local NTRAIN, NTEST = 800000, 200000

local function record(name, secs, r2)
  print(string.format("fits     tide  %-18s %7.3f s  R2 %.4f", name, secs, r2))
  if f then
    f:write(string.format('{"bench":"fits","impl":"tide","what":"%s","value":%.6g,"unit":"s",'
                          .. '"r2":%.6g}\n', name, secs, r2))
  end
end

local function friedman(n, p, seed)
  local X = tide.rand(n, p, {seed = seed})
  local e = tide.randn(n, {seed = seed + 1000}):totable()
  local c = {}
  for j = 1, 5 do c[j] = X:col(j):totable() end
  local y, sin, pi = {}, math.sin, math.pi
  for i = 1, n do
    y[i] = 10 * sin(pi * c[1][i] * c[2][i]) + 20 * (c[3][i] - 0.5) ^ 2 + 10 * c[4][i]
           + 5 * c[5][i] + e[i]
  end
  return X, tide.array(y, "f64")
end

local M = tide.models
local MODELS = {
  {"linear", function() return M.linear() end},
  {"ridge", function() return M.ridge{alpha = 1} end},
  {"lasso", function() return M.lasso{alpha = 0.01} end},
  {"enet", function() return M.elasticnet{alpha = 0.01, l1_ratio = 0.5} end},
}

local function best_fit(mk, X, y, opts)
  local best, m = math.huge
  for _ = 1, 3 do
    m = mk()
    local t0 = tide.now()
    m:fit(X, y, opts)
    best = math.min(best, tide.now() - t0)
  end
  return best, m
end

for _, p in ipairs{10, 50} do
  local X, y = friedman(NTRAIN + NTEST, p, 7 + p)
  local share = os.getenv("TIDE_FITS_DATA")
  if share then
    tide.save(string.format("%s/friedman_x%d_X.npy", share, p), X)
    tide.save(string.format("%s/friedman_x%d_y.npy", share, p), y)
  end
  local train, test = tide.arange(1, NTRAIN + 1), tide.arange(NTRAIN + 1, NTRAIN + NTEST + 1)
  local Xtr, ytr = X:take(train), y:take(train)
  local Xte, yte = X:take(test), y:take(test)
  for _, mm in ipairs(MODELS) do
    local secs, m = best_fit(mm[2], Xtr, ytr)
    record(string.format("%s x%d", mm[1], p), secs, m:score(Xte, yte))
  end
  -- the same fits on a shuffled fold of one big X (rows =, no copy)
  local perm = tide.rng(p):permutation(NTRAIN + NTEST)
  local ftrain, ftest = perm:take(train), perm:take(test)
  for _, mm in ipairs(MODELS) do
    local secs, m = best_fit(mm[2], X, y, {rows = ftrain})
    record(string.format("%s x%d rows=", mm[1], p), secs, m:score(X, y, {rows = ftest}))
  end
  X, y, Xtr, ytr, Xte, yte = nil
  collectgarbage()
end
if f then f:close() end
