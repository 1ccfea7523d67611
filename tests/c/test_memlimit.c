/*
** test_memlimit.c -- the memory figure big allocations are checked against
** (MemAvailable + SwapFree, cgroup v1 and v2 limits up the tree), read from
** fake /proc and /sys trees; refusals name both sizes and leave nothing
** behind; free disk space bounds memmaps and file segments.
*/
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core.h"
#include "io.h"
#include "ops.h"

static char top[] = "/tmp/tide-memlimit-XXXXXX";

/* Writes text to top/sub/path, making the folders on the way. */
static void put(const char *sub, const char *path, const char *text) {
  char full[1024];
  snprintf(full, sizeof full, "%s/%s%s", top, sub, path);
  for (char *p = full + strlen(top) + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    mkdir(full, 0700);
    *p = '/';
  }
  FILE *f = fopen(full, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static void use(const char *sub) {
  char r[1024];
  snprintf(r, sizeof r, "%s/%s", top, sub);
  tide__memlimit_root(r);
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n;
}

static int count_memfds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  char path[300], target[512];
  while (d && (e = readdir(d))) {
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len > 0) {
      target[len] = '\0';
      if (strstr(target, "memfd:tide")) n++;
    }
  }
  if (d) closedir(d);
  return n;
}

#define NOLIMIT_V1 "9223372036854771712\n"

