/*
** ops.h -- array arithmetic, comparisons, reductions and BLAS products
** (ops.c, reduce.c, linalg.c).  Pure C: every function returns TIDE_OK or
** a negative TIDE_E* code with a message for tide_lasterror().  Results are
** new C-ordered arrays made with tide_array_new (TIDE_WHERE_AUTO, so big
** ones land in shared memory); on failure the result is left closed.
**
** Broadcasting (numpy's): shapes are aligned on their trailing dimensions;
** a missing or size-1 dimension stretches to the other operand's size.
** 3x4 with 4 (a row), 3x1 (a column) or 1x4 all broadcast to 3x4; 3x4
** with 5 is an error naming both shapes.
**
** dtype promotion of two arrays (tide_promote), numpy 1.24's table:
**   the same dtype gives itself; bool gives way to anything; two signed or
**   two unsigned integers give the wider; a signed and an unsigned give
**   the signed one when it is wider, else the signed type twice the
**   unsigned one's width (u8 i8 -> i16, u32 i32 -> i64), and u64 with any
**   signed type gives f64; an integer of 8 or 16 bits with f32 gives f32,
**   a wider one f64 (f32 cannot hold it); anything with f64 gives f64.
** An array with a Lua scalar (a "weak" scalar, NEP 50): an integer keeps
** the array's dtype (bool becomes i64) and must fit in it (numpy 2 raises
** too: "integer 300 does not fit in u8"); a float keeps a float array's
** dtype (f32 stays f32) and turns an integer or bool array into f64.  Two
** bool operands of arithmetic give i64 (numpy's bool-as-logic twist is not
** copied: use land / lor for logic).
** Per operator:
**   + - * min max    the promoted dtype; integers wrap on overflow (two's
**                    complement, as numpy does without warning).
**   /                true division: integer operands give f64.
**   // %             floor division and the matching modulo (sign of the
**                    divisor, like Lua and numpy); an integer zero divisor
**                    is an error "integer division by zero" (numpy warns
**                    and gives 0).  Floats follow IEEE (inf, nan).
**   ^                pow; an integer base with a negative integer exponent
**                    is an error (numpy's rule).
**   comparisons      bool arrays; integers compare exactly as i64 (u64 as
**                    u64 with unsigned operands, as f64 with signed ones,
**                    numpy 1.24's promotion), anything with a float as f64.
**   land lor lxor    bool arrays; operands count as true when nonzero.
** In-place forms (tide_binop_inplace) compute in the promoted dtype and
** cast the result to the target's dtype (floats to integers truncate,
** clamped to the target's range; NaN becomes 0).
**
** Unary math: neg keeps the dtype (bool becomes i64); abs, floor, ceil and
** round (half to even, numpy's) keep it (neg and abs wrap: -u8(1) is 255,
** abs(i8(-128)) is -128, as numpy's); sqrt exp log give f32 for f32 and
** f64 for everything else (numpy gives float16 / f32 for narrow integers;
** tide has no float16 and keeps one rule).
*/
#ifndef TIDE_OPS_H
#define TIDE_OPS_H

#include "core.h"

/* An operand: an array, or a Lua-like scalar (integer, float or bool). */
enum { TIDE_SC_NONE = 0, TIDE_SC_INT, TIDE_SC_FLOAT, TIDE_SC_BOOL };

typedef struct tide_Operand {
  const tide_Array *arr; /* non-NULL: an array operand */
  int kind;              /* arr == NULL: TIDE_SC_INT / FLOAT / BOOL */
  int64_t i;             /* INT and BOOL (0/1) value */
  double f;              /* FLOAT value */
} tide_Operand;

static inline tide_Operand tide_op_array(const tide_Array *a) {
  tide_Operand o = {a, TIDE_SC_NONE, 0, 0};
  return o;
}
static inline tide_Operand tide_op_int(int64_t v) {
  tide_Operand o = {NULL, TIDE_SC_INT, v, 0};
  return o;
}
static inline tide_Operand tide_op_float(double v) {
  tide_Operand o = {NULL, TIDE_SC_FLOAT, 0, v};
  return o;
}
static inline tide_Operand tide_op_bool(int v) {
  tide_Operand o = {NULL, TIDE_SC_BOOL, v != 0, 0};
  return o;
}

typedef enum tide_BinOp {
  TIDE_ADD = 0, TIDE_SUB, TIDE_MUL, TIDE_DIV, TIDE_IDIV, TIDE_MOD, TIDE_POW,
  TIDE_MIN, TIDE_MAX,                                 /* elementwise, NaN wins */
  TIDE_LT, TIDE_LE, TIDE_GT, TIDE_GE, TIDE_EQ, TIDE_NE, /* -> bool */
  TIDE_LAND, TIDE_LOR, TIDE_LXOR,                     /* -> bool */
  TIDE_NBINOPS
} tide_BinOp;

typedef enum tide_UnOp {
  TIDE_NEG = 0, TIDE_ABS, TIDE_SQRT, TIDE_EXP, TIDE_LOG, TIDE_LNOT,
  TIDE_FLOOR, TIDE_CEIL, TIDE_ROUND, /* integers: unchanged copies */
  TIDE_NUNOPS
} tide_UnOp;

