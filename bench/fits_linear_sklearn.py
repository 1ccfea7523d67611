#!/usr/bin/python3
"""scikit-learn's side of bench/fits_linear.lua: LinearRegression, Ridge(alpha=1),
Lasso(alpha=0.01), ElasticNet(alpha=0.01, l1_ratio=0.5) on Friedman #1 data,
800,000 training rows x 10 and x 50, R^2 on 200,000 held-out rows, best of 3
fits.  Run with OPENBLAS_NUM_THREADS=1 (one BLAS thread, like tide's run).
With TIDE_FITS_DATA=<dir> (set for fits_linear.lua too, run first) both fit
the same data, saved there by the Lua side; otherwise numpy draws its own.
usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/fits_linear_sklearn.py [json-out]"""
import json
import os
import sys
import time

import numpy as np
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge

NTRAIN, NTEST = 800000, 200000
out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None


def record(name, secs, r2):
    print("fits     sklearn %-18s %7.3f s  R2 %.4f" % (name, secs, r2))
    if out:
        out.write(json.dumps({"bench": "fits", "impl": "sklearn", "what": name,
                              "value": secs, "unit": "s", "r2": r2}) + "\n")


def friedman(n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, p))
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2
         + 10 * X[:, 3] + 5 * X[:, 4] + rng.normal(size=n))
    return X, y


MODELS = [
    ("linear", lambda: LinearRegression()),
    ("ridge", lambda: Ridge(alpha=1.0)),
    ("lasso", lambda: Lasso(alpha=0.01)),
    ("enet", lambda: ElasticNet(alpha=0.01, l1_ratio=0.5)),
]

for p in (10, 50):
    share = os.environ.get("TIDE_FITS_DATA")
    if share:
        X = np.load("%s/friedman_x%d_X.npy" % (share, p))
        y = np.load("%s/friedman_x%d_y.npy" % (share, p))
    else:
        X, y = friedman(NTRAIN + NTEST, p, 7 + p)
    Xtr, ytr, Xte, yte = X[:NTRAIN].copy(), y[:NTRAIN].copy(), X[NTRAIN:], y[NTRAIN:]
    for name, make in MODELS:
        best = float("inf")
        for _ in range(3):
            m = make()
            t0 = time.perf_counter()
            m.fit(Xtr, ytr)
            best = min(best, time.perf_counter() - t0)
        record("%s x%d" % (name, p), best, m.score(Xte, yte))
if out:
    out.close()
