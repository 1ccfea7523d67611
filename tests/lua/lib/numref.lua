-- numref.lua: comparing tide's numbers with numpy's and scipy's, from
-- committed fixtures or live through Debian's /usr/bin/python3.
local check = require "check"
local tide = tide or require "tide"
local numref = {}

-- The values of an array (any shape) or a number, as a flat Lua list.
local function flat(a)
  if type(a) == "number" then return {a} end
  local f = a:reshape(a.size)
  local t = {}
  for i = 1, a.size do t[i] = f[i] end
  if type(t[1]) == "boolean" then
    for i = 1, #t do t[i] = t[i] and 1 or 0 end
  end
  return t
end
numref.flat = flat

local function shape_of(a)
  if type(a) == "number" then return "scalar" end
  return table.concat(a.shape, "x")
end

-- Normwise relative difference: max |a - b| / max |b| (b's scale; 1 when b
-- is all zeros).  math.huge when the shapes differ or a value is NaN where
-- the other is not.
function numref.maxrel(a, b)
  if shape_of(a) ~= shape_of(b) then return math.huge end
  local x, y = flat(a), flat(b)
  local scale, worst = 0, 0
  for i = 1, #y do
    if math.abs(y[i]) > scale then scale = math.abs(y[i]) end
  end
  if scale == 0 or scale ~= scale then scale = 1 end
  for i = 1, #y do
    local d
    if x[i] == y[i] then d = 0 -- inf == inf
    else d = math.abs(x[i] - y[i]) / scale end
    if d ~= d then return math.huge end
    if d > worst then worst = d end
  end
  return worst
end

-- check that a and b agree to tol (normwise, relative), naming what.
function numref.close(a, b, tol, what)
  local d = numref.maxrel(a, b)
  return check.truthy(d <= tol, string.format("%s: %s vs %s, max rel diff %.3g > %.3g", what,
                                              shape_of(a), shape_of(b), d, tol))
end

-- The columns of a (a matrix) with the signs that make each closest to
-- the same column of b: SVD and eigenvectors are unique up to sign.
function numref.match_signs(a, b, dim)
  dim = dim or 2
  local out = a:copy()
  local n = a.shape[dim]
  for j = 1, n do
    local ca = dim == 2 and a:col(j) or a:row(j)
    local cb = dim == 2 and b:col(j) or b:row(j)
    if (ca * cb):sum() < 0 then
      local oc = dim == 2 and out:col(j) or out:row(j)
      oc:mul_(-1)
    end
  end
  return out
end

-- True when /usr/bin/python3 imports every module named.
function numref.have_python(...)
  local mods = table.concat({...}, ", ")
  local p = io.popen("/usr/bin/python3 -c 'import " .. mods .. "' 2>/dev/null && echo yes")
  local r = p and p:read("a") or ""
  if p then p:close() end
  return r:find("yes") ~= nil
end

-- Runs Python code with I, a dict of the given arrays (saved as .npy), and
-- returns what the code put in the dict O (numbers and arrays, complex ones
-- as ... x 2 real arrays), through an .npz.  Raises when Python fails.
function numref.live(inputs, code)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. dir))
  local names = {}
  for k, v in pairs(inputs) do
    tide.save(dir .. "/" .. k .. ".npy", v)
    names[#names + 1] = k
  end
  local f = assert(io.open(dir .. "/run.py", "w"))
  f:write("import sys, warnings\nimport numpy as np\nwarnings.simplefilter('ignore')\n",
          "d = sys.argv[1]\nI = {}\n")
  for _, k in ipairs(names) do f:write(string.format("I[%q] = np.load(d + '/%s.npy')\n", k, k)) end
  -- complex results arrive as tide's m x 2 layout
  f:write("O = {}\n", code, "\n",
          "def c2(v):\n    v = np.asarray(v)\n",
          "    return np.ascontiguousarray(v).view(np.float64).reshape(v.shape + (2,)) ",
          "if np.iscomplexobj(v) else v\n",
          "np.savez(d + '/out.npz', **{k: c2(v) for k, v in O.items()})\n")
  f:close()
  local ok = os.execute("/usr/bin/python3 " .. dir .. "/run.py " .. dir)
  local z = ok and tide.load(dir .. "/out.npz")
  os.execute("rm -rf " .. dir)
  assert(ok, "python failed on: " .. code)
  return z
end

return numref
