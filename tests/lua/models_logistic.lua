-- models_logistic.lua: tide.models.logistic against scikit-learn fixtures
-- (binary and multinomial, weights, no intercept), both solvers, `rows =`
-- against a copied fold, labels and dtypes, errors, a fitted model through
-- a parallel loop, and a live comparison when python3 has scikit-learn.
local check = require "check"
local tide = tide or require "tide"
local models = tide.models

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/models/logistic/"
local function fix(case, key) return tide.load(FIX .. case .. "_" .. key .. ".npy") end
local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- max |a - b| / max |b| over arrays (or numbers)
local function rel(a, b)
  if type(b) == "number" then return math.abs(a - b) / math.max(math.abs(b), 1e-300) end
  return (a - b):abs():max() / b:abs():max()
end
local function absdiff(a, b) return (a - b):abs():max() end
local function same(a, b) -- identical labels
  if a.size ~= b.size then return false end
  for i = 1, a.size do if a[i] ~= b[i] then return false end end
  return true
end

local cases = {
  bin = {C = 1.0, fit_intercept = true},
  binw = {C = 0.3, fit_intercept = false, weights = true},
  multi3 = {C = 0.5, fit_intercept = true},
  multi4w = {C = 2.0, fit_intercept = true, weights = true},
}

-- 1. agreement with the scikit-learn references (newton-cg to ~1e-10)
for _, name in ipairs{"bin", "binw", "multi3", "multi4w"} do
  local c = cases[name]
  local X, y = fix(name, "X"), fix(name, "y")
  local w = c.weights and fix(name, "w") or nil
  local coef, icpt = fix(name, "coef"), fix(name, "intercept")
  local binary = fix(name, "classes").size == 2
  local solvers = binary and {"auto", "lbfgs", "newton-cholesky"} or {"auto", "lbfgs"}
  for _, solver in ipairs(solvers) do
    for _, tol in ipairs{1e-8, 1e-4} do
      local what = string.format("%s %s tol=%g", name, solver, tol)
      local m = models.logistic{C = c.C, fit_intercept = c.fit_intercept, solver = solver,
                                tol = tol}
      m:fit(X, y, {weights = w})
      -- tol=1e-8: 1e-5 relative on coef; the default tol: scikit-learn's
      -- own default lbfgs is ~1e-4 off its optimum, ours within 5e-3
      local ct = tol == 1e-8 and 1e-5 or 5e-3
      check.truthy(m.converged, what .. " converged")
      check.truthy(rel(m.coef, coef) <= ct, what .. " coef rel " .. rel(m.coef, coef))
      if binary then
        check.eq(m.coef.ndim, 1, what .. " binary coef is a vector")
        check.eq(math.type(m.intercept) ~= nil, true, what .. " binary intercept is a number")
        check.truthy(math.abs(m.intercept - icpt[1]) <= ct * (1 + math.abs(icpt[1])),
                     what .. " intercept")
        check.truthy(absdiff(m:decision_function(X), fix(name, "decision")) <= ct * 10,
                     what .. " decision")
      else
        check.eq(m.coef.ndim, 2, what .. " multinomial coef is k x p")
        check.truthy(absdiff(m.intercept, icpt) <= ct * (1 + icpt:abs():max()),
                     what .. " intercepts " .. absdiff(m.intercept, icpt))
        check.truthy(absdiff(m:decision_function(X), fix(name, "decision")) <= ct * 10,
                     what .. " decision")
      end
      local P = m:predict_proba(X)
      check.eq(P.shape[2], fix(name, "classes").size, what .. " proba columns")
      check.truthy(absdiff(P, fix(name, "proba")) <= ct, what .. " proba " ..
                   absdiff(P, fix(name, "proba")))
      local pred = m:predict(X)
      check.truthy(same(pred, fix(name, "pred")), what .. " identical predictions")
      check.eq(pred.dtype, y.dtype, what .. " labels keep y's dtype")
      check.truthy(same(m.classes, fix(name, "classes")), what .. " classes")
      check.near(m:score(X, y), tide.metrics.accuracy(y, fix(name, "pred")), 1e-15,
                 what .. " score")
    end
  end
  local m = models.logistic{C = c.C, fit_intercept = c.fit_intercept}:fit(X, y, {weights = w})
  check.eq(m.solver_used, binary and "newton-cholesky" or "lbfgs", name .. " auto solver")
  if not c.fit_intercept then
    check.eq(m.intercept, 0.0, name .. " no intercept")
  end
