/*
** l_job.c -- a parallel loop's job: in the parent, what the scheduler
** received turned into Lua values (results, failures, statistics), the
** delivery of results in the order asked for, the serial backend, and the
** job handle's methods (job:wait, results, cancel, stats, ...).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "ipc.h"
#include "par.h"
#include "ship.h"

/* ----------------------------------------------------------- helpers */

static Job *check_job(lua_State *L, int i) { return luaL_checkudata(L, i, JOB_MT); }

static void free_events(tide_Event **q) {
  for (tide_Event *e = *q, *next; e; e = next) {
    next = e->next;
    tide_event_free(e);
  }
  *q = NULL;
}

/* Drops every worker; results already handled stay. */
static void stop_workers(Job *J) {
  free_events(&J->evq); /* first: the loop's spare event goes back to it */
  free_events(&J->cur_ev);
  if (J->S) tide_sched_close(J->S);
  J->S = NULL;
  J->started = 0;
}

/* ------------------------------------------------------------ leases
**
** A big result travels as a shared segment the worker made: making one
** costs the kernel ~15 ms per 16 MB here (reserve, page tables, free), as
** much as a short task.  So a worker lends it: the handle carries a lease
** id and the worker keeps its mapping.  When the parent's last array of it
** goes (unmapped, never sent on, no fork since), the id rides back on the
** worker's next TASK message (the slot's lease box, schedule.h), and the
** worker keeps the segment for its next result of that size (storage.c's
** cache, two per worker), filling pages that are already there.  The
** parent's side is here, the worker's (lease_out, lease_back) in worker.c. */

static tide_LeaseBox *cur_box; /* the worker whose results are being decoded */

static void lease_freed(void *ud, uint32_t tag, int clean) {
  tide_lease_box_freed(ud, tag, clean);
}

static void lease_in(tide_Storage *s, uint32_t id) {
  if (!cur_box || s->on_free) return;
  s->on_free = lease_freed;
  s->free_ud = cur_box;
  s->free_tag = id;
  tide_lease_box_ref(cur_box);
}

void tideJ_free(Job *J) {
  stop_workers(J);
  if (J->ref != LUA_NOREF && J->L) {
    luaL_unref(J->L, LUA_REGISTRYINDEX, J->ref);
    J->ref = LUA_NOREF;
  }
  tide_buf_free(&J->item);
  tide_buf_free(&J->setup);
  J->closed = 1;
}

static void note_stat(Job *J, int64_t idx, double wall, double wait, int worker, int rank) {
  if (idx < 1) return;
  if (idx > J->nstats) {
    int64_t n = J->nstats ? J->nstats : 64;
    while (n < idx) n *= 2;
    TaskStat *s = tide__realloc(J->stats, (size_t)n * sizeof *s);
    if (!s) return; /* statistics are best effort */
    memset(s + J->nstats, 0, (size_t)(n - J->nstats) * sizeof *s);
    J->stats = s;
    J->nstats = n;
  }
  J->stats[idx - 1] = (TaskStat){wall, wait, worker, rank};
}

/* ------------------------------------------------------------ parent */

static int all_done(Job *J) { return J->total >= 0 && J->ndone >= J->total; }


/* Stores one task's outcome.  ok: results are on the stack (n values). */
static void store_result(lua_State *L, int jidx, Job *J, int64_t idx, int n) {
  (void)J;
  int top = lua_gettop(L);
  if (n == 1 && !lua_isnil(L, -1)) {
    push_uv(L, jidx, UV_RES);
    lua_pushvalue(L, top);
    lua_rawseti(L, -2, idx);
    lua_pop(L, 1);
  } else {
    push_uv(L, jidx, UV_PACK);
    lua_createtable(L, n, 1);
    for (int i = 1; i <= n; i++) {
      lua_pushvalue(L, top - n + i);
      lua_rawseti(L, -2, i);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_rawseti(L, -2, idx);
    lua_pop(L, 1);
  }
  lua_settop(L, top - n);
}

static void mark_done(lua_State *L, int jidx, Job *J, int64_t idx) {
  J->ndone++;
  if (J->order_completed || J->retain) {
    push_uv(L, jidx, UV_QUEUE);
    lua_pushinteger(L, idx);
    lua_rawseti(L, -2, ++J->qtail);
    lua_pop(L, 1);
  }
}

/* hard: an error, which raises in "raise" mode; else a timeout, which is
** only reported. */
static void fail_task(lua_State *L, int jidx, Job *J, int64_t idx, const char *msg, int hard) {
  push_uv(L, jidx, UV_ERR);
  lua_pushstring(L, msg);
  lua_rawseti(L, -2, idx);
  lua_pop(L, 1);
  if (!hard) {
    push_uv(L, jidx, UV_SOFT);
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, idx);
    lua_pop(L, 1);
  }
  mark_done(L, jidx, J, idx);
  if (hard && !J->on_error_yield && (J->fail_index == 0 || idx < J->fail_index))
    J->fail_index = idx;
}

