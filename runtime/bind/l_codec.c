/*
** l_codec.c -- the value codec (codec.h) and its Lua face: tide.encode,
** tide.decode and tide.register_class.
*/
#include <math.h>
#include <string.h>

#include "bind.h"
#include "codec.h"
#include "codec_impl.h"
#include "ship.h"
#include "path.h"


/* Registry keys of the class tables: name -> metatable, metatable -> name,
** name -> {encode = f, decode = g}. */
#define REG_BY_NAME "tide.class_by_name"
#define REG_BY_MT "tide.class_by_mt"
#define REG_HOOKS "tide.class_hooks"

#define ARROW " \xe2\x86\x92 " /* " → " */

/* ------------------------------------------------------------------ encoder */


/* Raises "<root> → <steps>: <what>"; long paths keep their two ends. */
static _Noreturn void enc_fail(Enc *e, const char *what) {
  lua_State *L = e->L;
  luaL_Buffer lb;
  luaL_buffinit(L, &lb);
  luaL_addstring(&lb, e->root ? e->root : "value");
  for (int i = 0; i < e->nsteps; i++) {
    if (e->nsteps > 12 && i == 4) {
      luaL_addstring(&lb, ARROW "...");
      i = e->nsteps - 7;
      continue;
    }
    luaL_addstring(&lb, ARROW);
    tideP_add_step(&lb, &e->steps[i]);
  }
  luaL_addstring(&lb, ": ");
  luaL_addstring(&lb, what);
  luaL_pushresult(&lb);
  lua_error(L);
  for (;;) {} /* lua_error does not return */
}

/* Raises "...: cannot send <what>" ("cannot dump" for a dump). */
static _Noreturn void enc_cannot(Enc *e, const char *what) {
  enc_fail(e, lua_pushfstring(e->L, "cannot %s %s",
                              e->mode == TIDE_CODEC_BLOBS ? "dump" : "send", what));
}

static void put_ok(Enc *e, int rc) {
  if (rc < 0) {
    const char *m = tide_lasterror();
    enc_fail(e, m[0] ? m : tide_strerror(rc));
  }
}

/* Appends n bytes; the common case (room left) is a plain copy. */
static inline void put_raw(Enc *e, const void *p, size_t n) {
  tide_Buf *b = e->b;
  if (b->p && n <= b->cap - b->n) {
    memcpy(b->p + b->n, p, n);
    b->n += n;
  } else {
    put_ok(e, tide_buf_put(b, p, n));
  }
}

static void put_u8(Enc *e, unsigned v) {
  unsigned char x = (unsigned char)v;
  put_raw(e, &x, 1);
}
static void put_u32(Enc *e, uint32_t v) {
  unsigned char x[4];
  for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
  put_raw(e, x, 4);
}
static void put_u64(Enc *e, uint64_t v) {
  unsigned char x[8];
  for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
  put_raw(e, x, 8);
}

static void push_step(Enc *e, Step s) {
  if (e->nsteps < MAXSTEPS) e->steps[e->nsteps] = s;
  e->nsteps++;
}

static void pop_step(Enc *e) { e->nsteps--; }


/* Returns 1 and sets *id when the table/userdata at idx was seen; else
** gives it the next id and returns 0.  An id stored as -(id + 1) marks an
** object whose encode hook is running. */
static int seen(Enc *e, int idx, int inprogress, lua_Integer *id) {
  lua_State *L = e->L;
  if (!e->have_seen) {
    lua_createtable(L, 0, 4);
    lua_replace(L, e->seen);
    e->have_seen = 1;
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) {
    *id = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  *id = e->nextid++;
  if (*id > (lua_Integer)UINT32_MAX) enc_fail(e, "too many tables in one message");
  lua_pushvalue(L, idx);
  lua_pushinteger(L, inprogress ? -*id - 1 : *id);
  lua_rawset(L, e->seen);
  return 0;
}

static void put_ref(Enc *e, lua_Integer id) {
  if (id < 0) enc_cannot(e, "an object that contains itself through its encode hook");
  put_u8(e, T_REF);
  put_u32(e, (uint32_t)id);
}

static void enc_value(Enc *e, int idx);

static void enc_table_body(Enc *e, int t) {
  lua_State *L = e->L;
  lua_Unsigned narr = lua_rawlen(L, t);
  if (narr > UINT32_MAX) enc_fail(e, "table too large");
  put_u32(e, (uint32_t)narr);
  size_t at = e->b->n;
  put_u32(e, 0); /* pair count, patched below */
  for (lua_Unsigned i = 1; i <= narr; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    push_step(e, (Step){'i', NULL, 0, (lua_Integer)i, 0});
    enc_value(e, lua_gettop(L));
    pop_step(e);
    lua_pop(L, 1);
  }
  uint32_t npairs = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int v = lua_gettop(L), k = v - 1;
    if (lua_isinteger(L, k)) {
      lua_Integer i = lua_tointeger(L, k);
      if (i >= 1 && (lua_Unsigned)i <= narr) {
        lua_pop(L, 1);
        continue;
      }
    }
    push_step(e, (Step){'k', NULL, 0, 0, 0});
    enc_value(e, k);
    pop_step(e);
    push_step(e, tideP_key_step(L, k));
    enc_value(e, v);
    pop_step(e);
    npairs++;
    lua_pop(L, 1);
  }
  tide_buf_patch_u32(e->b, at, npairs);
}

