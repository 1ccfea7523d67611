/*
** array.c -- arrays as strided views of reference-counted storage:
** creation, views (slice, select, transpose, reshape), copies, gathers,
** and the N-d iteration every elementwise kernel is built on.
*/
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"

const tide_DtypeInfo tide_dtypes[TIDE_NDTYPES] = {
  [TIDE_F64] = {"f64", "float64", 'f', 8, "f8"}, [TIDE_F32] = {"f32", "float32", 'f', 4, "f4"},
  [TIDE_I64] = {"i64", "int64", 'i', 8, "i8"},   [TIDE_I32] = {"i32", "int32", 'i', 4, "i4"},
  [TIDE_U8] = {"u8", "uint8", 'u', 1, "u1"},     [TIDE_BOOL] = {"bool", "bool", 'b', 1, "b1"},
  [TIDE_I8] = {"i8", "int8", 'i', 1, "i1"},      [TIDE_I16] = {"i16", "int16", 'i', 2, "i2"},
  [TIDE_U16] = {"u16", "uint16", 'u', 2, "u2"},  [TIDE_U32] = {"u32", "uint32", 'u', 4, "u4"},
  [TIDE_U64] = {"u64", "uint64", 'u', 8, "u8"},
};

const char tide_dtype_list[] = "f64 f32 i64 i32 i16 i8 u64 u32 u16 u8 bool";

int tide_dtype_find(char kind, int size) {
  for (int dt = 0; dt < TIDE_NDTYPES; dt++)
    if (tide_dtypes[dt].kind == kind && tide_dtypes[dt].size == size) return dt;
  return -1;
}

void tide_dtype_range(int dt, int64_t *lo, int64_t *hi) {
  int bits = 8 * tide_dtype_size(dt);
  if (tide_dtypes[dt].kind == 'b') *lo = 0, *hi = 1;
  else if (tide_dtypes[dt].kind == 'u') *lo = 0, *hi = bits == 64 ? INT64_MAX : ((int64_t)1 << bits) - 1;
  else if (bits == 64) *lo = INT64_MIN, *hi = INT64_MAX;
  else *lo = -((int64_t)1 << (bits - 1)), *hi = ((int64_t)1 << (bits - 1)) - 1;
}

