/*
** l_array.c -- the array userdata: constructors, element access, views,
** copies and the shared helpers declared in bind.h.
*/
#include <math.h>
#include <sys/random.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"

/* ------------------------------------------------------------ helpers */

tide_Array *tideL_test(lua_State *L, int i) {
  tideL_Array *u = luaL_testudata(L, i, TIDE_ARRAY_MT);
  return u ? &u->a : NULL;
}

tide_Array *tideL_check(lua_State *L, int i) {
  tide_Array *a = tideL_toarray(L, i);
  if (!a) luaL_typeerror(L, i, "array");
  return a;
}

tide_Array *tideL_toarray(lua_State *L, int i) {
  tideL_Array *u = luaL_testudata(L, i, TIDE_ARRAY_MT);
  if (!u) {
    tideL_RowSet *rs = tideL_testrowset(L, i);
    if (!rs) return NULL;
    i = lua_absindex(L, i);
    tide_Array *a = tideL_rowset_push(L, rs, TIDE_I64, TIDE_WHERE_HEAP);
    a->flags |= TIDE_AF_READONLY | TIDEL_AF_ROWSET;
    lua_replace(L, i);
    return a;
  }
  if (!u->a.storage) luaL_argerror(L, i, "array is closed");
  /* In a worker, inherited storages turned read-only after fork; views
  ** made before the fork learn it here. */
  if (u->a.storage->flags & TIDE_SF_READONLY) u->a.flags |= TIDE_AF_READONLY;
  return &u->a;
}

/* Lua 5.4's incremental collector and many small finalized objects:
** every X[i] makes an array view with a __gc, and a collection cycle
** counts the views waiting for their finalizers as live, so each pause
** (200%) lets the heap double again.  A loop over a million rows beside
** 29 MB of live tables peaked at 900 MB of Lua heap, and in a worker the
** whole heap is copied-on-write.  (The generational mode does not have
** this, but Debian's 5.4.4 keeps an object made inside a metamethod
** during a GC step alive until a major collection: arithmetic results
** would pile up.)  So every 4096 arrays made we look at the heap, and
** when it is 4 times what was live after our last full collection (and
** over 1 MB), we collect fully, twice (the first runs the finalizers, the
** second frees what they released): the heap stays within 4x of live for
** the cost of two full collections per 3x live allocated. */
static const char gc_base_key = 'g';
static unsigned gc_pushes;

static void gc_bound(lua_State *L) {
  if ((++gc_pushes & 4095) != 0) return;
  lua_Integer kb = lua_gc(L, LUA_GCCOUNT, 0);
  if (kb < 1024) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &gc_base_key);
  lua_Integer base = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (kb <= 4 * base) return;
  lua_gc(L, LUA_GCCOLLECT, 0); /* finalizes the dead */
  lua_gc(L, LUA_GCCOLLECT, 0); /* frees what was finalized */
  lua_pushinteger(L, lua_gc(L, LUA_GCCOUNT, 0));
  lua_rawsetp(L, LUA_REGISTRYINDEX, &gc_base_key);
}

void tideL_pace(lua_State *L) {
  gc_bound(L);
  /* Pay the collector for array bytes made since the last push: one step
  ** per 2 MB keeps dropped arrays from piling up (their bytes are outside
  ** Lua's heap, so Lua would not hurry otherwise).  In a worker every
  ** such megabyte is its own, so the bound is kept small: a k-NN fit's
  ** 640 KB of row norms, five fits per worker, made 3 MB per worker. */
  if (tide__unreported_bytes >= ((size_t)2 << 20)) {
    size_t kb = tide__unreported_bytes >> 10;
    tide__unreported_bytes = 0;
    lua_gc(L, LUA_GCSTEP, kb > INT32_MAX ? INT32_MAX : (int)kb);
  }
}

/* The element-access functions (__index, __newindex, __len, __gc, get,
** set) run for every element a script reads or writes, and a C call costs
** ~30 ns here, each API call a few: luaL_checkudata's lookup of the
** metatable by name would double it.  So an array is told by its tag, a
** word after the struct that holds the userdata's own address mixed with
** a secret drawn when the library loads: a full userdata of exactly this
** size holding that word is an array of this process (another kind of
** userdata matches by chance once in 2^64 and cannot be made to on
** purpose without the secret).  A light userdata has no size, so its
** pointer is never read. */
static uintptr_t array_secret;

__attribute__((constructor)) static void draw_secret(void) {
  uintptr_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
    r = (uintptr_t)&r * 0x9e3779b97f4a7c15u ^ (uintptr_t)time(NULL);
  array_secret = r | 1;
}

static inline void set_tag(tideL_Array *u) { u->tag = (uintptr_t)u ^ array_secret; }

static inline tideL_Array *tag_array(lua_State *L, int i) {
  tideL_Array *u = lua_touserdata(L, i);
  if (!u || lua_rawlen(L, i) != sizeof *u || u->tag != ((uintptr_t)u ^ array_secret)) return NULL;
  return u;
}

tide_Array *tideL_push(lua_State *L) {
  tideL_pace(L);
  tideL_Array *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u); /* closed: storage NULL */
  set_tag(u);
  luaL_setmetatable(L, TIDE_ARRAY_MT);
  return &u->a;
}

int tideL_raise(lua_State *L, int code) {
  const char *m = tide_lasterror();
  return luaL_error(L, "%s", m[0] ? m : tide_strerror(code));
}

int tideL_fail(lua_State *L, int code) {
  const char *m = tide_lasterror();
  lua_pushnil(L);
  lua_pushstring(L, m[0] ? m : tide_strerror(code));
  lua_pushstring(L, tide_errname(code));
  return 3;
}

int tideL_argraise(lua_State *L, int arg, int code) {
  /* running out of memory, space or descriptors is no fault of the
  ** argument's: "bad argument #1 to 'take' (out of memory ...)" misleads */
  if (code == TIDE_ENOMEM || code == TIDE_ENOSPC || code == TIDE_EIO) return tideL_raise(L, code);
  const char *m = tide_lasterror();
  return luaL_argerror(L, arg, m[0] ? m : tide_strerror(code));
}

