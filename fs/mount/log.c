/*
 * The daemon's log: one line per event, to stderr in the foreground and to
 * syslog once the daemon has left its terminal (fs_log_syslog()).  The
 * last lines are kept for the status file too (fs_log_recent()): a call
 * that fails tells its caller only an errno, and a daemon's syslog may go
 * nowhere.  The log is the process's, like its stderr: lines logged before
 * the mount is made (the store's open notes) show in status too.
 *
 * Also what the log says of a store that takes no more writes
 * (fs_stuck(), fs_log_write()): status and jobs/ID use the same words;
 * and of a read that failed (fs_log_read()): the store, the key, the
 * cause.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "mount.h"
#include "bltutil.h"

/* Lines kept for the status file. */
#define LOG_RECENT 16

struct log_line {
	int64_t ts; /* µs */
	char text[400];
};

static struct {
	pthread_mutex_t lock;
	int to_syslog; /* the daemon left its terminal (fs_log_syslog()) */
	unsigned n;    /* ever logged; the ring holds the last ones */
	struct log_line line[LOG_RECENT];
} log_state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Keep text for the status file; returns whether it goes to syslog. */
static int
log_remember(const char *text)
{
	struct log_line *l;
	int to_syslog;

	pthread_mutex_lock(&log_state.lock);
	l = &log_state.line[log_state.n++ % LOG_RECENT];
	l->ts = blt_now();
	snprintf(l->text, sizeof l->text, "%s", text);
	to_syslog = log_state.to_syslog;
	pthread_mutex_unlock(&log_state.lock);
	return to_syslog;
}

/* Log one line (stderr in the foreground, syslog once daemonized), whole;
 * the status file keeps its first 400 bytes. */
void
fs_log(const char *fmt, ...)
{
	va_list ap;
	char *text, fallback[sizeof log_state.line[0].text];

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text == NULL) { /* out of memory: what fits */
		va_start(ap, fmt);
		vsnprintf(fallback, sizeof fallback, fmt, ap);
		va_end(ap);
	}
	if (log_remember(text != NULL ? text : fallback))
		syslog(LOG_ERR, "%s", text != NULL ? text : fallback);
	else
		fprintf(stderr, "bltfs: %s\n", text != NULL ? text : fallback);
	free(text);
}

/* Log to syslog from now on. */
void
fs_log_syslog(void)
{
	openlog("bltfs", LOG_PID, LOG_DAEMON);
	pthread_mutex_lock(&log_state.lock);
	log_state.to_syslog = 1;
	pthread_mutex_unlock(&log_state.lock);
}

void
fs_log_recent(FILE *f)
{
	unsigned i, from;
	char when[64];

	pthread_mutex_lock(&log_state.lock);
	from = log_state.n > LOG_RECENT ? log_state.n - LOG_RECENT : 0;
	fputc('[', f);
	for (i = from; i < log_state.n; i++) {
		const struct log_line *l = &log_state.line[i % LOG_RECENT];

		timearg_format(l->ts, when, sizeof when);
		fprintf(f, "%s\n    {\"time\": \"%s\", \"message\": ",
		    i > from ? "," : "", when);
		json_put_str(f, l->text, strlen(l->text));
		fputc('}', f);
	}
	fputs(i > from ? "\n  ]" : "]", f);
	pthread_mutex_unlock(&log_state.lock);
}

/* Why the store takes no more writes, or NULL. */
const char *
fs_stuck(struct fs *fs)
{
	int flags = blt_flags(fs->db);

	if (flags & BLT_REINDEX_STUCK)
		return "a reindex failed half-way: the store takes no more "
		       "writes; unmount and mount it again to finish or undo "
		       "the reindex";
	if (flags & BLT_TORN_TAIL)
		return "a write failed and what it left at the end of the "
		       "store could not be cut off: the store takes no more "
		       "writes; unmount and mount it again to cut it off";
	if (flags & BLT_FLUSH_STUCK)
		return "a flush failed after marking values live: the store "
		       "takes no more writes; unmount and mount it again to "
		       "link them";
	return NULL;
}

/* Log the failure of a change of the store. */
void
fs_log_write(struct fs *fs, const char *what)
{
	const char *why = fs_stuck(fs);

	if (why != NULL && atomic_exchange(&fs->stuck_told, 1))
		return;
	if (what != NULL)
		fs_log("%s: %s", what, blt_errmsg());
	else
		fs_log("%s", blt_errmsg());
	if (why != NULL)
		fs_log("%s: %s", blt_path(fs->db), why);
}

/* key as a log shows it into buf: printable ASCII as it is, a backslash
 * and every other byte as \xHH (a key is any bytes, a log line text);
 * cut with "..." past about 200 bytes. */
static const char *
log_key(const unsigned char *key, size_t klen, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < klen && o + 8 < cap; i++) {
		if (o > 200) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (key[i] >= 0x20 && key[i] < 0x7f && key[i] != '\\')
			buf[o++] = (char)key[i];
		else
			o += (size_t)snprintf(
			    buf + o, cap - o, "\\x%02x", key[i]);
	}
	buf[o] = '\0';
	return buf;
}

/* Log a read of key that failed with rc, as blt_errmsg() says why. */
void
fs_log_read(struct fs *fs, const unsigned char *key, size_t klen, int rc)
{
	const char *store = blt_path(fs->db), *why = blt_errmsg();
	size_t n = strlen(store);
	char shown[256];

	if (rc == -ENOENT || rc == -ESTALE)
		return; /* not stored yet, or removed: no read failed */
	/* the engine's message names the store first, usually */
	if (why == NULL || *why == '\0')
		why = strerror(-rc);
	else if (strncmp(why, store, n) == 0 && strncmp(why + n, ": ", 2) == 0)
		why += n + 2;
	fs_log("%s: key %s: %s", store, log_key(key, klen, shown, sizeof shown),
	    why);
}
