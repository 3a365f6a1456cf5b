/*
 * A program on the installed libbooklet (doc/booklet.3):
 *
 *   cc -o example example.c $(pkg-config --cflags --libs booklet)
 *
 *   example STORE              list the keys and their values' sizes
 *   example STORE KEY          write KEY's value to stdout
 *   example STORE KEY VALUE    store VALUE under KEY, creating STORE
 *
 * Every call returns a negative errno on failure, and blt_errmsg() says
 * which file or key, and why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <booklet.h>

static int
example_fail(int rc)
{
	fprintf(stderr, "example: %s (%s)\n", blt_errmsg(), strerror(-rc));
	return 1;
}

/* Keys are byte strings: printed as they are, one a line. */
static int
example_list(struct blt *db)
{
	struct blt_iter *it;
	struct blt_item item;
	int rc;

	if ((rc = blt_iter_create(db, &it)) < 0)
		return rc;
	while ((rc = blt_iter_next(it, &item)) == 1)
		printf("%.*s\t%zu\n", (int)item.klen, (const char *)item.key,
		    item.vlen);
	blt_iter_free(it);
	if (rc == 0)
		printf("%lld keys\n", (long long)blt_count(db));
	return rc;
}

/* blt_get() returns the value's full length: ask again with a buffer that
 * holds it. */
static int
example_get(struct blt *db, const char *key)
{
	char probe[1];
	ssize_t n;
	char *buf;

	if ((n = blt_get(db, key, strlen(key), probe, 0, NULL)) < 0)
		return (int)n;
	if ((buf = malloc(n ? (size_t)n : 1)) == NULL)
		return blt_errmsg_set(-ENOMEM, "%s: out of memory", key);
	if ((n = blt_get(db, key, strlen(key), buf, (size_t)n, NULL)) >= 0)
		fwrite(buf, 1, (size_t)n, stdout);
	free(buf);
	return n < 0 ? (int)n : 0;
}

int
main(int argc, char **argv)
{
	struct blt *db;
	int mode = argc == 4 ? BLT_CREATE : BLT_RDONLY;
	int rc, crc;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: example STORE [KEY [VALUE]]\n");
		return 2;
	}
	if ((rc = blt_open(argv[1], mode, NULL, &db)) < 0)
		return example_fail(rc);
	if (argc == 2)
		rc = example_list(db);
	else if (argc == 3)
		rc = example_get(db, argv[2]);
	else
		rc = blt_put(db, argv[2], strlen(argv[2]), argv[3],
		    strlen(argv[3]), BLT_NOW);
	/* The close writes what the put buffered: its error counts too. */
	crc = blt_close(db);
	if (rc >= 0 && crc < 0)
		rc = crc;
	return rc < 0 ? example_fail(rc) : 0;
}
