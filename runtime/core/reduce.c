/*
** reduce.c -- reductions (sum mean var std min max argmin argmax norm count
** any all) over a whole array or along one dimension.  See ops.h.
**
** All value reductions share one walk: the input and a C-ordered
** accumulator of the output's shape (stride 0 along the reduced dimension)
** go through tide_nditer with their dimensions sorted into the input's
** memory order.  When the reduced dimension is the innermost one in memory,
** each inner run collapses into one accumulator (pairwise sums); otherwise
** a run adds a whole input row into a row of accumulators, which is what
** makes column sums of a C-ordered matrix stream through memory.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* The build uses -O2, whose "very cheap" vectorizer skips loops with an
** unknown trip count; these kernels are the place where SIMD pays. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#define BLOCK 128 /* pairwise leaf size; rows per block along outer dims */

static const char *const red_names[TIDE_NREDOPS] = {
  "sum", "mean", "var", "std", "min", "max", "argmin", "argmax", "norm",
  "count", "any", "all"};

const char *tide_redop_name(int op) {
  return op >= 0 && op < TIDE_NREDOPS ? red_names[op] : "?";
}

/* Accumulation kinds: f64 accumulators (SUMF SQ DEV MINF MAXF) and i64
** accumulators (SUMI CNT MINI MAXI). */
enum { A_SUMF, A_SQ, A_DEV, A_MINF, A_MAXF, A_SUMI, A_CNT, A_MINI, A_MAXI };

#define T_SUM(v) ((double)(v))
#define T_SQ(v) ((double)(v) * (double)(v))
#define T_DEV(v) (((double)(v) - m) * ((double)(v) - m))
#define V_ID(v) (v)
#define V_BOOL(v) ((v) != 0)

/* Pairwise sum of TERM over n elements (numpy's scheme: 8 accumulators
** over leaves of at most BLOCK elements, halves added recursively). */
#define PAIRWISE(NAME, T, TERM, VAL)                                        \
  static double NAME(const unsigned char *p, int64_t n, int64_t st, double m) { \
    if (n <= BLOCK) {                                                       \
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0; \
      int64_t i = 0;                                                        \
      (void)m;                                                              \
      if (st == (int64_t)sizeof(T)) {                                       \
        const T *x = (const T *)p;                                          \
        for (; i + 8 <= n; i += 8) {                                        \
          s0 += TERM(VAL(x[i])); s1 += TERM(VAL(x[i + 1]));                 \
          s2 += TERM(VAL(x[i + 2])); s3 += TERM(VAL(x[i + 3]));             \
          s4 += TERM(VAL(x[i + 4])); s5 += TERM(VAL(x[i + 5]));             \
          s6 += TERM(VAL(x[i + 6])); s7 += TERM(VAL(x[i + 7]));             \
        }                                                                   \
        for (; i < n; i++) s0 += TERM(VAL(x[i]));                           \
      } else {                                                              \
        for (; i < n; i++) s0 += TERM(VAL(*(const T *)(p + i * st)));       \
      }                                                                     \
      return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));             \
    }                                                                       \
    int64_t h = n / 2;                                                      \
    h -= h % 8;                                                             \
    return NAME(p, h, st, m) + NAME(p + h * st, n - h, st, m);              \
  }

/* Elementwise accumulation acc[i] OP= x[i] for runs where the accumulator
** moves with the input; M(i) is the per-output mean (A_DEV) or 0. */
#define M_AT(i) (*(const double *)(pm + (i) * sm))
#define M_NONE(i) 0.0
#define ROWACC(T, VAL, STMT, M)                                             \
  if (sa == 8 && sx == (int64_t)sizeof(T)) {                                \
    double *restrict acc = (double *)pa;                                    \
    const T *restrict x = (const T *)px;                                    \
    for (int64_t i = 0; i < n; i++) {                                       \
      double v = (double)VAL(x[i]), m = M(i);                               \
      double *a = &acc[i];                                                  \
      (void)m;                                                              \
      STMT;                                                                 \
    }                                                                       \
  } else {                                                                  \
    for (int64_t i = 0; i < n; i++) {                                       \
      double v = (double)VAL(*(const T *)(px + i * sx)), m = M(i);          \
      double *a = (double *)(pa + i * sa);                                  \
      (void)m;                                                              \
      STMT;                                                                 \
    }                                                                       \
  }

