/*
** tmpi.c -- the world and tide's messages over MPI (tmpi.h).
*/
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "tmpi.h"

tmpi_World tmpi_world;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void tmpi_lock(void) { pthread_mutex_lock(&lock); }
void tmpi_unlock(void) { pthread_mutex_unlock(&lock); }

#define PIECE ((size_t)1 << 30) /* a body's pieces: MPI counts are ints */

/* Node groups for tests: TIDE_MPI_TEST_NODES="0,1,1" puts rank 0 in group
** 0 and ranks 1 and 2 in group 1, as if on two machines. */
static int test_node(int rank) {
  const char *v = getenv("TIDE_MPI_TEST_NODES");
  if (!v || !*v) return -1;
  for (int i = 0; *v; i++) {
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v) return -1;
    if (i == rank) return (int)n;
    v = *end == ',' ? end + 1 : end;
  }
  return -1;
}

/* Every rank of a node costs its memory beside the data (issue 14's goal
** is the node's PSS within 1.3x the data), and Open MPI loads, in each
** rank, code tide never runs: hwloc's plugins for displays (gl: libX11
** and its kin), OpenCL devices and libxml2 (with ICU; hwloc reads its own
** XML without it), collective components beyond the basic ones (tide's
** only collectives are two, at start), the AVX reductions, MPI-IO and
** every one-sided component but the smallest (tide opens no window).
** Left out, a rank maps about 1.3 MB less (PSS, measured with 3 ranks on
** one machine).  When mpirun put every rank on this node (its local size
** is the world's), the TCP transport and UCX are left out too: shared
** memory carries every message, and TCP's fragment lists and netlink
** probe cost a rank about 0.2 MB.  A setting the user made (an
** environment variable, mpirun --mca) wins. */
static void lean_mpi(void) {
  setenv("HWLOC_PLUGINS_BLACKLIST", "hwloc_gl,hwloc_opencl,hwloc_xml_libxml", 0);
  setenv("OMPI_MCA_coll", "basic,libnbc,self,tuned", 0);
  setenv("OMPI_MCA_op", "^avx", 0);                /* reductions: two of one int each */
  setenv("OMPI_MCA_io", "^ompio,romio321", 0);     /* no MPI-IO: arrays travel as messages */
  setenv("OMPI_MCA_osc", "pt2pt", 0);              /* no one-sided windows */
  const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE"), *world = getenv("OMPI_COMM_WORLD_SIZE");
  if (local && world && strcmp(local, world) == 0) {
    setenv("OMPI_MCA_btl", "self,vader", 0);
    setenv("OMPI_MCA_pml", "ob1", 0);              /* ob1 over vader, not UCX's probe */
  }
}

int tmpi_init(int *argc, char ***argv) {
  int provided;
  lean_mpi();
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) return -1;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  tmpi_World *w = &tmpi_world;
  MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w->size);
  w->r = tide__calloc((size_t)w->size, sizeof *w->r);
  if (!w->r) return -1;
  /* node group: the lowest world rank sharing memory with us */
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node);
  int first = w->rank;
  MPI_Allreduce(&w->rank, &first, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  tmpi_Rank me;
  memset(&me, 0, sizeof me);
  gethostname(me.host, sizeof me.host - 1);
  int t = test_node(w->rank);
  me.node = t >= 0 ? t : first;
  me.pid = (int)getpid();
  me.ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (me.ncpus < 1) me.ncpus = 1;
  MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, w->r, (int)sizeof me, MPI_BYTE, MPI_COMM_WORLD);
  for (int i = 0; i < w->size; i++) {
    tmpi_Rank *r = &w->r[i];
    r->leader = -1;
    for (int k = 0; k < w->size; k++) {
      if (w->r[k].node != r->node) continue;
      if (k > 0) r->serving_on_node++;
      if (r->leader < 0) r->leader = k; /* the lowest: rank 0 where it is there */
    }
  }
  return 0;
}

static int wait_req(MPI_Request *req, int n) {
  double idle = 0, t0 = 0;
  for (;;) {
    int done = 0;
    tmpi_lock();
    int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    tmpi_unlock();
    if (rc != MPI_SUCCESS) return -1;
    if (done) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = ts.tv_sec + ts.tv_nsec * 1e-9;
    if (t0 == 0) t0 = now;
    idle = now - t0;
    tmpi_backoff(idle);
  }
}

int tmpi_send(int dest, int tag, Hdr *h, const void *body) {
  MPI_Request req[2];
  tmpi_lock();
  int rc = MPI_Isend(h, (int)sizeof *h, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &req[0]);
  tmpi_unlock();
  if (rc != MPI_SUCCESS || wait_req(req, 1)) return -1;
  for (size_t at = 0; at < h->len; at += PIECE) {
    size_t n = h->len - at < PIECE ? h->len - at : PIECE;
    tmpi_lock();
    rc = MPI_Isend((const char *)body + at, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &req[1]);
    tmpi_unlock();
    if (rc != MPI_SUCCESS || wait_req(&req[1], 1)) return -1;
  }
  return 0;
}

int tmpi_poll_hdr(int src, int tag, Hdr *h) {
  int flag = 0;
  MPI_Status st;
  tmpi_lock();
  MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st);
  if (flag) MPI_Recv(h, (int)sizeof *h, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  tmpi_unlock();
  return flag;
}

int tmpi_recv_body(int src, int tag, const Hdr *h, tide_Buf *b) {
  if (tide_buf_reserve(b, h->len)) return -1;
  for (size_t at = 0; at < h->len; at += PIECE) {
    size_t n = h->len - at < PIECE ? h->len - at : PIECE;
    /* the header came first: its body is on its way, in order */
    tmpi_lock();
    int rc = MPI_Recv(b->p + b->n, (int)n, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    tmpi_unlock();
    if (rc != MPI_SUCCESS) return -1;
    b->n += n;
  }
  return 0;
}

void tmpi_drop_body(int src, int tag, const Hdr *h) {
  tide_Buf b = TIDE_BUF_INIT;
  tmpi_recv_body(src, tag, h, &b);
  tide_buf_free(&b);
}

/* Open MPI's blocking calls spin; tide's waits do not: they yield for the
** first 200 us (a reply to a tiny task comes in tens of us), then sleep
** 50 us, growing to 1 ms after 20 ms without news. */
void tmpi_backoff(double idle) {
  if (idle < 200e-6) {
    sched_yield();
    return;
  }
  long ns = idle < 20e-3 ? 50000 : 1000000;
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

uint64_t tmpi_pss(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  uint64_t kb = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "Pss: %llu kB", &v) == 1) {
      kb = v;
      break;
    }
  }
  fclose(f);
  return kb * 1024;
}
