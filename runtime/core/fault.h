/*
** fault.h -- the core's fallible acquisitions, through one set of names.
**
** Every malloc, mmap, memfd, fallocate, socketpair, fork and posix_spawn of the core is
** written tide__malloc, tide__mmap, ...  In a normal build these are the
** libc calls themselves (macros, nothing added).  Built with TIDE_FAULTS
** (cmake -DTIDE_FAULTS=ON, the sanitizer build) they are wrappers that count
** each call and make the armed one fail as the real call would under
** exhaustion (NULL / MAP_FAILED / -1 with errno), as SQLite's malloc tests
** do, so a driver can fail every acquisition of a scenario in turn
** (tests/lua/faults.lua; tide._internal.faults in l_fault.c).
*/
#ifndef TIDE_FAULT_H
#define TIDE_FAULT_H

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef TIDE_FAULTS

void *tide__malloc(size_t n);
void *tide__calloc(size_t n, size_t size);
void *tide__realloc(void *p, size_t n);
char *tide__strdup(const char *s);
int tide__posix_memalign(void **p, size_t align, size_t n);
void *tide__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int tide__memfd_create(const char *name, unsigned flags);
int tide__posix_fallocate(int fd, off_t off, off_t len);
int tide__ftruncate(int fd, off_t len);
int tide__pipe(int fd[2]);
int tide__socketpair(int domain, int type, int protocol, int sv[2]);
pid_t tide__fork_raw(void); /* fork() itself: pool.c's tide__fork wraps it */
int tide__posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                      const posix_spawnattr_t *at, char *const argv[], char *const envp[]);

/* Arms the core's injection: the at-th acquisition from now fails (and each
** later one too when persist); at = 0 disarms.  Only the calling process
** counts: forked workers inherit a disarmed state. */
void tide__fault_arm(long at, int persist);
/* Acquisitions counted since the last arm, and how many were failed. */
long tide__fault_passed(void);
long tide__fault_fired(void);
/* 1 when the next acquisition should fail (counts it). */
int tide__fault_hit(void);

#else

#define tide__malloc malloc
#define tide__calloc calloc
#define tide__realloc realloc
#define tide__strdup strdup
#define tide__posix_memalign posix_memalign
#define tide__mmap mmap
#define tide__memfd_create memfd_create
#define tide__posix_fallocate posix_fallocate
#define tide__ftruncate ftruncate
#define tide__pipe pipe
#define tide__socketpair socketpair
#define tide__fork_raw fork
#define tide__posix_spawn posix_spawn

#endif
#endif /* TIDE_FAULT_H */