/* The dtype two arrays promote to (table above). */
int tide_promote(int a, int b);
/* The dtype of `a op b` (arrays or scalars; two scalars give f64 or i64). */
int tide_binop_dtype(int op, const tide_Operand *a, const tide_Operand *b);
/* Broadcasts two shapes into out (TIDE_MAXDIM entries); TIDE_ESHAPE with
** "shapes 3x4 and 5 do not broadcast" when they cannot. */
int tide_broadcast_shapes(int na, const int64_t *sa, int nb, const int64_t *sb,
                          int *nout, int64_t *out);

/* out = a op b, a new array of the broadcast shape.  At least one operand
** must be an array. */
int tide_binop(int op, const tide_Operand *a, const tide_Operand *b,
               tide_Array *out);
/* a = a op b in place; b broadcasts to a's shape (TIDE_ESHAPE otherwise);
** a view of a's own storage as b is read before anything is written.
** TIDE_EREADONLY for a read-only a.  Comparison ops are refused. */
int tide_binop_inplace(int op, tide_Array *a, const tide_Operand *b);
/* out = op(a), a new array. */
int tide_unop(int op, const tide_Array *a, tide_Array *out);
/* out = min(max(a, lo), hi); lo or hi may be NULL (no bound).  NaN stays. */
int tide_clamp(const tide_Array *a, const tide_Operand *lo,
               const tide_Operand *hi, tide_Array *out);
/* out = mask ? x : y, broadcasting all three; dtype promote(x, y). */
int tide_where(const tide_Array *mask, const tide_Operand *x,
               const tide_Operand *y, tide_Array *out);
/* out = the flat C-order indices (plus base: 1 for Lua) of the nonzero
** elements of mask, as a 1-D i64 array. */
int tide_nonzero(const tide_Array *mask, int64_t base, tide_Array *out);

/* ------------------------------------------------------------ reduce.c
** Reductions over all elements (dim = -1: out is a 0-d array) or along one
** 0-based dimension, which the result drops (numpy: a 3x4 array summed
** along dim 0 gives the 4 column sums).
**   sum      ints and bool -> i64 (wrapping); f64 -> f64; f32 -> f32
**            along a dimension, f64 over the whole array (a Lua number
**            anyway), always accumulated in double.  Floats use pairwise summation (blocks
**            of 128 with 8 accumulators), like numpy; along a dimension that
**            is not the innermost in memory, rows are accumulated into the
**            output in blocks of 128, so the error grows with
**            128 + len/128 instead of len.
**   mean var std norm   f64 (f32 for f32 input along a dimension),
**            computed in double; var
**            divides by len - ddof (0 = population, numpy's default; a
**            divisor <= 0 gives inf or nan as in numpy); norm is the
**            2-norm (Frobenius for matrices), sqrt of the sum of squares.
**   min max  the input's dtype; any NaN gives NaN.
**   argmin argmax   i64 indices plus `ddof` used as the index base (0 in C,
**            1 from Lua); without a dimension, the flat C-order index; the
**            first extreme wins and the first NaN wins over everything.
**   count    i64 number of nonzero elements; any, all: bool.
** An empty reduction: sum/count/norm 0, any false, all true; mean, var,
** std, min, max, argmin and argmax give TIDE_EINVAL "zero-size array".
** Walking order: dimensions are visited in memory order of the input, so a
** reduction along dim 0 of a C-ordered matrix walks rows and accumulates
** into the output vector (never strides down columns). */
typedef enum tide_RedOp {
  TIDE_RSUM = 0, TIDE_RMEAN, TIDE_RVAR, TIDE_RSTD, TIDE_RMIN, TIDE_RMAX,
  TIDE_RARGMIN, TIDE_RARGMAX, TIDE_RNORM, TIDE_RCOUNT, TIDE_RANY, TIDE_RALL,
  TIDE_NREDOPS
} tide_RedOp;

/* Name of a reduction ("sum"), for messages. */
const char *tide_redop_name(int op);
/* out = reduction of a; ddof: var/std divisor offset, argmin/argmax index
** base, ignored otherwise. */
int tide_reduce(int op, const tide_Array *a, int dim, int ddof,
                tide_Array *out);
/* Full reduction to a double (convenience for C callers). */
int tide_reduce_all_f64(int op, const tide_Array *a, int ddof, double *v);

/* ------------------------------------------------------------ linalg.c
** out = a @ b (numpy's matmul for 1-D and 2-D operands): matrix x matrix,
** matrix x vector, vector x matrix, and vector . vector (a 0-d out).
** f64/f32 go through OpenBLAS (mixed f32/f64 computes in f64; u8 with f32
** in f32, other integers with floats in f64); transposed (Fortran-ordered)
** views are passed with CblasTrans, other non-contiguous views are copied.
** Integer and bool operands use a plain loop with i64 accumulation and
** give i64.  Mismatched inner sizes: TIDE_ESHAPE "shapes 3x4 and 5x2 do not
** align".  BLAS takes 32-bit sizes: larger m, n, k or leading dimensions
** give TIDE_EINVAL (vector dots are split into pieces instead). */
int tide_matmul(const tide_Array *a, const tide_Array *b, tide_Array *out);
/* The same product by plain loops (double or i64 accumulation), the
** reference the BLAS paths are tested against. */
int tide__matmul_ref(const tide_Array *a, const tide_Array *b, tide_Array *out);

#endif /* TIDE_OPS_H */
