/*
** test_logistic.c -- the logistic kernels from C: the optimality conditions
** checked by plain loops at the fitted point (binary and softmax, weights,
** no intercept), Newton and L-BFGS against each other, row subsets against
** a copied fold, predictions, errors, and the peak memory of a `rows =` fit
** on a large X (no copy of the fold).
*/
#include <unistd.h>

#include "check.h"
#include "../../runtime/models/logistic.h" /* runtime/models is not on the tests include path */

static uint64_t seed = 42;

static double rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static double gauss(void) {
  double u = rnd() + 1e-300, v = rnd();
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static tide_Array mk(int dt, int nd, int64_t r, int64_t c) {
  tide_Array a;
  int64_t shape[2] = {r, c};
  if (tide_array_new(&a, dt, nd, shape, TIDE_WHERE_HEAP)) {
    fprintf(stderr, "tide_array_new: %s\n", tide_lasterror());
    exit(2);
  }
  return a;
}

/* X (n x p) gaussian with offsets; y in labels[] from a noisy linear score. */
static void make(int64_t n, int64_t p, int k, const double *labels, tide_Array *X,
                 tide_Array *y) {
  *X = mk(TIDE_F64, 2, n, p);
  *y = mk(TIDE_F64, 1, n, 0);
  double *x = (double *)X->data, *yy = (double *)y->data;
  double B[8][64];
  for (int c = 0; c < k; c++)
    for (int64_t j = 0; j < p; j++) B[c][j] = gauss();
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < p; j++) x[i * p + j] = gauss() + 0.3 * (double)j;
    int best = 0;
    double bz = -INFINITY;
    for (int c = 0; c < k; c++) {
      double z = 2 * gauss();
      for (int64_t j = 0; j < p; j++) z += B[c][j] * x[i * p + j];
      if (z > bz) bz = z, best = c;
    }
    yy[i] = labels[best];
  }
}

/* max |gradient| of (1/S) sum w loss + ||W||^2 / (2 C S) at the model,
** computed with plain loops over all rows. */
static double gradmax(const tide_Array *X, const tide_Array *y, const double *w,
                      const tide_Logit *m, double C, int fi) {
  int64_t n = X->shape[0], p = m->p, nw = m->nw;
  const double *x = (const double *)X->data, *yy = (const double *)y->data;
  double *g = calloc((size_t)(nw * (p + 1)), sizeof *g), S = 0, z[16], worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double wi = w ? w[i] : 1;
    S += wi;
    int64_t code = 0;
    while (m->classes[code] != yy[i]) code++;
    for (int64_t c = 0; c < nw; c++) {
      z[c] = m->intercept[c];
      for (int64_t j = 0; j < p; j++) z[c] += m->coef[c * p + j] * x[i * p + j];
    }
    double r[16];
    if (nw == 1) {
      r[0] = 1 / (1 + exp(-z[0])) - (code == 1);
    } else {
      double mx = z[0], s = 0;
      for (int64_t c = 1; c < nw; c++) mx = z[c] > mx ? z[c] : mx;
      for (int64_t c = 0; c < nw; c++) s += exp(z[c] - mx);
      for (int64_t c = 0; c < nw; c++) r[c] = exp(z[c] - mx) / s - (c == code);
    }
    for (int64_t c = 0; c < nw; c++) {
      for (int64_t j = 0; j < p; j++) g[c * (p + 1) + j] += wi * r[c] * x[i * p + j];
      g[c * (p + 1) + p] += wi * r[c];
    }
  }
  for (int64_t c = 0; c < nw; c++) {
    for (int64_t j = 0; j < p; j++) {
      double gj = (g[c * (p + 1) + j] + m->coef[c * p + j] / C) / S;
      worst = fabs(gj) > worst ? fabs(gj) : worst;
    }
    if (fi) worst = fabs(g[c * (p + 1) + p] / S) > worst ? fabs(g[c * (p + 1) + p] / S) : worst;
  }
  free(g);
  return worst;
}

