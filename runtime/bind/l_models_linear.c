/*
** l_models_linear.c -- the linear family's kernels in tide._internal.models:
** ridge_fit (OLS when alpha = 0) and enet_fit (lasso / elastic net).
*/
#include <string.h>

#include "linear.h"
#include "models_bind.h"

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

void tideM_open_linear(lua_State *L); /* listed in l_models_list.c */

void tideM_open_linear(lua_State *L) {
  static const luaL_Reg k[] = {{"ridge_fit", k_ridge_fit}, {"enet_fit", k_enet_fit},
                               {NULL, NULL}};
  luaL_setfuncs(L, k, 0);
}
