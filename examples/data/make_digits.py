#!/usr/bin/python3
"""make_digits.py -- scikit-learn's digits (load_digits: 1797 images of 8 x 8
pixels, values 0..16, and their labels 0..9) exported once for
examples/digits.lua: digits_X.npy (1797 x 64, uint8: the values are whole
numbers, so nothing is lost; 115 KB instead of float64's 920 KB) and
digits_y.npy (1797, int64).  Run with Debian's python3-sklearn."""
import os

import numpy as np
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
d = load_digits()
X = d.data
assert X.shape == (1797, 64) and (X == np.round(X)).all() and X.min() >= 0 and X.max() <= 16
np.save(os.path.join(here, "digits_X.npy"), X.astype(np.uint8))
np.save(os.path.join(here, "digits_y.npy"), d.target.astype(np.int64))
print("digits:", X.shape, "labels", np.unique(d.target))
