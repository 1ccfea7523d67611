/*
** knn.c -- brute-force k nearest neighbours: squared distances by GEMM
** tiles (||x||^2 - 2 q.x; ||q||^2 is the same for every candidate of a
** query, so it is left out of the ranking), a bounded max-heap per query,
** or single-precision screening with an error bound and a candidate list,
** exact distances for the rows kept, regression and votes.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KNN_AVX2 1
#endif

#include "knn.h"

#define QBLOCK 128       /* queries per block */
#define TBLOCK 256       /* training rows per distance tile */
#define HEAP_CAP (1 << 20) /* entries of a heap block or a row buffer */

/* A "round" centre: the mean with 8 significant bits.  Centring protects
** the ||x||^2 - 2 q.x form from cancellation when columns sit far from 0;
** rounding the centre keeps small-integer data exact after centring, so
** equal distances stay equal and ties go to the lower row. */
static double round_centre(double m) {
  if (m == 0 || !isfinite(m)) return 0;
  int e;
  frexp(m, &e);
  return ldexp(nearbyint(ldexp(m, 8 - e)), e - 8);
}

static int64_t ncols(const tide_Array *X) { return X->ndim == 2 ? X->shape[1] : 1; }

/* The squared norm of a training row after centring: one function for the
** index and for the tiles that compute norms as they go, so that both give
** the same bits. */
static double centred_norm(const double *r, const double *c, int64_t p) {
  double s = 0;
  for (int64_t j = 0; j < p; j++) s += (r[j] - c[j]) * (r[j] - c[j]);
  return s;
}

/* The centre, then one pass for the norms: each into norms (if not NULL),
** the largest into *xmax2 (if not NULL). */
static int index_rows(const tide_Array *X, const tide_Rows *rows, double *centre, double *norms,
                      double *xmax2) {
  int64_t p = ncols(X);
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK);
  if (rc) return rc;
  for (int64_t j = 0; j < p; j++) centre[j] = 0;
  while (tide_rowblocks_next(&it))
    for (int64_t i = 0; i < it.nb; i++)
      for (int64_t j = 0; j < p; j++) centre[j] += it.buf[i * p + j];
  for (int64_t j = 0; j < p; j++) centre[j] = round_centre(centre[j] / (double)rows->n);
  tide_rowblocks_free(&it);
  if ((rc = tide_rowblocks_init(&it, X, rows, TIDE_ROW_BLOCK))) return rc;
  double big = 0;
  while (tide_rowblocks_next(&it)) {
    for (int64_t i = 0; i < it.nb; i++) {
      double s = centred_norm(it.buf + i * p, centre, p);
      if (!isfinite(s)) {
        tide_rowblocks_free(&it);
        return tide__seterr(TIDE_ERANGE, "X row %" PRId64 " is too large for squared distances",
                            tide_rows_at(rows, it.first + i) + 1);
      }
      if (norms) norms[it.first + i] = s;
      if (s > big) big = s;
    }
  }
  tide_rowblocks_free(&it);
  if (xmax2) *xmax2 = big;
  return TIDE_OK;
}

int tide_knn_index(const tide_Array *X, const tide_Rows *rows, double *centre, double *norms) {
  return index_rows(X, rows, centre, norms, NULL);
}

int tide_knn_centre(const tide_Array *X, const tide_Rows *rows, double *centre, double *xmax2) {
  return index_rows(X, rows, centre, NULL, xmax2);
}

/* (a, ia) > (b, ib) in the order distance, then position. */
static inline int after(double a, int64_t ia, double b, int64_t ib) {
  return a > b || (a == b && ia > ib);
}

/* Replaces the root (the worst kept) by (d, pos) and sifts it down. */
static void heap_replace(double *hd, int64_t *hp, int64_t k, double d, int64_t pos) {
  int64_t i = 0;
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, c;
    if (l >= k) break;
    c = (r < k && after(hd[r], hp[r], hd[l], hp[l])) ? r : l;
    if (!after(hd[c], hp[c], d, pos)) break;
    hd[i] = hd[c];
    hp[i] = hp[c];
    i = c;
  }
  hd[i] = d;
  hp[i] = pos;
}

