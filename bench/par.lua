-- par.lua: parallel-loop overheads and speed-up.
--   tiny tasks: 20,000 calls of x*x on 2 workers, chunk = "auto" cold (a
--   fresh loop: workers forked inside the timing) and warm (the best of
--   later loops; tide forks per loop, so warm is a second loop), and the
--   per-task cost with chunk = 1;
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
t0 = tide.now()
tide.collect(sq, N, {jobs = 2, chunk = 1})
record("tiny chunk=1 per task", (tide.now() - t0) / N * 1e6, "us")

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
