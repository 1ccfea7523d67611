-- tide.help: `help` at the prompt (a global there) and tide.help
-- everywhere.  It reads the API spec built into the binary (docs/api/*.md,
-- parsed by tide.apidoc) and prints for 80 columns:
--   help()                 the areas and how to ask;
--   help(tide.search)      the entry of a function or callable table, found
--                          by identity (a model class, tide.cv.kfold, a:sum);
--   help("kfold")          by name or the end of one ("tide.cv.kfold",
--                          "a:sum", "sum"); several matches are listed;
--   help("models")         the entries of one area (a file of docs/api);
--   help(X)                an array, rowset, rng, job, pool, monitor,
--                          report, model, search, curve, grid or memoized
--                          function: its methods, one line each;
-- and for anything else, what it is and the names closest to it.
-- help.text(x) returns the text instead of printing it.
local tide = require "tide"
local apidoc = require "tide.apidoc"
local help = {}

local WIDTH = 80

-- Markdown to terminal text: code spans lose their backticks.
local function plain(s) return (s:gsub("`([^`]*)`", "%1")) end

-- s wrapped to WIDTH, each line prefixed by indent (the first by first).
local function wrap(s, indent, first)
  first = first or indent
  local out, line = {}, first
  local empty = true
  for word in s:gmatch("%S+") do
    if not empty and #line + 1 + #word > WIDTH - 1 then
      out[#out + 1] = line
      line, empty = indent .. word, false
    else
      line = line .. (empty and "" or " ") .. word
      empty = false
    end
  end
  out[#out + 1] = line
  return table.concat(out, "\n")
end

-- The first sentence of s (for one-line listings), cut to n columns.
local function first_sentence(s, n)
  s = plain(s or ""):gsub("\n.*", "")
  local one = s:match("^(.-[%.!?])%s+[%u(]") or s
  if #one > n then
    one = one:sub(1, n - 3):gsub("%s+%S*$", "") .. "..."
  end
  return one
end

local function index()
  local all, byname = apidoc.load()
  return all, byname
end

-- The text of one entry.
local function entry_text(e)
  local out = {}
  local head = plain(e.sig) .. (e.returns and " → " .. plain(e.returns) or "") ..
               (e.kind == "field" and " (field)" or "")
  local tag = "[" .. e.file .. "]"
  head = wrap(head, "    ", "")
  local last = head:match("[^\n]*$")
  if utf8.len(last) + 2 + #tag <= WIDTH - 1 then
    head = head .. string.rep(" ", WIDTH - 1 - utf8.len(last) - #tag) .. tag
  else
    head = head .. "\n" .. string.rep(" ", WIDTH - 1 - #tag) .. tag
  end
  out[#out + 1] = head
  out[#out + 1] = ""
  for para in (e.summary or ""):gmatch("[^\n]+") do
    out[#out + 1] = wrap(plain(para), "  ")
  end
  local items = {}
  for _, p in ipairs(e.params) do
    items[#items + 1] = {p.name .. (p.default and " = " .. plain(p.default) or ""), p.text}
  end
  for _, o in ipairs(e.opts) do
    items[#items + 1] = {"opts." .. o.key .. (o.default and " = " .. plain(o.default) or ""), o.text}
  end
  if #items > 0 then
    out[#out + 1] = ""
    for _, it in ipairs(items) do
      local label = "  " .. it[1]
      if utf8.len(label) <= 22 then
        out[#out + 1] = wrap(plain(it[2] or ""), string.rep(" ", 26),
                             label .. string.rep(" ", 26 - utf8.len(label)))
      else
        out[#out + 1] = label
        out[#out + 1] = wrap(plain(it[2] or ""), string.rep(" ", 26))
      end
    end
  end
  if e.result or e.errors then out[#out + 1] = "" end
  if e.result then out[#out + 1] = wrap(plain(e.result), "    ", "  Returns: ") end
  if e.errors then out[#out + 1] = wrap(plain(e.errors), "    ", "  Errors: ") end
  for _, n in ipairs(e.notes or {}) do out[#out + 1] = wrap(plain(n), "    ", "  ") end
  if e.example then
    out[#out + 1] = ""
    out[#out + 1] = "  Example:"
    for l in e.example:gmatch("([^\n]*)\n") do out[#out + 1] = "    " .. l end
  end
  return table.concat(out, "\n")
end

-- One line per entry: its signature and the start of its summary.
local function listing(list, title)
  local out = {title}
  local w = 0
  for _, e in ipairs(list) do w = math.max(w, utf8.len(e.name)) end
  w = math.min(w, 30)
  for _, e in ipairs(list) do
    local name = "  " .. e.name
    local pad = math.max(1, w + 4 - utf8.len(name))
    local room = WIDTH - 1 - utf8.len(name) - pad
    if room < 20 then
      out[#out + 1] = name
      out[#out + 1] = string.rep(" ", w + 4) .. first_sentence(e.summary, WIDTH - 5 - w)
    else
      out[#out + 1] = name .. string.rep(" ", pad) .. first_sentence(e.summary, room)
    end
  end
  return table.concat(out, "\n")
end

-- Names closest to s (edit distance on the whole name and on its last part,
-- then substrings), at most 8.
local function distance(a, b)
  if #a > 40 or #b > 40 then return 99 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = {[0] = i}
    for j = 1, #b do
      local c = prev[j - 1] + (a:byte(i) == b:byte(j) and 0 or 1)
      cur[j] = math.min(c, prev[j] + 1, cur[j - 1] + 1)
    end
    prev = cur
  end
  return prev[#b]
end
local function close_names(s, all)
  s = s:lower()
  local scored = {}
  for _, e in ipairs(all) do
    local last = e.name:match("[%.:]([%w_]+)$") or e.name
    local d = math.min(distance(s, e.name:lower()), distance(s, last:lower()))
    if d > math.max(1, #s // 3) and #s >= 3 and e.name:lower():find(s, 1, true) then d = 2.5 end
    if d <= math.max(1, #s // 3) or d == 2.5 then scored[#scored + 1] = {e.name, d} end
  end
  table.sort(scored, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  local out = {}
  for i = 1, math.min(8, #scored) do out[i] = scored[i][1] end
  return out
end

-- The areas: each file's first heading and its number of entries.
local function areas(all)
  local files, count = {}, {}
  for _, e in ipairs(all) do
    if not count[e.file] then files[#files + 1] = e.file end
    count[e.file] = (count[e.file] or 0) + 1
  end
  local texts = apidoc.files()
  local out = {}
  for _, f in ipairs(files) do
    local title = (texts[f] or ""):match("^#%s+([^\n]+)") or ""
    out[#out + 1] = {f:gsub("%.md$", ""), plain(title), count[f]}
  end
  return out
end

local function overview()
  local all = index()
  local out = {
    "tide " .. tide.version .. ": help",
    "",
    "  help(tide.search)  the entry of a function, by the function itself",
    "  help(\"kfold\")      by name or its end: \"tide.cv.kfold\", \"a:sum\", \"sum\"",
    "  help(X)            an array, model, search, pool, ...: its methods",
    "  help(\"models\")     the entries of one area below",
    "",
  }
  local as = areas(all)
  if #as == 0 then
    out[#out + 1] = "This build has no API reference (docs/api was empty when it was built)."
  else
    out[#out + 1] = "Areas:"
    for _, a in ipairs(as) do
      local head = string.format("  %-10s", a[1])
      local tail = string.format(" (%d)", a[3])
      local room = WIDTH - 1 - #head - #tail - 1
      local title = a[2]
      if utf8.len(title) > room then title = title:sub(1, room - 3) .. "..." end
      out[#out + 1] = head .. " " .. title .. tail
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "The whole reference: man tide, or docs/api/ in tide's sources."
  return table.concat(out, "\n")
end

-- Names of a value, by identity, over the public walk (cached) and then the
-- methods of tide's objects (made once, only when needed).
local by_value, by_method
local function names_of(v)
  if not by_value then
    by_value = {}
    local names, _, tables = apidoc.walk()
    for t, n in pairs(tables) do by_value[t] = {n} end
    for n, x in pairs(names) do
      if type(x) == "function" or type(x) == "table" then
        by_value[x] = by_value[x] or {}
        table.insert(by_value[x], n)
      end
    end
    for _, l in pairs(by_value) do table.sort(l) end
  end
  if by_value[v] then return by_value[v] end
  if type(v) ~= "function" then return nil end
  if not by_method then
    by_method = {}
    for _, kind in ipairs(apidoc.objects) do
      local ok, obj, close = pcall(kind.make)
      if ok and obj then
        for m, f in pairs(apidoc.methods(kind, obj)) do
          by_method[f] = by_method[f] or {}
          table.insert(by_method[f], kind.var .. ":" .. m)
        end
        if close then pcall(close) end
      end
    end
  end
  return by_method[v]
end

-- Entries for a name: exact ("tide.cv.kfold", "a:sum", "help"), with
-- "tide." added ("cv.kfold"), or ending in ".name" / ":name" ("kfold").
local function lookup(s, all, byname)
  if byname[s] then return {byname[s]} end
  -- a dotted name without its "tide."; a bare one ("sum") is matched at
  -- the end of every name below, so tide.sum, a:sum and rs:sum all show
  if s:find("[.:]") and byname["tide." .. s] then return {byname["tide." .. s]} end
  local found = {}
  local tail = s:gsub("^tide%.", "")
  for _, e in ipairs(all) do
    local n = e.name
    if n:sub(-#tail - 1) == "." .. tail or n:sub(-#tail - 1) == ":" .. tail then
      found[#found + 1] = e
    end
  end
  return found
end

local function methods_text(kind, v, byname)
  local list = {}
  local ms = {}
  for m in pairs(apidoc.methods(kind, v)) do ms[#ms + 1] = m end
  table.sort(ms)
  for _, m in ipairs(ms) do
    local name = kind.var .. ":" .. m
    list[#list + 1] = byname[name] or {name = name, summary = "(no entry)"}
  end
  local head = (kind.what:find("^[aeiou]") and "An " or "A ") .. kind.what .. ": its methods (help(\"" .. kind.var .. ":name\") for one)"
  local own = ""
  local mt = getmetatable(v)
  local cname = type(mt) == "table" and rawget(mt, "__name")
  if kind.prefix and cname and byname[cname] then   -- a model: its class first
    own = listing({byname[cname]}, "Its class:") .. "\n\n"
  end
  local fields = {}
  for _, e in ipairs(index()) do
    if e.name:sub(1, #kind.var + 1) == kind.var .. "." then fields[#fields + 1] = e end
  end
  return own .. listing(list, head) .. (#fields > 0 and "\n\n" .. listing(fields, "Fields:") or "")
end

function help.text(x, ...)
  if select("#", ...) > 0 then error("help takes one value", 2) end
  local all, byname = index()
  if x == nil then return overview() end
  if type(x) == "string" then
    local s = x:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%(%)$", "")
    local found = lookup(s, all, byname)
    if #found == 1 then return entry_text(found[1]) end
    if #found > 1 then
      return listing(found, string.format("%d entries match '%s' (help(\"full.name\") for one):",
                                          #found, s))
    end
    local area = {}
    for _, e in ipairs(all) do
      if e.file == s .. ".md" or e.file == s then area[#area + 1] = e end
    end
    if #area > 0 then return listing(area, s .. ":") end
    local prefix = {}
    for _, e in ipairs(all) do
      if e.name:sub(1, #s + 1) == s .. "." or e.name:sub(1, #s + 6) == "tide." .. s .. "." then
        prefix[#prefix + 1] = e
      end
    end
    if #prefix > 0 then return listing(prefix, s .. ":") end
    local near = close_names(s, all)
    return "No entry for '" .. s .. "'." ..
           (#near > 0 and " Close names:\n  " .. table.concat(near, "\n  ") or
            " help() lists the areas.")
  end
  if x == help.global then return help.text("help") end
  local kind = apidoc.kind_of(x)
  if kind then return methods_text(kind, x, byname) end
  local names = names_of(x)
  if names then
    for _, n in ipairs(names) do
      if byname[n] then return entry_text(byname[n]) end
    end
    -- a module table (tide.cv, tide.linalg): its entries
    if type(x) == "table" then
      local list = {}
      for _, e in ipairs(all) do
        if e.name:sub(1, #names[1] + 1) == names[1] .. "." then list[#list + 1] = e end
      end
      if #list > 0 then return listing(list, names[1] .. ":") end
    end
    return names[1] .. " has no entry yet."
  end
  if type(x) == "function" then
    local info = debug and debug.getinfo and debug.getinfo(x, "S")
    return "A function that is not tide's" ..
           (info and info.short_src ~= "[C]" and
            string.format(" (defined at %s:%d)", info.short_src, info.linedefined) or "") .. "."
  end
  return "A " .. type(x) .. " that is not tide's: help() lists what tide has."
end

function help.help(...)
  io.write(help.text(...), "\n")
end

-- The prompt's global `help` (runtime/cli/repl.c sets it): help(x) as
-- tide.help, and `help` typed alone shows the overview.
help.global = setmetatable({}, {
  __call = function(_, ...) return help.help(...) end,
  __tostring = function() return overview() end,
})

return help
