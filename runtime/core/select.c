/*
** select.c -- boolean masks: a[mask] gathers the selected elements (or
** rows) in C order, a[mask] = v writes through them.  See shape.h.
**
** A mask of a's own shape is walked with a by tide_nditer (element by
** element, any strides: views, transposes, mapped files); a mask of a's
** leading dimensions selects sub-arrays, each copied by tide_array_assign.
*/
#include <inttypes.h>
#include <string.h>

#include "shape.h"

static int count_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  int64_t *c = ud, k = 0;
  const unsigned char *m = p[0];
  if (st[0] == 1) {
    for (int64_t i = 0; i < n; i++) k += m[i] != 0;
  } else {
    for (int64_t i = 0; i < n; i++) k += m[i * st[0]] != 0;
  }
  *c += k;
  return 0;
}

int64_t tide_count_true(const tide_Array *mask) {
  int64_t c = 0;
  unsigned char *base[1] = {mask->data};
  const int64_t *st[1] = {mask->strides};
  tide_nditer(1, mask->ndim, mask->shape, base, st, count_inner, &c);
  return c;
}

static int check_mask(const tide_Array *a, const tide_Array *mask) {
  if (!a->storage || !mask->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (mask->dtype != TIDE_BOOL)
    return tide__seterr(TIDE_EDTYPE, "an index array must be a bool mask, not %s (a:take(idx) "
                        "gathers by 1-based positions)", tide_dtypes[mask->dtype].name);
  bool ok = mask->ndim >= 1 && mask->ndim <= a->ndim;
  for (int d = 0; ok && d < mask->ndim; d++) ok = mask->shape[d] == a->shape[d];
  if (!ok) {
    char b1[128], b2[128];
    return tide__seterr(TIDE_ESHAPE, "mask of shape %s for an array of shape %s",
                        tide_shape_str(mask->ndim, mask->shape, b1, sizeof b1),
                        tide_shape_str(a->ndim, a->shape, b2, sizeof b2));
  }
  return TIDE_OK;
}

/* ------------------------------------------------------------ elements */

typedef struct Gather {
  unsigned char *o; /* next output element (get) or value (set) */
  int64_t vs;       /* set: stride of the values (0: one value) */
  int isz, dt, vdt; /* a's element size and dtype; the values' dtype */
} Gather;

#define GATHER(T)                                                            \
  for (int64_t i = 0; i < n; i++)                                            \
    if (m[i * sm]) {                                                         \
      *(T *)g->o = *(const T *)(pa + i * sa);                                \
      g->o += sizeof(T);                                                     \
    }

static int gather_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  Gather *g = ud;
  const unsigned char *pa = p[0], *m = p[1];
  int64_t sa = st[0], sm = st[1];
  switch (g->isz) {
    case 8: GATHER(uint64_t) break;
    case 4: GATHER(uint32_t) break;
    case 2: GATHER(uint16_t) break;
    default: GATHER(uint8_t) break;
  }
  return 0;
}

/* Stores the value at v (dtype vdt) into a's element p (dtype dt). */
static void store_conv(int dt, unsigned char *p, int vdt, const unsigned char *v) {
  if (tide_dtype_isfloat(dt) || tide_dtype_isfloat(vdt)) tide_store_f64(dt, p, tide_load_f64(vdt, v));
  else tide_store_i64(dt, p, tide_load_i64(vdt, v));
}

static int scatter_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  Gather *g = ud;
  unsigned char *pa = p[0];
  const unsigned char *m = p[1];
  for (int64_t i = 0; i < n; i++)
    if (m[i * st[1]]) {
      if (g->vdt == g->dt) memcpy(pa + i * st[0], g->o, (size_t)g->isz);
      else store_conv(g->dt, pa + i * st[0], g->vdt, g->o);
      g->o += g->vs;
    }
  return 0;
}

/* ------------------------------------------------------------ rows */

/* Calls fn(sub, k, ud) for each selected sub-array of a (a view of the
** trailing dimensions), k its number among the selected. */
typedef int (*RowFn)(tide_Array *sub, int64_t k, void *ud);

