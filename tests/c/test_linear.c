/*
** test_linear.c -- tide_ridge_fit and tide_enet_fit against plain-loop
** references (normal equations by Gaussian elimination, KKT conditions of
** the elastic net), the solver choices, and the peak memory of a rows= fit
** (no copy of the fold).
*/
#include <errno.h>
#include <math.h>

#include "check.h"
#include "../../runtime/models/linear.h" /* runtime/models is not on the tests' path */

static uint64_t seed = 20261122;

static double rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static tide_Array mk(int64_t r, int64_t c) {
  tide_Array a;
  int64_t shape[2] = {r, c};
  if (tide_array_new(&a, TIDE_F64, c ? 2 : 1, shape, TIDE_WHERE_HEAP)) {
    fprintf(stderr, "tide_array_new: %s\n", tide_lasterror());
    exit(2);
  }
  return a;
}
#define AT(a, i, j) (((double *)(a).data)[(i) * (a).shape[1] + (j)])
#define V(a, i) (((double *)(a).data)[i])

/* X n x p with column means and scales that differ, y = X b + 1.5 + noise */
static void make_data(tide_Array *X, tide_Array *y, int64_t n, int64_t p, double noise) {
  *X = mk(n, p);
  *y = mk(n, 0);
  for (int64_t i = 0; i < n; i++) {
    double s = 1.5;
    for (int64_t j = 0; j < p; j++) {
      AT(*X, i, j) = (rnd() - 0.5) * (j + 1) + j;
      s += AT(*X, i, j) * ((j % 3) - 1.0) * (j + 1) * 0.5;
    }
    V(*y, i) = s + noise * (rnd() - 0.5);
  }
}

/* Plain-loop weighted ridge: centered normal equations by Gaussian
** elimination with partial pivoting; returns the intercept. */
static double ref_ridge(const tide_Array *X, const tide_Array *y, const double *w,
                        double alpha, double *coef) {
  int64_t n = X->shape[0], p = X->shape[1];
  double sw = 0, ym = 0, xm[16] = {0}, A[16][17] = {{0}};
  for (int64_t i = 0; i < n; i++) {
    double wi = w ? w[i] : 1;
    sw += wi;
    ym += wi * V(*y, i);
    for (int64_t j = 0; j < p; j++) xm[j] += wi * AT(*X, i, j);
  }
  ym /= sw;
  for (int64_t j = 0; j < p; j++) xm[j] /= sw;
  for (int64_t i = 0; i < n; i++) {
    double wi = w ? w[i] : 1;
    for (int64_t a = 0; a < p; a++) {
      double xa = AT(*X, i, a) - xm[a];
      for (int64_t b = 0; b < p; b++) A[a][b] += wi * xa * (AT(*X, i, b) - xm[b]);
      A[a][p] += wi * xa * (V(*y, i) - ym);
    }
  }
  for (int64_t a = 0; a < p; a++) A[a][a] += alpha;
  for (int64_t c = 0; c < p; c++) {
    int64_t piv = c;
    for (int64_t r = c + 1; r < p; r++)
      if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
    for (int64_t k = 0; k <= p; k++) {
      double t = A[c][k];
      A[c][k] = A[piv][k];
      A[piv][k] = t;
    }
    for (int64_t r = c + 1; r < p; r++) {
      double f = A[r][c] / A[c][c];
      for (int64_t k = c; k <= p; k++) A[r][k] -= f * A[c][k];
    }
  }
  for (int64_t c = p - 1; c >= 0; c--) {
    double s = A[c][p];
    for (int64_t k = c + 1; k < p; k++) s -= A[c][k] * coef[k];
    coef[c] = s / A[c][c];
  }
  double b = ym;
  for (int64_t j = 0; j < p; j++) b -= xm[j] * coef[j];
  return b;
}

