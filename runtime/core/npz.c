/*
** npz.c -- .npz archives: zip files of NAME.npy members, as numpy's savez
** (stored) and savez_compressed (deflate) write them.
**
** Reading trusts nothing: the central directory is bounds-checked entry by
** entry, every member must lie before the directory, sizes must agree
** (stored: compressed == uncompressed; deflate: a ratio deflate can reach),
** and the CRC-32 is checked.  Members stream straight into the new array
** (pread, or zlib inflate with raw deflate, windowBits -15), so memory is
** the array plus fixed buffers.  numpy writes zip64 extra fields
** (force_zip64=True); they are understood, as are zip64 end records.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define ZIP_MAXLEN 0xFFFFFFFFu
/* deflate cannot expand data by more than about 1032:1; a member that
** claims more is corrupt (or a bomb), refused before allocating. */
#define DEFLATE_MAX_RATIO 1032

typedef struct Member {
  char *name;   /* without ".npy" */
  uint64_t lho; /* local header offset */
  uint64_t csize, usize;
  uint32_t crc;
  int method;
} Member;

struct tide_Npz {
  int fd;
  char *path;
  uint64_t size;  /* file size */
  uint64_t cdoff; /* members must end before this */
  int n;
  Member *m;
};

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static void wr32(unsigned char *p, uint32_t v) {
  wr16(p, v & 0xFFFF);
  wr16(p + 2, v >> 16);
}

/* pread of exactly n bytes at off (short read = format error). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path) {
  unsigned char *b = buf;
  while (n) {
    ssize_t r = pread(fd, b, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return tide__syserr(TIDE_EIO, errno, "cannot read %s", path);
    if (r == 0) return tide__seterr(TIDE_EFORMAT, "%s: unexpected end of file", path);
    b += r;
    off += (uint64_t)r;
    n -= (size_t)r;
  }
  return TIDE_OK;
}

/* zlib allocates through the core's allocator: its state and window count
** as acquisitions like any other (a TIDE_FAULTS build fails them in turn). */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  (void)opaque;
  return tide__calloc(items, size);
}
static void z_free(voidpf opaque, voidpf p) {
  (void)opaque;
  free(p);
}

static int bad(const tide_Npz *z, const char *what) {
  return tide__seterr(TIDE_EFORMAT, "%s: corrupt .npz (zip) archive: %s", z->path, what);
}

static int cmp_member(const void *a, const void *b) {
  return strcmp(((const Member *)a)->name, ((const Member *)b)->name);
}

