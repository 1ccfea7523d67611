#!/usr/bin/env python3
"""numpy's and scipy's side of bench/numla.lua: the same work and sizes."""
import json, sys, time
import numpy as np
import scipy.fft, scipy.signal
from scipy.optimize import minimize, rosen, rosen_der

out = sys.argv[1] if len(sys.argv) > 1 else None
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
f = open(out, "a") if out else None


def best(fn, reps=3):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def report(op, size, s, extra="", **more):
    print(f"numla    numpy {op:<22} {size:<10} {s:9.4f} s{extra}")
    if f:
        f.write(json.dumps(dict(bench="numla", impl="numpy", op=op, size=size, s=s, **more)) + "\n")


rng = np.random.default_rng(1)
L = np.linalg
A = rng.normal(size=(N, N))
b = rng.normal(size=N)
S = A.T @ A + np.eye(N) * N
size = f"{N}x{N}"
report("solve", size, best(lambda: L.solve(A, b)))
report("lstsq", size, best(lambda: L.lstsq(A, b, rcond=None)))
report("svd", size, best(lambda: L.svd(A, full_matrices=False), 2))
report("eigh", size, best(lambda: L.eigh(S), 2))
report("cholesky", size, best(lambda: L.cholesky(S)))
del A, S

for n in (1048576, 1000000):
    x = rng.normal(size=n)
    F = scipy.fft.rfft(x)
    report("rfft", str(n), best(lambda: scipy.fft.rfft(x), 7))
    report("irfft", str(n), best(lambda: scipy.fft.irfft(F, n), 7))

x = rng.normal(size=1000000)
k31, k1e4 = rng.normal(size=31), rng.normal(size=10000)
report("convolve direct 31", "1000000", best(lambda: np.convolve(x, k31), 5))
report("convolve auto 31", "1000000", best(lambda: scipy.signal.convolve(x, k31), 5))
report("convolve fft 10000", "1000000", best(lambda: scipy.signal.fftconvolve(x, k1e4), 5))
report("convolve auto 10000", "1000000", best(lambda: scipy.signal.convolve(x, k1e4), 5))

x0 = np.array([((i % 7) - 3) * 0.25 for i in range(100)])
res = {}
t = best(lambda: res.setdefault("r", minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B")), 5)
r = minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B")
report("minimize l-bfgs-b", "100", t, f"  nit {r.nit} nfev {r.nfev} fun {r.fun:.6g}")
if f:
    f.write(json.dumps(dict(bench="numla", impl="numpy", op="minimize l-bfgs-b iters", size="100",
                            nit=int(r.nit), nfev=int(r.nfev), fun=float(r.fun))) + "\n")
x4 = np.array([1.3, 0.7, 0.8, 1.9])
t = best(lambda: minimize(rosen, x4, method="Nelder-Mead"), 5)
r = minimize(rosen, x4, method="Nelder-Mead")
report("minimize nelder-mead", "4", t, f"  nit {r.nit} nfev {r.nfev} fun {r.fun:.6g}")
if f:
    f.write(json.dumps(dict(bench="numla", impl="numpy", op="minimize nelder-mead iters", size="4",
                            nit=int(r.nit), nfev=int(r.nfev), fun=float(r.fun))) + "\n")
    f.close()