static int decode_one(lua_State *L) {
  tide_Buf *fds = lua_touserdata(L, 1);
  const unsigned char *p = lua_touserdata(L, 2);
  size_t n = (size_t)lua_tointeger(L, 3);
  lua_settop(L, 0);
  tideC_decode(L, p, n, fds);
  /* A result array's bytes live outside Lua's heap: tell the collector,
  ** so dropped results are freed at the pace they arrive. */
  tide_Array *a = tideL_test(L, -1);
  if (a && a->storage && a->storage->kind == TIDE_STORE_SHARED)
    lua_gc(L, LUA_GCSTEP, (int)(a->storage->nbytes >> 10 > INT32_MAX ? INT32_MAX
                                                                      : a->storage->nbytes >> 10));
  return 1;
}

/* Decodes one entry's results and stores them, or fails the task. */
static void take_entry(lua_State *L, int jidx, Job *J, tide_Event *ev, const tide_Entry *e) {
  int top = lua_gettop(L);
  luaL_checkstack(L, (int)e->n + 8, "too many results");
  tide_Cursor c = {e->body, e->body + e->len, 0};
  for (uint32_t i = 0; i < e->n; i++) {
    uint32_t len = tide_cur_u32(&c);
    const unsigned char *p = tide_cur_bytes(&c, len);
    if (p && tideC_decode_scalar(L, p, len)) continue;
    lua_pushcfunction(L, decode_one);
    lua_pushlightuserdata(L, &ev->buf);
    lua_pushlightuserdata(L, (void *)p);
    lua_pushinteger(L, (lua_Integer)len);
    if (!p || lua_pcall(L, 3, 1, 0) != LUA_OK) {
      const char *m = p ? lua_tostring(L, -1) : "truncated";
      lua_pushfstring(L, "[task %I, worker %d] cannot decode result %d: %s", (lua_Integer)e->task,
                      ev->slot, (int)i + 1, m ? m : "?");
      fail_task(L, jidx, J, e->task, lua_tostring(L, -1), 1);
      if (J->S) tide_sched_fail(J->S, e->task);
      lua_settop(L, top);
      return;
    }
  }
  store_result(L, jidx, J, e->task, (int)e->n);
  mark_done(L, jidx, J, e->task);
}

static void take_event(lua_State *L, int jidx, Job *J, tide_Event *ev) {
  if (ev->kind == TIDE_EV_FAIL) {
    fail_task(L, jidx, J, ev->task, ev->msg, ev->hard);
    return;
  }
  tide_Cursor c = {ev->buf.p, ev->buf.p + ev->buf.n, 0};
  tide_cur_u32(&c);
  tide_Entry e;
  cur_box = ev->box;
  tideC_lease_in = lease_in;
  while (tide_entry_next(&c, &e) > 0) { /* the engine checked the frame */
    note_stat(J, e.task, e.end - e.begin, e.begin > ev->sent ? e.begin - ev->sent : 0, ev->slot,
              J->S ? tide_sched_rank(J->S, ev->slot) : -1);
    if (e.status == 0) {
      take_entry(L, jidx, J, ev, &e);
    } else {
      int rank = J->S ? tide_sched_rank(J->S, ev->slot) : -1;
      if (rank >= 0)
        lua_pushfstring(L, "[task %I, worker %d, rank %d] ", (lua_Integer)e.task, ev->slot, rank);
      else
        lua_pushfstring(L, "[task %I, worker %d] ", (lua_Integer)e.task, ev->slot);
      lua_pushlstring(L, (const char *)e.body, e.len);
      lua_concat(L, 2);
      fail_task(L, jidx, J, e.task, lua_tostring(L, -1), 1);
      lua_pop(L, 1);
    }
  }
  cur_box = NULL;
}

