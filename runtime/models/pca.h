/*
** pca.h -- principal component analysis over core arrays.  Tall data
** (rows >= features): the centred covariance by one blocked Gram pass
** (tide_gram) and its symmetric eigendecomposition (LAPACKE dsyevr); wide
** data: a thin SVD (dgesdd) of the centred rows.  Signs follow
** scikit-learn 1.2's svd_flip on U: the largest-magnitude entry of each
** column of U (the projections of the rows on a component) is positive,
** the first such row on ties.
*/
#ifndef TIDE_PCA_H
#define TIDE_PCA_H

#include "models.h"

typedef struct tide_Pca {
  int64_t n, p, r;  /* rows used, features, components computed (min(n, p)) */
  double *mean;     /* p column means */
  double *comps;    /* r x p, row-major, by decreasing variance */
  double *var;      /* r explained variances: singular value^2 / (n - 1) */
  double *sv;       /* r singular values of the centred rows */
  double total;     /* total variance: the sum of the column variances */
  int signed_all;   /* signs already set (the SVD path) */
} tide_Pca;

/* Fits on the rows of X (n x p, checked by the caller; n >= 2, p >= 1).
** Signs are set by tide_pca_signs, for the components kept. */
int tide_pca_fit(const tide_Array *X, const tide_Rows *rows, tide_Pca *f);
void tide_pca_free(tide_Pca *f);

/* The number of components whose cumulated variance ratio first exceeds
** frac, 0 < frac < 1 (scikit-learn's rule; at most r). */
int64_t tide_pca_count(const tide_Pca *f, double frac);

/* Sets the signs of the first m components from the projections of the
** rows (one blocked pass; nothing to do after an SVD). */
int tide_pca_signs(const tide_Array *X, const tide_Rows *rows, tide_Pca *f, int64_t m);

/* out (rows->n x m) = (x - mean) . comps' (comps: m x p), each column
** divided by scale[c] when scale is not NULL (whitening). */
int tide_pca_transform(const tide_Array *X, const tide_Rows *rows, const double *mean,
                       const double *comps, int64_t m, const double *scale, double *out);

/* out (rows->n x p) = (z * scale) . comps + mean for rows z of Z (m
** columns); scale may be NULL. */
int tide_pca_inverse(const tide_Array *Z, const tide_Rows *rows, const double *mean,
                     const double *comps, int64_t m, int64_t p, const double *scale,
                     double *out);

#endif
