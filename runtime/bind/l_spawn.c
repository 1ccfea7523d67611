/*
** l_spawn.c -- the Lua side of the spawn backend's warm sets
** (backend_spawn.c): tide._internal.spawn_set() makes one, which
** tide.pool{backend = "spawn"} keeps and passes as its loops' backend, so
** their workers stay up from one loop to the next.
*/
#include "bind.h"
#include "par.h"

typedef struct SetBox {
  tide_SpawnSet *s; /* NULL once closed */
} SetBox;

tide_SpawnSet *tideP_testspawnset(lua_State *L, int idx) {
  SetBox *box = luaL_testudata(L, idx, SPAWNSET_MT);
  if (!box) return NULL;
  if (!box->s) luaL_error(L, "option 'backend': the pool's spawn workers are closed");
  return box->s;
}

static int l_spawn_set(lua_State *L) {
  SetBox *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->s = NULL;
  luaL_setmetatable(L, SPAWNSET_MT);
  box->s = tide_spawnset_new(1);
  if (!box->s) return luaL_error(L, "not enough memory");
  return 1;
}

/* Kills and reaps the set's idle workers (a loop still running keeps its
** own until it closes). */
static int s_close(lua_State *L) {
  SetBox *box = luaL_checkudata(L, 1, SPAWNSET_MT);
  tide_spawnset_unref(box->s);
  box->s = NULL;
  return 0;
}

static int s_workers(lua_State *L) {
  SetBox *box = luaL_checkudata(L, 1, SPAWNSET_MT);
  lua_pushinteger(L, box->s ? tide_spawnset_workers(box->s) : 0);
  return 1;
}

static int s_tostring(lua_State *L) {
  SetBox *box = luaL_checkudata(L, 1, SPAWNSET_MT);
  lua_pushfstring(L, "spawn workers (%d running%s)", box->s ? tide_spawnset_workers(box->s) : 0,
                  box->s ? "" : ", closed");
  return 1;
}

void tideP_open_spawn(lua_State *L) {
  static const luaL_Reg meta[] = {{"__gc", s_close}, {"__close", s_close},
                                  {"__tostring", s_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"close", s_close}, {"workers", s_workers}, {NULL, NULL}};
  luaL_newmetatable(L, SPAWNSET_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  tideL_pushinternal(L, -1); /* tide's table is at the top */
  lua_pushcfunction(L, l_spawn_set);
  lua_setfield(L, -2, "spawn_set");
  lua_pop(L, 1);
}
