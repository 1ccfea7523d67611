-- mpi_killpoints.lua: the kill-point matrix (par_killpoints.lua) on the
-- mpi backend, under mpirun --oversubscribe -n 3 (skipped without mpirun
-- or tide-mpi).  A worker forked by a serving rank fails (SIGKILL,
-- SIGSEGV, os.exit, a Lua error, a hang past the timeout) at each stage of
-- a task's life; each order, error mode and chunking comes up.  Every cell
-- is one mpirun job and must give: exactly the errors the rule says, each
-- naming its task and, for a death, the process, its rank and the cause;
-- every other result exactly once; no task run twice; the job ends by
-- itself; no process of it left; nothing new in /dev/shm.
--
-- The rule differs from fork's in two stages: results cross MPI by
-- content, so a result is safe once in the worker's spill -- a RESULT
-- message half written, or an array result sent and then "lent", loses
-- nothing (the serving rank sends the spill on, without what it relayed
-- already).  Then random cells.
local check = require "check"
local bin = os.getenv("TIDE_BIN")
local function skip(why)
  print("skipped: " .. why)
  os.exit(77)
end
if not bin then skip("TIDE_BIN is not set") end
if os.execute("command -v mpirun >/dev/null 2>&1") ~= true then skip("no mpirun") end
local f = io.open(bin:match("^(.*)/[^/]*$") .. "/tide-mpi")
if not f then skip("tide was built without Open MPI (no tide-mpi)") end
f:close()

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. q(dir)))
-- as root, Open MPI wants both variables; ASan's leak check does not know
-- MPI's allocations (Open MPI keeps some until exit).  Open MPI's
-- shared-memory files go to a folder of this test's own (as in mpi.lua):
-- other jobs may run beside it.
local vader = dir .. "/vader"
assert(os.execute("mkdir " .. q(vader)))
local MPIENV = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " ..
               "ASAN_OPTIONS=detect_leaks=0 OMPI_MCA_btl_base_warn_component_unused=0 " ..
               "OMPI_MCA_btl_vader_backing_directory=" .. q(vader) .. " "

-- The cell (rank 0 runs it): order on_error chunk input result timeout N;
-- one line per outcome, "raised <msg>" if the loop raised, "twice <i>"
-- for a task that ran twice (counted in a shared array every rank of
-- this node writes to).
local cell_script = dir .. "/cell.lua"
f = assert(io.open(cell_script, "w"))
f:write([=[
local tide = require "tide"
local order, on_error, chunk, input, result, timeout, N = ...
chunk = tonumber(chunk) or chunk
timeout = tonumber(timeout)
N = tonumber(N)
print("backend " .. (tide.mpi and "mpi" or "none"))
local runs = tide.zeros(N, {shared = true, dtype = "i64"})
local function task(x, i)
  runs[i] = runs[i] + 1
  if result == "array" then return tide.full(1 << 17, i) end -- 1 MB
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
                                     timeout = timeout}) do
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
-- the job goes on after a failed loop: the next one works
local s = tide.collect(function(i) return i end, 8)
print("after " .. tostring(#s == 8 and s[8] == 8))
]=])
f:close()

local killcell = require "killcell"
local causes = killcell.causes

-- Does the victim fail?  A task that began and whose result was not in
-- its worker's spill; a hang always (the timeout names it).
local function fails(stage, action)
  if action == "hang" then return true end
  return stage == "decode" or stage == "run" or stage == "encode"
end

-- tide's names in /dev/shm (faults.lua's excepted), and Open MPI's files
local function shm()
  local s = {}
  for _, d in ipairs{"/dev/shm", vader} do
    local p = io.popen("ls " .. q(d) .. " 2>/dev/null")
    for name in p:lines() do
      if d == vader or (name:match("^tide") and not name:match("^tide%-faults")) then s[name] = true end
    end
    p:close()
  end
  return s
end

