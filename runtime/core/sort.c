/*
** sort.c -- sort, argsort, topk, unique, searchsorted, quantile and
** median.  See sort.h for the order and the results.
**
** Every dtype is sorted through 64-bit unsigned keys that order as numpy
** orders the values: a float's bits with the sign handled (negative
** numbers inverted, positive ones with the top bit set), NaN as the
** largest key, integers with the sign bit flipped.  Long lanes are sorted
** by an LSD radix sort of 11-bit digits (a digit that every key shares is
** skipped, so a 32-bit or 8-bit dtype costs 3 or 1 passes), short ones by
** a merge sort; both are stable.  Order statistics on long lanes select by
** radix: a histogram of the top 16 bits of the keys finds the bucket that
** holds the wanted rank, whose keys are then gathered and selected -- two
** passes over the data and no copy of it, where numpy copies and
** partitions.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sort.h"
#include "stats.h"

#define SIGN64 0x8000000000000000ull
#define KNAN UINT64_MAX /* every NaN's key */

/* ------------------------------------------------------------ keys */

static inline uint64_t fkey64(double x, bool canon) {
  if (x != x) return KNAN;
  if (canon && x == 0) x = 0.0;
  uint64_t b;
  memcpy(&b, &x, 8);
  return (b & SIGN64) ? ~b : b | SIGN64;
}

static inline uint64_t fkey32(float x, bool canon) {
  if (x != x) return KNAN;
  if (canon && x == 0) x = 0.0f;
  uint32_t b;
  memcpy(&b, &x, 4);
  return (b & 0x80000000u) ? (uint32_t)~b : b | 0x80000000u;
}

static inline double unkey64(uint64_t k) {
  if (k == KNAN) return NAN;
  uint64_t b = (k & SIGN64) ? k ^ SIGN64 : ~k;
  double x;
  memcpy(&x, &b, 8);
  return x;
}

static inline float unkey32(uint64_t k) {
  if (k == KNAN) return NAN;
  uint32_t c = (uint32_t)k, b = (c & 0x80000000u) ? c ^ 0x80000000u : ~c;
  float x;
  memcpy(&x, &b, 4);
  return x;
}

/* Keys of n elements at p (byte stride st).  canon: -0.0 keys as 0.0 (for
** positions; values keep their sign: -0.0 sorts just before 0.0).  desc:
** reversed order, NaN still last. */
static void encode(int dt, const unsigned char *p, int64_t n, int64_t st, bool canon, bool desc,
                   uint64_t *k) {
  switch (dt) {
    case TIDE_F64:
      if (st == 8) {
        const double *x = (const double *)p;
        for (int64_t i = 0; i < n; i++) k[i] = fkey64(x[i], canon);
      } else {
        for (int64_t i = 0; i < n; i++) k[i] = fkey64(*(const double *)(p + i * st), canon);
      }
      break;
    case TIDE_F32:
      for (int64_t i = 0; i < n; i++) k[i] = fkey32(*(const float *)(p + i * st), canon);
      break;
    case TIDE_I64:
      for (int64_t i = 0; i < n; i++) k[i] = (uint64_t)*(const int64_t *)(p + i * st) ^ SIGN64;
      break;
    case TIDE_I32:
      for (int64_t i = 0; i < n; i++)
        k[i] = (uint32_t)*(const int32_t *)(p + i * st) ^ 0x80000000u;
      break;
    case TIDE_I16:
      for (int64_t i = 0; i < n; i++)
        k[i] = (uint16_t)*(const int16_t *)(p + i * st) ^ 0x8000u;
      break;
    case TIDE_I8:
      for (int64_t i = 0; i < n; i++) k[i] = (uint8_t)*(const int8_t *)(p + i * st) ^ 0x80u;
      break;
    case TIDE_U64:
      for (int64_t i = 0; i < n; i++) k[i] = *(const uint64_t *)(p + i * st);
      break;
    case TIDE_U32:
      for (int64_t i = 0; i < n; i++) k[i] = *(const uint32_t *)(p + i * st);
      break;
    case TIDE_U16:
      for (int64_t i = 0; i < n; i++) k[i] = *(const uint16_t *)(p + i * st);
      break;
    case TIDE_U8:
      for (int64_t i = 0; i < n; i++) k[i] = p[i * st];
      break;
    default:
      for (int64_t i = 0; i < n; i++) k[i] = p[i * st] != 0;
      break;
  }
  if (desc) {
    if (tide_dtype_isfloat(dt)) {
      for (int64_t i = 0; i < n; i++) k[i] = k[i] == KNAN ? KNAN : ~k[i];
    } else {
      for (int64_t i = 0; i < n; i++) k[i] = ~k[i];
    }
  }
}

/* One key back to its element. */
static inline void decode1(int dt, bool desc, uint64_t k, unsigned char *o) {
  if (desc && !(tide_dtype_isfloat(dt) && k == KNAN)) k = ~k;
  switch (dt) {
    case TIDE_F64: *(double *)o = unkey64(k); break;
    case TIDE_F32: *(float *)o = unkey32(k); break;
    case TIDE_I64: *(int64_t *)o = (int64_t)(k ^ SIGN64); break;
    case TIDE_I32: *(int32_t *)o = (int32_t)((uint32_t)k ^ 0x80000000u); break;
    case TIDE_I16: *(int16_t *)o = (int16_t)((uint16_t)k ^ 0x8000u); break;
    case TIDE_I8: *(int8_t *)o = (int8_t)((uint8_t)k ^ 0x80u); break;
    case TIDE_U64: *(uint64_t *)o = k; break;
    case TIDE_U32: *(uint32_t *)o = (uint32_t)k; break;
    case TIDE_U16: *(uint16_t *)o = (uint16_t)k; break;
    default: *o = (uint8_t)k; break;
  }
}

static void decode(int dt, bool desc, const uint64_t *k, int64_t n, unsigned char *o, int64_t so) {
  if (dt == TIDE_F64 && !desc && so == 8) {
    double *x = (double *)o;
    for (int64_t i = 0; i < n; i++) x[i] = unkey64(k[i]);
    return;
  }
  for (int64_t i = 0; i < n; i++) decode1(dt, desc, k[i], o + i * so);
}

static inline double key_f64(int dt, uint64_t k) {
  unsigned char e[8];
  decode1(dt, false, k, e);
  return tide_load_f64(dt, e);
}

