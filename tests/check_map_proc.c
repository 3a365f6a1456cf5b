/*
 * check_map_proc.c: the processes of blt_map()'s commands: a cancel kills
 * their process groups, the directory they run in (and its removal while
 * they do), the bounds on their output and stderr, what is left of them
 * when their worker is killed or the map ends, the memory a big result
 * gives back, and the stderr of processes that commands leave running.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "booklet.h"
#include "map-int.h"
#include "testutil.h"
#include "map-lib.h"

extern char **environ;

/* Map options for the first n (at most 3) of k0, k1, k2, all to one
 * worker, which takes them in that order. */
static struct blt_map_opts
in_order(size_t n)
{
	static const char *const names[] = {"k0", "k1", "k2"};
	/* made once in a test's process, and kept: the map reads it */
	static struct blt_map_keys lists[4];

	ck_assert_uint_le(n, 3);
	if (lists[n].n != n)
		lists[n] = ml_keys(names, n);
	return (struct blt_map_opts){.keys = &lists[n], .workers = 1};
}

/* Cancel once a file has this many lines, or after a minute (so that a
 * map whose commands never get there fails instead of hanging). */
struct cancel_lines {
	const char *file;
	int lines;
	time_t deadline;
};

static int
cancel_at_lines(void *arg, const struct blt_map_stats *st)
{
	struct cancel_lines *c = arg;

	(void)st;
	return ml_count_lines(c->file) >= c->lines || time(NULL) > c->deadline;
}

/* Each command ignores SIGTERM, writes its shell's pid, that of a child
 * and that of a child that left the process group (setsid), both of which
 * inherit the ignored SIGTERM, to a file and waits for the children.  The
 * cancel must kill all three, and leave no zombie: kill(pid, 0) fails. */
START_TEST(cancel_kills_the_commands_process_groups)
{
	enum { N = 3 };
	struct blt *db = ml_fill(N, NULL);
	char file[PATH_MAX + 16], cmd[3 * sizeof file + 256];
	struct cancel_lines c = {file, 3 * N, time(NULL) + 60};
	struct blt_map_opts o = {
	    .exec = cmd, .workers = N, .progress = cancel_at_lines, .arg = &c};
	struct blt_map_stats st;
	FILE *f;
	long pid;
	int n = 0;

	snprintf(file, sizeof file, "%s.pids", tu_store);
	snprintf(cmd, sizeof cmd,
	    "trap '' TERM; sleep 1000 & echo \"$$\" >>'%s'; "
	    "echo \"$!\" >>'%s'; setsid sleep 1000 & echo \"$!\" >>'%s'; "
	    "while :; do wait; done",
	    file, file, file);
	ck_assert_int_eq(blt_map(db, &o, &st), -ECANCELED);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_int_eq(ml_count_lines(file), 3 * N);
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	while (fscanf(f, "%ld", &pid) == 1) {
		ck_assert_int_gt(pid, 1);
		ck_assert_msg(kill((pid_t)pid, 0) == -1 && errno == ESRCH,
		    "process %ld of a cancelled command is still there", pid);
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, 3 * N);
	db = ml_close_check_reopen(db, tu_store);
	ck_assert_str_eq(ml_get(db, "k0"), ml_lower_of(0));
	blt_close(db);
}
END_TEST

START_TEST(commands_run_in_dir_and_a_missing_dir_ends_the_map)
{
	struct blt *db = ml_fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat >/dev/null; pwd", .dir = "/usr"};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 10, 0, 0);
	ck_assert_str_eq(ml_get(db, "k1"), "/usr\n");
	o.dir = "/nonexistent/dir";
	ck_assert_int_eq(blt_map(db, &o, &st), -ENOENT);
	ck_assert_ptr_nonnull(
	    strstr(blt_errmsg(), "cannot run in /nonexistent/dir"));
	ck_assert_str_eq(ml_get(db, "k2"), "/usr\n");
	blt_close(db);
}
END_TEST

