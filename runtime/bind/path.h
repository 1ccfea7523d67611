/*
** path.h -- the path to a value inside another, for messages that name it
** ("result 1 → field model → [2]: cannot send a thread"): the codec and
** the content hasher walk values the same way and say where they stopped.
*/
#ifndef TIDE_PATH_H
#define TIDE_PATH_H

#include <lauxlib.h>
#include <lua.h>

typedef struct tideP_Step {
  char kind;     /* 'f' field, 'i' [int], 'n' [float], 'b' [bool], 'k' key,
                    'o' [a table key], 'u' upvalue, 'g' global, 'm' metatable,
                    'a' argument, 'h' encode hook of a class */
  const char *s; /* field, upvalue, global or class name */
  size_t len;
  lua_Integer i;
  lua_Number f;
} tideP_Step;

/* The step for a table key at stack index k. */
tideP_Step tideP_key_step(lua_State *L, int k);
/* Appends the step's text ("field x", "[3]", "upvalue 'log'", ...). */
void tideP_add_step(luaL_Buffer *lb, const tideP_Step *s);

#endif
