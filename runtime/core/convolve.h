/*
** convolve.h -- numpy.convolve and numpy.correlate of two 1-D arrays,
** directly or through tide's FFT (convolve.c), with scipy.signal.convolve's
** choice between the two.
**
** Modes (numpy's): full (M + N - 1 values), same (max(M, N), centred as
** numpy centres it), valid (max - min + 1: where the shorter array lies
** inside the longer).  The result has the promoted dtype of a and v
** (tide_promote: integers stay integers, wrapping as numpy's do; f32 stays
** f32; two bools give bool); sums are taken in f64 for floats and in 64-bit
** integers otherwise.  Through the FFT an integer result is rounded.
*/
#ifndef TIDE_CONVOLVE_H
#define TIDE_CONVOLVE_H

#include "core.h"

enum { TIDE_CONV_FULL = 0, TIDE_CONV_SAME, TIDE_CONV_VALID };
enum { TIDE_CONV_AUTO = 0, TIDE_CONV_DIRECT, TIDE_CONV_FFT };

/* out = convolve(a, v) (correlate: numpy.correlate(a, v)) in mode, by
** method; *used (may be NULL) gets the method that ran.  a and v are
** non-empty 1-D arrays of any dtype and strides. */
int tide_convolve(const tide_Array *a, const tide_Array *v, int mode, int method,
                  bool correlate, tide_Array *out, int *used);

/* scipy.signal.choose_conv_method for 1-D inputs of lengths m and n:
** TIDE_CONV_FFT when its cost model (3 N log N for three FFTs of the full
** length N against the products of a direct sum, with scipy's measured
** constants per mode) says the FFT is faster, else TIDE_CONV_DIRECT. */
int tide_conv_choose(int64_t m, int64_t n, int mode);

#endif /* TIDE_CONVOLVE_H */
