/*
 * check_value: libbltvalue (bltvalue.h) codec by codec, with the bytes
 * Python writes for a few values, hostile msgpack and zstd input, the
 * edge cases of the tagged forms, and a property test over random nested
 * trees: tree -> text -> tree and tree -> bytes -> tree give the tree back,
 * for each serializer that can be written.  The whole stores against the
 * reference booklet are tests/values-ref.sh's.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

static struct blt_value_buf out, out2;

static void
setup(void)
{
	memset(&out, 0, sizeof out);
	memset(&out2, 0, sizeof out2);
}

static void
teardown(void)
{
	blt_value_buf_free(&out);
	blt_value_buf_free(&out2);
}

static int
dec(unsigned code, const void *p, size_t n, int flags)
{
	return blt_value_decode(code, p, n, flags, &out);
}

static int
enc(unsigned code, const char *text, int flags)
{
	return blt_value_encode(code, text, strlen(text), flags, &out);
}

/* out holds exactly the string s. */
#define ck_out(s)                                                              \
	do {                                                                   \
		ck_assert_msg(out.len == strlen(s) &&                          \
		                  memcmp(out.data, (s), out.len) == 0,         \
		    "got \"%.*s\", want \"%s\"", (int)out.len, out.data, (s)); \
	} while (0)

#define ck_bytes(p, n)                                                         \
	ck_assert_msg(out.len == (n) && memcmp(out.data, (p), (n)) == 0,       \
	    "bytes differ (%zu, want %zu)", out.len, (size_t)(n))

START_TEST(test_raw_str_int)
{
	ck_assert_int_eq(dec(VALUE_RAW, "a\0\xff", 3, 0), 0);
	ck_bytes("a\0\xff", 3);
	ck_assert_int_eq(dec(VALUE_RAW, "a\0\xff", 3, BLT_VALUE_JSON), 0);
	ck_out("{\"$bytes\": \"YQD/\"}");
	ck_assert_int_eq(dec(VALUE_BYTES, "h\xc3\xa9", 3, BLT_VALUE_JSON), 0);
	ck_out("\"h\xc3\xa9\"");
	ck_assert_int_eq(
	    enc(VALUE_RAW, "{\"$bytes\": \"YQD/\"}", BLT_VALUE_JSON), 0);
	ck_bytes("a\0\xff", 3);
	ck_assert_int_eq(dec(VALUE_STR, "x\ny", 3, BLT_VALUE_JSON), 0);
	ck_out("\"x\\ny\"");
	ck_assert_int_eq(dec(VALUE_STR, "x\ny", 3, 0), 0);
	ck_out("x\ny");
	ck_assert_int_eq(
	    dec(VALUE_STR, "\xff", 1, BLT_VALUE_JSON), BLT_VALUE_NOT_DECODABLE);
	ck_assert_int_eq(blt_value_encode(VALUE_STR, out.data, out.len,
	                     BLT_VALUE_JSON, &out2),
	    0);
	ck_assert(out2.len == 1 && out2.data[0] == 0xff);
	ck_assert_int_eq(dec(9, "\xfe\xff", 2, 0), 0); /* int2 */
	ck_out("-2\n");
	ck_assert_int_eq(dec(9, "\xfe", 1, 0), BLT_VALUE_NOT_DECODABLE);
	ck_assert_int_eq(blt_value_encode(9, out.data, out.len, 0, &out2), 0);
	ck_assert(out2.len == 1 && out2.data[0] == 0xfe);
	ck_assert_int_eq(
	    enc(14, "{\"$int\": \"18446744073709551615\"}", BLT_VALUE_JSON), 0);
	ck_bytes("\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	ck_assert_int_eq(
	    enc(14, "18446744073709551616", BLT_VALUE_JSON), -EINVAL);
	ck_assert_int_eq(enc(7, "128", 0), -EINVAL);
	ck_assert_int_eq(blt_value_caps(VALUE_RAW), 0);
	ck_assert_int_eq(blt_value_caps(VALUE_PD_ZSTD), 0);
	ck_assert_int_eq(blt_value_caps(VALUE_WKB), 0);
	ck_assert_int_eq(blt_value_caps(99), 0);
	for (unsigned c = 2; c <= 31; c++)
		if (c != VALUE_PD_ZSTD && c != VALUE_GPD_ZSTD && c != VALUE_WKB)
			ck_assert_msg(
			    blt_value_caps(c) ==
			        (BLT_VALUE_CAN_DECODE | BLT_VALUE_CAN_ENCODE),
			    "caps of %u", c);
}
END_TEST

