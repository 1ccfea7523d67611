/*
** l_models_svm.c -- bindings of the SVM kernels (runtime/models/svm.c)
** into tide._internal.models: svm_fit and svm_predict.  Fitted fields are given in
** scikit-learn's signs (a binary SVC's dual_coef and intercept negated, so
** its decision is > 0 for the second class); svm_predict turns them back
** into libsvm's for the C kernels.
*/
#include <string.h>

#include "models_bind.h"
#include "svm.h"

void tideM_open_svm(lua_State *L);

static const char *const kernels[] = {"linear", "poly", "rbf", "sigmoid", NULL};

/* Pushes a new array of dtype dt and shape (n) or (n, m) (m > 0). */
static tide_Array *newarr(lua_State *L, int dt, int64_t n, int64_t m) {
  int64_t shape[2] = {n, m};
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, dt, m > 0 ? 2 : 1, shape, TIDE_WHERE_AUTO);
  if (rc) tideL_raise(L, rc);
  return a;
}

static int m_gc(lua_State *L) {
  tide_svm_free(lua_touserdata(L, 1));
  return 0;
}

/* An f64 copy of a table's numbers or of an array (a userdata on the stack
** holds it); n is set to its length. */
static double *numbers(lua_State *L, int idx, const char *what, int64_t *n) {
  tide_Array *a = tideL_test(L, idx);
  if (a) {
    tideL_check(L, idx);
    if (a->ndim != 1) luaL_error(L, "%s must be a vector", what);
    double *v = lua_newuserdatauv(L, (size_t)(a->shape[0] ? a->shape[0] : 1) * sizeof *v, 0);
    for (int64_t i = 0; i < a->shape[0]; i++)
      v[i] = tide_load_f64(a->dtype, a->data + i * a->strides[0]);
    *n = a->shape[0];
    return v;
  }
  luaL_error(L, "%s must be an array", what);
  return NULL;
}

