/*
** test_ops.c -- elementwise kernels, promotion, broadcasting, where and
** reductions (checked against naive loops).
*/
#include "check.h"
#include "ops.h"

static uint64_t seed = 12345;

static double rnd(void) { /* xorshift64*, uniform in [0, 1) */
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static tide_Array mk(int dt, int nd, const int64_t *shape) {
  tide_Array a;
  int rc = tide_array_new(&a, dt, nd, shape, TIDE_WHERE_HEAP);
  if (rc) {
    fprintf(stderr, "tide_array_new: %s\n", tide_lasterror());
    exit(2);
  }
  return a;
}

/* Fills with small random values (integers -20..20 for integer dtypes). */
static void fill_rand(tide_Array *a) {
  int64_t n = tide_array_size(a), isz = tide_dtype_size(a->dtype);
  for (int64_t i = 0; i < n; i++) {
    double v = rnd() * 40 - 20;
    if (a->dtype == TIDE_U8) v = rnd() * 100;
    if (a->dtype == TIDE_BOOL) v = rnd() < 0.5;
    tide_store_f64(a->dtype, a->data + i * isz, tide_dtype_isfloat(a->dtype) ? v : floor(v));
  }
}

static double at3(const tide_Array *a, int64_t i, int64_t j, int64_t k) {
  int64_t idx[3] = {i, j, k};
  return tide_load_f64(a->dtype, tide_array_at(a, idx));
}

/* ------------------------------------------------------------ promotion */

static void test_promotion(void) {
  /* numpy's result_type for the six dtypes (rows/cols f64 f32 i64 i32 u8 bool) */
  static const int want[6][6] = {
    {TIDE_F64, TIDE_F64, TIDE_F64, TIDE_F64, TIDE_F64, TIDE_F64},
    {TIDE_F64, TIDE_F32, TIDE_F64, TIDE_F64, TIDE_F32, TIDE_F32},
    {TIDE_F64, TIDE_F64, TIDE_I64, TIDE_I64, TIDE_I64, TIDE_I64},
    {TIDE_F64, TIDE_F64, TIDE_I64, TIDE_I32, TIDE_I32, TIDE_I32},
    {TIDE_F64, TIDE_F32, TIDE_I64, TIDE_I32, TIDE_U8, TIDE_U8},
    {TIDE_F64, TIDE_F32, TIDE_I64, TIDE_I32, TIDE_U8, TIDE_BOOL}};
  for (int a = 0; a < 6; a++)
    for (int b = 0; b < 6; b++) CHECK_EQ_INT(tide_promote(a, b), want[a][b]);

  int64_t s = 2;
  tide_Array x[TIDE_NDTYPES];
  for (int d = 0; d < TIDE_NDTYPES; d++) x[d] = mk(d, 1, &s);
  tide_Operand fi = tide_op_int(3), ff = tide_op_float(0.5);
  tide_Operand af32 = tide_op_array(&x[TIDE_F32]), ai32 = tide_op_array(&x[TIDE_I32]);
  tide_Operand au8 = tide_op_array(&x[TIDE_U8]), ab = tide_op_array(&x[TIDE_BOOL]);
  tide_Operand ai64 = tide_op_array(&x[TIDE_I64]);
  /* weak scalars */
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &af32, &ff), TIDE_F32);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &ai32, &ff), TIDE_F64);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &ai32, &fi), TIDE_I32);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_MUL, &fi, &au8), TIDE_U8);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &ab, &fi), TIDE_I64);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &ab, &ab), TIDE_I64);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_MAX, &ab, &ab), TIDE_BOOL);
  /* true division and comparisons */
  CHECK_EQ_INT(tide_binop_dtype(TIDE_DIV, &ai32, &fi), TIDE_F64);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_DIV, &af32, &fi), TIDE_F32);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_IDIV, &ai64, &fi), TIDE_I64);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_LT, &af32, &ai64), TIDE_BOOL);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &ai32, &af32), TIDE_F64);
  CHECK_EQ_INT(tide_binop_dtype(TIDE_ADD, &au8, &af32), TIDE_F32);
  for (int d = 0; d < TIDE_NDTYPES; d++) tide_array_close(&x[d]);
}

/* ------------------------------------------------------------ broadcasting */

