#!/usr/bin/env python3
"""numpy's side of bench/numcore.lua: np.sort (one thread), np.argsort,
np.median, np.quantile(a, 0.9) and np.cumsum of n float64.
usage: numcore_numpy.py [n=1e8] [json-out] [reps=2]"""
import json, sys, time
import numpy as np

n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**8
out = sys.argv[2] if len(sys.argv) > 2 else None
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
a = np.random.default_rng(1).random(n)

def best(f):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        r = f()
        t = min(t, time.perf_counter() - t0)
        del r
    return t

rows = [("sort", best(lambda: np.sort(a))), ("argsort", best(lambda: np.argsort(a))),
        ("median", best(lambda: np.median(a))), ("quantile", best(lambda: np.quantile(a, 0.9))),
        ("cumsum", best(lambda: np.cumsum(a)))]
with open(out, "a") if out else open("/dev/null", "w") as f:
    for op, t in rows:
        print(f"numcore  numpy {op:<15} {n} f64: {t:7.3f} s")
        f.write(json.dumps({"bench": "numcore", "impl": "numpy", "op": op, "n": n, "s": t}) + "\n")
