/*
** test_knn.c -- the k-NN kernels against a plain loop: every distance
** computed directly, ties by the lower position, over sizes that cross
** the query blocks and training tiles, row subsets, f32 and strided data,
** the heap cap for large k, regression, votes, scaler kernels, errors;
** the KD-tree against brute force.
*/
#include <string.h>

#include "check.h"

#include "../../runtime/models/knn.h"
#include "../../runtime/models/scale.h"

static uint64_t seed = 12345;
static double urand(void) { /* xorshift: deterministic data */
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return (double)(seed >> 11) / 9007199254740992.0;
}

static void mk(tide_Array *a, int dt, int64_t n, int64_t p, int ints) {
  int64_t shape[2] = {n, p};
  if (tide_array_new(a, dt, 2, shape, TIDE_WHERE_HEAP)) abort();
  for (int64_t i = 0; i < n * p; i++) {
    double v = ints == 1   ? (double)(int)(urand() * 3)
               : ints == 2 ? 1000 + (double)(int)(urand() * 3) + urand() * 1e-5
                           : urand() * 4 - 2 + 100;
    tide_store_f64(dt, a->data + i * tide_dtype_size(dt), v);
  }
}

static double elem(const tide_Array *a, int64_t i, int64_t j) {
  return tide_load_f64(a->dtype, a->data + i * a->strides[0] + j * a->strides[1]);
}

/* The plain answer: all distances, sorted by (distance, position). */
static void naive(const tide_Array *X, const tide_Rows *tr, const tide_Array *Q, int64_t q,
                  int64_t k, double *dist, int64_t *pos) {
  int64_t n = tr->n, p = X->shape[1];
  double *d = malloc((size_t)n * sizeof *d);
  char *used = calloc((size_t)n, 1);
  for (int64_t t = 0; t < n; t++) {
    double s = 0;
    for (int64_t j = 0; j < p; j++) {
      double e = elem(Q, q, j) - elem(X, tide_rows_at(tr, t), j);
      s += e * e;
    }
    d[t] = s;
  }
  for (int64_t m = 0; m < k; m++) {
    int64_t best = -1;
    for (int64_t t = 0; t < n; t++)
      if (!used[t] && (best < 0 || d[t] < d[best])) best = t;
    used[best] = 1;
    dist[m] = sqrt(d[best]);
    pos[m] = best;
  }
  free(d);
  free(used);
}

typedef struct Seen {
  const tide_Array *X, *Q;
  const tide_Rows *tr, *qr;
  int64_t bad, seen, blocks;
} Seen;

static int visit(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                 const int64_t *pos) {
  Seen *s = ud;
  double *nd = malloc((size_t)k * sizeof *nd);
  int64_t *np_ = malloc((size_t)k * sizeof *np_);
  for (int64_t i = 0; i < nq; i++) {
    naive(s->X, s->tr, s->Q, tide_rows_at(s->qr, first + i), k, nd, np_);
    for (int64_t m = 0; m < k; m++)
      if (np_[m] != pos[i * k + m] || fabs(nd[m] - dist[i * k + m]) > 1e-9 * (1 + nd[m]))
        s->bad++;
  }
  s->seen += nq;
  s->blocks++;
  free(nd);
  free(np_);
  return TIDE_OK;
}