/* The names np.dtype() (numpy 1.24, 64-bit Linux) maps to tide's dtypes,
** and numpy's names of dtypes tide does not have (dt -1), refused with
** numpy's meaning in the message.  tide's own names come first and win
** when bare: "i8" is tide's int8 and "u8" tide's uint8 (numpy's int64 and
** uint64), while "<i8", "=u8" (with a byte-order mark) keep numpy's
** meaning.  code: a typestring or one-character code, which may follow a
** byte-order mark ("<f8", "|b1", "=i"). */
static const struct {
  const char *name;
  int dt;
  const char *numpy; /* the numpy dtype it names, for dt -1 */
  bool code;
} dtype_names[] = {
  {"f64", TIDE_F64, 0, 0}, {"f32", TIDE_F32, 0, 0}, {"i64", TIDE_I64, 0, 0},
  {"i32", TIDE_I32, 0, 0}, {"i16", TIDE_I16, 0, 0}, {"i8", TIDE_I8, 0, 0},
  {"u64", TIDE_U64, 0, 0}, {"u32", TIDE_U32, 0, 0}, {"u16", TIDE_U16, 0, 0},
  {"u8", TIDE_U8, 0, 0},   {"bool", TIDE_BOOL, 0, 0},
  /* float64 */
  {"float64", TIDE_F64, 0, 0}, {"double", TIDE_F64, 0, 0}, {"float", TIDE_F64, 0, 0},
  {"float_", TIDE_F64, 0, 0}, {"f8", TIDE_F64, 0, 1}, {"d", TIDE_F64, 0, 1},
  /* float32 */
  {"float32", TIDE_F32, 0, 0}, {"single", TIDE_F32, 0, 0}, {"f4", TIDE_F32, 0, 1},
  {"f", TIDE_F32, 0, 1},
  /* int64: numpy's default integer on Linux (C long) */
  {"int64", TIDE_I64, 0, 0}, {"int", TIDE_I64, 0, 0}, {"int_", TIDE_I64, 0, 0},
  {"long", TIDE_I64, 0, 0}, {"longlong", TIDE_I64, 0, 0}, {"intp", TIDE_I64, 0, 0},
  {"int0", TIDE_I64, 0, 0}, {"i8", TIDE_I64, 0, 1}, {"l", TIDE_I64, 0, 1},
  {"q", TIDE_I64, 0, 1}, {"p", TIDE_I64, 0, 1},
  /* int32 */
  {"int32", TIDE_I32, 0, 0}, {"intc", TIDE_I32, 0, 0}, {"i4", TIDE_I32, 0, 1},
  {"i", TIDE_I32, 0, 1},
  /* int16 */
  {"int16", TIDE_I16, 0, 0}, {"short", TIDE_I16, 0, 0}, {"i2", TIDE_I16, 0, 1},
  {"h", TIDE_I16, 0, 1},
  /* int8 */
  {"int8", TIDE_I8, 0, 0}, {"byte", TIDE_I8, 0, 0}, {"i1", TIDE_I8, 0, 1},
  {"b", TIDE_I8, 0, 1},
  /* uint64 */
  {"uint64", TIDE_U64, 0, 0}, {"uint", TIDE_U64, 0, 0}, {"ulonglong", TIDE_U64, 0, 0},
  {"uintp", TIDE_U64, 0, 0}, {"uint0", TIDE_U64, 0, 0}, {"u8", TIDE_U64, 0, 1},
  {"L", TIDE_U64, 0, 1}, {"Q", TIDE_U64, 0, 1}, {"P", TIDE_U64, 0, 1},
  /* uint32 */
  {"uint32", TIDE_U32, 0, 0}, {"uintc", TIDE_U32, 0, 0}, {"u4", TIDE_U32, 0, 1},
  {"I", TIDE_U32, 0, 1},
  /* uint16 */
  {"uint16", TIDE_U16, 0, 0}, {"ushort", TIDE_U16, 0, 0}, {"u2", TIDE_U16, 0, 1},
  {"H", TIDE_U16, 0, 1},
  /* uint8 */
  {"uint8", TIDE_U8, 0, 0}, {"ubyte", TIDE_U8, 0, 0}, {"u1", TIDE_U8, 0, 1},
  {"B", TIDE_U8, 0, 1},
  /* bool */
  {"bool_", TIDE_BOOL, 0, 0}, {"bool8", TIDE_BOOL, 0, 0}, {"b1", TIDE_BOOL, 0, 1},
  {"?", TIDE_BOOL, 0, 1},
  /* numpy dtypes tide does not have */
  {"float16", -1, "float16", 0}, {"half", -1, "float16", 0}, {"f2", -1, "float16", 1},
  {"e", -1, "float16", 1},
  {"float128", -1, "float128", 0}, {"longdouble", -1, "float128", 0},
  {"longfloat", -1, "float128", 0}, {"f16", -1, "float128", 1}, {"g", -1, "float128", 1},
  {"complex64", -1, "complex64", 0}, {"csingle", -1, "complex64", 0},
  {"c8", -1, "complex64", 1}, {"F", -1, "complex64", 1},
  {"complex128", -1, "complex128", 0}, {"complex", -1, "complex128", 0},
  {"cfloat", -1, "complex128", 0}, {"cdouble", -1, "complex128", 0},
  {"c16", -1, "complex128", 1}, {"D", -1, "complex128", 1},
  {"complex256", -1, "complex256", 0}, {"clongdouble", -1, "complex256", 0},
  {"c32", -1, "complex256", 1}, {"G", -1, "complex256", 1},
};

