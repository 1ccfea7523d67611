/*
** ship.h -- function shipping: a Lua function (or any value holding
** functions) to bytes in one lua_State and back to a callable function in
** another, for the backends whose workers are not forks of the script's
** process (spawn, mpi).  DESIGN.md §3 "Shipping a function".
**
** What travels:
**   - a Lua function as its bytecode with debug information (tracebacks
**     name the script's lines), its upvalues by value; an upvalue shared
**     by several shipped functions stays shared (lua_upvalueid, then
**     lua_upvaluejoin on the receiver), so recursive and mutually
**     recursive local functions work;
**   - the globals it reads (GETTABUP on _ENV with a constant name, nested
**     functions included: fninfo.h), by value and transitively, set in
**     the receiver's globals table before the function is returned;
**   - library values by name (fninfo.h: modules of package.loaded and
**     their fields, the globals table's C functions): math, math.sqrt,
**     tide, tide.models; the receiver's own (required when not loaded);
**     the globals table as _ENV is the receiver's globals table;
**   - a tide.rng by its state, as a fork would copy it;
**   - tables (cycles and shared references kept), strings, numbers,
**     booleans, arrays and objects of registered classes as the codec
**     sends them (codec.h).  Arrays: in TIDE_CODEC_HANDLES mode an array
**     in shared memory travels as a descriptor of its segment (b->fds,
**     zero-copy; the receiver maps the same pages), any other by content;
**     in TIDE_CODEC_INLINE mode every array by content.
** What cannot travel raises before anything is sent, naming the path:
**   "function at fit.lua:12 → upvalue 'f' → field cb: cannot send a C
**   function not reachable from package.loaded" (also: a coroutine, a
**   file handle, other userdata, a table with an unregistered metatable,
**   a function that uses _ENV as a value).
**
** The bytes hold bytecode, which Lua loads without verifying it: decode
** only messages from tide's own pipes, never files or sockets others
** can write.  Sender and receiver run the same tide binary.
*/
#ifndef TIDE_SHIP_H
#define TIDE_SHIP_H

#include <lua.h>

#include "../core/ipc.h"

/* Appends the value at stack index idx of L (usually a function) to b,
** as one message.  mode: TIDE_CODEC_INLINE (arrays by content) or
** TIDE_CODEC_HANDLES (shared-memory arrays as descriptors appended to
** b->fds, which the caller sends with the bytes, e.g. tide_msg_send, and
** then frees with tide_buf_free).  root names the value in messages
** (NULL: "function at fit.lua:12" for a Lua function, else "value").
** Never raises: returns LUA_OK, or an error status with the message
** pushed on L (b then holds what it held before: bytes and descriptors).
** L's stack is otherwise unchanged. */
int tideS_encode(lua_State *L, int idx, tide_Buf *b, int mode, const char *root);

/* Decodes a message of tideS_encode from p[0..n) into L (a fresh state
** opened by tide, or the worker's own) and pushes the value: the function,
** ready to call.  Its globals are set in L's globals table first.  fds
** holds the descriptors received with the message (NULL when none): those
** adopted are set to -1 in it, so tide_buf_free does not close them.
** Never raises: returns LUA_OK with the value pushed, or an error status
** with the message pushed ("corrupt message: ...", "cannot find library
** value 'mymod.f' here: ...").  Arrays decoded from handles map the
** sender's segments. */
int tideS_decode(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds);

/* Registers tide._internal.ship(v) -> string (arrays by content),
** tide._internal.unship(s) -> v, and tide._internal.ship_local(v) -> v'
** (encoded with handles and decoded at once, in this state: arrays share
** their pages).  The table at the top of L is tide's. */
void tideS_open(lua_State *L);

#endif
