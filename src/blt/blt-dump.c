/*
 * blt dump and blt load: one JSON object per item and line, the format
 * doc/blt.1 describes.  dump writes "key" (when it is UTF-8), "key_hex",
 * "value_hex" and "timestamp"; load reads those back, and "value" text and
 * ISO-8601 timestamps for hand-written input, and skips other fields.
 * Hex is decoded in place in the parsed line, so a large value costs no
 * extra copy.  With dump --decode, "value" is the value as data, a JSON
 * value (bltvalue.h's JSON form) instead of "value_hex"; load --encode
 * reads such a "value" back through the store's value serializer.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "booklet.h"
#include "bltvalue.h"
#include "blt.h"
#include "bltutil.h"

/* One line of input; the bytes point into its parsed tree. */
struct cli_record {
	unsigned char *key;
	size_t klen;
	int have_key;
	unsigned char *text; /* "key" */
	size_t tlen;
	int have_text;
	unsigned char *value;
	size_t vlen;
	int have_value;
	struct json *data; /* "value" under --encode: the value as data */
	int64_t ts;
	int have_ts;
};

int
cli_dump_line(FILE *f, const struct cli *c, const struct blt_item *item,
    struct blt_value_buf *dec)
{
	int rc;

	fputs("{\"key\": ", f);
	if (json_utf8_valid(item->key, item->klen))
		json_put_str(f, item->key, item->klen);
	else
		fputs("null", f);
	fputs(", \"key_hex\": \"", f);
	json_put_hex(f, item->key, item->klen);
	if (c->decode) {
		/* A value that is not decodable comes out in its
		 * not-decodable form, which load --encode takes back:
		 * nothing is lost. */
		rc = blt_value_decode(c->st.value_serializer, item->value,
		    item->vlen, BLT_VALUE_JSON, dec);
		if (rc < 0)
			return rc;
		fputs("\", \"value\": ", f);
		fwrite(dec->data, 1, dec->len, f);
	} else {
		fputs("\", \"value_hex\": \"", f);
		json_put_hex(f, item->value, item->vlen);
		fputc('"', f);
	}
	if (item->timestamp == BLT_NO_TS)
		fputs(", \"timestamp\": null}\n", f);
	else
		fprintf(f, ", \"timestamp\": %" PRId64 "}\n", item->timestamp);
	return 0;
}

/* blt dump: every item as one JSON object per line. */
int
cli_dump(struct cli *c)
{
	struct blt_value_buf dec = {0};
	struct progress progress;
	struct blt_iter *it;
	struct blt_item item;
	uint64_t n = 0, total;
	int rc;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK ||
	    (c->decode && (rc = cli_info(c)) != CLI_OK))
		return rc;
	if ((rc = blt_iter_create(c->db, &it)) < 0)
		return cli_fail(c->store, rc);
	/* on a terminal, unless the lines go to the same one */
	progress_start(&progress, "dump", "items");
	progress.on = progress.on && !isatty(1);
	total = (uint64_t)blt_count(c->db);
	/* Decoding is most of the work: spread it over threads. */
	if (c->decode && cli_dump_threads_wanted(c) > 1)
		rc = cli_dump_threads(c, it, &progress, total);
	else
		while ((rc = blt_iter_next(it, &item)) > 0 &&
		       (rc = cli_dump_line(stdout, c, &item, &dec)) == 0 &&
		       !ferror(stdout))
			if (++n % 1024 == 0)
				progress_show(&progress, n, total);
	blt_iter_free(it);
	blt_value_buf_free(&dec);
	if (rc >= 0)
		progress_show(&progress, total, total);
	progress_end(&progress);
	if (rc < 0)
		return cli_fail(c->store, rc);
	return cli_flush_stdout();
}

