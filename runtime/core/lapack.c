/*
** lapack.c -- tide.linalg over LAPACKE (see lapack.h).
**
** LAPACK works on column-major f64 buffers.  A C-ordered matrix copied
** as it is reads as its transpose in column-major order, and several
** answers come straight from the transpose: inv(A^T) = inv(A)^T, det(A^T)
** = det(A), the lower triangle of A is the upper one of A^T (cholesky,
** eigh), and A^T = U' S V'^T gives A = V' S U'^T, whose factors, read
** back in row-major order, are already U and Vt (svd, pinv).  Those
** functions make one plain copy of the input and, for f64 results, let
** LAPACK write into the result arrays themselves.  solve, lstsq, qr and
** eig transpose on the way in and out (tiles of 32 x 32), as numpy does.
*/
#include <cblas.h>
#include <float.h>
#include <inttypes.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lapack.h"

enum { TILE = 32 };

/* ------------------------------------------------------------ checks */

static int64_t nrows(const tide_Array *a) { return a->ndim >= 1 ? a->shape[0] : 1; }
static int64_t ncols(const tide_Array *a) { return a->ndim == 2 ? a->shape[1] : 1; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int check_matrix(const tide_Array *A, bool square) {
  char buf[64];
  if (!A->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (A->ndim != 2)
    return tide__seterr(TIDE_ESHAPE, "a matrix (2-D array) expected, got a %d-D array", A->ndim);
  if (square && A->shape[0] != A->shape[1])
    return tide__seterr(TIDE_ESHAPE, "a square matrix expected, got %s",
                        tide_shape_str(2, A->shape, buf, sizeof buf));
  if (A->shape[0] > INT_MAX / 2 || A->shape[1] > INT_MAX / 2)
    return tide__seterr(TIDE_EINVAL, "a matrix of %s is too large for LAPACK's 32-bit sizes",
                        tide_shape_str(2, A->shape, buf, sizeof buf));
  return TIDE_OK;
}

/* B of A x = B: a vector or a matrix with A's row count. */
static int check_rhs(const tide_Array *A, const tide_Array *B) {
  char b1[64], b2[64];
  if (!B->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (B->ndim < 1 || B->ndim > 2)
    return tide__seterr(TIDE_ESHAPE, "B must be a vector or a matrix, got a %d-D array", B->ndim);
  if (B->shape[0] != A->shape[0])
    return tide__seterr(TIDE_ESHAPE, "shapes %s and %s do not align",
                        tide_shape_str(A->ndim, A->shape, b1, sizeof b1),
                        tide_shape_str(B->ndim, B->shape, b2, sizeof b2));
  if (ncols(B) > INT_MAX / 2)
    return tide__seterr(TIDE_EINVAL, "B has too many columns for LAPACK's 32-bit sizes");
  return TIDE_OK;
}

static int out_dtype(const tide_Array *a, const tide_Array *b) {
  return a->dtype == TIDE_F32 && (!b || b->dtype == TIDE_F32) ? TIDE_F32 : TIDE_F64;
}

static double eps_of(int dt) { return dt == TIDE_F32 ? (double)FLT_EPSILON : DBL_EPSILON; }

static int lapack_bug(const char *routine, lapack_int info) {
  return tide__seterr(TIDE_EINVAL, "%s: argument %d had an illegal value", routine, (int)-info);
}

/* TIDE_OK when the n values at a are finite.  The iterative routines
** (SVD, least squares, eigenvalues) are given no NaN or infinity: on
** some inputs with them dbdsqr iterated past a minute (fuzz_api, pinv of
** [-inf 0 1 1.58]); numpy answers such a matrix with a LinAlgError too. */
static int finite_in(const double *a, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(a[i]))
      return tide__seterr(TIDE_EINVAL, "%s of a matrix that holds NaN or infinity", what);
  return TIDE_OK;
}

/* ------------------------------------------------------------ buffers */

/* malloc'd room for count doubles (at least one), checked against the
** memory the machine has left. */
static double *work_new(int64_t count, int *rc) {
  if (count < 1) count = 1;
  if ((uint64_t)count > SIZE_MAX / sizeof(double)) {
    *rc = tide__seterr(TIDE_ENOMEM, "a LAPACK workspace of %" PRId64 " values is too large", count);
    return NULL;
  }
  size_t bytes = (size_t)count * sizeof(double);
  if ((*rc = tide__admit_memory(bytes, "a LAPACK workspace"))) return NULL;
  double *p = tide__malloc(bytes);
  if (!p) {
    char b[32];
    *rc = tide__seterr(TIDE_ENOMEM, "cannot allocate %s for a LAPACK workspace",
                       tide_fmt_bytes((double)bytes, b, sizeof b));
  }
  return p;
}

static lapack_int *iwork_new(int64_t count, int *rc) {
  return (lapack_int *)work_new((count * (int64_t)sizeof(lapack_int) + 7) / 8, rc);
}

/* The size a workspace query answered, as a count. */
static lapack_int query_size(double w) {
  if (!(w >= 1)) return 1;
  return w >= (double)INT_MAX ? INT_MAX : (lapack_int)(w + 0.5);
}

/* ------------------------------------------------------------ copies */

static inline const unsigned char *at(const tide_Array *a, int64_t i, int64_t j) {
  return a->data + i * a->strides[0] + (a->ndim == 2 ? j * a->strides[1] : 0);
}

/* dst[i + j ld] = A(i, j), column-major; a vector is one column. */
static void load_cm(const tide_Array *A, double *dst, int64_t ld) {
  int64_t m = nrows(A), n = ncols(A);
  int dt = A->dtype;
  for (int64_t i0 = 0; i0 < m; i0 += TILE)
    for (int64_t j0 = 0; j0 < n; j0 += TILE) {
      int64_t i1 = min64(i0 + TILE, m), j1 = min64(j0 + TILE, n);
      for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++)
          dst[i + j * ld] = dt == TIDE_F64 ? *(const double *)at(A, i, j)
                                           : tide_load_f64(dt, at(A, i, j));
    }
}

/* dst[i n + j] = A(i, j), row-major: A^T in column-major order. */
static void load_rm(const tide_Array *A, double *dst) {
  int64_t m = nrows(A), n = ncols(A);
  if (A->dtype == TIDE_F64 && tide_array_is_c_contiguous(A)) {
    if (m > 0 && n > 0) memcpy(dst, A->data, (size_t)(m * n) * sizeof(double));
    return;
  }
  int dt = A->dtype;
  for (int64_t i0 = 0; i0 < m; i0 += TILE)
    for (int64_t j0 = 0; j0 < n; j0 += TILE) {
      int64_t i1 = min64(i0 + TILE, m), j1 = min64(j0 + TILE, n);
      for (int64_t j = j0; j < j1; j++)
        for (int64_t i = i0; i < i1; i++)
          dst[i * n + j] = tide_load_f64(dt, at(A, i, j));
    }
}

/* out (C-ordered, f64 or f32, m x n or a vector of m) = src column-major. */
static void store_cm(const double *src, int64_t ld, tide_Array *out) {
  int64_t m = nrows(out), n = ncols(out);
  for (int64_t j0 = 0; j0 < n; j0 += TILE)
    for (int64_t i0 = 0; i0 < m; i0 += TILE) {
      int64_t i1 = min64(i0 + TILE, m), j1 = min64(j0 + TILE, n);
      for (int64_t j = j0; j < j1; j++)
        for (int64_t i = i0; i < i1; i++) {
          if (out->dtype == TIDE_F64) ((double *)out->data)[i * n + j] = src[i + j * ld];
          else ((float *)out->data)[i * n + j] = (float)src[i + j * ld];
        }
    }
}

/* out (C-ordered) = src in row-major order; nothing when src is out's data. */
static void store_rm(const double *src, tide_Array *out) {
  if ((const void *)src == (const void *)out->data) return;
  int64_t k = tide_array_size(out);
  if (out->dtype == TIDE_F64) {
    if (k) memcpy(out->data, src, (size_t)k * sizeof(double));
  } else {
    for (int64_t i = 0; i < k; i++) ((float *)out->data)[i] = (float)src[i];
  }
}

/* Transposes a square n x n buffer in place. */
static void transpose_square(double *a, int64_t n) {
  for (int64_t i0 = 0; i0 < n; i0 += TILE)
    for (int64_t j0 = i0; j0 < n; j0 += TILE) {
      int64_t i1 = min64(i0 + TILE, n), j1 = min64(j0 + TILE, n);
      for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0 == i0 ? i + 1 : j0; j < j1; j++) {
          double t = a[i * n + j];
          a[i * n + j] = a[j * n + i];
          a[j * n + i] = t;
        }
    }
}

