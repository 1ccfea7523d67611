/*
** l_convolve.c -- tide.convolve and tide.correlate: numpy.convolve and
** numpy.correlate of two 1-D arrays, with scipy.signal.convolve's choice of
** method (runtime/core/convolve.c).
**
**   tide.convolve(a, v [, {mode = "full", method = "auto"}])
**   tide.correlate(a, v [, {mode = "valid", method = "auto"}])
** mode: "full" | "same" | "valid" (numpy's defaults: full for convolve,
** valid for correlate); method: "auto" | "direct" | "fft".
*/
#include <string.h>

#include "bind.h"
#include "convolve.h"

static int pick(lua_State *L, int i, const char *key, const char *const *names, int dflt) {
  int t = lua_getfield(L, i, key), r = dflt;
  if (t != LUA_TNIL) {
    const char *s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (r = 0; s && names[r] && strcmp(names[r], s) != 0; r++) {
    }
    if (!s || !names[r])
      luaL_argerror(L, i, lua_pushfstring(L, "option '%s' must be \"%s\", \"%s\" or \"%s\", got %s%s%s",
                                          key, names[0], names[1], names[2],
                                          s ? "'" : "", s ? s : luaL_typename(L, -1), s ? "'" : ""));
  }
  lua_pop(L, 1);
  return r;
}

static int conv(lua_State *L, bool correlate) {
  static const char *const modes[] = {"full", "same", "valid", NULL};
  static const char *const methods[] = {"auto", "direct", "fft", NULL};
  static const char *const names[] = {"mode", "method", NULL};
  tide_Array *a = tideL_check(L, 1), *v = tideL_check(L, 2);
  int mode = correlate ? TIDE_CONV_VALID : TIDE_CONV_FULL, method = TIDE_CONV_AUTO;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    tideL_checkopts(L, 3, correlate ? "tide.correlate" : "tide.convolve", names);
    mode = pick(L, 3, "mode", modes, mode);
    method = pick(L, 3, "method", methods, method);
  }
  lua_settop(L, 3);
  tide_Array *out = tideL_push(L);
  int rc = tide_convolve(a, v, mode, method, correlate, out, NULL);
  if (rc == TIDE_ENOMEM || rc == TIDE_ENOSPC) {
    lua_gc(L, LUA_GCCOLLECT);
    rc = tide_convolve(a, v, mode, method, correlate, out, NULL);
  }
  if (rc) {
    const char *m = tide_lasterror();
    return tideL_argraise(L, m[0] == 'v' ? 2 : 1, rc);
  }
  return 1;
}

/* tide._internal.conv_method(m, n, mode): "direct" or "fft", auto's choice
** for lengths m and n (tests compare it with scipy's). */
static int l_conv_method(lua_State *L) {
  static const char *const modes[] = {"full", "same", "valid", NULL};
  lua_Integer m = luaL_checkinteger(L, 1), n = luaL_checkinteger(L, 2);
  int mode = luaL_checkoption(L, 3, "full", modes);
  luaL_argcheck(L, m >= 1, 1, "length must be >= 1");
  luaL_argcheck(L, n >= 1, 2, "length must be >= 1");
  lua_pushstring(L, tide_conv_choose(m, n, mode) == TIDE_CONV_FFT ? "fft" : "direct");
  return 1;
}

static int l_convolve(lua_State *L) { return conv(L, false); }
static int l_correlate(lua_State *L) { return conv(L, true); }

void tideB_open_convolve(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"convolve", l_convolve}, {"correlate", l_correlate}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_conv_method);
  lua_setfield(L, -2, "conv_method");
  lua_pop(L, 1);
}
