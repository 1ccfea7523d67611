/*
** shape.c -- joining (concat, stack), repeating (tile, repeat), moving
** (roll), diagonals and triangles, outer products, and the view edits
** flip / squeeze / unsqueeze.  See shape.h.
**
** Most copies here are one tide_array_assign between two views of the
** same shape: the destination a slice of the result, the source the input
** with 0 strides where it repeats (numpy's broadcasting trick), so the
** element loops are tide_nditer's and dtype conversion is assign's.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"

void tide__bcast_strides(const tide_Array *x, int ndim, int64_t *st) {
  int off = ndim - x->ndim;
  for (int d = 0; d < ndim; d++)
    st[d] = d < off || x->shape[d - off] == 1 ? 0 : x->strides[d - off];
}

static int check_dim(int dim, int ndim) {
  if (dim < 0 || dim >= ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, ndim);
  return TIDE_OK;
}

/* ------------------------------------------------------------ joining */

int tide_concat(int n, const tide_Array *const *arrs, int dim, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (n < 1) return tide__seterr(TIDE_EINVAL, "nothing to join (an empty list)");
  const tide_Array *f = arrs[0];
  for (int i = 0; i < n; i++)
    if (!arrs[i]->storage) return tide__seterr(TIDE_ECLOSED, "array %d is closed", i + 1);
  if (f->ndim == 0) return tide__seterr(TIDE_ESHAPE, "0-dimensional arrays cannot be joined");
  int rc = check_dim(dim, f->ndim);
  if (rc) return rc;
  int64_t shape[TIDE_MAXDIM];
  memcpy(shape, f->shape, sizeof shape);
  shape[dim] = 0;
  int dt = f->dtype;
  for (int i = 0; i < n; i++) {
    const tide_Array *x = arrs[i];
    char b1[128], b2[128];
    if (x->ndim != f->ndim)
      return tide__seterr(TIDE_ESHAPE, "array %d has shape %s and array 1 %s: "
                          "the dimension counts differ", i + 1,
                          tide_shape_str(x->ndim, x->shape, b1, sizeof b1),
                          tide_shape_str(f->ndim, f->shape, b2, sizeof b2));
    for (int d = 0; d < f->ndim; d++)
      if (d != dim && x->shape[d] != f->shape[d])
        return tide__seterr(TIDE_ESHAPE, "array %d has shape %s and array 1 %s: dimension "
                            "%d differs (only dimension %d may)", i + 1,
                            tide_shape_str(x->ndim, x->shape, b1, sizeof b1),
                            tide_shape_str(f->ndim, f->shape, b2, sizeof b2), d + 1, dim + 1);
    if (x->shape[dim] > INT64_MAX / 2 - shape[dim])
      return tide__seterr(TIDE_EINVAL, "shape is too large");
    shape[dim] += x->shape[dim];
    dt = tide_promote(dt, x->dtype);
  }
  if ((rc = tide_array_new(out, dt, f->ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    return rc;
  int64_t off = 0;
  for (int i = 0; i < n && !rc; i++) {
    tide_Array v = *out;
    tide_array_slice(&v, dim, off, off + arrs[i]->shape[dim], 1);
    rc = tide_array_assign(&v, arrs[i]);
    off += arrs[i]->shape[dim];
  }
  if (rc) tide_array_close(out);
  return rc;
}

int tide_stack(int n, const tide_Array *const *arrs, int dim, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (n < 1) return tide__seterr(TIDE_EINVAL, "nothing to stack (an empty list)");
  const tide_Array *f = arrs[0];
  if (dim < 0 || dim > f->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for stacking %d-dimensional "
                        "arrays (1..%d)", dim + 1, f->ndim, f->ndim + 1);
  if (f->ndim + 1 > TIDE_MAXDIM) return tide__seterr(TIDE_EINVAL, "too many dimensions");
  int dt = f->dtype;
  for (int i = 0; i < n; i++) {
    const tide_Array *x = arrs[i];
    if (!x->storage) return tide__seterr(TIDE_ECLOSED, "array %d is closed", i + 1);
    if (x->ndim != f->ndim || memcmp(x->shape, f->shape, (size_t)f->ndim * 8) != 0) {
      char b1[128], b2[128];
      return tide__seterr(TIDE_ESHAPE, "array %d has shape %s and array 1 %s: stacked arrays "
                          "must have one shape", i + 1,
                          tide_shape_str(x->ndim, x->shape, b1, sizeof b1),
                          tide_shape_str(f->ndim, f->shape, b2, sizeof b2));
    }
    dt = tide_promote(dt, x->dtype);
  }
  int64_t shape[TIDE_MAXDIM];
  for (int d = 0, k = 0; d <= f->ndim; d++) shape[d] = d == dim ? n : f->shape[k++];
  int rc = tide_array_new(out, dt, f->ndim + 1, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  for (int i = 0; i < n && !rc; i++) {
    tide_Array v = *out;
    tide_array_select(&v, dim, i);
    rc = tide_array_assign(&v, arrs[i]);
  }
  if (rc) tide_array_close(out);
  return rc;
}

/* ------------------------------------------------------------ moving */

/* A view of a's elements as one flat C-ordered dimension, a copy when a
** is not C-contiguous (c is then closed by the caller). */
static int flat_view(const tide_Array *a, tide_Array *v, tide_Array *c) {
  int64_t n = tide_array_size(a);
  memset(c, 0, sizeof *c);
  if (tide_array_is_c_contiguous(a)) {
    *v = *a;
  } else {
    int rc = tide_array_copy(a, -1, c);
    if (rc) return rc;
    *v = *c;
  }
  v->ndim = 1;
  v->shape[0] = n;
  v->strides[0] = tide_dtype_size(a->dtype);
  return TIDE_OK;
}

int tide_roll(const tide_Array *a, int64_t k, int dim, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int rc;
  tide_Array src = *a, tmp = {0}, dst;
  if (dim >= 0 && (rc = check_dim(dim, a->ndim))) return rc;
  if ((rc = tide_array_new(out, a->dtype, a->ndim, a->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    return rc;
  dst = *out;
  if (dim < 0) {
    if ((rc = flat_view(a, &src, &tmp))) goto done;
    dst.ndim = 1;
    dst.shape[0] = src.shape[0];
    dst.strides[0] = src.strides[0];
    dim = 0;
  }
  int64_t len = src.shape[dim];
  if (len == 0 || tide_array_size(&src) == 0) goto done;
  k %= len;
  if (k < 0) k += len;
  /* dst[k:] = src[:len-k], dst[:k] = src[len-k:] */
  tide_Array d1 = dst, s1 = src, d2 = dst, s2 = src;
  tide_array_slice(&d1, dim, k, len, 1);
  tide_array_slice(&s1, dim, 0, len - k, 1);
  tide_array_slice(&d2, dim, 0, k, 1);
  tide_array_slice(&s2, dim, len - k, len, 1);
  d1.flags = d2.flags = 0;
  if (!(rc = tide_array_assign(&d1, &s1))) rc = tide_array_assign(&d2, &s2);
done:
  tide_array_close(&tmp);
  if (rc) tide_array_close(out);
  return rc;
}

/* ------------------------------------------------------------ repeating */

int tide_tile(const tide_Array *a, int nreps, const int64_t *reps, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int d = a->ndim > nreps ? a->ndim : nreps;
  if (2 * d > TIDE_MAXDIM)
    return tide__seterr(TIDE_EINVAL, "tile handles up to %d dimensions", TIDE_MAXDIM / 2);
  int64_t sh[TIDE_MAXDIM], rp[TIDE_MAXDIM], ast[TIDE_MAXDIM], shape[TIDE_MAXDIM];
  for (int i = 0; i < d; i++) {
    int ai = i - (d - a->ndim), ri = i - (d - nreps);
    sh[i] = ai >= 0 ? a->shape[ai] : 1;
    ast[i] = ai >= 0 ? a->strides[ai] : 0;
    rp[i] = ri >= 0 ? reps[ri] : 1;
    if (rp[i] < 0) return tide__seterr(TIDE_EINVAL, "repetition %d is negative", ri + 1);
    if (sh[i] && rp[i] > INT64_MAX / 4 / sh[i]) return tide__seterr(TIDE_EINVAL, "shape is too large");
    shape[i] = sh[i] * rp[i];
  }
  int rc = tide_array_new(out, a->dtype, d, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc || tide_array_size(out) == 0) return rc;
  /* out seen as (rp0, sh0, rp1, sh1, ...), a as (-, sh0, -, sh1, ...) */
  tide_Array dv = *out, sv = *a;
  dv.ndim = sv.ndim = 2 * d;
  for (int i = 0; i < d; i++) {
    dv.shape[2 * i] = sv.shape[2 * i] = rp[i];
    dv.shape[2 * i + 1] = sv.shape[2 * i + 1] = sh[i];
    dv.strides[2 * i] = out->strides[i] * sh[i];
    dv.strides[2 * i + 1] = out->strides[i];
    sv.strides[2 * i] = 0;
    sv.strides[2 * i + 1] = ast[i];
  }
  if ((rc = tide_array_assign(&dv, &sv))) tide_array_close(out);
  return rc;
}

int tide_repeat(const tide_Array *a, const int64_t *counts, int64_t ncounts, int dim,
                tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int rc;
  tide_Array src = *a, tmp = {0};
  if (dim < 0) {
    if ((rc = flat_view(a, &src, &tmp))) return rc;
    dim = 0;
  } else if ((rc = check_dim(dim, a->ndim))) {
    return rc;
  }
  int64_t len = src.shape[dim], total = 0;
  if (ncounts != 1 && ncounts != len) {
    tide_array_close(&tmp);
    return tide__seterr(TIDE_ESHAPE, "%" PRId64 " repeat counts for a dimension of size %" PRId64,
                        ncounts, len);
  }
  for (int64_t i = 0; i < ncounts; i++) {
    if (counts[i] < 0) {
      tide_array_close(&tmp);
      return tide__seterr(TIDE_EINVAL, "repeat count %" PRId64 " (position %" PRId64
                          ") is negative", counts[i], i + 1);
    }
    if (counts[i] > INT64_MAX / 4 / (ncounts == 1 ? (len ? len : 1) : ncounts)) {
      tide_array_close(&tmp);
      return tide__seterr(TIDE_EINVAL, "shape is too large");
    }
    total += ncounts == 1 ? counts[0] * len : counts[i];
  }
  int64_t shape[TIDE_MAXDIM];
  memcpy(shape, src.shape, sizeof shape);
  shape[dim] = total;
  rc = tide_array_new(out, a->dtype, src.ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc || tide_array_size(out) == 0) goto done;
  if (ncounts == 1 && src.ndim < TIDE_MAXDIM) {
    /* out's dim seen as (len, k), src's as (len, -) */
    int64_t k = counts[0];
    tide_Array dv = *out, sv = src;
    for (int d = src.ndim; d > dim + 1; d--) {
      dv.shape[d] = dv.shape[d - 1], dv.strides[d] = dv.strides[d - 1];
      sv.shape[d] = sv.shape[d - 1], sv.strides[d] = sv.strides[d - 1];
    }
    dv.ndim = sv.ndim = src.ndim + 1;
    dv.shape[dim] = sv.shape[dim] = len;
    dv.shape[dim + 1] = sv.shape[dim + 1] = k;
    dv.strides[dim + 1] = out->strides[dim];
    dv.strides[dim] = out->strides[dim] * k;
    sv.strides[dim] = src.strides[dim];
    sv.strides[dim + 1] = 0;
    rc = tide_array_assign(&dv, &sv);
  } else {
    int64_t off = 0;
    for (int64_t i = 0; i < len && !rc; i++) {
      int64_t k = ncounts == 1 ? counts[0] : counts[i];
      tide_Array dv = *out, sv = src;
      tide_array_slice(&dv, dim, off, off + k, 1);
      tide_array_slice(&sv, dim, i, i + 1, 1);
      sv.shape[dim] = k;
      sv.strides[dim] = 0;
      rc = tide_array_assign(&dv, &sv);
      off += k;
    }
  }
done:
  tide_array_close(&tmp);
  if (rc) tide_array_close(out);
  return rc;
}

/* ------------------------------------------------------------ diagonals */

int tide_array_diagonal(tide_Array *a, int64_t k) {
  if (a->ndim != 2)
    return tide__seterr(TIDE_ESHAPE, "a diagonal needs a matrix (this array has %d dimension%s)",
                        a->ndim, a->ndim == 1 ? "" : "s");
  int64_t r = a->shape[0], c = a->shape[1], len;
  if (k >= 0) {
    len = k >= c ? 0 : (r < c - k ? r : c - k);
    if (len > 0) a->data += k * a->strides[1];
  } else {
    len = k <= -r ? 0 : (r + k < c ? r + k : c); /* not -k: k may be INT64_MIN */
    if (len > 0) a->data += -k * a->strides[0];
  }
  a->ndim = 1;
  a->strides[0] = a->strides[0] + a->strides[1];
  a->shape[0] = len;
  return TIDE_OK;
}

int tide_diag(const tide_Array *a, int64_t k, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (a->ndim == 2) {
    tide_Array v = *a;
    tide_array_diagonal(&v, k);
    return tide_array_copy(&v, -1, out);
  }
  if (a->ndim != 1)
    return tide__seterr(TIDE_ESHAPE, "diag takes a vector or a matrix, not a %d-dimensional array",
                        a->ndim);
  /* |k| beyond any array size would overflow n + |k| (and -k) */
  if (k > INT32_MAX || k < -INT32_MAX)
    return tide__seterr(TIDE_ERANGE, "diag: offset %" PRId64 " is too large", k);
  int64_t n = a->shape[0], m = n + (k < 0 ? -k : k);
  int64_t shape[2] = {m, m};
  int rc = tide_array_new(out, a->dtype, 2, shape, TIDE_WHERE_AUTO);
  if (rc) return rc;
  tide_Array v = *out;
  tide_array_diagonal(&v, k);
  if ((rc = tide_array_assign(&v, a))) tide_array_close(out);
  return rc;
}

int tide_tri(const tide_Array *a, int64_t k, int upper, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (a->ndim == 0) return tide__seterr(TIDE_ESHAPE, "%s needs an array of 1 or more dimensions",
                                        upper ? "triu" : "tril");
  tide_Array src = *a;
  if (a->ndim == 1) { /* numpy: the vector as every row of a square matrix */
    src.ndim = 2;
    src.shape[1] = src.shape[0];
    src.strides[1] = src.strides[0];
    src.strides[0] = 0;
  }
  int rc = tide_array_new(out, a->dtype, src.ndim, src.shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return rc;
  if ((rc = tide_array_assign(out, &src))) {
    tide_array_close(out);
    return rc;
  }
  int nd = src.ndim;
  int64_t r = src.shape[nd - 2], c = src.shape[nd - 1], total = tide_array_size(out);
  size_t isz = (size_t)tide_dtype_size(a->dtype);
  if (total == 0) return TIDE_OK;
  /* past these, k changes nothing; clamped, i + k + 1 cannot overflow
  ** (fuzz_api: tril(a, math.maxinteger)) */
  if (k > c) k = c;
  if (k < -r - 1) k = -r - 1;
  int64_t mats = total / (r * c);
  for (int64_t m = 0; m < mats; m++)
    for (int64_t i = 0; i < r; i++) {
      unsigned char *row = out->data + (size_t)((m * r + i) * c) * isz;
      /* tril keeps j <= i + k; triu keeps j >= i + k; zero the rest */
      int64_t lo, hi;
      if (upper) {
        lo = 0;
        hi = i + k < 0 ? 0 : i + k > c ? c : i + k;
      } else {
        lo = i + k + 1 < 0 ? 0 : i + k + 1 > c ? c : i + k + 1;
        hi = c;
      }
      if (hi > lo) memset(row + (size_t)lo * isz, 0, (size_t)(hi - lo) * isz);
    }
  return TIDE_OK;
}

int tide_outer(const tide_Array *u, const tide_Array *v, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!u->storage || !v->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  tide_Array fu, fv, cu, cv;
  int rc = flat_view(u, &fu, &cu);
  if (rc) return rc;
  if ((rc = flat_view(v, &fv, &cv))) {
    tide_array_close(&cu);
    return rc;
  }
  /* u as a column, v as a row: the product broadcasts to n x m */
  fu.ndim = fv.ndim = 2;
  fu.shape[1] = 1;
  fu.strides[1] = 0;
  fv.shape[1] = fv.shape[0];
  fv.strides[1] = fv.strides[0];
  fv.shape[0] = 1;
  fv.strides[0] = 0;
  tide_Operand a = tide_op_array(&fu), b = tide_op_array(&fv);
  /* bool x bool is numpy's logical and (tide's arithmetic would give i64) */
  bool logic = u->dtype == TIDE_BOOL && v->dtype == TIDE_BOOL;
  rc = tide_binop(logic ? TIDE_LAND : TIDE_MUL, &a, &b, out);
  tide_array_close(&cu);
  tide_array_close(&cv);
  return rc;
}

/* ------------------------------------------------------------ view edits */

int tide_array_flip(tide_Array *a, int dim) {
  int rc = check_dim(dim, a->ndim);
  if (rc) return rc;
  if (a->shape[dim] > 0) a->data += (a->shape[dim] - 1) * a->strides[dim];
  a->strides[dim] = -a->strides[dim];
  return TIDE_OK;
}

int tide_array_squeeze(tide_Array *a, int dim) {
  if (dim >= 0) {
    int rc = check_dim(dim, a->ndim);
    if (rc) return rc;
    if (a->shape[dim] != 1)
      return tide__seterr(TIDE_ESHAPE, "cannot squeeze dimension %d of size %" PRId64
                          " (only size-1 dimensions go)", dim + 1, a->shape[dim]);
    return tide_array_select(a, dim, 0);
  }
  int n = 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != 1) {
      a->shape[n] = a->shape[d];
      a->strides[n++] = a->strides[d];
    }
  a->ndim = n;
  return TIDE_OK;
}

int tide_array_unsqueeze(tide_Array *a, int dim) {
  if (dim < 0 || dim > a->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a new dimension of a "
                        "%d-dimensional array (1..%d)", dim + 1, a->ndim, a->ndim + 1);
  if (a->ndim + 1 > TIDE_MAXDIM) return tide__seterr(TIDE_EINVAL, "too many dimensions");
  int64_t st = dim < a->ndim ? a->strides[dim] * a->shape[dim] : tide_dtype_size(a->dtype);
  for (int d = a->ndim; d > dim; d--) {
    a->shape[d] = a->shape[d - 1];
    a->strides[d] = a->strides[d - 1];
  }
  a->shape[dim] = 1;
  a->strides[dim] = st;
  a->ndim++;
  return TIDE_OK;
}
