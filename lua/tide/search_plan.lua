-- tide.search_plan: how a search shares work between its candidates.
-- Candidates are grouped by fold and by what they can share, and each
-- group runs as one task of the search's loop, with the scores each
-- candidate would get alone:
--   ridge / linear / lasso / elasticnet (also after a standard_scaler in a
--     pipeline): the moments of each fold's rows (one pass over the data
--     for all folds: every training fold is all rows minus its test fold),
--     then per fold one small solve per alpha (ridge) or a path of warm
--     starts from the largest alpha down (elastic net, covariance
--     updates), scored from the test fold's moments (r2, mse) or by the
--     scorer;
--   knn_regressor / knn_classifier: one neighbour search per fold at the
--     largest k; every k and weighting is scored from its lists;
--   logistic: per fold, the Cs from the smallest up, each fit starting
--     from the previous answer;
--   pipelines that copy nothing: their transformers fitted once per fold
--     and group, the final steps (grouped as above, or each alone) reading
--     X through them;
--   anything else: one task per candidate x fold.
-- The superlearner (tide.ensemble) uses the moments the same way.
-- A unit returns {[candidate] = {test, train, fit_time, score_time} or
-- {error = message}}.  In a shared group a candidate's fit_time is the
-- group's shared work (moment passes, the neighbour search's index)
-- divided evenly among its candidates, plus the time of its own solve;
-- score_time likewise.
local tide = require "tide"
local models = require "tide.models"
local gridmod = require "tide.grid"
local K = tide._internal.models
local plan = {}

local LINEAR = {ridge = "ridge", linear = "ridge", lasso = "enet", elasticnet = "enet"}
local KNN = {knn_regressor = true, knn_classifier = true}
-- scorings computed from a test fold's moments
local MOMENT_SCORES = {r2 = "r2", score = "r2", mse = "mse", neg_mse = "neg_mse",
                       neg_mean_squared_error = "neg_mse"}
-- scorings a neighbour search's lists can feed (metric, sign)
local KNN_SCORES = {r2 = {"r2", 1}, accuracy = {"accuracy", 1}, mse = {"mse", 1},
                    mae = {"mae", 1}, log_loss = {"log_loss", 1},
                    neg_mse = {"mse", -1}, neg_mean_squared_error = {"mse", -1},
                    neg_mean_absolute_error = {"mae", -1}, neg_log_loss = {"log_loss", -1}}
local EPS = 2.220446049250313e-16

local function class_name(m) return m._class and m._class.name end
local function is_pipeline(m) return getmetatable(m) ~= nil and type(m.steps) == "table" end

-- One fit and its scores, alone: the unit of an unshared search.
local function evaluate(model, params, X, y, fold, score, train_score)
  local m = model:clone()
  if params then m:set(params) end
  local t0 = tide.now()
  m:fit(X, y, {rows = fold.train})
  local t1 = tide.now()
  local r = {fit_time = t1 - t0, test = score(m, X, y, fold.test)}
  r.score_time = tide.now() - t1
  if train_score then r.train = score(m, X, y, fold.train) end
  return r
end
plan.evaluate = evaluate

