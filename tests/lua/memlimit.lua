-- memlimit.lua: no allocation can take the machine down.  Requests past
-- the memory the machine (or the memory cgroup) still has are refused with
-- both sizes named, leave no segment behind, and the process goes on --
-- in workers too; memmaps and file segments past the free disk space are
-- refused before anything is written.  Then, inside a memory cgroup of
-- 2 GiB made here, a child tide asks for 8 GB: refused, not OOM-killed.
-- Exit 77 (skipped) after the first part when no cgroup can be made.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN not set")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function entries(dir)
  local n = 0
  local p = io.popen("ls -A " .. q(dir) .. " 2>/dev/null")
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end

-- ---------------------------------------------------- past the machine

local avail = tide.memory_available()
check.eq(math.type(avail), "integer", "memory_available gives bytes")
local meminfo = read("/proc/meminfo") or ""
local total = (tonumber(meminfo:match("MemTotal:%s*(%d+)")) or 0) +
              (tonumber(meminfo:match("SwapTotal:%s*(%d+)")) or 0)
check.truthy(avail > 0 and avail <= total * 1024, "0 < available <= MemTotal + SwapTotal")

tide.trim()
local fds = check.shm_fds()
check.errors(function() return tide.zeros(2^45 // 8) end,
             "cannot allocate 35.2 TB for a shared array: ", "2^45 bytes")
check.errors(function() return tide.zeros(2^45 // 8) end, " available", "names what is left")
check.errors(function() return tide.zeros(2^53) end, "cannot allocate 72.1 PB for a shared array",
             "2^53 elements")
check.errors(function() return tide.ones(1 << 45, "u8") end, "cannot allocate 35.2 TB", "ones")
check.errors(function() return tide.rand({1 << 42}, {seed = 1}) end, "cannot allocate 35.2 TB",
             "rand")
check.errors(function() return tide.zeros(2^42, {shared = false}) end,
             "cannot allocate 35.2 TB for an array: ", "a heap array")
check.errors(function() return tide.zeros(2^62) end, "shape is too large", "2^62 elements")
check.errors(function() return tide.zeros(1e9, 1e9) end, "shape is too large", "1e9 x 1e9")
check.errors(function() return tide.zeros(1 << 40, 1 << 40, "u8") end, "shape is too large",
             "2^80 bytes")
-- results of operations go through the same check: 2^22 x 2^22 broadcast
local col, row = tide.zeros(1 << 22, 1), tide.zeros(1 << 22)
check.errors(function() return col + row end, "cannot allocate 140.7 TB", "a broadcast result")
col, row = nil, nil
collectgarbage(); collectgarbage()

-- workers refuse too, and their errors come back as task errors
local r = tide.collect(function(i)
  local ok, e = pcall(tide.zeros, 2^42)
  return ok and "made" or tostring(e)
end, 2, {jobs = 2})
check.truthy(r[1]:find("cannot allocate 35.2 TB for a shared array", 1, true), r[1])
check.truthy(r[2]:find("cannot allocate 35.2 TB for a shared array", 1, true), r[2])
check.errors(function() return tide.collect(function() return tide.zeros(2^42) end, 2, {jobs = 2}) end,
             "cannot allocate 35.2 TB", "a task error")

-- files: a temp folder on a disk, a memmap: refused before anything stays
local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -m 700 " .. q(dir))
tide.config.temp_dir = dir
local ok, e = pcall(tide.zeros, 2^45 // 8)
check.eq(ok, false, "a 35 TB segment in a folder")
e = tostring(e)
check.truthy(e:find("35.2 TB", 1, true) and (e:find("no room for a 35.2 TB array in " .. dir, 1, true)
             or e:find("cannot allocate", 1, true)), e)
tide.config.temp_dir = nil
check.errors(function() return tide.memmap(dir .. "/huge.npy", {shape = {1 << 50}, mode = "w+"}) end,
             "no room for a 9.0 PB array in " .. dir .. "/huge.npy: ", "memmap w+")
check.eq(entries(dir), 0, "no file left in the folder")
os.execute("rm -rf " .. q(dir))

collectgarbage(); collectgarbage()
check.eq(check.shm_fds(), fds, "no segment left behind")
local x = tide.rand({1000, 1000}, {seed = 3})    -- 8 MB: still usable
check.near(x:mean(), 0.5, 1e-2, "usable afterwards")
check.eq(x.storage, "shared")
x:close()

-- ------------------------------------------- inside a 2 GiB memory cgroup

-- Where a child cgroup with a memory limit can be made: v1's memory
-- hierarchy, or v2 when our cgroup hands the memory controller down.
local function cgroup_base()
  local lines = read("/proc/self/cgroup")
  if not lines then return nil, "no /proc/self/cgroup" end
  local v1 = lines:match("%d+:[%w_,]*memory[%w_,]*:([^\n]*)")
  if v1 and read("/sys/fs/cgroup/memory" .. v1 .. "/memory.limit_in_bytes") then
    return "/sys/fs/cgroup/memory" .. (v1 == "/" and "" or v1), "memory.limit_in_bytes"
  end
  local v2 = lines:match("0::([^\n]*)")
  if v2 then
    local base = "/sys/fs/cgroup" .. (v2 == "/" and "" or v2)
    local sub = read(base .. "/cgroup.subtree_control")
    if sub and not sub:find("memory") then
      local f = io.open(base .. "/cgroup.subtree_control", "w")
      if f then f:write("+memory"); f:close() end
      sub = read(base .. "/cgroup.subtree_control")
    end
    if sub and sub:find("memory") then return base, "memory.max" end
  end
  return nil, "no memory cgroup we can nest in"
end

local function skip(why)
  if check.failed > 0 then check.done() end
  io.stderr:write("memlimit: cgroup part skipped: ", why, "\n")
  print(string.format("%d passed, %d failed (cgroup part skipped)", check.passed, check.failed))
  os.exit(77)
end

local base, limit_file = cgroup_base()
if not base then skip(limit_file) end
local cg = base .. "/tide-test-" .. check.pid()
if not os.execute("mkdir " .. q(cg) .. " 2>/dev/null") then skip("cannot create " .. cg) end

-- From here on the cgroup exists: every path removes it.
local function remove_cgroup()
  for _ = 1, 50 do
    if os.execute("rmdir " .. q(cg) .. " 2>/dev/null") then return true end
    tide.sleep(0.1) -- the child's exit may still be settling
  end
  io.stderr:write("memlimit: could not remove ", cg, "\n")
  return false
end

local function in_cgroup()
  local f = io.open(cg .. "/" .. limit_file, "w")
  if not f then return "cannot open " .. limit_file end
  f:write(tostring(2 << 30))
  if not f:close() then return "cannot set " .. limit_file end
  local script = os.tmpname()
  local sf = assert(io.open(script, "w"))
  sf:write([[
print("available", tide.memory_available())
local ok, e = pcall(tide.zeros, 1e9)                -- 8 GB
print("big", ok, e)
ok, e = pcall(tide.zeros, 1e9, {shared = false})
print("heap", ok, e)
local r = tide.collect(function()
  local good, err = pcall(tide.zeros, 1e9)
  return good and "made" or tostring(err)
end, 2, {jobs = 2})
print("worker", r[1])
local y = tide.zeros(100 * 1000 * 1000 // 8)        -- 100 MB
y:add_(1)
print("modest", y:sum() == #y, y.storage)
]])
  sf:close()
  local cmd = "sh -c " .. q('echo $$ > "$1/cgroup.procs" && exec "$2" "$3"') .. " sh " ..
              q(cg) .. " " .. q(bin) .. " " .. q(script) .. " 2>&1"
  local p = io.popen(cmd)
  local out = p:read("a")
  local okc, how, code = p:close()
  os.remove(script)
  check.truthy(okc and how == "exit" and code == 0,
               string.format("the child exited normally (%s %s): %s", how, code, out))
  local left = tonumber(out:match("available%s(%d+)"))
  check.truthy(left and left <= (2 << 30), "the child sees at most 2 GiB: " .. tostring(left))
  local big = out:match("big%s([^\n]*)") or ""
  check.truthy(big:find("false", 1, true) and
               big:find("cannot allocate 8.0 GB for a shared array: ", 1, true) and
               big:find("GB available", 1, true) and
               big:find("memory cgroup limit 2.1 GB", 1, true), "8 GB refused: " .. out)
  local size = tonumber(big:match("shared array: ([%d.]+) GB available"))
  check.truthy(size and size <= 2.2, "names what the cgroup leaves: " .. big)
  check.truthy((out:match("heap%s([^\n]*)") or ""):find("cannot allocate 8.0 GB for an array", 1, true),
               "heap refused: " .. out)
  check.truthy((out:match("worker%s([^\n]*)") or ""):find("cannot allocate 8.0 GB", 1, true),
               "a worker refused: " .. out)
  check.eq(out:match("modest%s([^\n]*)"), "true\tshared", "100 MB still works: " .. out)
end

local good, err = pcall(in_cgroup)
check.truthy(remove_cgroup(), "the cgroup is removed")
if not good then error(err, 0) end
check.done()
