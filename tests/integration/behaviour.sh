#!/bin/sh
# make check wrapper for behaviour.py (automake exit codes: 0 pass, 1 fail,
# 77 skip, 99 hard error).  make check runs tests in the top build
# directory, where the binary is; behaviour.py sits next to this file.
here=$(dirname "$0")
if [ -z "${top_builddir:-}" ] && [ -z "${UCSPI_TLSD:-}" ] && [ -x ./ucspi-tlsd ]; then
	top_builddir=$(pwd)
	export top_builddir
fi
exec "${PYTHON:-python3}" "$here/behaviour.py" "$@"
