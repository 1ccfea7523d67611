-- models_cluster.lua: kmeans and pca against scikit-learn fixtures
-- (tests/fixtures/make_models_cluster.py), rows =, parameters and errors,
-- results that do not depend on jobs, search, pipelines, models returned
-- from parallel tasks, no copy of X, and a live comparison when
-- /usr/bin/python3 has scikit-learn.
local check = require "check"
local M = tide.models
local FIX = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES not set") .. "/models/cluster/"
local function L(name) return tide.load(FIX .. name .. ".npy") end

local function flat(a) return a:reshape(a.size) end
local function maxrel(a, b)
  local worst, fa, fb = 0, flat(a), flat(b)
  if fa.size ~= fb.size then return math.huge end
  for i = 1, fa.size do
    local d = math.abs(fa[i] - fb[i]) / (1 + math.abs(fb[i]))
    if d > worst then worst = d end
  end
  return worst
end
local function same(a, b)
  local fa, fb = flat(a), flat(b)
  if fa.size ~= fb.size then return false end
  for i = 1, fa.size do if fa[i] ~= fb[i] then return false end end
  return true
end
-- labels equal up to a renaming of the clusters
local function same_partition(a, b)
  if #a ~= #b then return false end
  local ab, ba = {}, {}
  for i = 1, #a do
    local x, y = a[i], b[i]
    if (ab[x] and ab[x] ~= y) or (ba[y] and ba[y] ~= x) then return false end
    ab[x], ba[y] = y, x
  end
  return true
end
-- rows of a equal to rows of b up to the sign of each row
local function maxrel_sign(a, b)
  local worst = 0
  for i = 1, a.shape[1] do
    local s = a:get(i, 1) * b:get(i, 1) < 0 and -1 or 1
    worst = math.max(worst, maxrel(a[i] * s, b[i]))
  end
  return worst
end

------------------------------------------------------------------ k-means

-- blobs: the best of 10 runs is no worse than scikit-learn's best of 10;
-- well-separated clusters get scikit-learn's partition
for _, t in ipairs{{"b1", 4, true}, {"b2", 6, false}, {"b3", 3, true}} do
  local X = L(t[1] .. "_X")
  local m = M.kmeans{k = t[2]}:fit(X)
  local sk = L(t[1] .. "_inertia")[1]
  check.truthy(m.inertia <= sk * (1 + 1e-9),
               string.format("%s: inertia %.10g vs scikit-learn's %.10g", t[1], m.inertia, sk))
  if t[3] then
    check.truthy(same_partition(m.labels, L(t[1] .. "_labels")), t[1] .. ": the same clusters")
  end
  check.eq(m.labels.dtype, "i64", "labels are i64")
  check.eq(m.centers.shape[1], t[2], "k centres")
  check.eq(m.converged, true, "converged")
  check.truthy(m.labels:min() == 1 and m.labels:max() == t[2], "labels 1..k")
  check.truthy(same(m:fit_predict(X), m.labels), "fit_predict gives the labels")
  check.near(m:score(X), -m.inertia, 1e-12, "score: minus the inertia")
end

-- from given centres every step is determined: scikit-learn's centres,
-- labels, inertia and iterations (the stopping rules: strict, max_iter, tol)
local X, C0 = L"b2_X", L"g_init"
local cases = {full = {init = C0}, iter2 = {init = C0, max_iter = 2},
               tol = {init = X:slice(1, 1, 6):copy(), tol = 0.01},
               tol4 = {init = X:slice(1, 1, 6):copy()}}
for tag, prm in pairs(cases) do
  prm.k = 6
  local m = M.kmeans(prm):fit(X)
  check.truthy(maxrel(m.centers, L("g_" .. tag .. "_centers")) < 1e-10, tag .. ": centres")
  check.truthy(same(m.labels, L("g_" .. tag .. "_labels")), tag .. ": labels")
  check.near(m.inertia, L("g_" .. tag .. "_inertia")[1], 1e-10, tag .. ": inertia")
  check.eq(m.n_iter, L("g_" .. tag .. "_n_iter")[1], tag .. ": n_iter")
  check.eq(m.converged, tag ~= "iter2", tag .. ": converged")
