/*
** coverage_exit.c -- linked into coverage builds only (TIDE_COVERAGE): the
** workers and the monitor's sampler leave with _exit(), which skips the
** atexit handler where gcov writes its counters, so the code they run
** would count as never run.  This _exit, found before libc's, writes the
** counters first.
**
** Except under a file size limit (a test's child checking how saving fails
** under RLIMIT_FSIZE): gcov rewrites each .gcda in place, a limit stops it
** part way, and the half-written file makes every later merge fail
** ("Merge mismatch"), losing the counts of the whole suite for that file.
** Such a child's own counts are dropped instead.
**
** tide__coverage_stop: what a loop's halt does first to the workers it
** stops (runtime/core/backend.h): SIGTERM, which a worker's task loop
** takes as leave now (runtime/bind/worker.c: this _exit), then a moment
** for them to write their counters, instead of losing them to SIGKILL.
*/
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void __gcov_dump(void);
void tide__coverage_stop(const pid_t *pids, int n);

void _exit(int status) {
  /* a SIGTERM now would write the counters again over these */
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  struct rlimit rl;
  if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) __gcov_dump();
  for (;;) syscall(SYS_exit_group, status);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits at most half a second in all; the processes stay unreaped
** (WNOWAIT), for the caller's own reaping to find them. */
void tide__coverage_stop(const pid_t *pids, int n) {
  for (int i = 0; i < n; i++) kill(pids[i], SIGTERM);
  double end = now() + 0.5;
  for (int i = 0; i < n; i++)
    for (;;) {
      siginfo_t si;
      si.si_pid = 0;
      if (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != 0)
        break; /* gone (or reaped by another thread) */
      if (now() > end) return;
      usleep(2000);
    }
}
