/*
** monitor.c -- memory and CPU of a process tree, read from /proc by a
** forked sampler into shared memory.
**
** Why a process and not a thread: the script forks workers at any moment.
** A sampler thread would hold locks (malloc's, stdio's) at random times,
** and a worker forked while one was held would inherit it held forever.
** So the parent runs no sampler code at all.  Fork safety, piece by piece:
**
**  - The sampler is forked with every signal blocked (no parent handler
**    runs in it), resets dispositions, ignores SIGINT (Ctrl-C belongs to
**    the script), and from then on calls only system calls through
**    async-signal-safe wrappers: open/read/close, getdents64, futex,
**    clock_gettime, mmap.  No malloc, no stdio, no Lua: any lock another
**    thread of the parent (an OpenBLAS thread, say) held at the fork stays
**    untouched.  Its scratch memory is one mmap made when it starts; the
**    sampling loop allocates nothing.
**  - It dies with the script: PR_SET_PDEATHSIG(SIGKILL), a getppid() check
**    right after (the parent may have died before the prctl) and on every
**    loop.  It closes every inherited descriptor, so a pipe or worker
**    socket of the script still reaches EOF when the script closes its end.
**  - Parent and sampler share one MAP_SHARED|MAP_ANONYMOUS mapping made
**    before the fork, and talk only through C11 atomics and futexes in it
**    (no mutex).  Workers forked later inherit the mapping, which is why
**    they can stamp marks too, and inherit no lock from the monitor because
**    there is none.
**  - The sampler names itself TIDE_MON_COMM, and every scan leaves
**    processes of that name out: no monitor counts its own or another
**    monitor's sampler.
**
** The tree is found by reading /proc/PID/stat of every process (ppid links):
** /proc/PID/task/TID/children is not built into every kernel.  Processes
** that vanish between the directory scan and the read are skipped.
*/
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"
#include "pool.h"

#define MAXPROC 65536   /* processes listed per scan; more are not seen */
#define MAXSAMPLERS 64  /* samplers in the tree followed for CPU times */
#define START_TIMEOUT 10.0 /* seconds to wait for the first sample */
#define STOP_TIMEOUT 5.0   /* seconds to wait for the sampler to leave */

/* ------------------------------------------------------------ shared state */

typedef struct Mark {
  _Atomic uint32_t ready; /* set last (release): t and label are complete */
  uint32_t pad_;
  double t;
  char label[TIDE_MON_LABEL];
} Mark;

enum { ST_STARTING, ST_SAMPLING, ST_FAILED };

/* The mapping shared by the script, its sampler and its workers. */
typedef struct Shared {
  _Atomic uint32_t stop;   /* futex word: the owner asks the sampler to leave */
  _Atomic uint32_t count;  /* futex word: samples written (release) */
  _Atomic uint32_t full;   /* the sample array filled up */
  _Atomic uint32_t state;  /* ST_* */
  _Atomic uint32_t nmarks; /* mark slots reserved (may exceed the table) */
  int32_t err;             /* errno of a failed start */
  char what[96];           /* path that failed */
  double t0;               /* CLOCK_MONOTONIC seconds at start */
  double interval;
  int64_t cap;             /* samples the array holds */
  int32_t root;
  int32_t clk_tck;
  Mark marks[TIDE_MON_MAXMARKS];
  tide_MonSample samples[]; /* cap of them */
} Shared;

struct tide_Monitor {
  Shared *sh;
  size_t maplen;
  pid_t owner;   /* the process that forked the sampler */
  pid_t sampler;
  int running;
};

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Futexes on the shared (not private) mapping: parent and sampler are
** separate processes. */
static void fwake(_Atomic uint32_t *w) {
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1 << 30, NULL, NULL, 0);
}

