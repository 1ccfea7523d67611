/*
** linear.c -- ordinary least squares and ridge over a row subset.
**
** Solver choice (tide_ridge_fit):
**  - tall data (p <= rows used): the normal equations.  tide_gram gives
**    the centered X'WX and X'Wy in blocked passes (memory O(block x p +
**    p^2), no copy of the fold, one dsyrk; tide__linear_gram below does it in
**    one pass), then a Cholesky factorization of
**    the equilibrated D^-1 (X'WX + alpha I) D^-1.  This is what makes many
**    fits over one shared X cheap, and it is scikit-learn Ridge's own
**    method.  Its forward error grows like cond(X)^2 eps, so when dpotrf
**    fails or dpocon's reciprocal condition estimate is below RCOND_MIN, the
**    answer would not be good to 1e-6: we fall back to
**  - SVD least squares (LAPACK dgelsd) on the centered, sqrt-weighted rows
**    (ridge: stacked on sqrt(alpha) I): for tall data through a QR
**    factorization updated a row block at a time (solve_tsqr: R's SVD, no
**    copy of the rows; a stack's meta learner on collinear predictions
**    lands here); for wide data on a copy of the rows, which are few.  It gives the minimum-norm solution of a
**    rank-deficient least-squares problem, as scikit-learn's
**    LinearRegression (scipy.linalg.lstsq, also dgelsd) does.
**  - wide ridge (p > rows used, alpha > 0): the dual form
**    coef = Xc' (Xc Xc' + alpha I)^-1 yc, an n x n Cholesky instead of p x p
**    (also on a copy of the rows: the data is small in n).
*/
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "linear.h"

/* Below this (estimated) reciprocal condition number of the equilibrated
** normal matrix, Cholesky's error bound eps / rcond exceeds ~2e-7 and the
** SVD solve is used instead. */
#define RCOND_MIN 1e-9

/* LAPACK takes int sizes; a copy for the SVD path must also fit memory. */
#define LAPACK_MAX 2147483647

int tide__linear_check(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                       const tide_Rows *rows, const char *fname) {
  if (X->ndim != 2) return tide_check_xy(X, y, w, rows, fname);
  tide_Array none = *X; /* everything but X's values: their scan comes later */
  none.shape[1] = 0;
  return tide_check_xy(&none, y, w, rows, fname);
}

/* A NaN or infinity in X (at any weight: 0 * inf is NaN) shows in its
** column means; the full check then names it. */
static int check_means(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                       const tide_Rows *rows, const char *fname, const double *xmean) {
  int64_t p = X->shape[1];
  for (int64_t j = 0; j < p; j++) {
    if (!isfinite(xmean[j])) {
      int rc = tide_check_xy(X, y, w, rows, fname);
      return rc ? rc : tide__seterr(TIDE_EINVAL, "%s: the sums of column %" PRId64 " of X "
                                    "overflow (values too large)", fname, j + 1);
    }
  }
  return TIDE_OK;
}

int tide__linear_means(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                       const tide_Rows *rows, const char *fname, double *xmean, double *ymean,
                       double *sw) {
  int64_t p = X->shape[1];
  double *yb = tide__malloc(TIDE_ROW_BLOCK * sizeof *yb), *wb = tide__malloc(TIDE_ROW_BLOCK * sizeof *wb);
  tide_RowBlocks it;
  int rc = (!yb || !wb) ? tide__seterr(TIDE_ENOMEM, "out of memory for a row block")
                        : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) goto done;
  double s = 0, sy = 0;
  for (int64_t j = 0; j < p; j++) xmean[j] = 0;
  while (tide_rowblocks_next(&it)) {
    if (y) tide_gather_col(y, rows, it.first, it.nb, 0, yb);
    if (w) tide_gather_col(w, rows, it.first, it.nb, 0, wb);
    for (int64_t k = 0; k < it.nb; k++) {
      double wk = w ? wb[k] : 1.0;
      const double *r = it.buf + k * p;
      for (int64_t j = 0; j < p; j++) xmean[j] += wk * r[j];
      if (y) sy += wk * yb[k];
      s += wk;
    }
  }
  tide_rowblocks_free(&it);
  if (s <= 0) {
    rc = tide__seterr(TIDE_EINVAL, "the rows used have no weight (no rows, or all weights 0)");
    goto done;
  }
  for (int64_t j = 0; j < p; j++) xmean[j] /= s;
  if (ymean) *ymean = y ? sy / s : 0;
  *sw = s;
  rc = check_means(X, y, w, rows, fname, xmean);
