/*
 * What a job changed behind the kernel's back, told to the directory index
 * and to the kernel: notes gathered while the locks are held (the names and
 * nodes whose cached entries and pages must go), sent once they are
 * released (job.c explains the order).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ctl-int.h"
#include "indexer.h"
#include "ops.h"

static struct job_note *
job_note_add(struct job_notes *ns)
{
	struct job_note *v;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;

		if ((v = realloc(ns->v, cap * sizeof *v)) == NULL)
			return NULL;
		ns->v = v;
		ns->cap = cap;
	}
	return &ns->v[ns->n++];
}

/* Whether node was told already in this batch: seen is a set of cap (a
 * power of two) slots, 0 empty; NULL (out of memory) tells every one. */
static int
job_told_before(uint64_t *seen, size_t cap, uint64_t node)
{
	size_t i;

	if (seen == NULL)
		return 0;
	for (i = (size_t)(node * UINT64_C(0x9e3779b97f4a7c15) >> 32) &
	         (cap - 1);
	     seen[i] != 0; i = (i + 1) & (cap - 1))
		if (seen[i] == node)
			return 1;
	seen[i] = node;
	return 0;
}

/* Tell the kernel; called with no lock held.  ENOENT only says the kernel
 * did not know the node or name.  Each node is told once: a batch of keys
 * written round the directories (a pipeline's flush of 100,000 keys in
 * 1,000 of them) names each directory a hundred times, and every notice
 * is a write to /dev/fuse. */
void
job_notify(struct fs *fs, struct job_notes *ns)
{
	struct job_note *n;
	uint64_t *seen = NULL;
	size_t cap = 16;
	int rc;

	while (cap < 2 * ns->n)
		cap *= 2;
	if (ns->n > 1)
		seen = calloc(cap, sizeof *seen);
	for (size_t i = 0; i < ns->n; i++) {
		n = &ns->v[i];
		if (n->entry)
			rc = fuse_lowlevel_notify_inval_entry(
			    fs->se, n->parent, n->name, n->nlen);
		else if (job_told_before(seen, cap, n->node))
			continue;
		else
			rc = fuse_lowlevel_notify_inval_inode(
			    fs->se, n->node, 0, 0);
		if (rc < 0 && rc != -ENOENT && rc != -ENOTCONN)
			fs_log("job: telling the kernel of a change: %s",
			    strerror(-rc));
	}
	free(seen);
	ns->n = 0;
	ns->last_dir = 0;
}

void
job_notes_move(struct job_notes *dst, struct job_notes *src)
{
	struct job_note *n;

	if (dst->n == 0) { /* the common case: take the array whole */
		free(dst->v);
		*dst = *src;
		dst->last_dir = 0;
		memset(src, 0, sizeof *src);
		return;
	}
	for (size_t i = 0; i < src->n; i++)
		if ((n = job_note_add(dst)) != NULL)
			*n = src->v[i];
	free(src->v);
	memset(src, 0, sizeof *src);
	dst->last_dir = 0;
}

void
job_note_entry(
    struct job_notes *ns, uint64_t parent, const char *name, size_t nlen)
{
	struct job_note *n;

	if ((n = job_note_add(ns)) == NULL)
		return; /* the kernel's cache may stay stale: logged below */
	n->entry = 1;
	n->parent = parent;
	n->nlen = nlen;
	memcpy(n->name, name, nlen);
	n->name[nlen] = '\0';
}

/* A name was added to directory dir.  The kernel drops its entry for a
 * name only if it has one, and keeps the directory's listing; so the
 * listing is dropped too, once for a run of names in one directory. */
static void
job_note_dir(struct job_notes *ns, uint64_t dir)
{
	if (ns->last_dir == dir)
		return;
	job_note_node(ns, dir);
	ns->last_dir = dir;
}

