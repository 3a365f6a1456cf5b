/*
 * engine-lmdb.c: bench_engine's peer, LMDB, on the same workloads: one
 * write transaction per write workload under LMDB's default, durable
 * flags, read transactions for the reads, and a compacting copy for a
 * prune.  Errors come back as codes for mdb_strerror().
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "bench.h"
#include "engine.h"

static int
bench_mdb_err(struct bench *b, const char *what, int rc)
{
	return bench_fail(b, "%s: %s", what, mdb_strerror(rc));
}

/* A new environment in b->mdb_dir, with a map large enough for the run. */
int
bench_mdb_open(struct bench *b)
{
	size_t per = BENCH_KLEN + b->vlen + 64, map;
	MDB_txn *txn;
	int rc;

	/* Values past about a quarter page go to overflow pages. */
	if (b->vlen > 1000)
		per = (b->vlen + 16 + 4095) / 4096 * 4096 + 64;
	/* Half-full leaves after random inserts, a second copy of every page
	 * while one transaction rewrites them all, and free pages that only a
	 * later transaction may reuse: about 3x the data in practice.  The
	 * map is only address space, so be generous. */
	map = 10 * per * b->n + (256u << 20);
	if (mkdir(b->mdb_dir, 0755) == -1)
		return bench_fail(b, "%s: %s", b->mdb_dir, strerror(errno));
	if ((rc = mdb_env_create(&b->env)) != 0)
		return bench_mdb_err(b, "mdb_env_create", rc);
	if ((rc = mdb_env_set_mapsize(b->env, map)) != 0)
		return bench_mdb_err(b, "mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(b->env, b->mdb_dir, 0, 0644)) != 0)
		return bench_mdb_err(b, b->mdb_dir, rc);
	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &b->dbi)) != 0) {
		mdb_txn_abort(txn);
		return bench_mdb_err(b, "mdb_dbi_open", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_commit", rc);
	return 0;
}

/* End an LMDB write workload: commit txn, timed on its own. */
static int
bench_mdb_commit(struct bench *b, MDB_txn *txn)
{
	double t0 = bench_now();
	int rc;

	if ((rc = mdb_txn_commit(txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_commit", rc);
	b->commit[SIDE_MDB] = bench_now() - t0;
	return 0;
}

/* Put every key with its value of generation gen in one transaction. */
int
bench_mdb_put(struct bench *b, int gen, uint64_t *ops)
{
	MDB_val k = {BENCH_KLEN, NULL}, v = {b->vlen, NULL};
	MDB_txn *txn;
	size_t i;
	int rc;

	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n; i++) {
		k.mv_data = (void *)bench_key(b, i);
		v.mv_data = (void *)bench_value(b, i, gen);
		if ((rc = mdb_put(txn, b->dbi, &k, &v, 0)) != 0) {
			mdb_txn_abort(txn);
			return bench_mdb_err(b, "mdb_put", rc);
		}
	}
	if ((rc = bench_mdb_commit(b, txn)) < 0)
		return rc;
	*ops = b->n;
	return 0;
}

/* The value is copied out, as blt_get() does, so both deliver the same. */
int
bench_mdb_get(
    struct bench *b, const unsigned char *keys, int hit, uint64_t *ops)
{
	MDB_val k = {BENCH_KLEN, NULL}, v;
	MDB_txn *txn;
	size_t i;
	int rc, bad;

	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n; i++) {
		k.mv_data = (void *)(keys + i * BENCH_KLEN);
		rc = mdb_get(txn, b->dbi, &k, &v);
		if (hit)
			bad = rc != 0 || v.mv_size != b->vlen;
		else
			bad = rc != MDB_NOTFOUND;
		if (bad) {
			mdb_txn_abort(txn);
			if (rc != 0 && rc != MDB_NOTFOUND)
				return bench_mdb_err(b, "mdb_get", rc);
			return bench_fail(b, "mdb_get: key %zu of %s: %s", i,
			    hit ? "the read order" : "the misses",
			    hit ? (rc ? "missing" : "wrong length")
			        : "found, but never stored");
		}
		if (hit) {
			memcpy(b->buf, v.mv_data, v.mv_size);
			b->sink += b->buf[0];
		} else
			b->sink++;
		(*ops)++;
	}
	mdb_txn_abort(txn);
	return 0;
}

/* A full scan with a cursor. */
int
bench_mdb_scan(struct bench *b, uint64_t *ops)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	if ((rc = mdb_cursor_open(txn, b->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return bench_mdb_err(b, "mdb_cursor_open", rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		b->sink +=
		    k.mv_size + v.mv_size + ((unsigned char *)k.mv_data)[0] +
		    (v.mv_size ? ((unsigned char *)v.mv_data)[v.mv_size - 1]
		               : 0);
		(*ops)++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND)
		return bench_mdb_err(b, "mdb_cursor_get", rc);
	return 0;
}

/* Delete the first half of the read order in one transaction. */
int
bench_mdb_del(struct bench *b, uint64_t *ops)
{
	MDB_val k = {BENCH_KLEN, NULL};
	MDB_txn *txn;
	size_t i;
	int rc;

	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n / 2; i++) {
		k.mv_data = b->shuf + i * BENCH_KLEN;
		if ((rc = mdb_del(txn, b->dbi, &k, NULL)) != 0) {
			mdb_txn_abort(txn);
			return bench_mdb_err(b, "mdb_del", rc);
		}
	}
	if ((rc = bench_mdb_commit(b, txn)) < 0)
		return rc;
	*ops = b->n / 2;
	return 0;
}

/* A compacting copy into a new file, made durable like blt_prune's. */
int
bench_mdb_compact(struct bench *b, int deleted, uint64_t *ops)
{
	int fd, rc;

	fd = open(b->mdb_copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return bench_fail(b, "%s: %s", b->mdb_copy, strerror(errno));
	if ((rc = mdb_env_copyfd2(b->env, fd, MDB_CP_COMPACT)) != 0) {
		close(fd);
		return bench_mdb_err(b, "mdb_env_copyfd2", rc);
	}
	if (fsync(fd) == -1) {
		rc = errno;
		close(fd);
		return bench_fail(
		    b, "%s: fsync: %s", b->mdb_copy, strerror(rc));
	}
	close(fd);
	*ops = deleted ? b->n - b->n / 2 : b->n;
	return 0;
}

/* Every key holds its value of generation gen, or is gone when deleted. */
int
bench_mdb_check(struct bench *b, int gen, int deleted)
{
	MDB_val k = {BENCH_KLEN, NULL}, v;
	MDB_stat st;
	MDB_txn *txn;
	size_t i;
	int rc, bad;

	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n; i++) {
		k.mv_data = (void *)bench_key(b, i);
		rc = mdb_get(txn, b->dbi, &k, &v);
		if (deleted && b->dead[i])
			bad = rc != MDB_NOTFOUND;
		else
			bad =
			    rc != 0 || v.mv_size != b->vlen ||
			    memcmp(v.mv_data, bench_value(b, i, gen), b->vlen);
		if (bad) {
			mdb_txn_abort(txn);
			return bench_fail(b, "mdb_get: key %zu: %s", i,
			    rc == 0
			        ? (deleted && b->dead[i] ? "deleted but found"
			                                 : "wrong value")
			        : mdb_strerror(rc));
		}
	}
	rc = mdb_stat(txn, b->dbi, &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return bench_mdb_err(b, "mdb_stat", rc);
	if (st.ms_entries != (deleted ? b->n - b->n / 2 : b->n))
		return bench_fail(b, "mdb_stat: %zu entries", st.ms_entries);
	return 0;
}
