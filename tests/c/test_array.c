/*
** test_array.c -- core arrays: shapes, views, copies, gathers, iteration, rng.
*/
#include "check.h"
#include "core.h"

static void test_shape_size(void) {
  int64_t n, big[2] = {INT64_C(1) << 32, INT64_C(1) << 32}, neg[2] = {3, -1};
  CHECK_EQ_INT(tide_shape_size(2, (int64_t[]){3, 4}, 8, &n), TIDE_OK);
  CHECK_EQ_INT(n, 12);
  CHECK_EQ_INT(tide_shape_size(2, big, 8, &n), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "overflow");
  CHECK_EQ_INT(tide_shape_size(2, neg, 8, &n), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "negative");
  CHECK_EQ_INT(tide_shape_size(33, big, 8, &n), TIDE_EINVAL);
  CHECK_EQ_INT(tide_shape_size(0, NULL, 8, &n), TIDE_OK);
  CHECK_EQ_INT(n, 1);
}

static tide_Array iota(int ndim, const int64_t *shape) {
  tide_Array a;
  int rc = tide_array_new(&a, TIDE_F64, ndim, shape, TIDE_WHERE_HEAP);
  CHECK_EQ_INT(rc, TIDE_OK);
  double *p = (double *)a.data;
  for (int64_t i = 0; i < tide_array_size(&a); i++) p[i] = (double)i;
  return a;
}

static void test_views(void) {
  tide_Array a = iota(2, (int64_t[]){3, 4}), v;
  CHECK(tide_array_is_c_contiguous(&a));
  CHECK_EQ_INT(a.storage->refs, 1);
  tide_array_view(&v, &a);
  CHECK_EQ_INT(a.storage->refs, 2);
  CHECK_EQ_INT(tide_array_transpose(&v), TIDE_OK);
  CHECK_EQ_INT(v.shape[0], 4);
  CHECK(tide_array_is_f_contiguous(&v) && !tide_array_is_c_contiguous(&v));
  CHECK_NEAR(tide_load_f64(v.dtype, tide_array_at(&v, (int64_t[]){3, 1})), 7, 0);
  /* reshape of a transposed view needs a copy */
  CHECK_EQ_INT(tide_array_reshape_view(&v, 1, (int64_t[]){12}), TIDE_ESHAPE);
  tide_array_close(&v);
  CHECK_EQ_INT(a.storage->refs, 1);

  tide_array_view(&v, &a);
  CHECK_EQ_INT(tide_array_select(&v, 1, 2), TIDE_OK); /* column 3 */
  CHECK_EQ_INT(v.ndim, 1);
  CHECK_NEAR(tide_load_f64(v.dtype, tide_array_at(&v, (int64_t[]){2})), 10, 0);
  CHECK_EQ_INT(tide_array_select(&v, 0, 3), TIDE_ERANGE);
  tide_array_close(&v);

  tide_array_view(&v, &a);
  CHECK_EQ_INT(tide_array_slice(&v, 1, 1, 4, 2), TIDE_OK); /* columns 2, 4 */
  CHECK_EQ_INT(v.shape[1], 2);
  CHECK_NEAR(tide_load_f64(v.dtype, tide_array_at(&v, (int64_t[]){1, 1})), 7, 0);
  CHECK_EQ_INT(tide_array_slice(&v, 0, 0, 5, 1), TIDE_ERANGE);
  CHECK_EQ_INT(tide_array_slice(&v, 0, 0, 1, 0), TIDE_EINVAL);
  tide_array_close(&v);

  tide_array_view(&v, &a);
  CHECK_EQ_INT(tide_array_reshape_view(&v, 3, (int64_t[]){2, -1, 2}), TIDE_OK);
  CHECK_EQ_INT(v.shape[1], 3);
  CHECK_EQ_INT(tide_array_reshape_view(&v, 2, (int64_t[]){5, -1}), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "cannot reshape");
  tide_array_close(&v);
  tide_array_close(&a);
  tide_array_close(&a); /* idempotent */
  CHECK(a.storage == NULL);
}

