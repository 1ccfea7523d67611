/*
** backend_spawn.c -- the spawn backend: workers are fresh `tide --worker`
** processes started with posix_spawn, for hosts where fork is unsafe (a C
** host with threads running).  See backend.h for the contract.
**
** posix_spawn (glibc: clone with CLONE_VM | CLONE_VFORK, then exec) runs no
** atfork handler and copies no other thread's half-made state: the child
** execs at once.  It gets exactly four descriptors -- stdin, stdout,
** stderr and its end of a socketpair as SPAWN_FD (every other one closed by
** closefrom in the child) -- its signals at their defaults and all blocked
** until it ignores SIGINT (the parent owns Ctrl-C), and its parent's pid,
** to die with it (PR_SET_PDEATHSIG plus a getppid() check, as forked
** workers do: runtime/bind/worker_spawn.c).
**
** A worker inherits nothing else, so each slot's word and spill (memfds)
** travel with every SETUP frame over SCM_RIGHTS, and the loop's function
** and input come in that frame's payload (shipped by ship.c; arrays as
** their segments' descriptors: zero-copy).  SETUP frame: [u32 version]
** [u32 slot][u32 jobs][u32 parent's gen][i32 BLAS threads][u64 share_bytes]
** [u32 len][temp_dir] then the loop's payload; descriptors: word, spill,
** then the payload's.
**
** Warm sets.  A tide_SpawnSet keeps its workers up between loops (what
** tide.pool{backend = "spawn"} holds): a loop borrows the set, and when it
** closes, each worker that owes no result (it is idle in its recv) gets a
** STOP and waits for the next loop's SETUP; any other is killed and comes
** back fresh when a loop needs it.  A loop whose set is busy (two loops
** of one pool at once) spawns workers of its own, gone when it closes.
**
** Which program: $TIDE_WORKER_EXE if set, else the program that said it is
** tide (tide_set_worker_exe, called by the tide CLI: /proc/self/exe), else
** the installed tide (TIDE_INSTALL_BINDIR/tide).
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "pool.h"
#include "schedule.h"

extern char **environ;

#define SPAWN_FD 3       /* the worker's end of its socket */
#define SPAWN_VERSION 1  /* of the SETUP header */
#define MAX_SLOTS 256

typedef struct SWorker {
  pid_t pid;
  int sock, spill, wordfd; /* -1 when closed */
  tide_SlotWord *word;     /* wordfd mapped */
  int status, reaped;      /* reaped: no live process in the slot */
  _Atomic int64_t owed;    /* tasks sent and not answered: 0 = idle */
} SWorker;

struct tide_SpawnSet {
  int refs, busy, warm, foreign;
  int n;                   /* slots 1..n ever used */
  SWorker w[MAX_SLOTS];
  tide_SpawnSet *next, *prev; /* every set, so a forked child closes their fds */
};

typedef struct Spawn {
  tide_Backend b;
  tide_SpawnSet *set;
  struct pollfd pf[MAX_SLOTS + 1];
} Spawn;

static Spawn *spawn_of(tide_Backend *b) { return (Spawn *)b; }

/* ------------------------------------------------------------ the program */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* exe and the list of sets */
static char self_exe[4096];
static tide_SpawnSet *sets;

void tide_set_worker_exe(const char *path) {
  pthread_mutex_lock(&mu);
  snprintf(self_exe, sizeof self_exe, "%s", path ? path : "");
  pthread_mutex_unlock(&mu);
}

