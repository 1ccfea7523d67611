/*
** test_worker_frames.c -- a worker's side of the protocol, driven from C.
** A worker runs in a forked child on one end of a socketpair: either the
** spawn backend's program (tide_worker_main, `tide --worker FD PID`) or a
** worker's task loop itself (tideW_serve, for what only a C host can set
** up: a math.randomseed of its own).  This test is the parent on the other
** end and sends what tide never sends -- frames cut short, of the wrong
** kind, longer than the limit, items claiming descriptors they lack,
** setups of another version or with a word that cannot be mapped -- and
** checks that the worker refuses each with its named exit status (pool.h:
** 121 it could not read, 122 a malformed message), never a crash, and
** leaves nothing: the child reaped, no descriptor left here, nothing new
** in /dev/shm.  Well-formed loops around them give the right results, so a
** refusal is never just a worker that cannot work.
**
** With fault injection (TIDE_FAULTS builds) a worker's acquisitions fail
** in turn, N = 1, 2, ...: every run ends in a task's error or a named exit
** status, and the walk ends in runs that complete.
*/
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "backend.h"
#include "check.h"
#include "codec.h"
#include "par.h"
#include "schedule.h"
#include "ship.h"
#include "tide.h"

static lua_State *L; /* this test's own: encodes functions and items, decodes results */

/* ------------------------------------------------------------ helpers */

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the directory's own */
}

static int count_shm(void) { return check_count_dir("/dev/shm", "tide"); }

typedef struct Worker {
  pid_t pid;
  int sock;
} Worker;

/* The spawned worker's program in a forked child.  argv: how it is run;
** "FD" and "PID" in it become its socket and this process's pid.  With
** fault_at > 0, the child's fault_at-th acquisition fails. */
static Worker start_main(int argc, const char *const *argv, long fault_at) {
  Worker w = {-1, -1};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return w;
  pid_t parent = getpid();
  fflush(NULL);
  w.pid = fork();
  if (w.pid == 0) {
    close(sv[0]);
    char fd[16], pp[24], *args[8];
    snprintf(fd, sizeof fd, "%d", sv[1]);
    snprintf(pp, sizeof pp, "%ld", (long)parent);
    for (int i = 0; i < argc && i < 7; i++)
      args[i] = strcmp(argv[i], "FD") == 0 ? fd : strcmp(argv[i], "PID") == 0 ? pp : (char *)argv[i];
    args[argc < 7 ? argc : 7] = NULL;
#ifdef TIDE_FAULTS
    if (fault_at > 0) tide__fault_arm(fault_at, 0);
#else
    (void)fault_at;
#endif
    _exit(tide_worker_main(argc, args));
  }
  close(sv[1]);
  w.sock = sv[0];
  return w;
}

static Worker start_worker(long fault_at) {
  static const char *const argv[] = {"tide", "--worker", "FD", "PID"};
  return start_main(4, argv, fault_at);
}

