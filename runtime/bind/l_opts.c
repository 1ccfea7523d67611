/*
** l_opts.c -- options tables: the one check every entry point makes (an
** unknown key is an error, never ignored), the hint that follows it, and
** tide._internal, where helpers that are not for users live.
**
** "unknown option 'job' for tide.collect (options: jobs, chunk, ...); did
** you mean 'jobs'?": the nearest accepted name by edit distance when it is
** close, and for the spellings of joblib and scikit-learn (n_jobs,
** random_state, ...) the name tide gives the same thing.
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"

/* Names users bring from joblib and scikit-learn.  The first of `to` that
** the entry point accepts is suggested, with `why`; when it accepts none,
** `note` (if any) says where the thing lives in tide. */
static const struct Foreign {
  const char *key;
  const char *to[3];
  const char *why;
  const char *note;
} foreign[] = {
  {"n_jobs", {"jobs"}, "joblib's and scikit-learn's n_jobs", NULL},
  {"batch_size", {"chunk"}, "joblib's batch_size", NULL},
  {"pre_dispatch", {"inflight"}, "joblib's pre_dispatch: tasks drawn ahead of the workers", NULL},
  {"return_as", {"order"},
   "joblib's return_as: tide.collect returns a list and tide.map an iterator; "
   "order = \"completed\" gives results as they finish (\"generator_unordered\")", NULL},
  {"verbose", {"progress"}, "joblib's verbose", NULL},
  {"max_nbytes", {"share_bytes"}, "joblib's max_nbytes", NULL},
  {"mmap_mode", {"mmap"}, "numpy's and joblib's mmap_mode", NULL},
  {"random_state", {"seed"}, "scikit-learn's random_state", NULL},
  {"n_neighbors", {"k"}, "scikit-learn's n_neighbors", NULL},
  {"n_splits", {"splits", "cv"}, "scikit-learn's n_splits",
   "the number of folds is an argument: tide.cv.kfold(n, k, opts), "
   "tide.cv.stratified_kfold(y, k, opts)"},
  {"test_size", {"test"}, "scikit-learn's test_size", NULL},
  {"train_size", {"train"}, "scikit-learn's train_size", NULL},
  {"train_sizes", {"sizes"}, "scikit-learn's train_sizes", NULL},
  {"shuffle", {NULL}, NULL,
   "shuffling is an option of the folds: cv = tide.cv.kfold(n, k, {shuffle = true, seed = 1}); "
   "shuffle_split always shuffles"},
  {"n_iter", {"budget"}, "RandomizedSearchCV's n_iter", NULL},
  {"param_grid", {"grid"}, "GridSearchCV's param_grid", NULL},
  {"param_distributions", {"grid"}, "RandomizedSearchCV's param_distributions", NULL},
  {"estimator", {"model"}, "scikit-learn's estimator", NULL},
  {"return_train_score", {"train_score"}, "scikit-learn's return_train_score", NULL},
  {"sample_weight", {"weights"}, "scikit-learn's sample_weight", NULL},
  {"sep", {"delimiter"}, "pandas' sep", NULL},
  {"usecols", {"columns"}, "pandas' usecols", NULL},
  {NULL, {NULL}, NULL, NULL}};

static int listed(const char *const *names, const char *k) {
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], k) == 0) return 1;
  return 0;
}

/* Edit distance with adjacent transpositions, case ignored; long strings
** (over 63 bytes) are never close. */
static int distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 63 || m > 63) return 1 << 20;
  int d[64][64];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
      int v = d[i - 1][j - 1] + (ca != cb);
      if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
          cb == tolower((unsigned char)a[i - 2]) && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[n][m];
}

/* The accepted name closest to k, or NULL when none is close: within 1
** edit for keys of up to 4 bytes, 2 up to 8, 3 beyond; else one that k
** begins (of at least 3 bytes: "delim" for "delimiter"). */
static const char *nearest(const char *k, const char *const *names) {
  size_t kn = strlen(k);
  int limit = kn <= 4 ? 1 : kn <= 8 ? 2 : 3;
  const char *best = NULL;
  int bestd = limit + 1;
  for (int i = 0; names[i]; i++) {
    int d = distance(k, names[i]);
    if (d < bestd && d < (int)kn) {
      best = names[i];
      bestd = d;
    }
  }
  if (best || kn < 3) return best;
  for (int i = 0; names[i]; i++)
    if (strncmp(names[i], k, kn) == 0) return names[i];
  return NULL;
}

