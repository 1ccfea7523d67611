/*
** ops.c -- elementwise arithmetic, comparisons, logic and math over
** broadcast arrays, plus where / nonzero.  Promotion rules: see ops.h.
**
** Every operation runs one typed kernel per (op, compute dtype).  When the
** operands already have the compute dtype (the common case) the kernel
** sees the arrays' own memory, and a contiguous run is a plain restrict
** loop the compiler vectorizes.  Otherwise the inner runs are converted in
** chunks of CHUNK elements into stack buffers first (numpy's buffering),
** so kernels never switch on dtypes per element.
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

#define CHUNK 256

/* ------------------------------------------------------------ promotion */

int tide_promote(int a, int b) {
  if (a == b) return a;
  if (a == TIDE_BOOL) return b;
  if (b == TIDE_BOOL) return a;
  bool fa = tide_dtype_isfloat(a), fb = tide_dtype_isfloat(b);
  int za = tide_dtype_size(a), zb = tide_dtype_size(b);
  if (fa && fb) return TIDE_F64;
  if (fa || fb) {
    int f = fa ? a : b, zi = fa ? zb : za;
    /* f32 holds 8- and 16-bit integers exactly, not wider ones (numpy: f64) */
    return f == TIDE_F32 && zi <= 2 ? TIDE_F32 : TIDE_F64;
  }
  bool ua = tide_dtype_isunsigned(a), ub = tide_dtype_isunsigned(b);
  if (ua == ub) return za > zb ? a : b;
  int u = ua ? a : b, si = ua ? b : a;
  if (tide_dtype_size(si) > tide_dtype_size(u)) return si;
  /* the smallest signed type holding both; none holds u64 and a signed */
  return tide_dtype_size(u) < 8 ? tide_dtype_find('i', 2 * tide_dtype_size(u)) : TIDE_F64;
}

static bool op_isfloat(const tide_Operand *o) {
  return o->arr ? tide_dtype_isfloat(o->arr->dtype) : o->kind == TIDE_SC_FLOAT;
}

/* Arithmetic dtype with weak scalars (NEP 50). */
static int arith_dtype(const tide_Operand *a, const tide_Operand *b) {
  if (a->arr && b->arr) return tide_promote(a->arr->dtype, b->arr->dtype);
  if (!a->arr && !b->arr) return op_isfloat(a) || op_isfloat(b) ? TIDE_F64 : TIDE_I64;
  const tide_Operand *arr = a->arr ? a : b, *sc = a->arr ? b : a;
  int dt = arr->arr->dtype;
  if (sc->kind == TIDE_SC_FLOAT) return tide_dtype_isfloat(dt) ? dt : TIDE_F64;
  return dt;
}

static bool is_cmp(int op) { return op >= TIDE_LT && op <= TIDE_NE; }
static bool is_logic(int op) { return op >= TIDE_LAND && op <= TIDE_LXOR; }

static bool op_isu64(const tide_Operand *o) { return o->arr && o->arr->dtype == TIDE_U64; }

/* Comparisons: integers compare exactly as i64, except u64: as u64 with
** unsigned operands (and Lua integers >= 0), else as f64 (numpy 1.24's
** promotion of u64 with a signed type); anything with a float as f64. */
static int cmp_dtype(const tide_Operand *a, const tide_Operand *b) {
  if (op_isfloat(a) || op_isfloat(b)) return TIDE_F64;
  if (!op_isu64(a) && !op_isu64(b)) return TIDE_I64;
  const tide_Operand *o = op_isu64(a) ? b : a; /* the other operand */
  if (o->arr) return tide_promote(TIDE_U64, o->arr->dtype) == TIDE_U64 ? TIDE_U64 : TIDE_F64;
  return o->kind == TIDE_SC_INT && o->i < 0 ? TIDE_F64 : TIDE_U64;
}

/* Kernel input dtype of an op. */
static int compute_dtype(int op, const tide_Operand *a, const tide_Operand *b) {
  if (is_logic(op)) return TIDE_BOOL;
  if (is_cmp(op)) return cmp_dtype(a, b);
  int r = arith_dtype(a, b);
  if (op == TIDE_DIV && !tide_dtype_isfloat(r)) return TIDE_F64;
  if (r == TIDE_BOOL && op != TIDE_MIN && op != TIDE_MAX) return TIDE_I64;
  return r;
}

int tide_binop_dtype(int op, const tide_Operand *a, const tide_Operand *b) {
  if (is_cmp(op) || is_logic(op)) return TIDE_BOOL;
  return compute_dtype(op, a, b);
}

int tide_broadcast_shapes(int na, const int64_t *sa, int nb, const int64_t *sb,
                          int *nout, int64_t *out) {
  int n = na > nb ? na : nb;
  for (int d = 0; d < n; d++) {
    int da = d - (n - na), db = d - (n - nb);
    int64_t x = da >= 0 ? sa[da] : 1, y = db >= 0 ? sb[db] : 1;
    if (x != y && x != 1 && y != 1) {
      char b1[128], b2[128];
      return tide__seterr(TIDE_ESHAPE, "shapes %s and %s do not broadcast",
                          tide_shape_str(na, sa, b1, sizeof b1),
                          tide_shape_str(nb, sb, b2, sizeof b2));
    }
    out[d] = x == 1 ? y : x;
  }
  *nout = n;
  return TIDE_OK;
}

