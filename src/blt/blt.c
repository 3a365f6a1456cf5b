/*
 * blt: the command-line tool over libbooklet, for scripts and for people.
 *
 * main() finds the command in cli_cmds[], cli_getopt() parses its options
 * into one struct cli, and the command (blt-cmd.c, blt-dump.c, blt-map.c)
 * talks to the store through the public API of booklet.h only.  Every
 * outcome maps to an exit status: 0 for success, 1 for a missing key or
 * for problems found by check, 3 for a store another process holds (a
 * bltfs mount of it), 2 for usage errors and every other failure, each
 * with one line on stderr ("blt: STORE: cause", the cause from
 * blt_errmsg()).  blt.h lists the files; doc/blt.1 documents every choice
 * made here.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "booklet.h"
#include "bltmap.h"
#include "blt.h"
#include "bltutil.h"

static const struct option cli_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"hex", no_argument, NULL, 'x'},
    {"escaped", no_argument, NULL, 'e'},
    {"null", no_argument, NULL, '0'},
    {"long", no_argument, NULL, 'l'},
    {"force", no_argument, NULL, 'f'},
    {"create", no_argument, NULL, 'c'},
    {"timeout", required_argument, NULL, CLI_L_TIMEOUT},
    {"fixed", required_argument, NULL, CLI_L_FIXED},
    {"no-timestamps", no_argument, NULL, CLI_L_NO_TS},
    {"buckets", required_argument, NULL, CLI_L_BUCKETS},
    {"key-serializer", required_argument, NULL, CLI_L_KEY_SER},
    {"value-serializer", required_argument, NULL, CLI_L_VALUE_SER},
    {"timestamp", required_argument, NULL, CLI_L_TIMESTAMP},
    {"older-than", required_argument, NULL, CLI_L_OLDER},
    {"keep", required_argument, NULL, CLI_L_KEEP},
    {"repair", no_argument, NULL, CLI_L_REPAIR},
    {"decode", no_argument, NULL, CLI_L_DECODE},
    {"encode", no_argument, NULL, CLI_L_ENCODE},
    {"count", no_argument, NULL, CLI_L_COUNT},
    {"threads", required_argument, NULL, CLI_L_THREADS},
    {"scan", no_argument, NULL, CLI_L_SCAN},
    {NULL, 0, NULL, 0},
};

/* Report rc from the library for name (a store or file); returns 2, or 3
 * for a store that is held. */
int
cli_fail(const char *name, int rc)
{
	const char *msg = blt_errmsg();
	size_t n = strlen(name);

	progress_interrupt();
	/* The library's message usually names the file already. */
	if (msg == NULL || *msg == '\0')
		fprintf(stderr, "blt: %s: %s\n", name, strerror(-rc));
	else if (strncmp(msg, name, n) == 0 && msg[n] == ':')
		fprintf(stderr, "blt: %s\n", msg);
	else
		fprintf(stderr, "blt: %s: %s\n", name, msg);
	/* a store another process holds (or replaces, -EAGAIN, the same
	 * number) has a status of its own: a script may wait and retry */
	return rc == -EWOULDBLOCK ? CLI_LOCKED : CLI_ERROR;
}

/* Report a failed system call on name; returns 2. */
int
cli_syserr(const char *name, int err)
{
	progress_interrupt();
	fprintf(stderr, "blt: %s: %s\n", name, strerror(err));
	return CLI_ERROR;
}

/* A usage error of c's command, with a pointer to its help; returns 2. */
int
cli_usage(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "blt: %s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'blt %s --help'.\n", c->cmd->name);
	return CLI_ERROR;
}

/* Flush standard output, whose errors would otherwise go unseen. */
int
cli_flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_syserr("stdout", errno ? errno : EIO);
	return CLI_OK;
}

/* Read the header's facts once: serializers and flags (no scan). */
int
cli_info(struct cli *c)
{
	int rc;

	if (c->have_st)
		return CLI_OK;
	if ((rc = blt_info(c->db, &c->st)) < 0)
		return cli_fail(c->store, rc);
	c->have_st = 1;
	return CLI_OK;
}

