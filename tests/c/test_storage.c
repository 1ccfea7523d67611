/*
** test_storage.c -- heap, shared, file and borrowed storage; no segment
** name is ever visible; a full tmpfs is an error, not a SIGBUS.
*/
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core.h"

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

int main(void) {
  test_reuse();
  test_auto_kind();
  test_fork_sharing();
  test_temp_dir_files();
  test_map_file();
  test_borrow();
  test_full_tmpfs();
  char b[32];
  CHECK_STR_HAS(tide_fmt_bytes(2.0e9, b, sizeof b), "2.0 GB");
  return check_done();
}
