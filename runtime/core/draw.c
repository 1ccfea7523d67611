/*
** draw.c -- integers, choices and shuffles from a tide_Rng.  See draw.h.
**
** A choice without replacement is a partial Fisher-Yates shuffle: draw i
** swaps position i with a uniform one in i..n-1.  When n is much larger
** than the sample, the positions that moved live in a small hash table
** instead of an n-long array; both give the same values for the same
** stream.  A weighted choice without replacement keeps the weights in a
** Fenwick tree, so each draw and removal costs O(log n).
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"

int tide_rng_integers(tide_Rng *r, int64_t lo, int64_t hi, tide_Array *out) {
  if (lo > hi)
    return tide__seterr(TIDE_EINVAL, "empty interval %" PRId64 "..%" PRId64, lo, hi);
  if (out->dtype != TIDE_I64 || !tide_array_is_c_contiguous(out))
    return tide__seterr(TIDE_EINVAL, "integers fill a C-ordered i64 array");
  int64_t n = tide_array_size(out), *o = (int64_t *)out->data;
  for (int64_t i = 0; i < n; i++) o[i] = tide_rng_integer(r, lo, hi);
  return TIDE_OK;
}

static int check_p(const double *p, int64_t n, int64_t *nonzero) {
  double sum = 0, c = 0; /* Kahan, as numpy's check */
  *nonzero = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!(p[i] >= 0) || !isfinite(p[i]))
      return tide__seterr(TIDE_EINVAL, "probability %" PRId64 " is %g: probabilities must be "
                          "finite and >= 0", i + 1, p[i]);
    *nonzero += p[i] > 0;
    double y = p[i] - c, t = sum + y;
    c = (t - sum) - y;
    sum = t;
  }
  if (fabs(sum - 1) > 1.4901161193847656e-08) /* sqrt(eps), numpy's atol */
    return tide__seterr(TIDE_EINVAL, "probabilities add up to %.17g, not 1", sum);
  return TIDE_OK;
}

/* ------------------------------------------------------------ hash map */

typedef struct Swaps { /* position -> value, for positions that moved */
  int64_t *key, *val;
  int64_t cap; /* a power of two */
} Swaps;

static int64_t *swap_slot(Swaps *s, int64_t k) {
  uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ull;
  for (int64_t i = (int64_t)(h >> 20) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->key[i] == k) return &s->val[i];
    if (s->key[i] < 0) {
      s->key[i] = k;
      s->val[i] = k; /* untouched: holds itself */
      return &s->val[i];
    }
  }
}

/* ------------------------------------------------------------ choice */

static int choice_plain(tide_Rng *r, int64_t n, int64_t m, int64_t *out) {
  if (n <= 4 * m || n <= 65536) { /* an n-long array of positions */
    int64_t *v = tide__malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return tide__seterr(TIDE_ENOMEM, "out of memory drawing a sample");
    for (int64_t i = 0; i < n; i++) v[i] = i;
    for (int64_t i = 0; i < m; i++) {
      int64_t j = tide_rng_integer(r, i, n - 1), t = v[i];
      v[i] = v[j];
      v[j] = t;
      out[i] = v[i];
    }
    free(v);
    return TIDE_OK;
  }
  Swaps s;
  s.cap = 16;
  while (s.cap < 4 * m) s.cap *= 2;
  s.key = tide__malloc((size_t)s.cap * sizeof *s.key);
  s.val = tide__malloc((size_t)s.cap * sizeof *s.val);
  if (!s.key || !s.val) {
    free(s.key);
    free(s.val);
    return tide__seterr(TIDE_ENOMEM, "out of memory drawing a sample");
  }
  memset(s.key, 0xff, (size_t)s.cap * sizeof *s.key); /* -1: empty */
  for (int64_t i = 0; i < m; i++) {
    int64_t j = tide_rng_integer(r, i, n - 1);
    int64_t *vi = swap_slot(&s, i), *vj = swap_slot(&s, j), t = *vi;
    *vi = *vj;
    *vj = t;
    out[i] = *vi;
  }
  free(s.key);
  free(s.val);
  return TIDE_OK;
}

