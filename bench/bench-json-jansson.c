/*
 * bench-json-jansson.c: bench_json's runs of jansson (see bench_json.c).
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench-json.h"

/* The same with jansson. */
double
bench_json_jansson(const char *buf, const size_t *offs, size_t n)
{
	double t0 = bench_now();
	size_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		json_error_t err;
		json_t *v = json_loadb(
		    buf + offs[i], offs[i + 1] - offs[i], JSON_ALLOW_NUL, &err);

		if (v == NULL)
			exit(3);
		sum += json_string_length(json_object_get(v, "value_hex")) +
		       json_string_length(json_object_get(v, "key"));
		json_decref(v);
	}
	if (sum == 0)
		exit(3);
	return bench_now() - t0;
}

const char *
bench_json_jansson_refusal(const char *line)
{
	static char why[JSON_ERROR_TEXT_LENGTH + 16];
	json_error_t err;
	json_t *j = json_loadb(line, strlen(line), JSON_ALLOW_NUL, &err);

	if (j != NULL) {
		json_decref(j);
		return "reads it";
	}
	snprintf(why, sizeof why, "refuses it (%s)", err.text);
	return why;
}
