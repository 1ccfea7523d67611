/*
** test_ipc.c -- buffers, cursors and framed messages with descriptors.
*/
#include <signal.h>
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

int main(void) {
  test_cursor();
  test_frames();
  return check_done();
}
