/*
** knn.c -- brute-force k nearest neighbours: squared distances by GEMM
** tiles (||x||^2 - 2 q.x; ||q||^2 is the same for every candidate of a
** query, so it is left out of the ranking), a bounded max-heap per query,
** exact distances recomputed for the k kept, regression and votes.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "knn.h"

#define QBLOCK 1024      /* queries per block */
#define TBLOCK 256       /* training rows per distance tile */
#define HEAP_CAP (1 << 20) /* entries of a heap block or a row buffer */

/* A "round" centre: the mean with 8 significant bits.  Centring protects
** the ||x||^2 - 2 q.x form from cancellation when columns sit far from 0;
** rounding the centre keeps small-integer data exact after centring, so
** equal distances stay equal and ties go to the lower row. */
static double round_centre(double m) {
  if (m == 0 || !isfinite(m)) return 0;
  int e;
  frexp(m, &e);
  return ldexp(nearbyint(ldexp(m, 8 - e)), e - 8);
}

static int64_t ncols(const tide_Array *X) { return X->ndim == 2 ? X->shape[1] : 1; }

int tide_knn_index(const tide_Array *X, const tide_Rows *rows, double *centre, double *norms) {
  int64_t p = ncols(X);
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  for (int64_t j = 0; j < p; j++) centre[j] = 0;
  while (tide_rowblocks_next(&it))
    for (int64_t i = 0; i < it.nb; i++)
      for (int64_t j = 0; j < p; j++) centre[j] += it.buf[i * p + j];
  for (int64_t j = 0; j < p; j++) centre[j] = round_centre(centre[j] / (double)rows->n);
  tide_rowblocks_free(&it);
  if ((rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK))) return rc;
  while (tide_rowblocks_next(&it)) {
    for (int64_t i = 0; i < it.nb; i++) {
      const double *r = it.buf + i * p;
      double s = 0;
      for (int64_t j = 0; j < p; j++) s += (r[j] - centre[j]) * (r[j] - centre[j]);
      if (!isfinite(s)) {
        tide_rowblocks_free(&it);
        return tide__seterr(TIDE_ERANGE, "X row %" PRId64 " is too large for squared distances",
                            tide_rows_at(rows, it.first + i) + 1);
      }
      norms[it.first + i] = s;
    }
  }
  tide_rowblocks_free(&it);
  return TIDE_OK;
}

/* (a, ia) > (b, ib) in the order distance, then position. */
static inline int after(double a, int64_t ia, double b, int64_t ib) {
  return a > b || (a == b && ia > ib);
}

