/*
** l_linalg.c -- tide.linalg: numpy.linalg's functions over LAPACKE
** (runtime/core/lapack.c).
**
**   tide.linalg.solve(A, B)            X with A X = B
**   tide.linalg.lstsq(A, B [, {rcond =}])   x, residuals, rank, s
**   tide.linalg.inv(A)  det(A)  slogdet(A) -> sign, logabsdet
**   tide.linalg.cholesky(A)            lower L, A = L L^T
**   tide.linalg.qr(A)                  Q, R (reduced)
**   tide.linalg.svd(A [, {full = false, compute_uv = true}])   U, S, Vt
**   tide.linalg.eigh(A)                w (ascending), V (columns)
**   tide.linalg.eig(A)                 wr, wi, V as dgeev gives them
**   tide.linalg.pinv(A [, {rcond = 1e-15}])   tide.linalg.matrix_rank(A [, {tol =}])
*/
#include <math.h>

#include "bind.h"
#include "lapack.h"

/* rc = CALL, once more after a full collection when memory ran out. */
#define RETRY(rc, CALL)                                   \
  do {                                                    \
    rc = (CALL);                                          \
    if (rc == TIDE_ENOMEM || rc == TIDE_ENOSPC) {         \
      lua_gc(L, LUA_GCCOLLECT);                           \
      rc = (CALL);                                        \
    }                                                     \
  } while (0)

/* The options table at i (none or nil: no options), checked. */
static bool opts_at(lua_State *L, int i, const char *fname, const char *const *names) {
  if (lua_isnoneornil(L, i)) return false;
  luaL_checktype(L, i, LUA_TTABLE);
  tideL_checkopts(L, i, fname, names);
  return true;
}

static double opt_number(lua_State *L, int i, const char *key, double dflt) {
  int t = lua_getfield(L, i, key);
  double v = dflt;
  if (t != LUA_TNIL) {
    if (t != LUA_TNUMBER)
      luaL_argerror(L, i, lua_pushfstring(L, "option '%s' must be a number, got %s", key,
                                          luaL_typename(L, -1)));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static bool opt_bool(lua_State *L, int i, const char *key, bool dflt) {
  int t = lua_getfield(L, i, key);
  bool v = dflt;
  if (t != LUA_TNIL) {
    if (t != LUA_TBOOLEAN)
      luaL_argerror(L, i, lua_pushfstring(L, "option '%s' must be a boolean, got %s", key,
                                          luaL_typename(L, -1)));
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* B of A X = B: a vector or a matrix with as many rows as A; else an
** error naming argument 2. */
static void check_rhs(lua_State *L, const tide_Array *A, const tide_Array *B) {
  char b1[64], b2[64];
  if (B->ndim < 1 || B->ndim > 2)
    luaL_argerror(L, 2, lua_pushfstring(L, "a vector or a matrix expected, got a %d-D array",
                                        B->ndim));
  if (A->ndim == 2 && B->shape[0] != A->shape[0])
    luaL_argerror(L, 2, lua_pushfstring(L, "shapes %s and %s do not align",
                                        tide_shape_str(A->ndim, A->shape, b1, sizeof b1),
                                        tide_shape_str(B->ndim, B->shape, b2, sizeof b2)));
}

static int l_solve(lua_State *L) {
  tide_Array *A = tideL_check(L, 1), *B = tideL_check(L, 2);
  check_rhs(L, A, B);
  tide_Array *X = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_solve(A, B, X));
  return rc ? tideL_argraise(L, 1, rc) : 1;
}

static int l_lstsq(lua_State *L) {
  static const char *const names[] = {"rcond", NULL};
  tide_Array *A = tideL_check(L, 1), *B = tideL_check(L, 2);
  double rcond = -1;
  if (opts_at(L, 3, "tide.linalg.lstsq", names)) {
    rcond = opt_number(L, 3, "rcond", -1);
    luaL_argcheck(L, rcond == rcond, 3, "rcond must be a number");
  }
  check_rhs(L, A, B);
  lua_settop(L, 3);
  tide_Array *x = tideL_push(L), *res = tideL_push(L);
  int64_t rank = 0;
  int rc;
  lua_pushnil(L); /* the rank's slot */
  tide_Array *s = tideL_push(L);
  RETRY(rc, tide_linalg_lstsq(A, B, rcond, x, res, &rank, s));
  if (rc) return tideL_argraise(L, 1, rc);
  lua_pushinteger(L, (lua_Integer)rank);
  lua_replace(L, -3);
  return 4;
}

static int l_inv(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_inv(A, out));
  return rc ? tideL_argraise(L, 1, rc) : 1;
}

static int l_slogdet(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  double sign, logdet;
  int rc;
  RETRY(rc, tide_linalg_slogdet(A, &sign, &logdet));
  if (rc) return tideL_argraise(L, 1, rc);
  lua_pushnumber(L, sign);
  lua_pushnumber(L, logdet);
  return 2;
}

/* numpy's det: sign * exp(log |det|), from the same factorization. */
static int l_det(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  double sign, logdet;
  int rc;
  RETRY(rc, tide_linalg_slogdet(A, &sign, &logdet));
  if (rc) return tideL_argraise(L, 1, rc);
  lua_pushnumber(L, sign * exp(logdet));
  return 1;
}

static int l_cholesky(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_cholesky(A, out));
  return rc ? tideL_argraise(L, 1, rc) : 1;
}

static int l_qr(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  tide_Array *Q = tideL_push(L), *R = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_qr(A, Q, R));
  return rc ? tideL_argraise(L, 1, rc) : 2;
}

