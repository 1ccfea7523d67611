/*
** test_storage.c -- heap, shared, file and borrowed storage; no segment
** name is ever visible; a full tmpfs is an error, not a SIGBUS.
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core.h"

/* Test doubles for system calls storage.c makes: linked ahead of libc's,
** each passes through to the kernel until a test arms it, so the paths of
** a filesystem without O_TMPFILE, a name taken, no getrandom, a failing
** reservation or msync are run for real. */
static int no_tmpfile;     /* O_TMPFILE fails as on a filesystem without it */
static int excl_errno, excl_times; /* the next excl_times O_EXCL creations fail */
static int no_random;
static int fallocate_fail; /* errno for the next posix_fallocate (EINTR: once) */
static int msync_fail;

int open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (no_tmpfile && (flags & O_TMPFILE) == O_TMPFILE) {
    errno = EOPNOTSUPP;
    return -1;
  }
  if ((flags & O_EXCL) && excl_times > 0) {
    excl_times--;
    errno = excl_errno;
    return -1;
  }
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

ssize_t getrandom(void *buf, size_t n, unsigned flags) {
  if (no_random) {
    errno = ENOSYS;
    return -1;
  }
  return (ssize_t)syscall(SYS_getrandom, buf, n, flags);
}

int posix_fallocate(int fd, off_t off, off_t len) {
  if (fallocate_fail) {
    int e = fallocate_fail;
    fallocate_fail = 0;
    return e;
  }
  return (int)syscall(SYS_fallocate, fd, 0, off, len) == 0 ? 0 : errno;
}

int msync(void *p, size_t n, int flags) {
  if (msync_fail) {
    errno = msync_fail;
    msync_fail = 0;
    return -1;
  }
  return (int)syscall(SYS_msync, p, n, flags);
}

static int count_fds(const char *needle) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  char path[300], target[512];
  while (d && (e = readdir(d))) {
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len > 0) {
      target[len] = '\0';
      if (strstr(target, needle)) n++;
    }
  }
  if (d) closedir(d);
  return n;
}

static int count_names(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strncmp(e->d_name, "tide-", 5) == 0) n++;
  if (d) closedir(d);
  return n;
}

static void test_auto_kind(void) {
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_new(1000, TIDE_WHERE_AUTO, &s), TIDE_OK);
  CHECK_EQ_INT(s->kind, TIDE_STORE_HEAP);
  CHECK(((uintptr_t)s->base & 63) == 0);
  tide_storage_unref(s);
  int before = count_fds("memfd:tide");
  CHECK_EQ_INT(tide_storage_new(2u << 20, TIDE_WHERE_AUTO, &s), TIDE_OK);
  CHECK_EQ_INT(s->kind, TIDE_STORE_SHARED);
  CHECK_EQ_INT(count_fds("memfd:tide"), before + 1);
  CHECK(s->base[12345] == 0);
  s->base[(2u << 20) - 1] = 7; /* the whole reservation is writable */
  tide_storage_ref(s);
  tide_storage_unref(s);
  CHECK_EQ_INT(count_fds("memfd:tide"), before + 1);
  tide_storage_unref(s);
  CHECK_EQ_INT(count_fds("memfd:tide"), before);
}

/* Shared segments are visible to a forked child and its writes come back. */
static void test_fork_sharing(void) {
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_new(4096, TIDE_WHERE_SHARED, &s), TIDE_OK);
  pid_t pid = fork();
  if (pid == 0) {
    s->base[100] = 42;
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK_EQ_INT(s->base[100], 42);
  tide_storage_unref(s);
}

static void test_temp_dir_files(void) {
  char dir[] = "/tmp/tide-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s", dir);
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  CHECK_EQ_INT(count_names(dir), 0); /* unlinked at once: no name, even while alive */
  struct stat st;
  CHECK(fstat(s->fd, &st) == 0 && (st.st_mode & 0777) == 0600);
  tide_storage_unref(s);
  /* a missing folder is a clear error */
  snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s/missing", dir);
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot create a shared segment in");
  tide__config.temp_dir[0] = '\0';
  rmdir(dir);
}

