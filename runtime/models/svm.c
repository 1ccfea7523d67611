/*
** svm.c -- SVC and SVR through libsvm, predictions from the kept fields.
**
** Agreement with scikit-learn.  scikit-learn 1.2 carries its own copy of
** libsvm (3.x with dense rows, instance weights, sorted labels and its own
** random numbers); Debian's libsvm 3.24 has the same solver.  Two of its
** differences are worked around here:
**  - classes: upstream libsvm orders the classes by first appearance,
**    scikit-learn's copy sorts them.  The rows are handed over grouped by
**    class in sorted order (stable within a class), which is the order
**    libsvm's own grouping would give them, and the labels passed are the
**    class indices 0..k-1, so every binary machine sees the same rows in
**    the same order as scikit-learn's;
**  - output: libsvm prints to stdout; its print hook is pointed here,
**    where the solvers' iteration counts are read from it.
** What cannot match: Platt's sigmoids (probability) are fitted on a
** 5-fold split drawn with rand() (seeded with `seed`), scikit-learn's with
** its own generator; libsvm 3.24 has no iteration limit parameter (its
** solver stops at max(10^7, 100 l) iterations); kernel sums are rounded
** differently (scikit-learn's dense dot is BLAS's ddot), so on data that
** is not integer-valued results agree to rounding, not bit for bit.
**
** Input.  When the kernel matrix of the rows, in libsvm's nodes (16 bytes
** an entry), fits in cache_size MB, it is computed here by GEMM tiles and
** given to libsvm as a precomputed kernel: libsvm then fetches kernel
** values instead of computing them (each column of its cache otherwise
** costs n dot products of sparse rows).  Else the rows go as libsvm's
** sparse nodes, built once in one buffer: nonzeros only when at most a
** quarter of the entries are nonzero, all entries otherwise (a dense merge
** in libsvm's dot is faster; both sum the same products in the same order).
*/
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <libsvm/svm.h>

#include "svm.h"

#define TILE 128 /* rows of the kernel matrix per GEMM tile */

static const char *tname(int type) { return type == TIDE_SVM_SVR ? "svr" : "svc"; }

/* ------------------------------------------------------------ libsvm's output */

/* libsvm prints through one global hook; during a fit it points here.  Each
** solver run ends with "optimization finished, #iter = N"; a classification
** fit ends with "Total nSV = N" -- also the inner fits of probability's
** cross-validation, which is how their runs are told from the model's. */
static struct {
  int64_t *iter;
  char *inner; /* run followed by "Total nSV" */
  int64_t n, cap;
  int lost;    /* out of memory: counts unknown */
} trace;

static void on_print(const char *s) {
  const char *p = strstr(s, "#iter = ");
  if (p) {
    if (trace.n == trace.cap && !trace.lost) {
      int64_t cap = trace.cap ? 2 * trace.cap : 64;
      int64_t *it = tide__realloc(trace.iter, (size_t)cap * sizeof *it);
      if (it) trace.iter = it;
      char *in = it ? tide__realloc(trace.inner, (size_t)cap) : NULL;
      if (in) trace.inner = in;
      if (!it || !in) trace.lost = 1;
      else trace.cap = cap;
    }
    if (trace.lost) return;
    trace.iter[trace.n] = strtoll(p + 8, NULL, 10);
    trace.inner[trace.n++] = 0;
  } else if (strstr(s, "Total nSV") && trace.n > 0 && !trace.lost) {
    trace.inner[trace.n - 1] = 1;
  }
}

static void trace_reset(void) {
  free(trace.iter);
  free(trace.inner);
  memset(&trace, 0, sizeof trace);
}

/* ------------------------------------------------------------------ kernels */

/* base^times by squaring, the multiplications in libsvm's order */
static double powi(double base, int times) {
  double sq = base, r = 1.0;
  for (int t = times; t > 0; t /= 2) {
    if (t % 2 == 1) r *= sq;
    sq = sq * sq;
  }
  return r;
}

void tide_svm_kernel(const tide_SvmKernel *k, const double *A, int64_t na, const double *B,
                     int64_t m, int64_t p, const double *asq, const double *bsq, double *K) {
  if (na == 0 || m == 0) return;
  if (p == 0) memset(K, 0, (size_t)(na * m) * sizeof *K);
  else
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)na, (int)m, (int)p, 1.0, A, (int)p,
                B, (int)p, 0.0, K, (int)m);
  double g = k->gamma, c0 = k->coef0;
  switch (k->kernel) {
  case TIDE_SVM_POLY:
    for (int64_t i = 0; i < na * m; i++) K[i] = powi(g * K[i] + c0, k->degree);
    break;
  case TIDE_SVM_RBF:
    for (int64_t i = 0; i < na; i++) {
      double *Ki = K + i * m;
      for (int64_t j = 0; j < m; j++) {
        double d = asq[i] + bsq[j] - 2 * Ki[j];
        Ki[j] = exp(-g * (d > 0 ? d : 0));
      }
    }
    break;
  case TIDE_SVM_SIGMOID:
    for (int64_t i = 0; i < na * m; i++) K[i] = tanh(g * K[i] + c0);
    break;
  default: /* linear: the dot products */
    break;
  }
}

