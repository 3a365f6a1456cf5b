/*
 * The commands that work on items one by one or on the whole store:
 * create, put, get, del, ls, stat, check, prune and reindex.  Keys cross
 * the command line in the spellings of blt-keys.c.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "booklet.h"
#include "bltvalue.h"
#include "blt.h"
#include "bltutil.h"

/* Say that what name holds is more than max bytes. */
static int
cli_too_big(const char *name, uint64_t max)
{
	fprintf(stderr,
	    "blt: %s: more than %llu bytes, the most a value can "
	    "hold\n",
	    name, (unsigned long long)max);
	return CLI_ERROR;
}

/* Read all of fd (named name), at most max bytes, into a fresh buffer: a
 * file known to be too big is refused before any of it is read. */
int
cli_slurp(
    int fd, const char *name, uint64_t max, unsigned char **out, size_t *len)
{
	size_t cap = CLI_CHUNK, n = 0;
	unsigned char *buf, *nbuf;
	struct stat sb;
	ssize_t r;

	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if ((uint64_t)sb.st_size > max)
			return cli_too_big(name, max);
		if (sb.st_size > 0 && (uint64_t)sb.st_size < SIZE_MAX / 2)
			cap = (size_t)sb.st_size + 1;
	}
	if ((buf = malloc(cap)) == NULL)
		return cli_syserr(name, ENOMEM);
	for (;;) {
		if (n == cap) {
			if (cap > SIZE_MAX / 2 ||
			    (nbuf = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return cli_syserr(name, ENOMEM);
			}
			buf = nbuf;
			cap *= 2;
		}
		if ((r = read(fd, buf + n, cap - n)) < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return cli_syserr(name, errno);
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			return cli_too_big(name, max);
		}
	}
	*out = buf;
	*len = n;
	return CLI_OK;
}

/* blt create: a new empty store; an existing file needs --force. */
int
cli_create(struct cli *c)
{
	int fd = -1, rc;

	/* Without --force an existing file is left alone: claim the name
	 * first, then let the library write the store into the empty file. */
	if (!c->force) {
		fd = open(
		    c->store, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd == -1 && errno == EEXIST) {
			fprintf(stderr,
			    "blt: %s: already exists (--force empties it)\n",
			    c->store);
			return CLI_ERROR;
		}
		if (fd == -1)
			return cli_syserr(c->store, errno);
		close(fd);
	}
	if ((rc = cli_open(c, BLT_TRUNC)) != CLI_OK && fd != -1)
		unlink(c->store);
	return rc;
}

/* blt put: store a file or standard input under a key. */
int
cli_put(struct cli *c)
{
	const char *src = c->nargs > 2 ? c->args[2] : "-";
	unsigned char *key = NULL, *val = NULL;
	size_t klen, vlen;
	int fd, rc;

	/* Read the value before taking the store's lock. */
	if (strcmp(src, "-") == 0)
		rc = cli_slurp(
		    STDIN_FILENO, "stdin", BLT_VALUE_MAX, &val, &vlen);
	else if ((fd = open(src, O_RDONLY | O_CLOEXEC)) == -1)
		return cli_syserr(src, errno);
	else {
		rc = cli_slurp(fd, src, BLT_VALUE_MAX, &val, &vlen);
		close(fd);
	}
	if (rc != CLI_OK)
		return rc;
	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK ||
	    (rc = cli_key(c, c->args[1], &key, &klen)) != CLI_OK ||
	    (rc = cli_key_fits(c, key, klen)) != CLI_OK)
		goto out;
	if (c->encode) {
		struct blt_value_buf enc = {0};

		if ((rc = cli_info(c)) != CLI_OK)
			goto out;
		if ((rc = blt_value_encode(
		         c->st.value_serializer, val, vlen, 0, &enc)) < 0) {
			fprintf(stderr, "blt: %s: cannot encode as %s: %s\n",
			    src, blt_serializer_name(c->st.value_serializer),
			    rc == -ENOMEM ? strerror(ENOMEM) : blt_errmsg());
			blt_value_buf_free(&enc);
			rc = CLI_ERROR;
			goto out;
		}
		free(val);
		val = enc.data;
		vlen = enc.len;
	}
	if (c->have_ts) {
		if ((rc = cli_info(c)) != CLI_OK)
			goto out;
		if (!c->st.timestamps) {
			fprintf(stderr,
			    "blt: %s: the store keeps no "
			    "timestamps\n",
			    c->store);
			rc = CLI_ERROR;
			goto out;
		}
	}
	if ((rc = blt_put(c->db, key, klen, val, vlen,
	         c->have_ts ? c->ts : BLT_NOW)) < 0)
		rc = cli_fail(c->store, rc);
	else
		rc = CLI_OK;
