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
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "schedule.h"

enum { M_GOOD, M_WRONG_TASK, M_WRONG_TYPE, M_COUNT, M_STATUS, M_BAD_STATUS, M_TOO_MANY,
       M_HUGE, M_EXTRA, M_ERROR, M_HANG, M_QUIT, M_SPILL, M_ORDER, M_LIE, M_IDLE_QUIT };

/* M_SPILL: how the dying worker's spill and word lie (or not) */
enum { LIE_NONE, LIE_HUGE, LIE_SENT, LIE_BIG };

typedef struct Proto {
  int mode;
  int64_t bad_task; /* M_ERROR, M_HANG, M_QUIT: the task that fails (0: all);
                    ** M_SPILL: the last of a batch of 4, where the worker dies */
  char flag[256];   /* M_SPILL: made by the one worker that dies */
  int lie;          /* M_SPILL */
  char dir[200];    /* M_ORDER: where its flags go */
} Proto;

#define SPILLED 12345.0 /* M_SPILL: the begin time of entries only in the spill */

static void put_entry_head(tide_Buf *o, int64_t t, int status) {
  tide_buf_put_u64(o, (uint64_t)t);
  tide_buf_put_u8(o, (uint8_t)status);
  tide_buf_put_f64(o, 0);
  tide_buf_put_f64(o, 0);
}

static int make_flag(const Proto *p, int64_t t) { /* 1: made now */
  char f[300];
  snprintf(f, sizeof f, "%s/o%d", p->dir, (int)t);
  int fd = open(f, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  close(fd);
  return 1;
}

static int has_flag(const Proto *p, int64_t t) {
  char f[300];
  snprintf(f, sizeof f, "%s/o%d", p->dir, (int)t);
  return access(f, F_OK) == 0;
}

/* M_ORDER, batches [1..4] and [5..8]: the worker of 6 dies first; 5 runs
** again on its replacement and holds it; then the worker of 2 dies, so
** that [7..8] is still queued when [1] and [3..4] come back after it. */
static void order_step(const Proto *p, int64_t t) {
  if (t == 5 && has_flag(p, 6)) {
    make_flag(p, 5);
    while (!has_flag(p, 1)) usleep(1000);
  }
  if (t == 1 && has_flag(p, 2)) make_flag(p, 1);
  if ((t == 2 || t == 6) && make_flag(p, t)) {
    while (t == 2 && !has_flag(p, 5)) usleep(1000);
    kill(getpid(), SIGKILL);
    pause();
  }
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
        if (p->lie == LIE_SENT) { /* the two others the spill holds, sent too */
          tide_Buf two = TIDE_BUF_INIT;
          tide_buf_put_u32(&two, 2);
          for (int64_t t = first + 1; t < first + 3; t++) {
            put_entry_head(&two, t, 0);
            tide_buf_put_u32(&two, 1);
            tide_buf_put_u32(&two, 8);
            tide_buf_put_u64(&two, (uint64_t)(t * 3));
          }
          if (tide_msg_send(sock, TIDE_MSG_RESULT, &two)) return TIDE_WORKER_EXIT_SEND;
        }
        /* the spill holds the one sent already too: the parent skips it */
        if (pwrite(tide_worker_spill, out.p, out.n, 0) != (ssize_t)out.n) return TIDE_WORKER_EXIT_SEND;
        /* LIE_HUGE: a count past the file's end (and past any message);
        ** LIE_BIG: a file (sparse) and a count past any message */
        uint64_t big = (uint64_t)3 << 30;
        if (p->lie == LIE_BIG && ftruncate(tide_worker_spill, (off_t)big) != 0) big = out.n;
        atomic_store(&tide_worker_word->committed, p->lie == LIE_HUGE ? (uint64_t)1 << 40
                                                   : p->lie == LIE_BIG  ? big
                                                                        : out.n);
        atomic_store(&tide_worker_word->task, first + 3);
        kill(getpid(), SIGKILL);
        pause();
      }
    }
    tide_buf_reset(&out);
    tide_buf_put_u32(&out, p->mode == M_COUNT || p->mode == M_EXTRA ? count + 1 : count);
    for (int64_t t = first; t < first + (int64_t)count; t++) {
      atomic_store(&tide_worker_word->task, t);
      if (p->mode == M_ORDER) order_step(p, t);
      if (p->mode == M_LIE && t == p->bad_task && make_flag(p, t)) {
        atomic_store(&tide_worker_word->task, 999); /* not a task of its batch */
        kill(getpid(), SIGKILL);
        pause();
      }
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
    if (p->mode == M_EXTRA) { /* a result for the task after the batch */
      put_entry_head(&out, first + count, 0);
      tide_buf_put_u32(&out, 0);
    }
    if (p->mode == M_HUGE) {
      static const unsigned char hdr[5] = {0xff, 0xff, 0xff, 0xff, TIDE_MSG_RESULT};
      if (write(sock, hdr, 5) != 5) return TIDE_WORKER_EXIT_SEND;
      pause();
    }
    if (tide_msg_send(sock, p->mode == M_WRONG_TYPE ? TIDE_MSG_SETUP : TIDE_MSG_RESULT, &out))
      return TIDE_WORKER_EXIT_SEND;
    atomic_store(&tide_worker_word->task, 0);
    if (p->mode == M_IDLE_QUIT && first + (int64_t)count - 1 == p->bad_task) return 0;
  }
}