static void test_broadcast(void) {
  int64_t out[TIDE_MAXDIM];
  int n;
  int64_t s34[2] = {3, 4}, s4[1] = {4}, s31[2] = {3, 1}, s5[1] = {5}, s214[3] = {2, 1, 4};
  CHECK_EQ_INT(tide_broadcast_shapes(2, s34, 1, s4, &n, out), TIDE_OK);
  CHECK(n == 2 && out[0] == 3 && out[1] == 4);
  CHECK_EQ_INT(tide_broadcast_shapes(3, s214, 2, s31, &n, out), TIDE_OK);
  CHECK(n == 3 && out[0] == 2 && out[1] == 3 && out[2] == 4);
  CHECK_EQ_INT(tide_broadcast_shapes(2, s34, 1, s5, &n, out), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "shapes 3x4 and 5 do not broadcast");

  /* values: 2x1x4 + 3x1 -> 2x3x4, mixed dtypes i32 + f32 -> f64 */
  tide_Array a = mk(TIDE_I32, 3, s214), b = mk(TIDE_F32, 2, s31), c;
  fill_rand(&a);
  fill_rand(&b);
  tide_Operand oa = tide_op_array(&a), ob = tide_op_array(&b);
  CHECK_EQ_INT(tide_binop(TIDE_SUB, &oa, &ob, &c), TIDE_OK);
  CHECK_EQ_INT(c.dtype, TIDE_F64);
  CHECK(c.ndim == 3 && c.shape[0] == 2 && c.shape[1] == 3 && c.shape[2] == 4);
  int bad = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++)
        bad += at3(&c, i, j, k) != at3(&a, i, 0, k) - (double)(float)tide_load_f64(
                   TIDE_F32, b.data + j * b.strides[0]);
  CHECK_EQ_INT(bad, 0);
  tide_array_close(&c);
  /* in place: b cannot grow a */
  CHECK_EQ_INT(tide_binop_inplace(TIDE_ADD, &b, &oa), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "in place");
  tide_array_close(&a);
  tide_array_close(&b);
}

/* Random N-d broadcasts (some operands strided) against index arithmetic. */
static int64_t irand(int64_t n) { return (int64_t)(rnd() * (double)n); }

static tide_Array strided(int dt, int nd, const int64_t *shape, tide_Array *base) {
  /* a view with a step of 2 along one random dimension */
  int64_t big[TIDE_MAXDIM];
  int d = (int)irand(nd);
  memcpy(big, shape, (size_t)nd * 8);
  big[d] *= 2;
  *base = mk(dt, nd, big);
  fill_rand(base);
  tide_Array v;
  tide_array_view(&v, base);
  tide_array_slice(&v, d, 1, big[d], 2);
  return v;
}

static void test_broadcast_random(void) {
  int bad = 0;
  for (int trial = 0; trial < 300; trial++) {
    int nd = 1 + (int)irand(4), na = 1 + (int)irand(nd), nb = 1 + (int)irand(nd);
    int64_t full[4], sa[4], sb[4], out[TIDE_MAXDIM];
    for (int d = 0; d < nd; d++) full[d] = 1 + irand(4);
    for (int k = 0; k < na; k++) sa[k] = rnd() < 0.3 ? 1 : full[nd - na + k];
    for (int k = 0; k < nb; k++) sb[k] = rnd() < 0.3 ? 1 : full[nd - nb + k];
    tide_Array ba = {0}, bb = {0};
    tide_Array a = trial % 3 == 0 ? strided(TIDE_F64, na, sa, &ba) : mk(TIDE_F64, na, sa);
    tide_Array b = trial % 5 == 0 ? strided(TIDE_I32, nb, sb, &bb) : mk(TIDE_I32, nb, sb);
    if (trial % 3) fill_rand(&a);
    if (trial % 5) fill_rand(&b);
    tide_Operand oa = tide_op_array(&a), ob = tide_op_array(&b);
    tide_Array c;
    int n;
    if (tide_broadcast_shapes(na, sa, nb, sb, &n, out) || tide_binop(TIDE_MUL, &oa, &ob, &c)) {
      fprintf(stderr, "trial %d: %s\n", trial, tide_lasterror());
      bad++;
    } else {
      int64_t cnt = tide_array_size(&c);
      bad += c.ndim != n;
      for (int64_t f = 0; f < cnt; f++) {
        int64_t idx[4], ia[4], ib[4], r = f;
        for (int d = n - 1; d >= 0; d--) {
          idx[d] = r % out[d];
          r /= out[d];
        }
        for (int k = 0; k < na; k++) ia[k] = sa[k] == 1 ? 0 : idx[n - na + k];
        for (int k = 0; k < nb; k++) ib[k] = sb[k] == 1 ? 0 : idx[n - nb + k];
        double want = tide_load_f64(a.dtype, tide_array_at(&a, ia)) *
                      tide_load_f64(b.dtype, tide_array_at(&b, ib));
        bad += ((double *)c.data)[f] != want;
      }
      tide_array_close(&c);
    }
    tide_array_close(&a);
    tide_array_close(&b);
    tide_array_close(&ba);
    tide_array_close(&bb);
  }
  CHECK_EQ_INT(bad, 0);
}

