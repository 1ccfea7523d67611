/*
** main.c -- the tide program: options, `arg`, scripts, -e/-l, then the
** prompt.  It behaves like the stock lua program and, like lua.c, uses only
** the public API (tide.h plus Lua's headers): it is the first embedder.
*/
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "cli.h"
#include "tide.h"

/* In the core library (OpenBLAS); used only for the version line. */
char *openblas_get_config(void);

/* ---- messages ----------------------------------------------------------- */

const char *cli_progname = "tide";

void cli_message(const char *msg) {
  if (cli_progname) fprintf(stderr, "%s: ", cli_progname);
  fprintf(stderr, "%s\n", msg ? msg : "(no message)");
  fflush(stderr);
}

int cli_report(tide_State *T, int rc) {
  if (rc != TIDE_OK) cli_message(tide_errmsg(T));
  return rc;
}

void cli_print_version(void) {
  /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." -> keep the name and the version. */
  const char *cfg = openblas_get_config();
  int n = 0, words = 0;
  while (cfg && cfg[n] && !(cfg[n] == ' ' && ++words == 2)) n++;
  printf("tide %s (%s, %.*s)\n%s\n", TIDE_VERSION, LUA_RELEASE, n, cfg ? cfg : "",
         LUA_COPYRIGHT); /* Lua's own line last, where tools look for it */
  fflush(stdout);
}

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -E        ignore environment variables (TIDE_INIT, LUA_INIT, TIDE_PATH,\n"
          "            LUA_PATH, LUA_CPATH) and ~/.tiderc\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -j N      default worker count (tide.config.jobs; also TIDE_JOBS);\n"
          "            0 or -1: every CPU, -2: all but one, ...\n"
          "  -v        show version information (also --version)\n"
          "  -W        turn warnings on\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n",
          cli_progname);
  fflush(f);
}

/* ---- Ctrl-C while Lua runs (lua.c's scheme) ----------------------------- */

static lua_State *volatile running_L;

/* The hook raises in the interrupted code itself, at its next call, line
** or instruction; it removes itself first so the error handler can run. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* Signal handler: only sets a hook (lua_sethook is safe to call here).
** The default action is restored so a second Ctrl-C ends a program stuck
** in C code that never reaches the hook. */
static void on_sigint(int sig) {
  int mask = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  signal(sig, SIG_DFL);
  tide_interrupt(); /* a parallel loop waiting in C cancels its workers */
  lua_sethook(running_L, stop_hook, mask, 1);
}

int cli_docall(tide_State *T, int nargs, int nresults) {
  lua_State *L = tide_lua(T);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns so the hook runs */
  running_L = L;
  sigaction(SIGINT, &sa, &old);
  int rc = tide_pcall(T, nargs, nresults);
  sigaction(SIGINT, &old, NULL); /* the prompt's handler, or the default */
  /* A signal that came after the code finished leaves the hook set; it must
  ** not interrupt the next chunk.  A user's own debug.sethook is kept. */
  if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
  return rc;
}

/* ---- options ------------------------------------------------------------ */

typedef struct Args {
  int argc;
  char **argv;
  int script;        /* index of the script in argv; 0: none */
  int has_i, has_v, has_e, has_W, has_E;
  const char *jobs;  /* last -j value, NULL if none */
  tide_State *T;
  int status;        /* exit status */
} Args;

/* A bad command line: the reason, then the usage. */
static int bad_option(const char *opt, int needs_arg) {
  if (needs_arg) fprintf(stderr, "%s: '%s' needs argument\n", cli_progname, opt);
  else fprintf(stderr, "%s: unrecognized option '%s'\n", cli_progname, opt);
  print_usage(stderr);
  return -1;
}

