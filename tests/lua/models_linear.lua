-- models_linear.lua: tide.models.linear / ridge / lasso / elasticnet against
-- scikit-learn fixtures (make_models_linear.py) and, when /usr/bin/python3
-- has scikit-learn, a live comparison on fresh data; rows= fits equal fits
-- on X:take(idx); weights, warm starts, solvers, errors, a fitted model
-- returned from a parallel task, and the non-convergence message.
local check = require "check"
local tide = tide or require "tide"
local M = tide.models

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/models/linear/"
local SEED = 4242
print("seed " .. SEED)

-- max over entries of |a - b| / (1 + |b|)
local function maxrel(a, b)
  if a.size ~= b.size then return math.huge end
  local worst = 0
  for i = 1, a.size do
    local d = math.abs(a[i] - b[i]) / (1 + math.abs(b[i]))
    if d ~= d then return math.huge end
    if d > worst then worst = d end
  end
  return worst
end

local function close(a, b, tol, what)
  local d = maxrel(a, b)
  return check.truthy(d <= tol, string.format("%s: max rel diff %.3g > %.3g", what, d, tol))
end

-- The cases of make_models_linear.py: {case, constructor, params, on, tol}.
-- tol: 1e-6 for closed form; the tight CD fits (tol 1e-12 both sides) to
-- 1e-7; default-tol CD fits to 1e-4 plus the same iteration count.
local TIGHT = {tol = 1e-12, max_iter = 100000}
local function with(t, extra)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end
local CASES = {
  tall = {
    {"ols", M.linear, {}, "all", 1e-6},
    {"ols_noint", M.linear, {fit_intercept = false}, "all", 1e-6},
    {"ols_w", M.linear, {}, "weights", 1e-6},
    {"ols_rows", M.linear, {}, "rows", 1e-6},
    {"ridge", M.ridge, {alpha = 1.0}, "all", 1e-6},
    {"ridge_w", M.ridge, {alpha = 3.0}, "weights", 1e-6},
    {"ridge_noint", M.ridge, {alpha = 0.01, fit_intercept = false}, "all", 1e-6},
    {"lasso", M.lasso, {alpha = 0.1}, "all", 1e-4, true},
    {"lasso_tight", M.lasso, with(TIGHT, {alpha = 0.1}), "all", 1e-7},
    {"lasso_pos", M.lasso, with(TIGHT, {alpha = 0.05, positive = true}), "all", 1e-7},
    {"lasso_w", M.lasso, with(TIGHT, {alpha = 0.1}), "weights", 1e-7},
    {"enet", M.elasticnet, {alpha = 0.05, l1_ratio = 0.3}, "all", 1e-4, true},
    {"enet_tight", M.elasticnet, with(TIGHT, {alpha = 0.05, l1_ratio = 0.3}), "all", 1e-7},
    {"enet_noint", M.elasticnet, with(TIGHT, {alpha = 0.2, fit_intercept = false}), "all", 1e-7},
    {"enet_rows", M.elasticnet, with(TIGHT, {alpha = 0.02, l1_ratio = 0.8}), "rows", 1e-7},
  },
  rankdef = {
    {"ols", M.linear, {}, "all", 1e-6},
    {"ols_w", M.linear, {}, "weights", 1e-6},
    {"ridge", M.ridge, {alpha = 0.5}, "all", 1e-6},
    {"lasso_tight", M.lasso, with(TIGHT, {alpha = 0.05}), "all", 1e-6},
  },
  wide = {
    {"ols", M.linear, {}, "all", 1e-6},
    {"ridge", M.ridge, {alpha = 1.0}, "all", 1e-6},
    {"ridge_w", M.ridge, {alpha = 0.5}, "weights", 1e-6},
    {"lasso_tight", M.lasso, with(TIGHT, {alpha = 0.1}), "all", 1e-7},
    {"enet", M.elasticnet, {alpha = 0.1, l1_ratio = 0.5}, "all", 1e-4, true},
  },
}