end

-- 2. rows = idx fits exactly what a copied fold fits (weights included)
do
  local X, y, w = fix("multi4w", "X"), fix("multi4w", "y"), fix("multi4w", "w")
  local idx = tide.zeros(200, "i64")
  for i = 1, 200 do idx[i] = (i * 7) % 360 + 1 end
  for _, solver in ipairs{"lbfgs"} do
    local a = models.logistic{solver = solver, tol = 1e-8}:fit(X, y, {rows = idx, weights = w})
    local b = models.logistic{solver = solver, tol = 1e-8}:fit(X:take(idx), y:take(idx),
                                                              {weights = w:take(idx)})
    check.eq(absdiff(a.coef, b.coef), 0, "rows = fold copy (multinomial)")
    check.eq(absdiff(a.intercept, b.intercept), 0, "rows intercepts")
    check.eq(a.n_iter, b.n_iter, "rows n_iter")
    local pa = a:predict_proba(X, {rows = idx})
    check.eq(pa.shape[1], 200, "predict_proba rows count")
    check.eq(absdiff(pa, b:predict_proba(X:take(idx))), 0, "predict_proba rows")
    check.truthy(same(a:predict(X, {rows = idx}), b:predict(X:take(idx))), "predict rows")
    check.near(a:score(X, y, {rows = idx}), b:score(X:take(idx), y:take(idx)), 1e-15, "score rows")
  end
  X, y = fix("bin", "X"), fix("bin", "y")
  local rows = {}
  for i = 1, 300, 3 do rows[#rows + 1] = i end
  local t = tide.array(rows):astype("i64")
  for _, solver in ipairs{"newton-cholesky", "lbfgs"} do
    local a = models.logistic{solver = solver}:fit(X, y, {rows = rows})
    local b = models.logistic{solver = solver}:fit(X:take(t), y:take(t))
    check.eq(absdiff(a.coef, b.coef), 0, solver .. " rows table = fold copy")
    check.eq(a.intercept, b.intercept, solver .. " rows intercept")
  end
  -- a strided, converted X (f32 column view) goes through the same gathers
  local X32 = X:astype("f32")
  local a = models.logistic{tol = 1e-8}:fit(X32, y)
  local b = models.logistic{tol = 1e-8}:fit(X32:astype("f64"), y)
  check.truthy(absdiff(a.coef, b.coef) <= 1e-12, "f32 X = converted copy")
  -- Fortran-ordered X (a transposed view)
  local XT = X:t():copy():t()
  local c = models.logistic{tol = 1e-8}:fit(XT, y)
  local d = models.logistic{tol = 1e-8}:fit(X, y)
  check.eq(absdiff(c.coef, d.coef), 0, "transposed view X")
end

-- 3. labels: any numbers, sorted; bool and integer dtypes
do
  local X = fix("bin", "X")
  local y = fix("bin", "y")
  local y2 = tide.zeros(y.size)
  -- (whole floats: a fraction would be a continuous target, refused)
  for i = 1, y.size do y2[i] = y[i] == 7 and -2 or 1 end -- order flips
  local a = models.logistic{tol = 1e-8}:fit(X, y)
  local b = models.logistic{tol = 1e-8}:fit(X, y2)
  check.array(b.classes:totable(), {-2, 1}, nil, "float labels sorted")
  check.eq(b.classes.dtype, "f64", "float classes")
  check.truthy(absdiff(a.coef, -b.coef) <= 1e-9, "swapped classes negate coef")
  local pa, pb = a:predict(X), b:predict(X)
  local agree = true
  for i = 1, pa.size do
    if (pa[i] == 7) ~= (pb[i] == -2) then agree = false end
  end
  check.truthy(agree, "relabelled predictions")
  local yb = tide.zeros(y.size, "bool")
  for i = 1, y.size do yb[i] = y[i] == 7 end
  local c = models.logistic{}:fit(X, yb)
  check.eq(c.classes.dtype, "bool", "bool classes")
  check.eq(c:predict(X).dtype, "bool", "bool predictions")
  check.eq(c:predict(X)[1], a:predict(X)[1] == 7, "bool prediction value")
  local y3 = fix("multi3", "y"):astype("i32")
  local d = models.logistic{}:fit(fix("multi3", "X"), y3)
  check.eq(d:predict(fix("multi3", "X")).dtype, "i32", "i32 labels")
  -- y as an n x 1 column
  local e = models.logistic{tol = 1e-8}:fit(X, y:reshape(y.size, 1))
  check.eq(absdiff(e.coef, a.coef), 0, "n x 1 y")
  -- rows = {} of a single class names the class
  check.errors(function() models.logistic{}:fit(X, y, {rows = {1}}) end, "single class")
end

-- 3a. digits 0-9 come back as given: a table of integers or an integer
-- array gives integer predictions and classes of y's dtype; predict_proba's
-- columns follow m.classes (sorted, whatever order the labels came in)
do
  local n = 600
  local X = tide.randn({n, 4}, {seed = 31})
  local B = tide.randn({4, 10}, {seed = 32})
  local Z = tide.matmul(X, B)
  local digits = {}
  for i = 1, n do
    local best = 1
    for c = 2, 10 do if Z:get(i, c) > Z:get(i, best) then best = c end end
    digits[i] = (best * 7) % 10
  end
  for i = 1, 10 do digits[i] = (i * 3) % 10 end -- every digit, first seen as 3, 6, 9, 2, ...
  local ref = models.logistic{}:fit(X, tide.array(digits, "f64"))
  local want = ref:predict(X)
  for _, dt in ipairs{"table", "i64", "i32", "u8"} do
    local y = dt == "table" and digits or tide.array(digits, dt)
    local m = models.logistic{}:fit(X, y)
    local pdt = dt == "table" and "i64" or dt
    local p = m:predict(X)
    check.eq(p.dtype, pdt, dt .. " digits: predictions of y's dtype")
    check.eq(math.type(p[1]), "integer", dt .. " digits: integers back")
    check.eq(m.classes.dtype, pdt, dt .. " digits: classes of y's dtype")
    check.array(m.classes:totable(), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nil, dt .. " classes sorted")
    local ok = true
    for i = 1, n do ok = ok and p[i] == want[i] end
    check.truthy(ok, dt .. " digits: the float fit's labels")
    local P = m:predict_proba(X)
    local cols = true
    for i = 1, n do cols = cols and m.classes[P[i]:argmax()] == p[i] end
    check.truthy(cols, dt .. " digits: the most probable column is the predicted class")
    check.eq(absdiff(P, ref:predict_proba(X)), 0, dt .. " digits: the float fit's probabilities")
    check.near(m:score(X, y), ref:score(X, tide.array(digits, "f64")), 0, dt .. " score")
  end
  check.eq(want.dtype, "f64", "float labels stay float")
  check.eq(math.type(want[1]), "float", "float labels: floats back")
  local got = tide.collect(function()
    return models.logistic{}:fit(X, tide.array(digits, "u8"))
  end, 1, {jobs = 1})[1]
  check.eq(got.classes.dtype, "u8", "classes from a task keep y's dtype")
  check.eq(got:predict(X).dtype, "u8", "a model from a task predicts y's dtype")
  check.eq(math.type(got:predict(X)[1]), "integer", "integers from a model from a task")
end

-- 3b. many classes (smaller row blocks): rows = fold copy, probabilities sum to 1
do
  local n, k = 3000, 150
  local X = tide.randn({n, 3}, {seed = 21})
  local y = tide.zeros(n, "i64")
  for i = 1, n do y[i] = (i * 7919) % k + 1 end
  local idx = tide.zeros(2500, "i64")
  for i = 1, 2500 do idx[i] = (i * 13) % n + 1 end
  local a = models.logistic{max_iter = 15}:fit(X, y, {rows = idx})
  local b = models.logistic{max_iter = 15}:fit(X:take(idx), y:take(idx))
  check.eq(a.coef.shape[1], k, "150 classes: coef rows")
  check.eq(absdiff(a.coef, b.coef), 0, "150 classes: rows = fold copy")
  local P = a:predict_proba(X)
  check.truthy(absdiff(P:sum(2), tide.ones(n)) <= 1e-12, "150 classes: probabilities sum to 1")
  check.truthy(same(a:predict(X, {rows = idx}), b:predict(X:take(idx))), "150 classes: predict")
end

-- 4. errors
do
  local X, y = fix("bin", "X"), fix("bin", "y")
  local ones = tide.full(y.size, 3)
  check.errors(function() models.logistic{}:fit(X, ones) end,
               "logistic: y has a single class (3); need at least 2")
  check.errors(function() models.logistic{C = 0} end, "parameter 'C' must be > 0")
  check.errors(function() models.logistic{C = -1} end, "parameter 'C'")
  check.errors(function() models.logistic{tol = -1} end, "parameter 'tol'")
  check.errors(function() models.logistic{max_iter = 1.5} end, "parameter 'max_iter'")
  check.errors(function() models.logistic{solver = "saga"} end, "parameter 'solver'")
  check.errors(function() models.logistic{alpha = 1} end, "unknown parameter 'alpha'")
  local Xn = X:copy()
  Xn:set(5, 2, 0 / 0)
  check.errors(function() models.logistic{}:fit(Xn, y) end, "X holds NaN or infinity")
  local yi = y:copy()
  yi[3] = math.huge
  check.errors(function() models.logistic{}:fit(X, yi) end,
               "Unknown label type: continuous (y[3] = inf")
  check.errors(function() models.logistic{}:fit(X, y:slice(1, 1, 10)) end, "y has shape 10")
  check.errors(function() models.logistic{}:fit(X, y, {rows = {1, 2, 301}}) end, "outside 1..300")
  check.errors(function() models.logistic{}:fit(X, y, {rows = {0}}) end, "outside 1..300")
  check.errors(function() models.logistic{}:fit(X, y, {weights = tide.zeros(3)}) end,
               "sample weights must be a vector of 300")
  check.errors(function() models.logistic{}:fit(X, y, {weights = tide.full(300, -1)}) end,
               "sample weights must be >= 0")
  check.errors(function() models.logistic{}:fit(X, y, {weights = tide.zeros(300)}) end,
               "sum to 0")
  check.errors(function() models.logistic{}:fit(X, y, {weights = 3}) end,
               "'weights' must be an array")
  check.errors(function() models.logistic{}:fit(X, y, 5) end, "options table expected")
  check.errors(function() models.logistic{}:fit(X:row(1), y) end, "X must be 2-dimensional")
  check.errors(function() models.logistic{}:fit(X, nil) end, "y must be an array")
  check.errors(function() models.logistic{solver = "newton-cholesky"}:fit(fix("multi3", "X"),
                                                                          fix("multi3", "y")) end,
               "handles two classes only")
  local cont = tide.rand(5000, {seed = 3})
  check.errors(function() models.logistic{}:fit(tide.rand({5000, 2}, {seed = 4}), cont) end,
               "Unknown label type: continuous")
  check.errors(function() models.logistic{}:fit(tide.rand({5000, 2}, {seed = 4}),
                                                tide.arange(5000.0)) end, "distinct labels")
  local m = models.logistic{}
  check.errors(function() m:predict(X) end, "predict before fit")
  check.errors(function() m:predict_proba(X) end, "predict_proba before fit")
  check.errors(function() m:decision_function(X) end, "decision_function before fit")
  m:fit(X, y)
  check.errors(function() m:predict(X:slice(2, 1, 3)) end, "X has 3 features")
  check.errors(function() m:predict_proba(X:slice(2, 1, 3)) end, "X has 3 features")
  check.errors(function() m:predict(X, {rows = {400}}) end, "outside 1..300")
  check.errors(function() m:predict(Xn) end, "NaN")
  check.eq(m:predict(X, {rows = {}}).size, 0, "predict on no rows")
  -- max_iter = 0 leaves the zero model, unconverged
  local z = models.logistic{max_iter = 0}:fit(X, y)
  check.eq(z.n_iter, 0, "max_iter 0")
  check.eq(z.converged, false, "max_iter 0 not converged")
  check.eq(z.coef:abs():max(), 0, "max_iter 0 zero coef")
  -- clone is unfitted with the same parameters
  local cl = models.logistic{C = 0.25}:fit(X, y):clone()
  check.eq(cl:is_fitted(), false, "clone unfitted")
  check.eq(cl:params().C, 0.25, "clone params")
end

-- 4b. the auto solver by width: Newton (5-10 passes whatever the scaling)
-- up to 511 features, where L-BFGS needs dozens of iterations (at 250
-- features on Friedman #1, 41: three times Newton's time, and slower than
-- scikit-learn's); L-BFGS beyond.  Both reach the same optimum.
do
  local function data(n, p, scale)
    local X = tide.rand({n, p}, {seed = p}) * scale
    local y = tide.zeros(n, "i64")
    for i = 1, n do
      local v = X:get(i, 1) - X:get(i, 2) + 0.5 * X:get(i, 3) - 0.25 * scale
      y[i] = v + (math.sin(i) * 0.3 * scale) > 0 and 1 or 0
    end
    return X, y
  end
  for _, case in ipairs{{200, 1}, {250, 1000}, {511, 1}} do -- (features, scale of X)
    local p, scale = case[1], case[2]
    local X, y = data(10 * p, p, scale)
    local a = models.logistic{}:fit(X, y)
    check.eq(a.solver_used, "newton-cholesky", p .. " features: auto is Newton")
    check.truthy(a.converged and a.n_iter <= 10, p .. " features: Newton's steps " .. a.n_iter)
    -- the optimum: Newton to tol 1e-12; L-BFGS gets near it too
    local c = models.logistic{solver = "newton-cholesky", tol = 1e-12, max_iter = 100}:fit(X, y)
    check.truthy(rel(a.coef, c.coef) < 1e-4 and math.abs(a.intercept - c.intercept) < 1e-4,
                 p .. " features: at the optimum: " .. rel(a.coef, c.coef))
    local b = models.logistic{solver = "lbfgs", tol = 1e-10, max_iter = 20000}:fit(X, y)
    check.truthy(rel(b.coef, c.coef) < 1e-4, p .. " features: L-BFGS agrees")
  end
  local X, y = data(1200, 512, 1)
  check.eq(models.logistic{max_iter = 5}:fit(X, y).solver_used, "lbfgs", "512 features: L-BFGS")
end

-- 5. separable data with a huge C: finite coefficients, exact predictions
do
  local X = tide.array({{0}, {1}, {2}, {3}, {4}, {5}})
  local y = tide.array({0, 0, 0, 1, 1, 1})
  for _, solver in ipairs{"newton-cholesky", "lbfgs"} do
    local m = models.logistic{C = 1e10, solver = solver, max_iter = 1000}:fit(X, y)
    check.truthy(m.coef[1] == m.coef[1] and math.abs(m.coef[1]) < math.huge,
                 solver .. " separable coef finite")
    check.eq(m:score(X, y), 1.0, solver .. " separable accuracy")
  end
end

-- 5b. C = math.huge: no penalty (overlapping classes keep a finite optimum)
do
  local X, y = fix("bin", "X"), fix("bin", "y")
  local a = models.logistic{C = math.huge, tol = 1e-10}:fit(X, y)
  local b = models.logistic{C = 1e12, tol = 1e-10}:fit(X, y)
  check.truthy(a.converged, "C = inf converged")
  check.truthy(rel(a.coef, b.coef) <= 1e-6, "C = inf is the C -> inf limit")
end

-- 6. a fitted model returned by parallel tasks arrives whole
do
  local X, y = fix("multi3", "X"), fix("multi3", "y")
  local folds = {}
  for f = 1, 2 do
    local idx = {}
    for i = f, 400, 2 do idx[#idx + 1] = i end
    folds[f] = idx
  end
  local fitted = tide.collect(function(f)
    return models.logistic{C = 0.5}:fit(X, y, {rows = folds[f]})
  end, 2, {jobs = 2})
  for f = 1, 2 do
    local local_m = models.logistic{C = 0.5}:fit(X, y, {rows = folds[f]})
    local m = fitted[f]
    check.truthy(m:is_fitted(), "fold " .. f .. " fitted in a worker")
    check.eq(absdiff(m.coef, local_m.coef), 0, "fold " .. f .. " coef from a worker")
    check.eq(absdiff(m.intercept, local_m.intercept), 0, "fold " .. f .. " intercept")
    check.truthy(same(m:predict(X), local_m:predict(X)), "fold " .. f .. " predictions")
    check.truthy(same(m.classes, local_m.classes), "fold " .. f .. " classes")
  end
end

-- 7. live comparison with scikit-learn on fresh data (skipped without it)
local py = "/usr/bin/python3"
if exists(py) and os.execute(py .. " -c 'import sklearn' 2>/dev/null") then
  local base = os.tmpname()
  os.remove(base)
  local n, p, k = 700, 5, 3
  local X = tide.randn({n, p}, {seed = 11})
  local B = tide.randn({p, k}, {seed = 12})
  local Z = tide.matmul(X, B) + tide.randn({n, k}, {seed = 13}) * 1.5
  local y = tide.zeros(n, "i64")
  for i = 1, n do
    local best = 1
    for c = 2, k do if Z:get(i, c) > Z:get(i, best) then best = c end end
    y[i] = best * 10
  end
  local yb = tide.zeros(n, "i64")
  for i = 1, n do yb[i] = y[i] == 10 and 1 or 0 end
  tide.save(base .. "-X.npy", X)
  tide.save(base .. "-y.npy", y)
  tide.save(base .. "-yb.npy", yb)
  local script = string.format([[
import warnings
import numpy as np
from sklearn.linear_model import LogisticRegression
warnings.simplefilter("ignore")
X = np.load("%s-X.npy")
for yname in ("y", "yb"):
    y = np.load("%s-" + yname + ".npy")
    m = LogisticRegression(C=0.7, solver="newton-cg", tol=1e-8, max_iter=1000).fit(X, y)
    np.save("%s-" + yname + "-coef.npy", m.coef_)
    np.save("%s-" + yname + "-icpt.npy", np.atleast_1d(m.intercept_))
    np.save("%s-" + yname + "-proba.npy", m.predict_proba(X))
]], base, base, base, base, base)
  local sf = assert(io.open(base .. "-fit.py", "w"))
  sf:write(script)
  sf:close()
  check.truthy(os.execute(py .. " " .. base .. "-fit.py"), "sklearn live fit ran")
  for _, yname in ipairs{"y", "yb"} do
    local yy = yname == "y" and y or yb
    local m = models.logistic{C = 0.7, tol = 1e-8}:fit(X, yy)
    local coef = tide.load(base .. "-" .. yname .. "-coef.npy")
    if yname == "yb" then coef = coef:reshape(p) end
    check.truthy(rel(m.coef, coef) <= 1e-5, "live " .. yname .. " coef " .. rel(m.coef, coef))
    local P = tide.load(base .. "-" .. yname .. "-proba.npy")
    check.truthy(absdiff(m:predict_proba(X), P) <= 1e-6, "live " .. yname .. " proba")
    local icpt = tide.load(base .. "-" .. yname .. "-icpt.npy")
    local mi = yname == "yb" and tide.array({m.intercept}) or m.intercept
    check.truthy(absdiff(mi, icpt) <= 1e-5, "live " .. yname .. " intercept")
    for _, suffix in ipairs{"-coef.npy", "-icpt.npy", "-proba.npy"} do
      os.remove(base .. "-" .. yname .. suffix)
    end
  end
  for _, suffix in ipairs{"-X.npy", "-y.npy", "-yb.npy", "-fit.py"} do
    os.remove(base .. suffix)
  end
else
  print("live comparison skipped: no scikit-learn at " .. py)
end

check.done()
