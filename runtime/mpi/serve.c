/*
** serve.c -- a serving rank (every rank but 0): it waits for rank 0's
** loops and runs each on workers it forks itself (pool.c, the fork
** backend's discipline), relaying frames between MPI and its workers'
** sockets.  Its workers are forked after the loop's setup is decoded, so
** they inherit f, its upvalues and the input (the fork backend's edge,
** kept on every node); arrays are in the node's shared segments
** (backend_mpi.c), mapped once per node.  Results come back by content
** (frames over MPI carry no descriptors).
**
** A worker that dies loses nothing here either: its finished results are
** read from its slot's spill and sent on before its end (K_DEAD, saying
** which process and how), exactly as the fork backend does in rank 0's
** place.
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "par.h"
#include "pool.h"
#include "schedule.h"
#include "tide.h"
#include "tmpi.h"

#define MAX_SEGS 256

typedef struct Loop {
  uint32_t id;
  int k, active, failed;
  tide_Pool pool;
  tideW_Loop lp;
  uint32_t gen[256];
  unsigned char alive[256];
  /* worker j's last RESULT message relayed: tasks [sent_first, +sent_count).
  ** It stays in the spill until the worker resets its buffer: a worker
  ** that died in between must not have it sent twice. */
  int64_t sent_first[256];
  uint32_t sent_count[256];
  int64_t owed[256]; /* tasks relayed to worker j whose results are not back */
  int segfds[MAX_SEGS], nseg;
  uint64_t tasks, received, pss_peak, node_peak;
  char why[512]; /* failed: why the setup could not be made */
} Loop;

static lua_State *L;
static Loop loop;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int worker_main(void *ud, int sock, int id) {
  (void)id;
  return tideW_serve(&((Loop *)ud)->lp, sock);
}

static void to_zero(int kind, uint8_t type, int j, const void *p, size_t n) {
  Hdr h = {.kind = (uint8_t)kind, .type = type, .slot = (uint16_t)j, .loop = loop.id,
           .gen = loop.gen[j], .len = n};
  tmpi_send(0, TAG_SLOT(j), &h, p);
}

/* [u32 pid][i64 the task it was running: 0 none, -1 not known][how] */
static void send_pid(int j) {
  tide_Buf b = TIDE_BUF_INIT;
  if (tide_buf_put_u32(&b, (uint32_t)loop.pool.w[j].pid) == TIDE_OK) to_zero(K_PID, 0, j, b.p, b.n);
  tide_buf_free(&b);
}

static void send_dead(int j, int pid, int64_t running, const char *how) {
  tide_Buf b = TIDE_BUF_INIT;
  tide_buf_put_u32(&b, (uint32_t)pid);
  tide_buf_put_u64(&b, (uint64_t)running);
  tide_buf_put(&b, how, strlen(how));
  to_zero(K_DEAD, 0, j, b.p, b.n);
  tide_buf_free(&b);
}

/* pid's PSS and its children's (a rank's forked workers). */
static uint64_t tree_pss(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
  uint64_t pss = tmpi_pss(pid);
  FILE *f = fopen(path, "r");
  int c;
  while (f && fscanf(f, "%d", &c) == 1) pss += tmpi_pss(c);
  if (f) fclose(f);
  return pss;
}

/* 1 when this rank is the lowest serving rank of its node: it samples
** the whole node. */
static int node_sampler(void) {
  tmpi_Rank *w = tmpi_world.r;
  for (int k = 1; k < tmpi_world.rank; k++)
    if (w[k].node == w[tmpi_world.rank].node) return 0;
  return 1;
}

/* The rank's own PSS with its workers'; on a node's sampler also the sum
** over every rank of the node and their children at the same moment (a
** sum of each rank's own peaks, taken at different times, would count
** pages of the node's shared arrays several times over). */
static void sample_pss(void) {
  uint64_t pss = tmpi_pss(getpid());
  for (int j = 0; j < loop.k && loop.active && !loop.failed; j++)
    if (loop.alive[j]) pss += tmpi_pss(loop.pool.w[j].pid);
  if (pss > loop.pss_peak) loop.pss_peak = pss;
  if (!node_sampler()) return;
  tmpi_Rank *w = tmpi_world.r;
  uint64_t node = pss;
  for (int k = 0; k < tmpi_world.size; k++)
    if (k != tmpi_world.rank && w[k].node == w[tmpi_world.rank].node) node += tree_pss(w[k].pid);
  if (node > loop.node_peak) loop.node_peak = node;
}

