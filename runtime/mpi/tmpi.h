/*
** tmpi.h -- what the files of the tide-mpi program share: the world (ranks,
** hosts, node groups), and tide's messages over MPI.
**
** The tide program does not link libmpi (it starts as a drop-in lua, and
** MPI_Init alone costs more than a whole small script).  Under mpirun with
** more than one rank it executes tide-mpi, built beside it from the same
** runtime plus these files: rank 0 runs the script, every other rank
** serves its loops (serve.c), and the loops' default backend is "mpi"
** (backend_mpi.c).
**
** Messages.  Every message is a header (Hdr) then, when len > 0, its body
** in pieces of at most 1 GiB (no 2^31 count limit).  Rank 0 sends to a
** serving rank on TAG_CTRL; a serving rank sends what slot j's worker
** says on TAG_SLOT(j), so rank 0 can read one slot's frames without
** touching another's.  Headers carry the loop and the slot's generation:
** frames of a loop or a worker that are gone are read and dropped.
**
** Threads.  Open MPI is initialised MPI_THREAD_SERIALIZED and every call
** goes through one lock (tmpi_lock).  Nothing holds it while waiting for
** another process: sends are nonblocking and tested with the lock dropped
** in between, and receives are posted only once a probe saw the message,
** so two ranks sending each other a big message at once both progress.
*/
#ifndef TIDE_TMPI_H
#define TIDE_TMPI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "ipc.h"

enum {
  TAG_CTRL = 1,     /* rank 0 -> serving rank */
  TAG_SEG = 2,      /* a node's leader -> the node's other ranks: its segments */
  TAG_ACK = 3,      /* serving rank -> rank 0: a loop's end, with figures */
  TAG_SLOT0 = 16    /* serving rank -> rank 0: TAG_SLOT0 + j, slot j's frames */
};
#define TAG_SLOT(j) (TAG_SLOT0 + (j))

/* Kinds of messages. */
enum {
  K_SETUP = 1, /* a loop: [u32 k][u32 nseg] segs [u32 npeers] peers, then the payload */
  K_FRAME,     /* a frame to / from slot j (type: its ipc type) */
  K_KILL,      /* kill slot j's worker (gen: its next generation) */
  K_RESPAWN,   /* a fresh worker in slot j */
  K_HALT,      /* kill every worker of the loop at once */
  K_STOP,      /* the loop is over: free it, answer TAG_ACK */
  K_EXIT,      /* the script ended: MPI_Finalize */
  K_DEAD       /* slot j's worker ended: the body says how */
};

typedef struct Hdr {
  uint8_t kind, type;
  uint16_t slot;
  uint32_t loop, gen;
  uint64_t len;
} Hdr;

/* How a rank gets one shared segment of a loop's setup (serve.c). */
enum { SEG_PROC = 1, SEG_DATA, SEG_LEADER };

#define TMPI_HOST 64
typedef struct tmpi_Rank {
  char host[TMPI_HOST];
  int node;    /* index of its node group */
  int leader;  /* lowest serving rank of its node group (0 on rank 0's node) */
  int pid, ncpus, serving_on_node; /* serving ranks of its node */
} tmpi_Rank;

typedef struct tmpi_World {
  int rank, size;
  tmpi_Rank *r; /* size entries, the same on every rank */
} tmpi_World;

extern tmpi_World tmpi_world;

/* MPI_Init_thread, the world's table (TIDE_MPI_TEST_NODES="0,1,1": node
** groups by rank, a test's two machines on one). */
int tmpi_init(int *argc, char ***argv);
void tmpi_lock(void);
void tmpi_unlock(void);

/* Sends h and body (h->len bytes) to dest on tag; waits with the lock
** dropped.  0, or -1 when MPI failed. */
int tmpi_send(int dest, int tag, Hdr *h, const void *body);
/* 1 when a header waits from src on tag (then read into h), else 0. */
int tmpi_poll_hdr(int src, int tag, Hdr *h);
/* Reads the body (h->len bytes) that follows a header into b (appended). */
int tmpi_recv_body(int src, int tag, const Hdr *h, tide_Buf *b);
/* Reads and drops it. */
void tmpi_drop_body(int src, int tag, const Hdr *h);
/* A short pause that grows with idle (ns since the last activity). */
void tmpi_backoff(double idle);

/* The sum of the proportional set sizes of pid's mappings, in bytes. */
uint64_t tmpi_pss(pid_t pid);

/* backend_mpi.c: rank 0's side. */
extern const tide_BackendOps tide_backend_mpi;
void tmpi_open_lua(void *L); /* tide.mpi into the tide table at the top of L */
void tmpi_exit_all(void);     /* tells every serving rank the script ended */

/* serve.c: every other rank's life. */
int tmpi_serve(void);

#endif
