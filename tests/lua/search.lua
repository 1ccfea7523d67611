-- search.lua: splitters, grids, distributions, search / cross_validate /
-- learning_curve over a small model defined here (agreement with
-- scikit-learn's GridSearchCV lives in search_sklearn.lua).
local check = require "check"
local models = tide.models

-- folds: sizes, coverage, determinism
local folds = tide.cv.kfold(10, 3)
check.eq(#folds, 3)
check.array(folds[1].test:totable(), {1, 2, 3, 4}, nil, "first fold gets the extra row")
check.array(folds[3].test:totable(), {8, 9, 10})
check.array(folds[2].train:totable(), {1, 2, 3, 4, 8, 9, 10})
check.truthy(tide.is_rowset(folds[1].train), "unshuffled folds are rowsets")
check.eq(folds[1].train:array().dtype, "i64")
local seen = {}
local sh = tide.cv.kfold(1000, 5, {shuffle = true, seed = 7})
for _, f in ipairs(sh) do
  check.eq(#f.test + #f.train, 1000)
  for i = 1, #f.test do seen[f.test[i]] = (seen[f.test[i]] or 0) + 1 end
end
local once = true
for i = 1, 1000 do once = once and seen[i] == 1 end
check.truthy(once, "each row in exactly one test fold")
local sh2 = tide.cv.kfold(1000, 5, {shuffle = true, seed = 7})
check.array(sh2[3].test:totable(), sh[3].test:totable(), nil, "same seed, same folds")
check.truthy(tide.cv.kfold(1000, 5, {shuffle = true, seed = 8})[1].test[1] ~= sh[1].test[1] or
             tide.cv.kfold(1000, 5, {shuffle = true, seed = 8})[1].test[2] ~= sh[1].test[2],
             "another seed, other folds")
local labels = {}
for i = 1, 100 do labels[i] = i <= 30 and 1 or 0 end
local strat = tide.cv.stratified_kfold(tide.array(labels), 5)
for _, f in ipairs(strat) do
  local ones = 0
  for i = 1, #f.test do ones = ones + labels[f.test[i]] end
  check.eq(#f.test, 20); check.eq(ones, 6, "class proportions kept")
end
local ss = tide.cv.shuffle_split(50, {splits = 4, test = 0.2, seed = 3})
check.eq(#ss, 4); check.eq(#ss[1].test, 10); check.eq(#ss[1].train, 40)
check.errors(function() tide.cv.kfold(3, 5) end, "cannot make 5 folds of 3 rows")
check.errors(function() tide.cv.kfold(10, 1) end, "number of folds must be an integer >= 2")
check.errors(function() tide.cv.kfold(-1, 2) end, "row count must be a positive integer")

-- grids: fixed order, names sorted, the last varying fastest
local g = tide.grid{b = {1, 2}, a = tide.array({10, 20, 30})}
check.eq(#g, 6)
local c = g:candidates()
check.eq(c[1].a, 10); check.eq(c[1].b, 1); check.eq(c[2].b, 2); check.eq(c[3].a, 20)
check.eq(tide.grid.format(c[6]), "{a=30, b=2}")
check.eq(#tide.grid{{x = {1, 2}}, {y = {3}}}, 3, "a list of grids")
local s1, s2 = g:sample(3, 5), g:sample(3, 5)
check.eq(tide.grid.format(s1[2]), tide.grid.format(s2[2]), "sampling is seeded")
local rg = tide.grid{alpha = tide.dist.loguniform(1e-3, 1), k = tide.dist.randint(1, 3),
                     w = tide.dist.choice{"u", "d"}, f = tide.dist.uniform(2, 3)}
for _, cand in ipairs(rg:sample(50, 1)) do
  check.truthy(cand.alpha >= 1e-3 and cand.alpha < 1 and cand.k >= 1 and cand.k <= 3 and
               (cand.w == "u" or cand.w == "d") and cand.f >= 2 and cand.f < 3, "draws in range")
end
check.errors(function() rg:candidates() end, "give a budget")
check.errors(function() tide.dist.loguniform(0, 1) end, "0 < a < b")

-- a small regressor: predicts shrink * mean of y over its training rows
models.class("test_shrunk_mean", {
  kind = "regressor",
  params = {{"shrink", 1.0, models.check.number(0)}},
  fit = function(self, X, y, opts)
    if self._p.shrink == 0.5 then error("half is broken") end
    local s, rows = 0, opts.rows or tide.range(1, #y)
    for i = 1, #rows do s = s + y[rows[i]] end
    self.mean = self._p.shrink * s / #rows
  end,
  predict = function(self, X, opts) return tide.full({opts.rows and #opts.rows or #X}, self.mean) end,
})
local X = tide.randn(300, 2, {seed = 1})
local y = X:col(1) + 5
local grid = {shrink = {0, 0.5, 0.9, 1.0, 1.1}}
local folds4 = tide.cv.kfold(300, 4, {shuffle = true, seed = 2})
local s = tide.search{model = models.test_shrunk_mean{}, grid = grid, X = X, y = y, cv = folds4,
                      jobs = 2, scoring = "neg_mse", train_score = true}
check.eq(s.best_params.shrink, 1.0, "best candidate")
check.truthy(s.best_model:is_fitted(), "refit on all data")
local rows = s:rows()
check.eq(#rows, 5)
check.truthy(rows[2].error and rows[2].error:find("half is broken", 1, true), "failing candidate recorded")
check.eq(rows[2].rank, nil)
check.eq(rows[2].mean_test, nil, "every fold failed: no mean")
check.eq(rows[2].std_test, nil, "every fold failed: no std")
check.truthy(rows[2].error:find("[task 5,", 1, true), "the first fold's error: " .. rows[2].error)
check.eq(rows[4].rank, 1)
-- the same numbers as a serial loop over the candidates and folds
for ci, cand in ipairs(s.candidates) do
  if cand.shrink ~= 0.5 then
    local sum = 0
    for _, f in ipairs(folds4) do
      local m = models.test_shrunk_mean{shrink = cand.shrink}:fit(X, y, {rows = f.train})
      sum = sum - tide.metrics.mse(y, m:predict(X, {rows = f.test}), {rows = f.test})
    end
    check.near(rows[ci].mean_test, sum / 4, 1e-12, "mean score of candidate " .. ci)
  end
end
local rep = s:report(2)
check.truthy(rep:find("Rank 1: validation", 1, true) and rep:find("{shrink=1}", 1, true) and
             rep:find("train", 1, true), rep)
check.eq(select(2, rep:gsub("\n", "")) , 2, "two ranked lines and the failure line")
check.truthy(rep:find("\nFailed: {shrink=0.5}  [task 5, worker ", 1, true) and
             rep:find("half is broken$"), "the failed candidate, first line of its error: " .. rep)
check.eq(s:report():match("[^\n]*$"), rep:match("[^\n]*$"), "failed candidates come last")
-- errors are positive and rank lowest first; scikit-learn's neg_ names keep their sign
local smse = tide.search{model = models.test_shrunk_mean{}, grid = grid, X = X, y = y, cv = folds4,
                         jobs = 2, scoring = "mse"}
local sneg = tide.search{model = models.test_shrunk_mean{}, grid = grid, X = X, y = y, cv = folds4,
                         jobs = 2, scoring = "neg_mean_squared_error"}
for i, r in ipairs(smse:rows()) do
  if i ~= 2 then
    check.truthy(r.mean_test > 0, "mse is positive")
    check.near(r.mean_test, -sneg:rows()[i].mean_test, 1e-12, "mse = -neg_mean_squared_error")
    check.eq(r.rank, sneg:rows()[i].rank, "the same ranks either way")
  end
end
check.eq(smse.best_params.shrink, 1.0, "lowest mse is best")
check.near(smse.best_score, -sneg.best_score, 1e-12, "best_score as reported")
check.truthy(smse:report(1):find(string.format("Rank 1: validation %.5f", smse.best_score), 1, true),
             smse:report(1))
local smae = tide.search{model = models.test_shrunk_mean{}, grid = grid, X = X, y = y, cv = folds4,
                         scoring = "mae"}
local _, ranked = smae:rows()
check.truthy(ranked[1].mean_test > 0 and ranked[1].mean_test < ranked[2].mean_test, "mae ranked lowest first")
check.eq(smae.best_params.shrink, 1.0)
local lab = (X:col(1) + X:col(2) * 0.5):gt(0):astype("i64")
local sll = tide.search{model = models.logistic, grid = {C = {1e-3, 1}}, X = X, y = lab, cv = 3,
                        scoring = "log_loss"}
local snl = tide.search{model = models.logistic, grid = {C = {1e-3, 1}}, X = X, y = lab, cv = 3,
                        scoring = "neg_log_loss"}
check.eq(sll.best_params.C, 1, "lowest log loss is best")
check.truthy(sll.best_score > 0, "log_loss is positive")
check.near(sll.best_score, -snl.best_score, 1e-12, "log_loss = -neg_log_loss")
check.eq(snl.best_params.C, 1)

-- one fold: its std is 0
local one = tide.search{model = models.test_shrunk_mean{}, grid = {shrink = {1.0}}, X = X, y = y,
                        cv = {folds4[1]}, train_score = true}
check.eq(one:rows()[1].std_test, 0, "std_test of one fold")
check.eq(one:rows()[1].std_train, 0, "std_train of one fold")
-- jobs = 1 gives the same ranking
local s1 = tide.search{model = models.test_shrunk_mean{}, grid = grid, X = X, y = y, cv = folds4,
                       jobs = 1, scoring = "neg_mse"}
check.near(s1.best_score, s.best_score, 1e-12, "serial and parallel agree")

-- async: returns at once, reports partial rankings, then the whole
local slow = models.class("test_slow_mean", {
  kind = "regressor",
  params = {{"shrink", 1.0}},
  fit = function(self, X, y, opts) tide.sleep(0.05); self.mean = self._p.shrink * 5 end,
  predict = function(self, X, opts) return tide.full({opts.rows and #opts.rows or #X}, self.mean) end,
})
local a = tide.search{model = slow{}, grid = {shrink = {0.8, 0.9, 1.0, 1.1}}, X = X, y = y,
                      cv = folds4, jobs = 2, async = true}
local d, total = a:progress()
check.eq(total, 16); check.truthy(d < 16, "returned before the fits finished")
tide.sleep(0.3)
local partial = a:report()
check.truthy(partial:find("fits done", 1, true), "partial report: " .. partial)
a:wait()
check.eq(a:progress(), 16)
check.eq(a.best_params.shrink, 1.0)
check.truthy(not a:report():find("fits done", 1, true), "final report")

-- budget: randomized search over a distribution
local r = tide.search{model = models.test_shrunk_mean{}, grid = {shrink = tide.dist.uniform(0.6, 1.4)},
                      X = X, y = y, cv = 3, budget = 6, seed = 4, jobs = 2}
check.eq(#r.candidates, 6)
check.truthy(math.abs(r.best_params.shrink - 1) < 0.4, "randomized search")

-- cross_validate and learning_curve
local cvr = tide.cross_validate(models.test_shrunk_mean{}, X, y, {cv = 3, train_score = true})
check.eq(#cvr.test_score, 3); check.eq(#cvr.train_score, 3); check.truthy(cvr.fit_time[1] >= 0)
local lc = tide.learning_curve(models.test_shrunk_mean{}, X, y, {sizes = {0.5, 1.0}, cv = 3})
check.eq(#lc.sizes, 2); check.eq(lc.sizes[2], 200); check.eq(#lc.test_scores[1], 3)

-- a model class means the model with default parameters, wherever a model is taken
local byclass = tide.search{model = models.test_shrunk_mean, grid = grid, X = X, y = y,
                            cv = folds4, jobs = 2, scoring = "neg_mse"}
check.eq(byclass.best_score, s.best_score, "search over a class")
check.eq(tostring(byclass.best_model), "test_shrunk_mean{} (fitted)", "refit from a class")
local cvc = tide.cross_validate(models.test_shrunk_mean, X, y, {cv = folds4, scoring = "neg_mse"})
check.near(cvc.test_score[2], s:rows()[4].scores[2], 1e-12, "cross_validate of a class")
local lcc = tide.learning_curve(models.test_shrunk_mean, X, y, {sizes = {0.5, 1.0}, cv = 3})
check.eq(lcc.test_scores[2][1], lc.test_scores[2][1], "learning_curve of a class")
check.errors(function() tide.cross_validate(print, X, y) end,
             "cross_validate: the model must be a model or a model class, got function")
check.errors(function() tide.learning_curve(3, X, y) end,
             "learning_curve: the model must be a model or a model class, got number (call " ..
             "learning_curve(model, X, y [, opts]) or learning_curve{model =, X =, y =, ...})")

-- cross_validate and learning_curve also take tide.search's one-table form
local lct = tide.learning_curve{model = models.test_shrunk_mean, X = X, y = y, sizes = {0.5, 1.0}, cv = 3}
check.eq(lct.test_scores[2][1], lc.test_scores[2][1], "learning_curve{...}")
check.eq(lct.sizes[1], 100, "learning_curve{...} options")
local cvt = tide.cross_validate{model = models.test_shrunk_mean, X = X, y = y, cv = folds4,
                                scoring = "neg_mse", train_score = true}
check.eq(cvt.test_score[2], cvc.test_score[2], "cross_validate{...}")
check.eq(#cvt.train_score, 4, "cross_validate{...} options")
check.errors(function() tide.learning_curve{model = models.test_shrunk_mean, X = X} end,
             "learning_curve: y must be an array, got nil")
check.errors(function() tide.cross_validate{models.test_shrunk_mean, X, y} end,
             "cross_validate: the model must be a model or a model class, got nil (call")

-- bad input
check.errors(function() tide.search{model = models.test_shrunk_mean{}, grid = {nope = {1}}, X = X, y = y} end,
             "unknown parameter 'nope'")
check.errors(function() tide.search{model = models.test_shrunk_mean{}, grid = {shrink = {1, -1}},
                                    X = X, y = y} end,
             "search: candidate 2 {shrink=-1}: test_shrunk_mean: parameter 'shrink' must be >= 0, got -1")
check.errors(function() tide.search{model = models.lasso, grid = {alpha = {1, -1}}, X = X, y = y} end,
             "search: candidate 2 {alpha=-1}: lasso: parameter 'alpha' must be >= 0")
check.errors(function() tide.search{model = models.test_shrunk_mean{}, X = X, y = y, scoring = "nope"} end,
             "unknown scoring 'nope'")
check.errors(function() tide.search{model = 3, X = X, y = y} end,
             "'model' must be a model or a model class (for example tide.models.ridge), got number")
check.errors(function() tide.search{model = models.test_shrunk_mean{}, X = X} end, "'y' must be an array")
check.done()
