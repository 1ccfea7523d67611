/*
** l_models_tree.c -- tree kernels for lua/tide/models_tree.lua: bins, the
** classes of a target, one tree's fit, prediction over a list of trees,
** out-of-bag sums and a tree's nodes as scikit-learn-like arrays.
**
** A fitted tree is a Lua table {nodes = u8 array, n_nodes =, n_leaves =,
** depth =, importances =}: nodes holds n_nodes tide_TreeNode structs (16
** bytes each) and, for classifiers, n_leaves x nclass f64 class fractions
** after them, one block that crosses the codec as it is.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_bind.h"
#include "tree.h"

void tideM_open_tree(lua_State *L);

/* Pushes a new array of dtype dt and shape (n) or (n, m) (m > 0). */
static tide_Array *newarr(lua_State *L, int dt, int64_t n, int64_t m) {
  int64_t shape[2] = {n, m};
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, m > 0 ? 2 : 1, shape, TIDE_WHERE_AUTO);
  if (rc) tideL_raise(L, rc);
  return a;
}

static tide_Array *check_X(lua_State *L, int i, const char *fname) {
  tide_Array *X = tideL_check(L, i);
  if (X->ndim != 2)
    luaL_error(L, "bad argument #1 to '%s' (X must be 2-dimensional (rows x features), got %d "
               "dimension(s))", fname, X->ndim);
  return X;
}

/* tree_bins(X, y | nil, {rows =, max_bins = 256}) -> codes (u8, p x n):
** also checks X (and y) on the rows, as every fit starts here. */
static int k_bins(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = lua_isnoneornil(L, 2) ? NULL : tideL_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->ndim ? X->shape[0] : 0, &r);
  int rc = tide_check_xy(X, y, NULL, &r, "fit");
  if (rc) return tideL_raise(L, rc);
  if (r.n == 0) return luaL_error(L, "fit: no rows to fit");
  if (X->shape[1] == 0) return luaL_error(L, "fit: X has no features");
  lua_Integer mb = tideL_optint(L, 3, "max_bins", TIDE_TREE_MAX_BINS);
  if (mb < 2 || mb > TIDE_TREE_MAX_BINS)
    return luaL_error(L, "max_bins must be between 2 and %d, got %I", TIDE_TREE_MAX_BINS, mb);
  tide_Array *C = newarr(L, TIDE_U8, X->shape[1], r.n);
  if ((rc = tide_tree_bins(X, &r, (int)mb, C->data))) return tideL_raise(L, rc);
  return 1;
}

/* tree_classes(y, {rows =, name =}) -> the sorted labels, in y's dtype.
** Refuses labels that are not whole numbers, as scikit-learn refuses a
** continuous target. */
static int k_classes(lua_State *L) {
  tide_Array *y = tideL_check(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  const char *name = tideL_optstr(L, 2, "name", "tree");
  if (!(y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1)))
    return luaL_error(L, "%s: y must be a vector", name);
  tide_Rows r;
  tideM_checkrows(L, 2, "rows", y->shape[0], &r);
  tide_Array *a = tideL_push(L); /* first, so that nothing leaks if it raises */
  double *c;
  int64_t nc;
  int rc = tide_classes(y, &r, 0, name, &c, &nc);
  if (rc) return tideL_raise(L, rc);
  for (int64_t k = 0; k < nc; k++)
    if (!isfinite(c[k]) || c[k] != floor(c[k])) {
      char v[32];
      snprintf(v, sizeof v, "%.17g", c[k]);
      free(c);
      return luaL_error(L, "%s: unknown label type: continuous (y holds %s; classifiers take "
                        "whole-number labels)", name, v);
    }
  if (nc == 0) {
    free(c);
    return luaL_error(L, "%s: no rows to fit", name);
  }
  rc = tide_array_new(a, y->dtype, 1, &nc, TIDE_WHERE_AUTO);
  if (!rc)
    for (int64_t k = 0; k < nc; k++) tide_store_f64(a->dtype, a->data + k * a->strides[0], c[k]);
  free(c);
  return rc ? tideL_raise(L, rc) : 1;
}