static void test_map_file(void) {
  char path[] = "/tmp/tide-map-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unsigned char buf[256];
  for (int i = 0; i < 256; i++) buf[i] = (unsigned char)i;
  CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf);
  close(fd);
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_map_file(path, 'r', 128, 128, &s), TIDE_OK);
  CHECK_EQ_INT(s->base[0], 128);
  CHECK(s->flags & TIDE_SF_READONLY);
  tide_storage_unref(s);
  CHECK_EQ_INT(tide_storage_map_file(path, 'r', 128, 129, &s), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "holds 256 bytes");
  CHECK_EQ_INT(tide_storage_map_file(path, 'c', 0, 256, &s), TIDE_OK);
  s->base[0] = 99; /* private: the file keeps 0 */
  tide_storage_unref(s);
  CHECK_EQ_INT(tide_storage_map_file(path, 'w', 0, 256, &s), TIDE_OK);
  CHECK_EQ_INT(s->base[0], 0);
  s->base[1] = 77;
  CHECK_EQ_INT(tide_storage_flush(s), TIDE_OK);
  tide_storage_unref(s);
  fd = open(path, O_RDONLY);
  CHECK(read(fd, buf, 2) == 2 && buf[1] == 77);
  close(fd);
  CHECK_EQ_INT(tide_storage_map_file("/proc/self", 'r', 0, 1, &s), TIDE_EINVAL);
  CHECK_EQ_INT(tide_storage_map_file("/nonexistent/x", 'r', 0, 1, &s), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "No such file");
  unlink(path);
}

static int released;
static void on_release(void *ud) { released += *(int *)ud; }

static void test_borrow(void) {
  double host[4] = {1, 2, 3, 4};
  int one = 1;
  tide_Storage *s;
  CHECK_EQ_INT(tide_storage_borrow(host, sizeof host, on_release, &one, &s), TIDE_OK);
  tide_Array a;
  CHECK_EQ_INT(tide_array_wrap(&a, s, 0, TIDE_F64, 1, (int64_t[]){4}, NULL), TIDE_OK);
  tide_storage_unref(s);
  CHECK_EQ_INT(released, 0);
  CHECK(a.data == (unsigned char *)host);
  tide_array_close(&a);
  CHECK_EQ_INT(released, 1);
}

/* A tmpfs smaller than the array: ENOSPC at creation, never SIGBUS.  Needs
** mount permission (root outside a restricted container); skipped otherwise. */
static void test_full_tmpfs(void) {
  char dir[] = "/tmp/tide-small-XXXXXX";
  if (!mkdtemp(dir)) return;
  char cmd[200];
  snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=1m tide-test %s 2>/dev/null", dir);
  if (system(cmd) != 0) {
    printf("full tmpfs: skipped (cannot mount a tmpfs here)\n");
    rmdir(dir);
    return;
  }
  snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s", dir);
  tide_Storage *s = NULL;
  CHECK_EQ_INT(tide_storage_new(4u << 20, TIDE_WHERE_SHARED, &s), TIDE_ENOSPC);
  CHECK_STR_HAS(tide_lasterror(), "no room for a 4.2 MB array in");
  CHECK_STR_HAS(tide_lasterror(), dir);
  CHECK(s == NULL);
  CHECK_EQ_INT(count_names(dir), 0);
  CHECK_EQ_INT(tide_storage_new(512u << 10, TIDE_WHERE_SHARED, &s), TIDE_OK);
  if (s) tide_storage_unref(s);
  tide__config.temp_dir[0] = '\0';
  snprintf(cmd, sizeof cmd, "umount %s", dir);
  CHECK(system(cmd) == 0);
  rmdir(dir);
}

