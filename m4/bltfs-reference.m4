# BLTFS_REFERENCE: the reference implementation, the Python booklet
# (0.12.9, which made tests/fixtures), which the tests run to write stores
# with every serializer and to read back what bltfs wrote.  Nothing of it
# is copied into the project; it is found where a Python user has it:
#   --with-reference=DIR   a checkout whose bin/booklet-python runs it, or
#                          a directory that holds the booklet package
#   ../shared/reference    beside the source tree (our CI), unasked
#   import booklet         in PYTHON (a pip or venv install)
# --without-reference runs without it.  Sets REFERENCE_PY, the program to
# run Python scripts that import booklet with (empty: none; the tests that
# need it are then skipped, each saying why), REFERENCE_PATH, what goes
# on PYTHONPATH for it, and REFERENCE_CONFIGURE, the option that finds it
# again (for make distcheck, whose tree has nothing beside it).  One
# import of booklet, below, decides whether what was found runs.
AC_DEFUN([BLTFS_REFERENCE], [
AC_ARG_WITH([reference],
    [AS_HELP_STRING([--with-reference=DIR],
        [the Python booklet the tests run (default: ../shared/reference
         beside the source tree, else `import booklet' in PYTHON)])],
    [bltfs_ref=$withval], [bltfs_ref=check])
REFERENCE_PY=
REFERENCE_PATH=
REFERENCE_DIR=
bltfs_srcdir=`cd "$srcdir" && pwd`
AS_CASE([$bltfs_ref],
  [no], [],
  [check|yes],
    [AS_IF([test -x "$bltfs_srcdir/../shared/reference/bin/booklet-python"],
       [REFERENCE_DIR=`cd "$bltfs_srcdir/../shared/reference" && pwd`
        REFERENCE_PY=$REFERENCE_DIR/bin/booklet-python],
       [test "x$PYTHON" != x:],
       [REFERENCE_PY=$PYTHON])],
  [AS_IF([test -x "$bltfs_ref/bin/booklet-python"],
     [REFERENCE_DIR=`cd "$bltfs_ref" && pwd`
      REFERENCE_PY=$REFERENCE_DIR/bin/booklet-python],
     [test -d "$bltfs_ref/booklet" && test "x$PYTHON" != x:],
     [REFERENCE_DIR=`cd "$bltfs_ref" && pwd`
      REFERENCE_PATH=$REFERENCE_DIR
      REFERENCE_PY=$PYTHON],
     [AC_MSG_ERROR([--with-reference=$bltfs_ref: neither bin/booklet-python
    nor the booklet package is there])])])
AC_MSG_CHECKING([for the reference Python booklet])
AS_IF([test -n "$REFERENCE_PY" &&
       PYTHONPATH="$REFERENCE_PATH${REFERENCE_PATH:+${PYTHONPATH:+:}}$PYTHONPATH" \
       "$REFERENCE_PY" -c 'import booklet' >/dev/null 2>&1],
  [AC_MSG_RESULT([$REFERENCE_PY])],
  [AS_IF([test "x$bltfs_ref" = xyes || test "x$bltfs_ref" = xcheck ||
          test "x$bltfs_ref" = xno], [],
     [AC_MSG_ERROR([--with-reference=$bltfs_ref: $REFERENCE_PY cannot
    import booklet])])
   REFERENCE_PY=
   REFERENCE_PATH=
   REFERENCE_DIR=
   AC_MSG_RESULT([no: the tests that need it will be skipped
    (pip install booklet==0.12.9 orjson zstandard msgpack numpy)])])
AS_IF([test -n "$REFERENCE_DIR"],
  [REFERENCE_CONFIGURE="--with-reference=$REFERENCE_DIR"],
  [REFERENCE_CONFIGURE=])
AC_SUBST([REFERENCE_CONFIGURE])
AC_SUBST([REFERENCE_PY])
AC_SUBST([REFERENCE_PATH])
])
