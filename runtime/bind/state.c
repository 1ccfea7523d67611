/*
** state.c -- the embedding API of tide.h: tide_open ... tide_close.
** Every entry point runs Lua under lua_pcall (even the setup that only
** allocates), so no Lua error -- memory errors included -- longjmps into
** the host.
**
** A state opened here has its own allocator (memory_limit counts what the
** Lua state holds), a count hook during each call (time and instruction
** limits, and tide_interrupt when the host asks for it) and a registry entry pointing back at it, which
** the log and progress functions read to reach the host's callbacks.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "bind.h"
#include "pool.h"

/* Why the running call must stop (T->stop). */
enum { GO = 0, STOP_INTERRUPT, STOP_TIME, STOP_INSTR };

/* Count-hook steps: with a limit, every 1000 instructions; otherwise, when
** the host asked for it (interrupt_lua), every 10000, only to notice
** tide_interrupt.  The step hardly matters: while any count hook is set,
** Lua 5.4 checks it at every instruction (luaG_traceexec), which halves
** the speed of a tight loop -- hence no hook by default. */
#define STEP_LIMIT 1000
#define STEP_IDLE 10000

struct tide_State {
  lua_State *L;
  char *err;        /* last error with traceback (malloc'd), NULL when none */
  tide_Options opt; /* a copy: callbacks, limits */
  size_t used;      /* bytes held by the Lua state */
  int over;         /* an allocation was refused for memory_limit */
  /* the running call (the outermost one: nested calls share its limits) */
  int depth;
  int stop;
  double seconds, deadline;
  int64_t ilimit, icount;
  /* Lua's warn(): on/off and the pieces of a message being built */
  int warn_on;
  char warnbuf[1024];
};

/* The registry key of the tide_State that owns a lua_State. */
static const char HOSTKEY = 'T';

static tide_State *host_of(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &HOSTKEY);
  tide_State *T = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return T;
}

static void set_err(tide_State *T, const char *msg) {
  free(T->err);
  T->err = tide__strdup(msg ? msg : "(error object is not a string)");
}

/* Converts the value at index 1 with __tostring; run protected, because a
** __tostring that raises must not turn one error into a second one. */
static int p_tostring(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* The message handler, as lua.c's: a string error becomes "message +
** traceback"; an error object with __tostring becomes that string alone
** (an object that describes itself chose its message); nil, tables and
** userdata without one get a description of their type and a traceback. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushcfunction(L, p_tostring);
      lua_pushvalue(L, 1);
      if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
        return 1;
      else
        msg = lua_pushfstring(L, "(error object is a %s value whose __tostring failed)",
                              luaL_typename(L, 1));
    } else {
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Records the error on top of the stack (if status is not OK) and pops it.
** A memory error the budget caused says so: "not enough memory" alone
** would send the host looking for a leak. */
static int finish(tide_State *T, int status) {
  if (status == LUA_OK) return TIDE_OK;
  const char *msg = lua_tostring(T->L, -1);
  if (T->over && msg && strncmp(msg, "not enough memory", 17) == 0) {
    char buf[160];
    snprintf(buf, sizeof buf, "not enough memory (memory_limit of %zu bytes reached)",
             T->opt.memory_limit);
    set_err(T, buf);
  } else {
    set_err(T, msg);
  }
  lua_pop(T->L, 1);
  return TIDE_ELUA;
}

/* ---- the allocator, panic and warnings ------------------------------------ */

/* lauxlib's l_alloc plus a count: a request that would take the state past
** memory_limit gets NULL, which Lua answers with an emergency collection
** and, if that is not enough, the error "not enough memory".  Shrinking
** and freeing never fail. */
static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  tide_State *T = ud;
  if (ptr == NULL) osize = 0; /* osize then codes the object's type */
  if (nsize == 0) {
    free(ptr);
    T->used -= osize;
    return NULL;
  }
  if (nsize > osize && T->opt.memory_limit && T->used - osize + nsize > T->opt.memory_limit) {
    T->over = 1;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p) T->used = T->used - osize + nsize;
  return p;
}

/* Sends one message to the host's on_log, or to stderr. */
static void emit(tide_State *T, int level, const char *msg) {
  if (T && T->opt.on_log) {
    T->opt.on_log(T->opt.ud, level, msg);
  } else {
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
  }
}

