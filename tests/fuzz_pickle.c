/*
 * fuzz_pickle.c: the libFuzzer target of the pickle codec (value-pickle-*.c).
 * Each input is a pickle.  Besides "no crash, no hang, no leak" (the
 * sanitizers' part) it holds the codec to its claims, aborting when it
 * does not:
 *   - decoding returns 0 with a tree, or BLT_VALUE_NOT_DECODABLE with a
 *     reason, or -ENOMEM; nothing else;
 *   - a decoded tree always encodes, and the encoding decodes to an equal
 *     tree; its text (value_emit(), lone surrogates included) parses back
 *     to a tree with the same text (so what a mount shows can be written
 *     back unchanged).
 * tests/fuzz_replay.c calls LLVMFuzzerTestOneInput() over the corpus in
 * tests/fuzz-corpus-pickle in make check, with any compiler.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "value-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_claim(int ok, const char *what, const char *why)
{
	if (!ok) {
		fprintf(stderr, "fuzz_pickle: %s (%s)\n", what, why);
		abort();
	}
}

/* Whether a and b have the same text (out of memory counts as the same). */
static int
fuzz_same_text(const json_t *a, const json_t *b)
{
	struct blt_value_buf x = {0}, y = {0};
	int same = 1;

	if (value_emit(a, &value_style_text, &x) == 0 &&
	    value_emit(b, &value_style_text, &y) == 0)
		same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	blt_value_buf_free(&x);
	blt_value_buf_free(&y);
	return same;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blt_value_buf buf = {0};
	json_t *t = NULL, *t2 = NULL;
	char why[512], why2[512];
	int rc;

	/* bombs up to 4 MiB: the cap is tested, in milliseconds */
	value_pickle_weight_floor = (size_t)4 << 20;
	rc = value_pickle_decode(data, size, &t, why, sizeof why);
	if (rc == BLT_VALUE_NOT_DECODABLE || rc == -ENOMEM) {
		fuzz_claim(rc == -ENOMEM || why[0] != '\0',
		    "not decodable without a reason", "");
		fuzz_claim(t == NULL, "a tree with a failure", why);
		return 0;
	}
	fuzz_claim(rc == 0 && t != NULL, "an unknown return code", "");
	rc = value_pickle_encode(t, &buf);
	fuzz_claim(rc == 0 || rc == -ENOMEM, "a decoded tree does not encode",
	    rc ? blt_errmsg() : "");
	if (rc == 0) {
		rc = value_pickle_decode(
		    buf.data, buf.len, &t2, why2, sizeof why2);
		fuzz_claim(rc == 0 || rc == -ENOMEM,
		    "our own pickle is not decodable", why2);
		if (rc == 0) {
			/* json_equal() misses object keys holding a NUL,
			 * json_dumps() refuses lone surrogates: our text */
			fuzz_claim(fuzz_same_text(t, t2),
			    "decode(encode(tree)) differs from tree", "");
		}
	}
	if (rc == 0) {
		struct blt_value_buf x = {0};
		json_t *t3 = NULL;

		rc = value_emit(t, &value_style_text, &x);
		if (rc == 0) {
			rc = value_parse((const char *)x.data, x.len,
			    VALUE_PARSE_TAGGED, &t3);
			fuzz_claim(rc == 0 || rc == -ENOMEM,
			    "the text of a decoded tree does not parse",
			    rc ? blt_errmsg() : "");
			fuzz_claim(rc != 0 || fuzz_same_text(t, t3),
			    "the text of a decoded tree parses differently",
			    "");
		}
		json_decref(t3);
		blt_value_buf_free(&x);
	}
	json_decref(t);
	json_decref(t2);
	blt_value_buf_free(&buf);
	return 0;
}