/* A hybrid system: v1 memory hierarchy, v2 mounted without the memory
** controller.  The limit sits on the parent of the process's cgroup. */
static void test_v1_parent_limit(void) {
  put("v1", "/proc/meminfo", "MemTotal:       16000000 kB\nMemFree:  100 kB\n"
                             "MemAvailable:    8000000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n");
  put("v1", "/proc/self/cgroup", "9:pids:/\n4:memory:/a/b\n1:cpu,cpuacct:/\n0::/\n");
  put("v1", "/proc/self/mountinfo",
      "30 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "33 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct\n"
      "35 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
      "40 30 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
  put("v1", "/sys/fs/cgroup/memory/memory.limit_in_bytes", NOLIMIT_V1);
  put("v1", "/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "2147483648\n");
  put("v1", "/sys/fs/cgroup/memory/a/memory.usage_in_bytes", "1073741824\n");
  put("v1", "/sys/fs/cgroup/memory/a/memory.stat",
      "cache 1\ninactive_file 5\ntotal_cache 7\ntotal_inactive_file 268435456\n");
  put("v1", "/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", NOLIMIT_V1);
  put("v1", "/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "4096\n");
  use("v1");
  /* 2 GiB - (1 GiB - 256 MiB of inactive page cache) */
  CHECK_EQ_INT(tide_memory_available(), 1342177280);
  CHECK_EQ_INT(tide__admit_memory(1000000000, "a shared array"), TIDE_OK);
  CHECK_EQ_INT(tide__admit_memory(8000000000, "a shared array"), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 8.0 GB for a shared array: 1.3 GB available");
  CHECK_STR_HAS(tide_lasterror(), "memory cgroup limit 2.1 GB");
  /* The numbers are read again at every check; the paths are kept. */
  put("v1", "/sys/fs/cgroup/memory/a/memory.usage_in_bytes", "2147483648\n");
  CHECK_EQ_INT(tide_memory_available(), 268435456);
  /* A limit on the process's own cgroup counts too. */
  put("v1", "/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "104857600\n");
  CHECK_EQ_INT(tide_memory_available(), 104857600 - 4096);
}

/* cgroup v2 only: "max" is no limit, the parent's memory.max applies. */
static void test_v2(void) {
  put("v2", "/proc/meminfo", "MemAvailable: 100000000 kB\nSwapFree: 5 kB\n");
  put("v2", "/proc/self/cgroup", "0::/x/y\n");
  put("v2", "/proc/self/mountinfo",
      "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n");
  put("v2", "/sys/fs/cgroup/x/y/memory.max", "max\n");
  put("v2", "/sys/fs/cgroup/x/y/memory.current", "123\n");
  put("v2", "/sys/fs/cgroup/x/memory.max", "3221225472\n");
  put("v2", "/sys/fs/cgroup/x/memory.current", "2147483648\n");
  put("v2", "/sys/fs/cgroup/x/memory.stat", "anon 1\nactive_file 9\ninactive_file 1073741824\n");
  use("v2");
  CHECK_EQ_INT(tide_memory_available(), 2147483648);
  /* Without a limit anywhere: the machine's figure, swap included. */
  put("v2", "/sys/fs/cgroup/x/memory.max", "max\n");
  CHECK_EQ_INT(tide_memory_available(), (100000000LL + 5) * 1024);
  CHECK_EQ_INT(tide__admit_memory(8000000000, "an array"), TIDE_OK);
}

/* A mount that shows only part of the hierarchy (a container without a
** cgroup namespace): its root is stripped from the process's path, and a
** mount of another part is passed over. */
static void test_mount_root(void) {
  put("ns", "/proc/meminfo", "MemAvailable: 100000000 kB\n");
  put("ns", "/proc/self/cgroup", "0::/docker/abc/sub\n");
  put("ns", "/proc/self/mountinfo",
      "50 40 0:22 /other /mnt/other rw - cgroup2 cgroup2 rw\n"
      "51 40 0:22 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n");
  put("ns", "/sys/fs/cgroup/sub/memory.max", "1048576000\n");
  put("ns", "/sys/fs/cgroup/sub/memory.current", "0\n");
  put("ns", "/mnt/other/sub/memory.max", "1\n");
  use("ns");
  CHECK_EQ_INT(tide_memory_available(), 1048576000);
}

/* Old kernels without MemAvailable; no cgroup file at all.  Small requests
** are never checked; big ones are refused before anything is made. */
static void test_small_machine(void) {
  put("old", "/proc/meminfo",
      "MemTotal: 64000 kB\nMemFree: 1000 kB\nBuffers: 1000 kB\nCached: 2000 kB\nSwapFree: 1000 kB\n");
  use("old");
  CHECK_EQ_INT(tide_memory_available(), 5000 * 1024);
  CHECK_EQ_INT(tide__admit_memory(512 << 10, "x"), TIDE_OK);
  CHECK_EQ_INT(tide__admit_memory(6 << 20, "x"), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 6.3 MB for x: 5.1 MB available");
  tide_storage_trim();
  int fds = count_memfds();
  tide_Storage *s = NULL;
  CHECK_EQ_INT(tide_storage_new(8 << 20, TIDE_WHERE_SHARED, &s), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 8.4 MB for a shared array: 5.1 MB available");
  CHECK(s == NULL);
  CHECK_EQ_INT(count_memfds(), fds);
  CHECK_EQ_INT(tide_storage_new(8 << 20, TIDE_WHERE_HEAP, &s), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 8.4 MB for an array: 5.1 MB available");
  CHECK_EQ_INT(tide_storage_new(4 << 20, TIDE_WHERE_AUTO, &s), TIDE_OK);
  tide_storage_unref(s);
  CHECK_EQ_INT(tide_storage_new(64 << 10, TIDE_WHERE_SHARED, &s), TIDE_OK); /* unchecked */
  tide_storage_unref(s);
  tide_Array a;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 2, (int64_t[]){1000, 1000}, TIDE_WHERE_AUTO),
               TIDE_ENOMEM);
  /* Nothing to read: no limit known. */
  use("nothing");
  CHECK(tide_memory_available() == UINT64_MAX);
}

/* A reduction's accumulator, 8 bytes an output whatever the output's
** dtype, is admitted as arrays are: all() down 2 x 700,000 bools makes
** 700 kB of output (unchecked) and 5.6 MB of counts, past the 5.1 MB. */
static void test_reduction(void) {
  use("nothing");
  tide_Array b, r;
  CHECK_EQ_INT(tide_array_new(&b, TIDE_BOOL, 2, (int64_t[]){2, 700000}, TIDE_WHERE_HEAP), TIDE_OK);
  use("old");
  CHECK_EQ_INT(tide_reduce(TIDE_RALL, &b, 0, 0, &r), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 5.6 MB for a reduction's accumulators");
  CHECK(r.storage == NULL);
  CHECK_EQ_INT(tide_reduce(TIDE_RALL, &b, 1, 0, &r), TIDE_OK); /* 2 outputs */
  CHECK_EQ_INT(r.shape[0], 2);
  tide_array_close(&r);
  tide_array_close(&b);
  use("nothing");
}

/* The real machine: sizes past any memory are refused, overflowing
** shapes are errors, and the process goes on. */
static void test_real(void) {
  tide__memlimit_root(NULL);
  uint64_t avail = tide_memory_available();
  CHECK(avail > 0 && avail < UINT64_MAX);
  tide_storage_trim();
  int fds = count_memfds();
  tide_Array a;
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 1, (int64_t[]){(int64_t)1 << 53}, TIDE_WHERE_AUTO),
               TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 72.1 PB for a shared array: ");
  CHECK_EQ_INT(tide_array_new(&a, TIDE_U8, 1, (int64_t[]){(int64_t)1 << 45},
                              TIDE_WHERE_HEAP), TIDE_ENOMEM);
  CHECK_STR_HAS(tide_lasterror(), "cannot allocate 35.2 TB for an array: ");
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 1, (int64_t[]){(int64_t)1 << 62}, TIDE_WHERE_AUTO),
               TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "overflows");
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 2, (int64_t[]){1000000000, 1000000000},
                              TIDE_WHERE_AUTO), TIDE_EINVAL);
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 3, (int64_t[]){1 << 30, 1 << 30, 1 << 30},
                              TIDE_WHERE_AUTO), TIDE_EINVAL);
  CHECK_EQ_INT(count_memfds(), fds);
  CHECK_EQ_INT(tide_array_new(&a, TIDE_F64, 1, (int64_t[]){1 << 18}, TIDE_WHERE_AUTO), TIDE_OK);
  tide_array_close(&a);
}

