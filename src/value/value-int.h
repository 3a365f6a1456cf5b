/*
 * libbltvalue's private header: the serializer codes by name, the output
 * buffer helpers, and one prototype block per codec file.
 */
#ifndef VALUE_INT_H
#define VALUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bltvalue.h"
#include "value-read.h" /* value_parse(), VALUE_DEPTH_MAX */

/* Serializer codes (booklet-format.md §2.4). */
enum value_code {
	VALUE_CUSTOM = 0,
	VALUE_RAW = 1,
	VALUE_STR = 2,
	VALUE_PICKLE = 3,
	VALUE_JSON_CODE = 4,
	VALUE_ORJSON = 5,
	VALUE_PICKLE_ZSTD = 16,
	VALUE_ORJSON_ZSTD = 17,
	VALUE_NUMPY_INT1 = 18,
	VALUE_NUMPY_INT2 = 19,
	VALUE_NUMPY_INT4 = 20,
	VALUE_NUMPY_INT8 = 21,
	VALUE_NUMPY_INT2_ZSTD = 22,
	VALUE_NUMPY_INT4_ZSTD = 23,
	VALUE_NUMPY_INT8_ZSTD = 24,
	VALUE_PD_ZSTD = 25,
	VALUE_GPD_ZSTD = 26,
	VALUE_ZSTD = 27,
	VALUE_WKB = 28,
	VALUE_WKB_ZSTD = 29,
	VALUE_MSGPACK = 30,
	VALUE_MSGPACK_ZSTD = 31,
	VALUE_BYTES = 32
};

/* value.c */
int value_buf_reserve(struct blt_value_buf *b, size_t more);
int value_buf_put(struct blt_value_buf *b, const void *p, size_t n);
/* Fill out with the not-decodable form of the len bytes at val, the reason
 * formatted from fmt; returns BLT_VALUE_NOT_DECODABLE, or -ENOMEM. */
