/*
** l_models_list.c -- the model families whose kernels tide._models holds.
** Each family adds one line here and one opener in its own l_models_*.c.
*/
#include "models_bind.h"

const tideM_Opener tideM_openers[] = {
  {NULL, NULL}
};
