/*
** backend_mpi.c -- the mpi backend, rank 0's side (backend.h): a loop's
** slots are the local workers of the serving ranks, dealt round-robin
** (slot 1 on rank 1, slot 2 on rank 2, ...) so that the first batches
** spread over the machines.  Each serving rank gets the loop's setup once
** and forks its own workers (serve.c); every frame to or from a slot is an
** MPI message (tmpi.h).
**
** Arrays of the setup reach each node once.  The setup payload holds
** rank 0's shared segments as descriptors (l_job.c encodes it with
** handles); for each serving rank this file says how to get each segment:
** on rank 0's own node, open it where rank 0 holds it (/proc/PID/fd/N:
** the same pages, no copy); on another node, its leader (lowest rank)
** receives the bytes once into a memfd of its own, and the node's other
** ranks open the leader's.  Every process of a node then maps one copy.
** memfds have no name: nothing can be left in /dev/shm, whatever kills
** whom.
**
** This backend shares no memory with its workers: word is NULL and spill
** -1 here (a serving rank recovers its own workers' results, serve.c).
*/
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "core.h"
#include "tmpi.h"

typedef struct Slot {
  int rank, local; /* the serving rank and its worker 0..k-1 */
  uint32_t gen;    /* frames of an older worker of the slot are dropped */
  int dead;        /* its end arrived (how), or it was killed */
  int have;        /* a header waits in h, its body not read */
  Hdr h;
  int pid;
  int64_t running; /* the task its worker ran when it died (K_DEAD); -1: not known */
  char how[256];
} Slot;

typedef struct Mpi {
  tide_Backend b;
  uint32_t loop;
  Slot *s;
  int *k;              /* workers per rank */
  unsigned char *sent; /* per rank: the loop's setup went */
  volatile int halted;
  pid_t owner;         /* a forked copy only forgets */
} Mpi;

static uint32_t loops;
static int busy;
/* What the serving ranks said at each loop's end, summed (tide.mpi.stats). */
static struct Fig {
  uint64_t tasks, received, pss_peak;
  uint64_t node_peak; /* a node's sampler: its node's processes at once */
} *figs;
static uint64_t pss0_peak;

