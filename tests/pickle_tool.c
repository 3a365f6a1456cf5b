/*
 * pickle_tool: the pickle codec from the shell, for value-pickle-ref.sh.
 *   pickle_tool decode < pickle   the tagged tree as JSON text on stdout;
 *                                 exit 3 and "not decodable: why" if it is not
 *   pickle_tool encode < json     the protocol 5 pickle on stdout; exit 1
 *                                 and the message on stderr if it fails
 * JSON text is written with value_emit() (shortest round-trip floats, lone
 * surrogates as \udXXX escapes, which jansson's writer refuses) and read
 * with value_parse(), which, unlike jansson, takes NUL in object keys.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "value-int.h"

static unsigned char *
tool_slurp(size_t *n)
{
	size_t cap = 1 << 16;
	unsigned char *b = malloc(cap), *nb;
	size_t got;

	*n = 0;
	while (b && (got = fread(b + *n, 1, cap - *n, stdin)) > 0) {
		*n += got;
		if (*n == cap) {
			if ((nb = realloc(b, cap * 2)) == NULL) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
	}
	return b;
}

int
main(int argc, char **argv)
{
	struct blt_value_buf out = {0};
	unsigned char *in;
	char why[512];
	json_t *t;
	size_t n;
	int rc;

	if (argc != 2 ||
	    (strcmp(argv[1], "decode") && strcmp(argv[1], "encode"))) {
		fprintf(stderr, "usage: pickle_tool decode|encode\n");
		return 2;
	}
	if ((in = tool_slurp(&n)) == NULL) {
		fprintf(stderr, "pickle_tool: out of memory\n");
		return 2;
	}
	if (strcmp(argv[1], "decode") == 0) {
		rc = value_pickle_decode(in, n, &t, why, sizeof why);
		free(in);
		if (rc == BLT_VALUE_NOT_DECODABLE) {
			printf("not decodable: %s\n", why);
			return 3;
		}
		if (rc < 0) {
			fprintf(stderr, "pickle_tool: %s\n", strerror(-rc));
			return 2;
		}
		rc = value_emit(t, &value_style_text, &out);
		json_decref(t);
		if (rc < 0) {
			blt_value_buf_free(&out);
			return 2;
		}
		fwrite(out.data, 1, out.len, stdout);
		putchar('\n');
		blt_value_buf_free(&out);
		return 0;
	}
	rc = value_parse((const char *)in, n, VALUE_PARSE_TAGGED, &t);
	free(in);
	if (rc < 0) {
		fprintf(stderr, "pickle_tool: %s\n", blt_errmsg());
		return 2;
	}
	rc = value_pickle_encode(t, &out);
	json_decref(t);
	if (rc < 0) {
		fprintf(stderr, "pickle_tool: %s\n", blt_errmsg());
		blt_value_buf_free(&out);
		return 1;
	}
	fwrite(out.data, 1, out.len, stdout);
	blt_value_buf_free(&out);
	return 0;
}
