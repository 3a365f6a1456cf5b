/*
 * The commands of the control interface, whichever way they come: a write
 * to the ctl file or the BLTFS_IOC_CMD ioctl (ctl.c and ctl-ioctl.c carry
 * them).  A command is one line split into words as sh(1) would; prune,
 * reindex, map and sync become a job_spec for the job runner (job.c),
 * cancel stops one.  Paths in commands are paths of the mount, resolved
 * through the directory index (resolve.c).  The status replies are made
 * here too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bltfs.h"
#include "indexer.h"
#include "ctl-int.h"
#include "ops.h"
#include "bltutil.h"

#define CTL_MAX_ARGS 256 /* words in one command */

struct ctl_args {
	char *v[CTL_MAX_ARGS];
	int n;
	char *buf;
};

static void
ctl_args_free(struct ctl_args *a)
{
	free(a->buf);
}

/* Split a command into words as sh(1) would: blanks separate them, and
 * single quotes, double quotes and backslashes quote. */
static int
ctl_split(const char *text, struct ctl_args *a)
{
	const char *p = text;
	char *o;

	memset(a, 0, sizeof *a);
	if ((a->buf = malloc(strlen(text) + 1)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	o = a->buf;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '\n')
			break;
		if (a->n == CTL_MAX_ARGS)
			return blt_errmsg_set(
			    -E2BIG, "more than %d words", CTL_MAX_ARGS);
		a->v[a->n++] = o;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'') {
				for (p++; *p != '\'' && *p != '\0'; p++)
					*o++ = *p;
				if (*p++ != '\'')
					return blt_errmsg_set(-EINVAL,
					    "a quote (') is not closed");
			} else if (*p == '"') {
				for (p++; *p != '"' && *p != '\0'; p++) {
					if (*p == '\\' && p[1] != '\0' &&
					    strchr("\"\\$`", p[1]) != NULL)
						p++;
					*o++ = *p;
				}
				if (*p++ != '"')
					return blt_errmsg_set(-EINVAL,
					    "a quote (\") is not closed");
			} else if (*p == '\\' && p[1] != '\0') {
				*o++ = p[1];
				p += 2;
			} else
				*o++ = *p++;
		}
		*o++ = '\0';
	}
	while (*p == '\n')
		p++;
	if (*p != '\0')
		return blt_errmsg_set(
		    -EINVAL, "one command per write: a second line follows");
	if (a->n == 0)
		return blt_errmsg_set(-EINVAL,
		    "no command: give prune, reindex, sync, map or cancel");
	return 0;
}

/* The value of option a->v[*i] (as --opt VALUE or --opt=VALUE), or NULL
 * with a message if it has none. */
static const char *
ctl_optarg(struct ctl_args *a, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *w = a->v[*i];

	if (strncmp(w, name, n) == 0 && w[n] == '=')
		return w + n + 1;
	if (*i + 1 >= a->n) {
		blt_errmsg_set(-EINVAL, "%s: %s needs a value", a->v[0], name);
		return NULL;
	}
	return a->v[++*i];
}

/* Is a->v[i] the option name (alone or as name=...)? */
static int
ctl_is_opt(struct ctl_args *a, int i, const char *name)
{
	size_t n = strlen(name);

	return strncmp(a->v[i], name, n) == 0 &&
	       (a->v[i][n] == '\0' || a->v[i][n] == '=');
}

