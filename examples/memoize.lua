-- memoize.lua: the joblib talk's workflow.  A big array, an expensive
-- transform of it memoized on disk: run the script twice, and the second
-- run gets the result as a mapped hit instead of computing it.
--
-- usage: tide examples/memoize.lua [MB=256] [passes=2] [--dir PATH] [--clear]
--   MB      size of the input array (the talk's is 1000: 1 GB; the default
--           is smaller so that a run takes seconds; 1000 needs about 3 GB of
--           memory and 1 GB of disk, fine on a 24 GB machine)
--   passes  how expensive the transform is
--   --dir   the cache folder (default .tide-cache)
--   --clear empty it first (the next run computes again)
local mb = tonumber(arg[1]) or 256
local passes = tonumber(arg[2]) or 2
local dir, clear = ".tide-cache", false
for i = 1, #arg do
  if arg[i] == "--dir" then dir = arg[i + 1] end
  if arg[i] == "--clear" then clear = true end
end

local cols = 100
local rows = math.floor(mb * 1e6 / 8 / cols)
local t0 = tide.now()
local X = tide.rand({rows, cols}, {seed = 42}) -- the same data in every run
print(string.format("input: %d x %d %s, %.0f MB (%s memory), made in %.2f s", rows, cols,
                    X.dtype, X.nbytes / 1e6, X.storage, tide.now() - t0))

-- The expensive part: standardize the columns, then squash the values
-- through tanh a few times.  It returns the big result and small figures,
-- among them its own run time, which come back with it on a hit.
local function transform(A, npasses)
  local start = tide.now()
  local Z = (A - A:mean(1)) / A:std(1)
  for _ = 1, npasses do
    local e = (Z * 2):exp()
    Z = (e - 1) / (e + 1)
  end
  return Z, {seconds = tide.now() - start, passes = npasses, mean = Z:mean()}
end

local g = tide.memoize(transform, {dir = dir, verbose = 1, name = "transform"})
if clear then print(string.format("cache: %d entries removed from %s", g:clear(), dir)) end

-- A key hashes the input by content; the digest is then kept with the
-- array until it is written, so measure that part on its own first.
local th = tide.now()
tide.hash(X)
local hash_t = tide.now() - th
print(string.format("hashing the input: %.3f s (%.1f GB/s), then cached for this array",
                    hash_t, X.nbytes / 1e9 / hash_t))

local t1 = tide.now()
local Z, stats = g(X, passes)
local first = tide.now() - t1
local hit = g:info().hits == 1
print(string.format("call 1: %.3f s, %s (result in %s storage)", first,
                    hit and "a hit" or "computed", Z.storage))
local t2 = tide.now()
local Z2 = g(X, passes)
local second = tide.now() - t2
print(string.format("call 2: %.4f s, a hit (result in %s storage)", second, Z2.storage))
print(string.format("result: %d x %d, mean %.6f; computing it took %.2f s", Z.shape[1],
                    Z.shape[2], stats.mean, stats.seconds))
if hit then
  print(string.format("mapped hit: saved %.2f s of %.2f s (%.0fx faster)", stats.seconds - first,
                      stats.seconds, stats.seconds / first))
else
  print("run the script again: its first call will be a mapped hit")
end
local info = g:info()
print(string.format("cache %s: %d entries, %.0f MB", dir, info.entries, info.bytes / 1e6))