int tide_dtype_parse(const char *s) {
  if (!s) {
    tide__seterr(TIDE_EDTYPE, "dtype expected");
    return -1;
  }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  const char foreign = '<';
#else
  const char foreign = '>';
#endif
  char order = (s[0] && strchr("<>=|", s[0])) ? s[0] : 0;
  const char *name = order ? s + 1 : s;
  for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++) {
    if (strcmp(name, dtype_names[i].name) != 0 || (order && !dtype_names[i].code)) continue;
    int dt = dtype_names[i].dt;
    if (dt < 0) {
      tide__seterr(TIDE_EDTYPE, "dtype '%s' is numpy's %s, which tide does not have (%s)",
                   s, dtype_names[i].numpy, tide_dtype_list);
      return -1;
    }
    if (order == foreign && tide_dtype_size(dt) > 1) {
      tide__seterr(TIDE_EDTYPE, "dtype '%s' is not in this machine's byte order (tide.load "
                   "converts .npy files of either order)", s);
      return -1;
    }
    return dt;
  }
  tide__seterr(TIDE_EDTYPE, "unknown dtype '%s' (%s)", s, tide_dtype_list);
  return -1;
}

/* Float to an integer dtype: C leaves out-of-range conversions undefined,
** so clamp to the dtype's range first (NaN: 0). */
static int64_t clamp_f2i(double v, double lo, double hi) {
  return v != v ? 0 : v <= lo ? (int64_t)lo : v >= hi ? (int64_t)hi : (int64_t)v;
}

void tide_store_f64(int dt, void *p, double v) {
  switch (dt) {
    case TIDE_F64: *(double *)p = v; break;
    case TIDE_F32: *(float *)p = (float)v; break;
    case TIDE_I64:
      *(int64_t *)p = v != v ? 0 : v >= 9.2233720368547758e18 ? INT64_MAX
                    : v <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)v;
      break;
    case TIDE_I32: *(int32_t *)p = (int32_t)clamp_f2i(v, -2147483648.0, 2147483647.0); break;
    case TIDE_I16: *(int16_t *)p = (int16_t)clamp_f2i(v, -32768.0, 32767.0); break;
    case TIDE_I8: *(int8_t *)p = (int8_t)clamp_f2i(v, -128.0, 127.0); break;
    case TIDE_U8: *(uint8_t *)p = (uint8_t)clamp_f2i(v, 0, 255.0); break;
    case TIDE_U16: *(uint16_t *)p = (uint16_t)clamp_f2i(v, 0, 65535.0); break;
    case TIDE_U32: *(uint32_t *)p = (uint32_t)clamp_f2i(v, 0, 4294967295.0); break;
    case TIDE_U64:
      *(uint64_t *)p = v != v || v <= 0 ? 0 : v >= 18446744073709551616.0 ? UINT64_MAX
                     : (uint64_t)v;
      break;
    default: *(uint8_t *)p = v != 0; break;
  }
}

void tide_store_i64(int dt, void *p, int64_t v) {
  /* narrowing wraps, as numpy's astype (GCC defines it as modulo) */
  switch (dt) {
    case TIDE_F64: *(double *)p = (double)v; break;
    case TIDE_F32: *(float *)p = (float)v; break;
    case TIDE_I64: *(int64_t *)p = v; break;
    case TIDE_I32: *(int32_t *)p = (int32_t)(uint32_t)v; break;
    case TIDE_I16: *(int16_t *)p = (int16_t)(uint16_t)v; break;
    case TIDE_I8: *(int8_t *)p = (int8_t)(uint8_t)v; break;
    case TIDE_U8: *(uint8_t *)p = (uint8_t)v; break;
    case TIDE_U16: *(uint16_t *)p = (uint16_t)v; break;
    case TIDE_U32: *(uint32_t *)p = (uint32_t)v; break;
    case TIDE_U64: *(uint64_t *)p = (uint64_t)v; break;
    default: *(uint8_t *)p = v != 0; break;
  }
}

const char *tide_shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  if (ndim == 0) {
    snprintf(buf, len, "scalar");
    return buf;
  }
  for (int d = 0; d < ndim && n < len; d++)
    n += (size_t)snprintf(buf + n, len - n, d ? "x%" PRId64 : "%" PRId64, shape[d]);
  return buf;
}