/* The kernel from a dot product v of rows i and j (squared norms si, sj),
** as libsvm's training kernel computes it. */
static double kval(const tide_SvmKernel *k, double v, double si, double sj, int diag) {
  switch (k->kernel) {
  case TIDE_SVM_POLY: return powi(k->gamma * v + k->coef0, k->degree);
  case TIDE_SVM_RBF: return diag ? 1.0 : exp(-k->gamma * (si + sj - 2 * v));
  case TIDE_SVM_SIGMOID: return tanh(k->gamma * v + k->coef0);
  default: return v;
  }
}

/* ---------------------------------------------------------------- checks */

static int check_opts(const tide_SvmOpts *o) {
  const char *nm = tname(o->type);
  if (o->type != TIDE_SVM_SVC && o->type != TIDE_SVM_SVR)
    return tide__seterr(TIDE_EINVAL, "svm: unknown model type %d", o->type);
  if (o->k.kernel < TIDE_SVM_LINEAR || o->k.kernel > TIDE_SVM_SIGMOID)
    return tide__seterr(TIDE_EINVAL, "%s: unknown kernel %d", nm, o->k.kernel);
  if (!(o->C > 0) || isinf(o->C))
    return tide__seterr(TIDE_EINVAL, "%s: C must be a positive finite number, got %g", nm, o->C);
  if (!(o->tol > 0) || isinf(o->tol))
    return tide__seterr(TIDE_EINVAL, "%s: tol must be a positive number, got %g", nm, o->tol);
  if (!(o->cache_size > 0) || isinf(o->cache_size))
    return tide__seterr(TIDE_EINVAL, "%s: cache_size must be a positive number of MB, got %g", nm,
                        o->cache_size);
  if (o->type == TIDE_SVM_SVR && (!(o->epsilon >= 0) || isinf(o->epsilon)))
    return tide__seterr(TIDE_EINVAL, "%s: epsilon must be >= 0, got %g", nm, o->epsilon);
  if (o->k.degree < 0)
    return tide__seterr(TIDE_EINVAL, "%s: degree must be >= 0, got %d", nm, o->k.degree);
  double g = o->k.gamma;
  if (g != TIDE_SVM_GAMMA_SCALE && g != TIDE_SVM_GAMMA_AUTO && (!(g >= 0) || isinf(g)))
    return tide__seterr(TIDE_EINVAL, "%s: gamma must be \"scale\", \"auto\" or a number >= 0, "
                        "got %g", nm, g);
  if (!isfinite(o->k.coef0))
    return tide__seterr(TIDE_EINVAL, "%s: coef0 must be a finite number", nm);
  for (int64_t i = 0; i < o->ncw; i++)
    if (!(o->cw_weight[i] > 0) || isinf(o->cw_weight[i]) || !isfinite(o->cw_label[i]))
      return tide__seterr(TIDE_EINVAL, "%s: class_weight must map labels to positive weights "
                          "(label %g, weight %g)", nm, o->cw_label[i], o->cw_weight[i]);
  return TIDE_OK;
}

/* Variance of every entry of the rows (numpy's X.var()), two passes. */
static int data_var(const tide_Array *X, const tide_Rows *rows, double *var) {
  tide_RowBlocks it;
  int64_t p = X->shape[1];
  double sum = 0, ss = 0, cnt = (double)rows->n * (double)p;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  while (tide_rowblocks_next(&it)) {
    double s = 0;
    for (int64_t i = 0; i < it.nb * p; i++) s += it.buf[i];
    sum += s;
  }
  double mean = sum / cnt;
  it.first = 0;
  it.nb = 0;
  while (tide_rowblocks_next(&it)) {
    double s = 0;
    for (int64_t i = 0; i < it.nb * p; i++) s += (it.buf[i] - mean) * (it.buf[i] - mean);
    ss += s;
  }
  tide_rowblocks_free(&it);
  *var = ss / cnt;
  return TIDE_OK;
}

/* --------------------------------------------------------------- the input */

typedef struct Input {
  int64_t n, p;
  int64_t *ord;   /* ord[r] = subset position of libsvm's row r */
  double *ylib;   /* libsvm's targets */
  struct svm_node **x;
  struct svm_node *nodes;
  int pre;        /* precomputed kernel */
} Input;

static void input_free(Input *in) {
  free(in->ord);
  free(in->ylib);
  free(in->x);
  free(in->nodes);
}

