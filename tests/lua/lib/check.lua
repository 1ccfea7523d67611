-- check.lua: assertions for tide's Lua tests.  Each failure is reported with
-- both values and the caller's line; check.done() prints "N passed, N failed"
-- and exits non-zero on any failure.
local check = {passed = 0, failed = 0}

local function where()
  local info = debug.getinfo(3, "Sl")
  return info.short_src .. ":" .. info.currentline
end

local function ok(cond, msg)
  if cond then
    check.passed = check.passed + 1
  else
    check.failed = check.failed + 1
    io.stderr:write(where(), ": ", msg, "\n")
  end
  return cond
end

function check.truthy(v, what)
  return ok(v, (what or "value") .. " is " .. tostring(v))
end

function check.eq(a, b, what)
  return ok(a == b, string.format("%s: %s ~= %s", what or "eq", tostring(a), tostring(b)))
end

function check.near(a, b, tol, what)
  tol = tol or 1e-12
  return ok(type(a) == "number" and math.abs(a - b) <= tol * (1 + math.abs(b)),
            string.format("%s: %.17g not near %.17g", what or "near", a, b))
end

-- check.errors(fn, pattern): fn must raise an error whose message contains
-- pattern (a plain substring).
function check.errors(fn, pattern, what)
  local good, err = pcall(fn)
  if good then return ok(false, (what or "call") .. " did not raise") end
  err = tostring(err)
  return ok(err:find(pattern, 1, true) ~= nil,
            string.format("%s: error %q does not contain %q", what or "error", err, pattern))
end

-- Same values, elementwise, for a tide array against a nested table.
function check.array(a, t, tol, what)
  local function cmp(x, y, path)
    if type(y) == "table" then
      if #x ~= #y then return false, path .. " length " .. #x .. " ~= " .. #y end
      for i = 1, #y do
        local good, msg = cmp(x[i], y[i], path .. "[" .. i .. "]")
        if not good then return false, msg end
      end
      return true
    end
    if tol and type(y) == "number" then
      if math.abs(x - y) <= tol * (1 + math.abs(y)) then return true end
    elseif x == y then
      return true
    end
    return false, string.format("%s: %s ~= %s", path, tostring(x), tostring(y))
  end
  local good, msg = cmp(a, t, "a")
  return ok(good, (what or "array") .. ": " .. tostring(msg))
end

-- Peak resident memory added by fn() in MB (VmHWM after a reset through
-- /proc/self/clear_refs, against VmRSS before), and fn's first result; nil
-- when the kernel does not allow the reset.
function check.peak_growth_mb(fn)
  local function status(key)
    local f = io.open("/proc/self/status")
    if not f then return nil end
    local st = f:read("a"); f:close()
    return tonumber(st:match(key .. ":%s*(%d+) kB"))
  end
  local cr = io.open("/proc/self/clear_refs", "w")
  if not (cr and status("VmHWM")) then
    if cr then cr:close() end
    return nil
  end
  collectgarbage(); collectgarbage()
  cr:write("5"); cr:close()
  local before = status("VmRSS")
  local r = fn()
  return (status("VmHWM") - before) / 1024, r
end

function check.done()
  print(string.format("%d passed, %d failed", check.passed, check.failed))
  os.exit(check.failed == 0 and 0 or 1)
end

-- Lists this process's shared segments: /proc/self/fd entries that are
-- memfds or tide files.  Used to prove segments are freed.
function check.pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return pid
end

-- How many child processes this process has now (the shell that lists
-- them, itself a child, not counted).
function check.children()
  local me, n = check.pid(), 0
  local p = io.popen("grep -l '^[0-9]* ([^)]*) [A-Z] " .. me .. " ' /proc/[0-9]*/stat 2>/dev/null")
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n - 1
end

-- tide's names in /dev/shm now, as a set (the fault tests' folders,
-- tide-faults-*, are another test's)
function check.shm()
  local p = io.popen("ls /dev/shm 2>/dev/null")
  local t = {}
  for n in p:lines() do if n:match("^tide") and not n:match("^tide%-faults") then t[n] = true end end
  p:close()
  return t
end

function check.shm_fds(pid)
  local n = 0
  local p = io.popen("ls -l /proc/" .. (pid or check.pid()) .. "/fd 2>/dev/null")
  for line in p:lines() do
    -- array segments; not the loops' spill files ("memfd:tide-spill")
    if (line:find("memfd:tide", 1, true) and not line:find("memfd:tide-spill", 1, true))
       or line:find("/tide%-") then n = n + 1 end
  end
  p:close()
  return n
end

return check
