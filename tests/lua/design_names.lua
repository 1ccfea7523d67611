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
  ["tide.models.decision_tree_classifier"] = 11, ["tide.models.decision_tree_regressor"] = 11,
  ["tide.models.random_forest_classifier"] = 11, ["tide.models.random_forest_regressor"] = 11,
  ["tide.models.svc"] = 11, ["tide.models.svr"] = 11, ["tide.models.kmeans"] = 11,
  ["tide.models.pca"] = 11,
  -- issue 12: persistence
  ["tide.memoize"] = 12, ["tide.dump"] = 12, ["tide.undump"] = 12,
  ["g:clear"] = 12, ["g:info"] = 12,
  -- issue 19: the numpy/scipy core
  ["tide.atan2"] = 19, ["tide.bincount"] = 19, ["tide.concat"] = 19, ["tide.convolve"] = 19,
  ["tide.corrcoef"] = 19, ["tide.correlate"] = 19, ["tide.cov"] = 19, ["tide.diag"] = 19,
  ["tide.histogram"] = 19, ["tide.outer"] = 19, ["tide.stack"] = 19, ["tide.tril"] = 19,
  ["tide.triu"] = 19, ["tide.unique"] = 19, ["tide.zeros_like"] = 19,
  ["a:argsort"] = 19, ["a:cumprod"] = 19, ["a:cumsum"] = 19, ["a:diff"] = 19,
  ["a:flatten"] = 19, ["a:flip"] = 19, ["a:median"] = 19, ["a:prod"] = 19,
  ["a:quantile"] = 19, ["a:repeat_each"] = 19, ["a:roll"] = 19, ["a:searchsorted"] = 19,
  ["a:sort"] = 19, ["a:split"] = 19, ["a:squeeze"] = 19, ["a:tile"] = 19, ["a:topk"] = 19,
  ["a:trace"] = 19, ["a:unsqueeze"] = 19,
  ["rng:choice"] = 19, ["rng:integers"] = 19, ["rng:shuffle"] = 19,
}
local pending_prefix = {["tide.fft."] = 19, ["tide.linalg."] = 19, ["tide.optimize."] = 19,
                        ["tide.fft"] = 19, ["tide.linalg"] = 19, ["tide.optimize"] = 19}
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
check.done()
