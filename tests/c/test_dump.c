/*
** test_dump.c -- the dump format's core: a written file read back and
** mapped, and forged files (every checksum made right, so only the
** validation stands in the way) with lying headers and tables: each
** refused with a message that names what is wrong.
*/
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "check.h"
#include "dump.h"
#include "tide.h"

static char dir[] = "/tmp/tide-test-dump-XXXXXX";
static char path[300];

static void wr64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void test_round_trip(void) {
  int64_t s1[2] = {100, 3}, s2[1] = {0};
  tide_Array a, b, t;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 2, s1, TIDE_WHERE_HEAP), TIDE_OK);
  for (int i = 0; i < 300; i++) ((double *)a.data)[i] = i * 1.5;
  CHECK_EQ_INT(tide_array_new(&b, TIDE_I32, 1, s2, TIDE_WHERE_HEAP), TIDE_OK);
  tide_array_view(&t, &a);
  tide_array_transpose(&t);
  const tide_Array *arrs[3] = {&a, &b, &t};
  CHECK_EQ_INT(tide_dump_write(path, (const unsigned char *)"stream", 6, 3, arrs), TIDE_OK);
  tide_Dump *d;
  CHECK_EQ_INT(tide_dump_open(path, &d), TIDE_OK);
  CHECK_EQ_INT(tide_dump_count(d), 3);
  size_t n;
  const unsigned char *p = tide_dump_stream(d, &n);
  CHECK(n == 6 && memcmp(p, "stream", 6) == 0);
  CHECK_EQ_INT(tide_dump_array_bytes(d), 4800);
  /* blobs: 2400 bytes at 4096, 0 at 8192, 2400 at 8192: the file ends there */
  CHECK_EQ_INT(tide_dump_size(d), 8192 + 2400);
  tide_Array r, m;
  CHECK_EQ_INT(tide_dump_array(d, 2, 0, 0, &r), TIDE_OK);
  CHECK_EQ_INT(r.shape[0], 3);
  CHECK_EQ_INT(r.shape[1], 100);
  CHECK_NEAR(((double *)r.data)[1], 1.5 * 3, 0); /* C order of the transpose */
  CHECK_EQ_INT(tide_dump_array(d, 0, 'r', 1, &m), TIDE_OK);
  CHECK_EQ_INT(m.storage->kind, TIDE_STORE_FILE);
  CHECK(m.flags & TIDE_AF_READONLY);
  CHECK_NEAR(((double *)m.data)[299], 299 * 1.5, 0);
  CHECK_EQ_INT(tide_dump_verify(d, 1), TIDE_OK);
  CHECK_EQ_INT(tide_dump_verify(d, 3), TIDE_ERANGE);
  tide_dump_close(d);
  /* the mapping outlives the dump and the file's name */
  unlink(path);
  CHECK_NEAR(((double *)m.data)[2], 3.0, 0);
  tide_array_close(&m);
  tide_array_close(&r);
  tide_array_close(&t);
  tide_array_close(&b);
  tide_array_close(&a);
  const tide_Array *closed[1] = {&a};
  CHECK_EQ_INT(tide_dump_write(path, NULL, 0, 1, closed), TIDE_ECLOSED);
  CHECK(access(path, F_OK) != 0); /* nothing left behind */
}

/* A file of header + table + stream + zero padding + blob bytes (filled
** with 0x11), every checksum computed, then the header edited by fix. */
typedef struct Forge {
  unsigned char table[512];
  size_t tsize;
  uint64_t count;
  size_t blob_at, blob_len; /* one region of blob bytes */
  uint64_t fsize;           /* 0: blob_at + blob_len */
  void (*fix)(unsigned char *h);
} Forge;

