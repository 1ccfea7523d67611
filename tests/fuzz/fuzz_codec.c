/*
** fuzz_codec.c -- libFuzzer target: tideC_decode over arbitrary bytes must
** refuse or decode, never crash, leak a descriptor or read out of bounds.
** The state knows two classes (Point: plain, Box: hooks) and each input
** comes with one 64 KiB shared segment descriptor, so handles are reached.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../runtime/bind/codec.h"

static lua_State *L;
static int segment = -1;

static const char *const setup =
  "Point = {}; Point.__index = Point\n"
  "tide.register_class('Point', Point)\n"
  "Box = {}; Box.__index = Box\n"
  "tide.register_class('Box', Box, {\n"
  "  encode = function(b) return {b.w, b.h} end,\n"
  "  decode = function(v) return setmetatable({v = v}, Box) end})\n";

static int decode(lua_State *Ls) {
  tide_Buf *b = lua_touserdata(Ls, 1);
  const unsigned char *p = lua_touserdata(Ls, 2);
  size_t n = (size_t)lua_tointeger(Ls, 3);
  tideC_decode(Ls, p, n, b);
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
    segment = memfd_create("tide", MFD_CLOEXEC);
    if (segment < 0 || ftruncate(segment, 65536) != 0) abort();
  }
  tide_Buf b = TIDE_BUF_INIT;
  if (tide_buf_put_fd(&b, segment) != 0) abort();
  lua_pushcfunction(L, decode);
  lua_pushlightuserdata(L, &b);
  lua_pushlightuserdata(L, (void *)data);
  lua_pushinteger(L, (lua_Integer)size);
  lua_pcall(L, 3, 1, 0); /* errors are the expected outcome for most inputs */
  lua_settop(L, 0);
  tide_buf_free(&b);   /* closes the descriptor unless an array adopted it */
  lua_gc(L, LUA_GCCOLLECT, 0); /* unmaps adopted segments before the next input */
  return 0;
}