/* min (CMP <) or max (CMP >) of a run and b; any NaN gives NaN.  Four
** independent lanes keep the compare chain off the critical path. */
#define EXTREME_RUN(T, VAL, CMP, B0)                                        \
  __extension__({                                                           \
    double b0 = (B0), b1 = b0, b2 = b0, b3 = b0;                            \
    int nan = 0;                                                            \
    int64_t i = 0;                                                          \
    if (sx == (int64_t)sizeof(T)) {                                         \
      const T *x = (const T *)px;                                           \
      for (; i + 4 <= n; i += 4) {                                          \
        double v0 = (double)VAL(x[i]), v1 = (double)VAL(x[i + 1]);          \
        double v2 = (double)VAL(x[i + 2]), v3 = (double)VAL(x[i + 3]);      \
        nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);          \
        b0 = v0 CMP b0 ? v0 : b0;                                           \
        b1 = v1 CMP b1 ? v1 : b1;                                           \
        b2 = v2 CMP b2 ? v2 : b2;                                           \
        b3 = v3 CMP b3 ? v3 : b3;                                           \
      }                                                                     \
    }                                                                       \
    for (; i < n; i++) {                                                    \
      double v = (double)VAL(*(const T *)(px + i * sx));                    \
      nan |= v != v;                                                        \
      b0 = v CMP b0 ? v : b0;                                               \
    }                                                                       \
    b0 = b1 CMP b0 ? b1 : b0;                                               \
    b2 = b3 CMP b2 ? b3 : b2;                                               \
    b0 = b2 CMP b0 ? b2 : b0;                                               \
    nan ? NAN : b0;                                                         \
  })

