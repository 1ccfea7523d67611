-- numcore_sort.lua: sort, argsort (both stable, descending too), topk,
-- unique, searchsorted, median and quantile (every numpy method) against
-- numpy (committed fixtures, and live when numpy is installed); then long
-- lanes (radix paths) against short-lane results, and every error message.
local check = require "check"
local numcore = require "numcore"
local tide = tide or require "tide"

numcore.fixtures("sort")
numcore.live("sort")

-- long lanes: the radix sort (2048 and more) and the radix selection (65536
-- and more) against what the sorted lane says --------------------------------------
local function quantile_of_sorted(s, q) -- numpy's linear method on a sorted vector
  local n = #s
  local v = (n - 1) * q
  local i0 = math.floor(v)
  local g = v - i0
  local a, b = s[i0 + 1], s[math.min(i0 + 2, n)]
  if v >= n - 1 then return s[n] end
  local d = b - a
  return g >= 0.5 and b - d * (1 - g) or a + d * g
end

local rng = tide.rng(7)
local n = 100003
local data = {
  uniform = tide.rand(n, {seed = 3}),
  normal = tide.randn(n, {seed = 4}) * 1e6,
  ties = (tide.rand(n, {seed = 5}) * 20):floor(),              -- 20 values, many ties
  narrow = tide.rand(n, {seed = 6}) * 1e-9 + 1,                 -- one exponent: deep selection
  same = tide.full(n, 3.25),
  ints = (tide.randn(n, {seed = 8}) * 2 ^ 40):astype("i64"),
  f32 = tide.randn(n, {seed = 9}):astype("f32"),
  u8 = (tide.rand(n, {seed = 10}) * 256):astype("u8"),
}
for name, x in pairs(data) do
  local s = x:sort()
  local sorted = true
  local st = s:totable()
  for i = 2, n do if st[i] < st[i - 1] then sorted = false break end end
  check.truthy(sorted, name .. ": sorted")
  local idx = x:argsort()
  check.truthy(tide.is_array(idx) and idx.dtype == "i64", name .. ": argsort gives i64")
  check.array(x:take(idx):totable(), st, nil, name .. ": the positions give the sorted values")
  local stable = true
  local it = idx:totable()
  for i = 2, n do
    if st[i] == st[i - 1] and it[i] < it[i - 1] then stable = false break end
  end
  check.truthy(stable, name .. ": equal values keep their order")
  local ds = x:argsort({descending = true}):totable()
  local xs = x:totable()
  local ok = true
  for i = 2, n do
    local a, b = xs[ds[i - 1]], xs[ds[i]]
    if a < b or (a == b and ds[i] < ds[i - 1]) then ok = false break end
  end
  check.truthy(ok, name .. ": descending and stable")
  local mid = (st[(n + 1) // 2] + st[(n + 2) // 2]) / 2
  check.eq(x:median(), mid, name .. ": median of a long lane")
  for _, q in ipairs{0, 0.001, 0.25, 0.5, 0.9, 0.999, 1} do
    local want = quantile_of_sorted(st, q)
    check.near(x:quantile(q), want, 0, name .. ": quantile " .. q)
    check.eq(x:quantile(q, {method = "lower"}), st[math.floor((n - 1) * q) + 1],
      name .. ": lower quantile " .. q)
  end
  local qs = x:quantile({0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}):totable() -- sorted way
  for i, q in ipairs{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95} do
    check.near(qs[i], quantile_of_sorted(st, q), 0, name .. ": many quantiles " .. q)
  end
  local tv, ti = x:topk(5)
  check.array(tv:totable(), {st[n], st[n - 1], st[n - 2], st[n - 3], st[n - 4]}, nil,
    name .. ": topk of a long lane")
  check.array(x:take(ti):totable(), tv:totable(), nil, name .. ": topk's positions")
  local u, c = tide.unique(x, {counts = true})
  check.eq(c:sum(), n, name .. ": unique counts add up")
  check.eq(u[1], st[1], name .. ": unique starts with the smallest")
end
-- NaN in a long lane
local withnan = tide.rand(n, {seed = 11})
withnan[5] = 0 / 0
withnan[n] = 0 / 0
check.truthy(withnan:median() ~= withnan:median(), "a NaN makes the median NaN")
local clean = withnan[withnan:eq(withnan)]
check.eq(withnan:median({skipnan = true}), clean:median(), "skipnan leaves the NaNs out")
check.eq(withnan:quantile(0.7, {skipnan = true}), clean:quantile(0.7), "nanquantile")
check.truthy(withnan:sort()[n] ~= withnan:sort()[n], "NaN sorts last")
check.truthy(withnan:sort({descending = true})[n] ~= withnan:sort({descending = true})[n],
  "NaN sorts last descending too")
-- lanes of a matrix, long enough for the radix sort, along both dimensions
local M = tide.randn(3000, 4, {seed = 12})
local byc = M:sort(1)
for j = 1, 4 do
  check.array(byc:col(j):totable(), M:col(j):sort():totable(), nil, "column " .. j .. " sorted")
end
check.array(M:t():median(2):totable(), M:median(1):totable(), nil, "medians of a transposed view")
local big = tide.rand(300000, {seed = 13})
check.eq(big:sort().storage, "shared", "a big sort's result is shared")
check.eq(big:argsort({jobs = 1}).storage, "shared", "argsort's too")
check.eq(tide.array({true, false, true}):quantile(0.5), 1.0, "bools count as 0 and 1")

-- the parallel sort (workers over shared memory) gives the one-process result -----------------
local old_min = tide._internal.sort_parallel_min(1000)
for _, dt in ipairs{"f64", "f32", "i64", "i32", "u8", "bool"} do
  local x = (tide.randn(30011, {seed = 21}) * 40):astype(dt)
  if dt == "f64" then
    x[3], x[10], x[11], x[500] = 0 / 0, -0.0, 0.0, 0 / 0
  end
  local views = {plain = x, shared = x:copy({shared = true}), strided = x:slice(1, 2, -1, 3)}
  for vname, v in pairs(views) do
    for _, desc in ipairs{false, true} do
      local what = string.format("%s %s%s", dt, vname, desc and " descending" or "")
      local s1, s2 = v:sort({jobs = 1, descending = desc}), v:sort({jobs = 2, descending = desc})
      local a1, a2 = v:argsort({jobs = 1, descending = desc}), v:argsort({jobs = 2, descending = desc})
      check.truthy(a1:eq(a2):all(), what .. ": parallel argsort equals the serial one")
      check.truthy(s1:eq(s2):lor(s1:ne(s1):land(s2:ne(s2))):all(),
        what .. ": parallel sort equals the serial one")
      check.eq(s2.dtype, v.dtype, what .. ": dtype kept")
    end
  end
end
local many = tide.rand(50000, {seed = 22})
local sorted = many:sort({jobs = 2})
check.eq(sorted.storage, "shared", "the parallel result is shared")
sorted[1] = -1
check.eq(sorted[1], -1.0, "and writable")
local seen = tide.collect(function(i)
  return (pcall(function() sorted[i] = 0 end))
end, 2, {jobs = 2})
check.eq(seen[1], false, "read-only in later loops' workers, like any result")
check.errors(function() return many:sort({jobs = 0}) end, "option 'jobs' must be a positive count",
  "jobs = 0")
tide._internal.sort_parallel_min(old_min)

-- errors ------------------------------------------------------------------------------
local A = tide.array({3.0, 1, 2})
check.errors(function() return A:topk(4) end, "k = 4 is outside 0..3 (the size of dimension 1)",
  "topk k")
check.errors(function() return A:topk(1, 1, {smallest = true}) end, "unknown option 'smallest'",
  "topk options")
check.errors(function() return A:sort(2) end, "dimension 2 out of range", "sort dimension")
check.errors(function() return A:sort({descending = true, order = 1}) end,
  "unknown option 'order' for sort", "sort options")
check.errors(function() return A:sort(1, 2) end, "options table expected, got number", "sort args")
check.errors(function() return A:quantile(1.5) end, "quantile 1.5 is outside [0, 1]",
  "quantile(1.5)")
check.errors(function() return A:quantile({0.5, -1}) end, "quantile -1 is outside [0, 1]",
  "a quantile in a table")
check.errors(function() return A:quantile(0 / 0) end, "is outside [0, 1]", "quantile NaN")
check.errors(function() return A:quantile() end, "quantile (a number, table or array) expected",
  "quantile without q")
check.errors(function() return A:quantile(0.5, {method = "cubic"}) end,
  "unknown quantile method 'cubic'", "quantile method")
check.errors(function() return A:quantile(0.5, {interpolation = "linear"}) end,
  "unknown option 'interpolation' for quantile", "numpy's old keyword")
check.errors(function() return tide.zeros(0):median() end, "median of a zero-size array",
  "median of nothing")
check.errors(function() return tide.zeros(2, 0):quantile(0.5, 2) end,
  "quantile of a zero-size array", "quantile of empty lanes")
check.errors(function() return tide.zeros(2, 2):searchsorted(1) end,
  "searchsorted needs a sorted 1-D array, not a 2-dimensional one", "searchsorted 2-D")
check.errors(function() return A:searchsorted(1, {side = "middle"}) end,
  "option 'side' must be \"left\" or \"right\", got 'middle'", "searchsorted side")
check.errors(function() return tide.unique(A, {count = true}) end,
  "unknown option 'count' for tide.unique", "unique options")
check.errors(function() return tide.zeros({}):sort() end, "nothing to sort", "sort a 0-d array")

check.done()
