/*
** pca.c -- PCA: covariance eigendecomposition (tall data) or thin SVD
** (wide data), scikit-learn's signs, and the blocked maps of transform and
** inverse_transform.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "pca.h"

void tide_pca_free(tide_Pca *f) {
  free(f->mean);
  free(f->comps);
  free(f->var);
  free(f->sv);
  memset(f, 0, sizeof *f);
}

static int alloc_fit(tide_Pca *f) {
  int64_t p = f->p, r = f->r;
  f->mean = tide__calloc((size_t)p, sizeof *f->mean);
  f->comps = tide__calloc((size_t)(r * p), sizeof *f->comps);
  f->var = tide__calloc((size_t)r, sizeof *f->var);
  f->sv = tide__calloc((size_t)r, sizeof *f->sv);
  if (f->mean && f->comps && f->var && f->sv) return TIDE_OK;
  return tide__seterr(TIDE_ENOMEM, "pca: out of memory for %" PRId64 " components of %" PRId64
                      " features", r, p);
}

/* Tall data: X'X of the centred rows in one blocked Gram pass, then its
** eigenvectors, largest eigenvalue first. */
static int fit_gram(const tide_Array *X, const tide_Rows *rows, tide_Pca *f) {
  int64_t p = f->p;
  tide_Gram g;
  int rc = tide_gram(X, NULL, NULL, rows, 1, &g);
  if (rc) return rc;
  double *w = tide__malloc((size_t)p * sizeof *w), *Z = tide__malloc((size_t)(p * p) * sizeof *Z);
  lapack_int *supp = tide__malloc((size_t)(2 * p) * sizeof *supp), m = 0;
  if (!w || !Z || !supp) {
    rc = tide__seterr(TIDE_ENOMEM, "pca: out of memory for %" PRId64 " features", p);
    goto done;
  }
  memcpy(f->mean, g.xmean, (size_t)p * sizeof *f->mean);
  double trace = 0;
  for (int64_t j = 0; j < p; j++) trace += g.XtX[j * p + j];
  /* symmetric: the row-major matrix is its own column-major form */
  lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'A', 'U', (lapack_int)p, g.XtX,
                                   (lapack_int)p, 0, 0, 0, 0, LAPACKE_dlamch('S'), &m, w, Z,
                                   (lapack_int)p, supp);
  if (info != 0 || m != p) {
    rc = tide__seterr(TIDE_ERANGE, "pca: the eigendecomposition of the covariance failed "
                      "(LAPACK dsyevr info %d)", (int)info);
    goto done;
  }
  double dof = (double)(f->n - 1);
  for (int64_t c = 0; c < p; c++) { /* eigenvalues come ascending */
    double lam = w[p - 1 - c] > 0 ? w[p - 1 - c] : 0;
    memcpy(f->comps + c * p, Z + (p - 1 - c) * p, (size_t)p * sizeof *Z);
    f->sv[c] = sqrt(lam);
    f->var[c] = lam / dof;
  }
  f->total = trace / dof;
done:
  free(w);
  free(Z);
  free(supp);
  tide_gram_free(&g);
  return rc;
}

/* Makes the largest-magnitude entry of column c of U positive (the first
** one on ties), flipping component c with it. */
static void flip_from(double *comp, int64_t p, double umax_signed) {
  if (umax_signed < 0)
    for (int64_t j = 0; j < p; j++) comp[j] = -comp[j];
}

/* Wide data: a thin SVD of the centred rows (n x p, n < p).  The rows,
** read as a column-major p x n matrix, are A'; its SVD V S U' gives the
** components as the left vectors (already r x p row-major) and U' as the
** right ones. */
static int fit_svd(const tide_Array *X, const tide_Rows *rows, tide_Pca *f) {
  int64_t n = f->n, p = f->p;
  double *A = tide__malloc((size_t)(n * p) * sizeof *A), *Ut = tide__malloc((size_t)(n * n) * sizeof *Ut);
  int rc = TIDE_OK;
  if (!A || !Ut) {
    rc = tide__seterr(TIDE_ENOMEM, "pca: out of memory for %" PRId64 " x %" PRId64 " rows", n, p);
    goto done;
  }
  tide_RowBlocks it;
  if ((rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK))) goto done;
  while (tide_rowblocks_next(&it))
    memcpy(A + it.first * p, it.buf, (size_t)(it.nb * p) * sizeof *A);
  tide_rowblocks_free(&it);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < p; j++) f->mean[j] += A[i * p + j];
  for (int64_t j = 0; j < p; j++) f->mean[j] /= (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < p; j++) A[i * p + j] -= f->mean[j];
  lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)p, (lapack_int)n, A,
                                   (lapack_int)p, f->sv, f->comps, (lapack_int)p, Ut,
                                   (lapack_int)n);
  if (info != 0) {
    rc = tide__seterr(TIDE_ERANGE, "pca: the SVD of the centred rows failed (LAPACK dgesdd "
                      "info %d)", (int)info);
    goto done;
  }
  double dof = (double)(n - 1), total = 0;
  for (int64_t c = 0; c < n; c++) {
    f->var[c] = f->sv[c] * f->sv[c] / dof;
    total += f->var[c];
    /* U[i, c] = Ut[i * n + c] */
    double best = 0, val = 0;
    for (int64_t i = 0; i < n; i++) {
      double u = Ut[i * n + c];
      if (fabs(u) > best) {
        best = fabs(u);
        val = u;
      }
    }
    flip_from(f->comps + c * p, p, val);
  }
  f->total = total;
  f->signed_all = 1;