static void put_name(Enc *e, const char *s, size_t len) {
  put_u8(e, (unsigned)len);
  put_raw(e, s, len);
}

static void enc_table(Enc *e, int t) {
  lua_State *L = e->L;
  if (lua_getmetatable(L, t)) {
    /* A class object: look its metatable up among the registered ones. */
    if (!e->have_classes) {
      lua_getfield(L, LUA_REGISTRYINDEX, REG_BY_MT);
      lua_replace(L, e->bymt);
      lua_getfield(L, LUA_REGISTRYINDEX, REG_HOOKS);
      lua_replace(L, e->hooks);
      e->have_classes = 1;
    }
    if (!lua_istable(L, e->bymt) || lua_rawget(L, e->bymt) != LUA_TSTRING)
      enc_cannot(e, "a table with a metatable (register its class with "
                    "tide.register_class)");
    int name = lua_gettop(L);
    size_t len;
    const char *s = lua_tolstring(L, name, &len);
    lua_pushvalue(L, name);
    int hooked = lua_istable(L, e->hooks) && lua_rawget(L, e->hooks) == LUA_TTABLE;
    if (hooked) lua_getfield(L, -1, "encode");
    if (hooked && !lua_isnil(L, -1)) {
      lua_Integer id;
      if (seen(e, t, 1, &id)) {
        put_ref(e, id);
        lua_pop(L, 3);
        return;
      }
      put_u8(e, T_OBJH);
      put_name(e, s, len);
      lua_pushvalue(L, t);
      lua_call(L, 1, 1);
      push_step(e, (Step){'h', s, len, 0, 0});
      enc_value(e, lua_gettop(L));
      pop_step(e);
      lua_pushvalue(L, t); /* done: plain id from now on */
      lua_pushinteger(L, id);
      lua_rawset(L, e->seen);
      lua_pop(L, 3);
      return;
    }
    lua_Integer id;
    if (seen(e, t, 0, &id)) {
      put_ref(e, id);
    } else {
      put_u8(e, T_OBJ);
      put_name(e, s, len);
      enc_table_body(e, t);
    }
    lua_settop(L, name - 1);
    return;
  }
  lua_Integer id;
  if (seen(e, t, 0, &id)) {
    put_ref(e, id);
    return;
  }
  put_u8(e, T_TABLE);
  enc_table_body(e, t);
}

/* nditer callback: packs a strided run into the C-ordered output. */
static int pack_run(unsigned char **ptrs, int64_t n, const int64_t *strides, void *ud) {
  size_t isz = *(size_t *)ud;
  unsigned char *src = ptrs[0], *dst = ptrs[1];
  if (strides[0] == (int64_t)isz && strides[1] == (int64_t)isz) {
    memcpy(dst, src, (size_t)n * isz);
  } else {
    for (int64_t i = 0; i < n; i++) {
      memcpy(dst, src, isz);
      src += strides[0];
      dst += strides[1];
    }
  }
  return 0;
}

uint32_t (*tideC_lease_out)(tide_Storage *s);
void (*tideC_lease_in)(tide_Storage *s, uint32_t lease);

static void enc_array(Enc *e, int idx, const tide_Array *a) {
  lua_State *L = e->L;
  lua_Integer id;
  if (seen(e, idx, 0, &id)) {
    put_ref(e, id);
    return;
  }
  if (e->mode == TIDE_CODEC_BLOBS) { /* the bytes go to the dump's blob k */
    if (e->nblobs == UINT32_MAX) enc_fail(e, "too many arrays in one dump");
    lua_pushvalue(L, idx);
    lua_rawseti(L, e->blobs, (lua_Integer)e->nblobs + 1);
    put_u8(e, T_BLOB);
    put_u32(e, e->nblobs++);
    return;
  }
  tide_Storage *s = a->storage;
  if (e->mode == TIDE_CODEC_HANDLES && s->kind == TIDE_STORE_SHARED && s->fd >= 0) {
    /* One descriptor per segment, whatever the number of views of it. */
    lua_pushlightuserdata(L, s);
    lua_Integer k; /* fd index, and the lease above bit 32 */
    if (lua_rawget(L, e->seen) == LUA_TNUMBER) {
      k = lua_tointeger(L, -1);
    } else {
      int rc = tide_buf_put_fd(e->b, s->fd);
      put_ok(e, rc);
      uint32_t lease = 0;
      if (!(s->flags & TIDE_SF_SENT) && tideC_lease_out) lease = tideC_lease_out(s);
      if (!lease) s->flags |= TIDE_SF_NOLEASE;
      /* another process may map it: never reuse it (until a lease returns) */
      s->flags |= TIDE_SF_EXPORTED | TIDE_SF_SENT;
      k = (lua_Integer)rc | (lua_Integer)lease << 32;
      e->nfdkeys++;
      lua_pushlightuserdata(L, s);
      lua_pushinteger(L, k);
      lua_rawset(L, e->seen);
    }
    lua_pop(L, 1);
    put_u8(e, T_HANDLE);
    if (e->ship) put_u8(e, (unsigned)s->wmode); /* shipping: how workers may write it */
    put_u8(e, (unsigned)a->dtype);
    put_u8(e, (unsigned)a->ndim);
    for (int d = 0; d < a->ndim; d++) put_u64(e, (uint64_t)a->shape[d]);
    for (int d = 0; d < a->ndim; d++) put_u64(e, (uint64_t)a->strides[d]);
    put_u32(e, (uint32_t)(k & 0xffffffff));
    put_u64(e, (uint64_t)s->nbytes);
    put_u64(e, (uint64_t)(a->data - s->base));
    put_u32(e, (uint32_t)(k >> 32));
    return;
  }
  put_u8(e, T_ARR);
  if (e->ship) put_u8(e, (unsigned)s->wmode);
  put_u8(e, (unsigned)a->dtype);
  put_u8(e, (unsigned)a->ndim);
  for (int d = 0; d < a->ndim; d++) put_u64(e, (uint64_t)a->shape[d]);
  size_t isz = (size_t)tide_dtype_size(a->dtype);
  size_t nbytes = (size_t)tide_array_size(a) * isz;
  put_ok(e, tide_buf_reserve(e->b, nbytes));
  unsigned char *dst = e->b->p + e->b->n;
  if (nbytes == 0) return;
  if (tide_array_is_c_contiguous(a)) {
    memcpy(dst, a->data, nbytes);
  } else {
    int64_t cst[TIDE_MAXDIM];
    int64_t st = (int64_t)isz;
    for (int d = a->ndim - 1; d >= 0; d--) {
      cst[d] = st;
      st *= a->shape[d];
    }
    unsigned char *base[2] = {a->data, dst};
    const int64_t *strides[2] = {a->strides, cst};
    tide_nditer(2, a->ndim, a->shape, base, strides, pack_run, &isz);
  }
  e->b->n += nbytes;
}