/* Scans the options (lua.c's order and rules).  Returns 0, 1 when the
** program should stop with status 0 (--help), -1 on a bad option. */
static int collect(Args *a) {
  char **argv = a->argv;
  a->script = 0;
  for (int i = 1; i < a->argc; i++) {
    const char *o = argv[i];
    if (o[0] != '-') { a->script = i; return 0; }
    switch (o[1]) {
      case '-':
        if (strcmp(o, "--help") == 0) { print_usage(stdout); return 1; }
        if (strcmp(o, "--version") == 0) { a->has_v = 1; break; }
        if (o[2] != '\0') return bad_option(o, 0);
        a->script = i + 1 < a->argc ? i + 1 : 0;
        return 0;
      case '\0': /* "-": the script is stdin */
        a->script = i;
        return 0;
      case 'h':
        if (o[2] != '\0') return bad_option(o, 0);
        print_usage(stdout);
        return 1;
      case 'i': case 'v': case 'W': case 'E':
        if (o[2] != '\0') return bad_option(o, 0);
        if (o[1] == 'i') a->has_i = a->has_v = 1; /* -i implies -v, as in lua.c */
        else if (o[1] == 'v') a->has_v = 1;
        else if (o[1] == 'E') a->has_E = 1;
        else a->has_W = 1;
        break;
      case 'e': case 'l':
        if (o[1] == 'e') a->has_e = 1;
        if (o[2] == '\0') {
          i++;
          if (i >= a->argc || argv[i][0] == '-') return bad_option(o, 1);
        }
        break;
      case 'j':
        if (o[2] != '\0') {
          a->jobs = o + 2;
        } else {
          i++;
          if (i >= a->argc) return bad_option(o, 1);
          a->jobs = argv[i]; /* may be negative: -1 means every CPU */
        }
        break;
      default:
        return bad_option(o, 0);
    }
  }
  return 0;
}

/* ---- steps, each run protected ----------------------------------------- */

