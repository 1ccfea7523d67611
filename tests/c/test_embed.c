/*
** test_embed.c -- the embedding API of tide.h (runtime/bind/state.c):
** open/close, dostring/dofile/pcall with tracebacks and odd error objects,
** binary chunks refused, lending host buffers with no copy (release called
** exactly once), and argument checks that fail without side effects.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "check.h"
#include "tide.h"

static int releases;
static void count_release(void *ud) {
  releases++;
  if (ud) (*(int *)ud)++;
}

/* The value of a Lua expression, as an integer (or -999 when not one). */
static long long eval_int(tide_State *T, const char *expr) {
  lua_State *L = tide_lua(T);
  char code[512];
  snprintf(code, sizeof code, "__r = (%s)", expr);
  if (tide_dostring(T, code) != TIDE_OK) {
    fprintf(stderr, "eval %s: %s\n", expr, tide_errmsg(T));
    return -999;
  }
  lua_getglobal(L, "__r");
  int isnum;
  long long v = (long long)lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  return isnum ? v : -999;
}

/* A C function for Lua: the row count of its array argument. */
static int rows_of(lua_State *L) {
  tide_Array *a = tide_check_array(L, 1);
  lua_pushinteger(L, a->ndim > 0 ? a->shape[0] : 1);
  return 1;
}

static void test_open_close(void) {
  tide_close(NULL); /* a no-op */
  CHECK(tide_lua(NULL) == NULL);
  CHECK_EQ_INT(strlen(tide_errmsg(NULL)), 0);

  tide_State *T = tide_open(NULL);
  CHECK(T != NULL);
  if (!T) return;
  lua_State *L = tide_lua(T);
  CHECK(L != NULL);
  CHECK_EQ_INT(strlen(tide_errmsg(T)), 0);
  /* Defaults: standard libraries and the global tide. */
  CHECK_EQ_INT(tide_dostring(T, "assert(io and os and string and tide and tide.zeros)"),
               TIDE_OK);
  CHECK_EQ_INT(tide_dostring(T, "assert(package.loaded.tide == tide)"), TIDE_OK);
  CHECK_EQ_INT(lua_gettop(L), 0);
  tide_close(T);

  /* A zeroed tide_Options is the default: what lua.c gives, plus tide. */
  tide_Options z = {0};
  z.jobs = 2;
  T = tide_open(&z);
  CHECK(T != NULL);
  if (!T) return;
  CHECK_EQ_INT(tide_dostring(T, "assert(print and require and io and os and tide.zeros)"),
               TIDE_OK);
  tide_close(T);

  /* bare: only the tide module. */
  tide_Options o = {0};
  o.bare = 1;
  T = tide_open(&o);
  CHECK(T != NULL);
  if (!T) return;
  CHECK_EQ_INT(tide_dostring(T, "n = tide.zeros(2).size"), TIDE_OK);
  lua_State *L2 = tide_lua(T);
  lua_getglobal(L2, "n");
  CHECK_EQ_INT(lua_tointeger(L2, -1), 2);
  lua_pop(L2, 1);
  lua_getglobal(L2, "io");
  CHECK(lua_isnil(L2, -1));
  lua_pop(L2, 1);
  tide_close(T);
}

