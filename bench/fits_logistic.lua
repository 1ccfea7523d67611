-- fits_logistic.lua: tide.models.logistic (default parameters) on Friedman #1
-- with y > median as the binary target, 800,000 training rows x 10 and x 50
-- (or the rows and widths given),
-- accuracy on 200,000 held-out rows.  Run with OPENBLAS_NUM_THREADS=1 to
-- compare with bench/fits_logistic_sklearn.py (one BLAS thread both sides).
-- usage: OPENBLAS_NUM_THREADS=1 tide bench/fits_logistic.lua [n_train=800000] [json-out]
--          [widths=10,50]   (json-out "-": none)
local ntr = tonumber(arg[1]) or 800000
local out = arg[2] ~= "-" and arg[2] or nil
local widths = {}
for w in (arg[3] or "10,50"):gmatch("%d+") do widths[#widths + 1] = tonumber(w) end
local nte = ntr // 4
local n = ntr + nte

-- Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, 1),
-- x uniform in [0, 1]; the other columns are noise.  Label: y > median(y).
local function friedman(p, seed)
  local X = tide.rand({n, p}, {seed = seed})
  local c = {}
  for j = 1, 5 do c[j] = X:col(j):copy() end
  local e = tide.randn(n, {seed = seed + 1})
  local y = tide.zeros(n)
  local vals = {}
  for i = 1, n do
    local v = 10 * math.sin(math.pi * c[1][i] * c[2][i]) + 20 * (c[3][i] - 0.5) ^ 2 +
              10 * c[4][i] + 5 * c[5][i] + e[i]
    y[i] = v
    vals[i] = v
  end
  table.sort(vals)
  local med = (vals[n // 2] + vals[n // 2 + 1]) / 2
  local lab = tide.zeros(n, "i64")
  for i = 1, n do lab[i] = y[i] > med and 1 or 0 end
  return X, lab
end

local function best(f, reps)
  local t = math.huge
  for _ = 1, reps or 3 do
    local t0 = tide.now()
    f()
    t = math.min(t, tide.now() - t0)
  end
  return t
end

local f = out and io.open(out, "a")
for _, p in ipairs(widths) do
  local X, y = friedman(p, 7 * p)
  local Xtr, ytr = X:slice(1, 1, ntr), y:slice(1, 1, ntr)
  local test = tide.range(ntr + 1, n)
  local m
  local t = best(function() m = tide.models.logistic{}:fit(Xtr, ytr) end)
  local acc = m:score(X, y, {rows = test})
  print(string.format("fits     tide  logistic x%d  %.3f s  acc %.4f  (%s, %d iterations)",
                      p, t, acc, m.solver_used, m.n_iter))
  -- the same fit on the training rows as a fold (`rows =`: blocked gathers)
  local train = tide.range(1, ntr)
  local mr
  local tr = best(function() mr = tide.models.logistic{}:fit(X, y, {rows = train}) end)
  local accr = mr:score(X, y, {rows = test})
  print(string.format("fits     tide  logistic x%d rows=  %.3f s  acc %.4f", p, tr, accr))
  if f then
    f:write(string.format('{"bench": "fits", "impl": "tide", "model": "logistic", "p": %d, ' ..
                          '"s": %.6f, "accuracy": %.6f}\n', p, t, acc))
    f:write(string.format('{"bench": "fits", "impl": "tide", "model": "logistic_rows", ' ..
                          '"p": %d, "s": %.6f, "accuracy": %.6f}\n', p, tr, accr))
  end
  X:close()
end
if f then f:close() end
