-- monitor.lua: tide.monitor and tide.memory: memory of the process tree
-- (PSS counts shared pages once, RSS per process), CPU of workers, marks,
-- the sampler's lifetime (stop, garbage collection, a killed script), the
-- report's summary, CSV and SVG.
local check = require "check"
local xmlcheck = require "xmlcheck"
local me = check.pid()
local MB = 1e6

-- A process is alive unless /proc lacks it or it is a zombie.
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a") or ""
  f:close()
  local state = s:match("%) (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X", s
end

local function wait_gone(pid, secs)
  local until_ = tide.now() + secs
  while alive(pid) and tide.now() < until_ do os.execute("sleep 0.05") end
  return not alive(pid)
end

-- live children of this process
local children = check.children

-- ------------------------------------------------------------ tide.memory
local m = tide.memory()
check.eq(math.type(m.rss), "integer", "rss is an integer byte count")
check.truthy(m.rss > 0 and m.pss > 0 and m.uss > 0, "memory figures are positive")
check.truthy(m.uss <= m.pss and m.pss <= m.rss, "uss <= pss <= rss")
check.eq(m.nproc, 1, "one process in the tree")
check.truthy(m.sys_used > 0 and m.sys_used < m.sys_total, "system used memory")
check.eq(tide.memory(me).nproc, 1, "memory(pid)")
check.errors(function() tide.memory(2147483647) end, "no process", "memory of a missing pid")
check.errors(function() tide.memory(-1) end, "not a process id")
check.errors(function() tide.memory("x") end, "number expected")

-- ------------------------------------------------------------ bad options
check.errors(function() tide.monitor{interval = 0} end, "interval", "interval 0")
check.errors(function() tide.monitor{interval = -1} end, "interval", "negative interval")
check.errors(function() tide.monitor{interval = 0 / 0} end, "interval", "NaN interval")
check.errors(function() tide.monitor{interval = "fast"} end, "must be a number")
check.errors(function() tide.monitor{intervall = 1} end, "unknown option 'intervall'")
check.errors(function() tide.monitor{max_samples = 0} end, "max_samples")
check.errors(function() tide.monitor{max_samples = 1e12} end, "max_samples")
check.errors(function() tide.monitor("x") end, "table expected")
check.eq(children(), 0, "no sampler left by failed starts")

-- ------------------------------------------- a 200 MB array, page by page
local mon = tide.monitor{interval = 0.05}
check.truthy(mon.running, "running")
check.truthy(mon.samples >= 1, "the baseline sample exists when monitor() returns")
check.truthy(tostring(mon):find("running", 1, true), "tostring")
check.eq(tide.memory().nproc, 1, "tide.memory leaves the sampler out")
local sampler = mon.pid
check.truthy(alive(sampler), "sampler alive")
local a = tide.zeros(25000000)
a:fill_(1) -- touch every page
check.eq(mon:mark("filled"), true, "mark")
local snap = mon:report()
check.eq(snap.running, true, "a snapshot while running")
check.truthy(snap.samples >= 1, "snapshot samples")
local rep = mon:stop()
check.eq(mon.running, false, "stopped")
check.truthy(not alive(sampler) and io.open("/proc/" .. sampler .. "/stat") == nil,
             "sampler reaped after stop")
check.truthy(rawequal(mon:stop(), rep), "stop again: the same report")
check.errors(function() mon:mark("late") end, "stopped", "mark after stop")
local grew_pss = rep.peak_pss - rep.baseline_pss
local grew_rss = rep.peak_rss - rep.baseline_rss
check.truthy(grew_pss > 190 * MB and grew_pss < 215 * MB, "PSS grew by 200 MB: " .. grew_pss)
check.truthy(grew_rss > 190 * MB and grew_rss < 215 * MB, "RSS grew by 200 MB: " .. grew_rss)
check.truthy(rep.peak_uss - rep.baseline_uss > 190 * MB, "USS grew too (one mapper)")
check.eq(rep.peak_nproc, 1, "the sampler is not in the figures")
check.truthy(rep.samples >= 2 and rep.samples == #rep.t, "samples: " .. rep.samples)
check.truthy(rep.duration > 0 and rep.duration < 60, "duration")
check.eq(rep.baseline_pss, rep.pss[1], "baseline is the first sample")
local increasing = true
for i = 2, rep.samples do increasing = increasing and rep.t[i] > rep.t[i - 1] end
check.truthy(increasing, "sample times increase")
check.eq(#rep.marks, 1, "one mark")
check.eq(rep.marks[1].label, "filled")
check.truthy(rep.marks[1].t > 0 and rep.marks[1].t <= rep.t[rep.samples], "mark time")
check.eq(rep.interval, 0.05)
check.eq(rep.truncated, false)
local sum = rep:summary()
check.truthy(sum:find("^peak PSS 2%d%d%.%d MB %(%+"), "summary: " .. sum)
check.truthy(sum:find("samples over", 1, true) and sum:find("CPU mean", 1, true), "summary parts")
local m2 = tide.memory()
check.truthy(m2.pss >= 200 * MB, "tide.memory sees the array")
a:close()
a = nil

-- --------------------------------------------------------- CSV and SVG
local csv = os.tmpname()
mon = tide.monitor{interval = 0.01}
mon:mark('fit, "quoted"')
mon:mark("predict")
os.execute("sleep 0.1")
mon:mark(string.rep("x", 100)) -- cut to 47 bytes
rep = mon:stop()
check.eq(#rep.marks, 3)
check.eq(#rep.marks[3].label, 47, "long labels are cut")
check.eq(rep:csv(csv), true, "csv written")
local f = assert(io.open(csv))
check.eq(f:read("l"), "t,rss,pss,uss,cpu,sys_used,nproc,mark", "csv header")
local nsamp, nmark, bad, labels = 0, 0, 0, {}
for l in f:lines() do
  local t, rest = l:match("^([%d%.]+),(.*)$")
  if rest and rest:find("^,,,,,,") then
    nmark = nmark + 1
    labels[#labels + 1] = rest:sub(7)
  elseif rest then
    local fields = {}
    for v in (rest .. ","):gmatch("([^,]*),") do fields[#fields + 1] = v end
    local good = #fields == 7 and fields[7] == ""
    for i = 1, 6 do good = good and tonumber(fields[i]) ~= nil end
    if good then nsamp = nsamp + 1 else bad = bad + 1 end
  else
    bad = bad + 1
  end
end
f:close()
os.remove(csv)
check.eq(nsamp, rep.samples, "one numeric row per sample")
check.eq(nmark, 3, "one row per mark")
check.eq(bad, 0, "no malformed rows")
check.eq(labels[1], '"fit, ""quoted"""', "csv quoting of a label")
check.eq(labels[2], "predict")
local ok, err = rep:csv("/nonexistent-dir/x.csv")
check.truthy(ok == nil and type(err) == "string", "csv to a bad path: nil, message")

local svg = os.tmpname()
check.eq(rep:plot(svg), true, "plot written")
f = assert(io.open(svg))
local text = f:read("a")
f:close()
check.truthy(xmlcheck.balanced(text), "svg tags balanced")
check.truthy(text:find("PSS", 1, true) and text:find("CPU", 1, true), "series named")
check.truthy(text:find("fit, &quot;quoted&quot;", 1, true), "mark label escaped")
local py = xmlcheck.python(svg)
check.truthy(py == "ok" or py == "skip", "svg parses as XML: " .. py)
local png = xmlcheck.render(svg)
check.truthy(png == "ok" or png == "skip", "svg renders: " .. png)
os.remove(svg)

-- ----------------------- workers: PSS counts shared pages once, CPU of two
local N = 12500000 -- 100 MB of f64, shared memory
mon = tide.monitor{interval = 0.05}
local c0 = os.clock()
local A = tide.zeros(N)
A:fill_(1)
local res = tide.collect(function(i)
  local s = 0
  for j = 1, N, 512 do s = s + A[j] end -- one read per 4 KiB page: maps them all
  mon:mark("worker " .. i)
  local w0 = tide.now()
  local t0 = os.clock()
  while os.clock() - t0 < 0.6 do end -- 0.6 s of CPU, whatever the machine's load
  return {s = s, cpu = os.clock(), w0 = w0, w1 = tide.now()}
end, 2, {jobs = 2, chunk = 1})
local parent_cpu = os.clock() - c0
rep = mon:stop()
check.eq(res[1].s, (N + 511) // 512, "workers read the array")
local series = {}
for i = 1, rep.samples do series[i] = rep.nproc[i] end
check.eq(rep.peak_nproc, 3, "script and two workers (" .. table.concat(series, " ") .. ")")
local wm, last_mark = 0, 0
for _, mk in ipairs(rep.marks) do
  if mk.label:find("^worker ") then wm, last_mark = wm + 1, math.max(last_mark, mk.t) end
end
check.eq(wm, 2, "workers can mark")
-- While workers are still faulting the array's pages in, one sample reads
-- the processes one after another and a page's share can fall between two
-- reads (the kernel offers no snapshot of a tree), so the peak may
-- overcount for a moment.  Once both workers have marked, every page is
-- mapped three times and stays so for 0.6 s: those samples must count the
-- array once.
local steady, steady_rss = 0, 0
for i = 1, rep.samples do
  if rep.t[i] > last_mark + 0.06 and rep.t[i] < last_mark + 0.55 then
    steady = math.max(steady, rep.pss[i] - rep.baseline_pss)
    steady_rss = math.max(steady_rss, rep.rss[i] - rep.baseline_rss)
  end
end
check.truthy(steady > 90 * MB and steady < 150 * MB,
             "PSS counts the shared array once: +" .. steady)
check.truthy(steady_rss > 250 * MB, "RSS counts it in each process: +" .. steady_rss)
check.truthy(rep.peak_rss > rep.peak_pss + 150 * MB, "RSS > PSS with workers")
-- CPU: the integral of the CPU curve is the CPU time the tree spent
local cpu_s = 0
for i = 2, rep.samples do cpu_s = cpu_s + rep.cpu[i] / 100 * (rep.t[i] - rep.t[i - 1]) end
local truth = parent_cpu + res[1].cpu + res[2].cpu
check.truthy(cpu_s > 0.9 * truth - 0.05 and cpu_s < truth + 0.2,
             string.format("CPU seconds %.2f vs %.2f spent", cpu_s, truth))
-- Two busy workers at once show well over one CPU, when the machine let
-- them run at once (their own clocks say how much they got).
local span = math.max(res[1].w1, res[2].w1) - math.min(res[1].w0, res[2].w0)
local got = 1.2 / span * 100
if got > 150 then
  check.truthy(rep.cpu_peak > 100, string.format("peak CPU %.0f%% (workers got %.0f%%)",
                                                 rep.cpu_peak, got))
else
  io.stderr:write(string.format("note: machine busy, workers got %.0f%% of CPU; peak %.0f%%\n",
                                got, rep.cpu_peak))
  check.truthy(rep.cpu_peak > 0.5 * got, "peak CPU follows what the workers got")
end
A = nil
collectgarbage()

-- a process that lives and dies between two samples still counts (its
-- ticks reach the script through cutime when it is reaped)
local bin = os.getenv("TIDE_BIN")
if bin then
  local spin = os.tmpname()
  f = assert(io.open(spin, "w"))
  f:write("local t = os.clock() while os.clock() - t < 0.3 do end\n")
  f:close()
  mon = tide.monitor{interval = 60}
  os.execute(bin .. " " .. spin)
  rep = mon:stop()
  os.remove(spin)
  check.eq(rep.samples, 2, "baseline and last sample only")
  local spent = rep.cpu[2] / 100 * (rep.t[2] - rep.t[1])
  check.truthy(spent > 0.28 and spent < 1, "a short-lived child's CPU: " .. spent)
end

-- a worker inherits the monitor: it may mark, not stop; it may run its own
local outer = tide.monitor{interval = 0.02}
local wres = tide.collect(function()
  local okstop, errstop = pcall(function() return outer:stop() end)
  local inner = tide.monitor{interval = 0.01}
  local r = inner:stop()
  return {okstop = okstop, err = tostring(errstop), samples = r.samples,
          nproc = r.peak_nproc, gone = io.open("/proc/" .. r.pid .. "/stat") == nil}
end, 2, {jobs = 2, chunk = 1})[1] -- jobs = 1 would run it here, serially
check.eq(wres.okstop, false, "a worker cannot stop the script's monitor")
check.truthy(wres.err:find("only the process that started it", 1, true), wres.err)
check.truthy(wres.samples >= 2, "a monitor inside a worker")
check.eq(wres.nproc, 1, "it measures the worker's own tree")
check.truthy(wres.gone, "the worker's sampler is reaped")
check.truthy(outer.running, "the script's monitor still runs")
rep = outer:stop()
-- the script, two workers and the workers' own samplers (descendants,
-- so counted when a sample catches them); never the outer sampler itself
check.truthy(rep.samples >= 1 and rep.peak_nproc >= 1 and rep.peak_nproc <= 5,
             "outer monitor: script, workers, their samplers: " .. rep.peak_nproc)

-- ------------------------------------------------------ sampler lifetime
-- garbage collection stops it
local gpid
do
  local g = tide.monitor{interval = 0.01}
  gpid = g.pid
end
collectgarbage()
collectgarbage()
check.truthy(wait_gone(gpid, 2), "sampler gone after the monitor is collected")

-- a to-be-closed monitor stops at the end of its scope
do
  local c <close> = tide.monitor{interval = 0.01}
  gpid = c.pid
end
check.truthy(not alive(gpid), "sampler gone after <close>")

-- the sampler holds no inherited descriptor: a pipe still reaches EOF
local p = io.popen("cat > /dev/null", "w")
local pm = tide.monitor{interval = 0.01}
p:write("x")
check.truthy(p:close(), "pipe closes while a monitor runs")
pm:stop()

-- a full sample array stops sampling and says so
local tm = tide.monitor{interval = 0.001, max_samples = 3}
tide.sleep(0.5) -- no child process: the tree stays settled; time to spare on a busy machine
rep = tm:stop()
check.eq(rep.samples, 3, "at most max_samples")
check.eq(rep.truncated, true, "truncated flag")
check.truthy(rep:summary():find("stopped early", 1, true), "summary says truncated")

check.eq(children(), 0, "no sampler left")

-- a killed script takes its sampler with it (PR_SET_PDEATHSIG)
if bin then
  local script = os.tmpname()
  f = assert(io.open(script, "w"))
  f:write([[
local mon = tide.monitor{interval = 0.01}
io.stdout:write(mon.pid, "\n")
io.stdout:flush()
local f = io.open("/proc/self/stat")
local me = f:read("n")
f:close()
os.execute("kill -KILL " .. me)
os.execute("sleep 5")
]])
  f:close()
  local pp = io.popen(bin .. " " .. script .. " 2>/dev/null")
  local spid = tonumber(pp:read("l"))
  pp:read("a") -- EOF: the sampler holds no copy of our pipe
  pp:close()
  os.remove(script)
  check.truthy(spid and spid > 0, "child script printed its sampler's pid")
  if spid then
    local gone, stat = wait_gone(spid, 5), nil
    if not gone then _, stat = alive(spid) end
    check.truthy(gone or not stat:find("(" .. "tide-monitor" .. ")", 1, true),
                 "sampler of a killed script is gone")
  end
else
  io.stderr:write("note: TIDE_BIN unset, killed-script case skipped\n")
end

-- Workers exiting never make a live array look smaller: while a worker
-- unmaps, its pages still divide the others' shares but its own share can
-- no longer be read, so such a sample is read again (or dropped).
do
  local big = tide.zeros(25 * 1000 * 1000)   -- 200 MB, shared, touched below
  big:fill_(1)
  collectgarbage()
  local m = tide.monitor{interval = 0.003}
  for _ = 1, 12 do                           -- workers map it, read it, exit
    tide.collect(function(i) return big:sum() end, 2, {jobs = 2}) -- every page, in each
  end
  local r = m:stop()
  local low = math.huge
  for k = 1, r.samples do low = math.min(low, r.pss[k]) end
  check.truthy(low >= big.nbytes, string.format("no sample below the live array: %.1f MB < %.1f MB",
                                                 low / 1e6, big.nbytes / 1e6))
  big:close()
end

check.done()
