-- design_names.lua: every tide.* name and every method that DESIGN.md
-- sections 2-6 use exists.  Names that later issues build are listed below
-- with their issue; when one exists, this test fails until it leaves the
-- list, so the list stays true.  (Behaviour is tested where each name lives.)
local check = require "check"
local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set"):gsub("/tests/fixtures$", "")
local f = io.open(root .. "/../shared/DESIGN.md")
if not f then
  print("DESIGN.md is not beside the checkout (../shared): skipped")
  os.exit(77)
end
local text = f:read("a")
f:close()
local body = text:match("\n## 2%..-\n## 7%.")
assert(body, "DESIGN.md has sections 2 to 7")

local pending = {
  -- issue 11: more models
  -- issue 19: the numpy/scipy core
}
local pending_prefix = {}
local function is_pending(name)
  if pending[name] then return pending[name] end
  for p, n in pairs(pending_prefix) do
    if name == p or name:sub(1, #p) == p and p:sub(-1) == "." then return n end
  end
end

-- tide.config's fields may be nil until set: they exist when setting works.
local function config_field(k)
  local old = tide.config[k]
  return (pcall(function() tide.config[k] = old end))
end

local function resolve(name)
  if name:match("^tide%.config%.") then return config_field(name:sub(13)) end
  local v = _G
  for part in name:gmatch("[^.]+") do
    if type(v) ~= "table" then return false end
    v = v[part]
    if v == nil then return false end
  end
  return true
end

local seen = {}
for name in body:gmatch("tide%.[%a_][%w_%.]*[%w_]") do
  if not seen[name] then
    seen[name] = true
    local exists, issue = resolve(name), is_pending(name)
    if issue then
      check.truthy(not exists, name .. " exists now: take it off issue " .. issue .. "'s list")
    else
      check.truthy(exists, name .. " (DESIGN.md) exists")
    end
  end
end

-- methods, by the variable names DESIGN.md gives their objects
local X = tide.rand({40, 2}, {seed = 1})
local y = X:col(1) * 2
local mon = tide.monitor{interval = 0.05}
local job = tide.start(function(i) return i end, 2, {jobs = 2})
job:wait()
local objects = {
  a = tide.arange(6.0):reshape(2, 3),
  r = tide.rng(1), rng = tide.rng(1),
  m = tide.models.logistic{},
  job = job,
  pool = tide.pool{jobs = 2},
  s = tide.search{model = tide.models.ridge{}, grid = {alpha = {1, 2}}, X = X, y = y,
                  cv = tide.cv.kfold(40, 2), jobs = 2},
  mon = mon,
  g = tide.memoize(function(x) return x end, {dir = (function()
    local t = os.tmpname(); os.remove(t); return t .. ".d" end)()}),
}
local methods = {}
for obj, meth in body:gmatch("([%a_]+):([%a_][%w_]*)%(") do methods[obj .. ":" .. meth] = {obj, meth} end
objects.rep = mon:stop()
local nchecked = 0
for name, om in pairs(methods) do
  local o = objects[om[1]]
  local issue = is_pending(name)
  if o == nil then
    check.truthy(issue, name .. ": no object of that name to check (add one to this test)")
  else
    nchecked = nchecked + 1
    local exists = type(o[om[2]]) == "function"
    if issue then
      check.truthy(not exists, name .. " exists now: take it off issue " .. issue .. "'s list")
    else
      check.truthy(exists, name .. " (DESIGN.md) is a method")
    end
  end
end
check.truthy(nchecked > 40, "methods checked: " .. nchecked)
objects.pool:close()
os.execute("rm -rf " .. objects.g.dir)
check.done()