/* Say on stderr that path is locked, by whom, and that blt waits. */
void
cli_say_waiting(const char *path, double timeout)
{
	char who[PATH_MAX + 128];

	holder_describe(path, who, sizeof who);
	if (timeout < 0)
		fprintf(stderr, "blt: %s: %s; waiting until it lets go\n", path,
		    who);
	else
		fprintf(stderr, "blt: %s: %s; waiting up to %g s\n", path, who,
		    timeout);
}

/* The message of a lock not granted, as blt_errmsg(), for cli_fail(): who
 * holds the store and, when blt did not wait, how to wait.  Returns
 * -EWOULDBLOCK. */
int
cli_locked(const char *path, int exclusive, double timeout)
{
	char who[PATH_MAX + 128];

	holder_describe(path, who, sizeof who);
	if (timeout == 0)
		return blt_errmsg_set(-EWOULDBLOCK,
		    "%s: %s; wait with --timeout SECONDS", path, who);
	return blt_errmsg_set(-EWOULDBLOCK,
	    "%s: %s past the lock timeout (%s lock not granted within %g s)",
	    path, who, exclusive ? "exclusive" : "shared", timeout);
}

int
cli_open_store(const char *path, int mode, struct blt_options *o,
    double timeout, struct blt **out)
{
	char note[PATH_MAX + 256];
	int rc;

	/* one try first, so that a wait is said before it starts */
	o->lock_timeout = 0;
	rc = blt_open(path, mode, o, out);
	if (rc == -EWOULDBLOCK && timeout != 0) {
		cli_say_waiting(path, timeout);
		o->lock_timeout = timeout;
		rc = blt_open(path, mode, o, out);
	}
	/* -EAGAIN, the same number, is a store that prunes kept replacing:
	 * its own message says so */
	if (rc == -EWOULDBLOCK &&
	    strstr(blt_errmsg(), "locked by another process") != NULL)
		rc = cli_locked(path, mode != BLT_RDONLY, timeout);
	if (rc == 0 && open_note(*out, path, note, sizeof note) != NULL)
		fprintf(stderr, "blt: %s\n", note);
	return rc;
}

/* Open c->store with mode; the options of create apply to BLT_CREATE. */
int
cli_open(struct cli *c, int mode)
{
	struct blt_options o;
	int rc;

	if (mode >= BLT_CREATE)
		o = c->make;
	else
		blt_options_default(&o);
	if ((rc = cli_open_store(c->store, mode, &o, c->timeout, &c->db)) < 0)
		return cli_fail(c->store, rc);
	return CLI_OK;
}

/*
 * Help texts: the first line is the synopsis that blt --help lists.
 */

static const char cli_help_create[] =
    "usage: blt create [options] STORE\n"
    "Create an empty store.  An existing file is an error unless --force\n"
    "empties it.\n\n"
    "  --fixed LEN            fixed-length values of LEN bytes\n"
    "  --no-timestamps        keep no timestamps\n"
    "  --buckets N            initial index size (default 12007, at most\n"
    "                         20736017)\n"
    "  --key-serializer S     serializer name or code for keys (default\n"
    "                         None, code 1)\n"
    "  --value-serializer S   serializer name or code for values\n"
    "  -f, --force            empty STORE if it exists\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_put[] =
    "usage: blt put [options] STORE KEY [FILE]\n"
    "Store the contents of FILE (standard input if missing or '-') under\n"
    "KEY.\n\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  --encode               FILE is the value as data (doc/values.md),\n"
    "                         stored with the store's value serializer\n"
    "  --timestamp TIME       the key's timestamp (default: now)\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n\n"
    "TIME is microseconds since the epoch, ISO-8601 with Z or a UTC offset\n"
    "(2024-01-02T03:04:05.123456Z), or now.\n";

