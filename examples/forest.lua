-- forest.lua: the multiprocessing blog post.  Several random forests of
-- different sizes are trained in parallel, one per task, each fit wrapped in
-- tide.timed; the fitted forests come back whole to the script (the post's
-- trap -- a model fitted in a child process leaves the parent's copy
-- unfitted -- does not arise: a task returns its model), are scored on
-- held-out rows, and job:stats() gives the time of each task.  X lives in
-- shared memory: every task reads the same pages.  Inside a task a forest
-- fits its trees one after the other (a loop in a worker runs serially).
-- usage: tide examples/forest.lua [rows=20000] [sizes=10,25,50,100] [jobs=2]
local n = tonumber(arg[1]) or 20000
local sizes = {}
for s in (arg[2] or "10,25,50,100"):gmatch("%d+") do sizes[#sizes + 1] = tonumber(s) end
local jobs = tonumber(arg[3]) or tide.config.jobs
local ntest = n // 4
local N = n + ntest
local models = tide.models -- loaded here, so the script knows the classes tasks send back

-- Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise
local X = tide.rand(N, 10, {seed = 0, shared = true})
local noise = tide.randn(N, {seed = 1})
local y = tide.zeros(N, {shared = true})
for i = 1, N do
  local r = X[i]
  y[i] = 10 * math.sin(math.pi * r[1] * r[2]) + 20 * (r[3] - 0.5) ^ 2 + 10 * r[4] + 5 * r[5]
         + noise[i]
end
local train, test = tide.rowset(1, n), tide.rowset(n + 1, N)
print(string.format("Friedman #1: %d training rows x 10 and %d held out, %s memory; " ..
                    "%d forests on %d workers", n, ntest, X.storage, #sizes, jobs))

-- one task per forest: fit it (timed) and return it
local job = tide.start(function(k)
  local fit = tide.timed(function()
    return models.random_forest_regressor{n_estimators = sizes[k], seed = k}
             :fit(X, y, {rows = train})
  end, string.format("forest of %d trees", sizes[k]))
  return fit()
end, #sizes, {jobs = jobs, chunk = 1})
job:wait()

local forests = {}
for k, m in job:results() do forests[k] = m end
local stats = job:stats()
print(string.format("\n%-8s %7s %8s %7s %9s %9s", "forest", "trees", "task s", "worker",
                    "wait s", "R2 (test)"))
for k, m in ipairs(forests) do
  local t = stats.tasks[k]
  print(string.format("%-8d %7d %8.2f %7d %9.3f %9.4f", k, #m.estimators, t.wall, t.worker,
                      t.wait, m:score(X, y, {rows = test})))
end
print(string.format("all forests: %.2f s on %d workers (%.2f s of tasks)", stats.elapsed, jobs,
                    stats.task_time))
-- the post's trap, for contrast: a task that fits a model of the script's
-- fits its own copy (the worker's memory), so the script's stays unfitted
local m = models.random_forest_regressor{n_estimators = 5}
tide.collect(function() m:fit(X, y, {rows = train}) end, 1, {jobs = jobs})
print(string.format("a forest fitted in a task as a side effect is fitted here: %s; " ..
                    "returned from the task: %s", tostring(m:is_fitted()),
                    tostring(forests[1]:is_fitted())))
local best = forests[#forests]
local imp = {}
for j = 1, 10 do imp[j] = string.format("x%d %.3f", j, best.feature_importances[j]) end
print("importances of the last forest: " .. table.concat(imp, ", "))
