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

-- rows as a rowset, an index array or a table: the same as fitting on copies of those rows
local sl = tide.ensemble.superlearner{layers = {{M.ridge, M.lasso{alpha = 0.05}}}, meta = M.linear,
                                      jobs = 2}
local copy = sl:clone():fit(X:take(tide.rowset{{1, 150}, {251, 400}}),
                            y:take(tide.rowset{{1, 150}, {251, 400}}))
local want = copy:predict(X)
for _, rows in ipairs{tide.rowset{{1, 150}, {251, 400}}, tide.rowset{{1, 150}, {251, 400}}:array(),
                      tide.rowset{{1, 150}, {251, 400}}:totable()} do
  local got = sl:clone():fit(X, y, {rows = rows}):predict(X)
  check.near((got - want):abs():max(), 0, 1e-12, "fit on rows given as " ..
             (tide.is_rowset(rows) and "a rowset" or type(rows)))
end
check.near(sl:clone():fit(X, y, {rows = tide.rowset(1, 300)}):predict(X, {rows = tide.rowset(301, 400)})[7],
           sl:clone():fit(X:slice(1, 1, 300), y:slice(1, 1, 300)):predict(X)[307], 1e-12,
           "predict on rows")

-- searched and cross-validated with default folds (unshuffled k-fold: rowsets)
local s = tide.search{model = sl, grid = {folds = {2, 3}}, X = X, y = y, cv = tide.cv.kfold(400, 3),
                      jobs = 2}
local cvfolds = tide.cv.kfold(400, 3)
for c, r in ipairs(s:rows()) do
  check.eq(r.error, nil, "no fold failed")
  for f, fold in ipairs(cvfolds) do
    local m = sl:clone():set(s.candidates[c]):fit(X, y, {rows = fold.train})
    check.near(r.scores[f], m:score(X, y, {rows = fold.test}), 1e-12, "search score " .. c .. ", " .. f)
  end
end
check.truthy(s.best_score > 0.99, "a superlearner searched")
local cvr = tide.cross_validate(sl, X, y, {jobs = 2})
check.eq(#cvr.test_score, 5, "default folds")
for f, fold in ipairs(tide.cv.kfold(400, 5)) do
  local m = sl:clone():fit(X:take(fold.train), y:take(fold.train))
  check.near(cvr.test_score[f], m:score(X:take(fold.test), y:take(fold.test)), 1e-10,
             "cross_validate fold " .. f)
end

-- a stack of classifiers: the base learners' class probabilities feed the
-- meta learner, and its score is the accuracy
local yc = (X:col(1) + X:col(2) * 0.5 + tide.randn(400, {seed = 5}) * 0.3):gt(0):astype("i64") * 3 + 2
local base = {M.logistic{C = 0.5}, M.knn_classifier{k = 7}}
local cls = tide.ensemble.superlearner{layers = {base, }, meta = M.logistic, jobs = 2}:fit(X, yc)
check.eq(cls:kind(), "classifier", "a stack's kind is its meta learner's")
check.array(cls.classes, {2, 5}, nil, "the stack's classes")
local P = tide.zeros(400, 4)
for j, m in ipairs(base) do
  for _, f in ipairs(tide.cv.kfold(400, 2)) do
    local pr = m:clone():fit(X, yc, {rows = f.train}):predict_proba(X, {rows = f.test})
    for i = 1, #f.test do
      P:set(f.test[i], 2 * j - 1, pr:get(i, 1)); P:set(f.test[i], 2 * j, pr:get(i, 2))
    end
  end
end
local meta = M.logistic{}:fit(P, yc)
local Q = tide.zeros(400, 4)
for j, m in ipairs(base) do Q:slice(2, 2 * j - 1, 2 * j):assign_(m:clone():fit(X, yc):predict_proba(X)) end
check.near((cls:predict_proba(X) - meta:predict_proba(Q)):abs():max(), 0, 1e-9,
           "a classifier stack matches its serial steps on probabilities")
local acc = tide.metrics.accuracy(yc, cls:predict(X))
check.eq(cls:score(X, yc), acc, "a classifier stack scores with accuracy")
check.eq(tide.cross_validate(cls, X, yc, {cv = 2}).test_score[1],
         cls:clone():fit(X, yc, {rows = tide.cv.stratified_kfold(yc, 2)[1].train})
            :score(X, yc, {rows = tide.cv.stratified_kfold(yc, 2)[1].test}), "classifier folds")
-- a class a fold's learner never saw gets probability 0 from it
local y3 = yc:copy(); y3:slice(1, 1, 20):fill_(9)
local c3 = tide.ensemble.superlearner{layers = {{M.knn_classifier{k = 3}}}, meta = M.logistic}:fit(X, y3)
check.array(c3.classes, {2, 5, 9}); check.eq(c3:predict_proba(X).shape[2], 3)
-- a regressor meta learner over classifiers gets their labels, one column each
local reg = tide.ensemble.superlearner{layers = {base}, meta = M.linear}:fit(X, yc)
check.eq(reg:kind(), "regressor"); check.eq(reg.classes, nil)

check.done()