/* Parses the central directory (cd, cdsize bytes) into z->m. */
static int parse_cd(tide_Npz *z, const unsigned char *cd, uint64_t cdsize, uint64_t count) {
  z->m = tide__calloc(count ? count : 1, sizeof *z->m);
  if (!z->m) return tide__seterr(TIDE_ENOMEM, "out of memory");
  uint64_t pos = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (cdsize - pos < 46 || rd32(cd + pos) != SIG_CENTRAL)
      return bad(z, "central directory entry out of bounds or without its signature");
    const unsigned char *e = cd + pos;
    unsigned flags = rd16(e + 8), method = rd16(e + 10);
    size_t nlen = rd16(e + 28), xlen = rd16(e + 30), clen = rd16(e + 32);
    if (cdsize - pos - 46 < nlen + xlen + clen) return bad(z, "central directory entry too long");
    Member *m = &z->m[z->n];
    m->crc = rd32(e + 16);
    m->csize = rd32(e + 20);
    m->usize = rd32(e + 24);
    m->lho = rd32(e + 42);
    m->method = (int)method;
    const unsigned char *name = e + 46, *x = name + nlen, *xend = x + xlen;
    /* zip64 extended information: 8-byte values for the fields set to
    ** 0xFFFFFFFF, in the order usize, csize, offset. */
    while (xend - x >= 4) {
      unsigned id = rd16(x), sz = rd16(x + 2);
      if ((size_t)(xend - x - 4) < sz) return bad(z, "extra field out of bounds");
      if (id == 1) {
        const unsigned char *v = x + 4, *vend = v + sz;
        uint64_t *f[3] = {&m->usize, &m->csize, &m->lho};
        for (int k = 0; k < 3; k++) {
          if (*f[k] != ZIP_MAXLEN) continue;
          if (vend - v < 8) return bad(z, "zip64 extra field too short");
          *f[k] = rd64(v);
          v += 8;
        }
      }
      x += 4 + sz;
    }
    if (flags & 1) return tide__seterr(TIDE_ENOTSUP, "%s: encrypted members are not supported",
                                       z->path);
    if (method != 0 && method != 8)
      return tide__seterr(TIDE_ENOTSUP, "%s: compression method %u is not supported (stored "
                          "and deflate are)", z->path, method);
    if (nlen <= 4 || memcmp(name + nlen - 4, ".npy", 4) != 0 || memchr(name, 0, nlen))
      return tide__seterr(TIDE_EFORMAT, "%s: member '%.*s' is not a NAME.npy array", z->path,
                          (int)(nlen > 200 ? 200 : nlen), name);
    m->name = tide__malloc(nlen - 3);
    if (!m->name) return tide__seterr(TIDE_ENOMEM, "out of memory");
    memcpy(m->name, name, nlen - 4);
    m->name[nlen - 4] = 0;
    z->n++;
    if (m->lho > z->cdoff || z->cdoff - m->lho < 30 || m->csize > z->cdoff - m->lho - 30)
      return bad(z, "a member lies outside the archive");
    if (method == 0 && m->csize != m->usize)
      return bad(z, "a stored member's sizes disagree");
    if (method == 8 && m->usize / DEFLATE_MAX_RATIO > m->csize + 64)
      return bad(z, "a deflated member claims an impossible expansion");
    pos += 46 + nlen + xlen + clen;
  }
  if (pos != cdsize) return bad(z, "central directory size does not match its entries");
  /* Duplicate names would make name -> array ambiguous. */
  Member *sorted = tide__malloc((size_t)(z->n ? z->n : 1) * sizeof *sorted);
  if (!sorted) return tide__seterr(TIDE_ENOMEM, "out of memory");
  memcpy(sorted, z->m, (size_t)z->n * sizeof *sorted);
  qsort(sorted, (size_t)z->n, sizeof *sorted, cmp_member);
  for (int i = 1; i < z->n; i++) {
    if (!strcmp(sorted[i].name, sorted[i - 1].name)) {
      int rc = tide__seterr(TIDE_EFORMAT, "%s: member '%s.npy' appears twice", z->path,
                            sorted[i].name);
      free(sorted);
      return rc;
    }
  }
  free(sorted);
  return TIDE_OK;
}

