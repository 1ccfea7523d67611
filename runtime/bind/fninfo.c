/*
** fninfo.c -- library names and the globals a Lua function reads
** (fninfo.h), for the hasher and for function shipping.
*/
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "../core/hash.h"
#include "bind.h"
#include "fninfo.h"

#define REG_NAMES TIDEF_REG_NAMES
#define NCOUNT "\1count" /* REG_NAMES[NCOUNT] = #package.loaded when built */

/* --------------------------------------------------------- library names */

/* Whether name is better than old for the same value: shorter, then
** smaller, so that every process picks the same one. */
static int better(const char *name, size_t n, const char *old, size_t m) {
  return n < m || (n == m && memcmp(name, old, n) < 0);
}

/* names[v] = name at the top (popped) unless v has a better one. */
static void consider(lua_State *L, int names, int v, int name) {
  size_t n, m;
  const char *s = lua_tolstring(L, name, &n);
  lua_pushvalue(L, v);
  if (lua_rawget(L, names) == LUA_TSTRING) {
    const char *old = lua_tolstring(L, -1, &m);
    if (!better(s, n, old, m)) {
      lua_pop(L, 1);
      return;
    }
  }
  lua_pop(L, 1);
  lua_pushvalue(L, v);
  lua_pushvalue(L, name);
  lua_rawset(L, names);
}

/* Whether v (at index v) may go by a name found at path `name`: never an
** array or rowset (their content changes), a Lua function only when it is
** tide's own (its code is tide's version), a table, C function or other
** userdata always. */
static int nameable(lua_State *L, int v, const char *name) {
  switch (lua_type(L, v)) {
    case LUA_TTABLE: return 1;
    case LUA_TFUNCTION: return lua_iscfunction(L, v) || strncmp(name, "tide.", 5) == 0;
    case LUA_TUSERDATA: return !tideL_test(L, v) && !tideL_testrowset(L, v);
    default: return 0;
  }
}

#define NAME_LEVELS 3 /* levels below module.field: tide.linalg.solve */

/* Names the fields of named tables that have no name yet (tide.metrics.r2
** when tide.metrics is not a module of its own), level by level, so that
** no name given above changes.  The globals table is not walked: what the
** script keeps there is its own, not a library's. */
static void name_deeper(lua_State *L, int names) {
  luaL_checkstack(L, 12, "naming library values");
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  int globals = lua_gettop(L);
  lua_newtable(L); /* the tables to walk: table -> its name */
  int front = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, names)) {
    if (lua_istable(L, -2) && !lua_rawequal(L, -2, globals)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, front);
    } else {
      lua_pop(L, 1);
    }
  }
  for (int level = 0; level < NAME_LEVELS; level++) {
    lua_newtable(L);
    int next = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, front)) {
      int tname = lua_gettop(L), t = tname - 1;
      lua_pushnil(L);
      while (lua_next(L, t)) {
        int v = lua_gettop(L), k = v - 1;
        if (lua_type(L, k) == LUA_TSTRING && !lua_rawequal(L, v, globals)) {
          lua_pushvalue(L, v);
          int known = lua_rawget(L, names) != LUA_TNIL;
          lua_pop(L, 1);
          if (!known) {
            lua_pushfstring(L, "%s.%s", lua_tostring(L, tname), lua_tostring(L, k));
            if (nameable(L, v, lua_tostring(L, -1))) {
              lua_pushvalue(L, v);
              lua_pushvalue(L, -2);
              lua_rawset(L, names);
              if (lua_istable(L, v)) {
                lua_pushvalue(L, v);
                lua_pushvalue(L, -2);
                lua_rawset(L, next);
              }
            }
            lua_pop(L, 1);
          }
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_replace(L, front);
  }
  lua_pop(L, 2);
}

/* Rebuilds REG_NAMES from package.loaded: each module by its name, and
** its fields as module.field (the globals table's C functions by their
** own names: print, pairs), then deeper fields (name_deeper).  Leaves the
** table at the top. */
static void build_names(lua_State *L, lua_Integer count) {
  lua_newtable(L);
  int names = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, loaded)) {
    int mod = lua_gettop(L), modname = mod - 1;
    if (lua_type(L, modname) != LUA_TSTRING) {
      lua_pop(L, 1);
      continue;
    }
    const char *mname = lua_tostring(L, modname);
    int is_g = strcmp(mname, "_G") == 0;
    if (nameable(L, mod, mname)) consider(L, names, mod, modname);
    if (lua_type(L, mod) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, mod)) {
        int v = lua_gettop(L), k = v - 1;
        if (lua_type(L, k) == LUA_TSTRING) {
          if (is_g) {
            if (lua_iscfunction(L, v)) consider(L, names, v, k);
          } else {
            lua_pushfstring(L, "%s.%s", mname, lua_tostring(L, k));
            if (nameable(L, v, lua_tostring(L, -1))) consider(L, names, v, lua_gettop(L));
            lua_pop(L, 1);
          }
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  name_deeper(L, names);
  lua_pushinteger(L, count);
  lua_setfield(L, names, NCOUNT);
  lua_pushvalue(L, names);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_NAMES);
}