/* The classes at index i as f64 numbers in a userdata (pushed). */
static const double *classes_f64(lua_State *L, int i, int64_t *nc) {
  tide_Array *ca = tideL_check(L, i);
  if (ca->ndim != 1 || ca->shape[0] < 1) luaL_error(L, "tree: classes must be a vector");
  *nc = ca->shape[0];
  double *c = lua_newuserdatauv(L, (size_t)*nc * sizeof *c, 0);
  for (int64_t k = 0; k < *nc; k++) c[k] = tide_load_f64(ca->dtype, ca->data + k * ca->strides[0]);
  for (int64_t k = 1; k < *nc; k++)
    if (!(c[k - 1] < c[k])) luaL_error(L, "tree: classes must be sorted and distinct");
  return c;
}

static int criterion_of(lua_State *L, const char *s, int classifier) {
  if (!classifier) {
    if (strcmp(s, "squared_error") == 0) return TIDE_TREE_SQUARED_ERROR;
    return luaL_error(L, "criterion must be \"squared_error\", got \"%s\"", s);
  }
  if (strcmp(s, "gini") == 0) return TIDE_TREE_GINI;
  if (strcmp(s, "entropy") == 0 || strcmp(s, "log_loss") == 0) return TIDE_TREE_ENTROPY;
  return luaL_error(L, "criterion must be \"gini\", \"entropy\" or \"log_loss\", got \"%s\"", s);
}

static int t_gc(lua_State *L) {
  tide_tree_free(lua_touserdata(L, 1));
  return 0;
}

/* tree_fit(X, y, codes, {rows =, classes =, criterion =, max_depth = 0,
**   min_samples_split = 2, min_samples_leaf = 1, max_features = p,
**   min_impurity_decrease = 0, exact = true, count_rows = false, seed = 0,
**   n_draw = 0} [, stream]) -> {nodes, n_nodes, n_leaves, depth, importances}
** X and y were checked by tree_bins (which made codes on the same rows). */
static int k_fit(lua_State *L) {
  tide_Array *X = check_X(L, 1, "fit"), *y = tideL_check(L, 2), *C = tideL_check(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  uint64_t stream = (uint64_t)luaL_optinteger(L, 5, 0);
  lua_settop(L, 4);
  tide_Rows r;
  tideM_checkrows(L, 4, "rows", X->shape[0], &r);
  int64_t p = X->shape[1];
  if (!(y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1)) || y->shape[0] != X->shape[0])
    return luaL_error(L, "tree: y must be a vector of %d entries", (int)X->shape[0]);
  if (C->dtype != TIDE_U8 || C->ndim != 2 || C->shape[0] != p || C->shape[1] != r.n ||
      !tide_array_is_c_contiguous(C))
    return luaL_error(L, "tree: codes must be the p x n u8 bins of tree_bins on these rows");
  tide_TreeOpts o;
  memset(&o, 0, sizeof o);
  lua_getfield(L, 4, "classes");
  int classifier = !lua_isnil(L, -1);
  if (classifier) o.classes = classes_f64(L, lua_gettop(L), &o.nclass);
  o.criterion = criterion_of(L, tideL_optstr(L, 4, "criterion", classifier ? "gini" : "squared_error"),
                             classifier);
  o.max_depth = tideL_optint(L, 4, "max_depth", 0);
  o.min_samples_split = tideL_optint(L, 4, "min_samples_split", 2);
  o.min_samples_leaf = tideL_optint(L, 4, "min_samples_leaf", 1);
  o.max_features = tideL_optint(L, 4, "max_features", p);
  o.min_impurity_decrease = tideL_optnum(L, 4, "min_impurity_decrease", 0);
  o.exact = tideL_optbool(L, 4, "exact", 1);
  o.count_rows = tideL_optbool(L, 4, "count_rows", 0);
  o.seed = (uint64_t)tideL_optint(L, 4, "seed", 0);
  o.n_draw = tideL_optint(L, 4, "n_draw", 0);
  o.stream = stream;
  if (o.max_features < 1 || o.max_features > p)
    return luaL_error(L, "max_features = %I must be between 1 and the %I features",
                      (lua_Integer)o.max_features, (lua_Integer)p);
  if (o.max_depth < 0 || o.min_samples_split < 2 || o.min_samples_leaf < 1 || o.n_draw < 0 ||
      !(o.min_impurity_decrease >= 0))
    return luaL_error(L, "tree: bad options (max_depth %I, min_samples_split %I, "
                      "min_samples_leaf %I, n_draw %I)", (lua_Integer)o.max_depth,
                      (lua_Integer)o.min_samples_split, (lua_Integer)o.min_samples_leaf,
                      (lua_Integer)o.n_draw);
  /* the fitted tree lives in a userdata with __gc until copied out */
  tide_Tree *t = lua_newuserdatauv(L, sizeof *t, 0);
  memset(t, 0, sizeof *t);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, t_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int holder = lua_gettop(L);
  int rc = tide_tree_fit(X, y, &r, C->data, &o, t);
  if (rc) return tideL_raise(L, rc);
  lua_createtable(L, 0, 5);
  int64_t nb = t->n_nodes * (int64_t)sizeof(tide_TreeNode) +
               (o.nclass ? t->n_leaves * o.nclass * (int64_t)sizeof(double) : 0);
  tide_Array *a = newarr(L, TIDE_U8, nb, 0);
  memcpy(a->data, t->nodes, (size_t)t->n_nodes * sizeof(tide_TreeNode));
  if (o.nclass)
    memcpy(a->data + t->n_nodes * (int64_t)sizeof(tide_TreeNode), t->values,
           (size_t)(t->n_leaves * o.nclass) * sizeof(double));
  lua_setfield(L, -2, "nodes");
  lua_pushinteger(L, (lua_Integer)t->n_nodes);
  lua_setfield(L, -2, "n_nodes");
  lua_pushinteger(L, (lua_Integer)t->n_leaves);
  lua_setfield(L, -2, "n_leaves");
  lua_pushinteger(L, (lua_Integer)t->depth);
  lua_setfield(L, -2, "depth");
  a = newarr(L, TIDE_F64, p, 0);
  memcpy(a->data, t->importances, (size_t)p * sizeof(double));
  lua_setfield(L, -2, "importances");
  tide_tree_free(t);
  lua_remove(L, holder);
  return 1;
}

