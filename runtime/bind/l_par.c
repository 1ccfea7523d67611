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
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bind.h"
#include "codec.h"
#include "ipc.h"
#include "pool.h"
#include "schedule.h"

#define JOB_MT "tide.job"

enum { IN_COUNT, IN_TABLE, IN_ARRAY, IN_ITER };
/* What the job is for: how results count as consumed, when a failure stops. */
enum { MODE_MAP, MODE_START, MODE_COLLECT, MODE_PFOR };
/* Job uservalues.  UV_SOFT: task -> true for failures that do not raise
** (timeouts).  UV_ITEMS: the serial backend's drawn items. */
enum { UV_F = 1, UV_XS, UV_RES, UV_PACK, UV_ERR, UV_SOFT, UV_QUEUE, UV_ITEMS, UV_PROG,
       NUV = UV_PROG };

#define MAX_MSG ((size_t)1 << 31)
#define FLUSH_BYTES (4u << 20) /* a worker sends what it has past this */

typedef struct TaskStat {
  double wall, wait;
  int worker;
} TaskStat;

typedef struct Job {
  tide_Sched *S;                /* the fork backend's engine while it runs */
  int jobs, mode, started, closed, serial;
  int order_completed, on_error_yield, retain;
  double timeout, t0, last_progress;
  int chunk_auto;
  int64_t chunk, inflight;      /* inflight 0: the default window */
  int kind;
  int64_t total;                /* -1 while an iterator input is not exhausted */
  int64_t next_fresh;           /* serial: next task; fork: next item to draw */
  int64_t next_yield;           /* submitted order: next task to hand out */
  int64_t ndone;
  int64_t qhead, qtail;         /* finished tasks in order of arrival */
  int64_t takehead;             /* job:take() reads the same queue */
  int64_t fail_index;           /* the lowest failed task that raises */
  int has_seed;                 /* seed given: serial loops reseed too */
  lua_Integer seed;             /* the loop's seed (a fresh one if none given) */
  TaskStat *stats;
  int64_t nstats;
  tide_Event *evq, *cur_ev;     /* events taken from the engine, not handled */
  tide_Buf out, item;           /* worker: results; parent: an item's encoding */
  lua_State *L;                 /* the running state when a worker was forked */
  int ref;                      /* registry ref to {f, xs}, what workers run */
} Job;

/* ----------------------------------------------------------- helpers */

static Job *check_job(lua_State *L, int i) { return luaL_checkudata(L, i, JOB_MT); }

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void push_uv(lua_State *L, int jidx, int uv) { lua_getiuservalue(L, jidx, uv); }

static void free_events(tide_Event **q) {
  for (tide_Event *e = *q, *next; e; e = next) {
    next = e->next;
    tide_event_free(e);
  }
  *q = NULL;
}

/* Drops every worker; results already handled stay. */
static void stop_workers(Job *J) {
  if (J->S) tide_sched_close(J->S);
  J->S = NULL;
  J->started = 0;
  free_events(&J->evq);
  free_events(&J->cur_ev);
}

/* A fresh seed for a loop given none, so that every task still gets its
** own math.random stream: forked workers would otherwise all continue the
** parent's, drawing the same numbers (and the parent's next ones). */
static lua_Integer fresh_seed(void) {
  uint64_t u = 0;
  if (getrandom(&u, sizeof u, GRND_NONBLOCK) != (ssize_t)sizeof u)
    u = (uint64_t)getpid() * 0x9E3779B97F4A7C15u ^ (uint64_t)(tide_now() * 1e9);
  return (lua_Integer)(u >> 1);
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
** cache, two per worker), filling pages that are already there. */

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

/* Worker side: the segments lent, each held by one reference. */
#define LEASE_MAX 8
static struct { uint32_t id; tide_Storage *s; } leases[LEASE_MAX];
static int nleases;
static uint32_t lease_next;

static uint32_t lease_out(tide_Storage *s) {
  if (s->gen != tide__config.gen || s->maplen < ((size_t)1 << 20) || nleases == LEASE_MAX)
    return 0;
  if (++lease_next == 0) lease_next = 1;
  tide_storage_ref(s);
  leases[nleases].id = lease_next;
  leases[nleases].s = s;
  nleases++;
  return lease_next;
}

