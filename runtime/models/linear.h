/*
** linear.h -- least squares, ridge (linear.c) and elastic net / lasso by
** coordinate descent (cd.c) over a row subset of a core array.
*/
#ifndef TIDE_LINEAR_H
#define TIDE_LINEAR_H

#include "models.h"

/* Which solver a least-squares / ridge fit used. */
enum {
  TIDE_LS_CHOLESKY = 1, /* normal equations, Cholesky (tall, well conditioned) */
  TIDE_LS_LSTSQ = 2,    /* SVD least squares on a copy of the rows (dgelsd) */
  TIDE_LS_DUAL = 3      /* ridge on wide data: (X X' + alpha I) dual, Cholesky */
};

/* Ordinary least squares (alpha = 0) or ridge (alpha > 0) on the subset:
** minimizes sum_i w_i (y_i - x_i.coef - b)^2 + alpha |coef|^2, with the
** intercept b free (fit_intercept) or 0.  w may be NULL (all ones).  coef
** receives p values; for rank-deficient least squares it is the minimum-norm
** solution, like scipy.linalg.lstsq.  *solver (may be NULL) gets TIDE_LS_*. */
int tide_ridge_fit(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                   const tide_Rows *rows, double alpha, int fit_intercept, double *coef,
                   double *intercept, int *solver);

/* Elastic net by cyclic (or random) coordinate descent, as scikit-learn's
** ElasticNet / Lasso: minimizes
**   1/(2 sw) sum_i w_i (y_i - x_i.coef - b)^2 + alpha l1_ratio |coef|_1
**     + alpha (1 - l1_ratio) / 2 |coef|^2
** (sw = sum of weights; unweighted sw = n). */
typedef struct tide_EnetOpts {
  double alpha, l1_ratio, tol;
  int64_t max_iter;
  int fit_intercept, positive;
  int random;       /* 1: random coordinate selection */
  uint64_t seed;    /* for random selection */
  int precompute;   /* -1 auto, 0 residual updates, 1 Gram (covariance) updates */
} tide_EnetOpts;

typedef struct tide_EnetResult {
  double intercept;
  double gap, tol;  /* final duality gap and the threshold, scaled as scikit-learn's */
  int64_t n_iter;   /* epochs run */
  int converged;
  int gram;         /* 1 when the covariance (Gram) updates were used */
} tide_EnetResult;

/* coef holds the starting point on entry (zeros, or a warm start) and the
** solution on return. */
int tide_enet_fit(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                  const tide_Rows *rows, const tide_EnetOpts *o, double *coef,
                  tide_EnetResult *res);

/* tide_check_xy without the scan of X's values: the fits' own passes over
** X notice a NaN or infinity (in the means) and then run the full check,
** which names it; this saves a pass over the rows, most of a rows= fit. */
int tide__linear_check(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                       const tide_Rows *rows, const char *fname);

/* Weighted column means of the subset (and of y when y != NULL) in one
** blocked pass; *sw gets the sum of weights.  Fails (naming fname) when X
** holds NaN or infinity in those rows.  Used by both files. */
int tide__linear_means(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                       const tide_Rows *rows, const char *fname, double *xmean, double *ymean,
                       double *sw);

/* tide_gram's statistics in one blocked pass (centered on a shift, then
** corrected exactly); see linear.c.  Checks X's values like
** tide__linear_means. */
int tide__linear_gram(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                      const tide_Rows *rows, const char *fname, int center, tide_Gram *g);

#endif
