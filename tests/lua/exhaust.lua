-- exhaust.lua: tide run out of descriptors, processes, temp space, disk and
-- memory.  Each case runs a child tide under the limit; the child pcalls
-- each step and prints "step: ok ..." or "step: error <message>", then
-- checks the state still works.  Here we check: the child exited normally
-- (no signal, no abort, no sanitizer report), every failure was an error
-- with a message, nothing half-written stayed, nothing new of tide's is in
-- /dev/shm and none of the child's workers outlived it.  A case that needs
-- root, mounts or a memory cgroup says why it is skipped when it cannot run.
local check = require "check"
local tide = require "tide"

local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")
local pid = io.open("/proc/self/stat"):read("n")
local work = string.format("%s/tide-exhaust-%d", os.getenv("TMPDIR") or "/tmp", pid)
assert(os.execute("mkdir -p " .. work .. " && chmod 755 " .. work))
local root = io.popen("id -u"):read("n") == 0
local ran, skipped = 0, {}

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local function tide_shm()
  return sh("ls /dev/shm | grep '^tide' | grep -v '^tide-faults-' | sort | tr '\\n' ' '")
end

local function have(cmd) return sh("command -v " .. cmd):match("%S") ~= nil end

-- Processes whose environment holds this case's mark: the child's workers,
-- if any outlived it.
local function marked(mark)
  local out = sh("grep -l -a " .. mark .. " /proc/[0-9]*/environ 2>/dev/null | grep -v self || true")
  local pids = {}
  for p in out:gmatch("/proc/(%d+)/") do
    if tonumber(p) ~= pid then pids[#pids + 1] = p end
  end
  return pids
end

-- The child's prologue: every step runs protected and reports itself.
local prologue = [[
local tide = require "tide"
local dir = ...
function step(name, f, ...)
  local r = table.pack(pcall(f, ...))
  if r[1] then print(name .. ": ok " .. tostring(r[2]))
  else print(name .. ": error " .. tostring(r[2]):gsub("\n", " ")) end
  return table.unpack(r, 1, r.n)
end
]]

-- Runs a child script under `wrap` (a shell prefix setting the limit; %s is
-- the command) and checks what every case must hold.  Returns the output.
local n = 0
local function run(name, wrap, script, env)
  n = n + 1
  local path = string.format("%s/case%d.lua", work, n)
  local f = assert(io.open(path, "w"))
  f:write(prologue, script, "\nprint('child done')\n")
  f:close()
  local mark = string.format("TIDE_EXHAUST_MARK=x%dy%d", pid, n)
  local shm0 = tide_shm()
  local cmd = string.format("env %s %s %q %s %q", mark, env or "", bin, path, work)
  local out = sh(string.format(wrap, cmd) .. "; echo \"exit=$?\"")
  io.stderr:write("== ", name, "\n", out)
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  check.eq(code, 0, name .. ": the child exits normally")
  check.truthy(out:find("child done", 1, true), name .. ": the child ran to its end")
  for _, bad in ipairs{"AddressSanitizer", "runtime error", "PANIC", "Segmentation", "Bus error",
                       "Aborted", "core dumped"} do
    check.truthy(not out:find(bad, 1, true), name .. ": no '" .. bad .. "' in the output")
  end
  for line in out:gmatch("[^\n]+") do
    local what, msg = line:match("^(%S+): error%s*(.*)$")
    if what then check.truthy(#msg > 8, name .. ": " .. what .. " failed with a message: " .. msg) end
  end
  -- the workers die with their parent (PR_SET_PDEATHSIG), within moments
  local left
  for _ = 1, 40 do
    left = marked(mark:match("=(.*)"))
    if #left == 0 then break end
    os.execute("sleep 0.05")
  end
  check.eq(#left, 0, name .. ": no process of the child's left (" .. table.concat(left, " ") .. ")")
  check.eq(tide_shm(), shm0, name .. ": nothing of tide's new in /dev/shm")
  ran = ran + 1
  return out
end

local function skip(name, why)
  skipped[#skipped + 1] = name .. " (" .. why .. ")"
end

-- ---- file descriptors ------------------------------------------------------
-- ulimit -n 32, and then the table filled up to `spare` free descriptors:
-- a loop and a load must either work or fail with an error, and work again
-- once descriptors are given back.
local fd_script = [[
tide.config.share_bytes = 4096
local X = tide.rand({200, 20}, {seed = 1})
tide.save(dir .. "/x.npy", X)
local spare = tonumber(os.getenv("SPARE"))
local held = {}
while true do -- take every descriptor there is, then give back `spare`
  local f = io.open("/dev/null")
  if not f then break end
  held[#held + 1] = f
end
for _ = 1, spare do table.remove(held):close() end
step("loop", function()
  local t = tide.collect(function(i) return X:row(i):sum() end, 50, {jobs = 3})
  return #t
end)
step("map", function()
  local s = 0
  for _, r in tide.map(function(i) return tide.rand(1000, {seed = i}) end, 6, {jobs = 2}) do s = s + #r end
  return s
end)
step("load", function() return tide.load(dir .. "/x.npy"):sum() end)
step("mmap", function() return tide.load(dir .. "/x.npy", {mmap = "r"}):sum() end)
step("read_csv", function()
  return #tide.read_csv(dir .. "/missing.csv")
end)
for _, f in ipairs(held) do f:close() end
held = nil
collectgarbage()
local ok, t = step("after", function()
  return #tide.collect(function(i) return X:row(i):sum() end, 50, {jobs = 3})
end)
assert(ok and t == 50, "the state works again once descriptors are back")
]]
for _, spare in ipairs{0, 1, 2, 4, 8} do
  local out = run("fds spare=" .. spare, "sh -c 'ulimit -n 32 && exec %s'", fd_script,
                  "SPARE=" .. spare)
  check.truthy(out:find("after: ok 50", 1, true), "fds spare=" .. spare .. ": usable afterwards")
  if spare == 0 then
    check.truthy(out:find("loop: error", 1, true), "no descriptor left: the loop is an error")
    check.truthy(out:find("load: error", 1, true), "no descriptor left: the load is an error")
  end
end

-- ---- processes -------------------------------------------------------------
-- RLIMIT_NPROC does not bind root: the child runs as nobody (setpriv), with
-- room for only some of its workers, so fork fails in the middle of a pool.
local nproc_script = [[
step("loop", function()
  return #tide.collect(function(i) return i * i end, 40, {jobs = 4})
end)
step("pool", function()
  local p <close> = tide.pool{jobs = 3}
  return #p:collect(function(i) return i end, 10)
end)
local ok, t = step("after", function()
  return #tide.collect(function(i) return i * i end, 40, {jobs = 1})
end)
assert(ok and t == 40, "the state works after fork failed")
]]
if not root then
  skip("processes", "RLIMIT_NPROC needs another user: not root")
elseif not have("setpriv") or not have("bash") then
  skip("processes", "no setpriv (util-linux) or no bash (ulimit -u)")
elseif sh(string.format("setpriv --reuid=65534 --regid=65534 --clear-groups test -x %q && echo yes", bin))
       :match("yes") == nil then
  skip("processes", "nobody cannot run " .. bin)
else
  local busy = tonumber(sh("ps -u 65534 -o pid= 2>/dev/null | wc -l")) or 0
  for _, extra in ipairs{2, 3} do -- the shell and tide, then 0 or 1 worker
    local out = run("processes +" .. extra,
                    "setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'ulimit -u " ..
                    (busy + extra) .. " && exec %s'", nproc_script,
                    "ASAN_OPTIONS=detect_leaks=0") -- LeakSanitizer forks to check
    check.truthy(out:find("loop: error", 1, true), "processes +" .. extra .. ": fork failing is an error")
    check.truthy(out:find("after: ok 40", 1, true), "processes +" .. extra .. ": usable afterwards")
  end
end

-- ---- a full temp_dir, a full disk -----------------------------------------
-- Two small tmpfs mounts in a mount namespace of the child's own (gone
-- with it): one for segments (temp_dir), one for files.  After the child,
-- the shell lists both, still inside the namespace.
local full_script = [[
local seg, disk = dir .. "/seg", dir .. "/disk"
tide.config.temp_dir = seg
tide.config.share_bytes = 4096
step("shared array", function() return tide.rand({1000, 1000}, {seed = 1}):sum() end)
step("loop result", function()
  return #tide.collect(function(i) return tide.rand(400000, {seed = i}) end, 4, {jobs = 2})
end)
tide.config.temp_dir = nil
local X = tide.rand({1000, 1000}, {seed = 2}) -- 8 MB, on no disk
step("save", function() return tide.save(disk .. "/big.npy", X) end)
tide.dump({note = "old"}, disk .. "/v.tide")
step("dump", function() return tide.dump({X = X, note = "new"}, disk .. "/v.tide") end)
step("undump old", function() return tide.undump(disk .. "/v.tide").note end)
step("savez", function() return tide.savez(disk .. "/z.npz", {X = X}) end)
step("memoize", function()
  local g = tide.memoize(function(A) return A * 2 end, {dir = disk .. "/cache", verbose = 0})
  return g(X):sum() == X:sum() * 2
end)
local ok, s = step("after", function()
  tide.config.temp_dir = seg
  return #tide.collect(function(i) return tide.rand(100, {seed = i}) end, 4, {jobs = 2})
end)
assert(ok and s == 4, "the state works with temp_dir full")
]]
if not root then
  skip("full temp_dir / disk", "mounting a tmpfs needs root")
elseif not have("unshare") then
  skip("full temp_dir / disk", "no unshare (util-linux)")
elseif not sh("unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs " .. work ..
              " && echo mounted'"):match("mounted") then
  skip("full temp_dir / disk", "this container may not mount a tmpfs")
else
  local wrap = "unshare -m sh -c 'mkdir -p " .. work .. "/seg " .. work .. "/disk && " ..
               "mount -t tmpfs -o size=2m tmpfs " .. work .. "/seg && " ..
               "mount -t tmpfs -o size=2m tmpfs " .. work .. "/disk && " ..
               "{ %s; rc=$?; echo \"seg: [$(ls -A " .. work .. "/seg)]\"; " ..
               "echo \"disk: [$(ls -A " .. work .. "/disk | tr \"\\n\" \" \")]\"; " ..
               "echo \"cache: [$(find " .. work .. "/disk/cache -type f 2>/dev/null | tr \"\\n\" \" \")]\"; " ..
               "exit $rc; }'"
  local out = run("full", wrap, full_script)
  for _, s in ipairs{"shared array", "loop result", "save", "dump", "savez"} do
    check.truthy(out:find(s .. ": error", 1, true), "full: " .. s .. " is an error")
  end
  check.truthy(out:find("undump old: ok old", 1, true), "full: the old dump is intact")
  check.truthy(out:find("memoize: ok true", 1, true), "full: memoize computes what it cannot store")
  check.truthy(out:find("after: ok 4", 1, true), "full: usable afterwards")
  check.truthy(out:find("seg: []", 1, true), "full: no segment left in temp_dir")
  local disk = out:match("disk: %[(.-)%]") or "?"
  check.truthy(disk:gsub("cache", ""):gsub("v%.tide", ""):match("^%s*$"),
               "full: only the old dump (and the cache folder) on the disk: " .. disk)
  local cache = out:match("cache: %[(.-)%]") or "?"
  -- an entry that could not be written leaves no file; the index may stay
  for file in cache:gmatch("%S+") do
    check.truthy(file:match("/index$") or file:match("/lock$"), "full: no half-written cache entry: " .. file)
  end
end

-- ---- a memory cgroup below the data --------------------------------------
local mem_script = [[
step("rand", function() return tide.rand(60000000, {seed = 1}):sum() end)
step("zeros", function() return tide.zeros({8000, 8000}):sum() end)
step("loop", function()
  return #tide.collect(function(i) return tide.rand(30000000, {seed = i}):sum() end, 2, {jobs = 2})
end)
local ok, s = step("after", function() return tide.rand(1000, {seed = 1}):sum() > 0 end)
assert(ok and s, "the state works")
]]
local function cgroup_dir()
  local v2 = io.open("/sys/fs/cgroup/cgroup.controllers")
  if v2 then
    local ctl = v2:read("a")
    v2:close()
    if not ctl:find("memory") then return nil, "cgroup v2 without the memory controller" end
    local own = sh("sed -n 's/^0:://p' /proc/self/cgroup"):match("%S+") or "/"
    return "/sys/fs/cgroup" .. own:gsub("/$", ""), "memory.max"
  end
  local v1 = sh("sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup"):match("%S+")
  if v1 and io.open("/sys/fs/cgroup/memory/cgroup.procs") then
    return "/sys/fs/cgroup/memory" .. v1:gsub("/$", ""), "memory.limit_in_bytes"
  end
  return nil, "no memory cgroup (v2 or v1) mounted"
end
local parent, knob = cgroup_dir()
if not root then
  skip("memory cgroup", "making a cgroup needs root")
elseif not parent then
  skip("memory cgroup", knob)
else
  local cg = string.format("%s/tide-exhaust-%d", parent, pid)
  local made = os.execute("mkdir " .. cg .. " 2>/dev/null")
  local limited = made and io.open(cg .. "/" .. knob, "w")
  if limited then limited = limited:write("200000000") and limited:close() end
  if not limited then
    skip("memory cgroup", "cannot make a child cgroup with a limit under " .. parent)
  else
    local out = run("memory cgroup", "sh -c 'echo $$ > " .. cg .. "/cgroup.procs && exec %s'", mem_script)
    for _, s in ipairs{"rand", "zeros"} do
      check.truthy(out:find(s .. ": error", 1, true), "memory cgroup: " .. s .. " above the limit is an error")
    end
    check.truthy(out:find("after: ok true", 1, true), "memory cgroup: usable afterwards")
  end
  if made then os.execute("rmdir " .. cg) end
end

os.execute("rm -rf " .. work)
print(string.format("exhaust: %d cases run; skipped: %s", ran,
                    #skipped > 0 and table.concat(skipped, "; ") or "none"))
check.done()
