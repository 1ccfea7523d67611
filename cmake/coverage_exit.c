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
*/
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void __gcov_dump(void);

void _exit(int status) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) __gcov_dump();
  for (;;) syscall(SYS_exit_group, status);
}
