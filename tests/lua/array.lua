-- array.lua: constructors, indexing, fields, views, copies and their errors.
local check = require "check"

-- constructors and fields
local z = tide.zeros(3, 4)
check.eq(#z, 3, "#z")
check.eq(z.ndim, 2); check.eq(z.dtype, "f64"); check.eq(z.size, 12)
check.eq(z.nbytes, 96); check.eq(z.storage, "heap")
check.array(z.shape, {3, 4}, nil, "shape")
check.eq(tide.zeros({2, 5}, "f32").dtype, "f32")
check.eq(tide.zeros(100, {dtype = "i32"}).dtype, "i32")
check.eq(tide.zeros(10, {shared = true}).storage, "shared")
check.eq(tide.ones(2, 2, "int64"):get(2, 2), 1)
check.eq(tide.full({2}, 2.5)[2], 2.5)
check.eq(tide.full({2}, 7).dtype, "i64")
check.eq(tide.full({2}, true)[1], true)
check.array(tide.full(2, 3, 7).shape, {2, 3}, nil, "numbers then the value")
check.eq(tide.full(2, 3, 7):get(2, 3), 7)
check.eq(tide.full(4, 2.5, "f32").dtype, "f32")
check.eq(tide.full(2, 2, true):get(1, 2), true)
check.errors(function() tide.full(3) end, "shape and value expected")
check.array(tide.eye(3):totable(), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
check.array(tide.arange(1, 11):totable(), tide.range(1, 10):totable(), nil, "arange/range")
check.array(tide.arange(5):totable(), {0, 1, 2, 3, 4})
check.array(tide.arange(0, 1, 0.25):totable(), {0, 0.25, 0.5, 0.75})
check.array(tide.range(10, 1, -3):totable(), {10, 7, 4, 1})
check.eq(tide.arange(3, 1).size, 0, "empty arange")
check.array(tide.linspace(0, 1, 5):totable(), {0, 0.25, 0.5, 0.75, 1})
check.array(tide.logspace(0, 2, 3):totable(), {1, 10, 100}, 1e-15)
local a = tide.array({{1, 2, 3}, {4, 5, 6}})
check.eq(a.dtype, "i64"); check.array(a.shape, {2, 3})
check.eq(tide.array({1.5, 2}).dtype, "f64")
check.eq(tide.array({true, false}).dtype, "bool")
check.eq(tide.array({1, 2}, "f32").dtype, "f32")
check.eq(tide.array({}).size, 0)
check.array(tide.array(a, "f64"):totable(), {{1, 2, 3}, {4, 5, 6}}, nil, "array(copy)")

-- elements: integers stay integers, floats floats, bools booleans
check.eq(math.type(a:get(2, 3)), "integer")
check.eq(math.type(tide.zeros(2)[1]), "float")
local v = tide.arange(10)
check.eq(v[1], 0); check.eq(v[-1], 9, "negative index")
v[3] = 42; check.eq(v[3], 42)
v[4] = 2.9; check.eq(v[4], 2, "float into int truncates")
a:set(1, 1, 10); check.eq(a:get(1, 1), 10)
check.eq(a[2][3], 6, "row view then element")
check.eq(tide.zeros(3, 4, 5)[2].ndim, 2)

-- ipairs: one past the end reads nil, as for a table, so the loop stops
do
  local seen = {}
  for i, x in ipairs(tide.array({10, 20, 30})) do seen[i] = x end
  check.array(seen, {10, 20, 30}, nil, "ipairs over a 1-D array")
  check.eq(math.type(seen[1]), "integer", "ipairs gives the elements")
  local rows = 0
  for i, row in ipairs(tide.arange(6):reshape(3, 2)) do
    rows = rows + 1
    check.array(row:totable(), {2 * i - 2, 2 * i - 1}, nil, "ipairs row view " .. i)
  end
  check.eq(rows, 3, "ipairs over a 2-D array: its rows")
  local n = 0
  for _ in ipairs(tide.zeros(0)) do n = n + 1 end
  check.eq(n, 0, "ipairs over an empty array")
  local w = tide.arange(3)
  check.eq(w[4], nil, "a[#a + 1] is nil")
  check.eq(w[4.0], nil, "a[#a + 1.0] is nil")
  check.eq(tide.zeros(2, 2)[3], nil, "a row past the end is nil")
  check.errors(function() return w[5] end, "index 5 out of range for dimension 1 of size 3")
  check.errors(function() return w[0] end, "index 0 out of range for dimension 1 of size 3")
  check.errors(function() return w[-4] end, "index -4 out of range for dimension 1 of size 3")
  check.errors(function() w[4] = 1 end, "index 4 out of range for dimension 1 of size 3")
  check.errors(function() w:get(4) end, "index 4 out of range")
end

-- views share storage
local m = tide.arange(12):reshape(3, 4)
local r = m:row(2); r[1] = -1; check.eq(m:get(2, 1), -1, "row view writes through")
local c = m:col(3); c[3] = -2; check.eq(m:get(3, 3), -2, "col view writes through")
check.array(m:t().shape, {4, 3}); check.eq(m:t():get(3, 2), m:get(2, 3))
local s = m:slice(2, 2, 3)
check.array(s:totable(), {{1, 2}, {5, 6}, {9, -2}}, nil, "slice columns 2..3")
check.array(m:slice(1, -1, -1):totable(), {{8, 9, -2, 11}}, nil, "negative bounds")
check.array(tide.arange(6):slice(1, 1, 6, 2):totable(), {0, 2, 4}, nil, "step 2")
check.array(tide.arange(6):slice(1, 6, 1, -2):totable(), {5, 3, 1}, nil, "step -2")
check.array(m:reshape({2, -1}).shape, {2, 6})
check.array(m:reshape(12).shape, {12})
m[1] = 0; check.array(m[1]:totable(), {0, 0, 0, 0}, nil, "row fill")
m[2] = tide.array({1, 2, 3, 4}); check.array(m[2]:totable(), {1, 2, 3, 4}, nil, "row assign")

-- copies
local cp = m:copy(); cp[1][1] = 99; check.eq(m:get(1, 1), 0, "copy is independent")
check.eq(m:astype("f32").dtype, "f32")
local t = m:take(tide.array({3, 1})); check.array(t:totable(), {m[3]:totable(), m[1]:totable()})
check.array(m:take({2, 2}, 2):totable(), {{0, 0}, {2, 2}, {9, 9}}, nil, "take columns")
check.eq(m:t():copy():is_contiguous(), true)
check.eq(m:t():is_contiguous(), false)
-- put: take's inverse, in place; rows as a table, an index array or a rowset
local pm = tide.zeros(5, 2)
check.eq(pm:put({4, 2}, tide.array({{1, 2}, {3, 4}})), pm, "put returns the array")
check.array(pm:totable(), {{0, 0}, {3, 4}, {0, 0}, {1, 2}, {0, 0}})
pm:col(2):put(tide.rowset(1, 2), tide.array({7, 8}))
check.array(pm:col(2):totable(), {7, 8, 0, 2, 0}, nil, "put into a column view, rows a rowset")
pm:put(tide.array({5}), tide.array({{9}, {9}}):t(), 1)
check.array(pm[5]:totable(), {9, 9}, nil, "values of another layout")
pm:put({1, 1}, tide.array({{6, 1}, {6, 2}, {6, 3}, {6, 4}, {6, 5}}), 2)
check.array(pm:col(1):totable(), {1, 2, 3, 4, 5}, nil, "put along dimension 2; the last repeat wins")
check.errors(function() pm:put({6}, tide.zeros(1, 2)) end, "index 6 (position 1) out of range")
check.errors(function() pm:put({1}, tide.zeros(2)) end, "values have shape 2; 1 index(es)")

-- tostring is numpy-like with a footer
local str = tostring(tide.array({{1.5, 2}, {3, 4}}))
check.truthy(str:find("[[1.5 2. ]", 1, true), "tostring rows: " .. str)
check.truthy(str:find("[tide.array 2x2 f64 heap]", 1, true), "tostring footer")
check.truthy(tostring(tide.zeros(5000)):find("...", 1, true), "summarized")
-- long rows wrap at 75 columns, exactly as numpy prints np.arange(30)
check.eq(tostring(tide.arange(30)):match("^[^%]]*%]"),
         "[ 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23\n 24 25 26 27 28 29]",
         "wrapped like numpy")

-- closing
local cl = tide.zeros(3); cl:close(); cl:close()
check.eq(cl.closed, true)
check.errors(function() return cl[1] end, "array is closed")
do local scoped <close> = tide.zeros(2) end

-- bad input, each naming what was wrong
check.errors(function() tide.zeros(-1) end, "must not be negative")
check.errors(function() tide.zeros(2.5) end, "dimension must be an integer")
check.errors(function() tide.zeros(0/0) end, "integer")
check.errors(function() tide.zeros(math.huge) end, "integer")
check.errors(function() tide.zeros(1 << 40, 1 << 40) end, "overflow")
check.errors(function() tide.zeros(3, "complex128") end, "dtype 'complex128' is numpy's complex128")
check.errors(function() tide.zeros(3, "quad") end, "unknown dtype 'quad' (f64 f32 i64 i32 i16 i8 u64 u32 u16 u8 bool)")
check.errors(function() tide.zeros({3, -2}) end, "shape entry 2")
check.errors(function() tide.zeros() end, "shape expected")
check.errors(function() v[11] = 1 end, "index 11 out of range for dimension 1 of size 10")
check.errors(function() return v[0] end, "out of range")
check.errors(function() a:get(1) end, "1 indices given for a 2-dimensional array")
check.errors(function() m:slice(2, 1, 9) end, "out of range")
check.errors(function() m:slice(1, 1, 2, 0) end, "step must not be 0")
check.errors(function() m:slice(3, 1, 1) end, "dimension out of range")
check.errors(function() m:t():view(12) end, "without a copy")
check.errors(function() m:reshape(5) end, "cannot reshape 3x4 (12 elements) into 5")
check.errors(function() m:take({4}) end, "index 4 (position 1) out of range")
check.errors(function() m:take(tide.zeros(2)) end, "integer dtype")
check.errors(function() tide.array({{1, 2}, {3}}) end, "ragged")
check.errors(function() tide.array({"x"}) end, "number or boolean")
check.errors(function() v.foo = 1 end, "cannot set field")
check.errors(function() v[1] = "x" end, "number or boolean")
check.errors(function() tide.arange(0, 1, 0) end, "step")
check.errors(function() m:dot_this() end, "dot_this")

-- rng: same seed and stream, same numbers
local r1, r2 = tide.rng(7, 3), tide.rng(7, 3)
check.eq(r1:uniform(), r2:uniform())
check.eq(r1:normal(), r2:normal())
local p = tide.rng(1):permutation(10)
local seen = {}
for i = 1, 10 do seen[p[i]] = true end
check.eq(#seen, 10, "permutation holds 1..10")
check.eq(tide.rand(5, {seed = 3})[5], tide.rand(5, {seed = 3})[5])
check.truthy(tide.rand(5, {seed = 3})[5] ~= tide.rand(5, {seed = 3, stream = 1})[5], "streams differ")
local k = tide.rng(5):integer(1, 6); check.truthy(k >= 1 and k <= 6)
check.eq(tide.rand(3).size, 3, "rand without a seed")
check.eq(tide.randn(2, 2).size, 4, "randn without a seed")

-- config
check.eq(tide.config.share_bytes, 1 << 20)
check.errors(function() tide.config.nope = 1 end, "no setting 'nope'")
check.errors(function() tide.config.share_bytes = -1 end, "share_bytes must be >= 0")
tide.config.jobs = 3; check.eq(tide.config.jobs, 3)

-- embedded Lua modules are found from any folder
check.eq(type(require("tide.util").copy), "function")

-- reshape as numpy's: a view when strides allow, else a copy; view() never copies
do
  local r = tide.arange(12.0):reshape(3, 4)
  local c = r:col(2):reshape(3, 1)            -- a strided column, a unit dim added: a view
  c:set(2, 1, 100)
  check.eq(r:get(2, 2), 100.0, "a column reshaped to 3x1 is a view")
  local s = r:slice(1, 1, 2):reshape(8)        -- two whole rows: one block, a view
  s[8] = -1
  check.eq(r:get(2, 4), -1.0, "rows reshaped flat are a view")
  local t = r:t():reshape(12)                  -- transposed: only a copy has that order
  check.eq(t[2], r:get(2, 1), "a transposed reshape reads in C order of the view")
  t[1] = 42
  check.eq(r:get(1, 1), 0.0, "and is a copy")
  check.errors(function() return r:t():view(12) end, "without a copy", "view never copies")
  check.errors(function() return r:t():reshape(5) end, "cannot reshape", "a size mismatch is still an error")
  local z = tide.zeros(0, 3):t():reshape(3, 0)
  check.eq(z.shape[1], 3, "empty arrays reshape")
end

-- Element access's fast paths keep the slow paths' edges: keys that are
-- not integers, negative and out-of-range indices, wrong index counts,
-- closed and read-only arrays, rowsets, views of views, and methods.
do
  local v = tide.array({10, 20, 30})
  local M = tide.array({{1, 2, 3}, {4, 5, 6}})
  check.eq(v[2.0], 20, "a float key with an integer value")
  check.errors(function() return v[2.5] end, "number has no integer representation")
  check.eq(v["2"], nil, "a numeric string is a field name, not an index")
  check.eq(v[4], nil, "one past the end reads nil")
  check.eq(v[-3], 10, "-n is the first")
  check.errors(function() return v[-4] end, "index -4 out of range")
  check.eq(M:get(-1, -1), 6, "get: negative indices")
  check.eq(M:get(2.0, 1), 4, "get: float indices with integer values")
  check.errors(function() return M:get(3, 1) end, "index 3 out of range for dimension 1 of size 2")
  check.errors(function() return M:get(1, 4) end, "index 4 out of range for dimension 2 of size 3")
  check.errors(function() return M:get(1, "x") end, "number expected, got string")
  check.errors(function() return M:get(1, 1, 1) end, "3 indices given for a 2-dimensional array")
  check.eq(tide.zeros(2, 2, 2):get(2, 2, 2), 0, "get: three dimensions")
  check.errors(function() M:set(1, 5, 0) end, "index 5 out of range")
  check.eq(M:set(-1, 1, 9):get(2, 1), 9, "set returns the array")
  local row = M[-1]
  check.array(row, {9, 5, 6}, nil, "a row view by a negative index")
  check.eq(row.ndim, 1, "a row view has one dimension fewer")
  check.eq(row.storage, M.storage, "a row view shares the storage")
  row[2] = 50
  check.eq(M:get(2, 2), 50, "writes through a row view")
  local T = tide.zeros(2, 3, 4)
  T:set(2, 3, 4, 7)
  check.eq(T[2][3][4], 7, "a view of a view")
  check.eq(#T[2], 3, "#view")
  check.array(T[2].shape, {3, 4}, nil, "a view's shape")
  check.array(M:t()[3], {3, 6}, nil, "a row of a transposed view")
  local seen = 0
  for i, r in ipairs(M) do seen = seen + 1; check.eq(#r, 3, "ipairs row " .. i) end
  check.eq(seen, 2, "ipairs over rows stops one past the end")
  check.eq(M.get, tide.zeros(1).get, "methods are shared")
  check.eq(v.shape[1], 3, "fields after the method lookup")
  check.eq(v.nonesuch, nil, "an unknown field is nil")
  local cl = tide.array({1, 2})
  cl:close()
  check.errors(function() return cl[1] end, "array is closed")
  check.errors(function() return cl:get(1) end, "array is closed")
  check.errors(function() cl[1] = 2 end, "array is closed")
  check.errors(function() return #cl end, "array is closed")
  local rs = tide.rowset(5, 7)
  check.eq(rs:get(2), 6, "a rowset through get")
  check.errors(function() rs:set(1, 1) end, "rowset is read-only")
  local mt = getmetatable(v)
  check.errors(function() return mt.__index(rs, 1) end, "tide.array expected")
  check.errors(function() return mt.__index({}, 1) end, "tide.array expected")
  -- arrays are told by their tag (l_array.c, tag_array), never by a read of
  -- another kind of userdata: files, generators, rowsets, closed arrays
  local others = {io.stdout, tide.rng(1), rs, tide.rowset(1, 40), cl, tide.zeros(0)}
  for k, o in ipairs(others) do
    local ok, err = pcall(M.get, o, 1, 1)
    check.truthy(not ok and (err:find("expected") or err:find("closed") or err:find("indices")
                             or err:find("out of range")), "get refuses value " .. k .. ": " .. tostring(err))
    check.truthy(not pcall(M.set, o, 1, 1, 0), "set refuses value " .. k)
  end
  check.errors(function() return mt.__len(io.stdout) end, "array expected")
  check.errors(function() return mt.__index(io.stdout, 1) end, "tide.array expected")
  check.errors(function() return M.get(io.stdout, 1, 1) end, "array expected")
  check.errors(function() return mt.__len("x") end, "array expected")
end

check.done()