static void run(int dt, int64_t n, int64_t nq, int64_t p, int64_t k, int ints, int subset,
                int transposed) {
  tide_Array X, Q, Xt;
  mk(&X, dt, n, p, ints);
  mk(&Q, dt, nq, p, ints);
  const tide_Array *Xu = &X;
  if (transposed) { /* the same values through a column-major copy */
    int64_t sh[2] = {p, n};
    tide_array_new(&Xt, dt, 2, sh, TIDE_WHERE_HEAP);
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < p; j++)
        tide_store_f64(dt, Xt.data + (j * n + i) * tide_dtype_size(dt), elem(&X, i, j));
    tide_array_transpose(&Xt);
    Xu = &Xt;
  }
  int64_t *idx = NULL;
  tide_Rows tr = tide_rows_all(n);
  if (subset) { /* every third row, backwards, 1-based */
    int64_t m = 0;
    idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = n - 1; i >= 0; i -= 3) idx[m++] = i + 1;
    tr = (tide_Rows){.idx = idx, .n = m, .stride = 1, .base = 1};
  }
  tide_Rows qr = tide_rows_all(nq);
  double *centre = malloc((size_t)p * sizeof *centre), *norms = malloc((size_t)tr.n * 8);
  CHECK_EQ_INT(tide_knn_index(Xu, &tr, centre, norms), TIDE_OK);
  tide_KnnIndex ix = {Xu, tr, centre, norms, 0, NULL};
  Seen s = {Xu, &Q, &tr, &qr, 0, 0, 0};
  if (k > tr.n) k = tr.n;
  CHECK_EQ_INT(tide_knn_search(&ix, &Q, &qr, k, visit, &s), TIDE_OK);
  if (s.bad) /* name the failing case */
    fprintf(stderr, "run n=%d nq=%d p=%d k=%d ints=%d\n", (int)n, (int)nq, (int)p, (int)k, ints);
  CHECK_EQ_INT(s.bad, 0);
  CHECK_EQ_INT(s.seen, nq);
  /* An index without norms (each tile computes its own) finds the same
  ** neighbours at the same distances, to the bit. */
  double *c2 = malloc((size_t)p * sizeof *c2), xmax2 = -1, big = 0;
  CHECK_EQ_INT(tide_knn_centre(Xu, &tr, c2, &xmax2), TIDE_OK);
  for (int64_t i = 0; i < tr.n; i++) big = norms[i] > big ? norms[i] : big;
  CHECK(xmax2 == big && memcmp(c2, centre, (size_t)p * sizeof *c2) == 0);
  tide_KnnIndex lean = {Xu, tr, c2, NULL, xmax2, NULL};
  double *d1 = malloc((size_t)(nq * k) * 8), *d2 = malloc((size_t)(nq * k) * 8);
  int64_t *i1 = malloc((size_t)(nq * k) * 8), *i2 = malloc((size_t)(nq * k) * 8);
  CHECK_EQ_INT(tide_knn_kneighbors(&ix, &Q, &qr, k, d1, i1), TIDE_OK);
  CHECK_EQ_INT(tide_knn_kneighbors(&lean, &Q, &qr, k, d2, i2), TIDE_OK);
  CHECK(memcmp(d1, d2, (size_t)(nq * k) * 8) == 0 && memcmp(i1, i2, (size_t)(nq * k) * 8) == 0);
  free(d1), free(d2), free(i1), free(i2), free(c2);
  free(centre);
  free(norms);
  free(idx);
  tide_array_close(&X);
  tide_array_close(&Q);
  if (transposed) tide_array_close(&Xt);
}

static void test_search(void) {
  run(TIDE_F64, 50, 7, 3, 5, 0, 0, 0);
  run(TIDE_F64, 700, 1100, 4, 7, 0, 0, 0);   /* two query blocks, three tiles */
  run(TIDE_F64, 300, 40, 2, 9, 1, 0, 0);     /* small integers: many exact ties */
  run(TIDE_F64, 900, 30, 2, 40, 1, 1, 0);    /* ties on a reversed subset, k > 32 */
  run(TIDE_F32, 400, 20, 5, 3, 0, 1, 0);
  run(TIDE_F64, 260, 25, 3, 4, 0, 0, 1);     /* column-major X */
  run(TIDE_I32, 100, 10, 2, 100, 1, 0, 0);   /* k = n */
  run(TIDE_F64, 6000, 300, 6, 5, 0, 0, 0);   /* single-precision screening, fused */
  run(TIDE_F64, 13000, 50, 5, 8, 0, 1, 0);   /* the same on a subset */
  run(TIDE_F64, 5000, 140, 40, 3, 0, 0, 0);  /* screening through sgemm */
  run(TIDE_F64, 3000, 9, 2, 2000, 1, 0, 0);  /* large k: fewer queries per block */
  run(TIDE_F64, 300, 150, 5000, 3, 0, 1, 0); /* many features: smaller blocks and tiles */
  /* 4096+ rows and 4+ features: single-precision screening, exact ranking */
  run(TIDE_F64, 5000, 300, 5, 5, 0, 0, 0);
  run(TIDE_F64, 13000, 40, 6, 9, 0, 1, 1);
  run(TIDE_F32, 6000, 50, 4, 3, 0, 0, 0);
  run(TIDE_F64, 5000, 60, 4, 7, 1, 0, 0);   /* integer ties: too many candidates, f64 redo */
  run(TIDE_F64, 8200, 70, 4, 40, 2, 0, 0);  /* near-ties: closer than float resolves, not double */
  run(TIDE_F64, 4100, 20, 4, 1000, 0, 0, 0); /* screening with k close to the rows used */
}

