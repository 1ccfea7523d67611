/*
** modules.h -- the Lua-side modules (lua/tide/NAME.lua) embedded at build time.
*/
#ifndef TIDE_MODULES_H
#define TIDE_MODULES_H

#include <stddef.h>

typedef struct tide__LuaModule {
  const char *name;           /* "tide.cv" */
  const unsigned char *src;   /* Lua source text */
  size_t len;
} tide__LuaModule;

extern const tide__LuaModule tide__lua_modules[]; /* ends with a NULL name */
extern const tide__LuaModule tide__api_docs[];    /* the API spec: "arrays.md", ... */

#endif
