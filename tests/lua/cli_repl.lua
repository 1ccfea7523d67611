-- cli_repl.lua: the prompt and the program, from the outside (TIDE_BIN),
-- with piped input: tables printed as their contents, tide.config shown,
-- --version, -i keeping a script's locals, TIDE_INIT against LUA_INIT,
-- ~/.tiderc, TIDE_PATH / LUA_PATH overriding the built-in modules, the
-- completion list of modules loaded on first use, the box plot's key.
-- The same prompt in a real terminal is tests/lua/cli_tmux.lua.
local check = require "check"

local bin = os.getenv("TIDE_BIN")
if not bin then
  print("TIDE_BIN is not set: skipped")
  os.exit(77)
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. q(dir)))
local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end
local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs the program with args (and env assignments first); stdout, stderr,
-- exit status.  HOME is the scratch folder unless env sets it.
local function run(args, env, stdin)
  local errpath = dir .. "/stderr"
  local cmd = "env HOME=" .. q(dir) .. " " .. (env or "") .. " timeout 120 " .. q(bin) .. " " ..
              args .. " 2>" .. q(errpath)
  if stdin then cmd = "printf '%s' " .. q(stdin) .. " | " .. cmd end
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  return out, slurp(errpath), code
end

-- A piped session: the banner dropped, each line echoed after its prompt.
local function session(lines, env, args)
  local out, err = run("-i " .. (args or ""), env, lines)
  return (out:gsub("^tide [^\n]*\nLua [^\n]*\n", "")), err
end

-- 1. values at the prompt
local out = session("{1, 2, 3}\n{b = 2, a = 1, 10, [5] = 'x', [1.5] = true}\n")
check.eq(out, "> {1, 2, 3}\n{1, 2, 3}\n" ..
         "> {b = 2, a = 1, 10, [5] = 'x', [1.5] = true}\n" ..
         '{10, [1.5] = true, [5] = "x", a = 1, b = 2}\n> \n', "tables printed sorted")
out = session("t = {name = 'a\\nb', list = {1, {2, {3, {4, {5}}}}}, ['not a name'] = {}}\nt\n")
check.eq(out:match("> t\n(.-)\n> \n$"),
         '{list = {1, {2, {3, {...}}}}, name = "a\\nb", ["not a name"] = {}}',
         "nested, depth limit 4, keys that are not names quoted")
out = session("c = {x = 1}; c.self = c\nc\nshared = {1}\n{shared, shared}\n")
check.truthy(out:find("\n<1>{self = <table 1>, x = 1}\n", 1, true), "a cycle is marked: " .. out)
check.truthy(out:find("\n{<1>{1}, <table 1>}\n", 1, true), "a shared table is marked: " .. out)
out = session("big = {}; for i = 1, 60 do big[i] = i end\nbig\n")
check.truthy(out:find("... (10 more)", 1, true), "60 items: 50 shown: " .. out)
check.truthy(out:find("\n{\n  1, 2, 3,", 1, true), "a long list packed on lines: " .. out)
-- an array inside a table is shown by its own __tostring
out = session("{x = tide.array({1, 2})}\n")
check.truthy(out:find("\n{\n  x = [1 2]\n  [tide.array 2 i64 heap],\n}\n", 1, true),
             "an array in a table, its lines indented: " .. out)
-- a __tostring wins, strings and other values as print shows them
out = session("setmetatable({}, {__tostring = function() return 'obj' end})\n'plain', 1, nil\n")
check.truthy(out:find("\nobj\n", 1, true), "__tostring used: " .. out)
check.truthy(out:find("\nplain\t1\tnil\n", 1, true), "top-level string unquoted: " .. out)
-- a raising __pairs leaves the table to print's tostring
out = session("setmetatable({}, {__pairs = function() error('no') end})\n")
check.truthy(out:find("\ntable: 0x", 1, true), "raising __pairs: " .. out)
-- a replaced print still gets the formatted text
out = session("print = function(...) io.write('P:', ..., '\\n') end\n{1}\n")
check.truthy(out:find("\nP:{1}\n", 1, true), "replaced print: " .. out)
-- tide.config readably
out = session("tide.config\n", nil, "-j 2")
check.truthy(out:find("jobs = 2", 1, true) and out:find("cpus = ", 1, true) and
             out:find("share_bytes = ", 1, true), "tide.config shown: " .. out)

