/*
** l_stats.c -- Lua bindings for the reductions' options and prod,
** elementwise math beyond l_ops.c, running sums and products, diff,
** bincount, histogram, cov and corrcoef.  Rules live in stats.h.
**
**   a:sum([dim] [, {keepdims =, skipnan =}])   every reduction (also
**        a:var / a:std with ddof =, a:prod, a:median, a:quantile)
**   a:sin() cos tan asin acos atan sinh cosh tanh log1p expm1 log2 log10
**   a:sign() isnan isfinite, tide.atan2(y, x)       (also tide.sin(a) ...)
**   a:cumsum([dim]) cumprod([dim]) diff([dim] [, n])
**   tide.bincount(idx [, weights] [, {minlength =}])
**   tide.histogram(a, bins [, {range =, weights =, density =}])
**   tide.cov(x [, y] [, {rowvar =, ddof =}])  tide.corrcoef(x [, y] [, {rowvar =}])
*/
#include <math.h>
#include <string.h>

#include "bind.h"
#include "stats.h"

/* ------------------------------------------------------------ helpers */

tide_Array *tideL_checklike(lua_State *L, int i) {
  tide_Array *a = tideL_toarray(L, i);
  if (a) return tideL_check(L, i);
  if (!lua_istable(L, i)) luaL_typeerror(L, i, "array or table of numbers");
  i = lua_absindex(L, i);
  if (lua_geti(L, i, 1) == LUA_TTABLE) { /* nested: tide.array makes it */
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "tide");
    lua_getfield(L, -1, "array");
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    a = tideL_test(L, -1);
    if (!a) luaL_argerror(L, i, "a table of numbers or of rows expected");
    lua_replace(L, i);
    lua_pop(L, 2);
    return a;
  }
  lua_pop(L, 1);
  int64_t n = (int64_t)luaL_len(L, i);
  int dt = TIDE_I64;
  for (int64_t k = 1; k <= n; k++) {
    int t = lua_geti(L, i, k);
    if (t == LUA_TBOOLEAN && (k == 1 || dt == TIDE_BOOL)) dt = TIDE_BOOL;
    else if (t != LUA_TNUMBER || dt == TIDE_BOOL)
      luaL_argerror(L, i, lua_pushfstring(L, "entry %I of the table is %s, not a number",
                                          (lua_Integer)k, luaL_typename(L, -1)));
    else if (!lua_isinteger(L, -1)) dt = TIDE_F64;
    lua_pop(L, 1);
  }
  a = tideL_push(L);
  int rc = tide_array_new(a, dt, 1, &n, TIDE_WHERE_HEAP);
  if (rc) tideL_raise(L, rc);
  for (int64_t k = 0; k < n; k++) {
    lua_geti(L, i, k + 1);
    tideL_toelem(L, -1, dt, a->data + k * tide_dtype_size(dt));
    lua_pop(L, 1);
  }
  lua_replace(L, i);
  return a;
}

/* ------------------------------------------------------------ reductions */

/* Optional 1-based dimension at arg i (negative from the end); -1 for none. */
int tideL_optdim(lua_State *L, int i, const tide_Array *a) {
  if (lua_isnoneornil(L, i)) return -1;
  int isnum;
  lua_Integer d = lua_tointegerx(L, i, &isnum);
  if (!isnum) luaL_typeerror(L, i, "integer dimension");
  lua_Integer orig = d;
  if (d < 0) d += a->ndim + 1;
  if (d < 1 || d > a->ndim)
    luaL_argerror(L, i, lua_pushfstring(L, "dimension %I out of range for a %d-dimensional array",
                                        orig, a->ndim));
  return (int)d - 1;
}

