-- help.lua: tide.help (the prompt's `help`) over the API spec built into
-- the binary: every entry answers by its name, functions by identity,
-- objects list their methods, unknown names get close ones, and the text
-- fits 80 columns.
local check = require "check"
local help = require "tide.help"
local apidoc = require "tide.apidoc"

local all, byname, problems = apidoc.load()
check.truthy(#all >= 10, "the binary holds the API spec (" .. #all .. " entries)")
check.eq(#problems, 0, "the embedded spec parses: " .. table.concat(problems, "; "))

-- every line fits 80 columns, except an example's own lines (the spec's text)
local function fits(text, what)
  local in_example = false
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line == "  Example:" then in_example = true end
    if not in_example and utf8.len(line) > 79 then
      check.truthy(false, what .. ": a line of " .. utf8.len(line) .. " columns: " .. line)
      return
    end
  end
end

local plain = function(s) return (s:gsub("`", "")) end
local overview = help.text()
check.truthy(overview:find("help%(tide%.search%)"), "help() says how to ask")
check.truthy(overview:find("Areas:"), "help() lists the areas")
fits(overview, "help()")
check.truthy(overview:find("config"), "help() names the area config")

-- each entry by its full name: its signature heads the text
for _, e in ipairs(all) do
  local t = help.text(e.name)
  local sig = plain(e.sig):gsub("%s+", " ")
  check.truthy(t:gsub("%s+", " "):sub(1, #sig) == sig, "help(\"" .. e.name .. "\") shows its entry")
  fits(t, "help(\"" .. e.name .. "\")")
end

-- by identity: a function, a lazily loaded function, a callable table
check.truthy(help.text(tide.now):find("^tide%.now%("), "help(tide.now)")
check.truthy(help.text(tide.sleep):find("^tide%.sleep%("), "help(tide.sleep)")
check.truthy(help.text(tide.help):find("^tide%.help%("), "help(tide.help): a function loaded on first use")
-- by the end of a name, and "tide." added
check.truthy(help.text("now"):find("^tide%.now%("), "help(\"now\")")
check.truthy(help.text("tide.in_worker"):find("^tide%.in_worker%("), "help(\"tide.in_worker\")")
check.truthy(help.text("jobs"):find("tide%.config%.jobs"), "help(\"jobs\") finds tide.config.jobs")
check.truthy(help.text("config.jobs"):find("^tide%.config%.jobs"), "help(\"config.jobs\")")
-- several matches are listed, one line each
local byend = {}
for _, e in ipairs(all) do
  local last = e.name:match("[.:]([%w_]+)$")
  if last then byend[last] = (byend[last] or 0) + 1 end
end
for last, n in pairs(byend) do
  if n > 1 and not byname[last] then
    local t = help.text(last)
    check.truthy(t:find("^" .. n .. " entries match"), "help(\"" .. last .. "\") lists " .. n)
    fits(t, "help(\"" .. last .. "\")")
    break
  end
end
-- an area
check.truthy(help.text("config"):find("tide%.now"), "help(\"config\") lists the area")

-- objects: their methods
local a = tide.zeros(3)
local t = help.text(a)
check.truthy(t:find("^An array: its methods"), "help(array): " .. t:sub(1, 60))
check.truthy(t:find("\n  a:sum "), "help(array) lists a:sum")
fits(t, "help(array)")
local rs = tide.rowset(1, 4)
check.truthy(help.text(rs):find("rs:ranges"), "help(rowset) lists rs:ranges")
check.truthy(help.text(tide.rng(1)):find("rng:normal"), "help(rng) lists rng:normal")
local m = tide.models.ridge{}
t = help.text(m)
check.truthy(t:find("model:fit") and t:find("model:predict"), "help(model) lists fit and predict")
local X, y = tide.rand(20, 2, {seed = 1}), tide.rand(20, {seed = 2})
local s = tide.search{model = tide.models.ridge, grid = {alpha = {1, 2}}, X = X, y = y, cv = 2, jobs = 1}
t = help.text(s)
check.truthy(t:find("^A search") and t:find("s:report"), "help(search) lists s:report")
local pool <close> = tide.pool{jobs = 1}
check.truthy(help.text(pool):find("pool:map"), "help(pool) lists pool:map")
check.truthy(help.text(tide.cv):find("tide%.cv"), "help(tide.cv): a module table")
local g = tide.memoize(function(x) return x end)
check.truthy(help.text(g):find("g:info"), "help(memoized) lists g:info")

-- unknown: a clear message and close names
t = help.text("slep")
check.truthy(t:find("^No entry for 'slep'") and t:find("tide%.sleep"), "help(\"slep\"): " .. t)
t = help.text("zzqqxx")
check.truthy(t:find("^No entry for 'zzqqxx'") and t:find("help%(%)"), "help(\"zzqqxx\"): " .. t)
check.truthy(help.text(print):find("not tide's"), "help(print)")
check.truthy(help.text({}):find("not tide's"), "help({})")
check.errors(function() help.text(1, 2) end, "help takes one value")

-- tide.help prints
local out = {}
local write = io.write
io.write = function(...) for _, v in ipairs{...} do out[#out + 1] = v end end
tide.help("now")
io.write = write
check.truthy(table.concat(out):find("^tide%.now%("), "tide.help prints the text")
-- the prompt: `help` is a global there (typed alone: the overview)
local bin = os.getenv("TIDE_BIN")
if bin then
  local p = io.popen("printf 'help(\"now\")\\nhelp\\nhelp = 1\\nprint(help)\\n' | " .. bin ..
                     " -i 2>&1")
  local out = p:read("a")
  p:close()
  check.truthy(out:find("\ntide%.now%(%) → number"), "help(\"now\") at the prompt:\n" .. out)
  check.truthy(out:find("Areas:"), "help alone at the prompt shows the overview")
  p = io.popen("echo 'print(help)' | " .. bin .. " 2>&1")
  check.eq(p:read("a"), "nil\n", "no global help in a script")
  p:close()
end
check.done()
