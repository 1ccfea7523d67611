/*
** pool.c -- forked worker processes: the one file with fork discipline.
**
** Around fork() every signal is blocked, so no handler of the parent runs
** in the child before the child has reset the dispositions.  The child:
** dies with its parent (PR_SET_PDEATHSIG, then a getppid() check for a
** parent that died before the prctl, and its socket reads EOF when the
** parent goes), closes every socket of every live pool except its own,
** ignores SIGINT (the parent owns Ctrl-C and kills its workers), makes its
** inherited arrays read-only / copy-on-write as they asked, sets its BLAS
** thread budget, runs the worker function and leaves with _exit(), which
** runs no atexit handler and flushes no inherited stdio buffer.
**
** OpenBLAS (pthread build) registers a pthread_atfork handler that stops
** its thread pool before fork; the parent is single-threaded Lua, so BLAS
** threads are idle whenever a loop starts.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "pool.h"

atomic_int tide__interrupted;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "tide_interrupt must be async-signal-safe");

void tide_interrupt(void) { tide__interrupted = 1; }

static tide_Pool *pools; /* every pool with live slots */

tide_SlotWord *tide_worker_word;
int tide_worker_spill = -1;

/* While any pool lives, the parent runs OpenBLAS on one thread: a child
** inherits that count, so it needs no openblas_set_num_threads(1) -- which,
** after OpenBLAS's fork handler stopped its server, starts a new server
** thread that spins in sched_yield for a while, stealing a core from the
** workers on a small machine.  The parent's count comes back when the last
** pool closes.  (The parent's loop waits in poll; it does no BLAS.) */
static int blas_saved;

static void blas_quiet(void) {
  if (pools) return; /* already quiet */
  blas_saved = openblas_get_num_threads();
  if (blas_saved != 1) openblas_set_num_threads(1);
}

static void blas_restore(void) {
  if (pools || blas_saved <= 1) return;
  openblas_set_num_threads(blas_saved);
  blas_saved = 0;
}

double tide_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void link_pool(tide_Pool *p) {
  p->prev = NULL;
  p->next = pools;
  if (pools) pools->prev = p;
  pools = p;
}

static void unlink_pool(tide_Pool *p) {
  if (p->prev) p->prev->next = p->next;
  else if (pools == p) pools = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = p->prev = NULL;
}

pid_t tide__fork(void) {
  pid_t parent = getpid();
  fflush(NULL); /* or the child would own a copy of unflushed output */
  tide__fork_epoch++; /* segments alive now may be mapped by the child */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = tide__fork_raw();
  if (pid != 0) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return pid;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1); /* the parent died before the prctl */
  /* Every pool this process knows is its parent's: forget them all (their
  ** links stay, for worker_setup's walk). */
  for (tide_Pool *q = pools; q; q = q->next) {
    for (int i = 0; i < q->n; i++) {
      if (q->w[i].sock >= 0) close(q->w[i].sock);
      q->w[i].sock = -1;
    }
    q->foreign = 1;
  }
  pools = NULL;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, NULL); /* the parent owns Ctrl-C */
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  return 0;
}

/* A worker's own setup, after tide__fork: its slot's word and spill (the
** other spill files of its parent's pools closed), read-only inherited
** arrays, its BLAS budget. */
static void worker_setup(tide_Pool *p, int id, tide_Pool *all, int othersock) {
  tide_worker_word = &p->words[id - 1];
  tide_worker_spill = p->w[id - 1].spill;
  for (tide_Pool *q = all; q; q = q->next)
    for (int i = 0; i < q->n; i++) {
      if (q->w[i].spill >= 0 && q->w[i].spill != tide_worker_spill) close(q->w[i].spill);
      q->w[i].spill = -1;
    }
  close(othersock);
  tide__config.in_worker = 1;
  tide__config.gen++;
  tide__storage_after_fork();
  /* The parent dropped to one BLAS thread before forking (see
  ** blas_quiet): asking for one again would start a server thread that
  ** spins in sched_yield beside this worker's own work. */
  int budget = tide__config.blas_threads_per_worker;
  if (budget <= 0) budget = tide_ncpus() / (p->n > 0 ? p->n : 1);
  if (budget > 1) openblas_set_num_threads(budget);
}

static int spawn(tide_Pool *p, int id, tide_WorkerMain fn, void *ud) {
  tide_Worker *w = &p->w[id - 1];
  int sv[2];
  if (tide__socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return tide__syserr(TIDE_EIO, errno, "cannot create a socket for worker %d", id);
  /* the new worker's spill holds nothing yet, whatever its bytes */
  atomic_store(&p->words[id - 1].task, 0);
  atomic_store(&p->words[id - 1].committed, 0);
  atomic_store(&p->words[id - 1].back_head, 0);
  atomic_store(&p->words[id - 1].back_tail, 0);
  tide_Pool *all = pools; /* tide__fork forgets the list in the child */
  pid_t pid = tide__fork();
  if (pid == 0) {
    worker_setup(p, id, all, sv[0]);
    int rc = fn(ud, sv[1], id);
    fflush(NULL);
    _exit(rc);
  }
  int err = errno;
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return tide__syserr(TIDE_EIO, err, "cannot fork worker %d", id);
  }
  w->pid = pid;
  w->sock = sv[0];
  w->id = id;
  w->status = 0;
  w->reaped = 0;
  return TIDE_OK;
}