/* svm_fit(X, y, {rows =, type = "svc" | "svr", kernel =, degree =, gamma =
**   (number | "scale" | "auto"), coef0 =, C =, epsilon =, tol =,
**   cache_size =, shrinking =, probability =, seed =, class_weight =
**   ("balanced" | {labels = array, weights = array}), precompute =
**   ("auto" | true | false)})
** -> {classes, class_weight, n_support, support (1-based rows of X),
**     support_vectors, dual_coef, intercept, probA, probB, n_iter,
**     converged, gamma, precomputed} */
static int k_svm_fit(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = tideL_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->ndim >= 1 ? X->shape[0] : 0, &r);
  tide_SvmOpts o;
  memset(&o, 0, sizeof o);
  const char *type = tideL_optstr(L, 3, "type", "svc");
  if (strcmp(type, "svc") == 0) o.type = TIDE_SVM_SVC;
  else if (strcmp(type, "svr") == 0) o.type = TIDE_SVM_SVR;
  else return luaL_error(L, "svm_fit: type must be \"svc\" or \"svr\", got \"%s\"", type);
  const char *kern = tideL_optstr(L, 3, "kernel", "rbf");
  int ki = 0;
  while (kernels[ki] && strcmp(kernels[ki], kern) != 0) ki++;
  if (!kernels[ki])
    return luaL_error(L, "%s: kernel must be \"linear\", \"poly\", \"rbf\" or \"sigmoid\", got "
                      "\"%s\"", type, kern);
  o.k.kernel = ki;
  lua_Integer deg = tideL_optint(L, 3, "degree", 3);
  if (deg < 0 || deg > 1000000)
    return luaL_error(L, "%s: degree must be an integer in 0..1000000", type);
  o.k.degree = (int)deg;
  lua_getfield(L, 3, "gamma");
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *g = lua_tostring(L, -1);
    if (strcmp(g, "scale") == 0) o.k.gamma = TIDE_SVM_GAMMA_SCALE;
    else if (strcmp(g, "auto") == 0) o.k.gamma = TIDE_SVM_GAMMA_AUTO;
    else return luaL_error(L, "%s: gamma must be \"scale\", \"auto\" or a number, got \"%s\"",
                           type, g);
  } else if (lua_isnil(L, -1)) {
    o.k.gamma = TIDE_SVM_GAMMA_SCALE;
  } else if (lua_type(L, -1) == LUA_TNUMBER) {
    o.k.gamma = lua_tonumber(L, -1);
    if (o.k.gamma < 0) /* not a code: the kernel checks the number */
      return luaL_error(L, "%s: gamma must be >= 0, got %g", type, o.k.gamma);
  } else {
    return luaL_error(L, "%s: gamma must be \"scale\", \"auto\" or a number", type);
  }
  lua_pop(L, 1);
  o.k.coef0 = tideL_optnum(L, 3, "coef0", 0.0);
  o.C = tideL_optnum(L, 3, "C", 1.0);
  o.epsilon = tideL_optnum(L, 3, "epsilon", 0.1);
  o.tol = tideL_optnum(L, 3, "tol", 1e-3);
  o.cache_size = tideL_optnum(L, 3, "cache_size", 200);
  o.shrinking = tideL_optbool(L, 3, "shrinking", 1);
  o.probability = tideL_optbool(L, 3, "probability", 0);
  o.seed = (unsigned)tideL_optint(L, 3, "seed", 0);
  lua_getfield(L, 3, "precompute");
  o.precompute = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : -1;
  lua_pop(L, 1);
  lua_getfield(L, 3, "class_weight");
  if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "balanced") == 0) {
    o.balanced = 1;
  } else if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    int64_t nl, nw;
    lua_getfield(L, t, "labels");
    o.cw_label = numbers(L, lua_gettop(L), "class_weight labels", &nl);
    lua_getfield(L, t, "weights");
    o.cw_weight = numbers(L, lua_gettop(L), "class_weight weights", &nw);
    if (nl != nw) return luaL_error(L, "%s: class_weight: %d labels, %d weights", type, (int)nl,
                                    (int)nw);
    o.ncw = nl;
  } else if (!lua_isnil(L, -1)) {
    return luaL_error(L, "%s: class_weight must be nil, \"balanced\" or a table", type);
  }
  /* the fitted model lives in a userdata with __gc until copied out */
  tide_Svm *m = lua_newuserdatauv(L, sizeof *m, 0);
  memset(m, 0, sizeof *m);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int rc = tide_svm_fit(X, y, &r, &o, m);
  if (rc) return tideL_raise(L, rc);
  int holder = lua_gettop(L);
  int64_t nsv = m->nsv, k = m->nclass, np = m->npair, p = m->p;
  int binary = m->type == TIDE_SVM_SVC && k == 2;
  lua_createtable(L, 0, 14);
  tide_Array *a;
  if (m->type == TIDE_SVM_SVC) {
    a = newarr(L, y->dtype, k, 0);
    for (int64_t c = 0; c < k; c++)
      tide_store_f64(a->dtype, a->data + c * a->strides[0], m->classes[c]);
    lua_setfield(L, -2, "classes");
    a = newarr(L, TIDE_F64, k, 0);
    memcpy(a->data, m->class_weight, (size_t)k * sizeof(double));
    lua_setfield(L, -2, "class_weight");
  }
  a = newarr(L, TIDE_I64, m->type == TIDE_SVM_SVC ? k : 1, 0);
  for (int64_t c = 0; c < (m->type == TIDE_SVM_SVC ? k : 1); c++)
    ((int64_t *)a->data)[c] = m->type == TIDE_SVM_SVC ? m->n_support[c] : nsv;
  lua_setfield(L, -2, "n_support");
  a = newarr(L, TIDE_I64, nsv, 0);
  for (int64_t s = 0; s < nsv; s++) ((int64_t *)a->data)[s] = m->support[s] + 1;
  lua_setfield(L, -2, "support");
  int64_t svshape[2] = {nsv, p};
  a = tideL_push(L);
  if ((rc = tide_array_new(a, TIDE_F64, 2, svshape, TIDE_WHERE_AUTO))) return tideL_raise(L, rc);
  if (nsv) memcpy(a->data, m->sv, (size_t)(nsv * p) * sizeof(double));
  lua_setfield(L, -2, "support_vectors");
  int64_t dshape[2] = {k - 1, nsv};
  a = tideL_push(L);
  if ((rc = tide_array_new(a, TIDE_F64, 2, dshape, TIDE_WHERE_AUTO))) return tideL_raise(L, rc);
  for (int64_t i = 0; i < (k - 1) * nsv; i++)
    ((double *)a->data)[i] = binary ? -m->coef[i] : m->coef[i];
  lua_setfield(L, -2, "dual_coef");
  if (np == 1) {
    lua_pushnumber(L, binary ? m->rho[0] : -m->rho[0]);
  } else {
    a = newarr(L, TIDE_F64, np, 0);
    for (int64_t q = 0; q < np; q++) ((double *)a->data)[q] = -m->rho[q];
  }
  lua_setfield(L, -2, "intercept");
  if (m->probA) {
    a = newarr(L, TIDE_F64, np, 0);
    memcpy(a->data, m->probA, (size_t)np * sizeof(double));
    lua_setfield(L, -2, "probA");
    a = newarr(L, TIDE_F64, np, 0);
    memcpy(a->data, m->probB, (size_t)np * sizeof(double));
    lua_setfield(L, -2, "probB");
  }
  if (m->type == TIDE_SVM_SVR) {
    lua_pushinteger(L, (lua_Integer)m->n_iter[0]);
  } else {
    a = newarr(L, TIDE_I64, np, 0);
    memcpy(a->data, m->n_iter, (size_t)np * sizeof(int64_t));
  }
  lua_setfield(L, -2, "n_iter");
  lua_pushboolean(L, m->converged);
  lua_setfield(L, -2, "converged");
  lua_pushnumber(L, m->k.gamma);
  lua_setfield(L, -2, "gamma");
  lua_pushboolean(L, m->precomputed);
  lua_setfield(L, -2, "precomputed");
  tide_svm_free(m);
  lua_remove(L, holder);
  return 1;
}