/* Sleeps while *w == val, until the absolute CLOCK_MONOTONIC time `until`. */
static void fwait_until(_Atomic uint32_t *w, uint32_t val, double until) {
  struct timespec ts;
  ts.tv_sec = (time_t)until;
  ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, so a
  ** wake-up by a signal or a spurious return does not stretch the wait. */
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_BITSET, val, &ts, NULL,
          FUTEX_BITSET_MATCH_ANY);
}

/* ------------------------------------------------- async-signal-safe text */

/* dst = a + decimal(n) + b, within cap bytes.  snprintf is not
** async-signal-safe, and the sampler must not use it. */
static void mkpath(char *dst, size_t cap, const char *a, long n, const char *b) {
  char num[24];
  int k = 0;
  if (n <= 0) num[k++] = '0';
  while (n > 0 && k < (int)sizeof num) {
    num[k++] = (char)('0' + n % 10);
    n /= 10;
  }
  size_t i = 0;
  for (; *a && i + 1 < cap; a++) dst[i++] = *a;
  while (k > 0 && i + 1 < cap) dst[i++] = num[--k];
  for (; *b && i + 1 < cap; b++) dst[i++] = *b;
  dst[i] = '\0';
}

/* Parses an unsigned decimal at *p, skipping leading blanks; advances *p. */
static uint64_t parse_u64(const char **p) {
  const char *s = *p;
  while (*s == ' ' || *s == '\t') s++;
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
  *p = s;
  return v;
}

/* Skips n blank-separated fields. */
static const char *skip_fields(const char *s, int n) {
  while (n-- > 0) {
    while (*s == ' ') s++;
    while (*s && *s != ' ') s++;
  }
  return s;
}

/* Reads a whole small file into buf (NUL-terminated).  Returns the length
** or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* -------------------------------------------------------------- the scan */

typedef struct Proc {
  int32_t pid, ppid;
  uint64_t start; /* start time in ticks after boot: tells a reused pid apart */
  uint64_t ticks; /* utime + stime, plus cutime + cstime: waited-for children */
  int8_t in;      /* 0 unknown, 1 in the tree, 2 not */
  int8_t sampler; /* named TIDE_MON_COMM */
  int8_t zombie;  /* exited, not yet reaped: CPU times but no memory */
  int8_t measured; /* memory read in this scan's first pass */
  tide_MemUsage mem; /* that first read (rss, pss, uss) */
} Proc;

typedef struct Seen {
  int32_t pid;
  uint64_t start, ticks;
} Seen;

/* All scratch memory of a scan, one mapping, so the sampler allocates once. */
typedef struct Scan {
  Proc procs[MAXPROC];
  int nprocs;
  uint64_t prev_total;   /* the tree's CPU ticks at the last scan */
  Seen samplers[2][MAXSAMPLERS]; /* samplers in the tree, last two scans */
  int nsamplers[2], cur;
  int have_prev;
  int rollup;          /* smaps_rollup exists (Linux 4.14+); else smaps */
  _Alignas(8) char dents[32768]; /* getdents64 records are 8-byte aligned */
  char buf[8192];
  char path[64];
} Scan;

