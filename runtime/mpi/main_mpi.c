/*
** main_mpi.c -- the tide-mpi program: the tide program (runtime/cli/,
** whose main is tide_cli_main here) inside MPI_Init and MPI_Finalize.  The
** tide program executes it when it finds itself under mpirun with more
** than one rank (main.c), so that plain runs never load libmpi.
**
** Rank 0 runs the script with "mpi" as every loop's default backend; the
** other ranks serve (serve.c).  An uncaught error on rank 0 ends the job
** with MPI_Abort, so no rank waits for a script that is gone.  When a rank
** dies, mpirun ends the whole job (Open MPI's default): it sends SIGTERM
** to every other rank, then SIGKILL.  Rank 0 then says which rank ended,
** where it can tell, before it goes.
*/
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <mpi.h>

#include "tide.h"
#include "tmpi.h"

int tide_cli_main(int argc, char **argv);
void cli_mpi_state(tide_State *T);

/* tide.mpi in the script's state (rank 0). */
void cli_mpi_state(tide_State *T) {
  lua_State *L = tide_lua(T);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "tide");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) tmpi_open_lua(L);
  lua_pop(L, 1);
}

/* ---- SIGTERM from mpirun: say why, async-signal-safely ------------------ */

static unsigned char *same_host; /* per rank: on rank 0's host, its /proc is ours to read */

static void put(const char *s) {
  ssize_t r = write(STDERR_FILENO, s, strlen(s));
  (void)r;
}

static void put_int(long v) {
  char b[24], *p = b + sizeof b - 1;
  *p = 0;
  do *--p = (char)('0' + v % 10); while ((v /= 10) > 0);
  put(p);
}

/* How a rank's process on this host ended: 0 while it runs, else its
** wait status (a zombie's exit_code, field 52 of /proc/PID/stat), or -1
** when it is gone.  Only open, read and close: safe in a handler. */
static int ended(int pid) {
  char path[40] = "/proc/", *p = path + 6;
  char num[16], *q = num + sizeof num - 1;
  *q = 0;
  do *--q = (char)('0' + pid % 10); while ((pid /= 10) > 0);
  while (*q) *p++ = *q++;
  memcpy(p, "/stat", 6);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  char st[1024];
  ssize_t n = read(fd, st, sizeof st - 1);
  close(fd);
  if (n <= 0) return -1;
  st[n] = 0;
  char *rp = strrchr(st, ')');
  if (!rp || rp[1] != ' ' || (rp[2] != 'Z' && rp[2] != 'X')) return 0;
  int field = 2; /* rp + 1 starts field 3 */
  for (p = rp + 1; *p && field < 52; p++)
    if (*p == ' ') field++;
  int code = 0;
  while (*p >= '0' && *p <= '9') code = code * 10 + (*p++ - '0');
  return code ? code : -1;
}

static volatile sig_atomic_t told;   /* a rank's death was reported */
static volatile sig_atomic_t ending; /* rank 0 ends the job itself: ranks going are expected */

static void tell(int r, int status) {
  put("tide: rank ");
  put_int(r);
  put(" (");
  put(tmpi_world.r[r].host);
  put(", pid ");
  put_int(tmpi_world.r[r].pid);
  if (status > 0 && (status & 0x7f)) {
    put(") was killed by signal ");
    put_int(status & 0x7f);
  } else if (status > 0) {
    put(") exited with status ");
    put_int((status >> 8) & 0xff);
  } else {
    put(") died");
  }
  put(": the job ends (mpirun stops every rank; nothing is left in /dev/shm)\n");
  told = 1;
}

/* Rank 0 watches the serving ranks of its host every 20 ms: the first to
** die is named at once, before mpirun's teardown reaches rank 0, and if
** nothing ends the job within 10 s (a launcher that does not), rank 0
** aborts it: nothing waits for a rank that is gone. */
static void *watch(void *ud) {
  (void)ud;
  for (;;) {
    for (int r = 1; r < tmpi_world.size; r++) {
      int st;
      if (ending || !same_host[r] || (st = ended(tmpi_world.r[r].pid)) == 0) continue;
      if (!told) tell(r, st);
      sleep(10);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static void on_term(int sig) {
  int named = told || ending;
  for (int r = 1; r < tmpi_world.size && !named; r++) {
    int st = same_host[r] ? ended(tmpi_world.r[r].pid) : 0;
    if (st > 0 && (st & 0x7f) != SIGTERM) { /* not one of mpirun's own */
      tell(r, st);
      named = 1;
    }
  }
  if (!named)
    put("tide: rank 0 stopped by mpirun: the job is ending (Ctrl-C, or a rank on another "
        "host died; see mpirun's message)\n");
  _exit(128 + sig); /* memfds go with the process: nothing to clean */
}

int main(int argc, char **argv) {
  if (tmpi_init(&argc, &argv) != 0) {
    fprintf(stderr, "tide: MPI_Init failed\n");
    return 1;
  }
  if (tmpi_world.rank != 0) {
    int rc = tmpi_serve();
    MPI_Finalize();
    return rc;
  }
  same_host = calloc((size_t)tmpi_world.size, 1);
  for (int r = 0; same_host && r < tmpi_world.size; r++)
    same_host[r] = strcmp(tmpi_world.r[r].host, tmpi_world.r[0].host) == 0;
  if (same_host) {
    signal(SIGTERM, on_term);
    pthread_t t;
    if (pthread_create(&t, NULL, watch, NULL) == 0) pthread_detach(t);
  }
  if (tmpi_world.size > 1) tide_backend_use_mpi(&tide_backend_mpi);
  int rc = tide_cli_main(argc, argv);
  ending = 1;
  if (rc != 0) { /* the script failed: no rank may wait for it */
    fflush(NULL);
    /* said by us: Open MPI's own notice is sometimes lost in its teardown */
    fprintf(stderr, "tide: the script on rank 0 failed: ending the job (MPI_Abort)\n");
    MPI_Abort(MPI_COMM_WORLD, rc);
  }
  tmpi_exit_all();
  MPI_Finalize();
  return 0;
}