/* Draws items from an iterator input into the window's room: for a
** running job over an iterator that has not ended (the callers check). */
static void draw_items(lua_State *L, int jidx, Job *J) {
  for (int64_t room = tide_sched_item_room(J->S); room > 0; room--) {
    push_uv(L, jidx, UV_XS);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      J->total = J->next_fresh - 1;
      tide_sched_set_total(J->S, J->total);
      return;
    }
    char root[48];
    snprintf(root, sizeof root, "item %lld", (long long)J->next_fresh);
    tide_buf_reset(&J->item);
    /* descriptors only where the backend's frames carry them */
    tideC_encode(L, -1, &J->item, J->backend->flags & TIDE_BACKEND_FDS ? TIDE_CODEC_HANDLES
                                                                      : TIDE_CODEC_INLINE, root);
    lua_pop(L, 1);
    if (tide_sched_add_item(J->S, J->next_fresh, &J->item) != TIDE_OK)
      luaL_error(L, "%s", tide_lasterror());
    J->next_fresh++;
  }
}

/* Turns the queued events into outcomes; under lua_pcall, the job at 1. */
static int take_events(lua_State *L) {
  Job *J = lua_touserdata(L, 1);
  while (J->evq && J->S) {
    tide_Event *ev = J->evq;
    J->evq = ev->next;
    ev->next = NULL;
    J->cur_ev = ev; /* freed by tideJ_free if a Lua error unwinds */
    take_event(L, 1, J, ev);
    J->cur_ev = NULL;
    tide_event_free(ev);
  }
  return 0;
}

static int draw_items_p(lua_State *L) {
  draw_items(L, 1, lua_touserdata(L, 1));
  return 0;
}

/* Runs f(job) and ends the job if it raises.  An error half-way through
** an event (out of memory storing a result) would leave the rest of its
** entries nowhere, as no worker holds those tasks any more; one drawing an
** item (the iterator's, or out of memory encoding it) would lose the item
** drawn.  The job ends with the error, as with a raised task failure,
** rather than answer later that tasks were lost, or skip an item. */
static void protect(lua_State *L, int jidx, Job *J, lua_CFunction f) {
  lua_pushcfunction(L, f);
  lua_pushvalue(L, jidx);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    cur_box = NULL; /* its event is freed */
    tideJ_free(J);
    lua_error(L);
  }
}

/* Takes what the engine received: results, failures; replaces dead
** workers and draws items.  Never waits. */
static void sync_job(lua_State *L, int jidx, Job *J) {
  if (!J->S) return;
  tide_Event *got = tide_sched_take(J->S);
  if (got) { /* after what an interrupted sync left */
    tide_Event **end = &J->evq;
    while (*end) end = &(*end)->next;
    *end = got;
  }
  if (J->evq) protect(L, jidx, J, take_events);
  if (!J->S) return;
  if (all_done(J)) { /* every task has its outcome: the workers can go */
    stop_workers(J);
    return;
  }
  char msg[1024];
  if (tide_sched_error(J->S) != TIDE_OK) { /* the engine ran out of memory */
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    tideJ_free(J); /* the job ends with the error, as in protect */
    luaL_error(L, "%s", msg);
  }
  J->L = L; /* a new worker runs on the state that is running now */
  if (tide_sched_respawn(J->S) != TIDE_OK) {
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    tideJ_free(J);
    luaL_error(L, "cannot replace a worker: %s", msg);
  }
  if (J->kind == IN_ITER && J->total < 0) protect(L, jidx, J, draw_items_p);
}