/* Worker j's socket failed: its finished results from the spill (those
** not relayed already), then its end and the task it was running, to
** rank 0, which blames that task as the fork backend does. */
static void lost(int j) {
  tide_Worker *w = &loop.pool.w[j];
  tide_SlotWord *word = &loop.pool.words[j];
  loop.alive[j] = 0;
  int64_t running = atomic_load(&word->task);
  loop.owed[j] = 0;
  uint64_t committed = atomic_load(&word->committed);
  struct stat st;
  if (committed > 4 && w->spill >= 0 && fstat(w->spill, &st) == 0 &&
      (uint64_t)st.st_size >= committed) {
    unsigned char *p = tide__mmap(NULL, committed, PROT_READ, MAP_SHARED, w->spill, 0);
    if (p != MAP_FAILED) {
      tide_Buf b = TIDE_BUF_INIT;
      tide_Cursor c = {p + 4, p + committed, 0};
      tide_Entry e;
      uint32_t count = 0;
      const unsigned char *from = NULL;
      int64_t f0 = loop.sent_first[j], f1 = f0 + loop.sent_count[j];
      for (;;) {
        const unsigned char *at = c.p;
        if (tide_entry_next(&c, &e) <= 0) break;
        if (e.task >= f0 && e.task < f1) continue; /* relayed already */
        if (!from) from = at;
        count++;
      }
      if (count && !tide_buf_put_u32(&b, count) && !tide_buf_put(&b, from, (size_t)(c.p - from))) {
        loop.tasks += count;
        to_zero(K_FRAME, TIDE_MSG_RESULT, j, b.p, b.n);
      }
      tide_buf_free(&b);
      munmap(p, committed);
    }
  }
  int pid = (int)w->pid;
  char how[256] = "ended";
  if (tide_pool_try_reap(&loop.pool, j + 1, 1)) tide_pool_describe(w->status, how, sizeof how);
  loop.sent_count[j] = 0;
  send_dead(j, pid, running, how);
}

static void end_loop(void) {
  if (!loop.active) return;
  if (!loop.failed) {
    tide_pool_close(&loop.pool);
    luaL_unref(L, LUA_REGISTRYINDEX, loop.lp.ref);
  }
  for (int i = 0; i < loop.nseg; i++) close(loop.segfds[i]);
  loop.nseg = 0;
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0); /* the loop's arrays unmap their segments */
  loop.active = 0;
}

static int open_proc(int pid, int fd) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
  int d = open(path, O_RDWR | O_CLOEXEC);
  if (d < 0) d = open(path, O_RDONLY | O_CLOEXEC);
  return d;
}

/* A segment's bytes from rank 0, straight into a fresh memfd. */
static int recv_segment(uint64_t size) {
  Hdr h;
  double t0 = now();
  while (!tmpi_poll_hdr(0, TAG_CTRL, &h)) tmpi_backoff(now() - t0);
  if (h.kind != K_SETUP || h.len != size) return -1;
  int fd = tide__memfd_create("tide", MFD_CLOEXEC);
  if (fd < 0) return -1;
  if (tide__ftruncate(fd, (off_t)size) != 0) {
    close(fd);
    return -1;
  }
  tide_Buf b = TIDE_BUF_INIT; /* received into the segment's own pages */
  if (size) {
    b.p = tide__mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (b.p == MAP_FAILED) {
      close(fd);
      return -1;
    }
    b.cap = size;
    int rc = tmpi_recv_body(0, TAG_CTRL, &h, &b);
    munmap(b.p, size);
    if (rc) {
      close(fd);
      return -1;
    }
  }
  loop.received += size;
  return fd;
}

static void fail_setup(const char *fmt, const char *msg) {
  snprintf(loop.why, sizeof loop.why, fmt, msg);
  loop.failed = 1;
}

