/*
** test_spawn_backend.c -- the spawn backend (runtime/core/backend_spawn.c)
** driven from C through its tide_BackendOps, where Lua cannot reach:
**   - every acquisition of a loop's start failed in turn (TIDE_FAULTS
**     builds), on a fresh set and on a warm one, then of a setup: each a
**     clear error, no worker and no descriptor left behind, and the next
**     start works;
**   - the worker's socket landing on descriptor 3 itself (the one the
**     worker wants: stdin closed), and the copy that avoids it failing;
**   - a worker that died: its end read as often as asked, a setup sent to
**     it failing by name, a malformed frame making it leave with 122;
**   - a warm worker dying while its loop is still open is not kept;
**   - a forked child (the fork backend's workers) closes the spawned
**     workers' descriptors, leaves its parent's workers alone when it
**     drops the set, and gets workers of its own from it;
**   - no program to run: the error says to set TIDE_WORKER_EXE.
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

static const tide_BackendOps *ops = &tide_backend_spawn;
static lua_State *L;
static tide_Buf payload = TIDE_BUF_INIT; /* the loop f(i) = 10 i over a count */

/* ------------------------------------------------------------ helpers */

/* The open descriptors, as a bit set over 0..1023. */
typedef struct FdSet { unsigned char on[1024]; } FdSet;

static int fds_now(FdSet *s) {
  memset(s, 0, sizeof *s);
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int self = dirfd(d);
  for (struct dirent *e; (e = readdir(d));) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd == self || fd >= 1024) continue;
    s->on[fd] = 1;
    n++;
  }
  closedir(d);
  return n;
}

static int count_fds(void) {
  FdSet s;
  return fds_now(&s);
}

/* Children of this process not yet reaped. */
static int children(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0, pid;
  while (fscanf(f, "%d", &pid) == 1) n++;
  fclose(f);
  return n;
}

static int count_shm(void) { return check_count_dir("/dev/shm", "tide"); }

static int put_str(tide_Buf *b, const char *s) {
  size_t n = strlen(s);
  return tide_buf_put_u32(b, (uint32_t)n) || tide_buf_put(b, s, n);
}

/* The loop's setup payload (l_job.c, make_setup) for f over a count. */
static int make_payload(tide_Buf *b, const char *f) {
  tide_buf_reset(b);
  int rc = tide_buf_put_u8(b, IN_COUNT) || tide_buf_put_u64(b, 1) || put_str(b, "") || put_str(b, "");
  for (int i = 0; i < 2 && !rc; i++) {
    if (luaL_dostring(L, i == 0 ? f : "return nil") != LUA_OK) return 1;
    size_t at = b->n;
    rc = tide_buf_put_u32(b, 0) || tideS_encode(L, -1, b, TIDE_CODEC_HANDLES, NULL) != LUA_OK;
    if (!rc) tide_buf_end_len(b, at);
    lua_settop(L, 0);
  }
  return rc;
}

static int decode_one(lua_State *l) {
  tideC_decode(l, lua_touserdata(l, 1), (size_t)lua_tointeger(l, 2), NULL);
  return 1;
}

/* Sends slot id one task and reads its result: the number, or -1. */
static double one_task(tide_Backend *b, int id, int64_t task) {
  tide_Buf m = TIDE_BUF_INIT;
  tide_buf_put_u64(&m, (uint64_t)task);
  tide_buf_put_u32(&m, 1);
  tide_buf_put_u32(&m, 0);
  double v = -1;
  uint8_t type;
  if (ops->send(b, id, TIDE_MSG_TASK, &m) == TIDE_OK &&
      ops->recv(b, id, &type, &m, (size_t)1 << 30) == TIDE_OK && type == TIDE_MSG_RESULT) {
    tide_Cursor c = {m.p, m.p + m.n, 0};
    tide_Entry e;
    if (tide_cur_u32(&c) == 1 && tide_entry_next(&c, &e) == 1 && e.task == task && e.status == 0 &&
        e.n == 1) {
      tide_Cursor r = {e.body, e.body + e.len, 0};
      size_t n = tide_cur_u32(&r);
      lua_pushcfunction(L, decode_one);
      lua_pushlightuserdata(L, (void *)tide_cur_bytes(&r, n));
      lua_pushinteger(L, (lua_Integer)n);
      if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isnumber(L, -1)) v = lua_tonumber(L, -1);
      lua_settop(L, 0);
    }
  }
  tide_buf_free(&m);
  return v;
}

