-- cover_par.lua: parallel loops at the corners the other tests pass by:
-- results of every scalar kind and more of them than fit the fast path,
-- error objects that are not strings, two pools alive at once, a BLAS
-- budget per worker, workers ended by an unusual signal or exit status,
-- a script that replaced math.randomseed.  Nothing may stay in /dev/shm.
local check = require "check"
local tide = require "tide"

local shm = check.shm
local shm0 = shm()

-- 1. results of each scalar kind, on both backends; a float stays a float
local kinds = {nil, false, true, 5, -100000, 1 << 40, 2.5, 1 / 0, "text", -(1 << 62)}
for _, backend in ipairs{"fork", "spawn"} do
  local r = tide.collect(function(i)
    local v = ({nil, false, true, 5, -100000, 1 << 40, 2.5, 1 / 0, "text", -(1 << 62)})[i]
    return v
  end, 10, {jobs = 2, backend = backend})
  for i = 1, 10 do
    check.eq(r[i], kinds[i], backend .. ": result " .. i)
    check.eq(math.type(r[i]), math.type(kinds[i]), backend .. ": the number kind of result " .. i)
  end
end
-- many results of one task: past the scalar path's limit, still all there
for i, n, last in tide.map(function(i)
  local t = {}
  for k = 1, 300 do t[k] = k * i end
  return #t, table.unpack(t, 300)
end, 2, {jobs = 2}) do
  check.eq(n, 300, "task " .. i .. ": its first result")
  check.eq(last, 300 * i, "task " .. i .. ": its last result")
end

-- 2. error objects: one with __tostring gives its text; others say what they are
local ok, err = pcall(tide.collect, function()
  error(setmetatable({}, {__tostring = function() return "a custom error" end}))
end, 2, {jobs = 2})
check.truthy(not ok and err:match("a custom error"), "__tostring names the error: " .. tostring(err))
ok, err = pcall(tide.collect, function() error({code = 7}) end, 2, {jobs = 2})
check.truthy(not ok and err:match("error object is a table value"), "a table error: " .. tostring(err))
ok, err = pcall(tide.collect, function() error() end, 2, {jobs = 2})
check.truthy(not ok and err:match("nil"), "error(): " .. tostring(err))

-- 3. two pools alive at once, closed in both orders
for order = 1, 2 do
  local job = tide.start(function(i) return i * 3 end, 6, {jobs = 2})
  local inner = tide.collect(function(i) return i + 1 end, 4, {jobs = 2})
  check.eq(inner[4], 5, "a loop while a job's pool lives")
  local job2 = tide.start(function(i) return -i end, 4, {jobs = 2})
  local first, second = job, job2
  if order == 2 then first, second = job2, job end
  first:wait(); first:close()
  second:wait()
  local s = 0
  for _, r in second:results() do s = s + r end
  check.eq(s, order == 1 and -10 or 63, "the other pool's results after one closed")
  second:close()
end

-- 4. a BLAS thread budget per worker
tide.config.blas_threads_per_worker = 2
local X = tide.rand({40, 40}, {seed = 1})
local m = tide.collect(function() return tide.matmul(X, X):sum() end, 2, {jobs = 2})
check.near(m[1], tide.matmul(X, X):sum(), 1e-9, "matmul in a worker with 2 BLAS threads")
tide.config.blas_threads_per_worker = 0
check.errors(function() tide.config.blas_threads_per_worker = -1 end, "must be >= 0")

-- 5. workers that end oddly: a real-time signal, an exit status of their own
local function own_pid()
  local h = io.open("/proc/self/stat")
  local pid = h:read("n")
  h:close()
  return pid
end
ok, err = pcall(tide.collect, function(i)
  if i == 2 then os.execute("kill -s RTMIN+3 " .. own_pid()) os.execute("sleep 5") end
  return i
end, 3, {jobs = 2})
check.truthy(not ok and err:match("killed by signal %d+"), "a real-time signal: " .. tostring(err))
ok, err = pcall(tide.collect, function(i)
  if i == 1 then os.exit(7) end
  return i
end, 2, {jobs = 2})
check.truthy(not ok and err:match("exited with status 7"), "os.exit(7): " .. tostring(err))
check.truthy(not err:match("it could not"), "status 7 is not one of tide's own: " .. err)

-- 6. a script that replaced math.randomseed: tasks still run, its function
-- is not called with tide's seeds
local real = math.randomseed
local called = 0
math.randomseed = function(...) called = called + 1 return real(...) end
local r = tide.collect(function(i) return math.random(1000) end, 4, {jobs = 2, seed = 3})
check.eq(#r, 4, "tasks ran")
math.randomseed = real
check.eq(called, 0, "the parent's replacement was not called")

-- 7. a loop inside a task (the worker's copy of its pool is not its own),
-- and a job closed while its tasks still run
local nested = tide.collect(function(i)
  local inner = tide.collect(function(j) return i * 10 + j end, 3, {jobs = 2})
  return inner[1] + inner[2] + inner[3]
end, 3, {jobs = 2})
check.eq(nested[3], 96, "a loop inside a task")
local busy = tide.start(function(i)
  local t = os.clock()
  while os.clock() - t < 2 do end
  return i
end, 2, {jobs = 2})
busy:close()
check.truthy(true, "a busy job closes")

local left = {}
for n in pairs(shm()) do if not shm0[n] then left[#left + 1] = n end end
check.eq(table.concat(left, " "), "", "nothing left in /dev/shm")
check.done()
