-- models_tree.lua: decision trees and random forests against scikit-learn
-- fixtures (tests/fixtures/make_models_tree.py): depth-limited trees split
-- as scikit-learn's (same features and thresholds, same predictions,
-- importances), forests' scores within the spread of scikit-learn's over
-- ten seeds; rows =, labels, seeds and jobs, the codec, the model protocol
-- (search, cross_validate, pipelines, the SuperLearner), bad parameters,
-- and a live comparison when /usr/bin/python3 has scikit-learn.
local check = require "check"
local M = tide.models
local FIX = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES not set") .. "/models/tree/"
local function L(name) return tide.load(FIX .. name .. ".npy") end

local function maxabs(a, b)
  local fa, fb = a:reshape(a.size), b:reshape(b.size)
  local worst = 0
  for i = 1, fa.size do worst = math.max(worst, math.abs(fa[i] - fb[i])) end
  return worst
end
local function same(a, b)
  if a.size ~= b.size then return false end
  local fa, fb = a:reshape(a.size), b:reshape(b.size)
  for i = 1, fa.size do if fa[i] ~= fb[i] then return false end end
  return true
end

local X, Q, y, yc = L"X", L"Q", L"y", L"yc"

-- trees: the same splits, predictions and importances as scikit-learn's
for d = 1, 4 do
  local m = M.decision_tree_regressor{max_depth = d}:fit(X, y)
  check.truthy(maxabs(m:predict(Q), L("reg_d" .. d)) < 1e-12, "regressor depth " .. d)
  check.truthy(maxabs(m.feature_importances, L("reg_d" .. d .. "_imp")) < 1e-9,
               "importances depth " .. d)
  check.eq(m.depth, d, "depth")
end
local leafy = M.decision_tree_regressor{min_samples_leaf = 12, min_samples_split = 30}:fit(X, y)
check.truthy(maxabs(leafy:predict(Q), L"reg_leaf") < 1e-12, "min_samples_leaf / _split")
check.truthy(maxabs(leafy.feature_importances, L"reg_leaf_imp") < 1e-9, "importances, full depth")
for _, crit in ipairs{"gini", "entropy"} do
  for _, d in ipairs{2, 4} do
    local c = M.decision_tree_classifier{criterion = crit, max_depth = d, min_samples_leaf = 4}
    c:fit(X, yc)
    local what = ("%s depth %d"):format(crit, d)
    local pred = c:predict(Q)
    check.eq(pred.dtype, "i64", "integer labels give integer predictions")
    check.truthy(same(pred, L(("cls_%s_d%d"):format(crit, d))), what .. " labels")
    check.truthy(maxabs(c:predict_proba(Q), L(("cls_%s_d%d_proba"):format(crit, d))) < 1e-12,
                 what .. " proba")
    check.truthy(maxabs(c.feature_importances, L(("cls_%s_d%d_imp"):format(crit, d))) < 1e-9,
                 what .. " importances")
  end
end
check.array(M.decision_tree_classifier{}:fit(X, yc).classes, {2, 5, 9}, nil, "classes")
check.eq(M.decision_tree_classifier{}:fit(X, yc).classes.dtype, "i64", "classes keep y's dtype")

