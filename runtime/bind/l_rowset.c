/*
** l_rowset.c -- tide.rowset: a sequence of row numbers stored as ranges.
**
** A k-fold split of a million rows without shuffling needs no index
** arrays: a test fold is one range, its training rows two.  A rowset says
** so in a few bytes, where i64 index arrays would take 8 bytes per row and
** fold (40 MB for 5 folds of 1e6 rows).  It is a read-only 1-D i64 array
** wherever one is read: `rows =` of the models and metrics and X:take(s)
** read the ranges; s.dtype, s.shape and the other fields, #s, s[i],
** ipairs, s:slice(1, i, j), s:totable() and s:sum() / min() / max() are
** computed from them; every other array method, arithmetic, tostring and
** any binding's tideL_check() materialize the rows into a read-only i64
** array for the call (tideL_toarray), and writes raise "rowset is
** read-only".  s:array() / tide.array(s) give a writable i64 copy.
**
** The userdata holds n, the number of ranges and the ranges as pairs
** (first row 0-based, count), the layout tide_Rows reads directly.
*/
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
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

#define MAXROW ((lua_Integer)1 << 53)

static lua_Integer checkrow(lua_State *L, int i, const char *what) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, i, &isnum);
  if (!isnum)
    luaL_error(L, "bad argument to 'rowset' (%s must be an integer, got %s)", what,
               luaL_typename(L, i));
  if (v < 1 || v > MAXROW)
    luaL_error(L, "bad argument to 'rowset' (%s %I is not a row number >= 1)", what, v);
  return v;
}

/* A last row: first - 1 (an empty range) up to MAXROW, and the rowset's
** length, which grows by each range, stays at most MAXROW too, so that
** n * 8 (its nbytes) and every sum of positions fit in int64. */
static lua_Integer checklast(lua_State *L, int i, lua_Integer first, int64_t n, lua_Integer range) {
  int isint;
  lua_Integer b = lua_tointegerx(L, i, &isint);
  int beyond = !isint || b < first - 1 || b > MAXROW;
  if (beyond || b - first + 1 > MAXROW - n) { /* the message, only now */
    const char *where = range ? lua_pushfstring(L, "range %I", range) : "last row";
    if (beyond)
      luaL_error(L, "bad argument to 'rowset' (%s: last row must be an integer >= first - 1"
                 " (%I) and <= 2^53)", where, first - 1);
    luaL_error(L, "bad argument to 'rowset' (%s: more than 2^53 rows in all)", where);
  }
  return b;
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
      lua_Integer b = checklast(L, -1, a, s->n, (lua_Integer)j);
      lua_pop(L, 3);
      tideL_rowset_append(s, a - 1, b - a + 1);
    }
    return 1;
  }
  lua_Integer a = checkrow(L, 1, "first row");
  lua_Integer b = checklast(L, 2, a, 0, 0);
  tideL_RowSet *s = tideL_newrowset(L, 1);
  tideL_rowset_append(s, a - 1, b - a + 1);
  return 1;
}

static tideL_RowSet *check(lua_State *L, int i) { return luaL_checkudata(L, i, ROWSET_MT); }

