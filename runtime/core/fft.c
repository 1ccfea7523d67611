/*
** fft.c -- tide's real-input FFT (see fft.h).
**
** The complex transform of length n = p1 p2 ... pk is the self-sorting
** (Stockham) mixed-radix algorithm.  Splitting j = j1 + m j2 (j1 < m, j2
** < p) and k = p k1 + k2 in X[k] = sum_j x[j] w^{jk} (n = p m) gives
**
**   X[p k1 + k2] = DFT_m(y_k2)[k1],  y_k2[j1] = w_n^{j1 k2} sum_j2 x[j1 + m j2] w_p^{j2 k2}:
**
** one pass of n/p butterflies of size p, each followed by twiddles, turns
** a length-n transform into p of length m whose results interleave with
** stride p.  Keeping sequence q of the l1 made so far at a[j + len q]
** (len = n / l1), a pass reads a[j1 + ido (j2 + p q)] and writes
** b[j1 + ido (q + l1 k2)] (ido = m / p): both in runs of ido contiguous
** values, and after the last pass (ido = 1) X[k] is at b[k], in order.
** Radix 4, 2, 3 and 5 butterflies are written out; any other factor uses a
** generic odd-radix butterfly (O(p) work per value).  When a large prime
** factor makes that dearer than Bluestein's algorithm (X[k] = c_k sum_j x_j
** c_j conj(c_{k-j}), c_j = e^{-i pi j^2/n}: a convolution, done by FFTs of a
** 5-smooth length >= 2n - 1), Bluestein it is.
**
** A real input of even length n is a complex one of n/2 (z[j] = x[2j] + i
** x[2j+1]): with E and O the transforms of the even and odd samples,
** E[k] = (Z[k] + conj Z[h-k]) / 2, O[k] = (Z[k] - conj Z[h-k]) / 2i and
** X[k] = E[k] + w_n^k O[k] (h = n/2); irfft runs the same steps backward.
** An odd length goes through a complex transform of n.
**
** Twiddles are cos/sin of 2 pi m/n with the angle reduced to the first
** octant, exactly as fractions of a turn; a plan's table is built from two
** such tables of about sqrt(n) entries (w^m = w^{hi B} w^{lo}).
*/
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"

typedef struct cpx {
  double r, i;
} cpx;

enum { MAXSTAGES = 64, GENERIC_MAX = 127 };

void *tide__fft_alloc(size_t count, size_t size, bool zero) {
  if (count == 0) count = 1;
  if (count > SIZE_MAX / size) {
    tide__seterr(TIDE_ENOMEM, "an FFT buffer of %zu values is too large", count);
    return NULL;
  }
  size_t bytes = count * size;
  if (tide__admit_memory(bytes, "an FFT buffer")) return NULL;
  void *p = zero ? tide__calloc(count, size) : tide__malloc(bytes);
  if (!p) {
    char b[32];
    tide__seterr(TIDE_ENOMEM, "cannot allocate %s for an FFT buffer",
                 tide_fmt_bytes((double)bytes, b, sizeof b));
  }
  return p;
}

/* ------------------------------------------------------------ roots */

/* cos and sin of 2 pi num/den for 0 <= num/den <= 1/4. */
static void cossin_quarter(int64_t num, int64_t den, double *c, double *s) {
  const double tau = 6.283185307179586476925286766559;
  if (8 * num <= den) {
    double a = tau * ((double)num / (double)den);
    *c = cos(a);
    *s = sin(a);
  } else { /* pi/4 < angle <= pi/2: from its complement */
    double a = tau * ((double)(den - 4 * num) / (double)(4 * den));
    *c = sin(a);
    *s = cos(a);
  }
}

/* e^{2 pi i m/n}, accurate to an ulp or two. */
static cpx unit_root(int64_t n, int64_t m) {
  m %= n;
  if (m < 0) m += n;
  bool lower = 2 * m > n; /* angle in (pi, 2 pi): the conjugate of n - m's */
  if (lower) m = n - m;
  double c, s;
  if (4 * m <= n) {
    cossin_quarter(m, n, &c, &s);
  } else { /* (pi/2, pi]: pi - angle is (n - 2m) / 2n of a turn */
    cossin_quarter(n - 2 * m, 2 * n, &c, &s);
    c = -c;
  }
  cpx w = {c, lower ? -s : s};
  return w;
}

/* Roots of unity of order n by two small tables. */
typedef struct Roots {
  int64_t n, B;
  cpx *lo, *hi;
} Roots;

static int roots_init(Roots *R, int64_t n) {
  int64_t B = (int64_t)sqrt((double)n) + 1;
  R->n = n;
  R->B = B;
  R->lo = tide__fft_alloc((size_t)B, sizeof(cpx), false);
  R->hi = R->lo ? tide__fft_alloc((size_t)(n / B + 1), sizeof(cpx), false) : NULL;
  if (!R->lo || !R->hi) {
    free(R->lo);
    return TIDE_ENOMEM;
  }
  for (int64_t t = 0; t < B; t++) R->lo[t] = unit_root(n, t);
  for (int64_t u = 0; u <= n / B; u++) R->hi[u] = unit_root(n, u * B);
  return TIDE_OK;
}