/* Closes our end and reaps the worker: its exit status, or 1000 + the
** signal that killed it. */
static int finish(Worker *w) {
  if (w->sock >= 0) close(w->sock);
  w->sock = -1;
  int st;
  if (waitpid(w->pid, &st, 0) != w->pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

/* ------------------------------------------------------------ frames */

/* A SETUP frame (backend_spawn.c, s_setup), with the parts a test spoils. */
typedef struct Setup {
  uint32_t version;  /* 1 */
  int nfds;          /* descriptors: word and spill (2) */
  long tdlen;        /* temp_dir's length (< 0: that of "/tmp") */
  int word_fd;       /* the word's descriptor (< 0: a fresh memfd) */
  int kind;          /* IN_* */
  const char *f;     /* Lua source returning the loop's function */
  const char *xs;    /* Lua source returning its input (NULL: nil) */
  const char *fraw;  /* the function's message bytes, as they are (instead of f) */
  long cut;          /* keep only this many bytes of the frame (< 0: all) */
  long payload_cut;  /* keep only this many bytes of the loop's payload (< 0: all) */
} Setup;

/* A well-formed setup of the loop f over a count. */
static Setup setup_of(const char *f) {
  return (Setup){.version = 1, .nfds = 2, .tdlen = -1, .word_fd = -1, .kind = IN_COUNT,
                 .f = f, .cut = -1, .payload_cut = -1};
}

static int put_str(tide_Buf *b, const char *s, size_t n) {
  return tide_buf_put_u32(b, (uint32_t)n) || tide_buf_put(b, s, n);
}

/* The value a Lua chunk returns, shipped as a message of its own ([u32 len][bytes]). */
static int put_shipped(tide_Buf *b, const char *src) {
  if (luaL_dostring(L, src ? src : "return nil") != LUA_OK) {
    fprintf(stderr, "test chunk: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  size_t at = b->n;
  int rc = tide_buf_put_u32(b, 0) || tideS_encode(L, -1, b, TIDE_CODEC_HANDLES, NULL) != LUA_OK;
  lua_settop(L, 0);
  if (!rc) tide_buf_end_len(b, at);
  return rc;
}

static int send_setup(int sock, const Setup *s) {
  tide_Buf f = TIDE_BUF_INIT, pay = TIDE_BUF_INIT;
  int rc = tide_buf_put_u32(&f, s->version) || tide_buf_put_u32(&f, 1) || tide_buf_put_u32(&f, 1);
  rc = rc || tide_buf_put_u32(&f, 7) || tide_buf_put_u32(&f, 1); /* gen, BLAS threads */
  rc = rc || tide_buf_put_u64(&f, 1u << 20);
  const char *td = "/tmp";
  if (s->tdlen < 0) {
    rc = rc || put_str(&f, td, strlen(td));
  } else { /* a name as long as asked */
    char *big = malloc((size_t)s->tdlen + 1);
    memset(big, 'd', (size_t)s->tdlen);
    rc = rc || !big || put_str(&f, big, (size_t)s->tdlen);
    free(big);
  }
  /* the loop's payload: l_job.c, make_setup */
  rc = rc || tide_buf_put_u8(&pay, (uint8_t)s->kind) || tide_buf_put_u64(&pay, 5);
  rc = rc || put_str(&pay, "", 0) || put_str(&pay, "", 0);
  if (s->fraw) rc = rc || put_str(&pay, s->fraw, strlen(s->fraw));
  else rc = rc || put_shipped(&pay, s->f);
  rc = rc || put_shipped(&pay, s->xs);
  if (s->payload_cut >= 0 && (size_t)s->payload_cut < pay.n) pay.n = (size_t)s->payload_cut;
  rc = rc || tide_buf_put(&f, pay.p, pay.n);
  tide_buf_free(&pay);
  if (s->cut >= 0 && (size_t)s->cut < f.n) f.n = (size_t)s->cut;
  int word = s->word_fd, spill = memfd_create("test-spill", MFD_CLOEXEC);
  if (word < 0) {
    word = memfd_create("test-word", MFD_CLOEXEC);
    rc = rc || word < 0 || ftruncate(word, sizeof(tide_SlotWord)) != 0;
  }
  if (s->nfds >= 1) rc = rc || tide_buf_put_fd(&f, word) < 0;
  if (s->nfds >= 2) rc = rc || tide_buf_put_fd(&f, spill) < 0;
  if (s->word_fd < 0 && word >= 0) close(word);
  if (spill >= 0) close(spill);
  if (!rc) rc = tide_msg_send(sock, TIDE_MSG_SETUP, &f);
  tide_buf_free(&f);
  return rc;
}

/* A TASK frame: tasks first.. first+count-1, lease ids given back (of
** which only `written` are there), then for IN_ITER loops the items. */
static void task_head(tide_Buf *b, int64_t first, uint32_t count, uint32_t nback, uint32_t written) {
  tide_buf_reset(b);
  tide_buf_put_u64(b, (uint64_t)first);
  tide_buf_put_u32(b, count);
  tide_buf_put_u32(b, nback);
  for (uint32_t i = 0; i < written; i++) tide_buf_put_u32(b, 900 + i);
}

/* An item: [u32 len][u32 descriptors][encoded number]. */
static void put_item(tide_Buf *b, lua_Integer v, uint32_t nf) {
  tide_Buf x = TIDE_BUF_INIT;
  lua_pushinteger(L, v);
  tideC_encode_scalar(L, -1, &x);
  lua_pop(L, 1);
  tide_buf_put_u32(b, (uint32_t)x.n);
  tide_buf_put_u32(b, nf);
  tide_buf_put(b, x.p, x.n);
  tide_buf_free(&x);
}

static int send_tasks(int sock, int64_t first, uint32_t count) {
  tide_Buf b = TIDE_BUF_INIT;
  task_head(&b, first, count, 0, 0);
  int rc = tide_msg_send(sock, TIDE_MSG_TASK, &b);
  tide_buf_free(&b);
  return rc;
}

static int send_frame(int sock, uint8_t type, const tide_Buf *b) {
  return tide_msg_send(sock, type, b);
}

/* ------------------------------------------------------------ results */

typedef struct Outcome {
  int64_t task;
  int status;     /* 0: value holds its first result; 1: msg its error */
  double value;
  char msg[512];
} Outcome;

static int decode_one(lua_State *l) {
  const unsigned char *p = lua_touserdata(l, 1);
  tideC_decode(l, p, (size_t)lua_tointeger(l, 2), NULL);
  return 1;
}

/* A result's number: itself, or the first element of a table. */
static double number_of(const unsigned char *p, size_t n) {
  double v = -1;
  lua_pushcfunction(L, decode_one);
  lua_pushlightuserdata(L, (void *)p);
  lua_pushinteger(L, (lua_Integer)n);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK) {
    if (lua_istable(L, -1)) lua_rawgeti(L, -1, 1);
    if (lua_isnumber(L, -1)) v = lua_tonumber(L, -1);
  }
  lua_settop(L, 0);
  return v;
}

/* Reads RESULT frames until want entries came; the number read, or -1
** when a frame was not a well-formed RESULT (-(n + 2) when the worker
** closed after n entries). */
static int read_results(int sock, Outcome *out, int want) {
  tide_Buf b = TIDE_BUF_INIT;
  int got = 0;
  while (got < want) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &b, (size_t)1 << 30);
    if (rc) {
      got = -(got + 2);
      break;
    }
    tide_Cursor c = {b.p, b.p + b.n, 0};
    uint32_t count = tide_cur_u32(&c);
    tide_Entry e;
    int r;
    uint32_t k = 0;
    while (got < want && (r = tide_entry_next(&c, &e)) > 0) {
      Outcome *o = &out[got++];
      o->task = e.task;
      o->status = e.status;
      o->msg[0] = '\0';
      o->value = -1;
      if (e.status == 1) {
        snprintf(o->msg, sizeof o->msg, "%.*s", (int)e.len, (const char *)e.body);
      } else if (e.n >= 1) {
        tide_Cursor v = {e.body, e.body + e.len, 0};
        size_t n = tide_cur_u32(&v);
        const unsigned char *p = tide_cur_bytes(&v, n);
        if (p) o->value = number_of(p, n);
      }
      k++;
    }
    if (type != TIDE_MSG_RESULT || c.bad || k != count) {
      got = -1;
      break;
    }
  }
  tide_buf_free(&b);
  return got;
}

/* Tasks first.. first+n-1 came back with value(task) each. */
static int results_are(const Outcome *o, int n, int64_t first, double (*value)(int64_t)) {
  for (int i = 0; i < n; i++)
    if (o[i].task != first + i || o[i].status != 0 || o[i].value != value(first + i)) return 0;
  return 1;
}

static double twice(int64_t i) { return 2.0 * (double)i; }
static double plus_one(int64_t i) { return (double)i + 1; }
static double triple(int64_t i) { return 3.0 * (double)i; }
static double seeded(int64_t i) { return 5000.0 + (double)i; }

/* ------------------------------------------------------------ the program's arguments */

static void test_arguments(void) {
  static const char *const two[] = {"tide", "--worker"};
  static const char *const three[] = {"tide", "--worker", "FD"};
  static const char *const five[] = {"tide", "--worker", "FD", "PID", "more"};
  static const char *const negfd[] = {"tide", "--worker", "-1", "PID"};
  static const char *const nopid[] = {"tide", "--worker", "FD", "0"};
  static const char *const other[] = {"tide", "--worker", "FD", "1"};
  struct { int argc; const char *const *argv; int want; const char *what; } cases[] = {
    {2, two, 2, "no FD, no PID"},   {3, three, 2, "no PID"},    {5, five, 2, "one argument more"},
    {4, negfd, 2, "a negative FD"}, {4, nopid, 2, "PID 0"},
    {4, other, 1, "a PID that is not its parent's"}, /* its parent already gone, as it takes it */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Worker w = start_main(cases[i].argc, cases[i].argv, 0);
    int st = finish(&w);
    if (st != cases[i].want) fprintf(stderr, "arguments, %s: status %d\n", cases[i].what, st);
    CHECK_EQ_INT(st, cases[i].want);
  }
}

/* ------------------------------------------------------------ before the setup */

static void test_before_setup(void) {
  Worker w = start_worker(0);
  CHECK_EQ_INT(finish(&w), 0); /* the parent closed at once: done */

  w = start_worker(0);
  CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_STOP, NULL), 0); /* a STOP between loops: it waits on */
  CHECK_EQ_INT(finish(&w), 0);

  w = start_worker(0); /* a TASK before any setup */
  CHECK_EQ_INT(send_tasks(w.sock, 1, 1), 0);
  CHECK_EQ_INT(finish(&w), TIDE_WORKER_EXIT_PROTOCOL);

  w = start_worker(0); /* a frame longer than any a worker takes */
  unsigned char huge[5] = {0xff, 0xff, 0xff, 0xff, TIDE_MSG_SETUP};
  CHECK(write(w.sock, huge, 5) == 5);
  CHECK_EQ_INT(finish(&w), TIDE_WORKER_EXIT_READ);

  w = start_worker(0); /* a frame cut short by the parent's end */
  unsigned char cut[8] = {100, 0, 0, 0, TIDE_MSG_SETUP, 1, 0, 0};
  CHECK(write(w.sock, cut, 8) == 8);
  CHECK_EQ_INT(finish(&w), TIDE_WORKER_EXIT_READ);
}