/* The rows' kernel matrix as libsvm's precomputed rows: row r is
** {0: r + 1} (its serial number), then {j + 1: K(r, j)}, then {-1}.  Rows
** are gathered once (in libsvm's order), the upper triangle is computed
** by GEMM tiles of TILE rows and mirrored, so K is exactly symmetric. */
static int build_precomputed(const tide_Array *X, const tide_Rows *rows,
                             const tide_SvmKernel *k, Input *in, const char *nm) {
  int64_t n = in->n, p = in->p, w = n + 2;
  double *Xg = tide__malloc((size_t)(n * (p ? p : 1)) * sizeof *Xg);
  double *sq = tide__malloc((size_t)n * sizeof *sq);
  double *T = tide__malloc((size_t)(TILE * n) * sizeof *T);
  int64_t *inv = tide__malloc((size_t)n * sizeof *inv);
  in->nodes = tide__malloc((size_t)(n * w) * sizeof *in->nodes);
  int rc = TIDE_OK;
  if (!Xg || !sq || !T || !inv || !in->nodes) {
    rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory for the kernel matrix of %" PRId64
                      " rows", nm, n);
    goto done;
  }
  for (int64_t r = 0; r < n; r++) inv[in->ord[r]] = r;
  tide_RowBlocks it;
  if ((rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK))) goto done;
  while (tide_rowblocks_next(&it))
    for (int64_t i = 0; i < it.nb; i++)
      memcpy(Xg + inv[it.first + i] * p, it.buf + i * p, (size_t)p * sizeof *Xg);
  tide_rowblocks_free(&it);
  for (int64_t r = 0; r < n; r++) {
    double s = 0;
    for (int64_t j = 0; j < p; j++) s += Xg[r * p + j] * Xg[r * p + j];
    sq[r] = s;
  }
  struct svm_node *N = in->nodes;
  for (int64_t a = 0; a < n; a += TILE) {
    int64_t b = a + TILE < n ? a + TILE : n, m = n - a;
    if (p > 0)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(b - a), (int)m, (int)p, 1.0,
                  Xg + a * p, (int)p, Xg + a * p, (int)p, 0.0, T, (int)m);
    else
      memset(T, 0, (size_t)((b - a) * m) * sizeof *T);
    /* the tile's rows: kernel values in place (columns i..n-1 of row i),
    ** then into row i's nodes */
    for (int64_t i = a; i < b; i++) {
      double *Ti = T + (i - a) * m; /* Ti[j - a]: column j */
      struct svm_node *row = N + i * w;
      for (int64_t j = i; j < n; j++) {
        double v = kval(k, Ti[j - a], sq[i], sq[j], i == j);
        Ti[j - a] = v;
        row[j + 1].index = (int)(j + 1);
        row[j + 1].value = v;
      }
    }
    /* mirror: rows j > i get columns a..b-1 from the tile, 8 rows at a
    ** time so that each read of T serves 8 writes */
    for (int64_t j0 = a + 1; j0 < n; j0 += 8) {
      int64_t j1 = j0 + 8 < n ? j0 + 8 : n;
      for (int64_t i = a; i < b && i < j1 - 1; i++) {
        const double *Ti = T + (i - a) * m;
        for (int64_t j = j0 > i + 1 ? j0 : i + 1; j < j1; j++) {
          struct svm_node *e = N + j * w + i + 1;
          e->index = (int)(i + 1);
          e->value = Ti[j - a];
        }
      }
    }
  }
  for (int64_t r = 0; r < n; r++) {
    N[r * w].index = 0;
    N[r * w].value = (double)(r + 1);
    N[r * w + n + 1].index = -1;
    N[r * w + n + 1].value = 0;
    in->x[r] = N + r * w;
  }
  in->pre = 1;
done:
  free(Xg);
  free(sq);
  free(T);
  free(inv);
  return rc;
}

