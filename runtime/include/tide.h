/*
** tide.h -- the public C interface of the tide runtime.
**
** This is the only header an embedder includes.  It declares the array type
** that C code and Lua scripts share, the error codes every core function
** returns, and the embedding entry points (tide_open ... tide_close).
**
** Conventions (libuv's): public symbols are tide_*, macros TIDE_*.  Functions
** that can fail return TIDE_OK (0) or a negative TIDE_E* code; the message of
** the last failure on the calling thread is tide_lasterror().
**
** Every function below is commented in one shape: what it does, then
**   Params:    each parameter (NULL where accepted says what it means);
**   Returns:   the value or the codes, and where the message goes;
**   Ownership: who frees what, and how long a returned pointer stays valid;
**   Threads:   which threads may call it.
** The library exports these functions and nothing else (TIDE_API; the
** build hides every other symbol).  Link with `pkg-config --cflags --libs
** tide` or CMake's `find_package(tide CONFIG)` and the target tide::tide.
*/
#ifndef TIDE_H
#define TIDE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIDE_VERSION "0.1.0"

/* Marks the exported functions: libtide is built with hidden visibility. */
#if defined(__GNUC__) || defined(__clang__)
#define TIDE_API __attribute__((visibility("default")))
#else
#define TIDE_API
#endif

/* lua.h declares the same typedef; a repeated typedef is valid C11. */
typedef struct lua_State lua_State;

/* ------------------------------------------------------------------------
** Errors.  One X-macro gives the codes, their names and their texts.
** --------------------------------------------------------------------- */
#define TIDE_ERRNO_MAP(XX)                                        \
  XX(ENOMEM, "out of memory")                                     \
  XX(EINVAL, "invalid argument")                                  \
  XX(ESHAPE, "shape mismatch")                                    \
  XX(EDTYPE, "unsupported dtype")                                 \
  XX(ERANGE, "index out of range")                                \
  XX(EREADONLY, "array is read-only")                             \
  XX(EIO, "input/output error")                                   \
  XX(ENOSPC, "no space left")                                     \
  XX(EFORMAT, "malformed file")                                   \
  XX(ELUA, "Lua error")                                           \
  XX(ECLOSED, "handle is closed")                                 \
  XX(ENOTSUP, "operation not supported")

enum {
  TIDE_OK = 0,
  TIDE_ERRBASE_ = -100,
#define XX(name, text) TIDE_##name,
  TIDE_ERRNO_MAP(XX)
#undef XX
  TIDE_ERRLAST_
};

/* The text of an error code.
**   Params:    code, a TIDE_E* value (any int is accepted).
**   Returns:   "shape mismatch" ...; never NULL.
**   Ownership: a static string.
**   Threads:   any. */
TIDE_API const char *tide_strerror(int code);

/* The name of an error code.
**   Params:    code, a TIDE_E* value (any int is accepted).
**   Returns:   "ESHAPE" ...; never NULL.
**   Ownership: a static string.
**   Threads:   any. */
TIDE_API const char *tide_errname(int code);

/* The full message of the last failure of a function that returns a
** TIDE_E* code ("shapes 3x4 and 5x2 do not align", "tide_push_array:
** unknown dtype 99").
**   Params:    none.
**   Returns:   the message; "" when there was none.
**   Ownership: thread-local storage of tide: valid until the next failing
**              call on this thread.
**   Threads:   any; each thread has its own. */
TIDE_API const char *tide_lasterror(void);

/* ------------------------------------------------------------------------
** Arrays.
** --------------------------------------------------------------------- */
typedef enum tide_dtype {
  TIDE_F64 = 0,
  TIDE_F32,
  TIDE_I64,
  TIDE_I32,
  TIDE_U8,
  TIDE_BOOL,
  /* added later: new dtypes go last, so the numbers in dumps, codec
  ** frames and digests keep their meaning */
  TIDE_I8,
  TIDE_I16,
  TIDE_U16,
  TIDE_U32,
  TIDE_U64,
  TIDE_NDTYPES
} tide_dtype;

#define TIDE_MAXDIM 32 /* numpy's own limit; .npy headers with more are refused */

/* Where an array's bytes live. */
typedef enum tide_storekind {
  TIDE_STORE_HEAP = 0, /* malloc: small arrays, private to the process */
  TIDE_STORE_SHARED,   /* anonymous shared memory (memfd or unlinked file) */
  TIDE_STORE_FILE,     /* a mapped user file (tide.load{mmap=...}, memmap) */
  TIDE_STORE_BORROWED  /* a host buffer lent with tide_push_array */
} tide_storekind;

typedef struct tide_Storage tide_Storage; /* opaque, reference counted */