done:
  free(yb);
  free(wb);
  return rc;
}

/* The sufficient statistics of tide_gram (same struct, same results up
** to rounding) in ONE blocked pass instead of two: the rows are centered on
** a shift, the mean of up to 1024 rows spread evenly over the subset, and
** the exact centering is applied afterwards,
**   X'WX_c = sum w (x - s)(x - s)' - t t' / sw,   t = sum w (x - s).
** The shift is within a few percent of a standard deviation of the mean
** whatever the order of the rows, so the correction is tiny and there is no
** cancellation (the one-pass sum-of-squares problem); and a fit with rows=
** reads its fold once instead of twice, which is most of its time. */
int tide__linear_gram(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                      const tide_Rows *rows, const char *fname, int center, tide_Gram *g) {
  memset(g, 0, sizeof *g);
  int64_t p = X->shape[1], n = rows->n;
  if (p > 46340) /* p^2 entries must stay addressable (and fit in memory) */
    return tide__seterr(TIDE_ENOMEM, "%" PRId64 " features are too many for a %" PRId64 " x %"
                        PRId64 " cross-product matrix", p, p, p);
  size_t np = (size_t)(p ? p : 1);
  g->p = p;
  g->xmean = tide__calloc(np, sizeof(double));
  g->XtX = tide__calloc(np * np, sizeof(double));
  g->Xty = tide__calloc(np, sizeof(double));
  double *shift = tide__calloc(np, sizeof(double)), *t = tide__calloc(np, sizeof(double));
  double *yb = tide__malloc(TIDE_ROW_BLOCK * sizeof *yb), *wb = tide__malloc(TIDE_ROW_BLOCK * sizeof *wb);
  double *cb = tide__malloc((size_t)TIDE_ROW_BLOCK * np * sizeof *cb);
  tide_RowBlocks it;
  int rc = (!g->xmean || !g->XtX || !g->Xty || !shift || !t || !yb || !wb || !cb)
               ? tide__seterr(TIDE_ENOMEM, "out of memory for %" PRId64 " features", p)
               : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) goto done;
  double ys = 0;
  if (center && n > 0) {
    int64_t K = n < 1024 ? n : 1024;
    for (int64_t q = 0; q < K; q++) {
      int64_t r = tide_rows_at(rows, q * n / K);
      for (int64_t j = 0; j < p; j++) shift[j] += tide_rows_load(X, rows, r, j);
      if (y) ys += tide_load_f64(y->dtype, y->data + r * y->strides[0]);
    }
    for (int64_t j = 0; j < p; j++) shift[j] /= (double)K;
    ys /= (double)K;
  }
  double sw = 0, ty = 0, yty = 0;
  while (tide_rowblocks_next(&it)) {
    if (y) tide_gather_col(y, rows, it.first, it.nb, 0, yb);
    if (w) tide_gather_col(w, rows, it.first, it.nb, 0, wb);
    if (!w) { /* unweighted, the common case: no multiplications by 1 */
      for (int64_t k = 0; k < it.nb; k++) {
        const double *r = it.buf + k * p;
        double *c = cb + k * p;
        for (int64_t j = 0; j < p; j++) {
          c[j] = r[j] - shift[j];
          t[j] += c[j];
        }
      }
      if (y)
        for (int64_t k = 0; k < it.nb; k++) {
          double yc = yb[k] - ys;
          yb[k] = yc;
          ty += yc;
          yty += yc * yc;
        }
      sw += (double)it.nb;
    }
    for (int64_t k = 0; w && k < it.nb; k++) {
      double wk = wb[k], sq = sqrt(wk);
      const double *r = it.buf + k * p;
      double *c = cb + k * p;
      for (int64_t j = 0; j < p; j++) {
        c[j] = sq * (r[j] - shift[j]);
        t[j] += sq * c[j];
      }
      if (y) {
        double yc = sq * (yb[k] - ys);
        yb[k] = yc;
        ty += sq * yc;
        yty += yc * yc;
      }
      sw += wk;
    }
    if (p > 0) {
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)it.nb, 1.0, cb, (int)p,
                  1.0, g->XtX, (int)p);
      if (y) cblas_dgemv(CblasRowMajor, CblasTrans, (int)it.nb, (int)p, 1.0, cb, (int)p, yb, 1,
                         1.0, g->Xty, 1);
    }
  }
  tide_rowblocks_free(&it);
  if (!(sw > 0)) {
    rc = tide__seterr(TIDE_EINVAL, "the rows used have no weight (no rows, or all weights 0)");
    goto done;
  }
  g->sw = sw;
  for (int64_t j = 0; j < p; j++) g->xmean[j] = shift[j] + t[j] / sw;
  if ((rc = check_means(X, y, w, rows, fname, g->xmean))) goto done;
  g->ymean = ys + ty / sw;
  g->yty = yty;
  if (center) { /* from the shift to the mean */
    for (int64_t i = 0; i < p; i++) {
      for (int64_t j = i; j < p; j++) g->XtX[i * p + j] -= t[i] * t[j] / sw;
      g->Xty[i] -= t[i] * ty / sw;
    }
    g->yty -= ty * ty / sw;
  }
  for (int64_t j = 0; j < p; j++)
    if (!isfinite(g->XtX[j * p + j]) || !isfinite(g->Xty[j])) {
      rc = tide__seterr(TIDE_EINVAL, "%s: the cross products of column %" PRId64 " of X (or y) "
                        "overflow (values too large)", fname, j + 1);
      goto done;
    }
  for (int64_t i = 0; i < p; i++) /* mirror the upper triangle */
    for (int64_t j = 0; j < i; j++) g->XtX[i * p + j] = g->XtX[j * p + i];