static int
ctl_dup(char **dst, const char *s)
{
	free(*dst);
	if ((*dst = strdup(s)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	return 0;
}

/* The value of option name of map, an absolute path, into *dst; mi is the
 * table of mounts, or NULL. */
static int
ctl_abs_path(struct fs *fs, const struct mountinfo *mi, struct ctl_args *a,
    int *i, const char *name, char **dst)
{
	const char *v;
	int rc;

	if ((v = ctl_optarg(a, i, name)) == NULL)
		return -EINVAL;
	if (v[0] != '/')
		return blt_errmsg_set(-EINVAL,
		    "map: %s %s: give an absolute path (bltfs ctl makes one)",
		    name, v);
	free(*dst);
	*dst = NULL;
	if ((rc = resolve_real_path(fs, mi, v, dst)) < 0)
		return blt_errmsg_set(rc, "map: %s %s: %s", name, v,
		    rc == -ENOMEM ? "out of memory" : strerror(-rc));
	return 0;
}

/* Can a map's workers run in dir (--cwd)?  Checked as they will enter it,
 * as the daemon's user, so that the command is refused, naming dir and
 * why, rather than the job failing once it starts.  A directory of this
 * mount is looked up in the index: a stat would wait for this daemon to
 * answer it, with no thread left to do so under -o max_threads=1. */
static int
ctl_check_cwd(struct fs *fs, const struct mountinfo *mi, const char *dir)
{
	char place[PATH_MAX];
	struct inode_info in;
	struct stat st;
	int rc = 0, inside;

	if ((inside = resolve_place(fs, mi, dir, place)) < 0)
		rc = inside;
	else if (inside) {
		if (resolve_in_ctl_dir(fs, place))
			return blt_errmsg_set(-EINVAL,
			    "map: --cwd %s: commands cannot run in the control "
			    "directory",
			    dir);
		if ((rc = resolve_node(fs, place, &in)) == -EINVAL)
			return blt_errmsg_set(rc,
			    "map: --cwd %s: cannot run commands there: %s", dir,
			    blt_errmsg());
		if (rc == 0 && in.type != INODE_DIR)
			rc = -ENOTDIR;
	} else if (stat(dir, &st) == -1)
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	else if (faccessat(AT_FDCWD, dir, X_OK, AT_EACCESS) == -1)
		rc = -errno;
	if (rc < 0)
		return blt_errmsg_set(rc,
		    "map: --cwd %s: cannot run commands there: %s", dir,
		    strerror(-rc));
	return 0;
}

/* Option name of command a takes one value: 0 the first time it is given
 * (*seen is then set), else -EINVAL naming it, rather than one of the two
 * values taken silently. */
static int
ctl_once(struct ctl_args *a, const char *name, int *seen)
{
	if (*seen)
		return blt_errmsg_set(
		    -EINVAL, "%s: %s given more than once", a->v[0], name);
	*seen = 1;
	return 0;
}

static int
ctl_unknown(struct ctl_args *a, int i)
{
	if (a->v[i][0] == '-')
		return blt_errmsg_set(-EINVAL,
		    "%s: unknown option %s (bltfs(1), JOBS)", a->v[0], a->v[i]);
	return blt_errmsg_set(
	    -EINVAL, "%s: unexpected argument '%s'", a->v[0], a->v[i]);
}

static int
ctl_parse_prune(struct fs *fs, struct ctl_args *a, struct job_spec *s)
{
	const char *v, *why;
	int have_older = 0, rc = 0;

	for (int i = 1; i < a->n && rc == 0; i++) {
		if (ctl_is_opt(a, i, "--older-than")) {
			if ((rc = ctl_once(a, "--older-than", &have_older)) < 0)
				break;
			if ((v = ctl_optarg(a, &i, "--older-than")) == NULL)
				return -EINVAL;
			if ((why = timearg_parse(
			         v, TIMEARG_AGE, &s->older_than)) != NULL)
				return blt_errmsg_set(-EINVAL,
				    "prune: --older-than %s: %s", v, why);
		} else if (ctl_is_opt(a, i, "--keep")) {
			if ((v = ctl_optarg(a, &i, "--keep")) == NULL)
				return -EINVAL;
			if ((rc = resolve_select(fs, v, 0, &s->keep)) < 0)
				rc = blt_errmsg_set(
				    rc, "prune: --keep %s", blt_errmsg());
		} else
			rc = ctl_unknown(a, i);
	}
	if (rc == 0 && s->keep.n > 0 && !have_older)
		rc =
		    blt_errmsg_set(-EINVAL, "prune: --keep needs --older-than");
	if (rc == 0 && have_older && s->older_than == 0)
		s->older_than = 1; /* 0 would mean no age limit */
	if (rc == 0 && have_older && !fs->timestamps)
		rc = blt_errmsg_set(-EINVAL,
		    "prune: --older-than: the store keeps no timestamps");
	return rc;
}

static int
ctl_parse_reindex(struct ctl_args *a, struct job_spec *s)
{
	const char *v;
	uint64_t n;
	int seen = 0, rc;

	for (int i = 1; i < a->n; i++) {
		if (!ctl_is_opt(a, i, "--buckets"))
			return ctl_unknown(a, i);
		if ((rc = ctl_once(a, "--buckets", &seen)) < 0)
			return rc;
		if ((v = ctl_optarg(a, &i, "--buckets")) == NULL)
			return -EINVAL;
		/* refused here, before a job starts, as blt_prune() would
		 * refuse it in the job */
		if (timearg_number(v, BLT_BUCKETS_MAX, &n) < 0 || n == 0)
			return blt_errmsg_set(-EINVAL,
			    "reindex: --buckets %s: expected a number from 1 "
			    "to %u, the largest index booklet makes",
			    v, BLT_BUCKETS_MAX);
		s->buckets = (uint32_t)n;
	}
	return 0;
}

/* The value of map --umask, into *out: an octal mask from 0 to 0777, as
 * umask(1) prints it ("0022"). */
static int
ctl_parse_umask(const char *v, int *out)
{
	int m = 0;

	if (*v == '\0' || strlen(v) > 4 || strspn(v, "01234567") != strlen(v))
		return blt_errmsg_set(-EINVAL,
		    "map: --umask %s: expected an octal mask from 0 to 0777",
		    v);
	for (; *v != '\0'; v++)
		m = m * 8 + (*v - '0');
	if (m > 0777)
		return blt_errmsg_set(-EINVAL,
		    "map: --umask %o: expected an octal mask from 0 to 0777",
		    m);
	*out = m;
	return 0;
}

/* map's options of --worker (issue 32), at a->v[*i]; seen[] notes which
 * were given. */
static int
ctl_parse_map_worker(
    struct ctl_args *a, int *i, struct job_spec *s, int seen[7])
{
	static const char *const names[] = {"--worker", "--launcher", "--hosts",
	    "--item-timeout", "--decode", "--start-timeout", "--reply-timeout"};
	char **dst[] = {&s->worker, &s->launcher, &s->hosts};
	const char *v;
	uint64_t n;
	int k = 0, rc;

	while (!ctl_is_opt(a, *i, names[k]))
		k++;
	if ((rc = ctl_once(a, names[k], &seen[k])) < 0)
		return rc;
	if (k == 4) {
		s->decode = 1;
		return 0;
	}
	if ((v = ctl_optarg(a, i, names[k])) == NULL)
		return -EINVAL;
	if (k == 3) {
		if (timearg_number(v, 86400, &n) < 0 || n == 0)
			return blt_errmsg_set(-EINVAL,
			    "map: --item-timeout %s: expected seconds from 1 "
			    "to 86400",
			    v);
		s->item_timeout = (unsigned)n;
		return 0;
	}
	if (k == 5 || k == 6) {
		if (timearg_number(v, 86400, &n) < 0)
			return blt_errmsg_set(-EINVAL,
			    "map: %s %s: expected seconds from 0 (for ever) to "
			    "86400",
			    names[k], v);
		*(k == 5 ? &s->start_timeout : &s->reply_timeout) =
		    n == 0 ? -1 : (int)n;
		return 0;
	}
	if (*v == '\0')
		return blt_errmsg_set(
		    -EINVAL, "map: %s needs a value", names[k]);
	return ctl_dup(dst[k], v);
}

static int
ctl_parse_map(struct fs *fs, struct ctl_args *a, struct job_spec *s)
{
	struct mountinfo *mi;
	const char *v;
	char *keys = NULL;
	uint64_t n;
	int paths = 0, keys_file = 0, rest = 0, rc = 0;
	int have_exec = 0, have_plugin = 0, have_to = 0, have_out = 0;
	int have_cwd = 0, have_workers = 0, have_umask = 0, seen[7] = {0};

	/* Read for each command, as mounts come and go.  Without it, mi is
	 * NULL and only the mount point is known to lead into the mount. */
	(void)mountinfo_read(&mi);

	s->umask = -1;
	for (int i = 1; i < a->n && rc == 0; i++) {
		/* the paths after "--" may look like options */
		if (!rest && strcmp(a->v[i], "--") == 0) {
			rest = 1;
		} else if (rest || a->v[i][0] != '-' ||
		           strcmp(a->v[i], "-") == 0) {
			rc = resolve_select(fs, a->v[i], 1, &s->keys);
			paths = 1;
		} else if (ctl_is_opt(a, i, "--exec")) {
			if ((rc = ctl_once(a, "--exec", &have_exec)) < 0)
				break;
			if ((v = ctl_optarg(a, &i, "--exec")) == NULL)
				rc = -EINVAL;
			else if (*v == '\0')
				rc = blt_errmsg_set(
				    -EINVAL, "map: --exec needs a command");
			else
				rc = ctl_dup(&s->exec, v);
		} else if (ctl_is_opt(a, i, "--plugin")) {
			if ((rc = ctl_once(a, "--plugin", &have_plugin)) < 0)
				break;
			if ((v = ctl_optarg(a, &i, "--plugin")) == NULL)
				rc = -EINVAL;
			else if (strrchr(v, ':') == NULL ||
			         strrchr(v, ':')[1] == '\0')
				rc = blt_errmsg_set(-EINVAL,
				    "map: --plugin %s: expected LIB.so:SYMBOL",
				    v);
			else if (v[0] != '/' && strchr(v, '/') != NULL)
				rc = blt_errmsg_set(-EINVAL,
				    "map: --plugin %s: give an absolute path "
				    "(bltfs ctl makes one)",
				    v);
			else
				rc = ctl_dup(&s->plugin, v);
		} else if (ctl_is_opt(a, i, "--worker") ||
		           ctl_is_opt(a, i, "--launcher") ||
		           ctl_is_opt(a, i, "--hosts") ||
		           ctl_is_opt(a, i, "--item-timeout") ||
		           ctl_is_opt(a, i, "--start-timeout") ||
		           ctl_is_opt(a, i, "--reply-timeout") ||
		           strcmp(a->v[i], "--decode") == 0) {
			rc = ctl_parse_map_worker(a, &i, s, seen);
		} else if (ctl_is_opt(a, i, "--keys")) {
			if ((rc = ctl_once(a, "--keys", &keys_file)) < 0)
				break;
			rc = ctl_abs_path(fs, mi, a, &i, "--keys", &keys);
			if (rc == 0)
				rc = keylist_open(fs, mi, keys, &s->list);
		} else if (ctl_is_opt(a, i, "--to")) {
			if ((rc = ctl_once(a, "--to", &have_to)) < 0)
				break;
			if ((v = ctl_optarg(a, &i, "--to")) == NULL)
				rc = -EINVAL;
			else if (strstr(v, "{key}") == NULL)
				rc = blt_errmsg_set(-EINVAL,
				    "map: --to %s: the template has no {key}",
				    v);
			else
				rc = ctl_dup(&s->to, v);
		} else if (ctl_is_opt(a, i, "--out")) {
			if ((rc = ctl_once(a, "--out", &have_out)) < 0)
				break;
			rc = ctl_abs_path(fs, mi, a, &i, "--out", &s->out);
		} else if (ctl_is_opt(a, i, "--umask")) {
			if ((rc = ctl_once(a, "--umask", &have_umask)) < 0)
				break;
			if ((v = ctl_optarg(a, &i, "--umask")) == NULL)
				rc = -EINVAL;
			else
				rc = ctl_parse_umask(v, &s->umask);
		} else if (ctl_is_opt(a, i, "--cwd")) {
			if ((rc = ctl_once(a, "--cwd", &have_cwd)) < 0)
				break;
			rc = ctl_abs_path(fs, mi, a, &i, "--cwd", &s->cwd);
			if (rc == 0)
				rc = ctl_check_cwd(fs, mi, s->cwd);
		} else if (ctl_is_opt(a, i, "--workers")) {
			if ((rc = ctl_once(a, "--workers", &have_workers)) < 0)
				break;
			if ((v = ctl_optarg(a, &i, "--workers")) == NULL)
				rc = -EINVAL;
			else if (timearg_number(v, 1024, &n) < 0 || n == 0)
				rc = blt_errmsg_set(-EINVAL,
				    "map: --workers %s: expected a number from "
				    "1 to 1024",
				    v);
			else
				s->workers = (unsigned)n;
		} else
			rc = ctl_unknown(a, i);
	}
	if (rc == 0 &&
	    (s->exec != NULL) + (s->plugin != NULL) + (s->worker != NULL) != 1)
		rc = blt_errmsg_set(-EINVAL,
		    "map: give one of --exec CMD, --plugin LIB.so:SYMBOL and "
		    "--worker CMD");
	if (rc == 0 && s->worker == NULL &&
	    (s->launcher != NULL || s->hosts != NULL))
		rc = blt_errmsg_set(
		    -EINVAL, "map: --launcher and --hosts go with --worker");
	if (rc == 0 && s->plugin != NULL && s->item_timeout)
		rc = blt_errmsg_set(-EINVAL,
		    "map: --item-timeout goes with --exec or --worker");
	if (rc == 0 && s->worker == NULL && s->start_timeout != 0)
		rc = blt_errmsg_set(
		    -EINVAL, "map: --start-timeout goes with --worker");
	if (rc == 0 && s->worker == NULL && s->reply_timeout != 0)
		rc = blt_errmsg_set(
		    -EINVAL, "map: --reply-timeout goes with --worker");
	if (rc == 0 && s->plugin != NULL && s->decode)
		rc = blt_errmsg_set(
		    -EINVAL, "map: --decode goes with --exec or --worker");
	if (rc == 0 && s->hosts != NULL && have_workers)
		rc = blt_errmsg_set(-EINVAL,
		    "map: --hosts says how many workers: leave out --workers");
	if (rc == 0 && have_umask && s->out == NULL)
		rc = blt_errmsg_set(-EINVAL,
		    "map: --umask is for the store --out makes: give --out");
	free(keys);
	mountinfo_free(mi);
	if (rc == 0 && !paths && !keys_file)
		rc = resolve_select(fs, "/", 1, &s->keys);
	return rc;
}

/* Run one command for the user uid: fill reply (cap bytes) and *job.
 * Returns 0 or a negative errno; the reply then says what is wrong. */
int
ctl_command(struct fs *fs, uid_t uid, const char *text, char *reply, size_t cap,
    uint64_t *job)
{
	struct ctl *c = fs->ctl;
	struct job_spec s;
	struct ctl_args a;
	const char *cmd;
	uint64_t id;
	size_t n;
	int rc;

	memset(&s, 0, sizeof s);
	*job = 0;
	if ((rc = ctl_split(text, &a)) < 0)
		goto out;
	cmd = a.v[0];
	if (strcmp(cmd, "prune") == 0)
		s.kind = BLTFS_JOB_PRUNE;
	else if (strcmp(cmd, "reindex") == 0)
		s.kind = BLTFS_JOB_REINDEX;
	else if (strcmp(cmd, "sync") == 0)
		s.kind = BLTFS_JOB_SYNC;
	else if (strcmp(cmd, "map") == 0)
		s.kind = BLTFS_JOB_MAP;
	else if (strcmp(cmd, "cancel") != 0) {
		rc = blt_errmsg_set(-EINVAL,
		    "unknown command '%s': give prune, reindex, sync, map or "
		    "cancel (bltfs ctl also has status, job and unmount)",
		    cmd);
		goto out;
	}
	if (uid != 0 && uid != c->owner) {
		rc = blt_errmsg_set(-EPERM,
		    "%s: only the user who mounted the store (uid %u) or root "
		    "may start or cancel jobs",
		    cmd, (unsigned)c->owner);
		goto out;
	}
	if (s.kind == 0) {
		if (a.n != 2 || timearg_number(a.v[1], UINT64_MAX, &id) < 0) {
			rc = blt_errmsg_set(
			    -EINVAL, "cancel: give one job number");
			goto out;
		}
		if ((rc = job_cancel(c->jobs, id)) == 0)
			snprintf(reply, cap, "job %" PRIu64 " cancelled\n", id);
		goto out;
	}
	if (fs->ro && s.kind != BLTFS_JOB_SYNC) {
		rc = blt_errmsg_set(
		    -EROFS, "%s: the store is mounted read-only", cmd);
		goto out;
	}
	if (s.kind == BLTFS_JOB_PRUNE)
		rc = ctl_parse_prune(fs, &a, &s);
	else if (s.kind == BLTFS_JOB_REINDEX)
		rc = ctl_parse_reindex(&a, &s);
	else if (s.kind == BLTFS_JOB_MAP)
		rc = ctl_parse_map(fs, &a, &s);
	else if (a.n > 1)
		rc = ctl_unknown(&a, 1);
	if (rc < 0)
		goto out;
	/* whole, but for the newlines that end it (ctl_split()): a quoted
	 * word may hold newlines of its own */
	n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		n--;
	if ((s.text = strndup(text, n)) == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = job_submit(c->jobs, &s, &id)) < 0)
		goto out;
	*job = id;
	snprintf(reply, cap, "job %" PRIu64 " started\n", id);
out:
	if (rc < 0) {
		snprintf(reply, cap, "error: %s\n", blt_errmsg());
		if (rc == -ENOMEM || rc == -E2BIG)
			fs_log("ctl: %s", blt_errmsg());
	}
	job_spec_free(&s);
	ctl_args_free(&a);
	return rc;
}

/* --- status ----------------------------------------------------------- */

/* The numbers of the status ioctl. */
int
ctl_status(struct fs *fs, struct bltfs_status *out)
{
	struct blt_stat st;
	int rc, flags, uncounted;

	memset(out, 0, sizeof *out);
	/* while a lazy build scans the store, its live bytes are not known
	 * yet, and blt_stat() would scan it again, holding it meanwhile:
	 * the header's numbers, with live and dead bytes 0 */
	if ((uncounted = lazy_building(fs)))
		(void)blt_info(fs->db, &st);
	else if ((rc = uncounted = blt_stat(fs->db, &st)) < 0) {
		fs_log("status: %s", blt_errmsg());
		return rc;
	}
	out->version = st.version;
	out->n_buckets = st.n_buckets;
	out->n_keys = st.n_keys;
	out->file_bytes = st.file_bytes;
	out->live_bytes = st.live_bytes;
	out->dead_bytes = st.dead_bytes;
	out->ro = (uint32_t)fs->ro;
	snprintf(out->ctl, sizeof out->ctl, "%s", inode_conf(fs->tree)->ctl);
	flags = blt_flags(fs->db);
	out->flags =
	    (flags & BLT_REINDEX_STUCK ? BLTFS_STATUS_REINDEX_STUCK : 0) |
	    (flags & BLT_TORN_TAIL ? BLTFS_STATUS_TORN_TAIL : 0) |
	    (flags & BLT_FLUSH_STUCK ? BLTFS_STATUS_FLUSH_STUCK : 0);
	job_status(fs->ctl->jobs, out);
	return uncounted;
}

/* The contents of the status file, in a buffer the caller frees. */
int
ctl_status_json(struct fs *fs, char **out, size_t *len)
{
	const struct path_conf *pc = inode_conf(fs->tree);
	struct bltfs_status s;
	const char *path = blt_path(fs->db), *stuck = fs_stuck(fs);
	FILE *f;
	int uncounted;

	if ((uncounted = ctl_status(fs, &s)) < 0)
		return uncounted;
	if ((f = open_memstream(out, len)) == NULL)
		return -ENOMEM;
	fputs("{\n  \"store\": ", f);
	json_put_str(f, path, strlen(path));
	/* bltfs ctl unmount waits for the daemon to end (client-unmount.c) */
	fprintf(f, ",\n  \"pid\": %ld", (long)getpid());
	fprintf(f,
	    ",\n  \"version\": %" PRIu32 ",\n  \"keys\": %" PRIu64
	    ",\n  \"buckets\": %" PRIu32 ",\n  \"file_bytes\": %" PRIu64,
	    s.version, s.n_keys, s.n_buckets, s.file_bytes);
	if (uncounted)
		fputs(",\n  \"live_bytes\": null,\n  \"dead_bytes\": null", f);
	else
		fprintf(f,
		    ",\n  \"live_bytes\": %" PRIu64
		    ",\n  \"dead_bytes\": %" PRIu64,
		    s.live_bytes, s.dead_bytes);
	fprintf(f, ",\n  \"generation\": %" PRIu64, blt_generation(fs->db));
	follow_status(fs, f);
	fputs(",\n", f);
	/* what stops writes, beside a read-only mount, which options says */
	fprintf(f, "  \"writable\": %s,\n  \"problem\": ",
	    fs->ro || stuck != NULL ? "false" : "true");
	if (stuck != NULL)
		json_put_str(f, stuck, strlen(stuck));
	else
		fputs("null", f);
	fputs(",\n", f);
	fprintf(f,
	    "  \"options\": {\"ro\": %s, \"flat\": %s, \"uid\": %u, "
	    "\"gid\": %u, \"umask\": \"%03o\", \"ctl\": ",
	    fs->ro ? "true" : "false", pc->flat ? "true" : "false",
	    (unsigned)fs->uid, (unsigned)fs->gid, (unsigned)fs->umask);
	json_put_str(f, pc->ctl, pc->ctl_len);
	fputs(", \"autoprune\": ", f);
	autoprune_status_json(fs, f);
	fprintf(f, ", \"owner\": %u},\n", (unsigned)fs->ctl->owner);
	decode_status_json(fs, f); /* "values": the serializers */
	index_cache_status_json(fs, f);
	fprintf(f, "  \"last_job\": %" PRIu64 ",\n  \"jobs\": ", s.last_job);
	job_status_json(fs->ctl->jobs, f);
	fputs(",\n  \"log\": ", f);
	fs_log_recent(f);
	fputs("\n}\n", f);
	if (fclose(f) != 0) {
		free(*out);
		return -ENOMEM;
	}
	return 0;
}