static int64_t check_dim(lua_State *L, int i) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, i, &isnum);
  if (!isnum) {
    if (lua_type(L, i) == LUA_TNUMBER)
      luaL_argerror(L, i, "dimension must be an integer");
    luaL_typeerror(L, i, "integer dimension");
  }
  if (v < 0) luaL_argerror(L, i, "dimension must not be negative");
  return (int64_t)v;
}

int tideL_checkshape(lua_State *L, int first, int *ndim, int64_t *shape) {
  int n = 0;
  if (lua_istable(L, first)) {
    lua_Unsigned len = lua_rawlen(L, first);
    luaL_argcheck(L, len <= TIDE_MAXDIM, first, "too many dimensions (at most 32)");
    for (lua_Unsigned k = 1; k <= len; k++) {
      lua_rawgeti(L, first, (lua_Integer)k);
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (!isnum || v < 0)
        luaL_argerror(L, first, lua_pushfstring(L, "shape entry %d must be a "
                      "non-negative integer", (int)k));
      shape[n++] = v;
      lua_pop(L, 1);
    }
    *ndim = n;
    return first + 1;
  }
  int i = first;
  while (lua_type(L, i) == LUA_TNUMBER) {
    luaL_argcheck(L, n < TIDE_MAXDIM, i, "too many dimensions (at most 32)");
    shape[n++] = check_dim(L, i);
    i++;
  }
  if (n == 0) luaL_argerror(L, first, "shape expected (numbers or a table)");
  *ndim = n;
  return i;
}

int tideL_dtype(lua_State *L, const char *s, int arg) {
  int dt = tide_dtype_parse(s);
  if (dt >= 0) return dt;
  if (arg > 0) luaL_argerror(L, arg, tide_lasterror());
  return luaL_error(L, "%s", tide_lasterror());
}

int tideL_checkdtype(lua_State *L, int i, int dflt) {
  if (lua_isnoneornil(L, i)) return dflt;
  return tideL_dtype(L, luaL_checkstring(L, i), i);
}

lua_Integer tideL_optint(lua_State *L, int i, const char *k, lua_Integer d) {
  if (!lua_istable(L, i)) return d;
  lua_getfield(L, i, k);
  int isnum;
  lua_Integer v = lua_tointegerx(L, -1, &isnum);
  if (!isnum && !lua_isnil(L, -1))
    luaL_error(L, "option '%s' must be an integer, got %s", k, luaL_typename(L, -1));
  lua_pop(L, 1);
  return isnum ? v : d;
}

lua_Number tideL_optnum(lua_State *L, int i, const char *k, lua_Number d) {
  if (!lua_istable(L, i)) return d;
  lua_getfield(L, i, k);
  int isnum;
  lua_Number v = lua_tonumberx(L, -1, &isnum);
  if (!isnum && !lua_isnil(L, -1))
    luaL_error(L, "option '%s' must be a number, got %s", k, luaL_typename(L, -1));
  lua_pop(L, 1);
  return isnum ? v : d;
}

int tideL_optbool(lua_State *L, int i, const char *k, int d) {
  if (!lua_istable(L, i)) return d;
  lua_getfield(L, i, k);
  int v = lua_isnil(L, -1) ? d : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

const char *tideL_optstr(lua_State *L, int i, const char *k, const char *d) {
  if (!lua_istable(L, i)) return d;
  lua_getfield(L, i, k);
  const char *v = d;
  if (lua_type(L, -1) == LUA_TSTRING) v = lua_tostring(L, -1);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "option '%s' must be a string, got %s", k, luaL_typename(L, -1));
  lua_pop(L, 1); /* the string stays alive: it is the table's field */
  return v;
}

int tideL_ctor_opts(lua_State *L, int i, int dflt, int *where) {
  return tideL_ctor_optsx(L, i, dflt, where, NULL);
}

int tideL_ctor_optsx(lua_State *L, int i, int dflt, int *where, const char *const *extra) {
  int dt = dflt;
  *where = TIDE_WHERE_AUTO;
  if (lua_type(L, i) == LUA_TSTRING) dt = tideL_checkdtype(L, i++, dflt);
  if (lua_istable(L, i)) {
    const char *names[8] = {"dtype", "shared", "worker_mode"};
    for (int k = 0; extra && extra[k] && k < 4; k++) names[3 + k] = extra[k];
    tideL_checkopts(L, i, NULL, names);
    lua_getfield(L, i, "dtype");
    if (!lua_isnil(L, -1)) {
      dt = tideL_dtype(L, luaL_checkstring(L, -1), 0);
    }
    lua_pop(L, 1);
    lua_getfield(L, i, "shared");
    if (!lua_isnil(L, -1))
      *where = lua_toboolean(L, -1) ? TIDE_WHERE_SHARED | TIDE_WHERE_WORKER_RW : TIDE_WHERE_HEAP;
    lua_pop(L, 1);
    const char *wm = tideL_optstr(L, i, "worker_mode", NULL);
    if (wm) {
      if (strcmp(wm, "c") == 0) *where = (*where & ~TIDE_WHERE_WORKER_RW) | TIDE_WHERE_WORKER_COW;
      else if (strcmp(wm, "r+") == 0) *where |= TIDE_WHERE_SHARED | TIDE_WHERE_WORKER_RW;
      else if (strcmp(wm, "r") == 0) *where &= ~(TIDE_WHERE_WORKER_RW | TIDE_WHERE_WORKER_COW);
      else luaL_error(L, "option 'worker_mode' must be \"r\", \"r+\" or \"c\", got '%s'", wm);
    }
  } else if (!lua_isnoneornil(L, i)) {
    luaL_typeerror(L, i, "dtype string or options table");
  }
  return dt;
}

void tideL_pushelem(lua_State *L, int dt, const void *p) {
  switch (dt) {
    case TIDE_F64: case TIDE_F32: lua_pushnumber(L, tide_load_f64(dt, p)); break;
    case TIDE_BOOL: lua_pushboolean(L, *(const uint8_t *)p != 0); break;
    case TIDE_U64: {
      /* above math.maxinteger a u64 reads as a float, as Lua reads such a
      ** numeral (18446744073709551615 is 1.8446744073709552e+19) */
      uint64_t v = *(const uint64_t *)p;
      if (v > (uint64_t)LUA_MAXINTEGER) lua_pushnumber(L, (lua_Number)v);
      else lua_pushinteger(L, (lua_Integer)v);
      break;
    }
    default: lua_pushinteger(L, tide_load_i64(dt, p)); break;
  }
}