int tide_shape_size(int ndim, const int64_t *shape, int itemsize, int64_t *count) {
  if (ndim < 0 || ndim > TIDE_MAXDIM)
    return tide__seterr(TIDE_EINVAL, "%d dimensions (at most %d)", ndim, TIDE_MAXDIM);
  /* As numpy: the nonzero dimensions' product must fit even when another
  ** dimension is 0, so that every stride of every shape fits in int64 (an
  ** empty 2^31 x 2^31 x 0 x 2^31 array made strides that overflowed once
  ** sliced, selected or iterated: fuzz_api). */
  int64_t n = 1;
  bool empty = false;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return tide__seterr(TIDE_EINVAL, "dimension %d is negative (%" PRId64 ")", d + 1, shape[d]);
    if (shape[d] == 0) {
      empty = true;
      continue;
    }
    if (n > INT64_MAX / shape[d])
      return tide__seterr(TIDE_EINVAL, "shape is too large (element count overflows)");
    n *= shape[d];
  }
  if (n > (INT64_MAX / 2) / (itemsize > 0 ? itemsize : 1))
    return tide__seterr(TIDE_EINVAL, "shape is too large (byte count overflows)");
  *count = empty ? 0 : n;
  return TIDE_OK;
}

static void c_strides(int ndim, const int64_t *shape, int itemsize, int64_t *strides) {
  /* tide_shape_size keeps the product of the nonzero dimensions in range;
  ** saturating still, for a caller that did not ask it. */
  int64_t st = itemsize;
  for (int d = ndim - 1; d >= 0; d--) {
    strides[d] = st;
    int64_t m = shape[d] > 0 ? shape[d] : 1;
    st = st > INT64_MAX / m ? INT64_MAX : st * m;
  }
}

int tide_array_wrap(tide_Array *a, tide_Storage *s, size_t offset, int dtype,
                    int ndim, const int64_t *shape, const int64_t *strides) {
  if (dtype < 0 || dtype >= TIDE_NDTYPES)
    return tide__seterr(TIDE_EDTYPE, "unknown dtype %d", dtype);
  int64_t n;
  int rc = tide_shape_size(ndim, shape, tide_dtype_size(dtype), &n);
  if (rc) return rc;
  memset(a, 0, sizeof *a);
  a->dtype = dtype;
  a->ndim = ndim;
  memcpy(a->shape, shape, (size_t)ndim * sizeof *shape);
  if (strides) memcpy(a->strides, strides, (size_t)ndim * sizeof *strides);
  else c_strides(ndim, shape, tide_dtype_size(dtype), a->strides);
  a->storage = s;
  a->data = s->base + offset;
  if (s->flags & TIDE_SF_READONLY) a->flags |= TIDE_AF_READONLY;
  tide_storage_ref(s);
  return TIDE_OK;
}

int tide_array_new(tide_Array *a, int dtype, int ndim, const int64_t *shape, int where) {
  memset(a, 0, sizeof *a);
  if (dtype < 0 || dtype >= TIDE_NDTYPES)
    return tide__seterr(TIDE_EDTYPE, "unknown dtype %d", dtype);
  int64_t n;
  int rc = tide_shape_size(ndim, shape, tide_dtype_size(dtype), &n);
  if (rc) return rc;
  tide_Storage *s;
  rc = tide_storage_new((size_t)n * (size_t)tide_dtype_size(dtype), where, &s);
  if (rc) return rc;
  rc = tide_array_wrap(a, s, 0, dtype, ndim, shape, NULL);
  tide_storage_unref(s); /* the array holds the only reference now */
  return rc;
}

void tide_array_close(tide_Array *a) {
  if (a->storage) {
    tide_storage_unref(a->storage);
    a->storage = NULL;
    a->data = NULL;
  }
}

void tide_array_touch(tide_Array *a) {
  if (a) tide_storage_touch(a->storage);
}

void tide_array_view(tide_Array *dst, const tide_Array *src) {
  *dst = *src;
  if (dst->storage) tide_storage_ref(dst->storage);
}

int64_t tide_array_size(const tide_Array *a) {
  int64_t n = 1;
  for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
  return n;
}

bool tide_array_is_c_contiguous(const tide_Array *a) {
  int64_t st = tide_dtype_size(a->dtype);
  for (int d = a->ndim - 1; d >= 0; d--) {
    if (a->shape[d] == 0) return true;
    if (a->shape[d] != 1 && a->strides[d] != st) return false;
    st *= a->shape[d];
  }
  return true;
}

