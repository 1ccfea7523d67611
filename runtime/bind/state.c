/*
** state.c -- the embedding API of tide.h: tide_open ... tide_close.
** Every entry point runs Lua under lua_pcall, so no Lua error longjmps
** into the host.
*/
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "bind.h"

struct tide_State {
  lua_State *L;
  char *err; /* last error with traceback (malloc'd) */
};

static void set_err(tide_State *T, const char *msg) {
  free(T->err);
  T->err = strdup(msg ? msg : "(error object is not a string)");
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int finish(tide_State *T, int status) {
  if (status == LUA_OK) return TIDE_OK;
  set_err(T, lua_tostring(T->L, -1));
  lua_pop(T->L, 1);
  return TIDE_ELUA;
}

static int p_open(lua_State *L) {
  luaL_openlibs(L);
  luaL_requiref(L, "tide", luaopen_tide, 1);
  lua_pop(L, 1);
  return 0;
}

tide_State *tide_open(const tide_Options *opt) {
  tide_State *T = calloc(1, sizeof *T);
  if (!T) return NULL;
  T->L = luaL_newstate();
  if (!T->L) {
    free(T);
    return NULL;
  }
  if (opt) {
    if (opt->share_bytes) tide__config.share_bytes = opt->share_bytes;
    if (opt->jobs > 0) tide__config.jobs = opt->jobs;
    if (opt->temp_dir && strlen(opt->temp_dir) < sizeof tide__config.temp_dir)
      strcpy(tide__config.temp_dir, opt->temp_dir);
  }
  lua_pushcfunction(T->L, p_open);
  if (finish(T, lua_pcall(T->L, 0, 0, 0)) != TIDE_OK) {
    tide_close(T);
    return NULL;
  }
  return T;
}

lua_State *tide_lua(tide_State *T) { return T ? T->L : NULL; }

const char *tide_errmsg(tide_State *T) { return T && T->err ? T->err : ""; }

int tide_dostring(tide_State *T, const char *code) {
  lua_State *L = T->L;
  lua_pushcfunction(L, msghandler);
  int base = lua_gettop(L);
  int st = luaL_loadbufferx(L, code, strlen(code), "=(dostring)", "t");
  if (st == LUA_OK) st = lua_pcall(L, 0, 0, base);
  int rc = finish(T, st);
  lua_settop(L, base - 1);
  return rc;
}

int tide_dofile(tide_State *T, const char *path, int argc, char **argv) {
  lua_State *L = T->L;
  lua_createtable(L, argc > 0 ? argc - 1 : 0, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, msghandler);
  int base = lua_gettop(L);
  int st = luaL_loadfilex(L, path, "t");
  if (st == LUA_OK) {
    for (int i = 1; i < argc; i++) lua_pushstring(L, argv[i]);
    st = lua_pcall(L, argc > 0 ? argc - 1 : 0, 0, base);
  }
  int rc = finish(T, st);
  lua_settop(L, base - 1);
  return rc;
}

typedef struct PushArgs {
  void *data;
  tide_dtype dt;
  int ndim;
  const int64_t *shape;
  void (*release)(void *);
  void *ud;
  int rc;
} PushArgs;

static int p_push(lua_State *L) {
  PushArgs *p = lua_touserdata(L, 1);
  tide_Array *a = tideL_push(L); /* closed until the storage exists */
  int64_t n;
  p->rc = tide_shape_size(p->ndim, p->shape, p->dt >= 0 && p->dt < TIDE_NDTYPES
                          ? tide_dtype_size(p->dt) : 1, &n);
  if (p->rc) return 1;
  if (p->dt < 0 || p->dt >= TIDE_NDTYPES) {
    p->rc = tide__seterr(TIDE_EDTYPE, "unknown dtype %d", (int)p->dt);
    return 1;
  }
  tide_Storage *s;
  p->rc = tide_storage_borrow(p->data, (size_t)n * (size_t)tide_dtype_size(p->dt),
                              p->release, p->ud, &s);
  if (p->rc) return 1;
  p->rc = tide_array_wrap(a, s, 0, p->dt, p->ndim, p->shape, NULL);
  s->release = p->rc ? NULL : s->release; /* on failure the host keeps its buffer */
  tide_storage_unref(s);
  return 1;
}

int tide_push_array(lua_State *L, void *data, tide_dtype dt, int ndim,
                    const int64_t *shape, void (*release)(void *), void *ud) {
  PushArgs p = {data, dt, ndim, shape, release, ud, TIDE_OK};
  if (!lua_checkstack(L, 3)) return tide__seterr(TIDE_ENOMEM, "Lua stack is full");
  lua_pushcfunction(L, p_push);
  lua_pushlightuserdata(L, &p);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return tide__seterr(TIDE_ENOMEM, "out of memory pushing an array");
  }
  if (p.rc) lua_pop(L, 1);
  return p.rc;
}

tide_Array *tide_check_array(lua_State *L, int idx) {
  tide_Array *a = tideL_test(L, idx);
  return a && a->storage ? a : NULL;
}

void tide_close(tide_State *T) {
  if (!T) return;
  if (T->L) lua_close(T->L);
  free(T->err);
  free(T);
}