static int find_exe(char *buf, size_t len) {
  const char *env = getenv("TIDE_WORKER_EXE");
  if (env && env[0]) {
    snprintf(buf, len, "%s", env);
    if (access(buf, X_OK) != 0)
      return tide__syserr(TIDE_EINVAL, errno, "backend 'spawn': TIDE_WORKER_EXE '%s' cannot be run", buf);
    return TIDE_OK;
  }
  pthread_mutex_lock(&mu);
  snprintf(buf, len, "%s", self_exe);
  pthread_mutex_unlock(&mu);
  if (buf[0]) return TIDE_OK;
#ifdef TIDE_INSTALL_BINDIR
  snprintf(buf, len, "%s/tide", TIDE_INSTALL_BINDIR);
  if (access(buf, X_OK) == 0) return TIDE_OK;
#endif
  return tide__seterr(TIDE_EINVAL, "backend 'spawn' cannot find the tide program to run as a "
                                   "worker: set TIDE_WORKER_EXE to its path");
}

/* ------------------------------------------------------------ sets */

/* A forked child (fork backend, monitor) must not keep the descriptors of
** spawned workers: they are its parent's.  It forgets every set. */
static void atfork_child(void) {
  for (tide_SpawnSet *s = sets; s; s = s->next) {
    for (int i = 0; i < s->n; i++) { /* (closing a -1 is harmless) */
      SWorker *w = &s->w[i];
      close(w->sock);
      close(w->spill);
      close(w->wordfd);
      w->sock = w->spill = w->wordfd = -1;
    }
    s->foreign = 1;
  }
  sets = NULL;
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

tide_SpawnSet *tide_spawnset_new(int warm) {
  pthread_once(&atfork_once, register_atfork);
  tide_SpawnSet *s = tide__calloc(1, sizeof *s);
  if (!s) return NULL;
  s->refs = 1;
  s->warm = warm;
  for (int i = 0; i < MAX_SLOTS; i++) {
    s->w[i].sock = s->w[i].spill = s->w[i].wordfd = -1;
    s->w[i].reaped = 1;
  }
  pthread_mutex_lock(&mu);
  s->next = sets;
  if (sets) sets->prev = s;
  sets = s;
  pthread_mutex_unlock(&mu);
  return s;
}

static int try_reap(SWorker *w, int block) {
  if (!w->reaped && tide__reap(w->pid, block, &w->status)) w->reaped = 1;
  return w->reaped;
}

static void kill_worker(SWorker *w) {
  if (!w->reaped) {
    kill(w->pid, SIGKILL);
    try_reap(w, 1);
  }
  if (w->sock >= 0) close(w->sock);
  w->sock = -1;
  atomic_store(&w->owed, 0);
}

static int workers_alive(tide_SpawnSet *s) {
  int n = 0;
  for (int i = 0; i < s->n; i++) n += !s->w[i].reaped;
  return n;
}

void tide_spawnset_unref(tide_SpawnSet *s) {
  if (!s || --s->refs > 0) return;
  if (!s->foreign) {
    pid_t pids[MAX_SLOTS];
    int n = 0;
    for (int i = 0; i < s->n; i++) /* all at once, then reap */
      if (!s->w[i].reaped) pids[n++] = s->w[i].pid;
    tide__halt_pids(pids, n);
    for (int i = 0; i < s->n; i++) {
      SWorker *w = &s->w[i];
      kill_worker(w);
      if (w->spill >= 0) close(w->spill);
      if (w->wordfd >= 0) close(w->wordfd);
    }
    pthread_mutex_lock(&mu);
    if (s->prev) s->prev->next = s->next;
    else if (sets == s) sets = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&mu);
  }
  for (int i = 0; i < s->n; i++)
    if (s->w[i].word) munmap(s->w[i].word, sizeof *s->w[i].word);
  free(s);
}

int tide_spawnset_workers(const tide_SpawnSet *s) {
  return workers_alive((tide_SpawnSet *)s);
}

