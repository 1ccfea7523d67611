/*
** linalg.c -- matrix products: tide_matmul through OpenBLAS (gemm, gemv,
** dot) and the plain-loop reference the tests check BLAS against.
*/
#include <cblas.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static int align_error(const tide_Array *a, const tide_Array *b) {
  char b1[128], b2[128];
  return tide__seterr(TIDE_ESHAPE, "shapes %s and %s do not align",
                      tide_shape_str(a->ndim, a->shape, b1, sizeof b1),
                      tide_shape_str(b->ndim, b->shape, b2, sizeof b2));
}

/* Checks operands and gives the output shape (numpy's matmul for 1-D and
** 2-D): m x k @ k x n; a vector on the left is 1 x k, on the right k x 1,
** and those dimensions are dropped from the result. */
static int product_shape(const tide_Array *a, const tide_Array *b, int *ndim, int64_t *shape,
                         int64_t *m, int64_t *k, int64_t *n) {
  if (!a->storage || !b->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2)
    return tide__seterr(TIDE_EINVAL, "matmul takes 1-D or 2-D arrays (got %d-D and %d-D)",
                        a->ndim, b->ndim);
  *m = a->ndim == 2 ? a->shape[0] : 1;
  *k = a->shape[a->ndim - 1];
  *n = b->ndim == 2 ? b->shape[1] : 1;
  if (b->shape[0] != *k) return align_error(a, b);
  *ndim = 0;
  if (a->ndim == 2) shape[(*ndim)++] = *m;
  if (b->ndim == 2) shape[(*ndim)++] = *n;
  return TIDE_OK;
}

/* Element (i, j) of an operand seen as a matrix; vectors are k x 1 on the
** right and 1 x k on the left. */
static const unsigned char *elem(const tide_Array *x, bool left, int64_t i, int64_t j) {
  if (x->ndim == 2) return x->data + i * x->strides[0] + j * x->strides[1];
  return x->data + (left ? j : i) * x->strides[0];
}

int tide__matmul_ref(const tide_Array *a, const tide_Array *b, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int64_t shape[2], m, k, n;
  int ndim;
  int rc = product_shape(a, b, &ndim, shape, &m, &k, &n);
  if (rc) return rc;
  int ct = tide_promote(a->dtype, b->dtype);
  bool isf = tide_dtype_isfloat(ct);
  if ((rc = tide_array_new(out, isf ? ct : TIDE_I64, ndim, shape, TIDE_WHERE_AUTO))) return rc;
  int osz = tide_dtype_size(out->dtype);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      uint64_t si = 0;
      for (int64_t t = 0; t < k; t++) {
        const unsigned char *x = elem(a, true, i, t), *y = elem(b, false, t, j);
        if (isf) s += tide_load_f64(a->dtype, x) * tide_load_f64(b->dtype, y);
        else si += (uint64_t)tide_load_i64(a->dtype, x) * (uint64_t)tide_load_i64(b->dtype, y);
      }
      unsigned char *o = out->data + (i * n + j) * osz;
      if (isf) tide_store_f64(out->dtype, o, s);
      else *(int64_t *)o = (int64_t)si;
    }
  return TIDE_OK;
}

/* ------------------------------------------------------------ BLAS */

static int too_big(const char *what, int64_t v) {
  return tide__seterr(TIDE_EINVAL, "matmul: %s = %" PRId64 " is too large for 32-bit BLAS "
                      "(at most %d)", what, v, INT_MAX);
}

/* A 2-D operand as BLAS sees it in row-major order: NoTrans with leading
** dimension ld, or Trans (a Fortran-ordered view such as a:t()).  False
** when neither fits and the operand must be copied. */
static bool mat_layout(const tide_Array *x, CBLAS_TRANSPOSE *tr, int64_t *ld) {
  int64_t isz = tide_dtype_size(x->dtype), r = x->shape[0], c = x->shape[1];
  int64_t s0 = x->strides[0], s1 = x->strides[1];
  if ((c <= 1 || s1 == isz) && (r <= 1 || (s0 > 0 && s0 % isz == 0 && s0 / isz >= c))) {
    *tr = CblasNoTrans;
    *ld = r <= 1 ? c : s0 / isz;
  } else if ((r <= 1 || s0 == isz) && (c <= 1 || (s1 > 0 && s1 % isz == 0 && s1 / isz >= r))) {
    *tr = CblasTrans;
    *ld = c <= 1 ? r : s1 / isz;
  } else {
    return false;
  }
  if (*ld < 1) *ld = 1;
  /* a view whose row stride BLAS cannot express is copied (tight ld) */
  return *ld <= INT_MAX || *ld == (*tr == CblasNoTrans ? c : r);
}

