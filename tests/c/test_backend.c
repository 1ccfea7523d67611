/*
** test_backend.c -- the scheduler driven from C through the backend
** interface (backend.h), with no Lua: every task's result arrives exactly
** once, a worker killed mid-loop fails exactly the task it ran, with its
** cause, and is replaced.  Twice: on the fork backend (shared slot words),
** and on a backend that shares no memory with its workers and wants the
** loop's setup payload first -- the fork backend with `word`, `spill` and
** `setup` as a spawn or MPI backend has them -- where lent result ids ride
** on TASK messages.  Plus the table of backends.
*/
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "schedule.h"

#define N 30
#define LEASE_ID 77u

typedef struct Proto {
  int want_setup; /* the first frame must be SETUP "hello" */
  int64_t die_at; /* this task SIGKILLs its worker, once (flag file) */
  char flag[256];
} Proto;

/* A worker speaking the protocol: each task's one result is task^2 (8
** bytes), then, on a batch that gave back lease LEASE_ID, that id too. */
static int proto_main(void *ud, int sock, int id) {
  Proto *p = ud;
  (void)id;
  tide_Buf in = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  int setup = 0;
  for (;;) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &in, 1 << 20);
    if (rc == TIDE_ECLOSED) return 0;
    if (rc) return TIDE_WORKER_EXIT_READ;
    if (type == TIDE_MSG_SETUP) {
      if (in.n != 5 || memcmp(in.p, "hello", 5) != 0) return TIDE_WORKER_EXIT_PROTOCOL;
      setup = 1;
      continue;
    }
    if (type != TIDE_MSG_TASK || (p->want_setup && !setup)) return TIDE_WORKER_EXIT_PROTOCOL;
    tide_Cursor c = {in.p, in.p + in.n, 0};
    int64_t first = (int64_t)tide_cur_u64(&c);
    uint32_t count = tide_cur_u32(&c), nback = tide_cur_u32(&c), back = 0;
    for (uint32_t i = 0; i < nback; i++) back = tide_cur_u32(&c);
    if (c.bad || (nback && back != LEASE_ID)) return TIDE_WORKER_EXIT_PROTOCOL;
    tide_buf_reset(&out);
    tide_buf_put_u32(&out, count);
    for (int64_t t = first; t < first + (int64_t)count; t++) {
      atomic_store(&tide_worker_word->task, t);
      if (t == p->die_at) {
        int fd = open(p->flag, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) kill(getpid(), SIGKILL);
      }
      int lent = nback && t == first;
      tide_buf_put_u64(&out, (uint64_t)t);
      tide_buf_put_u8(&out, 0);
      tide_buf_put_f64(&out, 0);
      tide_buf_put_f64(&out, 0);
      tide_buf_put_u32(&out, 1);
      tide_buf_put_u32(&out, lent ? 12 : 8);
      tide_buf_put_u64(&out, (uint64_t)(t * t));
      if (lent) tide_buf_put_u32(&out, back);
    }
    if (tide_msg_send(sock, TIDE_MSG_RESULT, &out)) return TIDE_WORKER_EXIT_SEND;
    atomic_store(&tide_worker_word->task, 0);
  }
}

/* The fork backend as one that shares no memory and wants a setup. */
static tide_BackendOps shy;

static int shy_start(tide_Backend **out, const tide_BackendConfig *c) {
  int rc = tide_backend_fork.start(out, c);
  if (rc == TIDE_OK) (*out)->ops = &shy;
  return rc;
}
static tide_SlotWord *shy_word(tide_Backend *b, int id) { (void)b; (void)id; return NULL; }
static int shy_spill(tide_Backend *b, int id) { (void)b; (void)id; return -1; }

