-- tide.search: grid and randomized search, cross-validation and learning
-- curves.  Every candidate x fold is one task of a parallel loop over the
-- shared X, y and folds; each fit uses `rows =`, so no fold is ever copied
-- and memory stays flat in the number of workers and folds.
local tide = require "tide"
local optmod = require "tide.opts"
local gridmod = require "tide.grid"
local cvmod = require "tide.cv"
local planmod = require "tide.search_plan"
local search = {}

local function fail(fmt, ...) error("search: " .. string.format(fmt, ...), 3) end

-- The progress option of a loop: the caller's, or, when none was given, the
-- on_progress of a C host (tide_Options) under this label.
local function host_progress(given, label)
  if given ~= nil then return given end
  return tide._internal.host_progress(label)
end

-- Scorers: a name or a function f(model, X, y, rows) -> number, greater is
-- better.  The errors "mse", "mae" and "log_loss" are positive and rank
-- lowest first; scikit-learn's "neg_mean_squared_error" and the like are
-- their negatives, greater is better.  The named ones predict a block of
-- rows at a time (tide.models.score_blocks), so no fold-sized vector is made.
local models = tide.models
local blocks = models.score_blocks
local scorers = {
  r2 = function(m, X, y, rows) return blocks("r2", m, X, y, rows) end,
  accuracy = function(m, X, y, rows) return blocks("accuracy", m, X, y, rows) end,
  neg_mean_squared_error = function(m, X, y, rows) return -blocks("mse", m, X, y, rows) end,
  neg_mean_absolute_error = function(m, X, y, rows) return -blocks("mae", m, X, y, rows) end,
  neg_log_loss = function(m, X, y, rows) return -blocks("log_loss", m, X, y, rows) end,
  score = function(m, X, y, rows) return m:score(X, y, {rows = rows}) end,
  mse = function(m, X, y, rows) return blocks("mse", m, X, y, rows) end,
  mae = function(m, X, y, rows) return blocks("mae", m, X, y, rows) end,
  log_loss = function(m, X, y, rows) return blocks("log_loss", m, X, y, rows) end,
}
scorers.neg_mse = scorers.neg_mean_squared_error
search.scorers = scorers
local lower_is_better = {mse = true, mae = true, log_loss = true}