/* 1 when some of the 8 values at t is below thr.  Most candidates are
** rejected, so this test is the hot loop of a search. */
#if defined(__SSE2__)
static inline int any_below8(const double *t, double thr) {
  __m128d m = _mm_min_pd(_mm_min_pd(_mm_loadu_pd(t), _mm_loadu_pd(t + 2)),
                         _mm_min_pd(_mm_loadu_pd(t + 4), _mm_loadu_pd(t + 6)));
  return _mm_movemask_pd(_mm_cmplt_pd(m, _mm_set1_pd(thr))) != 0;
}
#else
static inline int any_below8(const double *t, double thr) {
  int any = 0;
  for (int u = 0; u < 8; u++) any |= t[u] < thr;
  return any;
}
#endif

/* One query's row of a tile: t[j] = ||x_j||^2 - 2 q.x_j for training
** positions base + j.  Positions only grow during a search, so an exact tie
** with the root never displaces it (the lower position stays). */
static void scan(const double *t, int64_t nb, double *hd, int64_t *hp, int64_t k,
                 int64_t base) {
  double thr = hd[0];
  int64_t j = 0;
  for (; j + 8 <= nb; j += 8) {
    if (!any_below8(t + j, thr)) continue;
    for (int u = 0; u < 8; u++) {
      if (t[j + u] < thr) {
        heap_replace(hd, hp, k, t[j + u], base + j + u);
        thr = hd[0];
      }
    }
  }
  for (; j < nb; j++) {
    if (t[j] < thr) {
      heap_replace(hd, hp, k, t[j], base + j);
      thr = hd[0];
    }
  }
}

typedef struct Cand {
  double d;
  int64_t pos;
} Cand;

