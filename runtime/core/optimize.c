/*
** optimize.c -- L-BFGS-B (through liblbfgsb) and Nelder-Mead by reverse
** communication (see optimize.h).
**
** liblbfgsb is Fortran 77 built by gfortran: every argument by reference,
** LOGICAL as a 4-byte integer, and the lengths of the two CHARACTER*60
** arguments passed last, by value.
*/
#include <float.h>
#include <math.h>
#include <string.h>

#include "optimize.h"

void setulb_(int *n, int *m, double *x, double *l, double *u, int *nbd, double *f, double *g,
             double *factr, double *pgtol, double *wa, int *iwa, char *task, int *iprint,
             char *csave, int *lsave, int *isave, double *dsave, size_t task_len,
             size_t csave_len);

/* ------------------------------------------------------------ L-BFGS-B */

static size_t align8(size_t k) { return (k + 7) & ~(size_t)7; }

static size_t wa_count(int n, int m) {
  return 2 * (size_t)m * n + 5 * (size_t)n + 11 * (size_t)m * m + 8 * (size_t)m;
}

size_t tide_lbfgsb_size(int n, int m) {
  return align8(sizeof(tide_Lbfgsb)) + sizeof(double) * (4 * (size_t)n + wa_count(n, m) + 29) +
         sizeof(int) * (4 * (size_t)n + 4 + 44);
}

static void set_task(char *t, const char *s) {
  size_t k = strlen(s);
  if (k > 60) k = 60;
  memcpy(t, s, k);
  memset(t + k, ' ', 60 - k);
  t[60] = '\0';
}

tide_Lbfgsb *tide_lbfgsb_init(void *block, int n, int m, const double *x0, const double *lo,
                              const double *hi, double ftol, double gtol) {
  memset(block, 0, tide_lbfgsb_size(n, m));
  tide_Lbfgsb *s = block;
  double *d = (double *)((char *)block + align8(sizeof *s));
  s->n = n;
  s->m = m;
  s->x = d;
  s->l = d + n;
  s->u = d + 2 * n;
  s->g = d + 3 * n;
  s->wa = d + 4 * n;
  s->dsave = s->wa + wa_count(n, m);
  int *i = (int *)(s->dsave + 29);
  s->nbd = i;
  s->iwa = i + n;
  s->lsave = i + 4 * n;
  s->isave = s->lsave + 4;
  for (int k = 0; k < n; k++) {
    bool has_lo = lo && lo[k] > -HUGE_VAL, has_hi = hi && hi[k] < HUGE_VAL;
    s->l[k] = has_lo ? lo[k] : 0;
    s->u[k] = has_hi ? hi[k] : 0;
    s->nbd[k] = has_lo ? (has_hi ? 2 : 1) : (has_hi ? 3 : 0);
    double v = x0[k];
    if (has_lo && v < lo[k]) v = lo[k];
    if (has_hi && v > hi[k]) v = hi[k];
    s->x[k] = v;
  }
  s->factr = ftol / DBL_EPSILON;
  s->pgtol = gtol;
  set_task(s->task, "START");
  set_task(s->csave, "");
  return s;
}

int tide_lbfgsb_step(tide_Lbfgsb *s) {
  int iprint = -1;
  setulb_(&s->n, &s->m, s->x, s->l, s->u, s->nbd, &s->f, s->g, &s->factr, &s->pgtol, s->wa,
          s->iwa, s->task, &iprint, s->csave, s->lsave, s->isave, s->dsave, 60, 60);
  s->task[60] = '\0';
  if (strncmp(s->task, "FG", 2) == 0) return TIDE_LBFGSB_FG;
  if (strncmp(s->task, "NEW_X", 5) == 0) return TIDE_LBFGSB_NEW_X;
  return TIDE_LBFGSB_DONE;
}

void tide_lbfgsb_stop(tide_Lbfgsb *s, const char *why) { set_task(s->task, why); }

