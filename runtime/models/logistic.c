/*
** logistic.c -- L2-regularized logistic regression, binary (sigmoid) and
** multinomial (softmax), fitted through blocked row gathers.
**
** Objective (scikit-learn's, divided by the weight sum S so that `tol`
** means the same for any number of rows, as in scikit-learn >= 1.4):
**   F(W, b) = (1/S) sum_i w_i loss_i + 1/(2 C S) ||W||^2
** with the intercepts b not penalized.  Every evaluation of F (and its
** gradient, and for Newton its Hessian) is one pass over the rows in blocks
** of TIDE_ROW_BLOCK: a GEMM of the block with W, the link, a GEMM back.
** Nothing the size of the fold is ever allocated; labels are mapped to
** class indices block by block (binary search in the sorted classes).
**
** Solvers:
**  - Newton with a Cholesky solve of the (p+1)^2 Hessian and a backtracking
**    line search, for two classes and up to a few hundred features.  One
**    pass per iteration builds loss, gradient and the Hessian X~'DX~ of
**    X~ = [X 1] (the block's rows scaled by sqrt(D), one syrk); it needs
**    ~5-10 passes where L-BFGS needs dozens (more on unscaled data, which
**    Newton does not mind), and its quadratic convergence makes the result
**    exact to rounding.  Its cost per pass, n p^2 / 2 (in f32, see
**    H32_MIN_P), loses to L-BFGS's 2 n p per iteration only past ~500
**    features on Friedman #1 (at 250, Newton 0.6 s, L-BFGS 1.7 s, 41
**    iterations, and scikit-learn's 1.05 s): auto picks it up to
**    NEWTON_MAX_D parameters.
**  - L-BFGS (10 pairs, weak-Wolfe line search by bracketing) otherwise, and
**    for more than two classes (a softmax Hessian is (k p)^2).
** Both start from zero and stop when max |grad F| <= tol, or when a step
** lowers F by less than 64 eps relative (scipy's ftol as scikit-learn sets
** it), or after max_iter steps.
*/
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "logistic.h"

#define NEWTON_MAX_D 512 /* auto uses Newton up to this many parameters */
#define NEWTON_CAP_D 8192 /* a larger Hessian is refused (memory d^2) */
#define LBFGS_M 10
/* From this many features on, Newton builds X'DX with ssyrk (twice dsyrk's
** speed; the Hessian pass is most of a Newton fit's time).  The gradient
** stays f64, so the optimum is the same; an f32 Hessian (entries exact to
** ~1e-6 of sqrt(H_ii H_jj), whatever the column scales) only slows Newton's
** convergence to linear with a ratio ~1e-6 x cond; a late step that fails
** to cut the gradient 4-fold switches the fit back to f64 Hessians. */
#define H32_MIN_P 24

/* ------------------------------------------------------------ classes */

/* The sorted distinct labels of y over the rows (bounded count). */
static int collect_classes(const tide_Array *y, const tide_Rows *rows, double **out,
                           int64_t *kout) {
  return tide_classes(y, rows, TIDE_LOGIT_MAX_CLASSES, "logistic", out, kout);
}

/* ------------------------------------------------------------ problem */

typedef struct Prob {
  const tide_Array *X, *y, *w;
  const tide_Rows *rows;
  int64_t p, k, nw, fi, d; /* features, classes, weight rows, intercept?, parameters */
  int64_t block;           /* rows per pass block */
  const double *classes;
  double inv_s, lam;       /* 1 / S, 1 / (C S) */
  double *z, *r, *dv, *yb, *wb, *xs; /* block buffers */
  float *xs32, *hs32;      /* f32 Hessian of a block (see H32_MIN_P) */
  int h32;                 /* build X'DX in f32 blocks */
  int64_t *code;
  tide_RowBlocks it;       /* one gather buffer for the whole fit */
  int has_it;
  double gmax;             /* max |gradient| where the solver stopped */
} Prob;

