/*
 * bltfs ctl: send one command to a mount and, with --wait, follow the job
 * it started to its end (bltfs(1), CONTROL INTERFACE); following it is
 * client-job.c's, and unmount is client-unmount.c's.
 *
 * The path given may be anywhere in the mount: client_open() climbs to the
 * root of the mount that holds it and makes sure that is bltfs (a FUSE file
 * system whose status ioctl answers, or whose status file is bltfs's),
 * since any other file system also fails our ioctls with ENOTTY and any
 * directory may hold files named like the control files.  The command goes
 * by ioctl (bltfs.h) on the mount's root, or, where the kernel passes no
 * ioctls, through the control file.  Paths the daemon
 * cannot resolve itself are made absolute here: plugins, --keys files,
 * output stores and --cwd (the daemon runs elsewhere), and paths inside
 * the mount, which the daemon takes relative to the mount's root.  A map
 * gets our working directory as its --cwd unless one is given, so that its
 * commands run where the user is, and one with --out gets our umask, for
 * the store it makes.  A --keys list the daemon would not read
 * (standard input, a pipe, a FIFO) is copied into a file for it, which is
 * removed once the command is answered: the daemon has it open by then,
 * and reads it when the job starts.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bltfs.h"
#include "client-int.h"
#include "bltutil.h"

/* statfs(2) f_type of a FUSE file system (linux/magic.h) */
#define CLIENT_FUSE_MAGIC 0x65735546

/* The usage, on stdout when asked for (why is NULL: --help), else on
 * stderr after why; returns CLIENT_USAGE. */
static int
client_usage(const char *why)
{
	FILE *f = why == NULL ? stdout : stderr;

	if (why != NULL)
		fprintf(stderr, "bltfs ctl: %s\n", why);
	fprintf(f,
	    "usage: bltfs ctl MOUNT COMMAND [ARGS...] [--wait] [--json] "
	    "[--ctl NAME]\n"
	    "  (the options of bltfs ctl may come anywhere before a --; what "
	    "follows it\n"
	    "  is the command's)\n"
	    "commands:\n"
	    "  prune [--older-than TIME] [--keep PATH]...\n"
	    "  reindex [--buckets N]\n"
	    "  sync              (--wait: until all closed is durable)\n"
	    "  map (--exec CMD | --plugin LIB.so:SYMBOL | --worker CMD)\n"
	    "      [--launcher PREFIX] [--hosts H1,H2:N] [--item-timeout S]\n"
	    "      [--start-timeout S] [--reply-timeout S] [--decode]\n"
	    "      [--keys FILE]\n"
	    "      [--to TEMPLATE] [--out STORE] [--workers N] [--cwd DIR]\n"
	    "      [PATH...]\n"
	    "  cancel ID\n"
	    "  status            sum up the store and its jobs (--json: "
	    "the JSON)\n"
	    "  job ID            print a job's JSON (with --wait: at its "
	    "end)\n"
	    "  unmount           unmount, and return once the store is "
	    "closed\n");
	return CLIENT_USAGE;
}

int
client_put(struct client_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (p == NULL)
			return -1;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

/* Append word in single quotes, as the daemon splits commands like sh. */
static int
client_word(struct client_buf *b, const char *w)
{
	if (b->len > 0 && client_put(b, " ", 1) < 0)
		return -1;
	/* plain words stay plain, so that jobs/ID shows them as typed */
	if (*w != '\0' &&
	    strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	              "opqrstuvwxyz0123456789_./:=@%+,{}-") == strlen(w))
		return client_put(b, w, strlen(w));
	if (client_put(b, "'", 1) < 0)
		return -1;
	for (; *w != '\0'; w++)
		if (*w == '\'' ? client_put(b, "'\\''", 4) < 0
		               : client_put(b, w, 1) < 0)
			return -1;
	return client_put(b, "'", 1);
}

/* path made absolute, lexically (it need not exist). */
static int
client_abs(const char *path, char *out, size_t cap)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, cap, "%s", path) < (int)cap ? 0 : -1;
	if (getcwd(cwd, sizeof cwd) == NULL)
		return -1;
	return snprintf(out, cap, "%s/%s", cwd, path) < (int)cap ? 0 : -1;
}

/* path made absolute with the symbolic links and dot-dots of its directory
 * resolved, so that it compares with the root; lexically where that
 * directory does not exist.  The last name is kept, link or not. */
