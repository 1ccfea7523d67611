/*
** format.c -- numpy-like text of arrays: summarized rows and columns with
** "...", one number format for the whole array, then shape, dtype, storage.
*/
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define THRESHOLD 1000 /* numpy's print threshold */
#define LINEWIDTH 75   /* numpy's linewidth: longer rows wrap */
#define EDGE 3         /* numpy's edgeitems */

typedef struct Buf {
  char *p;
  size_t n, cap;
  int oom;
} Buf;

static void put(Buf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (b->n + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->n + len + 1) cap *= 2;
    char *p = tide__realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}
static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

/* Characters since the last newline. */
static size_t column(const Buf *b) {
  size_t k = b->n;
  while (k > 0 && b->p[k - 1] != '\n') k--;
  return b->n - k;
}

typedef struct Fmt {
  int dtype, summarize;
  int sci, prec, intlike, width;
} Fmt;

static void fmt_one(const Fmt *f, const unsigned char *p, char *out, size_t len) {
  if (f->dtype == TIDE_BOOL) {
    snprintf(out, len, "%s", *p ? "true" : "false");
  } else if (f->dtype == TIDE_U64) {
    snprintf(out, len, "%" PRIu64, *(const uint64_t *)p);
  } else if (!tide_dtype_isfloat(f->dtype)) {
    snprintf(out, len, "%" PRId64, tide_load_i64(f->dtype, p));
  } else {
    double v = tide_load_f64(f->dtype, p);
    if (isnan(v)) snprintf(out, len, "nan");
    else if (isinf(v)) snprintf(out, len, v > 0 ? "inf" : "-inf");
    else if (f->sci) snprintf(out, len, "%.*e", f->prec, v);
    else if (f->intlike) snprintf(out, len, "%.0f.", v);
    else {
      /* numpy's "maxprec" style: trailing zeros become spaces, so the
      ** decimal points of a column line up ("1.5", "2. "). */
      int n = snprintf(out, len, "%.*f", f->prec, v);
      if (n > 0 && (size_t)n < len) {
        int k = n - 1;
        while (k > 0 && out[k] == '0') out[k--] = ' ';
      }
    }
  }
}

/* Visits the elements that will be printed (edges only when summarizing). */
typedef void (*VisitFn)(const unsigned char *p, void *ud);
static void visit(const tide_Array *a, int d, const unsigned char *p, int summ,
                  VisitFn fn, void *ud) {
  if (d == a->ndim) { fn(p, ud); return; }
  int64_t n = a->shape[d];
  for (int64_t i = 0; i < n; i++) {
    if (summ && n > 2 * EDGE && i == EDGE) i = n - EDGE;
    visit(a, d + 1, p + i * a->strides[d], summ, fn, ud);
  }
}

typedef struct Scan {
  int dtype;
  double maxabs, minabs;
  int any, allint;
  int decimals;
} Scan;

static void scan_one(const unsigned char *p, void *ud) {
  Scan *s = ud;
  double v = tide_load_f64(s->dtype, p);
  if (!isfinite(v)) return;
  double av = fabs(v);
  if (!s->any || av > s->maxabs) s->maxabs = av;
  if (av > 0 && (s->minabs == 0 || av < s->minabs)) s->minabs = av;
  s->any = 1;
  if (v != floor(v) || av >= 1e16) s->allint = 0;
  /* decimals needed at 8 significant places after the point (numpy's default precision) */
  char b[64];
  snprintf(b, sizeof b, "%.8f", v);
  char *dot = strchr(b, '.');
  if (dot) {
    int k = (int)strlen(dot + 1);
    while (k > 0 && dot[k] == '0') k--;
    if (k > s->decimals) s->decimals = k;
  }
}

typedef struct Width { const Fmt *f; int w; } Width;
static void width_one(const unsigned char *p, void *ud) {
  Width *w = ud;
  char b[64];
  fmt_one(w->f, p, b, sizeof b);
  int n = (int)strlen(b);
  if (n > w->w) w->w = n;
}

