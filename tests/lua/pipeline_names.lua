-- pipeline_names.lua: pipeline steps have names as scikit-learn's
-- make_pipeline gives them (the class name, "-1", "-2", ... for a name
-- several steps share) or as {"name", model} pairs; parameters are
-- "step__param" in params(), set, grid search, randomized search, the
-- report and best_params, beside tide's "2.C" and "logistic.C".
local check = require "check"
local M = tide.models

-- make_pipeline's names
local p = tide.pipeline{M.standard_scaler, M.logistic{C = 2}}
check.eq(table.concat(p.names, ","), "standard_scaler,logistic", "class names")
check.eq(p.named_steps.logistic, p.steps[2], "named_steps")
local d = tide.pipeline{M.standard_scaler, M.minmax_scaler, M.standard_scaler, M.ridge}
check.eq(table.concat(d.names, ","), "standard_scaler-1,minmax_scaler,standard_scaler-2,ridge",
         "a shared class name gets -1, -2 in order")
-- {"name", model} pairs, mixed with plain steps
local q = tide.pipeline{{"scale", M.standard_scaler}, M.logistic}
check.eq(table.concat(q.names, ","), "scale,logistic", "names given")
check.eq(tostring(q), 'pipeline{{"scale", standard_scaler{}}, {"logistic", logistic{}}}',
         "describe shows names given")
check.eq(tostring(p), "pipeline{standard_scaler{}, logistic{C=2}}", "describe without names")
check.eq(table.concat(q:clone().names, ","), "scale,logistic", "clone keeps the names")

-- params() as get_params: step__param
local prm = p:params()
check.eq(prm.logistic__C, 2, "params logistic__C")
check.eq(prm.standard_scaler__with_mean, true, "params standard_scaler__with_mean")
check.eq(prm["2.C"], nil, "params gives one form")
-- set: every form
p:set{logistic__C = 3}; check.eq(p.steps[2]:params().C, 3, "set logistic__C")
p:set{["2.C"] = 4}; check.eq(p.steps[2]:params().C, 4, "set 2.C")
p:set{["logistic.C"] = 5}; check.eq(p.steps[2]:params().C, 5, "set logistic.C")
q:set{scale__with_std = false}; check.eq(q.steps[1]:params().with_std, false, "set scale__with_std")
q:set{["scale.with_mean"] = false}; check.eq(q.steps[1]:params().with_mean, false, "set scale.with_mean")
d:set{["standard_scaler-2__with_mean"] = false}
check.eq(d.steps[3]:params().with_mean, false, "set standard_scaler-2__with_mean")
check.eq(d.steps[1]:params().with_mean, true, "the other scaler keeps its value")
-- nested pipelines: outer__inner__param
local nest = tide.pipeline{M.minmax_scaler, q}
check.eq(nest:params().pipeline__logistic__C, 1, "nested params")
nest:set{pipeline__logistic__C = 7}
check.eq(nest.steps[2].steps[2]:params().C, 7, "set a nested step's parameter")
check.eq(nest:clone():params().pipeline__logistic__C, 7, "clone of a nested pipeline")

-- errors name the steps
check.errors(function() p:set{logstic__C = 1} end,
             "pipeline: parameter 'logstic__C': no step is named 'logstic' (steps: standard_scaler, logistic)")
check.errors(function() d:set{standard_scaler__with_mean = false} end,
             "several steps are standard_scaler; use the step name (steps: standard_scaler-1, " ..
             "minmax_scaler, standard_scaler-2, ridge)")
check.errors(function() p:set{["3.C"] = 1} end, "there is no step 3 (2 steps: standard_scaler, logistic)")
check.errors(function() p:set{logistic__alpha = 1} end, "logistic: unknown parameter 'alpha'")
check.errors(function() tide.pipeline{{"a__b", M.standard_scaler}, M.ridge} end,
             "step 1's name 'a__b' contains '__'")
check.errors(function() tide.pipeline{{"a.b", M.standard_scaler}, M.ridge} end,
             "step 1's name 'a.b' contains '.'")
