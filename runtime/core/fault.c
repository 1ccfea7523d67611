/*
** fault.c -- allocation-failure injection (TIDE_FAULTS builds only; see
** fault.h).  One counter for the whole core: the driver arms it, runs a
** scenario, and reads how many acquisitions the scenario passed, so that
** N = 1, 2, ... walks every one of them.
**
** The counter is atomic because a parallel loop's service thread and the
** monitor's sampler acquire too; the pid check keeps forked workers (which
** inherit the armed counter) out of it: a worker's failure is the
** kill-point tests' business, and counting there would make the parent's
** sequence depend on scheduling.
**
** The environment can arm it before any Lua runs, for tests that drive a
** child tide: TIDE_FAULT_AT=N (and TIDE_FAULT_PERSIST=1).  TIDE_FAULT_TRACE=1
** prints where the (first) fault hit.
*/
#ifdef TIDE_FAULTS

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <execinfo.h>
#include <fcntl.h>

#include "core.h"

static atomic_long at_, passed_, fired_;
static atomic_int persist_;
static pid_t owner_;
static int trace_; /* TIDE_FAULT_TRACE=1: a backtrace on stderr at the fault */

void tide__fault_arm(long at, int persist) {
  atomic_store(&at_, 0);
  atomic_store(&passed_, 0);
  atomic_store(&fired_, 0);
  atomic_store(&persist_, persist);
  owner_ = getpid();
  atomic_store(&at_, at > 0 ? at : 0);
}

long tide__fault_passed(void) { return atomic_load(&passed_); }
long tide__fault_fired(void) { return atomic_load(&fired_); }

int tide__fault_hit(void) {
  long at = atomic_load(&at_);
  if (at == 0 || getpid() != owner_) return 0;
  long n = atomic_fetch_add(&passed_, 1) + 1;
  if (n == at || (n > at && atomic_load(&persist_))) {
    if (atomic_fetch_add(&fired_, 1) == 0 && trace_) { /* where the first one hit */
      void *pc[16];
      backtrace_symbols_fd(pc, backtrace(pc, 16), 2);
    }
    return 1;
  }
  return 0;
}

__attribute__((constructor)) static void from_env(void) {
  const char *t = getenv("TIDE_FAULT_TRACE");
  trace_ = t && *t == '1';
  const char *s = getenv("TIDE_FAULT_AT");
  if (s && *s) {
    const char *p = getenv("TIDE_FAULT_PERSIST");
    tide__fault_arm(strtol(s, NULL, 10), p && *p == '1');
  }
}

/* Each wrapper fails the way the call fails when the resource is gone. */
#define FAIL(err, ret)                                                         \
  do {                                                                         \
    if (tide__fault_hit()) {                                                   \
      errno = (err);                                                           \
      return ret;                                                              \
    }                                                                          \
  } while (0)

void *tide__malloc(size_t n) {
  FAIL(ENOMEM, NULL);
  return malloc(n);
}

void *tide__calloc(size_t n, size_t size) {
  FAIL(ENOMEM, NULL);
  return calloc(n, size);
}

void *tide__realloc(void *p, size_t n) {
  FAIL(ENOMEM, NULL);
  return realloc(p, n);
}

char *tide__strdup(const char *s) {
  FAIL(ENOMEM, NULL);
  return strdup(s);
}

int tide__posix_memalign(void **p, size_t align, size_t n) {
  if (tide__fault_hit()) return ENOMEM;
  return posix_memalign(p, align, n);
}

void *tide__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  FAIL(ENOMEM, MAP_FAILED);
  return mmap(addr, len, prot, flags, fd, off);
}

int tide__memfd_create(const char *name, unsigned flags) {
  FAIL(EMFILE, -1);
  return memfd_create(name, flags);
}

int tide__posix_fallocate(int fd, off_t off, off_t len) {
  if (tide__fault_hit()) return ENOSPC;
  return posix_fallocate(fd, off, len);
}

int tide__ftruncate(int fd, off_t len) {
  FAIL(ENOSPC, -1);
  return ftruncate(fd, len);
}

int tide__pipe(int fd[2]) {
  FAIL(EMFILE, -1);
  return pipe(fd);
}

int tide__socketpair(int domain, int type, int protocol, int sv[2]) {
  FAIL(EMFILE, -1);
  return socketpair(domain, type, protocol, sv);
}

pid_t tide__fork_raw(void) {
  FAIL(EAGAIN, -1);
  return fork();
}

int tide__posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                      const posix_spawnattr_t *at, char *const argv[], char *const envp[]) {
  if (tide__fault_hit()) return EAGAIN; /* as fork in it would: out of processes */
  return posix_spawn(pid, path, fa, at, argv, envp);
}

#else
typedef int tide__fault_unused; /* ISO C: a translation unit is not empty */
#endif
