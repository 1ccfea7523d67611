/*
** schedule.c -- the parent's side of a parallel loop: see schedule.h.
**
** The workers are reached only through the loop's backend (backend.h),
** whichever it is.
**
** Locking: one mutex per loop guards everything below but the backend's
** slots, whose live ones belong to the service thread and whose dead ones
** belong to the script's thread until tide_sched_respawn gives them back.
** The service thread waits (the backend's `wait`) and reads messages
** without the lock; it sends TASK messages with it (only to idle workers,
** which are waiting in recv, so a send does not block for long).  Leases
** have one process-wide lock, taken inside a loop's.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "schedule.h"

#define MAX_MSG ((size_t)1 << 31)
#define TARGET_BATCH 0.1   /* seconds per batch with chunk = "auto" */
#define ITEM_BATCH_MAX 64  /* tasks per batch when they carry items (auto) */
#define SPARE_MSG 512      /* the spare FAIL event's message room */
#define BARREN_MAX 3       /* a slot's workers dying this often in a row before any task */
#define START_MAX 30.0     /* seconds a worker may take over its setup before its timeout runs */

typedef struct Slot {
  int dead;                  /* waits for tide_sched_respawn */
  int64_t first, count, got; /* its batch; count 0: idle */
  double sent;
  tide_LeaseBox *box;        /* leases of its worker */
  int barren;                /* its workers that died in a row with no result sent */
} Slot;

typedef struct Range {
  int64_t first, count;
} Range;

struct tide_Sched {
  tide_SchedConfig c;
  tide_Backend *B;
  Slot *slots;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int thread_on, quit, halted, foreign, ndead, main_waiting, starved;
  int wakefd;
  pid_t owner;
  int64_t total, next_fresh, outstanding, consumed, fail_min, chunk;
  Range *retry;
  int nretry, retrycap;
  tide_Event *spare;         /* a FAIL event kept for when calloc fails */
  int err;                   /* the loop is broken: what tide_sched_error returns */
  char errmsg[SPARE_MSG];
  tide_Buf **ring;           /* items of tasks item_lo.. (ring from rhead) */
  int64_t item_lo, next_item;
  size_t rcap, rhead;
  tide_Event *head, *tail;
  tide_Buf out, rb;          /* the driver's TASK and RESULT messages */
  int wid[256];              /* slots waited on by serve */
  unsigned char wready[256];
  tide_Sched *next, *prev;   /* live loops, parked around every fork */
};

/* ------------------------------------------------------------- entries */

int tide_entry_next(tide_Cursor *c, tide_Entry *e) {
  if (c->bad) return -1;
  if (c->p >= c->end) return 0;
  e->task = (int64_t)tide_cur_u64(c);
  e->status = tide_cur_u8(c);
  e->begin = tide_cur_f64(c);
  e->end = tide_cur_f64(c);
  if (e->status == 0) {
    e->n = tide_cur_u32(c);
    if (e->n > 250) return -1;
    e->body = c->p;
    for (uint32_t i = 0; i < e->n && !c->bad; i++) tide_cur_bytes(c, tide_cur_u32(c));
    e->len = c->bad ? 0 : (size_t)(c->p - e->body);
  } else if (e->status == 1) {
    e->n = 0;
    e->len = tide_cur_u32(c);
    e->body = tide_cur_bytes(c, e->len);
  } else {
    return -1;
  }
  return c->bad ? -1 : 1;
}

/* --------------------------------------------------------------- leases */

static pthread_mutex_t lease_mu = PTHREAD_MUTEX_INITIALIZER;

void tide_lease_box_ref(tide_LeaseBox *b) {
  pthread_mutex_lock(&lease_mu);
  b->refs++;
  pthread_mutex_unlock(&lease_mu);
}

void tide_lease_box_freed(tide_LeaseBox *b, uint32_t id, int clean) {
  pthread_mutex_lock(&lease_mu);
  if (b->alive && clean) {
    tide_SlotWord *w = b->word; /* NULL: no shared word, ids ride on TASK */
    uint32_t head = w ? atomic_load_explicit(&w->back_head, memory_order_relaxed) : 0;
    if (w && head - atomic_load_explicit(&w->back_tail, memory_order_acquire) < TIDE_BACK_RING) {
      w->back[head % TIDE_BACK_RING] = id;
      atomic_store_explicit(&w->back_head, head + 1, memory_order_release);
    } else if (b->n < TIDE_LEASE_BACK_MAX) {
      b->ids[b->n++] = id;
    }
  }
  int gone = --b->refs == 0;
  pthread_mutex_unlock(&lease_mu);
  if (gone) free(b);
}

void tide_lease_box_unref(tide_LeaseBox *b) {
  if (b) tide_lease_box_freed(b, 0, 0);
}