static void report_progress(lua_State *L, int jidx, Job *J, int final) {
  double now = tide_now();
  if (!final && now - J->last_progress < 0.1) return;
  if (push_uv(L, jidx, UV_PROG), lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  J->last_progress = now;
  lua_pushinteger(L, J->ndone);
  if (J->total >= 0) lua_pushinteger(L, J->total);
  else lua_pushnil(L);
  lua_pushnumber(L, now - J->t0);
  lua_pushboolean(L, final);
  lua_call(L, 4, 0);
}

static void check_interrupt(lua_State *L, Job *J) {
  if (!tide__interrupted) return;
  tide__interrupted = 0;
  tideJ_free(J);
  luaL_error(L, "interrupted!");
}

/* Advances the job: takes what arrived and, when nothing did, waits up to
** ms for something to. */
static void pump(lua_State *L, int jidx, Job *J, int ms) {
  check_interrupt(L, J);
  int64_t before = J->ndone;
  sync_job(L, jidx, J);
  if (ms > 0 && J->S && J->ndone == before && tide_sched_wait(J->S, ms)) sync_job(L, jidx, J);
  report_progress(L, jidx, J, 0);
  check_interrupt(L, J);
}

/* The script goes on while the job runs: the engine must serve alone. */
void tideJ_background(lua_State *L, Job *J) {
  if (J->S && !all_done(J) && tide_sched_background(J->S) != TIDE_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    tideJ_free(J);
    luaL_error(L, "%s", msg);
  }
}

/* Task idx can never arrive: a bug, reported rather than waited for. */
static void check_stuck(lua_State *L, Job *J, int64_t idx) {
  if (J->S && !J->evq && tide_sched_idle(J->S)) {
    stop_workers(J);
    if (idx > 0) luaL_error(L, "task %I was lost (no worker holds it)", (lua_Integer)idx);
    luaL_error(L, "tasks were lost (no worker holds them)");
  }
}

/* ------------------------------------------------------------ serial */

static void serial_run(lua_State *L, int jidx, Job *J, int64_t idx) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, tideW_msghandler);
  push_uv(L, jidx, UV_F);
  switch (J->kind) {
    case IN_COUNT: lua_pushinteger(L, idx); break;
    case IN_TABLE:
    case IN_ARRAY: push_uv(L, jidx, UV_XS); lua_geti(L, -1, idx); lua_remove(L, -2); break;
    default: push_uv(L, jidx, UV_ITEMS); lua_rawgeti(L, -1, idx); lua_remove(L, -2);
      push_uv(L, jidx, UV_ITEMS); lua_pushnil(L); lua_rawseti(L, -2, idx); lua_pop(L, 1);
  }
  lua_pushinteger(L, idx);
  int64_t saved = tideW_task;
  lua_Integer saved_seed = tideW_seed;
  tideW_task = idx;
  tideW_seed = J->seed;
  if (J->has_seed) { /* unseeded, the script's own stream goes on */
    int top = lua_gettop(L);
    /* math may be gone or not a table: only then is randomseed not pushed */
    lua_getglobal(L, "math");
    if (lua_istable(L, -1) && lua_getfield(L, -1, "randomseed") == LUA_TFUNCTION) {
      lua_pushinteger(L, J->seed);
      lua_pushinteger(L, idx);
      lua_call(L, 2, 0);
    }
    lua_settop(L, top);
  }
  double t0 = tide_now();
  int st = lua_pcall(L, 2, LUA_MULTRET, base + 1);
  tideW_task = saved;
  tideW_seed = saved_seed;
  note_stat(J, idx, tide_now() - t0, 0, 0, -1);
  if (st == LUA_OK) {
    int n = lua_gettop(L) - base - 1;
    store_result(L, jidx, J, idx, n);
    mark_done(L, jidx, J, idx);
  } else {
    lua_pushfstring(L, "[task %I, serial] %s", (lua_Integer)idx, lua_tostring(L, -1));
    fail_task(L, jidx, J, idx, lua_tostring(L, -1), 1);
  }
  lua_settop(L, base);
}

/* Runs the next task in-process (serial backend).  0 when none is left. */
static int serial_step(lua_State *L, int jidx, Job *J) {
  if (J->total >= 0 && J->next_fresh > J->total) return 0;
  int64_t idx = J->next_fresh;
  if (J->kind == IN_ITER) {
    push_uv(L, jidx, UV_XS);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      J->total = idx - 1;
      return 0;
    }
    push_uv(L, jidx, UV_ITEMS);
    lua_insert(L, -2);
    lua_rawseti(L, -2, idx);
    lua_pop(L, 1);
  }
  J->next_fresh++;
  serial_run(L, jidx, J, idx);
  report_progress(L, jidx, J, 0);
  return 1;
}

