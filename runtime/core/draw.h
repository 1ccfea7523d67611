/*
** draw.h -- random draws for arrays (draw.c): integers, choices with and
** without replacement (optionally weighted), shuffles.  They take a
** tide_Rng (core.h), a counter-based stream, so a task drawing from its
** own stream (tide.rng(seed, task)) gets the same numbers on any number of
** workers.  Pure C: TIDE_OK or a negative TIDE_E* code with a message.
*/
#ifndef TIDE_DRAW_H
#define TIDE_DRAW_H

#include "core.h"

/* Fills out (an i64 array, C-ordered) with integers lo..hi, both
** included; lo > hi is TIDE_EINVAL. */
int tide_rng_integers(tide_Rng *r, int64_t lo, int64_t hi, tide_Array *out);
/* m draws from 0..n-1 into out: independent ones (replace), or m distinct
** ones in random order (a partial Fisher-Yates shuffle).  p, when not
** NULL, holds n probabilities (non-negative, adding up to 1 within 1e-8,
** numpy's check); without replacement the draws then go one by one among
** the values not drawn yet, weighted by p.  Too many draws without
** replacement (m > n, or more than p's nonzero entries) is TIDE_EINVAL. */
int tide_rng_choice(tide_Rng *r, int64_t n, int64_t m, bool replace, const double *p,
                    int64_t *out);
/* Shuffles a along its first dimension in place (Fisher-Yates, the draws
** of tide.rng's permutation). */
int tide_rng_shuffle(tide_Rng *r, tide_Array *a);

#endif /* TIDE_DRAW_H */