static int cand_cmp(const void *a, const void *b) {
  const Cand *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Exact squared distance of a centred query to training position pos. */
static double exact_d2(const tide_KnnIndex *ix, const double *qc, int64_t p, int64_t pos);
double tide__knn_d2(const tide_KnnIndex *ix, const double *qc, int64_t pos) {
  return exact_d2(ix, qc, ncols(ix->X), pos);
}

static double exact_d2(const tide_KnnIndex *ix, const double *qc, int64_t p, int64_t pos) {
  const tide_Array *X = ix->X;
  int64_t cs1 = X->ndim == 2 ? X->strides[1] : 0;
  const unsigned char *row = X->data + tide_rows_at(&ix->rows, pos) * X->strides[0];
  double s = 0;
  for (int64_t j = 0; j < p; j++) {
    double v = tide_load_f64(X->dtype, row + j * cs1);
    if (ix->rows.map) v = tide_colmap_apply(ix->rows.map, j, v);
    double x = v - ix->centre[j], d = qc[j] - x;
    s += d * d;
  }
  return s;
}

/* Exact squared distances of the m candidates at pos (the GEMM form loses
** digits for near points: a duplicate of a training row gets exactly 0),
** then the final order, distance then position; the first k go to
** hd (distances) and hp. */
static int finish(const tide_KnnIndex *ix, const double *qc, int64_t p, int64_t m, int64_t k,
                  const int64_t *pos, double *hd, int64_t *hp, Cand *cs) {
  for (int64_t c = 0; c < m; c++) {
    if (pos[c] == INT64_MAX)
      return tide__seterr(TIDE_ERANGE, "distances overflow (values of X or the queries are too "
                          "large)");
    cs[c].d = exact_d2(ix, qc, p, pos[c]);
    cs[c].pos = pos[c];
  }
  if (m <= 32) { /* insertion sort: k is usually small */
    for (int64_t a = 1; a < m; a++) {
      Cand c = cs[a];
      int64_t b = a;
      while (b > 0 && cand_cmp(&cs[b - 1], &c) > 0) {
        cs[b] = cs[b - 1];
        b--;
      }
      cs[b] = c;
    }
  } else {
    qsort(cs, (size_t)m, sizeof *cs, cand_cmp);
  }
  for (int64_t c = 0; c < k; c++) {
    hd[c] = sqrt(cs[c].d);
    hp[c] = cs[c].pos;
  }
  return TIDE_OK;
}

/* Centres a block into dst (which may be src). */
static void centre_rows(const double *src, double *dst, int64_t nb, int64_t p,
                        const double *c) {
  for (int64_t i = 0; i < nb; i++)
    for (int64_t j = 0; j < p; j++) dst[i * p + j] = src[i * p + j] - c[j];
}

/* The buffers of a search. */
typedef struct Work {
  const tide_KnnIndex *ix;
  int64_t p, k, qb, tb, cap;
  double *qc, *tc, *tile, *hd, *cd;
  double *tn; /* a tile's norms, when the index keeps none (tb numbers) */
  int64_t *hp, *cp, *cn;
  Cand *cs;
  /* single-precision screening */
  int use32;
  double xmax2; /* largest squared norm of a centred training row */
  float *q32, *t32, *tile32, *h32, *c32;
} Work;

/* Double-precision pass over all training tiles for nq centred queries. */
static int block_f64(Work *w, int64_t nq) {
  const tide_KnnIndex *ix = w->ix;
  int64_t p = w->p, k = w->k;
  if (!w->tile) { /* first use: most searches screen in single precision */
    w->tc = tide__malloc((size_t)(w->tb * (p ? p : 1)) * sizeof *w->tc);
    w->tile = tide__malloc((size_t)(w->qb * w->tb) * sizeof *w->tile);
    if (!ix->norms) w->tn = tide__malloc((size_t)w->tb * sizeof *w->tn);
    if (!w->tc || !w->tile || (!ix->norms && !w->tn))
      return tide__seterr(TIDE_ENOMEM, "out of memory for the neighbour search");
  }
  for (int64_t m = 0; m < nq * k; m++) {
    w->hd[m] = INFINITY;
    w->hp[m] = INT64_MAX;
  }
  tide_RowBlocks tit;
  int rc = tide_rowblocks_init(&tit, ix->X, &ix->rows, w->tb);
  if (rc) return rc;
  while (tide_rowblocks_next(&tit)) {
    int64_t nb = tit.nb;
    /* a gathered block is ours to centre in place; a direct one is X */
    double *t = tit.direct ? w->tc : tit.buf;
    const double *nrm = ix->norms ? ix->norms + tit.first : w->tn;
    centre_rows(tit.buf, t, nb, p, ix->centre);
    /* the norms, when the index keeps none, from the centred rows: each
    ** t[j] is centred_norm's difference, so the same bits, one pass less */
    for (int64_t r = 0; !ix->norms && r < nb; r++) {
      double s = 0;
      for (int64_t j = 0; j < p; j++) s += t[r * p + j] * t[r * p + j];
      w->tn[r] = s;
    }
    /* each tile row starts as the norms and GEMM adds -2 q.x (beta = 1:
    ** the same stores as OpenBLAS's zeroing for beta = 0, one add less) */
    for (int64_t i = 0; i < nq; i++)
      memcpy(w->tile + i * nb, nrm, (size_t)nb * sizeof *w->tile);
    if (p > 0)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)p, -2.0, w->qc,
                  (int)p, t, (int)p, 1.0, w->tile, (int)nb);
    for (int64_t i = 0; i < nq; i++)
      scan(w->tile + i * nb, nb, w->hd + i * k, w->hp + i * k, k, tit.first);
  }
  tide_rowblocks_free(&tit);
  for (int64_t i = 0; i < nq && !rc; i++) {
    int64_t pos[64], *ps = k <= 64 ? pos : w->cp; /* finish writes hp: copy it first */
    memcpy(ps, w->hp + i * k, (size_t)k * sizeof *ps);
    rc = finish(ix, w->qc + i * p, p, k, k, ps, w->hd + i * k, w->hp + i * k, w->cs);
  }
  return rc;
}

#if defined(__SSE2__)
static inline int any_below8f(const float *t, float thr) {
  __m128 m = _mm_min_ps(_mm_loadu_ps(t), _mm_loadu_ps(t + 4));
  return _mm_movemask_ps(_mm_cmplt_ps(m, _mm_set1_ps(thr))) != 0;
}
#else
static inline int any_below8f(const float *t, float thr) {
  int any = 0;
  for (int u = 0; u < 8; u++) any |= t[u] < thr;
  return any;
}
#endif

/* The first j' >= j below n with t[j'] < thr, or n: the screening's hot
** loop (most values are rejected), 8 or 16 at a time. */
static int64_t first_below_any(const float *t, int64_t j, int64_t n, float thr) {
  for (; j + 8 <= n; j += 8)
    if (any_below8f(t + j, thr)) break;
  for (; j < n; j++)
    if (t[j] < thr) return j;
  return n;
}

