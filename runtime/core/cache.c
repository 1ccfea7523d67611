/*
** cache.c -- the folder behind tide.memoize: entry paths, per-key locks,
** atomic stores, and the index of sizes, last uses and verification
** stamps that eviction works from (see cache.h).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "dump.h"

#define INDEX_MAGIC "tide-cache-index 1\n"
#define INDEX_MAX ((size_t)256 << 20) /* a bigger index is damaged */
#define TEMP_AGE_NS ((int64_t)3600 * 1000000000) /* leftover temp files older: removed */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tide_stamp_of(const struct stat *st, tide_FileStamp *out) {
  out->dev = (uint64_t)st->st_dev;
  out->ino = (uint64_t)st->st_ino;
  out->size = (uint64_t)st->st_size;
  out->mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int same_stamp(const tide_FileStamp *a, const tide_FileStamp *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime == b->mtime;
}

static int is_key(const char *s) {
  for (int i = 0; i < TIDE_CACHE_KEYLEN; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return s[TIDE_CACHE_KEYLEN] == '\0';
}

static int sys(int errnum, const char *what, const char *path) {
  return tide__syserr(tide__errno_code(errnum), errnum, "%s %s", what, path);
}

/* mkdir that accepts an existing folder (not a symlink to one when
** nofollow) and refuses anything else. */
static int make_dir(const char *path, int nofollow) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) return sys(errno, "cannot make the folder", path);
  struct stat st;
  if ((nofollow ? lstat(path, &st) : stat(path, &st)) != 0)
    return sys(errno, "cannot stat", path);
  if (!S_ISDIR(st.st_mode))
    return tide__seterr(TIDE_EINVAL, "%s is not a folder%s", path,
                        S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
  return TIDE_OK;
}

int tide_cache_init(const char *dir) {
  size_t n = strlen(dir);
  if (n == 0 || n > 3000) return tide__seterr(TIDE_EINVAL, "bad cache folder name");
  char *p = tide__strdup(dir);
  if (!p) return tide__seterr(TIDE_ENOMEM, "out of memory");
  int rc = TIDE_OK;
  for (char *s = p + 1; *s && !rc; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = sys(errno, "cannot make the folder", p);
    *s = '/';
  }
  if (!rc) rc = make_dir(p, 0);
  free(p);
  return rc;
}

int tide_cache_entry_path(const char *dir, const char *key, char *buf, size_t len) {
  if (!is_key(key)) return tide__seterr(TIDE_EINVAL, "bad cache key '%.40s'", key);
  int n = snprintf(buf, len, "%s/%.2s/%s", dir, key, key);
  if (n < 0 || (size_t)n >= len) return tide__seterr(TIDE_EINVAL, "cache folder name too long");
  return TIDE_OK;
}

/* The folder part of entry into buf: "." for a bare name. */
static void folder_of(const char *entry, char *buf, size_t len) {
  snprintf(buf, len, "%s", entry);
  char *slash = strrchr(buf, '/');
  if (slash) *slash = '\0';
  else snprintf(buf, len, ".");
}

int tide_cache_entry_dir(const char *entry) {
  char d[4096];
  folder_of(entry, d, sizeof d);
  return make_dir(d, 1);
}

/* -------------------------------------------------------------------- locks */