static void test_users(void) {
  /* 1-D line: X = 0..9, y = 10 * x, queries at 2.2 and 7 */
  int64_t sx[2] = {10, 1}, sq[2] = {2, 1}, sy = 10;
  tide_Array X, Q, y;
  tide_array_new(&X, TIDE_F64, 2, sx, TIDE_WHERE_HEAP);
  tide_array_new(&Q, TIDE_F64, 2, sq, TIDE_WHERE_HEAP);
  tide_array_new(&y, TIDE_F64, 1, &sy, TIDE_WHERE_HEAP);
  for (int i = 0; i < 10; i++) {
    ((double *)X.data)[i] = i;
    ((double *)y.data)[i] = i < 5 ? 0 : 1;
  }
  ((double *)Q.data)[0] = 2.2;
  ((double *)Q.data)[1] = 7;
  tide_Rows all = tide_rows_all(10), qa = tide_rows_all(2);
  double centre[1], norms[10], out[2], dist[6];
  int64_t idx[6];
  tide_knn_index(&X, &all, centre, norms);
  tide_KnnIndex ix = {&X, all, centre, norms, 0, NULL};
  CHECK_EQ_INT(tide_knn_kneighbors(&ix, &Q, &qa, 3, dist, idx), TIDE_OK);
  CHECK_EQ_INT(idx[0], 2);
  CHECK_EQ_INT(idx[1], 3);
  CHECK_EQ_INT(idx[2], 1);
  CHECK_NEAR(dist[0], 0.2, 1e-12);
  CHECK_EQ_INT(idx[3], 7); /* 6 and 8 tie at distance 1: 6 first */
  CHECK_EQ_INT(idx[4], 6);
  CHECK_EQ_INT(idx[5], 8);
  CHECK_EQ_INT(tide_knn_regress(&ix, &y, &Q, &qa, 3, 0, out), TIDE_OK);
  CHECK_NEAR(out[0], 0, 0);
  CHECK_NEAR(out[1], 1, 0);
  CHECK_EQ_INT(tide_knn_regress(&ix, &X, &Q, &qa, 4, 1, out), TIDE_OK); /* y = x: 2,3,1,4 */
  CHECK_NEAR(out[0], (2 / 0.2 + 3 / 0.8 + 1 / 1.2 + 4 / 1.8) /
                     (1 / 0.2 + 1 / 0.8 + 1 / 1.2 + 1 / 1.8), 1e-12);
  CHECK_NEAR(out[1], 7, 0); /* distance 0: only row 7 (x = 7) counts */
  double *cl;
  int64_t nc;
  CHECK_EQ_INT(tide_knn_classes(&y, &all, &cl, &nc), TIDE_OK);
  CHECK_EQ_INT(nc, 2);
  double pred[2], proba[4];
  /* k = 2 around 4.5 would tie; at 2.2 and 7: clear */
  CHECK_EQ_INT(tide_knn_classify(&ix, &y, cl, nc, &Q, &qa, 3, 0, pred, proba), TIDE_OK);
  CHECK_NEAR(pred[0], 0, 0);
  CHECK_NEAR(pred[1], 1, 0);
  CHECK_NEAR(proba[0], 1, 0);
  ((double *)Q.data)[0] = 4.5; /* neighbours 4 (class 0) and 5 (class 1): a tie */
  CHECK_EQ_INT(tide_knn_classify(&ix, &y, cl, nc, &Q, &qa, 2, 0, pred, proba), TIDE_OK);
  CHECK_NEAR(pred[0], 0, 0);
  CHECK_NEAR(proba[0], 0.5, 0);
  free(cl);
  /* errors */
  CHECK_EQ_INT(tide_knn_regress(&ix, &y, &Q, &qa, 11, 0, out), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "between 1 and the 10");
  CHECK_EQ_INT(tide_knn_regress(&ix, &y, &Q, &qa, 0, 0, out), TIDE_EINVAL);
  tide_Array Q2;
  int64_t s2[2] = {2, 2};
  tide_array_new(&Q2, TIDE_F64, 2, s2, TIDE_WHERE_HEAP);
  CHECK_EQ_INT(tide_knn_regress(&ix, &y, &Q2, &qa, 1, 0, out), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "queries have 2 features");
  ((double *)X.data)[3] = 1e200;
  CHECK_EQ_INT(tide_knn_index(&X, &all, centre, norms), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "too large for squared distances");
  tide_array_close(&X);
  tide_array_close(&Q);
  tide_array_close(&Q2);
  tide_array_close(&y);
}