/* A str's JSON form at every position of the 8-byte words the emitter
 * and the UTF-8 check read at once: each byte that needs an escape, and
 * each that is not UTF-8, is found wherever it sits. */
START_TEST(test_str_positions)
{
	static const struct {
		const char *in, *want; /* want NULL: not decodable */
	} cases[] = {
	    {"\x01", "\\u0001"},
	    {"\x1f", "\\u001f"},
	    {"\"", "\\\""},
	    {"\\", "\\\\"},
	    {"\x7f", "\x7f"},
	    {"\n", "\\n"},
	    {"\xc3\xa9", "\xc3\xa9"},
	    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
	    {"\xff", NULL},
	    {"\xc3", NULL},
	    {"\xed\xa0\x80", NULL},
	    {"\xc0\xaf", NULL},
	    {"\xf4\x90\x80\x80", NULL},
	};
	char in[64], want[128];

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
		for (int at = 0; at < 20; at++) {
			int n = snprintf(in, sizeof in, "%.*s%s%.*s", at,
			    "aaaaaaaaaaaaaaaaaaaa", cases[c].in, 20 - at,
			    "bbbbbbbbbbbbbbbbbbbb");
			int rc = dec(VALUE_STR, in, (size_t)n, BLT_VALUE_JSON);

			if (cases[c].want == NULL) {
				ck_assert_msg(rc == BLT_VALUE_NOT_DECODABLE,
				    "case %zu at %d: %d", c, at, rc);
				continue;
			}
			ck_assert_msg(rc == 0, "case %zu at %d: %d", c, at, rc);
			snprintf(want, sizeof want, "\"%.*s%s%.*s\"", at,
			    "aaaaaaaaaaaaaaaaaaaa", cases[c].want, 20 - at,
			    "bbbbbbbbbbbbbbbbbbbb");
			ck_out(want);
		}
}
END_TEST

/* What Python's json.dumps and orjson (the reference's stand-in) write,
 * byte for byte. */
START_TEST(test_json)
{
	static const char py[] =
	    "{\"a\": [1, 2.5, 1e+16, 1e-05, 0.0001, -0.0, 1e+300, 5e-324, "
	    "123456789012345678901234567890, NaN, -Infinity], "
	    "\"\\u00e9\\ud83d\\ude00\": \"\\n\\u0000\\\"\", \"e\": {}, "
	    "\"f\": [], \"$g\": null}";
	static const char oj[] = "{\"a\":[1,0.1,1e+16],\"\xc3\xa9\":\"\\n\"}";

	ck_assert_int_eq(
	    dec(VALUE_JSON_CODE, py, strlen(py), BLT_VALUE_JSON), 0);
	ck_assert_int_eq(blt_value_encode(VALUE_JSON_CODE, out.data, out.len,
	                     BLT_VALUE_JSON, &out2),
	    0);
	ck_assert_msg(
	    out2.len == strlen(py) && !memcmp(out2.data, py, out2.len), "%.*s",
	    (int)out2.len, out2.data);
	ck_assert_int_eq(dec(VALUE_ORJSON, oj, strlen(oj), 0), 0);
	ck_out("{\"a\": [1, 0.1, 1e+16], \"\xc3\xa9\": \"\\n\"}\n");
	ck_assert_int_eq(
	    blt_value_encode(VALUE_ORJSON, out.data, out.len, 0, &out2), 0);
	ck_assert(out2.len == strlen(oj) && !memcmp(out2.data, oj, out2.len));
	/* A real dict with one "$..." member comes out as $dict and goes
	 * back as it was. */
	ck_assert_int_eq(
	    dec(VALUE_JSON_CODE, "{\"$x\": 1}", 9, BLT_VALUE_JSON), 0);
	ck_out("{\"$dict\": [[\"$x\", 1]]}");
	ck_assert_int_eq(blt_value_encode(VALUE_JSON_CODE, out.data, out.len,
	                     BLT_VALUE_JSON, &out2),
	    0);
	ck_assert(out2.len == 9 && !memcmp(out2.data, "{\"$x\": 1}", 9));
	/* Not JSON: the not-decodable form, which gives the bytes back. */
	ck_assert_int_eq(
	    dec(VALUE_JSON_CODE, "{x", 2, 0), BLT_VALUE_NOT_DECODABLE);
	ck_assert_ptr_nonnull(strstr((char *)out.data, "\"$undecodable\""));
	ck_assert_int_eq(out.data[out.len - 1], '\n');
	ck_assert_int_eq(
	    blt_value_encode(VALUE_JSON_CODE, out.data, out.len, 0, &out2), 0);
	ck_assert(out2.len == 2 && !memcmp(out2.data, "{x", 2));
	/* json cannot hold bytes or sets. */
	ck_assert_int_eq(
	    enc(VALUE_JSON_CODE, "{\"$bytes\": \"AA==\"}", 0), -EINVAL);
	ck_assert_int_eq(enc(VALUE_JSON_CODE, "[{\"$set\": []}]", 0), -EINVAL);
	ck_assert_int_eq(enc(VALUE_JSON_CODE, "{\"$dict\": [[1, 2]]}", 0), 0);
	ck_out("{\"1\": 2}");
	ck_assert_int_eq(enc(VALUE_ORJSON, "{\"$float\": \"nan\"}", 0), 0);
	ck_out("null");
}
END_TEST

