-- tide.dist: distributions for randomized search.  Each has :sample(rng)
-- and a readable tostring.
local dist = {}
local Dist = {}
Dist.__index = Dist
Dist.__tostring = function(d) return d.text end

local function new(text, sample) return setmetatable({text = text, sample = sample}, Dist) end

function dist.is(v) return getmetatable(v) == Dist end

local function num(v, what, fname)
  if type(v) ~= "number" or v ~= v then
    error(string.format("bad argument to '%s' (%s must be a number)", fname, what), 3)
  end
end

-- loguniform(a, b): exp(uniform(log a, log b)), as scipy.stats.loguniform.
function dist.loguniform(a, b)
  num(a, "a", "loguniform"); num(b, "b", "loguniform")
  if a <= 0 or b <= a then error("loguniform: need 0 < a < b", 2) end
  local la, lb = math.log(a), math.log(b)
  return new(string.format("loguniform(%g, %g)", a, b),
             function(_, r) return math.exp(r:uniform(la, lb)) end)
end

-- uniform(a, b): uniform on [a, b).
function dist.uniform(a, b)
  num(a, "a", "uniform"); num(b, "b", "uniform")
  if b <= a then error("uniform: need a < b", 2) end
  return new(string.format("uniform(%g, %g)", a, b), function(_, r) return r:uniform(a, b) end)
end

-- randint(a, b): an integer in a..b, both included.
function dist.randint(a, b)
  if math.type(a) ~= "integer" or math.type(b) ~= "integer" or b < a then
    error("randint: need integers a <= b", 2)
  end
  return new(string.format("randint(%d, %d)", a, b), function(_, r) return r:integer(a, b) end)
end

-- choice{v1, v2, ...}: one of the values, equally likely.
function dist.choice(values)
  if type(values) ~= "table" or #values == 0 then error("choice: need a non-empty list", 2) end
  local parts = {}
  for i, v in ipairs(values) do parts[i] = tostring(v) end
  return new("choice{" .. table.concat(parts, ", ") .. "}",
             function(_, r) return values[r:integer(1, #values)] end)
end

return dist