START_TEST(items_failing_in_a_removed_dir_name_it)
{
	struct blt *db = ml_fill(3, NULL);
	struct blt_map_opts o = in_order(3);
	struct blt_map_stats st;
	char dir[PATH_MAX + 8], file[PATH_MAX + 16], cmd[3 * PATH_MAX],
	    want[PATH_MAX + 128];
	FILE *f;

	/* one worker takes the items in order; the first removes the
	 * directory it runs in, and every item fails for the want of its
	 * file */
	snprintf(dir, sizeof dir, "%.*s/cwd",
	    (int)(strrchr(tu_store, '/') - tu_store), tu_store);
	snprintf(file, sizeof file, "%s/data", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fclose(f);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in k0) rm data && rmdir '%s';; esac; cat data", dir);
	o.exec = cmd;
	o.dir = dir;
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 0, 0, 3);
	snprintf(want, sizeof want,
	    "exit status 1 (its working directory %s is gone: No such file or "
	    "directory): ",
	    dir);
	ck_assert_uint_eq(st.n_errors, 3);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_msg(
		    strncmp(st.first_errors[i].msg, want, strlen(want)) == 0,
		    "%s", st.first_errors[i].msg);
	ck_assert_str_eq(ml_get(db, "k1"), ml_lower_of(1));
	blt_close(db);
}
END_TEST

/* Start sh -c cmd with pipes for its stdin, stdout and stderr (our ends
 * in fds) and a pidfd on it in fds[3]. */
static pid_t
spawn_sh(const char *cmd, int fds[4])
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
	posix_spawn_file_actions_t fa;
	int p[3][2];
	pid_t pid;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pipe2(p[i], O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
	posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
	ck_assert_int_eq(
	    posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0][0]);
	close(p[1][1]);
	close(p[2][1]);
	fds[0] = p[0][1];
	fds[1] = p[1][0];
	fds[2] = p[2][0];
	ck_assert_int_ge(fds[3] = pidfd_open(pid, 0), 0);
	return pid;
}

/* Run cmd through map_worker_pump() with value on its stdin and stdout
 * taken up to limit bytes; kill it if that was over, and reap it. */
static void
pump(struct map_worker_io *io, const char *cmd, size_t limit,
    const unsigned char *value, size_t vlen)
{
	int fds[4], status;
	pid_t pid = spawn_sh(cmd, fds);

	io->limit = limit;
	ck_assert_int_eq(
	    map_worker_pump(io, &fds[0], &fds[1], fds[2], fds[3], value, vlen),
	    0);
	ck_assert_int_eq(fds[0], -1);
	ck_assert_int_eq(fds[1], -1);
	if (io->over || io->timed_out)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(fds[2]);
	close(fds[3]);
}

/* The bound on a command's output, with a small limit in place of the
 * format's 4 GiB - 1: endless output stops the read one byte past the
 * limit, and the buffer never holds more. */
START_TEST(command_output_past_the_limit_stops_the_read)
{
	struct map_worker_io io = {0};

	pump(&io, "yes", 1000, NULL, 0);
	ck_assert_int_eq(io.over, 1);
	ck_assert_uint_eq(io.out_len, 1000);
	ck_assert_uint_le(io.out_cap, 1000);
	ck_assert_int_eq(memcmp(io.out, "y\ny\ny\n", 6), 0);
	pump(&io, "head -c 1000 /dev/zero", 1000, NULL, 0);
	ck_assert_int_eq(io.over, 0);
	ck_assert_uint_eq(io.out_len, 1000);
	pump(&io, "head -c 1001 /dev/zero", 1000, NULL, 0);
	ck_assert_int_eq(io.over, 1);
	free(io.out);
}
END_TEST

/* --item-timeout: a command that runs past it stops the pump (60 s for
 * one that ends at once is a bound against a loaded machine, not a
 * measure); one that ends in time is not touched. */
START_TEST(command_past_its_timeout_stops_the_pump)
{
	struct map_worker_io io = {0};

	io.timeout_ms = 100;
	pump(&io, "echo partial; exec sleep 3600", 1000, NULL, 0);
	ck_assert_int_eq(io.timed_out, 1);
	io.timeout_ms = 60000;
	pump(&io, "echo done", 1000, NULL, 0);
	ck_assert_int_eq(io.timed_out, 0);
	ck_assert_uint_eq(io.out_len, 5);
	free(io.out);
}
END_TEST

