/*
** moments.c -- moments of row sets for the search's shared linear fits.
**
** A ridge or elastic-net fit needs only the statistics of its rows (means,
** X'X and X'y centered, y'y).  Taken about one shift for every row set,
** those are sums that add up over disjoint sets, so a search gets each
** training fold's from the moments of all rows minus those of its test
** fold: one pass over the data for every fold and candidate.  The shift (a
** sample mean) keeps the sums small, so the centering is exact enough (see
** tide__linear_gram, which does the same for one set).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linear.h"

#define SMALL_P 16 /* columns up to which the cross products are summed by hand */

int tide_moments(const tide_Array *X, const tide_Array *y, const tide_Rows *rows,
                 const double *s, double ys, double *m) {
  int64_t p = X->shape[1];
  size_t np = (size_t)(p ? p : 1);
  memset(m, 0, (size_t)tide_moments_len(p) * sizeof *m);
  double *t = m + 3, *Mxy = m + 3 + p, *M = m + 3 + 2 * p;
  double *yb = tide__malloc(TIDE_ROW_BLOCK * sizeof *yb);
  double *cb = tide__malloc((size_t)TIDE_ROW_BLOCK * np * sizeof *cb);
  tide_RowBlocks it;
  int rc = (!yb || !cb) ? tide__seterr(TIDE_ENOMEM, "out of memory for a row block")
                        : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) goto done;
  while (tide_rowblocks_next(&it)) {
    if (y) tide_gather_col(y, rows, it.first, it.nb, 0, yb);
    else memset(yb, 0, (size_t)it.nb * sizeof *yb);
    for (int64_t k = 0; k < it.nb; k++) {
      const double *r = it.buf + k * p;
      double *c = cb + k * p;
      for (int64_t j = 0; j < p; j++) {
        c[j] = r[j] - s[j];
        t[j] += c[j];
      }
      double yc = yb[k] - ys;
      yb[k] = yc;
      m[1] += yc;
      m[2] += yc * yc;
    }
    m[0] += (double)it.nb;
    if (p > 0 && p <= SMALL_P) {
      /* few columns: the cross products by hand, a row at a time; dsyrk
      ** would touch megabytes of BLAS buffers in every worker for this */
      for (int64_t k = 0; k < it.nb; k++) {
        const double *c = cb + k * p;
        for (int64_t i = 0; i < p; i++) {
          double ci = c[i], *Mi = M + i * p;
          for (int64_t j = i; j < p; j++) Mi[j] += ci * c[j];
        }
      }
      cblas_dgemv(CblasRowMajor, CblasTrans, (int)it.nb, (int)p, 1.0, cb, (int)p, yb, 1, 1.0,
                  Mxy, 1);
    } else if (p > 0) {
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)it.nb, 1.0, cb, (int)p,
                  1.0, M, (int)p);
      cblas_dgemv(CblasRowMajor, CblasTrans, (int)it.nb, (int)p, 1.0, cb, (int)p, yb, 1, 1.0,
                  Mxy, 1);
    }
  }
  tide_rowblocks_free(&it);
  for (int64_t i = 0; i < p; i++) /* mirror the upper triangle */
    for (int64_t j = 0; j < i; j++) M[i * p + j] = M[j * p + i];
done:
  free(yb);
  free(cb);
  return rc;
}

int tide_gram_from_moments(const double *m, int64_t p, const double *s, double ys,
                           const double *a, const double *b, int center, tide_Gram *g) {
  memset(g, 0, sizeof *g);
  size_t np = (size_t)(p ? p : 1);
  double n = m[0], ty = m[1], yy = m[2];
  const double *t = m + 3, *Mxy = m + 3 + p, *M = m + 3 + 2 * p;
  if (!(n > 0)) return tide__seterr(TIDE_EINVAL, "no rows to fit on");
  g->p = p;
  g->sw = n;
  g->xmean = tide__malloc(np * sizeof(double));
  g->XtX = tide__malloc(np * np * sizeof(double));
  g->Xty = tide__malloc(np * sizeof(double));
  if (!g->xmean || !g->XtX || !g->Xty) {
    tide_gram_free(g);
    return tide__seterr(TIDE_ENOMEM, "out of memory for %lld features", (long long)p);
  }
  g->ymean = ys + ty / n;
  for (int64_t i = 0; i < p; i++) {
    double di = s[i] - (a ? a[i] : 0), bi = b ? b[i] : 1;
    g->xmean[i] = (di + t[i] / n) / bi;
    for (int64_t j = 0; j < p; j++) {
      double dj = s[j] - (a ? a[j] : 0), bj = b ? b[j] : 1, v;
      if (center) v = M[i * p + j] - t[i] * t[j] / n;
      else v = M[i * p + j] + di * t[j] + t[i] * dj + n * di * dj;
      g->XtX[i * p + j] = v / (bi * bj);
    }
    if (center) g->Xty[i] = (Mxy[i] - t[i] * ty / n) / bi;
    else g->Xty[i] = (Mxy[i] + di * ty + t[i] * ys + n * di * ys) / bi;
  }
  g->yty = center ? yy - ty * ty / n : yy + 2 * ys * ty + n * ys * ys;
  for (int64_t j = 0; j < p; j++)
    if (!isfinite(g->XtX[j * p + j]) || !isfinite(g->Xty[j]) || !isfinite(g->xmean[j])) {
      tide_gram_free(g);
      return tide__seterr(TIDE_EINVAL, "the moments of column %lld are not finite", (long long)j + 1);
    }
  return TIDE_OK;
}

/* y - x.c - b = (y - ys) - (x - s).c + d with d = ys - s.c - b, so
** sum (y - x.c - b)^2 = yy - 2 c.Mxy + c'Mc + 2 d (ty - t.c) + n d^2. */
void tide_moments_sse(const double *m, int64_t p, const double *s, double ys, int64_t q,
                      const double *coef, const double *b, double *sse) {
  double n = m[0], ty = m[1], yy = m[2];
  const double *t = m + 3, *Mxy = m + 3 + p, *M = m + 3 + 2 * p;
  for (int64_t c = 0; c < q; c++) {
    const double *w = coef + c * p;
    double d = ys - b[c], cMxy = 0, ct = 0, cMc = 0;
    for (int64_t i = 0; i < p; i++) {
      d -= s[i] * w[i];
      cMxy += w[i] * Mxy[i];
      ct += w[i] * t[i];
      double r = 0;
      for (int64_t j = 0; j < p; j++) r += M[i * p + j] * w[j];
      cMc += w[i] * r;
    }
    sse[c] = yy - 2 * cMxy + cMc + 2 * d * (ty - ct) + n * d * d;
    if (sse[c] < 0) sse[c] = 0;
  }
}
