/*
** backend.h -- how the scheduler (schedule.c) reaches its workers, whatever
** runs them: forked children (backend_fork.c), spawned `tide --worker`
** processes (backend_spawn.c, to come), or other MPI ranks (backend_mpi.c,
** to come).  As libuv keeps its platforms side by side behind one loop,
** each backend is one file that fills a tide_BackendOps; the scheduler
** calls only these functions and never asks which backend runs.
**
** THE CONTRACT every backend keeps
**
** Slots.  A backend runs n workers in slots 1..n.  The scheduler owns the
** slot numbers and decides when a slot's worker is lost (it died, broke the
** protocol, or ran past its timeout); the backend owns everything else
** about the worker: its process or rank, its connection, its slot word and
** its spill, and frees them in `close`.
**
** Threads.  `start`, `respawn`, `setup`, `halt` and `close` run on the
** script's thread (a fork needs it: a child has only the thread that
** forked).  `send`, `recv`, `wait`, `reap`, `kill`, `word`, `spill`,
** `describe` run on whichever thread serves the loop (its service thread,
** or the script's thread while no service thread runs), one at a time for
** a given loop; `recv` and `wait` run without the loop's lock, so they must
** not touch what `respawn` changes for a live slot (the scheduler never
** respawns a slot that is not dead).
**
** Messages.  `send` and `recv` move whole frames of tide's protocol
** (ipc.h: a type byte and a tide_Buf payload, descriptors attached):
** TIDE_MSG_TASK and TIDE_MSG_STOP to a worker, TIDE_MSG_RESULT from it
** (schedule.h gives their layout), and TIDE_MSG_SETUP once per loop per
** worker where the backend has one (below).  `send` takes a frame only for
** an idle worker, which waits in its own recv, so it does not block for
** long.  A frame's descriptors stay the caller's: the backend passes them
** on (SCM_RIGHTS on a socket) or, with no TIDE_BACKEND_FDS, must never be
** given any (the Lua side then encodes arrays by content).
**
** Descriptors.  A backend whose workers are processes on this machine
** gives each slot a connected socket; the socket, the pid and the spill
** memfd are the backend's, created in `start`/`respawn`, closed in `kill`
** (the socket) and `close` (everything).  None may leak into a worker of
** another slot or another loop (pool.c closes them in every child).
**
** Death.  When `recv` fails (EOF: the worker died) or `wait` reports a
** slot readable and its `recv` fails, the scheduler calls `reap(id, 0)` a
** few times so the real cause can be read, then `kill(id)`, which must
** leave the slot's worker gone for good and reaped (SIGKILL on a process;
** for a rank, whatever makes sure it serves no more tasks of this loop)
** and its connection closed.  `describe` then names the worker and its
** end: who = "worker process 1234" or "rank 3 (node7)", how = "killed by
** signal 9 (SIGKILL)", "exited with status 122: it was sent a malformed
** message" (pool.h names tide's own exit statuses).  Later the script's
** thread calls `respawn(id)` for a fresh worker in the slot, and `setup`
** again for it.  `halt` makes every worker stop at once without waiting
** (SIGKILL), so that a service thread blocked in `recv` on a half-sent
** frame returns; `close` then reaps.
**
** Spill and slot word.  A worker writes its results into its slot's spill
** (a memfd it maps as its output buffer) and commits each one in its slot
** word, which also names the task it runs (pool.h, tide_SlotWord).  After
** a death the scheduler reads the word and the spill -- `word(id)` and
** `spill(id)` -- to save finished results and to fail exactly the task
** that was running: a task that began is never run twice.  A backend that
** shares memory with its workers (fork: inherited; spawn: the word's and
** spill's memfds sent to the worker over the socket when it starts) gives
** both.  A backend that cannot (mpi: another machine) returns NULL from
** `word` and -1 from `spill`; then a lost worker's batch counts as not
** begun past what arrived, and the first task not received fails with the
** cause of death, the rest going back to the queue.  (An MPI rank runs its
** own local workers through the fork backend, with spill recovery there.)
**
** Leases.  A worker lends big result segments; when the parent drops one
** its id goes back (schedule.h, tide_LeaseBox): at once through the slot
** word's ring when `word` is shared, else (and when the ring is full) on
** the worker's next TASK message.  A backend without a shared word
** therefore needs nothing for leases; the ids simply ride on TASK.
**
** Setup.  A backend whose workers do not inherit the script's state (no
** TIDE_BACKEND_INHERITS: spawn, mpi) receives, once per loop per worker,
** the loop's setup payload -- the shipped function and its input, bytes
** made by the Lua side (runtime/bind/ship.c) -- through `setup(id,
** payload)`, called by the scheduler after `start` for every slot and
** after every `respawn`, before the slot's first TASK.  It usually sends
** it as one TIDE_MSG_SETUP frame (tide_backend_send_setup).  The fork
** backend has no `setup`: its children inherit f, its upvalues and the
** input by fork.  The payload stays the caller's.  `start` and `respawn`
** run on the script's thread while a service thread may be serving the
** other slots: a slot's state must not be shared with another's.
**
** Worker side.  Whatever starts it, a worker ends up in the same task loop,
** tideW_serve (runtime/bind/worker.c), on its end of the connection, with
** pool.h's tide_worker_word and tide_worker_spill set to its slot's word
** and spill (mapped from the memfds it was sent, on spawn) and its f and
** input in its own Lua state (tideW_Loop: a registry ref to {f, xs}).  A
** fork child gets all of it from pool.c; a spawned worker reads its SETUP
** frame, builds the state, then serves until STOP or EOF -- and a warm
** pool's worker may then wait for the next loop's SETUP.  Its exit status
** is 0 or one of pool.h's TIDE_WORKER_EXIT_*.
*/
#ifndef TIDE_BACKEND_H
#define TIDE_BACKEND_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"
#include "pool.h"

