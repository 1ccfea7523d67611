/*
** test_cluster.c -- the k-means and PCA kernels against plain loops:
** Lloyd's iterations from given centres (stopping rules, the empty-cluster
** rule), k-means++ seeds that are rows of X and depend on the stream only,
** row subsets, f32 and strided data, assignment, distances; PCA's
** eigenpairs of the covariance, scikit-learn's signs, the wide (SVD) path,
** the component count for a variance fraction, transform round trips.
*/
#include "check.h"

#include "../../runtime/models/kmeans.h"
#include "../../runtime/models/pca.h"

static uint64_t seed = 4242;
static double urand(void) { /* xorshift: deterministic data */
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return (double)(seed >> 11) / 9007199254740992.0;
}

/* n x p f64 rows around k centres (spread 1, centres 6 apart) plus offset. */
static void blobs(tide_Array *a, int64_t n, int64_t p, int64_t k, double offset) {
  int64_t shape[2] = {n, p};
  if (tide_array_new(a, TIDE_F64, 2, shape, TIDE_WHERE_HEAP)) abort();
  double *x = (double *)a->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t c = (int64_t)(urand() * (double)k);
    for (int64_t j = 0; j < p; j++)
      x[i * p + j] = offset + 6.0 * (double)((c + j) % k) + (urand() - 0.5) * 2.0;
  }
}

static double at(const tide_Array *a, int64_t i, int64_t j) {
  return tide_load_f64(a->dtype, a->data + i * a->strides[0] + j * a->strides[1]);
}

/* The plain algorithm: scikit-learn's Lloyd loop with exact distances. */
static void naive_lloyd(const tide_Array *X, const tide_Rows *r, int64_t k, const double *init,
                        int64_t max_iter, double tol, double *C, int64_t *n_iter, double *inertia) {
  int64_t n = r->n, p = X->shape[1];
  int64_t *lab = malloc((size_t)n * sizeof *lab), *old = malloc((size_t)n * sizeof *old);
  double *S = malloc((size_t)(k * p) * sizeof *S), *cnt = malloc((size_t)k * sizeof *cnt);
  memcpy(C, init, (size_t)(k * p) * sizeof *C);
  for (int64_t i = 0; i < n; i++) old[i] = -1;
  for (int64_t it = 0; it < max_iter; it++) {
    memset(S, 0, (size_t)(k * p) * sizeof *S);
    memset(cnt, 0, (size_t)k * sizeof *cnt);
    int64_t same = 1;
    for (int64_t i = 0; i < n; i++) {
      int64_t row = tide_rows_at(r, i), best = 0;
      double bd = INFINITY;
      for (int64_t c = 0; c < k; c++) {
        double d = 0;
        for (int64_t j = 0; j < p; j++) d += (at(X, row, j) - C[c * p + j]) * (at(X, row, j) - C[c * p + j]);
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      lab[i] = best;
      same &= lab[i] == old[i];
      for (int64_t j = 0; j < p; j++) S[best * p + j] += at(X, row, j);
      cnt[best] += 1;
    }
    /* each empty cluster, in order, takes the farthest row not taken yet
    ** (distances to the centres before the update; the lower row on ties) */
    char *taken = calloc((size_t)n, 1);
    for (int64_t c = 0; c < k; c++) {
      if (cnt[c] > 0) continue;
      int64_t far = -1;
      double fd = -1;
      for (int64_t i = 0; i < n; i++) {
        int64_t row = tide_rows_at(r, i);
        double d = 0;
        for (int64_t j = 0; j < p; j++)
          d += (at(X, row, j) - C[lab[i] * p + j]) * (at(X, row, j) - C[lab[i] * p + j]);
        if (d > fd && !taken[i]) {
          fd = d;
          far = i;
        }
      }
      taken[far] = 1;
      int64_t row = tide_rows_at(r, far);
      for (int64_t j = 0; j < p; j++) {
        S[lab[far] * p + j] -= at(X, row, j);
        S[c * p + j] = at(X, row, j);
      }
      cnt[lab[far]] -= 1;
      cnt[c] = 1;
    }
    free(taken);
    double shift = 0;
    for (int64_t c = 0; c < k; c++)
      for (int64_t j = 0; j < p; j++) {
        double v = cnt[c] > 0 ? S[c * p + j] / cnt[c] : 0;
        shift += (v - C[c * p + j]) * (v - C[c * p + j]);
        C[c * p + j] = v;
      }
    *n_iter = it + 1;
    memcpy(old, lab, (size_t)n * sizeof *lab);
    if (same || shift <= tol) break;
  }
  *inertia = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t row = tide_rows_at(r, i);
    double bd = INFINITY;
    for (int64_t c = 0; c < k; c++) {
      double d = 0;
      for (int64_t j = 0; j < p; j++) d += (at(X, row, j) - C[c * p + j]) * (at(X, row, j) - C[c * p + j]);
      if (d < bd) bd = d;
    }
    *inertia += bd;
  }
  free(lab);
  free(old);
  free(S);
  free(cnt);
}