/* ------------------------------------------------------------ scratch */

/* Big scratch buffers come from mmap with transparent huge pages asked
** for: a radix pass writes to 2048 places at once, which 4 KB pages turn
** into TLB misses. */
#define BIG_SCRATCH ((size_t)4 << 20)

static void *scratch_new(size_t n, const char *what) {
  if (n == 0) n = 8;
  if (tide__admit_memory(n, what) != TIDE_OK) return NULL;
  if (n < BIG_SCRATCH) {
    void *p = tide__malloc(n);
    if (!p) tide__seterr(TIDE_ENOMEM, "out of memory for %s", what);
    return p;
  }
  void *p = tide__mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    tide__seterr(TIDE_ENOMEM, "out of memory for %s", what);
    return NULL;
  }
#ifdef MADV_HUGEPAGE
  madvise(p, n, MADV_HUGEPAGE);
#endif
  return p;
}

static void scratch_free(void *p, size_t n) {
  if (!p) return;
  if (n == 0) n = 8;
  if (n < BIG_SCRATCH) free(p);
  else munmap(p, n);
}

/* ------------------------------------------------------------ sorting */

#define RB 11
#define RN (1 << RB)
#define RM (RN - 1)
#define RP 6             /* 6 x 11 bits cover 64 */
#define RADIX_MIN 2048   /* shorter lanes: merge sort */
#define RUN 16           /* insertion-sorted runs of the merge sort */

/* Stable sorts of n keys k (with payloads p when HASP); kt and pt are
** scratch of n.  They return true when the result ended in kt / pt. */
#define SORTERS(SUF, PT, HASP)                                                \
  static bool radix_##SUF(uint64_t *k, uint64_t *kt, PT *p, PT *pt, int64_t n) { \
    int64_t h[RP][RN];                                                        \
    memset(h, 0, sizeof h);                                                   \
    for (int64_t i = 0; i < n; i++) {                                         \
      uint64_t x = k[i];                                                      \
      h[0][x & RM]++;                                                         \
      h[1][(x >> 11) & RM]++;                                                 \
      h[2][(x >> 22) & RM]++;                                                 \
      h[3][(x >> 33) & RM]++;                                                 \
      h[4][(x >> 44) & RM]++;                                                 \
      h[5][x >> 55]++;                                                        \
    }                                                                         \
    bool swapped = false;                                                     \
    for (int ps = 0; ps < RP; ps++) {                                         \
      int sh = ps * RB;                                                       \
      int64_t *c = h[ps];                                                     \
      if (c[(k[0] >> sh) & RM] == n) continue; /* a digit all keys share */   \
      int64_t off = 0;                                                        \
      for (int b = 0; b < RN; b++) {                                          \
        int64_t t = c[b];                                                     \
        c[b] = off;                                                           \
        off += t;                                                             \
      }                                                                       \
      for (int64_t i = 0; i < n; i++) {                                       \
        uint64_t x = k[i];                                                    \
        int64_t pos = c[(x >> sh) & RM]++;                                    \
        kt[pos] = x;                                                          \
        if (HASP) pt[pos] = p[i];                                             \
      }                                                                       \
      uint64_t *tk = k; k = kt; kt = tk;                                      \
      PT *tp = p; p = pt; pt = tp;                                            \
      swapped = !swapped;                                                     \
    }                                                                         \
    return swapped;                                                           \
  }                                                                           \
  static bool merge_##SUF(uint64_t *k, uint64_t *kt, PT *p, PT *pt, int64_t n) { \
    for (int64_t s = 0; s < n; s += RUN) {                                    \
      int64_t e = s + RUN < n ? s + RUN : n;                                  \
      for (int64_t i = s + 1; i < e; i++) {                                   \
        uint64_t x = k[i];                                                    \
        PT y = HASP ? p[i] : 0;                                               \
        int64_t j = i;                                                        \
        for (; j > s && k[j - 1] > x; j--) {                                  \
          k[j] = k[j - 1];                                                    \
          if (HASP) p[j] = p[j - 1];                                          \
        }                                                                     \
        k[j] = x;                                                             \
        if (HASP) p[j] = y;                                                   \
      }                                                                       \
    }                                                                         \
    bool swapped = false;                                                     \
    for (int64_t w = RUN; w < n; w *= 2) {                                    \
      for (int64_t s = 0; s < n; s += 2 * w) {                                \
        int64_t m = s + w < n ? s + w : n, e = s + 2 * w < n ? s + 2 * w : n; \
        int64_t i = s, j = m, o = s;                                          \
        while (i < m && j < e) {                                              \
          if (k[j] < k[i]) { /* equal keys: the left one first */            \
            kt[o] = k[j];                                                     \
            if (HASP) pt[o] = p[j];                                           \
            o++, j++;                                                         \
          } else {                                                            \
            kt[o] = k[i];                                                     \
            if (HASP) pt[o] = p[i];                                           \
            o++, i++;                                                         \
          }                                                                   \
        }                                                                     \
        for (; i < m; i++, o++) {                                             \
          kt[o] = k[i];                                                       \
          if (HASP) pt[o] = p[i];                                             \
        }                                                                     \
        for (; j < e; j++, o++) {                                             \
          kt[o] = k[j];                                                       \
          if (HASP) pt[o] = p[j];                                             \
        }                                                                     \
      }                                                                       \
      uint64_t *tk = k; k = kt; kt = tk;                                      \
      PT *tp = p; p = pt; pt = tp;                                            \
      swapped = !swapped;                                                     \
    }                                                                         \
    return swapped;                                                           \
  }                                                                           \
  static bool sort_##SUF(uint64_t *k, uint64_t *kt, PT *p, PT *pt, int64_t n) { \
    if (n < 2) return false;                                                  \
    return n < RADIX_MIN ? merge_##SUF(k, kt, p, pt, n) : radix_##SUF(k, kt, p, pt, n); \
  }

SORTERS(k, uint32_t, 0)
SORTERS(p32, uint32_t, 1)
SORTERS(p64, uint64_t, 1)

/* For psort.c: the keys and the sorters, without statics. */
void tide__sort_encode(int dt, const unsigned char *p, int64_t n, int64_t st, bool canon,
                       bool desc, uint64_t *k) {
  encode(dt, p, n, st, canon, desc, k);
}

