/*
** l_models_knn.c -- k-NN kernels for lua/tide/models_knn.lua: the index
** (centre and largest squared norm of the training rows: the norms
** themselves are computed tile by tile during a search), neighbour queries,
** regression and votes.  Training data stays the caller's X (+ rows).
*/
#include <stdlib.h>
#include <string.h>

#include "knn.h"
#include "models_bind.h"

void tideM_open_knn(lua_State *L);

/* A contiguous f64 vector of n entries at stack index i, else raises. */
static const double *checkvec(lua_State *L, int i, int64_t n, const char *what) {
  tide_Array *a = tideL_check(L, i);
  if (a->ndim != 1 || a->dtype != TIDE_F64 || a->shape[0] != n || (n > 1 && a->strides[0] != 8))
    luaL_error(L, "knn: %s must be an f64 vector of %d entries (was the model changed?)", what,
               (int)n);
  return (const double *)a->data;
}

/* knn_index(X, y|nil, {rows}) -> centre, largest squared norm, number of rows.
** No norm per row is kept: 8 bytes a row, in every worker of a search. */
static int k_index(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = lua_isnoneornil(L, 2) ? NULL : tideL_check(L, 2);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->ndim ? X->shape[0] : 0, &r);
  if (X->ndim == 2) tideM_checkmap(L, 3, "xmap", X->shape[1], &r);
  int rc = tide_check_xy(X, y, NULL, &r, "fit");
  if (rc) return tideL_raise(L, rc);
  if (X->shape[1] == 0) return luaL_error(L, "fit: X has no features");
  double *c = tideM_newvec(L, X->shape[1], NULL);
  double xmax2 = 0;
  rc = tide_knn_centre(X, &r, c, &xmax2);
  if (rc) return tideL_raise(L, rc);
  lua_pushnumber(L, xmax2);
  lua_pushinteger(L, (lua_Integer)r.n);
  return 3;
}

/* knn_tree(X, centre, {rows}) -> {perm =, nodes =, bounds =}: a KD-tree
** over the training rows (positions, never coordinates) */
static int k_tree(lua_State *L) {
  tide_Array *X = tideL_check(L, 1);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional");
  tide_KnnIndex ix;
  memset(&ix, 0, sizeof ix);
  ix.X = X;
  tideM_checkrows(L, 3, "rows", X->shape[0], &ix.rows);
  tideM_checkmap(L, 3, "xmap", X->shape[1], &ix.rows);
  ix.centre = checkvec(L, 2, X->shape[1], "the centre");
  int64_t n = ix.rows.n, nn = tide_knn_tree_nodes(n), p = X->shape[1];
  int64_t ns[2] = {nn, 3}, bs[2] = {nn, 2 * p};
  lua_createtable(L, 0, 3);
  tide_Array *pa = tideL_push(L);
  int rc = tide_array_new(pa, TIDE_I64, 1, &n, TIDE_WHERE_AUTO);
  if (rc) return tideL_raise(L, rc);
  lua_setfield(L, -2, "perm");
  tide_Array *na = tideL_push(L);
  if ((rc = tide_array_new(na, TIDE_I64, 2, ns, TIDE_WHERE_AUTO))) return tideL_raise(L, rc);
  lua_setfield(L, -2, "nodes");
  tide_Array *ba = tideL_push(L);
  if ((rc = tide_array_new(ba, TIDE_F64, 2, bs, TIDE_WHERE_AUTO))) return tideL_raise(L, rc);
  lua_setfield(L, -2, "bounds");
  rc = tide_knn_tree_build(&ix, (int64_t *)pa->data, (int64_t *)na->data, (double *)ba->data);
  return rc ? tideL_raise(L, rc) : 1;
}