int tide_cache_lock(const char *entry, double timeout, int *fd) {
  char lp[4200];
  snprintf(lp, sizeof lp, "%s.lock", entry);
  *fd = -1;
  double start = tide_now(), delay = 0.002;
  for (;;) {
    int f = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (f < 0) return sys(errno, "cannot open the lock", lp);
    int r;
    do r = flock(f, LOCK_EX | LOCK_NB); while (r != 0 && errno == EINTR);
    if (r == 0) {
      /* The releaser removes the file before letting go: a lock on a
      ** file no longer under that name is no lock. */
      struct stat a, b;
      if (fstat(f, &a) == 0 && lstat(lp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        *fd = f;
        return TIDE_OK;
      }
      close(f);
      continue;
    }
    int e = errno;
    close(f);
    if (e != EWOULDBLOCK) return sys(e, "cannot lock", lp);
    if (tide_now() - start >= timeout) return TIDE_OK; /* *fd stays -1 */
    struct timespec ts = {0, (long)(delay * 1e9)};
    nanosleep(&ts, NULL);
    if (delay < 0.05) delay *= 1.5;
  }
}

void tide_cache_unlock(const char *entry, int fd) {
  if (fd < 0) return;
  char lp[4200];
  snprintf(lp, sizeof lp, "%s.lock", entry);
  unlink(lp);
  close(fd);
}

/* -------------------------------------------------------------------- store */

static void sync_folder(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* best effort: some filesystems refuse fsync on folders */
    close(dfd);
  }
}

static uint64_t random64(void) {
  uint64_t r;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
    r = (uint64_t)getpid() << 32 ^ (uint64_t)now_ns();
  return r;
}

int tide_cache_store(const char *entry, const unsigned char *p, size_t n, uint32_t narrays,
                     const tide_Array *const *arrays, tide_FileStamp *st) {
  char dir[4096], tmp[4400];
  folder_of(entry, dir, sizeof dir);
  const char *base = strrchr(entry, '/');
  base = base ? base + 1 : entry;
  /* An unnamed file: a writer killed now leaves nothing.  It is named
  ** through /proc/self/fd, so both are needed. */
  int named = 0;
  int fd = access("/proc/self/fd", X_OK) == 0
               ? open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644) : -1;
  if (fd < 0) {
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, base);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return sys(errno, "cannot create a file in", dir);
    fchmod(fd, 0644);
    named = 1;
  }
  int rc = tide_dump_write_fd(fd, entry, p, n, narrays, arrays);
  if (!rc && fsync(fd) != 0) rc = sys(errno, "cannot sync", entry);
  struct stat sb;
  if (!rc && fstat(fd, &sb) != 0) rc = sys(errno, "cannot stat", entry);
  if (!rc && !named) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%016" PRIx64, dir, base, random64());
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
      rc = sys(errno, "cannot name a new entry in", dir);
    else
      named = 1;
  }
  if (!rc && rename(tmp, entry) != 0) rc = sys(errno, "cannot rename a temp file to", entry);
  if (rc && named) unlink(tmp);
  close(fd);
  if (rc) return rc;
  sync_folder(dir);
  tide_stamp_of(&sb, st);
  return TIDE_OK;
}

/* -------------------------------------------------------------------- index */

typedef struct Rec {
  char key[TIDE_CACHE_KEYLEN + 1];
  uint64_t size;
  int64_t atime; /* last use, ns */
  int verified;
  tide_FileStamp st;
  int seen; /* found by the last scan */
} Rec;

typedef struct Index {
  const char *dir;
  int lockfd;
  Rec *r;
  size_t n, cap;
  char ip[4200], tp[4200]; /* dir/index and dir/index.tmp */
} Index;

/* Takes the folder's lock (dir/.lock), first making the index's paths:
** the longest, dir/index.tmp, fits or the folder name is refused. */
static int index_lock(Index *x, const char *dir) {
  x->dir = dir;
  x->lockfd = -1;
  x->r = NULL;
  x->n = x->cap = 0;
  int n = snprintf(x->tp, sizeof x->tp, "%s/index.tmp", dir);
  if (n < 0 || (size_t)n >= sizeof x->tp)
    return tide__seterr(TIDE_EINVAL, "cache folder name too long");
  snprintf(x->ip, sizeof x->ip, "%s/index", dir);
  char lp[4200];
  snprintf(lp, sizeof lp, "%s/.lock", dir);
  int f = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (f < 0) return sys(errno, "cannot open", lp);
  int r;
  do r = flock(f, LOCK_EX); while (r != 0 && errno == EINTR);
  if (r != 0) {
    int e = errno;
    close(f);
    return sys(e, "cannot lock", lp);
  }
  x->lockfd = f;
  return TIDE_OK;
}