void tideL_redargs(lua_State *L, int first, const tide_Array *a, const char *fname,
                   const char *const *extra, tideL_RedArgs *r) {
  bool has_ddof = strcmp(fname, "var") == 0 || strcmp(fname, "std") == 0;
  const char *names[12] = {"keepdims", "skipnan"};
  int nn = 2;
  if (has_ddof) names[nn++] = "ddof";
  for (int k = 0; extra && extra[k] && nn < 11; k++) names[nn++] = extra[k];
  names[nn] = NULL;
  memset(r, 0, sizeof *r);
  r->dim = -1;
  int top = lua_gettop(L), i = first;
  bool ddof_set = false;
  if (i <= top && !lua_istable(L, i) && !lua_isboolean(L, i)) r->dim = tideL_optdim(L, i++, a);
  for (; i <= top; i++) {
    int t = lua_type(L, i);
    if (t == LUA_TNIL) continue;
    if (t == LUA_TBOOLEAN) { /* a:sum(1, true): keepdims, as torch's keepdim */
      r->keepdims = lua_toboolean(L, i);
    } else if (t == LUA_TNUMBER && has_ddof && !ddof_set) { /* a:var(dim, ddof) */
      lua_Integer v = luaL_checkinteger(L, i);
      luaL_argcheck(L, v >= 0 && v <= 1 << 30, i, "ddof must be a small non-negative integer");
      r->ddof = (int)v;
      ddof_set = true;
    } else if (t == LUA_TTABLE && i == top) {
      tideL_checkopts(L, i, fname, names);
      r->opts = i;
      r->keepdims = tideL_optbool(L, i, "keepdims", r->keepdims);
      r->skipnan = tideL_optbool(L, i, "skipnan", 0);
      if (has_ddof) {
        lua_getfield(L, i, "ddof");
        if (!lua_isnil(L, -1)) {
          int isnum;
          lua_Integer v = lua_tointegerx(L, -1, &isnum);
          if (!isnum || v < 0 || v > 1 << 30)
            luaL_argerror(L, i, "option 'ddof' must be a small non-negative integer");
          r->ddof = (int)v;
        }
        lua_pop(L, 1);
      }
    } else {
      luaL_argerror(L, i, lua_pushfstring(L, "%s expected, got %s",
                                          t == LUA_TTABLE ? "options table as the last argument"
                                                          : "options table",
                                          luaL_typename(L, i)));
    }
  }
}

int tideL_pushreduced(lua_State *L, tide_Array *out, const tide_Array *a, int dim,
                      bool keepdims) {
  if (keepdims) {
    int64_t shape[TIDE_MAXDIM];
    for (int d = 0; d < a->ndim; d++) shape[d] = dim < 0 || d == dim ? 1 : a->shape[d];
    tide_array_reshape_view(out, a->ndim, shape);
    return 1;
  }
  if (out->ndim == 0) { /* whole array, or the only dimension of a vector */
    tideL_pushelem(L, out->dtype, out->data);
    tide_array_close(out);
  }
  return 1;
}

static const char *const red_fnames[] = {"sum", "mean", "var", "std", "min", "max", "argmin",
                                         "argmax", "norm", "count", "any", "all", "prod"};

int tideL_reduce(lua_State *L, int op) {
  tide_Array *a = tideL_check(L, 1);
  tideL_RedArgs r;
  tideL_redargs(L, 2, a, red_fnames[op], NULL, &r);
  int ddof = r.ddof;
  if (op == TIDE_RARGMIN || op == TIDE_RARGMAX) ddof = 1; /* 1-based indices */
  tide_Array *out = tideL_push(L);
  int rc = tide_reduce_ex(op, a, r.dim, ddof, r.skipnan, out);
  if (rc == TIDE_ENOMEM || rc == TIDE_ENOSPC) {
    lua_gc(L, LUA_GCCOLLECT);
    rc = tide_reduce_ex(op, a, r.dim, ddof, r.skipnan, out);
  }
  if (rc) {
    if (rc == TIDE_ERANGE) tideL_argraise(L, 2, rc);
    tideL_raise(L, rc);
  }
  return tideL_pushreduced(L, out, a, r.dim, r.keepdims);
}

static int r_prod(lua_State *L) { return tideL_reduce(L, TIDE_RPROD); }

/* ------------------------------------------------------------ math */

static int mathfn(lua_State *L, int op) {
  if (lua_type(L, 1) == LUA_TNUMBER) {
    if (op == TIDE_SIGN && lua_isinteger(L, 1)) {
      lua_Integer v = lua_tointeger(L, 1);
      lua_pushinteger(L, (v > 0) - (v < 0));
    } else if (op == TIDE_ISNAN || op == TIDE_ISFINITE) {
      lua_pushboolean(L, tide_math_f64(op, lua_tonumber(L, 1)) != 0);
    } else {
      lua_pushnumber(L, tide_math_f64(op, lua_tonumber(L, 1)));
    }
    return 1;
  }
  tide_Array *a = tideL_toarray(L, 1);
  if (!a) return luaL_argerror(L, 1, lua_pushfstring(L, "array or number expected, got %s",
                                                     luaL_typename(L, 1)));
  tide_Array *out = tideL_push(L);
  int rc = tide_math(op, a, out);
  if (rc) tideL_argraise(L, 1, rc);
  return 1;
}

#define MATHFN(NAME, OP) \
  static int m_##NAME(lua_State *L) { return mathfn(L, OP); }
