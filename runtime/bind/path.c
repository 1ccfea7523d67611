/*
** path.c -- steps of a path to a value, for messages (path.h).
*/
#include <stdio.h>

#include "path.h"

tideP_Step tideP_key_step(lua_State *L, int k) {
  tideP_Step s = {'o', NULL, 0, 0, 0};
  switch (lua_type(L, k)) {
    case LUA_TSTRING: s.kind = 'f'; s.s = lua_tolstring(L, k, &s.len); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, k)) { s.kind = 'i'; s.i = lua_tointeger(L, k); }
      else { s.kind = 'n'; s.f = lua_tonumber(L, k); }
      break;
    case LUA_TBOOLEAN: s.kind = 'b'; s.i = lua_toboolean(L, k); break;
    default: break;
  }
  return s;
}

/* Names longer than 40 bytes are cut, with "..." after. */
static void add_name(luaL_Buffer *lb, const tideP_Step *s) {
  luaL_addlstring(lb, s->s, s->len > 40 ? 40 : s->len);
  if (s->len > 40) luaL_addstring(lb, "...");
}

void tideP_add_step(luaL_Buffer *lb, const tideP_Step *s) {
  char tmp[64];
  switch (s->kind) {
    case 'f': luaL_addstring(lb, "field "); add_name(lb, s); break;
    case 'u': case 'g':
      luaL_addstring(lb, s->kind == 'u' ? "upvalue '" : "global '");
      luaL_addlstring(lb, s->s, s->len > 40 ? 40 : s->len);
      luaL_addstring(lb, "'");
      break;
    case 'i': snprintf(tmp, sizeof tmp, "[%lld]", (long long)s->i); luaL_addstring(lb, tmp); break;
    case 'a': snprintf(tmp, sizeof tmp, "argument %lld", (long long)s->i); luaL_addstring(lb, tmp); break;
    case 'n': snprintf(tmp, sizeof tmp, "[%.14g]", (double)s->f); luaL_addstring(lb, tmp); break;
    case 'b': luaL_addstring(lb, s->i ? "[true]" : "[false]"); break;
    case 'k': luaL_addstring(lb, "key"); break;
    case 'm': luaL_addstring(lb, "metatable"); break;
    case 'h': luaL_addstring(lb, "encode hook of "); luaL_addlstring(lb, s->s, s->len); break;
    default: luaL_addstring(lb, "[a table key]"); break;
  }
}