static void enc_userdata(Enc *e, int idx) {
  lua_State *L = e->L;
  tide_Array *a = tideL_test(L, idx);
  if (a) {
    if (!a->storage) enc_cannot(e, "a closed array");
    enc_array(e, idx, a);
    return;
  }
  tideL_RowSet *rs = tideL_testrowset(L, idx);
  if (rs) { /* a value, like a string: no identity to keep */
    put_u8(e, T_ROWSET);
    put_u64(e, (uint64_t)rs->nspan);
    for (int64_t k = 0; k < 2 * rs->nspan; k++) put_u64(e, (uint64_t)rs->span[k]);
    return;
  }
  const char *what = "a userdata";
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) {
    what = lua_pushfstring(L, "a userdata (%s)", lua_tostring(L, -1));
  }
  enc_cannot(e, what);
}

static void enc_value(Enc *e, int idx) {
  lua_State *L = e->L;
  if (e->ship && tideS__enc(e, idx)) return; /* shipping: functions, library values */
  switch (lua_type(L, idx)) {
    case LUA_TNIL: put_u8(e, T_NIL); return;
    case LUA_TBOOLEAN: put_u8(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v >= -128 && v <= 127) {
          unsigned char x[2] = {T_I8, (unsigned char)(int8_t)v};
          put_raw(e, x, 2);
        } else if (v >= INT32_MIN && v <= INT32_MAX) {
          put_u8(e, T_I32);
          put_u32(e, (uint32_t)(int32_t)v);
        } else {
          put_u8(e, T_I64);
          put_u64(e, (uint64_t)v);
        }
      } else {
        double v = (double)lua_tonumber(L, idx);
        uint64_t u;
        memcpy(&u, &v, 8);
        put_u8(e, T_F64);
        put_u64(e, u);
      }
      return;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (e->mode == TIDE_CODEC_BLOBS && len >= 4 && memcmp(s, LUA_SIGNATURE, 4) == 0)
        enc_cannot(e, "Lua bytecode (a string that starts with \"\\27Lua\"): dumps are data only");
      if (len < 256) {
        put_u8(e, T_S8);
        put_u8(e, (unsigned)len);
      } else {
        put_u8(e, T_S64);
        put_u64(e, (uint64_t)len);
      }
      put_raw(e, s, len);
      return;
    }
    case LUA_TTABLE:
      if (e->depth >= TIDE_CODEC_MAXDEPTH)
        enc_fail(e, "nested too deep (more than 200 levels)");
      luaL_checkstack(L, 8, "value nested too deep");
      e->depth++;
      enc_table(e, idx);
      e->depth--;
      return;
    case LUA_TUSERDATA: enc_userdata(e, idx); return;
    case LUA_TLIGHTUSERDATA: enc_cannot(e, "a light userdata");
    case LUA_TFUNCTION: enc_cannot(e, "a function");
    case LUA_TTHREAD: enc_cannot(e, "a thread");
    default: enc_cannot(e, "this value");
  }
}

/* A cleared `seen` table kept between encodes, so that encoding many small
** results one by one allocates nothing.  An encode takes it out of the
** registry while it runs, so a nested encode (from a hook) makes its own. */
static const char seen_cache = 0;
#define SEEN_CACHE_MAX 64 /* entries; bigger tables are left to the collector */

