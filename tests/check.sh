#!/bin/sh
# Build ucspi-tlsd and run the whole test suite, twice: a normal build (and
# make distcheck) and a sanitizer build (AddressSanitizer and UndefinedBehaviorSanitizer).  Both
# build out of tree, under _build/ and _build-san/.  This is what CI runs.
set -eu
cd "$(dirname "$0")/.."
. tests/deps.sh
install_packages
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

build_and_check() {
	dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs" && make -s -j"$jobs" check) || {
		for f in "$dir"/tests/*/*.log; do
			grep -q '^FAIL\|^ERROR' "$f" 2>/dev/null && { echo "=== $f"; cat "$f"; }
		done
		return 1
	}
}

echo "== normal build"
build_and_check _build
echo "== make distcheck (the tarball builds, installs and passes its tests)"
(cd _build && make -s distcheck >distcheck.log 2>&1) || { tail -50 _build/distcheck.log; exit 1; }
grep -A2 'archives ready' _build/distcheck.log
echo "== sanitizer build (ASan, UBSan)"
build_and_check _build-san --enable-sanitizers