static int forge_open(const Forge *f, const char *want) {
  size_t len = 128 + f->tsize + 5;
  if (f->blob_len && f->blob_at + f->blob_len > len) len = f->blob_at + f->blob_len;
  unsigned char *file = calloc(1, len);
  memcpy(file + 128, f->table, f->tsize);
  memcpy(file + 128 + f->tsize, "\x01\x00xyz", 5);
  memset(file + f->blob_at, 0x11, f->blob_len);
  unsigned char *h = file;
  memcpy(h, "\x89TIDE\r\n\x1a", 8);
  h[8] = 1;
  h[12] = 4, h[13] = 3, h[14] = 2, h[15] = 1;
  h[16] = 128;
  h[21] = 16; /* 4096 */
  wr64(h + 24, f->fsize ? f->fsize : len);
  wr64(h + 32, f->count);
  wr64(h + 40, 128);
  wr64(h + 48, f->tsize);
  wr64(h + 56, 128 + f->tsize);
  wr64(h + 64, 5);
  tide_digest(file + 128, f->tsize, h + 80);
  tide_digest(file + 128 + f->tsize, 5, h + 96);
  if (f->fix) f->fix(h);
  tide_digest(h, 112, h + 112);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK_EQ_INT(write(fd, file, len), (long long)len);
  close(fd);
  free(file);
  tide_Dump *d = NULL;
  int rc = tide_dump_open(path, &d);
  if (want) {
    CHECK_EQ_INT(rc, TIDE_EFORMAT);
    CHECK_STR_HAS(tide_lasterror(), want);
    CHECK(d == NULL);
  }
  tide_dump_close(d);
  return rc;
}

/* One table entry: offset, bytes, dtype, ndim and shape. */
static size_t entry(unsigned char *t, uint64_t off, uint64_t nb, int dt, int nd,
                    const uint64_t *shape) {
  memset(t, 0, 40 + 8 * (size_t)nd);
  wr64(t, off);
  wr64(t + 8, nb);
  t[32] = (unsigned char)dt;
  t[33] = (unsigned char)nd;
  for (int i = 0; i < nd; i++) wr64(t + 40 + 8 * i, shape[i]);
  return 40 + 8 * (size_t)nd;
}

static void v2(unsigned char *h) { h[8] = 2; }
static void flags(unsigned char *h) { h[10] = 1; }
static void bigend(unsigned char *h) { h[12] = 1, h[13] = 2, h[14] = 3, h[15] = 4; }
static void reserved(unsigned char *h) { h[72] = 1; }
static void align(unsigned char *h) { h[21] = 32; }
static void toff(unsigned char *h) { h[40] = 129; }
static void huge_table(unsigned char *h) { wr64(h + 48, (uint64_t)1 << 62); }
static void huge_count(unsigned char *h) { wr64(h + 32, (uint64_t)1 << 40); }

