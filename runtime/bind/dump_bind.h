/*
** dump_bind.h -- what l_dump.c shares with the memoize bindings
** (l_memo.c): a value encoded for a dump, and a dump decoded.
*/
#ifndef TIDE_DUMP_BIND_H
#define TIDE_DUMP_BIND_H

#include <lua.h>

#include "../core/dump.h"

typedef struct tideD_Encoded {
  const unsigned char *p; /* the value stream */
  size_t n;
  uint32_t narrays;
  const tide_Array *const *arrays;
} tideD_Encoded;

/* Encodes the value at idx for a dump (root names it in errors such as
** "value → field f: cannot dump a function").  Pushes 3 values that own
** what out points to; pop them when done.  Returns 3. */
int tideD_encode(lua_State *L, int idx, const char *root, tideD_Encoded *out);

/* Decodes the open dump d and pushes its value; arrays are read (mode 0)
** or mapped ('r', 'c'; checked when verify).  d stays the caller's. */
void tideD_decode(lua_State *L, tide_Dump *d, char mode, int verify, const char *name);

/* The mmap field of the options table at opts: 0 (absent), 'r' or 'c';
** anything else raises a bad-argument error for argument arg. */
char tideD_checkmmap(lua_State *L, int opts, int arg);

#endif
