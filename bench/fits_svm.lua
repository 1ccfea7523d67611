-- fits_svm.lua: the SVC grid search on digits (DESIGN.md §10): C {1, 10,
-- 100} x gamma {1e-4, 1e-3, 1e-2}, 5 unshuffled folds, 2 workers, the best
-- refitted, as bench/fits_svm_sklearn.py runs GridSearchCV(SVC(), n_jobs=2)
-- with KFold(5).  Prints the wall time (best of reps) and the best
-- candidate; writes every mean validation score to a JSON record, which
-- scripts/bench compares with scikit-learn's.  Also one fit of a fold.
-- usage: tide bench/fits_svm.lua [json-out] [reps=3] [jobs=2]
local out = arg[1]
local reps = tonumber(arg[2]) or 3
local jobs = tonumber(arg[3]) or 2
local here = (arg[0] or ""):match("^(.*)/[^/]*$") or "."
local X = tide.load(here .. "/../examples/data/digits_X.npy")
local y = tide.load(here .. "/../examples/data/digits_y.npy")
local grid = {C = {1.0, 10.0, 100.0}, gamma = {1e-4, 1e-3, 1e-2}}
local folds = tide.cv.kfold(#X, 5)

local best, s = math.huge, nil
for _ = 1, reps do
  local t0 = tide.now()
  s = tide.search{model = tide.models.svc{}, grid = grid, X = X, y = y, cv = folds, jobs = jobs}
  best = math.min(best, tide.now() - t0)
end
print(string.format("svm      tide  SVC grid search digits 3x3, 5 folds, %d workers: %.3f s  " ..
                    "best {C=%g, gamma=%g} %.6f", jobs, best, s.best_params.C, s.best_params.gamma,
                    s.best_score))

-- one fit of a training fold (1437 rows) and its scoring, in this process
local tf, tp = math.huge, math.huge
for _ = 1, reps do
  local t0 = tide.now()
  local m = tide.models.svc{C = 10, gamma = 1e-3}:fit(X, y, {rows = folds[1].train})
  local t1 = tide.now()
  m:score(X, y, {rows = folds[1].test})
  tf, tp = math.min(tf, t1 - t0), math.min(tp, tide.now() - t1)
end
print(string.format("svm      tide  SVC(C=10, gamma=1e-3) fit 1437 rows %.3f s, score 360 rows %.3f s",
                    tf, tp))

if out then
  local scores = {}
  for _, r in ipairs(s:rows()) do
    scores[#scores + 1] = string.format('{"C": %.17g, "gamma": %.17g, "mean": %.17g}', r.params.C,
                                        r.params.gamma, r.mean_test)
  end
  local f = assert(io.open(out, "a"))
  f:write(string.format('{"bench": "svm", "impl": "tide", "what": "grid", "s": %.6f, "jobs": %d, ' ..
                        '"fit_s": %.6f, "score_s": %.6f, "scores": [%s]}\n', best, jobs, tf, tp,
                        table.concat(scores, ", ")))
  f:close()
end
