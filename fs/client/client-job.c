/*
 * bltfs ctl: a job the command started.  Its state comes by ioctl, or from
 * jobs/ID where the kernel passes no ioctls; --wait follows it to its end
 * with a progress bar, or a line a change, and then says which items
 * failed and why (bltfs(1), bltfs ctl).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "client-int.h"

#define CLIENT_POLL_MS 100

static const char *const client_states[] = {
    "", "queued", "running", "done", "failed", "cancelled"};
static const char *const client_kinds[] = {
    "", "prune", "reindex", "sync", "map"};

/* The index of v's string in names[1..max], or 0. */
static uint32_t
client_name(const struct json *v, const char *const *names, uint32_t max)
{
	for (uint32_t i = 1; v != NULL && v->type == JSON_STRING && i <= max;
	     i++)
		if (strcmp(v->str, names[i]) == 0)
			return i;
	return 0;
}

/* What job id did so far: by ioctl, or from jobs/ID.  Returns 0 or the
 * errno. */
int
client_job(struct client *c, uint64_t id, struct bltfs_job *j)
{
	char path[PATH_MAX + 300], name[32], *json;
	const struct json *m;
	struct json *v;
	int rc;

	memset(j, 0, sizeof *j);
	j->id = id;
	if (!c->use_file) {
		if (ioctl(c->fd, BLTFS_IOC_JOB, j) == 0)
			return 0;
		if (errno != ENOTTY && errno != ENOSYS)
			return errno;
		c->use_file = 1;
	}
	snprintf(name, sizeof name, "jobs/%" PRIu64, id);
	client_path(c, path, sizeof path, name);
	if ((json = client_slurp(path)) == NULL)
		return errno;
	rc = json_parse(json, strlen(json), 0, &v);
	free(json);
	if (rc < 0)
		return -rc;
	j->state = client_name(
	    json_get(v, "state"), client_states, BLTFS_STATE_CANCELLED);
	j->kind = client_name(json_get(v, "kind"), client_kinds, BLTFS_JOB_MAP);
	json_int(json_get(v, "done"), 0, UINT64_MAX, NULL, &j->done);
	json_int(json_get(v, "total"), 0, UINT64_MAX, NULL, &j->total);
	json_int(json_get(json_get(v, "stats"), "errors"), 0, UINT64_MAX, NULL,
	    &j->errors);
	m = json_get(json_get(v, "error"), "message");
	if (m != NULL && m->type == JSON_STRING)
		snprintf(j->message, sizeof j->message, "%s", m->str);
	json_free(v);
	return 0;
}

static void
client_progress(const struct bltfs_job *j, int tty, uint64_t *last_done,
    uint32_t *last_state, time_t *last_line)
{
	char bar[41];
	unsigned pct = 0, w = 40, fill;
	time_t now = time(NULL);

	if (j->total > 0)
		pct = (unsigned)(j->done * 100 / j->total);
	if (pct > 100)
		pct = 100;
	if (tty) {
		fill = pct * w / 100;
		memset(bar, '#', fill);
		memset(bar + fill, '.', w - fill);
		bar[w] = '\0';
		fprintf(stderr,
		    "\rjob %" PRIu64 " %-7s [%s] %3u%% %" PRIu64 "/%" PRIu64
		    " %s",
		    j->id, client_kinds[j->kind % 5], bar, pct, j->done,
		    j->total, client_states[j->state % 6]);
		if (j->state >= BLTFS_STATE_DONE)
			fputc('\n', stderr);
		fflush(stderr);
		return;
	}
	/* plain lines for logs: on a change of state, else once a second */
	if (j->state == *last_state &&
	    (j->done == *last_done || now == *last_line))
		return;
	fprintf(stderr, "job %" PRIu64 ": %s %s %" PRIu64 "/%" PRIu64 "\n",
	    j->id, client_kinds[j->kind % 5], client_states[j->state % 6],
	    j->done, j->total);
	*last_done = j->done;
	*last_state = j->state;
	*last_line = now;
}

