-- persist.lua: persistence figures.
--   hash: tide.hash of a GB-sized f64 array, first (a pass over it) and
--   again unchanged (the digest cached per array version);
--   dump: tide.dump of the array to a folder, against dd writing as many
--   bytes there (both fsynced; interleaved, best of 3);
--   undump: mapped (header, table and stream checked; best of 5) and read
--   into memory (a fresh shared segment, every checksum checked);
--   memoize: a hit on a function whose result is an 800 MB array, mapped,
--   in the process that stored it and in a fresh one.
-- usage: tide bench/persist.lua [GB=1] [result MB=800] [dir=bench-out/persist] [json-out]
local gb = tonumber(arg[1]) or 1
local result_mb = tonumber(arg[2]) or 800
local dir = arg[3] or "bench-out/persist"
local out = arg[4]
local f = out and io.open(out, "a")
local function record(name, value, unit)
  print(string.format("persist  tide  %-34s %10.4g %s", name, value, unit))
  if f then
    f:write(string.format('{"bench":"persist","impl":"tide","what":"%s","value":%.6g,"unit":"%s"}\n',
                          name, value, unit))
  end
end
assert(os.execute("rm -rf " .. dir .. " && mkdir -p " .. dir))

local n = math.floor(gb * 1e9 / 8)
local X = tide.rand(n, {seed = 1})
local nbytes = X.nbytes

-- hash
local t0 = tide.now()
local h1 = tide.hash(X)
local first = tide.now() - t0
t0 = tide.now()
local h2 = tide.hash(X)
local again = tide.now() - t0
assert(h1 == h2)
record("hash first", nbytes / 1e9 / first, "GB/s")
record("hash again (unchanged)", again * 1e3, "ms")

-- dump against dd
local path = dir .. "/x.tide"
local function dd()
  local t = tide.now()
  assert(os.execute(string.format("dd if=/dev/zero of=%s/dd.bin bs=1M count=%d conv=fsync 2>/dev/null",
                                  dir, math.floor(nbytes / 2^20))))
  local dt = tide.now() - t
  os.remove(dir .. "/dd.bin")
  return math.floor(nbytes / 2^20) * 2^20 / dt
end
local function dump()
  local t = tide.now()
  tide.dump({X = X, note = "bench"}, path)
  return nbytes / (tide.now() - t)
end
local ddr, dumpr = 0, 0
for _ = 1, 3 do -- interleaved, best of 3: the disk is shared
  ddr = math.max(ddr, dd())
  dumpr = math.max(dumpr, dump())
end
record("dd to the same folder", ddr / 1e9, "GB/s")
record("dump", dumpr / 1e9, "GB/s")
record("dump / dd", dumpr / ddr, "x")

-- undump
local best = math.huge
for _ = 1, 5 do
  t0 = tide.now()
  local v = tide.undump(path, {mmap = "r"})
  best = math.min(best, tide.now() - t0)
  assert(v.X.storage == "file")
end
record("undump mapped", best * 1e3, "ms")
t0 = tide.now()
local v = tide.undump(path)
local rd = tide.now() - t0
assert(v.X[n] == X[n])
v = nil
collectgarbage()
record("undump read (checked)", nbytes / 1e9 / rd, "GB/s")
os.remove(path)

-- memoize hit on an 800 MB result
X = nil
collectgarbage()
local cache = dir .. "/cache"
local rn = math.floor(result_mb * 1e6 / 8)
local make = function(k) return tide.rand(k, {seed = 2}) end
local g = tide.memoize(make, {dir = cache})
t0 = tide.now()
local r = g(rn)
record("memoize miss (compute + store)", tide.now() - t0, "s")
r = nil
collectgarbage()
best = math.huge
for _ = 1, 5 do
  t0 = tide.now()
  r = g(rn)
  best = math.min(best, tide.now() - t0)
  assert(r.storage == "file" and #r == rn)
  r = nil
end
record("memoize hit, mapped", best * 1e3, "ms")
local child = string.format([[
local g = tide.memoize(function(k) return tide.rand(k, {seed = 2}) end, {dir = %q})
local t0 = tide.now()
local r = g(%d)
io.write(string.format("%%.6f %%s", tide.now() - t0, r.storage))
]], cache, rn)
local script = dir .. "/hit.lua"
io.open(script, "w"):write(child):close()
local h = io.popen(string.format("%s %s", arg[-1] or "tide", script))
local o = h:read("a")
h:close()
local secs, st = o:match("^(%S+) (%S+)")
assert(st == "file", "the fresh process's hit: " .. o)
record("memoize hit, mapped, fresh process", tonumber(secs) * 1e3, "ms")
g:clear()
os.execute("rm -rf " .. dir)
if f then f:close() end
