/*
** main.c -- the tide program: runs a script with `arg` as stock lua does.
** A client of tide.h only.
*/
#include <stdio.h>
#include <stdlib.h>

#include "tide.h"

int main(int argc, char **argv) {
  tide_State *T = tide_open(NULL);
  if (!T) {
    fprintf(stderr, "tide: cannot create a Lua state (out of memory)\n");
    return 1;
  }
  int rc = 0;
  if (argc > 1) {
    if (tide_dofile(T, argv[1], argc - 1, argv + 1) != TIDE_OK) {
      fprintf(stderr, "tide: %s\n", tide_errmsg(T));
      rc = 1;
    }
  }
  tide_close(T);
  return rc;
}
