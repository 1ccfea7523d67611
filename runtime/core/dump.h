/*
** dump.h -- tide's dump files: one value (a codec stream, written by the
** bindings) and its arrays as page-aligned blobs, every section under an
** XXH3-128 checksum.  docs/dump-format.md is the byte-level description;
** this file and it must agree.
**
**   header (128 bytes) | array table | value stream | zero padding |
**   blob 0 | zero padding | blob 1 | ... | blob n-1      (end of file)
**
** Blob k starts at the first multiple of the alignment (4096) at or after
** the end of what precedes it, so offsets follow from the table alone and
** no two blobs can overlap.  The header's last 16 bytes are the checksum
** of its first 112, which hold the table's and the stream's checksums; the
** table holds each blob's: one checksum covers the whole file.
**
** Everything here treats a file as untrusted: every length, offset and
** count is checked against the file's real size before it is used or
** allocated, and allocations stay within a constant times the file size.
*/
#ifndef TIDE_DUMP_H
#define TIDE_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "hash.h"

#define TIDE_DUMP_VERSION 1
#define TIDE_DUMP_HEADER 128
#define TIDE_DUMP_ALIGN 4096
#define TIDE_DUMP_ENTRY 40 /* bytes of a table entry before its shape */

/* ------------------------------------------------------------- writing */

/* Writes a dump of the value stream p[0..n) and its narrays arrays (in
** the order the stream numbers them) to the open, empty file fd.  Blob
** checksums are computed as the bytes are written, in chunks that stay in
** the CPU's cache; arrays whose digest was not cached get it remembered.
** Does not sync or close fd.  name is for messages. */
int tide_dump_write_fd(int fd, const char *name, const unsigned char *p, size_t n,
                       uint32_t narrays, const tide_Array *const *arrays);

/* The size of the file tide_dump_write_fd would write. */
uint64_t tide_dump_file_size(size_t n, uint32_t narrays, const tide_Array *const *arrays);

/* Same into path, atomically: a temp file in the same folder, fsync,
** rename over path, fsync of the folder.  The old file survives any
** failure. */
int tide_dump_write(const char *path, const unsigned char *p, size_t n,
                    uint32_t narrays, const tide_Array *const *arrays);

/* ------------------------------------------------------------- reading */

typedef struct tide_Dump tide_Dump; /* an open, validated dump */

/* Opens path and validates everything but the blobs' contents: magic,
** version, flags, byte order, sizes against the real file size, the
** header's, table's and stream's checksums, every table entry (dtype,
** shape, byte length, offset), and the zero padding between sections.
** TIDE_EFORMAT with "path: what is wrong" for anything else. */
int tide_dump_open(const char *path, tide_Dump **out);
/* Same over an open descriptor (dup'd: fd stays the caller's). */
int tide_dump_open_fd(int fd, const char *name, tide_Dump **out);
void tide_dump_close(tide_Dump *d); /* NULL is a no-op */

/* The value stream (valid until tide_dump_close). */
const unsigned char *tide_dump_stream(const tide_Dump *d, size_t *n);
uint32_t tide_dump_count(const tide_Dump *d);
uint64_t tide_dump_size(const tide_Dump *d);     /* bytes of the file */
/* Bytes of every blob together. */
uint64_t tide_dump_array_bytes(const tide_Dump *d);

/* Array k as a fresh array.  mode 0 reads the blob into memory (shared
** memory when big, as any array) and checks its checksum; 'r' maps it
** read-only, 'c' copy-on-write (writes stay in this process), without
** reading it unless verify is nonzero. */
int tide_dump_array(tide_Dump *d, uint32_t k, char mode, int verify, tide_Array *out);
/* Reads blob k and checks its checksum (TIDE_EFORMAT on a mismatch). */
int tide_dump_verify(tide_Dump *d, uint32_t k);

#endif /* TIDE_DUMP_H */
