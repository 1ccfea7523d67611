-- par_backend.lua: option `backend` of loops, pools and searches.  "fork"
-- (the default), "spawn" and "serial" run and give the same results; "mpi"
-- is named and says it needs mpirun before any worker starts;
-- any other name is an error naming the accepted ones.  Everything that
-- takes loop options takes it: tide.map, collect, start, pfor, tide.pool
-- (checked when the pool is made) and its methods, tide.search,
-- cross_validate, learning_curve.
local check = require "check"

local function sq(i) return i * i end
local want = tide.collect(sq, 40, {backend = "serial"})
check.eq(#want, 40, "serial results")
for _, opts in ipairs{{}, {backend = "fork", jobs = 2}, {backend = "fork", jobs = 2, chunk = 3},
                      {backend = "spawn", jobs = 2}, {backend = "spawn", jobs = 2, chunk = 3}} do
  local got = tide.collect(sq, 40, opts)
  for i = 1, 40 do check.eq(got[i], want[i], "fork result " .. i) end
end
local n = 0
for i, r in tide.map(sq, 10, {backend = "fork", jobs = 2, order = "completed"}) do
  check.eq(r, i * i, "map result")
  n = n + 1
end
check.eq(n, 10, "map count")
local job = tide.start(sq, 12, {backend = "fork", jobs = 2})
check.truthy(job:wait(), "start on fork finishes")
check.eq(job:stats().count, 12, "stats count")
check.eq(job:stats().jobs, 2, "stats jobs")

-- not built here: one clear error, from every entry point, even for jobs = 1
local mpi_msg = "backend 'mpi' needs mpirun"
local entry = {
  function(o) return tide.collect(sq, 4, o) end,
  function(o) for _ in tide.map(sq, 4, o) do end end,
  function(o) return tide.start(sq, 4, o) end,
  function(o) tide.pfor(4, function() end, o) end,
  function(o) return tide.pool(o) end,
  function(o) return tide.pool{jobs = 2}:collect(sq, 4, o) end,
}
for k, call in ipairs(entry) do
  check.truthy(pcall(call, {backend = "spawn", jobs = 2}), "spawn runs, entry " .. k)
  check.errors(function() call{backend = "mpi", jobs = 2} end, mpi_msg, "mpi, entry " .. k)
  check.errors(function() call{backend = "thread"} end,
               "option 'backend' must be \"fork\", \"spawn\", \"mpi\" or \"serial\", got 'thread'",
               "unknown backend, entry " .. k)
end
check.errors(function() tide.pool{backend = 3} end, "backend", "a backend that is not a string")
-- the pool's error is the loops' own, not a position inside tide's modules
local ok, err = pcall(function() return tide.pool{backend = "mpi"} end)
check.truthy(not ok and not err:find("par.lua", 1, true), "pool error: " .. tostring(err))
-- a pool's backend is its loops' default
local p <close> = tide.pool{jobs = 2, backend = "serial"}
local got = p:collect(sq, 5)
for i = 1, 5 do check.eq(got[i], i * i, "serial pool " .. i) end
check.errors(function() p:collect(sq, 5, {backend = "mpi"}) end, mpi_msg, "pool method override")

-- searches pass it to their loops
local X = tide.rand(60, 3, {seed = 1})
local y = X:matmul(tide.array{1, -2, 0.5}) + tide.rand(60, {seed = 2}) * 0.01
local ridge = tide.models.ridge
local grid = {alpha = {0.01, 1, 100}}
local base = tide.search{model = ridge{}, grid = grid, X = X, y = y, cv = 3, jobs = 2}
for _, b in ipairs{"fork", "spawn", "serial"} do
  local s = tide.search{model = ridge{}, grid = grid, X = X, y = y, cv = 3, jobs = 2, backend = b}
  check.eq(s.best_params.alpha, base.best_params.alpha, b .. " search best alpha")
  check.near(s.best_score, base.best_score, 1e-12, b .. " search best score")
end
check.errors(function() tide.cross_validate(ridge{}, X, y, {cv = 3, backend = "mpi"}) end, mpi_msg,
             "cross_validate on mpi")
check.errors(function() tide.learning_curve(ridge{}, X, y, {cv = 3, backend = "mpi"}) end,
             mpi_msg, "learning_curve on mpi")
local cv = tide.cross_validate(ridge{}, X, y, {cv = 3, jobs = 2, backend = "fork"})
check.eq(#cv.test_score, 3, "cross_validate on fork")

check.done()
