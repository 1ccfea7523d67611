/*
** l_random.c -- more methods of tide.rng objects (draw.h):
**
**   r:integers(lo, hi [, size])    an i64 array of lo..hi (both included)
**   r:choice(n | a | t [, size] [, {replace = true, p =}])
**        n: values 1..n (i64); an array: its elements (rows); a Lua table:
**        its values (a table back)
**   r:shuffle(a | t)              in place, along the first dimension
**
** size is a count or a shape table; without it one value comes back.
*/
#include <string.h>

#include "bind.h"
#include "draw.h"

#define RNG_MT "tide.rng" /* l_rng.c's */

static tide_Rng *check_rng(lua_State *L) { return luaL_checkudata(L, 1, RNG_MT); }

/* size at arg i: nil (one value), a count or a shape table. */
static bool opt_size(lua_State *L, int i, int *ndim, int64_t *shape) {
  if (lua_isnoneornil(L, i)) {
    *ndim = 0;
    return false;
  }
  if (lua_istable(L, i)) {
    tideL_checkshape(L, i, ndim, shape);
    return true;
  }
  lua_Integer n = luaL_checkinteger(L, i);
  luaL_argcheck(L, n >= 0, i, "size must be >= 0");
  *ndim = 1;
  shape[0] = n;
  return true;
}

