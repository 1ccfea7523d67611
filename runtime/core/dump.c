/*
** dump.c -- dump files: the writer (header, array table, value stream,
** page-aligned blobs, XXH3-128 checksums) and a strict reader that maps or
** reads the blobs.  The layout is in dump.h and docs/dump-format.md.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"
#include "io.h"

static const unsigned char MAGIC[8] = {0x89, 'T', 'I', 'D', 'E', '\r', '\n', 0x1a};

/* Header fields (byte offsets). */
enum {
  H_VERSION = 8, H_FLAGS = 10, H_BOM = 12, H_HSIZE = 16, H_ALIGN = 20, H_FSIZE = 24,
  H_COUNT = 32, H_TOFF = 40, H_TSIZE = 48, H_SOFF = 56, H_SSIZE = 64, H_RESERVED = 72,
  H_TSUM = 80, H_SSUM = 96, H_HSUM = 112
};

/* Blobs are written and read in pieces this big: each is hashed while it
** is still in the CPU's cache. */
#define CHUNK ((size_t)4 << 20)

static void wr16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void wr32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void wr64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint64_t align_up(uint64_t x) {
  return (x + TIDE_DUMP_ALIGN - 1) & ~(uint64_t)(TIDE_DUMP_ALIGN - 1);
}

static const unsigned char zeros[TIDE_DUMP_ALIGN];

/* -------------------------------------------------------------- writer */

typedef struct Writer {
  int fd;
  const char *name;
  tide_Hasher *h;
} Writer;

/* Hashes and writes a blob's bytes, a cache-sized piece at a time. */
static int put_blob_bytes(void *ud, const unsigned char *p, size_t n) {
  Writer *w = ud;
  while (n) {
    size_t k = n < CHUNK ? n : CHUNK;
    tide_hasher_update(w->h, p, k);
    int rc = tide__write_all(w->fd, p, k, w->name);
    if (rc) return rc;
    p += k;
    n -= k;
  }
  return TIDE_OK;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off, const char *name) {
  while (n) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return tide__syserr(tide__errno_code(errno), errno, "cannot write %s", name);
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return TIDE_OK;
}

