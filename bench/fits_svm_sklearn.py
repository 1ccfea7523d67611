#!/usr/bin/env python3
"""scikit-learn's side of bench/fits_svm.lua: GridSearchCV(SVC(), {C: 1, 10,
100; gamma: 1e-4, 1e-3, 1e-2}, cv=KFold(5), n_jobs=2) on load_digits() (the
same numbers as examples/data/digits_*.npy), best of reps; then one fit of
the first training fold and its scoring.
usage: fits_svm_sklearn.py [json-out] [reps=3] [jobs=2]"""
import json, sys, time
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import SVC

out = sys.argv[1] if len(sys.argv) > 1 else None
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
d = load_digits()
X, y = d.data, d.target
grid = {"C": [1.0, 10.0, 100.0], "gamma": [1e-4, 1e-3, 1e-2]}

best, gs = float("inf"), None
for _ in range(reps):
    t0 = time.perf_counter()
    gs = GridSearchCV(SVC(), grid, cv=KFold(5), n_jobs=jobs).fit(X, y)
    best = min(best, time.perf_counter() - t0)
bp = gs.best_params_
print(f"svm      sklearn GridSearchCV(SVC) digits 3x3, 5 folds, n_jobs={jobs}: {best:.3f} s  "
      f"best {{C={bp['C']:g}, gamma={bp['gamma']:g}}} {gs.best_score_:.6f}")

train, test = next(KFold(5).split(X))
tf = tp = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    m = SVC(C=10, gamma=1e-3).fit(X[train], y[train])
    t1 = time.perf_counter()
    m.score(X[test], y[test])
    tf, tp = min(tf, t1 - t0), min(tp, time.perf_counter() - t1)
print(f"svm      sklearn SVC(C=10, gamma=1e-3) fit 1437 rows {tf:.3f} s, score 360 rows {tp:.3f} s")

if out:
    scores = [{"C": p["C"], "gamma": p["gamma"], "mean": float(s)}
              for p, s in zip(gs.cv_results_["params"], gs.cv_results_["mean_test_score"])]
    with open(out, "a") as f:
        f.write(json.dumps({"bench": "svm", "impl": "sklearn", "what": "grid", "s": best,
                            "jobs": jobs, "fit_s": tf, "score_s": tp, "scores": scores}) + "\n")
