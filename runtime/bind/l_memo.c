/*
** l_memo.c -- the C half of tide.memoize (lua/tide/memoize.lua holds the
** rest): keys, entry loads and stores, locks and the folder's index, as
** tide._internal.memo.*.  The work is in core/cache.c, core/dump.c and l_hash.c.
*/
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/cache.h"
#include "bind.h"
#include "dump_bind.h"
#include "hash_bind.h"

#define LOCK_MT "tide.memo_lock"
#define READER_MT "tide.memo_reader"

/* Bumped when what a key covers changes: old entries then miss. */
#define KEY_FORMAT "tide.memoize key 1"

static const char *check_dir(lua_State *L, int i) {
  size_t n;
  const char *d = luaL_checklstring(L, i, &n);
  luaL_argcheck(L, n > 0 && n < 3000, i, "bad cache folder name");
  return d;
}

static const char *check_key(lua_State *L, int i) {
  size_t n;
  const char *k = luaL_checklstring(L, i, &n);
  luaL_argcheck(L, n == TIDE_CACHE_KEYLEN, i, "bad cache key");
  return k;
}

/* memo.key(root, f, ...) -> 32 hex digits: f and its arguments. */
static int m_key(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  unsigned char d[TIDE_DIGEST_LEN];
  char hex[33];
  tideH *h = tideH_begin(L, root);
  static const char tag[] = KEY_FORMAT " " TIDE_VERSION " " LUA_RELEASE;
  tideH_bytes(h, tag, sizeof tag - 1);
  tideH_add(h, 2, 0);
  int64_t n = nargs;
  tideH_bytes(h, &n, sizeof n);
  for (int i = 0; i < nargs; i++) tideH_add(h, 3 + i, i + 1);
  tideH_end(h, d);
  tide_digest_hex(d, hex);
  lua_pushstring(L, hex);
  return 1;
}

/* memo.init(dir) */
static int m_init(lua_State *L) {
  int rc = tide_cache_init(check_dir(L, 1));
  if (rc) return tideL_raise(L, rc);
  return 0;
}

/* memo.path(dir, key) -> the entry's path */
static int m_path(lua_State *L) {
  char p[4096];
  int rc = tide_cache_entry_path(check_dir(L, 1), check_key(L, 2), p, sizeof p);
  if (rc) return tideL_raise(L, rc);
  lua_pushstring(L, p);
  return 1;
}

/* ------------------------------------------------------------------ locks */

typedef struct Lock {
  int fd;
  pid_t owner; /* a forked worker's copy must not release its parent's lock */
  char entry[4096];
} Lock;

static int lock_release(lua_State *L) {
  Lock *k = luaL_checkudata(L, 1, LOCK_MT);
  if (k->owner == getpid()) tide_cache_unlock(k->entry, k->fd);
  k->fd = -1;
  return 0;
}

/* memo.lock(entry, timeout) -> a lock (released by :release(),
** __close or __gc), or nil when the timeout passed first. */
static int m_lock(lua_State *L) {
  size_t n;
  const char *entry = luaL_checklstring(L, 1, &n);
  double timeout = luaL_checknumber(L, 2);
  luaL_argcheck(L, n < sizeof ((Lock *)0)->entry, 1, "path too long");
  Lock *k = lua_newuserdatauv(L, sizeof *k, 0);
  k->fd = -1;
  k->owner = getpid();
  memcpy(k->entry, entry, n + 1);
  luaL_setmetatable(L, LOCK_MT);
  int rc = tide_cache_entry_dir(entry);
  if (!rc) rc = tide_cache_lock(entry, timeout, &k->fd);
  if (rc) return tideL_raise(L, rc);
  if (k->fd < 0) lua_pushnil(L);
  return 1;
}

/* ------------------------------------------------------------------ loads */

typedef struct Reader {
  tide_Dump *d;
} Reader;

static int reader_gc(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, READER_MT);
  tide_dump_close(r->d);
  r->d = NULL;
  return 0;
}

/* Decodes the dump in the Reader at 1 with mode (2) into a value. */
static int decode_entry(lua_State *L) {
  Reader *r = lua_touserdata(L, 1);
  char mode = (char)lua_tointeger(L, 2);
  tideD_decode(L, r->d, mode, 0, lua_tostring(L, 3));
  return 1;
}

/* Pushes false, "<what went wrong>" and returns 2. */
static int damaged(lua_State *L, const char *msg) {
  lua_pushboolean(L, 0);
  lua_pushstring(L, msg);
  return 2;
}

