# shellcheck shell=sh
# Sourced by tests/demo.sh and tests/check.sh: install the Debian packages
# the build and the tests need, when any is missing.
UCSPI_TLSD_PACKAGES="autoconf automake make gcc pkg-config libgnutls28-dev libseccomp-dev check
 xinetd mailfront gnutls-bin openssl swaks stunnel4 python3 iproute2 procps strace mandoc util-linux"

missing_packages() {
	for p in $UCSPI_TLSD_PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
	done
}

install_packages() {
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
