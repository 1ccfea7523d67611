-- models_knn.lua: knn_regressor / knn_classifier against scikit-learn
-- fixtures (tests/fixtures/make_models_knn.py), ties, rows =, bad input,
-- models returned from parallel tasks, and a live comparison when
-- /usr/bin/python3 has scikit-learn.
local check = require "check"
local M = tide.models
local FIX = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES not set") .. "/models/knn/"
local function L(name) return tide.load(FIX .. name .. ".npy") end

local function maxrel(a, b)
  local worst = 0
  local fa, fb = a:reshape(a.size), b:reshape(b.size)
  for i = 1, fa.size do
    local d = math.abs(fa[i] - fb[i]) / (1 + math.abs(fb[i]))
    if d > worst then worst = d end
  end
  return worst
end
local function same(a, b)
  if a.size ~= b.size then return false end
  local fa, fb = a:reshape(a.size), b:reshape(b.size)
  for i = 1, fa.size do if fa[i] ~= fb[i] then return false end end
  return true
end

local X, y, yc, Q = L"X", L"y", L"yc", L"Q"

-- neighbours: identical indices, distances to 1e-12
for _, k in ipairs{1, 5, 12} do
  local m = M.knn_regressor{k = k}:fit(X, y)
  local d, i = m:kneighbors(Q)
  check.eq(i.dtype, "i64", "indices dtype")
  check.truthy(same(i, L("ind" .. k)), "neighbour indices k=" .. k)
  check.truthy(maxrel(d, L("dist" .. k)) < 1e-12, "distances k=" .. k)
  check.eq(d:get(1, 1), 0.0, "a duplicate of a training row is at distance 0")
end

-- regression, both weightings
for _, w in ipairs{"uniform", "distance"} do
  local m = M.knn_regressor{weights = w}:fit(X, y)
  check.truthy(maxrel(m:predict(Q), L("reg_" .. w)) < 1e-12, "regression " .. w)
end
-- distance weights with a zero distance: only that neighbour counts
local md = M.knn_regressor{weights = "distance"}:fit(X, y)
check.near(md:predict(Q)[1], y[11], 1e-15, "zero-distance rule")

-- classification: labels, probabilities, vote ties (k = 4) to the lowest label
for _, k in ipairs{4, 5} do
  for _, w in ipairs{"uniform", "distance"} do
    local c = M.knn_classifier{k = k, weights = w}:fit(X, yc)
    check.truthy(same(c:predict(Q), L(("cls%d_%s"):format(k, w))), ("labels k=%d %s"):format(k, w))
    check.truthy(maxrel(c:predict_proba(Q), L(("proba%d_%s"):format(k, w))) < 1e-12,
                 ("proba k=%d %s"):format(k, w))
  end
end
local c = M.knn_classifier{}:fit(X, yc)
check.array(c.classes, {-1, 2, 7}, nil, "classes")
check.near(c:score(Q, c:predict(Q)), 1.0, 0, "score on its own predictions")

