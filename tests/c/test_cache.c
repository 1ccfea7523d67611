/*
** test_cache.c -- the folder behind tide.memoize (cache.c): folder and key
** checks, per-entry locks across processes, stores, the index rebuilt
** from the files whenever it is missing or damaged in any way, eviction by
** size (least recently used first) and by age, old temp files swept, drop,
** info and clear.
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"

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

int main(void) {
  if (!mkdtemp(root)) return 1;
  test_folders_and_keys();
  test_locks();
  test_index();
  test_eviction();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return check_done();
}