static void setup(const Hdr *h) {
  tide_Buf body = TIDE_BUF_INIT;
  end_loop();
  memset(&loop, 0, sizeof loop);
  loop.id = h->loop;
  loop.active = 1;
  if (tmpi_recv_body(0, TAG_CTRL, h, &body)) fail_setup("%s", "cannot receive the loop");
  tide_Cursor c = {body.p, body.p + body.n, 0};
  loop.k = (int)tide_cur_u32(&c);
  uint32_t nseg = tide_cur_u32(&c);
  if (c.bad || loop.k < 1 || loop.k > 256 || nseg > MAX_SEGS) {
    fail_setup("%s", "corrupt setup message");
    loop.k = loop.k < 1 || loop.k > 256 ? 0 : loop.k;
    nseg = 0;
  }
  for (int j = 0; j < loop.k; j++) loop.gen[j] = 1;
  struct { uint8_t how, wmode; uint64_t size; uint32_t pid, fd, leader; } seg[MAX_SEGS];
  for (uint32_t i = 0; i < nseg; i++) {
    seg[i].how = tide_cur_u8(&c);
    seg[i].wmode = tide_cur_u8(&c);
    seg[i].size = tide_cur_u64(&c);
    seg[i].pid = tide_cur_u32(&c);
    seg[i].fd = tide_cur_u32(&c);
    seg[i].leader = tide_cur_u32(&c);
  }
  uint32_t npeers = tide_cur_u32(&c);
  int peers[256];
  for (uint32_t i = 0; i < npeers && i < 256; i++) peers[i] = (int)tide_cur_u32(&c);
  /* every segment, however it comes */
  for (uint32_t i = 0; i < nseg && !loop.failed; i++) {
    int fd = -1;
    if (seg[i].how == SEG_PROC) {
      fd = open_proc((int)seg[i].pid, (int)seg[i].fd);
    } else if (seg[i].how == SEG_DATA) {
      fd = recv_segment(seg[i].size);
    } else { /* the leader's, once it has it: [u32 pid][fds] */
      static tide_Buf lead = TIDE_BUF_INIT;
      static tide_Cursor lc;
      if (i == 0) {
        Hdr lh;
        double t0 = now();
        do { /* an older loop's, from a leader whose peer failed: dropped */
          while (!tmpi_poll_hdr((int)seg[i].leader, TAG_SEG, &lh)) tmpi_backoff(now() - t0);
          tide_buf_reset(&lead);
          tmpi_recv_body((int)seg[i].leader, TAG_SEG, &lh, &lead);
        } while (lh.loop != loop.id);
        lc = (tide_Cursor){lead.p, lead.p + lead.n, 0};
        tide_cur_u32(&lc); /* its loop */
        seg[0].pid = tide_cur_u32(&lc);
      }
      uint32_t lfd = tide_cur_u32(&lc);
      fd = open_proc((int)seg[0].pid, (int)lfd);
    }
    if (fd < 0) {
      fail_setup("cannot get the loop's shared array %s", strerror(errno));
      break;
    }
    loop.segfds[loop.nseg++] = fd;
  }
  if (npeers && loop.nseg && !loop.failed) { /* the node's other ranks open ours */
    tide_Buf b = TIDE_BUF_INIT;
    tide_buf_put_u32(&b, loop.id);
    tide_buf_put_u32(&b, (uint32_t)getpid());
    for (int i = 0; i < loop.nseg; i++) tide_buf_put_u32(&b, (uint32_t)loop.segfds[i]);
    Hdr sh = {.kind = K_SETUP, .loop = loop.id, .len = b.n};
    for (uint32_t i = 0; i < npeers && i < 256; i++) tmpi_send(peers[i], TAG_SEG, &sh, b.p);
    tide_buf_free(&b);
  }
  if (!loop.failed) {
    tide_Buf fds = TIDE_BUF_INIT;
    for (int i = 0; i < loop.nseg; i++) tide_buf_put_fd(&fds, loop.segfds[i]);
    loop.lp = (tideW_Loop){.L = L, .ref = LUA_NOREF, .no_fds = 1, .young = 1};
    size_t n = c.bad ? 0 : (size_t)(c.end - c.p);
    if (tideW_setup(&loop.lp, c.p, n, &fds) != LUA_OK) {
      fail_setup("%s", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    /* each array as writable from workers as on rank 0 (shared = true):
    ** on rank 0's node the writes reach its pages, elsewhere the node's copy */
    for (int i = 0; i < loop.nseg && !loop.failed; i++) {
      tide_Storage *s = tide__storage_of_fd(loop.segfds[i]);
      if (s) s->wmode = seg[i].wmode;
    }
    tide_buf_free(&fds);
  }
  tide_buf_free(&body);
  /* everything the workers inherit made old (see tmpi_serve) */
  if (!loop.failed) lua_gc(L, LUA_GCCOLLECT, 0);
  if (!loop.failed && tide_pool_start(&loop.pool, loop.k, worker_main, &loop) != TIDE_OK) {
    luaL_unref(L, LUA_REGISTRYINDEX, loop.lp.ref);
    fail_setup("cannot start workers: %s", tide_lasterror());
  }
  char how[640];
  snprintf(how, sizeof how, "could not set up the loop: %s", loop.why);
  for (int j = 0; j < loop.k; j++) {
    loop.alive[j] = !loop.failed;
    if (loop.failed) send_dead(j, 0, -1, how);
    else send_pid(j);
  }
}

static void relay_frame(const Hdr *h) {
  tide_Buf b = TIDE_BUF_INIT;
  int j = h->slot;
  if (h->loop != loop.id || !loop.active || loop.failed || j >= loop.k || h->gen != loop.gen[j] ||
      !loop.alive[j]) {
    tmpi_drop_body(0, TAG_CTRL, h);
    return;
  }
  tmpi_recv_body(0, TAG_CTRL, h, &b);
  if (h->type == TIDE_MSG_TASK && b.n >= 12) /* [u64 first][u32 count] */
    loop.owed[j] += tide_cur_u32(&(tide_Cursor){b.p + 8, b.p + 12, 0});
  /* a worker that died meanwhile shows as EOF on its socket */
  if (tide_msg_send(loop.pool.w[j].sock, h->type, &b) != TIDE_OK) lost(j);
  tide_buf_free(&b);
}

static void control(const Hdr *h) {
  int j = h->slot;
  int ours = h->loop == loop.id && loop.active && j < loop.k;
  switch (h->kind) {
    case K_SETUP: setup(h); break;
    case K_FRAME: relay_frame(h); break;
    case K_KILL:
      if (!ours) break;
      if (!loop.failed) tide_pool_kill(&loop.pool, j + 1);
      loop.alive[j] = 0;
      loop.owed[j] = 0;
      loop.gen[j] = h->gen;
      break;
    case K_RESPAWN:
      if (!ours) break;
      loop.gen[j] = h->gen;
      loop.sent_count[j] = 0;
      if (loop.failed) {
        char how[640];
        snprintf(how, sizeof how, "could not set up the loop: %s", loop.why);
        send_dead(j, 0, -1, how);
      } else if (tide_pool_respawn(&loop.pool, j + 1, worker_main, &loop) == TIDE_OK) {
        loop.alive[j] = 1;
        send_pid(j);
      } else {
        send_dead(j, 0, -1, tide_lasterror());
      }
      break;
    case K_HALT:
      if (h->loop != loop.id || !loop.active || loop.failed) break;
      for (int i = 0; i < loop.k; i++)
        if (loop.alive[i] && loop.pool.w[i].pid > 0) kill(loop.pool.w[i].pid, SIGKILL);
      memset(loop.alive, 0, sizeof loop.alive);
      break;
    case K_STOP: {
      if (h->loop != loop.id) break;
      sample_pss();
      uint64_t fig[4] = {loop.tasks, loop.received, loop.pss_peak, loop.node_peak};
      end_loop();
      tide_Buf b = TIDE_BUF_INIT;
      for (int i = 0; i < 4; i++) tide_buf_put_u64(&b, fig[i]);
      Hdr a = {.kind = K_STOP, .loop = h->loop, .len = b.n};
      tmpi_send(0, TAG_ACK, &a, b.p);
      tide_buf_free(&b);
      break;
    }
    default: tmpi_drop_body(0, TAG_CTRL, h);
  }
}

/* What the workers said: frames on to rank 0, ends as K_DEAD. */
static int relay_workers(int ms) {
  struct pollfd pf[256];
  int idx[256], n = 0;
  for (int j = 0; j < loop.k && loop.active && !loop.failed; j++)
    if (loop.alive[j]) {
      pf[n] = (struct pollfd){loop.pool.w[j].sock, POLLIN, 0};
      idx[n++] = j;
    }
  if (n == 0) {
    if (ms > 0) usleep((useconds_t)ms * 1000);
    return 0;
  }
  if (poll(pf, (nfds_t)n, ms) <= 0) return 0;
  static tide_Buf b = TIDE_BUF_INIT;
  int got = 0;
  for (int i = 0; i < n; i++) {
    if (!pf[i].revents) continue;
    int j = idx[i];
    uint8_t type;
    got = 1;
    if (tide_msg_recv(loop.pool.w[j].sock, &type, &b, MAX_MSG) != TIDE_OK) {
      tide_buf_reset(&b);
      lost(j);
      continue;
    }
    while (b.nfds > 0) close(b.fds[--b.nfds]); /* results by content: none expected */
    if (type == TIDE_MSG_RESULT && b.n >= 4) {
      tide_Cursor c = {b.p, b.p + b.n, 0};
      uint32_t count = tide_cur_u32(&c);
      loop.tasks += count;
      loop.owed[j] -= count;
      if (count) { /* its first entry's task */
        loop.sent_first[j] = (int64_t)tide_cur_u64(&c);
        loop.sent_count[j] = count;
      }
    }
    to_zero(K_FRAME, type, j, b.p, b.n);
    tide_buf_reset(&b);
    if (b.cap > ((size_t)16 << 20)) tide_buf_trim(&b, (size_t)1 << 20);
  }
  return got;
}

/* 1 when every live worker has tasks running: rank 0 sends nothing but
** rare control messages until one of them answers. */
static int all_owe(void) {
  int n = 0;
  for (int j = 0; j < loop.k && loop.active && !loop.failed; j++) {
    if (!loop.alive[j]) continue;
    if (loop.owed[j] <= 0) return 0;
    n++;
  }
  return n > 0;
}

int tmpi_serve(void) {
  tide_State *T = tide_open(NULL);
  if (!T) {
    fprintf(stderr, "tide: rank %d: cannot create a Lua state\n", tmpi_world.rank);
    return 1;
  }
  L = tide_lua(T);
  /* Lua's generational collector: what survives a full collection is old,
  ** and a young collection neither marks nor sweeps it.  A worker forked
  ** from this state then leaves the pages it inherited unwritten (an
  ** incremental cycle would mark every object, copying each page that
  ** holds one, interleaved as they are with Open MPI's allocations), so
  ** they stay shared with this rank: about 1 MB less on a node of two
  ** serving ranks with a worker each, measured in paired runs. */
  lua_gc(L, LUA_GCGEN, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  double last = now(), pss_at = 0;
  for (;;) {
    Hdr h;
    int busy = 0;
    while (tmpi_poll_hdr(0, TAG_CTRL, &h)) {
      if (h.kind == K_EXIT) {
        end_loop();
        tide_close(T);
        return 0;
      }
      control(&h);
      busy = 1;
    }
    double t = now();
    busy |= relay_workers(0);
    if (busy) {
      last = t;
    } else if (loop.active && t - last > 200e-6) {
      /* idle: wait on the workers' sockets a little instead of sleeping.
      ** Past the first 200 us (a tiny task's answer comes sooner, and
      ** yielding catches it fastest), a rank whose workers all have tasks
      ** sleeps in poll on their sockets: rank 0 sends it nothing but rare
      ** control messages until one answers, which then wait at most 1 ms,
      ** and its workers get the CPU it would spin on. */
      int block = t - last >= 20e-3 || all_owe();
      busy = relay_workers(block ? 1 : 0);
      if (!busy && !block) tmpi_backoff(t - last);
      if (busy) last = now();
    } else {
      tmpi_backoff(t - last);
    }
    if (loop.active && t - pss_at > 0.1) {
      sample_pss();
      pss_at = t;
    }
  }
}
