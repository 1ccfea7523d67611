-- tide.models: k nearest neighbours (knn_regressor, knn_classifier), brute
-- force over GEMM distance tiles or a KD-tree in C (runtime/models/knn.c,
-- knn_tree.c).  A fitted
-- model keeps a reference to the training X and y and the rows used (no
-- copy of the fold), plus the centre of the training rows and their
-- largest squared norm (the norms themselves are computed tile by tile as
-- a search reads the rows: 8 bytes a row saved in every worker).  Neighbours
-- are ordered by distance, ties by the lower training row (in the order of
-- `rows` when fitted on a subset).  Changing X or y after fit changes the
-- model: they are referenced, not copied.  knn_classifier's classes are
-- the sorted distinct labels in y's dtype, and predict gives that dtype.
local tide = require "tide"
local optmod = require "tide.opts"
return function(models)
  local K = tide._internal.models
  local check = models.check
  -- BLAS on one thread around the kernels, like the base methods (when the
  -- runtime has the guard: K.serial)
  local function serial() return K.serial and K.serial() or nil end

  local params = {
    {"k", 5, check.integer(1)},
    {"weights", "uniform", check.oneof("uniform", "distance")},
    {"algorithm", "auto", check.oneof("auto", "brute", "kd_tree")},
  }

  -- "auto": a KD-tree for few features, where it prunes well; brute force
  -- (GEMM tiles) above, where the tree visits most leaves anyway
  -- (measured here on uniform data: the tree wins up to 6 features, GEMM
  -- brute force with single-precision screening from about 7; scikit-learn,
  -- whose brute force is slower, draws the line at 15)
  local TREE_MAX_FEATURES = 6

  local function fit_common(self, X, y, opts, level)
    local centre, xmax2, n = K.knn_index(X, y, {rows = opts.rows, xmap = opts.xmap})
    self._xmap = opts.xmap   -- a pipeline's column map: training rows are read through it
    local rows = opts.rows
    if type(rows) == "table" and #rows > 0 then rows = tide.array(rows, "i64") end
    self._X, self._y, self._rows = X, y, rows
    self._centre, self._xmax2, self._norms = centre, xmax2, nil
    local algo = self._p.algorithm
    if algo == "auto" then
      algo = (X.shape[2] <= TREE_MAX_FEATURES and self._p.k < n / 2) and "kd_tree" or "brute"
    end
    self.algorithm_used = algo
    self._tree = algo == "kd_tree" and K.knn_tree(X, centre, {rows = rows, xmap = opts.xmap}) or nil
    self.n_samples_fit = n
    if self._p.k > n then
      error(string.format("%s: k = %d is more than the %d training rows", self._class.name,
                          self._p.k, n), level or 3)
    end
  end

  -- the index's third part: the largest squared norm, or the norms of a
  -- model dumped before they went (still read)
  local function norms_of(self) return self._xmax2 or self._norms end

  local function kopts(self, opts, extra)
    local t = {train_rows = self._rows, rows = opts.rows, k = self._p.k,
               distance = self._p.weights == "distance", tree = self._tree,
               train_xmap = self._xmap, xmap = opts.xmap or opts._xmap}
    for key, v in pairs(extra or {}) do t[key] = v end
    return t
  end

  -- m:kneighbors(X [, {rows =, k =}]) -> distances (n x k), indices (n x k,
  -- i64, 1-based row numbers of the training X).
  local function kneighbors(self, X, opts)
    if not self._fitted then error(self._class.name .. ": kneighbors before fit", 2) end
    if not tide.is_array(X) then
      error(string.format("%s: bad argument #1 to 'kneighbors' (X must be an array, got %s)",
                          self._class.name, type(X)), 2)
    end
    opts = optmod.check(opts, self._class.name .. ":kneighbors", {"rows", "k", "_xmap"}) or {}
    local k = opts.k or self._p.k
    if math.type(k) ~= "integer" or k < 1 then
      error(self._class.name .. ": option 'k' must be an integer >= 1", 2)
    end
    local blas <close> = serial()
    return K.knn_kneighbors(self._X, self._centre, norms_of(self), X,
                            {train_rows = self._rows, rows = opts.rows, k = k, tree = self._tree,
                             train_xmap = self._xmap, xmap = opts._xmap})
  end

  models.class("knn_regressor", {
    kind = "regressor",
    params = params,
    fitted = {"n_samples_fit", "algorithm_used"},
    mapped = true,
    fit = fit_common,
    predict = function(self, X, opts)
      return K.knn_regress(self._X, self._centre, norms_of(self), self._y, X, kopts(self, opts))
    end,
    methods = {kneighbors = kneighbors},
  })

  models.class("knn_classifier", {
    kind = "classifier",
    params = params,
    fitted = {"n_samples_fit", "classes", "algorithm_used"},
    mapped = true,
    fit = function(self, X, y, opts)
      fit_common(self, X, y, opts, 4)
      local classes = K.knn_classes(y, {rows = opts.rows})
      if #classes < 2 then
        error(string.format("knn_classifier: y has a single class (%s); a classifier needs at " ..
                            "least two", tostring(classes[1])), 3)
      end
      self.classes = classes
    end,
    predict = function(self, X, opts)
      return K.knn_classify(self._X, self._centre, norms_of(self), self._y, self.classes, X,
                            kopts(self, opts))
    end,
    methods = {
      kneighbors = kneighbors,
      -- m:predict_proba(X [, {rows}]) -> n x #classes (columns in the order of m.classes)
      predict_proba = function(self, X, opts)
        if not self._fitted then error("knn_classifier: predict_proba before fit", 2) end
        if not tide.is_array(X) then
          error("knn_classifier: bad argument #1 to 'predict_proba' (X must be an array)", 2)
        end
        optmod.check(opts, "knn_classifier:predict_proba", {"rows", "_xmap"})
        local blas <close> = serial()
        local _, P = K.knn_classify(self._X, self._centre, norms_of(self), self._y, self.classes,
                                    X, kopts(self, opts or {}, {proba = true}))
        return P
      end,
    },
  })
end
