/*
** worker_spawn.c -- a spawned worker's body: `tide --worker FD PID`
** (backend_spawn.c starts it).  It shares nothing with its parent but a
** socket (FD) and what comes over it: each loop's SETUP frame brings the
** slot's word and spill (memfds), the parent's settings and the loop's
** payload (l_job.c, make_setup: f and its input, shipped); the worker
** builds them in its own Lua state and serves the loop's tasks in the
** same task loop as a forked worker (tideW_serve), until STOP -- then it
** waits for the next loop's SETUP (a warm pool's worker) -- or EOF.
**
** What its Lua state holds: a fresh tide state (tide_open, the standard
** libraries), package.path and package.cpath as the parent's, the
** parent's tide.config (share_bytes, temp_dir; the BLAS threads of one
** worker), and per loop the globals f reads, by value.  Nothing it
** changes reaches the parent, as on fork; globals it sets stay for the
** next loop of a warm worker, which gets f's globals afresh.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cblas.h>

#include "backend.h"
#include "par.h"
#include "ship.h"
#include "tide.h"

static const char *cur_str(tide_Cursor *c, size_t *len) {
  *len = tide_cur_u32(c);
  return (const char *)tide_cur_bytes(c, *len);
}

/* The loop in a SETUP frame, in L: lp filled, the word mapped and the
** spill set; returns 0 on a malformed frame. */
static int setup_loop(lua_State *L, tide_Buf *in, tideW_Loop *lp, tide_SlotWord **word) {
  tide_Cursor c = {in->p, in->p + in->n, 0};
  uint32_t version = tide_cur_u32(&c);
  tide_cur_u32(&c); /* slot */
  tide_cur_u32(&c); /* jobs */
  uint32_t gen = tide_cur_u32(&c);
  uint32_t blas = tide_cur_u32(&c);
  uint64_t share = tide_cur_u64(&c);
  size_t tdlen;
  const char *td = cur_str(&c, &tdlen);
  if (c.bad || version != 1 || in->nfds < 2 || tdlen >= sizeof tide__config.temp_dir) return 0;
  tide__config.in_worker = 1;
  tide__config.gen = gen + 1;
  tide__config.share_bytes = (size_t)share;
  memcpy(tide__config.temp_dir, td, tdlen);
  tide__config.temp_dir[tdlen] = '\0';
  if ((int)blas != openblas_get_num_threads()) openblas_set_num_threads((int)blas);
  void *w = tide__mmap(NULL, sizeof **word, PROT_READ | PROT_WRITE, MAP_SHARED, in->fds[0], 0);
  if (w == MAP_FAILED) return 0;
  *word = w;
  close(in->fds[0]);
  tide_worker_word = w;
  tide_worker_spill = in->fds[1];
  in->fds[0] = in->fds[1] = -1;
  /* the loop's payload (l_job.c, make_setup), its descriptors numbered from 0 */
  *lp = (tideW_Loop){.L = L, .ref = LUA_NOREF};
  tide_Buf fds = *in;
  fds.fds = in->fds + 2;
  fds.nfds = in->nfds - 2;
  if (tideW_setup(lp, c.p, (size_t)(c.end - c.p), &fds) != LUA_OK) return 0;
  atomic_store(&(*word)->ready, (int64_t)(tide_now() * 1e9)); /* its timeouts count from here */
  /* As in a forked worker, the arrays it was given are read-only (those
  ** made {shared = true} stay writable and shared with the parent,
  ** {worker_mode = "c"} ones private): a write raises instead of being
  ** lost in a copy. */
  tide__storage_after_fork();
  return 1;
}

static int serve(lua_State *L) {
  int sock = (int)lua_tointeger(L, 1);
  tide_Buf in = TIDE_BUF_INIT;
  for (;;) {
    uint8_t type;
    int rc = tide_msg_recv(sock, &type, &in, MAX_MSG);
    if (rc == TIDE_ECLOSED) break; /* the parent closed: we are done */
    if (rc) {
      lua_pushinteger(L, TIDE_WORKER_EXIT_READ);
      return 1;
    }
    if (type == TIDE_MSG_STOP) continue;
    tideW_Loop lp;
    tide_SlotWord *word = NULL;
    if (type != TIDE_MSG_SETUP || !setup_loop(L, &in, &lp, &word)) {
      lua_pushinteger(L, TIDE_WORKER_EXIT_PROTOCOL);
      return 1;
    }
    tide_buf_reset(&in);
    rc = tideW_serve(&lp, sock);
    tideW_end_loop();
    luaL_unref(L, LUA_REGISTRYINDEX, lp.ref);
    lua_settop(L, 1);
    lua_gc(L, LUA_GCCOLLECT, 0); /* the loop's arrays and segments go now */
    munmap(word, sizeof *word);
    close(tide_worker_spill);
    tide_worker_word = NULL;
    tide_worker_spill = -1;
    if (rc) {
      lua_pushinteger(L, rc);
      return 1;
    }
  }
  tide_buf_free(&in);
  lua_pushinteger(L, 0);
  return 1;
}

int tide_worker_main(int argc, char **argv) {
  /* Ctrl-C is the parent's: it kills its workers.  Signals were blocked
  ** from the exec until now (backend_spawn.c). */
  struct sigaction sa; /* every signal at its default, as in a forked worker
                       ** (a sanitizer's SIGSEGV handler too: its death is the report) */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  char *end;
  long fd = argc > 2 ? strtol(argv[2], &end, 10) : -1;
  long ppid = argc > 3 ? strtol(argv[3], &end, 10) : -1;
  if (argc != 4 || fd < 0 || ppid <= 0) {
    fprintf(stderr, "tide --worker FD PID: run by tide's spawn backend, not by hand\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != (pid_t)ppid) return 1; /* the parent died before the prctl */
  tide_State *T = tide_open(NULL);
  if (!T) return TIDE_WORKER_EXIT_READ;
  lua_State *L = tide_lua(T);
  lua_pushcfunction(L, serve);
  lua_pushinteger(L, fd);
  int rc = TIDE_WORKER_EXIT_PROTOCOL;
  if (tide_pcall(T, 1, 1) == TIDE_OK) rc = (int)lua_tointeger(L, -1);
  else fprintf(stderr, "tide worker: %s\n", tide_errmsg(T));
  fflush(NULL);
  _exit(rc); /* as a forked worker: no atexit handler, nothing of the parent's to flush */
}