bool tide_array_is_f_contiguous(const tide_Array *a) {
  int64_t st = tide_dtype_size(a->dtype);
  for (int d = 0; d < a->ndim; d++) {
    if (a->shape[d] == 0) return true;
    if (a->shape[d] != 1 && a->strides[d] != st) return false;
    st *= a->shape[d];
  }
  return true;
}

int tide_array_slice(tide_Array *a, int dim, int64_t from, int64_t to, int64_t step) {
  if (dim < 0 || dim >= a->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range (array has %d)", dim + 1, a->ndim);
  if (step == 0) return tide__seterr(TIDE_EINVAL, "slice step is 0");
  int64_t n = a->shape[dim];
  if (step > 0) {
    if (from < 0 || from > n || to < from || to > n)
      return tide__seterr(TIDE_ERANGE, "slice %" PRId64 "..%" PRId64
                          " out of range for dimension %d of size %" PRId64,
                          from + 1, to, dim + 1, n);
    a->data += from * a->strides[dim];
    a->shape[dim] = (to - from + step - 1) / step;
  } else { /* from > to, walking down; `to` exclusive */
    if (from < 0 || from >= n || to < -1 || to > from)
      return tide__seterr(TIDE_ERANGE, "slice out of range for dimension %d of size %" PRId64,
                          dim + 1, n);
    a->data += from * a->strides[dim];
    a->shape[dim] = (from - to + (-step) - 1) / (-step);
  }
  a->strides[dim] *= step;
  return TIDE_OK;
}

int tide_array_select(tide_Array *a, int dim, int64_t i) {
  if (dim < 0 || dim >= a->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range (array has %d)", dim + 1, a->ndim);
  if (i < 0 || i >= a->shape[dim])
    return tide__seterr(TIDE_ERANGE, "index %" PRId64 " out of range for dimension %d of size %" PRId64,
                        i + 1, dim + 1, a->shape[dim]);
  a->data += i * a->strides[dim];
  for (int d = dim; d < a->ndim - 1; d++) {
    a->shape[d] = a->shape[d + 1];
    a->strides[d] = a->strides[d + 1];
  }
  a->ndim--;
  return TIDE_OK;
}

int tide_array_transpose(tide_Array *a) {
  for (int i = 0, j = a->ndim - 1; i < j; i++, j--) {
    int64_t t = a->shape[i]; a->shape[i] = a->shape[j]; a->shape[j] = t;
    t = a->strides[i]; a->strides[i] = a->strides[j]; a->strides[j] = t;
  }
  return TIDE_OK;
}

/* Strides that view a's elements, in C order, as shape sh (same size, not
** zero) without moving them, as numpy's reshape finds them: dimensions of
** size 1 aside, each run of new dimensions must cover a run of old ones
** that lie in memory as one C-ordered block.  0 when there are none. */
static int nocopy_strides(const tide_Array *a, int ndim, const int64_t *sh, int64_t *st) {
  int64_t od[TIDE_MAXDIM], os[TIDE_MAXDIM];
  int on = 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != 1) {
      od[on] = a->shape[d];
      os[on++] = a->strides[d];
    }
  int oi = 0, ni = 0;
  while (oi < on && ni < ndim) {
    int oj = oi + 1, nj = ni + 1;
    int64_t op = od[oi], np = sh[ni];
    while (np != op) {
      if (np < op) np *= sh[nj++];
      else op *= od[oj++];
    }
    for (int k = oi; k < oj - 1; k++)
      if (os[k] != od[k + 1] * os[k + 1]) return 0;
    st[nj - 1] = os[oj - 1];
    for (int k = nj - 1; k > ni; k--) st[k - 1] = st[k] * sh[k];
    oi = oj;
    ni = nj;
  }
  for (; ni < ndim; ni++) st[ni] = tide_dtype_size(a->dtype); /* trailing 1s */
  return 1;
}

int tide_array_reshape_view(tide_Array *a, int ndim, const int64_t *shape) {
  int64_t sh[TIDE_MAXDIM], known = 1, total = tide_array_size(a);
  int infer = -1;
  if (ndim < 0 || ndim > TIDE_MAXDIM)
    return tide__seterr(TIDE_EINVAL, "%d dimensions (at most %d)", ndim, TIDE_MAXDIM);
  for (int d = 0; d < ndim; d++) {
    sh[d] = shape[d];
    if (sh[d] == -1) {
      if (infer >= 0) return tide__seterr(TIDE_EINVAL, "only one dimension can be -1");
      infer = d;
    } else if (sh[d] < 0) {
      return tide__seterr(TIDE_EINVAL, "dimension %d is negative", d + 1);
    } else {
      if (sh[d] && known > INT64_MAX / sh[d])
        return tide__seterr(TIDE_EINVAL, "shape is too large");
      known *= sh[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0) goto mismatch;
    sh[infer] = total / known;
    known = total;
  }
  if (known != total) goto mismatch;
  int64_t count; /* an empty shape's other dimensions, in range as for a new array */
  int rc = tide_shape_size(ndim, sh, tide_dtype_size(a->dtype), &count);
  if (rc) return rc;
  int64_t st[TIDE_MAXDIM];
  if (tide_array_is_c_contiguous(a) || total == 0) {
    c_strides(ndim, sh, tide_dtype_size(a->dtype), st);
  } else if (!nocopy_strides(a, ndim, sh, st)) {
    return tide__seterr(TIDE_ESHAPE, "cannot view these elements as that shape without a "
                                     "copy (a:reshape copies when it must; a:view never)");
  }
  a->ndim = ndim;
  memcpy(a->shape, sh, (size_t)ndim * sizeof *sh);
  memcpy(a->strides, st, (size_t)ndim * sizeof *st);
  return TIDE_OK;
mismatch: {
    char b1[128], b2[128];
    return tide__seterr(TIDE_ESHAPE, "cannot reshape %s (%" PRId64 " elements) into %s",
                        tide_shape_str(a->ndim, a->shape, b1, sizeof b1), total,
                        tide_shape_str(ndim, shape, b2, sizeof b2));
  }
}

/* ------------------------------------------------------------ iteration */

int tide_nditer(int nops, int ndim, const int64_t *shape,
                unsigned char *const *base, const int64_t *const *strides,
                tide_InnerFn fn, void *ud) {
  int64_t sh[TIDE_MAXDIM], st[4][TIDE_MAXDIM], idx[TIDE_MAXDIM];
  unsigned char *ptr[4];
  int nd = 0;
  /* An empty array first: its other dimensions may be huge (c_strides
  ** saturates their strides), and stride * shape below would overflow. */
  for (int d = 0; d < ndim; d++)
    if (shape[d] == 0) return 0;
  /* Drop size-1 dimensions and merge dimensions that are contiguous for
  ** every operand, so that a C-contiguous array is one inner run. */
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < nops; k++)
        if (st[k][nd - 1] != strides[k][d] * shape[d]) { merge = false; break; }
      if (merge) {
        sh[nd - 1] *= shape[d];
        for (int k = 0; k < nops; k++) st[k][nd - 1] = strides[k][d];
        continue;
      }
    }
    sh[nd] = shape[d];
    for (int k = 0; k < nops; k++) st[k][nd] = strides[k][d];
    nd++;
  }
  for (int k = 0; k < nops; k++) ptr[k] = base[k];
  if (nd == 0) {
    int64_t z[4] = {0, 0, 0, 0};
    return fn(ptr, 1, z, ud);
  }
  int64_t inner = sh[nd - 1], ist[4];
  for (int k = 0; k < nops; k++) ist[k] = st[k][nd - 1];
  memset(idx, 0, sizeof idx);
  for (;;) {
    int rc = fn(ptr, inner, ist, ud);
    if (rc) return rc;
    int d = nd - 2;
    for (; d >= 0; d--) {
      for (int k = 0; k < nops; k++) ptr[k] += st[k][d];
      if (++idx[d] < sh[d]) break;
      for (int k = 0; k < nops; k++) ptr[k] -= st[k][d] * sh[d];
      idx[d] = 0;
    }
    if (d < 0) return 0;
  }
}

