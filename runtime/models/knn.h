/*
** knn.h -- brute-force k nearest neighbours over core arrays (GEMM tiles).
**
** The training data is never copied: an index is the caller's X, the
** subset of its rows used, a centre (p numbers) and the squared norms of
** the centred training rows (one number per row).  Queries are processed
** in blocks of up to 1024 rows against tiles of 256 training rows, so the
** working memory is a few MB whatever the sizes.  With 4096+ training rows
** and 4+ features, tiles are screened in single precision with a bound on
** its error, and the candidates it keeps are ranked by exact distances
** (falling back to double precision for a block with too many near ties).
**
** Neighbours are ordered by distance, ties by the lower position in the
** training subset; positions are 0-based into the subset.
*/
#ifndef TIDE_KNN_H
#define TIDE_KNN_H

#include "models.h"

/* A KD-tree over the training positions (knn_tree.c): nodes split at the
** median of their widest coordinate down to leaves of at most
** TIDE_KNN_LEAF positions; each node keeps the bounding box of its rows
** (centred coordinates).  It holds positions, never coordinates: the rows
** are read from X. */
#define TIDE_KNN_LEAF 32
typedef struct tide_KnnTree {
  int64_t nnodes;
  const int64_t *perm;  /* the n training positions in tree order */
  const int64_t *node;  /* nnodes x 3: first, end (into perm), first child (-1: a leaf;
                        ** the second child follows it) */
  const double *bound;  /* nnodes x 2p: the box's lower corner, then its upper one */
} tide_KnnTree;

typedef struct tide_KnnIndex {
  const tide_Array *X; /* training data, n x p (not owned) */
  tide_Rows rows;      /* training rows: positions 0 .. rows.n - 1 */
  const double *centre; /* p numbers subtracted from training rows and queries */
  const double *norms;  /* rows.n squared norms of the centred training rows, or NULL:
                        ** the search computes each tile's norms as it reads the rows */
  double xmax2;         /* without norms: the largest of them (tide_knn_centre) */
  const tide_KnnTree *tree; /* NULL: brute force */
} tide_KnnIndex;

/* The number of nodes of a tree over n positions. */
int64_t tide_knn_tree_nodes(int64_t n);
/* Builds the tree of ix (its centre set) into perm (n), node (nnodes x 3)
** and bound (nnodes x 2p), sized by tide_knn_tree_nodes. */
int tide_knn_tree_build(const tide_KnnIndex *ix, int64_t *perm, int64_t *node, double *bound);
/* The k nearest training positions of nq centred queries qc (nq x p) by
** the tree: dist (ascending, euclidean) and pos, nq x k; the same
** neighbours, order and distances as the brute-force search. */
int tide__knn_tree_query(const tide_KnnIndex *ix, const double *qc, int64_t nq, int64_t k,
                         double *dist, int64_t *pos);
/* Exact squared distance of a centred query to training position pos (knn.c). */
double tide__knn_d2(const tide_KnnIndex *ix, const double *qc, int64_t pos);

/* Fills centre[p] and norms[rows->n] for the rows of X (checked by the
** caller with tide_check_xy).  Fails if a squared norm overflows. */
int tide_knn_index(const tide_Array *X, const tide_Rows *rows, double *centre, double *norms);
/* The same pass keeping no norms (8 bytes a training row): centre[p] and
** the largest squared norm, for an index with norms = NULL. */
int tide_knn_centre(const tide_Array *X, const tide_Rows *rows, double *centre, double *xmax2);

/* Called once per block of queries: first is the block's first query
** (position in the query subset), nq its size, dist[nq * k] euclidean
** distances (ascending per query) and pos[nq * k] the neighbours'
** positions in the training subset.  A non-zero return stops the search
** and is returned by tide_knn_search. */
typedef int (*tide_KnnVisit)(void *ud, int64_t first, int64_t nq, int64_t k,
                             const double *dist, const int64_t *pos);

/* The k nearest training rows of each query row (Q: 2-D, same columns as
** X; rows already checked).  1 <= k <= ix->rows.n. */
int tide_knn_search(const tide_KnnIndex *ix, const tide_Array *Q, const tide_Rows *qrows,
                    int64_t k, tide_KnnVisit visit, void *ud);

/* dist and idx (nq x k, row-major): distances and 0-based row numbers of X. */
int tide_knn_kneighbors(const tide_KnnIndex *ix, const tide_Array *Q, const tide_Rows *qrows,
                        int64_t k, double *dist, int64_t *idx);

/* Mean of y over the neighbours (weighted = 0) or inverse-distance
** weighted mean, where neighbours at distance 0, if any, alone count
** (scikit-learn's rule).  y is indexed like X (n entries). */
int tide_knn_regress(const tide_KnnIndex *ix, const tide_Array *y, const tide_Array *Q,
                     const tide_Rows *qrows, int64_t k, int weighted, double *out);

/* The sorted distinct labels of y over rows: *classes is malloc'd (free it). */
int tide_knn_classes(const tide_Array *y, const tide_Rows *rows, double **classes,
                     int64_t *nclass);

/* Votes (counts or inverse-distance weights) per class; pred[k] is the
** class with most votes, the lowest label among ties; proba (nq x nclass,
** may be NULL) the normalized votes. */
int tide_knn_classify(const tide_KnnIndex *ix, const tide_Array *y, const double *classes,
                      int64_t nclass, const tide_Array *Q, const tide_Rows *qrows, int64_t k,
                      int weighted, double *pred, double *proba);

/* Predictions from neighbour lists found for a larger k: dist and row
** (nq x kk, row-major, as tide_knn_kneighbors gives them: rows of y,
** counted from base) of which the first k count (the k nearest: ties are
** already in order).  classes NULL: regression into pred; else votes as
** tide_knn_classify.  The same numbers as a search at k. */
int tide_knn_reduce(const tide_Array *y, const double *dist, const int64_t *row, int64_t base,
                    int64_t nq, int64_t kk, int64_t k, int weighted, const double *classes,
                    int64_t nclass, double *pred, double *proba);

#endif
