/*
** l_models.c -- bindings of the model kernels (runtime/models) as the
** private table tide._internal.models, used by lua/tide/models.lua, plus
** tide.metrics.  Each model family adds its functions through its opener
** (tideM_open_<family>), called with that table on top of the stack.
*/
#include <math.h>
#include <string.h>

#include "bind.h"
#include "models.h"
#include "models_bind.h"

int tideM_checkrows(lua_State *L, int o, const char *key, int64_t n, tide_Rows *r) {
  *r = tide_rows_all(n);
  if (!lua_istable(L, o)) return 0;
  lua_getfield(L, o, key);
  int top = lua_gettop(L);
  if (lua_isnil(L, top)) {
    lua_pop(L, 1);
    return 0;
  }
  tide_Array *ia = tideL_test(L, top);
  tideL_RowSet *rs = ia ? NULL : tideL_testrowset(L, top);
  if (rs) {
    r->n = rs->n;
    r->span = rs->span;
    r->nspan = rs->nspan;
    int rc = tide_rows_check(r, n);
    if (rc) luaL_error(L, "%s", tide_lasterror());
    return 1;
  }
  if (ia) {
    tideL_check(L, top);
    if (ia->ndim != 1 || tide_dtype_isfloat(ia->dtype))
      luaL_error(L, "option '%s' must be a 1-D integer array of row numbers", key);
    if (ia->dtype == TIDE_I64) {
      r->idx = (const int64_t *)ia->data;
      r->stride = ia->strides[0] / 8;
    } else { /* other integer dtypes: converted into a temporary */
      int64_t *buf = lua_newuserdatauv(L, (size_t)(ia->shape[0] ? ia->shape[0] : 1) * 8, 0);
      for (int64_t k = 0; k < ia->shape[0]; k++)
        buf[k] = tide_load_i64(ia->dtype, ia->data + k * ia->strides[0]);
      r->idx = buf;
      r->stride = 1;
    }
    r->n = ia->shape[0];
  } else if (lua_istable(L, top)) {
    int64_t len = (int64_t)luaL_len(L, top);
    int64_t *buf = lua_newuserdatauv(L, (size_t)(len ? len : 1) * 8, 0);
    for (int64_t k = 0; k < len; k++) {
      lua_geti(L, top, k + 1);
      int isnum;
      buf[k] = lua_tointegerx(L, -1, &isnum);
      if (!isnum) luaL_error(L, "option '%s' must hold integer row numbers", key);
      lua_pop(L, 1);
    }
    r->idx = buf;
    r->stride = 1;
    r->n = len;
  } else {
    luaL_error(L, "option '%s' must be an index array, a rowset or a table of row numbers, got %s", key,
               luaL_typename(L, top));
  }
  r->base = 1;
  int rc = tide_rows_check(r, n);
  if (rc) luaL_error(L, "%s", tide_lasterror());
  return 1; /* the row array (and any temporary) stays on the stack */
}

void tideM_checkmap(lua_State *L, int o, const char *key, int64_t p, tide_Rows *r) {
  r->map = NULL;
  if (!lua_istable(L, o)) return;
  lua_getfield(L, o, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "option '%s' must be a list of column maps", key);
  int t = lua_gettop(L);
  int64_t n = (int64_t)luaL_len(L, t);
  if (n < 1) {
    lua_pop(L, 1);
    return;
  }
  tide_ColMap *m = lua_newuserdatauv(L, (size_t)n * sizeof *m, 1);
  lua_pushvalue(L, t); /* the maps' arrays stay reachable through the userdata */
  lua_setiuservalue(L, -2, 1);
  static const char *const fields[] = {"sub", "div", "mul", "add"};
  for (int64_t i = 0; i < n; i++) {
    memset(&m[i], 0, sizeof m[i]);
    lua_geti(L, t, i + 1);
    if (!lua_istable(L, -1)) luaL_error(L, "option '%s': map %d must be a table", key, (int)i + 1);
    const double **slot[4] = {&m[i].sub, &m[i].div, &m[i].mul, &m[i].add};
    for (int f = 0; f < 4; f++) {
      lua_getfield(L, -1, fields[f]);
      if (!lua_isnil(L, -1)) {
        tide_Array *a = tideL_check(L, lua_gettop(L));
        if (a->ndim != 1 || a->dtype != TIDE_F64 || a->shape[0] != p ||
            (p > 1 && a->strides[0] != 8))
          luaL_error(L, "option '%s': %s must be an f64 vector of %d entries", key, fields[f],
                     (int)p);
        *slot[f] = (const double *)a->data;
      }
      lua_pop(L, 1);
    }
    lua_getfield(L, -1, "clip");
    if (lua_istable(L, -1)) {
      m[i].clip = 1;
      lua_geti(L, -1, 1);
      m[i].lo = lua_tonumber(L, -1);
      lua_geti(L, -2, 2);
      m[i].hi = lua_tonumber(L, -1);
      lua_pop(L, 2);
    }
    lua_pop(L, 2);
    m[i].next = i + 1 < n ? &m[i + 1] : NULL;
  }
  lua_remove(L, t);
  r->map = m;
}