void
job_note_node(struct job_notes *ns, uint64_t node)
{
	struct job_note *n;

	if ((n = job_note_add(ns)) == NULL)
		return; /* the kernel's cache may stay stale */
	n->entry = 0;
	n->node = node;
}

void
job_note_stale(struct job_notes *ns, const struct inode_stale *s)
{
	if (s->valid)
		job_note_entry(ns, s->parent, s->name, s->nlen);
}

int
job_locate(struct inode_tree *t, const void *key, size_t klen, int marker,
    uint64_t *node, struct job_note *where)
{
	struct path_walk w;
	struct inode_info in;
	uint64_t parent = INODE_ROOT;
	int any = 0;

	/* Peeks: a file that is no node is nothing the kernel holds, and
	 * making it one here would keep a node for every file a map stores
	 * (240 bytes a key where an entry costs 30: 2.7 GB after a map of
	 * 10M keys). */
	path_walk_start(&w, inode_conf(t), key, klen, marker);
	while (path_walk_next(&w)) {
		/* below a file: where names the file, which becomes a
		 * directory */
		if (any && in.nodeid == 0)
			return 0;
		where->parent = parent;
		where->nlen = w.nlen;
		memcpy(where->name, w.name, w.nlen + 1);
		if (inode_lookup(t, parent, w.name, w.nlen, INODE_PEEK, &in) <
		    0)
			return 0;
		parent = in.nodeid;
		any = 1;
	}
	if (!any)
		return 0;
	/* a file whose path is also a directory lives inside it */
	if (!marker && in.type == INODE_DIR) {
		if (inode_lookup(t, in.nodeid, PATH_SELF, PATH_SELF_LEN,
		        INODE_PEEK, &in) < 0)
			return 0;
		where->parent = parent;
		where->nlen = PATH_SELF_LEN;
		memcpy(where->name, PATH_SELF, PATH_SELF_LEN + 1);
	}
	*node = in.nodeid;
	return 1;
}

/* 1 if the store surely has not key, 0 if it has, -EAGAIN if it cannot
 * tell: read without the lock (blt_peeking()), it does not wait for it
 * (the caller holds fs->wlock, which the followers of the lock's holder
 * may want). */
static int
job_surely_gone(struct fs *fs, const unsigned char *key, size_t klen)
{
	struct blt_entry e;
	int rc;

	if (!blt_peeking(fs->db))
		return blt_exists(fs->db, key, klen) == 0;
	if ((rc = blt_find_nowait(fs->db, key, klen, &e)) == -ENOENT)
		return 1;
	return rc == -EAGAIN ? -EAGAIN : 0;
}

uint64_t
job_keyed_names(struct fs *fs)
{
	uint64_t names = inode_count(fs->tree), unstored = handle_unstored(fs);

	return names > unstored ? names - unstored : 0;
}

/* The directories from dir up that the delete of a key below them left
 * with no entry and no marker key go, as they would from a remount: they
 * were there for keys another process has deleted.  Not while the index
 * is being built, whose directories may not hold their keys yet. */
static void
job_drop_emptied(struct fs *fs, uint64_t dir, struct job_notes *ns)
{
	struct inode_stale stale;
	uint64_t up;

	if (lazy_building(fs))
		return;
	while (dir != INODE_ROOT &&
	       (up = inode_drop_emptied(fs->tree, dir, &stale)) != 0) {
		job_note_stale(ns, &stale);
		job_note_node(ns, up);
		dir = up;
	}
}

/* key is gone from the mounted store: if the index still has it, it
 * goes, and the kernel drops the name and its directory's kept listing;
 * with drop, so do the directories that leaves empty.  A file being
 * written keeps its name: its close stores it. */
static int
job_forget(struct fs *fs, const unsigned char *key, size_t klen,
    struct job_notes *ns, int drop)
{
	struct inode_stale stale = {0};
	struct inode_info in;
	struct job_note where;
	uint64_t node;
	int gone;

