/*
** l_optimize.c -- tide.optimize.minimize: scipy.optimize.minimize's
** L-BFGS-B and Nelder-Mead over runtime/core/optimize.c.
**
**   tide.optimize.minimize(f, x0 [, {method = "l-bfgs-b" | "nelder-mead",
**       grad =, bounds =, tol =, max_iter =, max_fev =, adaptive =}])
**   --> {x =, fun =, nit =, nfev =, success =, message =, status =,
**        jac =, njev = (l-bfgs-b)}
**
** f(x) gets a new 1-D f64 array each call (scipy passes copies too) and
** returns a number; grad(x) returns a table or an array of n partial
** derivatives.  Without grad, L-BFGS-B takes scipy's forward differences
** (absolute step 1e-8, turned around at bounds) and, as scipy, leaves out
** the variables that bounds fix.  Every byte of a run lives in userdata on
** the Lua stack, so an error raised in f or grad goes straight through
** (with its traceback) and leaks nothing.
*/
#include <math.h>
#include <string.h>
#include <strings.h>

#include "bind.h"
#include "optimize.h"

enum { F = 1, X0 = 2, OPTS = 3 };

typedef struct Run {
  int n, nfree;           /* variables, and those the bounds leave free */
  int has_grad;           /* stack index of grad, or 0 */
  int64_t nfev, ngev;
  double *full, *lo, *hi; /* full x (fixed values in place), bounds (+-inf open) */
  int *free_idx;          /* the free variables' indices */
  bool bounded;
} Run;

static void *scratch(lua_State *L, size_t bytes) {
  void *p = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
  memset(p, 0, bytes ? bytes : 1);
  return p;
}

/* The value f returned (at -1): a number, or an array of one value. */
static double number_from(lua_State *L, const char *what) {
  if (lua_type(L, -1) == LUA_TNUMBER) return lua_tonumber(L, -1);
  tide_Array *a = tideL_test(L, -1);
  if (a && a->storage && tide_array_size(a) == 1) return tide_load_f64(a->dtype, a->data);
  return luaL_error(L, "minimize: %s must return a number, got %s", what,
                    a ? "an array of more than one value" : luaL_typename(L, -1));
}

/* Pushes a new 1-D f64 array holding the full point for the free values x. */
static void push_point(lua_State *L, Run *r, const double *x) {
  for (int i = 0; i < r->nfree; i++) r->full[r->free_idx[i]] = x[i];
  tide_Array *a = tideL_push(L);
  int64_t n = r->n;
  int rc = tide_array_new(a, TIDE_F64, 1, &n, TIDE_WHERE_AUTO | TIDE_WHERE_UNINIT);
  if (rc) tideL_raise(L, rc);
  memcpy(a->data, r->full, (size_t)n * sizeof(double));
}

static double feval(lua_State *L, Run *r, const double *x) {
  lua_pushvalue(L, F);
  push_point(L, r, x);
  lua_call(L, 1, 1);
  double v = number_from(L, "f");
  lua_pop(L, 1);
  r->nfev++;
  return v;
}