void tideL_toelem(lua_State *L, int i, int dt, void *p) {
  if (lua_isboolean(L, i)) {
    tide_store_i64(dt, p, lua_toboolean(L, i));
  } else if (lua_isinteger(L, i)) {
    tide_store_i64(dt, p, lua_tointeger(L, i));
  } else if (lua_type(L, i) == LUA_TNUMBER) {
    tide_store_f64(dt, p, lua_tonumber(L, i));
  } else {
    luaL_typeerror(L, i, "number or boolean");
  }
}

void tideL_checkwritable(lua_State *L, tide_Array *a, const char *fname) {
  if (a->storage && (a->storage->flags & TIDE_SF_INHERITED))
    luaL_error(L, "%s: array is read-only in workers (inherited from the parent; create it "
               "with {shared = true} to write from workers, or {worker_mode = \"c\"} for a "
               "private copy)", fname);
  if (a->flags & TIDEL_AF_ROWSET)
    luaL_error(L, "%s: rowset is read-only (tide.array(s) gives a writable i64 copy)", fname);
  if (a->flags & TIDE_AF_READONLY)
    luaL_error(L, "%s: array is read-only (%s)", fname,
               a->storage && a->storage->kind == TIDE_STORE_FILE
                   ? "mapped with mode \"r\"; use mmap = \"r+\" or \"c\" to write"
                   : "a read-only view");
  tide_storage_touch(a->storage); /* a write follows: cached digests are stale */
}

void tideL_addmethods(lua_State *L, const luaL_Reg *r) {
  luaL_getmetatable(L, TIDE_ARRAY_MT);
  lua_getfield(L, -1, "__methods");
  luaL_setfuncs(L, r, 0);
  lua_pop(L, 2);
}

void tideL_addmeta(lua_State *L, const luaL_Reg *r) {
  luaL_getmetatable(L, TIDE_ARRAY_MT);
  luaL_setfuncs(L, r, 0);
  lua_pop(L, 1);
}

/* Converts a user index (1-based, negative counts from the end) to 0-based. */
static int64_t check_index(lua_State *L, int i, int64_t len, int dim) {
  lua_Integer v = luaL_checkinteger(L, i);
  if (v < 0) v += len + 1;
  if (v < 1 || v > len)
    luaL_error(L, "index %I out of range for dimension %d of size %I",
               luaL_checkinteger(L, i), dim + 1, (lua_Integer)len);
  return (int64_t)(v - 1);
}

/* ------------------------------------------------------------ fast paths */

/* tideL_check by way of the tag (see tag_array): an open array at i, else
** whatever tideL_check makes of the argument (a rowset's array) or says
** about it. */
static tide_Array *check_fast(lua_State *L, int i) {
  tideL_Array *u = tag_array(L, i);
  if (!u || !u->a.storage) return tideL_check(L, i);
  if (u->a.storage->flags & TIDE_SF_READONLY) u->a.flags |= TIDE_AF_READONLY; /* as tideL_toarray */
  return &u->a;
}

/* Index k of a dimension of size len, 0-based, when it is in range (1..len
** or -len..-1); -1 otherwise (check_index then raises). */
static inline int64_t fast_index(lua_Integer k, int64_t len) {
  if (k < 0) k += len + 1;
  return k >= 1 && k <= len ? (int64_t)(k - 1) : -1;
}

/* Pushes the view of row i of a (ndim >= 2): tideL_push's collector pacing,
** then the struct filled in one pass (shape and strides shifted left, as
** tide_array_view + tide_array_select give them) before the metatable from
** upvalue 1 is set, so the userdata is never seen half made. */
static void push_row_view(lua_State *L, const tide_Array *a, int64_t i) {
  tideL_pace(L);
  tideL_Array *u = lua_newuserdatauv(L, sizeof *u, 0);
  set_tag(u);
  tide_Array *v = &u->a;
  v->data = a->data + i * a->strides[0];
  v->storage = a->storage;
  v->dtype = a->dtype;
  v->ndim = a->ndim - 1;
  v->flags = a->flags;
  memcpy(v->shape, a->shape + 1, (TIDE_MAXDIM - 1) * sizeof *v->shape);
  memcpy(v->strides, a->strides + 1, (TIDE_MAXDIM - 1) * sizeof *v->strides);
  v->shape[TIDE_MAXDIM - 1] = v->strides[TIDE_MAXDIM - 1] = 0;
  tide_storage_ref(v->storage);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
}

/* ------------------------------------------------------------ constructors */

static int new_filled(lua_State *L, double v, int fill) {
  int64_t shape[TIDE_MAXDIM];
  int ndim, where;
  int next = tideL_checkshape(L, 1, &ndim, shape);
  int dt = tideL_ctor_opts(L, next, TIDE_F64, &where);
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, ndim, shape, where);
  if (rc) return tideL_raise(L, rc);
  if (fill && v != 0) tide_array_fill(a, v);
  return 1;
}

static int l_zeros(lua_State *L) { return new_filled(L, 0, 0); }
static int l_empty(lua_State *L) { return new_filled(L, 0, 0); }
static int l_ones(lua_State *L) { return new_filled(L, 1, 1); }