static void test_ridge_reference(void) {
  tide_Array X, y, w = mk(80, 0);
  make_data(&X, &y, 80, 5, 1.0);
  for (int64_t i = 0; i < 80; i++) V(w, i) = 0.2 + rnd() * 2;
  tide_Rows all = tide_rows_all(80);
  double alphas[3] = {0, 0.7, 25};
  for (int k = 0; k < 3; k++) {
    for (int weighted = 0; weighted < 2; weighted++) {
      double coef[5], want[5], b = 0;
      int solver = 0;
      CHECK_EQ_INT(tide_ridge_fit(&X, &y, weighted ? &w : NULL, &all, alphas[k], 1, coef, &b,
                                  &solver), TIDE_OK);
      CHECK_EQ_INT(solver, TIDE_LS_CHOLESKY);
      double wb = ref_ridge(&X, &y, weighted ? (double *)w.data : NULL, alphas[k], want);
      for (int j = 0; j < 5; j++) CHECK_NEAR(coef[j], want[j], 1e-10);
      CHECK_NEAR(b, wb, 1e-10);
    }
  }
  /* exact data: OLS recovers the coefficients */
  tide_Array X2, y2;
  make_data(&X2, &y2, 40, 4, 0.0);
  tide_Rows r2 = tide_rows_all(40);
  double c2[4], b2;
  CHECK_EQ_INT(tide_ridge_fit(&X2, &y2, NULL, &r2, 0, 1, c2, &b2, NULL), TIDE_OK);
  for (int j = 0; j < 4; j++) CHECK_NEAR(c2[j], ((j % 3) - 1.0) * (j + 1) * 0.5, 1e-10);
  CHECK_NEAR(b2, 1.5, 1e-10);
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&w);
  tide_array_close(&X2);
  tide_array_close(&y2);
}

/* A duplicated column: the SVD path, the weight split evenly between the
** twins (minimum norm), the same predictions as without the twin. */
static void test_rank_deficient(void) {
  tide_Array X, y, Xr = mk(60, 3);
  make_data(&X, &y, 60, 4, 1.0);
  for (int64_t i = 0; i < 60; i++) {
    AT(X, i, 3) = AT(X, i, 0);
    for (int j = 0; j < 3; j++) AT(Xr, i, j) = AT(X, i, j);
  }
  tide_Rows all = tide_rows_all(60);
  double c[4], cr[3], b, br;
  int solver = 0;
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &all, 0, 1, c, &b, &solver), TIDE_OK);
  CHECK_EQ_INT(solver, TIDE_LS_LSTSQ);
  CHECK_EQ_INT(tide_ridge_fit(&Xr, &y, NULL, &all, 0, 1, cr, &br, NULL), TIDE_OK);
  CHECK_NEAR(c[0], c[3], 1e-9);
  CHECK_NEAR(c[0] + c[3], cr[0], 1e-9);
  CHECK_NEAR(c[1], cr[1], 1e-9);
  CHECK_NEAR(b, br, 1e-9);
  /* a constant column: coefficient 0 and still a Cholesky solve */
  for (int64_t i = 0; i < 60; i++) AT(X, i, 3) = 0.1;
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &all, 0, 1, c, &b, &solver), TIDE_OK);
  CHECK_EQ_INT(solver, TIDE_LS_CHOLESKY);
  CHECK(c[3] == 0);
  CHECK_NEAR(c[0], cr[0], 1e-9);
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&Xr);
}

/* Nearly collinear columns (cond(X) ~ 1e6): Cholesky of X'X would lose
** ~cond^2 eps = 1e-4 of accuracy, so the SVD path must be taken, and it
** recovers the coefficients of noise-free data. */
static void test_ill_conditioned(void) {
  tide_Array X = mk(200, 3), y = mk(200, 0);
  for (int64_t i = 0; i < 200; i++) {
    double a = rnd(), b = rnd();
    AT(X, i, 0) = a;
    AT(X, i, 1) = a + 1e-6 * (rnd() - 0.5);
    AT(X, i, 2) = b;
    V(y, i) = 2 * AT(X, i, 0) - 3 * AT(X, i, 1) + 0.5 * b + 4;
  }
  tide_Rows all = tide_rows_all(200);
  double c[3], b;
  int solver = 0;
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &all, 0, 1, c, &b, &solver), TIDE_OK);
  CHECK_EQ_INT(solver, TIDE_LS_LSTSQ);
  CHECK_NEAR(c[0], 2, 1e-6);
  CHECK_NEAR(c[1], -3, 1e-6);
  CHECK_NEAR(c[2], 0.5, 1e-9);
  CHECK_NEAR(b, 4, 1e-9);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* Wide data: ridge through the dual equals the primal normal equations