/* Follow job id to its end; the exit status it gives. */
int
client_wait(struct client *c, uint64_t id, struct bltfs_job *j)
{
	struct timespec ts = {0, CLIENT_POLL_MS * 1000000L};
	uint64_t last_done = UINT64_MAX;
	uint32_t last_state = 0;
	time_t last_line = 0;
	int tty = isatty(2), err;

	for (;;) {
		if ((err = client_job(c, id, j)) != 0) {
			fprintf(stderr, "bltfs ctl: job %" PRIu64 ": %s\n", id,
			    strerror(err));
			return CLIENT_REFUSED;
		}
		client_progress(j, tty, &last_done, &last_state, &last_line);
		if (j->state >= BLTFS_STATE_DONE)
			break;
		nanosleep(&ts, NULL);
	}
	return CLIENT_OK;
}

/* Write len bytes of s to stderr with control characters escaped; with
 * indent, a newline goes out as one followed by indent. */
static void
client_put_text(const char *s, size_t len, const char *indent)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\n' && indent != NULL)
			fprintf(stderr, "\n%s", indent);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(stderr, "\\x%02x", ch);
		else
			fputc(ch, stderr);
	}
}

/* A finished job whose items failed: how many, and the first of them with
 * their keys and causes, which jobs/ID keeps (the ioctl has the counts
 * only). */
static void
client_print_errors(struct client *c, const struct bltfs_job *j)
{
	char path[PATH_MAX + 300], name[32], *text;
	const struct json *list, *key, *msg;
	struct json *v = NULL;
	size_t n;

	fprintf(stderr,
	    "bltfs ctl: job %" PRIu64 ": %" PRIu64 " of %" PRIu64
	    " items failed",
	    j->id, j->errors, j->done);
	snprintf(name, sizeof name, "jobs/%" PRIu64, j->id);
	client_path(c, path, sizeof path, name);
	if ((text = client_slurp(path)) == NULL) {
		fprintf(stderr, " (%s: %s)\n", path, strerror(errno));
		return;
	}
	if (json_parse(text, strlen(text), 0, &v) < 0) {
		fprintf(stderr, " (%s: %s)\n", path, blt_errmsg());
		free(text);
		return;
	}
	free(text);
	list = json_get(v, "first_errors");
	n = list != NULL && list->type == JSON_ARRAY ? list->n : 0;
	if (n == 0)
		fputc('\n', stderr);
	else if (n < j->errors)
		fprintf(stderr, "; the first %zu:\n", n);
	else
		fputs(":\n", stderr);
	for (size_t i = 0; i < n; i++) {
		key = json_get(&list->kids[i], "key");
		msg = json_get(&list->kids[i], "message");
		fputs("  ", stderr);
		if (key != NULL && key->type == JSON_STRING)
			client_put_text(key->str, key->len, NULL);
		else if ((key = json_get(&list->kids[i], "key_hex")) != NULL &&
		         key->type == JSON_STRING)
			fprintf(stderr, "key 0x%s", key->str);
		fputs(": ", stderr);
		if (msg != NULL && msg->type == JSON_STRING)
			client_put_text(msg->str, msg->len, "    ");
		fputc('\n', stderr);
	}
	json_free(v);
}

int
client_status_of(struct client *c, const struct bltfs_job *j)
{
	switch (j->state) {
	case BLTFS_STATE_DONE:
		if (j->errors == 0)
			return CLIENT_OK;
		client_print_errors(c, j);
		return CLIENT_ITEMS;
	case BLTFS_STATE_FAILED:
		fprintf(stderr, "bltfs ctl: job %" PRIu64 " failed: %s\n",
		    j->id, j->message);
		return CLIENT_FAILED;
	case BLTFS_STATE_CANCELLED:
		return CLIENT_CANCELLED;
	}
	return CLIENT_OK;
}

int
client_print_file(struct client *c, const char *rest)
{
	char path[PATH_MAX + 300], *s;

	client_path(c, path, sizeof path, rest);
	if ((s = client_slurp(path)) == NULL) {
		fprintf(stderr, "bltfs ctl: %s: %s\n", path, strerror(errno));
		return CLIENT_REFUSED;
	}
	fputs(s, stdout);
	free(s);
	return CLIENT_OK;
}
