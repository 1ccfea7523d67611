-- tide.models.svc, tide.models.svr: support vector machines through libsvm
-- (Debian's 3.24; scikit-learn's SVC and SVR are libsvm too), with
-- scikit-learn's parameters and defaults.  The fit is C
-- (runtime/models/svm.c): the rows fitted go to libsvm once (a `rows =`
-- fold is gathered, X is never copied whole), libsvm's model is read and
-- freed; predictions are computed in C from the fields kept here, the
-- kernel by BLAS.
--
-- Fitted fields (scikit-learn's, without the trailing underscore):
--   support          1-based row numbers of X (grouped by class for svc)
--   support_vectors  n_sv x p
--   n_support        support vectors per class (svr: {n_sv})
--   dual_coef        (k - 1) x n_sv (svr: 1 x n_sv); for two classes the
--                    sign makes the decision > 0 for classes[2]
--   intercept        a number for two classes and for svr, else a vector of
--                    k (k - 1) / 2, one per pair (1,2), (1,3), ..., (2,3), ...
--   classes          sorted labels, y's dtype (svc); class_weight: C's factor
--                    per class; probA, probB: Platt's sigmoids (probability)
--   coef             linear kernel only: the primal weights (p, or one row
--                    per pair)
--   n_iter           solver iterations (per pair for svc); converged
--   gamma_used       the gamma of the kernel ("scale": 1 / (p * X:var()))
local tide = require "tide"
local optmod = require "tide.opts"
return function(models)
  local K = tide._internal.models
  local check = models.check

  local function positive(v)
    if type(v) ~= "number" or not (v > 0) or v == math.huge then
      return "must be a positive finite number, got " .. tostring(v)
    end
  end
  local function finite(v)
    if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
      return "must be a finite number, got " .. tostring(v)
    end
  end
  local function gamma(v)
    if v == "scale" or v == "auto" then return end
    if type(v) ~= "number" or not (v >= 0) or v == math.huge then
      return "must be \"scale\", \"auto\" or a finite number >= 0, got " .. tostring(v)
    end
  end
  local function max_iter(v)
    if math.type(v) ~= "integer" then return "must be an integer" end
    if v ~= -1 then
      return "must be -1 (no limit): Debian's libsvm 3.24 takes no iteration limit; its " ..
             "solver stops after max(10^7, 100 n) iterations"
    end
  end
  local function class_weight(v)
    if v == nil or v == "balanced" then return end
    if type(v) ~= "table" then return "must be nil, \"balanced\" or a table {[label] = weight}" end
    for label, w in pairs(v) do
      if type(label) ~= "number" then return "keys must be labels (numbers), got " .. tostring(label) end
      if type(w) ~= "number" or not (w > 0) or w == math.huge then
        return string.format("weights must be positive finite numbers (label %s: %s)",
                             tostring(label), tostring(w))
      end
    end
  end

  -- class_weight as svm_fit takes it
  local function cw_arg(v)
    if type(v) ~= "table" then return v end
    local labels, weights = {}, {}
    for label, w in pairs(v) do labels[#labels + 1] = label + 0.0; weights[#weights + 1] = w + 0.0 end
    if #labels == 0 then return nil end
    return {labels = tide.array(labels), weights = tide.array(weights)}
  end

  -- scikit-learn's order of parameters (describe() follows it)
  local P = {
    C = {"C", 1.0, positive},
    kernel = {"kernel", "rbf", check.oneof("linear", "poly", "rbf", "sigmoid")},
    degree = {"degree", 3, check.integer(0)},
    gamma = {"gamma", "scale", gamma},
    coef0 = {"coef0", 0.0, finite},
    tol = {"tol", 1e-3, positive},
    shrinking = {"shrinking", true, check.boolean},
    cache_size = {"cache_size", 200, positive},
    max_iter = {"max_iter", -1, max_iter},
    epsilon = {"epsilon", 0.1, function(v)
      if type(v) ~= "number" or not (v >= 0) or v == math.huge then
        return "must be a finite number >= 0, got " .. tostring(v)
      end
    end},
    probability = {"probability", false, check.boolean},
    class_weight = {"class_weight", nil, class_weight},
    decision_function_shape = {"decision_function_shape", "ovr", check.oneof("ovr", "ovo")},
    break_ties = {"break_ties", false, check.boolean},
    seed = {"seed", 0, check.integer(0)},
  }
  local function params_of(names)
    local t = {}
    for i, name in ipairs(names) do t[i] = P[name] end
    return t
  end

  -- the primal weights of a linear kernel (scikit-learn's coef_)
  local function linear_coef(self)
    local sv, dual = self.support_vectors, self.dual_coef
    if not self.classes or self.classes.size == 2 then
      return tide.matmul(dual, sv):reshape(sv.shape[2])
    end
    local k, ns = self.classes.size, self.n_support
    local start = {}
    local s = 1
    for c = 1, k do start[c] = s; s = s + ns[c] end
    local out = tide.zeros(k * (k - 1) // 2, sv.shape[2])
    local q = 1
    for i = 1, k - 1 do
      for j = i + 1, k do
        local w = tide.zeros(sv.shape[2])
        if ns[i] > 0 then
          local a = dual:slice(1, j - 1, j - 1):slice(2, start[i], start[i] + ns[i] - 1)
          w = w + tide.matmul(a, sv:slice(1, start[i], start[i] + ns[i] - 1)):reshape(sv.shape[2])
        end
        if ns[j] > 0 then
          local b = dual:slice(1, i, i):slice(2, start[j], start[j] + ns[j] - 1)
          w = w + tide.matmul(b, sv:slice(1, start[j], start[j] + ns[j] - 1)):reshape(sv.shape[2])
        end
        out[q]:add_(w)
        q = q + 1
      end
    end
    return out
  end

  local function fit(self, X, y, opts, type)
    if opts.weights ~= nil then
      error(string.format("%s: sample weights are not supported (Debian's libsvm 3.24 has no " ..
                          "instance weights); class_weight weighs classes", type), 4)
    end
    local p = self._p
    local r = K.svm_fit(X, y, {
      rows = opts.rows, type = type, kernel = p.kernel, degree = p.degree, gamma = p.gamma,
      coef0 = p.coef0, C = p.C, epsilon = p.epsilon, tol = p.tol, cache_size = p.cache_size,
      shrinking = p.shrinking, probability = p.probability, seed = p.seed,
      class_weight = cw_arg(p.class_weight),
    })
    for _, f in ipairs{"classes", "class_weight", "n_support", "support", "support_vectors",
                       "dual_coef", "intercept", "probA", "probB", "n_iter", "converged"} do
      self[f] = r[f]
    end
    self.gamma_used = r.gamma
    self.coef = nil
    self._spec = {type = type, kernel = p.kernel, degree = p.degree, gamma = r.gamma,
                  coef0 = p.coef0, support_vectors = r.support_vectors, dual_coef = r.dual_coef,
                  intercept = r.intercept, n_support = r.n_support, classes = r.classes,
                  probA = r.probA, probB = r.probB}
    if p.kernel == "linear" then self.coef = linear_coef(self) end
    if not r.converged then
      tide._internal.log(string.format("tide: %s: libsvm's solver stopped at its iteration cap " ..
                                    "(max(10^7, 100 n)) before reaching tol %g\n", type, p.tol))
    end
  end

  local function ready(self, X, what)
    if not self._fitted then error(self._class.name .. ": " .. what .. " before fit", 3) end
    if not tide.is_array(X) then
      error(string.format("%s: bad argument #1 to '%s' (X must be an array, got %s)",
                          self._class.name, what, type(X)), 3)
    end
    if X.ndim == 2 and X.shape[2] ~= self.n_features then
      error(string.format("%s: X has %d features, but the model was fitted on %d",
                          self._class.name, X.shape[2], self.n_features), 3)
    end
  end

  -- the method a kernel mode serves, for the options check's messages
  local METHOD = {class = "predict", class_ties = "predict", decision = "decision_function",
                  ovr = "decision_function", ovo = "decision_function", proba = "predict_proba"}
  local function run(self, X, opts, mode, method)
    if opts ~= nil and type(opts) ~= "table" then
      error(self._class.name .. ": options must be a table", 3)
    end
    optmod.check(opts, self._class.name .. ":" .. (method or METHOD[mode] or mode), {"rows"}, 3)
    local blas <close> = K.serial()
    return K.svm_predict(X, self._spec, mode, opts)
  end

  models.class("svc", {
    fit_options = {"rows", "weights"}, -- weights: refused with its reason
    kind = "classifier",
    params = params_of{"C", "kernel", "degree", "gamma", "coef0", "shrinking", "probability",
                       "tol", "cache_size", "class_weight", "max_iter", "decision_function_shape",
                       "break_ties", "seed"},
    check_all = function(p)
      if p.break_ties and p.decision_function_shape == "ovo" then
        return "break_ties must be false when decision_function_shape is \"ovo\""
      end
    end,
    fitted = {"classes", "class_weight", "n_support", "support", "support_vectors", "dual_coef",
              "intercept", "probA", "probB", "coef", "n_iter", "converged", "gamma_used"},

    -- opts: rows (fold indices)
    fit = function(self, X, y, opts) fit(self, X, y, opts, "svc") end,

    -- libsvm's one-vs-one vote (ties to the lower label); with break_ties
    -- (and shape "ovr", k > 2) the largest one-vs-rest value
    predict = function(self, X, opts)
      local p = self._p
      local ties = p.break_ties and p.decision_function_shape == "ovr"
      return run(self, X, opts, ties and "class_ties" or "class", "predict")
    end,

    methods = {
      -- two classes: a vector, > 0 for classes[2]; k > 2: n x k one-vs-rest
      -- values (decision_function_shape "ovr", scikit-learn's default) or
      -- n x k(k-1)/2 one-vs-one values ("ovo", pairs (1,2), (1,3), ...)
      decision_function = function(self, X, opts)
        ready(self, X, "decision_function")
        local mode = self.classes.size == 2 and "decision" or self._p.decision_function_shape
        return run(self, X, opts, mode, "decision_function")
      end,
      -- n x k probabilities (columns in the order of classes): libsvm's
      -- Platt sigmoids per pair, coupled; needs probability = true
      predict_proba = function(self, X, opts)
        ready(self, X, "predict_proba")
        if not self.probA then
          error("svc: predict_proba needs a model fitted with probability = true", 2)
        end
        return run(self, X, opts, "proba", "predict_proba")
      end,
      predict_log_proba = function(self, X, opts)
        ready(self, X, "predict_log_proba")
        if not self.probA then
          error("svc: predict_log_proba needs a model fitted with probability = true", 2)
        end
        return run(self, X, opts, "proba", "predict_log_proba"):log()
      end,
    },
  })

  models.class("svr", {
    fit_options = {"rows", "weights"},
    kind = "regressor",
    params = params_of{"kernel", "degree", "gamma", "coef0", "tol", "C", "epsilon", "shrinking",
                       "cache_size", "max_iter"},
    fitted = {"n_support", "support", "support_vectors", "dual_coef", "intercept", "coef",
              "n_iter", "converged", "gamma_used"},
    fit = function(self, X, y, opts) fit(self, X, y, opts, "svr") end,
    predict = function(self, X, opts) return run(self, X, opts, "value", "predict") end,
  })
end