static tide_LeaseBox *box_new(tide_SlotWord *word) {
  tide_LeaseBox *b = tide__calloc(1, sizeof *b);
  if (b) {
    b->refs = b->alive = 1;
    b->word = word;
  }
  return b;
}

/* The slot's worker is gone: ids it lent can no longer go back. */
static void box_retire(tide_LeaseBox **bp) {
  tide_LeaseBox *b = *bp;
  *bp = NULL;
  if (!b) return;
  pthread_mutex_lock(&lease_mu);
  b->alive = 0;
  pthread_mutex_unlock(&lease_mu);
  tide_lease_box_unref(b);
}

/* ------------------------------------------------------- fork safety */

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static tide_Sched *live;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) {
  pthread_mutex_lock(&live_mu);
  for (tide_Sched *S = live; S; S = S->next) pthread_mutex_lock(&S->mu);
}

static void fork_parent(void) {
  for (tide_Sched *S = live; S; S = S->next) pthread_mutex_unlock(&S->mu);
  pthread_mutex_unlock(&live_mu);
}

/* The child has no service thread: its copies of the loops are not its. */
static void fork_child(void) {
  for (tide_Sched *S = live, *next; S; S = next) {
    next = S->next;
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    S->foreign = 1;
    S->next = S->prev = NULL;
  }
  live = NULL;
  pthread_mutex_init(&live_mu, NULL);
  pthread_mutex_init(&lease_mu, NULL);
}

static void register_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* --------------------------------------------------------------- events */

static void wake(tide_Sched *S);

void tide_event_free(tide_Event *e) {
  if (!e) return;
  tide_buf_free(&e->buf);
  tide_lease_box_unref(e->box);
  e->box = NULL;
  tide_Sched *S = e->home;
  if (S) { /* the spare (there is one): back to its loop, for the next failure */
    pthread_mutex_lock(&S->mu);
    S->spare = e;
    pthread_mutex_unlock(&S->mu);
    wake(S); /* a batch that could not be sent waits for it */
    return;
  }
  free(e);
}

static void push_event(tide_Sched *S, tide_Event *e) {
  e->next = NULL;
  if (S->tail) S->tail->next = e;
  else S->head = e;
  S->tail = e;
  if (S->main_waiting) pthread_cond_signal(&S->cv);
}

static void wake(tide_Sched *S) {
  uint64_t one = 1;
  if (S->wakefd < 0) return; /* no thread: the script's thread serves */
  /* a non-blocking eventfd: the write never sleeps, so no EINTR */
  ssize_t w = write(S->wakefd, &one, sizeof one);
  (void)w;
}

/* The service side could not keep its books without memory (a failure it
** cannot queue, tasks it cannot give back, results it cannot keep): the
** loop stops handing out tasks, and the script's thread raises the first
** such message (tide_sched_error) at its next look.  Never an abort: a
** task outcome may not vanish silently, but the loop may end with an error. */
static void broken(tide_Sched *S, const char *fmt, ...) {
  if (!S->err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(S->errmsg, sizeof S->errmsg, fmt, ap);
    va_end(ap);
    S->err = TIDE_ENOMEM;
  }
  S->halted = 1;
  if (S->main_waiting) pthread_cond_signal(&S->cv);
}

/* ---------------------------------------------------------------- items */

static tide_Buf **item_ref(tide_Sched *S, int64_t task) {
  if (task < S->item_lo || (uint64_t)(task - S->item_lo) >= S->rcap) return NULL;
  return &S->ring[(S->rhead + (size_t)(task - S->item_lo)) % S->rcap];
}

static void drop_item(tide_Sched *S, int64_t task) {
  tide_Buf **r = item_ref(S, task);
  if (!r || !*r) return;
  tide_buf_free(*r);
  free(*r);
  *r = NULL;
  while (S->item_lo < S->next_item && S->ring[S->rhead] == NULL) {
    S->rhead = (S->rhead + 1) % S->rcap;
    S->item_lo++;
  }
}

/* ------------------------------------------------------------ batching */

static int64_t batch_size(tide_Sched *S) {
  int64_t b = S->chunk;
  if (S->c.chunk_auto) {
    if (S->c.items && b > ITEM_BATCH_MAX) b = ITEM_BATCH_MAX;
    if (S->total > 0) { /* keep the tail balanced */
      int64_t cap = (S->total - S->next_fresh + 1) / (2 * S->c.jobs);
      if (b > cap) b = cap;
    }
  }
  return b < 1 ? 1 : b;
}

static int64_t window(tide_Sched *S) {
  if (S->c.window > 0) return S->c.window;
  if (S->c.window < 0) return INT64_MAX / 4;
  return 2 * (int64_t)S->c.jobs * batch_size(S);
}

