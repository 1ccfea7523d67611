/*
** l_hash.c -- Lua values hashed by content (XXH3-128): tide.hash, and the
** keys of tide.memoize.
**
** A value's hash covers what it is, never where it lives: numbers keep
** integer and float apart; strings their bytes; a table its pairs in a
** canonical order (whatever the order of insertion or the table's size)
** and the sharing of tables inside it (a reference to one seen before is
** its first-seen number, so cycles end); an array its dtype, shape and
** elements in C order (the digest cached per array version, core/hash.c);
** an object of a registered class its class name and fields.  A Lua
** function is its code (string.dump stripped of debug information, with
** the lines where it and its nested functions start left out, so moving
** it or editing a comment changes nothing), its upvalues by value, and the
** globals it reads -- found by walking its bytecode for GETTABUP on _ENV
** -- by value.  Library values go by name: C functions, tables and
** userdata of the modules in package.loaded (math.sqrt, tide.models) and
** tide's own Lua functions (tide.models.ridge).  What cannot be hashed (a
** coroutine, a file handle, an unnamed C function) raises an error naming
** the path to it.
*/
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "bind.h"
#include "hash_bind.h"
#include "fninfo.h"
#include "path.h"

#define REG_FNINFO TIDEF_REG_FNINFO
#define REG_ALIAS "tide.hash_alias"   /* weak keys: value -> the value hashed instead */
#define REG_BY_MT "tide.class_by_mt"  /* l_codec.c: metatable -> class name */
#define HASHER_MT "tide.hasher"

#define DYN_ENV TIDEF_DYN_ENV

#define MAXDEPTH 200
#define MAXSTEPS (2 * MAXDEPTH + 8)
#define ARROW " \xe2\x86\x92 " /* " → " */

typedef tideP_Step Step;

typedef struct tideH {
  lua_State *L;
  tide_Hasher *h;
  int seen;    /* stack slot: table/array/function -> id */
  int names;   /* stack slot: REG_NAMES */
  int fninfo;  /* stack slot: REG_FNINFO */
  int alias;   /* stack slot: REG_ALIAS */
  int bymt;    /* stack slot: REG_BY_MT or nil */
  lua_Integer nextid;
  int depth;
  const char *root;
  int nsteps;
  Step steps[MAXSTEPS];
  size_t nbuf;
  unsigned char buf[512]; /* small writes are gathered before the hasher */
} H;

/* ------------------------------------------------------------------ output */

static void flush(H *h) {
  tide_hasher_update(h->h, h->buf, h->nbuf);
  h->nbuf = 0;
}

static void put(H *h, const void *p, size_t n) {
  if (n > sizeof h->buf - h->nbuf) {
    flush(h);
    if (n > sizeof h->buf) {
      tide_hasher_update(h->h, p, n);
      return;
    }
  }
  memcpy(h->buf + h->nbuf, p, n);
  h->nbuf += n;
}

static void put_u8(H *h, unsigned v) {
  unsigned char x = (unsigned char)v;
  put(h, &x, 1);
}

static void put_u64(H *h, uint64_t v) {
  unsigned char x[8];
  for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
  put(h, x, 8);
}

static void put_str(H *h, const char *s, size_t n) {
  put_u64(h, n);
  put(h, s, n);
}

/* ------------------------------------------------------------------ errors */

/* Raises "<root> → <steps>: cannot hash <what>"; long paths keep their ends. */
static _Noreturn void fail(H *h, const char *what) {
  lua_State *L = h->L;
  luaL_Buffer lb;
  luaL_buffinit(L, &lb);
  luaL_addstring(&lb, h->root);
  int n = h->nsteps < MAXSTEPS ? h->nsteps : MAXSTEPS;
  for (int i = 0; i < n; i++) {
    if (n > 12 && i == 4) {
      luaL_addstring(&lb, ARROW "...");
      i = n - 7;
      continue;
    }
    luaL_addstring(&lb, ARROW);
    tideP_add_step(&lb, &h->steps[i]);
  }
  luaL_addstring(&lb, ": cannot hash ");
  luaL_addstring(&lb, what);
  luaL_pushresult(&lb);
  lua_error(L);
  for (;;) {}
}

