/*
** threaded.c -- a C host with threads of its own that runs tide's parallel
** loops.  Forking such a process is unsafe: the child gets only the forking
** thread, and a lock another thread held at that moment (malloc's, the
** host's own) stays locked in the child forever.  So this host asks for
** the spawn backend: its workers are fresh `tide --worker` programs started
** by posix_spawn, which copies no thread, and the loop's function travels to
** them as bytecode with its upvalues (DESIGN §3).  Arrays in tide's shared
** memory reach the workers as descriptors, with no copy; a buffer the host
** lends travels by content, since it is the host's memory.
**
**   embed_threaded [path of the tide program]
**
** The tide program is found as TIDE_WORKER_EXE, the argument, or the
** installed one (tide_set_worker_exe).  Build it as host.c:
**   cc threaded.c $(pkg-config --cflags --libs tide) -lpthread
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "tide.h"

#define N 4000 /* rows of the host's data */

static atomic_int stop;
static atomic_long rounds;
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;

/* The host's own work: allocations under a lock of its own, all the time. */
static void *host_thread(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    pthread_mutex_lock(&host_lock);
    free(malloc(1 << 12));
    pthread_mutex_unlock(&host_lock);
    atomic_fetch_add(&rounds, 1);
  }
  return NULL;
}

static const char *script =
    "local pool <close> = tide.pool{backend = 'spawn', jobs = 2}\n"
    /* the lent vector, read by warm workers (kept for the next loops) */
    "local sums = pool:collect(function(b) return x:slice(1, (b - 1) * 1000 + 1, b * 1000):sum() end, 4)\n"
    "total = sums[1] + sums[2] + sums[3] + sums[4]\n"
    /* a search, every fit in a spawned worker */
    "local X = tide.rand(#x, 3, {seed = 1})\n"
    "local y = X:matmul(tide.array{1, -2, 3}) + x * 0.01\n"
    "local s = tide.search{model = tide.models.ridge{}, grid = {alpha = {0.01, 1, 100}},\n"
    "                      X = X, y = y, cv = 4, jobs = 2, backend = 'spawn'}\n"
    "best_alpha, best_score = s.best_params.alpha, s.best_score\n";

int main(int argc, char **argv) {
  if (argc > 1) tide_set_worker_exe(argv[1]);
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, host_thread, NULL);

  static double x[N];
  for (int i = 0; i < N; i++) x[i] = i % 10;

  int status = 1;
  tide_State *T = tide_open(NULL);
  if (!T) {
    fprintf(stderr, "cannot open tide\n");
    goto done;
  }
  lua_State *L = tide_lua(T);
  int64_t shape[1] = {N};
  if (tide_push_array(L, x, TIDE_F64, 1, shape, NULL, NULL) != TIDE_OK) goto fail;
  lua_setglobal(L, "x");
  if (tide_dostring(T, script) != TIDE_OK) goto fail;
  lua_getglobal(L, "total");
  lua_getglobal(L, "best_alpha");
  lua_getglobal(L, "best_score");
  double total = lua_tonumber(L, -3), alpha = lua_tonumber(L, -2), score = lua_tonumber(L, -1);
  printf("sum over 4 spawned tasks: %g (expected %g)\n", total, (double)N / 10 * 45);
  printf("search through spawned workers: best alpha %g, R^2 %.4f\n", alpha, score);
  printf("the host's threads ran %ld rounds meanwhile\n", atomic_load(&rounds));
  status = total == (double)N / 10 * 45 && alpha == 0.01 && score > 0.99 ? 0 : 1;
  goto done;
fail:
  fprintf(stderr, "%s\n", tide_errmsg(T));
done:
  if (T) tide_close(T);
  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  return status;
}