/* A batch no larger than a worker's share of an explicit window. */
static int64_t eff_batch(tide_Sched *S) {
  int64_t b = batch_size(S);
  if (S->c.window > 0) {
    int64_t share = S->c.window / S->c.jobs;
    if (b > share) b = share < 1 ? 1 : share;
  }
  return b;
}

static int64_t fail_cap(tide_Sched *S) { return S->fail_min ? S->fail_min - 1 : INT64_MAX; }

/* The last task that may be sent for the first time, ignoring the window. */
static int64_t fresh_limit(tide_Sched *S) {
  int64_t lim = fail_cap(S);
  if (S->total >= 0 && S->total < lim) lim = S->total;
  if (S->c.items && S->next_item - 1 < lim) lim = S->next_item - 1;
  return lim;
}

/* Gives tasks back.  Ranges that touch are merged, which keeps their
** number near the workers' (a batch given back lies between others), and
** the array, made at start for twice the workers, grows while two places
** are still free: a failed realloc then costs nothing, and the loop ends
** with an error only after many failures in a row. */
static void push_retry(tide_Sched *S, int64_t first, int64_t count) {
  if (count <= 0) return;
  for (int i = 0; i < S->nretry; i++) {
    Range *r = &S->retry[i];
    if (r->first + r->count == first || first + count == r->first) {
      if (first < r->first) r->first = first;
      r->count += count;
      return;
    }
  }
  if (S->nretry == S->retrycap) {
    broken(S, "out of memory: tasks %lld to %lld could not be given back to the queue",
           (long long)first, (long long)(first + count - 1));
    return;
  }
  S->retry[S->nretry++] = (Range){first, count};
  if (S->nretry + 2 > S->retrycap) {
    int cap = S->retrycap * 2;
    Range *r = tide__realloc(S->retry, (size_t)cap * sizeof *r);
    if (r) {
      S->retry = r;
      S->retrycap = cap;
    }
  }
}

static void note_fail(tide_Sched *S, int64_t task) {
  if (!S->c.raise) return;
  if (S->fail_min == 0 || task < S->fail_min) S->fail_min = task;
  if (S->c.halt_on_fail) S->halted = 1;
}

/* The next batch to send: tasks given back first, lowest first; then
** fresh ones, within the window.  0 when there is none now. */
static int pick(tide_Sched *S, int64_t *first, int64_t *count) {
  if (S->halted) return 0;
  int64_t cap = fail_cap(S), eb = eff_batch(S);
  int best = -1;
  for (int i = 0; i < S->nretry; i++) {
    if (S->retry[i].first > cap) { /* after a failure that ends the loop */
      S->retry[i--] = S->retry[--S->nretry];
      continue;
    }
    if (best < 0 || S->retry[i].first < S->retry[best].first) best = i;
  }
  if (best >= 0) {
    Range *r = &S->retry[best];
    int64_t n = r->count < eb ? r->count : eb;
    if (n > cap - r->first + 1) n = cap - r->first + 1;
    *first = r->first;
    *count = n;
    r->first += n;
    r->count -= n;
    if (r->count == 0) S->retry[best] = S->retry[--S->nretry];
    return 1;
  }
  int64_t lim = fresh_limit(S);
  if (S->next_fresh > lim) return 0;
  int64_t room = window(S) - (S->next_fresh - 1 - S->consumed);
  if (room < eb && !(room >= 1 && S->outstanding == 0)) return 0;
  int64_t n = eb < room ? eb : room;
  if (n > lim - S->next_fresh + 1) n = lim - S->next_fresh + 1;
  *first = S->next_fresh;
  *count = n;
  S->next_fresh += n;
  return 1;
}

static void lost(tide_Sched *S, int id, const char *why, int timed_out);
static void arrived(tide_Sched *S, int64_t task, int hard_failure);

