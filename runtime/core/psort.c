/*
** psort.c -- the stages of a parallel sample sort of a 1-D array (see
** sort.h): the bindings run count, scatter and bucket as the tasks of
** parallel loops over shared memory, the plan and the offsets in the
** parent.  Keys are sort.c's, so the result is exactly the one-process
** sort: equal keys share a bucket, and every stage keeps their order.
*/
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sort.h"

#define SAMPLE_PER_BUCKET 64
#define CHUNK 2048

static bool canon(const tide_PSort *ps) { return ps->arg; } /* as sort.c's argsort */

static int elem_key(const tide_PSort *ps, const tide_Array *a, int64_t i, uint64_t *k) {
  tide__sort_encode(ps->dt, a->data + i * a->strides[0], 1, a->strides[0], canon(ps), ps->desc, k);
  return 0;
}

/* The number of splitters below k: a branch-free binary search (nb is a
** power of two), since the keys' buckets are unpredictable. */
static inline int bucket_of(const tide_PSort *ps, uint64_t k) {
  int b = 0;
  const uint64_t *s = ps->split;
  for (int step = ps->nb >> 1; step > 0; step >>= 1) b += (s[b + step - 1] < k) ? step : 0;
  return b;
}

int tide__psort_plan(tide_PSort *ps, const tide_Array *a, int nb, int nchunks, uint64_t *split) {
  ps->dt = a->dtype;
  ps->n = a->shape[0];
  ps->nb = 1;
  while (ps->nb * 2 <= nb && ps->nb * 2 <= TIDE_PSORT_MAXB) ps->nb *= 2;
  ps->nchunks = nchunks < 1 ? 1 : nchunks;
  ps->split = split;
  int64_t m = (int64_t)ps->nb * SAMPLE_PER_BUCKET;
  uint64_t *s = tide__malloc((size_t)m * 2 * sizeof *s);
  if (!s) return tide__seterr(TIDE_ENOMEM, "out of memory planning a parallel sort");
  tide_Rng r; /* a fixed sample: the same splitters every time */
  tide_rng_init(&r, 0x5eed50f7, 0);
  for (int64_t i = 0; i < m; i++) elem_key(ps, a, tide_rng_integer(&r, 0, ps->n - 1), &s[i]);
  uint64_t *res = tide__sort_keys(s, s + m, NULL, NULL, m) ? s + m : s;
  for (int b = 0; b + 1 < ps->nb; b++) ps->split[b] = res[(int64_t)(b + 1) * m / ps->nb];
  free(s);
  return TIDE_OK;
}

void tide__psort_chunk(const tide_PSort *ps, int c, int64_t *lo, int64_t *hi) {
  *lo = ps->n * c / ps->nchunks;
  *hi = ps->n * (c + 1) / ps->nchunks;
}

void tide__psort_count(const tide_PSort *ps, const tide_Array *a, int c, int64_t *counts) {
  int64_t lo, hi;
  uint64_t buf[CHUNK];
  tide__psort_chunk(ps, c, &lo, &hi);
  memset(counts, 0, (size_t)ps->nb * sizeof *counts);
  for (int64_t i0 = lo; i0 < hi; i0 += CHUNK) {
    int64_t m = hi - i0 < CHUNK ? hi - i0 : CHUNK;
    tide__sort_encode(ps->dt, a->data + i0 * a->strides[0], m, a->strides[0], canon(ps),
                      ps->desc, buf);
    for (int64_t j = 0; j < m; j++) counts[bucket_of(ps, buf[j])]++;
  }
}

void tide__psort_offsets(const tide_PSort *ps, int64_t *counts, int64_t *bstart) {
  int64_t off = 0;
  for (int b = 0; b < ps->nb; b++) {
    bstart[b] = off;
    for (int c = 0; c < ps->nchunks; c++) {
      int64_t t = counts[(int64_t)c * ps->nb + b];
      counts[(int64_t)c * ps->nb + b] = off;
      off += t;
    }
  }
  bstart[ps->nb] = off;
}

void tide__psort_scatter(const tide_PSort *ps, const tide_Array *a, int c, const int64_t *offs,
                         uint64_t *keys, uint64_t *pos) {
  int64_t lo, hi, o[TIDE_PSORT_MAXB];
  uint64_t buf[CHUNK];
  tide__psort_chunk(ps, c, &lo, &hi);
  memcpy(o, offs + (int64_t)c * ps->nb, (size_t)ps->nb * sizeof *o);
  for (int64_t i0 = lo; i0 < hi; i0 += CHUNK) {
    int64_t m = hi - i0 < CHUNK ? hi - i0 : CHUNK;
    tide__sort_encode(ps->dt, a->data + i0 * a->strides[0], m, a->strides[0], canon(ps),
                      ps->desc, buf);
    for (int64_t j = 0; j < m; j++) {
      int64_t at = o[bucket_of(ps, buf[j])]++;
      keys[at] = buf[j];
      if (pos) pos[at] = (uint64_t)(i0 + j);
    }
  }
}

/* Private scratch of a worker: anonymous memory with huge pages asked
** for (shared segments have 4 KB pages, and each page costs a fault in
** every process that touches it). */
static void *priv_new(size_t n) {
  void *p = tide__mmap(NULL, n ? n : 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, n ? n : 8, MADV_HUGEPAGE);
#endif
  return p;
}

int tide__psort_bucket(const tide_PSort *ps, int64_t lo, int64_t hi, uint64_t *keys,
                       uint64_t *pos, tide_Array *out) {
  int64_t m = hi - lo;
  if (m <= 0) return TIDE_OK;
  size_t nb = (size_t)m * 8, total = nb * (pos ? 4 : 2);
  if (tide__admit_memory(total, "a parallel sort's bucket") != TIDE_OK) return TIDE_ENOMEM;
  uint64_t *k = priv_new(total);
  if (!k) return tide__seterr(TIDE_ENOMEM, "out of memory sorting a bucket");
  uint64_t *kt = k + m, *p = pos ? k + 2 * m : NULL, *pt = pos ? k + 3 * m : NULL;
  memcpy(k, keys + lo, nb);
  if (pos) memcpy(p, pos + lo, nb);
  bool sw = tide__sort_keys(k, kt, p, pt, m);
  if (ps->arg) {
    const uint64_t *r = sw ? pt : p;
    int64_t *o = (int64_t *)out->data + lo;
    for (int64_t i = 0; i < m; i++) o[i] = (int64_t)r[i] + ps->base;
  } else {
    int isz = tide_dtype_size(ps->dt);
    tide__sort_decode(ps->dt, ps->desc, sw ? kt : k, m, out->data + lo * isz, isz);
  }
  munmap(k, total ? total : 8);
  return TIDE_OK;
}
