/*
 * libbltvalue: a stored value as data.  A booklet store's header names the
 * serializer its values were written with (pickle, json, msgpack, zstd,
 * integers, numpy ...; doc/values.md has the table).  This library turns
 * such bytes into text a shell tool can read (decode), and text back into
 * the bytes the Python booklet reads (encode).  It never runs Python: a
 * pickle is read by a decoder of our own that refuses anything that would
 * import or call.
 *
 * Two text forms:
 *  - the file form (flags 0), what a decode mount's file shows: structured
 *    values as one JSON document ending in a newline, a 'str' value as its
 *    text, an integer in decimal with a newline, compressed raw bytes
 *    decompressed, raw bytes as they are;
 *  - the JSON form (BLT_VALUE_JSON), one JSON value on one line with no
 *    newline, for blt dump and other line-oriented output: a 'str' value is
 *    a JSON string, raw bytes are a tagged value.
 * Values JSON cannot tell apart (tuple and list, bytes and str, int keys,
 * sets, big integers, non-finite floats) use the tagged forms doc/values.md
 * defines, so that decoding and encoding back an unchanged document gives
 * the identical value.
 *
 * Failures are recorded with blt_errmsg_set() (booklet.h); callers read the
 * message from blt_errmsg().
 */
#ifndef BLTVALUE_H
#define BLTVALUE_H

#include <stddef.h>

/* A growing byte buffer the library writes into.  Start it zeroed; the
 * caller frees data with blt_value_buf_free() and may reuse the buffer
 * (len is reset by each call that fills it). */
struct blt_value_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

void blt_value_buf_free(struct blt_value_buf *b);

/* Flags of blt_value_decode() and blt_value_encode(). */
#define BLT_VALUE_JSON 0x1 /* the JSON form (one line), not the file form */

/* blt_value_caps() bits: what can be done with a serializer's values. */
#define BLT_VALUE_CAN_DECODE 0x1 /* shown as something else than its bytes */
#define BLT_VALUE_CAN_ENCODE 0x2 /* text can be written back */

/* What the library does with values of serializer code (the header's
 * value serializer, see blt_serializer_name()).  0 for a code whose
 * values are only ever shown as their bytes (raw, bytes, custom, unknown
 * codes): in the file form they pass through unchanged both ways. */
int blt_value_caps(unsigned code);

/* Returned by blt_value_decode() when the value cannot be shown as data (a
 * pickle that would import or call, a corrupt zstd frame, bytes that are
 * not what the serializer writes): out then holds the documented
 * "not decodable" form, which names why and keeps the bytes. */
#define BLT_VALUE_NOT_DECODABLE 1

/* Decode the len bytes at val, stored with serializer code, into out as
 * text (file form, or JSON form with BLT_VALUE_JSON).  Returns 0,
 * BLT_VALUE_NOT_DECODABLE (out holds the not-decodable form; blt_errmsg()
 * says why), or -ENOMEM.  Never anything else: any input is shown. */
int blt_value_decode(unsigned code, const void *val, size_t len, int flags,
    struct blt_value_buf *out);

/* Encode the len bytes of text at text (file form, or JSON form with
 * BLT_VALUE_JSON) into out as the bytes serializer code stores.  The
 * not-decodable form encodes back to the bytes it keeps.  Returns 0,
 * -EINVAL (text that is not valid for the form, or a value the serializer
 * cannot hold; blt_errmsg() says what and where), -ENOTSUP (a serializer
 * whose values cannot be written from text), or -ENOMEM. */
int blt_value_encode(unsigned code, const void *text, size_t len, int flags,
    struct blt_value_buf *out);

/* Whether the len bytes at val are a value that the reader of serializer
 * code (the Python booklet's) gives back, as far as this library can tell
 * without running Python: UTF-8 for str, whole JSON or msgpack, a pickle
 * that is whole (one that imports or calls is, though it is not data
 * here), whole zstd frames, numpy buffers of whole items; any bytes for
 * the raw, integer and other serializers.  0, -EINVAL (blt_errmsg() says
 * why), or -ENOMEM. */
int blt_value_check(unsigned code, const void *val, size_t len);

/* The value a directory marker holds in a store of value serializer code
 * (bltfs keeps an empty directory "dir" as the key "dir/", doc/keys.md),
 * with its length in *len: one that the serializer's reader gives back,
 * so that a Python reader of the whole store meets no error: None for
 * pickle, json, orjson and msgpack (and their zstd forms), no bytes for
 * the others ('' for str, 0 for the integers, an empty array for numpy,
 * in a zstd frame for their zstd forms).  NULL for a serializer whose
 * reader has no such value: pandas, geometries, custom, unknown codes. */
const unsigned char *blt_value_marker(unsigned code, size_t *len);

#endif
