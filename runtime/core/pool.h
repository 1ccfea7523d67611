/*
** pool.h -- forked worker processes: start, watch, kill, reap.
**
** All the fork discipline lives in pool.c: signals blocked around fork(),
** the child resets dispositions, closes every other pool's sockets, dies
** with its parent (PR_SET_PDEATHSIG plus a getppid() check plus EOF on its
** socket), sets its BLAS thread budget, and leaves with _exit().  The
** parent reaps every child it forked: no zombies.
*/
#ifndef TIDE_POOL_H
#define TIDE_POOL_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

typedef struct tide_Worker {
  pid_t pid;     /* 0 once reaped */
  int sock;      /* parent's end of the socketpair; -1 once closed */
  int spill;     /* the slot's spill file (memfd), kept across respawns */
  int id;        /* 1-based slot number */
  int status;    /* waitpid status once reaped */
  int reaped;
} tide_Worker;

/* What a slot's worker tells its parent through shared memory, so that
** its death loses nothing: the task it is running (0: none) and how many
** bytes at the start of its spill file hold whole, finished results.  A
** worker writes its results into the spill file (a memfd mapped as its
** output buffer) and commits each one before it clears `task`; the parent
** reads both only after the worker died.
**
** The word also carries small notes from the parent to a busy worker
** without a message: a ring of 32-bit values (worker.c: result segments
** given back), written by the parent up to back_head, read by the worker
** up to back_tail.
**
** A worker that gets a setup payload (spawn) stores when it finished
** reading it in `ready` (tide_now() in ns; 0 until then): a batch's
** timeout counts from there, not from a start the task had no part in. */
#define TIDE_BACK_RING 16
typedef struct tide_SlotWord {
  _Alignas(64) _Atomic int64_t task; /* a cache line each: workers write per task */
  _Atomic uint64_t committed;
  _Atomic uint32_t back_head, back_tail;
  uint32_t back[TIDE_BACK_RING];
  _Atomic int64_t ready;
} tide_SlotWord;

typedef struct tide_Pool tide_Pool;
struct tide_Pool {
  int n;               /* slots */
  tide_Worker *w;      /* n slots */
  tide_SlotWord *words; /* n words, MAP_SHARED: see tide_SlotWord */
  int foreign;         /* inherited by a worker: not ours to kill */
  tide_Pool *next, *prev; /* every live pool, so children close the others */
};

/* The function a child runs; its return value is the child's exit code.
** sock is the child's end of its socket.  Exit codes of tide's own
** (tide_pool_describe names them), far from the small ones scripts use: */
enum {
  TIDE_WORKER_EXIT_READ = 121,     /* could not read from its parent */
  TIDE_WORKER_EXIT_PROTOCOL = 122, /* its parent sent a malformed message */
  TIDE_WORKER_EXIT_SEND = 123      /* could not send its results */
};
typedef int (*tide_WorkerMain)(void *ud, int sock, int id);

/* fork() with tide's discipline, for every child it makes (workers, the
** monitor's sampler): output flushed and every signal blocked around it,
** the fork epoch advanced (segments alive now may be mapped by the child).
** In the child, before it returns 0: it dies with its parent
** (PR_SET_PDEATHSIG, and a parent gone before that is noticed), every
** pool's sockets are closed and the pools forgotten, signals are at their
** defaults with SIGINT ignored (the parent owns Ctrl-C) and none blocked.
** Returns as fork(). */
pid_t tide__fork(void);

/* Starts n workers (slots 1..n), each with a spill file and a word.  On
** failure nothing is left running. */
int tide_pool_start(tide_Pool *p, int n, tide_WorkerMain fn, void *ud);
/* Replaces slot id (after it died or was killed) with a fresh child. */
int tide_pool_respawn(tide_Pool *p, int id, tide_WorkerMain fn, void *ud);
/* SIGKILLs slot id (if alive), closes its socket and reaps it. */
void tide_pool_kill(tide_Pool *p, int id);
/* Reaps slot id if it has exited; returns 1 when reaped (status set). */
int tide_pool_try_reap(tide_Pool *p, int id, int block);
/* Reaps child pid (block: wait for it); 1 when it is gone, its wait status
** in *status (0 when something else reaped it).  EINTR is retried. */
int tide__reap(pid_t pid, int block, int *status);
/* Kills and reaps every slot, frees the slots.  Idempotent.  In a worker,
** a pool inherited from its parent is only forgotten. */
void tide_pool_close(tide_Pool *p);

/* "killed by signal 9 (SIGKILL)" / "exited with status 3" into buf. */
const char *tide_pool_describe(int status, char *buf, size_t len);

/* In a worker: its slot's word and spill descriptor (see tide_SlotWord). */
extern tide_SlotWord *tide_worker_word;
extern int tide_worker_spill;

/* Set by tide_interrupt() (async-signal-safe, from a SIGINT handler, or
** from another thread of an embedding host: so an atomic, lock-free, not a
** volatile); waits in the pool poll it and cancel.  Cleared by the one who
** acts. */
extern atomic_int tide__interrupted;


#endif