static double coefdiff(const tide_Logit *a, const tide_Logit *b) {
  double d = 0;
  for (int64_t j = 0; j < a->nw * a->p; j++)
    d = fabs(a->coef[j] - b->coef[j]) > d ? fabs(a->coef[j] - b->coef[j]) : d;
  for (int64_t c = 0; c < a->nw; c++)
    d = fabs(a->intercept[c] - b->intercept[c]) > d ? fabs(a->intercept[c] - b->intercept[c]) : d;
  return d;
}

static void test_optimality(void) {
  const double lab2[] = {-3, 5}, lab4[] = {0, 1, 2.5, 9};
  tide_Array X, y;
  for (int k = 2; k <= 4; k += 2) {
    make(500, 6, k, k == 2 ? lab2 : lab4, &X, &y);
    double w[500];
    for (int i = 0; i < 500; i++) w[i] = 0.25 + 2 * rnd();
    tide_Array wa = mk(TIDE_F64, 1, 500, 0);
    memcpy(wa.data, w, sizeof w);
    tide_Rows all = tide_rows_all(500);
    for (int fi = 0; fi <= 1; fi++) {
      for (int useW = 0; useW <= 1; useW++) {
        tide_LogitOpts o = {0.4, 1e-10, 500, fi, TIDE_LOGIT_LBFGS, NULL, 0};
        tide_Logit a, b;
        CHECK_EQ_INT(tide_logistic_fit(&X, &y, useW ? &wa : NULL, &all, &o, &a), TIDE_OK);
        CHECK_EQ_INT(a.k, k);
        CHECK_EQ_INT(a.nw, k == 2 ? 1 : k);
        CHECK(a.converged);
        double ga = gradmax(&X, &y, useW ? w : NULL, &a, 0.4, fi);
        /* L-BFGS stops on a relative decrease of 64 eps (scipy's ftol as
        ** scikit-learn sets it) before a 1e-10 gradient: ~1e-8 is its floor */
        if (ga >= 1e-7)
          fprintf(stderr, "k=%d fi=%d w=%d: gradient %g after %d iterations\n", k, fi, useW, ga,
                  (int)a.n_iter);
        CHECK(ga < 1e-7);
        if (k == 2) {
          o.solver = TIDE_LOGIT_NEWTON;
          CHECK_EQ_INT(tide_logistic_fit(&X, &y, useW ? &wa : NULL, &all, &o, &b), TIDE_OK);
          double gb = gradmax(&X, &y, useW ? w : NULL, &b, 0.4, fi);
          if (gb >= 1e-10)
            fprintf(stderr, "newton fi=%d w=%d: gradient %g, %d iterations\n", fi, useW, gb,
                    (int)b.n_iter);
          CHECK(gb < 1e-10); /* rounding: ~1e-16 n |x| */
          CHECK(coefdiff(&a, &b) < 1e-6);
          CHECK(b.n_iter < 15);
          tide_logistic_free(&b);
        } else if (fi) {
          double s = 0;
          for (int c = 0; c < k; c++) s += a.intercept[c];
          CHECK(fabs(s) < 1e-12); /* centered intercepts */
        }
        if (!fi)
          for (int c = 0; c < a.nw; c++) CHECK(a.intercept[c] == 0);
        /* class predictions are the argmax of the probabilities */
        double *P = malloc(500 * (size_t)k * sizeof *P);
        int64_t cls[500];
        CHECK_EQ_INT(tide_logistic_predict(&X, &all, k, a.nw, a.coef, a.intercept,
                                           TIDE_LOGIT_PROBA, P), TIDE_OK);
        CHECK_EQ_INT(tide_logistic_predict(&X, &all, k, a.nw, a.coef, a.intercept,
                                           TIDE_LOGIT_CLASS, cls), TIDE_OK);
        int bad = 0;
        for (int i = 0; i < 500; i++) {
          double s = 0;
          int64_t best = 0;
          for (int c = 0; c < k; c++) {
            s += P[i * k + c];
            if (P[i * k + c] > P[i * k + best]) best = c;
          }
          bad += fabs(s - 1) > 1e-12 || best != cls[i];
        }
        CHECK_EQ_INT(bad, 0);
        free(P);
        tide_logistic_free(&a);
      }
    }
    tide_array_close(&wa);
    tide_array_close(&X);
    tide_array_close(&y);
  }
}

