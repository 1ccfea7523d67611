/*
** kmeans.c -- k-means: k-means++ seeding, Lloyd iterations over GEMM
** distance tiles, assignment, inertia and distances, all through blocked
** row gathers of the caller's X (read in place when it allows, never
** copied).
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "kmeans.h"

/* The buffers of one pass over the rows: the current block (raw rows of
** X, no copy when X allows it) and its products with up to m centres. */
typedef struct Work {
  const tide_Array *X;
  const tide_Rows *rows;
  const double *mean; /* NULL: zero */
  int64_t n, p, k;
  double *dot;
  tide_RowBlocks it;
  int open;
} Work;

static int work_init(Work *w, const tide_Array *X, const tide_Rows *rows, const double *mean,
                     int64_t m) {
  memset(w, 0, sizeof *w);
  w->X = X;
  w->rows = rows;
  w->mean = mean;
  w->n = rows->n;
  w->p = X->ndim == 2 ? X->shape[1] : 1;
  w->dot = tide__malloc((size_t)TIDE_ROW_BLOCK * (size_t)(m ? m : 1) * sizeof *w->dot);
  if (!w->dot) return tide__seterr(TIDE_ENOMEM, "k-means: out of memory for a block of rows");
  return TIDE_OK;
}

static void work_free(Work *w) {
  if (w->open) tide_rowblocks_free(&w->it);
  free(w->dot);
  memset(w, 0, sizeof *w);
}

/* Starts a pass over the blocks. */
static int pass_begin(Work *w) {
  if (w->open) tide_rowblocks_free(&w->it);
  int rc = tide_rowblocks_init(&w->it, w->X, w->rows, TIDE_ROW_BLOCK);
  w->open = rc == TIDE_OK;
  return rc;
}

/* The next block (w->it.buf, rows w->it.first ...); its size, 0 at the end. */
static int64_t pass_next(Work *w) {
  if (tide_rowblocks_next(&w->it)) return w->it.nb;
  tide_rowblocks_free(&w->it);
  w->open = 0;
  return 0;
}

static inline double mean_at(const Work *w, int64_t j) { return w->mean ? w->mean[j] : 0; }

/* Centres are kept centred (C' = C - mean) and the rows are not: with
** x.c' computed on the raw row, ||x - c||^2 = ||x - mean||^2 + cn - 2 x.c'
** where cn = ||c'||^2 + 2 mean.c'.  The rounding error is of the order of
** eps |mean| |c'| instead of eps |mean|^2 for the plain form, and X is
** read in place.  cn[j] for m centres: */
static void centre_terms(const Work *w, const double *C, int64_t m, double *cn) {
  int64_t p = w->p;
  for (int64_t j = 0; j < m; j++) {
    double s = 0;
    for (int64_t d = 0; d < p; d++) s += C[j * p + d] * (C[j * p + d] + 2 * mean_at(w, d));
    cn[j] = s;
  }
}

/* w->dot (nb x m) = raw block . C' for m centred centres C (m x p). */
static void products(Work *w, int64_t nb, const double *C, int64_t m) {
  if (m == 1)
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)w->p, 1.0, w->it.buf, (int)w->p, C, 1,
                0.0, w->dot, 1);
  else
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)m, (int)w->p, 1.0,
                w->it.buf, (int)w->p, C, (int)w->p, 0.0, w->dot, (int)m);
}

/* Position pos of the subset, centred, into out (p numbers). */
static void fetch_row(const Work *w, int64_t pos, double *out) {
  const tide_Array *X = w->X;
  int64_t cs = X->ndim == 2 ? X->strides[1] : 0;
  const unsigned char *row = X->data + tide_rows_at(w->rows, pos) * X->strides[0];
  for (int64_t j = 0; j < w->p; j++) out[j] = tide_load_f64(X->dtype, row + j * cs) - mean_at(w, j);
}

