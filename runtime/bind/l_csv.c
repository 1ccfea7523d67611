/*
** l_csv.c -- Lua bindings for the csv functions (filled in by its owner).
*/
#include "bind.h"

void tideB_open_csv(lua_State *L) {
  static const luaL_Reg funcs[] = {{NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