int
client_resolve(const char *path, char *out, size_t cap)
{
	char dir[PATH_MAX], real[PATH_MAX], *base;
	const char *parent;
	size_t n = strlen(path);
	int len;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof dir)
		return client_abs(path, out, cap);
	memcpy(dir, path, n);
	dir[n] = '\0';
	base = strrchr(dir, '/');
	base = base == NULL ? dir : base + 1;
	if (*base == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0) {
		/* "/", "." or "..": nothing to keep */
		if (realpath(dir, real) == NULL)
			return client_abs(path, out, cap);
		len = snprintf(out, cap, "%s", real);
		return len < (int)cap ? 0 : -1;
	}
	if (base == dir)
		parent = ".";
	else if (base == dir + 1)
		parent = "/";
	else {
		base[-1] = '\0';
		parent = dir;
	}
	if (realpath(parent, real) == NULL)
		return client_abs(path, out, cap);
	len = snprintf(
	    out, cap, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
	return len < (int)cap ? 0 : -1;
}

/* A path in the mount: relative to the root of the store's tree if it
 * lies below the mount's root, else as given (already relative to it). */
static const char *
client_in_mount(struct client *c, const char *path, char *tmp, size_t cap)
{
	size_t n = strlen(c->root), u = strlen(c->under), r;

	if (client_resolve(path, tmp, cap) < 0)
		return path;
	if (strncmp(tmp, c->root, n) != 0 || (tmp[n] != '/' && tmp[n] != '\0'))
		return path;
	r = strlen(tmp + n);
	if (u + r >= cap)
		return path;
	memmove(tmp + u, tmp + n, r + 1);
	memcpy(tmp, c->under, u);
	return tmp[0] == '\0' ? "/" : tmp;
}

/* The options of the commands that take a value, as the daemon parses
 * them (ctl-cmd.c): the word after one given alone is its value, whatever
 * it looks like.  First those that name files the daemon opens itself,
 * which are made absolute; last --keep, which may be repeated. */
static const char *const client_valued[] = {"--keys", "--out", "--plugin",
    "--cwd", "--exec", "--to", "--workers", "--older-than", "--buckets",
    "--umask", "--worker", "--launcher", "--hosts", "--item-timeout",
    "--start-timeout", "--reply-timeout", "--keep"};
#define CLIENT_N_LOCAL 4 /* the files, first in client_valued[] */
#define CLIENT_N_VALUED (sizeof client_valued / sizeof *client_valued)
#define CLIENT_KEEP (CLIENT_N_VALUED - 1)

/* Which of client_valued[] w is, as --opt or as --opt=VALUE, or -1.  The
 * length of its name goes into *n, and *eq points at its '=' or is NULL. */
static int
client_valued_opt(const char *w, size_t *n, const char **eq)
{
	*eq = w[0] == '-' ? strchr(w, '=') : NULL;
	*n = *eq != NULL ? (size_t)(*eq - w) : strlen(w);
	for (size_t i = 0; i < CLIENT_N_VALUED; i++)
		if (strlen(client_valued[i]) == *n &&
		    strncmp(w, client_valued[i], *n) == 0)
			return (int)i;
	return -1;
}

/* Does argv (before any "--") give option name, alone or as name=...?  The
 * values of options are not options. */
static int
client_has_opt(int argc, char **argv, const char *name)
{
	const char *eq;
	size_t n = strlen(name), len;

	for (int a = 1; a < argc && strcmp(argv[a], "--") != 0; a++) {
		if (strncmp(argv[a], name, n) == 0 &&
		    (argv[a][n] == '\0' || argv[a][n] == '='))
			return 1;
		if (client_valued_opt(argv[a], &len, &eq) >= 0 && eq == NULL)
			a++;
	}
	return 0;
}

void
client_path(struct client *c, char *out, size_t cap, const char *rest)
{
	snprintf(out, cap, "%s/%s/%s", c->top, c->ctl, rest);
}

/* The user who mounted, whom the status file names as its owner, into
 * *uid: 0, or -1 where it cannot be seen. */
static int
client_owner(struct client *c, uid_t *uid)
{
	char path[PATH_MAX + 300];
	struct stat st;

	client_path(c, path, sizeof path, "status");
	if (stat(path, &st) == -1)
		return -1;
	*uid = st.st_uid;
	return 0;
}

