-- bench/fits_cluster.lua: k-means of 1,000,000 x 10 (eight Gaussian blobs
-- shifted along the diagonal, the peers' data: N(0, 1) + 2 * (0..7)), k =
-- 8, n_init = 10, its runs on 2 workers; PCA of 1,000,000 x 50 (N(0, 1)),
-- all components and 10.  One fit each (they take seconds).  Compare with
-- bench/fits_cluster_sklearn.py (KMeans, PCA on 2 threads).  With
-- TIDE_FITS_DATA=<dir> the data and tide's results are saved there, so the
-- scikit-learn script fits the same data and checks equal inertia (0.1%)
-- and explained variance (1e-8).
-- usage: tide bench/fits_cluster.lua [json-out]
local out = arg and arg[1]
local f = out and io.open(out, "a")
local share = os.getenv("TIDE_FITS_DATA")
local N = math.tointeger(tonumber(os.getenv("CLUSTER_BENCH_ROWS"))) or 1000000 -- smaller: a quick check
local R = N % 1000000 == 0 and (N // 1000000) .. "M" or (N // 1000) .. "k"

local function record(name, secs, what, value)
  print(string.format("cluster  tide    %-26s %7.3f s  %s %.10g", name, secs, what, value))
  if f then
    f:write(string.format('{"bench":"cluster","impl":"tide","what":"%s","value":%.6g,"unit":"s",'
                          .. '"%s":%.12g}\n', name, secs, what, value))
  end
end

local function timed(fn)
  local t0 = tide.now()
  local r = fn()
  return tide.now() - t0, r
end

-- k-means
local X = tide.randn({N, 10}, {seed = 1}) + (tide.rand({N, 1}, {seed = 2}) * 8):floor() * 2
if share then tide.save(share .. "/blobs_X.npy", X) end
local secs, m = timed(function()
  return tide.models.kmeans{k = 8, n_init = 10, seed = 0, jobs = 2}:fit(X)
end)
record("kmeans " .. R .. " x 10 k8 n_init10", secs, "inertia", m.inertia)
if share then tide.save(share .. "/kmeans_inertia.npy", tide.array({m.inertia})) end
X, m = nil, nil
collectgarbage()

-- PCA
local P = tide.randn({N, 50}, {seed = 3})
if share then tide.save(share .. "/pca_X.npy", P) end
local secs2, p = timed(function() return tide.models.pca{}:fit(P) end)
record("pca " .. R .. " x 50 all", secs2, "ev[1]", p.explained_variance[1])
if share then tide.save(share .. "/pca_ev.npy", p.explained_variance) end
local secs3, p10 = timed(function() return tide.models.pca{n_components = 10}:fit(P) end)
record("pca " .. R .. " x 50 10 comps", secs3, "evr[1]", p10.explained_variance_ratio[1])
if f then f:close() end