/* Of stderr only the first bytes are kept, however much comes; the rest
 * is read and counted, while stdin and stdout, each more than a pipe
 * holds, go on at the same time. */
START_TEST(command_stderr_is_kept_to_its_first_bytes)
{
	struct map_worker_io io = {0};
	size_t len = 1 << 20;
	unsigned char *v = malloc(len);

	for (size_t i = 0; i < len; i++)
		v[i] = (unsigned char)('a' + i % 26);
	pump(&io,
	    "head -c 3000000 /dev/zero | tr '\\0' e >&2; tr a-z A-Z; "
	    "head -c 3000000 /dev/zero | tr '\\0' f >&2",
	    len, v, len);
	ck_assert_int_eq(io.over, 0);
	ck_assert_uint_eq(io.out_len, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(io.out[i], 'A' + i % 26);
	ck_assert_uint_eq(io.err_len, MAP_STDERR_KEEP);
	ck_assert_uint_eq(io.err_total, 6000000);
	for (size_t i = 0; i < MAP_STDERR_KEEP; i++)
		ck_assert_int_eq(io.err[i], 'e');
	free(io.out);
	free(v);
}
END_TEST

/* A command's stderr, of which only the start is used, is not stored
 * whole: under a file size limit a copy in a file would fail (and kill the
 * writer with SIGXFSZ) past it, the bounded read does not.  The failed
 * item shows the first bytes and "...". */
START_TEST(a_commands_large_stderr_is_not_kept_in_a_file)
{
	struct blt *db = ml_fill(2, NULL);
	struct blt_map_opts o = {
	    .exec = "head -c 32000000 /dev/zero | tr '\\0' e >&2 && "
	            "case $BLT_KEY in k0) echo ok;; *) exit 3;; esac",
	    .workers = 1};
	struct rlimit rl = {8 << 20, 8 << 20};
	struct blt_map_stats st;
	const char *msg;

	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 1, 0, 1);
	ck_assert_str_eq(ml_get(db, "k0"), "ok\n");
	msg = st.first_errors[0].msg;
	ck_assert_msg(strncmp(msg, "exit status 3: eee", 18) == 0, "%s", msg);
	ck_assert_uint_eq(strlen(msg), strlen("exit status 3: ") + 400 + 3);
	ck_assert_str_eq(msg + strlen(msg) - 4, "e...");
	blt_close(db);
}
END_TEST

/* A worker that dies after the directory the map runs in was removed is
 * replaced by one that runs in the removed directory too, as the first
 * one did: the map goes on.  One worker takes k0, which removes the
 * directory, then k1, whose command kills its worker (every time). */
START_TEST(a_worker_replaced_after_its_dir_is_removed_runs_in_it)
{
	struct blt *db = ml_fill(3, NULL);
	struct blt_map_opts o = in_order(3);
	struct blt_map_stats st;
	char dir[PATH_MAX + 8], cmd[2 * PATH_MAX];

	snprintf(dir, sizeof dir, "%.*s/cwd",
	    (int)(strrchr(tu_store, '/') - tu_store), tu_store);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in k0) rmdir '%s' 2>/dev/null;; "
	    "k1) kill -KILL $PPID;; esac; echo ran",
	    dir);
	o.exec = cmd;
	o.dir = dir;
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 2, 0, 1);
	ck_assert_uint_ge(st.restarts, 1);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "k1", 2), 0);
	ck_assert_str_eq(st.first_errors[0].msg,
	    "its worker was killed by signal 9 (Killed)");
	ck_assert_str_eq(ml_get(db, "k0"), "ran\n");
	ck_assert_str_eq(ml_get(db, "k2"), "ran\n");
	ck_assert_int_eq(access(dir, F_OK), -1);
	blt_close(db);
}
END_TEST

/* Wait for each process listed in file (pids, as a command wrote them),
 * our child as we are a subreaper, to end and reap it; one that is still
 * there after a minute (a bound against hanging, not a measure) is killed,
 * so that a failure leaves nothing behind.  Returns how many were still
 * there, and the number listed in *n. */