/* ------------------------------------------------------------ delivery */

static int is_soft(lua_State *L, int jidx, int64_t idx) {
  push_uv(L, jidx, UV_SOFT);
  int soft = lua_rawgeti(L, -1, idx) != LUA_TNIL;
  lua_pop(L, 2);
  return soft;
}

/* Pushes "idx, results..." for task idx and forgets it (unless retained);
** raises its error in "raise" mode. */
static int deliver(lua_State *L, int jidx, Job *J, int64_t idx) {
  if (J->S && J->mode == MODE_MAP) tide_sched_consumed(J->S, 1);
  push_uv(L, jidx, UV_ERR);
  if (lua_rawgeti(L, -1, idx) != LUA_TNIL) {
    if (!J->on_error_yield && !is_soft(L, jidx, idx)) {
      tideJ_free(J);
      return lua_error(L); /* the message already says task and worker */
    }
    lua_pushinteger(L, idx);
    lua_pushnil(L);
    lua_pushvalue(L, -3);
    return 3;
  }
  lua_pop(L, 2);
  push_uv(L, jidx, UV_RES);
  if (lua_rawgeti(L, -1, idx) != LUA_TNIL) {
    if (!J->retain) {
      lua_pushnil(L);
      lua_rawseti(L, -3, idx);
    }
    lua_pushinteger(L, idx);
    lua_insert(L, -2);
    return 2;
  }
  lua_pop(L, 2);
  push_uv(L, jidx, UV_PACK);
  lua_rawgeti(L, -1, idx);
  if (!J->retain) {
    lua_pushnil(L);
    lua_rawseti(L, -3, idx);
  }
  int pk = lua_gettop(L);
  lua_getfield(L, pk, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n + 1, "too many results");
  lua_pushinteger(L, idx);
  for (int i = 1; i <= n; i++) lua_rawgeti(L, pk, i);
  return n + 1;
}

/* Has task i an outcome (results or an error)? */
static int has_outcome(lua_State *L, int jidx, int64_t i) {
  int have = 0;
  for (int uv = UV_RES; uv <= UV_ERR && !have; uv++) {
    push_uv(L, jidx, uv);
    have = lua_rawgeti(L, -1, i) != LUA_TNIL;
    lua_pop(L, 2);
  }
  return have;
}

/* The next task in order of arrival, or 0. */
static int64_t queue_pop(lua_State *L, int jidx, Job *J) {
  if (J->qhead >= J->qtail) return 0;
  push_uv(L, jidx, UV_QUEUE);
  lua_rawgeti(L, -1, ++J->qhead);
  int64_t idx = lua_tointeger(L, -1);
  if (!J->retain) { /* a handle's take() reads the queue too */
    lua_pushnil(L);
    lua_rawseti(L, -3, J->qhead);
  }
  lua_pop(L, 2);
  return idx;
}

static int finish(lua_State *L, int jidx, Job *J) {
  report_progress(L, jidx, J, 1);
  stop_workers(J);
  return 0;
}

int tideJ_iter(lua_State *L) {
  Job *J = check_job(L, 1);
  int jidx = 1;
  lua_settop(L, 1);
  if (J->closed) return 0;
  if (J->serial) {
    for (;;) {
      if (J->fail_index) return deliver(L, jidx, J, J->fail_index);
      int64_t idx;
      if (J->order_completed && (idx = queue_pop(L, jidx, J)) != 0) return deliver(L, jidx, J, idx);
      if (!J->order_completed && J->next_yield < J->next_fresh)
        return deliver(L, jidx, J, J->next_yield++);
      if (!serial_step(L, jidx, J)) {
        report_progress(L, jidx, J, 1);
        return 0;
      }
    }
  }
  if (J->order_completed) {
    for (;;) {
      int64_t idx = queue_pop(L, jidx, J);
      if (idx) {
        tideJ_background(L, J);
        return deliver(L, jidx, J, idx);
      }
      if (all_done(J) || !J->started) return finish(L, jidx, J);
      pump(L, jidx, J, 100);
      if (J->qhead >= J->qtail && !all_done(J)) check_stuck(L, J, 0);
    }
  }
  for (;;) { /* submitted order */
    int64_t i = J->next_yield;
    if (has_outcome(L, jidx, i)) {
      J->next_yield++;
      tideJ_background(L, J);
      return deliver(L, jidx, J, i);
    }
    if (J->total >= 0 && i > J->total) return finish(L, jidx, J);
    if (!J->started) return luaL_error(L, "task %I was lost: its loop was cancelled", (lua_Integer)i);
    pump(L, jidx, J, 100);
    if (!has_outcome(L, jidx, i) && !(J->total >= 0 && i > J->total)) check_stuck(L, J, i);
  }
}