double *tideM_newvec(lua_State *L, int64_t n, tide_Array **out) {
  tide_Array *a = tideL_push(L);
  int rc = tide_array_new(a, TIDE_F64, 1, &n, TIDE_WHERE_AUTO);
  if (rc) tideL_raise(L, rc);
  if (out) *out = a;
  return (double *)a->data;
}

/* ------------------------------------------------------------ metrics */

/* y at the subset's rows, or aligned with the subset when its length is
** the subset's size. */
static double at(const tide_Array *a, const tide_Rows *r, int64_t k, int aligned) {
  int64_t i = aligned ? k : tide_rows_at(r, k);
  return tide_load_f64(a->dtype, a->data + i * a->strides[0]);
}

typedef struct Pair {
  tide_Array ys, ps; /* copies, so an n x 1 column can be read as a vector */
  tide_Array *y, *p;
  tide_Rows rows;
  int ya, pa; /* aligned with the subset already */
  int64_t n;
} Pair;

static void check_pair(lua_State *L, const char *fname, Pair *q) {
  static const char *const names[] = {"rows", NULL};
  tideL_checkopts(L, 3, lua_pushfstring(L, "tide.metrics.%s", fname), names);
  q->ys = *tideL_check(L, 1);
  q->ps = *tideL_check(L, 2);
  q->y = &q->ys;
  q->p = &q->ps;
  if (q->y->ndim == 2 && q->y->shape[1] == 1) q->y->ndim = 1; /* n x 1 columns read as vectors */
  if (q->y->ndim != 1) luaL_argerror(L, 1, "y must be a vector");
  if (q->p->ndim != 1 && !(q->p->ndim == 2 && q->p->shape[1] == 1))
    luaL_argerror(L, 2, "predictions must be a vector");
  int64_t ny = q->y->shape[0], np = q->p->shape[0];
  int64_t full = ny > np ? ny : np;
  tideM_checkrows(L, 3, "rows", full, &q->rows);
  q->n = q->rows.n;
  q->ya = tide_rows_subset(&q->rows) && ny == q->rows.n && ny != full;
  q->pa = tide_rows_subset(&q->rows) && np == q->rows.n && np != full;
  if (!tide_rows_subset(&q->rows) && ny != np)
    luaL_error(L, "bad argument #2 to '%s' (%d predictions for %d true values)", fname, (int)np,
               (int)ny);
  if (tide_rows_subset(&q->rows) && ((!q->ya && ny != full) || (!q->pa && np != full)))
    luaL_error(L, "bad argument #2 to '%s' (lengths %d and %d fit neither the rows nor the data)",
               fname, (int)ny, (int)np);
  if (q->n == 0) luaL_error(L, "%s: no rows", fname);
}

static int m_r2(lua_State *L) {
  Pair q;
  check_pair(L, "r2", &q);
  double mean = 0, ss_res = 0, ss_tot = 0;
  for (int64_t k = 0; k < q.n; k++) mean += at(q.y, &q.rows, k, q.ya);
  mean /= (double)q.n;
  for (int64_t k = 0; k < q.n; k++) {
    double y = at(q.y, &q.rows, k, q.ya), d = y - at(q.p, &q.rows, k, q.pa);
    ss_res += d * d;
    ss_tot += (y - mean) * (y - mean);
  }
  /* scikit-learn: a constant y gives 1 for a perfect fit, else 0 */
  lua_pushnumber(L, ss_tot > 0 ? 1 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0));
  return 1;
}

static int m_mse(lua_State *L) {
  Pair q;
  check_pair(L, "mse", &q);
  double s = 0;
  for (int64_t k = 0; k < q.n; k++) {
    double d = at(q.y, &q.rows, k, q.ya) - at(q.p, &q.rows, k, q.pa);
    s += d * d;
  }
  lua_pushnumber(L, s / (double)q.n);
  return 1;
}