/* As lauxlib's panic: an error outside any pcall (only a host's own
** unprotected lua_* calls can cause one) is reported before abort. */
static int l_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  char buf[512];
  snprintf(buf, sizeof buf, "PANIC: unprotected error in call to Lua API (%s)",
           msg ? msg : "error object is not a string");
  emit(host_of(L), TIDE_LOG_WARN, buf);
  return 0; /* Lua then aborts */
}

/* Lua's warn(): off until warn("@on"), as in the stock lua program; the
** pieces of one message are joined (truncated at the buffer) and sent as
** one line to on_log or stderr ("Lua warning: ..."). */
static void l_warn(void *ud, const char *msg, int tocont) {
  tide_State *T = ud;
  size_t have = strlen(T->warnbuf);
  if (have == 0 && !tocont && msg[0] == '@') { /* a control message */
    if (strcmp(msg, "@on") == 0) T->warn_on = 1;
    else if (strcmp(msg, "@off") == 0) T->warn_on = 0;
    return;
  }
  if (T->warn_on) snprintf(T->warnbuf + have, sizeof T->warnbuf - have, "%s", msg);
  if (tocont) return;
  if (T->warn_on) {
    if (T->opt.on_log) {
      emit(T, TIDE_LOG_WARN, T->warnbuf);
    } else {
      fprintf(stderr, "Lua warning: %s\n", T->warnbuf);
      fflush(stderr);
    }
  }
  T->warnbuf[0] = '\0';
}

/* ---- tide's messages and progress, for the modules ------------------------ */

/* tide._internal.log(msg [, "info"]): one message of tide's (a model that
** did not converge ...) to the host's on_log, else to stderr.  A final
** newline is dropped: the callback gets the text alone. */
static int l_log(lua_State *L) {
  size_t n;
  const char *msg = luaL_checklstring(L, 1, &n);
  int level = strcmp(luaL_optstring(L, 2, "warn"), "info") == 0 ? TIDE_LOG_INFO : TIDE_LOG_WARN;
  if (n > 0 && msg[n - 1] == '\n') msg = lua_pushlstring(L, msg, n - 1);
  emit(host_of(L), level, msg);
  return 0;
}

/* The progress function tideL_host_progress gives: called as a loop's
** progress option is, (done, total, elapsed, final). */
static int host_progress_fn(lua_State *L) {
  tide_State *T = lua_touserdata(L, lua_upvalueindex(1));
  int64_t done = (int64_t)luaL_checkinteger(L, 1);
  int64_t total = lua_isinteger(L, 2) ? (int64_t)lua_tointeger(L, 2) : -1;
  T->opt.on_progress(T->opt.ud, lua_tostring(L, lua_upvalueindex(2)), done, total);
  return 0;
}

int tideL_host_progress(lua_State *L, const char *label) {
  if (tide__config.in_worker) return 0; /* the host is the parent process */
  tide_State *T = host_of(L);
  if (!T || !T->opt.on_progress) return 0;
  lua_pushlightuserdata(L, T);
  lua_pushstring(L, label);
  lua_pushcclosure(L, host_progress_fn, 2);
  return 1;
}

/* tide._internal.host_progress(label) -> the host's progress function for
** a loop or a search, or nil when the host gave none. */
static int l_host_progress(lua_State *L) {
  if (!tideL_host_progress(L, luaL_checkstring(L, 1))) lua_pushnil(L);
  return 1;
}

void tideB_open_host(lua_State *L) {
  tideL_pushinternal(L, -1);
  lua_pushcfunction(L, l_log);
  lua_setfield(L, -2, "log");
  lua_pushcfunction(L, l_host_progress);
  lua_setfield(L, -2, "host_progress");
  lua_pop(L, 1);
}

/* ---- limits: the count hook of each call ---------------------------------- */