/* tide.full(shape, v [, dtype | opts]): with the dimensions given as
** numbers, the last number is the value: tide.full(3, 4, 7) is 3x4 of 7. */
static int l_full(lua_State *L) {
  int64_t shape[TIDE_MAXDIM];
  int ndim, where;
  int next;
  int last = 0;
  while (lua_type(L, last + 1) == LUA_TNUMBER) last++;
  if (last > 0 && !lua_isboolean(L, last + 1)) {
    luaL_argcheck(L, last >= 2, 1, "shape and value expected");
    lua_pushvalue(L, last);       /* the value */
    lua_newtable(L);              /* the shape, as a table */
    for (int i = 1; i < last; i++) {
      lua_pushvalue(L, i);
      lua_rawseti(L, -2, i);
    }
    lua_replace(L, last - 1);     /* shape table where the last dimension was */
    lua_replace(L, last);         /* value after it */
    lua_rotate(L, 1, -(last - 2)); /* drop the other dimensions to the top */
    lua_pop(L, last - 2);
  }
  next = tideL_checkshape(L, 1, &ndim, shape);
  luaL_checkany(L, next);
  int dflt = lua_isinteger(L, next) ? TIDE_I64 : lua_isboolean(L, next) ? TIDE_BOOL : TIDE_F64;
  if (!lua_isboolean(L, next)) luaL_checknumber(L, next);
  int dt = tideL_ctor_opts(L, next + 1, dflt, &where);
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, ndim, shape, where | TIDE_WHERE_UNINIT); /* filled below */
  if (rc) return tideL_raise(L, rc);
  double v = lua_isboolean(L, next) ? lua_toboolean(L, next) : lua_tonumber(L, next);
  tide_array_fill(a, v);
  return 1;
}

static int l_eye(lua_State *L) {
  int64_t n = check_dim(L, 1), m = lua_type(L, 2) == LUA_TNUMBER ? check_dim(L, 2) : n;
  int where, dt = tideL_ctor_opts(L, lua_type(L, 2) == LUA_TNUMBER ? 3 : 2, TIDE_F64, &where);
  int64_t shape[2] = {n, m};
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, 2, shape, where);
  if (rc) return tideL_raise(L, rc);
  for (int64_t i = 0; i < n && i < m; i++)
    tide_store_i64(dt, a->data + i * a->strides[0] + i * a->strides[1], 1);
  return 1;
}

/* arange (end excluded, numpy) and range (end included, Lua/Torch). */
static int make_range(lua_State *L, int inclusive) {
  int allint = lua_isinteger(L, 1) && (lua_isnoneornil(L, 2) || lua_isinteger(L, 2)) &&
               (lua_isnoneornil(L, 3) || lua_isinteger(L, 3));
  lua_Number a = luaL_checknumber(L, 1), b, step = luaL_optnumber(L, 3, 1);
  if (lua_isnoneornil(L, 2)) { /* arange(n): 0..n-1 as numpy; range(n): 1..n */
    b = a;
    a = inclusive ? 1 : 0;
  } else {
    b = luaL_checknumber(L, 2);
  }
  luaL_argcheck(L, step != 0 && step == step, 3, "step must be a nonzero number");
  luaL_argcheck(L, isfinite(a) && isfinite(b), 1, "bounds must be finite");
  lua_Integer ia = lua_isnoneornil(L, 2) ? (inclusive ? 1 : 0) : lua_tointeger(L, 1);
  lua_Integer ib = lua_tointeger(L, lua_isnoneornil(L, 2) ? 1 : 2);
  lua_Integer is = lua_isnoneornil(L, 3) ? 1 : lua_tointeger(L, 3);
  int64_t n;
  if (allint) { /* counted in integers: doubles lose the ends near 2^63; the
                 ** values, ia + k * is for k < n, then lie between the ends */
    __int128 span = (__int128)ib - ia, st = is;
    if (st < 0) span = -span, st = -st;
    __int128 m = span < 0 || (!inclusive && span == 0) ? 0
                 : inclusive ? span / st + 1 : (span - 1) / st + 1;
    luaL_argcheck(L, m < (__int128)9e15, 2, "range is too long");
    n = (int64_t)m;
  } else {
    double span = (b - a) / step; /* inf when b - a overflows or step is tiny */
    luaL_argcheck(L, span < 9e15, 2, "range is too long"); /* before the cast: past it, UB */
    if (inclusive) n = span < 0 ? 0 : (int64_t)floor(span + 1e-9) + 1;
    else n = span <= 0 ? 0 : (int64_t)ceil(span - 1e-9);
  }
  int where, dt = tideL_ctor_opts(L, 4, allint ? TIDE_I64 : TIDE_F64, &where);
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, dt, 1, &n, where);
  if (rc) return tideL_raise(L, rc);
  int isz = tide_dtype_size(dt);
  if (allint) {
    for (int64_t i = 0; i < n; i++) tide_store_i64(dt, out->data + i * isz, ia + i * is);
  } else {
    for (int64_t i = 0; i < n; i++) tide_store_f64(dt, out->data + i * isz, a + (double)i * step);
  }
  return 1;
}
static int l_arange(lua_State *L) { return make_range(L, 0); }
static int l_range(lua_State *L) { return make_range(L, 1); }

static int make_space(lua_State *L, int logscale) {
  double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
  lua_Integer n = luaL_optinteger(L, 3, logscale ? 50 : 50);
  luaL_argcheck(L, n >= 0, 3, "count must not be negative");
  int where, dt = tideL_ctor_opts(L, 4, TIDE_F64, &where);
  int64_t len = n;
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, dt, 1, &len, where);
  if (rc) return tideL_raise(L, rc);
  int isz = tide_dtype_size(dt);
  for (int64_t i = 0; i < n; i++) {
    double t = n == 1 ? a : (i == n - 1 ? b : a + (b - a) * (double)i / (double)(n - 1));
    tide_store_f64(dt, out->data + i * isz, logscale ? pow(10.0, t) : t);
  }
  return 1;
}
static int l_linspace(lua_State *L) { return make_space(L, 0); }
static int l_logspace(lua_State *L) { return make_space(L, 1); }

/* tide.array(nested tables [, dtype | opts]) */
static void nested_shape(lua_State *L, int t, int *ndim, int64_t *shape, int *kind) {
  /* Walks first elements to find the shape; kind: 0 int, 1 float, 2 bool. */
  int n = 0;
  lua_pushvalue(L, t);
  for (;;) {
    if (lua_istable(L, -1) || tideL_test(L, -1) || tideL_testrowset(L, -1)) {
      if (n >= TIDE_MAXDIM) luaL_error(L, "tables nested more than 32 deep");
      shape[n++] = (int64_t)luaL_len(L, -1);
      if (shape[n - 1] == 0) break;
      lua_geti(L, -1, 1);
      lua_remove(L, -2);
    } else {
      break;
    }
  }
  *kind = lua_isboolean(L, -1) ? 2 : lua_isinteger(L, -1) ? 0 : 1;
  lua_pop(L, 1);
  *ndim = n;
}

