/*
** test_sched.c -- the scheduler (schedule.c) against workers that break
** the protocol, one way each: a result for the wrong task, a frame of the
** wrong type, a count that lies, an entry of an unknown status or with too
** many values, a header announcing more than any message may hold.  Each
** is a worker "sent a malformed message" failing exactly the task it ran,
** every task has one outcome, the loop ends.  Also: task errors reported by
** the worker (status 1 entries) with raise and halt_on_fail, tasks that
** carry items (the ring grows; an item out of order is refused), a
** timeout, and a backend wanting a setup payload that the loop lacks.
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

enum { M_GOOD, M_WRONG_TASK, M_WRONG_TYPE, M_COUNT, M_STATUS, M_BAD_STATUS, M_TOO_MANY,
       M_HUGE, M_ERROR, M_HANG, M_QUIT, M_SPILL };

typedef struct Proto {
  int mode;
  int64_t bad_task; /* M_ERROR, M_HANG, M_QUIT: the task that fails (0: all);
                    ** M_SPILL: the last of a batch of 4, where the worker dies */
  char flag[256];   /* M_SPILL: made by the one worker that dies */
} Proto;

#define SPILLED 12345.0 /* M_SPILL: the begin time of entries only in the spill */

static void put_entry_head(tide_Buf *o, int64_t t, int status) {
  tide_buf_put_u64(o, (uint64_t)t);
  tide_buf_put_u8(o, (uint8_t)status);
  tide_buf_put_f64(o, 0);
  tide_buf_put_f64(o, 0);
}

/* Answers each task with task * 3 (8 bytes), except as its mode says. */
static int proto_main(void *ud, int sock, int id) {
  Proto *p = ud;
  (void)id;
  tide_Buf in = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  for (;;) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &in, 1 << 20);
    if (rc == TIDE_ECLOSED) return 0;
    if (rc) return TIDE_WORKER_EXIT_READ;
    if (type != TIDE_MSG_TASK) return TIDE_WORKER_EXIT_PROTOCOL;
    tide_Cursor c = {in.p, in.p + in.n, 0};
    int64_t first = (int64_t)tide_cur_u64(&c);
    uint32_t count = tide_cur_u32(&c); /* items and lent ids follow: not read */
    if (p->mode == M_SPILL && p->bad_task == first + (int64_t)count - 1 && count == 4) {
      int fd = open(p->flag, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (fd >= 0) { /* sends the first result, spills three, dies in the fourth */
        close(fd);
        for (int part = 0; part < 2; part++) {
          tide_buf_reset(&out);
          tide_buf_put_u32(&out, part ? 3 : 1);
          for (int64_t t = first; t < first + (part ? 3 : 1); t++) {
            tide_buf_put_u64(&out, (uint64_t)t);
            tide_buf_put_u8(&out, 0);
            tide_buf_put_f64(&out, part ? SPILLED : 0);
            tide_buf_put_f64(&out, 0);
            tide_buf_put_u32(&out, 1);
            tide_buf_put_u32(&out, 8);
            tide_buf_put_u64(&out, (uint64_t)(t * 3));
          }
          if (!part && tide_msg_send(sock, TIDE_MSG_RESULT, &out)) return TIDE_WORKER_EXIT_SEND;
        }
        /* the spill holds the one sent already too: the parent skips it */
        if (pwrite(tide_worker_spill, out.p, out.n, 0) != (ssize_t)out.n) return TIDE_WORKER_EXIT_SEND;
        atomic_store(&tide_worker_word->committed, out.n);
        atomic_store(&tide_worker_word->task, first + 3);
        kill(getpid(), SIGKILL);
        pause();
      }
    }
    tide_buf_reset(&out);
    tide_buf_put_u32(&out, p->mode == M_COUNT ? count + 1 : count);
    for (int64_t t = first; t < first + (int64_t)count; t++) {
      atomic_store(&tide_worker_word->task, t);
      int mine = p->bad_task == 0 || p->bad_task == t || (p->bad_task == -1 && t % 2);
      if (p->mode == M_HANG && mine) pause();
      if (p->mode == M_QUIT && mine) return p->bad_task == 0 ? TIDE_WORKER_EXIT_PROTOCOL
                                             : p->bad_task == 3 ? 5 : 200;
      if (p->mode == M_ERROR && mine) {
        put_entry_head(&out, t, 1);
        tide_buf_put_u32(&out, 4);
        tide_buf_put(&out, "oops", 4);
        continue;
      }
      put_entry_head(&out, p->mode == M_WRONG_TASK ? t + 1000 : t,
                     p->mode == M_BAD_STATUS ? 7 : 0);
      tide_buf_put_u32(&out, p->mode == M_TOO_MANY ? 251 : 1);
      tide_buf_put_u32(&out, 8);
      tide_buf_put_u64(&out, (uint64_t)(t * 3));
      if (p->mode != M_GOOD && p->mode < M_ERROR) break; /* one is enough */
    }
    if (p->mode == M_HUGE) {
      static const unsigned char hdr[5] = {0xff, 0xff, 0xff, 0xff, TIDE_MSG_RESULT};
      if (write(sock, hdr, 5) != 5) return TIDE_WORKER_EXIT_SEND;
      pause();
    }
    if (tide_msg_send(sock, p->mode == M_WRONG_TYPE ? TIDE_MSG_SETUP : TIDE_MSG_RESULT, &out))
      return TIDE_WORKER_EXIT_SEND;
    atomic_store(&tide_worker_word->task, 0);
  }
}

