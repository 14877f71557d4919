# shellcheck shell=sh
# Sourced by tests/demo.sh and tests/check.sh: install the Debian packages
# the build and the tests need, when any is missing.
UCSPI_TLSD_PACKAGES="autoconf automake make gcc pkg-config libgnutls28-dev libseccomp-dev check
 xinetd mailfront gnutls-bin openssl swaks stunnel4 python3 iproute2 procps strace mandoc util-linux
 ucspi-tcp s6 execline systemd libbsd0 libevent-2.1-7 libsystemd0 libtirpc3 libwrap0
 python3-cryptography
 clang libclang-rt-14-dev"
# openbsd-inetd conflicts with xinetd as a Debian package: the tests run its
# inetd binary from the extracted .deb (its libraries are in the list above).
OPENBSD_INETD_DIR=/var/cache/ucspi-tlsd-tests/openbsd-inetd

missing_packages() {
	for p in $UCSPI_TLSD_PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
	done
}

# The inetd of openbsd-inetd, unpacked under $OPENBSD_INETD_DIR, not installed.
unpack_openbsd_inetd() {
	[ -x "$OPENBSD_INETD_DIR/usr/sbin/inetd" ] && return 0
	[ "$(id -u)" = 0 ] || return 0
	echo "unpacking openbsd-inetd into $OPENBSD_INETD_DIR (not installed: it conflicts with xinetd)"
	mkdir -p "$OPENBSD_INETD_DIR" &&
		(cd "$OPENBSD_INETD_DIR" && apt-get download -q openbsd-inetd >/dev/null 2>&1 &&
			dpkg-deb -x openbsd-inetd_*.deb .)
}

install_packages() {
	unpack_openbsd_inetd || echo "could not unpack openbsd-inetd: its test will be skipped" >&2
	missing=$(missing_packages)
	[ -n "$missing" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages: $missing (run as root to install them)" >&2
		return 1
	fi
	echo "installing: $missing"
	apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
}
