#!/bin/sh
# make check wrapper for compat_logging.py (automake exit codes).  Runs it
# in a mount namespace of its own whose /dev is a private copy (the real
# null, zero and random devices bound in), so that its syslog tests can bind
# /dev/log without touching the machine's.  Without unshare or root, the
# syslog tests are skipped and the others run.
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${top_builddir:-}" ] && [ -z "${UCSPI_TLSD:-}" ] && [ -x ./ucspi-tlsd ]; then
	top_builddir=$(pwd)
	export top_builddir
fi
py() { exec "${PYTHON:-python3}" "$here/compat_logging.py" "$@"; }
if [ -z "${SYSLOG_SOCKET:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	SYSLOG_SOCKET=/dev/log exec unshare --mount --propagation private sh "$0" "$@"
fi
[ "${SYSLOG_SOCKET:-}" = /dev/log ] || py "$@"
dev=$(mktemp -d "${TMPDIR:-/tmp}/ucspi-tlsd-dev.XXXXXX") || exit 99
chmod 755 "$dev"
for n in null zero random urandom; do
	: >"$dev/$n" && mount --bind "/dev/$n" "$dev/$n" || exit 99
done
mount --rbind "$dev" /dev || exit 99
# the namespace, and with it these mounts, ends with the test
"${PYTHON:-python3}" "$here/compat_logging.py" "$@"
rc=$?
umount -l /dev
umount -l "$dev"/* 2>/dev/null
rm -rf "$dev"
exit $rc