static void lease_back(uint32_t id) {
  for (int i = 0; i < nleases; i++) {
    if (leases[i].id != id) continue;
    tide_Storage *s = leases[i].s;
    leases[i] = leases[--nleases];
    /* sent only under this lease: no other process maps it now */
    if (!(s->flags & TIDE_SF_NOLEASE)) s->flags &= ~(TIDE_SF_EXPORTED | TIDE_SF_SENT);
    tide_storage_unref(s);
    return;
  }
}

static void job_free(Job *J) {
  stop_workers(J);
  if (J->ref != LUA_NOREF && J->L) {
    luaL_unref(J->L, LUA_REGISTRYINDEX, J->ref);
    J->ref = LUA_NOREF;
  }
  tide_buf_free(&J->out);
  tide_buf_free(&J->item);
  J->closed = 1;
}

static void note_stat(Job *J, int64_t idx, double wall, double wait, int worker) {
  if (idx < 1) return;
  if (idx > J->nstats) {
    int64_t n = J->nstats ? J->nstats : 64;
    while (n < idx) n *= 2;
    TaskStat *s = realloc(J->stats, (size_t)n * sizeof *s);
    if (!s) return; /* statistics are best effort */
    memset(s + J->nstats, 0, (size_t)(n - J->nstats) * sizeof *s);
    J->stats = s;
    J->nstats = n;
  }
  J->stats[idx - 1] = (TaskStat){wall, wait, worker};
}

/* ------------------------------------------------------------ kill points
**
** A test hook, off unless TIDE_KILLPOINT=stage:task:action is set (with
** TIDE_KILLPOINT_ONCE=path, only the first worker that creates path acts):
** a worker fails at one stage of one task's life, so that tests can check
** that the parent loses nothing and names the right task.  Stages:
** received (its batch arrived), decode (its item), run, encode (its
** results), half (its RESULT message half written), lease (its big result
** sent and lent).  Actions: KILL, SEGV, exit (status 3), error (a Lua
** error where Lua runs), hang. */
enum { KP_NONE, KP_RECEIVED, KP_DECODE, KP_RUN, KP_ENCODE, KP_HALF, KP_LEASE };
static struct {
  int stage, armed;
  int64_t task;
  char action[8];
  const char *once;
} kp;

static void kp_init(void) {
  static const char *const stages[] = {"", "received", "decode", "run", "encode", "half", "lease"};
  const char *v = getenv("TIDE_KILLPOINT");
  kp.stage = KP_NONE;
  if (!v) return;
  char st[16];
  long long t;
  if (sscanf(v, "%15[a-z]:%lld:%7s", st, &t, kp.action) != 3) return;
  for (int i = 1; i <= KP_LEASE; i++)
    if (strcmp(st, stages[i]) == 0) kp.stage = i;
  kp.task = t;
  kp.once = getenv("TIDE_KILLPOINT_ONCE");
}

