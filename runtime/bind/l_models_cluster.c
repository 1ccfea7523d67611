/*
** l_models_cluster.c -- k-means and PCA kernels for
** lua/tide/models_cluster.lua: one k-means run, assignment and distances;
** the PCA fit and the maps of transform / inverse_transform.  The data
** stay the caller's X (+ rows).
*/
#include <string.h>

#include "kmeans.h"
#include "models_bind.h"
#include "pca.h"

void tideM_open_cluster(lua_State *L);

/* Argument i: a 2-D array; with p >= 0, of p columns (the model's). */
static tide_Array *check_X(lua_State *L, int i, int64_t p, const char *fname) {
  tide_Array *X = tideL_check(L, i);
  if (X->ndim != 2)
    luaL_error(L, "bad argument #1 to '%s' (X must be 2-dimensional (rows x features), got %d "
               "dimension(s))", fname, X->ndim);
  if (p >= 0 && X->shape[1] != p)
    luaL_error(L, "bad argument #1 to '%s' (X has %d features, but the model was fitted on %d)",
               fname, (int)X->shape[1], (int)p);
  if (X->shape[1] == 0) luaL_error(L, "%s: X has no features", fname);
  return X;
}

/* Argument i: a contiguous f64 array of n entries (any shape), else raises. */
static const double *check_f64(lua_State *L, int i, int64_t n, const char *what) {
  tide_Array *a = tideL_check(L, i);
  int64_t size = 1;
  for (int d = 0; d < a->ndim; d++) size *= a->shape[d];
  if (a->dtype != TIDE_F64 || size != n || !tide_array_is_c_contiguous(a))
    luaL_error(L, "%s must be a contiguous f64 array of %d entries (was the model changed?)",
               what, (int)n);
  return (const double *)a->data;
}

/* Rows of the options at o checked against X; finite values unless the
** caller checked them. */
static void check_rows(lua_State *L, int o, const tide_Array *X, const char *fname,
                       tide_Rows *r) {
  tideM_checkrows(L, o, "rows", X->shape[0], r);
  if (r->n > 0) {
    int rc = tide_check_xy(X, NULL, NULL, r, fname);
    if (rc) tideL_raise(L, rc);
  }
}

/* -------------------------------------------------------------- k-means */

/* kmeans_run(X, mean, rng, {rows, k, max_iter, tol, init = centres | nil,
** random = bool}) -> centres (k x p), inertia, n_iter, converged.  X and
** its rows were checked by the fit (column statistics). */
static int k_run(lua_State *L) {
  tide_Array *X = check_X(L, 1, -1, "fit");
  int64_t p = X->shape[1];
  tide_Rng rng = *(tide_Rng *)luaL_checkudata(L, 3, "tide.rng");
  luaL_checktype(L, 4, LUA_TTABLE);
  tide_Rows r;
  tideM_checkrows(L, 4, "rows", X->shape[0], &r);
  tide_KMeansOpts o = {0};
  o.mean = check_f64(L, 2, p, "the column means");
  o.k = tideL_optint(L, 4, "k", 8);
  o.max_iter = tideL_optint(L, 4, "max_iter", 300);
  o.tol = tideL_optnum(L, 4, "tol", 0);
  o.random_init = tideL_optbool(L, 4, "random", 0);
  if (o.k < 1 || o.k > r.n)
    return luaL_error(L, "kmeans: k = %I must be between 1 and the %I rows", (lua_Integer)o.k,
                      (lua_Integer)r.n);
  lua_getfield(L, 4, "init");
  if (!lua_isnil(L, -1)) o.init = check_f64(L, lua_gettop(L), o.k * p, "init");
  int64_t shape[2] = {o.k, p};
  tide_Array *C = tideL_push(L);
  int rc = tide_array_new(C, TIDE_F64, 2, shape, TIDE_WHERE_HEAP);
  double inertia = 0;
  int64_t n_iter = 0;
  int conv = 0;
  if (!rc) rc = tide_kmeans_run(X, &r, &o, &rng, (double *)C->data, &inertia, &n_iter, &conv);
  if (rc) return tideL_raise(L, rc);
  lua_pushnumber(L, inertia);
  lua_pushinteger(L, (lua_Integer)n_iter);
  lua_pushboolean(L, conv);
  return 4;
}

