/*
** scale.c -- column statistics (mean, variance, min, max) in blocked
** passes over a row subset, and the affine maps the scalers apply.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

int tide_scale_stats(const tide_Array *X, const tide_Rows *rows, double *mean, double *var,
                     double *min, double *max) {
  int64_t p = X->shape[1];
  if (rows->n == 0) return tide__seterr(TIDE_EINVAL, "no rows to fit on");
  for (int64_t j = 0; j < p; j++) {
    mean[j] = var[j] = 0;
    min[j] = INFINITY;
    max[j] = -INFINITY;
  }
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  while (tide_rowblocks_next(&it)) {
    for (int64_t i = 0; i < it.nb; i++) {
      const double *r = it.buf + i * p;
      for (int64_t j = 0; j < p; j++) {
        mean[j] += r[j];
        if (r[j] < min[j]) min[j] = r[j];
        if (r[j] > max[j]) max[j] = r[j];
      }
    }
  }
  tide_rowblocks_free(&it);
  double n = (double)rows->n;
  for (int64_t j = 0; j < p; j++) mean[j] /= n;
  if ((rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK))) return rc;
  while (tide_rowblocks_next(&it)) {
    for (int64_t i = 0; i < it.nb; i++) {
      const double *r = it.buf + i * p;
      for (int64_t j = 0; j < p; j++) var[j] += (r[j] - mean[j]) * (r[j] - mean[j]);
    }
  }
  tide_rowblocks_free(&it);
  for (int64_t j = 0; j < p; j++) var[j] /= n;
  return TIDE_OK;
}

int tide_scale_apply(const tide_Array *X, const tide_Rows *rows, const double *a,
                     const double *b, int div, int clip, double lo, double hi, double *out) {
  int64_t p = X->shape[1];
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  while (tide_rowblocks_next(&it)) {
    double *o = out + it.first * p;
    const double *r = it.buf;
    for (int64_t i = 0; i < it.nb; i++) {
      /* the same operation order as scikit-learn, so results agree to the bit */
      if (div)
        for (int64_t j = 0; j < p; j++) o[i * p + j] = (r[i * p + j] - a[j]) / b[j];
      else
        for (int64_t j = 0; j < p; j++) o[i * p + j] = r[i * p + j] * a[j] + b[j];
      if (clip)
        for (int64_t j = 0; j < p; j++) o[i * p + j] = fmin(fmax(o[i * p + j], lo), hi);
    }
  }
  tide_rowblocks_free(&it);
  return TIDE_OK;
}