typedef struct Outcome {
  int seen[64], fails, errors, timeouts, done, recovered;
  int64_t failed_first, error_first;
  char msg[512];
} Outcome;

/* Runs n tasks (n <= 63) until each has an outcome or the loop is idle. */
static void drive(tide_SchedConfig *c, int n, Outcome *o, int items) {
  memset(o, 0, sizeof *o);
  tide_Sched *S;
  CHECK_EQ_INT(tide_sched_start(&S, c), TIDE_OK);
  if (items) { /* every item before the first wait: the ring grows */
    for (int t = 1; t <= n; t++) {
      tide_Buf b = TIDE_BUF_INIT;
      tide_buf_put_u32(&b, (uint32_t)t);
      CHECK_EQ_INT(tide_sched_add_item(S, t, &b), TIDE_OK);
      CHECK(b.p == NULL); /* taken */
    }
    tide_Buf b = TIDE_BUF_INIT;
    tide_buf_put_u32(&b, 99);
    CHECK_EQ_INT(tide_sched_add_item(S, n + 5, &b), TIDE_EINVAL);
    CHECK_STR_HAS(tide_lasterror(), "out of order");
    tide_buf_free(&b);
    tide_sched_set_total(S, n);
  }
  /* the items' loop has its service thread; the others are served by
  ** the waits, some of which only poll (0 ms) */
  if (items) CHECK_EQ_INT(tide_sched_background(S), TIDE_OK);
  double t0 = tide_now();
  for (int iter = 0; o->done < n && tide_now() - t0 < 60 && !tide_sched_idle(S); iter++) {
    tide_sched_wait(S, iter % 3 == 2 ? 0 : 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      if (e->kind == TIDE_EV_FAIL) {
        if (!o->fails++) o->failed_first = e->task;
        if (!e->hard) o->timeouts++;
        snprintf(o->msg, sizeof o->msg, "%s", e->msg);
        if (e->task >= 1 && e->task <= n) o->seen[e->task]++;
        o->done++;
      } else {
        tide_Cursor cur = {e->buf.p, e->buf.p + e->buf.n, 0};
        tide_cur_u32(&cur);
        tide_Entry en;
        while (tide_entry_next(&cur, &en) > 0) {
          CHECK(en.task >= 1 && en.task <= n);
          if (en.status == 1) {
            CHECK(en.len == 4 && memcmp(en.body, "oops", 4) == 0);
            if (!o->errors++) o->error_first = en.task;
          } else {
            tide_Cursor b = {en.body, en.body + en.len, 0};
            CHECK_EQ_INT((int)tide_cur_u32(&b), 8);
            CHECK((int64_t)tide_cur_u64(&b) == en.task * 3);
          }
          if (en.task >= 1 && en.task <= n) o->seen[en.task]++;
          if (en.begin == SPILLED) o->recovered++;
          o->done++;
        }
      }
      tide_event_free(e);
    }
    CHECK_EQ_INT(tide_sched_respawn(S), TIDE_OK);
  }
  tide_sched_close(S);
}

/* A worker that breaks the protocol fails the task it ran, every time. */
static void test_malformed(int mode, const char *what) {
  Proto p = {.mode = mode, .bad_task = 0};
  tide_SchedConfig c = {.jobs = 2, .total = 6, .chunk = 1, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 6, &o, 0);
  CHECK_EQ_INT(o.done, 6);
  CHECK_EQ_INT(o.fails, 6);
  for (int t = 1; t <= 6; t++) CHECK_EQ_INT(o.seen[t], 1);
  CHECK_STR_HAS(o.msg, "sent a malformed message");
  if (!strstr(o.msg, "sent a malformed message")) fprintf(stderr, "  (%s)\n", what);
}

/* Task errors the worker reports: with raise, the loop stops handing out
** tasks after the first; without, every task has its outcome. */
static void test_errors(void) {
  Proto p = {.mode = M_ERROR, .bad_task = 4};
  tide_SchedConfig c = {.jobs = 2, .total = 30, .chunk = 1, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 30, &o, 0);
  CHECK_EQ_INT(o.done, 30);
  CHECK_EQ_INT(o.errors, 1);
  CHECK((int)o.error_first == 4);
  CHECK_EQ_INT(o.fails, 0);
  c.raise = 1;
  c.halt_on_fail = 1;
  c.total = 60;
  c.window = 8;
  p.bad_task = 3;
  drive(&c, 60, &o, 0);
  CHECK_EQ_INT(o.errors, 1);
  CHECK((int)o.error_first == 3);
  CHECK(o.done < 60); /* halted: the window kept the rest from being drawn */
  for (int t = 1; t <= 60; t++) CHECK(o.seen[t] <= 1);
  /* every odd task errs, raise without halting: the tasks before the
  ** first failure still have their outcomes, none twice */
  c.halt_on_fail = 0;
  c.total = 20;
  c.jobs = 2;
  c.chunk = 2;
  p.bad_task = -1;
  drive(&c, 20, &o, 0);
  CHECK(o.errors >= 1);
  CHECK((int)o.error_first % 2 == 1);
  CHECK(o.seen[1] == 1); /* the first task errs and is reported */
  for (int t = 1; t <= 20; t++) CHECK(o.seen[t] <= 1);
}

