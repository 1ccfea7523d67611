/*
** l_par.c -- parallel loops over forked workers: tide.map, tide.collect,
** tide.start, tide.pfor, tide.pool and the job handle.
**
** Workers are forked when a loop starts, from the script's state at that
** moment: f, its upvalues and globals reach them with no serialization.
** Only task numbers (and items drawn from an iterator input) go to the
** workers, and only results (through the codec, large arrays as shared
** segments) come back.  The loop's service thread (core/schedule.c) keeps the
** workers busy while the script does something else; this file is the
** Lua side: it runs tasks in the workers, and in the parent it turns what
** the thread received into Lua values, draws iterator items, replaces dead
** workers, and hands results out.  The parent never waits without a
** timeout, so Ctrl-C is honoured within 100 ms.
**
** This file is the Lua surface: the entry points and their options.  The
** job (its handle's methods, results turned into Lua values) is l_job.c;
** a worker's task loop is worker.c; the scheduler is core/schedule.c and
** the backends that run workers core/backend_*.c.
**
** Results come back as the four-value generic `for` (iterator, state,
** control, closing value): `break` or an error in the loop body closes the
** job, which kills and reaps its workers and drops pending results.
**
** Failures: an error in a task, or the death of its worker, fails that
** task only.  A worker's finished results survive its death (its spill
** file), the tasks of its batch it had not begun run on another worker,
** and a task that began is never run twice: one whose worker died after
** it finished, before its result was committed, fails with the death.  In
** "raise" mode the loop raises at the failed task: in submitted order once
** every task before it was delivered (as a serial loop would), in
** completed order once what finished before it was delivered.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "par.h"

/* A fresh seed for a loop given none, so that every task still gets its
** own math.random stream: forked workers would otherwise all continue the
** parent's, drawing the same numbers (and the parent's next ones). */
static lua_Integer fresh_seed(void) {
  uint64_t u = 0;
  if (getrandom(&u, sizeof u, GRND_NONBLOCK) != (ssize_t)sizeof u)
    u = (uint64_t)getpid() * 0x9E3779B97F4A7C15u ^ (uint64_t)(tide_now() * 1e9);
  return (lua_Integer)(u >> 1);
}

/* ------------------------------------------------------------ creation */

static int opt_jobs(lua_State *L, int o) {
  lua_Integer j = tideL_optint(L, o, "jobs", tide__config.jobs > 0 ? tide__config.jobs : tide_ncpus());
  if (j < 0) j = tide_ncpus() + 1 + j;
  if (j < 1) luaL_error(L, "option 'jobs' must be a positive count or -1, -2, ...");
  if (j > 256) luaL_error(L, "option 'jobs' is %I; at most 256 workers", j);
  return (int)j;
}

/* The backend named by option 'backend' (not "serial"), or an error
** saying why it cannot run here. */
static const tide_BackendOps *check_backend(lua_State *L, const char *name) {
  char why[160];
  const tide_BackendOps *ops = tide_backend_find(name, why, sizeof why);
  if (ops) return ops;
  if (strcmp(name, "spawn") != 0 && strcmp(name, "mpi") != 0)
    luaL_error(L, "option 'backend' must be \"fork\", \"spawn\", \"mpi\" or \"serial\", got '%s'",
               name);
  luaL_error(L, "%s", why);
  return NULL;
}

/* tide._internal.check_backend(name): raises what a loop would for option
** backend = name (tide.pool checks its default when it is made). */
static int l_check_backend(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strcmp(name, "serial") != 0) check_backend(L, name);
  return 0;
}

/* tide.map(f, xs [, opts]) -> job (started); fills J from options. */
/* tideJ_start under lua_pcall: the job at 1 */
static int start_job(lua_State *L) {
  tideJ_start(L, 1, lua_touserdata(L, 1));
  return 0;
}

