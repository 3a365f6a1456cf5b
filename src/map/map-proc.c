/*
 * map-proc.c: the worker processes of blt_map() (map.c).  The workers
 * (map-worker.c) are spawned with posix_spawn, never a bare fork, because
 * the caller may be the multi-threaded daemon.
 *
 * A worker that dies takes its unanswered batches with it: what its commands
 * left running is killed (map_wait()), and the items are sent again one per
 * batch to its replacement, so that the one item that kills a worker again
 * is found and counted as an error and the others still get done (they may
 * thus run twice).  A worker whose reply does not parse (map-reply.c) is
 * killed and treated the same.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "map-int.h"

extern char **environ;

/* fd moved above the descriptors a worker is given (so that no dup2() of
 * its spawn overwrites it first, or lands on it and keeps close-on-exec):
 * the new descriptor, or -1 with errno.  Takes fd. */
int
map_fd_above(int fd)
{
	int nfd, e;

	if (fd > MAP_DIR_FD)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, MAP_DIR_FD + 1);
	e = errno;
	close(fd);
	errno = e;
	return nfd;
}

/* Set up a worker's descriptors: the socket sock as MAP_SOCK_FD, the
 * working directory as MAP_DIR_FD, and for stdin /dev/null and for stdout
 * our stderr, so that a plugin's stdio is harmless and what it prints is
 * seen where its diagnostics are. */
static void
map_spawn_fds(struct map *m, posix_spawn_file_actions_t *fa, int sock)
{
	posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (fcntl(2, F_GETFD) != -1)
		posix_spawn_file_actions_adddup2(fa, 2, 1);
	else
		posix_spawn_file_actions_addopen(
		    fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(fa, sock, MAP_SOCK_FD);
	if (m->dirfd != -1)
		posix_spawn_file_actions_adddup2(fa, m->dirfd, MAP_DIR_FD);
}

/* Start a worker in p, whose last one is reaped and its queue dropped:
 * 0, or an error with its message. */
int
map_spawn(struct map *m, struct map_proc *p)
{
	static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT,
	    SIGCHLD, SIGUSR1, SIGUSR2};
	const char *exe =
	    m->o->worker_exe ? m->o->worker_exe : "/proc/self/exe";
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t def, none;
	int sv[2], e;

	p->pid = -1;
	p->fd = -1;
	p->hello = 0;
	p->nq = p->nsent = 0;
	p->off = 0;
	p->in_len = 0;
	p->need = 0;
	p->bad[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return blt_errmsg_set(-errno, "%s: map: socketpair: %s",
		    blt_path(m->db), strerror(errno));
	if ((sv[1] = map_fd_above(sv[1])) == -1) {
		e = errno;
		close(sv[0]);
		return blt_errmsg_set(
		    -e, "%s: map: %s", blt_path(m->db), strerror(e));
	}
	sigemptyset(&def);
	sigemptyset(&none);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&def, sigs[i]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(
	    &attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	map_spawn_fds(m, &fa, sv[1]);
	if (p->cmd != NULL)
		m->argv[3] = p->cmd; /* --worker: this one's command line */
	e = posix_spawn(&p->pid, exe, &fa, &attr, m->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (e != 0) {
		p->pid = -1;
		close(sv[0]);
		return blt_errmsg_set(-e,
		    "%s: map: cannot start the worker %s: %s", blt_path(m->db),
		    exe, strerror(e));
	}
	p->fd = sv[0];
	return 0;
}

/* Close p's socket, and with sig != 0 signal its worker; map_wait()
 * reaps it. */
void
map_stop(struct map_proc *p, int sig)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	if (sig != 0 && p->pid > 0)
		kill(p->pid, sig);
}

/* Wait for p's worker to end, kill what is left in its commands' process
 * group, then reap it: its wait status, or -1 when there was none.  The
 * group's id is the worker's pid, which stays the worker's until it is
 * reaped, so the kill cannot reach a group that merely took up the id.
 * A worker that ends well or is stopped has ended its group already; one
 * killed (by us, the OOM killer, a user) had no time to. */
int
map_wait(struct map_proc *p)
{
	siginfo_t si;
	int status = -1, rc;

	if (p->pid <= 0)
		return -1;
	while (
	    (rc = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT)) == -1 &&
	    errno == EINTR)
		;
	if (rc == 0)
		kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
		;
	p->pid = -1;
	return status;
}

/* Put back p's batches in flight: nothing of them is done. */
void
map_drop_queue(struct map *m, struct map_proc *p)
{
	for (unsigned i = 0; i < p->nq; i++)
		if (p->q[i] != NULL)
			map_batch_put(m, p->q[i]);
	p->nq = p->nsent = 0;
	p->off = 0;
}

/* Queue one item of a dead worker's batch to be sent again alone. */
int
map_retry_item(struct map *m, const unsigned char *item, size_t len)
{
	struct map_batch *b = map_batch_get(m);

	if (b == NULL || map_batch_grow(b, len) < 0)
		return map_oom(blt_path(m->db));
	memcpy(b->buf + b->len, item, len);
	b->len += len;
	b->n = 1;
	map_batch_seal(b);
	*m->retry_tail = b;
	m->retry_tail = &b->next;
	return 0;
}

/* p's worker has died or broken the protocol: reap it, fail the item it
 * died on or queue its items again, and start a replacement.  Returns 0
 * or an error that ends the map. */
int
map_proc_died(struct map *m, struct map_proc *p)
{
	const char *path = blt_path(m->db);
	int status, rc = 0;
	char why[256];

	map_stop(p, SIGKILL);
	status = map_wait(p);
	if (p->bad[0] != '\0')
		snprintf(why, sizeof why, "its worker %s", p->bad);
	else if (status == -1)
		snprintf(why, sizeof why, "its worker vanished");
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof why,
		    "its worker was killed by signal %d "
		    "(%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(why, sizeof why, "its worker exited with status %d",
		    WEXITSTATUS(status));
	if (!p->hello) {
		map_drop_queue(m, p);
		return blt_errmsg_set(-ENOEXEC,
		    "%s: map: the worker program %s did not start (%s): its "
		    "main() must call blt_map_worker_main()",
		    path,
		    m->o->worker_exe ? m->o->worker_exe : "/proc/self/exe",
		    why + strlen("its worker "));
	}
	/* It died on its oldest batch; the later ones never started. */
	for (unsigned i = 0; i < p->nq && rc == 0; i++) {
		struct map_batch *b = p->q[i];
		const unsigned char *q = b->buf + MAP_HDR_LEN;

		if (i > 0) {
			*m->retry_tail = b;
			m->retry_tail = &b->next;
			p->q[i] = NULL;
			continue;
		}
		for (uint32_t j = 0; j < b->n && rc == 0; j++) {
			size_t klen = (size_t)wire_get32(q);
			size_t len = 8 + klen + (size_t)wire_get32(q + 4);

			if (b->n == 1)
				map_item_error(
				    m, q + 8, klen, why, strlen(why));
			else
				rc = map_retry_item(m, q, len);
			q += len;
		}
	}
	map_drop_queue(m, p);
	m->st->restarts++;
	m->waiting++; /* map_start() replaces it */
	return rc;
}

