-- tide.models: preprocessing (standard_scaler, minmax_scaler) and
-- pipelines (tide.pipeline{step1, step2, ..., final}).  The scalers' column
-- statistics and maps are C (runtime/models/scale.c) over blocked row
-- gathers, so fit with `rows =` copies nothing; transform returns a new
-- array holding the rows asked for.
local tide = require "tide"
local optmod = require "tide.opts"
return function(models)
  local K = tide._internal.models
  local check = models.check
  local function serial() return K.serial and K.serial() or nil end -- see models_knn.lua
  local EPS = 2.220446049250313e-16

  local function vec(p, f)
    local a = tide.zeros(p)
    for j = 1, p do a[j] = f(j) end
    return a
  end

  -- standard_scaler{with_mean = true, with_std = true}: (x - mean) / scale
  -- with the population standard deviation; a (near-)constant column gets
  -- scale 1 (scikit-learn's bound on the rounding of a two-pass variance).
  -- Fitted: mean, var, scale (nil when with_std = false), n_samples_seen.
  models.class("standard_scaler", {
    kind = "transformer",
    params = {{"with_mean", true, check.boolean}, {"with_std", true, check.boolean}},
    fitted = {"mean", "var", "scale", "n_samples_seen"},
    fit = function(self, X, _, opts)
      local mean, var, _, _, n = K.scale_stats(X, {rows = opts.rows, xmap = opts.xmap})
      local p = self._p
      self.n_samples_seen = n
      self.mean = (p.with_mean or p.with_std) and mean or nil
      if p.with_std then
        self.var = var
        self.scale = vec(#var, function(j)
          local v, m = var[j], mean[j]
          if v <= n * EPS * v + (n * m * EPS) ^ 2 then return 1.0 end
          return math.sqrt(v)
        end)
      else
        self.var, self.scale = nil, nil
      end
    end,
    transform = function(self, X, opts)
      local p = X.ndim == 2 and X.shape[2] or 0
      local nf = self.n_features
      local a = self._p.with_mean and self.mean or tide.zeros(nf)
      local b = self._p.with_std and self.scale or tide.ones(nf)
      if X.ndim == 2 and p ~= nf then
        error(string.format("standard_scaler: X has %d features, but the scaler was fitted on %d",
                            p, nf), 3)
      end
      return K.scale_apply(X, a, b, {rows = opts.rows, div = true, xmap = opts.xmap})
    end,
    mapped = true,
    methods = {
      -- the column map of transform, for the next step of a pipeline
      _colmap = function(self)
        return {sub = self._p.with_mean and self.mean or nil,
                div = self._p.with_std and self.scale or nil}
      end,
      -- x * scale + mean for the rows given
      inverse_transform = function(self, X, opts)
        if not self._fitted then error("standard_scaler: inverse_transform before fit", 2) end
        optmod.check(opts, "standard_scaler:inverse_transform", {"rows"})
        local nf = self.n_features
        local a = self._p.with_std and self.scale or tide.ones(nf)
        local b = self._p.with_mean and self.mean or tide.zeros(nf)
        local blas <close> = serial()
        return K.scale_apply(X, a, b, {rows = (opts or {}).rows, fname = "inverse_transform"})
      end,
    },
  })

  local function check_range(v)
    if type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "number" then
      return "must be a table of two numbers {min, max}"
    end
    if not (v[1] < v[2]) then
      return string.format("must have min < max, got {%s, %s}", v[1], v[2])
    end
  end

  -- minmax_scaler{feature_range = {0, 1}, clip = false}: x * scale + min
  -- with scale = (hi - lo) / (data_max - data_min) (a constant column: 1).
  -- Fitted: data_min, data_max, data_range, scale, min, n_samples_seen.
  models.class("minmax_scaler", {
    kind = "transformer",
    params = {{"feature_range", {0, 1}, check_range}, {"clip", false, check.boolean}},
    fitted = {"data_min", "data_max", "data_range", "scale", "min", "n_samples_seen"},
    fit = function(self, X, _, opts)
      local _, _, mn, mx, n = K.scale_stats(X, {rows = opts.rows, xmap = opts.xmap})
      local lo, hi = self._p.feature_range[1], self._p.feature_range[2]
      self.n_samples_seen = n
      self.data_min, self.data_max = mn, mx
      self.data_range = vec(#mn, function(j) return mx[j] - mn[j] end)
      self.scale = vec(#mn, function(j)
        local r = self.data_range[j]
        return (hi - lo) / (r < 10 * EPS and 1.0 or r)
      end)
      self.min = vec(#mn, function(j) return lo - mn[j] * self.scale[j] end)
    end,
    transform = function(self, X, opts)
      local fr = self._p.feature_range
      return K.scale_apply(X, self.scale, self.min, {rows = opts.rows, xmap = opts.xmap,
                           clip = self._p.clip and {fr[1], fr[2]} or nil})
    end,
    mapped = true,
    methods = {
      _colmap = function(self)
        local fr = self._p.feature_range
        return {mul = self.scale, add = self.min, clip = self._p.clip and {fr[1], fr[2]} or nil}
      end,
      -- (x - min) / scale for the rows given
      inverse_transform = function(self, X, opts)
        if not self._fitted then error("minmax_scaler: inverse_transform before fit", 2) end
        optmod.check(opts, "minmax_scaler:inverse_transform", {"rows"})
        local blas <close> = serial()
        return K.scale_apply(X, self.min, self.scale, {rows = (opts or {}).rows, div = true,
                             fname = "inverse_transform"})
      end,
    },
  })

  ---------------------------------------------------------------- pipeline

  -- tide.pipeline{step1, ..., final}: every step but the last is a
  -- transformer.  When every step can read X through column maps (the
  -- scalers, then linear models, logistic, k-NN or scalers), fit(X, y,
  -- {rows}) fits each step on the rows of X read through the maps of the
  -- steps before it, and predict / transform / score read the query rows
  -- the same way: nothing is copied, each kernel maps the row blocks it
  -- gathers.  Otherwise each later step is fitted on a transformed copy of
  -- the rows.  Steps have names, as scikit-learn's: given as {"name", model}
  -- pairs, or make_pipeline's (the class name, "-1", "-2", ... appended
  -- when several steps share it).  Parameters are flat: "logistic__C"
  -- (scikit-learn's step__param, the form params() gives), "2.C" (step
  -- number), "logistic.C" (step or class name) or plain "C" (when exactly
  -- one step has the parameter).
  local Pipe = {}
  local pmt = {__name = "tide.models.pipeline"}
  pmt.__tostring = function(self) return self:describe() end
  tide.register_class("tide.models.pipeline", pmt)

  local function kind(s)
    return type(s.kind) == "function" and s:kind() or nil
  end

  -- The class name of a step (what make_pipeline names it after).
  local function step_name(s)
    if getmetatable(s) == pmt then return "pipeline" end
    if type(s._class) == "table" and s._class.name then return s._class.name end
    local mt = getmetatable(s)
    local n = type(mt) == "table" and type(mt.__name) == "string" and mt.__name:match("([%w_]+)$")
    return n or "step"
  end

  -- scikit-learn's make_pipeline names: the class name; when several steps
  -- share one, "-1", "-2", ... in order (standard_scaler-1, standard_scaler-2).
  local function default_names(steps)
    local names, count, seen = {}, {}, {}
    for i, s in ipairs(steps) do
      names[i] = step_name(s)
      count[names[i]] = (count[names[i]] or 0) + 1
    end
    for i, n in ipairs(names) do
      if count[n] > 1 then
        seen[n] = (seen[n] or 0) + 1
        names[i] = n .. "-" .. seen[n]
      end
    end
    return names
  end

  -- The step names (a pipeline stored before steps had names gets
  -- make_pipeline's).
  local function names_of(self)
    if not self.names then self.names = default_names(self.steps) end
    return self.names
  end

  -- p.named_steps: {name = step}, made when read (the steps stay one list).
  pmt.__index = function(self, k)
    if k == "named_steps" then
      local t = {}
      for i, n in ipairs(names_of(self)) do t[n] = self.steps[i] end
      return t
    end
    return Pipe[k]
  end

  -- {"name", model} (a model or a model class after a string)
  local function pair(step)
    return type(step) == "table" and type(step[1]) == "string" and step[2] ~= nil and
           step[3] == nil and not models.is_model(step)
  end

  function models.pipeline(steps)
    if type(steps) ~= "table" or #steps == 0 then
      error("pipeline: expected a list of steps {transformer, ..., model} (each a model, " ..
            "or a {\"name\", model} pair)", 2)
    end
    local self = setmetatable({steps = {}}, pmt)
    local given = {}
    for i, step in ipairs(steps) do
      if pair(step) then given[i], step = step[1], step[2] end
      local s = models.as_model(step)
      if not s then
        error(string.format("pipeline: step %d is not a model or a model class (got %s)", i,
                            type(step)), 2)
      end
      local k = kind(s)
      if i < #steps and (type(s.transform) ~= "function" or (k ~= "transformer" and
                                                              k ~= "clusterer")) then
        error(string.format("pipeline: step %d (%s) must be a transformer: only the last step " ..
                            "may be a %s", i, tostring(s), kind(s) or "model"), 2)
      end
      self.steps[i] = s
    end
    local names, used = default_names(self.steps), {}
    for i = 1, #self.steps do
      local n = given[i]
      if n then
        local why = n == "" and "is empty"
                    or n:find("__", 1, true) and "contains '__' (it joins a step's name to its " ..
                                                 "parameters: step__param)"
                    or n:find(".", 1, true) and "contains '.' (it joins a step's name to its " ..
                                                "parameters: step.param)"
                    or n:match("^%d+$") and "is a number (numbers are step positions)"
        if why then error(string.format("pipeline: step %d's name '%s' %s", i, n, why), 2) end
        names[i] = n
      end
      if used[names[i]] then
        error(string.format("pipeline: steps %d and %d are both named '%s'; step names must be " ..
                            "unique", used[names[i]], i, names[i]), 2)
      end
      used[names[i]] = i
    end
    self.names = names
    return self
  end

  local function rows_array(rows)
    if rows == nil or tide.is_array(rows) or tide.is_rowset(rows) then return rows end
    local a = tide.zeros(#rows, "i64")
    for i = 1, #rows do a[i] = rows[i] end
    return a
  end

  -- A step that reads X through column maps, and (a transformer) gives its own.
  local function mapped(step, transformer)
    return step._class ~= nil and step._class.spec.mapped and
           (not transformer or type(step._colmap) == "function")
  end

  -- Whether the pipeline runs without copies: every step reads X through
  -- the maps of the transformers before it (scalers in front of linear
  -- models, logistic, k-NN or scalers), so no step makes a transformed
  -- copy of the rows; a fold of a 160 MB X costs a row block, not 160 MB.
  local function lazy(self)
    local n = #self.steps
    for i = 1, n do
      if not mapped(self.steps[i], i < n) then return false end
    end
    return true
  end

  -- The column maps of steps 1..upto (fitted), as one chain.
  local function chain(self, upto)
    local maps = {}
    for i = 1, upto do maps[i] = self.steps[i]:_colmap() end
    return #maps > 0 and maps or nil
  end

  -- Runs X through the transformers; returns the last step's input and
  -- the options for it (rows consumed by the first transform), or X and
  -- the maps to read it through.
  local function through(self, X, opts, upto)
    if lazy(self) then return X, {rows = opts.rows, _xmap = chain(self, upto)} end
    local Xt, o = X, {rows = opts.rows}
    for i = 1, upto do
      Xt = self.steps[i]:transform(Xt, o)
      o = {}
    end
    return Xt, o
  end

  function Pipe:fit(X, y, opts)
    if opts ~= nil and type(opts) ~= "table" then
      error("pipeline: bad argument #3 to 'fit' (options table expected)", 2)
    end
    opts = optmod.check(opts, "pipeline:fit", {"rows"}) or {}
    if type(y) == "table" then y = tide.array(y) end -- as Model:fit
    local n = #self.steps
    local Xt, yt, o = X, y, {rows = opts.rows}
    if lazy(self) then   -- each step reads X through the maps of those before it
      for i = 1, n do
        self.steps[i]:fit(X, y, {rows = opts.rows, _xmap = chain(self, i - 1)})
      end
      n, o = 0, nil
    end
    for i = 1, n - 1 do
      local s = self.steps[i]
      s:fit(Xt, yt, o)
      Xt = s:transform(Xt, o)
      if o.rows ~= nil and yt ~= nil then yt = yt:take(rows_array(o.rows)) end
      o = {}
    end
    if n > 0 then self.steps[n]:fit(Xt, yt, o) end
    n = #self.steps
    self._fitted = true
    self.n_features = X.shape[2]
    self.classes = self.steps[n].classes
    return self
  end

  local function need_fit(self, what)
    if not self._fitted then error("pipeline: " .. what .. " before fit", 3) end
  end

  function Pipe:predict(X, opts)
    need_fit(self, "predict")
    optmod.check(opts, "pipeline:predict", {"rows"})
    local Xt, o = through(self, X, opts or {}, #self.steps - 1)
    return self.steps[#self.steps]:predict(Xt, o)
  end

  function Pipe:predict_proba(X, opts)
    need_fit(self, "predict_proba")
    optmod.check(opts, "pipeline:predict_proba", {"rows"})
    local last = self.steps[#self.steps]
    if type(last.predict_proba) ~= "function" then
      error("pipeline: the last step has no predict_proba", 2)
    end
    local Xt, o = through(self, X, opts or {}, #self.steps - 1)
    return last:predict_proba(Xt, o)
  end

  function Pipe:decision_function(X, opts)
    need_fit(self, "decision_function")
    local last = self.steps[#self.steps]
    if type(last.decision_function) ~= "function" then
      error("pipeline: the last step has no decision_function", 2)
    end
    local Xt, o = through(self, X, opts or {}, #self.steps - 1)
    return last:decision_function(Xt, o)
  end

  function Pipe:transform(X, opts)
    need_fit(self, "transform")
    optmod.check(opts, "pipeline:transform", {"rows"})
    if kind(self) ~= "transformer" then error("pipeline: the last step is not a transformer", 2) end
    local n = #self.steps
    local Xt, o = through(self, X, opts or {}, n - 1)
    return self.steps[n]:transform(Xt, o)
  end

  function Pipe:fit_transform(X, y, opts) return self:fit(X, y, opts):transform(X, opts) end

  function Pipe:score(X, y, opts)
    need_fit(self, "score")
    opts = optmod.check(opts, "pipeline:score", {"rows"}) or {}
    if type(y) == "table" then y = tide.array(y) end
    if kind(self) == "clusterer" then -- k-means last: its own score (minus the inertia)
      local Xt, o = through(self, X, opts, #self.steps - 1)
      return self.steps[#self.steps]:score(Xt, nil, o)
    end
    local yhat = self:predict(X, opts)
    if kind(self) == "classifier" then return tide.metrics.accuracy(y, yhat, opts) end
    return tide.metrics.r2(y, yhat, opts)
  end

  -- scikit-learn's get_params(deep = True): "name__param" keys (a nested
  -- pipeline's own "inner__param" under its name).
  function Pipe:params()
    local t, names = {}, names_of(self)
    for i, s in ipairs(self.steps) do
      for k, v in pairs(s:params()) do t[names[i] .. "__" .. k] = v end
    end
    return t
  end

  local function list_names(self)
    return table.concat(names_of(self), ", ")
  end

  -- Which step a key names, and the parameter inside it: "name__param"
  -- (scikit-learn's), "2.param" (step number), "name.param" (step name, or
  -- the class name of one step), or "param" (the one step that has it).
  local function resolve(self, key, level)
    key = tostring(key)
    local names = names_of(self)
    local us, dot = key:find("__", 1, true), key:find(".", 1, true)
    local head, rest
    if us and (not dot or us < dot) then head, rest = key:sub(1, us - 1), key:sub(us + 2)
    elseif dot then head, rest = key:sub(1, dot - 1), key:sub(dot + 1) end
    if head and rest ~= "" then
      local i = math.tointeger(tonumber(head))
      if i then
        if not self.steps[i] then
          error(string.format("pipeline: parameter '%s': there is no step %d (%d steps: %s)", key,
                              i, #self.steps, list_names(self)), level)
        end
        return self.steps[i], rest
      end
      for j, n in ipairs(names) do
        if n == head then return self.steps[j], rest end
      end
      local found   -- a class name: the one step of that class
      for _, s in ipairs(self.steps) do
        if step_name(s) == head then
          if found then
            error(string.format("pipeline: parameter '%s': several steps are %s; use the step " ..
                                "name (steps: %s)", key, head, list_names(self)), level)
          end
          found = s
        end
      end
      if not found then
        error(string.format("pipeline: parameter '%s': no step is named '%s' (steps: %s)", key,
                            head, list_names(self)), level)
      end
      return found, rest
    end
    local found
    for _, s in ipairs(self.steps) do
      if s:params()[key] ~= nil then
        if found then
          error(string.format("pipeline: parameter '%s' belongs to several steps; write " ..
                              "'<step>__%s' (steps: %s)", key, key, list_names(self)), level)
        end
        found = s
      end
    end
    if not found then
      local ks = {}
      for k in pairs(self:params()) do ks[#ks + 1] = k end
      table.sort(ks)
      error(string.format("pipeline: unknown parameter '%s' (parameters: %s)", key,
                          table.concat(ks, ", ")), level)
    end
    return found, key
  end

  function Pipe:set(params, level)
    level = (level or 2) + 1
    local per = {}
    for k, v in pairs(params) do
      local s, name = resolve(self, k, level)
      per[s] = per[s] or {}
      per[s][name] = v
    end
    for s, t in pairs(per) do s:set(t, level) end
    return self
  end

  function Pipe:clone()
    local steps = {}
    local names = names_of(self)
    for i, s in ipairs(self.steps) do steps[i] = {names[i], s:clone()} end
    return models.pipeline(steps)
  end

  function Pipe:is_fitted() return self._fitted == true end

  function Pipe:kind() return kind(self.steps[#self.steps]) end

  -- (for a search's shared groups) whether the steps read X through maps
  function Pipe:_lazy() return lazy(self) end

  -- pipeline{standard_scaler{}, ridge{}}; with names of one's own,
  -- pipeline{{"scale", standard_scaler{}}, {"fit", ridge{}}} (the constructor's form).
  function Pipe:describe()
    local parts, names = {}, names_of(self)
    local own = false
    for i, n in ipairs(default_names(self.steps)) do own = own or n ~= names[i] end
    for i, s in ipairs(self.steps) do
      parts[i] = (tostring(s):gsub(" %(fitted%)$", ""))
      if own then parts[i] = string.format("{%q, %s}", names[i], parts[i]) end
    end
    return string.format("pipeline{%s}%s", table.concat(parts, ", "),
                         self._fitted and " (fitted)" or "")
  end
end