/* knn_classes(y, {rows}) -> sorted distinct labels, in y's dtype */
static int k_classes(lua_State *L) {
  tide_Array *y = tideL_check(L, 1);
  tide_Rows r;
  tideM_checkrows(L, 2, "rows", y->ndim ? y->shape[0] : 0, &r);
  tide_Array *a = tideL_push(L); /* first, so that nothing leaks if it raises */
  double *c;
  int64_t nc;
  int rc = tide_knn_classes(y, &r, &c, &nc);
  if (rc) return tideL_raise(L, rc);
  rc = tide_array_new(a, y->dtype, 1, &nc, TIDE_WHERE_AUTO);
  for (int64_t i = 0; !rc && i < nc; i++)
    tide_store_f64(a->dtype, a->data + i * a->strides[0], c[i]);
  free(c);
  return rc ? tideL_raise(L, rc) : 1;
}

/* Reads the common arguments: X, centre, the largest squared norm (or,
** from a model fitted before it was kept alone, the norms) at 1..3, the query array
** at qi and the options table at oi ({train_rows =, rows =, k =}). */
typedef struct Args {
  tide_KnnIndex ix;
  tide_KnnTree tree;
  tide_Array *Q;
  tide_Rows qrows;
  int64_t k;
} Args;

static void check_args(lua_State *L, int qi, int oi, const char *fname, Args *a) {
  tide_Array *X = tideL_check(L, 1);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional");
  luaL_checktype(L, oi, LUA_TTABLE);
  memset(a, 0, sizeof *a);
  a->ix.X = X;
  tideM_checkrows(L, oi, "train_rows", X->shape[0], &a->ix.rows);
  tideM_checkmap(L, oi, "train_xmap", X->shape[1], &a->ix.rows);
  a->ix.centre = checkvec(L, 2, X->shape[1], "the centre");
  if (lua_type(L, 3) == LUA_TNUMBER) a->ix.xmax2 = lua_tonumber(L, 3);
  else a->ix.norms = checkvec(L, 3, a->ix.rows.n, "the norms");
  lua_getfield(L, oi, "tree"); /* {perm, nodes, bounds} from knn_tree, or nil */
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    lua_getfield(L, t, "perm");
    lua_getfield(L, t, "nodes");
    lua_getfield(L, t, "bounds");
    tide_Array *pa = tideL_check(L, t + 1), *na = tideL_check(L, t + 2), *ba = tideL_check(L, t + 3);
    int64_t nn = na->ndim == 2 ? na->shape[0] : -1;
    if (pa->dtype != TIDE_I64 || pa->ndim != 1 || pa->shape[0] != a->ix.rows.n ||
        !tide_array_is_c_contiguous(pa) || na->dtype != TIDE_I64 ||
        nn != tide_knn_tree_nodes(a->ix.rows.n) ||
        na->shape[1] != 3 || !tide_array_is_c_contiguous(na) || ba->dtype != TIDE_F64 ||
        ba->ndim != 2 || ba->shape[0] != nn || ba->shape[1] != 2 * X->shape[1] ||
        !tide_array_is_c_contiguous(ba))
      luaL_error(L, "knn: the tree does not match the training rows (was the model changed?)");
    a->tree.nnodes = nn;
    a->tree.perm = (const int64_t *)pa->data;
    a->tree.node = (const int64_t *)na->data;
    a->tree.bound = (const double *)ba->data;
    a->ix.tree = &a->tree; /* the arrays stay on the stack */
  }
  a->Q = tideL_check(L, qi);
  if (a->Q->ndim != 2)
    luaL_error(L, "bad argument #1 to '%s' (X must be 2-dimensional (rows x features), got %d "
               "dimension(s))", fname, a->Q->ndim);
  if (a->Q->shape[1] != X->shape[1])
    luaL_error(L, "bad argument #1 to '%s' (X has %d features, but the model was fitted on %d)",
               fname, (int)a->Q->shape[1], (int)X->shape[1]);
  tideM_checkrows(L, oi, "rows", a->Q->shape[0], &a->qrows);
  tideM_checkmap(L, oi, "xmap", a->Q->shape[1], &a->qrows);
  if (a->qrows.n > 0) {
    int rc = tide_check_xy(a->Q, NULL, NULL, &a->qrows, fname);
    if (rc) tideL_raise(L, rc);
  }
  a->k = tideL_optint(L, oi, "k", 5);
  if (a->k < 1 || a->k > a->ix.rows.n)
    luaL_error(L, "%s: k = %I must be between 1 and the %I training rows", fname,
               (lua_Integer)a->k, (lua_Integer)a->ix.rows.n);
}