static void encode(lua_State *L, int idx, tide_Buf *b, int mode, const char *root, int blobs,
                   int ship) {
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 16, "encoding a value");
  Enc enc, *e = &enc; /* on the C stack: no allocation per call */
  int base = lua_gettop(L);
  e->L = L;
  e->b = b;
  e->mode = mode;
  e->root = root;
  e->have_seen = e->have_classes = 0;
  e->nextid = 0;
  e->nfdkeys = 0;
  e->depth = 0;
  e->nsteps = 0;
  e->blobs = blobs;
  e->nblobs = 0;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &seen_cache) == LUA_TTABLE) {
    e->have_seen = 1;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &seen_cache);
  }
  lua_pushnil(L);
  lua_pushnil(L);
  e->seen = base + 1;
  e->bymt = base + 2;
  e->hooks = base + 3;
  e->ship = 0;
  put_u8(e, TIDE_CODEC_VERSION);
  if (ship) tideS__enc_begin(e);
  enc_value(e, idx);
  if (ship) tideS__enc_end(e);
  if (e->have_seen && e->nextid + e->nfdkeys <= SEEN_CACHE_MAX) {
    lua_pushnil(L);
    while (lua_next(L, e->seen)) { /* clearing existing fields is allowed */
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, e->seen);
    }
    lua_pushvalue(L, e->seen);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &seen_cache);
  }
  lua_settop(L, base);
}

void tideC_encode(lua_State *L, int idx, tide_Buf *b, int mode, const char *root) {
  encode(L, idx, b, mode == TIDE_CODEC_BLOBS ? TIDE_CODEC_INLINE : mode, root, 0, 0);
}

void tideC_encode_dump(lua_State *L, int idx, tide_Buf *b, int list, const char *root) {
  encode(L, idx, b, TIDE_CODEC_BLOBS, root, lua_absindex(L, list), 0);
}

/* ------------------------------------------------------------------ decoder */


static _Noreturn void corrupt(Dec *d, const char *what) {
  size_t at = (size_t)(d->c.p - d->start);
  luaL_error(d->L, "%s: %s (at byte %I)", d->what, what, (lua_Integer)at);
  for (;;) {}
}

static void need(Dec *d) {
  if (d->c.bad) corrupt(d, "truncated");
}

static uint8_t get_u8(Dec *d) {
  uint8_t v = tide_cur_u8(&d->c);
  need(d);
  return v;
}
static uint32_t get_u32(Dec *d) {
  uint32_t v = tide_cur_u32(&d->c);
  need(d);
  return v;
}
static uint64_t get_u64(Dec *d) {
  uint64_t v = tide_cur_u64(&d->c);
  need(d);
  return v;
}
static const unsigned char *get_bytes(Dec *d, uint64_t n) {
  if (n > (uint64_t)(d->c.end - d->c.p)) corrupt(d, "length past the end");
  const unsigned char *p = tide_cur_bytes(&d->c, (size_t)n);
  need(d);
  return p;
}
static size_t left(Dec *d) { return (size_t)(d->c.end - d->c.p); }

/* Gives the value on top the next id (it stays on the stack). */
static void dec_register(Dec *d) {
  lua_State *L = d->L;
  if (!d->have_refs) {
    lua_createtable(L, 8, 0);
    lua_replace(L, d->refs);
    d->have_refs = 1;
  }
  if (d->nextid == UINT32_MAX) corrupt(d, "too many tables");
  lua_pushvalue(L, -1);
  lua_rawseti(L, d->refs, (lua_Integer)d->nextid + 1);
  d->nextid++;
}

static void dec_value(Dec *d);

static void dec_table_body(Dec *d) {
  lua_State *L = d->L;
  uint32_t narr = get_u32(d), npairs = get_u32(d);
  /* Every value takes a byte at least: no preallocation past the message. */
  if (narr > left(d) || npairs > left(d) / 2) corrupt(d, "table size past the end");
  lua_createtable(L, (int)(narr < (1u << 26) ? narr : 1u << 26),
                  (int)(npairs < (1u << 26) ? npairs : 1u << 26));
  dec_register(d);
  int t = lua_gettop(L);
  for (uint32_t i = 1; i <= narr; i++) {
    dec_value(d);
    lua_rawseti(L, t, (lua_Integer)i);
  }
  for (uint32_t i = 0; i < npairs; i++) {
    dec_value(d);
    if (lua_isnil(L, -1)) corrupt(d, "table key is nil");
    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
        isnan((double)lua_tonumber(L, -1)))
      corrupt(d, "table key is NaN");
    dec_value(d);
    lua_rawset(L, t);
  }
}

/* A class name: pushes it. */
static void dec_name(Dec *d) {
  uint8_t len = get_u8(d);
  const unsigned char *s = get_bytes(d, len);
  lua_pushlstring(d->L, (const char *)s, len);
}

