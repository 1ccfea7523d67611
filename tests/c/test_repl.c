/*
** test_repl.c -- drives the real tide prompt through a pseudo-terminal:
** values printed, multi-line statements, arrays, tab completion, Ctrl-C
** at the prompt and during a running loop, Ctrl-D, and the history file
** (written in one session, recalled with the up arrow in the next).
** Every read has a timeout, so the test cannot hang.
*/
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char scr[1 << 16]; /* everything the child printed (NUL-terminated) */
static size_t scr_len, scr_mark;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads what is available for up to ms milliseconds (until `needle` shows
** up after the mark, when given).  Returns 1 when the needle was seen. */
static int pump(int fd, const char *needle, int ms) {
  long end = now_ms() + ms;
  for (;;) {
    if (needle && strstr(scr + scr_mark, needle)) return 1;
    long left = end - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    if (scr_len + 1 >= sizeof scr) { /* keep the newest half */
      memmove(scr, scr + sizeof scr / 2, scr_len - sizeof scr / 2);
      scr_len -= sizeof scr / 2;
      scr_mark = scr_mark > sizeof scr / 2 ? scr_mark - sizeof scr / 2 : 0;
    }
    ssize_t n = read(fd, scr + scr_len, sizeof scr - 1 - scr_len);
    if (n <= 0) return needle ? strstr(scr + scr_mark, needle) != NULL : 0;
    scr_len += (size_t)n;
    scr[scr_len] = '\0';
  }
}

/* Types s (from now on only new output counts) and waits for needle.
** Commands that print wait for the next prompt too ("\n> "), so that the
** next keys are typed at a prompt, as a person would. */
static int send_expect(int fd, const char *s, const char *needle, int ms) {
  scr_mark = scr_len;
  if (write(fd, s, strlen(s)) != (ssize_t)strlen(s)) return 0;
  int ok = pump(fd, needle, ms);
  if (!ok)
    fprintf(stderr, "after typing %s: no \"%s\" in output:\n%s\n---\n", s, needle,
            scr + scr_mark);
  return ok;
}

/* Runs one command line and waits for its output, then for the prompt. */
static int command(int fd, const char *line, const char *needle) {
  return send_expect(fd, line, needle, 5000) && pump(fd, "\n> ", 5000);
}

static pid_t start(const char *tide, const char *home, int *fd) {
  struct winsize ws = {24, 100, 0, 0};
  pid_t pid = forkpty(fd, NULL, NULL, &ws);
  if (pid == 0) {
    setenv("HOME", home, 1);
    setenv("TERM", "xterm", 1);
    unsetenv("LUA_INIT");
    unsetenv("LUA_INIT_5_4");
    execl(tide, "tide", (char *)NULL);
    _exit(127);
  }
  scr_len = scr_mark = 0;
  scr[0] = '\0';
  return pid;
}