static void limit_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  tide_State *T = host_of(L);
  if (!T) return;
  if (tide__interrupted) T->stop = STOP_INTERRUPT;
  if (T->ilimit && (T->icount += lua_gethookcount(L)) >= T->ilimit) T->stop = STOP_INSTR;
  if (T->deadline > 0 && tide_now() >= T->deadline) T->stop = STOP_TIME;
  if (T->stop == GO) return;
  /* Stop stays until the call ends, and the hook now runs at every
  ** instruction: a script that catches the error gets it again at once.
  ** (At the same period it could land in the protected part each time,
  ** as `while true do pcall(f) end` does, and never get out.) */
  if (lua_gethookcount(L) != 1) lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
  switch (T->stop) {
    case STOP_INTERRUPT: luaL_error(L, "interrupted!"); break;
    case STOP_TIME: luaL_error(L, "time limit of %f s exceeded", T->seconds); break;
    case STOP_INSTR:
      luaL_error(L, "instruction limit of %I exceeded", (lua_Integer)T->ilimit);
      break;
  }
}

/* In a forked worker: the idle hook of interrupt_lua is dropped (the
** parent stops its workers by killing them; the hook would only halve the
** speed of their tasks).  A limit's hook stays: the call's deadline and
** instruction count go on in the worker's copy. */
void tideL_worker_hooks(lua_State *L) {
  tide_State *T = host_of(L);
  if (T && lua_gethook(L) == limit_hook && T->deadline == 0 && T->ilimit == 0)
    lua_sethook(L, NULL, 0, 0);
}

/* What a call found and puts back: the hook it replaced. */
typedef struct Call {
  int outer, installed;
  lua_Hook hook;
  int mask, count;
} Call;

/* Starts a call with these limits (seconds/instructions <= 0: none).  A
** nested call (a host C function that calls tide_pcall) runs under the
** outer call's limits.  A hook the host or a script set stays when there
** are no limits (tide_interrupt then reaches loops only). */
static void call_begin(tide_State *T, double seconds, int64_t instructions, Call *c) {
  lua_State *L = T->L;
  memset(c, 0, sizeof *c);
  c->outer = T->depth++ == 0;
  if (!c->outer) return;
  tide__interrupted = 0; /* an older interrupt was for code that ran before */
  T->stop = GO;
  T->over = 0;
  T->seconds = seconds > 0 ? seconds : 0;
  T->deadline = seconds > 0 ? tide_now() + seconds : 0;
  T->ilimit = instructions > 0 ? instructions : 0;
  T->icount = 0;
  c->hook = lua_gethook(L);
  c->mask = lua_gethookmask(L);
  c->count = lua_gethookcount(L);
  int limited = T->deadline > 0 || T->ilimit > 0;
  if (c->hook == limit_hook) { /* left over (a forked worker's inherited state) */
    lua_sethook(L, NULL, 0, 0);
    c->hook = NULL;
  }
  if (!limited && (c->hook || !T->opt.interrupt_lua)) return;
  int step = limited ? STEP_LIMIT : STEP_IDLE;
  if (T->ilimit && T->ilimit < step) step = (int)T->ilimit;
  lua_sethook(L, limit_hook, LUA_MASKCOUNT, step);
  c->installed = 1;
}

static void call_end(tide_State *T, Call *c) {
  T->depth--;
  if (!c->outer) return;
  if (c->installed && lua_gethook(T->L) == limit_hook)
    lua_sethook(T->L, c->hook, c->mask, c->count);
  T->stop = GO;
}

/* ---- opening ------------------------------------------------------------ */

static int p_open(lua_State *L) {
  int libs = lua_toboolean(L, 1);
  lua_pushvalue(L, 2); /* the registry's way back to T, under protection */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &HOSTKEY);
  if (libs) luaL_openlibs(L);
  luaL_requiref(L, "tide", luaopen_tide, 1);
  lua_pop(L, 1);
  return 0;
}

tide_State *tide_open(const tide_Options *opt) {
  tide_State *T = tide__calloc(1, sizeof *T);
  if (!T) return NULL;
  if (opt) T->opt = *opt;
  T->opt.temp_dir = NULL; /* read below, not kept */
  T->L = lua_newstate(l_alloc, T);
  if (!T->L) {
    free(T);
    return NULL;
  }
  lua_atpanic(T->L, l_panic);
  lua_setwarnf(T->L, l_warn, T);
  if (opt) { /* process-wide settings: the core has one configuration */
    if (opt->share_bytes) tide__config.share_bytes = opt->share_bytes;
    if (opt->jobs > 0) tide__config.jobs = opt->jobs;
    if (opt->temp_dir && strlen(opt->temp_dir) < sizeof tide__config.temp_dir)
      strcpy(tide__config.temp_dir, opt->temp_dir);
  }
  lua_pushcfunction(T->L, p_open);
  lua_pushboolean(T->L, opt == NULL || !opt->bare);
  lua_pushlightuserdata(T->L, T);
  if (finish(T, lua_pcall(T->L, 2, 0, 0)) != TIDE_OK) {
    tide_close(T);
    return NULL;
  }
  return T;
}

