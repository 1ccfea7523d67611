/*
** fuzz_dump.c -- libFuzzer target: tide.undump over arbitrary files must
** refuse or decode, never crash, leak or read out of bounds.
**
** The first input byte chooses how: bit 0 rewrites the table's, stream's
** and header's checksums to match the bytes (so mutations reach the table
** checks and the value decoder instead of stopping at a checksum), bit 1
** maps the arrays ("c", copy-on-write) instead of reading them, bit 2
** verifies mapped arrays.  The rest is the file, given through a memfd.
** The state knows the fitted-model classes and a class with hooks.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../runtime/bind/dump_bind.h"

static lua_State *L;

static const char *const setup =
  "local _ = tide.models.ridge\n"
  "Box = {}; Box.__index = Box\n"
  "tide.register_class('Box', Box, {\n"
  "  encode = function(b) return {b.w, b.h} end,\n"
  "  decode = function(v) return setmetatable({v = v}, Box) end})\n";

static uint64_t rd64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* Makes the checksums match the bytes where the header's sizes allow. */
static void fix_sums(unsigned char *f, size_t n) {
  if (n < TIDE_DUMP_HEADER) return;
  uint64_t toff = rd64(f + 40), tsize = rd64(f + 48), soff = rd64(f + 56), ssize = rd64(f + 64);
  if (toff <= n && tsize <= n - toff) tide_digest(f + toff, (size_t)tsize, f + 80);
  if (soff <= n && ssize <= n - soff) tide_digest(f + soff, (size_t)ssize, f + 96);
  tide_digest(f, 112, f + 112);
}

typedef struct Job {
  int fd;
  char mode;
  int verify;
} Job;

static int undump(lua_State *Ls) {
  Job *j = lua_touserdata(Ls, 1);
  tide_Dump *d;
  if (tide_dump_open_fd(j->fd, "fuzz.tide", &d) != TIDE_OK) return 0;
  /* a to-be-closed box would be the binding's way; here a pcall inside */
  lua_pushlightuserdata(Ls, d);
  lua_setfield(Ls, LUA_REGISTRYINDEX, "fuzz.dump");
  tideD_decode(Ls, d, j->mode, j->verify, "fuzz.tide");
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "tide", luaopen_tide, 1);
    lua_pop(L, 1);
    if (luaL_dostring(L, setup) != LUA_OK) abort();
  }
  if (size < 1) return 0;
  int how = data[0];
  unsigned char *file = malloc(size);
  if (!file) return 0;
  memcpy(file, data + 1, size - 1);
  if (how & 1) fix_sums(file, size - 1);
  int fd = memfd_create("fuzz", MFD_CLOEXEC);
  if (fd < 0) abort();
  size_t at = 0;
  while (at < size - 1) {
    ssize_t w = write(fd, file + at, size - 1 - at);
    if (w <= 0) abort();
    at += (size_t)w;
  }
  free(file);
  Job j = {fd, (how & 2) ? 'c' : 0, (how & 4) != 0};
  lua_pushcfunction(L, undump);
  lua_pushlightuserdata(L, &j);
  lua_pcall(L, 1, 1, 0); /* errors are the expected outcome for most inputs */
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.dump");
  tide_dump_close(lua_touserdata(L, -1));
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.dump");
  lua_settop(L, 0);
  close(fd);
  lua_gc(L, LUA_GCCOLLECT, 0); /* unmaps mapped arrays before the next input */
  return 0;
}
