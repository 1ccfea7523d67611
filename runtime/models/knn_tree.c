/*
** knn_tree.c -- a KD-tree over the training positions of a k-NN index.
**
** Built once per fit: each node covers a run of perm (positions in the
** training subset), splits at the median of its widest coordinate, and
** keeps its rows' bounding box in centred coordinates, each computed as
** the brute-force search computes them (x - centre, rounded the same
** way).  A query walks the tree nearer child first, with a max-heap of
** its k best (distance, position) pairs; a node is skipped only when its
** box's distance is strictly above the k-th best.  The box's distance sums
** the same rounded squares, in the same order, as the distance of any row
** inside it, each one no larger (rounding is monotone), so it never
** exceeds a row's computed distance: nothing that could enter the k best,
** a tie with a lower position included, is skipped, and the answer is the
** brute-force one.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn.h"

static int64_t ncols(const tide_Array *X) { return X->ndim == 2 ? X->shape[1] : 1; }

int64_t tide_knn_tree_nodes(int64_t n) {
  if (n <= TIDE_KNN_LEAF) return 1;
  return 1 + tide_knn_tree_nodes(n / 2) + tide_knn_tree_nodes(n - n / 2);
}

/* Centred coordinate j of training position pos, as exact_d2 computes it. */
static double coord(const tide_KnnIndex *ix, int64_t pos, int64_t j) {
  const tide_Array *X = ix->X;
  if (X->dtype == TIDE_F64 && !ix->rows.map && (X->ndim == 1 || X->strides[1] == 8))
    return ((const double *)(X->data + tide_rows_at(&ix->rows, pos) * X->strides[0]))[j] -
           ix->centre[j];
  int64_t cs = X->ndim == 2 ? X->strides[1] : 0;
  const unsigned char *row = X->data + tide_rows_at(&ix->rows, pos) * X->strides[0];
  double v = tide_load_f64(X->dtype, row + j * cs);
  if (ix->rows.map) v = tide_colmap_apply(ix->rows.map, j, v);
  return v - ix->centre[j];
}

typedef struct Build {
  const tide_KnnIndex *ix;
  int64_t p, next; /* next free node */
  int64_t *perm, *node;
  double *bound;
  float *xs; /* the coordinates in single precision, rows in perm's order:
             ** they only choose the cuts, read in place as the rows move */
} Build;

static void swap_rows(Build *b, int64_t i, int64_t j) {
  int64_t tp = b->perm[i];
  b->perm[i] = b->perm[j];
  b->perm[j] = tp;
  float *x = b->xs + i * b->p, *y = b->xs + j * b->p;
  for (int64_t d = 0; d < b->p; d++) {
    float t = x[d];
    x[d] = y[d];
    y[d] = t;
  }
}

/* Moves the rows of [first, end) so that the m-th smallest coordinate dim
** is at first + m, smaller ones before it (Hoare's selection). */
static void select_nth(Build *b, int64_t first, int64_t end, int64_t m, int64_t dim) {
  int64_t lo = first, hi = end - 1, p = b->p;
  const float *xs = b->xs;
  m += first;
  while (lo < hi) {
    float pivot = xs[(lo + (hi - lo) / 2) * p + dim];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (xs[i * p + dim] < pivot) i++;
      while (xs[j * p + dim] > pivot) j--;
      if (i <= j) swap_rows(b, i++, j--);
    }
    if (m <= j) hi = j;
    else if (m >= i) lo = i;
    else break;
  }
}

/* Node id over perm[first, end): a split node cuts at the median of the
** coordinate that spreads most over a sample of its rows (any cut is
** correct: the boxes come from the rows) and its box is the union of its
** children's; a leaf's box holds its rows' coordinates, computed as the
** distances compute them. */
static void build(Build *b, int64_t id, int64_t first, int64_t end) {
  int64_t p = b->p, n = end - first;
  double *lo = b->bound + id * 2 * p, *hi = lo + p;
  int64_t *nd = b->node + id * 3;
  nd[0] = first;
  nd[1] = end;
  nd[2] = -1;
  for (int64_t j = 0; j < p; j++) {
    lo[j] = INFINITY;
    hi[j] = -INFINITY;
  }
  if (n <= TIDE_KNN_LEAF) {
    for (int64_t i = first; i < end; i++)
      for (int64_t j = 0; j < p; j++) {
        double v = coord(b->ix, b->perm[i], j);
        if (v < lo[j]) lo[j] = v;
        if (v > hi[j]) hi[j] = v;
      }
    return;
  }
  int64_t step = n / 256 + 1;
  for (int64_t i = first; i < end; i += step)
    for (int64_t j = 0; j < p; j++) {
      double v = b->xs[i * p + j];
      if (v < lo[j]) lo[j] = v;
      if (v > hi[j]) hi[j] = v;
    }
  int64_t dim = 0;
  for (int64_t j = 1; j < p; j++)
    if (hi[j] - lo[j] > hi[dim] - lo[dim]) dim = j;
  select_nth(b, first, end, n / 2, dim);
  int64_t child = b->next;
  b->next += 2;
  nd[2] = child;
  build(b, child, first, first + n / 2);
  build(b, child + 1, first + n / 2, end);
  const double *l0 = b->bound + child * 2 * p, *l1 = b->bound + (child + 1) * 2 * p;
  for (int64_t j = 0; j < p; j++) {
    lo[j] = l0[j] < l1[j] ? l0[j] : l1[j];
    hi[j] = l0[p + j] > l1[p + j] ? l0[p + j] : l1[p + j];
  }
}

