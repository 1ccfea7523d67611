-- tide.cv: cross-validation splitters.  A fold is {train = rows, test =
-- rows} of 1-based row numbers.  Without shuffling, k-fold rows are
-- rowsets (ranges: a test fold is one, its training rows two), so folds
-- of any size cost a few bytes; shuffled splits are i64 arrays (large
-- ones in shared memory, so every worker reads one copy).  Both read the
-- same way (#f.train, f.train[i], f.train:slice(1, i, j), X:take(f.test))
-- and both are taken by `rows =`.  Same seed, same folds, on every run
-- and for any worker count.
local tide = require "tide"
local optmod = require "tide.opts"
local cv = {}

local function check_n(n, fname)
  if math.type(n) ~= "integer" or n < 1 then
    error(string.format("bad argument #1 to '%s' (row count must be a positive integer, got %s)",
                        fname, tostring(n)), 3)
  end
end

local function check_k(k, n, fname)
  if math.type(k) ~= "integer" or k < 2 then
    error(string.format("bad argument #2 to '%s' (number of folds must be an integer >= 2, got %s)",
                        fname, tostring(k)), 3)
  end
  if k > n then
    error(string.format("%s: cannot make %d folds of %d rows", fname, k, n), 3)
  end
end

-- The order rows are dealt in: 1..n, or a seeded permutation.
local function order(n, opts)
  if opts.shuffle then
    return tide.rng(opts.seed or 0, 0):permutation(n)
  end
  return tide.range(1, n)
end

-- Splits `perm` (row numbers) into k consecutive test blocks; the first
-- n % k folds get one row more (scikit-learn's KFold).
local function blocks(perm, n, k)
  local folds, start = {}, 1
  local all = perm
  for f = 1, k do
    local size = n // k + (f <= n % k and 1 or 0)
    local test = all:slice(1, start, start + size - 1):copy()
    local mask = tide.ones(n, "bool")
    for i = 1, size do mask[test[i]] = false end
    local train = tide.where(mask)
    folds[f] = {train = train, test = test}
    start = start + size
  end
  return folds
end

-- kfold(n, k [, {shuffle = false, seed = 0}]): train rows are in ascending
-- order, test rows in dealing order (ascending without shuffle).
function cv.kfold(n, k, opts)
  check_n(n, "kfold")
  k = k or 5
  check_k(k, n, "kfold")
  opts = optmod.check(opts, "tide.cv.kfold", {"shuffle", "seed"}) or {}
  if opts.shuffle then return blocks(order(n, opts), n, k) end
  local folds, start = {}, 1
  for f = 1, k do
    local last = start + n // k + (f <= n % k and 1 or 0) - 1
    folds[f] = {train = tide.rowset{{1, start - 1}, {last + 1, n}},
                test = tide.rowset(start, last)}
    start = last + 1
  end
  return folds
end

-- shuffle_split(n [, {splits = 10, test = 0.1, train = rest, seed = 0}]):
-- test and train may be fractions (< 1) or row counts.
function cv.shuffle_split(n, opts)
  check_n(n, "shuffle_split")
  opts = optmod.check(opts, "tide.cv.shuffle_split", {"splits", "test", "train", "seed"}) or {}
  local splits = opts.splits or 10
  local function count(v, what)
    if v == nil then return nil end
    if type(v) ~= "number" or v <= 0 then
      error("shuffle_split: '" .. what .. "' must be a positive fraction or count", 3)
    end
    local c = v < 1 and math.ceil(v * n) or math.floor(v)
    if what == "train" and v < 1 then c = math.floor(v * n) end
    return c
  end
  local ntest = count(opts.test or 0.1, "test")
  local ntrain = count(opts.train, "train") or (n - ntest)
  if ntest + ntrain > n or ntrain < 1 then
    error(string.format("shuffle_split: %d test + %d train rows do not fit in %d", ntest, ntrain, n), 2)
  end
  local folds = {}
  for s = 1, splits do
    local perm = tide.rng(opts.seed or 0, s):permutation(n)
    folds[s] = {test = perm:slice(1, 1, ntest):copy(),
                train = perm:slice(1, ntest + 1, ntest + ntrain):copy()}
  end
  return folds
end

-- stratified_kfold(y, k [, {shuffle, seed}]): every fold holds each class
-- in about the same proportion as y.  Rows are sorted by class (in dealing
-- order within a class) and dealt to the folds in turn.
function cv.stratified_kfold(y, k, opts)
  if not tide.is_array(y) or y.ndim ~= 1 then
    error("bad argument #1 to 'stratified_kfold' (y must be a 1-D array of labels)", 2)
  end
  local n = #y
  k = k or 5
  check_k(k, n, "stratified_kfold")
  opts = optmod.check(opts, "tide.cv.stratified_kfold", {"shuffle", "seed"}) or {}
  local perm = order(n, opts)
  local byclass, labels = {}, {}
  for i = 1, n do
    local row = perm[i]
    local c = y[row]
    local t = byclass[c]
    if not t then t = {}; byclass[c] = t; labels[#labels + 1] = c end
    t[#t + 1] = row
  end
  table.sort(labels, function(a, b) return a < b end)
  for _, c in ipairs(labels) do
    if #byclass[c] < k then
      tide._internal.log(string.format("tide: stratified_kfold: class %s has only %d rows, fewer than %d folds\n",
                                    tostring(c), #byclass[c], k))
    end
  end
  local tests = {}
  for f = 1, k do tests[f] = {} end
  local pos = 0
  for _, c in ipairs(labels) do
    for _, row in ipairs(byclass[c]) do
      tests[pos % k + 1][#tests[pos % k + 1] + 1] = row
      pos = pos + 1
    end
  end
  local folds = {}
  for f = 1, k do
    table.sort(tests[f])
    local test = tide.array(tests[f], "i64")
    local mask = tide.ones(n, "bool")
    for i = 1, #test do mask[test[i]] = false end
    folds[f] = {train = tide.where(mask), test = test}
  end
  return folds
end

return cv
