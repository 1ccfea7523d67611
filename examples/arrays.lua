-- arrays.lua: a tour of tide's arrays (the main example until the grid
-- search lands): shared memory, views, arithmetic, BLAS, files, and a
-- parallel loop whose workers read one copy of the data.
-- usage: tide examples/arrays.lua [rows=1000000] [cols=10]
local n = tonumber(arg[1]) or 1000000
local p = tonumber(arg[2]) or 10

local X = tide.randn(n, p, {seed = 1})
print(string.format("X: %d x %d %s, %.0f MB in %s memory", n, p, X.dtype, X.nbytes / 1e6, X.storage))
print(X:slice(1, 1, 5))

-- column statistics, standardization with broadcasting, a Gram matrix
local mu, sd = X:mean(1), X:std(1)
local Z = (X - mu) / sd
print("column means after standardizing:", Z:mean(1):slice(1, 1, 3))
local G = tide.matmul(Z:t(), Z) / n
print("correlation matrix (first 3x3):")
print(G:slice(1, 1, 3):slice(2, 1, 3))

-- a linear signal, recovered by least squares through the normal equations
local w = tide.arange(1, p + 1):astype("f64")
local y = X:dot(w) + tide.randn(n, {seed = 2}) * 0.1
local XtX, Xty = tide.matmul(X:t(), X), X:t():dot(y)
print(string.format("X'y / X'X diagonal: %.3f (true weight 1 ... %d)", Xty[1] / XtX:get(1, 1), p))

-- files: .npy round trip, and a read-only memory map of it
local path = os.tmpname() .. ".npy"
tide.save(path, X)
local M = tide.load(path, {mmap = "r"})
print(string.format("saved and mapped back: %s, equal: %s", M.storage,
                    tostring((M - X):abs():max() == 0)))
os.remove(path)

-- a parallel loop: 8 tasks each sum a block of rows of the shared X; the
-- workers are forked, so they read the same pages (no copy, no pickling)
local block = n // 8
local sums = tide.collect(function(b)
  return X:slice(1, (b - 1) * block + 1, b * block):sum()
end, 8, {jobs = 2})
local total = 0
for _, s in ipairs(sums) do total = total + s end
print(string.format("sum of X by 8 parallel tasks: %.6f (serial: %.6f)", total,
                    X:slice(1, 1, 8 * block):sum()))