void tide__sort_decode(int dt, bool desc, const uint64_t *k, int64_t n, unsigned char *o,
                       int64_t so) {
  decode(dt, desc, k, n, o, so);
}

bool tide__sort_keys(uint64_t *k, uint64_t *kt, uint64_t *p, uint64_t *pt, int64_t n) {
  return p ? sort_p64(k, kt, p, pt, n) : sort_k(k, kt, NULL, NULL, n);
}

/* Sorts keys with positions 0..n-1 as payload (p32 when n fits in 32
** bits, else p64); *kres / *pres get where the results ended. */
typedef struct Bufs {
  uint64_t *k, *kt;  /* keys and scratch */
  void *p, *pt;      /* positions and scratch (NULL: keys only) */
  bool wide;         /* 64-bit positions */
  size_t kbytes, pbytes;
  bool k_borrowed;   /* k is the caller's (an output's memory) */
} Bufs;

static int bufs_new(Bufs *b, int64_t n, bool positions, uint64_t *borrow) {
  memset(b, 0, sizeof *b);
  b->kbytes = (size_t)n * 8;
  b->wide = n > (int64_t)UINT32_MAX;
  b->pbytes = (size_t)n * (b->wide ? 8 : 4);
  b->k_borrowed = borrow != NULL;
  b->k = borrow ? borrow : scratch_new(b->kbytes, "sorting");
  b->kt = b->k ? scratch_new(b->kbytes, "sorting") : NULL;
  if (!b->k || !b->kt) goto fail;
  if (positions) {
    b->p = scratch_new(b->pbytes, "sorting");
    b->pt = b->p ? scratch_new(b->pbytes, "sorting") : NULL;
    if (!b->p || !b->pt) goto fail;
  }
  return TIDE_OK;
fail:
  if (b->k && !b->k_borrowed) scratch_free(b->k, b->kbytes);
  scratch_free(b->kt, b->kbytes);
  scratch_free(b->p, b->pbytes);
  return TIDE_ENOMEM;
}

static void bufs_free(Bufs *b) {
  if (!b->k_borrowed) scratch_free(b->k, b->kbytes);
  scratch_free(b->kt, b->kbytes);
  scratch_free(b->p, b->pbytes);
  scratch_free(b->pt, b->pbytes);
}

/* Sorts the first n keys of b (with positions 0..n-1 when b has them);
** *k and *p point to the results. */
static void sort_bufs(Bufs *b, int64_t n, uint64_t **k, void **p) {
  bool sw;
  if (!b->p) {
    sw = sort_k(b->k, b->kt, NULL, NULL, n);
  } else if (b->wide) {
    uint64_t *q = b->p;
    for (int64_t i = 0; i < n; i++) q[i] = (uint64_t)i;
    sw = sort_p64(b->k, b->kt, b->p, b->pt, n);
  } else {
    uint32_t *q = b->p;
    for (int64_t i = 0; i < n; i++) q[i] = (uint32_t)i;
    sw = sort_p32(b->k, b->kt, b->p, b->pt, n);
  }
  *k = sw ? b->kt : b->k;
  *p = sw ? b->pt : b->p;
}

static inline int64_t pos_at(const Bufs *b, const void *p, int64_t i) {
  return b->wide ? (int64_t)((const uint64_t *)p)[i] : (int64_t)((const uint32_t *)p)[i];
}

/* Address of lane k (numbered in C order of the dimensions but dim). */
static unsigned char *lane_at(const tide_Array *o, int dim, int64_t k) {
  unsigned char *p = o->data;
  for (int d = o->ndim - 1; d >= 0; d--) {
    if (d == dim) continue;
    int64_t s = o->shape[d];
    p += (k % s) * o->strides[d];
    k /= s;
  }
  return p;
}

static int check_open_dim(const tide_Array *a, int dim) {
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (dim < 0 || dim >= a->ndim)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, a->ndim);
  return TIDE_OK;
}

typedef struct SortCtx {
  int dt;
  bool desc, arg;
  int64_t base, k; /* k: topk's count (0: the whole lane) */
  int dim;
  tide_Array *out, *idx;
  Bufs b;
} SortCtx;

static int sort_lane(const unsigned char *p, int64_t n, int64_t st, int64_t lane, void *ud) {
  SortCtx *c = ud;
  encode(c->dt, p, n, st, c->arg, c->desc, c->b.k);
  uint64_t *k;
  void *pos;
  sort_bufs(&c->b, n, &k, &pos);
  int64_t m = c->k ? c->k : n;
  if (c->out) {
    unsigned char *o = lane_at(c->out, c->dim, lane);
    decode(c->dt, c->desc, k, m, o, c->out->strides[c->dim]);
  }
  if (c->idx) {
    unsigned char *o = lane_at(c->idx, c->dim, lane);
    int64_t so = c->idx->strides[c->dim];
    for (int64_t i = 0; i < m; i++) *(int64_t *)(o + i * so) = pos_at(&c->b, pos, i) + c->base;
  }
  return 0;
}

/* Lanes of a along dim, each sorted into out (values) and/or idx. */
static int sort_lanes(const tide_Array *a, int dim, bool desc, int64_t base, int64_t k,
                      tide_Array *out, tide_Array *idx) {
  SortCtx c = {a->dtype, desc, idx != NULL, base, k, dim, out, idx, {0}};
  int64_t n = a->shape[dim], lanes = tide_array_size(a) / (n ? n : 1);
  if (n == 0 || lanes == 0) return TIDE_OK;
  /* One lane (a vector): the keys can live in the result's own memory. */
  uint64_t *borrow = NULL;
  if (lanes == 1 && !k) {
    tide_Array *r = idx ? idx : out;
    if (tide_dtype_size(r->dtype) == 8 && tide_array_is_c_contiguous(r)) borrow = (uint64_t *)r->data;
  }
  if (bufs_new(&c.b, n, idx != NULL, borrow)) return TIDE_ENOMEM;
  int rc = tide__lanes(a, dim, sort_lane, &c);
  bufs_free(&c.b);
  return rc;
}