/* The rows as libsvm's sparse nodes {j + 1: x_j} ... {-1} in one buffer. */
static int build_nodes(const tide_Array *X, const tide_Rows *rows, Input *in, const char *nm) {
  int64_t n = in->n, p = in->p, nnz = 0;
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  while (tide_rowblocks_next(&it))
    for (int64_t i = 0; i < it.nb * p; i++) nnz += it.buf[i] != 0;
  int dense = nnz * 4 > n * p; /* keep the zeros: a merge without branch misses */
  int64_t total = (dense ? n * p : nnz) + n;
  char what[64];
  snprintf(what, sizeof what, "%s's copy of the rows for libsvm", nm);
  int64_t *start = tide__malloc((size_t)n * sizeof *start);
  if (!start) rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory", nm);
  if (!rc) rc = tide__admit_memory((uint64_t)total * sizeof(struct svm_node), what);
  if (!rc && !(in->nodes = tide__malloc((size_t)total * sizeof *in->nodes)))
    rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory for %s", nm, what);
  if (rc) {
    free(start);
    tide_rowblocks_free(&it);
    return rc;
  }
  struct svm_node *q = in->nodes;
  it.first = 0;
  it.nb = 0;
  while (tide_rowblocks_next(&it)) {
    for (int64_t i = 0; i < it.nb; i++) {
      const double *r = it.buf + i * p;
      start[it.first + i] = q - in->nodes;
      for (int64_t j = 0; j < p; j++) {
        if (!dense && r[j] == 0) continue;
        q->index = (int)(j + 1);
        q->value = r[j];
        q++;
      }
      q->index = -1;
      q->value = 0;
      q++;
    }
  }
  tide_rowblocks_free(&it);
  for (int64_t r = 0; r < n; r++) in->x[r] = in->nodes + start[in->ord[r]];
  free(start);
  return TIDE_OK;
}

/* ------------------------------------------------------------------- fit */

void tide_svm_free(tide_Svm *m) {
  free(m->classes);
  free(m->class_weight);
  free(m->n_support);
  free(m->support);
  free(m->sv);
  free(m->coef);
  free(m->rho);
  free(m->probA);
  free(m->probB);
  free(m->n_iter);
  memset(m, 0, sizeof *m);
}

/* Class index of every row, the grouped order and the class counts. */
static int group_classes(const tide_Array *y, const tide_Rows *rows, tide_Svm *m, Input *in,
                         int64_t **count_out, const char *nm) {
  int64_t n = in->n, k = m->nclass;
  int64_t *code = tide__malloc((size_t)n * sizeof *code), *count = tide__calloc((size_t)k, sizeof *count);
  int64_t *pos = tide__malloc((size_t)k * sizeof *pos);
  double *yb = tide__malloc(TIDE_ROW_BLOCK * sizeof *yb);
  if (!code || !count || !pos || !yb) {
    free(code);
    free(count);
    free(pos);
    free(yb);
    return tide__seterr(TIDE_ENOMEM, "%s: out of memory", nm);
  }
  for (int64_t first = 0; first < n; first += TIDE_ROW_BLOCK) {
    int64_t nb = n - first < TIDE_ROW_BLOCK ? n - first : TIDE_ROW_BLOCK;
    tide_gather_col(y, rows, first, nb, 0, yb);
    for (int64_t i = 0; i < nb; i++) {
      double v = yb[i] == 0 ? 0.0 : yb[i];
      code[first + i] = tide_class_index(m->classes, k, v);
      count[code[first + i]]++;
    }
  }
  pos[0] = 0;
  for (int64_t c = 1; c < k; c++) pos[c] = pos[c - 1] + count[c - 1];
  for (int64_t i = 0; i < n; i++) { /* stable: rows of a class keep their order */
    int64_t r = pos[code[i]]++;
    in->ord[r] = i;
    in->ylib[r] = (double)code[i];
  }
  free(code);
  free(pos);
  free(yb);
  *count_out = count;
  return TIDE_OK;
}

/* scikit-learn's compute_class_weight: "balanced" gives n / (k count_c); a
** table gives its weight to each class it names (1 to the others), and
** is refused when it names labels y lacks while some class has none. */
static int class_weights(const tide_SvmOpts *o, tide_Svm *m, const int64_t *count, int64_t n,
                         const char *nm) {
  int64_t k = m->nclass, found = 0, missing = 0;
  for (int64_t c = 0; c < k; c++) {
    m->class_weight[c] = 1.0;
    if (o->balanced) m->class_weight[c] = (double)n / ((double)k * (double)count[c]);
  }
  if (o->balanced || o->ncw == 0) return TIDE_OK;
  for (int64_t c = 0; c < k; c++) {
    int hit = 0;
    for (int64_t i = 0; i < o->ncw; i++) {
      if (o->cw_label[i] == m->classes[c]) {
        m->class_weight[c] = o->cw_weight[i];
        hit = 1;
      }
    }
    found += hit;
    missing += !hit;
  }
  if (missing > 0 && found != o->ncw) {
    char buf[200];
    size_t len = 0;
    buf[0] = 0;
    for (int64_t c = 0; c < k && len < sizeof buf - 40; c++) {
      int hit = 0;
      for (int64_t i = 0; i < o->ncw; i++) hit |= o->cw_label[i] == m->classes[c];
      if (!hit)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.17g", len ? ", " : "",
                                m->classes[c]);
    }
    return tide__seterr(TIDE_EINVAL, "%s: class_weight names labels that are not classes of y, "
                        "and the classes %s are not in class_weight", nm, buf);
  }
  return TIDE_OK;
}

