/*
** io.h -- .npy and .npz files: header parsing, loading, mapping, saving.
**
** npy.c mirrors numpy's format.py (versions 1.0, 2.0, 3.0) and validates a
** header at least as strictly as numpy's own reader; npz.c reads and writes
** zip archives of .npy members (stored, or deflated through zlib).
** Like the rest of the core, every function returns TIDE_OK or a negative
** TIDE_E* code with a message (naming the file) for tide_lasterror().
*/
#ifndef TIDE_IO_H
#define TIDE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* numpy's _MAX_HEADER_SIZE: the longest header dict we parse. */
#define TIDE_NPY_MAX_HEADER 10000
/* Magic (6) + version (2) + a 4-byte length + the dict. */
#define TIDE_NPY_MAX_PREFIX (12 + TIDE_NPY_MAX_HEADER)

/* What a .npy header says. */
typedef struct tide_NpyHeader {
  int major, minor;     /* format version: 1.0, 2.0 or 3.0 */
  int dtype;            /* a tide_dtype (float16: u16, with half set) */
  int half;             /* 1: the file holds float16 (tide has no such dtype) */
  int swap;             /* 1: the data are in the other byte order */
  int fortran;          /* 1: fortran_order True */
  int ndim;
  int64_t shape[TIDE_MAXDIM];
  size_t header_len;    /* bytes before the data (magic .. '\n') */
  uint64_t nbytes;      /* bytes of data the shape and dtype declare */
} tide_NpyHeader;

/* Parses the header at the start of buf (len bytes available; the data may
** follow or not).  Never reads past buf + len and never allocates, so it
** is safe on untrusted bytes.  TIDE_EFORMAT for a malformed header,
** TIDE_EDTYPE for a well-formed one with a dtype tide refuses (object,
** structured, unicode, ...). */
int tide_npy_parse_header(const unsigned char *buf, size_t len,
                          tide_NpyHeader *h);

/* Loads a whole .npy file into a fresh array (tide_array_new, so large
** arrays land in shared memory).  Big-endian data are byte-swapped; a
** Fortran-order file becomes a Fortran-strided array (a transposed view of
** the bytes as stored, like numpy), never copied twice.  *out must not hold
** a storage. */
int tide_npy_load(const char *path, tide_Array *out);
/* Same, converted to dtype (< 0: as stored), as numpy's astype would.  A
** float16 file loads only this way (tide has no float16): its values are
** converted exactly to f32 or f64. */
int tide_npy_load_as(const char *path, int dtype, tide_Array *out);
/* Same, from bytes in memory (name is used in messages only). */
int tide_npy_load_buffer(const unsigned char *buf, size_t len,
                         const char *name, tide_Array *out);
/* Maps a .npy file without reading its data.  mode: 'r' read-only (the
** array is read-only), 'w' shared read-write ("r+": writes reach the file,
** flush msyncs), 'c' private copy-on-write.  Non-native byte order cannot
** be mapped and is refused. */
int tide_npy_map(const char *path, char mode, tide_Array *out);
/* Writes a as a .npy (version 1.0, or 2.0 when the header needs it), in the
** host's byte order (little-endian on every supported host) and C order;
** any view is accepted.  Atomic: a temp file in the same folder, fsync,
** rename; the old file survives any failure. */
int tide_npy_save(const char *path, const tide_Array *a);
/* Creates (or replaces) path as a zero-filled .npy of that shape and
** dtype, with its space reserved on disk, and maps it read-write ('w'). */
int tide_npy_create(const char *path, int dtype, int ndim,
                    const int64_t *shape, tide_Array *out);

/* ---------------------------------------------------------------- .npz */

typedef struct tide_Npz tide_Npz; /* an open archive being read */

/* Opens a .npz (zip) and validates its central directory: bounds, sizes,
** names (each member must be NAME.npy, once), compression (stored or
** deflate), no encryption.  zip64 sizes and offsets are understood. */
int tide_npz_open(const char *path, tide_Npz **out);
int tide_npz_count(const tide_Npz *z);
/* Member i's name without ".npy" (valid until tide_npz_close). */
const char *tide_npz_name(const tide_Npz *z, int i);
/* Loads member i into a fresh array, checking its CRC-32 and sizes. */
int tide_npz_read(tide_Npz *z, int i, tide_Array *out);
/* Same, converted to dtype (< 0: as stored; see tide_npy_load_as). */
int tide_npz_read_as(tide_Npz *z, int i, int dtype, tide_Array *out);
void tide_npz_close(tide_Npz *z); /* NULL is a no-op */

/* Writes n arrays as members names[k] + ".npy"; compress != 0 deflates
** them (numpy's savez_compressed), else they are stored (savez).  Atomic
** like tide_npy_save. */
int tide_npz_save(const char *path, int n, const char *const *names,
                  const tide_Array *const *arrays, int compress);

/* What a file holds, from its first bytes. */
enum { TIDE_FILE_NPY = 1, TIDE_FILE_NPZ = 2 };
/* TIDE_FILE_NPY / TIDE_FILE_NPZ, or a negative code (missing file,
** unknown contents). */
int tide_file_kind(const char *path);

/* ------------------------------------------------- internal (npy <-> npz) */

/* A byte source for the loader: read fills buf with up to n bytes and sets
** *got; *got < n means the input has ended. */
typedef struct tide__NpySource {
  int (*read)(void *ctx, unsigned char *buf, size_t n, size_t *got);
  void *ctx;
  uint64_t size;    /* bytes the source holds, or UINT64_MAX if not known */
  const char *name; /* for messages */
  int want;         /* 0: the dtype as stored; else 1 + the dtype to convert to */
  int half;         /* set by tide__npy_read: the array holds float16 bits (u16) */
} tide__NpySource;

/* Reads one whole .npy from src into a fresh array; refuses data shorter
** than declared and trailing bytes after it. */
int tide__npy_read(tide__NpySource *src, tide_Array *out);
/* Converts what tide__npy_read read to src->want (float16 bits to floats);
** on failure out is closed. */
int tide__npy_finish(const tide__NpySource *src, tide_Array *out);
/* Bytes of the .npy header tide writes for a (into buf, at most cap). */
size_t tide__npy_make_header(const tide_Array *a, unsigned char *buf,
                             size_t cap);
/* Feeds a's elements in C order, in chunks, to fn (ending early on the
** first nonzero it returns, which is returned). */
int tide__npy_each_chunk(const tide_Array *a,
                         int (*fn)(void *ud, const unsigned char *p, size_t n),
                         void *ud);
/* Atomic write: creates a temp file next to path (mode 0666 & ~umask) ... */
int tide__atomic_open(const char *path, int *fd, char **tmppath);
/* ... then fsyncs, closes and renames it over path (and fsyncs the folder);
** or, with ok == 0, closes and removes it.  Frees tmppath either way. */
int tide__atomic_finish(const char *path, int fd, char *tmppath, int ok);
/* write(2) of all n bytes, retrying on EINTR; errors name path. */
int tide__write_all(int fd, const void *p, size_t n, const char *path);

#endif /* TIDE_IO_H */
