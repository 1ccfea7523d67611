/*
** backend.c -- the table of backends, and what they share (backend.h).
*/
#include <stdio.h>
#include <string.h>

#include "backend.h"

/* Every backend tide knows; one not built into this binary has no ops and
** says why. */
static const struct {
  const char *name;
  const tide_BackendOps *ops;
  const char *why;
} backends[] = {
  {"fork", &tide_backend_fork, NULL},
  {"spawn", &tide_backend_spawn, NULL},
#ifdef TIDE_HAVE_MPI
  {"mpi", NULL, "backend 'mpi' needs mpirun with 2 or more ranks "
                "(mpirun -n N tide script.lua)"},
#else
  {"mpi", NULL, "backend 'mpi' needs mpirun and is not built: tide was built without "
                "Open MPI (install openmpi-bin and libopenmpi-dev, then rebuild)"},
#endif
};

/* ---- mpi: registered at startup by the tide-mpi program (runtime/mpi/) */
static const tide_BackendOps *mpi_ops;
const char *tide_backend_default = "fork";

void tide_backend_use_mpi(const tide_BackendOps *ops) {
  mpi_ops = ops;
  tide_backend_default = "mpi";
}

const tide_BackendOps *tide_backend_find(const char *name, char *why, size_t len) {
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
    if (strcmp(backends[i].name, name) != 0) continue;
    if (strcmp(name, "mpi") == 0 && mpi_ops) return mpi_ops;
    if (!backends[i].ops && why) snprintf(why, len, "%s", backends[i].why);
    return backends[i].ops;
  }
  if (why) snprintf(why, len, "no backend '%s' (backends: \"fork\", \"spawn\", \"mpi\")", name);
  return NULL;
}

int tide_backend_send_setup(tide_Backend *b, int id, const tide_Buf *payload) {
  return b->ops->send(b, id, TIDE_MSG_SETUP, payload);
}
