/*
** kmeans.h -- k-means over core arrays: k-means++ seeding (scikit-learn's
** greedy variant: 2 + log(k) candidates per centre, the one that lowers
** the potential most is kept) or k distinct random rows, then Lloyd
** iterations whose point-centre distances are GEMM tiles
** (||x||^2 - 2 x.c + ||c||^2) over blocked row gathers.  Centres are held
** relative to the column means given, which keeps the GEMM form accurate
** for data far from 0 (scikit-learn centres its copy of X for the same
** reason); X is read in place, never copied.  Stopping is scikit-learn's: labels unchanged ("strict"), or the
** sum of squared centre shifts at most tol; an empty cluster takes the row
** farthest from its centre.
*/
#ifndef TIDE_KMEANS_H
#define TIDE_KMEANS_H

#include "models.h"

typedef struct tide_KMeansOpts {
  int64_t k;
  int64_t max_iter;    /* Lloyd iterations at most (0: the seeds themselves) */
  double tol;          /* bound on the sum of squared centre shifts (absolute) */
  const double *mean;  /* p numbers subtracted from every row */
  const double *init;  /* k x p starting centres (original coordinates), or NULL */
  int random_init;     /* without init: 1 = k distinct random rows, 0 = k-means++ */
} tide_KMeansOpts;

/* One run on the rows of X (n x p, checked by the caller; k <= rows->n):
** centers (k x p, original coordinates), the inertia of the rows with
** them, the Lloyd iterations done and whether they converged. */
int tide_kmeans_run(const tide_Array *X, const tide_Rows *rows, const tide_KMeansOpts *o,
                    tide_Rng *rng, double *centers, double *inertia, int64_t *n_iter,
                    int *converged);

/* k-means++ keeps the distances of its candidates (rows x candidates)
** when they take at most this many bytes (64 MB), else it reads X once
** more per centre; tests lower it. */
extern int64_t tide__kmeans_keep_bytes;

/* The nearest of k centres (k x p) of each row: labels (0-based, ties to
** the lower centre; may be NULL) and the sum of squared distances (exact
** differences, not the GEMM form; may be NULL).  mean: as in the options
** (may be NULL: no centring). */
int tide_kmeans_assign(const tide_Array *X, const tide_Rows *rows, const double *centers,
                       int64_t k, const double *mean, int64_t *labels, double *inertia);

/* Euclidean distances of each row to each centre: out is rows->n x k. */
int tide_kmeans_distances(const tide_Array *X, const tide_Rows *rows, const double *centers,
                          int64_t k, double *out);

#endif