/* A new result; its data is where LAPACK may write when it is f64. */
static int new_out(tide_Array *out, int dt, int ndim, int64_t d0, int64_t d1) {
  int64_t shape[2] = {d0, d1};
  return tide_array_new(out, dt, ndim, shape, TIDE_WHERE_AUTO);
}

/* The f64 buffer for a result: its own data when f64, else a workspace. */
static double *buf_for(tide_Array *out, int64_t count, int *rc) {
  if (out->dtype == TIDE_F64) return (double *)out->data;
  return work_new(count, rc);
}

static void buf_free(tide_Array *out, double *buf) {
  if (buf && (void *)buf != (void *)out->data) free(buf);
}

static void close_all(tide_Array *a, tide_Array *b, tide_Array *c) {
  if (a) tide_array_close(a);
  if (b) tide_array_close(b);
  if (c) tide_array_close(c);
}

/* ------------------------------------------------------------ solve */

int tide_linalg_solve(const tide_Array *A, const tide_Array *B, tide_Array *X) {
  memset(X, 0, sizeof *X);
  int rc = check_matrix(A, true);
  if (!rc) rc = check_rhs(A, B);
  if (rc) return rc;
  int64_t n = A->shape[0], k = ncols(B);
  int dt = out_dtype(A, B);
  if ((rc = tide_array_new(X, dt, B->ndim, B->shape, TIDE_WHERE_AUTO))) return rc;
  if (n == 0 || k == 0) return TIDE_OK;
  double *a = work_new(n * n, &rc), *b = NULL;
  lapack_int *ipiv = a ? iwork_new(n, &rc) : NULL;
  /* a vector's solution is its own column-major buffer */
  bool direct = dt == TIDE_F64 && k == 1;
  if (ipiv) b = direct ? (double *)X->data : work_new(n * k, &rc);
  if (b) {
    load_cm(A, a, n);
    load_cm(B, b, n);
    lapack_int info = LAPACKE_dgesv_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)k, a,
                                         (lapack_int)n, ipiv, b, (lapack_int)n);
    if (info > 0) rc = tide__seterr(TIDE_EINVAL, "matrix is singular");
    else if (info < 0) rc = lapack_bug("dgesv", info);
    else if (!direct) store_cm(b, n, X);
  }
  if (!direct) free(b);
  free(ipiv);
  free(a);
  if (rc) tide_array_close(X);
  return rc;
}

