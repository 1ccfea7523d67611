/*
** rows.c -- blocked row access for model kernels: gathers of a row subset
** into a small f64 buffer, column gathers, sufficient statistics (means,
** X'WX, X'Wy) in blocked passes, input checks and linear predictions.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "models.h"

tide_Rows tide_rows_all(int64_t n) {
  tide_Rows r = {NULL, n, 1, 0, NULL, 0, NULL};
  return r;
}

int tide_rows_check(const tide_Rows *r, int64_t nrows) {
  if (r->span) {
    for (int64_t j = 0; j < r->nspan; j++) {
      int64_t f = r->span[2 * j], c = r->span[2 * j + 1];
      if (f < 0 || c < 0 || f + c > nrows)
        return tide__seterr(TIDE_ERANGE, "rows: range %" PRId64 " is %" PRId64 "..%" PRId64
                            ", outside 1..%" PRId64, j + 1, f + 1, f + c, nrows);
    }
    return TIDE_OK;
  }
  if (!r->idx) return TIDE_OK;
  /* the raw entries: v - base overflows for v near INT64_MIN */
  for (int64_t k = 0; k < r->n; k++) {
    int64_t v = r->idx[k * r->stride];
    if (v < r->base || v - r->base >= nrows)
      return tide__seterr(TIDE_ERANGE, "rows: entry %" PRId64 " is %" PRId64
                          ", outside 1..%" PRId64, k + 1, v, nrows);
  }
  return TIDE_OK;
}

static int64_t ncols(const tide_Array *X) { return X->ndim == 2 ? X->shape[1] : 1; }


int tide_rowblocks_init(tide_RowBlocks *it, const tide_Array *X, const tide_Rows *rows,
                        int64_t block) {
  memset(it, 0, sizeof *it);
  it->X = X;
  it->rows = *rows;
  it->p = ncols(X);
  it->block = block > 0 ? block : TIDE_ROW_BLOCK;
  it->first = 0;
  it->nb = 0;
  int contig = X->dtype == TIDE_F64 && tide_array_is_c_contiguous(X) && !rows->map;
  it->mode = !tide_rows_subset(rows) && contig ? 1 : rows->span && contig ? 2 : 0;
  it->direct = it->mode == 1;
  if (!it->direct) {
    size_t len = (size_t)(it->block * (it->p ? it->p : 1));
    it->own = tide__malloc(len * sizeof *it->own);
    if (!it->own) return tide__seterr(TIDE_ENOMEM, "out of memory for a row block");
  }
  return TIDE_OK;
}

int tide_rowblocks_next(tide_RowBlocks *it) {
  it->first += it->nb;
  if (it->first >= it->rows.n) return 0;
  int64_t nb = it->rows.n - it->first;
  if (nb > it->block) nb = it->block;
  it->nb = nb;
  const tide_Array *X = it->X;
  int64_t p = it->p;
  if (it->mode == 1) {
    it->buf = (double *)X->data + it->first * p;
    return 1;
  }
  if (it->mode == 2) { /* the range holding this block's first row */
    int64_t k = it->first;
    const int64_t *sp = it->rows.span;
    for (int64_t j = 0; j + 1 < it->rows.nspan && k >= sp[1]; j++, sp += 2) k -= sp[1];
    it->direct = nb <= sp[1] - k;
    if (it->direct) {
      it->buf = (double *)X->data + (sp[0] + k) * p;
      return 1;
    }
  }
  int64_t cs = X->ndim == 2 ? X->strides[1] : 0, rs = X->strides[0];
  if (X->dtype == TIDE_F64 && cs == 8) {
    /* runs of consecutive rows in one copy each when rows are contiguous */
    for (int64_t k = 0, len; k < nb; k += len) {
      int64_t r0 = tide_rows_at(&it->rows, it->first + k);
      len = 1;
      if (rs == p * 8)
        while (k + len < nb && tide_rows_at(&it->rows, it->first + k + len) == r0 + len) len++;
      memcpy(it->own + k * p, X->data + r0 * rs, (size_t)(len * p) * 8);
    }
  } else {
    for (int64_t k = 0; k < nb; k++) {
      const unsigned char *row = X->data + tide_rows_at(&it->rows, it->first + k) * rs;
      double *out = it->own + k * p;
      for (int64_t j = 0; j < p; j++) out[j] = tide_load_f64(X->dtype, row + j * cs);
    }
  }
  if (it->rows.map)
    for (int64_t k = 0; k < nb; k++)
      for (int64_t j = 0; j < p; j++)
        it->own[k * p + j] = tide_colmap_apply(it->rows.map, j, it->own[k * p + j]);
  it->buf = it->own;
  return 1;
}

