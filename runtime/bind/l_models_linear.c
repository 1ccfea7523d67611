/*
** l_models_linear.c -- the linear family's kernels in tide._internal.models:
** ridge_fit (OLS when alpha = 0) and enet_fit (lasso / elastic net).
*/
#include <string.h>

#include "linear.h"
#include "models_bind.h"

/* features at most, for moments (tide_moments_len grows as p^2) */
#define MOMENTS_MAX_P ((int64_t)1 << 30)

/* opts.sample_weight as an array, or NULL. */
static tide_Array *opt_weights(lua_State *L, int o) {
  if (!lua_istable(L, o)) return NULL;
  lua_getfield(L, o, "sample_weight");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  tide_Array *w = tideL_test(L, -1);
  if (!w) luaL_error(L, "option 'sample_weight' must be an array, got %s", luaL_typename(L, -1));
  tideL_check(L, lua_gettop(L)); /* raises on a closed array */
  return w; /* stays on the stack while in use */
}

static const char *solver_name(int s) {
  return s == TIDE_LS_CHOLESKY ? "cholesky" : s == TIDE_LS_DUAL ? "dual" : "lstsq";
}

/* ridge_fit(X, y, {alpha =, fit_intercept =, rows =, sample_weight =})
**   -> coef, intercept, solver */
static int k_ridge_fit(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = tideL_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional (rows x features)");
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->shape[0], &r);
  tideM_checkmap(L, 3, "xmap", X->shape[1], &r);
  tide_Array *w = opt_weights(L, 3);
  double alpha = tideL_optnum(L, 3, "alpha", 0);
  int icpt = tideL_optbool(L, 3, "fit_intercept", 1);
  double *coef = tideM_newvec(L, X->shape[1], NULL), b = 0;
  int solver = 0;
  int rc = tide_ridge_fit(X, y, w, &r, alpha, icpt, coef, &b, &solver);
  if (rc) return tideL_raise(L, rc);
  lua_pushnumber(L, b);
  lua_pushstring(L, solver_name(solver));
  return 3;
}

/* enet_fit(X, y, {alpha, l1_ratio, tol, max_iter, fit_intercept, positive,
**   selection = "cyclic" | "random", random_state, precompute = "auto" |
**   true | false, coef = warm start, rows, sample_weight})
**   -> coef, intercept, n_iter, gap, tol, converged, gram */
static int k_enet_fit(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = tideL_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional (rows x features)");
  int64_t p = X->shape[1];
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->shape[0], &r);
  tideM_checkmap(L, 3, "xmap", X->shape[1], &r);
  tide_Array *w = opt_weights(L, 3);
  tide_EnetOpts o;
  o.alpha = tideL_optnum(L, 3, "alpha", 1.0);
  o.l1_ratio = tideL_optnum(L, 3, "l1_ratio", 0.5);
  o.tol = tideL_optnum(L, 3, "tol", 1e-4);
  o.max_iter = tideL_optint(L, 3, "max_iter", 1000);
  o.fit_intercept = tideL_optbool(L, 3, "fit_intercept", 1);
  o.positive = tideL_optbool(L, 3, "positive", 0);
  const char *sel = tideL_optstr(L, 3, "selection", "cyclic");
  if (strcmp(sel, "cyclic") && strcmp(sel, "random"))
    luaL_error(L, "option 'selection' must be \"cyclic\" or \"random\", got \"%s\"", sel);
  o.random = strcmp(sel, "random") == 0;
  o.seed = (uint64_t)tideL_optint(L, 3, "random_state", 0);
  lua_getfield(L, 3, "precompute");
  if (lua_isboolean(L, -1)) o.precompute = lua_toboolean(L, -1);
  else if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TSTRING &&
                                strcmp(lua_tostring(L, -1), "auto") == 0)) o.precompute = -1;
  else return luaL_error(L, "option 'precompute' must be \"auto\", true or false");
  lua_pop(L, 1);
  lua_getfield(L, 3, "coef");
  tide_Array *c0 = lua_isnil(L, -1) ? NULL : tideL_test(L, -1);
  if (!lua_isnil(L, -1) && !c0) luaL_error(L, "option 'coef' (warm start) must be an array");
  if (c0 && !(c0->ndim == 1 && c0->shape[0] == p))
    luaL_error(L, "warm start: coef has %d entries but X has %d features",
               (int)(c0->ndim == 1 ? c0->shape[0] : -1), (int)p);
  double *coef = tideM_newvec(L, p, NULL);
  for (int64_t j = 0; j < p; j++)
    coef[j] = c0 ? tide_load_f64(c0->dtype, c0->data + j * c0->strides[0]) : 0.0;
  tide_EnetResult res;
  int rc = tide_enet_fit(X, y, w, &r, &o, coef, &res);
  if (rc) return tideL_raise(L, rc);
  lua_pushnumber(L, res.intercept);
  lua_pushinteger(L, res.n_iter);
  lua_pushnumber(L, res.gap);
  lua_pushnumber(L, res.tol);
  lua_pushboolean(L, res.converged);
  lua_pushboolean(L, res.gram);
  return 7;
}

