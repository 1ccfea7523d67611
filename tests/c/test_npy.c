/*
** test_npy.c -- .npy/.npz core tests: numpy-written fixtures read back
** exactly, every bad header of RELIABILITY.md (b) refused with a clear
** message, saving, mapping in each mode, and corrupt .npz archives.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "io.h"

/* Test doubles for pread and pwrite, linked ahead of libc's: they pass
** through until a test arms one to fail its io_at-th call from now with
** io_errno (EINTR: that call only, and it is retried). */
static int io_errno, io_at, io_pwrite;

static int io_fails(int is_pwrite) {
  if (!io_at || is_pwrite != io_pwrite || --io_at > 0) return 0;
  errno = io_errno;
  return 1;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  if (io_fails(0)) return -1;
  return (ssize_t)syscall(SYS_pread64, fd, buf, n, off);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  if (io_fails(1)) return -1;
  return (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
}

static char tmpdir[256];

static const char *fixture(const char *name) {
  static char buf[1024];
  const char *dir = getenv("TIDE_FIXTURES");
  if (dir) {
    snprintf(buf, sizeof buf, "%s/npy/%s", dir, name);
  } else { /* run by hand: next to this source file */
    const char *src = __FILE__, *slash = strrchr(src, '/');
    int n = slash ? (int)(slash - src) : 1;
    snprintf(buf, sizeof buf, "%.*s/../fixtures/npy/%s", n, slash ? src : ".", name);
  }
  return buf;
}

static const char *tmpfile_(const char *name) {
  static char buf[2][512];
  static int k;
  k ^= 1;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

/* The value make_npy.py stores at C-order position k. */
static int64_t want_int(int dt, int64_t k) {
  switch (dt) {
    case TIDE_BOOL: return k % 3 == 0;
    case TIDE_U8: return (k * 7) % 256;
    case TIDE_I32: return k * 3 - 5;
    default: return (k * 3 - 5) * (((int64_t)1 << 33) + 1);
  }
}

/* Checks every element of a against the fixture rule; returns mismatches. */
static int check_values(const tide_Array *a) {
  int64_t n = tide_array_size(a), idx[TIDE_MAXDIM] = {0};
  int bad = 0;
  for (int64_t k = 0; k < n; k++) {
    const unsigned char *p = tide_array_at(a, idx);
    if (tide_dtype_isfloat(a->dtype)) bad += tide_load_f64(a->dtype, p) != k * 0.5 - 3.25;
    else bad += tide_load_i64(a->dtype, p) != want_int(a->dtype, k);
    for (int d = a->ndim - 1; d >= 0; d--) {
      if (++idx[d] < a->shape[d]) break;
      idx[d] = 0;
    }
  }
  return bad;
}

static void test_fixtures(void) {
  static const char *dts[] = {"float64", "float32", "int64", "int32", "uint8", "bool"};
  static const int codes[] = {TIDE_F64, TIDE_F32, TIDE_I64, TIDE_I32, TIDE_U8, TIDE_BOOL};
  for (int i = 0; i < 6; i++) {
    for (int e = 0; e < 2; e++) {
      for (int f = 0; f < 2; f++) {
        char name[64];
        snprintf(name, sizeof name, "%s_%s_%s.npy", dts[i], e ? "be" : "le", f ? "F" : "C");
        tide_Array a;
        int rc = tide_npy_load(fixture(name), &a);
        CHECK_EQ_INT(rc, TIDE_OK);
        if (rc) {
          fprintf(stderr, "%s: %s\n", name, tide_lasterror());
          continue;
        }
        CHECK_EQ_INT(a.dtype, codes[i]);
        CHECK_EQ_INT(a.ndim, 3);
        CHECK(a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 4);
        CHECK_EQ_INT(check_values(&a), 0);
        CHECK(f ? tide_array_is_f_contiguous(&a) : tide_array_is_c_contiguous(&a));
        tide_array_close(&a);
        /* Little-endian files map in every mode, with the same values. */
        if (!e || tide_dtype_size(codes[i]) == 1) {
          rc = tide_npy_map(fixture(name), 'r', &a);
          CHECK_EQ_INT(rc, TIDE_OK);
          if (!rc) {
            CHECK_EQ_INT(check_values(&a), 0);
            CHECK(a.flags & TIDE_AF_READONLY);
            tide_array_close(&a);
          }
        } else {
          rc = tide_npy_map(fixture(name), 'r', &a);
          CHECK_EQ_INT(rc, TIDE_ENOTSUP);
          CHECK_STR_HAS(tide_lasterror(), "byte order");
        }
      }
    }
  }
  struct {
    const char *name;
    int ndim;
    int64_t n;
  } more[] = {{"v2.npy", 1, 5}, {"v3.npy", 2, 4}, {"scalar.npy", 0, 1}, {"empty.npy", 1, 0},
              {"empty2d.npy", 2, 0}, {"f2d.npy", 2, 15}};
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
    tide_Array a;
    int rc = tide_npy_load(fixture(more[i].name), &a);
    CHECK_EQ_INT(rc, TIDE_OK);
    if (rc) continue;
    CHECK_EQ_INT(a.ndim, more[i].ndim);
    CHECK_EQ_INT(tide_array_size(&a), more[i].n);
    CHECK_EQ_INT(check_values(&a), 0);
    tide_array_close(&a);
  }
}

/* Builds a .npy in buf: magic, version, length, dict padded to 64 with
** '\n', then ndata bytes of data.  Returns the length. */
static size_t build(unsigned char *buf, int major, int minor, const char *dict, size_t ndata) {
  size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t hl = dl + 1;
  hl += (64 - (pre + hl) % 64) % 64;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = (unsigned char)minor;
  buf[8] = (unsigned char)hl;
  buf[9] = (unsigned char)(hl >> 8);
  if (pre == 12) buf[10] = buf[11] = 0;
  memcpy(buf + pre, dict, dl);
  memset(buf + pre + dl, ' ', hl - dl - 1);
  buf[pre + hl - 1] = '\n';
  memset(buf + pre + hl, 0, ndata);
  return pre + hl + ndata;
}

static unsigned char B[1 << 16];

/* Loads a built buffer; it must fail with code and a message holding msg. */
static void refused(size_t len, int code, const char *msg) {
  tide_Array a;
  int rc = tide_npy_load_buffer(B, len, "bad.npy", &a);
  CHECK_EQ_INT(rc, code);
  if (rc == TIDE_OK) {
    tide_array_close(&a);
    fprintf(stderr, "  accepted; expected: %s\n", msg);
    return;
  }
  CHECK_STR_HAS(tide_lasterror(), msg);
  CHECK_STR_HAS(tide_lasterror(), "bad.npy");
}

static void refused_dict(const char *dict, int code, const char *msg) {
  refused(build(B, 1, 0, dict, 8), code, msg);
}

#define D(s) "{'descr': '<f8', 'fortran_order': False, 'shape': " s ", }"

static void test_bad_framing(void) {
  size_t n = build(B, 1, 0, D("(1,)"), 8);
  tide_Array a;
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "ok.npy", &a), TIDE_OK);
  tide_array_close(&a);
  /* shorter than the magic, wrong magic */
  refused(3, TIDE_EFORMAT, "too short");
  refused(0, TIDE_EFORMAT, "too short");
  memcpy(B, "\x93NUMPX", 6);
  refused(n, TIDE_EFORMAT, "not a .npy file");
  memcpy(B, "PK\x03\x04", 4);
  refused(n, TIDE_EFORMAT, "not a .npy file");
  /* versions 0.0, 1.1, 4.0, 255.255 */
  int vers[][2] = {{0, 0}, {1, 1}, {4, 0}, {255, 255}};
  for (int i = 0; i < 4; i++) {
    n = build(B, 1, 0, D("(1,)"), 8);
    B[6] = (unsigned char)vers[i][0];
    B[7] = (unsigned char)vers[i][1];
    refused(n, TIDE_EFORMAT, "unsupported .npy format version");
  }
  /* a v2 length of 0xFFFFFFF0 in 12- to 14-byte files: refused cheaply */
  for (size_t len = 12; len <= 14; len++) {
    memcpy(B, "\x93NUMPY\x02\x00\xf0\xff\xff\xff\x00\x00", 14);
    refused(len, TIDE_EFORMAT, "above the 10000 bytes");
  }
  /* a header length larger than the file */
  n = build(B, 1, 0, D("(1,)"), 0);
  B[8] = 0x00;
  B[9] = 0x20; /* 8192 */
  refused(n, TIDE_EFORMAT, "too short");
  /* a v2/v3 length whose high bytes matter (read as 2 bytes it would look
  ** fine: 0x00010076) */
  n = build(B, 2, 0, D("(1,)"), 8);
  B[10] = 1;
  refused(n, TIDE_EFORMAT, "above the 10000 bytes");
  n = build(B, 3, 0, D("(1,)"), 8);
  B[11] = 1;
  refused(n, TIDE_EFORMAT, "above the 10000 bytes");
  /* a long (300-byte) header is fine: cnpy#85 */
  char dict[400];
  snprintf(dict, sizeof dict, "%s%*s", D("(2,)"), 240, "");
  n = build(B, 1, 0, dict, 16);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "long.npy", &a), TIDE_OK);
  CHECK_EQ_INT(a.shape[0], 2);
  tide_array_close(&a);
  /* trailing bytes, data shorter than declared */
  n = build(B, 1, 0, D("(2,)"), 17);
  refused(n, TIDE_EFORMAT, "1 trailing bytes");
  n = build(B, 1, 0, D("(2,)"), 15);
  refused(n, TIDE_EFORMAT, "data shorter than declared");
  /* no final newline */
  n = build(B, 1, 0, D("(2,)"), 16);
  B[n - 17] = ' ';
  refused(n, TIDE_EFORMAT, "newline");
}