/* The copy of a --keys FILE that the daemon could not read itself (see
 * client_keys_copy()), or "".  Its name is needed only until the daemon
 * has opened it, which it does before it replies to the command.
 * Meanwhile the signals that would end us wait, so that it is always
 * removed. */
static char client_keys_tmp[PATH_MAX];
static sigset_t client_keys_mask;

/* Remove the copy of --keys, if any, and let the signals in again. */
static void
client_keys_remove(void)
{
	if (client_keys_tmp[0] == '\0')
		return;
	unlink(client_keys_tmp);
	client_keys_tmp[0] = '\0';
	sigprocmask(SIG_SETMASK, &client_keys_mask, NULL);
}

/* Must --keys FILE be copied for the daemon?  Standard input ("-"), and
 * what the daemon must not or cannot open itself: what is neither a
 * regular file nor a directory (a pipe, as bash's <(cmd) makes, a FIFO, a
 * terminal), which it refuses, and names under /dev and /proc, which are
 * our own files there (/dev/stdin, /dev/fd/N, /proc/self/...) but the
 * daemon's in the daemon. */
static int
client_keys_local(const char *file)
{
	char real[PATH_MAX];
	struct stat st;

	if (strcmp(file, "-") == 0)
		return 1;
	if (client_resolve(file, real, sizeof real) == 0 &&
	    (strncmp(real, "/dev/", 5) == 0 || strncmp(real, "/proc/", 6) == 0))
		return 1;
	return stat(file, &st) == 0 && !S_ISREG(st.st_mode) &&
	       !S_ISDIR(st.st_mode);
}

/* Read --keys FILE ("-" for standard input) into b, each line bounded as
 * the daemon bounds it, so that an endless one (/dev/zero) ends here.
 * Read before the copy is made: reading may wait (for a FIFO's writer, a
 * user at a terminal), and a signal may end it.  0, or -1 with a
 * message. */
static int
client_keys_read(const char *file, struct client_buf *b)
{
	char buf[65536];
	size_t line = 0, no = 1;
	ssize_t n;
	int in;

	if ((in = strcmp(file, "-") == 0
	              ? dup(0)
	              : open(file, O_RDONLY | O_NOCTTY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "bltfs ctl: map: --keys %s: %s\n", file,
		    strerror(errno));
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || client_put(b, buf, (size_t)n) < 0) {
			fprintf(stderr, "bltfs ctl: map: --keys %s: %s\n", file,
			    n < 0 ? strerror(errno) : "out of memory");
			close(in);
			return -1;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n') {
				line = 0;
				no++;
			} else if (++line == PATH_MAX) {
				fprintf(stderr,
				    "bltfs ctl: map: --keys %s, line %zu: "
				    "longer than %d bytes, which no path is\n",
				    file, no, PATH_MAX - 1);
				close(in);
				return -1;
			}
	}
	close(in);
	return 0;
}

/* Copy --keys FILE ("-" for standard input) into a new file in $TMPDIR
 * (or /tmp), client_keys_tmp, that only the daemon's user may read: us,
 * or the user who mounted when root sends the command.  0, or -1 with a
 * message. */
static int
client_keys_copy(struct client *c, const char *file)
{
	const char *dir = getenv("TMPDIR");
	struct client_buf b = {0};
	sigset_t block;
	uid_t owner;
	ssize_t w = 0;
	int fd, err = 0;

	if (client_keys_read(file, &b) < 0) {
		free(b.s);
		return -1;
	}
	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	if (snprintf(client_keys_tmp, sizeof client_keys_tmp,
	        "%s/bltfs-keys.XXXXXX", dir) >= (int)sizeof client_keys_tmp) {
		client_keys_tmp[0] = '\0';
		fprintf(stderr, "bltfs ctl: map: --keys %s: a copy in %s: %s\n",
		    file, dir, strerror(ENAMETOOLONG));
		free(b.s);
		return -1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &client_keys_mask);
	if ((fd = mkostemp(client_keys_tmp, O_CLOEXEC)) == -1) {
		fprintf(stderr, "bltfs ctl: map: --keys %s: a copy in %s: %s\n",
		    file, dir, strerror(errno));
		client_keys_tmp[0] = '\0';
		sigprocmask(SIG_SETMASK, &client_keys_mask, NULL);
		free(b.s);
		return -1;
	}
	if (client_owner(c, &owner) == 0 && owner != geteuid() &&
	    fchown(fd, owner, (gid_t)-1) == -1)
		err = errno;
	for (size_t o = 0; err == 0 && o < b.len; o += (size_t)w)
		if ((w = write(fd, b.s + o, b.len - o)) < 0)
			err = errno;
	if (close(fd) == -1 && err == 0)
		err = errno;
	free(b.s);
	if (err != 0) {
		fprintf(stderr,
		    "bltfs ctl: map: --keys %s: copying it to %s: %s\n", file,
		    client_keys_tmp, strerror(err));
		client_keys_remove();
		return -1;
	}
	return 0;
}