/* Sets up every slot of b and runs task id * 10 + 1 on each: 1 when all
** came back right. */
static int works(tide_Backend *b) {
  int ok = 1;
  for (int id = 1; id <= b->jobs; id++) {
    ok &= ops->setup(b, id, &payload) == TIDE_OK;
    ok &= one_task(b, id, id * 10 + 1) == 10.0 * (id * 10 + 1);
  }
  return ok;
}

static pid_t pid_of(tide_Backend *b, int id) {
  char who[64], how[128];
  ops->describe(b, id, who, sizeof who, how, sizeof how);
  int pid = 0;
  sscanf(who, "worker process %d", &pid);
  return (pid_t)pid;
}

static tide_Backend *start(int jobs, tide_SpawnSet *set) {
  tide_Backend *b = NULL;
  tide_BackendConfig c = {.jobs = jobs, .arg = set};
  if (ops->start(&b, &c) != TIDE_OK) return NULL;
  return b;
}

/* ------------------------------------------------------------ faults */

static void test_faults(void) {
#ifdef TIDE_FAULTS
  int fds0 = count_fds();
  for (int warm = 0; warm <= 1; warm++) {
    tide_SpawnSet *set = warm ? tide_spawnset_new(1) : NULL;
    int failed = 0, done = 0;
    long n;
    for (n = 1; n < 200 && !done; n++) {
      tide__fault_arm(n, 0);
      tide_Backend *b = start(2, set);
      long fired = tide__fault_fired();
      tide__fault_arm(0, 0);
      if (fired == 0) { /* a start with nothing failed: the end of the walk */
        CHECK(b != NULL);
        done = 1;
      } else if (b == NULL) {
        failed++;
        const char *msg = tide_lasterror();
        if (!strstr(msg, "worker") && !strstr(msg, "memory"))
          fprintf(stderr, "start, fault %ld: unclear error '%s'\n", n, msg);
        CHECK(strstr(msg, "worker") || strstr(msg, "memory"));
        if (!warm) CHECK_EQ_INT(children(), 0); /* a failed start leaves no worker */
      }
      if (b) { /* what a start got around, or a whole one: it works */
        CHECK(works(b));
        ops->close(b);
      }
      if (!warm) CHECK_EQ_INT(children(), 0);
    }
    printf("faults: start (%s set): %ld points, %d failed\n", warm ? "warm" : "fresh", n - 2, failed);
    CHECK(done);
    CHECK(failed > 0);
    tide_spawnset_unref(set);
    CHECK_EQ_INT(children(), 0);
    CHECK_EQ_INT(count_fds(), fds0);
  }
  /* the setup: its frame, its descriptors */
  tide_Backend *b = start(1, NULL);
  CHECK(b != NULL);
  if (!b) return;
  int failed = 0;
  for (long n = 1; n < 50; n++) {
    tide__fault_arm(n, 0);
    int rc = ops->setup(b, 1, &payload);
    long fired = tide__fault_fired();
    tide__fault_arm(0, 0);
    if (!fired) {
      CHECK_EQ_INT(rc, TIDE_OK);
      break;
    }
    failed++;
    CHECK(rc != TIDE_OK);
    CHECK_STR_HAS(tide_lasterror(), "cannot build the setup of worker 1");
  }
  CHECK(failed > 0);
  CHECK(one_task(b, 1, 5) == 50); /* the setup that went through */
  ops->close(b);
  CHECK_EQ_INT(count_fds(), fds0);
#else
  printf("faults: skipped (no TIDE_FAULTS in this build)\n");
#endif
}

/* ------------------------------------------------------------ descriptor 3 */