/* memo.load(dir, key, mmap ("r", "c" or false)) ->
**   nil                       no entry
**   false, message            a damaged entry (the caller drops it)
**   true, value, bytes, checked   a hit; checked: its arrays were read now
** Mapped arrays are verified the first time this version of the file is
** read (the index keeps its stamp), so later hits read none of them. */
static int m_load(lua_State *L) {
  const char *dir = check_dir(L, 1), *key = check_key(L, 2);
  char mode = lua_toboolean(L, 3) ? *luaL_checkstring(L, 3) : 0;
  luaL_argcheck(L, mode == 0 || mode == 'r' || mode == 'c', 3, "mmap must be \"r\", \"c\" or false");
  char path[4096];
  int rc = tide_cache_entry_path(dir, key, path, sizeof path);
  if (rc) return tideL_raise(L, rc);
  Reader *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->d = NULL;
  luaL_setmetatable(L, READER_MT);
  int reader = lua_gettop(L);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    return tideL_raise(L, tide__syserr(tide__errno_code(errno), errno, "cannot open %s", path));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return tideL_raise(L, tide__syserr(TIDE_EIO, e, "cannot stat %s", path));
  }
  tide_FileStamp stamp;
  tide_stamp_of(&st, &stamp);
  rc = tide_dump_open_fd(fd, path, &r->d);
  close(fd);
  if (rc == TIDE_EFORMAT) return damaged(L, tide_lasterror());
  if (rc) return tideL_raise(L, rc);
  /* The index is a hint: a folder this process cannot write (another
  ** user's) still gives hits, whose arrays are then checked every time. */
  int verified;
  if (tide_cache_use(dir, key, &stamp, &verified) != TIDE_OK) verified = 0;
  int checked = 0;
  if (mode && !verified && tide_dump_array_bytes(r->d) > 0) {
    for (uint32_t k = 0; k < tide_dump_count(r->d); k++) {
      rc = tide_dump_verify(r->d, k);
      if (rc == TIDE_EFORMAT) return damaged(L, tide_lasterror());
      if (rc) return tideL_raise(L, rc);
    }
    tide_cache_verified(dir, key, &stamp);
    checked = 1;
  }
  /* A stream that passed its checksum can still name a class unknown
  ** here: that is a miss to recompute, not an error of the caller's. */
  lua_pushcfunction(L, decode_entry);
  lua_pushvalue(L, reader);
  lua_pushinteger(L, mode);
  lua_pushstring(L, path);
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) return damaged(L, lua_tostring(L, -1));
  tide_dump_close(r->d);
  r->d = NULL;
  lua_pushboolean(L, 1);
  lua_insert(L, -2);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_pushboolean(L, checked || !mode);
  return 4;
}

/* memo.store(dir, key, value, max_bytes, max_age) ->
**   bytes, evicted entries, evicted bytes     stored
**   false, "too big"                           larger than max_bytes */
static int m_store(lua_State *L) {
  const char *dir = check_dir(L, 1), *key = check_key(L, 2);
  luaL_checkany(L, 3);
  lua_Number max_bytes = luaL_optnumber(L, 4, 0), max_age = luaL_optnumber(L, 5, 0);
  char path[4096];
  int rc = tide_cache_entry_path(dir, key, path, sizeof path);
  if (!rc) rc = tide_cache_entry_dir(path);
  if (rc) return tideL_raise(L, rc);
  tideD_Encoded e;
  tideD_encode(L, 3, "result", &e);
  uint64_t size = tide_dump_file_size(e.n, e.narrays, e.arrays);
  if (max_bytes > 0 && (lua_Number)size > max_bytes) {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, (lua_Integer)size);
    return 2;
  }
  tide_FileStamp st;
  if ((rc = tide_cache_store(path, e.p, e.n, e.narrays, e.arrays, &st))) return tideL_raise(L, rc);
  tide_CacheEvicted ev;
  rc = tide_cache_stored(dir, key, &st, max_bytes > 0 ? (uint64_t)max_bytes : 0,
                         max_age > 0 ? (double)max_age : 0, &ev);
  if (rc) return tideL_raise(L, rc);
  lua_pushinteger(L, (lua_Integer)st.size);
  lua_pushinteger(L, (lua_Integer)ev.entries);
  lua_pushinteger(L, (lua_Integer)ev.bytes);
  return 3;
}

/* memo.drop(dir, key): a damaged entry goes. */
static int m_drop(lua_State *L) {
  int rc = tide_cache_drop(check_dir(L, 1), check_key(L, 2));
  if (rc) return tideL_raise(L, rc);
  return 0;
}

/* memo.info(dir) -> entries, bytes */
static int m_info(lua_State *L) {
  uint64_t n, b;
  int rc = tide_cache_info(check_dir(L, 1), &n, &b);
  if (rc) return tideL_raise(L, rc);
  lua_pushinteger(L, (lua_Integer)n);
  lua_pushinteger(L, (lua_Integer)b);
  return 2;
}

/* memo.clear(dir) -> entries removed */
static int m_clear(lua_State *L) {
  uint64_t n;
  int rc = tide_cache_clear(check_dir(L, 1), &n);
  if (rc) return tideL_raise(L, rc);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

void tideB_open_memo(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"key", m_key},     {"init", m_init}, {"path", m_path}, {"lock", m_lock},
    {"load", m_load},   {"store", m_store}, {"drop", m_drop}, {"info", m_info},
    {"clear", m_clear}, {NULL, NULL}};
  tideL_pushinternal(L, -1);
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "memo");
  lua_pop(L, 1);
  if (luaL_newmetatable(L, LOCK_MT)) {
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__close");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "release");
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, READER_MT)) {
    lua_pushcfunction(L, reader_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