/* Rows per block: fewer with many classes or wide rows, so that a block's
** scores (rows x classes) and gathered rows stay a few MB. */
static int64_t block_rows(int64_t nw, int64_t p) {
  int64_t b = TIDE_ROW_BLOCK, w = nw > p / 2 ? nw : p / 2;
  while (b > 16 && b * w > (1 << 18)) b /= 2;
  return b;
}

static void prob_free(Prob *P) {
  free(P->z);
  free(P->r);
  free(P->dv);
  free(P->yb);
  free(P->wb);
  free(P->xs);
  free(P->xs32);
  free(P->hs32);
  free(P->code);
  if (P->has_it) tide_rowblocks_free(&P->it);
}

static int prob_init(Prob *P, int newton) {
  P->block = block_rows(P->nw, P->p);
  size_t B = (size_t)P->block, nw = (size_t)P->nw;
  P->z = tide__malloc(B * nw * sizeof(double));
  P->r = tide__malloc(B * nw * sizeof(double));
  P->dv = tide__malloc(B * sizeof(double));
  P->yb = tide__malloc(B * sizeof(double));
  P->wb = tide__malloc(B * sizeof(double));
  P->code = tide__malloc(B * sizeof(int64_t));
  if (newton) { /* a block of [X 1] scaled by sqrt(D): d = p + fi columns */
    size_t d = (size_t)P->d;
    P->xs = tide__malloc(B * d * sizeof(double));
    P->h32 = P->p >= H32_MIN_P;
    if (P->h32) {
      P->xs32 = tide__malloc(B * d * sizeof(float));
      P->hs32 = tide__malloc(d * d * sizeof(float));
    }
  }
  if (!P->z || !P->r || !P->dv || !P->yb || !P->wb || !P->code || (newton && !P->xs) ||
      (P->h32 && (!P->xs32 || !P->hs32)))
    return tide__seterr(TIDE_ENOMEM, "logistic: out of memory for a row block");
  int rc = tide_rowblocks_init(&P->it, P->X, P->rows, P->block);
  P->has_it = rc == TIDE_OK;
  return rc;
}

static double sigmoid(double z) {
  if (z >= 0) return 1 / (1 + exp(-z));
  double e = exp(z);
  return e / (1 + e);
}

/* z (nb x nw) = Xb W' + b. */
static void decision(const double *Xb, int64_t nb, int64_t p, int64_t nw, const double *W,
                     const double *b, double *z) {
  for (int64_t i = 0; i < nb; i++)
    for (int64_t c = 0; c < nw; c++) z[i * nw + c] = b ? b[c] : 0.0;
  if (p == 0 || nb == 0) return;
  if (nw == 1)
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)p, 1.0, Xb, (int)p, W, 1, 1.0, z, 1);
  else
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nw, (int)p, 1.0, Xb,
                (int)p, W, (int)p, 1.0, z, (int)nw);
}