static void test_fd3(void) {
  /* 3 held while the slot's word and spill are made, so that they go above */
  int saved3 = fcntl(3, F_GETFD) != -1 ? fcntl(3, F_DUPFD_CLOEXEC, 10) : -1;
  int saved0 = fcntl(0, F_DUPFD_CLOEXEC, 10);
  int hold = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (hold != 3) dup2(hold, 3), close(hold);
  tide_Backend *b = start(1, NULL);
  CHECK(b != NULL && works(b));
  if (!b) return;
  /* stdin closed and 3 free: the new socket is (0, 3), and its worker end
  ** must reach the worker as 3 without close-on-exec */
  ops->kill(b, 1);
  close(3);
  close(0);
  int rc = ops->respawn(b, 1);
  CHECK_EQ_INT(rc, TIDE_OK);
  CHECK(rc == TIDE_OK && works(b));
  /* again, with no descriptor above 3 to copy it to: a clear error */
  ops->kill(b, 1);
  close(0);
  struct rlimit old, four = {4, 0};
  getrlimit(RLIMIT_NOFILE, &old);
  four.rlim_max = old.rlim_max;
  CHECK(setrlimit(RLIMIT_NOFILE, &four) == 0);
  rc = ops->respawn(b, 1);
  setrlimit(RLIMIT_NOFILE, &old);
  CHECK(rc != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "cannot create a socket for worker 1");
  CHECK(fcntl(0, F_GETFD) == -1 && fcntl(3, F_GETFD) == -1); /* both ends closed again */
  CHECK_EQ_INT(ops->respawn(b, 1), TIDE_OK); /* the limit gone: it works again */
  CHECK(works(b));
  ops->close(b);
  dup2(saved0, 0);
  close(saved0);
  if (saved3 >= 0) {
    dup2(saved3, 3);
    close(saved3);
  }
}

/* ------------------------------------------------------------ dead workers */

static void test_dead(void) {
  tide_Backend *b = start(2, NULL);
  CHECK(b != NULL && works(b));
  if (!b) return;
  /* killed: reaped once, and read as often as the scheduler asks */
  kill(pid_of(b, 1), SIGKILL);
  CHECK_EQ_INT(ops->reap(b, 1, 1), 1);
  CHECK_EQ_INT(ops->reap(b, 1, 0), 1);
  char who[64], how[128];
  ops->describe(b, 1, who, sizeof who, how, sizeof how);
  CHECK_STR_HAS(how, "killed by signal 9");
  /* a setup sent to it fails, naming the worker */
  CHECK(ops->setup(b, 1, &payload) != TIDE_OK);
  CHECK_STR_HAS(tide_lasterror(), "cannot send worker 1 its setup");
  /* slot 2: a STOP ends its loop, a SETUP starts the next, a TASK too
  ** short to hold its tasks makes it leave */
  tide_Buf m = TIDE_BUF_INIT;
  CHECK_EQ_INT(ops->send(b, 2, TIDE_MSG_STOP, &m), TIDE_OK);
  CHECK_EQ_INT(ops->setup(b, 2, &payload), TIDE_OK);
  CHECK(one_task(b, 2, 7) == 70);
  tide_buf_put_u64(&m, 1);
  CHECK_EQ_INT(ops->send(b, 2, TIDE_MSG_TASK, &m), TIDE_OK);
  CHECK_EQ_INT(ops->reap(b, 2, 1), 1);
  ops->describe(b, 2, who, sizeof who, how, sizeof how);
  CHECK_STR_HAS(how, "status 122");
  tide_buf_free(&m);
  ops->close(b);
  ops->close(NULL); /* nothing to close: nothing happens */
  CHECK_EQ_INT(children(), 0);
}

/* A warm set's worker that dies while its loop is open: not kept. */
static void test_warm_death(void) {
  tide_SpawnSet *set = tide_spawnset_new(1);
  tide_Backend *b = start(2, set);
  CHECK(b != NULL && works(b));
  if (!b) return;
  pid_t victim = pid_of(b, 2);
  kill(victim, SIGKILL);
  siginfo_t si;
  CHECK(waitid(P_PID, (id_t)victim, &si, WEXITED | WNOWAIT) == 0); /* dead, not reaped */
  ops->halt(b);  /* as a loop's close: the idle ones stay */
  ops->close(b);
  CHECK_EQ_INT(tide_spawnset_workers(set), 1);
  CHECK_EQ_INT(children(), 1);
  b = start(2, set); /* the next loop: the survivor and a new one */
  CHECK(b != NULL && works(b));
  CHECK(pid_of(b, 2) != victim);
  if (b) ops->close(b);
  CHECK_EQ_INT(tide_spawnset_workers(set), 2);
  tide_spawnset_unref(set);
  CHECK_EQ_INT(children(), 0);
}

