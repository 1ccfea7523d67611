/*
** l_ops.c -- Lua bindings for arithmetic (metamethods and methods),
** comparisons, math, reductions, where and matmul.  Rules live in ops.h.
**
**   a + b  a - b  a * b  a / b  a // b  a % b  a ^ b  -a      (b: array or number)
**   a:add(b) sub mul div idiv mod pow maximum minimum         new arrays
**   a:add_(b) sub_ mul_ div_ idiv_ mod_ pow_                  in place, return a
**   a:neg() abs sqrt exp log floor ceil round, a:clamp(lo, hi), a:clamp_(lo, hi)
**   a:lt(b) le gt ge eq ne, a:land(b) lor lxor, a:logical_not()   bool masks
**   a:sum([dim] [, opts]) mean var([dim [, ddof]]) std min max argmin argmax norm
**   a:count([dim]) any all                                    (also tide.sum(a) ...)
**   tide.where(mask, x, y), tide.where(mask) -> 1-based flat indices
**   tide.matmul(a, b), a:dot(b), a:matmul(b)
** Dimensions are 1-based (negative count from the end); reductions over
** the whole array, or over the only dimension of a vector, give a Lua
** number (an integer for integer sums, min/max and arg indices).
**
** Lua's == cannot return an array and is left alone: `a == b` compares
** identity.  Use a:eq(b) for an elementwise mask; < and <= are not defined
** (use a:lt(b), a:le(b)).
*/
#include <limits.h>
#include <math.h>
#include <string.h>

#include "bind.h"
#include "ops.h"

/* Lua's collector sees an array as a small userdata.  Telling it about
** the bytes behind each big result makes it collect dead temporaries (and
** their shared segments) in loops such as `for i = 1, n do c = a + b end`
** instead of letting them pile up in /dev/shm. */
static void gc_hint(lua_State *L, const tide_Array *a) {
  size_t kb = (size_t)tide_array_size(a) * (size_t)tide_dtype_size(a->dtype) >> 10;
  if (kb >= 1024) lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

/* rc = CALL, and when memory or /dev/shm ran out, once more after a full
** collection (dead temporaries may hold the space). */
#define RETRY(rc, CALL)                                   \
  do {                                                    \
    rc = (CALL);                                          \
    if (rc == TIDE_ENOMEM || rc == TIDE_ENOSPC) {         \
      lua_gc(L, LUA_GCCOLLECT);                           \
      rc = (CALL);                                        \
    }                                                     \
  } while (0)

/* Raises an argument error.  Metamethods get their full name ('__add'):
** Lua's own argument errors would call them 'add'. */
static int op_argerror(lua_State *L, int arg, const char *fname, const char *msg) {
  if (fname[0] == '_') return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, fname, msg);
  return luaL_argerror(L, arg, msg);
}

static int op_raise(lua_State *L, int arg, const char *fname, int rc) {
  if (rc == TIDE_ENOMEM || rc == TIDE_ENOSPC || rc == TIDE_EIO) return tideL_raise(L, rc);
  const char *m = tide_lasterror();
  return op_argerror(L, arg, fname, m[0] ? m : tide_strerror(rc));
}

/* Argument i as an operand: an open array, a number, or (when allowed) a
** boolean. */
static void check_operand(lua_State *L, int i, tide_Operand *o, bool allow_bool,
                          const char *fname) {
  tide_Array *a = tideL_test(L, i);
  if (!a && tideL_testrowset(L, i)) a = tideL_toarray(L, i); /* its rows, read-only */
  if (a) {
    if (!a->storage) op_argerror(L, i, fname, "array is closed");
    *o = tide_op_array(a);
  } else if (lua_isinteger(L, i)) {
    *o = tide_op_int(lua_tointeger(L, i));
  } else if (lua_type(L, i) == LUA_TNUMBER) {
    *o = tide_op_float(lua_tonumber(L, i));
  } else if (allow_bool && lua_isboolean(L, i)) {
    *o = tide_op_bool(lua_toboolean(L, i));
  } else {
    op_argerror(L, i, fname, lua_pushfstring(L, "%s expected, got %s",
                allow_bool ? "array, number or boolean" : "array or number",
                luaL_typename(L, i)));
  }
}

