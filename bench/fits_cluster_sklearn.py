#!/usr/bin/python3
"""scikit-learn's side of bench/fits_cluster.lua: KMeans(n_clusters=8,
n_init=10) of 1,000,000 x 10 blobs, PCA of 1,000,000 x 50 (all components:
the full SVD; 10 components: scikit-learn's default solver for it, the
randomized one, and the full SVD), one fit each, on 2 threads (OpenMP and
BLAS).  With TIDE_FITS_DATA=<dir> (run fits_cluster.lua first) it fits the
data tide saved there and compares: inertia within 0.1%, explained
variances equal to 1e-8.
usage: /usr/bin/python3 bench/fits_cluster_sklearn.py [json-out]"""
import json
import os
import sys
import time

for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[v] = "2"  # before numpy loads BLAS

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

N = int(os.environ.get("CLUSTER_BENCH_ROWS", 1000000))  # smaller: a quick check
R = "%dM" % (N // 1000000) if N % 1000000 == 0 else "%dk" % (N // 1000)
out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
share = os.environ.get("TIDE_FITS_DATA")


def record(name, secs, what, value, note=""):
    print("cluster  sklearn %-26s %7.3f s  %s %.10g%s" % (name, secs, what, value, note))
    if out:
        out.write(json.dumps({"bench": "cluster", "impl": "sklearn " + sklearn.__version__,
                              "what": name, "value": secs, "unit": "s", what: value}) + "\n")


def load(name):
    path = "%s/%s.npy" % (share, name) if share else None
    return np.load(path) if path and os.path.exists(path) else None


X = load("blobs_X")
if X is None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 10)) + rng.integers(0, 8, N)[:, None] * 2.0
t0 = time.perf_counter()
m = KMeans(n_clusters=8, n_init=10, random_state=0).fit(X)
secs = time.perf_counter() - t0
ti = load("kmeans_inertia")
note = ""
if ti is not None:
    rel = (ti[0] - m.inertia_) / m.inertia_
    note = "  tide's inertia %+.2e relative (%s)" % (rel, "equal within 0.1%" if abs(rel) <= 1e-3
                                                      else "lower" if rel < 0 else "HIGHER")
record("kmeans %s x 10 k8 n_init10" % R, secs, "inertia", m.inertia_, note)
del X, m

P = load("pca_X")
if P is None:
    P = np.random.default_rng(1).standard_normal((N, 50))
t0 = time.perf_counter()
p = PCA().fit(P)
secs = time.perf_counter() - t0
tev = load("pca_ev")
note = ""
if tev is not None:
    d = np.max(np.abs(tev - p.explained_variance_) / np.abs(p.explained_variance_))
    note = "  tide's explained variance: max relative difference %.1e (%s)" % (
        d, "equal to 1e-8" if d <= 1e-8 else "DIFFERENT")
record("pca %s x 50 all" % R, secs, "ev[1]", p.explained_variance_[0], note)
t0 = time.perf_counter()
p = PCA(n_components=10).fit(P)
record("pca %s x 50 10 comps" % R, time.perf_counter() - t0, "evr[1]",
       p.explained_variance_ratio_[0], "  (randomized solver)")
t0 = time.perf_counter()
p = PCA(n_components=10, svd_solver="full").fit(P)
record("pca %s x 50 10 comps full" % R, time.perf_counter() - t0, "evr[1]",
       p.explained_variance_ratio_[0])
if out:
    out.close()
