/*
 * fuzz_replay.c: runs the libFuzzer target of fuzz_open.c over every file
 * of the corpus directories given as arguments (default: the seeds in
 * tests/fuzz-corpus; single files are replayed too), so that make check
 * replays the corpus, and every reproducer added to it, with any compiler.
 *
 * A broken engine claim aborts inside the target, and so does a crash; each
 * input runs in a child process so that one failure does not hide the
 * next, and every failing input is named at the end.
 */
#include "config.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_total, replay_failed;

/* Read the whole file at path; NULL if it is not a readable regular file. */
static unsigned char *
replay_load(const char *path, size_t *size)
{
	unsigned char *buf;
	struct stat st;
	FILE *f;

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*size = (size_t)st.st_size;
	return buf;
}

/* Replay the file at path in a child; returns 0 if it was not a file. */
static int
replay_file(const char *path)
{
	unsigned char *data;
	size_t size;
	pid_t pid;
	int status;

	if ((data = replay_load(path, &size)) == NULL)
		return 0;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		LLVMFuzzerTestOneInput(data, size);
		exit(0);
	}
	free(data);
	replay_total++;
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s (%zu bytes)\n", path, size);
		replay_failed++;
	}
	return 1;
}

/* Replay every regular file in dir; -1 if dir cannot be read. */
static int
replay_dir(const char *dir)
{
	struct dirent **names;
	int n;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		replay_file(path);
	}
	free(names);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *def[] = {NULL, FUZZ_CORPUS};

	if (argc < 2) {
		argv = (char **)def;
		argc = 2;
	}
	for (int i = 1; i < argc; i++)
		if (!replay_file(argv[i]) && replay_dir(argv[i]) < 0)
			return 2;
	printf("replayed %d inputs, %d failed\n", replay_total, replay_failed);
	return replay_total > 0 && replay_failed == 0 ? 0 : 1;
}