/* A class named tide.x.y belongs to one of tide's embedded modules: the
** longest tide.x... prefix found in package.preload is required (tide's
** own code, never anything from the message), so that a fresh process
** rebuilds fitted models without having touched tide.models first. */
static void load_tide_class(lua_State *L, const char *name) {
  char mod[256];
  if (strncmp(name, "tide.", 5) != 0) return;
  snprintf(mod, sizeof mod, "%s", name);
  int top = lua_gettop(L);
  for (char *dot; (dot = strrchr(mod, '.')) && dot > mod + 4;) {
    *dot = '\0';
    if (lua_getglobal(L, "package") == LUA_TTABLE &&
        lua_getfield(L, -1, "preload") == LUA_TTABLE &&
        lua_getfield(L, -1, mod) == LUA_TFUNCTION &&
        lua_getglobal(L, "require") == LUA_TFUNCTION) {
      lua_pushstring(L, mod);
      lua_call(L, 1, 0);
      break;
    }
    lua_settop(L, top);
  }
  lua_settop(L, top);
}

/* Pushes registry[reg][name], loading tide's module for the class when
** it is not known yet; returns its type. */
static int get_class(lua_State *L, const char *reg, int name) {
  for (int tries = 0; tries < 2; tries++) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, reg) == LUA_TTABLE) {
      lua_pushvalue(L, name);
      int t = lua_rawget(L, -2);
      lua_remove(L, -2);
      if (t != LUA_TNIL || tries) return t;
      lua_pop(L, 1);
    } else {
      lua_pop(L, 1);
      if (tries) {
        lua_pushnil(L);
        return LUA_TNIL;
      }
    }
    load_tide_class(L, lua_tostring(L, name));
  }
  return LUA_TNIL; /* not reached */
}

static void dec_object(Dec *d, int hooked) {
  lua_State *L = d->L;
  dec_name(d);
  int name = lua_gettop(L);
  if (!hooked) {
    if (get_class(L, REG_BY_NAME, name) != LUA_TTABLE)
      luaL_error(L, "cannot rebuild an object of unknown class '%s' (register it with "
                    "tide.register_class)", lua_tostring(L, name));
    int mt = lua_gettop(L);
    dec_table_body(d);
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
    lua_replace(L, name);
    lua_settop(L, name);
    return;
  }
  if (get_class(L, REG_HOOKS, name) != LUA_TTABLE ||
      lua_getfield(L, -1, "decode") != LUA_TFUNCTION)
    luaL_error(L, "cannot rebuild an object of class '%s': no class with a decode hook "
                  "has that name here (register it with tide.register_class)",
               lua_tostring(L, name));
  uint32_t id = d->nextid;
  lua_pushboolean(L, 0); /* placeholder: a REF to it now is a corrupt message */
  dec_register(d);
  lua_pop(L, 1);
  dec_value(d);
  lua_call(L, 1, 1);
  if (!lua_toboolean(L, -1))
    luaL_error(L, "decode hook of class '%s' returned %s", lua_tostring(L, name),
               luaL_typename(L, -1) /* nil or false */);
  lua_pushvalue(L, -1);
  lua_rawseti(L, d->refs, (lua_Integer)id + 1);
  lua_replace(L, name);
  lua_settop(L, name);
}

/* dtype, ndim and shape of an array; returns the element count. */
static int64_t dec_shape(Dec *d, int *dtype, int *ndim, int64_t *shape) {
  *dtype = get_u8(d);
  *ndim = get_u8(d);
  if (*dtype >= TIDE_NDTYPES) corrupt(d, "bad dtype");
  if (*ndim > TIDE_MAXDIM) corrupt(d, "too many dimensions");
  for (int i = 0; i < *ndim; i++) {
    uint64_t v = get_u64(d);
    if (v > (uint64_t)INT64_MAX) corrupt(d, "bad shape");
    shape[i] = (int64_t)v;
  }
  int64_t count, span = tide_dtype_size(*dtype);
  if (tide_shape_size(*ndim, shape, tide_dtype_size(*dtype), &count) != TIDE_OK)
    corrupt(d, "shape overflows");
  /* An empty array's other dimensions still size its C strides. */
  for (int i = 0; i < *ndim; i++)
    if (shape[i] > 0 && __builtin_mul_overflow(span, shape[i], &span))
      corrupt(d, "shape overflows");
  return count;
}

/* Shipping only: an array's worker mode (TIDE_WMODE_*) after its tag. */
static int dec_wmode(Dec *d) {
  int w = get_u8(d);
  if (w > TIDE_WMODE_COW) corrupt(d, "bad array mode");
  return w;
}

static void dec_inline_array(Dec *d) {
  lua_State *L = d->L;
  int dtype, ndim;
  int64_t shape[TIDE_MAXDIM];
  int wmode = d->ship ? dec_wmode(d) : TIDE_WMODE_RO;
  int64_t count = dec_shape(d, &dtype, &ndim, shape);
  uint64_t nbytes = (uint64_t)count * (uint64_t)tide_dtype_size(dtype);
  if (nbytes > left(d)) corrupt(d, "array bytes past the end");
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dtype, ndim, shape, TIDE_WHERE_AUTO);
  if (rc) tideL_raise(L, rc);
  /* a copy: writes could never reach the sender, so only a private one is writable */
  if (d->ship) a->storage->wmode = wmode == TIDE_WMODE_COW ? TIDE_WMODE_COW : TIDE_WMODE_RO;
  const unsigned char *p = get_bytes(d, nbytes);
  if (nbytes) memcpy(a->data, p, (size_t)nbytes);
  dec_register(d);
}