/* An array is a strided view of a storage.  The fields are public and
** read-only for C code: use the core functions to change them.  Strides
** are in bytes (numpy's convention), so transposes and column views are
** views, not copies. */
typedef struct tide_Array {
  unsigned char *data;    /* address of element (0, 0, ...) */
  tide_Storage *storage;  /* NULL once the array is closed */
  int dtype;              /* a tide_dtype */
  int ndim;               /* 0 .. TIDE_MAXDIM */
  unsigned flags;         /* TIDE_AF_* */
  int64_t shape[TIDE_MAXDIM];
  int64_t strides[TIDE_MAXDIM];
} tide_Array;

#define TIDE_AF_READONLY 1u /* writes through this array raise */

/* ------------------------------------------------------------------------
** Embedding.  Every entry point runs Lua under lua_pcall: no Lua error
** ever longjmps into the host.  A tide_State belongs to the thread that
** opened it: its functions are called from that thread only (tide_interrupt
** excepted).  Parallel loops fork worker processes (the fork backend); a
** host with several threads should run tide in one of them and start no
** thread that holds locks a forked child would need, until the spawn
** backend (workers started with exec, no fork) is there.
** --------------------------------------------------------------------- */
typedef struct tide_State tide_State;

/* Levels of the messages tide_Options.on_log receives. */
#define TIDE_LOG_WARN 1 /* something the user should know: a model did not
                           converge, a result was not stored ... */
#define TIDE_LOG_INFO 2 /* a report asked for (memoize's verbose lines) */

/* Called from the host's thread (the one running the state) as a parallel
** loop or a search advances: at most every 0.1 s, and once at the end with
** done == total.  label names what runs ("tide.collect", "tide.map",
** "tide.search" ...); total is -1 when unknown (a loop over an iterator).
** It must not call back into the state. */
typedef void (*tide_ProgressFn)(void *ud, const char *label, int64_t done, int64_t total);

/* Receives tide's own messages (level TIDE_LOG_*, text without a final
** newline) instead of stderr, and the text of Lua's warn() once warnings
** are on (warn("@on")).  In a worker process of a parallel loop it runs in
** that worker (a forked copy of the host).  It must not call back into
** the state. */
typedef void (*tide_LogFn)(void *ud, int level, const char *msg);

/* Options of tide_open.  A zeroed struct gives the defaults: the state is
** what the stock lua program gives (standard libraries opened) plus tide,
** with no limits and no callbacks. */
typedef struct tide_Options {
  int jobs;              /* default worker count; 0 or less: number of CPUs */
  size_t share_bytes;    /* arrays at least this big go to shared memory;
                            0: the default (1 MiB) */
  const char *temp_dir;  /* folder for shared segments; NULL: memfd */
  int bare;              /* nonzero: no standard library (no print, io, os,
                            require ...): only the global tide */
  size_t memory_limit;   /* bytes the Lua state may hold (its objects, not
                            array contents); past it an allocation raises
                            "not enough memory" in the script (in each
                            worker process too: a copy of the state, with
                            the same limit).  0: none */
  double time_limit;     /* seconds each tide_dofile/tide_dostring/tide_pcall
                            may run; 0: none */
  int64_t instruction_limit; /* Lua VM instructions each such call may run
                            (counted in steps of 1000); 0: none */
  tide_ProgressFn on_progress; /* NULL: loops report only when asked to
                            (their own progress option) */
  tide_LogFn on_log;     /* NULL: tide's messages go to stderr */
  void *ud;              /* passed to on_progress and on_log */
  int interrupt_lua;     /* nonzero: tide_interrupt also stops pure Lua code
                            (a count hook every 10000 instructions, which
                            makes Lua 5.4 check at every instruction: tight
                            Lua loops run about 2x slower).  0: it stops
                            tide's loops and waits; Lua code stops at the
                            limits above or by a hook the host sets in the
                            state's thread (lua.c's SIGINT scheme, which
                            the tide program uses) */
} tide_Options;

/* CONSTRUCTOR.  A new Lua state with the tide module loaded (as the global
** `tide` and in package.loaded) and, unless opt->bare, the standard
** libraries.
**   Params:    opt, NULL for the defaults (as a zeroed struct).  jobs,
**              share_bytes and temp_dir are process-wide settings (the
**              runtime has one configuration, the one tide.config shows);
**              the rest belongs to this state.  opt is copied: it need not
**              outlive the call.
**   Returns:   the state; NULL when out of memory (or memory_limit is too
**              small for the state itself).
**   Ownership: the caller owns the state and gives it to tide_close
**              exactly once.
**   Threads:   any; the state then belongs to the calling thread. */
TIDE_API tide_State *tide_open(const tide_Options *opt);