static void test_bad_dicts(void) {
  refused_dict("['descr', 'shape']", TIDE_EFORMAT, "not a dict");
  refused_dict("{'descr': '<f8', 'fortran_order': False}", TIDE_EFORMAT, "missing key 'shape'");
  refused_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", TIDE_EFORMAT,
               "unexpected key");
  refused_dict("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
               TIDE_EFORMAT, "duplicate key");
  refused_dict("{'descr': __import__('os').system('true'), 'fortran_order': False, "
               "'shape': (1,)}", TIDE_EFORMAT, "descr must be a string");
  refused_dict("{'descr': '<f8', 'fortran_order': False, 'shape': __import__('os')}",
               TIDE_EFORMAT, "shape must be a tuple");
  refused_dict("{1: 2}", TIDE_EFORMAT, "keys must be strings");
  refused_dict("{'descr': '<f8' 'fortran_order': False, 'shape': (1,)}", TIDE_EFORMAT,
               "expected");
  refused_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } x", TIDE_EFORMAT,
               "after the dict");
  refused_dict("{'descr: '<f8'}", TIDE_EFORMAT, "bad .npy header");
  /* any key order is fine, double quotes too */
  size_t n = build(B, 1, 0, "{\"shape\": (1,), 'descr': '<f8', 'fortran_order': False}", 8);
  tide_Array a;
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "order.npy", &a), TIDE_OK);
  tide_array_close(&a);
}

static void test_bad_shapes(void) {
  refused_dict(D("(-1,)"), TIDE_EFORMAT, "negative dimension");
  refused_dict(D("(1.0,)"), TIDE_EFORMAT, "must be integers");
  refused_dict(D("(1e3,)"), TIDE_EFORMAT, "must be integers");
  refused_dict(D("(True,)"), TIDE_EFORMAT, "not booleans");
  refused_dict(D("[1]"), TIDE_EFORMAT, "not a list");
  refused_dict(D("1"), TIDE_EFORMAT, "must be a tuple");
  refused_dict(D("(1)"), TIDE_EFORMAT, "not a tuple");
  refused_dict(D("(1 2)"), TIDE_EFORMAT, "expected ','");
  refused_dict(D("(99999999999999999999,)"), TIDE_EFORMAT, "too large");
  /* () is a 0-d array (8 bytes), (0,) an empty one */
  size_t n = build(B, 1, 0, D("()"), 8);
  tide_Array a;
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "s.npy", &a), TIDE_OK);
  CHECK_EQ_INT(a.ndim, 0);
  tide_array_close(&a);
  n = build(B, 1, 0, D("(0,)"), 0);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "e.npy", &a), TIDE_OK);
  CHECK_EQ_INT(tide_array_size(&a), 0);
  tide_array_close(&a);
  n = build(B, 1, 0, D("(3, 0, 2,)"), 0);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "e3.npy", &a), TIDE_OK);
  CHECK_EQ_INT(a.ndim, 3);
  tide_array_close(&a);
  /* 32 dimensions load; 33 are refused (CVE-2021-33430) */
  char sh[400] = "(";
  for (int i = 0; i < 33; i++) strcat(sh, "1, ");
  strcat(sh, ")");
  char dict[600];
  snprintf(dict, sizeof dict, D("%s"), sh);
  refused_dict(dict, TIDE_EFORMAT, "more than 32 dimensions");
  sh[strlen(sh) - 4] = ')';
  sh[strlen(sh) - 3] = 0;
  snprintf(dict, sizeof dict, D("%s"), sh);
  n = build(B, 1, 0, dict, 8);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "d32.npy", &a), TIDE_OK);
  CHECK_EQ_INT(a.ndim, 32);
  tide_array_close(&a);
  /* products that overflow, alone or times the item size */
  refused_dict(D("(4294967296, 4294967296)"), TIDE_EFORMAT, "overflows");
  refused_dict(D("(2305843009213693952,)"), TIDE_EFORMAT, "overflows");
  /* a huge but valid-looking shape in a tiny file: no allocation */
  refused_dict(D("(1000000000000,)"), TIDE_EFORMAT, "data shorter than declared");
}

static void test_bad_dtypes(void) {
  refused_dict("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "tide never unpickles");
  refused_dict("{'descr': '<ixy', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "unsupported dtype '<ixy'");
  refused_dict("{'descr': '', 'fortran_order': False, 'shape': (1,)}", TIDE_EFORMAT,
               "empty dtype");
  refused_dict("{'descr': '<U5', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "unicode");
  refused_dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "structured");
  refused_dict("{'descr': '<c16', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "is complex, which tide does not have");
  refused_dict("{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "unsupported dtype");
  refused_dict("{'descr': '|f8', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "only for 1-byte");
  refused_dict("{'descr': 1, 'fortran_order': False, 'shape': (1,)}", TIDE_EFORMAT,
               "descr must be a string");
  refused_dict("{'descr': '<f8', 'fortran_order': 1, 'shape': (1,)}", TIDE_EFORMAT,
               "fortran_order must be True or False");
  refused_dict("{'descr': '<f8', 'fortran_order': 'True', 'shape': (1,)}", TIDE_EFORMAT,
               "fortran_order must be True or False");
  /* '>f8' on a little-endian host loads, swapped */
  size_t n = build(B, 1, 0, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,)}", 8);
  size_t at = n - 8;
  B[at] = 0x3f;
  B[at + 1] = 0xf0; /* 1.0 big-endian */
  tide_Array a;
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "be.npy", &a), TIDE_OK);
  CHECK_NEAR(tide_load_f64(a.dtype, a.data), 1.0, 0);
  tide_array_close(&a);
}

static void test_save_map(void) {
  tide_Array a, b, v;
  int64_t sh[2] = {3, 5};
  CHECK_EQ_INT(tide_array_new(&a, TIDE_I32, 2, sh, TIDE_WHERE_HEAP), TIDE_OK);
  for (int64_t k = 0; k < 15; k++) tide_store_i64(TIDE_I32, a.data + 4 * k, want_int(TIDE_I32, k));
  const char *p = tmpfile_("a.npy");
  CHECK_EQ_INT(tide_npy_save(p, &a), TIDE_OK);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_OK);
  CHECK_EQ_INT(check_values(&b), 0);
  tide_array_close(&b);
  /* a transposed view is written in C order of its own shape */
  tide_array_view(&v, &a);
  tide_array_transpose(&v);
  CHECK_EQ_INT(tide_npy_save(tmpfile_("t.npy"), &v), TIDE_OK);
  CHECK_EQ_INT(tide_npy_load(tmpfile_("t.npy"), &b), TIDE_OK);
  CHECK(b.shape[0] == 5 && b.shape[1] == 3 && tide_array_is_c_contiguous(&b));
  int64_t i2[2] = {4, 1}, j2[2] = {1, 4};
  CHECK_EQ_INT(tide_load_i64(b.dtype, tide_array_at(&b, i2)),
               tide_load_i64(a.dtype, tide_array_at(&a, j2)));
  tide_array_close(&b);
  tide_array_close(&v);
  /* data start 64-byte aligned */
  struct stat st;
  CHECK_EQ_INT(stat(p, &st), 0);
  CHECK_EQ_INT((st.st_size - 60) % 64, 0);
  /* 'c': writes stay private; 'w': writes reach the file after flush */
  CHECK_EQ_INT(tide_npy_map(p, 'c', &b), TIDE_OK);
  CHECK(!(b.flags & TIDE_AF_READONLY));
  tide_store_i64(TIDE_I32, b.data, 1234);
  tide_array_close(&b);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_OK);
  CHECK_EQ_INT(tide_load_i64(TIDE_I32, b.data), -5);
  tide_array_close(&b);
  CHECK_EQ_INT(tide_npy_map(p, 'w', &b), TIDE_OK);
  tide_store_i64(TIDE_I32, b.data, 4321);
  CHECK_EQ_INT(tide_storage_flush(b.storage), TIDE_OK);
  tide_array_close(&b);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_OK);
  CHECK_EQ_INT(tide_load_i64(TIDE_I32, b.data), 4321);
  tide_array_close(&b);
  CHECK_EQ_INT(tide_npy_map(p, 'x', &b), TIDE_EINVAL);
  /* mapping checks the file size exactly */
  int fd = open(p, O_WRONLY | O_APPEND);
  CHECK(fd >= 0 && write(fd, "xx", 2) == 2);
  close(fd);
  CHECK_EQ_INT(tide_npy_map(p, 'r', &b), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "trailing bytes");
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_EFORMAT);
  /* A mapped file truncated by someone else: the size is checked when
  ** mapping, but a later truncation makes access past the new end a SIGBUS
  ** (as for numpy.memmap); that documented fatal end is checked in a child. */
  pid_t pid = fork();
  if (pid == 0) {
    tide_Array m;
    if (tide_npy_map(p, 'r', &m) != TIDE_OK) _exit(3);
    if (truncate(p, 0) != 0) _exit(4);
    signal(SIGBUS, SIG_DFL); /* sanitizers catch SIGBUS; the default ends the child */
    volatile unsigned char x = m.data[0];
    (void)x;
    _exit(0);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  /* the file had 2 trailing bytes: mapping fails cleanly (3) in the child */
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  CHECK_EQ_INT(tide_npy_save(p, &a), TIDE_OK);
  pid = fork();
  if (pid == 0) {
    tide_Array m;
    if (tide_npy_map(p, 'r', &m) != TIDE_OK) _exit(3);
    if (truncate(p, 0) != 0) _exit(4);
    signal(SIGBUS, SIG_DFL); /* sanitizers catch SIGBUS; the default ends the child */
    volatile unsigned char x = m.data[0];
    (void)x;
    _exit(0);
  }
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "too short");
  /* create: zero-filled, mapped read-write, readable afterwards */
  int64_t sh3[3] = {2, 2, 3};
  p = tmpfile_("c.npy");
  CHECK_EQ_INT(tide_npy_create(p, TIDE_F32, 3, sh3, &b), TIDE_OK);
  CHECK_EQ_INT(b.storage->kind, TIDE_STORE_FILE);
  CHECK_NEAR(tide_load_f64(TIDE_F32, b.data + 4 * 11), 0, 0);
  tide_store_f64(TIDE_F32, b.data + 4 * 11, 2.5);
  CHECK_EQ_INT(tide_storage_flush(b.storage), TIDE_OK);
  tide_array_close(&b);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_OK);
  CHECK_NEAR(tide_load_f64(TIDE_F32, b.data + 4 * 11), 2.5, 0);
  tide_array_close(&b);
  /* errors name the file and the system reason */
  CHECK_EQ_INT(tide_npy_load(tmpfile_("missing.npy"), &b) < 0, 1);
  CHECK_STR_HAS(tide_lasterror(), "missing.npy: No such file");
  CHECK(tide_npy_save("/nonexistent-dir/x.npy", &a) < 0);
  CHECK_STR_HAS(tide_lasterror(), "/nonexistent-dir/x.npy");
  tide_array_close(&a);
}

