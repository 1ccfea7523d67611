/*
** models.h -- pure-C model kernels over core arrays (OpenBLAS / LAPACKE).
**
** Every kernel takes its data as core arrays of any dtype and strides plus
** an optional row subset, and touches the data only through blocked
** gathers (tide_RowBlocks): a fit on a fold's rows uses a buffer of a few
** thousand rows, never a copy of the fold.  Kernels return TIDE_OK or a
** negative TIDE_E* code with a message (tide__seterr), like the core.
*/
#ifndef TIDE_MODELS_H
#define TIDE_MODELS_H

#include <stdint.h>

#include "core.h"

/* Columns read through affine maps, in a chain: a transformer in front of
** a model (a scaler in a pipeline) without a transformed copy of the data.
** Each link computes, for column j, the same operations in the same order
** as the transformer's own transform: v - sub[j], / div[j], * mul[j],
** + add[j] (each array may be NULL), then clipped to [lo, hi] when clip. */
typedef struct tide_ColMap {
  const double *sub, *div, *mul, *add;
  int clip;
  double lo, hi;
  const struct tide_ColMap *next;
} tide_ColMap;

static inline double tide_colmap_apply(const tide_ColMap *m, int64_t j, double v) {
  for (; m; m = m->next) {
    if (m->sub) v = v - m->sub[j];
    if (m->div) v = v / m->div[j];
    if (m->mul) v = v * m->mul[j];
    if (m->add) v = v + m->add[j];
    if (m->clip) v = v < m->lo ? m->lo : v > m->hi ? m->hi : v;
  }
  return v;
}

/* A subset of rows, in one of three forms:
**   all rows 0..n-1 of the data (idx and span NULL);
**   an index array: entries idx[k * stride] - base (folds hold 1-based row
**     numbers: base 1);
**   ranges (a rowset): nspan pairs span[2j] = first row (0-based),
**     span[2j + 1] = count, read in order. */
typedef struct tide_Rows {
  const int64_t *idx;
  int64_t n;      /* number of rows in the subset */
  int64_t stride; /* in elements */
  int64_t base;
  const int64_t *span;
  int64_t nspan;
  const tide_ColMap *map; /* NULL, or the map the rows' columns are read through */
} tide_Rows;

static inline int64_t tide_rows_at(const tide_Rows *r, int64_t k) {
  if (r->idx) return r->idx[k * r->stride] - r->base;
  if (r->span) {
    const int64_t *s = r->span;
    for (int64_t j = 0; j < r->nspan; j++, s += 2) {
      if (k < s[1]) return s[0] + k;
      k -= s[1];
    }
  }
  return k;
}

/* 1 when r names a subset (an index array or ranges), 0 for all rows. */
static inline int tide_rows_subset(const tide_Rows *r) { return r->idx || r->span; }

/* All rows of an n-row array. */
tide_Rows tide_rows_all(int64_t n);
/* Checks every index of r against nrows; the message names the position. */
int tide_rows_check(const tide_Rows *r, int64_t nrows);

#define TIDE_ROW_BLOCK 4096 /* rows per gathered block */

/* Blocked, converted access to rows of a 1-D or 2-D array:
**   tide_RowBlocks it;
**   tide_rowblocks_init(&it, X, &rows, 0);
**   while (tide_rowblocks_next(&it)) use it.buf (it.nb x it.p, row-major
**     f64), rows it.first .. it.first + it.nb - 1 of the subset;
**   tide_rowblocks_free(&it);
** When X is C-contiguous f64 and the subset is all rows, or ranges and the
** block lies in one of them, buf points into X (no copy; it.direct says
** so), unless the rows carry a column map: then every block is gathered
** and mapped.  Blocks are the same whatever the form of the rows, so results do
** not depend on it.  A 1-D array is treated as n x 1. */
typedef struct tide_RowBlocks {
  const tide_Array *X;
  tide_Rows rows;
  int64_t p, block, first, nb;
  double *buf;     /* the current block */
  double *own;     /* our gather buffer (block x p), NULL when borrowing */
  int direct;      /* buf points into X (read it, never write it) */
  int mode;        /* 1: all rows of a C-contiguous f64 X; 2: ranges of one; 0 */
} tide_RowBlocks;

int tide_rowblocks_init(tide_RowBlocks *it, const tide_Array *X, const tide_Rows *rows,
                        int64_t block);
int tide_rowblocks_next(tide_RowBlocks *it);
void tide_rowblocks_free(tide_RowBlocks *it);

/* Element j (0-based column) of row i (a row number of X) of a 2-D X,
** through the rows' column map. */
static inline double tide_rows_load(const tide_Array *X, const tide_Rows *r, int64_t i, int64_t j) {
  double v = tide_load_f64(X->dtype, X->data + i * X->strides[0] + j * X->strides[1]);
  return r->map ? tide_colmap_apply(r->map, j, v) : v;
}

/* Gathers element j (0-based column; 0 for 1-D) of the subset's rows
** first..first+n-1 of a 1-D / 2-D array into out (f64). */
void tide_gather_col(const tide_Array *a, const tide_Rows *rows, int64_t first, int64_t n,
                     int64_t j, double *out);

/* Sufficient statistics of a linear model, in one blocked pass:
** sw = sum of weights (rows when unweighted), xmean[p], ymean, and with
** center = 1 the centered cross products X'WX (p x p, full symmetric,
** row-major) and X'Wy, and y'Wy (centered); with center = 0, raw ones. */
typedef struct tide_Gram {
  int64_t p;
  double sw, ymean, yty;
  double *xmean, *XtX, *Xty;
} tide_Gram;

int tide_gram(const tide_Array *X, const tide_Array *y, const tide_Array *w,
              const tide_Rows *rows, int center, tide_Gram *g);
void tide_gram_free(tide_Gram *g);

/* Checks that X is 2-D (n x p), y (if not NULL) has n entries (1-D or
** n x 1), w (if not NULL) n non-negative weights, and that the rows used
** hold only finite numbers.  Names the argument in its message. */
int tide_check_xy(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                  const tide_Rows *rows, const char *fname);

/* The sorted distinct labels of y over the rows (-0 and 0 are one label).
** max > 0 bounds their number (more is TIDE_EINVAL, the message starting
** with name); max = 0 allows any number.  *classes is malloc'd. */
int tide_classes(const tide_Array *y, const tide_Rows *rows, int64_t max, const char *name,
                 double **classes, int64_t *nclass);
/* Position of label v in sorted classes c[0..n), or -1. */
int64_t tide_class_index(const double *c, int64_t n, double v);
/* The first of the rows where y is not a whole number (a fraction, NaN or
** an infinity: scikit-learn's "continuous" target): its row of y, 0-based,
** with the value in *v; -1 when there is none (always for integer and
** bool dtypes). */
int64_t tide_first_nonwhole(const tide_Array *y, const tide_Rows *rows, double *v);

/* yhat[k] = X[row k] . coef + intercept for the subset, blocked (dgemv). */
int tide_linear_predict(const tide_Array *X, const tide_Rows *rows, const double *coef,
                        double intercept, double *yhat);

#endif
