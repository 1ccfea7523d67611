/*
** csv.c -- the two-pass delimited-text parser behind tide.read_csv.
*/
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"

/* The mmap option writes through tide_npy_create (io.h, the npy module);
** builds without that module refuse the option with a clear message. */
#if defined(__has_include)
#if __has_include("io.h")
#include "io.h"
#define CSV_HAVE_NPY 1
#endif
#endif

/* One field of a record: where its text is (for a quoted field, the bytes
** between the quotes, "" escapes still doubled). */
typedef struct Span {
  size_t off;
  uint32_t len;
  uint8_t quoted;
} Span;

typedef struct Ctx {
  const unsigned char *buf, *p, *end;
  unsigned char delim;
  unsigned char stop[256]; /* bytes that end an unquoted field */
  int64_t line;            /* line number of p, from 1 */
  size_t max_field;
  int max_columns;
  const char *source;
  int dtype;
  char **fnames;           /* header names of the file's columns, or NULL */
  locale_t cloc;           /* the C locale for strtod_l, made on first use */
  char *scratch;           /* max_field + 1 bytes for strtod_l */
} Ctx;

void tide_csv_options_init(tide_CsvOptions *o) {
  memset(o, 0, sizeof *o);
  o->header = TIDE_CSV_HEADER_AUTO;
  o->delimiter = ',';
  o->dtype = TIDE_F64;
  o->where = TIDE_WHERE_AUTO;
}

/* ------------------------------------------------------------ messages */

static int cerr(const Ctx *c, int code, const char *fmt, ...) TIDE_PRINTF(3, 4);
static int cerr(const Ctx *c, int code, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->source) return tide__seterr(code, "%s: %s", c->source, msg);
  return tide__seterr(code, "%s", msg);
}

/* A field's text for a message: at most 40 bytes, control and non-ASCII
** bytes escaped, so a binary file cannot garble the terminal. */
static const char *shown(const unsigned char *s, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 8 < cap; i++) {
    if (i == 40) {
      memcpy(out + k, "...", 3);
      k += 3;
      break;
    }
    unsigned char ch = s[i];
    if (ch >= 32 && ch < 127 && ch != '\\') out[k++] = (char)ch;
    else k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
  }
  out[k] = 0;
  return out;
}

/* " ('price')" after "column 3" when the file has a header. */
static const char *colname(const Ctx *c, int64_t col, char *out, size_t cap) {
  if (!c->fnames) return "";
  char tmp[200];
  const char *nm = c->fnames[col];
  snprintf(out, cap, " ('%s')", shown((const unsigned char *)nm, strlen(nm), tmp, sizeof tmp));
  return out;
}

/* ---------------------------------------------------------- tokenizer */

static void init_ctx(Ctx *c, const tide_CsvOptions *o, const void *buf, size_t len) {
  memset(c, 0, sizeof *c);
  c->buf = c->p = buf;
  c->end = c->buf + len;
  c->delim = (unsigned char)o->delimiter;
  c->stop[c->delim] = c->stop['\n'] = c->stop['\r'] = c->stop[0] = 1;
  c->line = 1;
  c->max_field = o->max_field ? o->max_field : TIDE_CSV_MAX_FIELD;
  if (c->max_field > ((size_t)1 << 30)) c->max_field = (size_t)1 << 30; /* spans hold 32 bits */
  c->max_columns = o->max_columns > 0 ? o->max_columns : TIDE_CSV_MAX_COLUMNS;
  c->source = o->source;
  c->dtype = o->dtype;
  /* A UTF-8 byte order mark says nothing about the data: skip it. */
  if (len >= 3 && c->p[0] == 0xEF && c->p[1] == 0xBB && c->p[2] == 0xBF) c->p += 3;
}

static inline int is_blank(const Ctx *c, unsigned char ch) {
  return (ch == ' ' || ch == '\t') && ch != c->delim;
}

#define ONES 0x0101010101010101ull
/* Flags (0x80) the zero bytes of v; the lowest flag is always exact. */
#define ZEROBYTES(v) (((v) - ONES) & ~(v) & (ONES * 0x80))