/* Calls the array method `name` with the arguments (self materialized by
** its tideL_check): everything a rowset does not compute itself. */
static int forward(lua_State *L, const char *name) {
  luaL_getmetatable(L, TIDE_ARRAY_MT);
  lua_getfield(L, -1, "__methods");
  lua_getfield(L, -1, name);
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int r_len(lua_State *L) {
  lua_pushinteger(L, check(L, 1)->n);
  return 1;
}

/* s:slice(1, first, last) (as an array's slice) or s:slice(first, last):
** positions first..last, 1-based, negative counting from the end. */
static int r_slice(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  if (!lua_isnoneornil(L, 5)) return forward(L, "slice"); /* a step: a view of the rows */
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

tide_Array *tideL_rowset_push(lua_State *L, const tideL_RowSet *s, int dtype, int where) {
  int64_t n = s->n;
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dtype, 1, &n, where | TIDE_WHERE_UNINIT);
  if (rc) tideL_raise(L, rc);
  if (dtype == TIDE_I64) {
    tideL_rowset_expand(s, (int64_t *)a->data, 1);
  } else {
    unsigned char *p = a->data;
    for (int64_t k = 0; k < s->nspan; k++)
      for (int64_t r = 0; r < s->span[2 * k + 1]; r++, p += a->strides[0])
        tide_store_i64(dtype, p, s->span[2 * k] + r + 1);
  }
  return a;
}

/* s:array([dtype | opts]), s:copy(...): a writable copy, as tide.array(s). */
static int r_array(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  int where, dt = tideL_ctor_opts(L, 2, TIDE_I64, &where);
  tideL_rowset_push(L, s, dt, where);
  return 1;
}

/* s:sum(), s:min(), s:max() from the ranges, as the i64 array would give
** them; with a dimension (or empty, for min and max) as the array. */
static int r_sum(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  if (!lua_isnoneornil(L, 2)) return forward(L, "sum");
  lua_Unsigned t = 0; /* wraps as the array's int64 sum would */
  for (int64_t k = 0; k < s->nspan; k++) {
    lua_Unsigned f = (lua_Unsigned)s->span[2 * k], c = (lua_Unsigned)s->span[2 * k + 1];
    /* rows f+1 .. f+c */
    t += c * f + (c % 2 ? c * ((c + 1) / 2) : (c / 2) * (c + 1));
  }
  lua_pushinteger(L, (lua_Integer)t);
  return 1;
}

static int extreme(lua_State *L, int max) {
  tideL_RowSet *s = check(L, 1);
  if (!lua_isnoneornil(L, 2) || s->n == 0) return forward(L, max ? "max" : "min");
  int64_t best = 0;
  for (int64_t k = 0, seen = 0; k < s->nspan; k++) {
    int64_t c = s->span[2 * k + 1], v = s->span[2 * k] + (max ? c : 1);
    if (c == 0) continue;
    if (!seen++ || (max ? v > best : v < best)) best = v;
  }
  lua_pushinteger(L, best);
  return 1;
}
static int r_min(lua_State *L) { return extreme(L, 0); }
static int r_max(lua_State *L) { return extreme(L, 1); }

static int r_close(lua_State *L) {
  check(L, 1);
  return 0; /* nothing to free: a rowset's ranges live in its userdata */
}

static int r_totable(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  /* A rowset costs nothing however many rows it names (tide.rowset(1,
  ** 2^40)); its table costs 16 bytes a row, and Lua would grow it until
  ** the machine kills the process.  Refused first, by size and memory. */
  if (s->n > INT32_MAX)
    return luaL_error(L, "totable: %I rows do not fit in a Lua table", (lua_Integer)s->n);
  int rc = tide__admit_memory((uint64_t)s->n * 16, "a Lua table of the rows");
  if (rc) return tideL_raise(L, rc);
  lua_createtable(L, (int)s->n, 0);
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

/* Printed as its i64 array is, then a line with the count and ranges:
** "[tide.rowset 6 i64 read-only: 1..2, 10..12, 20..20]". */
static int r_tostring(lua_State *L) {
  tideL_RowSet *s = check(L, 1);
  tide_Array *a = tideL_rowset_push(L, s, TIDE_I64, TIDE_WHERE_HEAP);
  char *text = tide_array_format(a, NULL);
  if (!text) return luaL_error(L, "out of memory formatting a rowset");
  char *foot = strstr(text, "\n[tide.array "); /* the array's last line goes */
  tideL_pushowned(L, text, foot ? (size_t)(foot - text) : (size_t)-1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushvalue(L, -2);
  luaL_addvalue(&b);
  lua_pushfstring(L, "\n[tide.rowset %I i64 read-only", (lua_Integer)s->n);
  luaL_addvalue(&b);
  for (int64_t k = 0; k < s->nspan && k < 6; k++) {
    luaL_addstring(&b, k ? ", " : ": ");
    lua_pushfstring(L, "%I..%I", (lua_Integer)(s->span[2 * k] + 1),
                    (lua_Integer)(s->span[2 * k] + s->span[2 * k + 1]));
    luaL_addvalue(&b);
  }
  luaL_addstring(&b, s->nspan > 6 ? ", ...]" : "]");
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
  lua_getfield(L, -1, "__methods");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING) return 1;
  /* the fields of the i64 array it stands for */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "shape") == 0 || strcmp(k, "strides") == 0) {
    lua_createtable(L, 1, 0);
    lua_pushinteger(L, k[1] == 'h' ? s->n : 1);
    lua_rawseti(L, -2, 1);
  } else if (strcmp(k, "n") == 0 || strcmp(k, "size") == 0) {
    lua_pushinteger(L, s->n);
  } else if (strcmp(k, "nbytes") == 0) {
    lua_pushinteger(L, s->n * 8);
  } else if (strcmp(k, "ndim") == 0) {
    lua_pushinteger(L, 1);
  } else if (strcmp(k, "itemsize") == 0) {
    lua_pushinteger(L, 8);
  } else if (strcmp(k, "dtype") == 0) {
    lua_pushliteral(L, "i64");
  } else if (strcmp(k, "storage") == 0) {
    lua_pushliteral(L, "rowset");
  } else if (strcmp(k, "readonly") == 0) {
    lua_pushboolean(L, 1);
  } else if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, 0);
  } else { /* an array method: it materializes the rows (tideL_check) */
    luaL_getmetatable(L, TIDE_ARRAY_MT);
    lua_getfield(L, -1, "__methods");
    lua_getfield(L, -1, k);
  }
  return 1;
}