done:
  free(shift);
  free(t);
  free(yb);
  free(wb);
  free(cb);
  if (rc) tide_gram_free(g);
  return rc;
}

/* Copies the used rows, centered (when center) and scaled by sqrt(w), into
** A: column-major with leading dimension lda when colmajor, else row-major
** n x p; yc gets the matching y.  This is the one place that copies a fold,
** used only by the rank-deficient / wide paths. */
static int gather_centered(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                           const tide_Rows *rows, const double *xmean, double ymean,
                           int center, int colmajor, int64_t lda, double *A, double *yc) {
  int64_t p = X->shape[1];
  double *wb = tide__malloc(TIDE_ROW_BLOCK * sizeof *wb);
  tide_RowBlocks it;
  int rc = !wb ? tide__seterr(TIDE_ENOMEM, "out of memory for a row block")
               : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) {
    free(wb);
    return rc;
  }
  while (tide_rowblocks_next(&it)) {
    tide_gather_col(y, rows, it.first, it.nb, 0, yc + it.first);
    if (w) tide_gather_col(w, rows, it.first, it.nb, 0, wb);
    for (int64_t k = 0; k < it.nb; k++) {
      int64_t i = it.first + k;
      double s = w ? sqrt(wb[k]) : 1.0;
      const double *r = it.buf + k * p;
      for (int64_t j = 0; j < p; j++) {
        double v = s * (r[j] - (center ? xmean[j] : 0));
        if (colmajor) A[i + j * lda] = v;
        else A[i * p + j] = v;
      }
      yc[i] = s * (yc[i] - (center ? ymean : 0));
    }
  }
  tide_rowblocks_free(&it);
  free(wb);
  return TIDE_OK;
}

