-- convolve.lua: tide.convolve / tide.correlate against numpy fixtures
-- (make_numla.py) in every mode and both methods, direct = fft to 1e-10,
-- auto's choice against scipy.signal.choose_conv_method (live), integer,
-- bool and f32 dtypes, views, one-element inputs and errors.
local check = require "check"
local numref = require "numref"
local tide = tide or require "tide"
local close = numref.close

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/numla/"
local z = tide.load(FIX .. "convolve.npz")

for i = 1, z.pairs.shape[1] do
  local M, N = math.tointeger(z.pairs:get(i, 1)), math.tointeger(z.pairs:get(i, 2))
  local tag = M .. "_" .. N
  local a, v = z["a_" .. tag], z["v_" .. tag]
  for _, mode in ipairs{"full", "same", "valid"} do
    for _, f in ipairs{{"conv", tide.convolve}, {"corr", tide.correlate}} do
      local ref = z[f[1] .. "_" .. mode .. "_" .. tag]
      local what = f[1] .. " " .. mode .. " " .. M .. "x" .. N
      local d = f[2](a, v, {mode = mode, method = "direct"})
      local ff = f[2](a, v, {mode = mode, method = "fft"})
      close(d, ref, 1e-13, what .. " direct")
      close(ff, ref, 1e-12, what .. " fft")
      close(ff, d, 1e-10, what .. " fft = direct")
      close(f[2](a, v, {mode = mode}), ref, 1e-12, what .. " auto")
    end
  end
end
-- numpy's default modes: full for convolve, valid for correlate
close(tide.convolve(z.a_50_9, z.v_50_9), z.conv_full_50_9, 1e-13, "convolve defaults to full")
close(tide.correlate(z.a_50_9, z.v_50_9), z.corr_valid_50_9, 1e-13, "correlate defaults to valid")

