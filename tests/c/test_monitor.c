/*
** test_monitor.c -- the process-tree sampler from C: one-shot measures,
** a child's memory counted in the tree, marks from a forked child, stop and
** reaping, a full sample array, bad arguments.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "monitor.h"

#define MB 1000000LL

static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static int proc_exists(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  fclose(f);
  return 1;
}

static void test_memory_tree(void) {
  tide_MemUsage u;
  CHECK_EQ_INT(tide_memory_tree(0, &u), TIDE_OK);
  CHECK(u.rss > 0 && u.pss > 0 && u.uss > 0);
  CHECK(u.uss <= u.pss && u.pss <= u.rss);
  CHECK_EQ_INT(u.nproc, 1);
  CHECK(u.sys_total > 0 && u.sys_used > 0 && u.sys_used < u.sys_total);
  CHECK_EQ_INT(tide_memory_tree(2147483647, &u), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "no process");

  /* A child that owns 50 MB of private pages is part of the tree. */
  tide_MemUsage before;
  tide_memory_tree(0, &before);
  int go[2];
  if (pipe(go) != 0) {
    CHECK(0);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    size_t n = 50 * MB;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) memset(p, 1, n);
    char c;
    ssize_t r = read(go[0], &c, 1); /* EOF when the parent closes its end */
    (void)r;
    _exit(0);
  }
  close(go[0]);
  tide_MemUsage with = before;
  for (int i = 0; i < 200 && with.uss < before.uss + 45 * MB; i++) {
    nap(0.01);
    tide_memory_tree(0, &with);
  }
  CHECK_EQ_INT(with.nproc, 2);
  CHECK(with.uss > before.uss + 45 * MB);
  CHECK(with.pss > before.pss + 45 * MB);
  close(go[1]);
  waitpid(pid, NULL, 0);
}

static void test_monitor(void) {
  tide_Monitor *m = NULL;
  CHECK_EQ_INT(tide_monitor_start(&m, 0, 10), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "interval");
  CHECK_EQ_INT(tide_monitor_start(&m, 0.01, 0), TIDE_EINVAL);
  CHECK(m == NULL);

  CHECK_EQ_INT(tide_monitor_start(&m, 0.01, 100000), TIDE_OK);
  if (!m) return;
  CHECK(tide_monitor_running(m));
  CHECK(tide_monitor_owned(m));
  CHECK(tide_monitor_count(m) >= 1); /* the baseline is there on return */
  pid_t sampler = tide_monitor_pid(m);
  CHECK(proc_exists(sampler));

  /* the sampler leaves itself out of any measure */
  tide_MemUsage u;
  tide_memory_tree(0, &u);
  CHECK_EQ_INT(u.nproc, 1);

  CHECK_EQ_INT(tide_monitor_mark(m, "parent"), TIDE_OK);
  /* a forked child marks into the same table, and cannot stop the monitor */
  pid_t pid = fork();
  if (pid == 0) {
    int rc = tide_monitor_mark(m, "child");
    tide_monitor_stop(m); /* a no-op here */
    _exit(rc == TIDE_OK && !tide_monitor_running(m) ? 0 : 1);
  }
  int st = -1;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(tide_monitor_running(m));
  nap(0.05);

  CHECK_EQ_INT(tide_monitor_stop(m), TIDE_OK);
  CHECK(!tide_monitor_running(m));
  CHECK(!proc_exists(sampler)); /* reaped */
  CHECK_EQ_INT(tide_monitor_stop(m), TIDE_OK); /* idempotent */
  CHECK_EQ_INT(tide_monitor_mark(m, "late"), TIDE_ECLOSED);

  int64_t n = tide_monitor_count(m);
  const tide_MonSample *s = tide_monitor_samples(m);
  CHECK(n >= 2);
  int mono = 1, sane = 1;
  for (int64_t i = 0; i < n; i++) {
    if (i > 0 && !(s[i].t > s[i - 1].t)) mono = 0;
    if (!(s[i].rss > 0 && s[i].uss <= s[i].pss && s[i].pss <= s[i].rss && s[i].cpu >= 0 &&
          s[i].nproc >= 1))
      sane = 0;
  }
  CHECK(mono);
  CHECK(sane);
  CHECK_NEAR(s[0].cpu, 0, 0);

  int dropped = -1;
  int nm = tide_monitor_nmarks(m, &dropped);
  CHECK_EQ_INT(nm, 2);
  CHECK_EQ_INT(dropped, 0);
  int seen_parent = 0, seen_child = 0;
  for (int i = 0; i < nm; i++) {
    double t;
    const char *label;
    if (tide_monitor_getmark(m, i, &t, &label) != TIDE_OK) continue;
    CHECK(t >= 0 && t <= s[n - 1].t);
    seen_parent += strcmp(label, "parent") == 0;
    seen_child += strcmp(label, "child") == 0;
  }
  CHECK_EQ_INT(seen_parent, 1);
  CHECK_EQ_INT(seen_child, 1);
  CHECK(!tide_monitor_truncated(m));
  CHECK_NEAR(tide_monitor_interval(m), 0.01, 0);
  tide_monitor_free(m);
  tide_monitor_free(NULL);
}

