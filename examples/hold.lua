-- hold.lua: ML-Ensemble's memory test.  An 800 MB array is handed to 4
-- tasks that hold it for 1 s each, on 2 workers.  Because workers are
-- forked and the array lives in shared memory, they read the same pages:
-- peak PSS stays at one copy, and the wall time is the ideal 2 s.
-- usage: tide examples/hold.lua [MB=800] [tasks=4] [jobs=2] [--touch] [--svg PATH]
local mb = tonumber(arg[1]) or 800
local ntasks = tonumber(arg[2]) or 4
local jobs = tonumber(arg[3]) or 2
local touch, svg = false, "hold-memory.svg"
for i = 1, #arg do
  if arg[i] == "--touch" then touch = true end
  if arg[i] == "--svg" then svg = arg[i + 1] end
end

local cols = 1000
local rows = math.floor(mb * 1e6 / 8 / cols)
local X = tide.arange(rows * cols):reshape(rows, cols)   -- int64, like np.arange(1e8)
print(string.format("array: %d x %d %s, %.0f MB in %s memory", rows, cols, X.dtype,
                    X.nbytes / 1e6, X.storage))

local mon = tide.monitor{interval = 0.05}
local t0 = tide.now()
mon:mark("start")
local sums = tide.collect(function(i)
  local s = touch and X:sum() or #X      -- the task sees X with no copy
  tide.sleep(1)
  return s
end, ntasks, {jobs = jobs, chunk = 1})
local wall = tide.now() - t0
mon:mark("end")
local rep = mon:stop()
assert(#sums == ntasks)
local ideal = math.ceil(ntasks / jobs) * 1.0
print(string.format("hold: %d tasks on %d workers: wall %.2f s (%.3f x ideal %.0f s)",
                    ntasks, jobs, wall, wall / ideal, ideal))
print(string.format("hold: peak PSS above baseline %.1f MB = %.3f x the array",
                    (rep.peak_pss - rep.baseline_pss) / 1e6,
                    (rep.peak_pss - rep.baseline_pss) / X.nbytes))
print(rep:summary())
rep:plot(svg)
print("memory plot: " .. svg)