/* Weighted, without replacement: a Fenwick tree of the weights left. */
static int choice_weighted(tide_Rng *r, int64_t n, int64_t m, const double *p, int64_t *out) {
  double *f = tide__calloc((size_t)n + 1, sizeof *f);
  if (!f) return tide__seterr(TIDE_ENOMEM, "out of memory drawing a sample");
  for (int64_t i = 1; i <= n; i++) {
    f[i] += p[i - 1];
    int64_t j = i + (i & -i);
    if (j <= n) f[j] += f[i];
  }
  int64_t top = 1;
  while (top * 2 <= n) top *= 2;
  for (int64_t d = 0; d < m; d++) {
    double total = 0;
    for (int64_t i = n; i > 0; i -= i & -i) total += f[i];
    double u = tide_rng_uniform(r) * total;
    int64_t pos = 0; /* the last index whose prefix sum is <= u */
    for (int64_t step = top; step > 0; step >>= 1)
      if (pos + step <= n && f[pos + step] <= u) {
        pos += step;
        u -= f[pos];
      }
    if (pos >= n) pos = n - 1;
    /* rounding may land on a weight already taken: the next one left */
    double w = 0;
    for (int64_t i = pos + 1; i > 0; i -= i & -i) w += f[i];
    for (int64_t i = pos; i > 0; i -= i & -i) w -= f[i];
    while (w <= 0 && pos + 1 < n) {
      pos++;
      w = 0;
      for (int64_t i = pos + 1; i > 0; i -= i & -i) w += f[i];
      for (int64_t i = pos; i > 0; i -= i & -i) w -= f[i];
    }
    out[d] = pos;
    for (int64_t i = pos + 1; i <= n; i += i & -i) f[i] -= w;
  }
  free(f);
  return TIDE_OK;
}

int tide_rng_choice(tide_Rng *r, int64_t n, int64_t m, bool replace, const double *p,
                    int64_t *out) {
  if (n < 0 || m < 0) return tide__seterr(TIDE_EINVAL, "negative count");
  if (m > 0 && n == 0) return tide__seterr(TIDE_EINVAL, "cannot draw from nothing");
  int64_t nonzero = n;
  if (p) {
    int rc = check_p(p, n, &nonzero);
    if (rc) return rc;
  }
  if (!replace && m > nonzero)
    return tide__seterr(TIDE_EINVAL, "cannot draw %" PRId64 " without replacement from %" PRId64
                        "%s", m, nonzero, p ? " values of nonzero probability" : "");
  if (replace && p) { /* numpy's: the cumulative weights, searched */
    double *cdf = tide__malloc((size_t)(n ? n : 1) * sizeof *cdf);
    if (!cdf) return tide__seterr(TIDE_ENOMEM, "out of memory drawing a sample");
    double s = 0;
    for (int64_t i = 0; i < n; i++) cdf[i] = s += p[i];
    for (int64_t i = 0; i < n; i++) cdf[i] /= s;
    for (int64_t d = 0; d < m; d++) {
      double u = tide_rng_uniform(r);
      int64_t lo = 0, hi = n - 1; /* the first cdf > u */
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      out[d] = lo;
    }
    free(cdf);
    return TIDE_OK;
  }
  if (replace) {
    for (int64_t d = 0; d < m; d++) out[d] = tide_rng_integer(r, 0, n - 1);
    return TIDE_OK;
  }
  return p ? choice_weighted(r, n, m, p, out) : choice_plain(r, n, m, out);
}

int tide_rng_shuffle(tide_Rng *r, tide_Array *a) {
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (a->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  if (a->ndim == 0) return tide__seterr(TIDE_ESHAPE, "a 0-dimensional array has nothing to shuffle");
  int64_t n = a->shape[0];
  tide_Array row = *a, tmp = {0};
  if (n < 2) return TIDE_OK;
  tide_array_select(&row, 0, 0);
  int rc = tide_array_new(&tmp, a->dtype, row.ndim, row.shape, TIDE_WHERE_HEAP);
  if (rc) return rc;
  size_t isz = (size_t)tide_dtype_size(a->dtype);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = tide_rng_integer(r, 0, i);
    if (j == i) continue;
    if (a->ndim == 1) {
      unsigned char t[8], *pi = a->data + i * a->strides[0], *pj = a->data + j * a->strides[0];
      memcpy(t, pi, isz);
      memcpy(pi, pj, isz);
      memcpy(pj, t, isz);
      continue;
    }
    tide_Array ri = *a, rj = *a;
    tide_array_select(&ri, 0, i);
    tide_array_select(&rj, 0, j);
    ri.flags = rj.flags = 0;
    tide_array_assign(&tmp, &ri);
    tide_array_assign(&ri, &rj);
    tide_array_assign(&rj, &tmp);
  }
  tide_array_close(&tmp);
  a->storage->version++;
  return TIDE_OK;
}
