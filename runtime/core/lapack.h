/*
** lapack.h -- tide.linalg's kernels over LAPACKE (lapack.c), numpy.linalg's
** functions for one matrix (no stacks of matrices).
**
** Inputs may have any dtype and strides: each is converted once into the
** f64 buffer LAPACK works in (column-major, or row-major when the
** factorization of the transpose gives the answer directly: inv, det,
** cholesky, svd, eigh).  Results are new C-ordered arrays (TIDE_WHERE_AUTO)
** of dtype f32 when every input is f32 and f64 otherwise (numpy's rule;
** the arithmetic is f64 either way); on failure every result is left
** closed.  A 1-D right-hand side B is a vector and gives a vector.
**
** Errors: a singular matrix (solve, inv) is TIDE_EINVAL "matrix is
** singular", a matrix that is not positive definite (cholesky) "matrix is
** not positive definite", and LAPACK's failures to converge (svd, eigh,
** eig, lstsq, pinv, matrix_rank) name the routine ("SVD did not converge
** (dgesdd)").  det and slogdet of a singular matrix are 0 and (0, -inf),
** as numpy's.
*/
#ifndef TIDE_LAPACK_H
#define TIDE_LAPACK_H

#include "core.h"

/* X = A^-1 B for square A (dgesv). */
int tide_linalg_solve(const tide_Array *A, const tide_Array *B, tide_Array *X);
/* Least squares A x = B (dgelsd).  rcond < 0: numpy's default, eps *
** max(m, n) (eps of the result dtype).  resid: the sums of squared
** residuals per column when rank == n < m, else empty; s: singular values. */
int tide_linalg_lstsq(const tide_Array *A, const tide_Array *B, double rcond, tide_Array *x,
                      tide_Array *resid, int64_t *rank, tide_Array *s);
/* A^-1 (dgetrf, dgetri). */
int tide_linalg_inv(const tide_Array *A, tide_Array *out);
/* sign and log |det A| (dgetrf); a singular matrix gives 0 and -inf. */
int tide_linalg_slogdet(const tide_Array *A, double *sign, double *logabsdet);
/* Lower-triangular L with A = L L^T, read from A's lower triangle (dpotrf). */
int tide_linalg_cholesky(const tide_Array *A, tide_Array *L);
/* Reduced QR: Q m x k, R k x n, k = min(m, n) (dgeqrf, dorgqr). */
int tide_linalg_qr(const tide_Array *A, tide_Array *Q, tide_Array *R);
/* A = U diag(S) Vt (dgesdd): thin (U m x k, Vt k x n) or full (m x m,
** n x n).  U and Vt NULL: the singular values only. */
int tide_linalg_svd(const tide_Array *A, bool full, tide_Array *U, tide_Array *S,
                    tide_Array *Vt);
/* Eigenvalues (ascending) and eigenvectors (columns) of the symmetric
** matrix in A's lower triangle (dsyevd).  V NULL: values only. */
int tide_linalg_eigh(const tide_Array *A, tide_Array *w, tide_Array *V);
/* Eigenvalues wr + i wi of a general matrix and the right eigenvectors as
** dgeev gives them: for a complex pair (j, j+1), columns j and j+1 of V
** hold the real and imaginary parts of the first one's vector. */
int tide_linalg_eig(const tide_Array *A, tide_Array *wr, tide_Array *wi, tide_Array *V);
/* Moore-Penrose pseudo-inverse (dgesdd): singular values at most rcond *
** max(S) count as zero (numpy's default rcond is 1e-15). */
int tide_linalg_pinv(const tide_Array *A, double rcond, tide_Array *out);
/* Number of singular values above tol; tol < 0: numpy's default, max(S) *
** max(m, n) * eps.  A 1-D A has rank 1 unless it is all zeros. */
int tide_linalg_matrix_rank(const tide_Array *A, double tol, int64_t *rank);

#endif /* TIDE_LAPACK_H */