-- 2. --version is -v
local v1, _, c1 = run("-v")
local v2, _, c2 = run("--version")
check.eq(v2, v1, "--version prints what -v prints")
check.truthy(v2:find("^tide %d"), "--version: " .. v2)
check.eq(c2, 0, "--version status")
check.eq(run("--version -e 'print(1)'"):match("\n1\n$"), "\n1\n", "--version, then -e")
local _, err, code = run("--versions")
check.eq(code, 1, "--versions is unknown")
check.truthy(err:find("unrecognized option '--versions'", 1, true), "--versions: " .. err)

-- 3. -i after a script: its locals at its end become globals
local script = write("locals.lua", [[
shadowed = "global"
local shadowed = "local"
local n, t = 6, {k = "v"}
local function twice(x) return 2 * x end
do local hidden = 1 end
local n = n + 1     -- the later n is the one in scope
return "done"
]])
out = session("n * 6, t.k, twice(4), shadowed, hidden\n", nil, q(script))
check.eq(out, "> n * 6, t.k, twice(4), shadowed, hidden\n42\tv\t8\tlocal\tnil\n> \n",
         "-i keeps the script's locals")
out = session("n\n", nil, q(write("err.lua", "local n = 1\nerror('boom')\n")))
check.eq(out, "", "a failing script: no prompt (as lua -i)")
out = session("x\n", nil, q(write("tail.lua", "local x = 5\nreturn tostring(x)\n")))
check.eq(out, "> x\n5\n> \n", "a tail call of a C function keeps the locals")
out = session("y\n", nil, q(write("tail2.lua", "local y = 5\nlocal function f() return 1 end\nreturn f()\n")))
check.eq(out, "> y\nnil\n> \n", "a tail call of a Lua function replaces the chunk's frame")
out = session("z\n", nil, q(write("hook.lua", "local z = 3\n")) .. " a1")
check.eq(out, "> z\n3\n> \n", "script with arguments")
out = session("q1, rets > 0, select(2, debug.gethook())\n",
              "LUA_INIT=" .. q("rets = 0 debug.sethook(function() rets = rets + 1 end, 'r')"),
              q(write("hooked.lua", "local q1 = 1\nlocal function f() end f()\n")))
check.eq(out, "> q1, rets > 0, select(2, debug.gethook())\n1\ttrue\tr\t0\n> \n",
         "a hook set before the script still runs, and is put back")

-- 4. TIDE_INIT, then LUA_INIT_5_4, then LUA_INIT: the first set one runs
local pw = "-e " .. q("print(w)")
check.eq(run(pw, "TIDE_INIT=" .. q("w = 'tide'") .. " LUA_INIT_5_4=" .. q("w = 54") ..
             " LUA_INIT=" .. q("w = 1")), "tide\n", "TIDE_INIT first")
check.eq(run(pw, "TIDE_INIT= LUA_INIT=" .. q("w = 1")), "nil\n", "an empty TIDE_INIT hides LUA_INIT")
check.eq(run(pw, "TIDE_INIT=" .. q("@" .. write("init.lua", "w = 'file'\n"))), "file\n",
         "TIDE_INIT=@file")
check.eq(run("-E " .. pw, "TIDE_INIT=" .. q("w = 'tide'")), "nil\n", "-E ignores TIDE_INIT")
out, err, code = run(pw, "TIDE_INIT=" .. q("error('bad init')"))
check.eq(code, 1, "a failing TIDE_INIT stops the program")
check.truthy(err:find("TIDE_INIT:1: bad init", 1, true), "TIDE_INIT error: " .. err)

