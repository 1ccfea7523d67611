-- access.lua: element access from Lua, in ns per element (CPU time, best of
-- 5): a Lua table read t[i], a 1-D array read v[i], X:get(i, j) on a
-- matrix, a row view r = X[i] (made and dropped: its collection is
-- counted), the same beside 16 MB of live Lua tables (which every
-- collection cycle marks: a view is a finalized userdata of 584 bytes, so
-- views pay for the heap they share), X[i][j] through the view, and writes
-- v[i] = x and X:set(i, j, x).  bench/access_numpy.py times numpy's scalar
-- indexing the same way.
-- usage: tide bench/access.lua [n=1000000] [json-out]
local n = tonumber(arg[1]) or 1000000
local out = arg[2]
local cols = 8
local v = tide.rand(n, {seed = 1})
local X = tide.rand({n // cols, cols}, {seed = 2})
local rows = n // cols
local t -- the Lua table: made for its own case and the view case beside it

local function best(f)
  local b = math.huge
  for _ = 1, 5 do
    collectgarbage()
    local t0 = os.clock()
    f()
    b = math.min(b, os.clock() - t0)
  end
  return b / n * 1e9
end

local function views()
  local r
  for _ = 1, cols do
    for i = 1, rows do r = X[i] end
  end
  return r
end

local cases = {
  {"table t[i]", function()
    local s = 0
    for i = 1, n do s = s + t[i] end
    return s
  end, true},
  {"1-D v[i]", function()
    local s = 0
    for i = 1, n do s = s + v[i] end
    return s
  end},
  {"X:get(i, j)", function()
    local s = 0
    for i = 1, rows do
      for j = 1, cols do s = s + X:get(i, j) end
    end
    return s
  end},
  {"row view X[i]", views},
  {"X[i], 16 MB live", views, true},
  {"X[i][j]", function()
    local s = 0
    for i = 1, rows do
      local r = X[i]
      for j = 1, cols do s = s + r[j] end
    end
    return s
  end},
  {"v[i] = x", function()
    for i = 1, n do v[i] = i end
  end},
  {"X:set(i, j, x)", function()
    for i = 1, rows do
      for j = 1, cols do X:set(i, j, j) end
    end
  end},
}

local f = out and io.open(out, "a")
for _, c in ipairs(cases) do
  t = c[3] and v:totable() or nil
  local ns = best(c[2])
  print(string.format("access   tide   %-16s %7.1f ns", c[1], ns))
  if f then
    f:write(string.format('{"bench": "access", "impl": "tide", "what": "%s", "ns": %.2f}\n',
                          c[1], ns))
  end
end
if f then f:close() end
