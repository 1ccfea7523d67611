/*
** test_tree.c -- the tree kernels against a plain builder: every node of
** depth-limited trees (regression, gini, entropy; weights from a bootstrap;
** histogram trees) equal to a recursive search that sorts each feature at
** each node and tries every threshold; bins, bootstrap streams, prediction
** and out-of-bag sums, and trees whose nodes were damaged.
*/
#include "check.h"

#include "../../runtime/models/tree.h"

static uint64_t seed = 777;
static double urand(void) { /* xorshift: deterministic data */
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return (double)(seed >> 11) / 9007199254740992.0;
}

/* n x p data: continuous columns (no two equal values), and with
** discrete = 1 a last column of 5 levels (ties inside bins). */
static void mkdata(tide_Array *X, tide_Array *y, tide_Array *yc, int64_t n, int64_t p,
                   int discrete) {
  int64_t shape[2] = {n, p};
  if (tide_array_new(X, TIDE_F64, 2, shape, TIDE_WHERE_HEAP) ||
      tide_array_new(y, TIDE_F64, 1, shape, TIDE_WHERE_HEAP) ||
      tide_array_new(yc, TIDE_F64, 1, shape, TIDE_WHERE_HEAP))
    abort();
  double *x = (double *)X->data, *t = (double *)y->data, *c = (double *)yc->data;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < p; j++) x[i * p + j] = urand();
    if (discrete) x[i * p + p - 1] = (double)(int)(urand() * 5);
    double *r = x + i * p;
    t[i] = 10 * sin(3.14159 * r[0] * r[1]) + 20 * (r[2] - 0.5) * (r[2] - 0.5) + 10 * r[3] +
           r[p - 1] + urand();
    double s = r[0] + r[1] + 0.3 * urand();
    c[i] = s < 0.7 ? 0 : s < 1.1 ? 3 : s < 1.4 ? 7 : 9;
  }
}

/* ------------------------------------------------------ the plain builder */

typedef struct Ref {
  const double *x;
  const uint8_t *codes; /* histogram trees: candidates only where bins change */
  int64_t n, p, K, max_depth, msl, mss;
  int crit, count_rows;
  const double *y;      /* targets, or class indices */
  double *imp;
  /* the tree in preorder: feature (-1 leaf), threshold or leaf value */
  int64_t nn, f[4096], size[4096];
  double v[4096];
  unsigned char tie[4096]; /* another partition within 1e-9 of the best: either may win */
  int ties;
} Ref;

typedef struct Sm {
  int64_t pos;
  double w;
  double x;
} Sm;

static int sm_cmp(const void *a, const void *b) {
  double x = ((const Sm *)a)->x, y = ((const Sm *)b)->x;
  return (x > y) - (x < y);
}

static double impurity(const Ref *r, const Sm *s, int64_t m, double *w_out, double *u_out) {
  double w = 0, sy = 0, sq = 0, u = 0, cls[16] = {0};
  for (int64_t k = 0; k < m; k++) {
    double y = r->y[s[k].pos];
    w += s[k].w;
    u += r->count_rows ? 1 : s[k].w;
    if (r->K) cls[(int)y] += s[k].w;
    sy += s[k].w * y;
    sq += s[k].w * y * y;
  }
  *w_out = w;
  *u_out = u;
  if (!r->K) return sq / w - (sy / w) * (sy / w);
  double g = 0;
  for (int k = 0; k < r->K; k++) {
    double q = cls[k] / w;
    if (r->crit == TIDE_TREE_GINI) g += q * q;
    else if (q > 0) g -= q * log2(q);
  }
  return r->crit == TIDE_TREE_GINI ? 1 - g : g;
}