static int l_svd(lua_State *L) {
  static const char *const names[] = {"full", "compute_uv", NULL};
  tide_Array *A = tideL_check(L, 1);
  bool full = false, uv = true;
  if (opts_at(L, 2, "tide.linalg.svd", names)) {
    full = opt_bool(L, 2, "full", false);
    uv = opt_bool(L, 2, "compute_uv", true);
  }
  lua_settop(L, 2);
  tide_Array *U = tideL_push(L), *S = tideL_push(L), *Vt = tideL_push(L);
  int rc;
  if (uv) RETRY(rc, tide_linalg_svd(A, full, U, S, Vt));
  else RETRY(rc, tide_linalg_svd(A, full, NULL, S, NULL));
  if (rc) return tideL_argraise(L, 1, rc);
  if (uv) return 3;
  lua_pushvalue(L, -2);
  return 1;
}

static int l_eigh(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  tide_Array *w = tideL_push(L), *V = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_eigh(A, w, V));
  return rc ? tideL_argraise(L, 1, rc) : 2;
}

static int l_eig(lua_State *L) {
  tide_Array *A = tideL_check(L, 1);
  tide_Array *wr = tideL_push(L), *wi = tideL_push(L), *V = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_eig(A, wr, wi, V));
  return rc ? tideL_argraise(L, 1, rc) : 3;
}

static int l_pinv(lua_State *L) {
  static const char *const names[] = {"rcond", NULL};
  tide_Array *A = tideL_check(L, 1);
  double rcond = 1e-15;
  if (opts_at(L, 2, "tide.linalg.pinv", names)) {
    rcond = opt_number(L, 2, "rcond", 1e-15);
    luaL_argcheck(L, rcond == rcond, 2, "rcond must be a number");
  }
  lua_settop(L, 2);
  tide_Array *out = tideL_push(L);
  int rc;
  RETRY(rc, tide_linalg_pinv(A, rcond, out));
  return rc ? tideL_argraise(L, 1, rc) : 1;
}

static int l_matrix_rank(lua_State *L) {
  static const char *const names[] = {"tol", NULL};
  tide_Array *A = tideL_check(L, 1);
  double tol = -1;
  if (opts_at(L, 2, "tide.linalg.matrix_rank", names)) {
    if (lua_getfield(L, 2, "tol") != LUA_TNIL) {
      luaL_argcheck(L, lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0, 2,
                    "option 'tol' must be a number >= 0");
      tol = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
  }
  int64_t rank;
  int rc;
  RETRY(rc, tide_linalg_matrix_rank(A, tol, &rank));
  if (rc) return tideL_argraise(L, 1, rc);
  lua_pushinteger(L, (lua_Integer)rank);
  return 1;
}

void tideB_open_linalg(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"solve", l_solve}, {"lstsq", l_lstsq}, {"inv", l_inv}, {"det", l_det},
    {"slogdet", l_slogdet}, {"cholesky", l_cholesky}, {"qr", l_qr}, {"svd", l_svd},
    {"eigh", l_eigh}, {"eig", l_eig}, {"pinv", l_pinv}, {"matrix_rank", l_matrix_rank},
    {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "linalg");
}