/* ------------------------------------------- the search's shared fits */

/* opts[key] as a contiguous f64 vector of p entries, or NULL when absent. */
static const double *optvec(lua_State *L, int o, const char *key, int64_t p) {
  lua_getfield(L, o, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  tide_Array *a = tideL_check(L, lua_gettop(L));
  if (a->ndim != 1 || a->dtype != TIDE_F64 || a->shape[0] != p || (p > 1 && a->strides[0] != 8))
    luaL_error(L, "option '%s' must be an f64 vector of %d entries", key, (int)p);
  return (const double *)a->data; /* stays on the stack */
}

/* moments(X, y, {rows, shift, yshift}) -> flat f64 vector (tide_moments) */
static int k_moments(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = lua_isnoneornil(L, 2) ? NULL : tideL_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional (rows x features)");
  int64_t p = X->shape[1];
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->shape[0], &r);
  tideM_checkmap(L, 3, "xmap", X->shape[1], &r);
  const double *s = optvec(L, 3, "shift", p);
  if (!s) return luaL_error(L, "moments: option 'shift' is required");
  if (p > MOMENTS_MAX_P)
    return luaL_error(L, "moments: %I features are too many (the moments grow as their square)",
                      (lua_Integer)p);
  double *m = tideM_newvec(L, tide_moments_len(p), NULL);
  int rc = tide_moments(X, y, &r, s, tideL_optnum(L, 3, "yshift", 0), m);
  return rc ? tideL_raise(L, rc) : 1;
}

/* The moments at 1 (for p features, checked) and the statistics of a fit
** from them: opts {shift, yshift, a, b, fit_intercept} at 3. */
static int64_t check_moments(lua_State *L, const double **m, int64_t *p) {
  tide_Array *ma = tideL_check(L, 1);
  *p = (int64_t)luaL_checkinteger(L, 2);
  /* p^2 moments: a count past MOMENTS_MAX_P overflowed (fuzz_api) */
  luaL_argcheck(L, *p >= 0 && *p <= MOMENTS_MAX_P, 2, "the number of features is out of range");
  luaL_checktype(L, 3, LUA_TTABLE);
  if (ma->ndim != 1 || ma->dtype != TIDE_F64 || ma->shape[0] != tide_moments_len(*p) ||
      ma->strides[0] != 8)
    luaL_argerror(L, 1, "moments of the wrong size");
  *m = (const double *)ma->data;
  return (int64_t)(*m)[0];
}

/* Candidates' answers in the space of the raw columns: a model fitted on
** (x - a) / b has coef / b and intercept - a . (coef / b) on x. */
static void to_raw(double *coef, double *b0, int64_t p, const double *a, const double *b) {
  if (!b && !a) return;
  for (int64_t j = 0; j < p; j++) {
    if (b) coef[j] /= b[j];
    if (a) *b0 -= a[j] * coef[j];
  }
}