static int binop(lua_State *L, int op, const char *fname) {
  tide_Operand a, b;
  bool logic = op >= TIDE_LT;
  check_operand(L, 1, &a, logic, fname);
  check_operand(L, 2, &b, logic, fname);
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_binop(op, &a, &b, out));
  if (rc) op_raise(L, 2, fname, rc);
  gc_hint(L, out);
  return 1;
}

static int inplace(lua_State *L, int op, const char *fname) {
  tide_Array *a = tideL_check(L, 1);
  tide_Operand b;
  check_operand(L, 2, &b, false, fname);
  tideL_checkwritable(L, a, fname);
  int rc;
  RETRY(rc, tide_binop_inplace(op, a, &b));
  if (rc) op_raise(L, 2, fname, rc);
  lua_settop(L, 1);
  return 1;
}

#define BINFN(NAME, OP)                                                      \
  static int mm_##NAME(lua_State *L) { return binop(L, OP, "__" #NAME); }   \
  static int f_##NAME(lua_State *L) { return binop(L, OP, #NAME); }         \
  static int f_##NAME##_(lua_State *L) { return inplace(L, OP, #NAME "_"); }
BINFN(add, TIDE_ADD)
BINFN(sub, TIDE_SUB)
BINFN(mul, TIDE_MUL)
BINFN(div, TIDE_DIV)
BINFN(idiv, TIDE_IDIV)
BINFN(mod, TIDE_MOD)
BINFN(pow, TIDE_POW)

#define CMPFN(NAME, OP) \
  static int f_##NAME(lua_State *L) { return binop(L, OP, #NAME); }
CMPFN(maximum, TIDE_MAX)
CMPFN(minimum, TIDE_MIN)
CMPFN(lt, TIDE_LT)
CMPFN(le, TIDE_LE)
CMPFN(gt, TIDE_GT)
CMPFN(ge, TIDE_GE)
CMPFN(eq, TIDE_EQ)
CMPFN(ne, TIDE_NE)
CMPFN(land, TIDE_LAND)
CMPFN(lor, TIDE_LOR)
CMPFN(lxor, TIDE_LXOR)

/* Unary ops; tide.sqrt(2) and friends also take plain numbers. */
static int unop(lua_State *L, int op, const char *fname) {
  if (lua_type(L, 1) == LUA_TNUMBER && op != TIDE_LNOT) {
    lua_Number x = lua_tonumber(L, 1);
    switch (op) {
      case TIDE_NEG:
        if (lua_isinteger(L, 1))
          lua_pushinteger(L, (lua_Integer)(0u - (lua_Unsigned)lua_tointeger(L, 1)));
        else
          lua_pushnumber(L, -x);
        break;
      case TIDE_ABS:
        if (lua_isinteger(L, 1)) {
          lua_Integer v = lua_tointeger(L, 1);
          lua_pushinteger(L, v < 0 ? (lua_Integer)(0u - (lua_Unsigned)v) : v);
        } else {
          lua_pushnumber(L, fabs(x));
        }
        break;
      case TIDE_SQRT: lua_pushnumber(L, sqrt(x)); break;
      case TIDE_EXP: lua_pushnumber(L, exp(x)); break;
      case TIDE_FLOOR: case TIDE_CEIL: case TIDE_ROUND:
        if (lua_isinteger(L, 1)) lua_pushvalue(L, 1);
        else if (op == TIDE_FLOOR) lua_pushnumber(L, floor(x));
        else if (op == TIDE_CEIL) lua_pushnumber(L, ceil(x));
        else lua_pushnumber(L, nearbyint(x));
        break;
      default: lua_pushnumber(L, log(x)); break;
    }
    return 1;
  }
  tide_Array *a = tideL_test(L, 1);
  if (!a && tideL_testrowset(L, 1)) a = tideL_toarray(L, 1); /* its rows, read-only */
  if (!a)
    op_argerror(L, 1, fname, lua_pushfstring(L, "array expected, got %s", luaL_typename(L, 1)));
  if (!a->storage) op_argerror(L, 1, fname, "array is closed");
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_unop(op, a, out));
  if (rc) op_raise(L, 1, fname, rc);
  gc_hint(L, out);
  return 1;
}