static void ref_build(Ref *r, Sm *s, int64_t m, int64_t depth, double wroot) {
  double w, u, imp = impurity(r, s, m, &w, &u);
  int64_t me = r->nn++;
  int leaf = (r->max_depth && depth >= r->max_depth) || u < r->mss || u < 2 * r->msl ||
             imp <= 2.220446049250313e-16;
  int64_t bf = -1, bj = -1;
  double best = -INFINITY, thr = 0, second = -INFINITY;
  Sm *t = malloc((size_t)m * sizeof *t);
  for (int64_t f = 0; f < r->p && !leaf; f++) {
    memcpy(t, s, (size_t)m * sizeof *t);
    for (int64_t k = 0; k < m; k++) t[k].x = r->x[t[k].pos * r->p + f];
    qsort(t, (size_t)m, sizeof *t, sm_cmp);
    for (int64_t j = 0; j + 1 < m; j++) {
      if (!(t[j].x < t[j + 1].x)) continue;
      if (r->codes && r->codes[f * r->n + t[j].pos] == r->codes[f * r->n + t[j + 1].pos]) continue;
      double wl, ul, wr, ur;
      double il = impurity(r, t, j + 1, &wl, &ul), ir = impurity(r, t + j + 1, m - j - 1, &wr, &ur);
      if (ul < r->msl || ur < r->msl) continue;
      double proxy = -(wl * il + wr * ir);
      if (proxy > best) second = best;
      else if (proxy > second) second = proxy;
      if (proxy > best) {
        best = proxy;
        bf = f;
        bj = j;
        thr = t[j].x / 2 + t[j + 1].x / 2;
        if (thr == t[j + 1].x) thr = t[j].x;
      }
    }
  }
  if (bf < 0) leaf = 1;
  r->tie[me] = !leaf && best - second <= 1e-9 * fabs(best);
  r->ties += r->tie[me];
  r->size[me] = 1;
  if (leaf) {
    double sy = 0, cls[16] = {0}, argmax = 0;
    for (int64_t k = 0; k < m; k++) {
      sy += s[k].w * r->y[s[k].pos];
      if (r->K) cls[(int)r->y[s[k].pos]] += s[k].w;
    }
    for (int k = 1; k < r->K; k++)
      if (cls[k] > cls[(int)argmax]) argmax = k;
    r->f[me] = -1;
    r->v[me] = r->K ? cls[(int)argmax] / w : sy / w; /* classifiers: the top fraction */
    free(t);
    return;
  }
  memcpy(t, s, (size_t)m * sizeof *t);
  int64_t a = 0;
  for (int64_t k = 0; k < m; k++)
    if (r->x[t[k].pos * r->p + bf] <= thr) s[a++] = t[k];
  int64_t nl = a;
  for (int64_t k = 0; k < m; k++)
    if (r->x[t[k].pos * r->p + bf] > thr) s[a++] = t[k];
  free(t);
  CHECK_EQ_INT(nl, bj + 1);
  double wl, ul, wr, ur, il = impurity(r, s, nl, &wl, &ul), ir = impurity(r, s + nl, m - nl, &wr, &ur);
  r->imp[bf] += w * imp - wl * il - wr * ir;
  r->f[me] = bf;
  r->v[me] = thr;
  int64_t before = r->nn;
  ref_build(r, s, nl, depth + 1, wroot);
  ref_build(r, s + nl, m - nl, depth + 1, wroot);
  r->size[me] += r->nn - before;
}

/* Compares the fitted tree (from node i, preorder) with the reference. */
static int64_t compare(const tide_Tree *t, int64_t K, const Ref *r, int64_t i, int64_t *at,
                       int *ok) {
  const tide_TreeNode *nd = &t->nodes[i];
  int64_t me = (*at)++;
  if (me >= r->nn) {
    *ok = 0;
    return 0;
  }
  if (r->tie[me]) { /* a tie: scikit-learn's choice depends on its visiting order too */
    *at += r->size[me] - 1;
    return 0;
  }
  if (nd->feature < 0 || r->f[me] < 0) {
    if (nd->feature >= 0 || r->f[me] >= 0) {
      *ok = 0;
      return 0;
    }
    double v = nd->value;
    if (K) { /* the largest class fraction */
      v = 0;
      for (int64_t k = 0; k < K; k++)
        if (t->values[nd->left * K + k] > v) v = t->values[nd->left * K + k];
    }
    if (fabs(v - r->v[me]) > 1e-9 * (1 + fabs(v))) *ok = 0;
    return 1;
  }
  if (nd->feature != r->f[me] || nd->value != r->v[me]) {
    if (*ok)
      fprintf(stderr, "node %lld: feature %d threshold %.17g, reference %lld %.17g\n",
              (long long)me, nd->feature, nd->value, (long long)r->f[me], r->v[me]);
    *ok = 0;
    return 0;
  }
  int64_t n = 1 + compare(t, K, r, nd->left, at, ok);
  return n + compare(t, K, r, nd->left + 1, at, ok);
}

