-- ensemble.lua: the SuperLearner (tide.ensemble.superlearner) as a model
-- like any other: model classes in its layers, row subsets as rowsets,
-- searched and cross-validated with default folds, classifier stacks
-- (agreement with scikit-learn's StackingClassifier lives in
-- search_sklearn.lua; the serial reconstruction of a regressor stack too).
local check = require "check"
local M = tide.models

local X = tide.randn(400, 4, {seed = 3})
local y = X:col(1) * 2 - X:col(3) + tide.randn(400, {seed = 4}) * 0.1

-- model classes in the layers and as the meta learner
local byclass = tide.ensemble.superlearner{layers = {{M.ridge, M.linear}}, meta = M.linear}
local byinst = tide.ensemble.superlearner{layers = {{M.ridge{}, M.linear{}}}, meta = M.linear{}}
byclass:fit(X, y); byinst:fit(X, y)
check.eq((byclass:predict(X) - byinst:predict(X)):abs():max(), 0, "classes are default models")
check.eq(tostring(byclass:params().meta), "linear{}", "the meta class is stored as a model")
check.errors(function() tide.ensemble.superlearner{layers = {{M.ridge, print}}, meta = M.linear} end,
             "layer 1, entry 2 is not a model or a model class")
check.errors(function() tide.ensemble.superlearner{layers = {{M.ridge}}, meta = 3} end,
             "parameter 'meta' must be a model or a model class")

check.done()