static int open_fd(tide_Npz *z) {
  int rc;
  if (z->size < 22) return bad(z, "too short for a zip end record");
  size_t tail = z->size < 22 + 65535 ? (size_t)z->size : 22 + 65535;
  unsigned char *t = tide__malloc(tail);
  if (!t) return tide__seterr(TIDE_ENOMEM, "out of memory");
  if ((rc = pread_all(z->fd, t, tail, z->size - tail, z->path))) {
    free(t);
    return rc;
  }
  /* The end record is the last one whose comment runs exactly to the end. */
  long at = -1;
  for (long i = (long)tail - 22; i >= 0; i--) {
    if (rd32(t + i) == SIG_END && (size_t)i + 22 + rd16(t + i + 20) == tail) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    free(t);
    return bad(z, "no end-of-central-directory record");
  }
  const unsigned char *e = t + at;
  uint64_t endpos = z->size - tail + (uint64_t)at;
  uint64_t ndisk = rd16(e + 4), cddisk = rd16(e + 6);
  uint64_t ndisk_entries = rd16(e + 8), count = rd16(e + 10);
  uint64_t cdsize = rd32(e + 12), cdoff = rd32(e + 16);
  uint64_t limit = endpos; /* the directory must end before this */
  if (count == 0xFFFF || cdsize == ZIP_MAXLEN || cdoff == ZIP_MAXLEN) {
    unsigned char loc[20], r[56];
    if (endpos < 20 || (rc = pread_all(z->fd, loc, 20, endpos - 20, z->path)) ||
        rd32(loc) != SIG_LOC64) {
      free(t);
      return rc ? rc : bad(z, "zip64 end record locator missing");
    }
    uint64_t off64 = rd64(loc + 8);
    if (off64 > endpos - 20 || endpos - 20 - off64 < 56 ||
        (rc = pread_all(z->fd, r, 56, off64, z->path)) || rd32(r) != SIG_END64) {
      free(t);
      return rc ? rc : bad(z, "zip64 end record missing or out of bounds");
    }
    ndisk = rd32(r + 16);
    cddisk = rd32(r + 20);
    ndisk_entries = rd64(r + 24);
    count = rd64(r + 32);
    cdsize = rd64(r + 40);
    cdoff = rd64(r + 48);
    limit = off64;
  }
  free(t);
  if (ndisk != 0 || cddisk != 0 || ndisk_entries != count)
    return tide__seterr(TIDE_ENOTSUP, "%s: multi-disk zip archives are not supported", z->path);
  if (cdoff > limit || cdsize > limit - cdoff)
    return bad(z, "central directory out of bounds");
  if (count > cdsize / 46) return bad(z, "more entries than the central directory can hold");
  if (count > INT32_MAX / 2) return bad(z, "too many members");
  z->cdoff = cdoff;
  unsigned char *cd = tide__malloc(cdsize ? (size_t)cdsize : 1);
  if (!cd) return tide__seterr(TIDE_ENOMEM, "out of memory");
  rc = pread_all(z->fd, cd, (size_t)cdsize, cdoff, z->path);
  if (!rc) rc = parse_cd(z, cd, cdsize, count);
  free(cd);
  return rc;
}