/* Start the workers that have none yet or lost theirs, as far as their
 * hosts allow: at most MAP_HOST_STARTS of a host between spawn and hello,
 * the others as those say hello (or retire).  0, or a spawn's error. */
int
map_start(struct map *m)
{
	struct map_proc *p;
	int rc;

	if (m->waiting == 0)
		return 0;
	for (unsigned h = 0; h < m->n_hosts; h++)
		m->hosts[h].starting = 0;
	for (unsigned i = 0; i < m->n_procs; i++) {
		p = &m->procs[i];
		if (p->host >= 0 && p->pid > 0 && !p->hello)
			m->hosts[p->host].starting++;
	}
	for (unsigned i = 0; i < m->n_procs && m->waiting > 0; i++) {
		p = &m->procs[i];
		if (p->pid > 0 || p->retired ||
		    (p->host >= 0 &&
		        m->hosts[p->host].starting >= MAP_HOST_STARTS))
			continue;
		if ((rc = map_spawn(m, p)) < 0)
			return rc;
		m->waiting--;
		if (p->host >= 0)
			m->hosts[p->host].starting++;
	}
	return 0;
}

/* p's relay gave up its worker, whose host is gone (MAP_RETIRED): reap
 * it and send the batches it still held to the other workers; it is not
 * replaced. */
void
map_proc_retire(struct map *m, struct map_proc *p)
{
	map_stop(p, SIGTERM);
	(void)map_wait(p);
	for (unsigned i = 0; i < p->nq; i++) {
		*m->retry_tail = p->q[i];
		m->retry_tail = &p->q[i]->next;
		p->q[i] = NULL;
	}
	p->nq = p->nsent = 0;
	p->off = 0;
	p->retired = 1;
}
