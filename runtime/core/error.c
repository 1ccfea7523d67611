/*
** error.c -- error codes, their texts, and the per-thread last message.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

static _Thread_local char lasterr[1024];

static const char *const errtext[] = {
#define XX(name, text) text,
  TIDE_ERRNO_MAP(XX)
#undef XX
};
static const char *const errname[] = {
#define XX(name, text) #name,
  TIDE_ERRNO_MAP(XX)
#undef XX
};

#define NERR ((int)(sizeof errtext / sizeof errtext[0]))

const char *tide_strerror(int code) {
  if (code == TIDE_OK) return "success";
  int i = code - TIDE_ERRBASE_ - 1;
  return (i >= 0 && i < NERR) ? errtext[i] : "unknown error";
}

const char *tide_errname(int code) {
  if (code == TIDE_OK) return "OK";
  int i = code - TIDE_ERRBASE_ - 1;
  return (i >= 0 && i < NERR) ? errname[i] : "EUNKNOWN";
}

const char *tide_lasterror(void) { return lasterr; }

/* Messages are formatted aside, then copied: a caller may pass the last
** message itself as an argument ("%s: %s", fname, tide_lasterror()), and
** vsnprintf's source and destination must not overlap. */
int tide__seterr(int code, const char *fmt, ...) {
  char buf[sizeof lasterr];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  memcpy(lasterr, buf, sizeof buf);
  return code;
}

int tide__syserr(int code, int errnum, const char *fmt, ...) {
  char buf[sizeof lasterr];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof buf)
    snprintf(buf + n, sizeof buf - (size_t)n, ": %s", strerror(errnum));
  memcpy(lasterr, buf, sizeof buf);
  return code;
}

int tide__errno_code(int errnum) {
  switch (errnum) {
    case ENOMEM: return TIDE_ENOMEM;
    case ENOSPC: case EDQUOT: case EFBIG: return TIDE_ENOSPC;
    case EINVAL: return TIDE_EINVAL;
    case EROFS: return TIDE_EREADONLY;
    default: return TIDE_EIO;
  }
}
