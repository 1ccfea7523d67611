/*
** blas.c -- the runtime's control of OpenBLAS threads.
**
** Model fits are blocked passes over memory (4096-row tiles, p of 10 or
** 50): each BLAS call is small, and OpenBLAS's thread wake-ups cost more
** than the work (a 1e6 x 10 Gram took 1.7 s on 2 threads of a busy
** machine, 27 ms on one).  Fits therefore run on one BLAS thread; their
** parallelism comes from tide's workers, each a whole fit.
*/
#include <cblas.h>

#include "core.h"

int tide_blas_serial(void) {
  int n = openblas_get_num_threads();
  if (n != 1) openblas_set_num_threads(1);
  return n;
}

void tide_blas_restore(int threads) {
  if (threads > 1) openblas_set_num_threads(threads);
}