static Scan *scan_new(void) {
  void *p = tide__mmap(NULL, sizeof(Scan), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  Scan *s = p; /* mmap gives zeroed pages */
  s->rollup = access("/proc/self/smaps_rollup", R_OK) == 0;
  return s;
}

static void scan_free(Scan *s) {
  if (s) munmap(s, sizeof(Scan));
}

/* Fills p from /proc/PID/stat; 0 on success, -errno if it vanished. */
static int read_stat(Scan *s, int32_t pid, Proc *p) {
  mkpath(s->path, sizeof s->path, "/proc/", pid, "/stat");
  ssize_t n = read_small(s->path, s->buf, sizeof s->buf);
  if (n < 0) return (int)n;
  /* "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  ** the fields start after the LAST ')'. */
  char *open_paren = strchr(s->buf, '(');
  char *close_paren = strrchr(s->buf, ')');
  if (!open_paren || !close_paren || close_paren < open_paren) return -EINVAL;
  size_t clen = (size_t)(close_paren - open_paren - 1);
  p->sampler = clen == strlen(TIDE_MON_COMM) &&
               memcmp(open_paren + 1, TIDE_MON_COMM, clen) == 0;
  const char *f = close_paren + 1;
  while (*f == ' ') f++;
  p->zombie = *f == 'Z' || *f == 'X';    /* state (field 3) */
  f = skip_fields(f, 1);
  p->ppid = (int32_t)parse_u64(&f);      /* field 4 */
  f = skip_fields(f, 9);                 /* fields 5..13 */
  uint64_t ut = parse_u64(&f);           /* utime, field 14 */
  uint64_t st = parse_u64(&f);           /* stime, field 15 */
  uint64_t cut = parse_u64(&f);          /* cutime, field 16 */
  uint64_t cst = parse_u64(&f);          /* cstime, field 17 */
  f = skip_fields(f, 4);                 /* fields 18..21 */
  p->start = parse_u64(&f);              /* field 22 */
  p->ticks = ut + st + cut + cst;
  p->pid = pid;
  p->in = 0;
  return 0;
}

struct dent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

/* Lists every process of the system with its parent and CPU ticks. */
static int list_procs(Scan *s) {
  int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  s->nprocs = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, s->dents, sizeof s->dents);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct dent64 *d = (struct dent64 *)(s->dents + off);
      off += d->reclen;
      const char *c = d->name;
      long pid = 0;
      while (*c >= '0' && *c <= '9' && pid < 1000000000L) pid = pid * 10 + (*c++ - '0');
      if (*c || pid <= 0 || d->name[0] == '\0') continue;
      if (s->nprocs >= MAXPROC) continue;
      if (read_stat(s, (int32_t)pid, &s->procs[s->nprocs]) == 0) s->nprocs++;
    }
  }
  close(fd);
  /* /proc lists pids in increasing order; this insertion sort only guards
  ** against a kernel that does not, and costs one pass otherwise. */
  for (int i = 1; i < s->nprocs; i++) {
    Proc x = s->procs[i];
    int j = i - 1;
    while (j >= 0 && s->procs[j].pid > x.pid) {
      s->procs[j + 1] = s->procs[j];
      j--;
    }
    s->procs[j + 1] = x;
  }
  return 0;
}

static Proc *find_proc(Scan *s, int32_t pid) {
  int lo = 0, hi = s->nprocs - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (s->procs[mid].pid == pid) return &s->procs[mid];
    if (s->procs[mid].pid < pid) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

/* 1 if p descends from root (or is root), following ppid links.  Results
** are memoised along the path, so the whole scan is O(n log n). */
static int in_tree(Scan *s, Proc *p, int32_t root) {
  int verdict = 2, steps = 0;
  for (Proc *q = p; q; q = find_proc(s, q->ppid)) {
    if (q->in) { verdict = q->in; break; }
    if (q->pid == root) { verdict = 1; break; }
    if (q->ppid <= 0 || ++steps > MAXPROC) break;
  }
  steps = 0;
  for (Proc *q = p; q && !q->in && steps++ <= MAXPROC; q = find_proc(s, q->ppid)) {
    q->in = (int8_t)verdict;
    if (q->pid == root) break;
  }
  return verdict == 1;
}

/* Adds the "Key:  N kB" lines of interest in an smaps(_rollup) text. */
static void add_smaps_line(const char *line, tide_MemUsage *u) {
  static const char *const keys[] = {"Rss:", "Pss:", "Private_Clean:", "Private_Dirty:"};
  for (int k = 0; k < 4; k++) {
    size_t kl = strlen(keys[k]);
    if (strncmp(line, keys[k], kl) == 0) {
      const char *v = line + kl;
      int64_t b = (int64_t)parse_u64(&v) * 1024;
      if (k == 0) u->rss += b;
      else if (k == 1) u->pss += b;
      else u->uss += b;
      return;
    }
  }
}

/* Reads one process's Rss, Pss and Private_* into u.  smaps_rollup is a
** few hundred bytes; the smaps fallback is streamed through the fixed
** buffer. */
static int read_memory(Scan *s, int32_t pid, tide_MemUsage *u) {
  mkpath(s->path, sizeof s->path, "/proc/", pid, s->rollup ? "/smaps_rollup" : "/smaps");
  int fd = open(s->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  tide_MemUsage one = {0};
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fd, s->buf + have, sizeof s->buf - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    s->buf[have] = '\0';
    char *line = s->buf, *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      *nl = '\0';
      add_smaps_line(line, &one);
      line = nl + 1;
    }
    have = (size_t)(s->buf + have - line);
    if (have == sizeof s->buf - 1) have = 0; /* a line longer than the buffer */
    memmove(s->buf, line, have);
  }
  close(fd);
  *u = one;
  /* Nothing at all: the process has no memory any more -- it is exiting,
  ** in the middle of unmapping (the pages it still maps are counted in
  ** the others' shares, but its own can no longer be read). */
  return one.rss == 0 && one.pss == 0 && one.uss == 0 ? -ESRCH : 0;
}

