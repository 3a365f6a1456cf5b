/*
 * value-read.c's door: the text reader of libbltvalue, which parses with
 * libbltutil's json_parse() and builds jansson's tree through the
 * value_tree_* functions of value-text.c.  jansson's names (JSON_NULL,
 * JSON_OBJECT ...) are also bltutil.h's, so no file can include both:
 * this header names jansson's tree only as an incomplete struct json_t,
 * and value-read.c includes it and bltutil.h, never jansson.h or
 * value-int.h (which includes this one).
 */
#ifndef VALUE_READ_H
#define VALUE_READ_H

#include <stddef.h>

struct json_t; /* jansson's json_t */

/* Nesting deeper than this is refused by every parser and decoder, so that
 * hostile input cannot exhaust the stack. */
#define VALUE_DEPTH_MAX 1000

/* value_parse() modes. */
#define VALUE_PARSE_TAGGED 0x1 /* text we wrote: tags mean their values */
#define VALUE_PARSE_DATA 0x2   /* stored JSON: every object is a dict */

/* value-read.c: parse len bytes of JSON text into *out.  Both modes read
 * Python's NaN, Infinity and -Infinity as {"$float": ...} and integers
 * beyond int64 as {"$int": ...}.  VALUE_PARSE_TAGGED checks and normalizes
 * the tags; VALUE_PARSE_DATA wraps an object with one member named "$..."
 * as {"$dict": [[name, value]]}.  0, -EINVAL (blt_errmsg() says what and
 * where: "line L column C: why (at 'c')") or -ENOMEM. */
int value_parse(const char *text, size_t len, int mode, struct json_t **out);

/*
 * value-text.c: the nodes of the tree, for value-read.c.  Each maker
 * returns a new node, NULL when out of memory; the adders take the kid
 * (freed on failure too) and return 0 or -ENOMEM.
 */

/* null, true or false: word is 'n', 't' or 'f'. */
struct json_t *value_tree_word(int word);
/* A string of n bytes (UTF-8, lone surrogates in their 3-byte form). */
struct json_t *value_tree_string(const char *s, size_t n);
/* The number whose JSON text (or NaN, Infinity, -Infinity) is the len
 * bytes at text, and num its value as strtod() reads it: an integer
 * (an {"$int": ...} beyond int64), a real, or {"$float": ...}. */
struct json_t *value_tree_number(const char *text, size_t len, double num);
struct json_t *value_tree_array(void);
int value_tree_append(struct json_t *a, struct json_t *v);
struct json_t *value_tree_object(void);
/* Set member k (klen bytes) of o to v; the last of a repeated name wins,
 * at the place of the first, as in a Python dict. */
int value_tree_set(
    struct json_t *o, const char *k, size_t klen, struct json_t *v);
/* The object *o is complete: read it as value_parse()'s mode says and
 * replace it with what it stands for (a tag checked, a small $int made the
 * integer, a dict that looks like a tag wrapped in $dict).  depth is its
 * nesting, 1 for the whole value.  0, -ENOMEM, or -EINVAL with *why the
 * fault of the tag; *o stays the caller's to free on failure. */
int value_tree_object_done(
    struct json_t **o, int mode, int depth, const char **why);
/* Drop a tree; safe on NULL. */
void value_tree_free(struct json_t *t);

#endif
