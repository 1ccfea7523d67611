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
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

#ifndef TIDE_FUZZ_DIR
#error "TIDE_FUZZ_DIR (the folder of fuzz_api.lua) must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static char work[4096];
static pid_t owner;

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
  if (work[0]) nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(work, sizeof work, "%s/tide-fuzz-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(work)) abort();
  owner = getpid();
  atexit(cleanup);
  /* a system root of our own whose /proc/meminfo says 1 GiB: memory checks
  ** refuse what this machine could hold but a fuzz run should not take */
  char p[4200];
  snprintf(p, sizeof p, "%s/sysroot", work);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/sysroot/proc", work);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/sysroot/proc/meminfo", work);
  FILE *f = fopen(p, "w");
  if (!f) abort();
  fputs("MemTotal: 1048576 kB\nMemAvailable: 262144 kB\nSwapFree: 0 kB\n", f);
  fclose(f);
  snprintf(p, sizeof p, "%s/sysroot", work);
  tide__memlimit_root(p);
  if (chdir(work) != 0) abort();

  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "tide", luaopen_tide, 1);
  lua_pop(L, 1);
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
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.run");
  lua_pushlstring(L, (const char *)data, size);
  /* The driver catches every call's error; one reaching here is a bug
  ** in the driver, or an error escaping a protected call. */
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_api: driver error: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  return 0;
}
