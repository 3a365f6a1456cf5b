/*
 * blt map: runs a command or a plugin over the selected values with
 * blt_map() and prints its counts as one JSON line.  Its options are its
 * own, so main() hands it the raw arguments and it parses them here.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "booklet.h"
#include "bltmap.h"
#include "blt.h"
#include "bltutil.h"

static const struct option cli_map_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"exec", required_argument, NULL, 'E'},
    {"plugin", required_argument, NULL, 'P'},
    {"worker", required_argument, NULL, 'W'},
    {"launcher", required_argument, NULL, 'L'},
    {"hosts", required_argument, NULL, 'H'},
    {"item-timeout", required_argument, NULL, 'T'},
    {"start-timeout", required_argument, NULL, 'S'},
    {"reply-timeout", required_argument, NULL, 'R'},
    {"decode", no_argument, NULL, 'D'},
    {"prefix", required_argument, NULL, 'p'},
    {"keys", required_argument, NULL, 'k'},
    {"to", required_argument, NULL, 't'},
    {"out", required_argument, NULL, 'o'},
    {"workers", required_argument, NULL, 'j'},
    {"hex", no_argument, NULL, 'x'},
    {"escaped", no_argument, NULL, 'e'},
    {"null", no_argument, NULL, '0'},
    {"timeout", required_argument, NULL, CLI_L_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* Read the keys of --keys FILE ('-': standard input), one per line or
 * NUL-terminated with --null, in the spellings of cli_key(), into k. */
static int
cli_map_keys(struct cli *c, const char *file, struct blt_map_keys *k)
{
	unsigned char *buf, *key;
	size_t len, klen;
	char sep = c->nul ? '\0' : '\n', *p, *end, *e;
	int fd = 0, rc;

	if (strcmp(file, "-") != 0 && (fd = open(file, O_RDONLY)) == -1)
		return cli_syserr(file, errno);
	rc = cli_slurp(fd, file, SIZE_MAX, &buf, &len);
	if (fd != 0)
		close(fd);
	if (rc != CLI_OK)
		return rc;
	for (p = (char *)buf, end = p + len; p < end; p = e + 1) {
		if ((e = memchr(p, sep, (size_t)(end - p))) == NULL)
			e = end; /* the last key may lack its terminator */
		if (e == end) {
			/* cli_key() wants a string: copy the unterminated
			 * tail (buf has no room after it). */
			char *t = strndup(p, (size_t)(e - p));

			if (t == NULL) {
				rc = cli_syserr(file, ENOMEM);
				break;
			}
			rc = cli_key(c, t, &key, &klen);
			free(t);
		} else {
			*e = '\0';
			rc = cli_key(c, p, &key, &klen);
		}
		if (rc != CLI_OK)
			break;
		if (blt_map_keys_add(k, key, klen) < 0)
			rc = cli_syserr(file, ENOMEM);
		free(key);
		if (rc != CLI_OK)
			break;
	}
	free(buf);
	return rc;
}

/* Print the stats as one JSON line; c has its info.  A key is shown as
 * blt ls shows it: decimal for integer keys, else its text where that is
 * valid UTF-8. */
