/*
** test_cache.c -- the folder behind tide.memoize (cache.c): folder and key
** checks, per-entry locks across processes, stores, the index rebuilt
** from the files whenever it is missing or damaged in any way, eviction by
** size (least recently used first) and by age, old temp files swept, drop,
** info and clear.
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <errno.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "dump.h"
#include "check.h"

/* Test doubles for system calls cache.c makes: linked ahead of libc's,
** each passes through to the kernel until a test arms it to fail its
** next call (fail_errno; EINTR fails it once and then lets it through),
** so the paths a full disk, a lost lock or a missing /proc take are run
** for real. */
static int fail_flock, fail_fsync, fail_linkat, no_proc, no_random;
static int swap_lock; /* 1: the lock file is removed, 2: replaced, once the lock is taken */
static char swap_name[1100];

static int take(int *armed) {
  int e = *armed;
  *armed = 0;
  errno = e;
  return e;
}

int flock(int fd, int op) {
  if (fail_flock && take(&fail_flock)) return -1;
  int r = (int)syscall(SYS_flock, fd, op);
  if (r == 0 && swap_lock && (op & LOCK_EX)) {
    int how = swap_lock;
    swap_lock = 0;
    /* the holder lets go as we get it: unlinks the file (and another
    ** process makes a new one under the name) */
    unlink(swap_name);
    if (how == 2) close((int)syscall(SYS_openat, AT_FDCWD, swap_name, O_CREAT | O_RDWR, 0600));
  }
  return r;
}

int fsync(int fd) {
  if (fail_fsync && take(&fail_fsync)) return -1;
  return (int)syscall(SYS_fsync, fd);
}

int linkat(int olddir, const char *old, int newdir, const char *new, int flags) {
  if (fail_linkat && take(&fail_linkat)) return -1;
  return (int)syscall(SYS_linkat, olddir, old, newdir, new, flags);
}

int access(const char *path, int mode) {
  if (no_proc && !strncmp(path, "/proc/", 6)) {
    errno = ENOENT;
    return -1;
  }
  return (int)syscall(SYS_faccessat, AT_FDCWD, path, mode);
}

ssize_t getrandom(void *buf, size_t n, unsigned flags) {
  if (no_random) {
    errno = ENOSYS;
    return -1;
  }
  return (ssize_t)syscall(SYS_getrandom, buf, n, flags);
}

static char root[] = "/tmp/tide-test-cache-XXXXXX";
static char dir[512];

static const char *K1 = "0123456789abcdef0123456789abcdef";
static const char *K2 = "fedcba9876543210fedcba9876543210";
static const char *K3 = "00000000000000000000000000000001";

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* Stores key with a stream of n bytes; its stamp. */
static tide_FileStamp store(const char *key, size_t n) {
  char entry[1024];
  tide_FileStamp st;
  memset(&st, 0, sizeof st);
  static unsigned char buf[1 << 16];
  memset(buf, 7, n);
  CHECK_EQ_INT(tide_cache_entry_path(dir, key, entry, sizeof entry), TIDE_OK);
  CHECK_EQ_INT(tide_cache_entry_dir(entry), TIDE_OK);
  CHECK_EQ_INT(tide_cache_store(entry, buf, n, 0, NULL, &st), TIDE_OK);
  return st;
}

static uint64_t entries(void) {
  uint64_t n = 0, b = 0;
  CHECK_EQ_INT(tide_cache_info(dir, &n, &b), TIDE_OK);
  return n;
}

static int exists(const char *key) {
  char entry[1024];
  tide_cache_entry_path(dir, key, entry, sizeof entry);
  return access(entry, F_OK) == 0;
}