static void push_step(H *h, Step s) {
  if (h->nsteps < MAXSTEPS) h->steps[h->nsteps] = s;
  h->nsteps++;
}
static void pop_step(H *h) { h->nsteps--; }



/* 'N' + name when the value at idx is a library value; else 0.  A C
** function not found makes the registry be built again once (a module
** may have gained it since). */
static int put_named(H *h, int idx) {
  lua_State *L = h->L;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, h->names) != LUA_TSTRING && lua_iscfunction(L, idx)) {
    lua_pop(L, 1);
    tideF_push_names(L, 1);
    lua_replace(L, h->names);
    lua_pushvalue(L, idx);
    lua_rawget(L, h->names);
  }
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    return 0;
  }
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  put_u8(h, 'N');
  put_str(h, s, n);
  lua_pop(L, 1);
  return 1;
}

/* ------------------------------------------------------ values by content */

static void hv(H *h, int idx);

/* 'R' + id when the value at idx was seen; else gives it the next id. */
static int put_seen(H *h, int idx) {
  lua_State *L = h->L;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, h->seen) == LUA_TNUMBER) {
    put_u8(h, 'R');
    put_u64(h, (uint64_t)lua_tointeger(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, h->nextid++);
  lua_rawset(L, h->seen);
  return 0;
}

/* Sort record of one table key. */
typedef struct Key {
  int rank;      /* 0 boolean, 1 number, 2 string, 3 other */
  int isint;
  lua_Integer i;
  lua_Number f;
  const char *s;
  size_t len;
  unsigned char d[TIDE_DIGEST_LEN]; /* other keys: their own hash */
  lua_Integer at; /* position in the keys table */
} Key;

static int cmp_key(const void *x, const void *y) {
  const Key *a = x, *b = y;
  if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
  switch (a->rank) {
    case 0: return (int)a->i - (int)b->i;
    case 1: {
      if (a->isint && b->isint) return a->i < b->i ? -1 : a->i > b->i;
      lua_Number u = a->isint ? (lua_Number)a->i : a->f, v = b->isint ? (lua_Number)b->i : b->f;
      if (u != v) return u < v ? -1 : 1;
      return b->isint - a->isint; /* integer first */
    }
    case 2: {
      size_t n = a->len < b->len ? a->len : b->len;
      int c = memcmp(a->s, b->s, n);
      return c ? c : (a->len > b->len) - (a->len < b->len);
    }
    default: return memcmp(a->d, b->d, TIDE_DIGEST_LEN);
  }
}

static void hash_alone(H *parent, int idx, unsigned char out[TIDE_DIGEST_LEN]);

/* A table's pairs: a sequence 1..n in order, else every pair in the
** order of its key (booleans, numbers, strings, then other keys by their
** own hash). */
static void h_body(H *h, int t) {
  lua_State *L = h->L;
  lua_Unsigned n = lua_rawlen(L, t);
  lua_Integer npairs = 0;
  int seq = 1;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    npairs++;
    if (seq && !(lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 &&
                 (lua_Unsigned)lua_tointeger(L, -2) <= n))
      seq = 0;
    lua_pop(L, 1);
  }
  if (seq && (lua_Unsigned)npairs == n) {
    put_u8(h, 'S');
    put_u64(h, n);
    for (lua_Unsigned i = 1; i <= n; i++) {
      lua_rawgeti(L, t, (lua_Integer)i);
      push_step(h, (Step){'i', NULL, 0, (lua_Integer)i, 0});
      hv(h, lua_gettop(L));
      pop_step(h);
      lua_pop(L, 1);
    }
    return;
  }
  lua_createtable(L, (int)(npairs < (1 << 24) ? npairs : 1 << 24), 0);
  int keys = lua_gettop(L);
  Key *k = lua_newuserdatauv(L, (size_t)(npairs ? npairs : 1) * sizeof *k, 0);
  lua_Integer m = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (m == npairs) continue; /* cannot happen: nothing writes t meanwhile */
    Key *r = &k[m];
    memset(r, 0, sizeof *r);
    r->at = ++m;
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, m);
    switch (lua_type(L, -1)) {
      case LUA_TBOOLEAN: r->rank = 0; r->i = lua_toboolean(L, -1); break;
      case LUA_TNUMBER:
        r->rank = 1;
        r->isint = lua_isinteger(L, -1);
        if (r->isint) r->i = lua_tointeger(L, -1);
        else r->f = lua_tonumber(L, -1);
        break;
      case LUA_TSTRING: r->rank = 2; r->s = lua_tolstring(L, -1, &r->len); break;
      default:
        r->rank = 3;
        push_step(h, (Step){'k', NULL, 0, 0, 0});
        hash_alone(h, lua_gettop(L), r->d);
        pop_step(h);
        break;
    }
  }
  qsort(k, (size_t)m, sizeof *k, cmp_key);
  put_u8(h, 'P');
  put_u64(h, (uint64_t)m);
  for (lua_Integer i = 0; i < m; i++) {
    lua_rawgeti(L, keys, k[i].at);
    int key = lua_gettop(L);
    push_step(h, (Step){'k', NULL, 0, 0, 0});
    hv(h, key);
    pop_step(h);
    lua_pushvalue(L, key);
    lua_rawget(L, t);
    push_step(h, tideP_key_step(L, key));
    hv(h, lua_gettop(L));
    pop_step(h);
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
}