static void send_batch(tide_Sched *S, int id, int64_t first, int64_t count) {
  Slot *s = &S->slots[id - 1];
  tide_Buf *b = &S->out;
  tide_buf_reset(b);
  int bad = tide_buf_put_u64(b, (uint64_t)first) || tide_buf_put_u32(b, (uint32_t)count);
  pthread_mutex_lock(&lease_mu);
  tide_LeaseBox *bx = s->box;
  int nback = bx ? bx->n : 0;
  bad = bad || tide_buf_put_u32(b, (uint32_t)nback);
  for (int i = 0; i < nback && !bad; i++) bad = tide_buf_put_u32(b, bx->ids[i]);
  if (bx && !bad) bx->n = 0;
  pthread_mutex_unlock(&lease_mu);
  if (S->c.items) {
    for (int64_t t = first; t < first + count && !bad; t++) {
      tide_Buf *it = *item_ref(S, t);
      if (b->nfds + it->nfds > TIDE_MSG_MAXFDS && t > first) {
        push_retry(S, t, first + count - t); /* the rest in the next batch */
        count = t - first;
        tide_buf_patch_u32(b, 8, (uint32_t)count);
        break;
      }
      bad = tide_buf_put_u32(b, (uint32_t)it->n) || tide_buf_put_u32(b, (uint32_t)it->nfds) ||
            tide_buf_put(b, it->p, it->n);
      for (int k = 0; k < it->nfds && !bad; k++) bad = tide_buf_put_fd(b, it->fds[k]) < 0;
    }
  }
  if (bad) { /* out of memory or descriptors */
    tide_buf_reset(b);
    if (S->outstanding == 0 && S->spare) {
      /* nothing in flight will free anything: the first task fails, so
      ** that the loop ends with an error rather than retrying forever */
      tide_Event *ev = S->spare;
      S->spare = NULL;
      push_retry(S, first + 1, count - 1);
      S->outstanding++; /* arrived() counts it out */
      arrived(S, first, 1);
      ev->kind = TIDE_EV_FAIL;
      ev->slot = id;
      ev->task = first;
      ev->hard = 1;
      ev->buf = (tide_Buf)TIDE_BUF_INIT;
      snprintf(ev->msg, SPARE_MSG, "[task %lld, worker %d] could not be sent: %s",
               (long long)first, id, tide_lasterror());
      push_event(S, ev);
      return;
    }
    push_retry(S, first, count); /* try again when results have come */
    return;
  }
  s->first = first;
  s->count = count;
  s->got = 0;
  s->sent = tide_now();
  S->outstanding += count;
  if (S->B->ops->send(S->B, id, TIDE_MSG_TASK, b) != TIDE_OK)
    lost(S, id, "could not be sent its task", 0);
  tide_buf_reset(b);
}

static void dispatch(tide_Sched *S) {
  S->starved = 0;
  for (int id = 1; id <= S->c.jobs; id++) {
    Slot *s = &S->slots[id - 1];
    if (s->dead || s->count) continue;
    int64_t first, count;
    if (!pick(S, &first, &count)) {
      S->starved = 1; /* an idle worker waits for the script */
      return;
    }
    send_batch(S, id, first, count);
  }
}

/* --------------------------------------------------------------- results */

/* A task has an outcome. */
static void arrived(tide_Sched *S, int64_t task, int hard_failure) {
  S->outstanding--;
  if (S->c.consume_on_arrival) S->consumed++;
  if (S->c.items) drop_item(S, task);
  if (hard_failure) note_fail(S, task);
}

/* Accounts a RESULT frame from slot id and queues it for the script.
** Takes fb's contents.  -1 when it does not follow the slot's batch; 1
** when it cannot be queued (out of memory: the loop is broken). */
static int take_frame(tide_Sched *S, int id, tide_Buf *fb) {
  Slot *s = &S->slots[id - 1];
  tide_Cursor c = {fb->p, fb->p + fb->n, 0};
  uint32_t count = tide_cur_u32(&c), k = 0;
  int64_t from = s->first + s->got, failed = 0;
  tide_Entry e;
  int r;
  while ((r = tide_entry_next(&c, &e)) > 0) {
    if (e.task != from + k || s->got + k >= s->count) return -1;
    if (e.status == 1 && !failed) failed = e.task;
    k++;
  }
  if (r < 0 || k != count) return -1;
  tide_Event *ev = tide__calloc(1, sizeof *ev);
  if (!ev) {
    broken(S, "out of memory: the results of tasks %lld to %lld (worker %d) could not be kept",
           (long long)from, (long long)(from + k - 1), id);
    return 1;
  }
  s->got += k;
  s->barren = 0;
  S->outstanding -= k;
  if (S->c.consume_on_arrival) S->consumed += k;
  for (uint32_t i = 0; S->c.items && i < k; i++) drop_item(S, from + i);
  if (failed) note_fail(S, failed);
  ev->kind = TIDE_EV_FRAME;
  ev->slot = id;
  ev->sent = s->sent;
  ev->buf = *fb;
  *fb = (tide_Buf)TIDE_BUF_INIT;
  ev->box = s->box;
  if (ev->box) tide_lease_box_ref(ev->box);
  push_event(S, ev);
  if (s->got >= s->count) { /* the batch is done: the worker is idle */
    if (S->c.chunk_auto) {
      double d = tide_now() - s->sent;
      if (d > 0) {
        double ideal = (double)s->count * TARGET_BATCH / d;
        double lo = (double)S->chunk / 2, hi = (double)S->chunk * 8;
        ideal = ideal < lo ? lo : ideal > hi ? hi : ideal;
        S->chunk = ideal < 1 ? 1 : (int64_t)ideal;
      }
    }
    s->count = 0;
  }
  return 0;
}

