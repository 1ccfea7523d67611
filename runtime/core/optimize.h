/*
** optimize.h -- the two minimizers of tide.optimize.minimize (optimize.c),
** both by reverse communication: the caller owns every byte (one block it
** allocates, of the size *_size gives), asks what point to evaluate, and
** evaluates the objective itself -- so an objective that never returns (a
** Lua error) leaves nothing to free.
**
**   L-BFGS-B: the L-BFGS-B 3.0 code of Zhu, Byrd, Lu, Nocedal and Morales
**   (Debian's liblbfgsb, the library Debian's scipy calls), driven as
**   scipy.optimize's _minimize_lbfgsb drives it.
**   Nelder-Mead: scipy.optimize's _minimize_neldermead, step for step
**   (same simplex, same order of operations, same stopping tests).
*/
#ifndef TIDE_OPTIMIZE_H
#define TIDE_OPTIMIZE_H

#include "core.h"

/* ------------------------------------------------------------ L-BFGS-B */

typedef struct tide_Lbfgsb {
  int n, m;
  double f, factr, pgtol;
  double *x, *l, *u, *g, *wa, *dsave;
  int *nbd, *iwa, *lsave, *isave;
  char task[61], csave[61];
} tide_Lbfgsb;

enum { TIDE_LBFGSB_FG = 1, TIDE_LBFGSB_NEW_X, TIDE_LBFGSB_DONE };

/* Bytes of the block for n variables and m corrections. */
size_t tide_lbfgsb_size(int n, int m);
/* Sets up a run in block (tide_lbfgsb_size bytes, 8-byte aligned): x0
** (projected onto the bounds), bounds lo/hi (-inf/+inf: open), and scipy's
** stopping rules ftol ((f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= ftol) and
** gtol (largest projected gradient). */
tide_Lbfgsb *tide_lbfgsb_init(void *block, int n, int m, const double *x0, const double *lo,
                              const double *hi, double ftol, double gtol);
/* Runs the code until it wants something: TIDE_LBFGSB_FG (set s->f and
** s->g at s->x, then call again), TIDE_LBFGSB_NEW_X (an iteration ended;
** call again, or tide_lbfgsb_stop first), TIDE_LBFGSB_DONE (s->task says
** why: "CONVERGENCE: ...", "ABNORMAL_TERMINATION_IN_LNSRCH", "STOP: ...",
** "ERROR: ..."). */
int tide_lbfgsb_step(tide_Lbfgsb *s);
/* Ends the run at the next step with message why ("STOP: ..."). */
void tide_lbfgsb_stop(tide_Lbfgsb *s, const char *why);
/* s->task without its trailing blanks, into buf (61 bytes). */
const char *tide_lbfgsb_message(const tide_Lbfgsb *s, char *buf);

/* ------------------------------------------------------------ Nelder-Mead */

typedef struct tide_NelderMead {
  int n, state, j;
  bool bounded, do_shrink;
  double rho, chi, psi, sigma, xatol, fatol, fxr;
  int64_t maxiter, maxfev, nit, nfev; /* maxiter/maxfev < 0: no limit */
  double *sim, *fsim, *xbar, *xr, *xe, *lo, *hi, *tmp;
  const double *want;                 /* the point to evaluate next */
} tide_NelderMead;

size_t tide_nm_size(int n);
/* x0 (clipped to the bounds when lo/hi are given; NULL: none), adaptive
** (Gao and Han's parameters for the dimension), scipy's tolerances and
** limits (-1: none; both -1: 200 n each, as scipy). */
tide_NelderMead *tide_nm_init(void *block, int n, const double *x0, const double *lo,
                              const double *hi, bool adaptive, double xatol, double fatol,
                              int64_t maxiter, int64_t maxfev);
/* First call: fx ignored.  Then fx is the objective at the point the last
** call asked for.  Returns true with *x the next point to evaluate, or
** false when done: tide_nm_result gives the answer. */
bool tide_nm_next(tide_NelderMead *s, double fx, const double **x);
/* The best point and value; status 0 converged, 1 too many evaluations, 2
** too many iterations; scipy's message. */
const char *tide_nm_result(const tide_NelderMead *s, const double **x, double *fx, int *status);

/* ------------------------------------------------------------ gradients */

/* scipy's forward-difference steps (approx_derivative, '2-point', an
** absolute step abs_step, or its relative one, EPS^0.5 max(1, |x|), where
** x + abs_step == x): h[i], turned around or shortened to stay inside
** [lo, hi] (either may be NULL). */
void tide_fd_steps(int n, const double *x, const double *lo, const double *hi, double abs_step,
                   double *h);

#endif /* TIDE_OPTIMIZE_H */
