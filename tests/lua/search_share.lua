-- search_share.lua: a search whose candidates share work (share = true, the
-- default) gives the rows of the same search with share = false: every
-- model family, train scores, several scorings and kinds of folds.
local check = require "check"
local models = tide.models

local X = tide.rand(1200, 5, {seed = 1})
local y = X:col(1) * 3 + X:col(2) - X:col(3) * 2 + tide.randn(1200, {seed = 2}) * 0.3
local lab2 = (X:col(1) + X:col(2) * 0.5 + tide.randn(1200, {seed = 3}) * 0.2):gt(0.8):astype("i64")
local lab3 = (X:col(1) * 3):floor():astype("i64")

local function same(what, spec, tol)
  local a = tide.search(spec)
  if spec.async then a:wait() end
  -- the groups really share (a group that fails falls back to fits alone)
  for _, u in ipairs(a.ctx.units) do
    if not u.single and (a.ctx.mom or not a.ctx.sets) then
      local r = u.run()
      for _, c in ipairs(u.cands) do
        check.truthy(r[c].shared or r[c].error, what .. ": candidate " .. c .. " shared its work")
      end
    end
  end
  spec.share = false
  local b = tide.search(spec)
  if spec.async then b:wait() end
  local ra, rb = a:rows(), b:rows()
  check.eq(#ra, #rb, what)
  for i = 1, #ra do
    check.eq(ra[i].error, rb[i].error, what .. ": errors")
    if ra[i].mean_test and rb[i].mean_test then
      check.near(ra[i].mean_test, rb[i].mean_test, tol, what .. ": mean_test " .. i)
      check.near(ra[i].std_test, rb[i].std_test, tol, what .. ": std_test " .. i)
      if spec.train_score then
        check.near(ra[i].mean_train, rb[i].mean_train, tol, what .. ": mean_train " .. i)
      end
      check.truthy(ra[i].fit_time >= 0 and ra[i].fit_time < 60, what .. ": a fit time")
    end
    check.eq(ra[i].folds_done, rb[i].folds_done, what .. ": folds")
  end
  check.eq(tide.grid.format(a.best_params), tide.grid.format(b.best_params), what .. ": best")
  return a, b
end

local kf = tide.cv.kfold(1200, 4)
local shuffled = tide.cv.kfold(1200, 3, {shuffle = true, seed = 5})
local partial = tide.cv.shuffle_split(1200, {splits = 3, test = 0.2, train = 0.5, seed = 1})
local cases = {
  {"ridge", models.ridge, {alpha = {1e-3, 0.1, 10, 1000}}, y, 1e-9},
  {"linear", models.linear{fit_intercept = false}, {}, y, 1e-9},
  {"ridge, no intercept", models.ridge{fit_intercept = false}, {alpha = {0.1, 10}}, y, 1e-9},
  {"lasso", models.lasso{tol = 1e-8}, {alpha = {1e-3, 1e-2, 0.1}}, y, 1e-6},
  {"elasticnet", models.elasticnet{tol = 1e-8}, {alpha = {1e-3, 0.05}, l1_ratio = {0.2, 0.9}},
   y, 1e-6},
  {"scaler + ridge", tide.pipeline{models.standard_scaler, models.ridge},
   {["ridge.alpha"] = {0.1, 100}}, y, 1e-9},
  {"scaler + elasticnet", tide.pipeline{models.standard_scaler{with_mean = false},
                                        models.elasticnet{tol = 1e-8}},
   {["elasticnet.alpha"] = {1e-3, 0.1}}, y, 1e-6},
  {"knn_regressor", models.knn_regressor, {k = {1, 4, 9}, weights = {"uniform", "distance"}}, y,
   1e-12},
  -- pipelines: the transformers fitted once per fold, the final steps on them
  {"minmax + ridge", tide.pipeline{models.minmax_scaler, models.ridge}, {["ridge.alpha"] = {0.1, 10}},
   y, 1e-9},
  {"scaler + knn", tide.pipeline{models.standard_scaler, models.knn_regressor}, {["2.k"] = {2, 5}},
   y, 1e-12},
}
for _, c in ipairs(cases) do
  for _, scoring in ipairs{"r2", "neg_mse", "mae"} do
    for fi, folds in ipairs{kf, shuffled, partial} do
      same(string.format("%s, %s, folds %d", c[1], scoring, fi),
           {model = c[2], grid = c[3], X = X, y = c[4], cv = folds, jobs = 2, scoring = scoring,
            train_score = true}, c[5])
    end
  end
end
local classifiers = {
  {"logistic, 2 classes", models.logistic{tol = 1e-8}, {C = {0.01, 1, 100}}, lab2, 1e-6},
  {"logistic, 3 classes", models.logistic{tol = 1e-6, max_iter = 500}, {C = {0.1, 10}}, lab3, 1e-4},
  {"knn_classifier", models.knn_classifier, {k = {1, 4, 9}, weights = {"uniform", "distance"}},
   lab3, 1e-12},
  {"scaler + logistic", tide.pipeline{models.standard_scaler, models.logistic{tol = 1e-8}},
   {["logistic.C"] = {0.01, 1}}, lab2, 1e-6},
  {"minmax + knn_classifier", tide.pipeline{models.minmax_scaler, models.knn_classifier},
   {["2.k"] = {3, 7}}, lab3, 1e-12},
}
for _, c in ipairs(classifiers) do
  for _, scoring in ipairs{"score", "log_loss"} do
    same(c[1] .. ", " .. scoring, {model = c[2], grid = c[3], X = X, y = c[4], cv = kf, jobs = 2,
                                   scoring = scoring, train_score = true}, c[5])
  end
end

-- the best model, refitted from the moments the search holds, is the fit alone
for _, c in ipairs{{models.ridge, {alpha = {0.1, 10}}, 1e-10}, {models.linear, {}, 1e-10},
                   {models.elasticnet{tol = 1e-10}, {alpha = {1e-3, 0.1}}, 1e-7}} do
  local s = tide.search{model = c[1], grid = c[2], X = X, y = y, cv = kf}
  local alone = models.as_model(c[1]):clone():set(s.best_params):fit(X, y)
  check.array(s.best_model.coef:totable(), alone.coef:totable(), c[3], "refit coef")
  check.near(s.best_model.intercept, alone.intercept, c[3], "refit intercept")
  check.near(s.best_model:score(X, y), alone:score(X, y), 1e-9, "refit score")
end

-- the plan says what is shared; share = false shares nothing
local s = tide.search{model = models.ridge, grid = {alpha = {0.1, 1, 10}}, X = X, y = y, cv = kf}
local text = s:plan()
check.truthy(text:find("3 candidates x 4 folds = 12 fits in 4 tasks", 1, true), text)
check.truthy(text:find("moments", 1, true) and text:find("Gram", 1, true), text)
local s0 = tide.search{model = models.ridge, grid = {alpha = {0.1, 1}}, X = X, y = y, cv = kf,
                       share = false}
check.truthy(s0:plan():find("8 fits in 8 tasks", 1, true), s0:plan())
local sk = tide.search{model = models.knn_regressor, grid = {k = {3, 5}}, X = X, y = y, cv = kf}
check.truthy(sk:plan():find("one neighbour search at the largest k", 1, true), sk:plan())
local sp = tide.search{model = tide.pipeline{models.minmax_scaler, models.knn_regressor},
                       grid = {["2.k"] = {3, 5}}, X = X, y = y, cv = kf}
check.truthy(sp:plan():find("transformers fitted once per fold", 1, true), sp:plan())

-- async: the moment tasks, then the groups
local sa = tide.search{model = models.elasticnet, grid = {alpha = {1e-3, 0.1}}, X = X, y = y,
                       cv = kf, async = true, jobs = 2}
check.truthy(sa:wait(60), "async search finished")
local done, total = sa:progress()
check.eq(done, 8); check.eq(total, 8)
check.eq(sa.best_params.alpha, 1e-3)
check.truthy(sa:plan():find("async: no stage 1", 1, true), sa:plan())
same("async", {model = models.ridge, grid = {alpha = {0.1, 10}}, X = X, y = y, cv = kf, jobs = 2,
               async = true, train_score = true}, 1e-9)

-- a bad row (NaN) fails each candidate as a fit alone does
local Xn = X:copy()
Xn[5][2] = 0 / 0
local bad = tide.search{model = models.ridge, grid = {alpha = {0.1, 1}}, X = Xn, y = y, cv = kf,
                        jobs = 2}
local rows = bad:rows()
check.truthy(rows[1].error and rows[1].error:find("NaN", 1, true), tostring(rows[1].error))
check.eq(rows[1].folds_done, 1, "the fold whose training rows are clean still scores")
check.done()
