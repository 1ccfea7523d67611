/*
** test_svm.c -- the SVM kernels: kernel blocks against the formulas entry
** by entry; fits against libsvm driven directly through its API on the
** same rows (same support vectors, coefficients, intercepts, Platt
** sigmoids), through both inputs (precomputed kernel matrix and sparse
** nodes); predictions from the kept fields against libsvm's own
** svm_predict_values / svm_predict / svm_predict_probability; row subsets
** against gathered copies; parameter errors before any work.
*/
#include "check.h"

#include <libsvm/svm.h>

#include "../../runtime/models/svm.h"

static uint64_t seed = 4242;
static double urand(void) { /* xorshift: deterministic data */
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return (double)(seed >> 11) / 9007199254740992.0;
}

static void mk(tide_Array *a, int64_t n, int64_t p) {
  int64_t shape[2] = {n, p};
  if (tide_array_new(a, TIDE_F64, p ? 2 : 1, shape, TIDE_WHERE_HEAP)) abort();
}

static void quiet(const char *s) { (void)s; }

/* ------------------------------------------------------------ kernel blocks */

static double direct(const tide_SvmKernel *k, const double *a, const double *b, int64_t p) {
  double dot = 0, d2 = 0;
  for (int64_t j = 0; j < p; j++) {
    dot += a[j] * b[j];
    d2 += (a[j] - b[j]) * (a[j] - b[j]);
  }
  switch (k->kernel) {
  case TIDE_SVM_POLY: return pow(k->gamma * dot + k->coef0, k->degree);
  case TIDE_SVM_RBF: return exp(-k->gamma * d2);
  case TIDE_SVM_SIGMOID: return tanh(k->gamma * dot + k->coef0);
  default: return dot;
  }
}

static void test_kernel_blocks(void) {
  int64_t na = 37, m = 53, p = 7;
  double *A = malloc((size_t)(na * p) * sizeof *A), *B = malloc((size_t)(m * p) * sizeof *B);
  double *asq = malloc((size_t)na * sizeof *asq), *bsq = malloc((size_t)m * sizeof *bsq);
  double *K = malloc((size_t)(na * m) * sizeof *K);
  for (int64_t i = 0; i < na * p; i++) A[i] = urand() * 2 - 1;
  for (int64_t i = 0; i < m * p; i++) B[i] = urand() * 2 - 1;
  memcpy(B + 5 * p, A + 3 * p, (size_t)p * sizeof *A); /* an exact duplicate: distance 0 */
  for (int64_t i = 0; i < na; i++) {
    asq[i] = 0;
    for (int64_t j = 0; j < p; j++) asq[i] += A[i * p + j] * A[i * p + j];
  }
  for (int64_t i = 0; i < m; i++) {
    bsq[i] = 0;
    for (int64_t j = 0; j < p; j++) bsq[i] += B[i * p + j] * B[i * p + j];
  }
  tide_SvmKernel ks[] = {{TIDE_SVM_LINEAR, 3, 0.5, 0}, {TIDE_SVM_POLY, 3, 0.7, 0.3},
                         {TIDE_SVM_POLY, 4, 0.2, -1}, {TIDE_SVM_RBF, 3, 0.9, 0},
                         {TIDE_SVM_SIGMOID, 3, 0.3, 0.1}};
  for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
    tide_svm_kernel(&ks[t], A, na, B, m, p, asq, bsq, K);
    double worst = 0;
    for (int64_t i = 0; i < na; i++)
      for (int64_t j = 0; j < m; j++) {
        double e = fabs(K[i * m + j] - direct(&ks[t], A + i * p, B + j * p, p));
        if (e > worst) worst = e;
      }
    CHECK(worst <= 1e-12);
    if (ks[t].kernel == TIDE_SVM_RBF) CHECK(K[3 * m + 5] == 1.0); /* clamped at distance 0 */
  }
  free(A);
  free(B);
  free(asq);
  free(bsq);
  free(K);
}

/* ------------------------------------------------- against libsvm itself */

/* libsvm's own model on the rows of X (all), the classes grouped in
** sorted order as tide hands them over; ord[r] = row of libsvm's row r. */
typedef struct Ref {
  struct svm_model *model;
  struct svm_node *nodes;
  struct svm_node **x;
  double *y;
  int64_t *ord;
} Ref;