/* Fits a tree and the reference on the same options; compares them. */
static void agree(const char *what, const tide_Array *X, const tide_Array *y, int64_t K,
                  int crit, int64_t max_depth, int64_t msl, int64_t n_draw, int bins) {
  int64_t n = X->shape[0], p = X->shape[1];
  tide_Rows rows = tide_rows_all(n);
  uint8_t *codes = malloc((size_t)(n * p));
  CHECK_EQ_INT(tide_tree_bins(X, &rows, bins, codes), TIDE_OK);
  double classes[4] = {0, 3, 7, 9};
  tide_TreeOpts o;
  memset(&o, 0, sizeof o);
  o.criterion = crit;
  o.nclass = K;
  o.classes = K ? classes : NULL;
  o.max_depth = max_depth;
  o.min_samples_split = 2;
  o.min_samples_leaf = msl;
  o.max_features = p;
  o.exact = bins == 256;
  o.count_rows = n_draw > 0;
  o.seed = 5;
  o.stream = 3;
  o.n_draw = n_draw;
  tide_Tree t;
  int rc = tide_tree_fit(X, y, &rows, codes, &o, &t);
  CHECK_EQ_INT(rc, TIDE_OK);
  if (rc) {
    fprintf(stderr, "%s: %s\n", what, tide_lasterror());
    free(codes);
    return;
  }
  /* the reference: the same samples and weights */
  uint32_t *cnt = malloc((size_t)n * sizeof *cnt);
  if (n_draw) tide_tree_bootstrap(5, 3, n, n_draw, cnt);
  double *yy = malloc((size_t)n * sizeof *yy);
  Sm *s = malloc((size_t)n * sizeof *s);
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = ((const double *)y->data)[i];
    yy[i] = K ? (v == 0 ? 0 : v == 3 ? 1 : v == 7 ? 2 : 3) : v;
    if (n_draw && cnt[i] == 0) continue;
    s[m++] = (Sm){i, n_draw ? cnt[i] : 1, 0};
  }
  static Ref r;
  memset(&r, 0, sizeof r);
  double imp[16] = {0};
  r.x = (const double *)X->data;
  r.codes = bins == 256 ? NULL : codes;
  r.n = n;
  r.p = p;
  r.K = K;
  r.max_depth = max_depth;
  r.msl = msl;
  r.mss = 2;
  r.crit = crit;
  r.count_rows = n_draw > 0;
  r.y = yy;
  r.imp = imp;
  ref_build(&r, s, m, 0, 0);
  int ok = 1;
  int64_t at = 0;
  compare(&t, K, &r, 0, &at, &ok);
  if (!ok || at != r.nn || (!r.ties && at != t.n_nodes))
    fprintf(stderr, "%s: %lld nodes, reference %lld\n", what, (long long)t.n_nodes,
            (long long)r.nn);
  CHECK(ok && at == r.nn && (r.ties || at == t.n_nodes));
  CHECK(r.ties < r.nn / 10); /* the comparison covers most of the tree */
  double tot = 0;
  for (int64_t f = 0; f < p; f++) tot += imp[f];
  for (int64_t f = 0; f < p && !r.ties; f++) CHECK_NEAR(t.importances[f], imp[f] / tot, 1e-9);
  tide_tree_free(&t);
  free(codes);
  free(cnt);
  free(yy);
  free(s);
}

/* ---------------------------------------------------------------- cases */