static void test_forged(void) {
  Forge f;
  memset(&f, 0, sizeof f);
  CHECK_EQ_INT(forge_open(&f, NULL), TIDE_OK); /* no arrays: a valid dump */
  uint64_t sh[33] = {5};
  f.tsize = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.count = 1;
  f.blob_at = 4096, f.blob_len = 40;
  CHECK_EQ_INT(forge_open(&f, NULL), TIDE_OK);
  f.fix = v2;
  forge_open(&f, "dump format version 2");
  f.fix = flags;
  forge_open(&f, "unknown flags");
  f.fix = bigend;
  forge_open(&f, "big-endian");
  f.fix = reserved;
  forge_open(&f, "reserved header bytes");
  f.fix = align;
  forge_open(&f, "alignment");
  f.fix = toff;
  forge_open(&f, "outside the file");
  f.fix = huge_table;
  forge_open(&f, "outside the file");
  f.fix = huge_count;
  forge_open(&f, "cannot fit");
  f.fix = NULL;
  f.fsize = 4096 + 41;
  forge_open(&f, "truncated");
  f.fsize = 4096 + 39;
  forge_open(&f, "past the end its header declares");
  f.fsize = 0;
  f.count = 2;
  forge_open(&f, "cannot fit");
  /* entries that lie */
  f.count = 1;
  f.tsize = entry(f.table, 4096, 40, 99, 1, sh);
  forge_open(&f, "unknown dtype 99");
  f.tsize = entry(f.table, 4096, 40, TIDE_F64, 33, sh);
  f.blob_len = 40 + 8 * 32;
  forge_open(&f, "33 dimensions");
  f.blob_len = 40;
  f.tsize = entry(f.table, 4096, 48, TIDE_F64, 1, sh);
  forge_open(&f, "48 bytes where its shape and dtype make 40");
  uint64_t big[2] = {(uint64_t)1 << 57, 1};
  f.tsize = entry(f.table, 4096, (uint64_t)1 << 60, TIDE_F64, 2, big);
  forge_open(&f, "past the end of the file"); /* a 2^60-byte array */
  uint64_t over[2] = {(uint64_t)1 << 40, (uint64_t)1 << 40};
  f.tsize = entry(f.table, 4096, 0, TIDE_F64, 2, over);
  forge_open(&f, "shape too large");
  uint64_t neg[1] = {UINT64_MAX};
  f.tsize = entry(f.table, 4096, 8, TIDE_F64, 1, neg);
  forge_open(&f, "bad shape");
  f.tsize = entry(f.table, 4104, 40, TIDE_F64, 1, sh);
  f.blob_at = 4104;
  forge_open(&f, "array 1 at byte 4104, not 4096");
  f.blob_at = 4096;
  f.tsize = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.table[34] = 1;
  forge_open(&f, "reserved bytes are not zero");
  f.table[34] = 0;
  f.tsize += 3;
  forge_open(&f, "3 bytes after the last array");
  f.tsize -= 3;
  /* two arrays overlapping is impossible: the second must start after */
  size_t n1 = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.tsize = n1 + entry(f.table + n1, 4096, 40, TIDE_F64, 1, sh);
  f.count = 2;
  f.blob_len = 40;
  forge_open(&f, "array 2 at byte 4096, not 8192");
  /* nonzero padding between the stream and the first blob */
  f.count = 1;
  f.tsize = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.blob_at = 4000, f.blob_len = 136;
  forge_open(&f, "nonzero padding at byte");
}

static void bom0(unsigned char *h) { memset(h + 12, 0, 4); }
static void hsize(unsigned char *h) { h[16] = 64; }
static void soff(unsigned char *h) { h[56] += 1; }
static void ssize_huge(unsigned char *h) { wr64(h + 64, (uint64_t)1 << 50); }

/* Writes len bytes to the test file and opens it as a dump. */
static int open_bytes(const void *p, size_t len, const char *want) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK_EQ_INT(write(fd, p, len), (long long)len);
  close(fd);
  tide_Dump *d = NULL;
  int rc = tide_dump_open(path, &d);
  if (want) CHECK_STR_HAS(tide_lasterror(), want);
  tide_dump_close(d);
  return rc;
}