** (plain loop), OLS interpolates the data. */
static void test_wide(void) {
  tide_Array X, y;
  make_data(&X, &y, 8, 12, 1.0);
  tide_Rows all = tide_rows_all(8);
  double c[12], b;
  int solver = 0;
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &all, 0.3, 1, c, &b, &solver), TIDE_OK);
  CHECK_EQ_INT(solver, TIDE_LS_DUAL);
  double want[12];
  double wb = ref_ridge(&X, &y, NULL, 0.3, want);
  for (int j = 0; j < 12; j++) CHECK_NEAR(c[j], want[j], 1e-9);
  CHECK_NEAR(b, wb, 1e-9);
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &all, 0, 1, c, &b, &solver), TIDE_OK);
  CHECK_EQ_INT(solver, TIDE_LS_LSTSQ);
  double worst = 0;
  for (int64_t i = 0; i < 8; i++) {
    double f = b;
    for (int j = 0; j < 12; j++) f += AT(X, i, j) * c[j];
    worst = fmax(worst, fabs(f - V(y, i)));
  }
  CHECK(worst < 1e-9);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* KKT conditions of the elastic net at the solution, in sw units. */
static double kkt_violation(const tide_Array *X, const tide_Array *y, const double *coef,
                            double b, double alpha, double l1_ratio) {
  int64_t n = X->shape[0], p = X->shape[1];
  double l1 = alpha * l1_ratio * (double)n, l2 = alpha * (1 - l1_ratio) * (double)n, worst = 0;
  for (int64_t j = 0; j < p; j++) {
    double g = l2 * coef[j];
    for (int64_t i = 0; i < n; i++) {
      double r = V(*y, i) - b;
      for (int64_t k = 0; k < p; k++) r -= AT(*X, i, k) * coef[k];
      g -= AT(*X, i, j) * r;
    }
    double v = coef[j] != 0 ? fabs(g + (coef[j] > 0 ? l1 : -l1)) : fmax(0, fabs(g) - l1);
    worst = fmax(worst, v / (double)n);
  }
  return worst;
}

static void test_enet(void) {
  tide_Array X, y;
  make_data(&X, &y, 90, 6, 2.0);
  tide_Rows all = tide_rows_all(90);
  tide_EnetOpts o = {0.05, 0.6, 1e-13, 100000, 1, 0, 0, 0, -1};
  int64_t iters[2];
  double coefs[2][6];
  for (int pre = 0; pre < 2; pre++) {
    double coef[6] = {0};
    tide_EnetResult res;
    o.precompute = pre;
    CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_OK);
    CHECK_EQ_INT(res.gram, pre);
    CHECK(res.converged);
    CHECK(res.gap < res.tol);
    CHECK(kkt_violation(&X, &y, coef, res.intercept, o.alpha, o.l1_ratio) < 1e-6);
    iters[pre] = res.n_iter;
    memcpy(coefs[pre], coef, sizeof coef);
  }
  CHECK_EQ_INT(iters[0], iters[1]); /* the same iteration in both forms */
  for (int j = 0; j < 6; j++) CHECK_NEAR(coefs[0][j], coefs[1][j], 1e-9);
  /* the l1 penalty zeroes some coefficients at a larger alpha */
  o.alpha = 1.0;
  o.l1_ratio = 1.0;
  double coef[6] = {0};
  tide_EnetResult res;
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_OK);
  int zeros = 0;
  for (int j = 0; j < 6; j++) zeros += coef[j] == 0;
  CHECK(zeros > 0 && zeros < 6);
  CHECK(kkt_violation(&X, &y, coef, res.intercept, 1.0, 1.0) < 1e-6);
  /* positive: no negative coefficient */
  o.positive = 1;
  memset(coef, 0, sizeof coef);
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_OK);
  for (int j = 0; j < 6; j++) CHECK(coef[j] >= 0);
  /* errors name what was wrong */
  o.positive = 0;
  o.alpha = -1;
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "alpha must be");
  o.alpha = 0.1;
  o.l1_ratio = 2;
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "l1_ratio");
  o.l1_ratio = 0.5;
  o.max_iter = 0;
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "max_iter");
  o.max_iter = 10;
  coef[2] = NAN;
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &all, &o, coef, &res), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "warm start");
  CHECK(tide_ridge_fit(&X, &y, NULL, &all, -2, 1, coef, &res.intercept, NULL) == TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "alpha");
  int64_t bad[2] = {1, 91};
  tide_Rows rb = {.idx = bad, .n = 2, .stride = 1, .base = 1};
  CHECK(tide_ridge_fit(&X, &y, NULL, &rb, 1, 1, coef, &res.intercept, NULL) == TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "outside 1..90");
  tide_array_close(&X);
  tide_array_close(&y);
}