/* Reads the fitted tree table at index i into v (its nodes array stays
** referenced by the table, which the caller keeps on the stack). */
static void check_tree(lua_State *L, int i, int64_t nclass, int64_t t, tide_TreeView *v) {
  if (!lua_istable(L, i)) luaL_error(L, "tree %d: a fitted tree table expected", (int)t + 1);
  lua_getfield(L, i, "nodes");
  tide_Array *a = tideL_test(L, -1);
  if (!a) luaL_error(L, "tree %d: nodes must be an array (was the model changed?)", (int)t + 1);
  tideL_check(L, lua_gettop(L));
  lua_pop(L, 1); /* the table keeps it */
  int64_t nn = tideL_optint(L, i, "n_nodes", -1), nl = tideL_optint(L, i, "n_leaves", -1);
  /* the counts are the caller's: bounded before the bytes are computed */
  int64_t need = -1, vbytes, nbytes;
  bool ok = nn >= 1 && nn <= INT32_MAX && nl >= 1 && nl <= nn && nclass >= 0 &&
            !__builtin_mul_overflow(nl, nclass, &vbytes) &&
            !__builtin_mul_overflow(vbytes, 8, &vbytes) &&
            !__builtin_add_overflow(nn * (int64_t)sizeof(tide_TreeNode), vbytes, &nbytes);
  if (ok) need = nbytes;
  if (a->dtype != TIDE_U8 || a->ndim != 1 || !tide_array_is_c_contiguous(a) || need < 0 ||
      a->shape[0] != need || ((uintptr_t)a->data & 7) != 0)
    luaL_error(L, "tree %d: its nodes do not match n_nodes and n_leaves (was the model "
               "changed?)", (int)t + 1);
  v->nodes = (const tide_TreeNode *)a->data;
  v->n_nodes = nn;
  v->n_leaves = nl;
  v->values = nclass ? (const double *)(a->data + nn * (int64_t)sizeof(tide_TreeNode)) : NULL;
}

/* The trees of the list at index i, as views in a userdata (pushed). */
static tide_TreeView *check_trees(lua_State *L, int i, int64_t nclass, int64_t *nt) {
  luaL_checktype(L, i, LUA_TTABLE);
  *nt = (int64_t)luaL_len(L, i);
  if (*nt < 1) luaL_error(L, "tree: no trees");
  tide_TreeView *v = lua_newuserdatauv(L, (size_t)*nt * sizeof *v, 0);
  for (int64_t t = 0; t < *nt; t++) {
    lua_geti(L, i, t + 1);
    check_tree(L, lua_gettop(L), nclass, t, &v[t]);
    lua_pop(L, 1);
  }
  return v;
}