static void dec_handle(Dec *d) {
  lua_State *L = d->L;
  int dtype, ndim;
  int64_t shape[TIDE_MAXDIM], strides[TIDE_MAXDIM];
  int wmode = d->ship ? dec_wmode(d) : -1;
  int64_t count = dec_shape(d, &dtype, &ndim, shape);
  for (int i = 0; i < ndim; i++) strides[i] = (int64_t)get_u64(d);
  uint32_t k = get_u32(d);
  uint64_t segsize = get_u64(d), offset = get_u64(d);
  uint32_t lease = get_u32(d);
  int64_t isz = tide_dtype_size(dtype);
  if (!d->fds || k >= (uint32_t)d->fds->nfds || k >= TIDE_MSG_MAXFDS)
    corrupt(d, "array handle without its descriptor");
  if (segsize > (uint64_t)INT64_MAX / 2 || offset > segsize)
    corrupt(d, "array handle outside its segment");
  /* Aligned elements, and the whole strided extent inside the segment. */
  if (offset % (uint64_t)isz) corrupt(d, "misaligned array handle");
  if (count > 0) {
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < ndim; i++) {
      int64_t span;
      if (strides[i] % isz || __builtin_mul_overflow(shape[i] - 1, strides[i], &span))
        corrupt(d, "bad strides in array handle");
      if ((span < 0 && __builtin_add_overflow(lo, span, &lo)) ||
          (span > 0 && __builtin_add_overflow(hi, span, &hi)))
        corrupt(d, "bad strides in array handle");
    }
    int64_t off = (int64_t)offset;
    if (off + lo < 0 || hi > (int64_t)segsize - off - isz)
      corrupt(d, "array handle outside its segment");
  }
  if (!d->seg[k]) {
    int fd = d->fds->fds[k];
    if (fd < 0) corrupt(d, "array handle descriptor already taken");
    tide_Storage *s;
    int rc = tide_storage_adopt_fd(fd, (size_t)segsize, &s);
    if (rc) tideL_raise(L, rc);
    d->fds->fds[k] = -1; /* the storage owns it now */
    d->seg[k] = s;
    if (wmode >= 0) s->wmode = wmode; /* shipped: as the sender's workers would see it */
    if (lease && tideC_lease_in) tideC_lease_in(s, lease);
    d->segsize[k] = segsize;
  } else if (d->segsize[k] != segsize) {
    corrupt(d, "one segment with two sizes");
  }
  tide_Array *a = tideL_push(L);
  int rc = tide_array_wrap(a, d->seg[k], (size_t)offset, dtype, ndim, shape, strides);
  if (rc) tideL_raise(L, rc);
  dec_register(d);
}

static void dec_value(Dec *d) {
  lua_State *L = d->L;
  uint8_t tag = get_u8(d);
  switch (tag) {
    case T_NIL: lua_pushnil(L); return;
    case T_FALSE: lua_pushboolean(L, 0); return;
    case T_TRUE: lua_pushboolean(L, 1); return;
    case T_I8: lua_pushinteger(L, (int8_t)get_u8(d)); return;
    case T_I32: lua_pushinteger(L, (int32_t)get_u32(d)); return;
    case T_I64: lua_pushinteger(L, (lua_Integer)get_u64(d)); return;
    case T_F64: {
      uint64_t u = get_u64(d);
      double v;
      memcpy(&v, &u, 8);
      lua_pushnumber(L, (lua_Number)v);
      return;
    }
    case T_S8:
    case T_S64: {
      uint64_t len = tag == T_S8 ? get_u8(d) : get_u64(d);
      const unsigned char *s = get_bytes(d, len);
      if (d->blob && len >= 4 && memcmp(s, LUA_SIGNATURE, 4) == 0)
        corrupt(d, "Lua bytecode in a data-only dump");
      lua_pushlstring(L, (const char *)s, (size_t)len);
      return;
    }
    case T_REF: {
      uint32_t id = get_u32(d);
      if (id >= d->nextid) corrupt(d, "reference to a table not yet seen");
      if (lua_rawgeti(L, d->refs, (lua_Integer)id + 1) == LUA_TBOOLEAN)
        corrupt(d, "reference to an object still being rebuilt");
      return;
    }
    case T_ARR:
      if (d->blob) corrupt(d, "an inline array in a dump");
      dec_inline_array(d);
      return;
    case T_HANDLE: dec_handle(d); return;
    case T_BLOB: {
      uint32_t k = get_u32(d);
      if (!d->blob) corrupt(d, "a dump's array outside a dump");
      if (k >= d->nblobs) corrupt(d, "array number past the array table");
      if (d->used[k]) corrupt(d, "one array used twice");
      d->used[k] = 1;
      d->nused++;
      luaL_checkstack(L, 4, "decoding a value");
      d->blob(L, d->blob_ud, k);
      dec_register(d);
      return;
    }
    case T_ROWSET: {
      uint64_t m = get_u64(d);
      if (m > (uint64_t)(d->c.end - d->c.p) / 16) corrupt(d, "rowset past the end");
      tideL_RowSet *rs = tideL_newrowset(L, (int64_t)m);
      const uint64_t lim = (uint64_t)1 << 53; /* row numbers stay exact in a double */
      for (uint64_t k = 0; k < m; k++) {
        uint64_t first = get_u64(d), count = get_u64(d);
        if (first >= lim || count > lim - first || count > lim - (uint64_t)rs->n)
          corrupt(d, "bad rowset range");
        tideL_rowset_append(rs, (int64_t)first, (int64_t)count);
      }
      return;
    }
    case T_TABLE:
    case T_OBJ:
    case T_OBJH:
      if (d->depth >= TIDE_CODEC_MAXDEPTH) corrupt(d, "nesting deeper than 200 levels");
      luaL_checkstack(L, 8, "message nested too deep");
      d->depth++;
      if (tag == T_TABLE) dec_table_body(d);
      else dec_object(d, tag == T_OBJH);
      d->depth--;
      return;
    default:
      if (d->ship && tag >= T_NAMED) { /* shipping: functions, library values */
        tideS__dec(d, tag);
        return;
      }
      corrupt(d, "unknown tag");
  }
}