-- direct equals fft on long inputs, every mode, both orders
local x, k = tide.randn(5000, {seed = 1}), tide.randn(333, {seed = 2})
for _, mode in ipairs{"full", "same", "valid"} do
  for _, p in ipairs{{x, k}, {k, x}} do
    for _, f in ipairs{{"convolve", tide.convolve}, {"correlate", tide.correlate}} do
      close(f[2](p[1], p[2], {mode = mode, method = "fft"}),
            f[2](p[1], p[2], {mode = mode, method = "direct"}), 1e-10,
            f[1] .. " " .. mode .. " " .. #p[1] .. " with " .. #p[2] .. ": fft = direct")
    end
  end
end

-- dtypes
local ci = tide.convolve(z.ai, z.vi)
check.eq(ci.dtype, "i64", "integers stay integers")
close(ci, z.conv_int, 0, "integer convolve")
close(tide.convolve(z.ai, z.vi, {method = "fft"}), z.conv_int, 0, "integer convolve by FFT (rounded)")
check.eq(tide.convolve(z.ai, z.vi, {method = "fft"}).dtype, "i64", "FFT keeps the integer dtype")
close(tide.correlate(z.ai, z.vi, {mode = "same"}), z.corr_int_same, 0, "integer correlate")
local cu = tide.convolve(z.ai:astype("u8"), z.vi:astype("u8"))
check.eq(cu.dtype, "u8", "u8 stays u8")
close(cu, z.conv_u8, 0, "u8 wraps as numpy's")
local c32 = tide.convolve(z.ai:astype("i32"), z.vi:astype("i32"), {mode = "same"})
check.eq(c32.dtype, "i32", "i32 stays i32")
close(c32, z.conv_i32, 0, "i32 convolve")
close(tide.convolve(z.big, z.big), z.conv_big, 0, "i64 wraps past 2^63 (auto keeps it direct)")
local cb = tide.convolve(z.ab, z.vb)
check.eq(cb.dtype, "bool", "bool with bool gives bool")
close(cb, z.conv_bool, 0, "bool convolve")
close(tide.convolve(z.ab, z.vb, {method = "fft"}), z.conv_bool, 0, "bool convolve by FFT")
local cf = tide.convolve(z.a32, z.v32)
check.eq(cf.dtype, "f32", "f32 stays f32")
close(cf, z.conv_f32, 1e-6, "f32 convolve")
check.eq(tide.convolve(z.a32, z.vi).dtype, "f64", "f32 with i64 gives f64")
check.eq(tide.convolve(z.ai, tide.array({0.5, 1.5})).dtype, "f64", "i64 with f64 gives f64")

-- views read as copies
local Mx = tide.randn(40, 30, {seed = 4})
for _, c in ipairs{{"column", Mx:col(3)}, {"row slice", Mx:row(2):slice(1, 4, 25)},
                   {"transposed row", Mx:t():row(5)}} do
  local view, copy = c[2], c[2]:copy()
  for _, method in ipairs{"direct", "fft"} do
    close(tide.convolve(view, k:slice(1, 1, 9), {method = method}),
          tide.convolve(copy, k:slice(1, 1, 9), {method = method}), 0, "convolve of a " .. c[1])
    close(tide.correlate(k, view, {mode = "same", method = method}),
          tide.correlate(k, copy, {mode = "same", method = method}), 0, "correlate with a " .. c[1])
  end
end

-- one element
local one = tide.array({2.5})
close(tide.convolve(one, tide.array({4.0})), tide.array({10.0}), 0, "1 with 1")
close(tide.convolve(one, tide.array({1.0, 2, 3}), {mode = "same"}), tide.array({2.5, 5, 7.5}), 0,
      "1 with 3, same")
close(tide.correlate(tide.array({1.0, 2, 3}), one, {method = "fft"}), tide.array({2.5, 5, 7.5}),
      1e-15, "3 with 1, valid, fft")

-- auto's choice: scipy's cost model
local choose = tide._internal.conv_method
check.eq(choose(1000000, 31, "full"), "direct", "a short kernel goes direct")
check.eq(choose(1000000, 10000, "full"), "fft", "a long kernel goes through the FFT")
if numref.have_python("numpy", "scipy.signal") then
  local cases = {{100, 5}, {1000, 100}, {10000, 100}, {100000, 60}, {100000, 500}, {3000, 3000},
                 {50, 5000}, {20000, 20}, {200, 190}}
  local lens = {}
  for i, c in ipairs(cases) do lens[i] = tide.array(c) end
  local code = {"import scipy.signal\nres = []\n"}
  for _, mode in ipairs{"full", "same", "valid"} do
    for i, c in ipairs(cases) do
      code[#code + 1] = string.format(
        "res.append(scipy.signal.choose_conv_method(np.ones(%d), np.ones(%d), mode='%s') == 'fft')\n",
        c[1], c[2], mode)
    end
  end
  code[#code + 1] = "O['fft'] = np.array(res)\n"
  local o = numref.live({}, table.concat(code))
  local j = 0
  for _, mode in ipairs{"full", "same", "valid"} do
    for _, c in ipairs(cases) do
      j = j + 1
      local scipy = o.fft[j] and "fft" or "direct"
      check.eq(choose(c[1], c[2], mode), scipy, string.format("auto for %d x %d %s as scipy", c[1],
                                                              c[2], mode))
    end
  end
  -- and numpy on fresh data
  local a, v = tide.randn(2000, {seed = 7}), tide.randn(77, {seed = 8})
  local r = numref.live({a = a, v = v}, [[
for m in ("full", "same", "valid"):
    O["conv_" + m] = np.convolve(I["a"], I["v"], m); O["corr_" + m] = np.correlate(I["v"], I["a"], m)
]])
  for _, m in ipairs{"full", "same", "valid"} do
    close(tide.convolve(a, v, {mode = m}), r["conv_" .. m], 1e-12, "live convolve " .. m)
    close(tide.correlate(v, a, {mode = m}), r["corr_" .. m], 1e-12, "live correlate " .. m)
    close(tide.correlate(v, a, {mode = m, method = "fft"}), r["corr_" .. m], 1e-12,
          "live correlate fft " .. m)
  end
else
  print("live numpy/scipy comparison skipped (no /usr/bin/python3 with scipy)")
end

-- errors
check.errors(function() tide.convolve(tide.zeros(0), k) end,
             "bad argument #1 to 'convolve' (a cannot be empty)", "empty a")
check.errors(function() tide.convolve(k, tide.zeros(0)) end,
             "bad argument #2 to 'convolve' (v cannot be empty)", "empty v")
check.errors(function() tide.correlate(tide.zeros(2, 2), k) end,
             "bad argument #1 to 'correlate' (a must be a 1-D array, got a 2-D array)", "2-D a")
check.errors(function() tide.convolve(k, tide.zeros(2, 2)) end,
             "bad argument #2 to 'convolve' (v must be a 1-D array, got a 2-D array)", "2-D v")
check.errors(function() tide.convolve(k, {1, 2}) end,
             "bad argument #2 to 'convolve' (array expected, got table)", "table v")
check.errors(function() tide.convolve(k, k, {mode = "middle"}) end,
             "bad argument #3 to 'convolve' (option 'mode' must be \"full\", \"same\" or \"valid\", got 'middle')",
             "bad mode")
check.errors(function() tide.correlate(k, k, {method = 2}) end,
             "option 'method' must be \"auto\", \"direct\" or \"fft\", got number", "bad method")
check.errors(function() tide.convolve(k, k, {methd = "fft"}) end,
             "unknown option 'methd' for tide.convolve (options: mode, method); did you mean 'method'?",
             "unknown option")
check.errors(function() tide.convolve(k, k, "full") end,
             "bad argument #3 to 'convolve' (table expected, got string)", "options not a table")
check.done()
