-- public_names.lua: every function a user can reach in the tide table (and
-- its submodules), and every method of tide's objects, is named in
-- README.md, unless it lives under an `_internal` table (helpers for tide's
-- own modules and tests).  A name counts as named when README's code (its
-- ```lua blocks and `spans`) holds it: bare ("sum", "fill_"), or with a
-- prefix ("plot.lines", "tide.grid.format").
local check = require "check"

local readme = assert(io.open("../../README.md")):read("a")
local words = {}
local function add_code(code)
  for w in code:gmatch("[%a_][%w_%.:]*") do
    w = w:gsub("[.:]+$", "")
    words[w] = true
    for part in w:gmatch("[^.:]+") do words[part] = true end
    local rest = w
    while rest:find("[.:]") do
      rest = rest:gsub("^[^.:]*[.:]", "")
      words[rest] = true
    end
  end
end
for block in readme:gmatch("```%w*\n(.-)```") do add_code(block) end
for span in readme:gsub("```%w*\n.-```", ""):gmatch("`([^`]+)`") do add_code(span) end

local missing, seen = {}, {}
local function need(path, bare)
  local short = path:gsub("^tide%.", "")
  if not (words[path] or words[short] or words[bare]) then missing[#missing + 1] = path end
end

-- tide.* and its submodules, recursively; _internal tables are skipped
local function walk(t, path)
  if seen[t] then return end
  seen[t] = true
  for k, v in pairs(t) do
    if type(k) == "string" and k ~= "_internal" and not k:find("^__") then
      local p = path .. "." .. k
      if type(v) == "function" then need(p, k)
      elseif type(v) == "table" and k ~= "config" then walk(v, p) end
    end
  end
end
for _, m in ipairs{"models", "cv", "grid", "dist", "search", "ensemble", "plot"} do
  check.truthy(type(tide[m]) == "table", "tide." .. m)
end
walk(tide, "tide")

-- methods of tide's objects (private ones start with "_")
local function methods(what, t)
  for k, v in pairs(t) do
    if type(v) == "function" and not k:find("^_") then need(what .. ":" .. k, k) end
  end
end
local X, y = tide.rand(20, 2, {seed = 1}), tide.rand(20, {seed = 2})
methods("a", getmetatable(X).__methods)
methods("rowset", getmetatable(tide.rowset(1, 2)).__methods)
methods("rng", getmetatable(tide.rng(1)).__index)
local job = tide.start(function(i) return i end, 2, {jobs = 1})
methods("job", getmetatable(job).__index)
job:close()
local pool <close> = tide.pool{jobs = 1}
methods("pool", getmetatable(pool).__index)
local mon = tide.monitor{interval = 0.01}
methods("mon", select(2, debug.getupvalue(getmetatable(mon).__index, 1)))
local rep = mon:stop()
methods("rep", getmetatable(rep).__index)
local function model_methods(m)
  local mt = getmetatable(m).__index
  if type(mt) == "function" then   -- a pipeline's (named_steps): its methods are an upvalue
    local i, name, v = 1, debug.getupvalue(mt, 1)
    while name and name ~= "Pipe" do i = i + 1; name, v = debug.getupvalue(mt, i) end
    mt = v
  end
  methods("model", mt)
  if getmetatable(mt) then methods("model", getmetatable(mt).__index) end
end
model_methods(tide.models.ridge{})
model_methods(tide.models.knn_classifier{})
model_methods(tide.models.logistic{})
model_methods(tide.models.standard_scaler{})
model_methods(tide.pipeline{tide.models.standard_scaler{}, tide.models.ridge{}})
local s = tide.search{model = tide.models.ridge{}, grid = {alpha = {1, 2}}, X = X, y = y, cv = 2,
                      jobs = 1}
methods("s", getmetatable(s).__index)
methods("curve", getmetatable(tide.learning_curve(tide.models.ridge{}, X, y,
                                                  {cv = 2, jobs = 1, sizes = {1.0}})).__index)
methods("grid", getmetatable(tide.grid{a = {1}}).__index)

table.sort(missing)
check.eq(#missing, 0, "names neither in README.md nor under _internal: " ..
                      table.concat(missing, " "))

-- modules that are not public are require-able but are no fields of tide
for _, m in ipairs{"par", "progress", "util", "opts", "models_linear"} do
  check.eq(rawget(tide, m) or tide[m], nil, "tide." .. m)
  check.truthy(require("tide." .. m), "require 'tide." .. m .. "'")
end
check.done()
