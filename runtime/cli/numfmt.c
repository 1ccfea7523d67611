/*
** numfmt.c -- numbers to text in the tide program without libquadmath's
** toll.
**
** OpenBLAS and LAPACK need libgfortran, which loads libquadmath, whose
** constructor registers printf handlers for %f %e %g %a (its Q modifier
** for __float128).  Once any handler is registered, glibc's vfprintf takes
** its slow "positional" path for every format, so each snprintf of a
** number -- Lua's tostring(1.5), string.format, print, io.write -- costs
** 1.5-1.7x what it costs in the stock lua5.4.
**
** The program is linked with --wrap=snprintf and --wrap=__snprintf_chk
** (CMakeLists.txt), which sends those calls -- Lua's own, from the static
** liblua5.4.a, and tide's -- here.  A format that is exactly one floating
** conversion with at most a precision ("%.14g", Lua's number format) goes
** to strfromd, glibc's formatter called directly (the same digits, no
** handler lookup); "%d", "%ld" and "%lld" are written here; any other
** format goes to vsnprintf as before.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int __wrap_snprintf(char *s, size_t n, const char *fmt, ...);
int __wrap___snprintf_chk(char *s, size_t n, int flag, size_t slen, const char *fmt, ...);
int __vsnprintf_chk(char *s, size_t n, int flag, size_t slen, const char *fmt, va_list ap);

/* What fmt asks for when it is one conversion this file writes itself. */
enum { OTHER, FLOAT, INT, LONG, LLONG };

static int kind_of(const char *fmt) {
  if (fmt[0] != '%') return OTHER;
  const char *p = fmt + 1;
  if (*p == '.') { /* a precision: strfromd takes "%.<digits><conv>" */
    p++;
    if (*p < '0' || *p > '9') return OTHER;
    while (*p >= '0' && *p <= '9') p++;
    return strchr("aAeEfFgG", *p) && *p && p[1] == '\0' ? FLOAT : OTHER;
  }
  if (*p && strchr("aAeEfFgG", *p) && p[1] == '\0') return FLOAT;
  if (strcmp(p, "d") == 0) return INT;
  if (strcmp(p, "ld") == 0) return LONG;
  if (strcmp(p, "lld") == 0) return LLONG;
  return OTHER;
}

/* v in decimal into s (at most n bytes with the NUL), snprintf's return. */
static int put_int(char *s, size_t n, long long v) {
  char tmp[24];
  char *e = tmp + sizeof tmp, *p = e;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do *--p = (char)('0' + u % 10); while ((u /= 10) != 0);
  if (v < 0) *--p = '-';
  size_t len = (size_t)(e - p);
  if (n > 0) {
    size_t k = len < n - 1 ? len : n - 1;
    memcpy(s, p, k);
    s[k] = '\0';
  }
  return (int)len;
}

/* The fast cases: k is kind_of(fmt), not OTHER. */
static int fast(int k, char *s, size_t n, const char *fmt, va_list ap) {
  switch (k) {
    case FLOAT: return strfromd(s, n, fmt, va_arg(ap, double));
    case INT: return put_int(s, n, va_arg(ap, int));
    case LONG: return put_int(s, n, va_arg(ap, long));
    case LLONG: return put_int(s, n, va_arg(ap, long long));
    default: return vsnprintf(s, n, fmt, ap);
  }
}

int __wrap_snprintf(char *s, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = kind_of(fmt);
  int r = k != OTHER ? fast(k, s, n, fmt, ap) : vsnprintf(s, n, fmt, ap);
  va_end(ap);
  return r;
}

/* _FORTIFY_SOURCE's snprintf (Debian builds liblua with it): the same,
** with its check that the buffer is as big as said. */
int __wrap___snprintf_chk(char *s, size_t n, int flag, size_t slen, const char *fmt, ...) {
  if (slen < n) abort(); /* as __chk_fail: a caller's lie about its buffer */
  va_list ap;
  va_start(ap, fmt);
  int k = kind_of(fmt);
  int r = k != OTHER ? fast(k, s, n, fmt, ap) : __vsnprintf_chk(s, n, flag, slen, fmt, ap);
  va_end(ap);
  return r;
}