int tide_npz_open(const char *path, tide_Npz **out) {
  *out = NULL;
  tide_Npz *z = tide__calloc(1, sizeof *z);
  if (!z || !(z->path = tide__strdup(path))) {
    free(z);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  z->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (z->fd < 0) {
    int e = errno;
    tide_npz_close(z);
    return tide__syserr(tide__errno_code(e), e, "cannot open %s", path);
  }
  struct stat st;
  int rc = TIDE_OK;
  if (fstat(z->fd, &st) != 0) rc = tide__syserr(TIDE_EIO, errno, "cannot stat %s", path);
  else if (!S_ISREG(st.st_mode)) rc = tide__seterr(TIDE_EINVAL, "%s is not a regular file", path);
  if (!rc) {
    z->size = (uint64_t)st.st_size;
    rc = open_fd(z);
  }
  if (rc) {
    tide_npz_close(z);
    return rc;
  }
  *out = z;
  return TIDE_OK;
}

int tide_npz_count(const tide_Npz *z) { return z->n; }
const char *tide_npz_name(const tide_Npz *z, int i) { return z->m[i].name; }

void tide_npz_close(tide_Npz *z) {
  if (!z) return;
  if (z->fd >= 0) close(z->fd);
  for (int i = 0; i < z->n; i++) free(z->m[i].name);
  free(z->m);
  free(z->path);
  free(z);
}

/* A member as a byte source: stored bytes, or inflated ones. */
typedef struct ZSrc {
  tide_Npz *z;
  const char *name;
  uint64_t off, left; /* compressed bytes not yet read */
  uint32_t crc;
  int deflate, ended, zinit;
  z_stream s;
  unsigned char in[1 << 16];
} ZSrc;

static int zsrc_read(void *ctx, unsigned char *buf, size_t n, size_t *got) {
  ZSrc *q = ctx;
  size_t done = 0;
  int rc;
  if (!q->deflate) {
    size_t k = q->left < n ? (size_t)q->left : n;
    if (k && (rc = pread_all(q->z->fd, buf, k, q->off, q->z->path))) return rc;
    q->off += k;
    q->left -= k;
    done = k;
  } else {
    while (done < n && !q->ended) {
      if (q->s.avail_in == 0 && q->left) {
        size_t k = q->left < sizeof q->in ? (size_t)q->left : sizeof q->in;
        if ((rc = pread_all(q->z->fd, q->in, k, q->off, q->z->path))) return rc;
        q->off += k;
        q->left -= k;
        q->s.next_in = q->in;
        q->s.avail_in = (uInt)k;
      }
      size_t room = n - done > (1u << 30) ? (1u << 30) : n - done;
      q->s.next_out = buf + done;
      q->s.avail_out = (uInt)room;
      int zr = inflate(&q->s, Z_NO_FLUSH);
      done += room - q->s.avail_out;
      if (zr == Z_STREAM_END) q->ended = 1;
      else if (zr == Z_MEM_ERROR) return tide__seterr(TIDE_ENOMEM, "out of memory");
      else if (zr == Z_BUF_ERROR && q->s.avail_in == 0 && q->left == 0)
        return tide__seterr(TIDE_EFORMAT, "%s: member '%s.npy': deflate data end too soon",
                            q->z->path, q->name);
      else if (zr != Z_OK && zr != Z_BUF_ERROR)
        return tide__seterr(TIDE_EFORMAT, "%s: member '%s.npy': corrupt deflate data (%s)",
                            q->z->path, q->name, q->s.msg ? q->s.msg : "zlib error");
    }
  }
  for (size_t o = 0; o < done;) {
    size_t k = done - o > (1u << 30) ? (1u << 30) : done - o;
    q->crc = (uint32_t)crc32(q->crc, buf + o, (uInt)k);
    o += k;
  }
  *got = done;
  return TIDE_OK;
}

int tide_npz_read(tide_Npz *z, int i, tide_Array *out) { return tide_npz_read_as(z, i, -1, out); }

int tide_npz_read_as(tide_Npz *z, int i, int dtype, tide_Array *out) {
  memset(out, 0, sizeof *out);
  if (i < 0 || i >= z->n) return tide__seterr(TIDE_ERANGE, "no member %d", i);
  Member *m = &z->m[i];
  unsigned char lh[30];
  int rc = pread_all(z->fd, lh, 30, m->lho, z->path);
  if (rc) return rc;
  if (rd32(lh) != SIG_LOCAL) return bad(z, "a local header lacks its signature");
  uint64_t data = m->lho + 30 + rd16(lh + 26) + rd16(lh + 28);
  if (data > z->cdoff || m->csize > z->cdoff - data)
    return bad(z, "a member's data run into the central directory");
  if (rd16(lh + 26) != strlen(m->name) + 4) return bad(z, "local and central names differ");
  ZSrc *q = tide__calloc(1, sizeof *q);
  if (!q) return tide__seterr(TIDE_ENOMEM, "out of memory");
  q->z = z;
  q->name = m->name;
  q->off = data;
  q->left = m->csize;
  q->deflate = m->method == 8;
  if (q->deflate) {
    q->s.zalloc = z_alloc;
    q->s.zfree = z_free;
    if (inflateInit2(&q->s, -15) != Z_OK) {
      free(q);
      return tide__seterr(TIDE_ENOMEM, "zlib: cannot start inflate");
    }
    q->zinit = 1;
  }
  char label[300];
  snprintf(label, sizeof label, "%s (member %s.npy)", z->path, m->name);
  tide__NpySource src = {zsrc_read, q, m->usize, label, dtype + 1, 0};
  rc = tide__npy_read(&src, out);
  /* tide__npy_read's probe for trailing bytes has made the stream end (or
  ** failed): what may be left is input after that end. */
  if (!rc && q->deflate && (q->left || q->s.avail_in))
    rc = tide__seterr(TIDE_EFORMAT, "%s: bytes after the end of the deflate stream", label);
  if (!rc && q->crc != m->crc)
    rc = tide__seterr(TIDE_EFORMAT, "%s: CRC-32 mismatch (the data are corrupt)", label);
  if (q->zinit) inflateEnd(&q->s);
  free(q);
  if (rc) tide_array_close(out);
  return rc ? rc : tide__npy_finish(&src, out);
}

/* --------------------------------------------------------------- writing */

typedef struct Out {
  int fd;
  const char *path;
  uint64_t off; /* bytes written so far */
  uint32_t crc;
  uint64_t usize, csize;
  int compress;
  z_stream s;
  unsigned char buf[1 << 16];
} Out;

static int out_raw(Out *o, const void *p, size_t n) {
  int rc = tide__write_all(o->fd, p, n, o->path);
  if (!rc) o->off += n;
  return rc;
}

static int deflate_some(Out *o, int flush) {
  int zr;
  do {
    o->s.next_out = o->buf;
    o->s.avail_out = sizeof o->buf;
    zr = deflate(&o->s, flush);
    if (zr == Z_STREAM_ERROR) return tide__seterr(TIDE_EIO, "zlib deflate failed");
    size_t k = sizeof o->buf - o->s.avail_out;
    int rc = k ? out_raw(o, o->buf, k) : TIDE_OK;
    if (rc) return rc;
    o->csize += k;
  } while (o->s.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
  return TIDE_OK;
}

/* Member bytes: CRC, then stored as they are or through deflate. */
static int out_member_bytes(void *ud, const unsigned char *p, size_t n) {
  Out *o = ud;
  while (n) {
    size_t k = n > (1u << 30) ? (1u << 30) : n;
    o->crc = (uint32_t)crc32(o->crc, p, (uInt)k);
    o->usize += k;
    int rc;
    if (o->compress) {
      o->s.next_in = (unsigned char *)(uintptr_t)p;
      o->s.avail_in = (uInt)k;
      rc = deflate_some(o, Z_NO_FLUSH);
    } else {
      rc = out_raw(o, p, k);
      o->csize += k;
    }
    if (rc) return rc;
    p += k;
    n -= k;
  }
  return TIDE_OK;
}

typedef struct Entry {
  uint64_t lho, csize, usize;
  uint32_t crc;
} Entry;

static void fill_header(unsigned char *h, int central, int compress, const Entry *e,
                        size_t nlen) {
  unsigned char *p = h;
  wr32(p, central ? SIG_CENTRAL : SIG_LOCAL);
  p += 4;
  if (central) {
    wr16(p, 20); /* version made by */
    p += 2;
  }
  wr16(p, 20);              /* version needed: 2.0 (deflate) */
  wr16(p + 2, 0);           /* flags */
  wr16(p + 4, compress ? 8 : 0);
  wr16(p + 6, 0);           /* time 00:00 */
  wr16(p + 8, (1 << 5) | 1); /* date 1980-01-01: reproducible files */
  wr32(p + 10, e->crc);
  wr32(p + 14, (uint32_t)e->csize);
  wr32(p + 18, (uint32_t)e->usize);
  wr16(p + 22, (unsigned)nlen);
  wr16(p + 24, 0); /* extra length */
  if (central) {
    memset(p + 26, 0, 10); /* comment length, disk, internal and external attributes */
    wr32(p + 36, (uint32_t)e->lho);
  }
}

static int too_big(const char *path) {
  return tide__seterr(TIDE_ENOTSUP, "%s: a member or the archive passes 4 GiB, which needs "
                      "zip64 (not written by tide); save such arrays as .npy", path);
}

int tide_npz_save(const char *path, int n, const char *const *names,
                  const tide_Array *const *arrays, int compress) {
  for (int i = 0; i < n; i++) {
    size_t l = strlen(names[i]);
    if (l == 0 || l > 250)
      return tide__seterr(TIDE_EINVAL, "member names must have 1 to 250 bytes");
    if (!arrays[i]->storage) return tide__seterr(TIDE_ECLOSED, "array '%s' is closed", names[i]);
    for (int j = 0; j < i; j++)
      if (!strcmp(names[i], names[j]))
        return tide__seterr(TIDE_EINVAL, "member name '%s' given twice", names[i]);
  }
  Entry *ents = tide__calloc((size_t)(n ? n : 1), sizeof *ents);
  Out *o = tide__calloc(1, sizeof *o);
  if (!ents || !o) {
    free(ents);
    free(o);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  int fd;
  char *tmp;
  int rc = tide__atomic_open(path, &fd, &tmp);
  if (rc) {
    free(ents);
    free(o);
    return rc;
  }
  o->fd = fd;
  o->path = path;
  o->compress = compress;
  unsigned char h[64], npyh[2048];
  char mname[260];
  for (int i = 0; i < n && !rc; i++) {
    const tide_Array *a = arrays[i];
    size_t nlen = (size_t)snprintf(mname, sizeof mname, "%s.npy", names[i]);
    size_t hl = tide__npy_make_header(a, npyh, sizeof npyh);
    uint64_t nbytes = (uint64_t)tide_array_size(a) * (uint64_t)tide_dtype_size(a->dtype);
    if (!hl) {
      rc = tide__seterr(TIDE_EINVAL, "header too long");
      break;
    }
    if (hl + nbytes >= ZIP_MAXLEN || o->off >= ZIP_MAXLEN) {
      rc = too_big(path);
      break;
    }
    Entry *e = &ents[i];
    e->lho = o->off;
    memset(h, 0, 30);
    if ((rc = out_raw(o, h, 30)) || (rc = out_raw(o, mname, nlen))) break;
    o->crc = 0;
    o->usize = o->csize = 0;
    o->s.zalloc = z_alloc;
    o->s.zfree = z_free;
    if (compress && deflateInit2(&o->s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                                 Z_DEFAULT_STRATEGY) != Z_OK) {
      rc = tide__seterr(TIDE_ENOMEM, "zlib: cannot start deflate");
      break;
    }
    rc = out_member_bytes(o, npyh, hl);
    if (!rc) rc = tide__npy_each_chunk(a, out_member_bytes, o);
    if (!rc && compress) {
      o->s.next_in = NULL;
      o->s.avail_in = 0;
      rc = deflate_some(o, Z_FINISH);
    }
    if (compress) deflateEnd(&o->s);
    if (rc) break;
    if (o->csize >= ZIP_MAXLEN) {
      rc = too_big(path);
      break;
    }
    e->crc = o->crc;
    e->usize = o->usize;
    e->csize = o->csize;
    fill_header(h, 0, compress, e, nlen);
    ssize_t w;
    do w = pwrite(fd, h, 30, (off_t)e->lho);
    while (w < 0 && errno == EINTR);
    if (w != 30) rc = tide__syserr(TIDE_EIO, w < 0 ? errno : EIO, "cannot write %s", path);
  }
  uint64_t cdoff = o->off;
  for (int i = 0; i < n && !rc; i++) {
    size_t nlen = (size_t)snprintf(mname, sizeof mname, "%s.npy", names[i]);
    fill_header(h, 1, compress, &ents[i], nlen);
    if ((rc = out_raw(o, h, 46)) || (rc = out_raw(o, mname, nlen))) break;
  }
  if (!rc) {
    uint64_t cdsize = o->off - cdoff;
    if (o->off >= ZIP_MAXLEN || n > 0xFFFE) {
      rc = too_big(path);
    } else {
      memset(h, 0, 22);
      wr32(h, SIG_END);
      wr16(h + 8, (unsigned)n);
      wr16(h + 10, (unsigned)n);
      wr32(h + 12, (uint32_t)cdsize);
      wr32(h + 16, (uint32_t)cdoff);
      rc = out_raw(o, h, 22);
    }
  }
  int rc2 = tide__atomic_finish(path, fd, tmp, rc == TIDE_OK);
  free(ents);
  free(o);
  return rc ? rc : rc2;
}
