/*
** monitor.h -- memory and CPU of a process tree, sampled by a forked
** sampler process into shared memory (DESIGN.md §6).
**
** tide_memory_tree() takes one synchronous sample of a tree.  A monitor
** forks a pure-C sampler that scans /proc every interval and appends
** samples to a MAP_SHARED array created before the fork; the parent only
** sets a stop flag, stamps marks, and reads the samples after reaping the
** sampler.  Nothing here takes a lock, so a worker forked while a monitor
** runs cannot inherit one held (see monitor.c for the whole argument).
**
** Figures are summed over a root process and all its descendants, the
** sampler itself excluded: RSS (Rss), PSS (Pss) and USS (Private_Clean +
** Private_Dirty) from /proc/PID/smaps_rollup, in bytes; CPU in % of one CPU
** (two busy workers: 200); the system's used memory is MemTotal -
** MemAvailable from /proc/meminfo.
*/
#ifndef TIDE_MONITOR_H
#define TIDE_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

/* One synchronous measure of a process tree. */
typedef struct tide_MemUsage {
  int64_t rss, pss, uss;      /* bytes, summed over the tree */
  int64_t sys_used, sys_total; /* bytes: MemTotal - MemAvailable, MemTotal */
  int nproc;                  /* processes counted */
} tide_MemUsage;

/* One sample of a monitor. */
typedef struct tide_MonSample {
  double t;                   /* seconds since the monitor started */
  double cpu;                 /* % of one CPU since the previous sample (0 first;
                              ** over the last two when that is under half the
                              ** interval: times come in 10 ms ticks) */
  int64_t rss, pss, uss;      /* bytes, summed over the tree */
  int64_t sys_used;           /* bytes */
  int32_t nproc;              /* processes in the tree */
  int32_t pad_;
} tide_MonSample;

#define TIDE_MON_LABEL 48         /* bytes of a mark's label, NUL included */
#define TIDE_MON_MAXMARKS 4096    /* marks past this are counted as dropped */
#define TIDE_MON_MAXSAMPLES 100000000 /* upper bound of max_samples */
#define TIDE_MON_COMM "tide-monitor" /* a sampler's process name */

typedef struct tide_Monitor tide_Monitor;

/* Measures the tree rooted at `root` (0: this process).  Samplers (processes
** named TIDE_MON_COMM) are left out wherever they are in the tree, and so
** are processes that vanish during the scan.  TIDE_EIO if /proc cannot be
** read. */
int tide_memory_tree(pid_t root, tide_MemUsage *out);

/* Starts a monitor of this process's tree: forks the sampler, waits for its
** first sample (the baseline) and returns.  interval in seconds (0.001 to
** 3600), max_samples in 1..TIDE_MON_MAXSAMPLES: when the array is full the
** sampler stops sampling and tide_monitor_truncated() says so.  Only the
** process that started a monitor may mark (workers may too), stop it. */
int tide_monitor_start(tide_Monitor **out, double interval, int64_t max_samples);
/* Stamps a mark (time now, label cut to TIDE_MON_LABEL - 1 bytes).  Lock-free
** and callable from forked workers too.  Returns TIDE_ERANGE when the mark
** table is full (the mark is counted as dropped). */
int tide_monitor_mark(tide_Monitor *m, const char *label);
/* Tells the sampler to take a last sample and leave, and reaps it.
** Idempotent.  A no-op in any process but the one that started m. */
int tide_monitor_stop(tide_Monitor *m);
/* 1 while the sampler runs (0 in any process but the owner). */
int tide_monitor_running(const tide_Monitor *m);
/* 1 in the process that started m (0 in a worker that inherited it). */
int tide_monitor_owned(const tide_Monitor *m);
/* The sampler's pid (kept after stop, for tests). */
pid_t tide_monitor_pid(const tide_Monitor *m);
/* Samples written so far (all of them once stopped) and their array. */
int64_t tide_monitor_count(const tide_Monitor *m);
const tide_MonSample *tide_monitor_samples(const tide_Monitor *m);
/* Marks stamped so far (complete ones only), each with its time and label;
** *dropped gets the number of marks lost to a full table. */
int tide_monitor_nmarks(const tide_Monitor *m, int *dropped);
int tide_monitor_getmark(const tide_Monitor *m, int i, double *t, const char **label);
/* 1 when the sample array filled up and sampling stopped early. */
int tide_monitor_truncated(const tide_Monitor *m);
/* The interval asked for, in seconds. */
double tide_monitor_interval(const tide_Monitor *m);
/* Stops (in the owner) and frees everything.  NULL is a no-op.  In a forked
** child it only unmaps: the sampler belongs to the parent. */
void tide_monitor_free(tide_Monitor *m);

#endif
