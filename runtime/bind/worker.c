/*
** worker.c -- a worker's side of a parallel loop: its task loop, whatever
** backend started it (backend.h).  A worker waits for a TASK message on
** its parent's socket, runs each task of the batch -- its f and input are
** in the worker's own Lua state, inherited by fork or received as the
** loop's setup payload -- and sends the results back through the codec,
** big arrays as shared segments it lends (the lease ring of its slot
** word).  Every result is written into the slot's spill and committed
** before the worker says it is done with the task, so that its death loses
** nothing (pool.h, tide_SlotWord).
**
** TIDE_KILLPOINT (below) makes a worker fail at a chosen stage of a chosen
** task, for the fault tests.
*/
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "ipc.h"
#include "par.h"
#include "pool.h"
#include "ship.h"

#define FLUSH_BYTES (4u << 20) /* a worker sends what it has past this */

int tideW_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Leases (see l_job.c): the segments this worker lent, each held by one
** reference until its id comes back. */
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
static int enc_mode = TIDE_CODEC_HANDLES; /* INLINE when frames carry no descriptors */
int64_t tideW_task;
lua_Integer tideW_seed;
static tide_Buf out = TIDE_BUF_INIT; /* results: a map of the slot's spill */

/* Encodes the function's arguments (the task's results), each framed by
** its length; runs under lua_pcall so an unsendable value is an error. */
static int enc_results(lua_State *L) {
  if (kp_hit(KP_ENCODE, tideW_task, 1)) {
    kp_act();
    return kp_error(L);
  }
  int n = lua_gettop(L);
  /* the parent reads at most 250 values per entry (tide_entry_next) */
  if (n > 250) return luaL_error(L, "a task may return at most 250 values, not %d", n);
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
    tideC_encode(L, i, enc_out, enc_mode, root);
    tide_buf_end_len(enc_out, at);
  }
  return 0;
}