static cpx roots_get(const Roots *R, int64_t m) {
  cpx a = R->hi[m / R->B], b = R->lo[m % R->B];
  cpx w = {a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r};
  return w;
}

static void roots_free(Roots *R) {
  free(R->lo);
  free(R->hi);
}

/* ------------------------------------------------------------ plans */

typedef struct Stage {
  int p;
  int64_t l1, ido;
  cpx *tw;    /* (p - 1) x (ido - 1): tw[(q-1)(ido-1) + j-1] = e^{2 pi i l1 j q / n} */
  cpx *rt;    /* generic radix: rt[t] = e^{2 pi i t/p} */
} Stage;

typedef struct CPlan {
  int64_t n;
  int ns;
  Stage st[MAXSTAGES];
  cpx *mem;
  size_t bytes;
  /* Bluestein: chirp[j] = e^{-i pi j^2/n}; kf = FFT_n2 of conj(chirp)
  ** wrapped around (a convolution kernel), divided by n2 */
  struct CPlan *sub;
  int64_t n2;
  cpx *chirp, *kf;
} CPlan;

/* Factors of n in the order the passes take them: 2 (when n has an odd
** power of it), 4s, then odd primes ascending. */
static int factorize(int64_t n, int *f) {
  int k = 0;
  int64_t r = n;
  int fours = 0;
  while (r % 4 == 0) {
    r /= 4;
    fours++;
  }
  if (r % 2 == 0) {
    r /= 2;
    f[k++] = 2;
  }
  while (fours--) f[k++] = 4;
  for (int64_t d = 3; d * d <= r; d += 2)
    while (r % d == 0) {
      r /= d;
      f[k++] = (int)(d <= INT32_MAX ? d : 0);
    }
  if (r > 1) f[k++] = r <= INT32_MAX ? (int)r : 0; /* 0: a prime too large to name */
  return k;
}

static int64_t largest_factor(int64_t n) {
  int f[MAXSTAGES];
  int k = factorize(n, f), big = 1;
  for (int i = 0; i < k; i++) {
    if (f[i] == 0) return n;
    if (f[i] > big) big = f[i];
  }
  return big;
}

/* Rough operation count of the passes for n (per value and factor). */
static double pass_cost(int64_t n) {
  int f[MAXSTAGES];
  int k = factorize(n, f);
  double c = 0;
  for (int i = 0; i < k; i++) {
    if (f[i] == 0) return INFINITY;
    c += f[i] <= 5 ? (double)f[i] : 1.5 * (double)f[i];
  }
  return c * (double)n;
}

int64_t tide_fft_good_size(int64_t n, bool real) {
  if (n <= 1) return real ? 2 : 1;
  if (real) return 2 * tide_fft_good_size((n + 1) / 2, false);
  int64_t best = INT64_MAX;
  for (int64_t a = 1; a < best; a *= 2) {
    for (int64_t b = a; b < best; b *= 3) {
      int64_t c = b;
      while (c < n) c *= 5;
      if (c < best) best = c;
      if (b > INT64_MAX / 3) break;
    }
    if (a > INT64_MAX / 2) break;
  }
  return best;
}

static void cplan_free(CPlan *P) {
  if (!P) return;
  free(P->mem);
  free(P->chirp);
  free(P->kf);
  cplan_free(P->sub);
  free(P);
}

static CPlan *cplan_new(int64_t n, int *rc);
static void cplan_exec(const CPlan *P, const cpx *in, cpx *out, cpx *scratch, int fwd);

static int bluestein_init(CPlan *P) {
  int64_t n = P->n, n2 = tide_fft_good_size(2 * n - 1, false);
  int rc = TIDE_OK;
  P->n2 = n2;
  P->chirp = tide__fft_alloc((size_t)n, sizeof(cpx), false);
  P->kf = P->chirp ? tide__fft_alloc((size_t)n2, sizeof(cpx), true) : NULL;
  cpx *scratch = P->kf ? tide__fft_alloc((size_t)n2, sizeof(cpx), false) : NULL;
  if (!scratch) return TIDE_ENOMEM;
  if (!(P->sub = cplan_new(n2, &rc))) {
    free(scratch);
    return rc;
  }
  /* j^2 mod 2n, step by step: (j+1)^2 = j^2 + 2j + 1 */
  int64_t sq = 0;
  for (int64_t j = 0; j < n; j++) {
    cpx w = unit_root(2 * n, sq);
    P->chirp[j].r = w.r;
    P->chirp[j].i = -w.i;
    sq += 2 * j + 1;
    while (sq >= 2 * n) sq -= 2 * n;
  }
  double inv = 1.0 / (double)n2;
  P->kf[0].r = P->chirp[0].r * inv;
  P->kf[0].i = -P->chirp[0].i * inv;
  for (int64_t j = 1; j < n; j++) {
    cpx g = {P->chirp[j].r * inv, -P->chirp[j].i * inv};
    P->kf[j] = g;
    P->kf[n2 - j] = g;
  }
  cplan_exec(P->sub, P->kf, P->kf, scratch, 1);
  free(scratch);
  P->bytes += (size_t)(n + n2) * sizeof(cpx) + P->sub->bytes;
  return TIDE_OK;
}

