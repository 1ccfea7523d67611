-- search_sklearn.lua: tide.search agrees with scikit-learn's GridSearchCV on
-- the same folds (committed fixtures made by tests/fixtures/make_search.py),
-- the stacking ensemble matches a serial reconstruction, the SVG plots are
-- well-formed, and, when Debian's scikit-learn is installed, live checks on
-- fresh data (GridSearchCV, StackingClassifier).
local check = require "check"
local xml = require "xmlcheck"
local dir = assert(os.getenv("TIDE_FIXTURES")) .. "/search/"
local X, y = tide.load(dir .. "X.npy"), tide.load(dir .. "y.npy")
local n = #X

-- the fixture's folds: test rows given, train rows the rest
local folds = {}
for k = 1, 5 do
  local test = tide.load(dir .. "test" .. k .. ".npy")
  local mask = tide.ones(n, "bool")
  for i = 1, #test do mask[test[i]] = false end
  folds[k] = {test = test, train = tide.where(mask)}
end

local function compare(name, model, grid)
  local s = tide.search{model = model, grid = grid, X = X, y = y, cv = folds, jobs = 2, scoring = "r2"}
  local mean, std = tide.load(dir .. name .. "_mean.npy"), tide.load(dir .. name .. "_std.npy")
  local rank = tide.load(dir .. name .. "_rank.npy")
  local rows = s:rows()
  check.eq(#rows, #mean, name .. ": candidates")
  -- candidates come in scikit-learn's ParameterGrid order
  for i, r in ipairs(rows) do
    local tol = (name == "enet") and 1e-4 or 1e-9  -- coordinate descent stops at its tolerance
    check.near(r.mean_test, mean[i], tol, name .. " mean score " .. i)
    check.near(r.std_test, std[i], name == "enet" and 1e-3 or 1e-7, name .. " std " .. i)
    check.eq(r.rank, rank[i], name .. " rank " .. i)
  end
  return s
end

local s = compare("ridge", tide.models.ridge{}, {alpha = tide.logspace(-3, 3, 7)})
check.near(s.best_params.alpha, 1.0, 1e-12, "ridge best alpha")
local e = compare("enet", tide.models.elasticnet{},
                  {alpha = tide.logspace(-3, 0, 4), l1_ratio = {0.1, 0.5, 0.9}})
check.near(e.best_params.alpha, 0.01, 1e-12); check.eq(e.best_params.l1_ratio, 0.9)

-- plots parse as XML, and render when rsvg-convert is there
local tmp = os.tmpname()
e:plot(tmp .. ".svg")
local lc = tide.learning_curve(tide.models.ridge{}, X, y, {cv = folds, sizes = {0.3, 0.6, 1.0}})
lc:plot(tmp .. "-lc.svg")
for _, f in ipairs{tmp .. ".svg", tmp .. "-lc.svg"} do
  local fh = assert(io.open(f))
  local text = fh:read("a"); fh:close()
  local ok, err = xml.balanced(text)
  check.truthy(ok, f .. " has balanced tags: " .. tostring(err))
  local parsed = xml.python(f)
  check.truthy(parsed == "ok" or parsed == "skip", f .. " parses as XML: " .. parsed)
  local rendered = xml.render(f)
  check.truthy(rendered == "ok" or rendered == "skip", f .. " renders: " .. rendered)
  os.remove(f)
end
os.remove(tmp)

-- stacking: the ensemble equals a serial reconstruction of its steps
local base = {tide.models.ridge{alpha = 1}, tide.models.lasso{alpha = 0.05}}
local meta = tide.models.linear{}
local sl = tide.ensemble.superlearner{layers = {base}, meta = meta, folds = 2, jobs = 2}:fit(X, y)
local sfolds = tide.cv.kfold(n, 2)
local P = tide.zeros(n, 2)
for j, m in ipairs(base) do
  for _, f in ipairs(sfolds) do
    local pred = m:clone():fit(X, y, {rows = f.train}):predict(X, {rows = f.test})
    for i = 1, #f.test do P:set(f.test[i], j, pred[i]) end
  end
end
local mref = meta:clone():fit(P, y)
local Q = tide.zeros(n, 2)
for j, m in ipairs(base) do Q:col(j):assign_(m:clone():fit(X, y):predict(X)) end
local want, got = mref:predict(Q), sl:predict(X)
local maxd = (want - got):abs():max()
check.truthy(maxd < 1e-9, "stacking matches the serial steps (max diff " .. maxd .. ")")
check.truthy(sl:score(X, y) > 0.5, "stacking fits")
local back = tide.collect(function() return sl end, 1, {jobs = 2})[1]
check.near((back:predict(X) - got):abs():max(), 0, 1e-12, "a fitted ensemble crosses from a worker")

-- live: fresh data against scikit-learn's GridSearchCV, when installed
if os.execute("/usr/bin/python3 -c 'import sklearn' 2>/dev/null") == true then
  local Xl = tide.rand(300, 5, {seed = 11})
  local yl = Xl:col(1) * 3 - Xl:col(2) + tide.randn(300, {seed = 12}) * 0.3
  local base_path = os.tmpname()
  tide.save(base_path .. "X.npy", Xl); tide.save(base_path .. "y.npy", yl)
  local py = string.format([[
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
X, y = np.load("%sX.npy"), np.load("%sy.npy")
gs = GridSearchCV(Ridge(), {"alpha": np.logspace(-2, 2, 5)}, cv=KFold(4), scoring="r2").fit(X, y)
print(" ".join("%%.12g" %% v for v in gs.cv_results_["mean_test_score"]))
]], base_path, base_path)
  local f = io.open(base_path .. ".py", "w"); f:write(py); f:close()
  local p = io.popen("/usr/bin/python3 " .. base_path .. ".py")
  local line = p:read("l"); p:close()
  local ls = tide.search{model = tide.models.ridge{}, grid = {alpha = tide.logspace(-2, 2, 5)},
                         X = Xl, y = yl, cv = tide.cv.kfold(300, 4), jobs = 2}
  local i = 0
  for v in (line or ""):gmatch("%S+") do
    i = i + 1
    check.near(ls:rows()[i].mean_test, tonumber(v), 1e-9, "live GridSearchCV score " .. i)
  end
  check.eq(i, 5, "live comparison ran")

  -- a stack of classifiers against StackingClassifier on the same 2 folds:
  -- with three classes both feed the meta learner every class probability
  -- (the logistic fits stop at their solver tolerance, hence 5e-3)
  local v = Xl:col(1) * 2 + Xl:col(2) + tide.randn(300, {seed = 13}) * 0.2
  local y3 = v:gt(1):astype("i64") + v:gt(2):astype("i64")
  tide.save(base_path .. "y3.npy", y3)
  local sk = io.open(base_path .. "-stack.py", "w")
  sk:write(string.format([[
import numpy as np
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier
X, y = np.load("%sX.npy"), np.load("%sy3.npy")
st = StackingClassifier([("lr", LogisticRegression()), ("knn", KNeighborsClassifier())],
                        final_estimator=LogisticRegression(), cv=KFold(2),
                        stack_method="predict_proba").fit(X[:200], y[:200])
np.save("%sproba.npy", st.predict_proba(X[200:]))
print("%%.12g" %% st.score(X[200:], y[200:]))
]], base_path, base_path, base_path))
  sk:close()
  p = io.popen("/usr/bin/python3 " .. base_path .. "-stack.py")
  local skacc = tonumber(p:read("l")); p:close()
  local stack = tide.ensemble.superlearner{layers = {{tide.models.logistic, tide.models.knn_classifier}},
                                           meta = tide.models.logistic, folds = 2, jobs = 2}
  stack:fit(Xl, y3, {rows = tide.rowset(1, 200)})
  local test = tide.rowset(201, 300)
  local acc = stack:score(Xl, y3, {rows = test})
  check.truthy(skacc and math.abs(acc - skacc) <= 0.02,
               string.format("stacked accuracy %s, scikit-learn's %s", acc, skacc))
  local skp = tide.load(base_path .. "proba.npy")
  local d = (stack:predict_proba(Xl, {rows = test}) - skp):abs():max()
  check.truthy(d < 5e-3, "stacked probabilities agree with StackingClassifier's (max diff " .. d .. ")")
  for _, suffix in ipairs{"X.npy", "y.npy", "y3.npy", "proba.npy", ".py", "-stack.py", ""} do
    os.remove(base_path .. suffix)
  end
else
  print("scikit-learn not installed: live comparison skipped")
end
check.done()