-- 5. ~/.tiderc at the start of the prompt only
write(".tiderc", "rc = (rc or 0) + 1\n")
check.eq(session("rc\n"), "> rc\n1\n> \n", "~/.tiderc ran once before the prompt")
check.eq(run("-e 'print(rc)'"), "nil\n", "~/.tiderc not run without a prompt")
check.eq(session("rc\n", nil, "-E"), "> rc\nnil\n> \n", "-E skips ~/.tiderc")
out = session("rc2\n", nil, q(write("setrc.lua", "rc2 = rc\n")))
check.eq(out, "> rc2\nnil\n> \n", "~/.tiderc runs after the script, as the prompt starts")
write(".tiderc", "error('rc broke')\n")
out, err = session("1 + 1\n")
check.eq(out, "> 1 + 1\n2\n> \n", "a failing ~/.tiderc: the prompt still starts")
check.truthy(err:find("rc broke", 1, true), "~/.tiderc error reported: " .. err)
os.remove(dir .. "/.tiderc")

-- 6. TIDE_PATH / LUA_PATH: a file wins over the built-in module
assert(os.execute("mkdir -p " .. q(dir .. "/over/tide")))
write("over/tide/grid.lua", "local name, file = ...\nreturn {patched = true, name = name, file = file}\n")
local pg = "-e " .. q("local g = require 'tide.grid' print(g.patched, g.name, g.file == nil, " ..
                       "tide.grid == g)")
local tp = q(dir .. "/over/?.lua")
check.eq(run(pg, "TIDE_PATH=" .. tp), "true\ttide.grid\tfalse\ttrue\n", "TIDE_PATH overrides")
check.eq(run(pg, "LUA_PATH=" .. q(dir .. "/over/?.lua;;")), "true\ttide.grid\tfalse\ttrue\n",
         "LUA_PATH overrides")
check.eq(run(pg, "LUA_PATH_5_4=" .. tp .. " LUA_PATH=/nowhere/?.lua"),
         "true\ttide.grid\tfalse\ttrue\n", "LUA_PATH_5_4 before LUA_PATH")
check.eq(run(pg, "TIDE_PATH= LUA_PATH=" .. tp), "nil\tnil\ttrue\ttrue\n", "empty TIDE_PATH: built-in")
check.eq(run(pg, "TIDE_PATH=/nowhere/?.lua LUA_PATH=" .. tp), "nil\tnil\ttrue\ttrue\n",
         "TIDE_PATH replaces LUA_PATH for the override")
check.eq(run("-E " .. pg, "TIDE_PATH=" .. tp), "nil\tnil\ttrue\ttrue\n", "-E: built-in")
check.eq(run(pg), "nil\tnil\ttrue\ttrue\n", "nothing set: built-in")
-- package.path stays what stock Lua makes of LUA_PATH
check.eq(run("-e " .. q("print(package.path)"), "TIDE_PATH=/x/?.lua LUA_PATH=/y/?.lua"),
         "/y/?.lua\n", "package.path from LUA_PATH only")
write("over/tide/cv.lua", "return {\n")
out, err, code = run("-e " .. q("require 'tide.cv'"), "TIDE_PATH=" .. tp)
check.eq(code, 1, "a broken override fails")
check.truthy(err:find("error loading module 'tide.cv' from file", 1, true) and
             err:find("over/tide/cv.lua", 1, true), "broken override named: " .. err)

-- 7. completion: names supplied on first use are listed in __lazy
out = run("-e " .. q("local l = getmetatable(tide).__lazy table.sort(l) " ..
                      "print(table.concat(l, ' '), package.loaded['tide.models'])"))
check.eq(out, "cv dist ensemble grid models plot search\tnil\n", "tide's lazy names")

-- 8. the box plot's mean marker has a key
out = run("-e " .. q("local plot = require 'tide.plot' " ..
                      "local g = {{name = 'a', values = {1, 2, 3}}} " ..
                      "io.write(plot.boxes{groups = g, mean = true}, '\\0', plot.boxes{groups = g})"))
local with, without = out:match("^(.-)%z(.*)$")
check.truthy(with and with:find(">mean</text>", 1, true), "key with mean = true")
check.truthy(without and not without:find(">mean</text>", 1, true), "no key without the mean")
local _, diamonds = with:gsub('<path d="M[^"]*l4 4l%-4 4l%-4 %-4z"', "")
check.eq(diamonds, 2, "one mean marker and its key")

os.execute("rm -rf " .. q(dir))
check.done()
