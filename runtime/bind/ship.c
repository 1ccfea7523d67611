/*
** ship.c -- function shipping (ship.h): the codec's shipping mode for Lua
** functions, the globals they read and library values by name, plus the
** protected entry points the backends call.
**
** Stream (after the codec's version byte, codec_impl.h's tags):
**   NAMED u32 len, name                  a library value (fninfo.h)
**   FUNC u32 len, bytecode (lua_dump with debug information),
**        u8 nup, nup upvalues, each:
**          0, value                      its value (first time seen)
**          1, u32 function id, u8 k      shared with upvalue k of a
**                                        function sent before
**   RNG 10 x u32 (key, counter, buffer), u8 avail, u8 has_spare,
**       f64 spare                        a tide.rng, by its state
**   After the root value: globals, each 1, u32 len, name, value; then 0.
** A function gets its id (the codec's table ids) before its upvalues, so
** a function that is its own upvalue (a recursive local) is a REF.
*/
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "codec_impl.h"
#include "fninfo.h"
#include "ship.h"

#define RNG_MT "tide.rng" /* l_rng.c */

/* Stack slots of the encoder's state, from e->ship up. */
enum { S_NAMES, S_FNINFO, S_UPIDS, S_GQUEUE, S_GSET, S_GLOBALS, S_NSLOTS };
#define SLOT(e, k) ((e)->ship + (k))


void tideS__enc_begin(Enc *e) {
  lua_State *L = e->L;
  luaL_checkstack(L, S_NSLOTS + 4, "shipping a function");
  e->ship = lua_gettop(L) + 1;
  tideF_push_names(L, 0);
  if (lua_getfield(L, LUA_REGISTRYINDEX, TIDEF_REG_FNINFO) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  lua_newtable(L); /* upvalue id -> function id * 256 + upvalue number */
  lua_newtable(L); /* globals to send, in order */
  lua_newtable(L); /* name -> true: globals queued */
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
}

/* Looks the value at idx up among library names; writes NAMED and
** returns 1 when it has one.  A C function not found makes the names be
** built again once (a module may have gained it since). */
static int put_named(Enc *e, int idx) {
  lua_State *L = e->L;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, SLOT(e, S_NAMES)) != LUA_TSTRING && lua_iscfunction(L, idx)) {
    lua_pop(L, 1);
    tideF_push_names(L, 1);
    lua_replace(L, SLOT(e, S_NAMES));
    lua_pushvalue(L, idx);
    lua_rawget(L, SLOT(e, S_NAMES));
  }
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    return 0;
  }
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  tideC__put_u8(e, T_NAMED);
  tideC__put_u32(e, (uint32_t)n);
  tideC__put(e, s, n);
  lua_pop(L, 1);
  return 1;
}

/* lua_dump's writer: pieces gathered in a luaL_Buffer. */
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

/* Queues the globals the function (analysis at info) reads from env. */
static void queue_globals(Enc *e, int info) {
  lua_State *L = e->L;
  lua_Integer ng = (lua_Integer)lua_rawlen(L, info);
  for (lua_Integer i = 1; i <= ng; i++) {
    lua_rawgeti(L, info, i);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, SLOT(e, S_GSET)) == LUA_TNIL) {
      lua_pushvalue(L, -2);
      lua_pushboolean(L, 1);
      lua_rawset(L, SLOT(e, S_GSET));
      lua_pushvalue(L, -2);
      lua_rawseti(L, SLOT(e, S_GQUEUE), (lua_Integer)lua_rawlen(L, SLOT(e, S_GQUEUE)) + 1);
    }
    lua_pop(L, 2);
  }
}

