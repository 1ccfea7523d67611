/*
** bind.h -- internal helpers shared by the Lua bindings (runtime/bind).
**
** Bindings only check arguments, call the core and push results.  Each
** binding file exports one opener, tideB_open_<name>(L), called by
** luaopen_tide (l_tide.c) with the module table on top of the stack; it adds
** its functions to that table and its methods to the array metatable.
*/
#ifndef TIDE_BIND_H
#define TIDE_BIND_H

#include <lauxlib.h>
#include <lua.h>

#include "../core/core.h"

#define TIDE_ARRAY_MT "tide.array"

/* The array userdata: the core struct first, so that tide_check_array can
** hand it to C hosts, then a tag telling it from any other value without a
** metatable lookup (l_array.c, tag_array). */
typedef struct tideL_Array {
  tide_Array a;
  uintptr_t tag; /* the userdata's address ^ a secret of the process */
} tideL_Array;

/* Argument i as an open array, else raises "bad argument #i to 'f'
** (array expected, got X)".  A rowset is read as its i64 array
** (tideL_toarray). */
tide_Array *tideL_check(lua_State *L, int i);
/* Argument i as an array or NULL (no error); a rowset is not an array. */
tide_Array *tideL_test(lua_State *L, int i);
/* Argument i as an array to read: an open array (as tideL_check), or a
** rowset's rows as a new read-only i64 array that replaces the rowset at
** i (so it lives as long as the call); NULL for anything else. */
tide_Array *tideL_toarray(lua_State *L, int i);
/* In flags of the arrays tideL_toarray makes of rowsets (with
** TIDE_AF_READONLY): writes say "rowset is read-only".  Bits from 8 up
** are the bindings'. */
#define TIDEL_AF_ROWSET 0x100u
/* Pushes a new closed array userdata and returns its struct; fill it with a
** core constructor, then it owns the storage (liolib's newprefile order:
** the userdata exists before the resource, so an error leaks nothing). */
tide_Array *tideL_push(lua_State *L);
/* The collector's pacing tideL_push does before it makes an array (for
** code that makes the userdata itself). */
void tideL_pace(lua_State *L);
/* Raises a Lua error from a core code with the core's last message. */
int tideL_raise(lua_State *L, int code);
/* Environmental failure, luv-style: pushes nil, the core's message and the
** code's name ("EIO"); returns 3 for `return tideL_fail(L, rc);`. */
int tideL_fail(lua_State *L, int code);
/* Pushes the malloc'd string s (len bytes; (size_t)-1: up to its NUL) and
** frees it, also when the push raises a memory error. */
void tideL_pushowned(lua_State *L, char *s, size_t len);
/* Raises "bad argument #arg to 'fname' (<core message>)". */
int tideL_argraise(lua_State *L, int arg, int code);

/* Shape from numbers (first..) or one table at `first`; returns the index
** of the first argument after the shape.  Raises on bad shapes. */
int tideL_checkshape(lua_State *L, int first, int *ndim, int64_t *shape);
/* The dtype named s (tide_dtype_parse); else raises the parser's message,
** as "bad argument #arg" when arg > 0. */
int tideL_dtype(lua_State *L, const char *s, int arg);
/* dtype from a string argument (or dflt if none/nil); raises if unknown. */
int tideL_checkdtype(lua_State *L, int i, int dflt);
/* Reads the trailing "dtype string and/or options table" of constructors.
** Returns the dtype; *where is TIDE_WHERE_* from {shared = true/false}.
** The table may hold dtype, shared, worker_mode and the names in extra
** (NULL-terminated, or NULL); any other key is an error. */
int tideL_ctor_opts(lua_State *L, int i, int dflt_dtype, int *where);
int tideL_ctor_optsx(lua_State *L, int i, int dflt_dtype, int *where,
                     const char *const *extra);

/* Pushes element p of dtype dt as a Lua value (integer, float or boolean). */
void tideL_pushelem(lua_State *L, int dt, const void *p);
/* Stores Lua value at stack index i into element p; raises on non-numbers. */
void tideL_toelem(lua_State *L, int i, int dt, void *p);

/* Raises unless a is writable ("array is read-only ..."); else marks its
** storage written (tide_storage_touch), as the caller is about to write. */
void tideL_checkwritable(lua_State *L, tide_Array *a, const char *fname);

/* Adds functions to the array method table (used by __index). */
void tideL_addmethods(lua_State *L, const luaL_Reg *r);
/* Sets fields of the array metatable (metamethods such as __add). */
void tideL_addmeta(lua_State *L, const luaL_Reg *r);

/* Optional-field readers for options tables at index i (absent -> dflt). */
lua_Integer tideL_optint(lua_State *L, int i, const char *k, lua_Integer d);
lua_Number tideL_optnum(lua_State *L, int i, const char *k, lua_Number d);
int tideL_optbool(lua_State *L, int i, const char *k, int d);
const char *tideL_optstr(lua_State *L, int i, const char *k, const char *d);

/* Options tables (l_opts.c).  Raises unless every key of the table at
** index i is one of names (NULL-terminated): "unknown option 'job' for
** tide.collect (options: jobs, chunk, ...); did you mean 'jobs'?".  fname
** NULL: the running function's name in the tide table.  Does nothing when
** i holds no table. */
void tideL_checkopts(lua_State *L, int i, const char *fname, const char *const *names);
/* Pushes and returns the hint for an unknown key: "; did you mean 'jobs'?
** ..." (a close name, or tide's name for joblib's and scikit-learn's), or "". */
const char *tideL_opthint(lua_State *L, const char *key, const char *const *names);
/* Pushes tide._internal (made on first use), tide being at index t:
** helpers that the Lua-side modules use and users do not. */
void tideL_pushinternal(lua_State *L, int t);

