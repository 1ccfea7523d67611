-- stock_lua.lua: `require "tide"` from Debian's stock lua5.4 against the
-- build tree's tide.so, and the embedded Lua modules reachable from it.
local check = require "check"
local build = assert(os.getenv("TIDE_BUILD"))
if os.execute("command -v lua5.4 >/dev/null 2>&1") ~= true then
  print("lua5.4 not installed: skipped")
  os.exit(77)
end
if os.getenv("TIDE_SANITIZE") == "ON" then
  -- an ASan-instrumented tide.so cannot load into an uninstrumented lua5.4
  print("sanitizer build: skipped")
  os.exit(77)
end
local cmd = "cd / && LUA_CPATH='" .. build .. "/?.so' lua5.4 -e '" ..
  [[local tide = require "tide"; local a = tide.arange(1, 4); ]] ..
  [[print(tide.version, a:totable()[3], a.dtype, require("tide.util") ~= nil)]] .. "' 2>&1"
local p = io.popen(cmd)
local out = p:read("a")
local ok = p:close()
check.truthy(ok, "lua5.4 exited cleanly: " .. out)
check.truthy(out:find(tide.version .. "\t3\ti64\ttrue", 1, true), "output: " .. out)
check.done()