static CPlan *cplan_new(int64_t n, int *rc) {
  CPlan *P = tide__calloc(1, sizeof *P);
  if (!P) {
    *rc = tide__seterr(TIDE_ENOMEM, "out of memory for an FFT plan of %" PRId64, n);
    return NULL;
  }
  P->n = n;
  P->bytes = sizeof *P;
  /* Bluestein when a large prime factor makes the passes dearer */
  if (n > 5 && largest_factor(n) > 5) {
    int64_t n2 = tide_fft_good_size(2 * n - 1, false);
    double direct = pass_cost(n), blue = 1.5 * (2 * pass_cost(n2) + 6.0 * (double)n2);
    if (largest_factor(n) > GENERIC_MAX || blue < direct) {
      if ((*rc = bluestein_init(P))) {
        cplan_free(P);
        return NULL;
      }
      return P;
    }
  }
  int f[MAXSTAGES];
  P->ns = factorize(n, f);
  size_t count = 0;
  int64_t l1 = 1;
  for (int s = 0; s < P->ns; s++) {
    int64_t ido = n / (l1 * f[s]);
    count += (size_t)(f[s] - 1) * (size_t)(ido - 1) + (f[s] > 5 ? (size_t)f[s] : 0);
    l1 *= f[s];
  }
  P->mem = tide__fft_alloc(count, sizeof(cpx), false);
  Roots R = {0};
  if (!P->mem || (n > 1 && roots_init(&R, n))) {
    *rc = TIDE_ENOMEM;
    cplan_free(P);
    return NULL;
  }
  P->bytes += count * sizeof(cpx);
  cpx *m = P->mem;
  l1 = 1;
  for (int s = 0; s < P->ns; s++) {
    Stage *S = &P->st[s];
    S->p = f[s];
    S->l1 = l1;
    S->ido = n / (l1 * f[s]);
    S->tw = m;
    for (int q = 1; q < S->p; q++)
      for (int64_t j = 1; j < S->ido; j++) *m++ = roots_get(&R, l1 * j * q);
    if (S->p > 5) {
      S->rt = m;
      for (int t = 0; t < S->p; t++) *m++ = roots_get(&R, t * (n / S->p));
    }
    l1 *= S->p;
  }
  if (n > 1) roots_free(&R);
  return P;
}

/* ------------------------------------------------------------ passes */

/* v times w (backward) or times conj(w) (forward). */
static inline cpx twiddle(cpx v, cpx w, int fwd) {
  cpx r;
  if (fwd) {
    r.r = v.r * w.r + v.i * w.i;
    r.i = v.i * w.r - v.r * w.i;
  } else {
    r.r = v.r * w.r - v.i * w.i;
    r.i = v.r * w.i + v.i * w.r;
  }
  return r;
}

/* i v (backward) or -i v (forward) */
static inline cpx rot90(cpx v, int fwd) {
  cpx r;
  if (fwd) {
    r.r = v.i;
    r.i = -v.r;
  } else {
    r.r = -v.i;
    r.i = v.r;
  }
  return r;
}

#define ADD(a, b) ((cpx){(a).r + (b).r, (a).i + (b).i})
#define SUB(a, b) ((cpx){(a).r - (b).r, (a).i - (b).i})

/* The passes of radix 2, 3, 4 and 5 hold a complex value in one 16-byte
** vector (GCC's and Clang's vector types: SSE2 on any x86-64), real then
** imaginary: an addition is one instruction instead of two.  The same
** operations in the same order as the scalar forms above, so the same
** bits. */
typedef double v2 __attribute__((vector_size(16)));
typedef double v2u __attribute__((vector_size(16), aligned(8)));
#define LD(p) (*(const v2u *)(p))
#define ST(p, v) (*(v2u *)(p) = (v))
#define BCAST(c) ((v2){(c), (c)})

static inline v2 vswap(v2 a) { return (v2){a[1], a[0]}; }

/* -i a (forward) or i a (backward) */
static inline v2 vrot(v2 a, int fwd) {
  return vswap(a) * (fwd ? (v2){1, -1} : (v2){-1, 1});
}

/* a conj(w) (forward) or a w (backward) */
static inline v2 vtw(v2 a, const cpx *w, int fwd) {
  v2 wi = fwd ? (v2){w->i, -w->i} : (v2){-w->i, w->i};
  return a * BCAST(w->r) + vswap(a) * wi;
}

static inline void pass2(int64_t ido, int64_t l1, const cpx *restrict a, cpx *restrict b,
                         const cpx *restrict tw, int fwd) {
  const int64_t s = ido * l1;
  for (int64_t k = 0; k < l1; k++) {
    const cpx *in = a + 2 * ido * k;
    cpx *o = b + ido * k;
    v2 u0 = LD(in), u1 = LD(in + ido);
    ST(o, u0 + u1);
    ST(o + s, u0 - u1);
    for (int64_t j = 1; j < ido; j++) {
      u0 = LD(in + j);
      u1 = LD(in + j + ido);
      ST(o + j, u0 + u1);
      ST(o + j + s, vtw(u0 - u1, tw + j - 1, fwd));
    }
  }
}

