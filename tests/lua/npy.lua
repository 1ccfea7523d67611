-- npy.lua: tide.load / tide.save / tide.memmap / tide.savez from Lua:
-- numpy-written fixtures, mmap modes, argument errors, bad files, and a
-- live round trip through numpy when python3 with numpy is installed.
local check = require "check"
local tide = tide or require "tide"

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/npy/"
local base = os.tmpname()
os.remove(base)
local made = {}
local function tmp(name)
  local p = base .. "-" .. name
  made[#made + 1] = p
  return p
end

-- The value make_npy.py stores at 0-based C-order position k.
local function want(dtype, k)
  if dtype == "bool" then return k % 3 == 0 end
  if dtype == "u8" then return (k * 7) % 256 end
  if dtype == "f64" or dtype == "f32" then return k * 0.5 - 3.25 end
  if dtype == "i32" then return k * 3 - 5 end
  return (k * 3 - 5) * ((1 << 33) + 1)
end

-- Compares a 3-D array (2x3x4) or any 1-D/2-D one against the rule.
local function rule_ok(a)
  local sh, k, bad = a.shape, 0, 0
  local function visit(idx, d)
    if d > #sh then
      local v = #sh == 0 and a:item() or a:get(table.unpack(idx))
      if v ~= want(a.dtype, k) then bad = bad + 1 end
      k = k + 1
      return
    end
    for i = 1, sh[d] do
      idx[d] = i
      visit(idx, d + 1)
    end
  end
  visit({}, 1)
  return bad == 0
end

-- every dtype, both byte orders, both layouts, as numpy wrote them
for _, dt in ipairs({"float64", "float32", "int64", "int32", "uint8", "bool"}) do
  for _, e in ipairs({"le", "be"}) do
    for _, o in ipairs({"C", "F"}) do
      local name = string.format("%s_%s_%s.npy", dt, e, o)
      local a = tide.load(FIX .. name)
      check.eq(a.ndim, 3, name)
      check.eq(a.size, 24, name)
      check.truthy(rule_ok(a), name .. " values")
    end
  end
end
for _, name in ipairs({"v2.npy", "v3.npy", "scalar.npy", "empty.npy", "empty2d.npy", "f2d.npy"}) do
  local a = tide.load(FIX .. name)
  check.truthy(rule_ok(a), name .. " values")
end
check.eq(tide.load(FIX .. "scalar.npy").ndim, 0, "0-d")
check.eq(tide.load(FIX .. "empty.npy").size, 0, "empty")

-- mmap: r is read-only, r+ writes reach the file, c stays private
local p = tmp("m.npy")
tide.save(p, tide.arange(0, 12):reshape(3, 4))
local r = tide.load(p, {mmap = "r"})
check.eq(r.storage, "file", "mmap r storage")
check.truthy(r.readonly, "mmap r is read-only")
check.errors(function() r:set(1, 1, 5) end, "read-only")
check.errors(function() r[1][1] = 5 end, "read-only")
check.errors(function() r:fill_(0) end, "read-only")
check.eq(r:get(3, 4), 11, "mapped value")
local w = tide.load(p, {mmap = "r+"})
w:set(2, 3, 99)
check.eq(w:flush(), true, "flush of r+")
check.eq(tide.load(p):get(2, 3), 99, "r+ write reached the file")
check.eq(r:get(2, 3), 99, "a shared mapping sees it")
local c = tide.load(p, {mmap = "c"})
c:set(1, 1, -7)
check.eq(c:get(1, 1), -7, "copy-on-write write")
check.eq(tide.load(p):get(1, 1), 0, "c never changes the file")
check.errors(function() tide.load(FIX .. "float64_be_C.npy", {mmap = "r"}) end, "byte order")
check.truthy(rule_ok(tide.load(FIX .. "f2d.npy", {mmap = "r"})), "Fortran-order mmap")
check.eq(tide.load(FIX .. "empty.npy", {mmap = "r"}).size, 0, "empty mmap")
check.eq(tide.load(FIX .. "scalar.npy", {mmap = "c"}):item(), -3.25, "0-d mmap")

-- memmap: create, reopen with checks
local mp = tmp("mm.npy")
local m = tide.memmap(mp, {shape = {4, 2}, dtype = "f32", mode = "w+"})
check.eq(m.storage, "file", "memmap storage")
check.eq(m.dtype, "f32", "memmap dtype")
m:set(4, 2, 1.5)
check.eq(m:flush(), true, "memmap flush")
check.eq(tide.load(mp):get(4, 2), 1.5, "memmap write visible")
local m2 = tide.memmap(mp, {mode = "r"})
check.truthy(m2.readonly, "memmap r")
check.errors(function() tide.memmap(mp, {mode = "r", shape = {3}}) end, "has shape 4x2")
check.errors(function() tide.memmap(mp, {mode = "r", dtype = "f64"}) end, "holds f32")
check.errors(function() tide.memmap(mp, {mode = "w+"}) end, "needs a shape")
check.errors(function() tide.memmap(mp, {mode = "q"}) end, "bad argument #2 to 'memmap'")
check.errors(function() tide.memmap(mp, {shape = {-1}}) end, "must not be negative")

-- save: views are written in C order
local t = tide.arange(0, 6):reshape(2, 3):t()
local sp = tmp("t.npy")
tide.save(sp, t)
local back = tide.load(sp)
check.eq(back.shape[1], 3, "saved shape")
check.eq(back:get(3, 2), t:get(3, 2), "transposed view saved")

-- a large array loads into shared memory (tide.config.share_bytes)
local big = tide.zeros(300000)
big[300000] = 7
local bp = tmp("big.npy")
tide.save(bp, big)
local bb = tide.load(bp)
check.eq(bb.storage, "shared", "large load goes to shared memory")
check.eq(bb[300000], 7.0, "large load value")

-- npz
local z = tide.load(FIX .. "stored.npz")
check.truthy(rule_ok(z.x) and rule_ok(z.y) and rule_ok(z.flags), "stored npz")
local zd = tide.load(FIX .. "deflated.npz")
check.truthy(rule_ok(zd.x) and rule_ok(zd.big) and rule_ok(zd.y), "deflated npz")
local z64 = tide.load(FIX .. "zip64.npz")
check.truthy(rule_ok(z64.x) and rule_ok(z64.y), "zip64 npz")
for _, comp in ipairs({false, true}) do
  local zp = tmp(comp and "c.npz" or "s.npz")
  tide.savez(zp, {a = tide.arange(0, 10), b = t}, {compress = comp})
  local zz = tide.load(zp)
  check.eq(zz.a:get(10), 9, "npz a")
  check.eq(zz.b:get(3, 2), t:get(3, 2), "npz b")
end
check.errors(function() tide.load(FIX .. "stored.npz", {mmap = "r"}) end, "not supported for .npz")
check.errors(function() tide.savez(tmp("x.npz"), {a = 1}) end, "bad argument #2 to 'savez'")
check.errors(function() tide.savez(tmp("x.npz"), {tide.zeros(2)}) end, "member names")

-- arguments and environment
check.errors(function() tide.load() end, "bad argument #1 to 'load'")
check.errors(function() tide.load(p, {mmap = "w"}) end, "bad argument #2 to 'load'")
check.errors(function() tide.load(p, 5) end, "bad argument #2 to 'load'")
check.errors(function() tide.save(p, 5) end, "bad argument #2 to 'save'")
check.errors(function() tide.load(base .. "-missing.npy") end, "missing.npy: No such file")
check.errors(function() tide.save(base .. "-no/dir.npy", t) end, "no/dir.npy")

-- bad files name the file and say what is wrong
local function write(name, bytes)
  local fp = tmp(name)
  local f = assert(io.open(fp, "wb"))
  f:write(bytes)
  f:close()
  return fp
end
local function npy(dict, data)
  local hl = #dict + 1
  hl = hl + (64 - (10 + hl) % 64) % 64
  return "\x93NUMPY\1\0" .. string.char(hl % 256, hl // 256) .. dict ..
         string.rep(" ", hl - #dict - 1) .. "\n" .. data
end
local obj = write("obj.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
                                 string.rep("\0", 8)))
check.errors(function() tide.load(obj) end, "never unpickles")
check.errors(function() tide.load(obj) end, "obj.npy")
local short = write("short.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                     string.rep("\0", 16)))
check.errors(function() tide.load(short) end, "data shorter than declared")
check.errors(function() tide.load(short, {mmap = "r"}) end, "data shorter than declared")
local trail = write("trail.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                                     string.rep("\0", 9)))
check.errors(function() tide.load(trail) end, "trailing bytes")
check.errors(function() tide.load(write("junk.npy", "hello")) end, "neither a .npy nor a .npz")
check.errors(function() tide.load(write("big.npy", "\x93NUMPY\2\0\xf0\xff\xff\xff")) end,
             "above the 10000 bytes")
check.errors(function() tide.load(write("bad.npz", "PK\5\6" .. string.rep("\0", 10))) end,
             "corrupt .npz")

-- live round trip through numpy, when it is installed
local py
for _, cand in ipairs({os.getenv("TIDE_PYTHON") or "python3", "python3", "/usr/bin/python3"}) do
  if not py and os.execute(cand .. " -c 'import numpy' 2>/dev/null") then py = cand end
end
if py then
  local out, theirs = tmp("ours.npy"), tmp("theirs.npy")
  local a = tide.zeros(2, 3, 4)
  for k = 0, 23 do a:set(k // 12 + 1, k // 4 % 3 + 1, k % 4 + 1, k * 0.5 - 3.25) end
  tide.save(out, a)
  local zp = tmp("ours.npz")
  tide.savez(zp, {a = a, u = tide.arange(0, 6):astype("u8")}, {compress = true})
  local script = string.format([[
import numpy as np, sys
a = np.load(%q)
assert a.shape == (2, 3, 4) and a.dtype == np.float64, (a.shape, a.dtype)
assert (a.ravel() == np.arange(24) * 0.5 - 3.25).all()
z = np.load(%q)
assert sorted(z.files) == ['a', 'u'] and (z['u'] == np.arange(6)).all() and z['u'].dtype == np.uint8
b = np.asfortranarray((np.arange(24) * 3 - 5).astype('>i4').reshape(2, 3, 4))
np.save(%q, b)
]], out, zp, theirs)
  local ok = os.execute(py .. " -c '" .. script:gsub("'", "'\\''") .. "'")
  check.truthy(ok, "numpy reads tide's files")
  if ok then check.truthy(rule_ok(tide.load(theirs)), "tide reads numpy's live file") end
else
  print("numpy not installed: live round trip skipped")
end

for _, f in ipairs(made) do os.remove(f) end
-- memmap without a mode never replaces an existing file: it opens it r+
do
  local p = os.tmpname() .. ".npy"
  local a = tide.memmap(p, {shape = {3}})
  a[1] = 5; a:flush(); a:close()
  local b = tide.memmap(p, {shape = {3}})
  check.eq(b[1], 5.0, "an existing memmap is opened, not replaced")
  b:close()
  check.errors(function() tide.memmap(p, {shape = {4}}) end, "has shape 3, not 4")
  os.remove(p)
end

-- memmap's options: a shape as one integer, modes c and r, and each bad
-- option named
do
  local p = os.tmpname() .. ".npy"
  local a = tide.memmap(p, {shape = 4, dtype = "i32", mode = "w+"})
  check.eq(a.ndim, 1, "shape = 4 is a 1-d shape")
  check.eq(#a, 4, "of 4")
  a[2] = 7; a:flush(); a:close()
  local c = tide.memmap(p, {mode = "c"})
  c[2] = 9 -- copy-on-write: the file keeps 7
  c:close()
  local r = tide.memmap(p, {mode = "r", dtype = "i32"})
  check.eq(r[2], 7, "mode c wrote nothing to the file")
  r:close()
  check.errors(function() tide.memmap(p, {mode = "r", dtype = "f64"}) end, "holds i32, not f64")
  check.errors(function() tide.memmap(p, {mode = "x"}) end, 'mode must be "w+", "r", "r+" or "c"')
  check.errors(function() tide.memmap(p, {shape = {2, 1.5}}) end, "shape entries must be integers")
  check.errors(function() tide.memmap(p, {shape = "4"}) end, "shape must be an integer or a table")
  check.errors(function() tide.memmap(p, {shape = {-1}, mode = "w+"}) end, "must not be negative")
  local long = {}
  for i = 1, 33 do long[i] = 1 end
  check.errors(function() tide.memmap(p, {shape = long}) end, "more than 32 dimensions")
  check.errors(function() tide.memmap(p, {mode = "w+"}) end, 'mode "w+" needs a shape')
  os.remove(p)
  check.errors(function() tide.memmap(p, {mode = "r"}) end, "cannot open")
  local closed = tide.zeros(2)
  closed:close()
  check.errors(function() tide.savez(p .. "z", {a = closed}) end, "field 'a' is not an open array")
  check.errors(function() tide.savez(p .. "z", {a = 1}) end, "field 'a' is not an open array")
  check.errors(function() tide.savez(p .. "z", {tide.zeros(1)}) end, "keys must be member names")
end

check.done()