/* A C-contiguous f64 array of the given shape (m = 0: a vector of n). */
static tide_Array *field_f64(lua_State *L, int t, const char *key, int64_t n, int64_t m) {
  lua_getfield(L, t, key);
  tide_Array *a = tideL_test(L, -1);
  if (!a || a->dtype != TIDE_F64 || !tide_array_is_c_contiguous(a) || a->ndim != (m ? 2 : 1) ||
      a->shape[0] != n || (m && a->shape[1] != m))
    luaL_error(L, "svm_predict: model field '%s' must be a contiguous f64 array of %d x %d", key,
               (int)n, (int)m);
  tideL_check(L, -1);
  return a;
}

/* svm_predict(X, model, mode [, {rows =}]): model = {type, kernel, degree,
** gamma, coef0, support_vectors, dual_coef, intercept, n_support, classes,
** probA, probB} (the fitted fields); mode "class", "class_ties" (argmax of
** the one-vs-rest values), "decision" (two classes: n, > 0 for the second),
** "ovo" (n x k(k-1)/2, libsvm's signs), "ovr" (n x k), "proba" (n x k),
** "value" (SVR) */
static int k_svm_predict(lua_State *L) {
  tide_Array *X = tideL_check(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  const char *mode = luaL_checkstring(L, 3);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional (rows x features)");
  tide_SvmDual d;
  memset(&d, 0, sizeof d);
  const char *type = tideL_optstr(L, 2, "type", "svc");
  d.type = strcmp(type, "svr") == 0 ? TIDE_SVM_SVR : TIDE_SVM_SVC;
  const char *kern = tideL_optstr(L, 2, "kernel", "rbf");
  int ki = 0;
  while (kernels[ki] && strcmp(kernels[ki], kern) != 0) ki++;
  if (!kernels[ki]) return luaL_error(L, "svm_predict: unknown kernel \"%s\"", kern);
  d.k.kernel = ki;
  d.k.degree = (int)tideL_optint(L, 2, "degree", 3);
  d.k.gamma = tideL_optnum(L, 2, "gamma", 1.0);
  d.k.coef0 = tideL_optnum(L, 2, "coef0", 0.0);
  lua_getfield(L, 2, "support_vectors");
  tide_Array *sv = tideL_test(L, -1);
  if (!sv || sv->ndim != 2) return luaL_error(L, "svm_predict: no support vectors");
  d.nsv = sv->shape[0];
  d.p = sv->shape[1];
  sv = field_f64(L, 2, "support_vectors", d.nsv, d.p);
  d.sv = (const double *)sv->data;
  int64_t k = 2;
  const tide_Array *cls = NULL;
  if (d.type == TIDE_SVM_SVC) {
    lua_getfield(L, 2, "n_support");
    tide_Array *ns = tideL_test(L, -1);
    if (!ns || ns->ndim != 1 || ns->shape[0] < 2)
      return luaL_error(L, "svm_predict: model field 'n_support' must be a vector of >= 2");
    k = ns->shape[0];
    int64_t *nsup = lua_newuserdatauv(L, (size_t)k * sizeof *nsup, 0), total = 0;
    for (int64_t c = 0; c < k; c++) {
      nsup[c] = tide_load_i64(ns->dtype, ns->data + c * ns->strides[0]);
      if (nsup[c] < 0) return luaL_error(L, "svm_predict: negative n_support");
      total += nsup[c];
    }
    if (total != d.nsv) return luaL_error(L, "svm_predict: n_support does not sum to the "
                                          "support vectors' count");
    d.n_support = nsup;
    lua_getfield(L, 2, "classes");
    cls = tideL_test(L, -1);
    if (cls && (cls->ndim != 1 || cls->shape[0] != k))
      return luaL_error(L, "svm_predict: classes must be a vector of %d", (int)k);
  }
  d.nclass = k;
  int64_t np = k * (k - 1) / 2;
  int binary = d.type == TIDE_SVM_SVC && k == 2;
  tide_Array *dual = field_f64(L, 2, "dual_coef", k - 1, d.nsv);
  double *coef = lua_newuserdatauv(L, (size_t)((k - 1) * (d.nsv ? d.nsv : 1)) * sizeof *coef, 0);
  for (int64_t i = 0; i < (k - 1) * d.nsv; i++)
    coef[i] = binary ? -((double *)dual->data)[i] : ((double *)dual->data)[i];
  d.coef = coef;
  double *rho = lua_newuserdatauv(L, (size_t)np * sizeof *rho, 0);
  lua_getfield(L, 2, "intercept");
  if (np == 1 && lua_type(L, -1) == LUA_TNUMBER) {
    rho[0] = binary ? lua_tonumber(L, -1) : -lua_tonumber(L, -1);
  } else {
    tide_Array *ia = field_f64(L, 2, "intercept", np, 0);
    for (int64_t q = 0; q < np; q++) rho[q] = -((double *)ia->data)[q];
  }
  d.rho = rho;
  lua_getfield(L, 2, "probA");
  if (!lua_isnil(L, -1)) {
    d.probA = (const double *)field_f64(L, 2, "probA", np, 0)->data;
    d.probB = (const double *)field_f64(L, 2, "probB", np, 0)->data;
  }
  tide_Rows r;
  tideM_checkrows(L, 4, "rows", X->shape[0], &r);
  int rc;
  if (strcmp(mode, "class") == 0 || strcmp(mode, "class_ties") == 0) {
    if (!cls) return luaL_error(L, "svm_predict: the model has no classes");
    int64_t *idx = lua_newuserdatauv(L, (size_t)(r.n ? r.n : 1) * sizeof *idx, 0);
    int ties = strcmp(mode, "class_ties") == 0 && k > 2;
    rc = tide_svm_predict(X, &r, &d, ties ? TIDE_SVM_ARGMAX : TIDE_SVM_VOTE, idx);
    if (rc) return tideL_raise(L, rc);
    tide_Array *out = newarr(L, cls->dtype, r.n, 0);
    size_t isz = (size_t)out->strides[0];
    for (int64_t i = 0; i < r.n; i++)
      memcpy(out->data + i * (int64_t)isz, cls->data + idx[i] * cls->strides[0], isz);
    return 1;
  }
  int m;
  int64_t cols;
  if (strcmp(mode, "value") == 0) m = TIDE_SVM_VALUE, cols = 0;
  else if (strcmp(mode, "proba") == 0) m = TIDE_SVM_PROBA, cols = k;
  else if (strcmp(mode, "ovr") == 0) m = TIDE_SVM_OVR, cols = k;
  else if (strcmp(mode, "ovo") == 0) m = TIDE_SVM_OVO, cols = np;
  else if (strcmp(mode, "decision") == 0 && binary) m = TIDE_SVM_OVO, cols = 0;
  else return luaL_argerror(L, 3, "mode must be \"class\", \"class_ties\", \"decision\", \"ovo\", "
                            "\"ovr\", \"proba\" or \"value\" (\"decision\": two classes)");
  tide_Array *out = newarr(L, TIDE_F64, r.n, cols);
  rc = tide_svm_predict(X, &r, &d, m, out->data);
  if (rc) return tideL_raise(L, rc);
  if (strcmp(mode, "decision") == 0) /* scikit-learn's sign: > 0 for the second class */
    for (int64_t i = 0; i < r.n; i++) ((double *)out->data)[i] = -((double *)out->data)[i];
  return 1;
}

void tideM_open_svm(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"svm_fit", k_svm_fit}, {"svm_predict", k_svm_predict}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
