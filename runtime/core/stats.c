/*
** stats.c -- reductions that ops.h's tide_reduce does not run (prod, and
** numpy's nan* functions), running sums and products, differences,
** bincount, histogram, cov and corrcoef.  See stats.h.
**
** The reductions here work lane by lane (tide__lanes): each output element
** reads its own lane along the reduced dimension.  Sums are pairwise like
** tide_reduce's, so a nansum of data without NaN equals the sum.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "stats.h"

int tide__drop_dim(const tide_Array *a, int dim, int64_t *shape) {
  int n = 0;
  if (dim >= 0)
    for (int d = 0; d < a->ndim; d++)
      if (d != dim) shape[n++] = a->shape[d];
  return n;
}

int tide__lanes(const tide_Array *a, int dim, tide_LaneFn fn, void *ud) {
  int isz = tide_dtype_size(a->dtype);
  if (dim < 0) {
    int64_t n = tide_array_size(a);
    if (tide_array_is_c_contiguous(a)) return fn(a->data, n, isz, 0, ud);
    tide_Array c;
    int rc = tide_array_copy(a, -1, &c);
    if (rc) return rc;
    rc = fn(c.data, n, isz, 0, ud);
    tide_array_close(&c);
    return rc;
  }
  int od[TIDE_MAXDIM], no = 0;
  int64_t idx[TIDE_MAXDIM] = {0}, total = 1;
  for (int d = 0; d < a->ndim; d++)
    if (d != dim) {
      od[no++] = d;
      total *= a->shape[d];
    }
  const unsigned char *p = a->data;
  for (int64_t k = 0; k < total; k++) {
    int rc = fn(p, a->shape[dim], a->strides[dim], k, ud);
    if (rc) return rc;
    for (int j = no - 1; j >= 0; j--) {
      int d = od[j];
      p += a->strides[d];
      if (++idx[j] < a->shape[d]) break;
      p -= a->strides[d] * a->shape[d];
      idx[j] = 0;
    }
  }
  return TIDE_OK;
}

/* ------------------------------------------------------------ lane math */

static inline double ld(int dt, const unsigned char *p) {
  return dt == TIDE_F64 ? *(const double *)p : dt == TIDE_F32 ? (double)*(const float *)p
                                                              : tide_load_f64(dt, p);
}

enum { P_SUM, P_SQ, P_DEV }; /* NaN counts 0 in all three */