static int dec_item(lua_State *L) {
  if (kp_hit(KP_DECODE, tideW_task, 1)) {
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

/* Runs one task; appends its entry to out.  t_begin: when it starts
** (the previous task's end within a batch).  timed: read the clock at its
** end and return that; else return t_begin and leave the end for the
** caller, who spreads one later reading over untimed tasks (a clock read
** costs about as much as a tiny task on some VMs).  rs: the stack index of
** math.randomseed (or a non-function): each task gets its own stream. */
static double run_task(const tideW_Loop *lp, lua_State *L, int base, int jidx, int rs,
                       int64_t idx, const unsigned char *item, size_t itemlen, tide_Buf *fds,
                       double t_begin, int timed) {
  size_t mark = out.n;
  int markfds = out.nfds;
  tide_buf_put_u64(&out, (uint64_t)idx);
  tide_buf_put_u8(&out, 0);
  tide_buf_put_f64(&out, t_begin);
  size_t tend_at = out.n;
  tide_buf_put_f64(&out, 0);
  lua_settop(L, base);
  lua_rawgeti(L, jidx, 1); /* f */
  int st = LUA_OK;
  tideW_task = idx;
  switch (lp->kind) {
    case IN_COUNT: lua_pushinteger(L, idx); break;
    case IN_TABLE:
    case IN_ARRAY: /* no input when it could not be loaded here: f raises why */
      if (lua_rawgeti(L, jidx, 2) != LUA_TNIL) lua_geti(L, -1, idx);
      else lua_pushnil(L);
      lua_remove(L, -2);
      break;
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
      ran_seed(ran_state, (uint64_t)tideW_seed, (uint64_t)idx);
    } else if (lua_isfunction(L, rs)) {
      lua_pushvalue(L, rs);
      lua_pushinteger(L, tideW_seed);
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
      int bad = tide_buf_put_u32(&out, (uint32_t)nret);
      for (int i = 1; i <= nret && !bad; i++) {
        size_t at = out.n;
        bad = tide_buf_put_u32(&out, 0) || tideC_encode_scalar(L, base + i, &out) != 1;
        if (!bad) tide_buf_end_len(&out, at);
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
    enc_out = &out;
    st = lua_pcall(L, nret, 0, base);
  }
  if (st != LUA_OK) {
    /* back out a partial encoding, then write the error */
    out.n = mark;
    while (out.nfds > markfds) close(out.fds[--out.nfds]);
    tide_buf_put_u64(&out, (uint64_t)idx);
    tide_buf_put_u8(&out, 1);
    tide_buf_put_f64(&out, t_begin);
    tend_at = out.n;
    tide_buf_put_f64(&out, 0);
    const char *msg = lua_tostring(L, -1);
    put_error(&out, msg ? msg : "(error object is not a string)");
  }
  tideW_task = 0;
  double t_end = timed ? tide_now() : t_begin;
  tide_buf_patch_f64(&out, tend_at, t_end);
  lua_settop(L, base);
  return t_end;
}

/* Untimed entries of a batch, waiting for the next clock reading. */
#define MAX_UNTIMED 16
typedef struct Untimed {
  size_t at[MAX_UNTIMED]; /* entry offsets in out */
  int n;
  double since;           /* the last reading: when the first of them began */
} Untimed;

/* Spreads [u->since, now] evenly over the untimed entries. */
static void settle(Untimed *u, double now) {
  double step = u->n ? (now - u->since) / u->n : 0;
  for (int j = 0; j < u->n; j++) {
    tide_buf_patch_f64(&out, u->at[j] + ENTRY_BEGIN, u->since + j * step);
    tide_buf_patch_f64(&out, u->at[j] + ENTRY_END, u->since + (j + 1) * step);
  }
  u->n = 0;
  u->since = now;
}

/* The results in out are whole up to its end: a parent reading the
** spill after this worker died takes them (see tide_SlotWord). */
static void commit(void) {
  atomic_store_explicit(&tide_worker_word->committed, out.n, memory_order_release);
}

/* Sends the count results in out and starts a new message. */
static int send_results(int sock, uint32_t count) {
  tide_buf_patch_u32(&out, 0, count);
  fflush(NULL); /* prints from tasks appear in order with the results */
  if (kp.stage == KP_HALF || kp.stage == KP_LEASE) { /* the message's first task */
    int64_t first = count ? (int64_t)tide_cur_u64(&(tide_Cursor){out.p + 4, out.p + 12, 0}) : 0;
    if (kp.stage == KP_HALF && kp_hit(KP_HALF, first, count)) {
      size_t n = out.n;
      unsigned char hdr[5] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 24), TIDE_MSG_RESULT};
      if (write(sock, hdr, 5) == 5 && write(sock, out.p, n / 2) >= 0) kp_act();
      kp_act();
    }
    if (kp.stage == KP_LEASE && count && kp_hit(KP_LEASE, first, count)) {
      int rc = tide_msg_send(sock, TIDE_MSG_RESULT, &out);
      (void)rc;
      kp_act();
    }
  }
  int rc = tide_msg_send(sock, TIDE_MSG_RESULT, &out);
  tide_buf_reset(&out);
  tide_buf_put_u32(&out, 0);
  commit();
  return rc;
}

void tideW_end_loop(void) {
  while (nleases > 0) { /* the parent keeps its mappings: only ours go */
    nleases--;
    tide_storage_unref(leases[nleases].s);
  }
  tide_buf_free(&out);
  out = (tide_Buf)TIDE_BUF_INIT;
}

int tideW_serve(const tideW_Loop *lp, int sock) {
  lua_State *L = lp->L;
  tideC_lease_out = lease_out;
  enc_mode = lp->no_fds ? TIDE_CODEC_INLINE : TIDE_CODEC_HANDLES;
  nleases = 0; /* the parent's table, if it was a worker once, is not ours */
  tideW_seed = lp->seed;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lp->ref);
  int jidx = lua_gettop(L);
  lua_getglobal(L, "math");
  if (lua_istable(L, -1)) lua_getfield(L, -1, "randomseed");
  else lua_pushnil(L);
  lua_remove(L, -2);
  int rs = lua_gettop(L);
  ran_state = find_ran_state(L, rs);
  kp_init();
  lua_pushcfunction(L, tideW_msghandler);
  int base = lua_gettop(L);
  /* static: reused by the next loop of a warm (spawned) worker, and still
  ** reachable when a task calls os.exit */
  static tide_Buf in = TIDE_BUF_INIT;
  out = (tide_Buf)TIDE_BUF_INIT;
  tide_buf_map(&out, tide_worker_spill);
  _Atomic int64_t *running = &tide_worker_word->task;
  uint32_t back_tail = 0;
  size_t made_at_gc = tide__made_bytes, made_at_full = made_at_gc;
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
    tide_buf_reset(&out);
    if (tide_buf_put_u32(&out, 0)) return TIDE_WORKER_EXIT_SEND;
    commit();
    uint32_t inbuf = 0;
    int fdbase = 0, shipped_handles = 0;
    /* Tasks under 20 us are timed 16 at a time, each getting the mean. */
    Untimed un = {.n = 0, .since = tide_now()};
    double t = un.since, per_task = 1;
    for (uint32_t k = 0; k < count; k++) {
      const unsigned char *item = NULL;
      size_t itemlen = 0;
      tide_Buf view = in; /* the item's descriptors: its own, numbered from 0 */
      if (lp->kind == IN_ITER) {
        itemlen = tide_cur_u32(&c);
        uint32_t nf = tide_cur_u32(&c);
        item = tide_cur_bytes(&c, itemlen);
        if (c.bad || nf > (uint32_t)(in.nfds - fdbase)) return TIDE_WORKER_EXIT_PROTOCOL;
        view.fds = nf ? in.fds + fdbase : NULL; /* in.fds is NULL when no item has one */
        view.nfds = (int)nf;
        fdbase += (int)nf;
      }
      uint32_t head = atomic_load_explicit(&tide_worker_word->back_head, memory_order_acquire);
      if (head != back_tail) { /* segments given back while we ran */
        for (; back_tail != head; back_tail++)
          lease_back(tide_worker_word->back[back_tail % TIDE_BACK_RING]);
        atomic_store_explicit(&tide_worker_word->back_tail, back_tail, memory_order_release);
      }
      int nfds = out.nfds;
      size_t at = out.n;
      int timed = per_task >= 20e-6 || un.n == MAX_UNTIMED - 1 || k + 1 == count;
      atomic_store_explicit(running, first + k, memory_order_relaxed);
      t = run_task(lp, L, base, jidx, rs, first + k, item, itemlen, &view, t, timed);
      un.at[un.n++] = at;
      if (timed) {
        per_task = (t - un.since) / un.n;
        settle(&un, t);
      }
      inbuf++;
      /* A result with shared segments goes at once: its descriptors die
      ** with this process, so the spill cannot keep it. */
      if (out.nfds > nfds || out.n >= FLUSH_BYTES) {
        shipped_handles |= out.nfds > nfds;
        if (un.n) settle(&un, tide_now());
        if (send_results(sock, inbuf)) return TIDE_WORKER_EXIT_SEND;
        inbuf = 0;
        t = un.since = tide_now();
      } else {
        commit();
      }
      atomic_store_explicit(running, 0, memory_order_release);
    }
    if (un.n) settle(&un, tide_now());
    if (inbuf && send_results(sock, inbuf)) return TIDE_WORKER_EXIT_SEND;
    if (out.cap > ((size_t)16 << 20)) tide_buf_trim(&out, (size_t)1 << 20);
    /* Result arrays now live in the parent's mappings; collect ours so
    ** shared segments do not pile up in this worker.  Likewise when the
    ** tasks made more array bytes than Lua's whole heap since the last
    ** collection: every page a worker keeps is its own, times the
    ** workers, and the collection costs no more than the bytes made.
    ** In a young-only state (lp->young) a young collection does it
    ** without writing the objects inherited from the parent, so their
    ** pages stay shared; a full one still runs after every 16 MB of arrays
    ** made, for those that grew old before they died. */
    size_t made = tide__made_bytes - made_at_gc;
    if (shipped_handles ||
        (made >= ((size_t)1 << 20) && made / 1024 >= (size_t)lua_gc(L, LUA_GCCOUNT, 0))) {
      if (lp->young && tide__made_bytes - made_at_full < ((size_t)16 << 20)) {
        lua_gc(L, LUA_GCSTEP, 0);
      } else {
        lua_gc(L, LUA_GCCOLLECT, 0);
        made_at_full = tide__made_bytes;
      }
      made_at_gc = tide__made_bytes;
    }
  }
}