int tide_svm_fit(const tide_Array *X, const tide_Array *y, const tide_Rows *rows,
                 const tide_SvmOpts *o, tide_Svm *m) {
  memset(m, 0, sizeof *m);
  int rc = check_opts(o);
  if (rc) return rc;
  const char *nm = tname(o->type);
  if ((rc = tide_check_xy(X, y, NULL, rows, nm))) return rc;
  int64_t n = rows->n, p = X->shape[1];
  if (n == 0) return tide__seterr(TIDE_EINVAL, "%s: no rows to fit", nm);
  if (p == 0) return tide__seterr(TIDE_ESHAPE, "%s: X has no features (0 columns)", nm);
  if (n > INT_MAX - 2 || p > INT_MAX - 2) /* libsvm counts in int */
    return tide__seterr(TIDE_EINVAL, "%s: %" PRId64 " rows x %" PRId64 " features is more than "
                        "libsvm takes", nm, n, p);
  m->type = o->type;
  m->p = p;
  m->k = o->k;
  Input in;
  memset(&in, 0, sizeof in);
  in.n = n;
  in.p = p;
  int64_t *count = NULL;
  struct svm_model *model = NULL;
  in.ord = tide__malloc((size_t)n * sizeof *in.ord);
  in.ylib = tide__malloc((size_t)n * sizeof *in.ylib);
  in.x = tide__malloc((size_t)n * sizeof *in.x);
  if (!in.ord || !in.ylib || !in.x) {
    rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory", nm);
    goto fail;
  }
  if (o->type == TIDE_SVM_SVC) {
    if ((rc = tide_classes(y, rows, TIDE_SVM_MAX_CLASSES, nm, &m->classes, &m->nclass)))
      goto fail;
    if (m->nclass < 2) {
      rc = tide__seterr(TIDE_EINVAL, "%s: y has a single class (%.17g); need at least 2", nm,
                        m->classes[0]);
      goto fail;
    }
    if (!(m->class_weight = tide__malloc((size_t)m->nclass * sizeof *m->class_weight))) {
      rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory", nm);
      goto fail;
    }
    if ((rc = group_classes(y, rows, m, &in, &count, nm))) goto fail;
    if ((rc = class_weights(o, m, count, n, nm))) goto fail;
  } else {
    m->nclass = 2;
    for (int64_t i = 0; i < n; i++) in.ord[i] = i;
    for (int64_t first = 0; first < n; first += TIDE_ROW_BLOCK) {
      int64_t nb = n - first < TIDE_ROW_BLOCK ? n - first : TIDE_ROW_BLOCK;
      tide_gather_col(y, rows, first, nb, 0, in.ylib + first);
    }
  }
  m->npair = m->nclass * (m->nclass - 1) / 2;
  if (o->k.gamma == TIDE_SVM_GAMMA_AUTO) m->k.gamma = 1.0 / (double)p;
  if (o->k.gamma == TIDE_SVM_GAMMA_SCALE) {
    double var;
    if ((rc = data_var(X, rows, &var))) goto fail;
    m->k.gamma = var != 0 ? 1.0 / ((double)p * var) : 1.0;
  }
  double kbytes = (double)n * (double)(n + 2) * (double)sizeof(struct svm_node);
  int pre = o->precompute > 0 || (o->precompute < 0 && kbytes <= o->cache_size * 1048576.0);
  if (pre) {
    char what[64];
    snprintf(what, sizeof what, "%s's kernel matrix", nm);
    if (kbytes > 9e18) rc = tide__seterr(TIDE_ENOMEM, "%s: the kernel matrix is too large", nm);
    else rc = tide__admit_memory((uint64_t)kbytes, what);
    if (!rc) rc = build_precomputed(X, rows, &m->k, &in, nm);
  } else {
    rc = build_nodes(X, rows, &in, nm);
  }
  if (rc) goto fail;
  m->precomputed = in.pre;

  struct svm_problem prob = {(int)n, in.ylib, in.x};
  struct svm_parameter par;
  memset(&par, 0, sizeof par);
  int *wlab = NULL;
  par.svm_type = o->type == TIDE_SVM_SVC ? C_SVC : EPSILON_SVR;
  par.kernel_type = in.pre ? PRECOMPUTED : m->k.kernel;
  par.degree = m->k.degree;
  par.gamma = m->k.gamma;
  par.coef0 = m->k.coef0;
  par.cache_size = o->cache_size;
  par.eps = o->tol;
  par.C = o->C;
  par.nu = 0.5;
  par.p = o->epsilon;
  par.shrinking = o->shrinking ? 1 : 0;
  par.probability = o->type == TIDE_SVM_SVC && o->probability ? 1 : 0;
  if (o->type == TIDE_SVM_SVC) {
    if (!(wlab = tide__malloc((size_t)m->nclass * sizeof *wlab))) {
      rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory", nm);
      goto fail;
    }
    for (int64_t c = 0; c < m->nclass; c++) wlab[c] = (int)c;
    par.nr_weight = (int)m->nclass;
    par.weight_label = wlab;
    par.weight = m->class_weight;
  }
  const char *bad = svm_check_parameter(&prob, &par);
  if (bad) {
    free(wlab);
    rc = tide__seterr(TIDE_EINVAL, "%s: libsvm refuses the parameters: %s", nm, bad);
    goto fail;
  }
  trace_reset();
  svm_set_print_string_function(on_print);
  if (par.probability) srand(o->seed);
  model = svm_train(&prob, &par);
  free(wlab);
  if (!model || model->l < 0) {
    rc = tide__seterr(TIDE_ENOMEM, "%s: libsvm's fit failed", nm);
    goto fail;
  }

  /* keep what prediction needs, then free libsvm's model */
  int64_t nsv = model->l, k = m->nclass, np = m->npair;
  m->nsv = nsv;
  m->support = tide__malloc((size_t)(nsv ? nsv : 1) * sizeof *m->support);
  m->coef = tide__malloc((size_t)((k - 1) * (nsv ? nsv : 1)) * sizeof *m->coef);
  m->rho = tide__malloc((size_t)np * sizeof *m->rho);
  m->n_iter = tide__malloc((size_t)np * sizeof *m->n_iter);
  m->sv = tide__malloc((size_t)((nsv ? nsv : 1) * p) * sizeof *m->sv);
  if (o->type == TIDE_SVM_SVC) m->n_support = tide__malloc((size_t)k * sizeof *m->n_support);
  if (par.probability && model->probA && model->probB) {
    m->probA = tide__malloc((size_t)np * sizeof *m->probA);
    m->probB = tide__malloc((size_t)np * sizeof *m->probB);
  }
  if (!m->support || !m->coef || !m->rho || !m->n_iter || !m->sv ||
      (o->type == TIDE_SVM_SVC && !m->n_support) ||
      (par.probability && model->probA && (!m->probA || !m->probB))) {
    rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory for the model", nm);
    goto fail;
  }
  if (o->type == TIDE_SVM_SVC && model->nr_class != k) {
    rc = tide__seterr(TIDE_EINVAL, "%s: libsvm found %d classes, not %" PRId64, nm,
                      model->nr_class, k);
    goto fail;
  }
  for (int64_t s = 0; s < nsv; s++)
    m->support[s] = tide_rows_at(rows, in.ord[model->sv_indices[s] - 1]);
  for (int64_t c = 0; c < k - 1; c++)
    memcpy(m->coef + c * nsv, model->sv_coef[c], (size_t)nsv * sizeof *m->coef);
  memcpy(m->rho, model->rho, (size_t)np * sizeof *m->rho);
  if (m->n_support)
    for (int64_t c = 0; c < k; c++) m->n_support[c] = model->nSV[c];
  if (m->probA) {
    memcpy(m->probA, model->probA, (size_t)np * sizeof *m->probA);
    memcpy(m->probB, model->probB, (size_t)np * sizeof *m->probB);
  }
  svm_free_and_destroy_model(&model);
  input_free(&in);
  memset(&in, 0, sizeof in);

  /* the solvers' iteration counts: runs not followed by "Total nSV" (and
  ** the last), in order; each against libsvm's cap max(10^7, 100 l) */
  int64_t nf = 0;
  for (int64_t r = 0; r < trace.n; r++)
    if (!trace.inner[r] || r == trace.n - 1) nf++;
  m->converged = 1;
  for (int64_t q = 0; q < np; q++) m->n_iter[q] = -1;
  if (!trace.lost && nf == np) {
    int64_t q = 0, a = 0, b = 1;
    for (int64_t r = 0; r < trace.n; r++) {
      if (trace.inner[r] && r != trace.n - 1) continue;
      int64_t l = o->type == TIDE_SVM_SVR ? 2 * n : count[a] + count[b];
      int64_t cap = 100 * l > 10000000 ? 100 * l : 10000000;
      if (cap > INT_MAX) cap = INT_MAX;
      m->n_iter[q++] = trace.iter[r];
      if (trace.iter[r] >= cap) m->converged = 0;
      if (++b == m->nclass) b = ++a + 1;
    }
  }
  trace_reset();
  free(count);
  count = NULL;

  /* the support vectors, gathered from X */
  tide_Rows sr = {.idx = m->support, .n = nsv, .stride = 1};
  tide_RowBlocks it;
  if ((rc = tide_rowblocks_init(&it, X, &sr, TIDE_ROW_BLOCK))) goto fail;
  while (tide_rowblocks_next(&it))
    memcpy(m->sv + it.first * p, it.buf, (size_t)(it.nb * p) * sizeof *m->sv);
  tide_rowblocks_free(&it);
  return TIDE_OK;

fail:
  if (model) svm_free_and_destroy_model(&model);
  trace_reset();
  input_free(&in);
  free(count);
  tide_svm_free(m);
  return rc;
}

