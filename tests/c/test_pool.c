/*
** test_pool.c -- worker processes: EINTR under a 1 ms timer, BLAS before
** and after fork, the BLAS thread budget, death with the parent, no zombies.
*/
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ipc.h"
#include "pool.h"

static int echo_main(void *ud, int sock, int id) {
  (void)ud; (void)id;
  tide_Buf b = TIDE_BUF_INIT;
  uint8_t type;
  while (tide_msg_recv(sock, &type, &b, 1 << 20) == TIDE_OK)
    if (tide_msg_send(sock, type, &b) != TIDE_OK) return 2;
  return 0;
}

static void on_alarm(int sig) { (void)sig; }

/* 10^4 round trips while SIGALRM interrupts every millisecond. */
static void test_eintr(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm; /* no SA_RESTART: system calls see EINTR */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
  tide_Pool p;
  CHECK_EQ_INT(tide_pool_start(&p, 2, echo_main, NULL), TIDE_OK);
  tide_Buf out = TIDE_BUF_INIT, in = TIDE_BUF_INIT;
  int bad = 0;
  for (int i = 0; i < 10000; i++) {
    int w = i % 2;
    tide_buf_reset(&out);
    tide_buf_put_u32(&out, (uint32_t)i);
    for (int k = 0; k < i % 50; k++) tide_buf_put_u64(&out, (uint64_t)k);
    uint8_t type;
    if (tide_msg_send(p.w[w].sock, 7, &out) != TIDE_OK ||
        tide_msg_recv(p.w[w].sock, &type, &in, 1 << 20) != TIDE_OK || in.n != out.n ||
        memcmp(in.p, out.p, in.n) != 0)
      bad++;
  }
  CHECK_EQ_INT(bad, 0);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  tide_pool_close(&p);
  tide_buf_free(&out);
  tide_buf_free(&in);
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD); /* no zombie */
}

static void dgemm_once(int n, double *c) {
  static double a[64 * 64], b[64 * 64];
  for (int i = 0; i < n * n; i++) { a[i] = (i % 7) * 0.5; b[i] = (i % 5) * 0.25; }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
}

static int blas_main(void *ud, int sock, int id) {
  (void)ud; (void)id;
  double c[64 * 64];
  for (int r = 0; r < 20; r++) dgemm_once(64, c);
  tide_Buf b = TIDE_BUF_INIT;
  tide_buf_put_u32(&b, (uint32_t)openblas_get_num_threads());
  tide_buf_put_f64(&b, c[64 * 64 - 1]);
  int rc = tide_msg_send(sock, 1, &b) == TIDE_OK ? 0 : 1;
  tide_buf_free(&b);
  return rc;
}

/* BLAS threads busy in the parent, then fork, then BLAS in the children:
** OpenBLAS issues #240 / #294 hung here.  ctest's timeout is the watchdog. */
static void test_blas_fork(void) {
  double ref[64 * 64];
  openblas_set_num_threads(2);
  dgemm_once(64, ref);
  int wrong = 0, budget_ok = 1;
  for (int round = 0; round < 100; round++) {
    double c[64 * 64];
    dgemm_once(64, c); /* BLAS in the parent right before the fork */
    tide_Pool p;
    tide__config.blas_threads_per_worker = 0; /* default: CPUs / jobs */
    if (tide_pool_start(&p, 2, blas_main, NULL) != TIDE_OK) { wrong++; break; }
    for (int w = 0; w < 2; w++) {
      tide_Buf in = TIDE_BUF_INIT;
      uint8_t type;
      if (tide_msg_recv(p.w[w].sock, &type, &in, 1024) != TIDE_OK) { wrong++; continue; }
      tide_Cursor cur = {in.p, in.p + in.n, 0};
      int threads = (int)tide_cur_u32(&cur);
      double last = tide_cur_f64(&cur);
      int expect = tide_ncpus() / 2 > 0 ? tide_ncpus() / 2 : 1;
      if (threads != expect) budget_ok = 0;
      if (last != ref[64 * 64 - 1]) wrong++;
      tide_buf_free(&in);
    }
    tide_pool_close(&p);
  }
  CHECK_EQ_INT(wrong, 0);
  CHECK(budget_ok);
}

static int sleep_main(void *ud, int sock, int id) {
  (void)ud; (void)sock; (void)id;
  for (;;) pause();
  return 0;
}

static int alive(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char state = 0;
  int r = fscanf(f, "%*d %*s %c", &state);
  fclose(f);
  return r == 1 && state != 'Z' && state != 'X';
}

