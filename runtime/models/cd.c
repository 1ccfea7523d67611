/*
** cd.c -- elastic net and lasso by coordinate descent, following the
** algorithm of scikit-learn's _cd_fast (same updates, same stopping rule:
** the duality gap is computed when the largest coefficient change of an
** epoch is small relative to the largest coefficient, and the fit stops
** when gap < tol * y'y), so n_iter and the answer match scikit-learn's.
**
** Two forms of the same iteration:
**  - covariance (Gram) updates when rows >> features: X'WX and X'Wy come
**    from tide__linear_gram (one blocked pass, memory O(block x p + p^2), no copy of
**    the fold); an epoch then costs O(p^2) whatever the number of rows.
**  - residual updates otherwise (p > rows, or p too large for a p x p
**    matrix): the residual lives in an n-vector, and the columns of the
**    used rows are gathered in panels of at most block x p numbers (the
**    whole fold when it has at most a block of rows: wide data).
** Objective (sw = sum of weights, n when unweighted), in units scaled by sw
** as _cd_fast does: 1/2 |y - Xw|_W^2 + l1 |w|_1 + l2/2 |w|^2 with
** l1 = alpha l1_ratio sw, l2 = alpha (1 - l1_ratio) sw.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linear.h"

#define AUTO_GRAM_MAX 2048   /* features: above, the p x p matrix is not worth it */
#define GRAM_MAX 46340       /* features: p^2 must stay well inside memory sizes */

/* Soft-thresholded coordinate update shared by both forms: tmp is
** x_j . (residual without coordinate j), nrm = |x_j|^2. */
static double cd_update(double tmp, double nrm, double l1, double l2, int positive) {
  if (positive && tmp < 0) return 0;
  double a = fabs(tmp) - l1;
  if (a <= 0) return 0;
  return (tmp > 0 ? a : -a) / (nrm + l2);
}

/* The duality gap from XtA = X'R - l2 w and the norms (see _cd_fast). */
static double dual_gap(const double *XtA, const double *w, int64_t p, double R_norm2,
                       double R_dot_y, double l1, double l2, int positive) {
  double dual = 0, wn2 = 0, l1n = 0;
  for (int64_t j = 0; j < p; j++) {
    double v = positive ? XtA[j] : fabs(XtA[j]);
    if (v > dual) dual = v;
    wn2 += w[j] * w[j];
    l1n += fabs(w[j]);
  }
  double cst, gap;
  if (dual > l1) {
    cst = l1 / dual;
    gap = 0.5 * (R_norm2 + R_norm2 * cst * cst);
  } else {
    cst = 1.0;
    gap = R_norm2;
  }
  return gap + l1 * l1n - cst * R_dot_y + 0.5 * l2 * (1 + cst * cst) * wn2;
}

typedef struct Sel {
  int random;
  tide_Rng rng;
} Sel;

/* Fills the result both solvers report.  scale turns the gap and tol back
** into scikit-learn's units (sample weights summing to n). */
static void finish(tide_EnetResult *res, const tide_EnetOpts *o, double gap, double tol,
                   double scale, int64_t it, int converged, int gram, double ymean,
                   const double *xmean, const double *coef, int64_t p) {
  res->gap = gap * scale;
  res->tol = tol * scale;
  res->n_iter = converged ? it + 1 : o->max_iter;
  res->converged = converged;
  res->gram = gram;
  res->intercept = 0;
  if (o->fit_intercept) {
    res->intercept = ymean;
    for (int64_t j = 0; j < p; j++) res->intercept -= xmean[j] * coef[j];
  }
}

static int64_t pick(Sel *s, int64_t f, int64_t p) {
  return s->random ? tide_rng_integer(&s->rng, 0, p - 1) : f;
}

/* -------------------------------------------------- covariance updates */