static void fill_nested(lua_State *L, int depth, int ndim, const int64_t *shape,
                        tide_Array *a, int64_t *idx, int *kind, int scan) {
  /* stack top: the (sub)table at this depth */
  if ((int64_t)luaL_len(L, -1) != shape[depth])
    luaL_error(L, "ragged nested table: length %d at depth %d, expected %d",
               (int)luaL_len(L, -1), depth + 1, (int)shape[depth]);
  for (int64_t i = 0; i < shape[depth]; i++) {
    idx[depth] = i;
    lua_geti(L, -1, i + 1);
    if (depth + 1 < ndim) {
      if (!lua_istable(L, -1) && !tideL_test(L, -1) && !tideL_testrowset(L, -1))
        luaL_error(L, "ragged nested table: a number where a table of length %d belongs",
                   (int)shape[depth + 1]);
      fill_nested(L, depth + 1, ndim, shape, a, idx, kind, scan);
    } else if (scan) {
      if (lua_isinteger(L, -1)) { if (*kind == 2) *kind = 0; }
      else if (lua_type(L, -1) == LUA_TNUMBER) *kind = 1;
      else if (!lua_isboolean(L, -1))
        luaL_error(L, "array element must be a number or boolean, got %s", luaL_typename(L, -1));
    } else {
      tideL_toelem(L, lua_gettop(L), a->dtype, tide_array_at(a, idx));
    }
    lua_pop(L, 1);
  }
}

static int l_array(lua_State *L) {
  tideL_RowSet *rs = tideL_testrowset(L, 1);
  if (rs) { /* tide.array(rowset [, dtype | opts]): its rows, i64 by default */
    int where, dt = tideL_ctor_opts(L, 2, TIDE_I64, &where);
    tideL_rowset_push(L, rs, dt, where);
    return 1;
  }
  if (tideL_test(L, 1)) { /* tide.array(a [, dtype]) copies */
    tide_Array *src = tideL_check(L, 1);
    int where, dt = tideL_ctor_opts(L, 2, src->dtype, &where);
    tide_Array *a = tideL_push(L);
    int rc = tide_array_copy(src, dt, a);
    return rc ? tideL_raise(L, rc) : 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t shape[TIDE_MAXDIM], idx[TIDE_MAXDIM];
  int ndim, kind, where;
  nested_shape(L, 1, &ndim, shape, &kind);
  lua_pushvalue(L, 1);
  fill_nested(L, 0, ndim, shape, NULL, idx, &kind, 1);
  lua_pop(L, 1);
  int dflt = kind == 2 ? TIDE_BOOL : kind == 0 ? TIDE_I64 : TIDE_F64;
  int dt = tideL_ctor_opts(L, 2, dflt, &where);
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, ndim, shape, where);
  if (rc) return tideL_raise(L, rc);
  lua_pushvalue(L, 1);
  fill_nested(L, 0, ndim, shape, a, idx, &kind, 0);
  lua_pop(L, 1);
  return 1;
}

static int l_is_array(lua_State *L) {
  lua_pushboolean(L, tideL_test(L, 1) != NULL);
  return 1;
}

/* ------------------------------------------------------------ access */

static int a_get(lua_State *L);

