-- shm.lua: shared segments are freed when the last array using them goes,
-- and no tide segment ever has a name in /dev/shm or the temp folder, even
-- while alive and after the process that made it is killed with SIGKILL.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN not set")

local function names(dir)
  local n = 0
  local p = io.popen("ls -a " .. dir .. " 2>/dev/null")
  for f in p:lines() do -- (tide-faults-PID: faults.lua's folder, another test's)
    if f:match("^tide%-") and not f:match("^tide%-faults%-") then n = n + 1 end
  end
  p:close()
  return n
end

local function maps()
  local n = 0
  for line in io.lines("/proc/self/maps") do
    if line:find("memfd:tide", 1, true) then n = n + 1 end
  end
  return n
end

-- arrays at or above share_bytes go to shared memory; views keep it alive
local base_fd, base_map = check.shm_fds(), maps()
local a = tide.zeros(1000, 200)          -- 1.6 MB
check.eq(a.storage, "shared")
check.eq(check.shm_fds(), base_fd + 1, "one segment")
local view = a:row(3):slice(1, 1, 10)
a = nil
collectgarbage(); collectgarbage()
check.eq(check.shm_fds(), base_fd + 1, "a view keeps the segment")
view[1] = 5; check.eq(view[1], 5)
view = nil
collectgarbage(); collectgarbage()
check.eq(check.shm_fds(), base_fd, "segment freed after the last view")
check.eq(maps(), base_map, "mapping gone")

-- closing frees at once
local b = tide.zeros(300000); b:close()
check.eq(check.shm_fds(), base_fd, "close frees")

-- big segments no other process maps are kept for reuse (zeroed again),
-- and tide.trim() frees them
tide.trim()
local fd0 = check.shm_fds()
local big = tide.zeros(5 * 1000 * 1000)            -- 40 MB
big[7] = 3; big:close()
check.eq(check.shm_fds(), fd0 + 1, "a freed 40 MB segment is kept")
local again = tide.zeros(5 * 1000 * 1000)
check.eq(check.shm_fds(), fd0 + 1, "and reused")
check.eq(again[7], 0.0, "reused memory is zeroed")
again:close()
check.truthy(tide.trim() >= 40 * 1000 * 1000, "trim reports the bytes")
check.eq(check.shm_fds(), fd0, "trim frees kept segments")
-- a segment that existed when workers were forked is never kept
local shared_before = tide.zeros(5 * 1000 * 1000)
tide.collect(function(i) return shared_before[i] end, 2, {jobs = 2})
shared_before:close()
check.eq(check.shm_fds(), fd0, "a segment workers may map is freed, not kept")

-- file-backed segments in a temp folder are unlinked at creation
local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -m 700 " .. dir)
tide.config.temp_dir = dir
local c = tide.zeros(1 << 18)
check.eq(c.storage, "shared")
check.eq(names(dir), 0, "no name while alive")
c = nil; collectgarbage()
tide.config.temp_dir = nil

-- a child that holds segments (memfd and files in /dev/shm) is SIGKILLed:
-- nothing is left behind
local script = dir .. "/child.lua"
local f = assert(io.open(script, "w"))
f:write([[
local pid = io.open("/proc/self/stat"):read("n")
local x = tide.zeros(1 << 18)                  -- memfd
tide.config.temp_dir = "/dev/shm"
local y = tide.zeros(1 << 18)                  -- unlinked file in /dev/shm
io.write(pid, " ", x.storage, " ", y.storage, "\n"); io.flush()
while true do end
]])
f:close()
local shm_before = names("/dev/shm")
local p = io.popen(bin .. " " .. script)
local line = p:read("l")
local pid = tonumber(line:match("^(%d+)"))
check.truthy(pid, "child pid: " .. tostring(line))
check.truthy(line:find("shared shared", 1, true), "child made two shared arrays")
check.eq(names("/dev/shm"), shm_before, "no name in /dev/shm while the child lives")
os.execute("kill -9 " .. pid)
p:close()
check.eq(names("/dev/shm"), shm_before, "no name in /dev/shm after SIGKILL")
check.eq(names(dir), 0, "no name in the temp folder after SIGKILL")
os.remove(script); os.remove(dir)

-- A worker never reuses a segment the parent kept for reuse: the parent
-- frees a 40 MB array (kept, as malloc keeps memory), a worker makes one of
-- the same size and writes it late; the parent's next 40 MB array must not
-- see those writes.
do
  local n = 5000000
  local a = tide.zeros(n)
  a:close()
  local j = tide.start(function(i)
    local b = tide.full(n, 7)
    tide.sleep(0.4)
    b:fill_(9)
    return b:sum()
  end, 2, {jobs = 2, chunk = 1})
  tide.sleep(0.1)
  local c = tide.zeros(n)
  local got = j:wait()
  check.eq(c:sum(), 0, "the parent's new array is its own")
  check.eq(c:max(), 0)
end

check.done()
