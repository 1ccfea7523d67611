-- tide.models: k-means (kmeans) and principal components (pca), the
-- unsupervised models.  Both fit through blocked row gathers in C
-- (runtime/models/kmeans.c, pca.c), so a fit on `rows =` copies nothing;
-- y is ignored (pass nil: m:fit(X, nil, {rows = idx})).
local tide = require "tide"
local optmod = require "tide.opts"
return function(models)
  local K = tide._internal.models
  local check = models.check
  local function serial() return K.serial and K.serial() or nil end -- see models_knn.lua

  local function need_fit(self, what)
    if not self._fitted then error(self._class.name .. ": " .. what .. " before fit", 3) end
  end
  local function check_X(self, X, what)
    if not tide.is_array(X) then
      error(string.format("%s: bad argument #1 to '%s' (X must be an array, got %s)",
                          self._class.name, what, type(X)), 3)
    end
  end

  ------------------------------------------------------------------ k-means

  local function check_init(v)
    if v == "k-means++" or v == "random" then return end
    if tide.is_array(v) and v.ndim == 2 then return end
    return 'must be "k-means++", "random" or a k x features array of starting centres'
  end

  -- Work below this (rows x features x k x runs) runs its runs in-process:
  -- forking workers would cost more than the runs.
  local SMALL = 4e6

  -- kmeans{k = 8, init = "k-means++", n_init = 10, max_iter = 300, tol =
  -- 1e-4, seed = 0, jobs = nil}: the n_init runs are tasks of a parallel
  -- loop (`jobs` workers), run r seeded by tide.rng(seed, r), so the result
  -- depends on seed only; the lowest inertia wins (the first run on ties).
  -- tol is scikit-learn's: relative to the mean column variance, against
  -- the sum of squared centre shifts.  Fitted: centers (k x p), labels
  -- (i64, 1-based cluster of each row used), inertia, n_iter, converged.
  models.class("kmeans", {
    kind = "clusterer",
    params = {
      {"k", 8, check.integer(1)},
      {"init", "k-means++", check_init},
      {"n_init", 10, check.integer(1)},
      {"max_iter", 300, check.integer(1)},
      {"tol", 1e-4, check.number(0)},
      {"seed", 0, check.integer()},
      {"jobs", nil, check.integer(1)},
    },
    check_all = function(p)
      if tide.is_array(p.init) and p.init.shape[1] ~= p.k then
        return string.format("init has %d centres but k = %d", p.init.shape[1], p.k)
      end
    end,
    fitted = {"centers", "labels", "inertia", "n_iter", "converged"},
    fit = function(self, X, _, opts)
      local p = self._p
      local nf = X.ndim == 2 and X.shape[2] or 0
      if X.ndim == 2 and nf == 0 then error("kmeans: X has no features", 3) end
      local rows = opts.rows
      local mean, var, _, _, n = K.scale_stats(X, {rows = rows}) -- checks X and the rows
      if p.k > n then
        error(string.format("kmeans: k = %d is more than the %d rows", p.k, n), 3)
      end
      local init, n_init = nil, p.n_init
      if tide.is_array(p.init) then
        if p.init.shape[2] ~= nf then
          error(string.format("kmeans: init has %d features but X has %d", p.init.shape[2], nf), 3)
        end
        init, n_init = p.init:astype("f64"), 1 -- scikit-learn runs given centres once
      end
      local o = {rows = rows, k = p.k, max_iter = p.max_iter, init = init,
                 tol = p.tol > 0 and p.tol * var:mean() or 0, random = p.init == "random"}
      local seed = p.seed
      local function run(r)
        local c, inertia, n_iter, conv = K.kmeans_run(X, mean, tide.rng(seed, r), o)
        return {c, inertia, n_iter, conv}
      end
      local small = n * nf * p.k * n_init < SMALL or n_init == 1
      local res = tide.collect(run, n_init, {jobs = p.jobs, chunk = 1,
                                            backend = small and "serial" or nil})
      local best = 1
      for r = 2, n_init do if res[r][2] < res[best][2] then best = r end end
      local b = res[best]
      self.centers, self.n_iter, self.converged = b[1], b[3], b[4]
      self._mean = mean
      self.labels, self.inertia = K.kmeans_assign(X, b[1], mean, {rows = rows, fname = "fit"})
      if not b[4] then
        tide._internal.log(string.format("tide: kmeans did not converge after %d iterations " ..
                                      "(the best of %d runs)\n", b[3], n_init))
      end
    end,
    -- labels (i64, 1-based) of the nearest centre
    predict = function(self, X, opts)
      return (K.kmeans_assign(X, self.centers, self._mean, {rows = opts.rows}))
    end,
    -- euclidean distances to every centre (rows x k)
    transform = function(self, X, opts)
      return K.kmeans_distances(X, self.centers, {rows = opts.rows})
    end,
    methods = {
      -- m:fit_predict(X [, y, {rows}]) -> m.labels
      fit_predict = function(self, X, y, opts) return self:fit(X, y, opts).labels end,
      -- m:score(X [, y, {rows}]): minus the inertia of the rows with the
      -- fitted centres (scikit-learn's: greater is better)
      score = function(self, X, _, opts)
        need_fit(self, "score")
        check_X(self, X, "score")
        optmod.check(opts, "kmeans:score", {"rows"}, 2)
        local blas <close> = serial()
        local _, inertia = K.kmeans_assign(X, self.centers, self._mean,
                                           {rows = (opts or {}).rows, fname = "score"})
        return -inertia
      end,
    },
  })

  ---------------------------------------------------------------------- PCA

  local function check_ncomp(v)
    if math.type(v) == "integer" and v >= 1 then return end
    if math.type(v) == "float" and v > 0 and v < 1 then return end
    return "must be nil (all), an integer >= 1 or a fraction in (0, 1) of the variance to " ..
           "keep, got " .. tostring(v)
  end

  -- pca{n_components = nil, whiten = false}: n_components an integer, a
  -- fraction of the variance to keep, or nil (min(rows, features)).
  -- Fitted: components (n_components x p), explained_variance,
  -- explained_variance_ratio, singular_values, mean, n_components,
  -- noise_variance, n_samples.
  -- whitening divides each component by its standard deviation
  local function scale(self)
    return self._p.whiten and self.explained_variance:sqrt() or nil
  end

  models.class("pca", {
    kind = "transformer",
    params = {{"n_components", nil, check_ncomp}, {"whiten", false, check.boolean}},
    fitted = {"components", "explained_variance", "explained_variance_ratio",
              "singular_values", "mean", "n_components", "noise_variance", "n_samples"},
    fit = function(self, X, _, opts)
      local nc = self._p.n_components
      local f = K.pca_fit(X, {rows = opts.rows, keep = math.type(nc) == "integer" and nc or 0,
                              fraction = math.type(nc) == "float" and nc or 0})
      for _, k in ipairs(self._class.spec.fitted) do self[k] = f[k] end
    end,
    transform = function(self, X, opts)
      return K.pca_transform(X, self.mean, self.components, {rows = opts.rows,
                             scale = scale(self)})
    end,
    methods = {
      -- rows of Z (n_components columns) back in the feature space
      inverse_transform = function(self, Z, opts)
        need_fit(self, "inverse_transform")
        check_X(self, Z, "inverse_transform")
        optmod.check(opts, "pca:inverse_transform", {"rows"}, 2)
        local blas <close> = serial()
        return K.pca_inverse(Z, self.mean, self.components, {rows = (opts or {}).rows,
                             scale = scale(self)})
      end,
    },
  })
end
