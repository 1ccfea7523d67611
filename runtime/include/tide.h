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
  int jobs;              /* default worker count; 0: number of CPUs */
  size_t share_bytes;    /* arrays at least this big go to shared memory;
                            0: the default (1 MiB) */
  const char *temp_dir;  /* folder for shared segments; NULL: memfd */
  int open_libs;         /* nonzero: also open Lua's standard libraries
                            (the default state from tide_open(NULL) has them) */
} tide_Options;

/* CONSTRUCTOR.  A new Lua state with the standard libraries and the tide
** module loaded (as the global `tide` and in package.loaded).  NULL opt
** means defaults.  Returns NULL when out of memory. */
tide_State *tide_open(const tide_Options *opt);

/* The Lua state of T, for the host's own lua_* calls. */
lua_State *tide_lua(tide_State *T);

/* Runs a script file with `arg` set as the stock lua program sets it
** (argv[0] is the script name, argv[1..] its arguments).  Returns TIDE_OK,
** or TIDE_ELUA with the message and traceback in tide_errmsg(T). */
int tide_dofile(tide_State *T, const char *path, int argc, char **argv);

/* Runs a chunk of Lua source (text only: binary chunks are refused). */
int tide_dostring(tide_State *T, const char *code);

/* The last error of T (message plus traceback); "" when none. */
const char *tide_errmsg(tide_State *T);

/* Pushes onto L an array that lends `data` with no copy.  `release(ud)` is
** called once when the last Lua reference (view included) is collected or
** closed; it may be NULL.  shape has ndim entries; the data are C-ordered.
** Returns TIDE_OK or a negative code (nothing is pushed then). */
int tide_push_array(lua_State *L, void *data, tide_dtype dt, int ndim,
                    const int64_t *shape, void (*release)(void *), void *ud);

/* The array at stack index idx, or NULL when it is not an open array.
** Never raises.  The pointer stays valid while the value is on the stack. */
tide_Array *tide_check_array(lua_State *L, int idx);

/* Asks running parallel loops to cancel: their workers are killed and
** reaped and the loop raises "interrupted!".  Async-signal-safe: call it
** from the host's SIGINT handler (the tide program does). */
void tide_interrupt(void);

/* DESTRUCTOR.  Closes the Lua state and frees T.  NULL is a no-op. */
void tide_close(tide_State *T);

/* The Lua module opener: require "tide" in a stock interpreter calls it. */
int luaopen_tide(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_H */
