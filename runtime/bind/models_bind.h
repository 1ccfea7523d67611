/*
** models_bind.h -- helpers shared by the model bindings (l_models*.c).
*/
#ifndef TIDE_MODELS_BIND_H
#define TIDE_MODELS_BIND_H

#include "bind.h"
#include "models.h"

/* Reads opts[key] at stack index o (an index array or a table of 1-based
** row numbers) into r for data of n rows; all rows when absent.  Raises
** on a bad value or an out-of-range row.  Returns 1 when something was
** pushed (the caller leaves it on the stack while r is in use). */
int tideM_checkrows(lua_State *L, int o, const char *key, int64_t n, tide_Rows *r);

/* Reads opts[key] at stack index o, nil or a list of column maps
** {{sub =, div =, mul =, add =, clip = {lo, hi}}, ...} (f64 vectors of p
** entries), into a chain attached to r (r->map).  Pushes what holds the
** chain (leave it on the stack while r is in use). */
void tideM_checkmap(lua_State *L, int o, const char *key, int64_t p, tide_Rows *r);

/* Pushes a new f64 vector of n entries and returns its data. */
double *tideM_newvec(lua_State *L, int64_t n, tide_Array **out);

/* Each model family's binding file has an opener that adds its kernels to
** the table on top of the stack (tide._internal.models); the list is in
** l_models_list.c, one line per family. */
typedef struct tideM_Opener {
  const char *name;
  void (*open)(lua_State *L);
} tideM_Opener;

extern const tideM_Opener tideM_openers[];

#endif