/* Strides of x seen with the (broadcast) shape of ndim dimensions. */
static void bcast_strides(const tide_Array *x, int ndim, int64_t *st) {
  int off = ndim - x->ndim;
  for (int d = 0; d < ndim; d++)
    st[d] = d < off || x->shape[d - off] == 1 ? 0 : x->strides[d - off];
}

/* ------------------------------------------------------------ conversion */

/* dst[i] = (dd) src[i] for n elements with byte strides. */
#define CONV_LOOP(DT, ST)                                                 \
  for (int64_t i = 0; i < n; i++)                                         \
    *(DT *)(dst + i * ds) = (DT) * (const ST *)(src + i * ss);
#define CONV_FROM(DT)                                                     \
  switch (sd) {                                                           \
    case TIDE_F64: CONV_LOOP(DT, double) break;                           \
    case TIDE_F32: CONV_LOOP(DT, float) break;                            \
    case TIDE_I64: CONV_LOOP(DT, int64_t) break;                          \
    case TIDE_I32: CONV_LOOP(DT, int32_t) break;                          \
    case TIDE_I16: CONV_LOOP(DT, int16_t) break;                          \
    case TIDE_I8: CONV_LOOP(DT, int8_t) break;                            \
    case TIDE_U64: CONV_LOOP(DT, uint64_t) break;                         \
    case TIDE_U32: CONV_LOOP(DT, uint32_t) break;                         \
    case TIDE_U16: CONV_LOOP(DT, uint16_t) break;                         \
    case TIDE_U8: CONV_LOOP(DT, uint8_t) break;                           \
    default:                                                              \
      for (int64_t i = 0; i < n; i++)                                     \
        *(DT *)(dst + i * ds) = (DT)(*(src + i * ss) != 0);               \
      break;                                                              \
  }

static void convert(int dd, unsigned char *dst, int64_t ds, int sd,
                    const unsigned char *src, int64_t ss, int64_t n) {
  if (dd == TIDE_BOOL) {
    for (int64_t i = 0; i < n; i++) dst[i * ds] = tide_load_f64(sd, src + i * ss) != 0;
    return;
  }
  if (tide_dtype_isfloat(sd) && !tide_dtype_isfloat(dd)) {
    /* float -> int is undefined in C out of range: the clamping store. */
    for (int64_t i = 0; i < n; i++)
      tide_store_f64(dd, dst + i * ds, tide_load_f64(sd, src + i * ss));
    return;
  }
  /* integer narrowing wraps like numpy's astype (GCC defines it as modulo) */
  switch (dd) {
    case TIDE_F64: CONV_FROM(double) break;
    case TIDE_F32: CONV_FROM(float) break;
    case TIDE_I64: CONV_FROM(int64_t) break;
    case TIDE_I32: CONV_FROM(int32_t) break;
    case TIDE_I16: CONV_FROM(int16_t) break;
    case TIDE_I8: CONV_FROM(int8_t) break;
    case TIDE_U64: CONV_FROM(uint64_t) break;
    case TIDE_U32: CONV_FROM(uint32_t) break;
    case TIDE_U16: CONV_FROM(uint16_t) break;
    default: CONV_FROM(uint8_t) break;
  }
}

/* ------------------------------------------------------------ kernels */

typedef void (*kfn)(unsigned char *po, const unsigned char *pa,
                    const unsigned char *pb, int64_t n, int64_t so,
                    int64_t sa, int64_t sb);

/* One kernel: EXPR computes TO from TI x and y.  Branches: contiguous,
** array op scalar, scalar op array, in place, and the strided fallback. */
#define KERNEL(NAME, TI, TO, EXPR)                                              \
  static void NAME(unsigned char *po, const unsigned char *pa,                  \
                   const unsigned char *pb, int64_t n, int64_t so, int64_t sa,  \
                   int64_t sb) {                                                \
    const int64_t zi = (int64_t)sizeof(TI), zo = (int64_t)sizeof(TO);           \
    if (so == zo && sa == zi && (void *)po != (const void *)pa) {               \
      TO *restrict o = (TO *)po;                                                \
      const TI *restrict a = (const TI *)pa;                                    \
      if (sb == zi) {                                                           \
        const TI *restrict b = (const TI *)pb;                                  \
        for (int64_t i = 0; i < n; i++) { TI x = a[i], y = b[i]; o[i] = (EXPR); } \
        return;                                                                 \
      }                                                                         \
      if (sb == 0) {                                                            \
        const TI y = *(const TI *)pb;                                           \
        for (int64_t i = 0; i < n; i++) { TI x = a[i]; o[i] = (EXPR); }         \
        return;                                                                 \
      }                                                                         \
    }                                                                           \
    if (so == zo && sa == 0 && sb == zi && (void *)po != (const void *)pb) {    \
      TO *restrict o = (TO *)po;                                                \
      const TI *restrict b = (const TI *)pb;                                    \
      const TI x = *(const TI *)pa;                                             \
      for (int64_t i = 0; i < n; i++) { TI y = b[i]; o[i] = (EXPR); }           \
      return;                                                                   \
    }                                                                           \
    if (zi == zo && so == zo && sa == zi && (void *)po == (const void *)pa) {   \
      /* in place: one pointer, so no restrict is needed to vectorize */       \
      TI *o = (TI *)po;                                                         \
      if (sb == 0) {                                                            \
        const TI y = *(const TI *)pb;                                           \
        for (int64_t i = 0; i < n; i++) { TI x = o[i]; o[i] = (TI)(EXPR); }     \
        return;                                                                 \
      }                                                                         \
      if (sb == zi && (void *)pb != (void *)po) {                               \
        const TI *restrict b = (const TI *)pb;                                  \
        for (int64_t i = 0; i < n; i++) { TI x = o[i], y = b[i]; o[i] = (TI)(EXPR); } \
        return;                                                                 \
      }                                                                         \
    }                                                                           \
    for (int64_t i = 0; i < n; i++) {                                           \
      TI x = *(const TI *)(pa + i * sa), y = *(const TI *)(pb + i * sb);        \
      *(TO *)(po + i * so) = (EXPR);                                            \
    }                                                                           \
  }

