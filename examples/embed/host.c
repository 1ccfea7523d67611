/*
** host.c -- a C program that embeds tide: it lends its own buffers to a
** script with no copy, runs the script, and reads the results back, both
** from its own memory (written by the script in place) and from Lua values;
** then it runs a parallel model search from C on data it lends and reads
** the fitted model back.
**
**   embed_host [script.lua]     (default: host.lua)
**
** Build it against an installed tide with
**   cc host.c $(pkg-config --cflags --libs tide) -lm
** or CMake's find_package(tide CONFIG) and the target tide::tide.
**
** Parallel loops fork worker processes, which see the lent buffers as they
** were at the fork.  This host has one thread; a host with threads of its
** own asks for the spawn backend (threaded.c).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "tide.h"

#define ROWS 4
#define COLS 3
#define N 300 /* rows of the regression data */
#define P 3   /* its features */

static int releases;
static void released(void *ud) {
  (void)ud;
  releases++;
}

/* Reads the Lua global `name` (a table of numbers) into out[0..n-1]. */
static int read_table(lua_State *L, const char *name, double *out, int n) {
  int ok = lua_getglobal(L, name) == LUA_TTABLE && lua_rawlen(L, -1) == (lua_Unsigned)n;
  for (int i = 0; ok && i < n; i++) {
    lua_rawgeti(L, -1, i + 1);
    out[i] = lua_tonumber(L, -1);
    ok = lua_isnumber(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return ok;
}

/* Shows a loop's progress (tide_Options.on_progress): on the host's thread,
** at most every 0.1 s and once at the end. */
static int progress_calls;
static void progress(void *ud, const char *label, int64_t done, int64_t total) {
  (void)ud;
  if (done == total) printf("host: %s: %lld of %lld tasks done\n", label, (long long)done,
                            (long long)total);
  progress_calls++;
}

static double X[N * P], y[N];
static const double w_true[P] = {1.5, -2.0, 0.5}, b_true = 4.0;

/* A C function run under tide_pcall (so a Lua error in it comes back as a
** code, never a longjmp out of the host): s = tide.search{model =
** tide.models.ridge{}, grid = {alpha = {...}}, X = X, y = y, cv = 5}, the
** host's X and y lent with no copy. */
static int run_search(lua_State *L) {
  int64_t xs[2] = {N, P}, ys[1] = {N};
  lua_getglobal(L, "tide");
  lua_getfield(L, -1, "search"); /* the function to call */
  lua_createtable(L, 0, 5);      /* its spec */
  lua_getfield(L, -3, "models");
  lua_getfield(L, -1, "ridge");
  lua_newtable(L);
  lua_call(L, 1, 1); /* tide.models.ridge{} */
  lua_setfield(L, -3, "model");
  lua_pop(L, 1); /* tide.models */
  lua_newtable(L); /* grid = {alpha = {1e-4, 1e-2, 1, 100}} */
  lua_createtable(L, 4, 0);
  const double alphas[4] = {1e-4, 1e-2, 1, 100};
  for (int k = 0; k < 4; k++) {
    lua_pushnumber(L, alphas[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "alpha");
  lua_setfield(L, -2, "grid");
  if (tide_push_array(L, X, TIDE_F64, 2, xs, NULL, NULL) != TIDE_OK)
    return luaL_error(L, "lending X: %s", tide_lasterror());
  lua_setfield(L, -2, "X");
  if (tide_push_array(L, y, TIDE_F64, 1, ys, NULL, NULL) != TIDE_OK)
    return luaL_error(L, "lending y: %s", tide_lasterror());
  lua_setfield(L, -2, "y");
  lua_pushinteger(L, 5);
  lua_setfield(L, -2, "cv");
  lua_call(L, 1, 1); /* the workers: tide_Options.jobs */
  return 1;
}

/* Runs the search from C and reads the best model's coefficients and
** intercept back.  Returns 1 when they are the ones y was made with. */
static int search_from_c(tide_State *T) {
  for (int i = 0; i < N; i++) {
    y[i] = b_true + 0.01 * sin(i * 0.7); /* a little noise */
    for (int j = 0; j < P; j++) {
      X[i * P + j] = cos(i * (j + 1) * 0.37) + 0.1 * j;
      y[i] += w_true[j] * X[i * P + j];
    }
  }
  lua_State *L = tide_lua(T);
  lua_pushcfunction(L, run_search);
  if (tide_pcall(T, 0, 1) != TIDE_OK) {
    fprintf(stderr, "host: search failed: %s\n", tide_errmsg(T));
    return 0;
  }
  /* s.best_model.coef (an array) and .intercept (a number): plain tables
  ** and arrays, read with lua_getfield (no metamethod can raise here) */
  lua_getfield(L, -1, "best_model");
  lua_getfield(L, -1, "coef");
  tide_Array *coef = tide_to_array(L, -1);
  lua_getfield(L, -2, "intercept");
  double intercept = lua_tonumber(L, -1);
  int ok = coef && coef->dtype == TIDE_F64 && coef->ndim == 1 && coef->shape[0] == P &&
           fabs(intercept - b_true) < 0.01;
  for (int j = 0; coef && j < coef->shape[0] && j < P; j++) {
    double c = *(double *)(coef->data + j * coef->strides[0]); /* strides in bytes */
    ok = ok && fabs(c - w_true[j]) < 0.01;
    printf("host: coef[%d] = %.4f (made with %.4f)\n", j + 1, c, w_true[j]);
  }
  printf("host: intercept = %.4f (made with %.4f)\n", intercept, b_true);
  lua_pop(L, 4);
  return ok;
}

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "host.lua";
  /* The host's data: a ROWS x COLS matrix (C order) and an output vector. */
  double data[ROWS * COLS], means[COLS] = {0};
  for (int i = 0; i < ROWS * COLS; i++) data[i] = i + 1;
  int64_t shape[2] = {ROWS, COLS}, mshape[1] = {COLS};
  int failed = 0, passed = 0;

  /* A zeroed tide_Options is the default state (standard libraries and
  ** tide); here two workers and the progress of loops sent to this host. */
  tide_Options opt = {0};
  opt.jobs = 2;
  opt.on_progress = progress;
  tide_State *T = tide_open(&opt);
  if (!T) {
    fprintf(stderr, "host: out of memory\n");
    return 1;
  }
  lua_State *L = tide_lua(T);
  /* Lend both buffers: the script sees arrays, no byte is copied.  On
  ** failure nothing is pushed and the buffers stay the host's. */
  if (tide_push_array(L, data, TIDE_F64, 2, shape, released, NULL) != TIDE_OK) {
    fprintf(stderr, "host: %s\n", tide_lasterror());
    tide_close(T);
    return 1;
  }
  lua_setglobal(L, "host_data");
  if (tide_push_array(L, means, TIDE_F64, 1, mshape, released, NULL) != TIDE_OK) {
    fprintf(stderr, "host: %s\n", tide_lasterror());
    tide_close(T);
    return 1;
  }
  lua_setglobal(L, "host_means");

  char *sargv[] = {(char *)script, NULL};
  if (tide_dofile(T, script, 1, sargv) != TIDE_OK) {
    fprintf(stderr, "host: %s\n", tide_errmsg(T));
    tide_close(T);
    return 1;
  }

  /* 1. Column sums, returned as a Lua table (computed before doubling). */
  double sums[COLS];
  int ok = read_table(L, "colsums", sums, COLS);
  for (int j = 0; ok && j < COLS; j++) {
    double want = 0;
    for (int i = 0; i < ROWS; i++) want += (double)(i * COLS + j + 1);
    ok = sums[j] == want;
  }
  printf("host: column sums from the script: %g %g %g (%s)\n", sums[0], sums[1], sums[2],
         ok ? "right" : "WRONG");
  ok ? passed++ : failed++;

  /* 2. Column means written by the script straight into the host's buffer. */
  ok = 1;
  for (int j = 0; j < COLS; j++) ok = ok && fabs(means[j] - sums[j] / ROWS) < 1e-12;
  printf("host: means in the host buffer: %g %g %g (%s)\n", means[0], means[1], means[2],
         ok ? "written in place" : "NOT written");
  ok ? passed++ : failed++;

  /* 3. The script doubled the lent matrix in place. */
  ok = 1;
  for (int i = 0; i < ROWS * COLS; i++) ok = ok && data[i] == 2.0 * (i + 1);
  printf("host: matrix after script: %g %g ... %g (%s)\n", data[0], data[1],
         data[ROWS * COLS - 1], ok ? "doubled in place" : "NOT doubled");
  ok ? passed++ : failed++;

  /* 4. Lua errors come back as codes with a traceback, never a longjmp. */
  ok = tide_dostring(T, "host_data:get(99, 1)") == TIDE_ELUA;
  printf("host: an out-of-range read in Lua gave: %.60s...\n", tide_errmsg(T));
  ok ? passed++ : failed++;

  /* 5. A parallel search run from C on lent data; the model read back. */
  ok = search_from_c(T) && progress_calls > 0;
  printf("host: search from C: %s\n", ok ? "the fitted model is the one the data were made with"
                                         : "WRONG model");
  ok ? passed++ : failed++;

  /* 6. Closing the state releases both lent buffers, exactly once each. */
  tide_close(T);
  ok = releases == 2;
  printf("host: buffers released: %d of 2\n", releases);
  ok ? passed++ : failed++;

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