/* Residual updates over more rows than a block: the columns come in
** panels (cyclic) or one at a time (random); both agree with the Gram form. */
static void test_enet_panels(void) {
  tide_Array X, y;
  make_data(&X, &y, 10000, 7, 3.0);
  int64_t idx[9000];
  for (int k = 0; k < 9000; k++) idx[k] = 10000 - k; /* reversed: a real gather */
  tide_Rows sub = {.idx = idx, .n = 9000, .stride = 1, .base = 1};
  for (int random = 0; random < 2; random++) {
    tide_EnetOpts o = {0.02, 0.7, 1e-12, 100000, 1, 0, random, 5, 1};
    double a[7] = {0}, b[7] = {0};
    tide_EnetResult ra, rb;
    CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &sub, &o, a, &ra), TIDE_OK);
    o.precompute = 0;
    CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &sub, &o, b, &rb), TIDE_OK);
    CHECK(ra.gram == 1 && rb.gram == 0 && ra.converged && rb.converged);
    for (int j = 0; j < 7; j++) CHECK_NEAR(b[j], a[j], 1e-8);
    CHECK_NEAR(rb.intercept, ra.intercept, 1e-8);
    if (!random) CHECK_EQ_INT(ra.n_iter, rb.n_iter);
  }
  tide_array_close(&X);
  tide_array_close(&y);
}

/* The one-pass Gram equals tide_gram's two passes: weighted, on a row
** subset, with a column whose rows are sorted and far from 0 (the shift is
** then far from the first rows' values). */
static void test_gram_one_pass(void) {
  tide_Array X, y, w = mk(3000, 0);
  make_data(&X, &y, 3000, 5, 1.0);
  for (int64_t i = 0; i < 3000; i++) {
    AT(X, i, 4) = 1e6 + (double)i * 0.01;
    V(w, i) = rnd() * 3;
  }
  int64_t idx[1000];
  for (int k = 0; k < 1000; k++) idx[k] = 3 * k + 2;
  tide_Rows sub = {.idx = idx, .n = 1000, .stride = 1, .base = 1}, all = tide_rows_all(3000);
  for (int c = 0; c < 4; c++) {
    tide_Gram a, b;
    const tide_Rows *r = c & 1 ? &sub : &all;
    int center = c < 2;
    CHECK_EQ_INT(tide_gram(&X, &y, &w, r, center, &a), TIDE_OK);
    CHECK_EQ_INT(tide__linear_gram(&X, &y, &w, r, "test", center, &b), TIDE_OK);
    CHECK_NEAR(b.sw, a.sw, 1e-12);
    CHECK_NEAR(b.ymean, a.ymean, 1e-12);
    CHECK_NEAR(b.yty, a.yty, 1e-10);
    for (int j = 0; j < 5; j++) {
      CHECK_NEAR(b.xmean[j], a.xmean[j], 1e-12);
      CHECK_NEAR(b.Xty[j], a.Xty[j], 1e-10);
      for (int k = 0; k < 5; k++) CHECK_NEAR(b.XtX[j * 5 + k], a.XtX[j * 5 + k], 1e-10);
    }
    tide_gram_free(&a);
    tide_gram_free(&b);
  }
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&w);
}

