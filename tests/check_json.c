/*
 * Unit tests of src/util/json.c, which the tools and the test support share:
 * the JSON reader (what it accepts, what it rejects and how it says so),
 * semantic JSON comparison and the writers; then of manifest.c and
 * sha256.c: SHA-256 against the FIPS 180-4 examples, and the
 * manifest checks that keep a broken manifest from being blamed on the
 * engine.  None of this needs the engine.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"

/* Parse text (a C string) and fail the test if that does not work. */
static struct json *
json_ok(const char *text)
{
	struct json *v;
	int rc = json_parse(text, strlen(text), JSON_SURROGATES, &v);

	ck_assert_msg(
	    rc == 0, "parse of %s failed: %d %s", text, rc, blt_errmsg());
	return v;
}

/* 1 if the JSON texts a and b are equal; where gets the difference. */
static int
text_same(const char *a, const char *b, char *where, size_t wsize)
{
	struct json *x = json_ok(a), *y = json_ok(b);
	int eq = json_same(x, y, where, wsize);

	json_free(x);
	json_free(y);
	return eq;
}

static void
hex_of(const unsigned char *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

START_TEST(json_scalars_parse_to_their_types)
{
	static const struct {
		const char *text;
		enum json_type type;
	} cases[] = {{"null", JSON_NULL}, {" true ", JSON_TRUE},
	    {"false", JSON_FALSE}, {"-12.5e+3", JSON_NUMBER},
	    {"\"x\"", JSON_STRING}, {"[]", JSON_ARRAY},
	    {"\r\n\t{}", JSON_OBJECT}};
	struct json *v;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		v = json_ok(cases[i].text);
		ck_assert_msg(v->type == cases[i].type, "%s: type %d",
		    cases[i].text, (int)v->type);
		json_free(v);
	}
}
END_TEST

START_TEST(json_numbers_keep_their_text)
{
	struct json *v;

	/* above 2^53: only the text is exact */
	v = json_ok("[1795215804768507, 72057594037927935, -0, 0.5, 1E2]");
	ck_assert_uint_eq(v->n, 5);
	ck_assert_str_eq(v->kids[0].str, "1795215804768507");
	ck_assert_str_eq(v->kids[1].str, "72057594037927935");
	ck_assert_str_eq(v->kids[2].str, "-0");
	ck_assert(v->kids[3].num == 0.5);
	ck_assert(v->kids[4].num == 100.0);
	json_free(v);
}
END_TEST

START_TEST(json_string_escapes_decode_to_utf8)
{
	struct json *v;

	v = json_ok("\"a\\u0000b\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"
	            "\\ud800x\"");
	ck_assert_uint_eq(v->len, 21);
	ck_assert_mem_eq(v->str,
	    "a\0b\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80x", 21);
	ck_assert_int_eq(v->str[v->len], '\0');
	json_free(v);

	/* raw UTF-8 passes through unchanged */
	v = json_ok("\"h\xc3\xa9llo \xe6\x97\xa5\xf0\x9f\x98\x80\"");
	ck_assert_str_eq(v->str, "h\xc3\xa9llo \xe6\x97\xa5\xf0\x9f\x98\x80");
	json_free(v);
}
END_TEST

START_TEST(json_malformed_text_is_ebadmsg)
{
	static const char *const bad[] = {"", "   ", "{", "[1,]", "[1 2]",
	    "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "01", "1.", ".5",
	    "+1", "-", "1e", "1e+", "nul", "True", "NaN", "Infinity", "\"abc",
	    "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"tab\there\"", "\"\xff\"",
	    "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
	    "\"\xe2\x82\"", "[1] x", "{} {}", "[\"a\",]", "/* c */ 1"};
	struct json *v;
	size_t i;
	int rc;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = (struct json *)&v;
		rc = json_parse(bad[i], strlen(bad[i]), JSON_SURROGATES, &v);
		ck_assert_msg(
		    rc == -EBADMSG, "case %zu (%s) gave %d", i, bad[i], rc);
		ck_assert_msg(v == NULL, "case %zu: *out set on failure", i);
		ck_assert_msg(strstr(blt_errmsg(), "line ") != NULL,
		    "case %zu: message without a position: %s", i,
		    blt_errmsg());
	}
}
END_TEST

