-- options.lua: an unknown key in any options table is an error that names
-- the key, the function and the accepted names, with a hint when a name is
-- close or the key is joblib's or scikit-learn's spelling (n_jobs, ...).
-- One row per entry point: {call, key, function, hint}.
local check = require "check"

local dir = os.getenv("TMPDIR") or "/tmp"
local base = string.format("%s/tide-options-%d", dir, math.random(1 << 30))
local npy = base .. ".npy"
tide.save(npy, tide.zeros(3))
local csv = base .. ".csv"
local f = assert(io.open(csv, "w"))
f:write("a,b\n1,2\n")
f:close()

local function id(x) return x end
local X, y = tide.rand(40, 3, {seed = 1}), tide.rand(40, {seed = 2})
local yc = tide.array({1, 2, 1, 2, 1, 2, 1, 2, 1, 2}, "i64")
local ridge = tide.models.ridge
local fitted = ridge{}:fit(X, y)
local knn = tide.models.knn_classifier{k = 1}:fit(tide.rand(10, 2, {seed = 3}), yc)
local logit = tide.models.logistic{}:fit(tide.rand(10, 2, {seed = 3}), yc)
local scaler = tide.models.standard_scaler{}:fit(X)
local pipe = tide.pipeline{tide.models.standard_scaler{}, ridge{}}:fit(X, y)
local rep = tide.monitor{interval = 0.01}:stop()
local plot = require "tide.plot"
local loop = "jobs, chunk, inflight, order, on_error, timeout, seed, progress, backend"

