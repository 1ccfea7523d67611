/*
** l_fft.c -- tide.fft: numpy.fft's real transforms over tide's own FFT
** (runtime/core/fft.c).  Complex values are m x 2 f64 arrays (real,
** imaginary): numpy's complex128 layout, so a saved .npy reads in numpy
** with .view(np.complex128).
**
**   tide.fft.rfft(a [, n])     (n/2 + 1) x 2; rows x (n/2 + 1) x 2 for a matrix
**   tide.fft.irfft(F [, n])    n values (default 2 (m - 1)); rows x n
**   tide.fft.next_fast_len(n [, real])   the next length with factors 2, 3, 5
*/
#include "bind.h"
#include "fft.h"

/* Optional argument i: a length >= 1, or nil. */
static int64_t opt_len(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return 0;
  lua_Integer n = luaL_checkinteger(L, i);
  if (n < 1)
    luaL_argerror(L, i, lua_pushfstring(L, "invalid number of FFT data points (%I)", n));
  return (int64_t)n;
}

static int l_rfft(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  int64_t n = opt_len(L, 2);
  tide_Array *out = tideL_push(L);
  int rc = tide_rfft(a, n, out);
  if (rc == TIDE_ENOMEM) {
    lua_gc(L, LUA_GCCOLLECT);
    rc = tide_rfft(a, n, out);
  }
  return rc ? tideL_argraise(L, 1, rc) : 1;
}

static int l_irfft(lua_State *L) {
  tide_Array *F = tideL_check(L, 1);
  int64_t n = opt_len(L, 2);
  tide_Array *out = tideL_push(L);
  int rc = tide_irfft(F, n, out);
  if (rc == TIDE_ENOMEM) {
    lua_gc(L, LUA_GCCOLLECT);
    rc = tide_irfft(F, n, out);
  }
  return rc ? tideL_argraise(L, 1, rc) : 1;
}

static int l_next_fast_len(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0 && n <= ((lua_Integer)1 << 50), 1, "length out of range");
  bool real = lua_isnoneornil(L, 2) ? false : lua_toboolean(L, 2);
  lua_pushinteger(L, (lua_Integer)tide_fft_good_size((int64_t)n, real));
  return 1;
}

void tideB_open_fft(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"rfft", l_rfft}, {"irfft", l_irfft}, {"next_fast_len", l_next_fast_len}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "fft");
}