static const char cli_help_get[] =
    "usage: blt get [options] STORE KEY\n"
    "Write the value of KEY to standard output, byte for byte.  A missing\n"
    "key exits with status 1.\n\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  --decode               write the value as data: JSON for pickle,\n"
    "                         json, msgpack ..., decompressed zstd\n"
    "                         (doc/values.md)\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_del[] =
    "usage: blt del [options] STORE KEY...\n"
    "Delete each KEY.  A missing key exits with status 1 once the others\n"
    "are deleted.\n\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  -f, --force            a missing key is not an error\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_ls[] =
    "usage: blt ls [options] STORE [PREFIX]\n"
    "List the keys that begin with PREFIX, one per line, in file order.\n\n"
    "  -x, --hex              show keys and read PREFIX as hex\n"
    "  -e, --escaped          PREFIX uses escapes; integer keys too\n"
    "  -0, --null             end each key with NUL instead of escaping\n"
    "  -l, --long             show value length and timestamp first\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_dump[] =
    "usage: blt dump [options] STORE\n"
    "Write every item as a JSON object on its own line.\n\n"
    "  --decode               \"value\": the value as a JSON value\n"
    "                         (doc/values.md) instead of \"value_hex\"\n"
    "  --threads N            decode on N threads (default: one per\n"
    "                         processor, at most 8); the lines keep\n"
    "                         the store's order\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_load[] =
    "usage: blt load [options] STORE [FILE]\n"
    "Put every item of FILE (default: standard input), written by dump.\n\n"
    "  --encode               \"value\" is the value as a JSON value, as\n"
    "                         dump --decode writes it, encoded with the\n"
    "                         store's value serializer\n"
    "  -c, --create           create STORE if it is missing, with:\n"
    "  --fixed LEN            fixed-length values of LEN bytes\n"
    "  --no-timestamps        keep no timestamps\n"
    "  --buckets N            initial index size (default 12007, at most\n"
    "                         20736017)\n"
    "  --key-serializer S     serializer name or code for keys (default\n"
    "                         None, code 1)\n"
    "  --value-serializer S   serializer name or code for values\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_stat[] =
    "usage: blt stat [options] STORE\n"
    "Describe the store as a JSON object, from its header at once.\n\n"
    "  --scan                 also read every block for live_bytes and\n"
    "                         dead_bytes (null without it), which takes\n"
    "                         as long as reading the file\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_check[] =
    "usage: blt check [--repair] [--timeout SECONDS] STORE\n"
    "Verify the store; print each problem and exit with status 1 if there\n"
    "are any, else say ok with the number of keys.\n\n"
    "  --repair               rebuild the index from the data blocks\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_prune[] =
    "usage: blt prune [options] STORE\n"
    "Compact the store and say how many blocks were removed and how big\n"
    "the file was before and is now.\n\n"
    "  --older-than TIME      also drop keys with an older timestamp\n"
    "  --keep KEY             but not KEY (repeatable)\n"
    "  --count                print the number of blocks removed alone\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n\n"
    "TIME is microseconds since the epoch, ISO-8601 with Z or a UTC offset\n"
    "(2024-01-02T03:04:05.123456Z), or now.\n";