MATHFN(sin, TIDE_SIN)
MATHFN(cos, TIDE_COS)
MATHFN(tan, TIDE_TAN)
MATHFN(asin, TIDE_ASIN)
MATHFN(acos, TIDE_ACOS)
MATHFN(atan, TIDE_ATAN)
MATHFN(sinh, TIDE_SINH)
MATHFN(cosh, TIDE_COSH)
MATHFN(tanh, TIDE_TANH)
MATHFN(log1p, TIDE_LOG1P)
MATHFN(expm1, TIDE_EXPM1)
MATHFN(log2, TIDE_LOG2)
MATHFN(log10, TIDE_LOG10)
MATHFN(sign, TIDE_SIGN)
MATHFN(isnan, TIDE_ISNAN)
MATHFN(isfinite, TIDE_ISFINITE)

static void check_operand(lua_State *L, int i, tide_Operand *o) {
  tide_Array *a = tideL_toarray(L, i);
  if (a) *o = tide_op_array(a);
  else if (lua_isinteger(L, i)) *o = tide_op_int(lua_tointeger(L, i));
  else if (lua_type(L, i) == LUA_TNUMBER) *o = tide_op_float(lua_tonumber(L, i));
  else luaL_argerror(L, i, lua_pushfstring(L, "array or number expected, got %s",
                                           luaL_typename(L, i)));
}

/* tide.atan2(y, x), a:atan2(x): either may be a number. */
static int m_atan2(lua_State *L) {
  tide_Operand y, x;
  check_operand(L, 1, &y);
  check_operand(L, 2, &x);
  if (!y.arr && !x.arr) {
    lua_pushnumber(L, atan2(lua_tonumber(L, 1), lua_tonumber(L, 2)));
    return 1;
  }
  tide_Array *out = tideL_push(L);
  int rc = tide_atan2(&y, &x, out);
  if (rc) tideL_argraise(L, 2, rc);
  return 1;
}

/* ------------------------------------------------------------ cumulative */

static int cumulative(lua_State *L, bool prod) {
  tide_Array *a = tideL_check(L, 1);
  int dim = tideL_optdim(L, 2, a);
  tide_Array *out = tideL_push(L);
  int rc = prod ? tide_cumprod(a, dim, out) : tide_cumsum(a, dim, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}
static int c_cumsum(lua_State *L) { return cumulative(L, false); }
static int c_cumprod(lua_State *L) { return cumulative(L, true); }

/* a:diff([dim] [, n]): numpy's diff along dim (the last by default), n times. */
static int c_diff(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  luaL_argcheck(L, a->ndim >= 1, 1, "diff needs an array of 1 or more dimensions");
  int dim = lua_isnoneornil(L, 2) ? a->ndim - 1 : tideL_optdim(L, 2, a);
  lua_Integer n = luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, n >= 0 && n <= 1 << 30, 3, "order must be a non-negative integer");
  tide_Array *out = tideL_push(L);
  int rc = tide_diff(a, dim, (int)n, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}

/* ------------------------------------------------------------ summaries */

/* tide.bincount(idx [, weights] [, {minlength =}]) */
static int s_bincount(lua_State *L) {
  tide_Array *idx = tideL_checklike(L, 1);
  int o = 2;
  tide_Array *w = NULL;
  if (!lua_isnoneornil(L, 2) && (!lua_istable(L, 2) || lua_istable(L, 3) || luaL_len(L, 2) > 0)) {
    w = tideL_checklike(L, 2);
    o = 3;
  } else if (lua_isnil(L, 2)) {
    o = 3;
  }
  static const char *const names[] = {"minlength", NULL};
  tideL_checkopts(L, o, "tide.bincount", names);
  lua_Integer minlength = tideL_optint(L, o, "minlength", 0);
  luaL_argcheck(L, minlength >= 0, o, "minlength must be >= 0");
  tide_Array *out = tideL_push(L);
  int rc = tide_bincount(idx, w, minlength, out);
  if (rc) tideL_argraise(L, rc == TIDE_ESHAPE && w ? 2 : 1, rc);
  return 1;
}

/* tide.histogram(a, bins [, {range = {lo, hi}, weights =, density =}])
** -> counts, edges */
static int s_histogram(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  static const char *const names[] = {"range", "weights", "density", NULL};
  tideL_checkopts(L, 3, "tide.histogram", names);
  int64_t nbins = 10;
  tide_Array *edges = NULL;
  if (lua_isinteger(L, 2)) {
    nbins = lua_tointeger(L, 2);
    luaL_argcheck(L, nbins >= 1, 2, "the number of bins must be >= 1");
  } else if (!lua_isnoneornil(L, 2)) {
    edges = tideL_toarray(L, 2);
    if (!edges && lua_istable(L, 2)) { /* a table of edges */
      int64_t n = (int64_t)luaL_len(L, 2);
      edges = tideL_push(L);
      int rc = tide_array_new(edges, TIDE_F64, 1, &n, TIDE_WHERE_HEAP);
      if (rc) return tideL_raise(L, rc);
      for (int64_t i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        int isnum;
        ((double *)edges->data)[i] = lua_tonumberx(L, -1, &isnum);
        if (!isnum) luaL_argerror(L, 2, "bin edges must be numbers");
        lua_pop(L, 1);
      }
      lua_replace(L, 2);
    }
    if (!edges) luaL_typeerror(L, 2, "bin count or edges");
  }
  double lo = NAN, hi = NAN;
  tide_Array *w = NULL;
  bool density = false;
  lua_settop(L, 3);
  if (lua_istable(L, 3)) {
    if (lua_getfield(L, 3, "range") != LUA_TNIL) {
      luaL_argcheck(L, lua_istable(L, -1) && luaL_len(L, -1) == 2, 3,
                    "option 'range' must be a table {lo, hi}");
      lua_geti(L, -1, 1);
      lua_geti(L, -2, 2);
      int ok1, ok2;
      lo = lua_tonumberx(L, -2, &ok1);
      hi = lua_tonumberx(L, -1, &ok2);
      luaL_argcheck(L, ok1 && ok2, 3, "option 'range' must hold two numbers");
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "weights") != LUA_TNIL) { /* stays at 4 while we work */
      w = tideL_toarray(L, 4);
      luaL_argcheck(L, w != NULL, 3, "option 'weights' must be an array");
    }
    density = tideL_optbool(L, 3, "density", 0);
  }
  lua_settop(L, 4);
  tide_Array *h = tideL_push(L), *e = tideL_push(L);
  int rc = tide_histogram(a, nbins, lo, hi, edges, w, density, h, e);
  if (rc) tideL_raise(L, rc);
  return 2;
}