#define BFLY4(u0, u1, u2, u3, y0, y1, y2, y3)            \
  do {                                                   \
    v2 t1 = (u0) + (u2), t2 = (u0) - (u2);               \
    v2 t3 = (u1) + (u3), t4 = vrot((u1) - (u3), fwd);    \
    y0 = t1 + t3;                                        \
    y2 = t1 - t3;                                        \
    y1 = t2 + t4;                                        \
    y3 = t2 - t4;                                        \
  } while (0)

static inline void pass4(int64_t ido, int64_t l1, const cpx *restrict a, cpx *restrict b,
                         const cpx *restrict tw, int fwd) {
  const int64_t s = ido * l1;
  v2 y0, y1, y2, y3;
  if (ido == 1) {
    for (int64_t k = 0; k < l1; k++) {
      const cpx *in = a + 4 * k;
      BFLY4(LD(in), LD(in + 1), LD(in + 2), LD(in + 3), y0, y1, y2, y3);
      ST(b + k, y0);
      ST(b + k + s, y1);
      ST(b + k + 2 * s, y2);
      ST(b + k + 3 * s, y3);
    }
    return;
  }
  const cpx *tw1 = tw, *tw2 = tw + (ido - 1), *tw3 = tw + 2 * (ido - 1);
  for (int64_t k = 0; k < l1; k++) {
    const cpx *in = a + 4 * ido * k;
    cpx *o = b + ido * k;
    BFLY4(LD(in), LD(in + ido), LD(in + 2 * ido), LD(in + 3 * ido), y0, y1, y2, y3);
    ST(o, y0);
    ST(o + s, y1);
    ST(o + 2 * s, y2);
    ST(o + 3 * s, y3);
    for (int64_t j = 1; j < ido; j++) {
      BFLY4(LD(in + j), LD(in + j + ido), LD(in + j + 2 * ido), LD(in + j + 3 * ido), y0, y1,
            y2, y3);
      ST(o + j, y0);
      ST(o + j + s, vtw(y1, tw1 + j - 1, fwd));
      ST(o + j + 2 * s, vtw(y2, tw2 + j - 1, fwd));
      ST(o + j + 3 * s, vtw(y3, tw3 + j - 1, fwd));
    }
  }
}

/* w_3 = -1/2 -+ i sqrt(3)/2 */
#define BFLY3(u0, u1, u2, y0, y1, y2)                                        \
  do {                                                                       \
    v2 t = (u1) + (u2), m = (u0) - BCAST(0.5) * t;                           \
    v2 e = vrot((u1) - (u2), fwd) * BCAST(0.86602540378443864676);          \
    y0 = (u0) + t;                                                           \
    y1 = m + e;                                                              \
    y2 = m - e;                                                              \
  } while (0)

static inline void pass3(int64_t ido, int64_t l1, const cpx *restrict a, cpx *restrict b,
                         const cpx *restrict tw, int fwd) {
  const int64_t s = ido * l1;
  const cpx *tw1 = tw, *tw2 = tw + (ido - 1);
  v2 y0, y1, y2;
  for (int64_t k = 0; k < l1; k++) {
    const cpx *in = a + 3 * ido * k;
    cpx *o = b + ido * k;
    BFLY3(LD(in), LD(in + ido), LD(in + 2 * ido), y0, y1, y2);
    ST(o, y0);
    ST(o + s, y1);
    ST(o + 2 * s, y2);
    for (int64_t j = 1; j < ido; j++) {
      BFLY3(LD(in + j), LD(in + j + ido), LD(in + j + 2 * ido), y0, y1, y2);
      ST(o + j, y0);
      ST(o + j + s, vtw(y1, tw1 + j - 1, fwd));
      ST(o + j + 2 * s, vtw(y2, tw2 + j - 1, fwd));
    }
  }
}

/* cos and sin of 2 pi/5 and 4 pi/5 */
#define C51 0.30901699437494742410
#define C52 (-0.80901699437494742410)
#define S51 0.95105651629515357212
#define S52 0.58778525229247312917

#define BFLY5(u0, u1, u2, u3, u4, y0, y1, y2, y3, y4)                        \
  do {                                                                       \
    v2 t1 = (u1) + (u4), t2 = (u2) + (u3), t3 = (u1) - (u4), t4 = (u2) - (u3); \
    y0 = (u0) + t1 + t2;                                                     \
    v2 a1 = (u0) + BCAST(C51) * t1 + BCAST(C52) * t2;                        \
    v2 a2 = (u0) + BCAST(C52) * t1 + BCAST(C51) * t2;                        \
    v2 b1 = vrot(BCAST(S51) * t3 + BCAST(S52) * t4, fwd);                    \
    v2 b2 = vrot(BCAST(S52) * t3 - BCAST(S51) * t4, fwd);                    \
    y1 = a1 + b1;                                                            \
    y4 = a1 - b1;                                                            \
    y2 = a2 + b2;                                                            \
    y3 = a2 - b2;                                                            \
  } while (0)