/* Float helpers (numpy's floor_divide / remainder semantics). */
#define FLOAT_HELPERS(S, T, FLOOR, FMOD)                                     \
  static inline T fdiv_##S(T x, T y) { return FLOOR(x / y); }                \
  static inline T fmod_##S(T x, T y) {                                       \
    T m = FMOD(x, y);                                                        \
    if (m != 0 && ((m < 0) != (y < 0))) m += y;                              \
    return m;                                                                \
  }
FLOAT_HELPERS(f64, double, floor, fmod)
FLOAT_HELPERS(f32, float, floorf, fmodf)

/* Signed integer helpers: wrap through unsigned arithmetic (no UB); zero
** divisors and negative exponents are refused before kernels run, the
** guards here only keep the arithmetic defined. */
#define INT_HELPERS(S, T, UT, TMIN)                                          \
  static inline T add_##S(T x, T y) { return (T)((UT)x + (UT)y); }           \
  static inline T sub_##S(T x, T y) { return (T)((UT)x - (UT)y); }           \
  static inline T mul_##S(T x, T y) { return (T)((UT)x * (UT)y); }           \
  static inline T neg_##S(T x) { return (T)((UT)0 - (UT)x); }                \
  static inline T idiv_##S(T x, T y) {                                       \
    if (y == 0) return 0;                                                    \
    if (y == -1) return neg_##S(x);                                          \
    T q = x / y;                                                             \
    if (x % y != 0 && ((x < 0) != (y < 0))) q--;                             \
    return q;                                                                \
  }                                                                          \
  static inline T imod_##S(T x, T y) {                                       \
    if (y == 0 || y == -1) return 0;                                         \
    T r = x % y;                                                             \
    if (r != 0 && ((r < 0) != (y < 0))) r += y;                              \
    return r;                                                                \
  }                                                                          \
  static inline T ipow_##S(T x, T y) {                                       \
    UT r = 1, b = (UT)x;                                                     \
    if (y < 0) return 0;                                                     \
    while (y) {                                                              \
      if (y & 1) r *= b;                                                     \
      b *= b;                                                                \
      y >>= 1;                                                               \
    }                                                                        \
    return (T)r;                                                             \
  }
/* UT is unsigned int for the narrow types: C promotes them to int, whose
** products could overflow. */
INT_HELPERS(i64, int64_t, uint64_t, INT64_MIN)
INT_HELPERS(i32, int32_t, uint32_t, INT32_MIN)
INT_HELPERS(i16, int16_t, unsigned, INT16_MIN)
INT_HELPERS(i8, int8_t, unsigned, INT8_MIN)

/* Unsigned integers wrap by definition; zero divisors give 0 (refused
** before kernels run). */
#define UINT_HELPERS(S, T, UT)                                               \
  static inline T add_##S(T x, T y) { return (T)((UT)x + (UT)y); }           \
  static inline T sub_##S(T x, T y) { return (T)((UT)x - (UT)y); }           \
  static inline T mul_##S(T x, T y) { return (T)((UT)x * (UT)y); }           \
  static inline T neg_##S(T x) { return (T)((UT)0 - (UT)x); }                \
  static inline T idiv_##S(T x, T y) { return y ? (T)(x / y) : 0; }          \
  static inline T imod_##S(T x, T y) { return y ? (T)(x % y) : 0; }         \
  static inline T ipow_##S(T x, T y) {                                       \
    UT r = 1, b = (UT)x;                                                     \
    while (y) {                                                              \
      if (y & 1) r *= b;                                                     \
      b *= b;                                                                \
      y >>= 1;                                                               \
    }                                                                        \
    return (T)r;                                                             \
  }
UINT_HELPERS(u64, uint64_t, uint64_t)
UINT_HELPERS(u32, uint32_t, uint32_t)
UINT_HELPERS(u16, uint16_t, unsigned)
UINT_HELPERS(u8, uint8_t, unsigned)

#define MINF(x, y) (((x) < (y) || (x) != (x)) ? (x) : (y))
#define MAXF(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))
#define MINI(x, y) ((x) < (y) ? (x) : (y))
#define MAXI(x, y) ((x) > (y) ? (x) : (y))

