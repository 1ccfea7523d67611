-- cli.lua: the tide program from the outside (TIDE_BIN): options, `arg`,
-- exit status and tracebacks, odd error objects, binary chunks, -j and
-- TIDE_JOBS, stdin scripts, piped prompts, LUA_INIT, Ctrl-C in a script.
local check = require "check"

local bin = os.getenv("TIDE_BIN")
if not bin then
  print("TIDE_BIN is not set: skipped")
  os.exit(77)
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local tmpfiles = {}
local function tmpfile(content, mode)
  local path = os.tmpname()
  local f = assert(io.open(path, mode or "w"))
  f:write(content)
  f:close()
  tmpfiles[#tmpfiles + 1] = path
  return path
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a shell command line; returns stdout, stderr, exit code.  Every run
-- is under `timeout` so that a broken build cannot hang the test.
local errpath = os.tmpname()
tmpfiles[#tmpfiles + 1] = errpath
local function run(cmdline, env)
  local p = io.popen((env or "") .. " timeout 60 " .. cmdline .. " 2>" .. q(errpath))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, slurp(errpath), code
end
local function tide(args, env) return run(q(bin) .. " " .. args, env) end

-- -v
local out, err, code = tide("-v")
check.eq(code, 0, "-v status")
check.truthy(out:match("^tide 0%.1%.0 %(Lua 5%.4%.%d+, OpenBLAS [%d.]+%)\n" ..
                       "Lua 5%.4%.%d+  Copyright %(C%) 1994%-20%d%d Lua%.org, PUC%-Rio\n$"), "-v: " .. out)

-- -e, several in order, and -l (plain, g=mod, and the -v2 suffix rule)
out, err, code = tide("-e " .. q("x = 40") .. " -e " .. q("print(x + 1 + 1)"))
check.eq(out, "42\n", "-e twice")
check.eq(code, 0, "-e status")
out = tide("-l string -e " .. q("print(string.upper('abc'))"))
check.eq(out, "ABC\n", "-l string")
out = tide("-l s=string -e " .. q("print(s.rep('ab', 2))"))
check.eq(out, "abab\n", "-l g=mod")
out = tide("-lcheck -e " .. q("print(type(check.eq))"))
check.eq(out, "function\n", "-lcheck (attached) from LUA_PATH")
out, err, code = tide("-l no_such_module_xyz")
check.eq(code, 1, "-l missing status")
check.truthy(err:find("module 'no_such_module_xyz' not found", 1, true), "-l missing: " .. err)
-- tide is preloaded
out = tide("-e " .. q("print(type(tide), tide.version)"))
check.eq(out, "table\t0.1.0\n", "tide global")

-- arg and ... exactly as stock lua sets them
local script = tmpfile([[
local n = select('#', ...)
io.write(n, "|", table.concat({...}, ","), "|")
for i = -3, #arg do io.write(i, "=", tostring(arg[i]), ";") end
io.write("\n")
]])
out, err, code = tide("-e " .. q("y=1") .. " " .. q(script) .. " a 'b c' -e")
check.eq(code, 0, "script status")
check.eq(out, "3|a,b c,-e|-3=" .. bin .. ";-2=-e;-1=y=1;0=" .. script ..
         ";1=a;2=b c;3=-e;\n", "arg with options")
out = tide(q(script))
check.eq(out, "0||-3=nil;-2=nil;-1=" .. bin .. ";0=" .. script .. ";\n", "arg, no options")
-- -- ends the options; what follows is the script even if it starts with -
out = tide("-- " .. q(script) .. " -v")
check.eq(out, "1|-v|-3=nil;-2=" .. bin .. ";-1=--;0=" .. script .. ";1=-v;\n", "arg after --")
-- without a script, the program is arg[0] and the options follow it
out = tide("-e " .. q("print(arg[0] == " .. string.format("%q", bin) .. ", arg[1], arg[2])"))
check.eq(out, "true\t-e\tprint(arg[0] == " .. string.format("%q", bin) .. ", arg[1], arg[2])\n",
         "arg without script")

-- "-" is stdin, with arguments
out, err, code = run("echo " .. q("print(arg[0], ...)") .. " | " .. q(bin) .. " - p q")
check.eq(out, "-\tp\tq\n", "stdin script")
check.eq(code, 0, "stdin script status")
-- piped stdin with no script runs it as a script (no prompts)
out = run("printf " .. q("x = 5\\nprint(x * 2)\\n") .. " | " .. q(bin))
check.eq(out, "10\n", "piped script")

-- uncaught errors: status 1, "<program as invoked>: msg" and a traceback on stderr
local bad = tmpfile("local function inner() error('kaput') end\ninner()\n")
out, err, code = tide(q(bad))
check.eq(code, 1, "error status")
check.eq(out, "", "error stdout")
check.truthy(err:find(bin .. ": ", 1, true) == 1 and err:find(":1: kaput\n", 1, true), "error message: " .. err)
check.truthy(err:find("stack traceback:", 1, true), "traceback: " .. err)
check.truthy(err:find("in function 'inner'", 1, true) or err:find("in local 'inner'", 1, true)
             or err:find("inner", 1, true), "traceback names inner: " .. err)
out, err, code = tide("-e " .. q("error('from -e')"))
check.eq(code, 1, "-e error status")
check.truthy(err:find(bin .. ": (command line):1: from -e", 1, true), "-e error: " .. err)
out, err, code = tide("-e " .. q("x = = 1"))
check.eq(code, 1, "syntax error status")
check.truthy(err:find("unexpected symbol", 1, true), "syntax error: " .. err)
out, err, code = tide(q("/nonexistent/dir/script.lua"))
check.eq(code, 1, "missing script status")
check.truthy(err:find("cannot open /nonexistent/dir/script.lua", 1, true), "missing: " .. err)
-- the script's own exit status passes through
out, err, code = tide("-e " .. q("os.exit(3)"))
check.eq(code, 3, "os.exit(3)")
-- an error stops later options and the script
out, err, code = tide("-e " .. q("error('first')") .. " -e " .. q("print('second')"))
check.eq(out, "", "nothing after an error")

-- odd error objects: described, never a crash (status 1, not a signal); one
-- that describes itself (__tostring) prints that alone, as lua.c
for _, case in ipairs {
  {"error(nil)", "nil value", true},
  {"error({})", "table value", true},
  {"error(setmetatable({}, {__tostring = function() return 'custom!' end}))", "custom!", false},
  {"error(setmetatable({}, {__tostring = function() error('x') end}))", "__tostring failed", true},
  {"error(io.stdout)", "file (", false},
  {"error(tide.zeros(2))", "tide.array", false},
} do
  out, err, code = tide("-e " .. q(case[1]))
  check.eq(code, 1, case[1] .. " status")
  check.truthy(err:find(case[2], 1, true), case[1] .. ": " .. err)
  check.eq(err:find("stack traceback:", 1, true) ~= nil, case[3], case[1] .. " traceback")
end

-- binary chunks are refused: script, -e, stdin, and at the prompt
local dumped = string.dump(function() print("ran binary") end)
local binpath = tmpfile(dumped, "wb")
out, err, code = tide(q(binpath))
check.eq(code, 1, "binary script status")
check.eq(out, "", "binary script did not run")
check.truthy(err:find("binary chunk", 1, true), "binary script: " .. err)
out, err, code = tide("-e \"$(printf '\\033Lua')\"")
check.eq(code, 1, "binary -e status")
check.truthy(err:find("binary chunk", 1, true), "binary -e: " .. err)
out, err, code = run(q(bin) .. " - < " .. q(binpath))
check.eq(code, 1, "binary stdin status")
check.truthy(err:find("binary chunk", 1, true), "binary stdin: " .. err)
out, err, code = run("printf '\\033Lua\\n' | " .. q(bin) .. " -i")
check.truthy(err:find("binary chunk", 1, true), "binary at prompt: " .. err)

-- -j and TIDE_JOBS set tide.config.jobs (-j wins)
local pj = " -e " .. q("print(tide.config.jobs)")
check.eq(tide("-j 3" .. pj), "3\n", "-j 3")
check.eq(tide("-j2" .. pj), "2\n", "-j2")
check.eq(tide(pj:sub(2), "TIDE_JOBS=5"), "5\n", "TIDE_JOBS")
check.eq(tide("-j 3" .. pj, "TIDE_JOBS=5"), "3\n", "-j over TIDE_JOBS")
local cpus = tonumber((tide("-e " .. q("print(tide.config.cpus)"))))
check.eq(tide("-j -1" .. pj), tostring(cpus) .. "\n", "-j -1: all CPUs")
out, err, code = tide("-j abc" .. pj)
check.eq(code, 1, "-j abc status")
check.truthy(err:find("'abc' is not a worker count", 1, true), "-j abc: " .. err)
check.eq(tide("-j 0" .. pj), tostring(cpus) .. "\n", "-j 0: all CPUs, as jobs = 0 in tide_Options")
check.eq(tide(pj:sub(2), "TIDE_JOBS=0"), tostring(cpus) .. "\n", "TIDE_JOBS=0: all CPUs")
out, err, code = tide("-j -100000" .. pj)
check.eq(code, 1, "-j -100000 status")
check.truthy(err:find("bad worker count '-100000'", 1, true), "-j -100000: " .. err)
out, err, code = tide(pj:sub(2), "TIDE_JOBS=many")
check.eq(code, 1, "bad TIDE_JOBS status")
check.truthy(err:find("TIDE_JOBS: 'many'", 1, true), "bad TIDE_JOBS: " .. err)

-- -W turns warnings on
out, err = tide("-W -e " .. q("warn('careful')"))
check.truthy(err:find("Lua warning: careful", 1, true), "-W: " .. err)
out, err = tide("-e " .. q("warn('quiet')"))
check.eq(err, "", "warnings off by default")

-- bad options: usage and status 1
out, err, code = tide("-x")
check.eq(code, 1, "-x status")
check.truthy(err:find("unrecognized option '-x'", 1, true) and err:find("usage:", 1, true),
             "-x: " .. err)
out, err, code = tide("-e")
check.eq(code, 1, "-e without argument")
check.truthy(err:find("'-e' needs argument", 1, true), "-e: " .. err)
out, err, code = tide("-h")
check.eq(code, 0, "-h status")
check.truthy(out:find("usage: " .. bin, 1, true), "-h usage")

-- the prompt with piped input: values printed, state kept, errors reported;
-- -i prints the banner, and each prompt with its line echoed, as lua5.4 does
-- (cli_lua.lua compares the two side by side)
local function session(text) return (text:gsub("^tide [^\n]*\nLua [^\n]*\n", "")) end
out, err, code = run("echo '1+1' | " .. q(bin) .. " -i")
check.eq(session(out), "> 1+1\n2\n> \n", "echo 1+1 | tide -i")
check.eq(code, 0, "piped prompt status")
out, err = run("printf " .. q("x = 21\\nx * 2\\nerror('oops')\\n'a', nil, 3\\n" ..
                                 "for i = 1, 2 do\\nprint(i)\\nend\\nlocal t = {\\n1}\\n") ..
               " | " .. q(bin) .. " -i")
check.eq(session(out), "> x = 21\n> x * 2\n42\n> error('oops')\n> 'a', nil, 3\na\tnil\t3\n" ..
         "> for i = 1, 2 do\n>> print(i)\n>> end\n1\n2\n> local t = {\n>> 1}\n> \n", "piped prompt session")
check.truthy(err:find("oops", 1, true) == 1 or err:find("stdin:1: oops", 1, true), "piped prompt error: " .. err)
out = run("echo 'tide.zeros(2)' | " .. q(bin) .. " -i")
check.truthy(out:find("tide.array", 1, true), "array printed: " .. out)
out, err = run("printf 'for i = 1, 2 do\\n' | " .. q(bin) .. " -i")
check.truthy(err:find("<eof>", 1, true), "unfinished statement at end: " .. err)
out = run("echo '_PROMPT = \"PR>\"; print(1)' | " .. q(bin) .. " -i")
check.eq(session(out), "> _PROMPT = \"PR>\"; print(1)\n1\nPR>\n", "_PROMPT on a pipe")
-- -i after a script keeps its globals
local setter = tmpfile("z = 7\n")
out = run("echo 'z * 6' | " .. q(bin) .. " -i " .. q(setter))
check.eq(session(out), "> z * 6\n42\n> \n", "-i after script")

-- LUA_INIT_5_4 and LUA_INIT
check.eq(tide("-e " .. q("print(w)"), "LUA_INIT=" .. q("w = 'init'")), "init\n", "LUA_INIT")
check.eq(tide("-e " .. q("print(w)"), "LUA_INIT=" .. q("w = 1") .. " LUA_INIT_5_4=" ..
              q("w = 'v54'")), "v54\n", "LUA_INIT_5_4 first")
local initfile = tmpfile("w = 'from file'\n")
check.eq(tide("-e " .. q("print(w)"), "LUA_INIT=" .. q("@" .. initfile)), "from file\n",
         "LUA_INIT=@file")

-- SIGINT while a script runs: "interrupted!", reported as uncaught.  The
-- script writes its own pid (from /proc/self/stat) once it is running.
local ready = os.tmpname()
os.remove(ready)
local loop = tmpfile([[
local pid = io.open("/proc/self/stat"):read("n")
local f = io.open(arg[1] .. ".tmp", "w") f:write(pid, "\n") f:close()
os.rename(arg[1] .. ".tmp", arg[1])
while true do end
]])
local rcfile = os.tmpname()
tmpfiles[#tmpfiles + 1] = rcfile
os.remove(rcfile)
os.execute("(timeout 60 " .. q(bin) .. " " .. q(loop) .. " " .. q(ready) .. " 2>" ..
           q(errpath) .. "; echo $? > " .. q(rcfile) .. ".tmp; mv " .. q(rcfile) .. ".tmp " ..
           q(rcfile) .. ") &")
local waited = 0
while slurp(ready) == "" and waited < 200 do
  os.execute("sleep 0.05")
  waited = waited + 1
end
local pid = tonumber(slurp(ready))
check.truthy(pid, "looping script started")
if pid then os.execute("kill -INT " .. pid) end
waited = 0
while slurp(rcfile) == "" and waited < 200 do
  os.execute("sleep 0.05")
  waited = waited + 1
end
check.eq(slurp(rcfile), "1\n", "interrupted script status")
check.truthy(slurp(errpath):find("interrupted!", 1, true), "interrupted: " .. slurp(errpath))
os.remove(ready)

for _, p in ipairs(tmpfiles) do os.remove(p) end
check.done()
