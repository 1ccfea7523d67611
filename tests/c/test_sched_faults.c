/*
** test_sched_faults.c -- the scheduler (schedule.c) when the parent's
** allocations fail (TIDE_FAULTS builds: fault.h).
**
** A worker lost while no FAIL event can be had: the loop's spare is out
** (the script holds it) and the allocation fails.  This aborted once; now
** the loop ends with an error the script's thread raises
** (tide_sched_error), naming the task and its worker's end, and everything
** is freed.
**
** Then a loop with items (some carrying a descriptor), lent ids riding on
** TASK, and a worker that dies with results in its spill is run with
** allocation N failed, for N = 1, 2, ... until a run passes every point,
** once failing only the N-th and once every one from N on (as SQLite's
** malloc tests do).  Each run must end with every task's outcome at most
** once and either all of them or an error with a message; no worker left,
** no descriptor leaked (LeakSanitizer checks the memory in the ASan build).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "schedule.h"

#ifndef TIDE_FAULTS
int main(void) {
  printf("skip: this build has no fault injection (cmake -DTIDE_FAULTS=ON)\n");
  return 77;
}
#else

typedef struct Work {
  int items;          /* tasks carry items: [u32 value] (and maybe a descriptor) */
  int64_t doomed[2];  /* tasks whose worker dies (0: none) */
  char go[256];       /* "": die at once; else wait until this file exists */
  char once[256];     /* "": every time; else only the worker that makes this file */
} Work;

#define PAD 120 /* bytes after each result's value: spills that take room */

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Answers each task with 3 x its value (its item, or its number), every
** result committed in the spill as it is made; dies in a doomed task. */
static int work_main(void *ud, int sock, int id) {
  Work *w = ud;
  (void)id;
  tide_Buf in = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  for (;;) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &in, 1 << 20);
    if (rc == TIDE_ECLOSED) return 0;
    if (rc || type != TIDE_MSG_TASK) return TIDE_WORKER_EXIT_READ;
    tide_Cursor c = {in.p, in.p + in.n, 0};
    int64_t first = (int64_t)tide_cur_u64(&c);
    uint32_t count = tide_cur_u32(&c), nback = tide_cur_u32(&c);
    for (uint32_t i = 0; i < nback; i++) tide_cur_u32(&c);
    tide_buf_reset(&out);
    tide_buf_put_u32(&out, 0);
    atomic_store(&tide_worker_word->committed, out.n); /* nothing of this batch yet */
    for (uint32_t k = 0; k < count; k++) {
      int64_t t = first + k, v = t;
      if (w->items) {
        uint32_t len = tide_cur_u32(&c);
        tide_cur_u32(&c); /* descriptors: closed with `in` */
        const unsigned char *ip = tide_cur_bytes(&c, len);
        if (!ip || len < 4) return TIDE_WORKER_EXIT_PROTOCOL;
        tide_Cursor ic = {ip, ip + len, 0};
        v = tide_cur_u32(&ic);
      }
      if (c.bad) return TIDE_WORKER_EXIT_PROTOCOL;
      atomic_store(&tide_worker_word->task, t);
      if (t == w->doomed[0] || t == w->doomed[1]) {
        int fd = w->once[0] ? open(w->once, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600) : -2;
        if (fd != -1) {
          if (fd >= 0) close(fd);
          while (w->go[0] && !exists(w->go)) usleep(1000);
          kill(getpid(), SIGKILL);
          pause();
        }
      }
      tide_buf_put_u64(&out, (uint64_t)t);
      tide_buf_put_u8(&out, 0);
      tide_buf_put_f64(&out, 0);
      tide_buf_put_f64(&out, 0);
      tide_buf_put_u32(&out, 1);
      tide_buf_put_u32(&out, 8 + PAD);
      tide_buf_put_u64(&out, (uint64_t)(v * 3));
      for (int i = 0; i < PAD; i++) tide_buf_put_u8(&out, (uint8_t)i);
      tide_buf_patch_u32(&out, 0, k + 1);
      if (pwrite(tide_worker_spill, out.p, out.n, 0) != (ssize_t)out.n) return TIDE_WORKER_EXIT_SEND;
      atomic_store(&tide_worker_word->committed, out.n);
    }
    atomic_store(&tide_worker_word->task, 0);
    if (tide_msg_send(sock, TIDE_MSG_RESULT, &out)) return TIDE_WORKER_EXIT_SEND;
  }
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

static int no_children(void) { return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD; }

typedef struct Run {
  int seen[64], done, fails, values_ok;
  int err;          /* an error ended the loop ... */
  char msg[600];    /* ... with this message */
  int fired;        /* faults that fired */
} Run;