static Mpi *mpi_of(tide_Backend *b) { return (Mpi *)b; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Workers of serving rank r: jobs, or its cores shared by the serving
** ranks of its node (one rank per node, the usual launch: all of them). */
static int per_rank(int jobs, int r) {
  if (jobs > 0) return jobs;
  tmpi_Rank *x = &tmpi_world.r[r];
  int n = x->ncpus / (x->serving_on_node > 0 ? x->serving_on_node : 1);
  return n > 0 ? n : 1;
}

static int m_slots(int jobs) {
  int n = 0;
  for (int r = 1; r < tmpi_world.size; r++) n += per_rank(jobs, r);
  return n;
}

static int m_start(tide_Backend **out, const tide_BackendConfig *c) {
  *out = NULL;
  if (busy)
    return tide__seterr(TIDE_EINVAL, "backend 'mpi' runs one loop at a time; this one started "
                                     "while another runs (use backend = \"fork\" for the inner one)");
  int size = tmpi_world.size;
  Mpi *m = tide__calloc(1, sizeof *m);
  if (m) {
    m->s = tide__calloc((size_t)c->jobs + 1, sizeof *m->s);
    m->k = tide__calloc((size_t)size, sizeof *m->k);
    m->sent = tide__calloc((size_t)size, 1);
  }
  if (!figs) figs = tide__calloc((size_t)size, sizeof *figs);
  if (!m || !m->s || !m->k || !m->sent || !figs) {
    if (m) free(m->s), free(m->k), free(m->sent);
    free(m);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  /* deal the slots round-robin over the ranks, each up to its default
  ** when the loop asked for the defaults */
  int want = c->jobs, capped = want == m_slots(0);
  for (int id = 1; id <= want;)
    for (int r = 1; r < size && id <= want; r++) {
      if (capped && m->k[r] >= per_rank(0, r)) continue;
      m->s[id++] = (Slot){.rank = r, .local = m->k[r]++, .gen = 1, .running = -1};
    }
  m->b.ops = &tide_backend_mpi;
  m->b.jobs = c->jobs;
  m->loop = ++loops;
  m->owner = getpid();
  busy = 1;
  *out = &m->b;
  return TIDE_OK;
}

/* The SETUP message for rank r: its workers, how to get each segment,
** the peers it serves segments to (a leader), then the payload. */
static int m_setup(tide_Backend *b, int id, const tide_Buf *payload) {
  Mpi *m = mpi_of(b);
  int r = m->s[id].rank;
  if (m->sent[r]) return TIDE_OK; /* a respawned slot: its rank has the loop */
  tmpi_Rank *w = tmpi_world.r, *x = &w[r];
  tide_Buf body = TIDE_BUF_INIT;
  int rc = tide_buf_put_u32(&body, (uint32_t)m->k[r]);
  rc |= tide_buf_put_u32(&body, (uint32_t)payload->nfds);
  uint64_t *sizes = tide__calloc((size_t)payload->nfds + 1, sizeof *sizes);
  if (!sizes) rc = TIDE_ENOMEM;
  int how = x->node == w[0].node ? SEG_PROC : x->leader == r ? SEG_DATA : SEG_LEADER;
  for (int i = 0; i < payload->nfds && !rc; i++) {
    struct stat st;
    if (fstat(payload->fds[i], &st) != 0) rc = tide__syserr(TIDE_EIO, errno, "fstat failed");
    sizes[i] = (uint64_t)st.st_size;
    tide_Storage *s = tide__storage_of_fd(payload->fds[i]); /* writable from workers? */
    rc |= tide_buf_put_u8(&body, (uint8_t)how);
    rc |= tide_buf_put_u8(&body, (uint8_t)(s ? s->wmode : TIDE_WMODE_RO));
    rc |= tide_buf_put_u64(&body, sizes[i]);
    rc |= tide_buf_put_u32(&body, (uint32_t)w[0].pid);
    rc |= tide_buf_put_u32(&body, (uint32_t)payload->fds[i]);
    rc |= tide_buf_put_u32(&body, (uint32_t)x->leader);
  }
  uint32_t npeers = 0;
  size_t at = body.n;
  rc |= tide_buf_put_u32(&body, 0);
  if (how == SEG_DATA)
    for (int p = 1; p < tmpi_world.size && !rc; p++)
      if (p != r && w[p].node == x->node) {
        rc |= tide_buf_put_u32(&body, (uint32_t)p);
        npeers++;
      }
  if (!rc) tide_buf_patch_u32(&body, at, npeers);
  rc |= tide_buf_put(&body, payload->p, payload->n);
  if (rc) {
    free(sizes);
    tide_buf_free(&body);
    return tide__seterr(TIDE_ENOMEM, "out of memory for a loop's setup");
  }
  Hdr h = {.kind = K_SETUP, .loop = m->loop, .len = body.n};
  rc = tmpi_send(r, TAG_CTRL, &h, body.p);
  tide_buf_free(&body);
  /* a node's leader gets the bytes of each segment, once per node */
  for (int i = 0; i < payload->nfds && !rc && how == SEG_DATA; i++) {
    void *p = sizes[i] ? tide__mmap(NULL, sizes[i], PROT_READ, MAP_SHARED, payload->fds[i], 0) : NULL;
    if (p == MAP_FAILED) {
      rc = -1;
      break;
    }
    Hdr d = {.kind = K_SETUP, .loop = m->loop, .len = sizes[i]};
    rc = tmpi_send(r, TAG_CTRL, &d, p);
    if (p) munmap(p, sizes[i]);
  }
  free(sizes);
  if (rc) return tide__seterr(TIDE_EIO, "cannot send the loop to rank %d (%s)", r, x->host);
  m->sent[r] = 1;
  return TIDE_OK;
}

static int to_slot(Mpi *m, Slot *s, int kind, uint8_t type, const void *p, size_t n) {
  Hdr h = {.kind = (uint8_t)kind, .type = type, .slot = (uint16_t)s->local, .loop = m->loop,
           .gen = s->gen, .len = n};
  return tmpi_send(s->rank, TAG_CTRL, &h, p) ? TIDE_EIO : TIDE_OK;
}

static int m_send(tide_Backend *b, int id, uint8_t type, const tide_Buf *msg) {
  Mpi *m = mpi_of(b);
  Slot *s = &m->s[id];
  if (msg->nfds) return tide__seterr(TIDE_EINVAL, "backend 'mpi' cannot send descriptors");
  if (to_slot(m, s, K_FRAME, type, msg->p, msg->n))
    return tide__seterr(TIDE_EIO, "cannot send to rank %d (%s)", s->rank,
                        tmpi_world.r[s->rank].host);
  return TIDE_OK;
}

/* 1 when a header of the slot's current worker waits (read into s->h). */
static int peek(Mpi *m, Slot *s) {
  Hdr h;
  while (!s->have && tmpi_poll_hdr(s->rank, TAG_SLOT(s->local), &h)) {
    if (h.loop != m->loop || h.gen != s->gen) { /* an older loop's or worker's */
      tmpi_drop_body(s->rank, TAG_SLOT(s->local), &h);
      continue;
    }
    if (h.kind == K_PID) { /* its pid, for the messages that name it */
      tide_Buf t = TIDE_BUF_INIT;
      tmpi_recv_body(s->rank, TAG_SLOT(s->local), &h, &t);
      tide_Cursor c = {t.p, t.p + t.n, 0};
      uint32_t pid = tide_cur_u32(&c);
      if (!c.bad) s->pid = (int)pid;
      tide_buf_free(&t);
      continue;
    }
    s->h = h;
    s->have = 1;
  }
  return s->have;
}

static int m_recv(tide_Backend *b, int id, uint8_t *type, tide_Buf *msg, size_t max) {
  Mpi *m = mpi_of(b);
  Slot *s = &m->s[id];
  double t0 = now();
  for (;;) {
    if (peek(m, s)) {
      s->have = 0;
      int tag = TAG_SLOT(s->local);
      if (s->h.kind == K_DEAD) { /* [u32 pid][i64 task it ran] then how it ended */
        tide_Buf t = TIDE_BUF_INIT;
        tmpi_recv_body(s->rank, tag, &s->h, &t);
        tide_Cursor c = {t.p, t.p + t.n, 0};
        uint32_t pid = tide_cur_u32(&c);
        if (pid) s->pid = (int)pid; /* 0: no worker started (its K_PID named none) */
        s->running = (int64_t)tide_cur_u64(&c);
        if (c.bad) s->running = -1;
        size_t n = c.bad ? 0 : (size_t)(c.end - c.p);
        snprintf(s->how, sizeof s->how, "%.*s", (int)n, n ? (const char *)c.p : "ended");
        tide_buf_free(&t);
        s->dead = 1;
        return TIDE_ECLOSED;
      }
      if (s->h.len > max) {
        tmpi_drop_body(s->rank, tag, &s->h);
        return TIDE_EFORMAT;
      }
      tide_buf_reset(msg);
      if (tmpi_recv_body(s->rank, tag, &s->h, msg)) return TIDE_EIO;
      *type = s->h.type;
      return TIDE_OK;
    }
    if (s->dead || m->halted) return TIDE_ECLOSED;
    tmpi_backoff(now() - t0);
  }
}

static int m_wait(tide_Backend *b, const int *ids, int n, int wakefd, int ms, unsigned char *ready,
                  int *woken) {
  Mpi *m = mpi_of(b);
  double t0 = now(), last = t0;
  for (;;) {
    int cnt = 0;
    for (int i = 0; i < n; i++) {
      Slot *s = &m->s[ids[i]];
      ready[i] = (unsigned char)(s->dead || peek(m, s));
      cnt += ready[i];
    }
    struct pollfd pf = {wakefd, POLLIN, 0};
    *woken = wakefd >= 0 && poll(&pf, 1, 0) > 0;
    if (cnt || *woken) return cnt + *woken;
    double t = now();
    if ((t - t0) * 1000 >= ms) return 0;
    tmpi_backoff(t - last);
  }
}

static int m_reap(tide_Backend *b, int id, int block) {
  Mpi *m = mpi_of(b);
  Slot *s = &m->s[id];
  double t0 = now();
  while (!s->dead) { /* its end may be on its way */
    uint8_t type;
    tide_Buf t = TIDE_BUF_INIT;
    if (peek(m, s) && s->h.kind != K_DEAD) { /* a frame after all: not dead */
      tide_buf_free(&t);
      return 0;
    }
    if (s->have) m_recv(b, id, &type, &t, 0);
    tide_buf_free(&t);
    if (s->dead || !block || now() - t0 > 5) break;
    tmpi_backoff(now() - t0);
  }
  return s->dead;
}

static void m_kill(tide_Backend *b, int id) {
  Mpi *m = mpi_of(b);
  Slot *s = &m->s[id];
  if (s->have) tmpi_drop_body(s->rank, TAG_SLOT(s->local), &s->h);
  s->have = 0;
  s->gen++; /* what its old worker still sends is dropped */
  to_slot(m, s, K_KILL, 0, NULL, 0);
  s->dead = 1;
}

static int64_t m_running(tide_Backend *b, int id) { return mpi_of(b)->s[id].running; }

static int m_respawn(tide_Backend *b, int id) {
  Mpi *m = mpi_of(b);
  Slot *s = &m->s[id];
  if (to_slot(m, s, K_RESPAWN, 0, NULL, 0))
    return tide__seterr(TIDE_EIO, "cannot reach rank %d (%s)", s->rank, tmpi_world.r[s->rank].host);
  s->dead = 0;
  s->how[0] = 0;
  s->pid = 0;
  s->running = -1;
  return TIDE_OK;
}

static void m_halt(tide_Backend *b) {
  Mpi *m = mpi_of(b);
  m->halted = 1;
  for (int r = 1; r < tmpi_world.size; r++) {
    Hdr h = {.kind = K_HALT, .loop = m->loop};
    if (m->sent[r]) tmpi_send(r, TAG_CTRL, &h, NULL);
  }
}

static tide_SlotWord *m_word(tide_Backend *b, int id) { return NULL; }
static int m_spill(tide_Backend *b, int id) { return -1; }

static void m_describe(tide_Backend *b, int id, char *who, size_t wlen, char *how, size_t hlen) {
  Slot *s = &mpi_of(b)->s[id];
  const char *host = tmpi_world.r[s->rank].host;
  if (s->pid) snprintf(who, wlen, "worker process %d on rank %d (%s)", s->pid, s->rank, host);
  else snprintf(who, wlen, "worker %d of rank %d (%s)", s->local + 1, s->rank, host);
  snprintf(how, hlen, "%s", s->how[0] ? s->how : "was stopped");
}

static int m_rank(tide_Backend *b, int id) { return mpi_of(b)->s[id].rank; }

/* Ends the loop on every rank that has it, and takes their figures. */
static void m_close(tide_Backend *b) {
  if (!b) return;
  Mpi *m = mpi_of(b);
  if (m->owner == getpid()) {
    for (int r = 1; r < tmpi_world.size; r++) {
      Hdr h = {.kind = K_STOP, .loop = m->loop};
      if (m->sent[r] && tmpi_send(r, TAG_CTRL, &h, NULL)) m->sent[r] = 0;
    }
    for (int id = 1; id <= m->b.jobs; id++) { /* a header read, its body not: first that */
      Slot *s = &m->s[id];
      if (s->have) tmpi_drop_body(s->rank, TAG_SLOT(s->local), &s->h);
      s->have = 0;
    }
    uint64_t pss = tmpi_pss(getpid());
    if (pss > pss0_peak) pss0_peak = pss;
    double t0 = now();
    for (int r = 1; r < tmpi_world.size; r++) {
      while (m->sent[r] && now() - t0 < 30) { /* a rank that does not answer is not waited for */
        Hdr h;
        /* its frames that no one reads now: a big one would hold the rank
        ** in its send (the receiver must take it) and it would never ack */
        for (int j = 0; j < m->k[r]; j++)
          while (tmpi_poll_hdr(r, TAG_SLOT(j), &h)) tmpi_drop_body(r, TAG_SLOT(j), &h);
        if (!tmpi_poll_hdr(r, TAG_ACK, &h)) {
          tmpi_backoff(now() - t0);
          continue;
        }
        tide_Buf t = TIDE_BUF_INIT;
        tmpi_recv_body(r, TAG_ACK, &h, &t);
        if (h.loop == m->loop && t.n >= 24) {
          tide_Cursor c = {t.p, t.p + t.n, 0};
          figs[r].tasks += tide_cur_u64(&c);
          figs[r].received += tide_cur_u64(&c);
          uint64_t p = tide_cur_u64(&c);
          if (p > figs[r].pss_peak) figs[r].pss_peak = p;
          uint64_t np = t.n >= 32 ? tide_cur_u64(&c) : 0;
          if (np > figs[r].node_peak) figs[r].node_peak = np;
          m->sent[r] = 0;
        }
        tide_buf_free(&t);
      }
    }
    busy = 0;
  }
  free(m->s);
  free(m->k);
  free(m->sent);
  free(m);
}

const tide_BackendOps tide_backend_mpi = {
  .name = "mpi",
  .flags = 0, /* no inheritance, no descriptors in frames */
  .start = m_start,
  .respawn = m_respawn,
  .setup = m_setup,
  .send = m_send,
  .recv = m_recv,
  .wait = m_wait,
  .reap = m_reap,
  .kill = m_kill,
  .halt = m_halt,
  .word = m_word,
  .spill = m_spill,
  .describe = m_describe,
  .close = m_close,
  .slots = m_slots,
  .rank = m_rank,
  .running = m_running,
};

void tmpi_exit_all(void) {
  for (int r = 1; r < tmpi_world.size; r++) {
    Hdr h = {.kind = K_EXIT};
    tmpi_send(r, TAG_CTRL, &h, NULL);
  }
}

/* ------------------------------------------------------------ tide.mpi */

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* tide.mpi.stats() -> {ranks = {{rank, host, node, tasks, received,
** pss_peak}, ...}, nodes = {{node, host, ranks, pss_peak}, ...}}: what the
** serving ranks said at the end of each loop so far; a node's pss_peak is
** the peak of the sum over its processes (ranks and their workers, rank
** 0's included) sampled together by its lowest serving rank, or on a
** node without one, rank 0's own peak. */
static int l_stats(lua_State *L) {
  tmpi_World *w = &tmpi_world;
  lua_createtable(L, 0, 2);
  lua_createtable(L, w->size, 0);
  for (int r = 0; r < w->size; r++) {
    lua_createtable(L, 0, 6);
    set_int(L, "rank", r);
    lua_pushstring(L, w->r[r].host);
    lua_setfield(L, -2, "host");
    set_int(L, "node", w->r[r].node);
    set_int(L, "tasks", r && figs ? (lua_Integer)figs[r].tasks : 0);
    set_int(L, "received", r && figs ? (lua_Integer)figs[r].received : 0);
    set_int(L, "pss_peak", r ? (figs ? (lua_Integer)figs[r].pss_peak : 0) : (lua_Integer)pss0_peak);
    lua_rawseti(L, -2, r + 1);
  }
  lua_setfield(L, -2, "ranks");
  lua_newtable(L);
  int nn = 0;
  for (int r = 0; r < w->size; r++) {
    int first = 1; /* the node's first rank stands for it */
    for (int k = 0; k < r; k++) first &= w->r[k].node != w->r[r].node;
    if (!first) continue;
    uint64_t pss = 0;
    int ranks = 0;
    for (int k = 0; k < w->size; k++) {
      if (w->r[k].node != w->r[r].node) continue;
      ranks++;
      uint64_t v = k ? (figs ? figs[k].node_peak : 0) : pss0_peak;
      if (v > pss) pss = v;
    }
    lua_createtable(L, 0, 4);
    set_int(L, "node", w->r[r].node);
    lua_pushstring(L, w->r[r].host);
    lua_setfield(L, -2, "host");
    set_int(L, "ranks", ranks);
    set_int(L, "pss_peak", (lua_Integer)pss);
    lua_rawseti(L, -2, ++nn);
  }
  lua_setfield(L, -2, "nodes");
  return 1;
}

void tmpi_open_lua(void *ud) {
  lua_State *L = ud;
  tmpi_World *w = &tmpi_world;
  lua_createtable(L, 0, 4);
  set_int(L, "rank", w->rank);
  set_int(L, "size", w->size);
  lua_createtable(L, w->size, 0);
  for (int r = 0; r < w->size; r++) {
    lua_createtable(L, 0, 4);
    set_int(L, "rank", r);
    lua_pushstring(L, w->r[r].host);
    lua_setfield(L, -2, "host");
    set_int(L, "node", w->r[r].node);
    set_int(L, "pid", w->r[r].pid);
    lua_rawseti(L, -2, r + 1);
  }
  lua_setfield(L, -2, "ranks");
  lua_pushcfunction(L, l_stats);
  lua_setfield(L, -2, "stats");
  lua_setfield(L, -2, "mpi");
}
