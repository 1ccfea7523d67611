/*
** l_rowset.c -- tide.rowset: a sequence of row numbers stored as ranges.
**
** A k-fold split of a million rows without shuffling needs no index
** arrays: a test fold is one range, its training rows two.  A rowset says
** so in a few bytes, where i64 index arrays would take 8 bytes per row and
** fold (40 MB for 5 folds of 1e6 rows).  It reads like a 1-D index array
** (#s, s[i], s:slice(1, i, j), s:totable()) and is taken wherever row numbers
** are: `rows =` of the models and metrics, X:take(s), the cv splitters.
** s:array() materializes it as an i64 array.
**
** The userdata holds n, the number of ranges and the ranges as pairs
** (first row 0-based, count), the layout tide_Rows reads directly.
*/
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "bind.h"

#define ROWSET_MT "tide.rowset"

tideL_RowSet *tideL_newrowset(lua_State *L, int64_t nspan) {
  size_t sz = sizeof(tideL_RowSet) + (size_t)(nspan ? nspan : 1) * 2 * sizeof(int64_t);
  tideL_RowSet *s = lua_newuserdatauv(L, sz, 0);
  s->n = 0;
  s->nspan = 0;
  luaL_setmetatable(L, ROWSET_MT);
  return s;
}

/* Appends rows first..first+count-1 (0-based), merging with the last range
** when they touch. */
void tideL_rowset_append(tideL_RowSet *s, int64_t first, int64_t count) {
  if (count <= 0) return;
  int64_t *sp = s->span;
  if (s->nspan > 0 && sp[2 * s->nspan - 2] + sp[2 * s->nspan - 1] == first) {
    sp[2 * s->nspan - 1] += count;
  } else {
    sp[2 * s->nspan] = first;
    sp[2 * s->nspan + 1] = count;
    s->nspan++;
  }
  s->n += count;
}

tideL_RowSet *tideL_testrowset(lua_State *L, int i) {
  return luaL_testudata(L, i, ROWSET_MT);
}

/* 0-based row at 0-based position k (k < s->n). */
int64_t tideL_rowset_at(const tideL_RowSet *s, int64_t k) {
  for (int64_t j = 0; j < s->nspan; j++) {
    if (k < s->span[2 * j + 1]) return s->span[2 * j] + k;
    k -= s->span[2 * j + 1];
  }
  return -1;
}

static lua_Integer checkrow(lua_State *L, int i, const char *what) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, i, &isnum);
  if (!isnum)
    luaL_error(L, "bad argument to 'rowset' (%s must be an integer, got %s)", what,
               luaL_typename(L, i));
  if (v < 1 || v > ((lua_Integer)1 << 53))
    luaL_error(L, "bad argument to 'rowset' (%s %I is not a row number >= 1)", what, v);
  return v;
}

/* tide.rowset(first, last) -> rows first..last (empty when last < first)
** tide.rowset{{a, b}, {c, d}, ...} -> rows a..b, then c..d, ... */
static int r_new(lua_State *L) {
  if (lua_istable(L, 1)) {
    int64_t m = (int64_t)luaL_len(L, 1);
    tideL_RowSet *s = tideL_newrowset(L, m);
    for (int64_t j = 1; j <= m; j++) {
      if (lua_geti(L, 1, j) != LUA_TTABLE)
        return luaL_error(L, "bad argument #1 to 'rowset' (range %I must be a table {first, last})",
                          (lua_Integer)j);
      lua_geti(L, -1, 1);
      lua_geti(L, -2, 2);
      lua_Integer a = checkrow(L, -2, "a range's first row");
      lua_Integer b = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || b < a - 1)
        return luaL_error(L, "bad argument #1 to 'rowset' (range %I: last row must be an integer"
                          " >= first - 1)", (lua_Integer)j);
      lua_pop(L, 3);
      tideL_rowset_append(s, a - 1, b - a + 1);
    }
    return 1;
  }
  lua_Integer a = checkrow(L, 1, "first row");
  lua_Integer b = luaL_checkinteger(L, 2);
  luaL_argcheck(L, b >= a - 1, 2, "last row must be >= first - 1");
  tideL_RowSet *s = tideL_newrowset(L, 1);
  tideL_rowset_append(s, a - 1, b - a + 1);
  return 1;
}

static tideL_RowSet *check(lua_State *L, int i) { return luaL_checkudata(L, i, ROWSET_MT); }

static int r_len(lua_State *L) {
  lua_pushinteger(L, check(L, 1)->n);
  return 1;
}