/* 1 when this worker is the one to fail at stage for task (once). */
static int kp_hit(int stage, int64_t first, int64_t count) {
  if (kp.stage != stage || kp.task < first || kp.task >= first + count) return 0;
  if (kp.once) {
    int fd = open(kp.once, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    close(fd);
  }
  return 1;
}

/* Fails as kp.action says; returns only for "error" (the caller raises). */
static void kp_act(void) {
  if (strcmp(kp.action, "KILL") == 0) kill(getpid(), SIGKILL);
  else if (strcmp(kp.action, "SEGV") == 0) raise(SIGSEGV);
  else if (strcmp(kp.action, "exit") == 0) exit(3);
  else if (strcmp(kp.action, "hang") == 0) for (;;) pause();
  else return;
  for (;;) pause(); /* the signal is on its way */
}

static int kp_error(lua_State *L) { return luaL_error(L, "killpoint: error"); }

/* ------------------------------------------------------------ worker */

static tide_Buf *enc_out;
static int64_t cur_task;           /* the task running in this process (0: none) */
static lua_Integer cur_seed;

/* Encodes the function's arguments (the task's results), each framed by
** its length; runs under lua_pcall so an unsendable value is an error. */
static int enc_results(lua_State *L) {
  if (kp_hit(KP_ENCODE, cur_task, 1)) {
    kp_act();
    return kp_error(L);
  }
  int n = lua_gettop(L);
  tide_buf_put_u32(enc_out, (uint32_t)n);
  static const char *const roots[] = {"result 1", "result 2", "result 3", "result 4"};
  for (int i = 1; i <= n; i++) {
    char buf[32];
    const char *root = roots[0];
    if (i <= 4) {
      root = roots[i - 1]; /* no snprintf per task: tiny tasks feel it */
    } else {
      snprintf(buf, sizeof buf, "result %d", i);
      root = buf;
    }
    size_t at = enc_out->n;
    tide_buf_put_u32(enc_out, 0);
    tideC_encode(L, i, enc_out, TIDE_CODEC_HANDLES, root);
    tide_buf_end_len(enc_out, at);
  }
  return 0;
}

static int dec_item(lua_State *L) {
  if (kp_hit(KP_DECODE, cur_task, 1)) {
    kp_act();
    return kp_error(L);
  }
  tide_Buf *b = lua_touserdata(L, 1);
  const unsigned char *p = lua_touserdata(L, 2);
  size_t n = (size_t)lua_tointeger(L, 3);
  tideC_decode(L, p, n, b);
  return 1;
}

static void put_error(tide_Buf *b, const char *msg) {
  size_t n = strlen(msg);
  tide_buf_put_u32(b, (uint32_t)n);
  tide_buf_put(b, msg, n);
}

/* An entry's times: [u64 idx][u8 status][f64 begin][f64 end]... */
#define ENTRY_BEGIN 9
#define ENTRY_END 17

/* Each task's math.random stream is that of math.randomseed(seed, task).
** Calling it through Lua costs about as much as a tiny task, so where Lua's
** generator is the one we know -- xoshiro256**, its state the upvalue of
** math.randomseed, as in Lua 5.4, checked once against a real call -- a
** worker writes the state itself, bit for bit what the call makes. */
static uint64_t *ran_state;

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void ran_seed(uint64_t *s, uint64_t n1, uint64_t n2) {
  s[0] = n1;
  s[1] = 0xff; /* never an all-zero state */
  s[2] = n2;
  s[3] = 0;
  for (int i = 0; i < 16; i++) { /* the discarded first values */
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
  }
}

/* math.random's state, when writing it equals calling math.randomseed
** (at stack index rs); else NULL. */
static uint64_t *find_ran_state(lua_State *L, int rs) {
  if (!lua_iscfunction(L, rs) || !lua_getupvalue(L, rs, 1)) return NULL;
  uint64_t *st = NULL;
  if (lua_type(L, -1) == LUA_TUSERDATA && lua_rawlen(L, -1) == 4 * sizeof(uint64_t))
    st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!st) return NULL;
  uint64_t saved[4], mine[4];
  memcpy(saved, st, sizeof saved);
  lua_pushvalue(L, rs);
  lua_pushinteger(L, 12345);
  lua_pushinteger(L, -678);
  int ok = lua_pcall(L, 2, 0, 0) == LUA_OK;
  if (!ok) lua_pop(L, 1);
  ran_seed(mine, 12345, (uint64_t)-678);
  ok = ok && memcmp(mine, st, sizeof mine) == 0;
  memcpy(st, saved, sizeof saved);
  return ok ? st : NULL;
}