/* F at th, and when asked its gradient g and (binary only) its Hessian H
** (d x d, row-major, full).  One blocked pass over the rows. */
static int eval(Prob *P, const double *th, double *f, double *g, double *H) {
  int64_t p = P->p, nw = P->nw, d = P->d;
  const double *W = th, *b = P->fi ? th + nw * p : NULL;
  double *gW = g, *gb = g && P->fi ? g + nw * p : NULL;
  double loss = 0;
  if (g) memset(g, 0, (size_t)d * sizeof *g);
  if (H) memset(H, 0, (size_t)(d * d) * sizeof *H);
  /* rewind the fit's row blocks (the iterator restarts from its fields;
  ** reusing it saves a malloc of the block per pass) */
  tide_RowBlocks *it = &P->it;
  it->first = 0;
  it->nb = 0;
  while (tide_rowblocks_next(it)) {
    int64_t nb = it->nb;
    const double *Xb = it->buf;
    tide_gather_col(P->y, P->rows, it->first, nb, 0, P->yb);
    if (P->k == 2) { /* every label is one of the two */
      for (int64_t i = 0; i < nb; i++) P->code[i] = P->yb[i] == P->classes[1];
    } else {
      for (int64_t i = 0; i < nb; i++)
        P->code[i] = tide_class_index(P->classes, P->k, P->yb[i] == 0 ? 0.0 : P->yb[i]);
    }
    if (P->w) tide_gather_col(P->w, P->rows, it->first, nb, 0, P->wb);
    else for (int64_t i = 0; i < nb; i++) P->wb[i] = 1.0;
    decision(Xb, nb, p, nw, W, b, P->z);
    if (nw == 1) {
      for (int64_t i = 0; i < nb; i++) {
        double zi = P->z[i], wi = P->wb[i], yi = P->code[i] == 1 ? 1.0 : 0.0;
        double e = exp(-fabs(zi)); /* one exp for both the loss and the sigmoid */
        double s = zi >= 0 ? 1 / (1 + e) : e / (1 + e);
        loss += wi * ((zi > 0 ? zi : 0) + log1p(e) - yi * zi);
        P->r[i] = wi * (s - yi);
        P->dv[i] = wi * s * (1 - s);
      }
    } else {
      for (int64_t i = 0; i < nb; i++) {
        const double *zi = P->z + i * nw;
        double *ri = P->r + i * nw, m = zi[0], sum = 0, wi = P->wb[i];
        for (int64_t c = 1; c < nw; c++) if (zi[c] > m) m = zi[c];
        for (int64_t c = 0; c < nw; c++) sum += (ri[c] = exp(zi[c] - m)); /* one exp each */
        loss += wi * (m + log(sum) - zi[P->code[i]]);
        double scale = wi / sum;
        for (int64_t c = 0; c < nw; c++) ri[c] *= scale;
        ri[P->code[i]] -= wi;
      }
    }
    if (g) {
      if (p > 0) {
        if (nw == 1)
          cblas_dgemv(CblasRowMajor, CblasTrans, (int)nb, (int)p, 1.0, Xb, (int)p, P->r, 1, 1.0,
                      gW, 1);
        else
          cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nw, (int)p, (int)nb, 1.0,
                      P->r, (int)nw, Xb, (int)p, 1.0, gW, (int)p);
      }
      if (gb)
        for (int64_t i = 0; i < nb; i++)
          for (int64_t c = 0; c < nw; c++) gb[c] += P->r[i * nw + c];
    }
    if (H) { /* binary: X~' D X~ with X~ = [X 1], d = p + fi columns: one
              ** syrk of the block's rows scaled by sqrt(D) gives X'DX, the
              ** intercept's column X'D1 and 1'D1 together */
      if (P->h32) {
        for (int64_t i = 0; i < nb; i++) {
          double sq = sqrt(P->dv[i]);
          const double *xi = Xb + i * p;
          float *si = P->xs32 + i * d;
          for (int64_t j = 0; j < p; j++) si[j] = (float)(sq * xi[j]);
          if (P->fi) si[p] = (float)sq;
        }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0f, P->xs32,
                    (int)d, 0.0f, P->hs32, (int)d);
        for (int64_t a = 0; a < d; a++) /* blocks accumulate in f64 */
          for (int64_t b2 = a; b2 < d; b2++) H[a * d + b2] += P->hs32[a * d + b2];
      } else {
        for (int64_t i = 0; i < nb; i++) {
          double sq = sqrt(P->dv[i]);
          const double *xi = Xb + i * p;
          double *si = P->xs + i * d;
          for (int64_t j = 0; j < p; j++) si[j] = sq * xi[j];
          if (P->fi) si[p] = sq;
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, P->xs, (int)d,
                    1.0, H, (int)d);
      }
    }
  }
  double ww = 0;
  for (int64_t j = 0; j < nw * p; j++) ww += W[j] * W[j];
  *f = P->inv_s * loss + 0.5 * P->lam * ww;
  if (g) {
    for (int64_t j = 0; j < d; j++) g[j] *= P->inv_s;
    for (int64_t j = 0; j < nw * p; j++) g[j] += P->lam * W[j];
  }
  if (H) {
    for (int64_t i = 0; i < d; i++) {
      for (int64_t j = i; j < d; j++) {
        H[i * d + j] *= P->inv_s;
        H[j * d + i] = H[i * d + j];
      }
    }
    for (int64_t j = 0; j < p; j++) H[j * d + j] += P->lam;
  }
  return TIDE_OK;
}

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static double amax(const double *a, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) if (fabs(a[i]) > m) m = fabs(a[i]);
  return m;
}

