-- plainlua.lua: plain Lua code (no tide call), run by tide and by the stock
-- lua5.4 in the same run (scripts/bench lua): tide is a drop-in `lua`, so
-- its VM must run a script's own loops as fast.  Each workload's CPU time,
-- best of 5, in ns per step.
-- usage: tide bench/plainlua.lua [json-out]   |   lua5.4 bench/plainlua.lua
local out = arg[1]
local impl = rawget(_G, "tide") and "tide" or "lua5.4"
local n = 2000000

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

local t = {}
for i = 1, n do t[i] = i * 0.5 end
local function add(a, b) return a + b end

local cases = {
  {"table read", function() local s = 0 for i = 1, n do s = s + t[i] end return s end},
  {"function call", function() local s = 0 for i = 1, n do s = add(s, i) end return s end},
  {"closure make", function()
    local f
    for i = 1, n do f = function() return i end end
    return f
  end},
  {"string format", function()
    local s
    for i = 1, n // 10 do s = string.format("%d:%g", i, i * 0.5) end
    return s
  end, 10},
  {"table insert", function()
    local u = {}
    for i = 1, n do u[#u + 1] = i end
    return u
  end},
}

local f = out and io.open(out, "a")
for _, c in ipairs(cases) do
  local ns = best(c[2]) * (c[3] or 1)
  print(string.format("lua      %-7s %-14s %7.1f ns", impl, c[1], ns))
  if f then
    f:write(string.format('{"bench": "lua", "impl": "%s", "what": "%s", "ns": %.2f}\n', impl, c[1], ns))
  end
end
if f then f:close() end