static struct svm_node *row_nodes(const double *r, int64_t p, struct svm_node *q) {
  for (int64_t j = 0; j < p; j++) {
    if (r[j] == 0) continue;
    q->index = (int)(j + 1);
    q->value = r[j];
    q++;
  }
  q->index = -1;
  q++;
  return q;
}

static void ref_fit(Ref *f, const tide_Array *X, const double *y, int svr, int kernel,
                    double gamma, int probability, unsigned s) {
  int64_t n = X->shape[0], p = X->shape[1];
  const double *Xd = (const double *)X->data;
  f->nodes = malloc((size_t)(n * (p + 1)) * sizeof *f->nodes);
  f->x = malloc((size_t)n * sizeof *f->x);
  f->y = malloc((size_t)n * sizeof *f->y);
  f->ord = malloc((size_t)n * sizeof *f->ord);
  int64_t r = 0;
  if (svr) {
    for (int64_t i = 0; i < n; i++) f->ord[r++] = i;
  } else { /* labels 0, 1, 2, ...: group rows by label, stable */
    for (int c = 0; c < 16; c++)
      for (int64_t i = 0; i < n; i++)
        if (y[i] == c) f->ord[r++] = i;
  }
  struct svm_node *q = f->nodes;
  for (r = 0; r < n; r++) {
    f->x[r] = q;
    q = row_nodes(Xd + f->ord[r] * p, p, q);
    f->y[r] = y[f->ord[r]];
  }
  struct svm_problem prob = {(int)n, f->y, f->x};
  struct svm_parameter par;
  memset(&par, 0, sizeof par);
  par.svm_type = svr ? EPSILON_SVR : C_SVC;
  par.kernel_type = kernel;
  par.degree = 3;
  par.gamma = gamma;
  par.coef0 = 0.5;
  par.cache_size = 50;
  par.eps = 1e-3;
  par.C = 2.0;
  par.p = 0.1;
  par.shrinking = 1;
  par.probability = probability;
  svm_set_print_string_function(quiet);
  srand(s);
  f->model = svm_train(&prob, &par);
}

static void ref_free(Ref *f) {
  svm_free_and_destroy_model(&f->model);
  free(f->nodes);
  free(f->x);
  free(f->y);
  free(f->ord);
}

static tide_SvmDual dual_of(const tide_Svm *m) {
  tide_SvmDual d = {m->type, m->k, m->p, m->nclass, m->nsv, m->sv, m->coef, m->rho,
                    m->n_support, m->probA, m->probB};
  return d;
}