/* s:slice(1, first, last) (as an array's slice) or s:slice(first, last):
** positions first..last, 1-based, negative counting from the end. */
static int r_slice(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  int a = 2;
  if (lua_gettop(L) >= 4) {
    luaL_argcheck(L, luaL_checkinteger(L, 2) == 1, 2, "a rowset has one dimension");
    a = 3;
  }
  lua_Integer i = luaL_checkinteger(L, a), j = luaL_optinteger(L, a + 1, -1);
  if (i < 0) i += s->n + 1;
  if (j < 0) j += s->n + 1;
  if (i < 1 || i > s->n + 1 || j < i - 1 || j > s->n)
    return luaL_error(L, "bad argument to 'slice' (positions %I..%I outside 1..%I)",
                      lua_tointeger(L, a), (lua_Integer)luaL_optinteger(L, a + 1, -1),
                      (lua_Integer)s->n);
  tideL_RowSet *o = tideL_newrowset(L, s->nspan);
  int64_t pos = 0; /* 0-based position of the current range's first row */
  for (int64_t k = 0; k < s->nspan; k++) {
    int64_t f = s->span[2 * k], c = s->span[2 * k + 1];
    int64_t lo = i - 1 > pos ? i - 1 : pos, hi = j < pos + c ? j : pos + c; /* [lo, hi) */
    if (hi > lo) tideL_rowset_append(o, f + (lo - pos), hi - lo);
    pos += c;
  }
  return 1;
}

void tideL_rowset_expand(const tideL_RowSet *s, int64_t *out, int64_t base) {
  for (int64_t k = 0; k < s->nspan; k++)
    for (int64_t r = 0; r < s->span[2 * k + 1]; r++) *out++ = s->span[2 * k] + r + base;
}

static int r_array(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  int64_t n = s->n;
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, TIDE_I64, 1, &n, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) return tideL_raise(L, rc);
  tideL_rowset_expand(s, (int64_t *)a->data, 1);
  return 1;
}

static int r_totable(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  lua_createtable(L, s->n < INT32_MAX ? (int)s->n : 0, 0);
  lua_Integer m = 0;
  for (int64_t k = 0; k < s->nspan; k++)
    for (int64_t r = 0; r < s->span[2 * k + 1]; r++) {
      lua_pushinteger(L, s->span[2 * k] + r + 1);
      lua_rawseti(L, -2, ++m);
    }
  return 1;
}

static int r_ranges(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  lua_createtable(L, (int)s->nspan, 0);
  for (int64_t k = 0; k < s->nspan; k++) {
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, s->span[2 * k] + 1);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, s->span[2 * k] + s->span[2 * k + 1]);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

static int r_tostring(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "rowset(");
  for (int64_t k = 0; k < s->nspan && k < 6; k++) {
    if (k) luaL_addstring(&b, ", ");
    lua_pushfstring(L, "%I..%I", (lua_Integer)(s->span[2 * k] + 1),
                    (lua_Integer)(s->span[2 * k] + s->span[2 * k + 1]));
    luaL_addvalue(&b);
  }
  if (s->nspan > 6) luaL_addstring(&b, ", ...");
  lua_pushfstring(L, "): %I rows", (lua_Integer)s->n);
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return 1;
}

static int r_eq(lua_State *L) {
  tideL_RowSet *a = tideL_testrowset(L, 1), *b = tideL_testrowset(L, 2);
  lua_pushboolean(L, a && b && a->n == b->n && a->nspan == b->nspan &&
                         memcmp(a->span, b->span, (size_t)a->nspan * 2 * sizeof(int64_t)) == 0);
  return 1;
}

static int r_index(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    int isint;
    lua_Integer k = lua_tointegerx(L, 2, &isint);
    if (isint && k == s->n + 1) return 0; /* nil, as for a table: ipairs stops */
    if (!isint || k < 1 || k > s->n) {
      return luaL_error(L, "rowset index %s out of range 1..%I", lua_tostring(L, 2),
                        (lua_Integer)s->n);
    }
    lua_pushinteger(L, tideL_rowset_at(s, k - 1) + 1);
    return 1;
  }
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  if (lua_isnil(L, -1) && lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "n") == 0) lua_pushinteger(L, s->n);
  }
  return 1;
}

static int r_is(lua_State *L) {
  lua_pushboolean(L, tideL_testrowset(L, 1) != NULL);
  return 1;
}

void tideB_open_rowset(lua_State *L) {
  static const luaL_Reg meta[] = {{"__len", r_len},     {"__index", r_index},
                                  {"__tostring", r_tostring}, {"__eq", r_eq},
                                  {NULL, NULL}};
  static const luaL_Reg methods[] = {{"slice", r_slice}, {"array", r_array},
                                     {"copy", r_array},  {"ranges", r_ranges},
                                     {"totable", r_totable},
                                     {NULL, NULL}};
  luaL_newmetatable(L, ROWSET_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "methods");
  lua_pop(L, 1);
  lua_pushcfunction(L, r_new);
  lua_setfield(L, -2, "rowset");
  lua_pushcfunction(L, r_is);
  lua_setfield(L, -2, "is_rowset");
}
