/*
** l_fault.c -- tide._internal.faults, the driver's handle on fault
** injection (TIDE_FAULTS builds only; in others the field does not exist).
**
**   faults{at = N, kind = "core"|"lua", persist = false}   arm
**   faults()                                               disarm
** Both return the points the previous arming passed and how many of them
** were failed, so a driver runs a scenario with at = 1, 2, ... until it
** passes fewer than N points (the scenario then ran to the end unharmed).
**
** "core": the core's acquisitions (fault.h).  "lua": the lua_State's
** allocator returns NULL for the N-th growing request.  Lua answers a NULL
** with an emergency collection and the same request again; that retry is
** failed too, or the fault would vanish without an error.  Shrinks and
** frees never fail: Lua assumes they cannot.
*/
#include "bind.h"

#ifdef TIDE_FAULTS

#include <unistd.h>

typedef struct LuaFault {
  lua_Alloc f; /* the allocator wrapped, NULL when not installed */
  void *ud;
  long at, passed, fired;
  pid_t owner;   /* workers inherit the state, and are not counted */
  int retry;     /* the last request failed: fail its retry too */
  void *rptr;
  size_t rsize;
} LuaFault;

static LuaFault lf;

static void *fault_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  LuaFault *F = ud;
  if (F->at > 0 && nsize > 0 && (ptr == NULL || nsize > osize) && getpid() == F->owner) {
    if (F->retry) {
      F->retry = 0;
      if (ptr == F->rptr && nsize == F->rsize) return NULL;
    }
    if (++F->passed == F->at) {
      F->fired++;
      F->retry = 1;
      F->rptr = ptr;
      F->rsize = nsize;
      return NULL;
    }
  }
  return F->f(F->ud, ptr, osize, nsize);
}

static void push_counts(lua_State *L, long passed, long fired) {
  lua_pushinteger(L, passed);
  lua_pushinteger(L, fired);
}

static int l_faults(lua_State *L) {
  long passed = tide__fault_passed() + lf.passed, fired = tide__fault_fired() + lf.fired;
  long at = 0;
  int lua = 0, persist = 0;
  if (!lua_isnoneornil(L, 1)) {
    static const char *const keys[] = {"at", "kind", "persist", NULL};
    tideL_checkopts(L, 1, "faults", keys);
    lua_getfield(L, 1, "at");
    at = (long)luaL_checkinteger(L, -1);
    luaL_argcheck(L, at >= 0, 1, "at must be >= 0");
    lua_getfield(L, 1, "kind");
    static const char *const kinds[] = {"core", "lua", NULL};
    lua = luaL_checkoption(L, -1, "core", kinds);
    lua_getfield(L, 1, "persist");
    persist = lua_toboolean(L, -1);
    luaL_argcheck(L, !(lua && persist), 1, "persist applies to kind \"core\" only");
    lua_pop(L, 3);
  }
  /* disarm both, then arm one: the counts start from this call */
  tide__fault_arm(0, 0);
  lf.at = lf.passed = lf.fired = 0;
  lf.retry = 0;
  if (lf.f) {
    lua_setallocf(L, lf.f, lf.ud);
    lf.f = NULL;
  }
  if (at > 0 && lua) {
    lf.f = lua_getallocf(L, &lf.ud);
    lf.owner = getpid();
    lf.at = at;
    lua_setallocf(L, fault_alloc, &lf);
  } else if (at > 0) {
    tide__fault_arm(at, persist);
  }
  push_counts(L, passed, fired);
  return 2;
}

void tideB_open_faults(lua_State *L) {
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_faults);
  lua_setfield(L, -2, "faults");
  lua_pop(L, 1);
}

#else

void tideB_open_faults(lua_State *L) { (void)L; }

#endif
