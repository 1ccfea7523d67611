/*
** memlimit.c -- how much memory this process can still get, and the
** admission checks that refuse an allocation before it can hurt.
**
** Linux overcommits: a segment reserved with posix_fallocate on a memfd
** makes every page real, and a heap array is zeroed page by page, so a
** request bigger than what is left does not fail -- the OOM killer ends
** this process (inside a memory cgroup) or others (outside one).  So big
** requests are compared first with the smallest of:
**
**   - MemAvailable + SwapFree of /proc/meminfo (the machine);
**   - for the memory cgroup of this process and each of its parents (a
**     parent's limit applies to its children): limit - usage, where the
**     usage leaves out inactive page cache, which the kernel reclaims
**     before it kills anything.  cgroup v2: memory.max, memory.current,
**     inactive_file of memory.stat; v1: memory.limit_in_bytes,
**     memory.usage_in_bytes, total_inactive_file.  "max" (v2) or a huge
**     number (v1's 9223372036854771712) means no limit.
**
** Where the cgroups are is found once per process, from /proc/self/cgroup
** and the mounts of /proc/self/mountinfo (a v1 memory hierarchy, a v2
** one, or both on hybrid systems); the numbers are read again at every
** check.  Reading them costs some tens of microseconds, so requests under
** TIDE_ADMIT_MIN are never checked.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "core.h"

#define NONE UINT64_MAX
#define HUGE_LIMIT ((uint64_t)1 << 62) /* at or above: no limit */
#define TMPFS_MAGIC_ 0x01021994
#define RAMFS_MAGIC_ 0x858458f6

/* A prefix for every /proc and /sys path ("" in use; a fake tree in tests). */
static char root[512];

/* The cgroup folders of this process: one per hierarchy with a memory
** controller; walking up stops at the hierarchy's mount point. */
typedef struct Chain {
  char dir[PATH_MAX];
  size_t top; /* length of the mount point's path in dir */
  int v2;
} Chain;

static struct {
  int known;
  int n;
  Chain c[2];
} cg;

/* The last reading, so that a run of modest allocations reads /proc and
** the cgroup files (about 40 us) once per 50 ms, not once each: a request
** under an eighth of what was free that recently cannot be the one that
** takes the machine down. */
static uint64_t last_room;
static double last_at = -1;

void tide__memlimit_root(const char *r) {
  snprintf(root, sizeof root, "%s", r ? r : "");
  cg.known = 0;
  last_at = -1;
}

/* Reads a small file under root into buf; its length, or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap) {
  char full[PATH_MAX + 512];
  snprintf(full, sizeof full, "%s%s", root, path);
  int fd = open(full, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* The number in dir/name; NONE when absent, "max" or huge. */
static uint64_t read_limit(const char *dir, const char *name) {
  char path[PATH_MAX + 64], buf[64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (slurp(path, buf, sizeof buf) <= 0) return NONE;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(buf, &end, 10);
  if (end == buf || errno || v >= HUGE_LIMIT) return NONE;
  return (uint64_t)v;
}

static const char *next_line(const char *p) {
  p = strchr(p, '\n');
  return p ? p + 1 : NULL;
}

/* The value of "key N" in a memory.stat; 0 when absent. */
static uint64_t stat_field(const char *dir, const char *key) {
  char path[PATH_MAX + 64], buf[8192];
  snprintf(path, sizeof path, "%s/memory.stat", dir);
  if (slurp(path, buf, sizeof buf) <= 0) return 0;
  size_t k = strlen(key);
  for (const char *line = buf; line; line = next_line(line))
    if (strncmp(line, key, k) == 0 && line[k] == ' ') return strtoull(line + k + 1, NULL, 10);
  return 0;
}

/* What one cgroup folder still allows; NONE without a limit. */
static uint64_t cgroup_room(const char *dir, int v2, uint64_t *limit) {
  uint64_t lim = read_limit(dir, v2 ? "memory.max" : "memory.limit_in_bytes");
  if (lim == NONE) return NONE;
  uint64_t used = read_limit(dir, v2 ? "memory.current" : "memory.usage_in_bytes");
  if (used == NONE) used = 0;
  uint64_t cache = stat_field(dir, v2 ? "inactive_file" : "total_inactive_file");
  used = used > cache ? used - cache : 0;
  *limit = lim;
  return lim > used ? lim - used : 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
        s[3] >= '0' && s[3] <= '7') {
      *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    } else {
      *o++ = *s;
    }
  }
  *o = '\0';
}

