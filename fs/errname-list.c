/*
 * The symbolic names of errnos, for C libraries without strerrorname_np(3)
 * (errname-glibc.c): those the daemon may meet, named as glibc names them
 * (EAGAIN, not EWOULDBLOCK; EOPNOTSUPP, not ENOTSUP).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "fs.h"

static const char *const errname_table[] = {
    [EPERM] = "EPERM",
    [ENOENT] = "ENOENT",
    [ESRCH] = "ESRCH",
    [EINTR] = "EINTR",
    [EIO] = "EIO",
    [ENXIO] = "ENXIO",
    [E2BIG] = "E2BIG",
    [ENOEXEC] = "ENOEXEC",
    [EBADF] = "EBADF",
    [ECHILD] = "ECHILD",
    [EAGAIN] = "EAGAIN",
    [ENOMEM] = "ENOMEM",
    [EACCES] = "EACCES",
    [EFAULT] = "EFAULT",
    [EBUSY] = "EBUSY",
    [EEXIST] = "EEXIST",
    [EXDEV] = "EXDEV",
    [ENODEV] = "ENODEV",
    [ENOTDIR] = "ENOTDIR",
    [EISDIR] = "EISDIR",
    [EINVAL] = "EINVAL",
    [ENFILE] = "ENFILE",
    [EMFILE] = "EMFILE",
    [ENOTTY] = "ENOTTY",
    [ETXTBSY] = "ETXTBSY",
    [EFBIG] = "EFBIG",
    [ENOSPC] = "ENOSPC",
    [ESPIPE] = "ESPIPE",
    [EROFS] = "EROFS",
    [EMLINK] = "EMLINK",
    [EPIPE] = "EPIPE",
    [EDOM] = "EDOM",
    [ERANGE] = "ERANGE",
    [EDEADLK] = "EDEADLK",
    [ENAMETOOLONG] = "ENAMETOOLONG",
    [ENOLCK] = "ENOLCK",
    [ENOSYS] = "ENOSYS",
    [ENOTEMPTY] = "ENOTEMPTY",
    [ELOOP] = "ELOOP",
    [ENOMSG] = "ENOMSG",
    [ENODATA] = "ENODATA",
    [ETIME] = "ETIME",
    [ENOLINK] = "ENOLINK",
    [EPROTO] = "EPROTO",
    [EBADMSG] = "EBADMSG",
    [EOVERFLOW] = "EOVERFLOW",
    [ELIBACC] = "ELIBACC",
    [ELIBBAD] = "ELIBBAD",
    [EILSEQ] = "EILSEQ",
    [ENOTSOCK] = "ENOTSOCK",
    [EPROTONOSUPPORT] = "EPROTONOSUPPORT",
    [EOPNOTSUPP] = "EOPNOTSUPP",
    [EADDRINUSE] = "EADDRINUSE",
    [ENETDOWN] = "ENETDOWN",
    [ECONNABORTED] = "ECONNABORTED",
    [ECONNRESET] = "ECONNRESET",
    [ENOBUFS] = "ENOBUFS",
    [ENOTCONN] = "ENOTCONN",
    [ESHUTDOWN] = "ESHUTDOWN",
    [ETIMEDOUT] = "ETIMEDOUT",
    [ECONNREFUSED] = "ECONNREFUSED",
    [EHOSTUNREACH] = "EHOSTUNREACH",
    [EALREADY] = "EALREADY",
    [EINPROGRESS] = "EINPROGRESS",
    [ESTALE] = "ESTALE",
    [EUCLEAN] = "EUCLEAN",
    [EREMOTEIO] = "EREMOTEIO",
    [EDQUOT] = "EDQUOT",
    [ECANCELED] = "ECANCELED",
    [EOWNERDEAD] = "EOWNERDEAD",
};

/* The name of errno e ("EISDIR"), or "" for one not in the list. */
const char *
errname_find(int e)
{
	if (e <= 0 ||
	    (size_t)e >= sizeof errname_table / sizeof *errname_table ||
	    errname_table[e] == NULL)
		return "";
	return errname_table[e];
}
