-- tide.ensemble: stacking as in ML-Ensemble's SuperLearner.  Base learners
-- are fitted on folds in parallel; each writes its out-of-fold predictions
-- straight into a shared prediction matrix (no copies travel back), which
-- feeds the next layer and finally the meta learner; the base learners are
-- then refitted on all rows.  X is read in place by every worker, so memory
-- stays near one copy of X whatever `jobs` is.
local tide = require "tide"
local models = require "tide.models"
local ensemble = {}

local is_model = models.is_model   -- a model or a model class

local function check_layers(layers)
  if type(layers) ~= "table" or #layers == 0 then return "must be a non-empty list of layers" end
  for i, layer in ipairs(layers) do
    if is_model(layer) then return "layer " .. i .. " must be a list of models, not a model" end
    if type(layer) ~= "table" or #layer == 0 then return "layer " .. i .. " must be a non-empty list of models" end
    for j, m in ipairs(layer) do
      if not is_model(m) then
        return string.format("layer %d, entry %d is not a model or a model class", i, j)
      end
    end
  end
end

-- layers as given, classes made models
local function layers_of(layers)
  local out = {}
  for i, layer in ipairs(layers) do
    out[i] = {}
    for j, m in ipairs(layer) do out[i][j] = models.as_model(m) end
  end
  return out
end

local function kind(m) return type(m.kind) == "function" and m:kind() or nil end

