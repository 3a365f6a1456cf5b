/*
 * TIME arguments of blt and of the mount's control commands: parsing and
 * printing timestamps in microseconds since the epoch (doc/blt.1, TIME).
 * Not part of libbooklet; it uses the public booklet.h only.
 */
#ifndef TIMEARG_H
#define TIMEARG_H

#include <stddef.h>
#include <stdint.h>

/* timearg_parse() flags: also accept an age such as 7d, 12h, 30m, 45s or
 * 2w, meaning that long before now. */
#define TIMEARG_AGE 0x1

/* Parse TIME s: "now", microseconds since the epoch, or ISO-8601 with a
 * UTC offset (Z or +HH:MM), as the Python booklet accepts.  Returns NULL
 * with *out set, or a static message saying what is wrong. */
const char *timearg_parse(const char *s, int flags, int64_t *out);

/* Write ts (microseconds) into buf (size n) as ISO-8601 in UTC, or as the
 * number when the system cannot break it down. */
void timearg_format(int64_t ts, char *buf, size_t n);

/* Parse s, only decimal digits, as a number in [0, max]: 0, or -1. */
int timearg_number(const char *s, uint64_t max, uint64_t *out);

#endif
