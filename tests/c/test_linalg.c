/*
** test_linalg.c -- tide_matmul (OpenBLAS) against the plain-loop reference
** for random shapes, vectors, transposed and strided views, f32 and ints.
*/
#include "check.h"
#include "ops.h"

static uint64_t seed = 987654321;

static double rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int64_t irand(int64_t n) { return (int64_t)(rnd() * (double)n); }

static tide_Array mk(int dt, int nd, int64_t r, int64_t c) {
  tide_Array a;
  int64_t shape[2] = {r, c};
  if (tide_array_new(&a, dt, nd, shape, TIDE_WHERE_HEAP)) {
    fprintf(stderr, "tide_array_new: %s\n", tide_lasterror());
    exit(2);
  }
  int64_t n = tide_array_size(&a), isz = tide_dtype_size(dt);
  for (int64_t i = 0; i < n; i++)
    tide_store_f64(dt, a.data + i * isz,
                   tide_dtype_isfloat(dt) ? rnd() * 2 - 1 : floor(rnd() * 19 - 9));
  return a;
}

/* max |x - y| / (1 + |y|) over two same-shape results */
static double maxdiff(const tide_Array *x, const tide_Array *y) {
  if (x->ndim != y->ndim || x->dtype != y->dtype) return INFINITY;
  for (int d = 0; d < x->ndim; d++)
    if (x->shape[d] != y->shape[d]) return INFINITY;
  double worst = 0;
  int64_t n = tide_array_size(x), isz = tide_dtype_size(x->dtype);
  for (int64_t i = 0; i < n; i++) {
    double a = tide_load_f64(x->dtype, x->data + i * isz);
    double b = tide_load_f64(y->dtype, y->data + i * isz);
    double e = fabs(a - b) / (1 + fabs(b));
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/* One product through BLAS and through the reference. */
static int compare(const tide_Array *a, const tide_Array *b, double tol, const char *what) {
  tide_Array x, y;
  int rc = tide_matmul(a, b, &x);
  if (rc) {
    fprintf(stderr, "%s: %s\n", what, tide_lasterror());
    return 1;
  }
  if (tide__matmul_ref(a, b, &y)) return 1;
  double d = maxdiff(&x, &y);
  tide_array_close(&x);
  tide_array_close(&y);
  if (d > tol) {
    fprintf(stderr, "%s: max difference %g\n", what, d);
    return 1;
  }
  return 0;
}

static void test_random_shapes(void) {
  int bad = 0;
  for (int trial = 0; trial < 200; trial++) {
    int dt = trial % 4 == 3 ? TIDE_F32 : TIDE_F64;
    double tol = dt == TIDE_F32 ? 1e-4 : 1e-12;
    int64_t m = 1 + irand(40), k = 1 + irand(40), n = 1 + irand(40);
    if (trial % 10 == 0) m = 1;
    if (trial % 10 == 1) n = 1;
    if (trial % 10 == 2) k = 1;
    int form = trial % 4; /* plain, a transposed, b transposed, both */
    tide_Array a0 = form & 1 ? mk(dt, 2, k, m) : mk(dt, 2, m, k);
    tide_Array b0 = form & 2 ? mk(dt, 2, n, k) : mk(dt, 2, k, n);
    tide_Array a, b;
    tide_array_view(&a, &a0);
    tide_array_view(&b, &b0);
    if (form & 1) tide_array_transpose(&a);
    if (form & 2) tide_array_transpose(&b);
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d @ %dx%d form %d", tide_dtypes[dt].name, (int)m,
             (int)k, (int)k, (int)n, form);
    bad += compare(&a, &b, tol, what);
    /* a^T a and a a^T: the syrk path */
    tide_Array at;
    tide_array_view(&at, &a);
    tide_array_transpose(&at);
    bad += compare(&at, &a, tol, "gram a^T a");
    bad += compare(&a, &at, tol, "gram a a^T");
    tide_array_close(&at);
    /* matrix x vector and vector x matrix, with the vector a column view */
    tide_Array v0 = mk(dt, 2, k, 3), v, w0 = mk(dt, 2, 2, m), w;
    tide_array_view(&v, &v0);
    tide_array_select(&v, 1, 1); /* stride 3 elements */
    tide_array_view(&w, &w0);
    tide_array_select(&w, 0, 1); /* contiguous row */
    bad += compare(&a, &v, tol, "matrix x vector");
    bad += compare(&w, &a, tol, "vector x matrix");
    bad += compare(&v, &v, tol, "vector . vector");
    tide_array_close(&v);
    tide_array_close(&v0);
    tide_array_close(&w);
    tide_array_close(&w0);
    tide_array_close(&a);
    tide_array_close(&b);
    tide_array_close(&a0);
    tide_array_close(&b0);
  }
  CHECK_EQ_INT(bad, 0);
}

static void test_copies_and_dtypes(void) {
  /* a step-2 view has no BLAS layout: it is copied */
  tide_Array a0 = mk(TIDE_F64, 2, 10, 12), a, b = mk(TIDE_F64, 2, 6, 4);
  tide_array_view(&a, &a0);
  tide_array_slice(&a, 1, 0, 12, 2);
  CHECK_EQ_INT(compare(&a, &b, 1e-12, "strided view"), 0);
  /* negative strides too */
  tide_Array r;
  tide_array_view(&r, &a0);
  tide_array_slice(&r, 0, 9, -1, -1);
  tide_array_slice(&r, 1, 0, 6, 1);
  CHECK_EQ_INT(compare(&r, &b, 1e-12, "reversed view"), 0);
  tide_array_close(&r);
  /* mixed f32 x f64 computes in f64 */
  tide_Array f = mk(TIDE_F32, 2, 6, 5), out;
  CHECK_EQ_INT(tide_matmul(&a, &f, &out), TIDE_OK);
  CHECK_EQ_INT(out.dtype, TIDE_F64);
  tide_array_close(&out);
  CHECK_EQ_INT(compare(&a, &f, 1e-12, "f64 x f32"), 0);
  /* integers: plain loop, i64 result; ints with floats go through BLAS */
  tide_Array i = mk(TIDE_I32, 2, 7, 6), j = mk(TIDE_U8, 2, 6, 3);
  CHECK_EQ_INT(tide_matmul(&i, &j, &out), TIDE_OK);
  CHECK_EQ_INT(out.dtype, TIDE_I64);
  int64_t s = 0;
  for (int t = 0; t < 6; t++)
    s += (int64_t)((int32_t *)i.data)[t] * ((uint8_t *)j.data)[t * 3];
  CHECK_EQ_INT(((int64_t *)out.data)[0], s);
  tide_array_close(&out);
  CHECK_EQ_INT(compare(&i, &b, 1e-12, "i32 x f64"), 0);
  CHECK_EQ_INT(compare(&i, &j, 0, "i32 x u8"), 0);
  tide_Array it, b8 = mk(TIDE_BOOL, 2, 7, 5);
  tide_array_view(&it, &i);
  tide_array_transpose(&it);
  CHECK_EQ_INT(compare(&it, &b8, 0, "i32^T x bool"), 0);
  tide_Array bt;
  tide_array_view(&bt, &b8);
  tide_array_transpose(&bt);
  CHECK_EQ_INT(compare(&bt, &b8, 0, "bool^T x bool"), 0);
  tide_array_close(&bt);
  tide_Array iv = mk(TIDE_I64, 1, 6, 0);
  CHECK_EQ_INT(compare(&i, &iv, 0, "int matrix x vector"), 0);
  CHECK_EQ_INT(compare(&iv, &iv, 0, "int vector . vector"), 0);
  tide_array_close(&iv);
  tide_array_close(&it);
  tide_array_close(&b8);
  tide_Array u = mk(TIDE_U8, 2, 4, 6);
  for (int t = 0; t < 24; t++) u.data[t] = (uint8_t)(t * 7 % 13);
  CHECK_EQ_INT(compare(&u, &f, 1e-5, "u8 x f32"), 0);
  CHECK_EQ_INT(tide_matmul(&u, &f, &out), TIDE_OK);
  CHECK_EQ_INT(out.dtype, TIDE_F32);
  tide_array_close(&out);
  /* vector dot: a 0-d result */
  tide_Array x = mk(TIDE_F64, 1, 1000, 0), y = mk(TIDE_F64, 1, 1000, 0);
  CHECK_EQ_INT(tide_matmul(&x, &y, &out), TIDE_OK);
  CHECK_EQ_INT(out.ndim, 0);
  double d = 0;
  for (int t = 0; t < 1000; t++) d += ((double *)x.data)[t] * ((double *)y.data)[t];
  CHECK_NEAR(*(double *)out.data, d, 1e-12);
  tide_array_close(&out);
  tide_array_close(&x);
  tide_array_close(&y);
  tide_array_close(&i);
  tide_array_close(&j);
  tide_array_close(&u);
  tide_array_close(&f);
  tide_array_close(&a);
  tide_array_close(&a0);
  tide_array_close(&b);
}

static void test_errors_and_empty(void) {
  tide_Array a = mk(TIDE_F64, 2, 3, 4), b = mk(TIDE_F64, 2, 5, 2), out;
  CHECK_EQ_INT(tide_matmul(&a, &b, &out), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "shapes 3x4 and 5x2 do not align");
  CHECK(out.storage == NULL);
  tide_Array v = mk(TIDE_F64, 1, 3, 0);
  CHECK_EQ_INT(tide_matmul(&a, &v, &out), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "shapes 3x4 and 3 do not align");
  int64_t s3[3] = {2, 2, 2};
  tide_Array c;
  tide_array_new(&c, TIDE_F64, 3, s3, TIDE_WHERE_HEAP);
  CHECK_EQ_INT(tide_matmul(&c, &a, &out), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "1-D or 2-D");
  tide_array_close(&c);
  /* k = 0 gives zeros; m = 0 an empty result */
  tide_Array z1 = mk(TIDE_F64, 2, 3, 0), z2 = mk(TIDE_F64, 2, 0, 2);
  CHECK_EQ_INT(tide_matmul(&z1, &z2, &out), TIDE_OK);
  CHECK(out.shape[0] == 3 && out.shape[1] == 2 && ((double *)out.data)[5] == 0);
  tide_array_close(&out);
  tide_Array z3 = mk(TIDE_F64, 2, 0, 3);
  CHECK_EQ_INT(tide_matmul(&z3, &a, &out), TIDE_OK);
  CHECK(out.shape[0] == 0 && out.shape[1] == 4);
  tide_array_close(&out);
  tide_array_close(&z1);
  tide_array_close(&z2);
  tide_array_close(&z3);
  tide_array_close(&v);
  tide_array_close(&a);
  tide_array_close(&b);
}

int main(void) {
  printf("seed %llu\n", (unsigned long long)seed);
  test_random_shapes();
  test_copies_and_dtypes();
  test_errors_and_empty();
  return check_done();
}