static void h_table(H *h, int t) {
  lua_State *L = h->L;
  if (put_named(h, t) || put_seen(h, t)) return;
  if (lua_getmetatable(L, t)) {
    int mt = lua_gettop(L);
    lua_pushvalue(L, mt);
    if (lua_istable(L, h->bymt) && lua_rawget(L, h->bymt) == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      put_u8(h, 'O'); /* a registered class: its name stands for its code */
      put_str(h, s, n);
    } else {
      put_u8(h, 'M');
      push_step(h, (Step){'m', NULL, 0, 0, 0});
      hv(h, mt);
      pop_step(h);
    }
    lua_settop(L, mt - 1);
  }
  put_u8(h, 'T');
  h_body(h, t);
}

static void h_userdata(H *h, int idx) {
  lua_State *L = h->L;
  tide_Array *a = tideL_test(L, idx);
  if (a) {
    if (!a->storage) fail(h, "a closed array");
    if (put_seen(h, idx)) return;
    unsigned char d[TIDE_DIGEST_LEN];
    int rc = tide_array_digest(a, d, NULL);
    if (rc) fail(h, tide_lasterror());
    put_u8(h, 'A');
    put_u8(h, (unsigned)a->dtype);
    put_u8(h, (unsigned)a->ndim);
    for (int i = 0; i < a->ndim; i++) put_u64(h, (uint64_t)a->shape[i]);
    put(h, d, sizeof d);
    return;
  }
  tideL_RowSet *rs = tideL_testrowset(L, idx);
  if (rs) {
    put_u8(h, 'W');
    put_u64(h, (uint64_t)rs->nspan);
    for (int64_t k = 0; k < 2 * rs->nspan; k++) put_u64(h, (uint64_t)rs->span[k]);
    return;
  }
  if (put_named(h, idx)) return;
  const char *what = "a userdata";
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING)
    what = lua_pushfstring(L, "a userdata (%s)", lua_tostring(L, -1));
  fail(h, what);
}