int tide_pool_start(tide_Pool *p, int n, tide_WorkerMain fn, void *ud) {
  memset(p, 0, sizeof *p);
  if (n < 1) return tide__seterr(TIDE_EINVAL, "a pool needs at least one worker");
  p->w = tide__calloc((size_t)n, sizeof *p->w);
  if (!p->w) return tide__seterr(TIDE_ENOMEM, "out of memory");
  p->n = n;
  for (int i = 0; i < n; i++) {
    p->w[i].sock = p->w[i].spill = -1;
    p->w[i].id = i + 1;
    p->w[i].reaped = 1;
  }
  void *words = tide__mmap(NULL, (size_t)n * sizeof *p->words, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (words == MAP_FAILED) {
    int e = errno;
    free(p->w);
    p->w = NULL;
    return tide__syserr(TIDE_ENOMEM, e, "cannot map the workers' shared words");
  }
  p->words = words;
  for (int i = 0; i < n; i++) {
    p->w[i].spill = tide__memfd_create("tide-spill", MFD_CLOEXEC);
    if (p->w[i].spill < 0) {
      int e = errno;
      p->n = i; /* what tide_pool_close frees */
      tide_pool_close(p);
      return tide__syserr(tide__errno_code(e), e, "cannot create a spill file for worker %d", i + 1);
    }
  }
  blas_quiet();
  link_pool(p);
  for (int i = 1; i <= n; i++) {
    int rc = spawn(p, i, fn, ud);
    if (rc) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", tide_lasterror());
      tide_pool_close(p);
      return tide__seterr(rc, "%s", msg);
    }
  }
  return TIDE_OK;
}

int tide_pool_respawn(tide_Pool *p, int id, tide_WorkerMain fn, void *ud) {
  tide_pool_kill(p, id);
  return spawn(p, id, fn, ud);
}

int tide__reap(pid_t pid, int block, int *status) {
  int st;
  pid_t r;
  do r = waitpid(pid, &st, block ? 0 : WNOHANG); while (r < 0 && errno == EINTR);
  if (r == pid || (r < 0 && errno == ECHILD)) { /* ECHILD: reaped elsewhere */
    *status = r == pid ? st : 0;
    return 1;
  }
  return 0;
}

int tide_pool_try_reap(tide_Pool *p, int id, int block) {
  tide_Worker *w = &p->w[id - 1];
  if (!w->reaped && tide__reap(w->pid, block, &w->status)) w->reaped = 1;
  return w->reaped;
}

void tide_pool_kill(tide_Pool *p, int id) {
  tide_Worker *w = &p->w[id - 1];
  if (!w->reaped) {
    kill(w->pid, SIGKILL);
    tide_pool_try_reap(p, id, 1);
  }
  if (w->sock >= 0) {
    close(w->sock);
    w->sock = -1;
  }
}

#ifdef TIDE_COVERAGE
/* Coverage builds only: a SIGKILLed worker never writes its gcov counters,
** so what workers run would count as never run.  Their sockets are closed
** first, which an idle worker takes as the end (its _exit writes them,
** cmake/coverage_exit.c); one still busy after 0.3 s is killed as usual. */
static void coverage_drain(tide_Pool *p) {
  for (int i = 0; i < p->n; i++)
    if (!p->w[i].reaped && p->w[i].sock >= 0) {
      close(p->w[i].sock);
      p->w[i].sock = -1;
    }
  double end = tide_now() + 0.3;
  for (int busy = 1; busy && tide_now() < end;) {
    busy = 0;
    for (int i = 1; i <= p->n; i++) busy |= !tide_pool_try_reap(p, i, 0);
    if (busy) usleep(2000);
  }
}
#endif

void tide_pool_close(tide_Pool *p) {
  if (!p->w) return;
  if (!p->foreign) {
#ifdef TIDE_COVERAGE
    coverage_drain(p);
#endif
    for (int i = 0; i < p->n; i++)
      if (!p->w[i].reaped) kill(p->w[i].pid, SIGKILL);
    for (int i = 1; i <= p->n; i++) {
      tide_pool_kill(p, i);
      if (p->w[i - 1].spill >= 0) close(p->w[i - 1].spill);
    }
    unlink_pool(p);
    blas_restore();
  }
  if (p->words) munmap(p->words, (size_t)p->n * sizeof *p->words);
  p->words = NULL;
  free(p->w);
  p->w = NULL;
  p->n = 0;
}

const char *tide_pool_describe(int status, char *buf, size_t len) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char *name = sigabbrev_np(sig);
    snprintf(buf, len, "killed by signal %d (SIG%s)", sig, name ? name : "?");
  } else if (WIFEXITED(status)) {
    static const char *const why[] = {"could not read from its parent",
                                      "was sent a malformed message",
                                      "could not send its results"};
    int code = WEXITSTATUS(status);
    if (code >= TIDE_WORKER_EXIT_READ && code <= TIDE_WORKER_EXIT_SEND)
      snprintf(buf, len, "exited with status %d: it %s", code, why[code - TIDE_WORKER_EXIT_READ]);
    else
      snprintf(buf, len, "exited with status %d", code);
  } else {
    snprintf(buf, len, "stopped (status 0x%x)", status);
  }
  return buf;
}
