-- cover_spawn.lua: corners of the spawn backend (runtime/core/backend_spawn.c)
-- that par_spawn.lua leaves: warm pool workers that die between loops
-- (replaced, results right, none left over), two warm pools closed in
-- either order, a loop holding more shared arrays than a frame
-- carries descriptors, too many workers, TIDE_WORKER_EXE naming a program or not,
-- and the warm set's own handle (tide._internal.spawn_set: runtime/bind/l_spawn.c).
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")

local children = check.children
local function pidset(p)
  local set, n = {}, 0
  for _, pid in ipairs(p:collect(function() tide.sleep(0.05) return check.pid() end, 6, {chunk = 1})) do
    if not set[pid] then n = n + 1 end
    set[pid] = true
  end
  return set, n
end

-- warm workers that die between loops ------------------------------------------------
do
  local p = tide.pool{backend = "spawn", jobs = 2}
  local before, n = pidset(p)
  check.eq(n, 2, "two warm workers")
  local victim = next(before)
  os.execute("kill -9 " .. victim)
  tide.sleep(0.2)
  for l = 1, 3 do
    local r = p:collect(function(i) return i * l end, 20)
    for i = 1, 20 do check.eq(r[i], i * l, "loop " .. l .. " after a death, task " .. i) end
  end
  local after = pidset(p)
  check.truthy(not after[victim], "the dead worker was replaced")
  check.eq(p:workers(), 2, "the pool keeps two workers")
  -- both die: the next loop starts two new ones
  for pid in pairs(after) do os.execute("kill -9 " .. pid) end
  tide.sleep(0.2)
  local r = p:collect(function(i) return -i end, 5)
  check.eq(r[5], -5, "a loop after every warm worker died")
  p:close()
  check.eq(children(), 0, "no child left after close")
end

-- two warm pools, closed in either order ----------------------------------------------
for _, order in ipairs{{1, 2}, {2, 1}} do
  local ps = {tide.pool{backend = "spawn", jobs = 2}, tide.pool{backend = "spawn", jobs = 2}}
  for k = 1, 2 do check.eq(ps[k]:collect(function(i) return i + k end, 3)[3], 3 + k, "pool " .. k) end
  ps[order[1]]:close()
  local other = ps[order[2]]
  check.eq(other:collect(function(i) return 2 * i end, 4)[4], 8, "the other pool still runs")
  other:close()
  check.eq(children(), 0, "no child left, closing " .. order[1] .. " first")
end

-- shared arrays up to what a setup frame carries, and past it ---------------------------
-- (the frame holds the worker's own two descriptors too: 62 of the loop's)
local function shared_loop(n)
  local many = {}
  for i = 1, n do many[i] = tide.full(1 << 14, i, {shared = true}) end
  local ok, r = pcall(tide.collect, function(i) many[i][2] = -i; return many[i][1] end, n,
                      {backend = "spawn", jobs = 2})
  return ok, r, many
end
do
  local ok, r, many = shared_loop(62)
  check.eq(ok, true, "62 shared arrays go to spawned workers: " .. tostring(r))
  for i = 1, 62 do
    check.eq(ok and r[i], i, "shared array " .. i .. " read by a spawned worker")
    check.eq(many[i][2], -i, "and its write seen here")
  end
  for _, n in ipairs{63, 64} do
    ok, r, many = shared_loop(n)
    check.eq(ok, false, n .. " shared arrays are refused")
    check.truthy(tostring(r):find("hold " .. n .. " shared arrays; at most 62", 1, true),
                 n .. " arrays, named: " .. tostring(r))
    check.eq(many[2][2], 2, "no task ran")
  end
  ok, r = shared_loop(70)
  check.eq(ok, false, "70 shared arrays are refused")
  check.truthy(tostring(r):find("at most 64 shared arrays", 1, true), "70 arrays, named: " .. tostring(r))
  many = nil
  collectgarbage()
  check.eq(children(), 0, "no child left")
end

-- too many workers ------------------------------------------------------------------------
local ok, err = pcall(tide.collect, function(i) return i end, 2, {backend = "spawn", jobs = 300})
check.eq(ok, false, "300 spawned workers are refused")
check.truthy(tostring(err):find("256", 1, true), "naming the limit: " .. tostring(err))

-- TIDE_WORKER_EXE ---------------------------------------------------------------------------
local script = os.tmpname()
local f = assert(io.open(script, "w"))
f:write([[
local ok, r = pcall(tide.collect, function(i) return i * 7 end, 3, {backend = "spawn", jobs = 2})
print(ok and ("ok " .. r[3]) or ("error " .. tostring(r)))
]])
f:close()
local function run(exe)
  local p = io.popen(string.format("TIDE_WORKER_EXE=%q %q %q 2>&1", exe, bin, script))
  local out = p:read("a")
  p:close()
  return out
end
check.eq(run(bin), "ok 21\n", "TIDE_WORKER_EXE naming the tide program")
check.eq(run(""), "ok 21\n", "an empty TIDE_WORKER_EXE: the running program")
local bad = run("/nonexistent/tide-worker")
check.truthy(bad:find("TIDE_WORKER_EXE '/nonexistent/tide-worker' cannot be run", 1, true),
             "TIDE_WORKER_EXE naming nothing: " .. bad)
os.remove(script)

-- the warm set's handle: what a spawn pool keeps ------------------------------------------
do
  local set = tide._internal.spawn_set()
  check.eq(tostring(set), "spawn workers (0 running)", "a new set has no worker")
  local r = tide.collect(function(i) return i + 1 end, 4, {jobs = 2, backend = set})
  check.eq(r[4], 5, "a loop on the set")
  check.eq(tostring(set), "spawn workers (2 running)", "its workers stay up")
  check.eq(set:workers(), 2, "two of them")
  set:close()
  check.eq(tostring(set), "spawn workers (0 running, closed)", "closed")
  check.eq(set:workers(), 0, "none left")
  check.eq(children(), 0, "no child left")
  local ok, err = pcall(tide.collect, function(i) return i end, 2, {jobs = 2, backend = set})
  check.eq(ok, false, "a closed set runs nothing")
  check.truthy(tostring(err):find("option 'backend': the pool's spawn workers are closed", 1, true),
               "naming why: " .. tostring(err))
  ok, err = pcall(tide.collect, function(i) return i end, 2, {jobs = 2, backend = tide.zeros(2)})
  check.eq(ok, false, "another userdata is no backend")
  check.truthy(tostring(err):find("option 'backend' must be a string, got userdata", 1, true),
               "naming the option: " .. tostring(err))
end

check.done()
