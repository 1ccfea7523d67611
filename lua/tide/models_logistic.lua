-- tide.models.logistic: L2-regularized logistic regression, binary and
-- multinomial (softmax), scikit-learn's LogisticRegression with penalty
-- "l2" and multi_class "auto".  The fit is C (runtime/models/logistic.c):
-- Newton-Cholesky for two classes and up to 511 features, L-BFGS
-- otherwise, each iteration a blocked pass over the rows (no copy of a
-- `rows =` fold).
--
-- Fitted fields:
--   classes    the sorted distinct labels of y (an array of y's dtype)
--   coef       two classes: a vector of p weights (scikit-learn's coef_[1]
--              row, i.e. coef_ of shape (1, p) flattened: the log-odds of
--              classes[2]); k > 2 classes: a k x p matrix, one row per class
--   intercept  two classes: a number; k > 2: a vector of k (summing to 0)
--   n_iter     solver iterations; converged: whether tol was reached (when
--              not, one line on stderr says so, as for lasso)
--   solver_used "newton-cholesky" or "lbfgs"
local tide = require "tide"
local optmod = require "tide.opts"
return function(models)
  local K = tide._internal.models
  local check = models.check

  local function fail(level, fmt, ...)
    error("logistic: " .. string.format(fmt, ...), level + 1)
  end

  local function ready(self, X, what)
    if not self._fitted then fail(3, "%s before fit", what) end
    if not tide.is_array(X) then
      fail(3, "bad argument #1 to '%s' (X must be an array, got %s)", what, type(X))
    end
    if X.ndim == 2 and X.shape[2] ~= self.n_features then
      fail(3, "X has %d features, but the model was fitted on %d", X.shape[2], self.n_features)
    end
  end

  local METHOD = {class = "predict", proba = "predict_proba", decision = "decision_function"}
  local function predict_as(self, X, opts, mode)
    if opts ~= nil and type(opts) ~= "table" then fail(3, "options must be a table") end
    -- a pipeline's column map: _xmap from the methods, xmap through Model:predict
    local o, xmap = {}, nil
    for k, v in pairs(opts or {}) do
      if k == "_xmap" or k == "xmap" then xmap = v else o[k] = v end
    end
    optmod.check(o, "logistic:" .. METHOD[mode], {"rows"}, 3)
    return K.logistic_predict(X, self.coef, self.intercept, self.classes, mode,
                              {rows = o.rows, xmap = xmap})
  end

  models.class("logistic", {
    kind = "classifier",
    params = {
      {"C", 1.0, check.number(0, nil, true)},
      {"fit_intercept", true, check.boolean},
      {"max_iter", 100, check.integer(0)},
      {"tol", 1e-4, check.number(0)},
      {"solver", "auto", check.oneof("auto", "lbfgs", "newton-cholesky")},
    },
    fitted = {"classes", "coef", "intercept", "n_iter", "converged", "solver_used"},
    fit_options = {"rows", "weights", "warm_start"},
    mapped = true,

    -- opts: rows (fold indices), weights (sample weights, one per row of X),
    -- warm_start (start from this model's last answer, when it has one of
    -- the same shape: a search's candidates along C)
    fit = function(self, X, y, opts)
      local p = self._p
      local init
      if opts.warm_start and self.coef then init = {coef = self.coef, intercept = self.intercept} end
      local r = K.logistic_fit(X, y, {
        rows = opts.rows, weights = opts.weights, C = p.C, tol = p.tol,
        max_iter = p.max_iter, fit_intercept = p.fit_intercept, solver = p.solver, init = init,
        xmap = opts.xmap,
      })
      self.classes, self.coef, self.intercept = r.classes, r.coef, r.intercept
      self.n_iter, self.converged, self.solver_used = r.n_iter, r.converged, r.solver
      if not r.converged then
        -- one line per fit, as lasso's (scikit-learn's ConvergenceWarning)
        tide._internal.log(string.format(
          "tide: logistic did not converge after %d iterations (%s; max |gradient| %.6g > tol " ..
          "%.6g): scale X or raise max_iter\n", r.n_iter, r.solver, r.grad_max, p.tol))
      end
    end,

    predict = function(self, X, opts)
      return predict_as(self, X, opts, "class")
    end,

    methods = {
      -- n x k class probabilities, columns in the order of self.classes.
      predict_proba = function(self, X, opts)
        ready(self, X, "predict_proba")
        return predict_as(self, X, opts, "proba")
      end,
      -- Decision values: a vector for two classes (log-odds of classes[2]),
      -- n x k softmax scores otherwise.
      decision_function = function(self, X, opts)
        ready(self, X, "decision_function")
        return predict_as(self, X, opts, "decision")
      end,
    },
  })
end
