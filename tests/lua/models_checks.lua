-- models_checks.lua: checks every model gets from the shared fit path of
-- models.lua: a classifier refuses a continuous target (scikit-learn's
-- "Unknown label type: continuous"), and an iterative solver that stops
-- short of its tolerance says so on stderr, one line per fit.
local check = require "check"
local tide = require "tide"
local M = tide.models

local X = tide.randn({300, 4}, {seed = 1})
local y = X:col(1) * 2 + X:col(2)            -- continuous
local labels = tide.zeros(300, "i64")
for i = 1, 300 do labels[i] = y[i] > 0 and 1 or 0 end

local function fit_error(m, yy, opts)
  local ok, err = pcall(m.fit, m, X, yy, opts)
  return ok and "(no error)" or tostring(err)
end

-- Every classifier refuses it, naming the first offending row and value.
local y1 = y[1]
for _, m in ipairs{M.logistic{}, M.knn_classifier{}, M.svc{},
                   tide.pipeline{M.standard_scaler{}, M.logistic{}}} do
  local err = fit_error(m, y)
  check.truthy(err:find("Unknown label type: continuous (y[1] = " .. string.format("%.14g", y1) ..
                        " is not a whole number", 1, true), tostring(m) .. ": " .. err)
end
-- A classifier made elsewhere with tide.models.class gets the check too.
local fitted = 0
local Majority = M.class("test_majority", {
  kind = "classifier", params = {},
  fit = function(self) fitted = fitted + 1; self.label = 0 end,
  predict = function(self, X2) return tide.zeros(X2.shape[1]) end,
})
check.truthy(fit_error(Majority{}, y):find("test_majority: Unknown label type: continuous", 1, true),
             "a class of another family")
check.eq(fitted, 0, "the refused fit never ran")
-- The error points at the caller's line.
local ok, err = pcall(function() M.logistic{}:fit(X, y) end)
check.truthy(not ok and err:find("models_checks.lua:%d+: logistic: Unknown label type"), err)
-- NaN and infinities are not labels either; the value is shown as read.
local yn = labels:astype("f64")
yn[5] = 0 / 0
check.truthy(fit_error(M.logistic{}, yn):find("(y[5] = nan is not a whole number", 1, true),
             "NaN label")
yn[5] = math.huge
check.truthy(fit_error(M.logistic{}, yn):find("(y[5] = inf is not", 1, true), "inf label")
-- Whole floats, integers, booleans and tables of integers are labels.
check.truthy(M.logistic{}:fit(X, labels:astype("f64")).classes.dtype == "f64", "whole floats")
check.truthy(M.logistic{}:fit(X, labels):is_fitted(), "integers")
check.truthy(M.knn_classifier{}:fit(X, labels:gt(0)):is_fitted(), "booleans")
check.truthy(M.logistic{}:fit(X, labels:totable()):is_fitted(), "a table of integers")
check.truthy(fit_error(M.logistic{}, y:totable()):find("Unknown label type", 1, true),
             "a table of floats")
-- Only the rows fitted are read: a fold without the bad row fits.
yn[5] = 0.5
check.truthy(M.logistic{}:fit(X, yn, {rows = tide.range(6, 300)}):is_fitted(), "rows skip it")
check.truthy(fit_error(M.logistic{}, yn, {rows = {7, 5, 9}}):find("y[5] = 0.5", 1, true),
             "rows include it")
-- Regressors and transformers take any target.
check.truthy(M.ridge{}:fit(X, y):is_fitted(), "a regressor takes a continuous y")
check.truthy(M.standard_scaler{}:fit(X):is_fitted(), "a transformer takes no y")

-- An iterative fit stopped short of tol writes one stderr line; a
-- converged one writes none.
local bin = os.getenv("TIDE_BIN")
if bin then
  local function run(body)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write("local X = tide.randn({400, 5}, {seed = 3}) * 1000\n" ..
            "local y = tide.zeros(400, 'i64')\n" ..
            "for i = 1, 400 do y[i] = (X:get(i, 1) + X:get(i, 2) > 0) and 1 or 0 end\n" ..
            "local y3 = tide.zeros(400, 'i64')\n" ..
            "for i = 1, 400 do y3[i] = i % 3 end\n" .. body)
    f:close()
    local p = io.popen(bin .. " " .. script .. " 2>&1 >/dev/null")
    local out = p:read("a")
    p:close()
    os.remove(script)
    return out
  end
  local out = run("tide.models.logistic{max_iter = 2}:fit(X, y)")
  check.truthy(out:find("^tide: logistic did not converge after 2 iterations %(newton%-cholesky; " ..
                        "max |gradient| [%d.e+-]+ > tol 0.0001%): scale X or raise max_iter\n$"),
               "binary logistic line: " .. out)
  out = run("tide.models.logistic{max_iter = 3}:fit(X, y3)")
  check.truthy(out:find("^tide: logistic did not converge after 3 iterations %(lbfgs; "), "softmax: " .. out)
  out = run("tide.models.logistic{max_iter = 3, solver = 'lbfgs'}:fit(X, y)")
  check.truthy(out:find("after 3 iterations (lbfgs;", 1, true), "binary lbfgs: " .. out)
  out = run("tide.models.elasticnet{alpha = 1e-9, max_iter = 2, tol = 1e-12}:fit(X, X:col(3))")
  check.truthy(out:find("^tide: elasticnet did not converge after 2 iterations %(duality gap"),
               "elasticnet: " .. out)
  out = run("tide.models.lasso{alpha = 1e-9, max_iter = 2, tol = 1e-12}:fit(X, X:col(3))")
  check.truthy(out:find("^tide: lasso did not converge after 2 iterations"), "lasso: " .. out)
  out = run("tide.models.logistic{}:fit(X / 1000, y); tide.models.lasso{}:fit(X, X:col(3))")
  check.eq(out, "", "converged fits say nothing")
end

check.done()
