/*
 * map-worker.c: the worker side of blt_map().  A worker is a fresh process
 * (an exec'd program whose main() calls blt_map_worker_main()), so that the
 * caller may be multi-threaded and a plugin that crashes takes only its
 * worker down.  It reads batches of items from its parent on its socket
 * (MAP_SOCK_FD, which no plugin's printf reaches), runs the command or the
 * plugin on each item in turn and writes one reply per batch on the same
 * socket (the messages are described in map-int.h).
 *
 * For --exec, each item runs /bin/sh -c CMD through posix_spawn (a vfork
 * underneath) with the value on a pipe as stdin, stdout on another pipe and
 * stderr on a third, made for that command alone.  map_worker_pump() feeds
 * and reads them together, so that no command blocks on a full pipe; it
 * takes stdout up to the format's limit on a value and only the first bytes
 * of stderr, which are all an error message shows, and reads and drops the
 * rest.  A pidfd tells it when the command's shell has ended, as background
 * processes may hold stderr open.  Such a process keeps its command's
 * stderr pipe, so what it writes later reaches no other item's message:
 * the worker keeps the pipe open (MAP_WORKER_OLD_ERR of them at most) and
 * drops what comes on it.
 *
 * Every command runs in one process group, the worker's (map-group.c): its id
 * is the worker's pid, but the worker is not in it (it enters the group only to
 * start a command, and leaves at once), so that it can kill the group and live.
 * The parent can kill it too: while the worker is its unreaped child, no other
 * process can have that id, and so no other group either (map-proc.c kills the
 * group of each worker it reaps, after a crash as after a normal end).  A
 * worker that is told to stop (SIGTERM from a cancelled map or from its
 * parent's death, SIGINT or SIGHUP from the terminal), or that comes to the end
 * of its map, sends SIGTERM to the group, waits at most MAP_GROUP_GRACE seconds
 * for it to go, then sends SIGKILL.  The worker is a child subreaper, so what a
 * command leaves behind becomes its child: it can wait for the whole group and
 * leaves no zombies, and it stops a process that left the group (setsid) as
 * well, once it is its child.  Out of reach: all of them once the worker itself
 * is SIGKILLed.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "map-int.h"

extern char **environ;

/* Read exactly n bytes: 1, 0 on end of file before the first byte, -1 on
 * an error or a short read. */
int
map_worker_read_full(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = read(fd, p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 && done == 0 ? 0 : -1;
		done += (size_t)r;
	}
	return 1;
}