/* Results a dead worker had finished and not sent: the entries its spill
** file commits past those already received. */
static void recover(tide_Sched *S, int id, uint64_t committed) {
  Slot *s = &S->slots[id - 1];
  int fd = S->B->ops->spill(S->B, id);
  struct stat st;
  if (committed <= 4 || fd < 0 || fstat(fd, &st) != 0) return;
  if (committed > (uint64_t)st.st_size) committed = (uint64_t)st.st_size;
  if (committed > MAX_MSG) return;
  tide_Buf b = TIDE_BUF_INIT, f = TIDE_BUF_INIT;
  if (tide_buf_reserve(&b, committed) != TIDE_OK) {
    broken(S, "out of memory: the results worker %d saved could not be read", id);
    return;
  }
  size_t got = 0;
  while (got < committed) {
    ssize_t r = pread(fd, b.p + got, committed - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  b.n = got;
  tide_Cursor c = {b.p + 4, b.p + b.n, 0};
  int64_t want = s->first + s->got;
  const unsigned char *from = NULL;
  uint32_t n = 0;
  tide_Entry e;
  for (;;) {
    const unsigned char *at = c.p;
    if (tide_entry_next(&c, &e) <= 0) break;
    if (e.task < want) continue; /* received already */
    if (!from) from = at;
    n++;
  }
  if (n && (tide_buf_put_u32(&f, n) || tide_buf_put(&f, from, (size_t)(c.p - from))))
    broken(S, "out of memory: the results worker %d saved could not be read", id);
  else if (n)
    (void)take_frame(S, id, &f); /* a spill out of order is ignored */
  tide_buf_free(&f);
  tide_buf_free(&b);
}

/* Slot id's worker died, broke the protocol or ran past its timeout: kill
** and reap it, save what it finished, fail the task it was running, give
** back the rest of its batch, and leave the slot for tide_sched_respawn. */
static void lost(tide_Sched *S, int id, const char *why, int timed_out) {
  Slot *s = &S->slots[id - 1];
  const tide_BackendOps *ops = S->B->ops;
  tide_SlotWord *word = ops->word(S->B, id); /* NULL: not shared, nothing to recover */
  /* give a dying worker a moment to be reaped with its real cause */
  for (int i = 0; !timed_out && i < 50 && !ops->reap(S->B, id, 0); i++) usleep(2000);
  ops->kill(S->B, id);
  int64_t cur = word ? atomic_load(&word->task) : ops->running ? ops->running(S->B, id) : -1;
  if (s->count > 0 && word) {
    recover(S, id, atomic_load(&word->committed));
  }
  if (s->count > 0) {
    int64_t next = s->first + s->got, end = s->first + s->count, victim = 0;
    if (cur >= next && cur < end) victim = cur;
    else if (timed_out || cur < 0) victim = next; /* not known: the first not received */
    /* a worker that dies before it runs anything (a setup it cannot read,
    ** a program that does not start) would be replaced forever: after a
    ** few in a row, the batch's first task fails with the cause */
    else if (s->barren + 1 >= BARREN_MAX) victim = next;
    S->outstanding -= end - next;
    if (victim) {
      push_retry(S, next, victim - next); /* none: they would be in the spill */
      push_retry(S, victim + 1, end - victim - 1);
      S->outstanding++; /* arrived() counts it out */
      arrived(S, victim, !timed_out);
      char who[96], how[96], msg[SPARE_MSG];
      ops->describe(S->B, id, who, sizeof who, how, sizeof how);
      if (timed_out)
        snprintf(msg, sizeof msg, "[task %lld, worker %d] timed out after %g s (%s killed)",
                 (long long)victim, id, S->c.timeout, who);
      else
        snprintf(msg, sizeof msg, "[task %lld, worker %d] %s %s (%s) while running task %lld",
                 (long long)victim, id, who, why, how, (long long)victim);
      size_t len = strlen(msg) + 1;
      tide_Event *ev = tide__calloc(1, sizeof *ev + len);
      if (!ev) ev = S->spare, S->spare = NULL; /* len <= sizeof msg == SPARE_MSG */
      if (ev) {
        ev->kind = TIDE_EV_FAIL;
        ev->slot = id;
        ev->task = victim;
        ev->hard = !timed_out;
        ev->buf = (tide_Buf)TIDE_BUF_INIT;
        memcpy(ev->msg, msg, len);
        push_event(S, ev);
      } else { /* the task's outcome goes with the loop's error: no task vanishes */
        broken(S, "%s; out of memory to report it", msg);
      }
    } else {
      push_retry(S, next, end - next);
    }
    s->count = 0;
  }
  if (word) {
    atomic_store(&word->task, 0);
    atomic_store(&word->committed, 0);
  }
  box_retire(&s->box);
  s->barren++;
  s->dead = 1;
  S->ndead++;
  if (S->main_waiting) pthread_cond_signal(&S->cv);
}

/* A fresh worker in slot id gets the loop's setup payload before its
** first batch, where its backend wants one (backend.h). */
static int setup(tide_Sched *S, int id) {
  if (!S->B->ops->setup) return TIDE_OK;
  if (!S->c.setup) return tide__seterr(TIDE_EINVAL, "backend '%s' needs the loop's setup payload",
                                       S->B->ops->name);
  tide_SlotWord *w = S->B->ops->word(S->B, id);
  if (w) atomic_store(&w->ready, 0); /* set again by the worker when it has read this */
  return S->B->ops->setup(S->B, id, S->c.setup);
}

/* When slot id's batch started to count against the timeout: when it was
** sent, or when its worker finished reading its setup if that came later
** (a spawned worker's exec and setup are not the task's time).  A worker
** still reading it gets up to START_MAX s more: -1 while that lasts. */
static double clock_start(tide_Sched *S, int id, double now) {
  Slot *s = &S->slots[id - 1];
  if (!S->B->ops->setup) return s->sent;
  tide_SlotWord *w = S->B->ops->word(S->B, id);
  if (!w) return s->sent;
  int64_t ready = atomic_load(&w->ready);
  if (ready == 0) return now - s->sent < START_MAX ? -1 : s->sent + START_MAX;
  double r = (double)ready * 1e-9;
  return r > s->sent ? r : s->sent;
}

/* ----------------------------------------------------------- the thread */

static int check_timeouts(tide_Sched *S) {
  if (S->c.timeout <= 0) return 1000;
  double now = tide_now(), soonest = 1.0;
  for (int id = 1; id <= S->c.jobs; id++) {
    Slot *s = &S->slots[id - 1];
    if (s->dead || !s->count) continue;
    double start = clock_start(S, id, now);
    if (start < 0) { /* still starting: look again soon */
      if (soonest > 0.05) soonest = 0.05;
      continue;
    }
    double left = start + S->c.timeout - now;
    if (left <= 0) lost(S, id, "timed out", 1);
    else if (left < soonest) soonest = left;
  }
  return (int)(soonest * 1000) + 1;
}

/* One round of service, the lock held: send idle workers their next batch,
** wait up to ms for messages (without the lock), take them, send again.
** Run by the service thread, or by the script's thread while it waits and
** no service thread runs (collect, pfor: the script has nothing else to
** do, and a second thread would make every copy-on-write fault after the
** fork a TLB shootdown across CPUs). */
static void serve(tide_Sched *S, int ms) {
  dispatch(S);
  int tms = check_timeouts(S);
  if (tms < ms) ms = tms;
  if (S->quit) return;
  int n = 0, woken = 0;
  for (int id = 1; id <= S->c.jobs; id++) {
    Slot *s = &S->slots[id - 1];
    if (s->dead || !s->count) continue;
    S->wid[n] = id;
    S->wready[n++] = 0;
  }
  pthread_mutex_unlock(&S->mu);
  int r = S->B->ops->wait(S->B, S->wid, n, S->wakefd, ms, S->wready, &woken);
  pthread_mutex_lock(&S->mu);
  if (r <= 0) return;
  if (woken) {
    uint64_t v;
    ssize_t rd = read(S->wakefd, &v, sizeof v);
    (void)rd;
  }
  for (int i = 0; i < n && !S->quit; i++) {
    if (!S->wready[i]) continue;
    int id = S->wid[i];
    uint8_t type = 0;
    pthread_mutex_unlock(&S->mu);
    int rc = S->B->ops->recv(S->B, id, &type, &S->rb, MAX_MSG);
    pthread_mutex_lock(&S->mu);
    if (S->quit) break; /* the loop closes: its workers were killed */
    if (rc != TIDE_OK)
      lost(S, id, rc == TIDE_EFORMAT ? "sent a malformed message" : "died", 0);
    else if (type != TIDE_MSG_RESULT || take_frame(S, id, &S->rb) < 0)
      lost(S, id, "sent a malformed message", 0);
    tide_buf_reset(&S->rb);
  }
  dispatch(S); /* before the script decodes: workers must not wait for it */
}

static void *service(void *arg) {
  tide_Sched *S = arg;
  pthread_mutex_lock(&S->mu);
  while (!S->quit) serve(S, 1000);
  pthread_mutex_unlock(&S->mu);
  return NULL;
}

/* ------------------------------------------------------------------ API */

int tide_sched_jobs(const tide_Sched *S) { return S->c.jobs; }

int tide_sched_rank(const tide_Sched *S, int slot) {
  return S->B && S->B->ops->rank && slot >= 1 && slot <= S->c.jobs ? S->B->ops->rank(S->B, slot) : -1;
}

int tide_sched_start(tide_Sched **out, const tide_SchedConfig *c) {
  *out = NULL;
  tide_Sched *S = tide__calloc(1, sizeof *S);
  Slot *slots = tide__calloc((size_t)c->jobs, sizeof *slots);
  Range *retry = tide__calloc((size_t)c->jobs * 2 + 8, sizeof *retry);
  tide_Event *spare = tide__calloc(1, sizeof *spare + SPARE_MSG);
  if (!S || !slots || !retry || !spare) {
    free(S);
    free(slots);
    free(retry);
    free(spare);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  S->c = *c;
  S->slots = slots;
  S->retry = retry;
  S->retrycap = c->jobs * 2 + 8;
  S->spare = spare;
  spare->home = S;
  S->total = c->total;
  S->next_fresh = S->item_lo = S->next_item = 1;
  S->chunk = c->chunk < 1 ? 1 : c->chunk;
  S->owner = getpid();
  S->out = S->rb = (tide_Buf)TIDE_BUF_INIT;
  pthread_once(&atfork_once, register_atfork);
  S->wakefd = -1; /* made with the service thread */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&S->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&S->mu, NULL);
  tide_BackendConfig bc = {.jobs = c->jobs, .main = c->worker, .ud = c->ud, .arg = c->backend_arg};
  int rc = c->backend->start(&S->B, &bc);
  for (int id = 1; rc == TIDE_OK && id <= c->jobs; id++) {
    slots[id - 1].box = box_new(S->B->ops->word(S->B, id));
    rc = setup(S, id);
  }
  if (rc) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tide_lasterror());
    tide_sched_close(S);
    return tide__seterr(rc, "%s", msg);
  }
  pthread_mutex_lock(&live_mu);
  S->next = live;
  if (live) live->prev = S;
  live = S;
  pthread_mutex_unlock(&live_mu);
  *out = S;
  return TIDE_OK;
}