/* 40 features: Newton builds its Hessian in f32 blocks (H32_MIN_P); the
** optimum must be as exact as with f64, also with a column scaled by 1e4
** and two nearly collinear columns. */
static void test_wide_newton(void) {
  const double lab[] = {0, 1};
  tide_Array X, y;
  make(6000, 40, 2, lab, &X, &y);
  double *x = (double *)X.data, *yy = (double *)y.data;
  for (int64_t i = 0; i < 6000; i++) {
    double *r = x + i * 40;
    yy[i] = r[0] + r[1] - 0.7 * r[3] + 0.2 * r[10] + gauss() > 1.9; /* overlapping classes */
    r[1] *= 1e4;
    r[4] = r[3] + 1e-3 * r[4];
  }
  tide_Rows all = tide_rows_all(6000);
  tide_LogitOpts o = {0.5, 1e-4, 100, 1, TIDE_LOGIT_NEWTON, NULL, 0};
  tide_Logit a;
  int rc = tide_logistic_fit(&X, &y, NULL, &all, &o, &a);
  if (rc) fprintf(stderr, "wide newton: %s\n", tide_lasterror());
  CHECK_EQ_INT(rc, TIDE_OK);
  if (rc) return;
  CHECK(a.converged);
  CHECK(a.n_iter <= 12);
  double ga = gradmax(&X, &y, NULL, &a, 0.5, 1);
  if (ga >= 1e-9) fprintf(stderr, "wide newton: gradient %g, %d iterations\n", ga, (int)a.n_iter);
  CHECK(ga < 1e-9); /* the f64 Hessian reaches 1e-10 here: rounding, with x up to 4e4 */
  tide_logistic_free(&a);
  tide_array_close(&X);
  tide_array_close(&y);
}

static void test_rows(void) {
  const double lab[] = {1, 2, 3};
  tide_Array X, y, Xc, yc;
  make(3000, 5, 3, lab, &X, &y);
  int64_t idx[1200], idx0[1200];
  for (int i = 0; i < 1200; i++) {
    idx[i] = (i * 17) % 3000 + 1; /* 1-based, shuffled */
    idx0[i] = idx[i] - 1;
  }
  tide_Rows r = {.idx = idx, .n = 1200, .stride = 1, .base = 1}, all = tide_rows_all(1200);
  CHECK_EQ_INT(tide_array_take(&X, idx0, 1200, 0, &Xc), TIDE_OK);
  CHECK_EQ_INT(tide_array_take(&y, idx0, 1200, 0, &yc), TIDE_OK);
  tide_LogitOpts o = {1.0, 1e-6, 200, 1, TIDE_LOGIT_AUTO, NULL, 0};
  tide_Logit a, b;
  CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &r, &o, &a), TIDE_OK);
  CHECK_EQ_INT(tide_logistic_fit(&Xc, &yc, NULL, &all, &o, &b), TIDE_OK);
  CHECK(coefdiff(&a, &b) == 0);
  CHECK_EQ_INT(a.n_iter, b.n_iter);
  double da[1200 * 3], db[1200 * 3];
  CHECK_EQ_INT(tide_logistic_predict(&X, &r, 3, 3, a.coef, a.intercept, TIDE_LOGIT_DECISION, da),
               TIDE_OK);
  CHECK_EQ_INT(tide_logistic_predict(&Xc, &all, 3, 3, b.coef, b.intercept, TIDE_LOGIT_DECISION,
                                     db), TIDE_OK);
  CHECK(memcmp(da, db, sizeof da) == 0);
  tide_logistic_free(&a);
  tide_logistic_free(&b);
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&Xc);
  tide_array_close(&yc);
}