/* The Lua state of T, for the host's own lua_* calls.  Host code that may
** raise (lua_gettable on a value with metamethods ...) should run inside
** lua_pcall or tide_pcall.
**   Params:    T, or NULL.
**   Returns:   the lua_State; NULL for NULL T.
**   Ownership: T's: valid until tide_close(T); never lua_close it.
**   Threads:   T's thread. */
TIDE_API lua_State *tide_lua(tide_State *T);

/* Runs a script file with `arg` set as the stock lua program sets it for a
** script (argv[0] at arg[0], argv[1..] at arg[1..] and passed as `...`).
** Text chunks only: a precompiled (binary) chunk is refused.  The
** options' time and instruction limits apply.  The Lua stack is left as
** it was.
**   Params:    T; path, NULL for standard input; argc/argv, may be 0/NULL.
**   Returns:   TIDE_OK; TIDE_ELUA with the message and traceback in
**              tide_errmsg(T) (a syntax error, a runtime error, a limit
**              reached, tide_interrupt); TIDE_EINVAL for NULL T.
**   Ownership: path and argv are read during the call only.
**   Threads:   T's thread. */
TIDE_API int tide_dofile(tide_State *T, const char *path, int argc, char **argv);

/* Runs a chunk of Lua source, chunk name "(dostring)".  Text only: a
** binary chunk ("\27Lua...") is refused.  The options' limits apply.
**   Params:    T; code, a NUL-terminated chunk.
**   Returns:   as tide_dofile; TIDE_EINVAL for NULL T or code.
**   Ownership: code is read during the call only.
**   Threads:   T's thread. */
TIDE_API int tide_dostring(tide_State *T, const char *code);

/* tide_dostring with limits of its own for this call, in place of the
** options': past `seconds` of wall-clock time the chunk raises "time
** limit of S s exceeded", past `instructions` Lua VM instructions
** "instruction limit of N exceeded".  Limits are checked every 1000
** instructions of Lua code: a C function that runs long (a model fit, a
** parallel loop's wait) ends before the check sees it.  A script that
** catches the error with pcall gets it again at once, so the call always
** ends.  Called while another call of T runs (from a C function that call
** reached), the outer call's limits stay in force instead.  The worker
** processes of a loop started during the call are forked copies: its
** limits hold in their tasks too (a job left running with tide.start
** keeps them after the call returns).
**   Params:    T; code; seconds, 0 or less for none; instructions, 0 or
**              less for none.
**   Returns:   as tide_dostring.
**   Ownership: code is read during the call only.
**   Threads:   T's thread. */
TIDE_API int tide_dostring_limited(tide_State *T, const char *code, double seconds,
                                   int64_t instructions);

/* lua_pcall with tide's message handler: calls the function below the
** top nargs values of tide_lua(T).  As lua.c's handler: an error object
** with __tostring gives that string alone (no traceback); others that are
** not strings are described ("(error object is a table value)"); a
** raising __tostring is caught.  The options' limits apply.
**   Params:    T; nargs arguments above the function; nresults, or
**              LUA_MULTRET.
**   Returns:   TIDE_OK with the results left as lua_pcall leaves them;
**              TIDE_ELUA with the function and arguments popped and the
**              message (plus traceback) in tide_errmsg(T); TIDE_EINVAL
**              when there is no function to call.
**   Ownership: the stack values are consumed as by lua_pcall.
**   Threads:   T's thread. */
TIDE_API int tide_pcall(tide_State *T, int nargs, int nresults);

/* The last error of T.
**   Params:    T, or NULL.
**   Returns:   message plus traceback; "" when none or for NULL T.
**   Ownership: T's: valid until the next failing call on T or
**              tide_close(T).
**   Threads:   T's thread. */
TIDE_API const char *tide_errmsg(tide_State *T);

/* Bytes the Lua state of T holds now (what memory_limit bounds).
**   Params:    T, or NULL.
**   Returns:   the count; 0 for NULL T.
**   Ownership: none.
**   Threads:   T's thread. */
TIDE_API size_t tide_memory_used(tide_State *T);

/* Pushes onto L an array that lends `data` with no copy (storage
** "borrowed"): C-ordered, writable from Lua, of any dtype tide has (every
** value below TIDE_NDTYPES).  L may be any state that can require "tide"
** (it is loaded if needed).
**   Params:    L; data, NULL only for an empty array; dt; ndim
**              (0..TIDE_MAXDIM) and shape (ndim entries, each >= 0, read
**              during the call only); release(ud), or NULL.
**   Returns:   TIDE_OK with the array on top of L's stack; TIDE_EDTYPE,
**              TIDE_EINVAL or TIDE_ENOMEM with the message in
**              tide_lasterror(): then nothing is pushed.
**   Ownership: the buffer stays the host's.  On TIDE_OK data must stay
**              valid until release(ud) runs, exactly once, when the last
**              Lua reference to the buffer (views included) is collected
**              or closed, or at lua_close / tide_close.  On failure release
**              is not called.
**   Threads:   L's thread. */
TIDE_API int tide_push_array(lua_State *L, void *data, tide_dtype dt, int ndim,
                             const int64_t *shape, void (*release)(void *), void *ud);