int tide_dump_write_fd(int fd, const char *name, const unsigned char *p, size_t n,
                       uint32_t narrays, const tide_Array *const *arrays) {
  size_t tsize = 0;
  for (uint32_t k = 0; k < narrays; k++) {
    if (!arrays[k]->storage) return tide__seterr(TIDE_ECLOSED, "array %u is closed", k + 1);
    tsize += TIDE_DUMP_ENTRY + 8 * (size_t)arrays[k]->ndim;
  }
  unsigned char *table = tide__calloc(tsize ? tsize : 1, 1);
  tide_Hasher *h = tide_hasher_new();
  if (!table || !h) {
    free(table);
    tide_hasher_free(h);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  /* The layout follows from the sizes alone. */
  uint64_t at = TIDE_DUMP_HEADER + (uint64_t)tsize + n;
  unsigned char *e = table;
  for (uint32_t k = 0; k < narrays; k++) {
    const tide_Array *a = arrays[k];
    uint64_t nbytes = (uint64_t)tide_array_size(a) * (uint64_t)tide_dtype_size(a->dtype);
    at = align_up(at);
    wr64(e, at);
    wr64(e + 8, nbytes);
    e[32] = (unsigned char)a->dtype;
    e[33] = (unsigned char)a->ndim;
    for (int d = 0; d < a->ndim; d++) wr64(e + TIDE_DUMP_ENTRY + 8 * d, (uint64_t)a->shape[d]);
    e += TIDE_DUMP_ENTRY + 8 * (size_t)a->ndim;
    at += nbytes;
  }
  uint64_t fsize = at;

  /* Header and table are written last, when the checksums are known. */
  unsigned char hdr[TIDE_DUMP_HEADER];
  memset(hdr, 0, sizeof hdr);
  int rc = tide__write_all(fd, hdr, sizeof hdr, name);
  if (!rc) rc = tide__write_all(fd, table, tsize, name);
  if (!rc) rc = tide__write_all(fd, p, n, name);
  at = TIDE_DUMP_HEADER + (uint64_t)tsize + n;
  Writer w = {fd, name, h};
  e = table;
  for (uint32_t k = 0; k < narrays && !rc; k++) {
    const tide_Array *a = arrays[k];
    uint64_t off = rd64(e), nbytes = rd64(e + 8);
    rc = tide__write_all(fd, zeros, (size_t)(off - at), name);
    tide_hasher_reset(h);
    if (!rc) rc = tide__npy_each_chunk(a, put_blob_bytes, &w);
    if (!rc) {
      tide_hasher_digest(h, e + 16);
      tide__digest_remember(a, e + 16);
    }
    at = off + nbytes;
    e += TIDE_DUMP_ENTRY + 8 * (size_t)a->ndim;
  }
  if (!rc) {
    memcpy(hdr, MAGIC, 8);
    wr16(hdr + H_VERSION, TIDE_DUMP_VERSION);
    wr16(hdr + H_FLAGS, 0);
    uint32_t bom = 0x01020304; /* in this host's order: the blobs' byte order */
    memcpy(hdr + H_BOM, &bom, 4);
    wr32(hdr + H_HSIZE, TIDE_DUMP_HEADER);
    wr32(hdr + H_ALIGN, TIDE_DUMP_ALIGN);
    wr64(hdr + H_FSIZE, fsize);
    wr64(hdr + H_COUNT, narrays);
    wr64(hdr + H_TOFF, TIDE_DUMP_HEADER);
    wr64(hdr + H_TSIZE, tsize);
    wr64(hdr + H_SOFF, TIDE_DUMP_HEADER + (uint64_t)tsize);
    wr64(hdr + H_SSIZE, n);
    tide_digest(table, tsize, hdr + H_TSUM);
    tide_digest(p, n, hdr + H_SSUM);
    tide_digest(hdr, H_HSUM, hdr + H_HSUM);
    rc = pwrite_all(fd, table, tsize, TIDE_DUMP_HEADER, name);
    if (!rc) rc = pwrite_all(fd, hdr, sizeof hdr, 0, name);
  }
  free(table);
  tide_hasher_free(h);
  return rc;
}

uint64_t tide_dump_file_size(size_t n, uint32_t narrays, const tide_Array *const *arrays) {
  uint64_t at = TIDE_DUMP_HEADER + (uint64_t)n;
  for (uint32_t k = 0; k < narrays; k++) at += TIDE_DUMP_ENTRY + 8 * (uint64_t)arrays[k]->ndim;
  for (uint32_t k = 0; k < narrays; k++)
    at = align_up(at) + (uint64_t)tide_array_size(arrays[k]) *
                            (uint64_t)tide_dtype_size(arrays[k]->dtype);
  return at;
}

int tide_dump_write(const char *path, const unsigned char *p, size_t n, uint32_t narrays,
                    const tide_Array *const *arrays) {
  int fd;
  char *tmp;
  int rc = tide__atomic_open(path, &fd, &tmp);
  if (rc) return rc;
  rc = tide_dump_write_fd(fd, path, p, n, narrays, arrays);
  int rc2 = tide__atomic_finish(path, fd, tmp, rc == TIDE_OK);
  return rc ? rc : rc2;
}

/* -------------------------------------------------------------- reader */

typedef struct Entry {
  uint64_t offset, nbytes;
  unsigned char sum[TIDE_DIGEST_LEN];
  int dtype, ndim;
  const int64_t *shape;
} Entry;

struct tide_Dump {
  int fd;
  char *name;
  uint64_t size;
  unsigned char *sections; /* the table, then the stream */
  const unsigned char *stream;
  size_t nstream;
  uint32_t n;
  Entry *e;
  int64_t *shapes;
  uint64_t array_bytes;
};

/* Records "name: <message>" as the last error. */
static int bad(const tide_Dump *d, const char *fmt, ...) TIDE_PRINTF(2, 3);
static int bad(const tide_Dump *d, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tide__seterr(TIDE_EFORMAT, "%s: %s", d->name, msg);
}

/* Reads exactly n bytes at off (the sizes were checked against the file,
** so a short read means it shrank meanwhile). */
static int read_at(const tide_Dump *d, void *buf, size_t n, uint64_t off) {
  unsigned char *p = buf;
  while (n) {
    ssize_t r = pread(d->fd, p, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return tide__syserr(tide__errno_code(errno), errno, "cannot read %s", d->name);
    if (r == 0) return bad(d, "file ended early while being read (truncated meanwhile?)");
    p += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return TIDE_OK;
}

static const char *dtype_name(int dt) { return tide_dtypes[dt].name; }

/* Checks the header and the sizes it declares against the file. */
static int check_header(tide_Dump *d, const unsigned char *h, uint64_t *tsize, uint64_t *ssize) {
  if (memcmp(h, MAGIC, 8) != 0)
    return bad(d, "not a tide dump (it does not start with \\x89TIDE\\r\\n\\x1a)");
  unsigned version = rd16(h + H_VERSION);
  if (version != TIDE_DUMP_VERSION)
    return bad(d, "dump format version %u (this tide reads version %d)", version,
               TIDE_DUMP_VERSION);
  unsigned char sum[TIDE_DIGEST_LEN];
  tide_digest(h, H_HSUM, sum);
  if (memcmp(sum, h + H_HSUM, TIDE_DIGEST_LEN) != 0)
    return bad(d, "header checksum mismatch: the file was altered or damaged");
  if (rd16(h + H_FLAGS) != 0) return bad(d, "unknown flags 0x%04x", rd16(h + H_FLAGS));
  static const unsigned char le[4] = {4, 3, 2, 1}, be[4] = {1, 2, 3, 4};
  uint32_t one = 1;
  if (memcmp(h + H_BOM, be, 4) == 0)
    return bad(d, "its arrays are big-endian (written on a big-endian host); tide reads "
                  "little-endian dumps");
  if (memcmp(h + H_BOM, le, 4) != 0) return bad(d, "bad byte order mark");
  if (*(unsigned char *)&one != 1) return bad(d, "this host is big-endian; dumps are little-endian");
  if (rd32(h + H_HSIZE) != TIDE_DUMP_HEADER || rd32(h + H_ALIGN) != TIDE_DUMP_ALIGN)
    return bad(d, "header size %" PRIu32 " or alignment %" PRIu32 " is not 128 and 4096",
               rd32(h + H_HSIZE), rd32(h + H_ALIGN));
  uint64_t fsize = rd64(h + H_FSIZE);
  if (d->size < fsize)
    return bad(d, "truncated: %" PRIu64 " bytes of the %" PRIu64 " its header declares",
               d->size, fsize);
  if (d->size > fsize)
    return bad(d, "%" PRIu64 " bytes past the end its header declares (%" PRIu64 ")",
               d->size - fsize, fsize);
  uint64_t count = rd64(h + H_COUNT);
  *tsize = rd64(h + H_TSIZE);
  *ssize = rd64(h + H_SSIZE);
  if (rd64(h + H_TOFF) != TIDE_DUMP_HEADER || *tsize > fsize - TIDE_DUMP_HEADER ||
      rd64(h + H_SOFF) != TIDE_DUMP_HEADER + *tsize ||
      *ssize > fsize - TIDE_DUMP_HEADER - *tsize)
    return bad(d, "section offsets or sizes outside the file");
  if (count > *tsize / TIDE_DUMP_ENTRY || count > UINT32_MAX)
    return bad(d, "%" PRIu64 " arrays cannot fit in a %" PRIu64 "-byte array table", count,
               *tsize);
  if (rd64(h + H_RESERVED) != 0) return bad(d, "reserved header bytes are not zero");
  d->n = (uint32_t)count;
  return TIDE_OK;
}

/* Checks that the n bytes at off are zero (padding between sections). */
static int check_padding(tide_Dump *d, uint64_t off, uint64_t n) {
  unsigned char buf[TIDE_DUMP_ALIGN];
  if (n == 0) return TIDE_OK;
  int rc = read_at(d, buf, (size_t)n, off);
  if (rc) return rc;
  if (memcmp(buf, zeros, (size_t)n) != 0)
    return bad(d, "nonzero padding at byte %" PRIu64 ": the file was altered or damaged", off);
  return TIDE_OK;
}

/* Parses and checks the array table: every entry's dtype, shape and byte
** length, and offsets that follow the layout rule exactly. */
static int parse_table(tide_Dump *d, const unsigned char *t, uint64_t tsize) {
  const unsigned char *p = t, *end = t + tsize;
  d->e = tide__calloc(d->n ? d->n : 1, sizeof *d->e);
  d->shapes = tide__malloc(tsize ? (size_t)tsize : 1); /* at most tsize / 8 dimensions */
  if (!d->e || !d->shapes) return tide__seterr(TIDE_ENOMEM, "out of memory");
  int64_t *shp = d->shapes;
  uint64_t at = TIDE_DUMP_HEADER + tsize + d->nstream;
  for (uint32_t k = 0; k < d->n; k++) {
    Entry *e = &d->e[k];
    if ((uint64_t)(end - p) < TIDE_DUMP_ENTRY) return bad(d, "array table ends inside array %u", k + 1);
    e->offset = rd64(p);
    e->nbytes = rd64(p + 8);
    memcpy(e->sum, p + 16, TIDE_DIGEST_LEN);
    e->dtype = p[32];
    e->ndim = p[33];
    for (int i = 34; i < TIDE_DUMP_ENTRY; i++)
      if (p[i]) return bad(d, "array %u: reserved bytes are not zero", k + 1);
    if (e->dtype >= TIDE_NDTYPES) return bad(d, "array %u: unknown dtype %d", k + 1, e->dtype);
    if (e->ndim > TIDE_MAXDIM)
      return bad(d, "array %u: %d dimensions (at most %d)", k + 1, e->ndim, TIDE_MAXDIM);
    p += TIDE_DUMP_ENTRY;
    if ((uint64_t)(end - p) < 8 * (uint64_t)e->ndim)
      return bad(d, "array table ends inside array %u's shape", k + 1);
    uint64_t count = 1;
    int over = 0;
    for (int i = 0; i < e->ndim; i++) {
      uint64_t v = rd64(p + 8 * i);
      if (v > (uint64_t)INT64_MAX) return bad(d, "array %u: bad shape", k + 1);
      shp[i] = (int64_t)v;
      if (__builtin_mul_overflow(count, v, &count)) over = 1;
    }
    p += 8 * (size_t)e->ndim;
    uint64_t nb;
    if (over || __builtin_mul_overflow(count, (uint64_t)tide_dtype_size(e->dtype), &nb) ||
        nb > (uint64_t)INT64_MAX / 2)
      return bad(d, "array %u: shape too large", k + 1);
    if (nb != e->nbytes)
      return bad(d, "array %u: %" PRIu64 " bytes where its shape and dtype make %" PRIu64,
                 k + 1, e->nbytes, nb);
    if (e->offset != align_up(at))
      return bad(d, "array %u at byte %" PRIu64 ", not %" PRIu64, k + 1, e->offset, align_up(at));
    if (e->offset > d->size || e->nbytes > d->size - e->offset)
      return bad(d, "array %u (%" PRIu64 " bytes at %" PRIu64 ") past the end of the file",
                 k + 1, e->nbytes, e->offset);
    e->shape = shp;
    shp += e->ndim;
    at = e->offset + e->nbytes;
    d->array_bytes += e->nbytes;
  }
  if (p != end) return bad(d, "%zu bytes after the last array of the table", (size_t)(end - p));
  if (at != d->size)
    return bad(d, "the arrays end at byte %" PRIu64 ", the file at %" PRIu64, at, d->size);
  /* The zero padding before each blob. */
  at = TIDE_DUMP_HEADER + tsize + d->nstream;
  for (uint32_t k = 0; k < d->n; k++) {
    int rc = check_padding(d, at, d->e[k].offset - at);
    if (rc) return rc;
    at = d->e[k].offset + d->e[k].nbytes;
  }
  return TIDE_OK;
}

int tide_dump_open_fd(int fd, const char *name, tide_Dump **out) {
  *out = NULL;
  tide_Dump *d = tide__calloc(1, sizeof *d);
  if (!d || !(d->name = tide__strdup(name))) {
    free(d);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int rc = TIDE_OK;
  struct stat st;
  if (d->fd < 0) rc = tide__syserr(tide__errno_code(errno), errno, "cannot use %s", name);
  else if (fstat(d->fd, &st) != 0) rc = tide__syserr(TIDE_EIO, errno, "cannot stat %s", name);
  else if (!S_ISREG(st.st_mode)) rc = tide__seterr(TIDE_EINVAL, "%s is not a regular file", name);
  unsigned char h[TIDE_DUMP_HEADER];
  uint64_t tsize = 0, ssize = 0;
  if (!rc) {
    d->size = (uint64_t)st.st_size;
    if (d->size < TIDE_DUMP_HEADER) {
      size_t m = d->size < 8 ? (size_t)d->size : 8;
      rc = read_at(d, h, m, 0);
      if (!rc && memcmp(h, MAGIC, m) != 0)
        rc = bad(d, "not a tide dump (it does not start with \\x89TIDE\\r\\n\\x1a)");
      else if (!rc)
        rc = bad(d, "truncated: %" PRIu64 " bytes, less than a dump header", d->size);
    } else {
      rc = read_at(d, h, sizeof h, 0);
      if (!rc) rc = check_header(d, h, &tsize, &ssize);
    }
  }
  if (!rc) {
    /* Both sections fit in the file (checked): at most its size. */
    d->sections = tide__malloc((size_t)(tsize + ssize) ? (size_t)(tsize + ssize) : 1);
    if (!d->sections) rc = tide__seterr(TIDE_ENOMEM, "out of memory");
    else rc = read_at(d, d->sections, (size_t)(tsize + ssize), TIDE_DUMP_HEADER);
  }
  if (!rc) {
    unsigned char sum[TIDE_DIGEST_LEN];
    tide_digest(d->sections, (size_t)tsize, sum);
    if (memcmp(sum, h + H_TSUM, TIDE_DIGEST_LEN) != 0)
      rc = bad(d, "array table checksum mismatch: the file was altered or damaged");
    tide_digest(d->sections + tsize, (size_t)ssize, sum);
    if (!rc && memcmp(sum, h + H_SSUM, TIDE_DIGEST_LEN) != 0)
      rc = bad(d, "value stream checksum mismatch: the file was altered or damaged");
  }
  if (!rc) {
    d->stream = d->sections + tsize;
    d->nstream = (size_t)ssize;
    rc = parse_table(d, d->sections, tsize);
  }
  if (rc) {
    tide_dump_close(d);
    return rc;
  }
  *out = d;
  return TIDE_OK;
}

int tide_dump_open(const char *path, tide_Dump **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tide__syserr(tide__errno_code(errno), errno, "cannot open %s", path);
  int rc = tide_dump_open_fd(fd, path, out);
  close(fd);
  return rc;
}

void tide_dump_close(tide_Dump *d) {
  if (!d) return;
  if (d->fd >= 0) close(d->fd);
  free(d->name);
  free(d->sections);
  free(d->e);
  free(d->shapes);
  free(d);
}

const unsigned char *tide_dump_stream(const tide_Dump *d, size_t *n) {
  *n = d->nstream;
  return d->stream;
}

uint32_t tide_dump_count(const tide_Dump *d) { return d->n; }
uint64_t tide_dump_size(const tide_Dump *d) { return d->size; }
uint64_t tide_dump_array_bytes(const tide_Dump *d) { return d->array_bytes; }

static int mismatch(const tide_Dump *d, uint32_t k) {
  const Entry *e = &d->e[k];
  char shape[128];
  return bad(d, "array %u (%s %s) checksum mismatch: the file was altered or damaged", k + 1,
             dtype_name(e->dtype), tide_shape_str(e->ndim, e->shape, shape, sizeof shape));
}

/* Reads blob k into buf (or only hashes it when buf is NULL) and checks
** its checksum. */
static int read_blob(tide_Dump *d, uint32_t k, unsigned char *buf) {
  const Entry *e = &d->e[k];
  unsigned char *tmp = NULL;
  if (!buf && e->nbytes && !(tmp = tide__malloc(e->nbytes < CHUNK ? (size_t)e->nbytes : CHUNK)))
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  tide_Hasher *h = tide_hasher_new();
  if (!h) {
    free(tmp);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  int rc = TIDE_OK;
  for (uint64_t at = 0; at < e->nbytes && !rc; at += CHUNK) {
    size_t m = e->nbytes - at < CHUNK ? (size_t)(e->nbytes - at) : CHUNK;
    unsigned char *p = buf ? buf + at : tmp;
    rc = read_at(d, p, m, e->offset + at);
    if (!rc) tide_hasher_update(h, p, m);
  }
  unsigned char sum[TIDE_DIGEST_LEN];
  tide_hasher_digest(h, sum);
  tide_hasher_free(h);
  free(tmp);
  if (!rc && memcmp(sum, e->sum, TIDE_DIGEST_LEN) != 0) rc = mismatch(d, k);
  return rc;
}

int tide_dump_verify(tide_Dump *d, uint32_t k) {
  if (k >= d->n) return tide__seterr(TIDE_ERANGE, "array %u of %u", k + 1, d->n);
  return read_blob(d, k, NULL);
}

int tide_dump_array(tide_Dump *d, uint32_t k, char mode, int verify, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (k >= d->n) return tide__seterr(TIDE_ERANGE, "array %u of %u", k + 1, d->n);
  const Entry *e = &d->e[k];
  int rc;
  if (mode == 0) {
    rc = tide_array_new(out, e->dtype, e->ndim, e->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
    if (!rc) rc = read_blob(d, k, out->data);
    if (rc) {
      tide_array_close(out);
      return rc;
    }
    tide__digest_remember(out, e->sum);
    return TIDE_OK;
  }
  if (mode != 'r' && mode != 'c') return tide__seterr(TIDE_EINVAL, "mode must be 'r' or 'c'");
  tide_Storage *s;
  if ((rc = tide_storage_map_fd(d->fd, d->name, mode, e->offset, (size_t)e->nbytes, &s)))
    return rc;
  rc = tide_array_wrap(out, s, 0, e->dtype, e->ndim, e->shape, NULL);
  tide_storage_unref(s);
  if (rc) return rc;
  if (verify) {
    unsigned char sum[TIDE_DIGEST_LEN];
    tide_digest(e->nbytes ? out->data : zeros, (size_t)e->nbytes, sum);
    if (memcmp(sum, e->sum, TIDE_DIGEST_LEN) != 0) {
      tide_array_close(out);
      return mismatch(d, k);
    }
    tide__digest_remember(out, sum);
  }
  return TIDE_OK;
}
