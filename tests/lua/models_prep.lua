-- models_prep.lua: standard_scaler, minmax_scaler and tide.pipeline
-- against scikit-learn fixtures (tests/fixtures/make_models_knn.py), rows =,
-- parameters, bad input, pipelines returned from parallel tasks.
local check = require "check"
local M = tide.models
local FIX = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES not set") .. "/models/prep/"
local function L(name) return tide.load(FIX .. name .. ".npy") end

local function maxrel(a, b)
  if a.size ~= b.size then return math.huge end
  local worst = 0
  local fa, fb = a:reshape(a.size), b:reshape(b.size)
  for i = 1, fa.size do
    local d = math.abs(fa[i] - fb[i]) / (1 + math.abs(fb[i]))
    if d > worst then worst = d end
  end
  return worst
end
local function close(a, b, what, tol) check.truthy(maxrel(a, b) <= (tol or 1e-12), what) end

local X, Z, idx = L"X", L"Z", L"idx"

-- standard_scaler
local s = M.standard_scaler{}:fit(X)
close(s.mean, L"std_mean", "mean")
close(s.var, L"std_var", "var")
close(s.scale, L"std_scale", "scale (constant column: 1)")
check.eq(s.scale[2], 1.0, "constant column scale")
check.eq(s.n_samples_seen, 100, "n_samples_seen")
close(s:transform(X), L"std_X", "transform")
close(s:inverse_transform(Z), L"std_inv", "inverse_transform")
close(M.standard_scaler{with_mean = false}:fit(X):transform(X), L"std_nomean_X", "with_mean=false")
local ns = M.standard_scaler{with_std = false}:fit(X)
close(ns:transform(X), L"std_nostd_X", "with_std=false")
check.eq(ns.scale, nil, "no scale without with_std")
local ss = M.standard_scaler{}:fit(X, nil, {rows = idx})
close(ss.mean, L"std_sub_mean", "mean on rows")
close(ss.scale, L"std_sub_scale", "scale on rows")
local part = s:transform(X, {rows = {5, 1}})
check.eq(part.shape[1], 2, "transform rows: only those rows")
check.near(part:get(1, 1), L"std_X":get(5, 1), 1e-12, "transform row 5")
close(s:fit_transform(X), L"std_X", "fit_transform")

-- minmax_scaler
local m = M.minmax_scaler{feature_range = {-1, 2}}:fit(X)
close(m.data_min, L"mm_min", "data_min")
close(m.data_max, L"mm_max", "data_max")
close(m.scale, L"mm_scale", "scale")
close(m.min, L"mm_minattr", "min")
close(m:transform(X), L"mm_X", "transform")
close(m:inverse_transform(Z), L"mm_inv", "inverse_transform")
local mc = M.minmax_scaler{clip = true}:fit(X)
close(mc:transform(Z * 5), L"mm_clip_Z", "clip")

-- pipelines: scaler + k-NN (features on scales 1, 100, 0.01)
local Xp, yp, ypc, Qp = L"Xp", L"yp", L"ypc", L"Qp"
local p = tide.pipeline{M.standard_scaler{}, M.knn_regressor{}}
check.eq(getmetatable(p), getmetatable(M.pipeline{M.knn_regressor{}}),
         "tide.pipeline makes tide.models.pipeline objects")
p:fit(Xp, yp)
close(p:predict(Qp), L"pipe_reg", "pipeline regression")
local pc = tide.pipeline{M.minmax_scaler{}, M.knn_classifier{k = 3, weights = "distance"}}
pc:fit(Xp, ypc)
close(pc:predict(Qp), L"pipe_cls", "pipeline classification", 0)
check.array(pc.classes, {0, 1}, nil, "pipeline classes")
check.eq(pc:predict_proba(Qp).shape[2], 2, "pipeline predict_proba")
local pidx = L"pidx"
local psub = tide.pipeline{M.standard_scaler{}, M.knn_regressor{}}:fit(Xp, yp, {rows = pidx})
close(psub:predict(Qp), L"pipe_sub", "pipeline on rows")
local pq = psub:predict(Qp, {rows = {4, 2}})
check.near(pq[1], L"pipe_sub"[4], 1e-12, "pipeline predict rows")
local sc = psub:score(Xp, yp, {rows = {1, 2, 3, 4, 5, 6, 7, 8}})
check.truthy(type(sc) == "number" and sc <= 1, "pipeline score on rows")
-- a score equals r2 of the predictions on those rows
check.near(sc, tide.metrics.r2(yp, psub:predict(Xp, {rows = {1, 2, 3, 4, 5, 6, 7, 8}}),
                               {rows = {1, 2, 3, 4, 5, 6, 7, 8}}), 1e-15, "score")