/* Counts the outcomes in event e; checks each result's value. */
static void count_event(Run *r, tide_Event *e, int n, int items) {
  if (e->kind == TIDE_EV_FAIL) {
    if (e->task >= 1 && e->task <= n) r->seen[e->task]++;
    r->fails++;
    r->done++;
    return;
  }
  tide_Cursor cur = {e->buf.p, e->buf.p + e->buf.n, 0};
  tide_cur_u32(&cur);
  tide_Entry en;
  while (tide_entry_next(&cur, &en) > 0) {
    if (en.task < 1 || en.task > n) continue;
    tide_Cursor b = {en.body, en.body + en.len, 0};
    tide_cur_u32(&b);
    int64_t v = (int64_t)tide_cur_u64(&b);
    if (v != (items ? 7 * en.task : en.task) * 3) r->values_ok = 0;
    r->seen[en.task]++;
    r->done++;
  }
}

/* -------------------------------------------- a loss with no event left */

static void test_lost_without_event(void) {
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  Work w = {.doomed = {3, 4}};
  snprintf(w.go, sizeof w.go, "%s/tide-test-schedf-go-%d", dir, (int)getpid());
  unlink(w.go);
  int fds0 = count_fds();
  tide_SchedConfig c = {.jobs = 2, .total = 4, .chunk = 1, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = work_main, .ud = &w};
  tide_Sched *S;
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_OK);
  CHECK_EQ_INT(tide_sched_background(S), TIDE_OK);
  Run r = {.values_ok = 1};
  tide_Event *held = NULL; /* FAIL events are kept: the spare stays out */
  int armed = 0;
  double t0 = tide_now();
  while (tide_now() - t0 < 60 && r.done < 4) {
    tide_sched_wait(S, 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      count_event(&r, e, 4, 0);
      if (e->kind == TIDE_EV_FAIL) {
        snprintf(r.msg, sizeof r.msg, "%s", e->msg);
        e->next = held;
        held = e;
      } else {
        tide_event_free(e);
      }
    }
    if (!armed && r.seen[1] && r.seen[2]) {
      /* tasks 3 and 4 are sent (or about to be) and their workers wait
      ** for the word: from here every allocation of the parent fails */
      tide__fault_arm(1, 1);
      armed = 1;
      int fd = open(w.go, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      CHECK(fd >= 0);
      if (fd >= 0) close(fd);
    }
    if (tide_sched_error(S) != TIDE_OK) {
      r.err = 1;
      snprintf(r.msg, sizeof r.msg, "%s", tide_lasterror());
      break;
    }
  }
  r.fired = (int)tide__fault_fired();
  tide__fault_arm(0, 0);
  /* the two losses: one took the spare, the other has no event to take */
  CHECK_EQ_INT(r.fired, 2);
  CHECK_EQ_INT(r.fails, 1);
  CHECK(r.err);
  CHECK_STR_HAS(r.msg, "died (killed by signal 9 (SIGKILL)) while running task ");
  CHECK_STR_HAS(r.msg, "; out of memory to report it");
  /* the task in the message is the one with no event */
  int other = held && held->task == 3 ? 4 : 3;
  char want[32];
  snprintf(want, sizeof want, "[task %d, worker ", other);
  CHECK_STR_HAS(r.msg, want);
  CHECK(held && held->home != NULL); /* that one was the spare */
  CHECK_EQ_INT(r.seen[other], 0);
  CHECK_EQ_INT(r.seen[1] + r.seen[2], 2);
  CHECK(r.values_ok);
  CHECK_EQ_INT(tide_sched_wait(S, 0), 1); /* the error stays until the loop closes */
  CHECK_EQ_INT(tide_sched_idle(S), 0);
  CHECK_EQ_INT(tide_sched_item_room(S), 0);
  /* replaced, the workers get nothing more; the error stays */
  CHECK_EQ_INT(tide_sched_respawn(S), TIDE_OK);
  CHECK_EQ_INT(tide_sched_wait(S, 0), 1);
  CHECK_EQ_INT(tide_sched_wait(S, 50), 1);
  CHECK_EQ_INT(tide_sched_idle(S), 0);
  CHECK(tide_sched_take(S) == NULL);
  CHECK_EQ_INT(tide_sched_error(S), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "; out of memory to report it");
  for (tide_Event *e = held, *next; e; e = next) {
    next = e->next;
    tide_event_free(e);
  }
  tide_sched_close(S);
  unlink(w.go);
  CHECK(no_children());
  CHECK_EQ_INT(count_fds(), fds0);
}

/* ----------------------------------------------------- the sweep */

