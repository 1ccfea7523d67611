/*
** elem.c -- elementwise math beyond ops.c: trigonometric and hyperbolic
** functions, log1p expm1 log2 log10, sign, isnan, isfinite and atan2.
** See stats.h for the dtypes.
*/
#include <math.h>
#include <string.h>

#include "shape.h"
#include "stats.h"

static const char *const math_names[TIDE_NMATHOPS] = {
  "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
  "log1p", "expm1", "log2", "log10", "sign", "isnan", "isfinite"};

const char *tide_mathop_name(int op) {
  return op >= 0 && op < TIDE_NMATHOPS ? math_names[op] : "?";
}

static double (*const fn64[TIDE_SIGN])(double) = {
  sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, log1p, expm1, log2, log10};
static float (*const fn32[TIDE_SIGN])(float) = {
  sinf, cosf, tanf, asinf, acosf, atanf, sinhf, coshf, tanhf, log1pf, expm1f, log2f, log10f};

static double sign64(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x == 0 ? 0.0 : x; }

double tide_math_f64(int op, double x) {
  if (op < TIDE_SIGN) return fn64[op](x);
  if (op == TIDE_SIGN) return sign64(x);
  if (op == TIDE_ISNAN) return isnan(x) ? 1 : 0;
  return isfinite(x) ? 1 : 0;
}

typedef struct Un {
  int op, dt; /* dt: the input's dtype */
} Un;

#define SIGN_INT(T)                                                          \
  for (int64_t i = 0; i < n; i++) {                                          \
    T x = *(const T *)(pa + i * sa);                                         \
    *(T *)(po + i * so) = (T)((x > 0) - (x < 0));                            \
  }

#define SIGN_UINT(T)                                                         \
  for (int64_t i = 0; i < n; i++)                                            \
    *(T *)(po + i * so) = *(const T *)(pa + i * sa) != 0;

/* p[0] the output (its own dtype), p[1] the input. */
static int un_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const Un *u = ud;
  unsigned char *po = p[0];
  const unsigned char *pa = p[1];
  int64_t so = st[0], sa = st[1];
  if (u->op < TIDE_SIGN) {
    if (u->dt == TIDE_F32) {
      float (*f)(float) = fn32[u->op];
      for (int64_t i = 0; i < n; i++) *(float *)(po + i * so) = f(*(const float *)(pa + i * sa));
    } else {
      double (*f)(double) = fn64[u->op];
      if (u->dt == TIDE_F64) {
        for (int64_t i = 0; i < n; i++)
          *(double *)(po + i * so) = f(*(const double *)(pa + i * sa));
      } else {
        for (int64_t i = 0; i < n; i++)
          *(double *)(po + i * so) = f(tide_load_f64(u->dt, pa + i * sa));
      }
    }
    return 0;
  }
  if (u->op == TIDE_SIGN) {
    switch (u->dt) {
      case TIDE_F64:
        for (int64_t i = 0; i < n; i++)
          *(double *)(po + i * so) = sign64(*(const double *)(pa + i * sa));
        break;
      case TIDE_F32:
        for (int64_t i = 0; i < n; i++)
          *(float *)(po + i * so) = (float)sign64(*(const float *)(pa + i * sa));
        break;
      case TIDE_I64: SIGN_INT(int64_t) break;
      case TIDE_I32: SIGN_INT(int32_t) break;
      case TIDE_I16: SIGN_INT(int16_t) break;
      case TIDE_I8: SIGN_INT(int8_t) break;
      case TIDE_U64: SIGN_UINT(uint64_t) break;
      case TIDE_U32: SIGN_UINT(uint32_t) break;
      case TIDE_U16: SIGN_UINT(uint16_t) break;
      default: /* u8 (bool is refused) */
        for (int64_t i = 0; i < n; i++) po[i * so] = pa[i * sa] != 0;
        break;
    }
    return 0;
  }
  /* isnan, isfinite */
  bool nan = u->op == TIDE_ISNAN;
  if (!tide_dtype_isfloat(u->dt)) {
    for (int64_t i = 0; i < n; i++) po[i * so] = !nan;
  } else if (u->dt == TIDE_F64) {
    for (int64_t i = 0; i < n; i++) {
      double x = *(const double *)(pa + i * sa);
      po[i * so] = nan ? isnan(x) : isfinite(x);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float x = *(const float *)(pa + i * sa);
      po[i * so] = nan ? isnan(x) : isfinite(x);
    }
  }
  return 0;
}

