/*
** par.h -- what the three files of parallel loops share: l_par.c (the Lua
** surface: tide.map, collect, start, pfor, task_rng), l_job.c (the job: its
** handle's methods, and in the parent turning what the scheduler received
** into Lua values), and worker.c (a worker's task loop, whatever backend
** started it).
*/
#ifndef TIDE_PAR_H
#define TIDE_PAR_H

#include "bind.h"
#include "schedule.h"

#define JOB_MT "tide.job"
#define SPAWNSET_MT "tide.spawnset"

enum { IN_COUNT, IN_TABLE, IN_ARRAY, IN_ITER };
/* What the job is for: how results count as consumed, when a failure stops. */
enum { MODE_MAP, MODE_START, MODE_COLLECT, MODE_PFOR };
/* Job uservalues.  UV_SOFT: task -> true for failures that do not raise
** (timeouts).  UV_ITEMS: the serial backend's drawn items. */
enum { UV_F = 1, UV_XS, UV_RES, UV_PACK, UV_ERR, UV_SOFT, UV_QUEUE, UV_ITEMS, UV_PROG,
       UV_BARG, NUV = UV_BARG }; /* UV_BARG: what backend_arg points into (a warm set) */

#define MAX_MSG ((size_t)1 << 31)

typedef struct TaskStat {
  double wall, wait;
  int worker;
  int rank;  /* mpi: the rank that ran the task; -1 elsewhere */
} TaskStat;

typedef struct Job {
  tide_Sched *S;                /* the scheduler while workers run */
  const tide_BackendOps *backend; /* what runs them (serial: NULL) */
  int jobs, mode, started, closed, serial;
  int order_completed, on_error_yield, retain;
  double timeout, t0, last_progress;
  int chunk_auto;
  int64_t chunk, inflight;      /* inflight 0: the default window */
  int kind;
  int64_t total;                /* -1 while an iterator input is not exhausted */
  int64_t next_fresh;           /* serial: next task; else: next item to draw */
  int64_t next_yield;           /* submitted order: next task to hand out */
  int64_t ndone;
  int64_t qhead, qtail;         /* finished tasks in order of arrival */
  int64_t takehead;             /* job:take() reads the same queue */
  int64_t fail_index;           /* the lowest failed task that raises */
  int has_seed;                 /* seed given: serial loops reseed too */
  lua_Integer seed;             /* the loop's seed (a fresh one if none given) */
  TaskStat *stats;
  int64_t nstats;
  tide_Event *evq, *cur_ev;     /* events taken from the engine, not handled */
  tide_Buf item;                /* an item's encoding */
  tide_Buf setup;               /* the loop's setup payload (backends that do not inherit) */
  void *backend_arg;            /* tide_BackendConfig.arg: a warm spawn set, or NULL */
  lua_State *L;                 /* the running state when a worker was forked */
  int ref;                      /* registry ref to {f, xs}, what workers run */
} Job;

static inline void push_uv(lua_State *L, int jidx, int uv) { lua_getiuservalue(L, jidx, uv); }

/* l_spawn.c: warm sets of spawned workers (tide.pool{backend = "spawn"}) */
void tideP_open_spawn(lua_State *L);           /* tide._internal.spawn_set */
tide_SpawnSet *tideP_testspawnset(lua_State *L, int idx); /* NULL: not one */

/* l_job.c */
void tideJ_open(lua_State *L);       /* the job handle's metatable */
int tideJ_iter(lua_State *L);        /* the generic-for iterator of a job (arg 1) */
void tideJ_start(lua_State *L, int jidx, Job *J); /* starts its workers */
void tideJ_background(lua_State *L, Job *J);     /* the script goes on meanwhile */
int tideJ_run_all(lua_State *L, int jidx, Job *J, double limit);
void tideJ_free(Job *J);

/* worker.c: what a worker runs -- a loop's f and input, held in its own
** state (inherited by fork, or received as the loop's setup payload). */
typedef struct tideW_Loop {
  lua_State *L;
  int ref;          /* registry ref to {f, xs} */
  int kind;         /* IN_* */
  lua_Integer seed; /* each task's math.random: math.randomseed(seed, task) */
  int no_fds;       /* results by content: the backend's frames carry no descriptors */
  int young;        /* L runs Lua's generational collector and what it had at the
                    ** fork is old: collect the young only (serve.c) */
} tideW_Loop;

/* A worker that did not inherit its loop: decodes the setup payload
** (l_job.c, make_setup) p[0..n), descriptors in fds, into lp->L and fills
** lp.  Never raises: LUA_OK, or an error status with the message pushed. */
int tideW_setup(tideW_Loop *lp, const unsigned char *p, size_t n, tide_Buf *fds);

/* The task loop on the parent's socket; returns the worker's exit status
** (0, or pool.h's TIDE_WORKER_EXIT_*). */
int tideW_serve(const tideW_Loop *lp, int sock);
int tideW_msghandler(lua_State *L);  /* error message plus traceback */
extern int64_t tideW_task;           /* the task running in this process (0: none) */
extern lua_Integer tideW_seed;       /* its loop's seed */
/* Between two loops of one worker process (a warm spawned worker): gives
** up the segments it lent in the last one and its results' mapping. */
void tideW_end_loop(void);

#endif