static void test_scale(void) {
  int64_t sh[2] = {4, 2};
  tide_Array X;
  tide_array_new(&X, TIDE_F64, 2, sh, TIDE_WHERE_HEAP);
  double v[8] = {1, 5, 2, 5, 3, 5, 10, 5};
  memcpy(X.data, v, sizeof v);
  int64_t idx[3] = {1, 2, 3};
  tide_Rows r = {.idx = idx, .n = 3, .stride = 1, .base = 1}, all = tide_rows_all(4);
  double mean[2], var[2], mn[2], mx[2], out[8];
  CHECK_EQ_INT(tide_scale_stats(&X, &r, mean, var, mn, mx), TIDE_OK);
  CHECK_NEAR(mean[0], 2, 1e-15);
  CHECK_NEAR(var[0], 2.0 / 3, 1e-15);
  CHECK_NEAR(var[1], 0, 0);
  CHECK_NEAR(mn[0], 1, 0);
  CHECK_NEAR(mx[0], 3, 0);
  double a[2] = {2, 5}, b[2] = {2, 1};
  CHECK_EQ_INT(tide_scale_apply(&X, &all, a, b, 1, 0, 0, 0, out), TIDE_OK);
  CHECK_NEAR(out[6], 4, 0);
  CHECK_EQ_INT(tide_scale_apply(&X, &all, a, b, 0, 1, 0, 10, out), TIDE_OK);
  CHECK_NEAR(out[0], 4, 0);
  CHECK_NEAR(out[6], 10, 0); /* 22 clipped */
  tide_Rows none = {.idx = idx, .n = 0, .stride = 1, .base = 1};
  CHECK_EQ_INT(tide_scale_stats(&X, &none, mean, var, mn, mx), TIDE_EINVAL);
  tide_array_close(&X);
}

/* The KD-tree gives the plain loop's neighbours and distances, on
** random, tied and shifted data, all rows or a subset. */
static void test_tree(void) {
  for (int ints = 0; ints < 3; ints++) {
    int64_t n = 3000, p = ints == 1 ? 3 : 5, k = ints == 1 ? 40 : 7, nq = 60;
    tide_Array X, Q;
    mk(&X, TIDE_F64, n, p, ints);
    mk(&Q, TIDE_F64, nq, p, ints);
    int64_t idx[1500];
    for (int m = 0; m < 1500; m++) idx[m] = 2 * m + 1 + (m % 2);
    tide_Rows sub = {.idx = idx, .n = 1500, .stride = 1, .base = 1}, all = tide_rows_all(n);
    tide_Rows qa = tide_rows_all(nq);
    for (int which = 0; which < 2; which++) {
      const tide_Rows *tr = which ? &sub : &all;
      double *centre = malloc((size_t)p * 8), *norms = malloc((size_t)tr->n * 8);
      CHECK_EQ_INT(tide_knn_index(&X, tr, centre, norms), TIDE_OK);
      tide_KnnIndex ix = {&X, *tr, centre, norms, 0, NULL};
      int64_t nn = tide_knn_tree_nodes(tr->n);
      int64_t *perm = malloc((size_t)tr->n * 8), *node = malloc((size_t)nn * 3 * 8);
      double *bound = malloc((size_t)(nn * 2 * p) * 8);
      CHECK_EQ_INT(tide_knn_tree_build(&ix, perm, node, bound), TIDE_OK);
      tide_KnnTree t = {nn, perm, node, bound};
      double *d1 = malloc((size_t)(nq * k) * 8), *d2 = malloc((size_t)(nq * k) * 8);
      double *d3 = malloc((size_t)(nq * k) * 8);
      int64_t *i1 = malloc((size_t)(nq * k) * 8), *i2 = malloc((size_t)(nq * k) * 8);
      int64_t *pos = malloc((size_t)(nq * k) * 8);
      CHECK_EQ_INT(tide_knn_kneighbors(&ix, &Q, &qa, k, d1, i1), TIDE_OK);
      ix.tree = &t;
      CHECK_EQ_INT(tide_knn_kneighbors(&ix, &Q, &qa, k, d2, i2), TIDE_OK);
      for (int64_t q = 0; q < nq; q++) naive(&X, tr, &Q, q, k, d3 + q * k, pos + q * k);
      int same = 1, near = 1;
      for (int64_t m = 0; m < nq * k; m++) {
        same = same && i1[m] == i2[m] && d1[m] == d2[m];
        near = near && fabs(d2[m] - d3[m]) <= 1e-9 * (1 + d3[m]);
      }
      CHECK(same); /* brute force's neighbours, order and distances */
      CHECK(near); /* the plain loop's distances */
      free(centre), free(norms), free(perm), free(node), free(bound);
      free(d1), free(d2), free(d3), free(i1), free(i2), free(pos);
    }
    tide_array_close(&X);
    tide_array_close(&Q);
  }
}

int main(void) {
  test_tree();
  test_search();
  test_users();
  test_scale();
  return check_done();
}
