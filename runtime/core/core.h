/*
** core.h -- internal interface of tide's pure-C core (never includes lua.h).
**
** Modules and prefixes:
**   error.c    tide__seterr, tide_lasterror           errors
**   storage.c  tide_storage_*                          heap / shared / file bytes
**   memlimit.c tide_memory_available, tide__admit_*    what the machine can still give
**   array.c    tide_array_*                            arrays, views, copies
**   rng.c      tide_rng_*                              counter-based random streams
**   ops.c, reduce.c, linalg.c, format.c              arithmetic, reductions, BLAS, printing
**   shape.c select.c (shape.h), sort.c psort.c (sort.h), stats.c elem.c
**   (stats.h), draw.c (draw.h)      joins, masks, sorting, statistics, math, draws
**   npy.c, npz.c, csv.c                              files
**
** Every function that can fail returns TIDE_OK or a negative TIDE_E* code
** and leaves a message for tide_lasterror().  Indices in the core are
** 0-based; the Lua bindings translate from Lua's 1-based convention.
*/
#ifndef TIDE_CORE_H
#define TIDE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tide.h"
#include "fault.h" /* tide__malloc, tide__mmap, ...: the acquisitions faults can fail */

#if defined(__GNUC__)
#define TIDE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TIDE_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------- error.c */

/* Records a message for tide_lasterror() and returns code, so that
** `return tide__seterr(TIDE_EINVAL, "bad shape %d", n);` reads naturally. */
int tide__seterr(int code, const char *fmt, ...) TIDE_PRINTF(2, 3);
/* Same, appending ": strerror(errnum)". */
int tide__syserr(int code, int errnum, const char *fmt, ...) TIDE_PRINTF(3, 4);
/* Maps an errno value to the nearest TIDE_E* code. */
/* Monotonic seconds (pool.c). */
double tide_now(void);
int tide__errno_code(int errnum);

/* ---------------------------------------------------------------- config */

/* Process-wide settings, mirrored by tide.config in Lua. */
typedef struct tide_Config {
  size_t share_bytes;          /* default 1 MiB (joblib's max_nbytes) */
  char temp_dir[1024];         /* "" : memfd_create; else unlinked files here */
  int jobs;                    /* default worker count; 0 = CPUs */
  int blas_threads_per_worker; /* 0 = CPUs / jobs, at least 1 */
  int in_worker;               /* set in forked workers */
  unsigned gen;                /* 0 in the top process, +1 per level of workers */
} tide_Config;

extern tide_Config tide__config;

int tide_ncpus(void);

/* ---------------------------------------------------------------- dtypes */

typedef struct tide_DtypeInfo {
  const char *name;  /* "f64" */
  const char *numpy; /* "float64" */
  char kind;         /* 'f', 'i', 'u', 'b' */
  int size;          /* bytes */
  const char *code;  /* numpy's typestring without the byte order: "f8" */
} tide_DtypeInfo;

extern const tide_DtypeInfo tide_dtypes[TIDE_NDTYPES];

#define tide_dtype_size(dt) (tide_dtypes[(dt)].size)
#define tide_dtype_isfloat(dt) ((dt) == TIDE_F64 || (dt) == TIDE_F32)
#define tide_dtype_isunsigned(dt) (tide_dtypes[(dt)].kind == 'u')
#define tide_dtype_isint(dt) (tide_dtypes[(dt)].kind == 'i' || tide_dtypes[(dt)].kind == 'u')
/* The dtype of kind 'i', 'u' or 'f' and size bytes; -1 when tide has none. */
int tide_dtype_find(char kind, int size);
/* The range of an integer dtype (bool: 0..1); u64's top is INT64_MAX here,
** the most a Lua integer can say. */
void tide_dtype_range(int dt, int64_t *lo, int64_t *hi);
/* "f64 f32 i64 ... u64": every dtype's name, for messages. */
extern const char tide_dtype_list[];

/* Parses tide's names ("f64", "i8" is tide's int8) and numpy's for the same
** dtypes, with numpy's meaning ("float" and "double" are f64, "int" and
** "long" i64, "short" i16, "<i8" i64, "|i1" i8, "?"); -1 with a message
** naming what was wrong for anything else ("dtype 'half' is numpy's
** float16, which tide does not have ..."). */
int tide_dtype_parse(const char *s);

/* Loads one element as double / int64, and stores one, converting.  A u64
** above INT64_MAX loads as a negative int64 (the same bits): callers that
** care about the value use tide_load_f64 or test the dtype. */
#define TIDE_LOAD_CASES(CAST)                                             \
    case TIDE_I64: return (CAST)*(const int64_t *)p;                    \
    case TIDE_I32: return *(const int32_t *)p;                          \
    case TIDE_U8: return *(const uint8_t *)p;                           \
    case TIDE_I8: return *(const int8_t *)p;                            \
    case TIDE_I16: return *(const int16_t *)p;                          \
    case TIDE_U16: return *(const uint16_t *)p;                         \
    case TIDE_U32: return *(const uint32_t *)p;                         \
    case TIDE_U64: return (CAST)*(const uint64_t *)p;                   \
    default: return *(const uint8_t *)p != 0;
