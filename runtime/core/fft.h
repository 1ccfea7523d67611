/*
** fft.h -- tide's own FFT (fft.c): real input, mixed radix (4, 2, 3, 5 and
** any other factor by a generic odd-radix pass), Bluestein's chirp-z
** algorithm when a large prime factor would cost more, and numpy's
** conventions (rfft unscaled, irfft scaled by 1/n).  A complex value is two
** doubles, real then imaginary: numpy's complex128 layout.
**
** Plans (factors and twiddles) are built once per length and kept in a
** small cache (the most recently used first, at most 16 plans and 64 MB);
** a plan in use is never freed under its user.
*/
#ifndef TIDE_FFT_H
#define TIDE_FFT_H

#include "core.h"

/* out[0 .. n/2] (n/2 + 1 complex values) = the DFT of x[0 .. n-1]
** (X[k] = sum x[j] e^{-2 pi i jk/n}).  n >= 1. */
int tide_fft_rfft(const double *x, int64_t n, double *out);
/* x[0 .. n-1] = the real inverse of in[0 .. n/2] (n/2 + 1 complex values),
** scaled by 1/n; the imaginary parts of in[0] (and of in[n/2] when n is
** even) are ignored, as numpy's irfft ignores them.  in is not changed. */
int tide_fft_irfft(const double *in, int64_t n, double *x);

/* The smallest n' >= n whose only prime factors are 2, 3 and 5 (real:
** also even), the lengths this FFT is fastest at. */
int64_t tide_fft_good_size(int64_t n, bool real);

/* Array level (numpy.fft.rfft / irfft along the last dimension of a 1-D or
** 2-D array): a has any dtype and strides and is zero-padded or cut to n
** samples (n <= 0: its own length); out is a new f64 array of shape
** (n/2 + 1) x 2, or rows x (n/2 + 1) x 2. */
int tide_rfft(const tide_Array *a, int64_t n, tide_Array *out);
/* F: m x 2 (or rows x m x 2) complex values, cut or zero-padded to
** n/2 + 1 (n <= 0: 2 (m - 1)); out: n (or rows x n) f64. */
int tide_irfft(const tide_Array *F, int64_t n, tide_Array *out);

/* malloc of count * size bytes for an FFT's buffers, zeroed when zero is
** true: checked for overflow and, from 1 MiB, against the memory the
** machine has left (tide__admit_memory); NULL with a message otherwise. */
void *tide__fft_alloc(size_t count, size_t size, bool zero);

/* Plans cached now and their bytes (tests). */
void tide__fft_cache_stats(int *plans, size_t *bytes);
/* Frees every cached plan not in use. */
void tide__fft_cache_clear(void);

#endif /* TIDE_FFT_H */