/* One fit by tide (precompute: 1 or 0) against libsvm's own. */
static void agree(const tide_Array *X, const tide_Array *y, int svr, int kernel, int pre,
                  int probability, int ints) {
  /* libsvm's own dot sums the nonzero products in order, as the node input
  ** does; the precomputed matrix's GEMM sums differently, which is exact
  ** only on integer data */
  int exact = ints || !pre;
  int64_t n = X->shape[0], p = X->shape[1];
  Ref f;
  double gamma = 0.35;
  ref_fit(&f, X, (const double *)y->data, svr, kernel, gamma, probability, 7);
  tide_SvmOpts o;
  memset(&o, 0, sizeof o);
  o.type = svr ? TIDE_SVM_SVR : TIDE_SVM_SVC;
  o.k = (tide_SvmKernel){kernel, 3, gamma, 0.5};
  o.C = 2.0;
  o.epsilon = 0.1;
  o.tol = 1e-3;
  o.cache_size = 50;
  o.shrinking = 1;
  o.probability = probability;
  o.seed = 7;
  o.precompute = pre;
  tide_Rows all = tide_rows_all(n);
  tide_Svm m;
  int rc = tide_svm_fit(X, y, &all, &o, &m);
  CHECK_EQ_INT(rc, TIDE_OK);
  if (rc) {
    fprintf(stderr, "%s\n", tide_lasterror());
    ref_free(&f);
    return;
  }
  CHECK_EQ_INT(m.precomputed, pre);
  CHECK_EQ_INT(m.nsv, f.model->l);
  CHECK(m.converged);
  int64_t nsv = m.nsv < f.model->l ? m.nsv : f.model->l, k = m.nclass;
  /* same support vectors (rows of X), coefficients and intercepts: bit for
  ** bit on integer data, to rounding otherwise (BLAS tiles vs libsvm's dot) */
  double tol = exact ? 0 : 1e-9, worst = 0;
  int64_t same = 0;
  for (int64_t s = 0; s < nsv; s++) same += m.support[s] == f.ord[f.model->sv_indices[s] - 1];
  CHECK_EQ_INT(same, nsv);
  for (int64_t c = 0; c < k - 1; c++)
    for (int64_t s = 0; s < nsv; s++) {
      double e = fabs(m.coef[c * m.nsv + s] - f.model->sv_coef[c][s]);
      if (e > worst) worst = e;
    }
  for (int64_t q = 0; q < m.npair; q++) {
    double e = fabs(m.rho[q] - f.model->rho[q]);
    if (e > worst) worst = e;
  }
  CHECK(worst <= tol);
  if (worst > tol) fprintf(stderr, "  worst coefficient difference %g\n", worst);
  if (!svr)
    for (int64_t c = 0; c < k; c++) CHECK_EQ_INT(m.n_support[c], f.model->nSV[c]);
  for (int64_t q = 0; q < m.npair; q++) CHECK(m.n_iter[q] > 0);
  if (probability) {
    CHECK(m.probA != NULL);
    for (int64_t q = 0; m.probA && q < m.npair; q++) {
      CHECK_NEAR(m.probA[q], f.model->probA[q], exact ? 0 : 1e-6);
      CHECK_NEAR(m.probB[q], f.model->probB[q], exact ? 0 : 1e-6);
    }
  }
  /* predictions from the kept fields against libsvm's own on the same model */
  if (m.nsv == f.model->l) {
    tide_SvmDual d = dual_of(&m);
    /* libsvm's model, predicted by tide: its fields are the same */
    int64_t nq = 150, np = k * (k - 1) / 2;
    tide_Array Q;
    mk(&Q, nq, p);
    double *Qd = (double *)Q.data;
    for (int64_t i = 0; i < nq * p; i++) Qd[i] = exact ? (double)(int)(urand() * 5) : urand() * 4 - 2;
    memcpy(Qd, X->data, (size_t)(5 * p) * sizeof *Qd); /* training rows too */
    tide_Rows qr = tide_rows_all(nq);
    double *dec = malloc((size_t)(nq * (np ? np : 1)) * sizeof *dec);
    double *ref = malloc((size_t)(np ? np : 1) * sizeof *ref);
    double *pr = malloc((size_t)(nq * k) * sizeof *pr), rp[16];
    int64_t *cls = malloc((size_t)nq * sizeof *cls);
    struct svm_node *qn = malloc((size_t)(p + 1) * sizeof *qn);
    CHECK_EQ_INT(tide_svm_predict(&Q, &qr, &d, svr ? TIDE_SVM_VALUE : TIDE_SVM_OVO, dec), 0);
    if (!svr) CHECK_EQ_INT(tide_svm_predict(&Q, &qr, &d, TIDE_SVM_VOTE, cls), 0);
    if (probability) CHECK_EQ_INT(tide_svm_predict(&Q, &qr, &d, TIDE_SVM_PROBA, pr), 0);
    double wd = 0, wp = 0;
    int64_t hits = 0;
    for (int64_t i = 0; i < nq; i++) {
      row_nodes(Qd + i * p, p, qn);
      double lab = svm_predict_values(f.model, qn, ref);
      for (int64_t q = 0; q < (svr ? 1 : np); q++) {
        double e = fabs(dec[i * (svr ? 1 : np) + q] - ref[q]) / (1 + fabs(ref[q]));
        if (e > wd) wd = e;
      }
      if (!svr) hits += (double)cls[i] == lab;
      if (probability) {
        svm_predict_probability(f.model, qn, rp);
        for (int64_t c = 0; c < k; c++)
          if (fabs(pr[i * k + c] - rp[c]) > wp) wp = fabs(pr[i * k + c] - rp[c]);
      }
    }
    CHECK(wd <= 1e-12);
    if (wd > 1e-12) fprintf(stderr, "  worst decision difference %g\n", wd);
    if (!svr) CHECK_EQ_INT(hits, nq);
    if (probability) CHECK(wp <= 1e-12);
    if (wp > 1e-12) fprintf(stderr, "  worst probability difference %g\n", wp);
    free(dec);
    free(ref);
    free(pr);
    free(cls);
    free(qn);
    tide_array_close(&Q);
  }
  tide_svm_free(&m);
  ref_free(&f);
}