/* The open array at stack index idx, as lua_tonumber converts: never
** raises.
**   Params:    L, or NULL; idx, any index (beyond the top gives NULL).
**   Returns:   the array; NULL when the value is not an array or is a
**              closed one (numbers, tables, other userdata, NULL L).
**   Ownership: Lua's: valid while the value is reachable from Lua (on the
**              stack, say).  The fields are read-only for the host; after
**              writing the bytes at data call tide_array_touch.  Views
**              share bytes: a->data and a->strides say where each element
**              is (a column view is not contiguous).
**   Threads:   L's thread. */
TIDE_API tide_Array *tide_to_array(lua_State *L, int idx);

/* The array at stack index idx, open or closed, as luaL_testudata: never
** raises.
**   Params:    L, or NULL; idx.
**   Returns:   the array (a->storage is NULL when it was closed); NULL when
**              the value is not an array.
**   Ownership: as tide_to_array.
**   Threads:   L's thread. */
TIDE_API tide_Array *tide_test_array(lua_State *L, int idx);

/* Argument idx of a C function called from Lua, as an open array, as
** luaL_checkudata: raises the Lua error "bad argument #idx to 'f' (array
** expected, got number)", or "... (array is closed)", for anything else.
** Call it inside a function Lua calls (or under lua_pcall / tide_pcall).
**   Params:    L; idx.
**   Returns:   the array; does not return on error.
**   Ownership: as tide_to_array.
**   Threads:   L's thread. */
TIDE_API tide_Array *tide_check_array(lua_State *L, int idx);

/* Tells tide that C code wrote a's bytes through its data pointer: the
** content digests tide.memoize and tide.hash keep per array version are
** dropped.  Writes made through tide (Lua, core functions) do this
** themselves, and buffers lent with tide_push_array are never cached, so
** only writes into other arrays need it.
**   Params:    a, or NULL (a no-op, as is a closed array).
**   Returns:   nothing.
**   Ownership: none.
**   Threads:   the thread of the state that holds a. */
TIDE_API void tide_array_touch(tide_Array *a);

/* Stops what runs: running parallel loops kill and reap their workers and
** raise "interrupted!", as does a wait for a job's results;
** Lua code in tide_dofile, tide_dostring or tide_pcall raises it at its next
** check (every 1000 to 10000 instructions) when the state has a time or
** instruction limit or was opened with interrupt_lua.  An interrupt that comes while nothing runs is
** forgotten when the next call starts.
**   Params:    none.
**   Returns:   nothing.
**   Ownership: none.
**   Threads:   any thread, and async-signal-safe: call it from a SIGINT
**              handler (the tide program does) or a watchdog thread.  It
**              is process-wide: every state's running call stops. */
TIDE_API void tide_interrupt(void);

/* DESTRUCTOR.  Closes the Lua state (collecting every object, so lent
** buffers are released here at the latest) and frees T.
**   Params:    T, or NULL (a no-op).
**   Returns:   nothing.
**   Ownership: T must not be used, nor closed, again.
**   Threads:   T's thread. */
TIDE_API void tide_close(tide_State *T);

/* The Lua module opener: require "tide" in a stock interpreter calls it;
** a host with its own lua_State may call it with luaL_requiref.
**   Params:    L.
**   Returns:   1, the module table on the stack; raises on memory errors.
**   Ownership: Lua's.
**   Threads:   L's thread. */
TIDE_API int luaopen_tide(lua_State *L);

/* Names the tide program that the spawn backend's workers run (backend =
** "spawn": `PROGRAM --worker FD PID`).  The tide program names itself
** ("/proc/self/exe"); a host linking libtide calls this with the path of a
** tide program of the same build (bytecode travels between them), or sets
** $TIDE_WORKER_EXE, which wins; with neither, the installed tide is run.
**   Params:    path, or NULL (forget it).
**   Returns:   nothing; a path that cannot run fails the loop that spawns.
**   Ownership: the string is copied.
**   Threads:   any. */
TIDE_API void tide_set_worker_exe(const char *path);

/* The body of a spawned worker: a program that may serve as one calls it
** when its first argument is --worker (the tide program does).
**   Params:    main's argc and argv.
**   Returns:   does not return: the worker exits with 0 or a worker exit
**              status (121 read, 122 protocol, 123 send).
**   Ownership: none.
**   Threads:   the program's main thread, before it starts others. */
TIDE_API int tide_worker_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_H */
