/*
** schedule.h -- the parent's side of a parallel loop, in C: workers, batches,
** the in-flight window, and a service thread that keeps them busy.
**
** A loop's workers must never wait for the script.  So the parent runs one
** service thread per loop that owns the workers' sockets: it sends each
** idle worker its next batch, reads what workers send back into a queue of
** events, and notices deaths and timeouts -- all without Lua.  The script's
** thread takes the events when it calls into the loop and turns them into
** Lua values (decoding needs the Lua state); it also draws items from an
** iterator input, since that runs Lua, and forks replacements for workers
** that died (fork needs the script's thread: a child has only the thread
** that forked).  Every fork in the process, from here or elsewhere, first
** parks every service thread (pthread_atfork), so a child never inherits a
** half-made change.
**
** Results are never lost and a task that began is never run twice: each
** worker keeps its results in its slot's spill file and says in its slot's
** word which task it runs (pool.h).  When a worker dies, the results it
** had finished come back from its spill, the task it was running fails with
** the cause of death, and the tasks of its batch it had not begun go back
** to the queue for another worker.
**
** Messages: TASK [u64 first][u32 count][u32 nback][nback x u32 lease id]
** then, when tasks carry items, per task [u32 len][u32 nfds][len bytes],
** the items' descriptors attached in order.  RESULT [u32 count] then count
** entries (see tide_Entry).
*/
#ifndef TIDE_SCHEDULE_H
#define TIDE_SCHEDULE_H

#include <stdint.h>

#include "backend.h"
#include "ipc.h"

enum { TIDE_MSG_TASK = 1, TIDE_MSG_STOP = 2, TIDE_MSG_RESULT = 3 };

/* One entry of a RESULT message: [u64 task][u8 status][f64 begin][f64 end],
** then status 0: [u32 n] and n x ([u32 len][len bytes]) encoded results;
** status 1: [u32 len][message]. */
typedef struct tide_Entry {
  int64_t task;
  int status;
  double begin, end;
  uint32_t n;                 /* status 0: results */
  const unsigned char *body;  /* status 0: the n results; 1: the message */
  size_t len;                 /* bytes at body */
} tide_Entry;

/* Reads the next entry; 0 at the end of c, -1 when malformed. */
int tide_entry_next(tide_Cursor *c, tide_Entry *e);

/* Result segments a worker lent that the parent dropped go back to it
** through its slot word's ring at once, even while it runs a task; when
** the ring is full they wait here to ride on the worker's next TASK.  A box
** outlives its loop while results the worker lent are alive.  Guarded by
** one process-wide lock. */
#define TIDE_LEASE_BACK_MAX 64
typedef struct tide_LeaseBox {
  int refs, alive, n;
  tide_SlotWord *word; /* while alive; NULL when the backend shares none */
  uint32_t ids[TIDE_LEASE_BACK_MAX];
} tide_LeaseBox;

void tide_lease_box_ref(tide_LeaseBox *b);
/* A lent segment was freed (clean: no other process can map it). */
void tide_lease_box_freed(tide_LeaseBox *b, uint32_t id, int clean);
void tide_lease_box_unref(tide_LeaseBox *b);

enum { TIDE_EV_FRAME = 1, TIDE_EV_FAIL = 2 };

typedef struct tide_Event {
  struct tide_Event *next;
  int kind, slot;
  tide_LeaseBox *box;  /* FRAME: leases of the worker that sent it (a ref) */
  tide_Buf buf;        /* FRAME: [u32 count][entries], with descriptors */
  double sent;         /* FRAME: when its batch was sent */
  int64_t task;        /* FAIL */
  int hard;            /* FAIL: an error (1) or a timeout (0) */
  struct tide_Sched *home; /* the loop's spare: freeing it gives it back */
  char msg[];          /* FAIL */
} tide_Event;

/* Frees an event; the loop's spare goes back to its loop (which must still
** be open: free a loop's events before tide_sched_close). */
void tide_event_free(tide_Event *e);

typedef struct tide_SchedConfig {
  int jobs;
  int64_t total;        /* tasks; -1 until tide_sched_set_total */
  int items;            /* tasks carry items (tide_sched_add_item) */
  int chunk_auto;       /* batches adapt toward 100 ms */
  int64_t chunk;        /* the batch size, or the first one when auto */
  int64_t window;       /* tasks drawn and not consumed; 0: default, -1: none */
  int consume_on_arrival; /* results count as consumed when they arrive */
  int raise;            /* a failure (not a timeout) ends the loop ... */
  int halt_on_fail;     /* ... at once (else: tasks before it still run) */
  double timeout;       /* seconds per batch, 0: none */
  const tide_BackendOps *backend; /* what runs the workers (backend.h) */
  void *backend_arg;    /* tide_BackendConfig.arg */
  tide_WorkerMain worker; /* a backend that INHERITS: what its children run */
  void *ud;
  const tide_Buf *setup;  /* the rest: the loop's setup payload, kept by the
                          ** caller until tide_sched_close */
} tide_SchedConfig;

typedef struct tide_Sched tide_Sched;

/* Starts the workers through c->backend.  Until tide_sched_background, the loop advances
** only inside tide_sched_wait. */
int tide_sched_start(tide_Sched **out, const tide_SchedConfig *c);
/* Starts the service thread, if it is not running: the script goes off to
** do something else while the loop runs. */
int tide_sched_background(tide_Sched *S);
/* Stops the thread, kills and reaps the workers, frees everything. */
void tide_sched_close(tide_Sched *S);

/* The events that arrived, oldest first (the caller frees each); NULL
** when none. */
tide_Event *tide_sched_take(tide_Sched *S);
/* Waits up to ms for an event (serving the workers itself when no service
** thread runs); 1 when one is there. */
int tide_sched_wait(tide_Sched *S, int ms);
/* The loop's own failure, or TIDE_OK: the service side ran out of memory
** where it could not report a task's outcome as an event (a worker lost
** while no FAIL event could be had, tasks it could not give back, results
** it could not keep).  The loop then hands out no more tasks; the script's
** thread raises this (the message is set) after taking the events queued
** before it.  tide_sched_wait returns 1 once it is set. */
int tide_sched_error(tide_Sched *S);
/* Replaces workers that died (the script's thread only: fork needs it). */
int tide_sched_respawn(tide_Sched *S);
/* n results were handed to the script. */
void tide_sched_consumed(tide_Sched *S, int64_t n);
/* Task failed in a way only the script's side saw (a result that cannot
** be decoded). */
void tide_sched_fail(tide_Sched *S, int64_t task);
/* Items that may be drawn now: the window's room. */
int64_t tide_sched_item_room(tide_Sched *S);
/* Hands over task task's item (bytes and descriptors move out of b). */
int tide_sched_add_item(tide_Sched *S, int64_t task, tide_Buf *b);
void tide_sched_set_total(tide_Sched *S, int64_t total);
/* 1 when nothing runs, nothing waits to be sent or respawned, no event is
** queued and the loop has no error: a task not done by then will never be. */
int tide_sched_idle(tide_Sched *S);
int tide_sched_jobs(const tide_Sched *S);
/* The MPI rank running slot (backend.h, rank), or -1. */
int tide_sched_rank(const tide_Sched *S, int slot);

#endif