/* knn_kneighbors(X, centre, xmax2, Q, {train_rows, rows, k}) -> dist, idx (1-based) */
static int k_kneighbors(lua_State *L) {
  Args a;
  check_args(L, 4, 5, "kneighbors", &a);
  int64_t shape[2] = {a.qrows.n, a.k};
  tide_Array *D = tideL_push(L);
  int rc = tide_array_new(D, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
  if (rc) return tideL_raise(L, rc);
  tide_Array *I = tideL_push(L);
  if ((rc = tide_array_new(I, TIDE_I64, 2, shape, TIDE_WHERE_AUTO))) return tideL_raise(L, rc);
  int64_t *idx = (int64_t *)I->data;
  rc = tide_knn_kneighbors(&a.ix, a.Q, &a.qrows, a.k, (double *)D->data, idx);
  if (rc) return tideL_raise(L, rc);
  for (int64_t m = 0; m < shape[0] * shape[1]; m++) idx[m] += 1;
  return 2;
}

static tide_Array *check_y(lua_State *L, int i, int64_t n) {
  tide_Array *y = tideL_check(L, i);
  int ok = (y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1)) && y->shape[0] == n;
  if (!ok) luaL_error(L, "knn: y must be a vector of %d entries", (int)n);
  return y;
}

/* knn_regress(X, centre, xmax2, y, Q, {train_rows, rows, k, distance}) -> yhat */
static int k_regress(lua_State *L) {
  Args a;
  check_args(L, 5, 6, "predict", &a);
  tide_Array *y = check_y(L, 4, a.ix.X->shape[0]);
  double *out = tideM_newvec(L, a.qrows.n, NULL);
  int rc = tide_knn_regress(&a.ix, y, a.Q, &a.qrows, a.k, tideL_optbool(L, 6, "distance", 0),
                            out);
  return rc ? tideL_raise(L, rc) : 1;
}

