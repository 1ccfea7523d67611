/*
** l_dump.c -- tide.dump and tide.undump: a value's codec stream (arrays as
** blobs) written by core/dump.c, and read back with every section checked.
*/
#include <string.h>

#include "../core/dump.h"
#include "bind.h"
#include "codec.h"
#include "dump_bind.h"

#define DUMP_MT "tide.dump_reader"
#define BUF_MT "tide.dump_buffer"

/* An open dump being read, owned by a userdata so that an error in the
** middle of a decode still closes it. */
typedef struct DumpBox {
  tide_Dump *d;
  char mode;  /* 0: read the arrays, 'r' / 'c': map them */
  int verify; /* check mapped arrays' checksums */
} DumpBox;

static int box_gc(lua_State *L) {
  DumpBox *b = luaL_checkudata(L, 1, DUMP_MT);
  tide_dump_close(b->d);
  b->d = NULL;
  return 0;
}

static int buf_gc(lua_State *L) {
  tide_buf_free(luaL_checkudata(L, 1, BUF_MT));
  return 0;
}

static void push_array(lua_State *L, void *ud, uint32_t k) {
  DumpBox *b = ud;
  tide_Array *a = tideL_push(L);
  int rc = tide_dump_array(b->d, k, b->mode, b->verify, a);
  if (rc) tideL_raise(L, rc);
}

int tideD_encode(lua_State *L, int idx, const char *root, tideD_Encoded *out) {
  idx = lua_absindex(L, idx);
  tide_Buf *b = lua_newuserdatauv(L, sizeof *b, 0);
  *b = (tide_Buf)TIDE_BUF_INIT;
  luaL_setmetatable(L, BUF_MT);
  lua_newtable(L);
  tideC_encode_dump(L, idx, b, -1, root);
  lua_Unsigned n = lua_rawlen(L, -1);
  if (n > UINT32_MAX) luaL_error(L, "too many arrays in one dump");
  const tide_Array **arrays = lua_newuserdatauv(L, (n ? n : 1) * sizeof *arrays, 0);
  for (lua_Unsigned k = 0; k < n; k++) {
    lua_rawgeti(L, -2, (lua_Integer)k + 1);
    arrays[k] = tideL_test(L, -1); /* kept alive by the list */
    lua_pop(L, 1);
  }
  out->p = b->p;
  out->n = b->n;
  out->narrays = (uint32_t)n;
  out->arrays = arrays;
  return 3; /* buffer, list, pointers */
}

void tideD_decode(lua_State *L, tide_Dump *d, char mode, int verify, const char *name) {
  /* On the C stack: the decode is over when this returns or raises, and
  ** d stays the caller's either way. */
  DumpBox b = {d, mode, verify};
  size_t n;
  const unsigned char *p = tide_dump_stream(d, &n);
  const char *what = lua_pushfstring(L, "%s: corrupt value stream", name);
  tideC_decode_dump(L, p, n, tide_dump_count(d), push_array, &b, what);
  lua_remove(L, -2);
}

char tideD_checkmmap(lua_State *L, int opts, int arg) {
  const char *mm = tideL_optstr(L, opts, "mmap", NULL);
  if (!mm) return 0;
  if (!strcmp(mm, "r")) return 'r';
  if (!strcmp(mm, "c")) return 'c';
  luaL_argerror(L, arg, "mmap must be \"r\" or \"c\" (a dump's arrays are checksummed: they "
                        "are never written through the file)");
  return 0;
}

/* tide.dump(value, path) */
static int l_dump(lua_State *L) {
  luaL_checkany(L, 1);
  const char *path = luaL_checkstring(L, 2);
  lua_settop(L, 2);
  tideD_Encoded e;
  tideD_encode(L, 1, "value", &e);
  int rc = tide_dump_write(path, e.p, e.n, e.narrays, e.arrays);
  if (rc) return tideL_raise(L, rc);
  return 0;
}

/* tide.undump(path [, {mmap = "r" | "c", verify = false}]) */
static int l_undump(lua_State *L) {
  static const char *const names[] = {"mmap", "verify", NULL};
  const char *path = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  tideL_checkopts(L, 2, "tide.undump", names);
  char mode = tideD_checkmmap(L, 2, 2);
  int verify = tideL_optbool(L, 2, "verify", 0);
  lua_settop(L, 2);
  /* The box exists before the dump is opened: an error closes it. */
  DumpBox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->d = NULL;
  luaL_setmetatable(L, DUMP_MT);
  int rc = tide_dump_open(path, &b->d);
  if (rc) return tideL_raise(L, rc);
  tideD_decode(L, b->d, mode, verify, path);
  tide_dump_close(b->d);
  b->d = NULL;
  return 1;
}

/* tide._internal.digest(s): the 16 bytes of s's XXH3-128 (tests forge
** files with it). */
static int l_digest(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char d[TIDE_DIGEST_LEN];
  tide_digest(s, n, d);
  lua_pushlstring(L, (const char *)d, sizeof d);
  return 1;
}

void tideB_open_dump(lua_State *L) {
  static const luaL_Reg funcs[] = {{"dump", l_dump}, {"undump", l_undump}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_digest);
  lua_setfield(L, -2, "digest");
  lua_pop(L, 1);
  if (luaL_newmetatable(L, DUMP_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, BUF_MT)) {
    lua_pushcfunction(L, buf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
