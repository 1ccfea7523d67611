/*
** scale.h -- column statistics and affine column maps for the scalers
** (standard_scaler, minmax_scaler), blocked over a row subset.
*/
#ifndef TIDE_SCALE_H
#define TIDE_SCALE_H

#include "models.h"

/* Per-column mean, population variance (two passes: no cancellation),
** min and max over the rows of a 2-D X; each output has p entries. */
int tide_scale_stats(const tide_Array *X, const tide_Rows *rows, double *mean, double *var,
                     double *min, double *max);

/* out (rows->n x p, row-major) = (x - a[j]) / b[j] when div, else
** x * a[j] + b[j]; then clipped to [lo, hi] when clip. */
int tide_scale_apply(const tide_Array *X, const tide_Rows *rows, const double *a,
                     const double *b, int div, int clip, double lo, double hi, double *out);

#endif