/* Every binary op on strided / transposed / mixed operands against a
** scalar loop using the same formulas. */
static double ref_op(int op, double x, double y) {
  switch (op) {
    case TIDE_ADD: return x + y;
    case TIDE_SUB: return x - y;
    case TIDE_MUL: return x * y;
    case TIDE_DIV: return x / y;
    case TIDE_IDIV: return floor(x / y);
    case TIDE_MOD: { double m = fmod(x, y); return m != 0 && ((m < 0) != (y < 0)) ? m + y : m; }
    case TIDE_MIN: return x < y ? x : y;
    case TIDE_MAX: return x > y ? x : y;
    case TIDE_LT: return x < y;
    case TIDE_LE: return x <= y;
    case TIDE_GT: return x > y;
    case TIDE_GE: return x >= y;
    case TIDE_EQ: return x == y;
    default: return x != y;
  }
}

static void test_elementwise(void) {
  int64_t s[2] = {37, 23};
  int ops[] = {TIDE_ADD, TIDE_SUB, TIDE_MUL, TIDE_DIV, TIDE_IDIV, TIDE_MOD, TIDE_MIN, TIDE_MAX,
               TIDE_LT, TIDE_LE, TIDE_GT, TIDE_GE, TIDE_EQ, TIDE_NE};
  int dts[] = {TIDE_F64, TIDE_F32, TIDE_I64, TIDE_I32};
  int bad = 0, total = 0;
  for (int da = 0; da < 4; da++)
    for (int db = 0; db < 4; db++) {
      tide_Array a = mk(dts[da], 2, s), big, b, c;
      int64_t sb[2] = {23, 74};
      big = mk(dts[db], 2, sb);
      fill_rand(&a);
      fill_rand(&big);
      /* b: transposed and step-2 view, 37x23 */
      tide_array_view(&b, &big);
      tide_array_slice(&b, 1, 0, 74, 2);
      tide_array_transpose(&b);
      for (int64_t i = 0; i < 37 * 23; i++) { /* no zero divisors */
        int64_t idx[2] = {i / 23, i % 23};
        if (tide_load_f64(b.dtype, tide_array_at(&b, idx)) == 0)
          tide_store_f64(b.dtype, tide_array_at(&b, idx), 3);
      }
      for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        tide_Operand oa = tide_op_array(&a), ob = tide_op_array(&b);
        if (tide_binop(ops[o], &oa, &ob, &c)) {
          fprintf(stderr, "binop %d: %s\n", ops[o], tide_lasterror());
          bad++;
          continue;
        }
        int ct = tide_promote(a.dtype, b.dtype);
        for (int64_t i = 0; i < 37; i++)
          for (int64_t j = 0; j < 23; j++) {
            int64_t idx[2] = {i, j};
            double x = tide_load_f64(a.dtype, tide_array_at(&a, idx));
            double y = tide_load_f64(b.dtype, tide_array_at(&b, idx));
            double want = ref_op(ops[o], x, y);
            double got = tide_load_f64(c.dtype, tide_array_at(&c, idx));
            if (ct == TIDE_F32 && ops[o] < TIDE_LT)
              want = (float)ref_op(ops[o], (float)x, (float)y);
            if (!tide_dtype_isfloat(ct) && ops[o] == TIDE_DIV) want = x / y;
            total++;
            if (!(fabs(got - want) <= 1e-6 * (1 + fabs(want)))) {
              if (bad < 5)
                fprintf(stderr, "op %d dt %d,%d [%d,%d]: %g op %g = %g, want %g\n", ops[o],
                        a.dtype, b.dtype, (int)i, (int)j, x, y, got, want);
              bad++;
            }
          }
        tide_array_close(&c);
      }
      tide_array_close(&a);
      tide_array_close(&b);
      tide_array_close(&big);
    }
  CHECK_EQ_INT(bad, 0);
  CHECK(total == 16 * 14 * 37 * 23);
}

