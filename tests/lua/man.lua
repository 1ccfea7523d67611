-- man.lua: tide.1 (written at build time by cmake/man.lua) names every
-- option of the program's usage text, every environment variable the
-- runtime reads (each with a description) and every entry of docs/api,
-- and groff renders it without a warning.
local check = require "check"
local apidoc = require "tide.apidoc"
local build = assert(os.getenv("TIDE_BUILD"), "TIDE_BUILD is not set")
local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set"):gsub("/tests/fixtures$", "")

local f = assert(io.open(build .. "/tide.1"), "tide.1 was not built")
local page = f:read("a")
f:close()
check.truthy(page:find("^[^\n]*\n%.TH TIDE 1 "), "tide.1 starts with .TH")

-- roff back to text: \- is -, \[uXXXX] a code point, fonts dropped
local function unroff(s)
  return (s:gsub("\\%[u(%x+)%]", function(h) return utf8.char(tonumber(h, 16)) end)
           :gsub("\\%-", "-"):gsub("\\f[BIR]", ""):gsub("\\&", ""):gsub("\\e", "\\"))
end
local headings, text = {}, unroff(page)
for l in page:gmatch("[^\n]+") do
  local h = l:match("^%.SS (.*)$")
  if h then headings[#headings + 1] = unroff(h) end
end

-- every entry has its subsection, headed by its signature
local entries = apidoc.load(root .. "/docs/api")
check.truthy(#entries >= 10, "docs/api has entries (" .. #entries .. ")")
local at = {}
for _, h in ipairs(headings) do at[h] = true end
for _, e in ipairs(entries) do
  local found = false
  for _, h in ipairs(headings) do
    if h:sub(1, #e.sig) == e.sig then found = true break end
  end
  check.truthy(found, "tide.1 has " .. e.name .. " (" .. e.file .. ":" .. e.line .. ")")
end

-- the usage text's options
local main = assert(io.open(root .. "/runtime/cli/main.c")):read("a")
local usage = main:match("static void print_usage%(FILE %*f%) {(.-)\n}")
local n = 0
for opt in usage:gmatch('"  (%-%S*)') do
  n = n + 1
  check.truthy(text:find("\n%.TP\n" .. opt:gsub("%p", "%%%0") .. "[ \n]"), "tide.1 lists option " .. opt)
end
check.truthy(n >= 8, "the usage text has options (" .. n .. ")")
check.truthy(text:find("%-%-version"), "tide.1 mentions --version")

-- the environment the runtime reads
local p = io.popen("grep -rhoE 'getenv\\(\"[A-Z_0-9]+\"\\)' '" .. root .. "/runtime' '" .. root .. "/lua'")
local vars = 0
for l in p:lines() do
  local v = l:match('"([%w_]+)"')
  vars = vars + 1
  check.truthy(text:find("\n%.TP\n" .. v .. "\n"), "tide.1 describes " .. v)
end
p:close()
check.truthy(vars >= 5, "the runtime reads environment variables (" .. vars .. ")")
check.truthy(not text:find("undocumented"), "every variable of tide.1 has a description")
check.truthy(text:find("tiderc"), "tide.1 names ~/.tiderc")

-- rendering: groff (or man) without warnings
if os.execute("command -v groff >/dev/null 2>&1") then
  local g = io.popen("groff -man -Tutf8 -ww '" .. build .. "/tide.1' 2>&1 >/dev/null")
  local warn = g:read("a")
  g:close()
  check.eq(warn, "", "groff's warnings on tide.1")
  g = io.popen("groff -man -Tutf8 '" .. build .. "/tide.1' 2>/dev/null | col -b 2>/dev/null")
  local shown = g:read("a")
  g:close()
  check.truthy(shown:find("tide%.cv%.kfold") or shown:find("tide%.now"), "the rendered page shows entries")
else
  print("note: no groff here; tide.1 not rendered")
end
check.done()
