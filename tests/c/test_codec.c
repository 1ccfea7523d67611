/*
** test_codec.c -- the codec's handle mode: shared arrays cross as segment
** descriptors (in one process and through a socket to a forked child),
** decoded arrays see the same pages, and segments are freed at the end.
*/
#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../runtime/bind/codec.h"
#include "check.h"

/* Descriptors of this process that are tide memfd segments. */
static int shm_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[300], target[300];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0) continue;
    target[len] = '\0';
    if (strstr(target, "memfd:tide")) n++;
  }
  if (d) closedir(d);
  return n;
}

static void run(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "lua error: %s\n", lua_tostring(L, -1));
    check_fail++;
    lua_pop(L, 1);
  }
}

static void gc(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
}

/* Protected encode of global `v`: returns NULL or the error message. */
static tide_Buf *enc_buf;
static int enc_mode;
static int p_encode(lua_State *L) {
  lua_getglobal(L, "v");
  tideC_encode(L, -1, enc_buf, enc_mode, "result 3");
  return 0;
}
static const char *encode_global(lua_State *L, tide_Buf *b, int mode) {
  enc_buf = b;
  enc_mode = mode;
  lua_pushcfunction(L, p_encode);
  if (lua_pcall(L, 0, 0, 0) == LUA_OK) return NULL;
  const char *m = lua_tostring(L, -1);
  lua_setglobal(L, "last_error"); /* keeps the string alive */
  return m;
}

/* Protected decode into global `w`. */
static tide_Buf *dec_buf;
static const unsigned char *dec_p;
static size_t dec_n;
static int p_decode(lua_State *L) {
  tideC_decode(L, dec_p, dec_n, dec_buf);
  lua_setglobal(L, "w");
  return 0;
}
static const char *decode_into_w(lua_State *L, const unsigned char *p, size_t n, tide_Buf *b) {
  dec_p = p;
  dec_n = n;
  dec_buf = b;
  lua_pushcfunction(L, p_decode);
  if (lua_pcall(L, 0, 0, 0) == LUA_OK) return NULL;
  const char *m = lua_tostring(L, -1);
  lua_setglobal(L, "last_error");
  return m;
}

static int lua_true(lua_State *L, const char *expr) {
  char code[512];
  snprintf(code, sizeof code, "return %s", expr);
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "lua error in %s: %s\n", expr, lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  int r = lua_toboolean(L, -1);
  if (!r) fprintf(stderr, "false: %s\n", expr);
  lua_pop(L, 1);
  return r;
}

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "tide", luaopen_tide, 1);
  lua_pop(L, 1);
  return L;
}