static void index_unlock(Index *x) {
  if (x->lockfd >= 0) close(x->lockfd);
  x->lockfd = -1;
  free(x->r);
  x->r = NULL;
  x->n = x->cap = 0;
}

static Rec *index_add(Index *x, const char *key) {
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 64;
    Rec *r = tide__realloc(x->r, cap * sizeof *r);
    if (!r) return NULL;
    x->r = r;
    x->cap = cap;
  }
  Rec *r = &x->r[x->n++];
  memset(r, 0, sizeof *r);
  memcpy(r->key, key, TIDE_CACHE_KEYLEN);
  r->key[TIDE_CACHE_KEYLEN] = '\0';
  return r;
}

static Rec *index_find(Index *x, const char *key) {
  for (size_t i = 0; i < x->n; i++)
    if (memcmp(x->r[i].key, key, TIDE_CACHE_KEYLEN) == 0) return &x->r[i];
  return NULL;
}

static void index_remove(Index *x, Rec *r) { *r = x->r[--x->n]; }

/* Reads a decimal field ended by c; 0 on anything else. */
static int field(const char **p, const char *end, char c, int64_t *out) {
  const char *s = *p;
  int neg = s < end && *s == '-';
  if (neg) s++;
  if (s >= end || *s < '0' || *s > '9') return 0;
  uint64_t v = 0;
  while (s < end && *s >= '0' && *s <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return 0;
    v = v * 10 + (uint64_t)(*s++ - '0');
  }
  if (s >= end || *s != c) return 0;
  *out = neg ? -(int64_t)v : (int64_t)v;
  *p = s + 1;
  return 1;
}

/* Loads the index; returns 1 when it is missing or damaged (then empty). */
static int index_read(Index *x) {
  int fd = open(x->ip, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 1;
  struct stat st;
  char *buf = NULL;
  size_t len = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= INDEX_MAX &&
      (buf = tide__malloc((size_t)st.st_size + 1))) {
    while (len < (size_t)st.st_size) {
      ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      len += (size_t)r;
    }
  }
  close(fd);
  int bad = !buf || len != (size_t)st.st_size || len < sizeof INDEX_MAGIC - 1 ||
            memcmp(buf, INDEX_MAGIC, sizeof INDEX_MAGIC - 1) != 0;
  const char *p = buf ? buf + sizeof INDEX_MAGIC - 1 : NULL, *end = buf ? buf + len : NULL;
  while (!bad && p < end) {
    /* key size atime verified dev ino mtime */
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl - p < TIDE_CACHE_KEYLEN + 1 || p[TIDE_CACHE_KEYLEN] != ' ') {
      bad = 1;
      break;
    }
    char key[TIDE_CACHE_KEYLEN + 1];
    memcpy(key, p, TIDE_CACHE_KEYLEN);
    key[TIDE_CACHE_KEYLEN] = '\0';
    const char *q = p + TIDE_CACHE_KEYLEN + 1;
    int64_t v[6];
    int ok = is_key(key);
    for (int i = 0; i < 6 && ok; i++) ok = field(&q, nl + 1, i == 5 ? '\n' : ' ', &v[i]);
    /* (the last field ends at the line's first '\n': q is nl + 1) */
    Rec *r = ok && !index_find(x, key) ? index_add(x, key) : NULL;
    if (!r) {
      bad = 1;
      break;
    }
    r->size = (uint64_t)v[0];
    r->atime = v[1];
    r->verified = v[2] == 1;
    r->st.dev = (uint64_t)v[3];
    r->st.ino = (uint64_t)v[4];
    r->st.mtime = v[5];
    r->st.size = r->size;
    p = nl + 1;
  }
  free(buf);
  if (bad) x->n = 0;
  return bad;
}

