-- tide.grid{name = values, ...}: a parameter grid.  Candidates come in a
-- fixed order: names sorted, the last name varying fastest (scikit-learn's
-- ParameterGrid).  Values are Lua lists or tide arrays; an entry may be a
-- distribution (tide.dist.*) for randomized search.  A list of such tables
-- is the union of their grids, in order.
local tide = require "tide"
local dist = require "tide.dist"
local Grid = {}
Grid.__index = Grid

local function values_of(v, name)
  if tide.is_array(v) then
    if v.ndim ~= 1 then error("grid: values of '" .. name .. "' must be a 1-D array", 4) end
    return v:totable()
  end
  if dist.is(v) then return v end
  if type(v) ~= "table" then return {v} end  -- a single fixed value
  if #v == 0 then error("grid: '" .. name .. "' has no values", 4) end
  return v
end

local function sub(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'grid' (table expected)", 4) end
  local names = {}
  for k in pairs(spec) do
    if type(k) ~= "string" then error("grid: parameter names must be strings", 4) end
    names[#names + 1] = k
  end
  table.sort(names)
  local vals, size, random = {}, 1, false
  for i, k in ipairs(names) do
    vals[i] = values_of(spec[k], k)
    if dist.is(vals[i]) then random = true else size = size * #vals[i] end
  end
  return {names = names, values = vals, size = size, random = random}
end

local function new(spec)
  local parts = {}
  if spec[1] ~= nil and type(spec[1]) == "table" and not tide.is_array(spec[1]) then
    for i, s in ipairs(spec) do parts[i] = sub(s) end
  else
    parts[1] = sub(spec)
  end
  local g = setmetatable({parts = parts, random = false, size = 0}, Grid)
  for _, p in ipairs(parts) do
    g.size = g.size + p.size
    g.random = g.random or p.random
  end
  return g
end

-- The i-th candidate (1-based) of a grid without distributions.
function Grid:candidate(i)
  for _, p in ipairs(self.parts) do
    if i <= p.size then
      local c, rest = {}, i - 1
      for j = #p.names, 1, -1 do
        local vs = p.values[j]
        c[p.names[j]] = vs[rest % #vs + 1]
        rest = rest // #vs
      end
      return c
    end
    i = i - p.size
  end
  return nil
end

-- All candidates, in order (a grid without distributions).
function Grid:candidates()
  if self.random then error("grid: a grid with distributions has no fixed candidate list; give a budget", 2) end
  local out = {}
  for i = 1, self.size do out[i] = self:candidate(i) end
  return out
end

-- budget candidates at random: without replacement from a plain grid
-- (all of it when it is smaller than the budget), else each parameter
-- drawn on its own (scikit-learn's ParameterSampler).
function Grid:sample(budget, seed)
  if math.type(budget) ~= "integer" or budget < 1 then
    error("grid: budget must be a positive integer", 2)
  end
  local r = tide.rng(seed or 0, 0)
  local out = {}
  if not self.random then
    if budget >= self.size then return self:candidates() end
    local perm = r:permutation(self.size)
    for i = 1, budget do out[i] = self:candidate(perm[i]) end
    return out
  end
  for i = 1, budget do
    local p = self.parts[r:integer(1, #self.parts)]
    local c = {}
    for j, name in ipairs(p.names) do
      local vs = p.values[j]
      c[name] = dist.is(vs) and vs:sample(r) or vs[r:integer(1, #vs)]
    end
    out[i] = c
  end
  return out
end

function Grid:__len() return self.size end
function Grid:__tostring()
  return string.format("tide.grid(%d candidates%s)", self.size, self.random and ", randomized" or "")
end

-- Text of one candidate: {alpha=0.001, l1_ratio=0.1} with sorted names.
function Grid.format(params)
  local names = {}
  for k in pairs(params) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do
    local v = params[k]
    parts[i] = k .. "=" .. (type(v) == "number" and string.format("%.6g", v)
                             or type(v) == "string" and string.format("%q", v) or tostring(v))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

return setmetatable({Grid = Grid, format = Grid.format},
                    {__call = function(_, spec) return new(spec) end})