static int
reap_listed(const char *file, int *n)
{
	time_t deadline = time(NULL) + 60;
	int left = 0, fd;
	FILE *f;
	long pid;

	*n = 0;
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	while (fscanf(f, "%ld", &pid) == 1) {
		struct pollfd pfd = {.events = POLLIN};
		time_t now = time(NULL);
		int ms = now < deadline ? (int)(deadline - now) * 1000 : 0;

		ck_assert_int_gt(pid, 1);
		(*n)++;
		ck_assert_int_ge(fd = pidfd_open((pid_t)pid, 0), 0);
		pfd.fd = fd;
		if (poll(&pfd, 1, ms) != 1) {
			left++;
			kill((pid_t)pid, SIGKILL);
		}
		waitpid((pid_t)pid, NULL, 0);
		close(fd);
	}
	fclose(f);
	return left;
}

/* A worker killed with SIGKILL (here by its command, as by the OOM killer
 * or a user) has no time to stop its command: the map kills what is left
 * of it as it reaps the worker.  k1's command starts a sleeper, writes its
 * shell's pid and the sleeper's, then kills its worker and waits.  As we
 * are a subreaper, both become our children once the worker is gone, so
 * their pids stay theirs until we reap them. */
START_TEST(a_killed_workers_command_is_killed_with_it)
{
	struct blt *db = ml_fill(3, NULL);
	struct blt_map_opts o = in_order(3);
	char file[PATH_MAX + 16], cmd[2 * sizeof file + 256];
	struct blt_map_stats st;
	int n;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(file, sizeof file, "%s.pids", tu_store);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in k1) sleep 1000 & echo \"$$ $!\" >>'%s'; "
	    "kill -KILL $PPID; wait;; esac; echo ran",
	    file);
	o.exec = cmd;
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 2, 0, 1);
	ck_assert_str_eq(st.first_errors[0].msg,
	    "its worker was killed by signal 9 (Killed)");
	/* k1 ran in the first batch and then alone: 2 commands or more */
	ck_assert_int_eq(reap_listed(file, &n), 0);
	ck_assert_int_ge(n, 4);
	ck_assert_str_eq(ml_get(db, "k2"), "ran\n");
	blt_close(db);
}
END_TEST

/* What commands leave running ends with the map, even a process that
 * ignores SIGTERM, in the commands' process group or out of it (setsid):
 * when blt_map() returns, the sleepers the commands started are gone
 * (reaped by their worker). */
START_TEST(processes_commands_leave_running_end_with_the_map)
{
	struct blt *db = ml_fill(3, NULL);
	char file[PATH_MAX + 16], cmd[3 * sizeof file + 256];
	struct blt_map_opts o = {.exec = cmd, .workers = 1};
	struct blt_map_stats st;
	int n = 0, left = 0;
	FILE *f;
	long pid;

	snprintf(file, sizeof file, "%s.pids", tu_store);
	snprintf(cmd, sizeof cmd,
	    "(trap '' TERM; exec sleep 1000) >/dev/null 2>&1 & "
	    "echo \"$!\" >>'%s'; "
	    "(trap '' TERM; exec setsid sleep 1000) >/dev/null 2>&1 & "
	    "echo \"$!\" >>'%s'; tr a-z A-Z",
	    file, file);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 3, 0, 0);
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	while (fscanf(f, "%ld", &pid) == 1) {
		ck_assert_int_gt(pid, 1);
		n++;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
			left++;
			kill((pid_t)pid, SIGKILL);
		}
	}
	fclose(f);
	ck_assert_int_eq(n, 6);
	ck_assert_msg(
	    left == 0, "%d of the commands' sleepers still run", left);
	ck_assert_str_eq(ml_get(db, "k1"), ml_upper_of(1));
	blt_close(db);
}
END_TEST

/* A big result gives its memory back once its batch is answered: one
 * worker maps k0 to 64 MiB of zeros, then k1 to k23 to its own resident
 * size (VmRSS, the command's parent), which in the batches after k0's
 * (MAP_EXEC_ITEMS items each) must be below 64 MiB: the worker's buffers
 * of the command's output and of the reply shrink back.  Not under
 * AddressSanitizer, whose allocator holds freed memory in quarantine. */