/* What `halt` does to the worker processes it stops: SIGKILL.  Coverage
** builds (cmake/coverage_exit.c) send SIGTERM first and give them a moment:
** a worker's task loop takes it as leave now, by _exit, which writes its
** gcov counters (a SIGKILLed process loses them: the code workers run
** would count as never run). */
#ifdef TIDE_COVERAGE
void tide__coverage_stop(const pid_t *pids, int n);
#endif
static inline void tide__halt_pids(const pid_t *pids, int n) {
#ifdef TIDE_COVERAGE
  tide__coverage_stop(pids, n);
#endif
  for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
}

/* Frames besides TASK, STOP and RESULT (schedule.h): the loop's setup. */
enum { TIDE_MSG_SETUP = 4 };

/* What a backend can do (tide_BackendOps.flags). */
enum {
  TIDE_BACKEND_INHERITS = 1, /* workers inherit the script's state (fork): no setup */
  TIDE_BACKEND_FDS = 2       /* frames may carry descriptors (same machine) */
};

typedef struct tide_Backend tide_Backend;

/* What the scheduler asks for when a loop starts. */
typedef struct tide_BackendConfig {
  int jobs;             /* slots 1..jobs */
  tide_WorkerMain main; /* INHERITS: what a child runs (see pool.h) */
  void *ud;             /* its argument */
  void *arg;            /* the backend's own (spawn: a warm tide_SpawnSet, or NULL) */
} tide_BackendConfig;