/* Adds one process's reading to a tree's sum. */
static void add_usage(tide_MemUsage *sum, const tide_MemUsage *one) {
  sum->rss += one->rss;
  sum->pss += one->pss;
  sum->uss += one->uss;
  sum->nproc++;
}

/* MemTotal and MemTotal - MemAvailable, in bytes. */
static void read_meminfo(Scan *s, tide_MemUsage *u) {
  u->sys_total = u->sys_used = 0;
  if (read_small("/proc/meminfo", s->buf, sizeof s->buf) <= 0) return;
  int64_t total = -1, avail = -1, mfree = 0, buffers = 0, cached = 0;
  for (const char *line = s->buf; line && *line;) {
    const char *v = strchr(line, ':');
    if (!v) break;
    v++;
    int64_t kb = (int64_t)parse_u64(&v);
    if (strncmp(line, "MemTotal:", 9) == 0) total = kb;
    else if (strncmp(line, "MemAvailable:", 13) == 0) avail = kb;
    else if (strncmp(line, "MemFree:", 8) == 0) mfree = kb;
    else if (strncmp(line, "Buffers:", 8) == 0) buffers = kb;
    else if (strncmp(line, "Cached:", 7) == 0) cached = kb;
    line = strchr(line, '\n');
    if (line) line++;
  }
  if (total < 0) return;
  if (avail < 0) avail = mfree + buffers + cached; /* kernels before 3.14 */
  u->sys_total = total * 1024;
  u->sys_used = (total - avail) * 1024;
}

/* A child made with CLONE_VM and no CLONE_THREAD (vfork and posix_spawn
** until their exec, LeakSanitizer's tracer) has its parent's memory: its
** smaps would count that memory twice.  kcmp says whether two processes
** share one address space; where it cannot tell, they do not. */
static int shares_parent_mm(const Proc *p) {
  return p->ppid > 0 && syscall(SYS_kcmp, (pid_t)p->pid, (pid_t)p->ppid, KCMP_VM, 0, 0) == 0;
}

