/*
** ipc.c -- growable buffers, bounds-checked read cursors, and framed
** messages over Unix stream sockets with descriptors passed by SCM_RIGHTS.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"

static void close_fds(tide_Buf *b) {
  for (int i = 0; i < b->nfds; i++)
    if (b->fds[i] >= 0) close(b->fds[i]);
  b->nfds = 0;
}

void tide_buf_free(tide_Buf *b) {
  close_fds(b);
  if (b->mapped) {
    if (b->p) munmap(b->p, b->cap);
  } else {
    free(b->p);
  }
  free(b->fds);
  memset(b, 0, sizeof *b);
  b->mfd = -1;
}

void tide_buf_map(tide_Buf *b, int fd) {
  tide_buf_free(b);
  b->mapped = 1;
  b->mfd = fd;
}

/* Resizes the file and its mapping to cap bytes. */
static int remap(tide_Buf *b, size_t cap) {
  if (tide__ftruncate(b->mfd, (off_t)cap) != 0)
    return tide__syserr(TIDE_ENOMEM, errno, "cannot grow a result buffer to %zu bytes", cap);
  void *p = b->p ? mremap(b->p, b->cap, cap, MREMAP_MAYMOVE)
                 : tide__mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, b->mfd, 0);
  if (p == MAP_FAILED)
    return tide__syserr(TIDE_ENOMEM, errno, "cannot map a result buffer of %zu bytes", cap);
  b->p = p;
  b->cap = cap;
  return TIDE_OK;
}

void tide_buf_trim(tide_Buf *b, size_t cap) {
  if (b->mapped && b->n <= cap && b->cap > cap) (void)remap(b, cap);
}

void tide_buf_reset(tide_Buf *b) {
  close_fds(b);
  b->n = 0;
}

int tide_buf_grow(tide_Buf *b, size_t extra) {
  if (extra > SIZE_MAX / 2 - b->n) return tide__seterr(TIDE_ENOMEM, "message too large");
  if (b->n + extra <= b->cap) return TIDE_OK;
  size_t cap = b->cap ? b->cap : b->mapped ? 65536 : 256;
  while (cap < b->n + extra) cap *= 2;
  if (b->mapped) return remap(b, cap);
  unsigned char *p = tide__realloc(b->p, cap);
  if (!p) return tide__seterr(TIDE_ENOMEM, "out of memory growing a message to %zu bytes", cap);
  b->p = p;
  b->cap = cap;
  return TIDE_OK;
}

/* Appends a descriptor the buffer then owns; its index, or < 0. */
static int fds_append(tide_Buf *b, int fd) {
  if (b->nfds == b->fdcap) {
    int cap = b->fdcap ? b->fdcap * 2 : 4;
    int *f = tide__realloc(b->fds, (size_t)cap * sizeof *f);
    if (!f) return tide__seterr(TIDE_ENOMEM, "out of memory");
    b->fds = f;
    b->fdcap = cap;
  }
  b->fds[b->nfds] = fd;
  return b->nfds++;
}

int tide_buf_put_fd(tide_Buf *b, int fd) {
  if (b->nfds >= TIDE_MSG_MAXFDS)
    return tide__seterr(TIDE_EINVAL, "a message can carry at most %d shared arrays",
                        TIDE_MSG_MAXFDS);
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) return tide__syserr(TIDE_EIO, errno, "cannot duplicate a segment descriptor");
  int i = fds_append(b, d);
  if (i < 0) close(d);
  return i;
}

/* ------------------------------------------------------------- framing */

static int send_all(int sock, const unsigned char *p, size_t n, const int *fds, int nfds) {
  while (n > 0) {
    struct iovec iov = {(void *)p, n};
    struct msghdr mh = {0};
    union {
      char buf[CMSG_SPACE(sizeof(int) * TIDE_MSG_MAXFDS)];
      struct cmsghdr align;
    } ctl;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds > 0) {
      memset(&ctl, 0, sizeof ctl);
      mh.msg_control = ctl.buf;
      mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
      struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
      memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return tide__syserr(TIDE_EIO, errno, "cannot send to a worker");
    }
    nfds = 0; /* the descriptors went with the first byte */
    p += w;
    n -= (size_t)w;
  }
  return TIDE_OK;
}

int tide_msg_send(int sock, uint8_t type, const tide_Buf *payload) {
  size_t n = payload ? payload->n : 0;
  if (n > UINT32_MAX) return tide__seterr(TIDE_EINVAL, "message of %zu bytes is too large", n);
  unsigned char hdr[5] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 24), type};
  /* Header and payload in one sendmsg when small, to halve the syscalls. */
  int nfds = payload ? payload->nfds : 0;
  const int *fds = payload ? payload->fds : NULL;
  if (n <= 4096) {
    unsigned char tmp[4096 + 5];
    memcpy(tmp, hdr, 5);
    if (n) memcpy(tmp + 5, payload->p, n);
    return send_all(sock, tmp, n + 5, fds, nfds);
  }
  int rc = send_all(sock, hdr, 5, fds, nfds);
  if (rc) return rc;
  return send_all(sock, payload->p, n, NULL, 0);
}

/* Reads exactly n bytes, collecting descriptors into b. */
static int recv_all(int sock, unsigned char *p, size_t n, tide_Buf *b, int *got_any) {
  while (n > 0) {
    struct iovec iov = {p, n};
    struct msghdr mh = {0};
    union {
      char buf[CMSG_SPACE(sizeof(int) * TIDE_MSG_MAXFDS)];
      struct cmsghdr align;
    } ctl;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
    ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (r < 0) {
      if (errno == EINTR) continue;
      return tide__syserr(TIDE_EIO, errno, "cannot read from a worker");
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int fds[TIDE_MSG_MAXFDS];
      memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)k);
      for (int i = 0; i < k; i++)
        if (fds_append(b, fds[i]) < 0) close(fds[i]);
    }
    if (mh.msg_flags & MSG_CTRUNC)
      return tide__seterr(TIDE_EFORMAT, "a message carried more than %d descriptors",
                          TIDE_MSG_MAXFDS);
    if (r == 0)
      return *got_any ? tide__seterr(TIDE_EIO, "peer closed in the middle of a message")
                      : tide__seterr(TIDE_ECLOSED, "peer closed the connection");
    *got_any = 1;
    p += r;
    n -= (size_t)r;
  }
  return TIDE_OK;
}

int tide_msg_recv(int sock, uint8_t *type, tide_Buf *payload, size_t max_len) {
  unsigned char hdr[5];
  int got = 0;
  tide_buf_reset(payload);
  int rc = recv_all(sock, hdr, 5, payload, &got);
  if (rc) return rc;
  size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
  if (n > max_len)
    return tide__seterr(TIDE_EFORMAT, "message of %zu bytes exceeds the limit of %zu", n, max_len);
  *type = hdr[4];
  if ((rc = tide_buf_reserve(payload, n))) return rc;
  rc = recv_all(sock, payload->p, n, payload, &got);
  if (rc) return rc;
  payload->n = n;
  return TIDE_OK;
}
