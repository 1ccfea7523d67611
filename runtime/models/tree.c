/*
** tree.c -- decision trees: binning, the depth-first builder with its
** exact split search through histograms and bounded refinement, bootstrap
** samples, and prediction over one tree or a forest.
**
** The builder's samples are entries {position in the rows, weight,
** target}: the positions of a bootstrap sample once each with their count
** as weight (as scikit-learn's forests pass bootstrap counts as sample
** weights), or every position of the rows with weight 1.  A node is a
** range of the entry array; a split partitions it stably (entries stay in
** the order of their positions, so a node's passes read X and the bins in
** increasing order), through a buffer for the smaller side.
**
** Split search at a node, for each visited feature:
**   - small subtrees (from a node of at most SMALL entries down): the
**     node's rows are gathered once and sorted once per feature; a split
**     divides every feature's sorted list in two, keeping its order, and
**     every position between two distinct values is a candidate;
**   - larger ones: a histogram over the feature's bins (weights, targets or
**     class weights) gives every candidate at a bin boundary, for every
**     visited feature first.  A threshold inside a bin can only win if the
**     bin's upper bound reaches the best of those: the criterion's proxy is
**     convex in the left side's sums, so over a bin it is at most its value
**     at the corners of the region those sums can reach (left weight
**     between 1 and the bin's weight minus 1, left targets between those
**     times the lowest and highest target -- the node's, then the bin's;
**     for up to three classes, each class's weight in the bin on or off,
**     for more a separable bound).  Those bins alone are sorted and scanned.
** Ties between candidates go to the first feature visited, then the lowest
** threshold, as scikit-learn's strict comparison in its visiting order.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

#define NB TIDE_TREE_MAX_BINS
#define SMALL 256             /* nodes of at most this many entries: presorted lists */
#define MAX_VERTEX_CLASSES 3  /* class bounds enumerate 2^k corners up to this k */
#define HIST_BUDGET (16 << 20) /* bytes of histograms kept for the second pass */
#define EPS 2.220446049250313e-16 /* DBL_EPSILON: scikit-learn's leaf test */

static int64_t ncols(const tide_Array *X) { return X->ndim == 2 ? X->shape[1] : 1; }

/* --------------------------------------------------------------- sorting */

typedef struct Pair {
  double x;
  uint32_t k; /* entry index, relative to the node's start (or row of M) */
} Pair;

static void insertion_sort(Pair *a, int64_t n) {
  for (int64_t i = 1; i < n; i++) {
    Pair v = a[i];
    int64_t j = i;
    while (j > 0 && a[j - 1].x > v.x) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = v;
  }
}

static void swap_pair(Pair *a, Pair *b) {
  Pair t = *a;
  *a = *b;
  *b = t;
}