static void test_copy_take(void) {
  tide_Array a = iota(2, (int64_t[]){4, 3}), t, c, g;
  tide_array_view(&t, &a);
  tide_array_transpose(&t);
  CHECK_EQ_INT(tide_array_copy(&t, TIDE_I32, &c), TIDE_OK);
  CHECK(tide_array_is_c_contiguous(&c));
  CHECK_EQ_INT(c.dtype, TIDE_I32);
  CHECK_EQ_INT(((int32_t *)c.data)[1], 3); /* t[0][1] = a[1][0] */
  tide_array_close(&c);

  int64_t idx[3] = {3, 0, 3};
  CHECK_EQ_INT(tide_array_take(&a, idx, 3, 0, &g), TIDE_OK);
  CHECK_EQ_INT(g.shape[0], 3);
  CHECK_NEAR(((double *)g.data)[0], 9, 0);
  CHECK_NEAR(((double *)g.data)[5], 2, 0);
  CHECK_NEAR(((double *)g.data)[8], 11, 0);
  tide_array_close(&g);
  CHECK_EQ_INT(tide_array_take(&t, idx, 2, 1, &g), TIDE_OK); /* columns of a view */
  CHECK_NEAR(tide_load_f64(g.dtype, tide_array_at(&g, (int64_t[]){2, 0})), 11, 0);
  tide_array_close(&g);
  idx[1] = 4;
  CHECK_EQ_INT(tide_array_take(&a, idx, 3, 0, &g), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "index 5 (position 2) out of range");
  tide_array_close(&t);
  tide_array_close(&a);
}

static void test_put(void) {
  tide_Array a = iota(2, (int64_t[]){4, 3}), v, c, t;
  int64_t two[2] = {2, 3}, shape[2] = {2, 3};
  CHECK_EQ_INT(tide_array_new(&v, TIDE_I32, 2, shape, TIDE_WHERE_HEAP), TIDE_OK);
  for (int k = 0; k < 6; k++) ((int32_t *)v.data)[k] = -k;
  CHECK_EQ_INT(tide_array_put(&a, two, 2, 0, &v), TIDE_OK); /* rows 3, 4; i32 converted */
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){2, 1})), -1, 0);
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){3, 2})), -5, 0);
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){1, 2})), 5, 0);
  tide_array_view(&c, &a);
  tide_array_select(&c, 1, 2); /* column 3, a strided vector */
  int64_t one[1] = {0}, sh1[1] = {1};
  tide_array_close(&v);
  CHECK_EQ_INT(tide_array_new(&v, TIDE_F64, 1, sh1, TIDE_WHERE_HEAP), TIDE_OK);
  ((double *)v.data)[0] = 42;
  CHECK_EQ_INT(tide_array_put(&c, one, 1, 0, &v), TIDE_OK);
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){0, 2})), 42, 0);
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){0, 1})), 1, 0);
  one[0] = 4;
  CHECK_EQ_INT(tide_array_put(&c, one, 1, 0, &v), TIDE_ERANGE);
  CHECK_STR_HAS(tide_lasterror(), "index 5 (position 1) out of range");
  CHECK_EQ_INT(tide_array_put(&a, one, 1, 0, &v), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "values have shape 1; 1 index(es) along dimension 1 need shape 1x3");
  tide_array_view(&t, &a); /* overlapping: rows 1, 2 := rows 2, 1 of the same storage */
  CHECK_EQ_INT(tide_array_slice(&t, 0, 0, 2, 1), TIDE_OK);
  int64_t swap[2] = {1, 0};
  CHECK_EQ_INT(tide_array_put(&a, swap, 2, 0, &t), TIDE_OK);
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){0, 0})), 3, 0);
  CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, (int64_t[]){1, 2})), 42, 0);
  tide_array_close(&t);
  tide_array_close(&c);
  tide_array_close(&v);
  tide_array_close(&a);
}

