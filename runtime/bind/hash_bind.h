/*
** hash_bind.h -- hashing Lua values by content (l_hash.c), for tide.hash
** and the keys of tide.memoize (l_memo.c).
*/
#ifndef TIDE_HASH_BIND_H
#define TIDE_HASH_BIND_H

#include <lua.h>

#include "../core/hash.h"

typedef struct tideH tideH; /* one hash being built */

/* Starts a hash; pushes the 7 values it works with (tideH_end pops
** them: keep the stack above them balanced meanwhile).  root names the
** values in errors ("f → upvalue 'log': cannot hash a userdata (FILE*)"). */
tideH *tideH_begin(lua_State *L, const char *root);
/* Adds n raw bytes (with their length). */
void tideH_bytes(tideH *h, const void *p, size_t n);
/* Adds the value at idx by content (see l_hash.c); argno > 0 puts
** "argument argno" in the path of errors.  Raises on what cannot be
** hashed. */
void tideH_add(tideH *h, int idx, int argno);
/* The XXH3-128 of everything added; pops what tideH_begin pushed. */
void tideH_end(tideH *h, unsigned char out[TIDE_DIGEST_LEN]);

#endif