/* One pass: memory of the tree into u, CPU ticks spent since the previous
** pass into *dticks (0 on the first).  Returns -errno if root is gone.
**
** CPU: the tree's total is the sum, over its live processes, of their own
** ticks plus their waited-for children's (cutime, cstime).  A process that
** exits moves its ticks into its parent's cutime when it is reaped, so the
** total keeps them: a worker's last moments, and processes that lived and
** died between two scans, are counted.  Only a sampler's ticks are taken
** out: they join the script's cutime when the script reaps it. */
static int scan_tree(Scan *s, int32_t root, tide_MemUsage *u, uint64_t *dticks) {
  memset(u, 0, sizeof *u);
  int rc = list_procs(s);
  if (rc < 0) return rc;
  if (!find_proc(s, root)) return -ESRCH;
  Seen *prev = s->samplers[s->cur], *cur = s->samplers[!s->cur];
  int np = s->nsamplers[s->cur], nc = 0;
  uint64_t total = 0;
  int unsettled = 0;
  for (int i = 0; i < s->nprocs; i++) {
    Proc *p = &s->procs[i];
    p->measured = 0;
    if (!in_tree(s, p, root)) continue;
    if (p->sampler) {
      if (nc < MAXSAMPLERS) cur[nc++] = (Seen){p->pid, p->start, p->ticks};
      continue;
    }
    total += p->ticks;
    if (p->zombie || shares_parent_mm(p)) continue;
    if (read_memory(s, p->pid, &p->mem) < 0) { /* exiting: its share is lost */
      unsettled = 1;
      continue;
    }
    p->measured = 1;
  }
  /* The kernel gives no snapshot of a tree: a shared page's share is its
  ** size over the processes mapping it when each one is read.  While
  ** workers fault pages in, the parent's share shrinks as theirs grows,
  ** and one pass over the tree can read the parent before and a worker
  ** after (overcounting, by half of a 100 MB array, seen) or the other way
  ** (undercounting: 68 MB for a 200 MB array, seen); while a worker exits
  ** its pages still divide the others' shares but its own can no longer be
  ** read.  So a second pass reads the processes again in reverse order, and
  ** the tree counts as settled only when both passes read every process
  ** and agree within 2% (or 2 MB): then their mean is the sample.
  ** Otherwise the caller reads again a moment later. */
  tide_MemUsage first = {0}, second = {0};
  for (int i = s->nprocs - 1; i >= 0; i--) {
    Proc *p = &s->procs[i];
    if (!p->measured) continue;
    add_usage(&first, &p->mem);
    tide_MemUsage two;
    if (read_memory(s, p->pid, &two) < 0) {
      unsettled = 1;
      continue;
    }
    add_usage(&second, &two);
  }
  int64_t hi = first.pss > second.pss ? first.pss : second.pss;
  int64_t lo = first.pss > second.pss ? second.pss : first.pss;
  if (hi - lo > hi / 50 && hi - lo > ((int64_t)2 << 20)) unsettled = 1;
  u->rss = (first.rss + second.rss) / 2;
  u->pss = (first.pss + second.pss) / 2;
  u->uss = (first.uss + second.uss) / 2;
  u->nproc = second.nproc;
  int64_t d = (int64_t)(total - s->prev_total);
  for (int i = 0; i < np; i++) { /* samplers reaped since the last scan */
    int found = 0;
    for (int j = 0; j < nc && !found; j++)
      found = cur[j].pid == prev[i].pid && cur[j].start == prev[i].start;
    if (!found) d -= (int64_t)prev[i].ticks;
  }
  /* A process leaving the tree (an orphan adopted elsewhere) takes its
  ** ticks along; the interval then shows what is left, never less than 0. */
  *dticks = s->have_prev && d > 0 ? (uint64_t)d : 0;
  s->prev_total = total;
  s->nsamplers[!s->cur] = nc;
  s->cur = !s->cur;
  s->have_prev = 1;
  read_meminfo(s, u);
  /* A process of the tree was exiting: the pages it still mapped were
  ** counted in the others' shares while its own share could not be read,
  ** so the sum is short (seen: 354 MB for a 400 MB array).  The caller
  ** reads again a moment later. */
  return unsettled ? -EAGAIN : 0;
}

/* scan_tree, read again while a process of the tree is exiting (up to
** about 50 ms); then the last reading, whatever it is (*settled = 0). */
static int scan_settled(Scan *s, int32_t root, tide_MemUsage *u, uint64_t *dticks, int *settled) {
  uint64_t d = 0;
  int rc = -EAGAIN;
  for (int tries = 0; tries < 25 && rc == -EAGAIN; tries++) {
    if (tries) usleep(2000);
    uint64_t dt = 0;
    rc = scan_tree(s, root, u, &dt);
    d += dt; /* the ticks of every pass belong to this sample */
  }
  *dticks = d;
  *settled = rc != -EAGAIN;
  return rc == -EAGAIN ? 0 : rc;
}