out:
	free(key);
	free(val);
	return rc;
}

/* blt get: write a value to standard output; 1 if the key is missing. */
/* blt get --decode: the whole value, decoded into its file form. */
static int
cli_get_decoded(struct cli *c, const unsigned char *key, size_t klen)
{
	struct blt_value_buf out = {0};
	unsigned char *val = NULL, *nval;
	size_t cap = 0;
	ssize_t n;
	int rc;

	if ((rc = cli_info(c)) != CLI_OK)
		return rc;
	/* The whole value: a decoder needs all of it. */
	while ((n = blt_get(c->db, key, klen, val, cap, NULL)) >= 0 &&
	       (size_t)n > cap) {
		if ((nval = realloc(val, (size_t)n)) == NULL) {
			free(val);
			return cli_syserr(c->store, ENOMEM);
		}
		val = nval;
		cap = (size_t)n;
	}
	if (n == -ENOENT || n < 0) {
		free(val);
		return n == -ENOENT ? cli_missing(c, c->args[1])
		                    : cli_fail(c->store, (int)n);
	}
	rc = blt_value_decode(c->st.value_serializer, val, (size_t)n, 0, &out);
	free(val);
	if (rc < 0) {
		blt_value_buf_free(&out);
		return cli_syserr(c->store, -rc);
	}
	/* A value that cannot be decoded is shown in the not-decodable
	 * form, which load and put --encode take back: say so, and go on. */
	if (rc == BLT_VALUE_NOT_DECODABLE)
		fprintf(stderr, "blt: %s: %s: %s\n", c->store, c->args[1],
		    blt_errmsg());
	fwrite(out.data, 1, out.len, stdout);
	blt_value_buf_free(&out);
	return cli_flush_stdout();
}

int
cli_get(struct cli *c)
{
	unsigned char *key = NULL, *buf = NULL;
	uint64_t off = 0;
	size_t klen;
	ssize_t n;
	int rc;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK ||
	    (rc = cli_key(c, c->args[1], &key, &klen)) != CLI_OK)
		goto out;
	if (c->decode) {
		rc = cli_get_decoded(c, key, klen);
		goto out;
	}
	if ((buf = malloc(CLI_CHUNK)) == NULL) {
		rc = cli_syserr(c->store, ENOMEM);
		goto out;
	}
	/* Stream in chunks: values may be larger than memory allows. */
	while ((n = blt_read(c->db, key, klen, off, buf, CLI_CHUNK)) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
		off += (uint64_t)n;
	}
	if (n == -ENOENT)
		rc = cli_missing(c, c->args[1]);
	else if (n < 0)
		rc = cli_fail(c->store, (int)n);
	else
		rc = cli_flush_stdout();
out:
	free(buf);
	free(key);
	return rc;
}

/* blt del: delete keys; 1 if one was missing (unless --force). */
int
cli_del(struct cli *c)
{
	unsigned char *key;
	size_t klen;
	int i, rc, status = CLI_OK;

	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK)
		return rc;
	for (i = 1; i < c->nargs; i++) {
		if ((rc = cli_key(c, c->args[i], &key, &klen)) != CLI_OK)
			return rc;
		rc = blt_del(c->db, key, klen);
		free(key);
		if (rc == -ENOENT) {
			if (!c->force)
				status = cli_missing(c, c->args[i]);
		} else if (rc < 0)
			return cli_fail(c->store, rc);
	}
	return status;
}

