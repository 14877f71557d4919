#!/bin/bash
# make check wrapper for compat_logging.py (automake exit codes).  Runs it
# in a mount namespace of its own with a private /dev (lib.sh's
# private_dev), so that its syslog tests can bind /dev/log without touching
# the machine's.  Without root or unshare the syslog tests are skipped.
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${top_builddir:-}" ] && [ -z "${UCSPI_TLSD:-}" ] && [ -x ./ucspi-tlsd ]; then
	top_builddir=$(pwd)
	export top_builddir
fi
[ "$(id -u)" = 0 ] && command -v unshare >/dev/null || exec "${PYTHON:-python3}" "$here/compat_logging.py" "$@"
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
in_private_mount_ns "$0" "$@"
export SYSLOG_SOCKET=/dev/log
dev=$(mktemp -d "${TMPDIR:-/tmp}/ucspi-tlsd-dev.XXXXXX") || exit 99
private_dev "$dev" || exit 99
"$PYTHON" "$here/compat_logging.py" "$@"
rc=$?
private_dev_undo "$dev"
rm -rf "$dev"
exit $rc