/* opts.alphas (a table of numbers) into a buffer left on the stack. */
static const double *alphas_of(lua_State *L, int o, int64_t *q) {
  lua_getfield(L, o, "alphas");
  luaL_argcheck(L, lua_istable(L, -1), o, "option 'alphas' must be a table of numbers");
  *q = (int64_t)luaL_len(L, -1);
  double *v = lua_newuserdatauv(L, (size_t)(*q ? *q : 1) * sizeof *v, 0);
  for (int64_t c = 0; c < *q; c++) {
    lua_geti(L, -2, c + 1);
    v[c] = luaL_checknumber(L, -1);
    lua_pop(L, 1);
  }
  return v;
}

/* ridge_moments(m, p, {shift, yshift, a, b, alphas, fit_intercept})
**   -> coefs (q x p, raw columns), intercepts (q), refused (table of
**   booleans: the candidates tide_ridge_fit would solve by SVD) */
static int k_ridge_moments(lua_State *L) {
  const double *m;
  int64_t p;
  int64_t n = check_moments(L, &m, &p);
  const double *s = optvec(L, 3, "shift", p), *a = optvec(L, 3, "a", p), *b = optvec(L, 3, "b", p);
  int icpt = tideL_optbool(L, 3, "fit_intercept", 1);
  int64_t q;
  const double *alphas = alphas_of(L, 3, &q);
  int64_t shape[2] = {q, p};
  tide_Array *C = tideL_push(L);
  int rc = tide_array_new(C, TIDE_F64, 2, shape, TIDE_WHERE_HEAP);
  if (rc) return tideL_raise(L, rc);
  double *B = tideM_newvec(L, q, NULL);
  lua_createtable(L, (int)q, 0);
  tide_Gram g;
  if ((rc = tide_gram_from_moments(m, p, s, tideL_optnum(L, 3, "yshift", 0), a, b, icpt, &g)))
    return tideL_raise(L, rc);
  for (int64_t c = 0; c < q && !rc; c++) {
    double *coef = (double *)C->data + c * p;
    int refused = 0;
    B[c] = 0;
    rc = tide_ridge_gram(&g, n, alphas[c], icpt, coef, &B[c], &refused);
    if (!rc && !refused) to_raw(coef, &B[c], p, a, b);
    lua_pushboolean(L, refused);
    lua_rawseti(L, -2, c + 1);
  }
  tide_gram_free(&g);
  return rc ? tideL_raise(L, rc) : 3;
}