/* ------------------------------------------------------------ lstsq */

int tide_linalg_lstsq(const tide_Array *A, const tide_Array *B, double rcond, tide_Array *x,
                      tide_Array *resid, int64_t *rank, tide_Array *s) {
  memset(x, 0, sizeof *x);
  memset(resid, 0, sizeof *resid);
  memset(s, 0, sizeof *s);
  *rank = 0;
  int rc = check_matrix(A, false);
  if (!rc) rc = check_rhs(A, B);
  if (rc) return rc;
  int64_t m = A->shape[0], n = A->shape[1], k = ncols(B), mn = min64(m, n);
  int64_t ldb = max64(1, max64(m, n)), lda = max64(1, m);
  int dt = out_dtype(A, B);
  if (rcond < 0) rcond = eps_of(dt) * (double)max64(m, n);
  if ((rc = new_out(x, dt, B->ndim, n, k)) || (rc = new_out(s, dt, 1, mn, 0))) {
    close_all(x, s, NULL);
    return rc;
  }
  double *a = work_new(m * n, &rc), *b = NULL, *sv = NULL, *work = NULL;
  lapack_int *iwork = NULL, r = 0;
  if (a) b = work_new(ldb * k, &rc);
  if (b) sv = work_new(mn, &rc);
  if (sv) {
    memset(b, 0, (size_t)(ldb * k) * sizeof(double));
    load_cm(B, b, ldb);
    if (mn > 0) {
      load_cm(A, a, lda);
      rc = finite_in(a, m * n, "least squares");
    }
    if (!rc && mn > 0 && k > 0) {
      double wq = 0;
      lapack_int iq = 0;
      lapack_int info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n,
                                            (lapack_int)k, a, (lapack_int)lda, b,
                                            (lapack_int)ldb, sv, rcond, &r, &wq, -1, &iq);
      if (info < 0) rc = lapack_bug("dgelsd", info);
      if (!rc && (work = work_new(query_size(wq), &rc)) &&
          (iwork = iwork_new(iq > 1 ? iq : 1, &rc))) {
        info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, (lapack_int)k,
                                   a, (lapack_int)lda, b, (lapack_int)ldb, sv, rcond, &r, work,
                                   query_size(wq), iwork);
        if (info > 0)
          rc = tide__seterr(TIDE_EINVAL, "SVD did not converge in least squares (dgelsd)");
        else if (info < 0)
          rc = lapack_bug("dgelsd", info);
      }
    } else if (!rc && mn > 0) { /* no right-hand side: the rank and singular values */
      double wq = 0;
      lapack_int iq = 0, ldb1 = (lapack_int)ldb;
      lapack_int info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, 1, a,
                                            (lapack_int)lda, b, ldb1, sv, rcond, &r, &wq, -1, &iq);
      double *b1 = NULL;
      if (info < 0) rc = lapack_bug("dgelsd", info);
      if (!rc && (b1 = work_new(ldb, &rc)) && (work = work_new(query_size(wq), &rc)) &&
          (iwork = iwork_new(iq > 1 ? iq : 1, &rc))) {
        memset(b1, 0, (size_t)ldb * sizeof(double));
        info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, 1, a,
                                   (lapack_int)lda, b1, ldb1, sv, rcond, &r, work, query_size(wq),
                                   iwork);
        if (info > 0)
          rc = tide__seterr(TIDE_EINVAL, "SVD did not converge in least squares (dgelsd)");
        else if (info < 0)
          rc = lapack_bug("dgelsd", info);
      }
      free(b1);
    }
  }
  if (!rc) {
    *rank = r;
    /* x: the first n rows of b (zeros when A has no rows: b was cleared) */
    store_cm(b, ldb, x);
    for (int64_t i = 0; i < mn; i++) tide_store_f64(dt, s->data + i * tide_dtype_size(dt), sv[i]);
    /* residuals when the fit has full column rank and more rows than
    ** columns (for A without columns, b itself) */
    bool full = r == n && m > n;
    rc = new_out(resid, dt, 1, full ? k : 0, 0);
    for (int64_t j = 0; !rc && full && j < k; j++) {
      double ss = 0;
      for (int64_t i = n; i < m; i++) ss += b[i + j * ldb] * b[i + j * ldb];
      tide_store_f64(dt, resid->data + j * tide_dtype_size(dt), ss);
    }
  }
  free(iwork);
  free(work);
  free(sv);
  free(b);
  free(a);
  if (rc) close_all(x, s, resid);
  return rc;
}