/* ------------------------------------------------------------ setups it refuses */

static void test_bad_setups(void) {
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  const char *f = "return function(i) return i end";
  struct { Setup s; const char *what; } cases[9];
  for (int i = 0; i < 9; i++) cases[i].s = setup_of(f);
  cases[0].s.version = 2, cases[0].what = "another version";
  cases[1].s.nfds = 1, cases[1].what = "one descriptor";
  cases[2].s.nfds = 0, cases[2].what = "no descriptor";
  cases[3].s.cut = 10, cases[3].what = "its header cut short";
  cases[4].s.cut = 28, cases[4].what = "temp_dir cut short";
  cases[5].s.tdlen = 5000, cases[5].what = "a temp_dir too long";
  cases[6].s.word_fd = pipefd[0], cases[6].what = "a word it cannot map";
  cases[7].s.payload_cut = 0, cases[7].what = "no payload";
  cases[8].s.payload_cut = 12, cases[8].what = "package.path cut short";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Worker w = start_worker(0);
    CHECK_EQ_INT(send_setup(w.sock, &cases[i].s), 0);
    int st = finish(&w);
    if (st != TIDE_WORKER_EXIT_PROTOCOL) fprintf(stderr, "setup with %s: status %d\n", cases[i].what, st);
    CHECK_EQ_INT(st, TIDE_WORKER_EXIT_PROTOCOL);
  }
  close(pipefd[0]);
  close(pipefd[1]);
}

