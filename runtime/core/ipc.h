/*
** ipc.h -- growable byte buffers and framed messages over Unix sockets,
** with file descriptors (shared segments) passed alongside (SCM_RIGHTS).
*/
#ifndef TIDE_IPC_H
#define TIDE_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* A growable buffer plus the descriptors that travel with it.  The fds
** belong to the buffer: tide_buf_free closes those still held. */
typedef struct tide_Buf {
  unsigned char *p;
  size_t n, cap;
  int *fds;
  int nfds, fdcap;
} tide_Buf;

#define TIDE_BUF_INIT {NULL, 0, 0, NULL, 0, 0}

void tide_buf_free(tide_Buf *b);
void tide_buf_reset(tide_Buf *b);             /* n = 0, fds closed */
int tide_buf_reserve(tide_Buf *b, size_t extra);
int tide_buf_put(tide_Buf *b, const void *p, size_t n);
int tide_buf_put_u8(tide_Buf *b, uint8_t v);
int tide_buf_put_u32(tide_Buf *b, uint32_t v);
int tide_buf_put_u64(tide_Buf *b, uint64_t v);  /* little-endian */
int tide_buf_put_f64(tide_Buf *b, double v);
/* Adds a descriptor (dup'd, CLOEXEC): returns its index in b->fds or < 0. */
int tide_buf_put_fd(tide_Buf *b, int fd);

/* A read cursor over received bytes: reads past the end set `bad`
** instead of reading out of bounds, so decoders check once at the end. */
typedef struct tide_Cursor {
  const unsigned char *p, *end;
  int bad;
} tide_Cursor;

uint8_t tide_cur_u8(tide_Cursor *c);
uint32_t tide_cur_u32(tide_Cursor *c);
uint64_t tide_cur_u64(tide_Cursor *c);
double tide_cur_f64(tide_Cursor *c);
/* Returns a pointer to n bytes and advances, or NULL (and bad) past the end. */
const unsigned char *tide_cur_bytes(tide_Cursor *c, size_t n);

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