START_TEST(json_text_is_bounded_by_len_not_nul)
{
	struct json *v;

	/* the byte after len is never looked at */
	ck_assert_int_eq(json_parse("[1]]", 3, JSON_SURROGATES, &v), 0);
	ck_assert_uint_eq(v->n, 1);
	json_free(v);
	ck_assert_int_eq(json_parse("tru", 3, JSON_SURROGATES, &v), -EBADMSG);
	ck_assert_int_eq(
	    json_parse("\"ab\"", 3, JSON_SURROGATES, &v), -EBADMSG);
	ck_assert_int_eq(json_parse("[1]\0", 4, JSON_SURROGATES, &v), -EBADMSG);
}
END_TEST

START_TEST(json_lone_surrogate_needs_the_flag)
{
	struct json *v;

	ck_assert_int_eq(json_parse("\"\\udc00\"", 8, 0, &v), -EBADMSG);
	ck_assert_msg(
	    strstr(blt_errmsg(), "lone surrogate") != NULL, "%s", blt_errmsg());
	ck_assert_int_eq(json_parse("\"\\ud800x\"", 9, 0, &v), -EBADMSG);
	/* a pair is fine either way */
	ck_assert_int_eq(json_parse("\"\\ud83d\\ude00\"", 14, 0, &v), 0);
	ck_assert_mem_eq(v->str, "\xf0\x9f\x98\x80", 5);
	json_free(v);
}
END_TEST

START_TEST(json_writers_escape_what_cannot_be_seen)
{
	char *buf = NULL;
	size_t len = 0;
	unsigned char b[4];
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	json_put_str(f, "a\"\\\n\x01\xc3\xa9\xff\xe2\x80\x8b", 11);
	json_put_hex(f, "\x01\xab", 2);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(
	    buf, "\"a\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\\u200b\"01ab");
	free(buf);
	ck_assert_int_eq(json_unhex("00fFa5", 6, b), 3);
	ck_assert_int_eq(json_unhex("0g", 2, b), -1);
	ck_assert_int_eq(json_unhex("abc", 3, b), -1);
}
END_TEST

START_TEST(json_error_names_line_and_column)
{
	struct json *v;
	const char *text = "{\n \"a\": 1,\n \"b\": ?\n}";

	ck_assert_int_eq(
	    json_parse(text, strlen(text), JSON_SURROGATES, &v), -EBADMSG);
	ck_assert_msg(strstr(blt_errmsg(), "line 3 column 7") != NULL,
	    "message: %s", blt_errmsg());
}
END_TEST

START_TEST(json_error_in_a_line_names_the_column_alone)
{
	struct json *v;
	const char *text = "{\"a\": 1, \"b\": ?}";

	ck_assert_int_eq(
	    json_parse(text, strlen(text), JSON_LINE, &v), -EBADMSG);
	ck_assert_str_eq(blt_errmsg(), "column 15: expected a value (at '?')");
	ck_assert_int_eq(json_parse(text, 9, JSON_LINE, &v), -EBADMSG);
	ck_assert_msg(strstr(blt_errmsg(), "column 10: ") == blt_errmsg() &&
	                  strstr(blt_errmsg(), "(at end of line)") != NULL,
	    "message: %s", blt_errmsg());
}
END_TEST

START_TEST(json_nesting_is_limited)
{
	struct json *v;
	size_t n = 100000, i;
	char *text = malloc(2 * n + 1);

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < n; i++) {
		text[i] = '[';
		text[n + i] = ']';
	}
	/* deep but allowed */
	ck_assert_int_eq(
	    json_parse(text + n - 500, 1000, JSON_SURROGATES, &v), 0);
	json_free(v);
	/* far too deep for a recursive parser without a limit */
	ck_assert_int_eq(
	    json_parse(text, 2 * n, JSON_SURROGATES, &v), -EBADMSG);
	ck_assert_ptr_null(v);
	ck_assert_msg(
	    strstr(blt_errmsg(), "nested") != NULL, "%s", blt_errmsg());
	/* JSON_PYTHON reads as deep as Python (and libbltvalue), no deeper */
	ck_assert_int_eq(json_parse(text + n - JSON_PYTHON_DEPTH,
	                     2 * JSON_PYTHON_DEPTH, JSON_PYTHON, &v),
	    0);
	json_free(v);
	ck_assert_int_eq(json_parse(text + n - JSON_PYTHON_DEPTH - 1,
	                     2 * JSON_PYTHON_DEPTH + 2, JSON_PYTHON, &v),
	    -EBADMSG);
	ck_assert_int_eq(json_parse(text, 2 * n, JSON_PYTHON, &v), -EBADMSG);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(json_parse(text + n - JSON_DEPTH - 1,
	                     2 * JSON_DEPTH + 2, JSON_SURROGATES, &v),
	    -EBADMSG);
	free(text);
}
END_TEST

