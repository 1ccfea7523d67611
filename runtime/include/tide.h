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
*/
#ifndef TIDE_H
#define TIDE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIDE_VERSION "0.1.0"

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

/* The text of an error code ("shape mismatch"); never NULL. */
const char *tide_strerror(int code);
/* The name of an error code ("ESHAPE"); never NULL. */
const char *tide_errname(int code);
/* The full message of the last core failure on this thread ("shapes 3x4
** and 5x2 do not align"); "" when there was none.  Valid until the next
** failing call on this thread. */
const char *tide_lasterror(void);

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
** opened it.
** --------------------------------------------------------------------- */
typedef struct tide_State tide_State;

typedef struct tide_Options {
  int jobs;              /* default worker count; 0 or less: number of CPUs */
  size_t share_bytes;    /* arrays at least this big go to shared memory;
                            0: the default (1 MiB) */
  const char *temp_dir;  /* folder for shared segments; NULL: memfd */
  int open_libs;         /* nonzero: also open Lua's standard libraries.
                            Zero gives a state with only the tide module
                            (no io, os, require ...).  tide_open(NULL) opens
                            them. */
} tide_Options;

/* CONSTRUCTOR.  A new Lua state with the tide module loaded (as the global
** `tide` and in package.loaded) and, unless opt->open_libs is 0, the
** standard libraries.  NULL opt means defaults.  jobs, share_bytes and
** temp_dir are process-wide settings (the runtime has one configuration),
** the same that tide.config shows.  Returns NULL when out of memory.
** The caller owns T and must give it to tide_close exactly once. */
tide_State *tide_open(const tide_Options *opt);

/* The Lua state of T, for the host's own lua_* calls; NULL for NULL T.
** It lives until tide_close(T).  Host code that may raise (lua_gettable
** on a value with metamethods, ...) should run inside lua_pcall or
** tide_pcall. */
lua_State *tide_lua(tide_State *T);

/* Runs a script file with `arg` set as the stock lua program sets it for a
** script (argv[0] is the script name at arg[0], argv[1..] its arguments at
** arg[1..] and passed as `...`).  path NULL reads standard input.  Text
** chunks only: a precompiled (binary) chunk is refused.  Returns TIDE_OK,
** or TIDE_ELUA with the message and traceback in tide_errmsg(T);
** TIDE_EINVAL for NULL T.  The Lua stack is left as it was. */
int tide_dofile(tide_State *T, const char *path, int argc, char **argv);

/* Runs a chunk of Lua source, chunk name "(dostring)".  Text only: a
** binary chunk ("\27Lua...") is refused with TIDE_ELUA.  Returns as
** tide_dofile; TIDE_EINVAL for NULL T or code. */
int tide_dostring(tide_State *T, const char *code);

/* lua_pcall with tide's message handler: calls the function below the
** top nargs values of tide_lua(T).  On TIDE_OK the nresults results are
** left as lua_pcall leaves them.  On failure returns TIDE_ELUA, pops the
** function and its arguments and leaves the message (plus traceback) in
** tide_errmsg(T).  As lua.c's handler: an error object with __tostring
** gives that string alone (no traceback); others that are not strings are
** described ("(error object is a table value)"); a raising __tostring is
** caught. */
int tide_pcall(tide_State *T, int nargs, int nresults);

/* The last error of T (message plus traceback); "" when none or for NULL
** T.  The string belongs to T: valid until the next failing call on T or
** tide_close(T). */
const char *tide_errmsg(tide_State *T);

/* Pushes onto L an array that lends `data` with no copy (storage
** "borrowed").  `release(ud)` is called exactly once, when the last Lua
** reference to the buffer (views included) is collected or closed, or at
** lua_close / tide_close; release may be NULL.  shape has ndim entries
** (0..TIDE_MAXDIM); the data are C-ordered, writable, and must stay valid
** until release runs.  data may be NULL only for an empty array.  L may
** be any state that can require "tide" (it is loaded if needed).
** Returns TIDE_OK, or a negative code (TIDE_EDTYPE, TIDE_EINVAL,
** TIDE_ENOMEM) with the message in tide_lasterror(): then nothing is
** pushed, release is NOT called and the buffer stays the host's. */
int tide_push_array(lua_State *L, void *data, tide_dtype dt, int ndim,
                    const int64_t *shape, void (*release)(void *), void *ud);

/* The array at stack index idx, or NULL when the value is not an array or
** is a closed one (numbers, tables, other userdata, NULL L).  Never raises.
** The pointer stays valid while the value is reachable from Lua (on the
** stack, say). */
tide_Array *tide_check_array(lua_State *L, int idx);

/* Tells tide that C code wrote a's bytes through its data pointer: the
** content digests tide.memoize and tide.hash keep per array version are
** dropped.  Writes made through tide (Lua, core functions) do this
** themselves, and buffers lent with tide_push_array are never cached, so
** only writes into other arrays need it.  NULL or closed a: no-op. */
void tide_array_touch(tide_Array *a);

/* Asks running parallel loops to cancel: their workers are killed and
** reaped and the loop raises "interrupted!".  Async-signal-safe: call it
** from the host's SIGINT handler (the tide program does). */
void tide_interrupt(void);

/* DESTRUCTOR.  Closes the Lua state (collecting every object, so lent
** buffers are released here at the latest) and frees T: T must not be
** used, nor closed, again.  NULL is a no-op. */
void tide_close(tide_State *T);

/* The Lua module opener: require "tide" in a stock interpreter calls it. */
int luaopen_tide(lua_State *L);

/* ---- the spawn backend's workers (backend = "spawn") ----
** Its workers are the tide program run as `tide --worker FD PID`.  The tide
** program names itself with tide_set_worker_exe("/proc/self/exe"); an
** embedding host that links libtide sets TIDE_WORKER_EXE (or calls this
** with the path of a tide program of the same build), else the installed
** tide is used.  tide_worker_main is that program's body for --worker:
** it returns the worker's exit status. */
void tide_set_worker_exe(const char *path);
int tide_worker_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_H */
