/*
 * Who holds a store: the words blt and bltfs use when a store's lock is
 * not granted, so that the user learns which process to wait for or stop,
 * and, for a bltfs mount, where it is mounted.
 *
 * booklet locks a store with flock(2) (§12 of booklet-format.md).  The
 * kernel lists every flock in /proc/locks with the pid of the process that
 * took it and the device and inode of the file (proc(5)); the process's
 * name is in /proc/PID/comm.  A bltfs mount names itself after its store
 * (fsname, the source column of /proc/self/mountinfo), so the mount whose
 * source is the same file as the store is where that store is mounted.
 * Nothing here is written anywhere: a daemon that was killed leaves no
 * stale record behind, and a holder that is not bltfs (a Python booklet)
 * is named too.  Every step may find nothing (no /proc, another pid
 * namespace); the words then say less, never something false.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bltutil.h"

/* The pid of a process holding a flock on the file dev:ino, as /proc/locks
 * lists it (waiters, shown with "->", do not hold it), other than this one
 * (a mount that shares its store asks while it holds no lock, or a
 * shared one it could not convert); 0 if none is listed. */
static pid_t
holder_pid(dev_t dev, ino_t ino)
{
	char line[256], type[16];
	unsigned maj, min;
	unsigned long long inode;
	pid_t found = 0;
	int pid;
	FILE *f;

	if ((f = fopen("/proc/locks", "re")) == NULL)
		return 0;
	while (found == 0 && fgets(line, sizeof line, f) != NULL) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10954310 0 EOF"; the
		 * device's numbers are hex, the inode's decimal */
		if (sscanf(line, "%*[^:]: %15s %*s %*s %d %x:%x:%llu", type,
		        &pid, &maj, &min, &inode) == 5 &&
		    strcmp(type, "FLOCK") == 0 && pid > 0 && pid != getpid() &&
		    maj == major(dev) && min == minor(dev) &&
		    inode == (unsigned long long)ino)
			found = pid;
	}
	fclose(f);
	return found;
}

/* The name of process pid into buf (cap bytes); 0, or -1. */
static int
holder_comm(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, (int)cap, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		rc = buf[0] != '\0' ? 0 : -1;
	}
	fclose(f);
	return rc;
}

/* The mount point of a FUSE mount of the store file st (bltfs names its
 * mounts after their store) into buf, or -1 if there is none. */
static int
holder_point(const struct stat *st, char *buf, size_t cap)
{
	const struct mountinfo_entry *e;
	struct mountinfo *mi;
	struct stat src;
	int rc = -1;

	if (mountinfo_read(&mi) < 0)
		return -1;
	for (size_t i = 0; rc < 0 && (e = mountinfo_at(mi, i)) != NULL; i++) {
		/* only FUSE sources: a stat of any other (a device, a
		 * remote name) means nothing here */
		if (strcmp(e->type, "fuse") != 0 &&
		    strncmp(e->type, "fuse.", 5) != 0)
			continue;
		if (e->source[0] == '/' && stat(e->source, &src) == 0 &&
		    src.st_dev == st->st_dev && src.st_ino == st->st_ino &&
		    (size_t)snprintf(buf, cap, "%s", e->point) < cap)
			rc = 0;
	}
	mountinfo_free(mi);
	return rc;
}

/* Describe who holds the lock of the store at path. */
const char *
holder_describe(const char *path, char *buf, size_t cap)
{
	char comm[64], point[4096];
	struct stat st;
	pid_t pid;

	if (stat(path, &st) == -1 ||
	    (pid = holder_pid(st.st_dev, st.st_ino)) == 0) {
		snprintf(buf, cap, "locked by another process");
		return buf;
	}
	if (holder_comm(pid, comm, sizeof comm) < 0)
		snprintf(comm, sizeof comm, "a process");
	/* a mount of the store, if the holder is a mount: another process
	 * holds the store beside it when mounts share their store */
	if (strcmp(comm, "bltfs") == 0 &&
	    holder_point(&st, point, sizeof point) == 0)
		snprintf(buf, cap, "held by %s (pid %d, mounted on %s)", comm,
		    (int)pid, point);
	else
		snprintf(buf, cap, "held by %s (pid %d)", comm, (int)pid);
	return buf;
}