/* --------------------------------------------------------------- predict */

/* Platt's sigmoid 1 / (1 + exp(dec A + B)), without cancellation */
static double sigmoid(double dec, double A, double B) {
  double f = dec * A + B;
  if (f >= 0) return exp(-f) / (1.0 + exp(-f));
  return 1.0 / (1 + exp(f));
}

void tide_svm_couple(int64_t k, const double *r, double *p, double *work) {
  double *Q = work, *Qp = work + k * k;
  for (int64_t t = 0; t < k; t++) {
    p[t] = 1.0 / (double)k;
    Q[t * k + t] = 0;
    for (int64_t j = 0; j < t; j++) {
      Q[t * k + t] += r[j * k + t] * r[j * k + t];
      Q[t * k + j] = Q[j * k + t];
    }
    for (int64_t j = t + 1; j < k; j++) {
      Q[t * k + t] += r[j * k + t] * r[j * k + t];
      Q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
  }
  int64_t max_iter = k > 100 ? k : 100;
  double eps = 0.005 / (double)k;
  for (int64_t iter = 0; iter < max_iter; iter++) {
    double pQp = 0, worst = 0;
    for (int64_t t = 0; t < k; t++) { /* recomputed each sweep, for accuracy */
      Qp[t] = 0;
      for (int64_t j = 0; j < k; j++) Qp[t] += Q[t * k + j] * p[j];
      pQp += p[t] * Qp[t];
    }
    for (int64_t t = 0; t < k; t++) {
      double e = fabs(Qp[t] - pQp);
      if (e > worst) worst = e;
    }
    if (worst < eps) break;
    for (int64_t t = 0; t < k; t++) {
      double diff = (-Qp[t] + pQp) / Q[t * k + t];
      p[t] += diff;
      pQp = (pQp + diff * (diff * Q[t * k + t] + 2 * Qp[t])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; j++) {
        Qp[j] = (Qp[j] + diff * Q[t * k + j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
}

/* Decision values of one row (libsvm's sums, in its order) from its
** kernel values Kr[nsv]; start[c] is the first support vector of class c. */
static void ovo(const tide_SvmDual *d, const int64_t *start, const double *Kr, double *dec) {
  int64_t k = d->nclass, nsv = d->nsv, q = 0;
  for (int64_t i = 0; i < k; i++) {
    for (int64_t j = i + 1; j < k; j++, q++) {
      const double *c1 = d->coef + (j - 1) * nsv, *c2 = d->coef + i * nsv;
      double sum = 0;
      for (int64_t s = start[i]; s < start[i] + d->n_support[i]; s++) sum += c1[s] * Kr[s];
      for (int64_t s = start[j]; s < start[j] + d->n_support[j]; s++) sum += c2[s] * Kr[s];
      dec[q] = sum - d->rho[q];
    }
  }
}

/* scikit-learn's _ovr_decision_function(dec < 0, -dec, k) for one row */
static void ovr(int64_t k, const double *dec, double *out, double *conf) {
  int64_t q = 0;
  for (int64_t c = 0; c < k; c++) out[c] = conf[c] = 0;
  for (int64_t i = 0; i < k; i++) {
    for (int64_t j = i + 1; j < k; j++, q++) {
      conf[i] += dec[q];
      conf[j] -= dec[q];
      if (dec[q] < 0) out[j] += 1;
      else out[i] += 1;
    }
  }
  for (int64_t c = 0; c < k; c++) out[c] += conf[c] / (3 * (fabs(conf[c]) + 1));
}

int tide_svm_predict(const tide_Array *X, const tide_Rows *rows, const tide_SvmDual *d,
                     int mode, void *out) {
  const char *nm = tname(d->type);
  if (X->ndim != 2)
    return tide__seterr(TIDE_ESHAPE, "%s: X must be 2-dimensional (rows x features)", nm);
  if (X->shape[1] != d->p)
    return tide__seterr(TIDE_ESHAPE, "%s: X has %" PRId64 " features, but the model was fitted "
                        "on %" PRId64, nm, X->shape[1], d->p);
  if (d->type == TIDE_SVM_SVR ? mode != TIDE_SVM_VALUE : mode == TIDE_SVM_VALUE)
    return tide__seterr(TIDE_EINVAL, "%s: no such prediction", nm);
  if (mode == TIDE_SVM_PROBA && (!d->probA || !d->probB))
    return tide__seterr(TIDE_EINVAL, "%s: predict_proba needs a model fitted with probability "
                        "= true", nm);
  if (rows->n == 0) return TIDE_OK;
  int rc = tide_check_xy(X, NULL, NULL, rows, nm);
  if (rc) return rc;
  int64_t p = d->p, nsv = d->nsv, k = d->nclass, np = k * (k - 1) / 2;
  int64_t m = nsv ? nsv : 1, block = (1 << 18) / m;
  if (block > TIDE_ROW_BLOCK) block = TIDE_ROW_BLOCK;
  if (block < 16) block = 16;
  size_t kk = (size_t)(k * k);
  double *K = tide__malloc((size_t)(block * m) * sizeof *K);
  double *svsq = tide__malloc((size_t)m * sizeof *svsq), *xsq = tide__malloc((size_t)block * sizeof *xsq);
  double *dec = tide__malloc((size_t)(np ? np : 1) * sizeof *dec);
  double *work = tide__malloc((kk + (size_t)(2 * k) + 1) * sizeof *work); /* pairwise r, or ovr's */
  double *cwork = tide__malloc((kk + (size_t)k + 1) * sizeof *cwork);
  int64_t *start = tide__malloc((size_t)(k ? k : 1) * sizeof *start);
  int64_t *votes = tide__malloc((size_t)(k ? k : 1) * sizeof *votes);
  if (!K || !svsq || !xsq || !dec || !work || !cwork || !start || !votes) {
    rc = tide__seterr(TIDE_ENOMEM, "%s: out of memory for a row block", nm);
    goto done;
  }
  if (d->type == TIDE_SVM_SVC) {
    start[0] = 0;
    for (int64_t c = 1; c < k; c++) start[c] = start[c - 1] + d->n_support[c - 1];
  }
  for (int64_t s = 0; s < nsv; s++) {
    double v = 0;
    for (int64_t j = 0; j < p; j++) v += d->sv[s * p + j] * d->sv[s * p + j];
    svsq[s] = v;
  }
  tide_RowBlocks it;
  if ((rc = tide_rowblocks_init(&it, X, rows, block))) goto done;
  while (tide_rowblocks_next(&it)) {
    int64_t nb = it.nb;
    for (int64_t i = 0; i < nb; i++) {
      double v = 0;
      for (int64_t j = 0; j < p; j++) v += it.buf[i * p + j] * it.buf[i * p + j];
      xsq[i] = v;
    }
    tide_svm_kernel(&d->k, it.buf, nb, d->sv, nsv, p, xsq, svsq, K);
    for (int64_t i = 0; i < nb; i++) {
      const double *Kr = K + i * nsv;
      int64_t row = it.first + i;
      if (mode == TIDE_SVM_VALUE) {
        double sum = 0;
        for (int64_t s = 0; s < nsv; s++) sum += d->coef[s] * Kr[s];
        ((double *)out)[row] = sum - d->rho[0];
        continue;
      }
      ovo(d, start, Kr, dec);
      double *o = (double *)out;
      switch (mode) {
      case TIDE_SVM_OVO:
        memcpy(o + row * np, dec, (size_t)np * sizeof *dec);
        break;
      case TIDE_SVM_OVR:
        ovr(k, dec, o + row * k, work);
        break;
      case TIDE_SVM_ARGMAX: {
        ovr(k, dec, work, work + k);
        int64_t best = 0;
        for (int64_t c = 1; c < k; c++) if (work[c] > work[best]) best = c;
        ((int64_t *)out)[row] = best;
        break;
      }
      case TIDE_SVM_PROBA: {
        double *r = work, *pr = o + row * k;
        int64_t q = 0;
        for (int64_t a = 0; a < k; a++) {
          for (int64_t b = a + 1; b < k; b++, q++) {
            double v = sigmoid(dec[q], d->probA[q], d->probB[q]);
            v = v < 1e-7 ? 1e-7 : v > 1 - 1e-7 ? 1 - 1e-7 : v;
            r[a * k + b] = v;
            r[b * k + a] = 1 - v;
          }
        }
        if (k == 2) {
          pr[0] = r[1];
          pr[1] = r[2];
        } else {
          tide_svm_couple(k, r, pr, cwork);
        }
        break;
      }
      default: { /* VOTE: > 0 votes for the first class of the pair */
        int64_t q = 0, best = 0;
        for (int64_t c = 0; c < k; c++) votes[c] = 0;
        for (int64_t a = 0; a < k; a++)
          for (int64_t b = a + 1; b < k; b++, q++) votes[dec[q] > 0 ? a : b]++;
        for (int64_t c = 1; c < k; c++) if (votes[c] > votes[best]) best = c;
        ((int64_t *)out)[row] = best;
        break;
      }
      }
    }
  }
  tide_rowblocks_free(&it);
done:
  free(K);
  free(svsq);
  free(xsq);
  free(dec);
  free(work);
  free(cwork);
  free(start);
  free(votes);
  return rc;
}
