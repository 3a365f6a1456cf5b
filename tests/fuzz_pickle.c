/*
 * fuzz_pickle.c: the libFuzzer target of the pickle codec (value-pickle-*.c).
 * Each input is a pickle.  Besides "no crash, no hang, no leak" (the
 * sanitizers' part) it holds the codec to its claims, aborting when it
 * does not:
 *   - decoding returns 0 with a tree, or BLT_VALUE_NOT_DECODABLE with a
 *     reason, or -ENOMEM; nothing else;
 *   - a decoded tree always encodes, and the encoding decodes to an equal
 *     tree (so what a mount shows can be written back unchanged).
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blt_value_buf buf = {0};
	json_t *t = NULL, *t2 = NULL;
	char why[512], why2[512];
	int rc;

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
			/* json_equal() misses object keys holding a NUL */
			char *x = json_dumps(t, JSON_ENCODE_ANY);
			char *y = json_dumps(t2, JSON_ENCODE_ANY);

			fuzz_claim(x == NULL || y == NULL || strcmp(x, y) == 0,
			    "decode(encode(tree)) differs from tree", "");
			free(x);
			free(y);
		}
	}
	json_decref(t);
	json_decref(t2);
	blt_value_buf_free(&buf);
	return 0;
}