/* Build the command text from argv, making paths fit for the daemon.  A
 * map runs its commands where we run unless --cwd says otherwise.  After
 * "--", every word is a path (the daemon's grammar: ctl-cmd.c).  0, or
 * the exit status with a message (a usage error for an option that takes
 * one value given twice). */
static int
client_command(struct client *c, int argc, char **argv, struct client_buf *b)
{
	char tmp[PATH_MAX + 64], val[PATH_MAX + 64];
	const char *v, *eq;
	int map = strcmp(argv[0], "map") == 0, rest = 0, opt;
	unsigned seen = 0, bit; /* client_valued[] given so far */
	size_t n;

	if (client_word(b, argv[0]) < 0)
		goto oom;
	if (map && !client_has_opt(argc, argv, "--cwd")) {
		if (getcwd(val, sizeof val) == NULL) {
			fprintf(stderr,
			    "bltfs ctl: map: the current directory, where "
			    "its commands run: %s (give --cwd DIR)\n",
			    strerror(errno));
			return CLIENT_REFUSED;
		}
		if (client_word(b, "--cwd") < 0 || client_word(b, val) < 0)
			goto oom;
	}
	if (map && client_has_opt(argc, argv, "--out") &&
	    !client_has_opt(argc, argv, "--umask")) {
		/* the store --out makes is made as we would make it */
		mode_t mask = umask(0);

		umask(mask);
		snprintf(val, sizeof val, "%04o", (unsigned)mask);
		if (client_word(b, "--umask") < 0 || client_word(b, val) < 0)
			goto oom;
	}
	for (int a = 1; a < argc; a++) {
		const char *w = argv[a];

		opt = rest ? -1 : client_valued_opt(w, &n, &eq);
		if (opt < 0) {
			if (!rest && strcmp(w, "--") == 0)
				rest = 1;
			else if (map &&
			         (rest || w[0] != '-' || strcmp(w, "-") == 0))
				w = client_in_mount(c, w, tmp, sizeof tmp);
			if (client_word(b, w) < 0)
				goto oom;
			continue;
		}
		bit = (size_t)opt == CLIENT_KEEP ? 0 : 1u << opt;
		if (seen & bit) {
			snprintf(val, sizeof val,
			    "%s: %.*s given more than once", argv[0], (int)n,
			    w);
			return client_usage(val);
		}
		seen |= bit;
		if (eq != NULL)
			v = eq + 1;
		else if (a + 1 < argc)
			v = argv[++a];
		else
			v = NULL;
		if (client_word(b, client_valued[opt]) < 0)
			goto oom;
		if (v == NULL)
			continue; /* the daemon says what is missing */
		if (opt < CLIENT_N_LOCAL &&
		    strcmp(client_valued[opt], "--keys") == 0 &&
		    client_keys_local(v)) {
			if (client_keys_copy(c, v) < 0)
				return CLIENT_REFUSED;
			v = client_keys_tmp;
		} else if (opt < CLIENT_N_LOCAL &&
		           /* a plugin without a '/' is for dlopen to find */
		           (strchr(v, '/') != NULL ||
		               strcmp(client_valued[opt], "--plugin") != 0) &&
		           client_abs(v, val, sizeof val) == 0)
			v = val;
		else if ((size_t)opt == CLIENT_KEEP)
			v = client_in_mount(c, v, val, sizeof val);
		if (client_word(b, v) < 0)
			goto oom;
	}
	return 0;
oom:
	fprintf(stderr, "bltfs ctl: out of memory\n");
	return CLIENT_REFUSED;
}