/* ------------------------------------------------------------ a forked child */

static void test_fork(void) {
  FdSet before, after;
  fds_now(&before);
  tide_SpawnSet *set = tide_spawnset_new(1);
  tide_Backend *b = start(2, set);
  CHECK(b != NULL && works(b));
  if (!b) return;
  fds_now(&after);
  pid_t p1 = pid_of(b, 1), p2 = pid_of(b, 2);
  int pfd[2];
  CHECK(pipe(pfd) == 0);
  fflush(NULL);
  pid_t child = fork();
  if (child == 0) { /* what a forked worker would see */
    close(pfd[0]);
    int leaked = 0;
    for (int fd = 0; fd < 1024; fd++)
      if (after.on[fd] && !before.on[fd] && fcntl(fd, F_GETFD) != -1) leaked++;
    ops->close(b); /* its copy of the loop: forgotten, no worker killed */
    tide_Backend *mine = start(1, set); /* the set is its parent's: a new one */
    int ok = mine != NULL && works(mine);
    if (mine) ops->close(mine);
    char r[2] = {(char)('0' + (leaked > 9 ? 9 : leaked)), ok ? 'y' : 'n'};
    if (write(pfd[1], r, 2) != 2) _exit(2);
    _exit(0);
  }
  close(pfd[1]);
  char r[2] = {'?', '?'};
  CHECK(read(pfd[0], r, 2) == 2);
  close(pfd[0]);
  int st;
  CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(r[0] == '0'); /* no descriptor of the spawned workers in the child */
  CHECK(r[1] == 'y'); /* which ran a loop of its own */
  CHECK(kill(p1, 0) == 0 && kill(p2, 0) == 0); /* the parent's workers live */
  CHECK_EQ_INT(tide_spawnset_workers(set), 2);
  CHECK(one_task(b, 1, 3) == 30 && one_task(b, 2, 4) == 40); /* and serve on */
  ops->close(b);
  tide_spawnset_unref(set);
  CHECK_EQ_INT(children(), 0);
}

/* ------------------------------------------------------------ the program */

static void test_program(char *exe) {
  /* too many workers */
  CHECK(start(300, NULL) == NULL);
  CHECK_STR_HAS(tide_lasterror(), "at most 256 workers");
  /* no program named: unless tide is installed, the error says what to set */
  unsetenv("TIDE_WORKER_EXE");
  tide_set_worker_exe(NULL);
  tide_Backend *b = start(1, NULL);
  if (b) { /* an installed tide: it runs the loop */
    CHECK(works(b));
    ops->close(b);
  } else {
    CHECK_STR_HAS(tide_lasterror(), "set TIDE_WORKER_EXE to its path");
  }
  /* named by the host */
  tide_set_worker_exe(exe);
  b = start(1, NULL);
  CHECK(b != NULL && works(b));
  if (b) ops->close(b);
  setenv("TIDE_WORKER_EXE", exe, 1);
}

int main(void) {
  const char *build = getenv("TIDE_BUILD");
  char exe[4096];
  if (!build) {
    printf("skipped: TIDE_BUILD is not set\n");
    return 77;
  }
  snprintf(exe, sizeof exe, "%s/tide", build);
  setenv("TIDE_WORKER_EXE", exe, 1);
  signal(SIGPIPE, SIG_IGN);
  tide_State *T = tide_open(NULL);
  CHECK(T != NULL);
  if (!T) return check_done();
  L = tide_lua(T);
  CHECK_EQ_INT(make_payload(&payload, "return function(i) return 10 * i end"), 0);
  int fds0 = count_fds(), shm0 = count_shm();

  test_faults();
  test_fd3();
  test_dead();
  test_warm_death();
  test_fork();
  test_program(exe);

  CHECK_EQ_INT(count_fds(), fds0);
  CHECK_EQ_INT(count_shm(), shm0);
  CHECK_EQ_INT(children(), 0);
  tide_buf_free(&payload);
  tide_close(T);
  return check_done();
}