/* Write all n bytes; 0 or -1. */
int
map_worker_write_full(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Make room for n more bytes at the end of *buf; 0 or -1. */
int
map_worker_grow(unsigned char **buf, size_t *cap, size_t len, size_t n)
{
	size_t c = *cap ? *cap : 65536;
	unsigned char *p;

	if (len + n <= *cap)
		return 0;
	while (c < len + n)
		c *= 2;
	if ((p = realloc(*buf, c)) == NULL)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

/* Append one outcome to the reply; 0 or -1 when memory runs out. */
int
map_worker_reply(
    struct map_worker *w, uint32_t outcome, const void *data, size_t len)
{
	if (map_worker_grow(&w->rep, &w->rep_cap, w->rep_len, 8 + len) < 0)
		return -1;
	wire_put32(w->rep + w->rep_len, outcome);
	wire_put32(w->rep + w->rep_len + 4, len);
	if (len > 0)
		memcpy(w->rep + w->rep_len + 8, data, len);
	w->rep_len += 8 + len;
	return 0;
}

/* Append an error outcome with a printf-style message. */
static int map_worker_fail(struct map_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
map_worker_fail(struct map_worker *w, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	return map_worker_reply(w, MAP_R_ERROR, msg, (size_t)n);
}

/* Append to msg why an item that failed may have failed: the working
 * directory is gone (or another is in its place) since we entered it.
 * The worker stays in the removed directory and its commands run on in
 * it; what they do with relative paths fails, and the message should say
 * where. */
static void
map_worker_where(const struct map_worker *w, char *msg, size_t cap)
{
	size_t len = strlen(msg);
	struct stat st;

	if (w->dir == NULL || len >= cap)
		return;
	if (stat(w->dir, &st) == -1)
		snprintf(msg + len, cap - len,
		    " (its working directory %s is gone: %s)", w->dir,
		    strerror(errno));
	else if (st.st_dev != w->dir_dev || st.st_ino != w->dir_ino)
		snprintf(msg + len, cap - len,
		    " (its working directory %s was replaced since the map "
		    "started)",
		    w->dir);
}

/* Set "NAME=" followed by text of n bytes in *var (grown as needed). */
static int
map_worker_setvar(char **var, size_t *cap, const char *name, size_t n)
{
	size_t need = strlen(name) + n + 1;
	char *p;

	if (need > *cap) {
		if ((p = realloc(*var, need)) == NULL)
			return -1;
		*var = p;
		*cap = need;
	}
	strcpy(*var, name);
	return 0;
}

/* Put BLT_KEY (the key up to its first NUL) and BLT_KEY_HEX in the
 * environment the next command gets. */
static int
map_worker_key_env(struct map_worker *w, const unsigned char *key, size_t klen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *nul = memchr(key, 0, klen);
	size_t text = nul ? (size_t)(nul - key) : klen;
	char *p;

	if (map_worker_setvar(&w->key_var, &w->key_var_cap, "BLT_KEY=", text) <
	        0 ||
	    map_worker_setvar(
	        &w->hex_var, &w->hex_var_cap, "BLT_KEY_HEX=", 2 * klen) < 0)
		return -1;
	p = w->key_var + strlen("BLT_KEY=");
	memcpy(p, key, text);
	p[text] = '\0';
	p = w->hex_var + strlen("BLT_KEY_HEX=");
	for (size_t i = 0; i < klen; i++) {
		*p++ = hex[key[i] >> 4];
		*p++ = hex[key[i] & 15];
	}
	*p = '\0';
	w->envp[w->env_key] = w->key_var;
	w->envp[w->env_key + 1] = w->hex_var;
	return 0;
}

/* Take what fd has of a command's stdout into io, up to io->limit bytes:
 * 1 at its end, 0 when there may be more (io->over is set when there is
 * more than the limit), -1 on an error.  The buffer grows as the output
 * does, never past the limit. */
static int
map_worker_read_out(struct map_worker_io *io, int fd)
{
	size_t room = io->out_cap < io->limit ? io->out_cap : io->limit;
	unsigned char one, *p;
	size_t cap;
	ssize_t r;

	if (io->out_len == io->limit) {
		/* Full: one byte more says the output is over the limit. */
		if ((r = read(fd, &one, 1)) > 0) {
			io->over = 1;
			return 0;
		}
	} else {
		if (io->out_len == room) {
			cap = io->out_cap ? io->out_cap : 65536;
			while (cap <= io->out_len)
				cap *= 2;
			if (cap > io->limit)
				cap = io->limit;
			if ((p = realloc(io->out, cap)) == NULL)
				return -1;
			io->out = p;
			io->out_cap = room = cap;
		}
		r = read(fd, io->out + io->out_len, room - io->out_len);
		if (r > 0) {
			io->out_len += (size_t)r;
			return 0;
		}
	}
	if (r == 0)
		return 1;
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* Take one read of a command's stderr from fd into io: its first bytes are
 * kept, the rest only counted.  The bytes read, 0 at its end, or -1 with
 * errno (EAGAIN when there is nothing now). */
static ssize_t
map_worker_read_err(struct map_worker_io *io, int fd)
{
	char buf[16384];
	size_t keep;
	ssize_t r;

	if ((r = read(fd, buf, sizeof buf)) > 0) {
		keep = sizeof io->err - io->err_len;
		if (keep > (size_t)r)
			keep = (size_t)r;
		memcpy(io->err + io->err_len, buf, keep);
		io->err_len += keep;
		io->err_total += (uint64_t)r;
	}
	return r;
}

/* Read what stderr (non-blocking) holds now into io, but at most a pipe's
 * worth, so that a process that writes on and on cannot keep us here: once
 * the command's shell has ended, what it wrote is all in the pipe. */
static void
map_worker_drain_err(struct map_worker_io *io, int fd)
{
	int size = fcntl(fd, F_GETPIPE_SZ);
	uint64_t stop = io->err_total + (size > 0 ? (uint64_t)size : 1 << 20);

	while (io->err_total < stop && map_worker_read_err(io, fd) > 0)
		;
}

/* Read and drop what processes that earlier commands left running wrote
 * on those commands' stderr pipes (at most a pipe's worth of each, so that
 * one that writes on and on cannot keep us here), and close the pipes that
 * no process holds any more. */
static void
map_worker_drop_old(struct map_worker *w)
{
	char buf[16384];
	unsigned n = 0;

	for (unsigned i = 0; i < w->n_old; i++) {
		int fd = w->old_err[i], size = fcntl(fd, F_GETPIPE_SZ);
		size_t left = size > 0 ? (size_t)size : 1 << 20;
		ssize_t r = -1;

		while (left > 0 && (r = read(fd, buf, sizeof buf)) > 0)
			left -= (size_t)r < left ? (size_t)r : left;
		if (r == 0)
			close(fd);
		else
			w->old_err[n++] = fd;
	}
	w->n_old = n;
}

/* Keep fd, the stderr pipe of a command that has ended, for the processes
 * it may have left running, whose writes then go to no later item.  Past
 * MAP_WORKER_OLD_ERR the oldest is closed: what its processes write then
 * fails (SIGPIPE, or EPIPE). */
static void
map_worker_keep_old(struct map_worker *w, int fd)
{
	/* map_worker_drop_old() must not wait on it */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		close(fd);
		return;
	}
	if (w->n_old == MAP_WORKER_OLD_ERR) {
		close(w->old_err[0]);
		w->n_old--;
		memmove(w->old_err, w->old_err + 1,
		    w->n_old * sizeof w->old_err[0]);
	}
	w->old_err[w->n_old++] = fd;
}

/* Write what the command's stdin (non-blocking) takes of value from *sent
 * on; close it once all is written or the command no longer reads. */
static void
map_worker_write_in(
    int *in, const unsigned char *value, size_t vlen, size_t *sent)
{
	ssize_t r = write(*in, value + *sent, vlen - *sent);

	if (r > 0)
		*sent += (size_t)r;
	if ((r < 0 && errno != EAGAIN && errno != EINTR) || *sent == vlen) {
		close(*in);
		*in = -1;
	}
}

/* Feed value to a command on *in and collect its stdout from *out and its
 * stderr from err (see struct map_worker_io), all at once so that it never
 * blocks on a full pipe, until stdout ends and the command has ended:
 * pidfd becomes readable (or, when it is -1, stderr ends).  Takes *in and
 * *out (closes them and sets them to -1), not err or pidfd.  Stops early,
 * with io->over set, when stdout passes io->limit, or with io->timed_out
 * set once io->timeout_ms have passed: the caller then kills the command.
 * Returns 0, or -1 with errno on a failure. */
int
map_worker_pump(struct map_worker_io *io, int *inp, int *outp, int err,
    int pidfd, const unsigned char *value, size_t vlen)
{
	struct pollfd pfd[4];
	int in = *inp, out = *outp, ended = 0, err_end = 0, rc = 0, e, wait;
	int64_t deadline = map_ms() + io->timeout_ms, now;
	size_t sent = 0;
	ssize_t r;

	*inp = *outp = -1;
	io->out_len = io->err_len = 0;
	io->err_total = 0;
	io->over = io->timed_out = 0;
	if (fcntl(in, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(out, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(err, F_SETFL, O_NONBLOCK) == -1)
		rc = -1;
	if (rc == 0 && vlen == 0) {
		close(in);
		in = -1;
	}
	while (rc == 0 && !io->over && !io->timed_out &&
	       (out != -1 || (!ended && !err_end))) {
		pfd[0] = (struct pollfd){.fd = in, .events = POLLOUT};
		pfd[1] = (struct pollfd){.fd = out, .events = POLLIN};
		pfd[2] =
		    (struct pollfd){.fd = err_end ? -1 : err, .events = POLLIN};
		pfd[3] =
		    (struct pollfd){.fd = ended ? -1 : pidfd, .events = POLLIN};
		wait = -1;
		if (io->timeout_ms > 0) {
			now = map_ms();
			wait = now < deadline ? (int)(deadline - now) : 0;
		}
		if ((r = poll(pfd, 4, wait)) <= 0) {
			rc = r == 0 || errno == EINTR ? 0 : -1;
			io->timed_out = r == 0;
			continue;
		}
		if (pfd[0].revents)
			map_worker_write_in(&in, value, vlen, &sent);
		if (pfd[1].revents &&
		    (rc = map_worker_read_out(io, out)) == 1) {
			close(out);
			out = -1;
			rc = 0;
		}
		if (rc == 0 && pfd[2].revents &&
		    (r = map_worker_read_err(io, err)) <= 0) {
			err_end = r == 0;
			rc = r == 0 || errno == EAGAIN || errno == EINTR ? 0
			                                                 : -1;
		}
		if (pfd[3].revents)
			ended = 1;
	}
	if (rc == 0 && !io->over && !io->timed_out && !err_end)
		map_worker_drain_err(io, err);
	e = errno;
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	errno = e;
	return rc;
}

/* Append the start of what the command wrote to stderr to msg. */
static void
map_worker_stderr(const struct map_worker_io *io, char *msg, size_t cap)
{
	size_t len = strlen(msg), r = io->err_len;

	while (r > 0 && (io->err[r - 1] == '\n' || io->err[r - 1] == ' '))
		r--;
	if (r > 0 && len < cap)
		snprintf(msg + len, cap - len, ": %.*s%s", (int)r, io->err,
		    io->err_total > io->err_len ? "..." : "");
}

/* Start the command for one item with in, out and err as its stdio, in
 * our commands' process group, and open a pidfd on it: 0, or -1 with a
 * message in msg and no command left. */
int
map_worker_spawn(struct map_worker *w, int in, int out, int err, pid_t *pid,
    int *pidfd, char *msg, size_t cap)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)w->cmd, NULL};
	const char *what = "/bin/sh";
	posix_spawn_file_actions_t fa;
	pid_t pg = map_group_pg;
	sigset_t old;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	/* The command starts in the group we are in: we enter ours (which
	 * makes it anew when no process of an earlier command holds it) for
	 * the spawn and leave it at once, as a kill of the group would take
	 * us along.  Meanwhile no stop signal, whose handler kills it. */
	sigprocmask(SIG_BLOCK, &w->stop_sigs, &old);
	if (setpgid(0, 0) == -1) {
		e = errno;
		what = "setpgid";
	} else {
		e = posix_spawn(pid, "/bin/sh", &fa, &w->attr, argv, w->envp);
	}
	if (getpgrp() != w->home_pg && setpgid(0, w->home_pg) == -1)
		/* Our parent's group is gone, as a rule with our parent:
		 * stuck in the group, we could not kill it and live, so we go
		 * down with it (a parent that is alive replaces us). */
		kill(0, SIGKILL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		snprintf(msg, cap, "%s: %s", what, strerror(e));
		return -1;
	}
	if ((*pidfd = pidfd_open(*pid, 0)) == -1) {
		snprintf(msg, cap, "pidfd_open: %s", strerror(errno));
		kill(-pg, SIGKILL);
		map_group_reap(pg);
		return -1;
	}
	return 0;
}

/* Wait for the command's shell, then reap what earlier ones left behind;
 * its wait status, or -1 with errno. */
int
map_worker_wait(pid_t pid)
{
	int status, rc;

	while ((rc = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (rc == -1)
		return -1;
	map_group_reap_strays();
	return status;
}

/* The three pipes of a child's stdin, stdout and stderr, close-on-exec:
 * 0, or -1 with why in msg and none left open. */
int
map_worker_pipes(int fds[3][2], char *msg, size_t cap)
{
	for (int i = 0; i < 3; i++) {
		if (pipe2(fds[i], O_CLOEXEC) == -1) {
			snprintf(msg, cap, "pipe: %s", strerror(errno));
			while (i-- > 0) {
				close(fds[i][0]);
				close(fds[i][1]);
			}
			return -1;
		}
	}
	return 0;
}

/* Run the command with value on its stdin into w->io: its wait status, or
 * -1 with a message in msg.  A command whose output goes past the format's
 * limit is killed: what it would make cannot be stored. */
static int
map_worker_run(struct map_worker *w, const unsigned char *value, size_t vlen,
    char *msg, size_t cap)
{
	struct map_worker_io *io = &w->io;
	int fds[3][2], pidfd, rc, e = 0, status; /* stdin, stdout, stderr */
	pid_t pid;

	if (map_worker_pipes(fds, msg, cap) < 0)
		return -1;
	map_worker_drop_old(w);
	rc = map_worker_spawn(
	    w, fds[0][0], fds[1][1], fds[2][1], &pid, &pidfd, msg, cap);
	/* The command's ends: ours would keep its output from ending. */
	for (int i = 0; i < 3; i++)
		close(fds[i][i == 0 ? 0 : 1]);
	if (rc < 0) {
		for (int i = 0; i < 3; i++)
			close(fds[i][i == 0 ? 1 : 0]);
		return -1;
	}
	rc = map_worker_pump(
	    io, &fds[0][1], &fds[1][0], fds[2][0], pidfd, value, vlen);
	e = errno;
	close(pidfd);
	if (rc < 0 || io->over || io->timed_out)
		kill(-map_group_pg, SIGKILL);
	status = map_worker_wait(pid);
	map_worker_keep_old(w, fds[2][0]);
	if (status == -1)
		snprintf(msg, cap, "waitpid: %s", strerror(errno));
	else if (rc < 0)
		snprintf(msg, cap, "talking to the command: %s", strerror(e));
	else if (io->over)
		snprintf(msg, cap,
		    "the command's output is over the format's limit of %zu "
		    "bytes",
		    io->limit);
	else if (io->timed_out)
		snprintf(msg, cap,
		    "the command ran for more than %d s (--item-timeout): "
		    "killed",
		    io->timeout_ms / 1000);
	else
		return status;
	return -1;
}

/* --decode: *value (*vlen bytes) as text, in w->dec; 0, or -1 when
 * memory runs out.  A value that cannot be shown as data comes as the
 * not-decodable form (bltvalue.h), which encodes back to its bytes. */
int
map_worker_decode(
    struct map_worker *w, const unsigned char **value, size_t *vlen)
{
	if (blt_value_decode(w->vser, *value, *vlen, 0, &w->dec) < 0)
		return -1;
	*value = w->dec.data;
	*vlen = w->dec.len;
	return 0;
}

/* --decode: the text a command or worker wrote (*res, *rlen bytes)
 * encoded as the output store's values are, in w->enc; 0, or -1 with why
 * in msg (the item then fails). */
int
map_worker_encode(struct map_worker *w, const unsigned char **res, size_t *rlen,
    char *msg, size_t cap)
{
	int rc = blt_value_encode(w->oser, *res, *rlen, 0, &w->enc);

	if (rc < 0) {
		snprintf(msg, cap, "its output does not encode as %s: %s",
		    blt_serializer_name(w->oser),
		    rc == -ENOMEM ? strerror(ENOMEM) : blt_errmsg());
		return -1;
	}
	*res = w->enc.data;
	*rlen = w->enc.len;
	return 0;
}

/* Run the command on one item and append its outcome. */
static int
map_worker_exec(struct map_worker *w, const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen)
{
	char msg[1024];
	int status;

	if (map_worker_key_env(w, key, klen) < 0)
		return -1;
	if (w->decode && map_worker_decode(w, &value, &vlen) < 0)
		return -1;
	if ((status = map_worker_run(w, value, vlen, msg, sizeof msg)) == -1) {
		if (w->io.over) {
			/* What it wrote is of no use: give it back now. */
			free(w->io.out);
			w->io.out = NULL;
			w->io.out_cap = 0;
		}
		return map_worker_fail(w, "%s", msg);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		const unsigned char *res = w->io.out;
		size_t rlen = w->io.out_len;

		if (w->decode &&
		    map_worker_encode(w, &res, &rlen, msg, sizeof msg) < 0)
			return map_worker_reply(
			    w, MAP_R_ERROR, msg, strlen(msg));
		return map_worker_reply(w, MAP_R_WRITE, res, rlen);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == BLT_MAP_SKIP)
		return map_worker_reply(w, MAP_R_SKIP, NULL, 0);
	if (WIFEXITED(status))
		snprintf(
		    msg, sizeof msg, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(msg, sizeof msg, "killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	/* before the stderr, which a message kept short would cut off */
	map_worker_where(w, msg, sizeof msg);
	map_worker_stderr(&w->io, msg, sizeof msg);
	return map_worker_reply(w, MAP_R_ERROR, msg, strlen(msg));
}

/* Call the plugin on one item and append its outcome. */
static int
map_worker_call(struct map_worker *w, const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen)
{
	struct blt_map_out out;
	int rc;

	out.value = value;
	out.vlen = vlen;
	out.to_free = NULL;
	out.err[0] = '\0';
	rc = w->fn(key, klen, value, vlen, &out);
	out.err[sizeof out.err - 1] = '\0';
	if (rc == 0 && out.vlen > BLT_VALUE_MAX)
		rc = map_worker_fail(w,
		    "%s: a result of %zu bytes is over the format's limit",
		    w->spec, out.vlen);
	else if (rc == 0)
		rc = map_worker_reply(w, MAP_R_WRITE, out.value, out.vlen);
	else if (rc == BLT_MAP_SKIP)
		rc = map_worker_reply(w, MAP_R_SKIP, NULL, 0);
	else {
		char msg[1024];

		if (out.err[0] != '\0')
			snprintf(msg, sizeof msg, "%s: %s", w->spec, out.err);
		else if (rc < 0)
			snprintf(
			    msg, sizeof msg, "%s: %s", w->spec, strerror(-rc));
		else
			snprintf(
			    msg, sizeof msg, "%s: returned %d", w->spec, rc);
		map_worker_where(w, msg, sizeof msg);
		rc = map_worker_reply(w, MAP_R_ERROR, msg, strlen(msg));
	}
	free(out.to_free);
	return rc;
}

/* Serve one request of n items in body; 0, or -1 for a request that does
 * not parse or memory running out. */
static int
map_worker_serve(struct map_worker *w, uint32_t n, size_t len)
{
	const unsigned char *p = w->req, *end = w->req + len;
	uint64_t klen, vlen;
	int rc;

	w->rep_len = MAP_HDR_LEN;
	for (uint32_t i = 0; i < n; i++) {
		if (end - p < 8)
			return -1;
		klen = wire_get32(p);
		vlen = wire_get32(p + 4);
		p += 8;
		if ((uint64_t)(end - p) < klen + vlen)
			return -1;
		if (w->cmd != NULL)
			rc = map_worker_exec(
			    w, p, (size_t)klen, p + klen, (size_t)vlen);
		else
			rc = map_worker_call(
			    w, p, (size_t)klen, p + klen, (size_t)vlen);
		if (rc < 0)
			return -1;
		map_buf_trim(&w->io.out, &w->io.out_cap, 0);
		p += klen + vlen;
	}
	wire_put32(w->rep, n);
	wire_put32(w->rep + 4, 0);
	wire_put64(w->rep + 8, w->rep_len - MAP_HDR_LEN);
	return 0;
}

/* Tell the parent whether we are ready: code 0, or an errno and why. */
int
map_worker_hello(int code, const char *msg)
{
	unsigned char h[MAP_HDR_LEN + 512];
	size_t n = msg ? strlen(msg) : 0;

	if (n > sizeof h - MAP_HDR_LEN)
		n = sizeof h - MAP_HDR_LEN;
	wire_put32(h, MAP_HELLO);
	wire_put32(h + 4, (uint64_t)code);
	wire_put64(h + 8, n);
	memcpy(h + MAP_HDR_LEN, msg ? msg : "", n);
	return map_worker_write_full(MAP_SOCK_FD, h, MAP_HDR_LEN + n);
}

/* Load the plugin "LIB:SYMBOL"; 0, or a message in msg. */
static int
map_worker_load(struct map_worker *w, const char *spec, char *msg, size_t cap)
{
	const char *colon = strrchr(spec, ':');
	char lib[4096];
	void *sym;

	if (colon == NULL || colon == spec || colon[1] == '\0' ||
	    (size_t)(colon - spec) >= sizeof lib) {
		snprintf(msg, cap, "plugin %s: not LIB.so:SYMBOL", spec);
		return -1;
	}
	memcpy(lib, spec, (size_t)(colon - spec));
	lib[colon - spec] = '\0';
	if ((w->lib = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(msg, cap, "plugin %.300s: %s", lib, dlerror());
		return -1;
	}
	dlerror();
	sym = dlsym(w->lib, colon + 1);
	if (sym == NULL) {
		snprintf(msg, cap, "plugin %.300s: no symbol %.100s", lib,
		    colon + 1);
		return -1;
	}
	/* POSIX lets a data pointer from dlsym() be a function pointer. */
	memcpy(&w->fn, &sym, sizeof w->fn);
	return 0;
}

/* Prepare the environment, stderr file and spawn attributes of --exec. */
static int
map_worker_exec_init(
    struct map_worker *w, const char *store, char *msg, size_t cap)
{
	static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT,
	    SIGCHLD, SIGUSR1, SIGUSR2};
	sigset_t def, none;
	size_t n = 0, k = 0;
	char *sv;

	while (environ[n] != NULL)
		n++;
	if ((w->envp = calloc(n + 4, sizeof *w->envp)) == NULL ||
	    (sv = w->store_var = malloc(strlen(store) + sizeof "BLT_STORE=")) ==
	        NULL) {
		snprintf(msg, cap, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "BLT_KEY=", 8) != 0 &&
		    strncmp(environ[i], "BLT_KEY_HEX=", 12) != 0 &&
		    strncmp(environ[i], "BLT_STORE=", 10) != 0)
			w->envp[k++] = environ[i];
	sprintf(sv, "BLT_STORE=%s", store);
	w->envp[k++] = sv;
	w->env_key = k;
	w->io.limit = BLT_VALUE_MAX;
	sigemptyset(&def);
	sigemptyset(&none);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&def, sigs[i]);
	posix_spawnattr_init(&w->attr);
	w->attr_made = 1;
	posix_spawnattr_setsigdefault(&w->attr, &def);
	posix_spawnattr_setsigmask(&w->attr, &none);
	posix_spawnattr_setflags(
	    &w->attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	map_group_stop_set(&w->stop_sigs);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
		snprintf(
		    msg, cap, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return -1;
	}
	/* The commands' group bears our pid; we run in our parent's. */
	w->home_pg = getpgrp();
	map_group_pg = getpid();
	return 0;
}

/* Free what the worker holds (it is about to exit, but leak checkers
 * watch workers too). */
static void
map_worker_free(struct map_worker *w)
{
	free(w->req);
	free(w->rep);
	free(w->io.out);
	free(w->key_var);
	free(w->hex_var);
	free(w->envp);
	free(w->store_var);
	blt_value_buf_free(&w->dec);
	blt_value_buf_free(&w->enc);
	if (w->attr_made)
		posix_spawnattr_destroy(&w->attr);
	for (unsigned i = 0; i < w->n_old; i++)
		close(w->old_err[i]);
	/* The plugin stays loaded: it may keep buffers in static variables,
	 * which unloading would turn into leaks. */
}

/* Enter the directory the parent opened for us as MAP_DIR_FD (name is its
 * path, for messages), and note which it is: 0, or an errno and a message
 * in msg.  A directory removed since the map started can still be
 * entered, so a worker that replaces a dead one runs where the others
 * do. */
static int
map_worker_enter(struct map_worker *w, const char *name, char *msg, size_t cap)
{
	struct stat st;
	int e;

	if (fchdir(MAP_DIR_FD) == -1 || fstat(MAP_DIR_FD, &st) == -1) {
		e = errno;
		snprintf(msg, cap, "cannot run in %s: %s", name, strerror(e));
		return e;
	}
	close(MAP_DIR_FD);
	w->dir = name;
	w->dir_dev = st.st_dev;
	w->dir_ino = st.st_ino;
	return 0;
}

/* Read the INFO argument: --decode and the value serializers. */
static void
map_worker_info(struct map_worker *w, const char *info)
{
	const char *v;
	size_t len;

	w->info = info;
	if ((v = map_info_get(info, "decode", &len)) != NULL)
		w->decode = len == 1 && *v == '1';
	if ((v = map_info_get(info, "value_serializer_code", &len)) != NULL)
		w->vser = (unsigned)strtoul(v, NULL, 10);
	if ((v = map_info_get(info, "out_value_serializer_code", &len)) != NULL)
		w->oser = (unsigned)strtoul(v, NULL, 10);
	if ((v = map_info_get(info, "item_timeout", &len)) != NULL)
		w->io.timeout_ms = (int)strtoul(v, NULL, 10) * 1000;
	if ((v = map_info_get(info, "start_timeout", &len)) != NULL)
		w->start_timeout_ms = (int)strtoul(v, NULL, 10) * 1000;
	if ((v = map_info_get(info, "reply_timeout", &len)) != NULL)
		w->reply_timeout_ms = (int)strtoul(v, NULL, 10) * 1000;
}

/* Run as a map worker when argv says so:
 * PROG --blt-map-worker exec|plugin|worker CMD|LIB:SYMBOL STORE INFO
 * [DIR], with the socket to the parent as MAP_SOCK_FD and DIR open as
 * MAP_DIR_FD. */
int
blt_map_worker_main(int argc, char **argv)
{
	struct map_worker w;
	unsigned char h[MAP_HDR_LEN];
	char msg[1024];
	uint64_t len;
	uint32_t code = 0;
	int rc, status = 0, relay;

	if (argc < 2 || strcmp(argv[1], MAP_WORKER_ARG) != 0)
		return -1;
	memset(&w, 0, sizeof w);
	/* Whatever the parent leaked past exec must not reach the commands
	 * (a store's fd, /dev/fuse), nor our socket; a missing stderr must
	 * not be taken by a pipe that dup2() would then clobber. */
	close_range(MAP_DIR_FD + 1, ~0U, 0);
	if (argc != 7)
		close(MAP_DIR_FD);
	if (fcntl(MAP_SOCK_FD, F_SETFD, FD_CLOEXEC) == -1)
		return 2;
	if (fcntl(2, F_GETFD) == -1 && open("/dev/null", O_WRONLY) != 2)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	map_group_signals();
	/* A parent that dies stops us (and so our command) too.  The map
	 * runs in the thread that spawned us, which outlives it; a parent
	 * gone before this line leaves us end of file before any item. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if ((argc != 6 && argc != 7) ||
	    (strcmp(argv[2], "exec") != 0 && strcmp(argv[2], "plugin") != 0 &&
	        strcmp(argv[2], "worker") != 0)) {
		map_worker_hello(EINVAL, "bad worker arguments");
		return 2;
	}
	/* before the plugin loads: its path may be relative to DIR */
	if (argc == 7 &&
	    (rc = map_worker_enter(&w, argv[6], msg, sizeof msg))) {
		map_worker_hello(rc, msg);
		return 2;
	}
	w.spec = argv[3];
	map_worker_info(&w, argv[5]);
	relay = strcmp(argv[2], "worker") == 0;
	if (strcmp(argv[2], "plugin") != 0) {
		w.cmd = argv[3];
		rc = map_worker_exec_init(&w, argv[4], msg, sizeof msg);
		if (rc < 0)
			map_worker_hello(ENOMEM, msg);
		/* a worker that cannot start fails the map, with why */
		if (rc == 0 && relay &&
		    (rc = map_relay_init(&w, msg, sizeof msg)) != 0) {
			map_worker_hello(rc, msg);
			rc = -1;
		}
	} else {
		rc = map_worker_load(&w, argv[3], msg, sizeof msg);
		if (rc < 0)
			map_worker_hello(ELIBACC, msg);
	}
	if (rc < 0 || map_worker_hello(0, NULL) < 0) {
		if (relay)
			map_relay_end(&w);
		map_group_end();
		map_worker_free(&w);
		return 2;
	}
	while ((rc = map_worker_read_full(MAP_SOCK_FD, h, sizeof h)) == 1) {
		len = wire_get64(h + 8);
		if (len > SIZE_MAX / 2 ||
		    map_worker_grow(&w.req, &w.req_cap, 0, (size_t)len) < 0 ||
		    map_worker_read_full(MAP_SOCK_FD, w.req, (size_t)len) !=
		        1 ||
		    (relay ? map_relay_serve(&w, (uint32_t)wire_get32(h),
		                 (size_t)len, &code)
		           : map_worker_serve(&w, (uint32_t)wire_get32(h),
		                 (size_t)len)) < 0 ||
		    map_worker_write_full(MAP_SOCK_FD, w.rep, w.rep_len) < 0) {
			status = 2;
			break;
		}
		map_buf_trim(&w.req, &w.req_cap, 0);
		map_buf_trim(&w.rep, &w.rep_cap, 0);
		if (code & MAP_RETIRED)
			break; /* our host is gone: the parent retires us */
	}
	if (rc < 0)
		status = 2;
	/* A worker is told the map is over by the end of its input. */
	if (relay)
		map_relay_end(&w);
	/* What our commands left running ends with the map. */
	map_group_end();
	map_worker_free(&w);
	return status;
}
