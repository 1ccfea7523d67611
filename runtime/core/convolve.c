/*
** convolve.c -- numpy.convolve / numpy.correlate, directly or by FFT (see
** convolve.h).
**
** Both compute a window of the full convolution of u, the longer input,
** with w, the shorter (correlation convolves with v reversed): full[i] =
** sum_k w[k] u[i - k].  Where every k is in range (Q - 1 <= i <= P - 1) the
** direct sum slides the reversed w along u, 16 outputs at a time in four
** vector accumulators (GCC's vector types; an AVX2 + FMA clone is chosen at
** run time where the CPU has them); the edges are plain loops.  The FFT
** path pads both to an even 5-smooth length >= P + Q - 1 and multiplies
** their rfft's.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convolve.h"
#include "fft.h"
#include "ops.h"

/* Not under ThreadSanitizer: the ifunc resolver that picks a clone runs
** at load time, before the sanitizer's runtime is up, and its
** instrumented code crashes there. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && \
    !defined(__SANITIZE_THREAD__)
#if __has_attribute(target_clones)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef CLONES
#define CLONES
#endif

typedef double v4d __attribute__((vector_size(32)));
typedef double v4u __attribute__((vector_size(32), aligned(8))); /* unaligned loads */

/* out[t] = sum_{k < q} wr[k] u[t + k] for t < count. */
CLONES static void slide(const double *u, const double *wr, int64_t q, double *out,
                         int64_t count) {
  int64_t t = 0;
  for (; t + 16 <= count; t += 16) {
    v4d a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    const double *p = u + t;
    for (int64_t k = 0; k < q; k++) {
      double c = wr[k];
      v4d ck = {c, c, c, c};
      a0 += ck * *(const v4u *)(p + k);
      a1 += ck * *(const v4u *)(p + k + 4);
      a2 += ck * *(const v4u *)(p + k + 8);
      a3 += ck * *(const v4u *)(p + k + 12);
    }
    *(v4u *)(out + t) = a0;
    *(v4u *)(out + t + 4) = a1;
    *(v4u *)(out + t + 8) = a2;
    *(v4u *)(out + t + 12) = a3;
  }
  for (; t < count; t++) {
    double s = 0;
    for (int64_t k = 0; k < q; k++) s += wr[k] * u[t + k];
    out[t] = s;
  }
}

/* out[t] = full[start + t], t < len, of u (p values) with w (q <= p). */
static void direct_f64(const double *u, int64_t p, const double *w, int64_t q, int64_t start,
                       int64_t len, double *out) {
  double *wr = tide__malloc((size_t)q * sizeof(double));
  if (wr)
    for (int64_t k = 0; k < q; k++) wr[k] = w[q - 1 - k];
  int64_t end = start + len;
  /* the middle, where every tap is in range */
  int64_t lo = start > q - 1 ? start : q - 1, hi = end < p ? end : p;
  for (int64_t i = start; i < end; i++) {
    if (wr && i == lo && lo < hi) {
      slide(u + lo - (q - 1), wr, q, out + (lo - start), hi - lo);
      i = hi - 1;
      continue;
    }
    int64_t k0 = i - (p - 1) > 0 ? i - (p - 1) : 0, k1 = i < q - 1 ? i : q - 1;
    double s = 0;
    for (int64_t k = k0; k <= k1; k++) s += w[k] * u[i - k];
    out[i - start] = s;
  }
  free(wr);
}

/* The same in wrapping 64-bit integers (numpy's integer convolution). */
static void direct_int(const uint64_t *u, int64_t p, const uint64_t *w, int64_t q, int64_t start,
                       int64_t len, uint64_t *out) {
  for (int64_t i = start; i < start + len; i++) {
    int64_t k0 = i - (p - 1) > 0 ? i - (p - 1) : 0, k1 = i < q - 1 ? i : q - 1;
    uint64_t s = 0;
    for (int64_t k = k0; k <= k1; k++) s += w[k] * u[i - k];
    out[i - start] = s;
  }
}

