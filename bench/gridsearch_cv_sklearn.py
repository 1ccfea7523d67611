"""The path-and-Gram peers of tide's shared-work searches, on the data the
main example searched (X.npy, y.npy in DIR): scikit-learn's ElasticNetCV
and RidgeCV given the same grid and folds (KFold(5), no shuffle), as one
line each: wall seconds, best parameters.

  /usr/bin/python3 bench/gridsearch_cv_sklearn.py DIR [jobs]
"""
import sys
import time

import numpy as np
from sklearn.linear_model import ElasticNetCV, RidgeCV
from sklearn.model_selection import KFold

d = sys.argv[1]
jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
X, y = np.load(d + "/X.npy"), np.load(d + "/y.npy")
t = time.perf_counter()
m = ElasticNetCV(l1_ratio=[0.1, 0.5, 0.9], alphas=np.logspace(-3, 0, 4), cv=KFold(5),
                 n_jobs=jobs).fit(X, y)
print("peer ElasticNetCV(n_jobs=%d) wall %.3f s best alpha=%g l1_ratio=%g"
      % (jobs, time.perf_counter() - t, m.alpha_, m.l1_ratio_), flush=True)
t = time.perf_counter()
m = RidgeCV(alphas=np.logspace(-3, 3, 7), cv=KFold(5)).fit(X, y)
print("peer RidgeCV(cv=KFold(5)) wall %.3f s best alpha=%g" % (time.perf_counter() - t, m.alpha_),
      flush=True)
t = time.perf_counter()
m = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(X, y)
print("peer RidgeCV(leave-one-out) wall %.3f s best alpha=%g" % (time.perf_counter() - t, m.alpha_),
      flush=True)
