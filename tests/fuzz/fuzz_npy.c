/*
** fuzz_npy.c -- libFuzzer target for the .npy header parser and the
** in-memory loader, and (inputs starting "PK") for the .npz reader.
** Writes no files: an .npz input lives in a memfd opened through
** /proc/self/fd.  Each input costs one header parse and allocations bounded
** by a constant times its size (declared sizes are checked against the
** bytes present, and deflate members against deflate's maximum ratio).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_npz(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz-npz", MFD_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, data, size) == (ssize_t)size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tide_Npz *z;
    if (tide_npz_open(path, &z) == TIDE_OK) {
      for (int i = 0; i < tide_npz_count(z); i++) {
        tide_Array a;
        if (tide_npz_read(z, i, &a) == TIDE_OK) tide_array_close(&a);
      }
      tide_npz_close(z);
    }
  }
  close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Keep every array on the heap: no shared segment per input. */
  tide__config.share_bytes = (size_t)1 << 40;
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
    fuzz_npz(data, size);
    return 0;
  }
  tide_NpyHeader h;
  if (tide_npy_parse_header(data, size, &h) == TIDE_OK) {
    /* What a parsed header promises must be self-consistent. */
    if (h.ndim < 0 || h.ndim > TIDE_MAXDIM || h.header_len > size) __builtin_trap();
  }
  tide_Array a;
  if (tide_npy_load_buffer(data, size, "fuzz", &a) == TIDE_OK) {
    if (!a.storage || (uint64_t)tide_array_size(&a) * (uint64_t)tide_dtype_size(a.dtype) > size)
      __builtin_trap();
    tide_array_close(&a);
  }
  return 0;
}
