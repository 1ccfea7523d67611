-- mpi.lua: the mpi backend from the outside, under mpirun --oversubscribe
-- -n 3 on this one machine (skipped without mpirun or tide-mpi): one script
-- gives the same results on fork and mpi; tasks spread over the ranks; two
-- node groups simulated on one machine (TIDE_MPI_TEST_NODES) get each
-- array once per group; a worker crash on a serving rank fails its task
-- only, naming the process, signal and rank; a rank killed mid-loop ends
-- the job with one message naming it; Ctrl-C of mpirun and an uncaught
-- error leave no process and nothing in /dev/shm.
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

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. q(tmp))
local function write(name, text)
  local path = tmp .. "/" .. name
  local h = assert(io.open(path, "w"))
  h:write(text)
  h:close()
  return path
end
-- as root, Open MPI wants both variables; ASan's leak check does not know MPI's
-- allocations (Open MPI keeps some until exit)
-- Open MPI's shared-memory files (vader) go to a folder of this test's own,
-- so another mpirun on the machine (a test running beside this one) does
-- not look like something left behind; the folder is checked as /dev/shm is.
local vader = tmp .. "/vader"
os.execute("mkdir -p " .. q(vader))
local MPIENV = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " ..
               "ASAN_OPTIONS=detect_leaks=0 OMPI_MCA_btl_base_warn_component_unused=0 " ..
               "OMPI_MCA_btl_vader_backing_directory=" .. q(vader) .. " "
local function run(cmdline, env)
  local errpath = tmp .. "/stderr"
  local p = io.popen((env or "") .. " timeout 120 " .. cmdline .. " 2>" .. q(errpath))
  local out = p:read("a")
  local _, _, code = p:close()
  local h = io.open(errpath)
  local err = h and h:read("a") or ""
  if h then h:close() end
  return out, code, err
end
local function mpirun(script, args, env, n)
  return run("mpirun --oversubscribe -n " .. (n or 3) .. " " .. q(bin) .. " " .. q(script) ..
             " " .. (args or ""), MPIENV .. (env or ""))
end
-- tide's names in /dev/shm (faults.lua's folders excepted) and whatever is
-- in this test's vader folder: another job's Open MPI files in /dev/shm
-- (an mpirun beside this test) are not this test's leftovers
local function shm()
  local s = {}
  for _, dir in ipairs{"/dev/shm", vader} do
    local p = io.popen("ls " .. q(dir) .. " 2>/dev/null")
    for name in p:lines() do
      if dir == vader or name:match("^tide") and not name:match("^tide%-faults") then s[name] = true end
    end
    p:close()
  end
  return s