-- The rows of X at positions `pos` of `rows` (nil: all rows, so pos
-- itself).  Rowsets of rowsets stay rowsets (ranges of ranges), so
-- unshuffled folds inside unshuffled folds never become index arrays.
local function compose(rows, pos)
  if rows == nil then return pos end
  if tide.is_rowset(rows) and tide.is_rowset(pos) then
    local ranges = {}
    for _, r in ipairs(pos:ranges()) do
      for _, q in ipairs(rows:slice(1, r[1], r[2]):ranges()) do ranges[#ranges + 1] = q end
    end
    return tide.rowset(ranges)
  end
  if tide.is_rowset(rows) then rows = rows:array() end
  return rows:take(pos)
end

-- y at the rows used, in order: a view when they are one range, else a copy.
local function y_of(y, rows)
  if tide.is_rowset(rows) then
    local r = rows:ranges()
    if #r == 1 then return y:slice(1, r[1][1], r[1][2]) end
  end
  return y:take(rows)
end

-- The columns a layer's learners fill: one prediction each, or, in a stack
-- of classifiers (classes given), one class probability per class for a
-- classifier with predict_proba, as ML-Ensemble's proba = True.  Returns
-- each learner's first column - 1, whether it gives probabilities, and the
-- number of columns.
local function columns(layer, classes)
  local off, proba, total = {}, {}, 0
  for j, m in ipairs(layer) do
    proba[j] = classes ~= nil and kind(m) == "classifier" and type(m.predict_proba) == "function"
    off[j] = total
    total = total + (proba[j] and #classes or 1)
  end
  return off, proba, total
end

-- Writes fitted learner m's predictions for `rows` of Z into P's columns
-- from off + 1 at positions `at` (nil: all rows of P, in order), BLOCK
-- rows at a time (a fold's predictions would be a fold-sized vector per
-- worker).  Probabilities go to their class's column; a class m never saw
-- stays 0.
local BLOCK = 65536
local function put_predictions(P, off, proba, m, Z, rows, at, classes)
  local n = rows and #rows or #Z
  for a = 1, n, BLOCK do
    local b = math.min(a + BLOCK - 1, n)
    local whole = a == 1 and b == n
    local r = whole and rows or rows and rows:slice(1, a, b) or tide.rowset(a, b)
    local pos = at and (whole and at or at:slice(1, a, b))
    local function place(col, v)
      if pos then P:col(col):put(pos, v)
      else P:col(col):slice(1, a, b):assign_(v) end
    end
    if not proba then
      place(off + 1, m:predict(Z, {rows = r}))
    else
      local pr, mc = m:predict_proba(Z, {rows = r}), m.classes
      for q = 1, #mc do
        for c = 1, #classes do
          if classes[c] == mc[q] then place(off + c, pr:col(q)) end
        end
      end
    end
  end
end

-- Plain linear learners of a layer share the moments of its folds: each
-- fold's training rows are the other folds, so one pass over the rows
-- (the moments of each fold, in parallel) gives every learner's fit on
-- every fold and its refit on all rows, each as the fit alone would give it
-- (tide.search_plan).  Returns {[j] = {fold = {fitted model per fold},
-- all = refitted model}} for the learners it served.
local LINEAR = {ridge = true, linear = true, lasso = true, elasticnet = true}
local function shared_linear(layer, Z, y, rows, folds, trains, tests, jobs)
  local plan = require "tide.search_plan"
  local nrows = rows and #rows or #Z
  local p = Z.ndim == 2 and Z.shape[2] or 0
  local want = {}
  local min_train = math.huge
  for _, f in ipairs(folds) do min_train = math.min(min_train, #f.train) end
  if not (tide.is_array(y) and (y.ndim == 1 or y.ndim == 2 and y.shape[2] == 1) and
          p >= 1 and p <= math.min(min_train, 2048)) then
    return {}
  end
  for j, m in ipairs(layer) do
    if m._class and LINEAR[m._class.name] then want[#want + 1] = j end
  end
  if #want == 0 then return {} end
  local shift, yshift = plan.shift_of(Z, y, rows)
  local ok, moms = pcall(tide.collect, function(f)
    return tide._internal.models.moments(Z, y, {rows = tests[f], shift = shift, yshift = yshift})
  end, #folds, {jobs = jobs, chunk = 1})
  if not ok then return {} end   -- (bad values: the learners' own fits name them)
  local all = moms[1]:copy()
  for f = 2, #folds do all:add_(moms[f]) end
  if all[1] ~= nrows then return {} end
  local out = {}
  for _, j in ipairs(want) do
    local r = {fold = {}}
    for f = 1, #folds do
      r.fold[f] = plan.linear_from_moments(layer[j]:clone(), all - moms[f], p, shift, yshift)
    end
    r.all = plan.linear_from_moments(layer[j]:clone(), all, p, shift, yshift)
    local complete = r.all ~= nil
    for f = 1, #folds do complete = complete and r.fold[f] ~= nil end
    if complete then out[j] = r end
  end
  return out
end

-- Out-of-fold predictions of every learner of a layer on input Z (rows:
-- the rows used), then the learners refitted on all those rows.
local function fit_layer(layer, Z, y, rows, folds, jobs, classes)
  local nrows = rows and #rows or #Z
  local off, proba, total = columns(layer, classes)
  local P = tide.zeros({nrows, total}, {shared = true})   -- workers write their columns
  local nl, nf = #layer, #folds
  -- fold positions are positions within `rows`: map them to rows of Z once,
  -- here, so every worker reads the same rows
  local trains, tests = {}, {}
  for f, fold in ipairs(folds) do
    trains[f], tests[f] = compose(rows, fold.train), compose(rows, fold.test)
  end
  local shared = classes and {} or shared_linear(layer, Z, y, rows, folds, trains, tests, jobs)
  tide.pfor(nl * nf, function(t)
    local j, f = (t - 1) // nf + 1, (t - 1) % nf + 1
    local m = shared[j] and shared[j].fold[f] or layer[j]:clone():fit(Z, y, {rows = trains[f]})
    put_predictions(P, off[j], proba[j], m, Z, tests[f], folds[f].test, classes)
  end, {jobs = jobs, chunk = 1})
  local left = {}
  for j = 1, nl do if not shared[j] then left[#left + 1] = j end end
  local fitted = {}
  if #left > 0 then
    local refits = tide.collect(function(i)
      return layer[left[i]]:clone():fit(Z, y, {rows = rows})
    end, #left, {jobs = jobs, chunk = 1})
    for i, j in ipairs(left) do fitted[j] = refits[i] end
  end
  for j, r in pairs(shared) do fitted[j] = r.all end
  return P, fitted
end

-- The meta learner's input for `rows` of X: each layer's predictions in turn.
local function meta_input(self, X, rows)
  local Z = X
  for _, fitted in ipairs(self.layers_fitted) do
    local off, proba, total = columns(fitted, self.classes)
    local P = tide.zeros(rows and #rows or #Z, total)
    for j, m in ipairs(fitted) do
      put_predictions(P, off[j], proba[j], m, Z, rows, nil, self.classes)
    end
    Z, rows = P, nil
  end
  return Z
end

models.class("superlearner", {
  kind = function(self) return kind(self._p.meta) or "regressor" end,  -- the meta learner's
  params = {
    {"layers", nil, check_layers, layers_of},
    {"meta", nil, function(v) if not is_model(v) then return "must be a model or a model class" end end,
     models.as_model},
    {"folds", 2, models.check.integer(2)},
    {"jobs", nil, function(v) if v ~= nil and math.type(v) ~= "integer" then return "must be an integer" end end},
    {"shuffle", false, models.check.boolean},
    {"seed", 0, models.check.integer()},
  },
  check_all = function(p)
    if p.layers == nil then return "needs layers = {{model, ...}, ...}" end
    if p.meta == nil then return "needs a meta learner (meta = model)" end
  end,
  fit = function(self, X, y, opts)
    local p = self._p
    local rows = opts.rows
    if type(rows) == "table" then rows = tide.array(rows, "i64") end
    local n = rows and #rows or #X
    local folds = tide.cv.kfold(n, p.folds, {shuffle = p.shuffle, seed = p.seed})
    -- a stack of classifiers: the labels, sorted, name the probability columns
    local classes = self:kind() == "classifier" and tide._internal.models.knn_classes(y, {rows = rows}) or nil
    self.classes = classes
    local Z, zrows = X, rows
    local ylayer = y
    self.layers_fitted = {}
    for i, layer in ipairs(p.layers) do
      local P, fitted = fit_layer(layer, Z, ylayer, zrows, folds, p.jobs, classes)
      self.layers_fitted[i] = fitted
      -- the next layer sees predictions for the used rows only, in order
      if zrows then ylayer = y_of(y, rows) end
      Z, zrows = P, nil
    end
    self.meta_fitted = p.meta:clone():fit(Z, ylayer)
  end,
  predict = function(self, X, opts)
    return self.meta_fitted:predict(meta_input(self, X, opts.rows))
  end,
  methods = {
    -- the meta learner's class probabilities (columns in the order of m.classes)
    predict_proba = function(self, X, opts)
      if not self._fitted then error("superlearner: predict_proba before fit", 2) end
      if type(self.meta_fitted.predict_proba) ~= "function" then
        error("superlearner: the meta learner has no predict_proba", 2)
      end
      return self.meta_fitted:predict_proba(meta_input(self, X, (opts or {}).rows))
    end,
    clone = function(self)
      local c = setmetatable({_p = {}}, getmetatable(self))
      for k, v in pairs(self._p) do c._p[k] = v end
      local layers = {}
      for i, layer in ipairs(self._p.layers) do
        layers[i] = {}
        for j, m in ipairs(layer) do layers[i][j] = m:clone() end
      end
      c._p.layers = layers
      c._p.meta = self._p.meta:clone()
      return c
    end,
  },
})

-- tide.ensemble.superlearner{layers = {{m1, m2}, ...}, meta = m3, folds = 2, jobs = 2}
ensemble.superlearner = models.superlearner

return ensemble
