/*
** fuzz_npy.c -- libFuzzer target for the .npy header parser and the
** in-memory loader.  Writes no files; each input costs one header parse and
** at most one allocation of the input's own size (the loader checks the
** declared data size against the bytes present before allocating).
*/
#include <stdint.h>
#include <string.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Keep every array on the heap: no shared segment per input. */
  tide__config.share_bytes = (size_t)1 << 40;
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
