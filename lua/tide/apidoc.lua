-- tide.apidoc: reads the API spec, docs/api/*.md (the format is described
-- in docs/api/README.md), into entries:
--   {name = "tide.zeros", sig = "tide.zeros(shape..., [opts])",
--    returns = "array", kind = "function" | "method" | "field",
--    summary = "An array of zeros ...",
--    params = {{name = "shape...", default = nil, text = "..."}, ...},
--    opts = {{key = "dtype", default = '"f64"', text = "..."}, ...},
--    result = "the new array." (the `returns:` bullet), errors = "...",
--    example = "local a = ...\n", example_lang = "lua" (c.md: "c"),
--    file = "arrays.md", line = 12}
-- The files come from the binary (embedded at build time, so an installed
-- program needs no docs folder) or from a folder given to apidoc.load.
-- Internal: `help`, tide.1's generator and the coverage test use it.
local apidoc = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The heading "### `tide.zeros(shape..., [opts])` → array": sig, name,
-- returns, kind; nil when the heading is not one code span (free text).
local function heading(text)
  local sig, rest = text:match("^`([^`]+)`%s*(.*)$")
  if not sig then return nil end
  rest = trim(rest)
  local returns
  if rest ~= "" then
    returns = rest:match("^→%s*(.*)$") or rest:match("^%->%s*(.*)$")
    if not returns and rest ~= "(field)" then return nil end
  end
  local name = sig:match("^([^%(]+)%(") or sig
  name = trim(name)
  if name:find("[%s%*]") then   -- a C prototype (c.md): the function's name
    name = name:match("([%a_][%w_]*)%s*$") or name
  end
  local kind
  if rest == "(field)" or not sig:find("%(") then kind = "field"
  elseif name:find(":") then kind = "method"
  else kind = "function" end
  return {sig = sig, name = name, returns = returns, kind = kind}
end

-- A bullet's text (continuation lines joined) into the entry.
local function bullet(e, text)
  text = trim(text:gsub("%s*\n%s*", " "))
  local label, body = text:match("^(%a+):%s*(.*)$")
  if label == "returns" then e.result = body; return end
  if label == "errors" then e.errors = body; return end
  local name, after = text:match("^`([^`]+)`%s*(.*)$")
  if not name then
    e.notes = e.notes or {}
    e.notes[#e.notes + 1] = text
    return
  end
  local default, desc = after:match("^=%s*`([^`]*)`%s*:%s*(.*)$")
  if not default then
    default, desc = after:match("^=%s*([^:]-)%s*:%s*(.*)$")
    if not default then desc = after:match("^:%s*(.*)$") or after end
  end
  local key = name:match("^opts%.(.+)$")
  if key then
    e.opts[#e.opts + 1] = {key = key, default = default, text = desc}
  else
    e.params[#e.params + 1] = {name = name, default = default, text = desc}
  end
end

-- apidoc.parse(text, file) -> list of entries, list of problems (strings
-- "file:line: what"): the format's rules that a parser can see.
function apidoc.parse(text, file)
  local entries, problems = {}, {}
  local function problem(line, fmt, ...)
    problems[#problems + 1] = string.format("%s:%d: " .. fmt, file, line, ...)
  end
  local e, stage, para, blt, code   -- the entry being read and where in it
  local function flush_bullet()
    if blt then bullet(e, blt); blt = nil end
  end
  local function finish()
    if not e then return end
    flush_bullet()
    if para then e.summary = trim(table.concat(para, " ")); para = nil end
    if not e.summary or e.summary == "" then problem(e.line, "%s: no summary paragraph", e.name) end
    if not e.example then problem(e.line, "%s: no ```lua example", e.name) end
    if e.kind ~= "field" and not e.errors then problem(e.line, "%s: no `errors:` bullet", e.name) end
    entries[#entries + 1] = e
    e = nil
  end
  local n = 0
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("(.-)\n") do
    n = n + 1
    if code then                       -- inside a fenced block
      if line:match("^```%s*$") then
        if e and code.lang and not e.example and stage ~= "after" then
          e.example, e.example_lang = table.concat(code, "\n") .. "\n", code.lang
          stage = "after"
        elseif e and code.lang then
          problem(n, "%s: more than one ```lua block", e.name)
        end
        code = nil
      else
        code[#code + 1] = line
      end
    elseif line:match("^```") then
      flush_bullet()
      if e and para then e.summary = trim(table.concat(para, " ")); para = nil end
      local lang = line:match("^```(%a+)%s*$")
      code = {lang = (lang == "lua" or lang == "c") and lang or nil}  -- c: docs/api/c.md's
    elseif line:match("^#") then
      finish()
      local level, htext = line:match("^(#+)%s*(.-)%s*$")
      if #level == 3 then
        local h = heading(htext)
        if h then
          e = h
          e.file, e.line, e.params, e.opts = file, n, {}, {}
          stage, para = "summary", nil
        elseif htext:match("^`") then
          problem(n, "a ### heading must be one code span, then ` → type` or ` (field)`: %s", htext)
        end
      end
    elseif e then
      if line:match("^%- ") then
        flush_bullet()
        if para then e.summary = trim(table.concat(para, " ")); para = nil end
        if stage == "after" then problem(n, "%s: a bullet after the example", e.name) end
        stage = stage == "after" and "after" or "bullets"
        blt = line:sub(3)
      elseif line:match("^%s+%S") and blt then
        blt = blt .. "\n" .. line
      elseif line:match("^%s*$") then
        flush_bullet()
        if para and stage == "summary" then para[#para + 1] = "\n" end
      elseif stage == "summary" then
        para = para or {}
        para[#para + 1] = trim(line)
      else
        flush_bullet()
        e.notes = e.notes or {}
        e.notes[#e.notes + 1] = trim(line)
      end
    end
  end
  if code then problem(n, "a fenced block is not closed") end
  finish()
  for _, x in ipairs(entries) do
    if x.summary then
      x.summary = x.summary:gsub("%s*\n%s*", "\n\n"):gsub("\n\n$", "")
    end
  end
  return entries, problems
end

-- apidoc.files([dir]) -> {["arrays.md"] = text, ...}: from dir (a folder of
-- .md files) when given, else the copy built into the binary.
function apidoc.files(dir)
  if not dir then
    local internal = require("tide")._internal
    return internal.api_docs and internal.api_docs() or {}
  end
  local out = {}
  local p = assert(io.popen("ls '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null"))
  for f in p:lines() do
    if f:match("%.md$") and f ~= "README.md" then
      local h = assert(io.open(dir .. "/" .. f))
      out[f] = h:read("a")
      h:close()
    end
  end
  p:close()
  return out
end

-- apidoc.load([dir [, only]]) -> entries (sorted by file, then place), the
-- index byname (name -> entry), problems.  only: a set or comma-separated
-- list of file names ("models.md") to read, the others skipped.
local cache
function apidoc.load(dir, only)
  if not dir and not only and cache then return cache[1], cache[2], cache[3] end
  if type(only) == "string" then
    local set = {}
    for f in only:gmatch("[^,%s]+") do set[f:match("%.md$") and f or f .. ".md"] = true end
    only = set
  end
  local files = apidoc.files(dir)
  local names = {}
  for f in pairs(files) do
    if f ~= "README.md" and (not only or only[f]) then names[#names + 1] = f end
  end
  table.sort(names)
  local all, byname, problems = {}, {}, {}
  for _, f in ipairs(names) do
    local es, ps = apidoc.parse(files[f], f)
    for _, p in ipairs(ps) do problems[#problems + 1] = p end
    for _, e in ipairs(es) do
      if byname[e.name] then
        local o = byname[e.name]
        problems[#problems + 1] = string.format("%s:%d: %s has another entry at %s:%d",
                                                e.file, e.line, e.name, o.file, o.line)
      else
        byname[e.name] = e
      end
      all[#all + 1] = e
    end
  end
  if not dir and not only then cache = {all, byname, problems} end
  return all, byname, problems
end

-- What exists: the public names, as tests/lua/public_names.lua walks them.
-- The public Lua-side modules load on first access (l_tide.c's tide_index);
-- the walk touches them first so their functions are seen.
apidoc.submodules = {"models", "cv", "grid", "dist", "search", "ensemble", "plot"}

-- apidoc.walk() -> names (name -> value: "tide.zeros" -> the function,
-- "tide.search" -> the callable table, "tide.config.jobs" -> its value,
-- "tide.version", "tide.models.forest_parallel_rows" -> a number), sorted
-- list of the names, tables (each table walked -> its name: tide.cv ->
-- "tide.cv").  apidoc.required(name, value) says which need an entry.  _internal tables, keys
-- beginning with "__" and the modules that are no fields of tide (par,
-- util, ...) are not walked.
function apidoc.walk()
  local tide = require "tide"
  for _, m in ipairs(apidoc.submodules) do local _ = tide[m] end
  local names, seen = {}, {}
  local function walk(t, path)
    if seen[t] then return end
    seen[t] = path
    for k, v in pairs(t) do
      if type(k) == "string" and k ~= "_internal" and not k:find("^__") then
        local p = path .. "." .. k
        if type(v) == "table" then
          if getmetatable(v) and getmetatable(v).__call then names[p] = v end
          if path == "tide" and k == "config" then
            -- the settings: those pairs lists (the ones set) and those a
            -- write of an unknown name lists in its error
            for ck, cv in pairs(v) do names[p .. "." .. ck] = cv end
            local ok, err = pcall(function() v["\1no such setting"] = 0 end)
            local list = not ok and tostring(err):match("%(settings: ([^)]*)%)")
            for ck in (list or ""):gmatch("[%w_]+") do names[p .. "." .. ck] = v[ck] or false end
          else
            walk(v, p)
          end
        else
          names[p] = v
        end
      end
    end
  end
  walk(tide, "tide")
  local list = {}
  for n in pairs(names) do list[#list + 1] = n end
  table.sort(list)
  seen[tide] = nil
  return names, list, seen
end

-- Which names need an entry: functions, callable tables, tide.config's
-- settings and tide's own values (tide.version); a plain value inside a
-- module (a tuning constant, a list) may have one.
function apidoc.required(name, v)
  if type(v) == "function" then return true end
  if type(v) == "table" then return getmetatable(v) ~= nil and getmetatable(v).__call ~= nil end
  return name:find("^tide%.config%.") ~= nil or name:find("^tide%.[%w_]+$") ~= nil
end

-- Tide's objects, by the variable the spec writes their methods with:
-- {var, what, make = a function giving a small instance, methods = a
-- function of an instance giving its method table}.  Private methods
-- (a leading "_") are not public.
local function index_methods(o)
  local mt = getmetatable(o)
  return mt and type(mt.__index) == "table" and mt.__index or nil
end
local function model_methods(m)
  local mt = getmetatable(m).__index
  if type(mt) == "function" then   -- a pipeline (named_steps): its methods are an upvalue
    local i, name, v = 1, debug.getupvalue(mt, 1)
    while name and name ~= "Pipe" do i = i + 1; name, v = debug.getupvalue(mt, i) end
    mt = v
  end
  local out = {}
  local function add(t)
    if type(t) ~= "table" then return end
    local up = getmetatable(t)
    if up and type(up.__index) == "table" then add(up.__index) end
    for k, v in pairs(t) do out[k] = v end
  end
  add(mt)
  return out
end
local function small_xy()
  local tide = require "tide"
  return tide.rand(20, 2, {seed = 1}), tide.rand(20, {seed = 2})
end
apidoc.objects = {
  {var = "a", what = "array", name = "tide.array",
   make = function() return require("tide").zeros(1) end,
   methods = function(o) return getmetatable(o).__methods end},
  {var = "rs", what = "rowset", name = "tide.rowset",
   make = function() return require("tide").rowset(1, 2) end,
   methods = function(o) return getmetatable(o).__methods end},
  {var = "rng", what = "random generator", name = "tide.rng",
   make = function() return require("tide").rng(1) end, methods = index_methods},
  {var = "job", what = "job (tide.start)", name = "tide.job",
   make = function()
     local job = require("tide").start(function(i) return i end, 1, {jobs = 1})
     job:wait()
     return job, function() job:close() end
   end, methods = index_methods},
  {var = "pool", what = "pool (tide.pool)",
   make = function()
     local pool = require("tide").pool{jobs = 1}
     return pool, function() pool:close() end
   end, methods = index_methods},
  {var = "mon", what = "monitor (tide.monitor)", name = "tide.monitor",
   make = function()
     local mon = require("tide").monitor{interval = 0.01}
     return mon, function() mon:stop() end
   end,
   methods = function(o) return select(2, debug.getupvalue(getmetatable(o).__index, 1)) end},
  {var = "report", what = "monitor report (mon:stop)",
   make = function() return require("tide").monitor{interval = 0.01}:stop() end,
   methods = index_methods},
  {var = "model", what = "model", prefix = "tide.models.",
   make = function() return require("tide").models.ridge{} end, methods = model_methods},
  {var = "s", what = "search (tide.search)",
   make = function()
     local tide = require "tide"
     local X, y = small_xy()
     return tide.search{model = tide.models.ridge{}, grid = {alpha = {1, 2}}, X = X, y = y,
                        cv = 2, jobs = 1}
   end, methods = index_methods},
  {var = "curve", what = "learning curve (tide.learning_curve)",
   make = function()
     local tide = require "tide"
     local X, y = small_xy()
     return tide.learning_curve(tide.models.ridge{}, X, y, {cv = 2, jobs = 1, sizes = {1.0}})
   end, methods = index_methods},
  {var = "grid", what = "grid (tide.grid)",
   make = function() return require("tide").grid{a = {1}} end, methods = index_methods},
  {var = "g", what = "memoized function (tide.memoize)", name = "tide.memoized",
   make = function() return require("tide").memoize(function(x) return x end) end,
   methods = index_methods},
}

-- apidoc.kind_of(v) -> the object description of apidoc.objects that v is
-- an instance of, or nil.  By the metatable's __name when it has one, else
-- by comparing with a small instance (made once).
local refs = {}
function apidoc.kind_of(v)
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  local name = rawget(mt, "__name")
  for _, k in ipairs(apidoc.objects) do
    if name and (name == k.name or (k.prefix and name:sub(1, #k.prefix) == k.prefix)) then
      return k
    end
  end
  if type(v) ~= "table" then return nil end
  for _, k in ipairs(apidoc.objects) do
    if not k.name and not k.prefix then
      if refs[k] == nil then
        local ok, o, close = pcall(k.make)
        refs[k] = ok and getmetatable(o) or false
        if close then pcall(close) end
      end
      if refs[k] == mt then return k end
    end
  end
end

-- apidoc.methods(kind, v) -> name -> function: v's public methods ("sum" ->
-- the function); "var:sum" is their name in the spec.
function apidoc.methods(kind, v)
  local out = {}
  for k, f in pairs(kind.methods(v) or {}) do
    if type(k) == "string" and type(f) == "function" and not k:find("^_") then out[k] = f end
  end
  return out
end

return apidoc
