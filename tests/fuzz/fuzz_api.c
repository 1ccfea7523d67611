/*
** fuzz_api.c -- libFuzzer target over tide's whole Lua API: each input is
** a short sequence of calls of registered functions and methods with odd
** arguments (fuzz_api.lua, next to this file, finds the callables at run
** time and decodes the input).  Errors are expected; a crash, a sanitizer
** report or a hang is a finding, reproduced in tests/lua/.
**
** The process works in a temporary folder (every relative path a call
** writes lands there, removed at exit), and the memory check reads a fake
** /proc/meminfo granting 256 MiB, so a huge count is refused by tide's own
** admission check instead of filling the machine.
**
** One Lua state serves every input.  A full collection after each input
** made each start clean, but it traversed all of tide's heap every time
** (two thirds of an execution); now one follows an input that forked (a
** loop's workers, a monitor's sampler: their handles close, the processes
** are reaped) and every GC_EVERY inputs (TIDE_FUZZ_GC_EVERY, 16; 1 is the
** old way); in between, Lua's collector, told of array bytes, keeps
** memory bounded.  Leaks are then found when the process exits (the state
** is closed first), not per input: run with -detect_leaks=0, or libFuzzer
** re-runs and scans the heap after each of the first 1000 inputs that end
** with more allocations than frees.  So that a crash in a finalizer can be
** replayed, the inputs since the last full collection are kept in
** fuzz_api-PID.recent, in the folder the process started in (where
** libFuzzer leaves its crash files by default): a file mapped shared, so
** what was written survives the crash.  tests/fuzz/recent.lua splits it
** into files; fuzz_api given them runs them in order, in one process.
** The file is removed at a normal exit.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#ifndef TIDE_FUZZ_DIR
#error "TIDE_FUZZ_DIR (the folder of fuzz_api.lua) must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/* ASan's quarantine (freed blocks held back so a late use is caught) at
** 32 MB, not 256: inputs fork (parallel loops, the monitor), and a fork's
** cost grows with the resident size -- page tables copied, then a
** copy-on-write fault for each page written after.  At 256 MB an input
** that forked cost 110 ms, at 32 MB 40 ms.  tide's arrays past share_bytes
** are mapped, never quarantined, and the heap blocks are small: 32 MB still
** holds back the frees of many inputs.  ASAN_OPTIONS overrides it. */
const char *__asan_default_options(void) { return "quarantine_size_mb=32"; }

static lua_State *L;
static char work[4096];
static pid_t owner;

/* The log of recent inputs: "TFZR", a count, the bytes used, then each
** input as a 4-byte length and its bytes.  An input that does not fit
** sets `full` (the log is then incomplete, and says so). */
#define RECENT_SIZE (4u << 20)
typedef struct {
  char magic[4];
  uint32_t count, used, full;
  uint8_t data[];
} Recent;
static Recent *recent;
static char recent_path[4200];
static int gc_every = 16, since_gc;
/* TIDE_FUZZ_PROFILE: the wall time of inputs that forked and of the others,
** and of the full collections */
static struct { int on; long n[2], ngc[2]; double t[2], gc[2]; } prof;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void recent_open(void) {
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) abort();
  snprintf(recent_path, sizeof recent_path, "%s/fuzz_api-%d.recent", cwd, (int)getpid());
  int fd = open(recent_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, RECENT_SIZE) != 0) abort();
  void *p = mmap(NULL, RECENT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) abort();
  close(fd);
  recent = p;
  memcpy(recent->magic, "TFZR", 4);
}

static void recent_add(const uint8_t *data, size_t size) {
  size_t room = RECENT_SIZE - sizeof *recent - recent->used;
  if (size > UINT32_MAX || size + 4 > room) {
    recent->full = 1;
    return;
  }
  uint32_t n = (uint32_t)size;
  memcpy(recent->data + recent->used, &n, 4);
  memcpy(recent->data + recent->used + 4, data, size);
  recent->used += 4 + n;
  recent->count++;
}

static void recent_clear(void) {
  recent->count = recent->used = recent->full = 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  remove(p);
  return 0;
}

static void cleanup(void) {
  if (getpid() != owner) return;
  if (L && getenv("TIDE_FUZZ_STATS")) {
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.report");
    lua_pcall(L, 0, 0, 0);
  }
  if (prof.on)
    fprintf(stderr, "fuzz_api: %ld inputs forked, %.2f s, and their collections %.2f s; "
            "%ld did not, %.2f s, and %ld full collections, %.2f s\n", prof.n[1], prof.t[1],
            prof.gc[1], prof.n[0], prof.t[0], prof.ngc[0], prof.gc[0]);
  /* the last inputs' garbage is finalized too (a crash here is theirs) */
  if (L) lua_close(L);
  L = NULL;
  if (work[0]) nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  if (recent_path[0]) unlink(recent_path);
}

/* fuzz_forks() -> the forks so far (pool.c counts them): an input stops
** starting parallel work after a few (fuzz_api.lua, MAXFORK) */
static int l_forks(lua_State *Ls) {
  lua_pushinteger(Ls, (lua_Integer)tide__fork_epoch);
  return 1;
}

static void init(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(work, sizeof work, "%s/tide-fuzz-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(work)) abort();
  owner = getpid();
  recent_open();
  const char *e = getenv("TIDE_FUZZ_GC_EVERY");
  if (e && atoi(e) >= 1) gc_every = atoi(e);
  prof.on = getenv("TIDE_FUZZ_PROFILE") != NULL;
  atexit(cleanup);
  /* a system root of our own whose /proc/meminfo says 16 MiB are free:
  ** memory checks refuse what this machine could hold but a fuzz run should
  ** not take.  (At 256 MiB, tiling and FFTs of arrays near that size under
  ** ASan took two thirds of a grown corpus's time, 70-95 ms a call, for no
  ** code that smaller arrays do not reach.) */
  char p[4200];
  snprintf(p, sizeof p, "%s/sysroot", work);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/sysroot/proc", work);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/sysroot/proc/meminfo", work);
  FILE *f = fopen(p, "w");
  if (!f) abort();
  fputs("MemTotal: 65536 kB\nMemAvailable: 16384 kB\nSwapFree: 0 kB\n", f);
  fclose(f);
  snprintf(p, sizeof p, "%s/sysroot", work);
  tide__memlimit_root(p);
  if (chdir(work) != 0) abort();

  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "tide", luaopen_tide, 1);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_forks);
  lua_setglobal(L, "fuzz_forks");
  if (luaL_dofile(L, TIDE_FUZZ_DIR "/fuzz_api.lua") != LUA_OK) {
    fprintf(stderr, "fuzz_api.lua: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_getfield(L, -1, "run");
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.run");
  lua_getfield(L, -1, "report");
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.report");
  lua_settop(L, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) init();
  recent_add(data, size);
  unsigned long forks = tide__fork_epoch;
  double t0 = prof.on ? now() : 0;
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.run");
  lua_pushlstring(L, (const char *)data, size);
  /* The driver catches every call's error; one reaching here is a bug
  ** in the driver, or an error escaping a protected call. */
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_api: driver error: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  int forked = tide__fork_epoch != forks;
  if (prof.on) prof.n[forked]++, prof.t[forked] += now() - t0;
  if (forked || ++since_gc >= gc_every) {
    double t1 = prof.on ? now() : 0;
    lua_gc(L, LUA_GCCOLLECT);
    since_gc = 0;
    recent_clear(); /* the garbage of the inputs logged is gone */
    if (prof.on) prof.ngc[forked]++, prof.gc[forked] += now() - t1;
  }
  return 0;
}