const char *tideL_opthint(lua_State *L, const char *k, const char *const *names) {
  for (const struct Foreign *f = foreign; f->key; f++) {
    if (strcmp(f->key, k) != 0) continue;
    for (int j = 0; j < 3 && f->to[j]; j++)
      if (listed(names, f->to[j]))
        return lua_pushfstring(L, "; did you mean '%s'? (tide's name for %s)", f->to[j], f->why);
    if (f->note) return lua_pushfstring(L, "; %s", f->note);
  }
  const char *near = nearest(k, names);
  if (near) return lua_pushfstring(L, "; did you mean '%s'?", near);
  lua_pushliteral(L, "");
  return "";
}

/* The key of function fn in the table on top (popped), pushed with the
** prefix: `called` (the name it was called by) when it is one, else any;
** NULL when fn is not there. */
static const char *key_of(lua_State *L, int fn, const char *prefix, const char *called) {
  if (lua_istable(L, -1)) {
    lua_pushstring(L, called ? called : "");
    if (lua_rawget(L, -2) != LUA_TNIL && lua_rawequal(L, -1, fn)) {
      lua_pop(L, 2);
      return lua_pushfstring(L, "%s%s", prefix, called);
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
        const char *s = lua_pushfstring(L, "%s%s", prefix, lua_tostring(L, -2));
        lua_replace(L, -4);
        lua_pop(L, 2);
        return s;
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return NULL;
}

/* The running C function's name: "tide.zeros", "a:copy" (an array
** method), else the name it was called by; pushed. */
static const char *running_name(lua_State *L) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar) || !lua_getinfo(L, "nf", &ar)) return lua_pushliteral(L, "?");
  int fn = lua_gettop(L);
  const char *s;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "tide");
  lua_remove(L, -2);
  if ((s = key_of(L, fn, "tide.", ar.name))) return s;
  luaL_getmetatable(L, TIDE_ARRAY_MT);
  if (lua_istable(L, -1)) lua_getfield(L, -1, "__methods");
  else lua_pushnil(L);
  lua_remove(L, -2);
  if ((s = key_of(L, fn, "a:", ar.name))) return s;
  lua_settop(L, fn - 1);
  return lua_pushstring(L, ar.name ? ar.name : "?");
}

/* Pushes the message for the unknown key at index k. */
static const char *push_message(lua_State *L, int k, const char *fname,
                                const char *const *names) {
  k = lua_absindex(L, k);
  if (!fname) fname = running_name(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const char *key = luaL_tolstring(L, k, NULL);
  lua_pushfstring(L, "unknown option '%s' for %s (", key, fname);
  lua_remove(L, -2);
  luaL_addvalue(&b);
  if (!names[0]) luaL_addstring(&b, "it takes no options");
  else luaL_addstring(&b, "options: ");
  for (int i = 0; names[i]; i++) {
    if (i) luaL_addstring(&b, ", ");
    luaL_addstring(&b, names[i]);
  }
  luaL_addchar(&b, ')');
  if (lua_type(L, k) == LUA_TSTRING) {
    tideL_opthint(L, lua_tostring(L, k), names);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* The option log, for the doc coverage test (tests/lua/api_coverage.lua):
** while tide._internal.optlog(true) is on, every check records the keys its
** function accepts -- log[fname] = {names = {...}, fn = the function} -- so
** the test learns each function's accepted keys from the check itself. */
#define OPTLOG "tide.optlog"
/* any state of this process has a log on: off, a check costs one test, not
** a registry lookup (checks run on every call given options) */
static int optlog_any;

static void log_check(lua_State *L, int i, const char *fname, const char *const *names) {
  if (!optlog_any) return;
  if (lua_getfield(L, LUA_REGISTRYINDEX, OPTLOG) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  int log = lua_gettop(L);
  if (!fname) fname = running_name(L);
  lua_createtable(L, 0, 2);
  lua_newtable(L);
  for (int j = 0; names[j]; j++) {
    lua_pushstring(L, names[j]);
    lua_rawseti(L, -2, j + 1);
  }
  lua_setfield(L, -2, "names");
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "f", &ar)) lua_setfield(L, -2, "fn");
  lua_setfield(L, log, fname);
  lua_settop(L, log - 1);
}

/* _internal.optlog(on) -> the log table (on) or nil (off).  The same table
** is _internal.optlog_on, where lua/tide/opts.lua's twin writes. */
static int l_optlog(lua_State *L) {
  if (lua_toboolean(L, 1)) {
    optlog_any = 1;
    if (lua_getfield(L, LUA_REGISTRYINDEX, OPTLOG) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, LUA_REGISTRYINDEX, OPTLOG);
    }
  } else {
    lua_pushnil(L);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, OPTLOG);
  lua_pushvalue(L, -1);
  lua_setfield(L, lua_upvalueindex(1), "optlog_on");
  return 1;
}

void tideL_checkopts(lua_State *L, int i, const char *fname, const char *const *names) {
  log_check(L, i, fname, names);
  if (!lua_istable(L, i)) return;
  i = lua_absindex(L, i);
  lua_pushnil(L);
  while (lua_next(L, i)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING || !listed(names, lua_tostring(L, -1))) {
      push_message(L, -1, fname, names);
      lua_error(L);
    }
  }
}