/* grad at x into g (the free variables' entries). */
static void geval(lua_State *L, Run *r, const double *x, double *g) {
  lua_pushvalue(L, r->has_grad);
  push_point(L, r, x);
  lua_call(L, 1, 1);
  r->ngev++;
  tide_Array *a = tideL_test(L, -1);
  int64_t len = a && a->storage && a->ndim == 1 ? a->shape[0]
                : lua_istable(L, -1) ? (int64_t)lua_rawlen(L, -1) : -1;
  if (len != r->n)
    luaL_error(L, "minimize: grad must return %d values (a table or a 1-D array), got %s", r->n,
               len < 0 ? luaL_typename(L, -1) : lua_pushfstring(L, "%d", (int)len));
  for (int i = 0; i < r->nfree; i++) {
    int k = r->free_idx[i];
    if (a) {
      g[i] = tide_load_f64(a->dtype, a->data + k * a->strides[0]);
    } else {
      lua_rawgeti(L, -1, k + 1);
      if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "minimize: grad's value %d must be a number, got %s", k + 1,
                   luaL_typename(L, -1));
      g[i] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* ------------------------------------------------------------ options */

static double opt_num(lua_State *L, const char *key, double dflt, double lo, bool allow_huge) {
  double v = dflt;
  if (lua_getfield(L, OPTS, key) != LUA_TNIL) {
    if (!lua_isnumber(L, -1) || lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, OPTS, lua_pushfstring(L, "option '%s' must be a number, got %s", key,
                                             luaL_typename(L, -1)));
    v = lua_tonumber(L, -1);
    if (!(v >= lo) || (!allow_huge && v == HUGE_VAL))
      luaL_argerror(L, OPTS, lua_pushfstring(L, "option '%s' must be a number >= %f, got %f", key,
                                             lo, v));
  }
  lua_pop(L, 1);
  return v;
}

/* A count option (max_iter, max_fev): an integer >= 0 or math.huge (no
** limit); -1 when absent. */
static int64_t opt_count(lua_State *L, const char *key) {
  int64_t v = -1;
  if (lua_getfield(L, OPTS, key) != LUA_TNIL) {
    lua_Number d = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    if (d == HUGE_VAL) v = INT64_MAX;
    else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0) v = lua_tointeger(L, -1);
    else if (d >= 0 && d == floor(d) && d < 9e18) v = (int64_t)d;
    else
      luaL_argerror(L, OPTS, lua_pushfstring(L, "option '%s' must be a count >= 0 or math.huge, "
                                             "got %s", key, luaL_tolstring(L, -1, NULL)));
  }
  lua_pop(L, 1);
  return v;
}

/* x0 (a table of numbers or a 1-D array) into x. */
static int read_x0(lua_State *L, double **x) {
  tide_Array *a = tideL_test(L, X0);
  if (!a && tideL_testrowset(L, X0)) a = tideL_toarray(L, X0);
  int64_t n;
  if (a) {
    if (!a->storage) luaL_argerror(L, X0, "array is closed");
    if (a->ndim != 1)
      luaL_argerror(L, X0, lua_pushfstring(L, "x0 must be a table or a 1-D array, got a %d-D array",
                                           a->ndim));
    n = a->shape[0];
  } else if (lua_istable(L, X0)) {
    n = (int64_t)lua_rawlen(L, X0);
  } else {
    return luaL_typeerror(L, X0, "table or array");
  }
  luaL_argcheck(L, n >= 1, X0, "x0 has no values");
  luaL_argcheck(L, n <= (1 << 24), X0, "x0 has too many values");
  *x = scratch(L, (size_t)n * sizeof(double)); /* stays on the stack */
  for (int64_t i = 0; i < n; i++) {
    if (a) {
      (*x)[i] = tide_load_f64(a->dtype, a->data + i * a->strides[0]);
    } else {
      if (lua_rawgeti(L, X0, i + 1) != LUA_TNUMBER)
        luaL_argerror(L, X0, lua_pushfstring(L, "x0[%d] must be a number, got %s", (int)i + 1,
                                             luaL_typename(L, -1)));
      (*x)[i] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  }
  return (int)n;
}

/* bounds = {{lo, hi}, ...}: nil (or -+math.huge) for an open side, a nil
** entry for a free variable. */
static void read_bounds(lua_State *L, Run *r) {
  int n = r->n;
  r->lo = scratch(L, (size_t)n * sizeof(double));
  r->hi = scratch(L, (size_t)n * sizeof(double));
  for (int i = 0; i < n; i++) {
    r->lo[i] = -HUGE_VAL;
    r->hi[i] = HUGE_VAL;
  }
  if (lua_getfield(L, OPTS, "bounds") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_argerror(L, OPTS, lua_pushfstring(L, "option 'bounds' must be a table of {lo, hi} pairs, "
                                           "got %s", luaL_typename(L, -1)));
  int b = lua_gettop(L);
  lua_Integer count = (lua_Integer)lua_rawlen(L, b);
  if (count > n)
    luaL_argerror(L, OPTS, lua_pushfstring(L, "bounds has %d entries for %d variables", (int)count,
                                           n));
  for (int i = 0; i < n; i++) {
    int t = lua_rawgeti(L, b, i + 1);
    if (t == LUA_TTABLE) {
      for (int side = 0; side < 2; side++) {
        int ts = lua_rawgeti(L, -1, side + 1);
        if (ts == LUA_TNUMBER) {
          double v = lua_tonumber(L, -1);
          if (v != v)
            luaL_argerror(L, OPTS, lua_pushfstring(L, "bounds[%d][%d] is NaN", i + 1, side + 1));
          if (side == 0) r->lo[i] = v;
          else r->hi[i] = v;
        } else if (ts != LUA_TNIL) {
          luaL_argerror(L, OPTS, lua_pushfstring(L, "bounds[%d][%d] must be a number or nil, "
                                                 "got %s", i + 1, side + 1, luaL_typename(L, -1)));
        }
        lua_pop(L, 1);
      }
      if (r->lo[i] > r->hi[i])
        luaL_argerror(L, OPTS, lua_pushfstring(L, "bounds[%d]: the lower bound %f is greater "
                                               "than the upper bound %f", i + 1, r->lo[i],
                                               r->hi[i]));
    } else if (t != LUA_TNIL) {
      luaL_argerror(L, OPTS, lua_pushfstring(L, "bounds[%d] must be a {lo, hi} pair or nil, "
                                             "got %s", i + 1, luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
    if (r->lo[i] > -HUGE_VAL || r->hi[i] < HUGE_VAL) r->bounded = true;
  }
  lua_pop(L, 1);
}

/* ------------------------------------------------------------ results */

static void push_result(lua_State *L, Run *r, const double *xfree, double fun, int64_t nit,
                        int64_t nfev, int status, const char *message) {
  lua_createtable(L, 0, 10);
  push_point(L, r, xfree);
  lua_setfield(L, -2, "x");
  lua_pushnumber(L, fun);
  lua_setfield(L, -2, "fun");
  lua_pushinteger(L, (lua_Integer)nit);
  lua_setfield(L, -2, "nit");
  lua_pushinteger(L, (lua_Integer)nfev);
  lua_setfield(L, -2, "nfev");
  lua_pushboolean(L, status == 0);
  lua_setfield(L, -2, "success");
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
}

/* ------------------------------------------------------------ methods */

/* f and g at x (the free variables): scipy's ScalarFunction, forward
** differences when there is no grad. */
static double fg(lua_State *L, Run *r, const double *x, double *g, double *h, double *xt) {
  double f0 = feval(L, r, x);
  if (r->has_grad) {
    geval(L, r, x, g);
    return f0;
  }
  int m = r->nfree;
  double *lo = r->bounded ? h + m : NULL, *hi = r->bounded ? h + 2 * m : NULL;
  if (r->bounded)
    for (int i = 0; i < m; i++) {
      lo[i] = r->lo[r->free_idx[i]];
      hi[i] = r->hi[r->free_idx[i]];
    }
  tide_fd_steps(m, x, lo, hi, 1e-8, h);
  r->ngev++;
  memcpy(xt, x, (size_t)m * sizeof(double));
  for (int i = 0; i < m; i++) {
    xt[i] = x[i] + h[i];
    double dx = xt[i] - x[i];
    g[i] = (feval(L, r, xt) - f0) / dx;
    xt[i] = x[i];
  }
  return f0;
}

static int lbfgsb(lua_State *L, Run *r, const double *x0, double tol, int64_t maxiter,
                  int64_t maxfun) {
  double ftol = tol >= 0 ? tol : 2.2204460492503131e-09, gtol = tol >= 0 ? tol : 1e-5;
  if (maxiter < 0) maxiter = 15000;
  if (maxfun < 0) maxfun = 15000;
  int n = r->n, m = 0, fixed = 0;
  for (int i = 0; i < n; i++) fixed += r->lo[i] == r->hi[i];
  /* with every variable fixed there is nothing to do; else scipy leaves
  ** out the variables the bounds fix when it takes differences */
  for (int i = 0; i < n; i++) {
    r->full[i] = x0[i];
    if (r->lo[i] == r->hi[i] && (fixed == n || !r->has_grad)) r->full[i] = r->lo[i];
    else r->free_idx[m++] = i;
  }
  r->nfree = m;
  if (m == 0) {
    double f = feval(L, r, NULL);
    push_result(L, r, NULL, f, 0, r->nfev, 0, "All independent variables were fixed by bounds.");
    return 1;
  }
  double *xf = scratch(L, (size_t)m * 6 * sizeof(double)), *lo = xf + m, *hi = xf + 2 * m;
  double *cx = xf + 3 * m, *cg = xf + 4 * m, *xt = xf + 5 * m;
  double *h = scratch(L, (size_t)m * 3 * sizeof(double));
  for (int i = 0; i < m; i++) {
    int k = r->free_idx[i];
    xf[i] = x0[k];
    lo[i] = r->lo[k];
    hi[i] = r->hi[k];
  }
  tide_Lbfgsb *s = tide_lbfgsb_init(scratch(L, tide_lbfgsb_size(m, 10)), m, 10, xf, lo, hi, ftol,
                                    gtol);
  /* ScalarFunction evaluates f and g at x0 first */
  memcpy(cx, s->x, (size_t)m * sizeof(double));
  double cf = fg(L, r, cx, cg, h, xt);
  int64_t nit = 0;
  for (;;) {
    int k = tide_lbfgsb_step(s);
    if (k == TIDE_LBFGSB_FG) {
      bool same = true;
      for (int i = 0; i < m && same; i++) same = s->x[i] == cx[i];
      if (!same) {
        memcpy(cx, s->x, (size_t)m * sizeof(double));
        cf = fg(L, r, cx, cg, h, xt);
      }
      s->f = cf;
      memcpy(s->g, cg, (size_t)m * sizeof(double));
    } else if (k == TIDE_LBFGSB_NEW_X) {
      nit++;
      if (nit >= maxiter) tide_lbfgsb_stop(s, "STOP: TOTAL NO. of ITERATIONS REACHED LIMIT");
      else if (r->nfev > maxfun)
        tide_lbfgsb_stop(s, "STOP: TOTAL NO. of f AND g EVALUATIONS EXCEEDS LIMIT");
    } else {
      break;
    }
  }
  char msg[61];
  tide_lbfgsb_message(s, msg);
  int status = strncmp(msg, "CONV", 4) == 0 ? 0 : (r->nfev > maxfun || nit >= maxiter) ? 1 : 2;
  push_result(L, r, s->x, s->f, nit, r->nfev, status, msg);
  /* jac: the gradient at x, NaN for variables the bounds fixed */
  tide_Array *j = tideL_push(L);
  int64_t nn = n;
  int rc = tide_array_new(j, TIDE_F64, 1, &nn, TIDE_WHERE_AUTO);
  if (rc) tideL_raise(L, rc);
  for (int i = 0; i < n; i++) ((double *)j->data)[i] = NAN;
  for (int i = 0; i < m; i++) ((double *)j->data)[r->free_idx[i]] = s->g[i];
  lua_setfield(L, -2, "jac");
  lua_pushinteger(L, (lua_Integer)r->ngev);
  lua_setfield(L, -2, "njev");
  return 1;
}

static int nelder_mead(lua_State *L, Run *r, const double *x0, double tol, int64_t maxiter,
                       int64_t maxfev, bool adaptive) {
  int n = r->n;
  r->nfree = n;
  for (int i = 0; i < n; i++) r->free_idx[i] = i;
  double atol = tol >= 0 ? tol : 1e-4;
  tide_NelderMead *s = tide_nm_init(scratch(L, tide_nm_size(n)), n, x0,
                                    r->bounded ? r->lo : NULL, r->bounded ? r->hi : NULL,
                                    adaptive, atol, atol, maxiter, maxfev);
  double fx = 0;
  const double *x;
  while (tide_nm_next(s, fx, &x)) fx = feval(L, r, x);
  double best;
  int status;
  const char *msg = tide_nm_result(s, &x, &best, &status);
  push_result(L, r, x, best, s->nit, s->nfev, status, msg);
  return 1;
}

static int l_minimize(lua_State *L) {
  static const char *const names[] = {"method", "grad", "bounds", "tol", "max_iter", "max_fev",
                                      "adaptive", NULL};
  luaL_checktype(L, F, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, OPTS)) {
    luaL_checktype(L, OPTS, LUA_TTABLE);
    tideL_checkopts(L, OPTS, "tide.optimize.minimize", names);
  } else {
    lua_settop(L, OPTS - 1);
    lua_newtable(L);
  }
  lua_settop(L, OPTS);
  double *x0 = NULL;
  Run r = {0};
  r.n = read_x0(L, &x0);
  bool nm = false;
  if (lua_getfield(L, OPTS, "method") != LUA_TNIL) {
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (m && strcasecmp(m, "nelder-mead") == 0) nm = true;
    else if (!m || strcasecmp(m, "l-bfgs-b") != 0)
      luaL_argerror(L, OPTS, lua_pushfstring(L, "option 'method' must be \"l-bfgs-b\" or "
                                             "\"nelder-mead\", got %s%s%s", m ? "'" : "",
                                             m ? m : luaL_typename(L, -1), m ? "'" : ""));
  }
  lua_pop(L, 1);
  if (lua_getfield(L, OPTS, "grad") != LUA_TNIL) {
    if (!lua_isfunction(L, -1))
      luaL_argerror(L, OPTS, lua_pushfstring(L, "option 'grad' must be a function, got %s",
                                             luaL_typename(L, -1)));
    if (nm) luaL_argerror(L, OPTS, "option 'grad' is for l-bfgs-b (nelder-mead uses no gradient)");
    r.has_grad = lua_gettop(L);
  } else {
    lua_pop(L, 1);
  }
  bool adaptive = false;
  if (lua_getfield(L, OPTS, "adaptive") != LUA_TNIL) {
    if (!lua_isboolean(L, -1))
      luaL_argerror(L, OPTS, lua_pushfstring(L, "option 'adaptive' must be a boolean, got %s",
                                             luaL_typename(L, -1)));
    if (!nm) luaL_argerror(L, OPTS, "option 'adaptive' is for nelder-mead");
    adaptive = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  double tol = opt_num(L, "tol", -1, 0, false);
  int64_t maxiter = opt_count(L, "max_iter"), maxfev = opt_count(L, "max_fev");
  read_bounds(L, &r);
  r.full = scratch(L, (size_t)r.n * sizeof(double));
  r.free_idx = scratch(L, (size_t)r.n * sizeof(int));
  memcpy(r.full, x0, (size_t)r.n * sizeof(double));
  return nm ? nelder_mead(L, &r, x0, tol, maxiter, maxfev, adaptive)
            : lbfgsb(L, &r, x0, tol, maxiter, maxfev);
}

void tideB_open_optimize(lua_State *L) {
  static const luaL_Reg funcs[] = {{"minimize", l_minimize}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "optimize");
}
