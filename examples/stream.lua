-- stream.lua: joblib's generator example.  150 tasks each return a 16 MB
-- array after 0.1 s.  Consumed as they come (submitted or completed order),
-- memory stays at (inflight + jobs) results, not 150; large results come
-- back through shared memory with no copy.  Then every 60th task is slow
-- (taking 1 s): submitted order then needs a wider window (inflight).
-- usage: tide examples/stream.lua [tasks=150] [MB=16] [jobs=2] [--svg PATH]
local ntasks = tonumber(arg[1]) or 150
local mb = tonumber(arg[2]) or 16
local jobs = tonumber(arg[3]) or 2
local svg = "stream-memory.svg"
for i = 1, #arg do if arg[i] == "--svg" then svg = arg[i + 1] end end
local n = math.floor(mb * 1e6 / 8)

local function task(slow)
  return function(i)
    tide.sleep((slow and i % 60 == 0) and 1.0 or 0.1)
    return tide.full(n, i)                  -- 16 MB, made in shared memory
  end
end

local ideal = ntasks * 0.1 / jobs
local rep
-- In submitted order a slow task holds back every later result; the
-- window (inflight) must let the other workers run on for as long as the
-- slow task takes: 1 s / 0.1 s = 10 tasks per worker, so it is widened to
-- 6 x jobs for that case (memory stays within (inflight + jobs) results).
for _, case in ipairs{{"submitted", false}, {"completed", false}, {"submitted", true, 6 * jobs},
                      {"completed", true}} do
  local order, slow, inflight = case[1], case[2], case[3]
  local label = order .. (slow and " (slow tasks)" or "") ..
                (inflight and string.format(", inflight %d", inflight) or "")
  collectgarbage()
  local mon = tide.monitor{interval = 0.05}
  mon:mark(label)
  local t0, total = tide.now(), 0
  for i, a in tide.map(task(slow), ntasks, {jobs = jobs, order = order, chunk = 1,
                                           inflight = inflight}) do
    total = total + a[1]                    -- consume: read it, then drop it
    a:close()                               -- (or let the collector free it)
  end
  local wall = tide.now() - t0
  rep = mon:stop()
  local peak = rep.peak_pss - rep.baseline_pss
  assert(total == ntasks * (ntasks + 1) // 2)
  local case_ideal = ideal + (slow and (ntasks // 60) * 0.9 / jobs or 0)
  print(string.format("stream %-24s wall %.2f s (%.3f x ideal %.1f s)  peak PSS +%.0f MB (%.1f results)",
                      label, wall, wall / case_ideal, case_ideal, peak / 1e6, peak / (n * 8)))
end
rep:plot(svg)
print("memory plot: " .. svg)