static Job *new_job(lua_State *L, int mode) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int o = 3;
  if (!lua_isnoneornil(L, o)) luaL_checktype(L, o, LUA_TTABLE);
  static const char *const names[] = {"jobs", "chunk", "inflight", "order", "on_error",
                                      "timeout", "seed", "progress", "backend", NULL};
  static const char *const fnames[] = {"tide.map", "tide.start", "tide.collect", "tide.pfor"};
  tideL_checkopts(L, o, fnames[mode], names);
  Job *J = lua_newuserdatauv(L, sizeof *J, NUV);
  memset(J, 0, sizeof *J);
  J->ref = LUA_NOREF;
  J->item = (tide_Buf)TIDE_BUF_INIT;
  J->setup = (tide_Buf)TIDE_BUF_INIT;
  J->closed = 1; /* until fully set up: __gc has nothing to free */
  luaL_setmetatable(L, JOB_MT);
  int jidx = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, jidx, UV_F);
  switch (lua_type(L, 2)) {
    case LUA_TNUMBER: {
      lua_Integer n = luaL_checkinteger(L, 2);
      luaL_argcheck(L, n >= 0, 2, "task count must be >= 0");
      J->kind = IN_COUNT;
      J->total = n;
      break;
    }
    case LUA_TTABLE:
      J->kind = IN_TABLE;
      J->total = (int64_t)lua_rawlen(L, 2);
      break;
    case LUA_TFUNCTION:
      J->kind = IN_ITER;
      J->total = -1;
      break;
    default: {
      tide_Array *a = tideL_test(L, 2);
      tideL_RowSet *rs = a ? NULL : tideL_testrowset(L, 2); /* a 1-D i64 array: row numbers */
      if (!a && !rs) luaL_typeerror(L, 2, "table, count, array or iterator function");
      if (a) tideL_check(L, 2);
      luaL_argcheck(L, rs || a->ndim >= 1, 2, "a 0-dimensional array has no rows");
      J->kind = IN_ARRAY;
      J->total = rs ? rs->n : a->shape[0];
    }
  }
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, jidx, UV_XS);
  for (int uv = UV_RES; uv <= UV_ITEMS; uv++) {
    lua_newtable(L);
    lua_setiuservalue(L, jidx, uv);
  }
  J->mode = mode;
  J->retain = mode == MODE_START;
  J->jobs = opt_jobs(L, o);
  const char *order = tideL_optstr(L, o, "order", "submitted");
  if (strcmp(order, "completed") == 0) J->order_completed = 1;
  else if (strcmp(order, "submitted") != 0)
    luaL_error(L, "option 'order' must be \"submitted\" or \"completed\", got '%s'", order);
  const char *onerr = tideL_optstr(L, o, "on_error", "raise");
  if (strcmp(onerr, "yield") == 0) J->on_error_yield = 1;
  else if (strcmp(onerr, "raise") != 0)
    luaL_error(L, "option 'on_error' must be \"raise\" or \"yield\", got '%s'", onerr);
  J->timeout = tideL_optnum(L, o, "timeout", 0);
  if (J->timeout < 0 || J->timeout != J->timeout) luaL_error(L, "option 'timeout' must be >= 0");
  /* chunk: "auto" (default) or a count */
  J->chunk_auto = 1;
  J->chunk = 1;
  if (lua_istable(L, o)) {
    lua_getfield(L, o, "chunk");
    if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_Integer c = lua_tointeger(L, -1);
      if (c < 1) luaL_error(L, "option 'chunk' must be \"auto\" or a count >= 1");
      J->chunk_auto = 0;
      J->chunk = c;
    } else if (!lua_isnil(L, -1) && !(lua_type(L, -1) == LUA_TSTRING &&
                                      strcmp(lua_tostring(L, -1), "auto") == 0)) {
      luaL_error(L, "option 'chunk' must be \"auto\" or a count >= 1");
    }
    lua_pop(L, 1);
  }
  if (J->timeout > 0) { /* a timeout is per task: one task per message */
    J->chunk_auto = 0;
    J->chunk = 1;
  }
  J->inflight = tideL_optint(L, o, "inflight", 0);
  if (J->inflight < 0) luaL_error(L, "option 'inflight' must be a count >= 1");
  J->seed = fresh_seed();
  if (lua_istable(L, o)) {
    lua_getfield(L, o, "seed");
    if (!lua_isnil(L, -1)) {
      J->has_seed = 1;
      J->seed = luaL_checkinteger(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, o, "progress");
    if (lua_isfunction(L, -1)) {
      lua_setiuservalue(L, jidx, UV_PROG);
    } else if (lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      lua_getglobal(L, "require");
      lua_pushliteral(L, "tide.progress");
      lua_call(L, 1, 1);
      lua_getfield(L, -1, "new");
      lua_remove(L, -2);
      lua_call(L, 0, 1);
      lua_setiuservalue(L, jidx, UV_PROG);
    } else {
      int off = lua_isboolean(L, -1); /* progress = false: not even the host's */
      lua_pop(L, 1);
      if (!off && tideL_host_progress(L, fnames[mode])) lua_setiuservalue(L, jidx, UV_PROG);
    }
  } else if (tideL_host_progress(L, fnames[mode])) { /* tide_Options.on_progress */
    lua_setiuservalue(L, jidx, UV_PROG);
  }
  /* ---- backend: a name, or a pool's warm spawn set (l_spawn.c) ---- */
  tide_SpawnSet *warm = NULL;
  if (!lua_isnoneornil(L, o) && lua_getfield(L, o, "backend") == LUA_TUSERDATA &&
      (warm = tideP_testspawnset(L, -1)) != NULL) {
    lua_setiuservalue(L, jidx, UV_BARG); /* alive while the job is */
    J->backend = &tide_backend_spawn;
    J->backend_arg = warm;
  } else {
    if (!lua_isnoneornil(L, o)) lua_pop(L, 1);
    const char *backend = tideL_optstr(L, o, "backend", tide__config.in_worker ? "fork"
                                                                       : tide_backend_default);
    if (strcmp(backend, "serial") == 0) J->serial = 1;
    else J->backend = check_backend(L, backend);
    if (J->backend && J->backend->slots) { /* jobs counts workers per machine */
      int given = tide__config.jobs > 0;
      if (lua_istable(L, o)) {
        given |= lua_getfield(L, o, "jobs") != LUA_TNIL;
        lua_pop(L, 1);
      }
      J->jobs = J->backend->slots(given ? J->jobs : 0);
      if (J->jobs > 256) luaL_error(L, "backend '%s': %d workers in all; at most 256", backend, J->jobs);
    }
  }
  /* jobs = 1 runs in-process (but on mpi it counts workers per rank), and
  ** so do nested loops (inside a task) */
  if ((J->jobs == 1 && !(J->backend && J->backend->slots)) || tide__config.in_worker) J->serial = 1;
  J->next_fresh = J->next_yield = 1;
  J->t0 = tide_now();
  tide__interrupted = 0; /* an older Ctrl-C was for code that ran before this loop */
  J->closed = 0;
  J->started = 1;
  if (!J->serial) { /* an error once workers run (out of memory drawing the
                    ** first items, say) stops them now, not at the next GC */
    lua_pushcfunction(L, start_job);
    lua_pushvalue(L, jidx);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      if (!J->closed) tideJ_free(J);
      lua_error(L);
    }
  }
  return J;
}