static int mm_unm(lua_State *L) { return unop(L, TIDE_NEG, "__unm"); }
static int f_neg(lua_State *L) { return unop(L, TIDE_NEG, "neg"); }
static int f_abs(lua_State *L) { return unop(L, TIDE_ABS, "abs"); }
static int f_sqrt(lua_State *L) { return unop(L, TIDE_SQRT, "sqrt"); }
static int f_exp(lua_State *L) { return unop(L, TIDE_EXP, "exp"); }
static int f_log(lua_State *L) { return unop(L, TIDE_LOG, "log"); }
static int f_lnot(lua_State *L) { return unop(L, TIDE_LNOT, "logical_not"); }
static int f_floor(lua_State *L) { return unop(L, TIDE_FLOOR, "floor"); }
static int f_ceil(lua_State *L) { return unop(L, TIDE_CEIL, "ceil"); }
static int f_round(lua_State *L) { return unop(L, TIDE_ROUND, "round"); }

/* a:clamp_(lo, hi): in place, returns a. */
static int f_clamp_(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  tide_Operand lo, hi;
  if (!lua_isnoneornil(L, 2)) check_operand(L, 2, &lo, false, "clamp_");
  if (!lua_isnoneornil(L, 3)) check_operand(L, 3, &hi, false, "clamp_");
  tideL_checkwritable(L, a, "clamp_");
  int rc = TIDE_OK;
  if (!lua_isnoneornil(L, 2)) rc = tide_binop_inplace(TIDE_MAX, a, &lo);
  if (!rc && !lua_isnoneornil(L, 3)) rc = tide_binop_inplace(TIDE_MIN, a, &hi);
  if (rc) tideL_argraise(L, 2, rc);
  lua_settop(L, 1);
  return 1;
}

/* a:clamp(lo, hi): either bound may be nil. */
static int f_clamp(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  tide_Operand lo, hi;
  bool hl = !lua_isnoneornil(L, 2), hh = !lua_isnoneornil(L, 3);
  if (hl) check_operand(L, 2, &lo, false, "clamp");
  if (hh) check_operand(L, 3, &hi, false, "clamp");
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_clamp(a, hl ? &lo : NULL, hh ? &hi : NULL, out));
  if (rc) tideL_argraise(L, 2, rc);
  gc_hint(L, out);
  return 1;
}

/* tide.where(mask, x, y) or tide.where(mask) -> 1-based flat indices. */
static int f_where(lua_State *L) {
  tide_Array *mask = tideL_check(L, 1);
  tide_Array *out;
  int rc;
  if (lua_gettop(L) == 1) {
    out = tideL_push(L);
    RETRY(rc, tide_nonzero(mask, 1, out));
    if (rc) tideL_raise(L, rc);
    gc_hint(L, out);
    return 1;
  }
  tide_Operand x, y;
  check_operand(L, 2, &x, true, "where");
  check_operand(L, 3, &y, true, "where");
  out = tideL_push(L);
  RETRY(rc, tide_where(mask, &x, &y, out));
  if (rc) tideL_argraise(L, 2, rc);
  gc_hint(L, out);
  return 1;
}

/* ------------------------------------------------------------ reductions */