/* The fork backend's child: the loop's f and input are the parent's,
** inherited. */
static int fork_worker(void *ud, int sock, int id) {
  Job *J = ud;
  (void)id;
  tideW_Loop lp = {.L = J->L, .ref = J->ref, .kind = J->kind, .seed = J->seed};
  tideL_worker_hooks(J->L);
  return tideW_serve(&lp, sock);
}

/* ---- setup payload, for backends whose workers do not inherit ----
** The loop's setup (backend.h): what a spawned worker or a rank needs to
** run the loop's tasks -- [u8 kind][i64 seed][u32 len][package.path]
** [u32 len][package.cpath] then f and xs shipped (ship.h), each as [u32
** len][message], arrays as segment descriptors (J->setup.fds), which the
** backend carries: spawn over its socket, mpi by content once per node.
** Read by tideW_setup (worker.c).  What cannot
** travel raises here, before any worker runs a task. */
static int put_str(tide_Buf *b, const char *s) {
  size_t n = s ? strlen(s) : 0;
  return tide_buf_put_u32(b, (uint32_t)n) | tide_buf_put(b, s, n);
}

static void make_setup(lua_State *L, Job *J) { /* {f, xs} at the top */
  int top = lua_gettop(L);
  tide_Buf *b = &J->setup;
  tide_buf_reset(b);
  /* every put is checked: one that failed and a later one that did not
  ** would make a setup the workers cannot read (they died, were replaced,
  ** died again) */
  int rc = tide_buf_put_u8(b, (uint8_t)J->kind);
  rc |= tide_buf_put_u64(b, (uint64_t)J->seed);
  lua_getglobal(L, "package");
  const char *path = NULL, *cpath = NULL;
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "cpath");
    path = lua_tostring(L, -2);
    cpath = lua_tostring(L, -1);
  }
  rc |= put_str(b, path);
  rc |= put_str(b, cpath);
  lua_settop(L, top);
  if (rc) {
    tide_buf_free(b);
    luaL_error(L, "out of memory for the loop's setup");
  }
  /* arrays as segment descriptors: spawn passes them over the socket, mpi
  ** sends each segment's bytes once per node (backend_mpi.c) */
  int mode = TIDE_CODEC_HANDLES;
  for (int i = 1; i <= 2; i++) { /* f, then xs (nil when tasks carry their items) */
    lua_rawgeti(L, top, i);
    size_t at = b->n;
    if (tide_buf_put_u32(b, 0)) {
      tide_buf_free(b);
      luaL_error(L, "out of memory for the loop's setup");
    }
    int st = tideS_encode(L, -1, b, mode, i == 1 ? NULL : "the loop's input");
    if (st != LUA_OK) {
      tide_buf_free(b);
      lua_error(L);
    }
    tide_buf_end_len(b, at);
    lua_pop(L, 1);
  }
}