#define NTASK 24
static int item_fd = -1; /* what items 3, 6, ... carry */

/* Runs the loop with items with the core's fault armed at `at` (0:
** none); the worker of task 11 dies once, after committing 9 and 10
** (batches of 4). */
static void run_items(long at, int persist, Run *r) {
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  Work w = {.items = 1, .doomed = {11, 0}};
  snprintf(w.once, sizeof w.once, "%s/tide-test-schedf-once-%d", dir, (int)getpid());
  unlink(w.once);
  memset(r, 0, sizeof *r);
  r->values_ok = 1;
  tide_SchedConfig c = {.jobs = 2, .total = -1, .items = 1, .chunk = 4, .window = 8,
                        .consume_on_arrival = 1, .backend = &tide_backend_fork,
                        .worker = work_main, .ud = &w};
  tide__fault_arm(at, persist);
  tide_Sched *S = NULL;
  int rc = tide_sched_start(&S, &c);
  if (rc == TIDE_OK) rc = tide_sched_background(S);
  int64_t next_item = 1;
  int lent = 0;
  double t0 = tide_now();
  while (rc == TIDE_OK && r->done < NTASK && tide_now() - t0 < 60) {
    for (int64_t room = tide_sched_item_room(S); room > 0 && next_item <= NTASK; room--) {
      tide_Buf b = TIDE_BUF_INIT;
      rc = tide_buf_put_u32(&b, (uint32_t)(7 * next_item));
      /* later items take room: the TASK buffer grows while lent ids go in */
      int pad = next_item > 16 ? 37 * (int)(next_item % 4) : 0;
      for (int i = 0; rc == TIDE_OK && i < pad; i++) rc = tide_buf_put_u8(&b, 0);
      if (rc == TIDE_OK && next_item % 3 == 0) rc = tide_buf_put_fd(&b, item_fd) < 0;
      if (rc == TIDE_OK) rc = tide_sched_add_item(S, next_item, &b);
      tide_buf_free(&b);
      if (rc) break;
      if (++next_item > NTASK) tide_sched_set_total(S, NTASK);
    }
    if (rc) break;
    tide_sched_wait(S, 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      count_event(r, e, NTASK, 1);
      /* ids lent back while the word's ring is full ride on the next TASK */
      if (e->kind == TIDE_EV_FRAME && e->box && lent == 0)
        for (int i = 0; i < TIDE_BACK_RING + TIDE_LEASE_BACK_MAX; i++) { /* each holds a reference */
          tide_lease_box_ref(e->box);
          tide_lease_box_freed(e->box, (uint32_t)++lent, 1);
        }
      tide_event_free(e);
    }
    if ((rc = tide_sched_error(S)) != TIDE_OK) break;
    rc = tide_sched_respawn(S);
  }
  if (rc) {
    r->err = 1;
    snprintf(r->msg, sizeof r->msg, "%s", tide_lasterror());
  }
  r->fired = (int)tide__fault_fired();
  tide_sched_close(S); /* still armed: closing needs nothing */
  tide__fault_arm(0, 0);
  unlink(w.once);
}

static void test_sweep(void) {
  item_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(item_fd >= 0);
  int fds0 = count_fds();
  Run r;
  run_items(0, 0, &r); /* no fault: the reference */
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.done, NTASK);
  CHECK_EQ_INT(r.fails, 1); /* task 11, whose worker died */
  CHECK_EQ_INT(r.seen[11], 1);
  CHECK(r.values_ok);
  int runs = 0, errors = 0, bad = 0;
  for (int persist = 0; persist <= 1; persist++) {
    for (long at = 1; at < 5000; at++) {
      run_items(at, persist, &r);
      runs++;
      int once = 1;
      for (int t = 1; t <= NTASK; t++) once &= r.seen[t] <= 1;
      int ok = once && r.values_ok && (r.err ? r.msg[0] != 0 : r.done == NTASK) &&
               no_children() && count_fds() == fds0;
      if (!ok) {
        if (bad++ < 5)
          fprintf(stderr, "fault at %ld%s: done %d, err %d (%s), once %d, values %d\n", at,
                  persist ? "+" : "", r.done, r.err, r.msg, once, r.values_ok);
        while (!no_children()) waitpid(-1, NULL, 0);
      }
      errors += r.err;
      if (r.fired == 0) break; /* the run passed every point */
    }
  }
  CHECK_EQ_INT(bad, 0);
  printf("sweep: %d runs, %d ended with an error\n", runs, errors);
  CHECK(runs > 20);
  CHECK(errors > 0);
  close(item_fd);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_lost_without_event();
  test_sweep();
  return check_done();
}
#endif