static int m_mae(lua_State *L) {
  Pair q;
  check_pair(L, "mae", &q);
  double s = 0;
  for (int64_t k = 0; k < q.n; k++) s += fabs(at(q.y, &q.rows, k, q.ya) - at(q.p, &q.rows, k, q.pa));
  lua_pushnumber(L, s / (double)q.n);
  return 1;
}

static int m_accuracy(lua_State *L) {
  Pair q;
  check_pair(L, "accuracy", &q);
  int64_t hit = 0;
  for (int64_t k = 0; k < q.n; k++) hit += at(q.y, &q.rows, k, q.ya) == at(q.p, &q.rows, k, q.pa);
  lua_pushnumber(L, (double)hit / (double)q.n);
  return 1;
}

/* log_loss(y, proba [, {rows =, classes =, eps =}]): proba is n x k class
** probabilities (columns in the order of `classes`, default 0..k-1) or, for
** two classes, a vector of P(class 2). */
static int m_log_loss(lua_State *L) {
  static const char *const names[] = {"rows", "classes", "eps", NULL};
  tideL_checkopts(L, 3, "tide.metrics.log_loss", names);
  tide_Array *y = tideL_check(L, 1), *P = tideL_check(L, 2);
  luaL_argcheck(L, y->ndim == 1, 1, "y must be a vector");
  luaL_argcheck(L, P->ndim == 1 || P->ndim == 2, 2, "probabilities must be a vector or a matrix");
  int64_t k = P->ndim == 2 ? P->shape[1] : 2;
  double classes[256];
  luaL_argcheck(L, k <= 256, 2, "at most 256 classes");
  for (int64_t c = 0; c < k; c++) classes[c] = (double)c;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "classes");
    tide_Array *ca = tideL_test(L, -1);
    if (ca) {
      luaL_argcheck(L, ca->ndim == 1 && ca->shape[0] == k, 3, "classes must list one label per column");
      for (int64_t c = 0; c < k; c++) classes[c] = tide_load_f64(ca->dtype, ca->data + c * ca->strides[0]);
    } else if (lua_istable(L, -1)) {
      luaL_argcheck(L, (int64_t)luaL_len(L, -1) == k, 3, "classes must list one label per column");
      for (int64_t c = 0; c < k; c++) {
        lua_geti(L, -1, c + 1);
        classes[c] = lua_tonumber(L, -1);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  double eps = tideL_optnum(L, 3, "eps", 1e-15);
  int64_t full = y->shape[0] > P->shape[0] ? y->shape[0] : P->shape[0];
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", full, &r);
  int ya = tide_rows_subset(&r) && y->shape[0] == r.n && y->shape[0] != full;
  int pa = tide_rows_subset(&r) && P->shape[0] == r.n && P->shape[0] != full;
  if (!tide_rows_subset(&r) && y->shape[0] != P->shape[0])
    luaL_error(L, "bad argument #2 to 'log_loss' (%d rows of probabilities for %d labels)",
               (int)P->shape[0], (int)y->shape[0]);
  double s = 0;
  for (int64_t i = 0; i < r.n; i++) {
    double lab = at(y, &r, i, ya);
    int64_t row = pa ? i : tide_rows_at(&r, i);
    int64_t c = 0;
    while (c < k && classes[c] != lab) c++;
    if (c == k) return luaL_error(L, "log_loss: label %f is not among the classes", lab);
    double pr;
    if (P->ndim == 2) pr = tide_load_f64(P->dtype, P->data + row * P->strides[0] + c * P->strides[1]);
    else {
      double p1 = tide_load_f64(P->dtype, P->data + row * P->strides[0]);
      pr = c == 1 ? p1 : 1 - p1;
    }
    if (pr < eps) pr = eps;
    if (pr > 1 - eps) pr = 1 - eps;
    s -= log(pr);
  }
  lua_pushnumber(L, s / (double)(r.n ? r.n : 1));
  return 1;
}

/* X . coef + intercept for the rows (shared by the linear models). */
static int k_linear_predict(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *coef = tideL_check(L, 2);
  double intercept = luaL_optnumber(L, 3, 0);
  luaL_argcheck(L, X->ndim == 2, 1, "X must be 2-dimensional");
  luaL_argcheck(L, coef->ndim == 1 && coef->shape[0] == X->shape[1] && coef->dtype == TIDE_F64 &&
                coef->strides[0] == 8, 2, "coef must be a contiguous f64 vector, one per feature");
  tide_Rows r;
  tideM_checkrows(L, 4, "rows", X->shape[0], &r);
  tideM_checkmap(L, 4, "xmap", X->shape[1], &r);
  double *out = tideM_newvec(L, r.n, NULL);
  int rc = tide_linear_predict(X, &r, (const double *)coef->data, intercept, out);
  return rc ? tideL_raise(L, rc) : 1;
}

/* gram(X, y [, {rows =, weights =, center = true}]) -> {xmean, ymean, XtX, Xty, sw} */
static int k_gram(lua_State *L) {
  tide_Array *X = tideL_check(L, 1), *y = lua_isnoneornil(L, 2) ? NULL : tideL_check(L, 2);
  tide_Rows r;
  tideM_checkrows(L, 3, "rows", X->ndim ? X->shape[0] : 0, &r);
  tide_Array *w = NULL;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "weights");
    w = tideL_test(L, -1);
  }
  int rc = tide_check_xy(X, y, w, &r, "gram");
  if (rc) return tideL_raise(L, rc);
  tide_Gram g;
  rc = tide_gram(X, y, w, &r, tideL_optbool(L, 3, "center", 1), &g);
  if (rc) return tideL_raise(L, rc);
  int64_t p = g.p, pp[2] = {p, p};
  lua_createtable(L, 0, 5);
  tide_Array *a = tideL_push(L);
  if ((rc = tide_array_new(a, TIDE_F64, 1, &p, TIDE_WHERE_HEAP)) == 0)
    memcpy(a->data, g.xmean, (size_t)p * 8);
  lua_setfield(L, -2, "xmean");
  a = tideL_push(L);
  if (!rc && (rc = tide_array_new(a, TIDE_F64, 2, pp, TIDE_WHERE_AUTO)) == 0)
    memcpy(a->data, g.XtX, (size_t)(p * p) * 8);
  lua_setfield(L, -2, "XtX");
  a = tideL_push(L);
  if (!rc && (rc = tide_array_new(a, TIDE_F64, 1, &p, TIDE_WHERE_HEAP)) == 0)
    memcpy(a->data, g.Xty, (size_t)p * 8);
  lua_setfield(L, -2, "Xty");
  lua_pushnumber(L, g.ymean);
  lua_setfield(L, -2, "ymean");
  lua_pushnumber(L, g.sw);
  lua_setfield(L, -2, "sw");
  tide_gram_free(&g);
  return rc ? tideL_raise(L, rc) : 1;
}