end
local mg = M.kmeans{k = 6, init = C0}:fit(X)
local Q = L"g_Q"
check.truthy(same(mg:predict(Q), L"g_predict"), "predict")
check.truthy(maxrel(mg:transform(Q), L"g_transform") < 1e-10, "transform: distances")
check.near(mg:score(Q), L"g_score"[1], 1e-10, "score of new rows")
local pq = mg:predict(Q, {rows = {3, 1}})
check.eq(#pq, 2, "predict on rows")
check.eq(pq[1], L"g_predict"[3], "predict row 3")
check.eq(mg:transform(Q, {rows = tide.array({5}, "i64")}).shape[2], 6, "transform on rows")
-- an empty cluster after the first step takes the farthest row
local me = M.kmeans{k = 6, init = L"e_init"}:fit(X)
check.truthy(maxrel(me.centers, L"e_centers") < 1e-10, "empty cluster: centres")
check.truthy(same(me.labels, L"e_labels"), "empty cluster: labels")
check.eq(me.n_iter, L"e_n_iter"[1], "empty cluster: n_iter")

-- rows =: a fit on rows idx is a fit on X:take(idx); labels follow rows
local idx = L"s_idx"
local ms = M.kmeans{k = 6, init = C0}:fit(X, nil, {rows = idx})
check.truthy(maxrel(ms.centers, L"s_centers") < 1e-10, "rows: centres")
check.truthy(same(ms.labels, L"s_labels"), "rows: labels")
local mr = M.kmeans{k = 6}:fit(X, nil, {rows = idx})
check.truthy(mr.inertia <= L"s_inertia"[1] * (1 + 1e-9), "rows: inertia no worse")
local mt = M.kmeans{k = 6}:fit(X:take(idx))
check.truthy(same(mt.centers, mr.centers) and mt.inertia == mr.inertia,
             "rows: the same result as the copied rows")
local tidx = {}
for i = 1, #idx do tidx[i] = idx[i] end
check.truthy(same(M.kmeans{k = 6}:fit(X, nil, {rows = tidx}).centers, mr.centers),
             "rows as a table")
local mrs = M.kmeans{k = 6}:fit(X, nil, {rows = tide.rowset(1, 300)})
check.truthy(same(mrs.centers, M.kmeans{k = 6}:fit(X:slice(1, 1, 300):copy()).centers),
             "rows as a rowset")
check.near(mr:score(X, nil, {rows = idx}), -mr.inertia, 1e-12, "score on rows")

-- f32 and strided data
local m32 = M.kmeans{k = 6, init = C0}:fit(X:astype("f32"))
check.truthy(maxrel(m32.centers, L"g_full_centers") < 1e-5, "f32 data")
local mT = M.kmeans{k = 6, init = C0}:fit(X:t():copy():t())
check.truthy(maxrel(mT.centers, L"g_full_centers") < 1e-10, "strided X")

-- seeds: the result depends on seed only, never on jobs; init = "random"
local B = tide.randn({20000, 5}, {seed = 3}) + (tide.rand({20000, 1}, {seed = 4}) * 5):floor() * 3
local r1 = M.kmeans{k = 5, seed = 7, jobs = 1}:fit(B)
local r2 = M.kmeans{k = 5, seed = 7, jobs = 2}:fit(B)
check.truthy(same(r1.centers, r2.centers) and r1.inertia == r2.inertia and
             r1.n_iter == r2.n_iter, "the same seed: the same fit for jobs 1 and 2")
local r3 = M.kmeans{k = 5, seed = 8, n_init = 1}:fit(B)
local r4 = M.kmeans{k = 5, seed = 8, n_init = 1}:fit(B)
check.truthy(same(r3.centers, r4.centers), "n_init 1: the same seed, the same fit")
local rr = M.kmeans{k = 5, init = "random", seed = 2}:fit(B)
check.truthy(rr.inertia <= r1.inertia * 1.01, "random rows as seeds also find the blobs")

------------------------------------------------------------------------ PCA

local P, PQ = L"pt_X", L"pt_Q"
for tag, prm in pairs{all = {}, k3 = {n_components = 3}, f90 = {n_components = 0.9},
                      w3 = {n_components = 3, whiten = true}} do
  local p = M.pca(prm):fit(P)
  local W = L("pt_" .. tag .. "_components")
  check.eq(p.n_components, W.shape[1], tag .. ": n_components")
  check.truthy(maxrel_sign(p.components, W) < 1e-8, tag .. ": components up to sign")
  check.truthy(maxrel(p.components, W) < 1e-8, tag .. ": scikit-learn's signs")
  check.truthy(maxrel(p.explained_variance, L("pt_" .. tag .. "_ev")) < 1e-8, tag .. ": variance")
  check.truthy(maxrel(p.explained_variance_ratio, L("pt_" .. tag .. "_evr")) < 1e-8,
               tag .. ": variance ratio")
  check.truthy(maxrel(p.singular_values, L("pt_" .. tag .. "_sv")) < 1e-8, tag .. ": singular values")
  check.near(p.noise_variance, L("pt_" .. tag .. "_noise")[1], 1e-8, tag .. ": noise variance")
  check.truthy(maxrel(p.mean, L"pt_mean") < 1e-12, tag .. ": mean")
  local T = p:transform(PQ)
  check.truthy(maxrel(T, L("pt_" .. tag .. "_T")) < 1e-8, tag .. ": transform")
  check.truthy(maxrel(p:inverse_transform(T), L("pt_" .. tag .. "_inv")) < 1e-8,
               tag .. ": inverse_transform")
end
-- all components: inverse_transform(transform(X)) is X; fit_transform = fit + transform
for _, w in ipairs{false, true} do
  local p = M.pca{whiten = w}:fit(P)
  check.truthy(maxrel(p:inverse_transform(p:transform(P)), P) < 1e-10, "round trip, whiten " .. tostring(w))
  check.truthy(maxrel(M.pca{whiten = w}:fit_transform(P), p:transform(P)) < 1e-12, "fit_transform")
end
local pr = M.pca{n_components = 4}:fit(P, nil, {rows = L"pt_idx"})
check.truthy(maxrel(pr.components, L"pt_sub_components") < 1e-8, "rows: components")
check.truthy(maxrel(pr.explained_variance, L"pt_sub_ev") < 1e-8, "rows: variance")
check.eq(pr.n_samples, 120, "rows: n_samples")
check.eq(pr:transform(P, {rows = {1, 2, 3}}).shape[1], 3, "transform on rows")
-- wide data: the SVD path (the last direction, left by centring, has no variance)
local Wd = L"pw_X"
local pw = M.pca{}:fit(Wd)
check.eq(pw.n_components, 20, "wide: min(rows, features) components")
check.truthy(maxrel(pw.components:slice(1, 1, 19), L"pw_components":slice(1, 1, 19)) < 1e-8,
             "wide: components")
check.truthy(maxrel(pw.explained_variance, L"pw_ev") < 1e-8, "wide: variance")
check.truthy(maxrel(pw.explained_variance_ratio, L"pw_evr") < 1e-8, "wide: ratio")
check.truthy(maxrel(M.pca{n_components = 5, whiten = true}:fit(Wd):transform(Wd), L"pw_w5_T") < 1e-8,
             "wide: whitened transform")

------------------------------------------------------ parameters and errors

local k = M.kmeans{k = 3, n_init = 2}
check.eq(k:params().k, 3, "params k")
check.eq(k:params().seed, 0, "seed defaults to 0")
check.eq(k:clone():params().n_init, 2, "clone keeps params")
check.eq(k:clone():is_fitted(), false, "clone is unfitted")
check.truthy(tostring(k):find("k=3", 1, true), "describe")
check.truthy(tostring(M.kmeans{k = 6, init = C0}):find("init=<6x5 array>", 1, true),
             "describe shows an init array by its shape")
check.eq(k:set{tol = 0}:params().tol, 0, "set")
local pc = M.pca{n_components = 0.95}
check.eq(pc:clone():params().n_components, 0.95, "pca clone")
check.eq(M.pca{}:params().whiten, false, "whiten defaults to false")

check.errors(function() M.kmeans{k = 0} end, "parameter 'k' must be >= 1")
check.errors(function() M.kmeans{n_init = 0} end, "parameter 'n_init' must be >= 1")
check.errors(function() M.kmeans{max_iter = 1.5} end, "parameter 'max_iter' must be an integer")
check.errors(function() M.kmeans{tol = -1} end, "parameter 'tol' must be >= 0")
check.errors(function() M.kmeans{init = "kmeans++"} end, '"k-means++", "random" or a k x')
check.errors(function() M.kmeans{k = 3, init = C0} end, "init has 6 centres but k = 3")
check.errors(function() M.kmeans{n_clusters = 3} end, "unknown parameter 'n_clusters'")
check.errors(function() M.kmeans{jobs = 0} end, "parameter 'jobs' must be >= 1")
check.errors(function() M.kmeans{}:predict(X) end, "predict before fit")
check.errors(function() M.kmeans{}:score(X) end, "score before fit")
check.errors(function() M.kmeans{k = 301}:fit(X:slice(1, 1, 300)) end, "k = 301 is more than the 300 rows")
check.errors(function() M.kmeans{k = 6, init = C0:slice(2, 1, 2):copy()}:fit(X) end,
             "init has 2 features but X has 5")
check.errors(function() M.kmeans{}:fit(X:col(1)) end, "X must be 2-dimensional")
check.errors(function() M.kmeans{}:fit(tide.zeros(10, 0)) end, "X has no features")
local Xn = X:copy(); Xn:set(4, 2, 0 / 0)
check.errors(function() M.kmeans{}:fit(Xn) end, "X holds NaN")
check.errors(function() M.kmeans{}:fit(X, nil, {rows = {1, 501}}) end, "outside 1..500")
check.errors(function() mg:predict(tide.zeros(3, 4)) end, "X has 4 features, but the model was fitted on 5")
check.errors(function() mg:transform(tide.zeros(3, 4)) end, "X has 4 features")
check.errors(function() mg:score(Xn) end, "X holds NaN")
check.errors(function() M.pca{n_components = 0} end, "parameter 'n_components' must be nil (all)")
check.errors(function() M.pca{n_components = 1.0} end, "a fraction in (0, 1)")
check.errors(function() M.pca{n_components = "mle"} end, "an integer >= 1")
check.errors(function() M.pca{whiten = 1} end, "parameter 'whiten' must be true or false")
check.errors(function() M.pca{n_components = 7}:fit(P) end,
             "n_components = 7 must be at most min(rows, features) = 6")
check.errors(function() M.pca{}:fit(P, nil, {rows = {3}}) end, "at least 2 rows")
check.errors(function() M.pca{}:transform(P) end, "transform before fit")
check.errors(function() M.pca{}:fit(P):transform(tide.zeros(2, 3)) end, "X has 3 features")
check.errors(function() M.pca{n_components = 2}:fit(P):inverse_transform(tide.zeros(2, 3)) end,
             "expected rows of 2 components")
check.errors(function() M.pca{}:fit(Xn) end, "X holds NaN")

------------------------------------------- search, pipelines, parallel tasks

-- k-means in a search, scored by its score (minus the inertia): no y
local s = tide.search{model = M.kmeans{n_init = 2}, grid = {k = {2, 4, 6}}, X = X, cv = 3, jobs = 2}
check.eq(s.best_params.k, 6, "search: more clusters, lower inertia")
check.truthy(s.best_score < 0, "search: scores are minus the inertia")
check.truthy(s.best_model and s.best_model.centers.shape[1] == 6, "search: refit without y")
check.errors(function() tide.search{model = M.ridge{}, grid = {alpha = {1}}, X = X, cv = 2} end,
             "'y' must be an array")
-- PCA as a step before a regressor, in a search over its component count
local y = P:col(1) * 2 + P:col(5) * 1e-4
local pipe = tide.pipeline{M.pca{n_components = 3}, M.ridge{alpha = 1e-6}}:fit(P, y)
local pp = M.pca{n_components = 3}:fit(P)
local rg = M.ridge{alpha = 1e-6}:fit(pp:transform(P), y)
check.truthy(maxrel(pipe:predict(PQ), rg:predict(pp:transform(PQ))) < 1e-10, "pipeline pca, ridge")
local sp = tide.search{model = tide.pipeline{M.pca{}, M.ridge{alpha = 1e-6}},
                       grid = {["pca.n_components"] = {1, 6}}, X = P, y = y, cv = 3, jobs = 2}
check.eq(sp.best_params["pca.n_components"], 6, "search over the pca step")
-- k-means after a scaler: the pipeline's score is the k-means score
local sc = M.standard_scaler{}:fit(X)
local pk = tide.pipeline{M.standard_scaler{}, M.kmeans{k = 6}}:fit(X)
check.near(pk:score(X), pk.steps[2]:score(sc:transform(X)), 1e-12, "pipeline score: k-means'")
check.truthy(same(pk:predict(X), pk.steps[2].labels), "pipeline predict: labels")
-- k-means as a transformer step (distances to the centres) before a regressor
local pkr = tide.pipeline{M.kmeans{k = 6}, M.ridge{}}:fit(X, X:col(1):copy())
check.eq(#pkr:predict(X), 500, "k-means distances as features")

-- fitted models returned from parallel tasks arrive whole
local Xs = tide.zeros({500, 5}, {shared = true}); Xs:assign_(X)
local got = tide.collect(function(i)
  if i == 1 then return M.kmeans{k = 6, init = C0}:fit(Xs, nil, {rows = idx}) end
  return M.pca{n_components = 2}:fit(Xs)
end, 2, {jobs = 2})
check.eq(getmetatable(got[1]), getmetatable(M.kmeans{}), "kmeans survives the codec")
check.truthy(same(got[1]:predict(Q), ms:predict(Q)), "kmeans from a task predicts the same")
check.truthy(maxrel(got[2]:transform(X), M.pca{n_components = 2}:fit(X):transform(X)) < 1e-12,
             "pca from a task transforms the same")

-- no copy of the fold: fits on half of a 32 MB X grow the peak by their
-- labels and buffers, not by a 16 MB copy.  Skipped under sanitizers.
if os.getenv("TIDE_SANITIZE") ~= "ON" then
  local big = tide.rand({400000, 10}, {seed = 3})
  local half = tide.arange(1, 400001, 2)
  local grew = check.peak_growth_mb(function()
    return M.kmeans{k = 4, n_init = 1, max_iter = 5}:fit(big, nil, {rows = half})
  end)
  if grew then
    check.truthy(grew < 8, string.format("kmeans on 200k rows grew the peak by %.1f MB", grew))
  end
  grew = check.peak_growth_mb(function() return M.pca{}:fit(big, nil, {rows = half}) end)
  if grew then
    check.truthy(grew < 4, string.format("pca on 200k rows grew the peak by %.1f MB", grew))
  end
end

-- live comparison on fresh data when scikit-learn is there
local py = "/usr/bin/python3"
if os.execute(py .. " -c 'import sklearn' 2>/dev/null") then
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  local Xr = tide.randn({3000, 4}, {seed = 21}) + (tide.rand({3000, 1}, {seed = 22}) * 4):floor() * 6
  local Pr = tide.randn({2000, 7}, {seed = 23}) * tide.array({{3, 2, 1.5, 1, 0.7, 0.4, 0.2}})
  tide.save(dir .. "/X.npy", Xr); tide.save(dir .. "/P.npy", Pr)
  local script = ([[
import numpy as np, warnings
warnings.simplefilter("ignore")
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
d = "%s"
X, P = np.load(d + "/X.npy"), np.load(d + "/P.npy")
m = KMeans(n_clusters=4, n_init=10, random_state=0).fit(X[1::2])
np.save(d + "/inertia.npy", np.array([m.inertia_]))
np.save(d + "/labels.npy", m.labels_ + 1)
p = PCA(n_components=5, svd_solver="full").fit(P[1::2])
np.save(d + "/comp.npy", p.components_)
np.save(d + "/ev.npy", p.explained_variance_)
]]):format(dir)
  local f = io.open(dir .. "/run.py", "w"); f:write(script); f:close()
  if os.execute("OMP_NUM_THREADS=1 " .. py .. " " .. dir .. "/run.py") then
    local odd = tide.arange(2, 3001, 2)
    local mk = M.kmeans{k = 4}:fit(Xr, nil, {rows = odd})
    local sk = tide.load(dir .. "/inertia.npy")[1]
    check.truthy(mk.inertia <= sk * (1 + 1e-9), string.format("live: inertia %.10g vs %.10g", mk.inertia, sk))
    check.truthy(same_partition(mk.labels, tide.load(dir .. "/labels.npy")), "live: the same clusters")
    local pk5 = M.pca{n_components = 5}:fit(Pr, nil, {rows = tide.arange(2, 2001, 2)})
    check.truthy(maxrel(pk5.components, tide.load(dir .. "/comp.npy")) < 1e-8, "live: components")
    check.truthy(maxrel(pk5.explained_variance, tide.load(dir .. "/ev.npy")) < 1e-8, "live: variance")
  else
    check.truthy(false, "live scikit-learn run failed")
  end
  os.execute("rm -rf " .. dir)
else
  print("live comparison skipped: no scikit-learn")
end

check.done()