/* Writes: a rowset is read-only. */
static int r_newindex(lua_State *L) {
  check(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER)
    return luaL_error(L, "rowset is read-only (tide.array(s) gives a writable i64 copy)");
  return luaL_error(L, "cannot set field '%s' of a rowset", luaL_tolstring(L, 2, NULL));
}

/* Arithmetic: the array's metamethod (upvalue: its name), which reads a
** rowset operand as its i64 array. */
static int r_arith(lua_State *L) {
  luaL_getmetatable(L, TIDE_ARRAY_MT);
  lua_getfield(L, -1, lua_tostring(L, lua_upvalueindex(1)));
  lua_replace(L, -2);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int r_is(lua_State *L) {
  lua_pushboolean(L, tideL_testrowset(L, 1) != NULL);
  return 1;
}

void tideB_open_rowset(lua_State *L) {
  static const luaL_Reg meta[] = {{"__len", r_len},       {"__index", r_index},
                                  {"__newindex", r_newindex}, {"__tostring", r_tostring},
                                  {"__eq", r_eq},         {"__close", r_close},
                                  {NULL, NULL}};
  static const luaL_Reg methods[] = {{"slice", r_slice}, {"array", r_array},
                                     {"copy", r_array},  {"clone", r_array},
                                     {"ranges", r_ranges}, {"totable", r_totable},
                                     {"sum", r_sum},     {"min", r_min},
                                     {"max", r_max},     {"close", r_close},
                                     {NULL, NULL}};
  static const char *const arith[] = {"__add", "__sub", "__mul", "__div", "__idiv",
                                      "__mod", "__pow", "__unm", NULL};
  luaL_newmetatable(L, ROWSET_MT);
  luaL_setfuncs(L, meta, 0);
  for (int i = 0; arith[i]; i++) {
    lua_pushstring(L, arith[i]);
    lua_pushcclosure(L, r_arith, 1);
    lua_setfield(L, -2, arith[i]);
  }
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__methods");
  lua_pop(L, 1);
  lua_pushcfunction(L, r_new);
  lua_setfield(L, -2, "rowset");
  lua_pushcfunction(L, r_is);
  lua_setfield(L, -2, "is_rowset");
}