static int each_row(const tide_Array *a, const tide_Array *mask, RowFn fn, void *ud) {
  int md = mask->ndim;
  int64_t idx[TIDE_MAXDIM] = {0}, k = 0;
  if (tide_array_size(mask) == 0) return TIDE_OK;
  for (;;) {
    if (*tide_array_at(mask, idx)) {
      tide_Array sub = *a;
      sub.data = a->data;
      for (int d = 0; d < md; d++) sub.data += idx[d] * a->strides[d];
      sub.ndim = a->ndim - md;
      memmove(sub.shape, a->shape + md, (size_t)sub.ndim * 8);
      memmove(sub.strides, a->strides + md, (size_t)sub.ndim * 8);
      int rc = fn(&sub, k++, ud);
      if (rc) return rc;
    }
    int d = md - 1;
    for (; d >= 0; d--) {
      if (++idx[d] < mask->shape[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return TIDE_OK;
  }
}

static int row_get(tide_Array *sub, int64_t k, void *ud) {
  tide_Array dv = *(tide_Array *)ud;
  tide_array_select(&dv, 0, k);
  return tide_array_assign(&dv, sub);
}

typedef struct RowSet {
  const tide_Array *v; /* values seen with the selection's shape (stride 0 where broadcast) */
  unsigned char elem[8];
  bool scalar;
} RowSet;

static int fill_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const Gather *g = ud;
  for (int64_t i = 0; i < n; i++) memcpy(p[0] + i * st[0], g->o, (size_t)g->isz);
  return 0;
}

static int row_set(tide_Array *sub, int64_t k, void *ud) {
  RowSet *r = ud;
  sub->flags = 0;
  if (r->scalar) {
    Gather g = {r->elem, 0, tide_dtype_size(sub->dtype), sub->dtype, sub->dtype};
    unsigned char *base[1] = {sub->data};
    const int64_t *st[1] = {sub->strides};
    return tide_nditer(1, sub->ndim, sub->shape, base, st, fill_inner, &g);
  }
  tide_Array sv = *r->v;
  tide_array_select(&sv, 0, k);
  return tide_array_assign(sub, &sv);
}

/* ------------------------------------------------------------ entries */

int tide_mask_get(const tide_Array *a, const tide_Array *mask, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int rc = check_mask(a, mask);
  if (rc) return rc;
  int64_t count = tide_count_true(mask), shape[TIDE_MAXDIM];
  int md = mask->ndim, nd = a->ndim - md + 1;
  shape[0] = count;
  memcpy(shape + 1, a->shape + md, (size_t)(nd - 1) * 8);
  if ((rc = tide_array_new(out, a->dtype, nd, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    return rc;
  if (count == 0) return TIDE_OK;
  if (md == a->ndim) {
    Gather g = {out->data, 0, tide_dtype_size(a->dtype), a->dtype, a->dtype};
    unsigned char *base[2] = {a->data, mask->data};
    const int64_t *st[2] = {a->strides, mask->strides};
    return tide_nditer(2, a->ndim, a->shape, base, st, gather_inner, &g);
  }
  if ((rc = each_row(a, mask, row_get, out))) tide_array_close(out);
  return rc;
}

int tide_mask_set(tide_Array *a, const tide_Array *mask, const tide_Operand *v) {
  int rc = check_mask(a, mask);
  if (rc) return rc;
  if (a->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  if (v->arr && !v->arr->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int md = mask->ndim;
  int64_t count = tide_count_true(mask), shape[TIDE_MAXDIM], vst[TIDE_MAXDIM];
  int nd = a->ndim - md + 1;
  shape[0] = count;
  memcpy(shape + 1, a->shape + md, (size_t)(nd - 1) * 8);
  unsigned char elem[8] = {0};
  tide_Array copy = {0}, vv;
  if (v->arr) {
    int64_t bs[TIDE_MAXDIM];
    int bn;
    bool ok = tide_broadcast_shapes(v->arr->ndim, v->arr->shape, nd, shape, &bn, bs) == TIDE_OK &&
              bn == nd && memcmp(bs, shape, (size_t)nd * 8) == 0;
    if (!ok) {
      char b1[128], b2[128];
      return tide__seterr(TIDE_ESHAPE, "values of shape %s for a selection of shape %s "
                          "(%" PRId64 " selected)",
                          tide_shape_str(v->arr->ndim, v->arr->shape, b1, sizeof b1),
                          tide_shape_str(nd, shape, b2, sizeof b2), count);
    }
    vv = *v->arr;
    if (vv.storage == a->storage) { /* read all of it before writing any */
      if ((rc = tide_array_copy(v->arr, -1, &copy))) return rc;
      vv = copy;
    }
    tide__bcast_strides(&vv, nd, vst);
    vv.ndim = nd;
    memcpy(vv.shape, shape, (size_t)nd * 8);
    memcpy(vv.strides, vst, (size_t)nd * 8);
  } else if (v->kind == TIDE_SC_FLOAT) {
    tide_store_f64(a->dtype, elem, v->f);
  } else {
    tide_store_i64(a->dtype, elem, v->i);
  }
  if (count > 0) {
    if (md == a->ndim) {
      Gather g = {elem, 0, tide_dtype_size(a->dtype), a->dtype, a->dtype};
      if (v->arr) {
        g.o = vv.data;
        g.vs = vv.strides[0];
        g.vdt = vv.dtype;
      }
      unsigned char *base[2] = {a->data, mask->data};
      const int64_t *st[2] = {a->strides, mask->strides};
      rc = tide_nditer(2, a->ndim, a->shape, base, st, scatter_inner, &g);
    } else {
      RowSet r = {v->arr ? &vv : NULL, {0}, v->arr == NULL};
      memcpy(r.elem, elem, sizeof elem);
      rc = each_row(a, mask, row_set, &r);
    }
  }
  tide_array_close(&copy);
  if (!rc && a->storage) a->storage->version++;
  return rc;
}
