-- fft.lua: tide.fft.rfft / irfft against numpy.fft fixtures (make_numla.py)
-- and live; round trips for lengths with factors 2, 3, 5, 7 and large
-- primes; n given (padding, cutting); rows; dtypes and views; one-element
-- inputs; the .npy complex layout; errors.
local check = require "check"
local numref = require "numref"
local tide = tide or require "tide"
local fft = tide.fft
local close = numref.close

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/numla/"
local z = tide.load(FIX .. "fft.npz")

for i = 1, #z.sizes do
  local n = math.tointeger(z.sizes[i])
  local X = fft.rfft(z["x_" .. n])
  check.eq(table.concat(X.shape, "x"), (n // 2 + 1) .. "x2", "rfft shape " .. n)
  check.eq(X.dtype, "f64", "rfft dtype " .. n)
  close(X, z["X_" .. n], 1e-13, "rfft " .. n)
  close(fft.irfft(X, n), z["x_" .. n], 1e-13, "irfft(rfft(x)) " .. n)
end
close(fft.rfft(z.xpad, 16), z.rfft_pad16, 1e-13, "rfft zero-padded to n")
close(fft.rfft(z.xpad, 7), z.rfft_cut7, 1e-13, "rfft cut to n")
for _, n in ipairs{10, 11, 7, 16, 3, 1} do
  close(fft.irfft(z.F, n), z["irfft_" .. n], 1e-13, "irfft to " .. n)
end
close(fft.irfft(z.F), z.irfft_default, 1e-13, "irfft default length 2 (m - 1)")
local R = fft.rfft(z.M)
check.eq(table.concat(R.shape, "x"), "3x7x2", "rfft of rows")
close(R, z.rfft_rows, 1e-13, "rfft of rows")
close(fft.irfft(R, 12), z.M, 1e-13, "irfft of rows")

-- round trips: factors 2, 3, 5, 7, generic radices and large primes
for _, n in ipairs{2, 3, 5, 7, 11, 13, 2 * 3 * 5 * 7, 4 * 9 * 25 * 49, 7 ^ 4, 11 * 13 * 17,
                   127, 131, 2 * 131, 10007, 2 * 10007, 65537, 3 * 65537, 2 ^ 16, 2 ^ 15 * 3,
                   1000000} do
  n = math.tointeger(n)
  local x = tide.randn(n, {seed = n})
  close(fft.irfft(fft.rfft(x), n), x, 1e-12, "round trip " .. n)
end
-- Parseval on a long prime length: sum x^2 = (|X0|^2 + 2 sum |Xk|^2 (+ |Xh|^2)) / n
local n = 10007
local x = tide.randn(n, {seed = 5})
local X = fft.rfft(x)
local p2 = (X * X):sum(2)
local total = 2 * p2:sum() - p2[1]
check.near(total / n, (x * x):sum(), 1e-12, "Parseval, n prime")

-- dtypes and views: read as f64 copies
local xi = tide.arange(12)                                 -- i64
close(fft.rfft(xi), fft.rfft(xi:astype("f64")), 0, "i64 input")
close(fft.rfft(xi:astype("i32")), fft.rfft(xi:astype("f64")), 0, "i32 input")
close(fft.rfft(xi:astype("u8")), fft.rfft(xi:astype("f64")), 0, "u8 input")
close(fft.rfft(xi:gt(5)), fft.rfft(xi:gt(5):astype("f64")), 0, "bool input")
local x32 = tide.randn(30, {seed = 2}):astype("f32")
check.eq(fft.rfft(x32).dtype, "f64", "f32 input gives f64 (numpy's complex128)")
close(fft.rfft(x32), fft.rfft(x32:astype("f64")), 0, "f32 input")
local Mt = z.M:t()                                          -- 12 x 3 transposed view
close(fft.rfft(Mt), fft.rfft(Mt:copy()), 0, "rfft of a transposed view")
close(fft.rfft(z.M:col(5)), fft.rfft(z.M:col(5):copy()), 0, "rfft of a column view")
close(fft.rfft(z.M:row(2):slice(1, 3, 10)), fft.rfft(z.M:row(2):slice(1, 3, 10):copy()), 0,
      "rfft of a slice")
close(fft.irfft(R:t():t()), fft.irfft(R), 0, "irfft of a view")
close(fft.irfft(z.F:astype("f32"), 10), fft.irfft(z.F:astype("f32"):astype("f64"), 10), 0,
      "irfft of f32")
close(fft.irfft(z.F:slice(1, 1, 4)), fft.irfft(z.F:slice(1, 1, 4):copy()), 0, "irfft of a slice")

-- one element, and the imaginary parts irfft ignores
local one = fft.rfft(tide.array({3.5}))
check.eq(table.concat(one.shape, "x"), "1x2", "rfft of one value")
check.eq(one:get(1, 1) .. " " .. one:get(1, 2), "3.5 0.0", "rfft of one value")
close(fft.irfft(tide.array({{3.5, 0}}), 1), tide.array({3.5}), 0, "irfft to one value")
local G = tide.array({{1, 7}, {2, 0.5}, {3, 9}}, "f64")
local G0 = tide.array({{1, 0}, {2, 0.5}, {3, 0}}, "f64")
close(fft.irfft(G), fft.irfft(G0), 0, "imaginary parts of X[0] and X[n/2] ignored")

-- the .npy holds numpy's complex128 layout
if numref.have_python("numpy") then
  local y = tide.randn(33, {seed = 9})
  local o = numref.live({y = y, Y = fft.rfft(y)}, [[
O["ok"] = np.array([np.allclose(I["Y"].view(np.complex128)[:, 0], np.fft.rfft(I["y"]), rtol=1e-13, atol=1e-13)])
O["shape"] = np.array(I["Y"].view(np.complex128)[:, 0].shape)
O["big"] = np.fft.rfft(np.arange(1000003.0) % 17)
O["small"] = np.fft.irfft(np.fft.rfft(I["y"]), 40)
]])
  check.eq(o.ok[1], true, "numpy reads rfft's output with .view(np.complex128)")
  check.eq(math.tointeger(o.shape[1]), 17, "as 17 complex values")
  local big = tide.arange(1000003.0) % 17
  local Yb = fft.rfft(big)
  close(Yb, o.big, 1e-12, "live rfft of 1000003 values")
  close(fft.irfft(fft.rfft(y), 40), o.small, 1e-13, "live irfft padded to 40")
else
  print("live numpy comparison skipped (no /usr/bin/python3 with numpy)")
end

-- next_fast_len
check.eq(fft.next_fast_len(1000001), 1012500, "next_fast_len")
check.eq(fft.next_fast_len(97, true), 100, "next_fast_len real (even)")
check.eq(fft.next_fast_len(64), 64, "a fast length is itself")

-- errors
check.errors(function() fft.rfft(tide.zeros(0)) end,
             "bad argument #1 to 'rfft' (invalid number of FFT data points (0))", "rfft empty")
check.errors(function() fft.rfft(tide.zeros(3), 0) end,
             "bad argument #2 to 'rfft' (invalid number of FFT data points (0))", "rfft n = 0")
check.errors(function() fft.rfft(tide.zeros(2, 2, 2)) end,
             "rfft takes a 1-D or 2-D array (rows), got a 3-D array", "rfft 3-D")
check.errors(function() fft.rfft({1, 2}) end, "bad argument #1 to 'rfft' (array expected, got table)",
             "rfft table")
check.errors(function() fft.rfft(tide.zeros(4), 2.5) end, "number has no integer representation",
             "rfft n not an integer")
check.errors(function() fft.irfft(tide.zeros(5)) end,
             "irfft takes complex values as an m x 2 array (or rows x m x 2), got 5", "irfft 1-D")
check.errors(function() fft.irfft(tide.zeros(5, 3)) end, "got 5x3", "irfft m x 3")
check.errors(function() fft.irfft(tide.zeros(1, 2)) end,
             "invalid number of FFT data points (0)", "irfft of one value, default n")
check.errors(function() fft.irfft(tide.zeros(0, 2)) end, "invalid number of FFT data points (-2)",
             "irfft of nothing")
check.errors(function() fft.irfft(z.F, -1) end, "bad argument #2 to 'irfft'", "irfft n < 1")
check.done()
