-- numcore.lua: sort, argsort, median, quantile(0.9) and cumsum of n float64
-- (10^8 = 800 MB by default, in shared memory), in one process (jobs = 1),
-- and sort / argsort by 2 workers; the same work as bench/numcore_numpy.py.
-- usage: tide bench/numcore.lua [n=1e8] [json-out] [reps=2]
local n = math.floor(tonumber(arg[1]) or 1e8)
local out = arg[2]
local reps = tonumber(arg[3]) or 2
local a = tide.rand(n, {seed = 1})

local function best(f)
  local t = math.huge
  for _ = 1, reps do
    collectgarbage()
    collectgarbage()
    local t0 = tide.now()
    local r = f()
    t = math.min(t, tide.now() - t0)
    if tide.is_array(r) then r:close() end
  end
  return t
end

local rows = {
  {"sort", best(function() return a:sort({jobs = 1}) end)},
  {"argsort", best(function() return a:argsort({jobs = 1}) end)},
  {"median", best(function() return a:median() end)},
  {"quantile", best(function() return a:quantile(0.9) end)},
  {"cumsum", best(function() return a:cumsum() end)},
  {"sort jobs=2", best(function() return a:sort({jobs = 2}) end)},
  {"argsort jobs=2", best(function() return a:argsort({jobs = 2}) end)},
}
local f = out and io.open(out, "a")
for _, r in ipairs(rows) do
  print(string.format("numcore  tide  %-15s %d f64: %7.3f s", r[1], n, r[2]))
  if f then
    f:write(string.format('{"bench":"numcore","impl":"tide","op":"%s","n":%d,"s":%.6f}\n',
                          r[1], n, r[2]))
  end
end
if f then f:close() end