/* Big freed segments are kept for reuse, but never one another process
** may map: handed over (adopted) or exported. */
static void test_reuse(void) {
  tide_storage_trim();
  int base = count_fds("memfd:tide");
  tide_Storage *s, *t;
  CHECK_EQ_INT(tide_storage_new(48u << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  s->base[0] = 9;
  unsigned char *where = s->base;
  tide_storage_unref(s);
  CHECK_EQ_INT(count_fds("memfd:tide"), base + 1); /* kept */
  CHECK_EQ_INT(tide_storage_new(48u << 20, TIDE_WHERE_SHARED, &t), TIDE_OK);
  CHECK(t->base == where);    /* reused */
  CHECK_EQ_INT(t->base[0], 0); /* and zeroed */
  int dup = fcntl(t->fd, F_DUPFD_CLOEXEC, 3);
  tide_Storage *a;
  CHECK_EQ_INT(tide_storage_adopt_fd(dup, 48u << 20, &a), TIDE_OK);
  tide_storage_unref(a);         /* adopted: freed, not kept */
  t->flags |= TIDE_SF_EXPORTED;
  tide_storage_unref(t);         /* exported: freed, not kept */
  CHECK_EQ_INT(count_fds("memfd:tide"), base);
  CHECK_EQ_INT(tide_storage_trim(), 0);
}

/* The edges: requests no filesystem has room for (memfd, a folder, and
** /dev/shm falling back to the temp folder, which has none either), a
** kept-segment cache over its count, handed-over descriptors that do not
** fit, file mappings past the end or empty, byte counts in every unit. */
static void test_edges(void) {
  tide_Storage *s = NULL;
  size_t huge = (size_t)1 << 52; /* 4.5 PB */
  int rc = tide_storage_new(huge, TIDE_WHERE_SHARED, &s);
  CHECK(rc == TIDE_ENOSPC || rc == TIDE_ENOMEM); /* memfd pages are memory */
  CHECK_STR_HAS(tide_lasterror(), "4.5 PB");
  CHECK(s == NULL);
  char shm[] = "/dev/shm/tide-test-storage-XXXXXX";
  if (mkdtemp(shm)) {
    snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s", shm);
    CHECK_EQ_INT(tide_storage_new(huge, TIDE_WHERE_SHARED, &s), TIDE_ENOSPC);
    CHECK_STR_HAS(tide_lasterror(), "no room in");
    CHECK_STR_HAS(tide_lasterror(), "either");
    CHECK_EQ_INT(count_names(shm), 0);
    /* the temp folder: /tmp when TMPDIR is empty; one that is missing */
    const char *was = getenv("TMPDIR");
    char saved[600];
    snprintf(saved, sizeof saved, "%s", was ? was : "");
    static const char *const tmps[] = {"", "/nonexistent-tide-dir"};
    for (int i = 0; i < 2; i++) {
      setenv("TMPDIR", tmps[i], 1);
      CHECK_EQ_INT(tide_storage_new(huge, TIDE_WHERE_SHARED, &s), TIDE_ENOSPC);
      CHECK_STR_HAS(tide_lasterror(), i ? "no room in /nonexistent-tide-dir either"
                                        : "no room in /tmp either");
    }
    if (was) setenv("TMPDIR", saved, 1);
    else unsetenv("TMPDIR");
    /* a small one goes to the folder as usual */
    CHECK_EQ_INT(tide_storage_new(1 << 16, TIDE_WHERE_SHARED, &s), TIDE_OK);
    tide_storage_unref(s);
    tide__config.temp_dir[0] = '\0';
    rmdir(shm);
  }
  char tmp[] = "/tmp/tide-test-storage-XXXXXX";
  if (mkdtemp(tmp)) {
    snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s", tmp);
    CHECK_EQ_INT(tide_storage_new(huge, TIDE_WHERE_SHARED, &s), TIDE_ENOSPC);
    CHECK_STR_HAS(tide_lasterror(), tmp);
    tide__config.temp_dir[0] = '\0';
    rmdir(tmp);
  }
  /* more kept segments than the cache holds: the oldest are let go */
  tide_storage_trim();
  int base = count_fds("memfd:tide");
  tide_Storage *k[6];
  for (int i = 0; i < 6; i++)
    CHECK_EQ_INT(tide_storage_new(((size_t)32 << 20) + (size_t)i * 4096, TIDE_WHERE_SHARED, &k[i]),
                 TIDE_OK);
  for (int i = 0; i < 6; i++) tide_storage_unref(k[i]);
  CHECK_EQ_INT(count_fds("memfd:tide"), base + 4);
  /* a request of another size does not take a kept one */
  CHECK_EQ_INT(tide_storage_new(((size_t)33 << 20), TIDE_WHERE_SHARED | TIDE_WHERE_UNINIT, &s),
               TIDE_OK);
  CHECK_EQ_INT(count_fds("memfd:tide"), base + 5);
  tide_storage_unref(s);
  CHECK(tide_storage_trim() >= (size_t)4 * (32 << 20));
  CHECK_EQ_INT(count_fds("memfd:tide"), base);
  /* handed-over descriptors: not one, too small, empty */
  CHECK_EQ_INT(tide_storage_adopt_fd(-1, 10, &s), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot stat a handed-over segment");
  tide_Storage *src;
  CHECK_EQ_INT(tide_storage_new(4096, TIDE_WHERE_SHARED, &src), TIDE_OK);
  int dup = fcntl(src->fd, F_DUPFD_CLOEXEC, 3);
  CHECK_EQ_INT(tide_storage_adopt_fd(dup, 8192, &s), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "holds 4096 bytes, expected 8192");
  CHECK_EQ_INT(tide_storage_adopt_fd(dup, 0, &s), TIDE_OK); /* takes and closes dup */
  CHECK(s && s->kind == TIDE_STORE_HEAP);
  CHECK(fcntl(dup, F_GETFD) < 0);
  tide_storage_unref(s);
  /* file mappings: past the end, empty, a folder */
  int fd = src->fd;
  CHECK_EQ_INT(tide_storage_map_fd(fd, "seg", 'r', 5000, 1, &s), TIDE_EFORMAT);
  CHECK_STR_HAS(tide_lasterror(), "seg holds 4096 bytes but its header describes 5001");
  CHECK_EQ_INT(tide_storage_map_fd(fd, "seg", 'r', 4000, 0, &s), TIDE_OK);
  CHECK(s->base != NULL && s->nbytes == 0);
  CHECK_EQ_INT(tide_storage_flush(s), TIDE_OK); /* nothing mapped: nothing to flush */
  tide_storage_unref(s);
  CHECK_EQ_INT(tide_storage_map_fd(-1, "none", 'r', 0, 1, &s), TIDE_EIO);
  int dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK_EQ_INT(tide_storage_map_fd(dfd, "/tmp", 'r', 0, 1, &s), TIDE_EINVAL);
  close(dfd);
  CHECK_EQ_INT(tide_storage_flush(src), TIDE_OK); /* not a file: nothing to do */
  CHECK_EQ_INT(tide_storage_flush(NULL), TIDE_OK);
  tide_storage_unref(src);
  tide_storage_unref(NULL);
  char b[32];
  CHECK_STR_HAS(tide_fmt_bytes(12, b, sizeof b), "12 bytes");
  CHECK_STR_HAS(tide_fmt_bytes(1.5e3, b, sizeof b), "1.5 kB");
  CHECK_STR_HAS(tide_fmt_bytes(3e18, b, sizeof b), "3000.0 PB");
}

static int frees, frees_clean;
static void on_free(void *ud, uint32_t tag, int clean) {
  (void)ud;
  (void)tag;
  frees++;
  frees_clean += clean;
}

/* A shared segment made where the file size is limited (a full disk). */
static int segment_on_full_disk(void *ud) {
  const char *dir = ud;
  tide_Storage *t = NULL;
  int r = tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &t);
  return r == TIDE_ENOSPC && strstr(tide_lasterror(), "no room for a 1.0 MB array in") &&
         strstr(tide_lasterror(), dir) && !t ? 0 : 1;
}

/* Segments in a folder whose filesystem has no O_TMPFILE: an O_EXCL file
** with a random name (another when the name is taken, one from the pid and
** the clock without getrandom), unlinked at once; an error other than a
** taken name, a reservation that fails or is interrupted: each a clear
** error or a segment, and no name left in the folder either way. */
static void test_no_tmpfile(void) {
  char dir[] = "/tmp/tide-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  snprintf(tide__config.temp_dir, sizeof tide__config.temp_dir, "%s", dir);
  tide_Storage *s = NULL;
  no_tmpfile = 1;
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  CHECK(s && s->base[(1 << 20) - 1] == 0);
  CHECK_EQ_INT(count_names(dir), 0);
  struct stat st;
  CHECK(fstat(s->fd, &st) == 0 && st.st_nlink == 0 && (st.st_mode & 0777) == 0600);
  tide_storage_unref(s);
  excl_errno = EEXIST; /* two names taken: the third is free */
  excl_times = 2;
  no_random = 1;
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  no_random = 0;
  CHECK_EQ_INT(excl_times, 0);
  tide_storage_unref(s);
  /* sixteen taken: given up; a folder that refuses: at once */
  for (int k = 0; k < 2; k++) {
    excl_errno = k ? EACCES : EEXIST;
    excl_times = k ? 1 : 16;
    s = NULL;
    CHECK(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s) < 0 && s == NULL);
    CHECK_STR_HAS(tide_lasterror(), "cannot create a shared segment in");
    CHECK_STR_HAS(tide_lasterror(), k ? "Permission denied" : "File exists");
    CHECK_EQ_INT(excl_times, 0);
  }
  /* reservations: refused by the filesystem, interrupted, too big for the
  ** file size limit */
  fallocate_fail = EIO;
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "cannot reserve");
  fallocate_fail = EINTR;
  CHECK_EQ_INT(tide_storage_new(1 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  tide_storage_unref(s);
  CHECK_EQ_INT(count_names(dir), 0);
  no_tmpfile = 0;
  CHECK_EQ_INT(check_fsize_child(1 << 16, segment_on_full_disk, (void *)dir), 0);
  CHECK_EQ_INT(count_names(dir), 0);
  tide__config.temp_dir[0] = '\0';
  CHECK(rmdir(dir) == 0);
}

/* The storage behind a descriptor (the MPI backend's question), msync
** failing and not asked for, an empty shared request (heap), a segment of
** another generation (a worker's) not kept, and on_free told whether the
** segment was only ever this process's. */
static void test_more_edges(void) {
  tide_Storage *a, *h, *s;
  CHECK(tide__storage_of_fd(-1) == NULL);
  CHECK_EQ_INT(tide_storage_new(100, TIDE_WHERE_HEAP, &h), TIDE_OK); /* no descriptor */
  CHECK_EQ_INT(tide_storage_new(4096, TIDE_WHERE_SHARED, &a), TIDE_OK);
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(tide__storage_of_fd(p[0]) == NULL);
  close(p[0]);
  close(p[1]);
  int dup = fcntl(a->fd, F_DUPFD_CLOEXEC, 3);
  CHECK(tide__storage_of_fd(dup) == a);
  close(dup);
  tide_storage_unref(h);
  /* msync */
  char path[] = "/tmp/tide-map-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0 && ftruncate(fd, 8192) == 0);
  close(fd);
  CHECK_EQ_INT(tide_storage_map_file(path, 'w', 0, 8192, &s), TIDE_OK);
  msync_fail = EIO;
  CHECK_EQ_INT(tide_storage_flush(s), TIDE_EIO);
  CHECK_STR_HAS(tide_lasterror(), "msync of");
  CHECK_STR_HAS(tide_lasterror(), path);
  tide_storage_unref(s);
  CHECK_EQ_INT(tide_storage_map_file(path, 'c', 0, 8192, &s), TIDE_OK);
  msync_fail = EIO;
  CHECK_EQ_INT(tide_storage_flush(s), TIDE_OK); /* private: nothing goes to the file */
  CHECK_EQ_INT(msync_fail, EIO);
  msync_fail = 0;
  tide_storage_unref(s);
  unlink(path);
  /* empty and shared: a heap block */
  CHECK_EQ_INT(tide_storage_new(0, TIDE_WHERE_SHARED, &s), TIDE_OK);
  CHECK(s->kind == TIDE_STORE_HEAP && s->nbytes == 0 && s->base != NULL);
  tide_storage_unref(s);
  /* another generation's segment is not kept */
  tide_storage_trim();
  int base = count_fds("memfd:tide");
  CHECK_EQ_INT(tide_storage_new((size_t)32 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  tide__config.gen++;
  tide_storage_unref(s);
  tide__config.gen--;
  CHECK_EQ_INT(count_fds("memfd:tide"), base);
  CHECK_EQ_INT(tide_storage_trim(), 0);
  /* on_free: clean unless the descriptor was sent */
  frees = frees_clean = 0;
  a->on_free = on_free;
  tide_storage_unref(a);
  CHECK_EQ_INT(tide_storage_new(4096, TIDE_WHERE_SHARED, &a), TIDE_OK);
  a->on_free = on_free;
  a->flags |= TIDE_SF_SENT;
  tide_storage_unref(a);
  CHECK_EQ_INT(frees, 2);
  CHECK_EQ_INT(frees_clean, 1);
}

#ifdef TIDE_FAULTS
/* Acquisitions failed where tide gets around them or must report them: a
** kept segment's reuse (the storage for it cannot be made: a new segment
** instead), an empty handed-over segment, a borrowed buffer. */
static void test_storage_faults(void) {
  tide_storage_trim();
  int base = count_fds("memfd:tide");
  tide_Storage *s, *t = NULL;
  CHECK_EQ_INT(tide_storage_new((size_t)32 << 20, TIDE_WHERE_SHARED, &s), TIDE_OK);
  tide_storage_unref(s); /* kept */
  CHECK_EQ_INT(count_fds("memfd:tide"), base + 1);
  tide__fault_arm(1, 0);
  CHECK_EQ_INT(tide_storage_new((size_t)32 << 20, TIDE_WHERE_SHARED, &t), TIDE_OK);
  CHECK_EQ_INT(tide__fault_fired(), 1);
  tide__fault_arm(0, 0);
  CHECK_EQ_INT(count_fds("memfd:tide"), base + 2); /* a new one: the kept one stays */
  tide_storage_unref(t);
  CHECK(tide_storage_trim() > 0);
  CHECK_EQ_INT(count_fds("memfd:tide"), base);
  int p[2];
  CHECK(pipe(p) == 0);
  tide__fault_arm(1, 0);
  CHECK_EQ_INT(tide_storage_adopt_fd(p[0], 0, &s), TIDE_ENOMEM);
  tide__fault_arm(0, 0);
  CHECK(s == NULL && fcntl(p[0], F_GETFD) >= 0); /* still the caller's */
  close(p[0]);
  close(p[1]);
  double host[2];
  tide__fault_arm(1, 0);
  CHECK_EQ_INT(tide_storage_borrow(host, sizeof host, NULL, NULL, &s), TIDE_ENOMEM);
  tide__fault_arm(0, 0);
  CHECK(s == NULL);
}
#endif

int main(void) {
  test_reuse();
  test_auto_kind();
  test_fork_sharing();
  test_temp_dir_files();
  test_map_file();
  test_borrow();
  test_full_tmpfs();
  test_edges();
  test_no_tmpfile();
  test_more_edges();
#ifdef TIDE_FAULTS
  test_storage_faults();
#endif
  char b[32];
  CHECK_STR_HAS(tide_fmt_bytes(2.0e9, b, sizeof b), "2.0 GB");
  return check_done();
}