/* Data: three blobs (labels 0..k-1), integer-valued or not, about half
** the entries zero so the node input skips them. */
static void blobs(tide_Array *X, tide_Array *y, int64_t n, int64_t p, int k, int ints) {
  mk(X, n, p);
  int64_t one = n;
  if (tide_array_new(y, TIDE_F64, 1, &one, TIDE_WHERE_HEAP)) abort();
  double *Xd = (double *)X->data, *yd = (double *)y->data;
  for (int64_t i = 0; i < n; i++) {
    int c = (int)(urand() * k);
    yd[i] = c;
    for (int64_t j = 0; j < p; j++) {
      double v = urand() < 0.5 ? 0 : (ints ? (double)(int)(urand() * 4) : urand() * 2 - 1) +
                                     (j % k == c ? 1.5 : 0);
      Xd[i * p + j] = v;
    }
  }
}

static void test_against_libsvm(void) {
  tide_Array X, y;
  for (int ints = 1; ints >= 0; ints--) {
    blobs(&X, &y, 240, 6, 3, ints);
    int kernels[] = {TIDE_SVM_LINEAR, TIDE_SVM_POLY, TIDE_SVM_RBF, TIDE_SVM_SIGMOID};
    for (int t = 0; t < 4; t++)
      for (int pre = 0; pre <= 1; pre++) agree(&X, &y, 0, kernels[t], pre, 0, ints);
    agree(&X, &y, 0, TIDE_SVM_RBF, 0, 1, ints); /* Platt's sigmoids, seeded alike */
    agree(&X, &y, 0, TIDE_SVM_RBF, 1, 1, ints);
    /* regression: a smooth target of the same rows */
    double *yd = (double *)y.data, *Xd = (double *)X.data;
    for (int64_t i = 0; i < 240; i++) yd[i] = sin(Xd[i * 6]) + 0.5 * Xd[i * 6 + 1];
    for (int pre = 0; pre <= 1; pre++) agree(&X, &y, 1, TIDE_SVM_RBF, pre, 0, ints);
    agree(&X, &y, 1, TIDE_SVM_LINEAR, 0, 0, ints);
    tide_array_close(&X);
    tide_array_close(&y);
  }
  /* four classes, integer data: both inputs give libsvm's fit bit for bit */
  blobs(&X, &y, 200, 5, 4, 1);
  agree(&X, &y, 0, TIDE_SVM_RBF, 1, 0, 1);
  agree(&X, &y, 0, TIDE_SVM_LINEAR, 1, 0, 1);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* ------------------------------------------------------- subsets, errors */

static tide_SvmOpts defaults(int type) {
  tide_SvmOpts o;
  memset(&o, 0, sizeof o);
  o.type = type;
  o.k = (tide_SvmKernel){TIDE_SVM_RBF, 3, TIDE_SVM_GAMMA_SCALE, 0};
  o.C = 1;
  o.epsilon = 0.1;
  o.tol = 1e-3;
  o.cache_size = 200;
  o.shrinking = 1;
  o.precompute = -1;
  return o;
}

static void test_rows_and_gamma(void) {
  tide_Array X, y;
  blobs(&X, &y, 300, 5, 3, 0);
  int64_t *idx = malloc(180 * sizeof *idx);
  for (int64_t i = 0; i < 180; i++) idx[i] = (i * 7) % 300 + 1; /* 1-based, shuffled */
  tide_Rows sub = {.idx = idx, .n = 180, .stride = 1, .base = 1};
  tide_Array Xc, yc;
  mk(&Xc, 180, 5);
  int64_t n180 = 180;
  if (tide_array_new(&yc, TIDE_F64, 1, &n180, TIDE_WHERE_HEAP)) abort();
  for (int64_t i = 0; i < 180; i++) {
    memcpy(Xc.data + i * 5 * 8, X.data + (idx[i] - 1) * 5 * 8, 5 * 8);
    ((double *)yc.data)[i] = ((double *)y.data)[idx[i] - 1];
  }
  for (int pre = 0; pre <= 1; pre++) {
    tide_SvmOpts o = defaults(TIDE_SVM_SVC);
    o.precompute = pre;
    tide_Svm a, b;
    tide_Rows all = tide_rows_all(180);
    CHECK_EQ_INT(tide_svm_fit(&X, &y, &sub, &o, &a), 0);
    CHECK_EQ_INT(tide_svm_fit(&Xc, &yc, &all, &o, &b), 0);
    CHECK(a.k.gamma == b.k.gamma);
    CHECK_EQ_INT(a.nsv, b.nsv);
    int64_t same = 0;
    for (int64_t s = 0; s < a.nsv && s < b.nsv; s++) same += a.support[s] == idx[b.support[s]] - 1;
    CHECK_EQ_INT(same, a.nsv);
    CHECK(a.nsv == b.nsv && memcmp(a.coef, b.coef, (size_t)(2 * a.nsv) * 8) == 0);
    CHECK(memcmp(a.rho, b.rho, 3 * 8) == 0);
    CHECK(a.nsv == b.nsv && memcmp(a.sv, b.sv, (size_t)(5 * a.nsv) * 8) == 0);
    /* gamma "scale" is 1 / (p var) over the rows fitted */
    double mean = 0, var = 0, *v = (double *)Xc.data;
    for (int64_t i = 0; i < 900; i++) mean += v[i];
    mean /= 900;
    for (int64_t i = 0; i < 900; i++) var += (v[i] - mean) * (v[i] - mean);
    var /= 900;
    CHECK_NEAR(a.k.gamma, 1 / (5 * var), 1e-14);
    tide_svm_free(&a);
    tide_svm_free(&b);
  }
  tide_SvmOpts o = defaults(TIDE_SVM_SVC);
  o.k.gamma = TIDE_SVM_GAMMA_AUTO;
  tide_Svm a;
  tide_Rows all = tide_rows_all(300);
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &a), 0);
  CHECK(a.k.gamma == 1.0 / 5);
  tide_svm_free(&a);
  /* balanced class weights: n / (k count) */
  o = defaults(TIDE_SVM_SVC);
  o.balanced = 1;
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &a), 0);
  int64_t cnt[3] = {0, 0, 0};
  for (int64_t i = 0; i < 300; i++) cnt[(int)((double *)y.data)[i]]++;
  for (int c = 0; c < 3; c++) CHECK(a.class_weight[c] == 300.0 / (3.0 * (double)cnt[c]));
  tide_svm_free(&a);
  free(idx);
  tide_array_close(&Xc);
  tide_array_close(&yc);
  tide_array_close(&X);
  tide_array_close(&y);
}

