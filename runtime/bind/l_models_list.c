/*
** l_models_list.c -- the model families whose kernels tide._internal.models
** holds.  Each family adds one line here and one opener in its own
** l_models_*.c.
*/
#include "models_bind.h"

void tideM_open_linear(lua_State *L);
void tideM_open_logistic(lua_State *L);
void tideM_open_knn(lua_State *L);
void tideM_open_prep(lua_State *L);
void tideM_open_svm(lua_State *L);
void tideM_open_cluster(lua_State *L);
void tideM_open_tree(lua_State *L);

const tideM_Opener tideM_openers[] = {
  {"linear", tideM_open_linear},
  {"logistic", tideM_open_logistic},
  {"knn", tideM_open_knn},
  {"prep", tideM_open_prep},
  {"svm", tideM_open_svm},
  {"cluster", tideM_open_cluster},
  {"tree", tideM_open_tree},
  {NULL, NULL}
};