START_TEST(json_python_words_need_the_flag)
{
	struct json *v;
	const char *text = "[NaN, Infinity, -Infinity, -1]";

	ck_assert_int_eq(json_parse(text, strlen(text), 0, &v), -EBADMSG);
	ck_assert_int_eq(json_parse(text, strlen(text), JSON_PYTHON, &v), 0);
	ck_assert_int_eq(v->n, 4);
	ck_assert_int_eq(v->kids[0].type, JSON_NUMBER);
	ck_assert_str_eq(v->kids[0].str, "NaN");
	ck_assert(v->kids[0].num != v->kids[0].num);
	ck_assert_str_eq(v->kids[1].str, "Infinity");
	ck_assert(v->kids[1].num > 1e308);
	ck_assert_str_eq(v->kids[2].str, "-Infinity");
	ck_assert_uint_eq(v->kids[2].len, 9);
	ck_assert(v->kids[2].num < -1e308);
	ck_assert_str_eq(v->kids[3].str, "-1");
	/* not an integer: json_int() refuses the words */
	ck_assert_int_eq(json_int(&v->kids[1], 0, UINT64_MAX, NULL, NULL), -1);
	json_free(v);
	/* only the words Python writes */
	ck_assert_int_eq(json_parse("-NaN", 4, JSON_PYTHON, &v), -EBADMSG);
	ck_assert_int_eq(json_parse("nan", 3, JSON_PYTHON, &v), -EBADMSG);
	ck_assert_int_eq(json_parse("Inf", 3, JSON_PYTHON, &v), -EBADMSG);
	ck_assert_int_eq(json_parse("NaNa", 4, JSON_PYTHON, &v), -EBADMSG);
	ck_assert_str_eq(
	    blt_errmsg(), "line 1 column 4: text after the value (at 'a')");
}
END_TEST

START_TEST(json_error_at_places_a_value_by_its_offset)
{
	struct json *v;
	const char *text = "[1,\n  {\"a\": 2}]";

	ck_assert_int_eq(json_parse(text, strlen(text), 0, &v), 0);
	ck_assert_uint_eq(v->off, 0);
	ck_assert_uint_eq(v->kids[1].off, 6);
	ck_assert_uint_eq(v->kids[1].kids[0].off, 12);
	ck_assert_int_eq(json_error_at(text, strlen(text), v->kids[1].off, 0,
	                     "not wanted here"),
	    -EBADMSG);
	ck_assert_str_eq(
	    blt_errmsg(), "line 2 column 3: not wanted here (at '{')");
	ck_assert_int_eq(
	    json_error_at(text, strlen(text), strlen(text), JSON_LINE, "short"),
	    -EBADMSG);
	ck_assert_str_eq(blt_errmsg(), "column 12: short (at end of line)");
	json_free(v);
}
END_TEST

START_TEST(json_get_finds_the_last_of_a_repeated_member)
{
	struct json *v = json_ok("{\"a\":1,\"b\":2,\"a\":3}");
	const struct json *a;

	ck_assert_ptr_nonnull(a = json_get(v, "a"));
	ck_assert_str_eq(a->str, "3");
	ck_assert_ptr_null(json_get(v, "c"));
	ck_assert_ptr_null(json_get(&v->kids[0], "a"));
	json_free(v);
}
END_TEST

