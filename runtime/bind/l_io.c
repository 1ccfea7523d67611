/*
** l_io.c -- Lua bindings for files: tide.load, tide.save, tide.memmap,
** tide.savez (.npy and .npz; the work is in core/npy.c and core/npz.c).
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/io.h"
#include "bind.h"

#define NPZ_MT "tide.npz_reader"

/* An open .npz being read, owned by a userdata so an error in the middle
** of tide.load (a corrupt member, out of memory) still closes it. */
typedef struct NpzBox {
  tide_Npz *z;
} NpzBox;

static int npz_gc(lua_State *L) {
  NpzBox *b = luaL_checkudata(L, 1, NPZ_MT);
  tide_npz_close(b->z);
  b->z = NULL;
  return 0;
}

static void checkopts(lua_State *L, int i, const char *fname, const char *const *names) {
  if (!lua_isnoneornil(L, i) && !lua_istable(L, i)) luaL_typeerror(L, i, "options table");
  tideL_checkopts(L, i, fname, names);
}

static int load_npz(lua_State *L, const char *path, int dtype) {
  NpzBox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->z = NULL;
  luaL_setmetatable(L, NPZ_MT);
  int box = lua_gettop(L);
  int rc = tide_npz_open(path, &b->z);
  if (rc) return tideL_raise(L, rc);
  int n = tide_npz_count(b->z);
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    tide_Array *a = tideL_push(L);
    if ((rc = tide_npz_read_as(b->z, i, dtype, a))) return tideL_raise(L, rc);
    lua_setfield(L, -2, tide_npz_name(b->z, i));
  }
  tide_npz_close(b->z);
  b->z = NULL;
  lua_remove(L, box);
  return 1;
}

/* tide.load(path [, {mmap = "r" | "r+" | "c", dtype =}]): dtype converts
** (numpy's astype), and is how float16 files load. */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  static const char *const names[] = {"mmap", "dtype", NULL};
  checkopts(L, 2, "tide.load", names);
  const char *mm = tideL_optstr(L, 2, "mmap", NULL);
  const char *ds = tideL_optstr(L, 2, "dtype", NULL);
  int dtype = ds ? tideL_dtype(L, ds, 2) : -1;
  if (mm && ds)
    return luaL_argerror(L, 2, "dtype cannot be combined with mmap (a mapping is the file's "
                               "own bytes; convert with :astype)");
  char mode = 0;
  if (mm) {
    if (!strcmp(mm, "r")) mode = 'r';
    else if (!strcmp(mm, "r+")) mode = 'w';
    else if (!strcmp(mm, "c")) mode = 'c';
    else return luaL_argerror(L, 2, "mmap must be \"r\", \"r+\" or \"c\"");
  }
  int kind = tide_file_kind(path);
  if (kind < 0) return tideL_raise(L, kind);
  if (kind == TIDE_FILE_NPZ) {
    if (mode) return luaL_argerror(L, 2, "mmap is not supported for .npz files");
    return load_npz(L, path, dtype);
  }
  tide_Array *a = tideL_push(L);
  int rc = mode ? tide_npy_map(path, mode, a) : tide_npy_load_as(path, dtype, a);
  if (rc) return tideL_raise(L, rc);
  return 1;
}

/* tide.save(path, a) */
static int l_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  tide_Array *a = tideL_check(L, 2);
  static const char *const none[] = {NULL};
  checkopts(L, 3, "tide.save", none);
  int rc = tide_npy_save(path, a);
  if (rc) return tideL_raise(L, rc);
  return 0;
}