START_TEST(test_msgpack)
{
	/* msgpack.packb({'a': [1, -1, 200, -200, 70000, 1.5, b'\0\1',
	 * 'x' * 42], 'b': 2**64 - 1}) */
	static const char hex[] =
	    "82a1619801ffccc8d1ff38ce00011170cb3ff8000000000000c4020001d9"
	    "2a7878787878787878787878787878787878787878787878787878787878"
	    "78787878787878787878787878a162cfffffffffffffffff";
	unsigned char b[256];
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &b[i]);
	ck_assert_msg(dec(VALUE_MSGPACK, b, n, BLT_VALUE_JSON) == 0, "%.*s",
	    (int)out.len, out.data);
	ck_out("{\"a\": [1, -1, 200, -200, 70000, 1.5, {\"$bytes\": \"AAE=\"}, "
	       "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"], \"b\": "
	       "{\"$int\": "
	       "\"18446744073709551615\"}}");
	ck_assert_int_eq(blt_value_encode(VALUE_MSGPACK, out.data, out.len,
	                     BLT_VALUE_JSON, &out2),
	    0);
	ck_assert(out2.len == n && !memcmp(out2.data, b, n));
	/* Non-str keys: $dict; a tuple packs as an array. */
	ck_assert_int_eq(
	    dec(VALUE_MSGPACK, "\x81\x01\x02", 3, BLT_VALUE_JSON), 0);
	ck_out("{\"$dict\": [[1, 2]]}");
	ck_assert_int_eq(enc(VALUE_MSGPACK, "{\"$tuple\": [true]}", 0), 0);
	ck_bytes("\x91\xc3", 2);
	ck_assert_int_eq(enc(VALUE_MSGPACK, "{\"$set\": [1]}", 0), -EINVAL);
	ck_assert_int_eq(
	    enc(VALUE_MSGPACK, "{\"$int\": \"-9223372036854775809\"}", 0),
	    -EINVAL);
}
END_TEST

static void
ck_not_decodable(unsigned code, const void *p, size_t n)
{
	int rc = dec(code, p, n, BLT_VALUE_JSON);

	ck_assert_msg(rc == BLT_VALUE_NOT_DECODABLE, "code %u: %d", code, rc);
	ck_assert_ptr_nonnull(strstr((char *)out.data, "{\"$undecodable\": "));
	/* ... and it gives the very bytes back. */
	ck_assert_int_eq(
	    blt_value_encode(code, out.data, out.len, BLT_VALUE_JSON, &out2),
	    0);
	ck_assert(out2.len == n && (n == 0 || !memcmp(out2.data, p, n)));
}

