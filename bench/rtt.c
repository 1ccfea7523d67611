/* rtt.c -- the machine's pipe round trip: two processes bounce one byte. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  int a[2], b[2];
  if (pipe(a) || pipe(b)) return 1;
  const int n = 100000;
  char c = 0;
  if (fork() == 0) {
    for (int i = 0; i < n; i++) {
      if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) {
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
  printf("%.2f\n", us);
  return 0;
}