static void enc_function(Enc *e, int idx) {
  lua_State *L = e->L;
  lua_Integer id;
  if (tideC__seen(e, idx, &id)) {
    tideC__put_ref(e, id);
    return;
  }
  /* Functions count as levels of nesting, as tables do. */
  if (e->depth >= TIDE_CODEC_MAXDEPTH) tideC__enc_fail(e, "nested too deep (more than 200 levels)");
  luaL_checkstack(L, 16, "shipping a function");
  int top = lua_gettop(L);
  const char *bad = tideF_analyse(L, idx, SLOT(e, S_FNINFO));
  if (bad) tideC__enc_cannot(e, bad);
  int info = lua_gettop(L);
  int env = (lua_getfield(L, info, "env"), (int)lua_tointeger(L, -1));
  int dyn = (lua_getfield(L, info, "dyn"), lua_toboolean(L, -1));
  lua_pop(L, 2);
  /* The globals: only those of the script's globals table are listed; a
  ** function with an _ENV of its own carries that table as an upvalue. */
  if (env) {
    lua_getupvalue(L, idx, env);
    int global_env = lua_rawequal(L, -1, SLOT(e, S_GLOBALS));
    lua_pop(L, 1);
    if (global_env) {
      if (dyn) tideC__enc_cannot(e, TIDEF_DYN_ENV);
      queue_globals(e, info);
    }
  }
  DumpBuf db;
  db.init = 0;
  lua_pushvalue(L, idx);
  int rc = lua_dump(L, dump_writer, &db, 0); /* keep lines and names */
  if (db.init) luaL_pushresult(&db.b);
  else lua_pushliteral(L, "");
  lua_remove(L, -2);
  if (rc != 0) tideC__enc_cannot(e, "a function that string.dump refuses");
  size_t n;
  const char *code = lua_tolstring(L, -1, &n);
  if (n > UINT32_MAX) tideC__enc_fail(e, "function too large");
  tideC__put_u8(e, T_FUNC);
  tideC__put_u32(e, (uint32_t)n);
  tideC__put(e, code, n);
  lua_pop(L, 1);
  int nup = 0;
  while (lua_getupvalue(L, idx, nup + 1)) {
    lua_pop(L, 1);
    nup++;
  }
  tideC__put_u8(e, (unsigned)nup); /* Lua allows 255 at most */
  e->depth++;
  for (int i = 1; i <= nup; i++) {
    const char *name = lua_getupvalue(L, idx, i);
    int v = lua_gettop(L);
    lua_pushlightuserdata(L, lua_upvalueid(L, idx, i));
    if (lua_rawget(L, SLOT(e, S_UPIDS)) == LUA_TNUMBER) {
      lua_Integer k = lua_tointeger(L, -1);
      tideC__put_u8(e, 1);
      tideC__put_u32(e, (uint32_t)(k >> 8));
      tideC__put_u8(e, (unsigned)(k & 0xff));
    } else {
      /* Noted before its value is sent: a function inside that value
      ** sharing this upvalue joins it. */
      lua_pushlightuserdata(L, lua_upvalueid(L, idx, i));
      lua_pushinteger(L, id * 256 + i);
      lua_rawset(L, SLOT(e, S_UPIDS));
      tideC__put_u8(e, 0);
      tideC__push_step(e, (Step){'u', name, strlen(name), 0, 0});
      tideC__enc_value(e, v);
      tideC__pop_step(e);
    }
    lua_settop(L, v - 1);
  }
  e->depth--;
  lua_settop(L, top);
}

/* A generator by its state, as a fork would copy it: the worker draws the
** numbers the script's process would have drawn. */
static void enc_rng(Enc *e, int idx) {
  lua_Integer id;
  if (tideC__seen(e, idx, &id)) {
    tideC__put_ref(e, id);
    return;
  }
  const tide_Rng *r = lua_touserdata(e->L, idx);
  uint64_t spare;
  memcpy(&spare, &r->spare, 8);
  tideC__put_u8(e, T_RNG);
  for (int i = 0; i < 2; i++) tideC__put_u32(e, r->key[i]);
  for (int i = 0; i < 4; i++) tideC__put_u32(e, r->ctr[i]);
  for (int i = 0; i < 4; i++) tideC__put_u32(e, r->buf[i]);
  tideC__put_u8(e, (unsigned)r->avail);
  tideC__put_u8(e, (unsigned)r->has_spare);
  tideC__put_u32(e, (uint32_t)spare);
  tideC__put_u32(e, (uint32_t)(spare >> 32));
}

int tideS__enc(Enc *e, int idx) {
  lua_State *L = e->L;
  int t = lua_type(L, idx);
  switch (t) {
    case LUA_TTABLE:
      return put_named(e, idx);
    case LUA_TFUNCTION:
      if (put_named(e, idx)) return 1;
      if (lua_iscfunction(L, idx))
        tideC__enc_cannot(e, "a C function not reachable from package.loaded");
      enc_function(e, idx);
      return 1;
    case LUA_TUSERDATA:
      if (tideL_test(L, idx) || tideL_testrowset(L, idx)) return 0; /* by the codec */
      if (put_named(e, idx)) return 1;                            /* io.stdout */
      if (luaL_testudata(L, idx, RNG_MT)) {
        enc_rng(e, idx);
        return 1;
      }
      if (luaL_testudata(L, idx, LUA_FILEHANDLE)) tideC__enc_cannot(e, "a file handle");
      return 0;
    case LUA_TTHREAD: tideC__enc_cannot(e, "a coroutine");
    default: return 0;
  }
}