/* The first delimiter, CR, LF or NUL at or after p (or end).  Eight bytes
** at a time where they can be loaded, since this scan is most of the
** tokenizer's time on numeric files. */
static inline const unsigned char *scan_unquoted(const Ctx *c, const unsigned char *p,
                                                 const unsigned char *end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
  const uint64_t kd = ONES * c->delim, kn = ONES * '\n', kr = ONES * '\r';
  while (end - p >= 8) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    uint64_t m = ZEROBYTES(v ^ kd) | ZEROBYTES(v ^ kn) | ZEROBYTES(v ^ kr) | ZEROBYTES(v);
    if (m) return p + (__builtin_ctzll(m) >> 3);
    p += 8;
  }
#endif
  while (p < end && !c->stop[*p]) p++;
  return p;
}

/* Reads the next record into spans[0..cap) (fields past cap are counted,
** not stored).  Returns 1 with *nf and *row set, 0 at the end, or an error. */
static int next_record(Ctx *c, Span *spans, int64_t cap, int64_t *nf, int64_t *row) {
  const unsigned char *p = c->p, *end = c->end;
  while (p < end && (*p == '\n' || *p == '\r')) { /* empty lines */
    if (*p == '\r' && p + 1 < end && p[1] == '\n') p++;
    p++;
    c->line++;
  }
  if (p == end) {
    c->p = p;
    return 0;
  }
  *row = c->line;
  int64_t n = 0;
  for (;;) {
    Span sp;
    if (p < end && *p == '"') {
      int64_t qline = c->line;
      const unsigned char *s = ++p;
      size_t room = (size_t)(end - p);
      const unsigned char *lim = p + (room > c->max_field + 1 ? c->max_field + 1 : room);
      for (;;) {
        while (p < lim && *p != '"' && *p != '\n' && *p != '\r' && *p != 0) p++;
        if (p >= lim) { /* "" and CRLF step two bytes: p may pass lim by one */
          if (p == end)
            return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: unterminated quoted field "
                        "(the quote opened on this row is never closed)",
                        (long long)qline, (long long)n + 1);
          return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: quoted field is longer than "
                      "%zu bytes (unterminated quote?)", (long long)qline, (long long)n + 1,
                      c->max_field);
        }
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') {
            p += 2;
            continue;
          }
          break;
        }
        if (*p == 0)
          return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: embedded NUL byte",
                      (long long)c->line, (long long)n + 1);
        if (*p == '\r' && p + 1 < end && p[1] == '\n') p++;
        p++;
        c->line++;
      }
      if ((size_t)(p - s) > c->max_field)
        return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: quoted field is longer than "
                    "%zu bytes", (long long)qline, (long long)n + 1, c->max_field);
      sp.off = (size_t)(s - c->buf);
      sp.len = (uint32_t)(p - s);
      sp.quoted = 1;
      p++; /* the closing quote */
      while (p < end && is_blank(c, *p)) p++;
      if (p < end && *p != c->delim && *p != '\n' && *p != '\r') {
        char t[64];
        if (*p == 0)
          return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: embedded NUL byte",
                      (long long)c->line, (long long)n + 1);
        return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: unexpected '%s' after the "
                    "closing quote", (long long)c->line, (long long)n + 1,
                    shown(p, 1, t, sizeof t));
      }
    } else {
      /* Unquoted fields end at the line end at the latest, so the cap is
      ** checked after the scan (quoted ones are bounded while scanning). */
      const unsigned char *s = p;
      p = scan_unquoted(c, p, end);
      if ((size_t)(p - s) > c->max_field)
        return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: field is longer than %zu bytes",
                    (long long)c->line, (long long)n + 1, c->max_field);
      if (p < end && *p == 0)
        return cerr(c, TIDE_EFORMAT, "row %lld, column %lld: embedded NUL byte",
                    (long long)c->line, (long long)n + 1);
      sp.off = (size_t)(s - c->buf);
      sp.len = (uint32_t)(p - s);
      sp.quoted = 0;
    }
    if (n < cap) spans[n] = sp;
    n++;
    if (n > c->max_columns)
      return cerr(c, TIDE_EFORMAT, "row %lld has more than %d fields (the limit)",
                  (long long)*row, c->max_columns);
    if (p == end) break;
    if (*p == c->delim) {
      p++;
      continue;
    }
    if (*p == '\r' && p + 1 < end && p[1] == '\n') p++;
    p++; /* '\n' or '\r' */
    c->line++;
    break;
  }
  c->p = p;
  *nf = n;
  return 1;
}