static inline double tide_load_f64(int dt, const void *p) {
  switch (dt) {
    case TIDE_F64: return *(const double *)p;
    case TIDE_F32: return *(const float *)p;
    TIDE_LOAD_CASES(double)
  }
}
static inline int64_t tide_load_i64(int dt, const void *p) {
  switch (dt) {
    case TIDE_F64: return (int64_t)*(const double *)p;
    case TIDE_F32: return (int64_t)*(const float *)p;
    TIDE_LOAD_CASES(int64_t)
  }
}
/* float -> int truncates toward 0, clamped to the dtype's range (NaN: 0);
** int -> narrower int wraps (two's complement), as numpy's astype. */
void tide_store_f64(int dt, void *p, double v);
void tide_store_i64(int dt, void *p, int64_t v);

/* -------------------------------------------------------------- storage.c */

struct tide_Storage {
  unsigned char *base; /* start of the bytes (mapping or malloc block) */
  size_t nbytes;       /* usable bytes */
  size_t maplen;       /* length of the mapping (0 for heap) */
  int kind;            /* tide_storekind */
  int fd;              /* shared/file: the descriptor kept for hand-over; else -1 */
  int refs;            /* arrays and views holding this storage */
  unsigned flags;      /* TIDE_SF_* */
  uint64_t version;    /* a write clock reading: changes with every write made
                          through tide (tide_storage_touch); digests are
                          cached per version (hash.c) */
  struct tide__DigestMemo *memo; /* digests of views of it (hash.c); NULL */
  void (*release)(void *ud); /* borrowed: called when refs reaches 0 */
  void *ud;
  char *path;          /* file storage: the file's path (malloc'd) */
  unsigned gen;        /* tide__config.gen of the process that made it */
  int wmode;           /* in workers: TIDE_WMODE_* */
  tide_Storage *lnext, *lprev; /* every live storage (see tide__storage_after_fork) */
  unsigned long epoch; /* tide__fork_epoch when made: a later fork may share it */
  /* Leases (l_par.c): a result segment a worker lent the parent.  At the
  ** last unref, after unmapping, on_free(free_ud, free_tag, clean); clean
  ** when no other process can map it through us (never sent on, no fork
  ** since), so the lender may write it again. */
  void (*on_free)(void *ud, uint32_t tag, int clean);
  void *free_ud;
  uint32_t free_tag;
};

/* The write clock: every storage gets a fresh reading when it is made and
** whenever tide writes to it, so (storage, version) never names two
** contents, even when a freed storage's address is reused. */
extern uint64_t tide__write_clock;
/* Marks s as written (NULL is a no-op).  Every writing operation calls it:
** in-place arithmetic, fills, assignments, element stores, random fills.
** Code that writes through an array's data pointer itself must too. */
static inline void tide_storage_touch(tide_Storage *s) {
  if (s) s->version = ++tide__write_clock;
}

/* Bytes of storage made since the bindings last told Lua's collector
** (tideL_push does: array bytes live outside Lua's heap, so without this
** a loop making big temporaries would pile them up). */
extern size_t tide__unreported_bytes;
/* Bytes of storage made by this process, ever (never reset). */
extern size_t tide__made_bytes;

/* Counts forks of this process (pool.c and the monitor bump it before
** fork): a segment made after the last fork is mapped by no other process. */
extern unsigned long tide__fork_epoch;

/* What an inherited storage becomes in a forked worker. */
enum {
  TIDE_WMODE_RO = 0, /* read-only (joblib's mmap_mode "r"): writes raise */
  TIDE_WMODE_RW,     /* shared read-write: the parent sees the writes */
  TIDE_WMODE_COW     /* a private copy-on-write view per worker */
};

#define TIDE_SF_READONLY 1u  /* mapped PROT_READ */
#define TIDE_SF_PRIVATE 2u   /* MAP_PRIVATE copy-on-write view of a file */
#define TIDE_SF_INHERITED 4u /* read-only because a worker inherited it */
#define TIDE_SF_EXPORTED 8u  /* its descriptor went to another process */
#define TIDE_SF_SENT 16u     /* this process sent its descriptor (codec) */
#define TIDE_SF_NOLEASE 32u  /* sent at least once without a lease */