static void h_function(H *h, int idx) {
  lua_State *L = h->L;
  if (put_named(h, idx)) return;
  if (lua_iscfunction(L, idx))
    fail(h, "a C function that is not a field of a loaded module (package.loaded)");
  if (put_seen(h, idx)) return;
  luaL_checkstack(L, 12, "hashing a function");
  const char *bad = tideF_analyse(L, idx, h->fninfo);
  if (bad) fail(h, bad);
  int info = lua_gettop(L);
  lua_getfield(L, info, "digest");
  put_u8(h, 'L');
  put(h, lua_tostring(L, -1), TIDE_DIGEST_LEN);
  lua_pop(L, 1);
  int env = (lua_getfield(L, info, "env"), (int)lua_tointeger(L, -1));
  int dyn = (lua_getfield(L, info, "dyn"), lua_toboolean(L, -1));
  lua_pop(L, 2);
  int nup = 0;
  for (int i = 1;; i++) {
    const char *name = lua_getupvalue(L, idx, i);
    if (!name) break;
    nup++;
    if (i == env) {
      put_u8(h, 'e');
    } else {
      push_step(h, (Step){'u', name, strlen(name), 0, 0});
      hv(h, lua_gettop(L));
      pop_step(h);
    }
    lua_pop(L, 1);
  }
  put_u8(h, 'U');
  put_u64(h, (uint64_t)nup);
  lua_Integer ng = (lua_Integer)lua_rawlen(L, info);
  if (env && ng > 0) {
    if (dyn) fail(h, DYN_ENV);
    lua_getupvalue(L, idx, env);
    int envt = lua_gettop(L);
    if (!lua_istable(L, envt)) fail(h, "a function whose _ENV is not a table");
    for (lua_Integer i = 1; i <= ng; i++) {
      lua_rawgeti(L, info, i);
      size_t n;
      const char *name = lua_tolstring(L, -1, &n);
      put_u8(h, 'g');
      put_str(h, name, n);
      lua_rawget(L, envt); /* raw: reading a global runs no __index */
      push_step(h, (Step){'g', name, n, 0, 0}); /* name lives in info */
      hv(h, lua_gettop(L));
      pop_step(h);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else if (dyn && env) {
    fail(h, DYN_ENV);
  }
  put_u8(h, 'G');
  put_u64(h, (uint64_t)(env ? ng : 0));
  lua_pop(L, 1);
}

static void hv(H *h, int idx) {
  lua_State *L = h->L;
  idx = lua_absindex(L, idx);
  int t = lua_type(L, idx);
  if (t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TUSERDATA) {
    lua_pushvalue(L, idx); /* a memoized wrapper hashes as what it wraps */
    if (lua_rawget(L, h->alias) != LUA_TNIL) {
      /* aliases chain (a memoized memoized function), and a value made an
      ** alias of itself loops: bounded as nesting is (fuzz_api) */
      if (h->depth >= MAXDEPTH) fail(h, "hash aliases that loop or chain more than 200 deep");
      luaL_checkstack(L, 16, "hash aliases chain too deep");
      h->depth++;
      put_u8(h, 'Z');
      hv(h, lua_gettop(L));
      h->depth--;
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
  }
  switch (t) {
    case LUA_TNIL: put_u8(h, 'n'); return;
    case LUA_TBOOLEAN: put_u8(h, lua_toboolean(L, idx) ? 't' : 'f'); return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        put_u8(h, 'i');
        put_u64(h, (uint64_t)lua_tointeger(L, idx));
      } else {
        double v = (double)lua_tonumber(L, idx);
        uint64_t u;
        memcpy(&u, &v, 8);
        put_u8(h, 'd');
        put_u64(h, u);
      }
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      put_u8(h, 's');
      put_str(h, s, n);
      return;
    }
    case LUA_TTABLE:
    case LUA_TFUNCTION:
      if (h->depth >= MAXDEPTH) fail(h, "a value nested more than 200 levels deep");
      luaL_checkstack(L, 16, "value nested too deep");
      h->depth++;
      if (t == LUA_TTABLE) h_table(h, idx);
      else h_function(h, idx);
      h->depth--;
      return;
    case LUA_TUSERDATA: h_userdata(h, idx); return;
    case LUA_TLIGHTUSERDATA: fail(h, "a light userdata");
    case LUA_TTHREAD: fail(h, "a thread (coroutine)");
    default: fail(h, "this value");
  }
}

/* ------------------------------------------------------------ contexts */

static int hasher_gc(lua_State *L) {
  tide_Hasher **p = luaL_checkudata(L, 1, HASHER_MT);
  tide_hasher_free(*p);
  *p = NULL;
  return 0;
}

/* Sets h up with its stack slots (6 values pushed: pop them with
** lua_settop when done) and a hasher owned by a userdata. */
static void h_begin(lua_State *L, H *h, const char *root, int depth) {
  luaL_checkstack(L, 24, "hashing a value");
  h->L = L;
  h->root = root;
  h->nextid = 0;
  h->depth = depth;
  h->nsteps = 0;
  h->nbuf = 0;
  tide_Hasher **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  luaL_setmetatable(L, HASHER_MT);
  if (!(*p = tide_hasher_new())) luaL_error(L, "out of memory");
  h->h = *p;
  lua_newtable(L);
  h->seen = lua_gettop(L);
  tideF_push_names(L, 0);
  h->names = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_FNINFO);
  h->fninfo = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_ALIAS);
  h->alias = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_BY_MT);
  h->bymt = lua_gettop(L);
}