/* Items ride with their tasks; the ring grows past its first 64. */
static void test_items(void) {
  Proto p = {.mode = M_GOOD, .bad_task = 0};
  tide_SchedConfig c = {.jobs = 2, .total = -1, .items = 1, .chunk = 3, .window = -1,
                        .consume_on_arrival = 1, .backend = &tide_backend_fork,
                        .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 63, &o, 1);
  CHECK_EQ_INT(o.done, 63);
  CHECK_EQ_INT(o.fails, 0);
  for (int t = 1; t <= 63; t++) CHECK_EQ_INT(o.seen[t], 1);
}

/* A task that never ends fails by the timeout; the others run. */
static void test_timeout(void) {
  Proto p = {.mode = M_HANG, .bad_task = 2};
  tide_SchedConfig c = {.jobs = 2, .total = 8, .chunk = 1, .consume_on_arrival = 1,
                        .timeout = 0.5, .backend = &tide_backend_fork, .worker = proto_main,
                        .ud = &p};
  Outcome o;
  drive(&c, 8, &o, 0);
  CHECK_EQ_INT(o.done, 8);
  CHECK_EQ_INT(o.fails, 1);
  CHECK_EQ_INT(o.timeouts, 1);
  CHECK((int)o.failed_first == 2);
  CHECK_STR_HAS(o.msg, "timed out after 0.5 s");
}

/* A worker that dies with results in its spill: those past what it sent
** are recovered, the task it ran fails, the rest run elsewhere. */
static void test_spill(void) {
  Proto p = {.mode = M_SPILL, .bad_task = 8};
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(p.flag, sizeof p.flag, "%s/tide-test-sched-%d", dir, (int)getpid());
  unlink(p.flag);
  tide_SchedConfig c = {.jobs = 2, .total = 12, .chunk = 4, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 12, &o, 0);
  CHECK(access(p.flag, F_OK) == 0); /* the worker did die there */
  unlink(p.flag);
  CHECK_EQ_INT(o.done, 12);
  for (int t = 1; t <= 12; t++) CHECK_EQ_INT(o.seen[t], 1);
  CHECK_EQ_INT(o.fails, 1);
  CHECK((int)o.failed_first == 8);
  CHECK_EQ_INT(o.recovered, 2); /* 6 and 7 from the spill; 5 from its message */
  CHECK_STR_HAS(o.msg, "[task 8, worker ");
  CHECK_STR_HAS(o.msg, "killed by signal 9 (SIGKILL)");
}

/* A worker that exits: the cause names its status, and what tide's own
** exit statuses mean. */
static void test_exit(int64_t bad, const char *how) {
  Proto p = {.mode = M_QUIT, .bad_task = bad};
  tide_SchedConfig c = {.jobs = 2, .total = 4, .chunk = 1, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 4, &o, 0);
  CHECK_EQ_INT(o.done, 4);
  for (int t = 1; t <= 4; t++) CHECK_EQ_INT(o.seen[t], 1);
  CHECK_EQ_INT(o.fails, bad ? 1 : 4);
  CHECK_STR_HAS(o.msg, how);
}

/* A backend that wants the loop's setup payload, given none. */
static tide_BackendOps needy;

static int needy_start(tide_Backend **out, const tide_BackendConfig *c) {
  int rc = tide_backend_fork.start(out, c);
  if (rc == TIDE_OK) (*out)->ops = &needy;
  return rc;
}

static void test_no_setup(void) {
  needy = tide_backend_fork;
  needy.name = "needy";
  needy.start = needy_start;
  needy.setup = tide_backend_send_setup;
  Proto p = {.mode = M_GOOD, .bad_task = 0};
  tide_SchedConfig c = {.jobs = 1, .total = 2, .chunk = 1, .backend = &needy,
                        .worker = proto_main, .ud = &p};
  tide_Sched *S = NULL;
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "backend 'needy' needs the loop's setup payload");
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_malformed(M_WRONG_TASK, "wrong task");
  test_malformed(M_WRONG_TYPE, "wrong type");
  test_malformed(M_COUNT, "count");
  test_malformed(M_BAD_STATUS, "bad status");
  test_malformed(M_TOO_MANY, "too many values");
  test_malformed(M_HUGE, "huge header");
  test_errors();
  test_items();
  test_timeout();
  test_spill();
  test_exit(0, "died (exited with status 122: it was sent a malformed message)");
  test_exit(3, "died (exited with status 5) while running task 3");
  test_exit(2, "died (exited with status 200) while running task 2"); /* past tide's own */
  test_no_setup();
  return check_done();
}
