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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A rank's process is gone or a zombie. */
static int gone(int pid) {
  char path[40] = "/proc/", *p = path + 6;
  char num[16], *q = num + sizeof num - 1;
  *q = 0;
  do *--q = (char)('0' + pid % 10); while ((pid /= 10) > 0);
  while (*q) *p++ = *q++;
  memcpy(p, "/stat", 6);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 1;
  char st[256];
  ssize_t n = read(fd, st, sizeof st - 1);
  close(fd);
  if (n <= 0) return 1;
  st[n] = 0;
  char *rp = strrchr(st, ')');
  return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static void on_term(int sig) {
  int named = 0;
  for (int r = 1; r < tmpi_world.size; r++) {
    if (!same_host[r] || !gone(tmpi_world.r[r].pid)) continue;
    put("tide: rank ");
    put_int(r);
    put(" (");
    put(tmpi_world.r[r].host);
    put(", pid ");
    put_int(tmpi_world.r[r].pid);
    put(") died: the job ends (mpirun stops every rank)\n");
    named = 1;
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
  if (same_host) signal(SIGTERM, on_term);
  if (tmpi_world.size > 1) tide_backend_use_mpi(&tide_backend_mpi);
  int rc = tide_cli_main(argc, argv);
  if (rc != 0) { /* the script failed: no rank may wait for it */
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, rc);
  }
  tmpi_exit_all();
  MPI_Finalize();
  return 0;
}
