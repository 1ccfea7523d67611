-- soak.lua: many loops in a row, with descriptors, RSS, /dev/shm and child
-- processes flat.  Mixed sizes and inputs, array results, a worker that
-- kills itself every 100th loop; then loops forked right after OpenBLAS
-- ran multi-threaded in the parent, none of which may hang.
-- usage: tide tests/soak/soak.lua [loops=10000] [blas_loops=10000]
local loops = tonumber(arg[1]) or 10000
local blas_loops = tonumber(arg[2]) or 10000

local function count(cmd)
  local p = io.popen(cmd)
  local n = tonumber(p:read("a"))
  p:close()
  return n
end
local me = io.open("/proc/self/stat"):read("n")
-- descriptors other than pipes: the popen that counts them adds one or two
local function fds() return count("ls -l /proc/" .. me .. "/fd | grep -vc pipe:") end
local function shm() return count("ls /dev/shm | wc -l") end
local function kids() return count("grep -l '^[0-9]* ([^)]*) [A-Z] " .. me .. " ' /proc/[0-9]*/stat 2>/dev/null | wc -l") end
local function rss()
  local f = io.open("/proc/self/statm")
  local _, r = f:read("n", "n")
  f:close()
  return r * 4096
end

local function sample()
  collectgarbage(); collectgarbage()
  return {fds = fds(), shm = shm(), kids = kids() - 1, rss = rss()} -- kids: less the shell
end

-- one loop of each kind first: what opens once (lazily) is not growth
for kind = 1, 3 do
  for _ in tide.map(function(x) return kind == 2 and tide.full(1 << 17, x) or x end, 4, {jobs = 2}) do end
end
local base = sample()
local worst = {fds = 0, shm = 0, kids = 0, rss = 0}
local function checkpoint(label)
  local s = sample()
  for k, v in pairs(s) do
    local d = v - base[k]
    if d > worst[k] then worst[k] = d end
  end
  print(string.format("%-18s fds %+d  shm %+d  children %d  rss %+.1f MB", label, s.fds - base.fds,
                      s.shm - base.shm, s.kids, (s.rss - base.rss) / 1e6))
end

local t0 = tide.now()
for k = 1, loops do
  local n = (k * 7919) % 50 + 1
  local crash = k % 100 == 0 and (k // 100) % n + 1 or nil
  local kind = k % 3
  local xs = n
  if kind == 2 then
    local i = 0
    xs = function() i = i + 1; if i <= n then return i end end
  end
  local f = function(x)
    if x == crash then os.execute("kill -KILL " .. io.open("/proc/self/stat"):read("n")); tide.sleep(5) end
    if kind == 1 then return tide.full(1 << 17, x) end
    return x * 2
  end
  local got = 0
  for i, r, err in tide.map(f, xs, {jobs = 2, on_error = "yield", chunk = k % 2 == 0 and "auto" or 1}) do
    if not err then got = got + 1 end
  end
  assert(got == n - (crash and 1 or 0), "loop " .. k .. ": " .. got .. " of " .. n)
  if k % 1000 == 0 then checkpoint(string.format("loops %d", k)) end
end
checkpoint("loops done")
print(string.format("%d loops in %.1f s", loops, tide.now() - t0))

local A = tide.rand({400, 400}, {seed = 1})
local function blas_loop()
  local C = tide.matmul(A, A) -- OpenBLAS busy on every thread just before the fork
  local t = tide.collect(function(i) return i end, 4, {jobs = 2})
  assert(#t == 4 and C.shape[1] == 400)
end
blas_loop()
base = sample() -- A and its product's kept pages are this phase's data
t0 = tide.now()
for k = 1, blas_loops do
  blas_loop()
  if k % 1000 == 0 then checkpoint(string.format("blas loops %d", k)) end
end
checkpoint("blas loops done")
print(string.format("%d fork-after-BLAS loops in %.1f s", blas_loops, tide.now() - t0))
print(string.format("worst growth: fds %d, /dev/shm %d, children %d, rss %.1f MB", worst.fds,
                    worst.shm, worst.kids, worst.rss / 1e6))
assert(worst.fds == 0 and worst.shm == 0 and worst.kids == 0, "something grew")
assert(worst.rss < 64e6, "RSS grew by more than 64 MB")
print("soak passed")