int tide_memory_tree(pid_t root, tide_MemUsage *out) {
  memset(out, 0, sizeof *out);
  if (root <= 0) root = getpid();
  Scan *s = scan_new();
  if (!s) return tide__syserr(TIDE_ENOMEM, errno, "memory: cannot map scan memory");
  uint64_t dt;
  int settled;
  int rc = scan_settled(s, (int32_t)root, out, &dt, &settled);
  scan_free(s);
  if (rc == -ESRCH) return tide__seterr(TIDE_EINVAL, "memory: no process %ld", (long)root);
  if (rc < 0) return tide__syserr(TIDE_EIO, -rc, "memory: cannot read /proc");
  return TIDE_OK;
}

/* ----------------------------------------------------------- the sampler */

static _Noreturn void sampler_fail(Shared *sh, int err, const char *what) {
  size_t n = strlen(what);
  if (n >= sizeof sh->what) n = sizeof sh->what - 1;
  memcpy(sh->what, what, n);
  sh->what[n] = '\0';
  sh->err = err;
  atomic_store(&sh->state, ST_FAILED);
  fwake(&sh->count);
  _exit(2);
}

/* Leaves the child with only /dev/null on 0-2: an inherited pipe or
** socket of the script must see EOF when the script closes its end. */
static void close_inherited(void) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int fd = 0; fd < 3; fd++)
      if (fd != null) dup2(null, fd);
  }
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
    for (int fd = 3; fd < maxfd; fd++) close(fd);
  }
}

/* Runs in the child of tide__fork (pool.c: the one fork discipline). */
static _Noreturn void sampler_main(Shared *sh, pid_t parent) {
  prctl(PR_SET_NAME, TIDE_MON_COMM);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  close_inherited();

  Scan *s = scan_new();
  if (!s) sampler_fail(sh, errno, "scan memory");
  double next = mono();
  uint64_t last_dticks = 0, carry = 0;
  for (;;) {
    if (getppid() != parent) _exit(0);
    /* Read before the scan: the sample taken after a stop request starts
    ** after it, so the last sample shows the tree as it was at stop. */
    uint32_t stopping = atomic_load(&sh->stop);
    tide_MemUsage u;
    uint64_t dticks;
    double before = mono();
    int settled;
    int rc = scan_settled(s, sh->root, &u, &dticks, &settled);
    double now = mono();
    uint32_t n = atomic_load_explicit(&sh->count, memory_order_relaxed);
    if (rc < 0 && n == 0) sampler_fail(sh, -rc, "/proc");
    /* a tree still exiting after the retries: no sample rather than a
    ** short one (the baseline and the final sample are always taken) */
    if (rc == 0 && !settled && n > 0 && !stopping) {
      carry += dticks; /* its CPU time goes to the next sample */
      rc = 1;
    }
    if (rc == 0) {
      dticks += carry;
      carry = 0;
      if ((int64_t)n >= sh->cap) {
        atomic_store(&sh->full, 1);
      } else {
        tide_MonSample *smp = &sh->samples[n];
        double t = (before + now) / 2 - sh->t0; /* the middle of the scan */
        /* CPU times come in ticks (10 ms): over a short window, such as
        ** the last sample's right after a stop, one tick is a large
        ** percentage.  A window under half the interval reaches back over
        ** the previous sample's too. */
        double from = n > 0 ? sh->samples[n - 1].t : t;
        uint64_t d = dticks;
        if (n >= 2 && t - from < sh->interval / 2) {
          from = sh->samples[n - 2].t;
          d += last_dticks;
        }
        last_dticks = dticks;
        smp->t = t;
        smp->cpu = t > from ? (double)d / sh->clk_tck / (t - from) * 100.0 : 0.0;
        smp->rss = u.rss;
        smp->pss = u.pss;
        smp->uss = u.uss;
        smp->sys_used = u.sys_used;
        smp->nproc = u.nproc;
        atomic_store_explicit(&sh->state, ST_SAMPLING, memory_order_relaxed);
        atomic_store_explicit(&sh->count, n + 1, memory_order_release);
        if (n == 0) fwake(&sh->count);
      }
    }
    if (stopping) break;
    if (atomic_load(&sh->full)) {
      /* Nothing left to write: wait for stop, checking the parent. */
      while (!atomic_load(&sh->stop)) {
        if (getppid() != parent) _exit(0);
        fwait_until(&sh->stop, 0, mono() + 1.0);
      }
      break;
    }
    next += sh->interval;
    if (next <= now) next = now + sh->interval; /* late: skip, do not burst */
    fwait_until(&sh->stop, 0, next);
  }
  _exit(0);
}

