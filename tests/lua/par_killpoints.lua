-- par_killpoints.lua: the kill-point matrix.  A worker fails (SIGKILL,
-- SIGSEGV, os.exit, a Lua error, a hang past the timeout) at each stage of
-- a task's life -- its batch received, its item decoded, while running,
-- while encoding its results, its result message half written, after its
-- big result was sent and lent -- in each order, error mode and chunking.
-- Every cell runs in a child tide (the hook is read from the environment:
-- TIDE_KILLPOINT, see worker.c) and must give: exactly the errors the rule
-- says (a task that began and whose result was not yet safe fails, naming
-- task, pid and cause; nothing else fails), every other result exactly
-- once, no task run twice, no worker left behind.  Then 100 random cells in
-- a row, and the parent SIGKILLed at random moments.  On the fork backend
-- every cell; on spawn a sample covering every stage, action and result
-- kind, each order, error mode and chunking (workers there are separate
-- programs, slower to start), plus random cells and parent kills.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The cell: args order on_error chunk input(count|iter) result(scalar|array)
-- timeout; prints one line per outcome and "raised <msg>" if it raised.
local cell_script = dir .. "/cell.lua"
local f = assert(io.open(cell_script, "w"))
f:write([=[
local order, on_error, chunk, input, result, timeout, N, backend = ...
chunk = tonumber(chunk) or chunk
timeout = tonumber(timeout)
N = tonumber(N)
local runs = tide.zeros(N, {shared = true, dtype = "i64"})
local function task(x, i)
  runs[i] = runs[i] + 1
  if result == "array" then return tide.full(1 << 17, i) end -- 1 MB: a shared segment
  return i * 10
end
local xs = N
if input == "iter" then
  local k = 0
  xs = function() k = k + 1; if k <= N then return {k} end end
end
local out = {}
local ok, err = pcall(function()
  for i, r, e in tide.map(task, xs, {jobs = 2, order = order, on_error = on_error, chunk = chunk,
                                     timeout = timeout, backend = backend}) do
    if e then out[#out + 1] = "error " .. i .. " " .. e:gsub("\n.*", "")
    else
      local v = result == "array" and (r[1] == i and r[#r] == i and i * 10) or r
      out[#out + 1] = "ok " .. i .. " " .. tostring(v == i * 10)
    end
  end
end)
if not ok then out[#out + 1] = "raised " .. tostring(err):gsub("\n.*", "") end
for i = 1, N do if runs[i] > 1 then out[#out + 1] = "twice " .. i end end
print(table.concat(out, "\n"))
]=])
f:close()

local killcell = require "killcell"
local causes = killcell.causes

-- Does the victim fail?  A task that began and whose result was not yet
-- safe (committed to the spill, or sent when it holds shared arrays).
local function fails(stage, action, result)
  if action == "hang" then return true end -- the timeout names it
  if stage == "received" or stage == "lease" then return false end
  if stage == "half" then return result == "array" end
  return true -- decode, run, encode
end

local ncell = 0
local function run_cell(stage, action, order, on_error, chunk, result, victim, N, backend)
  backend = backend or "fork"
  ncell = ncell + 1
  local once = dir .. "/once" .. ncell
  local input = stage == "decode" and "iter" or "count"
  -- a timeout runs from when a batch is sent; a spawned worker's first
  -- batch is sent as the program starts (an ASan build on a loaded machine
  -- takes most of a second to), so spawn's hang cells allow more
  local timeout = action == "hang" and (backend == "spawn" and 1.5 or 0.3) or 0
  local env = string.format("TIDE_KILLPOINT=%s:%d:%s TIDE_KILLPOINT_ONCE=%s TIDE_CELL=%s",
                            stage, victim, action, q(once), q(dir .. ncell))
  local cmd = string.format("%s %s %s %s %s %s %s %s %s %d %s 2>%s/stderr", env, q(bin), q(cell_script),
                            order, on_error, chunk, input, result, timeout, N, backend, dir)
  local p = io.popen(cmd)
  local text = p:read("a")
  p:close()
  local name = string.format("%s %s:%s %s %s chunk=%s %s victim=%d", backend, stage, action, order,
                             on_error, chunk, result, victim)
  local function names(msg)
    return msg:find("[task " .. victim .. ",", 1, true) and msg:find(causes[action], 1, true)
  end
  killcell.judge(text, {name = name, N = N, victim = victim, fail = fails(stage, action, result),
                        hang = action == "hang", order = order, on_error = on_error, names = names})
  -- no process of this cell outlives it
  local left = io.popen("grep -l " .. q("TIDE_CELL=" .. dir .. ncell) .. " /proc/[0-9]*/environ 2>/dev/null | wc -l")
  local n = tonumber(left:read("a"))
  left:close()
  check.eq(n, 0, name .. ": no worker left behind")
end

local matrix = {
  received = {"KILL", "SEGV", "exit", "hang"},
  decode = {"KILL", "SEGV", "exit", "error", "hang"},
  run = {"KILL", "SEGV", "exit", "error", "hang"},
  encode = {"KILL", "SEGV", "exit", "error", "hang"},
  half = {"KILL", "SEGV", "exit"},
  lease = {"KILL", "SEGV", "exit"},
}
-- tide's own names only: other programs (and other tests) use /dev/shm too
local function tide_shm() -- (faults.lua's folders, tide-faults-PID, are another test's)
  return io.popen("ls /dev/shm | grep '^tide' | grep -vc '^tide-faults-' || true"):read("a")
end
local shm0 = tide_shm()
for _, stage in ipairs{"received", "decode", "run", "encode", "half", "lease"} do
  for _, action in ipairs(matrix[stage]) do
    local results = stage == "half" and {"scalar", "array"} or stage == "lease" and {"array"} or {"scalar"}
    for _, result in ipairs(results) do
      for _, order in ipairs{"submitted", "completed"} do
        for _, on_error in ipairs{"raise", "yield"} do
          for _, chunk in ipairs{1, "auto"} do
            run_cell(stage, action, order, on_error, chunk, result, 6, 12)
          end
        end
      end
    end
  end
end

-- spawn: every stage, action and result kind twice, the other dimensions
-- taking turns so that each value of each comes up
local turn = 0
local combos = {{"submitted", "raise", 1}, {"completed", "yield", "auto"},
                {"completed", "raise", 1}, {"submitted", "yield", "auto"}}
for _, stage in ipairs{"received", "decode", "run", "encode", "half", "lease"} do
  for _, action in ipairs(matrix[stage]) do
    local results = stage == "half" and {"scalar", "array"} or stage == "lease" and {"array"} or {"scalar"}
    for _, result in ipairs(results) do
      for _ = 1, 2 do
        turn = turn % #combos + 1
        local c = combos[turn]
        run_cell(stage, action, c[1], c[2], c[3], result, 6, 12, "spawn")
      end
    end
  end
end

-- 100 random cells in a row (30 of them on spawn)
math.randomseed(tonumber(os.getenv("TIDE_KILLPOINT_SEED") or "") or os.time())
local stages = {"received", "decode", "run", "encode", "half", "lease"}
for k = 1, 100 do
  local stage = stages[math.random(#stages)]
  local actions = matrix[stage]
  local action = actions[math.random(#actions)]
  if action == "hang" and math.random() < 0.7 then action = "KILL" end -- keep it quick
  local result = stage == "lease" and "array" or stage == "half" and (math.random(2) == 1 and "array" or "scalar")
                 or "scalar"
  local N = math.random(3, 30)
  run_cell(stage, action, math.random(2) == 1 and "submitted" or "completed",
           math.random(2) == 1 and "raise" or "yield", ({1, "auto", 3})[math.random(3)], result,
           math.random(N), N, k % 10 < 3 and "spawn" or "fork")
end
check.eq(tide_shm(), shm0, "nothing of tide's new in /dev/shm")

-- The parent SIGKILLed at random moments: its workers are gone within 2 s.
local loop = dir .. "/loop.lua"
f = assert(io.open(loop, "w"))
f:write([[
io.write(io.open("/proc/self/stat"):read("n"), "\n"); io.flush()
for i = 1, 1000 do
  for _, r in tide.map(function(x) return tide.full(1 << 16, x) end, 50,
                      {jobs = 2, backend = os.getenv("TIDE_CELL_BACKEND")}) do end
end
]])
f:close()
for k = 1, 16 do
  local marker = dir .. "/parent" .. k
  local backend = k > 10 and "spawn" or "fork"
  local p = io.popen("exec env TIDE_CELL=" .. q(marker) .. " TIDE_CELL_BACKEND=" .. backend .. " " ..
                     q(bin) .. " " .. q(loop))
  local pid = tonumber(p:read("l"))
  os.execute("sleep " .. string.format("%.3f", math.random() * 0.4))
  os.execute("kill -KILL " .. pid)
  p:close()
  local t0, n = tide.now(), 1
  while tide.now() - t0 < 2 do
    local left = io.popen("grep -l " .. q("TIDE_CELL=" .. marker) .. " /proc/[0-9]*/environ 2>/dev/null | wc -l")
    n = tonumber(left:read("a"))
    left:close()
    if n == 0 then break end
    tide.sleep(0.05)
  end
  check.eq(n, 0, "parent killed (" .. backend .. " " .. k .. "): its workers are gone within 2 s")
end

os.execute("rm -rf " .. q(dir))
print(ncell .. " cells")
check.done()