static inline void pass5(int64_t ido, int64_t l1, const cpx *restrict a, cpx *restrict b,
                         const cpx *restrict tw, int fwd) {
  const int64_t s = ido * l1;
  const cpx *tw1 = tw, *tw2 = tw + (ido - 1), *tw3 = tw + 2 * (ido - 1), *tw4 = tw + 3 * (ido - 1);
  v2 y0, y1, y2, y3, y4;
  for (int64_t k = 0; k < l1; k++) {
    const cpx *in = a + 5 * ido * k;
    cpx *o = b + ido * k;
    BFLY5(LD(in), LD(in + ido), LD(in + 2 * ido), LD(in + 3 * ido), LD(in + 4 * ido), y0, y1,
          y2, y3, y4);
    ST(o, y0);
    ST(o + s, y1);
    ST(o + 2 * s, y2);
    ST(o + 3 * s, y3);
    ST(o + 4 * s, y4);
    for (int64_t j = 1; j < ido; j++) {
      BFLY5(LD(in + j), LD(in + j + ido), LD(in + j + 2 * ido), LD(in + j + 3 * ido),
            LD(in + j + 4 * ido), y0, y1, y2, y3, y4);
      ST(o + j, y0);
      ST(o + j + s, vtw(y1, tw1 + j - 1, fwd));
      ST(o + j + 2 * s, vtw(y2, tw2 + j - 1, fwd));
      ST(o + j + 3 * s, vtw(y3, tw3 + j - 1, fwd));
      ST(o + j + 4 * s, vtw(y4, tw4 + j - 1, fwd));
    }
  }
}

/* Any odd p: sums and differences of the pairs j, p - j, then for each q
** A_q = u0 + sum cos(2 pi jq/p) (u_j + u_{p-j}), B_q = sum sin(...) (u_j
** - u_{p-j}), and v_q, v_{p-q} = A_q -+ i B_q (forward). */
static void passg(const Stage *S, const cpx *restrict a, cpx *restrict b, int fwd) {
  const int p = S->p, h = (p - 1) / 2;
  const int64_t ido = S->ido, l1 = S->l1, s = ido * l1;
  cpx t[GENERIC_MAX / 2 + 1], d[GENERIC_MAX / 2 + 1], v[GENERIC_MAX + 1];
  for (int64_t k = 0; k < l1; k++) {
    const cpx *in = a + p * ido * k;
    cpx *o = b + ido * k;
    for (int64_t j = 0; j < ido; j++) {
      cpx u0 = in[j], sum = u0;
      for (int m = 1; m <= h; m++) {
        cpx x = in[j + m * ido], y = in[j + (p - m) * ido];
        t[m] = ADD(x, y);
        d[m] = SUB(x, y);
        sum = ADD(sum, t[m]);
      }
      v[0] = sum;
      for (int q = 1; q <= h; q++) {
        cpx A = u0, B = {0, 0};
        int idx = 0;
        for (int m = 1; m <= h; m++) {
          idx += q;
          if (idx >= p) idx -= p;
          double c = S->rt[idx].r, sn = S->rt[idx].i;
          A.r += c * t[m].r;
          A.i += c * t[m].i;
          B.r += sn * d[m].r;
          B.i += sn * d[m].i;
        }
        cpx e = rot90(B, fwd);
        v[q] = ADD(A, e);
        v[p - q] = SUB(A, e);
      }
      o[j] = v[0];
      for (int q = 1; q < p; q++)
        o[j + q * s] = j > 0 ? twiddle(v[q], S->tw[(q - 1) * (ido - 1) + j - 1], fwd) : v[q];
    }
  }
}

static void run_stage(const Stage *S, const cpx *a, cpx *b, int fwd) {
  switch (S->p) {
    case 4:
      if (fwd) pass4(S->ido, S->l1, a, b, S->tw, 1);
      else pass4(S->ido, S->l1, a, b, S->tw, 0);
      break;
    case 2:
      if (fwd) pass2(S->ido, S->l1, a, b, S->tw, 1);
      else pass2(S->ido, S->l1, a, b, S->tw, 0);
      break;
    case 3:
      if (fwd) pass3(S->ido, S->l1, a, b, S->tw, 1);
      else pass3(S->ido, S->l1, a, b, S->tw, 0);
      break;
    case 5:
      if (fwd) pass5(S->ido, S->l1, a, b, S->tw, 1);
      else pass5(S->ido, S->l1, a, b, S->tw, 0);
      break;
    default:
      passg(S, a, b, fwd);
  }
}