/* ------------------------------------------------------------- the owner */

static void reap(tide_Monitor *m, double timeout) {
  double until = mono() + timeout;
  for (;;) {
    int st;
    pid_t r = waitpid(m->sampler, &st, WNOHANG);
    if (r == m->sampler || (r < 0 && errno != EINTR)) break;
    if (mono() > until) {
      kill(m->sampler, SIGKILL);
      while (waitpid(m->sampler, &st, 0) < 0 && errno == EINTR) {}
      break;
    }
    struct timespec ts = {0, 2000000}; /* 2 ms */
    nanosleep(&ts, NULL);
  }
  m->running = 0;
}

int tide_monitor_start(tide_Monitor **out, double interval, int64_t max_samples) {
  *out = NULL;
  if (!(interval >= 0.001 && interval <= 3600))
    return tide__seterr(TIDE_EINVAL, "monitor: interval must be between 0.001 and 3600 "
                                     "seconds (got %g)", interval);
  if (max_samples < 1 || max_samples > TIDE_MON_MAXSAMPLES)
    return tide__seterr(TIDE_EINVAL, "monitor: max_samples must be between 1 and %d "
                        "(got %lld)", TIDE_MON_MAXSAMPLES, (long long)max_samples);
  tide_Monitor *m = tide__calloc(1, sizeof *m);
  if (!m) return tide__seterr(TIDE_ENOMEM, "out of memory");
  long pg = sysconf(_SC_PAGESIZE);
  size_t len = sizeof(Shared) + (size_t)max_samples * sizeof(tide_MonSample);
  len = (len + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
  /* NORESERVE: pages cost memory only as samples fill them. */
  void *p = tide__mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    free(m);
    return tide__syserr(TIDE_ENOMEM, e, "monitor: cannot map %zu bytes for samples", len);
  }
  Shared *sh = p;
  sh->t0 = mono();
  sh->interval = interval;
  sh->cap = max_samples;
  sh->root = (int32_t)getpid();
  long tck = sysconf(_SC_CLK_TCK);
  sh->clk_tck = tck > 0 ? (int32_t)tck : 100;
  m->sh = sh;
  m->maplen = len;
  m->owner = getpid();

  pid_t pid = tide__fork();
  if (pid == 0) { /* the sampler needs only sh: its copy of m goes (valgrind saw it lost) */
    pid_t owner = m->owner;
    free(m);
    sampler_main(sh, owner);
  }
  int err = errno;
  if (pid < 0) {
    munmap(p, len);
    free(m);
    return tide__syserr(TIDE_EIO, err, "monitor: cannot fork the sampler");
  }
  m->sampler = pid;
  m->running = 1;

  /* Wait for the baseline sample, so that what the script does next is
  ** measured against the state before it. */
  double until = mono() + START_TIMEOUT;
  while (atomic_load_explicit(&sh->count, memory_order_acquire) == 0) {
    if (atomic_load(&sh->state) == ST_FAILED) break;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      m->running = 0;
      break;
    }
    if (mono() > until) break;
    fwait_until(&sh->count, 0, mono() + 0.05);
  }
  if (atomic_load(&sh->count) == 0) {
    int failed = atomic_load(&sh->state) == ST_FAILED;
    char what[sizeof sh->what];
    memcpy(what, sh->what, sizeof what);
    int e = sh->err;
    if (m->running) {
      kill(pid, SIGKILL);
      reap(m, STOP_TIMEOUT);
    }
    munmap(p, len);
    free(m);
    if (failed) return tide__syserr(TIDE_EIO, e, "monitor: cannot read %s", what);
    return tide__seterr(TIDE_EIO, "monitor: the sampler took no sample");
  }
  *out = m;
  return TIDE_OK;
}

