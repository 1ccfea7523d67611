#!/usr/bin/env python3
"""scikit-learn's side of bench/fits_forest.lua: RandomForestRegressor
(n_estimators=100, n_jobs=2, random_state=0, its defaults otherwise) on
Friedman #1, 200,000 training rows x 10 and 50,000 held-out rows: fit and
predict wall times, held-out R^2, and peak PSS of the process (its threads
share it) sampled every 50 ms.  With FOREST_BENCH_DATA=dir it writes the data
there first (make_friedman1(250000, noise=1.0, random_state=0), the peers'
data) for bench/fits_forest.lua to read.  Usage:
python3 fits_forest_sklearn.py [train rows] [trees] [jobs] [out.jsonl]"""
import json, os, sys, threading, time

for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(v, "1")

import numpy as np


def pss():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class Peak:
    def __init__(self):
        self.peak, self.stop = pss(), False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, pss())
            time.sleep(0.05)

    def done(self):
        self.stop = True
        self.t.join()
        return max(self.peak, pss())


def main():
    ntrain = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    trees = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    out = sys.argv[4] if len(sys.argv) > 4 else None
    import sklearn
    from sklearn.datasets import make_friedman1
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import r2_score
    X, y = make_friedman1(n_samples=ntrain + ntrain // 4, n_features=10, noise=1.0, random_state=0)
    d = os.environ.get("FOREST_BENCH_DATA")
    if d:
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "X.npy"), X)
        np.save(os.path.join(d, "y.npy"), y)
    Xtr, ytr, Xte, yte = X[:ntrain], y[:ntrain], X[ntrain:], y[ntrain:]
    data = X.nbytes + y.nbytes
    base = pss()
    mon = Peak()
    t0 = time.perf_counter()
    m = RandomForestRegressor(n_estimators=trees, n_jobs=jobs, random_state=0).fit(Xtr, ytr)
    t1 = time.perf_counter()
    yhat = m.predict(Xte)
    t2 = time.perf_counter()
    peak = mon.done()
    r2 = r2_score(yte, yhat)
    tree_bytes = sum(e.tree_.__getstate__()["nodes"].nbytes + e.tree_.value.nbytes
                     for e in m.estimators_)
    print(f"forest   sklearn exact        fit {t1 - t0:6.2f} s  predict {t2 - t1:5.2f} s  "
          f"total {t2 - t0:6.2f} s  R2 {r2:.4f}  ({trees} trees, {ntrain} x 10, n_jobs={jobs})")
    print(f"forest   sklearn exact        peak PSS {peak / 1e6:.0f} MB ({base / 1e6:.0f} MB at the "
          f"start, with the data: {data / 1e6:.0f} MB) = {(peak - tree_bytes) / data:.2f} x data + "
          f"trees ({tree_bytes / 1e6:.0f} MB)")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"bench": "forest", "impl": "sklearn " + sklearn.__version__,
                                "what": "exact fit+predict", "value": t2 - t0, "unit": "s",
                                "fit": t1 - t0, "predict": t2 - t1, "r2": r2, "peak_pss": peak,
                                "peak_pss_above": peak - base, "data_bytes": data,
                                "tree_bytes": tree_bytes, "jobs": jobs}) + "\n")


if __name__ == "__main__":
    main()