/* ------------------------------------------------------------ a loop it cannot build */

/* A function or input the worker cannot load is no protocol error: each
** task fails naming why, and the worker serves on. */
static void test_unloadable(void) {
  struct { Setup s; const char *why; } cases[2];
  cases[0].s = setup_of(NULL);
  cases[0].s.fraw = "not a message";
  cases[0].why = "the worker cannot load the loop's function: corrupt message";
  /* the payload ends inside the function's message (so the input is
  ** missing too: the function is what the error names) */
  cases[1].s = setup_of("return function(i) return i end");
  cases[1].s.payload_cut = 30;
  cases[1].why = "the worker cannot load the loop's function: corrupt message: a loop's setup is cut short";
  for (size_t i = 0; i < 2; i++) {
    Worker w = start_worker(0);
    CHECK_EQ_INT(send_setup(w.sock, &cases[i].s), 0);
    CHECK_EQ_INT(send_tasks(w.sock, 1, 2), 0);
    Outcome o[2];
    CHECK_EQ_INT(read_results(w.sock, o, 2), 2);
    for (int k = 0; k < 2; k++) {
      CHECK_EQ_INT(o[k].task, k + 1);
      CHECK_EQ_INT(o[k].status, 1);
      CHECK_STR_HAS(o[k].msg, cases[i].why);
    }
    CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_STOP, NULL), 0); /* back to waiting for a setup */
    CHECK_EQ_INT(finish(&w), 0);
  }
  /* an IN_TABLE loop whose input's message is corrupt: its tasks fail
  ** naming the input */
  Worker w = start_worker(0);
  Setup s = setup_of("return function(x) return x end");
  s.kind = IN_TABLE;
  s.xs = "return {10, 20}";
  /* ship the input, then spoil its bytes: keep its length, drop the rest */
  tide_Buf pay = TIDE_BUF_INIT;
  put_shipped(&pay, s.f);
  long flen = (long)pay.n;
  tide_buf_free(&pay);
  s.payload_cut = 1 + 8 + 4 + 4 + flen + 4; /* kind, seed, two paths, f, the input's length */
  CHECK_EQ_INT(send_setup(w.sock, &s), 0);
  CHECK_EQ_INT(send_tasks(w.sock, 1, 2), 0);
  Outcome o[2];
  CHECK_EQ_INT(read_results(w.sock, o, 2), 2);
  for (int k = 0; k < 2; k++) {
    CHECK_EQ_INT(o[k].status, 1);
    CHECK_STR_HAS(o[k].msg, "the worker cannot load the loop's input");
  }
  CHECK_EQ_INT(finish(&w), 0);
}