/* Where tide_storage_new puts the bytes (low bits), or'ed with what the
** storage becomes in workers (TIDE_WHERE_WORKER_*; default read-only). */
enum { TIDE_WHERE_AUTO = 0, TIDE_WHERE_HEAP, TIDE_WHERE_SHARED };
#define TIDE_WHERE_MASK 0x0f
#define TIDE_WHERE_WORKER_RW 0x10
#define TIDE_WHERE_WORKER_COW 0x20
/* The caller writes every byte at once: a kept segment it reuses need not
** be zeroed first (fresh ones are zero anyway).  Fills, copies, results of
** elementwise operations. */
#define TIDE_WHERE_UNINIT 0x40

/* New zero-filled storage of nbytes (0 allowed).  AUTO picks shared memory
** at or above tide__config.share_bytes.  Shared segments are reserved with
** posix_fallocate, so a full tmpfs is TIDE_ENOSPC here, never SIGBUS later.
** No name of a segment outlives this call. */
int tide_storage_new(size_t nbytes, int where, tide_Storage **out);
/* Maps an existing file region.  mode: 'r' read-only, 'w' shared read-write
** ("r+"), 'c' private copy-on-write.  offset must be what the file holds
** before the data; nbytes is checked against the file's size. */
int tide_storage_map_file(const char *path, char mode, size_t offset,
                          size_t nbytes, tide_Storage **out);
/* Maps nbytes at byte offset `offset` of the open regular file fd (any
** offset: the mapping starts at the page below it), after checking the
** file holds them.  mode as above.  fd stays the caller's; path is kept
** for messages and for the change checks of cached digests. */
int tide_storage_map_fd(int fd, const char *path, char mode, uint64_t offset,
                        size_t nbytes, tide_Storage **out);
/* Wraps a host buffer without copying; release(ud) runs at the last unref. */
int tide_storage_borrow(void *data, size_t nbytes, void (*release)(void *),
                        void *ud, tide_Storage **out);
/* Adopts a shared-memory fd handed over by another process (its size is
** nbytes); maps it read-write.  On success the storage owns fd. */
int tide_storage_adopt_fd(int fd, size_t nbytes, tide_Storage **out);
void tide_storage_ref(tide_Storage *s);
void tide_storage_unref(tide_Storage *s);  /* NULL is a no-op */
/* In a freshly forked worker: every inherited storage becomes read-only
** (shared ones mprotect'ed), copy-on-write (remapped MAP_PRIVATE) or stays
** shared read-write, as its wmode says.  Called by pool.c only. */
void tide__storage_after_fork(void);
/* The live storage mapping the same file as fd, or NULL. */
tide_Storage *tide__storage_of_fd(int fd);
/* Frees the shared segments kept for reuse (see storage.c); returns the
** bytes released. */
size_t tide_storage_trim(void);
/* msync for file storage (heap/shared: TIDE_OK). */
int tide_storage_flush(tide_Storage *s);
/* Human-readable size, "2.0 GB", into buf. */
const char *tide_fmt_bytes(double nbytes, char *buf, size_t len);

/* ------------------------------------------------------------- memlimit.c */

/* Bytes this process can still allocate: the smallest of MemAvailable +
** SwapFree and, for its memory cgroup and each parent, limit - usage
** (inactive page cache left out).  UINT64_MAX when nothing tells. */
uint64_t tide_memory_available(void);
/* Requests under this size are admitted unchecked (reading the figures
** costs some tens of microseconds). */
#define TIDE_ADMIT_MIN ((uint64_t)1 << 20)
/* TIDE_OK when nbytes fit in tide_memory_available() (or are under
** TIDE_ADMIT_MIN); else TIDE_ENOMEM, "cannot allocate 8.0 GB for <what>:
** 1.9 GB available". */
int tide__admit_memory(uint64_t nbytes, const char *what);
/* Free bytes of the filesystem holding fd for an unprivileged writer
** (UINT64_MAX when it has no size, as memfd's), and whether its pages are
** memory (tmpfs, ramfs). */
int tide__fs_room(int fd, uint64_t *room, int *in_memory);
/* Tests: read /proc and /sys under root instead of / (NULL or "": /), and
** find the cgroups again. */
void tide__memlimit_root(const char *root);

/* ---------------------------------------------------------------- array.c */

/* Element count of a shape; TIDE_EINVAL if a dimension is negative or the
** product (times itemsize) overflows. */
int tide_shape_size(int ndim, const int64_t *shape, int itemsize,
                    int64_t *count);

/* New C-ordered zero-filled array.  *a must not hold a storage (its old
** contents are overwritten).  where: TIDE_WHERE_*. */
int tide_array_new(tide_Array *a, int dtype, int ndim, const int64_t *shape,
                   int where);
/* Array over an existing storage (takes a new reference) at byte offset. */
int tide_array_wrap(tide_Array *a, tide_Storage *s, size_t offset, int dtype,
                    int ndim, const int64_t *shape, const int64_t *strides);
