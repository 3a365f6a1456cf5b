/*
 * The text reader: libbltutil's json_parse() with JSON_PYTHON (NaN,
 * Infinity, -Infinity, nesting to VALUE_DEPTH_MAX) and JSON_SURROGATES
 * (lone surrogate escapes kept, as Python keeps them), then its tree turned
 * into jansson's through value-text.c's value_tree_* functions, which also
 * read the tags.  Numbers reach us as text, so integers of any size
 * survive.  This file sees bltutil.h and not jansson.h, whose names clash
 * with it (value-read.h).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "bltutil.h"
#include "value-read.h"

/* json_parse() refuses what every codec refuses, and the walk below
 * recurses no deeper than it read. */
_Static_assert(VALUE_DEPTH_MAX == JSON_PYTHON_DEPTH,
    "JSON_PYTHON nesting must be VALUE_DEPTH_MAX");

#define VALUE_READ_FLAGS (JSON_PYTHON | JSON_SURROGATES)

struct value_read {
	const char *text;
	size_t len;
	int mode;
};

static int
value_read_nomem(void)
{
	return blt_errmsg_set(-ENOMEM, "out of memory");
}

/* The node for v (at nesting depth, 1 for the whole value) into *out. */
static int
value_read_node(const struct value_read *rd, const struct json *v, int depth,
    struct json_t **out)
{
	struct json_t *t = NULL, *k;
	const char *why = NULL;
	size_t i;
	int rc;

	switch (v->type) {
	case JSON_NULL:
		t = value_tree_word('n');
		break;
	case JSON_FALSE:
		t = value_tree_word('f');
		break;
	case JSON_TRUE:
		t = value_tree_word('t');
		break;
	case JSON_NUMBER:
		t = value_tree_number(v->str, v->len, v->num);
		break;
	case JSON_STRING:
		t = value_tree_string(v->str, v->len);
		break;
	case JSON_ARRAY:
		if ((t = value_tree_array()) == NULL)
			return value_read_nomem();
		for (i = 0; i < v->n; i++)
			if ((rc = value_read_node(
			         rd, &v->kids[i], depth + 1, &k)) < 0 ||
			    (rc = value_tree_append(t, k)) < 0)
				goto fail;
		break;
	case JSON_OBJECT:
		if ((t = value_tree_object()) == NULL)
			return value_read_nomem();
		for (i = 0; i < v->n; i++)
			if ((rc = value_read_node(
			         rd, &v->kids[i], depth + 1, &k)) < 0 ||
			    (rc = value_tree_set(
			         t, v->kids[i].key, v->kids[i].klen, k)) < 0)
				goto fail;
		if ((rc = value_tree_object_done(&t, rd->mode, depth, &why)) <
		    0) {
			/* A bad tag, placed at its opening brace. */
			if (rc == -EINVAL)
				json_error_at(rd->text, rd->len, v->off,
				    VALUE_READ_FLAGS, why);
			goto fail;
		}
		break;
	}
	if (t == NULL)
		return value_read_nomem();
	*out = t;
	return 0;
fail:
	value_tree_free(t);
	return rc == -ENOMEM ? value_read_nomem() : rc;
}

int
value_parse(const char *text, size_t len, int mode, struct json_t **out)
{
	struct value_read rd = {text, len, mode};
	struct json *v;
	int rc;

	*out = NULL;
	if ((rc = json_parse(text, len, VALUE_READ_FLAGS, &v)) < 0)
		return rc == -EBADMSG ? -EINVAL : rc;
	rc = value_read_node(&rd, v, 1, out);
	json_free(v);
	return rc;
}