/* Reductions parse their dimension and options, ddof, keepdims and
** skipnan, in l_stats.c (tideL_reduce). */
#define REDFN(NAME, OP) \
  static int r_##NAME(lua_State *L) { return tideL_reduce(L, OP); }
REDFN(sum, TIDE_RSUM)
REDFN(mean, TIDE_RMEAN)
REDFN(var, TIDE_RVAR)
REDFN(std, TIDE_RSTD)
REDFN(min, TIDE_RMIN)
REDFN(max, TIDE_RMAX)
REDFN(argmin, TIDE_RARGMIN)
REDFN(argmax, TIDE_RARGMAX)
REDFN(norm, TIDE_RNORM)
REDFN(count, TIDE_RCOUNT)
REDFN(any, TIDE_RANY)
REDFN(all, TIDE_RALL)

/* ------------------------------------------------------------ matmul */

static int f_matmul(lua_State *L) {
  tide_Array *a = tideL_check(L, 1), *b = tideL_check(L, 2);
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_matmul(a, b, out));
  if (rc) tideL_argraise(L, rc == TIDE_ESHAPE || (a->ndim >= 1 && a->ndim <= 2) ? 2 : 1, rc);
  if (out->ndim == 0) {
    tideL_pushelem(L, out->dtype, out->data);
    tide_array_close(out);
  } else {
    gc_hint(L, out);
  }
  return 1;
}

void tideB_open_ops(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__add", mm_add}, {"__sub", mm_sub}, {"__mul", mm_mul}, {"__div", mm_div},
    {"__idiv", mm_idiv}, {"__mod", mm_mod}, {"__pow", mm_pow}, {"__unm", mm_unm},
    {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"add", f_add}, {"sub", f_sub}, {"mul", f_mul}, {"div", f_div}, {"idiv", f_idiv},
    {"mod", f_mod}, {"pow", f_pow}, {"add_", f_add_}, {"sub_", f_sub_}, {"mul_", f_mul_},
    {"div_", f_div_}, {"idiv_", f_idiv_}, {"mod_", f_mod_}, {"pow_", f_pow_},
    {"maximum", f_maximum}, {"minimum", f_minimum},
    {"neg", f_neg}, {"abs", f_abs}, {"sqrt", f_sqrt}, {"exp", f_exp}, {"log", f_log},
    {"clamp", f_clamp}, {"clamp_", f_clamp_}, {"floor", f_floor}, {"ceil", f_ceil},
    {"round", f_round}, {"lt", f_lt}, {"le", f_le}, {"gt", f_gt}, {"ge", f_ge},
    {"eq", f_eq}, {"ne", f_ne}, {"land", f_land}, {"lor", f_lor}, {"lxor", f_lxor},
    {"logical_not", f_lnot},
    {"sum", r_sum}, {"mean", r_mean}, {"var", r_var}, {"std", r_std}, {"min", r_min},
    {"max", r_max}, {"argmin", r_argmin}, {"argmax", r_argmax}, {"norm", r_norm},
    {"count", r_count}, {"any", r_any}, {"all", r_all},
    {"dot", f_matmul}, {"matmul", f_matmul}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"matmul", f_matmul}, {"dot", f_matmul}, {"where", f_where},
    {"abs", f_abs}, {"sqrt", f_sqrt}, {"exp", f_exp}, {"log", f_log}, {"clamp", f_clamp},
    {"floor", f_floor}, {"ceil", f_ceil}, {"round", f_round}, {"maximum", f_maximum},
    {"minimum", f_minimum},
    {"sum", r_sum}, {"mean", r_mean}, {"var", r_var}, {"std", r_std}, {"min", r_min},
    {"max", r_max}, {"argmin", r_argmin}, {"argmax", r_argmax}, {"norm", r_norm},
    {NULL, NULL}};
  tideL_addmeta(L, meta);
  tideL_addmethods(L, methods);
  luaL_setfuncs(L, funcs, 0);
  tideB_open_stats(L);
  tideB_open_sort(L);
}
