#!/usr/bin/env python3
"""scikit-learn's side of bench/fits_logistic.lua: LogisticRegression() with its
defaults on Friedman #1 (y > median), 800,000 training rows x 10 and x 50 (or the
rows and widths given),
accuracy on 200,000 held-out rows, one BLAS thread.
usage: fits_logistic_sklearn.py [n_train=800000] [json-out] [widths=10,50]
(json-out "-": none)"""
import os
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads OpenBLAS
os.environ["OMP_NUM_THREADS"] = "1"
import json, sys, time, warnings
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

warnings.simplefilter("ignore", ConvergenceWarning)
ntr = int(sys.argv[1]) if len(sys.argv) > 1 else 800000
out = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
widths = [int(w) for w in (sys.argv[3] if len(sys.argv) > 3 else "10,50").split(",")]
n = ntr + ntr // 4


def best(f, reps=3):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


with open(out, "a") if out else open(os.devnull, "w") as fo:
    for p in widths:
        X, y = make_friedman1(n_samples=n, n_features=p, noise=1.0, random_state=p)
        lab = (y > np.median(y)).astype(np.int64)
        Xtr, ytr, Xte, yte = X[:ntr], lab[:ntr], X[ntr:], lab[ntr:]
        box = {}
        t = best(lambda: box.update(m=LogisticRegression().fit(Xtr, ytr)))
        m = box["m"]
        acc = m.score(Xte, yte)
        print(f"fits     sklearn logistic x{p}  {t:.3f} s  acc {acc:.4f}  "
              f"(lbfgs, {m.n_iter_[0]} iterations)")
        fo.write(json.dumps({"bench": "fits", "impl": "sklearn", "model": "logistic", "p": p,
                             "s": t, "accuracy": acc}) + "\n")