START_TEST(json_same_ignores_member_order_and_spacing)
{
	ck_assert(text_same("{\"a\":[1,{\"x\":null}],\"b\":true}",
	    " { \"b\" : true , \"a\" : [ 1 , { \"x\" : null } ] } ", NULL, 0));
	ck_assert(text_same("\"\\u00e9\"", "\"\xc3\xa9\"", NULL, 0));
	ck_assert(text_same("{\"a\":1,\"a\":2}", "{\"a\":2}", NULL, 0));
	ck_assert(!text_same("[1,2]", "[2,1]", NULL, 0));
	ck_assert(!text_same("{\"a\":1}", "{\"a\":1,\"b\":1}", NULL, 0));
	ck_assert(!text_same("{\"a\":1,\"b\":1}", "{\"a\":1}", NULL, 0));
	ck_assert(!text_same("null", "false", NULL, 0));
	ck_assert(!text_same("\"a\\u0000\"", "\"a\"", NULL, 0));
}
END_TEST

START_TEST(json_same_compares_numbers_as_text_or_double)
{
	ck_assert(text_same("1", "1.0", NULL, 0));
	ck_assert(text_same("0.5", "5e-1", NULL, 0));
	ck_assert(text_same("-0", "0", NULL, 0));
	ck_assert(!text_same("1", "2", NULL, 0));
	ck_assert(!text_same("1", "\"1\"", NULL, 0));
}
END_TEST

START_TEST(json_same_names_the_first_difference)
{
	char where[128];

	ck_assert(!text_same("{\"n\":{\"list\":[1,2,3]}}",
	    "{\"n\":{\"list\":[1,2,4]}}", where, sizeof where));
	ck_assert_str_eq(where, "$.n.list[2]");
	ck_assert(
	    !text_same("{\"n\":{}}", "{\"n\":{\"x\":1}}", where, sizeof where));
	ck_assert_str_eq(where, "$.n");
	ck_assert(text_same("[1]", "[1]", where, sizeof where));
	ck_assert(!text_same("[[1]]", "[[2]]", where, 4));
	ck_assert_str_eq(where, "$[0");
}
END_TEST

START_TEST(sha256_matches_fips_180_examples)
{
	static const struct {
		const char *msg;
		const char *digest;
	} cases[] = {{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	                  "a495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
	            "f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db"
	        "06c1"},
	    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmn"
	     "oijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afe"
	        "e9d1"}};
	unsigned char d[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sha256(cases[i].msg, strlen(cases[i].msg), d);
		hex_of(d, SHA256_LEN, hex);
		ck_assert_str_eq(hex, cases[i].digest);
	}
}
END_TEST

START_TEST(sha256_of_a_million_a_in_odd_chunks_matches)
{
	static const size_t chunks[] = {1, 63, 64, 65, 127, 1000, 4093};
	unsigned char d[SHA256_LEN], buf[4096];
	char hex[2 * SHA256_LEN + 1];
	struct sha256 s;
	size_t left = 1000000, i = 0, n;

	memset(buf, 'a', sizeof buf);
	sha256_init(&s);
	while (left > 0) {
		n = chunks[i++ % (sizeof chunks / sizeof chunks[0])];
		n = n < left ? n : left;
		sha256_update(&s, buf, n);
		left -= n;
	}
	sha256_final(&s, d);
	hex_of(d, SHA256_LEN, hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a49720"
	                      "0e046d39ccc7112cd0");
}
END_TEST

