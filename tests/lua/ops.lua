-- ops.lua: arithmetic, comparisons, math, reductions, where and matmul from
-- Lua, every error message, and (when numpy is installed) a live comparison.
local check = require "check"
local tide = tide or require "tide"

local A = tide.array({{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}})   -- 3x4 i64
local F = tide.array({{1.5, -2, 3}, {4, 5, -6.25}})                   -- 2x3 f64

-- arithmetic with scalars on either side -------------------------------------
check.array((A + 1):totable(), {{2, 3, 4, 5}, {6, 7, 8, 9}, {10, 11, 12, 13}}, nil, "a + 1")
check.array((1 - A):totable()[1], {0, -1, -2, -3}, nil, "1 - a")
check.array((A * 2):totable()[3], {18, 20, 22, 24}, nil, "a * 2")
check.array((A / 2):totable()[1], {0.5, 1.0, 1.5, 2.0}, nil, "a / 2")
check.array((A // 3):totable()[2], {1, 2, 2, 2}, nil, "a // 3")
check.array((-A // 3):totable()[1], {-1, -1, -1, -2}, nil, "floor division rounds down")
check.array((A % 5):totable()[3], {4, 0, 1, 2}, nil, "a % 5")
check.array((-A % 5):totable()[1], {4, 3, 2, 1}, nil, "modulo takes the divisor's sign")
check.array((A ^ 2):totable()[1], {1, 4, 9, 16}, nil, "a ^ 2")
check.array((-A):totable()[1], {-1, -2, -3, -4}, nil, "-a")
check.array((2 ^ tide.array({1, 2, 3})):totable(), {2, 4, 8}, nil, "2 ^ a")
check.array((10 / tide.array({4.0, 8.0})):totable(), {2.5, 1.25}, nil, "10 / a")
check.array(F:add(F):totable()[2], {8, 10, -12.5}, nil, "a:add(b)")
check.array(F:sub(1):totable()[1], {0.5, -3, 2}, nil, "a:sub(1)")
check.array(F:mul(F):totable()[1], {2.25, 4, 9}, nil, "a:mul(b)")
check.array(F:div(2):totable()[1], {0.75, -1, 1.5}, nil, "a:div(2)")
check.array(F:pow(2):totable()[1], {2.25, 4, 9}, nil, "a:pow(2)")

-- dtypes ----------------------------------------------------------------------
check.eq((A + 1).dtype, "i64", "i64 + int")
check.eq((A + 1.5).dtype, "f64", "i64 + float")
check.eq((A / 1).dtype, "f64", "true division")
check.eq((A // 2).dtype, "i64", "floor division keeps ints")
local S = tide.ones(3, "f32")
check.eq((S + 1.5).dtype, "f32", "f32 + float stays f32")
check.eq((S * 2).dtype, "f32", "f32 * int stays f32")
check.eq((S + tide.ones(3)).dtype, "f64", "f32 + f64")
check.eq((S + tide.ones(3, "i32")).dtype, "f64", "f32 + i32 -> f64 (numpy)")
check.eq((S + tide.ones(3, "u8")).dtype, "f32", "f32 + u8 -> f32")
check.eq((tide.ones(3, "i32") + 2).dtype, "i32", "i32 + int")
check.eq((tide.ones(3, "bool") + 1).dtype, "i64", "bool + int -> i64")
check.eq((tide.ones(3, "u8") + tide.ones(3, "i32")).dtype, "i32", "u8 + i32")
check.eq(tide.ones(3, "i32"):sqrt().dtype, "f64", "sqrt of ints")
check.eq(S:exp().dtype, "f32", "exp of f32")

-- broadcasting ----------------------------------------------------------------
local row = tide.array({10, 20, 30, 40})
local col = tide.array({{100}, {200}, {300}})
check.array((A + row):totable()[2], {15, 26, 37, 48}, nil, "row broadcast")
check.array((A + col):totable()[3], {309, 310, 311, 312}, nil, "column broadcast")
check.array((col + row):totable()[2], {210, 220, 230, 240}, nil, "3x1 + 4 -> 3x4")
check.eq(#(col + row), 3, "outer shape")
check.array((A + tide.array({{1, 1, 1, 1}})):totable()[1], {2, 3, 4, 5}, nil, "1x4 row")
check.array((A:t() * col:reshape(3)):totable()[1], {100, 1000, 2700}, nil, "transposed view")
check.errors(function() return A + tide.zeros(5) end,
  "bad argument #2 to '__add' (shapes 3x4 and 5 do not broadcast)", "shape mismatch")
check.errors(function() return A * tide.zeros(2, 4) end,
  "bad argument #2 to '__mul' (shapes 3x4 and 2x4 do not broadcast)", "shape mismatch 2-D")
check.errors(function() return A:add(tide.zeros(4, 3)) end,
  "shapes 3x4 and 4x3 do not broadcast", "method shape mismatch")

-- in place ----------------------------------------------------------------------
local B = A:copy()
check.truthy(rawequal(B:add_(1), B), "add_ returns self")
check.array(B:totable()[1], {2, 3, 4, 5}, nil, "add_")
B:sub_(row):mul_(2)
check.array(B:totable()[1], {-16, -34, -52, -70}, nil, "sub_ then mul_ with a row")
local D = tide.ones(2, 3)
D:div_(4)
check.near(D:get(2, 3), 0.25, 0, "div_")
local I = tide.array({5, 7})
I:mul_(1.5)
check.array(I:totable(), {7, 10}, nil, "in-place float result cast to the int target")
D:add_(tide.array({{1}, {2}}))
check.near(D:get(2, 1), 2.25, 0, "add_ with a column")
check.errors(function() D:add_(tide.zeros(4, 2, 3)) end, "does not broadcast to 2x3 in place",
  "in-place shape")
local Q = tide.array({{1.0, 2}, {3, 4}})
Q:add_(Q:t())
check.array(Q:totable(), {{2, 5}, {5, 8}}, nil, "a:add_(a:t()) reads before writing")

-- errors ------------------------------------------------------------------------
local closed = tide.zeros(3)
closed:close()
check.errors(function() return closed + 1 end, "bad argument #1 to '__add' (array is closed)",
  "closed array")
check.errors(function() return 1 + closed end, "array is closed", "closed array on the right")
check.errors(function() return closed:sum() end, "array is closed", "sum of a closed array")
check.errors(function() return A + "x" end,
  "bad argument #2 to '__add' (array or number expected, got string)", "string operand")
check.errors(function() return "2" * A end,
  "bad argument #1 to '__mul' (array or number expected, got string)", "string on the left")
check.errors(function() return A + true end, "array or number expected, got boolean", "boolean")
check.errors(function() return A + {} end, "got table", "table operand")
check.errors(function() return A:add_("x") end, "array or number expected, got string",
  "in-place string")
check.errors(function() return A // 0 end,
  "bad argument #2 to '__idiv' (integer division by zero)", "int // 0")
check.errors(function() return A % tide.array({1, 0, 1, 1}) end, "integer division by zero",
  "int % array with a zero")
check.errors(function() return A:copy():mod_(0) end, "integer division by zero", "mod_ 0")
check.errors(function() return A ^ -1 end, "negative integer powers", "int ^ -1")
check.errors(function() return tide.ones(2, "u8") + 300 end, "integer 300 does not fit in u8",
  "scalar out of the dtype's range")
check.truthy((A // 0.0):get(1, 1) == math.huge, "float floor division by zero is inf")
check.truthy(((A * 0) / 0):get(1, 1) ~= ((A * 0) / 0):get(1, 1), "0/0 is nan")
check.errors(function() return A:sum(3) end,
  "dimension 3 out of range for a 2-dimensional array", "dim out of range")
check.errors(function() return A:mean(0) end, "dimension 0 out of range", "dim 0")
check.errors(function() return A:sum("x") end, "integer dimension expected", "dim not a number")
check.errors(function() return A:var(nil, -1) end, "ddof", "negative ddof")
check.errors(function() return tide.zeros(0):mean() end, "zero-size array", "mean of empty")
check.errors(function() return tide.zeros(0, 3):max(1) end, "zero-size array", "max of empty")
check.errors(function() return A < A end, "attempt to compare", "< is not elementwise")
check.errors(function() return tide.sqrt("x") end, "array expected, got string", "sqrt of string")
check.errors(function() return A:clamp("a") end, "array or number expected", "clamp bound")

-- comparisons, logic, where -------------------------------------------------------
check.truthy(A == A, "== compares identity")
check.truthy(not (A == A:copy()), "a copy is another object")
local m = A:gt(6)
check.eq(m.dtype, "bool", "comparison dtype")
check.array(m:totable()[2], {false, false, true, true}, nil, "gt")
check.array(A:le(row / 10):totable()[1], {true, true, true, true}, nil, "le with broadcast")
check.array(A:eq(6):totable()[2], {false, true, false, false}, nil, "eq scalar")
check.array(A:ne(6):totable()[2], {true, false, true, true}, nil, "ne scalar")
check.array(A:lt(2.5):totable()[1], {true, true, false, false}, nil, "lt float scalar")
check.array(A:ge(A:t():t()):totable()[3], {true, true, true, true}, nil, "ge")
check.array(m:logical_not():totable()[3], {false, false, false, false}, nil, "logical_not")
check.array(m:land(A:lt(11)):totable()[3], {true, true, false, false}, nil, "land")
check.array(m:lor(A:eq(1)):totable()[1], {true, false, false, false}, nil, "lor")
check.array(m:eq(true):totable()[3], {true, true, true, true}, nil, "eq true")
check.eq(m:count(), 6, "count")
check.eq(m:any(), true, "any")
check.eq(m:all(), false, "all")
check.eq(tide.zeros(0):all(), true, "all of empty")
check.array(m:count(2):totable(), {0, 2, 4}, nil, "count along dim 2")
check.array(tide.where(m):totable(), {7, 8, 9, 10, 11, 12}, nil, "where(mask): 1-based flat")
check.array(tide.where(tide.array({0, 3, 0, 1})):totable(), {2, 4}, nil, "where of numbers")
check.eq(tide.where(tide.zeros(3)).size, 0, "where with nothing true")
check.array(tide.where(m, A, 0):totable()[2], {0, 0, 7, 8}, nil, "where(mask, a, 0)")
check.array(tide.where(m, 1.5, col):totable()[1], {100, 100, 100, 100}, nil,
  "where(mask, scalar, column)")
check.eq(tide.where(m, 1.5, col).dtype, "f64", "where dtype")
check.errors(function() return tide.where(m, tide.zeros(2), 0) end, "do not broadcast",
  "where shapes")
check.array(A:maximum(6):totable()[1], {6, 6, 6, 6}, nil, "maximum")
check.array(A:minimum(row / 10):totable()[3], {1, 2, 3, 4}, nil, "minimum")

-- math ----------------------------------------------------------------------------
check.near(tide.sqrt(tide.array({4.0, 9.0})):get(2), 3, 0, "tide.sqrt")
check.near(tide.sqrt(16), 4, 0, "tide.sqrt of a number")
check.eq(tide.abs(-3), 3, "tide.abs of an integer")
check.array(tide.array({-1, 2, -3}):abs():totable(), {1, 2, 3}, nil, "abs keeps ints")
check.near(tide.array({1.0}):exp():get(1), math.exp(1), 1e-15, "exp")
check.near(tide.log(tide.array({math.exp(2)})):get(1), 2, 1e-15, "log")
check.array(A:clamp(3, 10):totable()[1], {3, 3, 3, 4}, nil, "clamp")
check.array(A:clamp(nil, 2):totable()[1], {1, 2, 2, 2}, nil, "clamp upper only")
check.eq(A:clamp(0, 2.5).dtype, "f64", "clamp with a float bound")
check.array(tide.clamp(F, -1, 1):totable()[1], {1, -1, 1}, nil, "tide.clamp")
check.eq(F:neg():get(1, 2), 2.0, "neg")
local R = tide.array({-1.5, -0.5, 0.5, 1.5, 2.5, 2.7})
check.array(R:floor():totable(), {-2, -1, 0, 1, 2, 2}, nil, "floor")
check.array(R:ceil():totable(), {-1, 0, 1, 2, 3, 3}, nil, "ceil")
check.array(R:round():totable(), {-2, 0, 0, 2, 2, 3}, nil, "round half to even (numpy)")
check.eq(A:floor().dtype, "i64", "floor of ints keeps them")
check.eq(tide.floor(2.5), 2.0, "tide.floor of a number")
local C = A:copy()
check.truthy(rawequal(C:clamp_(2, 5), C), "clamp_ returns self")
check.array(C:totable()[1], {2, 2, 3, 4}, nil, "clamp_")
check.array(C:totable()[3], {5, 5, 5, 5}, nil, "clamp_ upper")

-- reductions ------------------------------------------------------------------------
check.eq(A:sum(), 78, "sum")
check.eq(math.type(A:sum()), "integer", "int sum is a Lua integer")
check.eq(math.type(F:sum()), "float", "float sum is a Lua float")
check.array(A:sum(1):totable(), {15, 18, 21, 24}, nil, "sum(1): column sums")
check.array(A:sum(2):totable(), {10, 26, 42}, nil, "sum(2): row sums")
check.array(A:sum(-1):totable(), {10, 26, 42}, nil, "sum(-1): last dim")
check.near(A:mean(), 6.5, 1e-15, "mean")
check.array(A:mean(2):totable(), {2.5, 6.5, 10.5}, 1e-15, "mean(2)")
check.near(A:var(), 143 / 12, 1e-14, "var (ddof 0)")
check.near(A:var(nil, 1), 13, 1e-14, "var with ddof 1")
check.near(A:std(), math.sqrt(143 / 12), 1e-14, "std")
check.array(A:std(1):totable(), {math.sqrt(32 / 3), math.sqrt(32 / 3), math.sqrt(32 / 3),
  math.sqrt(32 / 3)}, 1e-14, "std(1)")
check.eq(A:min(), 1, "min")
check.eq(A:max(), 12, "max")
check.eq(math.type(A:max()), "integer", "int max is an integer")
check.array(A:max(1):totable(), {9, 10, 11, 12}, nil, "max(1)")
check.array(A:min(2):totable(), {1, 5, 9}, nil, "min(2)")
check.eq(A:argmax(), 12, "argmax: 1-based flat index")
check.eq(A:argmin(), 1, "argmin")
check.array(A:argmax(1):totable(), {3, 3, 3, 3}, nil, "argmax(1)")
check.array(F:argmin(2):totable(), {2, 3}, nil, "argmin(2)")
check.near(tide.array({3.0, 4.0}):norm(), 5, 1e-15, "norm")
check.array(tide.array({{3.0, 4.0}, {6, 8}}):norm(2):totable(), {5, 10}, 1e-15, "norm(2)")
check.eq(tide.array({true, false}):max(), true, "max of bool is a boolean")
check.eq(tide.zeros(0):sum(), 0.0, "sum of empty")
local nan = tide.array({1.0, 0 / 0, 3})
check.truthy(nan:max() ~= nan:max(), "max with NaN is NaN")
check.truthy(nan:sum() ~= nan:sum(), "sum with NaN is NaN")
check.eq(nan:argmax(), 2, "argmax finds the NaN")
check.eq(tide.sum(A), 78, "tide.sum")
check.eq(tide.array({1, 2, 3}):sum(1), 6, "sum(1) of a vector is a number")
check.eq(tide.array({1, 5, 3}):argmax(1), 2, "argmax(1) of a vector")
check.eq(S:sum(), 3.0, "f32 sum")
check.eq(tide.ones(2, 3, "f32"):sum(1).dtype, "f32", "f32 sum along a dim stays f32")
local T3 = tide.arange(24):reshape(2, 3, 4)
check.array(T3:sum(2):totable(), {{12, 15, 18, 21}, {48, 51, 54, 57}}, nil, "3-D sum(2)")
check.array(T3:t():sum(1):totable()[1], {6, 54}, nil, "sum of a transposed view")

-- matmul ------------------------------------------------------------------------------
local M = tide.array({{1.0, 2}, {3, 4}, {5, 6}})       -- 3x2
local N = tide.array({{1.0, 0, 2}, {0, 1, 3}})          -- 2x3
check.array(tide.matmul(M, N):totable(), {{1, 2, 8}, {3, 4, 18}, {5, 6, 28}}, 1e-15, "matmul")
check.array(M:dot(tide.array({1.0, 1.0})):totable(), {3, 7, 11}, 1e-15, "matrix . vector")
check.array(tide.array({1.0, 1, 1}):dot(M):totable(), {9, 12}, 1e-15, "vector . matrix")
check.eq(tide.array({1.0, 2}):dot(tide.array({3.0, 4})), 11.0, "vector . vector is a number")
check.array(tide.matmul(M:t(), M):totable(), {{35, 44}, {44, 56}}, 1e-15, "transposed view")
check.array(tide.matmul(tide.array({{1, 2}, {3, 4}}), tide.array({{1, 1}, {1, 1}})):totable(),
  {{3, 3}, {7, 7}}, nil, "integer matmul")
check.eq(tide.matmul(tide.array({{1, 2}}), tide.array({{1}, {1}})).dtype, "i64", "int -> i64")
check.eq(tide.matmul(tide.ones(2, 2, "f32"), tide.ones(2, 2, "f32")).dtype, "f32", "f32 gemm")
check.errors(function() return tide.matmul(tide.zeros(3, 4), tide.zeros(5, 2)) end,
  "bad argument #2 to 'matmul' (shapes 3x4 and 5x2 do not align)", "matmul shapes")
check.errors(function() return tide.matmul(tide.zeros(2, 2, 2), tide.zeros(2)) end,
  "1-D or 2-D", "matmul of a 3-D array")
check.errors(function() return tide.matmul(M, 2) end, "array expected", "matmul of a number")

-- temporaries in a loop do not pile up in shared memory ---------------------------------
do
  local big1, big2 = tide.ones(300000), tide.ones(300000)     -- 2.4 MB each: shared
  check.eq(big1.storage, "shared", "big arrays are shared")
  -- this process's own pid, so the count never depends on who runs ls
  local stat = io.open("/proc/self/stat")
  local pid = stat:read("n")
  stat:close()
  local before = check.shm_fds(pid)
  check.truthy(before >= 2, "the two arrays are seen as segments")
  for _ = 1, 60 do
    local c = big1 + big2
    c = c * 2
  end
  local alive = check.shm_fds(pid) - before
  check.truthy(alive <= 6, "dead results are collected (" .. alive .. " segments alive)")
end

-- numpy, live, when it is installed -----------------------------------------------------------
local function numpy_ok()
  local p = io.popen("/usr/bin/python3 -c 'import numpy' 2>/dev/null && echo yes")
  if not p then return false end
  local out = p:read("a")
  p:close()
  return out:find("yes", 1, true) ~= nil
end

local function pylist(t)
  if type(t) ~= "table" then return string.format("%.17g", t) end
  local parts = {}
  for i = 1, #t do parts[i] = pylist(t[i]) end
  return "[" .. table.concat(parts, ",") .. "]"
end

if numpy_ok() then
  local r = tide.arange(0, 60):reshape(5, 12) * 0.37
  r = (r % 1.7) - 0.8                                    -- 5x12 f64, mixed signs
  local v = tide.linspace(-1, 2, 12)
  local src = "import numpy as np\n" ..
    "r = np.array(" .. pylist(r:totable()) .. ")\n" ..
    "v = np.array(" .. pylist(v:totable()) .. ")\n" ..
    "out = [r.sum(), r.sum(0)[3], r.sum(1)[4], r.var(0)[5], r.std(1)[2], r.mean(),\n" ..
    "       np.linalg.norm(r), r.argmax() + 1, r.argmin(0)[7] + 1, (r @ v)[2],\n" ..
    "       (r.T @ r)[3, 4], (r + v)[1, 9], np.where(r > 0.5, r, -1.0).sum(), v @ v]\n" ..
    "print(' '.join(repr(float(x)) for x in out))\n"
  local path = os.tmpname()
  local f = io.open(path, "w")
  f:write(src)
  f:close()
  local p = io.popen("/usr/bin/python3 " .. path)
  local line = p:read("a")
  p:close()
  os.remove(path)
  local want = {}
  for x in line:gmatch("%S+") do want[#want + 1] = tonumber(x) end
  local got = {r:sum(), r:sum(1)[4], r:sum(2)[5], r:var(1)[6], r:std(2)[3], r:mean(),
    r:norm(), r:argmax(), r:argmin(1)[8], r:dot(v)[3], tide.matmul(r:t(), r):get(4, 5),
    (r + v):get(2, 10), tide.where(r:gt(0.5), r, -1.0):sum(), v:dot(v)}
  check.eq(#want, #got, "numpy printed every figure")
  for i = 1, #got do check.near(got[i], want[i] or 0 / 0, 1e-12, "numpy figure " .. i) end
else
  print("numpy not available: live comparison skipped")
end

check.done()
