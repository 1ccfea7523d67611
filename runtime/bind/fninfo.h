/*
** fninfo.h -- what a Lua function needs from its surroundings, shared by
** the content hasher (l_hash.c) and function shipping (ship.c): the
** globals it reads, found by walking its bytecode for GETTABUP on _ENV,
** and the names of library values (modules in package.loaded and their
** fields), which both send by name instead of by value.
*/
#ifndef TIDE_FNINFO_H
#define TIDE_FNINFO_H

#include <lua.h>

#define TIDEF_REG_NAMES "tide.hash_names"   /* value -> library name */
#define TIDEF_REG_FNINFO "tide.hash_fninfo" /* weak keys: Lua function -> analysis */

/* Lua compiles a global read to GETUPVAL _ENV + GETFIELD, instead of
** GETTABUP, when the name is past the function's 256th constant. */
#define TIDEF_DYN_ENV "a function that uses _ENV as a value, or whose global names come " \
                      "after its 256th constant: the globals it reads cannot be listed "   \
                      "(pass them as arguments or upvalues)"

/* Pushes the table value -> library name, built from package.loaded and
** rebuilt when package.loaded changed (or force).  Names: a module by its
** name ("math", "tide.models"), a field of one as module.field
** ("math.sqrt"), the globals table's C functions by their own ("print").
** Tables, C functions and userdata get names; Lua functions only tide's
** own (their code is the receiver's too); arrays never. */
void tideF_push_names(lua_State *L, int force);

/* Pushes the value named by a name of tideF_push_names (requiring the
** module when it is not loaded yet) and returns 1; returns 0 and pushes
** nothing when the name leads nowhere. */
int tideF_resolve(lua_State *L, const char *name, size_t len);

/* Pushes the analysis of the Lua function at idx: {digest = 16 bytes of
** its code (stripped, lines left out), env = index of its _ENV upvalue
** (0: none), dyn = true when it uses _ENV as a value, [1..n] = the global
** names it reads directly (nested functions included), sorted}.  Cached
** in the table at stack index cache (TIDEF_REG_FNINFO).  On failure
** returns what is wrong ("a function compiled by another Lua version")
** with nothing pushed; else NULL.  Raises only on memory errors. */
const char *tideF_analyse(lua_State *L, int idx, int cache);

#endif