int tide_math(int op, const tide_Array *a, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (op < 0 || op >= TIDE_NMATHOPS) return tide__seterr(TIDE_EINVAL, "unknown function %d", op);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  int odt;
  if (op < TIDE_SIGN) odt = a->dtype == TIDE_F32 ? TIDE_F32 : TIDE_F64;
  else if (op == TIDE_SIGN) odt = a->dtype;
  else odt = TIDE_BOOL;
  if (op == TIDE_SIGN && a->dtype == TIDE_BOOL)
    return tide__seterr(TIDE_EDTYPE, "sign is not defined for bool arrays (numpy's rule); "
                                     "a:astype(\"i64\"):sign() gives 0 and 1");
  int rc = tide_array_new(out, odt, a->ndim, a->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return rc;
  Un u = {op, a->dtype};
  unsigned char *base[2] = {out->data, a->data};
  const int64_t *st[2] = {out->strides, a->strides};
  return tide_nditer(2, a->ndim, a->shape, base, st, un_inner, &u);
}

/* ------------------------------------------------------------ atan2 */

typedef struct At {
  int dt[3]; /* out, y, x */
} At;

static int atan2_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  const At *c = ud;
  if (c->dt[0] == TIDE_F32) {
    for (int64_t i = 0; i < n; i++)
      *(float *)(p[0] + i * st[0]) = atan2f((float)tide_load_f64(c->dt[1], p[1] + i * st[1]),
                                            (float)tide_load_f64(c->dt[2], p[2] + i * st[2]));
  } else if (c->dt[1] == TIDE_F64 && c->dt[2] == TIDE_F64) {
    for (int64_t i = 0; i < n; i++)
      *(double *)(p[0] + i * st[0]) = atan2(*(const double *)(p[1] + i * st[1]),
                                            *(const double *)(p[2] + i * st[2]));
  } else {
    for (int64_t i = 0; i < n; i++)
      *(double *)(p[0] + i * st[0]) = atan2(tide_load_f64(c->dt[1], p[1] + i * st[1]),
                                            tide_load_f64(c->dt[2], p[2] + i * st[2]));
  }
  return 0;
}

int tide_atan2(const tide_Operand *y, const tide_Operand *x, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!y->arr && !x->arr) return tide__seterr(TIDE_EINVAL, "an array operand is needed");
  const tide_Operand *ops[2] = {y, x};
  int64_t shape[TIDE_MAXDIM];
  int ndim = 0, rc;
  for (int k = 0; k < 2; k++) {
    if (!ops[k]->arr) continue;
    if (!ops[k]->arr->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
    int64_t s2[TIDE_MAXDIM];
    int n2;
    rc = tide_broadcast_shapes(ndim, shape, ops[k]->arr->ndim, ops[k]->arr->shape, &n2, s2);
    if (rc) return rc;
    ndim = n2;
    memcpy(shape, s2, (size_t)ndim * sizeof *shape);
  }
  /* numpy's dtype for y / x: integers give f64, f32 stays f32 */
  int odt = tide_binop_dtype(TIDE_DIV, y, x);
  if ((rc = tide_array_new(out, odt, ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT))) return rc;
  double sv[2];
  int64_t st[2][TIDE_MAXDIM];
  unsigned char *base[3] = {out->data, NULL, NULL};
  const int64_t *stp[3] = {out->strides, st[0], st[1]};
  At c = {{odt, TIDE_F64, TIDE_F64}};
  for (int k = 0; k < 2; k++) {
    if (ops[k]->arr) {
      tide__bcast_strides(ops[k]->arr, ndim, st[k]);
      base[k + 1] = ops[k]->arr->data;
      c.dt[k + 1] = ops[k]->arr->dtype;
    } else {
      sv[k] = ops[k]->kind == TIDE_SC_FLOAT ? ops[k]->f : (double)ops[k]->i;
      memset(st[k], 0, sizeof st[k]);
      base[k + 1] = (unsigned char *)&sv[k];
    }
  }
  return tide_nditer(3, ndim, shape, base, stp, atan2_inner, &c);
}
