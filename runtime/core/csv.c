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

/* Missing markers: the field texts that read as NaN. */
typedef struct Marker {
  const char *s;
  size_t n;
} Marker;

typedef struct NaList {
  Marker *m;
  int n;
  uint64_t lens; /* bit n set when a marker has n bytes (bit 63: 63 or more) */
  int first;     /* a marker reads as a value: look fields up before parsing */
} NaList;

/* pandas' default missing markers (pandas 2's STR_NA_VALUES). */
static const char *const na_default[] = {
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"};
#define NA_DEFAULTS ((int)(sizeof na_default / sizeof na_default[0]))

typedef struct Ctx {
  const unsigned char *buf, *p, *end;
  unsigned char delim;
  unsigned char comment;   /* 0: none */
  unsigned char decimal;   /* the decimal point of numbers */
  unsigned char stop[256]; /* bytes that end an unquoted field */
  int64_t line;            /* line number of p, from 1 */
  size_t max_field;
  int max_columns;
  const char *source;
  int dtype;
  char **fnames;           /* header names of the file's columns, or NULL */
  locale_t cloc;           /* the C locale for strtod_l, made on first use */
  char *scratch;           /* max_field + 1 bytes for strtod_l */
  char *unq;               /* max_field + 1 bytes: a quoted field with "" undone */
  int categorical;         /* TIDE_CSV_CODES, _SKIP or _ERROR */
  NaList na;
} Ctx;

void tide_csv_options_init(tide_CsvOptions *o) {
  memset(o, 0, sizeof *o);
  o->header = TIDE_CSV_HEADER_AUTO;
  o->delimiter = ',';
  o->dtype = TIDE_F64;
  o->where = TIDE_WHERE_AUTO;
  o->keep_default_na = 1;
  o->decimal = '.';
}

void tide_csv_info_free(tide_CsvInfo *info) {
  if (!info) return;
  free(info->names);
  free(info->levels);
  info->names = NULL;
  info->levels = NULL;
  info->nlevels = NULL;
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
  c->comment = (unsigned char)o->comment;
  c->decimal = (unsigned char)o->decimal;
  c->stop[c->delim] = c->stop['\n'] = c->stop['\r'] = c->stop[0] = 1;
  c->stop[c->comment] = 1; /* 0 (none) is a stop byte anyway */
  c->categorical = o->categorical;
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

/* The first delimiter, CR, LF, NUL or comment byte at or after p (or end).
** Eight bytes at a time where they can be loaded, since this scan is most
** of the tokenizer's time on numeric files. */
static inline const unsigned char *scan_unquoted(const Ctx *c, const unsigned char *p,
                                                 const unsigned char *end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
  const uint64_t kd = ONES * c->delim, kn = ONES * '\n', kr = ONES * '\r';
  const uint64_t kc = ONES * c->comment;
  while (end - p >= 8) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    uint64_t m = ZEROBYTES(v ^ kd) | ZEROBYTES(v ^ kn) | ZEROBYTES(v ^ kr) | ZEROBYTES(v);
    if (c->comment) m |= ZEROBYTES(v ^ kc);
    if (m) return p + (__builtin_ctzll(m) >> 3);
    p += 8;
  }
#endif
  while (p < end && !c->stop[*p]) p++;
  return p;
}

/* The first line end (CR or LF) or NUL at or after p, or end: where a
** comment ends (a NUL in it is still an error). */
static const unsigned char *line_end(const unsigned char *p, const unsigned char *end) {
  while (p < end && *p != '\n' && *p != '\r' && *p != 0) p++;
  return p;
}

/* Whether the line at p holds only a comment (blanks before it allowed). */
static int comment_line(const Ctx *c, const unsigned char *p, const unsigned char *end) {
  while (p < end && is_blank(c, *p)) p++;
  return p < end && *p == c->comment;
}

/* Reads the next record into spans[0..cap) (fields past cap are counted,
** not stored).  Returns 1 with *nf and *row set, 0 at the end, or an error. */
static int next_record(Ctx *c, Span *spans, int64_t cap, int64_t *nf, int64_t *row) {
  const unsigned char *p = c->p, *end = c->end;
  for (;;) { /* empty lines, and with a comment byte, comment lines */
    if (c->comment && p < end && comment_line(c, p, end)) p = line_end(p, end);
    if (p == end || (*p != '\n' && *p != '\r')) break;
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
      if (p < end && *p != c->delim && *p != '\n' && *p != '\r' &&
          !(c->comment && *p == c->comment)) {
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
    if (c->comment && *p == c->comment) { /* the record ends with the line */
      p = line_end(p, end);
      if (p == end) break;
      if (*p == 0)
        return cerr(c, TIDE_EFORMAT, "row %lld: embedded NUL byte in a comment",
                    (long long)c->line);
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

/* Parses a trimmed, non-empty decimal float [s, e) whose decimal point is
** c->decimal.  0, -1 (bad text) or -2 (no C locale).
** Exact when the digits fit 2^53 and the power of ten is at most 22
** (both operands exact, one rounding: Clinger's fast path); otherwise
** strtod_l in the C locale, which glibc rounds correctly. */
static int parse_double(Ctx *c, const unsigned char *s, const unsigned char *e, double *out) {
  const unsigned char *p = s;
  int neg = 0;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  if (p == e) return -1;
  const unsigned char dp = c->decimal;
  if (!ISDIG(*p) && *p != dp) {
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
  if (p < e && *p == dp) {
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
  if (dp != '.') { /* the text was checked above: its one decimal point */
    char *q = memchr(c->scratch, dp, n);
    if (q) *q = '.';
  }
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

/* ------------------------------------------------------ missing, text */

/* Builds the missing markers: pandas' defaults (unless keep_default_na is
** 0) and the caller's.  A marker no field can equal (longer than a field
** may be) is dropped, so the number check below never overruns scratch. */
static int na_init(Ctx *c, const tide_CsvOptions *o, size_t longest) {
  int nd = o->keep_default_na ? NA_DEFAULTS : 0;
  c->na.m = tide__malloc((size_t)(nd + o->n_na_values + 1) * sizeof *c->na.m);
  if (!c->na.m) return tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
  for (int k = 0; k < nd + o->n_na_values; k++) {
    const char *m = k < nd ? na_default[k] : o->na_values[k - nd];
    if (!m) return tide__seterr(TIDE_EINVAL, "na_values entry %d is NULL", k - nd + 1);
    size_t n = strlen(m);
    if (n > longest) continue;
    c->na.m[c->na.n++] = (Marker){m, n};
    c->na.lens |= (uint64_t)1 << (n < 63 ? n : 63);
    /* A marker that parses as a value ("-999"; not "nan", NaN anyway)
    ** must be seen before the field is parsed. */
    const unsigned char *s = (const unsigned char *)m, *e = s + n;
    double d;
    uint8_t b;
    if (n && parse_double(c, s, e, &d) == 0 && d == d) c->na.first = 1;
    if (c->dtype == TIDE_BOOL && parse_bool(s, n, &b) == 0) c->na.first = 1;
  }
  return TIDE_OK;
}

static int is_na(const Ctx *c, const unsigned char *s, size_t n) {
  if (!((c->na.lens >> (n < 63 ? n : 63)) & 1)) return 0;
  for (int k = 0; k < c->na.n; k++)
    if (c->na.m[k].n == n && memcmp(c->na.m[k].s, s, n) == 0) return 1;
  return 0;
}

/* A field's text as a string: an unquoted field trimmed of blanks, a
** quoted one as written with "" undone (copied into c->unq when it holds a
** quote; the result is valid until the next call). */
static const unsigned char *field_value(Ctx *c, const Span *sp, size_t *n) {
  const unsigned char *s = c->buf + sp->off, *e = s + sp->len;
  if (!sp->quoted) {
    trim(c, &s, &e);
    *n = (size_t)(e - s);
    return s;
  }
  if (!memchr(s, '"', sp->len)) {
    *n = sp->len;
    return s;
  }
  size_t k = 0;
  for (; s < e; s++) {
    c->unq[k++] = (char)*s;
    if (*s == '"') s++; /* the second quote of "" */
  }
  *n = k;
  return (const unsigned char *)c->unq;
}

static const char *dtype_what(int dt, char *buf, size_t cap) {
  if (dt == TIDE_F64 || dt == TIDE_F32) return "a number";
  if (dt == TIDE_BOOL) return "a boolean (true/false/1/0)";
  snprintf(buf, cap, "an integer (%s)", tide_dtypes[dt].name);
  return buf;
}

/* "cannot parse 'abc' as a number", naming the cell; for a number written
** with a decimal comma, how to read it. */
static int bad_cell(Ctx *c, int64_t row, int64_t col, const unsigned char *s, size_t n) {
  char t[200], nm[260], what[64];
  const char *hint = "";
  if ((c->dtype == TIDE_F64 || c->dtype == TIDE_F32) && c->decimal == '.' && c->delim != ',' &&
      n && memchr(s, ',', n)) {
    double d;
    c->decimal = ',';
    if (parse_double(c, s, s + n, &d) == 0) hint = " (decimal = ',' reads it as a number)";
    c->decimal = '.';
  }
  return cerr(c, TIDE_EFORMAT, "row %lld, column %lld%s: cannot parse '%s' as %s%s",
              (long long)row, (long long)col + 1, colname(c, col, nm, sizeof nm),
              shown(s, n, t, sizeof t), dtype_what(c->dtype, what, sizeof what), hint);
}

/* A missing value: NaN for floats; integers and booleans have none. */
static int missing(Ctx *c, void *dst, int64_t row, int64_t col, const unsigned char *s,
                   size_t n) {
  int dt = c->dtype;
  if (dt == TIDE_F64) {
    *(double *)dst = NAN;
    return TIDE_OK;
  }
  if (dt == TIDE_F32) {
    *(float *)dst = NAN;
    return TIDE_OK;
  }
  char t[200], nm[260], what[64], field[240];
  if (n == 0) snprintf(field, sizeof field, "empty field");
  else snprintf(field, sizeof field, "missing value '%s'", shown(s, n, t, sizeof t));
  return cerr(c, TIDE_EFORMAT, "row %lld, column %lld%s: %s where %s is expected: %s has no "
              "NaN (dtype = \"f64\" reads missing values as NaN)", (long long)row,
              (long long)col + 1, colname(c, col, nm, sizeof nm), field,
              dtype_what(dt, what, sizeof what), tide_dtypes[dt].name);
}

enum { CELL_TEXT = 1 }; /* parse_cell: neither a value nor missing */

/* After a field failed to parse: missing (NaN, or an error), a malformed
** value (an error: '1.5' or 'inf' for an integer), or text (CELL_TEXT). */
static int not_value(Ctx *c, const Span *sp, void *dst, int64_t row, int64_t col) {
  size_t n;
  const unsigned char *v = field_value(c, sp, &n);
  if (is_na(c, v, n)) return missing(c, dst, row, col, v, n);
  const unsigned char *s = c->buf + sp->off, *e = s + sp->len;
  trim(c, &s, &e);
  int dt = c->dtype;
  if (dt != TIDE_F64 && dt != TIDE_F32 && dt != TIDE_BOOL) {
    double d;
    if (s < e && (size_t)(e - s) <= c->max_field && parse_double(c, s, e, &d) == 0)
      return bad_cell(c, row, col, s, (size_t)(e - s));
  }
  return CELL_TEXT;
}

/* Parses field sp of file column col into dst (dtype c->dtype): TIDE_OK,
** CELL_TEXT, or an error naming the cell. */
static int parse_cell(Ctx *c, const Span *sp, void *dst, int64_t row, int64_t col) {
  if (c->na.first) {
    size_t vn;
    const unsigned char *v = field_value(c, sp, &vn);
    if (is_na(c, v, vn)) return missing(c, dst, row, col, v, vn);
  }
  const unsigned char *s = c->buf + sp->off, *e = s + sp->len;
  trim(c, &s, &e);
  size_t n = (size_t)(e - s);
  int dt = c->dtype;
  if (dt == TIDE_F64 || dt == TIDE_F32) {
    double v;
    int rc = n ? parse_double(c, s, e, &v) : -1;
    if (rc == -2) return tide__seterr(TIDE_ENOMEM, "cannot make the C locale");
    if (rc) return not_value(c, sp, dst, row, col);
    if (dt == TIDE_F64) *(double *)dst = v;
    else *(float *)dst = (float)v;
    return TIDE_OK;
  }
  if (dt == TIDE_BOOL) {
    if (parse_bool(s, n, dst)) return not_value(c, sp, dst, row, col);
    return TIDE_OK;
  }
  int neg;
  uint64_t mag;
  int rc = n ? parse_int(s, e, &neg, &mag) : -1;
  if (rc == -1) return not_value(c, sp, dst, row, col);
  char t[200], nm[260];
  const char *dn = tide_dtypes[dt].name;
  int64_t lo, hi;
  tide_dtype_range(dt, &lo, &hi);
  uint64_t lim_pos = dt == TIDE_U64 ? UINT64_MAX : (uint64_t)hi;
  uint64_t lim_neg = lo < 0 ? (uint64_t)0 - (uint64_t)lo : 0;
  if (rc == -2 || mag > (neg ? lim_neg : lim_pos))
    return cerr(c, TIDE_ERANGE, "row %lld, column %lld%s: %s is out of range for %s",
                (long long)row, (long long)col + 1, colname(c, col, nm, sizeof nm),
                shown(s, n, t, sizeof t), dn);
  /* -mag in unsigned arithmetic, then to signed: exact down to INT64_MIN. */
  int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
  tide_store_i64(dt, dst, v); /* in range: exact (a u64 keeps its bits) */
  return TIDE_OK;
}

/* The error of a text field where text is not taken (categorical ERROR, or
** a bool column whose codes could not be stored). */
static int text_error(Ctx *c, const Span *sp, int64_t row, int64_t col) {
  const unsigned char *s = c->buf + sp->off, *e = s + sp->len;
  trim(c, &s, &e);
  return bad_cell(c, row, col, s, (size_t)(e - s));
}

/* -------------------------------------------------------------- levels */

/* The distinct strings of one text column, in order of first appearance:
** their bytes in one arena, and an open-addressing table of entry numbers. */
typedef struct Level {
  size_t off;
  size_t len;
  uint64_t hash;
} Level;

typedef struct Levels {
  int64_t pos;      /* the column's position in the result */
  int64_t first;    /* the data row (0-based) where it met text */
  unsigned char *bytes;
  size_t used, cap;
  Level *v;
  int64_t n, vcap;
  int64_t *slot;    /* entry numbers, -1 when free; at most half full */
  size_t nslot;
  int64_t *rank;    /* after sorting: rank[id], the 0-based sorted position */
} Levels;

static void levels_free(Levels *L) {
  free(L->bytes);
  free(L->v);
  free(L->slot);
  free(L->rank);
}

static uint64_t hash_bytes(const unsigned char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
  return h;
}

static int grow_slots(Levels *L) {
  size_t ns = L->nslot ? L->nslot * 2 : 64;
  int64_t *sl = tide__malloc(ns * sizeof *sl);
  if (!sl) return -1;
  for (size_t k = 0; k < ns; k++) sl[k] = -1;
  for (int64_t id = 0; id < L->n; id++) {
    size_t k = (size_t)L->v[id].hash & (ns - 1);
    while (sl[k] >= 0) k = (k + 1) & (ns - 1);
    sl[k] = id;
  }
  free(L->slot);
  L->slot = sl;
  L->nslot = ns;
  return 0;
}

/* The entry number of string [s, s+n) in L, added when new.  -1: no memory. */
static int64_t intern(Levels *L, const unsigned char *s, size_t n) {
  if ((size_t)L->n + 1 > L->nslot / 2 && grow_slots(L)) return -1;
  uint64_t h = hash_bytes(s, n);
  size_t k = (size_t)h & (L->nslot - 1);
  for (; L->slot[k] >= 0; k = (k + 1) & (L->nslot - 1)) {
    const Level *lv = &L->v[L->slot[k]];
    if (lv->hash == h && lv->len == n && memcmp(L->bytes + lv->off, s, n) == 0)
      return L->slot[k];
  }
  if (L->n == L->vcap) {
    int64_t nc = L->vcap ? L->vcap * 2 : 64;
    Level *nv = tide__realloc(L->v, (size_t)nc * sizeof *nv);
    if (!nv) return -1;
    L->v = nv;
    L->vcap = nc;
  }
  if (L->cap - L->used < n + 1) {
    size_t nc = L->cap ? L->cap * 2 : 1024;
    while (nc - L->used < n + 1) nc *= 2;
    unsigned char *nb = tide__realloc(L->bytes, nc);
    if (!nb) return -1;
    L->bytes = nb;
    L->cap = nc;
  }
  memcpy(L->bytes + L->used, s, n);
  L->bytes[L->used + n] = 0;
  L->v[L->n] = (Level){L->used, n, h};
  L->used += n + 1;
  L->slot[k] = L->n;
  return L->n++;
}

typedef struct SortKey {
  const unsigned char *s;
  size_t n;
  int64_t id;
} SortKey;

/* Byte order, a prefix first: Python's order of str, for UTF-8. */
static int key_cmp(const void *pa, const void *pb) {
  const SortKey *a = pa, *b = pb;
  int r = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
  if (r) return r;
  return (a->n > b->n) - (a->n < b->n);
}

/* Sorts L's strings: fills L->rank. */
static int levels_sort(Levels *L) {
  SortKey *k = tide__malloc((size_t)(L->n ? L->n : 1) * sizeof *k);
  L->rank = tide__malloc((size_t)(L->n ? L->n : 1) * sizeof *L->rank);
  if (!k || !L->rank) {
    free(k);
    return -1;
  }
  for (int64_t id = 0; id < L->n; id++) k[id] = (SortKey){L->bytes + L->v[id].off, L->v[id].len, id};
  qsort(k, (size_t)L->n, sizeof *k, key_cmp);
  for (int64_t r = 0; r < L->n; r++) L->rank[k[r].id] = r;
  free(k);
  return 0;
}

/* The largest code a dtype holds exactly. */
static int64_t max_code(int dt) {
  int64_t lo, hi;
  switch (dt) {
    case TIDE_F32: return (int64_t)1 << 24;
    case TIDE_F64: return (int64_t)1 << 53;
    default: tide_dtype_range(dt, &lo, &hi); return hi;
  }
}

/* ------------------------------------------------------------- driver */

/* Whether a header field looks like data (used by header auto-detection):
** blank, a number, a boolean or a missing marker. */
static int looks_like_data(Ctx *c, const Span *sp) {
  const unsigned char *s = c->buf + sp->off, *e = s + sp->len;
  trim(c, &s, &e);
  if (s == e) return 1;
  double d;
  uint8_t b;
  if ((size_t)(e - s) <= c->max_field && parse_double(c, s, e, &d) == 0) return 1;
  if (parse_bool(s, (size_t)(e - s), &b) == 0) return 1;
  size_t n;
  const unsigned char *v = field_value(c, sp, &n);
  return is_na(c, v, n);
}

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
  char **names = tide__malloc(bytes);
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
  char **names = tide__malloc(bytes);
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

/* Codes of text columns.  From the row where a column meets text on,
** pass 2 numbers each of its strings in order of first appearance (the
** number is stored in its cell for now); pass 3 walks the records before
** that row again for those columns only (none when the text was on the
** first data row, as usual); then the strings are sorted and the cells
** renumbered 1..k in that order.  Missing values stay NaN (or are an
** error for integers). */
static int code_cell(Ctx *c, Levels *L, const Span *sp, void *cell, int64_t row, int64_t col) {
  size_t n;
  const unsigned char *v = field_value(c, sp, &n);
  if (is_na(c, v, n)) return missing(c, cell, row, col, v, n);
  int64_t id = intern(L, v, n);
  if (id < 0) return tide__seterr(TIDE_ENOMEM, "out of memory for the strings of a text column");
  int64_t most = max_code(c->dtype);
  if (L->n > most) {
    char nm[260];
    return cerr(c, TIDE_ERANGE, "row %lld, column %lld%s: more than %lld distinct strings "
                "in a text column: their codes do not fit %s", (long long)row, (long long)col + 1,
                colname(c, col, nm, sizeof nm), (long long)most, tide_dtypes[c->dtype].name);
  }
  tide_store_i64(c->dtype, cell, id);
  return TIDE_OK;
}

/* Pass 3 over the rows before each text column's first text, then the
** renumbering. */
static int code_text(Ctx *c, Span *spans, int64_t cap, int64_t ncols, const int64_t *sel,
                     tide_Array *out, Levels *lv, int64_t nt) {
  int64_t last = 0, nf, row;
  for (int64_t t = 0; t < nt; t++) if (lv[t].first > last) last = lv[t].first;
  for (int64_t i = 0; i < last; i++) {
    int r = next_record(c, spans, cap, &nf, &row);
    if (r != 1 || nf != ncols) /* the earlier passes saw these bytes succeed */
      return r < 0 ? r : cerr(c, TIDE_EFORMAT, "the input changed while it was read");
    for (int64_t t = 0; t < nt; t++) {
      Levels *L = &lv[t];
      if (i >= L->first) continue;
      int64_t col = sel[L->pos];
      int rc = code_cell(c, L, &spans[col], out->data + i * out->strides[0] + L->pos * out->strides[1],
                         row, col);
      if (rc) return rc;
    }
  }
  int dt = out->dtype;
  for (int64_t t = 0; t < nt; t++) {
    Levels *L = &lv[t];
    if (levels_sort(L)) return tide__seterr(TIDE_ENOMEM, "out of memory sorting strings");
    unsigned char *cell = out->data + L->pos * out->strides[1];
    for (int64_t i = 0; i < out->shape[0]; i++, cell += out->strides[0]) {
      if (dt == TIDE_F64 || dt == TIDE_F32) {
        double v = tide_load_f64(dt, cell);
        if (v == v) tide_store_f64(dt, cell, (double)(L->rank[(int64_t)v] + 1));
      } else {
        tide_store_i64(dt, cell, L->rank[tide_load_i64(dt, cell)] + 1);
      }
    }
  }
  return TIDE_OK;
}

/* The levels block of tide_CsvInfo for ncols result columns (see csv.h). */
static int make_levels(const Levels *lv, int64_t nt, int64_t ncols, tide_CsvInfo *info) {
  size_t bytes = (size_t)ncols * (sizeof(char **) + sizeof(int64_t));
  for (int64_t t = 0; t < nt; t++) bytes += (size_t)lv[t].n * sizeof(char *) + lv[t].used;
  char ***levels = tide__malloc(bytes);
  if (!levels) return tide__seterr(TIDE_ENOMEM, "out of memory for the levels of text columns");
  int64_t *nlevels = (int64_t *)(levels + ncols);
  char **ptrs = (char **)(nlevels + ncols);
  for (int64_t j = 0; j < ncols; j++) {
    levels[j] = NULL;
    nlevels[j] = 0;
  }
  for (int64_t t = 0; t < nt; t++) ptrs += lv[t].n;
  char *q = (char *)ptrs;
  ptrs = (char **)(nlevels + ncols);
  for (int64_t t = 0; t < nt; t++) {
    const Levels *L = &lv[t];
    levels[L->pos] = ptrs;
    nlevels[L->pos] = L->n;
    for (int64_t id = 0; id < L->n; id++) {
      ptrs[L->rank[id]] = q;
      memcpy(q, L->bytes + L->v[id].off, L->v[id].len + 1);
      q += L->v[id].len + 1;
    }
    ptrs += L->n;
  }
  info->levels = levels;
  info->nlevels = nlevels;
  return TIDE_OK;
}

/* categorical SKIP: a new result without the text columns (kind[j] set);
** with mmap, a new file replaces the one written. */
static int drop_text(Ctx *c, const tide_CsvOptions *o, const int64_t *kind, int64_t nsel,
                     int64_t nt, tide_Array *out) {
  tide_Array keep;
  int64_t shape[2] = {out->shape[0], nsel - nt};
  int rc = make_output(c, o, shape, &keep);
  if (rc) return rc;
  size_t isz = (size_t)tide_dtype_size(o->dtype);
  for (int64_t i = 0; i < shape[0]; i++) {
    unsigned char *d = keep.data + i * keep.strides[0];
    const unsigned char *s = out->data + i * out->strides[0];
    for (int64_t j = 0; j < nsel; j++, s += isz)
      if (!kind[j]) {
        memcpy(d, s, isz);
        d += isz;
      }
  }
  tide_array_close(out);
  *out = keep;
  return TIDE_OK;
}

/* Checks the options' bytes. */
static int check_options(const tide_CsvOptions *o) {
  unsigned char dl = (unsigned char)o->delimiter, cm = (unsigned char)o->comment;
  unsigned char dp = (unsigned char)o->decimal;
  if (dl == '"' || dl == '\n' || dl == '\r' || dl == 0)
    return tide__seterr(TIDE_EINVAL, "the delimiter cannot be a quote, a line end or NUL");
  if (cm && (cm == '"' || cm == '\n' || cm == '\r' || cm == dl))
    return tide__seterr(TIDE_EINVAL, "the comment byte cannot be a quote, a line end or the "
                        "delimiter");
  if (dp == 0 || dp == '"' || dp == '\n' || dp == '\r' || dp == dl || dp == cm || ISDIG(dp) ||
      dp == '+' || dp == '-' || dp == 'e' || dp == 'E' || dp == ' ' || dp == '\t')
    return tide__seterr(TIDE_EINVAL, "the decimal point cannot be a digit, a sign, 'e', a "
                        "blank, a quote, a line end, NUL, the delimiter or the comment byte");
  if (o->categorical < TIDE_CSV_CODES || o->categorical > TIDE_CSV_ERROR)
    return tide__seterr(TIDE_EINVAL, "unknown categorical mode %d", o->categorical);
  if (o->n_na_values < 0 || (o->n_na_values > 0 && !o->na_values))
    return tide__seterr(TIDE_EINVAL, "bad na_values");
  return TIDE_OK;
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
  int rc = check_options(opt);
  if (rc) return rc;
  if (opt->ncolumns < 0 || (opt->ncolumns > 0 && !opt->columns))
    return tide__seterr(TIDE_EINVAL, "bad column selection");

  Ctx c;
  init_ctx(&c, opt, buf, len);
  /* UTF-16 text would otherwise fail as "embedded NUL byte": say why. */
  if (len >= 2 &&
      ((c.buf[0] == 0xFF && c.buf[1] == 0xFE) || (c.buf[0] == 0xFE && c.buf[1] == 0xFF)))
    return cerr(&c, TIDE_EFORMAT, "row 1: the text is UTF-16 (it starts with a UTF-16 byte "
                "order mark); save it as UTF-8");
  Span *spans = NULL;
  int64_t *sel = NULL;
  char **fnames = NULL, **names = NULL;
  int64_t *kind = NULL; /* per result column: 0, or 1 + its number among text columns */
  Levels *lv = NULL;
  int64_t nt = 0;
  /* strtod_l and "" undoing need a copy of a field; no field is longer
  ** than the input or the cap. */
  size_t longest = len < c.max_field ? len : c.max_field;
  c.scratch = tide__malloc(longest + 1);
  c.unq = tide__malloc(longest + 1);
  /* A record holds at most len + 1 fields: the span table stays within a
  ** constant times the input even before the first record is counted. */
  int64_t cap = (int64_t)(len + 1 < (size_t)c.max_columns ? len + 1 : (size_t)c.max_columns) + 1;
  spans = tide__malloc((size_t)cap * sizeof *spans);
  if (!c.scratch || !c.unq || !spans) {
    rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
    goto done;
  }
  if ((rc = na_init(&c, opt, longest))) goto done;

  /* Pass 1: the first record gives the column count and maybe the names;
  ** the others are counted and checked. */
  int64_t ncols = 0, nrec = 0, row = 0, nf = 0;
  int has_header = 0;
  const unsigned char *data_start = c.p; /* after a BOM */
  int64_t first_line = 1;
  rc = next_record(&c, spans, cap, &ncols, &row);
  if (rc < 0) goto done;
  if (rc == 1) {
    nrec = 1;
    has_header = opt->header == TIDE_CSV_HEADER_YES;
    if (opt->header == TIDE_CSV_HEADER_AUTO)
      for (int64_t j = 0; j < ncols && !has_header; j++)
        if (!looks_like_data(&c, &spans[j])) has_header = 1;
    fnames = make_names(&c, spans, ncols, has_header);
    if (!fnames) {
      rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
      goto done;
    }
  }
  rc = TIDE_OK;
  if (has_header) {
    data_start = c.p;
    first_line = c.line;
  }
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
  sel = tide__malloc((size_t)(nsel + 1) * sizeof *sel);
  kind = tide__calloc((size_t)nsel + 1, sizeof *kind);
  if (!sel || !kind) {
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

  int64_t shape[2] = {nrows, nsel};
  rc = make_output(&c, opt, shape, out);
  if (rc) goto done;

  /* Pass 2: parse straight into the rows of the array.  A column that
  ** meets text is coded from then on (see code_cell), or left alone when
  ** it is to be dropped. */
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
      if (nt && kind[j]) {
        if (lv && (rc = code_cell(&c, &lv[kind[j] - 1], sp, dst, row, sel[j]))) goto fail_out;
        continue;
      }
      rc = parse_cell(&c, sp, dst, row, sel[j]);
      if (rc == CELL_TEXT) {
        if (c.categorical == TIDE_CSV_ERROR ||
            (c.categorical == TIDE_CSV_CODES && opt->dtype == TIDE_BOOL)) {
          rc = text_error(&c, sp, row, sel[j]);
        } else {
          kind[j] = ++nt;
          rc = TIDE_OK;
          if (c.categorical == TIDE_CSV_CODES) {
            if (!lv && !(lv = tide__calloc((size_t)nsel, sizeof *lv))) {
              rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
              goto fail_out;
            }
            lv[nt - 1].pos = j;
            lv[nt - 1].first = i;
            rc = code_cell(&c, &lv[nt - 1], sp, dst, row, sel[j]);
          }
        }
      }
      if (rc) goto fail_out;
    }
  }

  /* Text columns: dropped, or pass 3 codes them. */
  if (nt && c.categorical == TIDE_CSV_SKIP) {
    if ((rc = drop_text(&c, opt, kind, nsel, nt, out))) goto fail_out;
    int64_t k = 0;
    for (int64_t j = 0; j < nsel; j++)
      if (!kind[j]) sel[k++] = sel[j];
  } else if (nt) {
    c.p = data_start;
    c.line = first_line;
    if ((rc = code_text(&c, spans, cap, ncols, sel, out, lv, nt))) goto fail_out;
  }
  int64_t nout = out->shape[1];
  names = fnames ? select_names(fnames, sel, nout) : tide__calloc(1, sizeof(char *));
  if (!names) {
    rc = tide__seterr(TIDE_ENOMEM, "out of memory reading CSV");
    goto fail_out;
  }
  if (info) {
    if (lv && (rc = make_levels(lv, nt, nout, info))) goto fail_out;
    info->names = names;
    names = NULL;
    info->ncols = nout;
    info->nrows = nrows;
    info->has_header = has_header;
    info->ntext = nt;
  }
  rc = TIDE_OK;
  goto done;

fail_out:
  tide_array_close(out);
  if (opt->mmap_path) unlink(opt->mmap_path); /* the file was ours, new */
done:
  if (c.cloc) freelocale(c.cloc);
  free(c.scratch);
  free(c.unq);
  free(c.na.m);
  free(spans);
  free(sel);
  free(kind);
  for (int64_t t = 0; lv && t < nt; t++) levels_free(&lv[t]);
  free(lv);
  free(fnames);
  free(names);
  return rc;
}

/* Reads a file that cannot be mapped (a pipe, a /proc file) into memory. */
static int slurp(int fd, const char *path, unsigned char **out, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  unsigned char *b = tide__malloc(cap);
  if (!b) return tide__seterr(TIDE_ENOMEM, "out of memory reading '%s'", path);
  for (;;) {
    if (n == cap) {
      unsigned char *nb = cap > SIZE_MAX / 2 ? NULL : tide__realloc(b, cap * 2);
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
    void *m = tide__mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
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