check.errors(function() tide.pipeline{{"2", M.standard_scaler}, M.ridge} end,
             "step 1's name '2' is a number")
check.errors(function() tide.pipeline{{"", M.standard_scaler}, M.ridge} end, "is empty")
check.errors(function() tide.pipeline{{"ridge", M.standard_scaler}, M.ridge} end,
             "steps 1 and 2 are both named 'ridge'")

-- a search takes step__param: the same rows as "2.C", the keys as given
local X = tide.randn({600, 4}, {seed = 1})
local y = (X:col(1) + X:col(2) * 0.5 + tide.randn(600, {seed = 2}) * 0.5):gt(0):astype("i64")
local folds = tide.cv.kfold(600, 3)
local pipe = tide.pipeline{M.standard_scaler, M.logistic}
local a = tide.search{model = pipe, grid = {logistic__C = {0.01, 1}}, X = X, y = y, cv = folds,
                      jobs = 2}
local b = tide.search{model = pipe, grid = {["2.C"] = {0.01, 1}}, X = X, y = y, cv = folds,
                      jobs = 2}
for i, r in ipairs(a:rows()) do
  check.near(r.mean_test, b:rows()[i].mean_test, 1e-9, "logistic__C and 2.C: candidate " .. i)
end
check.eq(a.best_params.logistic__C, b.best_params["2.C"], "best_params in the grid's form")
check.truthy(a:report():find("{logistic__C=1}", 1, true), "report: " .. a:report())
check.eq(a.best_model.steps[2]:params().C, a.best_params.logistic__C, "best_model refitted with it")
check.eq(a.best_model.names[2], "logistic", "best_model keeps the names")
-- unshared too (share = false), and a linear group folded through the scaler
local c = tide.search{model = pipe, grid = {logistic__C = {0.01, 1}}, X = X, y = y, cv = folds,
                      jobs = 1, share = false}
check.near(c.best_score, a.best_score, 1e-6, "share = false")
local yr = X:col(1) * 2 - X:col(3) + tide.randn(600, {seed = 3}) * 0.1
local rp = tide.pipeline{{"scale", M.standard_scaler}, {"reg", M.ridge}}
local rs = tide.search{model = rp, grid = {reg__alpha = {0.1, 10, 1000}}, X = X, y = yr, cv = folds}
local rn = tide.search{model = rp, grid = {reg__alpha = {0.1, 10, 1000}}, X = X, y = yr, cv = folds,
                       share = false}
check.truthy(rs:plan():find("Gram", 1, true), "scaler + ridge by name shares moments: " .. rs:plan())
check.near(rs.best_score, rn.best_score, 1e-9, "shared and alone agree")
check.eq(rs.best_params.reg__alpha, rn.best_params.reg__alpha, "same best alpha")
-- randomized search over a named step's parameter
local r = tide.search{model = pipe, grid = {logistic__C = tide.dist.loguniform(1e-3, 1e2)}, X = X,
                      y = y, cv = folds, budget = 4, seed = 2, jobs = 2}
check.eq(#r.candidates, 4, "randomized search")
check.truthy(type(r.best_params.logistic__C) == "number", "randomized best_params logistic__C")
-- an unknown step name fails before any task, naming the steps
check.errors(function()
  tide.search{model = pipe, grid = {logstic__C = {1}}, X = X, y = y, cv = folds}
end, "search: candidate 1 {logstic__C=1}: pipeline: parameter 'logstic__C': no step is named " ..
     "'logstic' (steps: standard_scaler, logistic)")

-- a fitted pipeline with names comes back from a task whole
local got = tide.collect(function(i)
  return tide.pipeline{{"s", M.standard_scaler}, {"m", M.logistic{C = i}}}:fit(X, y)
end, 2, {jobs = 2})
check.eq(table.concat(got[2].names, ","), "s,m", "names cross the codec")
check.eq(got[2].named_steps.m:params().C, 2, "named_steps of a pipeline from a task")

check.done()