/* Minimum-norm least squares by SVD (dgelsd) on a copy of the rows; for
** ridge the rows are stacked on sqrt(alpha) I with zero targets, which
** makes the least-squares solution the ridge solution. */
static int solve_lstsq(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                       const tide_Rows *rows, double alpha, const double *xmean, double ymean,
                       int center, double *coef) {
  int64_t n = rows->n, p = X->shape[1];
  int64_t m = n + (alpha > 0 ? p : 0), ldb = m > p ? m : p;
  if (m > LAPACK_MAX || p > LAPACK_MAX || (double)m * (double)p > (double)LAPACK_MAX * 8)
    return tide__seterr(TIDE_ENOMEM, "least squares: %" PRId64 " x %" PRId64 " is too large "
                        "for the SVD solver (the problem is rank deficient or wide)", m, p);
  double *A = tide__calloc((size_t)(m * p) + 1, sizeof *A), *b = tide__calloc((size_t)ldb + 1, sizeof *b);
  double *sv = tide__malloc((size_t)(m < p ? m : p) * sizeof *sv + 8);
  int rc = (!A || !b || !sv) ? tide__seterr(TIDE_ENOMEM, "least squares: out of memory for a "
                                            "%" PRId64 " x %" PRId64 " copy of the rows", m, p)
                             : gather_centered(X, y, w, rows, xmean, ymean, center, 1, m, A, b);
  if (rc) goto done;
  if (alpha > 0) {
    double s = sqrt(alpha);
    for (int64_t j = 0; j < p; j++) A[(n + j) + j * m] = s;
  }
  /* numpy's cutoff: singular values below eps * max(m, p) * s_max are zero,
  ** which is what makes the answer the minimum-norm one on collinear X */
  double rcond = DBL_EPSILON * (double)(m > p ? m : p);
  lapack_int rank;
  lapack_int info = LAPACKE_dgelsd(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)p, 1, A,
                                   (lapack_int)m, b, (lapack_int)ldb, sv, rcond, &rank);
  if (info != 0) {
    rc = tide__seterr(TIDE_EINVAL, "least squares: the SVD did not converge (dgelsd info %d)",
                      (int)info);
    goto done;
  }
  memcpy(coef, b, (size_t)p * sizeof *coef);
done:
  free(A);
  free(b);
  free(sv);
  return rc;
}

/* Least squares on tall rows without a copy of them: a QR factorization
** updated one row block at a time (TSQR) keeps R (p x p) and z = Q'y, so
** |Xc b - yc|^2 = |R b - z|^2 + a constant, and the minimum-norm
** minimizer of the right side (dgelsd on R and z, with the cutoff the
** full problem gets: R has X's singular values) is solve_lstsq's answer.
** Memory: a block of rows stacked under R, O(block x p). */
static int solve_tsqr(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                      const tide_Rows *rows, double alpha, const double *xmean, double ymean,
                      int center, double *coef) {
  int64_t n = rows->n, p = X->shape[1], B = TIDE_ROW_BLOCK;
  int64_t m = n + (alpha > 0 ? p : 0), ld = p + (B > p ? B : p);
  if (p > LAPACK_MAX / 8 || ld > LAPACK_MAX)
    return tide__seterr(TIDE_ENOMEM, "least squares: %" PRId64 " features are too many", p);
  double *W = tide__calloc((size_t)(ld * p), sizeof *W), *v = tide__calloc((size_t)ld, sizeof *v);
  double *tau = tide__malloc((size_t)p * sizeof *tau), *wb = tide__malloc((size_t)B * sizeof *wb);
  double *sv = tide__malloc((size_t)p * sizeof *sv);
  tide_RowBlocks it;
  int rc = (!W || !v || !tau || !wb || !sv)
               ? tide__seterr(TIDE_ENOMEM, "least squares: out of memory for %" PRId64 " features", p)
               : tide_rowblocks_init(&it, X, rows, B);
  if (rc) goto done;
  /* one step: rows p .. p + nb - 1 of W (and v) hold the new rows under R */
#define TSQR_STEP(nb)                                                                        \
  do {                                                                                       \
    lapack_int mr = (lapack_int)(p + (nb));                                                  \
    if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, mr, (lapack_int)p, W, (lapack_int)ld, tau) != 0 ||  \
        LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', mr, 1, (lapack_int)p, W, (lapack_int)ld,   \
                       tau, v, (lapack_int)ld) != 0) {                                       \
      rc = tide__seterr(TIDE_EINVAL, "least squares: the QR factorization failed");        \
      break;                                                                                 \
    }                                                                                        \
    for (int64_t j = 0; j < p; j++) /* keep R: clear the reflectors below it */              \
      for (int64_t i = j + 1; i < p; i++) W[i + j * ld] = 0;                                  \
  } while (0)
  while (!rc && tide_rowblocks_next(&it)) {
    int64_t nb = it.nb;
    tide_gather_col(y, rows, it.first, nb, 0, v + p);
    if (w) tide_gather_col(w, rows, it.first, nb, 0, wb);
    for (int64_t k = 0; k < nb; k++) {
      double sq = w ? sqrt(wb[k]) : 1.0;
      const double *r = it.buf + k * p;
      for (int64_t j = 0; j < p; j++) W[(p + k) + j * ld] = sq * (r[j] - (center ? xmean[j] : 0));
      v[p + k] = sq * (v[p + k] - (center ? ymean : 0));
    }
    TSQR_STEP(nb);
  }
  tide_rowblocks_free(&it);
  if (!rc && alpha > 0) { /* ridge: sqrt(alpha) I under the rows, with zero targets */
    for (int64_t k = 0; k < p; k++) {
      for (int64_t j = 0; j < p; j++) W[(p + k) + j * ld] = k == j ? sqrt(alpha) : 0;
      v[p + k] = 0;
    }
    TSQR_STEP(p);
  }
#undef TSQR_STEP
  if (rc) goto done;
  /* numpy's cutoff on the full problem: eps * max(m, p) * s_max */
  double rcond = DBL_EPSILON * (double)(m > p ? m : p);
  lapack_int rank;
  lapack_int info = LAPACKE_dgelsd(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)p, 1, W,
                                   (lapack_int)ld, v, (lapack_int)ld, sv, rcond, &rank);
  if (info != 0) {
    rc = tide__seterr(TIDE_EINVAL, "least squares: the SVD did not converge (dgelsd info %d)",
                      (int)info);
    goto done;
  }
  memcpy(coef, v, (size_t)p * sizeof *coef);