lua_State *tide_lua(tide_State *T) { return T ? T->L : NULL; }

const char *tide_errmsg(tide_State *T) { return T && T->err ? T->err : ""; }

size_t tide_memory_used(tide_State *T) { return T ? T->used : 0; }

/* ---- running code ------------------------------------------------------- */

int tide_pcall(tide_State *T, int nargs, int nresults) {
  if (!T || nargs < 0 || lua_gettop(T->L) < nargs + 1) {
    if (T) set_err(T, "tide_pcall: no function to call");
    return tide__seterr(TIDE_EINVAL, "tide_pcall: no function to call");
  }
  lua_State *L = T->L;
  if (!lua_checkstack(L, 2)) {
    set_err(T, "Lua stack overflow");
    return tide__seterr(TIDE_ENOMEM, "Lua stack overflow");
  }
  int base = lua_gettop(L) - nargs; /* the function's slot */
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  Call c;
  call_begin(T, T->opt.time_limit, T->opt.instruction_limit, &c);
  int st = lua_pcall(L, nargs, nresults, base);
  call_end(T, &c);
  lua_remove(L, base);
  return finish(T, st);
}

/* What p_run should do: a string chunk or a file (path, NULL for stdin). */
typedef struct RunArgs {
  const char *code;
  const char *path;
  int isfile;
  int argc;
  char **argv;
} RunArgs;

/* Runs under an outer lua_pcall, so that allocation failures while setting
** up (arg table, chunk name) are caught too; the chunk itself runs under
** an inner pcall with the message handler, which gives the traceback. */
static int p_run(lua_State *L) {
  RunArgs *r = lua_touserdata(L, 1);
  lua_settop(L, 0);
  int nargs = 0;
  if (r->isfile) {
    int argc = r->argc > 0 && r->argv ? r->argc : 0;
    luaL_checkstack(L, argc + 4, "too many script arguments");
    lua_createtable(L, argc > 0 ? argc - 1 : 0, 1);
    for (int i = 0; i < argc; i++) {
      lua_pushstring(L, r->argv[i]);
      lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    nargs = argc > 0 ? argc - 1 : 0;
  }
  lua_pushcfunction(L, msghandler);
  int st = r->isfile ? luaL_loadfilex(L, r->path, "t")
                     : luaL_loadbufferx(L, r->code, strlen(r->code), "=(dostring)", "t");
  if (st == LUA_OK) {
    for (int i = 1; i <= nargs; i++) lua_pushstring(L, r->argv[i]);
    st = lua_pcall(L, nargs, 0, 1);
  }
  if (st == LUA_OK) return 0;
  return lua_error(L); /* rethrow the message (with traceback) to the outer pcall */
}

static int run(tide_State *T, RunArgs *r, double seconds, int64_t instructions) {
  lua_State *L = T->L;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 2)) {
    set_err(T, "Lua stack overflow");
    return TIDE_ELUA;
  }
  lua_pushcfunction(L, p_run);
  lua_pushlightuserdata(L, r);
  Call c;
  call_begin(T, seconds, instructions, &c);
  int st = lua_pcall(L, 1, 0, 0);
  call_end(T, &c);
  int rc = finish(T, st);
  lua_settop(L, top);
  return rc;
}

int tide_dostring(tide_State *T, const char *code) {
  if (!T || !code) return tide__seterr(TIDE_EINVAL, "tide_dostring: NULL state or code");
  RunArgs r = {code, NULL, 0, 0, NULL};
  return run(T, &r, T->opt.time_limit, T->opt.instruction_limit);
}

int tide_dostring_limited(tide_State *T, const char *code, double seconds,
                          int64_t instructions) {
  if (!T || !code) return tide__seterr(TIDE_EINVAL, "tide_dostring_limited: NULL state or code");
  RunArgs r = {code, NULL, 0, 0, NULL};
  return run(T, &r, seconds, instructions);
}

