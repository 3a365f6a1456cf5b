/*
 * fuzz_replay.c: runs the libFuzzer target of fuzz_open.c over every file
 * of the corpus directories given as arguments (default: the seeds in
 * tests/fuzz-corpus; single files are replayed too), so that make check replays
 * the corpus, and every reproducer added to it, with any compiler.  A broken
 * engine claim aborts inside the target; the file being replayed is printed
 * first.
 */
#include "config.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* Replay every regular file in dir; returns how many, or -1. */
static int
replay_dir(const char *dir)
{
	struct dirent **names;
	int n, done = 0;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		unsigned char *data;
		size_t size;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		if ((data = replay_load(path, &size)) == NULL)
			continue;
		fprintf(stderr, "replay %s (%zu bytes)\n", path, size);
		LLVMFuzzerTestOneInput(data, size);
		free(data);
		done++;
	}
	free(names);
	return done;
}

int
main(int argc, char **argv)
{
	const char *def[] = {NULL, FUZZ_CORPUS};
	int total = 0;

	if (argc < 2) {
		argv = (char **)def;
		argc = 2;
	}
	for (int i = 1; i < argc; i++) {
		unsigned char *data;
		size_t size;
		int n;

		if ((data = replay_load(argv[i], &size)) != NULL) {
			/* A single file, such as a crash reproducer. */
			LLVMFuzzerTestOneInput(data, size);
			free(data);
			total++;
			continue;
		}
		n = replay_dir(argv[i]);

		if (n < 0)
			return 2;
		total += n;
	}
	printf("replayed %d inputs\n", total);
	return total > 0 ? 0 : 1;
}