const char *tide_lbfgsb_message(const tide_Lbfgsb *s, char *buf) {
  memcpy(buf, s->task, 60);
  int k = 60;
  while (k > 0 && (buf[k - 1] == ' ' || buf[k - 1] == '\0')) k--;
  buf[k] = '\0';
  return buf;
}

/* ------------------------------------------------------------ Nelder-Mead */

enum { NM_START = 0, NM_INIT, NM_XR, NM_XE, NM_XC, NM_XCC, NM_SHRINK, NM_DONE };

size_t tide_nm_size(int n) {
  return align8(sizeof(tide_NelderMead)) +
         sizeof(double) * ((size_t)(n + 1) * n + (n + 1) + 6 * (size_t)n);
}

#define ROW(s, j) ((s)->sim + (size_t)(j) * (s)->n)

static void clip(const tide_NelderMead *s, double *x) {
  if (!s->bounded) return;
  for (int k = 0; k < s->n; k++) { /* np.clip: NaN stays NaN */
    if (x[k] < s->lo[k]) x[k] = s->lo[k];
    if (x[k] > s->hi[k]) x[k] = s->hi[k];
  }
}

/* numpy's sort order: NaN after every number */
static bool before(double a, double b) { return a < b || (b != b && a == a); }

/* Rows of the simplex by their values, stably (numpy's argsort of so few
** values is an insertion sort). */
static void sort_simplex(tide_NelderMead *s) {
  int n = s->n;
  for (int i = 1; i <= n; i++) {
    double f = s->fsim[i];
    int j = i;
    if (!before(f, s->fsim[j - 1])) continue;
    memcpy(s->tmp, ROW(s, i), (size_t)n * sizeof(double));
    while (j > 0 && before(f, s->fsim[j - 1])) {
      s->fsim[j] = s->fsim[j - 1];
      memcpy(ROW(s, j), ROW(s, j - 1), (size_t)n * sizeof(double));
      j--;
    }
    s->fsim[j] = f;
    memcpy(ROW(s, j), s->tmp, (size_t)n * sizeof(double));
  }
}

/* max |sim[1:] - sim[0]| <= xatol and max |fsim[0] - fsim[1:]| <= fatol;
** a NaN anywhere fails (numpy's max propagates it). */
static bool converged(const tide_NelderMead *s) {
  int n = s->n;
  double mx = 0, mf = 0;
  for (int j = 1; j <= n; j++) {
    for (int k = 0; k < n; k++) {
      double d = fabs(ROW(s, j)[k] - s->sim[k]);
      if (!(d <= mx)) mx = d;
    }
    double e = fabs(s->fsim[0] - s->fsim[j]);
    if (!(e <= mf)) mf = e;
  }
  return mx <= s->xatol && mf <= s->fatol;
}