#if KNN_AVX2
__attribute__((target("avx2"))) static int64_t first_below_avx2(const float *t, int64_t j,
                                                                int64_t n, float thr) {
  __m256 th = _mm256_set1_ps(thr);
  for (; j + 16 <= n; j += 16) {
    __m256 m = _mm256_min_ps(_mm256_loadu_ps(t + j), _mm256_loadu_ps(t + j + 8));
    if (_mm256_movemask_ps(_mm256_cmp_ps(m, th, _CMP_LT_OQ))) break;
  }
  return first_below_any(t, j, n, thr);
}
#endif

typedef int64_t (*FirstBelow)(const float *, int64_t, int64_t, float);
static FirstBelow first_below_fn(void) {
#if KNN_AVX2
  if (__builtin_cpu_supports("avx2")) return first_below_avx2;
#endif
  return first_below_any;
}

/* Max-heap of the k smallest screening values (no positions needed). */
static void heap32_replace(float *h, int64_t k, float v) {
  int64_t i = 0;
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, c;
    if (l >= k) break;
    c = (r < k && h[r] > h[l]) ? r : l;
    if (!(h[c] > v)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

/* Few features: one query's screening values against a tile, computed
** in registers from the tile's columns (t: p columns of tb floats, then
** the norms) instead of a GEMM into a tile per query block -- less memory
** (one row, no BLAS buffers) and no pass over a stored tile.  qm is -2 q.
** Values past nb (up to a multiple of 8) are computed and ignored. */
#define FUSED_MAX 32
static void dist_row_any(const float *qm, const float *t, int64_t p, int64_t tb, int64_t nb,
                         float *out) {
  const float *nrm = t + p * tb;
  for (int64_t r = 0; r < nb; r++) out[r] = nrm[r];
  for (int64_t j = 0; j < p; j++) {
    const float *c = t + j * tb;
    float q = qm[j];
    for (int64_t r = 0; r < nb; r++) out[r] += q * c[r];
  }
}

#if KNN_AVX2
__attribute__((target("avx2,fma"))) static void dist_row_avx2(const float *qm, const float *t,
                                                              int64_t p, int64_t tb, int64_t nb,
                                                              float *out) {
  const float *nrm = t + p * tb;
  int64_t r = 0;
  for (; r + 32 <= nb; r += 32) { /* four chains: one broadcast feeds four FMAs */
    __m256 a0 = _mm256_loadu_ps(nrm + r), a1 = _mm256_loadu_ps(nrm + r + 8);
    __m256 a2 = _mm256_loadu_ps(nrm + r + 16), a3 = _mm256_loadu_ps(nrm + r + 24);
    for (int64_t j = 0; j < p; j++) {
      __m256 q = _mm256_set1_ps(qm[j]);
      const float *c = t + j * tb + r;
      a0 = _mm256_fmadd_ps(q, _mm256_loadu_ps(c), a0);
      a1 = _mm256_fmadd_ps(q, _mm256_loadu_ps(c + 8), a1);
      a2 = _mm256_fmadd_ps(q, _mm256_loadu_ps(c + 16), a2);
      a3 = _mm256_fmadd_ps(q, _mm256_loadu_ps(c + 24), a3);
    }
    _mm256_storeu_ps(out + r, a0);
    _mm256_storeu_ps(out + r + 8, a1);
    _mm256_storeu_ps(out + r + 16, a2);
    _mm256_storeu_ps(out + r + 24, a3);
  }
  for (; r < nb; r += 8) {
    __m256 acc = _mm256_loadu_ps(nrm + r);
    for (int64_t j = 0; j < p; j++)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(qm[j]), _mm256_loadu_ps(t + j * tb + r), acc);
    _mm256_storeu_ps(out + r, acc);
  }
}
#endif

typedef void (*DistRow)(const float *, const float *, int64_t, int64_t, int64_t, float *);
static DistRow dist_row_fn(void) {
#if KNN_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dist_row_avx2;
#endif
  return dist_row_any;
}

/* Single-precision screening, then exact distances for the survivors.
** With e a bound on the error of a screening value, the true k-th value
** is at most (k-th screening value) + e, so every row whose screening
** value is within 2e of the k-th can be among the k nearest (ties
** included): those are kept as candidates and ranked exactly.  Returns 1
** when a query has too many candidates (the caller redoes the block in
** double precision). */
static int block_f32(Work *w, int64_t nq) {
  const tide_KnnIndex *ix = w->ix;
  int64_t p = w->p, k = w->k, cap = w->cap;
  /* error of sgemm + the rounding of the inputs, with a factor 4 to spare */
  double u = ldexp(1.0, -24) * 4.0 * (double)(p + 4), xm = sqrt(w->xmax2);
  float *thr2 = w->h32 + nq * k; /* 2e per query */
  int64_t p1 = p + 1, tb = w->tb;
  int fused = p <= FUSED_MAX;
  FirstBelow below = first_below_fn();
  DistRow dist_row = dist_row_fn();
  for (int64_t i = 0; i < nq; i++) {
    double qn = 0;
    for (int64_t j = 0; j < p; j++) {
      double v = w->qc[i * p + j];
      qn += v * v;
      w->q32[i * p1 + j] = fused ? (float)v * -2.0f : (float)v;
    }
    w->q32[i * p1 + p] = -0.5f;
    if (!(qn <= 1e30)) return 1;
    thr2[i] = (float)(2 * u * (w->xmax2 + 2 * sqrt(qn) * xm));
    w->cn[i] = 0;
    for (int64_t m = 0; m < k; m++) w->h32[i * k + m] = INFINITY;
  }
  tide_RowBlocks tit;
  int rc = tide_rowblocks_init(&tit, ix->X, &ix->rows, w->tb), over = 0;
  if (rc) return rc;
  while (!over && tide_rowblocks_next(&tit)) {
    int64_t nb = tit.nb;
    /* rows [x - centre, |x - centre|^2] against queries [q, -1/2]: the
    ** product times -2 is |x|^2 - 2 q.x, with no pass to set the tile */
    /* the norms, when the index keeps none, from the same differences (in
    ** centred_norm's order: the same bits) */
    if (fused) { /* columns: t32[j * tb + r], the norms last */
      for (int64_t r = 0; r < nb; r++) {
        double s = 0;
        for (int64_t j = 0; j < p; j++) {
          double d = tit.buf[r * p + j] - ix->centre[j];
          s += d * d;
          w->t32[j * tb + r] = (float)d;
        }
        w->t32[p * tb + r] = (float)(ix->norms ? ix->norms[tit.first + r] : s);
      }
    } else {
      for (int64_t r = 0; r < nb; r++) {
        double s = 0;
        for (int64_t j = 0; j < p; j++) {
          double d = tit.buf[r * p + j] - ix->centre[j];
          s += d * d;
          w->t32[r * p1 + j] = (float)d;
        }
        w->t32[r * p1 + p] = (float)(ix->norms ? ix->norms[tit.first + r] : s);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)p1, -2.0f,
                  w->q32, (int)p1, w->t32, (int)p1, 0.0f, w->tile32, (int)nb);
    }
    for (int64_t i = 0; i < nq && !over; i++) {
      const float *t;
      if (fused) {
        dist_row(w->q32 + i * p1, w->t32, p, tb, nb, w->tile32);
        t = w->tile32;
      } else {
        t = w->tile32 + i * nb;
      }
      float *h = w->h32 + i * k, *cv = w->c32 + i * cap;
      int64_t *cp = w->cp + i * cap, cn = w->cn[i];
      float thr = h[0] + thr2[i];
      for (int64_t j = 0; (j = below(t, j, nb, thr)) < nb; j++) {
        float v = t[j];
        if (v < h[0]) {
          heap32_replace(h, k, v);
          thr = h[0] + thr2[i];
        }
        if (cn == cap) { /* drop the candidates the threshold has passed */
          int64_t m = 0;
          for (int64_t c = 0; c < cn; c++)
            if (cv[c] < thr) {
              cv[m] = cv[c];
              cp[m++] = cp[c];
            }
          cn = m;
          if (cn > cap / 2) {
            over = 1;
            break;
          }
        }
        cv[cn] = v;
        cp[cn++] = tit.first + j;
      }
      w->cn[i] = cn;
    }
  }
  tide_rowblocks_free(&tit);
  if (over) return 1;
  for (int64_t i = 0; i < nq && !rc; i++) {
    float *cv = w->c32 + i * cap, thr = w->h32[i * k] + thr2[i];
    int64_t *cp = w->cp + i * cap, m = 0;
    for (int64_t c = 0; c < w->cn[i]; c++)
      if (cv[c] < thr) cp[m++] = cp[c];
    if (m < k) return 1; /* cannot happen with finite values; be safe */
    rc = finish(ix, w->qc + i * p, p, m, k, cp, w->hd + i * k, w->hp + i * k, w->cs);
  }
  return rc;
}

