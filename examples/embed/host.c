/*
** host.c -- a C program that embeds tide: it lends its own buffer to a
** script with no copy, runs the script, and reads the result back.
*/
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>

#include "tide.h"

static void released(void *ud) { *(int *)ud = 1; }

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "host.lua";
  double data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {3, 2};
  int was_released = 0;

  tide_State *T = tide_open(NULL);
  if (!T) return 1;
  lua_State *L = tide_lua(T);
  if (tide_push_array(L, data, TIDE_F64, 2, shape, released, &was_released) != TIDE_OK) {
    fprintf(stderr, "host: %s\n", tide_lasterror());
    return 1;
  }
  lua_setglobal(L, "host_data");
  if (tide_dofile(T, script, 0, NULL) != TIDE_OK) {
    fprintf(stderr, "host: %s\n", tide_errmsg(T));
    tide_close(T);
    return 1;
  }
  /* The script doubled the lent buffer in place: no copy was made. */
  int ok = data[0] == 2 && data[5] == 12;
  printf("host: buffer after script: %g %g ... %g (%s)\n", data[0], data[1], data[5],
         ok ? "written in place" : "NOT written");
  tide_close(T);
  ok = ok && was_released;
  printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
  return ok ? 0 : 1;
}