void tide_rowblocks_free(tide_RowBlocks *it) {
  free(it->own);
  it->own = NULL;
}

void tide_gather_col(const tide_Array *a, const tide_Rows *rows, int64_t first, int64_t n,
                     int64_t j, double *out) {
  const unsigned char *base = a->data + (a->ndim == 2 ? j * a->strides[1] : 0);
  int64_t st = a->strides[0];
  if (a->dtype == TIDE_F64) {
    for (int64_t k = 0; k < n; k++)
      out[k] = *(const double *)(base + tide_rows_at(rows, first + k) * st);
  } else {
    for (int64_t k = 0; k < n; k++)
      out[k] = tide_load_f64(a->dtype, base + tide_rows_at(rows, first + k) * st);
  }
}

void tide_gram_free(tide_Gram *g) {
  free(g->xmean);
  free(g->XtX);
  free(g->Xty);
  memset(g, 0, sizeof *g);
}

int tide_gram(const tide_Array *X, const tide_Array *y, const tide_Array *w,
              const tide_Rows *rows, int center, tide_Gram *g) {
  memset(g, 0, sizeof *g);
  int64_t p = ncols(X);
  g->p = p;
  g->xmean = tide__calloc((size_t)(p ? p : 1), sizeof(double));
  g->XtX = tide__calloc((size_t)(p > 0 ? p * p : 1), sizeof(double));
  g->Xty = tide__calloc((size_t)(p ? p : 1), sizeof(double));
  double *yb = tide__malloc(TIDE_ROW_BLOCK * sizeof *yb), *wb = tide__malloc(TIDE_ROW_BLOCK * sizeof *wb);
  double *cb = tide__malloc((size_t)TIDE_ROW_BLOCK * (size_t)(p ? p : 1) * sizeof *cb);
  tide_RowBlocks it;
  int rc = (!g->xmean || !g->XtX || !g->Xty || !yb || !wb || !cb)
               ? tide__seterr(TIDE_ENOMEM, "out of memory for %" PRId64 " features", p)
               : tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) goto done;
  /* pass 1: weighted means (centering in a second pass keeps X'X accurate
  ** when the columns have large means: no sum-of-squares cancellation) */
  double sw = 0, sy = 0;
  while (tide_rowblocks_next(&it)) {
    if (y) tide_gather_col(y, rows, it.first, it.nb, 0, yb);
    if (w) tide_gather_col(w, rows, it.first, it.nb, 0, wb);
    for (int64_t k = 0; k < it.nb; k++) {
      double wk = w ? wb[k] : 1.0;
      const double *r = it.buf + k * p;
      for (int64_t j = 0; j < p; j++) g->xmean[j] += wk * r[j];
      if (y) sy += wk * yb[k];
      sw += wk;
    }
  }
  if (sw <= 0) {
    rc = tide__seterr(TIDE_EINVAL, "the rows used have no weight (no rows, or all weights 0)");
    goto freeit;
  }
  for (int64_t j = 0; j < p; j++) g->xmean[j] /= sw;
  g->ymean = sy / sw;
  g->sw = sw;
  /* pass 2: cross products of the (centered, sqrt-weighted) block */
  tide_rowblocks_free(&it);
  if ((rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK))) goto done;
  while (tide_rowblocks_next(&it)) {
    if (y) tide_gather_col(y, rows, it.first, it.nb, 0, yb);
    if (w) tide_gather_col(w, rows, it.first, it.nb, 0, wb);
    for (int64_t k = 0; k < it.nb; k++) {
      double sq = w ? sqrt(wb[k]) : 1.0;
      const double *r = it.buf + k * p;
      double *c = cb + k * p;
      for (int64_t j = 0; j < p; j++) c[j] = sq * (r[j] - (center ? g->xmean[j] : 0));
      if (y) {
        double yc = sq * (yb[k] - (center ? g->ymean : 0));
        yb[k] = yc;
        g->yty += yc * yc;
      }
    }
    if (p > 0) {
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)it.nb, 1.0, cb, (int)p,
                  1.0, g->XtX, (int)p);
      if (y) cblas_dgemv(CblasRowMajor, CblasTrans, (int)it.nb, (int)p, 1.0, cb, (int)p, yb, 1,
                         1.0, g->Xty, 1);
    }
  }
  for (int64_t i = 0; i < p; i++) /* mirror the upper triangle */
    for (int64_t j = 0; j < i; j++) g->XtX[i * p + j] = g->XtX[j * p + i];
