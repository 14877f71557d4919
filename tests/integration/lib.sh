# shellcheck shell=bash
# Helpers for the integration tests; source it from bash:  . "$HERE/lib.sh"
#
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error.
# Environment (all optional):
#   srcdir        set by automake; used to find the source tree
#   top_builddir  build tree (default: the current directory when run by
#                 automake, i.e. srcdir is set and ./Makefile exists; else
#                 two levels up from tests/integration)
#   UCSPI_TLSD    binary under test (default: $top_builddir/ucspi-tlsd, else
#                 $top_builddir/src/ucspi-tlsd)
#   MAILFRONT     mailfront binary (default: /usr/sbin/mailfront)
#   KEEP_WORK=1   keep the scratch directory even when everything passed
#   PYTHON        python3 interpreter (default: python3)

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${srcdir:-}" ] && [ -f "$srcdir/tests/integration/lib.sh" ]; then
	top_srcdir=$(cd "$srcdir" && pwd)
elif [ -n "${srcdir:-}" ] && [ -f "$srcdir/lib.sh" ]; then
	top_srcdir=$(cd "$srcdir/../.." && pwd)
else
	top_srcdir=$(cd "$IT_DIR/../.." && pwd)
fi
# automake runs tests in the top build directory (non-recursive Makefile.am),
# which matters for VPATH builds; run by hand, the build is the source tree.
if [ -z "${top_builddir:-}" ]; then
	if [ -n "${srcdir:-}" ] && [ -f ./Makefile ]; then
		top_builddir=.
	else
		top_builddir=$IT_DIR/../..
	fi
fi
top_builddir=$(cd "$top_builddir" && pwd)
# non-recursive automake builds it at the top of the build tree
if [ -z "${UCSPI_TLSD:-}" ]; then
	UCSPI_TLSD=$top_builddir/ucspi-tlsd
	[ -x "$UCSPI_TLSD" ] || UCSPI_TLSD=$top_builddir/src/ucspi-tlsd
fi
: "${MAILFRONT:=/usr/sbin/mailfront}"
: "${PYTHON:=python3}"
# shellcheck disable=SC2034 # used by the scripts that source this file
CLIENTS=$IT_DIR/clients SERVICES=$top_srcdir/xinetd.d
export PYTHON PYTHONDONTWRITEBYTECODE=1

skip() { echo "SKIP: $*"; exit 77; }
hard_error() { echo "ERROR: $*" >&2; exit 99; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed"; }

# Bounded polling: poll TIMEOUT_SECONDS COMMAND...  (runs COMMAND until it
# succeeds; 1 when the time is up).  The short pause between tries only
# spaces the polls out; nothing relies on it for ordering.
# Stops early when COMMAND returns 2 (cannot succeed any more).
poll() {
	local end=$((SECONDS + $1)) rc; shift
	while :; do
		"$@"; rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 2 ] && return 1
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.02
	done
}

# it_init: scratch directory $WORK, removed on exit unless something failed
# (IT_FAILED=1) or KEEP_WORK=1; any xinetd still running is stopped.
it_init() {
	[ "$(id -u)" = 0 ] || skip "needs root (xinetd user = root, ucspi-tlsd drops privileges)"
	need_cmd "$PYTHON"
	need_cmd xinetd
	need_cmd ss
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/ucspi-tlsd-it.XXXXXX") || hard_error "mktemp"
	chmod 755 "$WORK"
	IT_FAILED=0
	trap it_cleanup EXIT
	trap 'exit 99' INT TERM
}