/* blt ls: list the keys with a prefix, in file order. */
int
cli_ls(struct cli *c)
{
	const char *prefix = c->nargs > 1 ? c->args[1] : NULL;
	unsigned char *pre = NULL;
	struct blt_iter *it = NULL;
	struct blt_item item;
	size_t plen = 0;
	char num[32], when[80];
	int rc, bydec;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK)
		return rc;
	/* Integer keys match a prefix of their decimal form. */
	bydec = !c->hex && !c->escaped &&
	        blt_int_key_width(c->st.key_serializer, NULL) != 0;
	if (prefix != NULL && bydec) {
		pre = (unsigned char *)strdup(prefix);
		plen = strlen(prefix);
		if (pre == NULL)
			return cli_syserr(c->store, ENOMEM);
	} else if (prefix != NULL &&
	           (rc = cli_key(c, prefix, &pre, &plen)) != CLI_OK)
		return rc;
	if ((rc = blt_iter_create(c->db, &it)) < 0) {
		free(pre);
		return cli_fail(c->store, rc);
	}
	while ((rc = blt_iter_next(it, &item)) > 0) {
		if (pre != NULL) {
			const unsigned char *k = item.key;
			size_t kl = item.klen;

			if (bydec &&
			    cli_int_decode(c->st.key_serializer, item.key,
			        item.klen, num, sizeof num)) {
				k = (const unsigned char *)num;
				kl = strlen(num);
			}
			if (kl < plen || memcmp(k, pre, plen) != 0)
				continue;
		}
		if (c->longfmt) {
			if (item.timestamp == BLT_NO_TS)
				strcpy(when, "-");
			else
				timearg_format(
				    item.timestamp, when, sizeof when);
			printf("%zu\t%s\t", item.vlen, when);
		}
		cli_key_show(c, stdout, item.key, item.klen);
		putchar(c->nul ? '\0' : '\n');
		if (ferror(stdout))
			break;
	}
	blt_iter_free(it);
	free(pre);
	if (rc < 0)
		return cli_fail(c->store, rc);
	return cli_flush_stdout();
}

/* blt stat: describe the store as one JSON object, from the header (a
 * store of 100 million keys answers at once); the live and dead bytes,
 * which only a scan of every block finds, with --scan. */
int
cli_stat(struct cli *c)
{
	const struct blt_stat *st = &c->st;
	const unsigned char *path = (const unsigned char *)c->store;
	int rc, i;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK)
		return rc;
	if ((rc = c->scan ? blt_stat(c->db, &c->st) : blt_info(c->db, &c->st)) <
	    0)
		return cli_fail(c->store, rc);
	printf("{\n  \"path\": ");
	if (json_utf8_valid(path, strlen(c->store)))
		json_put_str(stdout, path, strlen(c->store));
	else
		printf("null");
	printf(",\n  \"format_version\": %u", st->version);
	printf(",\n  \"kind\": \"%s\"", st->fixed ? "fixed" : "variable");
	if (st->fixed)
		printf(",\n  \"value_len\": %" PRIu32, st->value_len);
	else
		printf(",\n  \"value_len\": null");
	printf(",\n  \"timestamps\": %s", st->timestamps ? "true" : "false");
	printf(",\n  \"key_serializer\": ");
	json_put_str(stdout,
	    (const unsigned char *)blt_serializer_name(st->key_serializer),
	    strlen(blt_serializer_name(st->key_serializer)));
	printf(",\n  \"key_serializer_code\": %u", st->key_serializer);
	printf(",\n  \"value_serializer\": ");
	json_put_str(stdout,
	    (const unsigned char *)blt_serializer_name(st->value_serializer),
	    strlen(blt_serializer_name(st->value_serializer)));
	printf(",\n  \"value_serializer_code\": %u", st->value_serializer);
	/* What get --decode and load --encode can do (doc/values.md). */
	printf(",\n  \"value_decode\": %s",
	    blt_value_caps(st->value_serializer) & BLT_VALUE_CAN_DECODE
	        ? "true"
	        : "false");
	printf(",\n  \"value_encode\": %s",
	    blt_value_caps(st->value_serializer) & BLT_VALUE_CAN_ENCODE
	        ? "true"
	        : "false");
	printf(",\n  \"keys\": %" PRIu64, st->n_keys);
	printf(",\n  \"buckets\": %" PRIu32, st->n_buckets);
	printf(",\n  \"index_offset\": %" PRIu64, st->index_offset);
	printf(",\n  \"first_data\": %" PRIu64, st->first_data);
	printf(",\n  \"file_bytes\": %" PRIu64, st->file_bytes);
	if (c->scan) {
		printf(",\n  \"live_bytes\": %" PRIu64, st->live_bytes);
		printf(",\n  \"dead_bytes\": %" PRIu64, st->dead_bytes);
	} else
		printf(",\n  \"live_bytes\": null,\n  \"dead_bytes\": null");
	printf(",\n  \"created\": %" PRId64, st->created);
	printf(",\n  \"uuid\": \"");
	for (i = 0; i < 16; i++)
		printf("%02x", st->uuid[i]);
	printf("\"\n}\n");
	return cli_flush_stdout();
}