int value_not_decodable(unsigned code, const void *val, size_t len, int flags,
    struct blt_value_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Fill out with tree t as text: one JSON value, plus a newline in the
 * file form (flags without BLT_VALUE_JSON); 0 or -ENOMEM. */
int value_put_tree(const json_t *t, int flags, struct blt_value_buf *out);

/*
 * value-text.c: the tree as our text and back (value-read.c reads the
 * text: value-read.h), base64, and the tagged forms (doc/values.md).
 */

/* The tags, as value_tag() names them. */
enum value_tag {
	VALUE_TAG_NONE = 0, /* not a tag: a plain JSON object */
	VALUE_TAG_UNKNOWN,  /* one member named "$..." that is no tag */
	VALUE_TAG_BYTES,
	VALUE_TAG_BYTEARRAY,
	VALUE_TAG_TUPLE,
	VALUE_TAG_SET,
	VALUE_TAG_FROZENSET,
	VALUE_TAG_INT,
	VALUE_TAG_FLOAT,
	VALUE_TAG_DICT,
	VALUE_TAG_UNDECODABLE,
	/* Python's everyday types (value-datetime.c, value-pickle-object.c) */
	VALUE_TAG_DATETIME,
	VALUE_TAG_DATE,
	VALUE_TAG_TIME,
	VALUE_TAG_TIMEDELTA,
	VALUE_TAG_TIMEZONE,
	VALUE_TAG_DECIMAL,
	VALUE_TAG_UUID,
	VALUE_TAG_COMPLEX,
	VALUE_TAG_ODICT,
	VALUE_TAG_COUNTER,
	VALUE_TAG_DEFAULTDICT,
	VALUE_TAG_DEQUE,
	VALUE_TAG_NDARRAY,
	VALUE_TAG_NPSCALAR,
	VALUE_TAG_PDTIMESTAMP,
	VALUE_TAG_PDTIMEDELTA /* the last of Python's everyday types */
};

/* Whether tag is one of Python's everyday types ($datetime ...). */
static inline int
value_tag_is_object(enum value_tag tag)
{
	return tag >= VALUE_TAG_DATETIME && tag <= VALUE_TAG_PDTIMEDELTA;
}
/* The name of tag ("$datetime" ...). */
const char *value_tag_name(enum value_tag tag);
/* The tag of t (VALUE_TAG_NONE for all but a one-member object whose name
 * starts with '$'), and its payload in *payload. */
enum value_tag value_tag(const json_t *t, json_t **payload);

/* How value_emit() writes a tree. */
struct value_style {
	const char *item_sep; /* between array items and object members */
	const char *key_sep;  /* between a name and its value */
	int ascii;            /* \u escapes for all that is not ASCII */
	int plain;            /* tags turned into plain JSON (json, orjson) */
	int nan_null;         /* non-finite floats as null (orjson) */
};

/* Our text: ", " and ": " separators, UTF-8, tags as they are. */
extern const struct value_style value_style_text;

/* Append tree t as JSON text in style s to out: 0, -ENOMEM, or -EINVAL
 * (only with s->plain: a tag JSON cannot hold; blt_errmsg() says which). */
int value_emit(
    const json_t *t, const struct value_style *s, struct blt_value_buf *out);

/* 1 if the n bytes at p are UTF-8 as Python's strict decoder takes it: no
 * surrogates, no overlong forms, nothing past U+10FFFF. */
int value_utf8_strict(const void *p, size_t n);
/* Append the n bytes of UTF-8 at p as a JSON string in our text style. */
int value_emit_string(const void *p, size_t n, struct blt_value_buf *out);

/* Base64 (standard alphabet, padded) of n bytes as a new JSON string; NULL
 * when out of memory. */
json_t *value_b64_string(const void *p, size_t n);
/* Decode the base64 text of JSON string s into *p (malloc'ed) and *n: 0,
 * -EINVAL, -ENOMEM. */
int value_b64_decode(const json_t *s, unsigned char **p, size_t *n);
/* A new {"$tag": payload} object, payload stolen; NULL when out of memory
 * (payload freed). */
json_t *value_tagged(const char *tag, json_t *payload);
/* A float as JSON: a number, or {"$float": "nan"}, "inf" or "-inf". */
json_t *value_real(double v);
/* An unsigned integer as JSON: a number, or {"$int": "..."} past int64. */
json_t *value_uint(uint64_t u);

/* value-datetime.c: dates and times as Python's isoformat() writes them. */
#define VALUE_DAY_US ((int64_t)86400 * 1000000)
struct value_dt {
	int has_date, has_time, has_tz;
	int year, month, day, hour, minute, second, us;
	int ns;         /* nanoseconds past us: a pandas Timestamp's only */
	int64_t off_us; /* the UTC offset, with has_tz */
};
enum { VALUE_DT_DATETIME, VALUE_DT_DATE, VALUE_DT_TIME, VALUE_DT_TIMESTAMP };
int64_t value_days_from_civil(int year, int month, int day);
void value_civil_from_days(int64_t days, int *year, int *month, int *day);
int value_days_in_month(int year, int month);
int value_dt_valid(const struct value_dt *t);
size_t value_dt_format(const struct value_dt *t, char *buf, size_t cap);
int value_dt_parse(const char *s, size_t n, int kind, struct value_dt *t);
int value_offset_parse(const char *s, size_t n, int64_t *off);
int value_td_normalize(
    const int64_t v[3], int64_t *days, int64_t *sec, int64_t *us);
int value_uuid_parse(const char *s, size_t n, unsigned char b[16]);
/* The longest Decimal text read. */
#define VALUE_DECIMAL_MAX 10000
/* value_decimal_text(): str()'s text, but an exponent Decimal() refuses */
#define VALUE_DECIMAL_RANGE (-1)
int value_decimal_text(const char *s, size_t n);

/* value-zstd.c: zstd frames as Python's zstandard writes them. */
/* The most bytes a value decompresses to; more is not decodable.
 * value_zstd_max starts there; tests lower it to try bombs cheaply. */
#define VALUE_ZSTD_MAX ((size_t)1 << 30)
extern size_t value_zstd_max;
/* Decompress the frames at p into out (reset): 0, -EINVAL (not whole zstd
 * frames, or more than value_zstd_max bytes: why says which), -ENOMEM. */
int value_zstd_decompress(const void *p, size_t n, struct blt_value_buf *out,
    char *why, size_t whylen);
/* Compress at level 1 into out (reset): 0, -ENOMEM. */
int value_zstd_compress(const void *p, size_t n, struct blt_value_buf *out);

/* value-msgpack.c: msgpack as Python's msgpack.unpackb() and packb(). */
int value_msgpack_decode(
    const unsigned char *p, size_t len, json_t **out, char *why, size_t whylen);
int value_msgpack_encode(const json_t *v, struct blt_value_buf *out);

/* value-json.c: the json (4) and orjson (5) serializers' text. */
int value_json_decode(
    const unsigned char *p, size_t len, json_t **out, char *why, size_t whylen);
int value_json_encode(const json_t *v, struct blt_value_buf *out);
int value_orjson_encode(const json_t *v, struct blt_value_buf *out);

/* value-pickle-*.c: pickle protocols 0 to 5, never executed.  Decode: 0
 * with *out a new tagged tree, BLT_VALUE_NOT_DECODABLE with why filled (an
 * opcode that would import or call, truncation, memo misuse, nesting past
 * VALUE_DEPTH_MAX, a cycle ...), or -ENOMEM.  Encode: protocol 5 as
 * CPython's pickle.dumps(obj, 5) writes it; -EINVAL with blt_errmsg()
 * naming the path ("$.a[2]: ...") for a tree pickle cannot hold. */
int value_pickle_decode(
    const unsigned char *p, size_t len, json_t **out, char *why, size_t whylen);
int value_pickle_encode(const json_t *v, struct blt_value_buf *out);
/* The output a pickle of any size may weigh (its own size adds 16 times
 * more): 64 MiB, about two million nodes.  tests/fuzz_pickle.c lowers it,
 * so that a bomb up to the cap does not cost seconds in a sanitizer's
 * build, where each input is decoded, encoded and parsed several times. */
extern size_t value_pickle_weight_floor;

/* value-numpy.c: the numpy_int* serializers, width w bytes per item. */
int value_numpy_decode(int w, const unsigned char *p, size_t len, json_t **out,
    char *why, size_t whylen);
int value_numpy_encode(int w, const json_t *v, struct blt_value_buf *out);

#endif