/* A column-major operand in a wide 2-D result takes the tiled walk. */
static void test_tiled(void) {
  int64_t s0[2] = {150, 70}, s1[2] = {70, 150}, s2 = 150;
  tide_Array a0 = mk(TIDE_F64, 2, s0), b = mk(TIDE_F32, 2, s1), row = mk(TIDE_I64, 1, &s2);
  tide_Array at, c, keep;
  fill_rand(&a0);
  fill_rand(&b);
  fill_rand(&row);
  tide_array_view(&at, &a0);
  tide_array_transpose(&at); /* 70x150, column-major */
  tide_Operand oa = tide_op_array(&at), ob = tide_op_array(&b), orow = tide_op_array(&row);
  CHECK_EQ_INT(tide_binop(TIDE_SUB, &oa, &ob, &c), TIDE_OK);
  tide_Array c2;
  CHECK_EQ_INT(tide_binop(TIDE_MUL, &oa, &orow, &c2), TIDE_OK);
  CHECK_EQ_INT(tide_array_copy(&b, -1, &keep), TIDE_OK);
  CHECK_EQ_INT(tide_binop_inplace(TIDE_ADD, &b, &oa), TIDE_OK);
  int bad = 0;
  for (int64_t i = 0; i < 70; i++)
    for (int64_t j = 0; j < 150; j++) {
      int64_t idx[2] = {i, j};
      double x = tide_load_f64(TIDE_F64, tide_array_at(&at, idx));
      double y = tide_load_f64(TIDE_F32, tide_array_at(&keep, idx));
      double r = (double)((int64_t *)row.data)[j];
      bad += tide_load_f64(c.dtype, tide_array_at(&c, idx)) != x - y;
      bad += tide_load_f64(c2.dtype, tide_array_at(&c2, idx)) != x * r;
      bad += tide_load_f64(TIDE_F32, tide_array_at(&b, idx)) != (float)(y + x);
    }
  CHECK_EQ_INT(bad, 0);
  tide_array_close(&c);
  tide_array_close(&c2);
  tide_array_close(&keep);
  tide_array_close(&at);
  tide_array_close(&a0);
  tide_array_close(&b);
  tide_array_close(&row);
}

static void test_int_semantics(void) {
  int64_t s = 4;
  tide_Array a = mk(TIDE_I32, 1, &s), c;
  int32_t *x = (int32_t *)a.data;
  x[0] = INT32_MAX; x[1] = -7; x[2] = 7; x[3] = INT32_MIN;
  tide_Operand oa = tide_op_array(&a), one = tide_op_int(1), two = tide_op_int(2);
  /* wraps (numpy without a warning) */
  CHECK_EQ_INT(tide_binop(TIDE_ADD, &oa, &one, &c), TIDE_OK);
  CHECK_EQ_INT(((int32_t *)c.data)[0], INT32_MIN);
  tide_array_close(&c);
  /* floor division and modulo take the divisor's sign */
  tide_Operand m2 = tide_op_int(-2);
  CHECK_EQ_INT(tide_binop(TIDE_IDIV, &oa, &two, &c), TIDE_OK);
  CHECK_EQ_INT(((int32_t *)c.data)[1], -4);
  CHECK_EQ_INT(((int32_t *)c.data)[2], 3);
  tide_array_close(&c);
  CHECK_EQ_INT(tide_binop(TIDE_MOD, &oa, &m2, &c), TIDE_OK);
  CHECK_EQ_INT(((int32_t *)c.data)[1], -1);
  CHECK_EQ_INT(((int32_t *)c.data)[2], -1);
  tide_array_close(&c);
  tide_Operand mone = tide_op_int(-1);
  CHECK_EQ_INT(tide_binop(TIDE_IDIV, &oa, &mone, &c), TIDE_OK);
  CHECK_EQ_INT(((int32_t *)c.data)[3], INT32_MIN); /* wraps, no trap */
  tide_array_close(&c);
  /* integer division by zero is refused, before anything is written */
  tide_Operand zero = tide_op_int(0);
  CHECK_EQ_INT(tide_binop(TIDE_IDIV, &oa, &zero, &c), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "integer division by zero");
  CHECK(c.storage == NULL);
  tide_Array z = mk(TIDE_I64, 1, &s);
  tide_Operand oz = tide_op_array(&z);
  ((int64_t *)z.data)[0] = 1; ((int64_t *)z.data)[1] = 1; ((int64_t *)z.data)[2] = 1;
  CHECK_EQ_INT(tide_binop_inplace(TIDE_MOD, &a, &oz), TIDE_EINVAL);
  CHECK_EQ_INT(x[0], INT32_MAX); /* untouched */
  CHECK_EQ_INT(tide_binop(TIDE_POW, &oa, &mone, &c), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "negative integer powers");
  CHECK_EQ_INT(tide_binop(TIDE_POW, &oa, &two, &c), TIDE_OK);
  CHECK_EQ_INT(((int32_t *)c.data)[1], 49);
  tide_array_close(&c);
  /* a scalar the dtype cannot hold */
  tide_Array u = mk(TIDE_U8, 1, &s);
  tide_Operand ou = tide_op_array(&u), big = tide_op_int(300);
  CHECK_EQ_INT(tide_binop(TIDE_ADD, &ou, &big, &c), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "300 does not fit in u8");
  CHECK_EQ_INT(tide_binop(TIDE_LT, &ou, &big, &c), TIDE_OK); /* comparisons are exact */
  CHECK_EQ_INT(c.data[0], 1);
  tide_array_close(&c);
  /* float division by zero follows IEEE */
  tide_Operand fz = tide_op_float(0.0);
  CHECK_EQ_INT(tide_binop(TIDE_DIV, &oa, &fz, &c), TIDE_OK);
  CHECK(isinf(((double *)c.data)[0]));
  tide_array_close(&c);
  /* in place: f64 result cast into the i32 target, truncating */
  tide_Operand half = tide_op_float(2.5);
  CHECK_EQ_INT(tide_binop_inplace(TIDE_MUL, &a, &half), TIDE_OK);
  CHECK_EQ_INT(x[2], 17);
  CHECK_EQ_INT(x[1], -17);
  /* read-only target */
  a.flags |= TIDE_AF_READONLY;
  CHECK_EQ_INT(tide_binop_inplace(TIDE_ADD, &a, &one), TIDE_EREADONLY);
  a.flags = 0;
  tide_array_close(&a);
  tide_array_close(&z);
  tide_array_close(&u);
}