/* Replaces the root (the worst kept) by (d, pos) and sifts it down. */
static void heap_replace(double *hd, int64_t *hp, int64_t k, double d, int64_t pos) {
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

/* 1 when some of the 8 values at t is below thr.  Most candidates are
** rejected, so this test is the hot loop of a search. */
#if defined(__SSE2__)
static inline int any_below8(const double *t, double thr) {
  __m128d m = _mm_min_pd(_mm_min_pd(_mm_loadu_pd(t), _mm_loadu_pd(t + 2)),
                         _mm_min_pd(_mm_loadu_pd(t + 4), _mm_loadu_pd(t + 6)));
  return _mm_movemask_pd(_mm_cmplt_pd(m, _mm_set1_pd(thr))) != 0;
}
#else
static inline int any_below8(const double *t, double thr) {
  int any = 0;
  for (int u = 0; u < 8; u++) any |= t[u] < thr;
  return any;
}
#endif

/* One query's row of a tile: t[j] = ||x_j||^2 - 2 q.x_j for training
** positions base + j.  Positions only grow during a search, so an exact tie
** with the root never displaces it (the lower position stays). */
static void scan(const double *t, int64_t nb, double *hd, int64_t *hp, int64_t k,
                 int64_t base) {
  double thr = hd[0];
  int64_t j = 0;
  for (; j + 8 <= nb; j += 8) {
    if (!any_below8(t + j, thr)) continue;
    for (int u = 0; u < 8; u++) {
      if (t[j + u] < thr) {
        heap_replace(hd, hp, k, t[j + u], base + j + u);
        thr = hd[0];
      }
    }
  }
  for (; j < nb; j++) {
    if (t[j] < thr) {
      heap_replace(hd, hp, k, t[j], base + j);
      thr = hd[0];
    }
  }
}

typedef struct Cand {
  double d;
  int64_t pos;
} Cand;

static int cand_cmp(const void *a, const void *b) {
  const Cand *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Exact squared distances of the kept neighbours (the GEMM form loses
** digits for near points: a duplicate of a training row gets exactly 0),
** then the final order: distance, then position. */
static int finish(const tide_KnnIndex *ix, const double *qc, int64_t p, int64_t k, double *hd,
                  int64_t *hp, Cand *cs) {
  const tide_Array *X = ix->X;
  int64_t cs1 = X->ndim == 2 ? X->strides[1] : 0;
  for (int64_t m = 0; m < k; m++) {
    if (hp[m] == INT64_MAX)
      return tide__seterr(TIDE_ERANGE, "distances overflow (values of X or the queries are too "
                          "large)");
    const unsigned char *row = X->data + tide_rows_at(&ix->rows, hp[m]) * X->strides[0];
    double s = 0;
    for (int64_t j = 0; j < p; j++) {
      double x = tide_load_f64(X->dtype, row + j * cs1) - ix->centre[j], d = qc[j] - x;
      s += d * d;
    }
    cs[m].d = s;
    cs[m].pos = hp[m];
  }
  if (k <= 32) { /* insertion sort: k is usually small */
    for (int64_t a = 1; a < k; a++) {
      Cand c = cs[a];
      int64_t b = a;
      while (b > 0 && cand_cmp(&cs[b - 1], &c) > 0) {
        cs[b] = cs[b - 1];
        b--;
      }
      cs[b] = c;
    }
  } else {
    qsort(cs, (size_t)k, sizeof *cs, cand_cmp);
  }
  for (int64_t m = 0; m < k; m++) {
    hd[m] = sqrt(cs[m].d);
    hp[m] = cs[m].pos;
  }
  return TIDE_OK;
}

/* Centres a block into dst (which may be src). */
static void centre_rows(const double *src, double *dst, int64_t nb, int64_t p,
                        const double *c) {
  for (int64_t i = 0; i < nb; i++)
    for (int64_t j = 0; j < p; j++) dst[i * p + j] = src[i * p + j] - c[j];
}

int tide_knn_search(const tide_KnnIndex *ix, const tide_Array *Q, const tide_Rows *qrows,
                    int64_t k, tide_KnnVisit visit, void *ud) {
  int64_t n = ix->rows.n, p = ncols(ix->X);
  if (ncols(Q) != p)
    return tide__seterr(TIDE_ESHAPE, "queries have %" PRId64 " features, the data %" PRId64,
                        ncols(Q), p);
  if (k < 1 || k > n)
    return tide__seterr(TIDE_EINVAL, "k = %" PRId64 " must be between 1 and the %" PRId64
                        " training rows", k, n);
  if (qrows->n == 0) return TIDE_OK;
  int64_t pp = p ? p : 1;
  if (pp > INT32_MAX / TBLOCK) return tide__seterr(TIDE_ERANGE, "too many features for BLAS");
  /* blocks shrink for large k or many features: the buffers stay at a
  ** few MB (heaps qb x k, queries qb x p, training tile tb x p) */
  int64_t qb = QBLOCK, tb = TBLOCK;
  while (qb > 1 && (qb * k > HEAP_CAP || qb * pp > HEAP_CAP)) qb /= 2;
  while (tb > 8 && tb * pp > HEAP_CAP) tb /= 2;
  double *qc = malloc((size_t)(qb * pp) * sizeof *qc);
  double *tc = malloc((size_t)(tb * pp) * sizeof *tc);
  double *tile = malloc((size_t)(qb * tb) * sizeof *tile);
  double *hd = malloc((size_t)(qb * k) * sizeof *hd);
  int64_t *hp = malloc((size_t)(qb * k) * sizeof *hp);
  Cand *cs = malloc((size_t)k * sizeof *cs);
  tide_RowBlocks qit, tit;
  int rc = (!qc || !tc || !tile || !hd || !hp || !cs)
               ? tide__seterr(TIDE_ENOMEM, "out of memory for the neighbour search")
               : tide_rowblocks_init(&qit, Q, qrows, qb);
  if (rc) goto done;
  while (!rc && tide_rowblocks_next(&qit)) {
    int64_t nq = qit.nb;
    centre_rows(qit.buf, qc, nq, p, ix->centre);
    for (int64_t m = 0; m < nq * k; m++) {
      hd[m] = INFINITY;
      hp[m] = INT64_MAX;
    }
    if ((rc = tide_rowblocks_init(&tit, ix->X, &ix->rows, tb))) break;
    while (tide_rowblocks_next(&tit)) {
      int64_t nb = tit.nb;
      /* a gathered block is ours to centre in place; a direct one is X */
      double *t = tit.direct ? tc : tit.buf;
      centre_rows(tit.buf, t, nb, p, ix->centre);
      /* each tile row starts as the norms and GEMM adds -2 q.x (beta = 1:
      ** the same stores as OpenBLAS's zeroing for beta = 0, one add less) */
      for (int64_t i = 0; i < nq; i++)
        memcpy(tile + i * nb, ix->norms + tit.first, (size_t)nb * sizeof *tile);
      if (p > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)p, -2.0, qc,
                    (int)p, t, (int)p, 1.0, tile, (int)nb);
      for (int64_t i = 0; i < nq; i++) scan(tile + i * nb, nb, hd + i * k, hp + i * k, k, tit.first);
    }
    tide_rowblocks_free(&tit);
    for (int64_t i = 0; i < nq && !rc; i++)
      rc = finish(ix, qc + i * p, p, k, hd + i * k, hp + i * k, cs);
    if (!rc) rc = visit(ud, qit.first, nq, k, hd, hp);
  }
  tide_rowblocks_free(&qit);
done:
  free(qc);
  free(tc);
  free(tile);
  free(hd);
  free(hp);
  free(cs);
  return rc;
}

/* ------------------------------------------------------------ users */

typedef struct KnnOut {
  const tide_KnnIndex *ix;
  const tide_Array *y;
  const double *classes;
  int64_t nclass;
  int weighted;
  double *dist, *pred, *proba, *votes;
  int64_t *idx;
} KnnOut;

static int visit_kneighbors(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                            const int64_t *pos) {
  KnnOut *o = ud;
  memcpy(o->dist + first * k, dist, (size_t)(nq * k) * sizeof *dist);
  for (int64_t m = 0; m < nq * k; m++) o->idx[first * k + m] = tide_rows_at(&o->ix->rows, pos[m]);
  return TIDE_OK;
}

int tide_knn_kneighbors(const tide_KnnIndex *ix, const tide_Array *Q, const tide_Rows *qrows,
                        int64_t k, double *dist, int64_t *idx) {
  KnnOut o = {.ix = ix, .dist = dist, .idx = idx};
  return tide_knn_search(ix, Q, qrows, k, visit_kneighbors, &o);
}

static double y_at(const KnnOut *o, int64_t pos) {
  const tide_Array *y = o->y;
  return tide_load_f64(y->dtype, y->data + tide_rows_at(&o->ix->rows, pos) * y->strides[0]);
}

/* scikit-learn's weights: 1 / d, or, when some neighbour is at distance 0,
** 1 for those and 0 for the others.  Returns 1 in the second case. */
static int zero_rule(const double *dist, int64_t k) {
  for (int64_t m = 0; m < k; m++)
    if (dist[m] == 0) return 1;
  return 0;
}

static int visit_regress(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                         const int64_t *pos) {
  KnnOut *o = ud;
  for (int64_t i = 0; i < nq; i++) {
    const double *d = dist + i * k;
    const int64_t *ps = pos + i * k;
    double num = 0, den = 0;
    if (!o->weighted) {
      for (int64_t m = 0; m < k; m++) num += y_at(o, ps[m]);
      den = (double)k;
    } else {
      int zero = zero_rule(d, k);
      for (int64_t m = 0; m < k; m++) {
        double w = zero ? (d[m] == 0) : 1.0 / d[m];
        num += w * y_at(o, ps[m]);
        den += w;
      }
    }
    o->pred[first + i] = num / den;
  }
  return TIDE_OK;
}

int tide_knn_regress(const tide_KnnIndex *ix, const tide_Array *y, const tide_Array *Q,
                     const tide_Rows *qrows, int64_t k, int weighted, double *out) {
  KnnOut o = {.ix = ix, .y = y, .weighted = weighted, .pred = out};
  return tide_knn_search(ix, Q, qrows, k, visit_regress, &o);
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Index of v in the sorted classes, -1 when absent. */
static int64_t find_class(const double *c, int64_t n, double v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (c[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && c[lo] == v ? lo : -1;
}

int tide_knn_classes(const tide_Array *y, const tide_Rows *rows, double **classes,
                     int64_t *nclass) {
  /* a small sorted set while the labels are few (memory O(classes)); a
  ** sort of all labels once there are many (then the classes are O(n)) */
  int64_t cap = 64, nc = 0;
  double *c = malloc((size_t)cap * sizeof *c);
  if (!c) return tide__seterr(TIDE_ENOMEM, "out of memory for the classes");
  for (int64_t i = 0; i < rows->n; i++) {
    double v = tide_load_f64(y->dtype, y->data + tide_rows_at(rows, i) * y->strides[0]);
    int64_t lo = 0, hi = nc;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (c[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo < nc && c[lo] == v) continue;
    if (nc >= 1024) { /* many labels: sort them all */
      free(c);
      c = malloc((size_t)(rows->n ? rows->n : 1) * sizeof *c);
      if (!c) return tide__seterr(TIDE_ENOMEM, "out of memory for the classes");
      for (int64_t m = 0; m < rows->n; m++)
        c[m] = tide_load_f64(y->dtype, y->data + tide_rows_at(rows, m) * y->strides[0]);
      qsort(c, (size_t)rows->n, sizeof *c, dbl_cmp);
      nc = 0;
      for (int64_t m = 0; m < rows->n; m++)
        if (nc == 0 || c[nc - 1] != c[m]) c[nc++] = c[m];
      break;
    }
    if (nc == cap) {
      double *g = realloc(c, (size_t)(cap * 2) * sizeof *c);
      if (!g) {
        free(c);
        return tide__seterr(TIDE_ENOMEM, "out of memory for the classes");
      }
      c = g;
      cap *= 2;
    }
    memmove(c + lo + 1, c + lo, (size_t)(nc - lo) * sizeof *c);
    c[lo] = v;
    nc++;
  }
  *classes = c;
  *nclass = nc;
  return TIDE_OK;
}

static int visit_classify(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                          const int64_t *pos) {
  KnnOut *o = ud;
  double *v = o->votes;
  for (int64_t i = 0; i < nq; i++) {
    const double *d = dist + i * k;
    const int64_t *ps = pos + i * k;
    for (int64_t c = 0; c < o->nclass; c++) v[c] = 0;
    int zero = o->weighted && zero_rule(d, k);
    double tot = 0;
    for (int64_t m = 0; m < k; m++) {
      int64_t c = find_class(o->classes, o->nclass, y_at(o, ps[m]));
      if (c < 0)
        return tide__seterr(TIDE_EINVAL, "y changed after fit: label %g is not a class",
                            y_at(o, ps[m]));
      double w = !o->weighted ? 1.0 : zero ? (d[m] == 0) : 1.0 / d[m];
      v[c] += w;
      tot += w;
    }
    int64_t best = 0; /* strict > keeps the lowest label among ties */
    for (int64_t c = 1; c < o->nclass; c++)
      if (v[c] > v[best]) best = c;
    o->pred[first + i] = o->classes[best];
    if (o->proba) {
      double *pr = o->proba + (first + i) * o->nclass;
      if (tot == 0) tot = 1;
      for (int64_t c = 0; c < o->nclass; c++) pr[c] = v[c] / tot;
    }
  }
  return TIDE_OK;
}

int tide_knn_classify(const tide_KnnIndex *ix, const tide_Array *y, const double *classes,
                      int64_t nclass, const tide_Array *Q, const tide_Rows *qrows, int64_t k,
                      int weighted, double *pred, double *proba) {
  if (nclass < 1) return tide__seterr(TIDE_EINVAL, "no classes");
  double *votes = malloc((size_t)nclass * sizeof *votes);
  if (!votes) return tide__seterr(TIDE_ENOMEM, "out of memory for the votes");
  KnnOut o = {.ix = ix, .y = y, .classes = classes, .nclass = nclass, .weighted = weighted,
              .pred = pred, .proba = proba, .votes = votes};
  int rc = tide_knn_search(ix, Q, qrows, k, visit_classify, &o);
  free(votes);
  return rc;
}