static void test_errors(void) {
  tide_State *T = tide_open(NULL);
  if (!T) return;
  lua_State *L = tide_lua(T);

  CHECK_EQ_INT(tide_dostring(T, "x = 1 + 1"), TIDE_OK);
  CHECK_EQ_INT(eval_int(T, "x"), 2);

  /* A runtime error: message and traceback. */
  CHECK_EQ_INT(tide_dostring(T, "local function f() error('boom') end\nf()"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "boom");
  CHECK_STR_HAS(tide_errmsg(T), "stack traceback:");
  CHECK_STR_HAS(tide_errmsg(T), "(dostring):1");
  /* A syntax error. */
  CHECK_EQ_INT(tide_dostring(T, "x = = 1"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "unexpected symbol");

  /* Odd error objects never crash and are described. */
  CHECK_EQ_INT(tide_dostring(T, "error(nil)"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "nil value");
  CHECK_EQ_INT(tide_dostring(T, "error({})"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "table value");
  CHECK_EQ_INT(tide_dostring(T, "error(setmetatable({}, {__tostring = function() "
                                "return 'custom' end}))"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "custom");
  CHECK_EQ_INT(tide_dostring(T, "error(setmetatable({}, {__tostring = function() "
                                "error('x') end}))"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "__tostring failed");
  CHECK_EQ_INT(tide_dostring(T, "error(setmetatable({}, {__tostring = function() "
                                "return {} end}))"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "__tostring failed"); /* it must return a string */
  CHECK_EQ_INT(tide_dostring(T, "error(12)"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "12");

  /* Binary chunks are refused, even valid ones. */
  CHECK_EQ_INT(tide_dostring(T, "\x1bLua"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "binary chunk");
  CHECK_EQ_INT(tide_dostring(T, "bin = string.dump(function() return 1 end)"), TIDE_OK);
  lua_getglobal(L, "bin");
  CHECK_EQ_INT(tide_dostring(T, lua_tostring(L, -1)), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "binary chunk");
  lua_pop(L, 1);

  /* NULL arguments. */
  CHECK_EQ_INT(tide_dostring(NULL, "x = 1"), TIDE_EINVAL);
  CHECK_EQ_INT(tide_dostring(T, NULL), TIDE_EINVAL);
  CHECK_EQ_INT(tide_dofile(NULL, "x.lua", 0, NULL), TIDE_EINVAL);

  /* tide_pcall: results stay; errors pop the function. */
  lua_settop(L, 0);
  luaL_loadstring(L, "local a, b = ... return a + b, 'ok'");
  lua_pushinteger(L, 40);
  lua_pushinteger(L, 2);
  CHECK_EQ_INT(tide_pcall(T, 2, 2), TIDE_OK);
  CHECK_EQ_INT(lua_gettop(L), 2);
  CHECK_EQ_INT(lua_tointeger(L, 1), 42);
  lua_settop(L, 0);
  luaL_loadstring(L, "error({})");
  CHECK_EQ_INT(tide_pcall(T, 0, 0), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "table value");
  CHECK_EQ_INT(lua_gettop(L), 0);
  CHECK_EQ_INT(tide_pcall(T, 3, 0), TIDE_EINVAL); /* nothing to call */

  /* The stack is balanced after every call. */
  CHECK_EQ_INT(lua_gettop(L), 0);
  tide_close(T);
}

static void test_dofile(void) {
  tide_State *T = tide_open(NULL);
  if (!T) return;
  char path[] = "/tmp/tide-embed-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  const char *src = "n = select('#', ...)\nfirst = ...\nname = arg[0]\nsecond = arg[2]\n"
                    "if first == 'fail' then error('failed on purpose') end\n";
  CHECK_EQ_INT(write(fd, src, strlen(src)), (long long)strlen(src));
  close(fd);
  char alpha[] = "alpha", beta[] = "beta", fail[] = "fail";
  char *argv[] = {path, alpha, beta, NULL};
  CHECK_EQ_INT(tide_dofile(T, path, 3, argv), TIDE_OK);
  CHECK_EQ_INT(eval_int(T, "n"), 2);
  CHECK_EQ_INT(eval_int(T, "first == 'alpha' and 1 or 0"), 1);
  CHECK_EQ_INT(eval_int(T, "second == 'beta' and 1 or 0"), 1);
  CHECK_EQ_INT(eval_int(T, "name == arg[0] and #arg"), 2);
  char *argv2[] = {path, fail, NULL};
  CHECK_EQ_INT(tide_dofile(T, path, 2, argv2), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "failed on purpose");
  CHECK_STR_HAS(tide_errmsg(T), "stack traceback:");
  CHECK_EQ_INT(tide_dofile(T, "/nonexistent/dir/x.lua", 0, NULL), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "cannot open");

  /* A binary chunk on disk is refused too. */
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) {
    lua_State *L = tide_lua(T);
    CHECK_EQ_INT(tide_dostring(T, "dumped = string.dump(function() return 1 end)"), TIDE_OK);
    lua_settop(L, 0);
    lua_getglobal(L, "dumped");
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    fwrite(s, 1, n, f);
    fclose(f);
    lua_settop(L, 0);
    CHECK_EQ_INT(tide_dofile(T, path, 0, NULL), TIDE_ELUA);
    CHECK_STR_HAS(tide_errmsg(T), "binary chunk");
  }
  unlink(path);
  tide_close(T);
}

static void test_push_array(void) {
  tide_State *T = tide_open(NULL);
  if (!T) return;
  lua_State *L = tide_lua(T);
  double data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {2, 3};
  int mine = 0;
  releases = 0;

  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, 2, shape, count_release, &mine), TIDE_OK);
  CHECK_EQ_INT(lua_gettop(L), 1);
  tide_Array *a = tide_to_array(L, -1);
  CHECK(a != NULL);
  if (a) {
    CHECK(a->data == (unsigned char *)data); /* no copy */
    CHECK_EQ_INT(a->ndim, 2);
    CHECK_EQ_INT(a->shape[1], 3);
    CHECK_EQ_INT(a->strides[0], 3 * sizeof(double));
    CHECK_EQ_INT(a->dtype, TIDE_F64);
  }
  lua_setglobal(L, "h");
  /* Values visible in Lua; writes from Lua reach the host buffer. */
  CHECK_EQ_INT(eval_int(T, "h:get(2, 3)"), 6);
  CHECK_EQ_INT(eval_int(T, "h.storage == 'borrowed' and 1 or 0"), 1);
  CHECK_EQ_INT(tide_dostring(T, "h:set(1, 2, 20); local r = h[2]; r[1] = 40"), TIDE_OK);
  CHECK_NEAR(data[1], 20, 0);
  CHECK_NEAR(data[3], 40, 0);

  /* A view keeps the buffer alive after the array itself is gone. */
  CHECK_EQ_INT(tide_dostring(T, "v = h:col(3); h = nil"), TIDE_OK);
  lua_gc(L, LUA_GCCOLLECT, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  CHECK_EQ_INT(releases, 0);
  CHECK_EQ_INT(eval_int(T, "v[2]"), 6);
  CHECK_EQ_INT(tide_dostring(T, "v = nil"), TIDE_OK);
  lua_gc(L, LUA_GCCOLLECT, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  CHECK_EQ_INT(releases, 1); /* exactly once, after the last reference */
  CHECK_EQ_INT(mine, 1);

  /* Released at tide_close when still referenced. */
  int32_t ibuf[4] = {7, 8, 9, 10};
  int64_t n4 = 4;
  CHECK_EQ_INT(tide_push_array(L, ibuf, TIDE_I32, 1, &n4, count_release, NULL), TIDE_OK);
  lua_setglobal(L, "g");
  CHECK_EQ_INT(eval_int(T, "g[4] + g[1]"), 17);
  CHECK_EQ_INT(eval_int(T, "math.type(g[1]) == 'integer' and 1 or 0"), 1);

  /* Bad arguments: an error code, nothing pushed, release not called. */
  int top = lua_gettop(L);
  int64_t bad[2] = {2, -1};
  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, 2, bad, count_release, NULL), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "negative");
  CHECK_EQ_INT(tide_push_array(L, data, (tide_dtype)99, 2, shape, count_release, NULL),
               TIDE_EDTYPE);
  CHECK_EQ_INT(tide_push_array(L, data, (tide_dtype)-1, 2, shape, count_release, NULL),
               TIDE_EDTYPE);
  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, 40, shape, count_release, NULL),
               TIDE_EINVAL);
  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, -1, shape, count_release, NULL),
               TIDE_EINVAL);
  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, 2, NULL, count_release, NULL), TIDE_EINVAL);
  CHECK_EQ_INT(tide_push_array(L, NULL, TIDE_F64, 2, shape, count_release, NULL), TIDE_EINVAL);
  int64_t huge[2] = {INT64_MAX / 2, 4};
  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, 2, huge, count_release, NULL), TIDE_EINVAL);
  CHECK_EQ_INT(tide_push_array(NULL, data, TIDE_F64, 2, shape, count_release, NULL),
               TIDE_EINVAL);
  CHECK_EQ_INT(lua_gettop(L), top);
  CHECK_EQ_INT(releases, 1);
  /* An empty array may have NULL data; release still runs once. */
  int64_t zero = 0;
  CHECK_EQ_INT(tide_push_array(L, NULL, TIDE_F64, 1, &zero, count_release, NULL), TIDE_OK);
  CHECK(tide_to_array(L, -1) != NULL);
  lua_pop(L, 1);
  /* release may be NULL. */
  CHECK_EQ_INT(tide_push_array(L, data, TIDE_F64, 1, &n4, NULL, NULL), TIDE_OK);
  lua_pop(L, 1);

  /* to_array: NULL, never an error, for anything but an open array. */
  lua_pushnumber(L, 3.5);
  CHECK(tide_to_array(L, -1) == NULL);
  lua_newtable(L);
  CHECK(tide_to_array(L, -1) == NULL);
  lua_pushstring(L, "array");
  CHECK(tide_to_array(L, -1) == NULL);
  CHECK(tide_to_array(L, 50) == NULL); /* beyond the top */
  CHECK(tide_to_array(NULL, 1) == NULL);
  lua_settop(L, top);
  CHECK_EQ_INT(tide_dostring(T, "c = tide.zeros(2); c:close()"), TIDE_OK);
  lua_getglobal(L, "c");
  CHECK(tide_to_array(L, -1) == NULL); /* closed */
  CHECK(tide_test_array(L, -1) != NULL); /* but still an array */
  CHECK(tide_test_array(L, -1)->storage == NULL);
  lua_pop(L, 1);
  lua_pushnumber(L, 1);
  CHECK(tide_test_array(L, -1) == NULL);
  CHECK(tide_test_array(NULL, 1) == NULL);
  lua_pop(L, 1);

  /* check_array raises in Lua's naming, as luaL_checkudata. */
  lua_pushcfunction(L, rows_of);
  lua_setglobal(L, "rows_of");
  CHECK_EQ_INT(eval_int(T, "rows_of(tide.zeros(5, 2))"), 5);
  CHECK_EQ_INT(tide_dostring(T, "rows_of(42)"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "bad argument #1 to 'rows_of' (array expected, got number)");
  CHECK_EQ_INT(tide_dostring(T, "local a = tide.zeros(2); a:close(); rows_of(a)"), TIDE_ELUA);
  CHECK_STR_HAS(tide_errmsg(T), "bad argument #1 to 'rows_of' (array is closed)");

  tide_close(T); /* g, the empty array and the NULL-release one go here */
  CHECK_EQ_INT(releases, 3);
}

