/*
** test_hash.c -- XXH3-128 digests: known values, streams equal to one-shot,
** array digests in C order whatever the strides, and the per-version cache:
** kept while nothing writes, dropped by every write through tide, never
** kept for storage others may write, and dropped for a mapped file that
** changed on disk.
*/
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "hash.h"

static void hex_of(const unsigned char *d, char *hex) { tide_digest_hex(d, hex); }

static void test_known(void) {
  unsigned char d[16];
  char hex[33];
  tide_digest("", 0, d);
  hex_of(d, hex);
  CHECK_STR_HAS(hex, "99aa06d3014798d86001c324468d497f");
  tide_digest("abc", 3, d);
  hex_of(d, hex);
  CHECK_STR_HAS(hex, "06b05ab6733a618578af5f94892f3950");
  /* a stream in odd pieces gives the one-shot digest */
  unsigned char buf[10000], e[16];
  for (int i = 0; i < 10000; i++) buf[i] = (unsigned char)(i * 7 + 3);
  tide_digest(buf, sizeof buf, d);
  tide_Hasher *h = tide_hasher_new();
  CHECK(h != NULL);
  size_t at = 0, step = 1;
  while (at < sizeof buf) {
    size_t n = step < sizeof buf - at ? step : sizeof buf - at;
    tide_hasher_update(h, buf + at, n);
    at += n;
    step = step * 3 + 1;
  }
  tide_hasher_digest(h, e);
  CHECK(memcmp(d, e, 16) == 0);
  tide_hasher_reset(h);
  tide_hasher_digest(h, e);
  tide_digest("", 0, d);
  CHECK(memcmp(d, e, 16) == 0);
  tide_hasher_free(h);
}

static void fill_seq(tide_Array *a) {
  int64_t n = tide_array_size(a);
  for (int64_t i = 0; i < n; i++) ((double *)a->data)[i] = (double)i * 0.5;
}

