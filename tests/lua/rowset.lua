-- rowset.lua: tide.rowset (row numbers as ranges), the k-fold splitter's
-- rowsets, `rows =` with a rowset giving exactly what the equal index
-- array gives, blockwise scoring, and the collector's bound on views.
local check = require "check"

-- ------------------------------------------------------------ the type
local s = tide.rowset(3, 7)
check.truthy(tide.is_rowset(s) and not tide.is_array(s), "a rowset, not an array")
check.eq(#s, 5)
check.eq(s[1], 3); check.eq(s[5], 7)
check.array(s:totable(), {3, 4, 5, 6, 7})
local t = tide.rowset{{1, 2}, {10, 12}, {5, 4}, {20, 20}}
check.eq(#t, 6, "an empty range adds nothing")
check.array(t:totable(), {1, 2, 10, 11, 12, 20})
check.eq(tostring(t), "[ 1  2 10 11 12 20]\n[tide.rowset 6 i64 read-only: 1..2, 10..12, 20..20]",
         "printed as its i64 array, then its ranges")
check.eq(#tide.rowset{{1, 3}, {4, 6}}:ranges(), 1, "touching ranges merge")
check.array(t:ranges()[2], {10, 12})
local a = t:array()
check.truthy(tide.is_array(a) and a.dtype == "i64", "array(): i64")
check.array(a:totable(), t:totable())
check.array(t:slice(1, 2, 5):totable(), {2, 10, 11, 12}, nil, "slice(1, i, j), as an array's")
check.array(t:slice(3, -1):totable(), {10, 11, 12, 20}, nil, "slice(i, j), negative from the end")
check.eq(#t:slice(4, 3), 0, "an empty slice")
check.truthy(tide.rowset(1, 3) == tide.rowset{{1, 2}, {3, 3}}, "equal rows, equal rowsets")
check.truthy(tide.rowset(1, 3) ~= tide.rowset(1, 4))
check.eq(#tide.rowset(5, 4), 0, "empty")

local seen = {}
for i, r in ipairs(t) do seen[i] = r end
check.array(seen, {1, 2, 10, 11, 12, 20}, nil, "ipairs over a rowset: its row numbers")
for _ in ipairs(tide.rowset(5, 4)) do check.truthy(false, "ipairs over an empty rowset") end
check.eq(t[7], nil, "s[#s + 1] is nil, as for a table")
check.errors(function() return t[8] end, "rowset index 8 out of range 1..6")
check.errors(function() return t[-1] end, "rowset index -1 out of range 1..6")
check.errors(function() return t[0] end, "out of range")
check.errors(function() return t[1.5] end, "out of range")
check.errors(function() tide.rowset(0, 3) end, "first row 0 is not a row number >= 1")
check.errors(function() tide.rowset(3, 1) end, "last row must be an integer >= first - 1")
check.errors(function() tide.rowset("a", 3) end, "first row must be an integer, got string")
check.errors(function() tide.rowset{{2, 0}} end, "range 1: last row must be an integer >= first - 1")
check.errors(function() tide.rowset{5} end, "range 1 must be a table {first, last}")
check.errors(function() t:slice(2, 9) end, "positions 2..9 outside 1..6")
check.errors(function() t:slice(2, 1, 3) end, "a rowset has one dimension")

-- ------------------------------------- a read-only 1-D i64 array, as DESIGN §5
do
  local ta = t:array()
  check.eq(t.dtype, "i64"); check.eq(t.ndim, 1); check.eq(t.size, 6); check.eq(t.itemsize, 8)
  check.array(t.shape, {6}, nil, "shape"); check.array(t.strides, {1}, nil, "strides")
  check.eq(t.nbytes, ta.nbytes, "nbytes: the i64 array's")
  check.eq(t.storage, "rowset"); check.eq(t.readonly, true); check.eq(t.closed, false)
  -- reductions: sum, min and max from the ranges, the others through the rows
  check.eq(t:sum(), ta:sum(), "sum"); check.eq(math.type(t:sum()), "integer", "sum is an integer")
  check.eq(t:min(), 1); check.eq(t:max(), 20)
  check.eq(tide.rowset{{30, 40}, {5, 6}}:min(), 5, "min over unsorted ranges")
  check.eq(tide.rowset{{30, 40}, {5, 6}}:max(), 40, "max over unsorted ranges")
  check.eq(tide.sum(t), ta:sum(), "tide.sum(rowset)")
  check.eq(tide.rowset(5, 4):sum(), 0, "an empty sum")
  check.errors(function() tide.rowset(5, 4):min() end, "zero-size")
  local big = tide.rowset(1, 1000000000) -- 8 GB as an i64 array: never made
  check.eq(big:sum(), 500000000500000000, "the sum of a billion rows from its range")
  check.eq(big:max(), 1000000000)
  for _, f in ipairs{"mean", "var", "std", "norm", "argmin", "argmax", "count", "any", "all"} do
    check.eq(t[f](t), ta[f](ta), f)
  end
  check.array(t:sum(1), ta:sum(1), nil, "sum(1)")
  -- elementwise operations and methods that read
  check.array((t + 1):totable(), (ta + 1):totable(), nil, "rowset + 1")
  check.array((2 * t):totable(), (2 * ta):totable(), nil, "2 * rowset")
  check.array((ta - t):totable(), {0, 0, 0, 0, 0, 0}, nil, "array - rowset")
  check.array((-t):totable(), (-ta):totable(), nil, "-rowset")
  check.array((t // 3):totable(), (ta // 3):totable(), nil, "rowset // 3")
  check.array(t:lt(11):totable(), ta:lt(11):totable(), nil, "comparisons")
  check.array(tide.sqrt(t):totable(), tide.sqrt(ta):totable(), nil, "tide.sqrt")
  check.array(t:abs():totable(), ta:totable(), nil, "abs")
  check.array(t:astype("f32"):totable(), ta:totable(), nil, "astype")
  check.eq(t:astype("f32").dtype, "f32")
  check.array(t:reshape(2, 3):totable(), {{1, 2, 10}, {11, 12, 20}}, nil, "reshape")
  check.array(t:slice(1, 1, 6, 2):totable(), {1, 10, 12}, nil, "slice with a step")
  check.eq(t:get(3), 10); check.eq(tide.rowset(7, 7):item(), 7, "item")
  check.array(tide.where(t:gt(10)):totable(), {4, 5, 6}, nil, "where over a rowset")
  check.eq(tide.matmul(t, t), ta:dot(ta), "matmul")
  check.array(tide.array({t, t}):totable(), {ta:totable(), ta:totable()}, nil, "rows of a matrix")
  local M = tide.zeros(2, 6); M[2] = t
  check.array(M[2]:totable(), ta:totable(), nil, "assigned to a row")
  -- copies: tide.array(s), s:array(), s:copy() are writable i64 (or the dtype asked)
  local c = tide.array(t)
  check.truthy(tide.is_array(c) and c.dtype == "i64" and not c.readonly, "tide.array(rowset)")
  c[1] = 99; check.eq(t[1], 1, "the copy is the copy's")
  check.eq(tide.array(t, "f64").dtype, "f64")
  check.eq(t:copy({dtype = "i32"}).dtype, "i32")
  check.eq(tide.array(tide.rowset(1, 300000), {shared = true}).storage, "shared")
  -- writes raise
  check.errors(function() t[1] = 5 end, "rowset is read-only")
  check.errors(function() t[7] = 5 end, "rowset is read-only")
  check.errors(function() t.dtype = "f64" end, "cannot set field 'dtype' of a rowset")
  check.errors(function() t:add_(1) end, "add_: rowset is read-only")
  check.errors(function() t:set(1, 4) end, "set: rowset is read-only")
  check.errors(function() t:fill_(0) end, "fill_: rowset is read-only")
  check.errors(function() t:reshape(2, 3):set(1, 1, 0) end, "rowset is read-only")
  check.errors(function() t:clamp_(1, 2) end, "rowset is read-only")
  check.eq(t:totable()[1], 1, "unchanged")
  do local scoped <close> = tide.rowset(1, 3) end
  t:close(); check.eq(#t, 6, "close frees nothing")
  check.truthy(not tide.is_array(t), "still a rowset")
  -- the parallel loop's input: each task gets a row number
  local got = tide.collect(function(r, i) return r * 10 + i end, t, {jobs = 2})
  check.array(got, {11, 22, 103, 114, 125, 206}, nil, "collect over a rowset")
  local seen = {}
  for i, r in tide.map(function(r) return r end, t, {jobs = 2}) do seen[i] = r end
  check.array(seen, ta:totable(), nil, "map over a rowset")
  local job = tide.start(function(r) return -r end, tide.rowset(4, 6), {jobs = 1})
  job:wait()
  local res = {}
  for i, r in job:results() do res[i] = r end
  check.array(res, {-4, -5, -6}, nil, "start over a rowset")
  check.eq(#tide.collect(function(r) return r end, tide.rowset(5, 4)), 0, "an empty rowset: no tasks")
end

-- ------------------------------------------------ k-fold folds as ranges
local n = 1003
local folds = tide.cv.kfold(n, 4)
local count = {}
for f, fold in ipairs(folds) do
  check.truthy(tide.is_rowset(fold.train) and tide.is_rowset(fold.test), "fold " .. f .. ": rowsets")
  check.eq(#fold.train + #fold.test, n)
  check.truthy(#fold.test:ranges() == 1 and #fold.train:ranges() <= 2, "one test range, two train")
  for i = 1, #fold.test do count[fold.test[i]] = (count[fold.test[i]] or 0) + 1 end
end
local once = true
for i = 1, n do once = once and count[i] == 1 end
check.truthy(once, "each row in exactly one test fold")
check.eq(#folds[1].test, 251, "the first n % k folds get one more row (scikit-learn)")
check.eq(#folds[4].test, 250)
local sh = tide.cv.kfold(n, 4, {shuffle = true, seed = 1})
check.truthy(tide.is_array(sh[1].train), "shuffled folds stay index arrays")

-- ----------------------- rows = a rowset is rows = the equal index array
local X = tide.randn(3000, 5, {seed = 3})
local w = tide.array({1, -2, 0.5, 0, 3})
local y = tide.matmul(X, w) + tide.randn(3000, {seed = 4}) * 0.1
local labels = tide.zeros(3000)
for i = 1, 3000 do labels[i] = y[i] > 0 and 1 or 0 end
local fold = tide.cv.kfold(3000, 3)[2]
local tr, te = fold.train, fold.test
local tra, tea = tr:array(), te:array()
check.array(X:take(tr):totable(), X:take(tra):totable(), 0, "take(rowset) = take(array)")
check.array(y:take(te):totable(), y:take(tea):totable(), 0)

local function same(name, make, fitwith)
  local m1, m2 = make(), make()
  m1:fit(X, fitwith or y, {rows = tr})
  m2:fit(X, fitwith or y, {rows = tra})
  local p1 = m1:predict(X, {rows = te}):totable()
  local p2 = m2:predict(X, {rows = tea}):totable()
  check.array(p1, p2, 0, name .. ": same predictions with a rowset and an array")
  return m1
end
same("ridge", function() return tide.models.ridge{alpha = 2} end)
same("lasso", function() return tide.models.lasso{alpha = 0.01} end)
same("elasticnet", function() return tide.models.elasticnet{alpha = 0.01, l1_ratio = 0.3} end)
same("linear", function() return tide.models.linear{} end)
same("knn", function() return tide.models.knn_regressor{k = 7} end)
same("logistic", function() return tide.models.logistic{} end, labels)
same("knn classifier", function() return tide.models.knn_classifier{k = 5} end, labels)
same("scaled ridge", function()
  return tide.pipeline{tide.models.standard_scaler{}, tide.models.ridge{alpha = 1}}
end)
local sc1 = tide.models.standard_scaler{}:fit(X, nil, {rows = tr})
local sc2 = tide.models.standard_scaler{}:fit(X, nil, {rows = tra})
check.array(sc1.mean:totable(), sc2.mean:totable(), 0, "scaler statistics")
local p = tide.models.ridge{}:fit(X, y):predict(X)
for _, mname in ipairs{"r2", "mse", "mae"} do
  check.eq(tide.metrics[mname](y, p, {rows = te}), tide.metrics[mname](y, p, {rows = tea}),
           mname .. " over a rowset")
end
do
  local lg = tide.models.logistic{}:fit(X, labels, {rows = tr})
  local lp, lP = lg:predict(X), lg:predict_proba(X)
  check.eq(tide.metrics.accuracy(labels, lp, {rows = te}), tide.metrics.accuracy(labels, lp, {rows = tea}),
           "accuracy over a rowset")
  check.eq(tide.metrics.log_loss(labels, lP, {rows = te, classes = lg.classes}),
           tide.metrics.log_loss(labels, lP, {rows = tea, classes = lg.classes}), "log_loss over a rowset")
  local kn = tide.models.knn_regressor{k = 3}:fit(X, y, {rows = tr})
  local d1, i1 = kn:kneighbors(X, {rows = te})
  local d2, i2 = kn:kneighbors(X, {rows = tea})
  check.array(i1:totable(), i2:totable(), nil, "kneighbors rows = a rowset")
  check.eq(tide.metrics.mse(te, tea:astype("f64")), 0.0, "a rowset as the values of a metric")
end
check.errors(function() tide.models.ridge{}:fit(X, y, {rows = tide.rowset(2000, 3001)}) end,
             "range 1 is 2000..3001, outside 1..3000")

-- --------------------------------------- scoring in blocks of rows agrees
local N = 100000
local Xb = tide.randn(N, 3, {seed = 5})
local yb = tide.matmul(Xb, tide.array({1, 2, 3})) + tide.randn(N, {seed = 6}) * 3
local cls = tide.zeros(N)
for i = 1, N do cls[i] = yb[i] > 0.5 and 1 or 0 end
local rows = tide.cv.kfold(N, 5)[3].train  -- 80,000 rows: three blocks
local rowsa = rows:array()
local m = tide.models.ridge{}:fit(Xb, yb, {rows = rows})
local whole = m:predict(Xb, {rows = rowsa})
local blocks = tide.models.score_blocks
check.near(blocks("r2", m, Xb, yb, rows), tide.metrics.r2(yb, whole, {rows = rowsa}), 1e-12, "r2 in blocks")
check.near(blocks("mse", m, Xb, yb, rows), tide.metrics.mse(yb, whole, {rows = rowsa}), 1e-9, "mse in blocks")
check.near(blocks("mae", m, Xb, yb, rowsa), tide.metrics.mae(yb, whole, {rows = rowsa}), 1e-11, "mae in blocks")
check.near(m:score(Xb, yb), tide.metrics.r2(yb, m:predict(Xb)), 1e-12, "score over all rows in blocks")
local lg = tide.models.logistic{}:fit(Xb, cls, {rows = rows})
check.eq(blocks("accuracy", lg, Xb, cls, rows),
         tide.metrics.accuracy(cls, lg:predict(Xb, {rows = rowsa}), {rows = rowsa}), "accuracy in blocks")
check.near(blocks("log_loss", lg, Xb, cls, rows),
           tide.metrics.log_loss(cls, lg:predict_proba(Xb, {rows = rowsa}), {rows = rowsa, classes = lg.classes}),
           1e-12, "log loss in blocks")
local small = {1, 5, 9, 200}
check.near(blocks("r2", m, Xb, yb, small), tide.metrics.r2(yb, m:predict(Xb), {rows = small}), 1e-12,
           "a table of rows")
local const = tide.full(N, 2.0)
check.eq(blocks("r2", tide.models.ridge{}:fit(Xb, const), Xb, const, rows), 1.0,
         "r2 of a perfect fit to constant y is 1 (scikit-learn)")

-- ---------------------- many views beside a live heap: the heap stays bounded
do
  local keep = {}
  for i = 1, 200000 do keep[i] = {i} end   -- about 15 MB of live tables
  collectgarbage(); collectgarbage()
  local live = collectgarbage("count")
  local M = tide.zeros(1000, 4)
  local peak, sum = 0, 0
  for i = 1, 600000 do
    sum = sum + M[(i - 1) % 1000 + 1][1]   -- a view per row read
    if i % 1000 == 0 then peak = math.max(peak, collectgarbage("count")) end
  end
  check.truthy(peak < 5 * live + 8192, string.format("Lua heap peak %.0f KB beside %.0f KB live", peak, live))
  keep = nil
end

check.done()
