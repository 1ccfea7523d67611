/*
** shape.h -- joining, splitting, repeating and reordering arrays
** (shape.c), and boolean masks (select.c).  Pure C: functions return
** TIDE_OK or a negative TIDE_E* code with a message for tide_lasterror();
** results are new C-ordered arrays made with TIDE_WHERE_AUTO (big ones in
** shared memory), left closed on failure.  Dimensions are 0-based here.
**
** Joining promotes dtypes as arithmetic does (tide_promote): an i64 array
** concatenated with an f32 one gives f64.
*/
#ifndef TIDE_SHAPE_H
#define TIDE_SHAPE_H

#include "ops.h"

/* Byte strides of x seen with a broadcast shape of ndim dimensions:
** x's dimensions aligned on the right, 0 where x has size 1 or lacks the
** dimension. */
void tide__bcast_strides(const tide_Array *x, int ndim, int64_t *st);

/* out = the n arrays joined along dim; their other dimensions must agree
** ("array 2 has shape 3x5: dimension 2 should be 4, as array 1's").  */
int tide_concat(int n, const tide_Array *const *arrs, int dim, tide_Array *out);
/* out = the n same-shaped arrays stacked along a new dimension dim
** (0..ndim). */
int tide_stack(int n, const tide_Array *const *arrs, int dim, tide_Array *out);
/* out[(i + k) mod len] = a[i] along dim; dim -1 rolls the flattened array
** (C order) and keeps a's shape. */
int tide_roll(const tide_Array *a, int64_t k, int dim, tide_Array *out);
/* numpy's tile: reps (nreps counts) repeat a along each dimension; the
** shorter of a's shape and reps is padded with leading 1s. */
int tide_tile(const tide_Array *a, int nreps, const int64_t *reps, tide_Array *out);
/* numpy's repeat: each entry along dim repeated counts[i] times (ncounts
** == 1: every entry counts[0] times); dim -1 repeats the flattened array. */
int tide_repeat(const tide_Array *a, const int64_t *counts, int64_t ncounts, int dim,
                tide_Array *out);
/* numpy's diag: a 1-D a gives a square matrix with a on diagonal k (k > 0
** above the main one); a 2-D a gives a copy of its diagonal k. */
int tide_diag(const tide_Array *a, int64_t k, tide_Array *out);
/* A view of diagonal k of the last two dimensions of a 2-D array. */
int tide_array_diagonal(tide_Array *a, int64_t k);
/* numpy's tril (upper 0) and triu (upper 1): a copy of a with the elements
** above (below) diagonal k of its last two dimensions set to 0; a 1-D a is
** taken as the square matrix with a in every row. */
int tide_tri(const tide_Array *a, int64_t k, int upper, tide_Array *out);
/* out[i][j] = u[i] * v[j] of the flattened u and v (dtype of u * v; two
** bool vectors give their logical and, as numpy's). */
int tide_outer(const tide_Array *u, const tide_Array *v, tide_Array *out);

/* In-place view edits (apply them to a fresh tide_array_view). */
int tide_array_flip(tide_Array *a, int dim);      /* reverses dim */
int tide_array_squeeze(tide_Array *a, int dim);   /* drops dim, of size 1; -1: all size-1 dims */
int tide_array_unsqueeze(tide_Array *a, int dim); /* new size-1 dim at dim (0..ndim) */

/* ---------------------------------------------------------------- select.c
** A mask is a bool array whose shape is a's or a's leading dimensions (a
** mask of a matrix's rows): it selects the elements (or rows) where it is
** true, in C order.  Any other shape is TIDE_ESHAPE "mask of shape 3x4 for
** an array of shape 3x5"; another dtype TIDE_EDTYPE. */

/* out = the selected elements as a 1-D array, or the selected rows as
** count x (a's other dimensions); a copy, in C order. */
int tide_mask_get(const tide_Array *a, const tide_Array *mask, tide_Array *out);
/* Writes v through the mask: a scalar into every selected element, or an
** array that broadcasts to the selection's shape (count, or count x the
** other dimensions), in order, converted to a's dtype. */
int tide_mask_set(tide_Array *a, const tide_Array *mask, const tide_Operand *v);
/* Number of true elements of a bool array. */
int64_t tide_count_true(const tide_Array *mask);

#endif /* TIDE_SHAPE_H */
