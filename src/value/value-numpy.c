/*
 * The numpy_int1/2/4/8 serializers (and, after zstd, their _zstd forms):
 * the buffer of a one-dimensional array of signed little-endian integers,
 * with no header (numpy's tobytes()).  Shown as a plain JSON array of the
 * integers, which jq and grep read directly; the width is the serializer's,
 * so nothing else needs saying.  Written back from such an array, or from
 * {"dtype": "int16", "data": [...]} as numpy users may write it (the dtype
 * must then be the serializer's).  An integer out of the width's range is
 * refused, where numpy's astype() would wrap it silently.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

int
value_numpy_decode(int w, const unsigned char *p, size_t len, json_t **out,
    char *why, size_t whylen)
{
	json_t *a;

	if (len % (size_t)w != 0) {
		snprintf(why, whylen,
		    "%zu bytes, not a whole number of %d-byte "
		    "integers",
		    len, w);
		return BLT_VALUE_NOT_DECODABLE;
	}
	if ((a = json_array()) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += (size_t)w) {
		uint64_t u = 0;

		for (int k = w - 1; k >= 0; k--)
			u = u << 8 | p[i + (size_t)k];
		if (w < 8 && (u >> (8 * w - 1)) & 1)
			u |= ~(uint64_t)0 << (8 * w);
		if (json_array_append_new(a, json_integer((int64_t)u)) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*out = a;
	return 0;
}

int
value_numpy_encode(int w, const json_t *v, struct blt_value_buf *out)
{
	char dtype[16];
	json_t *e, *d;
	size_t i;
	int rc;

	out->len = 0;
	snprintf(dtype, sizeof dtype, "int%d", 8 * w);
	if (json_is_object(v)) {
		d = json_object_get(v, "dtype");
		if (json_object_size(v) != 2 || !json_is_string(d) ||
		    strcmp(json_string_value(d), dtype) != 0 ||
		    (v = json_object_get(v, "data")) == NULL)
			return blt_errmsg_set(-EINVAL,
			    "expected an array of integers, or {\"dtype\": "
			    "\"%s\", \"data\": [...]}",
			    dtype);
	}
	if (json_is_object(v) && value_tag(v, &e) == VALUE_TAG_TUPLE)
		v = e;
	if (!json_is_array(v))
		return blt_errmsg_set(
		    -EINVAL, "expected an array of %s integers", dtype);
	if ((rc = value_buf_reserve(out, json_array_size(v) * (size_t)w)) < 0)
		return rc;
	json_array_foreach(v, i, e)
	{
		int64_t x;

		if (!json_is_integer(e))
			return blt_errmsg_set(
			    -EINVAL, "item %zu is not an integer", i);
		x = json_integer_value(e);
		if (w < 8 && (x < -((int64_t)1 << (8 * w - 1)) ||
		                 x >= (int64_t)1 << (8 * w - 1)))
			return blt_errmsg_set(-EINVAL,
			    "item %zu, %lld, does not fit %s", i, (long long)x,
			    dtype);
		for (int k = 0; k < w; k++)
			out->data[out->len++] =
			    (unsigned char)((uint64_t)x >> (8 * k));
	}
	return 0;
}