/* Bluestein: X[k] = c_k sum_j (x_j c_j) conj(c_{k-j}) forward, and the
** conjugates backward; the sum is a cyclic convolution of length n2. */
static int bluestein(const CPlan *P, const cpx *in, cpx *out, int fwd) {
  int64_t n = P->n, n2 = P->n2;
  cpx *A = tide__fft_alloc((size_t)n2 * 2, sizeof(cpx), false);
  if (!A) return TIDE_ENOMEM;
  cpx *scr = A + n2;
  for (int64_t j = 0; j < n; j++) {
    cpx c = P->chirp[j];
    if (!fwd) c.i = -c.i;
    A[j].r = in[j].r * c.r - in[j].i * c.i;
    A[j].i = in[j].r * c.i + in[j].i * c.r;
  }
  memset(A + n, 0, (size_t)(n2 - n) * sizeof(cpx));
  cplan_exec(P->sub, A, A, scr, 1);
  for (int64_t k = 0; k < n2; k++) {
    cpx g = P->kf[k];
    if (!fwd) g.i = -g.i;
    cpx x = A[k];
    A[k].r = x.r * g.r - x.i * g.i;
    A[k].i = x.r * g.i + x.i * g.r;
  }
  cplan_exec(P->sub, A, A, scr, 0);
  for (int64_t k = 0; k < n; k++) {
    cpx c = P->chirp[k];
    if (!fwd) c.i = -c.i;
    out[k].r = A[k].r * c.r - A[k].i * c.i;
    out[k].i = A[k].r * c.i + A[k].i * c.r;
  }
  free(A);
  return TIDE_OK;
}

/* out = DFT of in (n values; in may be out), unscaled; scratch holds n
** values.  A Bluestein plan allocates its own room and may fail (memory). */
static int cplan_run(const CPlan *P, const cpx *in, cpx *out, cpx *scratch, int fwd) {
  if (P->sub) return bluestein(P, in, out, fwd);
  int ns = P->ns;
  if (ns == 0) {
    if (in != out) out[0] = in[0];
    return TIDE_OK;
  }
  const cpx *src = in;
  if (in == out && ns % 2 == 1) { /* an odd pass count must start from another buffer */
    memcpy(scratch, in, (size_t)P->n * sizeof(cpx));
    src = scratch;
  }
  /* the passes alternate between out and scratch, ending in out */
  cpx *dst = ns % 2 == 1 ? out : scratch;
  for (int s = 0; s < ns; s++) {
    run_stage(&P->st[s], src, dst, fwd);
    src = dst;
    dst = dst == out ? scratch : out;
  }
  return TIDE_OK;
}

static void cplan_exec(const CPlan *P, const cpx *in, cpx *out, cpx *scratch, int fwd) {
  (void)cplan_run(P, in, out, scratch, fwd);
}

/* ------------------------------------------------------------ real plans */

typedef struct RPlan {
  int64_t n;
  CPlan *c;   /* length n/2 (n even) or n (n odd) */
  cpx *rtw;   /* n even: rtw[k] = e^{2 pi i k/n}, k <= n/4 */
  void *spare; /* a transform's work buffer, kept between calls (its pages
               ** stay mapped: a fresh 8 MB buffer costs 2048 page faults) */
  bool bytes_spare_counted;
  size_t bytes;
  int refs;
  struct RPlan *next;
} RPlan;

enum { CACHE_PLANS = 16 };
#define CACHE_BYTES ((size_t)64 << 20)

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static RPlan *cache; /* most recently used first */

static void rplan_free(RPlan *P) {
  if (!P) return;
  cplan_free(P->c);
  free(P->rtw);
  free(P->spare);
  free(P);
}

/* The work buffer of a transform with plan P: n values (n even: n/2
** complex; n odd: 2n complex).  The plan's spare one when no other call
** holds it, else a new one. */
static size_t work_bytes(int64_t n) {
  return (size_t)(n % 2 == 0 ? n / 2 : 2 * n) * sizeof(cpx);
}

static cpx *work_take(RPlan *P) {
  pthread_mutex_lock(&cache_lock);
  void *w = P->spare;
  P->spare = NULL;
  pthread_mutex_unlock(&cache_lock);
  return w ? w : tide__fft_alloc(work_bytes(P->n), 1, false);
}

static void work_give(RPlan *P, cpx *w) {
  if (!w) return;
  pthread_mutex_lock(&cache_lock);
  if (!P->spare) {
    if (!P->bytes_spare_counted) {
      P->bytes += work_bytes(P->n);
      P->bytes_spare_counted = true;
    }
    P->spare = w;
    w = NULL;
  }
  pthread_mutex_unlock(&cache_lock);
  free(w);
}

static RPlan *rplan_new(int64_t n, int *rc) {
  RPlan *P = tide__calloc(1, sizeof *P);
  if (!P) {
    *rc = tide__seterr(TIDE_ENOMEM, "out of memory for an FFT plan of %" PRId64, n);
    return NULL;
  }
  P->n = n;
  int64_t len = n % 2 == 0 ? n / 2 : n;
  if (!(P->c = cplan_new(len, rc))) {
    free(P);
    return NULL;
  }
  P->bytes = sizeof *P + P->c->bytes;
  if (n % 2 == 0) {
    int64_t q = n / 4;
    P->rtw = tide__fft_alloc((size_t)(q + 1), sizeof(cpx), false);
    if (!P->rtw) {
      *rc = TIDE_ENOMEM;
      rplan_free(P);
      return NULL;
    }
    for (int64_t k = 0; k <= q; k++) P->rtw[k] = unit_root(n, k);
    P->bytes += (size_t)(q + 1) * sizeof(cpx);
  }
  return P;
}