/* ------------------------------------------------------------ frames a serving worker refuses */

/* A worker set up for f(i) = 2i that has served tasks 1..3 right. */
static Worker serving(int kind) {
  Worker w = start_worker(0);
  Setup s = setup_of(kind == IN_ITER ? "return function(x) return x + 1 end"
                                      : "return function(i) return 2 * i end");
  s.kind = kind;
  CHECK_EQ_INT(send_setup(w.sock, &s), 0);
  tide_Buf b = TIDE_BUF_INIT;
  task_head(&b, 1, 3, 0, 0);
  if (kind == IN_ITER)
    for (int i = 1; i <= 3; i++) put_item(&b, i, 0);
  CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_TASK, &b), 0);
  tide_buf_free(&b);
  Outcome o[3];
  CHECK_EQ_INT(read_results(w.sock, o, 3), 3);
  CHECK(results_are(o, 3, 1, kind == IN_ITER ? plus_one : twice));
  return w;
}

static void test_serving(void) {
  /* lease ids it never lent are ignored: the tasks run */
  Worker w = serving(IN_COUNT);
  tide_Buf b = TIDE_BUF_INIT;
  task_head(&b, 4, 2, 3, 3);
  CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_TASK, &b), 0);
  Outcome o[2];
  CHECK_EQ_INT(read_results(w.sock, o, 2), 2);
  CHECK(results_are(o, 2, 4, twice));
  /* then a STOP: the loop ends, the worker waits for the next one, which
  ** runs another function */
  CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_STOP, NULL), 0);
  Setup s = setup_of("return function(i) return 3 * i end");
  CHECK_EQ_INT(send_setup(w.sock, &s), 0);
  CHECK_EQ_INT(send_tasks(w.sock, 1, 2), 0);
  CHECK_EQ_INT(read_results(w.sock, o, 2), 2);
  CHECK(results_are(o, 2, 1, triple));
  CHECK_EQ_INT(finish(&w), 0);

  struct { const char *what; int want; } cases[] = {
    {"a frame of another kind", TIDE_WORKER_EXIT_PROTOCOL},
    {"a TASK cut inside its header", TIDE_WORKER_EXIT_PROTOCOL},
    {"a TASK with fewer lease ids than it says", TIDE_WORKER_EXIT_PROTOCOL},
    {"a frame cut short", TIDE_WORKER_EXIT_READ},
    {"a frame past the limit", TIDE_WORKER_EXIT_READ},
  };
  for (int i = 0; i < 5; i++) {
    w = serving(IN_COUNT);
    if (i == 0) {
      task_head(&b, 4, 1, 0, 0);
      CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_RESULT, &b), 0);
    } else if (i == 1) {
      task_head(&b, 4, 1, 0, 0);
      b.n = 10;
      CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_TASK, &b), 0);
    } else if (i == 2) {
      task_head(&b, 4, 1, 3, 1);
      CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_TASK, &b), 0);
    } else if (i == 3) {
      unsigned char cut[9] = {50, 0, 0, 0, TIDE_MSG_TASK, 4, 0, 0, 0};
      CHECK(write(w.sock, cut, 9) == 9);
    } else {
      unsigned char huge[5] = {0xff, 0xff, 0xff, 0xff, TIDE_MSG_TASK};
      CHECK(write(w.sock, huge, 5) == 5);
    }
    int st = finish(&w);
    if (st != cases[i].want) fprintf(stderr, "serving, %s: status %d\n", cases[i].what, st);
    CHECK_EQ_INT(st, cases[i].want);
  }

  /* items: each with its own descriptors, counted from the frame's */
  for (int i = 0; i < 3; i++) {
    w = serving(IN_ITER);
    task_head(&b, 4, 2, 0, 0);
    put_item(&b, 10, 0);
    if (i == 0) put_item(&b, 20, 1); /* a descriptor the frame does not carry */
    if (i == 1) b.n -= 2;            /* the first item's bytes cut short */
    if (i == 2) {                    /* a second item claiming more bytes than there are */
      tide_buf_put_u32(&b, 100);
      tide_buf_put_u32(&b, 0);
      tide_buf_put_u8(&b, 1);
    }
    CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_TASK, &b), 0);
    /* the first item ran; what the worker does with the second is refuse it */
    int st = finish(&w);
    if (st != TIDE_WORKER_EXIT_PROTOCOL) fprintf(stderr, "item case %d: status %d\n", i, st);
    CHECK_EQ_INT(st, TIDE_WORKER_EXIT_PROTOCOL);
  }
  /* and one that carries what it claims */
  w = serving(IN_ITER);
  task_head(&b, 4, 2, 0, 0);
  put_item(&b, 10, 0);
  put_item(&b, 20, 0);
  CHECK_EQ_INT(send_frame(w.sock, TIDE_MSG_TASK, &b), 0);
  CHECK_EQ_INT(read_results(w.sock, o, 2), 2);
  CHECK(o[0].task == 4 && o[0].status == 0 && o[0].value == 11);
  CHECK(o[1].task == 5 && o[1].status == 0 && o[1].value == 21);
  CHECK_EQ_INT(finish(&w), 0);
  tide_buf_free(&b);
}