freeit:
  tide_rowblocks_free(&it);
done:
  free(yb);
  free(wb);
  free(cb);
  if (rc) tide_gram_free(g);
  return rc;
}

static int finite_inner(unsigned char **ptr, int64_t n, const int64_t *st, void *ud) {
  const int *dt = ud;
  if (!tide_dtype_isfloat(*dt)) return 0;
  const unsigned char *p = ptr[0];
  for (int64_t i = 0; i < n; i++, p += st[0])
    if (!isfinite(tide_load_f64(*dt, p))) return 1;
  return 0;
}

/* 1 when a (or its subset rows) holds NaN or infinity. */
static int has_nonfinite(const tide_Array *a, const tide_Rows *rows) {
  if (!tide_dtype_isfloat(a->dtype)) return 0;
  if (!tide_rows_subset(rows)) {
    unsigned char *base[1] = {a->data};
    const int64_t *st[1] = {a->strides};
    int dt = a->dtype;
    return tide_nditer(1, a->ndim, a->shape, base, st, finite_inner, &dt) != 0;
  }
  if (a->dtype == TIDE_F64 && (a->ndim == 1 || (a->ndim == 2 && a->strides[1] == 8))) {
    /* the common case, without an iterator per row: a fold check is then
    ** as cheap as one gather pass */
    int64_t p = a->ndim == 2 ? a->shape[1] : 1;
    for (int64_t k = 0; k < rows->n; k++) {
      const double *r = (const double *)(a->data + tide_rows_at(rows, k) * a->strides[0]);
      double s = 0;
      for (int64_t j = 0; j < p; j++) s += r[j] * 0; /* NaN or Inf make s NaN */
      if (s != s) return 1;
    }
    return 0;
  }
  tide_Array row = *a;
  for (int64_t k = 0; k < rows->n; k++) {
    row = *a;
    tide_array_select(&row, 0, tide_rows_at(rows, k));
    unsigned char *base[1] = {row.data};
    const int64_t *st[1] = {row.strides};
    int dt = a->dtype;
    if (row.ndim == 0) {
      if (!isfinite(tide_load_f64(dt, row.data))) return 1;
    } else if (tide_nditer(1, row.ndim, row.shape, base, st, finite_inner, &dt)) {
      return 1;
    }
  }
  return 0;
}

int tide_check_xy(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                  const tide_Rows *rows, const char *fname) {
  if (X->ndim != 2)
    return tide__seterr(TIDE_ESHAPE, "%s: X must be 2-dimensional (rows x features), got %d "
                        "dimension(s)", fname, X->ndim);
  int64_t n = X->shape[0];
  if (y) {
    int ok = (y->ndim == 1 && y->shape[0] == n) || (y->ndim == 2 && y->shape[0] == n &&
                                                     y->shape[1] == 1);
    if (!ok) {
      char b[128];
      return tide__seterr(TIDE_ESHAPE, "%s: y has shape %s but X has %" PRId64 " rows", fname,
                          tide_shape_str(y->ndim, y->shape, b, sizeof b), n);
    }
  }
  if (w && !(w->ndim == 1 && w->shape[0] == n))
    return tide__seterr(TIDE_ESHAPE, "%s: sample weights must be a vector of %" PRId64
                        " entries", fname, n);
  int rc = tide_rows_check(rows, n);
  if (rc) return tide__seterr(rc, "%s: %s", fname, tide_lasterror());
  if (rows->n == 0) return tide__seterr(TIDE_EINVAL, "%s: no rows to fit on", fname);
  if (has_nonfinite(X, rows))
    return tide__seterr(TIDE_EINVAL, "%s: X holds NaN or infinity", fname);
  if (y && has_nonfinite(y, rows))
    return tide__seterr(TIDE_EINVAL, "%s: y holds NaN or infinity", fname);
  if (w) {
    if (has_nonfinite(w, rows)) return tide__seterr(TIDE_EINVAL, "%s: weights hold NaN or infinity", fname);
    for (int64_t k = 0; k < rows->n; k++)
      if (tide_load_f64(w->dtype, w->data + tide_rows_at(rows, k) * w->strides[0]) < 0)
        return tide__seterr(TIDE_EINVAL, "%s: sample weights must be >= 0", fname);
  }
  return TIDE_OK;
}