static lua_Integer loaded_count(lua_State *L) {
  lua_Integer n = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    n++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

/* Pushes REG_NAMES, rebuilt when package.loaded changed (or force). */
void tideF_push_names(lua_State *L, int force) {
  lua_Integer count = loaded_count(L);
  if (!force && lua_getfield(L, LUA_REGISTRYINDEX, REG_NAMES) == LUA_TTABLE) {
    lua_getfield(L, -1, NCOUNT);
    int same = lua_tointeger(L, -1) == count;
    lua_pop(L, 1);
    if (same) return;
  }
  if (!force) lua_pop(L, 1);
  build_names(L, count);
}
/* --------------------------------------------------- functions' bytecode */

/* A reader of a Lua 5.4 binary chunk (string.dump's output, ldump.c). */
typedef struct Chunk {
  const unsigned char *p, *end;
  int bad;
  tide_Hasher *h;      /* the code, without source names and line numbers */
  lua_State *L;
  int names;           /* stack slot: set of global names read */
  int dyn;             /* _ENV used as a value: globals cannot be listed */
} Chunk;

static const unsigned char *c_bytes(Chunk *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = 1;
    return NULL;
  }
  const unsigned char *p = c->p;
  c->p += n;
  return p;
}

static unsigned c_byte(Chunk *c) {
  const unsigned char *p = c_bytes(c, 1);
  return p ? *p : 0;
}

/* ldump.c's dumpSize: 7-bit groups, most significant first, the last
** with its high bit set. */
static size_t c_size(Chunk *c) {
  size_t x = 0;
  for (int i = 0; i < 10; i++) {
    unsigned b = c_byte(c);
    if (c->bad) return 0;
    x = x << 7 | (b & 0x7f);
    if (b & 0x80) return x;
  }
  c->bad = 1;
  return 0;
}

static void c_hash_size(Chunk *c, size_t n) {
  uint64_t v = n;
  tide_hasher_update(c->h, &v, sizeof v);
}

/* A string: size + 1, then the bytes (size 0: none). */
static const unsigned char *c_string(Chunk *c, size_t *len) {
  size_t n = c_size(c);
  *len = n ? n - 1 : 0;
  return n ? c_bytes(c, n - 1) : NULL;
}

enum { OP_GETUPVAL = 9, OP_SETUPVAL = 10, OP_GETTABUP = 11 }; /* lopcodes.h, 5.4 */
enum { K_NIL = 0, K_FALSE = 1, K_TRUE = 17, K_INT = 3, K_FLT = 19, K_SHRSTR = 4, K_LNGSTR = 20 };

