/* fuzz_csv.c -- libFuzzer target for the CSV parser: two option bytes, then the text.
**   byte 0: dtype (% 6), header (/ 6 % 3), categorical (/ 18 % 3: codes, skip,
**           error), / 54 % 2: only the markers "-1" and "x" are missing
**   byte 1: delimiter (bits 0-1), caps (2, 3), a selection (4), comment '#'
**           (5), decimal ',' unless ',' delimits (6), na_values "-999" and
**           "?" besides the defaults (7) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static const char delims[4] = {',', '\t', ';', ' '};
  tide_CsvOptions o;
  tide_csv_options_init(&o);
  o.dtype = data[0] % TIDE_NDTYPES;
  o.header = (int)(data[0] / TIDE_NDTYPES % 3) - 1;
  o.delimiter = delims[data[1] & 3];
  o.categorical = data[0] / 18 % 3;
  static const char *const own_na[] = {"-1", "x"}, *const more_na[] = {"-999", "?"};
  if (data[0] / 54 % 2) {
    o.keep_default_na = 0;
    o.na_values = own_na;
    o.n_na_values = 2;
  } else if (data[1] & 128) {
    o.na_values = more_na;
    o.n_na_values = 2;
  }
  if (data[1] & 32) o.comment = '#';
  if ((data[1] & 64) && o.delimiter != ',') o.decimal = ',';
  /* Small caps sometimes, so the limit paths are reached by short inputs. */
  if (data[1] & 4) o.max_field = 8;
  if (data[1] & 8) o.max_columns = 3;
  /* A selection sometimes: the last column, then the first. */
  tide_CsvColumn sel[2] = {{NULL, -1}, {NULL, 0}};
  if (data[1] & 16) {
    o.columns = sel;
    o.ncolumns = 2;
  }
  /* Copy into an exact-size buffer so ASan sees any read past the end. */
  size_t n = size - 2;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return 0;
  memcpy(buf, data + 2, n);
  tide_Array a;
  tide_CsvInfo info;
  int rc = tide_csv_parse(buf, n, &o, &a, &info);
  if (rc == TIDE_OK) {
    /* An oracle for the number parsers: a lone field made of number
    ** characters must read as strtod / strtoll read it (unless it was
    ** not a number, "1-2", and made a text column). */
    size_t numeric = 0; /* buf is not terminated: no strspn */
    while (numeric < n && numeric < 64 && buf[numeric] && strchr("0123456789+-.eE", buf[numeric]))
      numeric++;
    if (n > 0 && n < 64 && numeric == n && !o.columns && o.header == TIDE_CSV_HEADER_NO &&
        o.decimal == '.' && o.n_na_values == 0 && info.ntext == 0 && a.shape[0] == 1 &&
        a.shape[1] == 1) {
      char text[64];
      memcpy(text, buf, n);
      text[n] = 0;
      if (o.dtype == TIDE_F64) {
        double want = strtod(text, NULL), got = *(double *)a.data;
        if (memcmp(&want, &got, sizeof got) != 0) abort();
      } else if (o.dtype == TIDE_I64) {
        if (strtoll(text, NULL, 10) != *(int64_t *)a.data) abort();
      }
    }
    /* The result must agree with the info, and every name must be readable. */
    if (a.ndim != 2 || a.shape[0] != info.nrows || a.shape[1] != info.ncols) abort();
    size_t total = 0;
    for (int64_t j = 0; j < info.ncols; j++) total += strlen(info.names[j]);
    if (total > n * (size_t)(info.ncols ? info.ncols : 1)) abort(); /* names come from the input */
    /* Codes: each coded column holds NaN or 1..k, every code used, the k
    ** strings strictly increasing in byte order. */
    if (info.levels && (o.categorical != TIDE_CSV_CODES || info.ntext == 0)) abort();
    if (!info.levels && o.categorical == TIDE_CSV_CODES && info.ntext) abort();
    if (o.categorical == TIDE_CSV_ERROR && info.ntext) abort();
    for (int64_t j = 0; info.levels && j < info.ncols; j++) {
      if (!info.levels[j]) continue;
      int64_t k = info.nlevels[j];
      if (k < 1) abort();
      for (int64_t l = 1; l < k; l++)
        if (strcmp(info.levels[j][l - 1], info.levels[j][l]) >= 0) abort();
      unsigned char *used = calloc((size_t)k, 1);
      if (!used) abort();
      for (int64_t i = 0; i < a.shape[0]; i++) {
        double v = tide_load_f64(a.dtype, a.data + i * a.strides[0] + j * a.strides[1]);
        if (v != v) continue;
        if (v < 1 || v > (double)k || v != (double)(int64_t)v) abort();
        used[(int64_t)v - 1] = 1;
      }
      for (int64_t l = 0; l < k; l++)
        if (!used[l]) abort();
      free(used);
    }
    tide_csv_info_free(&info);
    tide_array_close(&a);
  } else if (a.storage || info.names || info.levels) {
    abort();
  }
  free(buf);
  return 0;
}