/* The plan for n, from the cache or new (then cached); release with
** rplan_put.  Plans not in use beyond the cache's bounds are freed. */
static RPlan *rplan_get(int64_t n, int *rc) {
  pthread_mutex_lock(&cache_lock);
  for (RPlan **pp = &cache; *pp; pp = &(*pp)->next) {
    if ((*pp)->n == n) {
      RPlan *P = *pp;
      *pp = P->next;
      P->next = cache;
      cache = P;
      P->refs++;
      pthread_mutex_unlock(&cache_lock);
      return P;
    }
  }
  pthread_mutex_unlock(&cache_lock);
  RPlan *P = rplan_new(n, rc);
  if (!P) return NULL;
  P->refs = 1;
  pthread_mutex_lock(&cache_lock);
  P->next = cache;
  cache = P;
  int count = 0;
  size_t bytes = 0;
  for (RPlan **pp = &cache; *pp;) {
    RPlan *Q = *pp;
    count++;
    bytes += Q->bytes;
    if (Q != P && Q->refs == 0 && (count > CACHE_PLANS || bytes > CACHE_BYTES)) {
      *pp = Q->next;
      count--;
      bytes -= Q->bytes;
      rplan_free(Q);
    } else {
      pp = &Q->next;
    }
  }
  pthread_mutex_unlock(&cache_lock);
  return P;
}

static void rplan_put(RPlan *P) {
  pthread_mutex_lock(&cache_lock);
  P->refs--;
  pthread_mutex_unlock(&cache_lock);
}

void tide__fft_cache_stats(int *plans, size_t *bytes) {
  pthread_mutex_lock(&cache_lock);
  *plans = 0;
  *bytes = 0;
  for (RPlan *P = cache; P; P = P->next) {
    (*plans)++;
    *bytes += P->bytes;
  }
  pthread_mutex_unlock(&cache_lock);
}

void tide__fft_cache_clear(void) {
  pthread_mutex_lock(&cache_lock);
  for (RPlan **pp = &cache; *pp;) {
    RPlan *Q = *pp;
    if (Q->refs == 0) {
      *pp = Q->next;
      rplan_free(Q);
    } else {
      pp = &Q->next;
    }
  }
  pthread_mutex_unlock(&cache_lock);
}

/* ------------------------------------------------------------ rfft, irfft */

static int too_few(int64_t n) {
  return tide__seterr(TIDE_EINVAL, "invalid number of FFT data points (%" PRId64 ")", n);
}

int tide_fft_rfft(const double *x, int64_t n, double *out) {
  if (n < 1) return too_few(n);
  int rc = TIDE_OK;
  RPlan *P = rplan_get(n, &rc);
  if (!P) return rc;
  cpx *X = (cpx *)out;
  if (n % 2 == 0) {
    int64_t h = n / 2;
    cpx *scr = work_take(P);
    if (!scr) rc = TIDE_ENOMEM;
    if (!rc) rc = cplan_run(P->c, (const cpx *)x, X, scr, 1);
    work_give(P, scr);
    if (!rc) {
      cpx z0 = X[0];
      X[0].r = z0.r + z0.i;
      X[0].i = 0;
      X[h].r = z0.r - z0.i;
      X[h].i = 0;
      for (int64_t k = 1; 2 * k <= h; k++) {
        cpx a = X[k], b = X[h - k];
        double er = 0.5 * (a.r + b.r), ei = 0.5 * (a.i - b.i);
        double or_ = 0.5 * (a.i + b.i), oi = -0.5 * (a.r - b.r);
        double c = P->rtw[k].r, s = P->rtw[k].i;
        double wr = c * or_ + s * oi, wi = c * oi - s * or_;
        X[k].r = er + wr;
        X[k].i = ei + wi;
        X[h - k].r = er - wr;
        X[h - k].i = wi - ei;
      }
    }
  } else {
    cpx *buf = work_take(P);
    if (!buf) rc = TIDE_ENOMEM;
    if (!rc) {
      for (int64_t j = 0; j < n; j++) {
        buf[j].r = x[j];
        buf[j].i = 0;
      }
      rc = cplan_run(P->c, buf, buf, buf + n, 1);
      if (!rc) memcpy(X, buf, (size_t)(n / 2 + 1) * sizeof(cpx));
    }
    work_give(P, buf);
  }
  rplan_put(P);
  return rc;
}