struct cli_check {
	const char *store;
	int shown;
	int waited; /* tries that found the store locked */
	struct progress progress;
};

static void
cli_check_report(void *arg, uint64_t offset, const char *problem)
{
	struct cli_check *chk = arg;
	size_t n = strlen(chk->store);

	/* The library's text may name the store already. */
	if (strncmp(problem, chk->store, n) == 0 && problem[n] == ':' &&
	    problem[n + 1] == ' ')
		problem += n + 2;
	progress_clear(&chk->progress);
	printf("%s: offset %" PRIu64 ": %s\n", chk->store, offset, problem);
	fflush(stdout); /* before the progress line is drawn again */
	chk->shown++;
}

/* Say that the check found nothing, with the store's key count (from a
 * second open, which fails at once should another process have taken the
 * store meanwhile: the count is then left out). */
static int
cli_check_ok(struct cli *c)
{
	struct blt_options o;
	struct blt *db;
	int64_t n = -1;

	blt_options_default(&o);
	o.lock_timeout = 0;
	if (blt_open(c->store, BLT_RDONLY, &o, &db) == 0) {
		n = blt_count(db);
		blt_close(db);
	}
	if (n >= 0)
		printf("%s: ok, %" PRId64 " key%s\n", c->store, n,
		    n == 1 ? "" : "s");
	else
		printf("%s: ok\n", c->store);
	return cli_flush_stdout();
}

/* blt check: verify (or --repair) the store; 1 if problems were found.
 * blt_check() fails at once on a locked store; like every other command,
 * check then waits for the lock as --timeout says (by default, not at
 * all: it names the holder and exits with 3). */
int
cli_check(struct cli *c)
{
	struct cli_check chk = {.store = c->store};
	struct timespec start, now, pause = {0, 50000000};
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	progress_start(&chk.progress, c->repair ? "repair" : "check", NULL);
	blt_progress_set(progress_fn, &chk.progress);
	while ((rc = blt_check(c->store, c->repair ? BLT_CHECK_REPAIR : 0,
	            cli_check_report, &chk)) == -EWOULDBLOCK) {
		if (c->timeout != 0 && chk.waited++ == 0)
			cli_say_waiting(c->store, c->timeout);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (c->timeout >= 0 &&
		    now.tv_sec - start.tv_sec +
		            (now.tv_nsec - start.tv_nsec) / 1e9 >=
		        c->timeout)
			break;
		nanosleep(&pause, NULL);
	}
	blt_progress_set(NULL, NULL);
	if (rc >= 0)
		progress_end(&chk.progress);
	else
		progress_clear(&chk.progress);
	if (cli_flush_stdout() != CLI_OK)
		return CLI_ERROR;
	if (rc == -EWOULDBLOCK)
		rc = cli_locked(c->store, c->repair, c->timeout);
	if (rc < 0)
		return cli_fail(c->store, rc);
	if (rc == 0)
		return cli_check_ok(c);
	fprintf(stderr, "blt: %s: %d problem%s found%s\n", c->store, rc,
	    rc == 1 ? "" : "s", c->repair ? " and repaired" : "");
	return CLI_MISSING;
}