/* Same process: encode, drop the originals, decode from the buffer. */
static void same_process(void) {
  lua_State *L = new_state();
  int base = shm_fds();
  run(L, "a = tide.zeros(1 << 18); assert(a.storage == 'shared')\n"
         "m = a:reshape(512, 512)\n"
         "v = {a = a, m = m, t = m:t(), col = m:col(3), again = a, n = 7, s = 'x'}");
  CHECK_EQ_INT(shm_fds(), base + 1);
  tide_Buf b = TIDE_BUF_INIT;
  const char *err = encode_global(L, &b, TIDE_CODEC_HANDLES);
  CHECK(err == NULL);
  CHECK_EQ_INT(b.nfds, 1);  /* four views of one segment: one descriptor */
  CHECK(b.n < 600);         /* handles, not 2 MiB of bytes */
  CHECK_EQ_INT(shm_fds(), base + 2);

  /* The originals go; the buffer's descriptor keeps the segment. */
  run(L, "a:close(); m = nil; v = nil");
  gc(L);
  CHECK_EQ_INT(shm_fds(), base + 1);

  err = decode_into_w(L, b.p, b.n, &b);
  CHECK(err == NULL);
  if (err) fprintf(stderr, "decode: %s\n", err);
  CHECK_EQ_INT(b.fds[0], -1); /* adopted: the buffer no longer owns it */
  CHECK_EQ_INT(shm_fds(), base + 1);
  CHECK(lua_true(L, "w.a.storage == 'shared' and w.m.storage == 'shared'"));
  CHECK(lua_true(L, "w.a == w.again and w.n == 7 and w.s == 'x'"));
  CHECK(lua_true(L, "w.t.shape[1] == 512 and w.t.strides[1] == 1 and w.t.strides[2] == 512"));
  CHECK(lua_true(L, "not w.a.readonly"));
  /* One set of pages: a write through one view shows through the others. */
  run(L, "w.m[2][3] = 42; w.a[7] = -1");
  CHECK(lua_true(L, "w.a[515] == 42 and w.t[3][2] == 42 and w.col[2] == 42"));
  CHECK(lua_true(L, "w.m[1][7] == -1"));

  /* A second decode of the same buffer finds the descriptor taken. */
  err = decode_into_w(L, b.p, b.n, &b);
  CHECK(err && strstr(err, "descriptor already taken"));
  tide_buf_free(&b);
  CHECK_EQ_INT(shm_fds(), base + 1);
  run(L, "w = nil");
  gc(L);
  CHECK_EQ_INT(shm_fds(), base); /* released when every view is collected */

  /* INLINE mode: no descriptors, the bytes travel. */
  run(L, "v = tide.arange(1 << 18):astype('f64')");
  err = encode_global(L, &b, TIDE_CODEC_INLINE);
  CHECK(err == NULL);
  CHECK_EQ_INT(b.nfds, 0);
  CHECK(b.n > (size_t)8 << 18);
  err = decode_into_w(L, b.p, b.n, NULL);
  CHECK(err == NULL);
  CHECK(lua_true(L, "w[262144] == 262143.0 and w ~= v"));
  run(L, "w[1] = 5");
  CHECK(lua_true(L, "v[1] == 0"));
  tide_buf_free(&b);

  /* Heap arrays inline even in HANDLES mode. */
  run(L, "v = {tide.arange(10)}");
  err = encode_global(L, &b, TIDE_CODEC_HANDLES);
  CHECK(err == NULL && b.nfds == 0);
  tide_buf_free(&b);

  /* Errors name the path from the root given by the caller. */
  run(L, "v = {1, 2, {model = {coroutine.create(print)}}}");
  err = encode_global(L, &b, TIDE_CODEC_HANDLES);
  int same = err && strcmp(err, "result 3 \xe2\x86\x92 [3] \xe2\x86\x92 field model "
                                "\xe2\x86\x92 [1]: cannot send a thread") == 0;
  CHECK(same);
  if (!same) fprintf(stderr, "(message: %s)\n", err ? err : "none");
  tide_buf_free(&b);
  run(L, "v = nil; w = nil");
  gc(L);
  CHECK_EQ_INT(shm_fds(), base);
  lua_close(L);
}

