/*
** l_sort.c -- Lua bindings for sorting and order statistics (sort.h):
**
**   a:sort([dim] [, {descending =, stable =, jobs =}])   a:argsort(...)
**   a:topk(k [, dim] [, {largest =}])  -> values, positions
**   tide.unique(a [, {counts =, inverse =}])  -> values [, counts] [, inverse]
**   a:searchsorted(v [, {side = "left" | "right"}])
**   a:median([dim] [, {skipnan =, keepdims =}])
**   a:quantile(q [, dim] [, {method =, skipnan =, keepdims =}])
**
** Dimensions default to the last (numpy's axis=-1); positions are 1-based.
** A big 1-D array is sorted by the workers of parallel loops over shared
** memory (a sample sort, psort.c) when jobs allows more than one: see
** psort_run below.
*/
#include <string.h>

#include "bind.h"
#include "sort.h"
#include "stats.h"

/* Arrays at least this long are sorted by workers (tests lower it through
** tide._internal.sort_parallel_min). */
static int64_t parallel_min = (int64_t)1 << 22;
/* The tide table, for tide.pfor (set by the opener). */
static const char tide_key = 't';

static int last_dim(lua_State *L, int i, const tide_Array *a) {
  luaL_argcheck(L, a->ndim >= 1, 1, "a 0-dimensional array has nothing to sort");
  return lua_isnoneornil(L, i) || lua_istable(L, i) ? a->ndim - 1 : tideL_optdim(L, i, a);
}

static int opts_at(lua_State *L, int i) {
  if (lua_istable(L, i)) return i;
  if (lua_istable(L, i + 1)) return i + 1;
  if (!lua_isnoneornil(L, i + 1))
    luaL_argerror(L, i + 1, lua_pushfstring(L, "options table expected, got %s",
                                            luaL_typename(L, i + 1)));
  return 0;
}

static int opt_jobs(lua_State *L, int o) {
  lua_Integer dflt = tide__config.jobs > 0 ? tide__config.jobs : tide_ncpus();
  lua_Integer j = o ? tideL_optint(L, o, "jobs", dflt) : dflt;
  if (j < 0) j = tide_ncpus() + 1 + j;
  if (j < 1) luaL_error(L, "option 'jobs' must be a positive count or -1, -2, ...");
  return (int)(j > 64 ? 64 : j);
}

static int psort_run(lua_State *L, const tide_Array *a, bool desc, bool arg, int jobs);

static int sort_common(lua_State *L, bool arg) {
  tide_Array *a = tideL_check(L, 1);
  int dim = last_dim(L, 2, a);
  int o = opts_at(L, 2);
  static const char *const names[] = {"descending", "stable", "jobs", NULL};
  if (o) tideL_checkopts(L, o, arg ? "argsort" : "sort", names);
  bool desc = o && tideL_optbool(L, o, "descending", 0);
  int jobs = opt_jobs(L, o);
  if (a->ndim == 1 && a->shape[0] >= parallel_min && jobs > 1 && !tide__config.in_worker)
    return psort_run(L, a, desc, arg, jobs);
  tide_Array *out = tideL_push(L);
  int rc = arg ? tide_argsort(a, dim, desc, 1, out) : tide_sort(a, dim, desc, out);
  if (rc) tideL_raise(L, rc);
  return 1;
}
static int s_sort(lua_State *L) { return sort_common(L, false); }
static int s_argsort(lua_State *L) { return sort_common(L, true); }

/* a:topk(k [, dim] [, {largest = true}]) -> values, 1-based positions */
static int s_topk(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  lua_Integer k = luaL_checkinteger(L, 2);
  int dim = last_dim(L, 3, a);
  int o = opts_at(L, 3);
  static const char *const names[] = {"largest", NULL};
  if (o) tideL_checkopts(L, o, "topk", names);
  bool largest = o ? tideL_optbool(L, o, "largest", 1) : true;
  tide_Array *v = tideL_push(L), *i = tideL_push(L);
  int rc = tide_topk(a, k, dim, largest, 1, v, i);
  if (rc) tideL_argraise(L, 2, rc);
  return 2;
}

/* tide.unique(a [, {counts = true, inverse = true}]) */
static int s_unique(lua_State *L) {
  tide_Array *a = tideL_checklike(L, 1);
  static const char *const names[] = {"counts", "inverse", NULL};
  tideL_checkopts(L, 2, "tide.unique", names);
  bool counts = tideL_optbool(L, 2, "counts", 0), inverse = tideL_optbool(L, 2, "inverse", 0);
  lua_settop(L, 2);
  tide_Array *v = tideL_push(L), *c = counts ? tideL_push(L) : NULL,
             *inv = inverse ? tideL_push(L) : NULL;
  int rc = tide_unique(a, 1, v, c, inv);
  if (rc) tideL_raise(L, rc);
  return 1 + counts + inverse;
}

