/*
** svm.h -- support vector classification and regression through libsvm
** (Debian's libsvm 3.24, the library scikit-learn's own SVMs derive from).
**
** A fit hands libsvm the rows fitted once, in one contiguous buffer, then
** keeps what prediction needs -- the support vectors, their dual
** coefficients, the intercepts and Platt's sigmoids -- and frees libsvm's
** model.  Predictions are computed here from those fields, a block of rows
** at a time, the kernel through BLAS (GEMM, plus norms for rbf), with the
** sums in libsvm's own order, so they agree with libsvm's svm_predict.
*/
#ifndef TIDE_SVM_H
#define TIDE_SVM_H

#include "models.h"

#define TIDE_SVM_MAX_CLASSES 1024

/* kernels, numbered as libsvm's kernel_type */
enum { TIDE_SVM_LINEAR = 0, TIDE_SVM_POLY, TIDE_SVM_RBF, TIDE_SVM_SIGMOID };
enum { TIDE_SVM_SVC = 0, TIDE_SVM_SVR };

/* gamma codes: scikit-learn's "scale" (1 / (p * X.var()), over the rows
** fitted; 1 when X.var() is 0) and "auto" (1 / p) */
#define TIDE_SVM_GAMMA_SCALE (-1.0)
#define TIDE_SVM_GAMMA_AUTO (-2.0)

typedef struct tide_SvmKernel {
  int kernel; /* TIDE_SVM_* */
  int degree; /* poly: (gamma x.y + coef0)^degree */
  double gamma, coef0;
} tide_SvmKernel;

typedef struct tide_SvmOpts {
  int type;           /* TIDE_SVM_SVC or TIDE_SVM_SVR */
  tide_SvmKernel k;   /* gamma >= 0, or a TIDE_SVM_GAMMA_* code */
  double C;           /* > 0 */
  double epsilon;     /* SVR: the tube's half width, >= 0 */
  double tol;         /* libsvm's eps: stop when the maximal violation < tol */
  double cache_size;  /* MB of kernel values libsvm may keep */
  int shrinking;
  int probability;    /* SVC: fit Platt's sigmoids by libsvm's 5-fold CV */
  unsigned seed;      /* srand(seed) before a fit with probability */
  int balanced;       /* class_weight = "balanced": n / (k * count) */
  const double *cw_label, *cw_weight; /* class_weight table: ncw pairs */
  int64_t ncw;
  int precompute;     /* -1: when it fits in cache_size (default), 0: never, 1: always */
} tide_SvmOpts;

/* A fitted model.  SVC: nclass classes, npair = nclass (nclass - 1) / 2
** binary machines (pairs (0,1), (0,2), ..., (1,2), ...: libsvm's order with
** the classes sorted); SVR: nclass = 2 and npair = 1 (libsvm's layout).
** coef is libsvm's sv_coef, (nclass - 1) x nsv, and rho its rho[npair]:
** machine (i, j) gives sum_{s in class i} coef[j-1][s] K(x, sv_s) +
** sum_{s in class j} coef[i][s] K(x, sv_s) - rho, > 0 votes for class i. */
typedef struct tide_Svm {
  int type;
  tide_SvmKernel k;    /* gamma as used */
  int64_t p, nclass, npair, nsv;
  double *classes;     /* SVC: nclass sorted labels */
  double *class_weight; /* SVC: nclass factors of C */
  int64_t *n_support;  /* SVC: support vectors per class */
  int64_t *support;    /* nsv rows of X (0-based), grouped by class for SVC */
  double *sv;          /* nsv x p, row-major */
  double *coef;        /* (nclass - 1) x nsv */
  double *rho;         /* npair */
  double *probA, *probB; /* npair each when probability, else NULL */
  int64_t *n_iter;     /* npair solver iterations (-1 when libsvm did not say) */
  int converged;       /* no solver stopped at libsvm's cap, max(10^7, 100 l) */
  int precomputed;     /* the fit gave libsvm a precomputed kernel matrix */
} tide_Svm;

/* Fits on the subset rows of X (n x p) with targets y: labels (SVC) or
** values (SVR).  Parameters are checked first.  Memory beyond the model:
** libsvm's input -- with precompute, the kernel matrix of the rows, 16
** bytes an entry (libsvm's node), built by BLAS tiles; otherwise the rows'
** nonzeros (all entries when denser than 1/4), 16 bytes each -- plus
** libsvm's own cache (<= cache_size MB).  On error m holds nothing. */
int tide_svm_fit(const tide_Array *X, const tide_Array *y, const tide_Rows *rows,
                 const tide_SvmOpts *o, tide_Svm *m);
void tide_svm_free(tide_Svm *m);

/* What prediction reads: pointers to a fitted model's fields. */
typedef struct tide_SvmDual {
  int type;
  tide_SvmKernel k;
  int64_t p, nclass, nsv;
  const double *sv, *coef, *rho;
  const int64_t *n_support;
  const double *probA, *probB;
} tide_SvmDual;

/* Prediction modes:
**   OVO    n x npair decision values, libsvm's signs (SVC)
**   OVR    n x nclass: scikit-learn's one-vs-rest transform of OVO
**          (votes + sum of confidences / (3 (|sum| + 1))) (SVC)
**   VOTE   n class indices (int64_t, 0-based): libsvm's vote, ties to the
**          lower class (SVC)
**   ARGMAX n class indices: the first maximum of OVR (break_ties) (SVC)
**   PROBA  n x nclass probabilities: Platt's sigmoid per pair, coupled by
**          Wu, Lin and Weng's second method (SVC with probA, probB)
**   VALUE  n predictions (SVR) */
enum { TIDE_SVM_OVO = 0, TIDE_SVM_OVR, TIDE_SVM_VOTE, TIDE_SVM_ARGMAX, TIDE_SVM_PROBA,
       TIDE_SVM_VALUE };

int tide_svm_predict(const tide_Array *X, const tide_Rows *rows, const tide_SvmDual *d,
                     int mode, void *out);

/* K[i * m + j] = kernel(A_i, B_j) for A (na x p) and B (m x p), row-major:
** one GEMM, then the kernel's function of it; rbf reads the squared norms
** asq[na] and bsq[m] (exp(-gamma max(0, |a|^2 + |b|^2 - 2 a.b))). */
void tide_svm_kernel(const tide_SvmKernel *k, const double *A, int64_t na, const double *B,
                     int64_t m, int64_t p, const double *asq, const double *bsq, double *K);

/* Class probabilities p[k] from pairwise ones r (k x k, row-major,
** r[i][j] = P(i | i or j)): Wu, Lin and Weng's second method, as libsvm. */
void tide_svm_couple(int64_t k, const double *r, double *p, double *work);

#endif