/* enet_moments(m, p, {shift, yshift, a, b, alphas, l1_ratio, tol, max_iter,
**   fit_intercept, positive, selection, random_state}): the alphas in the
**   order given, each fit starting from the previous answer (a path)
**   -> coefs (q x p, raw columns), intercepts (q), {n_iter, gap, tol, converged} */
static int k_enet_moments(lua_State *L) {
  const double *m;
  int64_t p;
  int64_t n = check_moments(L, &m, &p);
  const double *s = optvec(L, 3, "shift", p), *a = optvec(L, 3, "a", p), *b = optvec(L, 3, "b", p);
  tide_EnetOpts o;
  o.l1_ratio = tideL_optnum(L, 3, "l1_ratio", 0.5);
  o.tol = tideL_optnum(L, 3, "tol", 1e-4);
  o.max_iter = tideL_optint(L, 3, "max_iter", 1000);
  o.fit_intercept = tideL_optbool(L, 3, "fit_intercept", 1);
  o.positive = tideL_optbool(L, 3, "positive", 0);
  o.random = strcmp(tideL_optstr(L, 3, "selection", "cyclic"), "random") == 0;
  o.seed = (uint64_t)tideL_optint(L, 3, "random_state", 0);
  o.precompute = 1;
  int64_t q;
  const double *alphas = alphas_of(L, 3, &q);
  int64_t shape[2] = {q, p};
  tide_Array *C = tideL_push(L);
  int rc = tide_array_new(C, TIDE_F64, 2, shape, TIDE_WHERE_HEAP);
  if (rc) return tideL_raise(L, rc);
  double *B = tideM_newvec(L, q, NULL);
  lua_createtable(L, 0, 4);
  const char *fields[] = {"n_iter", "gap", "tol", "converged"};
  for (int f = 0; f < 4; f++) {
    lua_createtable(L, (int)q, 0);
    lua_setfield(L, -2, fields[f]);
  }
  double *w = lua_newuserdatauv(L, (size_t)(p ? p : 1) * sizeof *w, 0);
  memset(w, 0, (size_t)(p ? p : 1) * sizeof *w);
  lua_insert(L, -2); /* the info table stays on top */
  tide_Gram g;
  rc = tide_gram_from_moments(m, p, s, tideL_optnum(L, 3, "yshift", 0), a, b, o.fit_intercept,
                              &g);
  int have_g = rc == TIDE_OK;
  for (int64_t c = 0; c < q && !rc; c++) {
    tide_EnetResult res;
    o.alpha = alphas[c];
    if ((rc = tide_enet_gram(&g, n, &o, w, &res))) break;
    double *coef = (double *)C->data + c * p;
    memcpy(coef, w, (size_t)p * sizeof *w);
    B[c] = res.intercept;
    to_raw(coef, &B[c], p, a, b);
    lua_getfield(L, -1, "n_iter");
    lua_pushinteger(L, res.n_iter);
    lua_rawseti(L, -2, c + 1);
    lua_getfield(L, -2, "gap");
    lua_pushnumber(L, res.gap);
    lua_rawseti(L, -2, c + 1);
    lua_getfield(L, -3, "tol");
    lua_pushnumber(L, res.tol);
    lua_rawseti(L, -2, c + 1);
    lua_getfield(L, -4, "converged");
    lua_pushboolean(L, res.converged);
    lua_rawseti(L, -2, c + 1);
    lua_pop(L, 4);
  }
  if (have_g) tide_gram_free(&g);
  if (rc) return tideL_raise(L, rc);
  lua_remove(L, -2); /* w */
  return 3;
}

/* moments_sse(m, p, {shift, yshift}, coefs (q x p), intercepts (q)) -> sse (q) */
static int k_moments_sse(lua_State *L) {
  const double *m;
  int64_t p;
  check_moments(L, &m, &p);
  const double *s = optvec(L, 3, "shift", p);
  tide_Array *C = tideL_check(L, 4), *B = tideL_check(L, 5);
  int64_t q = B->shape[0];
  luaL_argcheck(L, C->ndim == 2 && C->shape[0] == q && C->shape[1] == p && C->dtype == TIDE_F64 &&
                tide_array_is_c_contiguous(C), 4, "coefs must be a contiguous f64 q x p matrix");
  luaL_argcheck(L, B->ndim == 1 && B->dtype == TIDE_F64 && (q < 2 || B->strides[0] == 8), 5,
                "intercepts must be a contiguous f64 vector");
  double *sse = tideM_newvec(L, q, NULL);
  tide_moments_sse(m, p, s, tideL_optnum(L, 3, "yshift", 0), q, (const double *)C->data,
                   (const double *)B->data, sse);
  return 1;
}

void tideM_open_linear(lua_State *L); /* listed in l_models_list.c */

void tideM_open_linear(lua_State *L) {
  static const luaL_Reg k[] = {{"ridge_fit", k_ridge_fit}, {"enet_fit", k_enet_fit},
                               {"moments", k_moments}, {"ridge_moments", k_ridge_moments},
                               {"enet_moments", k_enet_moments}, {"moments_sse", k_moments_sse},
                               {NULL, NULL}};
  luaL_setfuncs(L, k, 0);
}