static int l_map(lua_State *L) {
  new_job(L, MODE_MAP);
  lua_pushcfunction(L, tideJ_iter);
  lua_insert(L, -2);     /* iter, job */
  lua_pushnil(L);        /* control */
  lua_pushvalue(L, -2);  /* closing value */
  return 4;
}

static int l_start(lua_State *L) {
  tideJ_background(L, new_job(L, MODE_START));
  return 1;
}

/* tide.collect(f, xs [, opts]) -> results (first value of each task), and
** with on_error = "yield" a table of errors by task when any failed. */
static int l_collect(lua_State *L) {
  Job *J = new_job(L, MODE_COLLECT);
  int jidx = lua_gettop(L);
  lua_toclose(L, jidx); /* an error below (out of memory) stops the workers at once */
  /* Results stay in UV_RES, read below: no queue of finished tasks (which
  ** only handles' take() reads), and the table sized once. */
  if (J->total > 0 && J->total <= ((int64_t)1 << 24)) {
    lua_createtable(L, (int)J->total, 0);
    lua_setiuservalue(L, jidx, UV_RES);
  }
  tideJ_run_all(L, jidx, J, -1);
  push_uv(L, jidx, UV_RES); /* single results are already where they belong */
  int res = lua_gettop(L);
  push_uv(L, jidx, UV_PACK);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_rawgeti(L, -1, 1);
    lua_pushvalue(L, -3);
    lua_insert(L, -2);
    lua_rawset(L, res);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  push_uv(L, jidx, UV_ERR);
  int nerr = 0;
  lua_pushnil(L);
  if (lua_next(L, -2)) {
    nerr = 1;
    lua_pop(L, 2);
  }
  tideJ_free(J);
  if (!nerr) lua_pop(L, 1);
  return nerr ? 2 : 1;
}

static int l_pfor(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  /* reorder to (f, n, opts) for new_job */
  lua_settop(L, 3);
  lua_pushvalue(L, 2);
  lua_pushinteger(L, n);
  lua_pushvalue(L, 3);
  lua_replace(L, 3);
  lua_replace(L, 2);
  lua_replace(L, 1);
  Job *J = new_job(L, MODE_PFOR);
  int jidx = lua_gettop(L);
  lua_toclose(L, jidx);
  tideJ_run_all(L, jidx, J, -1);
  tideJ_free(J);
  return 0;
}

/* tide.task_rng(): the current task's own stream, tide.rng(seed, task). */
static int l_task_rng(lua_State *L) {
  if (!tideW_task) return luaL_error(L, "task_rng: not inside a task");
  lua_getfield(L, lua_upvalueindex(1), "rng");
  lua_pushinteger(L, tideW_seed);
  lua_pushinteger(L, tideW_task);
  lua_call(L, 2, 1);
  return 1;
}

static int l_task_index(lua_State *L) {
  if (!tideW_task) lua_pushnil(L);
  else lua_pushinteger(L, tideW_task);
  return 1;
}

static int l_in_worker(lua_State *L) {
  lua_pushboolean(L, tide__config.in_worker);
  return 1;
}

void tideB_open_par(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"map", l_map}, {"collect", l_collect}, {"start", l_start},
    {"pfor", l_pfor}, {"task_index", l_task_index}, {"in_worker", l_in_worker},
    {NULL, NULL}};
  tideJ_open(L);
  luaL_setfuncs(L, funcs, 0);
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_check_backend);
  lua_setfield(L, -2, "check_backend");
  lua_pop(L, 1);
  tideP_open_spawn(L);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_task_rng, 1);
  lua_setfield(L, -2, "task_rng");
}

