/*
 * bench-json.h: bench_json's jansson half, in its own file because
 * jansson's names (JSON_NULL, JSON_OBJECT ...) are also bltutil.h's.
 */
#ifndef BENCH_JSON_H
#define BENCH_JSON_H

#include <stddef.h>

/* Seconds to parse the n lines of buf (line i at offs[i] up to
 * offs[i + 1]) with jansson, reading the fields blt load uses. */
double bench_json_jansson(const char *buf, const size_t *offs, size_t n);

/* "reads it", or jansson's message for the line it refuses. */
const char *bench_json_jansson_refusal(const char *line);

#endif