tide_NelderMead *tide_nm_init(void *block, int n, const double *x0, const double *lo,
                              const double *hi, bool adaptive, double xatol, double fatol,
                              int64_t maxiter, int64_t maxfev) {
  memset(block, 0, tide_nm_size(n));
  tide_NelderMead *s = block;
  double *d = (double *)((char *)block + align8(sizeof *s));
  s->n = n;
  s->sim = d;
  s->fsim = d + (size_t)(n + 1) * n;
  s->xbar = s->fsim + n + 1;
  s->xr = s->xbar + n;
  s->xe = s->xr + n;
  s->lo = s->xe + n;
  s->hi = s->lo + n;
  s->tmp = s->hi + n;
  s->bounded = lo || hi;
  for (int k = 0; k < n; k++) {
    s->lo[k] = lo ? lo[k] : -HUGE_VAL;
    s->hi[k] = hi ? hi[k] : HUGE_VAL;
  }
  if (adaptive) {
    double dim = n;
    s->rho = 1;
    s->chi = 1 + 2 / dim;
    s->psi = 0.75 - 1 / (2 * dim);
    s->sigma = 1 - 1 / dim;
  } else {
    s->rho = 1;
    s->chi = 2;
    s->psi = 0.5;
    s->sigma = 0.5;
  }
  s->xatol = xatol;
  s->fatol = fatol;
  /* scipy: both unset, 200 n each; one set, the other unlimited (unless
  ** the one set is unlimited) */
  const int64_t unlimited = INT64_MAX, dflt = 200 * (int64_t)n;
  if (maxiter < 0 && maxfev < 0) maxiter = maxfev = dflt;
  else if (maxiter < 0) maxiter = maxfev == unlimited ? dflt : unlimited;
  else if (maxfev < 0) maxfev = maxiter == unlimited ? dflt : unlimited;
  s->maxiter = maxiter;
  s->maxfev = maxfev;
  /* the first simplex: x0, and x0 with one coordinate 5% larger (0.00025
  ** where it is 0) */
  memcpy(s->sim, x0, (size_t)n * sizeof(double));
  clip(s, s->sim);
  for (int k = 0; k < n; k++) {
    double *y = ROW(s, k + 1);
    memcpy(y, s->sim, (size_t)n * sizeof(double));
    y[k] = y[k] != 0 ? (1 + 0.05) * y[k] : 0.00025;
    clip(s, y);
  }
  for (int j = 0; j <= n; j++) s->fsim[j] = HUGE_VAL;
  s->state = NM_START;
  return s;
}

/* Asks for f at p, unless the evaluations are used up (scipy's wrapper
** raises then, ending the iteration). */
static bool ask(tide_NelderMead *s, const double *p, int state, const double **x) {
  if (s->nfev >= s->maxfev) return false;
  s->nfev++;
  s->want = p;
  s->state = state;
  *x = p;
  return true;
}

