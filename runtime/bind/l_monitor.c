/*
** l_monitor.c -- tide.monitor (a sampler of the script's process tree) and
** tide.memory (one synchronous measure).  The core (monitor.c) samples;
** lua/tide/monitor.lua turns the samples into a report (summary, csv, plot).
*/
#include <string.h>

#include "bind.h"
#include "monitor.h"

#define MON_MT "tide.monitor"
#define DEFAULT_INTERVAL 0.1
#define DEFAULT_MAX_SAMPLES 1000000

typedef struct LMon {
  tide_Monitor *m; /* NULL once freed */
} LMon;

static LMon *check_mon(lua_State *L) {
  LMon *u = luaL_checkudata(L, 1, MON_MT);
  if (!u->m) luaL_error(L, "monitor is closed");
  return u;
}

/* tide.monitor([{interval = 0.1, max_samples = 1e6}]) */
static int l_monitor(lua_State *L) {
  static const char *const known[] = {"interval", "max_samples", NULL};
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    tideL_checkopts(L, 1, "tide.monitor", known);
  }
  double interval = tideL_optnum(L, 1, "interval", DEFAULT_INTERVAL);
  lua_Number maxs = tideL_optnum(L, 1, "max_samples", DEFAULT_MAX_SAMPLES);
  if (!(maxs >= 1 && maxs <= TIDE_MON_MAXSAMPLES))
    return luaL_error(L, "bad argument #1 to 'monitor' (max_samples must be between 1 "
                         "and %d)", TIDE_MON_MAXSAMPLES);
  LMon *u = lua_newuserdatauv(L, sizeof *u, 1); /* uservalue: the final report */
  u->m = NULL;
  luaL_setmetatable(L, MON_MT);
  int rc = tide_monitor_start(&u->m, interval, (int64_t)maxs);
  if (rc == TIDE_EINVAL) return tideL_argraise(L, 1, rc);
  if (rc) return tideL_fail(L, rc);
  return 1;
}

/* mon:mark(label): true, or false when the mark table is full. */
static int m_mark(lua_State *L) {
  LMon *u = check_mon(L);
  const char *label = luaL_checkstring(L, 2);
  int rc = tide_monitor_mark(u->m, label);
  if (rc == TIDE_ECLOSED) return tideL_raise(L, rc);
  lua_pushboolean(L, rc == TIDE_OK);
  return 1;
}

static void set_column(lua_State *L, const char *name, const tide_MonSample *s, int64_t n,
                       int which) {
  lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
  for (int64_t i = 0; i < n; i++) {
    switch (which) {
    case 0: lua_pushnumber(L, s[i].t); break;
    case 1: lua_pushinteger(L, s[i].rss); break;
    case 2: lua_pushinteger(L, s[i].pss); break;
    case 3: lua_pushinteger(L, s[i].uss); break;
    case 4: lua_pushnumber(L, s[i].cpu); break;
    case 5: lua_pushinteger(L, s[i].sys_used); break;
    default: lua_pushinteger(L, s[i].nproc); break;
    }
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, name);
}

/* Pushes require("tide.monitor").report(raw) for the samples so far. */
static void push_report(lua_State *L, tide_Monitor *m) {
  if (lua_getglobal(L, "require") != LUA_TFUNCTION) luaL_error(L, "monitor: no 'require'");
  lua_pushliteral(L, "tide.monitor");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "report");
  lua_remove(L, -2);
  int64_t n = tide_monitor_count(m);
  const tide_MonSample *s = tide_monitor_samples(m);
  lua_createtable(L, 0, 16);
  static const char *const cols[] = {"t", "rss", "pss", "uss", "cpu", "sys_used", "nproc"};
  for (int c = 0; c < 7; c++) set_column(L, cols[c], s, n, c);
  int dropped;
  int nm = tide_monitor_nmarks(m, &dropped);
  lua_createtable(L, nm, 0);
  int k = 0;
  for (int i = 0; i < nm; i++) {
    double t;
    const char *label;
    if (tide_monitor_getmark(m, i, &t, &label) != TIDE_OK) continue; /* half-written */
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, t);
    lua_setfield(L, -2, "t");
    lua_pushstring(L, label);
    lua_setfield(L, -2, "label");
    lua_rawseti(L, -2, ++k);
  }
  lua_setfield(L, -2, "marks");
  lua_pushinteger(L, dropped);
  lua_setfield(L, -2, "dropped_marks");
  lua_pushboolean(L, tide_monitor_truncated(m));
  lua_setfield(L, -2, "truncated");
  lua_pushnumber(L, tide_monitor_interval(m));
  lua_setfield(L, -2, "interval");
  lua_pushinteger(L, tide_monitor_pid(m));
  lua_setfield(L, -2, "pid");
  lua_pushboolean(L, tide_monitor_running(m));
  lua_setfield(L, -2, "running");
  lua_call(L, 1, 1);
}