/* Quicksort by x (median of three, the smaller side recursed), insertion
** sort below 24 elements; depth-bounded by recursing on the smaller side. */
static void sort_pairs(Pair *a, int64_t n) {
  while (n > 24) {
    int64_t m = n / 2;
    if (a[m].x < a[0].x) swap_pair(&a[m], &a[0]);
    if (a[n - 1].x < a[0].x) swap_pair(&a[n - 1], &a[0]);
    if (a[n - 1].x < a[m].x) swap_pair(&a[n - 1], &a[m]);
    double piv = a[m].x;
    int64_t i = 0, j = n - 1;
    for (;;) {
      while (a[i].x < piv) i++;
      while (a[j].x > piv) j--;
      if (i >= j) break;
      swap_pair(&a[i], &a[j]);
      i++;
      j--;
    }
    /* [0, j] <= piv <= [j + 1, n) */
    int64_t nl = j + 1, nr = n - nl;
    if (nl < nr) {
      sort_pairs(a, nl);
      a += nl;
      n = nr;
    } else {
      sort_pairs(a + nl, nr);
      n = nl;
    }
  }
  insertion_sort(a, n);
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---------------------------------------------------------------- values */

typedef struct XReader {
  const tide_Array *X;
  const tide_Rows *rows;
  int f64;
  int64_t s0, s1;
} XReader;

static void xreader_init(XReader *r, const tide_Array *X, const tide_Rows *rows) {
  r->X = X;
  r->rows = rows;
  r->f64 = X->dtype == TIDE_F64;
  r->s0 = X->strides[0];
  r->s1 = X->ndim == 2 ? X->strides[1] : 0;
}

/* X's value of feature f at position pos of the rows. */
static inline double xval(const XReader *r, int64_t pos, int64_t f) {
  const unsigned char *p = r->X->data + tide_rows_at(r->rows, pos) * r->s0 + f * r->s1;
  return r->f64 ? *(const double *)p : tide_load_f64(r->X->dtype, p);
}

/* ------------------------------------------------------------------ bins */

/* Number of edges below x (edges ascending): x's bin. */
static inline int bin_of(const double *edges, int ne, double x) {
  int lo = 0, hi = ne;
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
    if (edges[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int tide_tree_bins(const tide_Array *X, const tide_Rows *rows, int max_bins, uint8_t *codes) {
  if (max_bins < 2 || max_bins > NB)
    return tide__seterr(TIDE_EINVAL, "max_bins must be between 2 and %d, got %d", NB, max_bins);
  int64_t n = rows->n, p = ncols(X), ns = n < 65536 ? n : 65536;
  double *s = tide__malloc((size_t)(ns ? ns : 1) * sizeof *s);
  double edges[NB];
  if (!s) return tide__seterr(TIDE_ENOMEM, "tree: out of memory for binning");
  XReader xr;
  xreader_init(&xr, X, rows);
  for (int64_t f = 0; f < p; f++) {
    for (int64_t k = 0; k < ns; k++) s[k] = xval(&xr, ns == n ? k : k * n / ns, f);
    qsort(s, (size_t)ns, sizeof *s, dbl_cmp);
    int64_t d = 0;
    for (int64_t k = 0; k < ns; k++)
      if (d == 0 || s[k] != s[d - 1]) s[d++] = s[k]; /* distinct values, in place */
    int ne = 0;
    if (d <= max_bins - 1) {
      for (int64_t k = 0; k < d; k++) edges[ne++] = s[k];
    } else { /* quantiles of the distinct values (ties are no longer weighted) */
      for (int i = 1; i < max_bins; i++) {
        double q = s[(int64_t)i * d / max_bins];
        if (ne == 0 || q > edges[ne - 1]) edges[ne++] = q;
      }
    }
    uint8_t *col = codes + f * n;
    for (int64_t k = 0; k < n; k++) col[k] = (uint8_t)bin_of(edges, ne, xval(&xr, k, f));
  }
  free(s);
  return TIDE_OK;
}

/* ----------------------------------------------------------- the builder */

typedef struct Ent {
  uint32_t pos; /* position in the rows */
  uint32_t w;   /* weight: bootstrap count, 1 otherwise */
  double y;     /* target, or class index */
} Ent;

/* The best split so far.  Order: larger proxy, then lower rank (visit
** order of its feature), then lower key (position within the feature). */
typedef struct Best {
  int found;
  double proxy;
  int64_t rank;
  uint64_t key;
  int64_t f;
  int kind;       /* SPLIT_SORTED: xl / xr known; SPLIT_INNER: inside bin b; SPLIT_EDGE: after bin b */
  int b, b2;      /* SPLIT_EDGE: the bins either side of the boundary */
  double xl, xr;  /* the values either side of the threshold (when known) */
  int64_t nl;     /* entries going left */
} Best;

enum { SPLIT_SORTED, SPLIT_INNER, SPLIT_EDGE };
enum { FEAT_CONSTANT = 1, FEAT_SPLITTABLE = 0 };

typedef struct Job {
  int64_t start, end, depth, node, nconst;
} Job;

/* Node totals. */
typedef struct Stat {
  double w, s, q, units, imp;
  double ylo, yhi; /* regression: the range of the targets */
} Stat;

typedef struct Ctx {
  XReader xr;
  const tide_TreeOpts *o;
  const uint8_t *codes;
  int64_t n, p, K; /* positions, features, classes (0: regression) */
  int exact, count_rows, hw;
  Ent *ent;
  int64_t nent;
  int *nbins;      /* bins per feature: max code + 1 */
  double *hist;    /* stored histograms, slots x NB x hw */
  int64_t hslots;
  int64_t *slot_f, *slot_rank;
  Pair *pairs;
  int64_t pcap;
  int64_t *feats;
  int32_t *consts;
  unsigned char *isconst;
  double *tot, *pre, *wk, *cl; /* class scratch: K each */
  tide_Rng rng;
  /* a small subtree's values, gathered once: entries' pos is then their
  ** row in M (m x p) and C (their bins), not a position of the rows */
  int local;
  int64_t small; /* nodes of at most this many entries go local: SMALL, less for wide X */
  int64_t lstart, lm; /* the subtree's first entry and its entry count */
  double *M;
  uint8_t *C;
  uint16_t *L;   /* p lists of the subtree's rows in M, each sorted by its feature; a
                 ** node [start, end) is [start - lstart, end - lstart) of every list */
  uint16_t *ltmp;
  unsigned char *lflag;
  double *lw, *ly; /* weight and target of each row of M */
  Ent *tmp;      /* the smaller side of a partition */
  int64_t tcap;
  /* the tree */
  tide_TreeNode *nodes;
  int64_t nn, ncap;
  double *vals;
  int64_t nl, lcap;
  double *imp;
  int64_t depth;
  double wroot;
} Ctx;

static int need_pairs(Ctx *c, int64_t m) {
  if (m <= c->pcap) return TIDE_OK;
  int64_t cap = c->pcap ? c->pcap : 1024;
  while (cap < m) cap *= 2;
  Pair *np = tide__realloc(c->pairs, (size_t)cap * sizeof *np);
  if (!np) return tide__seterr(TIDE_ENOMEM, "tree: out of memory for a node's values");
  c->pairs = np;
  c->pcap = cap;
  return TIDE_OK;
}

static inline double xlogx(double x) { return x > 0 ? x * log(x) : 0.0; }

/* Impurity of a node from its totals (class weights in c->tot). */
static void node_stats(Ctx *c, int64_t start, int64_t end, Stat *st, double *cls) {
  double w = 0, s = 0, q = 0, u = 0, lo = INFINITY, hi = -INFINITY;
  if (c->K) memset(cls, 0, (size_t)c->K * sizeof *cls);
  for (int64_t k = start; k < end; k++) {
    const Ent *e = &c->ent[k];
    double ew = e->w, y = e->y;
    w += ew;
    u += c->count_rows ? 1.0 : ew;
    if (c->K) {
      cls[(int64_t)y] += ew;
    } else {
      s += ew * y;
      q += ew * y * y;
      lo = y < lo ? y : lo;
      hi = y > hi ? y : hi;
    }
  }
  st->ylo = lo;
  st->yhi = hi;
  st->w = w;
  st->s = s;
  st->q = q;
  st->units = u;
  if (w <= 0) {
    st->imp = 0;
  } else if (!c->K) {
    double m = s / w;
    st->imp = q / w - m * m;
  } else if (c->o->criterion == TIDE_TREE_GINI) {
    double g = 0;
    for (int64_t k = 0; k < c->K; k++) g += (cls[k] / w) * (cls[k] / w);
    st->imp = 1.0 - g;
  } else {
    double h = 0;
    for (int64_t k = 0; k < c->K; k++)
      if (cls[k] > 0) h -= (cls[k] / w) * log2(cls[k] / w);
    st->imp = h;
  }
}

/* The criterion's proxy (larger is better) for a split whose left side
** has weight wl and class weights cl[] (or target sum sl). */
static inline double proxy_reg(double wl, double sl, double w, double s) {
  double wr = w - wl, sr = s - sl;
  return sl * sl / wl + sr * sr / wr;
}

static double proxy_cls(const Ctx *c, const double *cl, double wl, const double *tot, double w) {
  double wr = w - wl, v = 0;
  if (c->o->criterion == TIDE_TREE_GINI) {
    double a = 0, b = 0;
    for (int64_t k = 0; k < c->K; k++) {
      double r = tot[k] - cl[k];
      a += cl[k] * cl[k];
      b += r * r;
    }
    if (wl > 0) v += a / wl;
    if (wr > 0) v += b / wr;
  } else {
    for (int64_t k = 0; k < c->K; k++) v += xlogx(cl[k]) + xlogx(tot[k] - cl[k]);
    v -= xlogx(wl) + xlogx(wr);
  }
  return v;
}

static inline void consider(Best *b, double proxy, int64_t rank, uint64_t key, int64_t f,
                            int kind, int bin, int bin2, double xl, double xr, int64_t nl) {
  if (b->found && !(proxy > b->proxy ||
                    (proxy == b->proxy && (rank < b->rank || (rank == b->rank && key < b->key)))))
    return;
  b->found = 1;
  b->proxy = proxy;
  b->rank = rank;
  b->key = key;
  b->f = f;
  b->kind = kind;
  b->b = bin;
  b->b2 = bin2;
  b->xl = xl;
  b->xr = xr;
  b->nl = nl;
}

/* A scan's class sums, updated one entry at a time: gini keeps the sums
** of squared left and right class weights, entropy the sums of c log c;
** both in O(1) per entry (c->wk holds the left class weights). */
typedef struct ClassScan {
  double l, r;
  int gini;
} ClassScan;

static void cs_init(const Ctx *c, ClassScan *s) {
  s->gini = c->o->criterion == TIDE_TREE_GINI;
  s->l = s->r = 0;
  for (int64_t k = 0; k < c->K; k++) {
    double a = c->wk[k], b = c->tot[k] - a;
    s->l += s->gini ? a * a : xlogx(a);
    s->r += s->gini ? b * b : xlogx(b);
  }
}

static inline void cs_add(const Ctx *c, ClassScan *s, int64_t k, double w) {
  double a = c->wk[k], b = c->tot[k] - a;
  if (s->gini) {
    s->l += 2 * a * w + w * w;
    s->r += -2 * b * w + w * w;
  } else {
    s->l += xlogx(a + w) - xlogx(a);
    s->r += xlogx(b - w) - xlogx(b);
  }
  c->wk[k] = a + w;
}

static inline double cs_proxy(const ClassScan *s, double wl, double w) {
  if (s->gini) return s->l / wl + s->r / (w - wl);
  return s->l + s->r - xlogx(wl) - xlogx(w - wl);
}

/* Small node, one feature: its rows in the feature's sorted list of the
** subtree; every position between two distinct values (bins, for a
** histogram tree) is a candidate. */
static int eval_sorted(Ctx *c, int64_t start, int64_t end, int64_t f, int64_t rank,
                       const Stat *st, Best *best) {
  int64_t m = end - start, p = c->p;
  const uint16_t *ls = c->L + f * c->lm + (start - c->lstart);
  const double *M = c->M;
  if (M[ls[0] * p + f] == M[ls[m - 1] * p + f]) return FEAT_CONSTANT;
  if (!c->exact && c->C[ls[0] * p + f] == c->C[ls[m - 1] * p + f]) return FEAT_CONSTANT;
  double msl = (double)c->o->min_samples_leaf, wl = 0, sl = 0, ul = 0;
  ClassScan cs;
  if (c->K) {
    memset(c->wk, 0, (size_t)c->K * sizeof *c->wk);
    cs_init(c, &cs);
  }
  double x = M[ls[0] * p + f];
  for (int64_t j = 0; j + 1 < m; j++) {
    int64_t id = ls[j];
    double ew = c->lw[id], xn = M[ls[j + 1] * p + f];
    wl += ew;
    ul += c->count_rows ? 1.0 : ew;
    if (c->K) cs_add(c, &cs, (int64_t)c->ly[id], ew);
    else sl += ew * c->ly[id];
    double xj = x;
    x = xn;
    if (!(xj < xn)) continue;
    if (!c->exact && c->C[id * p + f] == c->C[ls[j + 1] * p + f]) continue;
    if (ul < msl || st->units - ul < msl) continue;
    double v = c->K ? cs_proxy(&cs, wl, st->w) : proxy_reg(wl, sl, st->w, st->s);
    consider(best, v, rank, (uint64_t)j, f, SPLIT_SORTED, 0, 0, xj, xn, j + 1);
  }
  return FEAT_SPLITTABLE;
}

/* Histogram of feature f over the node into h (NB x hw doubles):
** regression {w, s, entries}, classes {w, entries, c_0..}. */
static void histogram(Ctx *c, int64_t start, int64_t end, int64_t f, double *h) {
  int nb = c->nbins[f], hw = c->hw;
  const uint8_t *col = c->codes + f * c->n;
  memset(h, 0, (size_t)nb * (size_t)hw * sizeof *h);
  const Ent *e = c->ent + start, *last = c->ent + end;
  if (c->K) {
    for (; e < last; e++) {
      double *hb = h + col[e->pos] * hw;
      hb[0] += e->w;
      hb[1] += 1;
      hb[2 + (int64_t)e->y] += e->w;
    }
  } else {
    for (; e < last; e++) {
      double *hb = h + col[e->pos] * hw;
      hb[0] += e->w;
      hb[1] += e->w * e->y;
      hb[2] += 1;
    }
  }
}

static inline double bin_entries(const Ctx *c, const double *hb) { return hb[c->K ? 1 : 2]; }
static inline double bin_units(const Ctx *c, const double *hb) {
  return c->count_rows ? bin_entries(c, hb) : hb[0];
}

/* Candidates at the boundaries between the nonempty bins of h.  Returns
** the number of nonempty bins. */
static int eval_edges(Ctx *c, const double *h, int64_t f, int64_t rank, const Stat *st,
                      Best *best) {
  int nb = c->nbins[f], hw = c->hw, nonempty = 0, prev = -1;
  double msl = (double)c->o->min_samples_leaf, wl = 0, sl = 0, ul = 0, el = 0;
  if (c->K) memset(c->pre, 0, (size_t)c->K * sizeof *c->pre);
  for (int b = 0; b < nb; b++) {
    const double *hb = h + b * hw;
    if (bin_entries(c, hb) == 0) continue;
    nonempty++;
    if (prev >= 0 && ul >= msl && st->units - ul >= msl) { /* between prev and b */
      double v = c->K ? proxy_cls(c, c->pre, wl, c->tot, st->w) : proxy_reg(wl, sl, st->w, st->s);
      consider(best, v, rank, ((uint64_t)prev << 32) | 0xffffffffu, f, SPLIT_EDGE, prev, b, 0, 0,
               (int64_t)el);
    }
    wl += hb[0];
    el += bin_entries(c, hb);
    ul += bin_units(c, hb);
    if (c->K)
      for (int64_t k = 0; k < c->K; k++) c->pre[k] += hb[2 + k];
    else
      sl += hb[1];
    prev = b;
  }
  return nonempty;
}

/* A looser bound for bins holding many classes, in O(classes): the class
** terms are separable and convex in each class's left weight a_k in
** [0, b_k], so each is at most its larger end; the weights' terms are
** bounded apart (gini: the smallest left and right weights; entropy: the
** concave -W_L log W_L - W_R log W_R at its largest over the bin). */
static double class_bound(const Ctx *c, const double *hb, double w0, const Stat *st) {
  double wb = hb[0], W = st->w, v = 0;
  if (c->o->criterion == TIDE_TREE_GINI) {
    double dl = w0 + 1, dr = W - w0 - wb + 1;
    for (int64_t k = 0; k < c->K; k++) {
      double lo = c->pre[k], hi = lo + hb[2 + k], t = c->tot[k];
      double a = lo * lo / dl + (t - lo) * (t - lo) / dr, b = hi * hi / dl + (t - hi) * (t - hi) / dr;
      v += a > b ? a : b;
    }
    return v;
  }
  for (int64_t k = 0; k < c->K; k++) {
    double lo = c->pre[k], hi = lo + hb[2 + k], t = c->tot[k];
    double a = xlogx(lo) + xlogx(t - lo), b = xlogx(hi) + xlogx(t - hi);
    v += a > b ? a : b;
  }
  double u = W / 2 - w0;
  if (u > wb - 1) u = wb - 1;
  if (u < 1) u = 1;
  return v - xlogx(w0 + u) - xlogx(W - w0 - u);
}

/* An upper bound of the proxy over the thresholds inside bin hb, whose
** left neighbours weigh w0 (targets s0, or class weights c->pre); for
** regression, the bin's targets lie in [ylo, yhi]. */
static double bin_bound(Ctx *c, const double *hb, double w0, double s0, const Stat *st,
                        double ylo, double yhi) {
  double wb = hb[0], best = -INFINITY;
  if (!c->K) {
    double us[2] = {1.0, wb - 1.0}, ys[2] = {ylo, yhi};
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) {
        double wl = w0 + us[i], v;
        if (wl <= 0 || st->w - wl <= 0) continue;
        v = proxy_reg(wl, s0 + us[i] * ys[j], st->w, st->s);
        if (v > best) best = v;
      }
    return best;
  }
  int64_t present[MAX_VERTEX_CLASSES], np = 0;
  for (int64_t k = 0; k < c->K; k++) {
    if (hb[2 + k] > 0) {
      if (np == MAX_VERTEX_CLASSES) return class_bound(c, hb, w0, st);
      present[np++] = k;
    }
  }
  for (int mask = 0; mask < (1 << np); mask++) {
    double wl = w0;
    memcpy(c->cl, c->pre, (size_t)c->K * sizeof *c->cl);
    for (int i = 0; i < np; i++)
      if (mask & (1 << i)) {
        c->cl[present[i]] += hb[2 + present[i]];
        wl += hb[2 + present[i]];
      }
    double v = proxy_cls(c, c->cl, wl, c->tot, st->w);
    if (v > best) best = v;
  }
  return best;
}

/* Sorts the bins of h whose bound reaches thr (all bins with two entries
** or more when all is set) and scans the thresholds inside them.  Returns
** FEAT_CONSTANT when the only bin sorted holds one value and no other bin
** is used (a feature constant in the node). */
static int refine(Ctx *c, int64_t start, int64_t end, int64_t f, int64_t rank, const double *h,
                  double thr, int all, const Stat *st, Best *best) {
  int nb = c->nbins[f], hw = c->hw;
  int64_t off[NB + 1];
  unsigned char flag[NB];
  double tol = 1e-9 * (fabs(thr) + 1.0);
  double w0 = 0, s0 = 0, m = 0;
  int any = 0, nonempty = 0;
  if (c->K) memset(c->pre, 0, (size_t)c->K * sizeof *c->pre);
  for (int b = 0; b < nb; b++) {
    const double *hb = h + b * hw;
    double ne = bin_entries(c, hb);
    off[b] = (int64_t)m;
    flag[b] = 0;
    if (ne > 0) nonempty++;
    /* regression: first against the node's range of targets (the histogram
    ** pass does not track the bins'), then below against the bin's own */
    if (ne >= 2 && (all || !best->found ||
                    bin_bound(c, hb, w0, s0, st, st->ylo, st->yhi) >= thr - tol)) {
      flag[b] = 1;
      any = 1;
      m += ne;
    }
    w0 += hb[0];
    if (c->K)
      for (int64_t k = 0; k < c->K; k++) c->pre[k] += hb[2 + k];
    else
      s0 += hb[1];
  }
  off[nb] = (int64_t)m;
  if (!any) return FEAT_SPLITTABLE;
  int rc = need_pairs(c, (int64_t)m);
  if (rc) return rc;
  int64_t fill[NB];
  memcpy(fill, off, (size_t)nb * sizeof *fill);
  const uint8_t *col = c->codes + f * c->n;
  if (c->K || all || !best->found) {
    for (int64_t k = start; k < end; k++) {
      int b = col[c->ent[k].pos];
      if (!flag[b]) continue;
      Pair *pr = &c->pairs[fill[b]++];
      pr->x = xval(&c->xr, c->ent[k].pos, f);
      pr->k = (uint32_t)(k - start);
    }
  } else {
    /* the flagged bins' entries and ranges of targets, without X; then X is
    ** read only for the bins that still pass against their own range */
    double ylo[NB], yhi[NB];
    for (int b = 0; b < nb; b++) {
      ylo[b] = INFINITY;
      yhi[b] = -INFINITY;
    }
    for (int64_t k = start; k < end; k++) {
      int b = col[c->ent[k].pos];
      if (!flag[b]) continue;
      double y = c->ent[k].y;
      ylo[b] = y < ylo[b] ? y : ylo[b];
      yhi[b] = y > yhi[b] ? y : yhi[b];
      c->pairs[fill[b]++].k = (uint32_t)(k - start);
    }
    w0 = s0 = 0;
    for (int b = 0; b < nb; b++) {
      const double *hb = h + b * hw;
      if (flag[b] && bin_bound(c, hb, w0, s0, st, ylo[b], yhi[b]) < thr - tol) flag[b] = 0;
      if (flag[b])
        for (int64_t q = off[b]; q < off[b + 1]; q++)
          c->pairs[q].x = xval(&c->xr, c->ent[start + c->pairs[q].k].pos, f);
      w0 += hb[0];
      s0 += hb[1];
    }
  }
  double msl = (double)c->o->min_samples_leaf, wl = 0, sl = 0, ul = 0, el = 0;
  if (c->K) memset(c->pre, 0, (size_t)c->K * sizeof *c->pre);
  for (int b = 0; b < nb; b++) {
    const double *hb = h + b * hw;
    if (flag[b]) {
      Pair *pr = c->pairs + off[b];
      int64_t mb = off[b + 1] - off[b];
      sort_pairs(pr, mb);
      if (nonempty == 1 && pr[0].x == pr[mb - 1].x) return FEAT_CONSTANT;
      double wj = wl, sj = sl, uj = ul;
      ClassScan cs;
      if (c->K) { /* from the exact prefix at each bin: no drift across bins */
        memcpy(c->wk, c->pre, (size_t)c->K * sizeof *c->wk);
        cs_init(c, &cs);
      }
      for (int64_t j = 0; j + 1 < mb; j++) {
        const Ent *e = &c->ent[start + pr[j].k];
        double ew = e->w;
        wj += ew;
        uj += c->count_rows ? 1.0 : ew;
        if (c->K) cs_add(c, &cs, (int64_t)e->y, ew);
        else sj += ew * e->y;
        if (!(pr[j].x < pr[j + 1].x)) continue;
        if (uj < msl || st->units - uj < msl) continue;
        double v = c->K ? cs_proxy(&cs, wj, st->w) : proxy_reg(wj, sj, st->w, st->s);
        consider(best, v, rank, ((uint64_t)b << 32) | (uint64_t)j, f, SPLIT_INNER, b, 0, pr[j].x,
                 pr[j + 1].x, (int64_t)el + j + 1);
      }
    }
    wl += hb[0];
    ul += bin_units(c, hb);
    el += bin_entries(c, hb);
    if (c->K)
      for (int64_t k = 0; k < c->K; k++) c->pre[k] += hb[2 + k];
    else
      sl += hb[1];
  }
  return FEAT_SPLITTABLE;
}

/* The best split of node [start, end) over the visited features, or
** best->found = 0.  *nconst: the node's known constant features (the
** first entries of c->consts), grown by the ones found here. */
static int find_split(Ctx *c, int64_t start, int64_t end, const Stat *st, int64_t *nconst,
                      Best *best) {
  int64_t p = c->p, mf = c->o->max_features, m = p, visited = 0, nonconst = 0, added = 0;
  int64_t nslots = 0;
  int small = c->local, rc = TIDE_OK;
  memset(best, 0, sizeof *best);
  best->proxy = -INFINITY;
  for (int64_t i = 0; i < *nconst; i++) c->isconst[c->consts[i]] = 1;
  while (m > 0 && (visited < mf || nonconst == 0)) {
    int64_t j = tide_rng_integer(&c->rng, 0, m - 1), f = c->feats[j];
    c->feats[j] = c->feats[m - 1];
    c->feats[m - 1] = f;
    m--;
    visited++;
    if (c->isconst[f]) continue;
    int r;
    if (small) {
      r = eval_sorted(c, start, end, f, visited, st, best);
    } else {
      /* a slot of its own when there is room, else the spare one (refined now) */
      int keep = c->exact && nslots < c->hslots - 1;
      double *h = c->hist + (keep ? nslots : c->hslots - 1) * (int64_t)NB * c->hw;
      histogram(c, start, end, f, h);
      int nonempty = eval_edges(c, h, f, visited, st, best);
      if (nonempty <= 1) { /* one bin: constant, unless an exact tree finds two values in it */
        r = c->exact ? refine(c, start, end, f, visited, h, 0, 1, st, best) : FEAT_CONSTANT;
        if (r < 0) {
          rc = r;
          goto done;
        }
      } else {
        r = FEAT_SPLITTABLE;
        if (keep) {
          c->slot_f[nslots] = f;
          c->slot_rank[nslots++] = visited;
        } else if (c->exact && (rc = refine(c, start, end, f, visited, h, best->proxy, 0, st,
                                            best))) {
          goto done;
        }
      }
    }
    if (r < 0) {
      rc = r;
      goto done;
    }
    if (r == FEAT_CONSTANT) {
      c->consts[*nconst + added++] = (int32_t)f;
      continue;
    }
    nonconst++;
  }
  /* second pass: the bins of each kept feature that could beat the best */
  for (int64_t s = 0; s < nslots; s++) {
    const double *h = c->hist + s * (int64_t)NB * c->hw;
    rc = refine(c, start, end, c->slot_f[s], c->slot_rank[s], h, best->proxy, 0, st, best);
    if (rc < 0) goto done;
    rc = TIDE_OK;
  }
done:
  for (int64_t i = 0; i < *nconst; i++) c->isconst[c->consts[i]] = 0;
  *nconst += added;
  return rc;
}

/* The threshold of the best split and the node partitioned around it;
** returns the start of the right child. */
static int64_t split_node(Ctx *c, int64_t start, int64_t end, Best *b, double *thr_out) {
  int64_t f = b->f;
  const uint8_t *col = c->codes + f * c->n;
  if (b->kind == SPLIT_EDGE) { /* the values either side: the largest of bin b, smallest of b2 */
    double xl = -INFINITY, xr = INFINITY;
    for (int64_t k = start; k < end; k++) {
      int code = col[c->ent[k].pos];
      if (code == b->b) {
        double x = xval(&c->xr, c->ent[k].pos, f);
        if (x > xl) xl = x;
      } else if (code == b->b2) {
        double x = xval(&c->xr, c->ent[k].pos, f);
        if (x < xr) xr = x;
      }
    }
    b->xl = xl;
    b->xr = xr;
  }
  double thr = b->xl / 2.0 + b->xr / 2.0; /* the midpoint, as scikit-learn computes it */
  if (thr == b->xr || isinf(thr)) thr = b->xl;
  *thr_out = thr;
  /* stable: entries stay in the order of their positions, so the passes
  ** over a node read the bins and X in increasing order.  The smaller side
  ** goes through c->tmp (half the node at most): left entries are packed
  ** forward in place, or right ones backward. */
  int64_t nl = b->nl, n = end - start;
  int small_left = nl <= n - nl;
  int64_t w = small_left ? end : start, nt = 0;
  for (int64_t q = 0; q < n; q++) {
    int64_t k = small_left ? end - 1 - q : start + q;
    const Ent *e = &c->ent[k];
    int left;
    if (b->kind == SPLIT_EDGE) {
      left = col[e->pos] <= b->b;
    } else if (b->kind == SPLIT_INNER) {
      int code = col[e->pos];
      left = code < b->b || (code == b->b && xval(&c->xr, e->pos, f) <= thr);
    } else {
      left = c->M[e->pos * c->p + f] <= thr;
    }
    if (nt == c->tcap) return -1; /* cannot happen: nl counts the left side */
    if (small_left) {
      if (left) c->tmp[nt++] = *e;
      else c->ent[--w] = *e;
    } else {
      if (left) c->ent[w++] = *e;
      else c->tmp[nt++] = *e;
    }
  }
  int64_t mid;
  if (small_left) { /* tmp holds the left side backwards */
    for (int64_t q = 0; q < nt; q++) c->ent[start + q] = c->tmp[nt - 1 - q];
    mid = start + nt;
  } else {
    memcpy(c->ent + w, c->tmp, (size_t)nt * sizeof *c->tmp);
    mid = w;
  }
  if (c->local) { /* every feature's list splits the same way, keeping its order */
    for (int64_t k = start; k < end; k++) c->lflag[c->ent[k].pos] = k < mid;
    for (int64_t g = 0; g < c->p; g++) {
      uint16_t *ls = c->L + g * c->lm + (start - c->lstart), *t = c->ltmp;
      int64_t a = 0, r = 0;
      for (int64_t q = 0; q < n; q++) {
        uint16_t id = ls[q];
        if (c->lflag[id]) ls[a++] = id;
        else t[r++] = id;
      }
      memcpy(ls + a, t, (size_t)r * sizeof *t);
    }
  }
  return mid;
}

static int grow_nodes(Ctx *c, int64_t extra) {
  if (c->nn + extra <= c->ncap) return TIDE_OK;
  int64_t cap = c->ncap ? c->ncap * 2 : 256;
  while (cap < c->nn + extra) cap *= 2;
  if (cap > INT32_MAX) return tide__seterr(TIDE_ERANGE, "tree: more than 2^31 nodes");
  tide_TreeNode *nd = tide__realloc(c->nodes, (size_t)cap * sizeof *nd);
  if (!nd) return tide__seterr(TIDE_ENOMEM, "tree: out of memory for the nodes");
  c->nodes = nd;
  c->ncap = cap;
  return TIDE_OK;
}

static int make_leaf(Ctx *c, int64_t node, const Stat *st) {
  tide_TreeNode *nd = &c->nodes[node];
  nd->feature = -1;
  nd->left = -1;
  nd->value = 0;
  if (!c->K) {
    nd->value = st->w > 0 ? st->s / st->w : 0;
    return TIDE_OK;
  }
  if (c->nl == c->lcap) {
    int64_t cap = c->lcap ? c->lcap * 2 : 128;
    double *v = tide__realloc(c->vals, (size_t)(cap * c->K) * sizeof *v);
    if (!v) return tide__seterr(TIDE_ENOMEM, "tree: out of memory for the leaves");
    c->vals = v;
    c->lcap = cap;
  }
  for (int64_t k = 0; k < c->K; k++) c->vals[c->nl * c->K + k] = st->w > 0 ? c->tot[k] / st->w : 0;
  nd->left = (int32_t)c->nl++;
  return TIDE_OK;
}

/* Gathers the values (and bins) of entries [start, end) into M and C,
** and sorts them once per feature into the lists L: the subtree of a small
** node works on them alone, splitting the lists instead of sorting again. */
static void go_local(Ctx *c, int64_t start, int64_t end) {
  int64_t p = c->p, m = end - start;
  c->lstart = start;
  c->lm = m;
  for (int64_t k = start; k < end; k++) {
    uint32_t pos = c->ent[k].pos, li = (uint32_t)(k - start);
    const unsigned char *row = c->xr.X->data + tide_rows_at(c->xr.rows, pos) * c->xr.s0;
    double *mr = c->M + li * p;
    if (c->xr.f64 && c->xr.s1 == 8)
      memcpy(mr, row, (size_t)p * sizeof *mr);
    else
      for (int64_t f = 0; f < p; f++) mr[f] = tide_load_f64(c->xr.X->dtype, row + f * c->xr.s1);
    if (!c->exact)
      for (int64_t f = 0; f < p; f++) c->C[li * p + f] = c->codes[f * c->n + pos];
    c->lw[li] = c->ent[k].w;
    c->ly[li] = c->ent[k].y;
    c->ent[k].pos = li;
  }
  for (int64_t f = 0; f < p; f++) {
    Pair *pr = c->pairs;
    for (int64_t k = 0; k < m; k++) {
      pr[k].x = c->M[k * p + f];
      pr[k].k = (uint32_t)k;
    }
    sort_pairs(pr, m);
    uint16_t *ls = c->L + f * m;
    for (int64_t k = 0; k < m; k++) ls[k] = (uint16_t)pr[k].k;
  }
  c->local = 1;
}

static int build(Ctx *c) {
  const tide_TreeOpts *o = c->o;
  int64_t cap = 64, top = 0;
  Job *stack = tide__malloc((size_t)cap * sizeof *stack);
  if (!stack) return tide__seterr(TIDE_ENOMEM, "tree: out of memory");
  int rc = grow_nodes(c, 1);
  if (rc) goto out;
  c->nn = 1;
  stack[top++] = (Job){0, c->nent, 0, 0, 0};
  int64_t local_base = 0;
  while (top > 0) {
    Job jb = stack[--top];
    if (c->local && top < local_base) c->local = 0; /* the small subtree is done */
    if (!c->local && jb.end - jb.start <= c->small) {
      if ((rc = need_pairs(c, jb.end - jb.start))) goto out;
      go_local(c, jb.start, jb.end);
      local_base = top;
    }
    Stat st;
    node_stats(c, jb.start, jb.end, &st, c->tot);
    if (jb.node == 0) c->wroot = st.w;
    if (jb.depth > c->depth) c->depth = jb.depth;
    int leaf = (o->max_depth > 0 && jb.depth >= o->max_depth) ||
               st.units < (double)o->min_samples_split ||
               st.units < 2.0 * (double)o->min_samples_leaf || st.imp <= EPS;
    Best b;
    int64_t nconst = jb.nconst, mid = 0;
    double thr = 0;
    Stat sl, sr;
    if (!leaf) {
      if ((rc = find_split(c, jb.start, jb.end, &st, &nconst, &b))) goto out;
      leaf = !b.found;
    }
    if (!leaf) {
      mid = split_node(c, jb.start, jb.end, &b, &thr);
      if (mid < 0) {
        rc = tide__seterr(TIDE_EINVAL, "tree: internal error (a split's sides miscounted)");
        goto out;
      }
      node_stats(c, jb.start, mid, &sl, c->cl);
      node_stats(c, mid, jb.end, &sr, c->cl);
      double gain = st.w * st.imp - sl.w * sl.imp - sr.w * sr.imp;
      leaf = mid == jb.start || mid == jb.end ||
             gain / c->wroot + EPS < o->min_impurity_decrease;
      if (!leaf) c->imp[b.f] += gain;
    }
    if (leaf) {
      if ((rc = make_leaf(c, jb.node, &st))) goto out;
      continue;
    }
    if ((rc = grow_nodes(c, 2))) goto out;
    int64_t l = c->nn;
    c->nn += 2;
    c->nodes[jb.node] = (tide_TreeNode){(int32_t)b.f, (int32_t)l, thr};
    if (top + 2 > cap) {
      Job *ns = tide__realloc(stack, (size_t)(cap * 2) * sizeof *ns);
      if (!ns) {
        rc = tide__seterr(TIDE_ENOMEM, "tree: out of memory");
        goto out;
      }
      stack = ns;
      cap *= 2;
    }
    stack[top++] = (Job){mid, jb.end, jb.depth + 1, l + 1, nconst};
    stack[top++] = (Job){jb.start, mid, jb.depth + 1, l, nconst};
  }
out:
  free(stack);
  return rc;
}

int tide_tree_bootstrap(uint64_t seed, uint64_t stream, int64_t n, int64_t n_draw,
                        uint32_t *counts) {
  if (n <= 0 || n_draw <= 0)
    return tide__seterr(TIDE_EINVAL, "bootstrap: no rows to draw from");
  if (n_draw > n) /* a loop of n_draw steps: 2^62 never ended (fuzz_api) */
    return tide__seterr(TIDE_EINVAL, "bootstrap: %" PRId64 " draws from %" PRId64
                        " rows (at most the rows)", n_draw, n);
  tide_Rng r;
  tide_rng_init(&r, seed, stream);
  memset(counts, 0, (size_t)n * sizeof *counts);
  for (int64_t d = 0; d < n_draw; d++) counts[tide_rng_integer(&r, 0, n - 1)]++;
  return TIDE_OK;
}

void tide_tree_free(tide_Tree *t) {
  if (!t) return;
  free(t->nodes);
  free(t->values);
  free(t->importances);
  memset(t, 0, sizeof *t);
}

static void ctx_free(Ctx *c) {
  free(c->ent);
  free(c->nbins);
  free(c->hist);
  free(c->slot_f);
  free(c->slot_rank);
  free(c->pairs);
  free(c->feats);
  free(c->consts);
  free(c->isconst);
  free(c->tot);
  free(c->M);
  free(c->C);
  free(c->L);
  free(c->ltmp);
  free(c->lflag);
  free(c->lw);
  free(c->ly);
  free(c->tmp);
}

/* The entries: bootstrap positions with their counts, or every position. */
static int make_entries(Ctx *c, const tide_Array *y, const tide_Rows *rows) {
  const tide_TreeOpts *o = c->o;
  int64_t n = c->n, m = 0;
  uint32_t *counts = NULL;
  if (o->n_draw > n) /* scikit-learn's max_samples: at most the rows (fuzz_api) */
    return tide__seterr(TIDE_EINVAL, "tree: %" PRId64 " bootstrap draws from %" PRId64
                        " rows (at most the rows)", o->n_draw, n);
  if (o->n_draw > 0) {
    counts = tide__malloc((size_t)n * sizeof *counts);
    if (!counts) return tide__seterr(TIDE_ENOMEM, "tree: out of memory for the bootstrap");
    for (int64_t k = 0; k < n; k++) counts[k] = 0;
    for (int64_t d = 0; d < o->n_draw; d++) counts[tide_rng_integer(&c->rng, 0, n - 1)]++;
    for (int64_t k = 0; k < n; k++) m += counts[k] > 0;
  } else {
    m = n;
  }
  c->ent = tide__malloc((size_t)(m ? m : 1) * sizeof *c->ent);
  if (!c->ent) {
    free(counts);
    return tide__seterr(TIDE_ENOMEM, "tree: out of memory for the samples");
  }
  int64_t j = 0;
  for (int64_t k = 0; k < n; k++) {
    if (counts && counts[k] == 0) continue;
    double v = tide_load_f64(y->dtype, y->data + tide_rows_at(rows, k) * y->strides[0]);
    if (c->K) {
      if (v == 0) v = 0.0;
      int64_t ix = tide_class_index(o->classes, c->K, v);
      if (ix < 0) {
        free(counts);
        return tide__seterr(TIDE_EINVAL, "tree: label %g of y is not among the classes", v);
      }
      v = (double)ix;
    }
    c->ent[j++] = (Ent){(uint32_t)k, counts ? counts[k] : 1u, v};
  }
  c->nent = m;
  free(counts);
  return TIDE_OK;
}

int tide_tree_fit(const tide_Array *X, const tide_Array *y, const tide_Rows *rows,
                  const uint8_t *codes, const tide_TreeOpts *o, tide_Tree *t) {
  memset(t, 0, sizeof *t);
  int64_t n = rows->n, p = ncols(X);
  if (n <= 0) return tide__seterr(TIDE_EINVAL, "tree: no rows to fit");
  if (n > (int64_t)UINT32_MAX) return tide__seterr(TIDE_ERANGE, "tree: more than 2^32 rows");
  if (p < 1) return tide__seterr(TIDE_EINVAL, "tree: X has no features");
  if (o->max_features < 1 || o->max_features > p || o->min_samples_leaf < 1 ||
      o->min_samples_split < 2 || o->max_depth < 0 || (o->nclass != 0 && o->nclass < 1) ||
      (o->nclass > 0 && !o->classes))
    return tide__seterr(TIDE_EINVAL, "tree: bad options");
  Ctx c;
  memset(&c, 0, sizeof c);
  xreader_init(&c.xr, X, rows);
  c.o = o;
  c.codes = codes;
  c.n = n;
  c.p = p;
  c.K = o->nclass;
  c.exact = o->exact;
  c.count_rows = o->count_rows;
  c.hw = c.K ? (int)(2 + c.K) : 3;
  int64_t kk = c.K ? c.K : 1;
  int64_t slot_bytes = (int64_t)NB * c.hw * (int64_t)sizeof(double);
  c.hslots = HIST_BUDGET / slot_bytes;
  if (c.hslots > p + 1) c.hslots = p + 1;
  if (c.hslots < 2) c.hslots = 2;
  c.nbins = tide__calloc((size_t)p, sizeof *c.nbins);
  c.hist = tide__malloc((size_t)(c.hslots * slot_bytes));
  c.slot_f = tide__malloc((size_t)c.hslots * sizeof *c.slot_f);
  c.slot_rank = tide__malloc((size_t)c.hslots * sizeof *c.slot_rank);
  c.feats = tide__malloc((size_t)p * sizeof *c.feats);
  c.consts = tide__malloc((size_t)p * sizeof *c.consts);
  c.isconst = tide__calloc((size_t)p, 1);
  c.tot = tide__malloc((size_t)(4 * kk) * sizeof *c.tot);
  c.small = (4 << 20) / (p * (int64_t)sizeof(double));
  if (c.small > SMALL) c.small = SMALL;
  if (c.small < 1) c.small = 1;
  c.M = tide__malloc((size_t)(c.small * p) * sizeof *c.M);
  c.C = tide__malloc((size_t)(c.small * p));
  c.L = tide__malloc((size_t)(c.small * p) * sizeof *c.L);
  c.ltmp = tide__malloc((size_t)c.small * sizeof *c.ltmp);
  c.lflag = tide__malloc((size_t)c.small);
  c.lw = tide__malloc((size_t)c.small * sizeof *c.lw);
  c.ly = tide__malloc((size_t)c.small * sizeof *c.ly);
  t->importances = tide__calloc((size_t)p, sizeof *t->importances);
  int rc = TIDE_OK;
  if (!c.nbins || !c.hist || !c.slot_f || !c.slot_rank || !c.feats || !c.consts || !c.isconst ||
      !c.tot || !c.M || !c.C || !c.L || !c.ltmp || !c.lflag || !c.lw || !c.ly ||
      !t->importances) {
    rc = tide__seterr(TIDE_ENOMEM, "tree: out of memory");
    goto out;
  }
  c.pre = c.tot + kk;
  c.wk = c.tot + 2 * kk;
  c.cl = c.tot + 3 * kk;
  c.imp = t->importances;
  for (int64_t f = 0; f < p; f++) {
    c.feats[f] = f;
    const uint8_t *col = codes + f * n;
    int mx = 0;
    for (int64_t k = 0; k < n; k++)
      if (col[k] > mx) mx = col[k];
    c.nbins[f] = mx + 1;
  }
  tide_rng_init(&c.rng, o->seed, o->stream);
  if ((rc = make_entries(&c, y, rows))) goto out;
  c.tcap = c.nent / 2 + 1;
  if (!(c.tmp = tide__malloc((size_t)c.tcap * sizeof *c.tmp))) {
    rc = tide__seterr(TIDE_ENOMEM, "tree: out of memory");
    goto out;
  }
  if ((rc = build(&c))) goto out;
  double total = 0;
  for (int64_t f = 0; f < p; f++) total += c.imp[f];
  if (total > 0)
    for (int64_t f = 0; f < p; f++) c.imp[f] /= total;
  t->nodes = c.nodes;
  t->n_nodes = c.nn;
  t->values = c.vals;
  t->n_leaves = c.K ? c.nl : 0;
  if (!c.K)
    for (int64_t i = 0; i < c.nn; i++) t->n_leaves += c.nodes[i].feature < 0;
  t->depth = c.depth;
  c.nodes = NULL;
  c.vals = NULL;
out:
  free(c.nodes);
  free(c.vals);
  ctx_free(&c);
  if (rc) tide_tree_free(t);
  return rc;
}

/* ------------------------------------------------------------ prediction */

/* The leaf that row x reaches, or -1 for a node array that is not a tree
** (each step checks the child lies after its parent and inside the array). */
static inline int64_t leaf_of(const tide_TreeView *t, const double *x, int64_t p) {
  const tide_TreeNode *nd = t->nodes;
  int64_t i = 0, nn = t->n_nodes;
  for (;;) {
    int32_t f = nd[i].feature;
    if (f < 0) return i;
    int64_t l = nd[i].left;
    if (f >= p || l <= i || l >= nn - 1) return -1;
    i = l + (x[f] > nd[i].value);
  }
}

static int bad_tree(int64_t t) {
  return tide__seterr(TIDE_EINVAL, "tree %" PRId64 " is damaged (its nodes do not form a tree)",
                      t + 1);
}

/* Adds tree t's prediction for row x into acc (1 or nclass values). */
static inline int add_tree(const tide_TreeView *tr, int64_t nclass, const double *x, int64_t p,
                           double *acc) {
  int64_t leaf = leaf_of(tr, x, p);
  if (leaf < 0) return -1;
  const tide_TreeNode *nd = &tr->nodes[leaf];
  if (!nclass) {
    acc[0] += nd->value;
    return 0;
  }
  int64_t r = nd->left;
  if (r < 0 || r >= tr->n_leaves) return -1;
  const double *v = tr->values + r * nclass;
  for (int64_t k = 0; k < nclass; k++) acc[k] += v[k];
  return 0;
}

/* The leaves that rows x[0..g) (p values each) reach in tree t, walked in
** lockstep: the rows' node loads are independent, so their cache misses
** overlap instead of queueing one row behind the other.  0, or -1 for a
** node array that is not a tree. */
#define LANES 16
static int leaves_of(const tide_TreeView *t, const double *x, int64_t p, int64_t g,
                     int64_t *leaf) {
  const tide_TreeNode *nd = t->nodes;
  int64_t nn = t->n_nodes;
  for (int64_t l = 0; l < g; l++) leaf[l] = 0;
  for (int more = 1; more;) {
    more = 0;
    for (int64_t l = 0; l < g; l++) {
      int64_t i = leaf[l];
      int32_t f = nd[i].feature;
      if (f < 0) continue;
      int64_t c = nd[i].left;
      if (f >= p || c <= i || c >= nn - 1) return -1;
      leaf[l] = c + (x[l * p + f] > nd[i].value);
      more = 1;
    }
  }
  return 0;
}

int tide_forest_predict(const tide_TreeView *trees, int64_t ntrees, int64_t nclass,
                        const tide_Array *X, const tide_Rows *rows, double *out) {
  int64_t p = ncols(X), w = nclass ? nclass : 1;
  for (int64_t t = 0; t < ntrees; t++)
    if (trees[t].n_nodes < 1) return bad_tree(t);
  int64_t block = (1 << 18) / (p > 0 ? p : 1);
  if (block > TIDE_ROW_BLOCK) block = TIDE_ROW_BLOCK;
  if (block < LANES) block = LANES;
  memset(out, 0, (size_t)(rows->n * w) * sizeof *out);
  tide_RowBlocks it;
  int rc = tide_rowblocks_init(&it, X, rows, block);
  if (rc) return rc;
  int64_t leaf[LANES];
  while (tide_rowblocks_next(&it)) {
    double *o = out + it.first * w;
    for (int64_t t = 0; t < ntrees; t++) {
      const tide_TreeView *tr = &trees[t];
      for (int64_t i0 = 0; i0 < it.nb; i0 += LANES) {
        int64_t g = it.nb - i0 < LANES ? it.nb - i0 : LANES;
        if (leaves_of(tr, it.buf + i0 * p, p, g, leaf)) {
          tide_rowblocks_free(&it);
          return bad_tree(t);
        }
        for (int64_t l = 0; l < g; l++) {
          const tide_TreeNode *nd = &tr->nodes[leaf[l]];
          double *acc = o + (i0 + l) * w;
          if (!nclass) {
            acc[0] += nd->value;
            continue;
          }
          if (nd->left < 0 || nd->left >= tr->n_leaves) {
            tide_rowblocks_free(&it);
            return bad_tree(t);
          }
          const double *v = tr->values + (int64_t)nd->left * nclass;
          for (int64_t k = 0; k < nclass; k++) acc[k] += v[k];
        }
      }
    }
  }
  tide_rowblocks_free(&it);
  if (ntrees > 1) {
    double inv = 1.0 / (double)ntrees;
    for (int64_t i = 0; i < rows->n * w; i++) out[i] *= inv;
  }
  return TIDE_OK;
}

int tide_forest_oob(const tide_TreeView *trees, int64_t ntrees, int64_t nclass,
                    uint64_t seed, const uint64_t *streams, int64_t n_draw,
                    const tide_Array *X, const tide_Rows *rows, double *sum, int64_t *count) {
  int64_t n = rows->n, p = ncols(X), w = nclass ? nclass : 1;
  uint32_t *counts = tide__malloc((size_t)(n ? n : 1) * sizeof *counts);
  double *x = tide__malloc((size_t)(p ? p : 1) * sizeof *x);
  if (!counts || !x) {
    free(counts);
    free(x);
    return tide__seterr(TIDE_ENOMEM, "oob: out of memory");
  }
  XReader xr;
  xreader_init(&xr, X, rows);
  int rc = TIDE_OK;
  for (int64_t t = 0; t < ntrees && !rc; t++) {
    if (trees[t].n_nodes < 1) {
      rc = bad_tree(t);
      break;
    }
    if ((rc = tide_tree_bootstrap(seed, streams[t], n, n_draw, counts))) break;
    for (int64_t k = 0; k < n; k++) {
      if (counts[k]) continue;
      for (int64_t f = 0; f < p; f++) x[f] = xval(&xr, k, f);
      if (add_tree(&trees[t], nclass, x, p, sum + k * w)) {
        rc = bad_tree(t);
        break;
      }
      count[k]++;
    }
  }
  free(counts);
  free(x);
  return rc;
}
