/*
** l_par.c -- parallel loops over forked workers: tide.map, tide.collect,
** tide.start, tide.pfor, tide.pool and the job handle.
**
** Workers are forked when a loop starts, from the script's state at that
** moment: f, its upvalues and globals reach them with no serialization.
** Only task numbers (and items drawn from an iterator input) go to the
** workers, and only results (through the codec, large arrays as shared
** segments) come back.  The parent never blocks without a timeout, so a
** dead or late worker is noticed within 100 ms and Ctrl-C is honoured.
**
** Results come back as the four-value generic `for` (iterator, state,
** control, closing value): `break` or an error in the loop body closes the
** job, which kills and reaps its workers and drops pending results.
*/
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bind.h"
#include "codec.h"
#include "ipc.h"
#include "pool.h"

#define JOB_MT "tide.job"
#define POOL_MT "tide.pool"

enum { MSG_TASK = 1, MSG_STOP = 2, MSG_RESULT = 3 };
enum { IN_COUNT, IN_TABLE, IN_ARRAY, IN_ITER };
/* Job uservalues. */
enum { UV_F = 1, UV_XS, UV_RES, UV_PACK, UV_ERR, UV_QUEUE, UV_ITEMS, UV_PROG, NUV = UV_PROG };

#define MAX_MSG ((size_t)1 << 31)
#define QDEPTH 2              /* batches queued per worker: no idle gap */
#define FLUSH_BYTES (4u << 20) /* a worker sends what it has past this */
#define TARGET_BATCH 0.1       /* seconds per batch with chunk = "auto" */

typedef struct Batch {
  int64_t first, count, got;
  double sent;
} Batch;

/* Result segments a worker lent (see "leases" below) that the parent has
** dropped, waiting to ride back on the worker's next TASK message.  A box
** outlives its job while results the worker lent are still alive. */
#define LEASE_BACK_MAX 64
typedef struct LeaseBox {
  int refs, alive, n;
  uint32_t ids[LEASE_BACK_MAX];
} LeaseBox;

typedef struct Slot {
  int nb;
  Batch b[QDEPTH];
  double busy_since; /* when its current task started, as far as we know */
  LeaseBox *box;     /* leases from the worker now in this slot */
} Slot;

typedef struct TaskStat {
  double wall, wait;
  int worker;
} TaskStat;

typedef struct Range {
  int64_t first, count;
} Range;

