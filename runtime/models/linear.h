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

/* Ridge (alpha > 0) or least squares from the statistics of a fit on n
** rows (centered when fit_intercept): the Cholesky path of tide_ridge_fit.
** *refused = 1 (and no answer) where tide_ridge_fit would take its SVD
** path instead: the caller then fits from the rows. */
int tide_ridge_gram(const tide_Gram *g, int64_t n, double alpha, int fit_intercept, double *coef,
                    double *intercept, int *refused);

/* Coordinate descent with covariance updates on the statistics g of a
** fit on n rows (coef: the starting point, then the answer). */
int tide_enet_gram(const tide_Gram *g, int64_t n, const tide_EnetOpts *o, double *coef,
                   tide_EnetResult *res);

/* Moments of the rows of a linear fit about a shift (s, ys), as one flat
** vector of tide_moments_len(p) numbers: m[0] rows, m[1] sum (y - ys),
** m[2] sum (y - ys)^2, then p sums of (x - s), p sums of (x - s)(y - ys)
** and the p x p sums of (x - s)(x - s)'.  Moments of disjoint row sets
** add up, so a search gets every training fold's from one pass over the
** data (all rows minus each test fold).  y may be NULL (zeros). */
#define tide_moments_len(p) (3 + 2 * (p) + (p) * (p))
int tide_moments(const tide_Array *X, const tide_Array *y, const tide_Rows *rows,
                 const double *s, double ys, double *m);

/* The statistics of a fit (centered when center) from moments m about
** (s, ys), with the columns read as (x - a) / b when a and b are given
** (a scaler in front of the model).  g is allocated; free it with
** tide_gram_free. */
int tide_gram_from_moments(const double *m, int64_t p, const double *s, double ys,
                           const double *a, const double *b, int center, tide_Gram *g);

/* Sums of squared residuals of q linear models (coef q x p, intercepts
** b) over the rows whose moments about (s, ys) are m. */
void tide_moments_sse(const double *m, int64_t p, const double *s, double ys, int64_t q,
                      const double *coef, const double *b, double *sse);

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
