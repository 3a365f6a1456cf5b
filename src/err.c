/*
 * err.c owns the one-line error message that goes with every negative errno
 * the library returns.  It is kept per thread, like errno, so that the
 * daemon's threads never see each other's messages.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char err_msg[1024];

/* Format into the message from byte at on, and return rc.  The arguments
 * may point into the message itself (a caller adding what it was doing to
 * the message of the failure below it), so the text is made apart first. */
static int
err_vformat(int rc, size_t at, const char *fmt, va_list ap)
{
	char tmp[sizeof err_msg];
	int n;

	if (at >= sizeof err_msg)
		return rc;
	if ((n = vsnprintf(tmp, sizeof err_msg - at, fmt, ap)) < 0)
		n = 0;
	if ((size_t)n >= sizeof err_msg - at)
		n = (int)(sizeof err_msg - at - 1);
	memcpy(err_msg + at, tmp, (size_t)n);
	err_msg[at + (size_t)n] = '\0';
	return rc;
}

/* Record a message naming the file or key and the cause; return rc. */
int
err_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = err_vformat(rc, 0, fmt, ap);
	va_end(ap);
	return rc;
}

/* Add to the message of the failure just recorded; return rc. */
int
err_append(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = err_vformat(rc, strlen(err_msg), fmt, ap);
	va_end(ap);
	return rc;
}

/* err_set() for callers of the library: blt_errmsg() gives it back. */
int
blt_errmsg_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = err_vformat(rc, 0, fmt, ap);
	va_end(ap);
	return rc;
}

/* err_append() for callers of the library. */
int
blt_errmsg_append(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = err_vformat(rc, strlen(err_msg), fmt, ap);
	va_end(ap);
	return rc;
}

/* Record "PATH: key not found" and return -ENOENT, without printf: a
 * miss is a normal outcome of a lookup and must stay cheap. */
int
err_missing(const char *path)
{
	static const char tail[] = ": key not found";
	size_t n = strlen(path);

	if (n > sizeof err_msg - sizeof tail)
		n = sizeof err_msg - sizeof tail;
	memcpy(err_msg, path, n);
	memcpy(err_msg + n, tail, sizeof tail);
	return -ENOENT;
}

/* Record that memory ran out while working on path; return -ENOMEM. */
int
err_oom(const char *path)
{
	return err_set(-ENOMEM, "%s: out of memory", path);
}

/* The message of the last failure in this thread. */
const char *
blt_errmsg(void)
{
	return err_msg;
}

/* A printable rendering of key for messages: its text with non-printable
 * bytes as \xNN, cut after 80 bytes.  Valid until the next call in this
 * thread. */
const char *
err_key(const void *key, size_t klen)
{
	static _Thread_local char out[80 * 4 + 8];
	const unsigned char *k = key;
	size_t o = 0;

	out[o++] = '\'';
	for (size_t i = 0; i < klen && i < 80; i++) {
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\' && k[i] != '\'')
			out[o++] = (char)k[i];
		else
			o += (size_t)snprintf(
			    out + o, sizeof out - o, "\\x%02x", k[i]);
	}
	out[o++] = '\'';
	if (klen > 80)
		o += (size_t)snprintf(out + o, sizeof out - o, "...");
	out[o] = '\0';
	return out;
}