int tide_sort(const tide_Array *a, int dim, bool desc, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int rc = check_open_dim(a, dim);
  if (rc) return rc;
  if ((rc = tide_array_new(out, a->dtype, a->ndim, a->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    return rc;
  if ((rc = sort_lanes(a, dim, desc, 0, 0, out, NULL))) tide_array_close(out);
  return rc;
}

int tide_argsort(const tide_Array *a, int dim, bool desc, int64_t base, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int rc = check_open_dim(a, dim);
  if (rc) return rc;
  if ((rc = tide_array_new(out, TIDE_I64, a->ndim, a->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    return rc;
  if ((rc = sort_lanes(a, dim, desc, base, 0, NULL, out))) tide_array_close(out);
  return rc;
}

/* ------------------------------------------------------------ topk */

/* (key, position) pairs ordered by key, then position: the order of a
** stable sort. */
typedef struct Pair {
  uint64_t k;
  int64_t i;
} Pair;

static inline bool pair_lt(Pair a, Pair b) { return a.k < b.k || (a.k == b.k && a.i < b.i); }

static void heap_down(Pair *h, int64_t n, int64_t i) { /* a max-heap */
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && pair_lt(h[m], h[l])) m = l;
    if (r < n && pair_lt(h[m], h[r])) m = r;
    if (m == i) return;
    Pair t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

typedef struct TopCtx {
  int dt, dim;
  bool desc;
  int64_t k, base;
  tide_Array *vals, *idx;
  Pair *heap;
  uint64_t *chunk;
} TopCtx;

#define TOP_CHUNK 1024

static int top_lane(const unsigned char *p, int64_t n, int64_t st, int64_t lane, void *ud) {
  TopCtx *c = ud;
  int64_t k = c->k, m = 0;
  Pair *h = c->heap;
  for (int64_t i0 = 0; i0 < n; i0 += TOP_CHUNK) {
    int64_t len = n - i0 < TOP_CHUNK ? n - i0 : TOP_CHUNK;
    encode(c->dt, p + i0 * st, len, st, true, c->desc, c->chunk);
    for (int64_t j = 0; j < len; j++) {
      Pair x = {c->chunk[j], i0 + j};
      if (m < k) {
        h[m++] = x;
        if (m == k)
          for (int64_t s = k / 2 - 1; s >= 0; s--) heap_down(h, k, s);
      } else if (pair_lt(x, h[0])) {
        h[0] = x;
        heap_down(h, k, 0);
      }
    }
  }
  /* heap sort: the largest to the end */
  for (int64_t e = k - 1; e > 0; e--) {
    Pair t = h[0];
    h[0] = h[e];
    h[e] = t;
    heap_down(h, e, 0);
  }
  unsigned char *ov = lane_at(c->vals, c->dim, lane), *oi = lane_at(c->idx, c->dim, lane);
  int64_t sv = c->vals->strides[c->dim], si = c->idx->strides[c->dim];
  for (int64_t i = 0; i < k; i++) {
    /* the value itself, not the key: -0.0 keeps its sign */
    const unsigned char *src = p + h[i].i * st;
    memcpy(ov + i * sv, src, (size_t)tide_dtype_size(c->dt));
    *(int64_t *)(oi + i * si) = h[i].i + c->base;
  }
  return 0;
}

int tide_topk(const tide_Array *a, int64_t k, int dim, bool largest, int64_t base,
              tide_Array *vals, tide_Array *idx) {
  memset(vals, 0, sizeof *vals);
  memset(idx, 0, sizeof *idx);
  int rc = check_open_dim(a, dim);
  if (rc) return rc;
  if (k < 0 || k > a->shape[dim])
    return tide__seterr(TIDE_ERANGE, "k = %" PRId64 " is outside 0..%" PRId64
                        " (the size of dimension %d)", k, a->shape[dim], dim + 1);
  int64_t shape[TIDE_MAXDIM];
  memcpy(shape, a->shape, sizeof shape);
  shape[dim] = k;
  if ((rc = tide_array_new(vals, a->dtype, a->ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT)))
    return rc;
  if ((rc = tide_array_new(idx, TIDE_I64, a->ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT))) {
    tide_array_close(vals);
    return rc;
  }
  if (k == 0 || tide_array_size(vals) == 0) return TIDE_OK;
  int64_t n = a->shape[dim];
  if (k * 4 > n) { /* a good part of the lane: sort it all */
    rc = sort_lanes(a, dim, largest, base, k, NULL, idx);
    if (!rc) { /* values from the positions: -0.0 keeps its sign */
      int64_t lanes = tide_array_size(idx) / k;
      for (int64_t l = 0; l < lanes && !rc; l++) {
        unsigned char *oi = lane_at(idx, dim, l), *ov = lane_at(vals, dim, l);
        const unsigned char *src = lane_at(a, dim, l);
        for (int64_t i = 0; i < k; i++) {
          int64_t j = *(int64_t *)(oi + i * idx->strides[dim]) - base;
          memcpy(ov + i * vals->strides[dim], src + j * a->strides[dim],
                 (size_t)tide_dtype_size(a->dtype));
        }
      }
    }
  } else {
    TopCtx c = {a->dtype, dim, largest, k, base, vals, idx, NULL, NULL};
    c.heap = tide__malloc((size_t)k * sizeof *c.heap);
    c.chunk = tide__malloc(TOP_CHUNK * sizeof *c.chunk);
    rc = c.heap && c.chunk ? tide__lanes(a, dim, top_lane, &c)
                           : tide__seterr(TIDE_ENOMEM, "out of memory in topk");
    free(c.heap);
    free(c.chunk);
  }
  if (rc) {
    tide_array_close(vals);
    tide_array_close(idx);
  }
  return rc;
}

/* ------------------------------------------------------------ unique */

typedef struct UniqCtx {
  int64_t base;
  tide_Array *vals, *counts, *inverse;
  const tide_Array *a;
  int rc;
} UniqCtx;

static int uniq_lane(const unsigned char *p, int64_t n, int64_t st, int64_t lane, void *ud) {
  UniqCtx *c = ud;
  int dt = c->a->dtype, isz = tide_dtype_size(dt);
  (void)lane;
  Bufs b;
  if (bufs_new(&b, n, true, NULL)) return TIDE_ENOMEM;
  encode(dt, p, n, st, true, false, b.k);
  uint64_t *k;
  void *pos;
  sort_bufs(&b, n, &k, &pos);
  int64_t m = 0; /* distinct values */
  for (int64_t i = 0; i < n; i++) m += i == 0 || k[i] != k[i - 1];
  int rc = tide_array_new(c->vals, dt, 1, &m, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (!rc && c->counts) rc = tide_array_new(c->counts, TIDE_I64, 1, &m, TIDE_WHERE_AUTO);
  if (!rc && c->inverse) rc = tide_array_new(c->inverse, TIDE_I64, 1, &n, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (!rc) {
    int64_t u = -1;
    for (int64_t i = 0; i < n; i++) {
      int64_t j = pos_at(&b, pos, i);
      if (i == 0 || k[i] != k[i - 1]) { /* a run's first: the first occurrence (stable) */
        u++;
        memcpy(c->vals->data + u * isz, p + j * st, (size_t)isz);
      }
      if (c->counts) ((int64_t *)c->counts->data)[u]++;
      if (c->inverse) ((int64_t *)c->inverse->data)[j] = u + c->base;
    }
  }
  bufs_free(&b);
  return rc;
}

int tide_unique(const tide_Array *a, int64_t base, tide_Array *vals, tide_Array *counts,
                tide_Array *inverse) {
  memset(vals, 0, sizeof *vals);
  if (counts) memset(counts, 0, sizeof *counts);
  if (inverse) memset(inverse, 0, sizeof *inverse);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  UniqCtx c = {base, vals, counts, inverse, a, 0};
  int rc;
  if (tide_array_size(a) == 0) {
    int64_t z = 0;
    rc = tide_array_new(vals, a->dtype, 1, &z, TIDE_WHERE_AUTO);
    if (!rc && counts) rc = tide_array_new(counts, TIDE_I64, 1, &z, TIDE_WHERE_AUTO);
    if (!rc && inverse) rc = tide_array_new(inverse, TIDE_I64, 1, &z, TIDE_WHERE_AUTO);
  } else {
    rc = tide__lanes(a, -1, uniq_lane, &c);
  }
  if (rc) {
    tide_array_close(vals);
    if (counts) tide_array_close(counts);
    if (inverse) tide_array_close(inverse);
  }
  return rc;
}

/* ------------------------------------------------------------ searchsorted */

typedef struct Search {
  const tide_Array *s;
  bool right, asf; /* compare as doubles (either side float, or u64 with a
                      signed dtype), else as u64 (both unsigned) or i64 */
  bool asu;
  int64_t base, n;
} Search;

static inline uint64_t cmpkey(const Search *q, int dt, const unsigned char *p) {
  if (q->asf) return fkey64(tide_load_f64(dt, p), true);
  if (q->asu) return (uint64_t)tide_load_i64(dt, p); /* a u64's bits, the others' values */
  return (uint64_t)tide_load_i64(dt, p) ^ SIGN64;
}

static int64_t search1(const Search *q, uint64_t kv) {
  int64_t lo = 0, hi = q->n;
  const tide_Array *s = q->s;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    uint64_t km = cmpkey(q, s->dtype, s->data + mid * s->strides[0]);
    if (q->right ? km <= kv : km < kv) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int tide_searchsorted(const tide_Array *s, const tide_Array *v, bool right, int64_t base,
                      tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!s->storage || !v->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (s->ndim != 1)
    return tide__seterr(TIDE_ESHAPE, "searchsorted needs a sorted 1-D array, not a "
                        "%d-dimensional one", s->ndim);
  int pt = tide_promote(s->dtype, v->dtype);
  bool asu = tide_dtype_isunsigned(s->dtype) && tide_dtype_isunsigned(v->dtype);
  Search q = {s, right, tide_dtype_isfloat(pt), asu, base, s->shape[0]};
  int rc = tide_array_new(out, TIDE_I64, v->ndim, v->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return rc;
  int64_t n = tide_array_size(v);
  if (n == 0) return TIDE_OK;
  tide_Array c = {0};
  const tide_Array *vv = v;
  if (!tide_array_is_c_contiguous(v)) {
    if ((rc = tide_array_copy(v, -1, &c))) {
      tide_array_close(out);
      return rc;
    }
    vv = &c;
  }
  int isz = tide_dtype_size(v->dtype);
  int64_t *o = (int64_t *)out->data;
  for (int64_t i = 0; i < n; i++) o[i] = search1(&q, cmpkey(&q, v->dtype, vv->data + i * isz)) + base;
  tide_array_close(&c);
  return TIDE_OK;
}

/* ------------------------------------------------------------ selection */

/* The r-th smallest of n keys (0-based), rearranging k: Hoare partitions
** around a median of three, a sort when they stop shrinking. */
static uint64_t kth_key(uint64_t *k, int64_t n, int64_t r) {
  int64_t lo = 0, hi = n - 1, rounds = 0;
  while (hi > lo) {
    if (hi - lo < 32 || ++rounds > 64) {
      uint64_t *t = tide__malloc((size_t)(hi - lo + 1) * 8);
      if (t) {
        bool sw = sort_k(k + lo, t, NULL, NULL, hi - lo + 1);
        if (sw) memcpy(k + lo, t, (size_t)(hi - lo + 1) * 8);
        free(t);
        return k[r];
      }
    }
    int64_t mid = lo + (hi - lo) / 2;
    uint64_t a = k[lo], b = k[mid], c = k[hi];
    uint64_t piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
    int64_t i = lo - 1, j = hi + 1;
    for (;;) {
      do i++; while (k[i] < piv);
      do j--; while (k[j] > piv);
      if (i >= j) break;
      uint64_t t = k[i];
      k[i] = k[j];
      k[j] = t;
    }
    if (r <= j) hi = j;
    else lo = j + 1;
  }
  return k[r];
}

#define SEL_MIN (1 << 16) /* shorter lanes: keys copied and sorted */
#define MAXRANKS 16       /* ranks selected in one pass (quantiles x 2) */
#define SEL_BITS 16
#define SEL_CHUNK 2048

typedef struct Lane {
  const unsigned char *p;
  int64_t n, st;
  int dt;
} Lane;

/* Histogram of bits [sh, sh + 16) of the keys whose bits above sh + 16
** equal pre (all keys when sh == 48), and the count of NaN keys. */
static void lane_hist(const Lane *l, int sh, uint64_t pre, int64_t *h, int64_t *nnan) {
  uint64_t buf[SEL_CHUNK];
  int hs = sh + SEL_BITS;
  int64_t nn = 0;
  memset(h, 0, sizeof(int64_t) << SEL_BITS);
  for (int64_t i0 = 0; i0 < l->n; i0 += SEL_CHUNK) {
    int64_t m = l->n - i0 < SEL_CHUNK ? l->n - i0 : SEL_CHUNK;
    encode(l->dt, l->p + i0 * l->st, m, l->st, true, false, buf);
    if (hs >= 64) {
      for (int64_t j = 0; j < m; j++) {
        nn += buf[j] == KNAN;
        h[buf[j] >> sh]++;
      }
    } else {
      for (int64_t j = 0; j < m; j++)
        if ((buf[j] >> hs) == pre) h[(buf[j] >> sh) & 0xffff]++;
    }
  }
  if (nnan) *nnan = nn;
}

/* The keys whose bits from sh up equal pre, gathered into out. */
static int64_t lane_gather(const Lane *l, int sh, uint64_t pre, uint64_t *out) {
  uint64_t buf[SEL_CHUNK];
  int64_t c = 0;
  for (int64_t i0 = 0; i0 < l->n; i0 += SEL_CHUNK) {
    int64_t m = l->n - i0 < SEL_CHUNK ? l->n - i0 : SEL_CHUNK;
    encode(l->dt, l->p + i0 * l->st, m, l->st, true, false, buf);
    for (int64_t j = 0; j < m; j++)
      if ((buf[j] >> sh) == pre) out[c++] = buf[j];
  }
  return c;
}

/* The key of rank r (0-based) of a long lane, when its top-16-bit bucket
** is too big to gather: the next 16 bits level by level (one pass each)
** until the bucket is small enough, then select among the gathered keys.
** h holds the top level's histogram on entry and is scratch after. */
static int lane_select_deep(const Lane *l, int64_t r, int64_t *h, uint64_t *key) {
  uint64_t pre = 0;
  for (int sh = 64 - SEL_BITS; sh >= 0; sh -= SEL_BITS) {
    if (sh != 64 - SEL_BITS) lane_hist(l, sh, pre, h, NULL);
    int64_t cum = 0, b = 0;
    for (; b < (1 << SEL_BITS); b++) {
      if (cum + h[b] > r) break;
      cum += h[b];
    }
    r -= cum;
    pre = (pre << SEL_BITS) | (uint64_t)b;
    int64_t total = h[b];
    if (sh == 0) break;
    if (total <= l->n / 8 || total <= SEL_MIN) {
      uint64_t *g = tide__malloc((size_t)(total ? total : 1) * 8);
      if (!g) return tide__seterr(TIDE_ENOMEM, "out of memory selecting a quantile");
      lane_gather(l, sh, pre, g);
      *key = kth_key(g, total, r);
      free(g);
      return TIDE_OK;
    }
  }
  *key = pre; /* every bit decided */
  return TIDE_OK;
}

/* The keys of ranks[0..nr) (ascending) of a long lane whose top-16-bit
** histogram is in h: the keys of the buckets holding them are gathered in
** one pass and selected there; a bucket too big to gather goes deeper
** (lane_select_deep).  out[i] gets the key of ranks[i]. */
static int lane_select(const Lane *l, const int64_t *ranks, int nr, int64_t *h, uint64_t *out) {
  int64_t bk[MAXRANKS], cum[MAXRANKS], lim = l->n / 8 > SEL_MIN ? l->n / 8 : SEL_MIN;
  int64_t acc = 0;
  int j = 0;
  for (int64_t b = 0; b < (1 << SEL_BITS) && j < nr; b++) {
    while (j < nr && ranks[j] < acc + h[b]) {
      bk[j] = b;
      cum[j] = acc;
      j++;
    }
    acc += h[b];
  }
  /* buckets to gather (small ones), in order, and the keys before each in
  ** the gathered buffer */
  int64_t gb[MAXRANKS], before[MAXRANKS], total = 0;
  int ng = 0;
  for (int i = 0; i < nr; i++)
    if (h[bk[i]] <= lim && (ng == 0 || gb[ng - 1] != bk[i])) {
      before[ng] = total;
      total += h[bk[i]];
      gb[ng++] = bk[i];
    }
  uint64_t *g = NULL;
  if (ng) {
    g = tide__malloc((size_t)(total ? total : 1) * 8);
    if (!g) return tide__seterr(TIDE_ENOMEM, "out of memory selecting a quantile");
    uint64_t buf[SEL_CHUNK];
    int64_t fill[MAXRANKS];
    memcpy(fill, before, sizeof fill);
    for (int64_t i0 = 0; i0 < l->n; i0 += SEL_CHUNK) {
      int64_t m = l->n - i0 < SEL_CHUNK ? l->n - i0 : SEL_CHUNK;
      encode(l->dt, l->p + i0 * l->st, m, l->st, true, false, buf);
      for (int64_t t = 0; t < m; t++) {
        int64_t b = (int64_t)(buf[t] >> 48);
        for (int q = 0; q < ng; q++)
          if (gb[q] == b) {
            g[fill[q]++] = buf[t];
            break;
          }
      }
    }
  }
  int rc = TIDE_OK;
  for (int i = 0; i < nr && !rc; i++) {
    int q = 0;
    while (q < ng && gb[q] != bk[i]) q++;
    if (q < ng) /* within its bucket's stretch of g */
      out[i] = kth_key(g + before[q], h[bk[i]], ranks[i] - cum[i]);
    else
      rc = lane_select_deep(l, ranks[i], h, &out[i]);
    if (!rc && q == ng) lane_hist(l, 48, 0, h, NULL); /* deep selection used h */
  }
  free(g);
  return rc;
}

/* ------------------------------------------------------------ quantile */

static const char *const qnames[TIDE_NQMETHODS] = {
  "linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf", "averaged_inverted_cdf",
  "closest_observation", "interpolated_inverted_cdf", "hazen", "weibull", "median_unbiased",
  "normal_unbiased"};

int tide_qmethod_parse(const char *s) {
  for (int i = 0; i < TIDE_NQMETHODS; i++)
    if (strcmp(s, qnames[i]) == 0) return i;
  return -1;
}

const char *tide_qmethod_name(int m) { return m >= 0 && m < TIDE_NQMETHODS ? qnames[m] : "?"; }

/* numpy's _compute_virtual_index */
static double vindex(int64_t n, double q, double alpha, double beta) {
  return (double)n * q + (alpha + q * (1 - alpha - beta)) - 1;
}

/* numpy's _discret_interpolation_to_boundaries */
static int64_t discrete_index(double idx, bool closest) {
  double prev = floor(idx), gamma = idx - prev;
  bool take_prev = gamma == 0;
  if (closest) take_prev = take_prev && fmod(fabs(prev), 2) == 0;
  int64_t r = (int64_t)(take_prev ? prev : prev + 1);
  return r < 0 ? 0 : r;
}

/* Where quantile q of n sorted values lies: ranks i0 <= i1 and the weight
** g of the second (numpy's _quantile); *exact: one element, no blending. */
static void qplace(int method, int64_t n, double q, int64_t *i0, int64_t *i1, double *g,
                   bool *exact) {
  double v;
  *exact = false;
  switch (method) {
    case TIDE_Q_LOWER: *i0 = (int64_t)floor((double)(n - 1) * q); *exact = true; break;
    case TIDE_Q_HIGHER: *i0 = (int64_t)ceil((double)(n - 1) * q); *exact = true; break;
    case TIDE_Q_NEAREST: *i0 = (int64_t)nearbyint((double)(n - 1) * q); *exact = true; break;
    case TIDE_Q_INVERTED_CDF: *i0 = discrete_index((double)n * q - 1, false); *exact = true; break;
    case TIDE_Q_CLOSEST_OBSERVATION:
      *i0 = discrete_index((double)n * q - 1 - 0.5, true);
      *exact = true;
      break;
    default: break;
  }
  if (*exact) {
    if (*i0 > n - 1) *i0 = n - 1;
    *i1 = *i0;
    *g = 0;
    return;
  }
  switch (method) {
    case TIDE_Q_AVERAGED_INVERTED_CDF: v = (double)n * q - 1; break;
    case TIDE_Q_INTERPOLATED_INVERTED_CDF: v = vindex(n, q, 0, 1); break;
    case TIDE_Q_HAZEN: v = vindex(n, q, 0.5, 0.5); break;
    case TIDE_Q_WEIBULL: v = vindex(n, q, 0, 0); break;
    case TIDE_Q_MEDIAN_UNBIASED: v = vindex(n, q, 1 / 3.0, 1 / 3.0); break;
    case TIDE_Q_NORMAL_UNBIASED: v = vindex(n, q, 3 / 8.0, 3 / 8.0); break;
    case TIDE_Q_MIDPOINT:
      v = 0.5 * (floor((double)(n - 1) * q) + ceil((double)(n - 1) * q));
      break;
    default: v = (double)(n - 1) * q; break; /* linear */
  }
  /* numpy's _get_indexes: past the last value both are the last, before
  ** the first both the first; the weight is taken from the index so set
  ** (-1 stands for the last) */
  double prev = floor(v), pidx = prev;
  *i0 = (int64_t)prev;
  *i1 = *i0 + 1;
  if (v >= (double)(n - 1)) {
    *i0 = *i1 = n - 1;
    pidx = -1;
  }
  if (v < 0) {
    *i0 = *i1 = 0;
    pidx = 0;
  }
  double gamma = v - pidx;
  if (method == TIDE_Q_AVERAGED_INVERTED_CDF) gamma = gamma == 0 ? 0.5 : 1.0;
  if (method == TIDE_Q_MIDPOINT) gamma = fmod(v, 1.0) == 0 ? 0 : 0.5;
  *g = gamma;
}

/* numpy's _lerp(a, b, t) on the values of ranks i0 and i1, with the
** difference taken in the input's dtype as numpy takes it. */
static double qlerp(int dt, uint64_t ka, uint64_t kb, double t) {
  double a = key_f64(dt, ka), b = key_f64(dt, kb), diff;
  if (dt == TIDE_F32) {
    diff = (double)(unkey32(kb) - unkey32(ka));
  } else if (!tide_dtype_isfloat(dt)) {
    unsigned char ea[8], eb[8];
    decode1(dt, false, ka, ea);
    decode1(dt, false, kb, eb);
    uint64_t d = (uint64_t)tide_load_i64(dt, eb) - (uint64_t)tide_load_i64(dt, ea);
    diff = dt == TIDE_U64 ? (double)d : (double)(int64_t)d;
  } else {
    diff = b - a;
  }
  double r = a + diff * t;
  if (t >= 0.5) r = b - diff * (1 - t);
  return r;
}

typedef struct QCtx {
  int dt, method, odt;
  bool skipnan, median;
  const double *q;
  int64_t nq, nlanes;
  tide_Array *out;
  int64_t *h;       /* 2^16 counts (long lanes) */
  uint64_t *keys;   /* scratch for short lanes */
  uint64_t *kt;
} QCtx;

static void q_store(QCtx *c, int64_t qi, int64_t lane, double v, const uint64_t *ekey) {
  unsigned char *o = c->out->data + (qi * c->nlanes + lane) * tide_dtype_size(c->odt);
  if (ekey) decode1(c->dt, false, *ekey, o); /* an element, in a's dtype */
  else tide_store_f64(c->odt, o, v);
}

/* Quantile qi of a lane from the keys of its two ranks. */
static void q_result(QCtx *c, int64_t qi, int64_t lane, uint64_t k0, uint64_t k1, double g,
                     bool exact) {
  if (c->median) q_store(c, qi, lane, (key_f64(c->dt, k0) + key_f64(c->dt, k1)) / 2, NULL);
  else if (exact) q_store(c, qi, lane, 0, &k0);
  else q_store(c, qi, lane, qlerp(c->dt, k0, k1, g), NULL);
}

static int q_lane(const unsigned char *p, int64_t n, int64_t st, int64_t lane, void *ud) {
  QCtx *c = ud;
  Lane l = {p, n, st, c->dt};
  bool isf = tide_dtype_isfloat(c->dt);
  int64_t nnan = 0;
  uint64_t *sorted = NULL;
  if (c->keys) { /* copy and sort the keys */
    encode(c->dt, p, n, st, true, false, c->keys);
    bool sw = sort_k(c->keys, c->kt, NULL, NULL, n);
    sorted = sw ? c->kt : c->keys;
    if (isf)
      while (nnan < n && sorted[n - 1 - nnan] == KNAN) nnan++;
  } else {
    lane_hist(&l, 48, 0, c->h, &nnan); /* the top level of the selection too */
  }
  int64_t m = c->skipnan ? n - nnan : n;
  if ((nnan && !c->skipnan) || m == 0) {
    for (int64_t qi = 0; qi < c->nq; qi++) {
      uint64_t kn = KNAN;
      q_store(c, qi, lane, NAN, c->odt == c->dt && isf ? &kn : NULL);
    }
    return 0;
  }
  /* where each quantile lies, then the keys of those ranks (a long lane
  ** has at most MAXRANKS / 2 quantiles: more go the sorted way) */
  int64_t i0[MAXRANKS / 2], i1[MAXRANKS / 2];
  double g[MAXRANKS / 2];
  bool exact[MAXRANKS / 2];
  uint64_t k0[MAXRANKS / 2], k1[MAXRANKS / 2];
  for (int64_t qj = 0; qj < c->nq; qj++) {
    int64_t qi = sorted ? 0 : qj; /* sorted: one at a time */
    if (c->median) {
      i0[qi] = (m - 1) / 2, i1[qi] = m / 2, g[qi] = 0, exact[qi] = false;
    } else {
      qplace(c->method, m, c->q[qj], &i0[qi], &i1[qi], &g[qi], &exact[qi]);
    }
    if (sorted) {
      k0[0] = sorted[i0[0]], k1[0] = sorted[i1[0]];
      q_result(c, qj, lane, k0[0], k1[0], g[0], exact[0]);
    }
  }
  if (sorted) return 0;
  { /* long lane, few quantiles (nq <= MAXRANKS / 2): one gathering pass */
    int64_t ranks[MAXRANKS];
    uint64_t keys[MAXRANKS];
    int nr = 0;
    for (int64_t qi = 0; qi < c->nq; qi++) {
      ranks[nr++] = i0[qi];
      ranks[nr++] = i1[qi];
    }
    for (int a = 1; a < nr; a++) /* sort, drop repeats */
      for (int b = a; b > 0 && ranks[b - 1] > ranks[b]; b--) {
        int64_t t = ranks[b];
        ranks[b] = ranks[b - 1];
        ranks[b - 1] = t;
      }
    int u = 0;
    for (int a = 0; a < nr; a++)
      if (u == 0 || ranks[u - 1] != ranks[a]) ranks[u++] = ranks[a];
    int rc = lane_select(&l, ranks, u, c->h, keys);
    if (rc) return rc;
    for (int64_t qi = 0; qi < c->nq; qi++)
      for (int a = 0; a < u; a++) {
        if (ranks[a] == i0[qi]) k0[qi] = keys[a];
        if (ranks[a] == i1[qi]) k1[qi] = keys[a];
      }
  }
  for (int64_t qi = 0; qi < c->nq; qi++) q_result(c, qi, lane, k0[qi], k1[qi], g[qi], exact[qi]);
  return 0;
}

static int quantile_run(const tide_Array *a, const double *q, int nqdim, const int64_t *qshape,
                        int dim, int method, bool skipnan, bool median, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  if (dim >= a->ndim || dim < -1)
    return tide__seterr(TIDE_ERANGE, "dimension %d out of range for a %d-dimensional array",
                        dim + 1, a->ndim);
  if (method < 0 || method >= TIDE_NQMETHODS)
    return tide__seterr(TIDE_EINVAL, "unknown quantile method %d", method);
  int64_t nq = 1;
  for (int d = 0; d < nqdim; d++) nq *= qshape[d];
  for (int64_t i = 0; i < nq && !median; i++)
    if (!(q[i] >= 0 && q[i] <= 1))
      return tide__seterr(TIDE_EINVAL, "quantile %g is outside [0, 1]", q[i]);
  int64_t shape[TIDE_MAXDIM], len = dim < 0 ? tide_array_size(a) : a->shape[dim];
  int nd = 0;
  for (int d = 0; d < nqdim; d++) shape[nd++] = qshape[d];
  if (dim >= 0)
    for (int d = 0; d < a->ndim; d++)
      if (d != dim) shape[nd++] = a->shape[d];
  if (nd > TIDE_MAXDIM) return tide__seterr(TIDE_EINVAL, "too many dimensions");
  int64_t nlanes = 1;
  for (int d = nqdim; d < nd; d++) nlanes *= shape[d];
  bool exact = method == TIDE_Q_LOWER || method == TIDE_Q_HIGHER || method == TIDE_Q_NEAREST ||
               method == TIDE_Q_INVERTED_CDF || method == TIDE_Q_CLOSEST_OBSERVATION;
  int odt;
  if (median) odt = a->dtype == TIDE_F32 && dim >= 0 ? TIDE_F32 : TIDE_F64;
  else odt = exact ? a->dtype : TIDE_F64;
  if (len == 0 && nlanes > 0 && nq > 0)
    return tide__seterr(TIDE_EINVAL, "%s of a zero-size array", median ? "median" : "quantile");
  int rc = tide_array_new(out, odt, nd, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc || nlanes == 0 || nq == 0) return rc;
  QCtx c = {a->dtype, method, odt, skipnan, median, q, median ? 1 : nq, nlanes, out,
            NULL, NULL, NULL};
  /* short lanes, or many quantiles of long ones: keys copied and sorted */
  bool sort_all = len < SEL_MIN || c.nq > MAXRANKS / 2;
  size_t kb = (size_t)(len ? len : 1) * 8;
  if (sort_all) {
    c.keys = scratch_new(kb, "quantiles");
    c.kt = c.keys ? scratch_new(kb, "quantiles") : NULL;
  }
  c.h = tide__malloc(sizeof(int64_t) << SEL_BITS);
  if ((sort_all && (!c.keys || !c.kt)) || !c.h)
    rc = tide__seterr(TIDE_ENOMEM, "out of memory in %s", median ? "median" : "quantile");
  else
    rc = tide__lanes(a, dim, q_lane, &c);
  scratch_free(c.keys, kb);
  scratch_free(c.kt, kb);
  free(c.h);
  if (rc) tide_array_close(out);
  return rc;
}

int tide_quantile(const tide_Array *a, const double *q, int nqdim, const int64_t *qshape,
                  int dim, int method, bool skipnan, tide_Array *out) {
  return quantile_run(a, q, nqdim, qshape, dim, method, skipnan, false, out);
}

int tide_median(const tide_Array *a, int dim, bool skipnan, tide_Array *out) {
  double half = 0.5;
  return quantile_run(a, &half, 0, NULL, dim, TIDE_Q_LINEAR, skipnan, true, out);
}
