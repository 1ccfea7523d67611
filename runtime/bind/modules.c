/*
** modules.c -- registers the embedded lua/tide modules in
** package.preload, so `require "tide.cv"` works from any folder.
** They are loaded as text only (mode "t"): no binary chunk is ever loaded.
** The API spec (the .md files of docs/api) is embedded beside them for `help`.
*/
#include <string.h>

#include "bind.h"
#include "modules.h"

static int mod_loader(lua_State *L) {
  const tide__LuaModule *m = lua_touserdata(L, lua_upvalueindex(1));
  char chunk[128];
  snprintf(chunk, sizeof chunk, "=[tide] %s", m->name);
  if (luaL_loadbufferx(L, (const char *)m->src, m->len, chunk, "t") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

/* tide._internal.api_docs() -> {["arrays.md"] = text, ...}: the API spec
** built into the binary (lua/tide/apidoc.lua parses it for `help`). */
static int l_api_docs(lua_State *L) {
  lua_newtable(L);
  for (const tide__LuaModule *m = tide__api_docs; m->name; m++) {
    lua_pushlstring(L, (const char *)m->src, m->len);
    lua_setfield(L, -2, m->name);
  }
  return 1;
}

void tideB_open_lua(lua_State *L) {
  /* stack: tide */
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_api_docs);
  lua_setfield(L, -2, "api_docs");
  lua_pop(L, 1);
  if (lua_getglobal(L, "package") != LUA_TTABLE) { /* no package library */
    lua_pop(L, 1);
    return;
  }
  lua_getfield(L, -1, "preload");                  /* stack: tide package preload */
  if (lua_istable(L, -1)) {
    for (const tide__LuaModule *m = tide__lua_modules; m->name; m++) {
      lua_pushlightuserdata(L, (void *)m);
      lua_pushcclosure(L, mod_loader, 1);
      lua_setfield(L, -2, m->name);
    }
  }
  lua_pop(L, 2);
}