/* Starts the job's scheduler and workers. */
void tideJ_start(lua_State *L, int jidx, Job *J) {
  int items = J->kind == IN_ITER;
  tide_SchedConfig c = {
    .jobs = J->jobs,
    .total = J->total,
    .items = items,
    .chunk_auto = J->chunk_auto,
    .chunk = J->chunk,
    /* The window bounds what a consumer has not taken yet; collect, pfor
    ** and handles take results as they arrive, so for them it bounds only
    ** the tasks running -- and the items drawn, always. */
    .window = J->inflight > 0 ? J->inflight : J->mode == MODE_MAP || items ? 0 : -1,
    .consume_on_arrival = J->mode != MODE_MAP,
    .raise = !J->on_error_yield,
    .halt_on_fail = J->order_completed || J->mode == MODE_COLLECT || J->mode == MODE_PFOR,
    .timeout = J->timeout,
    .backend = J->backend,
    .backend_arg = J->backend_arg,
    .worker = fork_worker,
    .ud = J,
    /* A backend that does not inherit (spawn, mpi) needs .setup: {f, xs}
    ** and the seed shipped (ship.c), held by the job until its workers
    ** stop (make_setup). */
    .setup = J->backend->flags & TIDE_BACKEND_INHERITS ? NULL : &J->setup,
  };
  J->L = L;
  /* Workers find f and xs through the registry, not through the job, so a
  ** dropped job handle can still be collected (and its workers reaped). */
  lua_createtable(L, 2, 0);
  push_uv(L, jidx, UV_F);
  lua_rawseti(L, -2, 1);
  if (J->kind == IN_TABLE || J->kind == IN_ARRAY || (J->backend->flags & TIDE_BACKEND_INHERITS)) {
    push_uv(L, jidx, UV_XS); /* a count or an iterator stays here: tasks carry their items */
    lua_rawseti(L, -2, 2);
  }
  if (c.setup) make_setup(L, J);
  J->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (tide_sched_start(&J->S, &c) != TIDE_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    tideJ_free(J);
    luaL_error(L, "cannot start workers: %s", msg);
  }
  J->started = 1;
  if (items) draw_items(L, jidx, J);
}

/* Runs the job until every task is done, limit seconds pass (limit < 0:
** no limit) or a task fails (raised here in "raise" mode).  1 when done. */
int tideJ_run_all(lua_State *L, int jidx, Job *J, double limit) {
  double t0 = tide_now();
  while (!J->closed && !all_done(J) && J->fail_index == 0) {
    if (J->serial) {
      if (!serial_step(L, jidx, J)) break;
    } else {
      if (!J->started) break;
      double left = limit < 0 ? 1 : limit - (tide_now() - t0);
      int ms = left >= 0.05 ? 50 : left > 0 ? (int)(left * 1000) + 1 : 0;
      pump(L, jidx, J, ms);
      if (!all_done(J) && J->fail_index == 0) check_stuck(L, J, 0);
    }
    if (limit >= 0 && tide_now() - t0 >= limit) break;
  }
  if (J->fail_index && !J->on_error_yield) {
    push_uv(L, jidx, UV_ERR);
    lua_rawgeti(L, -1, J->fail_index);
    tideJ_free(J);
    lua_error(L);
  }
  int done = all_done(J);
  if (done) report_progress(L, jidx, J, 1);
  return done;
}

/* ------------------------------------------------------------ job methods */

static int j_close(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed) tideJ_free(J);
  return 0;
}

/* The task times outlive the workers: job:stats() works on a finished or
** closed job; they go with the handle. */
static int j_gc(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed) tideJ_free(J);
  free(J->stats);
  J->stats = NULL;
  J->nstats = 0;
  return 0;
}

static int j_cancel(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->S) sync_job(L, 1, J); /* keep what has arrived */
  int was = J->started && !all_done(J);
  stop_workers(J);
  J->total = J->ndone; /* the stream ends after what has arrived */
  if (J->total < 0) J->total = 0;
  lua_pushboolean(L, was);
  return 1;
}

static int j_progress(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->S) pump(L, 1, J, 0);
  lua_pushinteger(L, J->ndone);
  if (J->total >= 0) lua_pushinteger(L, J->total);
  else lua_pushnil(L);
  return 2;
}

static int j_ready(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->S) pump(L, 1, J, 0);
  /* not started: closed, cancelled or stopped by an error; no task comes
  ** any more (a serial job counts as started until then) */
  lua_pushboolean(L, all_done(J) || J->fail_index != 0 || !J->started);
  return 1;
}

static int j_wait(lua_State *L) {
  Job *J = check_job(L, 1);
  double limit = luaL_optnumber(L, 2, -1);
  if (J->closed) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, tideJ_run_all(L, 1, J, limit));
  return 1;
}

static int j_results(lua_State *L) {
  check_job(L, 1);
  lua_pushcfunction(L, tideJ_iter);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  lua_pushvalue(L, 1);
  return 4;
}

static int j_done_so_far(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->S) pump(L, 1, J, 0);
  lua_newtable(L);
  push_uv(L, 1, UV_RES);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  push_uv(L, 1, UV_PACK);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_rawgeti(L, -1, 1);
    lua_pushvalue(L, -3);
    lua_insert(L, -2);
    lua_rawset(L, -6);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 1;
}

