/*
 * libbltvalue's private header: the serializer codes by name, the output
 * buffer helpers, and one prototype block per codec file.
 */
#ifndef VALUE_INT_H
#define VALUE_INT_H

#include <stddef.h>

#include "bltvalue.h"

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

#endif
