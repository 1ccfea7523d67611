/*
** tree.h -- decision trees over core arrays, the kernels of the tree and
** forest models (lua/tide/models_tree.lua).
**
** A fit grows one tree depth first, as scikit-learn's splitter="best":
** at each node it visits max_features features drawn at random (more when
** the drawn ones are constant in the node), and takes the split with the
** largest impurity decrease among all thresholds between two consecutive
** distinct values; thresholds are their midpoints.  The search goes
** through histograms over binned values (each feature's values cut into
** at most 256 bins once per fit, tide_tree_bins): the boundaries between
** bins are evaluated from the histogram, and the bins that could hold a
** better split (an upper bound of the criterion over a bin, from its
** weight and its range of targets or classes) are sorted and scanned, so
** the split found is the exact one at a fraction of a full sort's cost.
** With exact = 0, only bin boundaries are candidates (a histogram tree,
** LightGBM's approach).  Small nodes are sorted directly.
**
** A fitted tree is an array of 16-byte nodes (children of a node are
** adjacent: right = left + 1, always after their parent), plus for
** classifiers one row of class fractions per leaf: a few blocks, no
** pointers, so a fitted tree crosses processes as it is.
*/
#ifndef TIDE_TREE_H
#define TIDE_TREE_H

#include "models.h"

enum { TIDE_TREE_SQUARED_ERROR = 0, TIDE_TREE_GINI = 1, TIDE_TREE_ENTROPY = 2 };

#define TIDE_TREE_MAX_BINS 256

typedef struct tide_TreeNode {
  int32_t feature; /* 0-based split feature; -1 marks a leaf */
  int32_t left;    /* internal node: its left child (the right one is left + 1);
                      classifier leaf: its row of class fractions */
  double value;    /* internal node: threshold (x <= value goes left);
                      regressor leaf: the prediction */
} tide_TreeNode;

/* Bins of the rows of X used by a fit: codes (p x rows->n, column-major,
** one byte per value) with every value of bin b of a feature below every
** value of its bin b + 1.  At most max_bins (2..256) bins per feature, cut
** at quantiles of the distinct values among up to 65536 evenly spaced rows;
** a feature with fewer distinct values there has one bin per value.  X:
** 2-D, rows checked. */
int tide_tree_bins(const tide_Array *X, const tide_Rows *rows, int max_bins, uint8_t *codes);

typedef struct tide_TreeOpts {
  int criterion;              /* TIDE_TREE_* */
  int64_t nclass;             /* classifiers: the number of classes; 0: a regressor */
  const double *classes;      /* classifiers: the sorted labels (y holds labels) */
  int64_t max_depth;          /* 0: no limit */
  int64_t min_samples_split;  /* >= 2 */
  int64_t min_samples_leaf;   /* >= 1 */
  int64_t max_features;       /* 1 .. p */
  double min_impurity_decrease;
  int exact;                  /* 1: every threshold; 0: bin boundaries only */
  int count_rows;             /* 1: min_samples_* count distinct rows of a bootstrap
                                 sample (scikit-learn's forests); 0: repeats count */
  uint64_t seed, stream;      /* the tree's random stream: tide_rng(seed, stream) */
  int64_t n_draw;             /* > 0: a bootstrap sample of n_draw rows drawn first */
} tide_TreeOpts;

typedef struct tide_Tree {
  tide_TreeNode *nodes;
  int64_t n_nodes, n_leaves, depth;
  double *values;      /* classifiers: n_leaves x nclass fractions; else NULL */
  double *importances; /* p impurity decreases, normalized to sum 1 (all 0 for one leaf) */
} tide_Tree;

/* Grows a tree on the rows of X (2-D, n x p, finite) and y (n entries:
** targets, or labels found in o->classes), codes from tide_tree_bins on
** the same rows.  t is zeroed first; free it with tide_tree_free. */
int tide_tree_fit(const tide_Array *X, const tide_Array *y, const tide_Rows *rows,
                  const uint8_t *codes, const tide_TreeOpts *o, tide_Tree *t);
void tide_tree_free(tide_Tree *t);

/* The bootstrap counts of a tree: n_draw draws with replacement from
** positions 0..n-1 of tide_rng(seed, stream), the first numbers that
** stream gives (tide_tree_fit draws them the same way). */
int tide_tree_bootstrap(uint64_t seed, uint64_t stream, int64_t n, int64_t n_draw,
                        uint32_t *counts);

/* A fitted tree as read by prediction (nodes are checked on the way:
** a node array that does not describe a tree is an error, never a wild read). */
typedef struct tide_TreeView {
  const tide_TreeNode *nodes;
  int64_t n_nodes;
  const double *values; /* classifiers */
  int64_t n_leaves;
} tide_TreeView;

/* The mean over the trees of their predictions for the rows of X: out[n]
** for regressors (nclass 0), out[n x nclass] class fractions otherwise. */
int tide_forest_predict(const tide_TreeView *trees, int64_t ntrees, int64_t nclass,
                        const tide_Array *X, const tide_Rows *rows, double *out);

/* Out-of-bag sums: for each tree t (bootstrap stream streams[t] of seed),
** its predictions for the positions of rows it did not draw are added to
** sum (n, or n x nclass) and count (n) is incremented. */
int tide_forest_oob(const tide_TreeView *trees, int64_t ntrees, int64_t nclass,
                    uint64_t seed, const uint64_t *streams, int64_t n_draw,
                    const tide_Array *X, const tide_Rows *rows, double *sum, int64_t *count);

#endif