static void test_folders_and_keys(void) {
  CHECK_EQ_INT(tide_cache_init(""), TIDE_EINVAL);
  char longname[3100];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  CHECK_EQ_INT(tide_cache_init(longname), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "bad cache folder name");
  snprintf(dir, sizeof dir, "%s/a/b/cache", root);
  CHECK_EQ_INT(tide_cache_init(dir), TIDE_OK); /* parents made too */
  CHECK_EQ_INT(tide_cache_init(dir), TIDE_OK); /* and again: fine */
  char file[600], under[700];
  snprintf(file, sizeof file, "%s/file", root);
  put(file, "x");
  CHECK_EQ_INT(tide_cache_init(file), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "is not a folder");
  snprintf(under, sizeof under, "%s/sub", file);
  CHECK(tide_cache_init(under) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot make the folder");
  snprintf(under, sizeof under, "%s/sub/deeper", file); /* a parent cannot be made */
  CHECK(tide_cache_init(under) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot make the folder");
  /* a folder name too long for the index's own files */
  static char deep[4400];
  memset(deep, 'd', sizeof deep - 1);
  deep[0] = '/';
  int verified;
  tide_FileStamp st0;
  memset(&st0, 0, sizeof st0);
  CHECK_EQ_INT(tide_cache_use(deep, K1, &st0, &verified), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "cache folder name too long");
  /* keys: 32 lowercase hex digits, nothing else */
  char buf[1024];
  static const char *bad[] = {"0123456789ABCDEF0123456789abcdef", "0123", "",
                              "0123456789abcdef0123456789abcdef0", "0123456789abcdef0123456789abcdeg"};
  for (int i = 0; i < 5; i++) {
    CHECK_EQ_INT(tide_cache_entry_path(dir, bad[i], buf, sizeof buf), TIDE_EINVAL);
    CHECK_STR_HAS(tide_lasterror(), "bad cache key");
  }
  CHECK_EQ_INT(tide_cache_entry_path(dir, K1, buf, 20), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "too long");
  /* an entry folder that is a symbolic link, or a file, is refused */
  char entry[1024], sub[1024];
  CHECK_EQ_INT(tide_cache_entry_path(dir, K3, entry, sizeof entry), TIDE_OK);
  snprintf(sub, sizeof sub, "%s/00", dir);
  CHECK(symlink(root, sub) == 0);
  CHECK_EQ_INT(tide_cache_entry_dir(entry), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "(a symbolic link)");
  unlink(sub);
  put(sub, "");
  CHECK_EQ_INT(tide_cache_entry_dir(entry), TIDE_EINVAL);
  unlink(sub);
  /* a store whose folder is missing */
  tide_FileStamp st;
  CHECK(tide_cache_store(entry, (const unsigned char *)"x", 1, 0, NULL, &st) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot create a file in");
}

static void test_locks(void) {
  char entry[1024];
  CHECK_EQ_INT(tide_cache_entry_path(dir, K1, entry, sizeof entry), TIDE_OK);
  CHECK_EQ_INT(tide_cache_entry_dir(entry), TIDE_OK);
  int fd;
  CHECK_EQ_INT(tide_cache_lock(entry, 1, &fd), TIDE_OK);
  CHECK(fd >= 0);
  /* another process waits, then gives up with no lock */
  pid_t pid = fork();
  if (pid == 0) {
    int f2;
    int rc = tide_cache_lock(entry, 0.05, &f2);
    _exit(rc == TIDE_OK && f2 < 0 ? 0 : 1);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  tide_cache_unlock(entry, fd);
  tide_cache_unlock(entry, -1); /* no lock: nothing */
  /* free again: the other process takes it */
  pid = fork();
  if (pid == 0) {
    int f2;
    int rc = tide_cache_lock(entry, 0.05, &f2);
    _exit(rc == TIDE_OK && f2 >= 0 ? 0 : 1);
  }
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* (the holder died: its lock file is left, but free) */
  CHECK_EQ_INT(tide_cache_lock(entry, 0, &fd), TIDE_OK);
  CHECK(fd >= 0);
  tide_cache_unlock(entry, fd);
  char nowhere[1100];
  snprintf(nowhere, sizeof nowhere, "%s/none/x", root);
  CHECK(tide_cache_lock(nowhere, 0, &fd) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot open the lock");
}

/* Writes the index by hand (after the magic line when magic). */
static void index_text(int magic, const char *lines) {
  char ip[700];
  snprintf(ip, sizeof ip, "%s/index", dir);
  char text[4096];
  snprintf(text, sizeof text, "%s%s", magic ? "tide-cache-index 1\n" : "", lines);
  put(ip, text);
}

static void test_index(void) {
  tide_FileStamp s1 = store(K1, 100), s2 = store(K2, 200);
  int verified = -1;
  /* no index yet: rebuilt from the files */
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 0);
  CHECK_EQ_INT(tide_cache_verified(dir, K1, &s1), TIDE_OK);
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 1);
  tide_FileStamp other = s1;
  other.mtime++;
  CHECK_EQ_INT(tide_cache_use(dir, K1, &other, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 0); /* the file changed since */
  for (int f = 0; f < 3; f++) { /* another device, inode or size: changed too */
    other = s1;
    if (f == 0) other.dev++;
    if (f == 1) other.ino++;
    if (f == 2) other.size++;
    CHECK_EQ_INT(tide_cache_use(dir, K1, &other, &verified), TIDE_OK);
    CHECK_EQ_INT(verified, 0);
  }
  CHECK_EQ_INT(tide_cache_verified(dir, K3, &s2), TIDE_OK); /* a key not in the index */
  CHECK_EQ_INT(tide_cache_use(dir, K3, &s2, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 1);
  CHECK_EQ_INT(entries(), 2); /* K3 has no file: the scan drops it */
  /* damaged indexes of every kind: each is rebuilt, none is believed */
  char good[200];
  snprintf(good, sizeof good, "%s 100 5 1 1 2 3\n", K1);
  static const char *const damaged[] = {
    "short line\n",
    "0123456789abcdef0123456789abcdef_100 5 1 1 2 3\n",
    "0123456789ABCDEF0123456789abcdef 100 5 1 1 2 3\n",
    "0123456789abcdef0123456789abcdef x 5 1 1 2 3\n",
    "0123456789abcdef0123456789abcdef 100 5 1 1 2\n",
    "0123456789abcdef0123456789abcdef 100 5 1 1 2 3 4\n",
    "0123456789abcdef0123456789abcdef 99999999999999999999999 5 1 1 2 3\n",
    "0123456789abcdef0123456789abcdef 100 5 1 1 2 3",
    "0123456789abcdef0123456789abcdef 100 - 1 1 2 3\n",
    "0123456789abcdef0123456789abcdef 100,5 1 1 2 3\n",
  };
  for (int i = 0; i < 10; i++) {
    index_text(1, damaged[i]);
    CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
    CHECK_EQ_INT(verified, 0);
    CHECK_EQ_INT(entries(), 2);
  }
  char dup[500];
  snprintf(dup, sizeof dup, "%s%s", good, good);
  index_text(1, dup);
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 0);
  index_text(0, good); /* no magic line */
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 0);
  index_text(1, "0123456789abcdef0123456789abcdef -5 -7 0 1 2 -3\n"); /* signed fields read */
  CHECK_EQ_INT(entries(), 2);
  /* an index that is a folder: rebuilt in memory, but cannot be replaced */
  char ip[700];
  snprintf(ip, sizeof ip, "%s/index", dir);
  unlink(ip);
  CHECK(mkdir(ip, 0700) == 0);
  CHECK(tide_cache_use(dir, K1, &s1, &verified) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot replace");
  rmdir(ip);
  char tp[700];
  snprintf(tp, sizeof tp, "%s/index.tmp", dir);
  CHECK(mkdir(tp, 0700) == 0);
  CHECK(tide_cache_use(dir, K1, &s1, &verified) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot write");
  rmdir(tp);
  CHECK_EQ_INT(entries(), 2);
}

/* Sets key's last use in the index to t seconds ago. */
static void age(const char *key, double t) {
  char ip[700];
  snprintf(ip, sizeof ip, "%s/index", dir);
  FILE *f = fopen(ip, "r");
  char text[8192] = "", line[512];
  size_t n = 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t when = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - (int64_t)(t * 1e9);
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, key, 32)) {
      char rest[512];
      unsigned long long size;
      long long old;
      CHECK(sscanf(line + 33, "%llu %lld %[^\n]", &size, &old, rest) == 3);
      n += (size_t)snprintf(text + n, sizeof text - n, "%s %llu %lld %s\n", key, size,
                            (long long)when, rest);
    } else {
      n += (size_t)snprintf(text + n, sizeof text - n, "%s", line);
    }
  }
  if (f) fclose(f);
  put(ip, text);
}

static void test_eviction(void) {
  uint64_t removed;
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  CHECK_EQ_INT(removed, 2);
  tide_FileStamp s1 = store(K1, 5000), s2 = store(K2, 5000), s3 = store(K3, 5000);
  tide_CacheEvicted ev;
  CHECK_EQ_INT(tide_cache_stored(dir, K1, &s1, 0, 0, &ev), TIDE_OK);
  CHECK_EQ_INT(tide_cache_stored(dir, K2, &s2, 0, 0, &ev), TIDE_OK);
  CHECK_EQ_INT(ev.entries, 0);
  age(K1, 30);
  age(K2, 20);
  /* over the size limit: the oldest go first, never the one just stored */
  CHECK_EQ_INT(tide_cache_stored(dir, K3, &s3, s3.size * 2, 0, &ev), TIDE_OK);
  CHECK_EQ_INT(ev.entries, 1);
  CHECK_EQ_INT(ev.bytes, s1.size);
  CHECK(!exists(K1) && exists(K2) && exists(K3));
  CHECK_EQ_INT(tide_cache_stored(dir, K3, &s3, 1, 0, &ev), TIDE_OK);
  CHECK(!exists(K2) && exists(K3)); /* alone over the limit, it stays */
  /* by age */
  s1 = store(K1, 100);
  CHECK_EQ_INT(tide_cache_stored(dir, K1, &s1, 0, 0, &ev), TIDE_OK);
  age(K3, 100);
  CHECK_EQ_INT(tide_cache_stored(dir, K1, &s1, 0, 50, &ev), TIDE_OK);
  CHECK_EQ_INT(ev.entries, 1);
  CHECK(!exists(K3) && exists(K1));
  age(K1, 100);
  CHECK_EQ_INT(tide_cache_stored(dir, K1, &s1, 0, 50, &ev), TIDE_OK);
  CHECK(exists(K1)); /* the one stored now is never old */
  /* leftover temp files: an old one swept, a fresh one kept; a stray
  ** file that is neither stays */
  char old[1024], fresh[1024], stray[1024];
  snprintf(old, sizeof old, "%s/01/.%s.tmp-old", dir, K1);
  snprintf(fresh, sizeof fresh, "%s/01/.%s.tmp-new", dir, K1);
  snprintf(stray, sizeof stray, "%s/01/notes", dir);
  put(old, "x");
  put(fresh, "x");
  put(stray, "x");
  struct timespec t[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
  CHECK(utimensat(AT_FDCWD, old, t, 0) == 0);
  CHECK_EQ_INT(entries(), 1);
  CHECK(access(old, F_OK) != 0 && access(fresh, F_OK) == 0 && access(stray, F_OK) == 0);
  /* drop, then clear: temp files go, entries counted */
  s2 = store(K2, 10);
  CHECK_EQ_INT(tide_cache_drop(dir, K2), TIDE_OK);
  CHECK(!exists(K2));
  CHECK_EQ_INT(tide_cache_drop(dir, K2), TIDE_OK); /* twice: nothing to do */
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  CHECK_EQ_INT(removed, 1);
  CHECK(access(fresh, F_OK) != 0 && access(stray, F_OK) == 0);
  CHECK_EQ_INT(entries(), 0);
  /* a folder that is not there */
  char none[700];
  snprintf(none, sizeof none, "%s/none", root);
  CHECK(tide_cache_clear(none, &removed) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot open");
  int verified;
  CHECK(tide_cache_use(none, K1, &s1, &verified) < 0);
  CHECK(tide_cache_verified(none, K1, &s1) < 0);
  CHECK(tide_cache_stored(none, K1, &s1, 0, 0, &ev) < 0);
  CHECK(tide_cache_drop(none, K1) < 0);
  uint64_t e, b;
  CHECK(tide_cache_info(none, &e, &b) < 0);
}

/* Names in folder, but . and .. */
static int count_files(const char *folder) {
  DIR *d = opendir(folder);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

/* Odd things in and around the folder: a folder name that is a dangling
** symbolic link, an entry whose name is taken by a folder (the store's
** rename fails: its temp file goes), hidden files and key-named folders in
** an entry folder (neither an entry nor a temp file: left alone, not
** counted), numbers run into letters in the index, an index too big to be
** one (a sparse file), and more entries than the index's first block. */
static void test_odd_files(void) {
  uint64_t removed, n, b;
  char link[700], entry[1024], sub[1024];
  snprintf(link, sizeof link, "%s/dangling", root);
  CHECK(symlink("nowhere/at/all", link) == 0);
  CHECK(tide_cache_init(link) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot stat");
  unlink(link);
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  /* the entry's name is a folder: the rename fails, nothing is left */
  CHECK_EQ_INT(tide_cache_entry_path(dir, K2, entry, sizeof entry), TIDE_OK);
  CHECK_EQ_INT(tide_cache_entry_dir(entry), TIDE_OK);
  CHECK(mkdir(entry, 0700) == 0);
  tide_FileStamp st;
  CHECK(tide_cache_store(entry, (const unsigned char *)"x", 1, 0, NULL, &st) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot rename a temp file to");
  snprintf(sub, sizeof sub, "%s/fe", dir);
  CHECK_EQ_INT(count_files(sub), 1); /* the folder alone */
  /* a key-named folder and a hidden file: not entries, kept by clear */
  char hidden[1100];
  snprintf(hidden, sizeof hidden, "%s/.notes", sub);
  put(hidden, "x");
  store(K1, 10);
  CHECK_EQ_INT(tide_cache_info(dir, &n, &b), TIDE_OK);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  CHECK_EQ_INT(removed, 1);
  CHECK(access(entry, F_OK) == 0 && access(hidden, F_OK) == 0);
  unlink(hidden);
  rmdir(entry);
  /* digits run into letters: the index is damaged, rebuilt */
  tide_FileStamp s1 = store(K1, 100);
  int verified = -1;
  CHECK_EQ_INT(tide_cache_verified(dir, K1, &s1), TIDE_OK);
  char text[300];
  snprintf(text, sizeof text, "%s %llua 5 1 %llu %llu %lld\n", K1, (unsigned long long)s1.size,
           (unsigned long long)s1.dev,
           (unsigned long long)s1.ino, (long long)s1.mtime);
  index_text(1, text);
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 0);
  /* the same line, right, is believed */
  CHECK_EQ_INT(tide_cache_verified(dir, K1, &s1), TIDE_OK);
  snprintf(text, sizeof text, "%s %llu 5 1 %llu %llu %lld\n", K1, (unsigned long long)s1.size,
           (unsigned long long)s1.dev,
           (unsigned long long)s1.ino, (long long)s1.mtime);
  index_text(1, text);
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 1);
  /* the same index grown past 256 MiB (sparse): not read, rebuilt, and
  ** written small again */
  char ip[700];
  snprintf(ip, sizeof ip, "%s/index", dir);
  index_text(1, text);
  CHECK(truncate(ip, (off_t)300 << 20) == 0);
  CHECK_EQ_INT(tide_cache_use(dir, K1, &s1, &verified), TIDE_OK);
  CHECK_EQ_INT(verified, 0);
  struct stat is;
  CHECK(stat(ip, &is) == 0 && is.st_size < 4096);
  /* 100 entries: the index holds them all, and says so after a reload */
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  char key[33];
  for (int i = 0; i < 100; i++) {
    snprintf(key, sizeof key, "%032x", i * 2654435761u);
    tide_FileStamp s = store(key, 10 + (size_t)i);
    tide_CacheEvicted ev;
    CHECK_EQ_INT(tide_cache_stored(dir, key, &s, 0, 0, &ev), TIDE_OK);
  }
  CHECK_EQ_INT(tide_cache_info(dir, &n, &b), TIDE_OK);
  CHECK_EQ_INT(n, 100);
  uint64_t want = 0;
  for (int i = 0; i < 100; i++) want += tide_dump_file_size(10 + (size_t)i, 0, NULL);
  CHECK_EQ_INT(b, want);
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  CHECK_EQ_INT(removed, 100);
}

/* What the system calls' failures do (the doubles above): an interrupted
** lock is taken again; a lock that fails otherwise is an error; a lock
** whose file was removed or replaced as it was taken is taken again on the
** file now under the name; a store whose sync or naming fails leaves
** nothing; without /proc (no O_TMPFILE naming) or getrandom, stores still
** work through a named temp file, which is gone after. */
static void test_syscall_failures(void) {
  char entry[1024], sub[700];
  int fd = -1;
  uint64_t removed, n, b;
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  CHECK_EQ_INT(tide_cache_entry_path(dir, K2, entry, sizeof entry), TIDE_OK);
  CHECK_EQ_INT(tide_cache_entry_dir(entry), TIDE_OK);
  snprintf(sub, sizeof sub, "%s/fe", dir);
  fail_flock = EINTR;
  CHECK_EQ_INT(tide_cache_lock(entry, 1, &fd), TIDE_OK);
  CHECK(fd >= 0 && fail_flock == 0);
  tide_cache_unlock(entry, fd);
  fail_flock = ENOLCK;
  CHECK(tide_cache_lock(entry, 1, &fd) < 0 && fd == -1);
  CHECK_STR_HAS(tide_lasterror(), "cannot lock");
  for (int how = 1; how <= 2; how++) {
    snprintf(swap_name, sizeof swap_name, "%s.lock", entry);
    swap_lock = how;
    CHECK_EQ_INT(tide_cache_lock(entry, 1, &fd), TIDE_OK);
    struct stat a, l;
    /* the lock held is on the file under the name now */
    CHECK(fd >= 0 && fstat(fd, &a) == 0 && stat(swap_name, &l) == 0 && a.st_ino == l.st_ino);
    tide_cache_unlock(entry, fd);
  }
  /* the folder's own lock, under every index operation */
  fail_flock = EINTR;
  CHECK_EQ_INT(tide_cache_info(dir, &n, &b), TIDE_OK);
  fail_flock = ENOLCK;
  CHECK(tide_cache_info(dir, &n, &b) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot lock");
  /* stores: a sync that fails, a name that cannot be made */
  tide_FileStamp st;
  fail_fsync = EIO;
  CHECK(tide_cache_store(entry, (const unsigned char *)"x", 1, 0, NULL, &st) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot sync");
  fail_linkat = ENOSPC;
  CHECK(tide_cache_store(entry, (const unsigned char *)"x", 1, 0, NULL, &st) < 0);
  CHECK_STR_HAS(tide_lasterror(), "cannot name a new entry in");
  CHECK_EQ_INT(count_files(sub), 0);
  /* no /proc (a named temp file), no getrandom (a name from the pid and
  ** the clock) */
  no_proc = 1;
  CHECK_EQ_INT(tide_cache_store(entry, (const unsigned char *)"abc", 3, 0, NULL, &st), TIDE_OK);
  no_proc = 0;
  no_random = 1;
  CHECK_EQ_INT(tide_cache_store(entry, (const unsigned char *)"abcd", 4, 0, NULL, &st), TIDE_OK);
  no_random = 0;
  CHECK_EQ_INT(count_files(sub), 1); /* the entry alone */
  struct stat sb;
  CHECK(stat(entry, &sb) == 0 && (uint64_t)sb.st_size == st.size && (sb.st_mode & 0777) == 0644);
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  CHECK_EQ_INT(removed, 1);
}

/* An entry given as a bare name: its folder is the current one. */
static void test_bare_entry(void) {
  char here[1024], sub[700];
  CHECK(getcwd(here, sizeof here) != NULL);
  snprintf(sub, sizeof sub, "%s/bare", root);
  CHECK(mkdir(sub, 0700) == 0 && chdir(sub) == 0);
  CHECK_EQ_INT(tide_cache_entry_dir(K1), TIDE_OK);
  tide_FileStamp st;
  CHECK_EQ_INT(tide_cache_store(K1, (const unsigned char *)"abc", 3, 0, NULL, &st), TIDE_OK);
  struct stat sb;
  CHECK(lstat(K1, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == st.size);
  CHECK_EQ_INT(count_files("."), 1);
  CHECK(chdir(here) == 0);
}

/* The index written under a file size limit (a full disk): the error
** names the index's temp file, which is gone; the entry itself is intact,
** and a later use, with room, rebuilds the index. */
typedef struct FullDisk { tide_FileStamp *s1; const char *ip, *tp; } FullDisk;

static int index_on_full_disk(void *ud) {
  FullDisk *f = ud;
  int verified = -1;
  int rc = tide_cache_use(dir, K1, f->s1, &verified);
  int code = rc < 0 && strstr(tide_lasterror(), "cannot write") &&
             strstr(tide_lasterror(), "index.tmp") ? 0 : 1;
  if (access(f->tp, F_OK) == 0 || access(f->ip, F_OK) == 0) code = 2;
  return code;
}

static void test_index_full_disk(void) {
  uint64_t removed;
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  tide_FileStamp s1 = store(K1, 100);
  char ip[700], tp[700];
  snprintf(ip, sizeof ip, "%s/index", dir);
  snprintf(tp, sizeof tp, "%s/index.tmp", dir);
  unlink(ip);
  /* 30 bytes: the magic line fits, the record does not */
  CHECK_EQ_INT(check_fsize_child(30, index_on_full_disk, &(FullDisk){&s1, ip, tp}), 0);
  CHECK(exists(K1));
  CHECK_EQ_INT(entries(), 1);
  CHECK(access(ip, F_OK) == 0);
}

#ifdef TIDE_FAULTS
/* Every acquisition of each index operation failed in turn (N = 1, 2, ...
** until one passes them all): an out-of-memory error, or the operation
** done without the record (the index is a hint); either way the entries
** on disk are what they were, the one just stored is never evicted, and
** the next operation without faults sees them all. */
static void test_cache_faults(void) {
  uint64_t removed;
  CHECK_EQ_INT(tide_cache_clear(dir, &removed), TIDE_OK);
  tide_FileStamp s1 = store(K1, 3000), s2 = store(K2, 3000), s3 = store(K3, 3000);
  int errors = 0;
  /* each acquisition failed once, then each from N on */
  for (int persist = 0; persist < 2; persist++) {
    for (int op = 0; op < 4; op++) {
      int n;
      long fired_odd = 0;
      for (n = 1; n < 400; n++) {
        tide_CacheEvicted ev = {0, 0};
        int verified = -1;
        uint64_t en = 0, by = 0;
        /* an index without the records (as after a store killed before
        ** them), or none (read back from the files) */
        if (n % 2) index_text(1, "");
        else {
          char ip[700];
          snprintf(ip, sizeof ip, "%s/index", dir);
          unlink(ip);
        }
        tide__fault_arm((n + 1) / 2, persist);
        int rc = op == 0   ? tide_cache_use(dir, K1, &s1, &verified)
                 : op == 1 ? tide_cache_verified(dir, K2, &s2)
                 : op == 2 ? tide_cache_stored(dir, K3, &s3, s3.size * 4, 0, &ev)
                           : tide_cache_info(dir, &en, &by);
        long fired = tide__fault_fired();
        tide__fault_arm(0, 0);
        CHECK(rc == TIDE_OK || rc == TIDE_ENOMEM);
        if (rc) errors++;
        CHECK_EQ_INT(verified == 1, 0); /* never believed without its record */
        CHECK_EQ_INT(ev.entries, 0);    /* three entries under the limit of four */
        CHECK(exists(K1) && exists(K2) && exists(K3));
        CHECK_EQ_INT(entries(), 3);
        if (n % 2) fired_odd = fired;
        else if (!fired && !fired_odd) break; /* both states passed every point */
      }
      CHECK(n > 2 && n < 400);
    }
  }
  /* eviction too, with its ordering buffer: over a limit of two entries,
  ** one of the two older goes, or none with an error; never the new one,
  ** and what is reported evicted is what is gone */
  for (int n = 1; n < 200; n++) {
    if (!exists(K1)) s1 = store(K1, 3000);
    if (!exists(K2)) s2 = store(K2, 3000);
    tide_CacheEvicted ev = {0, 0};
    tide__fault_arm(n, 0);
    int rc = tide_cache_stored(dir, K3, &s3, s3.size * 2, 0, &ev);
    long fired = tide__fault_fired();
    tide__fault_arm(0, 0);
    CHECK(rc == TIDE_OK || rc == TIDE_ENOMEM);
    if (rc) errors++;
    CHECK(exists(K3));
    CHECK_EQ_INT(exists(K1) + exists(K2), 2 - (int)ev.entries);
    if (!fired) {
      CHECK_EQ_INT(ev.entries, 1);
      break;
    }
  }
  CHECK(errors > 0);
  CHECK_EQ_INT(entries(), 2);
}
#endif

int main(void) {
  if (!mkdtemp(root)) return 1;
  test_folders_and_keys();
  test_locks();
  test_index();
  test_eviction();
  test_odd_files();
  test_bare_entry();
  test_syscall_failures();
  test_index_full_disk();
#ifdef TIDE_FAULTS
  test_cache_faults();
#endif
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return check_done();
}
