/*
 * map-group.c: the process group of a map worker's commands, and the
 * signals that stop it.  Every command a worker runs is in one group whose
 * id is the worker's pid (map-worker.c says why the worker is not in it);
 * a worker told to stop, or at the end of its map, sends SIGTERM to the
 * group and to every child it has inherited as a subreaper, waits at most
 * MAP_GROUP_GRACE seconds, then sends SIGKILL.  Everything a signal
 * handler reaches here is async-signal-safe.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "map-int.h"

/* Seconds a stopped command's process group has between SIGTERM and
 * SIGKILL. */
#define MAP_GROUP_GRACE 1

/* The signals that stop a worker. */
static const int map_group_stop_sigs[] = {SIGTERM, SIGINT, SIGHUP};

/* The process group of our commands, for the signal handlers: our pid, or
 * 0 in a plugin's worker, which runs no commands. */
volatile pid_t map_group_pg;

/* Wait for every process of group pg that is our child (the command's sh
 * and, as we are a subreaper, whatever it left behind) until none is left.
 * Async-signal-safe. */
void
map_group_reap(pid_t pg)
{
	while (waitpid(-pg, NULL, 0) > 0 || errno == EINTR)
		;
}

/* Reap, without waiting, the processes earlier commands left behind that
 * have ended since. */
void
map_group_reap_strays(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Send sig to pid; SIGTERM with SIGCONT after it, so that a stopped
 * process sees it.  Async-signal-safe. */
static void
map_group_kill(pid_t pid, int sig)
{
	kill(pid, sig);
	if (sig == SIGTERM)
		kill(pid, SIGCONT);
}

/* Send sig (map_group_kill()) to our commands' process group, then to
 * each of our children, read from /proc/self/task/PID/children: this
 * reaches a process that left the group (setsid, a daemon's double fork)
 * once its parent in the group has ended, as it is handed to us then.
 * The list is read in pieces, a pid at a time (its digits may straddle
 * two reads).  Async-signal-safe. */
static void
map_group_signal_all(int sig)
{
	static const char pre[] = "/proc/self/task/", post[] = "/children";
	char path[sizeof pre + sizeof post + 24], digits[24], buf[512];
	pid_t me = getpid(), child = 0;
	size_t n, k;
	ssize_t got;
	int fd;

	map_group_kill(-map_group_pg, sig);
	memcpy(path, pre, sizeof pre - 1);
	n = sizeof pre - 1;
	for (k = 0; me > 0; me /= 10)
		digits[k++] = (char)('0' + me % 10);
	while (k > 0)
		path[n++] = digits[--k];
	memcpy(path + n, post, sizeof post);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	while ((got = read(fd, buf, sizeof buf)) > 0 ||
	       (got == -1 && errno == EINTR))
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				child = child * 10 + (buf[i] - '0');
				continue;
			}
			if (child > 0)
				map_group_kill(child, sig);
			child = 0;
		}
	if (child > 0)
		map_group_kill(child, sig);
	close(fd);
}

/* SIGALRM: the grace period of a stopped command is over.  Again each
 * second: a process whose parent this kills becomes our child only
 * then. */
static void
map_group_on_alarm(int sig)
{
	int e = errno;

	(void)sig;
	if (map_group_pg > 0)
		map_group_signal_all(SIGKILL);
	alarm(1);
	errno = e;
}

/* Stop what our commands left running, the running command too: their
 * process group and every child of ours outside it get SIGTERM (and
 * SIGCONT); then we wait for all our children, with SIGKILL from
 * map_group_on_alarm() once the grace period is over.  Returns at once
 * when there are none.  Async-signal-safe. */
void
map_group_end(void)
{
	if (map_group_pg <= 0)
		return;
	map_group_signal_all(SIGTERM);
	alarm(MAP_GROUP_GRACE);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	alarm(0);
}

/* SIGTERM, SIGINT, SIGHUP: stop our commands' process group, then exit.
 * The other stop signals are blocked meanwhile. */
static void
map_group_on_term(int sig)
{
	map_group_end();
	_exit(128 + sig);
}

/* Fill set with the signals that stop a worker. */
void
map_group_stop_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof map_group_stop_sigs / sizeof(int); i++)
		sigaddset(set, map_group_stop_sigs[i]);
}

/* Install the handlers above. */
void
map_group_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = map_group_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	map_group_stop_set(&sa.sa_mask);
	sa.sa_handler = map_group_on_term;
	for (size_t i = 0; i < sizeof map_group_stop_sigs / sizeof(int); i++)
		sigaction(map_group_stop_sigs[i], &sa, NULL);
}
