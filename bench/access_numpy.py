#!/usr/bin/env python3
"""numpy's side of bench/access.lua: scalar indexing from Python in ns per
element (CPU time, best of 5): a list read, v[i] on a 1-D array, X[i, j],
a row view r = X[i] (made and dropped), X[i][j] through it, and writes.
usage: access_numpy.py [n=1000000] [json-out]"""
import json, os, sys, time
import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
out = sys.argv[2] if len(sys.argv) > 2 else None
cols = 8
rows = n // cols
rng = np.random.default_rng(1)
v = rng.random(n)
X = rng.random((rows, cols))
t = v.tolist()


def best(f):
    b = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        f()
        b = min(b, time.process_time() - t0)
    return b / n * 1e9


def list_read():
    s = 0.0
    for i in range(n):
        s += t[i]


def vec_read():
    s = 0.0
    for i in range(n):
        s += v[i]


def get():
    s = 0.0
    for i in range(rows):
        for j in range(cols):
            s += X[i, j]


def row_view():
    for _ in range(cols):
        for i in range(rows):
            r = X[i]


def row_elem():
    s = 0.0
    for i in range(rows):
        r = X[i]
        for j in range(cols):
            s += r[j]


def vec_write():
    for i in range(n):
        v[i] = i


def set_():
    for i in range(rows):
        for j in range(cols):
            X[i, j] = j


cases = [("list t[i]", list_read), ("1-D v[i]", vec_read), ("X[i, j]", get),
         ("row view X[i]", row_view), ("X[i][j]", row_elem), ("v[i] = x", vec_write),
         ("X[i, j] = x", set_)]
with open(out, "a") if out else open(os.devnull, "w") as fo:
    for name, f in cases:
        ns = best(f)
        print(f"access   numpy  {name:<16} {ns:7.1f} ns")
        fo.write(json.dumps({"bench": "access", "impl": "numpy", "what": name, "ns": ns}) + "\n")