/* ------------------------------------------------------------ inv, det */

int tide_linalg_inv(const tide_Array *A, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int rc = check_matrix(A, true);
  if (rc) return rc;
  int64_t n = A->shape[0];
  if ((rc = new_out(out, out_dtype(A, NULL), 2, n, n))) return rc;
  if (n == 0) return TIDE_OK;
  /* row-major A is column-major A^T, and inv(A^T) read back is inv(A) */
  double *a = buf_for(out, n * n, &rc), *work = NULL;
  lapack_int *ipiv = a ? iwork_new(n, &rc) : NULL;
  if (ipiv) {
    load_rm(A, a);
    lapack_int info = LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, a,
                                          (lapack_int)n, ipiv);
    if (info > 0) rc = tide__seterr(TIDE_EINVAL, "matrix is singular");
    else if (info < 0) rc = lapack_bug("dgetrf", info);
    double wq = 0;
    if (!rc && (info = LAPACKE_dgetri_work(LAPACK_COL_MAJOR, (lapack_int)n, a, (lapack_int)n, ipiv,
                                           &wq, -1)) < 0)
      rc = lapack_bug("dgetri", info);
    if (!rc && (work = work_new(query_size(wq), &rc))) {
      info = LAPACKE_dgetri_work(LAPACK_COL_MAJOR, (lapack_int)n, a, (lapack_int)n, ipiv, work,
                                 query_size(wq));
      if (info > 0) rc = tide__seterr(TIDE_EINVAL, "matrix is singular");
      else if (info < 0) rc = lapack_bug("dgetri", info);
      else store_rm(a, out);
    }
  }
  free(work);
  free(ipiv);
  buf_free(out, a);
  if (rc) tide_array_close(out);
  return rc;
}

