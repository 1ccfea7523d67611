/*
** check.h -- a small test harness: typed checks that print both operands,
** a failure count, and the closing line "N passed, N failed".
*/
#ifndef TIDE_CHECK_H
#define TIDE_CHECK_H

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int check_pass, check_fail;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (cond) check_pass++;                                                 \
    else {                                                                  \
      check_fail++;                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    }                                                                       \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                  \
  do {                                                                      \
    long long va_ = (long long)(a), vb_ = (long long)(b);                   \
    if (va_ == vb_) check_pass++;                                           \
    else {                                                                  \
      check_fail++;                                                         \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", __FILE__,   \
              __LINE__, #a, #b, va_, vb_);                                  \
    }                                                                       \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                               \
  do {                                                                      \
    double va_ = (a), vb_ = (b);                                            \
    if (fabs(va_ - vb_) <= (tol) * (1 + fabs(vb_))) check_pass++;           \
    else {                                                                  \
      check_fail++;                                                         \
      fprintf(stderr, "%s:%d: %s ~= %s failed: %.17g vs %.17g\n", __FILE__, \
              __LINE__, #a, #b, va_, vb_);                                  \
    }                                                                       \
  } while (0)

#define CHECK_STR_HAS(s, sub)                                               \
  do {                                                                      \
    const char *vs_ = (s);                                                  \
    if (vs_ && strstr(vs_, (sub))) check_pass++;                            \
    else {                                                                  \
      check_fail++;                                                         \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,  \
              __LINE__, vs_ ? vs_ : "(null)", (sub));                       \
    }                                                                       \
  } while (0)

/* A line "Key: N kB" of /proc/self/status, or -1 when unreadable. */
static inline long check_status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256], fmt[64];
  long v = -1;
  snprintf(fmt, sizeof fmt, "%s: %%ld", key);
  while (fgets(line, sizeof line, f))
    if (sscanf(line, fmt, &v) == 1) break;
  fclose(f);
  return v;
}

/* Peak resident memory (kB) since the last check_reset_peak(), resident
** memory now; check_reset_peak() returns 0 when the kernel refuses. */
static inline long check_peak_kb(void) { return check_status_kb("VmHWM"); }
static inline long check_rss_kb(void) { return check_status_kb("VmRSS"); }
static inline int check_reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return 0;
  int ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok;
}

/* Entries of folder dir whose names start with prefix ("" for all but
** the dot entries); -1 when it cannot be read.  ("/dev/shm", "tide"):
** tide's segments; ("/proc/self/fd", ""): open descriptors, the folder's
** own included. */
static inline int check_count_dir(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  size_t len = strlen(prefix);
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, len) == 0;
  closedir(d);
  return n;
}

/* fn(ud) in a child whose files may grow to limit bytes, as on a full
** disk (SIGXFSZ ignored: a write past it fails with EFBIG); returns fn's
** value, the child's exit code, or -1 when it did not exit.  The limit is
** lifted before the child exits, so a coverage build writes its counts
** whole. */
static inline int check_fsize_child(rlim_t limit, int (*fn)(void *), void *ud) {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, rl;
    getrlimit(RLIMIT_FSIZE, &old);
    rl = old;
    rl.rlim_cur = limit;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(125);
    int code = fn(ud);
    setrlimit(RLIMIT_FSIZE, &old);
    _exit(code);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

static inline int check_done(void) {
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail ? 1 : 0;
}

#endif