static int raise_upvalue(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  return lua_error(L);
}

static const char *cur_str(tide_Cursor *c, size_t *len) {
  *len = tide_cur_u32(c);
  return (const char *)tide_cur_bytes(c, *len);
}

/* Decodes one shipped value ([u32 len][message]) and pushes it; a failure
** pushes the message and returns 0. */
static int decode_one(lua_State *L, tide_Cursor *c, tide_Buf *fds) {
  size_t n = tide_cur_u32(c);
  const unsigned char *p = tide_cur_bytes(c, n);
  if (!p) {
    lua_pushliteral(L, "corrupt message: a loop's setup is cut short");
    return 0;
  }
  return tideS_decode(L, p, n, fds) == LUA_OK;
}

/* A function or input that cannot be built here (a module this process
** cannot require, say) does not fail the setup: every task raises why, so
** the error reaches the script as a task's error, naming what is missing. */
int tideW_setup(tideW_Loop *lp, const unsigned char *p, size_t n, tide_Buf *fds) {
  lua_State *L = lp->L;
  tide_Cursor c = {p, p + n, 0};
  lp->kind = tide_cur_u8(&c);
  lp->seed = (lua_Integer)tide_cur_u64(&c);
  size_t plen, cplen;
  const char *path = cur_str(&c, &plen), *cpath = cur_str(&c, &cplen);
  if (c.bad) {
    lua_pushliteral(L, "corrupt message: a loop's setup is cut short");
    return LUA_ERRRUN;
  }
  lua_getglobal(L, "package"); /* modules found where the script finds them */
  if (lua_istable(L, -1)) {
    lua_pushlstring(L, path, plen);
    lua_setfield(L, -2, "path");
    lua_pushlstring(L, cpath, cplen);
    lua_setfield(L, -2, "cpath");
  }
  lua_pop(L, 1);
  lua_createtable(L, 2, 0);
  if (!decode_one(L, &c, fds)) {
    lua_pushfstring(L, "the worker cannot load the loop's function: %s", lua_tostring(L, -1));
    lua_pushcclosure(L, raise_upvalue, 1);
    lua_replace(L, -2);
  }
  lua_rawseti(L, -2, 1);
  if (decode_one(L, &c, fds)) {
    lua_rawseti(L, -2, 2);
  } else {
    lua_pushfstring(L, "the worker cannot load the loop's input: %s", lua_tostring(L, -1));
    lua_pushcclosure(L, raise_upvalue, 1);
    lua_rawseti(L, -3, 1); /* its tasks fail with why */
    lua_pop(L, 1);
  }
  lp->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* {f, xs}: what tideW_serve reads */
  return LUA_OK;
}