/* Pairwise sum of x, x^2 or (x - m)^2 over a lane, NaN skipped. */
static double psum(const unsigned char *p, int64_t n, int64_t st, int dt, int mode, double m) {
  if (n <= 128) {
    double s[8] = {0};
    for (int64_t i = 0; i < n; i++) {
      double x = ld(dt, p + i * st);
      if (x != x) continue;
      if (mode == P_SQ) x = x * x;
      else if (mode == P_DEV) x = (x - m) * (x - m);
      s[i & 7] += x;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
  int64_t h = n / 2;
  h -= h % 8;
  return psum(p, h, st, dt, mode, m) + psum(p + h * st, n - h, st, dt, mode, m);
}

typedef struct Red {
  int op, dt, odt, ddof;
  bool skip;
  unsigned char *out;
} Red;

static int red_lane(const unsigned char *p, int64_t n, int64_t st, int64_t k, void *ud) {
  const Red *r = ud;
  unsigned char *o = r->out + k * tide_dtype_size(r->odt);
  int dt = r->dt;
  if (r->op == TIDE_RPROD && !tide_dtype_isfloat(dt)) {
    uint64_t v = 1;
    for (int64_t i = 0; i < n; i++) v *= (uint64_t)tide_load_i64(dt, p + i * st);
    tide_store_i64(r->odt, o, (int64_t)v);
    return 0;
  }
  /* floats from here on (integers only reach prod) */
  int64_t cnt = 0; /* the values that are not NaN, where it matters */
  if (r->op == TIDE_RMEAN || r->op == TIDE_RVAR || r->op == TIDE_RSTD || r->op == TIDE_RALL)
    for (int64_t i = 0; i < n; i++) {
      double x = ld(dt, p + i * st);
      cnt += x == x;
    }
  double v = 0;
  switch (r->op) {
    case TIDE_RPROD:
      v = 1;
      for (int64_t i = 0; i < n; i++) {
        double x = ld(dt, p + i * st);
        if (x == x || !r->skip) v *= x;
      }
      break;
    case TIDE_RSUM: v = psum(p, n, st, dt, P_SUM, 0); break;
    case TIDE_RNORM: v = sqrt(psum(p, n, st, dt, P_SQ, 0)); break;
    case TIDE_RMEAN: v = cnt ? psum(p, n, st, dt, P_SUM, 0) / (double)cnt : NAN; break;
    case TIDE_RVAR:
    case TIDE_RSTD: {
      double m = cnt ? psum(p, n, st, dt, P_SUM, 0) / (double)cnt : NAN;
      int64_t dof = cnt - r->ddof;
      v = dof <= 0 ? NAN : psum(p, n, st, dt, P_DEV, m) / (double)dof; /* numpy's nanvar */
      if (r->op == TIDE_RSTD) v = sqrt(v);
      break;
    }
    case TIDE_RMIN:
    case TIDE_RMAX: {
      bool mx = r->op == TIDE_RMAX;
      v = NAN;
      for (int64_t i = 0; i < n; i++) {
        double x = ld(dt, p + i * st);
        if (x == x && (v != v || (mx ? x > v : x < v))) v = x;
      }
      break;
    }
    case TIDE_RARGMIN:
    case TIDE_RARGMAX: {
      bool mx = r->op == TIDE_RARGMAX;
      int64_t best = -1;
      double b = 0;
      for (int64_t i = 0; i < n; i++) {
        double x = ld(dt, p + i * st);
        if (x == x && (best < 0 || (mx ? x > b : x < b))) b = x, best = i;
      }
      if (best < 0)
        return tide__seterr(TIDE_EINVAL, "%s of an all-NaN slice (with skipnan)",
                            tide_redop_name(r->op));
      tide_store_i64(r->odt, o, best + r->ddof);
      return 0;
    }
    default: { /* count any all: NaN is absent */
      int64_t nz = 0;
      for (int64_t i = 0; i < n; i++) {
        double x = ld(dt, p + i * st);
        nz += x == x && x != 0;
      }
      int64_t iv = r->op == TIDE_RCOUNT ? nz : r->op == TIDE_RANY ? nz > 0 : nz == cnt;
      tide_store_i64(r->odt, o, iv);
      return 0;
    }
  }
  tide_store_f64(r->odt, o, v);
  return 0;
}

int tide_reduce_ex(int op, const tide_Array *a, int dim, int ddof, bool skipnan,
                   tide_Array *out) {
  bool isf = tide_dtype_isfloat(a->dtype);
  if (op != TIDE_RPROD && (!skipnan || !isf)) return tide_reduce(op, a, dim, ddof, out);
  memset(out, 0, sizeof *out);
  if (op < 0 || op > TIDE_RPROD) return tide__seterr(TIDE_EINVAL, "unknown reduction %d", op);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (dim >= a->ndim || dim < -1)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, a->ndim);
  int64_t shape[TIDE_MAXDIM], len = dim < 0 ? tide_array_size(a) : a->shape[dim];
  int ndim = tide__drop_dim(a, dim, shape);
  int64_t outn = 1;
  for (int d = 0; d < ndim; d++) outn *= shape[d];
  int fdt = a->dtype == TIDE_F32 && dim >= 0 ? TIDE_F32 : TIDE_F64;
  int odt;
  switch (op) {
    case TIDE_RPROD: case TIDE_RSUM:
      odt = isf ? fdt : tide_dtype_isunsigned(a->dtype) ? TIDE_U64 : TIDE_I64;
      break;
    case TIDE_RMIN: case TIDE_RMAX: odt = a->dtype; break;
    case TIDE_RARGMIN: case TIDE_RARGMAX: case TIDE_RCOUNT: odt = TIDE_I64; break;
    case TIDE_RANY: case TIDE_RALL: odt = TIDE_BOOL; break;
    default: odt = fdt; break;
  }
  bool noident = op == TIDE_RMEAN || op == TIDE_RVAR || op == TIDE_RSTD || op == TIDE_RMIN ||
                 op == TIDE_RMAX || op == TIDE_RARGMIN || op == TIDE_RARGMAX;
  if (noident && len == 0 && outn > 0)
    return tide__seterr(TIDE_EINVAL, "%s of a zero-size array (no identity)", tide_redop_name(op));
  int rc = tide_array_new(out, odt, ndim, shape, TIDE_WHERE_AUTO);
  if (rc || outn == 0) return rc;
  Red r = {op, a->dtype, odt, ddof, skipnan, out->data};
  if ((rc = tide__lanes(a, dim, red_lane, &r))) tide_array_close(out);
  return rc;
}

/* ------------------------------------------------------------ cumulative */

/* Calls fn for each lane of a along dim and the matching lane of o (the
** same shape but along dim). */
typedef void (*PairFn)(const unsigned char *pa, int64_t sa, int64_t na, unsigned char *po,
                       int64_t so, int64_t no, void *ud);

static void pair_lanes(const tide_Array *a, const tide_Array *o, int dim, PairFn fn, void *ud) {
  int od[TIDE_MAXDIM], nd = 0;
  int64_t idx[TIDE_MAXDIM] = {0}, total = 1;
  for (int d = 0; d < a->ndim; d++)
    if (d != dim) {
      od[nd++] = d;
      total *= a->shape[d];
    }
  const unsigned char *pa = a->data;
  unsigned char *po = o->data;
  for (int64_t k = 0; k < total; k++) {
    fn(pa, a->strides[dim], a->shape[dim], po, o->strides[dim], o->shape[dim], ud);
    for (int j = nd - 1; j >= 0; j--) {
      int d = od[j];
      pa += a->strides[d];
      po += o->strides[d];
      if (++idx[j] < a->shape[d]) break;
      pa -= a->strides[d] * a->shape[d];
      po -= o->strides[d] * a->shape[d];
      idx[j] = 0;
    }
  }
}

typedef struct Cum {
  int dt, odt;
  bool prod;
} Cum;

#define CUM_LOOP(TA, TO, LOAD, OP)                                           \
  {                                                                          \
    TO s = (TO)LOAD(pa);                                                     \
    *(TO *)po = s;                                                           \
    for (int64_t i = 1; i < n; i++) {                                        \
      s = OP(s, (TO)LOAD(pa + i * sa));                                      \
      *(TO *)(po + i * so) = s;                                              \
    }                                                                        \
  }
#define L_F64(p) (*(const double *)(p))
#define L_F32(p) (*(const float *)(p))
#define L_ANY(p) tide_load_i64(c->dt, (p))
#define ADD(x, y) ((x) + (y))
#define MUL(x, y) ((x) * (y))
#define UADD(x, y) ((int64_t)((uint64_t)(x) + (uint64_t)(y)))
#define UMUL(x, y) ((int64_t)((uint64_t)(x) * (uint64_t)(y)))

static void cum_lane(const unsigned char *pa, int64_t sa, int64_t n, unsigned char *po,
                     int64_t so, int64_t no, void *ud) {
  const Cum *c = ud;
  (void)no;
  if (n == 0) return;
  if (c->dt == TIDE_F64) {
    if (c->prod) CUM_LOOP(double, double, L_F64, MUL) else CUM_LOOP(double, double, L_F64, ADD)
  } else if (c->dt == TIDE_F32) {
    if (c->prod) CUM_LOOP(float, float, L_F32, MUL) else CUM_LOOP(float, float, L_F32, ADD)
  } else if (c->dt == TIDE_I64) {
    if (c->prod) CUM_LOOP(int64_t, int64_t, L_ANY, UMUL) else CUM_LOOP(int64_t, int64_t, L_ANY, UADD)
  } else {
    if (c->prod) CUM_LOOP(int64_t, int64_t, L_ANY, UMUL) else CUM_LOOP(int64_t, int64_t, L_ANY, UADD)
  }
}

/* out_i = out_(i-1) op a_i for whole slices (dimension dim not innermost:
** each step streams a slice through memory). */
typedef struct CumSlice {
  int dt, odt;
  bool prod;
} CumSlice;

static int cum_slice_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const CumSlice *c = ud;
  unsigned char *o = p[0];
  const unsigned char *prev = p[1], *x = p[2];
  for (int64_t i = 0; i < n; i++) {
    unsigned char *oi = o + i * st[0];
    const unsigned char *pi = prev + i * st[1], *xi = x + i * st[2];
    switch (c->odt) {
      case TIDE_F64: {
        double v = ld(c->dt, xi), q = *(const double *)pi;
        *(double *)oi = c->prod ? q * v : q + v;
        break;
      }
      case TIDE_F32: {
        float v = *(const float *)xi, q = *(const float *)pi;
        *(float *)oi = c->prod ? q * v : q + v;
        break;
      }
      default: {
        int64_t v = tide_load_i64(c->dt, xi), q = *(const int64_t *)pi;
        *(int64_t *)oi = c->prod ? UMUL(q, v) : UADD(q, v);
        break;
      }
    }
  }
  return 0;
}

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

