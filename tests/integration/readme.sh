#!/bin/bash
# The README's "Install and try on port 25", run as a new user would, so
# that it cannot rot: its commands (the indented lines of that section, taken from the README,
# not copied here) run one by one with bash -e, as root, in a copy of the
# source tree, inside namespaces of the test's own:
#   - a network namespace: its own loopback, where port 25 is free;
#   - a pid namespace: xinetd, started by "service xinetd restart" through
#     Debian's init script, dies with the test;
#   - a mount namespace: /usr, /etc and /var are overlays on the machine's
#     (what make install and the commands write stays in the test's tmpfs),
#     /run is empty (so "service" uses the init script, not systemctl), and
#     /dev is private with a syslog catcher at /dev/log.
# Then: swaks (the last command) saw TLS and "250"; syslog has
# ucspi-tlsd's done line with status=0, mode=delayed, proto=TLSv1.3;
# make install put the program, both man pages, the jail and the three
# xinetd files where Debian expects them; and make install DESTDIR=...
# stages the same tree.  Takes a minute or two: it builds ucspi-tlsd again.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${README_IN_NAMESPACES:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
	README_IN_NAMESPACES=1 IT_MOUNT_NS=1 exec unshare --mount --net --pid --fork --mount-proc \
		--propagation private bash "$0" "$@"
fi
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
it_init
trap 'private_syslog_undo; umount -l /usr /etc /var /run "$WORK/ovl" 2>/dev/null; it_cleanup' EXIT
README=$top_srcdir/README

# that section's commands: its indented lines, up to the next heading
awk '/^Install and try on port 25$/ { on = 1; getline; next }
	on && /^-+$/ { exit }
	on && /^    [^ ]/ { sub(/^    /, ""); print }' "$README" >"$WORK/commands"
[ -s "$WORK/commands" ] || hard_error "no commands under 'Install and try on port 25' in $README"
grep -q '^make install$' "$WORK/commands" && grep -q '^swaks ' "$WORK/commands" ||
	hard_error "that section no longer builds, installs and tries: $(cat "$WORK/commands")"

ip link set lo up || hard_error "no loopback in the network namespace"
mkdir -p "$WORK/ovl" && mount -t tmpfs tmpfs "$WORK/ovl" || hard_error "no tmpfs"
for d in usr etc var; do
	mkdir -p "$WORK/ovl/$d.up" "$WORK/ovl/$d.work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$WORK/ovl/$d.up,workdir=$WORK/ovl/$d.work" "/$d" ||
		hard_error "no overlay on /$d"
done
mount -t tmpfs tmpfs /run || hard_error "no tmpfs on /run"
private_syslog || hard_error "no private syslog"

# a fresh clone: the tracked files, or (a dist tarball) the tree without
# build products
mkdir "$WORK/src"
if [ -e "$top_srcdir/.git" ] && command -v git >/dev/null; then
	(cd "$top_srcdir" && git ls-files -z | xargs -0 cp --parents -t "$WORK/src") || hard_error "copy"
else
	(cd "$top_srcdir" && find . \( -name '_build*' -o -name '*.o' -o -name '*.a' \) -prune -o -type f -print0 |
		xargs -0 cp --parents -t "$WORK/src") || hard_error "copy"
fi

echo "# the README's install walk-through, in $WORK/src:"
sed 's/^/#   /' "$WORK/commands"
# a new user's shell: nothing of the make that runs this test
(cd "$WORK/src" && unset MAKEFLAGS MFLAGS MAKELEVEL DESTDIR && bash -e -x "$WORK/commands") \
	>"$WORK/quickstart.out" 2>&1
rc=$?
tail -n 40 "$WORK/quickstart.out" | sed 's/^/# /'

failed=0 passed=0
check() { # NAME STATUS DETAIL
	if [ "$2" = 0 ]; then echo "PASS: $1"; passed=$((passed + 1)); else
		echo "FAIL: $1: $3"; failed=$((failed + 1)); IT_FAILED=1; fi
}
check "every command of the install walk-through succeeded" "$rc" "see $WORK/quickstart.out"
grep -q '=== TLS started' "$WORK/quickstart.out" && grep -qE '^<~  250 ' "$WORK/quickstart.out"
check "swaks: TLS started, the message accepted (250)" $? "see $WORK/quickstart.out"
poll 10 grep -qE 'ucspi-tlsd\[[0-9]+\]: done ' "$SYSLOG"
line=$(grep -E 'ucspi-tlsd\[[0-9]+\]: done ' "$SYSLOG" | tail -n 1)
[ "$(log_field "$line" status)" = 0 ] && [ "$(log_field "$line" mode)" = delayed ] &&
	[ "$(log_field "$line" proto)" = TLSv1.3 ]
check "syslog: ucspi-tlsd's done line, status=0 mode=delayed proto=TLSv1.3" $? "$(cat "$SYSLOG")"
[[ $(grep -E 'ucspi-tlsd\[[0-9]+\]: done ' "$SYSLOG" | head -n 1) == '<22>'* ]]
check "syslog: facility mail, severity info" $? "$line"

# installed_layout ROOT: the Debian places under ROOT
installed_layout() {
	local f why=''
	for f in usr/sbin/ucspi-tlsd usr/share/man/man8/ucspi-tlsd.8 usr/share/man/man7/ucspi-tls.7 \
		etc/xinetd.d/smtp etc/xinetd.d/submission etc/xinetd.d/smtps; do
		[ -f "$1/$f" ] || why="$why $f"
	done
	[ -x "$1/usr/sbin/ucspi-tlsd" ] || why="$why (not executable)"
	[ -d "$1/var/lib/ucspi-tlsd/empty" ] || why="$why var/lib/ucspi-tlsd/empty"
	echo "$why"
}
why=$(installed_layout "")
[ -z "$why" ]
check "make install: program, both man pages, jail, xinetd files in Debian's places" $? "missing:$why"
rm -rf "$WORK/dest"
(cd "$WORK/src" && unset MAKEFLAGS MFLAGS MAKELEVEL && make -s install DESTDIR="$WORK/dest") >"$WORK/destdir.out" 2>&1 ||
	check "make install DESTDIR=..." 1 "$(tail "$WORK/destdir.out")"
why=$(installed_layout "$WORK/dest")
[ -z "$why" ]
check "make install DESTDIR=...: the same layout under DESTDIR" $? "missing:$why"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