/* A step that lowers F by less than this is at the limit of precision. */
static int tiny_decrease(double fold, double fnew) {
  double scale = fabs(fold) > fabs(fnew) ? fabs(fold) : fabs(fnew);
  return fold - fnew <= 64 * DBL_EPSILON * (scale > 1 ? scale : 1);
}

/* ------------------------------------------------------------- Newton */

/* Solves H x = rhs by Cholesky (H is copied into Hc); a ridge is added
** when H is numerically singular (separable data with a huge C).  1 when
** no factorization succeeded. */
static int chol_solve(const double *H, double *Hc, int64_t d, double *x) {
  double diag = 0;
  for (int64_t j = 0; j < d; j++) if (H[j * d + j] > diag) diag = H[j * d + j];
  double *x0 = Hc + d * d; /* rhs kept for retries */
  memcpy(x0, x, (size_t)d * sizeof *x);
  for (int attempt = 0; attempt < 8; attempt++) {
    memcpy(Hc, H, (size_t)(d * d) * sizeof *Hc);
    if (attempt > 0) {
      double mu = diag * 1e-12 * pow(100.0, attempt - 1);
      if (mu <= 0) mu = 1e-12;
      for (int64_t j = 0; j < d; j++) Hc[j * d + j] += mu;
    }
    memcpy(x, x0, (size_t)d * sizeof *x);
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)d, Hc, (lapack_int)d) != 0) continue;
    if (LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', (lapack_int)d, 1, Hc, (lapack_int)d, x, 1) == 0)
      return 0;
  }
  return 1;
}