int tide_knn_search(const tide_KnnIndex *ix, const tide_Array *Q, const tide_Rows *qrows,
                    int64_t k, tide_KnnVisit visit, void *ud) {
  int64_t n = ix->rows.n, p = ncols(ix->X);
  if (ncols(Q) != p)
    return tide__seterr(TIDE_ESHAPE, "queries have %" PRId64 " features, the data %" PRId64,
                        ncols(Q), p);
  if (k < 1 || k > n)
    return tide__seterr(TIDE_EINVAL, "k = %" PRId64 " must be between 1 and the %" PRId64
                        " training rows", k, n);
  if (qrows->n == 0) return TIDE_OK;
  int64_t pp = p ? p : 1;
  if (pp > INT32_MAX / TBLOCK) return tide__seterr(TIDE_ERANGE, "too many features for BLAS");
  Work w = {.ix = ix, .p = p, .k = k, .qb = QBLOCK, .tb = TBLOCK};
  w.cap = 4 * k + 64;
  /* blocks shrink for large k or many features: the buffers stay at a
  ** few MB (heaps and candidates qb x cap, queries qb x p, tiles tb x p) */
  while (w.qb > 1 && (w.qb * w.cap > HEAP_CAP || w.qb * pp > HEAP_CAP)) w.qb /= 2;
  while (w.tb > 8 && w.tb * pp > HEAP_CAP) w.tb /= 2;
  /* screening in single precision pays when there is arithmetic to save,
  ** and is safe when the norms sit well inside float's range */
  w.xmax2 = ix->norms ? 0 : ix->xmax2;
  for (int64_t r = 0; ix->norms && r < n; r++)
    if (ix->norms[r] > w.xmax2) w.xmax2 = ix->norms[r];
  w.use32 = !ix->tree && p >= 4 && n >= 4096 && w.xmax2 >= 1e-30 && w.xmax2 <= 1e30;
  int64_t qb = w.qb, tb = w.tb, cap = w.cap;
  w.qc = tide__malloc((size_t)(qb * pp) * sizeof *w.qc);

  w.hd = tide__malloc((size_t)(qb * k) * sizeof *w.hd);
  w.hp = tide__malloc((size_t)(qb * k) * sizeof *w.hp);
  w.cp = tide__malloc((size_t)(qb * cap) * sizeof *w.cp);
  w.cn = tide__malloc((size_t)qb * sizeof *w.cn);
  w.cs = tide__malloc((size_t)cap * sizeof *w.cs);
  int ok = w.qc && w.hd && w.hp && w.cp && w.cn && w.cs;
  if (ok && w.use32) {
    /* fused (few features): one row of screening values, and tile columns
    ** padded to a multiple of 8 rows, zeroed so the padding is defined */
    int fused = p <= FUSED_MAX;
    w.q32 = tide__malloc((size_t)(qb * (p + 1)) * sizeof *w.q32);
    w.t32 = tide__calloc((size_t)((tb + 8) * (p + 1)), sizeof *w.t32);
    w.tile32 = tide__malloc((size_t)((fused ? 1 : qb) * (tb + 8)) * sizeof *w.tile32);
    w.h32 = tide__malloc((size_t)(qb * k + qb) * sizeof *w.h32);
    w.c32 = tide__malloc((size_t)(qb * cap) * sizeof *w.c32);
    ok = w.q32 && w.t32 && w.tile32 && w.h32 && w.c32;
  }
  tide_RowBlocks qit;
  int rc = !ok ? tide__seterr(TIDE_ENOMEM, "out of memory for the neighbour search")
               : tide_rowblocks_init(&qit, Q, qrows, qb);
  if (rc) goto done;
  while (!rc && tide_rowblocks_next(&qit)) {
    int64_t nq = qit.nb;
    centre_rows(qit.buf, w.qc, nq, p, ix->centre);
    if (ix->tree) rc = tide__knn_tree_query(ix, w.qc, nq, k, w.hd, w.hp);
    else rc = w.use32 ? block_f32(&w, nq) : 1;
    if (rc == 1) rc = block_f64(&w, nq);
    if (!rc) rc = visit(ud, qit.first, nq, k, w.hd, w.hp);
  }
  tide_rowblocks_free(&qit);
done:
  free(w.qc);
  free(w.tc);
  free(w.tile);
  free(w.tn);
  free(w.hd);
  free(w.hp);
  free(w.cp);
  free(w.cn);
  free(w.cs);
  free(w.q32);
  free(w.t32);
  free(w.tile32);
  free(w.h32);
  free(w.c32);
  return rc;
}