/* Centres at argument i: a k x p f64 array; returns k. */
static int64_t check_centers(lua_State *L, int i, int64_t p) {
  tide_Array *C = tideL_check(L, i);
  if (C->ndim != 2 || C->shape[1] != p || C->shape[0] < 1)
    luaL_error(L, "kmeans: the centres must be a k x %d array (was the model changed?)", (int)p);
  check_f64(L, i, C->shape[0] * p, "the centres");
  return C->shape[0];
}

/* kmeans_assign(X, centres, mean | nil, {rows, fname}) -> labels (i64,
** 1-based), inertia */
static int k_assign(lua_State *L) {
  luaL_checktype(L, 4, LUA_TTABLE);
  const char *fname = tideL_optstr(L, 4, "fname", "predict");
  tide_Array *C = tideL_check(L, 2);
  tide_Array *X = check_X(L, 1, C->ndim == 2 ? C->shape[1] : -1, fname);
  int64_t p = X->shape[1], k = check_centers(L, 2, p);
  const double *mean = lua_isnil(L, 3) ? NULL : check_f64(L, 3, p, "the column means");
  tide_Rows r;
  check_rows(L, 4, X, fname, &r);
  tide_Array *lab = tideL_push(L);
  int rc = tide_array_new(lab, TIDE_I64, 1, &r.n, TIDE_WHERE_AUTO);
  double inertia = 0;
  int64_t *lb = rc ? NULL : (int64_t *)lab->data;
  if (!rc) rc = tide_kmeans_assign(X, &r, (const double *)C->data, k, mean, lb, &inertia);
  if (rc) return tideL_raise(L, rc);
  for (int64_t i = 0; i < r.n; i++) lb[i] += 1;
  lua_pushnumber(L, inertia);
  return 2;
}