static void check_query(lua_State *L, tide_Array *X, int64_t p, const tide_Rows *r,
                        const char *fname) {
  if (X->shape[1] != p)
    luaL_error(L, "bad argument #1 to '%s' (X has %d features, but the model was fitted on %d)",
               fname, (int)X->shape[1], (int)p);
  if (r->n > 0) {
    int rc = tide_check_xy(X, NULL, NULL, r, fname);
    if (rc) tideL_raise(L, rc);
  }
}

/* tree_predict(trees, X, {rows =, n_features =, classes =, mode = "value" |
** "proba" | "class"}) -> n values (regression), n x k class fractions, or
** n labels in classes' dtype (the most probable; ties to the lowest). */
static int k_predict(lua_State *L) {
  tide_Array *X = check_X(L, 2, "predict");
  luaL_checktype(L, 3, LUA_TTABLE);
  const char *mode = tideL_optstr(L, 3, "mode", "value");
  int64_t p = tideL_optint(L, 3, "n_features", X->shape[1]), nc = 0;
  const double *cls = NULL;
  tide_Array *ca = NULL;
  lua_getfield(L, 3, "classes");
  if (!lua_isnil(L, -1)) {
    ca = tideL_check(L, lua_gettop(L));
    cls = classes_f64(L, lua_gettop(L), &nc);
  }
  int isclass = strcmp(mode, "class") == 0, isproba = strcmp(mode, "proba") == 0;
  if (!isclass && !isproba && strcmp(mode, "value") != 0)
    return luaL_error(L, "tree_predict: mode must be \"value\", \"proba\" or \"class\"");
  if ((isclass || isproba) != (nc > 0))
    return luaL_error(L, "tree_predict: classes go with modes \"proba\" and \"class\"");
  int64_t nt;
  tide_TreeView *tv = check_trees(L, 1, nc, &nt);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->shape[0], &r);
  check_query(L, X, p, &r, "predict");
  double *out;
  if (isclass) {
    out = lua_newuserdatauv(L, (size_t)(r.n * nc + 1) * sizeof *out, 0);
  } else {
    tide_Array *a = newarr(L, TIDE_F64, r.n, isproba ? nc : 0);
    out = (double *)a->data;
  }
  int rc = tide_forest_predict(tv, nt, nc, X, &r, out);
  if (rc) return tideL_raise(L, rc);
  if (isclass) {
    tide_Array *lab = newarr(L, ca->dtype, r.n, 0);
    for (int64_t i = 0; i < r.n; i++) {
      const double *pr = out + i * nc;
      int64_t best = 0;
      for (int64_t k = 1; k < nc; k++)
        if (pr[k] > pr[best]) best = k;
      tide_store_f64(lab->dtype, lab->data + i * lab->strides[0], cls[best]);
    }
  }
  return 1;
}

/* tree_oob(trees, X, {rows =, classes =, seed =, streams = {...}, n_draw =})
** -> sums (n, or n x k), counts (i64, n): the out-of-bag predictions of
** each tree added up for the positions of the rows it did not draw. */
static int k_oob(lua_State *L) {
  tide_Array *X = check_X(L, 2, "fit");
  luaL_checktype(L, 3, LUA_TTABLE);
  int64_t nc = 0;
  lua_getfield(L, 3, "classes");
  if (!lua_isnil(L, -1)) classes_f64(L, lua_gettop(L), &nc);
  int64_t nt;
  tide_TreeView *tv = check_trees(L, 1, nc, &nt);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->shape[0], &r);
  uint64_t seed = (uint64_t)tideL_optint(L, 3, "seed", 0);
  int64_t n_draw = tideL_optint(L, 3, "n_draw", r.n);
  if (n_draw < 1) return luaL_error(L, "tree_oob: n_draw must be >= 1");
  uint64_t *streams = lua_newuserdatauv(L, (size_t)nt * sizeof *streams, 0);
  lua_getfield(L, 3, "streams");
  if (!lua_istable(L, -1) || (int64_t)luaL_len(L, -1) != nt)
    return luaL_error(L, "tree_oob: streams must list one stream per tree");
  for (int64_t t = 0; t < nt; t++) {
    lua_geti(L, -1, t + 1);
    streams[t] = (uint64_t)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  tide_Array *S = newarr(L, TIDE_F64, r.n, nc);
  tide_Array *N = newarr(L, TIDE_I64, r.n, 0);
  memset(S->data, 0, (size_t)(r.n * (nc ? nc : 1)) * sizeof(double));
  memset(N->data, 0, (size_t)r.n * sizeof(int64_t));
  int rc = tide_forest_oob(tv, nt, nc, seed, streams, n_draw, X, &r, (double *)S->data,
                           (int64_t *)N->data);
  return rc ? tideL_raise(L, rc) : 2;
}

