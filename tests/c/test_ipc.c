/*
** test_ipc.c -- buffers, cursors and framed messages with descriptors.
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ipc.h"

static void test_cursor(void) {
  tide_Buf b = TIDE_BUF_INIT;
  tide_buf_put_u8(&b, 7);
  tide_buf_put_u32(&b, 0xdeadbeef);
  tide_buf_put_u64(&b, UINT64_C(0x0123456789abcdef));
  tide_buf_put_f64(&b, -2.5);
  tide_Cursor c = {b.p, b.p + b.n, 0};
  CHECK_EQ_INT(tide_cur_u8(&c), 7);
  CHECK_EQ_INT(tide_cur_u32(&c), 0xdeadbeef);
  CHECK(tide_cur_u64(&c) == UINT64_C(0x0123456789abcdef));
  CHECK_NEAR(tide_cur_f64(&c), -2.5, 0);
  CHECK(!c.bad);
  CHECK_EQ_INT(tide_cur_u32(&c), 0);
  CHECK(c.bad); /* past the end: flagged, nothing read out of bounds */
  CHECK(tide_cur_bytes(&c, 1) == NULL);
  tide_buf_free(&b);
}

static void test_frames(void) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  s->base[5] = 99;
  pid_t pid = fork();
  if (pid == 0) { /* echo every frame back, with its fds */
    close(sv[0]);
    tide_Buf b = TIDE_BUF_INIT;
    uint8_t type;
    while (tide_msg_recv(sv[1], &type, &b, 1u << 30) == TIDE_OK) tide_msg_send(sv[1], type, &b);
    _exit(0);
  }
  close(sv[1]);
  tide_Buf out = TIDE_BUF_INIT, in = TIDE_BUF_INIT;
  for (int i = 0; i < 100000; i++) tide_buf_put_u32(&out, (uint32_t)i); /* > socket buffer */
  CHECK_EQ_INT(tide_buf_put_fd(&out, s->fd), 0);
  CHECK_EQ_INT(tide_msg_send(sv[0], 3, &out), TIDE_OK);
  uint8_t type = 0;
  CHECK_EQ_INT(tide_msg_recv(sv[0], &type, &in, 1u << 30), TIDE_OK);
  CHECK_EQ_INT(type, 3);
  CHECK_EQ_INT(in.n, out.n);
  CHECK(memcmp(in.p, out.p, in.n) == 0);
  CHECK_EQ_INT(in.nfds, 1);
  tide_Storage *s2;
  CHECK_EQ_INT(tide_storage_adopt_fd(in.fds[0], 1 << 20, &s2), TIDE_OK);
  in.fds[0] = -1; /* adopted */
  CHECK_EQ_INT(s2->base[5], 99); /* same pages */
  s2->base[6] = 42;
  CHECK_EQ_INT(s->base[6], 42);
  tide_storage_unref(s2);
  /* small frame, empty payload */
  tide_buf_reset(&out);
  CHECK_EQ_INT(tide_msg_send(sv[0], 9, &out), TIDE_OK);
  CHECK_EQ_INT(tide_msg_recv(sv[0], &type, &in, 100), TIDE_OK);
  CHECK_EQ_INT(type, 9);
  CHECK_EQ_INT(in.n, 0);
  /* a frame over the limit is refused */
  tide_buf_put_u64(&out, 1);
  CHECK_EQ_INT(tide_msg_send(sv[0], 1, &out), TIDE_OK);
  CHECK_EQ_INT(tide_msg_recv(sv[0], &type, &in, 4), TIDE_EFORMAT);
  /* the peer goes away: a clean error, no SIGPIPE */
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  int rc = TIDE_OK;
  for (int i = 0; i < 10 && rc == TIDE_OK; i++) rc = tide_msg_send(sv[0], 1, &out);
  CHECK_EQ_INT(rc, TIDE_EIO);
  close(sv[0]);
  tide_buf_free(&out);
  tide_buf_free(&in);
  tide_storage_unref(s);
}

/* A frame's header (length, type) and then only part of its payload, or
** raw descriptors, written by hand as a broken or hostile peer would. */
static void raw_send(int sock, const void *p, size_t n, const int *fds, int nfds) {
  struct iovec iov = {(void *)p, n};
  struct msghdr mh = {0};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 100)];
    struct cmsghdr align;
  } ctl;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfds) {
    memset(&ctl, 0, sizeof ctl);
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
  }
  CHECK(sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)n);
}

static int open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) >= 0;
  return n;
}