static void test_errors(void) {
  tide_Array X, y;
  blobs(&X, &y, 40, 3, 2, 0);
  tide_Rows all = tide_rows_all(40);
  tide_Svm m;
  tide_SvmOpts o = defaults(TIDE_SVM_SVC);
  o.C = 0;
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "C must be a positive");
  o = defaults(TIDE_SVM_SVC);
  o.k.gamma = -3;
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "gamma");
  o = defaults(TIDE_SVM_SVR);
  o.epsilon = -1;
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "svr: epsilon");
  o = defaults(TIDE_SVM_SVC);
  o.tol = 0;
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_EINVAL);
  double lab[1] = {7}, w[1] = {2};
  o = defaults(TIDE_SVM_SVC);
  o.cw_label = lab;
  o.cw_weight = w;
  o.ncw = 1;
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "not classes of y");
  lab[0] = 1; /* a class: the other keeps weight 1 */
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_OK);
  CHECK(m.class_weight[0] == 1 && m.class_weight[1] == 2);
  tide_svm_free(&m);
  for (int64_t i = 0; i < 40; i++) ((double *)y.data)[i] = 3;
  o = defaults(TIDE_SVM_SVC);
  CHECK_EQ_INT(tide_svm_fit(&X, &y, &all, &o, &m), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "single class (3)");
  ((double *)X.data)[7] = NAN;
  o = defaults(TIDE_SVM_SVR);
  CHECK(tide_svm_fit(&X, &y, &all, &o, &m) != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "NaN");
  tide_array_close(&X);
  tide_array_close(&y);
}

int main(void) {
  test_kernel_blocks();
  test_against_libsvm();
  test_rows_and_gamma();
  test_errors();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail != 0;
}