/* Coordinate descent on the statistics g of the rows (n of them): the
** iteration of fit_gram, also used by the search's shared paths, whose
** statistics come from moments (see moments.c). */
int tide_enet_gram(const tide_Gram *g, int64_t n, const tide_EnetOpts *o, double *coef,
                   tide_EnetResult *res) {
  memset(res, 0, sizeof *res);
  int64_t p = g->p;
  const double *Q = g->XtX, *q = g->Xty;
  double *H = tide__calloc((size_t)(p ? p : 1), sizeof *H), *XtA = tide__malloc((size_t)(p ? p : 1) * 8);
  int rc = TIDE_OK;
  if (!H || !XtA) {
    rc = tide__seterr(TIDE_ENOMEM, "elastic net: out of memory for %" PRId64 " features", p);
    goto done;
  }
  double l1 = o->alpha * o->l1_ratio * g->sw, l2 = o->alpha * (1 - o->l1_ratio) * g->sw;
  double tol = o->tol * g->yty, gap = 0;
  Sel sel;
  memset(&sel, 0, sizeof sel);
  sel.random = o->random;
  if (o->random) tide_rng_init(&sel.rng, o->seed, 0);
  /* H = Q w */
  if (p > 0)
    cblas_dsymv(CblasRowMajor, CblasUpper, (int)p, 1.0, Q, (int)p, coef, 1, 0.0, H, 1);
  int64_t it = 0;
  int converged = 0;
  for (it = 0; it < o->max_iter; it++) {
    double w_max = 0, dw_max = 0;
    for (int64_t f = 0; f < p; f++) {
      int64_t j = pick(&sel, f, p);
      double qjj = Q[j * p + j];
      if (qjj == 0) continue;
      double old = coef[j];
      double nw = cd_update(q[j] - H[j] + old * qjj, qjj, l1, l2, o->positive);
      if (nw != old) {
        cblas_daxpy((int)p, nw - old, Q + j * p, 1, H, 1);
        coef[j] = nw;
      }
      if (fabs(nw - old) > dw_max) dw_max = fabs(nw - old);
      if (fabs(nw) > w_max) w_max = fabs(nw);
    }
    if (w_max == 0 || dw_max / w_max < o->tol || it == o->max_iter - 1) {
      double q_w = 0, wHw = 0;
      for (int64_t j = 0; j < p; j++) {
        XtA[j] = q[j] - H[j] - l2 * coef[j];
        q_w += q[j] * coef[j];
        wHw += coef[j] * H[j];
      }
      double R_norm2 = g->yty + wHw - 2 * q_w;
      /* R'y = y'y - q'w */
      gap = dual_gap(XtA, coef, p, R_norm2, g->yty - q_w, l1, l2, o->positive);
      if (gap <= tol) { /* <=: a constant y has gap = tol = 0 */
        converged = 1;
        break;
      }
    }
  }
  finish(res, o, gap, tol, (double)n / g->sw, it, converged, 1, g->ymean, g->xmean, coef, p);
done:
  free(H);
  free(XtA);
  return rc;
}

static int fit_gram(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                    const tide_Rows *rows, const tide_EnetOpts *o, double *coef,
                    tide_EnetResult *res) {
  tide_Gram g;
  int rc = tide__linear_gram(X, y, w, rows, o->l1_ratio == 1 ? "lasso" : "elasticnet",
                             o->fit_intercept, &g);
  if (rc) return rc;
  rc = tide_enet_gram(&g, rows->n, o, coef, res);
  tide_gram_free(&g);
  return rc;
}

/* ---------------------------------------------------- residual updates */

typedef struct Naive {
  const tide_Array *X;
  const tide_Rows *rows;
  int64_t n, p;
  const double *xmean; /* NULL when not centering */
  const double *sq;    /* sqrt of the weights, NULL when unweighted */
} Naive;

/* P (column-major, n x nb) = the centered, sqrt-weighted columns j0 ..
** j0 + nb - 1 of the used rows, read row by row (each row's segment is
** contiguous in a row-major X, so a panel costs one pass over its columns). */
static void panel_fill(const Naive *d, int64_t j0, int64_t nb, double *P) {
  const tide_Array *X = d->X;
  int64_t n = d->n, cs = X->strides[1];
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *row = X->data + tide_rows_at(d->rows, i) * X->strides[0] + j0 * cs;
    double s = d->sq ? d->sq[i] : 1.0;
    for (int64_t jj = 0; jj < nb; jj++) {
      double v = X->dtype == TIDE_F64 ? *(const double *)(row + jj * cs)
                                      : tide_load_f64(X->dtype, row + jj * cs);
      if (d->rows->map) v = tide_colmap_apply(d->rows->map, j0 + jj, v);
      P[jj * n + i] = s * (v - (d->xmean ? d->xmean[j0 + jj] : 0));
    }
  }
}