/* Whether the comma-separated list has the word. */
static int has_word(const char *list, const char *word) {
  size_t k = strlen(word);
  for (const char *p = list; p;) {
    if (strncmp(p, word, k) == 0 && (p[k] == ',' || p[k] == '\0' || p[k] == '\n')) return 1;
    p = strchr(p, ',');
    if (p) p++;
  }
  return 0;
}

/* Adds the folder of cgroup path cpath in the first mount of the right
** kind (v2: cgroup2; v1: cgroup with the memory controller). */
static void add_chain(FILE *mi, const char *cpath, int v2) {
  char *line = NULL;
  size_t cap = 0;
  rewind(mi);
  while (getline(&line, &cap, mi) > 0 && cg.n < 2) {
    /* id parent maj:min root mountpoint options [optional...] - type source super */
    char *f[6], *save = NULL, *tok = strtok_r(line, " \n", &save);
    int nf = 0;
    while (tok && nf < 6) {
      f[nf++] = tok;
      tok = strtok_r(NULL, " \n", &save);
    }
    while (tok && strcmp(tok, "-") != 0) tok = strtok_r(NULL, " \n", &save);
    char *type = tok ? strtok_r(NULL, " \n", &save) : NULL;
    char *src = type ? strtok_r(NULL, " \n", &save) : NULL;
    char *super = src ? strtok_r(NULL, " \n", &save) : NULL;
    if (nf < 5 || !super) continue;
    if (v2 ? strcmp(type, "cgroup2") != 0
           : (strcmp(type, "cgroup") != 0 || !has_word(super, "memory")))
      continue;
    char *mroot = f[3], *mpoint = f[4];
    unescape(mroot);
    unescape(mpoint);
    /* The mount shows the hierarchy from mroot down: strip it from cpath. */
    size_t rl = strcmp(mroot, "/") == 0 ? 0 : strlen(mroot);
    if (rl && (strncmp(cpath, mroot, rl) != 0 || (cpath[rl] != '/' && cpath[rl] != '\0')))
      continue;
    const char *rest = cpath + rl;
    if (strcmp(rest, "/") == 0) rest = "";
    Chain *c = &cg.c[cg.n];
    if ((size_t)snprintf(c->dir, sizeof c->dir, "%s%s", mpoint, rest) >= sizeof c->dir) continue;
    c->top = strlen(mpoint);
    c->v2 = v2;
    cg.n++;
    break;
  }
  free(line);
}

/* Finds this process's memory cgroups (once). */
static void find_cgroups(void) {
  if (cg.known) return;
  cg.known = 1;
  cg.n = 0;
  char buf[4096], mpath[PATH_MAX + 512];
  if (slurp("/proc/self/cgroup", buf, sizeof buf) <= 0) return;
  snprintf(mpath, sizeof mpath, "%s/proc/self/mountinfo", root);
  FILE *mi = fopen(mpath, "re");
  if (!mi) return;
  /* "hierarchy-id:controllers:path"; v2's line is "0::path". */
  for (char *line = buf; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2) {
      *c2 = '\0';
      if (strcmp(line, "0:") == 0 && c1[1] == '\0') add_chain(mi, c2 + 1, 1);
      else if (has_word(c1 + 1, "memory")) add_chain(mi, c2 + 1, 0);
    }
    line = nl ? nl + 1 : NULL;
  }
  fclose(mi);
}