/* Runs one task; appends its entry to J->out.  t_begin: when it starts
** (the previous task's end within a batch).  timed: read the clock at its
** end and return that; else return t_begin and leave the end for the
** caller, who spreads one later reading over untimed tasks (a clock read
** costs about as much as a tiny task on some VMs).  rs: the stack index of
** math.randomseed (or a non-function): each task gets its own stream. */
static double run_task(Job *J, lua_State *L, int base, int jidx, int rs, int64_t idx,
                       const unsigned char *item, size_t itemlen, tide_Buf *fds,
                       double t_begin, int timed) {
  size_t mark = J->out.n;
  int markfds = J->out.nfds;
  tide_buf_put_u64(&J->out, (uint64_t)idx);
  tide_buf_put_u8(&J->out, 0);
  tide_buf_put_f64(&J->out, t_begin);
  size_t tend_at = J->out.n;
  tide_buf_put_f64(&J->out, 0);
  lua_settop(L, base);
  lua_rawgeti(L, jidx, 1); /* f */
  int st = LUA_OK;
  cur_task = idx;
  switch (J->kind) {
    case IN_COUNT: lua_pushinteger(L, idx); break;
    case IN_TABLE:
    case IN_ARRAY: lua_rawgeti(L, jidx, 2); lua_geti(L, -1, idx); lua_remove(L, -2); break;
    default:
      lua_pushcfunction(L, dec_item);
      lua_pushlightuserdata(L, fds);
      lua_pushlightuserdata(L, (void *)item);
      lua_pushinteger(L, (lua_Integer)itemlen);
      st = lua_pcall(L, 3, 1, base);
      break;
  }
  if (st == LUA_OK) {
    lua_pushinteger(L, idx);
    if (kp.stage == KP_RUN && kp_hit(KP_RUN, idx, 1)) {
      kp_act();
      lua_pushcfunction(L, kp_error); /* the task raises instead */
      lua_replace(L, -4);
    }
    if (ran_state) { /* math.random gets the task's own stream */
      ran_seed(ran_state, (uint64_t)cur_seed, (uint64_t)idx);
    } else if (lua_isfunction(L, rs)) {
      lua_pushvalue(L, rs);
      lua_pushinteger(L, cur_seed);
      lua_pushinteger(L, idx);
      if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
    }
    st = lua_pcall(L, 2, LUA_MULTRET, base);
  }
  int encoded = 0;
  if (st == LUA_OK) { /* scalar results need no protected call */
    int nret = lua_gettop(L) - base, scalars = nret <= 250 && kp.stage != KP_ENCODE;
    for (int i = 1; i <= nret && scalars; i++) {
      int t = lua_type(L, base + i);
      scalars = t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TNUMBER;
    }
    if (scalars) {
      int bad = tide_buf_put_u32(&J->out, (uint32_t)nret);
      for (int i = 1; i <= nret && !bad; i++) {
        size_t at = J->out.n;
        bad = tide_buf_put_u32(&J->out, 0) || tideC_encode_scalar(L, base + i, &J->out) != 1;
        if (!bad) tide_buf_end_len(&J->out, at);
      }
      if (bad) {
        lua_settop(L, base);
        lua_pushliteral(L, "out of memory for a task's results");
        st = LUA_ERRMEM;
      }
      encoded = 1;
    }
  }
  if (st == LUA_OK && !encoded) {
    int nret = lua_gettop(L) - base;
    lua_pushcfunction(L, enc_results);
    lua_insert(L, base + 1);
    enc_out = &J->out;
    st = lua_pcall(L, nret, 0, base);
  }
  if (st != LUA_OK) {
    /* back out a partial encoding, then write the error */
    J->out.n = mark;
    while (J->out.nfds > markfds) close(J->out.fds[--J->out.nfds]);
    tide_buf_put_u64(&J->out, (uint64_t)idx);
    tide_buf_put_u8(&J->out, 1);
    tide_buf_put_f64(&J->out, t_begin);
    tend_at = J->out.n;
    tide_buf_put_f64(&J->out, 0);
    const char *msg = lua_tostring(L, -1);
    put_error(&J->out, msg ? msg : "(error object is not a string)");
  }
  cur_task = 0;
  double t_end = timed ? tide_now() : t_begin;
  tide_buf_patch_f64(&J->out, tend_at, t_end);
  lua_settop(L, base);
  return t_end;
}

/* Untimed entries of a batch, waiting for the next clock reading. */
#define MAX_UNTIMED 16
typedef struct Untimed {
  size_t at[MAX_UNTIMED]; /* entry offsets in J->out */
  int n;
  double since;           /* the last reading: when the first of them began */
} Untimed;

/* Spreads [u->since, now] evenly over the untimed entries. */
static void settle(Job *J, Untimed *u, double now) {
  double step = u->n ? (now - u->since) / u->n : 0;
  for (int j = 0; j < u->n; j++) {
    tide_buf_patch_f64(&J->out, u->at[j] + ENTRY_BEGIN, u->since + j * step);
    tide_buf_patch_f64(&J->out, u->at[j] + ENTRY_END, u->since + (j + 1) * step);
  }
  u->n = 0;
  u->since = now;
}

/* The results in J->out are whole up to its end: a parent reading the
** spill after this worker died takes them (see tide_SlotWord). */
static void commit(Job *J) {
  atomic_store_explicit(&tide_worker_word->committed, J->out.n, memory_order_release);
}

