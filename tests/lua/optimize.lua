-- optimize.lua: tide.optimize.minimize against scipy.optimize.minimize
-- fixtures (make_numla.py): L-BFGS-B with a gradient and with scipy's
-- forward differences, bounds (and variables they fix), Nelder-Mead (plain,
-- adaptive, bounded), tol, and max_iter / max_fev reached -- the same
-- iterations, evaluations, optimum and message as scipy; errors raised in f
-- or grad keep their traceback; bad arguments; live scipy on 100-D
-- Rosenbrock when installed.
local check = require "check"
local numref = require "numref"
local tide = tide or require "tide"
local minimize = tide.optimize.minimize

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/numla/"
local z = tide.load(FIX .. "optimize.npz")

-- the objectives of make_numla.py, the same arithmetic in the same order
local function rosen2(x)
  local a, b = x[1], x[2]
  return 100 * (b - a * a) * (b - a * a) + (1 - a) * (1 - a)
end
local function rosen2_grad(x)
  local a, b = x[1], x[2]
  return {-400 * a * (b - a * a) - 2 * (1 - a), 200 * (b - a * a)}
end
local function rosen_n(x)
  local s = 0.0
  for i = 1, #x - 1 do
    local t = x[i + 1] - x[i] * x[i]
    s = s + 100 * t * t + (1 - x[i]) * (1 - x[i])
  end
  return s
end
local function quad(x)
  return (x[1] - 3) * (x[1] - 3) + (x[2] + 1) * (x[2] + 1) + x[1] * x[2] + 0.5 * x[3] * x[3]
end
local function quad_grad(x)   -- an array this time
  return tide.array({2 * (x[1] - 3) + x[2], 2 * (x[2] + 1) + x[1], x[3]})
end
local QB = {{0, 2}, {-0.5, nil}, nil}

local CASES = {
  {"rosen_grad", rosen2, {-1.2, 1}, {grad = rosen2_grad}},
  {"rosen_fd", rosen2, {-1.2, 1}, {method = "l-bfgs-b"}},
  {"rosen_nm", rosen2, {-1.2, 1}, {method = "nelder-mead"}},
  {"rosen4_nm_adaptive", rosen_n, {1.3, 0.7, 0.8, 1.9}, {method = "nelder-mead", adaptive = true}},
  {"rosen_nm_tol", rosen2, {-1.2, 1}, {method = "Nelder-Mead", tol = 1e-10}},
  {"rosen_tol", rosen2, {-1.2, 1}, {grad = rosen2_grad, tol = 1e-12}},
  {"rosen10_fd", rosen_n, {-1.0, 1.5, 0.5, -0.3, 2, 0, 1, 0.8, -1, 0.2}, {}},
  {"rosen4_nm", rosen_n, tide.array({1.3, 0.7, 0.8, 1.9}), {method = "nelder-mead"}},
  {"quad_bounded", quad, {1, 1, 1}, {grad = quad_grad, bounds = QB}},
  {"quad_bounded_fd", quad, {5, 1, 1}, {bounds = QB}},
  {"quad_bounded_nm", quad, {1, 1, 1}, {method = "nelder-mead", bounds = QB}},
  {"quad_fixed_fd", quad, {1, 1, 1}, {bounds = {{0, 2}, {0.25, 0.25}}}},
  {"rosen_maxiter", rosen2, {-1.2, 1}, {grad = rosen2_grad, max_iter = 5}},
  {"rosen_maxfun", rosen2, {-1.2, 1}, {max_fev = 20}},
  {"rosen_nm_maxiter", rosen2, {-1.2, 1}, {method = "nelder-mead", max_iter = 10}},
  {"rosen_nm_maxfev", rosen2, {-1.2, 1}, {method = "nelder-mead", max_fev = 30}},
}

local function text(a)
  local t = {}
  for i = 1, #a do t[i] = string.char(a[i]) end
  return table.concat(t)
end

