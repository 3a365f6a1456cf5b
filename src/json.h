/*
 * JSON for the tools (blt, bltfs ctl, the test suites): a strict reader
 * that builds a tree, and the writers of strings and hex that dump, stat,
 * map and the control files use.  Not part of libbooklet: booklet.h stays
 * the engine's only public header, and nothing here touches a store.
 *
 * The reader follows RFC 8259 strictly (no trailing commas, comments, NaN
 * or invalid UTF-8), decodes escapes, allows NUL inside strings and keeps
 * numbers as text, since timestamps and offsets do not all fit a double.
 * Failures return a negative errno and leave one line, with the line and
 * column of the fault, in json_errmsg(), as the engine does with
 * blt_errmsg().
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

/* One JSON value.  Strings are decoded to UTF-8 (they may hold NUL bytes,
 * hence len; str is NUL-terminated too, and the caller may rewrite its
 * bytes in place).  Numbers keep their source text in str, so 64-bit
 * integers survive, and their value as a double in num.  Arrays and objects
 * hold n kids; an object's kids carry their member name in key/klen, in
 * document order. */
struct json {
	enum json_type type;
	char *key;
	size_t klen;
	char *str;
	size_t len;
	double num;
	struct json *kids;
	size_t n;
};

/* json_parse() flags: keep a lone surrogate escape (which Python's json
 * writes for a string that is not valid Unicode) as its 3-byte form instead
 * of failing. */
#define JSON_SURROGATES 0x1
/* json_parse() flags: the text is one line of a longer text, which the
 * caller names: the message of a failure gives the column alone ("column
 * C: why"). */
#define JSON_LINE 0x2

/* Parse len bytes of JSON text (one value, surrounding white space
 * allowed); the byte after len is never read.  On success the caller owns
 * *out, which holds its own copy of the text; see json_free().  Errors:
 * -EBADMSG (malformed text; the message gives line and column), -ENOMEM. */
int json_parse(const char *text, size_t len, int flags, struct json **out);

/* Free a tree from json_parse(); safe on NULL. */
void json_free(struct json *v);

/* The message of the last json_parse() failure in this thread. */
const char *json_errmsg(void);

/* The member name of object obj, the last one if the name is repeated
 * (NULL if obj is not an object or has no such member); borrowed from
 * obj. */
const struct json *json_get(const struct json *obj, const char *name);

/* 1 if a and b are the same JSON value: objects as sets of members (order
 * ignored, the last of a repeated name counts), numbers equal as text or
 * as doubles.  Otherwise 0, and where (if not NULL) gets a path to the
 * first difference such as "$.nested.list[2]". */
int json_equal(
    const struct json *a, const struct json *b, char *where, size_t wsize);

/* The integer number v in [min, max]: 0 with *sval (if not NULL) and *uval
 * (if not NULL, 0 when negative) set, or -1 when v is not a number, has a
 * fraction or an exponent, or is out of range. */
int json_int(const struct json *v, int64_t min, uint64_t max, int64_t *sval,
    uint64_t *uval);

/* "null", "a boolean", "a number" ... for messages. */
const char *json_type_name(enum json_type t);

/* The length of the valid UTF-8 sequence at p (n bytes available) with its
 * code point in *cp, or 0 for what Python's strict decoder refuses:
 * overlong forms, surrogates, code points above U+10FFFF. */
size_t json_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/* Encode code point c as UTF-8 at out (room for 4); returns the length.
 * Surrogates come out in their 3-byte forms. */
size_t json_utf8_encode(uint32_t c, unsigned char *out);

/* 1 for characters a terminal would act on or hide: controls and the
 * invisible format characters (bidi overrides, zero widths, BOM). */
int json_invisible(uint32_t c);

#define JSON_ESCAPE_MAX 12 /* bytes of an escape with its NUL */

/* What json_put_escaped() writes instead of the character c (len bytes at
 * p; c is UINT32_MAX for a byte that is not valid UTF-8): an escape in
 * esc, or nothing (esc[0] left 0) to keep the bytes as they are. */
typedef void json_escape_fn(
    const unsigned char *p, size_t len, uint32_t c, char esc[JSON_ESCAPE_MAX]);

/* Write n bytes at p, each character as escape says.  Runs of kept bytes
 * go out in one piece. */
void json_put_escaped(FILE *f, const void *p, size_t n, json_escape_fn *escape);

/* The escapes JSON and blt's key spelling share: backslash, newline, tab
 * and carriage return.  1 if c is one of them (esc filled). */
int json_escape_common(uint32_t c, char esc[JSON_ESCAPE_MAX]);

/* Write n bytes at p as a JSON string with its quotes.  Controls and
 * invisible characters become \u escapes; a byte that is not valid UTF-8
 * becomes U+FFFD, so callers wanting to keep such bytes check with
 * json_utf8_valid() first and write hex instead. */
void json_put_str(FILE *f, const void *p, size_t n);

/* 1 if the n bytes at p are valid UTF-8 as json_utf8_decode() reads it. */
int json_utf8_valid(const void *p, size_t n);

/* Write n bytes at p as lower-case hex digits (no quotes). */
void json_put_hex(FILE *f, const void *p, size_t n);

/* Decode the n hex digits at s into out (which may be s itself); the
 * number of bytes, or -1 for an odd count or a bad digit. */
ssize_t json_unhex(const char *s, size_t n, unsigned char *out);

#endif