/* a:searchsorted(v [, {side = "left"}]): a number for a number */
static int s_searchsorted(lua_State *L) {
  tide_Array *s = tideL_check(L, 1);
  static const char *const names[] = {"side", NULL};
  tideL_checkopts(L, 3, "searchsorted", names);
  const char *side = tideL_optstr(L, 3, "side", "left");
  bool right = strcmp(side, "right") == 0;
  if (!right && strcmp(side, "left") != 0)
    luaL_argerror(L, 3, lua_pushfstring(L, "option 'side' must be \"left\" or \"right\", got '%s'",
                                        side));
  bool scalar = lua_type(L, 2) == LUA_TNUMBER;
  tide_Array *v;
  if (scalar) {
    v = tideL_push(L);
    int dt = lua_isinteger(L, 2) ? TIDE_I64 : TIDE_F64;
    int64_t none = 0;
    int rc = tide_array_new(v, dt, 0, &none, TIDE_WHERE_HEAP);
    if (rc) tideL_raise(L, rc);
    tideL_toelem(L, 2, dt, v->data);
  } else {
    v = tideL_checklike(L, 2);
  }
  tide_Array *out = tideL_push(L);
  int rc = tide_searchsorted(s, v, right, 1, out);
  if (rc) tideL_argraise(L, 1, rc);
  if (scalar) {
    lua_pushinteger(L, *(int64_t *)out->data);
    tide_array_close(out);
  }
  return 1;
}

/* a:median([dim] [, opts]) */
static int s_median(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  tideL_RedArgs r;
  tideL_redargs(L, 2, a, "median", NULL, &r);
  tide_Array *out = tideL_push(L);
  int rc = tide_median(a, r.dim, r.skipnan, out);
  if (rc) tideL_raise(L, rc);
  return tideL_pushreduced(L, out, a, r.dim, r.keepdims);
}

/* a:quantile(q [, dim] [, {method =, skipnan =, keepdims =}]): q a number
** gives what a reduction gives; a table or array of q's puts their
** dimension first, as numpy. */
static int s_quantile(lua_State *L) {
  tide_Array *a = tideL_check(L, 1);
  bool scalar = lua_type(L, 2) == LUA_TNUMBER;
  double one = 0;
  const double *q = &one;
  int nqdim = 0;
  int64_t qshape[TIDE_MAXDIM];
  if (scalar) {
    one = lua_tonumber(L, 2);
  } else {
    luaL_argcheck(L, !lua_isnoneornil(L, 2), 2, "quantile (a number, table or array) expected");
    tide_Array *qa = tideL_checklike(L, 2), *qc = tideL_push(L);
    int rc = tide_array_copy(qa, TIDE_F64, qc);
    if (rc) tideL_raise(L, rc);
    lua_replace(L, 2);
    q = (const double *)qc->data;
    nqdim = qc->ndim;
    memcpy(qshape, qc->shape, (size_t)nqdim * 8);
  }
  static const char *const extra[] = {"method", NULL};
  tideL_RedArgs r;
  tideL_redargs(L, 3, a, "quantile", extra, &r);
  int method = TIDE_Q_LINEAR;
  if (r.opts) {
    const char *m = tideL_optstr(L, r.opts, "method", "linear");
    method = tide_qmethod_parse(m);
    if (method < 0)
      luaL_argerror(L, r.opts, lua_pushfstring(L, "unknown quantile method '%s' (linear, lower, "
                    "higher, midpoint, nearest, inverted_cdf, averaged_inverted_cdf, "
                    "closest_observation, interpolated_inverted_cdf, hazen, weibull, "
                    "median_unbiased, normal_unbiased)", m));
  }
  tide_Array *out = tideL_push(L);
  int rc = tide_quantile(a, q, nqdim, qshape, r.dim, method, r.skipnan, out);
  if (rc) tideL_argraise(L, rc == TIDE_EINVAL && !strstr(tide_lasterror(), "zero-size") ? 2 : 1, rc);
  if (scalar) return tideL_pushreduced(L, out, a, r.dim, r.keepdims);
  if (r.keepdims) {
    int64_t shape[TIDE_MAXDIM];
    int nd = nqdim;
    memcpy(shape, qshape, (size_t)nqdim * 8);
    for (int d = 0; d < a->ndim && nd < TIDE_MAXDIM; d++)
      shape[nd++] = r.dim < 0 || d == r.dim ? 1 : a->shape[d];
    tide_array_reshape_view(out, nd, shape);
  }
  return 1;
}

/* ------------------------------------------------------------ parallel */

/* A parallel sort in progress: read by the tasks (workers inherit it at
** fork, at the same address); what they write is in shared memory. */
typedef struct PSortJob {
  tide_PSort ps;
  const tide_Array *a;
  tide_Array *out;
  uint64_t *keys, *pos;
  int64_t *offs;   /* nchunks x nb: counts, then offsets */
  int64_t *bstart; /* nb + 1 bucket starts (parent) */
} PSortJob;

enum { ST_COUNT = 1, ST_SCATTER, ST_BUCKET };