-- the scorer, its name, and whether lower is better
local function scorer_of(s)
  if s == nil then return scorers.score, "score", false end
  if type(s) == "function" then return s, "custom", false end
  local f = scorers[s]
  if not f then
    local names = {}
    for k in pairs(scorers) do names[#names + 1] = k end
    table.sort(names)
    fail("unknown scoring '%s' (scorings: %s, or a function)", tostring(s), table.concat(names, ", "))
  end
  return f, s, lower_is_better[s] == true
end

local function folds_of(cv, X, y, model)
  if type(cv) == "table" then
    if #cv == 0 or type(cv[1]) ~= "table" or not cv[1].train then
      fail("cv must be a number of folds or a list of {train =, test =} folds")
    end
    return cv
  end
  local k = cv or 5
  if y and type(model.kind) == "function" and model:kind() == "classifier" then
    return cvmod.stratified_kfold(y, k)
  end
  return cvmod.kfold(#X, k)
end

-- Models that fit without y: k-means and transformers, or pipelines
-- ending in one.
local function unsupervised(m)
  if type(m.steps) == "table" then m = m.steps[#m.steps] end
  local kind = type(m._class) == "table" and m._class.spec.kind
  return kind == "clusterer" or kind == "transformer"
end

local function mean_std(t)
  local n, s = #t, 0
  if n == 0 then return nil, nil end
  for _, v in ipairs(t) do s = s + v end
  local m, v = s / n, 0
  for _, x in ipairs(t) do v = v + (x - m) ^ 2 end
  return m, math.sqrt(v / n)   -- population std, as scikit-learn reports
end

local evaluate = planmod.evaluate   -- one fit and its scores, in a worker

-- The loops a search runs on: tide's, or a pool's (its defaults, and for a
-- spawn pool its warm workers: an embedding host spawns them once).
local function loops_of(pool, fname)
  if pool == nil then return tide end
  if not require("tide.par").is_pool(pool) then
    error(string.format("%s: 'pool' must be a tide.pool, got %s", fname, type(pool)), 3)
  end
  return {collect = function(f, xs, o) return pool:collect(f, xs, o) end,
          map = function(f, xs, o) return pool:map(f, xs, o) end,
          start = function(f, xs, o) return pool:start(f, xs, o) end}
end

local Search = {}
Search.__index = Search

-- tide.search{model =, grid =, X =, y = (nil for k-means), cv = 5 | folds, jobs =, scoring =,
--   train_score = false, budget = nil, seed = 0, async = false, refit = true,
--   progress = false, share = true, backend = "fork", pool = nil}
function search.search(spec)
  if type(spec) ~= "table" then fail("options table expected") end
  optmod.check(spec, "tide.search", {"model", "grid", "X", "y", "cv", "jobs", "scoring",
                                     "train_score", "budget", "seed", "async", "refit",
                                     "progress", "share", "backend", "pool"})
  local loops = loops_of(spec.pool, "search")
  local model = models.as_model(spec.model)
  if not model then
    fail("'model' must be a model or a model class (for example tide.models.ridge), got %s",
         type(spec.model))
  end
  if not tide.is_array(spec.X) then fail("'X' must be an array") end
  if not tide.is_array(spec.y) and (spec.y ~= nil or not unsupervised(model)) then
    fail("'y' must be an array (only k-means, PCA and pipelines ending in them fit without y)")
  end
  local grid = spec.grid
  if grid == nil then grid = gridmod{} end
  if getmetatable(grid) ~= gridmod.Grid then grid = gridmod(grid) end
  local cands
  if spec.budget then cands = grid:sample(spec.budget, spec.seed or 0)
  else cands = grid:candidates() end
  if #cands == 0 then fail("the grid has no candidates") end
  for i, c in ipairs(cands) do  -- bad parameters fail now, not in workers
    local m = model:clone()
    local ok, err = pcall(m.set, m, c)
    if not ok then fail("candidate %d %s: %s", i, gridmod.format(c), tostring(err)) end
  end
  local folds = folds_of(spec.cv, spec.X, spec.y, model)
  local score, scoring, lower = scorer_of(spec.scoring)
  local s = setmetatable({
    model = model, X = spec.X, y = spec.y, folds = folds, candidates = cands,
    scoring = scoring, lower_is_better = lower, train_score = spec.train_score or false,
    refit = spec.refit ~= false,
    nfolds = #folds, ntasks = #cands * #folds, done = 0, results = {}, errors = {},
    t0 = tide.now(), loops = loops,
  }, Search)
  for c = 1, #cands do s.results[c] = {} end
  -- the plan: candidates grouped by fold and by what they share (see
  -- tide.search_plan); stage 1 takes the moments the linear groups need,
  -- stage 2 runs the groups and the candidates alone
  s.ctx = planmod.make{model = model, cands = cands, folds = folds, X = spec.X, y = spec.y,
                       score = score, scoring = scoring, kind = model:kind(),
                       train_score = s.train_score, share = spec.share ~= false,
                       async = spec.async}
  s.opts = {jobs = spec.jobs, on_error = "yield", progress = host_progress(spec.progress, "tide.search"),
            chunk = 1, backend = spec.backend}
  if spec.async then   -- one loop, in the background: each linear group
    s:_stage()           -- takes its fold's moments itself (no stage 1)
    return s
  end
  local ctx = s.ctx
  if ctx.sets then
    local res, errs = loops.collect(function(i) return planmod.moment_task(ctx, i) end, #ctx.sets,
                                   s.opts)
    if next(errs or {}) == nil then planmod.combine_moments(ctx, res) end
  end
  local o = {order = "completed"}
  for k, v in pairs(s.opts) do o[k] = v end
  for t, r, err in loops.map(function(t) return ctx.units[t].run() end, #ctx.units, o) do
    s:_record(t, r, err)
  end
  s:_finish()
  return s
end

-- Starts the units of an async search.
function Search:_stage()
  local ctx = self.ctx
  self.udone = 0
  self.job = self.loops.start(function(t) return ctx.units[t].run() end, #ctx.units, self.opts)
end

-- s:plan(): the search's plan as text: which candidates share what, in
-- how many tasks.
function Search:plan()
  return table.concat(self.ctx.lines, "\n")
end

-- Unit t's results (or its error) for each of its candidates.
function Search:_record(t, r, err)
  local u = self.ctx.units[t]
  local f = u.fold
  for _, c in ipairs(u.cands) do
    self.done = self.done + 1
    local rc = r and r[c]
    local e = err or (rc == nil and "failed") or rc.error
    if e then
      self.errors[c] = self.errors[c] or {}
      self.errors[c][f] = e
    else
      self.results[c][f] = rc
    end
  end
end

function Search:_pump()
  if not self.job then return end
  local res, errs = self.job:take()
  for t, r in pairs(res) do self:_record(t, r); self.udone = self.udone + 1 end
  for t, e in pairs(errs) do self:_record(t, nil, e); self.udone = self.udone + 1 end
  if self.udone >= #self.ctx.units then
    self.job:close()
    self.job = nil
    self:_finish()
  end
end

-- done, total: fits (candidates x folds) finished so far.
function Search:progress()
  self:_pump()
  return self.done, self.ntasks
end

function Search:wait(timeout)
  local deadline = timeout and tide.now() + timeout
  while self.job do
    local left = deadline and deadline - tide.now()
    if left and left <= 0 then break end
    self.job:wait(left)
    self:_pump()
  end
  return self.job == nil
end

-- s:cancel([{refit = true}]): stops the tasks still running and keeps
-- what finished: the report ranks the candidates with at least one fold
-- (those with fewer folds after those with more, marked), and best_params,
-- best_score and best_index are the best of them, as at the end of a
-- search.  With refit on (the search's, unless refit = false here), the
-- best candidate is refitted on all rows for best_model, as a finished
-- search does.  Returns whether fits were still running.
function Search:cancel(opts)
  opts = optmod.check(opts, "search:cancel", {"refit"}) or {}
  if not self.job then return false end
  self.cancelled = true
  self.cancel_refit = opts.refit   -- also when the last fits arrive in this pump
  self.job:cancel()
  self:_pump()
  if self.job then
    self.job:close()
    self.job = nil
    self:_finish()
  end
  return true
end

-- One row per candidate: params, mean/std test and train scores over the
-- folds it has (nil while it has none), folds_done, fit time, rank, error
-- (its first failed fold's).  Ranks: 1 = best mean validation score (the
-- highest, or for an error the lowest) among the candidates with the most
-- folds; a candidate with fewer folds (a search running or cancelled)
-- ranks after every candidate with more, and its row has partial = true;
-- candidates with an error, or no fold yet, have rank nil.
function Search:rows()
  self:_pump()
  local rows = {}
  for c, params in ipairs(self.candidates) do
    local tests, trains, fits, complete = {}, {}, {}, true
    for f = 1, self.nfolds do
      local r = self.results[c][f]
      if r then
        tests[#tests + 1], fits[#fits + 1] = r.test, r.fit_time
        if r.train then trains[#trains + 1] = r.train end
      else
        complete = false
      end
    end
    local errs, err = self.errors[c] or {}, nil
    for f = self.nfolds, 1, -1 do err = errs[f] or err end
    local row = {params = params, index = c, error = err, folds_done = #tests}
    row.mean_test, row.std_test = mean_std(tests)
    if #trains > 0 then row.mean_train, row.std_train = mean_std(trains) end
    row.fit_time = (mean_std(fits))
    row.complete = complete and not row.error
    row.scores = tests
    rows[c] = row
  end
  local ranked, most = {}, 0
  for _, r in ipairs(rows) do
    if not r.error and r.folds_done > 0 and r.mean_test == r.mean_test then
      ranked[#ranked + 1] = r
      most = math.max(most, r.folds_done)
    end
  end
  local lower = self.lower_is_better
  table.sort(ranked, function(a, b)
    if a.folds_done ~= b.folds_done then return a.folds_done > b.folds_done end
    if a.mean_test ~= b.mean_test then
      if lower then return a.mean_test < b.mean_test end
      return a.mean_test > b.mean_test
    end
    return a.index < b.index
  end)
  for i, r in ipairs(ranked) do
    -- ties share the best rank ("min" ranking, as scikit-learn)
    local prev = ranked[i - 1]
    r.rank = (prev and prev.mean_test == r.mean_test and prev.folds_done == r.folds_done)
             and prev.rank or i
    r.partial = r.folds_done < self.nfolds or nil
  end
  return rows, ranked
end

-- Text of the k best candidates so far (all when k is nil), then every
-- failed candidate with the first line of its error:
-- Rank 1: validation 0.96533 (±0.00206)  train 0.97179 (±0.00126)  {alpha=0.001, l1_ratio=0.1}
-- Failed: {alpha=0.5}  [task 6, worker 2] fit.lua:3: half is broken
-- While fits are missing (a search running or cancelled), each line says
-- how many folds its candidate has: "5/5 folds", or "2/5 folds (partial)"
-- for one ranked after the candidates with more.
function Search:report(k)
  local rows, ranked = self:rows()
  local lines = {}
  local done, total = self.done, self.ntasks
  local missing = done < total
  if missing then
    lines[#lines + 1] = string.format("(%s%d of %d fits done; ranking the %d candidates with a " ..
                                      "fold, those with fewer folds after those with more)",
                                      self.cancelled and "cancelled: " or "", done, total, #ranked)
  end
  for i = 1, math.min(k or #ranked, #ranked) do
    local r = ranked[i]
    local line = string.format("Rank %d: validation %.5f (±%.5f)", r.rank, r.mean_test, r.std_test)
    if r.mean_train then line = line .. string.format("  train %.5f (±%.5f)", r.mean_train, r.std_train) end
    if missing then
      line = line .. string.format("  %d/%d folds%s", r.folds_done, self.nfolds,
                                   r.partial and " (partial)" or "")
    end
    lines[#lines + 1] = line .. "  " .. gridmod.format(r.params)
  end
  for _, r in ipairs(rows) do
    if r.error then
      lines[#lines + 1] = string.format("Failed: %s  %s", gridmod.format(r.params),
                                        tostring(r.error):match("[^\n]*"))
    end
  end
  return table.concat(lines, "\n")
end

-- The best candidate (rank 1) and, with refit on, it fitted on all rows:
-- at the end of a search, or of one cancelled (s:cancel{refit = false}
-- skips the refit).
function Search:_finish()
  local _, ranked = self:rows()
  self.elapsed = tide.now() - self.t0
  if #ranked == 0 then return end
  local best = ranked[1]
  self.best_params, self.best_score, self.best_index = best.params, best.mean_test, best.index
  if self.refit and self.cancel_refit ~= false then
    -- from the moments the search already holds when it can (linear models)
    self.best_model = planmod.refit(self.ctx, best.index) or
                      self.model:clone():set(best.params):fit(self.X, self.y)
  end
end

function Search:__tostring()
  return string.format("tide.search(%d candidates x %d folds, %d/%d done)", #self.candidates,
                       self.nfolds, self.done, self.ntasks)
end

-- s:plot(path): validation score per parameter value, a box per value
-- (one panel per parameter that takes several values).
function Search:plot(path)
  local plot = require "tide.plot"
  local rows = self:rows()
  local names = {}
  for k in pairs(self.candidates[1]) do names[#names + 1] = k end
  table.sort(names)
  local panels = {}
  for _, name in ipairs(names) do
    local groups, order = {}, {}
    for _, r in ipairs(rows) do
      if r.complete then
        local v = r.params[name]
        local key = type(v) == "number" and string.format("%.4g", v) or tostring(v)
        if not groups[key] then groups[key] = {}; order[#order + 1] = {key = key, v = v} end
        for _, sc in ipairs(r.scores) do table.insert(groups[key], sc) end
      end
    end
    if #order > 1 then
      table.sort(order, function(a, b)
        if type(a.v) == "number" and type(b.v) == "number" then return a.v < b.v end
        return a.key < b.key
      end)
      local boxes = {}
      for i, o in ipairs(order) do boxes[i] = {name = o.key, values = groups[o.key]} end
      panels[#panels + 1] = plot.boxes{
        title = string.format("validation %s by %s", self.scoring, name), xlabel = name,
        ylabel = "validation " .. self.scoring, groups = boxes, points = true, mean = true}
    end
  end
  if #panels == 0 then error("plot: no parameter takes several values", 2) end
  -- one box plot per parameter, side by side in one document
  local parts, x, h = {}, 0, 0
  for _, svg in ipairs(panels) do
    local w = tonumber(svg:match('width="([%d.]+)"'))
    local ph = tonumber(svg:match('height="([%d.]+)"'))
    local body = svg:gsub("^<%?xml[^>]*>%s*", "")
    parts[#parts + 1] = body:gsub("^<svg ", string.format('<svg x="%g" y="0" ', x), 1)
    x, h = x + w, math.max(h, ph)
  end
  local doc = string.format('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" ' ..
                            'width="%g" height="%g" viewBox="0 0 %g %g">\n%s\n</svg>\n', x, h, x, h,
                            table.concat(parts, "\n"))
  plot.save(path, doc)
  return path
end

-- The arguments of cross_validate and learning_curve, given as (model, X,
-- y [, opts]) or as one table {model =, X =, y =, ...} (tide.search's form):
-- the model (a class made one), X, y and the options.
local function arguments(fname, model, X, y, opts)
  if type(model) == "table" and not models.is_model(model) and X == nil then
    opts = {}
    for k, v in pairs(model) do opts[k] = v end
    model, X, y = opts.model, opts.X, opts.y
    opts.model, opts.X, opts.y = nil, nil, nil
  end
  local function bad(what, v)
    error(string.format("%s: %s, got %s (call %s(model, X, y [, opts]) or %s{model =, X =, y =, ...})",
                        fname, what, type(v), fname, fname), 4)
  end
  local m = models.as_model(model)
  if not m then bad("the model must be a model or a model class", model) end
  if not tide.is_array(X) then bad("X must be an array", X) end
  if not tide.is_array(y) then bad("y must be an array", y) end
  if opts ~= nil and type(opts) ~= "table" then bad("the options must be a table", opts) end
  return m, X, y, opts or {}
end

-- tide.cross_validate(model, X, y [, {cv = 5, jobs, scoring, train_score}])
-- or tide.cross_validate{model =, X =, y =, cv =, ...}
-- -> {test_score = {...}, train_score = {...}, fit_time = {...}, score_time = {...}}
function search.cross_validate(model, X, y, opts)
  model, X, y, opts = arguments("cross_validate", model, X, y, opts)
  opts = optmod.check(opts, "tide.cross_validate", {"cv", "jobs", "scoring", "train_score",
                                                    "progress", "backend", "pool"}) or {}
  local loops = loops_of(opts.pool, "cross_validate")
  local folds = folds_of(opts.cv, X, y, model)
  local score = scorer_of(opts.scoring)
  local ts = opts.train_score or false
  local res = loops.collect(function(f) return evaluate(model, nil, X, y, folds[f], score, ts) end,
                           #folds, {jobs = opts.jobs, chunk = 1, backend = opts.backend,
                                    progress = host_progress(opts.progress, "tide.cross_validate")})
  local out = {test_score = {}, fit_time = {}, score_time = {}, train_score = ts and {} or nil}
  for f, r in ipairs(res) do
    out.test_score[f], out.fit_time[f], out.score_time[f] = r.test, r.fit_time, r.score_time
    if ts then out.train_score[f] = r.train end
  end
  return out
end

local Curve = {}
Curve.__index = Curve

-- tide.learning_curve(model, X, y [, {sizes = {0.1, 0.325, 0.55, 0.775, 1},
--   cv = 5, jobs, scoring}]) or tide.learning_curve{model =, X =, y =, ...}:
-- train and validation scores against training size.  Sizes are fractions
-- of the training fold (<= 1) or row counts (> 1); each fit uses the first
-- rows of its training fold.
function search.learning_curve(model, X, y, opts)
  model, X, y, opts = arguments("learning_curve", model, X, y, opts)
  opts = optmod.check(opts, "tide.learning_curve", {"sizes", "cv", "jobs", "scoring",
                                                    "progress", "backend", "pool"}) or {}
  local loops = loops_of(opts.pool, "learning_curve")
  local folds = folds_of(opts.cv, X, y, model)
  local score, scoring = scorer_of(opts.scoring)
  local sizes = opts.sizes or {0.1, 0.325, 0.55, 0.775, 1.0}
  if tide.is_array(sizes) then sizes = sizes:totable() end
  local ntrain = #folds[1].train
  for _, f in ipairs(folds) do ntrain = math.min(ntrain, #f.train) end
  local counts = {}
  for i, s in ipairs(sizes) do
    local c = s <= 1 and math.floor(s * ntrain + 0.5) or math.floor(s)
    if c < 1 or c > ntrain then
      error(string.format("learning_curve: size %s gives %d rows; the training folds hold %d", tostring(s), c, ntrain), 2)
    end
    counts[i] = c
  end
  local nf = #folds
  local res = loops.collect(function(t)
    local si, f = (t - 1) // nf + 1, (t - 1) % nf + 1
    local train = folds[f].train:slice(1, 1, counts[si])
    return evaluate(model, nil, X, y, {train = train, test = folds[f].test}, score, true)
  end, #counts * nf, {jobs = opts.jobs, chunk = 1, backend = opts.backend,
                      progress = host_progress(opts.progress, "tide.learning_curve")})
  local c = setmetatable({sizes = counts, train_scores = {}, test_scores = {}, scoring = scoring}, Curve)
  for si = 1, #counts do
    c.train_scores[si], c.test_scores[si] = {}, {}
    for f = 1, nf do
      local r = res[(si - 1) * nf + f]
      c.train_scores[si][f], c.test_scores[si][f] = r.train, r.test
    end
  end
  return c
end

-- Mean and std per size: train_mean, train_std, test_mean, test_std lists.
function Curve:summary()
  local out = {train_mean = {}, train_std = {}, test_mean = {}, test_std = {}}
  for i = 1, #self.sizes do
    out.train_mean[i], out.train_std[i] = mean_std(self.train_scores[i])
    out.test_mean[i], out.test_std[i] = mean_std(self.test_scores[i])
  end
  return out
end

function Curve:plot(path)
  local plot = require "tide.plot"
  local s = self:summary()
  local function band(m, sd)
    local lo, hi = {}, {}
    for i = 1, #m do lo[i], hi[i] = m[i] - sd[i], m[i] + sd[i] end
    return lo, hi
  end
  local tlo, thi = band(s.train_mean, s.train_std)
  local vlo, vhi = band(s.test_mean, s.test_std)
  local svg = plot.lines{
    title = "learning curve", xlabel = "training rows", ylabel = self.scoring,
    series = {{name = "train", x = self.sizes, y = s.train_mean},
              {name = "validation", x = self.sizes, y = s.test_mean}},
    bands = {{x = self.sizes, lo = tlo, hi = thi, series = 1},
             {x = self.sizes, lo = vlo, hi = vhi, series = 2}},
  }
  plot.save(path, svg)
  return path
end

return setmetatable(search, {__call = function(_, spec) return search.search(spec) end})