local data = {}
for _, set in ipairs{"tall", "rankdef", "wide"} do
  local z = tide.load(FIX .. set .. ".npz")
  data[set] = z
  for _, c in ipairs(CASES[set]) do
    local name, ctor, params, on, tol, same_iter = table.unpack(c)
    local what = set .. "/" .. name
    local cd = ctor == M.lasso or ctor == M.elasticnet
    for _, pre in ipairs(cd and {"auto", true, false} or {"-"}) do
      local m = ctor(params)
      if cd then m:set{precompute = pre} end
      local opts = {}
      if on == "rows" then opts.rows = z.idx end
      if on == "weights" then opts.sample_weight = z.w end
      m:fit(z.X, z.y, opts)
      local tag = what .. (cd and " precompute=" .. tostring(pre) or "")
      close(m.coef, z[name .. "_coef"], tol, tag .. " coef")
      check.near(m.intercept, z[name .. "_meta"][1], tol, tag .. " intercept")
      close(m:predict(z.X), z[name .. "_pred"], tol, tag .. " predictions")
      if same_iter then
        check.eq(m.n_iter, math.tointeger(z[name .. "_meta"][2]), tag .. " n_iter as sklearn")
      end
    end
  end
end

-- solvers: Cholesky on tall data, SVD fallback on rank-deficient, dual on wide ridge
check.eq(M.linear():fit(data.tall.X, data.tall.y).solver, "cholesky", "tall solver")
check.eq(M.linear():fit(data.rankdef.X, data.rankdef.y).solver, "lstsq", "rank-deficient solver")
check.eq(M.linear():fit(data.wide.X, data.wide.y).solver, "lstsq", "wide OLS solver")
check.eq(M.ridge():fit(data.wide.X, data.wide.y).solver, "dual", "wide ridge solver")
check.eq(M.ridge():fit(data.rankdef.X, data.rankdef.y).solver, "cholesky", "ridge keeps Cholesky")

