/*
 * The json (4) and orjson (5) serializers: their bytes are JSON text
 * already.  Decoding parses it as Python's json.loads would (NaN, Infinity,
 * integers of any size) into the tree, so that it is shown in our one form;
 * encoding writes what json.dumps(obj) writes (", " and ": ", ASCII with
 * \u escapes, NaN and Infinity) or what orjson.dumps(obj) writes (compact
 * UTF-8, non-finite floats as null), so that an unchanged value encodes
 * back to the identical bytes.  Floats are written as Python's repr(), as
 * json.dumps and the reference's orjson stand-in do; the real orjson may
 * spell a few differently (1e16 for 1e+16), which both read back equal.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

int
value_json_decode(
    const unsigned char *p, size_t len, json_t **out, char *why, size_t whylen)
{
	int rc = value_parse((const char *)p, len, VALUE_PARSE_DATA, out);

	if (rc == -EINVAL) {
		snprintf(why, whylen, "not JSON: %s", blt_errmsg());
		return BLT_VALUE_NOT_DECODABLE;
	}
	return rc;
}

static const struct value_style value_style_json = {", ", ": ", 1, 1, 0};
static const struct value_style value_style_orjson = {",", ":", 0, 1, 1};

int
value_json_encode(const json_t *v, struct blt_value_buf *out)
{
	out->len = 0;
	return value_emit(v, &value_style_json, out);
}

int
value_orjson_encode(const json_t *v, struct blt_value_buf *out)
{
	out->len = 0;
	return value_emit(v, &value_style_orjson, out);
}