static int a_index(lua_State *L) {
  int kt = lua_type(L, 2);
  if (kt == LUA_TSTRING) { /* methods first (a:get, a:sum): one lookup */
    /* a:get, the element-wise read, by pointer: short strings are
    ** interned, so the key is "get" exactly when its characters are those
    ** of the string "get" (upvalue 3 points at them, upvalue 4 is the
    ** string, so they stay where they are) */
    if (lua_tostring(L, 2) == lua_touserdata(L, lua_upvalueindex(3))) {
      lua_pushcfunction(L, a_get);
      return 1;
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
  }
  tideL_Array *u = tag_array(L, 1);
  if (!u) u = luaL_checkudata(L, 1, TIDE_ARRAY_MT); /* raises */
  tide_Array *a = &u->a;
  if (kt == LUA_TNUMBER) {
    if (!a->storage) return luaL_error(L, "array is closed");
    if (a->ndim == 0) return luaL_error(L, "cannot index a 0-dimensional array");
    /* one past the end reads nil, as for a table: ipairs(a) stops there */
    int isint;
    lua_Integer k = lua_tointegerx(L, 2, &isint);
    if (isint && k == a->shape[0] + 1) return 0;
    int64_t i = isint ? fast_index(k, a->shape[0]) : -1;
    if (i < 0) i = check_index(L, 2, a->shape[0], 0); /* raises */
    if (a->ndim == 1) {
      tideL_pushelem(L, a->dtype, a->data + i * a->strides[0]);
      return 1;
    }
    push_row_view(L, a, i);
    return 1;
  }
  if (lua_type(L, 2) == LUA_TUSERDATA) return tideL_mask_index(L); /* a[mask] (l_shape.c) */
  const char *k = lua_tostring(L, 2);
  if (k) {
    if (strcmp(k, "shape") == 0) {
      lua_createtable(L, a->ndim, 0);
      for (int d = 0; d < a->ndim; d++) {
        lua_pushinteger(L, a->shape[d]);
        lua_rawseti(L, -2, d + 1);
      }
      return 1;
    }
    if (strcmp(k, "ndim") == 0) { lua_pushinteger(L, a->ndim); return 1; }
    if (strcmp(k, "dtype") == 0) { lua_pushstring(L, tide_dtypes[a->dtype].name); return 1; }
    if (strcmp(k, "size") == 0) { lua_pushinteger(L, tide_array_size(a)); return 1; }
    if (strcmp(k, "itemsize") == 0) { lua_pushinteger(L, tide_dtype_size(a->dtype)); return 1; }
    if (strcmp(k, "nbytes") == 0) {
      lua_pushinteger(L, tide_array_size(a) * tide_dtype_size(a->dtype));
      return 1;
    }
    if (strcmp(k, "strides") == 0) {
      lua_createtable(L, a->ndim, 0);
      for (int d = 0; d < a->ndim; d++) {
        lua_pushinteger(L, a->strides[d] / tide_dtype_size(a->dtype));
        lua_rawseti(L, -2, d + 1);
      }
      return 1;
    }
    if (strcmp(k, "storage") == 0) {
      static const char *const kinds[] = {"heap", "shared", "file", "borrowed"};
      if (!a->storage) lua_pushliteral(L, "closed");
      else lua_pushstring(L, kinds[a->storage->kind]);
      return 1;
    }
    if (strcmp(k, "closed") == 0) { lua_pushboolean(L, a->storage == NULL); return 1; }
    if (strcmp(k, "readonly") == 0) {
      lua_pushboolean(L, (a->flags & TIDE_AF_READONLY) != 0);
      return 1;
    }
  }
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int a_newindex(lua_State *L) {
  tide_Array *a = check_fast(L, 1);
  if (lua_type(L, 2) == LUA_TUSERDATA) return tideL_mask_newindex(L); /* a[mask] = v */
  if (lua_type(L, 2) != LUA_TNUMBER)
    return luaL_error(L, "cannot set field '%s' of an array", luaL_tolstring(L, 2, NULL));
  if (a->ndim == 0) return luaL_error(L, "cannot index a 0-dimensional array");
  tideL_checkwritable(L, a, "__newindex");
  int isint;
  lua_Integer k = lua_tointegerx(L, 2, &isint);
  int64_t i = isint ? fast_index(k, a->shape[0]) : -1;
  if (i < 0) i = check_index(L, 2, a->shape[0], 0); /* raises */
  if (a->ndim == 1) {
    tideL_toelem(L, 3, a->dtype, a->data + i * a->strides[0]);
    return 0;
  }
  tide_Array row = *a;
  tide_array_select(&row, 0, i);
  tide_Array *src = tideL_toarray(L, 3);
  int rc = src ? tide_array_assign(&row, src)
               : tide_array_fill(&row, lua_isboolean(L, 3) ? lua_toboolean(L, 3)
                                                           : luaL_checknumber(L, 3));
  return rc ? tideL_raise(L, rc) : 0;
}

static int a_len(lua_State *L) {
  tide_Array *a = check_fast(L, 1);
  lua_pushinteger(L, a->ndim ? a->shape[0] : 1);
  return 1;
}

static int a_gc(lua_State *L) {
  tideL_Array *u = tag_array(L, 1);
  if (!u) u = luaL_checkudata(L, 1, TIDE_ARRAY_MT); /* raises */
  tide_array_close(&u->a);
  return 0;
}

static int a_close(lua_State *L) { return a_gc(L); }

/* The element of a at the indices at stack positions 2..ndim+1 when a has
** one or two dimensions and they are integers in range; NULL otherwise
** (the general path then checks them and raises). */
static inline unsigned char *fast_elem(lua_State *L, const tide_Array *a) {
  int isint;
  lua_Integer k = lua_tointegerx(L, 2, &isint);
  int64_t i = isint ? fast_index(k, a->shape[0]) : -1;
  if (i < 0) return NULL;
  if (a->ndim == 1) return a->data + i * a->strides[0];
  k = lua_tointegerx(L, 3, &isint);
  int64_t j = isint ? fast_index(k, a->shape[1]) : -1;
  if (j < 0) return NULL;
  return a->data + i * a->strides[0] + j * a->strides[1];
}

static int a_get(lua_State *L) {
  int n = lua_gettop(L) - 1;
  /* the common case first, in as few API calls as it takes: an open
  ** array of one or two dimensions, indices in range, a f64 element */
  tideL_Array *u = tag_array(L, 1);
  if (u && u->a.storage && n == u->a.ndim && (n == 1 || n == 2)) {
    unsigned char *p = fast_elem(L, &u->a);
    if (p) {
      if (u->a.dtype == TIDE_F64) lua_pushnumber(L, *(const double *)p);
      else tideL_pushelem(L, u->a.dtype, p);
      return 1;
    }
  }
  tide_Array *a = check_fast(L, 1);
  int64_t idx[TIDE_MAXDIM];
  if (n != a->ndim)
    return luaL_error(L, "get: %d indices given for a %d-dimensional array", n, a->ndim);
  for (int d = 0; d < n; d++) idx[d] = check_index(L, d + 2, a->shape[d], d);
  tideL_pushelem(L, a->dtype, tide_array_at(a, idx));
  return 1;
}

static int a_set(lua_State *L) {
  int n = lua_gettop(L) - 2;
  tide_Array *a = check_fast(L, 1);
  int64_t idx[TIDE_MAXDIM];
  if (n != a->ndim)
    return luaL_error(L, "set: %d indices given for a %d-dimensional array", n, a->ndim);
  tideL_checkwritable(L, a, "set");
  if (n == 1 || n == 2) {
    unsigned char *p = fast_elem(L, a);
    if (p) {
      tideL_toelem(L, n + 2, a->dtype, p);
      lua_settop(L, 1);
      return 1;
    }
  }
  for (int d = 0; d < n; d++) idx[d] = check_index(L, d + 2, a->shape[d], d);
  tideL_toelem(L, n + 2, a->dtype, tide_array_at(a, idx));
  lua_settop(L, 1);
  return 1;
}

/* a:slice(dim, from, to [, step]): inclusive bounds, 1-based; negative
** bounds count from the end. */
static int a_slice(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  lua_Integer dim = luaL_checkinteger(L, 2);
  luaL_argcheck(L, dim >= 1 && dim <= a->ndim, 2, "dimension out of range");
  int64_t len = a->shape[dim - 1];
  lua_Integer from = luaL_optinteger(L, 3, 1), to = luaL_optinteger(L, 4, len);
  lua_Integer step = luaL_optinteger(L, 5, 1);
  luaL_argcheck(L, step != 0, 5, "step must not be 0");
  luaL_argcheck(L, step > LUA_MININTEGER, 5, "step out of range");
  if (from < 0) from += len + 1;
  if (to < 0) to += len + 1;
  tide_Array *v = tideL_push(L);
  tide_array_view(v, a);
  int rc;
  if (step > 0) {
    if (to < from - 1) to = from - 1; /* empty */
    if (from < 1 || from > len + 1 || to > len)
      return luaL_error(L, "slice %I..%I out of range for dimension %d of size %I",
                        from, to, (int)dim, (lua_Integer)len);
    rc = tide_array_slice(v, (int)dim - 1, from - 1, to, step);
  } else {
    if (from < 1 || from > len || to < 1 || to > from)
      return luaL_error(L, "slice %I..%I (step %I) out of range for dimension %d of size %I",
                        from, to, step, (int)dim, (lua_Integer)len);
    rc = tide_array_slice(v, (int)dim - 1, from - 1, to - 2, step);
  }
  return rc ? tideL_raise(L, rc) : 1;
}

static int select_view(lua_State *L, int dim) {
  tide_Array *a = tideL_check(L, 1);
  if (a->ndim < dim + 1)
    return luaL_error(L, "%s: array has %d dimension(s)", dim ? "col" : "row", a->ndim);
  int64_t i = check_index(L, 2, a->shape[dim], dim);
  tide_Array *v = tideL_push(L);
  tide_array_view(v, a);
  tide_array_select(v, dim, i);
  return 1;
}
static int a_row(lua_State *L) { return select_view(L, 0); }
static int a_col(lua_State *L) { return select_view(L, 1); }

static int a_t(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  tide_Array *v = tideL_push(L);
  tide_array_view(v, a);
  tide_array_transpose(v);
  return 1;
}

static int a_reshape(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int64_t shape[TIDE_MAXDIM];
  int n = 0;
  if (lua_istable(L, 2)) {
    int len = (int)luaL_len(L, 2);
    luaL_argcheck(L, len <= TIDE_MAXDIM, 2, "too many dimensions");
    for (int k = 1; k <= len; k++) {
      lua_geti(L, 2, k);
      shape[n++] = luaL_checkinteger(L, -1);
      lua_pop(L, 1);
    }
  } else {
    for (int i = 2; i <= lua_gettop(L); i++) {
      luaL_argcheck(L, n < TIDE_MAXDIM, i, "too many dimensions");
      shape[n++] = luaL_checkinteger(L, i);
    }
  }
  tide_Array *v = tideL_push(L);
  tide_array_view(v, a);
  int rc = tide_array_reshape_view(v, n, shape);
  if (rc == TIDE_ESHAPE && lua_toboolean(L, lua_upvalueindex(1)) && !tide_array_is_c_contiguous(a)) {
    lua_pop(L, 1); /* as numpy: a copy when no view has that shape */
    v = tideL_push(L);
    rc = tide_array_copy(a, -1, v);
    if (!rc) rc = tide_array_reshape_view(v, n, shape);
  }
  return rc ? tideL_raise(L, rc) : 1;
}

static int a_copy(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int where, dt = tideL_ctor_opts(L, 2, a->dtype, &where);
  tide_Array *c = tideL_push(L);
  int rc = tide_array_new(c, dt, a->ndim, a->shape, where);
  if (!rc) rc = tide_array_assign(c, a);
  return rc ? tideL_raise(L, rc) : 1;
}

static int a_astype(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int dt = tideL_checkdtype(L, 2, -1);
  luaL_argcheck(L, dt >= 0, 2, "dtype expected");
  tide_Array *c = tideL_push(L);
  int rc = tide_array_copy(a, dt, c);
  return rc ? tideL_raise(L, rc) : 1;
}

/* Reads a 1-based index array, rowset or table at arg i into a malloc'd buffer of
** 0-based indices; bounds are checked by the core. */
/* Row number v, at position k of argument i, to its 0-based index;
** math.mininteger has none (v - 1 overflows), and is out of range. */
static int64_t zero_based(lua_State *L, int i, int64_t k, int64_t v) {
  if (v == INT64_MIN)
    luaL_argerror(L, i, lua_pushfstring(L, "index %I (position %I) out of range",
                                        (lua_Integer)v, (lua_Integer)k + 1));
  return v - 1;
}

static int64_t *check_indices(lua_State *L, int i, int64_t *n) {
  tide_Array *ia = tideL_test(L, i);
  tideL_RowSet *rs = ia ? NULL : tideL_testrowset(L, i);
  int64_t *idx;
  /* a rowset or a view can name far more rows than memory holds (a rowset
  ** of 2^40 rows is two numbers): the buffer is admitted first, as arrays
  ** are, instead of asking the allocator for terabytes */
  int64_t want = rs ? rs->n : ia && ia->ndim == 1 ? ia->shape[0] : 0;
  if (want > (int64_t)(SIZE_MAX / 2 / sizeof *idx)) return luaL_argerror(L, i, "too many indices"), NULL;
  if (want > 0) {
    int rc = tide__admit_memory((uint64_t)want * sizeof *idx, "the indices");
    if (rc) return tideL_raise(L, rc), NULL;
  }
  if (rs) {
    *n = rs->n;
    idx = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *idx, 0);
    tideL_rowset_expand(rs, idx, 0);
  } else if (ia) {
    tideL_check(L, i);
    luaL_argcheck(L, ia->ndim == 1, i, "index array must be 1-dimensional");
    luaL_argcheck(L, !tide_dtype_isfloat(ia->dtype), i, "index array must have an integer dtype");
    *n = ia->shape[0];
    idx = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *idx, 0);
    for (int64_t k = 0; k < *n; k++)
      idx[k] = zero_based(L, i, k, tide_load_i64(ia->dtype, ia->data + k * ia->strides[0]));
  } else {
    luaL_checktype(L, i, LUA_TTABLE);
    *n = (int64_t)luaL_len(L, i);
    idx = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *idx, 0);
    for (int64_t k = 0; k < *n; k++) {
      lua_geti(L, i, k + 1);
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (!isnum) luaL_argerror(L, i, "index table must hold integers");
      idx[k] = zero_based(L, i, k, v);
      lua_pop(L, 1);
    }
  }
  return idx; /* kept alive by the userdata on the stack */
}