typedef struct Job {
  tide_Pool pool;
  Slot *slots;
  int jobs, started, closed, serial;
  int order_completed, on_error_yield, retain;
  double timeout, t0, last_progress;
  int chunk_auto;
  int64_t chunk, inflight;      /* inflight <= 0: unbounded */
  int kind;
  int64_t total;                /* -1 while an iterator input is not exhausted */
  int64_t next_fresh;           /* next task number never dispatched */
  int64_t next_yield;           /* submitted order: next task to hand out */
  int64_t ndone, nconsumed, noutstanding;
  int64_t qhead, qtail;         /* completed order: FIFO of task numbers */
  int64_t takehead;             /* job:take() reads the same FIFO (handles) */
  int64_t fail_index;           /* the failed task that raises (raise mode) */
  int has_seed;
  lua_Integer seed;
  TaskStat *stats;
  int64_t nstats;
  Range *retry;
  int nretry, retrycap;
  tide_Buf out, in;
  lua_State *L;                 /* the running state when a worker was forked */
  int ref;                      /* registry ref to {f, xs}, what workers run */
  double task_ema;              /* recent mean task time, for queueing */
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

/* Drops every worker; results already received stay. */
static void stop_workers(Job *J) {
  if (J->started && !J->serial) tide_pool_close(&J->pool);
  J->started = 0;
  for (int i = 0; J->slots && i < J->jobs; i++) J->slots[i].nb = 0;
  J->noutstanding = 0;
}

/* ------------------------------------------------------------ leases
**
** A big result travels as a shared segment the worker made: making one
** costs the kernel ~15 ms per 16 MB here (reserve, page tables, free), as
** much as a short task.  So a worker lends it: the handle carries a lease
** id and the worker keeps its mapping.  When the parent's last array of it
** goes (unmapped, never sent on, no fork since), the id rides back on the
** worker's next TASK message, and the worker keeps the segment for its next
** result of that size (storage.c's cache, two per worker), filling pages
** that are already there. */

static void box_retire(LeaseBox **bp) {
  LeaseBox *b = *bp;
  *bp = NULL;
  if (!b) return;
  b->alive = 0;
  if (--b->refs == 0) free(b);
}

static LeaseBox *cur_box; /* the slot whose results are being decoded */

static void lease_freed(void *ud, uint32_t tag, int clean) {
  LeaseBox *b = ud;
  if (b->alive && clean && b->n < LEASE_BACK_MAX) b->ids[b->n++] = tag;
  if (--b->refs == 0) free(b);
}

static void lease_in(tide_Storage *s, uint32_t id) {
  if (!cur_box || s->on_free) return;
  s->on_free = lease_freed;
  s->free_ud = cur_box;
  s->free_tag = id;
  cur_box->refs++;
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
  for (int i = 0; J->slots && i < J->jobs; i++) box_retire(&J->slots[i].box);
  if (J->ref != LUA_NOREF && J->L) {
    luaL_unref(J->L, LUA_REGISTRYINDEX, J->ref);
    J->ref = LUA_NOREF;
  }
  free(J->slots);
  J->slots = NULL;
  free(J->stats);
  J->stats = NULL;
  free(J->retry);
  J->retry = NULL;
  tide_buf_free(&J->out);
  tide_buf_free(&J->in);
  J->closed = 1;
}

static void note_stat(Job *J, int64_t idx, double wall, double wait, int worker) {
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

/* ------------------------------------------------------------ worker */

static tide_Buf *enc_out;
static int64_t cur_task;           /* the task running in this process (0: none) */
static lua_Integer cur_seed;
static int cur_has_seed;

/* Encodes the function's arguments (the task's results), each framed by
** its length; runs under lua_pcall so an unsendable value is an error. */
static int enc_results(lua_State *L) {
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

/* Runs one task; appends its entry to J->out.  t_begin: when it starts
** (the previous task's end within a batch).  timed: read the clock at its
** end and return that; else return t_begin and leave the end for the
** caller, who spreads one later reading over untimed tasks (a clock read
** costs about as much as a tiny task on some VMs). */
static double run_task(Job *J, lua_State *L, int base, int jidx, int64_t idx,
                       const unsigned char *item, size_t itemlen, tide_Buf *in, double t_begin,
                       int timed) {
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
  switch (J->kind) {
    case IN_COUNT: lua_pushinteger(L, idx); break;
    case IN_TABLE:
    case IN_ARRAY: lua_rawgeti(L, jidx, 2); lua_geti(L, -1, idx); lua_remove(L, -2); break;
    default:
      lua_pushcfunction(L, dec_item);
      lua_pushlightuserdata(L, in);
      lua_pushlightuserdata(L, (void *)item);
      lua_pushinteger(L, (lua_Integer)itemlen);
      st = lua_pcall(L, 3, 1, base);
      break;
  }
  if (st == LUA_OK) {
    lua_pushinteger(L, idx);
    cur_task = idx;
    if (cur_has_seed) { /* math.random gets the task's own stream too */
      lua_getglobal(L, "math");
      if (lua_istable(L, -1) && lua_getfield(L, -1, "randomseed") == LUA_TFUNCTION) {
        lua_pushinteger(L, cur_seed);
        lua_pushinteger(L, idx);
        lua_pcall(L, 2, 0, 0);
        lua_pop(L, 1);
      } else {
        lua_pop(L, 2);
      }
    }
    st = lua_pcall(L, 2, LUA_MULTRET, base);
    cur_task = 0;
  }
  int encoded = 0;
  if (st == LUA_OK) { /* scalar results need no protected call */
    int nret = lua_gettop(L) - base, scalars = nret <= 250;
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

static int send_results(Job *J, int sock, uint32_t count) {
  tide_buf_patch_u32(&J->out, 0, count);
  fflush(NULL); /* prints from tasks appear in order with the results */
  int rc = tide_msg_send(sock, MSG_RESULT, &J->out);
  tide_buf_reset(&J->out);
  return rc;
}

static int worker_main(void *ud, int sock, int id) {
  Job *J = ud;
  lua_State *L = J->L;
  (void)id;
  tideC_lease_out = lease_out;
  nleases = 0; /* the parent's table, if it was a worker once, is not ours */
  cur_has_seed = J->has_seed;
  cur_seed = J->seed;
  lua_rawgeti(L, LUA_REGISTRYINDEX, J->ref);
  int jidx = lua_gettop(L);
  lua_pushcfunction(L, msghandler);
  int base = lua_gettop(L);
  tide_Buf in = TIDE_BUF_INIT;
  memset(&J->out, 0, sizeof J->out); /* the parent's buffers are not ours */
  size_t made_at_gc = tide__made_bytes;
  for (;;) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &in, MAX_MSG);
    if (rc == TIDE_ECLOSED) return 0; /* the parent closed: we are done */
    if (rc) return 3;
    if (type == MSG_STOP) return 0;
    if (type != MSG_TASK) return 4;
    tide_Cursor c = {in.p, in.p + in.n, 0};
    int64_t first = (int64_t)tide_cur_u64(&c);
    uint32_t count = tide_cur_u32(&c);
    uint32_t nback = tide_cur_u32(&c);
    for (uint32_t i = 0; i < nback && !c.bad; i++) lease_back(tide_cur_u32(&c));
    if (c.bad) return 4;
    tide_buf_reset(&J->out);
    tide_buf_put_u32(&J->out, 0);
    uint32_t inbuf = 0;
    int shipped_handles = 0;
    /* Tasks under 20 us are timed 16 at a time, each getting the mean. */
    Untimed un = {.n = 0, .since = tide_now()};
    double t = un.since, per_task = 1;
    for (uint32_t k = 0; k < count; k++) {
      const unsigned char *item = NULL;
      size_t itemlen = 0;
      if (J->kind == IN_ITER) {
        itemlen = tide_cur_u32(&c);
        item = tide_cur_bytes(&c, itemlen);
        if (c.bad) return 4;
      }
      int nfds = J->out.nfds;
      size_t at = J->out.n;
      int timed = per_task >= 20e-6 || un.n == MAX_UNTIMED - 1 || k + 1 == count;
      t = run_task(J, L, base, jidx, first + k, item, itemlen, &in, t, timed);
      un.at[un.n++] = at;
      if (timed) {
        per_task = (t - un.since) / un.n;
        settle(J, &un, t);
      }
      shipped_handles += J->out.nfds > nfds;
      inbuf++;
      if (J->out.n >= FLUSH_BYTES || J->out.nfds > TIDE_MSG_MAXFDS - 8) {
        if (un.n) settle(J, &un, tide_now());
        if (send_results(J, sock, inbuf)) return 5;
        tide_buf_put_u32(&J->out, 0);
        inbuf = 0;
        t = un.since = tide_now();
      }
    }
    if (un.n) settle(J, &un, tide_now());
    if (inbuf && send_results(J, sock, inbuf)) return 5;
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

static int64_t task_limit(Job *J) { return J->total; }

/* Ends of the stream: every task known, dispatched and finished. */
static int all_done(Job *J) {
  return J->total >= 0 && J->ndone >= J->total;
}

static int64_t batch_size(Job *J);

/* Tasks that may still be dispatched: inflight bounds tasks dispatched and
** not yet consumed (explicit, in tasks; by default 2 * jobs batches). */
static int64_t window_room(Job *J) {
  if (J->inflight < 0) return INT64_MAX;
  int64_t limit = J->inflight > 0 ? J->inflight : 2 * (int64_t)J->jobs * batch_size(J);
  int64_t used = J->noutstanding + (J->ndone - J->nconsumed);
  return limit - used;
}

static void push_retry(Job *J, int64_t first, int64_t count) {
  if (count <= 0) return;
  if (J->nretry == J->retrycap) {
    int cap = J->retrycap ? J->retrycap * 2 : 8;
    Range *r = realloc(J->retry, (size_t)cap * sizeof *r);
    if (!r) return;
    J->retry = r;
    J->retrycap = cap;
  }
  J->retry[J->nretry++] = (Range){first, count};
}

/* One batch per worker at a time: a worker asks for more only when done,
** so a slow task never holds queued ones hostage (load balance for skewed
** task times).  The round trip this costs is amortized by chunk = "auto";
** with chunk = 1 it is the price of one pipe round trip per task. */
static int slot_depth(Job *J) {
  (void)J;
  return 1;
}

static int64_t batch_size(Job *J) {
  int64_t b = J->chunk_auto ? J->chunk : J->chunk;
  if (J->chunk_auto && J->total > 0) {
    /* keep the tail balanced: no batch above a share of what is left */
    int64_t left = J->total - J->next_fresh + 1;
    int64_t cap = left / (2 * J->jobs);
    if (cap < 1) cap = 1;
    if (b > cap) b = cap;
  }
  return b < 1 ? 1 : b;
}

static void fail_task(lua_State *L, int jidx, Job *J, int64_t idx, const char *msg, int soft);

/* Called when a slot's worker is gone (EOF, send error) or killed. */
static void slot_lost(lua_State *L, int jidx, Job *J, int id, const char *why);

/* Sends one batch to slot id.  Returns 0 when nothing was left to send. */
static int send_batch(lua_State *L, int jidx, Job *J, int id) {
  Slot *s = &J->slots[id - 1];
  int64_t first, count;
  tide_Buf *b = &J->out;
  tide_buf_reset(b);
  if (J->nretry > 0) {
    Range *r = &J->retry[J->nretry - 1];
    first = r->first;
    count = r->count > batch_size(J) ? batch_size(J) : r->count;
    r->first += count;
    r->count -= count;
    if (r->count == 0) J->nretry--;
  } else {
    if (J->total >= 0 && J->next_fresh > task_limit(J)) return 0;
    first = J->next_fresh;
    count = batch_size(J);
    if (J->total >= 0 && first + count - 1 > J->total) count = J->total - first + 1;
    if (J->kind == IN_ITER) {
      /* draw items lazily, only as many as this batch needs */
      int64_t got = 0;
      push_uv(L, jidx, UV_ITEMS);
      for (; got < count; got++) {
        push_uv(L, jidx, UV_XS);
        lua_call(L, 0, 1);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          J->total = first + got - 1;
          break;
        }
        lua_rawseti(L, -2, first + got);
      }
      lua_pop(L, 1);
      count = got;
      if (count == 0) return 0;
    }
    J->next_fresh = first + count;
  }
  tide_buf_put_u64(b, (uint64_t)first);
  tide_buf_put_u32(b, (uint32_t)count);
  LeaseBox *bx = s->box;
  tide_buf_put_u32(b, bx ? (uint32_t)bx->n : 0);
  for (int i = 0; bx && i < bx->n; i++) tide_buf_put_u32(b, bx->ids[i]);
  if (bx) bx->n = 0;
  if (J->kind == IN_ITER) {
    push_uv(L, jidx, UV_ITEMS);
    for (int64_t i = first; i < first + count; i++) {
      size_t at = b->n;
      tide_buf_put_u32(b, 0);
      lua_rawgeti(L, -1, i);
      char root[48];
      snprintf(root, sizeof root, "item %lld", (long long)i);
      tideC_encode(L, -1, b, TIDE_CODEC_HANDLES, root);
      lua_pop(L, 1);
      tide_buf_end_len(b, at);
    }
    lua_pop(L, 1);
  }
  double now = tide_now();
  if (s->nb == 0) s->busy_since = now;
  s->b[s->nb++] = (Batch){first, count, 0, now};
  J->noutstanding += count;
  if (tide_msg_send(J->pool.w[id - 1].sock, MSG_TASK, b) != TIDE_OK)
    slot_lost(L, jidx, J, id, "could not be sent its task");
  tide_buf_reset(b);
  return 1;
}

static void dispatch(lua_State *L, int jidx, Job *J) {
  if (!J->started) return;
  for (int round = 0; round < slot_depth(J); round++) {
    for (int id = 1; id <= J->jobs; id++) {
      if (!J->started) return;
      Slot *s = &J->slots[id - 1];
      if (s->nb > round || s->nb >= slot_depth(J)) continue;
      if (J->pool.w[id - 1].sock < 0) continue;
      int64_t room = window_room(J);
      if (room < batch_size(J) && !(room > 0 && J->noutstanding == 0)) return;
      if (!send_batch(L, jidx, J, id)) return;
    }
  }
}

/* Stores one task's outcome.  ok: results are on the stack (n values). */
static void store_result(lua_State *L, int jidx, Job *J, int64_t idx, int n) {
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
  if (J->kind == IN_ITER) { /* its item is no longer needed for a retry */
    push_uv(L, jidx, UV_ITEMS);
    lua_pushnil(L);
    lua_rawseti(L, -2, idx);
    lua_pop(L, 1);
  }
}

/* soft: the stream goes on (timeouts, on_error = "yield"). */
static void fail_task(lua_State *L, int jidx, Job *J, int64_t idx, const char *msg, int soft) {
  push_uv(L, jidx, UV_ERR);
  lua_pushstring(L, msg);
  lua_rawseti(L, -2, idx);
  lua_pop(L, 1);
  mark_done(L, jidx, J, idx);
  if (!soft && !J->on_error_yield) {
    if (J->fail_index == 0 || idx < J->fail_index) J->fail_index = idx;
    stop_workers(J); /* cancel the rest at once; results received are kept */
  }
}

/* Pops task accounting for slot id after one result arrived. */
static void slot_advance(Job *J, int id, double now) {
  Slot *s = &J->slots[id - 1];
  if (s->nb == 0) return;
  Batch *b = &s->b[0];
  b->got++;
  J->noutstanding--;
  s->busy_since = now;
  if (b->got >= b->count) {
    if (J->chunk_auto) {
      double d = now - b->sent;
      if (d > 0) {
        double ideal = (double)b->count * TARGET_BATCH / d;
        double lo = (double)J->chunk / 2, hi = (double)J->chunk * 8;
        if (ideal < lo) ideal = lo;
        if (ideal > hi) ideal = hi;
        J->chunk = ideal < 1 ? 1 : (int64_t)ideal;
      }
    }
    memmove(&s->b[0], &s->b[1], sizeof(Batch) * (size_t)(QDEPTH - 1));
    s->nb--;
    if (s->nb > 0 && s->b[0].sent > s->busy_since) s->busy_since = s->b[0].sent;
  }
}

static int decode_one(lua_State *L) {
  Job *J = lua_touserdata(L, 1);
  const unsigned char *p = lua_touserdata(L, 2);
  size_t n = (size_t)lua_tointeger(L, 3);
  lua_settop(L, 0);
  tideC_decode(L, p, n, &J->in);
  /* A result array's bytes live outside Lua's heap: tell the collector,
  ** so dropped results are freed at the pace they arrive. */
  tide_Array *a = tideL_test(L, -1);
  if (a && a->storage && a->storage->kind == TIDE_STORE_SHARED)
    lua_gc(L, LUA_GCSTEP, (int)(a->storage->nbytes >> 10 > INT32_MAX ? INT32_MAX
                                                                      : a->storage->nbytes >> 10));
  return 1;
}

static void read_results_in(lua_State *L, int jidx, Job *J, int id);

/* Reads one RESULT frame from slot id; handles it holds that carry leases
** get the slot's box.  (cur_box holds a reference while set: an error
** thrown through here leaks a box, never frees one in use.) */
static void read_results(lua_State *L, int jidx, Job *J, int id) {
  Slot *slot = &J->slots[id - 1];
  if (!slot->box && (slot->box = calloc(1, sizeof *slot->box)) != NULL)
    slot->box->refs = slot->box->alive = 1;
  LeaseBox *b = slot->box;
  if (b) b->refs++;
  cur_box = b;
  tideC_lease_in = lease_in;
  read_results_in(L, jidx, J, id);
  cur_box = NULL;
  if (b && --b->refs == 0) free(b);
}

/* Reads one RESULT frame from slot id. */
static void read_results_in(lua_State *L, int jidx, Job *J, int id) {
  tide_Worker *w = &J->pool.w[id - 1];
  uint8_t type;
  int rc = tide_msg_recv(w->sock, &type, &J->in, MAX_MSG);
  if (rc != TIDE_OK) {
    slot_lost(L, jidx, J, id, rc == TIDE_EFORMAT ? "sent a malformed message" : "died");
    return;
  }
  if (type != MSG_RESULT) {
    slot_lost(L, jidx, J, id, "sent an unexpected message");
    return;
  }
  tide_Cursor c = {J->in.p, J->in.p + J->in.n, 0};
  uint32_t count = tide_cur_u32(&c);
  double now = tide_now(); /* one read per message: results of a batch arrive together */

  for (uint32_t k = 0; k < count && !c.bad; k++) {
    int64_t idx = (int64_t)tide_cur_u64(&c);
    uint8_t status = tide_cur_u8(&c);
    double t0 = tide_cur_f64(&c), t1 = tide_cur_f64(&c);
    if (c.bad) break;
    Slot *s = &J->slots[id - 1];
    double sent = s->nb ? s->b[0].sent : t0;
    note_stat(J, idx, t1 - t0, t0 > sent ? t0 - sent : 0, id);
    J->task_ema = J->task_ema > 0 ? 0.8 * J->task_ema + 0.2 * (t1 - t0) : t1 - t0;
    if (status == 0) {
      uint32_t n = tide_cur_u32(&c);
      if (n > 250) { c.bad = 1; break; }
      luaL_checkstack(L, (int)n + 8, "too many results");
      int top = lua_gettop(L);
      for (uint32_t i = 0; i < n && !c.bad; i++) {
        uint32_t len = tide_cur_u32(&c);
        const unsigned char *p = tide_cur_bytes(&c, len);
        if (!p) break;
        if (tideC_decode_scalar(L, p, len)) continue;
        lua_pushcfunction(L, decode_one);
        lua_pushlightuserdata(L, J);
        lua_pushlightuserdata(L, (void *)p);
        lua_pushinteger(L, (lua_Integer)len);
        if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
          const char *m = lua_tostring(L, -1);
          char buf[512];
          snprintf(buf, sizeof buf, "[task %lld, worker %d] cannot decode result %u: %s",
                   (long long)idx, id, i + 1, m ? m : "?");
          lua_settop(L, top);
          slot_advance(J, id, now);
          fail_task(L, jidx, J, idx, buf, 0);
          return;
        }
      }
      if (c.bad) { lua_settop(L, top); break; }
      store_result(L, jidx, J, idx, (int)n);
      slot_advance(J, id, now);
      mark_done(L, jidx, J, idx);
    } else {
      uint32_t len = tide_cur_u32(&c);
      const unsigned char *p = tide_cur_bytes(&c, len);
      if (!p) break;
      lua_pushfstring(L, "[task %I, worker %d] ", (lua_Integer)idx, id);
      lua_pushlstring(L, (const char *)p, len);
      lua_concat(L, 2);
      slot_advance(J, id, now);
      fail_task(L, jidx, J, idx, lua_tostring(L, -1), 0);
      lua_pop(L, 1);
      if (!J->started) return; /* cancelled by that failure */
    }
  }
  if (c.bad) slot_lost(L, jidx, J, id, "sent a truncated message");
}

static void slot_lost(lua_State *L, int jidx, Job *J, int id, const char *why) {
  if (!J->started) return;
  tide_Worker *w = &J->pool.w[id - 1];
  Slot *s = &J->slots[id - 1];
  pid_t pid = w->pid;
  /* Give a dying worker a moment to be reaped with its real cause. */
  for (int i = 0; i < 50 && !tide_pool_try_reap(&J->pool, id, 0); i++) usleep(2000);
  tide_pool_kill(&J->pool, id);
  char how[96], msg[512];
  tide_pool_describe(w->status, how, sizeof how);
  int64_t cur = s->nb ? s->b[0].first + s->b[0].got : 0;
  /* what it still held goes back to the queue */
  for (int k = s->nb - 1; k >= 0; k--) {
    Batch *b = &s->b[k];
    int64_t from = b->first + b->got + (k == 0 ? 1 : 0);
    int64_t n = b->first + b->count - from;
    J->noutstanding -= b->count - b->got;
    push_retry(J, from, n);
  }
  s->nb = 0;
  if (cur) {
    snprintf(msg, sizeof msg, "[task %lld, worker %d] worker process %d %s (%s) while running task %lld",
             (long long)cur, id, (int)pid, why, how, (long long)cur);
    fail_task(L, jidx, J, cur, msg, 0);
  }
  J->L = L; /* the child runs on the state that is running now */
  box_retire(&s->box); /* the new worker knows nothing of the old one's leases */
  if (J->started && tide_pool_respawn(&J->pool, id, worker_main, J) != TIDE_OK) {
    stop_workers(J);
    luaL_error(L, "cannot replace worker %d: %s", id, tide_lasterror());
  }
}

static void check_timeouts(lua_State *L, int jidx, Job *J) {
  if (J->timeout <= 0 || !J->started) return;
  double now = tide_now();
  for (int id = 1; id <= J->jobs && J->started; id++) {
    Slot *s = &J->slots[id - 1];
    if (s->nb == 0 || now - s->busy_since < J->timeout) continue;
    int64_t cur = s->b[0].first + s->b[0].got;
    int pid = (int)J->pool.w[id - 1].pid;
    tide_pool_kill(&J->pool, id);
    J->noutstanding -= s->b[0].count - s->b[0].got;
    push_retry(J, cur + 1, s->b[0].first + s->b[0].count - cur - 1);
    s->nb = 0;
    char msg[256];
    snprintf(msg, sizeof msg, "[task %lld, worker %d] timed out after %g s (worker process %d killed)",
             (long long)cur, id, J->timeout, pid);
    fail_task(L, jidx, J, cur, msg, 1);
    J->L = L;
    box_retire(&s->box);
    if (tide_pool_respawn(&J->pool, id, worker_main, J) != TIDE_OK) {
      stop_workers(J);
      luaL_error(L, "cannot replace worker %d: %s", id, tide_lasterror());
    }
  }
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

/* Waits up to ms for results (or deaths); handles what arrives. */
static void wait_events(lua_State *L, int jidx, Job *J, int ms) {
  struct pollfd pf[256];
  int ids[256], n = 0;
  for (int id = 1; id <= J->jobs && n < 256; id++) {
    if (J->slots[id - 1].nb == 0 || J->pool.w[id - 1].sock < 0) continue;
    pf[n].fd = J->pool.w[id - 1].sock;
    pf[n].events = POLLIN;
    pf[n].revents = 0;
    ids[n++] = id;
  }
  if (n == 0) return;
  if (J->timeout > 0 && ms > 0) {
    double now = tide_now(), soonest = 1e300;
    for (int i = 0; i < n; i++) {
      double d = J->slots[ids[i] - 1].busy_since + J->timeout - now;
      if (d < soonest) soonest = d;
    }
    int t = soonest <= 0 ? 0 : (int)(soonest * 1000) + 1;
    if (t < ms) ms = t;
  }
  int r = poll(pf, (nfds_t)n, ms);
  if (r < 0 && errno != EINTR) luaL_error(L, "poll failed: %s", strerror(errno));
  for (int i = 0; r > 0 && i < n && J->started; i++)
    if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) read_results(L, jidx, J, ids[i]);
  check_timeouts(L, jidx, J);
}

static void check_interrupt(lua_State *L, Job *J) {
  if (!tide__interrupted) return;
  tide__interrupted = 0;
  stop_workers(J);
  luaL_error(L, "interrupted!");
}

/* Is the next result the consumer asks for already here? */
static int has_deliverable(lua_State *L, int jidx, Job *J) {
  if (J->order_completed) return J->qhead < J->qtail;
  int64_t i = J->next_yield;
  if (J->total >= 0 && i > J->total) return 0;
  int have = 0;
  for (int uv = UV_RES; uv <= UV_ERR && !have; uv++) {
    push_uv(L, jidx, uv);
    have = lua_rawgeti(L, -1, i) != LUA_TNIL;
    lua_pop(L, 2);
  }
  return have;
}

/* Nothing runs and nothing is left to send. */
static int drained(Job *J) {
  return J->noutstanding == 0 && J->nretry == 0 && J->total >= 0 && J->next_fresh > J->total;
}

/* Advances the job: dispatch, read, reap.  block: wait until something
** can be delivered, a task failed, or the job is over. */
static void pump(lua_State *L, int jidx, Job *J, int block) {
  for (;;) {
    check_interrupt(L, J);
    dispatch(L, jidx, J);
    wait_events(L, jidx, J, 0);
    dispatch(L, jidx, J);
    report_progress(L, jidx, J, 0);
    if (!block || !J->started || J->fail_index || all_done(J)) return;
    if (has_deliverable(L, jidx, J) || drained(J)) return;
    wait_events(L, jidx, J, 100);
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
  cur_task = idx;
  if (J->has_seed) {
    cur_has_seed = 1;
    cur_seed = J->seed;
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
  note_stat(J, idx, tide_now() - t0, 0, 0);
  if (st == LUA_OK) {
    int n = lua_gettop(L) - base - 1;
    store_result(L, jidx, J, idx, n);
    mark_done(L, jidx, J, idx);
  } else {
    lua_pushfstring(L, "[task %I, serial] %s", (lua_Integer)idx, lua_tostring(L, -1));
    fail_task(L, jidx, J, idx, lua_tostring(L, -1), 0);
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

/* Pushes "idx, results..." for task idx and forgets it (unless retained). */
static int deliver(lua_State *L, int jidx, Job *J, int64_t idx) {
  J->nconsumed++;
  push_uv(L, jidx, UV_ERR);
  if (lua_rawgeti(L, -1, idx) != LUA_TNIL) {
    if (!J->on_error_yield && J->fail_index == idx) {
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

static int job_iter(lua_State *L) {
  Job *J = check_job(L, 1);
  int jidx = 1;
  lua_settop(L, 1);
  if (J->closed) return 0;
  if (J->serial) {
    for (;;) {
      if (J->fail_index) return deliver(L, jidx, J, J->fail_index);
      if (J->order_completed && J->qhead < J->qtail) {
        push_uv(L, jidx, UV_QUEUE);
        lua_rawgeti(L, -1, ++J->qhead);
        int64_t idx = lua_tointeger(L, -1);
        lua_pop(L, 2);
        return deliver(L, jidx, J, idx);
      }
      if (!J->order_completed && J->next_yield < J->next_fresh)
        return deliver(L, jidx, J, J->next_yield++);
      if (!serial_step(L, jidx, J)) {
        report_progress(L, jidx, J, 1);
        return 0;
      }
    }
  }
  if (J->order_completed) {
    if (J->fail_index) return deliver(L, jidx, J, J->fail_index);
    pump(L, jidx, J, 1);
    if (J->fail_index) return deliver(L, jidx, J, J->fail_index);
    if (J->qhead >= J->qtail) {
      report_progress(L, jidx, J, 1);
      stop_workers(J);
      return 0;
    }
    push_uv(L, jidx, UV_QUEUE);
    lua_rawgeti(L, -1, ++J->qhead);
    int64_t idx = lua_tointeger(L, -1);
    if (!J->retain) { /* a handle's take() reads the queue too */
      lua_pushnil(L);
      lua_rawseti(L, -3, J->qhead);
    }
    lua_pop(L, 2);
    return deliver(L, jidx, J, idx);
  }
  /* submitted order */
  for (int idle = 0;; idle++) {
    int64_t i = J->next_yield;
    if (has_deliverable(L, jidx, J)) {
      J->next_yield++;
      return deliver(L, jidx, J, i);
    }
    if (J->fail_index) return deliver(L, jidx, J, J->fail_index);
    if (J->total >= 0 && i > J->total) {
      report_progress(L, jidx, J, 1);
      stop_workers(J);
      return 0;
    }
    if (!J->started) return luaL_error(L, "task %d was lost: its loop was cancelled", (int)i);
    if (idle > 0 && drained(J))
      return luaL_error(L, "task %d was lost (no worker holds it)", (int)i);
    pump(L, jidx, J, 1);
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

/* tide.map(f, xs [, opts]) -> job (not started); fills J from options. */
static Job *new_job(lua_State *L, int retain) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int o = 3;
  if (!lua_isnoneornil(L, o)) luaL_checktype(L, o, LUA_TTABLE);
  Job *J = lua_newuserdatauv(L, sizeof *J, NUV);
  memset(J, 0, sizeof *J);
  J->ref = LUA_NOREF;
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
      if (!a) luaL_typeerror(L, 2, "table, count, array or iterator function");
      tideL_check(L, 2);
      luaL_argcheck(L, a->ndim >= 1, 2, "a 0-dimensional array has no rows");
      J->kind = IN_ARRAY;
      J->total = a->shape[0];
    }
  }
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, jidx, UV_XS);
  for (int uv = UV_RES; uv <= UV_ITEMS; uv++) {
    lua_newtable(L);
    lua_setiuservalue(L, jidx, uv);
  }
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
  if (J->inflight < 0) luaL_error(L, "option 'inflight' must be >= 1");
  if (J->inflight == 0 && retain) J->inflight = -1; /* a handle keeps everything anyway */
  J->retain = retain;
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
      lua_pop(L, 1);
    }
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
  if (J->serial) {
    J->started = 1;
    return J;
  }
  J->slots = calloc((size_t)J->jobs, sizeof *J->slots);
  if (!J->slots) luaL_error(L, "out of memory");
  J->L = L;
  /* Workers find f and xs through the registry, not through the job, so a
  ** dropped job handle can still be collected (and its workers reaped). */
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2);
  J->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (tide_pool_start(&J->pool, J->jobs, worker_main, J) != TIDE_OK) {
    job_free(J);
    luaL_error(L, "cannot start workers: %s", tide_lasterror());
  }
  J->started = 1;
  dispatch(L, jidx, J);
  return J;
}

static int l_map(lua_State *L) {
  new_job(L, 0);
  lua_pushcfunction(L, job_iter);
  lua_insert(L, -2);     /* iter, job */
  lua_pushnil(L);        /* control */
  lua_pushvalue(L, -2);  /* closing value */
  return 4;
}

static int l_start(lua_State *L) {
  new_job(L, 1);
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
      check_interrupt(L, J);
      dispatch(L, jidx, J);
      wait_events(L, jidx, J, 50);
      report_progress(L, jidx, J, 0);
      if (drained(J)) break;
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
  Job *J = new_job(L, 1);
  int jidx = lua_gettop(L);
  /* Results stay in UV_RES, read below: no queue of finished tasks (which
  ** only handles' take() reads), and the table sized once. */
  J->retain = 0;
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
  Job *J = new_job(L, 0);
  int jidx = lua_gettop(L);
  J->inflight = -1; /* nothing is kept: results are dropped as they come */
  J->retain = 0;
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

static int j_cancel(lua_State *L) {
  Job *J = check_job(L, 1);
  int was = J->started && !all_done(J);
  stop_workers(J);
  J->total = J->ndone; /* the stream ends after what has arrived */
  if (J->total < 0) J->total = 0;
  lua_pushboolean(L, was);
  return 1;
}

static int j_progress(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->started && !J->serial) pump(L, 1, J, 0);
  lua_pushinteger(L, J->ndone);
  if (J->total >= 0) lua_pushinteger(L, J->total);
  else lua_pushnil(L);
  return 2;
}

static int j_ready(lua_State *L) {
  Job *J = check_job(L, 1);
  if (!J->closed && J->started && !J->serial) pump(L, 1, J, 0);
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
  if (!J->closed && J->started && !J->serial) pump(L, 1, J, 0);
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
  if (!J->closed && J->started && !J->serial) pump(L, 1, J, 0);
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
  lua_pushinteger(L, cur_has_seed ? cur_seed : 0);
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
    {"__gc", j_close}, {"__close", j_close}, {"__tostring", j_tostring}, {NULL, NULL}};
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