/* A rowset (l_rowset.c): n rows as nspan ranges, pairs of (first row,
** 0-based; count), the layout tide_Rows reads. */
typedef struct tideL_RowSet {
  int64_t n, nspan;
  int64_t span[];
} tideL_RowSet;
/* Pushes an empty rowset with room for nspan ranges. */
tideL_RowSet *tideL_newrowset(lua_State *L, int64_t nspan);
/* Appends rows first..first+count-1 (0-based); merges touching ranges. */
void tideL_rowset_append(tideL_RowSet *s, int64_t first, int64_t count);
/* Writes s's rows, each plus base (1: row numbers; 0: offsets), to out. */
void tideL_rowset_expand(const tideL_RowSet *s, int64_t *out, int64_t base);
/* Argument i as a rowset or NULL. */
tideL_RowSet *tideL_testrowset(lua_State *L, int i);
/* Pushes a new array of dtype holding s's row numbers (1-based); where:
** TIDE_WHERE_*.  Raises when it cannot be made. */
tide_Array *tideL_rowset_push(lua_State *L, const tideL_RowSet *s, int dtype, int where);
/* The row at 0-based position k (k < s->n), 0-based. */
int64_t tideL_rowset_at(const tideL_RowSet *s, int64_t k);

/* Reductions (l_stats.c): arguments [dim] [, ddof] [, keepdims] [, opts]
** from `first` on; opts may hold keepdims, skipnan, ddof (var and std) and
** the names in extra.  dim is 0-based, -1 for the whole array. */
typedef struct tideL_RedArgs {
  int dim, ddof, opts; /* opts: the options table's index, or 0 */
  bool keepdims, skipnan;
} tideL_RedArgs;
void tideL_redargs(lua_State *L, int first, const tide_Array *a, const char *fname,
                   const char *const *extra, tideL_RedArgs *r);
/* Leaves the pushed result out as the call's value: a number for a full
** reduction, or with keepdims a's shape with dim (every dim for -1) 1. */
int tideL_pushreduced(lua_State *L, tide_Array *out, const tide_Array *a, int dim,
                      bool keepdims);
/* a:sum(...) and the other reductions of ops.h, plus prod (TIDE_NREDOPS). */
int tideL_reduce(lua_State *L, int op);
/* Argument i as an array to read, or a flat table of numbers (or
** booleans) made into a 1-D i64, f64 or bool array in its place. */
tide_Array *tideL_checklike(lua_State *L, int i);
/* Optional 1-based dimension at arg i (negative from the end); -1 if none. */
int tideL_optdim(lua_State *L, int i, const tide_Array *a);

/* Openers, one per binding file. */
void tideB_open_array(lua_State *L);  /* l_array.c: constructors, views */
void tideB_open_ops(lua_State *L);    /* l_ops.c: arithmetic, reductions, matmul */
void tideB_open_io(lua_State *L);     /* l_io.c: load, save, memmap, npz */
void tideB_open_csv(lua_State *L);    /* l_csv.c: read_csv */
void tideB_open_rng(lua_State *L);    /* l_rng.c: rng, rand, randn */
void tideB_open_models(lua_State *L); /* l_models.c: tide._internal.models, tide.metrics */
void tideB_open_par(lua_State *L);    /* l_par.c: map, collect, start, pfor */
void tideB_open_lua(lua_State *L);    /* modules.c: embedded lua/tide modules */
void tideB_open_host(lua_State *L);   /* state.c: tide._internal.log, host_progress */
/* Pushes the progress function of the host that opened L with on_progress
** (tide_Options), labelled `label`, and returns 1; returns 0, pushing
** nothing, when there is none (or in a worker process). */
int tideL_host_progress(lua_State *L, const char *label);
/* A forked worker drops its parent's idle interrupt hook (state.c). */
void tideL_worker_hooks(lua_State *L);
void tideB_open_codec(lua_State *L);  /* l_codec.c: encode, decode, register_class */
void tideB_open_monitor(lua_State *L); /* l_monitor.c: monitor, memory */
void tideB_open_rowset(lua_State *L); /* l_rowset.c: rowset, is_rowset */
void tideB_open_opts(lua_State *L);   /* l_opts.c: _internal.option_message, option_hint */
void tideB_open_dump(lua_State *L);   /* l_dump.c: dump, undump */
void tideB_open_hash(lua_State *L);   /* l_hash.c: hash */
void tideB_open_memo(lua_State *L);   /* l_memo.c: _internal.memo (memoize's C half) */
void tideB_open_stats(lua_State *L);  /* l_stats.c: prod, math, cumsum, histogram, cov (from ops) */
void tideB_open_shape(lua_State *L);  /* l_shape.c: concat, stack, split, masks (from array) */
void tideB_open_sort(lua_State *L);   /* l_sort.c: sort, argsort, unique, quantile (from ops) */
void tideB_open_random(lua_State *L); /* l_random.c: rng:choice, shuffle, integers (from rng) */
/* Mask indexing (l_shape.c): a[mask] and a[mask] = v for __index and
** __newindex, the array at 1 and the mask at 2. */
int tideL_mask_index(lua_State *L);
int tideL_mask_newindex(lua_State *L);
void tideB_open_linalg(lua_State *L); /* l_linalg.c: tide.linalg */
void tideB_open_fft(lua_State *L);    /* l_fft.c: tide.fft */
void tideB_open_convolve(lua_State *L); /* l_convolve.c: convolve, correlate */
void tideB_open_optimize(lua_State *L); /* l_optimize.c: tide.optimize */
void tideB_open_faults(lua_State *L); /* l_fault.c: _internal.faults (TIDE_FAULTS builds) */

#endif /* TIDE_BIND_H */
