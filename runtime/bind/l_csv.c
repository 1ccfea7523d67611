/*
** l_csv.c -- tide.read_csv(path [, opts]) -> array, names, levels (rules in
** core/csv.h).
**
** array: rows x columns, always 2-D (one column too); an empty or
** header-only file gives 0 x ncols.  names: a table of strings, the header
** fields, or "1", "2", ... (the file's column numbers) without a header.
** levels: levels[name] = the sorted distinct strings of text column name,
** whose codes in the array are their 1-based positions; {} when no column
** held text.
** opts (all optional):
**   header    true | false; absent: the first row is a header when one of
**             its non-empty fields is neither a number nor true/false
**   delimiter one character, default ","; "\t" and ";" are common
**   dtype     "f64" (default), "f32", "i64", "i32", "u8", "bool" or numpy names
**   columns   {names or 1-based numbers (negative from the end)}: which
**             columns, in this order; unselected columns are not parsed
**   mmap      a path: the result is written to a new .npy file there and
**             returned mapped from it (storage "file")
**   shared    true | false: force shared memory or the heap, as the array
**             constructors' {shared =} does; absent: shared from
**             tide.config.share_bytes up
**   categorical  "codes" (default) | "skip" | "error": what a text column
**             becomes: codes 1..k, left out, or an error at its first text
**   na_values a string or a table of strings: missing markers besides
**             pandas' defaults (read as NaN)
**   keep_default_na  false: only na_values are missing (pandas' option)
**   comment   one character: the rest of a line from it is ignored
**   decimal   one character, default "."; "," for 1,5 (with delimiter ";")
** Errors (raised): a missing file names the path and the system's reason;
** bad options are "bad argument #2 to 'read_csv' (...)"; bad text names the
** row (the line where the record starts, header = row 1) and column.
*/
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "../core/csv.h"

#define INFO_MT "tide.csv.info"

/* Reads field k of the options table at index 2; raises "bad argument #2
** to 'read_csv' (option 'k' must be ...)" on a wrong type. */
static int optfield(lua_State *L, const char *k, int type, const char *want) {
  lua_getfield(L, 2, k);
  int t = lua_type(L, -1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (t != type) {
    const char *msg = lua_pushfstring(L, "option '%s' must be %s, got %s", k, want,
                                      luaL_typename(L, -1));
    luaL_argerror(L, 2, msg);
  }
  return 1; /* the value stays on the stack */
}

/* The `columns` option: names (strings) or 1-based indices (negative
** counts from the end), into a userdata-backed array kept on the stack. */
static tide_CsvColumn *read_columns(lua_State *L, int *n) {
  lua_Unsigned len = lua_rawlen(L, -1);
  if (len == 0) luaL_argerror(L, 2, "option 'columns' must not be empty");
  if (len > TIDE_CSV_MAX_COLUMNS) luaL_argerror(L, 2, "option 'columns' has too many entries");
  int t = lua_gettop(L);
  tide_CsvColumn *cols = lua_newuserdatauv(L, (size_t)len * sizeof *cols, 0);
  for (lua_Unsigned k = 1; k <= len; k++) {
    lua_rawgeti(L, t, (lua_Integer)k);
    if (lua_type(L, -1) == LUA_TSTRING) {
      cols[k - 1].name = lua_tostring(L, -1); /* anchored by the columns table */
      cols[k - 1].index = 0;
    } else {
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (!isnum || v == 0)
        luaL_argerror(L, 2, lua_pushfstring(L, "option 'columns' entry %d must be a name or a "
                                            "non-zero column number", (int)k));
      cols[k - 1].name = NULL;
      cols[k - 1].index = v > 0 ? v - 1 : v;
    }
    lua_pop(L, 1);
  }
  *n = (int)len;
  return cols;
}

/* One character other than a quote or a line end, for option k. */
static char onechar(lua_State *L, const char *k) {
  size_t l;
  const char *d = lua_tolstring(L, -1, &l);
  if (l != 1 || *d == '"' || *d == '\n' || *d == '\r' || *d == 0)
    luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be one character other than a "
                                        "quote or a line end", k));
  lua_pop(L, 1);
  return *d;
}

/* The `na_values` option: a string or a table of strings, into a
** userdata-backed array of pointers kept on the stack (the strings are
** anchored by the options table). */
static const char **read_na(lua_State *L, int *n) {
  int t = lua_gettop(L);
  if (lua_type(L, t) == LUA_TSTRING) {
    const char **v = lua_newuserdatauv(L, sizeof *v, 0);
    v[0] = lua_tostring(L, t);
    *n = 1;
    return v;
  }
  if (lua_type(L, t) != LUA_TTABLE)
    luaL_argerror(L, 2, lua_pushfstring(L, "option 'na_values' must be a string or a table of "
                                        "strings, got %s", luaL_typename(L, t)));
  lua_Unsigned len = lua_rawlen(L, t);
  if (len > 100000) luaL_argerror(L, 2, "option 'na_values' has too many entries");
  const char **v = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *v, 0);
  for (lua_Unsigned k = 1; k <= len; k++) {
    if (lua_rawgeti(L, t, (lua_Integer)k) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "option 'na_values' entry %d must be a string, "
                                          "got %s", (int)k, luaL_typename(L, -1)));
    v[k - 1] = lua_tostring(L, -1); /* anchored by the table */
    lua_pop(L, 1);
  }
  *n = (int)len;
  return v;
}