void tideS__enc_end(Enc *e) {
  lua_State *L = e->L;
  /* The queue grows while globals are sent (a global function reading
  ** other globals): a plain index loop sees the new ones. */
  for (lua_Integer k = 1; k <= (lua_Integer)lua_rawlen(L, SLOT(e, S_GQUEUE)); k++) {
    lua_rawgeti(L, SLOT(e, S_GQUEUE), k);
    int name = lua_gettop(L);
    lua_pushvalue(L, name);
    if (lua_rawget(L, SLOT(e, S_GLOBALS)) != LUA_TNIL) { /* raw: no __index runs */
      size_t n;
      const char *s = lua_tolstring(L, name, &n);
      tideC__put_u8(e, 1);
      tideC__put_u32(e, (uint32_t)n);
      tideC__put(e, s, n);
      tideC__push_step(e, (Step){'g', s, n, 0, 0});
      tideC__enc_value(e, name + 1);
      tideC__pop_step(e);
    }
    lua_settop(L, name - 1);
  }
  tideC__put_u8(e, 0);
}

/* ----------------------------------------------------------------- decoder */

/* A name of u32 length: pushes it. */
static void dec_name(Dec *d) {
  uint32_t n = tideC__get_u32(d);
  const unsigned char *s = tideC__get_bytes(d, n);
  lua_pushlstring(d->L, (const char *)s, n);
}

static int count_upvalues(lua_State *L, int f) {
  int n = 0;
  while (lua_getupvalue(L, f, n + 1)) {
    lua_pop(L, 1);
    n++;
  }
  return n;
}

static void dec_function(Dec *d) {
  lua_State *L = d->L;
  uint32_t n = tideC__get_u32(d);
  const unsigned char *code = tideC__get_bytes(d, n);
  if (n < 4 || memcmp(code, LUA_SIGNATURE, 4) != 0) tideC__corrupt(d, "function without bytecode");
  luaL_checkstack(L, 8, "decoding a function");
  if (luaL_loadbufferx(L, (const char *)code, n, "=shipped", "b") != LUA_OK)
    tideC__corrupt(d, lua_tostring(L, -1));
  int f = lua_gettop(L);
  tideC__dec_register(d);
  int nup = tideC__get_u8(d);
  if (nup != count_upvalues(L, f)) tideC__corrupt(d, "wrong number of upvalues");
  for (int i = 1; i <= nup; i++) {
    int kind = tideC__get_u8(d);
    if (kind == 0) {
      tideC__dec_value(d);
      lua_setupvalue(L, f, i);
    } else if (kind == 1) {
      uint32_t id = tideC__get_u32(d);
      int k = tideC__get_u8(d);
      if (id >= d->nextid) tideC__corrupt(d, "upvalue of a function not yet seen");
      lua_rawgeti(L, d->refs, (lua_Integer)id + 1);
      if (lua_type(L, -1) != LUA_TFUNCTION || lua_iscfunction(L, -1) || k < 1 ||
          k > count_upvalues(L, lua_gettop(L)))
        tideC__corrupt(d, "shared upvalue of no function");
      lua_upvaluejoin(L, f, i, lua_gettop(L), k);
      lua_pop(L, 1);
    } else {
      tideC__corrupt(d, "bad upvalue");
    }
  }
}

void tideS__dec(Dec *d, int tag) {
  lua_State *L = d->L;
  switch (tag) {
    case T_NAMED: {
      dec_name(d);
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      if (!tideF_resolve(L, s, n))
        luaL_error(L, "cannot find library value '%s' here: its module is neither loaded "
                      "nor found by require", s);
      lua_remove(L, -2);
      return;
    }
    case T_FUNC: dec_function(d); return;
    case T_RNG: {
      tide_Rng r;
      memset(&r, 0, sizeof r);
      for (int i = 0; i < 2; i++) r.key[i] = tideC__get_u32(d);
      for (int i = 0; i < 4; i++) r.ctr[i] = tideC__get_u32(d);
      for (int i = 0; i < 4; i++) r.buf[i] = tideC__get_u32(d);
      r.avail = tideC__get_u8(d);
      r.has_spare = tideC__get_u8(d);
      uint64_t lo = tideC__get_u32(d), hi = tideC__get_u32(d), spare = lo | hi << 32;
      memcpy(&r.spare, &spare, 8);
      if (r.avail > 4 || r.has_spare > 1) tideC__corrupt(d, "bad generator state");
      tide_Rng *u = lua_newuserdatauv(L, sizeof *u, 0);
      *u = r;
      luaL_setmetatable(L, RNG_MT);
      tideC__dec_register(d);
      return;
    }
    default: tideC__corrupt(d, "unknown tag");
  }
}