/* A coroutine: each `return true` hands out a point, and the next call
** resumes at the label after it with the point's value. */
bool tide_nm_next(tide_NelderMead *s, double fx, const double **x) {
  const int n = s->n;
  double *last;
  switch (s->state) {
    case NM_START: break;
    case NM_INIT: goto init_value;
    case NM_XR: goto xr_value;
    case NM_XE: goto xe_value;
    case NM_XC: goto xc_value;
    case NM_XCC: goto xcc_value;
    case NM_SHRINK: goto shrink_value;
    default: return false;
  }
  for (s->j = 0; s->j <= n; s->j++) {
    if (!ask(s, ROW(s, s->j), NM_INIT, x)) break;
    return true;
  init_value:
    s->fsim[s->j] = fx;
  }
  sort_simplex(s);
  s->nit = 1;
  while (s->nfev < s->maxfev && s->nit < s->maxiter) {
    if (converged(s)) break;
    last = ROW(s, n);
    for (int k = 0; k < n; k++) { /* np.add.reduce(sim[:-1], 0) / N: rows in order */
      double acc = s->sim[k];
      for (int j = 1; j < n; j++) acc += ROW(s, j)[k];
      s->xbar[k] = acc / n;
    }
    for (int k = 0; k < n; k++) s->xr[k] = (1 + s->rho) * s->xbar[k] - s->rho * last[k];
    clip(s, s->xr);
    if (!ask(s, s->xr, NM_XR, x)) goto aborted;
    return true;
  xr_value:
    last = ROW(s, n);
    s->fxr = fx;
    s->do_shrink = false;
    if (s->fxr < s->fsim[0]) {
      double rc = s->rho * s->chi;
      for (int k = 0; k < n; k++) s->xe[k] = (1 + rc) * s->xbar[k] - rc * last[k];
      clip(s, s->xe);
      if (!ask(s, s->xe, NM_XE, x)) goto aborted;
      return true;
    xe_value:
      last = ROW(s, n);
      if (fx < s->fxr) {
        memcpy(last, s->xe, (size_t)n * sizeof(double));
        s->fsim[n] = fx;
      } else {
        memcpy(last, s->xr, (size_t)n * sizeof(double));
        s->fsim[n] = s->fxr;
      }
    } else if (s->fxr < s->fsim[n - 1]) {
      memcpy(last, s->xr, (size_t)n * sizeof(double));
      s->fsim[n] = s->fxr;
    } else {
      if (s->fxr < s->fsim[n]) { /* outside contraction */
        double pr = s->psi * s->rho;
        for (int k = 0; k < n; k++) s->xe[k] = (1 + pr) * s->xbar[k] - pr * last[k];
        clip(s, s->xe);
        if (!ask(s, s->xe, NM_XC, x)) goto aborted;
        return true;
      xc_value:
        last = ROW(s, n);
        if (fx <= s->fxr) {
          memcpy(last, s->xe, (size_t)n * sizeof(double));
          s->fsim[n] = fx;
        } else {
          s->do_shrink = true;
        }
      } else { /* inside contraction */
        for (int k = 0; k < n; k++) s->xe[k] = (1 - s->psi) * s->xbar[k] + s->psi * last[k];
        clip(s, s->xe);
        if (!ask(s, s->xe, NM_XCC, x)) goto aborted;
        return true;
      xcc_value:
        last = ROW(s, n);
        if (fx < s->fsim[n]) {
          memcpy(last, s->xe, (size_t)n * sizeof(double));
          s->fsim[n] = fx;
        } else {
          s->do_shrink = true;
        }
      }
      if (s->do_shrink) {
        for (s->j = 1; s->j <= n; s->j++) {
          for (int k = 0; k < n; k++)
            ROW(s, s->j)[k] = s->sim[k] + s->sigma * (ROW(s, s->j)[k] - s->sim[k]);
          clip(s, ROW(s, s->j));
          if (!ask(s, ROW(s, s->j), NM_SHRINK, x)) goto aborted;
          return true;
        shrink_value:
          s->fsim[s->j] = fx;
        }
      }
    }
    s->nit++;
  aborted:
    sort_simplex(s);
  }
  s->state = NM_DONE;
  return false;
}

const char *tide_nm_result(const tide_NelderMead *s, const double **x, double *fx, int *status) {
  double best = s->fsim[0];
  for (int j = 0; j <= s->n; j++) { /* np.min: NaN wins */
    double f = s->fsim[j];
    if (f != f) {
      best = f;
      break;
    }
    if (f < best) best = f;
  }
  *x = s->sim;
  *fx = best;
  if (s->nfev >= s->maxfev) {
    *status = 1;
    return "Maximum number of function evaluations has been exceeded.";
  }
  if (s->nit >= s->maxiter) {
    *status = 2;
    return "Maximum number of iterations has been exceeded.";
  }
  *status = 0;
  return "Optimization terminated successfully.";
}

/* ------------------------------------------------------------ gradients */

void tide_fd_steps(int n, const double *x, const double *lo, const double *hi, double abs_step,
                   double *h) {
  const double rel = 1.4901161193847656e-08; /* EPS^0.5, scipy's relative step */
  for (int i = 0; i < n; i++) {
    double x0 = x[i], sign = x0 >= 0 ? 1 : -1, hi_ = abs_step;
    if ((x0 + hi_) - x0 == 0) hi_ = rel * sign * (fabs(x0) > 1 ? fabs(x0) : 1);
    double lb = lo ? lo[i] : -HUGE_VAL, ub = hi ? hi[i] : HUGE_VAL;
    double lower = x0 - lb, upper = ub - x0, xt = x0 + hi_;
    bool violated = xt < lb || xt > ub;
    bool fitting = fabs(hi_) <= (lower > upper ? lower : upper);
    if (violated && fitting) hi_ = -hi_;
    else if (!fitting) hi_ = upper >= lower ? upper : -lower;
    h[i] = hi_;
  }
}
