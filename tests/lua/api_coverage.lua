-- api_coverage.lua: the API spec (docs/api/*.md, format in docs/api/README.md)
-- and the code agree, as luv's docs test does.  It fails when
--   1. a file breaks the entry format (docs/api/README.md's rules that a
--      parser sees: heading, summary, `errors:`, one example);
--   2. a public Lua function, callable table or method (the walk of
--      public_names.lua, every model class's methods included), a tide.config
--      field or tide.version has no entry;
--   3. an entry names something that does not exist (a tide.* name, a
--      `var:method` of an object, a `help`/prompt name);
--   4. an accepted option key has no `opts.key` bullet in its function's
--      entry, or a bullet names a key the function does not accept.  The keys
--      are learnt from the checks themselves: every options check
--      (tideL_checkopts and lua/tide/opts.lua) records its accepted keys while
--      tide._internal.optlog is on, and a child tide runs every entry's
--      example with it on; a model's parameters come from its class;
--   5. a function of runtime/include/tide.h has no entry in c.md, or a c.md
--      entry names no function, type or macro of tide.h.
-- TIDE_API_ONLY=models.md[,cv.md] limits it to those files: their format,
-- their entries' names and options, and the missing names that belong in
-- them (by the file table of docs/api/README.md); the others are listed as
-- notes.  The examples themselves run in tests/lua/docs.lua.
local check = require "check"
local apidoc = require "tide.apidoc"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")
local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set"):gsub("/tests/fixtures$", "")
local docdir = root .. "/docs/api"

-- Internal names that are reachable but not for users (each with why).
local exempt = {
  ["tide.grid.Grid"] = "the class table of tide.grid: its functions are the grid: methods",
}
local function is_exempt(name)
  for n in pairs(exempt) do
    if name == n or name:sub(1, #n + 1) == n .. "." then return true end
  end
end

local only = os.getenv("TIDE_API_ONLY")
if only == "" then only = nil end
local selected
if only then
  selected = {}
  for f in only:gmatch("[^,%s]+") do selected[f:match("%.md$") and f or f .. ".md"] = true end
end
local function chosen(file) return not selected or selected[file] end

local entries, byname, problems = apidoc.load(docdir)
for _, p in ipairs(problems) do
  if chosen(p:match("^([^:]+)")) then check.truthy(false, p) end
end
if selected then
  for f in pairs(selected) do
    check.truthy(io.open(docdir .. "/" .. f) ~= nil, "TIDE_API_ONLY names " .. f .. ", not in docs/api")
  end
end

-- Which file a name belongs in (docs/api/README.md's table), for the filter.
local owner_prefix = {
  {"^a:", "arrays.md"}, {"^rs:", "arrays.md"}, {"^rng:", "numeric.md"},
  {"^tide%.linalg%.", "numeric.md"}, {"^tide%.fft%.", "numeric.md"},
  {"^tide%.optimize%.", "numeric.md"}, {"^tide%.metrics%.", "numeric.md"},
  {"^job:", "parallel.md"}, {"^pool:", "parallel.md"}, {"^mon:", "monitor.md"},
  {"^report:", "monitor.md"}, {"^tide%.plot", "monitor.md"}, {"^model:", "models.md"},
  {"^tide%.models", "models.md"}, {"^tide%.ensemble", "models.md"}, {"^tide%.cv", "selection.md"},
  {"^tide%.grid", "selection.md"}, {"^tide%.dist", "selection.md"}, {"^tide%.search", "selection.md"},
  {"^s:", "selection.md"}, {"^curve:", "selection.md"}, {"^grid:", "selection.md"},
  {"^g:", "cache.md"}, {"^tide%.config", "config.md"}, {"^tide%.mpi", "config.md"},
}
local owner_top = {
  arrays = "zeros ones empty full zeros_like ones_like full_like array arange range linspace " ..
           "logspace eye rand randn rowset is_array is_rowset concat stack where diag tril triu " ..
           "trim memory_available",
  numeric = "rng",
  parallel = "map collect pfor start pool task_rng",
  monitor = "monitor memory timed",
  models = "pipeline",
  selection = "cross_validate learning_curve",
  cache = "dump undump hash memoize",
  io = "load save savez memmap read_csv write_csv encode decode",
  config = "now sleep version register_class task_index in_worker help repl",
}
local function owner(name)
  for _, p in ipairs(owner_prefix) do
    if name:find(p[1]) then return p[2] end
  end
  local top = name:match("^tide%.([%w_]+)$")
  if top then
    for file, list in pairs(owner_top) do
      for w in list:gmatch("%S+") do
        if w == top then return file .. ".md" end
      end
    end
    -- the rest: twins of array methods (tide.sum, tide.sin) are arrays';
    -- statistics, sorting and convolution numeric's
    local am = getmetatable(tide.zeros(1)).__methods
    return am[top] and "arrays.md" or "numeric.md"
  end
end
local notes, reported = {}, {}
local function missing(name)
  if is_exempt(name) or reported[name] then return end
  reported[name] = true
  local o = owner(name)
  if not selected or (o and selected[o]) then
    check.truthy(false, string.format("%s has no entry in docs/api%s", name,
                                      o and " (it belongs in " .. o .. ")" or ""))
  else
    notes[#notes + 1] = name
  end
end

---------------------------------------------------------------- what exists
local tide_names, _, tide_tables = apidoc.walk()
local exists = {}          -- name -> true: everything the spec may name
local ident = {}           -- function or table -> list of its names
local function add(name, v, need)
  exists[name] = true
  if type(v) == "function" or type(v) == "table" then
    ident[v] = ident[v] or {}
    table.insert(ident[v], name)
  end
  if need and not byname[name] then missing(name) end
end
for name, v in pairs(tide_names) do
  if not name:find("^tide%.mpi%.") then add(name, v, apidoc.required(name, v)) end
end
for t, name in pairs(tide_tables) do exists[name] = true end   -- tide.cv, tide.plot.palette

local methods_of = {}      -- var -> set of method names (the union over instances)
local function add_methods(kind, obj)
  methods_of[kind.var] = methods_of[kind.var] or {}
  for m, f in pairs(apidoc.methods(kind, obj)) do
    methods_of[kind.var][m] = true
    add(kind.var .. ":" .. m, f, false)
  end
end
local fields_of = {}       -- var -> instances, for `s.best_params`-like entries (fields)
local model_classes = {}   -- constructor name -> its class (parameters, fit_options)
for _, kind in ipairs(apidoc.objects) do
  local obj, close = kind.make()
  add_methods(kind, obj)
  fields_of[kind.var] = {obj}
  if close then close() end
  if kind.var == "model" then
    -- every class's methods: each model kind adds its own
    for _, tbl in ipairs{{"tide.models.", tide.models}, {"tide.ensemble.", tide.ensemble}} do
      for cname, ctor in pairs(tbl[2]) do
        if type(ctor) == "function" and tide.models.is_model(ctor) then
          local ok, m = pcall(ctor, {})
          if ok and apidoc.kind_of(m) == kind then
            add_methods(kind, m)
            table.insert(fields_of.model, m)
            local mt = getmetatable(m).__index
            local class = type(mt) == "table" and rawget(mt, "_class")
            if class then model_classes[tbl[1] .. cname] = class end
          end
        end
      end
    end
  end
end
for var, set in pairs(methods_of) do
  for m in pairs(set) do
    if not byname[var .. ":" .. m] then missing(var .. ":" .. m) end
  end
end
-- prompt names: help (a global at the prompt, tide.help everywhere)
if tide.help then exists.help = true end

-- tide.mpi exists in the tide-mpi program only: its fields are the names
-- runtime/mpi registers
local mpi_src = io.open(root .. "/runtime/mpi/backend_mpi.c")
local mpi_text = mpi_src and mpi_src:read("a") or ""
if mpi_src then mpi_src:close() end

for _, e in ipairs(entries) do
  if chosen(e.file) and e.file ~= "c.md" then
    local var, m = e.name:match("^([%a_]+):([%w_]+)$")
    local fvar, field = e.name:match("^([%a_]+)%.([%w_]+)$")
    local ok
    if var then
      ok = methods_of[var] and methods_of[var][m]
    elseif fvar and fields_of[fvar] then
      -- a field of an object: some instance has it (a model's fitted fields
      -- appear after fit: the class's spec.fitted lists them)
      for _, o in ipairs(fields_of[fvar]) do
        local got, v = pcall(function() return o[field] end)
        if got and v ~= nil then ok = true end
        local mt = type(o) == "table" and getmetatable(o)
        local class = mt and type(mt.__index) == "table" and rawget(mt.__index, "_class")
        for _, f in ipairs(class and class.spec.fitted or {}) do
          if f == field then ok = true end
        end
      end
    elseif e.name:find("^tide%.mpi$") or e.name:find("^tide%.mpi%.") then
      ok = mpi_text:find('"' .. e.name:match("([%w_]+)$") .. '"', 1, true) ~= nil
    else
      ok = exists[e.name]
    end
    check.truthy(ok, string.format("%s:%d: %s names nothing that exists", e.file, e.line, e.name))
  end
end

---------------------------------------------------------------- options
-- opts bullets of entry e, as a set
local function opt_set(e)
  local set = {}
  for _, o in ipairs(e.opts) do set[o.key] = true end
  return set
end
local accepted = {}        -- entry name -> set of keys its checks accept
-- every word of an entry's text (summary, bullets): where the keys of a
-- nested options table (a series of tide.plot.lines) must be named
local function words_of(e)
  local w = {}
  local function add_text(t)
    for x in (t or ""):gmatch("[%a_][%w_]*") do w[x] = true end
  end
  add_text(e.summary)
  for _, p in ipairs(e.params) do add_text(p.name); add_text(p.text) end
  for _, o in ipairs(e.opts) do add_text(o.key); add_text(o.text) end
  for _, n in ipairs(e.notes or {}) do add_text(n) end
  return w
end
local function accept_nested(entry, keys, what)
  local e = byname[entry]
  if not e then return missing(entry) end
  if not chosen(e.file) then return end
  local w = words_of(e)
  for _, k in ipairs(keys) do
    check.truthy(k:find("^_") or w[k], string.format("%s:%d: %s takes key '%s' in %s but its entry never names it",
                                                     e.file, e.line, entry, k, what))
  end
end
local function accept(entry, keys, why, fname)
  local e = byname[entry]
  if not e then
    if fname and not reported[entry] then
      -- the check's own name (what its error messages call the function)
      -- led nowhere: either the entry is missing or the code misnames it
      reported[entry] = true
      local o = owner(entry)
      if not selected or (o and selected[o]) then
        check.truthy(false, string.format("the options check named '%s' in the code belongs to %s, " ..
                                          "which has no entry (or the code misnames it)", fname, entry))
      end
    else
      missing(entry)
    end
    return
  end
  accepted[entry] = accepted[entry] or {}
  local set = opt_set(e)
  for _, k in ipairs(keys) do
    accepted[entry][k] = true
    if not k:find("^_") and chosen(e.file) then
      check.truthy(set[k], string.format("%s:%d: %s takes option '%s' (%s) but has no `opts.%s` bullet",
                                         e.file, e.line, entry, k, why, k))
    end
  end
end

-- a model's parameters are the options of its constructor; its fit options
-- those of model:fit
for cname, class in pairs(model_classes) do
  accept(cname, class.order, "a parameter of the class")
  if class.spec.fit_options then accept("model:fit", class.spec.fit_options, cname .. "'s fit") end
end

-- The examples, run with the option log on, in a child tide in a scratch folder.
local scratch = os.tmpname()
os.remove(scratch)
assert(os.execute("mkdir -m 700 " .. scratch))
local driver = [=[
local docdir, only, out = ...
local apidoc = require "tide.apidoc"
local all = apidoc.load(docdir, only ~= "" and only or nil)
local names = apidoc.walk()
local ident = {}
for n, v in pairs(names) do
  if type(v) == "function" then ident[v] = ident[v] or {}; table.insert(ident[v], n) end
end
for _, kind in ipairs(apidoc.objects) do
  local ok, obj, close = pcall(kind.make)
  if ok then
    for m, f in pairs(apidoc.methods(kind, obj)) do
      ident[f] = ident[f] or {}
      table.insert(ident[f], kind.var .. ":" .. m)
    end
    if close then close() end
  end
end
local f = assert(io.open(out, "w"))
local log = tide._internal.optlog(true)
for _, e in ipairs(all) do
  if e.example and e.example_lang == "lua" and not e.example:match("^%-%- fragment") then
    f:write("RUN\t", e.file, ":", e.line, "\n")
    f:flush()
    local env = setmetatable({}, {__index = _G})
    local chunk, err = load(e.example, "=" .. e.file .. ":" .. e.line, "t", env)
    local ok = chunk and pcall(chunk)
    if not ok then f:write("FAIL\t", e.file, ":", e.line, "\n") end
  end
end
tide._internal.optlog(false)
for fname, r in pairs(log) do
  local who = r.fn and ident[r.fn] and table.concat(ident[r.fn], ",") or ""
  f:write("OPT\t", fname, "\t", who, "\t", table.concat(r.names, ","), "\n")
end
f:write("DONE\n")
f:close()
os.exit(0)
]=]
local h = assert(io.open(scratch .. "/driver.lua", "w"))
h:write(driver)
h:close()
local ok = os.execute(string.format("cd %s && %s driver.lua '%s' '%s' %s/optlog.txt > out.txt 2>&1",
                                    scratch, bin, docdir, only or "", scratch))
local lines = {}
h = io.open(scratch .. "/optlog.txt")
if h then
  for l in h:lines() do lines[#lines + 1] = l end
  h:close()
end
local done = lines[#lines] == "DONE"
if done and not ok then   -- it finished, then failed (a sanitizer's report at exit)
  local o = io.open(scratch .. "/out.txt")
  check.truthy(false, "the examples' run (with the option log) exited badly:\n" .. (o and o:read("a") or ""))
end
if not done then
  local o = io.open(scratch .. "/out.txt")
  local last
  for _, l in ipairs(lines) do last = l:match("^RUN\t(.*)") or last end
  check.truthy(false, "the examples' run (with the option log) stopped" ..
               (last and " in the example at " .. last or "") .. ": " .. tostring(ok) .. "\n" ..
               (o and o:read("a") or ""))
end
local failed, ran = {}, 0
-- an fname ("ridge:fit", "rep:svg", "choice") to the entry it belongs to
local var_alias = {rep = "report", search = "s", rowset = "rs"}
local function entry_for(fname, who)
  if byname[fname] then return fname end
  for n in who:gmatch("[^,]+") do
    if byname[n] then return n end
  end
  local var, m = fname:match("^([%w_.]+):([%w_]+)$")
  if var then
    var = var_alias[var] or var
    if methods_of[var] then return var .. ":" .. m end
    return "model:" .. m         -- "ridge:fit", "kmeans:score": a class's method
  end
  if fname:find("^plot%.") then return "tide." .. fname:match("^(%S+)") end
  for n in who:gmatch("[^,]+") do return n end
  return "tide." .. fname
end
for _, l in ipairs(lines) do
  if l:find("^RUN\t") then ran = ran + 1 end
  local where = l:match("^FAIL\t(.*)")
  if where then failed[#failed + 1] = where end
  local fname, who, keys = l:match("^OPT\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
  if fname and fname ~= "faults" then   -- faults: tide._internal's fault injection
    local list = {}
    for k in keys:gmatch("[^,]+") do list[#list + 1] = k end
    local base, what = fname:match("^(%S+) (.+)$")   -- "plot.lines series 1": a nested table
    if base then
      accept_nested(entry_for(base, who), list, what:gsub("%s*%d+$", ""))
    else
      accept(entry_for(fname, who), list, "its check in the code", fname)
    end
  end
end
local runnable = 0
for _, e in ipairs(entries) do
  if chosen(e.file) and e.example_lang == "lua" and not e.example:match("^%-%- fragment") then
    runnable = runnable + 1
  end
end
check.eq(ran, runnable, "examples run with the option log")
if #failed > 0 then
  print("note: these examples failed (tests/lua/docs.lua reports why): " .. table.concat(failed, " "))
end

-- bullets for keys no check accepts (only where the checks were seen)
for name, set in pairs(accepted) do
  local e = byname[name]
  if chosen(e.file) then
    for _, o in ipairs(e.opts) do
      check.truthy(set[o.key], string.format("%s:%d: %s documents option '%s', which it does not accept",
                                             e.file, e.line, name, o.key))
    end
  end
end
if not os.getenv("TIDE_API_KEEP") then os.execute("rm -rf " .. scratch) else print("kept " .. scratch) end

---------------------------------------------------------------- tide.h
if chosen("c.md") then
  local hdr = assert(io.open(root .. "/runtime/include/tide.h")):read("a")
  local fns, decl = {}, {}
  for line in hdr:gmatch("[^\n]+") do
    local name = line:match("^TIDE_API[^(]-([%a_][%w_]*)%s*%(")
    if name then fns[#fns + 1] = name; decl[name] = true end
  end
  for name in hdr:gmatch("#define%s+([%a_][%w_]*)") do decl[name] = true end
  for name in hdr:gmatch("typedef[^;]-([%a_][%w_]*)%s*;") do decl[name] = true end
  for name in hdr:gmatch("typedef%s+[%a_]+%s+([%a_][%w_]*)%s*{") do decl[name] = true end
  for name in hdr:gmatch("%(%*([%a_][%w_]*)%)") do decl[name] = true end
  check.truthy(#fns >= 10, "tide.h declares its functions with TIDE_API (" .. #fns .. ")")
  for _, fn in ipairs(fns) do
    local e = byname[fn]
    check.truthy(e and e.file == "c.md", fn .. " (tide.h) has no entry in docs/api/c.md")
  end
  for _, e in ipairs(entries) do
    if e.file == "c.md" then
      local base = e.name:match("^([%a_][%w_]*)")
      check.truthy(decl[base], string.format("c.md:%d: %s is not declared in tide.h", e.line, e.name))
    end
  end
end

if #notes > 0 then
  table.sort(notes)
  print("note: not checked under TIDE_API_ONLY (they belong in other files): " ..
        table.concat(notes, " "))
end
check.done()
