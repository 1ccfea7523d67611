/*
** test_ship.c -- function shipping from C alone (ship.h), as the spawn and
** MPI backends use it: encode in one tide state, close that state, decode
** in a fresh one and call; arrays by handle (descriptors in the buffer);
** refusals and corrupt messages come back as statuses, never longjmps.
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "check.h"
#include "codec.h"
#include "ship.h"
#include "tide.h"

static const char *sender_code =
  "k = 10\n"
  "function mul(x) return x * k end\n"
  "local up = {3}\n"
  "arr = tide.zeros(4, {shared = true}); arr[1] = 5\n"
  "local a = arr\n"
  "f = function(x) return mul(x) + up[1] + math.floor(2.5) + a[1] end\n"
  "local holder = {cb = ('a'):gmatch('a')}\n"
  "bad = function() return holder end\n";

static void test_round_trip(void) {
  tide_Buf b = TIDE_BUF_INIT;
  tide_State *A = tide_open(NULL);
  CHECK(A != NULL);
  if (!A) return;
  lua_State *L = tide_lua(A);
  CHECK_EQ_INT(tide_dostring(A, sender_code), TIDE_OK);

  /* A refusal: an error status, the message on the stack, b untouched. */
  lua_getglobal(L, "bad");
  int rc = tideS_encode(L, -1, &b, TIDE_CODEC_HANDLES, NULL);
  CHECK(rc != LUA_OK);
  const char *msg = lua_tostring(L, -1);
  CHECK(msg && strstr(msg, "field cb: cannot send a C function not reachable from "
                           "package.loaded"));
  CHECK(msg && strstr(msg, "function at (dostring):8 \xe2\x86\x92 upvalue 'holder'"));
  CHECK_EQ_INT(b.n, 0);
  CHECK_EQ_INT(b.nfds, 0);
  lua_pop(L, 2);

  lua_getglobal(L, "f");
  CHECK_EQ_INT(tideS_encode(L, -1, &b, TIDE_CODEC_HANDLES, NULL), LUA_OK);
  CHECK_EQ_INT(lua_gettop(L), 1);
  CHECK_EQ_INT(b.nfds, 1); /* the shared array, as a descriptor */
  tide_close(A);           /* nothing of the sender survives but the bytes */

  /* A truncated message fails cleanly. */
  tide_State *B = tide_open(NULL);
  CHECK(B != NULL);
  if (!B) {
    tide_buf_free(&b);
    return;
  }
  L = tide_lua(B);
  CHECK(tideS_decode(L, b.p, b.n / 2, NULL) != LUA_OK);
  CHECK(lua_isstring(L, -1));
  lua_pop(L, 1);

  CHECK_EQ_INT(tideS_decode(L, b.p, b.n, &b), LUA_OK);
  CHECK_EQ_INT(lua_type(L, -1), LUA_TFUNCTION);
  CHECK_EQ_INT(b.fds[0], -1); /* adopted by the array */
  lua_pushinteger(L, 4);
  CHECK_EQ_INT(lua_pcall(L, 1, 1, 0), LUA_OK);
  CHECK_EQ_INT(lua_tointeger(L, -1), 4 * 10 + 3 + 2 + 5);
  lua_pop(L, 1);
  /* The globals it reads came with it. */
  CHECK_EQ_INT(lua_getglobal(L, "k"), LUA_TNUMBER);
  CHECK_EQ_INT(lua_tointeger(L, -1), 10);
  lua_pop(L, 1);
  CHECK_EQ_INT(lua_gettop(L), 0);
  tide_close(B);
  tide_buf_free(&b);
}

int main(void) {
  test_round_trip();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail != 0;
}
