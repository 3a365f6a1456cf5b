# BLTFS_PYTHON_DIR: where bltfs_worker.py, the Python map worker, is
# installed (pythondir), so that `import bltfs_worker` works after make
# install.  automake's AM_PATH_PYTHON names ${prefix}/lib/pythonX.Y/
# site-packages, which Debian's python3 does not search: it looks in
# /usr/local/lib/python3.Y/dist-packages and /usr/lib/python3/dist-packages.
# So the directory is the one of PYTHON's sys.path under the prefix with
# the fewest components (/usr/lib/python3/dist-packages before
# /usr/local/..., for --prefix=/usr), written as ${prefix}/... so that
# DESTDIR and make distcheck see it under the prefix; else
# ${prefix}/lib/pythonX.Y/site-packages, with a warning.
# --with-python-dir=DIR chooses one.  (The Python below has no brackets:
# m4 would take them.)
AC_DEFUN([BLTFS_PYTHON_DIR], [
AC_ARG_WITH([python-dir],
    [AS_HELP_STRING([--with-python-dir=DIR],
        [where bltfs_worker.py goes (default: the directory of PYTHON's
         sys.path under the prefix)])],
    [pythondir=$withval],
    [bltfs_py_prefix=$prefix
     test "x$bltfs_py_prefix" = xNONE && bltfs_py_prefix=$ac_default_prefix
     bltfs_py_rest=`$PYTHON - "$bltfs_py_prefix" <<'BLTFS_EOF'
import sys, sysconfig
prefix = sys.argv.pop().rstrip("/")
best = None
for p in sys.path:
    if p.startswith(prefix + "/") and p.endswith("-packages"):
        rest = p.replace(prefix + "/", "", 1)
        if best is None or rest.count("/") < best.count("/"):
            best = rest
if best is None:
    purelib = sysconfig.get_path("purelib", "posix_prefix",
                                 {"base": prefix, "platbase": prefix})
    best = "!" + purelib.replace(prefix + "/", "", 1)
print(best)
BLTFS_EOF`
     case $bltfs_py_rest in
     "!"*)
	bltfs_py_rest=`echo "$bltfs_py_rest" | cut -c2-`
	AC_MSG_WARN([$PYTHON does not look under $bltfs_py_prefix:
    bltfs_worker.py goes to $bltfs_py_prefix/$bltfs_py_rest; set PYTHONPATH
    to it, or choose another with --with-python-dir or PYTHON=]) ;;
     esac
     pythondir="\${prefix}/$bltfs_py_rest"])
AC_MSG_CHECKING([where bltfs_worker.py goes])
AC_MSG_RESULT([$pythondir])
AC_SUBST([pythondir])
])
