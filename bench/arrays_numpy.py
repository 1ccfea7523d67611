#!/usr/bin/env python3
"""numpy's side of bench/arrays.lua: the same operations and GB/s definition."""
import json, sys, time
import numpy as np

mb = int(sys.argv[1]) if len(sys.argv) > 1 else 800
out = sys.argv[2] if len(sys.argv) > 2 else None
n = int(mb * 1e6 / 8)
rng = np.random.default_rng(1)
a = rng.random(n)
b = rng.random(n)

def best(f, reps=3):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t

nbytes = n * 8
rows = [("sum", nbytes, best(lambda: a.sum())),
        ("add", 2 * nbytes, best(lambda: a + b)),
        ("dot", 2 * nbytes, best(lambda: a.dot(b)))]
with open(out, "a") if out else open("/dev/null", "w") as f:
    for op, nb, t in rows:
        gbs = nb / t / 1e9
        print(f"arrays   numpy {op:<4} {mb} MB f64: {t:7.3f} s  {gbs:6.2f} GB/s")
        f.write(json.dumps({"bench": "arrays", "impl": "numpy", "op": op, "mb": mb,
                            "s": t, "gbs": gbs}) + "\n")