/* Through the FFT: the full convolution of u and w, then the window. */
static int fft_f64(const double *u, int64_t p, const double *w, int64_t q, int64_t start,
                   int64_t len, double *out) {
  int64_t nf = tide_fft_good_size(p + q - 1, true), m = nf / 2 + 1;
  double *x = tide__fft_alloc((size_t)nf, sizeof(double), true), *U = NULL, *W = NULL;
  if (x) U = tide__fft_alloc((size_t)m * 2, sizeof(double), false);
  if (U) W = tide__fft_alloc((size_t)m * 2, sizeof(double), false);
  int rc = W ? TIDE_OK : TIDE_ENOMEM;
  if (!rc) {
    memcpy(x, u, (size_t)p * sizeof(double));
    rc = tide_fft_rfft(x, nf, U);
  }
  if (!rc) {
    memset(x, 0, (size_t)nf * sizeof(double));
    memcpy(x, w, (size_t)q * sizeof(double));
    rc = tide_fft_rfft(x, nf, W);
  }
  if (!rc) {
    for (int64_t k = 0; k < m; k++) {
      double ar = U[2 * k], ai = U[2 * k + 1], br = W[2 * k], bi = W[2 * k + 1];
      U[2 * k] = ar * br - ai * bi;
      U[2 * k + 1] = ar * bi + ai * br;
    }
    rc = tide_fft_irfft(U, nf, x);
  }
  if (!rc) memcpy(out, x + start, (size_t)len * sizeof(double));
  free(x);
  free(U);
  free(W);
  return rc;
}

/* ------------------------------------------------------------ method */

int tide_conv_choose(int64_t m, int64_t n, int mode) {
  double s1 = (double)m, s2 = (double)n, direct;
  /* scipy.signal._signaltools._conv_ops and _fftconv_faster, 1-D */
  double o_fft, o_direct, o_offset = -1e-3;
  if (mode == TIDE_CONV_FULL) {
    direct = s1 * s2;
    o_fft = 1.7649070e-9;
    o_direct = 2.1414831e-10;
  } else if (mode == TIDE_CONV_VALID) {
    direct = s2 >= s1 ? (s2 - s1 + 1) * s1 : (s1 - s2 + 1) * s2;
    o_fft = 1.89095737e-9;
    o_direct = 2.1364985e-10;
  } else {
    direct = s1 < s2 ? s1 * s2 : s1 * s2 - (double)(n / 2) * (double)((n + 1) / 2);
    if (n <= m) {
      o_fft = 3.2646654e-9;
      o_direct = 2.8478277e-10;
    } else {
      o_fft = 3.21635404e-9;
      o_direct = 1.1773253e-8;
      o_offset = -1e-5;
    }
  }
  double N = s1 + s2 - 1, fft = 3 * N * log(N);
  return o_fft * fft < o_direct * direct + o_offset ? TIDE_CONV_FFT : TIDE_CONV_DIRECT;
}

/* max |x| of an integer array */
static double max_abs(const tide_Array *a) {
  double m = 0;
  for (int64_t i = 0; i < a->shape[0]; i++) {
    double v = fabs(tide_load_f64(a->dtype, a->data + i * a->strides[0]));
    if (v > m) m = v;
  }
  return m;
}

/* ------------------------------------------------------------ convolve */

/* A rounded FFT sum as an integer (clamped; NaN is 0). */
static int64_t round_i64(double r) {
  r = nearbyint(r);
  if (r != r) return 0;
  if (r >= 9.2233720368547758e18) return INT64_MAX;
  if (r <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)r;
}

