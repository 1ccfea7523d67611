/*
** stats.h -- elementwise math beyond ops.h (elem.c), and the reductions,
** cumulative operations and summaries of stats.c.  Pure C: every function
** returns TIDE_OK or a negative TIDE_E* code with a message for
** tide_lasterror(); results are new C-ordered arrays (TIDE_WHERE_AUTO, so
** big ones land in shared memory), left closed on failure.
**
** Elementwise math (numpy's ufuncs of the same names):
**   sin cos tan asin acos atan sinh cosh tanh log1p expm1 log2 log10
**            f32 gives f32 (computed with the float functions), every
**            other dtype f64.
**   sign     keeps the dtype (-1, 0, 1; NaN stays NaN, -0.0 gives 0.0);
**            bool is refused, as numpy refuses it.
**   isnan isfinite   bool arrays (integers: never NaN, always finite).
**   atan2(y, x)      broadcasts as arithmetic; the dtype of y / x.
**
** Reductions with numpy's nan* twins: tide_reduce_ex runs ops.h's
** reductions, prod, and with skipnan NaN counts as absent: sum and prod
** skip it (an all-NaN slice sums to 0, multiplies to 1), mean / var / std /
** min / max / norm / median of an all-NaN slice are NaN, argmin / argmax
** refuse one ("all-NaN slice"), count / any / all ignore NaN.  Integer and
** bool arrays have no NaN: skipnan changes nothing for them.
*/
#ifndef TIDE_STATS_H
#define TIDE_STATS_H

#include "ops.h"

typedef enum tide_MathOp {
  TIDE_SIN = 0, TIDE_COS, TIDE_TAN, TIDE_ASIN, TIDE_ACOS, TIDE_ATAN,
  TIDE_SINH, TIDE_COSH, TIDE_TANH, TIDE_LOG1P, TIDE_EXPM1, TIDE_LOG2,
  TIDE_LOG10, TIDE_SIGN, TIDE_ISNAN, TIDE_ISFINITE,
  TIDE_NMATHOPS
} tide_MathOp;

/* "sin", for messages. */
const char *tide_mathop_name(int op);
/* out = op(a), a new array. */
int tide_math(int op, const tide_Array *a, tide_Array *out);
/* op of one double (sign of a double, isnan / isfinite as 0 or 1). */
double tide_math_f64(int op, double x);
/* out = atan2(y, x) elementwise with broadcasting; one operand may be a
** scalar. */
int tide_atan2(const tide_Operand *y, const tide_Operand *x, tide_Array *out);

/* --------------------------------------------------------------- stats.c */

/* prod is reduction number TIDE_NREDOPS: the products' dtype is sum's. */
#define TIDE_RPROD TIDE_NREDOPS

/* tide_reduce (ops.h) plus prod, and with skipnan numpy's nan* functions.
** ddof as tide_reduce's (var/std divisor offset, argmin/argmax base). */
int tide_reduce_ex(int op, const tide_Array *a, int dim, int ddof, bool skipnan,
                   tide_Array *out);

/* Calls fn once per lane of a along dim: p the lane's first element, n
** its length, st the byte stride between its elements, k the lane's
** number in C order of the other dimensions.  dim -1: the whole array is
** one lane (a C-ordered copy when a is not C-contiguous).  Returns fn's
** first nonzero. */
typedef int (*tide_LaneFn)(const unsigned char *p, int64_t n, int64_t st, int64_t k,
                           void *ud);
int tide__lanes(const tide_Array *a, int dim, tide_LaneFn fn, void *ud);

/* Shape of a without dim (dim -1: no dimensions); returns the count. */
int tide__drop_dim(const tide_Array *a, int dim, int64_t *shape);

/* Running sums / products along dim (dim -1: of the flattened array, a
** 1-D result), added in order as numpy does: ints and bool give i64
** (wrapping), f32 stays f32 (accumulated in f32, as numpy), f64 f64. */
int tide_cumsum(const tide_Array *a, int dim, tide_Array *out);
int tide_cumprod(const tide_Array *a, int dim, tide_Array *out);
/* out = a[1:] - a[:-1] along dim, n times (numpy's diff): the dtype is
** a's (integers wrap), bool gives a != of neighbours.  A dimension of
** length <= n gives an empty result. */
int tide_diff(const tide_Array *a, int dim, int n, tide_Array *out);

/* Counts of the 1-based values of idx (a 1-D integer array): out[v] is
** how many times v occurs (or the sum of their weights, f64, when w is
** not NULL), for v = 1 .. max(max(idx), minlength).  A value below 1 is
** an error naming its position. */
int tide_bincount(const tide_Array *idx, const tide_Array *w, int64_t minlength,
                  tide_Array *out);

/* numpy's histogram: nbins equal bins over [lo, hi] (edges == NULL; lo >
** hi or NaN means from a's finite min and max), or the bins between the
** nedges increasing edges.  Each bin is half-open [e_i, e_i+1) but the
** last, which holds its right edge; values outside, and NaN, are not
** counted.  hist: i64 counts, or f64 sums of w, divided by the total and
** the bin widths when density.  out_edges: the f64 edges. */
int tide_histogram(const tide_Array *a, int64_t nbins, double lo, double hi,
                   const tide_Array *edges, const tide_Array *w, bool density,
                   tide_Array *hist, tide_Array *out_edges);

/* numpy's cov and corrcoef: the variables are the rows of x (rowvar) or
** its columns; y, when given, adds its variables after x's.  ddof: the
** divisor is observations - ddof (1 by default in numpy's cov).  A 1-D x
** is one variable.  out is k x k for k variables, f64. */
int tide_cov(const tide_Array *x, const tide_Array *y, bool rowvar, int ddof,
             bool corr, tide_Array *out);

#endif /* TIDE_STATS_H */