/* MemAvailable + SwapFree; NONE when /proc/meminfo cannot be read. */
static uint64_t machine_room(void) {
  char buf[8192];
  if (slurp("/proc/meminfo", buf, sizeof buf) <= 0) return NONE;
  int64_t avail = -1, mfree = 0, buffers = 0, cached = 0, swap = 0;
  for (const char *line = buf; line && *line;) {
    const char *v = strchr(line, ':');
    if (!v) break;
    int64_t kb = strtoll(v + 1, NULL, 10);
    if (strncmp(line, "MemAvailable:", 13) == 0) avail = kb;
    else if (strncmp(line, "MemFree:", 8) == 0) mfree = kb;
    else if (strncmp(line, "Buffers:", 8) == 0) buffers = kb;
    else if (strncmp(line, "Cached:", 7) == 0) cached = kb;
    else if (strncmp(line, "SwapFree:", 9) == 0) swap = kb;
    line = next_line(line);
  }
  if (avail < 0) avail = mfree + buffers + cached; /* kernels before 3.14 */
  return (uint64_t)(avail + swap) * 1024;
}

/* The figure, and the cgroup limit that set it (0 when the machine did). */
static uint64_t available(uint64_t *bylimit) {
  uint64_t best = machine_room();
  *bylimit = 0;
  find_cgroups();
  for (int i = 0; i < cg.n; i++) {
    char dir[PATH_MAX];
    memcpy(dir, cg.c[i].dir, sizeof dir);
    for (;;) {
      uint64_t lim, r = cgroup_room(dir, cg.c[i].v2, &lim);
      if (r < best) {
        best = r;
        *bylimit = lim;
      }
      char *slash = strrchr(dir, '/');
      if (strlen(dir) <= cg.c[i].top || !slash || (size_t)(slash - dir) < cg.c[i].top) break;
      *slash = '\0';
    }
  }
  return best;
}

uint64_t tide_memory_available(void) {
  uint64_t lim;
  return available(&lim);
}

int tide__admit_memory(uint64_t nbytes, const char *what) {
  if (nbytes < TIDE_ADMIT_MIN) return TIDE_OK;
  double now = tide_now();
  if (last_at >= 0 && now - last_at < 0.05 && nbytes <= last_room / 8) return TIDE_OK;
  uint64_t lim, room = available(&lim);
  last_room = room;
  last_at = now;
  if (nbytes <= room) return TIDE_OK;
  char b[32], r[32], l[32];
  tide_fmt_bytes((double)nbytes, b, sizeof b);
  tide_fmt_bytes((double)room, r, sizeof r);
  if (lim)
    return tide__seterr(TIDE_ENOMEM, "cannot allocate %s for %s: %s available "
                        "(memory cgroup limit %s)", b, what, r,
                        tide_fmt_bytes((double)lim, l, sizeof l));
  return tide__seterr(TIDE_ENOMEM, "cannot allocate %s for %s: %s available", b, what, r);
}

int tide__fs_room(int fd, uint64_t *room, int *in_memory) {
  struct statfs sf;
  struct statvfs sv;
  *room = NONE;
  *in_memory = 0;
  if (fstatfs(fd, &sf) != 0 || fstatvfs(fd, &sv) != 0)
    return tide__syserr(tide__errno_code(errno), errno, "cannot read the free space");
  *in_memory = sf.f_type == TMPFS_MAGIC_ || sf.f_type == RAMFS_MAGIC_;
  /* No blocks at all: a filesystem without a size (memfd's, ramfs). */
  if (sv.f_blocks > 0) {
    uint64_t fr = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    *room = (uint64_t)sv.f_bavail > NONE / fr ? NONE : (uint64_t)sv.f_bavail * fr;
  }
  return TIDE_OK;
}