int tide_linalg_slogdet(const tide_Array *A, double *sign, double *logabsdet) {
  *sign = 1;
  *logabsdet = 0;
  int rc = check_matrix(A, true);
  if (rc) return rc;
  int64_t n = A->shape[0];
  if (n == 0) return TIDE_OK;
  double *a = work_new(n * n, &rc);
  lapack_int *ipiv = a ? iwork_new(n, &rc) : NULL;
  if (ipiv) {
    load_rm(A, a); /* det(A^T) = det(A) */
    lapack_int info = LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, a,
                                          (lapack_int)n, ipiv);
    if (info < 0) {
      rc = lapack_bug("dgetrf", info);
    } else if (info > 0) { /* an exact zero pivot */
      *sign = 0;
      *logabsdet = -INFINITY;
    } else {
      double sg = 1, acc = 0;
      for (int64_t i = 0; i < n; i++) {
        if (ipiv[i] != i + 1) sg = -sg;
        double d = a[i * n + i];
        if (d < 0) {
          sg = -sg;
          d = -d;
        }
        acc += log(d);
      }
      *sign = sg;
      *logabsdet = acc;
    }
  }
  free(ipiv);
  free(a);
  return rc;
}

/* ------------------------------------------------------------ cholesky, qr */

int tide_linalg_cholesky(const tide_Array *A, tide_Array *L) {
  memset(L, 0, sizeof *L);
  int rc = check_matrix(A, true);
  if (rc) return rc;
  int64_t n = A->shape[0];
  if ((rc = new_out(L, out_dtype(A, NULL), 2, n, n))) return rc;
  if (n == 0) return TIDE_OK;
  double *a = buf_for(L, n * n, &rc);
  if (a) {
    /* A's lower triangle is the upper one of column-major A^T; its factor
    ** U (A = U^T U) read back in row-major order is L */
    load_rm(A, a);
    lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, a, (lapack_int)n);
    if (info > 0) rc = tide__seterr(TIDE_EINVAL, "matrix is not positive definite");
    else if (info < 0) rc = lapack_bug("dpotrf", info);
    else {
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) a[i * n + j] = 0;
      store_rm(a, L);
    }
  }
  buf_free(L, a);
  if (rc) tide_array_close(L);
  return rc;
}

int tide_linalg_qr(const tide_Array *A, tide_Array *Q, tide_Array *R) {
  memset(Q, 0, sizeof *Q);
  memset(R, 0, sizeof *R);
  int rc = check_matrix(A, false);
  if (rc) return rc;
  int64_t m = A->shape[0], n = A->shape[1], k = min64(m, n), lda = max64(1, m);
  int dt = out_dtype(A, NULL);
  if ((rc = new_out(Q, dt, 2, m, k)) || (rc = new_out(R, dt, 2, k, n))) {
    close_all(Q, R, NULL);
    return rc;
  }
  if (k == 0) return TIDE_OK;
  double *a = work_new(m * n, &rc), *tau = NULL, *work = NULL;
  if (a) tau = work_new(k, &rc);
  if (tau) {
    load_cm(A, a, lda);
    double wq = 0, wq2 = 0;
    lapack_int info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, a,
                                          (lapack_int)lda, tau, &wq, -1);
    if (!info)
      info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)k, (lapack_int)k, a,
                                 (lapack_int)lda, tau, &wq2, -1);
    if (info < 0) rc = lapack_bug("dgeqrf", info);
    lapack_int lw = query_size(wq > wq2 ? wq : wq2);
    if (!rc && (work = work_new(lw, &rc))) {
      info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, a,
                                 (lapack_int)lda, tau, work, lw);
      if (info) rc = lapack_bug("dgeqrf", info);
    }
    if (!rc) {
      int isz = tide_dtype_size(dt);
      for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++)
          tide_store_f64(dt, R->data + (i * n + j) * isz, j >= i ? a[i + j * lda] : 0.0);
      info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)k, (lapack_int)k, a,
                                 (lapack_int)lda, tau, work, lw);
      if (info) rc = lapack_bug("dorgqr", info);
      else store_cm(a, lda, Q);
    }
  }
  free(work);
  free(tau);
  free(a);
  if (rc) close_all(Q, R, NULL);
  return rc;
}