/* ------------------------------------------------------------ users */

typedef struct KnnOut {
  const tide_KnnIndex *ix;
  const tide_Array *y;
  const double *classes;
  int64_t nclass;
  int weighted;
  double *dist, *pred, *proba, *votes, *yv;
  int64_t *idx;
} KnnOut;

static int visit_kneighbors(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                            const int64_t *pos) {
  KnnOut *o = ud;
  memcpy(o->dist + first * k, dist, (size_t)(nq * k) * sizeof *dist);
  for (int64_t m = 0; m < nq * k; m++) o->idx[first * k + m] = tide_rows_at(&o->ix->rows, pos[m]);
  return TIDE_OK;
}

int tide_knn_kneighbors(const tide_KnnIndex *ix, const tide_Array *Q, const tide_Rows *qrows,
                        int64_t k, double *dist, int64_t *idx) {
  KnnOut o = {.ix = ix, .dist = dist, .idx = idx};
  return tide_knn_search(ix, Q, qrows, k, visit_kneighbors, &o);
}

static double y_at(const KnnOut *o, int64_t pos) {
  const tide_Array *y = o->y;
  return tide_load_f64(y->dtype, y->data + tide_rows_at(&o->ix->rows, pos) * y->strides[0]);
}

/* scikit-learn's weights: 1 / d, or, when some neighbour is at distance 0,
** 1 for those and 0 for the others.  Returns 1 in the second case. */
static int zero_rule(const double *dist, int64_t k) {
  for (int64_t m = 0; m < k; m++)
    if (dist[m] == 0) return 1;
  return 0;
}