static int newton(Prob *P, double *th, const tide_LogitOpts *o, int64_t *n_iter, int *conv) {
  int64_t d = P->d;
  size_t dd = (size_t)d * (size_t)d;
  double *H = tide__malloc(dd * sizeof *H), *Hn = tide__malloc(dd * sizeof *Hn);
  double *Hc = tide__malloc((dd + (size_t)d) * sizeof *Hc);
  double *g = tide__malloc((size_t)d * sizeof *g), *gn = tide__malloc((size_t)d * sizeof *gn);
  double *dir = tide__malloc((size_t)d * sizeof *dir), *xn = tide__malloc((size_t)d * sizeof *xn);
  int rc = TIDE_OK;
  double f, fn;
  *n_iter = 0;
  *conv = 0;
  if (!H || !Hn || !Hc || !g || !gn || !dir || !xn) {
    rc = tide__seterr(TIDE_ENOMEM, "logistic: out of memory for a %" PRId64 "-parameter Hessian",
                      d);
    goto done;
  }
  if ((rc = eval(P, th, &f, g, H))) goto done;
  int flat = 0; /* the last step lowered F by rounding only */
  while (*n_iter < o->max_iter) {
    for (int64_t j = 0; j < d; j++) dir[j] = -g[j];
    if (amax(g, d) <= o->tol || flat) {
      /* Converged; one more Newton step (one loss-only pass) squares the
      ** remaining error, so even the default tol gives the optimum to
      ** ~1e-8 rather than ~1e-3: the precision of scikit-learn's default
      ** fits, whose criterion is on the summed, not the mean, gradient. */
      *conv = 1;
      if (chol_solve(H, Hc, d, dir) || !(dot(g, dir, d) < 0)) break;
      for (int64_t j = 0; j < d; j++) xn[j] = th[j] + dir[j];
      if ((rc = eval(P, xn, &fn, NULL, NULL))) goto done;
      if (fn <= f) {
        memcpy(th, xn, (size_t)d * sizeof *th);
        (*n_iter)++;
      }
      break;
    }
    if (chol_solve(H, Hc, d, dir) || !(dot(g, dir, d) < 0))
      for (int64_t j = 0; j < d; j++) dir[j] = -g[j]; /* steepest descent as a last resort */
    double gd = dot(g, dir, d), t = 1;
    int ok = 0;
    for (int ls = 0; ls < 50; ls++) {
      for (int64_t j = 0; j < d; j++) xn[j] = th[j] + t * dir[j];
      /* the full step is nearly always taken: build its Hessian in the same pass */
      if ((rc = eval(P, xn, &fn, gn, t == 1 ? Hn : NULL))) goto done;
      if (fn <= f + 1e-4 * t * gd) {
        ok = 1;
        break;
      }
      t *= 0.5;
    }
    if (!ok) { /* no decrease along a descent direction: F is flat to rounding here */
      *conv = amax(g, d) <= 1e3 * o->tol;
      break;
    }
    if (t != 1 && (rc = eval(P, xn, &fn, gn, Hn))) goto done;
    /* past the first steps (far from the optimum, any Newton may crawl), a
    ** full step that cuts the gradient less than 4-fold may be the f32
    ** Hessian's fault: build the next ones in f64 */
    if (P->h32 && *n_iter >= 2 && t == 1 && amax(gn, d) > 0.25 * amax(g, d)) P->h32 = 0;
    double fold = f;
    memcpy(th, xn, (size_t)d * sizeof *th);
    memcpy(g, gn, (size_t)d * sizeof *g);
    double *tmp = H;
    H = Hn;
    Hn = tmp;
    f = fn;
    (*n_iter)++;
    flat = tiny_decrease(fold, f);
  }
done:
  if (g) P->gmax = amax(g, d);
  free(H);
  free(Hn);
  free(Hc);
  free(g);
  free(gn);
  free(dir);
  free(xn);
  return rc;
}

/* -------------------------------------------------------------- L-BFGS */