-- a model class is that model with default parameters
local pcls = tide.pipeline{M.standard_scaler, M.knn_regressor}:fit(Xp, yp)
close(pcls:predict(Qp), L"pipe_reg", "pipeline of classes")
check.eq(tostring(pcls.steps[2]), "knn_regressor{} (fitted)", "a class step is a default model")
check.eq(pc:kind(), "classifier", "a pipeline's kind is its last step's")

-- params, set, clone
local pp = tide.pipeline{M.standard_scaler{}, M.knn_regressor{k = 3}}
local prm = pp:params()
check.eq(prm["knn_regressor__k"], 3, "params knn_regressor__k")
check.eq(prm["standard_scaler__with_mean"], true, "params standard_scaler__with_mean")
pp:set{k = 4}
check.eq(pp:params()["knn_regressor__k"], 4, "set by plain name")
pp:set{["knn_regressor.weights"] = "distance", ["1.with_std"] = false}
check.eq(pp.steps[2]:params().weights, "distance", "set by class name")
check.eq(pp.steps[1]:params().with_std, false, "set by step number")
check.errors(function() pp:set{alpha = 1} end, "unknown parameter 'alpha'")
check.errors(function() pp:set{["3.k"] = 1} end, "there is no step 3")
check.errors(function() pp:set{k = 0} end, "parameter 'k' must be >= 1")
local two = tide.pipeline{M.standard_scaler{}, M.minmax_scaler{}, M.knn_regressor{}}
check.errors(function() two:set{clip = 1} end, "must be true or false")
local dup = tide.pipeline{M.standard_scaler{}, M.standard_scaler{}, M.knn_regressor{}}
check.errors(function() dup:set{with_mean = false} end, "belongs to several steps")
local cl = p:clone()
check.eq(cl:is_fitted(), false, "clone unfitted")
check.truthy(cl.steps[1] ~= p.steps[1], "clone clones the steps")
check.eq(tostring(pp), 'pipeline{standard_scaler{with_std=false}, knn_regressor{k=4, ' ..
         'weights="distance"}}', "describe")

-- bad input
check.errors(function() tide.pipeline{} end, "list of steps")
check.errors(function() tide.pipeline{M.knn_regressor{}, M.knn_regressor{}} end,
             "must be a transformer")
check.errors(function() tide.pipeline{M.standard_scaler{}, 3} end, "step 2 is not a model")
check.errors(function() tide.pipeline{M.standard_scaler{}, M.knn_regressor{}}:predict(Xp) end,
             "predict before fit")
check.errors(function() p:predict(tide.zeros(3, 4)) end, "fitted on 3")
check.errors(function() M.standard_scaler{}:transform(X) end, "transform before fit")
check.errors(function() M.minmax_scaler{feature_range = {1, 0}} end, "must have min < max")
check.errors(function() M.minmax_scaler{feature_range = 3} end, "two numbers")
check.errors(function() M.standard_scaler{with_mean = 1} end, "must be true or false")
local Xn = X:copy(); Xn:set(3, 3, 0 / 0)
check.errors(function() M.standard_scaler{}:fit(Xn) end, "X holds NaN")
check.errors(function() M.minmax_scaler{}:fit(X, nil, {rows = {0}}) end, "outside 1..100")
check.errors(function() s:transform(tide.zeros(2, 3)) end, "fitted on 5")
check.errors(function() m:transform(tide.zeros(2, 3)) end, "fitted on 5")
check.errors(function() s:transform(X:col(1)) end, "2-dimensional")