/* ------------------------------------------------------------- values */

static const double pow10tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline void trim(const Ctx *c, const unsigned char **s, const unsigned char **e) {
  while (*s < *e && is_blank(c, **s)) (*s)++;
  while (*e > *s && is_blank(c, (*e)[-1])) (*e)--;
}

static int lower_eq(const unsigned char *s, size_t n, const char *w) {
  if (strlen(w) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] | 0x20) != (unsigned char)w[i]) return 0;
  return 1;
}

#define ISDIG(ch) ((unsigned)((ch) - '0') < 10u)

#if (defined(__x86_64__) || defined(__i386__)) && LDBL_MANT_DIG == 64
#define CSV_EXT_PATH 1
/* Powers of ten exact in x87 extended precision (5^27 < 2^64). */
static const long double pow10ext[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};

/* m * 10^ex for any m < 2^64 and |ex| <= 27, for the 17-digit values that
** printf("%.17g") writes.  The product or quotient is rounded once to 64
** bits; rounding that to 53 bits gives the correctly rounded double unless
** the extended result lies within one extended ulp of a halfway point
** between doubles (low 11 bits near 0x400): then the true value could sit
** on the other side, and the caller falls back to strtod.  Results stay
** far from the subnormal and overflow ranges, so 53 bits always apply. */
static int ext_path(uint64_t m, int64_t ex, double *out) {
  long double y = (long double)m;
  y = ex >= 0 ? y * pow10ext[ex] : y / pow10ext[-ex];
  uint64_t bits;
  memcpy(&bits, &y, sizeof bits); /* x87 layout: the 64-bit significand first */
  unsigned low = (unsigned)(bits & 0x7FF);
  if (low >= 0x3FF && low <= 0x401) return -1;
  *out = (double)y;
  return 0;
}
#endif

/* Parses a trimmed, non-empty decimal float [s, e).  0 or -1 (bad text).
** Exact when the digits fit 2^53 and the power of ten is at most 22
** (both operands exact, one rounding: Clinger's fast path); otherwise
** strtod_l in the C locale, which glibc rounds correctly. */
static int parse_double(Ctx *c, const unsigned char *s, const unsigned char *e, double *out) {
  const unsigned char *p = s;
  int neg = 0;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  if (p == e) return -1;
  if (!ISDIG(*p) && *p != '.') {
    size_t k = (size_t)(e - p);
    if (lower_eq(p, k, "nan")) *out = NAN;
    else if (lower_eq(p, k, "inf") || lower_eq(p, k, "infinity")) *out = neg ? -INFINITY : INFINITY;
    else return -1;
    return 0;
  }
  uint64_t m = 0;
  int nd = 0, inexact = 0, digits = 0;
  int64_t ex = 0;
  for (; p < e && ISDIG(*p); p++, digits++) {
    if (nd < 19) {
      m = m * 10 + (uint64_t)(*p - '0');
      if (m) nd++;
    } else {
      ex++;
      if (*p != '0') inexact = 1;
    }
  }
  if (p < e && *p == '.') {
    for (p++; p < e && ISDIG(*p); p++, digits++) {
      if (nd < 19) {
        m = m * 10 + (uint64_t)(*p - '0');
        if (m) nd++;
        ex--;
      } else if (*p != '0') {
        inexact = 1;
      }
    }
  }
  if (!digits) return -1;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0;
    if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (p == e || !ISDIG(*p)) return -1;
    int64_t x = 0;
    for (; p < e && ISDIG(*p); p++)
      /* Saturate far above any digit count a field can hold (2^30), so a
      ** saturated exponent never lands back in the fast-path range; the
      ** strtod fallback then reads the real one. */
      if (x < 100000000000) x = x * 10 + (*p - '0');
    ex += eneg ? -x : x;
  }
  if (p != e) return -1;
  if (!inexact) {
    if (m == 0) {
      *out = neg ? -0.0 : 0.0;
      return 0;
    }
    if (m <= ((uint64_t)1 << 53) && ex >= -22 && ex <= 22) {
      double v = (double)m;
      v = ex >= 0 ? v * pow10tab[ex] : v / pow10tab[-ex];
      *out = neg ? -v : v;
      return 0;
    }
#ifdef CSV_EXT_PATH
    if (ex >= -27 && ex <= 27 && ext_path(m, ex, out) == 0) {
      if (neg) *out = -*out;
      return 0;
    }
#endif
  }
  if (!c->cloc) {
    c->cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!c->cloc) return -2;
  }
  size_t n = (size_t)(e - s);
  memcpy(c->scratch, s, n);
  c->scratch[n] = 0;
  *out = strtod_l(c->scratch, NULL, c->cloc); /* overflow: +-HUGE_VAL = inf */
  return 0;
}