/* r:integers(lo, hi [, size]) */
static int r_integers(lua_State *L) {
  tide_Rng *r = check_rng(L);
  lua_Integer lo = luaL_checkinteger(L, 2), hi = luaL_checkinteger(L, 3);
  int ndim;
  int64_t shape[TIDE_MAXDIM];
  bool sized = opt_size(L, 4, &ndim, shape);
  if (lo > hi) return luaL_argerror(L, 3, lua_pushfstring(L, "empty interval %I..%I", lo, hi));
  if (!sized) {
    lua_pushinteger(L, tide_rng_integer(r, lo, hi));
    return 1;
  }
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, TIDE_I64, ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (!rc) rc = tide_rng_integers(r, lo, hi, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}

/* The probabilities of option p (a table or an array of n), as doubles
** kept alive on the stack; NULL without p. */
static const double *opt_p(lua_State *L, int o, int64_t n) {
  if (!o) return NULL;
  lua_getfield(L, o, "p");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  tide_Array *pa = tideL_checklike(L, lua_gettop(L));
  if (pa->ndim != 1 || pa->shape[0] != n)
    luaL_argerror(L, o, lua_pushfstring(L, "option 'p' holds %I probabilities for a choice "
                  "among %I", (lua_Integer)tide_array_size(pa), (lua_Integer)n));
  tide_Array *pd = tideL_push(L);
  int rc = tide_array_copy(pa, TIDE_F64, pd);
  if (rc) tideL_raise(L, rc);
  return (const double *)pd->data;
}

/* r:choice(n | a | t [, size] [, {replace =, p =}]) */
static int r_choice(lua_State *L) {
  tide_Rng *r = check_rng(L);
  /* arg 3: a size (a count or a shape table) or, with no size, the options */
  int o = 0, sizearg = 3;
  if (lua_istable(L, 3) && luaL_len(L, 3) == 0) o = 3, sizearg = 0;
  else if (lua_istable(L, 4)) o = 4;
  if (!lua_isnoneornil(L, o ? o + 1 : 4))
    return luaL_argerror(L, o ? o + 1 : 4, "too many arguments");
  static const char *const names[] = {"replace", "p", NULL};
  if (o) tideL_checkopts(L, o, "choice", names);
  bool replace = o ? tideL_optbool(L, o, "replace", 1) : true;
  int ndim;
  int64_t shape[TIDE_MAXDIM];
  bool sized = sizearg && opt_size(L, sizearg, &ndim, shape);
  if (!sized) {
    ndim = 0;
    shape[0] = 1;
  }
  int64_t m = 1;
  /* the indices drawn live in a userdata: their count is checked (and
  ** its bytes admitted) before it is made */
  int rc = tide_shape_size(ndim, shape, (int)sizeof(int64_t), &m);
  if (rc) return tideL_argraise(L, sizearg, rc);
  if ((rc = tide__admit_memory((uint64_t)m * sizeof(int64_t), "the drawn indices")))
    return tideL_raise(L, rc);
  /* what is drawn from */
  int64_t n;
  tide_Array *a = NULL;
  bool table = false;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "the number to choose from must be >= 0");
  } else if ((a = tideL_toarray(L, 2)) != NULL) {
    a = tideL_check(L, 2);
    luaL_argcheck(L, a->ndim >= 1, 2, "cannot choose from a 0-dimensional array");
    n = a->shape[0];
  } else if (lua_istable(L, 2)) {
    table = true;
    n = (int64_t)luaL_len(L, 2);
    luaL_argcheck(L, ndim <= 1, sizearg ? sizearg : 2, "a choice from a table takes a count");
  } else {
    return luaL_typeerror(L, 2, "count, array or table");
  }
  const double *p = opt_p(L, o, n);
  int64_t *idx = lua_newuserdatauv(L, (size_t)(m ? m : 1) * sizeof *idx, 0);
  rc = p ? tide_rng_choice(r, n, 0, true, p, idx) : TIDE_OK; /* checks p, draws nothing */
  if (rc) return tideL_argraise(L, o, rc);
  if ((rc = tide_rng_choice(r, n, m, replace, p, idx))) return tideL_argraise(L, 2, rc);
  if (table) {
    if (!sized) {
      lua_geti(L, 2, idx[0] + 1);
      return 1;
    }
    lua_createtable(L, (int)m, 0);
    for (int64_t i = 0; i < m; i++) {
      lua_geti(L, 2, idx[i] + 1);
      lua_rawseti(L, -2, i + 1);
    }
    return 1;
  }
  if (!a) {
    if (!sized) {
      lua_pushinteger(L, idx[0] + 1);
      return 1;
    }
    tide_Array *out = tideL_push(L);
    rc = tide_array_new(out, TIDE_I64, ndim, shape, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
    if (rc) tideL_raise(L, rc);
    for (int64_t i = 0; i < m; i++) ((int64_t *)out->data)[i] = idx[i] + 1;
    return 1;
  }
  if (!sized && a->ndim == 1) {
    tideL_pushelem(L, a->dtype, a->data + idx[0] * a->strides[0]);
    return 1;
  }
  tide_Array *out = tideL_push(L);
  rc = tide_array_take(a, idx, m, 0, out);
  if (rc) tideL_raise(L, rc);
  /* the rows drawn, shaped as size x the rows' shape (one row: its shape) */
  int64_t sh[TIDE_MAXDIM];
  int nd = 0;
  for (int d = 0; d < ndim; d++) sh[nd++] = shape[d];
  luaL_argcheck(L, ndim + a->ndim - 1 <= TIDE_MAXDIM, sizearg, "too many dimensions");
  for (int d = 1; d < a->ndim; d++) sh[nd++] = a->shape[d];
  tide_array_reshape_view(out, nd, sh);
  return 1;
}

/* r:shuffle(a | t): in place; returns it */
static int r_shuffle(lua_State *L) {
  tide_Rng *r = check_rng(L);
  if (lua_istable(L, 2)) { /* the same draws as for an array */
    lua_Integer n = luaL_len(L, 2);
    for (lua_Integer i = n - 1; i > 0; i--) {
      lua_Integer j = tide_rng_integer(r, 0, i);
      lua_geti(L, 2, i + 1);
      lua_geti(L, 2, j + 1);
      lua_seti(L, 2, i + 1);
      lua_seti(L, 2, j + 1);
    }
    lua_settop(L, 2);
    return 1;
  }
  tide_Array *a = tideL_check(L, 2);
  tideL_checkwritable(L, a, "shuffle");
  int rc = tide_rng_shuffle(r, a);
  if (rc) tideL_argraise(L, 2, rc);
  lua_settop(L, 2);
  return 1;
}

void tideB_open_random(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"integers", r_integers}, {"choice", r_choice}, {"shuffle", r_shuffle}, {NULL, NULL}};
  luaL_getmetatable(L, RNG_MT);
  lua_getfield(L, -1, "__index");
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 2);
}
