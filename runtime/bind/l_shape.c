/*
** l_shape.c -- Lua bindings for joining, splitting, repeating and
** reordering arrays, diagonals and triangles, the *_like constructors and
** boolean masks.  Rules live in shape.h.
**
**   tide.concat({a, b, ...} [, dim])   tide.stack({a, b, ...} [, dim])
**   a:split(k | {sizes} [, dim])  -> a table of views
**   a:flatten()  a:squeeze([dim])  a:unsqueeze(dim)  a:flip([dim])   (views but flatten)
**   a:roll(k [, dim])  a:tile(reps...)  a:repeat_each(k | counts [, dim])
**   tide.zeros_like(a [, dtype | opts])  ones_like  full_like(a, v [, dtype | opts])
**   tide.diag(v | A [, k])  a:trace([k])  tide.outer(u, v)  tide.tril(A [, k])  tide.triu
**   a[mask]  a[mask] = v
** Dimensions are 1-based; negative ones count from the end.
*/
#include <string.h>

#include "bind.h"
#include "shape.h"
#include "stats.h"

/* A 1-based dimension at arg i for an array of ndim dimensions (count:
** how many positions are valid, ndim or ndim + 1 for a new dimension);
** dflt (0-based) when absent. */
static int check_dim(lua_State *L, int i, int count, int dflt) {
  if (lua_isnoneornil(L, i)) return dflt;
  int isnum;
  lua_Integer d = lua_tointegerx(L, i, &isnum);
  if (!isnum) luaL_typeerror(L, i, "integer dimension");
  lua_Integer orig = d;
  if (d < 0) d += count + 1;
  if (d < 1 || d > count)
    luaL_argerror(L, i, lua_pushfstring(L, "dimension %I out of range (1..%d)", orig, count));
  return (int)d - 1;
}

/* tide.concat / tide.stack: the list at 1, the dimension at 2.  The
** arrays (rowsets as their arrays) are kept on the stack while we work. */
static int join(lua_State *L, bool stack) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 1);
  luaL_argcheck(L, n >= 1, 1, "a list of one or more arrays expected");
  luaL_argcheck(L, n <= 1 << 20, 1, "too many arrays");
  lua_settop(L, 2);
  const tide_Array **arrs = lua_newuserdatauv(L, (size_t)n * sizeof *arrs, 0);
  luaL_checkstack(L, (int)n + 8, "too many arrays");
  for (lua_Integer k = 1; k <= n; k++) {
    lua_geti(L, 1, k);
    tide_Array *a = tideL_toarray(L, -1);
    if (!a)
      luaL_argerror(L, 1, lua_pushfstring(L, "entry %I is %s, not an array", k,
                                          luaL_typename(L, -1)));
    arrs[k - 1] = a;
  }
  int nd = arrs[0]->ndim;
  int dim = check_dim(L, 2, stack ? nd + 1 : nd, 0);
  tide_Array *out = tideL_push(L);
  int rc = stack ? tide_stack((int)n, (const tide_Array *const *)arrs, dim, out)
                 : tide_concat((int)n, (const tide_Array *const *)arrs, dim, out);
  if (rc) tideL_argraise(L, 1, rc);
  return 1;
}
static int l_concat(lua_State *L) { return join(L, false); }
static int l_stack(lua_State *L) { return join(L, true); }

/* a:split(k | {sizes} [, dim]): k equal parts or parts of the given sizes,
** views of a, in a table. */
#define SPLIT_MAX (1 << 20)

static int a_split(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  luaL_argcheck(L, a->ndim >= 1, 1, "a 0-dimensional array cannot be split");
  int dim = check_dim(L, 3, a->ndim, 0);
  int64_t len = a->shape[dim];
  if (lua_isinteger(L, 2)) {
    lua_Integer k = lua_tointeger(L, 2);
    luaL_argcheck(L, k >= 1, 2, "the number of parts must be >= 1");
    /* each part is a view (a userdata): 2^40 parts of an empty dimension
    ** grew the heap until the process was killed (fuzz_api) */
    if (k > SPLIT_MAX)
      return luaL_argerror(L, 2, lua_pushfstring(L, "%I parts: at most %d", k, SPLIT_MAX));
    if (len % k != 0)
      return luaL_argerror(L, 2, lua_pushfstring(L, "%I equal parts of a dimension of size %I "
                           "(give the sizes as a table)", k, (lua_Integer)len));
    lua_createtable(L, (int)k, 0);
    for (lua_Integer i = 0; i < k; i++) {
      tide_Array *v = tideL_push(L);
      tide_array_view(v, a);
      tide_array_slice(v, dim, i * (len / k), (i + 1) * (len / k), 1);
      lua_rawseti(L, -2, i + 1);
    }
    return 1;
  }
  luaL_argcheck(L, lua_istable(L, 2), 2, "a number of parts or a table of sizes expected");
  lua_Integer n = luaL_len(L, 2), total = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    int isnum;
    lua_Integer s = lua_tointegerx(L, -1, &isnum);
    if (!isnum || s < 0)
      luaL_argerror(L, 2, lua_pushfstring(L, "size %I must be a non-negative integer", i));
    if (s > len - total) /* before the sum: sizes near 2^63 overflow it */
      luaL_argerror(L, 2, lua_pushfstring(L, "sizes add up to more than the dimension's "
                    "size %I", (lua_Integer)len));
    total += s;
    lua_pop(L, 1);
  }
  if (total != len)
    return luaL_argerror(L, 2, lua_pushfstring(L, "sizes add up to %I, not to the dimension's "
                         "size %I", total, (lua_Integer)len));
  lua_createtable(L, (int)n, 0);
  int64_t off = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    int64_t s = lua_tointeger(L, -1);
    lua_pop(L, 1);
    tide_Array *v = tideL_push(L);
    tide_array_view(v, a);
    tide_array_slice(v, dim, off, off + s, 1);
    lua_rawseti(L, -2, i);
    off += s;
  }
  return 1;
}

