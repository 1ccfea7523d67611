/*
** hash.h -- XXH3-128 digests (libxxhash): of bytes, of streams, and of an
** array's elements in C order, cached per storage version so that a second
** digest of an unchanged 1 GB array costs a lookup, not a pass.
**
** A digest is 16 bytes in XXH3's canonical order (the high 64 bits first,
** each big-endian), which is what xxhash's own tools and Python's
** xxhash.xxh3_128().digest() give for the same bytes.
*/
#ifndef TIDE_HASH_H
#define TIDE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define TIDE_DIGEST_LEN 16

/* One-shot digest of n bytes. */
void tide_digest(const void *p, size_t n, unsigned char out[TIDE_DIGEST_LEN]);

/* A streaming digest: the same result as tide_digest over the
** concatenation of every update. */
typedef struct tide_Hasher tide_Hasher;
tide_Hasher *tide_hasher_new(void);               /* NULL: out of memory */
void tide_hasher_reset(tide_Hasher *h);
void tide_hasher_update(tide_Hasher *h, const void *p, size_t n);
void tide_hasher_digest(const tide_Hasher *h, unsigned char out[TIDE_DIGEST_LEN]);
void tide_hasher_free(tide_Hasher *h);            /* NULL is a no-op */

/* 32 lowercase hex digits and a NUL into hex. */
void tide_digest_hex(const unsigned char d[TIDE_DIGEST_LEN], char hex[33]);

/* The digest of a's elements in C order (its bytes as a contiguous copy
** would hold them; dtype and shape are not part of it).  Cached in the
** storage per view and version when nothing outside this process can
** change the bytes unseen (tide_digest_cacheable); *cached (may be NULL)
** says whether the answer came from that cache. */
int tide_array_digest(const tide_Array *a, unsigned char out[TIDE_DIGEST_LEN], int *cached);

/* Whether digests of s may be kept: heap storage; shared memory that no
** other process may write (not {shared = true}, not inherited by a
** worker from its parent); mapped files (the cached digest also records
** the file's identity, size and mtime, and is dropped when they change).
** Borrowed host buffers never are. */
int tide_digest_cacheable(const tide_Storage *s);

/* Records d as the digest of a's elements at its storage's current
** version (the dump writer computes it anyway). */
void tide__digest_remember(const tide_Array *a, const unsigned char d[TIDE_DIGEST_LEN]);

#endif /* TIDE_HASH_H */
