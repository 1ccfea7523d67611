-- cli_tmux.lua: the prompt in a real terminal, as a user types at it: tmux
-- runs tide in a detached session, send-keys types, capture-pane reads the
-- screen.  Checks ~/.tiderc at the start, tables printed as their contents,
-- tide.config, and Tab completing modules that load on first use before
-- they are loaded.  Skipped (77) when tmux is not installed.  Every wait
-- polls the screen with a generous limit, so a loaded machine only slows
-- it down.
local check = require "check"

local bin = os.getenv("TIDE_BIN")
if not bin then
  print("TIDE_BIN is not set: skipped")
  os.exit(77)
end
if os.execute("command -v tmux >/dev/null 2>&1") ~= true then
  print("tmux is not installed: skipped")
  os.exit(77)
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. q(dir)))
local f = assert(io.open(dir .. "/.tiderc", "w"))
f:write("greeting = 'hello from tiderc'\n")
f:close()

-- a server of our own (its socket named after this process), no config
local pid = io.open("/proc/self/stat"):read("n")
local tmux = "tmux -L tide-test-" .. pid .. " -f /dev/null "
local function sh(cmd)
  local p = io.popen(tmux .. cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local function screen() return sh("capture-pane -p -t t") end

-- Waits until the screen shows text (plain); returns the screen.
local function wait_for(text, what)
  local s
  for _ = 1, 600 do
    s = screen()
    if s:find(text, 1, true) then return s end
    os.execute("sleep 0.1")
  end
  check.truthy(false, what .. ": '" .. text .. "' never showed; the screen:\n" .. s:gsub("\n+$", ""))
  return s
end

-- keys: literal text (send-keys -l), then the named keys after it
local function type_text(text, ...)
  sh("send-keys -t t -l " .. q(text))
  for _, k in ipairs({...}) do sh("send-keys -t t " .. k) end
end

sh("new-session -d -s t -x 100 -y 40 " ..
   q("exec env HOME=" .. q(dir) .. " TERM=screen " .. q(bin) .. " -j 2"))
wait_for("\n>", "the prompt") -- (capture-pane drops the space after it)

type_text("greeting", "Enter")
wait_for("hello from tiderc", "~/.tiderc ran")

type_text("t = {b = {1, 2}, a = 'x', 10}", "Enter")
type_text("t", "Enter")
wait_for('{10, a = "x", b = {1, 2}}', "a table printed as its contents")

type_text("tide.config", "Enter")
local s = wait_for("jobs = 2", "tide.config printed")
check.truthy(s:find("cpus = ", 1, true), "tide.config shows cpus")

-- Tab on a module loaded on first use, before it is loaded
type_text("tide.ensem", "Tab")
wait_for("> tide.ensemble", "tide.ensem<Tab>")
sh("send-keys -t t C-u")
type_text("print('ensemble loaded: ' .. tostring(package.loaded['tide.ensemble'] ~= nil))", "Enter")
wait_for("ensemble loaded: false", "completion did not load the module")
-- and a field of one, which loads it as the code would
type_text("tide.cv.kf", "Tab")
wait_for("> tide.cv.kfold", "tide.cv.kf<Tab>")
sh("send-keys -t t C-u")

type_text("os.exit(0)", "Enter")
for _ = 1, 300 do
  if not sh("list-sessions"):find("^t:") then break end
  os.execute("sleep 0.1")
end
sh("kill-server")
os.execute("rm -rf " .. q(dir))
check.done()