typedef struct tide_BackendOps {
  const char *name; /* "fork", "spawn", "mpi" */
  unsigned flags;   /* TIDE_BACKEND_* */
  /* Starts c->jobs workers; on failure nothing is left running and the
  ** error is set (tide__seterr). */
  int (*start)(tide_Backend **out, const tide_BackendConfig *c);
  /* A fresh worker in slot id, after `kill`. */
  int (*respawn)(tide_Backend *b, int id);
  /* The loop's setup payload to slot id; NULL when INHERITS. */
  int (*setup)(tide_Backend *b, int id, const tide_Buf *payload);
  /* One frame to / from slot id (ipc.h's codes: TIDE_ECLOSED on EOF,
  ** TIDE_EFORMAT on a malformed frame). */
  int (*send)(tide_Backend *b, int id, uint8_t type, const tide_Buf *msg);
  int (*recv)(tide_Backend *b, int id, uint8_t *type, tide_Buf *msg, size_t max);
  /* Waits up to ms for a frame (or EOF) from any of ids[0..n-1], or for
  ** wakefd (an eventfd, -1: none) to be readable; sets ready[i] for each
  ** slot that has something, *woken when wakefd is readable (it does not
  ** read it), and returns how many of both, 0 on timeout, -1 on error. */
  int (*wait)(tide_Backend *b, const int *ids, int n, int wakefd, int ms, unsigned char *ready,
              int *woken);
  /* 1 once slot id's worker has ended and its cause is known (block:
  ** wait for it). */
  int (*reap)(tide_Backend *b, int id, int block);
  /* Ends slot id's worker for good, reaps it, closes its connection. */
  void (*kill)(tide_Backend *b, int id);
  /* Stops every worker at once, without waiting (see above). */
  void (*halt)(tide_Backend *b);
  /* The slot's word and spill for recovery (see above): NULL / -1 when
  ** the backend shares no memory with its workers. */
  tide_SlotWord *(*word)(tide_Backend *b, int id);
  int (*spill)(tide_Backend *b, int id);
  /* who: "worker process 1234"; how: the end of a reaped worker. */
  void (*describe)(tide_Backend *b, int id, char *who, size_t wlen, char *how, size_t hlen);
  /* Kills, reaps and frees everything; in a forked child's copy of a
  ** loop, only forgets it (the workers are its parent's).  Idempotent. */
  void (*close)(tide_Backend *b);
  /* Optional, NULL on one machine.  slots: how many slots a loop gets for
  ** `jobs` workers per machine (0: each machine's default), where a slot
  ** is not one of this machine's workers (mpi: the sum over the serving
  ** ranks).  rank: the MPI rank that runs slot id, for job:stats(). */
  int (*slots)(int jobs);
  int (*rank)(tide_Backend *b, int id);
  /* Optional, for a backend with no word: the task a dead slot's worker
  ** was running when it died, as its own host saw it (0: none, between
  ** tasks), or -1 when that is not known.  Without it the first task not
  ** received is blamed. */
  int64_t (*running)(tide_Backend *b, int id);
} tide_BackendOps;

/* Every backend's handle begins with this. */
struct tide_Backend {
  const tide_BackendOps *ops;
  int jobs;
};

/* The backend named name, or NULL with why (e.g. "backend 'spawn' is not
** built yet") written into why. */
const tide_BackendOps *tide_backend_find(const char *name, char *why, size_t len);

/* The common `setup`: the payload as one TIDE_MSG_SETUP frame on a
** backend whose `send` takes it. */
int tide_backend_send_setup(tide_Backend *b, int id, const tide_Buf *payload);

extern const tide_BackendOps tide_backend_fork;

/* ---- spawn backend (backend_spawn.c) ---- */
extern const tide_BackendOps tide_backend_spawn;
/* A set of spawned workers kept up between loops (tide.pool{backend =
** "spawn"}): passed as tide_BackendConfig.arg, borrowed by one loop at a
** time.  warm: its idle workers outlive each loop. */
typedef struct tide_SpawnSet tide_SpawnSet;
tide_SpawnSet *tide_spawnset_new(int warm);
void tide_spawnset_unref(tide_SpawnSet *s); /* the last one kills and reaps */
int tide_spawnset_workers(const tide_SpawnSet *s); /* live worker processes */
/* tide_set_worker_exe (tide.h) names the program spawned as `tide --worker`. */

/* The backend of a loop that names none: "fork", or "mpi" once the tide-mpi
** program (runtime/mpi/) registered its backend under mpirun with more
** than one rank (tide_backend_use_mpi), so a script written for one
** machine runs unchanged. */
extern const char *tide_backend_default;
void tide_backend_use_mpi(const tide_BackendOps *ops);

#endif
