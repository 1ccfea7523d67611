/*
** hash.c -- XXH3-128 digests through Debian's libxxhash, and array digests
** cached per storage version (see hash.h).
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t */
#include <xxhash.h>

#include "hash.h"
#include "io.h"

struct tide_Hasher {
  XXH3_state_t st;
};

static void canonical(XXH128_hash_t h, unsigned char out[TIDE_DIGEST_LEN]) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  memcpy(out, c.digest, TIDE_DIGEST_LEN);
}

void tide_digest(const void *p, size_t n, unsigned char out[TIDE_DIGEST_LEN]) {
  canonical(XXH3_128bits(p, n), out);
}

tide_Hasher *tide_hasher_new(void) {
  /* XXH3_state_t wants 64-byte alignment. */
  tide_Hasher *h = NULL;
  if (tide__posix_memalign((void **)&h, 64, sizeof *h) != 0) return NULL;
  XXH3_INITSTATE(&h->st);
  XXH3_128bits_reset(&h->st);
  return h;
}

void tide_hasher_reset(tide_Hasher *h) { XXH3_128bits_reset(&h->st); }

void tide_hasher_update(tide_Hasher *h, const void *p, size_t n) {
  if (n) XXH3_128bits_update(&h->st, p, n);
}

void tide_hasher_digest(const tide_Hasher *h, unsigned char out[TIDE_DIGEST_LEN]) {
  canonical(XXH3_128bits_digest(&h->st), out);
}

void tide_hasher_free(tide_Hasher *h) { free(h); }

void tide_digest_hex(const unsigned char d[TIDE_DIGEST_LEN], char hex[33]) {
  static const char x[] = "0123456789abcdef";
  for (int i = 0; i < TIDE_DIGEST_LEN; i++) {
    hex[2 * i] = x[d[i] >> 4];
    hex[2 * i + 1] = x[d[i] & 15];
  }
  hex[32] = '\0';
}

/* ----------------------------------------------------- digests of arrays */

/* A few views of one storage, each with the version it was digested at
** (and, for a mapped file, what the file was then). */
#define MEMO_SLOTS 4

typedef struct MemoSlot {
  int used;
  uint64_t version;
  size_t offset; /* data - base */
  int dtype, ndim;
  int64_t shape[TIDE_MAXDIM], strides[TIDE_MAXDIM];
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  unsigned char d[TIDE_DIGEST_LEN];
} MemoSlot;

struct tide__DigestMemo {
  int next; /* the slot a new view takes (round robin) */
  MemoSlot slot[MEMO_SLOTS];
};

int tide_digest_cacheable(const tide_Storage *s) {
  switch (s->kind) {
    case TIDE_STORE_HEAP: return 1;
    case TIDE_STORE_SHARED:
      return s->wmode != TIDE_WMODE_RW && !(s->flags & TIDE_SF_INHERITED);
    case TIDE_STORE_FILE: return s->path != NULL;
    default: return 0;
  }
}

static int same_view(const MemoSlot *m, const tide_Array *a) {
  size_t nd = (size_t)a->ndim;
  return m->used && m->offset == (size_t)(a->data - a->storage->base) &&
         m->dtype == a->dtype && m->ndim == a->ndim &&
         memcmp(m->shape, a->shape, nd * sizeof *a->shape) == 0 &&
         memcmp(m->strides, a->strides, nd * sizeof *a->strides) == 0;
}

/* The file behind a mapped storage, now; 0 when it cannot be seen (then
** nothing is cached or trusted). */
static int file_now(const tide_Storage *s, struct stat *st) {
  return s->kind == TIDE_STORE_FILE && s->path && stat(s->path, st) == 0;
}

