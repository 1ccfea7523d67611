-- search_cancel.lua: a cancelled async search keeps what it found: the
-- report ranks the candidates with at least one fold (fewer folds after
-- more, marked), best_params / best_score / best_index are the best of
-- them, best_model is its refit (unless refit is off), and no worker is
-- left running.
local check = require "check"
local models = tide.models

-- y is 5 plus noise; a candidate predicts shrink * 5.  Candidate shrink =
-- 1.0 (the best) sleeps on folds 3 and 4 (the folds with 290 training
-- rows), so a search cancelled after every other fit finished holds two
-- of its four folds.
local slow = models.class("test_cancel_mean", {
  kind = "regressor",
  params = {{"shrink", 1.0}},
  fit = function(self, X, y, opts)
    if self._p.shrink == 1.0 and opts.rows and #opts.rows < 300 then tide.sleep(600) end
    self.mean = self._p.shrink * 5
  end,
  predict = function(self, X, opts)
    return tide.full({opts.rows and #opts.rows or #X}, self.mean)
  end,
})
local X = tide.rand(400, 2, {seed = 1})
local y = tide.randn(400, {seed = 2}) * 0.1 + 5
local rs = tide.rowset
local folds = {
  {train = rs(101, 400), test = rs(1, 100)},
  {train = rs{{1, 100}, {201, 400}}, test = rs(101, 200)},
  {train = rs{{1, 200}, {301, 390}}, test = rs(201, 300)},  -- 290 rows
  {train = rs(1, 290), test = rs(301, 400)},                  -- 290 rows
}
local children = check.children

-- Starts the search and waits (generously: the machine may be loaded)
-- until the 14 quick fits are in.
local function started()
  local s = tide.search{model = slow{}, grid = {shrink = {0.8, 0.9, 1.2, 1.0}}, X = X, y = y,
                        cv = folds, jobs = 2, async = true, scoring = "neg_mse"}
  local t0 = tide.now()
  while s:progress() < 14 and tide.now() - t0 < 120 do tide.sleep(0.02) end
  check.eq((s:progress()), 14, "the quick fits finished, the two slow ones run")
  check.eq(s.best_params, nil, "no best while running")
  return s
end

local s = started()
check.eq(s:cancel(), true, "cancel stops running fits")
check.eq(children(), 0, "no worker after cancel")
local rows, ranked = s:rows()
check.eq(#ranked, 4, "every candidate with a fold is ranked")
check.eq(rows[4].folds_done, 2, "the slow candidate has two folds")
check.eq(rows[4].partial, true, "and is marked partial")
check.eq(rows[4].rank, 4, "ranked after the candidates with every fold")
check.truthy(rows[4].mean_test > rows[2].mean_test, "although its mean is the best")
check.eq(rows[2].rank, 1, "shrink 0.9 is the best complete candidate")
check.eq(rows[2].partial, nil, "a complete candidate is not partial")
check.eq(s.best_params.shrink, 0.9, "best_params after cancel")
check.eq(s.best_score, rows[2].mean_test, "best_score after cancel")
check.eq(s.best_index, 2, "best_index after cancel")
check.truthy(s.best_model and s.best_model:is_fitted(), "best_model refitted after cancel")
check.eq(s.best_model and s.best_model:params().shrink, 0.9, "best_model's parameters")
check.eq(s.best_model and s.best_model.mean, 4.5, "best_model fitted")
local rep = s:report()
check.truthy(rep:find("(cancelled: 14 of 16 fits done", 1, true), "report says cancelled: " .. rep)
check.truthy(rep:find("Rank 1: validation %S+ %(±%S+%)  4/4 folds  {shrink=0.9}"), "rank 1: " .. rep)
check.truthy(rep:find("Rank 4: validation %S+ %(±%S+%)  2/4 folds %(partial%)  {shrink=1"),
             "the partial candidate is marked: " .. rep)
check.eq(s:cancel(), false, "a second cancel has nothing to stop")
check.eq(s.best_params.shrink, 0.9, "and keeps the best")

-- refit = false: the best, no refit
local s2 = started()
check.errors(function() s2:cancel{refti = false} end, "unknown option 'refti'")
check.eq(s2:cancel{refit = false}, true, "cancel{refit = false}")
check.eq(s2.best_params.shrink, 0.9, "best_params without refit")
check.eq(s2.best_model, nil, "no best_model without refit")
check.eq(children(), 0, "no worker after the second cancel")

-- a search with refit = false is not refitted by cancel either
local s3 = tide.search{model = slow{}, grid = {shrink = {0.8, 1.0}}, X = X, y = y, cv = folds,
                       jobs = 2, async = true, refit = false}
local t0 = tide.now()
while s3:progress() < 6 and tide.now() - t0 < 120 do tide.sleep(0.02) end
s3:cancel()
check.eq(s3.best_params.shrink, 0.8, "refit = false: best_params")
check.eq(s3.best_model, nil, "refit = false: no best_model")

-- a finished search: cancel changes nothing
local done = tide.search{model = slow{}, grid = {shrink = {0.8, 0.9}}, X = X, y = y,
                         cv = {folds[1], folds[2]}, jobs = 2}
check.eq(done:cancel(), false, "nothing to cancel")
check.eq(done.best_params.shrink, 0.9, "a finished search keeps its best")
check.truthy(not done:report():find("folds", 1, true), "a complete report has no fold counts")

check.done()