void tideS__dec_end(Dec *d) {
  lua_State *L = d->L;
  luaL_checkstack(L, 6, "decoding globals");
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  int g = lua_gettop(L);
  for (;;) {
    int more = tideC__get_u8(d);
    if (more == 0) break;
    if (more != 1) tideC__corrupt(d, "bad globals list");
    dec_name(d);
    tideC__dec_value(d);
    lua_rawset(L, g);
  }
  lua_pop(L, 1);
}

/* -------------------------------------------------------------- entry points */

typedef struct Call {
  int mode;
  tide_Buf *b;
  const char *root;
  const unsigned char *p;
  size_t n;
} Call;

static int p_encode(lua_State *L) {
  Call *c = lua_touserdata(L, 1); /* the value is argument 2 */
  const char *root = c->root;
  if (!root && lua_type(L, 2) == LUA_TFUNCTION && !lua_iscfunction(L, 2)) {
    lua_Debug ar;
    lua_pushvalue(L, 2);
    lua_getinfo(L, ">S", &ar);
    root = lua_pushfstring(L, "function at %s:%d", ar.short_src, ar.linedefined);
  }
  tideC_encode_ship(L, 2, c->b, c->mode, root ? root : "value");
  return 0;
}

int tideS_encode(lua_State *L, int idx, tide_Buf *b, int mode, const char *root) {
  if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
  Call c = {mode, b, root, NULL, 0};
  size_t n0 = b->n;
  int nfds0 = b->nfds;
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, p_encode);
  lua_pushlightuserdata(L, &c);
  lua_pushvalue(L, idx);
  int rc = lua_pcall(L, 2, 0, 0);
  if (rc != LUA_OK) { /* drop the partial value and its descriptors */
    b->n = n0;
    for (int k = nfds0; k < b->nfds; k++)
      if (b->fds[k] >= 0) close(b->fds[k]);
    b->nfds = nfds0;
  }
  return rc;
}

static int p_decode(lua_State *L) {
  Call *c = lua_touserdata(L, 1);
  lua_pop(L, 1);
  tideC_decode_ship(L, c->p, c->n, c->b);
  return 1;
}

int tideS_decode(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds) {
  if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
  Call c = {0, fds, NULL, p, n};
  lua_pushcfunction(L, p_decode);
  lua_pushlightuserdata(L, &c);
  return lua_pcall(L, 1, 1, 0);
}

/* ----------------------------------------------------------------- Lua API */

static int buf_gc(lua_State *L) {
  tide_buf_free(lua_touserdata(L, 1));
  return 0;
}

/* A buffer owned by a userdata (freed by an error too), left on the stack. */
static tide_Buf *new_buf(lua_State *L) {
  tide_Buf *b = lua_newuserdatauv(L, sizeof *b, 0);
  *b = (tide_Buf)TIDE_BUF_INIT;
  if (luaL_newmetatable(L, "tide.ship_buf")) {
    lua_pushcfunction(L, buf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

/* tide._internal.ship(v) -> string: v shipped, arrays by content. */
static int l_ship(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  tide_Buf *b = new_buf(L);
  if (tideS_encode(L, 1, b, TIDE_CODEC_INLINE, NULL) != LUA_OK) lua_error(L);
  lua_pushlstring(L, (const char *)b->p, b->n);
  tide_buf_free(b);
  return 1;
}

/* tide._internal.unship(s) -> v */
static int l_unship(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (tideS_decode(L, (const unsigned char *)s, n, NULL) != LUA_OK) lua_error(L);
  return 1;
}

/* tide._internal.ship_local(v) -> v': shipped with handles and decoded
** here at once (shared arrays come back over their own pages). */
static int l_ship_local(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  tide_Buf *b = new_buf(L);
  if (tideS_encode(L, 1, b, TIDE_CODEC_HANDLES, NULL) != LUA_OK) lua_error(L);
  if (tideS_decode(L, b->p, b->n, b) != LUA_OK) lua_error(L);
  return 1;
}

void tideS_open(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"ship", l_ship}, {"unship", l_unship}, {"ship_local", l_ship_local}, {NULL, NULL}};
  tideL_pushinternal(L, -1);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
}