-- ------------------------------------------------------------- rows =
local X = tide.rand(3000, 7, {seed = SEED})
local noise = tide.randn(3000, {seed = SEED + 1})
local beta = tide.array({2, -1, 0, 0, 0.5, 3, 0}, "f64")
local y = tide._internal.models.linear_predict(X, beta, 0.7) + noise * 0.3
local perm = tide.rng(SEED):permutation(3000)
local train = tide.array((function()
  local t = {}
  for i = 1, 2000 do t[i] = perm[i] end
  return t
end)(), "i64")
local test = tide.array((function()
  local t = {}
  for i = 2001, 3000 do t[#t + 1] = perm[i] end
  return t
end)(), "i64")
local Xs, ys = X:take(train), y:take(train)
for _, mk in ipairs{
  function() return M.linear() end,
  function() return M.ridge{alpha = 2} end,
  function() return M.lasso{alpha = 0.01, tol = 1e-10} end,
  function() return M.lasso{alpha = 0.01, tol = 1e-10, precompute = false} end,
  function() return M.elasticnet{alpha = 0.01, tol = 1e-10} end,
} do
  local a = mk():fit(X, y, {rows = train})
  local b = mk():fit(Xs, ys)
  local what = tostring(a) .. " rows="
  close(a.coef, b.coef, 1e-10, what .. " coef")
  check.near(a.intercept, b.intercept, 1e-10, what .. " intercept")
  close(a:predict(X, {rows = test}), b:predict(X:take(test)), 1e-10, what .. " predict rows")
  check.near(a:score(X, y, {rows = test}), b:score(X:take(test), y:take(test)), 1e-10,
             what .. " score rows")
  check.eq(a:predict(X, {rows = test}).size, 1000, what .. " predicts the rows only")
end
-- rows as a Lua table, and with weights
local tbl = {}
for i = 1, 50 do tbl[i] = i * 3 end
local wv = tide.rand(3000, {seed = SEED + 2}) + 0.5
local a = M.ridge{alpha = 0.3}:fit(X, y, {rows = tbl, sample_weight = wv})
local b = M.ridge{alpha = 0.3}:fit(X:take(tbl), y:take(tbl), {sample_weight = wv:take(tbl)})
close(a.coef, b.coef, 1e-10, "rows table + weights")

-- weights: integer weights equal repeated rows
local rep, wint = {}, {}
for i = 1, 40 do
  wint[i] = (i % 3) + 1
  for _ = 1, wint[i] do rep[#rep + 1] = i end
end
local X40, y40 = X:take(tide.arange(1, 41)), y:take(tide.arange(1, 41))
for _, mk in ipairs{M.linear, M.ridge, M.lasso, M.elasticnet} do
  local p = (mk == M.lasso or mk == M.elasticnet) and {alpha = 0.01, tol = 1e-12} or {}
  local a1 = mk(p):fit(X40, y40, {sample_weight = tide.array(wint, "f64")})
  local b1 = mk(p):fit(X:take(rep), y:take(rep))
  close(a1.coef, b1.coef, 1e-7, tostring(a1) .. " weights = repeats")
end

-- dtypes and layouts: f32 and a transposed (column-major) view fit alike
local XF = X:t():copy():t()
close(M.ridge():fit(XF, y).coef, M.ridge():fit(X, y).coef, 1e-12, "column-major X")
close(M.lasso{alpha = 0.01, precompute = false}:fit(XF, y).coef,
      M.lasso{alpha = 0.01, precompute = false}:fit(X, y).coef, 1e-12, "column-major X naive")
local X32 = X:astype("f32")
close(M.linear():fit(X32, y).coef, M.linear():fit(X32:astype("f64"), y).coef, 1e-12, "f32 X")

-- ------------------------------------------------------ warm starts
local cold = M.lasso{alpha = 0.005, tol = 1e-8}:fit(X, y)
local warm = M.lasso{alpha = 0.005, tol = 1e-8, warm_start = true}
warm:fit(X, y)
local first = warm.n_iter
warm:fit(X, y)
check.truthy(warm.n_iter < first and warm.n_iter <= 2, "param warm start: " .. warm.n_iter)
local w2 = M.elasticnet{alpha = 0.005, tol = 1e-8}:fit(X, y)
local n1 = w2.n_iter
w2:fit(X, y, {warm_start = true})
check.truthy(w2.n_iter < n1, "opts warm start: " .. w2.n_iter .. " vs " .. n1)
w2:fit(X, y)
check.eq(w2.n_iter, n1, "no warm start: cold again")
close(warm.coef, cold.coef, 1e-5, "warm answer")
-- a warm start from coefficients of another width is ignored (fresh fit)
local wide_warm = M.lasso{alpha = 0.01, warm_start = true}:fit(X, y)
wide_warm:fit(X:take({1, 2, 3}, 2), y)
check.eq(wide_warm.coef.size, 3, "warm start of another width")
close(wide_warm.coef, M.lasso{alpha = 0.01}:fit(X:take({1, 2, 3}, 2), y).coef, 0, "fresh fit")

-- lasso = elasticnet with l1_ratio 1; alpha large gives all zeros at once
close(M.lasso{alpha = 0.02}:fit(X, y).coef,
      M.elasticnet{alpha = 0.02, l1_ratio = 1}:fit(X, y).coef, 1e-14, "lasso is l1_ratio 1")
local z0 = M.lasso{alpha = 100}:fit(X, y)
check.eq(z0.n_iter, 1, "all-zero solution in one epoch")
check.eq(z0.coef:abs():sum(), 0, "all-zero coef")
check.near(z0.intercept, y:mean(), 1e-12, "intercept is the mean")
-- random selection converges to the same answer
close(M.lasso{alpha = 0.01, tol = 1e-10, selection = "random", random_state = 3}:fit(X, y).coef,
      M.lasso{alpha = 0.01, tol = 1e-10}:fit(X, y).coef, 1e-6, "random selection")

-- -------------------------------------------------------------- errors
local function E(fn, pat, what) check.errors(fn, pat, what) end
E(function() M.ridge{alpha = -1} end, "alpha' must be >= 0", "negative alpha")
E(function() M.lasso{alpha = -0.5} end, "must be >= 0", "negative lasso alpha")
E(function() M.elasticnet{l1_ratio = 1.5} end, "l1_ratio' must be <= 1", "l1_ratio")
E(function() M.lasso{max_iter = 0} end, "max_iter' must be >= 1", "max_iter")
E(function() M.lasso{selection = "best"} end, "selection' must be one of", "selection")
E(function() M.lasso{precompute = "yes"} end, "precompute", "precompute")
E(function() M.ridge{alpah = 1} end, "unknown parameter 'alpah'", "typo")
E(function() M.ridge():predict(X) end, "predict before fit", "predict before fit")
E(function() M.lasso():score(X, y) end, "before fit", "score before fit")
E(function() M.ridge():fit(X, y:take(tide.arange(1, 11))) end, "y has shape", "y length")
E(function() M.linear():fit(y, y) end, "X must be 2-dimensional", "1-D X")
E(function() M.ridge():fit(X, "y") end, "y must be an array", "y type")
local Xn = X:copy()
Xn:set(5, 2, 0 / 0)
E(function() M.linear():fit(Xn, y) end, "X holds NaN or infinity", "NaN in X")
E(function() M.lasso():fit(Xn, y) end, "X holds NaN or infinity", "NaN in X lasso")
check.truthy(pcall(function() M.ridge():fit(Xn, y, {rows = {1, 2, 3, 4, 6, 7, 8, 9}}) end),
             "NaN outside the rows is fine")
E(function() M.ridge():fit(Xn, y, {rows = {1, 2, 5}}) end, "X holds NaN", "NaN inside the rows")
E(function() M.lasso():fit(Xn:astype("f32"), y, {rows = {5}}) end, "X holds NaN", "NaN f32 rows")
local Xinf = X:copy()
Xinf:set(7, 7, -math.huge)
E(function() M.linear():fit(Xinf, y, {rows = {7, 8}}) end, "X holds NaN", "-Inf inside the rows")
local yn = y:copy()
yn[3] = math.huge
E(function() M.elasticnet():fit(X, yn) end, "y holds NaN or infinity", "Inf in y")
E(function() M.ridge():fit(X, y, {rows = {1, 3001}}) end, "outside 1..3000", "rows range")
E(function() M.lasso():fit(X, y, {rows = {0}}) end, "outside 1..3000", "rows 0")
E(function() M.ridge():fit(X, y, {rows = {}}) end, "no rows", "empty rows")
E(function() M.ridge():predict(X, {rows = {5000}}) end, "before fit", "order of checks")
local fitted = M.ridge():fit(X, y)
E(function() fitted:predict(X, {rows = {5000}}) end, "outside 1..3000", "predict rows range")
E(function() fitted:predict(tide.rand(5, 3, {seed = 1})) end, "X has 3 features", "features")
E(function() M.ridge():fit(X, y, {sample_weight = tide.ones(5)}) end, "sample weights must be",
  "weights length")
E(function() M.ridge():fit(X, y, {sample_weight = -wv}) end, "must be >= 0", "negative weights")
E(function() M.ridge():fit(X, y, {sample_weight = {1, 2}}) end, "must be an array", "weight type")
E(function() M.lasso():fit(X, y, {sample_weight = wv * 0}) end, "no weight", "zero weights")
E(function() M.ridge():fit(X, y, {weights = wv}) end, "unknown option 'weights' for ridge:fit (options: rows, sample_weight)", "opt typo")
-- errors point at the caller's line and name the model once
E(function() M.ridge{alpha = 0}:fit(X, y:take({1, 2})) end, "models_linear.lua:", "position")
E(function() M.ridge{alpha = 0}:fit(X, y:take({1, 2})) end, ": ridge: y has shape", "named once")
E(function() M.lasso():fit(X, y, {weights = wv}) end, "models_linear.lua:", "position of opts")
-- a constant y converges at once with zero coefficients (gap = tol = 0)
local cy = M.lasso{alpha = 0.1}:fit(X, tide.ones(3000))
check.eq(cy.n_iter, 1, "constant y: one epoch")
check.truthy(cy.converged and cy.coef:abs():sum() == 0, "constant y: converged at zero")
check.near(cy.intercept, 1, 1e-14, "constant y: intercept")

-- ------------------------------------------- non-convergence message
local bin = os.getenv("TIDE_BIN")
if bin then
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local X = tide.rand(200, 30, {seed = 1})
local y = tide.rand(200, {seed = 2})
local m = tide.models.lasso{alpha = 1e-6, max_iter = 2, tol = 1e-12}:fit(X, y)
print("n_iter", m.n_iter, m.converged)
]])
  f:close()
  local p = io.popen(bin .. " " .. script .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(script)
  check.truthy(out:find("tide: lasso did not converge after 2 iterations (duality gap", 1, true),
               "warning text: " .. out)
  check.truthy(out:find("n_iter\t2\tfalse", 1, true), "n_iter and converged: " .. out)
end

-- ------------------------------ a fitted model from a parallel task
local got = tide.collect(function(i)
  local mk = ({M.linear, M.ridge, M.lasso, M.elasticnet})[i]
  return mk():fit(X, y, {rows = train})
end, 4, {jobs = 2})
for i, mk in ipairs{M.linear, M.ridge, M.lasso, M.elasticnet} do
  local here = mk():fit(X, y, {rows = train})
  local m = got[i]
  check.truthy(m:is_fitted(), "fitted after transfer " .. i)
  close(m.coef, here.coef, 0, tostring(m) .. " coef after transfer")
  check.eq(m.intercept, here.intercept, tostring(m) .. " intercept after transfer")
  check.eq(m.n_iter, here.n_iter, tostring(m) .. " n_iter after transfer")
  close(m:predict(X, {rows = test}), here:predict(X, {rows = test}), 0, "predict after transfer")
  check.eq(tostring(m:clone()), tostring(mk()), "clone is unfitted")
end

-- ---------------------------------- live comparison with scikit-learn
local function have_sklearn()
  local p = io.popen("/usr/bin/python3 -c 'import sklearn' 2>/dev/null && echo yes")
  local r = p and p:read("a") or ""
  if p then p:close() end
  return r:find("yes") ~= nil
end
if have_sklearn() then
  local base = os.tmpname()
  local Xl = tide.randn(500, 12, {seed = SEED + 7}) * 2 + 1
  local yl = tide._internal.models.linear_predict(Xl, tide.array({1, 0, 0, -2, 0, 0.3, 0, 0, 4, 0, 0, -1}, "f64"), 3)
      + tide.randn(500, {seed = SEED + 8})
  local wl = tide.rand(500, {seed = SEED + 9}) + 0.1
  tide.save(base .. "-X.npy", Xl)
  tide.save(base .. "-y.npy", yl)
  tide.save(base .. "-w.npy", wl)
  local py = [==[
import sys, numpy as np
from sklearn.linear_model import LinearRegression, Ridge, Lasso, ElasticNet
b = sys.argv[1]
X, y, w = np.load(b + "-X.npy"), np.load(b + "-y.npy"), np.load(b + "-w.npy")
out = {}
for name, m, sw in [("ols", LinearRegression(), None), ("ridge", Ridge(alpha=5.0), w),
                    ("lasso", Lasso(alpha=0.05, tol=1e-12, max_iter=100000), None),
                    ("enet", ElasticNet(alpha=0.1, l1_ratio=0.7, tol=1e-12, max_iter=100000), w),
                    ("lasso_def", Lasso(alpha=0.2), None)]:
    m.fit(X, y, sample_weight=sw)
    out[name] = np.concatenate([m.coef_, [m.intercept_, getattr(m, "n_iter_", 0) or 0,
                                          getattr(m, "dual_gap_", 0)]])
np.savez(b + "-out.npz", **out)
]==]
  local ok = os.execute("/usr/bin/python3 -c '" .. py .. "' " .. base)
  check.truthy(ok, "python ran")
  local z = tide.load(base .. "-out.npz")
  local live = {
    {"ols", M.linear(), nil, 1e-6}, {"ridge", M.ridge{alpha = 5}, wl, 1e-6},
    {"lasso", M.lasso{alpha = 0.05, tol = 1e-12, max_iter = 100000}, nil, 1e-7},
    {"enet", M.elasticnet{alpha = 0.1, l1_ratio = 0.7, tol = 1e-12, max_iter = 100000}, wl, 1e-7},
    {"lasso_def", M.lasso{alpha = 0.2}, nil, 1e-4},
  }
  for _, c in ipairs(live) do
    local name, m, w, tol = table.unpack(c)
    m:fit(Xl, yl, {sample_weight = w})
    local ref = z[name]
    local coef = ref:take(tide.arange(1, 13))
    close(m.coef, coef, tol, "live " .. name .. " coef")
    check.near(m.intercept, ref[13], tol, "live " .. name .. " intercept")
    if name == "lasso_def" then
      check.eq(m.n_iter, math.tointeger(ref[14]), "live n_iter")
      check.near(m.dual_gap, ref[15], 1e-6, "live dual_gap")
    end
  end
  for _, s in ipairs{"-X.npy", "-y.npy", "-w.npy", "-out.npz", ""} do os.remove(base .. s) end
else
  print("live scikit-learn comparison skipped (no /usr/bin/python3 with sklearn)")
end

check.done()
