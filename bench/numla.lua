-- numla.lua: tide.linalg, tide.fft, tide.convolve and tide.optimize beside
-- bench/numla_numpy.py (numpy.linalg, scipy.fft, numpy.convolve,
-- scipy.signal.fftconvolve, scipy.optimize.minimize): the same sizes, the
-- best of a few runs each.
-- usage: tide bench/numla.lua [json-out] [linalg-n=2000]
local out = arg[1]
local N = math.tointeger(tonumber(arg[2]) or 2000)
local f = out and io.open(out, "a")

local function best(fn, reps)
  local t = math.huge
  for _ = 1, reps or 3 do
    collectgarbage()
    local t0 = tide.now()
    fn()
    t = math.min(t, tide.now() - t0)
  end
  return t
end

local function report(op, size, s, extra)
  print(string.format("numla    tide  %-22s %-10s %9.4f s%s", op, size, s, extra or ""))
  if f then
    f:write(string.format('{"bench":"numla","impl":"tide","op":"%s","size":"%s","s":%.6f}\n',
                          op, size, s))
  end
end

-- linear algebra, 2000 x 2000
local L = tide.linalg
local A = tide.randn({N, N}, {seed = 1})
local b = tide.randn(N, {seed = 2})
local S = tide.matmul(A:t(), A) + tide.eye(N) * N
local size = N .. "x" .. N
report("solve", size, best(function() L.solve(A, b) end))
report("lstsq", size, best(function() L.lstsq(A, b) end))
report("svd", size, best(function() L.svd(A) end, 2))
report("eigh", size, best(function() L.eigh(S) end, 2))
report("cholesky", size, best(function() L.cholesky(S) end))
A, S = nil, nil

-- FFT; also with results on the heap, as numpy's are: a result of 8 MB
-- in a fresh shared segment (tide's default from share_bytes, 1 MiB up)
-- costs more than the transform on a busy machine
for _, n in ipairs{1048576, 1000000} do
  local x = tide.randn(n, {seed = 3})
  local F = tide.fft.rfft(x)
  report("rfft", tostring(n), best(function() tide.fft.rfft(x) end, 7))
  report("irfft", tostring(n), best(function() tide.fft.irfft(F, n) end, 7))
  local share = tide.config.share_bytes
  tide.config.share_bytes = 1 << 50
  report("rfft (heap result)", tostring(n), best(function() tide.fft.rfft(x) end, 7))
  report("irfft (heap result)", tostring(n), best(function() tide.fft.irfft(F, n) end, 7))
  tide.config.share_bytes = share
end

-- convolution of 10^6 samples
local x = tide.randn(1000000, {seed = 4})
local k31, k1e4 = tide.randn(31, {seed = 5}), tide.randn(10000, {seed = 6})
report("convolve direct 31", "1000000", best(function() tide.convolve(x, k31, {method = "direct"}) end, 5))
report("convolve auto 31", "1000000", best(function() tide.convolve(x, k31) end, 5))
report("convolve fft 10000", "1000000", best(function() tide.convolve(x, k1e4, {method = "fft"}) end, 5))
report("convolve auto 10000", "1000000", best(function() tide.convolve(x, k1e4) end, 5))

-- minimize: scipy's rosen and rosen_der, written to compute the same bits
-- (x*x for numpy's x**2, and numpy's pairwise summation order)
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
local function rosen(xa)
  local x, t = xa:totable(), {}
  for i = 1, #x - 1 do
    local d, u = x[i + 1] - x[i] * x[i], 1 - x[i]
    t[i] = 100.0 * (d * d) + u * u
  end
  return np_sum(t)
end
local function rosen_der(xa)
  local x, n, g = xa:totable(), #xa, {}
  for i = 2, n - 1 do
    local xm, xl, xr = x[i], x[i - 1], x[i + 1]
    g[i] = 200 * (xm - xl * xl) - 400 * (xr - xm * xm) * xm - 2 * (1 - xm)
  end
  g[1] = -400 * x[1] * (x[2] - x[1] * x[1]) - 2 * (1 - x[1])
  g[n] = 200 * (x[n] - x[n - 1] * x[n - 1])
  return g
end
local x0 = {}
for i = 1, 100 do x0[i] = ((i - 1) % 7 - 3) * 0.25 end
local r
local t = best(function() r = tide.optimize.minimize(rosen, x0, {grad = rosen_der}) end, 5)
report("minimize l-bfgs-b", "100", t, string.format("  nit %d nfev %d fun %.6g", r.nit, r.nfev, r.fun))
if f then
  f:write(string.format('{"bench":"numla","impl":"tide","op":"minimize l-bfgs-b iters","size":"100",' ..
                        '"nit":%d,"nfev":%d,"fun":%.17g}\n', r.nit, r.nfev, r.fun))
end
local x4 = {1.3, 0.7, 0.8, 1.9}
t = best(function() r = tide.optimize.minimize(rosen, x4, {method = "nelder-mead"}) end, 5)
report("minimize nelder-mead", "4", t, string.format("  nit %d nfev %d fun %.6g", r.nit, r.nfev, r.fun))
if f then
  f:write(string.format('{"bench":"numla","impl":"tide","op":"minimize nelder-mead iters","size":"4",' ..
                        '"nit":%d,"nfev":%d,"fun":%.17g}\n', r.nit, r.nfev, r.fun))
  f:close()
end