/* Corrupt handles: every check refuses, and no descriptor leaks. */
static void bad_handles(void) {
  lua_State *L = new_state();
  int base = shm_fds();
  run(L, "v = tide.zeros(1 << 18)");
  tide_Buf b = TIDE_BUF_INIT;
  CHECK(encode_global(L, &b, TIDE_CODEC_HANDLES) == NULL);
  run(L, "v = nil");
  gc(L);
  /* Layout: version, tag, dtype, ndim, shape u64, stride i64, fd u32,
  ** segment size u64, offset u64, lease u32 (0: none). */
  CHECK_EQ_INT(b.n, 1 + 1 + 2 + 8 + 8 + 4 + 8 + 8 + 4);
  CHECK(memcmp(b.p + b.n - 4, "\0\0\0\0", 4) == 0);
  unsigned char good[64];
  memcpy(good, b.p, b.n);
  size_t n = b.n;
  struct { size_t at; uint64_t val; int width; const char *msg; } cases[] = {
    {20, 1, 4, "without its descriptor"},                 /* fd index 1 of 1 */
    {12, 16, 8, "outside its segment"},                   /* stride 2x */
    {12, (uint64_t)-8, 8, "outside its segment"},         /* negative stride */
    {32, 8, 8, "outside its segment"},                    /* offset + extent */
    {32, 3, 8, "misaligned"},
    {24, (uint64_t)1 << 40, 8, "expected"},               /* bigger than the fd */
    {24, (uint64_t)-1, 8, "outside its segment"},
    {12, 12, 8, "bad strides"},
    {12, (uint64_t)INT64_MIN, 8, "bad strides"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned char m[64];
    memcpy(m, good, n);
    for (int k = 0; k < cases[i].width; k++)
      m[cases[i].at + (size_t)k] = (unsigned char)(cases[i].val >> (8 * k));
    const char *err = decode_into_w(L, m, n, &b);
    CHECK(err && strstr(err, cases[i].msg));
    if (!err || !strstr(err, cases[i].msg))
      fprintf(stderr, "case %zu: %s\n", i, err ? err : "(no error)");
    CHECK(b.fds[0] >= 0); /* refused: the buffer still owns it */
  }
  CHECK(decode_into_w(L, good, n, NULL) != NULL); /* no descriptors given */
  /* Every prefix is refused too. */
  int refused = 0;
  for (size_t i = 0; i < n; i++) refused += decode_into_w(L, good, i, &b) != NULL;
  CHECK_EQ_INT(refused, (long long)n);
  CHECK_EQ_INT(shm_fds(), base + 1);
  tide_buf_free(&b);
  CHECK_EQ_INT(shm_fds(), base);
  lua_close(L);
}

/* A forked child makes a shared array, sends it as a handle, and sees the
** parent's write to it. */
static void across_fork(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    CHECK(0);
    return;
  }
  int base = shm_fds();
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    lua_State *L = new_state();
    run(L, "v = {x = tide.arange(1 << 18):astype('f64'), label = 'from child'}\n"
           "assert(v.x.storage == 'shared')");
    tide_Buf b = TIDE_BUF_INIT;
    int bad = encode_global(L, &b, TIDE_CODEC_HANDLES) != NULL;
    bad |= tide_msg_send(sv[1], 1, &b) != TIDE_OK;
    tide_buf_free(&b);
    uint8_t type;
    bad |= tide_msg_recv(sv[1], &type, &b, 1 << 20) != TIDE_OK; /* "written" */
    bad |= !lua_true(L, "v.x[1] == 1234.5 and v.x[262144] == 262143");
    tide_buf_free(&b);
    lua_close(L);
    _exit(bad ? 1 : 0);
  }
  close(sv[1]);
  lua_State *L = new_state();
  tide_Buf b = TIDE_BUF_INIT;
  uint8_t type = 0;
  CHECK_EQ_INT(tide_msg_recv(sv[0], &type, &b, 1 << 20), TIDE_OK);
  CHECK_EQ_INT(type, 1);
  CHECK_EQ_INT(b.nfds, 1);
  const char *err = decode_into_w(L, b.p, b.n, &b);
  CHECK(err == NULL);
  if (err) fprintf(stderr, "decode: %s\n", err);
  CHECK(lua_true(L, "w.label == 'from child' and w.x[262144] == 262143.0"));
  CHECK(lua_true(L, "w.x.storage == 'shared' and not w.x.readonly"));
  run(L, "w.x[1] = 1234.5");
  tide_Buf ack = TIDE_BUF_INIT;
  CHECK_EQ_INT(tide_msg_send(sv[0], 2, &ack), TIDE_OK);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  tide_buf_free(&b);
  CHECK_EQ_INT(shm_fds(), base + 1); /* the child is gone; our mapping holds it */
  run(L, "w = nil");
  gc(L);
  CHECK_EQ_INT(shm_fds(), base);
  close(sv[0]);
  lua_close(L);
}

int main(void) {
  same_process();
  bad_handles();
  across_fork();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail ? 1 : 0;
}
