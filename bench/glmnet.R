# R's glmnet on the main example's data: cv.glmnet over the elastic-net
# grid of examples/gridsearch.lua (lambdas 1e-3..1, alpha = l1_ratio 0.1,
# 0.5, 0.9), the same 5 unshuffled folds, no standardization (scikit-learn's
# and tide's objective).  Reads DIR/X.f64 and DIR/y.f64 (raw little-endian
# doubles, row-major n x p).
#   Rscript bench/glmnet.R DIR N P
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; n <- as.integer(args[2]); p <- as.integer(args[3])
suppressMessages(library(glmnet))
X <- matrix(readBin(file.path(dir, "X.f64"), "double", n * p, endian = "little"), n, p, byrow = TRUE)
y <- readBin(file.path(dir, "y.f64"), "double", n, endian = "little")
foldid <- rep(1:5, times = c(rep(n %/% 5 + 1, n %% 5), rep(n %/% 5, 5 - n %% 5)))
lambda <- 10^seq(0, -3, length.out = 4)
t0 <- Sys.time()
best <- c(Inf, NA, NA)
for (a in c(0.1, 0.5, 0.9)) {
  cv <- cv.glmnet(X, y, alpha = a, lambda = lambda, foldid = foldid, standardize = FALSE)
  i <- which.min(cv$cvm)
  if (cv$cvm[i] < best[1]) best <- c(cv$cvm[i], cv$lambda[i], a)
}
wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
cat(sprintf("peer cv.glmnet wall %.3f s best alpha=%g l1_ratio=%g\n", wall, best[2], best[3]))