static int lbfgs(Prob *P, double *th, const tide_LogitOpts *o, int64_t *n_iter, int *conv) {
  int64_t d = P->d;
  size_t sd = (size_t)d * sizeof(double);
  double *S = tide__malloc(LBFGS_M * sd), *Y = tide__malloc(LBFGS_M * sd);
  double *g = tide__malloc(sd), *gn = tide__malloc(sd), *dir = tide__malloc(sd), *xn = tide__malloc(sd);
  double rho[LBFGS_M], alpha[LBFGS_M];
  int rc = TIDE_OK, npairs = 0, head = 0; /* head: slot of the next pair */
  double f, fn;
  *n_iter = 0;
  *conv = 0;
  if (!S || !Y || !g || !gn || !dir || !xn) {
    rc = tide__seterr(TIDE_ENOMEM, "logistic: out of memory for %" PRId64 " parameters", d);
    goto done;
  }
  if ((rc = eval(P, th, &f, g, NULL))) goto done;
  while (*n_iter < o->max_iter) {
    if (amax(g, d) <= o->tol) {
      *conv = 1;
      break;
    }
    /* two-loop recursion: dir = -H g */
    memcpy(dir, g, sd);
    for (int q = 0; q < npairs; q++) {
      int s = (head - 1 - q + LBFGS_M) % LBFGS_M;
      alpha[s] = rho[s] * dot(S + s * d, dir, d);
      cblas_daxpy((int)d, -alpha[s], Y + s * d, 1, dir, 1);
    }
    double t = 1;
    if (npairs > 0) {
      int s = (head - 1 + LBFGS_M) % LBFGS_M;
      double yy = dot(Y + s * d, Y + s * d, d);
      cblas_dscal((int)d, 1 / (rho[s] * yy), dir, 1);
    } else {
      t = 1 / sqrt(dot(g, g, d)); /* first step: unit length */
    }
    for (int q = npairs - 1; q >= 0; q--) {
      int s = (head - 1 - q + LBFGS_M) % LBFGS_M;
      double beta = rho[s] * dot(Y + s * d, dir, d);
      cblas_daxpy((int)d, alpha[s] - beta, S + s * d, 1, dir, 1);
    }
    for (int64_t j = 0; j < d; j++) dir[j] = -dir[j];
    double gd = dot(g, dir, d);
    if (!(gd < 0)) { /* lost descent (rounding): restart from the gradient */
      for (int64_t j = 0; j < d; j++) dir[j] = -g[j];
      gd = -dot(g, g, d);
      t = 1 / sqrt(-gd);
      npairs = 0;
    }
    /* weak Wolfe line search: bracket [lo, hi], expanding or bisecting */
    double lo = 0, hi = INFINITY;
    int ok = 0;
    for (int ls = 0; ls < 60; ls++) {
      for (int64_t j = 0; j < d; j++) xn[j] = th[j] + t * dir[j];
      if ((rc = eval(P, xn, &fn, gn, NULL))) goto done;
      if (!(fn <= f + 1e-4 * t * gd)) hi = t;
      else if (dot(gn, dir, d) < 0.9 * gd) lo = t;
      else {
        ok = 1;
        break;
      }
      t = isinf(hi) ? 2 * t : 0.5 * (lo + hi);
    }
    if (!ok) {
      if (lo <= 0) { /* not even a decrease: F is flat to rounding here */
        *conv = amax(g, d) <= 1e3 * o->tol;
        break;
      }
      t = lo; /* a decrease without the curvature condition: take it */
      for (int64_t j = 0; j < d; j++) xn[j] = th[j] + t * dir[j];
      if ((rc = eval(P, xn, &fn, gn, NULL))) goto done;
    }
    double *s = S + head * d, *yv = Y + head * d;
    for (int64_t j = 0; j < d; j++) {
      s[j] = xn[j] - th[j];
      yv[j] = gn[j] - g[j];
    }
    double sy = dot(s, yv, d);
    if (sy > DBL_EPSILON * dot(yv, yv, d)) { /* keep only curvature-positive pairs */
      rho[head] = 1 / sy;
      head = (head + 1) % LBFGS_M;
      if (npairs < LBFGS_M) npairs++;
    }
    double fold = f;
    memcpy(th, xn, sd);
    memcpy(g, gn, sd);
    f = fn;
    (*n_iter)++;
    if (amax(g, d) <= o->tol || tiny_decrease(fold, f)) {
      *conv = 1;
      break;
    }
  }
done:
  if (g) P->gmax = amax(g, d);
  free(S);
  free(Y);
  free(g);
  free(gn);
  free(dir);
  free(xn);
  return rc;
}

/* ---------------------------------------------------------------- fit */

void tide_logistic_free(tide_Logit *m) {
  free(m->classes);
  free(m->coef);
  free(m->intercept);
  memset(m, 0, sizeof *m);
}