int tide_sched_background(tide_Sched *S) {
  if (S->thread_on) return TIDE_OK;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return tide__syserr(TIDE_EIO, errno, "cannot create an eventfd");
  pthread_mutex_lock(&S->mu);
  S->wakefd = fd;
  pthread_mutex_unlock(&S->mu);
  /* the thread takes no signal: Ctrl-C goes to the script's thread */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&S->thread, NULL, service, S);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e) return tide__syserr(TIDE_EIO, e, "cannot start a loop's service thread");
  pthread_mutex_lock(&S->mu);
  S->thread_on = 1;
  pthread_mutex_unlock(&S->mu);
  return TIDE_OK;
}

void tide_sched_close(tide_Sched *S) {
  if (!S) return;
  if (!S->foreign) {
    if (S->thread_on) {
      pthread_mutex_lock(&S->mu);
      S->quit = 1;
      /* a worker stopped in the middle of a message must not hold the
      ** thread in recv: stop them all first */
      S->B->ops->halt(S->B);
      pthread_mutex_unlock(&S->mu);
      wake(S);
      pthread_join(S->thread, NULL);
    }
    pthread_mutex_lock(&live_mu);
    if (S->prev) S->prev->next = S->next;
    else if (live == S) live = S->next;
    if (S->next) S->next->prev = S->prev;
    pthread_mutex_unlock(&live_mu);
  }
  for (int i = 0; i < S->c.jobs; i++) box_retire(&S->slots[i].box); /* before the words go */
  if (S->B) S->B->ops->close(S->B); /* in a worker's copy: only forgotten */
  for (tide_Event *e = S->head, *next; e; e = next) {
    next = e->next;
    tide_event_free(e);
  }
  for (size_t i = 0; S->ring && i < S->rcap; i++)
    if (S->ring[i]) {
      tide_buf_free(S->ring[i]);
      free(S->ring[i]);
    }
  free(S->ring);
  free(S->slots);
  free(S->retry);
  free(S->spare);
  tide_buf_free(&S->out);
  tide_buf_free(&S->rb);
  if (S->wakefd >= 0) close(S->wakefd);
  pthread_mutex_destroy(&S->mu);
  pthread_cond_destroy(&S->cv);
  free(S);
}