static const char cli_help_reindex[] =
    "usage: blt reindex [options] STORE\n"
    "Grow the hash index.\n\n"
    "  --buckets N            the new size, at most 20736017 (default: the\n"
    "                         size the keys need, as the automatic reindex\n"
    "                         would grow it to; none if the index holds\n"
    "                         them already)\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_map[] =
    "usage: blt map [options] STORE (--exec CMD | --plugin LIB:SYMBOL |\n"
    "                                --worker CMD)\n"
    "Run CMD (through /bin/sh -c, the value on stdin, the key in $BLT_KEY\n"
    "and $BLT_KEY_HEX) or a plugin function on each selected value, on a\n"
    "pool of worker processes, and store each result.  Exit status 0 of\n"
    "CMD stores its stdout, 125 skips the item, anything else fails it\n"
    "and leaves it as it was.  Prints the counts as one JSON line; exits\n"
    "with status 1 if any item failed.\n\n"
    "  --exec CMD             the command\n"
    "  --plugin LIB:SYMBOL    a blt_map_fn in a shared object\n"
    "  --worker CMD           a long-lived command per worker that speaks\n"
    "                         the worker protocol (doc/map.md) on stdin and\n"
    "                         stdout, such as a Python bltfs_worker.serve()\n"
    "  --launcher PREFIX      run each --worker as PREFIX 'CMD' (ssh -T HOST,\n"
    "                         srun -u --exact -N1 -n1 --quiet sh -c)\n"
    "  --hosts H1,H2:N,...    --worker over ssh: N workers on H2 (default 1),\n"
    "                         an empty host is this one, [ADDR]:N an IPv6\n"
    "                         address; --launcher is then the ssh command\n"
    "                         (default: ssh -T)\n"
    "  --item-timeout SECS    an --exec command running for SECS, or a\n"
    "                         --worker with no reply for SECS, is killed and\n"
    "                         its item fails\n"
    "  --start-timeout SECS   a --worker that has not said hello SECS after\n"
    "                         its start fails the map, naming it (default\n"
    "                         60; 0 waits for ever, as for a Slurm queue)\n"
    "  --reply-timeout SECS   a --worker still sending a reply SECS after its\n"
    "                         first byte is killed and its item fails\n"
    "                         (default 60; 0 for none)\n"
    "  --decode               the command gets each value decoded as text and\n"
    "                         its output is encoded back\n"
    "  --prefix PREFIX        only the keys beginning with PREFIX\n"
    "  --keys FILE            only the keys listed in FILE, one per line\n"
    "                         ('-': standard input)\n"
    "  -0, --null             keys in FILE end with NUL, not newline\n"
    "  -x, --hex              PREFIX and keys in FILE are hex digits\n"
    "  -e, --escaped          they use the backslash escapes of ls\n"
    "  --to TEMPLATE          store under TEMPLATE with {key} replaced by\n"
    "                         the key (default: the same key)\n"
    "  --out STORE2           store into STORE2 (created if missing)\n"
    "  --workers N            worker processes (default: one per CPU)\n"
    "  --timeout SECONDS      wait this long for a store another process\n"
    "                         holds (default 0: fail at once; inf: wait)\n"
    "  -h, --help             show this help\n";

static const struct cli_cmd cli_cmds[] = {
    {"create", cli_create, CLI_O_MAKE | CLI_O_FORCE | CLI_O_TIMEOUT, 1, 1,
        cli_help_create},
    {"put", cli_put,
        CLI_O_HEX | CLI_O_ESCAPED | CLI_O_TIMESTAMP | CLI_O_TIMEOUT |
            CLI_O_ENCODE,
        2, 3, cli_help_put},
    {"get", cli_get, CLI_O_HEX | CLI_O_ESCAPED | CLI_O_TIMEOUT | CLI_O_DECODE,
        2, 2, cli_help_get},
    {"del", cli_del, CLI_O_HEX | CLI_O_ESCAPED | CLI_O_FORCE | CLI_O_TIMEOUT, 2,
        -1, cli_help_del},
    {"ls", cli_ls, CLI_O_HEX | CLI_O_ESCAPED | CLI_O_LIST | CLI_O_TIMEOUT, 1, 2,
        cli_help_ls},
    {"dump", cli_dump, CLI_O_TIMEOUT | CLI_O_DECODE | CLI_O_THREADS, 1, 1,
        cli_help_dump},
    {"load", cli_load, CLI_O_CREATE | CLI_O_MAKE | CLI_O_TIMEOUT | CLI_O_ENCODE,
        1, 2, cli_help_load},
    {"stat", cli_stat, CLI_O_TIMEOUT | CLI_O_SCAN, 1, 1, cli_help_stat},
    {"check", cli_check, CLI_O_REPAIR | CLI_O_TIMEOUT, 1, 1, cli_help_check},
    {"prune", cli_prune,
        CLI_O_PRUNE | CLI_O_HEX | CLI_O_ESCAPED | CLI_O_TIMEOUT, 1, 1,
        cli_help_prune},
    {"reindex", cli_reindex, CLI_O_BUCKETS | CLI_O_TIMEOUT, 1, 1,
        cli_help_reindex},
    {"map", cli_map, 0, 0, -1, cli_help_map},
};