/* Floats. */
#define FLOAT_KERNELS(S, T, SQRT, EXP, LOG, FABS, POW, FLOOR, CEIL, RINT) \
  KERNEL(add_k_##S, T, T, x + y)                                         \
  KERNEL(sub_k_##S, T, T, x - y)                                         \
  KERNEL(mul_k_##S, T, T, x * y)                                         \
  KERNEL(div_k_##S, T, T, x / y)                                         \
  KERNEL(idiv_k_##S, T, T, fdiv_##S(x, y))                               \
  KERNEL(mod_k_##S, T, T, fmod_##S(x, y))                                \
  KERNEL(pow_k_##S, T, T, POW(x, y))                                     \
  KERNEL(min_k_##S, T, T, MINF(x, y))                                    \
  KERNEL(max_k_##S, T, T, MAXF(x, y))                                    \
  KERNEL(neg_k_##S, T, T, ((void)y, -x))                                 \
  KERNEL(abs_k_##S, T, T, ((void)y, FABS(x)))                            \
  KERNEL(sqrt_k_##S, T, T, ((void)y, SQRT(x)))                           \
  KERNEL(exp_k_##S, T, T, ((void)y, EXP(x)))                             \
  KERNEL(log_k_##S, T, T, ((void)y, LOG(x)))                             \
  KERNEL(floor_k_##S, T, T, ((void)y, FLOOR(x)))                         \
  KERNEL(ceil_k_##S, T, T, ((void)y, CEIL(x)))                           \
  KERNEL(round_k_##S, T, T, ((void)y, RINT(x)))
FLOAT_KERNELS(f64, double, sqrt, exp, log, fabs, pow, floor, ceil, nearbyint)
FLOAT_KERNELS(f32, float, sqrtf, expf, logf, fabsf, powf, floorf, ceilf, nearbyintf)

/* Integers (abs is the identity for unsigned ones: x < 0 never holds). */
#define INT_KERNELS(S, T)                                                \
  KERNEL(add_k_##S, T, T, add_##S(x, y))                                 \
  KERNEL(sub_k_##S, T, T, sub_##S(x, y))                                 \
  KERNEL(mul_k_##S, T, T, mul_##S(x, y))                                 \
  KERNEL(idiv_k_##S, T, T, idiv_##S(x, y))                               \
  KERNEL(mod_k_##S, T, T, imod_##S(x, y))                                \
  KERNEL(pow_k_##S, T, T, ipow_##S(x, y))                                \
  KERNEL(min_k_##S, T, T, MINI(x, y))                                    \
  KERNEL(max_k_##S, T, T, MAXI(x, y))                                    \
  KERNEL(neg_k_##S, T, T, ((void)y, neg_##S(x)))                         \
  KERNEL(abs_k_##S, T, T, ((void)y, x < 0 ? neg_##S(x) : x))
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
INT_KERNELS(i64, int64_t)
INT_KERNELS(i32, int32_t)
INT_KERNELS(i16, int16_t)
INT_KERNELS(i8, int8_t)
INT_KERNELS(u64, uint64_t)
INT_KERNELS(u32, uint32_t)
INT_KERNELS(u16, uint16_t)
INT_KERNELS(u8, uint8_t) /* and bool for min / max */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* logic (bool compute dtype) */
/* bool bytes from files may hold any nonzero value: normalize first */
KERNEL(land_k, uint8_t, uint8_t, (uint8_t)((x != 0) & (y != 0)))
KERNEL(lor_k, uint8_t, uint8_t, (uint8_t)((x != 0) | (y != 0)))
KERNEL(lxor_k, uint8_t, uint8_t, (uint8_t)((x != 0) ^ (y != 0)))
KERNEL(lnot_k, uint8_t, uint8_t, ((void)y, (uint8_t)!x))

/* Comparisons (compute dtypes f64, i64 and u64 only). */
#define CMP_KERNELS(S, T)                                                \
  KERNEL(lt_k_##S, T, uint8_t, x < y)                                    \
  KERNEL(le_k_##S, T, uint8_t, x <= y)                                   \
  KERNEL(gt_k_##S, T, uint8_t, x > y)                                    \
  KERNEL(ge_k_##S, T, uint8_t, x >= y)                                   \
  KERNEL(eq_k_##S, T, uint8_t, x == y)                                   \
  KERNEL(ne_k_##S, T, uint8_t, x != y)
CMP_KERNELS(f64, double)
CMP_KERNELS(i64, int64_t)
CMP_KERNELS(u64, uint64_t)

#define CELLS(OP)                                                        \
  [TIDE_F64] = OP##_k_f64, [TIDE_F32] = OP##_k_f32, [TIDE_I64] = OP##_k_i64, \
  [TIDE_I32] = OP##_k_i32, [TIDE_I16] = OP##_k_i16, [TIDE_I8] = OP##_k_i8,    \
  [TIDE_U64] = OP##_k_u64, [TIDE_U32] = OP##_k_u32, [TIDE_U16] = OP##_k_u16, \
  [TIDE_U8] = OP##_k_u8
#define ROW(OP) {CELLS(OP)}
#define CMPROW(OP) {[TIDE_F64] = OP##_k_f64, [TIDE_I64] = OP##_k_i64, [TIDE_U64] = OP##_k_u64}

static const kfn bin_table[TIDE_NBINOPS][TIDE_NDTYPES] = {
  [TIDE_ADD] = ROW(add), [TIDE_SUB] = ROW(sub), [TIDE_MUL] = ROW(mul),
  [TIDE_DIV] = {[TIDE_F64] = div_k_f64, [TIDE_F32] = div_k_f32},
  [TIDE_IDIV] = ROW(idiv), [TIDE_MOD] = ROW(mod), [TIDE_POW] = ROW(pow),
  [TIDE_MIN] = {CELLS(min), [TIDE_BOOL] = min_k_u8},
  [TIDE_MAX] = {CELLS(max), [TIDE_BOOL] = max_k_u8},
  [TIDE_LT] = CMPROW(lt), [TIDE_LE] = CMPROW(le), [TIDE_GT] = CMPROW(gt),
  [TIDE_GE] = CMPROW(ge), [TIDE_EQ] = CMPROW(eq), [TIDE_NE] = CMPROW(ne),
  [TIDE_LAND] = {[TIDE_BOOL] = land_k}, [TIDE_LOR] = {[TIDE_BOOL] = lor_k},
  [TIDE_LXOR] = {[TIDE_BOOL] = lxor_k},
};

static const kfn un_table[TIDE_NUNOPS][TIDE_NDTYPES] = {
  [TIDE_NEG] = ROW(neg), [TIDE_ABS] = ROW(abs),
  [TIDE_SQRT] = {[TIDE_F64] = sqrt_k_f64, [TIDE_F32] = sqrt_k_f32},
  [TIDE_EXP] = {[TIDE_F64] = exp_k_f64, [TIDE_F32] = exp_k_f32},
  [TIDE_LOG] = {[TIDE_F64] = log_k_f64, [TIDE_F32] = log_k_f32},
  [TIDE_LNOT] = {[TIDE_BOOL] = lnot_k},
  [TIDE_FLOOR] = {[TIDE_F64] = floor_k_f64, [TIDE_F32] = floor_k_f32},
  [TIDE_CEIL] = {[TIDE_F64] = ceil_k_f64, [TIDE_F32] = ceil_k_f32},
  [TIDE_ROUND] = {[TIDE_F64] = round_k_f64, [TIDE_F32] = round_k_f32},
};

/* ------------------------------------------------------------ driver */

typedef struct Bin {
  kfn fn;
  int ct, ot;   /* kernel input / output dtypes */
  int dt[3];    /* stored dtypes of out, a, b */
} Bin;

static int bin_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const Bin *c = ud;
  if (c->dt[0] == c->ot && c->dt[1] == c->ct && c->dt[2] == c->ct) {
    c->fn(p[0], p[1], p[2], n, st[0], st[1], st[2]);
    return 0;
  }
  _Alignas(16) unsigned char bo[CHUNK * 8], ba[CHUNK * 8], bb[CHUNK * 8];
  int cs = tide_dtype_size(c->ct), os = tide_dtype_size(c->ot);
  for (int64_t i = 0; i < n; i += CHUNK) {
    int64_t m = n - i < CHUNK ? n - i : CHUNK, sa = st[1], sb = st[2], so = st[0];
    const unsigned char *a = p[1] + i * st[1], *b = p[2] + i * st[2];
    unsigned char *o = p[0] + i * st[0];
    if (c->dt[1] != c->ct) {
      convert(c->ct, ba, cs, c->dt[1], a, sa, sa ? m : 1);
      a = ba;
      sa = sa ? cs : 0;
    }
    if (c->dt[2] != c->ct) {
      convert(c->ct, bb, cs, c->dt[2], b, sb, sb ? m : 1);
      b = bb;
      sb = sb ? cs : 0;
    }
    if (c->dt[0] != c->ot) {
      o = bo;
      so = os;
    }
    c->fn(o, a, b, m, so, sa, sb);
    if (c->dt[0] != c->ot) convert(c->dt[0], p[0] + i * st[0], st[0], c->ot, bo, os, m);
  }
  return 0;
}

/* A scalar operand as an element of the compute dtype, in buf. */
static int scalar_to(const tide_Operand *s, int ct, unsigned char *buf, bool arith) {
  memset(buf, 0, 8);
  if (s->kind == TIDE_SC_FLOAT) {
    tide_store_f64(ct, buf, s->f);
    return TIDE_OK;
  }
  if (arith && tide_dtype_isint(ct) && ct != TIDE_I64) {
    /* numpy 2 refuses a Python int that its array's dtype cannot hold. */
    int64_t lo, hi;
    tide_dtype_range(ct, &lo, &hi);
    if (s->i < lo || s->i > hi)
      return tide__seterr(TIDE_ERANGE, "integer %" PRId64 " does not fit in %s",
                          s->i, tide_dtypes[ct].name);
  }
  tide_store_i64(ct, buf, s->i);
  return TIDE_OK;
}

/* Refuses integer division by zero and negative integer powers before
** anything is written. */
static int zero_scan(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const int *w = ud; /* w[0] dtype, w[1] 1: zeros, 2: negatives */
  for (int64_t i = 0; i < n; i++) {
    int64_t v = tide_load_i64(w[0], p[0] + i * st[0]);
    if (w[1] == 1 ? v == 0 : v < 0) return 1;
  }
  return 0;
}

static int check_divisor(int op, int ct, const tide_Operand *b) {
  if (tide_dtype_isfloat(ct) || (op != TIDE_IDIV && op != TIDE_MOD && op != TIDE_POW))
    return TIDE_OK;
  /* an unsigned compute dtype means b is unsigned (or a Lua integer >= 0,
  ** scalar_to checks): no negative exponent; a u64 >= 2^63 would load as
  ** negative below */
  if (op == TIDE_POW && tide_dtype_isunsigned(ct)) return TIDE_OK;
  int w[2] = {0, op == TIDE_POW ? 2 : 1};
  int bad;
  if (b->arr) {
    w[0] = b->arr->dtype;
    unsigned char *base[1] = {b->arr->data};
    const int64_t *st[1] = {b->arr->strides};
    bad = tide_nditer(1, b->arr->ndim, b->arr->shape, base, st, zero_scan, w);
  } else {
    bad = w[1] == 1 ? b->i == 0 : b->i < 0;
  }
  if (!bad) return TIDE_OK;
  return op == TIDE_POW
             ? tide__seterr(TIDE_EINVAL, "integers to negative integer powers are not allowed")
             : tide__seterr(TIDE_EINVAL, "integer division by zero");
}

static int check_open(const tide_Operand *o) {
  if (o->arr && !o->arr->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  return TIDE_OK;
}

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

/* tide_nditer over out's shape, except that a 2-D result with an operand
** laid out column by column (a:t() of a C-ordered matrix) is walked in
** TILE x TILE blocks: each block reuses the cache lines it reads instead of
** striding down whole columns once per output row. */
#define TILE 64
static int tiled_nditer(int nops, const tide_Array *out, unsigned char **base,
                        const int64_t *const *st, tide_InnerFn fn, void *ud) {
  bool colmajor = false;
  if (out->ndim == 2 && out->shape[0] > 1 && out->shape[1] > TILE)
    for (int k = 1; k < nops; k++)
      if (st[k][0] != 0 && st[k][1] != 0 && iabs64(st[k][0]) < iabs64(st[k][1]))
        colmajor = true;
  if (!colmajor) return tide_nditer(nops, out->ndim, out->shape, base, st, fn, ud);
  int64_t r = out->shape[0], c = out->shape[1];
  for (int64_t i0 = 0; i0 < r; i0 += TILE)
    for (int64_t j0 = 0; j0 < c; j0 += TILE) {
      int64_t sub[2] = {r - i0 < TILE ? r - i0 : TILE, c - j0 < TILE ? c - j0 : TILE};
      unsigned char *b[4];
      for (int k = 0; k < nops; k++) b[k] = base[k] + i0 * st[k][0] + j0 * st[k][1];
      int rc = tide_nditer(nops, 2, sub, b, st, fn, ud);
      if (rc) return rc;
    }
  return 0;
}

/* out (already shaped) = a op b through fn. */
static int run(kfn fn, int ct, int ot, tide_Array *out, const tide_Operand *a,
               const tide_Operand *b) {
  unsigned char sa[8], sb[8];
  int64_t sta[TIDE_MAXDIM], stb[TIDE_MAXDIM];
  Bin c = {fn, ct, ot, {out->dtype, ct, ct}};
  unsigned char *base[3] = {out->data, sa, sb};
  const int64_t *st[3] = {out->strides, sta, stb};
  int rc;
  if (a->arr) {
    bcast_strides(a->arr, out->ndim, sta);
    base[1] = a->arr->data;
    c.dt[1] = a->arr->dtype;
  } else {
    memset(sta, 0, sizeof sta);
    if ((rc = scalar_to(a, ct, sa, ot == ct))) return rc;
  }
  if (b->arr) {
    bcast_strides(b->arr, out->ndim, stb);
    base[2] = b->arr->data;
    c.dt[2] = b->arr->dtype;
  } else {
    memset(stb, 0, sizeof stb);
    if ((rc = scalar_to(b, ct, sb, ot == ct))) return rc;
  }
  return tiled_nditer(3, out, base, st, bin_inner, &c);
}

int tide_binop(int op, const tide_Operand *a, const tide_Operand *b, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (op < 0 || op >= TIDE_NBINOPS) return tide__seterr(TIDE_EINVAL, "unknown operator %d", op);
  if (!a->arr && !b->arr) return tide__seterr(TIDE_EINVAL, "an array operand is needed");
  int rc;
  if ((rc = check_open(a)) || (rc = check_open(b))) return rc;
  int64_t shape[TIDE_MAXDIM];
  int ndim = 0;
  if (a->arr && b->arr) {
    rc = tide_broadcast_shapes(a->arr->ndim, a->arr->shape, b->arr->ndim, b->arr->shape,
                               &ndim, shape);
    if (rc) return rc;
  } else {
    const tide_Array *x = a->arr ? a->arr : b->arr;
    ndim = x->ndim;
    memcpy(shape, x->shape, (size_t)ndim * sizeof *shape);
  }
  int ct = compute_dtype(op, a, b), ot = tide_binop_dtype(op, a, b);
  if ((rc = check_divisor(op, ct, b))) return rc;
  kfn fn = bin_table[op][ct];
  if (!fn) return tide__seterr(TIDE_EDTYPE, "operator not defined for %s", tide_dtypes[ct].name);
  if ((rc = tide_array_new(out, ot, ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT))) return rc;
  if ((rc = run(fn, ct, ot, out, a, b))) tide_array_close(out);
  return rc;
}

/* Byte range [lo, hi) an array's elements occupy. */
static void extent(const tide_Array *x, uintptr_t *lo, uintptr_t *hi) {
  intptr_t l = 0, h = 0;
  for (int d = 0; d < x->ndim; d++) {
    intptr_t span = (intptr_t)((x->shape[d] - 1) * x->strides[d]);
    if (x->shape[d] == 0) { l = h = 0; break; }
    if (span < 0) l += span;
    else h += span;
  }
  *lo = (uintptr_t)x->data + (uintptr_t)l;
  *hi = (uintptr_t)x->data + (uintptr_t)h + (uintptr_t)tide_dtype_size(x->dtype);
}

/* True when reading b while writing a could see already-written values. */
static bool bad_overlap(const tide_Array *a, const tide_Array *b) {
  if (a->storage != b->storage) return false;
  if (a->data == b->data && a->ndim == b->ndim && a->dtype == b->dtype &&
      memcmp(a->shape, b->shape, (size_t)a->ndim * 8) == 0 &&
      memcmp(a->strides, b->strides, (size_t)a->ndim * 8) == 0)
    return false; /* the very same elements: each is read before written */
  uintptr_t alo, ahi, blo, bhi;
  extent(a, &alo, &ahi);
  extent(b, &blo, &bhi);
  return alo < bhi && blo < ahi;
}

int tide_binop_inplace(int op, tide_Array *a, const tide_Operand *b) {
  if (op < 0 || op >= TIDE_NBINOPS || is_cmp(op) || is_logic(op))
    return tide__seterr(TIDE_EINVAL, "operator %d cannot run in place", op);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (a->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  int rc = check_open(b);
  if (rc) return rc;
  tide_Operand ao = tide_op_array(a), bo = *b;
  tide_Array tmp = {0};
  if (b->arr) {
    int64_t shape[TIDE_MAXDIM];
    int nd;
    rc = tide_broadcast_shapes(a->ndim, a->shape, b->arr->ndim, b->arr->shape, &nd, shape);
    if (rc) return rc;
    if (nd != a->ndim || memcmp(shape, a->shape, (size_t)nd * 8) != 0) {
      char b1[128], b2[128];
      return tide__seterr(TIDE_ESHAPE, "shape %s does not broadcast to %s in place",
                          tide_shape_str(b->arr->ndim, b->arr->shape, b1, sizeof b1),
                          tide_shape_str(a->ndim, a->shape, b2, sizeof b2));
    }
    if (bad_overlap(a, b->arr)) {
      if ((rc = tide_array_copy(b->arr, -1, &tmp))) return rc;
      bo.arr = &tmp;
    }
  }
  int ct = compute_dtype(op, &ao, &bo);
  kfn fn = bin_table[op][ct];
  if (!(rc = check_divisor(op, ct, &bo))) {
    rc = fn ? run(fn, ct, ct, a, &ao, &bo)
            : tide__seterr(TIDE_EDTYPE, "operator not defined for %s", tide_dtypes[ct].name);
  }
  tide_array_close(&tmp);
  if (!rc) tide_storage_touch(a->storage);
  return rc;
}

int tide_unop(int op, const tide_Array *a, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (op < 0 || op >= TIDE_NUNOPS) return tide__seterr(TIDE_EINVAL, "unknown operator %d", op);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int ct;
  if (op >= TIDE_FLOOR && !tide_dtype_isfloat(a->dtype)) return tide_array_copy(a, -1, out);
  switch (op) {
    case TIDE_NEG: ct = a->dtype == TIDE_BOOL ? TIDE_I64 : a->dtype; break;
    case TIDE_ABS: ct = a->dtype == TIDE_BOOL ? TIDE_U8 : a->dtype; break;
    case TIDE_LNOT: ct = TIDE_BOOL; break;
    case TIDE_FLOOR: case TIDE_CEIL: case TIDE_ROUND: ct = a->dtype; break;
    default: ct = a->dtype == TIDE_F32 ? TIDE_F32 : TIDE_F64; break;
  }
  int ot = op == TIDE_ABS && a->dtype == TIDE_BOOL ? TIDE_BOOL : ct;
  int rc = tide_array_new(out, ot, a->ndim, a->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return rc;
  tide_Operand ao = tide_op_array(a), zero = tide_op_int(0);
  if ((rc = run(un_table[op][ct], ct, ct, out, &ao, &zero))) tide_array_close(out);
  return rc;
}

int tide_clamp(const tide_Array *a, const tide_Operand *lo, const tide_Operand *hi,
               tide_Array *out) {
  tide_Operand ao = tide_op_array(a);
  tide_Array t;
  int rc;
  if (!lo && !hi) return tide_array_copy(a, -1, out);
  if (!lo) return tide_binop(TIDE_MIN, &ao, hi, out);
  if ((rc = tide_binop(TIDE_MAX, &ao, lo, hi ? &t : out))) return rc;
  if (!hi) return TIDE_OK;
  tide_Operand to = tide_op_array(&t);
  rc = tide_binop(TIDE_MIN, &to, hi, out);
  tide_array_close(&t);
  return rc;
}

/* ------------------------------------------------------------ where */

typedef struct Where {
  int dt[4]; /* out, mask, x, y */
} Where;

#define SELECT(T)                                                          \
  for (int64_t e = 0; e < m; e++)                                          \
    *(T *)(o + e * so) = mk[e * sm] ? *(const T *)(x + e * sx) : *(const T *)(y + e * sy);

static int where_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const Where *w = ud;
  int r = w->dt[0], rs = tide_dtype_size(r);
  _Alignas(16) unsigned char bm[CHUNK], bx[CHUNK * 8], by[CHUNK * 8];
  for (int64_t i = 0; i < n; i += CHUNK) {
    int64_t m = n - i < CHUNK ? n - i : CHUNK;
    const unsigned char *mk = p[1] + i * st[1], *x = p[2] + i * st[2], *y = p[3] + i * st[3];
    int64_t sm = st[1], sx = st[2], sy = st[3], so = st[0];
    unsigned char *o = p[0] + i * st[0];
    if (w->dt[1] != TIDE_BOOL) {
      convert(TIDE_BOOL, bm, 1, w->dt[1], mk, sm, sm ? m : 1);
      mk = bm;
      sm = sm ? 1 : 0;
    }
    if (w->dt[2] != r) {
      convert(r, bx, rs, w->dt[2], x, sx, sx ? m : 1);
      x = bx;
      sx = sx ? rs : 0;
    }
    if (w->dt[3] != r) {
      convert(r, by, rs, w->dt[3], y, sy, sy ? m : 1);
      y = by;
      sy = sy ? rs : 0;
    }
    switch (rs) {
      case 8: SELECT(uint64_t) break;
      case 4: SELECT(uint32_t) break;
      case 2: SELECT(uint16_t) break;
      default: SELECT(uint8_t) break;
    }
  }
  return 0;
}

int tide_where(const tide_Array *mask, const tide_Operand *x, const tide_Operand *y,
               tide_Array *out) {
  memset(out, 0, sizeof *out);
  tide_Operand mo = tide_op_array(mask);
  int rc;
  if ((rc = check_open(&mo)) || (rc = check_open(x)) || (rc = check_open(y))) return rc;
  int64_t shape[TIDE_MAXDIM];
  int ndim = mask->ndim;
  memcpy(shape, mask->shape, (size_t)ndim * 8);
  const tide_Operand *ops[2] = {x, y};
  for (int k = 0; k < 2; k++) {
    if (!ops[k]->arr) continue;
    int64_t s2[TIDE_MAXDIM];
    rc = tide_broadcast_shapes(ndim, shape, ops[k]->arr->ndim, ops[k]->arr->shape, &ndim, s2);
    if (rc) return rc;
    memcpy(shape, s2, (size_t)ndim * 8);
  }
  int r = arith_dtype(x, y);
  if (!x->arr && !y->arr && x->kind == TIDE_SC_BOOL && y->kind == TIDE_SC_BOOL) r = TIDE_BOOL;
  if ((rc = tide_array_new(out, r, ndim, shape, TIDE_WHERE_AUTO))) return rc;
  unsigned char sx[8], sy[8];
  int64_t st[3][TIDE_MAXDIM];
  Where w = {{r, mask->dtype, r, r}};
  unsigned char *base[4] = {out->data, mask->data, sx, sy};
  const int64_t *stp[4] = {out->strides, st[0], st[1], st[2]};
  bcast_strides(mask, ndim, st[0]);
  for (int k = 0; k < 2; k++) {
    if (ops[k]->arr) {
      bcast_strides(ops[k]->arr, ndim, st[k + 1]);
      base[k + 2] = ops[k]->arr->data;
      w.dt[k + 2] = ops[k]->arr->dtype;
    } else {
      memset(st[k + 1], 0, sizeof st[k + 1]);
      if ((rc = scalar_to(ops[k], r, base[k + 2], false))) break;
    }
  }
  if (!rc) rc = tide_nditer(4, ndim, shape, base, stp, where_inner, &w);
  if (rc) tide_array_close(out);
  return rc;
}

typedef struct Nz {
  int dt;
  int64_t pos, count, base;
  int64_t *out; /* NULL: count only */
} Nz;

static int nz_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  Nz *z = ud;
  const unsigned char *q = p[0];
  for (int64_t i = 0; i < n; i++, q += st[0]) {
    bool t = z->dt == TIDE_BOOL || z->dt == TIDE_U8 ? *q != 0 : tide_load_f64(z->dt, q) != 0;
    if (t) {
      if (z->out) z->out[z->count] = z->pos + i + z->base;
      z->count++;
    }
  }
  z->pos += n;
  return 0;
}

int tide_nonzero(const tide_Array *mask, int64_t base, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!mask->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  Nz z = {mask->dtype, 0, 0, base, NULL};
  unsigned char *b[1] = {mask->data};
  const int64_t *st[1] = {mask->strides};
  /* tide_nditer keeps C order (it only merges dimensions), so pos is the
  ** flat C-order index. */
  tide_nditer(1, mask->ndim, mask->shape, b, st, nz_inner, &z);
  int64_t n = z.count;
  int rc = tide_array_new(out, TIDE_I64, 1, &n, TIDE_WHERE_AUTO);
  if (rc) return rc;
  z.pos = z.count = 0;
  z.out = (int64_t *)out->data;
  tide_nditer(1, mask->ndim, mask->shape, b, st, nz_inner, &z);
  return TIDE_OK;
}