static void test_agreement(void) {
  tide_Array X, y, yc;
  mkdata(&X, &y, &yc, 3000, 5, 1);
  agree("regression depth 6", &X, &y, 0, TIDE_TREE_SQUARED_ERROR, 6, 5, 0, 256);
  agree("regression depth 8, leaf 20", &X, &y, 0, TIDE_TREE_SQUARED_ERROR, 8, 20, 0, 256);
  agree("regression bootstrap", &X, &y, 0, TIDE_TREE_SQUARED_ERROR, 7, 4, 3000, 256);
  agree("regression 32 bins", &X, &y, 0, TIDE_TREE_SQUARED_ERROR, 6, 5, 0, 32);
  agree("gini 4 classes", &X, &yc, 4, TIDE_TREE_GINI, 6, 5, 0, 256);
  agree("entropy 4 classes", &X, &yc, 4, TIDE_TREE_ENTROPY, 6, 5, 0, 256);
  agree("gini bootstrap of 2000", &X, &yc, 4, TIDE_TREE_GINI, 6, 5, 2000, 256);
  agree("entropy 16 bins", &X, &yc, 4, TIDE_TREE_ENTROPY, 5, 5, 0, 16);
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&yc);
  /* two classes: the bounds' corner enumeration */
  tide_Array X2, y2, c2;
  mkdata(&X2, &y2, &c2, 2000, 4, 0);
  double *c = (double *)c2.data;
  for (int64_t i = 0; i < 2000; i++) c[i] = c[i] < 5 ? 0 : 3;
  agree("gini 2 classes", &X2, &c2, 2, TIDE_TREE_GINI, 7, 3, 0, 256);
  tide_array_close(&X2);
  tide_array_close(&y2);
  tide_array_close(&c2);
}

/* A split anyone can check: x = 1 2 3 10 11 12, y = 0 0 0 1 1 1. */
static void test_small(void) {
  int64_t shape[2] = {6, 1};
  tide_Array X, y;
  tide_array_new(&X, TIDE_F64, 2, shape, TIDE_WHERE_HEAP);
  tide_array_new(&y, TIDE_F64, 1, shape, TIDE_WHERE_HEAP);
  double xs[6] = {3, 1, 12, 2, 11, 10}, ys[6] = {0, 0, 1, 0, 1, 1};
  memcpy(X.data, xs, sizeof xs);
  memcpy(y.data, ys, sizeof ys);
  tide_Rows rows = tide_rows_all(6);
  uint8_t codes[6];
  CHECK_EQ_INT(tide_tree_bins(&X, &rows, 256, codes), TIDE_OK);
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++)
      if (xs[i] < xs[j]) CHECK(codes[i] < codes[j]);
  tide_TreeOpts o = {0};
  o.min_samples_split = 2;
  o.min_samples_leaf = 1;
  o.max_features = 1;
  o.exact = 1;
  tide_Tree t;
  CHECK_EQ_INT(tide_tree_fit(&X, &y, &rows, codes, &o, &t), TIDE_OK);
  CHECK_EQ_INT(t.n_nodes, 3);
  CHECK_EQ_INT(t.n_leaves, 2);
  CHECK_EQ_INT(t.depth, 1);
  CHECK_EQ_INT(t.nodes[0].feature, 0);
  CHECK_NEAR(t.nodes[0].value, 6.5, 0);
  CHECK_NEAR(t.nodes[t.nodes[0].left].value, 0, 0);
  CHECK_NEAR(t.nodes[t.nodes[0].left + 1].value, 1, 0);
  CHECK_NEAR(t.importances[0], 1, 0);
  /* prediction, and damaged trees: an error, never a wild read */
  tide_TreeView v = {t.nodes, t.n_nodes, NULL, t.n_leaves};
  double out[6];
  CHECK_EQ_INT(tide_forest_predict(&v, 1, 0, &X, &rows, out), TIDE_OK);
  for (int i = 0; i < 6; i++) CHECK_NEAR(out[i], ys[i], 0);
  t.nodes[0].left = 0; /* a cycle */
  CHECK_EQ_INT(tide_forest_predict(&v, 1, 0, &X, &rows, out), TIDE_EINVAL);
  CHECK_STR_HAS(tide_lasterror(), "damaged");
  t.nodes[0].left = 5; /* past the end */
  CHECK_EQ_INT(tide_forest_predict(&v, 1, 0, &X, &rows, out), TIDE_EINVAL);
  t.nodes[0].left = 1;
  t.nodes[0].feature = 3; /* no such feature */
  CHECK_EQ_INT(tide_forest_predict(&v, 1, 0, &X, &rows, out), TIDE_EINVAL);
  tide_tree_free(&t);
  /* max_depth 0 on one value: a single leaf, importances all 0 */
  double same[6] = {4, 4, 4, 4, 4, 4};
  memcpy(X.data, same, sizeof same);
  CHECK_EQ_INT(tide_tree_bins(&X, &rows, 256, codes), TIDE_OK);
  CHECK_EQ_INT(tide_tree_fit(&X, &y, &rows, codes, &o, &t), TIDE_OK);
  CHECK_EQ_INT(t.n_nodes, 1);
  CHECK_NEAR(t.nodes[0].value, 0.5, 0);
  CHECK_NEAR(t.importances[0], 0, 0);
  tide_tree_free(&t);
  /* bad options and bins */
  o.max_features = 2;
  CHECK_EQ_INT(tide_tree_fit(&X, &y, &rows, codes, &o, &t), TIDE_EINVAL);
  CHECK_EQ_INT(tide_tree_bins(&X, &rows, 300, codes), TIDE_EINVAL);
  tide_array_close(&X);
  tide_array_close(&y);
}