/* The slot's word and spill, made once and kept across its workers. */
static int slot_memory(SWorker *w, int id) {
  if (w->wordfd < 0) {
    int fd = tide__memfd_create("tide-word", MFD_CLOEXEC);
    if (fd < 0)
      return tide__syserr(tide__errno_code(errno), errno, "cannot create a word for worker %d", id);
    void *p = MAP_FAILED;
    if (tide__ftruncate(fd, sizeof *w->word) == 0)
      p = tide__mmap(NULL, sizeof *w->word, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { /* the slot keeps no half-made word: the next try starts over */
      int e = errno;
      close(fd);
      return tide__syserr(tide__errno_code(e), e, "cannot make the word of worker %d", id);
    }
    w->wordfd = fd;
    w->word = p;
  }
  if (w->spill < 0) {
    w->spill = tide__memfd_create("tide-spill", MFD_CLOEXEC);
    if (w->spill < 0)
      return tide__syserr(tide__errno_code(errno), errno, "cannot create a spill file for worker %d",
                          id);
  }
  return TIDE_OK;
}

/* Starts a fresh worker in slot id of s. */
static int spawn_one(tide_SpawnSet *s, int id) {
  SWorker *w = &s->w[id - 1];
  kill_worker(w);
  if (id > s->n) s->n = id; /* its memory is the set's from now: freed with it */
  int rc = slot_memory(w, id);
  if (rc) return rc;
  char exe[4096];
  rc = find_exe(exe, sizeof exe);
  if (rc) return rc;
  int sv[2];
  if (tide__socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return tide__syserr(TIDE_EIO, errno, "cannot create a socket for worker %d", id);
  if (sv[1] == SPAWN_FD) { /* dup2 onto itself would keep its close-on-exec flag */
    int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, SPAWN_FD + 1);
    close(sv[1]);
    sv[1] = fd;
    if (fd < 0) {
      close(sv[0]);
      return tide__syserr(TIDE_EIO, errno, "cannot create a socket for worker %d", id);
    }
  }
  char fdarg[16], pidarg[24];
  snprintf(fdarg, sizeof fdarg, "%d", SPAWN_FD);
  snprintf(pidarg, sizeof pidarg, "%ld", (long)getpid());
  char worker[] = "--worker";
  char *argv[] = {exe, worker, fdarg, pidarg, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_adddup2(&fa, sv[1], SPAWN_FD);
  posix_spawn_file_actions_addclosefrom_np(&fa, SPAWN_FD + 1);
  sigset_t all, dfl;
  sigfillset(&all);
  sigfillset(&dfl);
  sigdelset(&dfl, SIGKILL);
  sigdelset(&dfl, SIGSTOP);
  posix_spawnattr_setsigmask(&at, &all); /* the worker unblocks once SIGINT is ignored */
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  atomic_store(&w->word->task, 0); /* the new worker's spill holds nothing yet */
  atomic_store(&w->word->committed, 0);
  atomic_store(&w->word->back_head, 0);
  atomic_store(&w->word->back_tail, 0);
  fflush(NULL); /* the worker writes to the same stdout: keep the order */
  pid_t pid;
  int e = tide__posix_spawn(&pid, exe, &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(sv[1]);
  if (e) {
    close(sv[0]);
    return tide__syserr(TIDE_EIO, e, "cannot start worker %d (%s --worker)", id, exe);
  }
  w->pid = pid;
  w->sock = sv[0];
  w->status = 0;
  w->reaped = 0;
  atomic_store(&w->owed, 0);
  return TIDE_OK;
}

/* ------------------------------------------------------------ the backend */

static int s_start(tide_Backend **out, const tide_BackendConfig *c) {
  *out = NULL;
  if (c->jobs > MAX_SLOTS) return tide__seterr(TIDE_EINVAL, "at most %d workers", MAX_SLOTS);
  Spawn *sp = tide__calloc(1, sizeof *sp);
  if (!sp) return tide__seterr(TIDE_ENOMEM, "out of memory");
  tide_SpawnSet *s = c->arg;
  if (s && !s->busy && !s->foreign) {
    s->refs++;
  } else {
    s = tide_spawnset_new(0);
    if (!s) {
      free(sp);
      return tide__seterr(TIDE_ENOMEM, "out of memory");
    }
  }
  s->busy = 1;
  sp->b.ops = &tide_backend_spawn;
  sp->b.jobs = c->jobs;
  sp->set = s;
  for (int id = 1; id <= c->jobs; id++) {
    SWorker *w = &s->w[id - 1];
    int rc = TIDE_OK;
    if (w->reaped || w->sock < 0 || try_reap(w, 0)) {
      rc = spawn_one(s, id);
    } else { /* warm: idle since its STOP */
      atomic_store(&w->word->task, 0);
      atomic_store(&w->word->committed, 0);
      atomic_store(&w->word->back_head, 0);
      atomic_store(&w->word->back_tail, 0);
    }
    if (rc) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", tide_lasterror());
      sp->b.jobs = id - 1;
      for (int j = 1; j <= id - 1 && !s->warm; j++) kill_worker(&s->w[j - 1]);
      s->busy = 0;
      tide_spawnset_unref(s);
      free(sp);
      return tide__seterr(rc, "%s", msg);
    }
  }
  *out = &sp->b;
  return TIDE_OK;
}

static int s_respawn(tide_Backend *b, int id) { return spawn_one(spawn_of(b)->set, id); }

static int s_setup(tide_Backend *b, int id, const tide_Buf *payload) {
  SWorker *w = &spawn_of(b)->set->w[id - 1];
  /* the frame carries the worker's word and spill too: checked before
  ** tide_buf_put_fd refuses the 63rd array with a less useful message */
  if (payload->nfds > TIDE_MSG_MAXFDS - 2)
    return tide__seterr(TIDE_EINVAL, "backend 'spawn': the loop's function and input hold %d "
                        "shared arrays; at most %d", payload->nfds, TIDE_MSG_MAXFDS - 2);
  tide_Buf f = TIDE_BUF_INIT;
  int bud = tide__config.blas_threads_per_worker;
  if (bud <= 0) bud = tide_ncpus() / (b->jobs > 0 ? b->jobs : 1);
  if (bud < 1) bud = 1;
  size_t tdlen = strlen(tide__config.temp_dir);
  int rc = tide_buf_grow(&f, 6 * 4 + 8 + tdlen + payload->n); /* the puts below then fit */
  if (!rc) {
    tide_buf_put_u32(&f, SPAWN_VERSION);
    tide_buf_put_u32(&f, (uint32_t)id);
    tide_buf_put_u32(&f, (uint32_t)b->jobs);
    tide_buf_put_u32(&f, tide__config.gen);
    tide_buf_put_u32(&f, (uint32_t)bud);
    tide_buf_put_u64(&f, (uint64_t)tide__config.share_bytes);
    tide_buf_put_u32(&f, (uint32_t)tdlen);
    tide_buf_put(&f, tide__config.temp_dir, tdlen);
    tide_buf_put(&f, payload->p, payload->n);
  }
  rc = rc || tide_buf_put_fd(&f, w->wordfd) < 0 || tide_buf_put_fd(&f, w->spill) < 0;
  for (int i = 0; !rc && i < payload->nfds; i++) rc = tide_buf_put_fd(&f, payload->fds[i]) < 0;
  if (rc) {
    tide_buf_free(&f);
    return tide__seterr(TIDE_ENOMEM, "cannot build the setup of worker %d", id);
  }
  rc = tide_msg_send(w->sock, TIDE_MSG_SETUP, &f);
  tide_buf_free(&f);
  if (rc) return tide__seterr(rc, "cannot send worker %d its setup: %s", id, tide_lasterror());
  return TIDE_OK;
}

static int s_send(tide_Backend *b, int id, uint8_t type, const tide_Buf *msg) {
  SWorker *w = &spawn_of(b)->set->w[id - 1];
  if (type == TIDE_MSG_TASK && msg->n >= 12) { /* [u64 first][u32 count] */
    tide_Cursor c = {msg->p + 8, msg->p + 12, 0};
    atomic_fetch_add(&w->owed, (int64_t)tide_cur_u32(&c));
  }
  return tide_msg_send(w->sock, type, msg);
}

static int s_recv(tide_Backend *b, int id, uint8_t *type, tide_Buf *msg, size_t max) {
  SWorker *w = &spawn_of(b)->set->w[id - 1];
  int rc = tide_msg_recv(w->sock, type, msg, max);
  if (rc == TIDE_OK && *type == TIDE_MSG_RESULT && msg->n >= 4) {
    tide_Cursor c = {msg->p, msg->p + 4, 0};
    atomic_fetch_sub(&w->owed, (int64_t)tide_cur_u32(&c));
  }
  return rc;
}

static int s_wait(tide_Backend *b, const int *ids, int n, int wakefd, int ms, unsigned char *ready,
                  int *woken) {
  Spawn *sp = spawn_of(b);
  struct pollfd *pf = sp->pf;
  pf[0] = (struct pollfd){wakefd, POLLIN, 0};
  for (int i = 0; i < n; i++) pf[i + 1] = (struct pollfd){sp->set->w[ids[i] - 1].sock, POLLIN, 0};
  int r = poll(pf, (nfds_t)n + 1, ms);
  *woken = 0;
  if (r <= 0) return r;
  *woken = pf[0].revents != 0;
  for (int i = 0; i < n; i++) ready[i] = (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  return r;
}

static int s_reap(tide_Backend *b, int id, int block) {
  return try_reap(&spawn_of(b)->set->w[id - 1], block);
}

static void s_kill(tide_Backend *b, int id) { kill_worker(&spawn_of(b)->set->w[id - 1]); }

/* Idle workers of a warm set owe nothing and wait in recv: they stay. */
static int keeps(tide_SpawnSet *s, SWorker *w) {
  return s->warm && !w->reaped && w->sock >= 0 && atomic_load(&w->owed) == 0;
}

static void s_halt(tide_Backend *b) {
  tide_SpawnSet *s = spawn_of(b)->set;
  pid_t pids[MAX_SLOTS];
  int n = 0;
  for (int i = 0; i < b->jobs; i++)
    if (!s->w[i].reaped && !keeps(s, &s->w[i])) pids[n++] = s->w[i].pid;
  tide__halt_pids(pids, n);
}

static tide_SlotWord *s_word(tide_Backend *b, int id) { return spawn_of(b)->set->w[id - 1].word; }

static int s_spill(tide_Backend *b, int id) { return spawn_of(b)->set->w[id - 1].spill; }

static void s_describe(tide_Backend *b, int id, char *who, size_t wlen, char *how, size_t hlen) {
  SWorker *w = &spawn_of(b)->set->w[id - 1];
  snprintf(who, wlen, "worker process %d", (int)w->pid);
  tide_pool_describe(w->status, how, hlen);
}

static void s_close(tide_Backend *b) {
  if (!b) return;
  tide_SpawnSet *s = spawn_of(b)->set;
  if (!s->foreign) {
    for (int i = 0; i < b->jobs; i++) {
      SWorker *w = &s->w[i];
      if (keeps(s, w) && !try_reap(w, 0)) {
        tide_Buf none = TIDE_BUF_INIT;
        if (tide_msg_send(w->sock, TIDE_MSG_STOP, &none) == TIDE_OK) continue;
      }
      kill_worker(w);
    }
    s->busy = 0;
  }
  tide_spawnset_unref(s);
  free(b);
}

const tide_BackendOps tide_backend_spawn = {
  .name = "spawn",
  .flags = TIDE_BACKEND_FDS,
  .start = s_start,
  .respawn = s_respawn,
  .setup = s_setup,
  .send = s_send,
  .recv = s_recv,
  .wait = s_wait,
  .reap = s_reap,
  .kill = s_kill,
  .halt = s_halt,
  .word = s_word,
  .spill = s_spill,
  .describe = s_describe,
  .close = s_close,
};