static void test_arrays(void) {
  int64_t shape[2] = {300, 7};
  tide_Array a, t, c, c2;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 2, shape, TIDE_WHERE_HEAP), TIDE_OK);
  fill_seq(&a);
  unsigned char d1[16], d2[16], raw[16];
  int cached = -1;
  CHECK_EQ_INT(tide_array_digest(&a, d1, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  tide_digest(a.data, 300 * 7 * 8, raw);
  CHECK(memcmp(d1, raw, 16) == 0);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 1);
  CHECK(memcmp(d1, d2, 16) == 0);

  /* a transposed view digests as its C-ordered copy */
  tide_array_view(&t, &a);
  tide_array_transpose(&t);
  CHECK_EQ_INT(tide_array_copy(&t, -1, &c), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&t, d1, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  CHECK_EQ_INT(tide_array_digest(&c, d2, NULL), TIDE_OK);
  CHECK(memcmp(d1, d2, 16) == 0);
  CHECK_EQ_INT(tide_array_digest(&t, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 1); /* two views of one storage, each cached */
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 1);

  /* any write through tide drops the cached digests */
  tide_Array one;
  int64_t s1[1] = {1};
  CHECK_EQ_INT(tide_array_new(&one, TIDE_F64, 0, s1, TIDE_WHERE_HEAP), TIDE_OK);
  tide_Array row = a;
  tide_array_select(&row, 0, 5);
  CHECK_EQ_INT(tide_array_fill(&row, 42.0), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  tide_digest(a.data, 300 * 7 * 8, raw);
  CHECK(memcmp(d2, raw, 16) == 0);
  CHECK_EQ_INT(tide_array_assign(&row, &row), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  tide_storage_touch(a.storage);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  tide_array_touch(&a); /* the public way, for hosts writing through a->data */
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  tide_array_touch(NULL);

  /* a new storage never inherits a freed one's digests */
  uint64_t v = a.storage->version;
  CHECK_EQ_INT(tide_array_copy(&a, -1, &c2), TIDE_OK);
  CHECK(c2.storage->version > v);
  CHECK_EQ_INT(tide_array_digest(&c2, d1, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  CHECK(memcmp(d1, d2, 16) == 0);

  /* storage others may write is digested every time */
  tide_Array rw;
  CHECK_EQ_INT(tide_array_new(&rw, TIDE_F64, 2, shape, TIDE_WHERE_SHARED | TIDE_WHERE_WORKER_RW),
               TIDE_OK);
  CHECK(!tide_digest_cacheable(rw.storage));
  CHECK_EQ_INT(tide_array_digest(&rw, d1, &cached), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&rw, d1, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  static double host[16];
  tide_Storage *bs;
  CHECK_EQ_INT(tide_storage_borrow(host, sizeof host, NULL, NULL, &bs), TIDE_OK);
  CHECK(!tide_digest_cacheable(bs));
  tide_storage_unref(bs);

  /* empty arrays */
  int64_t z[2] = {0, 5};
  tide_Array e;
  CHECK_EQ_INT(tide_array_new(&e, TIDE_I32, 2, z, TIDE_WHERE_HEAP), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&e, d1, NULL), TIDE_OK);
  tide_digest("", 0, d2);
  CHECK(memcmp(d1, d2, 16) == 0);

  tide_array_close(&e);
  tide_array_close(&rw);
  tide_array_close(&one);
  tide_array_close(&c2);
  tide_array_close(&c);
  tide_array_close(&t);
  tide_array_close(&a);
  tide_Array closed = a;
  CHECK_EQ_INT(tide_array_digest(&closed, d1, NULL), TIDE_ECLOSED);
}

static void test_file(void) {
  char path[] = "/tmp/tide-test-hash-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unsigned char buf[8192];
  for (int i = 0; i < 8192; i++) buf[i] = (unsigned char)i;
  CHECK_EQ_INT(write(fd, buf, sizeof buf), (long long)sizeof buf);
  /* an old mtime: a file changed in the last 2 seconds is not cached */
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_EQ_INT(futimens(fd, old), 0);
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_map_fd(fd, path, 'r', 4096, 4096, &s), TIDE_OK);
  CHECK(s->base[0] == 0 && s->base[4095] == 255);
  tide_Array a;
  int64_t shape[1] = {4096};
  CHECK_EQ_INT(tide_array_wrap(&a, s, 0, TIDE_U8, 1, shape, NULL), TIDE_OK);
  tide_storage_unref(s);
  unsigned char d1[16], d2[16];
  int cached;
  CHECK_EQ_INT(tide_array_digest(&a, d1, &cached), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 1);
  /* another writer changes the file: its mtime moves, the digest is redone */
  unsigned char x = 99;
  CHECK_EQ_INT(pwrite(fd, &x, 1, 4096 + 10), 1);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  CHECK(memcmp(d1, d2, 16) != 0);
  /* just changed: not cached until it is 2 seconds old */
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 0);
  CHECK_EQ_INT(futimens(fd, old), 0);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(tide_array_digest(&a, d2, &cached), TIDE_OK);
  CHECK_EQ_INT(cached, 1);
  /* a mapping past the end of the file is refused */
  CHECK_EQ_INT(tide_storage_map_fd(fd, path, 'r', 4096, 4097, &s), TIDE_EFORMAT);
  CHECK_EQ_INT(tide_storage_map_fd(fd, path, 'r', 1u << 20, 0, &s), TIDE_EFORMAT);
  /* an unaligned offset maps from the page below */
  CHECK_EQ_INT(tide_storage_map_fd(fd, path, 'c', 4100, 10, &s), TIDE_OK);
  CHECK_EQ_INT(s->base[0], 4);
  s->base[0] = 7; /* private: the file keeps its byte */
  tide_storage_unref(s);
  unsigned char back;
  CHECK_EQ_INT(pread(fd, &back, 1, 4100), 1);
  CHECK_EQ_INT(back, 4);
  tide_array_close(&a);
  close(fd);
  unlink(path);
}

int main(void) {
  test_known();
  test_arrays();
  test_file();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail != 0;
}