static bool vec_layout(const tide_Array *x, int64_t *inc) {
  int64_t isz = tide_dtype_size(x->dtype), s = x->strides[0];
  if (x->shape[0] <= 1) { *inc = 1; return true; }
  if (s > 0 && s % isz == 0 && s / isz <= INT_MAX) { *inc = s / isz; return true; }
  return false;
}

/* x itself when it has dtype dt and a BLAS layout, else a C-ordered copy
** in tmp. */
static int prepare(const tide_Array *x, int dt, tide_Array *tmp, const tide_Array **use) {
  CBLAS_TRANSPOSE tr;
  int64_t ld;
  bool ok = x->ndim == 2 ? mat_layout(x, &tr, &ld) : vec_layout(x, &ld);
  if (x->dtype == dt && ok) {
    *use = x;
    return TIDE_OK;
  }
  *use = tmp;
  return tide_array_copy(x, dt, tmp);
}

static double dot(int dt, const tide_Array *a, const tide_Array *b) {
  int64_t n = a->shape[0], ia = 1, ib = 1;
  vec_layout(a, &ia);
  vec_layout(b, &ib);
  double s = 0;
  /* BLAS counts are 32-bit: split long vectors into pieces. */
  for (int64_t i = 0; i < n; i += INT_MAX / 2) {
    int64_t len = n - i < INT_MAX / 2 ? n - i : INT_MAX / 2;
    if (dt == TIDE_F64)
      s += cblas_ddot((blasint)len, (const double *)a->data + i * ia, (blasint)ia,
                      (const double *)b->data + i * ib, (blasint)ib);
    else
      s += cblas_sdot((blasint)len, (const float *)a->data + i * ia, (blasint)ia,
                      (const float *)b->data + i * ib, (blasint)ib);
  }
  return s;
}

/* True when a is b viewed transposed (X:t() @ X or X @ X:t()). */
static bool is_transpose_of(const tide_Array *a, const tide_Array *b) {
  return a->data == b->data && a->shape[0] == b->shape[1] && a->shape[1] == b->shape[0] &&
         a->strides[0] == b->strides[1] && a->strides[1] == b->strides[0];
}

/* out (n x n) = b^T b through syrk, as numpy does: one triangle, half the
** flops, and far faster than gemm for tall, thin b (Gram matrices). */
static int gram(int dt, const tide_Array *b, CBLAS_TRANSPOSE tb, int64_t ldb, int64_t n,
                int64_t k, tide_Array *out) {
  /* b stored k x n (NoTrans): C = B^T B; stored n x k (a transposed view):
  ** b = S^T, so b^T b = S S^T. */
  CBLAS_TRANSPOSE t = tb == CblasNoTrans ? CblasTrans : CblasNoTrans;
  if (dt == TIDE_F64)
    cblas_dsyrk(CblasRowMajor, CblasUpper, t, (blasint)n, (blasint)k, 1.0,
                (const double *)b->data, (blasint)ldb, 0.0, (double *)out->data, (blasint)n);
  else
    cblas_ssyrk(CblasRowMajor, CblasUpper, t, (blasint)n, (blasint)k, 1.0f,
                (const float *)b->data, (blasint)ldb, 0.0f, (float *)out->data, (blasint)n);
  for (int64_t i = 0; i < n; i++) /* mirror the upper triangle */
    for (int64_t j = 0; j < i; j++) {
      if (dt == TIDE_F64) ((double *)out->data)[i * n + j] = ((double *)out->data)[j * n + i];
      else ((float *)out->data)[i * n + j] = ((float *)out->data)[j * n + i];
    }
  return TIDE_OK;
}