static void
cli_help(FILE *f, const struct cli_cmd *cmd)
{
	fputs(cmd->help, f);
}

static void
cli_help_all(FILE *f)
{
	const char *h;
	size_t i;

	fprintf(f, "usage: blt COMMAND [options] STORE ...\n"
	           "       blt COMMAND --help\n\ncommands:\n");
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++) {
		h = cli_cmds[i].help + strlen("usage: ");
		fprintf(f, "  %.*s\n", (int)strcspn(h, "\n"), h);
	}
	fprintf(f, "\nExit status: 0 success, 1 missing key or problems "
	           "found, 2 error,\n3 store held by another process (a bltfs "
	           "mount of it).\nSee blt(1).\n");
}

/* A serializer by name ("str", "uint4", "none") or code (0..32). */
static int
cli_serializer(const char *s, uint16_t *out)
{
	uint64_t v;
	unsigned code;

	if (timearg_number(s, BLT_SER_MAX, &v) == 0) {
		*out = (uint16_t)v;
		return 0;
	}
	for (code = 0; code <= BLT_SER_MAX; code++)
		if (strcasecmp(s, blt_serializer_name(code)) == 0) {
			*out = (uint16_t)code;
			return 0;
		}
	if (strcasecmp(s, "none") == 0 || strcasecmp(s, "raw") == 0) {
		*out = BLT_SER_NONE;
		return 0;
	}
	return -1;
}

/* The CLI_O_* group an option belongs to. */
static int
cli_opt_group(int ch)
{
	switch (ch) {
	case 'x':
		return CLI_O_HEX;
	case 'e':
		return CLI_O_ESCAPED;
	case '0':
	case 'l':
		return CLI_O_LIST;
	case 'f':
		return CLI_O_FORCE;
	case 'c':
		return CLI_O_CREATE;
	case CLI_L_TIMEOUT:
		return CLI_O_TIMEOUT;
	case CLI_L_BUCKETS:
		return CLI_O_MAKE | CLI_O_BUCKETS;
	case CLI_L_FIXED:
	case CLI_L_NO_TS:
	case CLI_L_KEY_SER:
	case CLI_L_VALUE_SER:
		return CLI_O_MAKE;
	case CLI_L_TIMESTAMP:
		return CLI_O_TIMESTAMP;
	case CLI_L_OLDER:
	case CLI_L_KEEP:
	case CLI_L_COUNT:
		return CLI_O_PRUNE;
	case CLI_L_REPAIR:
		return CLI_O_REPAIR;
	case CLI_L_DECODE:
		return CLI_O_DECODE;
	case CLI_L_ENCODE:
		return CLI_O_ENCODE;
	case CLI_L_THREADS:
		return CLI_O_THREADS;
	case CLI_L_SCAN:
		return CLI_O_SCAN;
	}
	return 0;
}

/* SECONDS of --timeout: decimal digits, with a fraction after a point if
 * need be (30, 0.05), as timearg_number() reads them on either side of
 * it, or inf (also infinity, -1) to wait for as long as it takes, as *out
 * -1; no other sign, exponent, hex or white space.  0, or -1. */
static int
cli_seconds(const char *s, double *out)
{
	char whole[32], *dot;
	uint64_t v;

	if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "infinity") == 0 ||
	    strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	if (strlen(s) >= sizeof whole)
		return -1;
	strcpy(whole, s);
	if ((dot = strchr(whole, '.')) != NULL)
		*dot++ = '\0';
	if (timearg_number(whole, UINT64_MAX, &v) < 0 ||
	    (dot != NULL && timearg_number(dot, UINT64_MAX, &v) < 0))
		return -1;
	*out = strtod(s, NULL);
	return 0;
}

/* The options every command that takes them reads alike: -x, -e, -0 and
 * --timeout.  CLI_OK, or 2 after a usage message; -1 if ch is another. */
