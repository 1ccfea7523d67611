-- api_fuzz.lua: what the API fuzzer (tests/fuzz/fuzz_api.c) found, as
-- plain Lua.  Each call once crashed, overflowed or grew memory until the
-- process was killed; each must now raise a clear error (or return).
local check = require "check"

-- A rowset names 2^40 rows for free; its totable() grew a Lua table until
-- the machine killed the process.  Refused by count and by the memory check.
check.errors(function() return tide.rowset(1, 2 ^ 40):totable() end, "do not fit in a Lua table")
check.errors(function() return tide.rowset{{1, 3}, {10, 1 << 33}}:totable() end,
             "do not fit in a Lua table")
check.array(tide.rowset(2, 4):totable(), {2, 3, 4}, nil, "small ones still convert")

-- An array with no elements but a dimension past 2^31 - 1: totable() cast the
-- dimension to int for lua_createtable.
local wide = tide.zeros(2 ^ 31 + 5, 0)
check.errors(function() return wide:totable() end, "does not fit in a Lua table")
check.eq(#tide.zeros(3, 0):totable(), 3, "three empty rows")

-- tide.diag(v, k) with a huge offset: n + |k| overflowed (and -k for the
-- smallest integer), UBSan's signed overflow.
local v = tide.array({1, 2, 3})
check.errors(function() return tide.diag(v, math.maxinteger) end, "is too large")
check.errors(function() return tide.diag(v, math.mininteger) end, "is too large")
check.array(tide.diag(v, 1):totable(),
            {{0, 1, 0, 0}, {0, 0, 2, 0}, {0, 0, 0, 3}, {0, 0, 0, 0}}, nil, "a small offset still works")
local m = tide.arange(6):reshape(2, 3)
check.eq(#tide.diag(m, math.mininteger), 0, "the smallest offset: an empty diagonal")
check.eq(#tide.diag(m, math.maxinteger), 0, "the largest offset: an empty diagonal")

-- r:choice(t, size) allocated size * 8 bytes for the indices before any
-- check: size 2^31 from an empty table took 16 GB; a shape's product overflowed.
local r = tide.rng(1)
check.errors(function() return r:choice({}, 1 << 40) end, "cannot allocate")
check.errors(function() return r:choice(3, {1 << 40, 1 << 40}) end, "element count overflows")
check.eq(#r:choice({"a", "b"}, 5), 5, "a small draw still works")

-- tide.arange / tide.range with a span past 2^63 (1e300, or a tiny step,
-- or bounds whose difference overflows): the count was cast to an integer
-- before the length check, UBSan's float-cast-overflow.
check.errors(function() return tide.arange(0, 1e300) end, "range is too long")
check.errors(function() return tide.range(1, 1e300) end, "range is too long")
check.errors(function() return tide.arange(0, 1, 1e-300) end, "range is too long")
check.errors(function() return tide.range(-1e308, 1e308) end, "range is too long")
check.eq(#tide.arange(0, 1, 0.25), 4, "a short float range still works")

-- tril / triu with an offset near the integer limits: i + k + 1 overflowed
-- (UBSan's signed overflow); such an offset keeps all or nothing.
local sq = tide.arange(1, 10):reshape(3, 3)
check.array(tide.tril(sq, math.maxinteger):totable(), sq:totable(), nil, "tril, largest offset: all")
check.array(tide.triu(sq, math.mininteger):totable(), sq:totable(), nil, "triu, smallest offset: all")
check.eq(tide.tril(sq, math.mininteger):sum(), 0, "tril, smallest offset: nothing")
check.eq(tide.triu(sq, math.maxinteger):sum(), 0, "triu, largest offset: nothing")
check.array(tide.tril(sq, -1):totable(), {{0, 0, 0}, {4, 0, 0}, {7, 8, 0}}, nil, "a small offset still works")

-- a:split(2^40) of an empty dimension: 2^40 views, the heap grew until the
-- process was killed.  The number of parts is bounded.
check.errors(function() return tide.zeros(0):split(1 << 40) end, "at most 1048576")
check.errors(function() return tide.zeros(1 << 21, 0):split(1 << 21) end, "at most 1048576")
check.eq(#tide.zeros(0):split(3), 3, "an empty dimension in a few parts still works")
check.eq(#tide.arange(6):split(3)[2], 2, "so do equal parts")

-- take / put with a rowset of 2^40 rows (two numbers): 8 TB of indices were
-- asked of the allocator (an abort under ASan); now admitted first.
local huge = tide.rowset(1, 1 << 40)
check.errors(function() return tide.zeros(3):take(huge) end, "for the indices")
check.errors(function() return tide.zeros(3):put(huge, tide.zeros(1)) end, "for the indices")
check.eq(tide.arange(1, 6):take(tide.rowset(2, 3)):sum(), 5, "a small rowset still takes")

-- A value made a hash alias of itself (or two of each other): hashing it
-- followed the aliases without end, past the C stack (ASan's SEGV in
-- lua_rawget, through tide._internal.memo.key).  Aliases are bounded as
-- nesting is.
local f, g = function() end, function() end
tide._internal.hash_alias(f, f)
check.errors(function() return tide.hash(f) end, "hash aliases that loop")
check.errors(function() return tide._internal.memo.key("x", f) end, "hash aliases that loop")
tide._internal.hash_alias(f, g)
tide._internal.hash_alias(g, f)
check.errors(function() return tide.hash({f}) end, "hash aliases that loop")
local h1 = function() return 1 end
local w = function() end
tide._internal.hash_alias(g, h1)
tide._internal.hash_alias(w, h1)
check.eq(tide.hash(g), tide.hash(w), "aliases that end hash as their end")

-- tide.histogram(a, n) with n = math.maxinteger: the edge count n + 1
-- overflowed (UBSan's signed overflow) before any size check.
check.errors(function() return tide.histogram(tide.arange(5), math.maxinteger) end, "too many")
check.eq(#tide.histogram(tide.arange(5), 4), 4, "a few bins still work")

-- The tree kernels' bootstrap of n_draw draws ran n_draw steps whatever
-- it was: 2^62 never ended (the fuzz run's timeout), and counts past 2^32
-- wrapped.  At most the rows, as scikit-learn's max_samples.
local K = tide._internal.models
check.errors(function() return K.tree_bootstrap(1, 1, 5, 1 << 62) end, "at most the rows")
-- n rows up to 2^32 - 1 made Lua allocate the counts (4 bytes a row, 16 GB)
-- without the memory check; now admitted first, with the result's 8 a row
check.errors(function() return K.tree_bootstrap(1, 1, (1 << 32) - 1, 1) end, "cannot allocate")
check.eq(#K.tree_bootstrap(1, 1, 5, 5), 5, "a bootstrap of the rows still draws")

-- ridge_moments(m, p, ...) took any p: the moments' length 3 + 2p + p^2
-- overflowed for the smallest integer (UBSan) before the size check
check.errors(function() return K.ridge_moments(tide.zeros(3), math.mininteger, {}) end,
             "out of range")
check.errors(function() return K.enet_moments(tide.zeros(3), math.maxinteger, {}) end,
             "out of range")
check.errors(function() return K.ridge_moments(tide.zeros(3), 1, {}) end, "wrong size")

-- tide.range(-3, math.mininteger, math.mininteger): its length, counted in
-- doubles, was two, and the second value, -3 + math.mininteger, overflowed
-- int64 (UBSan) as it was stored. Integer ranges are now counted in integers:
-- that second value lies past the end, and the ends near 2^63 are kept.
local M, m = math.maxinteger, math.mininteger
check.array(tide.range(-3, m, m), {-3}, 0, "one value: the next is past the end")
check.array(tide.range(M - 2, M), {M - 2, M - 1, M}, 0, "range up to maxinteger")
check.array(tide.arange(M - 2, M), {M - 2, M - 1}, 0, "arange up to maxinteger")
check.array(tide.range(m, m + 4, 2), {m, m + 2, m + 4}, 0, "range from mininteger")
check.array(tide.arange(M, M - 7, -3), {M, M - 3, M - 6}, 0, "arange down from maxinteger")
check.eq(#tide.range(M, m), 0, "an empty range across the whole int64 line")
check.errors(function() return tide.range(m, M) end, "range is too long")
check.array(tide.range(-3, 3, 3), {-3, 0, 3}, 0, "a small integer range still works")

-- tide.linalg.pinv of [-inf 0 1 1.58] ran LAPACK's SVD for over a minute (the
-- fuzz run's timeout): the iterative routines now refuse NaN and infinity
local bad = tide.array({{-math.huge, 0, 1, 1.5849625}})
for _, f in ipairs({"pinv", "svd", "matrix_rank"}) do
  check.errors(function() return tide.linalg[f](bad) end, "holds NaN or infinity")
end
local sq = tide.array({{0 / 0, 1}, {1, 2}})
check.errors(function() return tide.linalg.eigh(sq) end, "holds NaN or infinity")
check.errors(function() return tide.linalg.eig(sq) end, "holds NaN or infinity")
check.errors(function() return tide.linalg.lstsq(sq, tide.array({1, 2})) end, "holds NaN or infinity")
check.array(tide.linalg.pinv(tide.array({{1, 2}, {3, 4}})), {{-2, 1}, {1.5, -0.5}}, 1e-12,
           "a finite matrix still has its pseudo-inverse")
check.eq(K.tree_bootstrap(1, 1, 5, 5):sum(), 5, "five draws")
do
  local X, y = tide.randn(8, 2), tide.array({0, 1, 0, 1, 1, 0, 1, 0})
  local codes = K.tree_bins(X, y, {max_bins = 16})
  check.errors(function() return K.tree_fit(X, y, codes, {n_draw = 1 << 62}) end, "at most the rows")
  check.truthy(K.tree_fit(X, y, codes, {n_draw = 8}), "a tree on a bootstrap of the rows")
end

-- tide.rowset(3, math.maxinteger): its length took the last row unchecked,
-- and s.nbytes (n * 8) overflowed int64 (fuzz_api in CI, UBSan). A last row
-- is now a row number (<= 2^53), and so is the length of the whole set.
check.errors(function() return tide.rowset(3, math.maxinteger) end, "and <= 2^53")
check.errors(function() return tide.rowset{{1, 1 << 53}, {1, 1 << 53}} end,
             "range 2: more than 2^53 rows in all")
check.eq(tide.rowset(3, 1 << 53).nbytes, ((1 << 53) - 2) * 8, "the largest range's nbytes")
check.eq(tide.rowset{{1, 1 << 52}, {1, 1 << 52}}.n, 1 << 53, "2^53 rows in two ranges")

-- a:take{math.mininteger}: the row number's 0-based index, v - 1, overflowed
-- int64 (fuzz_api, UBSan); it is out of range, as any row before the first
do
  local a = tide.array({10, 20, 30})
  check.errors(function() return a:take({math.mininteger}) end, "out of range")
  check.errors(function() return a:take(tide.array({math.mininteger}, "i64")) end, "out of range")
  check.errors(function() return a:put({math.mininteger}, tide.array({1})) end, "out of range")
  check.array(a:take({3, 1}), {30, 10}, 0, "take still takes")
end

-- found by reading the bindings after the two above: a:split's sizes were
-- summed unchecked (two sizes of math.maxinteger overflowed int64), and
-- index and slice errors printed their numbers cut to int
do
  local a = tide.zeros(4)
  check.errors(function() return a:split({math.maxinteger, math.maxinteger}) end,
               "sizes add up to more than the dimension's size 4")
  check.errors(function() return a:split({1, 2}) end, "sizes add up to 3, not to")
  check.errors(function() return a[1 << 40] end, "index 1099511627776 out of range")
  check.errors(function() return a:slice(1, 1 << 40, 1 << 41) end, "slice 1099511627776..2199023255552 out of range")
end

-- the same for a model's rows option: rows = {math.mininteger} made the
-- row check compute v - 1 before comparing (found by reading, as above)
do
  local X, y = tide.randn(6, 2), tide.randn(6)
  check.errors(function() return tide.models.ridge():fit(X, y, {rows = {1, math.mininteger}}) end,
               "entry 2 is -9223372036854775808, outside 1..6")
  check.errors(function()
    return tide.models.ridge():fit(X, y, {rows = tide.array({math.mininteger}, "i64")})
  end, "outside 1..6")
  check.truthy(tide.models.ridge():fit(X, y, {rows = {1, 2, 3, 4}}), "rows still select")
end

-- a tree's byte count, n_nodes * 16 + n_leaves * nclass * 8, was computed
-- from the caller's counts before they were checked: n_nodes = 2^62 or a
-- class count of math.maxinteger overflowed int64 (found by reading)
do
  local X, y = tide.randn(8, 2), tide.array({0, 1, 0, 1, 1, 0, 1, 0})
  local t = K.tree_fit(X, y, K.tree_bins(X, y, {max_bins = 16}), {})
  check.truthy(K.tree_arrays(t, 0).feature, "a regression tree's arrays")
  check.errors(function() return K.tree_arrays(t, math.maxinteger) end, "do not match n_nodes")
  check.errors(function() return K.tree_arrays(t, -1) end, "do not match n_nodes")
  t.n_nodes = 1 << 62
  check.errors(function() return K.tree_arrays(t, 0) end, "do not match n_nodes")
  t.n_nodes, t.n_leaves = 7, math.mininteger
  check.errors(function() return K.tree_arrays(t, 2) end, "do not match n_nodes")
end

-- tide.rand(2^31, 2^31, 0, 2^31): an empty array whose other dimensions'
-- product overflows. Filling it merged dimensions by stride * shape, which
-- overflowed int64 (fuzz_api, UBSan); printing it visited 2^62 empty rows (a
-- hang); a:col and a:slice moved its data pointer by saturated strides, and
-- a:all(2) of a 3 x 0 x 2^31 x 2 array asked calloc for 96 GB unchecked
-- (found by calling every method on such arrays). As numpy, the nonzero
-- dimensions' product must now fit ("array is too big"); empty reductions
-- give their identity without a pass; accumulators are admitted as arrays.
do
  local big = 1 << 31
  check.errors(function() return tide.rand(big, big, 0, big) end, "shape is too large")
  check.errors(function() return tide.zeros(0):reshape(1 << 62, 0, 1 << 62) end,
               "shape is too large")
  local a = tide.rand(1 << 30, 3, 0, 1 << 25)
  check.eq(a.size, 0, "an empty array with big dimensions")
  check.array(a.shape, {1 << 30, 3, 0, 1 << 25}, 0, "its shape as asked")
  check.truthy(tostring(a):find("[[[[]]]]", 1, true), "printed as numpy's brackets")
  check.eq(a:sum(), 0, "its sum")
  check.eq(a:all(), true, "all of nothing")
  check.eq(a:any(), false, "any of nothing")
  check.eq((a + a).size, 0, "an op on it")
  check.eq(a:col(2).size, 0, "a column of it")
  check.eq(a:slice(1, 2, 1 << 29, 3).size, 0, "a slice of it")
  local z = tide.zeros(2, 0, 3)
  check.array(z:all(2), {{true, true, true}, {true, true, true}}, nil, "all over an empty dimension")
  check.array(z:sum(2), {{0, 0, 0}, {0, 0, 0}}, 0, "sum over an empty dimension")
  check.errors(function() return z:mean(2) end, "no identity")
  check.errors(function() return tide.zeros(1 << 22, 0, 1 << 20):all(2) end, "cannot allocate")
end

check.done()