-- the splits themselves, in preorder: m:tree() gives scikit-learn's tree_ arrays
local function preorder(t)
  local f, th = {}, {}
  local function walk(i)
    if t.feature[i] == 0 then return end
    f[#f + 1], th[#th + 1] = t.feature[i], t.threshold[i]
    walk(t.children_left[i]); walk(t.children_right[i])
  end
  walk(1)
  return tide.array(f, "i64"), tide.array(th)
end
for _, case in ipairs{{"reg_d3", M.decision_tree_regressor{max_depth = 3}:fit(X, y)},
                      {"cls_gini_d4", M.decision_tree_classifier{max_depth = 4,
                                                                 min_samples_leaf = 4}:fit(X, yc)}} do
  local f, th = preorder(case[2]:tree())
  check.truthy(same(f, L(case[1] .. "_split_feature")), case[1] .. ": split features")
  check.truthy(same(th, L(case[1] .. "_split_threshold")), case[1] .. ": thresholds exactly")
end
local t1 = M.decision_tree_regressor{max_depth = 1}:fit(X, y):tree()
check.eq(t1.children_left[1], 2, "children_left")
check.eq(t1.children_right[1], 3, "children_right")
check.truthy(t1.value[1][1] ~= t1.value[1][1], "internal nodes have no value (NaN)")
check.eq(t1.feature[2], 0, "leaves have feature 0")

-- rows with repeats: a fit on X:take(idx) without the copy
local idx = L"idx"
local mr = M.decision_tree_regressor{max_depth = 3, min_samples_leaf = 3}:fit(X, y, {rows = idx})
check.truthy(maxabs(mr:predict(Q), L"reg_rows") < 1e-12, "rows with repeats")
local tidx = {}
for i = 1, #idx do tidx[i] = idx[i] end
local mt = M.decision_tree_regressor{max_depth = 3, min_samples_leaf = 3}:fit(X, y, {rows = tidx})
check.truthy(same(mt:predict(Q), mr:predict(Q)), "rows as a table")
check.truthy(same(mr:predict(Q, {rows = {4, 9}}), mr:predict(Q):take(tide.array({4, 9}, "i64"))),
             "predict on rows")
-- f32 data and a transposed (strided) X give the same tree
local m32 = M.decision_tree_regressor{max_depth = 4}:fit(X:astype("f32"), y)
check.truthy(maxabs(m32:predict(Q), L"reg_d4") < 1e-12, "f32 X (its values are f32-exact)")
local mT = M.decision_tree_regressor{max_depth = 4}:fit(X:t():copy():t(), y)
check.truthy(maxabs(mT:predict(Q:t():copy():t()), L"reg_d4") < 1e-12, "strided X")

-- forests: held-out scores within scikit-learn's spread over ten seeds
local F, fy, fc = L"F", L"fy", L"fc"
local tr, te = tide.rowset(1, 1200), tide.rowset(1201, 1800)
local function within(v, name, what)
  local ref = L("forest_" .. name)
  local tol = math.max(4 * ref[2], 0.015)
  check.truthy(math.abs(v - ref[1]) <= tol,
               ("%s: %.4f, scikit-learn %.4f +- %.4f"):format(what, v, ref[1], ref[2]))
end
local rf = M.random_forest_regressor{n_estimators = 50, oob_score = true}:fit(F, fy, {rows = tr})
within(rf:score(F, fy, {rows = te}), "r2", "forest R2")
within(rf.oob_score, "r2_oob", "forest OOB R2")
check.eq(#rf.estimators, 50, "estimators")
check.eq(getmetatable(rf.estimators[1]), getmetatable(M.decision_tree_regressor{}),
         "estimators are decision trees")
check.near(rf.feature_importances:sum(), 1, 1e-12, "importances sum to 1")
check.truthy(rf.feature_importances[4] > rf.feature_importances[8], "x4 matters, x8 is noise")
check.eq(#rf.oob_prediction, 1200, "oob_prediction")
local rs = M.random_forest_regressor{n_estimators = 50, max_features = "sqrt",
                                     min_samples_leaf = 3}:fit(F, fy, {rows = tr})
within(rs:score(F, fy, {rows = te}), "r2_sqrt", "forest sqrt R2")
local rc = M.random_forest_classifier{n_estimators = 50, oob_score = true}:fit(F, fc, {rows = tr})
within(rc:score(F, fc, {rows = te}), "acc", "forest accuracy")
within(rc.oob_score, "acc_oob", "forest OOB accuracy")
check.eq(rc:predict(F, {rows = te}).dtype, "i64", "forest labels keep y's dtype")
local P = rc:predict_proba(F, {rows = te})
check.near(P:sum(2):min(), 1, 1e-12, "proba rows sum to 1")
check.eq(rc.oob_decision_function.shape[2], 3, "oob_decision_function")
local hist = M.random_forest_regressor{n_estimators = 50, max_bins = 32}:fit(F, fy, {rows = tr})
check.truthy(math.abs(hist:score(F, fy, {rows = te}) - L"forest_r2"[1]) < 0.03,
             "a 32-bin histogram forest scores near the exact one")

-- the same seed gives the same forest for every jobs; another seed another
local function fit(jobs, seed)
  return M.random_forest_regressor{n_estimators = 12, jobs = jobs, seed = seed}:fit(F, fy, {rows = tr})
end
local a1, a2, b = fit(1, 7), fit(2, 7), fit(2, 8)
check.truthy(same(a1:predict(F, {rows = te}), a2:predict(F, {rows = te})), "jobs 1 and 2 agree")
check.truthy(same(a1.estimators[5].nodes, a2.estimators[5].nodes), "tree 5 is the same tree")
check.truthy(not same(a1:predict(F, {rows = te}), b:predict(F, {rows = te})), "seeds differ")
-- tree t draws its bootstrap from tide.rng(seed, t): a tree fitted on that
-- sample (the rows with their repeats) is tree t again
local counts = tide._internal.models.tree_bootstrap(7, 5, 1200, 1200)
local rows = {}
for i = 1, 1200 do for _ = 1, counts[i] do rows[#rows + 1] = i end end
check.eq(#rows, 1200, "a bootstrap of 1200 draws")
local f4 = M.random_forest_regressor{n_estimators = 5, max_depth = 4, seed = 7}:fit(F, fy, {rows = tr})
local t4 = M.decision_tree_regressor{max_depth = 4}:fit(F, fy, {rows = rows})
check.truthy(maxabs(f4.estimators[5]:predict(F, {rows = te}), t4:predict(F, {rows = te})) < 1e-12,
             "tree 5 of seed 7 is the tree of tide.rng(7, 5)'s bootstrap sample")

-- parallel prediction over row blocks equals the serial one
local pr, pw = M.forest_parallel_rows, M.forest_parallel_work
M.forest_parallel_rows, M.forest_parallel_work = 100, 1000
local par_p = rc:predict_proba(F, {rows = te})
local par_c = rc:predict(F)
local par_r = a2:predict(F, {rows = te})
M.forest_parallel_rows, M.forest_parallel_work = pr, pw
check.truthy(same(par_p, P), "parallel proba")
check.truthy(same(par_c, rc:predict(F)), "parallel labels")
check.truthy(same(par_r, a1:predict(F, {rows = te})), "parallel regression")

-- forests fitted in tasks come back whole (the blog post's trap solved)
local Fs = tide.zeros({1800, 8}, {shared = true}); Fs:assign_(F)
local got = tide.collect(function(k)
  return M.random_forest_regressor{n_estimators = k, seed = 7}:fit(Fs, fy, {rows = tr})
end, {12, 6}, {jobs = 2})
check.eq(getmetatable(got[1]), getmetatable(a1), "class survives the codec")
check.eq(#got[2].estimators, 6, "forest of 6")
check.truthy(same(got[1]:predict(F, {rows = te}), a1:predict(F, {rows = te})),
             "the forest from a task predicts as the one fitted here")
local ctree = tide.collect(function() return M.decision_tree_classifier{max_depth = 3}:fit(X, yc) end,
                           1, {jobs = 2})[1]
check.truthy(same(ctree:predict(Q), M.decision_tree_classifier{max_depth = 3}:fit(X, yc):predict(Q)),
             "a tree from a task predicts")
check.eq(ctree.classes.dtype, "i64", "its classes keep their dtype")

-- the model protocol: params, set, clone, search, cross_validate, pipelines, stacking
local m = M.random_forest_classifier{n_estimators = 10, max_depth = 3}
check.eq(m:params().max_features, "sqrt", "classifier max_features default")
check.eq(M.random_forest_regressor{}:params().max_features, 1.0, "regressor max_features default")
check.eq(m:params().n_estimators, 10, "params")
check.eq(m:clone():params().max_depth, 3, "clone keeps params")
check.eq(m:clone():is_fitted(), false, "clone is unfitted")
check.truthy(tostring(m):find("max_depth=3", 1, true), "describe")
check.eq(m:set{max_depth = false}:params().max_depth, false, "max_depth = false: no limit")
local s = tide.search{model = M.decision_tree_regressor{}, grid = {max_depth = {1, 3, 6}}, X = F,
                      y = fy, cv = tide.cv.kfold(1800, 3), jobs = 2}
check.eq(s.best_params.max_depth, 6, "search picks the deepest of three")
local cv = tide.cross_validate(M.random_forest_regressor{n_estimators = 10}, F, fy,
                               {cv = tide.cv.kfold(1800, 3), jobs = 2})
check.truthy(cv, "cross_validate runs")
local pipe = tide.pipeline{M.standard_scaler{}, M.decision_tree_regressor{max_depth = 4}}
check.truthy(maxabs(pipe:fit(X, y):predict(Q),
                    M.decision_tree_regressor{max_depth = 4}:fit(X, y):predict(Q)) < 1e-9,
             "a tree is scale-free: the same predictions after a scaler")
local sl = tide.ensemble.superlearner{layers = {{M.decision_tree_regressor{max_depth = 5},
                                                 M.random_forest_regressor{n_estimators = 10}}},
                                      meta = M.linear{}, folds = 2, jobs = 2}
sl:fit(F, fy, {rows = tide.range(1, 1200)})
check.truthy(sl:score(F, fy, {rows = tide.range(1201, 1800)}) > 0.7, "a SuperLearner of a tree and a forest")
local lc = tide.learning_curve(M.decision_tree_regressor{max_depth = 4}, F, fy,
                               {sizes = {0.5, 1.0}, cv = tide.cv.kfold(1800, 3), jobs = 2})
check.truthy(lc, "learning_curve runs")

-- bad parameters: clear errors before any work
check.errors(function() M.decision_tree_regressor{criterion = "gini"} end, "must be one of squared_error")
check.errors(function() M.decision_tree_classifier{criterion = "mse"} end, "gini, entropy, log_loss")
check.errors(function() M.decision_tree_regressor{max_depth = 0} end, "max_depth' must be an integer >= 1")
check.errors(function() M.decision_tree_regressor{min_samples_split = 1} end, "min_samples_split")
check.errors(function() M.decision_tree_regressor{min_samples_split = 1.5} end, "fraction in (0, 1]")
check.errors(function() M.decision_tree_regressor{min_samples_leaf = 0} end, "min_samples_leaf")
check.errors(function() M.decision_tree_regressor{max_features = "auto"} end, "max_features")
check.errors(function() M.decision_tree_regressor{max_features = 0} end, "max_features' must be >= 1")
check.errors(function() M.decision_tree_regressor{max_bins = 300} end, "between 2 and 256")
check.errors(function() M.decision_tree_regressor{min_impurity_decrease = -1} end, "must be >= 0")
check.errors(function() M.decision_tree_regressor{seed = 1.5} end, "seed' must be an integer")
check.errors(function() M.decision_tree_regressor{depth = 3} end, "unknown parameter 'depth'")
check.errors(function() M.random_forest_regressor{n_estimators = 0} end, "n_estimators' must be >= 1")
check.errors(function() M.random_forest_regressor{bootstrap = false, oob_score = true} end,
             "oob_score needs bootstrap")
check.errors(function() M.random_forest_regressor{bootstrap = false, max_samples = 10} end,
             "max_samples needs bootstrap")
check.errors(function() M.random_forest_regressor{max_samples = 1.5} end, "max_samples")
check.errors(function() M.random_forest_regressor{jobs = 0} end, "jobs' must be a non-zero integer")
check.errors(function() M.decision_tree_regressor{max_features = 9}:fit(X, y) end,
             "max_features = 9 is more than the 5 features")
check.errors(function() M.random_forest_regressor{max_samples = 301}:fit(X, y) end,
             "max_samples = 301 is more than the 300 rows")
check.errors(function() M.decision_tree_classifier{}:fit(X, y) end, "Unknown label type: continuous")
check.errors(function() M.decision_tree_regressor{}:predict(Q) end, "predict before fit")
check.errors(function() M.decision_tree_classifier{}:predict_proba(Q) end, "predict_proba before fit")
check.errors(function() mr:predict(tide.zeros(3, 4)) end, "X has 4 features")
local Xn = X:copy(); Xn:set(7, 2, 0 / 0)
check.errors(function() M.decision_tree_regressor{}:fit(Xn, y) end, "X holds NaN")
check.truthy(pcall(function() M.decision_tree_regressor{}:fit(Xn, y, {rows = {1, 2, 3, 8, 9}}) end),
             "NaN outside the rows used is fine")
check.errors(function() mr:predict(Xn) end, "X holds NaN")
check.errors(function() M.decision_tree_regressor{}:fit(X, tide.zeros(5)) end, "y")
check.errors(function() M.decision_tree_regressor{}:fit(X, y, {rows = {1, 301}}) end, "outside 1..300")
local broken = M.decision_tree_regressor{max_depth = 2}:fit(X, y)
broken.nodes = tide.zeros(16, "u8")
check.errors(function() broken:predict(Q) end, "do not match n_nodes")
local bad = M.decision_tree_regressor{max_depth = 2}:fit(X, y)
bad.nodes[5] = 0 -- node 1's left child now points at itself (0): a cycle
check.errors(function() bad:predict(Q) end, "damaged")
check.eq(#mr:predict(Q, {rows = {}}), 0, "no rows: an empty result")

-- no copy of the fold: a tree on half of a 32 MB X grows the peak by its
-- working arrays (positions, bins), not by a 16 MB copy.  Not under sanitizers.
if os.getenv("TIDE_SANITIZE") ~= "ON" then
  local big = tide.rand({400000, 10}, {seed = 3})
  local by = big:col(1) + big:col(2)
  local half = tide.arange(1, 400001, 2)
  local grew = check.peak_growth_mb(function()
    return M.decision_tree_regressor{max_depth = 6}:fit(big, by, {rows = half})
  end)
  if grew then
    check.truthy(grew < 10, string.format("a tree on 200k rows grew the peak by %.1f MB", grew))
  end
end

-- examples/forest.lua runs (small sizes): forests back from tasks, scored
do
  local root = os.getenv("TIDE_FIXTURES"):gsub("/tests/fixtures$", "")
  local bin = os.getenv("TIDE_BIN") or "tide"
  local p = io.popen(bin .. " " .. root .. "/examples/forest.lua 2000 2,3 2 2>&1")
  local out = p:read("a")
  p:close()
  check.truthy(out:find("returned from the task: true", 1, true), "examples/forest.lua: " .. out)
  check.truthy(out:find("fitted here: false", 1, true), "the side-effect trap shown")
  check.truthy(out:find("forest of 3 trees finished in", 1, true), "tide.timed lines")
end

-- live: fresh data against scikit-learn when it is there
local py = "/usr/bin/python3"
if os.execute(py .. " -c 'import sklearn' 2>/dev/null") then
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  -- multiples of 2^-16 in f64: exact in f32, as scikit-learn's trees see them
  local Xr = (tide.rand({2500, 6}, {seed = 11}) * 65536):floor() / 65536
  local yr = Xr:col(1) * 3 + (Xr:col(2) - 0.5):abs() * 4 + tide.randn(2500, {seed = 12}) * 0.3
  local cr = (yr:gt(yr:mean())):astype("i64") + (Xr:col(3)):gt(0.7):astype("i64")
  tide.save(dir .. "/X.npy", Xr); tide.save(dir .. "/y.npy", yr); tide.save(dir .. "/c.npy", cr)
  local script = ([[
import numpy as np
from sklearn.tree import DecisionTreeRegressor as R, DecisionTreeClassifier as C
from sklearn.ensemble import RandomForestRegressor as FR
d = "%s"
X, y, c = (np.load(d + "/" + n + ".npy") for n in ("X", "y", "c"))
tr, te = slice(0, 2000), slice(2000, 2500)
def stable(make, t):
    ps = [make(s).fit(X[tr], t[tr]).predict(X[te]) for s in range(6)]
    return ps[0] if all(np.array_equal(p, ps[0]) for p in ps) else None
for name, make, t in (("r", lambda s: R(max_depth=5, min_samples_leaf=10, random_state=s), y),
                      ("c", lambda s: C(max_depth=5, min_samples_leaf=10, random_state=s), c)):
    p = stable(make, t)
    if p is not None: np.save(d + "/" + name + ".npy", p)
np.save(d + "/f.npy", np.array([FR(n_estimators=30, random_state=s).fit(X[tr], y[tr])
                                  .score(X[te], y[te]) for s in range(5)]))
]]):format(dir)
  local f = io.open(dir .. "/run.py", "w"); f:write(script); f:close()
  if os.execute("OMP_NUM_THREADS=1 " .. py .. " " .. dir .. "/run.py") then
    local ltr, lte = tide.rowset(1, 2000), tide.rowset(2001, 2500)
    local rf_ = io.open(dir .. "/r.npy")
    if rf_ then
      rf_:close()
      local lm = M.decision_tree_regressor{max_depth = 5, min_samples_leaf = 10}:fit(Xr, yr, {rows = ltr})
      check.truthy(maxabs(lm:predict(Xr, {rows = lte}), tide.load(dir .. "/r.npy")) < 1e-12,
                   "live regressor")
    end
    local cf = io.open(dir .. "/c.npy")
    if cf then
      cf:close()
      local lc_ = M.decision_tree_classifier{max_depth = 5, min_samples_leaf = 10}:fit(Xr, cr, {rows = ltr})
      check.truthy(same(lc_:predict(Xr, {rows = lte}), tide.load(dir .. "/c.npy")), "live classifier")
    end
    local sk = tide.load(dir .. "/f.npy")
    local mine = M.random_forest_regressor{n_estimators = 30}:fit(Xr, yr, {rows = ltr})
                   :score(Xr, yr, {rows = lte})
    check.truthy(math.abs(mine - sk:mean()) <= math.max(4 * sk:std(), 0.015),
                 ("live forest R2 %.4f, scikit-learn %.4f +- %.4f"):format(mine, sk:mean(), sk:std()))
  else
    check.truthy(false, "live scikit-learn run failed")
  end
  os.execute("rm -rf " .. dir)
else
  print("live comparison skipped: no scikit-learn")
end

check.done()