START_TEST(sha256_split_point_does_not_change_the_digest)
{
	unsigned char data[200], one[SHA256_LEN], two[SHA256_LEN];
	struct sha256 s;
	size_t len, cut, i;

	for (i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	/* every length around the 55/56/64-byte padding edges */
	for (len = 0; len <= sizeof data; len++) {
		sha256(data, len, one);
		for (cut = 0; cut <= len; cut += 13) {
			sha256_init(&s);
			sha256_update(&s, data, cut);
			sha256_update(&s, data + cut, len - cut);
			sha256_final(&s, two);
			ck_assert_msg(memcmp(one, two, SHA256_LEN) == 0,
			    "len %zu cut %zu", len, cut);
		}
	}
}
END_TEST

START_TEST(hex_round_trips_and_shortens_for_messages)
{
	unsigned char b[4];
	char buf[16];

	ck_assert_int_eq(manifest_unhex("00fFa5", 3, b), 0);
	ck_assert_mem_eq(b, "\x00\xff\xa5", 3);
	ck_assert_int_eq(manifest_unhex("0g", 1, b), -EBADMSG);
	ck_assert_str_eq(manifest_hex("\x01\xab", 2, buf, sizeof buf), "01ab");
	ck_assert_str_eq(
	    manifest_hex("0123456789", 10, buf, sizeof buf), "303132333435...");
	ck_assert_str_eq(manifest_hex("", 0, buf, sizeof buf), "");
}
END_TEST

/* A minimal manifest with one item; body replaces its items line. */
static const char json_manifest_head[] =
    "{\"format\":\"blt-fixture-manifest/1\",\"file\":\"t.blt\","
    "\"n_keys\":%d,\"variable_or_fixed\":\"variable\",\"value_len\":null,"
    "\"key_serializer\":\"str\",\"key_serializer_code\":2,"
    "\"value_serializer\":null,\"value_serializer_code\":1,"
    "\"timestamps\":true,\"metadata\":{\"k\":[1]},"
    "\"reserved\":{\"1\":\"00ff\",\"2\":null},"
    "\"layout\":{\"format_version\":5,\"n_buckets\":12007,"
    "\"header_n_keys\":1,\"index_offset\":200,\"index_offset_raw\":0,"
    "\"first_data_block_pos\":72242,\"first_data_block_pos_raw\":0,"
    "\"file_size\":72300,\"file_timestamp_us\":1,"
    "\"uuid\":\"000102030405060708090a0b0c0d0e0f\"},\"items\":[%s]}";

/* sha256("abc") */
#define JSON_ABC_SHA                                                           \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* Write a manifest with n_keys and items into a temp file, load it, and
 * remove the file before returning what manifest_load() did. */
static int
json_load_manifest(int n_keys, const char *items, struct manifest **out)
{
	char path[] = "/tmp/check_json.XXXXXX";
	FILE *f;
	int fd, rc;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fprintf(f, json_manifest_head, n_keys, items);
	ck_assert_int_eq(fclose(f), 0);
	rc = manifest_load(path, out);
	unlink(path);
	return rc;
}

START_TEST(manifest_loads_fields_and_sorts_items_by_key_bytes)
{
	struct manifest *m;
	const struct manifest_item *it;
	int rc;

	rc = json_load_manifest(3,
	    "{\"key_hex\":\"62\",\"value_hex\":\"616263\",\"value_len\":3,"
	    "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":5},"
	    "{\"key_hex\":\"\",\"value_hex\":\"616263\",\"value_len\":3,"
	    "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":0},"
	    "{\"key_hex\":\"6100\",\"value_hex\":null,\"value_len\":5000,"
	    "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":"
	    "72057594037927935}",
	    &m);
	ck_assert_msg(rc == 0, "%s", blt_errmsg());
	ck_assert_str_eq(m->file, "t.blt");
	ck_assert_int_eq(m->timestamps, 1);
	ck_assert_int_eq(m->fixed, 0);
	ck_assert_uint_eq(m->key_serializer_code, 2);
	ck_assert_ptr_null(m->value_serializer);
	ck_assert_ptr_nonnull(m->metadata);
	ck_assert_int_eq(m->reserved_set[0], 1);
	ck_assert_int_eq(m->reserved_set[1], 0);
	ck_assert_uint_eq(m->reserved_len[0], 2);
	ck_assert_mem_eq(m->reserved[0], "\x00\xff", 2);
	ck_assert_uint_eq(m->layout.first_data, 72242);
	ck_assert_int_eq(m->layout.uuid[15], 15);
	ck_assert_uint_eq(m->n_items, 3);
	ck_assert_uint_eq(m->items[0].klen, 0);
	ck_assert_mem_eq(m->items[1].key, "a\0", 2);
	ck_assert_ptr_null(m->items[1].value);
	ck_assert_int_eq(m->items[1].timestamp, INT64_C(72057594037927935));
	ck_assert_mem_eq(m->items[2].key, "b", 1);
	ck_assert_ptr_nonnull(it = manifest_find(m, "", 0));
	ck_assert_int_eq(it->timestamp, 0);
	ck_assert_ptr_nonnull(it = manifest_find(m, "a\0", 2));
	ck_assert_uint_eq(it->value_len, 5000);
	ck_assert_ptr_null(manifest_find(m, "a", 1));
	ck_assert_ptr_null(manifest_find(m, "c", 1));
	manifest_free(m);
}
END_TEST