/* knn_classify(X, centre, xmax2, y, classes, Q, {train_rows, rows, k,
** distance, proba}) -> labels (classes' dtype) [, proba (n x classes)] */
static int k_classify(lua_State *L) {
  Args a;
  check_args(L, 6, 7, "predict", &a);
  tide_Array *y = check_y(L, 4, a.ix.X->shape[0]);
  tide_Array *ca = tideL_check(L, 5);
  luaL_argcheck(L, ca->ndim == 1 && ca->shape[0] > 0, 5, "classes must be a vector");
  int64_t nc = ca->shape[0];
  /* the kernel votes over labels as doubles; the labels go back in
  ** classes' dtype (y's), so integer labels stay integers */
  double *cls = lua_newuserdatauv(L, (size_t)nc * sizeof *cls, 0);
  for (int64_t c = 0; c < nc; c++) cls[c] = tide_load_f64(ca->dtype, ca->data + c * ca->strides[0]);
  tide_Array *labels = tideL_push(L);
  int rc = tide_array_new(labels, ca->dtype, 1, &a.qrows.n, TIDE_WHERE_AUTO);
  if (rc) return tideL_raise(L, rc);
  double *pred = lua_newuserdatauv(L, (size_t)(a.qrows.n ? a.qrows.n : 1) * sizeof *pred, 0);
  lua_insert(L, -2); /* the labels on top: they are the first result */
  double *proba = NULL;
  int want = tideL_optbool(L, 7, "proba", 0);
  if (want) {
    int64_t shape[2] = {a.qrows.n, nc};
    tide_Array *P = tideL_push(L);
    rc = tide_array_new(P, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
    if (rc) return tideL_raise(L, rc);
    proba = (double *)P->data;
  }
  rc = tide_knn_classify(&a.ix, y, cls, nc, a.Q, &a.qrows, a.k,
                         tideL_optbool(L, 7, "distance", 0), pred, proba);
  if (rc) return tideL_raise(L, rc);
  for (int64_t i = 0; i < a.qrows.n; i++)
    tide_store_f64(labels->dtype, labels->data + i * labels->strides[0], pred[i]);
  return want ? 2 : 1;
}

/* knn_reduce(dist, idx, y, {k, distance, classes, proba}): predictions from
** neighbour lists (dist and 1-based idx, n x kk, from knn_kneighbors at
** kk >= k) -> yhat, or labels (classes' dtype) [, proba] with classes */
static int k_reduce(lua_State *L) {
  tide_Array *D = tideL_check(L, 1), *I = tideL_check(L, 2), *y = tideL_check(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_argcheck(L, D->ndim == 2 && D->dtype == TIDE_F64 && tide_array_is_c_contiguous(D), 1,
                "distances must be a contiguous f64 matrix");
  luaL_argcheck(L, I->ndim == 2 && I->dtype == TIDE_I64 && tide_array_is_c_contiguous(I) &&
                I->shape[0] == D->shape[0] && I->shape[1] == D->shape[1], 2,
                "indices must be a contiguous i64 matrix like the distances");
  int64_t nq = D->shape[0], kk = D->shape[1], n = y->shape[0];
  int64_t k = tideL_optint(L, 4, "k", kk);
  const int64_t *row = (const int64_t *)I->data; /* 1-based: read in place */
  for (int64_t m = 0; m < nq * kk; m++)
    if (row[m] < 1 || row[m] > n) return luaL_error(L, "knn_reduce: row %I out of range", (lua_Integer)row[m]);
  int weighted = tideL_optbool(L, 4, "distance", 0);
  lua_getfield(L, 4, "classes");
  tide_Array *ca = lua_isnil(L, -1) ? NULL : tideL_check(L, lua_gettop(L));
  if (!ca) {
    double *out = tideM_newvec(L, nq, NULL);
    int rc = tide_knn_reduce(y, (const double *)D->data, row, 1, nq, kk, k, weighted, NULL, 0, out,
                             NULL);
    return rc ? tideL_raise(L, rc) : 1;
  }
  int64_t nc = ca->shape[0];
  double *cls = lua_newuserdatauv(L, (size_t)(nc ? nc : 1) * sizeof *cls, 0);
  for (int64_t c = 0; c < nc; c++) cls[c] = tide_load_f64(ca->dtype, ca->data + c * ca->strides[0]);
  double *pred = lua_newuserdatauv(L, (size_t)(nq ? nq : 1) * sizeof *pred, 0);
  tide_Array *labels = tideL_push(L);
  int rc = tide_array_new(labels, ca->dtype, 1, &nq, TIDE_WHERE_AUTO);
  if (rc) return tideL_raise(L, rc);
  double *proba = NULL;
  int want = tideL_optbool(L, 4, "proba", 0);
  if (want) {
    int64_t shape[2] = {nq, nc};
    tide_Array *P = tideL_push(L);
    if ((rc = tide_array_new(P, TIDE_F64, 2, shape, TIDE_WHERE_AUTO))) return tideL_raise(L, rc);
    proba = (double *)P->data;
  }
  rc = tide_knn_reduce(y, (const double *)D->data, row, 1, nq, kk, k, weighted, cls, nc, pred,
                       proba);
  if (rc) return tideL_raise(L, rc);
  for (int64_t i = 0; i < nq; i++)
    tide_store_f64(labels->dtype, labels->data + i * labels->strides[0], pred[i]);
  return want ? 2 : 1;
}

void tideM_open_knn(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"knn_index", k_index}, {"knn_classes", k_classes}, {"knn_kneighbors", k_kneighbors},
    {"knn_regress", k_regress}, {"knn_classify", k_classify}, {"knn_reduce", k_reduce},
    {"knn_tree", k_tree}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