/* Read all of path; NULL with errno set. */
char *
client_slurp(const char *path)
{
	struct client_buf b = {0};
	char chunk[4096];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (client_put(&b, chunk, (size_t)n) < 0) {
			n = -1;
			break;
		}
	close(fd);
	if (n < 0 || (b.s == NULL && client_put(&b, "", 0) < 0)) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Send text; fill *cmd with the reply.  Returns 0 or the errno. */
static int
client_send(struct client *c, const char *text, struct bltfs_cmd *cmd)
{
	char path[PATH_MAX + 300];
	ssize_t n;
	int fd, err = 0;

	memset(cmd, 0, sizeof *cmd);
	if (strlen(text) >= sizeof cmd->text) {
		snprintf(cmd->text, sizeof cmd->text,
		    "error: a command of more than %zu bytes\n",
		    sizeof cmd->text - 1);
		return E2BIG;
	}
	if (!c->use_file) {
		strcpy(cmd->text, text);
		if (ioctl(c->fd, BLTFS_IOC_CMD, cmd) == 0)
			return 0;
		err = errno;
		if (cmd->text[0] != '\0' && strcmp(cmd->text, text) != 0)
			return err; /* the daemon refused, and said why */
		if (err != ENOTTY && err != ENOSYS)
			return err;
		c->use_file = 1;
		memset(cmd, 0, sizeof *cmd);
	}
	client_path(c, path, sizeof path, "ctl");
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return errno;
	if (write(fd, text, strlen(text)) == -1)
		err = errno;
	n = read(fd, cmd->text, sizeof cmd->text - 1);
	close(fd);
	if (n < 0)
		return err ? err : errno;
	cmd->text[n] = '\0';
	if (err == 0)
		sscanf(cmd->text, "job %" SCNu64, &cmd->job);
	return err;
}

/* The root of the mount that holds real (a resolved path): the highest
 * directory above it on the same device, "" for "/".  Returns 0 or the
 * errno. */
static int
client_root(const char *real, char *root, size_t cap)
{
	struct stat st, up;
	char *slash;

	if (snprintf(root, cap, "%s", real) >= (int)cap)
		return ENAMETOOLONG;
	if (stat(root, &st) == -1)
		return errno;
	while (root[0] != '\0' && (slash = strrchr(root, '/')) != NULL) {
		*slash = '\0';
		/* a parent we may not stat is above the mount too */
		if (stat(root[0] == '\0' ? "/" : root, &up) == -1 ||
		    up.st_dev != st.st_dev) {
			*slash = '/';
			break;
		}
	}
	return 0;
}

/* Which directory of the store's tree c->root shows, into c->under, and
 * where its control directory is, into c->top.  A bind mount of one of the
 * mount's directories shows that directory at its root: paths below it
 * are the daemon's below that directory, and the control directory, which
 * only the root of the tree has, is reached through a mount of the whole
 * (the mount itself, if this namespace sees it).  Without the table of
 * mounts, the root is taken for the tree's. */
static void
client_bind_root(struct client *c)
{
	const struct mountinfo_entry *m, *whole;
	struct mountinfo *mi;

	c->under[0] = '\0';
	snprintf(c->top, sizeof c->top, "%s", c->root);
	if (mountinfo_read(&mi) < 0)
		return;
	m = mountinfo_find(mi, c->root[0] == '\0' ? "/" : c->root);
	if (m != NULL && strcmp(m->root, "/") != 0) {
		snprintf(c->under, sizeof c->under, "%s", m->root);
		if ((whole = mountinfo_whole(mi, m->dev)) != NULL)
			snprintf(c->top, sizeof c->top, "%s",
			    strcmp(whole->point, "/") == 0 ? "" : whole->point);
	}
	mountinfo_free(mi);
}

/* The mount's status file, parsed into *v: 0, or an errno (EBADMSG where
 * it is not JSON). */
int
client_status(struct client *c, struct json **v)
{
	char path[PATH_MAX + 300], *text;
	int rc;

	client_path(c, path, sizeof path, "status");
	if ((text = client_slurp(path)) == NULL)
		return errno;
	rc = json_parse(text, strlen(text), 0, v) == 0 ? 0 : EBADMSG;
	free(text);
	return rc;
}

/* Whether the mount's status file is bltfs's: a directory of another file
 * system may hold files of the same names. */
static int
client_is_bltfs(struct client *c)
{
	const struct json *ctl;
	struct json *v;
	int ok;

	if (client_status(c, &v) != 0)
		return 0;
	ctl = json_get(json_get(v, "options"), "ctl");
	ok = v->type == JSON_OBJECT && json_get(v, "store") != NULL &&
	     json_get(v, "store")->type == JSON_STRING &&
	     json_get(v, "version") != NULL &&
	     json_get(v, "version")->type == JSON_NUMBER && ctl != NULL &&
	     ctl->type == JSON_STRING && strcmp(ctl->str, c->ctl) == 0;
	json_free(v);
	return ok;
}

/* The daemon refused us its status: only the user who mounted the store,
 * whom the status file names as its owner, and root may see it or run
 * commands.  Returns -1. */
static int
client_refused(struct client *c)
{
	uid_t owner;

	if (c->ctl[0] == '\0')
		strcpy(c->ctl, BLTFS_CTL_NAME);
	fprintf(stderr, "bltfs ctl: %s: only the user who mounted the store",
	    c->mount);
	if (client_owner(c, &owner) == 0)
		fprintf(stderr, " (uid %u)", (unsigned)owner);
	fprintf(stderr, " or root may use its control interface\n");
	return -1;
}

/* Open the root of the mount that holds c->mount, make sure it is bltfs,
 * and learn its control directory's name. */
static int
client_open(struct client *c)
{
	struct bltfs_status st;
	struct statfs sf;
	char real[PATH_MAX];
	int err;

	if (realpath(c->mount, real) == NULL)
		err = errno;
	else
		err = client_root(real, c->root, sizeof c->root);
	if (err == 0 && (c->fd = open(c->root[0] == '\0' ? "/" : c->root,
	                     O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		err = errno;
	if (err == 0 && fstatfs(c->fd, &sf) == -1)
		err = errno;
	if (err != 0) {
		fprintf(stderr, "bltfs ctl: %s: %s\n", c->mount, strerror(err));
		return -1;
	}
	if (sf.f_type != CLIENT_FUSE_MAGIC)
		goto not_bltfs;
	client_bind_root(c);
	memset(&st, 0, sizeof st);
	if (ioctl(c->fd, BLTFS_IOC_STATUS, &st) == 0) {
		if (c->ctl[0] == '\0')
			snprintf(c->ctl, sizeof c->ctl, "%s", st.ctl);
		return 0;
	}
	if (errno == ENOTTY || errno == ENOSYS) {
		c->use_file = 1;
		if (c->ctl[0] == '\0')
			strcpy(c->ctl, BLTFS_CTL_NAME);
		if (client_is_bltfs(c))
			return 0;
		goto not_bltfs;
	}
	if (errno == EPERM)
		return client_refused(c);
	fprintf(stderr, "bltfs ctl: %s: not a bltfs mount? %s\n", c->mount,
	    strerror(errno));
	return -1;
not_bltfs:
	fprintf(stderr, "bltfs ctl: %s: not a bltfs mount\n", c->mount);
	return -1;
}

/* Sort argv into our options, which go into c, and the words of the
 * mount and the command, which go into words[*n]: ours are taken anywhere
 * an option may be, but never after "--" nor as the value of one of the
 * command's options, where they are the command's (map -- --wait names a
 * file --wait).  A "--" ends ours; one after the command word goes on to
 * the command, where it ends its options too.  CLIENT_OK (with c->help
 * set, the usage was printed), or CLIENT_USAGE after a message. */
static int
client_options(struct client *c, int argc, char **argv, char **words, int *n)
{
	const char *w, *v, *eq;
	int rest = 0, have_ctl = 0;
	size_t len;

	for (int a = 1; a < argc; a++) {
		w = argv[a];
		if (rest) {
			words[(*n)++] = argv[a];
		} else if (strcmp(w, "--") == 0) {
			rest = 1;
			if (*n >= 2)
				words[(*n)++] = argv[a];
		} else if (*n >= 2 && client_valued_opt(w, &len, &eq) >= 0 &&
		           eq == NULL) {
			words[(*n)++] = argv[a];
			if (a + 1 < argc)
				words[(*n)++] = argv[++a];
		} else if (strcmp(w, "--wait") == 0) {
			c->wait = 1;
		} else if (strcmp(w, "--json") == 0) {
			c->json = 1;
		} else if (strncmp(w, "--ctl", 5) == 0 &&
		           (w[5] == '\0' || w[5] == '=')) {
			if (have_ctl++)
				return client_usage(
				    "--ctl given more than once");
			if (w[5] == '=')
				v = w + 6;
			else if (a + 1 < argc)
				v = argv[++a];
			else
				v = "";
			if (*v == '\0' || strchr(v, '/') != NULL ||
			    strlen(v) >= sizeof c->ctl)
				return client_usage(
				    "--ctl needs the name of the "
				    "control directory");
			snprintf(c->ctl, sizeof c->ctl, "%s", v);
		} else if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
			c->help = 1;
			client_usage(NULL);
			return CLIENT_OK;
		} else
			words[(*n)++] = argv[a];
	}
	return CLIENT_OK;
}

/* bltfs ctl: see bltfs(1). */
int
client_main(int argc, char **argv)
{
	struct client c;
	struct client_buf text = {0};
	struct bltfs_cmd cmd;
	struct bltfs_job j;
	char **words, name[32];
	int n = 0, err, status = CLIENT_OK;
	uint64_t id = 0;

	memset(&c, 0, sizeof c);
	c.fd = -1;
	if ((words = calloc((size_t)argc + 1, sizeof *words)) == NULL)
		return CLIENT_REFUSED;
	if ((status = client_options(&c, argc, argv, words, &n)) != CLIENT_OK ||
	    c.help) {
		free(words);
		return status;
	}
	if (n < 2) {
		free(words);
		return client_usage("give a mount point and a command");
	}
	c.mount = words[0];
	/* a mount whose daemon has ended cannot be opened, only unmounted */
	if (n == 2 && strcmp(words[1], "unmount") == 0 &&
	    (err = client_unmount_gone(c.mount)) >= 0) {
		status = err;
		goto out;
	}
	if (client_open(&c) < 0) {
		status = CLIENT_REFUSED;
		goto out;
	}
	if (strcmp(words[1], "status") == 0) {
		status = n != 2   ? client_usage("status takes no arguments")
		         : c.json ? client_print_file(&c, "status")
		                  : client_status_print(&c);
		goto out;
	}
	if (strcmp(words[1], "unmount") == 0) {
		status = n == 2 ? client_unmount(&c)
		                : client_usage("unmount takes no arguments");
		goto out;
	}
	if (strcmp(words[1], "job") == 0) {
		c.json = 1;
		if (n != 3 || sscanf(words[2], "%" SCNu64, &id) != 1) {
			status = client_usage("job takes one job number");
			goto out;
		}
	} else {
		if ((status = client_command(&c, n - 1, words + 1, &text)) !=
		    CLIENT_OK)
			goto out;
		err = client_send(&c, text.s, &cmd);
		client_keys_remove(); /* open in the daemon by now */
		if (err != 0) {
			/* the daemon knows its commands, not ours (status,
			 * job, unmount): the usage lists them all */
			if (strncmp(cmd.text, "error: unknown command ", 23) ==
			    0) {
				char why[96];

				snprintf(why, sizeof why,
				    "unknown command '%.40s'", words[1]);
				status = client_usage(why);
				goto out;
			}
			if (strncmp(cmd.text, "error: ", 7) == 0)
				fprintf(stderr, "bltfs ctl: %s", cmd.text + 7);
			else
				fprintf(stderr, "bltfs ctl: %s: %s\n", c.mount,
				    strerror(err));
			status = CLIENT_REFUSED;
			goto out;
		}
		id = cmd.job;
		if (id == 0 && strcmp(words[1], "cancel") == 0 && n == 3)
			sscanf(words[2], "%" SCNu64, &id);
		/* flushed: --wait's progress goes to stderr, and a log of
		 * both streams names the job before it */
		if (!c.json) {
			fputs(cmd.text, stdout);
			fflush(stdout);
		}
	}
	if (id == 0)
		goto out;
	if (c.wait)
		status = client_wait(&c, id, &j);
	else if ((err = client_job(&c, id, &j)) != 0) {
		fprintf(stderr, "bltfs ctl: job %" PRIu64 ": %s\n", id,
		    strerror(err));
		status = CLIENT_REFUSED;
	}
	if (status == CLIENT_OK && c.json) {
		snprintf(name, sizeof name, "jobs/%" PRIu64, id);
		status = client_print_file(&c, name);
	}
	if (status == CLIENT_OK && c.wait)
		status = client_status_of(&c, &j);
out:
	client_keys_remove();
	if (c.fd != -1)
		close(c.fd);
	free(text.s);
	free(words);
	return status;
}