int tide_logistic_fit(const tide_Array *X, const tide_Array *y, const tide_Array *w,
                      const tide_Rows *rows, const tide_LogitOpts *o, tide_Logit *m) {
  memset(m, 0, sizeof *m);
  if (!(o->C > 0)) /* C = inf is allowed: no penalty */
    return tide__seterr(TIDE_EINVAL, "logistic: C must be a positive number, got %g", o->C);
  if (!(o->tol >= 0))
    return tide__seterr(TIDE_EINVAL, "logistic: tol must be >= 0, got %g", o->tol);
  if (o->max_iter < 0)
    return tide__seterr(TIDE_EINVAL, "logistic: max_iter must be >= 0");
  int rc = tide_check_xy(X, y, w, rows, "logistic");
  if (rc) return rc;
  Prob P;
  memset(&P, 0, sizeof P);
  P.X = X;
  P.y = y;
  P.w = w;
  P.rows = rows;
  P.p = X->shape[1];
  if (P.p == 0) return tide__seterr(TIDE_ESHAPE, "logistic: X has no features (0 columns)");
  P.fi = o->fit_intercept ? 1 : 0;
  double *cl = NULL;
  if ((rc = collect_classes(y, rows, &cl, &P.k))) return rc;
  if (P.k < 2) {
    char lab[64];
    snprintf(lab, sizeof lab, "%.17g", cl[0]);
    free(cl);
    return tide__seterr(TIDE_EINVAL, "logistic: y has a single class (%s); need at least 2", lab);
  }
  P.classes = cl;
  P.nw = P.k == 2 ? 1 : P.k;
  P.d = P.nw * (P.p + P.fi);
  if (P.p > INT_MAX / 2 || P.d > INT_MAX / 2) { /* BLAS takes int sizes */
    free(cl);
    return tide__seterr(TIDE_EINVAL, "logistic: %" PRId64 " classes x %" PRId64 " features is "
                        "too many parameters", P.k, P.p);
  }
  double S = 0;
  if (w) {
    double *wb = tide__malloc(TIDE_ROW_BLOCK * sizeof *wb);
    if (!wb) {
      free(cl);
      return tide__seterr(TIDE_ENOMEM, "logistic: out of memory");
    }
    for (int64_t first = 0; first < rows->n; first += TIDE_ROW_BLOCK) {
      int64_t nb = rows->n - first < TIDE_ROW_BLOCK ? rows->n - first : TIDE_ROW_BLOCK;
      tide_gather_col(w, rows, first, nb, 0, wb);
      for (int64_t i = 0; i < nb; i++) S += wb[i];
    }
    free(wb);
    if (!(S > 0)) {
      free(cl);
      return tide__seterr(TIDE_EINVAL, "logistic: the sample weights of the rows used sum to 0");
    }
  } else {
    S = (double)rows->n;
  }
  P.inv_s = 1 / S;
  P.lam = 1 / (o->C * S);
  int solver = o->solver;
  if (solver == TIDE_LOGIT_AUTO)
    solver = P.nw == 1 && P.d <= NEWTON_MAX_D ? TIDE_LOGIT_NEWTON : TIDE_LOGIT_LBFGS;
  if (solver == TIDE_LOGIT_NEWTON && P.nw != 1) {
    free(cl);
    return tide__seterr(TIDE_EINVAL, "logistic: solver 'newton-cholesky' handles two classes "
                        "only (y has %" PRId64 "); use 'lbfgs'", P.k);
  }
  if (solver == TIDE_LOGIT_NEWTON && P.d > NEWTON_CAP_D) {
    free(cl);
    return tide__seterr(TIDE_EINVAL, "logistic: solver 'newton-cholesky' needs a Hessian of "
                        "%" PRId64 "^2 entries; use 'lbfgs' for %" PRId64 " features", P.d, P.p);
  }
  double *th = tide__calloc((size_t)P.d, sizeof *th);
  if (!th) rc = tide__seterr(TIDE_ENOMEM, "logistic: out of memory");
  else if (o->init && o->init_len == P.d)
    for (int64_t j = 0; j < P.d; j++) th[j] = isfinite(o->init[j]) ? o->init[j] : 0;
  if (!rc) rc = prob_init(&P, solver == TIDE_LOGIT_NEWTON);
  if (!rc)
    rc = solver == TIDE_LOGIT_NEWTON ? newton(&P, th, o, &m->n_iter, &m->converged)
                                     : lbfgs(&P, th, o, &m->n_iter, &m->converged);
  prob_free(&P);
  if (!rc) {
    m->coef = tide__malloc((size_t)(P.nw * (P.p ? P.p : 1)) * sizeof *m->coef);
    m->intercept = tide__calloc((size_t)P.nw, sizeof *m->intercept);
    if (!m->coef || !m->intercept) rc = tide__seterr(TIDE_ENOMEM, "logistic: out of memory");
  }
  if (rc) {
    free(th);
    free(cl);
    free(m->coef);
    free(m->intercept);
    memset(m, 0, sizeof *m);
    return rc;
  }
  memcpy(m->coef, th, (size_t)(P.nw * P.p) * sizeof *th);
  if (P.fi) {
    /* softmax intercepts are defined up to a common shift: report the
    ** centered ones (scikit-learn's, whose solver keeps their sum at 0) */
    double mean = 0;
    for (int64_t c = 0; c < P.nw; c++) mean += th[P.nw * P.p + c];
    mean = P.nw > 1 ? mean / (double)P.nw : 0;
    for (int64_t c = 0; c < P.nw; c++) m->intercept[c] = th[P.nw * P.p + c] - mean;
  }
  free(th);
  m->k = P.k;
  m->p = P.p;
  m->nw = P.nw;
  m->classes = cl;
  m->solver = solver;
  m->grad_max = P.gmax;
  return TIDE_OK;
}