done:
  free(A);
  free(Ut);
  return rc;
}

int tide_pca_fit(const tide_Array *X, const tide_Rows *rows, tide_Pca *f) {
  memset(f, 0, sizeof *f);
  f->n = rows->n;
  f->p = X->ndim == 2 ? X->shape[1] : 1;
  if (f->n < 2 || f->p < 1)
    return tide__seterr(TIDE_EINVAL, "pca: needs at least 2 rows and 1 feature, got %" PRId64
                        " x %" PRId64, f->n, f->p);
  f->r = f->n < f->p ? f->n : f->p;
  int rc = alloc_fit(f);
  if (!rc) rc = f->n >= f->p ? fit_gram(X, rows, f) : fit_svd(X, rows, f);
  if (rc) tide_pca_free(f);
  return rc;
}

int64_t tide_pca_count(const tide_Pca *f, double frac) {
  double cum = 0;
  int64_t c = 0;
  for (; c < f->r; c++) {
    cum += f->total > 0 ? f->var[c] / f->total : 0;
    if (cum > frac) break;
  }
  return c < f->r ? c + 1 : f->r;
}

int tide_pca_signs(const tide_Array *X, const tide_Rows *rows, tide_Pca *f, int64_t m) {
  if (f->signed_all || m < 1) return TIDE_OK;
  int64_t p = f->p, b = TIDE_ROW_BLOCK;
  double *T = tide__malloc((size_t)(b * m) * sizeof *T), *best = tide__calloc((size_t)m, sizeof *best);
  double *val = tide__calloc((size_t)m, sizeof *val), *xc = tide__malloc((size_t)(b * p) * sizeof *xc);
  tide_RowBlocks it;
  int rc = (!T || !best || !val || !xc)
               ? tide__seterr(TIDE_ENOMEM, "pca: out of memory")
               : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) goto done;
  while (tide_rowblocks_next(&it)) {
    int64_t nb = it.nb;
    for (int64_t i = 0; i < nb; i++)
      for (int64_t j = 0; j < p; j++) xc[i * p + j] = it.buf[i * p + j] - f->mean[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)m, (int)p, 1.0, xc,
                (int)p, f->comps, (int)p, 0.0, T, (int)m);
    for (int64_t i = 0; i < nb; i++)
      for (int64_t c = 0; c < m; c++) {
        double u = T[i * m + c];
        if (fabs(u) > best[c]) {
          best[c] = fabs(u);
          val[c] = u;
        }
      }
  }
  tide_rowblocks_free(&it);
  for (int64_t c = 0; c < m; c++) flip_from(f->comps + c * p, p, val[c]);
done:
  free(T);
  free(best);
  free(val);
  free(xc);
  return rc;
}

int tide_pca_transform(const tide_Array *X, const tide_Rows *rows, const double *mean,
                       const double *comps, int64_t m, const double *scale, double *out) {
  int64_t p = X->shape[1];
  double *xc = tide__malloc((size_t)(TIDE_ROW_BLOCK * p) * sizeof *xc);
  tide_RowBlocks it;
  int rc = !xc ? tide__seterr(TIDE_ENOMEM, "pca: out of memory")
               : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) {
    free(xc);
    return rc;
  }
  while (tide_rowblocks_next(&it)) {
    int64_t nb = it.nb;
    double *o = out + it.first * m;
    for (int64_t i = 0; i < nb; i++)
      for (int64_t j = 0; j < p; j++) xc[i * p + j] = it.buf[i * p + j] - mean[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)m, (int)p, 1.0, xc,
                (int)p, comps, (int)p, 0.0, o, (int)m);
    if (scale)
      for (int64_t i = 0; i < nb; i++)
        for (int64_t c = 0; c < m; c++) o[i * m + c] /= scale[c];
  }
  tide_rowblocks_free(&it);
  free(xc);
  return TIDE_OK;
}

int tide_pca_inverse(const tide_Array *Z, const tide_Rows *rows, const double *mean,
                     const double *comps, int64_t m, int64_t p, const double *scale,
                     double *out) {
  double *zs = tide__malloc((size_t)(TIDE_ROW_BLOCK * m) * sizeof *zs);
  tide_RowBlocks it;
  int rc = !zs ? tide__seterr(TIDE_ENOMEM, "pca: out of memory")
               : tide_rowblocks_init(&it, Z, rows, TIDE_ROW_BLOCK);
  if (rc) {
    free(zs);
    return rc;
  }
  while (tide_rowblocks_next(&it)) {
    int64_t nb = it.nb;
    double *o = out + it.first * p;
    const double *z = it.buf;
    if (scale) {
      for (int64_t i = 0; i < nb; i++)
        for (int64_t c = 0; c < m; c++) zs[i * m + c] = it.buf[i * m + c] * scale[c];
      z = zs;
    }
    for (int64_t i = 0; i < nb; i++) memcpy(o + i * p, mean, (size_t)p * sizeof *o);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)p, (int)m, 1.0, z,
                (int)m, comps, (int)p, 1.0, o, (int)p);
  }
  tide_rowblocks_free(&it);
  free(zs);
  return TIDE_OK;
}