/* arg as lua sets it: the script at 0, what precedes it at negative
** indices, its arguments at 1..n.  With no script, the program is at 0. */
static void create_arg(lua_State *L, Args *a) {
  int script = a->script;
  int narg = a->argc - (script + 1);
  lua_createtable(L, narg > 0 ? narg : 0, script + 1);
  for (int i = 0; i < a->argc; i++) {
    lua_pushstring(L, a->argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* tide.config.jobs = N, with the config's own checks and messages.  0
** means every CPU, as jobs = 0 does in tide_Options (the config itself
** takes -1 for that). */
static int p_setjobs(lua_State *L) {
  const char *v = luaL_checkstring(L, 1);
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (end == v || *end != '\0' || errno)
    return luaL_error(L, "%s: '%s' is not a worker count", lua_tostring(L, 2), v);
  lua_getglobal(L, "tide");
  lua_getfield(L, -1, "config");
  lua_pushinteger(L, n == 0 ? -1 : (lua_Integer)n);
  lua_setfield(L, -2, "jobs");
  return 0;
}

/* Protected: the config's own check raises for 0 or too negative counts. */
static int p_trysetjobs(lua_State *L) {
  lua_pushcfunction(L, p_setjobs);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 2, 0, 0) == LUA_OK) return 0;
  if (strstr(lua_tostring(L, -1), "is not a worker count")) return lua_error(L);
  return luaL_error(L, "%s: bad worker count '%s' (a positive count, 0 or -1 for all "
                    "CPUs, -2 for all but one, ...)", lua_tostring(L, 2), lua_tostring(L, 1));
}

static int set_jobs(tide_State *T, const char *value, const char *what) {
  lua_State *L = tide_lua(T);
  lua_pushcfunction(L, p_trysetjobs);
  lua_pushstring(L, value);
  lua_pushstring(L, what);
  int rc = tide_pcall(T, 2, 0);
  if (rc != TIDE_OK) { /* a usage error: the message without a traceback */
    const char *m = tide_errmsg(T), *tb = strstr(m, "\nstack traceback:");
    fprintf(stderr, "%s: %.*s\n", cli_progname, tb ? (int)(tb - m) : (int)strlen(m), m);
  }
  return rc;
}

/* Runs a chunk already loaded (status st) with no arguments, or reports
** its load error. */
static int run_loaded(tide_State *T, int st) {
  lua_State *L = tide_lua(T);
  if (st != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    cli_message(msg ? msg : "(error while loading)");
    lua_pop(L, 1);
    return TIDE_ELUA;
  }
  return cli_report(T, cli_docall(T, 0, 0));
}

static int dostring(tide_State *T, const char *code, const char *name) {
  lua_State *L = tide_lua(T);
  return run_loaded(T, luaL_loadbufferx(L, code, strlen(code), name, "t"));
}

static int dofile(tide_State *T, const char *path) {
  return run_loaded(T, luaL_loadfilex(tide_lua(T), path, "t"));
}

/* -l g=mod, -l mod, and lua's "-l mod-v2" (global "mod"). */
static int p_require(lua_State *L) {
  const char *spec = luaL_checkstring(L, 1);
  const char *eq = strchr(spec, '=');
  const char *mod = eq ? eq + 1 : spec;
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  lua_call(L, 1, 1);
  if (eq) {
    lua_pushlstring(L, spec, (size_t)(eq - spec));
  } else {
    const char *dash = strchr(spec, '-');
    lua_pushlstring(L, spec, dash ? (size_t)(dash - spec) : strlen(spec));
  }
  lua_insert(L, -2);
  lua_setglobal(L, lua_tostring(L, -2));
  return 0;
}

static int dolibrary(tide_State *T, const char *spec) {
  lua_State *L = tide_lua(T);
  lua_pushcfunction(L, p_require);
  lua_pushstring(L, spec);
  return cli_report(T, cli_docall(T, 1, 0));
}

/* -e and -l in their command-line order. */
static int run_options(Args *a) {
  for (int i = 1; i < (a->script > 0 ? a->script : a->argc); i++) {
    const char *o = a->argv[i];
    if (o[0] != '-') break;
    if (o[1] == 'j' && o[2] == '\0') { i++; continue; }
    if (o[1] != 'e' && o[1] != 'l') continue;
    const char *val = o[2] ? o + 2 : a->argv[++i];
    int rc = o[1] == 'e' ? dostring(a->T, val, "=(command line)") : dolibrary(a->T, val);
    if (rc != TIDE_OK) return rc;
  }
  return TIDE_OK;
}

/* ---- -i after a script: its locals stay visible at the prompt ---------- */

/* A return hook (debug library, LUA_MASKRET) watches for the main chunk's
** own return: there its locals still in scope are copied into a table in
** the registry, and after the script ended without error they are set as
** globals.  The chunk is recognised by its depth (nothing below it but
** the levels that were there when it was called) and then by identity, so
** the other returns cost a depth test only.  A hook already set (a user's,
** or the count hook of a host's limits) is chained: called for its own
** events, and put back after the script. */
#define KEPT_LOCALS "tide.cli.locals"

static lua_State *keep_L;     /* the main thread (coroutines inherit hooks) */
static const void *keep_fn;   /* the script's main function */
static int keep_below;        /* levels under it */
static lua_Hook old_hook;     /* the hook it chains to */
static int old_mask, old_count;

static void keep_hook(lua_State *L, lua_Debug *ar) {
  lua_Debug up;
  if (old_hook && (ar->event != LUA_HOOKRET || (old_mask & LUA_MASKRET))) old_hook(L, ar);
  if (L != keep_L || ar->event != LUA_HOOKRET || lua_getstack(L, keep_below + 1, &up)) return;
  if (!lua_getinfo(L, "f", ar)) return;
  int mine = lua_topointer(L, -1) == keep_fn;
  lua_pop(L, 1);
  if (!mine) return; /* a function tail-called at the end: its frame, not the chunk's */
  if (lua_gethook(L) == keep_hook) lua_sethook(L, old_hook, old_mask, old_count);
  lua_newtable(L);
  const char *name;
  for (int i = 1; (name = lua_getlocal(L, ar, i)) != NULL; i++) {
    if (name[0] == '(') { /* "(temporary)", "(for state)", ... */
      lua_pop(L, 1);
      continue;
    }
    lua_setfield(L, -2, name); /* a later local of the same name wins, as in scope */
  }
  lua_setfield(L, LUA_REGISTRYINDEX, KEPT_LOCALS);
}

/* Called with the chunk on top: watch it. */
static void keep_locals_start(lua_State *L) {
  lua_Debug ar;
  old_hook = lua_gethook(L);
  old_mask = lua_gethookmask(L);
  old_count = lua_gethookcount(L);
  keep_L = L;
  keep_fn = lua_topointer(L, -1);
  keep_below = 0;
  while (lua_getstack(L, keep_below, &ar)) keep_below++;
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, KEPT_LOCALS);
  lua_sethook(L, keep_hook, old_mask | LUA_MASKRET, old_count);
}

