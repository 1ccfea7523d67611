/*
** storage.c -- the bytes behind arrays: heap blocks, anonymous shared
** memory, mapped user files and borrowed host buffers, reference counted.
**
** Shared segments never have a name that outlives this file's functions:
** they are memfd_create() objects, or files in tide__config.temp_dir made
** with O_TMPFILE (or, where a filesystem lacks it, created O_EXCL with
** mode 0600 and unlinked before anything else can fail).  So
** no segment is left behind in /dev/shm even when the process is killed
** with SIGKILL.  Space is reserved with posix_fallocate(): a full tmpfs is
** an error at creation, never a SIGBUS on first touch.
**
** Big requests are admitted first (memlimit.c): a heap array or a segment
** in memory must fit in what the machine and the memory cgroup still
** give, and a segment in a file must fit in its filesystem's free space.
** Reserving past either would not fail: the OOM killer would end this
** process or another, or the disk would fill for everyone while
** posix_fallocate crawls to its ENOSPC.
*/
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

tide_Config tide__config = {
  .share_bytes = 1u << 20,
  .temp_dir = "",
  .jobs = 0,
  .blas_threads_per_worker = 0,
  .in_worker = 0,
  .gen = 0,
};

/* Every live storage, so a forked worker can protect what it inherited. */
static tide_Storage *live;

unsigned long tide__fork_epoch;
uint64_t tide__write_clock;
size_t tide__unreported_bytes;
size_t tide__made_bytes;

/* Freed shared segments kept for reuse.  Creating a segment costs the
** kernel a reservation and a page-table walk (about 0.5 s for 800 MB
** here, where numpy's recycled heap costs 0.1 s), so arithmetic that
** makes and drops big temporaries reuses them.  Only segments no other
** process can map are kept: made here, after the last fork. */
#define SEG_CACHE 4
#define SEG_CACHE_MIN ((size_t)32 << 20)   /* small segments are cheap to make */
#define SEG_CACHE_BYTES ((size_t)4 << 30)
static struct { unsigned char *base; size_t len; int fd; } seg_cache[SEG_CACHE];
static int seg_n;

static void seg_drop(int i) {
  munmap(seg_cache[i].base, seg_cache[i].len);
  close(seg_cache[i].fd);
  seg_cache[i] = seg_cache[--seg_n];
}

size_t tide_storage_trim(void) {
  size_t freed = 0;
  while (seg_n > 0) {
    freed += seg_cache[0].len;
    seg_drop(0);
  }
  return freed;
}

/* Keeps s's segment for reuse; 0 when it cannot be kept. */
static int seg_keep(tide_Storage *s) {
  /* A worker keeps fewer, smaller ones: the result segments the parent
  ** gave back (leases), which it then fills again instead of making new. */
  int cap = tide__config.in_worker ? 2 : SEG_CACHE;
  size_t min = tide__config.in_worker ? ((size_t)1 << 20) : SEG_CACHE_MIN;
  if (s->kind != TIDE_STORE_SHARED || s->fd < 0 || s->maplen < min ||
      (s->flags & TIDE_SF_EXPORTED) ||
      s->epoch != tide__fork_epoch || s->gen != tide__config.gen || s->maplen > SEG_CACHE_BYTES)
    return 0;
  size_t total = s->maplen;
  for (int i = 0; i < seg_n; i++) total += seg_cache[i].len;
  while (seg_n > 0 && (seg_n >= cap || total > SEG_CACHE_BYTES)) {
    total -= seg_cache[0].len; /* the oldest goes */
    seg_drop(0);
  }
  seg_cache[seg_n].base = s->base;
  seg_cache[seg_n].len = s->maplen;
  seg_cache[seg_n].fd = s->fd;
  seg_n++;
  return 1;
}

/* A kept segment of exactly len bytes, zeroed unless !zero, or 0. */
static int seg_reuse(tide_Storage *s, size_t len, int zero) {
  for (int i = seg_n - 1; i >= 0; i--) {
    if (seg_cache[i].len != len) continue;
    s->base = seg_cache[i].base;
    s->maplen = s->nbytes = len;
    s->fd = seg_cache[i].fd;
    seg_cache[i] = seg_cache[--seg_n];
    if (zero) memset(s->base, 0, len);
    return 1;
  }
  return 0;
}