/* Sends the count results in J->out and starts a new message. */
static int send_results(Job *J, int sock, uint32_t count) {
  tide_buf_patch_u32(&J->out, 0, count);
  fflush(NULL); /* prints from tasks appear in order with the results */
  if (kp.stage == KP_HALF || kp.stage == KP_LEASE) { /* the message's first task */
    int64_t first = count ? (int64_t)tide_cur_u64(&(tide_Cursor){J->out.p + 4, J->out.p + 12, 0}) : 0;
    if (kp.stage == KP_HALF && kp_hit(KP_HALF, first, count)) {
      size_t n = J->out.n;
      unsigned char hdr[5] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 24), TIDE_MSG_RESULT};
      if (write(sock, hdr, 5) == 5 && write(sock, J->out.p, n / 2) >= 0) kp_act();
      kp_act();
    }
    if (kp.stage == KP_LEASE && count && kp_hit(KP_LEASE, first, count)) {
      int rc = tide_msg_send(sock, TIDE_MSG_RESULT, &J->out);
      (void)rc;
      kp_act();
    }
  }
  int rc = tide_msg_send(sock, TIDE_MSG_RESULT, &J->out);
  tide_buf_reset(&J->out);
  tide_buf_put_u32(&J->out, 0);
  commit(J);
  return rc;
}

