/*
** codec_impl.h -- the codec's encoder and decoder state, shared by
** l_codec.c and ship.c (function shipping), which extends the codec with
** the tags below T_NTAGS in a mode of its own.  Nothing else includes it.
*/
#ifndef TIDE_CODEC_IMPL_H
#define TIDE_CODEC_IMPL_H

#include <lauxlib.h>
#include <lua.h>

#include "codec.h"
#include "path.h"

enum {
  T_NIL = 0, T_FALSE, T_TRUE, T_I8, T_I32, T_I64, T_F64, T_S8, T_S64,
  T_TABLE, T_REF, T_OBJ, T_OBJH, T_ARR, T_HANDLE, T_ROWSET, T_BLOB, T_NTAGS,
  /* Shipping only (ship.c): never in tide.encode's, a result's or a dump's
  ** stream, and refused there by the decoder. */
  T_NAMED = 32, /* u32 len, library name (fninfo.h): the receiver's own value */
  T_FUNC,       /* a Lua function: ship.c */
  T_RNG,        /* a tide.rng by its state: ship.c */
};

#define MAXSTEPS (2 * TIDE_CODEC_MAXDEPTH + 8)

/* One step of the path to the value being encoded, kept as pointers into
** live Lua values so that nothing is formatted unless an error needs it. */
typedef tideP_Step Step;

typedef struct Enc {
  lua_State *L;
  tide_Buf *b;
  int mode;
  const char *root;
  int seen;        /* stack slot: table/array/object -> id, storage -> fd index */
  int bymt;        /* stack slot: REG_BY_MT, loaded on first metatable */
  int hooks;       /* stack slot: REG_HOOKS */
  int have_seen, have_classes;
  lua_Integer nextid;
  lua_Integer nfdkeys; /* storage -> fd index entries in seen */
  int blobs;       /* BLOBS mode: stack slot of the list of arrays */
  uint32_t nblobs;
  int depth;
  int ship;        /* stack slot of ship.c's state; 0: data only */
  int nsteps;
  Step steps[MAXSTEPS];
} Enc;

typedef struct Dec {
  lua_State *L;
  tide_Cursor c;
  const unsigned char *start;
  tide_Buf *fds;
  int refs;              /* stack slot: id -> value */
  int have_refs;
  uint32_t nextid;
  int depth;
  tide_Storage *seg[TIDE_MSG_MAXFDS]; /* adopted segments, by fd index */
  uint64_t segsize[TIDE_MSG_MAXFDS];
  const char *what;      /* "corrupt message", or a dump's "x.tide: corrupt value" */
  tideC_BlobFn blob;     /* a dump's arrays (NULL: not a dump) */
  void *blob_ud;
  uint32_t nblobs, nused;
  unsigned char *used;   /* nblobs flags: each array is used once */
  int ship;              /* functions and library names allowed (ship.c) */
} Dec;

/* The encoder's and decoder's pieces ship.c builds on (l_codec.c). */
void tideC__put(Enc *e, const void *p, size_t n);
void tideC__put_u8(Enc *e, unsigned v);
void tideC__put_u32(Enc *e, uint32_t v);
int tideC__seen(Enc *e, int idx, lua_Integer *id); /* 1: seen, *id its id */
void tideC__put_ref(Enc *e, lua_Integer id);
void tideC__enc_value(Enc *e, int idx);
void tideC__push_step(Enc *e, Step s);
void tideC__pop_step(Enc *e);
_Noreturn void tideC__enc_fail(Enc *e, const char *what);
_Noreturn void tideC__enc_cannot(Enc *e, const char *what); /* "cannot send <what>" */

uint8_t tideC__get_u8(Dec *d);
uint32_t tideC__get_u32(Dec *d);
const unsigned char *tideC__get_bytes(Dec *d, uint64_t n);
_Noreturn void tideC__corrupt(Dec *d, const char *what);
void tideC__dec_register(Dec *d); /* the value on top gets the next id */
void tideC__dec_value(Dec *d);    /* pushes the next value */

/* ship.c's hooks, called only when Enc.ship / Dec.ship is set. */
int tideS__enc(Enc *e, int idx); /* 1: written (a function, a library value) */
void tideS__enc_begin(Enc *e);   /* sets e->ship to its state's stack slot */
void tideS__enc_end(Enc *e);     /* after the value: the globals it reads */
void tideS__dec(Dec *d, int tag);
void tideS__dec_end(Dec *d);

#endif