tide_Event *tide_sched_take(tide_Sched *S) {
  pthread_mutex_lock(&S->mu);
  tide_Event *e = S->head;
  S->head = S->tail = NULL;
  pthread_mutex_unlock(&S->mu);
  return e;
}

int tide_sched_wait(tide_Sched *S, int ms) {
  pthread_mutex_lock(&S->mu);
  if (!S->head && !S->ndead && !S->err && (ms > 0 || !S->thread_on)) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (S->thread_on) {
      S->main_waiting = 1;
      while (!S->head && !S->ndead && !S->err && pthread_cond_timedwait(&S->cv, &S->mu, &ts) == 0) {}
      S->main_waiting = 0;
    } else { /* no service thread: this one serves */
      for (;;) {
        serve(S, ms);
        if (S->head || S->ndead || S->err || ms <= 0) break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = (long)(ts.tv_sec - now.tv_sec) * 1000 + (ts.tv_nsec - now.tv_nsec) / 1000000L;
        if (left <= 0) break;
        ms = (int)left;
      }
    }
  }
  int r = S->head != NULL || S->ndead > 0 || S->err;
  pthread_mutex_unlock(&S->mu);
  return r;
}

int tide_sched_error(tide_Sched *S) {
  pthread_mutex_lock(&S->mu);
  int rc = S->err;
  char msg[SPARE_MSG];
  memcpy(msg, S->errmsg, sizeof msg);
  pthread_mutex_unlock(&S->mu);
  return rc ? tide__seterr(rc, "%s", msg) : TIDE_OK;
}