end
local function new_shm(before)
  local n = {}
  for name in pairs(shm()) do
    if not before[name] then n[#n + 1] = name end
  end
  return table.concat(n, " ")
end
local function left(tag) -- processes of this test still running
  -- "[/]tmp/...": the pattern does not match the shell that runs pgrep
  local p = io.popen("pgrep -f " .. q("[" .. tag:sub(1, 1) .. "]" .. tag:sub(2)) .. " 2>/dev/null")
  local s = p:read("a")
  p:close()
  return s
end

-- 1. One script, the same results on fork and on mpi ----------------------
local same = write("same.lua", [[
local tide = require "tide"
local function emit(...) print(table.concat({...}, " ")) end
emit("backend", tide.mpi and "mpi" or "fork")
local r = tide.collect(function(i) return i * i + math.random() end, 50, {seed = 7, chunk = 3})
for i = 1, 50 do emit("task", i, string.format("%.17g", r[i])) end
local k = 0
local function items() k = k + 1; if k <= 20 then return {k, "x" .. k} end end
for i, v in tide.map(function(x) return x[2] .. ":" .. x[1] * 2 end, items) do emit("item", i, v) end
local A = tide.rand(20000, 5, {seed = 3})
local s = tide.collect(function(i) local row = A[i]; return {row[1] + row[5], i} end, 30)
for i = 1, 30 do emit("row", i, string.format("%.17g", s[i][1]), s[i][2]) end
local big = tide.collect(function(i) return A:slice(1, i, i + 999):copy() end, 4)
for i = 1, 4 do emit("array", i, big[i].shape[1], string.format("%.17g", big[i]:sum())) end
local y = tide.zeros(20000)
for i = 1, 20000 do local row = A[i]; y[i] = 3 * row[1] - row[2] + 0.5 * row[3] end
local res = tide.search{model = tide.models.ridge{}, grid = {alpha = {0.01, 1, 100}}, X = A, y = y,
                        cv = tide.cv.kfold(20000, 4), scoring = "r2"}
print(res:report(3))
for i, v, err in tide.map(function(i) if i == 4 then error("four") end return i end, 6,
                          {on_error = "yield"}) do
  emit("yield", i, tostring(v), err and (err:match("four") or err) or "-")
end
]])
local fork_out, fork_code, fork_err = run(q(bin) .. " " .. q(same))
local mpi_out, mpi_code, mpi_err = mpirun(same)
check.eq(fork_code, 0, "fork run: " .. fork_err)
check.eq(mpi_code, 0, "mpi run: " .. mpi_err)
check.truthy(mpi_out:match("^backend mpi\n"), "mpi run used the mpi backend: " .. mpi_out:sub(1, 40))
check.eq(mpi_out:gsub("^backend mpi\n", ""), (fork_out:gsub("^backend fork\n", "")),
         "the same results on fork and mpi")
check.truthy(fork_out:match("task 50 "), "the script ran: " .. fork_out:sub(1, 200))

-- 2. Tasks spread over the ranks -----------------------------------------
local spread = write("spread.lua", [[
local tide = require "tide"
local h = tide.start(function(i) local t = os.clock() while os.clock() - t < 0.01 do end return i end,
                     60, {chunk = 1, jobs = 1})
h:wait()
local n = {}
for _, t in ipairs(h:stats().tasks) do n[t.rank] = (n[t.rank] or 0) + 1 end
print("ranks", n[1] or 0, n[2] or 0, n[0] or 0)
local st = tide.mpi.stats()
print("served", st.ranks[2].tasks, st.ranks[3].tasks)
]])
local out, code, err = mpirun(spread)
check.eq(code, 0, "spread: " .. err)
local a, b, z = out:match("ranks%s+(%d+)%s+(%d+)%s+(%d+)")
check.truthy(a and tonumber(a) > 0 and tonumber(b) > 0, "both serving ranks ran tasks: " .. out)
check.eq(tonumber(a or 0) + tonumber(b or 0), 60, "every task ran once on a serving rank")
check.eq(z, "0", "rank 0 runs no task")
check.eq(out:match("served%s+(%d+%s+%d+)"), a and (a .. "\t" .. b), "tide.mpi.stats counts what ran")

-- 3. Two node groups on one machine: each array once per group -------------
local nodes = write("nodes.lua", [[
local tide = require "tide"
local A = tide.rand(300000, {seed = 5})
local B = tide.zeros(300000, {shared = true})
local s = tide.collect(function(i) return A:slice(1, (i - 1) * 1000 + 1, i * 1000):sum() end, 300)
local ok = true
for i = 1, 300 do ok = ok and s[i] == A:slice(1, (i - 1) * 1000 + 1, i * 1000):sum() end
print("sums", ok)
tide.collect(function(i) return A[i] + #B end, 10)
local st = tide.mpi.stats()
for _, r in ipairs(st.ranks) do print("rank", r.rank, r.node, r.received) end
print("bytes", A.nbytes + B.nbytes)
]])
out, code, err = mpirun(nodes, nil, "TIDE_MPI_TEST_NODES=0,1,1 ")
check.eq(code, 0, "node groups: " .. err)
check.truthy(out:match("sums%s+true"), "results from both groups are right: " .. out)
local bytes = tonumber(out:match("bytes%s+(%d+)") or -1)
local r1n, r1 = out:match("rank%s+1%s+(%d+)%s+(%d+)")
local r2n, r2 = out:match("rank%s+2%s+(%d+)%s+(%d+)")
check.eq(r1n, "1", "rank 1 is in group 1")
check.eq(r2n, "1", "rank 2 is in group 1")
-- two loops, A in both, B in the second: group 1's leader received each
-- loop's arrays once; the other rank of the group, nothing
check.eq(tonumber(r1), 3 * 300000 * 8, "group 1's leader received A twice and B once")
check.eq(tonumber(r2), 0, "the group's other rank received nothing: it maps the leader's copy")
check.eq(bytes, 2 * 300000 * 8, "the data's size")
out, code, err = mpirun(nodes)
check.eq(code, 0, "one node: " .. err)
check.truthy(out:match("rank\t1\t0\t0\n") and out:match("rank\t2\t0\t0\n"),
             "on rank 0's node nothing is copied: " .. out)

-- 4. A worker crash on a serving rank ------------------------------------
local crash = write("crash.lua", [[
local tide = require "tide"
local got = 0
for i, v, err in tide.map(function(i) return i end, 20, {on_error = "yield", jobs = 1}) do
  if err then print("failed", i, err) else got = got + 1 end
end
print("delivered", got)
]])
out, code, err = mpirun(crash, nil, "TIDE_KILLPOINT=run:5:KILL ")
check.eq(code, 0, "crash: " .. err)
check.eq(out:match("delivered%s+(%d+)"), "19", "the other tasks are delivered: " .. out)
local msg = out:match("failed%s+5%s+([^\n]*)") or ""
check.truthy(msg:match("worker process %d+ on rank %d %(") and msg:match("signal 9"),
             "task 5 fails naming the process, its rank and the signal: " .. out)

-- 5. A rank killed mid-loop ----------------------------------------------
local before = shm()
local killer = write("rankkill.lua", [[
local tide = require "tide"
tide.collect(function(i)
  if i == 7 then -- SIGKILL the serving rank that runs this worker
    local h = io.open("/proc/self/stat"); local s = h:read("a"); h:close()
    os.execute("kill -9 " .. s:match("^%d+ %b() %a (%d+)"))
  end
  local t = os.clock() while os.clock() - t < 0.05 do end
  return i
end, 200, {chunk = 1})
print("not reached")
]])
local t0 = os.time()
out, code, err = mpirun(killer)
check.truthy(code ~= 0 and code ~= 124, "the job ends, and not by the test's timeout: " .. tostring(code))
check.truthy(os.time() - t0 < 60, "within seconds")
check.truthy(not out:match("not reached"), "the loop did not finish")
check.truthy(err:match("tide: rank [12] %(.-, pid %d+%) [^\n]*the job ends"),
             "one message names the rank and its host: " .. err)
os.execute("sleep 1")
check.eq(left(killer), "", "no process of the job is left")
check.eq(new_shm(before), "", "nothing is left in /dev/shm")

-- 6. An uncaught error on rank 0: MPI_Abort --------------------------------
local failing = write("fail.lua", [[
local tide = require "tide"
tide.collect(function(i) return i end, 10)
error("the script fails")
]])
out, code, err = mpirun(failing)
check.truthy(code ~= 0 and code ~= 124, "an error ends the job: " .. tostring(code))
check.truthy(err:match("the script fails") and err:find("ending the job (MPI_Abort)", 1, true),
             "with MPI_Abort: " .. err)
os.execute("sleep 1")
check.eq(left(failing), "", "no process of the job is left")

-- 7. Ctrl-C of mpirun ------------------------------------------------------
before = shm()
local ready = tmp .. "/ready"
local long = write("ctrlc.lua", [[
local tide = require "tide"
local h = io.open(arg[1], "w"); h:write("ready"); h:close()
tide.collect(function(i) local t = os.clock() while os.clock() - t < 0.1 do end return i end, 10000,
             {chunk = 1})
]])
local pidfile = tmp .. "/pid"
os.execute("(" .. MPIENV .. " sh -c 'echo $$ > " .. pidfile .. "; exec timeout 120 mpirun " ..
           "--oversubscribe -n 3 " .. q(bin) .. " " .. q(long) .. " " .. q(ready) ..
           "' >/dev/null 2>&1 &)")
for _ = 1, 600 do
  local h = io.open(ready)
  if h then h:close(); break end
  os.execute("sleep 0.05")
end
local h = io.open(pidfile)
local pid = h and h:read("l")
if h then h:close() end
os.execute("sleep 0.5")
local mp = io.popen("pgrep -P " .. (pid or "0") .. " -x mpirun"):read("l")
check.truthy(mp, "mpirun runs")
if mp then os.execute("kill -INT " .. mp) end
local gone = false
for _ = 1, 300 do
  if left(long) == "" then gone = true; break end
  os.execute("sleep 0.05")
end
check.truthy(gone, "Ctrl-C of mpirun ends every rank within seconds")
check.eq(new_shm(before), "", "nothing is left in /dev/shm after Ctrl-C")

-- 8. A serving rank's workers collect young only, yet arrays do not pile up:
-- each task's array lives through four of its worker's tasks (old when it
-- dies), and the full collection after every 16 MB made takes those ----------
local ring = write("ring.lua", [[
local tide = require "tide"
local ring, made = {}, 0
local r = tide.collect(function()
  made = made + 1
  ring[made % 4] = tide.zeros(262144, {shared = true}) -- 2 MB
  local n = 0
  for line in io.lines("/proc/self/maps") do
    if line:find("memfd:tide", 1, true) and not line:find("spill", 1, true) then n = n + 1 end
  end
  return n
end, 200, {chunk = 1, jobs = 1})
local most = 0
for _, n in ipairs(r) do most = math.max(most, n) end
print("segments", most)
]])
out, code, err = mpirun(ring)
check.eq(code, 0, "ring: " .. err)
local most = tonumber(out:match("segments%s+(%d+)"))
check.truthy(most and most >= 4, "the live arrays are mapped: " .. out)
check.truthy(most and most <= 16, "at most 16 MB of dead arrays beside the 4 live ones: " .. out)

-- 9. What tide-mpi leaves out of Open MPI (every rank on this machine):
-- set in every rank before MPI_Init unless the user set it ----------------
local lean = write("lean.lua", [[
local tide = require "tide"
local names = {"OMPI_MCA_btl", "OMPI_MCA_pml", "OMPI_MCA_osc", "OMPI_MCA_op", "OMPI_MCA_io",
               "OMPI_MCA_coll", "HWLOC_PLUGINS_BLACKLIST"}
local function env() local t = {} for i, k in ipairs(names) do t[i] = tostring(os.getenv(k)) end
                     return table.concat(t, " ") end
print("rank0", env())
print("served", tide.collect(function() return env() end, 1, {jobs = 1})[1])
]])
out, code, err = mpirun(lean)
check.eq(code, 0, "lean: " .. err)
local want = "self,vader ob1 pt2pt ^avx ^ompio,romio321 basic,libnbc,self,tuned " ..
             "hwloc_gl,hwloc_opencl,hwloc_xml_libxml"
check.eq(out:match("rank0\t([^\n]*)"), want, "rank 0 leaves out what tide never runs")
check.eq(out:match("served\t([^\n]*)"), want, "so does a serving rank")
out, code, err = mpirun(lean, nil, "OMPI_MCA_osc=sm OMPI_MCA_pml=^ucx ")
check.eq(code, 0, "lean with the user's settings: " .. err)
check.truthy((out:match("rank0\t([^\n]*)") or ""):match("^self,vader %^ucx sm %^avx"),
             "a setting the user made wins: " .. out)

os.execute("rm -rf " .. q(tmp))
check.done()
