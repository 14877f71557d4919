#!/bin/sh
# make check wrapper for soak.py, the soak test under xinetd (automake exit
# codes: 0 pass, 1 fail, 77 skip, 99 hard error); make soak runs it larger.
here=$(dirname "$0")
if [ -z "${top_builddir:-}" ] && [ -z "${UCSPI_TLSD:-}" ] && [ -x ./ucspi-tlsd ]; then
	top_builddir=$(pwd)
	export top_builddir
fi
PYTHONDONTWRITEBYTECODE=1 exec "${PYTHON:-python3}" "$here/soak.py" "$@"