done:
  free(W);
  free(v);
  free(tau);
  free(wb);
  free(sv);
  return rc;
}

/* Ridge on wide data through the dual: K = Xc Xc' + alpha I (n x n). */
static int solve_dual(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                      const tide_Rows *rows, double alpha, const double *xmean, double ymean,
                      int center, double *coef, int *fallback) {
  int64_t n = rows->n, p = X->shape[1];
  *fallback = 0;
  if (n > 46340) /* n^2 must fit a LAPACK int; never reached: n < p here */
    return tide__seterr(TIDE_ENOMEM, "ridge: %" PRId64 " rows are too many for the dual", n);
  double *A = tide__malloc((size_t)(n * p + 1) * sizeof *A), *yc = tide__malloc((size_t)n * sizeof *yc + 8);
  double *K = tide__calloc((size_t)(n * n + 1), sizeof *K);
  int rc = (!A || !yc || !K) ? tide__seterr(TIDE_ENOMEM, "ridge: out of memory for the dual "
                                            "(%" PRId64 " x %" PRId64 ")", n, p)
                             : gather_centered(X, y, w, rows, xmean, ymean, center, 0, 0, A, yc);
  if (rc) goto done;
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)p, 1.0, A, (int)p, 0.0, K,
              (int)n);
  for (int64_t i = 0; i < n; i++) K[i * n + i] += alpha;
  /* K is symmetric: its upper triangle row-major is the lower column-major */
  if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)n) != 0 ||
      LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)n, 1, K, (lapack_int)n, yc,
                     (lapack_int)n) != 0) {
    *fallback = 1;
    goto done;
  }
  cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)p, 1.0, A, (int)p, yc, 1, 0.0, coef, 1);
done:
  free(A);
  free(yc);
  free(K);
  return rc;
}

/* Cholesky of the equilibrated normal equations.  Returns 1 when the
** matrix is not (numerically) positive definite or too ill-conditioned. */
static int solve_normal(const tide_Gram *g, double alpha, int center, int64_t n, double *coef,
                        int *err) {
  int64_t p = g->p;
  *err = TIDE_OK;
  size_t np1 = (size_t)(p ? p : 1);
  int64_t *keep = tide__malloc(np1 * sizeof *keep);
  double *d = tide__malloc(np1 * sizeof *d), *S = tide__malloc(np1 * np1 * sizeof *S);
  double *z = tide__malloc(np1 * sizeof *z);
  int need_svd = 0;
  if (!keep || !d || !S || !z) {
    *err = tide__seterr(TIDE_ENOMEM, "least squares: out of memory for %" PRId64 " features", p);
    goto done;
  }
  /* Least squares: a column with no variation (all zeros, or constant once
  ** centered up to the rounding of its mean) gets coefficient 0, which is
  ** what the minimum-norm solution gives it; the rest stays a Cholesky. */
  int64_t k = 0;
  double noise = 8 * sqrt((double)n) * DBL_EPSILON;
  for (int64_t j = 0; j < p; j++) {
    double djj = g->XtX[j * p + j] + alpha;
    double lim = center ? noise * fabs(g->xmean[j]) : 0;
    coef[j] = 0;
    if (alpha > 0 ? djj > 0 : djj > lim * lim * g->sw) {
      keep[k] = j;
      d[k++] = sqrt(djj);
    }
  }
  for (int64_t a = 0; a < k; a++) {
    for (int64_t b = 0; b < k; b++)
      S[a * k + b] = g->XtX[keep[a] * p + keep[b]] / (d[a] * d[b]);
    S[a * k + a] = (g->XtX[keep[a] * p + keep[a]] + alpha) / (d[a] * d[a]);
    z[a] = g->Xty[keep[a]] / d[a];
  }
  if (k == 0) goto done;
  double anorm = LAPACKE_dlansy(LAPACK_COL_MAJOR, '1', 'U', (lapack_int)k, S, (lapack_int)k);
  double rcond = 0;
  if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)k, S, (lapack_int)k) != 0 ||
      LAPACKE_dpocon(LAPACK_COL_MAJOR, 'U', (lapack_int)k, S, (lapack_int)k, anorm, &rcond) != 0 ||
      !(rcond >= RCOND_MIN)) {
    need_svd = 1;
    goto done;
  }
  LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', (lapack_int)k, 1, S, (lapack_int)k, z, (lapack_int)k);
  for (int64_t a = 0; a < k; a++) coef[keep[a]] = z[a] / d[a];
