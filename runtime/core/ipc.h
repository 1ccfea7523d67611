/*
** ipc.h -- growable byte buffers and framed messages over Unix sockets,
** with file descriptors (shared segments) passed alongside (SCM_RIGHTS).
*/
#ifndef TIDE_IPC_H
#define TIDE_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core.h"

/* A growable buffer plus the descriptors that travel with it.  The fds
** belong to the buffer: tide_buf_free closes those still held.  A buffer
** is on the heap, or (tide_buf_map) over a file that another process can
** read: a worker's results, which its parent reads if it dies. */
typedef struct tide_Buf {
  unsigned char *p;
  size_t n, cap;
  int *fds;
  int nfds, fdcap;
  int mapped, mfd; /* mapped: p maps mfd (MAP_SHARED), which it does not own */
} tide_Buf;

#define TIDE_BUF_INIT {NULL, 0, 0, NULL, 0, 0, 0, -1}

/* Makes the empty buffer b grow over the file fd (from its start). */
void tide_buf_map(tide_Buf *b, int fd);
/* A mapped buffer larger than cap (and empty) shrinks to cap. */
void tide_buf_trim(tide_Buf *b, size_t cap);
void tide_buf_free(tide_Buf *b);
void tide_buf_reset(tide_Buf *b);             /* n = 0, fds closed */
/* Grows b to hold extra more bytes (out of line: the puts below inline
** only the common case, a buffer with room). */
int tide_buf_grow(tide_Buf *b, size_t extra);

static inline int tide_buf_reserve(tide_Buf *b, size_t extra) {
  return extra <= b->cap - b->n ? TIDE_OK : tide_buf_grow(b, extra);
}

static inline int tide_buf_put(tide_Buf *b, const void *p, size_t n) {
  int rc = tide_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  return TIDE_OK;
}

static inline int tide_buf_put_u8(tide_Buf *b, uint8_t v) { return tide_buf_put(b, &v, 1); }

static inline int tide_buf_put_u32(tide_Buf *b, uint32_t v) {
  unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 24)};
  return tide_buf_put(b, x, 4);
}

/* little-endian */
static inline int tide_buf_put_u64(tide_Buf *b, uint64_t v) {
  unsigned char x[8];
  for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
  return tide_buf_put(b, x, 8);
}

/* Overwrites bytes already put at offset at (little-endian): counts and
** lengths known only after what they measure. */
static inline void tide_buf_patch_u32(tide_Buf *b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++) b->p[at + i] = (unsigned char)(v >> (8 * i));
}

static inline void tide_buf_patch_f64(tide_Buf *b, size_t at, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  for (int i = 0; i < 8; i++) b->p[at + i] = (unsigned char)(u >> (8 * i));
}

/* Patches the u32 length put (as 0) at offset at with the bytes put since. */
static inline void tide_buf_end_len(tide_Buf *b, size_t at) {
  tide_buf_patch_u32(b, at, (uint32_t)(b->n - at - 4));
}

static inline int tide_buf_put_f64(tide_Buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  return tide_buf_put_u64(b, u);
}
/* Adds a descriptor (dup'd, CLOEXEC): returns its index in b->fds or < 0. */
int tide_buf_put_fd(tide_Buf *b, int fd);

/* A read cursor over received bytes: reads past the end set `bad`
** instead of reading out of bounds, so decoders check once at the end. */
typedef struct tide_Cursor {
  const unsigned char *p, *end;
  int bad;
} tide_Cursor;

/* Inline: the parent reads a few of these per task result, and a call
** each showed in profiles of tiny tasks. */

/* Returns a pointer to n bytes and advances, or NULL (and bad) past the end. */
static inline const unsigned char *tide_cur_bytes(tide_Cursor *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = 1;
    return NULL;
  }
  const unsigned char *p = c->p;
  c->p += n;
  return p;
}

static inline uint8_t tide_cur_u8(tide_Cursor *c) {
  const unsigned char *p = tide_cur_bytes(c, 1);
  return p ? p[0] : 0;
}

static inline uint32_t tide_cur_u32(tide_Cursor *c) {
  const unsigned char *p = tide_cur_bytes(c, 4);
  return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
           : 0;
}

static inline uint64_t tide_cur_u64(tide_Cursor *c) {
  const unsigned char *p = tide_cur_bytes(c, 8);
  if (!p) return 0;
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
         (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
         (uint64_t)p[7] << 56;
}

static inline double tide_cur_f64(tide_Cursor *c) {
  uint64_t u = tide_cur_u64(c);
  double v;
  memcpy(&v, &u, 8);
  return v;
}

/* Frames: [u32 payload length][u8 type][payload], fds attached to the
** first byte.  Sends retry EINTR and partial writes and never raise
** SIGPIPE (MSG_NOSIGNAL); a closed peer is TIDE_EIO. */
int tide_msg_send(int sock, uint8_t type, const tide_Buf *payload);
/* Blocks for one whole frame.  On success *type is set, payload holds the
** bytes and received fds (replacing what it held).  A peer that closed
** before a frame began is TIDE_ECLOSED; in the middle of one, TIDE_EIO.
** Frames larger than max_len are TIDE_EFORMAT. */
int tide_msg_recv(int sock, uint8_t *type, tide_Buf *payload, size_t max_len);

#define TIDE_MSG_MAXFDS 64 /* descriptors one frame may carry */

#endif