for _, c in ipairs(CASES) do
  local name, f, x0, opts = c[1], c[2], c[3], c[4]
  local r = minimize(f, x0, opts)
  local meta = z[name .. "_meta"]
  check.eq(r.nit, math.tointeger(meta[2]), name .. ": nit as scipy")
  check.eq(r.nfev, math.tointeger(meta[3]), name .. ": nfev as scipy")
  if r.njev then check.eq(r.njev, math.tointeger(meta[4]), name .. ": njev as scipy") end
  check.eq(r.status, math.tointeger(meta[5]), name .. ": status as scipy")
  check.eq(r.success, meta[5] == 0, name .. ": success")
  check.eq(r.message, text(z[name .. "_msg"]), name .. ": message as scipy")
  numref.close(r.x, z[name .. "_x"], 1e-12, name .. ": x as scipy")
  check.near(r.fun, meta[1], 1e-12, name .. ": fun as scipy")
  check.eq(r.x.dtype, "f64", name .. ": x is an f64 array")
end

-- results, reached where the optimum is known
local r = minimize(rosen2, {-1.2, 1}, {grad = rosen2_grad, tol = 1e-12})
check.truthy(math.abs(r.x[1] - 1) < 1e-6 and math.abs(r.x[2] - 1) < 1e-6, "Rosenbrock optimum")
check.eq(r.jac.size, 2, "jac")
check.truthy(math.abs(r.jac[1]) < 1e-4, "jac small at the optimum")
local rq = minimize(quad, {1, 1, 1}, {bounds = {{0, 2}, {0.25, 0.25}}})
check.eq(rq.x[2], 0.25, "a variable fixed by bounds keeps its value")
check.truthy(rq.jac[2] ~= rq.jac[2], "its jac entry is NaN, as scipy's")
local rall = minimize(quad, {1, 1, 1}, {bounds = {{1, 1}, {2, 2}, {3, 3}}})
check.eq(rall.message, "All independent variables were fixed by bounds.", "all fixed")
check.eq(rall.nfev .. " " .. rall.nit .. " " .. tostring(rall.success), "1 0 true", "all fixed counts")
check.eq(rall.fun, quad({1, 2, 3}), "all fixed: f at the bounds")
-- x0 of any dtype, and views, read as f64
local ref = minimize(rosen2, {-1.2, 1}, {grad = rosen2_grad})
local rv = minimize(rosen2, tide.array({{-1.2, 7}, {1, 8}}):col(1), {grad = rosen2_grad})
check.eq(rv.nit .. " " .. rv.nfev, ref.nit .. " " .. ref.nfev, "x0 a column view")
numref.close(rv.x, ref.x, 0, "x0 a column view: the same x")
local ri = minimize(rosen2, tide.array({-1, 1}), {grad = rosen2_grad})
local rf = minimize(rosen2, {-1.0, 1.0}, {grad = rosen2_grad})
numref.close(ri.x, rf.x, 0, "x0 of i64")
check.eq(ri.x.dtype, "f64", "x of an i64 x0 is f64")
local r32 = minimize(rosen2, tide.array({-1.2, 1}, "f32"), {method = "nelder-mead"})
local r64 = minimize(rosen2, tide.array({-1.2, 1}, "f32"):astype("f64"), {method = "nelder-mead"})
numref.close(r32.x, r64.x, 0, "x0 of f32")
check.eq(minimize(function(x) return (x[1] - 2) ^ 2 end, tide.array({5}, "u8")).x.size, 1,
         "one variable, u8 x0")