local cases = {
  -- loops (C: l_par.c) and pools (lua/tide/par.lua)
  {function() tide.collect(id, 3, {job = 2}) end, "job", "tide.collect",
   "(options: " .. loop .. "); did you mean 'jobs'?"},
  {function() tide.map(id, 3, {n_jobs = 2}) end, "n_jobs", "tide.map",
   "did you mean 'jobs'? (tide's name for joblib's"},
  {function() tide.start(id, 3, {timout = 1}) end, "timout", "tide.start", "did you mean 'timeout'?"},
  {function() tide.pfor(3, id, {batch_size = 4}) end, "batch_size", "tide.pfor",
   "did you mean 'chunk'?"},
  {function() tide.collect(id, 3, {pre_dispatch = 4}) end, "pre_dispatch", "tide.collect",
   "did you mean 'inflight'?"},
  {function() tide.collect(id, 3, {verbose = 10}) end, "verbose", "tide.collect",
   "did you mean 'progress'?"},
  {function() tide.collect(id, 3, {return_as = "generator"}) end, "return_as", "tide.collect",
   "did you mean 'order'? (tide's name for joblib's return_as: tide.collect returns a list"},
  {function() tide.collect(id, 3, {random_state = 1}) end, "random_state", "tide.collect",
   "did you mean 'seed'?"},
  {function() tide.pool{n_jobs = 2} end, "n_jobs", "tide.pool", "did you mean 'jobs'?"},
  {function() tide.pool{}:map(id, 3, {ordr = "completed"}) end, "ordr", "pool:map",
   "did you mean 'order'?"},
  {function() tide.pool{}:start(id, 3, {on_eror = "yield"}) end, "on_eror", "pool:start",
   "did you mean 'on_error'?"},
  {function() tide.pool{}:collect(id, 3, {chunks = 2}) end, "chunks", "pool:collect",
   "did you mean 'chunk'?"},
  {function() tide.pool{}:pfor(3, id, {backnd = "serial"}) end, "backnd", "pool:pfor",
   "did you mean 'backend'?"},
  -- array constructors (C: tideL_ctor_opts) and a:copy
  {function() tide.rand(3, {sed = 1}) end, "sed", "tide.rand",
   "(options: dtype, shared, worker_mode, seed, stream); did you mean 'seed'?"},
  {function() tide.randn(3, {random_state = 1}) end, "random_state", "tide.randn",
   "did you mean 'seed'?"},
  {function() tide.zeros(3, {shard = true}) end, "shard", "tide.zeros", "did you mean 'shared'?"},
  {function() tide.ones(3, 2, {dtyp = "f32"}) end, "dtyp", "tide.ones", "did you mean 'dtype'?"},
  {function() tide.empty({3}, {worker_mod = "c"}) end, "worker_mod", "tide.empty",
   "did you mean 'worker_mode'?"},
  {function() tide.full(3, 7, {dtype = "i64", seed = 1}) end, "seed", "tide.full",
   "(options: dtype, shared, worker_mode)"},
  {function() tide.eye(3, {shared = true, x = 1}) end, "x", "tide.eye", "(options: dtype"},
  {function() tide.arange(1, 5, 1, {dtpye = "f32"}) end, "dtpye", "tide.arange",
   "did you mean 'dtype'?"},
  {function() tide.range(1, 5, 1, {share = true}) end, "share", "tide.range",
   "did you mean 'shared'?"},
  {function() tide.linspace(0, 1, 5, {dtype = "f32", mmap = "r"}) end, "mmap", "tide.linspace",
   "(options: dtype"},
  {function() tide.logspace(0, 1, 5, {Dtype = "f32"}) end, "Dtype", "tide.logspace",
   "did you mean 'dtype'?"},
  {function() tide.array({1, 2}, {type = "f32"}) end, "type", "tide.array", "did you mean 'dtype'?"},
  {function() tide.array(X, {sharde = true}) end, "sharde", "tide.array", "did you mean 'shared'?"},
  {function() local z = tide.zeros; z(2, {[1] = "f32"}) end, "1", "tide.zeros", "(options: dtype"},
  {function() X:copy({dtype = "f32", shape = 3}) end, "shape", "a:copy", "(options: dtype"},
  -- files (C: l_io.c, l_csv.c)
  {function() tide.load(npy, {mmap_mode = "r"}) end, "mmap_mode", "tide.load",
   "did you mean 'mmap'?"},
  {function() tide.save(npy, X, {allow_pickle = false}) end, "allow_pickle", "tide.save",
   "(it takes no options)"},
  {function() tide.savez(base .. ".npz", {a = X}, {compressed = true}) end, "compressed",
   "tide.savez", "did you mean 'compress'?"},
  {function() tide.memmap(npy, {mode = "r", dtyp = "f64"}) end, "dtyp", "tide.memmap",
   "(options: shape, dtype, mode); did you mean 'dtype'?"},
  {function() tide.read_csv(csv, {delim = ";"}) end, "delim", "tide.read_csv",
   "did you mean 'delimiter'?"},
  -- model selection (lua/tide/cv.lua, search.lua, ensemble.lua)
  {function() tide.cv.kfold(10, 2, {random_state = 1}) end, "random_state", "tide.cv.kfold",
   "(options: shuffle, seed); did you mean 'seed'?"},
  {function() tide.cv.kfold(10, 2, {n_splits = 3}) end, "n_splits", "tide.cv.kfold",
   "the number of folds is an argument"},
  {function() tide.cv.shuffle_split(10, {test_size = 0.2}) end, "test_size",
   "tide.cv.shuffle_split", "did you mean 'test'?"},
  {function() tide.cv.shuffle_split(10, {n_splits = 2}) end, "n_splits", "tide.cv.shuffle_split",
   "did you mean 'splits'?"},
  {function() tide.cv.stratified_kfold(yc, 2, {shufle = true}) end, "shufle",
   "tide.cv.stratified_kfold", "did you mean 'shuffle'?"},
  {function() tide.search{model = ridge{}, X = X, y = y, n_jobs = 2} end, "n_jobs", "tide.search",
   "did you mean 'jobs'?"},
  {function() tide.search{model = ridge{}, X = X, y = y, param_grid = {alpha = {1}}} end,
   "param_grid", "tide.search", "did you mean 'grid'?"},
  {function() tide.search{model = ridge{}, X = X, y = y, n_iter = 3} end, "n_iter", "tide.search",
   "did you mean 'budget'?"},
  {function() tide.search{model = ridge{}, X = X, y = y, shuffle = true} end, "shuffle",
   "tide.search", "tide.cv.kfold(n, k, {shuffle = true"},
  {function() tide.search{estimator = ridge{}, X = X, y = y} end, "estimator", "tide.search",
   "did you mean 'model'?"},
  {function() tide.cross_validate(ridge{}, X, y, {n_splits = 3}) end, "n_splits",
   "tide.cross_validate", "did you mean 'cv'?"},
  {function() tide.cross_validate(ridge{}, X, y, {return_train_score = true}) end,
   "return_train_score", "tide.cross_validate", "did you mean 'train_score'?"},
  {function() tide.learning_curve(ridge{}, X, y, {train_sizes = {0.5}}) end, "train_sizes",
   "tide.learning_curve", "did you mean 'sizes'?"},
  -- models: parameters (already refused; now with the hint) and fit options
  {function() tide.ensemble.superlearner{layers = {{ridge{}}}, meta = ridge{}, random_state = 1} end,
   "random_state", "superlearner", "did you mean 'seed'?", "unknown parameter"},
  {function() tide.models.knn_regressor{n_neighbors = 3} end, "n_neighbors", "knn_regressor",
   "did you mean 'k'?", "unknown parameter"},
  {function() tide.models.logistic{c = 2} end, "c", "logistic", "did you mean 'C'?",
   "unknown parameter"},
  {function() ridge{}:fit(X, y, {row = 1}) end, "row", "ridge:fit",
   "(options: rows, sample_weight); did you mean 'rows'?"},
  {function() tide.models.lasso{}:fit(X, y, {warmstart = true}) end, "warmstart", "lasso:fit",
   "did you mean 'warm_start'?"},
  {function() tide.models.logistic{}:fit(X, y, {sample_weight = y}) end, "sample_weight",
   "logistic:fit", "did you mean 'weights'?"},
  {function() fitted:predict(X, {rows = {1}, k = 2}) end, "k", "ridge:predict", "(options: rows)"},
  {function() fitted:score(X, y, {scoring = "r2"}) end, "scoring", "ridge:score", "(options: rows)"},
  {function() scaler:transform(X, {row = {1}}) end, "row", "standard_scaler:transform",
   "did you mean 'rows'?"},
  {function() scaler:inverse_transform(X, {row = {1}}) end, "row",
   "standard_scaler:inverse_transform", "did you mean 'rows'?"},
  {function() knn:kneighbors(X:slice(2, 1, 2), {n_neighbors = 1}) end, "n_neighbors",
   "knn_classifier:kneighbors", "did you mean 'k'?"},
  {function() knn:predict_proba(X:slice(2, 1, 2), {row = {1}}) end, "row",
   "knn_classifier:predict_proba", "did you mean 'rows'?"},
  {function() logit:predict_proba(X:slice(2, 1, 2), {row = {1}}) end, "row",
   "logistic:predict_proba", "did you mean 'rows'?"},
  {function() pipe:predict(X, {row = {1}}) end, "row", "pipeline:predict", "did you mean 'rows'?"},
  {function() tide.metrics.r2(y, y, {row = {1}}) end, "row", "tide.metrics.r2",
   "did you mean 'rows'?"},
  {function() tide.metrics.log_loss(yc, tide.rand(10, {seed = 1}), {epsilon = 1e-9}) end,
   "epsilon", "tide.metrics.log_loss", "(options: rows, classes, eps)"},
  -- around the loops
  {function() tide.timed(id, "x", {logger = print}) end, "logger", "tide.timed",
   "(options: log)"},
  {function() tide.monitor{intervall = 0.1} end, "intervall", "tide.monitor",
   "did you mean 'interval'?"},
  {function() rep:svg{titel = "x"} end, "titel", "rep:svg", "did you mean 'title'?"},
  {function() rep:plot(base .. ".svg", {system = true, widht = 10}) end, "widht", "rep:plot",
   "did you mean 'width'?"},
  {function() plot.lines{titel = "x"} end, "titel", "plot.lines", "did you mean 'title'?"},
  {function() plot.lines{series = {{x = {1}, y = {1}, colour = "red"}}} end, "colour",
   "plot.lines series 1", "did you mean 'color'?"},
  {function() plot.boxes{groups = {}, mean = true, point = true} end, "point", "plot.boxes",
   "did you mean 'points'?"},
  {function() tide.register_class("options.test", {}, {encode = id, decode = id, copy = id}) end,
   "copy", "tide.register_class", "(options: encode, decode)"},
}

