-- tide.models: decision trees and random forests (decision_tree_classifier,
-- decision_tree_regressor, random_forest_classifier,
-- random_forest_regressor), scikit-learn's estimators with their names and
-- defaults.  Trees are grown in C (runtime/models/tree.c): the exact best
-- split at every node, as scikit-learn's splitter="best", or with max_bins
-- the best bin boundary (a histogram tree).  A forest's trees are tasks of
-- a parallel loop over the shared X: tree t draws its bootstrap sample
-- from tide.rng(seed, t), so the same seed gives the same forest for every
-- jobs, and a fitted forest comes back whole from a task.
--
-- Fitted fields of a tree:
--   nodes               the tree: a u8 array of 16-byte nodes (+ the leaves'
--                       class fractions for classifiers), one block
--   n_nodes, n_leaves, depth
--   feature_importances impurity decrease per feature, normalized to sum 1
--   classes             classifiers: the sorted labels, in y's dtype
--   m:tree()            scikit-learn's tree_ arrays (1-based numbering)
-- of a forest: estimators (its fitted trees), feature_importances,
-- classes, and with oob_score = true, oob_score and oob_prediction
-- (regressors) or oob_decision_function (classifiers).
local tide = require "tide"
local optmod = require "tide.opts"
return function(models)
  local K = tide._internal.models
  local check = models.check

  local function fail(name, level, fmt, ...)
    error(name .. ": " .. string.format(fmt, ...), level + 1)
  end

  -- Parameter checks (nil or false mean "none" where scikit-learn has None).
  local function depth_check(v)
    if v == nil or v == false then return end
    if math.type(v) ~= "integer" or v < 1 then
      return "must be an integer >= 1, or false for no limit"
    end
  end
  local function split_check(v)
    if math.type(v) == "integer" then
      if v < 2 then return "must be an integer >= 2 or a fraction in (0, 1]" end
    elseif math.type(v) == "float" then
      if not (v > 0 and v <= 1) then return "must be an integer >= 2 or a fraction in (0, 1]" end
    else
      return "must be an integer >= 2 or a fraction in (0, 1]"
    end
  end
  local function leaf_check(v)
    if math.type(v) == "integer" then
      if v < 1 then return "must be an integer >= 1 or a fraction in (0, 1)" end
    elseif math.type(v) == "float" then
      if not (v > 0 and v < 1) then return "must be an integer >= 1 or a fraction in (0, 1)" end
    else
      return "must be an integer >= 1 or a fraction in (0, 1)"
    end
  end
  local function features_check(v)
    if v == nil or v == false or v == "sqrt" or v == "log2" then return end
    if math.type(v) == "integer" then
      if v < 1 then return "must be >= 1" end
      return
    end
    if math.type(v) == "float" and v > 0 and v <= 1 then return end
    return "must be an integer >= 1, a fraction in (0, 1], \"sqrt\", \"log2\", or false for all"
  end
  local function samples_check(v)
    if v == nil or v == false then return end
    if math.type(v) == "integer" then
      if v < 1 then return "must be an integer >= 1 or a fraction in (0, 1]" end
      return
    end
    if math.type(v) == "float" and v > 0 and v <= 1 then return end
    return "must be an integer >= 1, a fraction in (0, 1], or false for all rows"
  end
  local function bins_check(v)
    if v == nil or v == false then return end
    if math.type(v) ~= "integer" or v < 2 or v > 256 then
      return "must be an integer between 2 and 256, or false for exact splits"
    end
  end
  local function jobs_check(v)
    if v == nil then return end
    if math.type(v) ~= "integer" or v == 0 then return "must be a non-zero integer" end
  end

  local function tree_params(classifier)
    return {
      {"criterion", classifier and "gini" or "squared_error",
       classifier and check.oneof("gini", "entropy", "log_loss") or check.oneof("squared_error")},
      {"max_depth", nil, depth_check},
      {"min_samples_split", 2, split_check},
      {"min_samples_leaf", 1, leaf_check},
      {"max_features", nil, features_check},
      {"min_impurity_decrease", 0.0, check.number(0)},
      {"max_bins", nil, bins_check},
      {"seed", 0, check.integer()},
    }
  end

  -- The kernel's options for n rows of p features; data-dependent checks.
  local function kernel_opts(self, n, p, level)
    local q, name = self._p, self._class.name
    local mf = q.max_features
    if mf == nil or mf == false then mf = p
    elseif mf == "sqrt" then mf = math.max(1, math.floor(math.sqrt(p)))
    elseif mf == "log2" then mf = math.max(1, math.floor(math.log(p, 2)))
    elseif math.type(mf) == "float" then mf = math.max(1, math.floor(mf * p))
    elseif mf > p then
      fail(name, level + 1, "max_features = %d is more than the %d features of X", mf, p)
    end
    local mss, msl = q.min_samples_split, q.min_samples_leaf
    if math.type(mss) == "float" then mss = math.max(2, math.ceil(mss * n)) end
    if math.type(msl) == "float" then msl = math.max(1, math.ceil(msl * n)) end
    mss = math.max(mss, 2 * msl)
    return {criterion = q.criterion, max_depth = q.max_depth or 0, min_samples_split = mss,
            min_samples_leaf = msl, max_features = mf,
            min_impurity_decrease = q.min_impurity_decrease, exact = not q.max_bins,
            seed = q.seed}
  end

  local function as_rows(rows)
    if type(rows) == "table" then return tide.array(rows, "i64") end
    return rows
  end

  local function nrows(X, rows)
    if rows then return #rows end
    return X.shape[1]
  end

  -- Installs a kernel's fitted tree r into model m.
  local function install(m, r, classes)
    m.nodes, m.n_nodes, m.n_leaves, m.depth = r.nodes, r.n_nodes, r.n_leaves, r.depth
    m.feature_importances = r.importances
    if classes then m.classes, m.n_classes = classes, #classes end
  end

  local function ready(self, X, what, level)
    if not self._fitted then fail(self._class.name, level + 1, "%s before fit", what) end
    if not tide.is_array(X) then
      fail(self._class.name, level + 1, "bad argument #1 to '%s' (X must be an array, got %s)",
           what, type(X))
    end
  end

  ---------------------------------------------------------------- trees

  local function tree_fit(classifier)
    return function(self, X, y, opts)
      if not tide.is_array(X) or X.ndim ~= 2 then
        fail(self._class.name, 3, "bad argument #1 to 'fit' (X must be 2-dimensional)")
      end
      local rows = as_rows(opts.rows)
      local n = nrows(X, rows)
      local ko = kernel_opts(self, n, X.shape[2], 3)
      local codes = K.tree_bins(X, y, {rows = rows, max_bins = self._p.max_bins or 256})
      local classes
      if classifier then
        classes = K.tree_classes(y, {rows = rows, name = self._class.name})
        ko.classes = classes
      end
      ko.rows = rows
      install(self, K.tree_fit(X, y, codes, ko), classes)
    end
  end

  local function tree_predict(self, X, opts, mode)
    if opts ~= nil and type(opts) ~= "table" then fail(self._class.name, 3, "options must be a table") end
    opts = opts or {}
    return K.tree_predict({self}, X, {rows = opts.rows, n_features = self.n_features,
                                      classes = self.classes, mode = mode})
  end

  local tree_methods = {
    -- scikit-learn's tree_ arrays: feature (1-based, 0 at leaves),
    -- threshold (NaN at leaves), children_left / children_right (1-based
    -- node numbers, 0 at leaves), value (leaves: the prediction or class
    -- fractions; NaN at internal nodes).
    tree = function(self)
      if not self._fitted then fail(self._class.name, 2, "tree before fit") end
      return K.tree_arrays(self, self.classes and #self.classes or 0)
    end,
    get_depth = function(self) return self.depth end,
    get_n_leaves = function(self) return self.n_leaves end,
  }

  local fitted = {"nodes", "n_nodes", "n_leaves", "depth", "feature_importances"}

  models.class("decision_tree_regressor", {
    kind = "regressor",
    params = tree_params(false),
    fitted = fitted,
    fit = tree_fit(false),
    predict = function(self, X, opts) return tree_predict(self, X, opts, "value") end,
    methods = tree_methods,
  })

  local cmethods = {}
  for k, v in pairs(tree_methods) do cmethods[k] = v end
  -- n x #classes class fractions of the leaf reached, columns in the order of m.classes
  cmethods.predict_proba = function(self, X, opts)
    ready(self, X, "predict_proba", 2)
    optmod.check(opts, self._class.name .. ":predict_proba", {"rows"}, 2)
    return tree_predict(self, X, opts, "proba")
  end

  models.class("decision_tree_classifier", {
    kind = "classifier",
    params = tree_params(true),
    fitted = {"nodes", "n_nodes", "n_leaves", "depth", "feature_importances", "classes",
              "n_classes"},
    fit = tree_fit(true),
    predict = function(self, X, opts) return tree_predict(self, X, opts, "class") end,
    methods = cmethods,
  })

  --------------------------------------------------------------- forests

  local function forest_params(classifier)
    local ps = {{"n_estimators", 100, check.integer(1)}}
    for _, p in ipairs(tree_params(classifier)) do
      if p[1] == "max_features" then p[2] = classifier and "sqrt" or 1.0 end
      if p[1] ~= "seed" then ps[#ps + 1] = p end
    end
    ps[#ps + 1] = {"bootstrap", true, check.boolean}
    ps[#ps + 1] = {"max_samples", nil, samples_check}
    ps[#ps + 1] = {"oob_score", false, check.boolean}
    ps[#ps + 1] = {"seed", 0, check.integer()}
    ps[#ps + 1] = {"jobs", nil, jobs_check}
    return ps
  end

  local function forest_check_all(p)
    if not p.bootstrap and p.oob_score then
      return "oob_score needs bootstrap = true (out-of-bag rows exist only for bootstrap samples)"
    end
    if not p.bootstrap and p.max_samples then
      return "max_samples needs bootstrap = true"
    end
  end

  -- A forest predicts over blocks of rows in parallel (tide.pfor) from
  -- this many rows and rows x trees (tuning knobs; tests lower them).
  models.forest_parallel_rows, models.forest_parallel_work = 4096, 2000000

  local function block_rows(rows, a, b)
    if rows == nil then return tide.rowset(a, b) end
    return rows:slice(1, a, b)
  end

  -- Predictions of all trees for the rows of X (mode as K.tree_predict),
  -- over blocks of rows in parallel for large work.
  local function forest_predict(self, X, opts, mode)
    if opts ~= nil and type(opts) ~= "table" then fail(self._class.name, 3, "options must be a table") end
    opts = opts or {}
    local rows = as_rows(opts.rows)
    local kopts = {n_features = self.n_features, classes = self.classes, mode = mode}
    local trees = self.estimators
    local n = nrows(X, rows)
    local jobs = self._p.jobs or tide.config.jobs
    if X.ndim ~= 2 or n < models.forest_parallel_rows or n * #trees < models.forest_parallel_work
       or jobs == 1 or tide.in_worker() then
      kopts.rows = rows
      return K.tree_predict(trees, X, kopts)
    end
    K.tree_check(X, {rows = rows}) -- bad values are the script's error, not a task's
    local k = self.classes and #self.classes or 0
    local out
    if mode == "proba" then
      out = tide.zeros({n, k}, {shared = true})
    elseif mode == "class" then
      out = tide.zeros(n, {dtype = self.classes.dtype, shared = true})
    else
      out = tide.zeros(n, {shared = true})
    end
    local nb = math.max(2, math.min(64, n // models.forest_parallel_rows))
    local size = (n + nb - 1) // nb
    tide.pfor(nb, function(i)
      local a, b = (i - 1) * size + 1, math.min(i * size, n)
      if a > b then return end
      local o = {n_features = kopts.n_features, classes = kopts.classes, mode = mode,
                 rows = block_rows(rows, a, b)}
      out:slice(1, a, b):assign_(K.tree_predict(trees, X, o))
    end, {jobs = self._p.jobs})
    return out
  end

  -- Out-of-bag sums in groups of trees (a fixed grouping: the same sums
  -- for every jobs), in parallel when there is work for it.
  local function oob_sums(self, X, rows, n, n_draw, classes)
    local trees, T = self.estimators, #self.estimators
    local G = math.min(T, 8)
    local function group(g)
      local sub, streams = {}, {}
      for t = g, T, G do
        sub[#sub + 1] = trees[t]
        streams[#streams + 1] = t
      end
      return table.pack(K.tree_oob(sub, X, {rows = rows, classes = classes, seed = self._p.seed,
                                            streams = streams, n_draw = n_draw}))
    end
    local parts
    if n * T >= models.forest_parallel_work and (self._p.jobs or tide.config.jobs) ~= 1
       and not tide.in_worker() then
      parts = tide.collect(group, G, {jobs = self._p.jobs})
    else
      parts = {}
      for g = 1, G do parts[g] = group(g) end
    end
    local S, N = parts[1][1], parts[1][2]
    for g = 2, G do
      S:add_(parts[g][1])
      N:add_(parts[g][2])
    end
    return S, N
  end

  -- Python's round(): halves go to the even neighbour.
  local function round_even(x)
    local f = math.floor(x)
    local d = x - f
    if d > 0.5 or (d == 0.5 and f % 2 == 1) then f = f + 1 end
    return math.tointeger(f) or f
  end

  local function forest_fit(classifier)
    local tree_class = classifier and "decision_tree_classifier" or "decision_tree_regressor"
    return function(self, X, y, opts)
      local q, name = self._p, self._class.name
      if not tide.is_array(X) or X.ndim ~= 2 then
        fail(name, 3, "bad argument #1 to 'fit' (X must be 2-dimensional)")
      end
      local rows = as_rows(opts.rows)
      local n = nrows(X, rows)
      local ko = kernel_opts(self, n, X.shape[2], 3)
      local n_draw = 0
      if q.bootstrap then
        local ms = q.max_samples
        if ms == nil or ms == false then n_draw = n
        elseif math.type(ms) == "float" then n_draw = math.max(1, round_even(ms * n))
        elseif ms > n then fail(name, 3, "max_samples = %d is more than the %d rows", ms, n)
        else n_draw = ms end
      end
      ko.n_draw, ko.count_rows, ko.rows = n_draw, true, rows
      local codes = K.tree_bins(X, y, {rows = rows, max_bins = q.max_bins or 256})
      local classes
      if classifier then
        classes = K.tree_classes(y, {rows = rows, name = name})
        ko.classes = classes
      end
      local got = tide.collect(function(t) return K.tree_fit(X, y, codes, ko, t) end,
                               q.n_estimators, {jobs = q.jobs})
      local tp = {}
      for _, p in ipairs(self._class.spec.tree_param_names) do tp[p] = q[p] end
      local trees, imp, used = {}, nil, 0
      for t, r in ipairs(got) do
        local m = models[tree_class](tp)
        install(m, r, classes)
        m._fitted, m.n_features = true, X.shape[2]
        trees[t] = m
        if r.n_nodes > 1 then -- scikit-learn leaves single-leaf trees out of the mean
          imp = imp and imp:add_(r.importances) or r.importances:copy()
          used = used + 1
        end
      end
      self.estimators, self.classes = trees, classes
      self.n_classes = classes and #classes or nil
      if imp then
        local s = imp:sum()
        if s > 0 then imp:div_(s) end
      else
        imp = tide.zeros(X.shape[2])
      end
      self.feature_importances = imp
      self.n_features = X.shape[2]
      self.oob_score, self.oob_prediction, self.oob_decision_function = nil, nil, nil
      if q.oob_score then
        local S, N = oob_sums(self, X, rows, n, n_draw, classes)
        local seen = tide.where(N:gt(0))
        if #seen < n then
          tide._internal.log(string.format("%s: %d of %d rows are in every tree's bootstrap sample: " ..
                                        "no out-of-bag prediction (left out of oob_score)\n",
                                        name, n - #seen, n))
        end
        if #seen == 0 then
          fail(name, 3, "no row is out of bag: oob_score needs more trees or fewer draws")
        end
        local ytrue = rows and y:take(rows) or y
        local Nf = N:astype("f64")
        if classifier then -- mean class fractions; NaN rows where no tree left the row out
          S:div_(Nf:reshape(n, 1))
          self.oob_decision_function = S
          local pred = classes:take(S:take(seen):argmax(2))
          self.oob_score = tide.metrics.accuracy(ytrue:take(seen), pred)
        else
          S:div_(Nf)
          self.oob_prediction = S
          self.oob_score = tide.metrics.r2(ytrue, S, {rows = seen})
        end
      end
    end
  end

  local function forest_score(self, X, y, opts)
    if not self._fitted then fail(self._class.name, 2, "score before fit") end
    opts = optmod.check(opts, self._class.name .. ":score", {"rows"}, 2) or {}
    if type(y) == "table" then y = tide.array(y) end
    local rows = as_rows(opts.rows)
    local metric = self._class.spec.kind == "classifier" and "accuracy" or "r2"
    return tide.metrics[metric](y, self:predict(X, {rows = rows}), {rows = rows})
  end

  local names = {}
  for i, p in ipairs(tree_params(false)) do names[i] = p[1] end

  models.class("random_forest_regressor", {
    kind = "regressor",
    params = forest_params(false),
    check_all = forest_check_all,
    tree_param_names = names,
    fitted = {"estimators", "feature_importances", "oob_score", "oob_prediction"},
    fit = forest_fit(false),
    predict = function(self, X, opts) return forest_predict(self, X, opts, "value") end,
    methods = {score = forest_score},
  })

  models.class("random_forest_classifier", {
    kind = "classifier",
    params = forest_params(true),
    check_all = forest_check_all,
    tree_param_names = names,
    fitted = {"estimators", "feature_importances", "classes", "n_classes", "oob_score",
              "oob_decision_function"},
    fit = forest_fit(true),
    predict = function(self, X, opts) return forest_predict(self, X, opts, "class") end,
    methods = {
      score = forest_score,
      -- n x #classes: the mean of the trees' class fractions, columns in the order of m.classes
      predict_proba = function(self, X, opts)
        ready(self, X, "predict_proba", 2)
        optmod.check(opts, self._class.name .. ":predict_proba", {"rows"}, 2)
        return forest_predict(self, X, opts, "proba")
      end,
    },
  })
end