int tide_fft_irfft(const double *in, int64_t n, double *x) {
  if (n < 1) return too_few(n);
  int rc = TIDE_OK;
  RPlan *P = rplan_get(n, &rc);
  if (!P) return rc;
  const cpx *X = (const cpx *)in;
  double inv = 1.0 / (double)n;
  if (n % 2 == 0) {
    int64_t h = n / 2;
    cpx *Z = (cpx *)x, *scr = work_take(P);
    if (!scr) rc = TIDE_ENOMEM;
    if (!rc) {
      double a0 = X[0].r, ah = X[h].r;
      Z[0].r = (a0 + ah) * inv;
      Z[0].i = (a0 - ah) * inv;
      for (int64_t k = 1; 2 * k <= h; k++) {
        cpx a = X[k], b = X[h - k];
        double er = a.r + b.r, ei = a.i - b.i, dr = a.r - b.r, di = a.i + b.i;
        double c = P->rtw[k].r, s = P->rtw[k].i;
        double orr = dr * c - di * s, oi = dr * s + di * c;
        Z[k].r = (er - oi) * inv;
        Z[k].i = (ei + orr) * inv;
        Z[h - k].r = (er + oi) * inv;
        Z[h - k].i = (orr - ei) * inv;
      }
      rc = cplan_run(P->c, Z, Z, scr, 0);
    }
    work_give(P, scr);
  } else {
    cpx *buf = work_take(P);
    if (!buf) rc = TIDE_ENOMEM;
    if (!rc) {
      buf[0].r = X[0].r;
      buf[0].i = 0;
      for (int64_t k = 1; 2 * k < n; k++) {
        buf[k] = X[k];
        buf[n - k].r = X[k].r;
        buf[n - k].i = -X[k].i;
      }
      rc = cplan_run(P->c, buf, buf, buf + n, 0);
      if (!rc)
        for (int64_t j = 0; j < n; j++) x[j] = buf[j].r * inv;
    }
    work_give(P, buf);
  }
  rplan_put(P);
  return rc;
}

/* ------------------------------------------------------------ arrays */

int tide_rfft(const tide_Array *a, int64_t n, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (a->ndim < 1 || a->ndim > 2)
    return tide__seterr(TIDE_ESHAPE, "rfft takes a 1-D or 2-D array (rows), got a %d-D array",
                        a->ndim);
  int64_t len = a->shape[a->ndim - 1], rows = a->ndim == 2 ? a->shape[0] : 1;
  if (n <= 0) n = len;
  if (n < 1) return too_few(n);
  int64_t m = n / 2 + 1, shape[3] = {rows, m, 2};
  int rc = a->ndim == 1 ? tide_array_new(out, TIDE_F64, 2, shape + 1, TIDE_WHERE_AUTO)
                        : tide_array_new(out, TIDE_F64, 3, shape, TIDE_WHERE_AUTO);
  if (rc) return rc;
  int64_t st = a->strides[a->ndim - 1], rs = a->ndim == 2 ? a->strides[0] : 0;
  bool direct = a->dtype == TIDE_F64 && (st == 8 || len <= 1) && n == len;
  double *buf = NULL;
  if (!direct && !(buf = tide__fft_alloc((size_t)n, sizeof(double), false))) rc = TIDE_ENOMEM;
  for (int64_t r = 0; !rc && r < rows; r++) {
    const unsigned char *row = a->data + r * rs;
    const double *x = (const double *)row;
    if (!direct) {
      int64_t c = len < n ? len : n;
      for (int64_t j = 0; j < c; j++) buf[j] = tide_load_f64(a->dtype, row + j * st);
      for (int64_t j = c; j < n; j++) buf[j] = 0;
      x = buf;
    }
    rc = tide_fft_rfft(x, n, (double *)out->data + r * m * 2);
  }
  free(buf);
  if (rc) tide_array_close(out);
  return rc;
}

int tide_irfft(const tide_Array *F, int64_t n, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!F->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (F->ndim < 2 || F->ndim > 3 || F->shape[F->ndim - 1] != 2) {
    char b[64];
    return tide__seterr(TIDE_ESHAPE, "irfft takes complex values as an m x 2 array (or rows x m "
                        "x 2), got %s", tide_shape_str(F->ndim, F->shape, b, sizeof b));
  }
  int64_t m = F->shape[F->ndim - 2], rows = F->ndim == 3 ? F->shape[0] : 1;
  if (n <= 0) n = 2 * (m - 1);
  if (n < 1) return too_few(n);
  int64_t hm = n / 2 + 1, shape[2] = {rows, n};
  int rc = F->ndim == 2 ? tide_array_new(out, TIDE_F64, 1, shape + 1, TIDE_WHERE_AUTO)
                        : tide_array_new(out, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
  if (rc) return rc;
  int64_t s1 = F->strides[F->ndim - 2], s2 = F->strides[F->ndim - 1];
  int64_t rs = F->ndim == 3 ? F->strides[0] : 0;
  bool direct = F->dtype == TIDE_F64 && s2 == 8 && (s1 == 16 || m <= 1) && m >= hm;
  double *buf = NULL;
  if (!direct && !(buf = tide__fft_alloc((size_t)hm * 2, sizeof(double), false)))
    rc = TIDE_ENOMEM;
  for (int64_t r = 0; !rc && r < rows; r++) {
    const unsigned char *row = F->data + r * rs;
    const double *X = (const double *)row;
    if (!direct) {
      int64_t c = m < hm ? m : hm;
      for (int64_t k = 0; k < c; k++) {
        buf[2 * k] = tide_load_f64(F->dtype, row + k * s1);
        buf[2 * k + 1] = tide_load_f64(F->dtype, row + k * s1 + s2);
      }
      for (int64_t k = c; k < hm; k++) buf[2 * k] = buf[2 * k + 1] = 0;
      X = buf;
    }
    rc = tide_fft_irfft(X, n, (double *)out->data + r * n);
  }
  free(buf);
  if (rc) tide_array_close(out);
  return rc;
}