/* A Lua list of strings as a NULL-terminated array in a userdata (pushed). */
static const char *const *names_of(lua_State *L, int t) {
  luaL_checktype(L, t, LUA_TTABLE);
  lua_Integer n = luaL_len(L, t);
  luaL_argcheck(L, n >= 0 && n < 4096, t, "too many names");
  const char **v = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *v, 0);
  for (lua_Integer j = 1; j <= n; j++) {
    lua_geti(L, t, j);
    v[j - 1] = lua_tostring(L, -1); /* anchored by the list */
    luaL_argcheck(L, v[j - 1] != NULL, t, "names must be strings");
    lua_pop(L, 1);
  }
  v[n] = NULL;
  return v;
}

/* _internal.option_message(key, fname, names) -> the message for an
** unknown key (the Lua twin of tideL_checkopts raises it). */
static int l_option_message(lua_State *L) {
  luaL_checkany(L, 1);
  const char *fname = luaL_checkstring(L, 2);
  const char *const *names = names_of(L, 3);
  push_message(L, 1, fname, names);
  return 1;
}

/* _internal.option_hint(key, names) -> "; did you mean 'jobs'? ..." or "". */
static int l_option_hint(lua_State *L) {
  const char *k = luaL_checkstring(L, 1);
  tideL_opthint(L, k, names_of(L, 2));
  return 1;
}

void tideL_pushinternal(lua_State *L, int t) {
  t = lua_absindex(L, t);
  if (lua_getfield(L, t, "_internal") == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, t, "_internal");
}

/* tideL_pushowned's push, run protected: a memory error here must not
** skip the caller's free. */
static int p_pushowned(lua_State *L) {
  lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
  return 1;
}

void tideL_pushowned(lua_State *L, char *s, size_t len) {
  if (len == (size_t)-1) len = strlen(s);
  if (!lua_checkstack(L, 3)) { /* lua_checkstack reports, never raises */
    free(s);
    luaL_error(L, "stack overflow");
  }
  lua_pushcfunction(L, p_pushowned); /* a light C function: no allocation */
  lua_pushlightuserdata(L, s);
  lua_pushinteger(L, (lua_Integer)len);
  int st = lua_pcall(L, 2, 1, 0);
  free(s);
  if (st != LUA_OK) lua_error(L);
}

void tideB_open_opts(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"option_message", l_option_message}, {"option_hint", l_option_hint}, {NULL, NULL}};
  tideL_pushinternal(L, -1);
  luaL_setfuncs(L, funcs, 0);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_optlog, 1);
  lua_setfield(L, -2, "optlog");
  lua_pop(L, 1);
}