-- labels come back as given: integer y (any integer dtype, or a table of
-- integers) gives integer predictions and classes of y's dtype; float y
-- float labels.  predict_proba's columns follow m.classes, sorted (yc's
-- labels first appear as -1, 7, 2).
do
  local map = {[-1] = 0, [2] = 3, [7] = 9} -- same order, so the same vote ties
  local yd = {}
  for i = 1, #yc do yd[i] = map[math.tointeger(yc[i])] end
  local ref = M.knn_classifier{k = 5}:fit(X, yc)
  local want, P0 = ref:predict(Q), ref:predict_proba(Q)
  for _, dt in ipairs{"i64", "i32", "u8", "table"} do
    local y = dt == "table" and yd or tide.array(yd, dt)
    local m = M.knn_classifier{k = 5}:fit(X, y)
    local p = m:predict(Q)
    local pdt = dt == "table" and "i64" or dt
    check.eq(p.dtype, pdt, dt .. " labels: predictions of y's dtype")
    check.eq(m.classes.dtype, pdt, dt .. " labels: classes of y's dtype")
    check.eq(math.type(p[1]), "integer", dt .. " labels: integers back")
    check.eq(math.type(m.classes[1]), "integer", dt .. " labels: integer classes")
    check.array(m.classes:totable(), {0, 3, 9}, nil, dt .. " classes sorted")
    local ok = true
    for i = 1, #p do ok = ok and p[i] == map[math.tointeger(want[i])] end
    check.truthy(ok, dt .. " labels: the given values")
    check.truthy(same(m:predict_proba(Q), P0), dt .. " predict_proba columns follow classes")
    check.near(m:score(Q, p), 1.0, 0, dt .. " score on its own labels")
  end
  check.truthy(same(P0, L"proba5_uniform"), "columns in sorted order, as scikit-learn's")
  check.eq(want.dtype, "f64", "float labels stay float")
  check.eq(math.type(want[1]), "float", "float labels: floats back")
  check.eq(M.knn_classifier{}:fit(X, yc:astype("f32")):predict(Q).dtype, "f32", "f32 labels")
  local yb = tide.zeros(#yc, "bool")
  for i = 1, #yc do yb[i] = yc[i] == 7 end
  local mb = M.knn_classifier{}:fit(X, yb)
  check.eq(mb:predict(Q).dtype, "bool", "bool labels: bool predictions")
  check.eq(type(mb.classes[1]), "boolean", "bool classes")
  -- through a parallel task and the codec
  local got = tide.collect(function()
    return M.knn_classifier{k = 5}:fit(X, tide.array(yd, "u8"))
  end, 1, {jobs = 1})[1]
  check.eq(got.classes.dtype, "u8", "classes from a task keep y's dtype")
  local pg = got:predict(Q)
  check.eq(pg.dtype, "u8", "a model from a task predicts y's dtype")
  check.eq(math.type(pg[1]), "integer", "integers from a model from a task")
end

-- rows =: equal to a fit on X:take(idx), indices are rows of the full X
local idx = L"idx"
local ms = M.knn_regressor{weights = "distance"}:fit(X, y, {rows = idx})
check.truthy(maxrel(ms:predict(Q), L"reg_sub") < 1e-12, "fit on rows")
local ds, is = ms:kneighbors(Q)
check.truthy(same(is, L"ind_sub"), "indices on rows map to rows of X")
check.truthy(maxrel(ds, L"dist_sub") < 1e-12, "distances on rows")
local cs = M.knn_classifier{}:fit(X, yc, {rows = idx})
check.truthy(same(cs:predict(Q), L"cls_sub"), "classifier on rows")
-- rows as a Lua table, and query rows
local tidx = {}
for i = 1, #idx do tidx[i] = idx[i] end
local mt = M.knn_regressor{weights = "distance"}:fit(X, y, {rows = tidx})
local qsub = tide.array({3, 7, 60}, "i64")
local pq = mt:predict(Q, {rows = qsub})
check.eq(#pq, 3, "predict on query rows")
local full = L"reg_sub"
check.near(pq[2], full[7], 1e-12, "predict row 7")
check.near(pq[3], full[60], 1e-12, "predict row 60")
local _, iq = ms:kneighbors(Q, {rows = {7}, k = 2})
check.eq(iq:get(1, 1), L"ind_sub":get(7, 1), "kneighbors rows, k")
check.eq(iq.shape[2], 2, "kneighbors k option")

-- ties: small integers make every distance exact.  scikit-learn 1.2's brute
-- force keeps a heap and quicksorts the k kept, so the order (and, at the
-- k-th place, the choice) among equal distances is its heap's; tide orders
-- equal distances by the lower row.  The distances agree exactly, so do
-- the neighbours strictly closer than the k-th distance.
local Xi, Qi = L"Xi", L"Qi"
local mi = M.knn_regressor{k = 7}:fit(Xi, Xi:col(1):copy())
local di, ii = mi:kneighbors(Qi)
check.truthy(same(di, L"ti_dist"), "tied distances equal scikit-learn's exactly")
check.truthy(same(ii, L"ti_ind_rule"), "ties go to the lower row")
local sk = L"ti_ind_sklearn"
local strict_ok = true
for q = 1, #Qi do
  local kth = di:get(q, 7)
  local mine, theirs = {}, {}
  for j = 1, 7 do
    if di:get(q, j) < kth then mine[ii:get(q, j)] = true end
    if L"ti_dist":get(q, j) < kth then theirs[sk:get(q, j)] = true end
  end
  for r in pairs(mine) do if not theirs[r] then strict_ok = false end end
  for r in pairs(theirs) do if not mine[r] then strict_ok = false end end
end
check.truthy(strict_ok, "strictly closer neighbours are scikit-learn's")
-- a tie rule that does not depend on tiling: 600 copies of one point
local Xd = tide.zeros(600, 3)
local md2 = M.knn_regressor{k = 4}:fit(Xd, tide.arange(600):astype("f64"))
local _, id = md2:kneighbors(tide.zeros(1, 3))
check.array(id[1], {1, 2, 3, 4}, nil, "all equal: the first rows")
local _, idr = md2:kneighbors(tide.zeros(1, 3), {k = 2})
check.array(idr[1], {1, 2}, nil, "all equal, k = 2")
local md3 = M.knn_regressor{k = 3}:fit(Xd, tide.arange(600):astype("f64"),
                                      {rows = tide.array({500, 20, 300, 9}, "i64")})
local _, id3 = md3:kneighbors(tide.zeros(1, 3))
check.array(id3[1], {500, 20, 300}, nil, "ties follow the order of rows")

-- dtypes and strides: f32 data, a transposed (non-contiguous) query array
local m32 = M.knn_regressor{}:fit(X:astype("f32"), y)
local d32 = m32:kneighbors(Q:astype("f32"))
check.truthy(maxrel(d32, L"dist5") < 1e-5, "f32 data")
local mT = M.knn_regressor{}:fit(X:t():copy():t(), y)
check.truthy(maxrel(mT:predict(Q), L"reg_uniform") < 1e-12, "strided X")

-- parameters, clone, describe
local m = M.knn_classifier{k = 3, weights = "distance"}
check.eq(m:params().k, 3, "params k")
check.eq(m:clone():params().weights, "distance", "clone keeps params")
check.eq(m:clone():is_fitted(), false, "clone is unfitted")
check.truthy(tostring(m):find("k=3", 1, true), "describe")

-- bad input
check.errors(function() M.knn_regressor{k = 0} end, "parameter 'k' must be >= 1")
check.errors(function() M.knn_regressor{k = 2.5} end, "parameter 'k' must be an integer")
check.errors(function() M.knn_regressor{weights = "cosine"} end, "must be one of uniform, distance")
check.errors(function() M.knn_regressor{}:predict(Q) end, "predict before fit")
check.errors(function() M.knn_regressor{}:kneighbors(Q) end, "kneighbors before fit")
check.errors(function() M.knn_regressor{k = 301}:fit(X, y) end, "more than the 300 training rows")
check.errors(function() M.knn_regressor{}:fit(X, tide.zeros(5)) end, "y has shape 5")
check.errors(function() M.knn_regressor{}:fit(X:col(1), y) end, "X must be 2-dimensional")
local Xn = X:copy(); Xn:set(4, 2, 0 / 0)
check.errors(function() M.knn_regressor{}:fit(Xn, y) end, "X holds NaN")
check.truthy(pcall(function() M.knn_regressor{}:fit(Xn, y, {rows = {1, 2, 3, 5, 6, 7}}) end),
             "NaN outside the rows used is fine")
local yn = y:copy(); yn[2] = 1 / 0
check.errors(function() M.knn_regressor{}:fit(X, yn) end, "y holds NaN or infinity")
check.errors(function() M.knn_regressor{}:fit(X, y, {rows = {1, 301}}) end, "outside 1..300")
check.errors(function() md:predict(tide.zeros(3, 5)) end, "X has 5 features")
check.errors(function() md:predict(Q, {rows = {61}}) end, "outside 1..60")
local Qn = Q:copy(); Qn:set(2, 1, 0 / 0)
check.errors(function() md:predict(Qn) end, "X holds NaN")
check.errors(function() md:kneighbors(Q, {k = 301}) end, "between 1 and the 300")
check.errors(function() M.knn_classifier{}:fit(X, tide.ones(300)) end, "single class")
check.errors(function() M.knn_regressor{}:fit(X, nil) end, "y must be an array")
check.errors(function() M.knn_regressor{}:fit(tide.zeros(4, 0), tide.zeros(4)) end,
             "X has no features")
check.errors(function() M.knn_regressor{}:fit(tide.full(6, 2, 1e300), tide.zeros(6)) end,
             "too large for squared distances")
check.eq(#md:predict(Q, {rows = {}}), 0, "no query rows: empty result")

-- a fitted model returned from parallel tasks arrives whole
local Xs = tide.zeros({300, 4}, {shared = true}); Xs:assign_(X)
local got = tide.collect(function(kk)
  return M.knn_regressor{k = kk}:fit(Xs, y, {rows = idx})
end, {3, 5}, {jobs = 2})
check.eq(getmetatable(got[2]), getmetatable(M.knn_regressor{}), "class survives the codec")
check.truthy(maxrel(got[2]:predict(Q), M.knn_regressor{k = 5}:fit(X, y, {rows = idx}):predict(Q))
             < 1e-15, "model from a task predicts the same")

-- no copy of the fold: the peak RSS of a fit on half of a 32 MB X grows by
-- the norms (1.6 MB), not by a 16 MB copy.  Skipped under sanitizers.
if os.getenv("TIDE_SANITIZE") ~= "ON" then
  local big = tide.rand({400000, 10}, {seed = 3})
  local by = big:col(1):copy()
  local half = tide.arange(1, 400001, 2)
  local grew, mb = check.peak_growth_mb(function()
    return M.knn_regressor{}:fit(big, by, {rows = half})
  end)
  if grew then
    check.truthy(grew < 8, string.format("fit on 200k rows grew the peak by %.1f MB", grew))
    check.eq(mb.n_samples_fit, 200000, "n_samples_fit")
  end
end

-- live comparison on fresh random data when scikit-learn is there (6000
-- training rows: the single-precision screening path)
local py = "/usr/bin/python3"
if os.execute(py .. " -c 'import sklearn' 2>/dev/null") then
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  local Xr, Qr = tide.randn({12000, 6}, {seed = 5}), tide.randn({1500, 6}, {seed = 6})
  local yr = tide.randn(12000, {seed = 7})
  tide.save(dir .. "/X.npy", Xr); tide.save(dir .. "/Q.npy", Qr); tide.save(dir .. "/y.npy", yr)
  local script = ([[
import numpy as np
from sklearn.neighbors import KNeighborsRegressor as R
d = "%s"
X, Q, y = (np.load(d + "/" + n + ".npy") for n in ("X", "Q", "y"))
m = R(9, weights="distance", algorithm="brute").fit(X[::2], y[::2])
np.save(d + "/p.npy", m.predict(Q))
np.save(d + "/i.npy", m.kneighbors(Q)[1] * 2 + 1)
]]):format(dir)
  local f = io.open(dir .. "/run.py", "w"); f:write(script); f:close()
  if os.execute("OMP_NUM_THREADS=1 " .. py .. " " .. dir .. "/run.py") then
    local mr = M.knn_regressor{k = 9, weights = "distance"}:fit(Xr, yr,
      {rows = tide.arange(1, 12001, 2)})
    check.truthy(maxrel(mr:predict(Qr), tide.load(dir .. "/p.npy")) < 1e-12, "live predictions")
    local _, ir = mr:kneighbors(Qr)
    check.truthy(same(ir, tide.load(dir .. "/i.npy")), "live neighbour indices")
  else
    check.truthy(false, "live scikit-learn run failed")
  end
  os.execute("rm -rf " .. dir)
else
  print("live comparison skipped: no scikit-learn")
end

-- the KD-tree gives brute force's neighbours (ties by position), distances
-- and predictions, on random and on tied data, on all rows and subsets
do
  local function same(what, X, Q, k, rows, y)
    y = y or X:col(1):copy()
    local a = tide.models.knn_regressor{k = k, algorithm = "brute"}:fit(X, y, {rows = rows})
    local b = tide.models.knn_regressor{k = k, algorithm = "kd_tree"}:fit(X, y, {rows = rows})
    check.eq(b.algorithm_used, "kd_tree", what)
    local da, ia = a:kneighbors(Q)
    local db, ib = b:kneighbors(Q)
    check.eq((ia - ib):abs():max(), 0, what .. ": the same neighbours in the same order")
    check.eq((da - db):abs():max(), 0, what .. ": the same distances")
    check.eq((a:predict(Q) - b:predict(Q)):abs():max(), 0, what .. ": the same predictions")
  end
  local X = tide.rand(3000, 4, {seed = 11})
  local Q = tide.rand(200, 4, {seed = 12})
  same("random", X, Q, 7)
  same("random, k = 1", X, Q, 1)
  same("random, shuffled rows", X, Q, 5, tide.cv.kfold(3000, 3, {shuffle = true, seed = 1})[2].train)
  local Xi = (tide.rand(3000, 3, {seed = 13}) * 3):floor()     -- many exact ties
  local Qi = (tide.rand(200, 3, {seed = 14}) * 3):floor()
  same("tied", Xi, Qi, 10)
  same("tied, a rowset", Xi, Qi, 25, tide.rowset{{1, 700}, {1500, 2900}})
  same("tied, queries in the data", Xi, Xi:slice(1, 1, 100), 40)
  -- past 4096 rows brute force screens in single precision: still the tree's
  local Xl = tide.rand(20000, 5, {seed = 18})
  same("single-precision screening", Xl, tide.rand(300, 5, {seed = 19}), 10)
  local Xt = (tide.rand(20000, 4, {seed = 20}) * 3):floor()
  same("single-precision screening, tied", Xt, Xt:slice(1, 1, 200), 12)
  local Xs = tide.rand(500, 2, {seed = 15}):astype("f32")     -- another dtype
  same("f32", Xs, tide.rand(50, 2, {seed = 16}), 3)
  local lab = (Xi:col(1) + Xi:col(2)):astype("i64")
  local ca = tide.models.knn_classifier{k = 9, weights = "distance", algorithm = "brute"}:fit(Xi, lab)
  local cb = tide.models.knn_classifier{k = 9, weights = "distance", algorithm = "kd_tree"}:fit(Xi, lab)
  check.eq((ca:predict_proba(Qi) - cb:predict_proba(Qi)):abs():max(), 0, "classifier votes")
  -- auto: a tree for few features, brute force for many
  check.eq(tide.models.knn_regressor{}:fit(X, X:col(1):copy()).algorithm_used, "kd_tree")
  local W = tide.rand(300, 20, {seed = 17})
  check.eq(tide.models.knn_regressor{}:fit(W, W:col(1):copy()).algorithm_used, "brute")
  check.errors(function() tide.models.knn_regressor{algorithm = "ball"} end, "must be one of")
end

check.done()