/* ------------------------------------------------------------ predict */

int tide_logistic_predict(const tide_Array *X, const tide_Rows *rows, int64_t k, int64_t nw,
                          const double *coef, const double *intercept, int mode, void *out) {
  if (X->ndim != 2)
    return tide__seterr(TIDE_ESHAPE, "logistic: X must be 2-dimensional (rows x features)");
  int64_t p = X->shape[1];
  if (rows->n == 0) return TIDE_OK;
  int rc = tide_check_xy(X, NULL, NULL, rows, "logistic");
  if (rc) return rc;
  int64_t block = block_rows(nw, p);
  double *z = tide__malloc((size_t)block * (size_t)nw * sizeof *z);
  if (!z) return tide__seterr(TIDE_ENOMEM, "logistic: out of memory for a row block");
  tide_RowBlocks it;
  if ((rc = tide_rowblocks_init(&it, X, rows, block))) {
    free(z);
    return rc;
  }
  while (tide_rowblocks_next(&it)) {
    int64_t nb = it.nb;
    decision(it.buf, nb, p, nw, coef, intercept, z);
    if (mode == TIDE_LOGIT_DECISION) {
      memcpy((double *)out + it.first * nw, z, (size_t)(nb * nw) * sizeof *z);
    } else if (mode == TIDE_LOGIT_PROBA) {
      double *o = (double *)out + it.first * k;
      for (int64_t i = 0; i < nb; i++, o += k) {
        const double *zi = z + i * nw;
        if (nw == 1) {
          o[0] = sigmoid(-zi[0]);
          o[1] = sigmoid(zi[0]);
          continue;
        }
        double mx = zi[0], sum = 0;
        for (int64_t c = 1; c < nw; c++) if (zi[c] > mx) mx = zi[c];
        for (int64_t c = 0; c < nw; c++) sum += (o[c] = exp(zi[c] - mx));
        for (int64_t c = 0; c < nw; c++) o[c] /= sum;
      }
    } else {
      int64_t *o = (int64_t *)out + it.first;
      for (int64_t i = 0; i < nb; i++) {
        const double *zi = z + i * nw;
        if (nw == 1) {
          o[i] = zi[0] > 0; /* scikit-learn: class 1 when the decision is > 0 */
          continue;
        }
        int64_t best = 0; /* the first of tied maxima, as numpy's argmax */
        for (int64_t c = 1; c < nw; c++) if (zi[c] > zi[best]) best = c;
        o[i] = best;
      }
    }
  }
  tide_rowblocks_free(&it);
  free(z);
  return TIDE_OK;
}