static void test_inplace_overlap(void) {
  int64_t s[2] = {5, 5};
  tide_Array a = mk(TIDE_F64, 2, s), want, t;
  fill_rand(&a);
  tide_array_view(&t, &a);
  tide_array_transpose(&t);
  tide_Operand ot = tide_op_array(&t), oa = tide_op_array(&a);
  CHECK_EQ_INT(tide_binop(TIDE_ADD, &oa, &ot, &want), TIDE_OK);
  /* a += a^T reads elements it already wrote unless b is copied first */
  CHECK_EQ_INT(tide_binop_inplace(TIDE_ADD, &a, &ot), TIDE_OK);
  int bad = 0;
  for (int i = 0; i < 25; i++) bad += ((double *)a.data)[i] != ((double *)want.data)[i];
  CHECK_EQ_INT(bad, 0);
  /* a += a (same elements) */
  CHECK_EQ_INT(tide_binop_inplace(TIDE_ADD, &a, &oa), TIDE_OK);
  CHECK_NEAR(((double *)a.data)[7], 2 * ((double *)want.data)[7], 1e-15);
  tide_array_close(&t);
  tide_array_close(&want);
  tide_array_close(&a);
}

static void test_unary_where(void) {
  int64_t s[2] = {3, 4};
  tide_Array a = mk(TIDE_F32, 2, s), c;
  for (int i = 0; i < 12; i++) ((float *)a.data)[i] = (float)(i - 5);
  CHECK_EQ_INT(tide_unop(TIDE_ABS, &a, &c), TIDE_OK);
  CHECK_EQ_INT(c.dtype, TIDE_F32);
  CHECK_NEAR(((float *)c.data)[0], 5, 0);
  tide_array_close(&c);
  CHECK_EQ_INT(tide_unop(TIDE_SQRT, &a, &c), TIDE_OK);
  CHECK(isnan(((float *)c.data)[0]));
  CHECK_NEAR(((float *)c.data)[9], 2, 1e-7);
  tide_array_close(&c);
  tide_Array i = mk(TIDE_I64, 2, s);
  for (int k = 0; k < 12; k++) ((int64_t *)i.data)[k] = k;
  CHECK_EQ_INT(tide_unop(TIDE_EXP, &i, &c), TIDE_OK);
  CHECK_EQ_INT(c.dtype, TIDE_F64);
  CHECK_NEAR(((double *)c.data)[1], exp(1.0), 1e-15);
  tide_array_close(&c);
  CHECK_EQ_INT(tide_unop(TIDE_NEG, &i, &c), TIDE_OK);
  CHECK_EQ_INT(((int64_t *)c.data)[3], -3);
  tide_array_close(&c);
  tide_Operand lo = tide_op_int(2), hi = tide_op_float(6.5);
  CHECK_EQ_INT(tide_clamp(&i, &lo, &hi, &c), TIDE_OK);
  CHECK_EQ_INT(c.dtype, TIDE_F64);
  CHECK_NEAR(((double *)c.data)[0], 2, 0);
  CHECK_NEAR(((double *)c.data)[11], 6.5, 0);
  tide_array_close(&c);
  /* where: mask from a comparison, a column array and a scalar */
  tide_Operand oi = tide_op_array(&i), five = tide_op_int(5);
  tide_Array mask, col, nz;
  CHECK_EQ_INT(tide_binop(TIDE_GT, &oi, &five, &mask), TIDE_OK);
  int64_t s31[2] = {3, 1};
  col = mk(TIDE_F64, 2, s31);
  for (int k = 0; k < 3; k++) ((double *)col.data)[k] = 100 + k;
  tide_Operand ocol = tide_op_array(&col), m1 = tide_op_int(-1);
  CHECK_EQ_INT(tide_where(&mask, &ocol, &m1, &c), TIDE_OK);
  CHECK_EQ_INT(c.dtype, TIDE_F64);
  CHECK_NEAR(((double *)c.data)[5], -1, 0);
  CHECK_NEAR(((double *)c.data)[6], 101, 0);
  CHECK_NEAR(((double *)c.data)[11], 102, 0);
  tide_array_close(&c);
  CHECK_EQ_INT(tide_nonzero(&mask, 1, &nz), TIDE_OK);
  CHECK_EQ_INT(nz.shape[0], 6);
  CHECK_EQ_INT(((int64_t *)nz.data)[0], 7);
  CHECK_EQ_INT(((int64_t *)nz.data)[5], 12);
  tide_array_close(&nz);
  /* nonzero of a transposed view is in the view's C order */
  tide_Array mt;
  tide_array_view(&mt, &mask);
  tide_array_transpose(&mt); /* 4x3: row r = column r of mask */
  CHECK_EQ_INT(tide_nonzero(&mt, 0, &nz), TIDE_OK);
  /* mt[p][q] = mask[q][p] = 4q + p > 5: flat 3p + q in {2, 5, 7, 8, 10, 11} */
  CHECK_EQ_INT(nz.shape[0], 6);
  CHECK_EQ_INT(((int64_t *)nz.data)[0], 2);
  CHECK_EQ_INT(((int64_t *)nz.data)[1], 5);
  CHECK_EQ_INT(((int64_t *)nz.data)[5], 11);
  tide_array_close(&nz);
  tide_array_close(&mt);
  tide_Operand t = tide_op_bool(1);
  CHECK_EQ_INT(tide_binop(TIDE_LAND, &oi, &t, &c), TIDE_OK);
  CHECK_EQ_INT(c.data[0], 0);
  CHECK_EQ_INT(c.data[1], 1);
  tide_array_close(&c);
  /* a bool byte of 2 (a file's) still counts as true */
  mask.data[11] = 2;
  tide_Operand om = tide_op_array(&mask);
  CHECK_EQ_INT(tide_binop(TIDE_LAND, &om, &t, &c), TIDE_OK);
  CHECK_EQ_INT(c.data[11], 1);
  tide_array_close(&c);
  mask.data[11] = 1;
  tide_array_close(&mask);
  tide_array_close(&col);
  tide_array_close(&i);
  tide_array_close(&a);
}