/* mon:stop(): stops the sampler (last sample now) and returns the report;
** again: the same report. */
static int m_stop(lua_State *L) {
  LMon *u = check_mon(L);
  if (lua_getiuservalue(L, 1, 1) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  if (!tide_monitor_owned(u->m))
    return luaL_error(L, "monitor: only the process that started it can stop it");
  tide_monitor_stop(u->m);
  push_report(L, u->m);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
  return 1;
}

/* mon:report(): the samples so far, the sampler still running. */
static int m_report(lua_State *L) {
  LMon *u = check_mon(L);
  if (lua_getiuservalue(L, 1, 1) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  push_report(L, u->m);
  return 1;
}

static int m_gc(lua_State *L) {
  LMon *u = luaL_checkudata(L, 1, MON_MT);
  tide_monitor_free(u->m); /* stops the sampler, in the owner only */
  u->m = NULL;
  return 0;
}

/* `local mon <close> = tide.monitor()`: the sampler stops with the scope. */
static int m_close(lua_State *L) {
  LMon *u = luaL_checkudata(L, 1, MON_MT);
  if (u->m) tide_monitor_stop(u->m);
  return 0;
}

static int m_tostring(lua_State *L) {
  LMon *u = luaL_checkudata(L, 1, MON_MT);
  if (!u->m) lua_pushliteral(L, "tide.monitor (closed)");
  else
    lua_pushfstring(L, "tide.monitor (%s, %I samples, sampler pid %d)",
                    tide_monitor_running(u->m) ? "running" : "stopped",
                    (lua_Integer)tide_monitor_count(u->m), (int)tide_monitor_pid(u->m));
  return 1;
}

static const luaL_Reg methods[] = {
  {"mark", m_mark}, {"stop", m_stop}, {"report", m_report}, {NULL, NULL}};

/* Methods, then the read-only fields pid, running, samples, interval. */
static int m_index(lua_State *L) {
  LMon *u = luaL_checkudata(L, 1, MON_MT);
  const char *k = luaL_checkstring(L, 2);
  lua_getfield(L, lua_upvalueindex(1), k);
  if (!lua_isnil(L, -1)) return 1;
  if (!u->m) return 0;
  if (strcmp(k, "pid") == 0) lua_pushinteger(L, tide_monitor_pid(u->m));
  else if (strcmp(k, "running") == 0) lua_pushboolean(L, tide_monitor_running(u->m));
  else if (strcmp(k, "samples") == 0) lua_pushinteger(L, tide_monitor_count(u->m));
  else if (strcmp(k, "interval") == 0) lua_pushnumber(L, tide_monitor_interval(u->m));
  else lua_pushnil(L);
  return 1;
}

/* tide.memory([pid]): {rss, pss, uss, nproc, sys_used, sys_total} of the
** tree rooted at pid (default: this process), in bytes. */
static int l_memory(lua_State *L) {
  lua_Integer pid = luaL_optinteger(L, 1, 0);
  luaL_argcheck(L, pid >= 0 && pid <= INT32_MAX, 1, "not a process id");
  tide_MemUsage u;
  int rc = tide_memory_tree((pid_t)pid, &u);
  if (rc == TIDE_EINVAL) return tideL_argraise(L, 1, rc);
  if (rc) return tideL_fail(L, rc);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, u.rss);
  lua_setfield(L, -2, "rss");
  lua_pushinteger(L, u.pss);
  lua_setfield(L, -2, "pss");
  lua_pushinteger(L, u.uss);
  lua_setfield(L, -2, "uss");
  lua_pushinteger(L, u.nproc);
  lua_setfield(L, -2, "nproc");
  lua_pushinteger(L, u.sys_used);
  lua_setfield(L, -2, "sys_used");
  lua_pushinteger(L, u.sys_total);
  lua_setfield(L, -2, "sys_total");
  return 1;
}

void tideB_open_monitor(lua_State *L) {
  /* stack: tide */
  luaL_newmetatable(L, MON_MT);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, m_index, 1);
  lua_setfield(L, -2, "__index");
  static const luaL_Reg meta[] = {
    {"__gc", m_gc}, {"__close", m_close}, {"__tostring", m_tostring}, {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_monitor);
  lua_setfield(L, -2, "monitor");
  lua_pushcfunction(L, l_memory);
  lua_setfield(L, -2, "memory");
}