for i, c in ipairs(cases) do
  local call, key, fname, hint, what = c[1], c[2], c[3], c[4], c[5]
  local ok, err = pcall(call)
  err = tostring(err)
  local head = what and string.format("%s: %s '%s'", fname, what, key)
                    or string.format("unknown option '%s' for %s", key, fname)
  check.truthy(not ok and err:find(head, 1, true) and err:find(hint, 1, true),
               string.format("case %d (%s %s): %s", i, fname, key, ok and "no error" or err))
end

-- tide.config is a table of settings, not options, with the same hints
check.errors(function() tide.config.n_jobs = 2 end,
             "tide.config has no setting 'n_jobs' (settings: share_bytes, temp_dir, jobs, " ..
             "blas_threads_per_worker); did you mean 'jobs'?")
check.errors(function() tide.config.max_nbytes = 2 end, "did you mean 'share_bytes'?")

-- a key far from every name gets no guess; known keys still work
local _, err = pcall(tide.collect, id, 3, {xyzzy = 1})
check.truthy(not tostring(err):find("did you mean", 1, true), "no guess for a far key: " .. tostring(err))
check.eq(#tide.collect(id, 3, {jobs = 1, chunk = 1, order = "completed", seed = 1}), 3, "known keys")
check.eq(tide.rand(3, {seed = 1, stream = 2, dtype = "f32", shared = false}).dtype, "f32", "rand keys")
check.eq(#tide.cv.kfold(10, 2, {shuffle = true, seed = 1}), 2, "kfold keys")

-- the Lua twin: the same message, raised at the caller's line
local optmod = require "tide.opts"
local function entry(t) optmod.check(t, "my.entry", {"alpha", "beta"}) end
local ok2, e2 = pcall(function() entry({alpah = 1}) end)
check.truthy(not ok2 and e2:find("options.lua:%d+: unknown option 'alpah' for my.entry %(options: " ..
                                  "alpha, beta%); did you mean 'alpha'%?$"), tostring(e2))
check.errors(function() entry(3) end, "options for my.entry must be a table, got number")
check.eq(optmod.hint("n_jobs", {"jobs"}), "; did you mean 'jobs'? (tide's name for joblib's and " ..
         "scikit-learn's n_jobs)", "hint")
check.eq(optmod.hint("zzz", {"jobs"}), "", "no hint")

os.remove(npy); os.remove(csv); os.remove(base .. ".npz"); os.remove(base .. ".svg")
check.done()