/* ------------------------------------------------------------ reductions */

/* Naive reference along dim (or all, dim -1) of a 3-D array. */
static double ref_reduce(int op, const tide_Array *a, int dim, const int64_t *oi) {
  int64_t n = dim < 0 ? tide_array_size(a) : a->shape[dim];
  double s = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
  int64_t amin = -1, amax = -1, cnt = 0;
  for (int64_t t = 0; t < n; t++) {
    int64_t idx[3];
    if (dim < 0) {
      idx[0] = t / (a->shape[1] * a->shape[2]);
      idx[1] = t / a->shape[2] % a->shape[1];
      idx[2] = t % a->shape[2];
    } else {
      for (int d = 0, k = 0; d < 3; d++) idx[d] = d == dim ? t : oi[k++];
    }
    double v = at3(a, idx[0], idx[1], idx[2]);
    s += v;
    sq += v * v;
    cnt += v != 0;
    if (v < mn) { mn = v; amin = t; }
    if (v > mx) { mx = v; amax = t; }
  }
  double mean = s / (double)n, dev = 0;
  for (int64_t t = 0; t < n && (op == TIDE_RVAR || op == TIDE_RSTD); t++) {
    int64_t idx[3];
    if (dim < 0) {
      idx[0] = t / (a->shape[1] * a->shape[2]);
      idx[1] = t / a->shape[2] % a->shape[1];
      idx[2] = t % a->shape[2];
    } else {
      for (int d = 0, k = 0; d < 3; d++) idx[d] = d == dim ? t : oi[k++];
    }
    double v = at3(a, idx[0], idx[1], idx[2]);
    dev += (v - mean) * (v - mean);
  }
  switch (op) {
    case TIDE_RSUM: return s;
    case TIDE_RMEAN: return mean;
    case TIDE_RVAR: return dev / (double)n;
    case TIDE_RSTD: return sqrt(dev / (double)n);
    case TIDE_RMIN: return mn;
    case TIDE_RMAX: return mx;
    case TIDE_RARGMIN: return (double)amin;
    case TIDE_RARGMAX: return (double)amax;
    case TIDE_RNORM: return sqrt(sq);
    case TIDE_RCOUNT: return (double)cnt;
    case TIDE_RANY: return cnt > 0;
    default: return cnt == n;
  }
}