static void h_end(H *h, unsigned char out[TIDE_DIGEST_LEN]) {
  flush(h);
  tide_hasher_digest(h->h, out);
}

/* The hash of one value on its own (a table key, to order keys). */
static void hash_alone(H *parent, int idx, unsigned char out[TIDE_DIGEST_LEN]) {
  lua_State *L = parent->L;
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  H *h = lua_newuserdatauv(L, sizeof *h, 0); /* large: not on the C stack */
  h_begin(L, h, parent->root, parent->depth);
  memcpy(h->steps, parent->steps, sizeof parent->steps);
  h->nsteps = parent->nsteps;
  hv(h, idx);
  h_end(h, out);
  lua_settop(L, top);
}

tideH *tideH_begin(lua_State *L, const char *root) {
  H *h = lua_newuserdatauv(L, sizeof *h, 0); /* large: not on the C stack */
  h_begin(L, h, root, 0);
  return h;
}

void tideH_bytes(tideH *h, const void *p, size_t n) { put_str(h, p, n); }

void tideH_add(tideH *h, int idx, int argno) {
  idx = lua_absindex(h->L, idx);
  if (argno) push_step(h, (Step){'a', NULL, 0, argno, 0});
  hv(h, idx);
  if (argno) pop_step(h);
}

void tideH_end(tideH *h, unsigned char out[TIDE_DIGEST_LEN]) {
  h_end(h, out);
  lua_pop(h->L, 7);
}

/* --------------------------------------------------------------- Lua API */

/* tide.hash(v) -> 32 hex digits */
static int l_hash(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  unsigned char d[TIDE_DIGEST_LEN];
  char hex[33];
  tideH *h = tideH_begin(L, "value");
  tideH_add(h, 1, 0);
  tideH_end(h, d);
  tide_digest_hex(d, hex);
  lua_pushstring(L, hex);
  return 1;
}

/* tide._internal.hash_alias(wrapper, f): wrapper hashes as f from now on. */
static int l_hash_alias(lua_State *L) {
  luaL_checkany(L, 2);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_ALIAS);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_rawset(L, -3);
  return 0;
}

void tideB_open_hash(lua_State *L) {
  lua_pushcfunction(L, l_hash);
  lua_setfield(L, -2, "hash");
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_hash_alias);
  lua_setfield(L, -2, "hash_alias");
  lua_pop(L, 1);
  luaL_newmetatable(L, HASHER_MT);
  lua_pushcfunction(L, hasher_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  for (int i = 0; i < 2; i++) { /* weak-keyed caches */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, i ? REG_ALIAS : REG_FNINFO);
  }
}