static int blas(int dt, const tide_Array *a, const tide_Array *b, tide_Array *out, int64_t m,
                int64_t k, int64_t n) {
  if (a->ndim == 1 && b->ndim == 1) {
    tide_store_f64(dt, out->data, dot(dt, a, b));
    return TIDE_OK;
  }
  if (m == 0 || n == 0 || k == 0) return TIDE_OK; /* out is already zeros */
  const int64_t lim = INT_MAX;
  if (m > lim) return too_big("m", m);
  if (n > lim) return too_big("n", n);
  if (k > lim) return too_big("k", k);
  if (a->ndim == 2 && b->ndim == 2) {
    CBLAS_TRANSPOSE ta, tb;
    int64_t lda, ldb;
    mat_layout(a, &ta, &lda);
    mat_layout(b, &tb, &ldb);
    if (lda > lim) return too_big("lda", lda);
    if (ldb > lim) return too_big("ldb", ldb);
    if (is_transpose_of(a, b)) return gram(dt, b, tb, ldb, n, k, out);
    if (dt == TIDE_F64)
      cblas_dgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, 1.0,
                  (const double *)a->data, (blasint)lda, (const double *)b->data,
                  (blasint)ldb, 0.0, (double *)out->data, (blasint)n);
    else
      cblas_sgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                  (const float *)a->data, (blasint)lda, (const float *)b->data,
                  (blasint)ldb, 0.0f, (float *)out->data, (blasint)n);
    return TIDE_OK;
  }
  /* matrix x vector, or vector x matrix (= matrix^T x vector) */
  const tide_Array *mat = a->ndim == 2 ? a : b, *vec = a->ndim == 2 ? b : a;
  CBLAS_TRANSPOSE tr;
  int64_t ld = 1, inc = 1;
  mat_layout(mat, &tr, &ld);
  vec_layout(vec, &inc);
  if (ld > lim) return too_big("lda", ld);
  if (inc > lim) return too_big("incx", inc);
  if (a->ndim == 1) tr = tr == CblasNoTrans ? CblasTrans : CblasNoTrans;
  /* rows x cols of the matrix as stored in row-major order */
  int64_t rows = mat->shape[0], cols = mat->shape[1];
  if ((a->ndim == 2) != (tr == CblasNoTrans)) {
    int64_t t = rows; rows = cols; cols = t;
  }
  if (dt == TIDE_F64)
    cblas_dgemv(CblasRowMajor, tr, (blasint)rows, (blasint)cols, 1.0, (const double *)mat->data,
                (blasint)ld, (const double *)vec->data, (blasint)inc, 0.0, (double *)out->data, 1);
  else
    cblas_sgemv(CblasRowMajor, tr, (blasint)rows, (blasint)cols, 1.0f, (const float *)mat->data,
                (blasint)ld, (const float *)vec->data, (blasint)inc, 0.0f, (float *)out->data, 1);
  return TIDE_OK;
}

/* Integer product: both operands as C-ordered i64, then i-t-j loops that
** stream rows of b into a row of out (wrapping like numpy). */
static int int_matmul(const tide_Array *a, const tide_Array *b, int ndim, const int64_t *shape,
                      int64_t m, int64_t k, int64_t n, tide_Array *out) {
  tide_Array ca = {0}, cb = {0};
  int rc = tide_array_copy(a, TIDE_I64, &ca);
  if (!rc) rc = tide_array_copy(b, TIDE_I64, &cb);
  if (!rc) rc = tide_array_new(out, TIDE_I64, ndim, shape, TIDE_WHERE_AUTO);
  if (!rc) {
    const uint64_t *x = (const uint64_t *)ca.data, *y = (const uint64_t *)cb.data;
    uint64_t *o = (uint64_t *)out->data;
    for (int64_t i = 0; i < m; i++)
      for (int64_t t = 0; t < k; t++) {
        uint64_t v = x[i * k + t];
        const uint64_t *restrict yr = y + t * n;
        uint64_t *restrict orow = o + i * n;
        for (int64_t j = 0; j < n; j++) orow[j] += v * yr[j];
      }
  }
  tide_array_close(&ca);
  tide_array_close(&cb);
  return rc;
}

int tide_matmul(const tide_Array *a, const tide_Array *b, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int64_t shape[2], m, k, n;
  int ndim;
  int rc = product_shape(a, b, &ndim, shape, &m, &k, &n);
  if (rc) return rc;
  int ct = tide_promote(a->dtype, b->dtype);
  if (!tide_dtype_isfloat(ct)) return int_matmul(a, b, ndim, shape, m, k, n, out);
  tide_Array ta = {0}, tb = {0};
  const tide_Array *ua, *ub;
  if (!(rc = prepare(a, ct, &ta, &ua)) && !(rc = prepare(b, ct, &tb, &ub)) &&
      !(rc = tide_array_new(out, ct, ndim, shape, TIDE_WHERE_AUTO))) {
    if ((rc = blas(ct, ua, ub, out, m, k, n))) tide_array_close(out);
  }
  tide_array_close(&ta);
  tide_array_close(&tb);
  return rc;
}