static void test_npz(void) {
  tide_Npz *z;
  int rc = tide_npz_open(fixture("stored.npz"), &z);
  CHECK_EQ_INT(rc, TIDE_OK);
  if (!rc) {
    CHECK_EQ_INT(tide_npz_count(z), 3);
    for (int i = 0; i < tide_npz_count(z); i++) {
      tide_Array a;
      CHECK_EQ_INT(tide_npz_read(z, i, &a), TIDE_OK);
      CHECK_EQ_INT(check_values(&a), 0);
      tide_array_close(&a);
    }
    tide_npz_close(z);
  }
  for (int f = 0; f < 2; f++) {
  rc = tide_npz_open(fixture(f ? "zip64.npz" : "deflated.npz"), &z);
  CHECK_EQ_INT(rc, TIDE_OK);
  if (!rc) {
    CHECK_EQ_INT(tide_npz_count(z), f ? 2 : 3);
    for (int i = 0; i < tide_npz_count(z); i++) {
      tide_Array a;
      CHECK_EQ_INT(tide_npz_read(z, i, &a), TIDE_OK);
      CHECK_EQ_INT(check_values(&a), 0);
      tide_array_close(&a);
    }
    tide_npz_close(z);
  }
  }
  /* round trips, stored and deflated */
  tide_Array x, y;
  int64_t sh[2] = {40, 7};
  tide_array_new(&x, TIDE_F64, 2, sh, TIDE_WHERE_HEAP);
  for (int64_t k = 0; k < 280; k++) tide_store_f64(TIDE_F64, x.data + 8 * k, k * 0.5 - 3.25);
  tide_array_view(&y, &x);
  tide_array_slice(&y, 1, 0, 7, 2); /* a strided view */
  const char *names[2] = {"x", "y"};
  const tide_Array *arrs[2] = {&x, &y};
  for (int c = 0; c < 2; c++) {
    const char *p = tmpfile_(c ? "d.npz" : "s.npz");
    CHECK_EQ_INT(tide_npz_save(p, 2, names, arrs, c), TIDE_OK);
    CHECK_EQ_INT(tide_npz_open(p, &z), TIDE_OK);
    CHECK_EQ_INT(tide_npz_count(z), 2);
    tide_Array a;
    CHECK_EQ_INT(tide_npz_read(z, 0, &a), TIDE_OK);
    CHECK_EQ_INT(check_values(&a), 0);
    tide_array_close(&a);
    CHECK_EQ_INT(tide_npz_read(z, 1, &a), TIDE_OK);
    CHECK(a.shape[0] == 40 && a.shape[1] == 4);
    int64_t ij[2] = {3, 2};
    CHECK_NEAR(tide_load_f64(a.dtype, tide_array_at(&a, ij)), (3 * 7 + 4) * 0.5 - 3.25, 0);
    tide_array_close(&a);
    tide_npz_close(z);
  }
  CHECK_EQ_INT(tide_npz_save(tmpfile_("dup.npz"), 2, (const char *[]){"a", "a"}, arrs, 0),
               TIDE_EINVAL);
  tide_array_close(&y);
  tide_array_close(&x);
  /* corrupt archives: single-byte flips all over and truncations of a
  ** stored and a deflated one give an error or a load, never a crash */
  static unsigned char zb[1 << 14];
  size_t zl = 0;
  const char *cp = tmpfile_("corrupt.npz");
  for (int c = 1; c >= 0; c--) {
    FILE *f = fopen(tmpfile_(c ? "d.npz" : "s.npz"), "rb");
    zl = f ? fread(zb, 1, sizeof zb, f) : 0;
    if (f) fclose(f);
    CHECK(zl > 100 && zl < sizeof zb);
    int errors = 0, oks = 0;
    for (size_t i = 0; i < zl; i += c ? 3 : 7) {
      for (int mode = 0; mode < 2; mode++) {
        FILE *g = fopen(cp, "wb");
        if (mode == 0) {
          zb[i] ^= 0x5a;
          fwrite(zb, 1, zl, g);
          zb[i] ^= 0x5a;
        } else {
          fwrite(zb, 1, i, g);
        }
        fclose(g);
        if (tide_npz_open(cp, &z) != TIDE_OK) {
          errors++;
          CHECK(tide_lasterror()[0] != 0);
          continue;
        }
        for (int m = 0; m < tide_npz_count(z); m++) {
          tide_Array a;
          if (tide_npz_read(z, m, &a) == TIDE_OK) {
            oks++;
            tide_array_close(&a);
          } else {
            errors++;
          }
        }
        tide_npz_close(z);
      }
    }
    CHECK(errors > 0);
    printf("corrupt %s npz: %d errors, %d loads\n", c ? "deflated" : "stored", errors, oks);
  }
  /* a data byte flip is caught by the CRC */
  FILE *g = fopen(cp, "wb");
  zb[zl / 4] ^= 1;
  fwrite(zb, 1, zl, g);
  zb[zl / 4] ^= 1;
  fclose(g);
  CHECK_EQ_INT(tide_npz_open(cp, &z), TIDE_OK);
  tide_Array a;
  CHECK_EQ_INT(tide_npz_read(z, 0, &a), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "CRC-32");
  tide_npz_close(z);
  /* patched names: a duplicate, and a member that is not NAME.npy */
  for (int k = 0; k < 2; k++) {
    static unsigned char pb[1 << 14];
    memcpy(pb, zb, zl);
    for (size_t i = 0; i + 5 <= zl; i++)
      if (!memcmp(pb + i, "y.npy", 5)) memcpy(pb + i, k ? "y.txt" : "x.npy", 5);
    FILE *h = fopen(cp, "wb");
    fwrite(pb, 1, zl, h);
    fclose(h);
    CHECK_EQ_INT(tide_npz_open(cp, &z), TIDE_EFORMAT);
    CHECK_STR_HAS(tide_lasterror(), k ? "is not a NAME.npy" : "appears twice");
  }
  /* zip64 end record in use: the classic one says 0xFFFFFFFF */
  {
    static unsigned char pb[1 << 14];
    FILE *h = fopen(fixture("zip64.npz"), "rb");
    size_t pl = h ? fread(pb, 1, sizeof pb, h) : 0;
    if (h) fclose(h);
    CHECK(pl > 22);
    memset(pb + pl - 22 + 12, 0xff, 8);
    h = fopen(cp, "wb");
    fwrite(pb, 1, pl, h);
    fclose(h);
    CHECK_EQ_INT(tide_npz_open(cp, &z), TIDE_OK);
    if (z) {
      CHECK_EQ_INT(tide_npz_read(z, 1, &a), TIDE_OK);
      CHECK_EQ_INT(check_values(&a), 0);
      tide_array_close(&a);
      tide_npz_close(z);
    }
    /* and a broken zip64 locator */
    memset(pb + pl - 42, 0, 4);
    h = fopen(cp, "wb");
    fwrite(pb, 1, pl, h);
    fclose(h);
    CHECK_EQ_INT(tide_npz_open(cp, &z), TIDE_EFORMAT);
    CHECK_STR_HAS(tide_lasterror(), "zip64");
  }
  /* kinds */
  CHECK_EQ_INT(tide_file_kind(fixture("stored.npz")), TIDE_FILE_NPZ);
  CHECK_EQ_INT(tide_file_kind(fixture("v2.npy")), TIDE_FILE_NPY);
}

/* Counts leftover temp files (NAME.tmp-XXXXXX) in the test folder. */
static int temp_files(void) {
  DIR *d = opendir(tmpdir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".tmp-")) n++;
  if (d) closedir(d);
  return n;
}

/* Saves of a (200 x 300 f64) where files may grow to 4 KiB: 0, or which
** step did not fail as it should. */
static int four_kb_disk(void *ud) {
  const tide_Array *a = ud;
  int64_t sh[2] = {200, 300};
  tide_Array b;
  const char *q = tmpfile_("limited.npy");
  int rc = tide_npy_save(q, a);
  if (rc == TIDE_OK) return 1;
  if (!strstr(tide_lasterror(), "limited.npy")) return 2;
  if (access(q, F_OK) == 0) return 3;
  const char *names[1] = {"a"};
  const tide_Array *arrs[1] = {a};
  if (tide_npz_save(tmpfile_("limited.npz"), 1, names, arrs, 0) == TIDE_OK) return 6;
  if (tide_npy_create(tmpfile_("limited2.npy"), TIDE_F64, 2, sh, &b) == TIDE_OK) return 7;
  return 0;
}

