/*
** test_fft.c -- tide's FFT against a plain DFT (sums in long double with
** exact angles) for every length 1..160 and lengths with factors 2, 3, 5
** and 7, generic radices and large primes (Bluestein); irfft(rfft(x)) = x;
** good sizes; the plan cache's bounds; errors.
*/
#include "check.h"
#include "fft.h"

static uint64_t seed = 20260119;

static double rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2 - 1;
}

/* X[k] = sum x[j] e^{-2 pi i jk/n}, k <= n/2, with jk reduced mod n and
** the roots from a long double table. */
static void dft(const double *x, int64_t n, double *X) {
  const long double tau = 6.283185307179586476925286766559L;
  long double *c = malloc((size_t)n * sizeof *c), *s = malloc((size_t)n * sizeof *s);
  for (int64_t m = 0; m < n; m++) {
    c[m] = cosl(tau * (long double)m / (long double)n);
    s[m] = sinl(tau * (long double)m / (long double)n);
  }
  for (int64_t k = 0; k <= n / 2; k++) {
    long double re = 0, im = 0;
    int64_t m = 0;
    for (int64_t j = 0; j < n; j++) {
      re += x[j] * c[m];
      im -= x[j] * s[m];
      m += k;
      if (m >= n) m -= n;
    }
    X[2 * k] = (double)re;
    X[2 * k + 1] = (double)im;
  }
  free(c);
  free(s);
}

/* max |a - b| / max |b| over count values */
static double relerr(const double *a, const double *b, int64_t count) {
  double scale = 0, worst = 0;
  for (int64_t i = 0; i < count; i++)
    if (fabs(b[i]) > scale) scale = fabs(b[i]);
  if (scale == 0) scale = 1;
  for (int64_t i = 0; i < count; i++) {
    double d = fabs(a[i] - b[i]) / scale;
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

static int one_length(int64_t n, bool with_dft) {
  double *x = malloc((size_t)n * sizeof *x), *X = malloc((size_t)(n / 2 + 1) * 2 * sizeof *X);
  double *R = malloc((size_t)(n / 2 + 1) * 2 * sizeof *R), *y = malloc((size_t)n * sizeof *y);
  for (int64_t j = 0; j < n; j++) x[j] = rnd();
  int bad = 0;
  if (tide_fft_rfft(x, n, X)) {
    fprintf(stderr, "rfft %" PRId64 ": %s\n", n, tide_lasterror());
    bad = 1;
  }
  if (!bad && with_dft) {
    dft(x, n, R);
    double e = relerr(X, R, (n / 2 + 1) * 2);
    if (e > 1e-13) {
      fprintf(stderr, "rfft %" PRId64 ": relative error %g against the DFT\n", n, e);
      bad = 1;
    }
  }
  if (!bad && tide_fft_irfft(X, n, y)) {
    fprintf(stderr, "irfft %" PRId64 ": %s\n", n, tide_lasterror());
    bad = 1;
  }
  if (!bad) {
    double e = relerr(y, x, n);
    if (e > 1e-13) {
      fprintf(stderr, "irfft(rfft(x)) %" PRId64 ": relative error %g\n", n, e);
      bad = 1;
    }
  }
  free(x);
  free(X);
  free(R);
  free(y);
  return bad;
}

static void test_lengths(void) {
  int bad = 0;
  for (int64_t n = 1; n <= 160; n++) bad += one_length(n, true);
  /* factors 2, 3, 5, 7, generic radices, primes that go to Bluestein */
  static const int64_t dfts[] = {
    256, 243, 625, 343, 2 * 3 * 5 * 7 * 2, 4 * 27 * 25, 7 * 11 * 13, 2 * 127, 131, 2 * 131,
    257, 509, 1009, 2 * 1009, 3 * 1021, 4099, 2 * 4099, 1000, 1024, 1536, 3000, 4096};
  for (size_t i = 0; i < sizeof dfts / sizeof *dfts; i++) bad += one_length(dfts[i], true);
  /* long ones: round trips only */
  static const int64_t trips[] = {1 << 16, 100000, 65537, 2 * 65537, 3 * 7 * 11 * 13 * 17 * 4,
                                  999983, 1 << 20};
  for (size_t i = 0; i < sizeof trips / sizeof *trips; i++) bad += one_length(trips[i], false);
  CHECK_EQ_INT(bad, 0);
}

/* rfft of known signals: a cosine gives two spikes, a constant one */
static void test_known(void) {
  enum { N = 96 };
  double x[N], X[(N / 2 + 1) * 2];
  for (int j = 0; j < N; j++) x[j] = cos(6.283185307179586 * 5 * j / N) + 2;
  CHECK(tide_fft_rfft(x, N, X) == TIDE_OK);
  CHECK_NEAR(X[0], 2.0 * N, 1e-13);
  CHECK_NEAR(X[2 * 5], N / 2.0, 1e-13);
  double rest = 0;
  for (int k = 1; k <= N / 2; k++)
    if (k != 5) rest += fabs(X[2 * k]) + fabs(X[2 * k + 1]);
  CHECK(rest < 1e-11);
  /* irfft ignores the imaginary parts of X[0] and X[n/2] */
  double F[2 * 3] = {1, 7, 2, 0, 3, 9}, y[4], z[4];
  double G[2 * 3] = {1, 0, 2, 0, 3, 0};
  CHECK(tide_fft_irfft(F, 4, y) == TIDE_OK);
  CHECK(tide_fft_irfft(G, 4, z) == TIDE_OK);
  CHECK(relerr(y, z, 4) == 0);
  CHECK_NEAR(y[0], (1 + 2 * 2 + 3) / 4.0, 1e-15);
}

static void test_good_size(void) {
  CHECK_EQ_INT(tide_fft_good_size(1, false), 1);
  CHECK_EQ_INT(tide_fft_good_size(7, false), 8);
  CHECK_EQ_INT(tide_fft_good_size(11, false), 12);
  CHECK_EQ_INT(tide_fft_good_size(1000001, false), 1012500);
  CHECK_EQ_INT(tide_fft_good_size(7, true), 8);
  CHECK_EQ_INT(tide_fft_good_size(15, true), 16);
  CHECK_EQ_INT(tide_fft_good_size(1009999, true), 1012500);
  int64_t g = tide_fft_good_size(123457, true);
  CHECK(g % 2 == 0 && g >= 123457);
  while (g % 2 == 0) g /= 2;
  while (g % 3 == 0) g /= 3;
  while (g % 5 == 0) g /= 5;
  CHECK_EQ_INT(g, 1);
}

static void test_cache_and_errors(void) {
  double x[4] = {1, 2, 3, 4}, X[6];
  CHECK(tide_fft_rfft(x, 0, X) == TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "invalid number of FFT data points (0)");
  CHECK(tide_fft_irfft(X, -2, x) == TIDE_EINVAL);
  tide__fft_cache_clear();
  int plans;
  size_t bytes;
  for (int n = 2; n < 60; n++) {
    double *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)(n / 2 + 1) * 2, sizeof *b);
    CHECK(tide_fft_rfft(a, n, b) == TIDE_OK);
    free(a);
    free(b);
  }
  tide__fft_cache_stats(&plans, &bytes);
  CHECK(plans <= 16);
  tide__fft_cache_clear();
  tide__fft_cache_stats(&plans, &bytes);
  CHECK_EQ_INT(plans, 0);
  CHECK_EQ_INT(bytes, 0);
}

int main(void) {
  printf("seed %llu\n", (unsigned long long)seed);
  test_lengths();
  test_known();
  test_good_size();
  test_cache_and_errors();
  return check_done();
}