static int l_read_csv(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  tide_CsvOptions o;
  tide_csv_options_init(&o);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    /* a misspelt option (delim = ";") would otherwise be ignored silently */
    static const char *const known[] = {"header", "delimiter", "dtype", "columns", "mmap",
                                        "shared", "categorical", "na_values",
                                        "keep_default_na", "comment", "decimal", NULL};
    tideL_checkopts(L, 2, "tide.read_csv", known);
    if (optfield(L, "header", LUA_TBOOLEAN, "a boolean")) {
      o.header = lua_toboolean(L, -1) ? TIDE_CSV_HEADER_YES : TIDE_CSV_HEADER_NO;
      lua_pop(L, 1);
    }
    if (optfield(L, "delimiter", LUA_TSTRING, "a string")) o.delimiter = onechar(L, "delimiter");
    if (optfield(L, "comment", LUA_TSTRING, "a string")) o.comment = onechar(L, "comment");
    if (optfield(L, "decimal", LUA_TSTRING, "a string")) o.decimal = onechar(L, "decimal");
    if (o.comment && o.comment == o.delimiter)
      luaL_argerror(L, 2, "options 'comment' and 'delimiter' must differ");
    if (o.decimal == o.delimiter || o.decimal == o.comment)
      luaL_argerror(L, 2, lua_pushfstring(L, "option 'decimal' must differ from the %s",
                                          o.decimal == o.delimiter ? "delimiter" : "comment"));
    if (optfield(L, "dtype", LUA_TSTRING, "a string")) {
      const char *s = lua_tostring(L, -1);
      o.dtype = tideL_dtype(L, s, 2);
      lua_pop(L, 1);
    }
    if (optfield(L, "categorical", LUA_TSTRING, "a string")) {
      static const char *const modes[] = {"codes", "skip", "error", NULL};
      const char *m = lua_tostring(L, -1);
      int k = 0;
      while (modes[k] && strcmp(modes[k], m) != 0) k++;
      if (!modes[k])
        luaL_argerror(L, 2, lua_pushfstring(L, "option 'categorical' must be \"codes\", "
                                            "\"skip\" or \"error\", got '%s'", m));
      o.categorical = k; /* TIDE_CSV_CODES, _SKIP, _ERROR in this order */
      lua_pop(L, 1);
    }
    lua_getfield(L, 2, "na_values");
    if (lua_isnil(L, -1)) lua_pop(L, 1);
    else o.na_values = read_na(L, &o.n_na_values); /* value and userdata stay */
    if (optfield(L, "keep_default_na", LUA_TBOOLEAN, "a boolean")) {
      o.keep_default_na = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    if (optfield(L, "columns", LUA_TTABLE, "a table")) {
      o.columns = read_columns(L, &o.ncolumns); /* table and userdata stay on the stack */
    }
    if (optfield(L, "shared", LUA_TBOOLEAN, "a boolean")) {
      o.where = lua_toboolean(L, -1) ? TIDE_WHERE_SHARED : TIDE_WHERE_HEAP;
      lua_pop(L, 1);
    }
    lua_getfield(L, 2, "mmap");
    if (lua_type(L, -1) == LUA_TSTRING) o.mmap_path = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "option 'mmap' must be a path string, got %s",
                                          luaL_typename(L, -1)));
    /* the mmap string stays on the stack, anchored */
  }
  /* The names and levels are owned by a box whose __gc frees them, so a
  ** memory error while building their tables leaks nothing. */
  tide_CsvInfo *box = lua_newuserdatauv(L, sizeof *box, 0);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, INFO_MT);
  tide_Array *a = tideL_push(L);
  int rc = tide_csv_read(path, &o, a, box);
  if (rc) return tideL_raise(L, rc);
  lua_createtable(L, (int)box->ncols, 0);
  for (int64_t j = 0; j < box->ncols; j++) {
    lua_pushstring(L, box->names[j]);
    lua_rawseti(L, -2, (lua_Integer)j + 1);
  }
  lua_newtable(L);
  for (int64_t j = 0; box->levels && j < box->ncols; j++) {
    if (!box->levels[j]) continue;
    lua_createtable(L, (int)box->nlevels[j], 0);
    for (int64_t k = 0; k < box->nlevels[j]; k++) {
      lua_pushstring(L, box->levels[j][k]);
      lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, box->names[j]);
  }
  tide_csv_info_free(box);
  return 3;
}

static int info_gc(lua_State *L) {
  tide_csv_info_free(luaL_checkudata(L, 1, INFO_MT));
  return 0;
}

void tideB_open_csv(lua_State *L) {
  static const luaL_Reg funcs[] = {{"read_csv", l_read_csv}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  luaL_newmetatable(L, INFO_MT);
  lua_pushcfunction(L, info_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}