static void test_more(void) {
  /* a big strided view goes out through the chunk buffer */
  tide_Array a, b, v;
  int64_t sh[2] = {200, 300};
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 2, sh, TIDE_WHERE_HEAP), TIDE_OK);
  for (int64_t k = 0; k < 60000; k++) tide_store_f64(TIDE_F64, a.data + 8 * k, (double)k);
  tide_array_view(&v, &a);
  tide_array_transpose(&v);
  const char *p = tmpfile_("big.npy");
  CHECK_EQ_INT(tide_npy_save(p, &v), TIDE_OK);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_OK);
  int bad = 0;
  for (int64_t i = 0; i < 300; i++)
    for (int64_t j = 0; j < 200; j++)
      bad += tide_load_f64(TIDE_F64, b.data + 8 * (i * 200 + j)) != (double)(j * 300 + i);
  CHECK_EQ_INT(bad, 0);
  tide_array_close(&b);
  tide_array_close(&v);
  /* a write failure (file size limit) is an error naming the file, and
  ** leaves neither a partial file nor a temp file */
  CHECK_EQ_INT(check_fsize_child(4096, four_kb_disk, &a), 0);
  CHECK_EQ_INT(temp_files(), 0);
  tide_array_close(&a);
  /* data not aligned to the item size: loads, but cannot be mapped */
  static unsigned char u[256];
  const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  size_t dl = strlen(dict), hl = 61; /* 10 + 61: data at byte 71 */
  memcpy(u, "\x93NUMPY\x01\x00", 8);
  u[8] = (unsigned char)hl;
  u[9] = 0;
  memcpy(u + 10, dict, dl);
  memset(u + 10 + dl, ' ', hl - dl - 1);
  u[10 + hl - 1] = '\n';
  memset(u + 10 + hl, 0, 16);
  p = tmpfile_("unaligned.npy");
  FILE *f = fopen(p, "wb");
  fwrite(u, 1, 10 + hl + 16, f);
  fclose(f);
  CHECK_EQ_INT(tide_npy_load(p, &b), TIDE_OK);
  tide_array_close(&b);
  CHECK_EQ_INT(tide_npy_map(p, 'r', &b), TIDE_ENOTSUP);
  CHECK_STR_HAS(tide_lasterror(), "not a multiple");
  /* not a regular file */
  CHECK_EQ_INT(tide_npy_load(tmpdir, &b), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "not a regular file");
  CHECK(tide_npz_open(tmpdir, &(tide_Npz *){NULL}) < 0);
  refused_dict("{'descr': 'f8', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "no byte-order mark");
  refused_dict(D("(03,)"), TIDE_EFORMAT, "bad integer");
  refused_dict("{'descr': '<ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff8', "
               "'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE, "unsupported dtype");
}

/* Writes len bytes of B to a file of the test folder; its path. */
static const char *put_file(const char *name, size_t len) {
  const char *p = tmpfile_(name);
  FILE *f = fopen(p, "wb");
  CHECK(f && fwrite(B, 1, len, f) == len);
  if (f) fclose(f);
  return p;
}

/* The corners of the header parser the other tests pass by: each odd
** header is refused with the reason, each odd but valid one loads. */
static void test_header_edges(void) {
  tide_Array a;
  /* a v2 file cut inside its 4-byte length */
  memcpy(B, "\x93NUMPY\x02\x00\x10\x00", 10);
  refused(10, TIDE_EFORMAT, "file too short (10 bytes)");
  /* a zero header length: no dict, no newline */
  memcpy(B, "\x93NUMPY\x01\x00\x00\x00", 10);
  refused(10, TIDE_EFORMAT, "does not end with a newline");
  /* tabs and carriage returns are white space in the dict */
  size_t n = build(B, 1, 0, "{\t'descr':\r'<i4',\t'fortran_order': True, 'shape': (2,\t)}", 8);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "ws.npy", &a), TIDE_OK);
  CHECK(a.ndim == 1 && a.shape[0] == 2 && a.dtype == TIDE_I32);
  tide_array_close(&a);
  /* strings: a backslash, an unterminated one, a bad key; the message
  ** quotes where, with unprintable bytes and quotes as '?' */
  refused_dict("{'de\\scr': '<f8'}", TIDE_EFORMAT, "unsupported character in a string");
  refused_dict("{'descr': '<f8', \x01\"}", TIDE_EFORMAT, "near \"??}");
  /* (an unterminated string cannot be: the dict ends with '\n', which
  ** ends a string as an error first) */
  refused_dict("{'descr", TIDE_EFORMAT, "unsupported character in a string");
  refused_dict("{'a_very_long_key_that_is_not_one_of_the_three': 1}", TIDE_EFORMAT,
               "unexpected key");
  refused_dict("{'fortran_order' False}", TIDE_EFORMAT, "expected ':'");
  refused_dict("{'descr': '<f8', 'fortran_order': Falsehood, 'shape': (1,)}", TIDE_EFORMAT,
               "fortran_order must be True or False");
  refused_dict("{'descr': '<f8', 'fortran_order': Tru, 'shape': (1,)}", TIDE_EFORMAT,
               "fortran_order must be True or False");
  refused_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", TIDE_EFORMAT,
               "expected ',' or '}'");
  refused_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,", TIDE_EFORMAT,
               "shape entries must be integers");
  refused_dict("{\"descr\": \"<f8\", \"fortran_order\": False}", TIDE_EFORMAT,
               "missing key 'shape'");
  refused_dict("{'shape': (1,), 'fortran_order': False}", TIDE_EFORMAT, "missing key 'descr'");
  refused_dict("{'shape': (1,), 'descr': '<f8'}", TIDE_EFORMAT, "missing key 'fortran_order'");
  /* shape entries: False, names, a leading 0 before a name, floats */
  refused_dict(D("(False,)"), TIDE_EFORMAT, "not booleans");
  refused_dict(D("(n,)"), TIDE_EFORMAT, "must be integers");
  refused_dict(D("(0x10,)"), TIDE_EFORMAT, "bad integer");
  refused_dict(D("(1.,)"), TIDE_EFORMAT, "not floats or names");
  refused_dict(D("(12ab,)"), TIDE_EFORMAT, "not floats or names");
  refused_dict(D("(1,,)"), TIDE_EFORMAT, "must be integers");
  /* dtypes: control bytes are quoted as '?', a NUL byte is named, every
  ** numpy family tide lacks is refused by name */
  refused_dict("{'descr': '<f\x7f', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "'<f?'");
  static const char nul[] = "{'descr': '<f\0008', 'fortran_order': False, 'shape': (1,)}";
  refused(build(B, 1, 0, "x", 0), TIDE_EFORMAT, "not a dict");
  {
    size_t dl = sizeof nul - 1, hl = dl + 1;
    hl += (64 - (10 + hl) % 64) % 64;
    memcpy(B, "\x93NUMPY\x01\x00", 8);
    B[8] = (unsigned char)hl;
    B[9] = 0;
    memcpy(B + 10, nul, dl);
    memset(B + 10 + dl, ' ', hl - dl - 1);
    B[10 + hl - 1] = '\n';
    memset(B + 10 + hl, 0, 8);
    refused(10 + hl + 8, TIDE_EDTYPE, "NUL byte");
  }
  static const char *const fam[][2] = {
    {"'O'", "never unpickles"}, {"'<S3'", "string, unicode"}, {"'|a3'", "string, unicode"},
    {"'|V8'", "string, unicode"}, {"'c8'", "complex"}, {"'<M8[s]'", "unsupported dtype"},
    {"'<f8 with a long tail past sixty-four bytes of text, well past it, yes'",
     "unsupported dtype '<f8 with a long"}};
  for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
    char dict[200];
    snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (1,)}",
             fam[i][0]);
    refused_dict(dict, TIDE_EDTYPE, fam[i][1]);
  }
  /* '=' is the native order, '>' on a 1-byte type means nothing */
  n = build(B, 1, 0, "{'descr': '=f8', 'fortran_order': False, 'shape': (1,)}", 8);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "native.npy", &a), TIDE_OK);
  CHECK_EQ_INT(a.dtype, TIDE_F64);
  tide_array_close(&a);
  n = build(B, 1, 0, "{'descr': '>b1', 'fortran_order': False, 'shape': (1,)}", 1);
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "b1.npy", &a), TIDE_OK);
  CHECK_EQ_INT(a.dtype, TIDE_BOOL);
  tide_array_close(&a);
  /* 2-byte items in the other byte order are swapped: '>i2', and float16
  ** ('>f2') loads converted when a dtype is asked for */
  n = build(B, 1, 0, "{'descr': '>i2', 'fortran_order': False, 'shape': (2,)}", 4);
  B[n - 4] = 0x01;
  B[n - 3] = 0x02;
  B[n - 2] = 0xff;
  B[n - 1] = 0xfe;
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, NULL, &a), TIDE_OK);
  CHECK_EQ_INT(tide_load_i64(a.dtype, a.data), 0x0102);
  CHECK_EQ_INT(tide_load_i64(a.dtype, a.data + 2), -2);
  tide_array_close(&a);
  n = build(B, 1, 0, "{'descr': '>f2', 'fortran_order': False, 'shape': (3,)}", 6);
  memcpy(B + n - 6, "\x3c\x00\xc0\x00\x7c\x00", 6); /* 1, -2, inf */
  const char *p = put_file("half_be.npy", n);
  CHECK_EQ_INT(tide_npy_load(p, &a), TIDE_EDTYPE);
  CHECK_STR_HAS(tide_lasterror(), "float16");
  CHECK_EQ_INT(tide_npy_load_as(p, TIDE_F32, &a), TIDE_OK);
  CHECK_NEAR(tide_load_f64(a.dtype, a.data), 1.0, 0);
  CHECK_NEAR(tide_load_f64(a.dtype, a.data + 4), -2.0, 0);
  CHECK(isinf(tide_load_f64(a.dtype, a.data + 8)));
  tide_array_close(&a);
  CHECK_EQ_INT(tide_npy_map(p, 'r', &a), TIDE_ENOTSUP);
  CHECK_STR_HAS(tide_lasterror(), "float16");
  /* a dtype asked for converts any file; the same dtype is no copy */
  n = build(B, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}", 16);
  B[n - 16] = 7;
  p = put_file("i8.npy", n);
  CHECK_EQ_INT(tide_npy_load_as(p, TIDE_F64, &a), TIDE_OK);
  CHECK(a.dtype == TIDE_F64 && tide_load_f64(a.dtype, a.data) == 7.0);
  tide_array_close(&a);
  CHECK_EQ_INT(tide_npy_load_as(p, TIDE_I64, &a), TIDE_OK);
  CHECK(a.dtype == TIDE_I64 && tide_load_i64(a.dtype, a.data) == 7);
  tide_array_close(&a);
  /* mapping: a bad mode, a file that is not .npy, one in the other byte
  ** order, one with trailing bytes */
  CHECK_EQ_INT(tide_npy_map(p, 'x', &a), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "mmap mode");
  CHECK_EQ_INT(tide_npy_map(tmpfile_("none.npy"), 'r', &a), TIDE_EIO);
  CHECK_EQ_INT(tide_npy_map(tmpdir, 'r', &a), TIDE_EINVAL);
  memcpy(B, "not numpy at all, but long enough", 33);
  p = put_file("text.npy", 33);
  CHECK_EQ_INT(tide_npy_map(p, 'r', &a), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "text.npy: not a .npy file");
  CHECK_EQ_INT(tide_file_kind(p), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "neither a .npy nor a .npz");
  n = build(B, 1, 0, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,)}", 8);
  p = put_file("be.npy", n);
  CHECK_EQ_INT(tide_npy_map(p, 'r', &a), TIDE_ENOTSUP);
  CHECK_STR_HAS(tide_lasterror(), "other byte order");
  n = build(B, 1, 0, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3)}", 24);
  for (int k = 0; k < 6; k++) B[n - 24 + 4 * k] = (unsigned char)k;
  p = put_file("fortran.npy", n);
  CHECK_EQ_INT(tide_npy_map(p, 'c', &a), TIDE_OK);
  int64_t ij[2] = {1, 2}; /* Fortran order: element (1, 2) is at 1 + 2 * 2 */
  CHECK_EQ_INT(tide_load_i64(a.dtype, tide_array_at(&a, ij)), 5);
  tide_array_close(&a);
  /* file kinds: an empty zip, a local-header zip, a short .npy, others */
  memcpy(B, "PK\x05\x06", 4);
  CHECK_EQ_INT(tide_file_kind(put_file("empty.npz", 4)), TIDE_FILE_NPZ);
  memcpy(B, "PK\x03\x05xx", 6);
  CHECK_EQ_INT(tide_file_kind(put_file("pk.npz", 6)), TIDE_EFORMAT);
  memcpy(B, "PK\x07\x04xx", 6);
  CHECK_EQ_INT(tide_file_kind(put_file("pk2.npz", 6)), TIDE_EFORMAT);
  memcpy(B, "PX\x03\x04xx", 6);
  CHECK_EQ_INT(tide_file_kind(put_file("px.npz", 6)), TIDE_EFORMAT);
  memcpy(B, "\x93NUM", 4);
  CHECK_EQ_INT(tide_file_kind(put_file("short.npy", 4)), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "file too short (4 bytes)");
  memcpy(B, "xy", 2);
  CHECK_EQ_INT(tide_file_kind(put_file("xy", 2)), TIDE_EFORMAT);
  CHECK_EQ_INT(tide_file_kind(tmpfile_("none")), TIDE_EIO);
  /* creating: an unknown dtype, an overflowing shape, a folder in the way */
  int64_t big[2] = {INT64_MAX / 2, 4};
  CHECK_EQ_INT(tide_npy_create(tmpfile_("c.npy"), TIDE_NDTYPES, 1, big, &a), TIDE_EDTYPE);
  CHECK(tide_npy_create(tmpfile_("c.npy"), TIDE_F64, 2, big, &a) != TIDE_OK);
  CHECK_EQ_INT(tide_npy_create(tmpfile_("no/c.npy"), TIDE_F64, 1, big + 1, &a), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot create a file next to");
  /* saving over a folder: the rename fails, the temp file goes */
  char dir[600];
  snprintf(dir, sizeof dir, "%s", tmpfile_("adir.npy"));
  CHECK(mkdir(dir, 0700) == 0);
  int64_t two = 2;
  tide_Array s;
  CHECK_EQ_INT(tide_array_new(&s, TIDE_U8, 1, &two, TIDE_WHERE_HEAP), TIDE_OK);
  CHECK(tide_npy_save(dir, &s) != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "cannot rename");
  CHECK_EQ_INT(temp_files(), 0);
  rmdir(dir);
  /* a path without a folder: saved in the current one */
  char cwd[512];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK(chdir(tmpdir) == 0);
  CHECK_EQ_INT(tide_npy_save("here.npy", &s), TIDE_OK);
  CHECK_EQ_INT(tide_npy_load("here.npy", &a), TIDE_OK);
  CHECK(a.dtype == TIDE_U8 && a.shape[0] == 2);
  tide_array_close(&a);
  CHECK(chdir(cwd) == 0);
  tide_array_close(&s);
  CHECK_EQ_INT(tide_npy_save(tmpfile_("closed.npy"), &s), TIDE_ECLOSED);
}