static int cov(lua_State *L, bool corr) {
  const char *fname = corr ? "tide.corrcoef" : "tide.cov";
  tide_Array *x = tideL_check(L, 1), *y = NULL;
  int o = 2;
  if (tideL_toarray(L, 2)) {
    y = tideL_check(L, 2);
    o = 3;
  }
  static const char *const names[] = {"rowvar", "ddof", NULL};
  static const char *const cnames[] = {"rowvar", NULL};
  tideL_checkopts(L, o, fname, corr ? cnames : names);
  bool rowvar = tideL_optbool(L, o, "rowvar", 1);
  lua_Integer ddof = tideL_optint(L, o, "ddof", 1);
  luaL_argcheck(L, ddof >= 0 && ddof <= 1 << 30, o, "ddof must be a small non-negative integer");
  tide_Array *out = tideL_push(L);
  int rc = tide_cov(x, y, rowvar, (int)ddof, corr, out);
  if (rc) tideL_raise(L, rc);
  if (out->shape[0] == 1) { /* numpy squeezes one variable to a scalar */
    lua_pushnumber(L, *(double *)out->data);
    tide_array_close(out);
  }
  return 1;
}
static int s_cov(lua_State *L) { return cov(L, false); }
static int s_corrcoef(lua_State *L) { return cov(L, true); }

void tideB_open_stats(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"prod", r_prod}, {"sin", m_sin}, {"cos", m_cos}, {"tan", m_tan}, {"asin", m_asin},
    {"acos", m_acos}, {"atan", m_atan}, {"sinh", m_sinh}, {"cosh", m_cosh}, {"tanh", m_tanh},
    {"log1p", m_log1p}, {"expm1", m_expm1}, {"log2", m_log2}, {"log10", m_log10},
    {"sign", m_sign}, {"isnan", m_isnan}, {"isfinite", m_isfinite}, {"atan2", m_atan2},
    {"cumsum", c_cumsum}, {"cumprod", c_cumprod}, {"diff", c_diff}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"prod", r_prod}, {"sin", m_sin}, {"cos", m_cos}, {"tan", m_tan}, {"asin", m_asin},
    {"acos", m_acos}, {"atan", m_atan}, {"sinh", m_sinh}, {"cosh", m_cosh}, {"tanh", m_tanh},
    {"log1p", m_log1p}, {"expm1", m_expm1}, {"log2", m_log2}, {"log10", m_log10},
    {"sign", m_sign}, {"isnan", m_isnan}, {"isfinite", m_isfinite}, {"atan2", m_atan2},
    {"cumsum", c_cumsum}, {"cumprod", c_cumprod}, {"diff", c_diff},
    {"bincount", s_bincount}, {"histogram", s_histogram}, {"cov", s_cov},
    {"corrcoef", s_corrcoef}, {NULL, NULL}};
  tideL_addmethods(L, methods);
  luaL_setfuncs(L, funcs, 0);
}