done:
  free(keep);
  free(d);
  free(S);
  free(z);
  return need_svd;
}

static double intercept_of(const double *xmean, double ymean, const double *coef, int64_t p,
                           int fit_intercept) {
  if (!fit_intercept) return 0;
  double b = ymean;
  for (int64_t j = 0; j < p; j++) b -= xmean[j] * coef[j];
  return b;
}

int tide_ridge_fit(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                   const tide_Rows *rows, double alpha, int fit_intercept, double *coef,
                   double *intercept, int *solver) {
  if (!(alpha >= 0) || !isfinite(alpha))
    return tide__seterr(TIDE_EINVAL, "ridge: alpha must be a finite number >= 0, got %g", alpha);
  const char *fname = alpha > 0 ? "ridge" : "linear";
  int rc = tide__linear_check(X, y, w, rows, fname);
  if (rc) return rc;
  int64_t n = rows->n, p = X->shape[1];
  int used = TIDE_LS_CHOLESKY;
  if (p > n) { /* wide: no p x p Gram */
    double *xmean = tide__malloc((size_t)(p ? p : 1) * sizeof *xmean), ymean = 0, sw = 0;
    if (!xmean) return tide__seterr(TIDE_ENOMEM, "out of memory for %" PRId64 " features", p);
    rc = tide__linear_means(X, y, w, rows, fname, xmean, &ymean, &sw);
    int fallback = 1;
    if (!rc && alpha > 0) {
      used = TIDE_LS_DUAL;
      rc = solve_dual(X, y, w, rows, alpha, xmean, ymean, fit_intercept, coef, &fallback);
    }
    if (!rc && fallback) {
      used = TIDE_LS_LSTSQ;
      rc = solve_lstsq(X, y, w, rows, alpha, xmean, ymean, fit_intercept, coef);
    }
    if (!rc) *intercept = intercept_of(xmean, ymean, coef, p, fit_intercept);
    free(xmean);
    if (solver) *solver = used;
    return rc;
  }
  tide_Gram g;
  if ((rc = tide__linear_gram(X, y, w, rows, fname, fit_intercept, &g))) return rc;
  int err;
  if (solve_normal(&g, alpha, fit_intercept, n, coef, &err) && !err) {
    used = TIDE_LS_LSTSQ; /* tall (p <= n): by blocks, no copy of the rows */
    err = solve_tsqr(X, y, w, rows, alpha, g.xmean, g.ymean, fit_intercept, coef);
  }
  if (!err) *intercept = intercept_of(g.xmean, g.ymean, coef, p, fit_intercept);
  tide_gram_free(&g);
  if (solver) *solver = used;
  return err;
}

int tide_ridge_gram(const tide_Gram *g, int64_t n, double alpha, int fit_intercept, double *coef,
                    double *intercept, int *refused) {
  int err;
  *refused = solve_normal(g, alpha, fit_intercept, n, coef, &err);
  if (!err && !*refused) *intercept = intercept_of(g->xmean, g->ymean, coef, g->p, fit_intercept);
  return err;
}