START_TEST(test_msgpack_hostile)
{
	unsigned char *deep;
	size_t n = 100000;

	ck_not_decodable(VALUE_MSGPACK, "", 0);
	ck_not_decodable(VALUE_MSGPACK,
	    "\x92\xa5"
	    "ab",
	    4); /* truncated */
	ck_not_decodable(
	    VALUE_MSGPACK, "\xdd\xff\xff\xff\xff", 5); /* 4G items */
	ck_not_decodable(VALUE_MSGPACK, "\xdf\x7f\xff\xff\xff\x00", 6);
	ck_not_decodable(VALUE_MSGPACK,
	    "\xdb\xff\xff\xff\xff"
	    "a",
	    6);
	ck_not_decodable(VALUE_MSGPACK, "\xc6\xff\xff\xff\xff", 5);
	ck_not_decodable(VALUE_MSGPACK, "\xd4\x01\x02", 3); /* ext */
	ck_not_decodable(VALUE_MSGPACK, "\xc1", 1);
	ck_not_decodable(VALUE_MSGPACK, "\xa1\xff", 2); /* str not UTF-8 */
	ck_not_decodable(VALUE_MSGPACK, "\xc0\xc0", 2); /* extra data */
	ck_not_decodable(VALUE_MSGPACK, "\xcb\x00", 2);
	deep = malloc(n);
	memset(deep, 0x91, n - 1);
	deep[n - 1] = 0xc0;
	ck_not_decodable(VALUE_MSGPACK, deep, n);
	/* Nesting within the limit decodes. */
	ck_assert_int_eq(dec(VALUE_MSGPACK, deep + n - 501, 501, 0), 0);
	free(deep);
}
END_TEST

START_TEST(test_zstd)
{
	static const char text[] = "hello hello hello hello";
	struct blt_value_buf z = {0};
	unsigned char junk[64];

	ck_assert_int_eq(enc(VALUE_ZSTD, text, 0), 0);
	ck_assert_int_eq(
	    blt_value_decode(VALUE_ZSTD, out.data, out.len, 0, &out2), 0);
	ck_assert(
	    out2.len == strlen(text) && !memcmp(out2.data, text, out2.len));
	ck_assert_int_eq(blt_value_decode(VALUE_ZSTD, out.data, out.len,
	                     BLT_VALUE_JSON, &out2),
	    0);
	ck_assert(out2.len == strlen(text) + 2);
	/* truncated, garbage, empty */
	ck_assert_int_eq(value_buf_put(&z, out.data, out.len - 1), 0);
	ck_not_decodable(VALUE_ZSTD, z.data, z.len);
	z.len = 0;
	memset(junk, 'x', sizeof junk);
	ck_not_decodable(VALUE_ZSTD, junk, sizeof junk);
	ck_not_decodable(VALUE_ZSTD, "", 0);
	ck_not_decodable(VALUE_MSGPACK_ZSTD, junk, sizeof junk);
	/* A frame whose content outgrows the size its header gives (found by
	 * fuzz_value): zstd names another error for it depending on what its
	 * stream decompressed before and on the room it is given, but the
	 * value must always show the same; compared again below. */
	static const unsigned char lying[] = {0x28, 0xb5, 0x2f, 0xfd, 0x20,
	    0x2f, 0x02, 0x84, 0x5d, 0x00, 0x34, 0x01, 0x61, 0xa1, 0x95, 0x01,
	    0xc9, 0x40, 0x04, 0x00, 0xc0, 0xc3, 0xa2, 0xc3, 0xa9, 0xa1, 0x62,
	    0xc4, 0x02, 0x00, 0xff, 0xa1, 0x63, 0x2a, 0xff, 0xa1, 0x64, 0xd3,
	    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x20,
	    0x6b, 0x0b, 0xe4};
	struct blt_value_buf first = {0};
	ck_assert_int_eq(blt_value_decode(VALUE_ZSTD, lying, sizeof lying,
	                     BLT_VALUE_JSON, &first),
	    BLT_VALUE_NOT_DECODABLE);
	/* A bomb: 4 MiB of zeros in a few hundred bytes, beyond the cap. */
	unsigned char *zeros = calloc(1, 4 << 20);
	ck_assert_int_eq(value_zstd_compress(zeros, 4 << 20, &z), 0);
	free(zeros);
	ck_assert_uint_lt(z.len, 4096);
	value_zstd_max = 1 << 20;
	ck_not_decodable(VALUE_ZSTD, z.data, z.len);
	ck_assert_ptr_nonnull(strstr((char *)out.data, "more than 1048576"));
	value_zstd_max = VALUE_ZSTD_MAX;
	ck_assert_int_eq(dec(VALUE_ZSTD, z.data, z.len, 0), 0);
	ck_assert_uint_eq(out.len, 4 << 20);
	blt_value_buf_free(&z);
	/* out is 4 MiB now, and the stream has held a 4 MiB window. */
	ck_assert_int_eq(dec(VALUE_ZSTD, lying, sizeof lying, BLT_VALUE_JSON),
	    BLT_VALUE_NOT_DECODABLE);
	ck_assert_msg(
	    out.len == first.len && memcmp(out.data, first.data, out.len) == 0,
	    "%.*s\nthen\n%.*s", (int)first.len, first.data, (int)out.len,
	    out.data);
	blt_value_buf_free(&first);
}
END_TEST

