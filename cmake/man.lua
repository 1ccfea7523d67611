-- man.lua: writes tide.1 (roff, `man tide`) from the program's usage text
-- (runtime/cli/main.c), the environment variables the runtime reads (every
-- getenv in runtime/ and lua/) and the API spec (docs/api/*.md, parsed by
-- tide.apidoc).  Run by the built tide at build time:
--   tide cmake/man.lua SOURCE_DIR OUT
local apidoc = require "tide.apidoc"
local src, out = assert(arg[1], "usage: man.lua SOURCE_DIR OUT"), assert(arg[2])

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- Text to roff: backslashes escaped, non-ASCII as \[uXXXX], a leading . or '
-- guarded, code spans in bold.
local function esc(s)
  s = s:gsub("\\", "\\e")
  s = s:gsub("[\xC2-\xF4][\x80-\xBF]*", function(c)
    local ok, cp = pcall(utf8.codepoint, c)
    return ok and string.format("\\[u%04X]", cp) or "?"
  end)
  s = s:gsub("%-", "\\-")
  return s
end
local function line(s)   -- one roff text line, guarded
  s = esc(s:gsub("%s*\n%s*", " ")):gsub("`([^`]*)`", "\\fB%1\\fR")
  if s:find("^[.']") then s = "\\&" .. s end
  return s
end

local o = {}
local function put(...) for _, s in ipairs{...} do o[#o + 1] = s end end

---------------------------------------------------------------- the program
local main = read(src .. "/runtime/cli/main.c")
local usage = main:match("static void print_usage%(FILE %*f%) {(.-)\n}")
assert(usage, "runtime/cli/main.c: print_usage not found")
local utext = {}
for lit in usage:gmatch('"(.-)"') do utext[#utext + 1] = lit end
utext = table.concat(utext):gsub("\\n", "\n"):gsub("\\'", "'"):gsub('\\"', '"')
local options = {}
for l in utext:gmatch("[^\n]+") do
  local opt, desc = l:match("^  (%-%S*%s?%S-)%s%s+(.*)$")
  if opt then
    options[#options + 1] = {opt = opt:match("^(.-)%s*$"), desc = desc}
  elseif l:match("^%s%s%s%s+%S") and #options > 0 then
    options[#options].desc = options[#options].desc .. " " .. l:match("^%s*(.-)%s*$")
  end
end
assert(#options >= 5, "runtime/cli/main.c: the usage text lists no options")
-- not in the usage text: what the spawn backend runs
if main:find('"%-%-worker"') then
  options[#options + 1] = {opt = "--worker FD PID",
    desc = "serve as a worker of a parallel loop's spawn backend over descriptor FD for " ..
           "process PID (tide starts these itself; not for users)"}
end

-- What each variable the runtime reads does; one found without a line here
-- is listed as undocumented (tests/lua/man.lua fails on it).
local env_doc = {
  TIDE_JOBS = "Default worker count at start, as -j (tide.config.jobs); -j wins.",
  TIDE_INIT = "Lua code, or @file, run before the script or the prompt; else LUA_INIT_5_4, " ..
              "else LUA_INIT, as lua(1) does. Ignored under -E.",
  LUA_INIT_5_4 = "As TIDE_INIT, when TIDE_INIT is not set.",
  LUA_INIT = "As TIDE_INIT, when neither TIDE_INIT nor LUA_INIT_5_4 is set.",
  TIDE_PATH = "Lua path templates (as LUA_PATH) where a file of the same name wins over " ..
              "a module built into the program (tide.cv from tide/cv.lua), to patch one " ..
              "without rebuilding; empty turns that off. Without it, LUA_PATH_5_4 or LUA_PATH " ..
              "serve, their ;; dropped. Ignored under -E.",
  LUA_PATH_5_4 = "Lua's module path; also the override path for tide's built-in modules " ..
                 "when TIDE_PATH is not set.",
  LUA_PATH = "As LUA_PATH_5_4, when that is not set.",
  HOME = "Where ~/.tiderc (run at the start of the prompt) and ~/.tide_history are.",
  TMPDIR = "Where shared segments go when /dev/shm (or tide.config.temp_dir) has no room.",
  TIDE_WORKER_EXE = "The tide program the spawn backend's workers run (tide --worker); " ..
                    "by default the running tide program, or for a C host the installed one.",
  OMPI_COMM_WORLD_SIZE = "Set by Open MPI's mpirun: with 2 or more ranks tide runs as " ..
                         "tide-mpi (the mpi backend).",
  OMPI_COMM_WORLD_LOCAL_SIZE = "Set by Open MPI's mpirun: when it equals OMPI_COMM_WORLD_SIZE " ..
                               "(every rank on this machine) tide-mpi leaves the TCP transport " ..
                               "and UCX out unless OMPI_MCA_btl and OMPI_MCA_pml are set.",
  TIDE_MPI_TEST_NODES = "Tests only: puts MPI ranks in node groups (0,1,1) as if on separate machines.",
  TIDE_FAULT_AT = "Tests only, in a build with TIDE_FAULTS: the N-th allocation (or mmap, fork, ...) fails.",
  TIDE_FAULT_PERSIST = "Tests only (TIDE_FAULTS builds): the injected failure repeats.",
  TIDE_FAULT_TRACE = "Tests only (TIDE_FAULTS builds): prints each counted acquisition.",
  TIDE_KILLPOINT = "Tests only: stage:task:action, a worker killed at a chosen point of a loop.",
  TIDE_KILLPOINT_ONCE = "Tests only: the kill point fires once.",
}
local env, seen = {}, {}
local p = assert(io.popen("grep -rhoE 'getenv\\(\"[A-Z_0-9]+\"\\)' '" .. src .. "/runtime' '" ..
                          src .. "/lua' 2>/dev/null"))
for l in p:lines() do
  local v = l:match('"([%w_]+)"')
  if v and not seen[v] then seen[v] = true; env[#env + 1] = v end
end
p:close()
if not seen.LUA_CPATH then env[#env + 1] = "LUA_CPATH" end
env_doc.LUA_CPATH = "Lua's path for C modules (read by Lua's package library)."
table.sort(env, function(a, b)
  local ta, tb = (env_doc[a] or ""):find("^Tests only") ~= nil, (env_doc[b] or ""):find("^Tests only") ~= nil
  if ta ~= tb then return tb end
  return a < b
end)

---------------------------------------------------------------- the page
local entries = apidoc.load(src .. "/docs/api")
local version = read(src .. "/runtime/include/tide.h"):match('#define TIDE_VERSION "([^"]+)"')

put('.\\" Generated by cmake/man.lua from runtime/cli/main.c and docs/api; do not edit.',
    '.TH TIDE 1 "" "tide ' .. version .. '" "tide manual"',
    ".SH NAME",
    "tide \\- a compute runtime for Lua 5.4: shared arrays, parallel loops, models, model selection",
    ".SH SYNOPSIS",
    ".B tide",
    "[\\fIoptions\\fR] [\\fIscript\\fR [\\fIargs\\fR]]",
    ".SH DESCRIPTION",
    line("tide runs Lua 5.4 scripts, as lua(1) does, with the module `tide` loaded as a " ..
         "global: n-dimensional arrays in shared memory, parallel loops over forked workers, " ..
         "scikit-learn-like models and model selection. With no script it starts a prompt " ..
         "(history, completion, tables shown as their contents); there `help(x)` shows the " ..
         "reference below for a function, a name or an object. The same reference is under " ..
         "share/doc/tide/api in the installation, and docs/api in the sources."),
    ".SH OPTIONS")
for _, opt in ipairs(options) do
  put(".TP", "\\fB" .. esc(opt.opt):gsub(" ", "\\fR \\fI") .. "\\fR", line(opt.desc))
end
put(".SH ENVIRONMENT")
for _, v in ipairs(env) do
  put(".TP", "\\fB" .. esc(v) .. "\\fR",
      line(env_doc[v] or "Read by tide (undocumented: add it to cmake/man.lua)."))
end
put(".SH FILES",
    ".TP", "\\fB~/.tiderc\\fR", line("Lua code run at the start of the prompt (not for a script; not under -E)."),
    ".TP", "\\fB~/.tide_history\\fR", line("The prompt's history."))

-- the API: a section per file, in the order of the areas
local files, by_file = {}, {}
for _, e in ipairs(entries) do
  if not by_file[e.file] then files[#files + 1] = e.file; by_file[e.file] = {} end
  table.insert(by_file[e.file], e)
end
local texts = apidoc.files(src .. "/docs/api")
for _, f in ipairs(files) do
  local title = (texts[f] or ""):match("^#%s+([^\n]+)") or f
  put(".SH " .. line(title:upper()))
  for _, e in ipairs(by_file[f]) do
    put(".SS " .. line(e.sig .. (e.returns and " → " .. e.returns or "") ..
                       (e.kind == "field" and " (field)" or "")))
    for para in (e.summary or ""):gmatch("[^\n]+") do put(".PP", line(para)) end
    for _, pr in ipairs(e.params) do
      put(".TP", "\\fB" .. esc(pr.name) .. "\\fR" .. (pr.default and " = " .. line(pr.default) or ""),
          line(pr.text or ""))
    end
    for _, op in ipairs(e.opts) do
      put(".TP", "\\fBopts." .. esc(op.key) .. "\\fR" .. (op.default and " = " .. line(op.default) or ""),
          line(op.text or ""))
    end
    if e.result then put(".PP", "Returns: " .. line(e.result)) end
    if e.errors then put(".PP", "Errors: " .. line(e.errors)) end
    if e.example then
      put(".PP", "Example:", ".RS 4", ".nf")
      for l in e.example:gmatch("([^\n]*)\n") do put(l == "" and "" or "\\&" .. esc(l)) end
      put(".fi", ".RE")
    end
  end
end
put(".SH SEE ALSO", "lua(1), mpirun(1)")

local f = assert(io.open(out .. ".tmp", "w"))
f:write(table.concat(o, "\n"), "\n")
f:close()
assert(os.rename(out .. ".tmp", out))