static int index_write(Index *x) {
  const char *ip = x->ip, *tp = x->tp;
  FILE *f = fopen(tp, "we");
  if (!f) return sys(errno, "cannot write", tp);
  fputs(INDEX_MAGIC, f);
  for (size_t i = 0; i < x->n; i++) {
    const Rec *r = &x->r[i];
    fprintf(f, "%s %" PRIu64 " %" PRId64 " %d %" PRIu64 " %" PRIu64 " %" PRId64 "\n", r->key,
            r->size, r->atime, r->verified, r->st.dev, r->st.ino, r->st.mtime);
  }
  /* No fsync: the index is a hint, rebuilt from the files when lost. */
  if (fclose(f) != 0) {
    int e = errno;
    unlink(tp);
    return sys(e, "cannot write", tp);
  }
  if (rename(tp, ip) != 0) {
    int e = errno;
    unlink(tp);
    return sys(e, "cannot replace", ip);
  }
  return TIDE_OK;
}

/* Calls fn on every file of every entry folder (dir/00 .. dir/ff). */
static void each_file(const char *dir, void (*fn)(void *ud, const char *path, const char *name),
                      void *ud) {
  static const char hex[] = "0123456789abcdef";
  char sub[4200], path[4600];
  for (int i = 0; i < 256; i++) {
    snprintf(sub, sizeof sub, "%s/%c%c", dir, hex[i >> 4], hex[i & 15]);
    DIR *d = opendir(sub);
    if (!d) continue;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
      fn(ud, path, e->d_name);
    }
    closedir(d);
  }
}

static int is_temp(const char *name) { return name[0] == '.' && strstr(name, ".tmp-") != NULL; }

static void scan_one(void *ud, const char *path, const char *name) {
  Index *x = ud;
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (is_key(name) && S_ISREG(st.st_mode)) {
    Rec *r = index_find(x, name);
    if (!r && (r = index_add(x, name))) {
      /* A last use from the file: its atime when later than its mtime. */
      int64_t a = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
      int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
      r->atime = a > m ? a : m;
    }
    if (r) {
      if (r->size != (uint64_t)st.st_size) r->verified = 0;
      r->size = (uint64_t)st.st_size;
      r->seen = 1;
    }
  } else if (is_temp(name) && now_ns() - ((int64_t)st.st_mtim.tv_sec * 1000000000) > TEMP_AGE_NS) {
    unlink(path); /* a writer killed before its rename, long ago */
  }
}

/* Makes the index agree with the files: entries nobody recorded (a store
** killed before its record) are added, records of vanished files go. */
static void index_scan(Index *x) {
  for (size_t i = 0; i < x->n; i++) x->r[i].seen = 0;
  each_file(x->dir, scan_one, x);
  for (size_t i = 0; i < x->n;) {
    if (!x->r[i].seen) index_remove(x, &x->r[i]);
    else i++;
  }
}

static int open_index(Index *x, const char *dir, int scan) {
  int rc = index_lock(x, dir);
  if (rc) return rc;
  if (index_read(x) || scan) index_scan(x);
  return TIDE_OK;
}

static int close_index(Index *x) {
  int rc = index_write(x);
  index_unlock(x);
  return rc;
}

static void unlink_entry(const Index *x, const char *key) {
  char path[4200];
  if (tide_cache_entry_path(x->dir, key, path, sizeof path) == TIDE_OK) unlink(path);
}

int tide_cache_use(const char *dir, const char *key, const tide_FileStamp *st, int *verified) {
  Index x;
  *verified = 0;
  int rc = open_index(&x, dir, 0);
  if (rc) return rc;
  Rec *r = index_find(&x, key);
  if (!r && (r = index_add(&x, key))) r->size = st->size;
  if (r) {
    *verified = r->verified && same_stamp(&r->st, st);
    r->atime = now_ns();
  }
  return close_index(&x);
}