/* first_nonwhole(y [, {rows =}]) -> nil, or the 1-based row of y and the
** value of the first of the rows whose label is not a whole number (the
** classifiers' check of their target, in models.lua). */
static int k_first_nonwhole(lua_State *L) {
  tide_Array *y = tideL_check(L, 1);
  luaL_argcheck(L, y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1), 1, "y must be a vector");
  tide_Rows r;
  tideM_checkrows(L, 2, "rows", y->shape[0], &r);
  double v = 0;
  int64_t i = tide_first_nonwhole(y, &r, &v);
  if (i < 0) return 0;
  lua_pushinteger(L, i + 1);
  lua_pushnumber(L, v);
  return 2;
}

/* local guard <close> = serial(): OpenBLAS on one thread (see
** runtime/core/blas.c) until the guard is closed, on error too.  A
** to-be-closed value keeps error levels and positions as they were. */
static int serial_close(lua_State *L) {
  int *saved = lua_touserdata(L, 1);
  if (saved && *saved) {
    tide_blas_restore(*saved);
    *saved = 0;
  }
  return 0;
}

static int k_serial(lua_State *L) {
  int *saved = lua_newuserdatauv(L, sizeof *saved, 0);
  *saved = 0;
  if (luaL_newmetatable(L, "tide.blas_serial")) {
    lua_pushcfunction(L, serial_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, serial_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *saved = tide_blas_serial();
  return 1;
}

void tideB_open_models(lua_State *L) {
  static const luaL_Reg metrics[] = {
    {"r2", m_r2}, {"mse", m_mse}, {"mae", m_mae}, {"accuracy", m_accuracy},
    {"log_loss", m_log_loss}, {NULL, NULL}};
  static const luaL_Reg kernels[] = {
    {"linear_predict", k_linear_predict}, {"gram", k_gram}, {"serial", k_serial},
    {"first_nonwhole", k_first_nonwhole}, {NULL, NULL}};
  luaL_newlib(L, metrics);
  lua_setfield(L, -2, "metrics");
  tideL_pushinternal(L, -1);
  luaL_newlib(L, kernels);
  for (const tideM_Opener *o = tideM_openers; o->open; o++) o->open(L);
  lua_setfield(L, -2, "models");
  lua_pop(L, 1);
}
