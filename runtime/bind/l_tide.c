/*
** l_tide.c -- luaopen_tide: builds the module table from every binding
** file's opener, plus tide.config (a live view of the core's settings).
*/
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "pool.h"

/* tide.config: reads and writes go straight to tide__config, checked. */
static int cfg_index(lua_State *L) {
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "share_bytes") == 0) lua_pushinteger(L, (lua_Integer)tide__config.share_bytes);
  else if (strcmp(k, "temp_dir") == 0) {
    if (tide__config.temp_dir[0]) lua_pushstring(L, tide__config.temp_dir);
    else lua_pushnil(L);
  } else if (strcmp(k, "jobs") == 0)
    lua_pushinteger(L, tide__config.jobs > 0 ? tide__config.jobs : tide_ncpus());
  else if (strcmp(k, "blas_threads_per_worker") == 0) {
    int j = tide__config.jobs > 0 ? tide__config.jobs : tide_ncpus();
    int b = tide__config.blas_threads_per_worker;
    lua_pushinteger(L, b > 0 ? b : (tide_ncpus() / j > 0 ? tide_ncpus() / j : 1));
  } else if (strcmp(k, "cpus") == 0) lua_pushinteger(L, tide_ncpus());
  else lua_pushnil(L);
  return 1;
}

static int cfg_newindex(lua_State *L) {
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "share_bytes") == 0) {
    lua_Integer v = luaL_checkinteger(L, 3);
    luaL_argcheck(L, v >= 0, 3, "share_bytes must be >= 0");
    tide__config.share_bytes = (size_t)v;
  } else if (strcmp(k, "temp_dir") == 0) {
    if (lua_isnil(L, 3)) {
      tide__config.temp_dir[0] = '\0';
    } else {
      size_t n;
      const char *v = luaL_checklstring(L, 3, &n);
      luaL_argcheck(L, n < sizeof tide__config.temp_dir, 3, "temp_dir is too long");
      memcpy(tide__config.temp_dir, v, n + 1);
    }
  } else if (strcmp(k, "jobs") == 0) {
    lua_Integer v = luaL_checkinteger(L, 3);
    if (v < 0) v = tide_ncpus() + 1 + v;  /* -1: all CPUs, -2: all but one */
    luaL_argcheck(L, v >= 1, 3, "jobs must be a positive count or -1, -2, ...");
    tide__config.jobs = (int)v;
  } else if (strcmp(k, "blas_threads_per_worker") == 0) {
    lua_Integer v = luaL_checkinteger(L, 3);
    luaL_argcheck(L, v >= 0, 3, "blas_threads_per_worker must be >= 0");
    tide__config.blas_threads_per_worker = (int)v;
  } else {
    static const char *const names[] = {"share_bytes", "temp_dir", "jobs",
                                        "blas_threads_per_worker", NULL};
    return luaL_error(L, "tide.config has no setting '%s' (settings: share_bytes, "
                         "temp_dir, jobs, blas_threads_per_worker)%s", k,
                      tideL_opthint(L, k, names));
  }
  return 0;
}

static int cfg_pairs_next(lua_State *L) {
  static const char *const keys[] = {"share_bytes", "temp_dir", "jobs",
                                     "blas_threads_per_worker", "cpus", NULL};
  int i = 0;
  if (!lua_isnil(L, 2)) {
    const char *k = luaL_checkstring(L, 2);
    while (keys[i] && strcmp(keys[i], k) != 0) i++;
    if (keys[i]) i++;
  }
  for (; keys[i]; i++) {
    lua_pushstring(L, keys[i]);
    lua_pushvalue(L, -1);
    lua_gettable(L, 1);
    if (!lua_isnil(L, -1)) return 2;
    lua_pop(L, 2);
  }
  return 0;
}

static int cfg_pairs(lua_State *L) {
  lua_pushcfunction(L, cfg_pairs_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

static void open_config(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__index", cfg_index}, {"__newindex", cfg_newindex}, {"__pairs", cfg_pairs},
    {NULL, NULL}};
  lua_newtable(L);
  luaL_newlib(L, meta);
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "config");
}

/* tide.now(): seconds on the monotonic clock, for timing. */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* tide.sleep(seconds): sleeps, resuming after signals, for the whole time. */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s == s, 1, "seconds must be >= 0");
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  /* Ctrl-C ends the sleep early; the host's hook then raises in Lua. */
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !tide__interrupted) {
  }
  return 0;
}

