/*
** test_error.c -- the last-error message: a message built from the last
** one ("%s: %s", fname, tide_lasterror()) comes out whole.  valgrind found
** vsnprintf writing into the very buffer it was reading (rows.c's
** tide_check_xy does this to prefix the model's name).
*/
#include "check.h"
#include "core.h"

int main(void) {
  tide__seterr(TIDE_EINVAL, "the weights sum to zero");
  int rc = tide__seterr(TIDE_ESHAPE, "%s: %s", "ridge.fit", tide_lasterror());
  CHECK_EQ_INT(rc, TIDE_ESHAPE);
  CHECK(strcmp(tide_lasterror(), "ridge.fit: the weights sum to zero") == 0);
  /* twice more: the prefix is added once per call, never repeated inside */
  tide__seterr(TIDE_EINVAL, "%s: %s", "outer", tide_lasterror());
  CHECK(strcmp(tide_lasterror(), "outer: ridge.fit: the weights sum to zero") == 0);
  tide__syserr(TIDE_EIO, 2, "%s (again)", tide_lasterror());
  CHECK_STR_HAS(tide_lasterror(), "outer: ridge.fit: the weights sum to zero (again): ");
  /* a message longer than the buffer is cut, still terminated */
  char big[3000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  tide__seterr(TIDE_EINVAL, "%s", big);
  tide__seterr(TIDE_EINVAL, "%s%s", tide_lasterror(), tide_lasterror());
  CHECK(strlen(tide_lasterror()) > 0 && strlen(tide_lasterror()) < 3000);
  CHECK(strspn(tide_lasterror(), "x") == strlen(tide_lasterror()));
  return check_done();
}