static void test_forged_more(void) {
  Forge f;
  memset(&f, 0, sizeof f);
  uint64_t sh[2] = {5, 2};
  f.tsize = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.count = 1;
  f.blob_at = 4096, f.blob_len = 40;
  f.fix = bom0;
  forge_open(&f, "bad byte order mark");
  f.fix = hsize;
  forge_open(&f, "header size 64");
  f.fix = soff;
  forge_open(&f, "outside the file");
  f.fix = ssize_huge;
  forge_open(&f, "outside the file");
  f.fix = NULL;
  /* a table that ends inside an entry, or inside a shape */
  size_t n1 = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.tsize = n1 + 40;
  f.count = 2;
  f.table[n1 + 33] = 1; /* the second entry has 1 dimension, its shape cut off */
  forge_open(&f, "ends inside array 2's shape");
  memset(f.table, 0, sizeof f.table);
  f.tsize = 80; /* room for two 40-byte entries, but the first has a shape */
  entry(f.table, 4096, 80, TIDE_F64, 2, sh);
  f.blob_len = 80;
  forge_open(&f, "array table ends inside array 2");
  f.blob_len = 40;
  memset(f.table, 0, sizeof f.table);
  f.tsize = entry(f.table, 4096, 80, TIDE_F64, 2, sh) - 8;
  f.count = 1;
  forge_open(&f, "ends inside array 1's shape");
  /* byte counts that overflow, or pass what a shape may hold */
  uint64_t over[1] = {(uint64_t)1 << 61};
  f.tsize = entry(f.table, 4096, 0, TIDE_F64, 1, over);
  forge_open(&f, "shape too large");
  uint64_t half[1] = {(uint64_t)1 << 60};
  f.tsize = entry(f.table, 4096, 0, TIDE_F64, 1, half);
  forge_open(&f, "shape too large");
  /* an empty array placed past the end of a short file */
  uint64_t none[1] = {0};
  f.tsize = entry(f.table, 4096, 0, TIDE_F64, 1, none);
  f.blob_len = 0;
  forge_open(&f, "past the end of the file");
  /* bytes after the last array */
  f.tsize = entry(f.table, 4096, 40, TIDE_F64, 1, sh);
  f.blob_at = 4096, f.blob_len = 48;
  forge_open(&f, "the arrays end at byte 4136, the file at 4144");
  /* a valid layout whose blob does not match its checksum: opens, and
  ** reading it, verifying it or mapping it with verify fails by name */
  f.blob_len = 40;
  CHECK_EQ_INT(forge_open(&f, NULL), TIDE_OK);
  tide_Dump *d = NULL;
  CHECK_EQ_INT(tide_dump_open(path, &d), TIDE_OK);
  if (d) {
    tide_Array a;
    CHECK_EQ_INT(tide_dump_verify(d, 0), TIDE_EFORMAT);
    CHECK_STR_HAS(tide_lasterror(), "array 1 (f64 5) checksum mismatch");
    CHECK_EQ_INT(tide_dump_array(d, 0, 0, 1, &a), TIDE_EFORMAT);
    CHECK_EQ_INT(tide_dump_array(d, 0, 'r', 1, &a), TIDE_EFORMAT);
    CHECK_EQ_INT(tide_dump_array(d, 0, 'c', 0, &a), TIDE_OK);
    CHECK_NEAR(tide_load_f64(a.dtype, a.data), 0, 1e300); /* mapped, unchecked */
    tide_array_close(&a);
    CHECK_EQ_INT(tide_dump_array(d, 0, 'x', 0, &a), TIDE_EINVAL);
    CHECK_EQ_INT(tide_dump_array(d, 1, 0, 0, &a), TIDE_ERANGE);
    CHECK_EQ_INT(tide_dump_verify(d, 1), TIDE_ERANGE);
    CHECK_STR_HAS(tide_lasterror(), "array 2 of 1");
    tide_dump_close(d);
  }
  /* files shorter than a header: a start that is a dump's, or not */
  CHECK_EQ_INT(open_bytes("\x89TIDE", 5, "truncated: 5 bytes, less than a dump header"),
               TIDE_EFORMAT);
  CHECK_EQ_INT(open_bytes("", 0, "truncated: 0 bytes"), TIDE_EFORMAT);
  CHECK_EQ_INT(open_bytes("hello", 5, "not a tide dump"), TIDE_EFORMAT);
  CHECK_EQ_INT(open_bytes("\x89TIDE\r\n\x1a and more", 17, "less than a dump header"),
               TIDE_EFORMAT);
  /* descriptors that are not a dump's: none, a folder */
  CHECK_EQ_INT(tide_dump_open_fd(-1, "nothing", &d), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot use nothing");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK_EQ_INT(tide_dump_open_fd(dfd, dir, &d), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "not a regular file");
  close(dfd);
  CHECK_EQ_INT(tide_dump_open("/nonexistent/x.tide", &d), TIDE_EIO);
}

/* Writing under a file size limit (a full disk looks the same): each
** write of the dump in turn fails, the error names the file, and no file
** or temp file is left.  The limit is the soft one, put back before the
** child leaves (so a coverage build can still write its counters). */
static int dump_on_full_disk(void *ud) {
  const tide_Array **arrs = ud;
  int rc = tide_dump_write(path, (const unsigned char *)"\1\0stream", 8, 2, arrs);
  int code = rc == TIDE_ENOSPC && strstr(tide_lasterror(), "x.tide") ? 0 : 1;
  if (access(path, F_OK) == 0) code = 2;
  return code;
}

static void test_write_errors(void) {
  tide_Array a;
  int64_t n = 4096;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 1, &n, TIDE_WHERE_HEAP), TIDE_OK);
  const tide_Array *arrs[2] = {&a, &a};
  unlink(path);
  static const rlim_t limits[] = {64, 200, 6000, 20000};
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(check_fsize_child(limits[i], dump_on_full_disk, arrs), 0);
  DIR *d = opendir(dir);
  int left = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) left += e->d_name[0] != '.';
  if (d) closedir(d);
  CHECK_EQ_INT(left, 0);
  tide_array_close(&a);
}

