-- par.lua: parallel-loop overheads and speed-up.
--   tiny tasks: 20,000 calls of x*x on 2 workers, chunk = "auto" cold (a
--   fresh loop: workers forked inside the timing) and warm (the best of
--   later loops; tide forks per loop, so warm is a second loop), and the
--   per-task cost with chunk = 1;
--   the round trip of one task (chunk = 1, inflight = 1) on fork and on a
--   warm spawn pool, and what a loop of 2 tasks costs on each (workers
--   started and stopped: fork, spawn; a warm spawn pool: only the setup);
--   CPU-bound: 40 tasks of ~50 ms, 2 workers against jobs = 1.
-- usage: tide bench/par.lua [json-out]
local out = arg[1]
local f = out and io.open(out, "a")
local function record(name, value, unit)
  print(string.format("par      tide  %-28s %10.4g %s", name, value, unit))
  if f then
    f:write(string.format('{"bench":"par","impl":"tide","what":"%s","value":%.6g,"unit":"%s"}\n',
                          name, value, unit))
  end
end

local N = 20000
local sq = function(x) return x * x end
local t0 = tide.now()
local r = tide.collect(sq, N, {jobs = 2})
local cold = tide.now() - t0
assert(r[N] == N * N)
local warm = math.huge
for _ = 1, 5 do
  t0 = tide.now()
  tide.collect(sq, N, {jobs = 2})
  warm = math.min(warm, tide.now() - t0)
end
record("tiny auto cold", cold, "s")
record("tiny auto warm", warm, "s")
record("tiny auto warm rate", N / warm, "tasks/s")
-- the best of 3, as for every other figure here: one loop of 20,000 round
-- trips on a shared 2-core machine mostly measures the neighbours
local c1 = math.huge
for _ = 1, 3 do
  t0 = tide.now()
  tide.collect(sq, N, {jobs = 2, chunk = 1})
  c1 = math.min(c1, tide.now() - t0)
end
record("tiny chunk=1 per task", c1 / N * 1e6, "us")

-- one task at a time (inflight = 1, chunk = 1): each is one round trip to
-- a worker and back, on each backend; the spawn pool's workers are warm
-- (started by an earlier loop), and a loop's start is timed apart
local RT = 5000
local function per_task(run)
  local best = math.huge
  for _ = 1, 3 do
    t0 = tide.now()
    run()
    best = math.min(best, tide.now() - t0)
  end
  return best / RT * 1e6
end
record("chunk=1 round trip fork", per_task(function()
  tide.collect(sq, RT, {jobs = 2, chunk = 1, inflight = 1})
end), "us")
local pool <close> = tide.pool{backend = "spawn", jobs = 2}
pool:collect(sq, 4)
record("chunk=1 round trip spawn", per_task(function()
  pool:collect(sq, RT, {chunk = 1, inflight = 1})
end), "us")
local function start_cost(opts)
  local best = math.huge
  for _ = 1, 5 do
    t0 = tide.now()
    if opts.pool then opts.pool:collect(sq, 2) else tide.collect(sq, 2, opts) end
    best = math.min(best, tide.now() - t0)
  end
  return best * 1e3
end
record("loop of 2 tasks fork", start_cost{jobs = 2}, "ms")
record("loop of 2 tasks spawn", start_cost{jobs = 2, backend = "spawn"}, "ms")
record("loop of 2 tasks spawn pool", start_cost{pool = pool}, "ms")

local function burn(i)
  local s = 0.0
  for k = 1, 8000000 do s = s + (k % 7) * 1e-9 end
  return s + i
end
local t1 = tide.now()
tide.collect(burn, 40, {jobs = 1})
local serial = tide.now() - t1
t1 = tide.now()
tide.collect(burn, 40, {jobs = 2})
local par2 = tide.now() - t1
record("cpu-bound serial", serial, "s")
record("cpu-bound 2 workers", par2, "s")
record("cpu-bound speed-up", serial / par2, "x")
if f then f:close() end
