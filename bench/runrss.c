/* runrss.c -- runs a command N times; prints the median wall time (s) and
** the peak RSS (kB) of the command itself (wait4's rusage, measured from a
** small parent so the pre-exec copy does not count). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int n = atoi(argv[1]);
  double w[1000];
  long rss = 0;
  if (n < 1 || n > 1000) return 2;
  for (int i = 0; i < n; i++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
      execvp(argv[2], argv + 2);
      _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w[i] = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (ru.ru_maxrss > rss) rss = ru.ru_maxrss;
  }
  qsort(w, (size_t)n, sizeof w[0], cmp);
  printf("%.6f %ld\n", w[n / 2], rss);
  return 0;
}