/* Moments of row sets about one shift add up, and the statistics they
** give (centered or raw, through a scaler's map) are tide_gram's; the
** sums of squared residuals from them are the direct ones, and ridge from
** them is tide_ridge_fit. */
static void test_moments(void) {
  int64_t n = 2000, p = 4, L = tide_moments_len(4);
  tide_Array X, y;
  make_data(&X, &y, n, p, 1.0);
  double s[4] = {0.3, 1.2, 1.9, 3.1}, ys = 2.0, a[4], b[4];
  double *all = calloc((size_t)L, 8), *half1 = calloc((size_t)L, 8), *half2 = calloc((size_t)L, 8);
  int64_t span1[2] = {0, 700}, span2[4] = {700, 500, 1200, 800};
  tide_Rows every = tide_rows_all(n);
  tide_Rows r1 = {.n = 700, .stride = 1, .span = span1, .nspan = 1};
  tide_Rows r2 = {.n = 1300, .stride = 1, .span = span2, .nspan = 2};
  CHECK_EQ_INT(tide_moments(&X, &y, &every, s, ys, all), TIDE_OK);
  CHECK_EQ_INT(tide_moments(&X, &y, &r1, s, ys, half1), TIDE_OK);
  CHECK_EQ_INT(tide_moments(&X, &y, &r2, s, ys, half2), TIDE_OK);
  for (int64_t k = 0; k < L; k++) CHECK_NEAR(half1[k] + half2[k], all[k], 1e-9 * (1 + fabs(all[k])));
  for (int center = 0; center < 2; center++) {
    tide_Gram g, m;
    CHECK_EQ_INT(tide_gram(&X, &y, NULL, &every, center, &g), TIDE_OK);
    CHECK_EQ_INT(tide_gram_from_moments(all, p, s, ys, NULL, NULL, center, &m), TIDE_OK);
    CHECK_NEAR(m.sw, g.sw, 0);
    CHECK_NEAR(m.ymean, g.ymean, 1e-12);
    CHECK_NEAR(m.yty, g.yty, 1e-9 * g.yty);
    for (int j = 0; j < p; j++) {
      CHECK_NEAR(m.xmean[j], g.xmean[j], 1e-12);
      CHECK_NEAR(m.Xty[j], g.Xty[j], 1e-9 * (1 + fabs(g.Xty[j])));
      for (int k = 0; k < p; k++)
        CHECK_NEAR(m.XtX[j * p + k], g.XtX[j * p + k], 1e-9 * (1 + fabs(g.XtX[j * p + k])));
    }
    tide_gram_free(&m);
    /* through a scaler: (x - a) / b */
    for (int j = 0; j < p; j++) {
      a[j] = 0.5 * j;
      b[j] = 1.0 + j;
    }
    tide_Array Xs = mk(n, p);
    for (int64_t i = 0; i < n; i++)
      for (int j = 0; j < p; j++) AT(Xs, i, j) = (AT(X, i, j) - a[j]) / b[j];
    tide_Gram gs;
    CHECK_EQ_INT(tide_gram(&Xs, &y, NULL, &every, center, &gs), TIDE_OK);
    CHECK_EQ_INT(tide_gram_from_moments(all, p, s, ys, a, b, center, &m), TIDE_OK);
    for (int j = 0; j < p; j++) {
      CHECK_NEAR(m.xmean[j], gs.xmean[j], 1e-12);
      CHECK_NEAR(m.Xty[j], gs.Xty[j], 1e-9 * (1 + fabs(gs.Xty[j])));
      for (int k = 0; k < p; k++)
        CHECK_NEAR(m.XtX[j * p + k], gs.XtX[j * p + k], 1e-9 * (1 + fabs(gs.XtX[j * p + k])));
    }
    tide_gram_free(&m);
    tide_gram_free(&gs);
    tide_gram_free(&g);
    tide_array_close(&Xs);
  }
  /* ridge from the moments of half 2, its residuals from them and directly */
  tide_Gram m;
  CHECK_EQ_INT(tide_gram_from_moments(half2, p, s, ys, NULL, NULL, 1, &m), TIDE_OK);
  double c1[4], c2[4], b1 = 0, b2 = 0, sse = 0, direct = 0;
  int refused = 1;
  CHECK_EQ_INT(tide_ridge_gram(&m, 1300, 2.5, 1, c1, &b1, &refused), TIDE_OK);
  CHECK(!refused);
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &r2, 2.5, 1, c2, &b2, NULL), TIDE_OK);
  for (int j = 0; j < p; j++) CHECK_NEAR(c1[j], c2[j], 1e-10);
  CHECK_NEAR(b1, b2, 1e-10);
  tide_moments_sse(half1, p, s, ys, 1, c1, &b1, &sse);
  for (int64_t i = 0; i < 700; i++) {
    double r = V(y, i) - b1;
    for (int j = 0; j < p; j++) r -= AT(X, i, j) * c1[j];
    direct += r * r;
  }
  CHECK_NEAR(sse, direct, 1e-9 * direct);
  tide_gram_free(&m);
  free(all);
  free(half1);
  free(half2);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* Least squares on tall rank-deficient rows (the blockwise QR path) is the