int tide_cache_verified(const char *dir, const char *key, const tide_FileStamp *st) {
  Index x;
  int rc = open_index(&x, dir, 0);
  if (rc) return rc;
  Rec *r = index_find(&x, key);
  if (!r && (r = index_add(&x, key))) r->atime = now_ns();
  if (r) {
    r->verified = 1;
    r->st = *st;
    r->size = st->size;
  }
  return close_index(&x);
}

/* Index order of records by last use, oldest first. */
static int cmp_atime(const void *a, const void *b) {
  const Rec *x = *(Rec *const *)a, *y = *(Rec *const *)b;
  return (x->atime > y->atime) - (x->atime < y->atime);
}

int tide_cache_stored(const char *dir, const char *key, const tide_FileStamp *st,
                      uint64_t max_bytes, double max_age, tide_CacheEvicted *ev) {
  Index x;
  ev->entries = ev->bytes = 0;
  int rc = open_index(&x, dir, 1);
  if (rc) return rc;
  int64_t now = now_ns();
  Rec *r = index_find(&x, key);
  if (!r) r = index_add(&x, key);
  if (r) {
    r->size = st->size;
    r->atime = now;
    r->verified = 1;
    r->st = *st;
  }
  if (max_age > 0) {
    int64_t limit = now - (int64_t)(max_age * 1e9);
    for (size_t i = 0; i < x.n;) {
      Rec *q = &x.r[i];
      if (q->atime < limit && strcmp(q->key, key) != 0) {
        unlink_entry(&x, q->key);
        ev->entries++;
        ev->bytes += q->size;
        index_remove(&x, q);
      } else {
        i++;
      }
    }
  }
  if (max_bytes > 0) {
    uint64_t total = 0;
    for (size_t i = 0; i < x.n; i++) total += x.r[i].size;
    if (total > max_bytes) {
      Rec **order = tide__malloc(x.n * sizeof *order); /* x.n > 0: total > 0 */
      if (!order) {
        index_unlock(&x);
        return tide__seterr(TIDE_ENOMEM, "out of memory");
      }
      for (size_t i = 0; i < x.n; i++) order[i] = &x.r[i];
      qsort(order, x.n, sizeof *order, cmp_atime);
      for (size_t i = 0; i < x.n && total > max_bytes; i++) {
        if (strcmp(order[i]->key, key) == 0) continue;
        unlink_entry(&x, order[i]->key);
        ev->entries++;
        ev->bytes += order[i]->size;
        total -= order[i]->size;
        order[i]->seen = -1; /* removed below, after the pointers are done */
      }
      free(order);
      for (size_t i = 0; i < x.n;) {
        if (x.r[i].seen == -1) index_remove(&x, &x.r[i]);
        else i++;
      }
    }
  }
  return close_index(&x);
}

int tide_cache_drop(const char *dir, const char *key) {
  Index x;
  int rc = open_index(&x, dir, 0);
  if (rc) return rc;
  unlink_entry(&x, key);
  Rec *r = index_find(&x, key);
  if (r) index_remove(&x, r);
  return close_index(&x);
}

int tide_cache_info(const char *dir, uint64_t *entries, uint64_t *bytes) {
  Index x;
  int rc = open_index(&x, dir, 1);
  if (rc) return rc;
  *entries = x.n;
  *bytes = 0;
  for (size_t i = 0; i < x.n; i++) *bytes += x.r[i].size;
  return close_index(&x);
}

static void clear_one(void *ud, const char *path, const char *name) {
  uint64_t *removed = ud;
  if (is_key(name)) {
    if (unlink(path) == 0) (*removed)++;
  } else if (is_temp(name)) {
    unlink(path);
  }
}

int tide_cache_clear(const char *dir, uint64_t *removed) {
  Index x;
  *removed = 0;
  int rc = index_lock(&x, dir);
  if (rc) return rc;
  each_file(dir, clear_one, removed);
  unlink(x.ip);
  index_unlock(&x);
  return TIDE_OK;
}