int tide_monitor_mark(tide_Monitor *m, const char *label) {
  Shared *sh = m->sh;
  if (atomic_load(&sh->stop))
    return tide__seterr(TIDE_ECLOSED, "monitor is stopped");
  double t = mono() - sh->t0;
  uint32_t i = atomic_fetch_add(&sh->nmarks, 1);
  if (i >= TIDE_MON_MAXMARKS)
    return tide__seterr(TIDE_ERANGE, "monitor: more than %d marks", TIDE_MON_MAXMARKS);
  Mark *k = &sh->marks[i];
  size_t n = strlen(label);
  if (n >= TIDE_MON_LABEL) {
    n = TIDE_MON_LABEL - 1;
    while (n > 0 && ((unsigned char)label[n] & 0xC0) == 0x80) n--; /* whole UTF-8 chars */
  }
  k->t = t;
  memcpy(k->label, label, n);
  k->label[n] = '\0';
  atomic_store_explicit(&k->ready, 1, memory_order_release);
  return TIDE_OK;
}

int tide_monitor_stop(tide_Monitor *m) {
  if (!m->running || getpid() != m->owner) return TIDE_OK;
  atomic_store(&m->sh->stop, 1);
  fwake(&m->sh->stop);
  reap(m, STOP_TIMEOUT);
  return TIDE_OK;
}

int tide_monitor_running(const tide_Monitor *m) { return m->running && getpid() == m->owner; }

int tide_monitor_owned(const tide_Monitor *m) { return getpid() == m->owner; }

pid_t tide_monitor_pid(const tide_Monitor *m) { return m->sampler; }

int64_t tide_monitor_count(const tide_Monitor *m) {
  return (int64_t)atomic_load_explicit(&m->sh->count, memory_order_acquire);
}

const tide_MonSample *tide_monitor_samples(const tide_Monitor *m) { return m->sh->samples; }

int tide_monitor_nmarks(const tide_Monitor *m, int *dropped) {
  uint32_t n = atomic_load(&m->sh->nmarks);
  if (dropped) *dropped = n > TIDE_MON_MAXMARKS ? (int)(n - TIDE_MON_MAXMARKS) : 0;
  return n > TIDE_MON_MAXMARKS ? TIDE_MON_MAXMARKS : (int)n;
}

int tide_monitor_getmark(const tide_Monitor *m, int i, double *t, const char **label) {
  if (i < 0 || i >= TIDE_MON_MAXMARKS) return TIDE_ERANGE;
  const Mark *k = &m->sh->marks[i];
  if (!atomic_load_explicit(&k->ready, memory_order_acquire)) return TIDE_ERANGE;
  *t = k->t;
  *label = k->label;
  return TIDE_OK;
}

int tide_monitor_truncated(const tide_Monitor *m) { return (int)atomic_load(&m->sh->full); }

double tide_monitor_interval(const tide_Monitor *m) { return m->sh->interval; }

void tide_monitor_free(tide_Monitor *m) {
  if (!m) return;
  tide_monitor_stop(m);
  munmap(m->sh, m->maplen);
  free(m);
}