/* Checks every reduction of a (3-D) along each dim and in full. */
static int check_reductions(const tide_Array *a, const char *what) {
  int bad = 0;
  double tol = a->dtype == TIDE_F32 ? 1e-5 : 1e-10;
  for (int op = 0; op < TIDE_NREDOPS; op++)
    for (int dim = -1; dim < 3; dim++) {
      tide_Array r;
      if (tide_reduce(op, a, dim, 0, &r)) {
        fprintf(stderr, "%s %s dim %d: %s\n", what, tide_redop_name(op), dim, tide_lasterror());
        bad++;
        continue;
      }
      int64_t on = tide_array_size(&r), sh[2] = {1, 1};
      for (int d = 0; d < r.ndim; d++) sh[d] = r.shape[d];
      for (int64_t j = 0; j < on; j++) {
        int64_t oi[2] = {j / sh[1], j % sh[1]};
        double want = ref_reduce(op, a, dim, oi);
        double got = tide_load_f64(r.dtype, r.data + j * tide_dtype_size(r.dtype));
        double t = op == TIDE_RVAR || op == TIDE_RSTD ? tol * 100 : tol;
        if (r.dtype == TIDE_F32) want = (float)want;
        if (!(fabs(got - want) <= t * (1 + fabs(want)))) {
          if (bad < 5)
            fprintf(stderr, "%s %s dim %d [%d]: %.17g want %.17g\n", what,
                    tide_redop_name(op), dim, (int)j, got, want);
          bad++;
        }
      }
      tide_array_close(&r);
    }
  return bad;
}

static void test_reduce_dims(void) {
  int dts[] = {TIDE_F64, TIDE_F32, TIDE_I32, TIDE_U8, TIDE_BOOL};
  int64_t shapes[][3] = {{4, 5, 6}, {300, 3, 7}, {3, 200, 5}, {2, 3, 260}, {1, 7, 1}};
  for (int s = 0; s < 5; s++)
    for (int t = 0; t < 5; t++) {
      tide_Array a = mk(dts[t], 3, shapes[s]), v;
      fill_rand(&a);
      char what[64];
      snprintf(what, sizeof what, "%s %dx%dx%d", tide_dtypes[dts[t]].name, (int)shapes[s][0],
               (int)shapes[s][1], (int)shapes[s][2]);
      CHECK_EQ_INT(check_reductions(&a, what), 0);
      /* transposed (Fortran-ordered) view */
      tide_array_view(&v, &a);
      tide_array_transpose(&v);
      CHECK_EQ_INT(check_reductions(&v, what), 0);
      tide_array_close(&v);
      /* reversed, step -1 along dim 0 */
      tide_array_view(&v, &a);
      tide_array_slice(&v, 0, a.shape[0] - 1, -1, -1);
      CHECK_EQ_INT(check_reductions(&v, what), 0);
      tide_array_close(&v);
      tide_array_close(&a);
    }
}