/* A size in bytes for people: 512 B, 4.5 KiB, 1.2 MiB ... into buf. */
static const char *
cli_size(uint64_t bytes, char *buf, size_t cap)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, cap, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

/* blt prune: compact, optionally dropping old keys; says what it removed
 * and the file's size before and after, or with --count the number of
 * blocks removed alone, for scripts. */
int
cli_prune(struct cli *c)
{
	struct blt_prune_opts po = {0};
	unsigned char **keys = NULL;
	size_t *lens = NULL, i, n = 0;
	struct stat before, after;
	struct progress progress;
	char b1[32], b2[32];
	int64_t removed;
	int rc;

	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK)
		return rc;
	if (c->have_older && !c->st.timestamps) {
		fprintf(stderr, "blt: %s: the store keeps no timestamps\n",
		    c->store);
		return CLI_ERROR;
	}
	if (c->n_keep > 0 &&
	    ((keys = calloc(c->n_keep, sizeof *keys)) == NULL ||
	        (lens = calloc(c->n_keep, sizeof *lens)) == NULL)) {
		rc = cli_syserr(c->store, ENOMEM);
		goto out;
	}
	for (n = 0; n < c->n_keep; n++)
		if ((rc = cli_key(c, c->keep[n], &keys[n], &lens[n])) != CLI_OK)
			goto out;
	po.older_than = c->older;
	po.n_keep = n;
	po.keep = (const unsigned char *const *)keys;
	po.keep_len = lens;
	if (stat(c->store, &before) == -1)
		before.st_size = 0;
	progress_start(&progress, "prune", NULL);
	blt_progress_set(progress_fn, &progress);
	removed = blt_prune(c->db, c->have_older ? &po : NULL);
	blt_progress_set(NULL, NULL);
	if (removed >= 0)
		progress_end(&progress);
	else
		progress_clear(&progress);
	if (removed < 0)
		rc = cli_fail(c->store, (int)removed);
	else if (c->count)
		printf("%" PRId64 "\n", removed);
	else if (stat(c->store, &after) == -1)
		printf("%s: pruned %" PRId64 " dead block%s\n", c->store,
		    removed, removed == 1 ? "" : "s");
	else
		printf("%s: pruned %" PRId64 " dead block%s, from %s to %s\n",
		    c->store, removed, removed == 1 ? "" : "s",
		    cli_size((uint64_t)before.st_size, b1, sizeof b1),
		    cli_size((uint64_t)after.st_size, b2, sizeof b2));
	if (rc == CLI_OK)
		rc = cli_flush_stdout();
out:
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(lens);
	return rc;
}

/* blt reindex: grow the hash index to --buckets, or to the size the keys
 * need, as the automatic reindex would: an index that holds them already
 * stays as it is, so running it again changes nothing. */
int
cli_reindex(struct cli *c)
{
	uint32_t n = c->have_buckets ? c->buckets : BLT_FIT;
	struct progress progress;
	int rc;

	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK)
		return rc;
	progress_start(&progress, "reindex", "buckets");
	blt_progress_set(progress_fn, &progress);
	rc = blt_reindex(c->db, n);
	blt_progress_set(NULL, NULL);
	if (rc < 0) {
		progress_clear(&progress);
		return cli_fail(c->store, rc);
	}
	/* an index that held the keys already was not touched: no line */
	if (progress.total > 0)
		progress_end(&progress);
	return CLI_OK;
}