/* One query's prediction from its k neighbours' distances d and targets yv. */
static double regress_one(const double *d, const double *yv, int64_t k, int weighted) {
  double num = 0, den = 0;
  if (!weighted) {
    for (int64_t m = 0; m < k; m++) num += yv[m];
    den = (double)k;
  } else {
    int zero = zero_rule(d, k);
    for (int64_t m = 0; m < k; m++) {
      double w = zero ? (d[m] == 0) : 1.0 / d[m];
      num += w * yv[m];
      den += w;
    }
  }
  return num / den;
}

/* One query's votes (v: nclass entries) from its k neighbours' distances
** and labels; *pred gets the winner, proba (if not NULL) the normalized votes. */
static int classify_one(const double *d, const double *yv, int64_t k, int weighted,
                        const double *classes, int64_t nclass, double *v, double *pred,
                        double *proba) {
  for (int64_t c = 0; c < nclass; c++) v[c] = 0;
  int zero = weighted && zero_rule(d, k);
  double tot = 0;
  for (int64_t m = 0; m < k; m++) {
    int64_t c = tide_class_index(classes, nclass, yv[m]);
    if (c < 0)
      return tide__seterr(TIDE_EINVAL, "y changed after fit: label %g is not a class", yv[m]);
    double w = !weighted ? 1.0 : zero ? (d[m] == 0) : 1.0 / d[m];
    v[c] += w;
    tot += w;
  }
  int64_t best = 0; /* strict > keeps the lowest label among ties */
  for (int64_t c = 1; c < nclass; c++)
    if (v[c] > v[best]) best = c;
  *pred = classes[best];
  if (proba) {
    if (tot == 0) tot = 1;
    for (int64_t c = 0; c < nclass; c++) proba[c] = v[c] / tot;
  }
  return TIDE_OK;
}