** minimum-norm answer: a duplicated column shares its coefficient. */
static void test_tsqr(void) {
  int64_t n = 9000, p = 3;
  tide_Array X = mk(n, p), y = mk(n, 0);
  for (int64_t i = 0; i < n; i++) {
    AT(X, i, 0) = rnd();
    AT(X, i, 1) = rnd();
    AT(X, i, 2) = AT(X, i, 0); /* collinear: rank 2 */
    V(y, i) = 4 * AT(X, i, 0) - AT(X, i, 1) + 0.5;
  }
  tide_Rows all = tide_rows_all(n);
  double c[3], b = 0;
  int solver = 0;
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &all, 0, 1, c, &b, &solver), TIDE_OK);
  CHECK_EQ_INT(solver, TIDE_LS_LSTSQ);
  CHECK_NEAR(c[0], 2.0, 1e-9);
  CHECK_NEAR(c[2], 2.0, 1e-9);
  CHECK_NEAR(c[1], -1.0, 1e-9);
  CHECK_NEAR(b, 0.5, 1e-9);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* X's values are checked within the fits' own pass: a NaN or infinity,
** even in a row of weight 0, is named whatever the solver. */
static void test_nonfinite(void) {
  tide_Array X, y, w = mk(50, 0), Xw, yw;
  make_data(&X, &y, 50, 3, 1.0);
  make_data(&Xw, &yw, 4, 9, 1.0);
  for (int64_t i = 0; i < 50; i++) V(w, i) = 1;
  tide_Rows all = tide_rows_all(50), allw = tide_rows_all(4);
  double bad[3] = {NAN, INFINITY, -INFINITY}, c[9], b;
  for (int k = 0; k < 3; k++) {
    AT(X, 17, 1) = bad[k];
    AT(Xw, 2, 5) = bad[k];
    V(w, 17) = k == 0 ? 0 : 1;
    CHECK_EQ_INT(tide_ridge_fit(&X, &y, &w, &all, 1, 1, c, &b, NULL), TIDE_EINVAL);
    CHECK_STR_HAS(tide_lasterror(), "ridge: X holds NaN or infinity");
    CHECK_EQ_INT(tide_ridge_fit(&Xw, &yw, NULL, &allw, 0, 1, c, &b, NULL), TIDE_EINVAL);
    CHECK_STR_HAS(tide_lasterror(), "linear: X holds NaN or infinity");
    for (int pre = 0; pre < 2; pre++) {
      tide_EnetOpts o = {0.1, 1, 1e-4, 100, 1, 0, 0, 0, pre};
      tide_EnetResult res;
      memset(c, 0, sizeof c);
      CHECK_EQ_INT(tide_enet_fit(&X, &y, &w, &all, &o, c, &res), TIDE_EINVAL);
      CHECK_STR_HAS(tide_lasterror(), "lasso: X holds NaN or infinity");
    }
  }
  /* finite but huge: the sums overflow, and the message says so */
  AT(X, 17, 1) = 1e300;
  V(w, 17) = 1;
  CHECK_EQ_INT(tide_ridge_fit(&X, &y, &w, &all, 1, 1, c, &b, NULL), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "overflow");
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&w);
  tide_array_close(&Xw);
  tide_array_close(&yw);
}


