-- arrays.lua: sum, elementwise add and dot on a large float64 array, in GB/s
-- of input read (the same definition as bench/arrays_numpy.py).
-- usage: tide bench/arrays.lua [MB=800] [json-out]
local mb = tonumber(arg[1]) or 800
local out = arg[2]
local n = math.floor(mb * 1e6 / 8)
local a = tide.rand(n, {seed = 1})
local b = tide.rand(n, {seed = 2})

local function best(f, reps)
  local t = math.huge
  for _ = 1, reps or 3 do
    local t0 = tide.now()
    f()
    t = math.min(t, tide.now() - t0)
  end
  return t
end

local bytes = n * 8
local rows = {
  {"sum", bytes, best(function() return a:sum() end)},
  {"add", 2 * bytes, best(function() local c = a + b; c:close() end)},
  {"dot", 2 * bytes, best(function() return a:dot(b) end)},
}
local f = out and io.open(out, "a")
for _, r in ipairs(rows) do
  local gbs = r[2] / r[3] / 1e9
  print(string.format("arrays   tide  %-4s %d MB f64: %7.3f s  %6.2f GB/s", r[1], mb, r[3], gbs))
  if f then
    f:write(string.format('{"bench":"arrays","impl":"tide","op":"%s","mb":%d,"s":%.6f,"gbs":%.3f}\n',
                          r[1], mb, r[3], gbs))
  end
end
if f then f:close() end