/* Decimal integer [s, e) to sign and magnitude: 0, -1 bad text, -2 past 2^64. */
static int parse_int(const unsigned char *s, const unsigned char *e, int *neg, uint64_t *mag) {
  const unsigned char *p = s;
  *neg = 0;
  if (p < e && (*p == '+' || *p == '-')) *neg = *p++ == '-';
  if (p == e) return -1;
  uint64_t v = 0;
  int over = 0;
  for (; p < e; p++) {
    if (!ISDIG(*p)) return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) over = 1;
    else v = v * 10 + d;
  }
  *mag = v;
  return over ? -2 : 0;
}

static int parse_bool(const unsigned char *s, size_t n, uint8_t *out) {
  if (lower_eq(s, n, "true") || (n == 1 && *s == '1')) *out = 1;
  else if (lower_eq(s, n, "false") || (n == 1 && *s == '0')) *out = 0;
  else return -1;
  return 0;
}

/* Whether a header field looks like data (used by header auto-detection). */
static int looks_like_data(Ctx *c, const unsigned char *s, const unsigned char *e) {
  trim(c, &s, &e);
  if (s == e) return 1;
  double d;
  uint8_t b;
  if ((size_t)(e - s) <= c->max_field && parse_double(c, s, e, &d) == 0) return 1;
  return parse_bool(s, (size_t)(e - s), &b) == 0;
}

static int bad_cell(Ctx *c, int64_t row, int64_t col, const unsigned char *s, size_t n,
                    const char *what) {
  char t[200], nm[260];
  return cerr(c, TIDE_EFORMAT, "row %lld, column %lld%s: cannot parse '%s' as %s",
              (long long)row, (long long)col + 1, colname(c, col, nm, sizeof nm),
              shown(s, n, t, sizeof t), what);
}

/* Parses field [s, s+n) of file column col into dst (dtype c->dtype). */
static int parse_cell(Ctx *c, const unsigned char *s, size_t n, void *dst, int64_t row,
                      int64_t col) {
  const unsigned char *e = s + n;
  trim(c, &s, &e);
  n = (size_t)(e - s);
  int dt = c->dtype;
  if (dt == TIDE_F64 || dt == TIDE_F32) {
    double v;
    if (n == 0) v = NAN; /* a missing value */
    else {
      int rc = parse_double(c, s, e, &v);
      if (rc == -2) return tide__seterr(TIDE_ENOMEM, "cannot make the C locale");
      if (rc) return bad_cell(c, row, col, s, n, "a number");
    }
    if (dt == TIDE_F64) *(double *)dst = v;
    else *(float *)dst = (float)v;
    return TIDE_OK;
  }
  if (dt == TIDE_BOOL) {
    if (parse_bool(s, n, dst)) return bad_cell(c, row, col, s, n, "a boolean (true/false/1/0)");
    return TIDE_OK;
  }
  char t[200], nm[260];
  const char *dn = tide_dtypes[dt].name;
  if (n == 0)
    return cerr(c, TIDE_EFORMAT, "row %lld, column %lld%s: empty field where an integer (%s) "
                "is expected", (long long)row, (long long)col + 1,
                colname(c, col, nm, sizeof nm), dn);
  int neg;
  uint64_t mag;
  int rc = parse_int(s, e, &neg, &mag);
  if (rc == -1) {
    char what[64];
    snprintf(what, sizeof what, "an integer (%s)", dn);
    return bad_cell(c, row, col, s, n, what);
  }
  uint64_t lim_pos = dt == TIDE_I64 ? (uint64_t)INT64_MAX : dt == TIDE_I32 ? INT32_MAX : 255;
  uint64_t lim_neg = dt == TIDE_I64 ? (uint64_t)INT64_MAX + 1 : dt == TIDE_I32 ? 2147483648u : 0;
  if (rc == -2 || mag > (neg ? lim_neg : lim_pos))
    return cerr(c, TIDE_ERANGE, "row %lld, column %lld%s: %s is out of range for %s",
                (long long)row, (long long)col + 1, colname(c, col, nm, sizeof nm),
                shown(s, n, t, sizeof t), dn);
  /* -mag in unsigned arithmetic, then to signed: exact down to INT64_MIN. */
  int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
  if (dt == TIDE_I64) *(int64_t *)dst = v;
  else if (dt == TIDE_I32) *(int32_t *)dst = (int32_t)v;
  else *(uint8_t *)dst = (uint8_t)v;
  return TIDE_OK;
}

