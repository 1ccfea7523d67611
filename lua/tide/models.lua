-- tide.models: model classes.  The numeric work is C (runtime/models,
-- reached through tide._internal.models); this module gives every model the
-- same shape: constructor with checked parameters (scikit-learn's names and
-- defaults), fit / predict / score with `rows =`, params / set / clone,
-- fitted fields (coef, intercept, n_iter, classes), and a registered class
-- so a fitted model returned by a parallel task arrives whole.
local tide = require "tide"
local optmod = require "tide.opts"
local K = tide._internal.models
local metrics = tide.metrics
local models = {}

local function fail(name, level, fmt, ...)
  error(name .. ": " .. string.format(fmt, ...), level + 1)
end

-- Parameter checks shared by the classes.
local check = {}
function check.number(lo, hi, open_lo)
  return function(v, name, p)
    if type(v) ~= "number" or v ~= v then return "must be a number" end
    if lo and (open_lo and v <= lo or v < lo) then
      return string.format("must be %s %s, got %s", open_lo and ">" or ">=", lo, v)
    end
    if hi and v > hi then return string.format("must be <= %s, got %s", hi, v) end
  end
end
function check.integer(lo)
  return function(v)
    if math.type(v) ~= "integer" then return "must be an integer" end
    if lo and v < lo then return string.format("must be >= %d, got %d", lo, v) end
  end
end
function check.boolean(v)
  if type(v) ~= "boolean" then return "must be true or false" end
end
function check.oneof(...)
  local allowed = {...}
  return function(v)
    for _, a in ipairs(allowed) do if v == a then return end end
    return "must be one of " .. table.concat(allowed, ", ")
  end
end
models.check = check

local Model = {}   -- methods every model has
local class_of = {}  -- constructor -> class

-- A model is anything with fit and clone (a model, a pipeline, an ensemble).
local function is_model(v)
  return type(v) == "table" and type(v.fit) == "function" and type(v.clone) == "function"
end

-- models.as_model(v): v when it is a model; a new one with default
-- parameters when v is a model class (tide.models.ridge means
-- tide.models.ridge{}); nil otherwise.  Everything that takes a model
-- (search, cross_validate, learning_curve, ensembles, pipeline steps) takes
-- it through here.
function models.as_model(v)
  if is_model(v) then return v end
  if class_of[v] then return v() end
end

-- models.is_model(v): v is a model or a model class.
function models.is_model(v) return is_model(v) or class_of[v] ~= nil end

-- models.class(name, spec): spec.kind ("regressor" | "classifier" |
-- "transformer" | "clusterer": the last two fit without y; or a function
-- of the model giving one), spec.params (ordered list of {name, default,
-- check [, convert]}: convert(v) is stored in place of a value that passed
-- check), spec.fit(self, X, y, opts), spec.predict(self, X, opts) (or
-- transform), spec.fit_options (the keys fit's options table may hold;
-- {"rows"}), spec.fitted (the fields fit sets; cleared by clone).  Returns
-- the constructor, also stored as models[name].
function models.class(name, spec)
  local methods = setmetatable({}, {__index = Model})
  for k, v in pairs(spec.methods or {}) do methods[k] = v end
  local mt = {__index = methods, __name = "tide.models." .. name}
  mt.__tostring = function(self) return self:describe() end
  local class = {name = name, spec = spec, mt = mt, methods = methods}
  methods._class = class
  local order, defaults = {}, {}
  for i, p in ipairs(spec.params) do order[i] = p[1]; defaults[p[1]] = p[2] end
  class.order, class.defaults = order, defaults
  tide.register_class("tide.models." .. name, mt)
  local function new(params)
    if params ~= nil and type(params) ~= "table" then
      fail(name, 2, "parameters must be a table, got %s", type(params))
    end
    local self = setmetatable({_p = {}}, mt)
    for k, v in pairs(defaults) do self._p[k] = v end
    self:set(params or {}, 3)
    return self
  end
  models[name] = new
  class_of[new] = class
  return new, class
end

local function validate(self, k, v, level)
  local class = self._class
  local spec
  for _, p in ipairs(class.spec.params) do if p[1] == k then spec = p end end
  if not spec then
    fail(class.name, level, "unknown parameter '%s' (parameters: %s)%s", tostring(k),
         table.concat(class.order, ", "), optmod.hint(k, class.order))
  end
  if spec[3] then
    local msg = spec[3](v, k, self._p)
    if msg then fail(class.name, level, "parameter '%s' %s", k, msg) end
  end
  return spec
end

function Model:set(params, level)
  level = level or 2
  local convert = {}
  for k, v in pairs(params) do convert[k] = validate(self, k, v, level + 1)[4] end
  for k, v in pairs(params) do
    if convert[k] then v = convert[k](v) end
    self._p[k] = v
  end
  if self._class.spec.check_all then
    local msg = self._class.spec.check_all(self._p)
    if msg then fail(self._class.name, level, "%s", msg) end
  end
  return self