/* Nearest centre of a row: the smallest cn - 2 x.c', the lower centre on
** ties (scikit-learn's rule). */
static inline int64_t nearest(const double *dot, const double *cn, int64_t k) {
  int64_t best = 0;
  double bd = cn[0] - 2 * dot[0];
  for (int64_t j = 1; j < k; j++) {
    double d = cn[j] - 2 * dot[j];
    if (d < bd) {
      bd = d;
      best = j;
    }
  }
  return best;
}

/* Squared distance of a raw row x to a centred centre c (exact differences). */
static inline double sqdist(const Work *w, const double *x, const double *c) {
  double s = 0;
  for (int64_t j = 0; j < w->p; j++) {
    double d = (x[j] - mean_at(w, j)) - c[j];
    s += d * d;
  }
  return s;
}

/* ------------------------------------------------------------- seeding */

/* Candidate distances are kept for the update that follows a choice when
** they take at most this (else the update reads X once more). */
int64_t tide__kmeans_keep_bytes = (int64_t)64 << 20;

enum { POTENTIALS, UPDATE, FIRST };

/* Squared distances of every row to m centred candidates (clipped at 0).
** POTENTIALS: pot[l] = the sum of min(closest, d_l), the potential if
** candidate l became a centre; with keep, d_l also goes to keep (n x m).
** UPDATE (m = 1): closest = min(closest, d), *pot = its sum.  FIRST: the
** same, after the squared norms of the centred rows (xn) are computed. */
static int candidates_pass(Work *w, const double *cand, int64_t m, double *xn,
                           double *closest, double *pot, int mode, double *keep) {
  int64_t p = w->p;
  double cn[64];
  centre_terms(w, cand, m, cn);
  for (int64_t l = 0; l < m; l++) pot[l] = 0;
  int rc = pass_begin(w);
  if (rc) return rc;
  for (int64_t nb; (nb = pass_next(w)) > 0;) {
    double *cl = closest + w->it.first, *xb = xn + w->it.first, acc[64] = {0};
    if (mode == FIRST) {
      for (int64_t i = 0; i < nb; i++) {
        const double *x = w->it.buf + i * p;
        double s = 0;
        for (int64_t j = 0; j < p; j++) s += (x[j] - mean_at(w, j)) * (x[j] - mean_at(w, j));
        xb[i] = s;
      }
    }
    products(w, nb, cand, m);
    if (mode != POTENTIALS) {
      for (int64_t i = 0; i < nb; i++) {
        double d = xb[i] + cn[0] - 2 * w->dot[i];
        if (d < cl[i]) cl[i] = d < 0 ? 0 : d;
        acc[0] += cl[i];
      }
    } else {
      double *kp = keep ? keep + w->it.first * m : NULL;
      for (int64_t i = 0; i < nb; i++) {
        const double *dt = w->dot + i * m;
        for (int64_t l = 0; l < m; l++) {
          double d = xb[i] + cn[l] - 2 * dt[l];
          d = d < 0 ? 0 : d;
          if (kp) kp[i * m + l] = d;
          acc[l] += d < cl[i] ? d : cl[i];
        }
      }
    }
    for (int64_t l = 0; l < m; l++) pot[l] += acc[l];
  }
  return TIDE_OK;
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* k-means++ as scikit-learn's _kmeans_plusplus: the first centre a row
** drawn uniformly; each next one the best of `trials` rows drawn with
** probability proportional to their squared distance to the nearest
** centre so far (the one leaving the smallest potential). */
static int plusplus(Work *w, int64_t k, tide_Rng *rng, double *C) {
  int64_t n = w->n, p = w->p, trials = 2 + (int64_t)log((double)k);
  if (trials > 64) trials = 64;
  double *closest = tide__malloc((size_t)n * sizeof *closest), *xn = tide__malloc((size_t)n * sizeof *xn);
  double *cand = tide__malloc((size_t)(trials * p) * sizeof *cand), *keep = NULL;
  if (k > 1 && n * trials * (int64_t)sizeof *keep <= tide__kmeans_keep_bytes)
    keep = tide__malloc((size_t)(n * trials) * sizeof *keep); /* NULL is fine: X is read again */
  int rc = TIDE_OK;
  if (!closest || !xn || !cand) {
    rc = tide__seterr(TIDE_ENOMEM, "k-means: out of memory for %" PRId64 " distances", n);
    goto done;
  }
  for (int64_t i = 0; i < n; i++) closest[i] = INFINITY;
  fetch_row(w, tide_rng_integer(rng, 0, n - 1), C);
  double total, pot[64], r[64];
  int64_t ids[64];
  rc = candidates_pass(w, C, 1, xn, closest, &total, FIRST, NULL);
  for (int64_t c = 1; c < k && !rc; c++) {
    for (int64_t l = 0; l < trials; l++) r[l] = tide_rng_uniform(rng) * total;
    qsort(r, (size_t)trials, sizeof *r, dbl_cmp);
    /* each draw: the first row whose running sum passes it; rows at
    ** distance 0 (already centres) are never drawn */
    int64_t l = 0, last = 0;
    double s = 0;
    for (int64_t i = 0; i < n && l < trials; i++) {
      if (closest[i] <= 0) continue;
      s += closest[i];
      last = i;
      while (l < trials && r[l] < s) ids[l++] = i;
    }
    while (l < trials) ids[l++] = last; /* rounding at the end of the sum */
    for (l = 0; l < trials; l++) fetch_row(w, ids[l], cand + l * p);
    if ((rc = candidates_pass(w, cand, trials, xn, closest, pot, POTENTIALS, keep))) break;
    int64_t best = 0;
    for (l = 1; l < trials; l++)
      if (pot[l] < pot[best]) best = l;
    memcpy(C + c * p, cand + best * p, (size_t)p * sizeof *C);
    if (!keep) {
      rc = candidates_pass(w, C + c * p, 1, xn, closest, &total, UPDATE, NULL);
      continue;
    }
    total = 0;
    for (int64_t i = 0; i < n; i++) {
      double d = keep[i * trials + best];
      if (d < closest[i]) closest[i] = d;
      total += closest[i];
    }
  }
done:
  free(closest);
  free(xn);
  free(cand);
  free(keep);
  return rc;
}

/* k distinct positions drawn uniformly (Floyd's sampling), their rows the
** centres. */
static int random_rows(Work *w, int64_t k, tide_Rng *rng, double *C) {
  int64_t n = w->n, *pick = tide__malloc((size_t)k * sizeof *pick), m = 0;
  if (!pick) return tide__seterr(TIDE_ENOMEM, "k-means: out of memory for %" PRId64 " centres", k);
  for (int64_t j = n - k; j < n; j++) {
    int64_t t = tide_rng_integer(rng, 0, j), dup = 0;
    for (int64_t a = 0; a < m && !dup; a++) dup = pick[a] == t;
    pick[m++] = dup ? j : t;
  }
  for (int64_t c = 0; c < k; c++) fetch_row(w, pick[c], C + c * w->p);
  free(pick);
  return TIDE_OK;
}

/* --------------------------------------------------------------- Lloyd */

/* Assigns every row to its nearest centre (C centred, k x p) and sums the
** (raw) rows of each cluster into sums (k x p) and counts; *changed counts
** the labels that differ from lab's (updated). */
static int assign_pass(Work *w, const double *C, int32_t *lab, double *sums, double *counts,
                       int64_t *changed) {
  int64_t k = w->k, p = w->p;
  double *cn = w->dot + (int64_t)TIDE_ROW_BLOCK * k; /* k more numbers past the products */
  centre_terms(w, C, k, cn);
  memset(sums, 0, (size_t)(k * p) * sizeof *sums);
  memset(counts, 0, (size_t)k * sizeof *counts);
  *changed = 0;
  int rc = pass_begin(w);
  if (rc) return rc;
  for (int64_t nb; (nb = pass_next(w)) > 0;) {
    products(w, nb, C, k);
    int32_t *lb = lab + w->it.first;
    for (int64_t i = 0; i < nb; i++) {
      int32_t j = (int32_t)nearest(w->dot + i * k, cn, k);
      *changed += lb[i] != j;
      lb[i] = j;
      const double *x = w->it.buf + i * p;
      double *s = sums + j * p;
      for (int64_t d = 0; d < p; d++) s[d] += x[d];
      counts[j] += 1;
    }
  }
  return TIDE_OK;
}

/* Empty clusters (scikit-learn's rule): the rows farthest from their
** centre (C, before the update) leave their cluster, one per empty
** cluster, farthest first, and become its only member. */
static int relocate(Work *w, const double *C, const int32_t *lab, double *sums, double *counts) {
  int64_t k = w->k, p = w->p, nempty = 0;
  for (int64_t j = 0; j < k; j++) nempty += counts[j] == 0;
  if (nempty == 0) return TIDE_OK;
  double *fd = tide__malloc((size_t)nempty * sizeof *fd), *x = tide__malloc((size_t)p * sizeof *x);
  int64_t *fi = tide__malloc((size_t)nempty * sizeof *fi), m = 0;
  int rc = (!fd || !fi || !x) ? tide__seterr(TIDE_ENOMEM, "k-means: out of memory")
                              : pass_begin(w);
  for (int64_t nb; !rc && (nb = pass_next(w)) > 0;) {
    for (int64_t i = 0; i < nb; i++) {
      int64_t pos = w->it.first + i;
      double d = sqdist(w, w->it.buf + i * p, C + lab[pos] * p);
      if (m == nempty && d <= fd[m - 1]) continue;
      int64_t a = m < nempty ? m++ : m - 1; /* insert, descending; ties keep the lower row */
      while (a > 0 && fd[a - 1] < d) {
        fd[a] = fd[a - 1];
        fi[a] = fi[a - 1];
        a--;
      }
      fd[a] = d;
      fi[a] = pos;
    }
  }
  for (int64_t j = 0, e = 0; !rc && j < k && e < m; j++) {
    if (counts[j] != 0) continue;
    int64_t pos = fi[e++], old = lab[pos];
    fetch_row(w, pos, x);
    for (int64_t d = 0; d < p; d++) { /* sums are of raw rows */
      sums[old * p + d] -= x[d] + mean_at(w, d);
      sums[j * p + d] = x[d] + mean_at(w, d);
    }
    counts[old] -= 1;
    counts[j] = 1;
  }
  free(x);
  free(fd);
  free(fi);
  return rc;
}

/* Inertia (exact differences) and, when labels is not NULL, labels of the
** rows for centres C (centred, k x p). */
static int inertia_pass(Work *w, const double *C, int64_t *labels, double *inertia) {
  int64_t k = w->k, p = w->p;
  double *cn = w->dot + (int64_t)TIDE_ROW_BLOCK * k, sum = 0;
  centre_terms(w, C, k, cn);
  int rc = pass_begin(w);
  for (int64_t nb; !rc && (nb = pass_next(w)) > 0;) {
    products(w, nb, C, k);
    for (int64_t i = 0; i < nb; i++) {
      int64_t j = nearest(w->dot + i * k, cn, k);
      if (labels) labels[w->it.first + i] = j;
      sum += sqdist(w, w->it.buf + i * p, C + j * p);
    }
  }
  if (!rc && inertia) *inertia = sum;
  return rc;
}

int tide_kmeans_run(const tide_Array *X, const tide_Rows *rows, const tide_KMeansOpts *o,
                    tide_Rng *rng, double *centers, double *inertia, int64_t *n_iter,
                    int *converged) {
  int64_t n = rows->n, k = o->k, p = X->ndim == 2 ? X->shape[1] : 1;
  if (k < 1 || k > n || k > INT32_MAX || p < 1)
    return tide__seterr(TIDE_EINVAL, "k-means: k = %" PRId64 " must be between 1 and the %"
                        PRId64 " rows, with 1 feature or more", k, n);
  Work w;
  /* products of a block with 64 candidates or k centres, plus k terms */
  int rc = work_init(&w, X, rows, o->mean, (k > 64 ? k : 64) + 1);
  double *C = tide__malloc((size_t)(k * p) * sizeof *C);
  double *sums = tide__malloc((size_t)(k * p) * sizeof *sums), *counts = tide__malloc((size_t)k * sizeof *counts);
  int32_t *lab = tide__malloc((size_t)n * sizeof *lab);
  if (!rc && (!C || !sums || !counts || !lab))
    rc = tide__seterr(TIDE_ENOMEM, "k-means: out of memory for %" PRId64 " labels", n);
  if (rc) goto done;
  w.k = k;
  if (o->init) {
    for (int64_t c = 0; c < k; c++)
      for (int64_t j = 0; j < p; j++) C[c * p + j] = o->init[c * p + j] - mean_at(&w, j);
  } else if (o->random_init) {
    rc = random_rows(&w, k, rng, C);
  } else {
    rc = plusplus(&w, k, rng, C);
  }
  if (rc) goto done;
  for (int64_t i = 0; i < n; i++) lab[i] = -1;
  *converged = 0;
  *n_iter = 0;
  for (int64_t it = 0; it < o->max_iter; it++) {
    int64_t changed;
    if ((rc = assign_pass(&w, C, lab, sums, counts, &changed))) goto done;
    if ((rc = relocate(&w, C, lab, sums, counts))) goto done;
    double shift = 0;
    for (int64_t c = 0; c < k; c++) {
      double a = counts[c] > 0 ? 1.0 / counts[c] : 0.0;
      for (int64_t j = 0; j < p; j++) {
        /* an emptied cluster (its only row moved away) goes to the mean */
        double v = counts[c] > 0 ? sums[c * p + j] * a - mean_at(&w, j) : 0.0;
        double d = v - C[c * p + j];
        shift += d * d;
        C[c * p + j] = v;
      }
    }
    *n_iter = it + 1;
    if (changed == 0 || shift <= o->tol) {
      *converged = 1;
      break;
    }
  }
  /* the labels of the final centres (scikit-learn reruns the E-step unless
  ** the labels were unchanged, which gives the same) and their inertia */
  if ((rc = inertia_pass(&w, C, NULL, inertia))) goto done;
  for (int64_t c = 0; c < k; c++)
    for (int64_t j = 0; j < p; j++) centers[c * p + j] = C[c * p + j] + mean_at(&w, j);
done:
  work_free(&w);
  free(C);
  free(sums);
  free(counts);
  free(lab);
  return rc;
}

int tide_kmeans_assign(const tide_Array *X, const tide_Rows *rows, const double *centers,
                       int64_t k, const double *mean, int64_t *labels, double *inertia) {
  int64_t p = X->ndim == 2 ? X->shape[1] : 1;
  Work w;
  int rc = work_init(&w, X, rows, mean, k + 1);
  double *C = tide__malloc((size_t)(k * p > 0 ? k * p : 1) * sizeof *C);
  if (!rc && !C) rc = tide__seterr(TIDE_ENOMEM, "k-means: out of memory for the centres");
  if (!rc) {
    w.k = k;
    for (int64_t c = 0; c < k; c++)
      for (int64_t j = 0; j < p; j++) C[c * p + j] = centers[c * p + j] - mean_at(&w, j);
    rc = inertia_pass(&w, C, labels, inertia);
  }
  free(C);
  work_free(&w);
  return rc;
}

int tide_kmeans_distances(const tide_Array *X, const tide_Rows *rows, const double *centers,
                          int64_t k, double *out) {
  Work w;
  int rc = work_init(&w, X, rows, NULL, 0);
  if (!rc) rc = pass_begin(&w);
  for (int64_t nb; !rc && (nb = pass_next(&w)) > 0;) {
    double *o = out + w.it.first * k;
    for (int64_t i = 0; i < nb; i++)
      for (int64_t c = 0; c < k; c++)
        o[i * k + c] = sqrt(sqdist(&w, w.it.buf + i * w.p, centers + c * w.p));
  }
  work_free(&w);
  return rc;
}