/* ------------------------------------------------------------- driver */

/* Copies a header field, undoing "" escapes (quoted) or trimming blanks. */
static size_t field_text(const Ctx *c, const Span *sp, char *dst) {
  const unsigned char *s = c->buf + sp->off, *e = s + sp->len;
  size_t k = 0;
  if (sp->quoted) {
    for (; s < e; s++) {
      dst[k++] = (char)*s;
      if (*s == '"') s++; /* the second quote of "" */
    }
  } else {
    trim(c, &s, &e);
    memcpy(dst, s, (size_t)(e - s));
    k = (size_t)(e - s);
  }
  dst[k] = 0;
  return k;
}

/* Builds the malloc block of n names: header fields, or "1".."n". */
static char **make_names(const Ctx *c, const Span *spans, int64_t n, int header) {
  size_t bytes = (size_t)n * sizeof(char *) + 1;
  for (int64_t j = 0; j < n; j++) bytes += header ? spans[j].len + 1u : 21u;
  char **names = malloc(bytes);
  if (!names) return NULL;
  char *q = (char *)(names + n);
  for (int64_t j = 0; j < n; j++) {
    names[j] = q;
    if (header) q += field_text(c, &spans[j], q) + 1;
    else q += snprintf(q, 21, "%lld", (long long)j + 1) + 1;
  }
  return names;
}

/* Names of the selected columns, copied into a new block. */
static char **select_names(char *const *fnames, const int64_t *sel, int64_t nsel) {
  size_t bytes = (size_t)nsel * sizeof(char *) + 1;
  for (int64_t j = 0; j < nsel; j++) bytes += strlen(fnames[sel[j]]) + 1;
  char **names = malloc(bytes);
  if (!names) return NULL;
  char *q = (char *)(names + nsel);
  for (int64_t j = 0; j < nsel; j++) {
    size_t l = strlen(fnames[sel[j]]) + 1;
    names[j] = memcpy(q, fnames[sel[j]], l);
    q += l;
  }
  return names;
}

static int resolve_columns(Ctx *c, const tide_CsvOptions *o, char *const *fnames, int64_t ncols,
                           int has_header, int64_t *sel) {
  for (int k = 0; k < o->ncolumns; k++) {
    const tide_CsvColumn *cc = &o->columns[k];
    if (cc->name) {
      int64_t j = 0;
      while (j < ncols && strcmp(fnames[j], cc->name) != 0) j++;
      if (j == ncols) {
        char t[200];
        return cerr(c, TIDE_EINVAL, "no column named '%s'%s",
                    shown((const unsigned char *)cc->name, strlen(cc->name), t, sizeof t),
                    ncols == 0 ? " (the file is empty)"
                    : has_header ? "" : " (the file has no header row: name columns by number)");
      }
      sel[k] = j;
    } else {
      int64_t j = cc->index < 0 ? ncols + cc->index : cc->index;
      if (j < 0 || j >= ncols)
        return cerr(c, TIDE_ERANGE, "column %lld does not exist (the file has %lld columns)",
                    (long long)(cc->index < 0 ? cc->index : cc->index + 1), (long long)ncols);
      sel[k] = j;
    }
  }
  return TIDE_OK;
}

