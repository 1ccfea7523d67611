/*
** host.c -- a C program that embeds tide: it lends its own buffers to a
** script with no copy, runs the script, and reads the results back, both
** from its own memory (written by the script in place) and from Lua values.
**
**   embed_host [script.lua]     (default: host.lua)
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>

#include "tide.h"

#define ROWS 4
#define COLS 3

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

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "host.lua";
  /* The host's data: a ROWS x COLS matrix (C order) and an output vector. */
  double data[ROWS * COLS], means[COLS] = {0};
  for (int i = 0; i < ROWS * COLS; i++) data[i] = i + 1;
  int64_t shape[2] = {ROWS, COLS}, mshape[1] = {COLS};
  int failed = 0, passed = 0;

  tide_State *T = tide_open(NULL);
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

  /* 5. Closing the state releases both lent buffers, exactly once each. */
  tide_close(T);
  ok = releases == 2;
  printf("host: buffers released: %d of 2\n", releases);
  ok ? passed++ : failed++;

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