local ncell = 0
local function run_cell(stage, action, order, on_error, chunk, result, victim, N)
  ncell = ncell + 1
  local once = dir .. "/once" .. ncell
  local marker = dir .. "/cell" .. ncell
  local input = stage == "decode" and "iter" or "count"
  local timeout = action == "hang" and 0.3 or 0
  local name = string.format("mpi %s:%s %s %s chunk=%s %s victim=%d/%d", stage, action, order,
                             on_error, chunk, result, victim, N)
  local before = shm()
  local cmd = string.format("%s TIDE_KILLPOINT=%s:%d:%s TIDE_KILLPOINT_ONCE=%s TIDE_CELL=%s " ..
                            "timeout 120 mpirun --oversubscribe -n 3 %s %s %s %s %s %s %s %s %d 2>%s",
                            MPIENV, stage, victim, action, q(once), q(marker), q(bin), q(cell_script),
                            order, on_error, chunk, input, result, timeout, N, q(dir .. "/stderr"))
  local p = io.popen(cmd)
  local text = p:read("a")
  local _, _, code = p:close()
  check.eq(code, 0, name .. ": the job ends by itself, status 0")
  check.truthy(text:match("^backend mpi\n"), name .. ": ran on the mpi backend")
  check.truthy(text:match("\nafter true"), name .. ": the next loop works")
  -- the task, and for a death the process, its rank and the cause
  local function names(msg)
    if not (msg:find("[task " .. victim .. ",", 1, true) and msg:find(causes[action], 1, true)) then
      return false
    end
    return action == "error" or msg:match("process %d+ on rank [12] ") ~= nil
  end
  killcell.judge(text, {name = name, N = N, victim = victim, fail = fails(stage, action),
                        hang = action == "hang", order = order, on_error = on_error, names = names})
  -- no process of the job outlives it (mpirun passes the environment on)
  local left = io.popen("grep -l " .. q("TIDE_CELL=" .. marker) .. " /proc/[0-9]*/environ 2>/dev/null | wc -l")
  local n = tonumber(left:read("a"))
  left:close()
  check.eq(n, 0, name .. ": no process left")
  local new = {}
  for s in pairs(shm()) do if not before[s] then new[#new + 1] = s end end
  check.eq(table.concat(new, " "), "", name .. ": nothing new in /dev/shm")
end

local matrix = {
  received = {"KILL", "SEGV", "exit", "hang"},
  decode = {"KILL", "SEGV", "exit", "error", "hang"},
  run = {"KILL", "SEGV", "exit", "error", "hang"},
  encode = {"KILL", "SEGV", "exit", "error", "hang"},
  half = {"KILL", "SEGV", "exit"},
  lease = {"KILL", "SEGV", "exit"},
}
local stages = {"received", "decode", "run", "encode", "half", "lease"}
-- every stage, action and result kind once, the other dimensions taking
-- turns so that each value of each comes up (as spawn's sample does)
local combos = {{"submitted", "raise", 1}, {"completed", "yield", "auto"},
                {"completed", "raise", 1}, {"submitted", "yield", "auto"}}
local turn = 0
for _, stage in ipairs(stages) do
  for _, action in ipairs(matrix[stage]) do
    local results = stage == "half" and {"scalar", "array"} or stage == "lease" and {"array"} or {"scalar"}
    for _, result in ipairs(results) do
      turn = turn % #combos + 1
      local c = combos[turn]
      run_cell(stage, action, c[1], c[2], c[3], result, 6, 12)
    end
  end
end

-- a loop that raises while workers still send big results: rank 0 stops
-- reading them, and a serving rank must not be held in its send (the job
-- hung there until its timeout)
run_cell("run", "KILL", "completed", "raise", 1, "array", 6, 12)
run_cell("run", "error", "submitted", "raise", "auto", "array", 3, 12)

-- random cells in a row
local seed = tonumber(os.getenv("TIDE_KILLPOINT_SEED") or "") or os.time()
math.randomseed(seed)
print("seed " .. seed)
for _ = 1, tonumber(os.getenv("TIDE_MPI_KILLPOINT_RANDOM") or "") or 8 do
  local stage = stages[math.random(#stages)]
  local actions = matrix[stage]
  local action = actions[math.random(#actions)]
  local result = stage == "lease" and "array" or stage == "half" and (math.random(2) == 1 and "array" or "scalar")
                 or "scalar"
  local N = math.random(3, 30)
  run_cell(stage, action, math.random(2) == 1 and "submitted" or "completed",
           math.random(2) == 1 and "raise" or "yield", ({1, "auto", 3})[math.random(3)], result,
           math.random(N), N)
end

os.execute("rm -rf " .. q(dir))
print(ncell .. " cells")
check.done()
