/*
** backend_fork.c -- the fork backend: workers are children forked from the
** script's process (pool.c does the forking), so the function, its
** upvalues and the loop's input reach them with no setup at all.  Each
** slot has a socketpair, a spill memfd and a slot word in shared memory,
** all inherited; see backend.h for the contract.
*/
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

typedef struct Fork {
  tide_Backend b;
  tide_Pool pool;         /* never moves: pool.c links it */
  tide_WorkerMain main;
  void *ud;
  struct pollfd pf[257];  /* wakefd and up to 256 slots */
} Fork;

static Fork *fork_of(tide_Backend *b) { return (Fork *)b; }

static int f_start(tide_Backend **out, const tide_BackendConfig *c) {
  *out = NULL;
  if (c->jobs > 256) return tide__seterr(TIDE_EINVAL, "at most 256 workers");
  Fork *f = tide__calloc(1, sizeof *f);
  if (!f) return tide__seterr(TIDE_ENOMEM, "out of memory");
  f->b.ops = &tide_backend_fork;
  f->b.jobs = c->jobs;
  f->main = c->main;
  f->ud = c->ud;
  int rc = tide_pool_start(&f->pool, c->jobs, c->main, c->ud);
  if (rc) {
    free(f);
    return rc;
  }
  *out = &f->b;
  return TIDE_OK;
}

static int f_respawn(tide_Backend *b, int id) {
  Fork *f = fork_of(b);
  return tide_pool_respawn(&f->pool, id, f->main, f->ud);
}

static int f_send(tide_Backend *b, int id, uint8_t type, const tide_Buf *msg) {
  return tide_msg_send(fork_of(b)->pool.w[id - 1].sock, type, msg);
}

static int f_recv(tide_Backend *b, int id, uint8_t *type, tide_Buf *msg, size_t max) {
  return tide_msg_recv(fork_of(b)->pool.w[id - 1].sock, type, msg, max);
}

static int f_wait(tide_Backend *b, const int *ids, int n, int wakefd, int ms, unsigned char *ready,
                  int *woken) {
  Fork *f = fork_of(b);
  struct pollfd *pf = f->pf;
  pf[0] = (struct pollfd){wakefd, POLLIN, 0};
  for (int i = 0; i < n; i++) pf[i + 1] = (struct pollfd){f->pool.w[ids[i] - 1].sock, POLLIN, 0};
  int r = poll(pf, (nfds_t)n + 1, ms);
  *woken = 0;
  if (r <= 0) return r;
  *woken = pf[0].revents != 0;
  for (int i = 0; i < n; i++) ready[i] = (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  return r;
}

static int f_reap(tide_Backend *b, int id, int block) {
  return tide_pool_try_reap(&fork_of(b)->pool, id, block);
}

static void f_kill(tide_Backend *b, int id) { tide_pool_kill(&fork_of(b)->pool, id); }

static void f_halt(tide_Backend *b) {
  tide_Pool *p = &fork_of(b)->pool;
  pid_t pids[256];
  int n = 0;
  for (int i = 0; i < p->n; i++)
    if (!p->w[i].reaped) pids[n++] = p->w[i].pid;
  tide__halt_pids(pids, n);
}

static tide_SlotWord *f_word(tide_Backend *b, int id) { return &fork_of(b)->pool.words[id - 1]; }

static int f_spill(tide_Backend *b, int id) { return fork_of(b)->pool.w[id - 1].spill; }

static void f_describe(tide_Backend *b, int id, char *who, size_t wlen, char *how, size_t hlen) {
  tide_Worker *w = &fork_of(b)->pool.w[id - 1];
  snprintf(who, wlen, "worker process %d", (int)w->pid);
  tide_pool_describe(w->status, how, hlen);
}

static void f_close(tide_Backend *b) {
  if (!b) return;
  tide_pool_close(&fork_of(b)->pool); /* in a worker's copy: only forgotten */
  free(b);
}

const tide_BackendOps tide_backend_fork = {
  .name = "fork",
  .flags = TIDE_BACKEND_INHERITS | TIDE_BACKEND_FDS,
  .start = f_start,
  .respawn = f_respawn,
  .setup = NULL, /* children inherit f and its input */
  .send = f_send,
  .recv = f_recv,
  .wait = f_wait,
  .reap = f_reap,
  .kill = f_kill,
  .halt = f_halt,
  .word = f_word,
  .spill = f_spill,
  .describe = f_describe,
  .close = f_close,
};