/* ------------------------------------------------------------ svd */

/* dgesdd of M = A^T (n x m, column-major: A copied row-major into a,
** which it destroys).  jobz 'N', 'S' or 'A'.  u: U' (n x ucols, ld n),
** vt: V'^T (vrows x m, ld vrows).  Then A = V' S U'^T. */
static int gesdd_t(char jobz, int64_t m, int64_t n, double *a, double *s, double *u,
                   int64_t ucols, double *vt, int64_t vrows) {
  (void)ucols;
  int rc = TIDE_OK;
  int64_t k = min64(m, n), ldu = max64(1, n), ldvt = max64(1, vrows);
  double wq = 0, dummy = 0, *work = NULL;
  if ((rc = finite_in(a, m * n, "SVD"))) return rc;
  lapack_int *iwork = iwork_new(8 * k, &rc);
  if (!iwork) return rc;
  if (!u) u = &dummy;
  if (!vt) vt = &dummy;
  lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, (lapack_int)n, (lapack_int)m, a,
                                        (lapack_int)max64(1, n), s, u, (lapack_int)ldu, vt,
                                        (lapack_int)ldvt, &wq, -1, iwork);
  if (info < 0) rc = lapack_bug("dgesdd", info);
  if (!rc && (work = work_new(query_size(wq), &rc))) {
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, (lapack_int)n, (lapack_int)m, a,
                               (lapack_int)max64(1, n), s, u, (lapack_int)ldu, vt,
                               (lapack_int)ldvt, work, query_size(wq), iwork);
    if (info > 0) rc = tide__seterr(TIDE_EINVAL, "SVD did not converge (dgesdd)");
    else if (info < 0) rc = lapack_bug("dgesdd", info);
  }
  free(work);
  free(iwork);
  return rc;
}

static void eye(tide_Array *a) {
  int64_t n = a->shape[0];
  int isz = tide_dtype_size(a->dtype);
  for (int64_t i = 0; i < n; i++) tide_store_f64(a->dtype, a->data + (i * n + i) * isz, 1);
}

int tide_linalg_svd(const tide_Array *A, bool full, tide_Array *U, tide_Array *S,
                    tide_Array *Vt) {
  memset(S, 0, sizeof *S);
  if (U) memset(U, 0, sizeof *U);
  if (Vt) memset(Vt, 0, sizeof *Vt);
  int rc = check_matrix(A, false);
  if (rc) return rc;
  int64_t m = A->shape[0], n = A->shape[1], k = min64(m, n);
  int dt = out_dtype(A, NULL);
  bool uv = U && Vt;
  int64_t ucols = full ? m : k, vrows = full ? n : k;
  if ((rc = new_out(S, dt, 1, k, 0)) ||
      (uv && ((rc = new_out(U, dt, 2, m, ucols)) || (rc = new_out(Vt, dt, 2, vrows, n))))) {
    close_all(S, U, Vt);
    return rc;
  }
  if (k == 0) { /* numpy: full factors of an empty matrix are identities */
    if (uv && full) {
      eye(U);
      eye(Vt);
    }
    return TIDE_OK;
  }
  /* A^T = U' S V'^T; A's U is V' (column-major V'^T read row-major) and
  ** A's Vt is U'^T (column-major U' read row-major) */
  double *a = work_new(m * n, &rc), *s = NULL, *u = NULL, *vt = NULL;
  if (a) s = dt == TIDE_F64 ? (double *)S->data : work_new(k, &rc);
  if (s && uv) u = buf_for(Vt, n * vrows, &rc);
  if (s && uv && u) vt = buf_for(U, ucols * m, &rc);
  if (s && (!uv || vt)) {
    load_rm(A, a);
    rc = gesdd_t(uv ? (full ? 'A' : 'S') : 'N', m, n, a, s, u, vrows, vt, ucols);
    if (!rc) {
      store_rm(s, S);
      if (uv) {
        store_rm(u, Vt);
        store_rm(vt, U);
      }
    }
  }
  if (uv) {
    buf_free(Vt, u);
    buf_free(U, vt);
  }
  buf_free(S, s);
  free(a);
  if (rc) close_all(S, U, Vt);
  return rc;
}