/* The shape field of an options table: a non-negative integer or a list. */
static int opt_shape(lua_State *L, int i, int64_t *shape) {
  lua_getfield(L, i, "shape");
  int n = 0;
  if (lua_isinteger(L, -1)) {
    shape[0] = (int64_t)lua_tointeger(L, -1);
    n = 1;
  } else if (lua_istable(L, -1)) {
    lua_Unsigned len = lua_rawlen(L, -1);
    if (len > TIDE_MAXDIM) luaL_argerror(L, i, "shape has more than 32 dimensions");
    for (lua_Unsigned k = 1; k <= len; k++) {
      lua_rawgeti(L, -1, (lua_Integer)k);
      if (!lua_isinteger(L, -1)) luaL_argerror(L, i, "shape entries must be integers");
      shape[n++] = (int64_t)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  } else if (!lua_isnil(L, -1)) {
    luaL_argerror(L, i, "shape must be an integer or a table of integers");
  } else {
    n = -1; /* absent */
  }
  lua_pop(L, 1);
  for (int d = 0; d < n; d++)
    if (shape[d] < 0) luaL_argerror(L, i, "shape entries must not be negative");
  return n;
}

/* tide.memmap(path, {shape =, dtype =, mode = "w+" | "r" | "r+" | "c"}):
** w+ creates (or replaces) the file; the other modes map an existing one
** and check it against shape and dtype when given.  Without a mode: "w+"
** when a shape is given and the file does not exist, else "r+" (numpy's
** open_memmap default) -- an existing file is never replaced unless asked. */
static int l_memmap(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const names[] = {"shape", "dtype", "mode", NULL};
  tideL_checkopts(L, 2, "tide.memmap", names);
  int64_t shape[TIDE_MAXDIM];
  int ndim = opt_shape(L, 2, shape);
  const char *ds = tideL_optstr(L, 2, "dtype", NULL);
  int dtype = ds ? tideL_dtype(L, ds, 2) : TIDE_F64;
  const char *ms = tideL_optstr(L, 2, "mode", NULL);
  if (!ms) ms = (ndim >= 0 && access(path, F_OK) != 0) ? "w+" : "r+";
  tide_Array *a = tideL_push(L);
  int rc;
  if (!strcmp(ms, "w+")) {
    if (ndim < 0) return luaL_argerror(L, 2, "mode \"w+\" needs a shape");
    rc = tide_npy_create(path, dtype, ndim, shape, a);
    if (rc) return tideL_raise(L, rc);
    return 1;
  }
  char mode = !strcmp(ms, "r") ? 'r' : !strcmp(ms, "r+") ? 'w' : !strcmp(ms, "c") ? 'c' : 0;
  if (!mode) return luaL_argerror(L, 2, "mode must be \"w+\", \"r\", \"r+\" or \"c\"");
  if ((rc = tide_npy_map(path, mode, a))) return tideL_raise(L, rc);
  if (ds && a->dtype != dtype)
    return luaL_error(L, "%s holds %s, not %s", path, tide_dtypes[a->dtype].name,
                      tide_dtypes[dtype].name);
  if (ndim >= 0 &&
      (ndim != a->ndim || memcmp(shape, a->shape, (size_t)ndim * sizeof *shape) != 0)) {
    char want[256], have[256];
    tide_shape_str(ndim, shape, want, sizeof want);
    tide_shape_str(a->ndim, a->shape, have, sizeof have);
    return luaL_error(L, "%s has shape %s, not %s", path, have, want);
  }
  return 1;
}

typedef struct NamedArray {
  const char *name;
  const tide_Array *a;
} NamedArray;

static int cmp_named(const void *x, const void *y) {
  return strcmp(((const NamedArray *)x)->name, ((const NamedArray *)y)->name);
}

/* tide.savez(path, {name = array, ...} [, {compress = true}]) */
static int l_savez(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const known[] = {"compress", NULL};
  checkopts(L, 3, "tide.savez", known);
  int compress = tideL_optbool(L, 3, "compress", 0);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    n++;
    lua_pop(L, 1);
  }
  if (n > 0xFFFE) return luaL_argerror(L, 2, "too many arrays for one .npz");
  /* A userdata, so the buffer is collected even if an error follows. */
  NamedArray *v = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *v, 0);
  int k = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      return luaL_argerror(L, 2, "keys must be member names (strings)");
    tide_Array *a = tideL_test(L, -1);
    if (!a || !a->storage)
      return luaL_argerror(L, 2, lua_pushfstring(L, "field '%s' is not an open array",
                                                 lua_tostring(L, -2)));
    v[k].name = lua_tostring(L, -2); /* kept alive by the table's key */
    v[k].a = a;
    k++;
    lua_pop(L, 1);
  }
  qsort(v, (size_t)n, sizeof *v, cmp_named); /* deterministic member order */
  const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
  const tide_Array **arrs = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *arrs, 0);
  for (int i = 0; i < n; i++) {
    names[i] = v[i].name;
    arrs[i] = v[i].a;
  }
  int rc = tide_npz_save(path, n, names, arrs, compress);
  if (rc) return tideL_raise(L, rc);
  return 0;
}

void tideB_open_io(lua_State *L) {
  static const luaL_Reg funcs[] = {{"load", l_load},   {"save", l_save}, {"memmap", l_memmap},
                                   {"savez", l_savez}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  if (luaL_newmetatable(L, NPZ_MT)) {
    lua_pushcfunction(L, npz_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, npz_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
}