/* tree_arrays(tree, nclass) -> {feature, threshold, children_left,
** children_right, value}: 1-based features and node numbers (0 at leaves),
** NaN thresholds at leaves, value n_nodes x max(nclass, 1) (NaN at
** internal nodes), scikit-learn's tree_ arrays in tide's numbering. */
static int k_arrays(lua_State *L) {
  int64_t nc = luaL_checkinteger(L, 2);
  tide_TreeView v;
  check_tree(L, 1, nc, 0, &v);
  int64_t nn = v.n_nodes, w = nc ? nc : 1;
  lua_createtable(L, 0, 5);
  tide_Array *F = newarr(L, TIDE_I64, nn, 0);
  lua_setfield(L, -2, "feature");
  tide_Array *T = newarr(L, TIDE_F64, nn, 0);
  lua_setfield(L, -2, "threshold");
  tide_Array *CL = newarr(L, TIDE_I64, nn, 0);
  lua_setfield(L, -2, "children_left");
  tide_Array *CR = newarr(L, TIDE_I64, nn, 0);
  lua_setfield(L, -2, "children_right");
  tide_Array *V = newarr(L, TIDE_F64, nn, w);
  lua_setfield(L, -2, "value");
  int64_t *f = (int64_t *)F->data, *cl = (int64_t *)CL->data, *cr = (int64_t *)CR->data;
  double *th = (double *)T->data, *val = (double *)V->data;
  for (int64_t i = 0; i < nn; i++) {
    const tide_TreeNode *nd = &v.nodes[i];
    for (int64_t k = 0; k < w; k++) val[i * w + k] = NAN;
    if (nd->feature >= 0) {
      f[i] = nd->feature + 1;
      th[i] = nd->value;
      cl[i] = (int64_t)nd->left + 1;
      cr[i] = (int64_t)nd->left + 2;
    } else {
      f[i] = cl[i] = cr[i] = 0;
      th[i] = NAN;
      if (!nc) val[i] = nd->value;
      else if (nd->left >= 0 && nd->left < v.n_leaves)
        memcpy(val + i * w, v.values + nd->left * nc, (size_t)nc * sizeof *val);
    }
  }
  return 1;
}

/* tree_bootstrap(seed, stream, n, n_draw) -> i64 counts (n): the sample a
** forest's tree `stream` draws from n rows. */
static int k_bootstrap(lua_State *L) {
  uint64_t seed = (uint64_t)luaL_checkinteger(L, 1), stream = (uint64_t)luaL_checkinteger(L, 2);
  int64_t n = luaL_checkinteger(L, 3), n_draw = luaL_checkinteger(L, 4);
  luaL_argcheck(L, n >= 1 && n <= (int64_t)UINT32_MAX, 3, "n must be between 1 and 2^32 - 1");
  luaL_argcheck(L, n_draw >= 1, 4, "n_draw must be >= 1");
  /* the counts live in a userdata: its bytes are admitted first (2^31
  ** rows made Lua ask for 8 GB unchecked: fuzz_api) */
  int rc = tide__admit_memory((uint64_t)n * (sizeof(uint32_t) + sizeof(int64_t)), "bootstrap counts");
  if (rc) return tideL_raise(L, rc);
  uint32_t *c = lua_newuserdatauv(L, (size_t)n * sizeof *c, 0);
  if ((rc = tide_tree_bootstrap(seed, stream, n, n_draw, c))) return tideL_raise(L, rc);
  tide_Array *a = newarr(L, TIDE_I64, n, 0);
  for (int64_t k = 0; k < n; k++) ((int64_t *)a->data)[k] = c[k];
  return 1;
}

/* tree_check(X, {rows =}): X's rows hold finite numbers (raises otherwise). */
static int k_check(lua_State *L) {
  tide_Array *X = check_X(L, 1, "predict");
  tide_Rows r;
  tideM_checkrows(L, 2, "rows", X->shape[0], &r);
  check_query(L, X, X->shape[1], &r, "predict");
  return 0;
}

void tideM_open_tree(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"tree_bins", k_bins}, {"tree_classes", k_classes}, {"tree_fit", k_fit},
    {"tree_predict", k_predict}, {"tree_oob", k_oob}, {"tree_arrays", k_arrays}, {"tree_check", k_check},
    {"tree_bootstrap", k_bootstrap},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