static void run(const tide_BackendOps *ops, int64_t chunk, int shared) {
  Proto p = {.want_setup = !shared, .die_at = 17};
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(p.flag, sizeof p.flag, "%s/tide-test-backend-%d-%s", dir, (int)getpid(), ops->name);
  unlink(p.flag);
  tide_Buf hello = TIDE_BUF_INIT;
  tide_buf_put(&hello, "hello", 5);
  tide_SchedConfig c = {.jobs = 2, .total = N, .chunk = chunk, .consume_on_arrival = 1,
                        .backend = ops, .worker = proto_main, .ud = &p, .setup = &hello};
  tide_Sched *S;
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_OK);
  int seen[N + 1] = {0}, done = 0, fails = 0, lent_seen = 0, lent_sent = 0;
  int64_t failed = 0;
  char msg[512] = "";
  double t0 = tide_now();
  while (done < N && tide_now() - t0 < 60) {
    tide_sched_wait(S, 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      if (e->kind == TIDE_EV_FAIL) {
        fails++;
        failed = e->task;
        snprintf(msg, sizeof msg, "%s", e->msg);
        if (e->task >= 1 && e->task <= N) seen[e->task]++;
        done++;
      } else {
        tide_Cursor cur = {e->buf.p, e->buf.p + e->buf.n, 0};
        tide_cur_u32(&cur);
        tide_Entry en;
        while (tide_entry_next(&cur, &en) > 0) {
          tide_Cursor b = {en.body, en.body + en.len, 0};
          uint32_t len = tide_cur_u32(&b);
          CHECK(en.task >= 1 && en.task <= N);
          CHECK((int64_t)tide_cur_u64(&b) == en.task * en.task);
          if (len == 12 && tide_cur_u32(&b) == LEASE_ID) lent_seen++;
          if (en.task >= 1 && en.task <= N) seen[en.task]++;
          done++;
        }
        if (!shared && e->box && !lent_sent) { /* the parent drops a lent segment */
          tide_lease_box_ref(e->box);
          tide_lease_box_freed(e->box, LEASE_ID, 1);
          lent_sent = 1;
        }
      }
      tide_event_free(e);
    }
    CHECK_EQ_INT(tide_sched_respawn(S), TIDE_OK);
  }
  CHECK_EQ_INT(done, N);
  for (int t = 1; t <= N; t++) CHECK_EQ_INT(seen[t], 1);
  CHECK_EQ_INT(fails, 1);
  /* chunk 1, or a shared word naming the running task: exactly the victim */
  CHECK_EQ_INT((int)failed, 17);
  CHECK_STR_HAS(msg, "[task 17, worker ");
  CHECK_STR_HAS(msg, "worker process ");
  CHECK_STR_HAS(msg, "killed by signal 9 (SIGKILL)");
  if (!shared) CHECK(lent_seen >= 1); /* the id rode on a later TASK */
  CHECK(tide_sched_idle(S));
  tide_sched_close(S);
  tide_buf_free(&hello);
  unlink(p.flag);
}

static void test_table(void) {
  char why[160];
  CHECK(tide_backend_find("fork", why, sizeof why) == &tide_backend_fork);
  CHECK(tide_backend_fork.flags & TIDE_BACKEND_INHERITS);
  CHECK(tide_backend_fork.setup == NULL);
  CHECK(tide_backend_find("spawn", why, sizeof why) == &tide_backend_spawn);
  CHECK(!(tide_backend_spawn.flags & TIDE_BACKEND_INHERITS) && tide_backend_spawn.setup);
  CHECK(tide_backend_find("mpi", why, sizeof why) == NULL);
  CHECK_STR_HAS(why, "needs mpirun");
  CHECK(tide_backend_find("thread", why, sizeof why) == NULL);
  CHECK_STR_HAS(why, "no backend 'thread'");
  /* the fork backend's own limit, and closing nothing */
  tide_Backend *b = (tide_Backend *)1;
  tide_BackendConfig c = {257, NULL, NULL, NULL};
  CHECK_EQ_INT(tide_backend_fork.start(&b, &c), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "at most 256 workers");
  CHECK(b == NULL);
  tide_backend_fork.close(NULL);
}

int main(void) {
  test_table();
  run(&tide_backend_fork, 3, 1);
  shy = tide_backend_fork;
  shy.name = "shy";
  shy.flags = TIDE_BACKEND_FDS;
  shy.start = shy_start;
  shy.setup = tide_backend_send_setup;
  shy.word = shy_word;
  shy.spill = shy_spill;
  run(&shy, 1, 0);
  return check_done();
}