static void col_means(const tide_Array *X, const tide_Rows *r, double *m) {
  int64_t p = X->shape[1];
  for (int64_t j = 0; j < p; j++) {
    m[j] = 0;
    for (int64_t i = 0; i < r->n; i++) m[j] += at(X, tide_rows_at(r, i), j);
    m[j] /= (double)r->n;
  }
}

static double maxdiff(const double *a, const double *b, int64_t n) {
  double w = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]) / (1 + fabs(b[i]));
    if (d > w) w = d;
  }
  return w;
}

/* Lloyd from given centres equals the plain loop, for a subset, f32 and
** strided forms of the same rows, with and without an empty cluster. */
static void test_lloyd(void) {
  tide_Array X;
  blobs(&X, 700, 3, 5, 1000.0);
  int64_t k = 5, p = 3;
  int64_t idx[400];
  for (int64_t i = 0; i < 400; i++) idx[i] = 1 + (i * 7) % 700;
  tide_Rows all = tide_rows_all(700), sub = {.idx = idx, .n = 400, .stride = 1, .base = 1};
  double init[15], C[15], Cn[15], mean[3], inertia, in2;
  for (int64_t c = 0; c < k; c++)
    for (int64_t j = 0; j < p; j++) init[c * p + j] = at(&X, c * 3 + 1, j);
  for (int pass = 0; pass < 4; pass++) {
    const tide_Rows *r = pass == 1 ? &sub : &all;
    double ini[15];
    memcpy(ini, init, sizeof ini);
    if (pass == 2) ini[3] = ini[4] = ini[5] = 1e5; /* centre 2 gets no rows: relocated */
    int64_t max_iter = pass == 3 ? 2 : 300, it = 0, nit = 0;
    col_means(&X, r, mean);
    tide_KMeansOpts o = {.k = k, .max_iter = max_iter, .tol = 1e-6, .mean = mean, .init = ini};
    tide_Rng rng;
    tide_rng_init(&rng, 1, 1);
    int conv = -1;
    CHECK_EQ_INT(tide_kmeans_run(&X, r, &o, &rng, C, &inertia, &it, &conv), TIDE_OK);
    naive_lloyd(&X, r, k, ini, max_iter, 1e-6, Cn, &nit, &in2);
    CHECK(maxdiff(C, Cn, k * p) < 1e-12);
    CHECK_EQ_INT(it, nit);
    CHECK_NEAR(inertia, in2, 1e-11);
    CHECK_EQ_INT(conv, pass != 3);
  }
  /* the same rows as f32 data, as a strided view, and as ranges */
  tide_Array X32, XT, Xs;
  int64_t shape[2] = {700, 3}, tshape[2] = {3, 700};
  tide_array_new(&X32, TIDE_F32, 2, shape, TIDE_WHERE_HEAP);
  tide_array_new(&XT, TIDE_F64, 2, tshape, TIDE_WHERE_HEAP);
  for (int64_t i = 0; i < 700; i++)
    for (int64_t j = 0; j < 3; j++) {
      double v = (double)(float)at(&X, i, j);
      tide_store_f64(TIDE_F32, X32.data + (i * 3 + j) * 4, v);
      ((double *)XT.data)[j * 700 + i] = at(&X, i, j);
    }
  Xs = XT; /* the transpose of XT: X again, column-strided */
  Xs.shape[0] = 700;
  Xs.shape[1] = 3;
  Xs.strides[0] = 8;
  Xs.strides[1] = 700 * 8;
  const tide_Array *forms[2] = {&X32, &Xs};
  for (int f = 0; f < 2; f++) {
    int64_t it, nit;
    int conv;
    tide_Rng rng;
    tide_rng_init(&rng, 1, 1);
    col_means(forms[f], &all, mean);
    tide_KMeansOpts o = {.k = k, .max_iter = 300, .tol = 0, .mean = mean, .init = init};
    CHECK_EQ_INT(tide_kmeans_run(forms[f], &all, &o, &rng, C, &inertia, &it, &conv), TIDE_OK);
    naive_lloyd(forms[f], &all, k, init, 300, 0, Cn, &nit, &in2);
    CHECK(maxdiff(C, Cn, k * p) < 1e-12);
    CHECK_EQ_INT(it, nit);
  }
  tide_array_close(&X32);
  tide_array_close(&XT);
  tide_array_close(&X);
}

