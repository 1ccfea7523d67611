/*
** modules.c -- registers the embedded lua/tide modules in
** package.preload, so `require "tide.cv"` works from any folder.
** They are loaded as text only (mode "t"): no binary chunk is ever loaded.
** The API spec (the .md files of docs/api) is embedded beside them for `help`.
**
** A user may patch a module without rebuilding: a file on the override
** path wins over the built-in copy.  That path is TIDE_PATH when it is set
** (an empty TIDE_PATH turns overriding off), else the templates the user
** gave in LUA_PATH_5_4, else LUA_PATH, with their ";;" (the place of the
** default path) dropped: the default path itself never overrides, so an
** old installed copy in the standard directories does not shadow the
** binary's.  package.path is left as stock Lua makes it, and with no
** environment (lua -E, LUA_NOENV in the registry) nothing overrides.
*/
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "modules.h"

/* Pushes the override file for module `name`, or returns 0. */
static int override_file(lua_State *L, const char *name) {
  int noenv = lua_getfield(L, LUA_REGISTRYINDEX, "LUA_NOENV") != LUA_TNIL &&
              lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (noenv) return 0;
  const char *p = getenv("TIDE_PATH");
  if (!p) p = getenv("LUA_PATH_5_4");
  if (!p) p = getenv("LUA_PATH");
  if (!p || !p[0]) return 0;
  if (lua_getglobal(L, "package") != LUA_TTABLE ||
      lua_getfield(L, -1, "searchpath") != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return 0;
  }
  lua_pushstring(L, name);
  luaL_gsub(L, p, ";;", ";");
  lua_call(L, 2, 1);
  lua_remove(L, -2);
  if (lua_isstring(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

static int mod_loader(lua_State *L) {
  const tide__LuaModule *m = lua_touserdata(L, lua_upvalueindex(1));
  if (override_file(L, m->name)) { /* called as the file searcher's loaders are */
    const char *file = lua_tostring(L, -1);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
      return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", m->name, file,
                        lua_tostring(L, -1));
    lua_pushstring(L, m->name);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 1);
    return 1;
  }
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
