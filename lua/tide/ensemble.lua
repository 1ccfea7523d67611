-- tide.ensemble: stacking as in ML-Ensemble's SuperLearner.  Base learners
-- are fitted on folds in parallel; each writes its out-of-fold predictions
-- straight into a shared prediction matrix (no copies travel back), which
-- feeds the next layer and finally the meta learner; the base learners are
-- then refitted on all rows.  X is read in place by every worker, so memory
-- stays near one copy of X whatever `jobs` is.
local models = tide.models
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

-- Out-of-fold predictions of every learner of a layer on input Z (rows:
-- the rows used), then the learners refitted on all those rows.
local function fit_layer(layer, Z, y, rows, folds, jobs)
  local nrows = rows and #rows or #Z
  local nl = #layer
  local P = tide.zeros({nrows, nl}, {shared = true})   -- workers write their columns
  local nf = #folds
  -- fold positions are positions within `rows`: map them to rows of Z once,
  -- here, so every worker reads the same index arrays
  local trains, tests = {}, {}
  for f, fold in ipairs(folds) do
    trains[f] = rows and rows:take(fold.train) or fold.train
    tests[f] = rows and rows:take(fold.test) or fold.test
  end
  tide.pfor(nl * nf, function(t)
    local j, f = (t - 1) // nf + 1, (t - 1) % nf + 1
    local fold = folds[f]
    local train, test = trains[f], tests[f]
    local m = layer[j]:clone():fit(Z, y, {rows = train})
    local pred = m:predict(Z, {rows = test})
    local col = P:col(j)
    for i = 1, #fold.test do col[fold.test[i]] = pred[i] end
  end, {jobs = jobs, chunk = 1})
  local fitted = tide.collect(function(j) return layer[j]:clone():fit(Z, y, {rows = rows}) end, nl,
                              {jobs = jobs, chunk = 1})
  return P, fitted
end

local function predict_layer(fitted, Z, rows)
  local nrows = rows and #rows or #Z
  local P = tide.zeros(nrows, #fitted)
  for j, m in ipairs(fitted) do P:col(j):assign_(m:predict(Z, {rows = rows})) end
  return P
end

models.class("superlearner", {
  kind = "regressor",
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
    if rows and not tide.is_array(rows) then rows = tide.array(rows, "i64") end
    local n = rows and #rows or #X
    local folds = tide.cv.kfold(n, p.folds, {shuffle = p.shuffle, seed = p.seed})
    local Z, zrows = X, rows
    local ylayer = y
    self.layers_fitted = {}
    for i, layer in ipairs(p.layers) do
      local P, fitted = fit_layer(layer, Z, ylayer, zrows, folds, p.jobs)
      self.layers_fitted[i] = fitted
      -- the next layer sees predictions for the used rows only, in order
      if zrows then ylayer = y:take(rows) end
      Z, zrows = P, nil
    end
    self.meta_fitted = p.meta:clone():fit(Z, ylayer)
  end,
  predict = function(self, X, opts)
    local Z, rows = X, opts.rows
    for _, fitted in ipairs(self.layers_fitted) do
      Z = predict_layer(fitted, Z, rows)
      rows = nil
    end
    return self.meta_fitted:predict(Z)
  end,
  methods = {
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
