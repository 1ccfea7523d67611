#!/usr/bin/env python3
"""The peers of bench/csv.lua on the files it wrote: np.loadtxt on the numeric
file (it cannot read text columns) and, when pandas is installed,
pandas.read_csv on both (its C engine; the text column as object strings,
then factorized with sort=True, which is what tide's codes are), best of 3.
usage: csv_peers.py [folder=bench-out] [json-out]"""
import json, os, sys, time
import numpy as np

folder = sys.argv[1] if len(sys.argv) > 1 else "bench-out"
out = sys.argv[2] if len(sys.argv) > 2 else None
numeric, mixed = os.path.join(folder, "csv-numeric.csv"), os.path.join(folder, "csv-mixed.csv")
rows = sum(1 for _ in open(numeric)) - 1


def best(f, reps=3):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


with open(out, "a") if out else open(os.devnull, "w") as fo:
    def report(impl, what, t, note=""):
        print(f"csv      {impl:<6} {what:<8} {rows} x 8 {t:.3f} s{note}")
        fo.write(json.dumps({"bench": "csv", "impl": impl, "what": what, "rows": rows,
                             "s": t}) + "\n")

    t = best(lambda: np.loadtxt(numeric, delimiter=",", skiprows=1))
    report("numpy", "numeric", t, "  (np.loadtxt)")
    try:
        import pandas as pd
    except ImportError:
        print("csv      pandas not installed: no pandas figure")
        sys.exit(0)
    t = best(lambda: pd.read_csv(numeric).to_numpy())
    report("pandas", "numeric", t, "  (read_csv, to_numpy)")

    def coded():
        df = pd.read_csv(mixed)
        codes, levels = pd.factorize(df["c"], sort=True)
        df["c"] = codes + 1
        return df.to_numpy(dtype=np.float64), list(levels)

    t = best(coded)
    report("pandas", "text", t, f"  (read_csv, factorize(sort=True), to_numpy; "
           f"{len(coded()[1])} levels)")