int tide_dofile(tide_State *T, const char *path, int argc, char **argv) {
  if (!T) return tide__seterr(TIDE_EINVAL, "tide_dofile: NULL state");
  RunArgs r = {NULL, path, 1, argc, argv};
  return run(T, &r, T->opt.time_limit, T->opt.instruction_limit);
}

/* ---- lending host buffers ----------------------------------------------- */

typedef struct PushArgs {
  void *data;
  tide_dtype dt;
  int ndim;
  const int64_t *shape;
  void (*release)(void *);
  void *ud;
  int rc;
} PushArgs;

static int p_push(lua_State *L) {
  PushArgs *p = lua_touserdata(L, 1);
  lua_settop(L, 0);
  /* A host may lend a buffer to a stock Lua state before require "tide":
  ** the array metatable must exist, or the userdata would get none and
  ** release would never run. */
  if (luaL_getmetatable(L, TIDE_ARRAY_MT) != LUA_TTABLE) {
    luaL_requiref(L, "tide", luaopen_tide, 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  int64_t n;
  p->rc = tide_shape_size(p->ndim, p->shape, tide_dtype_size(p->dt), &n);
  if (p->rc) return 0;
  if (p->data == NULL && n > 0) {
    p->rc = tide__seterr(TIDE_EINVAL, "tide_push_array: NULL data for %lld elements",
                         (long long)n);
    return 0;
  }
  tide_Array *a = tideL_push(L); /* closed until the storage exists */
  tide_Storage *s;
  p->rc = tide_storage_borrow(p->data, (size_t)n * (size_t)tide_dtype_size(p->dt),
                              p->release, p->ud, &s);
  if (p->rc) return 0;
  p->rc = tide_array_wrap(a, s, 0, p->dt, p->ndim, p->shape, NULL);
  if (p->rc) s->release = NULL; /* on failure the host keeps its buffer */
  tide_storage_unref(s);        /* the array holds its own reference */
  return p->rc ? 0 : 1;
}

int tide_push_array(lua_State *L, void *data, tide_dtype dt, int ndim,
                    const int64_t *shape, void (*release)(void *), void *ud) {
  if (!L) return tide__seterr(TIDE_EINVAL, "tide_push_array: NULL lua_State");
  if ((int)dt < 0 || dt >= TIDE_NDTYPES)
    return tide__seterr(TIDE_EDTYPE, "tide_push_array: unknown dtype %d", (int)dt);
  if (ndim < 0 || ndim > TIDE_MAXDIM)
    return tide__seterr(TIDE_EINVAL, "tide_push_array: %d dimensions (0 to %d allowed)",
                        ndim, TIDE_MAXDIM);
  if (ndim > 0 && !shape)
    return tide__seterr(TIDE_EINVAL, "tide_push_array: NULL shape for %d dimensions", ndim);
  PushArgs p = {data, dt, ndim, shape, release, ud, TIDE_OK};
  if (!lua_checkstack(L, 3)) return tide__seterr(TIDE_ENOMEM, "Lua stack is full");
  int top = lua_gettop(L);
  lua_pushcfunction(L, p_push);
  lua_pushlightuserdata(L, &p);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_settop(L, top);
    /* Nothing was lent: a failure before the storage took the buffer. */
    return tide__seterr(TIDE_ENOMEM, "out of memory pushing an array");
  }
  if (p.rc) lua_settop(L, top);
  return p.rc;
}

tide_Array *tide_test_array(lua_State *L, int idx) {
  return L ? tideL_test(L, idx) : NULL;
}

tide_Array *tide_to_array(lua_State *L, int idx) {
  tide_Array *a = tide_test_array(L, idx);
  return a && a->storage ? a : NULL;
}

tide_Array *tide_check_array(lua_State *L, int idx) {
  tide_Array *a = tideL_test(L, idx);
  if (!a) luaL_typeerror(L, idx, "array");
  if (!a->storage) luaL_argerror(L, idx, "array is closed");
  return a;
}

void tide_close(tide_State *T) {
  if (!T) return;
  if (T->L) lua_close(T->L); /* runs __gc: lent buffers are released here */
  free(T->err);
  free(T);
}