static int make_output(Ctx *c, const tide_CsvOptions *o, const int64_t *shape, tide_Array *out) {
  if (o->mmap_path) {
#ifdef CSV_HAVE_NPY
    return tide_npy_create(o->mmap_path, o->dtype, 2, shape, out);
#else
    return cerr(c, TIDE_ENOTSUP, "the mmap option needs the npy module (io.h), "
                "which this build lacks");
#endif
  }
  return tide_array_new(out, o->dtype, 2, shape, o->where);
}

int tide_csv_parse(const void *buf, size_t len, const tide_CsvOptions *opt, tide_Array *out,
                   tide_CsvInfo *info) {
  tide_CsvOptions dflt;
  if (!opt) {
    tide_csv_options_init(&dflt);
    opt = &dflt;
  }
  memset(out, 0, sizeof *out);
  if (info) memset(info, 0, sizeof *info);
  if (!buf) {
    if (len) return tide__seterr(TIDE_EINVAL, "CSV buffer is NULL");
    buf = ""; /* no arithmetic on a null pointer, even with 0 */
  }
  if (opt->dtype < 0 || opt->dtype >= TIDE_NDTYPES)
    return tide__seterr(TIDE_EDTYPE, "unknown dtype %d", opt->dtype);
  unsigned char dl = (unsigned char)opt->delimiter;
  if (dl == '"' || dl == '\n' || dl == '\r' || dl == 0)
    return tide__seterr(TIDE_EINVAL, "the delimiter cannot be a quote, a line end or NUL");
  if (opt->ncolumns < 0 || (opt->ncolumns > 0 && !opt->columns))
    return tide__seterr(TIDE_EINVAL, "bad column selection");

  Ctx c;
  init_ctx(&c, opt, buf, len);
  /* UTF-16 text would otherwise fail as "embedded NUL byte": say why. */
  if (len >= 2 &&
      ((c.buf[0] == 0xFF && c.buf[1] == 0xFE) || (c.buf[0] == 0xFE && c.buf[1] == 0xFF)))
    return cerr(&c, TIDE_EFORMAT, "row 1: the text is UTF-16 (it starts with a UTF-16 byte "
                "order mark); save it as UTF-8");
  int rc = TIDE_OK;
  Span *spans = NULL;
  int64_t *sel = NULL;
  char **fnames = NULL, **names = NULL;
  /* strtod_l needs a terminated copy of a field; no field is longer than
  ** the input or the cap. */
  c.scratch = malloc((len < c.max_field ? len : c.max_field) + 1);
  /* A record holds at most len + 1 fields: the span table stays within a
  ** constant times the input even before the first record is counted. */
  int64_t cap = (int64_t)(len + 1 < (size_t)c.max_columns ? len + 1 : (size_t)c.max_columns) + 1;
  spans = malloc((size_t)cap * sizeof *spans);
  if (!c.scratch || !spans) {
    rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
    goto done;
  }

  /* Pass 1: the first record gives the column count and maybe the names;
  ** the others are counted and checked. */
  int64_t ncols = 0, nrec = 0, row = 0, nf = 0;
  int has_header = 0;
  const unsigned char *data_start = c.p; /* after a BOM */
  rc = next_record(&c, spans, cap, &ncols, &row);
  if (rc < 0) goto done;
  if (rc == 1) {
    nrec = 1;
    has_header = opt->header == TIDE_CSV_HEADER_YES;
    if (opt->header == TIDE_CSV_HEADER_AUTO)
      for (int64_t j = 0; j < ncols && !has_header; j++)
        if (!looks_like_data(&c, c.buf + spans[j].off, c.buf + spans[j].off + spans[j].len))
          has_header = 1;
    fnames = make_names(&c, spans, ncols, has_header);
    if (!fnames) {
      rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
      goto done;
    }
  }
  rc = TIDE_OK;
  if (has_header) data_start = c.p;
  int64_t first_line = has_header ? c.line : 1;
  for (;;) {
    int r = next_record(&c, spans, cap, &nf, &row);
    if (r < 0) {
      rc = r;
      goto done;
    }
    if (r == 0) break;
    if (nf != ncols) {
      rc = cerr(&c, TIDE_EFORMAT, "row %lld has %lld field%s, expected %lld", (long long)row,
                (long long)nf, nf == 1 ? "" : "s", (long long)ncols);
      goto done;
    }
    nrec++;
  }
  int64_t nrows = nrec - has_header;

  /* The selection: every column, or the ones asked for, in their order. */
  int64_t nsel = opt->columns ? opt->ncolumns : ncols;
  sel = malloc((size_t)(nsel + 1) * sizeof *sel);
  if (!sel) {
    rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
    goto done;
  }
  if (opt->columns) {
    char *const *look = fnames;
    rc = resolve_columns(&c, opt, look, ncols, has_header, sel);
    if (rc) goto done;
  } else {
    for (int64_t j = 0; j < nsel; j++) sel[j] = j;
  }
  names = fnames ? select_names(fnames, sel, nsel) : calloc(1, sizeof(char *));
  if (!names) {
    rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
    goto done;
  }

  int64_t shape[2] = {nrows, nsel};
  rc = make_output(&c, opt, shape, out);
  if (rc) goto done;

  /* Pass 2: parse straight into the rows of the array. */
  if (has_header) c.fnames = fnames;
  c.p = data_start;
  c.line = first_line;
  int isz = tide_dtype_size(opt->dtype);
  unsigned char *dst = out->data;
  for (int64_t i = 0; i < nrows; i++) {
    int r = next_record(&c, spans, cap, &nf, &row);
    if (r != 1 || nf != ncols) { /* pass 1 saw these bytes succeed */
      rc = r < 0 ? r : cerr(&c, TIDE_EFORMAT, "the input changed while it was read");
      goto fail_out;
    }
    for (int64_t j = 0; j < nsel; j++, dst += isz) {
      const Span *sp = &spans[sel[j]];
      rc = parse_cell(&c, c.buf + sp->off, sp->len, dst, row, sel[j]);
      if (rc) goto fail_out;
    }
  }
  if (info) {
    info->names = names;
    names = NULL;
    info->ncols = nsel;
    info->nrows = nrows;
    info->has_header = has_header;
  }
  rc = TIDE_OK;
  goto done;

fail_out:
  tide_array_close(out);
  if (opt->mmap_path) unlink(opt->mmap_path); /* the file was ours, new */
done:
  if (c.cloc) freelocale(c.cloc);
  free(c.scratch);
  free(spans);
  free(sel);
  free(fnames);
  free(names);
  return rc;
}