static void test_reduce_special(void) {
  /* pairwise accuracy: 1e7 copies of 0.1 */
  int64_t n = 10000000;
  tide_Array a = mk(TIDE_F64, 1, &n), r;
  for (int64_t i = 0; i < n; i++) ((double *)a.data)[i] = 0.1;
  double s;
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RSUM, &a, 0, &s), TIDE_OK);
  CHECK(fabs(s - 1e6) < 1e-6);
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RMEAN, &a, 0, &s), TIDE_OK);
  CHECK(fabs(s - 0.1) < 1e-15);
  /* column sums of a C-ordered 5e6 x 2 matrix: blocked, not naive */
  int64_t sh[2] = {5000000, 2};
  tide_array_reshape_view(&a, 2, sh);
  CHECK_EQ_INT(tide_reduce(TIDE_RSUM, &a, 0, 0, &r), TIDE_OK);
  CHECK(fabs(((double *)r.data)[0] - 5e5) < 1e-6);
  CHECK(fabs(((double *)r.data)[1] - 5e5) < 1e-6);
  tide_array_close(&r);
  tide_array_close(&a);

  /* NaN propagates through min, max, sum; argmax finds the first NaN */
  int64_t s34[2] = {3, 4};
  a = mk(TIDE_F64, 2, s34);
  for (int i = 0; i < 12; i++) ((double *)a.data)[i] = i;
  ((double *)a.data)[6] = NAN;
  ((double *)a.data)[9] = NAN;
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RMIN, &a, 0, &s), TIDE_OK);
  CHECK(isnan(s));
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RMAX, &a, 0, &s), TIDE_OK);
  CHECK(isnan(s));
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RARGMAX, &a, 0, &s), TIDE_OK);
  CHECK_EQ_INT((int)s, 6);
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RARGMIN, &a, 1, &s), TIDE_OK);
  CHECK_EQ_INT((int)s, 7); /* base 1 */
  CHECK_EQ_INT(tide_reduce(TIDE_RMAX, &a, 0, 0, &r), TIDE_OK);
  CHECK(isnan(((double *)r.data)[1]) && isnan(((double *)r.data)[2]));
  CHECK_NEAR(((double *)r.data)[3], 11, 0);
  tide_array_close(&r);
  CHECK_EQ_INT(tide_reduce(TIDE_RARGMAX, &a, 0, 0, &r), TIDE_OK);
  CHECK_EQ_INT(((int64_t *)r.data)[1], 2);
  CHECK_EQ_INT(((int64_t *)r.data)[2], 1);
  CHECK_EQ_INT(((int64_t *)r.data)[3], 2);
  tide_array_close(&r);
  CHECK_EQ_INT(tide_reduce(TIDE_RARGMIN, &a, 1, 0, &r), TIDE_OK);
  CHECK_EQ_INT(((int64_t *)r.data)[1], 2);
  CHECK_EQ_INT(((int64_t *)r.data)[2], 1);
  tide_array_close(&r);
  /* var with ddof 1 */
  for (int i = 0; i < 12; i++) ((double *)a.data)[i] = i;
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RVAR, &a, 1, &s), TIDE_OK);
  CHECK_NEAR(s, 13.0, 1e-12);
  CHECK_EQ_INT(tide_reduce(TIDE_RSUM, &a, 2, 0, &r), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "dimension 3 out of range");
  tide_array_close(&a);

  /* empty arrays */
  int64_t e[2] = {0, 3};
  a = mk(TIDE_F64, 2, e);
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RSUM, &a, 0, &s), TIDE_OK);
  CHECK_NEAR(s, 0, 0);
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RMEAN, &a, 0, &s), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "zero-size array");
  CHECK_EQ_INT(tide_reduce(TIDE_RMIN, &a, 0, 0, &r), TIDE_EINVAL);
  CHECK_EQ_INT(tide_reduce(TIDE_RMIN, &a, 1, 0, &r), TIDE_OK); /* 0 results */
  CHECK_EQ_INT(r.shape[0], 0);
  tide_array_close(&r);
  CHECK_EQ_INT(tide_reduce(TIDE_RSUM, &a, 0, 0, &r), TIDE_OK);
  CHECK(r.shape[0] == 3 && ((double *)r.data)[2] == 0);
  tide_array_close(&r);
  CHECK_EQ_INT(tide_reduce_all_f64(TIDE_RALL, &a, 0, &s), TIDE_OK);
  CHECK_NEAR(s, 1, 0);
  tide_array_close(&a);

  /* integer sums are exact in i64 and wrap past it */
  int64_t two = 2;
  a = mk(TIDE_I64, 1, &two);
  ((int64_t *)a.data)[0] = INT64_MAX;
  ((int64_t *)a.data)[1] = 1;
  CHECK_EQ_INT(tide_reduce(TIDE_RSUM, &a, -1, 0, &r), TIDE_OK);
  CHECK_EQ_INT(r.dtype, TIDE_I64);
  CHECK(*(int64_t *)r.data == INT64_MIN);
  tide_array_close(&r);
  CHECK_EQ_INT(tide_reduce(TIDE_RMAX, &a, -1, 0, &r), TIDE_OK);
  CHECK(*(int64_t *)r.data == INT64_MAX); /* exact, not through double */
  tide_array_close(&r);
  tide_array_close(&a);
}

int main(void) {
  printf("seed %llu\n", (unsigned long long)seed);
  test_promotion();
  test_broadcast();
  test_broadcast_random();
  test_elementwise();
  test_tiled();
  test_int_semantics();
  test_inplace_overlap();
  test_unary_where();
  test_reduce_dims();
  test_reduce_special();
  return check_done();
}
