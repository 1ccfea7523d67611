/*
** l_rng.c -- tide.rng(seed, stream) objects and tide.rand / tide.randn.
*/
#include <string.h>
#include <time.h>

#include "bind.h"

#define RNG_MT "tide.rng"

static tide_Rng *check_rng(lua_State *L, int i) {
  return luaL_checkudata(L, i, RNG_MT);
}

/* A seed argument: an integer, or nil for a fresh one from the clock. */
static uint64_t opt_seed(lua_State *L, int i) {
  if (i == 0 || lua_isnoneornil(L, i)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
  }
  return (uint64_t)luaL_checkinteger(L, i);
}

static int l_rng(lua_State *L) {
  uint64_t seed = opt_seed(L, 1);
  uint64_t stream = (uint64_t)luaL_optinteger(L, 2, 0);
  tide_Rng *r = lua_newuserdatauv(L, sizeof *r, 0);
  tide_rng_init(r, seed, stream);
  luaL_setmetatable(L, RNG_MT);
  return 1;
}

static int r_uniform(lua_State *L) {
  tide_Rng *r = check_rng(L, 1);
  double a = luaL_optnumber(L, 2, 0), b = luaL_optnumber(L, 3, 1);
  lua_pushnumber(L, a + (b - a) * tide_rng_uniform(r));
  return 1;
}

static int r_normal(lua_State *L) {
  tide_Rng *r = check_rng(L, 1);
  double mu = luaL_optnumber(L, 2, 0), sigma = luaL_optnumber(L, 3, 1);
  luaL_argcheck(L, sigma >= 0, 3, "sigma must be >= 0");
  lua_pushnumber(L, mu + sigma * tide_rng_normal(r));
  return 1;
}

static int r_integer(lua_State *L) {
  tide_Rng *r = check_rng(L, 1);
  lua_Integer m = luaL_checkinteger(L, 2), n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, m <= n, 3, "empty interval");
  lua_pushinteger(L, tide_rng_integer(r, m, n));
  return 1;
}

/* r:permutation(n): an i64 array holding 1..n shuffled (Fisher-Yates). */
static int r_permutation(lua_State *L) {
  tide_Rng *r = check_rng(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "n must be >= 0");
  int64_t len = n;
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, TIDE_I64, 1, &len, TIDE_WHERE_AUTO);
  if (rc) return tideL_raise(L, rc);
  int64_t *p = (int64_t *)a->data;
  for (int64_t i = 0; i < n; i++) p[i] = i + 1;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = tide_rng_integer(r, 0, i), t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return 1;
}

static int r_tostring(lua_State *L) {
  tide_Rng *r = check_rng(L, 1);
  lua_pushfstring(L, "tide.rng(seed %I, stream %I)",
                  (lua_Integer)(((uint64_t)r->key[1] << 32) | r->key[0]),
                  (lua_Integer)(((uint64_t)r->ctr[3] << 32) | r->ctr[2]));
  return 1;
}

/* tide.rand(shape..., [dtype], [{seed =, stream =, dtype =, shared =}]) */
static int fill_random(lua_State *L, int normal) {
  int64_t shape[TIDE_MAXDIM];
  int ndim, where;
  int next = tideL_checkshape(L, 1, &ndim, shape);
  static const char *const extra[] = {"seed", "stream", NULL};
  int dt = tideL_ctor_optsx(L, next, TIDE_F64, &where, extra);
  int opts = lua_istable(L, next) ? next : lua_istable(L, next + 1) ? next + 1 : 0;
  uint64_t seed, stream = 0;
  if (opts) {
    lua_getfield(L, opts, "seed");
    seed = opt_seed(L, lua_gettop(L));
    lua_pop(L, 1);
    stream = (uint64_t)tideL_optint(L, opts, "stream", 0);
  } else {
    seed = opt_seed(L, 0 /* none */);
  }
  tide_Rng r;
  tide_rng_init(&r, seed, stream);
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, ndim, shape, where | TIDE_WHERE_UNINIT);
  if (!rc) rc = normal ? tide_rng_fill_normal(&r, a, 0, 1) : tide_rng_fill_uniform(&r, a, 0, 1);
  return rc ? tideL_raise(L, rc) : 1;
}
static int l_rand(lua_State *L) { return fill_random(L, 0); }
static int l_randn(lua_State *L) { return fill_random(L, 1); }

void tideB_open_rng(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"uniform", r_uniform}, {"normal", r_normal}, {"integer", r_integer},
    {"permutation", r_permutation}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"rng", l_rng}, {"rand", l_rand}, {"randn", l_randn}, {NULL, NULL}};
  luaL_newmetatable(L, RNG_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, r_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  tideB_open_random(L);
}