/* k-means++: centres are rows of X; the same (seed, stream) gives the
** same centres whatever the form of the rows; other streams differ. */
static void test_plusplus(void) {
  tide_Array X;
  blobs(&X, 5000, 4, 6, -50.0);
  int64_t k = 6, p = 4;
  double mean[4], C[24], C2[24], C3[24], inertia, in2, in3;
  tide_Rows all = tide_rows_all(5000);
  col_means(&X, &all, mean);
  /* max_iter = 0: the seeds themselves */
  tide_KMeansOpts o = {.k = k, .max_iter = 0, .tol = 0, .mean = mean};
  int64_t it;
  int conv;
  tide_Rng a, b, c;
  tide_rng_init(&a, 7, 3);
  tide_rng_init(&b, 7, 3);
  tide_rng_init(&c, 7, 4);
  CHECK_EQ_INT(tide_kmeans_run(&X, &all, &o, &a, C, &inertia, &it, &conv), TIDE_OK);
  CHECK_EQ_INT(it, 0);
  int64_t span[4] = {0, 2000, 2000, 3000};
  tide_Rows ranges = {.span = span, .nspan = 2, .n = 5000};
  CHECK_EQ_INT(tide_kmeans_run(&X, &ranges, &o, &b, C2, &in2, &it, &conv), TIDE_OK);
  CHECK(memcmp(C, C2, sizeof C) == 0);
  CHECK(inertia == in2);
  CHECK_EQ_INT(tide_kmeans_run(&X, &all, &o, &c, C3, &in3, &it, &conv), TIDE_OK);
  CHECK(memcmp(C, C3, sizeof C) != 0);
  /* candidate distances kept or computed again: the same seeds */
  int64_t keep = tide__kmeans_keep_bytes;
  tide__kmeans_keep_bytes = 0;
  tide_rng_init(&b, 7, 3);
  CHECK_EQ_INT(tide_kmeans_run(&X, &all, &o, &b, C2, &in2, &it, &conv), TIDE_OK);
  CHECK(maxdiff(C, C2, k * p) < 1e-12);
  tide__kmeans_keep_bytes = keep;
  for (int random = 0; random < 2; random++) { /* seeds are distinct rows of X */
    o.random_init = random;
    tide_rng_init(&a, 11, 2);
    CHECK_EQ_INT(tide_kmeans_run(&X, &all, &o, &a, C, &inertia, &it, &conv), TIDE_OK);
    int64_t rows_found = 0;
    for (int64_t cc = 0; cc < k; cc++) {
      int64_t hit = -1;
      for (int64_t i = 0; i < 5000 && hit < 0; i++) {
        double d = 0;
        for (int64_t j = 0; j < p; j++) d += fabs(at(&X, i, j) - C[cc * p + j]);
        if (d < 1e-9) hit = i;
      }
      rows_found += hit >= 0;
      for (int64_t c2 = 0; c2 < cc; c2++) CHECK(maxdiff(C + cc * p, C + c2 * p, p) > 0);
    }
    CHECK_EQ_INT(rows_found, k);
  }
  /* full runs find the six blobs: inertia near n p spread^2 / 3 */
  o.random_init = 0;
  o.max_iter = 300;
  o.tol = 1e-8;
  tide_rng_init(&a, 7, 3);
  CHECK_EQ_INT(tide_kmeans_run(&X, &all, &o, &a, C, &inertia, &it, &conv), TIDE_OK);
  CHECK(conv == 1);
  CHECK(inertia < 5000 * 4 / 3.0 * 1.1);
  /* assignment and distances against plain loops, with centres C */
  int64_t *lab = malloc(5000 * sizeof *lab);
  double *D = malloc(5000 * 6 * sizeof *D), tot = 0;
  CHECK_EQ_INT(tide_kmeans_assign(&X, &all, C, k, mean, lab, &inertia), TIDE_OK);
  CHECK_EQ_INT(tide_kmeans_distances(&X, &all, C, k, D), TIDE_OK);
  int64_t bad = 0;
  for (int64_t i = 0; i < 5000; i++) {
    int64_t best = 0;
    double bd = INFINITY;
    for (int64_t cc = 0; cc < k; cc++) {
      double d = 0;
      for (int64_t j = 0; j < p; j++) d += (at(&X, i, j) - C[cc * p + j]) * (at(&X, i, j) - C[cc * p + j]);
      if (d < bd) {
        bd = d;
        best = cc;
      }
      bad += fabs(D[i * k + cc] - sqrt(d)) > 1e-12 * (1 + sqrt(d));
    }
    bad += lab[i] != best;
    tot += bd;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_NEAR(inertia, tot, 1e-12);
  /* errors: k larger than the rows */
  o.k = 5001;
  CHECK(tide_kmeans_run(&X, &all, &o, &a, C, &inertia, &it, &conv) == TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "k = 5001");
  free(lab);
  free(D);
  tide_array_close(&X);
}

/* ------------------------------------------------------------------ PCA */

static void covariance(const tide_Array *X, const tide_Rows *r, double *S, double *m) {
  int64_t p = X->shape[1], n = r->n;
  col_means(X, r, m);
  for (int64_t a = 0; a < p; a++)
    for (int64_t b = 0; b < p; b++) {
      double s = 0;
      for (int64_t i = 0; i < n; i++) {
        int64_t row = tide_rows_at(r, i);
        s += (at(X, row, a) - m[a]) * (at(X, row, b) - m[b]);
      }
      S[a * p + b] = s / (double)(n - 1);
    }
}

/* Eigenpairs of the covariance, orthonormal rows, descending variances,
** sv^2 / (n - 1) = variance, scikit-learn's signs (the projection of
** largest magnitude positive), the total variance. */
static void check_fit(const tide_Array *X, const tide_Rows *r, tide_Pca *f) {
  int64_t p = f->p, n = r->n, m = f->r;
  double *S = malloc((size_t)(p * p) * sizeof *S), *mean = malloc((size_t)p * sizeof *mean);
  covariance(X, r, S, mean);
  CHECK(maxdiff(f->mean, mean, p) < 1e-12);
  double worst = 0, orth = 0, tr = 0;
  for (int64_t j = 0; j < p; j++) tr += S[j * p + j];
  CHECK_NEAR(f->total, tr, 1e-12);
  for (int64_t c = 0; c < m; c++) {
    const double *v = f->comps + c * p;
    if (c > 0) CHECK(f->var[c] <= f->var[c - 1]);
    CHECK_NEAR(f->sv[c] * f->sv[c] / (double)(n - 1), f->var[c], 1e-12);
    for (int64_t a = 0; a < p; a++) {
      double s = 0;
      for (int64_t b = 0; b < p; b++) s += S[a * p + b] * v[b];
      double e = fabs(s - f->var[c] * v[a]) / (f->var[0]);
      if (e > worst) worst = e;
    }
    for (int64_t c2 = 0; c2 <= c; c2++) {
      double d = 0;
      for (int64_t j = 0; j < p; j++) d += v[j] * f->comps[c2 * p + j];
      d = fabs(d - (c2 == c));
      if (d > orth) orth = d;
    }
    if (f->var[c] > 1e-8 * f->var[0]) { /* the sign rule, on the rows' projections */
      double best = 0, val = 0;
      for (int64_t i = 0; i < n; i++) {
        double u = 0;
        for (int64_t j = 0; j < p; j++) u += (at(X, tide_rows_at(r, i), j) - mean[j]) * v[j];
        if (fabs(u) > best) {
          best = fabs(u);
          val = u;
        }
      }
      CHECK(val > 0);
    }
  }
  CHECK(worst < 1e-12);
  CHECK(orth < 1e-12);
  free(S);
  free(mean);
}

static void test_pca(void) {
  /* tall: 300 x 5, columns of different scales, far from 0 */
  int64_t n = 300, p = 5, shape[2] = {300, 5};
  tide_Array X;
  tide_array_new(&X, TIDE_F64, 2, shape, TIDE_WHERE_HEAP);
  double *x = (double *)X.data;
  for (int64_t i = 0; i < n; i++) {
    double z0 = urand() - 0.5, z1 = urand() - 0.5;
    for (int64_t j = 0; j < p; j++)
      x[i * p + j] = 1e4 * (double)j + z0 * (5.0 - (double)j) + z1 * (double)j +
                     0.1 * (urand() - 0.5);
  }
  tide_Rows all = tide_rows_all(n);
  tide_Pca f;
  CHECK_EQ_INT(tide_pca_fit(&X, &all, &f), TIDE_OK);
  CHECK_EQ_INT(f.r, 5);
  CHECK_EQ_INT(f.signed_all, 0);
  CHECK_EQ_INT(tide_pca_signs(&X, &all, &f, f.r), TIDE_OK);
  check_fit(&X, &all, &f);
  /* two strong directions: 0.5 of the variance needs one component or two */
  double r1 = f.var[0] / f.total;
  CHECK_EQ_INT(tide_pca_count(&f, r1 * 0.999), 1);
  CHECK_EQ_INT(tide_pca_count(&f, r1 * 1.001), 2);
  CHECK_EQ_INT(tide_pca_count(&f, 0.9999999999), f.r);
  /* transform then inverse with every component: the rows again */
  double *T = malloc((size_t)(n * p) * sizeof *T), *B = malloc((size_t)(n * p) * sizeof *B);
  CHECK_EQ_INT(tide_pca_transform(&X, &all, f.mean, f.comps, p, f.sv, T), TIDE_OK);
  tide_Array Ta = {0};
  int64_t ts[2] = {n, p};
  tide_array_new(&Ta, TIDE_F64, 2, ts, TIDE_WHERE_HEAP);
  memcpy(Ta.data, T, (size_t)(n * p) * sizeof *T);
  CHECK_EQ_INT(tide_pca_inverse(&Ta, &all, f.mean, f.comps, p, p, f.sv, B), TIDE_OK);
  CHECK(maxdiff(B, x, n * p) < 1e-12);
  tide_pca_free(&f);
  /* a subset of rows through an index */
  int64_t idx[100];
  for (int64_t i = 0; i < 100; i++) idx[i] = 1 + (i * 13) % 300;
  tide_Rows sub = {.idx = idx, .n = 100, .stride = 1, .base = 1};
  CHECK_EQ_INT(tide_pca_fit(&X, &sub, &f), TIDE_OK);
  CHECK_EQ_INT(tide_pca_signs(&X, &sub, &f, f.r), TIDE_OK);
  check_fit(&X, &sub, &f);
  tide_pca_free(&f);
  /* wide: 8 rows of 30 features (the SVD path), signs set by the fit */
  int64_t wshape[2] = {8, 30};
  tide_Array W;
  tide_array_new(&W, TIDE_F64, 2, wshape, TIDE_WHERE_HEAP);
  for (int64_t i = 0; i < 8 * 30; i++) ((double *)W.data)[i] = urand() * (double)(1 + i % 7);
  tide_Rows wall = tide_rows_all(8);
  CHECK_EQ_INT(tide_pca_fit(&W, &wall, &f), TIDE_OK);
  CHECK_EQ_INT(f.r, 8);
  CHECK_EQ_INT(f.signed_all, 1);
  check_fit(&W, &wall, &f);
  tide_pca_free(&f);
  /* too few rows */
  tide_Rows one = tide_rows_all(1);
  CHECK(tide_pca_fit(&X, &one, &f) == TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "at least 2 rows");
  free(T);
  free(B);
  tide_array_close(&Ta);
  tide_array_close(&W);
  tide_array_close(&X);
}

int main(void) {
  test_lloyd();
  test_plusplus();
  test_pca();
  return check_done();
}