/* job:take() -> results, errors: what finished since the last take (task
** number -> first result; task number -> error message), without waiting.
** For consumers that poll a running handle (an asynchronous search). */
static int j_take(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->S) pump(L, 1, J, 0);
  if (!J->retain) return luaL_error(L, "take: only handles from tide.start keep results to take");
  lua_newtable(L);
  int res = lua_gettop(L);
  lua_newtable(L);
  int errs = lua_gettop(L);
  push_uv(L, 1, UV_QUEUE);
  int q = lua_gettop(L);
  push_uv(L, 1, UV_RES);
  push_uv(L, 1, UV_PACK);
  push_uv(L, 1, UV_ERR);
  int r = q + 1, pk = q + 2, er = q + 3;
  while (J->takehead < J->qtail) {
    lua_rawgeti(L, q, ++J->takehead);
    lua_Integer i = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (lua_rawgeti(L, er, i) != LUA_TNIL) {
      lua_rawseti(L, errs, i);
      continue;
    }
    lua_pop(L, 1);
    if (lua_rawgeti(L, r, i) == LUA_TNIL) {
      lua_pop(L, 1);
      if (lua_rawgeti(L, pk, i) == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
      }
    }
    lua_rawseti(L, res, i);
  }
  lua_settop(L, errs);
  return 2;
}

static int j_errors(lua_State *L) {
  check_job(L, 1);
  push_uv(L, 1, UV_ERR);
  return 1;
}

static int j_stats(lua_State *L) {
  Job *J = check_job(L, 1);
  lua_createtable(L, 0, 6);
  lua_createtable(L, (int)(J->nstats < 1000000 ? J->nstats : 0), 0);
  double total = 0, maxw = 0, wait = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < J->nstats; i++) {
    TaskStat *s = &J->stats[i];
    if (s->wall == 0 && s->worker == 0 && s->wait == 0) continue;
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, s->wall);
    lua_setfield(L, -2, "wall");
    lua_pushnumber(L, s->wait);
    lua_setfield(L, -2, "wait");
    lua_pushinteger(L, s->worker);
    lua_setfield(L, -2, "worker");
    if (s->rank >= 0) { /* mpi: the rank that ran it */
      lua_pushinteger(L, s->rank);
      lua_setfield(L, -2, "rank");
    }
    lua_rawseti(L, -2, i + 1);
    total += s->wall;
    wait += s->wait;
    if (s->wall > maxw) maxw = s->wall;
    n++;
  }
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "count");
  lua_pushnumber(L, total);
  lua_setfield(L, -2, "task_time");
  lua_pushnumber(L, n ? total / (double)n : 0);
  lua_setfield(L, -2, "mean");
  lua_pushnumber(L, maxw);
  lua_setfield(L, -2, "max");
  lua_pushnumber(L, n ? wait / (double)n : 0);
  lua_setfield(L, -2, "mean_wait");
  lua_pushnumber(L, tide_now() - J->t0);
  lua_setfield(L, -2, "elapsed");
  lua_pushinteger(L, J->jobs);
  lua_setfield(L, -2, "jobs");
  return 1;
}

static int j_tostring(lua_State *L) {
  Job *J = check_job(L, 1);
  if (J->total >= 0)
    lua_pushfstring(L, "tide.job(%I/%I done, %d workers%s)", (lua_Integer)J->ndone,
                    (lua_Integer)J->total, J->jobs, J->closed ? ", closed" : "");
  else
    lua_pushfstring(L, "tide.job(%I done, %d workers%s)", (lua_Integer)J->ndone, J->jobs,
                    J->closed ? ", closed" : "");
  return 1;
}

void tideJ_open(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", j_gc}, {"__close", j_close}, {"__tostring", j_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"progress", j_progress}, {"ready", j_ready}, {"wait", j_wait},
    {"results", j_results}, {"cancel", j_cancel}, {"stats", j_stats},
    {"done_so_far", j_done_so_far}, {"errors", j_errors}, {"take", j_take},
    {"close", j_close},
    {NULL, NULL}};
  luaL_newmetatable(L, JOB_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