int64_t tide_class_index(const double *c, int64_t n, double v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (c[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && c[lo] == v ? lo : -1;
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A small sorted set while the labels are few (memory O(classes)); once
** there are more than 1024 (an unbounded call), one sort of all labels. */
int tide_classes(const tide_Array *y, const tide_Rows *rows, int64_t max, const char *name,
                 double **classes, int64_t *nclass) {
  int64_t cap = 64, nc = 0;
  double *c = tide__malloc((size_t)cap * sizeof *c);
  if (!c) return tide__seterr(TIDE_ENOMEM, "%s: out of memory for the classes", name);
  double prev = 0;
  for (int64_t i = 0; i < rows->n; i++) {
    double v = tide_load_f64(y->dtype, y->data + tide_rows_at(rows, i) * y->strides[0]);
    if (v == 0) v = 0.0; /* -0 and 0 are one label */
    if (i > 0 && v == prev) continue; /* runs of one label are common */
    prev = v;
    int64_t lo = 0, hi = nc;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (c[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo < nc && c[lo] == v) continue;
    if (max > 0 && nc == max) {
      free(c);
      return tide__seterr(TIDE_EINVAL, "%s: y has more than %lld distinct labels (is it a "
                          "continuous target?)", name, (long long)max);
    }
    if (max == 0 && nc >= 1024) { /* many labels: sort them all */
      free(c);
      c = tide__malloc((size_t)(rows->n ? rows->n : 1) * sizeof *c);
      if (!c) return tide__seterr(TIDE_ENOMEM, "%s: out of memory for the classes", name);
      for (int64_t m = 0; m < rows->n; m++) {
        c[m] = tide_load_f64(y->dtype, y->data + tide_rows_at(rows, m) * y->strides[0]);
        if (c[m] == 0) c[m] = 0.0;
      }
      qsort(c, (size_t)rows->n, sizeof *c, dbl_cmp);
      nc = 0;
      for (int64_t m = 0; m < rows->n; m++)
        if (nc == 0 || c[nc - 1] != c[m]) c[nc++] = c[m];
      break;
    }
    if (nc == cap) {
      double *g = tide__realloc(c, (size_t)(cap * 2) * sizeof *c);
      if (!g) {
        free(c);
        return tide__seterr(TIDE_ENOMEM, "%s: out of memory for the classes", name);
      }
      c = g;
      cap *= 2;
    }
    memmove(c + lo + 1, c + lo, (size_t)(nc - lo) * sizeof *c);
    c[lo] = v;
    nc++;
  }
  *classes = c;
  *nclass = nc;
  return TIDE_OK;
}

int tide_linear_predict(const tide_Array *X, const tide_Rows *rows, const double *coef,
                        double intercept, double *yhat) {
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  while (tide_rowblocks_next(&it)) {
    double *out = yhat + it.first;
    for (int64_t k = 0; k < it.nb; k++) out[k] = intercept;
    if (it.p > 0)
      cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)it.nb, (int)it.p, 1.0, it.buf, (int)it.p,
                  coef, 1, 1.0, out, 1);
  }
  tide_rowblocks_free(&it);
  return TIDE_OK;
}

int64_t tide_first_nonwhole(const tide_Array *y, const tide_Rows *rows, double *v) {
  if (!tide_dtype_isfloat(y->dtype)) return -1;
  for (int64_t k = 0; k < rows->n; k++) {
    int64_t i = tide_rows_at(rows, k);
    double x = tide_load_f64(y->dtype, y->data + i * y->strides[0]);
    if (!(x == floor(x)) || isinf(x)) { /* NaN compares false */
      *v = x;
      return i;
    }
  }
  return -1;
}
