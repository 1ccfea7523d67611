-- dtypes_int.lua: the integer dtypes numpy has beyond i64 i32 u8 (i8 i16
-- u16 u32 u64) are first-class: constructors, elements, numpy 1.24's
-- promotion and wrapping arithmetic, reductions with numpy's accumulators,
-- sorting, printing, .npy / .npz both ways, workers, dumps, hashing, csv;
-- float16 files load converted with {dtype =} and complex ones are refused.
-- Hand-written expectations always run; with /usr/bin/python3 and numpy,
-- numpy's own answers and files are checked too.
local check = require "check"

local NEW = {"i8", "i16", "u16", "u32", "u64"}
local ALL = {"f64", "f32", "i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8", "bool"}
local tmp = os.tmpname() -- a prefix for this test's files
local made = {tmp}
local function path(name)
  local p = tmp .. "_" .. name
  made[#made + 1] = p
  return p
end

-- ------------------------------------------------------------ constructors

for _, dt in ipairs(NEW) do
  check.eq(tide.zeros(3, dt).dtype, dt, "zeros " .. dt)
  check.eq(tide.ones({2, 2}, {dtype = dt}).dtype, dt, "ones " .. dt)
  check.array(tide.full(3, 7, dt), {7, 7, 7}, nil, "full " .. dt)
  check.array(tide.array({1, 2, 3}, dt), {1, 2, 3}, nil, "array " .. dt)
  check.eq(tide.arange(4):astype(dt).dtype, dt, "astype " .. dt)
  check.eq(tide.array({{1, 2}, {3, 4}}, dt):get(2, 1), 3, "get " .. dt)
  check.eq(math.type(tide.array({5}, dt)[1]), "integer", dt .. " elements are Lua integers")
  check.eq(tide.zeros(2, dt).itemsize, ({i8 = 1, i16 = 2, u16 = 2, u32 = 4, u64 = 8})[dt],
           "itemsize " .. dt)
end

-- names: bare i8 is tide's int8; numpy's typestrings and names keep numpy's meaning
check.eq(tide.zeros(1, "i8").dtype, "i8", "bare i8")
check.eq(tide.zeros(1, "<i8").dtype, "i64", "<i8 is int64")
check.eq(tide.zeros(1, "|i1").dtype, "i8", "|i1 is int8")
check.eq(tide.zeros(1, "<u8").dtype, "u64", "<u8 is uint64")
check.eq(tide.zeros(1, "short").dtype, "i16", "short")
check.eq(tide.zeros(1, "uintc").dtype, "u32", "uintc")
check.eq(tide.zeros(1, "ulonglong").dtype, "u64", "ulonglong")
check.errors(function() tide.zeros(1, "half") end, "numpy's float16, which tide does not have")

-- ------------------------------------------------------------ elements

do
  local a = tide.zeros(3, "i8")
  a[1] = 127; a[2] = 128; a[3] = -129 -- wraps, as numpy's astype
  check.array(a, {127, -128, 127}, nil, "i8 stores wrap")
  local u = tide.zeros(2, "u16")
  u[1] = 70000; u[2] = -1
  check.array(u, {70000 - 65536, 65535}, nil, "u16 stores wrap")
  u:set(1, 2.9)
  check.eq(u[1], 2, "a float stored in an integer dtype truncates")
  -- u64 above math.maxinteger: the bits are kept; reading gives a float
  local w = tide.zeros(3, "u64")
  w[1] = math.maxinteger
  w[2] = -1 -- 2^64 - 1
  w[3] = 2.0 ^ 63
  check.eq(w[1], math.maxinteger, "u64 up to maxinteger reads as an integer")
  check.eq(math.type(w[2]), "float", "u64 above maxinteger reads as a float")
  check.eq(w[2], 2.0 ^ 64, "2^64 - 1 read as a float")
  check.eq(w[3], 2.0 ^ 63, "2^63 stored from a float")
  check.truthy(tostring(w):find("18446744073709551615", 1, true), "printing shows every digit")
  check.truthy(tostring(w):find("9223372036854775808", 1, true), "printing 2^63")
  check.truthy(tostring(tide.array({-128, 5}, "i8")):find("-128", 1, true), "printing i8")
end

-- ------------------------------------------------------------ promotion

local function rtype(a, b) return (tide.zeros(1, a) + tide.zeros(1, b)).dtype end
-- numpy 1.24's np.result_type for arrays (a few key cases, always checked)
local key = {
  {"u8", "i8", "i16"}, {"i64", "u64", "f64"}, {"i16", "f32", "f32"}, {"u32", "i32", "i64"},
  {"u16", "i16", "i32"}, {"u16", "f32", "f32"}, {"u32", "f32", "f64"}, {"i8", "f32", "f32"},
  {"u64", "u8", "u64"}, {"u64", "i8", "f64"}, {"i8", "i16", "i16"}, {"u8", "u16", "u16"},
  {"bool", "i8", "i8"}, {"bool", "u64", "u64"}, {"i32", "u16", "i32"}, {"u32", "i64", "i64"},
  {"u32", "u64", "u64"}, {"i8", "u8", "i16"}, {"i16", "u32", "i64"}, {"f64", "u64", "f64"},
}
for _, k in ipairs(key) do
  check.eq(rtype(k[1], k[2]), k[3], k[1] .. " + " .. k[2])
  check.eq(rtype(k[2], k[1]), k[3], k[2] .. " + " .. k[1])
end
-- Lua scalars are weak (NEP 50): the array's dtype, and a value it cannot hold is refused
check.eq((tide.zeros(1, "i8") + 1).dtype, "i8", "i8 + 1")
check.eq((tide.zeros(1, "u16") * 2.5).dtype, "f64", "u16 * 2.5")
check.eq((tide.zeros(1, "u64") + 1).dtype, "u64", "u64 + 1")
check.errors(function() return tide.zeros(1, "i8") + 200 end, "integer 200 does not fit in i8")
check.errors(function() return tide.zeros(1, "u32") - (-1) end, "integer -1 does not fit in u32")
check.eq((tide.zeros(1, "i16") / 2).dtype, "f64", "true division gives f64")
check.eq(tide.zeros(1, "u16"):sqrt().dtype, "f64", "sqrt of an integer gives f64")

-- ------------------------------------------------------------ arithmetic

check.array(tide.array({100, -100}, "i8") + tide.array({100, -100}, "i8"), {-56, 56}, nil,
            "i8 overflow wraps")
check.array(tide.array({200}, "u8") + tide.array({100}, "u8"), {44}, nil, "u8 wraps")
check.array(tide.array({65535}, "u16") + 1, {0}, nil, "u16 wraps")
check.array(tide.array({0}, "u32") - 1, {4294967295}, nil, "u32 wraps below 0")
check.array(tide.array({300}, "i16") * tide.array({300}, "i16"), {90000 - 65536}, nil,
            "i16 multiplication wraps")
check.array(-tide.array({1}, "u16"), {65535}, nil, "negating an unsigned wraps")
check.array(tide.array({-128}, "i8"):abs(), {-128}, nil, "abs(-128) in i8 wraps, as numpy's")
check.array(tide.array({7, -7}, "i8") // 2, {3, -4}, nil, "floor division")
check.array(tide.array({7, -7}, "i16") % 3, {1, 2}, nil, "modulo takes the divisor's sign")
check.array(tide.array({-5, 0, 9}, "i16"):sign(), {-1, 0, 1}, nil, "sign of i16")
check.array(tide.array({0, 9}, "u64"):sign(), {0, 1}, nil, "sign of u64")
check.eq(tide.array({-5}, "i8"):sign().dtype, "i8", "sign keeps the dtype")
check.array(tide.array({2}, "u32") ^ 31, {2147483648}, nil, "u32 power")
check.errors(function() return tide.array({1}, "u16") // tide.zeros(1, "u16") end,
             "integer division by zero")
do
  local u = tide.array({0, 1}, "u64") - 1 -- 2^64 - 1, 0
  check.eq(u[2], 0, "u64 wraps: 1 - 1")
  check.eq(u[1], 2.0 ^ 64, "u64 wraps: 0 - 1")
  check.array(u:lt(tide.array({5, 5}, "i64")), {false, true}, nil, "u64 < i64 (numpy: as f64)")
  check.array(u:gt(tide.array({5, 5}, "u64")), {true, false}, nil, "u64 > u64 exactly")
  check.array(u:eq(-1), {false, false}, nil, "no u64 equals -1")
  check.array(tide.array({5}, "u64") // tide.array({2}, "u64"), {2}, nil, "u64 division")
  local big = tide.array({2.0 ^ 63, 2.0 ^ 63 + 4096}, "f64"):astype("u64")
  check.array(big:gt(tide.array({1, 1}, "u8")), {true, true}, nil, "u64 top bit compares")
end
-- in place keeps the target's dtype
do
  local a = tide.array({1, 2}, "i16")
  a:add_(tide.array({40000, 1}, "i32"))
  check.eq(a.dtype, "i16", "in place keeps i16")
  check.array(a, {(40001 + 32768) % 65536 - 32768, 3}, nil, "in place wraps")
end

-- ------------------------------------------------------------ reductions

check.eq(tide.array({100, 100, 100}, "i8"):sum(), 300, "i8 sums in i64 (no wrap)")
check.eq(tide.sum(tide.array({{1, 2}, {3, 4}}, "i8"), 1).dtype, "i64", "sum of i8 is i64")
check.eq(tide.sum(tide.array({{1, 2}, {3, 4}}, "u16"), 1).dtype, "u64", "sum of u16 is u64")
check.eq(tide.sum(tide.array({{1, 2}, {3, 4}}, "u8"), 1).dtype, "u64", "sum of u8 is u64")
check.eq(tide.array({65535, 65535}, "u16"):sum(), 131070, "u16 sum")
check.eq(tide.array({1, 2, 3, 4}, "i16"):mean(), 2.5, "i16 mean")
check.eq(tide.array({3, -7, 5}, "i8"):min(), -7, "i8 min")
check.eq(tide.array({3, -7, 5}, "i8"):argmin(), 2, "i8 argmin")
check.eq(tide.prod(tide.array({{2, 3}}, "u32"), 2).dtype, "u64", "prod of u32 is u64")
check.eq(tide.array({1, 2}, "u16"):cumsum().dtype, "u64", "cumsum of u16 is u64")
check.eq(tide.array({1, 2}, "i8"):cumsum().dtype, "i64", "cumsum of i8 is i64")
check.near(tide.array({1, 2, 3}, "u32"):var(), 2 / 3, 1e-12, "u32 var")
do
  local u = tide.array({5, 0, 7}, "u64")
  u[2] = -1 -- 2^64 - 1: the largest
  check.eq(u:max(), 2.0 ^ 64, "u64 max past 2^63")
  check.eq(u:argmax(), 2, "u64 argmax past 2^63")
  check.eq(u:min(), 5, "u64 min")
  check.eq(tide.max(tide.array({{1, -1}}, "u64"), 2).dtype, "u64", "u64 max along a dim")
  local m = tide.array({{1, 5}, {2, 3}}, "u64")
  m:set(2, 1, -2)
  check.array(tide.argmax(m, 1), {2, 1}, nil, "u64 argmax along dim 1")
  check.array(tide.max(m, 1):astype("f64"), {2.0 ^ 64, 5}, nil, "u64 max along dim 1")
  check.eq(tide.array({2.0 ^ 63, 2.0 ^ 63}, "f64"):astype("u64"):sum(), 0,
           "u64 sum wraps, as numpy's")
end

-- ------------------------------------------------------------ sorting

check.array(tide.array({3, -1, -128, 127, 0}, "i8"):sort(), {-128, -1, 0, 3, 127}, nil, "i8 sort")
check.array(tide.array({300, 2, 65535}, "u16"):argsort(), {2, 1, 3}, nil, "u16 argsort")
check.array(tide.array({3, 1, 2}, "i16"):sort(nil, {descending = true}), {3, 2, 1}, nil,
            "i16 descending")
do
  local u = tide.array({1, 0, 3}, "u64")
  u[2] = -1
  check.array(u:argsort(), {1, 3, 2}, nil, "u64 past 2^63 sorts last")
  check.eq(u:sort()[3], 2.0 ^ 64, "u64 sort keeps the value")
  check.array(tide.array({1, 3, 5}, "u32"):searchsorted(tide.array({3, 4}, "u16")), {2, 3}, nil,
              "searchsorted of unsigned dtypes")
  check.array(tide.unique(tide.array({3, 1, 3}, "u16")), {1, 3}, nil, "unique u16")
  check.eq(tide.array({3, 1, 2}, "i16"):median(), 2, "median of i16")
end

do -- 4M elements or more sort in workers over shared memory
  local n = 4200000
  local a = ((tide.rand(n, {seed = 3}) - 0.5) * 60000):astype("i64"):astype("i16")
  local s2 = a:sort(nil, {jobs = 2})
  check.truthy(s2:eq(a:sort(nil, {jobs = 1})):all(), "parallel sort of i16")
  check.eq(s2.dtype, "i16", "parallel sort keeps i16")
  check.truthy(s2[1] <= s2[2] and s2[n - 1] <= s2[n], "parallel sort orders i16")
end

-- ------------------------------------------------------------ shapes, where, masks

check.eq(tide.concat({tide.zeros(1, "u8"), tide.zeros(1, "i8")}).dtype, "i16", "concat promotes")
check.eq(tide.where(tide.array({true, false}), tide.zeros(2, "u16"), tide.ones(2, "i16")).dtype,
         "i32", "where promotes")
for _, dt in ipairs(NEW) do
  local a = tide.array({1000, 2, 300}, dt ~= "i8" and dt or "i16"):astype(dt)
  local w = a:astype("f64"):totable()
  check.array(a[tide.array({true, false, true})], {w[1], w[3]}, nil, "mask gathers " .. dt)
  check.array(tide.where(tide.array({true, false, true}), a, a:add(1)), {w[1], w[2] + 1, w[3]},
              nil, "where " .. dt)
  local b = a:copy()
  b[tide.array({false, true, false})] = 9
  check.array(b, {w[1], 9, w[3]}, nil, "mask writes " .. dt)
  check.array(a:take({3, 1}), {w[3], w[1]}, nil, "take " .. dt)
  check.array(tide.concat({a, a})[4], w[1], nil, "concat " .. dt)
end

-- ------------------------------------------------------------ .npy / .npz, tide only

local samples = {
  i8 = {-128, -1, 0, 127}, i16 = {-32768, -2, 0, 32767}, u16 = {0, 1, 40000, 65535},
  u32 = {0, 7, 3000000000, 4294967295}, u64 = {0, 1, math.maxinteger, -1},
}
for _, dt in ipairs(NEW) do
  local a = tide.array(samples[dt], dt)
  local p = path(dt .. ".npy")
  tide.save(p, a)
  local b = tide.load(p)
  check.eq(b.dtype, dt, "npy round trip dtype " .. dt)
  check.truthy(b:eq(a):all(), "npy round trip values " .. dt)
  local m = tide.load(p, {mmap = "r"})
  check.eq(m.dtype, dt, "npy mapped " .. dt)
  check.truthy(m:eq(a):all(), "npy mapped values " .. dt)
  m:close()
  check.eq(tide.load(p, {dtype = "f64"}).dtype, "f64", "load converted")
end
do
  local p = path("all.npz")
  local t = {}
  for _, dt in ipairs(NEW) do t[dt] = tide.array(samples[dt], dt) end
  tide.savez(p, t, {compress = true})
  local z = tide.load(p)
  for _, dt in ipairs(NEW) do
    check.eq(z[dt].dtype, dt, "npz dtype " .. dt)
    check.truthy(z[dt]:eq(t[dt]):all(), "npz values " .. dt)
  end
  local zf = tide.load(p, {dtype = "f64"})
  check.eq(zf.i16.dtype, "f64", "npz members converted")
  check.errors(function() tide.load(p, {dtype = "f64", mmap = "r"}) end, "cannot be combined")
end

-- A .npy written by hand: float16 and complex, and a big-endian i16.
local function npy(descr, shape, data)
  local dict = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }"):format(descr, shape)
  local pad = 64 - (10 + #dict + 1) % 64
  local h = dict .. string.rep(" ", pad % 64) .. "\n"
  return "\x93NUMPY\1\0" .. string.pack("<I2", #h) .. h .. data
end
local function write(p, s)
  local f = assert(io.open(p, "wb")); f:write(s); f:close()
end
do
  -- 1, -2, 65504 (the largest half), inf, the smallest subnormal, 0.5
  local bits = {0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0x3800, 0x7e00}
  local le, be = {}, {}
  for i, b in ipairs(bits) do le[i] = string.pack("<I2", b); be[i] = string.pack(">I2", b) end
  local want = {1, -2, 65504, math.huge, 2.0 ^ -24, 0.5}
  for _, v in ipairs{{"<f2", table.concat(le)}, {">f2", table.concat(be)}} do
    local p = path("half.npy")
    write(p, npy(v[1], "(7,)", v[2]))
    check.errors(function() tide.load(p) end, 'load it converted with the option {dtype = "f32"}')
    check.errors(function() tide.load(p, {mmap = "r"}) end, "float16")
    local a = tide.load(p, {dtype = "f32"})
    check.eq(a.dtype, "f32", "float16 -> f32")
    local b = tide.load(p, {dtype = "float64"})
    check.eq(b.dtype, "f64", "float16 -> f64")
    for i, w in ipairs(want) do
      check.eq(a[i], w, v[1] .. " element " .. i .. " as f32")
      check.eq(b[i], w, v[1] .. " element " .. i .. " as f64")
    end
    check.truthy(b[7] ~= b[7], v[1] .. " NaN")
  end
  local p = path("complex.npy")
  write(p, npy("<c16", "(1,)", string.rep("\0", 16)))
  check.errors(function() tide.load(p) end, "dtype '<c16' is complex, which tide does not have")
  check.errors(function() tide.load(p, {dtype = "f64"}) end, "is complex")
  write(p, npy(">i2", "(2,)", string.pack(">i2>i2", -300, 7)))
  check.array(tide.load(p), {-300, 7}, nil, "big-endian i16 is swapped")
end

-- ------------------------------------------------------------ workers, dumps, hashing, csv

do
  local small = tide.array({-5, 6}, "i16")
  local big = (tide.zeros(600000, "u16") + 7) -- 1.2 MB: a shared-memory handle
  local got = tide.collect(function(i)
    return {s = small * i, b = big:astype("u32") + i, w = tide.array({i}, "u64") - 2, n = big[1]}
  end, 3, {jobs = 2})
  for i = 1, 3 do
    check.eq(got[i].s.dtype, "i16", "worker i16 result")
    check.array(got[i].s, {-5 * i, 6 * i}, nil, "worker i16 values")
    check.eq(got[i].b.dtype, "u32", "worker big u32 result")
    check.eq(got[i].b[600000], 7 + i, "worker big u32 value")
    check.eq(got[i].n, 7, "worker reads an inherited u16 array")
  end
  check.eq(got[1].w[1], 2.0 ^ 64, "u64 2^64 - 1 crosses back")
  local out = tide.zeros(4, {dtype = "i8", shared = true})
  tide.pfor(4, function(i) out[i] = -i end, {jobs = 2})
  check.array(out, {-1, -2, -3, -4}, nil, "pfor writes a shared i8 array")
  local d = tide.decode(tide.encode({a = tide.array({1, 2}, "u32"), b = tide.array({-1}, "i8")}))
  check.eq(d.a.dtype, "u32", "codec u32")
  check.array(d.b, {-1}, nil, "codec i8")
end
do
  local p = path("d.tide")
  local v = {x = tide.array({1, -2}, "i16"), y = tide.array({40000}, "u16"), z = tide.zeros(2, "u64")}
  tide.dump(v, p)
  local u = tide.undump(p)
  for k, a in pairs(v) do
    check.eq(u[k].dtype, a.dtype, "dump " .. k)
    check.truthy(u[k]:eq(a):all(), "dump values " .. k)
  end
  check.truthy(tide.hash(tide.array({1}, "i16")) ~= tide.hash(tide.array({1}, "u16")),
               "hashes tell i16 from u16")
  check.eq(tide.hash(tide.array({1}, "i16")), tide.hash(tide.array({1}, "short")), "same hash")
end
do
  local p = path("c.csv")
  write(p, "a,b\n1,65535\n-2,0\n")
  local X = tide.read_csv(p, {dtype = "i32"})
  check.eq(X.dtype, "i32", "csv i32")
  check.errors(function() tide.read_csv(p, {dtype = "u16"}) end, "-2 is out of range for u16")
  check.errors(function() tide.read_csv(p, {dtype = "i16"}) end, "65535 is out of range for i16")
  write(p, "a\n18446744073709551615\n")
  check.eq(tide.read_csv(p, {dtype = "u64"})[1][1], 2.0 ^ 64, "csv u64 up to 2^64 - 1")
  write(p, "a\n-128\n127\n")
  check.array(tide.read_csv(p, {dtype = "i8"}):reshape(2), {-128, 127}, nil, "csv i8")
end

-- ------------------------------------------------------------ numpy itself

local py = "/usr/bin/python3"
if os.execute(py .. " -c 'import numpy' 2>/dev/null") then
  -- numpy writes inputs and its answers; tide computes the same and compares
  local dir = path("np")
  os.execute("mkdir -p " .. dir)
  made[#made + 1] = dir .. "/in.npz"
  made[#made + 1] = dir .. "/types.txt"
  made[#made + 1] = dir .. "/half.npz"
  for _, f in ipairs{"i16", "u16", "u32", "u64", "i1", "f2", "c16", "fromtide"} do
    made[#made + 1] = dir .. "/" .. f .. ".npy"
  end
  -- tide's files for numpy to read
  local tosave = {}
  for _, dt in ipairs(NEW) do
    tosave[dt] = tide.array(samples[dt], dt)
    tide.save(dir .. "/t_" .. dt .. ".npy", tosave[dt])
    made[#made + 1] = dir .. "/t_" .. dt .. ".npy"
  end
  local script = path("np.py")
  write(script, ([==[
import sys, numpy as np
d = sys.argv[1]
names = %q.split()
np_of = {"f64": "float64", "f32": "float32", "i64": "int64", "i32": "int32", "i16": "int16",
         "i8": "int8", "u64": "uint64", "u32": "uint32", "u16": "uint16", "u8": "uint8",
         "bool": "bool"}
vals = {"bool": [0, 1, 1, 0, 1, 0]}
for n in names:
    t = np.dtype(np_of[n])
    if t.kind in "iu":
        i = np.iinfo(t)
        vals[n] = [i.min, i.max, 0, 1, i.max // 3, i.min // 2 + 1]
    elif n != "bool":
        vals[n] = [-2.5, 1e6, 0, 1, 3.25, -7]
ins, out = {}, {}
with open(d + "/types.txt", "w") as f:
    for a in names:
        x = np.array(vals[a], dtype=np_of[a]); ins["x_" + a] = x
        for b in names:
            y = np.array(vals[b], dtype=np_of[b])
            f.write("%%s %%s %%s\n" %% (a, b, np.result_type(x, y).name))
            with np.errstate(all="ignore"):
                if a != "bool" or b != "bool":
                    ins["add_%%s_%%s" %% (a, b)] = x + y
                    ins["sub_%%s_%%s" %% (a, b)] = x - y if "bool" not in (a, b) else x + y
                    ins["mul_%%s_%%s" %% (a, b)] = x * y
                ins["max_%%s_%%s" %% (a, b)] = np.maximum(x, y)
                if "bool" not in (a, b):
                    y2 = np.array([1, 2, 3, 5, 7, 11], dtype=np_of[b])
                    ins["fdiv_%%s_%%s" %% (a, b)] = x // y2
                    ins["mod_%%s_%%s" %% (a, b)] = x %% y2
                    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
                        ins["pow_%%s_%%s" %% (a, b)] = x ** y2
                ins["lt_%%s_%%s" %% (a, b)] = x < y
                ins["eq_%%s_%%s" %% (a, b)] = x == y
        if a != "bool":
            ins["sum_" + a] = x.sum(keepdims=True)
            ins["cumsum_" + a] = np.cumsum(x)
            ins["sort_" + a] = np.sort(x)
np.savez(d + "/in.npz", **ins)
np.save(d + "/i16.npy", np.array([-32768, -1, 0, 32767], np.int16))
np.save(d + "/u16.npy", np.arange(0, 65536, 4097, dtype=np.uint16).reshape(4, 4))
np.save(d + "/u32.npy", np.asfortranarray(np.array([[0, 1], [4294967295, 7]], np.uint32)))
np.save(d + "/u64.npy", np.array([0, 2**63, 2**64 - 1], np.uint64))
np.save(d + "/i1.npy", np.array([-128, 127], np.int8))
np.save(d + "/f2.npy", np.array([1.5, -65504, 6.1e-5, np.inf], np.float16))
np.save(d + "/c16.npy", np.array([1 + 2j]))
np.savez_compressed(d + "/half.npz", h=np.array([0.25, -3], np.float16), i=np.arange(3, dtype=np.int16))
# tide's files, as numpy reads them
for n, want in %s:
    a = np.load(d + "/t_" + n + ".npy")
    assert a.dtype == np.dtype(np_of[n]), (n, a.dtype)
    assert [int(v) for v in a] == [v %% 2**64 if n == "u64" else v for v in want], (n, a)
print("ok")
]==]):format(table.concat(ALL, " "), (function()
    local items = {}
    for _, dt in ipairs(NEW) do
      items[#items + 1] = ("(%q, [%s])"):format(dt, table.concat(samples[dt], ", "))
    end
    return "[" .. table.concat(items, ", ") .. "]"
  end)()))
  local p = io.popen(py .. " " .. script .. " " .. dir .. " 2>&1")
  local said = p:read("a")
  p:close()
  check.eq(said, "ok\n", "numpy ran and read tide's files")
  -- promotion: every pair against np.result_type
  local n = 0
  for line in io.lines(dir .. "/types.txt") do
    local a, b, np = line:match("^(%S+) (%S+) (%S+)$")
    -- bool + bool is i64 in tide (logic is land / lor: see ops.h)
    local tdt = (a == "bool" and b == "bool") and "i64" or tide.zeros(1, np).dtype
    check.eq(rtype(a, b), tdt, "np.result_type(" .. a .. ", " .. b .. ")")
    n = n + 1
  end
  check.eq(n, #ALL * #ALL, "numpy gave every pair")
  -- the operations' values
  local D = tide.load(dir .. "/in.npz")
  -- tol: relative, for float results of libm functions (numpy's own pow
  -- can differ from C's in the last place)
  local function same(got, want, what, tol)
    check.eq(got.dtype, want.dtype, what .. " dtype")
    local g, w = got:totable(), want:totable()
    local ok = #g == #w
    for i = 1, #w do
      ok = ok and (g[i] == w[i] or (g[i] ~= g[i] and w[i] ~= w[i]) or
                   (tol and math.type(w[i]) == "float" and
                    math.abs(g[i] - w[i]) <= tol * math.abs(w[i])))
    end
    check.truthy(ok, what .. " values")
  end
  for _, a in ipairs(ALL) do
    local x = D["x_" .. a]
    for _, b in ipairs(ALL) do
      local y, s = D["x_" .. b], a .. "_" .. b
      if D["add_" .. s] then
        same(x + y, D["add_" .. s], "add " .. s)
        if a ~= "bool" and b ~= "bool" then same(x - y, D["sub_" .. s], "sub " .. s) end
        same(x * y, D["mul_" .. s], "mul " .. s)
      end
      same(tide.maximum(x, y), D["max_" .. s], "maximum " .. s)
      if D["fdiv_" .. s] then
        local y2 = tide.array({1, 2, 3, 5, 7, 11}, b)
        same(x // y2, D["fdiv_" .. s], "floor division " .. s)
        same(x % y2, D["mod_" .. s], "modulo " .. s)
        if D["pow_" .. s] then same(x ^ y2, D["pow_" .. s], "power " .. s, 1e-15) end
      end
      same(x:lt(y), D["lt_" .. s], "lt " .. s)
      same(x:eq(y), D["eq_" .. s], "eq " .. s)
    end
    if a ~= "bool" then
      same(tide.sum(x, 1, {keepdims = true}), D["sum_" .. a], "sum " .. a)
      same(x:cumsum(), D["cumsum_" .. a], "cumsum " .. a)
      same(x:sort(), D["sort_" .. a], "sort " .. a)
    end
  end
  -- numpy's files
  check.array(tide.load(dir .. "/i16.npy"), {-32768, -1, 0, 32767}, nil, "numpy i16")
  local u16 = tide.load(dir .. "/u16.npy")
  check.eq(u16.dtype, "u16", "numpy u16")
  check.eq(u16:get(4, 4), 15 * 4097, "numpy u16 value")
  local u32 = tide.load(dir .. "/u32.npy")
  check.eq(u32.dtype, "u32", "numpy u32 (Fortran order)")
  check.eq(u32:get(2, 1), 4294967295, "numpy u32 value")
  local u64 = tide.load(dir .. "/u64.npy")
  check.array(u64, {0, 2.0 ^ 63, 2.0 ^ 64}, nil, "numpy u64")
  check.eq(tostring(u64):match("18446744073709551615") ~= nil, true, "numpy u64 printed")
  check.array(tide.load(dir .. "/i1.npy"), {-128, 127}, nil, "numpy int8")
  check.errors(function() tide.load(dir .. "/f2.npy") end, "{dtype = \"f32\"}")
  local h = tide.load(dir .. "/f2.npy", {dtype = "f32"})
  check.eq(h[1], 1.5, "numpy float16 1.5")
  check.eq(h[2], -65504, "numpy float16 -65504")
  check.near(h[3], 6.1e-5, 1e-7, "numpy float16 6.1e-5")
  check.eq(h[4], math.huge, "numpy float16 inf")
  check.errors(function() tide.load(dir .. "/c16.npy") end, "complex")
  check.errors(function() tide.load(dir .. "/half.npz") end, "member h.npy) holds float16")
  local z = tide.load(dir .. "/half.npz", {dtype = "f32"})
  check.array(z.h, {0.25, -3}, nil, "numpy float16 npz member")
  check.eq(z.i.dtype, "f32", "every npz member converted")
else
  print("numpy comparison skipped: no numpy at " .. py)
end

for i = #made, 1, -1 do os.remove(made[i]) end
check.done()