/* Files: a memmap past the free disk space is refused before the file
** exists, and so is a shared segment in a temp folder on a disk. */
static void test_disk(void) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/files", top);
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(path, sizeof path, "%s/huge.npy", dir);
  tide_Array a;
  CHECK_EQ_INT(tide_npy_create(path, TIDE_F64, 1, (int64_t[]){(int64_t)1 << 55}, &a),
               TIDE_ENOSPC);
  CHECK_STR_HAS(tide_lasterror(), "no room for a 288.2 PB array in ");
  CHECK_STR_HAS(tide_lasterror(), "huge.npy: ");
  CHECK_STR_HAS(tide_lasterror(), " free on its ");
  CHECK_EQ_INT(count_entries(dir), 0);
  snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s", dir);
  tide_Storage *s = NULL;
  int rc = tide_storage_new((size_t)1 << 55, TIDE_WHERE_SHARED, &s);
  CHECK(rc == TIDE_ENOSPC || rc == TIDE_ENOMEM); /* ENOMEM when the folder is a tmpfs */
  CHECK_STR_HAS(tide_lasterror(), "36.0 PB");
  CHECK(s == NULL);
  CHECK_EQ_INT(count_entries(dir), 0);
  tide__config.temp_dir[0] = '\0';
}

int main(void) {
  CHECK(mkdtemp(top) != NULL);
  test_v1_parent_limit();
  test_v2();
  test_mount_root();
  test_small_machine();
  test_reduction();
  test_real();
  test_disk();
  tide__memlimit_root(NULL);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", top);
  CHECK(system(cmd) == 0);
  return check_done();
}
