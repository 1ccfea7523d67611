-- numcore_shape.lua: joining, splitting, repeating, reordering, diagonals,
-- triangles, the *_like constructors and boolean masks against numpy
-- (committed fixtures, and live when numpy is installed); then views,
-- masks on mapped files, and every error message.
local check = require "check"
local numcore = require "numcore"
local tide = tide or require "tide"

numcore.fixtures("shape")
numcore.fixtures("mask")
numcore.live("shape")
numcore.live("mask")

-- views share storage; copies do not ---------------------------------------------
local A = tide.arange(12.0):reshape(3, 4)
local parts = A:split({1, 3}, 2)
parts[2]:set(1, 1, 100)
check.eq(A:get(1, 2), 100.0, "split gives views")
A:flip(2):set(1, 1, -1)
check.eq(A:get(1, 4), -1.0, "flip is a view")
A:unsqueeze(1):squeeze(1):set(3, 4, 7)
check.eq(A:get(3, 4), 7.0, "unsqueeze and squeeze are views")
A:flatten()[1] = 55
check.eq(A:get(1, 1), 0.0, "flatten copies")
check.eq(tide.array({{5}}):squeeze().ndim, 0, "squeeze to 0 dimensions")
check.eq(#tide.concat({tide.rowset(1, 3), tide.array({9})}), 4, "a rowset joins as its rows")
local big = tide.zeros(200000)
check.eq(tide.concat({big, big}).storage, "shared", "big results are shared")
check.eq(big:tile(2).storage, "shared", "tile result shared")
check.eq(tide.zeros_like(big).storage, "shared", "zeros_like of a big array is shared")
check.eq(tide.zeros_like(A, {shared = true}).storage, "shared", "zeros_like takes options")
check.eq(tide.full_like(tide.zeros(2, "i64"), 2 ^ 62 // 1 + 1):get(1), 2 ^ 62 // 1 + 1,
  "full_like keeps integers exact")
check.eq(tide.array({{1, 2}, {3, 4}}):trace(), 5, "trace")
check.eq(math.type(tide.array({{1, 2}, {3, 4}}):trace()), "integer", "integer trace")

-- masks on views and mapped files --------------------------------------------------------
local M = tide.arange(1, 13):reshape(3, 4)
local T = M:t()                          -- 4x3 view
T[T:gt(10)] = 0
check.array(M:totable()[3], {9, 10, 0, 0}, nil, "a mask writes through a transposed view")
local path = os.tmpname() .. ".npy"
tide.save(path, tide.arange(10.0))
do
  local f = tide.load(path, {mmap = "r+"})
  check.eq(f.storage, "file", "mapped")
  check.array(f[f:ge(7)]:totable(), {7, 8, 9}, nil, "a[mask] of a mapped file")
  f[f:lt(3)] = -1
  f:flush()
  f:close()
  check.array(tide.load(path):totable(), {-1, -1, -1, 3, 4, 5, 6, 7, 8, 9}, nil,
    "a[mask] = v reaches the file")
  local r = tide.load(path, {mmap = "r"})
  check.errors(function() r[r:lt(0)] = 1 end, "array is read-only", "mapped read-only")
  r:close()
end
os.remove(path)

-- errors ------------------------------------------------------------------------------------
A = tide.arange(12.0):reshape(3, 4)
check.errors(function() return tide.concat({}) end, "a list of one or more arrays expected",
  "concat of nothing")
check.errors(function() return tide.concat({A, 3}) end, "entry 2 is number, not an array",
  "concat of a number")
check.errors(function() return tide.concat({A, tide.zeros(3, 5)}, 1) end,
  "array 2 has shape 3x5 and array 1 3x4: dimension 2 differs (only dimension 1 may)",
  "concat shapes")
check.errors(function() return tide.concat({A, tide.zeros(4)}) end,
  "array 2 has shape 4 and array 1 3x4: the dimension counts differ", "concat ranks")
check.errors(function() return tide.concat({A, A}, 3) end, "dimension 3 out of range (1..2)",
  "concat dimension")
check.errors(function() return tide.stack({A, A:t()}) end,
  "array 2 has shape 4x3 and array 1 3x4: stacked arrays must have one shape", "stack shapes")
check.errors(function() return A:split(3, 2) end,
  "3 equal parts of a dimension of size 4 (give the sizes as a table)", "split unequal")
check.errors(function() return A:split({1, 2}, 2) end,
  "sizes add up to 3, not to the dimension's size 4", "split sizes")
check.errors(function() return A:squeeze(1) end, "cannot squeeze dimension 1 of size 3",
  "squeeze a big dimension")
check.errors(function() return A:unsqueeze(4) end, "dimension 4 out of range (1..3)",
  "unsqueeze range")
check.errors(function() return A:tile(2, -1) end, "repetition 2 is negative", "tile negative")
check.errors(function() return A:repeat_each({1, 2}, 1) end,
  "2 repeat counts for a dimension of size 3", "repeat counts")
check.errors(function() return A:repeat_each(-1) end, "repeat count -1 (position 1) is negative",
  "repeat negative")
check.errors(function() return tide.diag(tide.zeros(2, 2, 2)) end,
  "diag takes a vector or a matrix, not a 3-dimensional array", "diag 3-D")
check.errors(function() return tide.zeros(3):trace() end, "a diagonal needs a matrix", "trace 1-D")
check.errors(function() return A:roll("x") end, "number expected", "roll by a string")
check.errors(function() return A[tide.ones(3, 5, "bool")] end,
  "mask of shape 3x5 for an array of shape 3x4", "mask shape")
check.errors(function() return A[tide.ones(4, "bool")] end,
  "mask of shape 4 for an array of shape 3x4", "row mask length")
check.errors(function() return A[tide.ones(3, 4)] end,
  "an index array must be a bool mask, not f64", "mask dtype")
check.errors(function() A[A:gt(5)] = tide.zeros(2) end,
  "values of shape 2 for a selection of shape 6 (6 selected)", "values count")
check.errors(function() A[A:gt(5)] = "x" end, "takes a number, a boolean or an array, not string",
  "values of a string")
check.errors(function() A[tide.rng(1)] = 1 end, "must be a number or a bool mask", "an rng index")

check.done()