static int worker_main(void *ud, int sock, int id) {
  Job *J = ud;
  lua_State *L = J->L;
  (void)id;
  tideC_lease_out = lease_out;
  nleases = 0; /* the parent's table, if it was a worker once, is not ours */
  cur_seed = J->seed;
  lua_rawgeti(L, LUA_REGISTRYINDEX, J->ref);
  int jidx = lua_gettop(L);
  lua_getglobal(L, "math");
  if (lua_istable(L, -1)) lua_getfield(L, -1, "randomseed");
  else lua_pushnil(L);
  lua_remove(L, -2);
  int rs = lua_gettop(L);
  ran_state = find_ran_state(L, rs);
  kp_init();
  lua_pushcfunction(L, msghandler);
  int base = lua_gettop(L);
  tide_Buf in = TIDE_BUF_INIT;
  J->out = (tide_Buf)TIDE_BUF_INIT; /* the parent's buffers are not ours */
  J->item = (tide_Buf)TIDE_BUF_INIT;
  tide_buf_map(&J->out, tide_worker_spill);
  _Atomic int64_t *running = &tide_worker_word->task;
  uint32_t back_tail = 0;
  size_t made_at_gc = tide__made_bytes;
  for (;;) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &in, MAX_MSG);
    if (rc == TIDE_ECLOSED) return 0; /* the parent closed: we are done */
    if (rc) return TIDE_WORKER_EXIT_READ;
    if (type == TIDE_MSG_STOP) return 0;
    if (type != TIDE_MSG_TASK) return TIDE_WORKER_EXIT_PROTOCOL;
    tide_Cursor c = {in.p, in.p + in.n, 0};
    int64_t first = (int64_t)tide_cur_u64(&c);
    uint32_t count = tide_cur_u32(&c);
    uint32_t nback = tide_cur_u32(&c);
    for (uint32_t i = 0; i < nback && !c.bad; i++) lease_back(tide_cur_u32(&c));
    if (c.bad) return TIDE_WORKER_EXIT_PROTOCOL;
    if (kp.stage == KP_RECEIVED && kp_hit(KP_RECEIVED, first, count)) kp_act();
    tide_buf_reset(&J->out);
    if (tide_buf_put_u32(&J->out, 0)) return TIDE_WORKER_EXIT_SEND;
    commit(J);
    uint32_t inbuf = 0;
    int fdbase = 0, shipped_handles = 0;
    /* Tasks under 20 us are timed 16 at a time, each getting the mean. */
    Untimed un = {.n = 0, .since = tide_now()};
    double t = un.since, per_task = 1;
    for (uint32_t k = 0; k < count; k++) {
      const unsigned char *item = NULL;
      size_t itemlen = 0;
      tide_Buf view = in; /* the item's descriptors: its own, numbered from 0 */
      if (J->kind == IN_ITER) {
        itemlen = tide_cur_u32(&c);
        uint32_t nf = tide_cur_u32(&c);
        item = tide_cur_bytes(&c, itemlen);
        if (c.bad || nf > (uint32_t)(in.nfds - fdbase)) return TIDE_WORKER_EXIT_PROTOCOL;
        view.fds = in.fds + fdbase;
        view.nfds = (int)nf;
        fdbase += (int)nf;
      }
      uint32_t head = atomic_load_explicit(&tide_worker_word->back_head, memory_order_acquire);
      if (head != back_tail) { /* segments given back while we ran */
        for (; back_tail != head; back_tail++)
          lease_back(tide_worker_word->back[back_tail % TIDE_BACK_RING]);
        atomic_store_explicit(&tide_worker_word->back_tail, back_tail, memory_order_release);
      }
      int nfds = J->out.nfds;
      size_t at = J->out.n;
      int timed = per_task >= 20e-6 || un.n == MAX_UNTIMED - 1 || k + 1 == count;
      atomic_store_explicit(running, first + k, memory_order_relaxed);
      t = run_task(J, L, base, jidx, rs, first + k, item, itemlen, &view, t, timed);
      un.at[un.n++] = at;
      if (timed) {
        per_task = (t - un.since) / un.n;
        settle(J, &un, t);
      }
      inbuf++;
      /* A result with shared segments goes at once: its descriptors die
      ** with this process, so the spill cannot keep it. */
      if (J->out.nfds > nfds || J->out.n >= FLUSH_BYTES) {
        shipped_handles |= J->out.nfds > nfds;
        if (un.n) settle(J, &un, tide_now());
        if (send_results(J, sock, inbuf)) return TIDE_WORKER_EXIT_SEND;
        inbuf = 0;
        t = un.since = tide_now();
      } else {
        commit(J);
      }
      atomic_store_explicit(running, 0, memory_order_release);
    }
    if (un.n) settle(J, &un, tide_now());
    if (inbuf && send_results(J, sock, inbuf)) return TIDE_WORKER_EXIT_SEND;
    if (J->out.cap > ((size_t)16 << 20)) tide_buf_trim(&J->out, (size_t)1 << 20);
    /* Result arrays now live in the parent's mappings; collect ours so
    ** shared segments do not pile up in this worker.  Likewise when the
    ** tasks made more array bytes than Lua's whole heap since the last
    ** collection: every page a worker keeps is its own, times the
    ** workers, and the collection costs no more than the bytes made. */
    size_t made = tide__made_bytes - made_at_gc;
    if (shipped_handles ||
        (made >= ((size_t)1 << 20) && made / 1024 >= (size_t)lua_gc(L, LUA_GCCOUNT, 0))) {
      lua_gc(L, LUA_GCCOLLECT, 0);
      made_at_gc = tide__made_bytes;
    }
  }
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
    note_stat(J, e.task, e.end - e.begin, e.begin > ev->sent ? e.begin - ev->sent : 0, ev->slot);
    if (e.status == 0) {
      take_entry(L, jidx, J, ev, &e);
    } else {
      lua_pushfstring(L, "[task %I, worker %d] ", (lua_Integer)e.task, ev->slot);
      lua_pushlstring(L, (const char *)e.body, e.len);
      lua_concat(L, 2);
      fail_task(L, jidx, J, e.task, lua_tostring(L, -1), 1);
      lua_pop(L, 1);
    }
  }
  cur_box = NULL;
}