it_cleanup() {
	stop_xinetd
	if [ "$IT_FAILED" = 0 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "# scratch directory kept: $WORK"
	fi
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# make_fixtures DIR: the test certificates and keys (see make-fixtures.sh)
make_fixtures() {
	sh "$IT_DIR/make-fixtures.sh" "$1"
}

# it_init_mailfront: it_init for a test of ucspi-tlsd with mailfront (skips
# without either); the fixtures in $WORK/fx, an empty jail in $WORK/empty.
it_init_mailfront() {
	it_init
	[ -x "$UCSPI_TLSD" ] || skip "no ucspi-tlsd binary at $UCSPI_TLSD (build it first)"
	[ -x "$MAILFRONT" ] || skip "no $MAILFRONT"
	need_cmd openssl
	need_cmd certtool
	make_fixtures "$WORK/fx" || hard_error "cannot make certificates"
	mkdir -m 755 "$WORK/empty"
}

# sed replacement text: escape \ & and the delimiter |
sed_repl() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# rewrite_service SERVICEFILE PORT SERVER [EXTRA_ARGS...]: print the service
# adapted to 127.0.0.1:PORT as an UNLISTED service (a port that is not in
# /etc/services needs that), enabled, running SERVER, with the certificate
# paths replaced by $TEST_CERT/$TEST_KEY and EXTRA_ARGS put in front of the
# shipped server_args (so they are options of ucspi-tlsd).
rewrite_service() {
	local file=$1 port=$2 server=$3; shift 3
	local extra="$*"
	sed -e "s|^service[[:space:]]\{1,\}\([^[:space:]]*\)|service \1-test-$port|" \
		-e '/^[[:space:]]*\(bind\|interface\|type\|disable\|only_from\)[[:space:]]*=/d' \
		-e "s|^\([[:space:]]*port[[:space:]]*=\).*|\1 $port|" \
		-e "s|^\([[:space:]]*server[[:space:]]*=\).*|\1 $(sed_repl "$server")|" \
		-e "s|^\([[:space:]]*server_args[[:space:]]*=\)|\1 $(sed_repl "$extra")|" \
		-e "s|/etc/ssl/mail/fullchain\.pem|$(sed_repl "$TEST_CERT")|g" \
		-e "s|/etc/ssl/mail/key\.pem|$(sed_repl "$TEST_KEY")|g" \
		-e "s|/usr/sbin/mailfront|$(sed_repl "$MAILFRONT")|g" \
		-e '/^{/a\
	type		= UNLISTED\
	bind		= 127.0.0.1\
	disable		= no' \
		"$file"
}

# start_xinetd SERVICEFILE PORT [EXTRA_SERVER_ARGS...]
# Runs the real xinetd in the foreground (-dontfork, as a child of this shell)
# with a generated xinetd.conf holding only SERVICEFILE rewritten for
# 127.0.0.1:PORT (see rewrite_service), and returns once xinetd listens there.
# The certificate is $TEST_CERT/$TEST_KEY (default: the RSA fixture).
#
# Logging: xinetd passes the socket as fds 0, 1 and 2, so ucspi-tlsd would
# log to syslog.  Instead `server` is a small wrapper, $XDIR/ucspi-tlsd, that
# sends fd 2 to $SESSION_LOG and execs $UCSPI_TLSD (prefixed by
# $UCSPI_TLSD_PREFIX, e.g. "strace -f -o /tmp/st", if set); ucspi-tlsd then
# logs to stderr, i.e. to $SESSION_LOG, and the application (mailfront, whose
# echo backend logs on fd 2) writes there too.  xinetd's own log is
# $XDIR/xinetd.log.  Sets XINETD_PID, XINETD_PORT, XDIR, SESSION_LOG.
start_xinetd() {
	local file=$1 port=$2; shift 2
	[ -r "$file" ] || hard_error "no service file $file"
	: "${TEST_CERT:=$WORK/fx/rsa.crt}" "${TEST_KEY:=$WORK/fx/rsa.key}"
	stop_xinetd
	XDIR=$WORK/xinetd-$port
	SESSION_LOG=$XDIR/session.log
	mkdir -p "$XDIR"
	: >"$SESSION_LOG"
	cat >"$XDIR/ucspi-tlsd" <<-EOF
	#!/bin/sh
	# fd 2 is the socket here (xinetd); log to a file instead of syslog
	exec 2>>'$SESSION_LOG'
	exec ${UCSPI_TLSD_PREFIX:-} '$UCSPI_TLSD' "\$@"
	EOF
	chmod 755 "$XDIR/ucspi-tlsd"
	{
		printf 'defaults\n{\n\tlog_type\t= FILE %s\n}\n\n' "$XDIR/xinetd-service.log"
		rewrite_service "$file" "$port" "$XDIR/ucspi-tlsd" "$@"
	} >"$XDIR/xinetd.conf"
	xinetd -dontfork -f "$XDIR/xinetd.conf" -filelog "$XDIR/xinetd.log" \
		-pidfile "$XDIR/xinetd.pid" </dev/null >"$XDIR/xinetd.out" 2>&1 &
	XINETD_PID=$!
	XINETD_PORT=$port
	if ! poll 10 xinetd_listening; then
		echo "# xinetd did not listen on 127.0.0.1:$port; its log:" >&2
		sed 's/^/#   /' "$XDIR/xinetd.log" "$XDIR/xinetd.out" >&2 2>/dev/null
		stop_xinetd
		return 1
	fi
}

# listening PID PORT: true once process PID has a listening TCP socket on
# PORT, 2 when PID is gone.  Checked with ss, not with a probe connection
# (which would start a session).
listening() {
	kill -0 "$1" 2>/dev/null || return 2
	ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}
xinetd_listening() { listening "$XINETD_PID" "$XINETD_PORT"; }

# start_xinetd_any SERVICEFILE [EXTRA_SERVER_ARGS...]: start_xinetd on a free
# port (tries a few, in case another process takes the port in between).
start_xinetd_any() {
	local _
	for _ in 1 2 3; do
		start_xinetd "$1" "$(free_port)" "${@:2}" && return 0
	done
	return 1
}

# stop_xinetd: stop xinetd, and first any session still running under it
# (xinetd leaves its servers alone): the server processes (children of
# xinetd) and their children, by pid, with a note, since a session that
# outlives its test means something hung.
stop_xinetd() {
	[ -n "${XINETD_PID:-}" ] || return 0
	local s left=''
	for s in $(pgrep -P "$XINETD_PID"); do
		left="$left $s $(pgrep -P "$s" | tr '\n' ' ')"
	done
	if [ -n "${left// /}" ]; then
		echo "# sessions still running at stop, killed:$left" >&2
		# shellcheck disable=SC2086 # a list of pids
		kill $left 2>/dev/null
	fi
	kill "$XINETD_PID" 2>/dev/null
	wait "$XINETD_PID" 2>/dev/null
	XINETD_PID=
}

# wait_log PATTERN [SECONDS]: wait until $SESSION_LOG has a line matching the
# extended regex PATTERN (default 10 s).
wait_log() {
	poll "${2:-10}" grep -qE -- "$1" "$SESSION_LOG"
}

# log_field LINE NAME: value of NAME=value in a log line ("" when absent)
log_field() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# in_private_mount_ns SCRIPT [ARGS...]: re-run SCRIPT with bash in a mount
# namespace of its own (unshare, as root), unless this is that run already.
in_private_mount_ns() {
	[ -z "${IT_MOUNT_NS:-}" ] || return 0
	[ "$(id -u)" = 0 ] || skip "needs root"
	command -v unshare >/dev/null || skip "no unshare"
	IT_MOUNT_NS=1 exec unshare --mount --propagation private bash "$@"
}

# private_dev DIR: in a private mount namespace, put DIR over /dev with only
# the real null, zero, random and urandom bound in, so that a test can bind
# its own /dev/log without touching the machine's.  private_dev_undo DIR
# takes it away.
private_dev() {
	local n
	mkdir -p "$1" && chmod 755 "$1" || return 1
	for n in null zero random urandom; do
		{ : >"$1/$n" && mount --bind "/dev/$n" "$1/$n"; } || return 1
	done
	mount --rbind "$1" /dev
}
private_dev_undo() {
	umount -l /dev
	umount -l "$1"/* 2>/dev/null
}

# private_syslog: after it_init, in a private mount namespace: a private
# /dev ($WORK/dev) whose /dev/log is syslog-catcher.py, writing one line per
# message to $SYSLOG.  private_syslog_undo stops it (before it_cleanup).
private_syslog() {
	private_dev "$WORK/dev" || return 1
	SYSLOG=$WORK/syslog
	: >"$SYSLOG"
	: >"$WORK/catcher.out" # exists before the poll greps it (grep's 2 would stop the poll)
	"$PYTHON" "$IT_DIR/syslog-catcher.py" /dev/log "$SYSLOG" >>"$WORK/catcher.out" 2>&1 &
	CATCHER=$!
	poll 10 grep -q ready "$WORK/catcher.out"
}
private_syslog_undo() {
	[ -n "${CATCHER:-}" ] || return 0
	kill "$CATCHER" 2>/dev/null
	private_dev_undo "$WORK/dev"
	CATCHER=
}
