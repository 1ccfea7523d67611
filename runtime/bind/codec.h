/*
** codec.h -- tide's value codec: Lua values (tables with shared references
** and cycles, arrays, objects of registered classes) to bytes and back.
**
** Used by the worker pools (results, spawned functions' upvalues), the
** cache and dump.  One encoded value is:
**
**   u8 version (TIDE_CODEC_VERSION), then one value:
**   NIL FALSE TRUE                        tag only
**   I8 i8 | I32 i32 | I64 i64             integers (math.type "integer")
**   F64 f64                               floats, bit for bit (NaN, -0.0)
**   S8 u8 len, bytes | S64 u64 len, bytes strings (embedded zeros kept)
**   TABLE u32 narr, u32 nhash, narr values (keys 1..narr), nhash key/value
**   REF u32 id                            a table/array/object seen before
**   OBJ u8 len, class name, table body    registered class, raw fields
**   OBJH u8 len, class name, value        registered class with hooks
**   ARR u8 dtype, u8 ndim, u64 shape[ndim], bytes (C order)
**   HANDLE u8 dtype, u8 ndim, u64 shape[ndim], i64 strides[ndim],
**          u32 fd index, u64 segment size, u64 byte offset, u32 lease
**          (0: none; see tideC_lease_out)
**   ROWSET u64 nranges, nranges x (u64 first row 0-based, u64 count)
**   BLOB u32 k                            a dump's array k (its table entry
**                                         and page-aligned bytes: dump.h)
**   NAMED, FUNC                           shipping only (ship.c)
**
** Integers are little-endian.  Tables, arrays and objects get ids 0, 1, ...
** in the order they first appear (a table's id is given before its
** contents, so cycles work); REF names one of them.
*/
#ifndef TIDE_CODEC_H
#define TIDE_CODEC_H

#include <lua.h>

#include "../core/ipc.h"

#define TIDE_CODEC_VERSION 1

/* Modes of tideC_encode. */
enum {
  TIDE_CODEC_INLINE = 0,  /* every array's bytes in the message (tide.encode) */
  TIDE_CODEC_HANDLES = 1, /* shared-memory arrays travel as descriptors */
  TIDE_CODEC_BLOBS = 2    /* arrays become BLOB k (tideC_encode_dump) */
};

#define TIDE_CODEC_MAXDEPTH 200 /* nesting levels of tables and objects */

/* Leases of result segments, set by the worker loops (l_par.c).  Encoding
** a handle to a segment sent for the first time asks tideC_lease_out for
** a lease id (0: none); decoding a handle that carries one gives the
** adopted storage to tideC_lease_in.  NULL: no leases. */
extern uint32_t (*tideC_lease_out)(tide_Storage *s);
extern void (*tideC_lease_in)(tide_Storage *s, uint32_t lease);

/* Appends the value at idx to b (b->fds gets the descriptors of shared
** arrays in HANDLES mode).  Raises a Lua error naming the path to what
** cannot cross: "result 3 → field model → [2]: cannot send a thread".
** root names the value in such messages (NULL: "value").  On error b may
** hold a partial value: reset it. */
void tideC_encode(lua_State *L, int idx, tide_Buf *b, int mode, const char *root);

/* A dump's stream: as tideC_encode, but each array (once, whatever the
** number of references to it) is appended to the table at stack index
** list and written as BLOB k, k its 0-based position there; code is
** refused ("cannot dump a function"), and so are strings holding Lua
** bytecode (a "\27Lua" prefix). */
void tideC_encode_dump(lua_State *L, int idx, tide_Buf *b, int list, const char *root);

/* Pushes array k of a dump being decoded, or raises. */
typedef void (*tideC_BlobFn)(lua_State *L, void *ud, uint32_t k);

/* Decodes a dump's stream: BLOB k calls fn(L, ud, k) (k < nblobs, each
** exactly once, else the stream is corrupt), and Lua bytecode in a string
** is refused.  Errors read "<what>: <fault> (at byte N)". */
void tideC_decode_dump(lua_State *L, const unsigned char *p, size_t n, uint32_t nblobs,
                       tideC_BlobFn fn, void *ud, const char *what);

/* Decodes one value from p[0..n) and pushes it.  Descriptors of array
** handles come from fds_owner (NULL: none allowed); those adopted are set
** to -1 there, so tide_buf_free does not close them.  Raises
** "corrupt message: ..." on any inconsistency, never reads out of bounds. */
void tideC_decode(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds_owner);

/* Appends the value at idx as one encoded value when it is a scalar (nil,
** boolean, number) and returns 1; returns 0 and writes nothing otherwise,
** -1 when b cannot grow.  Never raises: the hot path of tiny tasks. */
int tideC_encode_scalar(lua_State *L, int idx, tide_Buf *b);

/* Pushes the value when p[0..n) encodes a scalar (nil, boolean, number)
** and returns 1; returns 0 and pushes nothing otherwise.  Never raises, so
** hot paths (task results) need no protected call for the common case. */
int tideC_decode_scalar(lua_State *L, const unsigned char *p, size_t n);

/* Shipping (ship.h has the API backends call): as tideC_encode /
** tideC_decode, plus Lua functions (bytecode with debug information,
** upvalues by value, shared upvalues kept shared), the globals they read,
** and library values by name.  mode: TIDE_CODEC_INLINE or _HANDLES.  Only
** for tide's own pipes and messages: the decoder loads bytecode, so the
** bytes must come from a tide process; tideC_decode and the dump decoder
** refuse these tags. */
void tideC_encode_ship(lua_State *L, int idx, tide_Buf *b, int mode, const char *root);
void tideC_decode_ship(lua_State *L, const unsigned char *p, size_t n, tide_Buf *fds_owner);

#endif /* TIDE_CODEC_H */
