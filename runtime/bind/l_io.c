/*
** l_io.c -- Lua bindings for the io functions (filled in by its owner).
*/
#include "bind.h"

void tideB_open_io(lua_State *L) {
  static const luaL_Reg funcs[] = {{NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