end

function Model:params()
  local t = {}
  for k, v in pairs(self._p) do t[k] = v end
  return t
end

function Model:clone()
  local c = setmetatable({_p = {}}, getmetatable(self))
  for k, v in pairs(self._p) do
    c._p[k] = (type(v) == "table" and v.clone) and v:clone() or v
  end
  return c
end

function Model:is_fitted() return self._fitted == true end

-- "regressor", "classifier" or "transformer"
function Model:kind()
  local k = self._class.spec.kind
  if type(k) == "function" then return k(self) end
  return k
end

function Model:describe()
  local parts = {}
  for _, k in ipairs(self._class.order) do
    local v = self._p[k]
    if v ~= self._class.defaults[k] then
      local shown = type(v) == "string" and string.format("%q", v)
                    or tide.is_array(v) and ("<" .. table.concat(v.shape, "x") .. " array>")
                    or tostring(v)
      parts[#parts + 1] = k .. "=" .. shown
    end
  end
  return string.format("%s{%s}%s", self._class.name, table.concat(parts, ", "),
                       self._fitted and " (fitted)" or "")
end

local function need_fit(self, what)
  if not self._fitted then fail(self._class.name, 3, "%s before fit", what) end
end

local function check_X(self, X, argn, what)
  if not tide.is_array(X) then
    fail(self._class.name, 3, "bad argument #%d to '%s' (X must be an array, got %s)", argn, what,
         type(X))
  end
end

local ROWS = {"rows"}   -- what predict, transform and score take

-- A classifier's target must be class labels: a float y holding a value
-- that is not a whole number is a regression target, which scikit-learn
-- refuses ("Unknown label type: continuous") instead of making a class of
-- every distinct value.  Only the rows fitted are read.
local function check_target(self, y, opts)
  if y.dtype ~= "f64" and y.dtype ~= "f32" then return end
  local row, v = K.first_nonwhole(y, opts)
  if row then
    fail(self._class.name, 3, "Unknown label type: continuous (y[%d] = %s is not a whole " ..
         "number: a classifier takes class labels; fit a regressor to a continuous target)",
         row, v ~= v and "nan" or string.format("%.14g", v))
  end
end

-- A pipeline passes its transformers' column maps to the next step as the
-- private option _xmap (see tide.pipeline): the step reads X through them
-- instead of a transformed copy.  Only classes whose spec says mapped =
-- true take it (their kernels get opts.xmap).  Returns the options
-- without it, and the map.
local function split_map(self, opts)
  if type(opts) ~= "table" or opts._xmap == nil then return opts, nil end
  if not self._class.spec.mapped then
    fail(self._class.name, 3, "cannot read X through a column map")
  end
  local o = {}
  for k, v in pairs(opts) do if k ~= "_xmap" then o[k] = v end end
  return o, opts._xmap
end
local function with_map(opts, xmap)
  if not xmap then return opts or {} end
  local o = {xmap = xmap}
  for k, v in pairs(opts or {}) do o[k] = v end
  return o
end

function Model:fit(X, y, opts)
  check_X(self, X, 1, "fit")
  local kind = self:kind()
  local needs_y = kind == "regressor" or kind == "classifier"
  -- a table of labels or targets is an array: integers give i64, so a
  -- classifier's labels come back as integers
  if needs_y and type(y) == "table" then y = tide.array(y) end
  if needs_y and not tide.is_array(y) then
    fail(self._class.name, 2, "bad argument #2 to 'fit' (y must be an array or a table, got %s)",
         type(y))
  end
  if opts ~= nil and type(opts) ~= "table" then
    fail(self._class.name, 2, "bad argument #3 to 'fit' (options table expected)")
  end
  local xmap
  opts, xmap = split_map(self, opts)
  optmod.check(opts, self._class.name .. ":fit", self._class.spec.fit_options or ROWS)
  if kind == "classifier" then check_target(self, y, opts) end
  local blas <close> = K.serial()
  self._class.spec.fit(self, X, y, with_map(opts, xmap))
  self._fitted = true
  self.n_features = X.shape[2]
  return self
end

function Model:predict(X, opts)
  need_fit(self, "predict")
  check_X(self, X, 1, "predict")
  if self.n_features and X.ndim == 2 and X.shape[2] ~= self.n_features then
    fail(self._class.name, 2, "X has %d features, but the model was fitted on %d", X.shape[2],
         self.n_features)
  end
  local f = self._class.spec.predict
  if not f then fail(self._class.name, 2, "a %s has no predict", self:kind()) end
  local xmap
  opts, xmap = split_map(self, opts)
  optmod.check(opts, self._class.name .. ":predict", ROWS)
  local blas <close> = K.serial()
  return f(self, X, with_map(opts, xmap))
end

function Model:transform(X, opts)
  need_fit(self, "transform")
  check_X(self, X, 1, "transform")
  local f = self._class.spec.transform
  if not f then fail(self._class.name, 2, "a %s has no transform", self:kind()) end
  local xmap
  opts, xmap = split_map(self, opts)
  optmod.check(opts, self._class.name .. ":transform", ROWS)
  local blas <close> = K.serial()
  return f(self, X, with_map(opts, xmap))
end

function Model:fit_transform(X, y, opts)
  return self:fit(X, y, opts):transform(X, opts)
end

-- Scoring in blocks.  Scoring a fold of 800,000 rows through one
-- prediction vector would hold 6.4 MB per fit and worker; predicting
-- BLOCK rows at a time and combining per-block sums holds 64 KB, so a
-- search's memory stays the data's.  metric: "r2", "accuracy", "mse",
-- "mae" or "log_loss" (on predict_proba, with the model's classes).
local BLOCK = 8192
local function block_rows(rows, a, b)
  if rows == nil then return tide.rowset(a, b) end
  return rows:slice(1, a, b)
end

-- Helpers for tide's own modules (the search's shared groups).
models._internal = {}

-- _internal.blocks(rows, n, f): calls f(r) for the rows in blocks of BLOCK
-- (r: a slice of rows, or a rowset when rows is nil: all n rows); one call
-- with rows itself when n <= BLOCK.
function models._internal.blocks(rows, n, f)
  if n <= BLOCK then return f(rows) end
  for a = 1, n, BLOCK do f(block_rows(rows, a, math.min(a + BLOCK - 1, n))) end
end

-- _internal.score_acc(metric, y, n [, classes]): a metric accumulated over
-- the blocks of _internal.blocks: acc:add(r, v) with v the predictions (class
-- probabilities for log_loss) of block r, in order; acc:value() at the end.
local Acc = {}
Acc.__index = Acc
function models._internal.score_acc(metric, y, n, classes)
  return setmetatable({metric = metric, f = metrics[metric], y = y, n = n, classes = classes,
                       sum = 0, cnt = 0, ymean = 0, ym2 = 0}, Acc)
end

function Acc:add(r, v)
  local metric, y = self.metric, self.y
  if self.n <= BLOCK then
    self.result = self.f(y, v, {rows = r, classes = self.classes})
    return
  end
  -- per block: its size and metric; r2 also the mean and squared
  -- deviations of its y, merged pairwise (Chan et al.)
  local nb = #r
  if metric == "r2" then
    self.sum = self.sum + metrics.mse(y, v, {rows = r}) * nb
    local yb = y:take(r)
    local mb, m2b = yb:mean(), yb:var() * nb
    local delta, tot = mb - self.ymean, self.cnt + nb
    self.ymean = self.ymean + delta * nb / tot
    self.ym2 = self.ym2 + m2b + delta * delta * self.cnt * nb / tot
  else
    local x = self.f(y, v, {rows = r, classes = self.classes}) * nb
    if metric == "accuracy" then x = math.floor(x + 0.5) end -- a count of hits
    self.sum = self.sum + x
  end
  self.cnt = self.cnt + nb
end

function Acc:value()
  if self.n <= BLOCK then return self.result end
  if self.metric ~= "r2" then return self.sum / self.n end
  if self.ym2 > 0 then return 1 - self.sum / self.ym2 end
  return self.sum == 0 and 1.0 or 0.0
end

function models.score_blocks(metric, m, X, y, rows)
  if type(rows) == "table" then rows = tide.array(rows, "i64") end
  local n = rows and #rows or X.shape[1]
  local proba = metric == "log_loss"
  local acc = models._internal.score_acc(metric, y, n, proba and m.classes or nil)
  models._internal.blocks(rows, n, function(r)
    acc:add(r, proba and m:predict_proba(X, {rows = r}) or m:predict(X, {rows = r}))
  end)
  return acc:value()
end

-- score: R^2 for regressors, accuracy for classifiers, on the rows given.
function Model:score(X, y, opts)
  need_fit(self, "score")
  opts = optmod.check(opts, self._class.name .. ":score", ROWS) or {}
  if type(y) == "table" then y = tide.array(y) end
  local metric = self:kind() == "classifier" and "accuracy" or "r2"
  return models.score_blocks(metric, self, X, y, opts.rows)
end

-- Model families live in lua/tide/models_<family>.lua; each returns a
-- function that installs its classes into this table.
for _, family in ipairs{"linear", "logistic", "knn", "prep", "tree", "svm", "cluster"} do
  local name = "tide.models_" .. family
  if package.preload[name] or package.searchpath(name, package.path) then
    require(name)(models)
  end
end
return models
