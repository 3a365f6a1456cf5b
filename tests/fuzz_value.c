/*
 * fuzz_value.c: the libFuzzer target of libbltvalue's msgpack, zstd, json
 * and text paths.  The first byte of an input picks the path, the rest is
 * the input:
 *   0  msgpack bytes          2  json/orjson bytes
 *   1  zstd frames (msgpack_zstd, then zstd)   3  our text (JSON form)
 * Besides "no crash, no hang, no leak" (the sanitizers' part) it holds the
 * library to its claims, aborting when it does not: blt_value_decode()
 * returns 0 or BLT_VALUE_NOT_DECODABLE (-ENOMEM aside); what it shows
 * encodes back; and a msgpack value that decodes re-encodes to bytes that
 * decode to the same text.  FUZZ_VALUE_ONLY=N in the environment keeps
 * the fuzzer on path N (make fuzz-value FUZZ_VALUE_ONLY=1 gives zstd its
 * own run).  tests/fuzz_replay.c calls
 * LLVMFuzzerTestOneInput() over tests/fuzz-corpus-value in make check.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bltvalue.h"
#include "booklet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_claim(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_value: %s (%s)\n", what, blt_errmsg());
		abort();
	}
}

/* Decode p with code, encode what is shown back, and decode that again:
 * the same text both times. */
static void
fuzz_round(unsigned code, const uint8_t *p, size_t n)
{
	/* orjson writes NaN and Infinity as null: not the same again. */
	int exact = code != 5;
	struct blt_value_buf text = {0}, bytes = {0}, again = {0};
	int rc;

	rc = blt_value_decode(code, p, n, BLT_VALUE_JSON, &text);
	if (rc == -ENOMEM)
		goto out;
	fuzz_claim(rc == 0 || rc == BLT_VALUE_NOT_DECODABLE, "decode's return");
	rc =
	    blt_value_encode(code, text.data, text.len, BLT_VALUE_JSON, &bytes);
	if (rc == -ENOMEM)
		goto out;
	fuzz_claim(rc == 0, "what decode shows encodes");
	rc = blt_value_decode(
	    code, bytes.data, bytes.len, BLT_VALUE_JSON, &again);
	if (rc == -ENOMEM)
		goto out;
	fuzz_claim(rc == 0 || rc == BLT_VALUE_NOT_DECODABLE, "decode's return");
	fuzz_claim(!exact || (again.len == text.len &&
	                         (text.len == 0 ||
	                             !memcmp(again.data, text.data, text.len))),
	    "decode, encode, decode shows the same");
out:
	blt_value_buf_free(&text);
	blt_value_buf_free(&bytes);
	blt_value_buf_free(&again);
}

/* libbltvalue's cap on what a zstd frame may decompress to (value-zstd.c),
 * lowered as check_value does: a bomb then costs the fuzzer a megabyte,
 * not a gigabyte and seconds per input. */
extern size_t value_zstd_max;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int only = -1;
	struct blt_value_buf out = {0};
	const char *env;
	int path;

	if (only == -1)
		only = (env = getenv("FUZZ_VALUE_ONLY")) != NULL && *env
		           ? atoi(env) & 3
		           : 4;
	value_zstd_max = 1 << 20;
	if (size == 0)
		return 0;
	path = only < 4 ? only : data[0] & 3;
	switch (path) {
	case 0:
		fuzz_round(30, data + 1, size - 1);
		break;
	case 1:
		fuzz_round(31, data + 1, size - 1);
		fuzz_round(27, data + 1, size - 1);
		break;
	case 2:
		fuzz_round(4, data + 1, size - 1);
		fuzz_round(5, data + 1, size - 1);
		break;
	case 3:
		/* Any text: refused with -EINVAL, or bytes that decode. */
		for (unsigned code = 3; code <= 5; code++) {
			int rc = blt_value_encode(code == 3 ? 30 : code,
			    data + 1, size - 1, BLT_VALUE_JSON, &out);

			fuzz_claim(rc == 0 || rc == -EINVAL || rc == -ENOMEM,
			    "encode's return");
		}
		break;
	}
	blt_value_buf_free(&out);
	return 0;
}