/* ---- hand-made zip archives for the .npz reader's checks */

static unsigned char Z[1 << 15];
static size_t z_len, z_cd, z_end; /* length, central entry and end offsets */
static int z_flush = Z_FINISH;    /* Z_SYNC_FLUSH: a deflate stream without its end */

static void w16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static void w32(unsigned char *p, uint32_t v) {
  w16(p, v & 0xffff);
  w16(p + 2, v >> 16);
}

/* One member NAME holding the n bytes at data, stored (method 0) or raw
** deflated (8), with extra fields cx (central) and lx (local); a valid
** archive, which the tests then patch. */
static void zmake(const char *name, const unsigned char *data, size_t n, int method,
                  const unsigned char *cx, size_t cxl, const unsigned char *lx, size_t lxl) {
  static unsigned char comp[1 << 14];
  size_t cl = n;
  const unsigned char *body = data;
  if (method == 8) {
    z_stream s;
    memset(&s, 0, sizeof s);
    CHECK(deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    s.next_in = (unsigned char *)(uintptr_t)data;
    s.avail_in = (uInt)n;
    s.next_out = comp;
    s.avail_out = sizeof comp;
    CHECK(deflate(&s, z_flush) == (z_flush == Z_FINISH ? Z_STREAM_END : Z_OK));
    cl = sizeof comp - s.avail_out;
    deflateEnd(&s);
    body = comp;
  }
  uint32_t crc = (uint32_t)crc32(0, data, (uInt)n);
  size_t nl = strlen(name), o = 0;
  memset(Z, 0, sizeof Z);
  w32(Z, 0x04034b50u);
  w16(Z + 4, 20);
  w16(Z + 8, (unsigned)method);
  w32(Z + 14, crc);
  w32(Z + 18, (uint32_t)cl);
  w32(Z + 22, (uint32_t)n);
  w16(Z + 26, (unsigned)nl);
  w16(Z + 28, (unsigned)lxl);
  memcpy(Z + 30, name, nl);
  if (lxl) memcpy(Z + 30 + nl, lx, lxl);
  o = 30 + nl + lxl;
  memcpy(Z + o, body, cl);
  o += cl;
  z_cd = o;
  unsigned char *c = Z + o;
  w32(c, 0x02014b50u);
  w16(c + 4, 20);
  w16(c + 6, 20);
  w16(c + 10, (unsigned)method);
  w32(c + 16, crc);
  w32(c + 20, (uint32_t)cl);
  w32(c + 24, (uint32_t)n);
  w16(c + 28, (unsigned)nl);
  w16(c + 30, (unsigned)cxl);
  memcpy(c + 46, name, nl);
  if (cxl) memcpy(c + 46 + nl, cx, cxl);
  o += 46 + nl + cxl;
  z_end = o;
  unsigned char *e = Z + o;
  w32(e, 0x06054b50u);
  w16(e + 8, 1);
  w16(e + 10, 1);
  w32(e + 12, (uint32_t)(z_end - z_cd));
  w32(e + 16, (uint32_t)z_cd);
  z_len = o + 22;
}

/* Opens (and reads member 0 of) the archive in Z as it stands: the first
** error's code, its message holding msg; TIDE_OK when all went well. */
static int zload(const char *msg) {
  const char *p = tmpfile_("made.npz");
  FILE *f = fopen(p, "wb");
  CHECK(f && fwrite(Z, 1, z_len, f) == z_len);
  if (f) fclose(f);
  tide_Npz *z;
  int rc = tide_npz_open(p, &z);
  if (!rc) {
    tide_Array a;
    rc = tide_npz_read(z, 0, &a);
    if (!rc) {
      CHECK_EQ_INT(tide_load_i64(a.dtype, a.data), 42);
      tide_array_close(&a);
    }
    tide_npz_close(z);
  }
  if (msg) CHECK_STR_HAS(tide_lasterror(), msg);
  if (msg && rc == TIDE_OK) fprintf(stderr, "  accepted; expected: %s\n", msg);
  return rc;
}

static void test_npz_made(void) {
  static unsigned char npy[256];
  size_t nn = build(npy, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}", 8);
  npy[nn - 8] = 42;
  /* the valid archives: stored and deflated; an extra field tide skips */
  for (int m = 0; m <= 8; m += 8) {
    zmake("a.npy", npy, nn, m, NULL, 0, NULL, 0);
    CHECK_EQ_INT(zload(NULL), TIDE_OK);
  }
  static const unsigned char ut[9] = {0x55, 0x54, 5, 0, 1, 0, 0, 0, 0}; /* a timestamp */
  zmake("a.npy", npy, nn, 0, ut, 9, ut, 9);
  CHECK_EQ_INT(zload(NULL), TIDE_OK);
  /* extra fields that lie */
  static const unsigned char xl[4] = {0x55, 0x54, 40, 0};
  zmake("a.npy", npy, nn, 0, xl, 4, NULL, 0);
  CHECK_EQ_INT(zload("extra field out of bounds"), TIDE_EFORMAT);
  static const unsigned char z64[8] = {1, 0, 4, 0, 0, 0, 0, 0};
  zmake("a.npy", npy, nn, 0, z64, 8, NULL, 0);
  w32(Z + z_cd + 24, 0xffffffffu); /* usize in the zip64 field, which has 4 bytes */
  CHECK_EQ_INT(zload("zip64 extra field too short"), TIDE_EFORMAT);
  /* flags and methods tide does not read */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_cd + 8, 1);
  CHECK_EQ_INT(zload("encrypted members"), TIDE_ENOTSUP);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_cd + 10, 12);
  CHECK_EQ_INT(zload("compression method 12"), TIDE_ENOTSUP);
  /* names: too short, a NUL inside */
  zmake("a.np", npy, nn, 0, NULL, 0, NULL, 0);
  CHECK_EQ_INT(zload("member 'a.np' is not a NAME.npy"), TIDE_EFORMAT);
  zmake("a\001.npy", npy, nn, 0, NULL, 0, NULL, 0);
  Z[z_cd + 47] = 0;
  CHECK_EQ_INT(zload("is not a NAME.npy"), TIDE_EFORMAT);
  /* offsets and sizes that lie */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_cd + 42, (uint32_t)z_cd + 1);
  CHECK_EQ_INT(zload("outside the archive"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_cd + 42, (uint32_t)z_cd - 10);
  CHECK_EQ_INT(zload("outside the archive"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_cd + 24, (uint32_t)nn + 1);
  CHECK_EQ_INT(zload("stored member's sizes disagree"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 8, NULL, 0, NULL, 0);
  w32(Z + z_cd + 24, 0x7fffffffu);
  CHECK_EQ_INT(zload("impossible expansion"), TIDE_EFORMAT);
  /* the central directory: its size, its count, its bounds, its disks */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_end + 12, (uint32_t)(z_end - z_cd) - 1);
  CHECK_EQ_INT(zload("entry too long"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_end + 16, (uint32_t)z_cd - 4);
  w32(Z + z_end + 12, (uint32_t)(z_end - z_cd) + 4);
  CHECK_EQ_INT(zload("without its signature"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_end + 8, 2);
  w16(Z + z_end + 10, 2);
  CHECK_EQ_INT(zload("more entries than the central directory can hold"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_end + 8, 0);
  w16(Z + z_end + 10, 0);
  CHECK_EQ_INT(zload("does not match its entries"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_end + 4, 1);
  CHECK_EQ_INT(zload("multi-disk"), TIDE_ENOTSUP);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_end + 6, 1);
  CHECK_EQ_INT(zload("multi-disk"), TIDE_ENOTSUP);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_end + 8, 3);
  CHECK_EQ_INT(zload("multi-disk"), TIDE_ENOTSUP);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_end + 16, (uint32_t)z_end + 1);
  CHECK_EQ_INT(zload("central directory out of bounds"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w32(Z + z_end + 12, 4096);
  CHECK_EQ_INT(zload("central directory out of bounds"), TIDE_EFORMAT);
  /* end records: none, a comment that does not reach the end, too short */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + z_end + 20, 5);
  CHECK_EQ_INT(zload("no end-of-central-directory record"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  memmove(Z, Z + z_end, 22);
  z_len = 21;
  CHECK_EQ_INT(zload("too short for a zip end record"), TIDE_EFORMAT);
  /* zip64: a locator before the start, one pointing out of bounds, one
  ** pointing at something else */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  memmove(Z, Z + z_end, 22);
  w16(Z + 10, 0xffff);
  z_len = 22;
  CHECK_EQ_INT(zload("zip64 end record locator missing"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  {
    unsigned char endrec[22];
    memcpy(endrec, Z + z_end, 22);
    for (int k = 0; k < 3; k++) {
      unsigned char *loc = Z + z_end;
      memset(loc, 0, 20);
      w32(loc, 0x07064b50u);
      /* 0: past the locator; 1: too close to it for 56 bytes; 2: in the data */
      uint64_t off = k == 0 ? z_end + 4 : k == 1 ? z_end - 40 : 0;
      w32(loc + 8, (uint32_t)off);
      memcpy(Z + z_end + 20, endrec, 22);
      w16(Z + z_end + 20 + 10, 0xffff);
      z_len = z_end + 42;
      CHECK_EQ_INT(zload("zip64 end record missing or out of bounds"), TIDE_EFORMAT);
    }
  }
  /* local headers: no signature, names that differ, data into the
  ** directory (a local extra length that lies) */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  Z[0] = 'X';
  CHECK_EQ_INT(zload("lacks its signature"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + 26, 6);
  CHECK_EQ_INT(zload(NULL), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + 26, 4);
  CHECK_EQ_INT(zload("local and central names differ"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  w16(Z + 28, 200);
  CHECK_EQ_INT(zload("data run into the central directory"), TIDE_EFORMAT);
  /* deflate streams: cut short, corrupt, with bytes after their end */
  zmake("a.npy", npy, nn, 8, NULL, 0, NULL, 0);
  {
    size_t cl = z_cd - 35;
    /* cut: the member keeps its first half, the directory moves up */
    size_t keep = cl / 2;
    memmove(Z + 35 + keep, Z + z_cd, z_len - z_cd);
    z_len -= cl - keep;
    z_cd -= cl - keep;
    z_end -= cl - keep;
    w32(Z + 18, (uint32_t)keep);
    w32(Z + z_cd + 20, (uint32_t)keep);
    w32(Z + z_end + 16, (uint32_t)z_cd);
    CHECK_EQ_INT(zload("deflate data end too soon"), TIDE_EFORMAT);
  }
  zmake("a.npy", npy, nn, 8, NULL, 0, NULL, 0);
  Z[35] = 0xff; /* block type 3: reserved */
  Z[36] = 0xff;
  CHECK_EQ_INT(zload("corrupt deflate data"), TIDE_EFORMAT);
  zmake("a.npy", npy, nn, 8, NULL, 0, NULL, 0);
  {
    /* two spare bytes after the stream, inside the member */
    memmove(Z + z_cd + 2, Z + z_cd, z_len - z_cd);
    Z[z_cd] = Z[z_cd + 1] = 0;
    uint32_t cl = (uint32_t)(z_cd - 35 + 2);
    z_cd += 2;
    z_end += 2;
    z_len += 2;
    w32(Z + 18, cl);
    w32(Z + z_cd + 20, cl);
    w32(Z + z_end + 16, (uint32_t)z_cd);
    CHECK_EQ_INT(zload("bytes after the end of the deflate stream"), TIDE_EFORMAT);
  }
  /* members by number */
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  CHECK_EQ_INT(zload(NULL), TIDE_OK);
  tide_Npz *z;
  CHECK_EQ_INT(tide_npz_open(tmpfile_("made.npz"), &z), TIDE_OK);
  if (z) {
    tide_Array a;
    CHECK_EQ_INT(tide_npz_read(z, 1, &a), TIDE_ERANGE);
    CHECK_EQ_INT(tide_npz_read(z, -1, &a), TIDE_ERANGE);
    CHECK_STR_HAS(tide_npz_name(z, 0), "a");
    tide_npz_close(z);
  }
  CHECK_EQ_INT(tide_npz_open(tmpfile_("missing.npz"), &z), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot open");
  /* saving: names of 0 or 251 bytes, a closed array */
  tide_Array x;
  int64_t one = 1;
  CHECK_EQ_INT(tide_array_new(&x, TIDE_F64, 1, &one, TIDE_WHERE_HEAP), TIDE_OK);
  const tide_Array *arrs[1] = {&x};
  char longname[252];
  memset(longname, 'n', 251);
  longname[251] = 0;
  const char *bad_names[2] = {"", longname};
  for (int k = 0; k < 2; k++) {
    CHECK_EQ_INT(tide_npz_save(tmpfile_("n.npz"), 1, &bad_names[k], arrs, 0), TIDE_EINVAL);
    CHECK_STR_HAS(tide_lasterror(), "1 to 250 bytes");
  }
  tide_array_close(&x);
  CHECK_EQ_INT(tide_npz_save(tmpfile_("n.npz"), 1, (const char *[]){"x"}, arrs, 1), TIDE_ECLOSED);
  CHECK_EQ_INT(tide_npz_save(tmpfile_("no/n.npz"), 0, NULL, NULL, 1), TIDE_EIO);
  /* an empty archive saves and opens */
  CHECK_EQ_INT(tide_npz_save(tmpfile_("empty.npz"), 0, NULL, NULL, 0), TIDE_OK);
  CHECK_EQ_INT(tide_npz_open(tmpfile_("empty.npz"), &z), TIDE_OK);
  if (z) {
    CHECK_EQ_INT(tide_npz_count(z), 0);
    tide_npz_close(z);
  }
  CHECK_EQ_INT(temp_files(), 0);
}

/* More corners: dtypes one byte short or long of a code, order-less 1-byte
** codes, words that are almost True and False, a float16 file asked for
** as u16, memmaps too big for their disk or tmpfs, a broadcast view past
** what a zip without zip64 holds, deflate output past one buffer, a long
** member name quoted short, a zip64 directory offset alone. */
static void test_more_edges(void) {
  tide_Array a;
  refused_dict("{'descr': '<', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "unsupported dtype '<'");
  refused_dict("{'descr': '<i4abcdefg', 'fortran_order': False, 'shape': (1,)}", TIDE_EDTYPE,
               "unsupported dtype '<i4abcdefg'");
  refused_dict("{'descr': '<f\\8', 'fortran_order': False, 'shape': (1,)}", TIDE_EFORMAT,
               "unsupported character in a string");
  refused_dict("{'descr': '<f8', 'fortran_order': Trux, 'shape': (1,)}", TIDE_EFORMAT,
               "fortran_order must be True or False");
  refused_dict("{'descr': '<f8', 'fortran_order': Falsy, 'shape': (1,)}", TIDE_EFORMAT,
               "fortran_order must be True or False");
  size_t n = build(B, 1, 0, "{'descr': 'u1', 'fortran_order': False, 'shape': (2,)}", 2);
  B[n - 1] = 200;
  CHECK_EQ_INT(tide_npy_load_buffer(B, n, "u1.npy", &a), TIDE_OK);
  CHECK(a.dtype == TIDE_U8 && a.data[1] == 200);
  tide_array_close(&a);
  /* float16 asked for as u16: the values, converted, not the bits */
  n = build(B, 1, 0, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,)}", 4);
  memcpy(B + n - 4, "\x00\x42\x00\x3c", 4); /* 3.0, 1.0 */
  const char *p = put_file("half.npy", n);
  CHECK_EQ_INT(tide_npy_load_as(p, TIDE_U16, &a), TIDE_OK);
  CHECK(a.dtype == TIDE_U16 && tide_load_i64(a.dtype, a.data) == 3 &&
        tide_load_i64(a.dtype, a.data + 2) == 1);
  tide_array_close(&a);
  /* memmaps bigger than the room of a disk folder and of a tmpfs */
  int64_t huge = (int64_t)1 << 49;
  CHECK_EQ_INT(tide_npy_create(tmpfile_("huge.npy"), TIDE_U8, 1, &huge, &a), TIDE_ENOSPC);
  CHECK_STR_HAS(tide_lasterror(), "free on its");
  CHECK_EQ_INT(temp_files(), 0);
  char shm[] = "/dev/shm/tide-test-npy-XXXXXX";
  if (mkdtemp(shm)) {
    char hp[100];
    snprintf(hp, sizeof hp, "%s/huge.npy", shm);
    CHECK_EQ_INT(tide_npy_create(hp, TIDE_U8, 1, &huge, &a), TIDE_ENOSPC);
    CHECK_STR_HAS(tide_lasterror(), "free on its tmpfs");
    rmdir(shm); /* fails if anything was left */
    CHECK(access(shm, F_OK) != 0);
  }
  CHECK_EQ_INT(tide_npy_create(tmpfile_("c.npy"), -1, 1, &huge, &a), TIDE_EDTYPE);
  /* memmaps that fit: 2 MB on a disk folder and on a tmpfs, and an empty one */
  int64_t two_mb = 2 << 20, zero = 0;
  CHECK_EQ_INT(tide_npy_create(tmpfile_("two.npy"), TIDE_U8, 1, &two_mb, &a), TIDE_OK);
  CHECK(a.storage && a.shape[0] == two_mb && a.data[two_mb - 1] == 0);
  tide_array_close(&a);
  char shm2[] = "/dev/shm/tide-test-npy-XXXXXX";
  if (mkdtemp(shm2)) {
    char tp[100];
    snprintf(tp, sizeof tp, "%s/two.npy", shm2);
    CHECK_EQ_INT(tide_npy_create(tp, TIDE_U8, 1, &two_mb, &a), TIDE_OK);
    tide_array_close(&a);
    unlink(tp);
    rmdir(shm2);
  }
  CHECK_EQ_INT(tide_npy_create(tmpfile_("empty.npy"), TIDE_F32, 1, &zero, &a), TIDE_OK);
  CHECK(a.storage && a.shape[0] == 0);
  tide_array_close(&a);
  CHECK_EQ_INT(tide_npy_load(tmpfile_("empty.npy"), &a), TIDE_OK);
  CHECK(a.dtype == TIDE_F32 && a.ndim == 1 && a.shape[0] == 0);
  tide_array_close(&a);
  /* a broadcast view of 2^33 elements: saved as .npy it would be 8 GB;
  ** a .npz without zip64 cannot hold it, refused before writing */
  tide_Storage *st;
  CHECK_EQ_INT(tide_storage_new(8, TIDE_WHERE_HEAP, &st), TIDE_OK);
  int64_t bshape[1] = {(int64_t)1 << 33}, bstride[1] = {0};
  tide_Array bv;
  CHECK_EQ_INT(tide_array_wrap(&bv, st, 0, TIDE_F64, 1, bshape, bstride), TIDE_OK);
  tide_storage_unref(st);
  const tide_Array *one[1] = {&bv};
  CHECK_EQ_INT(tide_npz_save(tmpfile_("big.npz"), 1, (const char *[]){"b"}, one, 0),
               TIDE_ENOTSUP);
  CHECK_STR_HAS(tide_lasterror(), "needs zip64");
  CHECK_EQ_INT(temp_files(), 0);
  tide_array_close(&bv);
  /* deflated output of more than one 64 KiB buffer, read back exactly */
  int64_t m = 40000;
  tide_Array r;
  CHECK_EQ_INT(tide_array_new(&r, TIDE_U64, 1, &m, TIDE_WHERE_HEAP), TIDE_OK);
  uint64_t x = 88172645463325252ull;
  for (int64_t i = 0; i < m; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: incompressible */
    memcpy(r.data + 8 * i, &x, 8);
  }
  const tide_Array *rr[1] = {&r};
  p = tmpfile_("rand.npz");
  CHECK_EQ_INT(tide_npz_save(p, 1, (const char *[]){"r"}, rr, 1), TIDE_OK);
  tide_Npz *z;
  CHECK_EQ_INT(tide_npz_open(p, &z), TIDE_OK);
  if (z) {
    CHECK_EQ_INT(tide_npz_read(z, 0, &a), TIDE_OK);
    CHECK(a.storage && memcmp(a.data, r.data, 8 * (size_t)m) == 0);
    tide_array_close(&a);
    tide_npz_close(z);
  }
  tide_array_close(&r);
  /* a member name of 220 bytes that is not NAME.npy: quoted, cut at 200 */
  static unsigned char npy[256];
  size_t nn = build(npy, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}", 8);
  char longname[221];
  memset(longname, 'q', 220);
  longname[220] = 0;
  zmake(longname, npy, nn, 0, NULL, 0, NULL, 0);
  CHECK_EQ_INT(zload("is not a NAME.npy array"), TIDE_EFORMAT);
  CHECK(strstr(tide_lasterror(), longname) == NULL); /* not the whole name */
  /* zip64: only the directory's offset in the zip64 record */
  {
    static unsigned char pb[1 << 14];
    FILE *h = fopen(fixture("zip64.npz"), "rb");
    size_t pl = h ? fread(pb, 1, sizeof pb, h) : 0;
    if (h) fclose(h);
    CHECK(pl > 22);
    memset(pb + pl - 22 + 16, 0xff, 4);
    h = fopen(p = tmpfile_("z64.npz"), "wb");
    CHECK(h && fwrite(pb, 1, pl, h) == pl);
    if (h) fclose(h);
    CHECK_EQ_INT(tide_npz_open(p, &z), TIDE_OK);
    if (z) {
      CHECK_EQ_INT(tide_npz_count(z), 2);
      CHECK_EQ_INT(tide_npz_read(z, 1, &a), TIDE_OK);
      CHECK_EQ_INT(check_values(&a), 0);
      tide_array_close(&a);
      tide_npz_close(z);
    }
  }
  /* file kinds: "PK\5\7" is no zip */
  memcpy(B, "PK\x05\x07xx", 6);
  CHECK_EQ_INT(tide_file_kind(put_file("pk3.npz", 6)), TIDE_EFORMAT);
}

/* Saving under a file size limit (a disk that fills), at each write in
** turn: an ENOSPC error naming the file, and no file or temp file left.
** The soft limit is put back before the child leaves. */
static int save_limited(void *ud) {
  int what = *(int *)ud;
  int64_t sh[2] = {200, 300};
  tide_Array a, v;
  if (tide_array_new(&a, TIDE_F64, 2, sh, TIDE_WHERE_HEAP)) return 9;
  for (int64_t k = 0; k < 60000; k++) tide_store_f64(TIDE_F64, a.data + 8 * k, (double)(k % 977));
  tide_array_view(&v, &a);
  tide_array_transpose(&v); /* written through the chunk buffer */
  const char *q = tmpfile_(what < 2 || what == 5 ? "lim.npy" : "lim.npz");
  const tide_Array *arrs[1] = {what == 1 ? &v : &a};
  tide_Array m;
  int rc = what == 5 ? tide_npy_create(q, TIDE_F64, 2, sh, &m)
           : what < 2 ? tide_npy_save(q, arrs[0])
                      : tide_npz_save(q, 1, (const char *[]){"a"}, arrs, what == 4);
  int code = rc == TIDE_ENOSPC && strstr(tide_lasterror(), q) ? 0 : 1;
  if (access(q, F_OK) == 0) code = 2;
  return code;
}

static void limited_save(rlim_t lim, int what) {
  CHECK_EQ_INT(check_fsize_child(lim, save_limited, &what), 0);
  CHECK_EQ_INT(temp_files(), 0);
}

static void test_limited_saves(void) {
  limited_save(40, 0);    /* the .npy header */
  limited_save(20000, 1); /* a non-contiguous array's chunks */
  limited_save(20, 2);    /* a member's local header */
  limited_save(32, 3);    /* its name */
  limited_save(300, 4);   /* deflated bytes */
  limited_save(200000, 3); /* stored bytes */
  limited_save(40, 5);     /* a memmap's header */
}

/* Writes the bytes at buf to the file p. */
static void put_at(const char *p, const void *buf, size_t len) {
  FILE *f = fopen(p, "wb");
  CHECK(f && fwrite(buf, 1, len, f) == len);
  if (f) fclose(f);
}

/* A one-member archive "a.npy" in out: the cl bytes at body as the member's
** deflate data, the ul bytes at u what they inflate to (for the CRC).
** Returns its length. */
static size_t zbig(unsigned char *out, const unsigned char *body, size_t cl,
                   const unsigned char *u, size_t ul) {
  uint32_t crc = (uint32_t)crc32(0, u, (uInt)ul);
  memset(out, 0, 35);
  w32(out, 0x04034b50u);
  w16(out + 8, 8);
  w32(out + 14, crc);
  w32(out + 18, (uint32_t)cl);
  w32(out + 22, (uint32_t)ul);
  w16(out + 26, 5);
  memcpy(out + 30, "a.npy", 5);
  memcpy(out + 35, body, cl);
  unsigned char *c = out + 35 + cl, *e = c + 51;
  memset(c, 0, 51 + 22);
  w32(c, 0x02014b50u);
  w16(c + 10, 8);
  w32(c + 16, crc);
  w32(c + 20, (uint32_t)cl);
  w32(c + 24, (uint32_t)ul);
  w16(c + 28, 5);
  memcpy(c + 46, "a.npy", 5);
  w32(e, 0x06054b50u);
  w16(e + 8, 1);
  w16(e + 10, 1);
  w32(e + 12, 51);
  w32(e + 16, (uint32_t)(35 + cl));
  return 35 + cl + 51 + 22;
}

/* Opens p and reads member 0: the error code (TIDE_OK: closed again). */
static int zread_file(const char *p) {
  tide_Npz *z;
  int rc = tide_npz_open(p, &z);
  if (rc) return rc;
  tide_Array a;
  rc = tide_npz_read(z, 0, &a);
  if (rc) CHECK(a.storage == NULL);
  else tide_array_close(&a);
  tide_npz_close(z);
  return rc;
}

#ifdef TIDE_FAULTS
/* Every acquisition of a compressed save, then of opening and reading it
** back, failed in turn (N = 1, 2, ... until the call passes them all):
** each failure is an out-of-memory error, and leaves no file, no temp file
** and no array; zlib's allocations are among them. */
static void npz_faults(void) {
  int64_t m = 5000;
  tide_Array r;
  CHECK_EQ_INT(tide_array_new(&r, TIDE_I64, 1, &m, TIDE_WHERE_HEAP), TIDE_OK);
  for (int64_t k = 0; k < m; k++) tide_store_i64(TIDE_I64, r.data + 8 * k, k % 97);
  const tide_Array *arrs[1] = {&r};
  const char *names[1] = {"r"};
  char p[300];
  snprintf(p, sizeof p, "%s", tmpfile_("faults.npz"));
  int n, zlib_seen = 0;
  for (n = 1; n < 1000; n++) {
    unlink(p);
    tide__fault_arm(n, 0);
    int rc = tide_npz_save(p, 1, names, arrs, 1);
    long fired = tide__fault_fired();
    tide__fault_arm(0, 0);
    if (!fired) {
      CHECK_EQ_INT(rc, TIDE_OK);
      break;
    }
    CHECK_EQ_INT(rc, TIDE_ENOMEM);
    if (strstr(tide_lasterror(), "zlib")) zlib_seen |= 1;
    CHECK(access(p, F_OK) != 0);
    CHECK_EQ_INT(temp_files(), 0);
  }
  CHECK(n > 2 && n < 1000);
  for (n = 1; n < 1000; n++) {
    tide_Npz *z = NULL;
    tide_Array a;
    memset(&a, 0, sizeof a);
    tide__fault_arm(n, 0);
    int rc = tide_npz_open(p, &z);
    if (!rc) {
      rc = tide_npz_read(z, 0, &a);
      tide_npz_close(z);
    }
    long fired = tide__fault_fired();
    tide__fault_arm(0, 0);
    if (!fired) {
      CHECK_EQ_INT(rc, TIDE_OK);
      CHECK(a.storage && memcmp(a.data, r.data, 8 * (size_t)m) == 0);
      tide_array_close(&a);
      break;
    }
    CHECK_EQ_INT(rc, TIDE_ENOMEM);
    CHECK(a.storage == NULL);
    if (strstr(tide_lasterror(), "zlib")) zlib_seen |= 2;
  }
  CHECK(n > 2 && n < 1000);
  CHECK_EQ_INT(zlib_seen, 3); /* deflateInit2 and inflateInit2 were failed */
  tide_array_close(&r);
  unlink(p);
}
#endif

/* Saves under a file size limit in the central directory: its entry, the
** name in it, the end record (what: 3, a stored archive, as limited_save). */
static void test_npz_full_directory(void) {
  int64_t sh[2] = {200, 300};
  tide_Array a;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 2, sh, TIDE_WHERE_HEAP), TIDE_OK);
  const tide_Array *arrs[1] = {&a};
  const char *p = tmpfile_("full.npz");
  CHECK_EQ_INT(tide_npz_save(p, 1, (const char *[]){"a"}, arrs, 0), TIDE_OK);
  struct stat st;
  CHECK(stat(p, &st) == 0);
  rlim_t size = (rlim_t)st.st_size; /* ... directory entry (46 + 5), end record (22) */
  unlink(p);
  tide_array_close(&a);
  limited_save(60, 3);             /* the member's .npy header */
  limited_save(size - 73 + 10, 3); /* the directory entry */
  limited_save(size - 22 - 2, 3);  /* its name */
  limited_save(size - 10, 3);      /* the end record */
}

/* Opens p and reads every member: the first error (TIDE_OK: all read). */
static int zread_all(const char *p) {
  tide_Npz *z;
  int rc = tide_npz_open(p, &z);
  for (int i = 0; !rc && i < tide_npz_count(z); i++) {
    tide_Array a;
    rc = tide_npz_read(z, i, &a);
    if (rc) CHECK(a.storage == NULL);
    else tide_array_close(&a);
  }
  if (z) tide_npz_close(z);
  return rc;
}

/* Reads and writes failing with an I/O error, at each call in turn: a
** "cannot read" / "cannot write" error, no array, no file left; an
** interrupted call is retried. */
static void test_npz_io_errors(void) {
  static const char *const files[] = {"zip64.npz", "deflated.npz", "stored.npz"};
  for (int f = 0; f < 3; f++) {
    char p[1024];
    snprintf(p, sizeof p, "%s", fixture(files[f]));
    int k;
    for (k = 1; k < 100; k++) {
      io_errno = EIO;
      io_pwrite = 0;
      io_at = k;
      int rc = zread_all(p);
      int fired = io_at == 0;
      io_at = 0;
      if (!fired) {
        CHECK_EQ_INT(rc, TIDE_OK);
        break;
      }
      CHECK_EQ_INT(rc, TIDE_EIO);
      CHECK_STR_HAS(tide_lasterror(), "cannot read");
    }
    CHECK(k > 3 && k < 100);
    io_errno = EINTR;
    io_at = 1;
    CHECK_EQ_INT(zread_all(p), TIDE_OK);
    CHECK_EQ_INT(io_at, 0);
  }
  /* the local headers are written again once their sizes are known */
  int64_t n = 10;
  tide_Array x;
  CHECK_EQ_INT(tide_array_new(&x, TIDE_F64, 1, &n, TIDE_WHERE_HEAP), TIDE_OK);
  const tide_Array *arrs[2] = {&x, &x};
  const char *names[2] = {"a", "b"};
  char p[1024];
  snprintf(p, sizeof p, "%s", tmpfile_("io.npz"));
  for (int k = 1; k <= 2; k++) {
    io_errno = EIO;
    io_pwrite = 1;
    io_at = k;
    CHECK_EQ_INT(tide_npz_save(p, 2, names, arrs, k == 2), TIDE_EIO);
    CHECK_STR_HAS(tide_lasterror(), "cannot write");
    CHECK_EQ_INT(io_at, 0);
    CHECK(access(p, F_OK) != 0);
    CHECK_EQ_INT(temp_files(), 0);
  }
  io_errno = EINTR;
  io_at = 1;
  CHECK_EQ_INT(tide_npz_save(p, 2, names, arrs, 0), TIDE_OK);
  CHECK_EQ_INT(io_at, 0);
  io_pwrite = 0;
  CHECK_EQ_INT(zread_all(p), TIDE_OK);
  unlink(p);
  tide_array_close(&x);
  /* a directory that says two entries where the second has no room for
  ** its fixed part */
  static unsigned char npy[256];
  size_t nn = build(npy, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}", 8);
  npy[nn - 8] = 42;
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  memmove(Z + z_end + 45, Z + z_end, 22);
  memset(Z + z_end, 0, 45);
  z_end += 45;
  z_len += 45;
  w16(Z + z_end + 8, 2);
  w16(Z + z_end + 10, 2);
  w32(Z + z_end + 12, (uint32_t)(z_end - z_cd));
  CHECK_EQ_INT(zload("central directory entry out of bounds"), TIDE_EFORMAT);
}

static void test_npz_harder(void) {
  static unsigned char npy[256];
  tide_Npz *z;
  tide_Array a;
  size_t nn = build(npy, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}", 8);
  npy[nn - 8] = 42;
  zmake("a.npy", npy, nn, 0, NULL, 0, NULL, 0);
  memcpy(Z + z_cd, "PK\x01\x03", 4);
  CHECK_EQ_INT(zload("without its signature"), TIDE_EFORMAT);
  /* every byte of the array there, but the stream never ends (a sync flush) */
  z_flush = Z_SYNC_FLUSH;
  zmake("a.npy", npy, nn, 8, NULL, 0, NULL, 0);
  z_flush = Z_FINISH;
  CHECK_EQ_INT(zload("deflate data end too soon"), TIDE_EFORMAT);
  /* a stream of two stored blocks ending exactly where the reader's first
  ** 64 KiB buffer does: it reads back; with 10 more bytes in the member
  ** (read by no buffer yet), refused */
  {
    size_t ul = 65526, l1 = 65000, l2 = ul - l1;
    unsigned char *u = malloc(ul), *body = calloc(1, 65546), *f = malloc(65546 + 200);
    CHECK(u && body && f);
    if (u && body && f) {
      size_t hl = build(u, 1, 0, "{'descr': '|u1', 'fortran_order': False, 'shape': (65398,)}", 0);
      CHECK_EQ_INT(hl, 128);
      for (size_t i = hl; i < ul; i++) u[i] = (unsigned char)(i * 7);
      body[0] = 0; /* not the last block; stored */
      w16(body + 1, (unsigned)l1);
      w16(body + 3, (unsigned)~l1 & 0xffff);
      memcpy(body + 5, u, l1);
      body[5 + l1] = 1; /* the last block; stored */
      w16(body + 6 + l1, (unsigned)l2);
      w16(body + 8 + l1, (unsigned)~l2 & 0xffff);
      memcpy(body + 10 + l1, u + l1, l2);
      const char *p = tmpfile_("edge.npz");
      put_at(p, f, zbig(f, body, 65536, u, ul));
      CHECK_EQ_INT(zread_file(p), TIDE_OK);
      put_at(p, f, zbig(f, body, 65546, u, ul));
      CHECK_EQ_INT(zread_file(p), TIDE_EFORMAT);
      CHECK_STR_HAS(tide_lasterror(), "bytes after the end of the deflate stream");
    }
    free(u);
    free(body);
    free(f);
  }
  /* the file cut short after it was opened (by another writer): at the
  ** local header, in stored data, in deflated data */
  for (int k = 0; k < 3; k++) {
    zmake("a.npy", npy, nn, k == 2 ? 8 : 0, NULL, 0, NULL, 0);
    const char *p = tmpfile_("cut.npz");
    put_at(p, Z, z_len);
    CHECK_EQ_INT(tide_npz_open(p, &z), TIDE_OK);
    if (!z) continue;
    CHECK(truncate(p, k == 0 ? 10 : 40) == 0);
    CHECK_EQ_INT(tide_npz_read(z, 0, &a), TIDE_EFORMAT);
    CHECK_STR_HAS(tide_lasterror(), "unexpected end of file");
    CHECK(a.storage == NULL);
    tide_npz_close(z);
  }
  /* a zip64 end record claiming 2^30 + 1 members in a directory big enough
  ** for them (a sparse file of 49 GB): refused before anything is read */
  {
    const char *p = tmpfile_("many.npz");
    uint64_t count = ((uint64_t)1 << 30) + 1, cdsize = 46 * count;
    unsigned char t[56 + 20 + 22], *r = t, *loc = t + 56, *e = t + 76;
    memset(t, 0, sizeof t);
    w32(r, 0x06064b50u);
    w32(r + 4, 44);
    for (int k = 0; k < 8; k++) {
      r[24 + k] = r[32 + k] = (unsigned char)(count >> (8 * k));
      r[40 + k] = (unsigned char)(cdsize >> (8 * k));
      loc[8 + k] = (unsigned char)(cdsize >> (8 * k)); /* the record's offset */
    }
    w32(loc, 0x07064b50u);
    w32(e, 0x06054b50u);
    w16(e + 8, 0xffff);
    w16(e + 10, 0xffff);
    w32(e + 12, 0xffffffffu);
    w32(e + 16, 0xffffffffu);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0 && pwrite(fd, t, sizeof t, (off_t)cdsize) == (ssize_t)sizeof t) {
      close(fd);
      CHECK_EQ_INT(tide_npz_open(p, &z), TIDE_EFORMAT);
      CHECK_STR_HAS(tide_lasterror(), "too many members");
    } else if (fd >= 0) {
      close(fd); /* no sparse file of that size here */
    }
    unlink(p);
  }
  test_npz_full_directory();
#ifdef TIDE_FAULTS
  npz_faults();
#endif
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tide-test-npy-XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;
  test_fixtures();
  test_bad_framing();
  test_bad_dicts();
  test_bad_shapes();
  test_bad_dtypes();
  test_save_map();
  test_npz();
  test_more();
  test_header_edges();
  test_npz_made();
  test_more_edges();
  test_limited_saves();
  test_npz_harder();
  test_npz_io_errors();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return check_done();
}