static void
cli_map_report(struct cli *c, const struct blt_map_stats *st, double secs)
{
	char num[32];

	printf("{\"processed\": %" PRIu64 ", \"written\": %" PRIu64
	       ", \"skipped\": %" PRIu64 ", \"errors\": %" PRIu64
	       ", \"read\": %" PRIu64 ", \"total\": %" PRIu64
	       ", \"workers\": %u, \"restarts\": %" PRIu64
	       ", \"start_seconds\": %.3f, \"seconds\": %.3f"
	       ", \"first_errors\": [",
	    st->processed, st->written, st->skipped, st->errors, st->read,
	    st->total, st->workers, st->restarts, (double)st->start_ms / 1e3,
	    secs);
	for (unsigned i = 0; i < st->n_errors; i++) {
		const struct blt_map_error *e = &st->first_errors[i];
		size_t kl = e->klen < sizeof e->key ? e->klen : sizeof e->key;

		fputs(i ? ", {\"key\": " : "{\"key\": ", stdout);
		if (cli_int_decode(
		        c->st.key_serializer, e->key, e->klen, num, sizeof num))
			json_put_str(
			    stdout, (const unsigned char *)num, strlen(num));
		else if (kl == e->klen && json_utf8_valid(e->key, kl))
			json_put_str(stdout, e->key, kl);
		else
			fputs("null", stdout);
		fputs(", \"key_hex\": \"", stdout);
		json_put_hex(stdout, e->key, kl);
		printf("\", \"key_len\": %zu, \"error\": ", e->klen);
		if (json_utf8_valid(
		        (const unsigned char *)e->msg, strlen(e->msg)))
			json_put_str(stdout, (const unsigned char *)e->msg,
			    strlen(e->msg));
		else
			fputs("\"(not UTF-8)\"", stdout);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

/* The map's progress, on a terminal; while no item is done yet, how
 * many workers it still waits for (an ssh login, a Slurm queue). */
struct cli_map_show {
	struct progress p;
	char what[80];
};

static int
cli_map_progress(void *arg, const struct blt_map_stats *st)
{
	struct cli_map_show *s = arg;

	s->p.what = "map";
	if (st->starting > 0 && st->processed == 0) {
		snprintf(s->what, sizeof s->what,
		    "map (waiting for %u of %u workers to start)", st->starting,
		    st->workers);
		s->p.what = s->what;
	}
	progress_show(&s->p, st->processed, st->total);
	return 0;
}

/* blt map: run a command or plugin over values; 1 if any item failed. */
int
cli_map(struct cli *c)
{
	struct blt_map_opts o;
	struct blt_map_stats st;
	struct cli_map_show progress;
	struct blt_options bo;
	struct blt_stat ss;
	struct timespec t0, t1;
	const char *keys_file = NULL, *prefix = NULL, *out_path = NULL;
	struct blt_map_keys keys = {0};
	unsigned char *pre = NULL;
	size_t pre_len = 0;
	struct blt *out = NULL;
	uint64_t v;
	struct outstore made;
	int ch, prev, rc, mrc;

	memset(&o, 0, sizeof o);
	opterr = 0;
	optind = 0; /* c->args[-1] is "map", which getopt skips */
	for (;;) {
		prev = optind ? optind : 1;
		ch = getopt_long(
		    c->nargs + 1, c->args - 1, ":hxe0", cli_map_longopts, NULL);
		if (ch == -1)
			break;
		if ((rc = cli_opt_shared(c, ch, optarg)) >= 0) {
			if (rc != CLI_OK)
				return rc;
			continue;
		}
		switch (ch) {
		case 'h':
			fputs(c->cmd->help, stdout);
			return CLI_OK;
		case 'E':
			o.exec = optarg;
			break;
		case 'P':
			o.plugin = optarg;
			break;
		case 'W':
			o.worker = optarg;
			break;
		case 'L':
			o.launcher = optarg;
			break;
		case 'H':
			o.hosts = optarg;
			break;
		case 'T':
			if (timearg_number(optarg, 86400, &v) < 0 || v == 0)
				return cli_usage(
				    c, "bad --item-timeout '%s'", optarg);
			o.item_timeout = (unsigned)v;
			break;
		case 'S':
		case 'R':
			if (timearg_number(optarg, 86400, &v) < 0)
				return cli_usage(c, "bad --%s-timeout '%s'",
				    ch == 'S' ? "start" : "reply", optarg);
			*(ch == 'S' ? &o.start_timeout : &o.reply_timeout) =
			    v == 0 ? -1 : (int)v;
			break;
		case 'D':
			o.decode = 1;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'k':
			keys_file = optarg;
			break;
		case 't':
			o.to = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'j':
			if (timearg_number(optarg, 1024, &v) < 0 || v == 0)
				return cli_usage(
				    c, "bad --workers '%s'", optarg);
			o.workers = (unsigned)v;
			break;
		case ':':
			return cli_usage(c, "option %s needs an argument",
			    c->args[optind - 2]);
		default:
			if (optopt != 0 && optopt < 256)
				return cli_usage(
				    c, "unknown option -%c", optopt);
			return cli_usage(
			    c, "unknown option %s", c->args[prev - 1]);
		}
	}
	c->args += optind - 1;
	c->nargs -= optind - 1;
	if (c->nargs < 1)
		return cli_usage(c, "missing STORE");
	if (c->nargs > 1)
		return cli_usage(c, "too many operands");
	c->store = c->args[0];
	if ((o.exec != NULL) + (o.plugin != NULL) + (o.worker != NULL) != 1)
		return cli_usage(
		    c, "give one of --exec, --plugin and --worker");
	if (o.worker == NULL && (o.launcher != NULL || o.hosts != NULL))
		return cli_usage(c, "--launcher and --hosts go with --worker");
	if (o.plugin != NULL && o.item_timeout)
		return cli_usage(
		    c, "--item-timeout goes with --exec or --worker");
	if (o.worker == NULL && o.start_timeout != 0)
		return cli_usage(c, "--start-timeout goes with --worker");
	if (o.worker == NULL && o.reply_timeout != 0)
		return cli_usage(c, "--reply-timeout goes with --worker");
	if (o.plugin != NULL && o.decode)
		return cli_usage(c, "--decode goes with --exec or --worker");
	if (o.hosts != NULL && o.workers != 0)
		return cli_usage(
		    c, "--hosts says how many workers: leave out --workers");
	if (prefix != NULL && keys_file != NULL)
		return cli_usage(c, "--prefix and --keys exclude each other");
	if (c->hex && c->escaped)
		return cli_usage(c, "--hex and --escaped exclude each other");
	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK) /* for the report */
		return rc;
	if (prefix != NULL) {
		if ((rc = cli_key(c, prefix, &pre, &pre_len)) != CLI_OK)
			return rc;
		o.prefix = pre;
		o.prefix_len = pre_len;
	}
	if (keys_file != NULL) {
		if ((rc = cli_map_keys(c, keys_file, &keys)) != CLI_OK)
			goto out;
		o.keys = &keys; /* an empty list selects nothing */
	}
	if (out_path != NULL) {
		/* A new output store takes the source's serializers. */
		if ((rc = blt_stat(c->db, &ss)) < 0) {
			rc = cli_fail(c->store, rc);
			goto out;
		}
		blt_options_default(&bo);
		bo.timestamps = ss.timestamps;
		bo.key_serializer = ss.key_serializer;
		if (!ss.fixed)
			bo.value_serializer = ss.value_serializer;
		/* and the source's mode less our umask, as the mount's map
		 * gives it */
		outstore_make(out_path, blt_path(c->db), -1, &made);
		if ((rc = cli_open_store(
		         out_path, BLT_CREATE, &bo, c->timeout, &out)) < 0) {
			rc = cli_fail(out_path, rc);
			outstore_unmake(out_path, &made);
			goto out;
		}
		o.out = out;
	}
	progress_start(&progress.p, "map", "items");
	o.progress = cli_map_progress;
	o.arg = &progress;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mrc = blt_map(c->db, &o, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (mrc == 0) {
		progress_show(&progress.p, st.processed, st.total);
		progress_end(&progress.p);
	} else
		progress_clear(&progress.p);
	cli_map_report(c, &st,
	    (double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (mrc < 0)
		rc = cli_fail(c->store, mrc);
	else
		rc = st.errors > 0 ? CLI_MISSING : CLI_OK;
	if (cli_flush_stdout() != CLI_OK)
		rc = CLI_ERROR;
	if (out != NULL && (mrc = blt_close(out)) < 0 && rc != CLI_ERROR)
		rc = cli_fail(out_path, mrc);
	out = NULL;
out:
	blt_close(out);
	blt_map_keys_free(&keys);
	free(pre);
	return rc;
}