#define RED_TYPE(S, T, VAL)                                                 \
  PAIRWISE(pws_##S, T, T_SUM, VAL)                                          \
  PAIRWISE(pwq_##S, T, T_SQ, VAL)                                           \
  PAIRWISE(pwd_##S, T, T_DEV, VAL)                                          \
  static void acc_##S(int kind, unsigned char *pa, const unsigned char *px,  \
                      const unsigned char *pm, int64_t n, int64_t sa,       \
                      int64_t sx, int64_t sm) {                             \
    switch (kind) {                                                         \
      case A_SUMF:                                                          \
        if (sa == 0 && n <= 16) { /* short rows: skip the pairwise call */  \
          double s = 0;                                                     \
          for (int64_t i = 0; i < n; i++)                                   \
            s += (double)VAL(*(const T *)(px + i * sx));                    \
          *(double *)pa += s;                                               \
          break;                                                            \
        }                                                                   \
        if (sa == 0) { *(double *)pa += pws_##S(px, n, sx, 0); break; }     \
        ROWACC(T, VAL, *a += v, M_NONE) break;                                      \
      case A_SQ:                                                            \
        if (sa == 0) { *(double *)pa += pwq_##S(px, n, sx, 0); break; }     \
        ROWACC(T, VAL, *a += v * v, M_NONE) break;                                  \
      case A_DEV:                                                           \
        if (sa == 0) {                                                      \
          *(double *)pa += pwd_##S(px, n, sx, *(const double *)pm);         \
          break;                                                            \
        }                                                                   \
        ROWACC(T, VAL, *a += (v - m) * (v - m), M_AT) break;                      \
      case A_MINF:                                                          \
        if (sa == 0) {                                                      \
          *(double *)pa = EXTREME_RUN(T, VAL, <, *(double *)pa);           \
          break;                                                            \
        }                                                                   \
        ROWACC(T, VAL, if (v < *a || v != v) *a = v, M_NONE) break;                 \
      case A_MAXF:                                                          \
        if (sa == 0) {                                                      \
          *(double *)pa = EXTREME_RUN(T, VAL, >, *(double *)pa);           \
          break;                                                            \
        }                                                                   \
        ROWACC(T, VAL, if (v > *a || v != v) *a = v, M_NONE) break;                 \
      default:                                                              \
        acci_##S(kind, pa, px, n, sa, sx);                                  \
        break;                                                              \
    }                                                                       \
  }

/* i64 accumulators for integer inputs (wrapping sums, exact min/max).
** FLIP is xor'ed into min/max values: INT64_MIN for u64, so that its order
** is the signed order of the flipped bits (tide_reduce flips back). */
#define RED_ITYPE(S, T, VAL, FLIP)                                          \
  static void acci_##S(int kind, unsigned char *pa, const unsigned char *px, \
                       int64_t n, int64_t sa, int64_t sx) {                 \
    if (sa == 0) {                                                          \
      int64_t b = *(int64_t *)pa;                                           \
      uint64_t s = 0;                                                       \
      for (int64_t i = 0; i < n; i++) {                                     \
        int64_t v = (int64_t)VAL(*(const T *)(px + i * sx));                \
        switch (kind) {                                                     \
          case A_SUMI: s += (uint64_t)v; break;                             \
          case A_CNT: s += v != 0; break;                                   \
          case A_MINI: v ^= FLIP; b = v < b ? v : b; break;                 \
          default: v ^= FLIP; b = v > b ? v : b; break;                     \
        }                                                                   \
      }                                                                     \
      if (kind == A_SUMI || kind == A_CNT) b = (int64_t)((uint64_t)b + s);  \
      *(int64_t *)pa = b;                                                   \
      return;                                                               \
    }                                                                       \
    for (int64_t i = 0; i < n; i++) {                                       \
      int64_t v = (int64_t)VAL(*(const T *)(px + i * sx));                  \
      int64_t *a = (int64_t *)(pa + i * sa);                                \
      switch (kind) {                                                       \
        case A_SUMI: *a = (int64_t)((uint64_t)*a + (uint64_t)v); break;     \
        case A_CNT: *a += v != 0; break;                                    \
        case A_MINI: v ^= FLIP; if (v < *a) *a = v; break;                  \
        default: v ^= FLIP; if (v > *a) *a = v; break;                      \
      }                                                                     \
    }                                                                       \
  }

/* Float inputs only ever reach acci_ through A_CNT: compare, not convert. */
#define V_NZ(v) ((v) != 0)
RED_ITYPE(f64, double, V_NZ, 0)
RED_ITYPE(f32, float, V_NZ, 0)
RED_ITYPE(i64, int64_t, V_ID, 0)
RED_ITYPE(i32, int32_t, V_ID, 0)
RED_ITYPE(i16, int16_t, V_ID, 0)
RED_ITYPE(i8, int8_t, V_ID, 0)
RED_ITYPE(u64, uint64_t, V_ID, INT64_MIN)
RED_ITYPE(u32, uint32_t, V_ID, 0)
RED_ITYPE(u16, uint16_t, V_ID, 0)
RED_ITYPE(u8, uint8_t, V_ID, 0)
RED_ITYPE(b, uint8_t, V_BOOL, 0)
RED_TYPE(f64, double, V_ID)
RED_TYPE(f32, float, V_ID)
RED_TYPE(i64, int64_t, V_ID)
RED_TYPE(i32, int32_t, V_ID)
RED_TYPE(i16, int16_t, V_ID)
RED_TYPE(i8, int8_t, V_ID)
RED_TYPE(u64, uint64_t, V_ID)
RED_TYPE(u32, uint32_t, V_ID)
RED_TYPE(u16, uint16_t, V_ID)
RED_TYPE(u8, uint8_t, V_ID)
RED_TYPE(b, uint8_t, V_BOOL)

typedef struct Acc {
  int kind, dt;
} Acc;

static int acc_cb(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const Acc *c = ud;
  switch (c->dt) {
    case TIDE_F64: acc_f64(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_F32: acc_f32(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_I64: acc_i64(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_I32: acc_i32(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_I16: acc_i16(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_I8: acc_i8(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_U64: acc_u64(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_U32: acc_u32(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_U16: acc_u16(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    case TIDE_U8: acc_u8(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
    default: acc_b(c->kind, p[0], p[1], p[2], n, st[0], st[1], st[2]); break;
  }
  return 0;
}

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

/* Dimension order of x from the outermost to the innermost in memory
** (stable, so C-ordered arrays keep their order). */
static void memory_order(const tide_Array *x, int *ord) {
  for (int d = 0; d < x->ndim; d++) {
    int j = d;
    ord[j] = d;
    while (j > 0 && iabs64(x->strides[ord[j - 1]]) < iabs64(x->strides[ord[j]])) {
      int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
      j--;
    }
  }
}

/* acc (C-ordered, out shape, 8-byte elements) accumulates x along dim (all
** dims when dim < 0); mean is the per-output mean for A_DEV. */
static int accumulate(int kind, const tide_Array *x, int dim, unsigned char *acc,
                      const double *mean, int64_t outn) {
  int nd = x->ndim, ord[TIDE_MAXDIM];
  int64_t as[TIDE_MAXDIM], sh[TIDE_MAXDIM], xs[TIDE_MAXDIM], os[TIDE_MAXDIM];
  int64_t st = 8;
  for (int d = nd - 1; d >= 0; d--) {
    if (dim < 0 || d == dim) as[d] = 0;
    else { as[d] = st; st *= x->shape[d]; }
  }
  memory_order(x, ord);
  int pdim = -1, inner = -1;
  for (int k = 0; k < nd; k++) {
    sh[k] = x->shape[ord[k]];
    xs[k] = x->strides[ord[k]];
    os[k] = as[ord[k]];
    if (ord[k] == dim) pdim = k;
    if (sh[k] > 1) inner = k;
  }
  Acc c = {kind, x->dtype};
  const unsigned char *mp = mean ? (const unsigned char *)mean : acc;
  bool sumlike = kind == A_SUMF || kind == A_SQ || kind == A_DEV;
  if (dim < 0 || pdim == inner || x->shape[dim] <= BLOCK || !sumlike) {
    unsigned char *base[3] = {acc, x->data, (unsigned char *)mp};
    const int64_t *sts[3] = {os, xs, os};
    return tide_nditer(3, nd, sh, base, sts, acc_cb, &c);
  }
  /* Rows summed one by one would lose accuracy with len; sum BLOCK rows
  ** into tmp, then add tmp into acc (error ~ BLOCK + len / BLOCK). */
  double *tmp = tide__calloc((size_t)(outn ? outn : 1), sizeof *tmp);
  if (!tmp) return tide__seterr(TIDE_ENOMEM, "out of memory in a reduction");
  int64_t len = sh[pdim];
  for (int64_t k0 = 0; k0 < len; k0 += BLOCK) {
    int64_t shk[TIDE_MAXDIM];
    memcpy(shk, sh, (size_t)nd * 8);
    shk[pdim] = len - k0 < BLOCK ? len - k0 : BLOCK;
    memset(tmp, 0, (size_t)outn * sizeof *tmp);
    unsigned char *base[3] = {(unsigned char *)tmp, x->data + k0 * xs[pdim], (unsigned char *)mp};
    const int64_t *sts[3] = {os, xs, os};
    tide_nditer(3, nd, shk, base, sts, acc_cb, &c);
    double *a = (double *)acc;
    for (int64_t j = 0; j < outn; j++) a[j] += tmp[j];
  }
  free(tmp);
  return TIDE_OK;
}

/* ------------------------------------------------------------ argmin/max */

typedef struct Arg {
  int dt, max;
  int64_t len, dstride, base;
} Arg;

/* An integer element as an int64 whose order is the element's: u64 values
** have their top bit flipped. */
static inline int64_t ord_i64(int dt, const unsigned char *p) {
  int64_t v = tide_load_i64(dt, p);
  return dt == TIDE_U64 ? v ^ INT64_MIN : v;
}

/* Index of the extreme along n elements (first wins; first NaN wins). */
static int64_t arg_run(const Arg *g, const unsigned char *p, int64_t n, int64_t st) {
  int64_t best = 0;
  if (tide_dtype_isfloat(g->dt)) {
    double b = tide_load_f64(g->dt, p);
    if (b != b) return 0;
    if (g->dt == TIDE_F64 && st == 8) {
      const double *x = (const double *)p;
      for (int64_t i = 1; i < n; i++) {
        double v = x[i];
        if (v != v) return i;
        if (g->max ? v > b : v < b) { b = v; best = i; }
      }
      return best;
    }
    for (int64_t i = 1; i < n; i++) {
      double v = tide_load_f64(g->dt, p + i * st);
      if (v != v) return i;
      if (g->max ? v > b : v < b) { b = v; best = i; }
    }
    return best;
  }
  int64_t b = ord_i64(g->dt, p);
  for (int64_t i = 1; i < n; i++) {
    int64_t v = ord_i64(g->dt, p + i * st);
    if (g->max ? v > b : v < b) { b = v; best = i; }
  }
  return best;
}

/* Full argmin/argmax in C order: runs from tide_nditer come in C order. */
typedef struct ArgAll {
  Arg g;
  int64_t pos, best;
  double bf;
  int64_t bi;
  bool started, nan;
} ArgAll;

static int argall_cb(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  ArgAll *a = ud;
  if (a->nan) return 1;
  int64_t i = arg_run(&a->g, p[0], n, st[0]);
  const unsigned char *q = p[0] + i * st[0];
  if (tide_dtype_isfloat(a->g.dt)) {
    double v = tide_load_f64(a->g.dt, q);
    if (v != v) {
      a->best = a->pos + i;
      a->nan = true;
      return 1;
    }
    if (!a->started || (a->g.max ? v > a->bf : v < a->bf)) {
      a->bf = v;
      a->best = a->pos + i;
    }
  } else {
    int64_t v = ord_i64(a->g.dt, q);
    if (!a->started || (a->g.max ? v > a->bi : v < a->bi)) {
      a->bi = v;
      a->best = a->pos + i;
    }
  }
  a->started = true;
  a->pos += n;
  return 0;
}

/* Along dim, dim innermost in memory: each output scans its own run. */
static int argrun_cb(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const Arg *g = ud;
  for (int64_t j = 0; j < n; j++)
    *(int64_t *)(p[0] + j * st[0]) = arg_run(g, p[1] + j * st[1], g->len, g->dstride) + g->base;
  return 0;
}

/* Along dim otherwise: slice k updates the best values so far (in p[1]). */
typedef struct ArgSlice {
  Arg g;
  int64_t k;
} ArgSlice;

static int argslice_cb(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const ArgSlice *s = ud;
  bool isf = tide_dtype_isfloat(s->g.dt);
  for (int64_t j = 0; j < n; j++) {
    int64_t *idx = (int64_t *)(p[0] + j * st[0]);
    unsigned char *bv = p[1] + j * st[1], *q = p[2] + j * st[2];
    bool take;
    if (isf) {
      double v = tide_load_f64(s->g.dt, q), b = *(double *)bv;
      take = s->k == 0 || (b == b && (v != v || (s->g.max ? v > b : v < b)));
      if (take) *(double *)bv = v;
    } else {
      int64_t v = ord_i64(s->g.dt, q), b = *(int64_t *)bv;
      take = s->k == 0 || (s->g.max ? v > b : v < b);
      if (take) *(int64_t *)bv = v;
    }
    if (take) *idx = s->k + s->g.base;
  }
  return 0;
}

static int argreduce(int op, const tide_Array *a, int dim, int64_t base, tide_Array *out) {
  Arg g = {a->dtype, op == TIDE_RARGMAX, 0, 0, base};
  if (dim < 0) {
    ArgAll s = {g, 0, 0, 0, 0, false, false};
    unsigned char *b[1] = {a->data};
    const int64_t *st[1] = {a->strides};
    tide_nditer(1, a->ndim, a->shape, b, st, argall_cb, &s);
    *(int64_t *)out->data = s.best + base;
    return TIDE_OK;
  }
  /* x without dim, aligned with out's shape */
  int64_t xs[TIDE_MAXDIM];
  for (int d = 0, k = 0; d < a->ndim; d++)
    if (d != dim) xs[k++] = a->strides[d];
  int ord[TIDE_MAXDIM], inner = -1;
  memory_order(a, ord);
  for (int k = 0; k < a->ndim; k++)
    if (a->shape[ord[k]] > 1) inner = ord[k];
  if (inner == dim || a->shape[dim] == 1) {
    g.len = a->shape[dim];
    g.dstride = a->strides[dim];
    unsigned char *b[2] = {out->data, a->data};
    const int64_t *st[2] = {out->strides, xs};
    return tide_nditer(2, out->ndim, out->shape, b, st, argrun_cb, &g);
  }
  int64_t outn = tide_array_size(out);
  unsigned char *best = tide__calloc((size_t)(outn ? outn : 1), 8);
  if (!best) return tide__seterr(TIDE_ENOMEM, "out of memory in %s", tide_redop_name(op));
  int64_t bs[TIDE_MAXDIM], s8 = 8;
  for (int d = out->ndim - 1; d >= 0; d--) {
    bs[d] = s8;
    s8 *= out->shape[d];
  }
  ArgSlice s = {g, 0};
  for (s.k = 0; s.k < a->shape[dim]; s.k++) {
    unsigned char *b[3] = {out->data, best, a->data + s.k * a->strides[dim]};
    const int64_t *st[3] = {out->strides, bs, xs};
    tide_nditer(3, out->ndim, out->shape, b, st, argslice_cb, &s);
  }
  free(best);
  return TIDE_OK;
}

/* ------------------------------------------------------------ entry */

int tide_reduce(int op, const tide_Array *a, int dim, int ddof, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (op < 0 || op >= TIDE_NREDOPS) return tide__seterr(TIDE_EINVAL, "unknown reduction %d", op);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (dim >= a->ndim || dim < -1)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, a->ndim);
  int64_t shape[TIDE_MAXDIM], len = dim < 0 ? tide_array_size(a) : a->shape[dim];
  int ndim = 0;
  if (dim >= 0)
    for (int d = 0; d < a->ndim; d++)
      if (d != dim) shape[ndim++] = a->shape[d];
  int64_t outn = 1;
  for (int d = 0; d < ndim; d++) outn *= shape[d];
  bool isf = tide_dtype_isfloat(a->dtype);
  /* f32 stays f32 along dims; whole-array results are Lua numbers anyway,
  ** so they keep the double accumulator's precision. */
  int fdt = a->dtype == TIDE_F32 && dim >= 0 ? TIDE_F32 : TIDE_F64;
  int odt;
  switch (op) {
    /* numpy's accumulators: signed sums in i64, unsigned ones in u64 */
    case TIDE_RSUM: odt = isf ? fdt : tide_dtype_isunsigned(a->dtype) ? TIDE_U64 : TIDE_I64; break;
    case TIDE_RMIN: case TIDE_RMAX: odt = a->dtype; break;
    case TIDE_RARGMIN: case TIDE_RARGMAX: case TIDE_RCOUNT: odt = TIDE_I64; break;
    case TIDE_RANY: case TIDE_RALL: odt = TIDE_BOOL; break;
    default: odt = fdt; break;
  }
  bool noident = op == TIDE_RMEAN || op == TIDE_RVAR || op == TIDE_RSTD || op == TIDE_RMIN ||
                 op == TIDE_RMAX || op == TIDE_RARGMIN || op == TIDE_RARGMAX;
  if (noident && len == 0 && outn > 0)
    return tide__seterr(TIDE_EINVAL, "%s of a zero-size array (no identity)",
                        tide_redop_name(op));
  int rc = tide_array_new(out, odt, ndim, shape, TIDE_WHERE_AUTO);
  if (rc || outn == 0) return rc;
  if (len == 0) { /* the identity, zeroed already but for all's true: no pass */
    if (op == TIDE_RALL) memset(out->data, 1, (size_t)outn);
    return TIDE_OK;
  }
  if (op == TIDE_RARGMIN || op == TIDE_RARGMAX) {
    if ((rc = argreduce(op, a, dim, ddof, out))) tide_array_close(out);
    return rc;
  }
  int kind;
  switch (op) {
    case TIDE_RSUM: kind = isf ? A_SUMF : A_SUMI; break;
    case TIDE_RMIN: kind = isf ? A_MINF : A_MINI; break;
    case TIDE_RMAX: kind = isf ? A_MAXF : A_MAXI; break;
    case TIDE_RNORM: kind = A_SQ; break;
    case TIDE_RCOUNT: case TIDE_RANY: case TIDE_RALL: kind = A_CNT; break;
    default: kind = A_SUMF; break; /* mean; var and std start with the mean */
  }
  bool iacc = kind >= A_SUMI;
  /* u64 min / max accumulate flipped values (RED_ITYPE's FLIP) */
  bool flip = a->dtype == TIDE_U64 && (kind == A_MINI || kind == A_MAXI);
  size_t nb = (size_t)(outn ? outn : 1) * 8;
  bool inplace = iacc ? odt == TIDE_I64 || odt == TIDE_U64 : odt == TIDE_F64;
  /* an accumulator of 8 bytes an output (a bool's is 8 times the output),
  ** and var's means beside it: admitted as arrays are */
  uint64_t extra = (inplace ? 0 : nb) + (op == TIDE_RVAR || op == TIDE_RSTD ? nb : 0);
  if (extra && (rc = tide__admit_memory(extra, "a reduction's accumulators"))) {
    tide_array_close(out);
    return rc;
  }
  unsigned char *acc = inplace ? out->data : tide__calloc(nb, 1);
  double *mean = NULL;
  if (!acc) goto nomem;
  for (int64_t j = 0; j < outn; j++) {
    if (kind == A_MINF) ((double *)acc)[j] = INFINITY;
    if (kind == A_MAXF) ((double *)acc)[j] = -INFINITY;
    if (kind == A_MINI) ((int64_t *)acc)[j] = INT64_MAX;
    if (kind == A_MAXI) ((int64_t *)acc)[j] = INT64_MIN;
  }
  if ((rc = accumulate(kind, a, dim, acc, NULL, outn))) goto done;
  if (op == TIDE_RVAR || op == TIDE_RSTD) {
    mean = tide__malloc(nb);
    if (!mean) goto nomem;
    double *m = mean, *s = (double *)acc;
    for (int64_t j = 0; j < outn; j++) {
      m[j] = s[j] / (double)len;
      s[j] = 0;
    }
    if ((rc = accumulate(A_DEV, a, dim, acc, mean, outn))) goto done;
  }
  for (int64_t j = 0; j < outn; j++) {
    unsigned char *o = out->data + j * tide_dtype_size(odt);
    double v = iacc ? 0 : ((double *)acc)[j];
    int64_t iv = iacc ? ((int64_t *)acc)[j] : 0;
    switch (op) {
      case TIDE_RMEAN: v /= (double)len; break;
      case TIDE_RVAR: v /= (double)(len - ddof); break;
      case TIDE_RSTD: v = sqrt(v / (double)(len - ddof)); break;
      case TIDE_RNORM: v = sqrt(v); break;
      case TIDE_RANY: iv = iv > 0; break;
      case TIDE_RALL: iv = iv == len; break;
      default: break;
    }
    if (flip) iv ^= INT64_MIN;
    else if (acc == out->data && (op == TIDE_RSUM || op == TIDE_RCOUNT || op == TIDE_RMIN ||
                             op == TIDE_RMAX))
      continue;
    if (iacc) tide_store_i64(odt, o, iv);
    else tide_store_f64(odt, o, v);
  }
  goto done;
nomem:
  rc = tide__seterr(TIDE_ENOMEM, "out of memory in %s", tide_redop_name(op));
done:
  if (acc && acc != out->data) free(acc);
  free(mean);
  if (rc) tide_array_close(out);
  return rc;
}

int tide_reduce_all_f64(int op, const tide_Array *a, int ddof, double *v) {
  tide_Array r;
  int rc = tide_reduce(op, a, -1, ddof, &r);
  if (rc) return rc;
  *v = tide_load_f64(r.dtype, r.data);
  tide_array_close(&r);
  return TIDE_OK;
}