int tide_ncpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

const char *tide_fmt_bytes(double n, char *buf, size_t len) {
  static const char *const unit[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (n >= 1000.0 && u < 5) { n /= 1000.0; u++; }
  if (u == 0) snprintf(buf, len, "%.0f %s", n, unit[0]);
  else snprintf(buf, len, "%.1f %s", n, unit[u]);
  return buf;
}

static tide_Storage *storage_alloc(int kind) {
  tide_Storage *s = tide__calloc(1, sizeof *s);
  if (!s) return NULL;
  s->kind = kind;
  s->fd = -1;
  s->refs = 1;
  s->gen = tide__config.gen;
  s->epoch = tide__fork_epoch;
  tide_storage_touch(s);
  s->lnext = live;
  if (live) live->lprev = s;
  live = s;
  return s;
}

static void storage_free(tide_Storage *s) {
  if (s->lprev) s->lprev->lnext = s->lnext;
  else live = s->lnext;
  if (s->lnext) s->lnext->lprev = s->lprev;
  free(s->memo);
  free(s->path);
  free(s);
}

/* The live storage whose file is fd's (the same inode), or NULL: a
** segment handed over by descriptor keeps its worker mode across MPI
** ranks (runtime/mpi/), which see the descriptor, not the storage. */
tide_Storage *tide__storage_of_fd(int fd) {
  struct stat a, b;
  if (fd < 0 || fstat(fd, &a) != 0) return NULL;
  for (tide_Storage *s = live; s; s = s->lnext)
    if (s->fd >= 0 && fstat(s->fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
      return s;
  return NULL;
}

/* Chunks of malloc (array payloads, kernel buffers) from this size up
** are mappings of their own in a worker, so a freed one leaves the worker
** at once.  glibc's default threshold (128 kB) rises to the size of the
** largest mapped chunk freed, after which a worker's repeated mid-size
** buffers (a k-NN fold's distance blocks, a pass's row blocks) fragment
** its heap and keep a few MB resident per worker until it exits. */
#define WORKER_MMAP_THRESHOLD (64 << 10)

void tide__storage_after_fork(void) {
  mallopt(M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD);
  /* The parent's kept segments are the parent's: reusing one here would
  ** hand this worker memory the parent may hand out again. */
  while (seg_n > 0) seg_drop(0);
  for (tide_Storage *s = live; s; s = s->lnext) {
    if (s->wmode == TIDE_WMODE_RW) continue;
    if (s->wmode == TIDE_WMODE_COW) {
      /* Same address, same pages until written; writes stay in this worker. */
      if (s->kind == TIDE_STORE_SHARED && s->maplen && s->fd >= 0)
        tide__mmap(s->base, s->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, s->fd, 0);
      continue; /* heap bytes are copy-on-write after fork already */
    }
    s->flags |= TIDE_SF_READONLY | TIDE_SF_INHERITED;
    if (s->kind == TIDE_STORE_SHARED && s->maplen) mprotect(s->base, s->maplen, PROT_READ);
  }
}

static int new_heap(size_t nbytes, tide_Storage **out) {
  /* The block is zeroed at once: every page of it becomes real. */
  int rc = tide__admit_memory(nbytes, "an array");
  if (rc) return rc;
  tide_Storage *s = storage_alloc(TIDE_STORE_HEAP);
  void *p = NULL;
  /* 64-byte alignment: whole cache lines, and any SIMD width. */
  size_t len = nbytes ? (nbytes + 63) & ~(size_t)63 : 64;
  if (!s || tide__posix_memalign(&p, 64, len) != 0) {
    if (s) storage_free(s);
    char b[32];
    return tide__seterr(TIDE_ENOMEM, "out of memory allocating %s",
                        tide_fmt_bytes((double)nbytes, b, sizeof b));
  }
  memset(p, 0, len);
  s->base = p;
  s->nbytes = nbytes;
  *out = s;
  return TIDE_OK;
}

/* A file in dir with no name: O_TMPFILE where the filesystem has it (no
** name ever, so not even a SIGKILL between two calls leaves one behind),
** else an O_EXCL 0600 file with 64 random bits in its name, unlinked at
** once. */
static int open_unlinked(const char *dir) {
  int tf = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  if (tf >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return tf;
  char path[1200];
  for (int tries = 0; tries < 16; tries++) {
    uint64_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
      r = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&r ^ (uint64_t)tries;
    snprintf(path, sizeof path, "%s/tide-%d-%016llx", dir, (int)getpid(),
             (unsigned long long)r);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      unlink(path);
      return fd;
    }
    if (errno != EEXIST) return -1;
  }
  errno = EEXIST;
  return -1;
}

/* Reserves nbytes in fd; on ENOSPC says where there was no room.  A big
** request is checked first against the filesystem's free space and, when
** its pages are memory (memfd, tmpfs), against the memory left. */
static int reserve(int fd, size_t nbytes, const char *where) {
  char b[32], f[32];
  tide_fmt_bytes((double)nbytes, b, sizeof b);
  if (nbytes >= TIDE_ADMIT_MIN) {
    uint64_t room;
    int in_memory;
    int rc = tide__fs_room(fd, &room, &in_memory);
    if (rc) return rc;
    if (nbytes > room)
      return tide__syserr(TIDE_ENOSPC, ENOSPC, "no room for a %s array in %s (%s free)", b, where,
                          tide_fmt_bytes((double)room, f, sizeof f));
    if (in_memory && (rc = tide__admit_memory(nbytes, "a shared array"))) return rc;
  }
  int err;
  do err = tide__posix_fallocate(fd, 0, (off_t)nbytes); while (err == EINTR);
  if (err == 0) return TIDE_OK;
  if (err == ENOSPC || err == ENOMEM || err == EFBIG)
    return tide__syserr(TIDE_ENOSPC, ENOSPC, "no room for a %s array in %s", b, where);
  return tide__syserr(tide__errno_code(err), err, "cannot reserve %s in %s", b, where);
}

static int map_fd(tide_Storage *s, int fd, size_t nbytes, int prot, int flags) {
  void *p = tide__mmap(NULL, nbytes, prot, flags, fd, 0);
  if (p == MAP_FAILED) {
    char b[32];
    return tide__syserr(tide__errno_code(errno), errno, "cannot map %s",
                        tide_fmt_bytes((double)nbytes, b, sizeof b));
  }
  s->base = p;
  s->nbytes = nbytes;
  s->maplen = nbytes;
  return TIDE_OK;
}

static int new_shared(size_t nbytes, int zero, tide_Storage **out) {
  const char *dir = tide__config.temp_dir;
  int fd, rc;
  const char *where;
  if (seg_n > 0) {
    tide_Storage *r = storage_alloc(TIDE_STORE_SHARED);
    if (r && seg_reuse(r, nbytes, zero)) {
      *out = r;
      return TIDE_OK;
    }
    if (r) storage_free(r);
  }
  if (dir[0] == '\0') {
    where = "shared memory (memfd)";
    fd = tide__memfd_create("tide", MFD_CLOEXEC);
    if (fd < 0) return tide__syserr(tide__errno_code(errno), errno, "memfd_create failed");
    rc = reserve(fd, nbytes, where);
  } else {
    where = dir;
    fd = open_unlinked(dir);
    if (fd < 0)
      return tide__syserr(tide__errno_code(errno), errno,
                          "cannot create a shared segment in %s", dir);
    rc = reserve(fd, nbytes, where);
    /* joblib's rule: /dev/shm when it has room, else the temp folder
    ** (on a disk, where memory is no limit). */
    if ((rc == TIDE_ENOSPC || rc == TIDE_ENOMEM) && strncmp(dir, "/dev/shm", 8) == 0) {
      const char *tmp = getenv("TMPDIR");
      if (!tmp || !*tmp) tmp = "/tmp";
      char first[512]; /* the error to report if the temp folder fails too */
      snprintf(first, sizeof first, "%s", tide_lasterror());
      int fd2 = open_unlinked(tmp);
      if (fd2 >= 0) {
        int rc2 = reserve(fd2, nbytes, tmp);
        if (rc2 == TIDE_OK) {
          close(fd);
          fd = fd2;
          rc = TIDE_OK;
        } else {
          close(fd2);
        }
      }
      if (rc != TIDE_OK) tide__seterr(rc, "%s; no room in %s either", first, tmp);
    }
  }
  tide_Storage *s = NULL;
  if (rc == TIDE_OK && !(s = storage_alloc(TIDE_STORE_SHARED)))
    rc = tide__seterr(TIDE_ENOMEM, "out of memory");
  /* The pages exist already (fallocate): map them all at once instead of
  ** taking one fault per 4 KiB page on first touch. */
  if (rc == TIDE_OK) rc = map_fd(s, fd, nbytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE);
  if (rc != TIDE_OK) {
    if (s) storage_free(s);
    close(fd);
    return rc;
  }
  s->fd = fd;
  *out = s;
  return TIDE_OK;
}

static int new_any(size_t nbytes, int shared, int zero, tide_Storage **out) {
  return shared && nbytes > 0 ? new_shared(nbytes, zero, out) : new_heap(nbytes, out);
}

int tide_storage_new(size_t nbytes, int where, tide_Storage **out) {
  *out = NULL;
  int wmode = (where & TIDE_WHERE_WORKER_RW) ? TIDE_WMODE_RW
            : (where & TIDE_WHERE_WORKER_COW) ? TIDE_WMODE_COW : TIDE_WMODE_RO;
  int zero = !(where & TIDE_WHERE_UNINIT);
  where &= TIDE_WHERE_MASK;
  if (where == TIDE_WHERE_AUTO)
    where = nbytes >= tide__config.share_bytes ? TIDE_WHERE_SHARED : TIDE_WHERE_HEAP;
  /* Shared read-write storage must be shared memory even when small. */
  if (wmode == TIDE_WMODE_RW) where = TIDE_WHERE_SHARED;
  int shared = where == TIDE_WHERE_SHARED;
  int rc = new_any(nbytes, shared, zero, out);
  if ((rc == TIDE_ENOSPC || rc == TIDE_ENOMEM) && seg_n > 0) { /* kept segments hold the room */
    tide_storage_trim();
    rc = new_any(nbytes, shared, zero, out);
  }
  if (rc == TIDE_OK) {
    (*out)->wmode = wmode;
    tide__unreported_bytes += nbytes;
    tide__made_bytes += nbytes;
  }
  return rc;
}

int tide_storage_adopt_fd(int fd, size_t nbytes, tide_Storage **out) {
  struct stat st;
  *out = NULL;
  if (fstat(fd, &st) != 0)
    return tide__syserr(TIDE_EIO, errno, "cannot stat a handed-over segment");
  if ((uint64_t)st.st_size < nbytes)
    return tide__seterr(TIDE_EFORMAT, "handed-over segment holds %lld bytes, expected %zu",
                        (long long)st.st_size, nbytes);
  if (nbytes == 0) {
    int rc = new_heap(0, out);
    if (rc == TIDE_OK) close(fd);
    return rc;
  }
  tide_Storage *s = storage_alloc(TIDE_STORE_SHARED);
  if (!s) return tide__seterr(TIDE_ENOMEM, "out of memory");
  int rc = map_fd(s, fd, nbytes, PROT_READ | PROT_WRITE, MAP_SHARED);
  if (rc != TIDE_OK) {
    storage_free(s);
    return rc;
  }
  s->fd = fd;
  s->flags |= TIDE_SF_EXPORTED; /* the sender may still map it */
  tide__unreported_bytes += nbytes;
  *out = s;
  return TIDE_OK;
}

int tide_storage_map_fd(int fd, const char *path, char mode, uint64_t offset,
                        size_t nbytes, tide_Storage **out) {
  *out = NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) return tide__syserr(TIDE_EIO, errno, "cannot stat %s", path);
  if (!S_ISREG(st.st_mode)) return tide__seterr(TIDE_EINVAL, "%s is not a regular file", path);
  if (offset > (uint64_t)st.st_size || (uint64_t)st.st_size - offset < nbytes)
    return tide__seterr(TIDE_EFORMAT, "%s holds %lld bytes but its header describes %llu", path,
                        (long long)st.st_size, (unsigned long long)(offset + nbytes));
  tide_Storage *s = storage_alloc(TIDE_STORE_FILE);
  char *pathcopy = tide__strdup(path);
  if (!s || !pathcopy) {
    if (s) storage_free(s);
    free(pathcopy);
    return tide__seterr(TIDE_ENOMEM, "out of memory");
  }
  s->path = pathcopy;
  static unsigned char no_bytes[8]; /* an empty array's address: never NULL */
  s->base = no_bytes;
  if (nbytes > 0) {
    /* From the page boundary below offset: unref finds the start again as
    ** base - (maplen - nbytes). */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = offset - offset % page;
    size_t len = (size_t)(offset - start) + nbytes;
    int prot = PROT_READ | (mode == 'r' ? 0 : PROT_WRITE);
    int flags = mode == 'c' ? MAP_PRIVATE : MAP_SHARED;
    void *p = tide__mmap(NULL, len, prot, flags, fd, (off_t)start);
    if (p == MAP_FAILED) {
      int e = errno;
      char b[32];
      storage_free(s);
      return tide__syserr(tide__errno_code(e), e, "cannot map %s of %s",
                          tide_fmt_bytes((double)nbytes, b, sizeof b), path);
    }
    s->base = (unsigned char *)p + (offset - start);
    s->maplen = len;
  }
  s->nbytes = nbytes;
  if (mode == 'r') s->flags |= TIDE_SF_READONLY;
  if (mode == 'c') s->flags |= TIDE_SF_PRIVATE;
  *out = s;
  return TIDE_OK;
}

int tide_storage_map_file(const char *path, char mode, size_t offset,
                          size_t nbytes, tide_Storage **out) {
  *out = NULL;
  int oflags = (mode == 'w') ? O_RDWR : O_RDONLY;
  int fd = open(path, oflags | O_CLOEXEC);
  if (fd < 0) return tide__syserr(tide__errno_code(errno), errno, "cannot open %s", path);
  int rc = tide_storage_map_fd(fd, path, mode, offset, nbytes, out);
  close(fd); /* the mapping keeps the file alive */
  return rc;
}

int tide_storage_borrow(void *data, size_t nbytes, void (*release)(void *),
                        void *ud, tide_Storage **out) {
  tide_Storage *s = storage_alloc(TIDE_STORE_BORROWED);
  *out = NULL;
  if (!s) return tide__seterr(TIDE_ENOMEM, "out of memory");
  s->base = data;
  s->nbytes = nbytes;
  s->release = release;
  s->ud = ud;
  *out = s;
  return TIDE_OK;
}

void tide_storage_ref(tide_Storage *s) { s->refs++; }

void tide_storage_unref(tide_Storage *s) {
  if (!s || --s->refs > 0) return;
  switch (s->kind) {
    case TIDE_STORE_HEAP: free(s->base); break;
    case TIDE_STORE_SHARED:
      if (seg_keep(s)) break;
      if (s->maplen) munmap(s->base, s->maplen);
      if (s->fd >= 0) close(s->fd);
      if (s->on_free)
        s->on_free(s->free_ud, s->free_tag,
                   !(s->flags & TIDE_SF_SENT) && s->epoch == tide__fork_epoch);
      break;
    case TIDE_STORE_FILE:
      if (s->maplen) munmap(s->base - (s->maplen - s->nbytes), s->maplen);
      break;
    case TIDE_STORE_BORROWED:
      if (s->release) s->release(s->ud);
      break;
  }
  storage_free(s);
}

int tide_storage_flush(tide_Storage *s) {
  if (!s || s->kind != TIDE_STORE_FILE || !s->maplen || (s->flags & TIDE_SF_PRIVATE))
    return TIDE_OK;
  unsigned char *start = s->base - (s->maplen - s->nbytes);
  if (msync(start, s->maplen, MS_SYNC) != 0)
    return tide__syserr(TIDE_EIO, errno, "msync of %s failed", s->path ? s->path : "file");
  return TIDE_OK;
}