/* The task of every stage: f(i), the job and the stage its upvalues. */
static int psort_task(lua_State *L) {
  PSortJob *j = lua_touserdata(L, lua_upvalueindex(1));
  int stage = (int)lua_tointeger(L, lua_upvalueindex(2));
  int i = (int)luaL_checkinteger(L, 1) - 1;
  switch (stage) {
    case ST_COUNT:
      tide__psort_count(&j->ps, j->a, i, j->offs + (int64_t)i * j->ps.nb);
      break;
    case ST_SCATTER:
      tide__psort_scatter(&j->ps, j->a, i, j->offs, j->keys, j->pos);
      break;
    default: {
      int rc = tide__psort_bucket(&j->ps, j->bstart[i], j->bstart[i + 1], j->keys, j->pos,
                                  j->out);
      if (rc) return tideL_raise(L, rc);
    }
  }
  return 0;
}

/* tide.pfor(count, task for stage, {jobs = jobs, chunk = 1}) */
static void psort_stage(lua_State *L, PSortJob *j, int stage, int count, int jobs) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tide_key);
  lua_getfield(L, -1, "pfor");
  lua_remove(L, -2);
  lua_pushinteger(L, count);
  lua_pushlightuserdata(L, j);
  lua_pushinteger(L, stage);
  lua_pushcclosure(L, psort_task, 2);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, jobs);
  lua_setfield(L, -2, "jobs");
  lua_pushinteger(L, 1);
  lua_setfield(L, -2, "chunk");
  lua_call(L, 3, 0);
}

/* A shared array of n 8-byte words that workers may write, on the stack. */
static void *shared_words(lua_State *L, int64_t n) {
  tide_Array *t = tideL_push(L);
  int rc = tide_array_new(t, TIDE_I64, 1, &n, TIDE_WHERE_SHARED | TIDE_WHERE_WORKER_RW |
                                                  TIDE_WHERE_UNINIT);
  if (rc) tideL_raise(L, rc);
  return t->data;
}

/* A sample sort of the 1-D a by `jobs` workers over shared memory (see
** psort.c): the splitters, then three parallel loops -- count each
** chunk's keys per bucket, scatter them into their buckets, sort each
** bucket into the result.  The result equals tide_sort's / tide_argsort's. */
static int psort_run(lua_State *L, const tide_Array *a, bool desc, bool arg, int jobs) {
  int base = lua_gettop(L);
  PSortJob j;
  memset(&j, 0, sizeof j);
  j.ps.desc = desc;
  j.ps.arg = arg;
  j.ps.base = 1;
  j.a = a;
  int nb = 4 * jobs > TIDE_PSORT_MAXB ? TIDE_PSORT_MAXB : 4 * jobs, nchunks = 4 * jobs;
  int64_t n = a->shape[0];
  /* the result first (it stays), then the scratch */
  j.out = tideL_push(L);
  int rc = tide_array_new(j.out, arg ? TIDE_I64 : a->dtype, 1, &n,
                          TIDE_WHERE_SHARED | TIDE_WHERE_WORKER_RW | TIDE_WHERE_UNINIT);
  if (rc) return tideL_raise(L, rc);
  int outi = lua_gettop(L);
  /* the keys in the result's memory when they fit; positions there too */
  bool keys_in_out = !arg && tide_dtype_size(a->dtype) == 8;
  j.keys = keys_in_out ? (uint64_t *)j.out->data : shared_words(L, n);
  if (arg) j.pos = (uint64_t *)j.out->data;
  j.offs = shared_words(L, (int64_t)nchunks * nb);
  j.bstart = lua_newuserdatauv(L, (size_t)(nb + 1) * sizeof *j.bstart, 0);
  uint64_t *split = lua_newuserdatauv(L, (size_t)nb * sizeof *split, 0);
  if ((rc = tide__psort_plan(&j.ps, a, nb, nchunks, split))) return tideL_raise(L, rc);
  psort_stage(L, &j, ST_COUNT, nchunks, jobs);
  tide__psort_offsets(&j.ps, j.offs, j.bstart);
  psort_stage(L, &j, ST_SCATTER, nchunks, jobs);
  psort_stage(L, &j, ST_BUCKET, j.ps.nb, jobs);
  /* from now on an ordinary result: read-only in later loops' workers */
  j.out->storage->wmode = TIDE_WMODE_RO;
  lua_pushvalue(L, outi);
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
  return 1;
}

/* tide._internal.sort_parallel_min([n]): the length from which 1-D sorts
** go to workers; returns the old one (tests make small arrays take it). */
static int s_parallel_min(lua_State *L) {
  lua_Integer old = parallel_min;
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 2, 1, "at least 2");
    parallel_min = n;
  }
  lua_pushinteger(L, old);
  return 1;
}

void tideB_open_sort(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"sort", s_sort}, {"argsort", s_argsort}, {"topk", s_topk},
    {"searchsorted", s_searchsorted}, {"median", s_median}, {"quantile", s_quantile},
    {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"sort", s_sort}, {"argsort", s_argsort}, {"unique", s_unique}, {"median", s_median},
    {"quantile", s_quantile}, {NULL, NULL}};
  tideL_addmethods(L, methods);
  luaL_setfuncs(L, funcs, 0);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tide_key);
  tideL_pushinternal(L, lua_gettop(L));
  lua_pushcfunction(L, s_parallel_min);
  lua_setfield(L, -2, "sort_parallel_min");
  lua_pop(L, 1);
}