START_TEST(test_numpy)
{
	ck_assert_int_eq(dec(VALUE_NUMPY_INT2, "\x01\x00\xfe\xff", 4, 0), 0);
	ck_out("[1, -2]\n");
	ck_assert_int_eq(enc(VALUE_NUMPY_INT2, "[1, -2]", 0), 0);
	ck_bytes("\x01\x00\xfe\xff", 4);
	ck_assert_int_eq(enc(VALUE_NUMPY_INT2,
	                     "{\"dtype\": \"int16\", \"data\": [1, -2]}", 0),
	    0);
	ck_bytes("\x01\x00\xfe\xff", 4);
	ck_assert_int_eq(
	    enc(VALUE_NUMPY_INT2, "{\"dtype\": \"int32\", \"data\": [1]}", 0),
	    -EINVAL);
	ck_assert_int_eq(enc(VALUE_NUMPY_INT1, "[128]", 0), -EINVAL);
	ck_assert_int_eq(enc(VALUE_NUMPY_INT1, "[1.5]", 0), -EINVAL);
	ck_not_decodable(VALUE_NUMPY_INT4, "\x01\x02\x03", 3);
	ck_assert_int_eq(
	    enc(VALUE_NUMPY_INT8_ZSTD, "[-1, 9223372036854775807]", 0), 0);
	ck_assert_int_eq(blt_value_decode(VALUE_NUMPY_INT8_ZSTD, out.data,
	                     out.len, 0, &out2),
	    0);
	ck_assert(out2.len == 26 &&
	          !memcmp(out2.data, "[-1, 9223372036854775807]\n", 26));
}
END_TEST

START_TEST(test_tags)
{
	static const char *bad[] = {"{\"$tuple\": 1}", "{\"$x\": 1}",
	    "{\"$bytes\": \"A\"}", "{\"$bytes\": 1}", "{\"$int\": \"1.5\"}",
	    "{\"$int\": \"\"}", "{\"$float\": \"NaN\"}", "{\"$dict\": [[1]]}",
	    "{\"$dict\": {}}",
	    "[{\"$undecodable\": {\"serializer\": \"json\", "
	    "\"why\": \"\", \"bytes\": \"\"}}]",
	    "{\"$undecodable\": 1}", "[1,]", "{\"a\" 1}", "\"\\x\"", "01", "1.",
	    "[1] 2", "\"\x01\"", "\"\xff\"", "\"\xed\xa0\x80\"", ""};
	json_t *t;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(value_parse(bad[i], strlen(bad[i]),
		                  VALUE_PARSE_TAGGED, &t) == -EINVAL,
		    "accepted %s", bad[i]);
	/* More than one member: a plain dict, whatever the names. */
	ck_assert_int_eq(
	    enc(VALUE_MSGPACK, "{\"$tuple\": 1, \"$x\": 2}", 0), 0);
	/* A small $int is the integer; a big one stays, without zeros. */
	ck_assert_int_eq(
	    value_parse("{\"$int\": \"-0007\"}", 17, VALUE_PARSE_TAGGED, &t),
	    0);
	ck_assert(json_is_integer(t) && json_integer_value(t) == -7);
	json_decref(t);
	ck_assert_int_eq(enc(VALUE_JSON_CODE,
	                     "[00000000000000000000000000001, "
	                     "-123456789012345678901234567890]",
	                     0),
	    -EINVAL); /* a leading zero is not JSON */
	ck_assert_int_eq(
	    enc(VALUE_JSON_CODE,
	        "[{\"$int\": \"00000000000000000000000000001\"}, "
	        "-123456789012345678901234567890, 1e400, \"\\ud800\"]",
	        0),
	    0);
	ck_out("[1, -123456789012345678901234567890, Infinity, \"\\ud800\"]");
	/* Lone surrogates, as Python keeps them, survive text and back. */
	ck_assert_int_eq(
	    dec(VALUE_JSON_CODE, out.data, out.len, BLT_VALUE_JSON), 0);
	ck_assert_ptr_nonnull(strstr((char *)out.data, "\"\\ud800\""));
	/* Deep nesting is refused, not a stack overflow. */
	char *deep = malloc(20001);
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	ck_assert_int_eq(enc(VALUE_MSGPACK, deep, 0), -EINVAL);
	ck_not_decodable(VALUE_JSON_CODE, deep, 20000);
	free(deep);
}
END_TEST

