/*
** l_models_logistic.c -- bindings of the logistic regression kernels
** (runtime/models/logistic.c) into tide._internal.models: logistic_fit and
** logistic_predict.
*/
#include <string.h>

#include "logistic.h"
#include "models_bind.h"

void tideM_open_logistic(lua_State *L);

/* Pushes a new array of dtype dt and shape (n) or (n, m) (m > 0). */
static tide_Array *newarr(lua_State *L, int dt, int64_t n, int64_t m) {
  int64_t shape[2] = {n, m};
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, m > 0 ? 2 : 1, shape, TIDE_WHERE_AUTO);
  if (rc) tideL_raise(L, rc);
  return a;
}

/* The fitted model m as a table; frees m (also when a push fails, through
** the userdata that holds it). */
static int m_gc(lua_State *L) {
  tide_logistic_free(lua_touserdata(L, 1));
  return 0;
}

/* logistic_fit(X, y, {rows =, weights =, C =, tol =, max_iter =,
**   fit_intercept =, solver = "auto" | "lbfgs" | "newton-cholesky"})
** -> {classes (y's dtype), coef (p vector for two classes, else k x p),
**     intercept (number, or k vector), n_iter, converged, grad_max, solver} */
static int k_logistic_fit(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = tideL_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->ndim >= 1 ? X->shape[0] : 0, &r);
  if (X->ndim == 2) tideM_checkmap(L, 3, "xmap", X->shape[1], &r);
  tide_Array *w = NULL;
  lua_getfield(L, 3, "weights");
  if (!lua_isnil(L, -1)) {
    w = tideL_test(L, -1);
    if (!w)
      return luaL_error(L, "option 'weights' must be an array, got %s", luaL_typename(L, -1));
    tideL_check(L, lua_gettop(L)); /* raises if closed */
  }
  tide_LogitOpts o;
  o.C = tideL_optnum(L, 3, "C", 1.0);
  o.tol = tideL_optnum(L, 3, "tol", 1e-4);
  o.max_iter = tideL_optint(L, 3, "max_iter", 100);
  o.fit_intercept = tideL_optbool(L, 3, "fit_intercept", 1);
  const char *s = tideL_optstr(L, 3, "solver", "auto");
  if (strcmp(s, "auto") == 0) o.solver = TIDE_LOGIT_AUTO;
  else if (strcmp(s, "lbfgs") == 0) o.solver = TIDE_LOGIT_LBFGS;
  else if (strcmp(s, "newton-cholesky") == 0) o.solver = TIDE_LOGIT_NEWTON;
  else return luaL_error(L, "logistic: solver must be \"auto\", \"lbfgs\" or \"newton-cholesky\", "
                         "got \"%s\"", s);
  /* init = {coef =, intercept =}: a fitted model's, as a warm start */
  o.init = NULL;
  o.init_len = 0;
  lua_getfield(L, 3, "init");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "coef");
    tide_Array *c = tideL_test(L, -1);
    lua_getfield(L, -2, "intercept");
    if (c && c->dtype == TIDE_F64 && tide_array_is_c_contiguous(c)) {
      int64_t nc = c->ndim == 1 ? c->shape[0] : c->shape[0] * c->shape[1];
      int64_t nb = lua_isnumber(L, -1) ? 1 : 0;
      tide_Array *ba = nb ? NULL : tideL_test(L, -1);
      if (ba && ba->ndim == 1) nb = ba->shape[0];
      double *init = lua_newuserdatauv(L, (size_t)(nc + nb + 1) * sizeof *init, 0);
      memcpy(init, c->data, (size_t)nc * sizeof *init);
      for (int64_t j = 0; j < nb; j++)
        init[nc + j] = ba ? tide_load_f64(ba->dtype, ba->data + j * ba->strides[0])
                          : lua_tonumber(L, -2);
      o.init = init;
      o.init_len = nc + (o.fit_intercept ? nb : 0);
    }
  }
  /* the fitted model lives in a userdata with __gc until copied out */
  tide_Logit *m = lua_newuserdatauv(L, sizeof *m, 0);
  memset(m, 0, sizeof *m);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int rc = tide_logistic_fit(X, y, w, &r, &o, m);
  if (rc) return tideL_raise(L, rc);
  int holder = lua_gettop(L);
  lua_createtable(L, 0, 6);
  tide_Array *a = newarr(L, y->dtype, m->k, 0);
  for (int64_t c = 0; c < m->k; c++)
    tide_store_f64(a->dtype, a->data + c * a->strides[0], m->classes[c]);
  lua_setfield(L, -2, "classes");
  a = newarr(L, TIDE_F64, m->nw == 1 ? m->p : m->nw, m->nw == 1 ? 0 : m->p);
  memcpy(a->data, m->coef, (size_t)(m->nw * m->p) * sizeof(double));
  lua_setfield(L, -2, "coef");
  if (m->nw == 1) {
    lua_pushnumber(L, m->intercept[0]);
  } else {
    a = newarr(L, TIDE_F64, m->nw, 0);
    memcpy(a->data, m->intercept, (size_t)m->nw * sizeof(double));
  }
  lua_setfield(L, -2, "intercept");
  lua_pushinteger(L, (lua_Integer)m->n_iter);
  lua_setfield(L, -2, "n_iter");
  lua_pushboolean(L, m->converged);
  lua_setfield(L, -2, "converged");
  lua_pushnumber(L, m->grad_max);
  lua_setfield(L, -2, "grad_max");
  lua_pushstring(L, m->solver == TIDE_LOGIT_NEWTON ? "newton-cholesky" : "lbfgs");
  lua_setfield(L, -2, "solver");
  tide_logistic_free(m);
  lua_remove(L, holder);
  return 1;
}