int tide_knn_tree_build(const tide_KnnIndex *ix, int64_t *perm, int64_t *node, double *bound) {
  int64_t n = ix->rows.n, p = ncols(ix->X);
  Build b = {ix, p, 1, perm, node, bound, tide__malloc((size_t)(n * p > 0 ? n * p : 1) * sizeof(float))};
  if (!b.xs) return tide__seterr(TIDE_ENOMEM, "out of memory for the neighbour tree");
  for (int64_t i = 0; i < n; i++) {
    perm[i] = i;
    for (int64_t j = 0; j < p; j++) b.xs[i * p + j] = (float)coord(ix, i, j);
  }
  build(&b, 0, 0, n);
  free(b.xs);
  return TIDE_OK;
}

/* ------------------------------------------------------------- queries */

typedef struct Query {
  const tide_KnnIndex *ix;
  const tide_KnnTree *t;
  const double *q;
  int64_t p, k;
  double *hd; /* max-heap of the k best: hd[0] is the worst kept */
  int64_t *hp;
  int fast;   /* X is f64 with unit column stride: rows read in place */
} Query;

/* (a, ia) after (b, ib): further, or as far with a higher position. */
static inline int after(double a, int64_t ia, double b, int64_t ib) {
  return a > b || (a == b && ia > ib);
}

static void sift_down(double *hd, int64_t *hp, int64_t k, double d, int64_t pos) {
  int64_t i = 0;
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, c;
    if (l >= k) break;
    c = (r < k && after(hd[r], hp[r], hd[l], hp[l])) ? r : l;
    if (!after(hd[c], hp[c], d, pos)) break;
    hd[i] = hd[c];
    hp[i] = hp[c];
    i = c;
  }
  hd[i] = d;
  hp[i] = pos;
}

/* The squared distance of the query to node id's box, summed as a row's. */
static double box_d2(const Query *Q, int64_t id) {
  const double *lo = Q->t->bound + id * 2 * Q->p, *hi = lo + Q->p;
  double s = 0;
  for (int64_t j = 0; j < Q->p; j++) {
    double g = Q->q[j] < lo[j] ? lo[j] - Q->q[j] : Q->q[j] > hi[j] ? Q->q[j] - hi[j] : 0;
    s += g * g;
  }
  return s;
}

static void walk(Query *Q, int64_t id, double bd) {
  if (bd > Q->hd[0]) return;
  const int64_t *nd = Q->t->node + id * 3;
  if (nd[2] < 0) {
    const tide_KnnIndex *ix = Q->ix;
    for (int64_t i = nd[0]; i < nd[1]; i++) {
      int64_t pos = Q->t->perm[i];
      double d;
      if (Q->fast) { /* exact_d2's arithmetic, in its order, without the loads' dispatch */
        const double *x = (const double *)(ix->X->data +
                                           tide_rows_at(&ix->rows, pos) * ix->X->strides[0]);
        d = 0;
        for (int64_t j = 0; j < Q->p; j++) {
          double v = Q->q[j] - (x[j] - ix->centre[j]);
          d += v * v;
        }
      } else {
        d = tide__knn_d2(ix, Q->q, pos);
      }
      if (after(Q->hd[0], Q->hp[0], d, pos)) sift_down(Q->hd, Q->hp, Q->k, d, pos);
    }
    return;
  }
  int64_t a = nd[2], b = nd[2] + 1;
  double da = box_d2(Q, a), db = box_d2(Q, b);
  if (db < da) {
    walk(Q, b, db);
    walk(Q, a, da);
  } else {
    walk(Q, a, da);
    walk(Q, b, db);
  }
}

typedef struct Pair {
  double d;
  int64_t pos;
} Pair;

static int pair_cmp(const void *x, const void *y) {
  const Pair *a = x, *b = y;
  if (a->d != b->d) return a->d < b->d ? -1 : 1;
  return (a->pos > b->pos) - (a->pos < b->pos);
}

int tide__knn_tree_query(const tide_KnnIndex *ix, const double *qc, int64_t nq, int64_t k,
                         double *dist, int64_t *pos) {
  int64_t p = ncols(ix->X);
  Pair *pr = tide__malloc((size_t)k * sizeof *pr);
  if (!pr) return tide__seterr(TIDE_ENOMEM, "out of memory for the neighbours");
  for (int64_t i = 0; i < nq; i++) {
    double *hd = dist + i * k;
    int64_t *hp = pos + i * k;
    for (int64_t m = 0; m < k; m++) {
      hd[m] = INFINITY;
      hp[m] = INT64_MAX;
    }
    Query Q = {ix, ix->tree, qc + i * p, p, k, hd, hp,
               ix->X->dtype == TIDE_F64 && (ix->X->ndim == 1 || ix->X->strides[1] == 8) &&
                   !ix->rows.map};
    walk(&Q, 0, box_d2(&Q, 0));
    for (int64_t m = 0; m < k; m++) {
      if (hp[m] == INT64_MAX || !isfinite(hd[m])) {
        free(pr);
        return tide__seterr(TIDE_ERANGE, "distances overflow (values of X or the queries are "
                            "too large)");
      }
      pr[m].d = hd[m];
      pr[m].pos = hp[m];
    }
    qsort(pr, (size_t)k, sizeof *pr, pair_cmp);
    for (int64_t m = 0; m < k; m++) {
      hd[m] = sqrt(pr[m].d);
      hp[m] = pr[m].pos;
    }
  }
  free(pr);
  return TIDE_OK;
}
