/*
** l_models_prep.c -- scaler kernels for lua/tide/models_prep.lua: column
** statistics over a row subset and the affine maps of transform.
*/
#include "models_bind.h"
#include "scale.h"

void tideM_open_prep(lua_State *L);

/* scale_stats(X, {rows}) -> mean, var, min, max, n */
static int k_stats(lua_State *L) {
  tide_Array *X = tideL_check(L, 1);
  tide_Rows r;
  tideM_checkrows(L, 2, "rows", X->ndim ? X->shape[0] : 0, &r);
  if (X->ndim == 2) tideM_checkmap(L, 2, "xmap", X->shape[1], &r);
  int rc = tide_check_xy(X, NULL, NULL, &r, "fit");
  if (rc) return tideL_raise(L, rc);
  int64_t p = X->shape[1];
  double *mean = tideM_newvec(L, p, NULL), *var = tideM_newvec(L, p, NULL);
  double *mn = tideM_newvec(L, p, NULL), *mx = tideM_newvec(L, p, NULL);
  if ((rc = tide_scale_stats(X, &r, mean, var, mn, mx))) return tideL_raise(L, rc);
  lua_pushinteger(L, (lua_Integer)r.n);
  return 5;
}

static const double *checkvec(lua_State *L, int i, int64_t n) {
  tide_Array *a = tideL_check(L, i);
  if (a->ndim != 1 || a->dtype != TIDE_F64 || a->shape[0] != n || (n > 1 && a->strides[0] != 8))
    luaL_argerror(L, i, "expected an f64 vector, one entry per feature (was the model changed?)");
  return (const double *)a->data;
}

/* scale_apply(X, a, b, {rows, div, clip = {lo, hi}, fname}) -> new n x p array */
static int k_apply(lua_State *L) {
  tide_Array *X = tideL_check(L, 1);
  luaL_checktype(L, 4, LUA_TTABLE);
  const char *fname = tideL_optstr(L, 4, "fname", "transform");
  if (X->ndim != 2)
    return luaL_error(L, "bad argument #1 to '%s' (X must be 2-dimensional, got %d "
                      "dimension(s))", fname, X->ndim);
  int64_t p = X->shape[1];
  tide_Array *A = tideL_check(L, 2);
  if (A->ndim != 1 || A->shape[0] != p)
    return luaL_error(L, "bad argument #1 to '%s' (X has %d features, but the scaler was "
                      "fitted on %d)", fname, (int)p, (int)A->shape[0]);
  const double *a = checkvec(L, 2, p), *b = checkvec(L, 3, p);
  tide_Rows r;
  tideM_checkrows(L, 4, "rows", X->shape[0], &r);
  tideM_checkmap(L, 4, "xmap", p, &r);
  if (r.n > 0) {
    int rc = tide_check_xy(X, NULL, NULL, &r, fname);
    if (rc) return tideL_raise(L, rc);
  }
  int clip = 0;
  double lo = 0, hi = 0;
  lua_getfield(L, 4, "clip");
  if (lua_istable(L, -1)) {
    clip = 1;
    lua_geti(L, -1, 1);
    lo = lua_tonumber(L, -1);
    lua_geti(L, -2, 2);
    hi = lua_tonumber(L, -1);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  int64_t shape[2] = {r.n, p};
  tide_Array *out = tideL_push(L);
  int rc = tide_array_new(out, TIDE_F64, 2, shape, TIDE_WHERE_AUTO);
  if (!rc)
    rc = tide_scale_apply(X, &r, a, b, tideL_optbool(L, 4, "div", 0), clip, lo, hi,
                          (double *)out->data);
  return rc ? tideL_raise(L, rc) : 1;
}

void tideM_open_prep(lua_State *L) {
  static const luaL_Reg fns[] = {{"scale_stats", k_stats}, {"scale_apply", k_apply},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