/* A stock Lua state that never loaded tide can still receive an array. */
static void test_stock_state(void) {
  lua_State *L = luaL_newstate();
  if (!L) return;
  luaL_openlibs(L);
  double d[3] = {1, 2, 3};
  int64_t n = 3;
  releases = 0;
  CHECK_EQ_INT(tide_push_array(L, d, TIDE_F64, 1, &n, count_release, NULL), TIDE_OK);
  lua_setglobal(L, "d");
  CHECK_EQ_INT(luaL_dostring(L, "d[3] = d[1] + d[2]"), LUA_OK);
  CHECK_NEAR(d[2], 3, 0);
  lua_close(L);
  CHECK_EQ_INT(releases, 1);
}

/* A host that calls luaopen_tide itself (no require): the Lua-side modules,
** which `require "tide"`, find this table and reach the C functions. */
static void test_plain_open(void) {
  lua_State *L = luaL_newstate();
  if (!L) return;
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_tide);
  CHECK_EQ_INT(lua_pcall(L, 0, 1, 0), LUA_OK);
  lua_setglobal(L, "t");
  CHECK_EQ_INT(luaL_dostring(L, "assert(require('tide') == t); "
                                "assert(#t.cv.kfold(10, 2) == 2); "
                                "assert(t.models.ridge{}:fit(t.rand(8, 2, {seed = 1}), "
                                "t.rand(8, {seed = 2})).coef)"), LUA_OK);
  lua_close(L);
}

int main(void) {
  test_open_close();
  test_errors();
  test_dofile();
  test_push_array();
  test_stock_state();
  test_plain_open();
  return check_done();
}