static void emit(Buf *b, const tide_Array *a, int d, const unsigned char *p,
                 const Fmt *f, int depth_indent) {
  char tmp[80];
  if (d == a->ndim) {
    fmt_one(f, p, tmp, sizeof tmp);
    int pad = f->width - (int)strlen(tmp);
    for (int i = 0; i < pad; i++) put(b, " ", 1);
    puts_(b, tmp);
    return;
  }
  put(b, "[", 1);
  int64_t n = a->shape[d];
  for (int64_t i = 0; i < n; i++) {
    if (f->summarize && n > 2 * EDGE && i == EDGE) {
      if (d == a->ndim - 1) {
        if (column(b) + 4 > LINEWIDTH) {
          puts_(b, "\n");
          for (int k = 0; k < depth_indent + d + 1; k++) put(b, " ", 1);
          puts_(b, "...");
        } else {
          puts_(b, " ...");
        }
      }
      else {
        puts_(b, "\n");
        for (int k = 0; k < depth_indent + d + 1; k++) put(b, " ", 1);
        puts_(b, "...");
      }
      i = n - EDGE;
    }
    if (i > 0 || (f->summarize && n > 2 * EDGE && i == n - EDGE)) {
      if (d == a->ndim - 1) {
        /* wrap a long row as numpy does, under its first element */
        if (column(b) + 1 + (size_t)f->width + 1 > LINEWIDTH) {
          puts_(b, "\n");
          for (int k = 0; k < depth_indent + d + 1; k++) put(b, " ", 1);
        } else {
          put(b, " ", 1);
        }
      } else {
        for (int k = 0; k < a->ndim - 1 - d; k++) puts_(b, "\n");
        for (int k = 0; k < depth_indent + d + 1; k++) put(b, " ", 1);
      }
    }
    emit(b, a, d + 1, p + i * a->strides[d], f, depth_indent);
  }
  put(b, "]", 1);
}

char *tide_array_format(const tide_Array *a, const char *indent) {
  Buf b = {0};
  Fmt f = {.dtype = a->dtype};
  bool empty = a->ndim > 0 && tide_array_size(a) == 0;
  f.summarize = tide_array_size(a) > THRESHOLD;
  (void)indent;
  /* an empty array's scans are skipped: the dimensions before its zero
  ** may be huge (2^31 x 2^31 x 0 took the visits 2^62 steps: fuzz_api) */
  if (!empty && tide_dtype_isfloat(a->dtype)) {
    Scan s = {.dtype = a->dtype, .allint = 1};
    visit(a, 0, a->data, f.summarize, scan_one, &s);
    f.intlike = s.allint;
    f.prec = s.decimals;
    if (s.any && (s.maxabs >= 1e8 || (s.minabs > 0 && s.minabs < 1e-4) ||
                  (s.minabs > 0 && s.maxabs / s.minabs > 1e3 && !s.allint))) {
      f.sci = 1;
      f.intlike = 0;
      f.prec = 4;
    }
  }
  Width w = {&f, 0};
  if (!empty) visit(a, 0, a->data, f.summarize, width_one, &w);
  f.width = w.w;
  if (empty) {
    for (int d = 0; d < a->ndim; d++) put(&b, "[", 1);
    for (int d = 0; d < a->ndim; d++) put(&b, "]", 1);
  } else {
    emit(&b, a, 0, a->data, &f, 0);
  }
  static const char *const kinds[] = {"heap", "shared", "file", "borrowed"};
  char sh[256], line[400];
  snprintf(line, sizeof line, "\n[tide.array %s %s %s%s]",
           tide_shape_str(a->ndim, a->shape, sh, sizeof sh), tide_dtypes[a->dtype].name,
           a->storage ? kinds[a->storage->kind] : "closed",
           (a->flags & TIDE_AF_READONLY) ? " read-only" : "");
  puts_(&b, line);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}
