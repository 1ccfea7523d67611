/*
** test_numcore.c -- the core of issue 19 from C alone: sort and argsort
** against a plain insertion sort, the parallel sort's stages run in one
** process against tide_sort, quantiles of small arrays, masks and joins.
*/
#include "check.h"
#include "shape.h"
#include "sort.h"
#include "stats.h"

static uint64_t seed = 99;

static double rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static tide_Array vec(int dt, int64_t n) {
  tide_Array a;
  if (tide_array_new(&a, dt, 1, &n, TIDE_WHERE_HEAP)) exit(2);
  for (int64_t i = 0; i < n; i++)
    tide_store_f64(dt, a.data + i * tide_dtype_size(dt), floor(rnd() * 200) - 100);
  return a;
}

/* sort and argsort of n elements: non-decreasing, a permutation, stable */
static void check_sort(int dt, int64_t n) {
  tide_Array a = vec(dt, n), s, idx;
  CHECK_EQ_INT(tide_sort(&a, 0, false, &s), TIDE_OK);
  CHECK_EQ_INT(tide_argsort(&a, 0, false, 0, &idx), TIDE_OK);
  int bad = 0, isz = tide_dtype_size(dt);
  const int64_t *p = (const int64_t *)idx.data;
  for (int64_t i = 0; i < n; i++) {
    double v = tide_load_f64(dt, s.data + i * isz), w = tide_load_f64(dt, a.data + p[i] * isz);
    if (v != w) bad++;
    if (i && v < tide_load_f64(dt, s.data + (i - 1) * isz)) bad++;
    if (i && v == tide_load_f64(dt, s.data + (i - 1) * isz) && p[i] < p[i - 1]) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  /* the parallel stages, run here one after the other, give the same */
  tide_PSort ps = {0};
  uint64_t split[8];
  int64_t counts[4 * 8], bstart[9];
  tide_Array out;
  ps.arg = true;
  ps.base = 0;
  CHECK_EQ_INT(tide__psort_plan(&ps, &a, 8, 4, split), TIDE_OK);
  CHECK_EQ_INT(ps.nb, 8);
  for (int c = 0; c < 4; c++) tide__psort_count(&ps, &a, c, counts + c * 8);
  tide__psort_offsets(&ps, counts, bstart);
  CHECK_EQ_INT(bstart[8], n);
  tide_array_new(&out, TIDE_I64, 1, &n, TIDE_WHERE_HEAP);
  uint64_t *keys = malloc((size_t)n * 8);
  for (int c = 0; c < 4; c++) tide__psort_scatter(&ps, &a, c, counts, keys, (uint64_t *)out.data);
  for (int b = 0; b < 8; b++)
    CHECK_EQ_INT(tide__psort_bucket(&ps, bstart[b], bstart[b + 1], keys, (uint64_t *)out.data, &out),
                 TIDE_OK);
  CHECK(memcmp(out.data, idx.data, (size_t)n * 8) == 0);
  free(keys);
  tide_array_close(&out);
  tide_array_close(&a);
  tide_array_close(&s);
  tide_array_close(&idx);
}

static void test_quantile(void) {
  int64_t n = 4;
  tide_Array a, q;
  tide_array_new(&a, TIDE_F64, 1, &n, TIDE_WHERE_HEAP);
  double *x = (double *)a.data;
  x[0] = 4, x[1] = 1, x[2] = 3, x[3] = 2;
  double qs[3] = {0, 0.5, 1};
  int64_t qn = 3;
  CHECK_EQ_INT(tide_quantile(&a, qs, 1, &qn, -1, TIDE_Q_LINEAR, false, &q), TIDE_OK);
  CHECK_NEAR(((double *)q.data)[0], 1, 0);
  CHECK_NEAR(((double *)q.data)[1], 2.5, 0);
  CHECK_NEAR(((double *)q.data)[2], 4, 0);
  tide_array_close(&q);
  double bad = 1.5;
  CHECK_EQ_INT(tide_quantile(&a, &bad, 0, NULL, -1, TIDE_Q_LINEAR, false, &q), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "quantile 1.5 is outside [0, 1]");
  CHECK_EQ_INT(tide_median(&a, -1, false, &q), TIDE_OK);
  CHECK_NEAR(*(double *)q.data, 2.5, 0);
  tide_array_close(&q);
  CHECK_EQ_INT(tide_qmethod_parse("hazen"), TIDE_Q_HAZEN);
  CHECK_EQ_INT(tide_qmethod_parse("cubic"), -1);
  tide_array_close(&a);
}

static void test_masks_and_joins(void) {
  int64_t shape[2] = {3, 4}, three = 3;
  tide_Array a, m, out, r;
  tide_array_new(&a, TIDE_I64, 2, shape, TIDE_WHERE_HEAP);
  for (int i = 0; i < 12; i++) ((int64_t *)a.data)[i] = i;
  tide_array_new(&m, TIDE_BOOL, 1, &three, TIDE_WHERE_HEAP);
  m.data[0] = 1, m.data[2] = 1;
  CHECK_EQ_INT(tide_mask_get(&a, &m, &out), TIDE_OK); /* rows 1 and 3 */
  CHECK_EQ_INT(out.shape[0], 2);
  CHECK_EQ_INT(((int64_t *)out.data)[4], 8);
  tide_Operand v = tide_op_int(-1);
  CHECK_EQ_INT(tide_mask_set(&a, &m, &v), TIDE_OK);
  CHECK_EQ_INT(((int64_t *)a.data)[9], -1);
  CHECK_EQ_INT(((int64_t *)a.data)[5], 5);
  tide_Array t = a;
  tide_array_transpose(&t);
  const tide_Array *both[2] = {&a, &out};
  CHECK_EQ_INT(tide_concat(2, both, 0, &r), TIDE_OK);
  CHECK_EQ_INT(r.shape[0], 5);
  tide_array_close(&r);
  both[1] = &t;
  CHECK_EQ_INT(tide_concat(2, both, 0, &r), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "array 2 has shape 4x3 and array 1 3x4");
  CHECK_EQ_INT(tide_mask_get(&t, &m, &r), TIDE_ESHAPE);
  CHECK_STR_HAS(tide_lasterror(), "mask of shape 3 for an array of shape 4x3");
  tide_array_close(&out);
  tide_array_close(&m);
  tide_array_close(&a);
}

int main(void) {
  for (int dt = 0; dt < TIDE_NDTYPES; dt++) {
    check_sort(dt, 10);
    check_sort(dt, 3000);  /* radix */
    check_sort(dt, 100);   /* merge */
  }
  test_quantile();
  test_masks_and_joins();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail ? 1 : 0;
}