/* Fits on every other row of a 200,000 x 10 X: a copy of the fold would
** be 8 MB; the kernels must stay within a few row blocks. */
static void test_rows_memory(void) {
  int64_t n = 200000, p = 10, m = n / 2;
  tide_Array X, y, idx;
  make_data(&X, &y, n, p, 1.0);
  int64_t one = m;
  if (tide_array_new(&idx, TIDE_I64, 1, &one, TIDE_WHERE_HEAP)) exit(2);
  for (int64_t k = 0; k < m; k++) ((int64_t *)idx.data)[k] = 2 * k + 1;
  tide_Rows r = {.idx = (const int64_t *)idx.data, .n = m, .stride = 1, .base = 1};
  double coef[10], b;
  tide_EnetOpts o = {0.01, 0.5, 1e-4, 1000, 1, 0, 0, 0, -1};
  tide_EnetResult res;
  for (int pass = 0; pass < 2; pass++) { /* first pass: warm up allocator / BLAS */
    if (!check_reset_peak()) {
      printf("skipped: /proc/self/clear_refs is not writable\n");
      break;
    }
    long base = check_rss_kb();
    CHECK_EQ_INT(tide_ridge_fit(&X, &y, NULL, &r, 1.0, 1, coef, &b, NULL), TIDE_OK);
    memset(coef, 0, sizeof coef);
    CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &r, &o, coef, &res), TIDE_OK);
    long grew = check_peak_kb() - base;
    if (pass == 1) {
      printf("rows= fits of 100,000 of 200,000 rows x 10: peak RSS +%ld kB\n", grew);
      CHECK(grew < 4 * 1024); /* a fold copy alone is 8000 kB (ASan adds ~2 MB) */
    }
  }
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&idx);
}