static int cumulative(const tide_Array *a, int dim, bool prod, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (dim >= a->ndim || dim < -1)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, a->ndim);
  /* numpy's accumulators: i64 for signed integers and bool, u64 for
  ** unsigned ones (the same wrapping bits, kept as int64 below) */
  int odt = tide_dtype_isfloat(a->dtype) ? a->dtype
          : tide_dtype_isunsigned(a->dtype) ? TIDE_U64 : TIDE_I64;
  tide_Array src = *a, tmp = {0};
  int rc;
  if (dim < 0) { /* the flattened array */
    if (!tide_array_is_c_contiguous(a) && (rc = tide_array_copy(a, -1, &tmp))) return rc;
    if (tmp.storage) src = tmp;
    src.ndim = 1;
    src.shape[0] = tide_array_size(a);
    src.strides[0] = tide_dtype_size(a->dtype);
    dim = 0;
  }
  if ((rc = tide_array_new(out, odt, src.ndim, src.shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    goto done;
  if (tide_array_size(out) == 0) goto done;
  bool inner = true; /* dim has the smallest stride: lanes are runs in memory */
  for (int d = 0; d < src.ndim; d++)
    if (d != dim && src.shape[d] > 1 && iabs64(src.strides[d]) < iabs64(src.strides[dim]))
      inner = false;
  if (inner || src.shape[dim] == 1) {
    Cum c = {src.dtype, odt, prod};
    pair_lanes(&src, out, dim, cum_lane, &c);
    goto done;
  }
  tide_Array o0 = *out, s0 = src;
  tide_array_select(&o0, dim, 0);
  tide_array_select(&s0, dim, 0);
  if ((rc = tide_array_assign(&o0, &s0))) goto done;
  CumSlice c = {src.dtype, odt, prod};
  for (int64_t i = 1; i < src.shape[dim]; i++) {
    tide_Array oi = *out, op = *out, si = src;
    tide_array_select(&oi, dim, i);
    tide_array_select(&op, dim, i - 1);
    tide_array_select(&si, dim, i);
    unsigned char *base[3] = {oi.data, op.data, si.data};
    const int64_t *st[3] = {oi.strides, op.strides, si.strides};
    tide_nditer(3, oi.ndim, oi.shape, base, st, cum_slice_inner, &c);
  }
done:
  tide_array_close(&tmp);
  if (rc) tide_array_close(out);
  return rc;
}

int tide_cumsum(const tide_Array *a, int dim, tide_Array *out) {
  return cumulative(a, dim, false, out);
}

int tide_cumprod(const tide_Array *a, int dim, tide_Array *out) {
  return cumulative(a, dim, true, out);
}

int tide_diff(const tide_Array *a, int dim, int n, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (dim < 0 || dim >= a->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, a->ndim);
  if (n < 0) return tide__seterr(TIDE_EINVAL, "diff order %d is negative", n);
  if (n == 0) return tide_array_copy(a, -1, out);
  tide_Array cur = *a, next;
  bool owned = false;
  int rc = TIDE_OK;
  for (int k = 0; k < n; k++) {
    int64_t len = cur.shape[dim];
    tide_Array hi = cur, lo = cur;
    int64_t m = len > 0 ? len - 1 : 0;
    tide_array_slice(&hi, dim, len > 0 ? 1 : 0, len > 0 ? len : 0, 1);
    tide_array_slice(&lo, dim, 0, m, 1);
    tide_Operand x = tide_op_array(&hi), y = tide_op_array(&lo);
    rc = tide_binop(a->dtype == TIDE_BOOL ? TIDE_NE : TIDE_SUB, &x, &y, &next);
    if (owned) tide_array_close(&cur);
    if (rc) return rc;
    cur = next;
    owned = true;
    if (m == 0) break;
  }
  *out = cur;
  return TIDE_OK;
}

/* ------------------------------------------------------------ bincount */

int tide_bincount(const tide_Array *idx, const tide_Array *w, int64_t minlength,
                  tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!idx->storage || (w && !w->storage)) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (idx->ndim != 1)
    return tide__seterr(TIDE_ESHAPE, "bincount takes a 1-D array of values, not a "
                        "%d-dimensional one", idx->ndim);
  if (tide_dtype_isfloat(idx->dtype))
    return tide__seterr(TIDE_EDTYPE, "bincount counts integers, not %s values",
                        tide_dtypes[idx->dtype].name);
  int64_t n = idx->shape[0], top = minlength > 0 ? minlength : 0;
  if (w && (w->ndim != 1 || w->shape[0] != n)) {
    char b[128];
    return tide__seterr(TIDE_ESHAPE, "weights of shape %s for %" PRId64 " values",
                        tide_shape_str(w->ndim, w->shape, b, sizeof b), n);
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t v = tide_load_i64(idx->dtype, idx->data + i * idx->strides[0]);
    if (v < 1)
      return tide__seterr(TIDE_EINVAL, "value %" PRId64 " at position %" PRId64 ": bins are "
                          "1-based (1, 2, ...), as every index in tide", v, i + 1);
    if (v > top) top = v;
  }
  if (top > ((int64_t)1 << 40)) return tide__seterr(TIDE_EINVAL, "bincount: values up to %"
                                                    PRId64 " make too many bins", top);
  int rc = tide_array_new(out, w ? TIDE_F64 : TIDE_I64, 1, &top, TIDE_WHERE_AUTO);
  if (rc) return rc;
  for (int64_t i = 0; i < n; i++) {
    int64_t v = tide_load_i64(idx->dtype, idx->data + i * idx->strides[0]) - 1;
    if (w) ((double *)out->data)[v] += tide_load_f64(w->dtype, w->data + i * w->strides[0]);
    else ((int64_t *)out->data)[v]++;
  }
  return TIDE_OK;
}

/* ------------------------------------------------------------ histogram */

typedef struct Hist {
  int64_t nbins, nedges;
  double first, last, norm;
  const double *edges;
  const tide_Array *w;
  double *wsum;     /* weighted */
  int64_t *counts;  /* unweighted */
  int dt;
  bool uniform;
} Hist;

/* numpy's bin of x (its _histogram for equal bins; searchsorted for
** given edges), or -1 when x is not counted. */
static int64_t hist_bin(const Hist *h, double x) {
  if (h->uniform) {
    if (!(x >= h->first && x <= h->last)) return -1;
    int64_t i = (int64_t)((x - h->first) * h->norm);
    if (i == h->nbins) i--;
    if (x < h->edges[i]) i--;
    else if (i != h->nbins - 1 && x >= h->edges[i + 1]) i++;
    return i;
  }
  const double *e = h->edges;
  int64_t m = h->nedges;
  if (!(x >= e[0] && x <= e[m - 1])) return -1;
  int64_t lo = 0, hi = m; /* first edge > x */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (e[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  int64_t i = lo - 1;
  return i >= m - 1 ? m - 2 : i;
}

static int hist_lane(const unsigned char *p, int64_t n, int64_t st, int64_t k, void *ud) {
  Hist *h = ud;
  (void)k;
  for (int64_t i = 0; i < n; i++) {
    int64_t b = hist_bin(h, ld(h->dt, p + i * st));
    if (b < 0) continue;
    if (h->wsum) h->wsum[b] += tide_load_f64(h->w->dtype, h->w->data + i * h->w->strides[0]);
    else h->counts[b]++;
  }
  return 0;
}

static int minmax_lane(const unsigned char *p, int64_t n, int64_t st, int64_t k, void *ud) {
  double *mm = ud;
  int dt = (int)mm[2];
  (void)k;
  for (int64_t i = 0; i < n; i++) {
    double x = ld(dt, p + i * st);
    if (x != x) { mm[0] = mm[1] = NAN; return 0; }
    if (x < mm[0]) mm[0] = x;
    if (x > mm[1]) mm[1] = x;
  }
  return 0;
}

int tide_histogram(const tide_Array *a, int64_t nbins, double lo, double hi,
                   const tide_Array *edges, const tide_Array *w, bool density,
                   tide_Array *hist, tide_Array *out_edges) {
  memset(hist, 0, sizeof *hist);
  memset(out_edges, 0, sizeof *out_edges);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int64_t n = tide_array_size(a);
  tide_Array wf = {0};
  if (w) { /* the weights, flattened in a's C order */
    char b1[128], b2[128];
    if (w->ndim != a->ndim || memcmp(w->shape, a->shape, (size_t)a->ndim * 8) != 0)
      return tide__seterr(TIDE_ESHAPE, "weights of shape %s for values of shape %s",
                          tide_shape_str(w->ndim, w->shape, b1, sizeof b1),
                          tide_shape_str(a->ndim, a->shape, b2, sizeof b2));
    int rc = tide_array_copy(w, TIDE_F64, &wf);
    if (rc) return rc;
    wf.ndim = 1;
    wf.shape[0] = n;
    wf.strides[0] = 8;
  }
  Hist h = {0};
  h.dt = a->dtype;
  h.w = w ? &wf : NULL;
  int rc = TIDE_OK;
  int64_t ne;
  if (edges) {
    if (edges->ndim != 1 || edges->shape[0] < 2) {
      rc = tide__seterr(TIDE_ESHAPE, "bin edges must be a 1-D array of 2 or more");
      goto fail;
    }
    ne = edges->shape[0];
    if ((rc = tide_array_copy(edges, TIDE_F64, out_edges))) goto fail;
    const double *e = (const double *)out_edges->data;
    for (int64_t i = 0; i + 1 < ne; i++)
      if (!(e[i] <= e[i + 1])) {
        rc = tide__seterr(TIDE_EINVAL, "bin edges must increase (edge %" PRId64 " is %g, edge %"
                          PRId64 " %g)", i + 1, e[i], i + 2, e[i + 1]);
        goto fail;
      }
    h.nbins = ne - 1;
  } else {
    if (nbins < 1) {
      rc = tide__seterr(TIDE_EINVAL, "%" PRId64 " bins: at least 1 is needed", nbins);
      goto fail;
    }
    if (nbins > (INT64_MAX - 1) / 8) { /* nbins + 1 edges of 8 bytes (fuzz_api) */
      rc = tide__seterr(TIDE_EINVAL, "%" PRId64 " bins: too many", nbins);
      goto fail;
    }
    if (lo == lo && hi == hi) {
      if (lo > hi) {
        rc = tide__seterr(TIDE_EINVAL, "range {%g, %g}: the lower end is above the upper", lo, hi);
        goto fail;
      }
      if (!isfinite(lo) || !isfinite(hi)) {
        rc = tide__seterr(TIDE_EINVAL, "range {%g, %g} is not finite", lo, hi);
        goto fail;
      }
    } else if (n == 0) {
      lo = 0, hi = 1;
    } else {
      double mm[3] = {INFINITY, -INFINITY, (double)a->dtype};
      tide__lanes(a, -1, minmax_lane, mm);
      lo = mm[0], hi = mm[1];
      if (!isfinite(lo) || !isfinite(hi)) {
        rc = tide__seterr(TIDE_EINVAL, "the values' range [%g, %g] is not finite (give range "
                          "= {lo, hi} to count the finite ones)", lo, hi);
        goto fail;
      }
    }
    if (lo == hi) lo -= 0.5, hi += 0.5;
    ne = nbins + 1;
    if ((rc = tide_array_new(out_edges, TIDE_F64, 1, &ne, TIDE_WHERE_AUTO))) goto fail;
    double *e = (double *)out_edges->data, step = (hi - lo) / (double)nbins;
    for (int64_t i = 0; i < ne; i++) e[i] = step == 0 ? (double)i / (double)nbins * (hi - lo) + lo
                                                      : (double)i * step + lo;
    e[ne - 1] = hi;
    h.uniform = true;
    h.nbins = nbins;
    h.first = lo, h.last = hi;
    h.norm = (double)nbins / (hi - lo);
  }
  h.nedges = ne;
  h.edges = (const double *)out_edges->data;
  if ((rc = tide_array_new(hist, w || density ? TIDE_F64 : TIDE_I64, 1, &h.nbins, TIDE_WHERE_AUTO)))
    goto fail;
  if (w || density) h.wsum = (double *)hist->data;
  else h.counts = (int64_t *)hist->data;
  if (!w && density) { /* counts as floats, then scaled */
    h.wsum = NULL;
    h.counts = tide__calloc((size_t)h.nbins, 8);
    if (!h.counts) {
      rc = tide__seterr(TIDE_ENOMEM, "out of memory in histogram");
      goto fail;
    }
  }
  if (n > 0 && (rc = tide__lanes(a, -1, hist_lane, &h))) goto fail;
  if (density) {
    double *v = (double *)hist->data, total = 0;
    if (h.counts && !w)
      for (int64_t i = 0; i < h.nbins; i++) v[i] = (double)h.counts[i];
    for (int64_t i = 0; i < h.nbins; i++) total += v[i];
    for (int64_t i = 0; i < h.nbins; i++) v[i] = v[i] / (h.edges[i + 1] - h.edges[i]) / total;
    if (!w) free(h.counts);
  }
  tide_array_close(&wf);
  return TIDE_OK;
fail:
  if (density && !w && h.counts) free(h.counts);
  tide_array_close(&wf);
  tide_array_close(hist);
  tide_array_close(out_edges);
  return rc;
}

/* ------------------------------------------------------------ cov */

/* Appends the variables of x (rows, or columns when !rowvar; a 1-D x is
** one) to xc from row r on; returns the count, or -1 with n mismatching. */
static int64_t vars_of(const tide_Array *x, bool rowvar, tide_Array *v) {
  *v = *x;
  if (x->ndim == 1) {
    v->ndim = 2;
    v->shape[1] = v->shape[0];
    v->strides[1] = v->strides[0];
    v->shape[0] = 1;
    v->strides[0] = 0;
  } else if (!rowvar && x->shape[0] != 1) {
    tide_array_transpose(v);
  }
  return v->shape[0];
}

int tide_cov(const tide_Array *x, const tide_Array *y, bool rowvar, int ddof, bool corr,
             tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!x->storage || (y && !y->storage)) return tide__seterr(TIDE_ECLOSED, "array is closed");
  const tide_Array *in[2] = {x, y};
  tide_Array v[2];
  int64_t nv = 0, nobs = -1;
  for (int k = 0; k < 2 && in[k]; k++) {
    if (in[k]->ndim < 1 || in[k]->ndim > 2)
      return tide__seterr(TIDE_ESHAPE, "%s must be 1-D or 2-D, not %d-dimensional",
                          k ? "y" : "x", in[k]->ndim);
    nv += vars_of(in[k], rowvar, &v[k]);
    if (nobs >= 0 && v[k].shape[1] != nobs) {
      char b1[128], b2[128];
      return tide__seterr(TIDE_ESHAPE, "x of shape %s and y of shape %s hold different numbers "
                          "of observations", tide_shape_str(x->ndim, x->shape, b1, sizeof b1),
                          tide_shape_str(y->ndim, y->shape, b2, sizeof b2));
    }
    nobs = v[k].shape[1];
  }
  int64_t shape[2] = {nv, nobs};
  tide_Array xc, xt;
  int rc = tide_array_new(&xc, TIDE_F64, 2, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return rc;
  int64_t r = 0;
  for (int k = 0; k < 2 && in[k] && !rc; k++) {
    tide_Array dst = xc;
    tide_array_slice(&dst, 0, r, r + v[k].shape[0], 1);
    rc = tide_array_assign(&dst, &v[k]);
    r += v[k].shape[0];
  }
  if (rc) goto done;
  double *d = (double *)xc.data, fact = (double)(nobs - ddof);
  if (fact <= 0) fact = 0; /* numpy: a warning, then inf or nan */
  for (int64_t i = 0; i < nv; i++) {
    double *row = d + i * nobs, m = nobs ? psum((unsigned char *)row, nobs, 8, TIDE_F64, P_SUM, 0) /
                                             (double)nobs : NAN;
    for (int64_t j = 0; j < nobs; j++) row[j] -= m;
  }
  xt = xc;
  tide_array_transpose(&xt);
  if ((rc = tide_matmul(&xc, &xt, out))) goto done;
  double *c = (double *)out->data, inv = 1.0 / fact;
  for (int64_t i = 0; i < nv * nv; i++) c[i] *= inv;
  if (corr) {
    double *sd = tide__malloc((size_t)(nv ? nv : 1) * sizeof *sd);
    if (!sd) {
      rc = tide__seterr(TIDE_ENOMEM, "out of memory in corrcoef");
      tide_array_close(out);
      goto done;
    }
    for (int64_t i = 0; i < nv; i++) sd[i] = sqrt(c[i * nv + i]);
    for (int64_t i = 0; i < nv; i++)
      for (int64_t j = 0; j < nv; j++) {
        double q = c[i * nv + j] / sd[i] / sd[j];
        c[i * nv + j] = q > 1 ? 1 : q < -1 ? -1 : q; /* NaN stays */
      }
    free(sd);
  }
done:
  tide_array_close(&xc);
  return rc;
}