/* After the script: the kept locals become globals (raw sets, so a strict
** __newindex on _G does not refuse them). */
static void keep_locals_end(lua_State *L, int ok) {
  if (lua_gethook(L) == keep_hook) lua_sethook(L, old_hook, old_mask, old_count);
  if (lua_getfield(L, LUA_REGISTRYINDEX, KEPT_LOCALS) == LUA_TTABLE && ok) {
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, KEPT_LOCALS);
}

static int run_script(Args *a) {
  lua_State *L = tide_lua(a->T);
  const char *fname = a->argv[a->script];
  /* "-" is stdin, unless it came after "--" (then it is a file named -). */
  if (strcmp(fname, "-") == 0 && strcmp(a->argv[a->script - 1], "--") != 0) fname = NULL;
  int st = luaL_loadfilex(L, fname, "t");
  if (st != LUA_OK) return run_loaded(a->T, st);
  /* The script's arguments, also as ...: read from `arg` now, after -e
  ** and -l ran, as lua.c does (they may have changed it). */
  if (lua_getglobal(L, "arg") != LUA_TTABLE) {
    lua_pop(L, 2);
    cli_message("'arg' is not a table");
    return TIDE_ELUA;
  }
  lua_Integer n = luaL_len(L, -1);
  if (n < 0 || n > INT_MAX - 8 || !lua_checkstack(L, (int)n + 3)) {
    lua_pop(L, 2);
    cli_message("too many arguments to script");
    return TIDE_ELUA;
  }
  for (lua_Integer i = 1; i <= n; i++) lua_rawgeti(L, -1 - (int)(i - 1), i);
  lua_remove(L, -1 - (int)n);
  if (!a->has_i) return cli_report(a->T, cli_docall(a->T, (int)n, 0));
  lua_pushvalue(L, -1 - (int)n);
  keep_locals_start(L);
  lua_pop(L, 1);
  int rc = cli_docall(a->T, (int)n, 0);
  keep_locals_end(L, rc == TIDE_OK);
  return cli_report(a->T, rc);
}

/* -E: package.path and package.cpath as an empty environment gives them,
** and LUA_INIT not run (lua.c's LUA_NOENV). */
static void ignore_env(lua_State *L) {
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  if (lua_getglobal(L, "package") == LUA_TTABLE) {
    lua_pushliteral(L, LUA_PATH_DEFAULT);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, LUA_CPATH_DEFAULT);
    lua_setfield(L, -2, "cpath");
  }
  lua_pop(L, 1);
}

/* TIDE_INIT, else LUA_INIT_5_4, else LUA_INIT (lua.c's two, after tide's
** own, so tide can be given a different one): only the first that is set
** runs, even when empty.  "@file" runs a file, anything else is code. */
static int run_init(tide_State *T) {
  const char *name = "=TIDE_INIT";
  const char *init = getenv("TIDE_INIT");
  if (!init) {
    name = "=LUA_INIT_5_4";
    init = getenv("LUA_INIT_5_4");
  }
  if (!init) {
    name = "=LUA_INIT";
    init = getenv("LUA_INIT");
  }
  if (!init) return TIDE_OK;
  if (init[0] == '@') return dofile(T, init + 1);
  return dostring(T, init, name);
}

/* ~/.tiderc, when there is one, at the start of the prompt (not for a
** script): an error in it is reported and the prompt still starts. */
static void run_rc(tide_State *T) {
  const char *home = getenv("HOME");
  if (!home || !home[0]) return;
  lua_State *L = tide_lua(T);
  const char *path = lua_pushfstring(L, "%s/.tiderc", home);
  FILE *f = fopen(path, "r");
  if (f) {
    fclose(f);
    dofile(T, path);
  }
  lua_pop(L, 1);
}

