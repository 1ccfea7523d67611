/*
** cache.h -- the folder behind tide.memoize:
**
**   dir/<2 hex>/<32 hex key>        an entry: a dump file (dump.h)
**   dir/<2 hex>/<32 hex key>.lock   held (flock) by the process computing it
**   dir/index                       sizes, last uses and verification stamps
**   dir/.lock                       held (flock) while the index changes
**
** Entries appear whole: written to an unnamed file in their folder
** (O_TMPFILE; a named ".<key>.tmp-*" file where that is missing), synced,
** then linked under a temporary name and renamed over the entry's name.
** A writer killed at any point leaves the old entry or none, never a
** partial one under an entry's name.
**
** The index is a hint, rebuilt from the files when missing or damaged and
** reconciled with them at every store, so that max_bytes holds whatever
** crashed before.  Every function returns TIDE_OK or a negative code.
*/
#ifndef TIDE_CACHE_H
#define TIDE_CACHE_H

#include <stdint.h>
#include <sys/stat.h>

#include "core.h"

/* What a file was when it was verified: any change through the file
** system (a rewrite, a truncation, a replacement) changes one of these. */
typedef struct tide_FileStamp {
  uint64_t dev, ino, size;
  int64_t mtime; /* nanoseconds */
} tide_FileStamp;

void tide_stamp_of(const struct stat *st, tide_FileStamp *out);

#define TIDE_CACHE_KEYLEN 32 /* hex digits */

/* Makes dir (and its parents) when missing; refuses a path that is not a
** folder. */
int tide_cache_init(const char *dir);
/* dir/<2 hex>/<key> into buf; TIDE_EINVAL for a key that is not 32
** lowercase hex digits or a path too long. */
int tide_cache_entry_path(const char *dir, const char *key, char *buf, size_t len);
/* Makes the entry's folder dir/<2 hex> when missing. */
int tide_cache_entry_dir(const char *entry);

/* Takes the lock of entry (its ".lock" file, flock), waiting up to
** timeout seconds.  *fd is the lock's descriptor, or -1 when another
** process still held it at the timeout.  A lock held by a process that
** died is free at once (the kernel drops it). */
int tide_cache_lock(const char *entry, double timeout, int *fd);
/* Releases and removes the lock file. */
void tide_cache_unlock(const char *entry, int fd);

/* Writes a dump of p[0..n) and its arrays as entry (see above), replacing
** what was there; *st gets the new file's stamp. */
int tide_cache_store(const char *entry, const unsigned char *p, size_t n, uint32_t narrays,
                     const tide_Array *const *arrays, tide_FileStamp *st);

/* A hit on key, whose file has stamp st: its last use becomes now (it is
** added to the index when missing); *verified says whether the index
** holds st as verified for key. */
int tide_cache_use(const char *dir, const char *key, const tide_FileStamp *st, int *verified);
/* Records st as verified for key. */
int tide_cache_verified(const char *dir, const char *key, const tide_FileStamp *st);

typedef struct tide_CacheEvicted {
  uint64_t entries, bytes;
} tide_CacheEvicted;

/* A store of key (stamp st, verified): used now, then entries evicted,
** least recently used first, until they take at most max_bytes (0: no
** limit) and none was last used more than max_age seconds ago (0: no
** limit).  The index is reconciled with the files first. */
int tide_cache_stored(const char *dir, const char *key, const tide_FileStamp *st,
                      uint64_t max_bytes, double max_age, tide_CacheEvicted *ev);
/* Removes key's entry (a damaged one) and its record. */
int tide_cache_drop(const char *dir, const char *key);
/* Entries and their bytes, after reconciling the index with the files. */
int tide_cache_info(const char *dir, uint64_t *entries, uint64_t *bytes);
/* Removes every entry, the index and leftover temp files; entries being
** computed (their locks) are left to their writers.  *removed: entries. */
int tide_cache_clear(const char *dir, uint64_t *removed);

#endif /* TIDE_CACHE_H */