-- Each candidate of list cs alone (a group's fallback), errors caught.
local function alone(ctx, f, cs, out)
  out = out or {}
  for _, c in ipairs(cs) do
    local ok, r = pcall(evaluate, ctx.model, ctx.cands[c], ctx.X, ctx.y, ctx.folds[f], ctx.score,
                        ctx.train_score)
    out[c] = ok and r or {error = tostring(r)}
  end
  return out
end

-- The key of what a candidate can share: its model's parameters but the
-- one a path varies (skip), as text.
local function key_of(params, skip)
  local names = {}
  for k in pairs(params) do if k ~= skip then names[#names + 1] = k end end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do
    local v = params[k]
    parts[i] = k .. "=" .. tostring(v)   -- a table: by identity (never wrongly grouped)
  end
  return table.concat(parts, ",")
end

-- What a candidate shares: family ("ridge", "enet", "knn", "logistic",
-- or "pipe": a pipeline's transformers fitted once per fold, the final
-- step alone on them) or nil, the final estimator (a model with the
-- candidate's parameters), the scaler in front of it when moments can
-- serve the group (pipeline{standard_scaler, linear}), whether it is a
-- pipeline, and the key of the group.
local function family_of(ctx, params)
  local m = ctx.model:clone()
  m:set(params)
  local final, scaler, pipe = m, nil, is_pipeline(m)
  local prefix = ""
  if pipe then
    if not m:_lazy() then return nil end   -- steps that copy: nothing to share
    final = m.steps[#m.steps]
    for i = 1, #m.steps - 1 do
      prefix = prefix .. "|" .. class_name(m.steps[i]) .. " " .. key_of(m.steps[i]:params())
    end
    if #m.steps == 2 and class_name(m.steps[1]) == "standard_scaler" then scaler = m.steps[1] end
  end
  local name = class_name(final)
  if not name then return nil end
  local fam = LINEAR[name] or (KNN[name] and "knn") or (name == "logistic" and "logistic") or nil
  if pipe and (fam == nil or ((fam == "ridge" or fam == "enet") and not scaler)) then fam = "pipe" end
  if fam == nil then return nil end
  local p = final:params()
  local skip = (fam == "ridge" or fam == "enet") and "alpha" or fam == "logistic" and "C" or nil
  local key = name .. "|" .. key_of(p, skip)
  if fam == "knn" or fam == "pipe" then key = name end  -- one search / the prefix is shared
  return fam, final, scaler, pipe, key .. prefix
end

-- ------------------------------------------------------------- moments

-- Row sets whose moments the linear groups need, one task each: every
-- test fold, and all rows (when every training fold is the rest of the
-- rows; not needed when the test folds also cover the rows once), or
-- else each training fold.
-- Whether the ranges of rowsets (lists of {first, last}) tile 1..n once.
local function tile(lists, n)
  local all = {}
  for _, l in ipairs(lists) do for _, r in ipairs(l) do all[#all + 1] = r end end
  table.sort(all, function(a, b) return a[1] < b[1] end)
  local next_row = 1
  for _, r in ipairs(all) do
    if r[1] ~= next_row then return false end
    next_row = r[2] + 1
  end
  return next_row == n + 1
end

-- complement: every training fold is the other rows; partition: the test
-- folds also cover the rows once.  From the ranges when the folds are
-- rowsets, else by marking rows.
local function fold_cover(n, folds)
  local rowsets = true
  for _, f in ipairs(folds) do
    rowsets = rowsets and tide.is_rowset(f.train) and tide.is_rowset(f.test)
  end
  if rowsets then
    local tests = {}
    for i, f in ipairs(folds) do
      if not tile({f.train:ranges(), f.test:ranges()}, n) then return false, false end
      tests[i] = f.test:ranges()
    end
    return true, tile(tests, n)
  end
  local cover, total = tide.zeros(n, "u8"), 0
  for _, f in ipairs(folds) do
    if #f.train + #f.test ~= n then return false, false end
    local mark = tide.zeros(n, "u8")
    mark:put(f.train, tide.ones(#f.train, "u8"))
    if mark:take(f.test):sum() ~= 0 then return false, false end
    cover:put(f.test, tide.ones(#f.test, "u8"))
    total = total + #f.test
  end
  return true, total == n and cover:sum() == n
end

local function moment_sets(X, folds)
  local n = #X
  local complement, partition = fold_cover(n, folds)
  local sets = {}
  for i, f in ipairs(folds) do sets[#sets + 1] = {rows = f.test, test = i} end
  if not complement then
    for i, f in ipairs(folds) do sets[#sets + 1] = {rows = f.train, train = i} end
    return sets, "each fold's training and test rows"
  end
  if partition then
    return sets, "each fold's test rows: one pass over the data (training folds = the other test folds)"
  end
  sets[#sets + 1] = {rows = nil, all = true}
  return sets, "all rows and each fold's test rows (training folds = all rows - test fold)"
end

-- The shift the moments are taken about: the mean of up to 1024 rows
-- spread over the data.
local function shift_of(X, y, rows)
  local n = rows and #rows or #X
  local K_ = math.min(n, 1024)
  local idx = {}
  for q = 1, K_ do
    idx[q] = (q - 1) * n // K_ + 1
    if rows then idx[q] = rows[idx[q]] end
  end
  local s = X:take(idx):astype("f64"):mean(1):copy()
  return s, y:take(idx):astype("f64"):mean()
end

local function warn_enet(name, n_iter, gap, tol)
  tide._internal.log(string.format(
    "tide: %s did not converge after %d iterations (duality gap %.6g > tol %.6g)\n",
    name, n_iter, gap, tol))
end

-- Fills ctx.mom = {train = {[f] = m}, test = {[f] = m}, time = {[f] = s}}
-- from the stage-1 results (a list of {m =, time =} per set).
local function combine_moments(ctx, res)
  local sets, nf = ctx.sets, #ctx.folds
  local mom = {train = {}, test = {}, time = {}}
  local all, all_time = nil, 0
  for i, set in ipairs(sets) do
    local r = res[i]
    if set.test then mom.test[set.test] = r.m end
    if set.train then mom.train[set.train] = r.m end
    if set.all then all, all_time = r.m, r.time end
  end
  local per_fold = 0
  for i, set in ipairs(sets) do if set.all then per_fold = res[i].time / nf end end
  if not sets[nf + 1] then   -- the test folds cover the rows once: all = their sum
    all = mom.test[1]:copy()
    for f = 2, nf do all:add_(mom.test[f]) end
    for f = 1, nf do per_fold = per_fold + res[f].time / nf end
  end
  for f = 1, nf do
    if not mom.train[f] then mom.train[f] = all - mom.test[f] end
    mom.time[f] = per_fold
    for i, set in ipairs(sets) do
      if set.train == f or (set.test == f and sets[nf + 1]) then
        mom.time[f] = mom.time[f] + res[i].time
      end
    end
  end
  mom.all = all
  ctx.mom = mom
  return all_time
end

-- A plain linear model m (ridge, linear, lasso, elasticnet; unfitted)
-- fitted from the moments mom (about shift, yshift) of its rows, as its
-- fit alone would give it; nil when that fit would not take the Cholesky
-- path (the caller fits from the rows).
function plan.linear_from_moments(m, mom, p, shift, yshift)
  local name = class_name(m)
  if is_pipeline(m) or not LINEAR[name] then return nil end
  local pp = m:params()
  local o = {shift = shift, yshift = yshift, fit_intercept = pp.fit_intercept,
             alphas = {pp.alpha or 0}}
  if LINEAR[name] == "ridge" then
    local C, B, refused = K.ridge_moments(mom, p, o)
    if refused[1] then return nil end
    m.coef, m.intercept, m.solver = C[1]:copy(), B[1], "cholesky"
  else
    for _, k in ipairs{"l1_ratio", "tol", "max_iter", "positive", "selection", "random_state"} do
      o[k] = pp[k]
    end
    if name == "lasso" then o.l1_ratio = 1.0 end
    local C, B, info = K.enet_moments(mom, p, o)
    m.coef, m.intercept, m.n_iter = C[1]:copy(), B[1], info.n_iter[1]
    m.dual_gap, m.converged = info.gap[1] / mom[1], info.converged[1]
    if not m.converged then warn_enet(name, info.n_iter[1], info.gap[1], info.tol[1]) end
  end
  m._fitted, m.n_features = true, p
  return m
end

-- The best candidate c refitted on all rows from their moments (the sum
-- of the folds'), as its fit alone would give it; nil when c's group did
-- not use moments or the model is a pipeline (then it is fitted anew).
function plan.refit(ctx, c)
  if not (ctx.mom and ctx.mom.all and ctx.linear_cands and ctx.linear_cands[c]) then return nil end
  return plan.linear_from_moments(ctx.model:clone():set(ctx.cands[c]), ctx.mom.all, ctx.p,
                                  ctx.shift, ctx.yshift)
end

-- The standard scaler's statistics from a training fold's moments: its
-- offset a and scale b (nil: none), as standard_scaler's fit gives them.
local function scaler_of(ctx, scaler, m)
  local p, n = ctx.p, m[1]
  local sp = scaler:params()
  local a, b = tide.zeros(p), tide.ones(p)
  for j = 1, p do
    local t, Mjj = m[3 + j], m[3 + 2 * p + (j - 1) * p + j]
    local mean = ctx.shift[j] + t / n
    local v = (Mjj - t * t / n) / n
    a[j] = mean
    if v <= n * EPS * v + (n * mean * EPS) ^ 2 then b[j] = 1.0 else b[j] = math.sqrt(v) end
  end
  return sp.with_mean and a or nil, sp.with_std and b or nil
end

-- A fitted linear model (or nil for a pipeline) with these coefficients.
local function linear_model(ctx, params, coef, b)
  local m = ctx.model:clone():set(params)
  if is_pipeline(m) then return nil end
  m.coef, m.intercept, m._fitted, m.n_features = coef, b, true, ctx.p
  return m
end

-- Scores of a fold's candidates from moments (r2 / mse) or the scorer.
local function linear_scores(ctx, f, cs, C, B, which, mom)
  local how = MOMENT_SCORES[ctx.scoring]
  if how and not (ctx.scoring == "score" and ctx.kind ~= "regressor") then
    local sse = K.moments_sse(mom, ctx.p, {shift = ctx.shift, yshift = ctx.yshift}, C, B)
    local n, ty, yy = mom[1], mom[2], mom[3]
    local sst = yy - ty * ty / n
    local out = {}
    for i = 1, #cs do
      local e = sse[i]
      if how == "r2" then out[i] = sst > 0 and 1 - e / sst or (e == 0 and 1.0 or 0.0)
      elseif how == "mse" then out[i] = e / n
      else out[i] = -e / n end
    end
    return out
  end
  local out = {}
  local rows = which == "test" and ctx.folds[f].test or ctx.folds[f].train
  for i, c in ipairs(cs) do
    local m = linear_model(ctx, ctx.cands[c], C[i]:copy(), B[i])
    out[i] = ctx.score(m, ctx.X, ctx.y, rows)
  end
  return out
end

-- Fold f's training and test moments, and their time per candidate that
-- uses them: from stage 1, or (an async search, which has no stage 1)
-- taken here, once per fold and worker.
local function fold_moments(ctx, f)
  local per = ctx.linear_per_fold[f]
  if ctx.mom then return ctx.mom.train[f], ctx.mom.test[f], ctx.mom.time[f] / per end
  ctx.own = ctx.own or {}
  local own = ctx.own[f]
  if own then return own.train, own.test, 0 end
  local t0 = tide.now()
  local o = {shift = ctx.shift, yshift = ctx.yshift}
  o.rows = ctx.folds[f].train
  local tr = K.moments(ctx.X, ctx.y, o)
  o.rows = ctx.folds[f].test
  own = {train = tr, test = K.moments(ctx.X, ctx.y, o)}
  ctx.own[f] = own
  return own.train, own.test, (tide.now() - t0) / per
end

-- One fold's linear group: cs (candidates), final (a model with the
-- group's shared parameters), scaler or nil.
local function linear_unit(ctx, f, cs, fam, final, scaler)
  local out = {}
  local mom, mom_te, share = fold_moments(ctx, f)
  local t0 = tide.now()
  local a, b
  if scaler then a, b = scaler_of(ctx, scaler, mom) end
  local fp = final:params()
  local order = {}
  for i, c in ipairs(cs) do order[i] = c end
  local alpha = {}
  for _, c in ipairs(cs) do
    local m = ctx.model:clone():set(ctx.cands[c])
    local fin = is_pipeline(m) and m.steps[2] or m
    alpha[c] = fin:params().alpha or 0
  end
  local o = {shift = ctx.shift, yshift = ctx.yshift, a = a, b = b,
             fit_intercept = fp.fit_intercept, alphas = {}}
  local C, B, refused, info
  if fam == "ridge" then
    for i, c in ipairs(order) do o.alphas[i] = alpha[c] end
    C, B, refused = K.ridge_moments(mom, ctx.p, o)
  else   -- a path: the largest alpha first, each fit warm-started from the last
    table.sort(order, function(x, y) return alpha[x] > alpha[y] or alpha[x] == alpha[y] and x < y end)
    for i, c in ipairs(order) do o.alphas[i] = alpha[c] end
    for _, k in ipairs{"l1_ratio", "tol", "max_iter", "positive", "selection", "random_state"} do
      o[k] = fp[k]
    end
    if class_name(final) == "lasso" then o.l1_ratio = 1.0 end
    C, B, info = K.enet_moments(mom, ctx.p, o)
    refused = {}
    for i = 1, #order do
      if not info.converged[i] then
        warn_enet(class_name(final), info.n_iter[i], info.gap[i], info.tol[i])
      end
    end
  end
  local t1 = tide.now()
  local ok_c, ok_i, again = {}, {}, {}
  for i, c in ipairs(order) do
    if refused[i] then again[#again + 1] = c else ok_c[#ok_c + 1] = c; ok_i[#ok_i + 1] = i end
  end
  if #ok_c > 0 then
    local Cs, Bs = C, B
    if #ok_c < #order then Cs, Bs = C:take(ok_i), B:take(ok_i) end
    local test = linear_scores(ctx, f, ok_c, Cs, Bs, "test", mom_te)
    local train = ctx.train_score and linear_scores(ctx, f, ok_c, Cs, Bs, "train", mom) or nil
    local t2 = tide.now()
    for i, c in ipairs(ok_c) do
      out[c] = {test = test[i], train = train and train[i] or nil, shared = true,
                fit_time = share + (t1 - t0) / #order, score_time = (t2 - t1) / #ok_c}
    end
  end
  return alone(ctx, f, again, out)
end

-- ------------------------------------------------- pipelines' prefixes

-- A pipeline group's transformers fitted once on fold f's training rows,
-- each reading X through the maps of those before it: {steps, maps, time},
-- or nil for a plain model.
local function prefix_fit(ctx, f, c)
  local m = ctx.model:clone():set(ctx.cands[c])
  if not is_pipeline(m) then return nil end
  local t0, maps = tide.now(), {}
  for i = 1, #m.steps - 1 do
    local chain = nil
    if #maps > 0 then chain = {table.unpack(maps)} end
    m.steps[i]:fit(ctx.X, ctx.y, {rows = ctx.folds[f].train, _xmap = chain})
    maps[i] = m.steps[i]:_colmap()
  end
  return {steps = m.steps, maps = maps, time = tide.now() - t0}
end

-- Candidate c's final estimator (unfitted), and the model to score once it
-- is fitted: itself, or its pipeline around the group's fitted prefix.
local function final_of(ctx, c)
  local m = ctx.model:clone():set(ctx.cands[c])
  return is_pipeline(m) and m.steps[#m.steps] or m
end
local function scored(ctx, c, pre, fitted)
  if not pre then return fitted end
  local m = ctx.model:clone():set(ctx.cands[c])
  for i = 1, #pre.steps do m.steps[i] = pre.steps[i] end
  m.steps[#m.steps] = fitted
  m._fitted, m.n_features, m.classes = true, ctx.p, fitted.classes
  return m
end

-- A pipeline group whose final steps share nothing but the prefix: each
-- fitted alone on the fold's rows through the prefix's maps.
local function pipe_unit(ctx, f, cs)
  local fold, out = ctx.folds[f], {}
  local pre = prefix_fit(ctx, f, cs[1])
  for _, c in ipairs(cs) do
    local ok, r = pcall(function()
      local t0 = tide.now()
      local fin = final_of(ctx, c):fit(ctx.X, ctx.y, {rows = fold.train, _xmap = pre.maps})
      local m = scored(ctx, c, pre, fin)
      local t1 = tide.now()
      local res = {fit_time = t1 - t0 + pre.time / #cs, test = ctx.score(m, ctx.X, ctx.y, fold.test),
                   shared = true}
      res.score_time = tide.now() - t1
      if ctx.train_score then res.train = ctx.score(m, ctx.X, ctx.y, fold.train) end
      return res
    end)
    out[c] = ok and r or {error = tostring(r)}
  end
  return out
end

-- ---------------------------------------------------------------- k-NN

local SUB = 1024   -- queries per neighbour search in a k-NN group

local function knn_unit(ctx, f, cs)
  local how = KNN_SCORES[ctx.scoring]
  if ctx.scoring == "score" then
    how = ctx.kind == "classifier" and {"accuracy", 1} or {"r2", 1}
  end
  local fold = ctx.folds[f]
  local ntrain = #fold.train
  local ks, usable, out = {}, {}, {}
  local kmax = 0
  for _, c in ipairs(cs) do
    ks[c] = final_of(ctx, c):params()
    if ks[c].k <= ntrain then
      usable[#usable + 1] = c
      kmax = math.max(kmax, ks[c].k)
    else
      alone(ctx, f, {c}, out)
    end
  end
  if #usable == 0 then return out end
  local t0 = tide.now()
  local pre = prefix_fit(ctx, f, usable[1])
  local maps = pre and pre.maps or nil
  local base = final_of(ctx, usable[1]):set{k = kmax}
  base:fit(ctx.X, ctx.y, {rows = fold.train, _xmap = maps})
  local t1 = tide.now()
  local proba = how[1] == "log_loss"
  local classes = base.classes
  local function run(rows)
    local n = rows and #rows or #ctx.X
    local accs = {}
    for i in ipairs(usable) do
      accs[i] = models._internal.score_acc(how[1], ctx.y, n, proba and classes or nil)
    end
    -- each scoring block's neighbours are found SUB rows at a time: the
    -- lists of a whole block would hold more than its predictions
    models._internal.blocks(rows, n, function(r)
      local nb = r and #r or n
      local out = {}
      for a = 1, nb, SUB do
        local b = math.min(a + SUB - 1, nb)
        local sub = r and (b - a + 1 < nb and r:slice(1, a, b) or r) or tide.rowset(a, b)
        local D, I = base:kneighbors(ctx.X, {rows = sub, k = kmax, _xmap = maps})
        for i, c in ipairs(usable) do
          local o = {k = ks[c].k, distance = ks[c].weights == "distance", classes = classes,
                     proba = proba}
          local lab, P = K.knn_reduce(D, I, ctx.y, o)
          local v = proba and P or lab
          if nb <= SUB then out[i] = v
          else
            out[i] = out[i] or (proba and tide.zeros({nb, #classes}) or tide.zeros(nb, v.dtype))
            out[i]:slice(1, a, b):assign_(v)
            v:close()
          end
          if proba then lab:close() end
        end
        -- closed at once: garbage arrays would grow the worker's heap
        D:close()
        I:close()
      end
      for i in ipairs(usable) do
        accs[i]:add(r, out[i])
        out[i]:close()
      end
    end)
    local v = {}
    for i in ipairs(usable) do v[i] = how[2] * accs[i]:value() end
    return v
  end
  local test = run(fold.test)
  local t2 = tide.now()
  local train = ctx.train_score and run(fold.train) or nil
  local t3 = tide.now()
  for i, c in ipairs(usable) do
    out[c] = {test = test[i], train = train and train[i] or nil, shared = true,
              fit_time = (t1 - t0) / #usable, score_time = (t3 - t1) / #usable}
  end
  return out
end

-- ------------------------------------------------------------ logistic

local function logistic_unit(ctx, f, cs)
  local fold, out = ctx.folds[f], {}
  local order, C, fp = {}, {}, {}
  for i, c in ipairs(cs) do
    order[i] = c
    fp[c] = final_of(ctx, c):params()
    C[c] = fp[c].C
  end
  table.sort(order, function(x, y) return C[x] < C[y] or C[x] == C[y] and x < y end)
  local pre = prefix_fit(ctx, f, cs[1])
  local maps = pre and pre.maps or nil
  local m = final_of(ctx, order[1])
  for _, c in ipairs(order) do
    local ok, r = pcall(function()
      m:set(fp[c])
      local t0 = tide.now()
      m:fit(ctx.X, ctx.y, {rows = fold.train, warm_start = true, _xmap = maps})
      local sm = scored(ctx, c, pre, m)
      local t1 = tide.now()
      local res = {fit_time = t1 - t0 + (pre and pre.time / #cs or 0), shared = true,
                   test = ctx.score(sm, ctx.X, ctx.y, fold.test)}
      res.score_time = tide.now() - t1
      if ctx.train_score then res.train = ctx.score(sm, ctx.X, ctx.y, fold.train) end
      return res
    end)
    if ok then out[c] = r
    else
      out[c] = {error = tostring(r)}
      m = final_of(ctx, c)   -- no warm start from a failed fit
    end
  end
  return out
end

-- ---------------------------------------------------------------- plan

-- plan.make(ctx): ctx holds model, cands, folds, X, y, score (function),
-- scoring (name), kind, train_score, share, async.  Returns the plan: ctx.sets
-- (stage 1: moment tasks, or nil), ctx.units (stage 2), ctx.lines (text).
function plan.make(ctx)
  local cands, folds, nf = ctx.cands, ctx.folds, #ctx.folds
  ctx.units, ctx.lines = {}, {}
  local X = ctx.X
  local p = X.ndim == 2 and X.shape[2] or 0
  ctx.p = p
  local groups, order = {}, {}
  local singles = {}
  if ctx.share then
    local min_train = math.huge
    for _, f in ipairs(folds) do min_train = math.min(min_train, #f.train) end
    local y1 = ctx.y ~= nil and (ctx.y.ndim == 1 or (ctx.y.ndim == 2 and ctx.y.shape[2] == 1))
    for c, params in ipairs(cands) do
      local fam, final, scaler, pipe, key = family_of(ctx, params)
      if fam == "ridge" or fam == "enet" then
        -- the Gram path of a single fit, a scorer the moments or models serve
        if not (X.ndim == 2 and y1 and p >= 1 and p <= math.min(min_train, 2048) and
                (MOMENT_SCORES[ctx.scoring] or not pipe) and
                not (ctx.scoring == "score" and ctx.kind ~= "regressor")) then
          fam, scaler = pipe and "pipe" or nil, nil
          key = class_name(final) .. "|pipe" .. key
        end
      elseif fam == "knn" then
        if not KNN_SCORES[ctx.scoring] and ctx.scoring ~= "score" then
          fam = pipe and "pipe" or nil
          key = "pipe|" .. key
        end
      end
      if fam then
        if not groups[key] then
          groups[key] = {fam = fam, final = final, scaler = scaler, pipe = pipe, cands = {}}
          order[#order + 1] = key
        end
        table.insert(groups[key].cands, c)
      else
        singles[#singles + 1] = c
      end
    end
    -- a group of one candidate shares nothing (but a linear one still
    -- saves passes when others use the moments)
    local kept = {}
    for _, key in ipairs(order) do
      local g = groups[key]
      if #g.cands == 1 and g.fam ~= "ridge" and g.fam ~= "enet" and not g.pipe then
        singles[#singles + 1] = g.cands[1]
      else
        kept[#kept + 1] = key
      end
    end
    order = kept
    table.sort(singles)
  else
    for c = 1, #cands do singles[c] = c end
  end
  local linear = false
  for _, key in ipairs(order) do
    local g = groups[key]
    if g.fam == "ridge" or g.fam == "enet" then linear = true end
  end
  ctx.linear_per_fold, ctx.linear_cands = {}, {}
  for f = 1, nf do ctx.linear_per_fold[f] = 0 end
  if linear then
    ctx.shift, ctx.yshift = shift_of(X, ctx.y)
    if ctx.async then   -- one loop: each fold's first group takes its moments
      ctx.lines[#ctx.lines + 1] = "  moments: each fold's training and test rows, taken by the " ..
                                  "fold's first group (async: no stage 1)"
    else
      ctx.sets, ctx.sets_text = moment_sets(X, folds)
      ctx.lines[#ctx.lines + 1] = string.format("  moments (stage 1): %d tasks over %s",
                                                #ctx.sets, ctx.sets_text)
    end
  end
  for _, key in ipairs(order) do
    local g = groups[key]
    local what
    local names = {}
    for _, c in ipairs(g.cands) do names[#names + 1] = gridmod.format(cands[c]) end
    if g.fam == "ridge" or g.fam == "enet" then
      for f = 1, nf do ctx.linear_per_fold[f] = ctx.linear_per_fold[f] + #g.cands end
      for _, c in ipairs(g.cands) do ctx.linear_cands[c] = true end
      local how = g.fam == "ridge" and "solved from the fold's Gram matrix"
                  or "as a path (largest alpha first, warm starts, the fold's Gram matrix)"
      what = string.format("%s%s: %d candidates per fold %s, scored %s",
                           g.scaler and "standard_scaler + " or "", class_name(g.final),
                           #g.cands, how, MOMENT_SCORES[ctx.scoring] and "from the fold's moments"
                                            or "by the scorer")
    elseif g.fam == "knn" then
      what = string.format("%s: %d candidates per fold from one neighbour search at the largest k",
                           class_name(g.final), #g.cands)
    elseif g.fam == "logistic" then
      what = string.format("logistic: %d candidates per fold along C (smallest first, warm starts)",
                           #g.cands)
    else
      what = string.format("%s: %d candidates per fold, each alone", class_name(g.final), #g.cands)
    end
    if g.pipe and not g.scaler then
      what = "pipeline, its transformers fitted once per fold and read through, then " .. what
    end
    for f = 1, nf do
      ctx.units[#ctx.units + 1] = {fold = f, cands = g.cands, run = function()
        if g.fam == "knn" then return knn_unit(ctx, f, g.cands) end
        if g.fam == "logistic" then return logistic_unit(ctx, f, g.cands) end
        if g.fam == "pipe" then return pipe_unit(ctx, f, g.cands) end
        local ok, r = pcall(linear_unit, ctx, f, g.cands, g.fam, g.final, g.scaler)
        if ok then return r end
        return alone(ctx, f, g.cands)   -- e.g. NaN in X: each fit names it
      end}
    end
    ctx.lines[#ctx.lines + 1] = string.format("  %s: %d tasks (one per fold)\n    %s", what, nf,
                                              table.concat(names, " "))
  end
  -- candidate-outer, as an unshared search: task t is candidate (t-1)//nf+1
  for _, c in ipairs(singles) do
    for f = 1, nf do
      ctx.units[#ctx.units + 1] = {fold = f, cands = {c}, single = true, run = function()
        return {[c] = evaluate(ctx.model, cands[c], ctx.X, ctx.y, folds[f], ctx.score,
                               ctx.train_score)}
      end}
    end
  end
  if #singles > 0 then
    ctx.lines[#ctx.lines + 1] = string.format("  %d candidates x %d folds alone: %d tasks%s",
                                              #singles, nf, #singles * nf,
                                              ctx.share and "" or " (share = false)")
  end
  local after = ctx.sets and string.format(" after %d moment tasks", #ctx.sets) or ""
  table.insert(ctx.lines, 1, string.format("search plan: %d candidates x %d folds = %d fits in " ..
                                           "%d tasks%s", #cands, nf, #cands * nf, #ctx.units, after))
  return ctx
end

-- Stage 1 task i: the moments of set i.
function plan.moment_task(ctx, i)
  local t0 = tide.now()
  local m = K.moments(ctx.X, ctx.y, {rows = ctx.sets[i].rows, shift = ctx.shift,
                                     yshift = ctx.yshift})
  return {m = m, time = tide.now() - t0}
end

plan.combine_moments = combine_moments
plan.shift_of = shift_of
return plan
