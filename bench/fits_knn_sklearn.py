#!/usr/bin/env python3
"""scikit-learn's side of bench/fits_knn.lua: k-NN regression (k = 5) of
10,000 Friedman #1 queries against 100,000 training rows x 10 and x 50,
with algorithm="brute" and the default ("auto"), on one BLAS / OpenMP
thread, with the held-out R^2 beside the time.  With KNN_BENCH_DATA=dir
it reads the data bench/fits_knn.lua saved there (same data, same R^2).  Usage:
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 fits_knn_sklearn.py [out.jsonl]"""
import json, os, sys, time

for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(v, "1")  # before numpy loads BLAS

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else None
NTRAIN, NTEST, K = 100_000, 10_000, 5


def friedman1(n, p, rng):
    X = rng.random((n, p))
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
         + 5 * X[:, 4] + rng.standard_normal(n))
    return X, y


def main():
    import sklearn
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.metrics import r2_score
    rows = []
    for p in (10, 50):
        data = os.environ.get("KNN_BENCH_DATA")
        if data and os.path.exists(f"{data}/X{p}.npy"):
            X, y = np.load(f"{data}/X{p}.npy"), np.load(f"{data}/y{p}.npy")
        else:
            X, y = friedman1(NTRAIN + NTEST, p, np.random.default_rng(42))
        Xtr, ytr, Xte, yte = X[:NTRAIN], y[:NTRAIN], X[NTRAIN:], y[NTRAIN:]
        for algo in ("brute", "auto"):
            m = KNeighborsRegressor(n_neighbors=K, algorithm=algo).fit(Xtr, ytr)
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                yhat = m.predict(Xte)
                best = min(best, time.perf_counter() - t0)
            r2 = r2_score(yte, yhat)
            name = f"knn {algo} x{p}"
            print(f"fits     sklearn {name:<15} {best:7.3f} s  R2 {r2:.4f}")
            rows.append({"bench": "fits", "impl": "sklearn " + sklearn.__version__, "what": name,
                         "value": best, "unit": "s", "r2": r2})
    if out:
        with open(out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