/* Waits up to ms for the child to exit; kills it otherwise.  Returns the
** exit status, or -1 when it had to be killed. */
static int finish(pid_t pid, int ms) {
  long end = now_ms() + ms;
  int st;
  while (now_ms() < end) {
    if (waitpid(pid, &st, WNOHANG) == pid) {
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      fprintf(stderr, "tide died of signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
      return -1;
    }
    usleep(20000);
  }
  fprintf(stderr, "tide did not exit; killed\n");
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

/* Ctrl-D at the prompt; returns tide's exit status.  libedit prints the
** prompt before it switches the terminal to raw mode, and a ^D that lands
** in between is the canonical-mode end of file, which the mode switch can
** drop: so wait for the prompt to settle, and press again if needed, as a
** person would. */
static int ctrl_d(int fd, pid_t pid) {
  int st;
  for (int tries = 0; tries < 5; tries++) {
    usleep(200000);
    if (write(fd, "\x04", 1) != 1) break;
    pump(fd, NULL, 300);
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  return finish(pid, 3000);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

int main(void) {
  const char *build = getenv("TIDE_BUILD");
  if (!build) {
    printf("TIDE_BUILD is not set: skipped\n");
    return 77;
  }
  char tide[4096], home[] = "/tmp/tide-repl-XXXXXX", hist[4200];
  snprintf(tide, sizeof tide, "%s/tide", build);
  if (access(tide, X_OK) != 0 || !mkdtemp(home)) {
    printf("no tide binary at %s: skipped\n", tide);
    return 77;
  }
  snprintf(hist, sizeof hist, "%s/.tide_history", home);
  signal(SIGPIPE, SIG_IGN);

  int fd;
  pid_t pid = start(tide, home, &fd);
  CHECK(pid > 0);
  CHECK(pump(fd, "> ", 10000));
  CHECK_STR_HAS(scr, "tide 0.1.0");

  /* State across lines, and the value of an expression. */
  CHECK(send_expect(fd, "x = 21\r", "\n> ", 5000));
  CHECK(command(fd, "x * 2\r", "42"));
  CHECK(command(fd, "'a', 1, nil\r", "a\t1\tnil"));

  /* A statement over three lines, with the continuation prompt. */
  CHECK(send_expect(fd, "for i = 1, 3 do\r", ">> ", 5000));
  CHECK(send_expect(fd, "print(i * 10)\r", ">> ", 5000));
  CHECK(command(fd, "end\r", "30"));
  CHECK_STR_HAS(scr + scr_mark, "10");
  CHECK_STR_HAS(scr + scr_mark, "20");

  /* Arrays print through tostring. */
  CHECK(command(fd, "tide.zeros(2,2)\r", "2x2"));

  /* Tab completion: a field of the tide table, then an array method. */
  CHECK(send_expect(fd, "type(tide.zer\t", "os", 5000));
  CHECK(command(fd, ")\r", "function"));
  CHECK(send_expect(fd, "a = tide.zeros(3)\r", "\n> ", 5000));
  CHECK(send_expect(fd, "a:fil\t", "l_", 5000));
  CHECK(send_expect(fd, "(5)\r", "\n> ", 5000));
  CHECK(command(fd, "a[2]\r", "5"));

  /* A syntax error is reported and the prompt goes on. */
  CHECK(command(fd, "x = = 1\r", "unexpected symbol"));

  /* Ctrl-C at the prompt throws the typed text away. */
  CHECK(send_expect(fd, "abc", "abc", 5000));
  CHECK(send_expect(fd, "\x03", "\n> ", 5000));
  CHECK(command(fd, "x\r", "21"));
  /* ... and inside a multi-line statement, the whole statement. */
  CHECK(send_expect(fd, "if true then\r", ">> ", 5000));
  CHECK(send_expect(fd, "\x03", "\n> ", 5000));
  CHECK(command(fd, "x + 1\r", "22"));

  /* Ctrl-C interrupts a running loop; the globals survive. */
  CHECK(send_expect(fd, "while true do end\r", "while true do end", 5000));
  usleep(300000);
  CHECK(send_expect(fd, "\x03", "interrupted!", 5000));
  CHECK(pump(fd, "\n> ", 5000));
  CHECK(command(fd, "x\r", "21"));

  /* Ctrl-C during a parallel loop: workers killed and reaped, prompt back. */
  CHECK(send_expect(fd, "for i in tide.map(function(v) tide.sleep(1) return v end, 50, "
                        "{jobs = 2}) do io.write(\"got \", i, \"\\n\") end\r", "got 1", 8000));
  CHECK(send_expect(fd, "\x03", "interrupted!", 5000));
  CHECK(pump(fd, "\n> ", 5000));
  CHECK(command(fd, "x\r", "21"));
  {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "test -z \"$(ps -o pid= --ppid %d)\"", (int)pid);
    CHECK(system(cmd) == 0); /* no worker left under the prompt's process */
  }
  CHECK(command(fd, "#tide.collect(function(v) return v end, 5, {jobs = 2})\r", "5"));

  CHECK(send_expect(fd, "y = 99\r", "\n> ", 5000));
  /* Ctrl-D at an empty prompt leaves with status 0. */
  CHECK_EQ_INT(ctrl_d(fd, pid), 0);
  close(fd);

  /* The history file holds one entry per statement, multi-line ones too. */
  char *h = slurp(hist);
  CHECK(h != NULL);
  CHECK_STR_HAS(h, "x = 21\n");
  CHECK_STR_HAS(h, "for i = 1, 3 do\\nprint(i * 10)\\nend\n");
  CHECK_STR_HAS(h, "y = 99\n");

  /* Grow the file past the cap: 1200 older entries in front. */
  if (h) {
    char *saved = strdup(h);
    FILE *f = fopen(hist, "w");
    CHECK(f != NULL && saved != NULL);
    if (f && saved) {
      for (int i = 0; i < 1200; i++) fprintf(f, "filler = %d\n", i);
      fputs(saved, f);
      fclose(f);
    }
    free(saved);
  }

  /* A new session recalls it: up arrow, Enter runs "y = 99" again. */
  pid = start(tide, home, &fd);
  CHECK(pump(fd, "> ", 10000));
  CHECK(send_expect(fd, "\x1b[A", "y = 99", 5000));
  CHECK(send_expect(fd, "\r", "\n> ", 5000));
  CHECK(command(fd, "y + 1\r", "100"));
  /* Completion through __pairs (tide.config computes its fields). */
  CHECK(send_expect(fd, "tide.config.jo\t", "bs", 5000));
  CHECK(send_expect(fd, "\r", "\n> ", 5000));
  /* _PROMPT is honoured. */
  CHECK(send_expect(fd, "_PROMPT = 'tide> '\r", "\ntide> ", 5000));
  CHECK(send_expect(fd, "y\r", "99", 5000) && pump(fd, "\ntide> ", 5000));
  /* A _G whose __index raises breaks neither the prompt nor completion. */
  CHECK(send_expect(fd, "setmetatable(_G, {__index = function() error('boom') end})\r",
                    "\ntide> ", 5000));
  CHECK(send_expect(fd, "zz.\t", "zz.", 5000));
  CHECK(send_expect(fd, "\x03", "\ntide> ", 5000));
  CHECK(send_expect(fd, "20 + 22\r", "42", 5000) && pump(fd, "\ntide> ", 5000));
  CHECK_EQ_INT(ctrl_d(fd, pid), 0);
  close(fd);

  /* The history was cut to its newest 1000 entries, then appended to. */
  h = slurp(hist);
  CHECK(h != NULL);
  if (h) {
    int lines = 0;
    for (const char *c = h; *c; c++) lines += *c == '\n';
    CHECK(lines >= 1000 && lines <= 1010);
    CHECK(strstr(h, "filler = 5\n") == NULL);
    CHECK_STR_HAS(h, "filler = 1199\n");
    CHECK_STR_HAS(h, "y + 1\n");
  }

  unlink(hist);
  rmdir(home);
  return check_done();
}
