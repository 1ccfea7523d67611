/*
** test_host.c -- what tide.h gives a host beyond running code
** (runtime/bind/state.c): the memory budget (a script past it fails, the
** host goes on), time and instruction limits, tide_interrupt from another
** thread (plain Lua code and a parallel loop), the progress callback of
** loops and searches, the log callback (the lasso convergence warning,
** Lua's warn), and lending buffers of every dtype.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "check.h"
#include "core.h"
#include "tide.h"

/* The value of a global, as an integer (-999 when not one). */
static long long global_int(tide_State *T, const char *name) {
  lua_State *L = tide_lua(T);
  lua_getglobal(L, name);
  int isnum;
  long long v = (long long)lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  return isnum ? v : -999;
}

/* ---- memory budget ------------------------------------------------------ */

static void test_memory_limit(void) {
  tide_Options o = {0};
  o.memory_limit = (size_t)4 << 20; /* 4 MiB: tide itself needs less than 2 */
  tide_State *T = tide_open(&o);
  CHECK(T != NULL);
  if (!T) return;
  size_t used = tide_memory_used(T);
  CHECK(used > 0 && used < o.memory_limit);
  /* a script past the budget: an error, not a crash or an abort */
  CHECK_EQ_INT(tide_dostring(T, "local t = {} for i = 1, 1e8 do t[i] = 'x' .. i end"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "not enough memory");
  CHECK_STR_HAS(tide_errmsg(T), "memory_limit of 4194304 bytes");
  CHECK(tide_memory_used(T) <= o.memory_limit);
  /* the host goes on: the same state runs more code, tide included */
  CHECK_EQ_INT(tide_dostring(T, "collectgarbage() local t = {} for i = 1, 1000 do t[i] = i end "
                                "n = #t"), TIDE_OK);
  CHECK_EQ_INT(global_int(T, "n"), 1000);
  CHECK_EQ_INT(tide_dostring(T, "local X = tide.rand(40, 2, {seed = 1}) "
                                "local m = tide.models.ridge{}:fit(X, X:col(1)) "
                                "k = #m.coef"), TIDE_OK);
  CHECK_EQ_INT(global_int(T, "k"), 2);
  /* a script may catch the error itself, and then goes on */
  CHECK_EQ_INT(tide_dostring(T, "local ok, e = pcall(function() local s = {} "
                                "for i = 1, 1e8 do s[i] = {} end end) "
                                "caught = (not ok and e:find('not enough memory')) and 1 or 0"),
               TIDE_OK);
  CHECK_EQ_INT(global_int(T, "caught"), 1);
  /* an unrelated error afterwards says nothing about memory */
  CHECK_EQ_INT(tide_dostring(T, "error('plain')"), TIDE_ELUA);
  CHECK(strstr(tide_errmsg(T), "memory_limit") == NULL);
  tide_close(T);

  /* too small for the state itself: tide_open says so with NULL */
  o.memory_limit = 2048;
  CHECK(tide_open(&o) == NULL);
}

/* ---- time and instruction limits, interrupts ----------------------------- */

static void test_limits(void) {
  tide_State *T = tide_open(NULL);
  if (!T) return;
  CHECK_EQ_INT(tide_dostring_limited(T, "while true do end", 0.2, 0), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "time limit of 0.2 s exceeded");
  /* a script that catches the error gets it again: the call still ends */
  CHECK_EQ_INT(tide_dostring_limited(T, "while true do pcall(function() while true do end end) end",
                                     0.2, 0), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "time limit");
  CHECK_EQ_INT(tide_dostring_limited(T, "for i = 1, 1e12 do end", 0, 100000), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "instruction limit of 100000 exceeded");
  /* under the limits: runs; and the next unlimited call is not stopped */
  CHECK_EQ_INT(tide_dostring_limited(T, "s = 0 for i = 1, 100 do s = s + i end", 30, 1000000),
               TIDE_OK);
  CHECK_EQ_INT(global_int(T, "s"), 5050);
  CHECK_EQ_INT(tide_dostring(T, "s = 0 for i = 1, 3e6 do s = s + 1 end"), TIDE_OK);
  CHECK_EQ_INT(global_int(T, "s"), 3000000);
  /* a hook the script set is left alone */
  CHECK_EQ_INT(tide_dostring(T, "hits = 0 debug.sethook(function() hits = hits + 1 end, '', 100)"),
               TIDE_OK);
  CHECK_EQ_INT(tide_dostring(T, "for i = 1, 1000 do end debug.sethook() "
                                "seen = hits > 0 and 1 or 0"),
               TIDE_OK);
  CHECK_EQ_INT(global_int(T, "seen"), 1);
  tide_close(T);

  /* limits as options: every call has them, tide_pcall included */
  tide_Options o = {0};
  o.instruction_limit = 50000;
  T = tide_open(&o);
  if (!T) return;
  CHECK_EQ_INT(tide_dostring(T, "x = 1"), TIDE_OK);
  CHECK_EQ_INT(tide_dostring(T, "while true do end"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "instruction limit of 50000");
  lua_State *L = tide_lua(T);
  luaL_loadstring(L, "while true do end");
  CHECK_EQ_INT(tide_pcall(T, 0, 0), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "instruction limit");
  CHECK_EQ_INT(lua_gettop(L), 0);
  tide_close(T);
}

/* Interrupts from another thread: once the script says it started, and
** again every 20 ms (a loop clears older interrupts when it starts) until
** the main thread is back. */
static atomic_int started, finished;

static int l_started(lua_State *L) {
  (void)L;
  atomic_store(&started, 1);
  return 0;
}

static void *interrupter(void *arg) {
  (void)arg;
  while (!atomic_load(&started)) usleep(5000);
  while (!atomic_load(&finished)) {
    tide_interrupt();
    usleep(20000);
  }
  return NULL;
}

static int run_interrupted(tide_State *T, const char *code) {
  atomic_store(&started, 0);
  atomic_store(&finished, 0);
  pthread_t th;
  if (pthread_create(&th, NULL, interrupter, NULL) != 0) return -1;
  /* the time limit only keeps a broken build from hanging the suite */
  int rc = tide_dostring_limited(T, code, 120, 0);
  atomic_store(&finished, 1);
  pthread_join(th, NULL);
  return rc;
}

static void test_interrupt(void) {
  tide_Options o = {0};
  o.interrupt_lua = 1; /* pure Lua code too, not only loops */
  tide_State *T = tide_open(&o);
  if (!T) return;
  lua_State *L = tide_lua(T);
  lua_pushcfunction(L, l_started);
  lua_setglobal(L, "started");
  CHECK_EQ_INT(run_interrupted(T, "started() while true do end"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "interrupted!");
  /* the script runs with the interrupt hook, its forked workers without */
  CHECK_EQ_INT(tide_dostring(T, "here = debug.gethook() ~= nil "
                                "there = tide.collect(function() return debug.gethook() ~= nil end, "
                                "2, {jobs = 2})[2]"), TIDE_OK);
  lua_getglobal(L, "here");
  lua_getglobal(L, "there");
  CHECK(lua_toboolean(L, -2) && !lua_toboolean(L, -1));
  lua_pop(L, 2);
  /* a parallel loop whose tasks never end: workers killed, loop raises */
  CHECK_EQ_INT(run_interrupted(T, "started() tide.collect(function(i) while true do end end, 4, "
                                  "{jobs = 2})"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "interrupted!");
  /* an interrupt sent while nothing ran does not stop the next call */
  tide_interrupt();
  CHECK_EQ_INT(tide_dostring(T, "s = 0 for i = 1, 1e5 do s = s + 1 end"), TIDE_OK);
  CHECK_EQ_INT(tide_dostring(T, "r = tide.collect(function(i) return i end, 6, {jobs = 2})[6]"),
               TIDE_OK);
  CHECK_EQ_INT(global_int(T, "r"), 6);
  tide_close(T);
  /* by default Lua code runs hook-free (full speed): an interrupt still
  ** stops a loop, and the next call runs */
  T = tide_open(NULL);
  if (!T) return;
  L = tide_lua(T);
  lua_pushcfunction(L, l_started);
  lua_setglobal(L, "started");
  CHECK_EQ_INT(tide_dostring(T, "hooked = debug.gethook() ~= nil"), TIDE_OK);
  lua_getglobal(L, "hooked");
  CHECK(!lua_toboolean(L, -1));
  lua_pop(L, 1);
  CHECK_EQ_INT(run_interrupted(T, "started() tide.collect(function(i) while true do end end, 4, "
                                  "{jobs = 2})"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "interrupted!");
  CHECK_EQ_INT(tide_dostring(T, "r = tide.collect(function(i) return i end, 6, {jobs = 2})[6]"),
               TIDE_OK);
  CHECK_EQ_INT(global_int(T, "r"), 6);
  tide_close(T);
}

/* ---- progress ------------------------------------------------------------ */

typedef struct Progress {
  int calls, backwards;
  int64_t last, total;
  char label[64];
  int labels; /* how many distinct labels came (changes counted) */
} Progress;

static void on_progress(void *ud, const char *label, int64_t done, int64_t total) {
  Progress *p = ud;
  if (strcmp(p->label, label) != 0) {
    snprintf(p->label, sizeof p->label, "%s", label);
    p->labels++;
    p->last = 0;
  }
  if (done < p->last) p->backwards++;
  p->calls++;
  p->last = done;
  p->total = total;
}

static void test_progress(void) {
  Progress p;
  memset(&p, 0, sizeof p);
  tide_Options o = {0};
  o.on_progress = on_progress;
  o.ud = &p;
  tide_State *T = tide_open(&o);
  if (!T) return;
  CHECK_EQ_INT(tide_dostring(T, "r = tide.collect(function(i) return i end, 40, {jobs = 2})"),
               TIDE_OK);
  CHECK(p.calls >= 1);
  CHECK_EQ_INT(p.last, 40); /* the final call says all done */
  CHECK_EQ_INT(p.total, 40);
  CHECK_EQ_INT(p.backwards, 0);
  CHECK_STR_HAS(p.label, "tide.collect");
  /* a serial loop reports too, map included */
  memset(&p, 0, sizeof p);
  CHECK_EQ_INT(tide_dostring(T, "for _ in tide.map(function(i) return i end, 7, {jobs = 1}) "
                                "do end"),
               TIDE_OK);
  CHECK_EQ_INT(p.last, 7);
  CHECK_STR_HAS(p.label, "tide.map");
  /* progress = false: the script asked for none */
  memset(&p, 0, sizeof p);
  CHECK_EQ_INT(tide_dostring(T, "tide.collect(function(i) return i end, 5, {progress = false})"),
               TIDE_OK);
  CHECK_EQ_INT(p.calls, 0);
  /* a search reports under its own name, ending with every task done */
  memset(&p, 0, sizeof p);
  CHECK_EQ_INT(tide_dostring(T, "local X = tide.rand(60, 3, {seed = 3}) "
                                "local y = X:col(1) * 2 "
                                "local s = tide.search{model = tide.models.knn_regressor{}, "
                                "grid = {k = {1, 3, 5}}, X = X, y = y, cv = 3, jobs = 2} "
                                "best = s.best_params.k"), TIDE_OK);
  CHECK(p.calls >= 1);
  CHECK_STR_HAS(p.label, "tide.search");
  /* its loops' tasks, which the plan may group (one per fold for k-NN) */
  CHECK(p.total >= 1 && p.total <= 9);
  CHECK_EQ_INT(p.last, p.total);
  tide_close(T);
}

/* ---- log ------------------------------------------------------------------ */

typedef struct Log {
  int n, level;
  char text[2048];
} Log;

static void on_log(void *ud, int level, const char *msg) {
  Log *g = ud;
  g->n++;
  g->level = level;
  size_t have = strlen(g->text);
  snprintf(g->text + have, sizeof g->text - have, "%s|", msg);
}

static void test_log(void) {
  Log g;
  memset(&g, 0, sizeof g);
  tide_Options o = {0};
  o.on_log = on_log;
  o.ud = &g;
  tide_State *T = tide_open(&o);
  if (!T) return;
  /* the lasso convergence line comes to the host, not to stderr */
  CHECK_EQ_INT(tide_dostring(T, "local X = tide.rand(30, 6, {seed = 1}) "
                                "local y = tide.rand(30, {seed = 2}) "
                                "tide.models.lasso{alpha = 1e-4, max_iter = 1}:fit(X, y)"),
               TIDE_OK);
  CHECK_EQ_INT(g.n, 1);
  CHECK_EQ_INT(g.level, TIDE_LOG_WARN);
  CHECK_STR_HAS(g.text, "tide: lasso did not converge after 1 iterations");
  CHECK(strstr(g.text, "\n") == NULL); /* the text alone */
  /* Lua's warn(), once on, goes there too, pieces joined */
  memset(&g, 0, sizeof g);
  CHECK_EQ_INT(tide_dostring(T, "warn('not yet') warn('@on') warn('hello ', 'host')"), TIDE_OK);
  CHECK_EQ_INT(g.n, 1);
  CHECK_STR_HAS(g.text, "hello host|");
  tide_close(T);
}

/* ---- every dtype lent ------------------------------------------------------ */

static int released;
static void count_release(void *ud) {
  (void)ud;
  released++;
}

static void test_dtypes(void) {
  tide_State *T = tide_open(NULL);
  if (!T) return;
  lua_State *L = tide_lua(T);
  released = 0;
  for (int dt = 0; dt < TIDE_NDTYPES; dt++) {
    int size = tide_dtype_size(dt);
    unsigned char buf[6 * 16];
    memset(buf, 0, sizeof buf);
    int64_t shape[2] = {2, 3};
    CHECK_EQ_INT(tide_push_array(L, buf, (tide_dtype)dt, 2, shape, count_release, NULL), TIDE_OK);
    tide_Array *a = tide_to_array(L, -1);
    CHECK(a != NULL && a->dtype == dt && a->strides[1] == size && a->data == buf);
    lua_setglobal(L, "h");
    char code[256];
    snprintf(code, sizeof code,
             "assert(h.dtype == '%s' and h.size == 6 and h.storage == 'borrowed') "
             "h[2][3] = h.dtype == 'bool' and true or 1",
             tide_dtypes[dt].name);
    CHECK_EQ_INT(tide_dostring(T, code), TIDE_OK);
    /* the write landed in the host's bytes, element (2, 3) = index 5 */
    int nonzero = 0;
    for (int b = 0; b < size; b++) nonzero |= buf[5 * size + b];
    CHECK(nonzero);
    for (int b = 0; b < 5 * size; b++) nonzero = nonzero && buf[b] == 0;
    CHECK(nonzero);
    CHECK_EQ_INT(tide_dostring(T, "h = nil collectgarbage() collectgarbage()"), TIDE_OK);
    CHECK_EQ_INT(released, dt + 1); /* released before buf goes out of scope */
  }
  tide_close(T);
}

int main(void) {
  test_memory_limit();
  test_limits();
  test_interrupt();
  test_progress();
  test_log();
  test_dtypes();
  return check_done();
}