static void test_errors(void) {
  const double lab[] = {0, 1};
  tide_Array X, y;
  make(50, 3, 2, lab, &X, &y);
  tide_Rows all = tide_rows_all(50);
  tide_LogitOpts o = {1.0, 1e-4, 100, 1, TIDE_LOGIT_AUTO, NULL, 0};
  tide_Logit m;
  double *yy = (double *)y.data, *x = (double *)X.data;
  int64_t one[3] = {1, 1, 1};
  tide_Rows r1 = {.idx = one, .n = 3, .stride = 1, .base = 1};
  yy[0] = 3;
  CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &r1, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "logistic: y has a single class (3); need at least 2");
  o.C = 0;
  CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &all, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "C must be a positive number");
  o.C = NAN;
  CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &all, &o, &m), TIDE_EINVAL);
  o.C = 1;
  x[7] = INFINITY;
  CHECK(tide_logistic_fit(&X, &y, NULL, &all, &o, &m) != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "X holds NaN or infinity");
  x[7] = 0;
  yy[4] = NAN;
  CHECK(tide_logistic_fit(&X, &y, NULL, &all, &o, &m) != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "y holds NaN or infinity");
  yy[4] = 1;
  int64_t far[1] = {51};
  tide_Rows rf = {.idx = far, .n = 1, .stride = 1, .base = 1};
  CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &rf, &o, &m), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "outside 1..50");
  tide_Array X0 = mk(TIDE_F64, 2, 50, 0);
  CHECK(tide_logistic_fit(&X0, &y, NULL, &all, &o, &m) != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "no features");
  /* -0 and 0 are one label */
  for (int i = 0; i < 50; i++) yy[i] = i % 2 ? 1 : (i % 4 ? -0.0 : 0.0);
  CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &all, &o, &m), TIDE_OK);
  CHECK_EQ_INT(m.k, 2);
  tide_logistic_free(&m);
  tide_array_close(&X0);
  tide_array_close(&X);
  tide_array_close(&y);
}


/* A fit on 240k of 300k rows x 16 features: a copy of the fold would be
** 30 MB; the blocked fit's peak must stay under a third of that (a few
** 0.5 MB row blocks; more under ASan, whose quarantine keeps freed ones). */
static void test_memory(void) {
  const double lab[] = {0, 1};
  tide_Array X, y;
  make(300000, 16, 2, lab, &X, &y);
  int64_t *idx = malloc(240000 * sizeof *idx);
  for (int64_t i = 0; i < 240000; i++) idx[i] = (i * 5) / 4 + 1;
  tide_Rows r = {.idx = idx, .n = 240000, .stride = 1, .base = 1};
  for (int solver = TIDE_LOGIT_LBFGS; solver <= TIDE_LOGIT_NEWTON; solver++) {
    tide_LogitOpts o = {1.0, 1e-4, 100, 1, solver, NULL, 0};
    tide_Logit m;
    CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &r, &o, &m), TIDE_OK); /* warm-up: BLAS buffers */
    tide_logistic_free(&m);
    if (!check_reset_peak()) {
      printf("peak-memory check skipped: /proc/self/clear_refs not writable\n");
      break;
    }
    long before = check_rss_kb();
    CHECK_EQ_INT(tide_logistic_fit(&X, &y, NULL, &r, &o, &m), TIDE_OK);
    long grew = check_peak_kb() - before;
    if (getenv("TIDE_VERBOSE") || grew > 10000)
      fprintf(stderr, "solver %d: peak grew by %ld kB\n", solver, grew);
    CHECK(before > 0 && grew < 10000);
    CHECK(m.converged);
    tide_logistic_free(&m);
  }
  free(idx);
  tide_array_close(&X);
  tide_array_close(&y);
}

int main(void) {
  test_optimality();
  test_wide_newton();
  test_rows();
  test_errors();
  test_memory();
  return check_done();
}