/* ------------------------------------------------------------ eigh, eig */

int tide_linalg_eigh(const tide_Array *A, tide_Array *w, tide_Array *V) {
  memset(w, 0, sizeof *w);
  if (V) memset(V, 0, sizeof *V);
  int rc = check_matrix(A, true);
  if (rc) return rc;
  int64_t n = A->shape[0];
  int dt = out_dtype(A, NULL);
  if ((rc = new_out(w, dt, 1, n, 0)) || (V && (rc = new_out(V, dt, 2, n, n)))) {
    close_all(w, V, NULL);
    return rc;
  }
  if (n == 0) return TIDE_OK;
  double *a = V ? buf_for(V, n * n, &rc) : work_new(n * n, &rc), *ev = NULL, *work = NULL;
  lapack_int *iwork = NULL;
  if (a) ev = buf_for(w, n, &rc);
  if (ev) {
    /* the upper triangle of column-major A^T is A's lower one */
    load_rm(A, a);
    rc = finite_in(a, n * n, "eigenvalues");
  }
  if (ev && !rc) {
    char jobz = V ? 'V' : 'N';
    double wq = 0;
    lapack_int iq = 0;
    lapack_int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, jobz, 'U', (lapack_int)n, a,
                                          (lapack_int)n, ev, &wq, -1, &iq, -1);
    if (info < 0) rc = lapack_bug("dsyevd", info);
    if (!rc && (work = work_new(query_size(wq), &rc)) &&
        (iwork = iwork_new(iq > 1 ? iq : 1, &rc))) {
      info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, jobz, 'U', (lapack_int)n, a, (lapack_int)n, ev,
                                 work, query_size(wq), iwork, iq > 1 ? iq : 1);
      if (info > 0) rc = tide__seterr(TIDE_EINVAL, "eigenvalues did not converge (dsyevd)");
      else if (info < 0) rc = lapack_bug("dsyevd", info);
    }
    if (!rc) {
      store_rm(ev, w);
      if (V) { /* eigenvectors are the columns of the column-major result */
        if ((void *)a == (void *)V->data) transpose_square(a, n);
        else store_cm(a, n, V);
      }
    }
  }
  free(iwork);
  free(work);
  buf_free(w, ev);
  if (V) buf_free(V, a);
  else free(a);
  if (rc) close_all(w, V, NULL);
  return rc;
}