typedef struct Outcome {
  int seen[64], fails, errors, timeouts, done, recovered;
  int64_t failed_first, error_first;
  char msg[512];
} Outcome;

/* Descriptors each item carries (drive). */
static int item_fds;

/* Called by drive once the loop started (e NULL) and for each event. */
static void (*drive_hook)(tide_Sched *S, const tide_Event *e);

/* Runs n tasks (n <= 63) until each has an outcome or the loop is idle. */
static void drive(tide_SchedConfig *c, int n, Outcome *o, int items) {
  memset(o, 0, sizeof *o);
  tide_Sched *S;
  CHECK_EQ_INT(tide_sched_start(&S, c), TIDE_OK);
  if (drive_hook) drive_hook(S, NULL);
  if (items) { /* every item before the first wait: the ring grows */
    for (int t = 1; t <= n; t++) {
      tide_Buf b = TIDE_BUF_INIT;
      tide_buf_put_u32(&b, (uint32_t)t);
      for (int k = 0; k < item_fds; k++) CHECK(tide_buf_put_fd(&b, 2) >= 0);
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
      if (drive_hook) drive_hook(S, e);
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
    CHECK_EQ_INT(tide_sched_error(S), TIDE_OK);
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
  /* every task errs, four to a frame: the first is the loop's failure */
  c.halt_on_fail = 0;
  c.total = 16;
  c.chunk = 4;
  c.window = 0;
  p.bad_task = 0;
  drive(&c, 16, &o, 0);
  CHECK(o.errors >= 4 && o.errors == o.done);
  CHECK_EQ_INT(o.seen[1], 1);
  for (int t = 1; t <= 16; t++) CHECK(o.seen[t] <= 1);
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

/* Items whose descriptors would not fit in one frame: the batch is cut
** where they would overflow, the rest goes in the next. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  while (d && readdir(d)) n++;
  if (d) closedir(d);
  return n;
}

static void test_items_fds(void) {
  Proto p = {.mode = M_GOOD, .bad_task = 0};
  tide_SchedConfig c = {.jobs = 1, .total = -1, .items = 1, .chunk = 4, .window = -1,
                        .consume_on_arrival = 1, .backend = &tide_backend_fork,
                        .worker = proto_main, .ud = &p};
  int fds0 = count_fds();
  item_fds = 20; /* 4 x 20 > TIDE_MSG_MAXFDS */
  Outcome o;
  drive(&c, 9, &o, 1);
  item_fds = 0;
  CHECK_EQ_INT(o.done, 9);
  for (int t = 1; t <= 9; t++) CHECK_EQ_INT(o.seen[t], 1);
  CHECK_EQ_INT(count_fds(), fds0);
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
static void test_spill(int lie) {
  Proto p = {.mode = M_SPILL, .bad_task = 8, .lie = lie};
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
  /* 6 and 7 from the spill; 5 from its message (LIE_HUGE: the count is
  ** cut to the file; LIE_SENT: all three came by message, none twice;
  ** LIE_BIG: the spill is not read, 6 and 7 run again) */
  CHECK_EQ_INT(o.recovered, lie == LIE_SENT || lie == LIE_BIG ? 0 : 2);
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

/* Tide_entry_next on entries cut short or lying, one way each. */
static void test_entries(void) {
  tide_Buf b = TIDE_BUF_INIT;
  put_entry_head(&b, 5, 0);
  tide_buf_put_u32(&b, 2); /* two values */
  tide_buf_put_u32(&b, 3);
  tide_buf_put(&b, "abc", 3);
  tide_buf_put_u32(&b, 1);
  tide_buf_put(&b, "d", 1);
  put_entry_head(&b, 6, 1);
  tide_buf_put_u32(&b, 4);
  tide_buf_put(&b, "oops", 4);
  size_t whole = b.n, first_len = 25 + 4 + 4 + 3 + 4 + 1;
  tide_Entry e;
  tide_Cursor c = {b.p, b.p + whole, 0};
  CHECK_EQ_INT(tide_entry_next(&c, &e), 1);
  CHECK(e.task == 5 && e.status == 0 && e.n == 2 && e.len == 4 + 3 + 4 + 1);
  CHECK_EQ_INT(tide_entry_next(&c, &e), 1);
  CHECK(e.task == 6 && e.status == 1 && e.len == 4 && memcmp(e.body, "oops", 4) == 0);
  CHECK_EQ_INT(tide_entry_next(&c, &e), 0);
  /* every cut inside either entry is malformed, never read past the end */
  int bad = 0;
  for (size_t cut = 1; cut < whole; cut++) {
    if (cut == first_len) continue; /* a whole first entry, then the end */
    tide_Cursor k = {b.p, b.p + cut, 0};
    int r;
    while ((r = tide_entry_next(&k, &e)) > 0) {}
    bad += r != -1;
    bad += tide_entry_next(&k, &e) != -1; /* and stays so */
  }
  CHECK_EQ_INT(bad, 0);
  /* a value whose length runs past the entry */
  tide_Buf l = TIDE_BUF_INIT;
  put_entry_head(&l, 1, 0);
  tide_buf_put_u32(&l, 1);
  tide_buf_put_u32(&l, 1000);
  tide_buf_put(&l, "xy", 2);
  tide_Cursor k = {l.p, l.p + l.n, 0};
  CHECK_EQ_INT(tide_entry_next(&k, &e), -1);
  tide_buf_free(&l);
  tide_buf_free(&b);
}

/* Ids of lent segments go back through the slot word's ring, then (ring
** full) wait in the box for the next TASK, then (box full) are dropped; a
** retired box takes none; the last reference frees it. */
static void test_lease_box(void) {
  tide_SlotWord w;
  memset(&w, 0, sizeof w);
  tide_LeaseBox *b = calloc(1, sizeof *b);
  b->refs = b->alive = 1;
  b->word = &w;
  int n = TIDE_BACK_RING + TIDE_LEASE_BACK_MAX + 5;
  for (int i = 1; i <= n; i++) {
    tide_lease_box_ref(b);
    tide_lease_box_freed(b, (uint32_t)i, 1);
  }
  CHECK_EQ_INT(atomic_load(&w.back_head), TIDE_BACK_RING);
  CHECK_EQ_INT(w.back[0], 1);
  CHECK_EQ_INT(w.back[TIDE_BACK_RING - 1], TIDE_BACK_RING);
  CHECK_EQ_INT(b->n, TIDE_LEASE_BACK_MAX);
  CHECK_EQ_INT(b->ids[0], TIDE_BACK_RING + 1);
  CHECK_EQ_INT(b->ids[TIDE_LEASE_BACK_MAX - 1], TIDE_BACK_RING + TIDE_LEASE_BACK_MAX);
  atomic_store(&w.back_tail, 1); /* the worker read one: room for one more */
  tide_lease_box_ref(b);
  tide_lease_box_freed(b, 999, 1);
  CHECK_EQ_INT(w.back[0], 999);
  tide_lease_box_ref(b);
  tide_lease_box_freed(b, 1000, 0); /* not clean: kept from the worker */
  CHECK_EQ_INT(atomic_load(&w.back_head), TIDE_BACK_RING + 1);
  CHECK_EQ_INT(b->refs, 1);
  b->alive = 0;
  tide_lease_box_ref(b);
  tide_lease_box_freed(b, 1001, 1);
  CHECK_EQ_INT(atomic_load(&w.back_head), TIDE_BACK_RING + 1);
  CHECK_EQ_INT(b->n, TIDE_LEASE_BACK_MAX);
  tide_lease_box_unref(b); /* the last: freed (LeakSanitizer would see) */
  tide_lease_box_unref(NULL);
}

/* Failures the script saw (tide_sched_fail), lowest first or not: with
** raise, only the tasks before the lowest run. */
static int64_t fails_at[2];
static void fail_hook(tide_Sched *S, const tide_Event *e) {
  if (!e) {
    tide_sched_fail(S, fails_at[0]);
    tide_sched_fail(S, fails_at[1]);
  }
}

static void test_script_fail(void) {
  Proto p = {.mode = M_GOOD};
  tide_SchedConfig c = {.jobs = 1, .total = 10, .chunk = 1, .consume_on_arrival = 1, .raise = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive_hook = fail_hook;
  for (int k = 0; k < 2; k++) {
    fails_at[k] = 5;
    fails_at[1 - k] = 8;
    drive(&c, 10, &o, 0);
    CHECK_EQ_INT(o.done, 4);
    for (int t = 1; t <= 10; t++) CHECK_EQ_INT(o.seen[t], t <= 4);
  }
  drive_hook = NULL;
}

/* A batch given back after a timeout is cut at a failure the script saw
** meanwhile: [1..4] times out in 2, [1] and [3..4] come back, the script
** fails 4 (then 6, which changes nothing): 1 and 3 run, 4 does not. */
static void cut_hook(tide_Sched *S, const tide_Event *e) {
  if (!e || e->kind != TIDE_EV_FAIL) return;
  CHECK_EQ_INT(tide_sched_idle(S), 0); /* the dead slot's tasks wait */
  tide_sched_fail(S, 4);
  tide_sched_fail(S, 6);
}

static void test_retry_cut(void) {
  Proto p = {.mode = M_HANG, .bad_task = 2};
  tide_SchedConfig c = {.jobs = 1, .total = 4, .chunk = 4, .consume_on_arrival = 1, .raise = 1,
                        .timeout = 0.5, .backend = &tide_backend_fork, .worker = proto_main,
                        .ud = &p};
  Outcome o;
  drive_hook = cut_hook;
  drive(&c, 4, &o, 0);
  drive_hook = NULL;
  CHECK_EQ_INT(o.timeouts, 1);
  CHECK_EQ_INT(o.seen[1], 1);
  CHECK_EQ_INT(o.seen[2], 1);
  CHECK_EQ_INT(o.seen[3], 1);
  CHECK_EQ_INT(o.seen[4], 0);
}

/* Batches given back out of order go out lowest first (see order_step). */
static void test_retry_order(void) {
  Proto p = {.mode = M_ORDER};
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(p.dir, sizeof p.dir, "%s/tide-test-order-%d", dir, (int)getpid());
  CHECK(mkdir(p.dir, 0700) == 0);
  tide_SchedConfig c = {.jobs = 2, .total = 8, .chunk = 4, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 8, &o, 0);
  CHECK_EQ_INT(o.done, 8);
  CHECK_EQ_INT(o.fails, 2); /* 2 and 6, whose workers died */
  for (int t = 1; t <= 8; t++) CHECK_EQ_INT(o.seen[t], 1);
  CHECK(has_flag(&p, 1) && has_flag(&p, 5)); /* it went as planned */
  char f[300];
  for (int t = 1; t <= 6; t++) {
    snprintf(f, sizeof f, "%s/o%d", p.dir, t);
    unlink(f);
  }
  rmdir(p.dir);
}

/* A worker whose word names a task outside its batch when it dies: the
** batch counts as not begun and runs again, no task fails. */
static void test_word_lies(void) {
  Proto p = {.mode = M_LIE, .bad_task = 3};
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(p.dir, sizeof p.dir, "%s/tide-test-lie-%d", dir, (int)getpid());
  CHECK(mkdir(p.dir, 0700) == 0);
  tide_SchedConfig c = {.jobs = 1, .total = 4, .chunk = 4, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 4, &o, 0);
  CHECK(has_flag(&p, 3)); /* it did die */
  CHECK_EQ_INT(o.done, 4);
  CHECK_EQ_INT(o.fails, 0);
  for (int t = 1; t <= 4; t++) CHECK_EQ_INT(o.seen[t], 1);
  char f[300];
  snprintf(f, sizeof f, "%s/o3", p.dir);
  unlink(f);
  rmdir(p.dir);
}

/* A worker that exits idle (its results sent, the window full) fails no
** task: its death is seen when its next batch goes (or is taken for it),
** and the batch runs on its replacement. */
static void test_idle_death(void) {
  Proto p = {.mode = M_IDLE_QUIT, .bad_task = 2};
  tide_SchedConfig c = {.jobs = 1, .total = 4, .chunk = 1, .window = 2,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  tide_Sched *S;
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_OK);
  int results = 0, fails = 0, made_room = 0;
  for (int i = 0; i < 600 && results + fails < 4; i++) {
    tide_sched_wait(S, 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      if (e->kind == TIDE_EV_FAIL) fails++;
      else results += (int)tide_cur_u32(&(tide_Cursor){e->buf.p, e->buf.p + e->buf.n, 0});
      tide_event_free(e);
    }
    if (results == 2 && !made_room) { /* room for 3 and 4 */
      tide_sched_consumed(S, 2);
      made_room = 1;
    }
    CHECK_EQ_INT(tide_sched_respawn(S), TIDE_OK);
  }
  CHECK_EQ_INT(results, 4);
  CHECK_EQ_INT(fails, 0);
  tide_sched_close(S);
}

/* A backend that shares no slot word (as mpi): a lost worker's batch is
** blamed on the first task not received, unless the backend knows the
** task its worker ran (running).  rank names a slot's rank. */
static tide_BackendOps wordless;

static int wordless_start(tide_Backend **out, const tide_BackendConfig *c) {
  int rc = tide_backend_fork.start(out, c);
  if (rc == TIDE_OK) (*out)->ops = &wordless;
  return rc;
}
static tide_SlotWord *no_word(tide_Backend *b, int id) { (void)b; (void)id; return NULL; }
static int64_t ran(tide_Backend *b, int id) { /* what its host saw: here, the real word */
  return atomic_load(&tide_backend_fork.word(b, id)->task);
}
static int rank_of(tide_Backend *b, int id) { (void)b; return 100 + id; }

static void test_wordless(void) {
  wordless = tide_backend_fork;
  wordless.name = "wordless";
  wordless.start = wordless_start;
  wordless.word = no_word;
  wordless.rank = rank_of;
  Proto p = {.mode = M_QUIT, .bad_task = 3};
  tide_SchedConfig c = {.jobs = 1, .total = 4, .chunk = 4, .consume_on_arrival = 1,
                        .backend = &wordless, .worker = proto_main, .ud = &p};
  Outcome o;
  drive(&c, 4, &o, 0); /* [1..4] dies in 3: 1 fails; [2..4]: 2; [3..4]: 3; 4 runs */
  CHECK_EQ_INT(o.done, 4);
  CHECK_EQ_INT(o.fails, 3);
  CHECK((int)o.failed_first == 1);
  CHECK_STR_HAS(o.msg, "[task 3, worker 1]");
  for (int t = 1; t <= 4; t++) CHECK_EQ_INT(o.seen[t], 1);
  wordless.running = ran;
  drive(&c, 4, &o, 0); /* its host knows: only 3 fails */
  CHECK_EQ_INT(o.done, 4);
  CHECK_EQ_INT(o.fails, 1);
  CHECK((int)o.failed_first == 3);
  for (int t = 1; t <= 4; t++) CHECK_EQ_INT(o.seen[t], 1);
  tide_Sched *S;
  c.jobs = 2;
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_OK);
  CHECK_EQ_INT(tide_sched_rank(S, 1), 101);
  CHECK_EQ_INT(tide_sched_rank(S, 2), 102);
  CHECK_EQ_INT(tide_sched_rank(S, 0), -1);
  CHECK_EQ_INT(tide_sched_rank(S, 3), -1);
  CHECK_EQ_INT(tide_sched_jobs(S), 2);
  tide_sched_close(S);
  c.backend = &tide_backend_fork; /* no ranks */
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_OK);
  CHECK_EQ_INT(tide_sched_rank(S, 1), -1);
  tide_sched_close(S);
}

/* No descriptor left for the service thread's eventfd: a clear error, and
** the loop still runs in the foreground, and in the background later. */
static void test_no_eventfd(void) {
  Proto p = {.mode = M_GOOD};
  tide_SchedConfig c = {.jobs = 1, .total = 6, .chunk = 1, .consume_on_arrival = 1,
                        .backend = &tide_backend_fork, .worker = proto_main, .ud = &p};
  tide_Sched *S;
  CHECK_EQ_INT(tide_sched_start(&S, &c), TIDE_OK);
  struct rlimit old, low;
  CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
  low = old;
  low.rlim_cur = 64;
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
  int held[64], nheld = 0, fd;
  while (nheld < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) held[nheld++] = fd;
  CHECK_EQ_INT(tide_sched_background(S), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot create an eventfd");
  while (nheld > 0) close(held[--nheld]);
  CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
  int done = 0;
  for (int i = 0; i < 600 && done < 3; i++) { /* in the foreground */
    tide_sched_wait(S, 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      done += e->kind == TIDE_EV_FRAME;
      tide_event_free(e);
    }
  }
  CHECK(done >= 3);
  CHECK_EQ_INT(tide_sched_background(S), TIDE_OK); /* then in the background */
  CHECK_EQ_INT(tide_sched_background(S), TIDE_OK); /* (once) */
  for (int i = 0; i < 600 && !tide_sched_idle(S); i++) {
    tide_sched_wait(S, 100);
    for (tide_Event *e = tide_sched_take(S), *next; e; e = next) {
      next = e->next;
      done += e->kind == TIDE_EV_FRAME;
      tide_event_free(e);
    }
  }
  CHECK_EQ_INT(done, 6);
  CHECK_EQ_INT(tide_sched_wait(S, 0), 0); /* nothing left: a look, no wait */
  tide_sched_close(S);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_malformed(M_WRONG_TASK, "wrong task");
  test_malformed(M_WRONG_TYPE, "wrong type");
  test_malformed(M_COUNT, "count");
  test_malformed(M_BAD_STATUS, "bad status");
  test_malformed(M_TOO_MANY, "too many values");
  test_malformed(M_HUGE, "huge header");
  test_malformed(M_EXTRA, "a result past the batch");
  test_errors();
  test_items();
  test_items_fds();
  test_timeout();
  test_spill(LIE_NONE);
  test_spill(LIE_HUGE);
  test_spill(LIE_SENT);
  test_spill(LIE_BIG);
  test_exit(0, "died (exited with status 122: it was sent a malformed message)");
  test_exit(3, "died (exited with status 5) while running task 3");
  test_exit(2, "died (exited with status 200) while running task 2"); /* past tide's own */
  test_no_setup();
  test_entries();
  test_lease_box();
  test_script_fail();
  test_retry_cut();
  test_retry_order();
  test_wordless();
  test_no_eventfd();
  test_word_lies();
  test_idle_death();
  return check_done();
}
