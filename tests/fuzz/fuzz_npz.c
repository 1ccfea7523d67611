/*
** fuzz_npz.c -- libFuzzer target for the .npz (zip) reader of npz.c: the
** end record and its zip64 locator and record, the central directory and
** its zip64 extra fields, local headers, stored and deflated members
** (sizes that lie, truncated or trailing deflate data, bombs), CRCs.
**
** The input is the archive itself (the seeds are numpy's savez and
** savez_compressed files), given through a memfd.  Checked beyond "no
** crash, no leak": a member that loads holds no more bytes than deflate
** could make of the whole input (so a bomb is refused before it
** allocates), and an archive that loads whole saves (stored or deflated,
** as the input's length is even or odd) and loads back equal.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXN 64
static char dir[4096];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  remove(p);
  return 0;
}
static void cleanup(void) {
  if (dir[0]) nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

typedef struct Buf {
  unsigned char *p;
  size_t n, cap;
} Buf;

static int take(void *ud, const unsigned char *p, size_t n) {
  Buf *b = ud;
  if (b->n + n > b->cap) {
    size_t cap = (b->n + n) * 2;
    unsigned char *q = realloc(b->p, cap);
    if (!q) abort();
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

/* Same dtype, shape and elements (in C order, whatever the layout). */
static int same(const tide_Array *a, const tide_Array *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  Buf x = {0}, y = {0};
  tide__npy_each_chunk(a, take, &x);
  tide__npy_each_chunk(b, take, &y);
  int eq = x.n == y.n && (x.n == 0 || memcmp(x.p, y.p, x.n) == 0);
  free(x.p);
  free(y.p);
  return eq;
}

/* Saves the members and loads them back; they must come back equal. */
static void round_trip(tide_Array *arr, char **names, int n, int compress) {
  if (!dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/tide-fuzz-npz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/rt.npz", dir);
  const tide_Array *ptrs[MAXN];
  for (int i = 0; i < n; i++) ptrs[i] = &arr[i];
  if (tide_npz_save(path, n, (const char *const *)names, ptrs, compress) != TIDE_OK) return;
  tide_Npz *z;
  if (tide_npz_open(path, &z) != TIDE_OK || tide_npz_count(z) != n) __builtin_trap();
  for (int i = 0; i < n; i++) {
    tide_Array b;
    if (strcmp(tide_npz_name(z, i), names[i]) != 0) __builtin_trap();
    if (tide_npz_read(z, i, &b) != TIDE_OK || !same(&arr[i], &b)) __builtin_trap();
    tide_array_close(&b);
  }
  tide_npz_close(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tide__config.share_bytes = (size_t)1 << 40; /* arrays on the heap: no segment per input */
  int fd = memfd_create("fuzz-npz", MFD_CLOEXEC);
  if (fd < 0) abort();
  size_t at = 0;
  while (at < size) {
    ssize_t w = write(fd, data + at, size - at);
    if (w <= 0) abort();
    at += (size_t)w;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  tide_Npz *z;
  if (tide_npz_open(path, &z) == TIDE_OK) {
    int n = tide_npz_count(z), ok = 0;
    tide_Array arr[MAXN];
    char *names[MAXN];
    for (int i = 0; i < n; i++) {
      tide_Array a;
      if (tide_npz_read(z, i, &a) != TIDE_OK) continue;
      uint64_t bytes = (uint64_t)tide_array_size(&a) * tide_dtype_size(a.dtype);
      if (bytes > ((uint64_t)size + 64) * 1032) __builtin_trap(); /* deflate's ceiling */
      if (ok < MAXN) {
        names[ok] = strdup(tide_npz_name(z, i));
        arr[ok++] = a;
      } else {
        tide_array_close(&a);
      }
    }
    if (ok == n && n > 0) round_trip(arr, names, n, (int)(size & 1));
    for (int i = 0; i < ok; i++) {
      tide_array_close(&arr[i]);
      free(names[i]);
    }
    tide_npz_close(z);
  }
  close(fd);
  return 0;
}
