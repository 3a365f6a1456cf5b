/*
 * What the files of bltfs ctl share.  Only client*.c include it; the rest
 * of the daemon knows the client by client_main(), in its door
 * fs/client.h.
 *
 *	client.c		arguments, the command's text, the mount, main
 *	client-job.c		a job: its state, following it, its errors
 *	client-unmount.c	unmount, returning once the store is closed
 *	client-status.c		status, summed up for people
 */
#ifndef FS_CLIENT_INT_H
#define FS_CLIENT_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "bltfs.h"
#include "bltutil.h"
#include "client.h"

/* Exit statuses (bltfs(1)). */
#define CLIENT_OK 0
#define CLIENT_REFUSED 1
#define CLIENT_USAGE 2
#define CLIENT_FAILED 3
#define CLIENT_ITEMS 4
#define CLIENT_CANCELLED 5

struct client {
	const char *mount;
	char root[PATH_MAX];  /* the mount's root, resolved; "" for "/" */
	char under[PATH_MAX]; /* the directory of the store's tree that root
	                       * shows: "" but in a bind mount of one */
	char top[PATH_MAX];   /* where the control directory is: root, or in
	                       * a bind mount of a directory, a mount of the
	                       * whole tree ("" for "/") */
	char ctl[256];        /* the control directory's name */
	int fd;               /* the mount's root */
	int use_file;         /* the kernel passes no ioctls */
	int wait, json, help;
};

/* A growing string. */
struct client_buf {
	char *s;
	size_t len, cap;
};

/* client.c */
int client_put(struct client_buf *b, const char *s, size_t n);
int client_resolve(const char *path, char *out, size_t cap);
void client_path(struct client *c, char *out, size_t cap, const char *rest);
char *client_slurp(const char *path);
int client_status(struct client *c, struct json **v);

/* client-job.c */
int client_job(struct client *c, uint64_t id, struct bltfs_job *j);
int client_wait(struct client *c, uint64_t id, struct bltfs_job *j);
int client_status_of(struct client *c, const struct bltfs_job *j);
int client_print_file(struct client *c, const char *rest);

/* client-status.c */
int client_status_print(struct client *c);

/* client-unmount.c */
int client_unmount(struct client *c);
int client_unmount_gone(const char *mount);

#endif