/* The text reader (value-read.c over json.c's json_parse()). */
START_TEST(test_text_reader)
{
#define PARSE(text, mode) value_parse((text), strlen(text), (mode), &t)
	size_t n = 100000;
	char *deep = malloc(2 * n);
	json_t *t, *pl;

	/* Python's words, and what overflows a double, as $float */
	ck_assert_int_eq(PARSE("[NaN, Infinity, -Infinity, -1e999, 1.5]",
	                     VALUE_PARSE_TAGGED),
	    0);
	ck_assert_int_eq(value_tag(json_array_get(t, 0), &pl), VALUE_TAG_FLOAT);
	ck_assert_str_eq(json_string_value(pl), "nan");
	ck_assert_int_eq(value_tag(json_array_get(t, 1), &pl), VALUE_TAG_FLOAT);
	ck_assert_str_eq(json_string_value(pl), "inf");
	ck_assert_int_eq(value_tag(json_array_get(t, 2), &pl), VALUE_TAG_FLOAT);
	ck_assert_str_eq(json_string_value(pl), "-inf");
	ck_assert_int_eq(value_tag(json_array_get(t, 3), &pl), VALUE_TAG_FLOAT);
	ck_assert_str_eq(json_string_value(pl), "-inf");
	ck_assert(json_real_value(json_array_get(t, 4)) == 1.5);
	json_decref(t);
	ck_assert_int_eq(PARSE("-NaN", 0), -EINVAL);
	ck_assert_int_eq(PARSE("nan", 0), -EINVAL);
	/* int64 at its edges, and beyond as $int */
	ck_assert_int_eq(PARSE("[-9223372036854775808, "
	                       "9223372036854775807, "
	                       "9223372036854775808, -0]",
	                     0),
	    0);
	ck_assert(json_integer_value(json_array_get(t, 0)) == INT64_MIN);
	ck_assert(json_integer_value(json_array_get(t, 1)) == INT64_MAX);
	ck_assert_int_eq(value_tag(json_array_get(t, 2), &pl), VALUE_TAG_INT);
	ck_assert_str_eq(json_string_value(pl), "9223372036854775808");
	ck_assert(json_is_integer(json_array_get(t, 3)) &&
	          json_integer_value(json_array_get(t, 3)) == 0);
	json_decref(t);
	/* NUL in names and strings; the last of a repeated name wins at the
	 * place of the first */
	ck_assert_int_eq(PARSE("{\"a\\u0000b\": \"x\\u0000\", \"c\": 1, "
	                       "\"a\\u0000b\": 2}",
	                     0),
	    0);
	ck_assert_int_eq(json_object_size(t), 2);
	ck_assert_str_eq(
	    json_object_iter_key(json_object_iter(t)), "a"); /* up to NUL */
	ck_assert_uint_eq(json_object_iter_key_len(json_object_iter(t)), 3);
	ck_assert(json_integer_value(
	              json_object_iter_value(json_object_iter(t))) == 2);
	json_decref(t);
	/* a dict that looks like a tag, in stored JSON */
	ck_assert_int_eq(PARSE("{\"$x\": 1}", VALUE_PARSE_DATA), 0);
	ck_assert_int_eq(value_tag(t, &pl), VALUE_TAG_DICT);
	json_decref(t);
	/* messages place the fault: a syntax error, and a tag by its brace */
	ck_assert_int_eq(PARSE("[1,\n 2 3]", VALUE_PARSE_TAGGED), -EINVAL);
	ck_assert_str_eq(
	    blt_errmsg(), "line 2 column 4: expected ',' or ']' (at '3')");
	ck_assert_int_eq(
	    PARSE("[1,\n  {\"$tuple\": 1}]", VALUE_PARSE_TAGGED), -EINVAL);
	ck_assert_str_eq(blt_errmsg(),
	    "line 2 column 3: $tuple, $set and $frozenset need an array "
	    "(at '{')");
	/* as deep as VALUE_DEPTH_MAX, no deeper, and never the stack's end */
	ck_assert_ptr_nonnull(deep);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	ck_assert_int_eq(
	    value_parse(deep + n - VALUE_DEPTH_MAX, 2 * VALUE_DEPTH_MAX, 0, &t),
	    0);
	json_decref(t);
	ck_assert_int_eq(value_parse(deep + n - VALUE_DEPTH_MAX - 1,
	                     2 * VALUE_DEPTH_MAX + 2, 0, &t),
	    -EINVAL);
	ck_assert_msg(
	    strstr(blt_errmsg(), "nested") != NULL, "%s", blt_errmsg());
	ck_assert_int_eq(value_parse(deep, 2 * n, 0, &t), -EINVAL);
	free(deep);
	deep = malloc(5 * n);
	ck_assert_ptr_nonnull(deep);
	for (size_t i = 0; i < n; i++)
		memcpy(deep + 5 * i, "{\"a\":", 5);
	ck_assert_int_eq(value_parse(deep, 5 * n, 0, &t), -EINVAL);
	free(deep);
}
#undef PARSE
END_TEST