/* Draws items from an iterator input into the window's room. */
static void draw_items(lua_State *L, int jidx, Job *J) {
  if (J->kind != IN_ITER || J->total >= 0 || !J->S) return;
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
    tideC_encode(L, -1, &J->item, TIDE_CODEC_HANDLES, root);
    lua_pop(L, 1);
    if (tide_sched_add_item(J->S, J->next_fresh, &J->item) != TIDE_OK)
      luaL_error(L, "%s", tide_lasterror());
    J->next_fresh++;
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
  while (J->evq && J->S) {
    tide_Event *ev = J->evq;
    J->evq = ev->next;
    ev->next = NULL;
    J->cur_ev = ev; /* freed by job_free if a Lua error unwinds */
    take_event(L, jidx, J, ev);
    J->cur_ev = NULL;
    tide_event_free(ev);
  }
  if (!J->S) return;
  if (all_done(J)) { /* every task has its outcome: the workers can go */
    stop_workers(J);
    return;
  }
  J->L = L; /* a new worker runs on the state that is running now */
  if (tide_sched_respawn(J->S) != TIDE_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    stop_workers(J);
    luaL_error(L, "cannot replace a worker: %s", msg);
  }
  draw_items(L, jidx, J);
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
  stop_workers(J);
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
static void go_background(lua_State *L, Job *J) {
  if (J->S && !all_done(J) && tide_sched_background(J->S) != TIDE_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    stop_workers(J);
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
  lua_pushcfunction(L, msghandler);
  push_uv(L, jidx, UV_F);
  switch (J->kind) {
    case IN_COUNT: lua_pushinteger(L, idx); break;
    case IN_TABLE:
    case IN_ARRAY: push_uv(L, jidx, UV_XS); lua_geti(L, -1, idx); lua_remove(L, -2); break;
    default: push_uv(L, jidx, UV_ITEMS); lua_rawgeti(L, -1, idx); lua_remove(L, -2);
      push_uv(L, jidx, UV_ITEMS); lua_pushnil(L); lua_rawseti(L, -2, idx); lua_pop(L, 1);
  }
  lua_pushinteger(L, idx);
  int64_t saved = cur_task;
  lua_Integer saved_seed = cur_seed;
  cur_task = idx;
  cur_seed = J->seed;
  if (J->has_seed) { /* unseeded, the script's own stream goes on */
    lua_getglobal(L, "math");
    if (lua_istable(L, -1) && lua_getfield(L, -1, "randomseed") == LUA_TFUNCTION) {
      lua_pushinteger(L, J->seed);
      lua_pushinteger(L, idx);
      lua_call(L, 2, 0);
      lua_pop(L, 1);
    } else {
      lua_pop(L, 2);
    }
  }
  double t0 = tide_now();
  int st = lua_pcall(L, 2, LUA_MULTRET, base + 1);
  cur_task = saved;
  cur_seed = saved_seed;
  note_stat(J, idx, tide_now() - t0, 0, 0);
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
      job_free(J);
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

static int job_iter(lua_State *L) {
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
        go_background(L, J);
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
      go_background(L, J);
      return deliver(L, jidx, J, i);
    }
    if (J->total >= 0 && i > J->total) return finish(L, jidx, J);
    if (!J->started) return luaL_error(L, "task %I was lost: its loop was cancelled", (lua_Integer)i);
    pump(L, jidx, J, 100);
    if (!has_outcome(L, jidx, i) && !(J->total >= 0 && i > J->total)) check_stuck(L, J, i);
  }
}

/* ------------------------------------------------------------ creation */

static int opt_jobs(lua_State *L, int o) {
  lua_Integer j = tideL_optint(L, o, "jobs", tide__config.jobs > 0 ? tide__config.jobs : tide_ncpus());
  if (j < 0) j = tide_ncpus() + 1 + j;
  if (j < 1) luaL_error(L, "option 'jobs' must be a positive count or -1, -2, ...");
  if (j > 256) luaL_error(L, "option 'jobs' is %d; at most 256 workers", (int)j);
  return (int)j;
}

/* Starts the fork backend's engine and workers. */
static void start_engine(lua_State *L, int jidx, Job *J) {
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
    .worker = worker_main,
    .ud = J,
  };
  J->L = L;
  /* Workers find f and xs through the registry, not through the job, so a
  ** dropped job handle can still be collected (and its workers reaped). */
  lua_createtable(L, 2, 0);
  push_uv(L, jidx, UV_F);
  lua_rawseti(L, -2, 1);
  push_uv(L, jidx, UV_XS);
  lua_rawseti(L, -2, 2);
  J->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (tide_sched_start(&J->S, &c) != TIDE_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    job_free(J);
    luaL_error(L, "cannot start workers: %s", msg);
  }
  J->started = 1;
  draw_items(L, jidx, J);
}