int tide_linalg_eig(const tide_Array *A, tide_Array *wr, tide_Array *wi, tide_Array *V) {
  memset(wr, 0, sizeof *wr);
  memset(wi, 0, sizeof *wi);
  memset(V, 0, sizeof *V);
  int rc = check_matrix(A, true);
  if (rc) return rc;
  int64_t n = A->shape[0];
  int dt = out_dtype(A, NULL);
  if ((rc = new_out(wr, dt, 1, n, 0)) || (rc = new_out(wi, dt, 1, n, 0)) ||
      (rc = new_out(V, dt, 2, n, n))) {
    close_all(wr, wi, V);
    return rc;
  }
  if (n == 0) return TIDE_OK;
  double *a = work_new(n * n, &rc), *vr = NULL, *re = NULL, *work = NULL;
  if (a) vr = work_new(n * n, &rc);
  if (vr) re = work_new(2 * n, &rc);
  if (re) {
    load_cm(A, a, n);
    rc = finite_in(a, n * n, "eigenvalues");
  }
  if (re && !rc) {
    double wq = 0, dummy = 0;
    lapack_int info = LAPACKE_dgeev_work(LAPACK_COL_MAJOR, 'N', 'V', (lapack_int)n, a,
                                         (lapack_int)n, re, re + n, &dummy, 1, vr, (lapack_int)n,
                                         &wq, -1);
    if (info < 0) rc = lapack_bug("dgeev", info);
    if (!rc && (work = work_new(query_size(wq), &rc))) {
      info = LAPACKE_dgeev_work(LAPACK_COL_MAJOR, 'N', 'V', (lapack_int)n, a, (lapack_int)n, re,
                                re + n, &dummy, 1, vr, (lapack_int)n, work, query_size(wq));
      if (info > 0) rc = tide__seterr(TIDE_EINVAL, "eigenvalues did not converge (dgeev)");
      else if (info < 0) rc = lapack_bug("dgeev", info);
    }
    if (!rc) {
      store_rm(re, wr);
      store_rm(re + n, wi);
      store_cm(vr, n, V);
    }
  }
  free(work);
  free(re);
  free(vr);
  free(a);
  if (rc) close_all(wr, wi, V);
  return rc;
}

/* ------------------------------------------------------------ pinv, rank */

int tide_linalg_pinv(const tide_Array *A, double rcond, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int rc = check_matrix(A, false);
  if (rc) return rc;
  int64_t m = A->shape[0], n = A->shape[1], k = min64(m, n);
  if ((rc = new_out(out, out_dtype(A, NULL), 2, n, m))) return rc;
  if (k == 0) return TIDE_OK;
  double *a = work_new(m * n, &rc), *s = NULL, *u = NULL, *vt = NULL, *c = NULL;
  if (a) s = work_new(k, &rc);
  if (s) u = work_new(n * k, &rc);
  if (u) vt = work_new(k * m, &rc);
  if (vt) c = buf_for(out, m * n, &rc);
  if (c) {
    load_rm(A, a);
    /* A^T = U' S V'^T, so pinv(A) = U' S^+ V'^T, whose transpose (m x n,
    ** column-major) is the row-major result */
    if (!(rc = gesdd_t('S', m, n, a, s, u, k, vt, k))) {
      double smax = 0;
      for (int64_t j = 0; j < k; j++)
        if (s[j] > smax) smax = s[j];
      double cutoff = rcond * smax;
      for (int64_t j = 0; j < k; j++) {
        double r = s[j] > cutoff ? 1 / s[j] : 0;
        for (int64_t i = 0; i < n; i++) u[i + j * n] *= r;
      }
      cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)k, 1.0,
                  vt, (blasint)k, u, (blasint)n, 0.0, c, (blasint)m);
      store_rm(c, out);
    }
  }
  buf_free(out, c);
  free(vt);
  free(u);
  free(s);
  free(a);
  if (rc) tide_array_close(out);
  return rc;
}

int tide_linalg_matrix_rank(const tide_Array *A, double tol, int64_t *rank) {
  *rank = 0;
  if (!A->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (A->ndim == 1) { /* numpy: 1 unless every entry is zero */
    for (int64_t i = 0; i < A->shape[0]; i++)
      if (tide_load_f64(A->dtype, A->data + i * A->strides[0]) != 0) {
        *rank = 1;
        break;
      }
    return TIDE_OK;
  }
  int rc = check_matrix(A, false);
  if (rc) return rc;
  int64_t m = A->shape[0], n = A->shape[1], k = min64(m, n);
  if (k == 0) return TIDE_OK;
  double *a = work_new(m * n, &rc), *s = NULL;
  if (a) s = work_new(k, &rc);
  if (s) {
    load_rm(A, a);
    if (!(rc = gesdd_t('N', m, n, a, s, NULL, 0, NULL, 0))) {
      double smax = 0;
      for (int64_t j = 0; j < k; j++)
        if (s[j] > smax) smax = s[j];
      if (tol < 0) tol = smax * (double)max64(m, n) * eps_of(out_dtype(A, NULL));
      for (int64_t j = 0; j < k; j++)
        if (s[j] > tol) (*rank)++;
    }
  }
  free(s);
  free(a);
  return rc;
}