static int dec_main(lua_State *L) {
  Dec *d = lua_touserdata(L, 1);
  lua_settop(L, 1);
  lua_pushnil(L);
  d->refs = 2;
  if (d->blob) { /* one flag per array, freed with the state's garbage */
    d->used = lua_newuserdatauv(L, d->nblobs ? d->nblobs : 1, 0);
    memset(d->used, 0, d->nblobs);
    lua_replace(L, 1); /* d stays reachable through the C stack */
  }
  if (get_u8(d) != TIDE_CODEC_VERSION) corrupt(d, "unknown format version");
  dec_value(d);
  if (d->ship) tideS__dec_end(d);
  if (d->c.p != d->c.end) corrupt(d, "trailing bytes");
  if (d->nused != d->nblobs) corrupt(d, "arrays in the table that the value does not use");
  return 1;
}

int tideC_encode_scalar(lua_State *L, int idx, tide_Buf *b) {
  unsigned char x[10];
  size_t n = 1;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: x[0] = T_NIL; break;
    case LUA_TBOOLEAN: x[0] = lua_toboolean(L, idx) ? T_TRUE : T_FALSE; break;
    case LUA_TNUMBER: {
      uint64_t u;
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        u = (uint64_t)v;
        if (v >= -128 && v <= 127) x[0] = T_I8, n = 2;
        else if (v >= INT32_MIN && v <= INT32_MAX) x[0] = T_I32, n = 5;
        else x[0] = T_I64, n = 9;
      } else {
        double d = lua_tonumber(L, idx);
        memcpy(&u, &d, 8);
        x[0] = T_F64, n = 9;
      }
      for (size_t i = 1; i < n; i++) x[i] = (unsigned char)(u >> (8 * (i - 1)));
      break;
    }
    default: return 0;
  }
  if (tide_buf_put_u8(b, TIDE_CODEC_VERSION) || tide_buf_put(b, x, n)) return -1;
  return 1;
}

int tideC_decode_scalar(lua_State *L, const unsigned char *p, size_t n) {
  if (n < 2 || p[0] != TIDE_CODEC_VERSION) return 0;
  tide_Cursor c = {p + 2, p + n, 0};
  switch (p[1]) {
    case T_NIL: if (n != 2) return 0; lua_pushnil(L); return 1;
    case T_FALSE: if (n != 2) return 0; lua_pushboolean(L, 0); return 1;
    case T_TRUE: if (n != 2) return 0; lua_pushboolean(L, 1); return 1;
    case T_I8: if (n != 3) return 0; lua_pushinteger(L, (int8_t)p[2]); return 1;
    case T_I32: if (n != 6) return 0; lua_pushinteger(L, (int32_t)tide_cur_u32(&c)); return 1;
    case T_I64: if (n != 10) return 0; lua_pushinteger(L, (lua_Integer)tide_cur_u64(&c)); return 1;
    case T_F64: if (n != 10) return 0; lua_pushnumber(L, tide_cur_f64(&c)); return 1;
    default: return 0;
  }
}

static void decode(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds_owner,
                   int ship) {
  luaL_checkstack(L, 4, "decoding a value");
  if (!ship && tideC_decode_scalar(L, p, n)) return;
  Dec d;
  memset(&d, 0, sizeof d);
  d.L = L;
  d.c.p = d.start = p;
  d.c.end = p + n;
  d.fds = fds_owner;
  d.what = "corrupt message";
  d.ship = ship;
  luaL_checkstack(L, 4, "decoding a value");
  lua_pushcfunction(L, dec_main);
  lua_pushlightuserdata(L, &d);
  int rc = lua_pcall(L, 1, 1, 0);
  /* Arrays hold their own references; drop the ones taken at adoption. */
  for (int k = 0; k < TIDE_MSG_MAXFDS; k++) tide_storage_unref(d.seg[k]);
  if (rc != LUA_OK) lua_error(L);
}

void tideC_decode(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds_owner) {
  decode(L, p, n, fds_owner, 0);
}

/* ------------------------------------------------ shipping (ship.c) */

void tideC_encode_ship(lua_State *L, int idx, tide_Buf *b, int mode, const char *root) {
  encode(L, idx, b, mode == TIDE_CODEC_HANDLES ? mode : TIDE_CODEC_INLINE, root, 0, 1);
}

void tideC_decode_ship(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds_owner) {
  decode(L, p, n, fds_owner, 1);
}