static void test_conversions(void) {
  unsigned char b[8];
  tide_store_f64(TIDE_I32, b, 1e20);
  CHECK_EQ_INT(*(int32_t *)b, INT32_MAX);
  tide_store_f64(TIDE_I64, b, 0.0 / 0.0);
  CHECK_EQ_INT(*(int64_t *)b, 0);
  tide_store_f64(TIDE_U8, b, -3);
  CHECK_EQ_INT(b[0], 0);
  tide_store_f64(TIDE_BOOL, b, 0.5);
  CHECK_EQ_INT(b[0], 1);
  tide_store_i64(TIDE_F64, b, INT64_C(9007199254740993));
  CHECK_NEAR(*(double *)b, 9007199254740992.0, 0);
  CHECK_EQ_INT(tide_dtype_parse("float32"), TIDE_F32);
  CHECK_EQ_INT(tide_dtype_parse("i4"), TIDE_I32);
  CHECK_EQ_INT(tide_dtype_parse("complex"), -1);
  CHECK_STR_HAS(tide_lasterror(), "numpy's complex128");
  /* numpy's meanings: float is float64, int numpy's default int64 */
  CHECK_EQ_INT(tide_dtype_parse("float"), TIDE_F64);
  CHECK_EQ_INT(tide_dtype_parse("int"), TIDE_I64);
  CHECK_EQ_INT(tide_dtype_parse("u8"), TIDE_U8);   /* tide's own name */
  CHECK_EQ_INT(tide_dtype_parse("<u8"), TIDE_U64); /* numpy's uint64 */
  CHECK_EQ_INT(tide_dtype_parse("i8"), TIDE_I8);   /* tide's own name */
  CHECK_EQ_INT(tide_dtype_parse("=i8"), TIDE_I64); /* numpy's int64 */
  CHECK_EQ_INT(tide_dtype_parse("|i1"), TIDE_I8);
  CHECK_EQ_INT(tide_dtype_parse("<f8"), TIDE_F64);
  CHECK_EQ_INT(tide_dtype_parse(">u1"), TIDE_U8);
  CHECK_EQ_INT(tide_dtype_parse(">f8"), -1);
  CHECK_STR_HAS(tide_lasterror(), "byte order");
  CHECK_EQ_INT(tide_dtype_parse("<"), -1);
  CHECK_STR_HAS(tide_lasterror(), "unknown dtype '<'");
}

static int count_runs(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  (void)p; (void)st;
  int64_t *c = ud;
  c[0]++;
  c[1] += n;
  return 0;
}

static void test_nditer(void) {
  tide_Array a = iota(3, (int64_t[]){2, 3, 4}), t;
  int64_t c[2] = {0, 0};
  unsigned char *base[1] = {a.data};
  const int64_t *st[1] = {a.strides};
  tide_nditer(1, a.ndim, a.shape, base, st, count_runs, c);
  CHECK_EQ_INT(c[0], 1); /* contiguous: one inner run */
  CHECK_EQ_INT(c[1], 24);
  tide_array_view(&t, &a);
  tide_array_slice(&t, 2, 0, 2, 1); /* 2x3x2: the last dim no longer merges */
  base[0] = t.data;
  st[0] = t.strides;
  c[0] = c[1] = 0;
  tide_nditer(1, t.ndim, t.shape, base, st, count_runs, c);
  CHECK_EQ_INT(c[0], 6);
  CHECK_EQ_INT(c[1], 12);
  tide_array_close(&t);
  tide_array_close(&a);
}

static void test_rng(void) {
  tide_Rng r1, r2, r3;
  tide_rng_init(&r1, 42, 7);
  tide_rng_init(&r2, 42, 7);
  tide_rng_init(&r3, 42, 8);
  int same = 1, diff = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = tide_rng_u64(&r1), y = tide_rng_u64(&r2), z = tide_rng_u64(&r3);
    same &= x == y;
    diff += x != z;
  }
  CHECK(same);
  CHECK(diff > 990);
  /* moments of 200000 normals and uniforms */
  double s = 0, s2 = 0, u = 0;
  for (int i = 0; i < 200000; i++) {
    double v = tide_rng_normal(&r1);
    s += v;
    s2 += v * v;
    u += tide_rng_uniform(&r2);
  }
  CHECK_NEAR(s / 200000, 0, 0.01);
  CHECK_NEAR(s2 / 200000, 1, 0.02);
  CHECK_NEAR(u / 200000, 0.5, 0.01);
  int lo_seen = 0, hi_seen = 0, out = 0;
  for (int i = 0; i < 10000; i++) {
    int64_t k = tide_rng_integer(&r3, -2, 2);
    lo_seen |= k == -2;
    hi_seen |= k == 2;
    out |= k < -2 || k > 2;
  }
  CHECK(lo_seen && hi_seen && !out);
}

static void test_format(void) {
  tide_Array a = iota(2, (int64_t[]){2, 3});
  ((double *)a.data)[1] = 0.5;
  char *s = tide_array_format(&a, NULL);
  CHECK_STR_HAS(s, "[[0.  0.5 2. ]");
  CHECK_STR_HAS(s, "[tide.array 2x3 f64 heap]");
  free(s);
  tide_array_close(&a);
  tide_Array big = iota(1, (int64_t[]){5000});
  s = tide_array_format(&big, NULL);
  CHECK_STR_HAS(s, "[   0.    1.    2. ... 4997. 4998. 4999.]");
  free(s);
  tide_array_close(&big);
}

int main(void) {
  test_shape_size();
  test_views();
  test_copy_take();
  test_put();
  test_conversions();
  test_nditer();
  test_rng();
  test_format();
  return check_done();
}