/* The targets of neighbours at positions ps (k of them) into yv. */
static void targets(const KnnOut *o, const int64_t *ps, int64_t k, double *yv) {
  for (int64_t m = 0; m < k; m++) yv[m] = y_at(o, ps[m]);
}

static int visit_regress(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                         const int64_t *pos) {
  KnnOut *o = ud;
  for (int64_t i = 0; i < nq; i++) {
    targets(o, pos + i * k, k, o->yv);
    o->pred[first + i] = regress_one(dist + i * k, o->yv, k, o->weighted);
  }
  return TIDE_OK;
}

int tide_knn_regress(const tide_KnnIndex *ix, const tide_Array *y, const tide_Array *Q,
                     const tide_Rows *qrows, int64_t k, int weighted, double *out) {
  double *yv = tide__malloc((size_t)k * sizeof *yv);
  if (!yv) return tide__seterr(TIDE_ENOMEM, "out of memory for the neighbours");
  KnnOut o = {.ix = ix, .y = y, .weighted = weighted, .pred = out, .yv = yv};
  int rc = tide_knn_search(ix, Q, qrows, k, visit_regress, &o);
  free(yv);
  return rc;
}

int tide_knn_classes(const tide_Array *y, const tide_Rows *rows, double **classes,
                     int64_t *nclass) {
  return tide_classes(y, rows, 0, "knn_classifier", classes, nclass);
}

static int visit_classify(void *ud, int64_t first, int64_t nq, int64_t k, const double *dist,
                          const int64_t *pos) {
  KnnOut *o = ud;
  for (int64_t i = 0; i < nq; i++) {
    targets(o, pos + i * k, k, o->yv);
    int rc = classify_one(dist + i * k, o->yv, k, o->weighted, o->classes, o->nclass, o->votes,
                          o->pred + first + i, o->proba ? o->proba + (first + i) * o->nclass : NULL);
    if (rc) return rc;
  }
  return TIDE_OK;
}

int tide_knn_classify(const tide_KnnIndex *ix, const tide_Array *y, const double *classes,
                      int64_t nclass, const tide_Array *Q, const tide_Rows *qrows, int64_t k,
                      int weighted, double *pred, double *proba) {
  if (nclass < 1) return tide__seterr(TIDE_EINVAL, "no classes");
  double *votes = tide__malloc((size_t)nclass * sizeof *votes), *yv = tide__malloc((size_t)k * sizeof *yv);
  KnnOut o = {.ix = ix, .y = y, .classes = classes, .nclass = nclass, .weighted = weighted,
              .pred = pred, .proba = proba, .votes = votes, .yv = yv};
  int rc = !votes || !yv ? tide__seterr(TIDE_ENOMEM, "out of memory for the votes")
                         : tide_knn_search(ix, Q, qrows, k, visit_classify, &o);
  free(votes);
  free(yv);
  return rc;
}

int tide_knn_reduce(const tide_Array *y, const double *dist, const int64_t *row, int64_t base,
                    int64_t nq, int64_t kk, int64_t k, int weighted, const double *classes,
                    int64_t nclass, double *pred, double *proba) {
  if (k < 1 || k > kk) return tide__seterr(TIDE_EINVAL, "k = %lld of %lld neighbours", (long long)k,
                                          (long long)kk);
  double *yv = tide__malloc((size_t)k * sizeof *yv);
  double *votes = tide__malloc((size_t)(nclass ? nclass : 1) * sizeof *votes);
  int rc = !yv || !votes ? tide__seterr(TIDE_ENOMEM, "out of memory for the votes") : TIDE_OK;
  for (int64_t i = 0; i < nq && !rc; i++) {
    const double *d = dist + i * kk;
    for (int64_t m = 0; m < k; m++)
      yv[m] = tide_load_f64(y->dtype, y->data + (row[i * kk + m] - base) * y->strides[0]);
    if (!classes) pred[i] = regress_one(d, yv, k, weighted);
    else rc = classify_one(d, yv, k, weighted, classes, nclass, votes, pred + i,
                           proba ? proba + i * nclass : NULL);
  }
  free(yv);
  free(votes);
  return rc;
}