/* ------------------------------------------------------------- copying */

static int assign_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const int *dt = ud; /* dt[0] = dst dtype, dt[1] = src dtype */
  unsigned char *d = p[0], *s = p[1];
  int isz = tide_dtype_size(dt[0]);
  if (dt[0] == dt[1] && st[0] == isz && st[1] == isz) {
    memcpy(d, s, (size_t)(n * isz));
    return 0;
  }
  if (dt[0] == TIDE_F64 && dt[1] == TIDE_F64) {
    for (int64_t i = 0; i < n; i++, d += st[0], s += st[1])
      *(double *)d = *(const double *)s;
  } else if (tide_dtype_isfloat(dt[1]) || tide_dtype_isfloat(dt[0])) {
    for (int64_t i = 0; i < n; i++, d += st[0], s += st[1])
      tide_store_f64(dt[0], d, tide_load_f64(dt[1], s));
  } else {
    for (int64_t i = 0; i < n; i++, d += st[0], s += st[1])
      tide_store_i64(dt[0], d, tide_load_i64(dt[1], s));
  }
  return 0;
}

int tide_array_assign(tide_Array *dst, const tide_Array *src) {
  if (dst->ndim != src->ndim || memcmp(dst->shape, src->shape, (size_t)dst->ndim * 8) != 0) {
    char b1[128], b2[128];
    return tide__seterr(TIDE_ESHAPE, "cannot assign an array of shape %s to one of shape %s",
                        tide_shape_str(src->ndim, src->shape, b1, sizeof b1),
                        tide_shape_str(dst->ndim, dst->shape, b2, sizeof b2));
  }
  if (dst->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  tide_storage_touch(dst->storage);
  int dt[2] = {dst->dtype, src->dtype};
  unsigned char *base[2] = {dst->data, src->data};
  const int64_t *st[2] = {dst->strides, src->strides};
  return tide_nditer(2, dst->ndim, dst->shape, base, st, assign_inner, dt);
}

int tide_array_copy(const tide_Array *src, int dtype, tide_Array *dst) {
  if (!src->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int rc = tide_array_new(dst, dtype < 0 ? src->dtype : dtype, src->ndim, src->shape,
                          TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return rc;
  rc = tide_array_assign(dst, src);
  if (rc) tide_array_close(dst);
  return rc;
}

int tide_array_take(const tide_Array *src, const int64_t *idx, int64_t n, int dim,
                    tide_Array *dst) {
  if (dim < 0 || dim >= src->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range (array has %d)", dim + 1, src->ndim);
  int64_t len = src->shape[dim];
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= len)
      return tide__seterr(TIDE_ERANGE, "index %" PRId64 " (position %" PRId64
                          ") out of range for dimension %d of size %" PRId64,
                          idx[i] + 1, i + 1, dim + 1, len);
  int64_t shape[TIDE_MAXDIM];
  memcpy(shape, src->shape, sizeof shape);
  shape[dim] = n;
  int rc = tide_array_new(dst, src->dtype, src->ndim, shape, TIDE_WHERE_AUTO);
  if (rc) return rc;
  /* Row gathers of C-ordered data (the fold case) are memcpy of whole rows. */
  if (dim == 0 && tide_array_is_c_contiguous(src)) {
    size_t row = (size_t)tide_dtype_size(src->dtype);
    for (int d = 1; d < src->ndim; d++) row *= (size_t)src->shape[d];
    for (int64_t i = 0; i < n; i++)
      memcpy(dst->data + (size_t)i * row, src->data + (size_t)idx[i] * row, row);
    return TIDE_OK;
  }
  tide_Array s = *src, d = *dst;
  for (int64_t i = 0; i < n; i++) {
    tide_Array sv = s, dv = d;
    tide_array_select(&sv, dim, idx[i]);
    tide_array_select(&dv, dim, i);
    dv.flags = 0;
    rc = tide_array_assign(&dv, &sv);
    if (rc) {
      tide_array_close(dst);
      return rc;
    }
  }
  return TIDE_OK;
}

/* The inverse of take: dst[idx[i]] = src[i] along dim, for 0-based idx;
** src has dst's shape but n along dim.  A repeated index keeps its last
** value, as numpy's indexed assignment. */
int tide_array_put(tide_Array *dst, const int64_t *idx, int64_t n, int dim,
                   const tide_Array *src) {
  if (dim < 0 || dim >= dst->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range (array has %d)", dim + 1, dst->ndim);
  int same = src->ndim == dst->ndim && src->shape[dim] == n;
  for (int d = 0; same && d < dst->ndim; d++) same = d == dim || src->shape[d] == dst->shape[d];
  if (!same) {
    int64_t want[TIDE_MAXDIM];
    char b1[128], b2[128];
    memcpy(want, dst->shape, sizeof want);
    want[dim] = n;
    return tide__seterr(TIDE_ESHAPE, "values have shape %s; %" PRId64 " index(es) along "
                        "dimension %d need shape %s", tide_shape_str(src->ndim, src->shape, b1, sizeof b1),
                        n, dim + 1, tide_shape_str(dst->ndim, want, b2, sizeof b2));
  }
  if (dst->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  int64_t len = dst->shape[dim];
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= len)
      return tide__seterr(TIDE_ERANGE, "index %" PRId64 " (position %" PRId64
                          ") out of range for dimension %d of size %" PRId64,
                          idx[i] + 1, i + 1, dim + 1, len);
  if (src->dtype != dst->dtype || src->storage == dst->storage) {
    tide_Array c; /* converted, or apart from dst when they share memory */
    int rc = tide_array_copy(src, dst->dtype, &c);
    if (!rc) rc = tide_array_put(dst, idx, n, dim, &c);
    tide_array_close(&c);
    return rc;
  }
  /* what one index moves: the other dimensions */
  int nd = 0, dt[2] = {dst->dtype, src->dtype};
  int64_t sh[TIDE_MAXDIM], dst_st[TIDE_MAXDIM], src_st[TIDE_MAXDIM];
  for (int d = 0; d < dst->ndim; d++)
    if (d != dim) sh[nd] = dst->shape[d], dst_st[nd] = dst->strides[d], src_st[nd++] = src->strides[d];
  size_t isz = (size_t)tide_dtype_size(dst->dtype);
  for (int64_t i = 0; i < n; i++) {
    unsigned char *base[2] = {dst->data + idx[i] * dst->strides[dim],
                              src->data + i * src->strides[dim]};
    if (nd == 0) {
      memcpy(base[0], base[1], isz);
    } else {
      const int64_t *st[2] = {dst_st, src_st};
      tide_nditer(2, nd, sh, base, st, assign_inner, dt);
    }
  }
  return TIDE_OK;
}

/* One store per element: memcpy of a constant size compiles to a move
** (and a contiguous run to vector stores), where a size known only at run
** time is a libc call per element -- most of the cost of filling 16 MB. */
#define FILL_RUN(T)                                                     \
  do {                                                                  \
    T x;                                                                \
    memcpy(&x, elem, sizeof x);                                         \
    if (st[0] == (int64_t)sizeof x) {                                   \
      for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)sizeof x, &x, sizeof x); \
    } else {                                                            \
      for (int64_t i = 0; i < n; i++, d += st[0]) memcpy(d, &x, sizeof x); \
    }                                                                   \
  } while (0)

static int fill_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const struct { int dt; double v; } *f = ud;
  unsigned char elem[16] = {0};
  int isz = tide_dtype_size(f->dt);
  tide_store_f64(f->dt, elem, f->v);
  unsigned char *d = p[0];
  switch (isz) {
  case 8: FILL_RUN(uint64_t); break;
  case 4: FILL_RUN(uint32_t); break;
  case 2: FILL_RUN(uint16_t); break;
  case 1: FILL_RUN(uint8_t); break;
  default:
    for (int64_t i = 0; i < n; i++, d += st[0]) memcpy(d, elem, (size_t)isz);
  }
  return 0;
}
#undef FILL_RUN

int tide_array_fill(tide_Array *a, double v) {
  if (a->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  tide_storage_touch(a->storage);
  struct { int dt; double v; } f = {a->dtype, v};
  unsigned char *base[1] = {a->data};
  const int64_t *st[1] = {a->strides};
  return tide_nditer(1, a->ndim, a->shape, base, st, fill_inner, &f);
}
