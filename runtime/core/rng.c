/*
** rng.c -- Philox-4x32-10 (Salmon et al., SC'11), a counter-based
** generator: the key is the seed, the high half of the counter is the
** stream (a task index), the low half counts draws.  A task's numbers
** therefore depend on (seed, stream) only, never on which worker ran it.
*/
#include <math.h>

#include "core.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox10(const uint32_t key[2], const uint32_t in[4], uint32_t out[4]) {
  uint32_t k0 = key[0], k1 = key[1];
  uint32_t c0 = in[0], c1 = in[1], c2 = in[2], c3 = in[3];
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void tide_rng_init(tide_Rng *r, uint64_t seed, uint64_t stream) {
  r->key[0] = (uint32_t)seed;
  r->key[1] = (uint32_t)(seed >> 32);
  r->ctr[0] = r->ctr[1] = 0;
  r->ctr[2] = (uint32_t)stream;
  r->ctr[3] = (uint32_t)(stream >> 32);
  r->avail = 0;
  r->has_spare = 0;
  r->spare = 0;
}

static uint32_t next32(tide_Rng *r) {
  if (r->avail == 0) {
    philox10(r->key, r->ctr, r->buf);
    if (++r->ctr[0] == 0) r->ctr[1]++;
    r->avail = 4;
  }
  return r->buf[4 - r->avail--];
}

uint64_t tide_rng_u64(tide_Rng *r) {
  uint64_t hi = next32(r);
  return (hi << 32) | next32(r);
}

double tide_rng_uniform(tide_Rng *r) {
  return (double)(tide_rng_u64(r) >> 11) * 0x1.0p-53;
}

double tide_rng_normal(tide_Rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  /* Marsaglia's polar method: exact normals, no trig calls. */
  double u, v, s;
  do {
    u = 2.0 * tide_rng_uniform(r) - 1.0;
    v = 2.0 * tide_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double m = sqrt(-2.0 * log(s) / s);
  r->spare = v * m;
  r->has_spare = 1;
  return u * m;
}

int64_t tide_rng_integer(tide_Rng *r, int64_t lo, int64_t hi) {
  uint64_t span = (uint64_t)hi - (uint64_t)lo + 1; /* 0 means the full 2^64 range */
  if (span == 0) return (int64_t)tide_rng_u64(r);
  /* Rejection from the largest multiple of span: no modulo bias. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % span, x;
  do x = tide_rng_u64(r); while (x >= limit);
  return (int64_t)((uint64_t)lo + x % span);
}

typedef struct FillCtx { tide_Rng *r; double a, b; int normal; int dt; } FillCtx;

static int fill_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  FillCtx *c = ud;
  unsigned char *d = p[0];
  for (int64_t i = 0; i < n; i++, d += st[0]) {
    double v = c->normal ? c->a + c->b * tide_rng_normal(c->r)
                         : c->a + (c->b - c->a) * tide_rng_uniform(c->r);
    tide_store_f64(c->dt, d, v);
  }
  return 0;
}

static int fill(tide_Rng *r, tide_Array *a, double x, double y, int normal) {
  if (a->flags & TIDE_AF_READONLY) return tide__seterr(TIDE_EREADONLY, "array is read-only");
  tide_storage_touch(a->storage);
  FillCtx c = {r, x, y, normal, a->dtype};
  unsigned char *base[1] = {a->data};
  const int64_t *st[1] = {a->strides};
  return tide_nditer(1, a->ndim, a->shape, base, st, fill_inner, &c);
}

int tide_rng_fill_uniform(tide_Rng *r, tide_Array *a, double lo, double hi) {
  return fill(r, a, lo, hi, 0);
}

int tide_rng_fill_normal(tide_Rng *r, tide_Array *a, double mu, double sigma) {
  return fill(r, a, mu, sigma, 1);
}