/* The pieces ship.c builds on (codec_impl.h). */
void tideC__put(Enc *e, const void *p, size_t n) { put_raw(e, p, n); }
void tideC__put_u8(Enc *e, unsigned v) { put_u8(e, v); }
void tideC__put_u32(Enc *e, uint32_t v) { put_u32(e, v); }
int tideC__seen(Enc *e, int idx, lua_Integer *id) { return seen(e, idx, 0, id); }
void tideC__put_ref(Enc *e, lua_Integer id) { put_ref(e, id); }
void tideC__enc_value(Enc *e, int idx) { enc_value(e, idx); }
void tideC__push_step(Enc *e, Step s) { push_step(e, s); }
void tideC__pop_step(Enc *e) { pop_step(e); }
_Noreturn void tideC__enc_fail(Enc *e, const char *what) { enc_fail(e, what); }
_Noreturn void tideC__enc_cannot(Enc *e, const char *what) { enc_cannot(e, what); }
uint8_t tideC__get_u8(Dec *d) { return get_u8(d); }
uint32_t tideC__get_u32(Dec *d) { return get_u32(d); }
const unsigned char *tideC__get_bytes(Dec *d, uint64_t n) { return get_bytes(d, n); }
_Noreturn void tideC__corrupt(Dec *d, const char *what) { corrupt(d, what); }
void tideC__dec_register(Dec *d) { dec_register(d); }
void tideC__dec_value(Dec *d) { dec_value(d); }

/* ----------------------------------------------------------------- Lua API */

/* A message buffer owned by a userdata, so an error frees it. */
static int buf_gc(lua_State *L) {
  tide_buf_free(lua_touserdata(L, 1));
  return 0;
}

/* tide.encode(v [, root]) -> string (arrays inline). */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  const char *root = luaL_optstring(L, 2, "value");
  lua_settop(L, 2);
  tide_Buf *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  tideC_encode(L, 1, b, TIDE_CODEC_INLINE, root);
  lua_pushlstring(L, (const char *)b->p, b->n);
  tide_buf_free(b);
  return 1;
}

/* tide.decode(s) -> value. */
static int l_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  tideC_decode(L, (const unsigned char *)s, n, NULL);
  return 1;
}

/* Pushes registry[key], creating it as an empty table. */
static int reg_table(lua_State *L, const char *key) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, key);
  return lua_gettop(L);
}

/* tide.register_class(name, mt [, {encode = f, decode = g}]) -> mt */
static int l_register_class(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len > 0 && len < 256, 1, "class name must have 1 to 255 bytes");
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    static const char *const names[] = {"encode", "decode", NULL};
    tideL_checkopts(L, 3, "tide.register_class", names);
    int ne = lua_getfield(L, 3, "encode"), nd = lua_getfield(L, 3, "decode");
    lua_pop(L, 2);
    luaL_argcheck(L, ne == LUA_TFUNCTION && nd == LUA_TFUNCTION, 3,
                  "hooks need both encode and decode functions");
  }
  lua_settop(L, 3);
  int byname = reg_table(L, REG_BY_NAME), bymt = reg_table(L, REG_BY_MT);
  int hooks = reg_table(L, REG_HOOKS);
  /* Drop the links of an earlier registration of this name or metatable. */
  if (lua_getfield(L, byname, name) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_rawset(L, bymt); /* bymt[old mt] = nil */
  } else {
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 2);
  if (lua_rawget(L, bymt) == LUA_TSTRING) {
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, byname); /* byname[old name] = nil */
    lua_pushnil(L);
    lua_rawset(L, hooks);  /* hooks[old name] = nil */
  } else {
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 2);
  lua_setfield(L, byname, name);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 1);
  lua_rawset(L, bymt);
  if (lua_isnil(L, 3)) {
    lua_pushnil(L);
  } else { /* a copy: later edits of the caller's table change nothing */
    lua_createtable(L, 0, 2);
    lua_getfield(L, 3, "encode");
    lua_setfield(L, -2, "encode");
    lua_getfield(L, 3, "decode");
    lua_setfield(L, -2, "decode");
  }
  lua_setfield(L, hooks, name);
  lua_pushvalue(L, 2);
  return 1;
}

void tideB_open_codec(lua_State *L) {
  lua_newtable(L); /* metatable of encode's buffers */
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcclosure(L, l_encode, 1);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, l_decode);
  lua_setfield(L, -2, "decode");
  lua_pushcfunction(L, l_register_class);
  lua_setfield(L, -2, "register_class");
  tideS_open(L); /* tide._internal.ship, unship */
}

void tideC_decode_dump(lua_State *L, const unsigned char *p, size_t n, uint32_t nblobs,
                       tideC_BlobFn fn, void *ud, const char *what) {
  luaL_checkstack(L, 8, "decoding a value");
  Dec d;
  memset(&d, 0, sizeof d);
  d.L = L;
  d.c.p = d.start = p;
  d.c.end = p + n;
  d.what = what;
  d.blob = fn;
  d.blob_ud = ud;
  d.nblobs = nblobs;
  lua_pushcfunction(L, dec_main);
  lua_pushlightuserdata(L, &d);
  int rc = lua_pcall(L, 1, 1, 0);
  if (rc != LUA_OK) lua_error(L);
}