static int check_input(const tide_Array *x, const char *name) {
  if (!x->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (x->ndim != 1)
    return tide__seterr(TIDE_ESHAPE, "%s must be a 1-D array, got a %d-D array", name, x->ndim);
  if (x->shape[0] == 0) return tide__seterr(TIDE_EINVAL, "%s cannot be empty", name);
  return TIDE_OK;
}

/* x's values as doubles (reversed: last first), or as 64-bit integers. */
static void load_f64(const tide_Array *x, bool reverse, double *dst) {
  int64_t n = x->shape[0];
  for (int64_t i = 0; i < n; i++)
    dst[reverse ? n - 1 - i : i] = tide_load_f64(x->dtype, x->data + i * x->strides[0]);
}

static void load_int(const tide_Array *x, bool reverse, uint64_t *dst) {
  int64_t n = x->shape[0];
  for (int64_t i = 0; i < n; i++)
    dst[reverse ? n - 1 - i : i] = (uint64_t)tide_load_i64(x->dtype, x->data + i * x->strides[0]);
}

int tide_convolve(const tide_Array *a, const tide_Array *v, int mode, int method,
                  bool correlate, tide_Array *out, int *used) {
  memset(out, 0, sizeof *out);
  int rc = check_input(a, "a");
  if (!rc) rc = check_input(v, "v");
  if (rc) return rc;
  int64_t M = a->shape[0], N = v->shape[0], mn = M < N ? M : N, mx = M < N ? N : M;
  int64_t start = 0, len = M + N - 1;
  if (mode == TIDE_CONV_SAME) {
    len = mx;
    start = correlate && N > M ? M / 2 : (mn - 1) / 2;
  } else if (mode == TIDE_CONV_VALID) {
    len = mx - mn + 1;
    start = mn - 1;
  }
  int dt = tide_promote(a->dtype, v->dtype);
  bool isf = tide_dtype_isfloat(dt);
  if (method == TIDE_CONV_AUTO) {
    method = tide_conv_choose(M, N, mode);
    /* scipy keeps exact integer sums direct when doubles could not hold them */
    if (dt == TIDE_BOOL ||
        (!isf && max_abs(a) * max_abs(v) * (double)mn > 4503599627370495.0))
      method = TIDE_CONV_DIRECT;
  }
  if (used) *used = method;
  if ((rc = tide_array_new(out, dt, 1, &len, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT))) return rc;
  /* u: the longer input, w the shorter; correlation reverses v */
  const tide_Array *U = M >= N ? a : v, *W = M >= N ? v : a;
  bool rev_u = correlate && U == v, rev_w = correlate && W == v;
  int64_t P = U->shape[0], Q = W->shape[0];
  /* sums in doubles (floats, and any FFT) or in wrapping 64-bit integers;
  ** an f64 or i64 result is written in place */
  bool in_f64 = isf || method == TIDE_CONV_FFT;
  int sum_dt = in_f64 ? TIDE_F64 : TIDE_I64;
  /* an f64 input read in order is used where it is */
  bool u_as_is = in_f64 && !rev_u && U->dtype == TIDE_F64 && (U->strides[0] == 8 || P == 1);
  bool w_as_is = in_f64 && !rev_w && W->dtype == TIDE_F64 && (W->strides[0] == 8 || Q == 1);
  void *ub = u_as_is ? (void *)U->data : tide__fft_alloc((size_t)P, 8, false), *wb = NULL;
  void *ob = NULL;
  if (ub) wb = w_as_is ? (void *)W->data : tide__fft_alloc((size_t)Q, 8, false);
  if (wb) ob = dt == sum_dt ? (void *)out->data : tide__fft_alloc((size_t)len, 8, false);
  if (!ob) rc = TIDE_ENOMEM;
  if (!rc && in_f64) {
    if (!u_as_is) load_f64(U, rev_u, ub);
    if (!w_as_is) load_f64(W, rev_w, wb);
    if (method == TIDE_CONV_FFT) rc = fft_f64(ub, P, wb, Q, start, len, ob);
    else direct_f64(ub, P, wb, Q, start, len, ob);
  } else if (!rc) {
    load_int(U, rev_u, ub);
    load_int(W, rev_w, wb);
    direct_int(ub, P, wb, Q, start, len, ob);
  }
  if (!rc && dt != sum_dt) {
    int osz = tide_dtype_size(dt);
    for (int64_t i = 0; i < len; i++) {
      unsigned char *o = out->data + i * osz;
      if (!in_f64) {
        uint64_t r = ((const uint64_t *)ob)[i];
        if (dt == TIDE_BOOL) *o = r != 0;
        else tide_store_i64(dt, o, (int64_t)r);
      } else {
        double r = ((const double *)ob)[i];
        if (isf) tide_store_f64(dt, o, r);
        else if (dt == TIDE_BOOL) *o = nearbyint(r) != 0;
        else tide_store_i64(dt, o, round_i64(r));
      }
    }
  }
  if (!u_as_is) free(ub);
  if (!w_as_is) free(wb);
  if (ob != (void *)out->data) free(ob);
  if (rc) tide_array_close(out);
  return rc;
}