static int same_file(const MemoSlot *m, const struct stat *st) {
  return m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size &&
         m->mtime.tv_sec == st->st_mtim.tv_sec && m->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static MemoSlot *memo_find(const tide_Array *a) {
  tide_Storage *s = a->storage;
  if (!s->memo || !tide_digest_cacheable(s)) return NULL;
  for (int i = 0; i < MEMO_SLOTS; i++) {
    MemoSlot *m = &s->memo->slot[i];
    if (!same_view(m, a)) continue;
    if (m->version != s->version) return NULL;
    if (s->kind == TIDE_STORE_FILE) {
      struct stat st;
      if (!file_now(s, &st) || !same_file(m, &st)) return NULL;
    }
    return m;
  }
  return NULL;
}

/* Keeps d for a at version; st: the file when its bytes were read. */
static void remember(const tide_Array *a, uint64_t version, const struct stat *st,
                     const unsigned char d[TIDE_DIGEST_LEN]) {
  tide_Storage *s = a->storage;
  if (!s || !tide_digest_cacheable(s) || s->version != version) return;
  if (s->kind == TIDE_STORE_FILE) {
    /* git's "racy" rule: timestamps are coarse (a tick of some
    ** milliseconds), so a write in the same tick as the digest would
    ** leave the mtime as it was.  A file changed in the last 2 seconds
    ** is digested again next time. */
    struct timespec now;
    if (!st || clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        now.tv_sec - st->st_mtim.tv_sec < 2)
      return;
  }
  if (!s->memo && !(s->memo = tide__calloc(1, sizeof *s->memo))) return; /* a cache only */
  MemoSlot *m = NULL;
  for (int i = 0; i < MEMO_SLOTS && !m; i++)
    if (same_view(&s->memo->slot[i], a)) m = &s->memo->slot[i];
  if (!m) {
    m = &s->memo->slot[s->memo->next];
    s->memo->next = (s->memo->next + 1) % MEMO_SLOTS;
  }
  memset(m, 0, sizeof *m);
  m->used = 1;
  m->version = version;
  m->offset = (size_t)(a->data - s->base);
  m->dtype = a->dtype;
  m->ndim = a->ndim;
  memcpy(m->shape, a->shape, (size_t)a->ndim * sizeof *a->shape);
  memcpy(m->strides, a->strides, (size_t)a->ndim * sizeof *a->strides);
  if (s->kind == TIDE_STORE_FILE) {
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->size = st->st_size;
    m->mtime = st->st_mtim;
  }
  memcpy(m->d, d, TIDE_DIGEST_LEN);
}

void tide__digest_remember(const tide_Array *a, const unsigned char d[TIDE_DIGEST_LEN]) {
  struct stat st;
  if (!a->storage) return;
  int have = file_now(a->storage, &st);
  remember(a, a->storage->version, have ? &st : NULL, d);
}

static int feed(void *ud, const unsigned char *p, size_t n) {
  tide_hasher_update(ud, p, n);
  return TIDE_OK;
}

int tide_array_digest(const tide_Array *a, unsigned char out[TIDE_DIGEST_LEN], int *cached) {
  if (cached) *cached = 0;
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  MemoSlot *m = memo_find(a);
  if (m) {
    memcpy(out, m->d, TIDE_DIGEST_LEN);
    if (cached) *cached = 1;
    return TIDE_OK;
  }
  /* The file's state is read before its bytes: a change made while they
  ** are hashed then shows as a different mtime at the next lookup. */
  uint64_t version = a->storage->version;
  struct stat st;
  int have = file_now(a->storage, &st);
  if (tide_array_is_c_contiguous(a)) {
    size_t n = (size_t)tide_array_size(a) * (size_t)tide_dtype_size(a->dtype);
    tide_digest(n ? a->data : (const unsigned char *)"", n, out);
  } else {
    tide_Hasher *h = tide_hasher_new();
    if (!h) return tide__seterr(TIDE_ENOMEM, "out of memory");
    int rc = tide__npy_each_chunk(a, feed, h);
    if (rc == TIDE_OK) tide_hasher_digest(h, out);
    tide_hasher_free(h);
    if (rc) return rc;
  }
  remember(a, version, have ? &st : NULL, out);
  return TIDE_OK;
}