int
cli_opt_shared(struct cli *c, int ch, const char *arg)
{
	switch (ch) {
	case 'x':
		c->hex = 1;
		return CLI_OK;
	case 'e':
		c->escaped = 1;
		return CLI_OK;
	case '0':
		c->nul = 1;
		return CLI_OK;
	case CLI_L_TIMEOUT:
		if (cli_seconds(arg, &c->timeout) < 0)
			return cli_usage(c,
			    "bad --timeout '%s': expected seconds as decimal "
			    "digits, such as 30 or 0.5, or inf",
			    arg);
		return CLI_OK;
	}
	return -1;
}

/* Parse the options of c->cmd; 0 to go on, -1 after --help, else the
 * exit status of a usage error. */
static int
cli_getopt(struct cli *c, int argc, char **argv)
{
	const char *why;
	char **nkeep;
	uint64_t v;
	int ch, prev, rc;

	opterr = 0;
	for (;;) {
		prev = optind;
		if ((ch = getopt_long(
		         argc, argv, ":hxe0lfc", cli_longopts, NULL)) == -1)
			break;
		if (ch == 'h') {
			cli_help(stdout, c->cmd);
			return -1;
		}
		if (ch == '?' && optopt != 0 && optopt < 256)
			return cli_usage(c, "unknown option -%c", optopt);
		if (ch == '?')
			return cli_usage(c, "unknown option %s", argv[prev]);
		if (ch == ':')
			return cli_usage(
			    c, "option %s needs an argument", argv[optind - 1]);
		/* argv[prev] is the option itself (its argument may follow
		 * it or be in it after '='), unless it is a cluster of short
		 * options: those take no argument, so argv[optind - 1]. */
		if ((cli_opt_group(ch) & c->cmd->opts) == 0)
			return cli_usage(c, "option %.*s does not apply here",
			    ch < 256 ? (int)strlen(argv[optind - 1])
			             : (int)strcspn(argv[prev], "="),
			    ch < 256 ? argv[optind - 1] : argv[prev]);
		if (cli_opt_group(ch) & c->cmd->opts & CLI_O_MAKE)
			c->make_set = 1;
		if ((rc = cli_opt_shared(c, ch, optarg)) >= 0) {
			if (rc != CLI_OK)
				return rc;
			continue;
		}
		switch (ch) {
		case 'l':
			c->longfmt = 1;
			break;
		case 'f':
			c->force = 1;
			break;
		case 'c':
			c->create = 1;
			break;
		case CLI_L_FIXED:
			if (timearg_number(optarg, UINT32_MAX, &v) < 0)
				return cli_usage(
				    c, "bad --fixed length '%s'", optarg);
			c->make.fixed = 1;
			c->make.value_len = (uint32_t)v;
			c->make.timestamps = 0;
			break;
		case CLI_L_NO_TS:
			c->make.timestamps = 0;
			break;
		case CLI_L_BUCKETS:
			if (timearg_number(optarg, BLT_BUCKETS_MAX, &v) < 0 ||
			    v == 0)
				return cli_usage(c,
				    "bad --buckets '%s': expected a number "
				    "from 1 to %u",
				    optarg, BLT_BUCKETS_MAX);
			c->have_buckets = 1;
			c->buckets = c->make.n_buckets = (uint32_t)v;
			break;
		case CLI_L_KEY_SER:
		case CLI_L_VALUE_SER:
			if (cli_serializer(
			        optarg, ch == CLI_L_KEY_SER
			                    ? &c->make.key_serializer
			                    : &c->make.value_serializer) < 0)
				return cli_usage(
				    c, "unknown serializer '%s'", optarg);
			if (ch == CLI_L_VALUE_SER)
				c->value_ser_set = 1;
			break;
		case CLI_L_TIMESTAMP:
		case CLI_L_OLDER:
			*(ch == CLI_L_OLDER ? &c->have_older : &c->have_ts) = 1;
			/* an age (30d) means something for --older-than */
			why =
			    ch == CLI_L_OLDER
			        ? timearg_parse(optarg, TIMEARG_AGE, &c->older)
			        : timearg_parse(optarg, 0, &c->ts);
			if (why != NULL)
				return cli_usage(
				    c, "bad time '%s': %s", optarg, why);
			break;
		case CLI_L_KEEP:
			nkeep =
			    realloc(c->keep, (c->n_keep + 1) * sizeof *nkeep);
			if (nkeep == NULL)
				return cli_syserr("blt", ENOMEM);
			c->keep = nkeep;
			c->keep[c->n_keep++] = optarg;
			break;
		case CLI_L_REPAIR:
			c->repair = 1;
			break;
		case CLI_L_DECODE:
			c->decode = 1;
			break;
		case CLI_L_ENCODE:
			c->encode = 1;
			break;
		case CLI_L_COUNT:
			c->count = 1;
			break;
		case CLI_L_SCAN:
			c->scan = 1;
			break;
		case CLI_L_THREADS:
			if (timearg_number(optarg, CLI_THREADS_MAX, &v) < 0 ||
			    v == 0)
				return cli_usage(c,
				    "bad --threads '%s': expected a number "
				    "from 1 to %d",
				    optarg, CLI_THREADS_MAX);
			c->threads = (int)v;
			break;
		}
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	if (c->nargs < c->cmd->min_args)
		return cli_usage(
		    c, "missing %s", c->nargs == 0 ? "STORE" : "operand");
	if (c->cmd->max_args >= 0 && c->nargs > c->cmd->max_args)
		return cli_usage(c, "too many operands");
	c->store = c->nargs > 0 ? c->args[0] : "";
	if (c->hex && c->escaped)
		return cli_usage(c, "--hex and --escaped exclude each other");
	if (c->make_set && (c->cmd->opts & CLI_O_CREATE) && !c->create)
		return cli_usage(c, "creation options need --create");
	if (c->make.fixed && c->value_ser_set)
		return cli_usage(c, "fixed-length stores hold raw bytes: "
		                    "no --value-serializer");
	if (c->n_keep > 0 && !c->have_older)
		return cli_usage(c, "--keep needs --older-than");
	return 0;
}

/* Run one command; the exit status is 0, 1 (missing key, problems found),
 * 3 (the store is held) or 2 (usage or any other error). */
int
main(int argc, char **argv)
{
	struct cli c;
	size_t i;
	int rc;

	/* blt map's workers are blt run again. */
	if ((rc = blt_map_worker_main(argc, argv)) >= 0)
		return rc;
	/* past a file size limit (ulimit -f) a write fails with EFBIG, which
	 * is reported and leaves the store sound, where the signal would
	 * kill blt in the middle of it */
	signal(SIGXFSZ, SIG_IGN);
	if (argc < 2) {
		cli_help_all(stderr);
		return CLI_ERROR;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    (strcmp(argv[1], "help") == 0 && argc == 2)) {
		cli_help_all(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("blt (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return CLI_OK;
	}
	memset(&c, 0, sizeof c);
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
		if (strcmp(argv[1], cli_cmds[i].name) == 0 ||
		    (strcmp(argv[1], "help") == 0 &&
		        strcmp(argv[2], cli_cmds[i].name) == 0))
			c.cmd = &cli_cmds[i];
	if (c.cmd == NULL) {
		fprintf(stderr, "blt: unknown command '%s'\n",
		    strcmp(argv[1], "help") == 0 ? argv[2] : argv[1]);
		fprintf(stderr, "Try 'blt --help'.\n");
		return CLI_ERROR;
	}
	if (strcmp(argv[1], "help") == 0) {
		cli_help(stdout, c.cmd);
		return CLI_OK;
	}
	blt_options_default(&c.make);
	c.timeout = 0; /* a held store fails at once: never wait unseen */
	if (c.cmd->run == cli_map) { /* it parses its own options */
		c.args = argv + 2;
		c.nargs = argc - 2;
		rc = c.cmd->run(&c);
	} else if ((rc = cli_getopt(&c, argc - 1, argv + 1)) == 0)
		rc = c.cmd->run(&c);
	else if (rc < 0)
		rc = CLI_OK;
	if (c.db != NULL) {
		int crc = blt_close(c.db);

		if (crc < 0 && rc == CLI_OK)
			rc = cli_fail(c.store, crc);
	}
	free(c.keep);
	return rc;
}
