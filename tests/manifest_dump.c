/*
 * manifest_dump: print a fixture manifest in a form shell tests can diff
 * against the output of blt or of a mount, after checking it as
 * check_fixtures does.
 *
 *   manifest_dump FILE.json      one "key_hex value_sha256 timestamp" line
 *                                per item, sorted by key; "-" for no
 *                                timestamp
 *   manifest_dump -k FILE.json   key_hex only
 *   manifest_dump -s FILE.json   the file-level fields, one "name value"
 *                                per line
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"

static void
dump_usage(void)
{
	fprintf(stderr, "usage: manifest_dump [-k | -s] FILE.json\n");
	exit(2);
}

static void
dump_summary(const struct manifest *m)
{
	const struct manifest_layout *l = &m->layout;
	char hex[2 * 16 + 1];

	printf("file %s\n", m->file);
	printf("n_keys %llu\n", (unsigned long long)m->n_keys);
	printf("variable_or_fixed %s\n", m->fixed ? "fixed" : "variable");
	printf("value_len %u\n", (unsigned)m->value_len);
	printf("key_serializer_code %u\n", m->key_serializer_code);
	printf("value_serializer_code %u\n", m->value_serializer_code);
	printf("timestamps %d\n", m->timestamps);
	printf("metadata %s\n", m->metadata != NULL ? "set" : "null");
	printf("reserved_1 %s\n", m->reserved_set[0] ? "set" : "null");
	printf("reserved_2 %s\n", m->reserved_set[1] ? "set" : "null");
	printf("format_version %u\n", l->format_version);
	printf("n_buckets %u\n", (unsigned)l->n_buckets);
	printf("index_offset %llu\n", (unsigned long long)l->index_offset);
	printf("first_data %llu\n", (unsigned long long)l->first_data);
	printf("file_size %llu\n", (unsigned long long)l->file_size);
	printf("uuid %s\n", manifest_hex(l->uuid, 16, hex, sizeof hex));
}

int
main(int argc, char **argv)
{
	struct manifest *m;
	char sha[2 * SHA256_LEN + 1];
	int c, keys_only = 0, summary = 0;
	size_t i;

	while ((c = getopt(argc, argv, "ks")) != -1) {
		switch (c) {
		case 'k':
			keys_only = 1;
			break;
		case 's':
			summary = 1;
			break;
		default:
			dump_usage();
		}
	}
	if (optind != argc - 1 || (keys_only && summary))
		dump_usage();
	if (manifest_load(argv[optind], &m) < 0) {
		fprintf(stderr, "manifest_dump: %s\n", blt_errmsg());
		return 1;
	}
	if (summary)
		dump_summary(m);
	for (i = 0; !summary && i < m->n_items; i++) {
		const struct manifest_item *it = &m->items[i];

		if (keys_only) {
			printf("%s\n", it->key_hex);
			continue;
		}
		manifest_hex(it->sha256, SHA256_LEN, sha, sizeof sha);
		if (it->timestamp == MANIFEST_NO_TS)
			printf("%s %s -\n", it->key_hex, sha);
		else
			printf("%s %s %lld\n", it->key_hex, sha,
			    (long long)it->timestamp);
	}
	manifest_free(m);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("manifest_dump: stdout");
		return 1;
	}
	return 0;
}