START_TEST(manifest_inconsistent_with_itself_is_ebadmsg)
{
	static const struct {
		int n_keys;
		const char *items;
		const char *says;
	} cases[] = {
	    {2,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "n_keys is 2"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616264\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "items[0].value_sha256"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":4,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "items[0].value_hex holds 3"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":null,\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "value_hex should be given"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":null}",
	        "timestamp_us is null"},
	    {1,
	        "{\"key_hex\":\"6\",\"value_hex\":\"616263\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "items[0].key_hex has an odd"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1.5}",
	        "timestamp_us is 1.5"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":-3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "value_len is -3"},
	    {1,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\","
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1}",
	        "items[0].value_len missing"},
	    {1,
	        "{\"key_hex\":\"61\",\"key_text\":\"b\",\"value_hex\":"
	        "\"616263\",\"value_len\":3,\"value_sha256\":\"" JSON_ABC_SHA
	        "\",\"timestamp_us\":1}",
	        "key_text differs"},
	    {2,
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":1},"
	        "{\"key_hex\":\"61\",\"value_hex\":\"616263\",\"value_len\":3,"
	        "\"value_sha256\":\"" JSON_ABC_SHA "\",\"timestamp_us\":2}",
	        "listed twice"},
	    {1, "7", "items[0] is a number"},
	};
	struct manifest *m;
	size_t i;
	int rc;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rc = json_load_manifest(cases[i].n_keys, cases[i].items, &m);
		ck_assert_msg(rc == -EBADMSG, "case %zu gave %d", i, rc);
		ck_assert_ptr_null(m);
		ck_assert_msg(strstr(blt_errmsg(), cases[i].says) != NULL,
		    "case %zu: \"%s\" does not say \"%s\"", i, blt_errmsg(),
		    cases[i].says);
		ck_assert_msg(strstr(blt_errmsg(), "/tmp/check_json.") != NULL,
		    "case %zu: message without the path: %s", i, blt_errmsg());
	}
}
END_TEST

START_TEST(manifest_missing_file_is_enoent)
{
	struct manifest *m;

	ck_assert_int_eq(manifest_load("/nonexistent/x.json", &m), -ENOENT);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(blt_errmsg(), "/nonexistent/x.json") != NULL, "%s",
	    blt_errmsg());
}
END_TEST

static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");

	tcase_add_test(tc, json_scalars_parse_to_their_types);
	tcase_add_test(tc, json_numbers_keep_their_text);
	tcase_add_test(tc, json_string_escapes_decode_to_utf8);
	tcase_add_test(tc, json_malformed_text_is_ebadmsg);
	tcase_add_test(tc, json_text_is_bounded_by_len_not_nul);
	tcase_add_test(tc, json_lone_surrogate_needs_the_flag);
	tcase_add_test(tc, json_writers_escape_what_cannot_be_seen);
	tcase_add_test(tc, json_error_names_line_and_column);
	tcase_add_test(tc, json_error_in_a_line_names_the_column_alone);
	tcase_add_test(tc, json_nesting_is_limited);
	tcase_add_test(tc, json_python_words_need_the_flag);
	tcase_add_test(tc, json_error_at_places_a_value_by_its_offset);
	tcase_add_test(tc, json_get_finds_the_last_of_a_repeated_member);
	tcase_add_test(tc, json_same_ignores_member_order_and_spacing);
	tcase_add_test(tc, json_same_compares_numbers_as_text_or_double);
	tcase_add_test(tc, json_same_names_the_first_difference);
	suite_add_tcase(s, tc);

	tc = tcase_create("sha256");
	tcase_add_test(tc, sha256_matches_fips_180_examples);
	tcase_add_test(tc, sha256_of_a_million_a_in_odd_chunks_matches);
	tcase_add_test(tc, sha256_split_point_does_not_change_the_digest);
	suite_add_tcase(s, tc);

	tc = tcase_create("manifest");
	tcase_add_test(tc, hex_round_trips_and_shortens_for_messages);
	tcase_add_test(tc, manifest_loads_fields_and_sorts_items_by_key_bytes);
	tcase_add_test(tc, manifest_inconsistent_with_itself_is_ebadmsg);
	tcase_add_test(tc, manifest_missing_file_is_enoent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