/* tide.map(f, xs [, opts]) -> job (started); fills J from options. */
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
  J->out = J->item = (tide_Buf)TIDE_BUF_INIT;
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
  const char *backend = tideL_optstr(L, o, "backend", "fork");
  if (strcmp(backend, "serial") == 0) J->serial = 1;
  else if (strcmp(backend, "fork") != 0)
    luaL_error(L, "backend '%s' is not available (backends: \"fork\", \"serial\")", backend);
  /* jobs = 1 and nested loops (inside a task) run in-process */
  if (J->jobs == 1 || tide__config.in_worker) J->serial = 1;
  J->next_fresh = J->next_yield = 1;
  J->t0 = tide_now();
  tide__interrupted = 0; /* an older Ctrl-C was for code that ran before this loop */
  J->closed = 0;
  J->started = 1;
  if (!J->serial) start_engine(L, jidx, J);
  return J;
}

static int l_map(lua_State *L) {
  new_job(L, MODE_MAP);
  lua_pushcfunction(L, job_iter);
  lua_insert(L, -2);     /* iter, job */
  lua_pushnil(L);        /* control */
  lua_pushvalue(L, -2);  /* closing value */
  return 4;
}

static int l_start(lua_State *L) {
  go_background(L, new_job(L, MODE_START));
  return 1;
}

/* Runs the job until every task is done, limit seconds pass (limit < 0:
** no limit) or a task fails (raised here in "raise" mode).  1 when done. */
static int run_all(lua_State *L, int jidx, Job *J, double limit) {
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
    job_free(J);
    lua_error(L);
  }
  int done = all_done(J);
  if (done) report_progress(L, jidx, J, 1);
  return done;
}

/* tide.collect(f, xs [, opts]) -> results (first value of each task), and
** with on_error = "yield" a table of errors by task when any failed. */
static int l_collect(lua_State *L) {
  Job *J = new_job(L, MODE_COLLECT);
  int jidx = lua_gettop(L);
  /* Results stay in UV_RES, read below: no queue of finished tasks (which
  ** only handles' take() reads), and the table sized once. */
  if (J->total > 0 && J->total <= ((int64_t)1 << 24)) {
    lua_createtable(L, (int)J->total, 0);
    lua_setiuservalue(L, jidx, UV_RES);
  }
  run_all(L, jidx, J, -1);
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
  job_free(J);
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
  run_all(L, jidx, J, -1);
  job_free(J);
  return 0;
}

/* ------------------------------------------------------------ job methods */

static int j_close(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed) job_free(J);
  return 0;
}

/* The task times outlive the workers: job:stats() works on a finished or
** closed job; they go with the handle. */
static int j_gc(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed) job_free(J);
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
  lua_pushboolean(L, all_done(J) || J->fail_index != 0 || (!J->started && !J->serial));
  return 1;
}

static int j_wait(lua_State *L) {
  Job *J = check_job(L, 1);
  double limit = luaL_optnumber(L, 2, -1);
  if (J->closed) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, run_all(L, 1, J, limit));
  return 1;
}

static int j_results(lua_State *L) {
  check_job(L, 1);
  lua_pushcfunction(L, job_iter);
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

/* tide.task_rng(): the current task's own stream, tide.rng(seed, task). */
static int l_task_rng(lua_State *L) {
  if (!cur_task) return luaL_error(L, "task_rng: not inside a task");
  lua_getfield(L, lua_upvalueindex(1), "rng");
  lua_pushinteger(L, cur_seed);
  lua_pushinteger(L, cur_task);
  lua_call(L, 2, 1);
  return 1;
}

static int l_task_index(lua_State *L) {
  if (!cur_task) lua_pushnil(L);
  else lua_pushinteger(L, cur_task);
  return 1;
}

static int l_in_worker(lua_State *L) {
  lua_pushboolean(L, tide__config.in_worker);
  return 1;
}

void tideB_open_par(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", j_gc}, {"__close", j_close}, {"__tostring", j_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"progress", j_progress}, {"ready", j_ready}, {"wait", j_wait},
    {"results", j_results}, {"cancel", j_cancel}, {"stats", j_stats},
    {"done_so_far", j_done_so_far}, {"errors", j_errors}, {"take", j_take},
    {"close", j_close},
    {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"map", l_map}, {"collect", l_collect}, {"start", l_start},
    {"pfor", l_pfor}, {"task_index", l_task_index}, {"in_worker", l_in_worker},
    {NULL, NULL}};
  luaL_newmetatable(L, JOB_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_task_rng, 1);
  lua_setfield(L, -2, "task_rng");
}
