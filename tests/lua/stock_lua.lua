-- stock_lua.lua: `require "tide"` from Debian's stock lua5.4 against the
-- build tree's tide.so gives all of tide: arrays and loops, and the Lua-side
-- modules (models, search, cv, grid, ensemble, ...), none of which may read
-- a global `tide`.  The script below runs with _G locked (reading or writing
-- a global that the standard library does not define raises), so a stray
-- global read anywhere -- README's tour, the modules, their function bodies
-- -- fails the test.
local check = require "check"
local build = assert(os.getenv("TIDE_BUILD"))
if os.execute("command -v lua5.4 >/dev/null 2>&1") ~= true then
  print("lua5.4 not installed: skipped")
  os.exit(77)
end
if os.getenv("TIDE_SANITIZE") == "ON" then
  -- an ASan-instrumented tide.so cannot load into an uninstrumented lua5.4
  print("sanitizer build: skipped")
  os.exit(77)
end

local function run(script, args, cwd)
  local p = io.popen("cd " .. (cwd or "/") .. " && LUA_CPATH='" .. build .. "/?.so' lua5.4 " ..
                     script .. " " .. (args or "") .. " 2>&1")
  local out = p:read("a")
  return p:close(), out
end

-- the first test ever made: arrays, and tide.util found from stock Lua
local ok, out = run("-e '" .. [[local tide = require "tide"; local a = tide.arange(1, 4); ]] ..
  [[print(tide.version, a:totable()[3], a.dtype, require("tide.util") ~= nil)]] .. "'")
check.truthy(ok, "lua5.4 exited cleanly: " .. out)
check.truthy(out:find(tide.version .. "\t3\ti64\ttrue", 1, true), "output: " .. out)

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local readme = assert(io.open("../../README.md")):read("a")
local tour = assert(readme:match("```lua\n(.-)```"), "README has a ```lua block")
local f = assert(io.open(dir .. "/tour.lua", "w"))
f:write(tour)
f:close()
f = assert(io.open(dir .. "/data.csv", "w"))
f:write("a,b\n1,2\n3,4\n")
f:close()

local script = [=[
local dir = ...
setmetatable(_G, {
  __index = function(_, k) error("read of undefined global '" .. tostring(k) .. "'", 2) end,
  __newindex = function(_, k) error("write of global '" .. tostring(k) .. "'", 2) end})
local tide = require "tide"
local function has(path)
  local v = tide
  for part in path:gmatch("[^.]+") do v = v[part] end
  assert(v ~= nil, "tide." .. path .. " is missing")
end
for _, path in ipairs{"models.ridge", "cv.kfold", "grid", "ensemble.superlearner", "search",
                      "learning_curve", "cross_validate", "pipeline", "dist.loguniform",
                      "plot.lines", "metrics.r2", "pool", "timed", "monitor"} do
  has(path)
end

-- README's short tour, with the names it uses but does not define
local src = assert(io.open(dir .. "/tour.lua")):read("a")
local prelude = "local tide = require 'tide'; local y = tide.zeros(1000000); " ..
                "local f = function(x) return 2 * x end; local items = {1, 2, 3}; "
local tour = assert(load(prelude .. src, "=README tour", "t"))
tour()  -- (run in dir: it writes r.npy and reads data.csv)

-- the modules, called: their function bodies must not read globals either
local X = tide.rand(120, 3, {seed = 1})
local y = X:sum(2)
local yc = tide.zeros(120, "i64")
for i = 1, 120 do yc[i] = i % 2 end
local s = tide.search{model = tide.models.ridge{}, grid = tide.grid{alpha = {0.1, 1}}, X = X, y = y,
                      cv = tide.cv.kfold(#X, 3, {shuffle = true, seed = 1}), jobs = 2}
assert(s.best_params.alpha == 0.1, s:report())
local r = tide.search{model = tide.models.lasso{}, grid = {alpha = tide.dist.loguniform(1e-3, 1)},
                      budget = 2, X = X, y = y, cv = tide.cv.shuffle_split(#X, {splits = 2}),
                      async = true, jobs = 2}
r:wait()
assert(#r:rows() == 2)
local cvr = tide.cross_validate(tide.models.knn_regressor{k = 3}, X, y, {cv = 3, jobs = 2})
assert(#cvr.test_score == 3)
local lc = tide.learning_curve(tide.models.ridge{}, X, y, {sizes = {0.5, 1.0}, cv = 2, jobs = 2})
lc:plot(dir .. "/curve.svg")
local folds = tide.cv.stratified_kfold(yc, 2)
local lg = tide.models.logistic{}:fit(X, yc, {rows = folds[1].train})
assert(lg:score(X, yc, {rows = folds[1].test}) >= 0)
local sl = tide.ensemble.superlearner{layers = {{tide.models.ridge{}, tide.models.lasso{}}},
                                      meta = tide.models.linear{}, jobs = 2}
sl:fit(X, y)
assert(#sl:predict(X) == 120)
local p = tide.pipeline{tide.models.standard_scaler{}, tide.models.ridge{}}:fit(X, y)
assert(p:score(X, y) > 0.9)
local pool <close> = tide.pool{jobs = 2}
assert(#pool:collect(function(i) return i end, 10) == 10)
local quiet = tide.timed(function() return 1 end, "t", {log = function() end})
assert(quiet() == 1)
local rep = tide.monitor{interval = 0.01}:stop()
rep:plot(dir .. "/mon.svg")
assert(#rep:summary() > 0)
print("all of tide from stock lua")
]=]
f = assert(io.open(dir .. "/stock.lua", "w"))
f:write(script)
f:close()
ok, out = run(dir .. "/stock.lua", dir, dir)
check.truthy(ok and out:find("all of tide from stock lua", 1, true),
             "README's tour and the modules from stock lua5.4: " .. out)
os.execute("rm -rf " .. dir)
check.done()