/* Rows as ranges (a rowset) read exactly the rows the equal index array
** reads: the training rows of a middle k-fold fold, two ranges. */
static void test_rows_ranges(void) {
  tide_Array X, y;
  make_data(&X, &y, 5000, 4, 1.0);
  int64_t m = 0, idx[5000];
  for (int64_t i = 0; i < 5000; i++)
    if (i < 1000 || i >= 3000) idx[m++] = i + 1;
  int64_t span[4] = {0, 1000, 3000, 2000};
  tide_Rows byidx = {.idx = idx, .n = m, .stride = 1, .base = 1};
  tide_Rows byspan = {.n = 3000, .stride = 1, .span = span, .nspan = 2};
  CHECK(tide_rows_subset(&byspan) && !tide_rows_subset(&(tide_Rows){.n = 5}));
  for (int64_t k = 0; k < m; k++) CHECK_EQ_INT(tide_rows_at(&byspan, k), tide_rows_at(&byidx, k));
  CHECK_EQ_INT(tide_rows_check(&byspan, 5000), TIDE_OK);
  CHECK_EQ_INT(tide_rows_check(&byspan, 4999), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "range 2 is 3001..5000, outside 1..4999");
  tide_Gram a, b;
  CHECK_EQ_INT(tide_gram(&X, &y, NULL, &byidx, 1, &a), TIDE_OK);
  CHECK_EQ_INT(tide_gram(&X, &y, NULL, &byspan, 1, &b), TIDE_OK);
  CHECK(a.sw == b.sw && a.ymean == b.ymean && a.yty == b.yty);
  CHECK(memcmp(a.XtX, b.XtX, 16 * sizeof(double)) == 0);
  tide_gram_free(&a);
  tide_gram_free(&b);
  double ca[4], cb[4], ia, ib;
  tide_EnetOpts o = {0.01, 0.5, 1e-6, 1000, 1, 0, 0, 0, -1};
  tide_EnetResult res;
  memset(ca, 0, sizeof ca);
  memset(cb, 0, sizeof cb);
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &byidx, &o, ca, &res), TIDE_OK);
  ia = res.intercept;
  CHECK_EQ_INT(tide_enet_fit(&X, &y, NULL, &byspan, &o, cb, &res), TIDE_OK);
  ib = res.intercept;
  CHECK(memcmp(ca, cb, sizeof ca) == 0 && ia == ib);
  double pa[3000], pb[3000];
  CHECK_EQ_INT(tide_linear_predict(&X, &byidx, ca, ia, pa), TIDE_OK);
  CHECK_EQ_INT(tide_linear_predict(&X, &byspan, ca, ia, pb), TIDE_OK);
  CHECK(memcmp(pa, pb, sizeof pa) == 0);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* Larger: row blocks inside one range point into X, the block across the
** gap is gathered; the sums are those of the index array, bit for bit, and
** so are the blocks themselves. */
static void test_rows_ranges_blocks(void) {
  enum { N = 20000 };
  tide_Array X, y;
  make_data(&X, &y, N, 3, 1.0);
  static int64_t idx[N];
  int64_t m = 0;
  for (int64_t i = 0; i < N; i++)
    if (i < 9000 || i >= 12000) idx[m++] = i + 1;
  int64_t span[4] = {0, 9000, 12000, 8000};
  tide_Rows byidx = {.idx = idx, .n = m, .stride = 1, .base = 1};
  tide_Rows byspan = {.n = m, .stride = 1, .span = span, .nspan = 2};
  tide_RowBlocks a, b;
  CHECK_EQ_INT(tide_rowblocks_init(&a, &X, &byidx, 0), TIDE_OK);
  CHECK_EQ_INT(tide_rowblocks_init(&b, &X, &byspan, 0), TIDE_OK);
  int ndirect = 0, nblocks = 0, same = 1;
  while (tide_rowblocks_next(&a) && tide_rowblocks_next(&b)) {
    nblocks++;
    ndirect += b.direct;
    same &= a.nb == b.nb && memcmp(a.buf, b.buf, (size_t)(a.nb * 3) * sizeof(double)) == 0;
  }
  CHECK(same);
  CHECK_EQ_INT(nblocks, 5);
  CHECK_EQ_INT(ndirect, 4); /* the third block spans the gap */
  tide_rowblocks_free(&a);
  tide_rowblocks_free(&b);
  tide_Gram ga, gb;
  CHECK_EQ_INT(tide_gram(&X, &y, NULL, &byidx, 1, &ga), TIDE_OK);
  CHECK_EQ_INT(tide_gram(&X, &y, NULL, &byspan, 1, &gb), TIDE_OK);
  CHECK(memcmp(ga.XtX, gb.XtX, 9 * sizeof(double)) == 0 && ga.yty == gb.yty);
  tide_gram_free(&ga);
  tide_gram_free(&gb);
  tide_array_close(&X);
  tide_array_close(&y);
}

int main(void) {
  printf("seed %" PRIu64 "\n", seed);
  test_rows_memory(); /* first, while the heap holds no freed memory to reuse */
  test_ridge_reference();
  test_rank_deficient();
  test_ill_conditioned();
  test_wide();
  test_enet();
  test_gram_one_pass();
  test_rows_ranges();
  test_rows_ranges_blocks();
  test_enet_panels();
  test_nonfinite();
  test_moments();
  test_tsqr();
  return check_done();
}
