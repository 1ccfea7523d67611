-- cli_lua.lua: the tide program as a drop-in `lua` (the Lua 5.4 manual,
-- section 7, "Lua Standalone").  Each case runs a shell command with PROG
-- standing for the program, under tide and, when installed, under
-- Debian's lua5.4, and compares stdout, stderr and the exit status.  The
-- program's own name in messages and tide's first banner line ("tide
-- 0.1.0 (...)", above Lua's own) are the only differences allowed.  Each
-- case also says what lua5.4 was seen to print, so the test means the same
-- without lua5.4.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")
local have_lua = os.execute("command -v lua5.4 >/dev/null 2>&1") == true

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end
local function slurp(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs cmd (PROG replaced by prog) in dir; stdout, stderr with prog's name
-- made "PROG", exit status.  tide's own banner line is dropped.
local function run(cmd, prog)
  local sh = cmd:gsub("PROG", (prog:gsub("%%", "%%%%")))
  local out, err = dir .. "/out", dir .. "/err"
  local _, _, code = os.execute("cd " .. q(dir) .. " && (" .. sh .. ") >" .. out .. " 2>" .. err)
  local o, e = slurp(out), slurp(err)
  o = o:gsub("^tide %d[^\n]*\n", ""):gsub("\ntide %d[^\n]*\n", "\n")
  local function plain(s) return (s:gsub("[%p]", "%%%0")) end
  e = e:gsub(plain(prog), "PROG")
  return o, e, code
end

local lua_version = _VERSION:match("%d+%.%d+")
local banner = "Lua " .. lua_version .. "%.%d+  Copyright %(C%) 1994%-20%d%d Lua%.org, PUC%-Rio\n"

-- case: {cmd, expected stdout (pattern when pat), stderr substring, status}
local function case(name, cmd, want)
  local o, e, code = run(cmd, bin)
  if want.out then
    if want.pat then check.truthy(o:match("^" .. want.out .. "$"), name .. ": stdout " .. o)
    else check.eq(o, want.out, name .. ": stdout") end
  end
  if want.err then check.truthy(e:find(want.err, 1, true), name .. ": stderr " .. e) end
  if want.noerr then check.eq(e, "", name .. ": nothing on stderr") end
  check.eq(code, want.code or 0, name .. ": exit status")
  if have_lua then
    local lo, le, lcode = run(cmd, "lua5.4")
    check.eq(o, lo, name .. ": stdout as lua5.4's")
    if not want.own_usage then check.eq(e, le, name .. ": stderr as lua5.4's") end
    check.eq(code, lcode, name .. ": exit status as lua5.4's")
  end
end

-- 1. -E ignores LUA_INIT*, LUA_PATH* and LUA_CPATH*
local env = "LUA_INIT='print(\"init\")' LUA_PATH_5_4='/nowhere/?.lua' LUA_CPATH='/nowhere/?.so' "
case("-E", env .. "PROG -E -e 'print(package.path:find(\"nowhere\"), package.cpath:find(\"nowhere\"))'",
     {out = "nil\tnil\n", noerr = true})
case("-E gives the defaults", "env -i PROG -e 'print(package.path, package.cpath)' > a.txt && " ..
     env .. "PROG -E -e 'print(package.path, package.cpath)' > b.txt && cmp a.txt b.txt && echo same",
     {out = "same\n"})
case("without -E", env .. "PROG -e 'print(package.path)'", {out = "init\n/nowhere/?.lua\n"})

-- 2. the script's arguments come from `arg` after -e and -l ran
case("arg changed by -e", "echo 'print(...)' | PROG -e 'arg[1] = 100' -", {out = "100\n"})
case("arg replaced by -e", "echo '' | PROG -e 'arg = 1' -",
     {out = "", err = "PROG: 'arg' is not a table", code = 1})
case("arg shortened", "echo 'print(select(\"#\", ...), ...)' | PROG -e 'arg[2] = nil' - a b c",
     {out = "3\ta\tnil\tc\n"}) -- #arg is a border, as lua's
write("args.lua", "print(arg[-1], arg[0], arg[1], arg[2], #arg, ...)\n")
case("arg and ...", "PROG -e 'x = 1' args.lua one two", {out = "x = 1\targs.lua\tone\ttwo\t2\tone\ttwo\n"})

-- 3. "=expr" at the prompt is "return expr"; 4. -i on a pipe: banner and prompts
case("=expr", "printf 'x = 1\\n=x\\n= x + 1, \"two\"\\n' | PROG -i",
     {out = banner .. "> x = 1\n> =x\n1\n> = x %+ 1, \"two\"\n2\ttwo\n> \n", pat = true})
write("session.txt", "x = 10\nfor i = 1, 2 do\nprint(i + x)\nend\n")
case("_PROMPT", "PROG -e \"_PROMPT='alo' _PROMPT2='more'\" -i < session.txt",
     {out = banner .. "alox = 10\nalofor i = 1, 2 do\nmoreprint%(i %+ x%)\nmoreend\n11\n12\nalo\n", pat = true})
case("_PROMPT with __tostring",
     "printf 'n = 0\\n_PROMPT = setmetatable({}, {__tostring = function() n = n + 1 return n .. \"> \" end})\\n1\\n2\\n' | PROG -i",
     {out = banner .. "> n = 0\n> _PROMPT = setmetatable%b()\n1> 1\n1\n2> 2\n2\n3> \n", pat = true})
case("an error at the prompt", "printf 'error(\"x\")\\nprint(1)\\n' | PROG -i",
     {out = banner .. "> error%(\"x\"%)\n> print%(1%)\n1\n> \n", pat = true, err = "stdin:1: x"})
case("a pipe without -i is a script", "printf 'print(1)\\n' | PROG", {out = "1\n", noerr = true})

-- 5. error objects print as lua.c prints them
case("__tostring error object",
     "PROG -e 'error(setmetatable({}, {__tostring = function() return \"custom\" end}))'",
     {out = "", code = 1})
local _, e = run("PROG -e 'error(setmetatable({}, {__tostring = function() return \"custom\" end}))'", bin)
check.eq(e, "PROG: custom\n", "__tostring error object: that string alone")
case("table error object", "PROG -e 'error({})'", {err = "PROG: (error object is a table value)\nstack traceback:", code = 1})
case("error in a script", "printf 'local function f() error(\"deep\") end\\nf()\\n' > e.lua && PROG e.lua",
     {err = "PROG: e.lua:1: deep\nstack traceback:", code = 1})
case("os.exit", "PROG -e 'os.exit(7)'", {code = 7})
case("os.exit(true)", "PROG -e 'os.exit(true, true)'", {code = 0})

-- 6. messages start with the program's name as invoked
local _, e2, c2 = run("PATH=" .. bin:match("^(.*)/[^/]*$") .. ":$PATH tide -e 'error(\"x\")'", bin)
check.truthy(e2:find("^tide: %(command line%):1: x"), "invoked as tide: " .. e2)
check.eq(c2, 1, "invoked as tide: status")
local _, e3 = run(q(bin) .. " -e 'error(\"y\")'", "unused")
check.truthy(e3:find(bin .. ": (command line):1: y", 1, true) == 1, "invoked by path: " .. e3)

-- 7. -v ends with Lua's own line
case("-v", "PROG -v", {out = banner, pat = true})
case("-v -e", "PROG -v -e \"print'hello'\"", {out = banner .. "hello\n", pat = true})

-- more of section 7: options in order, -, --, -l, -W, LUA_INIT
case("-e in order", "PROG -e 'x = 1' -e 'x = x * 5' -e 'print(x)'", {out = "5\n"})
case("- is stdin", "echo 'print(\"in\", ...)' | PROG - a b", {out = "in\ta\tb\n"})
case("--", "echo 'print(1)' > s.lua && PROG -- s.lua", {out = "1\n"})
case("-l g=mod", "PROG -l s=string -e 'print(s.upper(\"x\"))'", {out = "X\n"})
case("-W", "PROG -W -e 'warn(\"w\")'", {err = "Lua warning: w", out = ""})
case("LUA_INIT @file", "echo 'y = 3' > i.lua && LUA_INIT=@i.lua PROG -e 'print(y)'", {out = "3\n"})
case("LUA_INIT_5_4 first", "LUA_INIT='z = 1' LUA_INIT_5_4='z = 2' PROG -e 'print(z)'", {out = "2\n"})
-- tide's usage lists its own options (-j): the one text that differs
case("unknown option", "PROG -x", {err = "PROG: unrecognized option '-x'\nusage: PROG [options]", code = 1,
                                   own_usage = true})
case("syntax error", "PROG -e 'x ='", {err = "PROG: (command line):1: unexpected symbol near <eof>", code = 1})

os.execute("rm -rf " .. q(dir))
check.done()
