/*
** test_spawn_host.c -- a C host with threads running runs tide's loops
** through the spawn backend.  Forking such a host is unsafe: a child gets
** only the forking thread, and any lock another thread held at that
** moment (malloc's, the host's own) stays locked in it forever.  So the
** host's threads here churn malloc and hold a lock of their own while the
** script's thread runs loops with backend = "spawn" -- workers are
** `tide --worker` programs (TIDE_WORKER_EXE: this build's tide), started by
** posix_spawn, which copies no thread's state.  Loops, a warm pool over
** many loops, a host buffer lent to tide and read by the workers, a
** worker's death: all give the right results, and every worker is reaped.
*/
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "check.h"
#include "tide.h"

static atomic_int stop;
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long churned;

/* What a busy host thread does: malloc and free, under its own lock. */
static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    pthread_mutex_lock(&host_lock);
    void *p[16];
    for (int i = 0; i < 16; i++) p[i] = malloc((size_t)(64 << (i % 8)));
    for (int i = 0; i < 16; i++) free(p[i]);
    pthread_mutex_unlock(&host_lock);
    atomic_fetch_add(&churned, 1);
  }
  return NULL;
}

/* Live (not yet reaped) children of this process. */
static int children(void) {
  int n = 0;
  char self[32];
  snprintf(self, sizeof self, "%d", (int)getpid());
  DIR *d = opendir("/proc");
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    const char *rp = strrchr(buf, ')');
    int ppid = 0;
    char st = 0;
    if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == (int)getpid()) n++;
  }
  closedir(d);
  return n;
}

static long long eval_int(tide_State *T, const char *code) {
  if (tide_dostring(T, code) != TIDE_OK) {
    fprintf(stderr, "%s\n", tide_errmsg(T));
    return -999;
  }
  lua_State *L = tide_lua(T);
  lua_getglobal(L, "__r");
  int isnum;
  long long v = (long long)lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  return isnum ? v : -999;
}

int main(void) {
  const char *build = getenv("TIDE_BUILD");
  char exe[4096];
  if (!getenv("TIDE_WORKER_EXE")) {
    if (!build) {
      fprintf(stderr, "skipped: neither TIDE_WORKER_EXE nor TIDE_BUILD is set\n");
      return 77;
    }
    snprintf(exe, sizeof exe, "%s/tide", build);
    setenv("TIDE_WORKER_EXE", exe, 1);
  }
  pthread_t th[4];
  for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, churn, NULL) == 0);
  while (atomic_load(&churned) < 100) usleep(1000); /* the threads are busy */

  tide_State *T = tide_open(NULL);
  CHECK(T != NULL);
  if (!T) return check_done();

  /* plain loops */
  for (int round = 0; round < 5; round++) {
    CHECK_EQ_INT(eval_int(T, "local t = tide.collect(function(i) return i * i end, 200,"
                             " {backend = 'spawn', jobs = 3})\n"
                             "local s = 0 for i = 1, 200 do s = s + t[i] end __r = s"),
                 2686700);
  }
  /* a warm pool over many loops, with an upvalue and a global shipped */
  CHECK_EQ_INT(eval_int(T, "base = 7\n"
                           "local p <close> = tide.pool{backend = 'spawn', jobs = 2}\n"
                           "local k, s = 3, 0\n"
                           "for l = 1, 30 do\n"
                           "  local t = p:collect(function(i) return i * k + base + l end, 10)\n"
                           "  s = s + t[10]\n"
                           "end\n"
                           "assert(p:workers() == 2)\n"
                           "__r = s"),
               30 * (30 + 7) + 465);
  /* a host buffer lent to tide, read by the workers (by content: it is
  ** the host's memory, not a shared segment) */
  double *buf = malloc(1000 * sizeof *buf);
  for (int i = 0; i < 1000; i++) buf[i] = i;
  lua_State *L = tide_lua(T);
  int64_t shape[1] = {1000};
  CHECK_EQ_INT(tide_push_array(L, buf, TIDE_F64, 1, shape, NULL, NULL), TIDE_OK);
  lua_setglobal(L, "hostbuf");
  CHECK_EQ_INT(eval_int(T, "local t = tide.collect(function(i) return hostbuf:sum() + i end, 4,"
                           " {backend = 'spawn', jobs = 2})\n"
                           "__r = math.tointeger(t[4])"),
               499500 + 4);
  CHECK_EQ_INT(eval_int(T, "hostbuf = nil collectgarbage() __r = 0"), 0);
  free(buf);
  /* a worker's death is reported and the loop goes on */
  CHECK_EQ_INT(eval_int(T, "local n, e = 0, nil\n"
                           "for i, r, err in tide.map(function(i) if i == 4 then os.exit(9) end"
                           " return i end, 12, {backend = 'spawn', jobs = 2, on_error = 'yield'}) do\n"
                           "  if err then e = err else n = n + 1 end\n"
                           "end\n"
                           "assert(e:find('exited with status 9', 1, true), e)\n"
                           "__r = n"),
               11);
  /* the fork backend still works here when asked, and spawn did not
  ** disturb the host's lock */
  pthread_mutex_lock(&host_lock);
  pthread_mutex_unlock(&host_lock);
  CHECK_EQ_INT(children(), 0);
  tide_close(T);
  atomic_store(&stop, 1);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  CHECK_EQ_INT(children(), 0);
  return check_done();
}