int tide_sched_respawn(tide_Sched *S) {
  for (int id = 1; id <= S->c.jobs; id++) {
    pthread_mutex_lock(&S->mu);
    int dead = S->slots[id - 1].dead;
    pthread_mutex_unlock(&S->mu);
    if (!dead) continue;
    int rc = S->B->ops->respawn(S->B, id);
    if (rc == TIDE_OK) rc = setup(S, id);
    if (rc) return rc;
    pthread_mutex_lock(&S->mu);
    S->slots[id - 1].dead = 0;
    S->slots[id - 1].box = box_new(S->B->ops->word(S->B, id));
    S->ndead--;
    pthread_mutex_unlock(&S->mu);
    wake(S);
  }
  return TIDE_OK;
}

void tide_sched_consumed(tide_Sched *S, int64_t n) {
  pthread_mutex_lock(&S->mu);
  S->consumed += n;
  int kick = S->starved;
  S->starved = 0;
  pthread_mutex_unlock(&S->mu);
  if (kick) wake(S);
}

void tide_sched_fail(tide_Sched *S, int64_t task) {
  pthread_mutex_lock(&S->mu);
  note_fail(S, task);
  pthread_mutex_unlock(&S->mu);
}

int64_t tide_sched_item_room(tide_Sched *S) {
  pthread_mutex_lock(&S->mu);
  int64_t room = S->halted || S->fail_min ? 0 : window(S) - (S->next_item - 1 - S->consumed);
  pthread_mutex_unlock(&S->mu);
  return room;
}

int tide_sched_add_item(tide_Sched *S, int64_t task, tide_Buf *b) {
  tide_Buf *it = tide__malloc(sizeof *it);
  if (!it) return tide__seterr(TIDE_ENOMEM, "out of memory");
  *it = *b;
  *b = (tide_Buf)TIDE_BUF_INIT;
  pthread_mutex_lock(&S->mu);
  int rc = TIDE_OK;
  if (task != S->next_item) {
    rc = tide__seterr(TIDE_EINVAL, "item %lld out of order", (long long)task);
  } else if ((uint64_t)(task - S->item_lo) >= S->rcap) { /* grow the ring, in order */
    size_t cap = S->rcap ? S->rcap * 2 : 64, used = (size_t)(task - S->item_lo);
    tide_Buf **r = tide__calloc(cap, sizeof *r);
    if (!r) {
      rc = tide__seterr(TIDE_ENOMEM, "out of memory");
    } else {
      for (size_t i = 0; i < used; i++) r[i] = S->ring[(S->rhead + i) % S->rcap];
      free(S->ring);
      S->ring = r;
      S->rcap = cap;
      S->rhead = 0;
    }
  }
  if (rc == TIDE_OK) {
    *item_ref(S, task) = it;
    S->next_item++;
  }
  int kick = rc == TIDE_OK && S->starved;
  if (kick) S->starved = 0;
  pthread_mutex_unlock(&S->mu);
  if (rc) {
    tide_buf_free(it);
    free(it);
  }
  if (kick) wake(S);
  return rc;
}

void tide_sched_set_total(tide_Sched *S, int64_t total) {
  pthread_mutex_lock(&S->mu);
  S->total = total;
  pthread_mutex_unlock(&S->mu);
}

int tide_sched_idle(tide_Sched *S) {
  pthread_mutex_lock(&S->mu);
  int idle = !S->head && !S->ndead && !S->err && S->outstanding == 0 && S->nretry == 0 &&
             (S->halted || S->next_fresh > fresh_limit(S));
  pthread_mutex_unlock(&S->mu);
  return idle;
}