START_TEST(a_big_result_gives_its_memory_back)
{
	if (tu_asan())
		return;
	enum { N = 24 };
	struct blt *db = ml_fill(N, NULL);
	static const char cmd[] =
	    "if [ \"$BLT_KEY\" = k0 ]; then head -c 67108864 /dev/zero; "
	    "else sed -n 's/^VmRSS:[^0-9]*\\([0-9]*\\) kB$/\\1/p' "
	    "/proc/$PPID/status; fi";
	char names[N][8];
	const char *name[N];
	struct blt_map_keys keys;
	struct blt_map_opts o = {.exec = cmd, .keys = &keys, .workers = 1};
	struct blt_map_stats st;
	long kb;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "k%d", i);
		name[i] = names[i];
	}
	keys = ml_keys(name, N);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, N, 0, 0);
	ck_assert_int_eq(blt_get(db, "k0", 2, NULL, 0, NULL), 64 << 20);
	for (int i = 2 * 8; i < N; i++) {
		ck_assert_int_eq(sscanf(ml_get(db, names[i]), "%ld", &kb), 1);
		ck_assert_msg(kb > 0 && kb < 65536,
		    "%s: the worker's resident size was %ld kB after the big "
		    "result",
		    names[i], kb);
	}
	blt_map_keys_free(&keys);
	blt_close(db);
}
END_TEST

/* What a process that a command left running writes to stderr later is
 * not part of a later item's message.  One worker takes k0, then k1; k0's
 * command leaves a process that waits for k1's command (on a FIFO), then
 * writes "late" to the stderr it inherited, and tells k1's command, which
 * then fails with its own words. */
START_TEST(stderr_of_a_process_left_running_is_not_a_later_items)
{
	struct blt *db = ml_fill(2, NULL);
	struct blt_map_opts o = in_order(2);
	char go[PATH_MAX + 16], back[PATH_MAX + 16], cmd[4 * sizeof go + 256];
	struct blt_map_stats st;

	snprintf(go, sizeof go, "%s.go", tu_store);
	snprintf(back, sizeof back, "%s.back", tu_store);
	ck_assert_int_eq(mkfifo(go, 0600), 0);
	ck_assert_int_eq(mkfifo(back, 0600), 0);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in "
	    "k0) (read _ <'%s'; echo late >&2; echo >'%s') >/dev/null & "
	    "echo ok;; "
	    "k1) echo >'%s'; read _ <'%s'; echo mine >&2; exit 3;; esac",
	    go, back, go, back);
	o.exec = cmd;
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 1, 0, 1);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "k1", 2), 0);
	ck_assert_str_eq(st.first_errors[0].msg, "exit status 3: mine");
	ck_assert_str_eq(ml_get(db, "k0"), "ok\n");
	unlink(go);
	unlink(back);
	blt_close(db);
}
END_TEST

static Suite *
map_proc_suite(void)
{
	Suite *s = suite_create("map_proc");
	TCase *tc = ml_tcase();

	tcase_add_test(tc, cancel_kills_the_commands_process_groups);
	tcase_add_test(tc, commands_run_in_dir_and_a_missing_dir_ends_the_map);
	tcase_add_test(tc, items_failing_in_a_removed_dir_name_it);
	tcase_add_test(tc, command_output_past_the_limit_stops_the_read);
	tcase_add_test(tc, command_stderr_is_kept_to_its_first_bytes);
	tcase_add_test(tc, command_past_its_timeout_stops_the_pump);
	tcase_add_test(tc, a_commands_large_stderr_is_not_kept_in_a_file);
	tcase_add_test(
	    tc, a_worker_replaced_after_its_dir_is_removed_runs_in_it);
	tcase_add_test(tc, a_killed_workers_command_is_killed_with_it);
	tcase_add_test(tc, processes_commands_leave_running_end_with_the_map);
	tcase_add_test(tc, a_big_result_gives_its_memory_back);
	tcase_add_test(
	    tc, stderr_of_a_process_left_running_is_not_a_later_items);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	return ml_main(argc, argv, map_proc_suite);
}