/* ------------------------------------------------------------ the task loop, from a C host */

/* math.randomseed as a C host may have it: a C function whose first
** upvalue is a userdata (of size 32, as Lua's own, or not) -- it records
** its arguments in the globals seed_seen and task_seen, or raises. */
static int host_seed(lua_State *l) {
  if (lua_toboolean(l, lua_upvalueindex(2))) return luaL_error(l, "the host's randomseed fails");
  lua_pushvalue(l, 1);
  lua_setglobal(l, "seed_seen");
  lua_pushvalue(l, 2);
  lua_setglobal(l, "task_seen");
  return 0;
}

/* In a forked child: a fresh tide state with math.randomseed = host_seed,
** serving the loop f on sock with tideW_serve, as a worker does. */
static Worker start_serve(size_t udsize, int raises, const char *f) {
  Worker w = {-1, -1};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return w;
  fflush(NULL);
  w.pid = fork();
  if (w.pid == 0) {
    close(sv[0]);
    tide_State *T = tide_open(NULL);
    if (!T) _exit(50);
    lua_State *l = tide_lua(T);
    lua_getglobal(l, "math");
    lua_newuserdatauv(l, udsize, 0);
    lua_pushboolean(l, raises);
    lua_pushcclosure(l, host_seed, 2);
    lua_setfield(l, -2, "randomseed");
    lua_pop(l, 1);
    lua_createtable(l, 2, 0);
    if (luaL_dostring(l, f) != LUA_OK) _exit(51);
    lua_rawseti(l, -2, 1);
    tideW_Loop lp = {.L = l, .ref = luaL_ref(l, LUA_REGISTRYINDEX), .kind = IN_COUNT, .seed = 5};
    tide_worker_word = mmap(NULL, sizeof *tide_worker_word, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    tide_worker_spill = memfd_create("test-spill", MFD_CLOEXEC);
    if (tide_worker_word == MAP_FAILED || tide_worker_spill < 0) _exit(52);
    _exit(tideW_serve(&lp, sv[1]));
  }
  close(sv[1]);
  w.sock = sv[0];
  return w;
}

static void test_host_randomseed(void) {
  /* a randomseed that is not Lua's generator: called before each task
  ** with the loop's seed (5) and the task's index */
  for (int k = 0; k < 2; k++) {
    Worker w = start_serve(k ? 16 : 32, 0, "return function(i) return seed_seen * 1000 + task_seen end");
    CHECK_EQ_INT(send_tasks(w.sock, 1, 4), 0);
    Outcome o[4];
    CHECK_EQ_INT(read_results(w.sock, o, 4), 4);
    CHECK(results_are(o, 4, 1, seeded));
    CHECK_EQ_INT(finish(&w), 0);
  }
  /* one that raises: the tasks run all the same */
  Worker w = start_serve(32, 1, "return function(i) return 3 * i end");
  CHECK_EQ_INT(send_tasks(w.sock, 1, 3), 0);
  Outcome o[3];
  CHECK_EQ_INT(read_results(w.sock, o, 3), 3);
  CHECK(results_are(o, 3, 1, triple));
  CHECK_EQ_INT(finish(&w), 0);
}

/* ------------------------------------------------------------ faults */

/* One run with the worker's n-th acquisition failing, over tasks 1..count
** in one batch (2000: past the first size of its results' buffer): 1 when
** the loop completed (every result right, a clean exit), 0 when it failed
** cleanly (tasks' errors, or a named exit status), -1 otherwise. */
#ifdef TIDE_FAULTS
static double walk_value(int64_t i) { return 2.0 * (double)i; }

static int fault_run(long n, uint32_t count) {
  Worker w = start_worker(n);
  Setup s = setup_of("return function(i) if i % 2 == 0 then return {2 * i} end return 2 * i end");
  int sent = send_setup(w.sock, &s) == 0 && send_tasks(w.sock, 1, count) == 0;
  Outcome *o = calloc(count, sizeof *o);
  int got = sent && o ? read_results(w.sock, o, (int)count) : -2;
  int ok = o != NULL, complete = got == (int)count;
  for (int i = 0; ok && i < (got < 0 ? -got - 2 : got); i++) {
    if (o[i].status == 0) ok &= o[i].task == i + 1 && o[i].value == walk_value(i + 1);
    else ok &= o[i].msg[0] != '\0', complete = 0;
  }
  free(o);
  if (got == -1) ok = 0; /* a malformed RESULT */
  if (complete) complete = send_frame(w.sock, TIDE_MSG_STOP, NULL) == 0;
  int st = finish(&w);
  if (st != 0 && st != TIDE_WORKER_EXIT_READ && st != TIDE_WORKER_EXIT_PROTOCOL &&
      st != TIDE_WORKER_EXIT_SEND)
    ok = 0;
  if (!ok) fprintf(stderr, "fault at %ld (%u tasks): status %d, %d results\n", n, count, st, got);
  return !ok ? -1 : complete && st == 0;
}
#endif

static void test_faults(void) {
#ifdef TIDE_FAULTS
  for (int k = 0; k < 2; k++) {
    uint32_t count = k ? 2000 : 4;
    int failed = 0, in_a_row = 0;
    long n;
    for (n = 1; n < 400 && in_a_row < 5; n++) {
      int r = fault_run(n, count);
      CHECK(r >= 0);
      failed += r == 0;
      in_a_row = r == 1 ? in_a_row + 1 : 0;
    }
    printf("faults: %u tasks: %ld acquisition points walked, %d runs failed cleanly\n", count,
           n - 6, failed);
    CHECK(failed > 0); /* the walk failed something */
    CHECK(n < 400);    /* and came to runs that complete */
  }
#else
  printf("faults: skipped (no TIDE_FAULTS in this build)\n");
#endif
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  tide_State *T = tide_open(NULL);
  CHECK(T != NULL);
  if (!T) return check_done();
  L = tide_lua(T);
  int fds0 = count_fds(), shm0 = count_shm();

  test_arguments();
  test_before_setup();
  test_bad_setups();
  test_unloadable();
  test_serving();
  test_host_randomseed();
  test_faults();

  CHECK_EQ_INT(count_fds(), fds0);
  CHECK_EQ_INT(count_shm(), shm0);
  int st;
  CHECK(waitpid(-1, &st, WNOHANG) < 0); /* no child left */
  tide_close(T);
  return check_done();
}
