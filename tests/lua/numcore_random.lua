-- numcore_random.lua: rng:integers, rng:choice and rng:shuffle -- ranges,
-- shapes, distinct draws, weights, the same draws on any number of workers
-- (counter-based streams), and every error message.  Their numbers are
-- tide's own (Philox), not numpy's: only their properties are compared.
local check = require "check"
local tide = tide or require "tide"

local r = tide.rng(11)

-- integers -----------------------------------------------------------------------
local x = r:integers(-2, 3, 6000)
check.eq(x.dtype, "i64", "integers are i64")
check.eq(x:min(), -2, "the low end is drawn")
check.eq(x:max(), 3, "the high end is drawn (inclusive, as r:integer)")
check.eq(table.concat(r:integers(1, 9, {2, 3}).shape, "x"), "2x3", "a shape table")
check.eq(math.type(r:integers(1, 9)), "integer", "no size: one integer")
check.eq(r:integers(5, 5, 3):sum(), 15, "a one-value interval")
check.eq(tide.rng(3):integers(0, 1e12 // 1, 4):totable()[2], tide.rng(3):integers(0, 1e12 // 1, 4)[2],
  "the same stream, the same numbers")
local big = tide.rng(1):integers(1, 10, 300000)
check.eq(big.storage, "shared", "a big result is shared")

-- choice ----------------------------------------------------------------------------
local c = r:choice(7, 5000)
check.eq(c:min(), 1, "choice(n) draws 1..n")
check.eq(c:max(), 7, "up to n")
local d = r:choice(50, 50, {replace = false})
check.array(d:sort():totable(), tide.range(1, 50):totable(), nil, "all of them without replacement")
local huge = r:choice(1e15 // 1, 2000, {replace = false})   -- positions in a hash table
check.eq(tide.unique(huge).size, 2000, "distinct draws from a huge range")
check.truthy(huge:min() >= 1 and huge:max() <= 1e15, "within the range")
local p = {0.5, 0.25, 0, 0.25}
local w = r:choice(4, 40000, {p = p})
local counts = tide.bincount(w, {minlength = 4}):totable()
check.eq(counts[3], 0, "a zero probability is never drawn")
check.truthy(math.abs(counts[1] / 40000 - 0.5) < 0.02, "frequencies follow p: " .. counts[1])
check.truthy(math.abs(counts[2] / 40000 - 0.25) < 0.02, "frequencies follow p: " .. counts[2])
local wn = r:choice(4, 3, {p = tide.array(p), replace = false})
check.array(wn:sort():totable(), {1, 2, 4}, nil, "weighted without replacement: the nonzero ones")
local first = {0, 0, 0}
for i = 1, 3000 do
  local v = tide.rng(i):choice(3, 1, {p = {0.7, 0.2, 0.1}, replace = false})[1]
  first[v] = first[v] + 1
end
check.truthy(math.abs(first[1] / 3000 - 0.7) < 0.04, "the first weighted draw follows p")
local vals = tide.array({10.5, 20.5, 30.5})
local cv = r:choice(vals, 100)
check.eq(cv.dtype, "f64", "choice from an array keeps its dtype")
check.truthy(cv:eq(10.5):lor(cv:eq(20.5)):lor(cv:eq(30.5)):all(), "its values")
local rows = r:choice(tide.arange(12):reshape(4, 3), 5)
check.eq(table.concat(rows.shape, "x"), "5x3", "choice from a matrix draws rows")
check.truthy((rows:col(2) - rows:col(1)):eq(1):all(), "rows kept whole")
check.eq(type(r:choice(vals)), "number", "no size: one element")
check.eq(type(r:choice({"a", "b"})), "string", "a choice from a table gives its values")
local letters = r:choice({"x", "y", "z"}, 6)
check.eq(#letters, 6, "a table of draws")
check.eq(table.concat(r:choice(5, {3, 2}).shape, "x"), "3x2", "a shape of draws")

-- shuffle ----------------------------------------------------------------------------
local a = tide.range(1, 20)
check.truthy(rawequal(tide.rng(9):shuffle(a), a), "shuffle returns its array")
check.array(a:totable(), tide.rng(9):permutation(20):totable(), nil,
  "shuffling 1..n is the permutation of the same stream")
local m = tide.arange(15):reshape(5, 3)
tide.rng(2):shuffle(m)
check.array(m:col(1):sort():totable(), {0, 3, 6, 9, 12}, nil, "rows are moved whole")
check.truthy((m:col(3) - m:col(1)):eq(2):all(), "rows are moved whole")
local t = {1, 2, 3, 4, 5, 6}
tide.rng(9):shuffle(t)
check.array(t, tide.rng(9):permutation(6):totable(), nil, "a Lua table, the same draws")
local v = tide.arange(10.0):slice(1, 1, 10, 2)
tide.rng(4):shuffle(v)
check.eq(v:sum(), 20.0, "a strided view is shuffled in place")

-- a task's draws do not depend on the number of workers -----------------------------------
local function draws(i)
  local g = tide.task_rng()
  return {g:integers(1, 1000, 3):totable(), g:choice(100, 2, {replace = false}):totable()}
end
local one = tide.collect(draws, 6, {jobs = 1, seed = 42})
local two = tide.collect(draws, 6, {jobs = 2, seed = 42})
for i = 1, 6 do
  check.array(two[i][1], one[i][1], nil, "task " .. i .. " integers on 1 or 2 workers")
  check.array(two[i][2], one[i][2], nil, "task " .. i .. " choice on 1 or 2 workers")
end

-- errors ---------------------------------------------------------------------------------
check.errors(function() return r:integers(3, 1, 2) end, "empty interval 3..1", "integers order")
check.errors(function() return r:integers(1, 2, -1) end, "size must be >= 0", "negative size")
check.errors(function() return r:choice(3, 4, {replace = false}) end,
  "cannot draw 4 without replacement from 3", "too many draws")
check.errors(function() return r:choice(3, 3, {replace = false, p = {0.5, 0.5, 0}}) end,
  "cannot draw 3 without replacement from 2 values of nonzero probability", "too few weights")
check.errors(function() return r:choice(3, 4, {p = {0.2, 0.2}}) end,
  "option 'p' holds 2 probabilities for a choice among 3", "p length")
check.errors(function() return r:choice(3, 4, {p = {0.2, 0.2, 0.2}}) end,
  "probabilities add up to 0.6", "p sum")
check.errors(function() return r:choice(2, 4, {p = {1.5, -0.5}}) end,
  "probability 2 is -0.5", "negative p")
check.errors(function() return r:choice(3, 4, {weights = {1, 1, 1}}) end,
  "unknown option 'weights' for choice", "choice options")
check.errors(function() return r:choice(0, 1) end, "cannot draw from nothing", "choice from 0")
check.errors(function() return r:choice("abc", 1) end, "count, array or table expected", "a string")
check.errors(function() return r:shuffle(tide.zeros({})) end, "nothing to shuffle",
  "shuffle a 0-d array")
local ro = tide.rowset(1, 5)
check.errors(function() return r:shuffle(ro) end, "rowset is read-only", "shuffle a rowset")

check.done()