static void test_full_and_marks(void) {
  tide_Monitor *m = NULL;
  CHECK_EQ_INT(tide_monitor_start(&m, 0.001, 2), TIDE_OK);
  if (!m) return;
  nap(0.05);
  for (int i = 0; i < TIDE_MON_MAXMARKS; i++) tide_monitor_mark(m, "m");
  CHECK_EQ_INT(tide_monitor_mark(m, "one too many"), TIDE_ERANGE);
  tide_monitor_stop(m);
  CHECK_EQ_INT(tide_monitor_count(m), 2);
  CHECK(tide_monitor_truncated(m));
  int dropped;
  CHECK_EQ_INT(tide_monitor_nmarks(m, &dropped), TIDE_MON_MAXMARKS);
  CHECK_EQ_INT(dropped, 1);

  /* a long label is cut on a character boundary */
  tide_monitor_free(m);
  CHECK_EQ_INT(tide_monitor_start(&m, 0.01, 10), TIDE_OK);
  if (!m) return;
  char label[100];
  memset(label, 'a', sizeof label);
  memcpy(label + 46, "\xc3\xa9", 2); /* an e-acute across the 47-byte limit */
  label[99] = '\0';
  tide_monitor_mark(m, label);
  double t;
  const char *got = NULL;
  CHECK_EQ_INT(tide_monitor_getmark(m, 0, &t, &got), TIDE_OK);
  if (got) CHECK_EQ_INT(strlen(got), 46); /* the whole character goes */
  pid_t sampler = tide_monitor_pid(m);
  tide_monitor_free(m); /* frees a running monitor: stops it */
  CHECK(!proc_exists(sampler));
}

/* A child sharing its parent's address space (clone with CLONE_VM, as
** vfork, posix_spawn and LeakSanitizer's tracer make) is not a second copy
** of the parent's memory. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif
static char vm_stack[64 * 1024];
static volatile int vm_stop;

static int vm_child(void *arg) {
  (void)arg;
  while (!vm_stop) usleep(1000);
  return 0;
}

static void test_shared_mm_child(void) {
  size_t n = 40 * MB;
  char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    CHECK(0);
    return;
  }
  memset(p, 1, n);
  tide_MemUsage before, with;
  CHECK_EQ_INT(tide_memory_tree(0, &before), TIDE_OK);
  vm_stop = 0;
  pid_t pid = clone(vm_child, vm_stack + sizeof vm_stack, CLONE_VM | SIGCHLD, NULL);
  CHECK(pid > 0);
  if (pid <= 0) return;
  nap(0.05);
  CHECK_EQ_INT(tide_memory_tree(0, &with), TIDE_OK);
  vm_stop = 1;
  waitpid(pid, NULL, 0);
  CHECK_EQ_INT(with.nproc, 1);
  CHECK(with.pss < before.pss + 10 * MB); /* not twice the 40 MB */
  munmap(p, n);
}

int main(void) {
  test_memory_tree();
  /* valgrind runs no clone() but a thread's or fork's; under TSan the child
  ** runs on the parent's runtime state and crashes in it */
  if (getenv("TIDE_VALGRIND") || UNDER_TSAN)
    printf("under valgrind or ThreadSanitizer: the CLONE_VM child is skipped\n");
  else
    test_shared_mm_child();
  test_monitor();
  test_full_and_marks();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail ? 1 : 0;
}