/* Drops the storage reference; the array becomes closed.  Idempotent. */
void tide_array_close(tide_Array *a);
/* dst becomes another view of src (one more reference). */
void tide_array_view(tide_Array *dst, const tide_Array *src);

int64_t tide_array_size(const tide_Array *a);   /* element count */
bool tide_array_is_c_contiguous(const tide_Array *a);
bool tide_array_is_f_contiguous(const tide_Array *a);
/* Address of the element at a 0-based index vector (no bounds check). */
static inline unsigned char *tide_array_at(const tide_Array *a,
                                           const int64_t *idx) {
  unsigned char *p = a->data;
  for (int d = 0; d < a->ndim; d++) p += idx[d] * a->strides[d];
  return p;
}

/* In-place view edits (apply them to a fresh tide_array_view). 0-based,
** `to` exclusive. */
int tide_array_slice(tide_Array *a, int dim, int64_t from, int64_t to,
                     int64_t step);
int tide_array_select(tide_Array *a, int dim, int64_t i); /* drops dim */
int tide_array_transpose(tide_Array *a);                  /* reverses dims */
/* Reshape as a view when the layout allows it (C-contiguous, or strides
** that numpy's reshape would find); else TIDE_ESHAPE with a message.  One
** entry of shape may be -1 (inferred). */
int tide_array_reshape_view(tide_Array *a, int ndim, const int64_t *shape);

/* dst = new C-ordered copy of src converted to dtype (-1: same dtype). */
int tide_array_copy(const tide_Array *src, int dtype, tide_Array *dst);
/* Copies values between same-shape arrays of any dtypes/strides. */
int tide_array_assign(tide_Array *dst, const tide_Array *src);
/* dst = src gathered along dim by 0-based indices idx[0..n). */
int tide_array_take(const tide_Array *src, const int64_t *idx, int64_t n,
                    int dim, tide_Array *dst);
/* dst[idx[i]] along dim = src[i] for 0-based idx[0..n) (src: dst's shape
** with n along dim); the inverse of take. */
int tide_array_put(tide_Array *dst, const int64_t *idx, int64_t n, int dim,
                   const tide_Array *src);
/* Fills every element with v. */
int tide_array_fill(tide_Array *a, double v);

/* "3x4" into buf. */
const char *tide_shape_str(int ndim, const int64_t *shape, char *buf,
                           size_t len);

/* N-d strided iteration over up to 4 same-shape operands: calls
** fn(ptrs, n, strides, ud) with inner runs of n elements, innermost
** dimension last; ptrs[k] advances by strides[k] bytes per element.  The
** caller broadcasts by giving 0 strides.  Returns fn's first nonzero. */
typedef int (*tide_InnerFn)(unsigned char **ptrs, int64_t n,
                            const int64_t *strides, void *ud);
int tide_nditer(int nops, int ndim, const int64_t *shape,
                unsigned char *const *base, const int64_t *const *strides,
                tide_InnerFn fn, void *ud);

/* --------------------------------------------------------------- format.c */

/* numpy-like text of an array: summarized with "..." past 1000 elements
** (3 edge items), uniform number formatting, then a line with the shape,
** dtype and storage.  Returns a malloc'd string, or NULL when out of memory. */
char *tide_array_format(const tide_Array *a, const char *indent);

/* ----------------------------------------------------------------- blas.c */

/* Switches OpenBLAS to one thread for a run of small calls; returns the
** count to give back to tide_blas_restore. */
int tide_blas_serial(void);
void tide_blas_restore(int threads);

/* ------------------------------------------------------------------ rng.c */

/* Philox-4x32-10: a counter-based generator; a stream's numbers depend on
** (seed, stream) and the draw count only. */
typedef struct tide_Rng {
  uint32_t key[2];
  uint32_t ctr[4];
  uint32_t buf[4];
  int avail;           /* unread words in buf */
  int has_spare;
  double spare;        /* second Box-Muller normal */
} tide_Rng;

void tide_rng_init(tide_Rng *r, uint64_t seed, uint64_t stream);
uint64_t tide_rng_u64(tide_Rng *r);
double tide_rng_uniform(tide_Rng *r);              /* [0, 1) */
double tide_rng_normal(tide_Rng *r);               /* N(0, 1) */
int64_t tide_rng_integer(tide_Rng *r, int64_t lo, int64_t hi); /* inclusive */
/* Fills a (any dtype) with uniform [lo, hi) or normal(mu, sigma). */
int tide_rng_fill_uniform(tide_Rng *r, tide_Array *a, double lo, double hi);
int tide_rng_fill_normal(tide_Rng *r, tide_Array *a, double mu, double sigma);

#endif /* TIDE_CORE_H */
