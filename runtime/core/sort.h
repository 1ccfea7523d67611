/*
** sort.h -- sorting and order statistics (sort.c), and the pieces of the
** parallel sample sort that the bindings run as a parallel loop's tasks
** (psort.c).  Pure C; functions return TIDE_OK or a negative TIDE_E* code
** with a message for tide_lasterror(); results are new C-ordered arrays
** (TIDE_WHERE_AUTO), left closed on failure.  dim is 0-based; index
** results are i64, plus base (1 from Lua).
**
** Order: numpy's.  NaN sorts after everything (every NaN equal to every
** other), -0.0 equals 0.0; with `desc` the order of the numbers is
** reversed and NaN still comes last (pandas' and R's na.last).  Every sort
** here is stable -- equal elements keep their order, descending too -- so
** results never depend on the algorithm: an LSD radix sort of order-
** preserving integer keys for long lanes, a merge sort for short ones.
*/
#ifndef TIDE_SORT_H
#define TIDE_SORT_H

#include "ops.h"

/* out = a sorted along dim (a's dtype and shape). */
int tide_sort(const tide_Array *a, int dim, bool desc, tide_Array *out);
/* out = the order of a along dim: out[..., i] is the position (plus
** base) of the i-th element of the sorted lane. */
int tide_argsort(const tide_Array *a, int dim, bool desc, int64_t base, tide_Array *out);
/* The k largest (largest) or smallest elements along dim, in that order,
** and their positions plus base: the first k of a stable descending
** (ascending) sort.  k above the dimension's size is TIDE_ERANGE. */
int tide_topk(const tide_Array *a, int64_t k, int dim, bool largest, int64_t base,
              tide_Array *vals, tide_Array *idx);
/* numpy's unique of the flattened a (NaNs count as one value, numpy
** 1.24's equal_nan): the sorted distinct values, and when asked (non-NULL)
** how many times each occurs and, for each element of a in C order, the
** position of its value plus base. */
int tide_unique(const tide_Array *a, int64_t base, tide_Array *vals, tide_Array *counts,
                tide_Array *inverse);
/* numpy's searchsorted: for each element of v, the position (plus base)
** where it would go in the sorted 1-D s: before the equal ones (left) or
** after them (right).  out has v's shape. */
int tide_searchsorted(const tide_Array *s, const tide_Array *v, bool right, int64_t base,
                      tide_Array *out);

/* Quantile methods, numpy's names and formulas (numpy.quantile). */
typedef enum tide_QMethod {
  TIDE_Q_LINEAR = 0, TIDE_Q_LOWER, TIDE_Q_HIGHER, TIDE_Q_MIDPOINT, TIDE_Q_NEAREST,
  TIDE_Q_INVERTED_CDF, TIDE_Q_AVERAGED_INVERTED_CDF, TIDE_Q_CLOSEST_OBSERVATION,
  TIDE_Q_INTERPOLATED_INVERTED_CDF, TIDE_Q_HAZEN, TIDE_Q_WEIBULL, TIDE_Q_MEDIAN_UNBIASED,
  TIDE_Q_NORMAL_UNBIASED, TIDE_NQMETHODS
} tide_QMethod;

/* The method named s ("linear"), or -1. */
int tide_qmethod_parse(const char *s);
const char *tide_qmethod_name(int m);
/* Quantiles q[0..nq) (each in [0, 1]) of a along dim (-1: all of it).
** out's shape is qshape (nqdim dimensions, 0 for one number) followed by
** a's without dim.  Interpolating methods give f64; lower, higher,
** nearest, inverted_cdf and closest_observation give elements, in a's
** dtype.  A lane holding NaN gives NaN, unless skipnan: then the NaNs are
** left out (a lane of nothing but NaN gives NaN). */
int tide_quantile(const tide_Array *a, const double *q, int nqdim, const int64_t *qshape,
                  int dim, int method, bool skipnan, tide_Array *out);
/* numpy's median: the middle element, or the mean of the middle two;
** f32 stays f32 along a dimension, integers give f64. */
int tide_median(const tide_Array *a, int dim, bool skipnan, tide_Array *out);

/* ------------------------------------------------------------- psort.c
** A sample sort of a 1-D array, in stages that workers run on parts of it:
**   plan     (parent) nb - 1 splitters from a sample of the keys;
**   count    (per chunk of the input) how many keys of each bucket;
**   offsets  (parent) where each chunk's share of each bucket goes;
**   scatter  (per chunk) keys (and positions) into their buckets, in order;
**   bucket   (per bucket) sorts its range and writes it into the result.
** Every stage keeps the input order of equal keys, and equal keys fall in
** one bucket, so the result is exactly the one-process sort's. */
#define TIDE_PSORT_MAXB 256 /* buckets at most */

typedef struct tide_PSort {
  int dt;               /* the input's dtype */
  bool desc, arg;       /* descending; argsort (positions) rather than values */
  int64_t n, base;      /* elements; index base for argsort */
  int nb, nchunks;      /* buckets, input chunks */
  uint64_t *split;      /* nb - 1 splitters (the caller's memory) */
} tide_PSort;

/* Fills ps and draws the splitters into split (nb entries): a fixed
** sample of a, so the same ones every time; TIDE_ENOMEM.  nb is rounded
** down to a power of two (at most TIDE_PSORT_MAXB). */
int tide__psort_plan(tide_PSort *ps, const tide_Array *a, int nb, int nchunks, uint64_t *split);
/* Chunk c's input range [lo, hi). */
void tide__psort_chunk(const tide_PSort *ps, int c, int64_t *lo, int64_t *hi);
/* counts[b] = keys of chunk c in bucket b (nb entries). */
void tide__psort_count(const tide_PSort *ps, const tide_Array *a, int c, int64_t *counts);
/* Turns counts (nchunks x nb, chunk-major) into each chunk's first output
** position per bucket, in place; bstart gets each bucket's start (nb + 1
** entries, the last n). */
void tide__psort_offsets(const tide_PSort *ps, int64_t *counts, int64_t *bstart);
/* Writes chunk c's keys (and positions, arg) at its offsets. */
void tide__psort_scatter(const tide_PSort *ps, const tide_Array *a, int c, const int64_t *offs,
                         uint64_t *keys, uint64_t *pos);
/* Sorts a bucket (keys[lo, hi), with pos for arg) in the calling
** process's own memory and writes the result's range: a's values or
** positions + base, into out (a 1-D array of n; keys and pos may be
** out's memory). */
int tide__psort_bucket(const tide_PSort *ps, int64_t lo, int64_t hi, uint64_t *keys,
                       uint64_t *pos, tide_Array *out);

/* Shared with psort.c (sort.c): an element run's keys (canon: -0.0 as
** 0.0, for positions) and back; a stable sort of n keys with 64-bit
** payloads p (or none), kt and pt scratch of n: true when the result ended
** in kt / pt. */
void tide__sort_encode(int dt, const unsigned char *p, int64_t n, int64_t st, bool canon,
                       bool desc, uint64_t *k);
void tide__sort_decode(int dt, bool desc, const uint64_t *k, int64_t n, unsigned char *o,
                       int64_t so);
bool tide__sort_keys(uint64_t *k, uint64_t *kt, uint64_t *p, uint64_t *pt, int64_t n);

#endif /* TIDE_SORT_H */