/* kmeans_distances(X, centres, {rows}) -> rows x k */
static int k_distances(lua_State *L) {
  luaL_checktype(L, 3, LUA_TTABLE);
  tide_Array *C = tideL_check(L, 2);
  tide_Array *X = check_X(L, 1, C->ndim == 2 ? C->shape[1] : -1, "transform");
  int64_t k = check_centers(L, 2, X->shape[1]);
  tide_Rows r;
  check_rows(L, 3, X, "transform", &r);
  int64_t shape[2] = {r.n, k};
  tide_Array *D = tideL_push(L);
  int rc = tide_array_new(D, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
  if (!rc) rc = tide_kmeans_distances(X, &r, (const double *)C->data, k, (double *)D->data);
  return rc ? tideL_raise(L, rc) : 1;
}

/* ------------------------------------------------------------------ PCA */

static void setvec(lua_State *L, const char *name, const double *v, int64_t n) {
  double *d = tideM_newvec(L, n, NULL);
  memcpy(d, v, (size_t)n * sizeof *d);
  lua_setfield(L, -2, name);
}

static int pca_gc(lua_State *L) {
  tide_pca_free(lua_touserdata(L, 1));
  return 0;
}

/* pca_fit(X, {rows, keep = m | 0, fraction = f | 0}) -> {mean, components,
** explained_variance, explained_variance_ratio, singular_values,
** n_components, noise_variance, n_samples, total_variance} */
static int k_pca_fit(lua_State *L) {
  tide_Array *X = check_X(L, 1, -1, "fit");
  luaL_checktype(L, 2, LUA_TTABLE);
  tide_Rows r;
  tideM_checkrows(L, 2, "rows", X->shape[0], &r);
  int rc = tide_check_xy(X, NULL, NULL, &r, "fit");
  if (rc) return tideL_raise(L, rc);
  int64_t keep = tideL_optint(L, 2, "keep", 0), lim = r.n < X->shape[1] ? r.n : X->shape[1];
  double frac = tideL_optnum(L, 2, "fraction", 0);
  if (r.n < 2) return luaL_error(L, "pca: needs at least 2 rows to fit, got %d", (int)r.n);
  if (keep > lim)
    return luaL_error(L, "pca: n_components = %I must be at most min(rows, features) = %I",
                      (lua_Integer)keep, (lua_Integer)lim);
  /* the fit's buffers belong to a userdata first, so nothing leaks if a
  ** later allocation raises */
  tide_Pca *f = lua_newuserdatauv(L, sizeof *f, 0);
  memset(f, 0, sizeof *f);
  if (luaL_newmetatable(L, "tide.pca_fit")) {
    lua_pushcfunction(L, pca_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if ((rc = tide_pca_fit(X, &r, f))) return tideL_raise(L, rc);
  int64_t m = keep > 0 ? keep : frac > 0 ? tide_pca_count(f, frac) : f->r, p = f->p;
  if ((rc = tide_pca_signs(X, &r, f, m))) return tideL_raise(L, rc);
  double noise = 0;
  for (int64_t c = m; c < f->r; c++) noise += f->var[c];
  if (m < f->r) noise /= (double)(f->r - m);
  lua_createtable(L, 0, 9);
  lua_pushinteger(L, (lua_Integer)m);
  lua_setfield(L, -2, "n_components");
  lua_pushnumber(L, noise);
  lua_setfield(L, -2, "noise_variance");
  lua_pushinteger(L, (lua_Integer)f->n);
  lua_setfield(L, -2, "n_samples");
  lua_pushnumber(L, f->total);
  lua_setfield(L, -2, "total_variance");
  setvec(L, "mean", f->mean, p);
  setvec(L, "explained_variance", f->var, m);
  setvec(L, "singular_values", f->sv, m);
  double *rv = tideM_newvec(L, m, NULL);
  for (int64_t c = 0; c < m; c++) rv[c] = f->total > 0 ? f->var[c] / f->total : 0;
  lua_setfield(L, -2, "explained_variance_ratio");
  int64_t shape[2] = {m, p};
  tide_Array *W = tideL_push(L);
  if ((rc = tide_array_new(W, TIDE_F64, 2, shape, TIDE_WHERE_HEAP))) return tideL_raise(L, rc);
  memcpy(W->data, f->comps, (size_t)(m * p) * sizeof(double));
  lua_setfield(L, -2, "components");
  tide_pca_free(f);
  return 1;
}

/* pca_transform(X, mean, components, {rows, scale}) -> rows x m */
static int k_pca_transform(lua_State *L) {
  luaL_checktype(L, 4, LUA_TTABLE);
  tide_Array *W = tideL_check(L, 3);
  if (W->ndim != 2) return luaL_error(L, "pca: the components must be a matrix");
  int64_t m = W->shape[0], p = W->shape[1];
  tide_Array *X = check_X(L, 1, p, "transform");
  const double *mean = check_f64(L, 2, p, "the mean");
  const double *comps = check_f64(L, 3, m * p, "the components");
  const double *scale = NULL;
  lua_getfield(L, 4, "scale");
  if (!lua_isnil(L, -1)) scale = check_f64(L, lua_gettop(L), m, "the scale");
  tide_Rows r;
  check_rows(L, 4, X, "transform", &r);
  int64_t shape[2] = {r.n, m};
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
  if (!rc) rc = tide_pca_transform(X, &r, mean, comps, m, scale, (double *)out->data);
  return rc ? tideL_raise(L, rc) : 1;
}

/* pca_inverse(Z, mean, components, {rows, scale}) -> rows x p */
static int k_pca_inverse(lua_State *L) {
  luaL_checktype(L, 4, LUA_TTABLE);
  tide_Array *W = tideL_check(L, 3);
  if (W->ndim != 2) return luaL_error(L, "pca: the components must be a matrix");
  int64_t m = W->shape[0], p = W->shape[1];
  tide_Array *Z = tideL_check(L, 1);
  if (Z->ndim != 2 || Z->shape[1] != m)
    return luaL_error(L, "bad argument #1 to 'inverse_transform' (expected rows of %d "
                      "components, got %s)", (int)m, Z->ndim == 2 ? "a different count" :
                      "an array that is not 2-dimensional");
  const double *mean = check_f64(L, 2, p, "the mean");
  const double *comps = check_f64(L, 3, m * p, "the components");
  const double *scale = NULL;
  lua_getfield(L, 4, "scale");
  if (!lua_isnil(L, -1)) scale = check_f64(L, lua_gettop(L), m, "the scale");
  tide_Rows r;
  check_rows(L, 4, Z, "inverse_transform", &r);
  int64_t shape[2] = {r.n, p};
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
  if (!rc) rc = tide_pca_inverse(Z, &r, mean, comps, m, p, scale, (double *)out->data);
  return rc ? tideL_raise(L, rc) : 1;
}

void tideM_open_cluster(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"kmeans_run", k_run}, {"kmeans_assign", k_assign}, {"kmeans_distances", k_distances},
    {"pca_fit", k_pca_fit}, {"pca_transform", k_pca_transform}, {"pca_inverse", k_pca_inverse},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
