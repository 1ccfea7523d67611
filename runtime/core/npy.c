/*
** npy.c -- .npy files: a strict header parser, loading, mapping, saving.
**
** The format is numpy's (numpy/lib/format.py): "\x93NUMPY", a version byte
** pair, a little-endian header length (2 bytes in 1.0, 4 in 2.0 and 3.0),
** then a Python literal dict padded with spaces and ended by '\n', then the
** raw data.  Everything here treats the file as untrusted: lengths are
** checked against the bytes actually present before anything is allocated,
** and the dict is parsed by hand as data (nothing is ever evaluated).
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static int host_is_little(void) {
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

/* Re-records the last message prefixed by a file name. */
static int with_name(int rc, const char *name) {
  char msg[600];
  snprintf(msg, sizeof msg, "%s", tide_lasterror());
  return tide__seterr(rc, "%s: %s", name, msg);
}

/* ------------------------------------------------------------ framing */

/* Checks magic, version and header length; *total = bytes before the
** data.  Needs the first 10 (1.0) or 12 (2.0, 3.0) bytes. */
static int frame(const unsigned char *buf, size_t len, tide_NpyHeader *h) {
  size_t m = len < 6 ? len : 6;
  if (m && memcmp(buf, MAGIC, m) != 0)
    return tide__seterr(TIDE_EFORMAT, "not a .npy file (it does not start with \\x93NUMPY)");
  if (len < 8)
    return tide__seterr(TIDE_EFORMAT, "file too short (%zu bytes) for a .npy header", len);
  h->major = buf[6];
  h->minor = buf[7];
  if (h->major < 1 || h->major > 3 || h->minor != 0)
    return tide__seterr(TIDE_EFORMAT,
                        "unsupported .npy format version %d.%d (numpy and tide read 1.0, 2.0 "
                        "and 3.0)", h->major, h->minor);
  size_t lensz = h->major == 1 ? 2 : 4;
  if (len < 8 + lensz)
    return tide__seterr(TIDE_EFORMAT, "file too short (%zu bytes) for a .npy header", len);
  uint32_t hlen = (uint32_t)buf[8] | (uint32_t)buf[9] << 8;
  if (lensz == 4) hlen |= (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
  /* numpy's _MAX_HEADER_SIZE; checked before anything is read or
  ** allocated, so a v2 length of 0xFFFFFFF0 costs nothing. */
  if (hlen > TIDE_NPY_MAX_HEADER)
    return tide__seterr(TIDE_EFORMAT,
                        "header length %" PRIu32 " is above the %d bytes numpy's reader "
                        "accepts", hlen, TIDE_NPY_MAX_HEADER);
  h->header_len = 8 + lensz + hlen;
  return TIDE_OK;
}

/* ------------------------------------------------------- the dict parser */

typedef struct P {
  const unsigned char *p, *e, *start;
} P;

static void skipws(P *x) {
  while (x->p < x->e && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
    x->p++;
}

/* A format error that shows where in the dict it happened. */
static int perr(P *x, const char *what) {
  char near[24];
  size_t n = 0;
  for (const unsigned char *q = x->p; q < x->e && n < 16; q++)
    near[n++] = (*q >= 32 && *q < 127 && *q != '"') ? (char)*q : '?';
  near[n] = 0;
  return tide__seterr(TIDE_EFORMAT, "bad .npy header: %s (at byte %td of the dict, near \"%s\")",
                      what, x->p - x->start, near);
}

static int peek(P *x, int c) { return x->p < x->e && *x->p == c; }

static int isident(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The word (identifier) at p, if any: True, False, __import__, ... */
static size_t word(P *x) {
  size_t n = 0;
  while (x->p + n < x->e && isident(x->p[n])) n++;
  return n;
}

/* A quoted string without escapes (none of the valid values needs one).
** Copies up to cap-1 bytes into out; *n is the full length. */
static int pstring(P *x, char *out, size_t cap, size_t *n) {
  if (!(peek(x, '\'') || peek(x, '"'))) return perr(x, "expected a string");
  unsigned char q = *x->p++;
  size_t k = 0;
  while (x->p < x->e && *x->p != q) {
    if (*x->p == '\\' || *x->p == '\n') return perr(x, "unsupported character in a string");
    if (k + 1 < cap) out[k] = (char)*x->p;
    k++;
    x->p++;
  }
  if (x->p >= x->e) return perr(x, "unterminated string");
  x->p++;
  out[k < cap ? k : cap - 1] = 0;
  *n = k;
  return TIDE_OK;
}

/* A non-negative decimal integer, as Python writes it. */
static int pdim(P *x, int64_t *v) {
  size_t w = word(x);
  if ((w == 4 && !memcmp(x->p, "True", 4)) || (w == 5 && !memcmp(x->p, "False", 5)))
    return perr(x, "shape entries must be integers, not booleans");
  if (peek(x, '-')) return perr(x, "negative dimension in shape");
  if (!(x->p < x->e && *x->p >= '0' && *x->p <= '9'))
    return perr(x, "shape entries must be integers");
  if (*x->p == '0' && x->p + 1 < x->e && isident(x->p[1]))
    return perr(x, "bad integer in shape");
  int64_t n = 0;
  while (x->p < x->e && *x->p >= '0' && *x->p <= '9') {
    int dg = *x->p - '0';
    if (n > (INT64_MAX - dg) / 10) return perr(x, "dimension too large");
    n = n * 10 + dg;
    x->p++;
  }
  if (x->p < x->e && (*x->p == '.' || isident(*x->p)))
    return perr(x, "shape entries must be integers, not floats or names");
  *v = n;
  return TIDE_OK;
}

/* A tuple of dimensions: (), (3,), (3, 4), (3, 4,). */
static int pshape(P *x, tide_NpyHeader *h) {
  if (peek(x, '[')) return perr(x, "shape must be a tuple, not a list");
  if (!peek(x, '(')) return perr(x, "shape must be a tuple of integers");
  x->p++;
  skipws(x);
  int n = 0, commas = 0;
  while (!peek(x, ')')) {
    if (n == TIDE_MAXDIM)
      return perr(x, "more than 32 dimensions (numpy's limit; CVE-2021-33430)");
    int rc = pdim(x, &h->shape[n++]);
    if (rc) return rc;
    skipws(x);
    if (peek(x, ',')) {
      x->p++;
      commas++;
      skipws(x);
    } else if (!peek(x, ')')) {
      return perr(x, "expected ',' or ')' in shape");
    }
  }
  if (n == 1 && commas == 0) return perr(x, "shape (n) is a number, not a tuple (write (n,))");
  x->p++;
  h->ndim = n;
  return TIDE_OK;
}

#define NPY_CODES "f8 f4 f2 i8 i4 i2 i1 u8 u4 u2 u1 b1"

static int pdescr(const char *raw, size_t n, tide_NpyHeader *h) {
  /* Messages quote the descr: keep control bytes out of them. */
  char d[64];
  for (size_t i = 0; i <= n && i < sizeof d; i++)
    d[i] = (raw[i] && ((unsigned char)raw[i] < 32 || (unsigned char)raw[i] > 126)) ? '?' : raw[i];
  d[sizeof d - 1] = 0;
  if (n == 0) return tide__seterr(TIDE_EFORMAT, "bad .npy header: empty dtype ''");
  if (strlen(d) != n) return tide__seterr(TIDE_EDTYPE, "unsupported dtype (it holds a NUL byte)");
  char o = d[0];
  const char *code = d + 1;
  if (!strchr("<>|=", o) || o == 0) {
    o = '|';
    code = d;
  }
  if (code[0] == 'O')
    return tide__seterr(TIDE_EDTYPE,
                        "object arrays ('%s') are not supported: tide never unpickles", d);
  if (strchr("USaV", code[0]) && code[0])
    return tide__seterr(TIDE_EDTYPE, "dtype '%s' is not supported (string, unicode and void "
                        "dtypes cannot be loaded; tide reads " NPY_CODES ")", d);
  if (code[0] == 'c')
    return tide__seterr(TIDE_EDTYPE, "dtype '%s' is complex, which tide does not have: save "
                        "the real and imaginary parts as two arrays (np.save(p, a.real))", d);
  /* float16 has no tide dtype: its bits load as u16 and tide__npy_finish
  ** converts them to the dtype the caller asked for */
  bool half = strcmp(code, "f2") == 0;
  int dt = half ? TIDE_U16 : -1;
  for (int k = 0; k < TIDE_NDTYPES && dt < 0 && n <= 8; k++)
    if (strcmp(code, tide_dtypes[k].code) == 0) dt = k;
  if (dt < 0)
    return tide__seterr(TIDE_EDTYPE, "unsupported dtype '%s' (tide reads " NPY_CODES ")", d);
  int size = tide_dtype_size(dt);
  if (code == d && size > 1) return tide__seterr(TIDE_EDTYPE, "dtype '%s' has no byte-order mark", d);
  if (o == '|' && size > 1)
    return tide__seterr(TIDE_EDTYPE, "dtype '%s': '|' (no byte order) is only for 1-byte types", d);
  h->dtype = dt;
  h->half = half;
  h->swap = size > 1 && ((o == '<' && !host_is_little()) || (o == '>' && host_is_little()));
  return TIDE_OK;
}

int tide_npy_parse_header(const unsigned char *buf, size_t len, tide_NpyHeader *h) {
  memset(h, 0, sizeof *h);
  int rc = frame(buf, len, h);
  if (rc) return rc;
  if (len < h->header_len)
    return tide__seterr(TIDE_EFORMAT, "file too short (%zu bytes) for its %zu-byte header", len,
                        h->header_len);
  size_t dstart = h->major == 1 ? 10 : 12;
  P x = {buf + dstart, buf + h->header_len, buf + dstart};
  /* numpy always ends the padding with '\n'; a header without it was cut
  ** short or written by something else. */
  if (h->header_len == dstart || buf[h->header_len - 1] != '\n')
    return tide__seterr(TIDE_EFORMAT, "bad .npy header: it does not end with a newline");
  skipws(&x);
  if (!peek(&x, '{')) return perr(&x, "the header is not a dict");
  x.p++;
  int seen[3] = {0, 0, 0}; /* descr, fortran_order, shape */
  char descr[64] = "";
  size_t dlen = 0;
  for (;;) {
    skipws(&x);
    if (peek(&x, '}')) break;
    char key[32];
    size_t klen;
    if (!(peek(&x, '\'') || peek(&x, '"'))) return perr(&x, "dict keys must be strings");
    const unsigned char *keyat = x.p;
    if ((rc = pstring(&x, key, sizeof key, &klen))) return rc;
    int k = -1;
    if (klen == 5 && !strcmp(key, "descr")) k = 0;
    else if (klen == 13 && !strcmp(key, "fortran_order")) k = 1;
    else if (klen == 5 && !strcmp(key, "shape")) k = 2;
    x.p = k < 0 || seen[k] ? keyat : x.p;
    if (k < 0)
      return perr(&x, "unexpected key (a .npy header has exactly 'descr', 'fortran_order' "
                      "and 'shape')");
    if (seen[k]) return perr(&x, "duplicate key");
    seen[k] = 1;
    skipws(&x);
    if (!peek(&x, ':')) return perr(&x, "expected ':' after a key");
    x.p++;
    skipws(&x);
    if (k == 0) {
      if (peek(&x, '[')) return tide__seterr(TIDE_EDTYPE, "structured dtypes are not supported");
      if (!(peek(&x, '\'') || peek(&x, '"'))) return perr(&x, "descr must be a string");
      if ((rc = pstring(&x, descr, sizeof descr, &dlen))) return rc;
    } else if (k == 1) {
      size_t w = word(&x);
      if (w == 4 && !memcmp(x.p, "True", 4)) h->fortran = 1;
      else if (w == 5 && !memcmp(x.p, "False", 5)) h->fortran = 0;
      else return perr(&x, "fortran_order must be True or False");
      x.p += w;
    } else {
      if ((rc = pshape(&x, h))) return rc;
    }
    skipws(&x);
    if (peek(&x, ',')) x.p++;
    else if (!peek(&x, '}')) return perr(&x, "expected ',' or '}' in the dict");
  }
  x.p++;
  skipws(&x);
  if (x.p != x.e) return perr(&x, "unexpected text after the dict");
  static const char *const names[3] = {"descr", "fortran_order", "shape"};
  for (int k = 0; k < 3; k++)
    if (!seen[k]) return tide__seterr(TIDE_EFORMAT, "bad .npy header: missing key '%s'", names[k]);
  if (dlen >= sizeof descr)
    return tide__seterr(TIDE_EDTYPE, "unsupported dtype '%.20s...'", descr);
  if ((rc = pdescr(descr, dlen, h))) return rc;
  int64_t count;
  if (tide_shape_size(h->ndim, h->shape, tide_dtype_size(h->dtype), &count))
    return tide__seterr(TIDE_EFORMAT, "bad .npy header: the shape's byte count overflows");
  h->nbytes = (uint64_t)count * (uint64_t)tide_dtype_size(h->dtype);
  return TIDE_OK;
}

/* ------------------------------------------------------------- loading */

static void byteswap(unsigned char *p, uint64_t nbytes, int size) {
  if (size == 2) {
    for (uint64_t i = 0; i + 2 <= nbytes; i += 2) {
      unsigned char t = p[i];
      p[i] = p[i + 1];
      p[i + 1] = t;
    }
  } else if (size == 8) {
    for (uint64_t i = 0; i + 8 <= nbytes; i += 8) {
      uint64_t v;
      memcpy(&v, p + i, 8);
      v = __builtin_bswap64(v);
      memcpy(p + i, &v, 8);
    }
  } else if (size == 4) {
    for (uint64_t i = 0; i + 4 <= nbytes; i += 4) {
      uint32_t v;
      memcpy(&v, p + i, 4);
      v = __builtin_bswap32(v);
      memcpy(p + i, &v, 4);
    }
  }
}

static int size_error(const char *name, uint64_t avail, const tide_NpyHeader *h) {
  char sh[256];
  tide_shape_str(h->ndim, h->shape, sh, sizeof sh);
  if (avail < h->nbytes)
    return tide__seterr(TIDE_EFORMAT,
                        "%s: data shorter than declared (%" PRIu64 " bytes; shape %s of %s "
                        "needs %" PRIu64 ")", name, avail, sh, tide_dtypes[h->dtype].name,
                        h->nbytes);
  /* numpy ignores bytes after the data; tide refuses them, since they mean
  ** a wrong shape, a concatenated file or a truncated rewrite. */
  return tide__seterr(TIDE_EFORMAT,
                      "%s: %" PRIu64 " trailing bytes after the data (shape %s of %s needs "
                      "%" PRIu64 " bytes)", name, avail - h->nbytes, sh,
                      tide_dtypes[h->dtype].name, h->nbytes);
}

int tide__npy_read(tide__NpySource *src, tide_Array *out) {
  memset(out, 0, sizeof *out);
  unsigned char hb[TIDE_NPY_MAX_PREFIX];
  size_t got;
  int rc = src->read(src->ctx, hb, 12, &got);
  if (rc) return rc;
  tide_NpyHeader h;
  memset(&h, 0, sizeof h);
  if ((rc = frame(hb, got, &h))) return with_name(rc, src->name);
  if (h.header_len > got) {
    size_t more;
    if ((rc = src->read(src->ctx, hb + got, h.header_len - got, &more))) return rc;
    got += more;
  }
  if ((rc = tide_npy_parse_header(hb, got, &h))) return with_name(rc, src->name);
  if (h.half && !src->want)
    return tide__seterr(TIDE_EDTYPE, "%s holds float16, which tide does not have: load it "
                        "converted with the option {dtype = \"f32\"} (or \"f64\")", src->name);
  src->half = h.half;
  size_t pre = got - h.header_len; /* data bytes already read (a tiny v1 header) */
  if (src->size != UINT64_MAX) {
    uint64_t avail = src->size >= h.header_len ? src->size - h.header_len : 0;
    if (avail != h.nbytes) return size_error(src->name, avail, &h);
  }
  if (pre > h.nbytes) return size_error(src->name, pre, &h);
  int64_t shp[TIDE_MAXDIM];
  for (int d = 0; d < h.ndim; d++) shp[d] = h.fortran ? h.shape[h.ndim - 1 - d] : h.shape[d];
  if ((rc = tide_array_new(out, h.dtype, h.ndim, shp, TIDE_WHERE_AUTO)))
    return with_name(rc, src->name);
  if (pre) memcpy(out->data, hb + h.header_len, pre);
  size_t want = (size_t)h.nbytes - pre;
  if (want && (rc = src->read(src->ctx, out->data + pre, want, &got))) goto fail;
  if (want && got < want) {
    rc = size_error(src->name, pre + got, &h);
    goto fail;
  }
  unsigned char probe;
  if ((rc = src->read(src->ctx, &probe, 1, &got))) goto fail;
  if (got) {
    rc = tide__seterr(TIDE_EFORMAT, "%s: trailing bytes after the data", src->name);
    goto fail;
  }
  if (h.swap) byteswap(out->data, h.nbytes, tide_dtype_size(h.dtype));
  /* Fortran order: the bytes are the C-order array of the reversed shape,
  ** so its transpose is the array, Fortran-strided, as numpy returns it. */
  if (h.fortran) tide_array_transpose(out);
  return TIDE_OK;
fail:
  tide_array_close(out);
  return rc;
}

typedef struct FileSrc {
  int fd;
  const char *path;
} FileSrc;

static int file_read(void *ctx, unsigned char *buf, size_t n, size_t *got) {
  FileSrc *f = ctx;
  size_t off = 0;
  while (off < n) {
    size_t chunk = n - off > (1u << 30) ? (1u << 30) : n - off;
    ssize_t r = read(f->fd, buf + off, chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return tide__syserr(TIDE_EIO, errno, "cannot read %s", f->path);
    if (r == 0) break;
    off += (size_t)r;
  }
  *got = off;
  return TIDE_OK;
}

/* Opens a regular file for reading; *size from fstat. */
static int open_regular(const char *path, int flags, int *fd, uint64_t *size) {
  *fd = open(path, flags | O_CLOEXEC);
  if (*fd < 0) return tide__syserr(tide__errno_code(errno), errno, "cannot open %s", path);
  struct stat st;
  if (fstat(*fd, &st) != 0) {
    int e = errno;
    close(*fd);
    return tide__syserr(TIDE_EIO, e, "cannot stat %s", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(*fd);
    return tide__seterr(TIDE_EINVAL, "%s is not a regular file", path);
  }
  *size = (uint64_t)st.st_size;
  return TIDE_OK;
}

/* numpy's float16 (IEEE binary16) bits as a double. */
static double half_to_double(uint16_t b) {
  int e = (b >> 10) & 0x1f, m = b & 0x3ff;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return b & 0x8000 ? -v : v;
}

static int half_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  int dt = *(const int *)ud;
  for (int64_t i = 0; i < n; i++) {
    uint16_t b;
    memcpy(&b, p[1] + i * st[1], 2);
    tide_store_f64(dt, p[0] + i * st[0], half_to_double(b));
  }
  return 0;
}

int tide__npy_finish(const tide__NpySource *src, tide_Array *out) {
  int want = src->want - 1;
  if (want < 0 || (want == out->dtype && !src->half)) return TIDE_OK;
  tide_Array conv;
  int rc;
  if (src->half) {
    rc = tide_array_new(&conv, want, out->ndim, out->shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
    if (!rc) {
      unsigned char *base[2] = {conv.data, out->data};
      const int64_t *st[2] = {conv.strides, out->strides};
      tide_nditer(2, out->ndim, out->shape, base, st, half_inner, &want);
    }
  } else {
    rc = tide_array_copy(out, want, &conv);
  }
  tide_array_close(out);
  if (rc) return rc;
  *out = conv;
  return TIDE_OK;
}

int tide_npy_load(const char *path, tide_Array *out) { return tide_npy_load_as(path, -1, out); }

int tide_npy_load_as(const char *path, int dtype, tide_Array *out) {
  memset(out, 0, sizeof *out);
  int fd;
  uint64_t size;
  int rc = open_regular(path, O_RDONLY, &fd, &size);
  if (rc) return rc;
  FileSrc f = {fd, path};
  tide__NpySource src = {file_read, &f, size, path, dtype + 1, 0};
  rc = tide__npy_read(&src, out);
  close(fd);
  return rc ? rc : tide__npy_finish(&src, out);
}

typedef struct MemSrc {
  const unsigned char *p;
  size_t len, pos;
} MemSrc;

static int mem_read(void *ctx, unsigned char *buf, size_t n, size_t *got) {
  MemSrc *m = ctx;
  size_t k = m->len - m->pos < n ? m->len - m->pos : n;
  if (k) memcpy(buf, m->p + m->pos, k);
  m->pos += k;
  *got = k;
  return TIDE_OK;
}

int tide_npy_load_buffer(const unsigned char *buf, size_t len, const char *name,
                         tide_Array *out) {
  MemSrc m = {buf, len, 0};
  tide__NpySource src = {mem_read, &m, len, name ? name : "buffer", 0, 0};
  return tide__npy_read(&src, out);
}

/* ------------------------------------------------------------- mapping */

int tide_npy_map(const char *path, char mode, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (mode != 'r' && mode != 'w' && mode != 'c')
    return tide__seterr(TIDE_EINVAL, "mmap mode must be \"r\", \"r+\" or \"c\"");
  int fd;
  uint64_t size;
  int rc = open_regular(path, O_RDONLY, &fd, &size);
  if (rc) return rc;
  unsigned char hb[TIDE_NPY_MAX_PREFIX];
  FileSrc f = {fd, path};
  size_t got;
  rc = file_read(&f, hb, sizeof hb, &got);
  close(fd); /* tide_storage_map_file opens the file again in the right mode */
  if (rc) return rc;
  tide_NpyHeader h;
  if ((rc = tide_npy_parse_header(hb, got, &h))) return with_name(rc, path);
  if (h.half)
    return tide__seterr(TIDE_ENOTSUP, "cannot map %s: it holds float16, which tide does not "
                        "have; load it without mmap, with {dtype = \"f32\"}", path);
  if (size - h.header_len != h.nbytes) return size_error(path, size - h.header_len, &h);
  if (h.swap)
    return tide__seterr(TIDE_ENOTSUP,
                        "cannot map %s: its data are in the other byte order than this host's; "
                        "load it without mmap (tide.load converts it)", path);
  int isz = tide_dtype_size(h.dtype);
  if (h.header_len % (size_t)isz != 0)
    return tide__seterr(TIDE_ENOTSUP,
                        "cannot map %s: its data start at byte %zu, not a multiple of the "
                        "%d-byte item size; load it without mmap", path, h.header_len, isz);
  tide_Storage *s;
  /* A file truncated by someone else while mapped raises SIGBUS on access
  ** past its new end (as with numpy.memmap); the size is checked here. */
  if ((rc = tide_storage_map_file(path, mode, h.header_len, (size_t)h.nbytes, &s))) return rc;
  int64_t shp[TIDE_MAXDIM];
  for (int d = 0; d < h.ndim; d++) shp[d] = h.fortran ? h.shape[h.ndim - 1 - d] : h.shape[d];
  rc = tide_array_wrap(out, s, 0, h.dtype, h.ndim, shp, NULL);
  tide_storage_unref(s);
  if (rc) return rc;
  if (h.fortran) tide_array_transpose(out); /* a view with Fortran strides */
  return TIDE_OK;
}

/* -------------------------------------------------------------- saving */

size_t tide__npy_make_header(const tide_Array *a, unsigned char *buf, size_t cap) {
  char dict[1200];
  int size = tide_dtype_size(a->dtype);
  char order = size == 1 ? '|' : host_is_little() ? '<' : '>';
  int n = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                   order, tide_dtypes[a->dtype].code);
  for (int d = 0; d < a->ndim; d++)
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, d ? ", " : "", a->shape[d]);
  n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", a->ndim == 1 ? "," : "");
  /* numpy leaves room to grow the first axis in place (GROWTH_AXIS_MAX_DIGITS). */
  if (a->ndim > 0) {
    char first[24];
    int fl = snprintf(first, sizeof first, "%" PRId64, a->shape[0]);
    for (int i = fl; i < 21; i++) dict[n++] = ' ';
  }
  size_t hlen = (size_t)n + 1; /* + '\n' */
  size_t prefix = 10;
  size_t pad = 64 - (prefix + hlen) % 64; /* data start 64-byte aligned (numpy >= 1.24) */
  int major = 1;
  if (hlen + pad > 65535) {
    prefix = 12;
    pad = 64 - (prefix + hlen) % 64;
    major = 2;
  }
  size_t total = prefix + hlen + pad;
  if (total > cap) return 0;
  memcpy(buf, MAGIC, 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  size_t hl = hlen + pad;
  buf[8] = (unsigned char)hl;
  buf[9] = (unsigned char)(hl >> 8);
  if (major == 2) {
    buf[10] = (unsigned char)(hl >> 16);
    buf[11] = (unsigned char)(hl >> 24);
  }
  memcpy(buf + prefix, dict, (size_t)n);
  memset(buf + prefix + n, ' ', pad);
  buf[total - 1] = '\n';
  return total;
}

typedef struct Chunker {
  int (*fn)(void *ud, const unsigned char *p, size_t n);
  void *ud;
  unsigned char buf[1 << 16];
  size_t used;
  int isz;
} Chunker;

static int chunk_inner(unsigned char **p, int64_t n, const int64_t *st, void *ud) {
  Chunker *c = ud;
  const unsigned char *s = p[0];
  for (int64_t i = 0; i < n; i++, s += st[0]) {
    if (c->used + (size_t)c->isz > sizeof c->buf) {
      int rc = c->fn(c->ud, c->buf, c->used);
      if (rc) return rc;
      c->used = 0;
    }
    memcpy(c->buf + c->used, s, (size_t)c->isz);
    c->used += (size_t)c->isz;
  }
  return 0;
}

int tide__npy_each_chunk(const tide_Array *a,
                         int (*fn)(void *ud, const unsigned char *p, size_t n), void *ud) {
  int64_t count = tide_array_size(a);
  size_t nbytes = (size_t)count * (size_t)tide_dtype_size(a->dtype);
  if (count == 0) return TIDE_OK;
  if (tide_array_is_c_contiguous(a)) return fn(ud, a->data, nbytes);
  Chunker *c = tide__malloc(sizeof *c);
  if (!c) return tide__seterr(TIDE_ENOMEM, "out of memory");
  c->fn = fn;
  c->ud = ud;
  c->used = 0;
  c->isz = tide_dtype_size(a->dtype);
  unsigned char *base = a->data;
  const int64_t *st = a->strides;
  int rc = tide_nditer(1, a->ndim, a->shape, &base, &st, chunk_inner, c);
  if (!rc && c->used) rc = fn(ud, c->buf, c->used);
  free(c);
  return rc;
}

int tide__write_all(int fd, const void *p, size_t n, const char *path) {
  const unsigned char *s = p;
  while (n) {
    ssize_t w = write(fd, s, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return tide__syserr(tide__errno_code(errno), errno, "cannot write %s", path);
    s += w;
    n -= (size_t)w;
  }
  return TIDE_OK;
}

int tide__atomic_open(const char *path, int *fd, char **tmppath) {
  size_t n = strlen(path);
  char *t = tide__malloc(n + 16);
  if (!t) return tide__seterr(TIDE_ENOMEM, "out of memory");
  memcpy(t, path, n);
  memcpy(t + n, ".tmp-XXXXXX", 12);
  *fd = mkostemp(t, O_CLOEXEC);
  if (*fd < 0) {
    int e = errno;
    free(t);
    return tide__syserr(tide__errno_code(e), e, "cannot create a file next to %s", path);
  }
  /* mkostemp makes 0600 files; a saved array gets the usual 0666 & ~umask.
  ** Reading the umask means setting it for an instant: harmless here, since
  ** tide's parallelism is forked processes, not threads. */
  mode_t um = umask(022);
  umask(um);
  if (fchmod(*fd, 0666 & ~um) != 0) {
    int e = errno;
    close(*fd);
    unlink(t);
    free(t);
    return tide__syserr(TIDE_EIO, e, "cannot set the mode of %s", path);
  }
  *tmppath = t;
  return TIDE_OK;
}

int tide__atomic_finish(const char *path, int fd, char *tmppath, int ok) {
  int rc = TIDE_OK;
  if (ok && fsync(fd) != 0)
    rc = tide__syserr(tide__errno_code(errno), errno, "cannot sync %s", path);
  if (close(fd) != 0 && ok && !rc)
    rc = tide__syserr(tide__errno_code(errno), errno, "cannot write %s", path);
  if (ok && !rc && rename(tmppath, path) != 0)
    rc = tide__syserr(tide__errno_code(errno), errno, "cannot rename a temp file to %s", path);
  if (!ok || rc) {
    unlink(tmppath);
  } else {
    /* Make the rename itself durable. */
    char *slash = strrchr(tmppath, '/');
    const char *dir = ".";
    if (slash) {
      *slash = 0;
      dir = slash == tmppath ? "/" : tmppath;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd); /* best effort: some filesystems refuse fsync on folders */
      close(dfd);
    }
  }
  free(tmppath);
  return rc;
}

typedef struct WriteCtx {
  int fd;
  const char *path;
} WriteCtx;

static int write_chunk(void *ud, const unsigned char *p, size_t n) {
  WriteCtx *w = ud;
  return tide__write_all(w->fd, p, n, w->path);
}

int tide_npy_save(const char *path, const tide_Array *a) {
  if (!a->storage) return tide__seterr(TIDE_ECLOSED, "array is closed");
  unsigned char hdr[2048];
  size_t hl = tide__npy_make_header(a, hdr, sizeof hdr);
  if (!hl) return tide__seterr(TIDE_EINVAL, "header too long");
  int fd;
  char *tmp;
  int rc = tide__atomic_open(path, &fd, &tmp);
  if (rc) return rc;
  WriteCtx w = {fd, path};
  rc = tide__write_all(fd, hdr, hl, path);
  if (!rc) rc = tide__npy_each_chunk(a, write_chunk, &w);
  int rc2 = tide__atomic_finish(path, fd, tmp, rc == TIDE_OK);
  return rc ? rc : rc2;
}

int tide_npy_create(const char *path, int dtype, int ndim, const int64_t *shape,
                    tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (dtype < 0 || dtype >= TIDE_NDTYPES) return tide__seterr(TIDE_EDTYPE, "unknown dtype");
  int64_t count;
  int rc = tide_shape_size(ndim, shape, tide_dtype_size(dtype), &count);
  if (rc) return rc;
  tide_Array proto; /* only dtype, ndim and shape feed the header */
  memset(&proto, 0, sizeof proto);
  proto.dtype = dtype;
  proto.ndim = ndim;
  memcpy(proto.shape, shape, (size_t)ndim * sizeof *shape);
  unsigned char hdr[2048];
  size_t hl = tide__npy_make_header(&proto, hdr, sizeof hdr);
  if (!hl) return tide__seterr(TIDE_EINVAL, "header too long");
  uint64_t nbytes = (uint64_t)count * (uint64_t)tide_dtype_size(dtype);
  int fd;
  char *tmp;
  if ((rc = tide__atomic_open(path, &fd, &tmp))) return rc;
  rc = tide__write_all(fd, hdr, hl, path);
  /* A request past the free space is refused before posix_fallocate,
  ** which would fill the disk for everyone on its way to ENOSPC; on a
  ** tmpfs the pages are memory, so that must have room too. */
  if (!rc && nbytes >= TIDE_ADMIT_MIN) {
    uint64_t room;
    int in_memory;
    char b[32], f[32];
    rc = tide__fs_room(fd, &room, &in_memory);
    if (!rc && nbytes > room)
      rc = tide__seterr(TIDE_ENOSPC, "no room for a %s array in %s: %s free on its %s",
                        tide_fmt_bytes((double)nbytes, b, sizeof b), path,
                        tide_fmt_bytes((double)room, f, sizeof f), in_memory ? "tmpfs" : "disk");
    if (!rc && in_memory) rc = tide__admit_memory(nbytes, "a memmap on tmpfs");
  }
  /* Reserve the blocks now: a full disk is an error here, not SIGBUS on
  ** the first write through the mapping. */
  if (!rc && nbytes) {
    int e = tide__posix_fallocate(fd, (off_t)hl, (off_t)nbytes);
    if (e == EOPNOTSUPP || e == EINVAL) e = tide__ftruncate(fd, (off_t)(hl + nbytes)) ? errno : 0;
    if (e) rc = tide__syserr(tide__errno_code(e), e, "cannot reserve %" PRIu64 " bytes for %s",
                             nbytes, path);
  }
  int rc2 = tide__atomic_finish(path, fd, tmp, rc == TIDE_OK);
  if (rc || rc2) return rc ? rc : rc2;
  return tide_npy_map(path, 'w', out);
}

int tide_file_kind(const char *path) {
  int fd;
  uint64_t size;
  int rc = open_regular(path, O_RDONLY, &fd, &size);
  if (rc) return rc;
  unsigned char b[6];
  FileSrc f = {fd, path};
  size_t got;
  rc = file_read(&f, b, sizeof b, &got);
  close(fd);
  if (rc) return rc;
  if (got >= 4 && b[0] == 'P' && b[1] == 'K' &&
      ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
    return TIDE_FILE_NPZ;
  if (got == 6 && !memcmp(b, MAGIC, 6)) return TIDE_FILE_NPY;
  if (got < 6 && !memcmp(b, MAGIC, got))
    return tide__seterr(TIDE_EFORMAT, "%s: file too short (%zu bytes) for a .npy header", path,
                        got);
  return tide__seterr(TIDE_EFORMAT, "%s is neither a .npy nor a .npz file (unknown first bytes)",
                      path);
}
