-- tide.models_linear: linear (OLS), ridge, lasso and elasticnet.  The
-- numeric work is in runtime/models/linear.c (least squares: Cholesky of the
-- normal equations, SVD fallback) and cd.c (coordinate descent); this file
-- gives them scikit-learn's parameters and the fitted fields coef (f64
-- array), intercept (number), n_iter, dual_gap.
local tide = require "tide"
return function(models)
  local K = tide._internal.models
  local check = models.check

  -- raised from check_opts: the levels are fail, check_opts, spec.fit,
  -- Model:fit, the caller
  local function fail(name, fmt, ...)
    error(name .. ": " .. string.format(fmt, ...), 5)
  end

  -- the fit options each class accepts are its spec's fit_options (a
  -- misspelt key is an error, raised by Model:fit); their values:
  local function check_opts(name, opts)
    local w = opts.sample_weight
    if w ~= nil and not tide.is_array(w) then
      fail(name, "fit option 'sample_weight' must be an array, got %s", type(w))
    end
  end

  -- Calls a kernel; its errors are raised at the user's fit call (levels:
  -- this function, spec.fit, Model:fit, the caller) and name the model.
  local function kernel(name, f, ...)
    local res = table.pack(pcall(f, ...))
    if not res[1] then
      local msg = tostring(res[2]):gsub("^[^\n]-:%d+: ", "")
      for _, k in ipairs{"linear", "ridge", "lasso", "elasticnet", "elastic net"} do
        if msg:sub(1, #k + 2) == k .. ": " then msg = msg:sub(#k + 3) break end
      end
      msg = name .. ": " .. msg
      error(msg, 4)
    end
    return table.unpack(res, 2, res.n)
  end

  local function predict(self, X, opts)
    return K.linear_predict(X, self.coef, self.intercept, {rows = opts.rows, xmap = opts.xmap})
  end

  -- Least squares and ridge: closed form, no iterations.
  local ls_opts = {"rows", "sample_weight"}
  local function ls_class(name, params, alpha_of)
    models.class(name, {
      kind = "regressor",
      params = params,
      fitted = {"coef", "intercept", "solver"},
      fit_options = ls_opts,
      mapped = true,
      fit = function(self, X, y, opts)
        check_opts(name, opts)
        local coef, b, solver = kernel(name, K.ridge_fit, X, y, {
          alpha = alpha_of(self._p), fit_intercept = self._p.fit_intercept,
          rows = opts.rows, sample_weight = opts.sample_weight, xmap = opts.xmap})
        self.coef, self.intercept, self.solver = coef, b, solver
      end,
      predict = predict,
    })
  end

  ls_class("linear", {{"fit_intercept", true, check.boolean}}, function() return 0 end)
  ls_class("ridge", {
    {"alpha", 1.0, check.number(0)},
    {"fit_intercept", true, check.boolean},
  }, function(p) return p.alpha end)

  -- Coordinate descent (scikit-learn's ElasticNet / Lasso).
  local function precompute_check(v)
    if v ~= "auto" and v ~= true and v ~= false then
      return "must be \"auto\", true or false"
    end
  end

  local cd_opts = {"rows", "sample_weight", "warm_start"}
  local function cd_class(name, l1_param)
    local params = {{"alpha", 1.0, check.number(0)}}
    if l1_param then params[#params + 1] = {"l1_ratio", 0.5, check.number(0, 1)} end
    for _, p in ipairs{
      {"fit_intercept", true, check.boolean},
      {"max_iter", 1000, check.integer(1)},
      {"tol", 1e-4, check.number(0)},
      {"positive", false, check.boolean},
      {"warm_start", false, check.boolean},
      {"selection", "cyclic", check.oneof("cyclic", "random")},
      {"random_state", 0, check.integer()},
      {"precompute", "auto", precompute_check},
    } do params[#params + 1] = p end
    models.class(name, {
      kind = "regressor",
      params = params,
      fitted = {"coef", "intercept", "n_iter", "dual_gap", "converged"},
      fit_options = cd_opts,
      mapped = true,
      fit = function(self, X, y, opts)
        check_opts(name, opts)
        local p = self._p
        local warm = opts.warm_start
        if warm == nil then warm = p.warm_start end
        local coef0
        if warm and self.coef and X.ndim == 2 and #self.coef == X.shape[2] then
          coef0 = self.coef
        end
        local coef, b, n_iter, gap, tol, converged = kernel(name, K.enet_fit, X, y, {
          alpha = p.alpha, l1_ratio = l1_param and p.l1_ratio or 1.0, tol = p.tol,
          max_iter = p.max_iter, fit_intercept = p.fit_intercept, positive = p.positive,
          selection = p.selection, random_state = p.random_state,
          precompute = p.precompute, coef = coef0, rows = opts.rows,
          sample_weight = opts.sample_weight, xmap = opts.xmap})
        self.coef, self.intercept, self.n_iter = coef, b, n_iter
        local nrows = opts.rows and #opts.rows or X.shape[1]
        self.dual_gap, self.converged = gap / nrows, converged
        if not converged then
          -- one line per fit, like scikit-learn's ConvergenceWarning
          tide._internal.log(string.format(
            "tide: %s did not converge after %d iterations (duality gap %.6g > tol %.6g)\n",
            name, n_iter, gap, tol))
        end
      end,
      predict = predict,
    })
  end

  cd_class("lasso", false)
  cd_class("elasticnet", true)
end
