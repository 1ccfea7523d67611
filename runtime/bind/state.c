/*
** state.c -- the embedding API of tide.h: tide_open ... tide_close.
** Every entry point runs Lua under lua_pcall (even the setup that only
** allocates), so no Lua error -- memory errors included -- longjmps into
** the host.
*/
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "bind.h"

struct tide_State {
  lua_State *L;
  char *err; /* last error with traceback (malloc'd), NULL when none */
};

static void set_err(tide_State *T, const char *msg) {
  free(T->err);
  T->err = tide__strdup(msg ? msg : "(error object is not a string)");
}

/* Converts the value at index 1 with __tostring; run protected, because a
** __tostring that raises must not turn one error into a second one. */
static int p_tostring(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* The message handler, as lua.c's: a string error becomes "message +
** traceback"; an error object with __tostring becomes that string alone
** (an object that describes itself chose its message); nil, tables and
** userdata without one get a description of their type and a traceback. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushcfunction(L, p_tostring);
      lua_pushvalue(L, 1);
      if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
        return 1;
      else
        msg = lua_pushfstring(L, "(error object is a %s value whose __tostring failed)",
                              luaL_typename(L, 1));
    } else {
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Records the error on top of the stack (if status is not OK) and pops it. */
static int finish(tide_State *T, int status) {
  if (status == LUA_OK) return TIDE_OK;
  set_err(T, lua_tostring(T->L, -1));
  lua_pop(T->L, 1);
  return TIDE_ELUA;
}

/* ---- opening ------------------------------------------------------------ */

static int p_open(lua_State *L) {
  int libs = lua_toboolean(L, 1);
  if (libs) luaL_openlibs(L);
  luaL_requiref(L, "tide", luaopen_tide, 1);
  lua_pop(L, 1);
  return 0;
}

tide_State *tide_open(const tide_Options *opt) {
  tide_State *T = tide__calloc(1, sizeof *T);
  if (!T) return NULL;
  T->L = luaL_newstate();
  if (!T->L) {
    free(T);
    return NULL;
  }
  if (opt) { /* process-wide settings: the core has one configuration */
    if (opt->share_bytes) tide__config.share_bytes = opt->share_bytes;
    if (opt->jobs > 0) tide__config.jobs = opt->jobs;
    if (opt->temp_dir && strlen(opt->temp_dir) < sizeof tide__config.temp_dir)
      strcpy(tide__config.temp_dir, opt->temp_dir);
  }
  lua_pushcfunction(T->L, p_open);
  lua_pushboolean(T->L, opt == NULL || opt->open_libs);
  if (finish(T, lua_pcall(T->L, 1, 0, 0)) != TIDE_OK) {
    tide_close(T);
    return NULL;
  }
  return T;
}

lua_State *tide_lua(tide_State *T) { return T ? T->L : NULL; }

const char *tide_errmsg(tide_State *T) { return T && T->err ? T->err : ""; }

/* ---- running code ------------------------------------------------------- */

int tide_pcall(tide_State *T, int nargs, int nresults) {
  if (!T || nargs < 0 || lua_gettop(T->L) < nargs + 1) {
    if (T) set_err(T, "tide_pcall: no function to call");
    return tide__seterr(TIDE_EINVAL, "tide_pcall: no function to call");
  }
  lua_State *L = T->L;
  if (!lua_checkstack(L, 2)) {
    set_err(T, "Lua stack overflow");
    return tide__seterr(TIDE_ENOMEM, "Lua stack overflow");
  }
  int base = lua_gettop(L) - nargs; /* the function's slot */
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int st = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return finish(T, st);
}

/* What p_run should do: a string chunk or a file (path, NULL for stdin). */
typedef struct RunArgs {
  const char *code;
  const char *path;
  int isfile;
  int argc;
  char **argv;
} RunArgs;

/* Runs under an outer lua_pcall, so that allocation failures while setting
** up (arg table, chunk name) are caught too; the chunk itself runs under
** an inner pcall with the message handler, which gives the traceback. */
static int p_run(lua_State *L) {
  RunArgs *r = lua_touserdata(L, 1);
  lua_settop(L, 0);
  int nargs = 0;
  if (r->isfile) {
    int argc = r->argc > 0 && r->argv ? r->argc : 0;
    luaL_checkstack(L, argc + 4, "too many script arguments");
    lua_createtable(L, argc > 0 ? argc - 1 : 0, 1);
    for (int i = 0; i < argc; i++) {
      lua_pushstring(L, r->argv[i]);
      lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    nargs = argc > 0 ? argc - 1 : 0;
  }
  lua_pushcfunction(L, msghandler);
  int st = r->isfile ? luaL_loadfilex(L, r->path, "t")
                     : luaL_loadbufferx(L, r->code, strlen(r->code), "=(dostring)", "t");
  if (st == LUA_OK) {
    for (int i = 1; i <= nargs; i++) lua_pushstring(L, r->argv[i]);
    st = lua_pcall(L, nargs, 0, 1);
  }
  if (st == LUA_OK) return 0;
  return lua_error(L); /* rethrow the message (with traceback) to the outer pcall */
}

static int run(tide_State *T, RunArgs *r) {
  lua_State *L = T->L;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 2)) {
    set_err(T, "Lua stack overflow");
    return TIDE_ELUA;
  }
  lua_pushcfunction(L, p_run);
  lua_pushlightuserdata(L, r);
  int rc = finish(T, lua_pcall(L, 1, 0, 0));
  lua_settop(L, top);
  return rc;
}