static int a_flatten(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  tide_Array *out = tideL_push(L);
  int rc = tide_array_copy(a, -1, out);
  if (rc) return tideL_raise(L, rc);
  int64_t n = tide_array_size(a);
  tide_array_reshape_view(out, 1, &n);
  return 1;
}

/* View edits: a fresh view of arg 1 passed to edit. */
static int view_edit(lua_State *L, tide_Array *a, int (*edit)(tide_Array *, int), int dim, int arg) {
  tide_Array *v = tideL_push(L);
  tide_array_view(v, a);
  int rc = edit(v, dim);
  if (rc) tideL_argraise(L, arg, rc);
  return 1;
}

static int a_squeeze(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  return view_edit(L, a, tide_array_squeeze, check_dim(L, 2, a->ndim, -1), 2);
}

static int a_unsqueeze(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  luaL_checkany(L, 2);
  return view_edit(L, a, tide_array_unsqueeze, check_dim(L, 2, a->ndim + 1, 0), 2);
}

static int a_flip(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  if (!lua_isnoneornil(L, 2)) return view_edit(L, a, tide_array_flip, check_dim(L, 2, a->ndim, 0), 2);
  tide_Array *v = tideL_push(L);
  tide_array_view(v, a);
  for (int d = 0; d < v->ndim; d++) tide_array_flip(v, d);
  return 1;
}

static int a_roll(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  lua_Integer k = luaL_checkinteger(L, 2);
  int dim = check_dim(L, 3, a->ndim, -1);
  tide_Array *out = tideL_push(L);
  int rc = tide_roll(a, k, dim, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}

/* Counts from numbers (first..top) or one table at first. */
static int counts_arg(lua_State *L, int first, int64_t *c, int max) {
  int n = 0;
  if (lua_istable(L, first)) {
    lua_Integer len = luaL_len(L, first);
    luaL_argcheck(L, len <= max, first, "too many repetitions");
    for (lua_Integer i = 1; i <= len; i++) {
      lua_geti(L, first, i);
      int isnum;
      c[n++] = lua_tointegerx(L, -1, &isnum);
      if (!isnum) luaL_argerror(L, first, "repetitions must be integers");
      lua_pop(L, 1);
    }
    return n;
  }
  for (int i = first; i <= lua_gettop(L); i++) {
    luaL_argcheck(L, n < max, i, "too many repetitions");
    c[n++] = luaL_checkinteger(L, i);
  }
  luaL_argcheck(L, n > 0, first, "repetitions expected (numbers or a table)");
  return n;
}

static int a_tile(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int64_t reps[TIDE_MAXDIM];
  int n = counts_arg(L, 2, reps, TIDE_MAXDIM);
  tide_Array *out = tideL_push(L);
  int rc = tide_tile(a, n, reps, out);
  if (rc) tideL_argraise(L, 2, rc);
  return 1;
}

/* a:repeat_each(k | counts [, dim]): numpy's repeat; without dim, of the
** flattened array. */
static int a_repeat_each(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int dim = check_dim(L, 3, a->ndim, -1);
  int64_t one, *counts = &one, n = 1;
  if (lua_isinteger(L, 2)) {
    one = lua_tointeger(L, 2);
  } else {
    tide_Array *c = tideL_checklike(L, 2);
    luaL_argcheck(L, c->ndim == 1 && !tide_dtype_isfloat(c->dtype), 2,
                  "repeat counts must be an integer or a 1-D list of integers");
    n = c->shape[0];
    counts = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *counts, 0);
    for (int64_t i = 0; i < n; i++) counts[i] = tide_load_i64(c->dtype, c->data + i * c->strides[0]);
    if (n == 1) { one = counts[0]; counts = &one; }
  }
  tide_Array *out = tideL_push(L);
  int rc = tide_repeat(a, counts, n, dim, out);
  if (rc) tideL_argraise(L, 2, rc);
  return 1;
}

