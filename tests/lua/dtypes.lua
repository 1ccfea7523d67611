-- dtypes.lua: every dtype name tide accepts means what it means to numpy
-- (np.dtype(name), numpy 1.24 on 64-bit Linux): a table of expected
-- results is the check; when /usr/bin/python3 has numpy, numpy itself is
-- asked too.  numpy's names of dtypes tide lacks are refused naming them.
local check = require "check"

-- name -> tide dtype.  tide's own names first: bare "i8" and "u8" are
-- tide's int8 and uint8; numpy's "i8" and "u8" (int64, uint64) are "<i8"
-- and "<u8" here, with a byte-order mark.
local accepted = {
  f64 = "f64", f32 = "f32", i64 = "i64", i32 = "i32", u8 = "u8", bool = "bool",
  i16 = "i16", i8 = "i8", u16 = "u16", u32 = "u32", u64 = "u64",
  float64 = "f64", double = "f64", float = "f64", float_ = "f64", f8 = "f64", d = "f64",
  float32 = "f32", single = "f32", f4 = "f32", f = "f32",
  int64 = "i64", int = "i64", int_ = "i64", long = "i64", longlong = "i64", intp = "i64",
  int0 = "i64", l = "i64", q = "i64", p = "i64",
  int32 = "i32", intc = "i32", i4 = "i32", i = "i32",
  uint8 = "u8", ubyte = "u8", u1 = "u8", B = "u8",
  bool_ = "bool", bool8 = "bool", b1 = "bool", ["?"] = "bool",
  byte = "i8", int8 = "i8", i1 = "i8", b = "i8",
  short = "i16", int16 = "i16", i2 = "i16", h = "i16",
  ushort = "u16", uint16 = "u16", u2 = "u16", H = "u16",
  uintc = "u32", uint32 = "u32", u4 = "u32", I = "u32",
  uint = "u64", uint64 = "u64", ulonglong = "u64", uintp = "u64", uint0 = "u64",
  L = "u64", Q = "u64", P = "u64", ["<u8"] = "u64", ["=u8"] = "u64", ["|i1"] = "i8",
  ["<i2"] = "i16", ["<u2"] = "u16", ["<u4"] = "u32", ["=i8"] = "i64",
  ["<f8"] = "f64", ["=f8"] = "f64", ["|f8"] = "f64", ["<d"] = "f64", ["<f4"] = "f32",
  ["<i8"] = "i64", ["=i"] = "i32", ["<i4"] = "i32", ["|u1"] = "u8", [">u1"] = "u8",
  ["|b1"] = "bool", ["<?"] = "bool",
}
local tide_own = {f64 = true, f32 = true, i64 = true, i32 = true, u8 = true, i8 = true,
                  i16 = true, u16 = true, u32 = true, u64 = true}

-- numpy names of dtypes tide does not have -> numpy's dtype
local refused = {
  half = "float16", float16 = "float16", f2 = "float16", e = "float16",
  longdouble = "float128", float128 = "float128", longfloat = "float128", f16 = "float128",
  g = "float128",
  complex = "complex128", complex128 = "complex128", cfloat = "complex128",
  cdouble = "complex128", c16 = "complex128", D = "complex128",
  complex64 = "complex64", csingle = "complex64", c8 = "complex64", F = "complex64",
  complex256 = "complex256", clongdouble = "complex256", c32 = "complex256", G = "complex256",
}

local numpy_of = {f64 = "float64", f32 = "float32", i64 = "int64", i32 = "int32", u8 = "uint8",
                  bool = "bool", i16 = "int16", i8 = "int8", u16 = "uint16", u32 = "uint32",
                  u64 = "uint64"}

for name, dt in pairs(accepted) do
  check.eq(tide.zeros(2, name).dtype, dt, "zeros(2, '" .. name .. "')")
end
for name, np in pairs(refused) do
  check.errors(function() tide.zeros(2, name) end,
               ("dtype '%s' is numpy's %s, which tide does not have"):format(name, np), name)
end

-- every place a dtype is given reads the same names
check.eq(tide.zeros(3, "float").dtype, "f64", "float is float64, as numpy's")
check.eq(tide.ones(2, {dtype = "int"}).dtype, "i64", "int is numpy's default integer")
check.eq(tide.array({1, 2}, "single").dtype, "f32")
check.eq(tide.arange(3):astype("double").dtype, "f64")
check.eq(tide.full(2, 1, "intc").dtype, "i32")
check.eq(tide.rand(2, {dtype = "float_", seed = 1}).dtype, "f64")
check.errors(function() tide.arange(3):astype("half") end, "numpy's float16")
check.eq(tide.zeros(2, {dtype = "byte"}).dtype, "i8", "byte is numpy's int8")
check.eq(tide.zeros(2, "i8").dtype, "i8", "bare i8 is tide's int8")
check.eq(tide.zeros(2, "<i8").dtype, "i64", "<i8 is numpy's int64")
check.errors(function() tide.zeros(2, ">f8") end, "dtype '>f8' is not in this machine's byte order")
check.errors(function() tide.zeros(2, "<f64") end, "unknown dtype '<f64'")
check.errors(function() tide.zeros(2, "Float64") end, "unknown dtype 'Float64' (f64 f32 i64 i32 i16 i8 u64 u32 u16 u8 bool)")
check.errors(function() tide.zeros(2, "") end, "unknown dtype ''")
do
  local path = os.tmpname()
  local mm = tide.memmap(path, {shape = {3}, dtype = "float", mode = "w+"})
  check.eq(mm.dtype, "f64", "memmap dtype = \"float\"")
  mm:close()
  check.errors(function() tide.memmap(path, {shape = {3}, dtype = "half", mode = "w+"}) end,
               "numpy's float16")
  local f = assert(io.open(path, "w")); f:write("a\n1\n2\n"); f:close()
  check.eq(tide.read_csv(path, {dtype = "int"}).dtype, "i64", "read_csv dtype = \"int\"")
  os.remove(path)
end

-- numpy itself, when it is there
local py = "/usr/bin/python3"
if os.execute(py .. " -c 'import numpy' 2>/dev/null") then
  local names = {}
  for name in pairs(accepted) do if not tide_own[name] then names[#names + 1] = name end end
  for name in pairs(refused) do names[#names + 1] = name end
  table.sort(names)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write("import sys, numpy as np\n",
          "for n in sys.stdin.read().split('\\n'):\n",
          "    if n: print(n, np.dtype(n).name)\n")
  f:close()
  local input = os.tmpname()
  f = assert(io.open(input, "w")); f:write(table.concat(names, "\n"), "\n"); f:close()
  local p = io.popen(py .. " " .. script .. " < " .. input)
  local seen = 0
  for line in p:lines() do
    local name, np = line:match("^(%S+) (%S+)$")
    seen = seen + 1
    local want = accepted[name] and numpy_of[accepted[name]] or refused[name]
    check.eq(np, want, "np.dtype('" .. tostring(name) .. "')")
  end
  p:close()
  check.eq(seen, #names, "numpy answered for every name")
  os.remove(script); os.remove(input)
else
  print("numpy comparison skipped: no numpy at " .. py)
end

check.done()
