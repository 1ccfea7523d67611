/*
** logistic.h -- L2-regularized logistic regression (binary and softmax)
** over blocked row gathers: Newton (Cholesky) or L-BFGS.
*/
#ifndef TIDE_LOGISTIC_H
#define TIDE_LOGISTIC_H

#include "models.h"

#define TIDE_LOGIT_MAX_CLASSES 4096

enum { TIDE_LOGIT_AUTO = 0, TIDE_LOGIT_LBFGS, TIDE_LOGIT_NEWTON };

typedef struct tide_LogitOpts {
  double C;          /* inverse regularization strength, > 0 */
  double tol;        /* stop when max |gradient| of the mean objective <= tol */
  int64_t max_iter;  /* solver iterations (steps taken) */
  int fit_intercept;
  int solver;        /* TIDE_LOGIT_* */
  const double *init; /* a warm start or NULL: nw x p coefficients, then the nw
                      ** intercepts when fit_intercept (init_len numbers in all) */
  int64_t init_len;   /* used only when it matches the model's size */
} tide_LogitOpts;

/* A fitted model.  nw = 1 for two classes (coef is the vector of the
** second class's log-odds, scikit-learn's coef_[0]), else nw = k rows of
** softmax weights.  classes are the sorted distinct labels. */
typedef struct tide_Logit {
  int64_t k, p, nw;
  double *classes;   /* k */
  double *coef;      /* nw x p, row-major */
  double *intercept; /* nw */
  int64_t n_iter;
  int converged;
  double grad_max;   /* max |gradient| of the mean objective where it stopped */
  int solver;        /* the solver used: TIDE_LOGIT_LBFGS or _NEWTON */
} tide_Logit;

/* Fits on the subset rows of X (n x p) with labels y and optional
** non-negative sample weights w.  Memory beyond the model: a few row
** blocks, O(block x (p + k)), plus a (p+1)^2 Hessian or the L-BFGS
** history (10 pairs of nw*(p+1)).  On error m holds nothing to free. */
int tide_logistic_fit(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                      const tide_Rows *rows, const tide_LogitOpts *o, tide_Logit *m);
void tide_logistic_free(tide_Logit *m);

enum { TIDE_LOGIT_DECISION = 0, TIDE_LOGIT_PROBA, TIDE_LOGIT_CLASS };

/* Predictions for the subset rows of X (blocked): DECISION writes n x nw
** decision values, PROBA n x k probabilities (class order), CLASS n
** 0-based class indices (as int64_t into out).  coef is nw x p. */
int tide_logistic_predict(const tide_Array *X, const tide_Rows *rows, int64_t k, int64_t nw,
                          const double *coef, const double *intercept, int mode, void *out);

#endif
