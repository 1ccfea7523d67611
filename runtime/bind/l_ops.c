/*
** l_ops.c -- Lua bindings for the ops functions (filled in by its owner).
*/
#include "bind.h"

void tideB_open_ops(lua_State *L) {
  static const luaL_Reg funcs[] = {{NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