int tide_dostring(tide_State *T, const char *code) {
  if (!T || !code) return tide__seterr(TIDE_EINVAL, "tide_dostring: NULL state or code");
  RunArgs r = {code, NULL, 0, 0, NULL};
  return run(T, &r);
}

int tide_dofile(tide_State *T, const char *path, int argc, char **argv) {
  if (!T) return tide__seterr(TIDE_EINVAL, "tide_dofile: NULL state");
  RunArgs r = {NULL, path, 1, argc, argv};
  return run(T, &r);
}

/* ---- lending host buffers ----------------------------------------------- */

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
  lua_settop(L, 0);
  /* A host may lend a buffer to a stock Lua state before require "tide":
  ** the array metatable must exist, or the userdata would get none and
  ** release would never run. */
  if (luaL_getmetatable(L, TIDE_ARRAY_MT) != LUA_TTABLE) {
    luaL_requiref(L, "tide", luaopen_tide, 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  int64_t n;
  p->rc = tide_shape_size(p->ndim, p->shape, tide_dtype_size(p->dt), &n);
  if (p->rc) return 0;
  if (p->data == NULL && n > 0) {
    p->rc = tide__seterr(TIDE_EINVAL, "tide_push_array: NULL data for %lld elements",
                         (long long)n);
    return 0;
  }
  tide_Array *a = tideL_push(L); /* closed until the storage exists */
  tide_Storage *s;
  p->rc = tide_storage_borrow(p->data, (size_t)n * (size_t)tide_dtype_size(p->dt),
                              p->release, p->ud, &s);
  if (p->rc) return 0;
  p->rc = tide_array_wrap(a, s, 0, p->dt, p->ndim, p->shape, NULL);
  if (p->rc) s->release = NULL; /* on failure the host keeps its buffer */
  tide_storage_unref(s);        /* the array holds its own reference */
  return p->rc ? 0 : 1;
}

int tide_push_array(lua_State *L, void *data, tide_dtype dt, int ndim,
                    const int64_t *shape, void (*release)(void *), void *ud) {
  if (!L) return tide__seterr(TIDE_EINVAL, "tide_push_array: NULL lua_State");
  if ((int)dt < 0 || dt >= TIDE_NDTYPES)
    return tide__seterr(TIDE_EDTYPE, "tide_push_array: unknown dtype %d", (int)dt);
  if (ndim < 0 || ndim > TIDE_MAXDIM)
    return tide__seterr(TIDE_EINVAL, "tide_push_array: %d dimensions (0 to %d allowed)",
                        ndim, TIDE_MAXDIM);
  if (ndim > 0 && !shape)
    return tide__seterr(TIDE_EINVAL, "tide_push_array: NULL shape for %d dimensions", ndim);
  PushArgs p = {data, dt, ndim, shape, release, ud, TIDE_OK};
  if (!lua_checkstack(L, 3)) return tide__seterr(TIDE_ENOMEM, "Lua stack is full");
  int top = lua_gettop(L);
  lua_pushcfunction(L, p_push);
  lua_pushlightuserdata(L, &p);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_settop(L, top);
    /* Nothing was lent: a failure before the storage took the buffer. */
    return tide__seterr(TIDE_ENOMEM, "out of memory pushing an array");
  }
  if (p.rc) lua_settop(L, top);
  return p.rc;
}

tide_Array *tide_check_array(lua_State *L, int idx) {
  if (!L) return NULL;
  tide_Array *a = tideL_test(L, idx);
  return a && a->storage ? a : NULL;
}

void tide_close(tide_State *T) {
  if (!T) return;
  if (T->L) lua_close(T->L); /* runs __gc: lent buffers are released here */
  free(T->err);
  free(T);
}