static int a_take(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  lua_Integer dim = luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, dim >= 1 && dim <= a->ndim, 3, "dimension out of range");
  int64_t n;
  int64_t *idx = check_indices(L, 2, &n);
  tide_Array *out = tideL_push(L);
  int rc = tide_array_take(a, idx, n, (int)dim - 1, out);
  return rc ? tideL_argraise(L, 2, rc) : 1;
}

/* a:put(rows, values [, dim]): a[rows[i]] = values[i] along dim (1 by
** default) -- take's inverse, filling rows in place; returns a. */
static int a_put(lua_State *L) {
  tide_Array *a = tideL_check(L, 1), *v = tideL_check(L, 3);
  lua_Integer dim = luaL_optinteger(L, 4, 1);
  luaL_argcheck(L, dim >= 1 && dim <= a->ndim, 4, "dimension out of range");
  tideL_checkwritable(L, a, "put");
  int64_t n;
  int64_t *idx = check_indices(L, 2, &n);
  int rc = tide_array_put(a, idx, n, (int)dim - 1, v);
  if (rc) return tideL_argraise(L, rc == TIDE_ESHAPE ? 3 : 2, rc);
  lua_settop(L, 1);
  return 1;
}

static int a_fill_(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  tideL_checkwritable(L, a, "fill_");
  double v = lua_isboolean(L, 2) ? lua_toboolean(L, 2) : luaL_checknumber(L, 2);
  int rc = tide_array_fill(a, v);
  if (rc) return tideL_raise(L, rc);
  lua_settop(L, 1);
  return 1;
}

