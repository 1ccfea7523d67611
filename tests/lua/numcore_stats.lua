-- numcore_stats.lua: reductions with their options (skipnan, keepdims,
-- ddof), prod, elementwise math, running sums, diff, bincount, histogram,
-- cov and corrcoef against numpy (committed fixtures, and live when
-- numpy is installed); then tide's own rules and every error message.
local check = require "check"
local numcore = require "numcore"
local tide = tide or require "tide"

numcore.fixtures("stats")
numcore.live("stats")

-- options of every reduction ---------------------------------------------------
local A = tide.array({{1.0, 2, 3, 4}, {5, 6, 7, 9}, {9, 10, 11, 12}})
check.array(A:std(1, {ddof = 1}):totable(), {4, 4, 4, math.sqrt(49 / 3)}, 1e-14,
  "a:std(1, {ddof = 1})")
check.near(A:col(1):std(nil, {ddof = 1}), 4, 1e-14, "std of a vector with ddof")
check.near(A:col(1):std({ddof = 1}), 4, 1e-14, "options without a dimension")
check.near(A:var(nil, 1), A:var({ddof = 1}), 1e-15, "positional ddof as before")
check.eq(table.concat(A:sum(1, true).shape, "x"), "1x4", "a:sum(1, true) keeps the dimension")
check.eq(table.concat(A:sum(2, {keepdims = true}).shape, "x"), "3x1", "keepdims")
check.eq(table.concat(A:max({keepdims = true}).shape, "x"), "1x1",
  "keepdims over everything gives an array")
check.eq(A:sum({skipnan = true}), A:sum(), "skipnan without NaN")
check.eq(tide.array({3, 1, 2}):argmax({skipnan = true}), 1, "skipnan on integers changes nothing")
check.eq(tide.array({1, 2, 3}):prod(), 6, "prod")
check.eq(math.type(tide.array({1, 2, 3}):prod()), "integer", "integer prod is an integer")
check.eq(tide.prod(tide.zeros(0)), 1.0, "prod of nothing")
check.eq(tide.array({1.0, 0 / 0, 4}):prod({skipnan = true}), 4.0, "nanprod")
check.errors(function() return A:sum(1, "x") end, "options table expected, got string",
  "a string after the dimension")
check.errors(function() return A:sum({ddof = 1}) end,
  "unknown option 'ddof' for sum (options: keepdims, skipnan)", "ddof is for var and std")
check.errors(function() return A:mean({skipnan = true, keepdim = true}) end,
  "did you mean 'keepdims'?", "a misspelt option")
check.errors(function() return A:std(1, {ddof = -1}) end, "option 'ddof' must be a small",
  "negative ddof")
check.errors(function() return A:sum(3, {skipnan = true}) end, "dimension 3 out of range",
  "dimension out of range")
check.errors(function() return tide.array({0 / 0, 0 / 0}):argmin({skipnan = true}) end,
  "argmin of an all-NaN slice", "nanargmin of only NaN")
check.errors(function() return A:prod(1, {}, 2) end, "options table as the last argument",
  "options not last")

-- elementwise math ------------------------------------------------------------------
check.eq(tide.sin(0), 0.0, "tide.sin of a number")
check.eq(tide.sign(-3), -1, "sign of an integer")
check.eq(math.type(tide.sign(-3)), "integer", "sign of an integer is an integer")
check.eq(tide.isnan(0 / 0), true, "isnan of a number")
check.eq(tide.isfinite(math.huge), false, "isfinite of a number")
check.near(tide.atan2(1, 1), math.pi / 4, 1e-15, "atan2 of numbers")
check.eq(tide.ones(3, "f32"):sin().dtype, "f32", "f32 stays f32")
check.eq(tide.ones(3, "i32"):log2().dtype, "f64", "integers give f64")
check.eq(tide.atan2(tide.ones(3, "f32"), 2.0).dtype, "f32", "atan2 of f32 and a number")
check.errors(function() return tide.array({true, false}):sign() end, "sign is not defined for bool",
  "sign of bool")
check.errors(function() return tide.sin("x") end, "array or number expected, got string",
  "sin of a string")
check.errors(function() return tide.atan2(A, tide.zeros(3)) end,
  "shapes 3x4 and 3 do not broadcast", "atan2 shapes")

-- running sums, diff -------------------------------------------------------------------
check.eq(tide.ones(300000):cumsum().storage, "shared", "a big result is shared")
check.eq(tide.ones(300000):cumsum()[300000], 300000.0, "cumsum of ones")
check.array(A:cumsum(1):totable()[3], {15, 18, 21, 25}, nil, "cumsum down the columns")
check.errors(function() return A:cumsum(3) end, "dimension 3 out of range", "cumsum dim")
check.errors(function() return A:diff(1, -1) end, "order must be a non-negative integer",
  "negative diff order")
check.eq(tide.array({1, 2}):diff(1, 5).size, 0, "diff past the length is empty")

-- bincount, histogram, cov ----------------------------------------------------------------
check.array(tide.bincount({3, 1, 3}):totable(), {1, 0, 2}, nil, "bincount of a table")
check.errors(function() return tide.bincount(tide.array({1, 0, 2})) end,
  "value 0 at position 2: bins are 1-based", "bincount of 0")
check.errors(function() return tide.bincount(tide.array({1.5})) end,
  "bincount counts integers, not f64", "bincount of floats")
check.errors(function() return tide.bincount(tide.array({1, 2}), tide.ones(3)) end,
  "weights of shape 3 for 2 values", "bincount weights")
check.errors(function() return tide.bincount(tide.array({1}), {minlength = -1}) end,
  "minlength must be >= 0", "negative minlength")
check.errors(function() return tide.histogram(tide.array({1.0, 0 / 0}), 3) end,
  "range [nan, nan] is not finite", "histogram of NaN without a range")
check.errors(function() return tide.histogram(A, 3, {range = {2, 1}}) end,
  "range {2, 1}: the lower end is above the upper", "histogram range backwards")
check.errors(function() return tide.histogram(A, {0, 2, 1}) end,
  "bin edges must increase (edge 2 is 2, edge 3 1)", "histogram edges")
check.errors(function() return tide.histogram(A, 0) end, "number of bins must be >= 1", "0 bins")
check.errors(function() return tide.histogram(A, 3, {bins = 2}) end, "unknown option 'bins'",
  "histogram options")
check.errors(function() return tide.histogram(A, 3, {weights = tide.ones(2)}) end,
  "weights of shape 2 for values of shape 3x4", "histogram weights")
check.eq(tide.cov(tide.array({1.0, 2, 3})), 1.0, "cov of one variable is a number")
check.errors(function() return tide.cov(tide.ones(2, 3), tide.ones(2, 4)) end,
  "x of shape 2x3 and y of shape 2x4 hold different numbers of observations", "cov shapes")
check.errors(function() return tide.cov(tide.ones(2, 2, 2)) end, "x must be 1-D or 2-D", "cov 3-D")
check.errors(function() return tide.corrcoef(A, {ddof = 1}) end, "unknown option 'ddof'",
  "corrcoef takes no ddof")

check.done()