/* tide.zeros_like(a [, dtype | opts]), ones_like, full_like(a, v, ...):
** a's shape and dtype unless given. */
static int like(lua_State *L, int what) {
  tide_Array *a = tideL_check(L, 1);
  if (what == 2) luaL_checkany(L, 2);
  int where, dt = tideL_ctor_opts(L, what == 2 ? 3 : 2, a->dtype, &where);
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, dt, a->ndim, a->shape, where);
  if (rc) return tideL_raise(L, rc);
  if (what == 0) return 1;
  unsigned char elem[8];
  if (what == 1) tide_store_i64(dt, elem, 1);
  else tideL_toelem(L, 2, dt, elem);
  size_t isz = (size_t)tide_dtype_size(dt);
  int64_t n = tide_array_size(out);
  for (int64_t i = 0; i < n; i++) memcpy(out->data + (size_t)i * isz, elem, isz);
  return 1;
}
static int l_zeros_like(lua_State *L) { return like(L, 0); }
static int l_ones_like(lua_State *L) { return like(L, 1); }
static int l_full_like(lua_State *L) { return like(L, 2); }

static int l_diag(lua_State *L) {
  tide_Array *a = tideL_checklike(L, 1);
  lua_Integer k = luaL_optinteger(L, 2, 0);
  tide_Array *out = tideL_push(L);
  int rc = tide_diag(a, k, out);
  if (rc) tideL_argraise(L, 1, rc);
  return 1;
}

/* a:trace([k]): the sum of diagonal k (numpy's dtype: integers stay). */
static int a_trace(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  lua_Integer k = luaL_optinteger(L, 2, 0);
  tide_Array v = *a, out;
  int rc = tide_array_diagonal(&v, k);
  if (rc) return tideL_argraise(L, 1, rc);
  if ((rc = tide_reduce(TIDE_RSUM, &v, -1, 0, &out))) return tideL_raise(L, rc);
  tideL_pushelem(L, out.dtype, out.data);
  tide_array_close(&out);
  return 1;
}

static int l_outer(lua_State *L) {
  tide_Array *u = tideL_checklike(L, 1), *v = tideL_checklike(L, 2);
  tide_Array *out = tideL_push(L);
  int rc = tide_outer(u, v, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}

static int tri(lua_State *L, int upper) {
  tide_Array *a = tideL_check(L, 1);
  lua_Integer k = luaL_optinteger(L, 2, 0);
  tide_Array *out = tideL_push(L);
  int rc = tide_tri(a, k, upper, out);
  if (rc) tideL_argraise(L, 1, rc);
  return 1;
}
static int l_tril(lua_State *L) { return tri(L, 0); }
static int l_triu(lua_State *L) { return tri(L, 1); }

/* ------------------------------------------------------------ masks */

static tide_Array *check_mask(lua_State *L, int i) {
  tide_Array *m = tideL_toarray(L, i);
  if (!m) luaL_error(L, "an array index must be a number or a bool mask, not %s",
                     luaL_typename(L, i));
  return m;
}

int tideL_mask_index(lua_State *L) {
  tide_Array *a = tideL_check(L, 1), *m = check_mask(L, 2);
  tide_Array *out = tideL_push(L);
  int rc = tide_mask_get(a, m, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}

int tideL_mask_newindex(lua_State *L) {
  tide_Array *a = tideL_check(L, 1), *m = check_mask(L, 2);
  tideL_checkwritable(L, a, "__newindex");
  tide_Operand v;
  if (lua_isboolean(L, 3)) v = tide_op_bool(lua_toboolean(L, 3));
  else if (lua_isinteger(L, 3)) v = tide_op_int(lua_tointeger(L, 3));
  else if (lua_type(L, 3) == LUA_TNUMBER) v = tide_op_float(lua_tonumber(L, 3));
  else if (tideL_toarray(L, 3) || lua_istable(L, 3)) v = tide_op_array(tideL_checklike(L, 3));
  else return luaL_error(L, "a masked assignment takes a number, a boolean or an array, not %s",
                         luaL_typename(L, 3));
  int rc = tide_mask_set(a, m, &v);
  if (rc) tideL_raise(L, rc);
  return 0;
}

void tideB_open_shape(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"split", a_split}, {"flatten", a_flatten}, {"squeeze", a_squeeze},
    {"unsqueeze", a_unsqueeze}, {"flip", a_flip}, {"roll", a_roll}, {"tile", a_tile},
    {"repeat_each", a_repeat_each}, {"trace", a_trace}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"concat", l_concat}, {"stack", l_stack}, {"zeros_like", l_zeros_like},
    {"ones_like", l_ones_like}, {"full_like", l_full_like}, {"diag", l_diag},
    {"outer", l_outer}, {"tril", l_tril}, {"triu", l_triu}, {NULL, NULL}};
  tideL_addmethods(L, methods);
  luaL_setfuncs(L, funcs, 0);
}