static void test_edges(void) {
  int fds0 = open_fds();
  /* a buffer over a file: grown (the file and the mapping), trimmed back,
  ** and freed; the bytes written stay */
  tide_Buf m = TIDE_BUF_INIT;
  int mfd = memfd_create("tide-test-ipc", MFD_CLOEXEC);
  CHECK(mfd >= 0);
  tide_buf_map(&m, mfd);
  for (uint32_t i = 0; i < 50000; i++) CHECK_EQ_INT(tide_buf_put_u32(&m, i), TIDE_OK);
  CHECK(m.cap >= 200000);
  struct stat st;
  CHECK(fstat(mfd, &st) == 0 && (size_t)st.st_size == m.cap);
  tide_Cursor c = {m.p, m.p + m.n, 0};
  for (int i = 0; i < 49999; i++) tide_cur_u32(&c);
  CHECK_EQ_INT(tide_cur_u32(&c), 49999);
  m.n = 16;
  tide_buf_trim(&m, 65536);
  CHECK_EQ_INT(m.cap, 65536);
  CHECK(fstat(mfd, &st) == 0 && st.st_size == 65536);
  CHECK_EQ_INT(m.p[4], 1);
  tide_buf_trim(&m, 8); /* below what it holds: kept */
  CHECK_EQ_INT(m.cap, 65536);
  tide_buf_free(&m);
  close(mfd);
  /* a mapped buffer whose file cannot grow */
  int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
  tide_buf_map(&m, ro);
  CHECK_EQ_INT(tide_buf_put_u32(&m, 1), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot grow a result buffer");
  tide_buf_free(&m);
  close(ro);
  /* a size no buffer can have */
  tide_Buf b = TIDE_BUF_INIT;
  CHECK_EQ_INT(tide_buf_grow(&b, SIZE_MAX / 2 + 1), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "message too large");
  /* descriptors: a bad one, then more than a frame may carry */
  CHECK(tide_buf_put_fd(&b, 999) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot duplicate");
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  for (int i = 0; i < TIDE_MSG_MAXFDS; i++) CHECK_EQ_INT(tide_buf_put_fd(&b, pipefd[0]), i);
  CHECK_EQ_INT(tide_buf_put_fd(&b, pipefd[0]), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "at most 64 shared arrays");
  tide_buf_reset(&b); /* closes the 64 copies */
  CHECK_EQ_INT(b.nfds, 0);
  /* sockets that are not: errors, no signal */
  CHECK_EQ_INT(tide_msg_send(pipefd[0], 1, &b), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot send to a worker");
  uint8_t type;
  CHECK_EQ_INT(tide_msg_recv(pipefd[1], &type, &b, 100), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot read from a worker");
  /* a small frame with a descriptor; a peer that also passes its
  ** credentials (a control message that is not SCM_RIGHTS) */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  int one = 1;
  CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0);
  tide_buf_put_u32(&b, 77);
  CHECK_EQ_INT(tide_buf_put_fd(&b, pipefd[1]), 0);
  CHECK_EQ_INT(tide_msg_send(sv[0], 4, &b), TIDE_OK);
  tide_Buf in = TIDE_BUF_INIT;
  CHECK_EQ_INT(tide_msg_recv(sv[1], &type, &in, 100), TIDE_OK);
  CHECK(type == 4 && in.n == 4 && in.nfds == 1);
  CHECK(write(in.fds[0], "z", 1) == 1); /* the pipe's write end, passed */
  char ch = 0;
  CHECK(read(pipefd[0], &ch, 1) == 1 && ch == 'z');
  /* more descriptors than a frame may carry, sent by hand: refused */
  int many[70];
  for (int i = 0; i < 70; i++) many[i] = pipefd[0];
  unsigned char hdr[5] = {0, 0, 0, 0, 2}; /* an empty frame */
  raw_send(sv[0], hdr, 5, many, 70);
  CHECK_EQ_INT(tide_msg_recv(sv[1], &type, &in, 100), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "more than 64 descriptors");
  tide_buf_reset(&in);
  /* a peer that dies inside a frame, and one that closes between frames */
  unsigned char half[7] = {100, 0, 0, 0, 2, 'a', 'b'};
  raw_send(sv[0], half, 7, NULL, 0);
  shutdown(sv[0], SHUT_WR);
  CHECK_EQ_INT(tide_msg_recv(sv[1], &type, &in, 1000), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "peer closed in the middle of a message");
  close(sv[0]);
  close(sv[1]);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  /* a frame without a payload; a big one to a peer gone */
  CHECK_EQ_INT(tide_msg_send(sv[0], 6, NULL), TIDE_OK);
  CHECK_EQ_INT(tide_msg_recv(sv[1], &type, &in, 1000), TIDE_OK);
  CHECK(type == 6 && in.n == 0);
  close(sv[0]);
  tide_buf_trim(&b, 1); /* a heap buffer: trimming is for mapped ones */
  for (int i = 0; i < 5000; i++) tide_buf_put_u32(&b, 1);
  CHECK_EQ_INT(tide_msg_send(sv[1], 6, &b), TIDE_EIO);
  CHECK_EQ_INT(tide_msg_recv(sv[1], &type, &in, 1000), TIDE_ECLOSED);
  CHECK_STR_HAS(tide_lasterror(), "peer closed the connection");
  close(sv[1]);
  tide_buf_free(&in);
  tide_buf_free(&b);
  close(pipefd[0]);
  close(pipefd[1]);
  CHECK_EQ_INT(open_fds(), fds0); /* every descriptor passed was closed */
}

int main(void) {
  test_cursor();
  test_frames();
  test_edges();
  return check_done();
}