/* Reads a file that cannot be mapped (a pipe, a /proc file) into memory. */
static int slurp(int fd, const char *path, unsigned char **out, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  unsigned char *b = malloc(cap);
  if (!b) return tide__seterr(TIDE_ENOMEM, "out of memory reading '%s'", path);
  for (;;) {
    if (n == cap) {
      unsigned char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
      if (!nb) {
        free(b);
        return tide__seterr(TIDE_ENOMEM, "out of memory reading '%s'", path);
      }
      b = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(b);
      return tide__syserr(tide__errno_code(e), e, "cannot read '%s'", path);
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *out = b;
  *len = n;
  return TIDE_OK;
}

int tide_csv_read(const char *path, const tide_CsvOptions *opt, tide_Array *out,
                  tide_CsvInfo *info) {
  tide_CsvOptions o;
  if (opt) o = *opt;
  else tide_csv_options_init(&o);
  if (!o.source) o.source = path;
  memset(out, 0, sizeof *out);
  if (info) memset(info, 0, sizeof *info);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return tide__syserr(tide__errno_code(e), e, "cannot open '%s'", path);
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return tide__syserr(tide__errno_code(e), e, "cannot stat '%s'", path);
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return tide__seterr(TIDE_EINVAL, "cannot read '%s': it is a directory", path);
  }
  int rc;
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      return tide__syserr(tide__errno_code(e), e, "cannot map '%s'", path);
    }
    close(fd);
    madvise(m, len, MADV_SEQUENTIAL);
    rc = tide_csv_parse(m, len, &o, out, info);
    munmap(m, len);
  } else {
    unsigned char *b = NULL;
    size_t len = 0;
    rc = slurp(fd, path, &b, &len);
    close(fd);
    if (rc) return rc;
    rc = tide_csv_parse(b, len, &o, out, info);
    free(b);
  }
  return rc;
}