/* A contiguous f64 view check: the kernels read coef / intercept raw. */
static int contiguous_f64(const tide_Array *a) {
  return a->dtype == TIDE_F64 && tide_array_is_c_contiguous(a);
}

/* logistic_predict(X, coef, intercept, classes, mode [, {rows =}]):
** mode "class" -> labels (classes' dtype), "proba" -> n x k, "decision" ->
** n (two classes) or n x k. */
static int k_logistic_predict(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *coef = tideL_check(L, 2);
  tide_Array *cls = tideL_check(L, 4);
  const char *mode = luaL_checkstring(L, 5);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional (rows x features)");
  luaL_argcheck(L, cls->ndim == 1 && cls->shape[0] >= 2, 4, "classes must be a vector of >= 2");
  int64_t k = cls->shape[0], p = X->shape[1], nw = k == 2 ? 1 : k;
  int okc = contiguous_f64(coef) && (nw == 1 ? coef->ndim == 1 && coef->shape[0] == p
                                             : coef->ndim == 2 && coef->shape[0] == k &&
                                               coef->shape[1] == p);
  luaL_argcheck(L, okc, 2, "coef must be a contiguous f64 array: p entries for two classes, "
                "k x p otherwise, for X's p features");
  double b1 = 0;
  const double *b = &b1;
  if (lua_isnumber(L, 3)) {
    b1 = lua_tonumber(L, 3);
  } else if (!lua_isnil(L, 3)) {
    tide_Array *ia = tideL_check(L, 3);
    luaL_argcheck(L, contiguous_f64(ia) && ia->ndim == 1 && ia->shape[0] == nw, 3,
                  "intercept must be a number (two classes) or an f64 vector of k entries");
    b = (const double *)ia->data;
  }
  if (nw > 1 && lua_isnumber(L, 3))
    luaL_argerror(L, 3, "intercept must be a vector of k entries for k > 2 classes");
  tide_Rows r;
  tideM_checkrows(L, 6, "rows", X->shape[0], &r);
  tideM_checkmap(L, 6, "xmap", X->shape[1], &r);
  int rc;
  if (strcmp(mode, "class") == 0) {
    int64_t *idx = lua_newuserdatauv(L, (size_t)(r.n ? r.n : 1) * sizeof *idx, 0);
    rc = tide_logistic_predict(X, &r, k, nw, (const double *)coef->data, b, TIDE_LOGIT_CLASS,
                               idx);
    if (rc) return tideL_raise(L, rc);
    tide_Array *out = newarr(L, cls->dtype, r.n, 0);
    size_t isz = (size_t)out->strides[0];
    for (int64_t i = 0; i < r.n; i++)
      memcpy(out->data + i * (int64_t)isz, cls->data + idx[i] * cls->strides[0], isz);
    return 1;
  }
  int proba = strcmp(mode, "proba") == 0;
  if (!proba && strcmp(mode, "decision") != 0)
    return luaL_argerror(L, 5, "mode must be \"class\", \"proba\" or \"decision\"");
  int64_t m = proba ? k : (nw == 1 ? 0 : nw);
  tide_Array *out = newarr(L, TIDE_F64, r.n, m);
  rc = tide_logistic_predict(X, &r, k, nw, (const double *)coef->data, b,
                             proba ? TIDE_LOGIT_PROBA : TIDE_LOGIT_DECISION, out->data);
  return rc ? tideL_raise(L, rc) : 1;
}

void tideM_open_logistic(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"logistic_fit", k_logistic_fit}, {"logistic_predict", k_logistic_predict}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