/* Workers die with their parent, even one killed with SIGKILL. */
static void test_parent_death(void) {
  int pfd[2];
  CHECK(pipe(pfd) == 0);
  pid_t mid = fork();
  if (mid == 0) {
    close(pfd[0]);
    tide_Pool p;
    if (tide_pool_start(&p, 2, sleep_main, NULL) != TIDE_OK) _exit(1);
    pid_t w[2] = {p.w[0].pid, p.w[1].pid};
    if (write(pfd[1], w, sizeof w) != (ssize_t)sizeof w) _exit(1);
    for (;;) pause();
  }
  close(pfd[1]);
  pid_t w[2] = {0, 0};
  CHECK(read(pfd[0], w, sizeof w) == (ssize_t)sizeof w);
  close(pfd[0]);
  CHECK(alive(w[0]) && alive(w[1]));
  kill(mid, SIGKILL);
  waitpid(mid, NULL, 0);
  int gone = 0;
  for (int i = 0; i < 200 && !gone; i++) { /* up to 2 s */
    gone = !alive(w[0]) && !alive(w[1]);
    if (!gone) usleep(10000);
  }
  CHECK(gone);
}

/* A pool that cannot start leaves nothing running. */
static void test_start_errors(void) {
  tide_Pool p;
  CHECK_EQ_INT(tide_pool_start(&p, 0, echo_main, NULL), TIDE_EINVAL);
  char buf[64];
  CHECK_STR_HAS(tide_pool_describe(9, buf, sizeof buf), "SIGKILL");
  CHECK_STR_HAS(tide_pool_describe(3 << 8, buf, sizeof buf), "exited with status 3");
  CHECK_STR_HAS(tide_pool_describe(122 << 8, buf, sizeof buf), "it was sent a malformed message");
  CHECK_STR_HAS(tide_pool_describe(0x137f, buf, sizeof buf), "stopped (status 0x137f)");
  CHECK_STR_HAS(tide_pool_describe(40, buf, sizeof buf), "killed by signal 40 (SIG"); /* a realtime one */
}

static int late_main(void *ud, int sock, int id) { /* exits 7 after 100 ms */
  (void)ud; (void)sock; (void)id;
  usleep(100000);
  return 7;
}

/* A blocking reap goes on through signals: the status is the child's. */
static void test_reap_eintr(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid sees EINTR */
  sigaction(SIGALRM, &sa, NULL);
  tide_Pool p;
  CHECK_EQ_INT(tide_pool_start(&p, 1, late_main, NULL), TIDE_OK);
  struct itimerval it = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
  CHECK_EQ_INT(tide_pool_try_reap(&p, 1, 1), 1);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  CHECK(WIFEXITED(p.w[0].status) && WEXITSTATUS(p.w[0].status) == 7);
  CHECK_EQ_INT(tide_pool_try_reap(&p, 1, 1), 1); /* once reaped, stays so */
  tide_pool_close(&p);
}

static int quick_main(void *ud, int sock, int id) { (void)ud; (void)sock; (void)id; return 5; }

/* A parent that ignores SIGCHLD has its children reaped by the kernel: a
** worker's end is still seen (its cause is not known: status 0). */
static void test_reaped_elsewhere(void) {
  struct sigaction ign = {0}, old;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ign, &old);
  tide_Pool p;
  CHECK_EQ_INT(tide_pool_start(&p, 1, quick_main, NULL), TIDE_OK);
  int gone = 0;
  for (int i = 0; i < 1000 && !gone; i++) { /* up to 10 s */
    gone = tide_pool_try_reap(&p, 1, 0);
    if (!gone) usleep(10000);
  }
  CHECK(gone);
  CHECK_EQ_INT(p.w[0].status, 0);
  tide_pool_close(&p);
  sigaction(SIGCHLD, &old, NULL);
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

/* Closing kills busy workers too, reaps them, and closing again does
** nothing (a descriptor opened in between stays open). */
static void test_close(void) {
  tide_Pool p;
  CHECK_EQ_INT(tide_pool_start(&p, 2, sleep_main, NULL), TIDE_OK);
  pid_t w[2] = {p.w[0].pid, p.w[1].pid};
  CHECK(alive(w[0]) && alive(w[1]));
  tide_pool_close(&p);
  CHECK(!alive(w[0]) && !alive(w[1]));
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  tide_pool_close(&p);
  CHECK(fcntl(fd, F_GETFD) != -1);
  close(fd);
}

int main(void) {
  test_eintr();
  test_blas_fork();
  test_parent_death();
  test_start_errors();
  test_reap_eintr();
  test_reaped_elsewhere();
  test_close();
  return check_done();
}