/* One function prototype.  env: a flag per upvalue of the enclosing
** function saying which hold _ENV (NULL for the top: envtop). */
static void c_function(Chunk *c, const unsigned char *penv, int npenv, int envtop, int depth) {
  if (depth > 200) c->bad = 1;
  size_t slen;
  c_string(c, &slen); /* source: stripped */
  c_size(c);          /* linedefined, lastlinedefined: left out */
  c_size(c);
  const unsigned char *hdr = c_bytes(c, 3); /* numparams, is_vararg, maxstacksize */
  size_t ncode = c_size(c);
  if (c->bad || ncode > (size_t)(c->end - c->p) / 4) { c->bad = 1; return; }
  const unsigned char *code = c_bytes(c, 4 * ncode);
  tide_hasher_update(c->h, hdr, 3);
  c_hash_size(c, ncode);
  tide_hasher_update(c->h, code, 4 * ncode);
  size_t nk = c_size(c);
  if (c->bad || nk > (size_t)(c->end - c->p)) { c->bad = 1; return; }
  c_hash_size(c, nk);
  /* Constants: where each short string is, for GETTABUP's key. */
  const unsigned char **ks = malloc((nk ? nk : 1) * sizeof *ks);
  size_t *kl = malloc((nk ? nk : 1) * sizeof *kl);
  if (!ks || !kl) {
    free(ks);
    free(kl);
    c->bad = 1;
    return;
  }
  for (size_t i = 0; i < nk && !c->bad; i++) {
    unsigned tt = c_byte(c);
    unsigned char t8 = (unsigned char)tt;
    tide_hasher_update(c->h, &t8, 1);
    ks[i] = NULL;
    switch (tt) {
      case K_NIL: case K_FALSE: case K_TRUE: break;
      case K_INT: case K_FLT: {
        const unsigned char *v = c_bytes(c, 8);
        if (v) tide_hasher_update(c->h, v, 8);
        break;
      }
      case K_SHRSTR: case K_LNGSTR: {
        size_t n;
        const unsigned char *s = c_string(c, &n);
        c_hash_size(c, n);
        if (s) tide_hasher_update(c->h, s, n);
        ks[i] = s;
        kl[i] = n;
        break;
      }
      default: c->bad = 1; break;
    }
  }
  size_t nup = c_size(c);
  unsigned char *env = NULL;
  if (!c->bad && nup <= (size_t)(c->end - c->p) / 3 && (env = calloc(nup ? nup : 1, 1))) {
    c_hash_size(c, nup);
    for (size_t i = 0; i < nup; i++) {
      const unsigned char *u = c_bytes(c, 3); /* instack, idx, kind */
      if (!u) break;
      tide_hasher_update(c->h, u, 3);
      if (penv) env[i] = !u[0] && u[1] < npenv && penv[u[1]];
      else env[i] = (int)i + 1 == envtop;
    }
  } else {
    c->bad = 1;
  }
  /* The globals this function reads: GETTABUP A B C with UpValue[B] _ENV
  ** and K[C] a string.  _ENV loaded as a value (GETUPVAL, SETUPVAL) means
  ** any global may be read. */
  for (size_t pc = 0; pc < ncode && !c->bad; pc++) {
    const unsigned char *ip = code + 4 * pc;
    uint32_t i = (uint32_t)ip[0] | (uint32_t)ip[1] << 8 | (uint32_t)ip[2] << 16 |
                 (uint32_t)ip[3] << 24;
    unsigned op = i & 0x7f, a = (i >> 7) & 0xff, b = (i >> 16) & 0xff, k = (i >> 24) & 0xff;
    if (op == OP_GETTABUP && b < nup && env[b]) {
      if (k < nk && ks[k]) {
        lua_pushlstring(c->L, (const char *)ks[k], kl[k]);
        lua_pushboolean(c->L, 1);
        lua_rawset(c->L, c->names);
      } else {
        c->dyn = 1;
      }
    } else if ((op == OP_GETUPVAL && b < nup && env[b]) || (op == OP_SETUPVAL && b < nup && env[b])) {
      c->dyn = 1;
    }
    (void)a;
  }
  free(ks);
  free(kl);
  size_t np = c_size(c);
  if (!c->bad && np > (size_t)(c->end - c->p)) c->bad = 1;
  if (!c->bad) c_hash_size(c, np);
  for (size_t i = 0; i < np && !c->bad; i++) c_function(c, env, (int)nup, 0, depth + 1);
  free(env);
  /* Debug information: empty in a stripped dump. */
  for (int i = 0; i < 4 && !c->bad; i++)
    if (c_size(c) != 0) c->bad = 1;
}

/* lua_dump's writer: the buffer starts at the first piece, above the
** function lua_dump reads (lstrlib's str_dump does the same). */
typedef struct DumpBuf {
  int init;
  luaL_Buffer b;
} DumpBuf;

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
  DumpBuf *d = ud;
  if (!d->init) {
    d->init = 1;
    luaL_buffinit(L, &d->b);
  }
  luaL_addlstring(&d->b, p, n);
  return 0;
}

typedef struct Name {
  const char *s;
  size_t len;
} Name;