/* --- the property test ---------------------------------------------------- */

#define K_BYTES 0x1   /* $bytes */
#define K_PYTHON 0x2  /* $tuple, $set, $bytearray, $dict with int keys */
#define K_BIGINT 0x4  /* $int beyond uint64 */
#define K_NONFIN 0x8  /* $float */
#define K_UINT64 0x10 /* $int up to 2**64 - 1 */

static uint64_t rng = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static json_t *
rnd_str(void)
{
	static const char *const parts[] = {"a", "\xc3\xa9", "\xf0\x9f\x98\x80",
	    "\"", "\\", "\n", "\x01", "$", " ", "\xe2\x80\xa8", "z"};
	char s[64];
	size_t n = 0, k = rnd() % 6;

	for (size_t i = 0; i < k; i++) {
		const char *p = parts[rnd() % (sizeof parts / sizeof parts[0])];
		memcpy(s + n, p, strlen(p));
		n += strlen(p);
	}
	/* NUL too */
	if (rnd() % 8 == 0)
		s[n++] = '\0';
	return json_stringn(s, n);
}

static json_t *
rnd_tree(int kinds, int depth)
{
	unsigned char b[8];
	json_t *t, *pairs;
	double d;
	uint64_t u;
	int k = (int)(rnd() % (depth < 5 ? 12 : 7));

	switch (k) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(rnd() & 1);
	case 2:
		return json_integer(
		    (json_int_t)(rnd() >> (rnd() % 64)) * (rnd() & 1 ? -1 : 1));
	case 3:
		do {
			u = rnd();
			memcpy(&d, &u, 8);
		} while (!isfinite(d));
		return json_real(
		    rnd() & 1 ? d : (double)(int)(rnd() % 1000) / 8);
	case 4:
		return rnd_str();
	case 5:
		if (kinds & K_BYTES) {
			for (int i = 0; i < 8; i++)
				b[i] = (unsigned char)rnd();
			return value_tagged(
			    "$bytes", value_b64_string(b, rnd() % 8));
		}
		if (kinds & K_NONFIN)
			return value_tagged(
			    "$float", json_string(rnd() & 1 ? "nan" : "-inf"));
		return json_integer(-1);
	case 6:
		if (kinds & K_BIGINT)
			return value_tagged("$int",
			    json_string("-340282366920938463463374607431"));
		if (kinds & K_UINT64)
			return value_tagged(
			    "$int", json_string("18446744073709551615"));
		return json_integer(INT64_MIN);
	case 7:
	case 8:
		t = json_array();
		for (int i = (int)(rnd() % 4); i > 0; i--)
			json_array_append_new(t, rnd_tree(kinds, depth + 1));
		if (k == 8 && (kinds & K_PYTHON))
			return value_tagged("$tuple", t);
		return t;
	case 9:
	case 10:
		t = json_object();
		for (int i = (int)(rnd() % 4); i > 0; i--) {
			json_t *key = rnd_str();
			if (json_string_length(key) > 0 &&
			    json_string_value(key)[0] == '$')
				json_string_setn(key, "k", 1);
			json_object_setn_new(t, json_string_value(key),
			    json_string_length(key),
			    rnd_tree(kinds, depth + 1));
			json_decref(key);
		}
		return t;
	default:
		pairs = json_array();
		if (kinds & K_PYTHON) {
			json_array_append_new(pairs,
			    json_pack("[Io]", (json_int_t)(rnd() % 100 + 1000),
			        rnd_tree(kinds, depth + 1)));
			return value_tagged("$dict", pairs);
		}
		/* a dict with one "$..." member */
		json_array_append_new(pairs,
		    json_pack("[so]", "$set", rnd_tree(kinds, depth + 1)));
		return value_tagged("$dict", pairs);
	}
}

