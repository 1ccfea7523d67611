-- par_signals.lua: a script running a parallel loop is interrupted with
-- SIGINT (the loop cancels, workers are reaped, "interrupted!" is raised)
-- or killed with SIGKILL (its workers die with it); nothing is left behind.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"))

local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -m 700 " .. dir)
local script = dir .. "/loop.lua"
local f = assert(io.open(script, "w"))
f:write([[
tide.config.temp_dir = ... -- shared segments as unlinked files in this folder
local big = tide.zeros(1 << 20)
io.write(io.open("/proc/self/stat"):read("n"), "\n"); io.flush()
for i, r in tide.map(function(x) tide.sleep(0.2); return tide.full(1 << 18, x) end, 1000,
                     {jobs = 2}) do end
]])
f:close()

local function proc_alive(pid)
  local fh = io.open("/proc/" .. pid .. "/stat")
  if not fh then return false end
  local st = fh:read("a"); fh:close()
  return not st:match("^%d+ %b() [ZX]")
end

local function children_of(pid)
  local kids = {}
  local p = io.popen("grep -l '^[0-9]* ([^)]*) [A-Z] " .. pid .. " ' /proc/[0-9]*/stat 2>/dev/null")
  for path in p:lines() do kids[#kids + 1] = tonumber(path:match("/proc/(%d+)/")) end
  p:close()
  return kids
end

local function wait_until(cond, seconds)
  local t0 = tide.now()
  while tide.now() - t0 < seconds do
    if cond() then return true end
    tide.sleep(0.02)
  end
  return cond()
end

local function names(d)
  local n = 0
  local p = io.popen("ls -a " .. d)
  for name in p:lines() do if name:match("^tide%-") then n = n + 1 end end
  p:close()
  return n
end

for _, sig in ipairs{"INT", "KILL"} do
  local out = dir .. "/err-" .. sig
  local p = io.popen(bin .. " " .. script .. " " .. dir .. " 2>" .. out)
  local pid = tonumber(p:read("l"))
  check.truthy(pid, "script started")
  check.truthy(wait_until(function() return #children_of(pid) >= 2 end, 5), "workers running")
  tide.sleep(0.3)
  local kids = children_of(pid)
  local t0 = tide.now()
  os.execute("kill -" .. sig .. " " .. pid)
  local ok, how, code = p:close()
  check.truthy(tide.now() - t0 < 2, sig .. ": the script ended within 2 s")
  check.truthy(not ok, sig .. ": exit status says failure (" .. tostring(how) .. " " .. tostring(code) .. ")")
  check.truthy(wait_until(function()
    for _, k in ipairs(kids) do if proc_alive(k) then return false end end
    return true
  end, 2), sig .. ": every worker gone within 2 s")
  check.eq(names(dir), 0, sig .. ": no segment file left")
  if sig == "INT" then
    local e = io.open(out):read("a")
    check.truthy(e:find("interrupted!", 1, true), "SIGINT reported as interrupted!: " .. e)
  end
  os.remove(out)
end
os.remove(script); os.remove(dir)
check.done()