static int cmp_name(const void *x, const void *y) {
  const Name *a = x, *b = y;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, n);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Pushes the analysis of the Lua function at idx: {digest, env = index
** of its _ENV upvalue (0: none), dyn = true when it uses _ENV as a value,
** [1..n] = the global names it reads, sorted}; cached per function. */
const char *tideF_analyse(lua_State *L, int idx, int cache) {
  idx = lua_absindex(L, idx);
  cache = lua_absindex(L, cache);
  luaL_checkstack(L, 12, "analysing a function");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, cache) == LUA_TTABLE) return NULL;
  lua_pop(L, 1);
  int top = lua_gettop(L);
  /* Which upvalue is _ENV: by name, else (no debug names) by value. */
  int envtop = 0;
  for (int i = 1;; i++) {
    const char *name = lua_getupvalue(L, idx, i);
    if (!name) break;
    int is_env = strcmp(name, "_ENV") == 0;
    if (!is_env && (name[0] == '\0' || name[0] == '(')) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      is_env = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (is_env) {
      envtop = i;
      break;
    }
  }
  DumpBuf b;
  b.init = 0;
  lua_pushvalue(L, idx);
  int rc = lua_dump(L, dump_writer, &b, 1);
  if (b.init) luaL_pushresult(&b.b);
  else lua_pushliteral(L, "");
  lua_remove(L, -2);
  if (rc != 0) {
    lua_settop(L, top);
    return "a function that string.dump refuses";
  }
  size_t n;
  const unsigned char *p = (const unsigned char *)lua_tolstring(L, -1, &n);
  lua_newtable(L);
  int names = lua_gettop(L);
  Chunk c = {p, p + n, 0, tide_hasher_new(), L, names, 0};
  if (!c.h) luaL_error(L, "out of memory");
  static const unsigned char head[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08";
  const unsigned char *hp = c_bytes(&c, sizeof head - 1);
  if (!hp || memcmp(hp, head, sizeof head - 1) != 0) c.bad = 2;
  c_bytes(&c, 16); /* LUAC_INT, LUAC_NUM */
  unsigned nup = c_byte(&c);
  tide_hasher_update(c.h, &nup, sizeof nup);
  if (!c.bad) c_function(&c, NULL, 0, envtop, 0);
  if (c.p != c.end) c.bad = 1;
  unsigned char d[TIDE_DIGEST_LEN];
  tide_hasher_digest(c.h, d);
  tide_hasher_free(c.h);
  if (c.bad) {
    lua_settop(L, top);
    return c.bad == 2 ? "a function compiled by another Lua version"
                      : "a function whose bytecode tide cannot read";
  }
  /* info = {digest, env =, dyn =, names...} */
  lua_newtable(L);
  int info = lua_gettop(L);
  lua_pushlstring(L, (const char *)d, sizeof d);
  lua_setfield(L, info, "digest");
  lua_pushinteger(L, envtop);
  lua_setfield(L, info, "env");
  lua_pushboolean(L, c.dyn);
  lua_setfield(L, info, "dyn");
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, names)) {
    lua_pop(L, 1);
    k++;
  }
  Name *v = lua_newuserdatauv(L, (k ? k : 1) * sizeof *v, 0);
  size_t j = 0;
  lua_pushnil(L);
  while (lua_next(L, names)) {
    lua_pop(L, 1);
    v[j].s = lua_tolstring(L, -1, &v[j].len); /* kept alive by names */
    j++;
  }
  qsort(v, k, sizeof *v, cmp_name);
  for (size_t i = 0; i < k; i++) {
    lua_pushlstring(L, v[i].s, v[i].len);
    lua_rawseti(L, info, (lua_Integer)i + 1);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, info);
  lua_rawset(L, cache);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return NULL;
}

/* Walks the dotted path p[0..n) (fields, raw) from the table on top,
** which it replaces with the value found; returns 0 (and pops) when the
** path leads nowhere. */
static int walk(lua_State *L, const char *p, size_t n) {
  while (n > 0) {
    const char *dot = memchr(p, '.', n);
    size_t k = dot ? (size_t)(dot - p) : n;
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      return 0;
    }
    lua_pushlstring(L, p, k);
    int t = lua_rawget(L, -2);
    lua_remove(L, -2);
    if (t == LUA_TNIL) {
      lua_pop(L, 1);
      return 0;
    }
    p += k + (dot != NULL);
    n -= k + (dot != NULL);
  }
  return 1;
}

/* Pushes the module named by the first n bytes of name: package.loaded's,
** or (require) one a searcher finds; returns 0 with nothing pushed when
** there is none. */
static int push_module(lua_State *L, const char *name, size_t n, int load) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushlstring(L, name, n);
  int t = lua_rawget(L, -2);
  lua_remove(L, -2);
  if (t != LUA_TNIL) return 1;
  lua_pop(L, 1);
  if (!load) return 0;
  if (lua_getglobal(L, "require") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushlstring(L, name, n);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && !lua_isnil(L, -1)) return 1;
  lua_pop(L, 1); /* any failure means "no such module" */
  return 0;
}

int tideF_resolve(lua_State *L, const char *name, size_t len) {
  luaL_checkstack(L, 8, "resolving a library name");
  if (len == 2 && memcmp(name, "_G", 2) == 0) { /* even without the base library */
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    return 1;
  }
  /* Loaded modules first, the longest prefix first ("tide.models" before
  ** "tide"); then the globals table's C functions; then require. */
  for (int load = 0; load < 2; load++) {
    for (size_t i = len + 1; i-- > 0;) {
      if (i < len && name[i] != '.') continue;
      if (push_module(L, name, i, load)) {
        if (i == len) return 1;
        if (walk(L, name + i + 1, len - i - 1)) return 1;
      }
    }
    if (!load && !memchr(name, '.', len)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      if (walk(L, name, len)) return 1;
    }
  }
  return 0;
}