-- fitted pipelines and scalers come back from parallel tasks whole
local Xs = tide.zeros({200, 3}, {shared = true}); Xs:assign_(Xp)
local got = tide.collect(function(k)
  return tide.pipeline{M.standard_scaler{}, M.knn_regressor{k = k}}:fit(Xs, yp, {rows = pidx})
end, {3, 5}, {jobs = 2})
check.eq(getmetatable(got[2]), getmetatable(p), "pipeline class survives the codec")
close(got[2]:predict(Qp), L"pipe_sub", "pipeline from a task predicts the same")
local gs = tide.collect(function() return M.standard_scaler{}:fit(Xs) end, 1, {jobs = 1})
close(gs[1]:transform(Xs), M.standard_scaler{}:fit(Xp):transform(Xp), "scaler from a task")

-- no copy of the fold: a scaler fit on half of a 32 MB X keeps the peak
-- RSS flat (a copy would add 16 MB).  Skipped under sanitizers.
if os.getenv("TIDE_SANITIZE") ~= "ON" then
  local big = tide.rand({400000, 10}, {seed = 4})
  local half = tide.arange(1, 400001, 2)
  local grew, sb = check.peak_growth_mb(function()
    return M.standard_scaler{}:fit(big, nil, {rows = half})
  end)
  if grew then
    check.truthy(grew < 4, string.format("scaler fit on 200k rows grew the peak by %.1f MB", grew))
    check.eq(sb.n_samples_seen, 200000, "n_samples_seen on rows")
  end
end

-- pipelines of scalers read X through column maps: the same answers as
-- fitting each step on a transformed copy of the rows, with no copy made
do
  local X = tide.rand(3000, 4, {seed = 21}) * tide.array({1, 10, 100, 1000}) + 5
  local y = X:col(1) * 2 - X:col(3) * 0.01 + tide.randn(3000, {seed = 22})
  local lab = y:gt(y:mean()):astype("i64")
  local rows = tide.cv.kfold(3000, 3, {shuffle = true, seed = 2})[1].train
  local test = tide.cv.kfold(3000, 3, {shuffle = true, seed = 2})[1].test
  local M = tide.models
  for _, c in ipairs{
    {{M.standard_scaler, M.ridge{alpha = 3}}, y},
    {{M.minmax_scaler{clip = true}, M.lasso{alpha = 0.01}}, y},
    {{M.standard_scaler{with_mean = false}, M.minmax_scaler, M.elasticnet{alpha = 0.01}}, y},
    {{M.standard_scaler, M.knn_regressor{k = 4}}, y},
    {{M.minmax_scaler, M.knn_classifier{k = 3, algorithm = "kd_tree"}}, lab},
    {{M.standard_scaler, M.logistic{C = 0.5}}, lab},
  } do
    local pipe = tide.pipeline(c[1]):fit(X, c[2], {rows = rows})
    -- by hand: each step on a transformed copy
    local Xt = X:take(rows)
    local steps = {}
    for i, s in ipairs(c[1]) do steps[i] = M.as_model(s):clone() end
    for i = 1, #steps - 1 do Xt = steps[i]:fit(Xt):transform(Xt) end
    local last = steps[#steps]:fit(Xt, c[2]:take(rows))
    local Q = X:take(test)
    for i = 1, #steps - 1 do Q = steps[i]:transform(Q) end
    local what = tostring(pipe)
    check.array(pipe:predict(X, {rows = test}):totable(), last:predict(Q):totable(), 1e-12,
                what .. ": predictions")
    if last.coef then
      check.array(pipe.steps[#steps].coef:totable(), last.coef:totable(), 1e-12, what .. ": coef")
    end
    check.near(pipe:score(X, c[2], {rows = test}), last:score(Q, c[2]:take(test)), 1e-12, what)
    if last.predict_proba then
      check.array(pipe:predict_proba(X, {rows = test}):totable(), last:predict_proba(Q):totable(),
                  1e-12, what .. ": proba")
    end
  end
  local t = tide.pipeline{M.standard_scaler, M.minmax_scaler}:fit(X, nil, {rows = rows})
  local by_hand = M.minmax_scaler():fit(M.standard_scaler():fit(X:take(rows)):transform(X:take(rows)))
  check.array(t:transform(X, {rows = test}):totable(),
              by_hand:transform(M.standard_scaler():fit(X:take(rows)):transform(X:take(test))):totable(),
              1e-12, "a pipeline of scalers transforms through the maps")
end

check.done()