int
cli_buf_put(struct blt_value_buf *b, const void *p, size_t n)
{
	unsigned char *d;
	size_t cap;

	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int
cli_buf_puts(struct blt_value_buf *b, const char *s)
{
	return cli_buf_put(b, s, strlen(s));
}

/* 1 if member v is named name (names may hold NUL bytes). */
static int
cli_record_is(const struct json *v, const char *name)
{
	return v->klen == strlen(name) && memcmp(v->key, name, v->klen) == 0;
}

/* The string v as bytes; NULL, or why not. */
static const char *
cli_record_str(struct json *v, unsigned char **out, size_t *len)
{
	if (v->type != JSON_STRING)
		return "expected a string";
	*out = (unsigned char *)v->str;
	*len = v->len;
	return NULL;
}

/* The hex string v decoded in place; NULL, or why not. */
static const char *
cli_record_hex(struct json *v, unsigned char **out, size_t *len)
{
	ssize_t r;

	if (v->type != JSON_STRING)
		return "expected a string";
	if ((r = json_unhex(v->str, v->len, (unsigned char *)v->str)) < 0)
		return "bad hex digits";
	*out = (unsigned char *)v->str;
	*len = (size_t)r;
	return NULL;
}

/* A timestamp: null, microseconds, or TIME as a string. */
static const char *
cli_record_ts(const struct json *v, struct cli_record *r)
{
	if (v->type == JSON_NULL)
		return NULL;
	r->have_ts = 1;
	if (v->type == JSON_STRING) {
		if (strlen(v->str) != v->len)
			return "bad timestamp";
		return timearg_parse(v->str, 0, &r->ts);
	}
	if (json_int(v, 0, BLT_TS_MAX, &r->ts, NULL) < 0)
		return "timestamp is not a whole number of microseconds in "
		       "range";
	return NULL;
}

/* Read the fields of one line of dump output into r; NULL, or why not. */
static const char *
cli_record_read(struct json *obj, struct cli_record *r, int encode)
{
	const char *why = NULL;
	struct json *v;
	size_t i;

	memset(r, 0, sizeof *r);
	if (obj->type != JSON_OBJECT)
		return "expected a JSON object";
	for (i = 0; i < obj->n && why == NULL; i++) {
		v = &obj->kids[i];
		if (cli_record_is(v, "key")) {
			/* null says nothing beyond key_hex. */
			if (r->have_text++)
				return "duplicate field";
			if (v->type != JSON_NULL)
				why = cli_record_str(v, &r->text, &r->tlen);
			/* --encode reads lone surrogates, which are for
			 * values (JSON_SURROGATES); without, there are none */
			if (encode && why == NULL && r->text != NULL &&
			    !json_utf8_valid(r->text, r->tlen))
				why = "key: a lone surrogate, which no "
				      "key holds";
		} else if (cli_record_is(v, "key_hex")) {
			if (r->have_key++)
				return "duplicate field";
			why = cli_record_hex(v, &r->key, &r->klen);
		} else if (cli_record_is(v, "value_hex")) {
			if (r->have_value++)
				return "duplicate value";
			why = cli_record_hex(v, &r->value, &r->vlen);
		} else if (cli_record_is(v, "value")) {
			if (r->have_value++)
				return "duplicate value";
			if (encode)
				r->data = v;
			else
				why = cli_record_str(v, &r->value, &r->vlen);
		} else if (cli_record_is(v, "timestamp")) {
			if (r->have_ts)
				return "duplicate field";
			why = cli_record_ts(v, r);
		}
	}
	if (why != NULL)
		return why;
	if (r->have_key) {
		if (r->text != NULL &&
		    (r->tlen != r->klen || memcmp(r->text, r->key, r->klen)))
			return "key and key_hex differ";
	} else if (r->text != NULL) {
		r->key = r->text;
		r->klen = r->tlen;
	} else
		return "no key or key_hex";
	if (!r->have_value)
		return "no value_hex";
	return NULL;
}

/* The code point of the lone surrogate at p, in the 3-byte form that
 * JSON_SURROGATES keeps one in (ED A0..BF 80..BF). */
static unsigned
cli_surrogate(const unsigned char *p)
{
	return 0xd000u | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
}

/* Append v to b as JSON text, the way it was written as far as the value
 * goes: numbers keep their text (big integers too). */
static int
cli_json_text(const struct json *v, struct blt_value_buf *b, int depth)
{
	struct blt_value_buf *o = b;
	char esc[8];
	size_t i;

	if (depth > 10000)
		return -EINVAL;
	switch (v->type) {
	case JSON_NULL:
		return cli_buf_puts(o, "null");
	case JSON_FALSE:
		return cli_buf_puts(o, "false");
	case JSON_TRUE:
		return cli_buf_puts(o, "true");
	case JSON_NUMBER:
		return cli_buf_put(o, v->str, v->len);
	case JSON_STRING:
		if (cli_buf_puts(o, "\"") < 0)
			return -ENOMEM;
		for (i = 0; i < v->len; i++) {
			unsigned char ch = (unsigned char)v->str[i];

			if (ch < 0x20 || ch == '"' || ch == '\\') {
				snprintf(esc, sizeof esc, "\\u%04x", ch);
				if (cli_buf_puts(o, esc) < 0)
					return -ENOMEM;
			} else if (ch == 0xed && i + 2 < v->len &&
			           (unsigned char)v->str[i + 1] >= 0xa0) {
				/* a lone surrogate, as JSON_SURROGATES keeps
				 * it: its escape again */
				snprintf(esc, sizeof esc, "\\u%04x",
				    cli_surrogate((unsigned char *)v->str + i));
				if (cli_buf_puts(o, esc) < 0)
					return -ENOMEM;
				i += 2;
			} else if (cli_buf_put(o, &v->str[i], 1) < 0)
				return -ENOMEM;
		}
		return cli_buf_puts(o, "\"");
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (cli_buf_puts(o, v->type == JSON_ARRAY ? "[" : "{") < 0)
			return -ENOMEM;
		for (i = 0; i < v->n; i++) {
			const struct json *k = &v->kids[i];
			struct json name = {
			    .type = JSON_STRING, .str = k->key, .len = k->klen};

			if ((i > 0 && cli_buf_puts(o, ",") < 0) ||
			    (v->type == JSON_OBJECT &&
			        (cli_json_text(&name, o, depth + 1) < 0 ||
			            cli_buf_puts(o, ":") < 0)) ||
			    cli_json_text(k, o, depth + 1) < 0)
				return -ENOMEM;
		}
		return cli_buf_puts(o, v->type == JSON_ARRAY ? "]" : "}");
	}
	return -EINVAL;
}

/* load --encode: the bytes that the store's value serializer makes of
 * "value" v, into enc; NULL, or why not. */
static const char *
cli_record_encode(
    struct cli *c, const struct json *v, struct blt_value_buf *enc)
{
	struct blt_value_buf text = {0};
	int rc;

	if (cli_json_text(v, &text, 0) < 0) {
		blt_value_buf_free(&text);
		return strerror(ENOMEM);
	}
	rc = blt_value_encode(
	    c->st.value_serializer, text.data, text.len, BLT_VALUE_JSON, enc);
	blt_value_buf_free(&text);
	if (rc == -ENOMEM)
		return strerror(ENOMEM);
	if (rc < 0)
		return blt_errmsg();
	return NULL;
}

/* The most bytes a block adds to its key and value (format §5.1). */
#define CLI_BLOCK_HEAD 32

/* How far a load got.  The items put since the last flush are held in
 * the store's write buffer, and a flush that fails (a full disk) loses
 * them all, so load flushes by itself, before the buffer is half full,
 * to know which items a failure took: the store then never flushes
 * them on its own (blt_options.write_buffer). */
struct cli_load {
	const char *name;
	uintmax_t stored; /* items flushed into the file */
	uintmax_t held;   /* items put since then */
	uintmax_t first;  /* the input lines of the first and the last */
	uintmax_t last;
	uint64_t bytes; /* what they take in the buffer, at most */
};

/* Say which lines' items are stored after the reindex that followed them
 * failed (the store's message is out already): those l holds, stored now,
 * and all before them, but none of line stop (0: the end of the input) or
 * after, since the store takes no more writes. */
static void
cli_load_stuck(struct cli_load *l, uintmax_t stop)
{
	l->stored += l->held;
	l->held = 0;
	progress_interrupt();
	fprintf(stderr,
	    "blt: %s:%ju: items up to this line stored (%ju in all), but the "
	    "store's index could not grow after them",
	    l->name, l->last, l->stored);
	if (stop != 0)
		fprintf(stderr, "; items from line %ju on not stored\n", stop);
	else
		fprintf(stderr, "; the input ended there\n");
}

/* Whether more input follows. */
static int
cli_load_more(FILE *in)
{
	int ch = getc(in);

	if (ch == EOF)
		return 0;
	ungetc(ch, in);
	return 1;
}

/* Flush the items l holds: CLI_OK, or 2 after saying that the items of
 * lines l->first to last (the line being stored) were not stored, or, when
 * the flush stored them and the reindex after them failed, that they were
 * and that those of line stop (0: none) and after were not. */
static int
cli_load_flush(
    struct cli *c, struct cli_load *l, uintmax_t last, uintmax_t stop)
{
	int stuck = blt_flags(c->db) & BLT_REINDEX_STUCK;
	int rc;

	if (l->held > 0 && (rc = blt_flush(c->db)) < 0) {
		cli_fail(c->store, rc);
		if (!stuck && (blt_flags(c->db) & BLT_REINDEX_STUCK))
			cli_load_stuck(l, stop);
		else if (l->first == last)
			fprintf(stderr,
			    "blt: %s:%ju: item not stored; items stored "
			    "before it: %ju\n",
			    l->name, last, l->stored);
		else
			fprintf(stderr,
			    "blt: %s:%ju: items of lines %ju to %ju not "
			    "stored; items stored before them: %ju\n",
			    l->name, last, l->first, last, l->stored);
		return CLI_ERROR;
	}
	l->stored += l->held;
	l->held = 0;
	l->bytes = 0;
	return CLI_OK;
}

/* blt load: put the items of dump output (JSON Lines) into the store. */
int
cli_load(struct cli *c)
{
	const char *src = c->nargs > 1 ? c->args[1] : "-";
	struct cli_load l = {
	    strcmp(src, "-") == 0 ? "stdin" : src, 0, 0, 0, 0, 0};
	struct blt_value_buf enc = {0};
	struct cli_record r;
	struct json *obj = NULL;
	const char *why;
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0;
	uintmax_t lineno = 0;
	uint64_t size, input = 0, consumed = 0;
	struct progress progress;
	struct stat st;
	ssize_t len;
	int rc, stopped = 0, stuck;

	if (strcmp(src, "-") != 0 && (in = fopen(src, "re")) == NULL)
		return cli_syserr(src, errno);
	if ((rc = cli_open(c, c->create ? BLT_CREATE : BLT_RDWR)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK)
		goto out;
	/* how far through its input, where the input has a size */
	progress_start(&progress, "load", NULL);
	if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode))
		input = (uint64_t)st.st_size;
	while ((len = getline(&line, &cap, in)) != -1) {
		lineno++;
		consumed += (uint64_t)len;
		if (lineno % 1024 == 0)
			progress_show(&progress, consumed, input);
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		if (line[len - 1] == '\n')
			len--;
		json_free(obj);
		/* with --encode, "value" is read as put --encode and the
		 * decode mount read a value: every line dump --decode
		 * writes loads back */
		rc = json_parse(line, (size_t)len,
		    c->encode ? JSON_LINE | JSON_RECORD | JSON_PYTHON |
		                    JSON_SURROGATES
		              : JSON_LINE,
		    &obj);
		if (rc == -ENOMEM) {
			rc = cli_syserr(l.name, ENOMEM);
			break;
		}
		why =
		    rc < 0 ? blt_errmsg() : cli_record_read(obj, &r, c->encode);
		if (why == NULL && r.data != NULL) {
			why = cli_record_encode(c, r.data, &enc);
			r.value = enc.data;
			r.vlen = enc.len;
		}
		stopped = 1;
		if (why != NULL) {
			progress_interrupt();
			fprintf(
			    stderr, "blt: %s:%ju: %s\n", l.name, lineno, why);
			rc = CLI_ERROR;
			break;
		}
		if ((rc = cli_key_fits(c, r.key, r.klen)) != CLI_OK)
			break;
		size = r.klen + r.vlen + CLI_BLOCK_HEAD;
		if (l.bytes > 0 && l.bytes + size > c->make.write_buffer / 2 &&
		    (rc = cli_load_flush(c, &l, l.last, lineno)) != CLI_OK)
			goto out;
		/* A store without timestamps drops them, as booklet does. */
		stuck = blt_flags(c->db) & BLT_REINDEX_STUCK;
		rc = blt_put(c->db, r.key, r.klen, r.value, r.vlen,
		    r.have_ts && c->st.timestamps ? r.ts : BLT_NOW);
		if (rc < 0) {
			rc = cli_fail(c->store, rc);
			if (stuck || !(blt_flags(c->db) & BLT_REINDEX_STUCK))
				break;
			/* A value too big for the buffer, which the put wrote
			 * itself (nothing was held: see above), and the
			 * reindex after it failed. */
			l.held = 1;
			l.first = l.last = lineno;
			cli_load_stuck(&l, cli_load_more(in) ? lineno + 1 : 0);
			goto out;
		}
		stopped = 0;
		if (l.held++ == 0)
			l.first = lineno;
		l.last = lineno;
		l.bytes += size;
	}
	if (rc == CLI_OK && ferror(in))
		rc = cli_syserr(l.name, EIO);
	if (rc == CLI_OK)
		rc = cli_load_flush(c, &l, l.last, 0);
	if (rc == CLI_OK) {
		progress_show(&progress, consumed, input);
		progress_end(&progress);
	} else if (!stopped) /* out of memory at lineno, or a read error after
	                      */
		cli_load_flush(c, &l, l.last, lineno + (ferror(in) != 0));
	else if (cli_load_flush(c, &l, lineno, lineno) == CLI_OK)
		fprintf(stderr,
		    "blt: %s:%ju: item not stored; items stored before it: "
		    "%ju\n",
		    l.name, lineno, l.stored);
out:
	blt_value_buf_free(&enc);
	json_free(obj);
	free(line);
	if (in != stdin)
		fclose(in);
	return rc;
}