static void
ck_same(const json_t *a, const json_t *b, const char *what)
{
	struct blt_value_buf ta = {0}, tb = {0};

	ck_assert_int_eq(value_emit(a, &value_style_text, &ta), 0);
	ck_assert_int_eq(value_emit(b, &value_style_text, &tb), 0);
	ck_assert_msg(ta.len == tb.len && !memcmp(ta.data, tb.data, ta.len),
	    "%s: %.*s became %.*s", what, (int)ta.len, ta.data, (int)tb.len,
	    tb.data);
	blt_value_buf_free(&ta);
	blt_value_buf_free(&tb);
}

START_TEST(test_property)
{
	static const struct {
		unsigned code;
		int kinds;
	} sers[] = {{VALUE_JSON_CODE, K_BIGINT | K_NONFIN},
	    {VALUE_ORJSON, K_BIGINT}, {VALUE_ORJSON_ZSTD, K_BIGINT},
	    {VALUE_MSGPACK, K_BYTES | K_NONFIN | K_UINT64},
	    {VALUE_MSGPACK_ZSTD, K_BYTES | K_NONFIN | K_UINT64},
	    {VALUE_PICKLE, K_BYTES | K_PYTHON | K_BIGINT | K_NONFIN},
	    {VALUE_PICKLE_ZSTD, K_BYTES | K_PYTHON | K_BIGINT | K_NONFIN}};
	json_t *t, *back;

	for (int round = 0; round < 300; round++) {
		for (size_t s = 0; s < sizeof sers / sizeof sers[0]; s++) {
			t = rnd_tree(sers[s].kinds, 0);
			/* tree -> text -> tree */
			out.len = 0;
			ck_assert_int_eq(
			    value_put_tree(t, BLT_VALUE_JSON, &out), 0);
			ck_assert_int_eq(value_parse((char *)out.data, out.len,
			                     VALUE_PARSE_TAGGED, &back),
			    0);
			ck_same(t, back, "text");
			json_decref(back);
			/* tree -> bytes -> tree, through the public calls */
			ck_assert_msg(blt_value_encode(sers[s].code, out.data,
			                  out.len, BLT_VALUE_JSON, &out2) == 0,
			    "code %u: %s: %.*s", sers[s].code, blt_errmsg(),
			    (int)out.len, out.data);
			ck_assert_int_eq(
			    blt_value_decode(sers[s].code, out2.data, out2.len,
			        BLT_VALUE_JSON, &out),
			    0);
			ck_assert_int_eq(value_parse((char *)out.data, out.len,
			                     VALUE_PARSE_TAGGED, &back),
			    0);
			ck_same(t, back, blt_serializer_name(sers[s].code));
			json_decref(back);
			json_decref(t);
		}
	}
}
END_TEST

static Suite *
value_suite(void)
{
	Suite *s = suite_create("value");
	TCase *tc = tcase_create("codecs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_raw_str_int);
	tcase_add_test(tc, test_str_positions);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_msgpack);
	tcase_add_test(tc, test_msgpack_hostile);
	tcase_add_test(tc, test_zstd);
	tcase_add_test(tc, test_numpy);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_text_reader);
	tcase_add_test(tc, test_property);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(value_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