/* One blocked pass over the rows: with R == NULL, norms[j] = |col_j|^2 and
** R0 = ys - Xc coef (the starting residual); else out[j] = col_j . R. */
static int row_pass(const Naive *d, const double *coef, const double *ys, double *R0,
                    double *norms, const double *R, double *out) {
  int64_t p = d->p;
  double *cb = tide__malloc((size_t)TIDE_ROW_BLOCK * (size_t)(p ? p : 1) * sizeof *cb);
  tide_RowBlocks it;
  int rc = !cb ? tide__seterr(TIDE_ENOMEM, "elastic net: out of memory for a row block")
               : tide_rowblocks_init(&it, d->X, d->rows, TIDE_ROW_BLOCK);
  if (rc) {
    free(cb);
    return rc;
  }
  double *acc = R ? out : norms;
  for (int64_t j = 0; j < p; j++) acc[j] = 0;
  while (tide_rowblocks_next(&it)) {
    for (int64_t k = 0; k < it.nb; k++) {
      int64_t i = it.first + k;
      double s = d->sq ? d->sq[i] : 1.0;
      const double *r = it.buf + k * p;
      double *c = cb + k * p;
      for (int64_t j = 0; j < p; j++) c[j] = s * (r[j] - (d->xmean ? d->xmean[j] : 0));
    }
    if (p == 0) continue;
    if (R) {
      cblas_dgemv(CblasRowMajor, CblasTrans, (int)it.nb, (int)p, 1.0, cb, (int)p, R + it.first,
                  1, 1.0, out, 1);
    } else {
      for (int64_t k = 0; k < it.nb; k++)
        for (int64_t j = 0; j < p; j++) norms[j] += cb[k * p + j] * cb[k * p + j];
      double *r0 = R0 + it.first;
      memcpy(r0, ys + it.first, (size_t)it.nb * sizeof *r0);
      cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)it.nb, (int)p, -1.0, cb, (int)p, coef, 1,
                  1.0, r0, 1);
    }
  }
  tide_rowblocks_free(&it);
  free(cb);
  return TIDE_OK;
}