-- f sees a fresh copy each call; x0 outside the bounds is moved in
local seen = {}
minimize(function(x) seen[#seen + 1] = x; x[1] = 99; return rosen2(x) end, {-1.2, 1},
         {grad = rosen2_grad, max_iter = 2})
check.truthy(#seen > 2 and seen[1] ~= seen[2], "a new array per call")
check.eq(seen[1][2], 1.0, "writing into x does not touch the optimizer")
local rb = minimize(function(x) return (x[1] - 1) ^ 2 end, {-10}, {bounds = {{-1, 3}}})
check.near(rb.x[1], 1, 1e-6, "x0 below the bounds")
-- (scipy's simplex then starts flat against the bound, and stays there)
local rn = minimize(function(x) return (x[1] - 1) ^ 2 end, {10}, {method = "nelder-mead",
                    bounds = {{-1, 3}}})
check.eq(rn.x[1] .. " " .. rn.nit, "3.0 1", "nelder-mead from outside the bounds")
-- f may return a one-value array; math.huge bounds are open
local ra = minimize(function(x) return tide.array({(x * x):sum()}) end, {3, -4},
                    {bounds = {{-math.huge, math.huge}, {nil, math.huge}}})
check.truthy(math.abs(ra.x[1]) < 1e-6 and ra.success, "f returning a 1-value array")
-- max_iter = math.huge: no limit (nelder-mead then stops at 200 n evaluations, as scipy)
local rh = minimize(function() return math.random() end, {-1.2, 1},
                    {method = "nelder-mead", max_iter = math.huge})
check.eq(rh.nfev, 400, "no iteration limit: 200 n evaluations")
check.eq(rh.message, "Maximum number of function evaluations has been exceeded.", "its message")

-- errors in f or grad come through with their traceback
local line_f = debug.getinfo(1, "l").currentline + 1
local function bad(x) if x[1] > 0 then error("boom at " .. x[1]) end return x[1] ^ 2 end
local ok, tb = xpcall(minimize, debug.traceback, bad, {1.0})
check.truthy(not ok, "an error in f is raised")
check.truthy(tb:find("boom at 1.0", 1, true), "its message: " .. tostring(tb))
check.truthy(tb:find("optimize.lua:" .. line_f, 1, true), "its traceback reaches f: " .. tb)
local okg, tbg = xpcall(minimize, debug.traceback, rosen2, {1, 1},
                        {grad = function() error({code = 7}) end})
check.truthy(not okg and type(tbg) == "table" and tbg.code == 7, "an error object from grad, unchanged")
check.truthy(not pcall(minimize, bad, {1.0}, {method = "nelder-mead"}), "nelder-mead raises too")

-- bad arguments
check.errors(function() minimize(nil, {1}) end,
             "bad argument #1 to 'minimize' (function expected, got nil)", "f")
check.errors(function() minimize(rosen2, 3) end,
             "bad argument #2 to 'minimize' (table or array expected, got number)", "x0 number")
check.errors(function() minimize(rosen2, {}) end, "bad argument #2 to 'minimize' (x0 has no values)",
             "x0 empty")
check.errors(function() minimize(rosen2, {1, "a"}) end, "x0[2] must be a number, got string",
             "x0 entry")
check.errors(function() minimize(rosen2, tide.zeros(2, 2)) end,
             "x0 must be a table or a 1-D array, got a 2-D array", "x0 2-D")
check.errors(function() minimize(rosen2, {1, 2}, {method = "bfgs"}) end,
             "bad argument #3 to 'minimize' (option 'method' must be \"l-bfgs-b\" or \"nelder-mead\", got 'bfgs')",
             "method")
check.errors(function() minimize(rosen2, {1, 2}, {maxiter = 3}) end,
             "unknown option 'maxiter' for tide.optimize.minimize", "scipy's maxiter")
check.errors(function() minimize(rosen2, {1, 2}, {jac = rosen2_grad}) end,
             "unknown option 'jac' for tide.optimize.minimize", "scipy's jac")
check.errors(function() minimize(rosen2, {1, 2}, {grad = 1}) end,
             "option 'grad' must be a function, got number", "grad type")
check.errors(function() minimize(rosen2, {1, 2}, {method = "nelder-mead", grad = rosen2_grad}) end,
             "option 'grad' is for l-bfgs-b (nelder-mead uses no gradient)", "grad with nelder-mead")
check.errors(function() minimize(rosen2, {1, 2}, {adaptive = true}) end,
             "option 'adaptive' is for nelder-mead", "adaptive with l-bfgs-b")
check.errors(function() minimize(rosen2, {1, 2}, {tol = -1}) end, "option 'tol' must be a number >= 0",
             "tol")
check.errors(function() minimize(rosen2, {1, 2}, {max_iter = 2.5}) end,
             "option 'max_iter' must be a count >= 0 or math.huge, got 2.5", "max_iter")
check.errors(function() minimize(rosen2, {1, 2}, {max_fev = "many"}) end,
             "option 'max_fev' must be a count >= 0 or math.huge, got many", "max_fev")
check.errors(function() minimize(rosen2, {1, 2}, {bounds = {{0, 1}, {0, 1}, {0, 1}}}) end,
             "bounds has 3 entries for 2 variables", "bounds count")
check.errors(function() minimize(rosen2, {1, 2}, {bounds = {{2, 1}}}) end,
             "bounds[1]: the lower bound 2.0 is greater than the upper bound 1.0", "bounds order")
check.errors(function() minimize(rosen2, {1, 2}, {bounds = {{0, "x"}}}) end,
             "bounds[1][2] must be a number or nil, got string", "bounds entry")
check.errors(function() minimize(rosen2, {1, 2}, {bounds = {5}}) end,
             "bounds[1] must be a {lo, hi} pair or nil, got number", "bounds pair")
check.errors(function() minimize(function() return "x" end, {1, 2}) end,
             "minimize: f must return a number, got string", "f result")
check.errors(function() minimize(rosen2, {1, 2}, {grad = function() return {1} end}) end,
             "minimize: grad must return 2 values (a table or a 1-D array), got 1", "grad length")
check.errors(function() minimize(rosen2, {1, 2}, {grad = function() return 5 end}) end,
             "grad must return 2 values (a table or a 1-D array), got number", "grad type")

-- live: scipy on 100-D Rosenbrock written with arrays (scipy's rosen and
-- rosen_der, operation for operation, to the last bit: numpy's x**2 is
-- x*x, where a ^ 2 calls pow, which rounds differently for about one value
-- in a thousand; and the terms are summed in numpy's pairwise order, which
-- a:sum() does not follow for every length)
local function np_sum(t, i, n)
  i, n = i or 1, n or #t
  if n < 8 then
    local r = 0.0
    for k = i, i + n - 1 do r = r + t[k] end
    return r
  elseif n <= 128 then
    local r = {}
    for j = 0, 7 do r[j] = t[i + j] end
    local k = 8
    while k < n - n % 8 do
      for j = 0, 7 do r[j] = r[j] + t[i + k + j] end
      k = k + 8
    end
    local res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for m = k, n - 1 do res = res + t[i + m] end
    return res
  end
  local n2 = n // 2
  n2 = n2 - n2 % 8
  return np_sum(t, i, n2) + np_sum(t, i + n2, n - n2)
end
if numref.have_python("numpy", "scipy.optimize") then
  local function rosen(x)
    local a, b = x:slice(1, 1, -2), x:slice(1, 2, -1)
    local t, u = b - a * a, 1 - a
    return np_sum(100.0 * (t * t) + u * u)
  end
  local function rosen_der(x)
    local n = #x
    local xm, xm_m1, xm_p1 = x:slice(1, 2, n - 1), x:slice(1, 1, n - 2), x:slice(1, 3, n)
    local der = tide.zeros(n)
    der:slice(1, 2, n - 1):assign_(200 * (xm - xm_m1 * xm_m1) - 400 * (xm_p1 - xm * xm) * xm -
                                   2 * (1 - xm))
    der[1] = -400 * x[1] * (x[2] - x[1] * x[1]) - 2 * (1 - x[1])
    der[n] = 200 * (x[n] - x[n - 1] * x[n - 1])
    return der
  end
  local x0 = tide.linspace(-1.5, 1.5, 100)
  local o = numref.live({x0 = x0}, [[
from scipy.optimize import minimize, rosen, rosen_der
r = minimize(rosen, I["x0"], jac=rosen_der, method="L-BFGS-B")
O["x"] = r.x; O["meta"] = np.array([r.fun, r.nit, r.nfev])
r = minimize(rosen, I["x0"][:4], method="Nelder-Mead")
O["nx"] = r.x; O["nmeta"] = np.array([r.fun, r.nit, r.nfev])
]])
  local rl = minimize(rosen, x0, {grad = rosen_der})
  check.eq(rl.nit, math.tointeger(o.meta[2]), "live 100-D L-BFGS-B nit")
  check.eq(rl.nfev, math.tointeger(o.meta[3]), "live 100-D L-BFGS-B nfev")
  numref.close(rl.x, o.x, 1e-12, "live 100-D L-BFGS-B x")
  local rn4 = minimize(rosen, x0:slice(1, 1, 4), {method = "nelder-mead"})
  check.eq(rn4.nit, math.tointeger(o.nmeta[2]), "live 4-D Nelder-Mead nit")
  check.eq(rn4.nfev, math.tointeger(o.nmeta[3]), "live 4-D Nelder-Mead nfev")
  numref.close(rn4.x, o.nx, 1e-12, "live 4-D Nelder-Mead x")
else
  print("live scipy comparison skipped (no /usr/bin/python3 with scipy)")
end
check.done()