/* The program's body, under tide_pcall like lua.c's pmain: an error that
** escapes every inner call (out of memory) still ends cleanly. */
static int pmain(lua_State *L) {
  Args *a = lua_touserdata(L, 1);
  tide_State *T = a->T;
  lua_settop(L, 0);
  a->status = 1;
  int tty = isatty(STDIN_FILENO);
  int repl = a->has_i || (a->script == 0 && !a->has_e && !a->has_v && tty);
  if (a->has_E) ignore_env(L);
  if (a->has_W) lua_warning(L, "@on", 0);
  if (a->has_v || (repl && tty)) cli_print_version();
  create_arg(L, a);
  const char *env_jobs = getenv("TIDE_JOBS");
  if (env_jobs && env_jobs[0] && set_jobs(T, env_jobs, "TIDE_JOBS") != TIDE_OK) return 0;
  if (a->jobs && set_jobs(T, a->jobs, "-j") != TIDE_OK) return 0;
  if (!a->has_E && run_init(T) != TIDE_OK) return 0;
  if (run_options(a) != TIDE_OK) return 0;
  if (a->script > 0 && run_script(a) != TIDE_OK) return 0;
  if (repl) {
    if (!a->has_E) run_rc(T);
    cli_repl(T);
  } else if (a->script == 0 && !a->has_e && !a->has_v) { /* piped stdin: a script */
    if (dofile(T, NULL) != TIDE_OK) return 0;
  }
  a->status = 0;
  return 0;
}

/* ---- under mpirun ----------------------------------------------------------
** This program does not link libmpi: a plain run starts as fast as lua.  Under
** mpirun with more than one rank it becomes tide-mpi, built beside it with
** Open MPI (runtime/mpi/main_mpi.c), whose main calls this file's main as
** tide_cli_main on rank 0. */
/* The program named name in this program's folder, into buf; 0 if unknown. */
static int sibling_exe(char *buf, size_t len, const char *name) {
  ssize_t n = readlink("/proc/self/exe", buf, len - 16);
  char *slash = n > 0 ? memchr(buf, '/', (size_t)n) : NULL;
  if (!slash) return 0;
  buf[n] = 0;
  strcpy(strrchr(buf, '/') + 1, name);
  return 1;
}

#ifdef TIDE_MPI_PROGRAM
void cli_mpi_state(tide_State *T);
int tide_cli_main(int argc, char **argv);
#define main tide_cli_main
static void cli_mpi_worker_exe(void) {
  char tide[PATH_MAX];
  if (sibling_exe(tide, sizeof tide, "tide")) tide_set_worker_exe(tide);
}
#else
static void cli_mpi_exec(char **argv) {
  const char *size = getenv("OMPI_COMM_WORLD_SIZE");
  if (!size || atoi(size) < 2) return;
  char mpi[PATH_MAX];
  if (sibling_exe(mpi, sizeof mpi, "tide-mpi")) execv(mpi, argv); /* returns only when there is none */
  fprintf(stderr, "%s: running under mpirun with %s ranks, but this tide was built without "
          "Open MPI (no tide-mpi beside it): install openmpi-bin and libopenmpi-dev and rebuild\n",
          argv[0], size);
  exit(1);
}
#endif

int main(int argc, char **argv) {
#ifndef TIDE_MPI_PROGRAM
  /* ---- spawn backend: this program is its worker (tide --worker FD PID),
  ** before the mpirun check: a worker spawned on a rank inherits its
  ** environment, and stays a plain worker ---- */
  if (argc > 1 && strcmp(argv[1], "--worker") == 0) return tide_worker_main(argc, argv);
  tide_set_worker_exe("/proc/self/exe"); /* loops with backend = "spawn" run this program */
  cli_mpi_exec(argv);
#else
  cli_mpi_worker_exe(); /* tide-mpi's spawn workers are the plain tide beside it */
#endif
  if (argc > 0 && argv[0] && argv[0][0]) cli_progname = argv[0];
  Args a;
  memset(&a, 0, sizeof a);
  a.argc = argc;
  a.argv = argv;
  int c = argc > 0 ? collect(&a) : 0;
  if (c != 0) return c > 0 ? 0 : 1;
  a.T = tide_open(NULL);
  if (!a.T) {
    cli_message("cannot create a Lua state (out of memory)");
    return 1;
  }
#ifdef TIDE_MPI_PROGRAM
  cli_mpi_state(a.T); /* tide.mpi */
#endif
  lua_State *L = tide_lua(a.T);
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &a);
  if (tide_pcall(a.T, 1, 0) != TIDE_OK) {
    cli_report(a.T, TIDE_ELUA);
    a.status = 1;
  }
  tide_close(a.T);
  return a.status;
}