static int fit_naive(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                     const tide_Rows *rows, const tide_EnetOpts *o, double *coef,
                     tide_EnetResult *res) {
  int64_t n = rows->n, p = X->shape[1];
  size_t np = (size_t)(p ? p : 1), nn = (size_t)(n ? n : 1);
  double *xmean = tide__malloc(np * 8), *norms = tide__malloc(np * 8), *XtA = tide__malloc(np * 8);
  /* Columns are used in panels of B: n x B stays within O(block x p) (the
  ** bound of every fit), and when the rows used are few (n <= block, the
  ** usual wide case) the panel is all of them, gathered once per fit. */
  int64_t B = n <= TIDE_ROW_BLOCK ? p : TIDE_ROW_BLOCK * p / n;
  if (B < 1) B = 1;
  if (B > p) B = p;
  int cached = B == p;
  double *R = tide__malloc(nn * 8), *ys = tide__malloc(nn * 8);
  double *P = tide__malloc(nn * (size_t)(B ? B : 1) * 8);
  double *sq = w ? tide__malloc(nn * 8) : NULL;
  double ymean = 0, sw = 0;
  int rc = TIDE_OK;
  if (!xmean || !norms || !XtA || !R || !ys || !P || (w && !sq)) {
    rc = tide__seterr(TIDE_ENOMEM, "elastic net: out of memory for %" PRId64 " rows", n);
    goto done;
  }
  if ((rc = tide__linear_means(X, y, w, rows, o->l1_ratio == 1 ? "lasso" : "elasticnet",
                               xmean, &ymean, &sw)))
    goto done;
  tide_gather_col(y, rows, 0, n, 0, ys);
  if (w) {
    tide_gather_col(w, rows, 0, n, 0, sq);
    for (int64_t i = 0; i < n; i++) sq[i] = sqrt(sq[i]);
  }
  double yty = 0;
  for (int64_t i = 0; i < n; i++) {
    ys[i] = (sq ? sq[i] : 1.0) * (ys[i] - (o->fit_intercept ? ymean : 0));
    yty += ys[i] * ys[i];
  }
  Naive d = {X, rows, n, p, o->fit_intercept ? xmean : NULL, sq};
  if ((rc = row_pass(&d, coef, ys, R, norms, NULL, NULL))) goto done;
  if (cached && p > 0) panel_fill(&d, 0, p, P);
  double l1 = o->alpha * o->l1_ratio * sw, l2 = o->alpha * (1 - o->l1_ratio) * sw;
  double tol = o->tol * yty, gap = 0;
  Sel sel;
  memset(&sel, 0, sizeof sel);
  sel.random = o->random;
  if (o->random) tide_rng_init(&sel.rng, o->seed, 0);
  int64_t it = 0;
  int converged = 0;
  for (it = 0; it < o->max_iter; it++) {
    double w_max = 0, dw_max = 0;
    for (int64_t f = 0; f < p; f++) {
      int64_t j = pick(&sel, f, p);
      const double *col;
      if (cached) {
        col = P + j * n;
      } else if (sel.random) {
        panel_fill(&d, j, 1, P);
        col = P;
      } else {
        if (j % B == 0) panel_fill(&d, j, B < p - j ? B : p - j, P);
        col = P + (j % B) * n;
      }
      if (norms[j] == 0) continue;
      double old = coef[j];
      double tmp = cblas_ddot((int)n, col, 1, R, 1) + old * norms[j];
      double nw = cd_update(tmp, norms[j], l1, l2, o->positive);
      if (nw != old) {
        cblas_daxpy((int)n, old - nw, col, 1, R, 1);
        coef[j] = nw;
      }
      if (fabs(nw - old) > dw_max) dw_max = fabs(nw - old);
      if (fabs(nw) > w_max) w_max = fabs(nw);
    }
    if (w_max == 0 || dw_max / w_max < o->tol || it == o->max_iter - 1) {
      if (cached) {
        cblas_dgemv(CblasColMajor, CblasTrans, (int)n, (int)p, 1.0, P, (int)n, R, 1, 0.0, XtA, 1);
      } else if ((rc = row_pass(&d, coef, ys, NULL, NULL, R, XtA))) {
        goto done;
      }
      for (int64_t j = 0; j < p; j++) XtA[j] -= l2 * coef[j];
      double R_norm2 = cblas_ddot((int)n, R, 1, R, 1), R_y = cblas_ddot((int)n, R, 1, ys, 1);
      gap = dual_gap(XtA, coef, p, R_norm2, R_y, l1, l2, o->positive);
      if (gap <= tol) { /* <=: a constant y has gap = tol = 0 */
        converged = 1;
        break;
      }
    }
  }
  finish(res, o, gap, tol, (double)n / sw, it, converged, 0, ymean, xmean, coef, p);
done:
  free(xmean);
  free(norms);
  free(XtA);
  free(R);
  free(ys);
  free(P);
  free(sq);
  return rc;
}

int tide_enet_fit(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                  const tide_Rows *rows, const tide_EnetOpts *o, double *coef,
                  tide_EnetResult *res) {
  memset(res, 0, sizeof *res);
  if (!(o->alpha >= 0) || !isfinite(o->alpha))
    return tide__seterr(TIDE_EINVAL, "elastic net: alpha must be a finite number >= 0, got %g",
                        o->alpha);
  if (!(o->l1_ratio >= 0 && o->l1_ratio <= 1))
    return tide__seterr(TIDE_EINVAL, "elastic net: l1_ratio must be in [0, 1], got %g",
                        o->l1_ratio);
  if (!(o->tol >= 0) || !isfinite(o->tol))
    return tide__seterr(TIDE_EINVAL, "elastic net: tol must be a finite number >= 0, got %g",
                        o->tol);
  if (o->max_iter < 1)
    return tide__seterr(TIDE_EINVAL, "elastic net: max_iter must be >= 1, got %" PRId64,
                        o->max_iter);
  int rc = tide__linear_check(X, y, w, rows, o->l1_ratio == 1 ? "lasso" : "elasticnet");
  if (rc) return rc;
  int64_t p = X->shape[1];
  for (int64_t j = 0; j < p; j++)
    if (!isfinite(coef[j]))
      return tide__seterr(TIDE_EINVAL, "elastic net: the starting coefficients (warm start) "
                          "hold NaN or infinity");
  int gram = o->precompute > 0 ||
             (o->precompute < 0 && p <= rows->n && p <= AUTO_GRAM_MAX);
  if (gram && p > GRAM_MAX)
    return tide__seterr(TIDE_EINVAL, "elastic net: %" PRId64 " features are too many for the "
                        "Gram matrix (precompute = false uses residual updates)", p);
  return gram ? fit_gram(X, y, w, rows, o, coef, res) : fit_naive(X, y, w, rows, o, coef, res);
}