/* tide.trim(): frees the big shared segments kept for reuse; returns bytes. */
static int l_trim(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)tide_storage_trim());
  return 1;
}

/* tide.memory_available(): bytes this process can still allocate -- the
** figure big allocations are checked against (math.huge if unknown). */
static int l_memory_available(lua_State *L) {
  uint64_t n = tide_memory_available();
  if (n > (uint64_t)LUA_MAXINTEGER) lua_pushnumber(L, HUGE_VAL);
  else lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* tide._internal.isatty(fd), for progress bars */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* Functions that live in a Lua-side module, loaded on first use: the
** upvalues are the module name and the field. */
static int lazy_fn(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 1, 1);
  lua_getfield(L, -1, lua_tostring(L, lua_upvalueindex(2)));
  lua_insert(L, 1);
  lua_settop(L, lua_gettop(L) - 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* tide.X for a public Lua-side module lua/tide/X.lua: required on first
** access and then kept in the table.  The others (par, progress, util,
** opts, models_*) are require-able, not fields of tide. */
static const char *const tide_public_modules[] = {"models", "cv", "grid", "dist", "search",
                                                  "ensemble", "plot", NULL};

static int tide_index(lua_State *L) {
  const char *const *public = tide_public_modules;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  int i = 0;
  while (public[i] && strcmp(public[i], lua_tostring(L, 2)) != 0) i++;
  if (!public[i]) return 0;
  lua_pushfstring(L, "tide.%s", public[i]);
  int name = lua_gettop(L);
  if (lua_getglobal(L, "package") != LUA_TTABLE) return 0;
  lua_getfield(L, -1, "preload");
  if (!lua_istable(L, -1) || lua_getfield(L, -1, lua_tostring(L, name)) == LUA_TNIL) return 0;
  lua_getglobal(L, "require");
  lua_pushvalue(L, name);
  lua_call(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

int luaopen_tide(lua_State *L) {
  lua_newtable(L);
  lua_pushliteral(L, TIDE_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushcfunction(L, l_now);
  lua_setfield(L, -2, "now");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_trim);
  lua_setfield(L, -2, "trim");
  lua_pushcfunction(L, l_memory_available);
  lua_setfield(L, -2, "memory_available");
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_isatty);
  lua_setfield(L, -2, "isatty");
  lua_pop(L, 1);
  static const char *const lazy[][3] = {
    {"pool", "tide.par", "pool"}, {"timed", "tide.par", "timed"},
    {"memoize", "tide.memoize", "memoize"},
    {"pipeline", "tide.models", "pipeline"},
    {"cross_validate", "tide.search", "cross_validate"},
    {"learning_curve", "tide.search", "learning_curve"}, {"help", "tide.help", "help"},
    {NULL, NULL, NULL}};
  for (int i = 0; lazy[i][0]; i++) {
    lua_pushstring(L, lazy[i][1]);
    lua_pushstring(L, lazy[i][2]);
    lua_pushcclosure(L, lazy_fn, 2);
    lua_setfield(L, -2, lazy[i][0]);
  }
  open_config(L);
  tideB_open_array(L);
  tideB_open_rowset(L);
  tideB_open_ops(L);
  tideB_open_rng(L);
  tideB_open_io(L);
  tideB_open_csv(L);
  tideB_open_codec(L);
  tideB_open_dump(L);
  tideB_open_hash(L);
  tideB_open_memo(L);
  tideB_open_par(L);
  tideB_open_models(L);
  tideB_open_monitor(L);
  tideB_open_opts(L);
  tideB_open_linalg(L);
  tideB_open_fft(L);
  tideB_open_convolve(L);
  tideB_open_optimize(L);
  tideB_open_faults(L);
  tideB_open_lua(L);
  tideB_open_host(L);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, tide_index);
  lua_setfield(L, -2, "__index");
  /* the names tide_index answers, for the prompt's completion */
  lua_createtable(L, 7, 0);
  for (int i = 0; tide_public_modules[i]; i++) {
    lua_pushstring(L, tide_public_modules[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "__lazy");
  lua_setmetatable(L, -2);
  /* The Lua-side modules `require "tide"`: when a host opened this table
  ** without require (a plain call of luaopen_tide), they must find it and
  ** not load a second copy. */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "tide") == LUA_TNIL) {
    lua_pushvalue(L, -3);
    lua_setfield(L, -3, "tide");
  }
  lua_pop(L, 2);
  return 1;
}