	if (!job_locate(fs->tree, key, klen,
	        path_may_be_marker(inode_conf(fs->tree), key, klen), &node,
	        &where) ||
	    (node != 0 && handle_pending(fs, node)))
		return 0;
	if ((gone = job_surely_gone(fs, key, klen)) <= 0)
		return gone;
	if (inode_del_key(fs->tree, key, klen, &stale) < 0)
		return 0;
	job_note_entry(ns, where.parent, where.name, where.nlen);
	job_note_node(ns, where.parent);
	job_note_stale(ns, &stale);
	if (!drop)
		return 1;
	/* a marker key's directory stays in the tree without it; node is
	 * not read for that: a file's node may be freed at any time (a
	 * listing makes and drops them), a directory's only under
	 * fs->wlock */
	if (inode_lookup(fs->tree, where.parent, where.name, where.nlen,
	        INODE_PEEK, &in) == 0 &&
	    in.type == INODE_DIR)
		job_drop_emptied(fs, in.nodeid, ns);
	else
		job_drop_emptied(fs, where.parent, ns);
	return 1;
}

int
job_forget_key(
    struct fs *fs, const unsigned char *key, size_t klen, struct job_notes *ns)
{
	return job_forget(fs, key, klen, ns, 0);
}

int
job_forget_deleted(
    struct fs *fs, const unsigned char *key, size_t klen, struct job_notes *ns)
{
	return job_forget(fs, key, klen, ns, 1);
}

/* job_learn_key(), or, unless check, job_learn_appended(); fs->wlock
 * held, or taken here unless held. */
static void
job_learn(struct fs *fs, const unsigned char *key, size_t klen, uint64_t vlen,
    struct job_notes *ns, int check, int held)
{
	struct inode_stale stale = {0};
	struct inode_info info;
	struct job_note where;
	uint64_t node;
	int found, marker, rc, missed = 0;

	marker = path_is_marker(inode_conf(fs->tree), key, klen, vlen);
	if (!held)
		pthread_mutex_lock(&fs->wlock);
	/* an unlink or rename may have taken it away since */
	if (check && blt_exists(fs->db, key, klen) != 1) {
		if (!held)
			pthread_mutex_unlock(&fs->wlock);
		return;
	}
	found = job_locate(fs->tree, key, klen, marker, &node, &where);
	rc = inode_put_key(fs->tree, key, klen, vlen, &info, &stale);
	/* the kernel holds no entry for a new name, but where a lookup was
	 * told there is none (op_lookup()): told only there, a flush of new
	 * keys costs a write to /dev/fuse less a key.  Read under fs->wlock,
	 * which keeps the directory from going (an rmdir) */
	if (rc >= 0 && !found) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		missed = (inode_dir_seen(fs->tree, where.parent, 0) &
		             INODE_SEEN_MISSED) != 0;
	}
	if (!held)
		pthread_mutex_unlock(&fs->wlock);
	if (rc < 0) {
		fs_log("map: %s", blt_errmsg());
		return;
	}
	if (!found) {
		if (missed)
			job_note_entry(
			    ns, where.parent, where.name, where.nlen);
		job_note_dir(ns, where.parent);
	} else if (node != 0) {
		/* the old value's pages and attributes: the kernel holds the
		 * file (a node), where a file that is no node it knows not */
		job_note_node(ns, info.nodeid);
	}
	job_note_stale(ns, &stale);
}

/* A map stored key in the mounted store: the index learns it, and the
 * kernel drops what it knew of the name or of the old value. */
void
job_learn_key(struct fs *fs, const unsigned char *key, size_t klen,
    uint64_t vlen, struct job_notes *ns)
{
	job_learn(fs, key, klen, vlen, ns, 1, 0);
}

void
job_learn_appended(struct fs *fs, const unsigned char *key, size_t klen,
    uint64_t vlen, struct job_notes *ns)
{
	job_learn(fs, key, klen, vlen, ns, 0, 1);
}