/* Bootstrap streams: a tree's sample depends on (seed, stream) only; the
** out-of-bag sums count each tree once per row it left out. */
static void test_bootstrap_oob(void) {
  uint32_t a[500], b[500], c[500];
  tide_tree_bootstrap(1, 2, 500, 500, a);
  tide_tree_bootstrap(1, 2, 500, 500, b);
  tide_tree_bootstrap(1, 3, 500, 500, c);
  int64_t sa = 0, same = 1, diff = 0;
  for (int i = 0; i < 500; i++) {
    sa += a[i];
    same &= a[i] == b[i];
    diff += a[i] != c[i];
  }
  CHECK_EQ_INT(sa, 500);
  CHECK(same);
  CHECK(diff > 100);
  tide_tree_bootstrap(1, 2, 500, 40, a);
  sa = 0;
  for (int i = 0; i < 500; i++) sa += a[i];
  CHECK_EQ_INT(sa, 40);

  tide_Array X, y, yc;
  mkdata(&X, &y, &yc, 500, 3, 0);
  tide_Rows rows = tide_rows_all(500);
  uint8_t *codes = malloc(1500);
  tide_tree_bins(&X, &rows, 256, codes);
  tide_TreeOpts o = {0};
  o.min_samples_split = 2;
  o.min_samples_leaf = 1;
  o.max_features = 2;
  o.exact = 1;
  o.count_rows = 1;
  o.seed = 9;
  o.n_draw = 500;
  tide_Tree t[3];
  tide_TreeView v[3];
  uint64_t streams[3] = {1, 2, 3};
  for (int k = 0; k < 3; k++) {
    o.stream = streams[k];
    CHECK_EQ_INT(tide_tree_fit(&X, &y, &rows, codes, &o, &t[k]), TIDE_OK);
    v[k] = (tide_TreeView){t[k].nodes, t[k].n_nodes, NULL, t[k].n_leaves};
  }
  double sum[500] = {0}, one[500];
  int64_t cnt[500] = {0};
  CHECK_EQ_INT(tide_forest_oob(v, 3, 0, 9, streams, 500, &X, &rows, sum, cnt), TIDE_OK);
  int ok = 1;
  for (int k = 0; k < 3; k++) {
    tide_tree_bootstrap(9, streams[k], 500, 500, a);
    CHECK_EQ_INT(tide_forest_predict(&v[k], 1, 0, &X, &rows, one), TIDE_OK);
    for (int i = 0; i < 500; i++)
      if (a[i] == 0) sum[i] -= one[i], cnt[i]--;
  }
  for (int i = 0; i < 500; i++) ok &= cnt[i] == 0 && fabs(sum[i]) < 1e-9;
  CHECK(ok);
  /* a fully grown bootstrap tree reproduces every row it drew */
  tide_tree_bootstrap(9, 1, 500, 500, a);
  CHECK_EQ_INT(tide_forest_predict(&v[0], 1, 0, &X, &rows, one), TIDE_OK);
  ok = 1;
  for (int i = 0; i < 500; i++)
    if (a[i]) ok &= fabs(one[i] - ((double *)y.data)[i]) < 1e-12; /* (3 y) / 3 */
  CHECK(ok);
  for (int k = 0; k < 3; k++) tide_tree_free(&t[k]);
  free(codes);
  tide_array_close(&X);
  tide_array_close(&y);
  tide_array_close(&yc);
}

int main(void) {
  test_small();
  test_agreement();
  test_bootstrap_oob();
  printf("%d passed, %d failed\n", check_pass, check_fail);
  return check_fail ? 1 : 0;
}