/* A dump cut short after it was opened (another writer): reading an array
** is an error that says so, never stale or half data. */
static void test_truncated(void) {
  int64_t sh[1] = {1000000}; /* 8 MB: two of the reader's 4 MiB chunks */
  tide_Array a, r;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 1, sh, TIDE_WHERE_HEAP), TIDE_OK);
  const tide_Array *arrs[1] = {&a};
  CHECK_EQ_INT(tide_dump_write(path, (const unsigned char *)"s", 1, 1, arrs), TIDE_OK);
  tide_array_close(&a);
  tide_Dump *d;
  CHECK_EQ_INT(tide_dump_open(path, &d), TIDE_OK);
  if (!d) return;
  CHECK(truncate(path, 4096 + (5 << 20)) == 0); /* inside the blob's second chunk */
  CHECK_EQ_INT(tide_dump_array(d, 0, 0, 0, &r), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "file ended early while being read");
  CHECK(r.storage == NULL);
  CHECK_EQ_INT(tide_dump_verify(d, 0), TIDE_EFORMAT);
  CHECK(truncate(path, 100) == 0); /* now inside the header */
  CHECK_EQ_INT(tide_dump_verify(d, 0), TIDE_EFORMAT);
  tide_dump_close(d);
  unlink(path);
}

static int count_open_fds(void) {
  DIR *dd = opendir("/proc/self/fd");
  int n = 0;
  while (dd && readdir(dd)) n++;
  if (dd) closedir(dd);
  return n;
}

/* A host that opens tide twice in one state (two calls of luaopen_tide):
** either table dumps and undumps, and an undump that fails in the middle
** of its decode (a stream that is no value, its checksums right) closes
** the file it opened. */
static void test_lua_reopen(void) {
  lua_State *L = luaL_newstate();
  CHECK(L != NULL);
  if (!L) return;
  luaL_openlibs(L);
  for (int i = 0; i < 2; i++) {
    lua_pushcfunction(L, luaopen_tide);
    CHECK_EQ_INT(lua_pcall(L, 0, 1, 0), LUA_OK);
    lua_setglobal(L, i ? "t2" : "t1");
  }
  char code[1400];
  snprintf(code, sizeof code,
           "assert(t1 ~= t2)\n"
           "t2.dump({x = t1.arange(5)}, '%s')\n"
           "assert(t1.undump('%s').x:sum() == 10)\n"
           "assert(t2.undump('%s', {mmap = 'r'}).x:sum() == 10)\n",
           path, path, path);
  CHECK_EQ_INT(luaL_dostring(L, code), LUA_OK);
  CHECK_EQ_INT(tide_dump_write(path, (const unsigned char *)"\xff\xfe", 2, 0, NULL), TIDE_OK);
  lua_gc(L, LUA_GCCOLLECT);
  int fds = count_open_fds();
  snprintf(code, sizeof code,
           "local ok, err = pcall(t2.undump, '%s')\n"
           "assert(not ok and tostring(err):find('corrupt value stream', 1, true), tostring(err))\n"
           "collectgarbage()\n", path);
  CHECK_EQ_INT(luaL_dostring(L, code), LUA_OK);
  if (lua_gettop(L) && lua_isstring(L, -1)) fprintf(stderr, "%s\n", lua_tostring(L, -1));
  CHECK_EQ_INT(count_open_fds(), fds);
  lua_close(L);
  unlink(path);
}

int main(void) {
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/x.tide", dir);
  test_round_trip();
  test_forged();
  test_forged_more();
  test_write_errors();
  test_truncated();
  test_lua_reopen();
  unlink(path);
  rmdir(dir);
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail != 0;
}