static int a_assign_(lua_State *L) {
  tide_Array *a = tideL_check(L, 1), *b = tideL_check(L, 2);
  tideL_checkwritable(L, a, "assign_");
  int rc = tide_array_assign(a, b);
  if (rc) return tideL_argraise(L, 2, rc);
  lua_settop(L, 1);
  return 1;
}

static int a_flush(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int rc = tide_storage_flush(a->storage);
  if (rc) return tideL_fail(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static void push_table(lua_State *L, const tide_Array *a, int depth, unsigned char *p) {
  lua_createtable(L, (int)a->shape[depth], 0);
  for (int64_t i = 0; i < a->shape[depth]; i++) {
    unsigned char *q = p + i * a->strides[depth];
    if (depth + 1 == a->ndim) tideL_pushelem(L, a->dtype, q);
    else push_table(L, a, depth + 1, q);
    lua_rawseti(L, -2, i + 1);
  }
}

static int a_totable(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  /* Lua tables: 16 bytes an element, about 64 a nested table.  A mapped
  ** or lazily zeroed array can be far bigger than that memory: refused
  ** before Lua grows tables until the machine kills the process. */
  double tables = 0, run = 1;
  for (int d = 0; d < a->ndim; d++) {
    if (a->shape[d] > INT32_MAX)
      return luaL_error(L, "totable: dimension %d (%I) does not fit in a Lua table", d + 1,
                        (lua_Integer)a->shape[d]);
    tables += run;
    run *= (double)a->shape[d];
  }
  double need = run * 16 + tables * 64;
  if (need > 0x1p62) return luaL_error(L, "totable: array too big for Lua tables");
  int rc = tide__admit_memory((uint64_t)need, "the array's Lua tables");
  if (rc) return tideL_raise(L, rc);
  if (a->ndim == 0) tideL_pushelem(L, a->dtype, a->data);
  else {
    luaL_checkstack(L, a->ndim + 4, "array nested too deep");
    push_table(L, a, 0, a->data);
  }
  return 1;
}

static int a_item(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  if (tide_array_size(a) != 1)
    return luaL_error(L, "item: array has %d elements, not 1", (int)tide_array_size(a));
  int64_t idx[TIDE_MAXDIM] = {0};
  tideL_pushelem(L, a->dtype, tide_array_at(a, idx));
  return 1;
}

static int a_is_contiguous(lua_State *L) {
  lua_pushboolean(L, tide_array_is_c_contiguous(tideL_check(L, 1)));
  return 1;
}

static int a_tostring(lua_State *L);

void tideB_open_array(lua_State *L) {
  /* element access: closures over the metatable (for the views they make)
  ** and the method table */
  static const luaL_Reg meta[] = {
    {"__index", a_index}, {"__newindex", a_newindex}, {"__len", a_len},
    {"__gc", a_gc}, {"__close", a_close}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"get", a_get}, {"set", a_set}, {"slice", a_slice}, {"row", a_row},
    {"col", a_col}, {"t", a_t}, {"view", a_reshape},
    {"copy", a_copy}, {"clone", a_copy}, {"astype", a_astype}, {"take", a_take},
    {"put", a_put}, {"fill_", a_fill_}, {"assign_", a_assign_}, {"flush", a_flush},
    {"close", a_close}, {"totable", a_totable}, {"item", a_item},
    {"is_contiguous", a_is_contiguous}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"full", l_full},
    {"eye", l_eye}, {"arange", l_arange}, {"range", l_range},
    {"linspace", l_linspace}, {"logspace", l_logspace}, {"array", l_array},
    {"is_array", l_is_array}, {NULL, NULL}};
  /* stack: tide */
  luaL_newmetatable(L, TIDE_ARRAY_MT);
  lua_pushcfunction(L, a_tostring);
  lua_setfield(L, -2, "__tostring");
  luaL_newlib(L, methods);
  lua_pushboolean(L, 1); /* reshape copies when it must; view (the same
                         ** function, without the upvalue) never does */
  lua_pushcclosure(L, a_reshape, 1);
  lua_setfield(L, -2, "reshape");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods");
  /* stack: tide, mt, methods */
  lua_pushvalue(L, -2);
  lua_insert(L, -2); /* stack: tide, mt, mt, methods */
  /* a_index's short cut to get (see there): where the characters of the
  ** name are, and the name */
  lua_pushliteral(L, "get");
  lua_pushlightuserdata(L, (void *)lua_tostring(L, -1));
  lua_insert(L, -2); /* stack: tide, mt, mt, methods, chars, "get" */
  luaL_setfuncs(L, meta, 4);
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  tideB_open_shape(L);
}

/* ------------------------------------------------------------ printing */

/* tostring(a): summarized like numpy, then shape, dtype and storage. */


static int a_tostring(lua_State *L) {
  tideL_Array *u = luaL_checkudata(L, 1, TIDE_ARRAY_MT);
  if (!u->a.storage) {
    lua_pushliteral(L, "array(closed)");
    return 1;
  }
  char *s = tide_array_format(&u->a, NULL);
  if (!s) return luaL_error(L, "out of memory formatting an array");
  tideL_pushowned(L, s, (size_t)-1);
  return 1;
}
