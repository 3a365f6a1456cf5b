/*
 * The serializer table and the dispatch of blt_value_decode() and
 * blt_value_encode(): which codec handles which serializer code.  The raw
 * and integer serializers are small enough to live here; each other codec
 * has its own file.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

void
blt_value_buf_free(struct blt_value_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
value_buf_reserve(struct blt_value_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 64;
	unsigned char *p;

	if (more > SIZE_MAX - b->len)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap = cap > SIZE_MAX / 2 ? b->len + more : cap * 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
value_buf_put(struct blt_value_buf *b, const void *p, size_t n)
{
	int rc;

	if ((rc = value_buf_reserve(b, n)) < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
blt_value_caps(unsigned code)
{
	if (blt_int_key_width(code, NULL) != 0 || code == VALUE_STR)
		return BLT_VALUE_CAN_DECODE | BLT_VALUE_CAN_ENCODE;
	return 0;
}

/* Integers: little-endian, the width and sign blt_int_key_width() gives. */
static int
value_int_decode(unsigned code, const unsigned char *p, size_t len, int flags,
    struct blt_value_buf *out)
{
	int is_signed, w = blt_int_key_width(code, &is_signed);
	char text[32];
	uint64_t u = 0;
	int n;

	if ((size_t)w != len)
		return value_not_decodable(code, p, len, flags, out,
		    "%zu bytes, not the %d of %s", len, w,
		    blt_serializer_name(code));
	for (int i = w - 1; i >= 0; i--)
		u = u << 8 | p[i];
	if (is_signed && w < 8 && (u >> (8 * w - 1)) & 1)
		u |= ~(uint64_t)0 << (8 * w);
	if (is_signed)
		n = snprintf(text, sizeof text, "%" PRId64, (int64_t)u);
	else
		n = snprintf(text, sizeof text, "%" PRIu64, u);
	if (!(flags & BLT_VALUE_JSON))
		text[n++] = '\n';
	return value_buf_put(out, text, (size_t)n);
}

static int
value_int_encode(
    unsigned code, const char *text, size_t len, struct blt_value_buf *out)
{
	int is_signed, w = blt_int_key_width(code, &is_signed);
	char num[32], *end;
	unsigned char le[8];
	uint64_t u;
	int64_t s;

	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len == 0 || len >= sizeof num)
		return blt_errmsg_set(
		    -EINVAL, "not a %s integer", blt_serializer_name(code));
	memcpy(num, text, len);
	num[len] = '\0';
	errno = 0;
	if (is_signed) {
		s = strtoll(num, &end, 10);
		u = (uint64_t)s;
		if (*end || errno ||
		    (w < 8 && (s < -((int64_t)1 << (8 * w - 1)) ||
		                  s >= (int64_t)1 << (8 * w - 1))))
			return blt_errmsg_set(-EINVAL,
			    "\"%s\" is not an integer %s can hold", num,
			    blt_serializer_name(code));
	} else {
		u = strtoull(num, &end, 10);
		if (*end || errno || num[0] == '-' ||
		    (w < 8 && u >> (8 * w) != 0))
			return blt_errmsg_set(-EINVAL,
			    "\"%s\" is not an integer %s can hold", num,
			    blt_serializer_name(code));
	}
	for (int i = 0; i < w; i++)
		le[i] = (unsigned char)(u >> (8 * i));
	return value_buf_put(out, le, (size_t)w);
}

int
value_not_decodable(unsigned code, const void *val, size_t len, int flags,
    struct blt_value_buf *out, const char *fmt, ...)
{
	/* Placeholder until the tagged forms land: the bytes as they are. */
	(void)code;
	(void)flags;
	(void)fmt;
	out->len = 0;
	if (value_buf_put(out, val, len) < 0)
		return -ENOMEM;
	return BLT_VALUE_NOT_DECODABLE;
}

int
blt_value_decode(unsigned code, const void *val, size_t len, int flags,
    struct blt_value_buf *out)
{
	out->len = 0;
	if (blt_int_key_width(code, NULL) != 0)
		return value_int_decode(code, val, len, flags, out);
	return value_buf_put(out, val, len);
}

int
blt_value_encode(unsigned code, const void *text, size_t len, int flags,
    struct blt_value_buf *out)
{
	(void)flags;
	out->len = 0;
	if (blt_int_key_width(code, NULL) != 0)
		return value_int_encode(code, text, len, out);
	return value_buf_put(out, text, len);
}
