-- digits.lua: the IPython.parallel tutorial's job.  An SVC grid search over
-- C and gamma on scikit-learn's digits (1797 images of 8 x 8 pixels,
-- exported once by examples/data/make_digits.py), run asynchronously: the
-- script polls it and prints the candidates ranked so far while the
-- workers fit; then a learning curve of the best model, the best model's
-- accuracy on held-out rows, and SVG plots of both.
-- usage: tide examples/digits.lua [jobs=2] [folds=5] [out=digits]
--   writes <out>-search.svg and <out>-learning-curve.svg
local jobs = tonumber(arg[1]) or 2
local nfolds = tonumber(arg[2]) or 5
local out = arg[3] or "digits"
local here = (arg[0] or ""):match("^(.*)/[^/]*$") or "."

local X = tide.load(here .. "/data/digits_X.npy") -- u8 pixels 0..16: fits convert blocks
local y = tide.load(here .. "/data/digits_y.npy") -- i64 labels 0..9
local n = #X

-- the last 20% of the rows are held out; the search sees the others
local ntrain = n - n // 5
local Xtr, ytr = X:slice(1, 1, ntrain), y:slice(1, 1, ntrain)
local test = tide.range(ntrain + 1, n)
print(string.format("digits: %d x %d (%s), %d for the search, %d held out; %d workers",
                    n, X.shape[2], X.dtype, ntrain, n - ntrain, jobs))

local folds = tide.cv.kfold(ntrain, nfolds, {shuffle = true, seed = 0})
local grid = {C = tide.logspace(-1, 2, 4), gamma = tide.logspace(-4, -1, 4)}
local t0 = tide.now()
local s = tide.search{model = tide.models.svc{}, grid = grid, X = Xtr, y = ytr, cv = folds,
                      jobs = jobs, async = true}

-- the search runs in the background; every second, what is known so far
while not s:wait(1.0) do
  local done, total = s:progress()
  print(string.format("--- %.1f s: %d of %d fits", tide.now() - t0, done, total))
  print(s:report(3))
end
print(string.format("--- search done in %.2f s (%d candidates x %d folds)", tide.now() - t0,
                    #s.candidates, nfolds))
print(s:report(5))
print(string.format("best: C = %g, gamma = %g, validation accuracy %.4f", s.best_params.C,
                    s.best_params.gamma, s.best_score))
s:plot(out .. "-search.svg")

-- the best model (refitted on all the search's rows by the search) on the
-- rows it never saw
print(string.format("held-out accuracy of the best model: %.4f (%d support vectors)",
                    s.best_model:score(X, y, {rows = test}), #s.best_model.support))

-- how the best parameters learn: train and validation accuracy by size
local t1 = tide.now()
local lc = tide.learning_curve(tide.models.svc(s.best_params), Xtr, ytr,
                               {cv = folds, jobs = jobs, sizes = {0.1, 0.25, 0.5, 0.75, 1.0}})
local sum = lc:summary()
print(string.format("--- learning curve (%.2f s)", tide.now() - t1))
for i, size in ipairs(lc.sizes) do
  print(string.format("%5d rows: train %.4f  validation %.4f (±%.4f)", size, sum.train_mean[i],
                      sum.test_mean[i], sum.test_std[i]))
end
lc:plot(out .. "-learning-curve.svg")
print(string.format("wrote %s-search.svg and %s-learning-curve.svg", out, out))
