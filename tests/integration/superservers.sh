#!/bin/bash
# The examples of ucspi-tlsd(8), taken from the man page itself (the blocks
# after '.\" test: NAME'), each run under its real super-server on a free
# loopback port, with swaks sending one message through mailfront:
#   inetd           the inetd.conf line, under openbsd-inetd's inetd (run
#                   from the .deb tests/deps.sh unpacks: the package
#                   conflicts with xinetd); fd 2 is the socket, so the log
#                   goes to a private /dev/log
#   tcpserver       the tcpserver line (ucspi-tcp); its TCP* variables reach
#                   the application
#   s6              the execline run script, with s6-envuidgid (s6) and
#                   tcpserver in place of s6-tcpserver (s6-networking is not
#                   in Debian 12)
#   systemd         both units checked with systemd-analyze verify, and the
#                   service's ExecStart run per connection by
#                   systemd-socket-activate --inetd (the Accept=yes
#                   protocol), since systemd does not run as pid 1 here
# and the three shipped xinetd.d files under the real xinetd (xinetd must
# log no complaint about them), plus xinetd.d/smtp's per_source limit.
# Replaced in the examples: the port (25, 465 -> a free one on 127.0.0.1),
# /usr/sbin/ucspi-tlsd and ucspi-tlsd (-> a wrapper adding -J <scratch
# jail>), the /etc/ssl/mail/ files (-> fresh fixtures), qmaild (-> mail),
# /var/qmail/bin/qmail-smtpd (-> a script that records its environment and
# runs mailfront smtp echo starttls-ucspi:accept).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
in_private_mount_ns "$0" "$@"
it_init
[ -x "$UCSPI_TLSD" ] || skip "no ucspi-tlsd binary at $UCSPI_TLSD"
[ -x "$MAILFRONT" ] || skip "no $MAILFRONT"
need_cmd swaks
MAN=$top_srcdir/man/ucspi-tlsd.8
: "${OPENBSD_INETD:=/var/cache/ucspi-tlsd-tests/openbsd-inetd/usr/sbin/inetd}"
SERVER_PID=
undo() {
	[ -z "$SERVER_PID" ] || { kill "$SERVER_PID"; wait "$SERVER_PID"; } 2>/dev/null
	private_syslog_undo
	it_cleanup
}
trap undo EXIT
private_syslog || hard_error "no private syslog"

make_fixtures "$WORK/fx" || hard_error "cannot make certificates"
TEST_CERT=$WORK/fx/ecdsa.crt TEST_KEY=$WORK/fx/ecdsa.key
mkdir -m 755 "$WORK/empty" "$WORK/bin"
mkdir -m 1777 "$WORK/app"
cat >"$WORK/bin/ucspi-tlsd" <<EOF
#!/bin/sh
exec '$UCSPI_TLSD' -J '$WORK/empty' "\$@"
EOF
cat >"$WORK/bin/qmail-smtpd" <<EOF
#!/bin/sh
env >'$WORK/app/env'
id -u >'$WORK/app/uid'
exec '$MAILFRONT' smtp echo starttls-ucspi:accept
EOF
chmod 755 "$WORK/bin/ucspi-tlsd" "$WORK/bin/qmail-smtpd"

failed=0 passed=0 skipped=0
check() { # NAME STATUS DETAIL
	if [ "$2" = 0 ]; then echo "PASS: $1"; passed=$((passed + 1)); else
		echo "FAIL: $1: $3"; failed=$((failed + 1)); IT_FAILED=1; fi
}
skip_case() { echo "SKIP: $1"; skipped=$((skipped + 1)); }

# man_example NAME: the literal block after '.\" test: NAME' in the man page
man_example() {
	awk -v name="$1" '
		$0 == ".\\\" test: " name { want = 1; next }
		want && /^\.Bd/ { inside = 1; next }
		inside && /^\.Ed/ { exit }
		inside { gsub(/\\e/, "\\"); gsub(/\\&/, ""); print }' "$MAN"
}

# localize PORT: the replacements of the header, on stdin
localize() {
	sed -e "s|/usr/sbin/ucspi-tlsd|$WORK/bin/ucspi-tlsd|g" \
		-e "s|/var/qmail/bin/qmail-smtpd|$WORK/bin/qmail-smtpd|g" \
		-e "s|/etc/ssl/mail/fullchain\.pem|$TEST_CERT|g" \
		-e "s|/etc/ssl/mail/key\.pem|$TEST_KEY|g" \
		-e 's/\bqmaild\b/mail/g'
}

# server_listening: the super-server started last listens on $PORT
server_listening() { listening "$SERVER_PID" "$PORT"; }
start_server() { # LOG COMMAND...: run COMMAND in the background, wait until it listens
	local log=$1; shift
	"$@" </dev/null >"$log" 2>&1 &
	SERVER_PID=$!
	poll 10 server_listening || { sed 's/^/#   /' "$log"; return 1; }
}
stop_server() {
	local s
	for s in $(pgrep -P "$SERVER_PID"); do kill "$s" $(pgrep -P "$s") 2>/dev/null; done
	kill "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
}

# session NAME MODE LOGFILE: one message with swaks through $PORT; checks
# the client got 250 over TLS 1.3, and that LOGFILE got one done line with
# status=0 and MODE.  Leaves the application's environment in $WORK/app/env.
session() {
	local name=$1 mode=$2 log=$3 out=$WORK/${1//\//-}.client why='' line
	rm -f "$WORK/app/env"
	"$PYTHON" "$CLIENTS/swaks.py" "$mode" "$PORT" 1.3 "$TEST_CERT" "tok$RANDOM" >"$out" 2>&1 ||
		why="client failed: $(tail -n 3 "$out" | tr '\n' ' ');"
	if poll 10 grep -qE 'ucspi-tlsd\[[0-9]+\]: done ' "$log"; then
		line=$(grep -E 'ucspi-tlsd\[[0-9]+\]: done ' "$log" | tail -n 1)
		[ "$(log_field "$line" status)" = 0 ] || why="$why done line: $line;"
		[ "$(log_field "$line" mode)" = "$mode" ] || why="$why done line: $line;"
	else
		why="$why no done line in $log: $(tail -n 5 "$log" | tr '\n' ' ');"
	fi
	[ -z "$why" ]
	check "$name: one message over TLS, done line status=0" $? "$why"
}
app_env() { grep -E "^$1=" "$WORK/app/env" 2>/dev/null | cut -d= -f2-; }

run_inetd() {
	[ -x "$OPENBSD_INETD" ] || { skip_case "inetd: no $OPENBSD_INETD (tests/deps.sh unpacks openbsd-inetd)"; return; }
	PORT=$(free_port)
	man_example inetd | localize | sed "s|^smtp |127.0.0.1:$PORT |" >"$WORK/inetd.conf"
	[ "$(wc -l <"$WORK/inetd.conf")" = 1 ] || { check "inetd: one line in the man page" 1 "$(cat "$WORK/inetd.conf")"; return; }
	start_server "$WORK/inetd.out" "$OPENBSD_INETD" -d "$WORK/inetd.conf" || { check "inetd listens" 1 ""; return; }
	: >"$SYSLOG"
	session inetd delayed "$SYSLOG"
	[ "$(app_env TCPREMOTEIP)" = 127.0.0.1 ] && [ "$(app_env PROTO)" = TCP ]
	check "inetd: ucspi-tlsd set PROTO and TCPREMOTEIP" $? "$(cat "$WORK/app/env")"
	stop_server
}

run_tcpserver() {
	need_tool tcpserver "tcpserver" || return
	PORT=$(free_port)
	local cmd
	cmd=$(man_example tcpserver | localize | sed "s|tcpserver -HRl0 0 465 |tcpserver -HRl0 127.0.0.1 $PORT |")
	start_server "$WORK/tcpserver.log" env PATH="$WORK/bin:$PATH" sh -c "exec $cmd" ||
		{ check "tcpserver listens" 1 ""; return; }
	session tcpserver immediate "$WORK/tcpserver.log"
	[ "$(app_env TCPLOCALHOST)" = 0 ] && [ "$(app_env TCPLOCALPORT)" = "$PORT" ] && [ "$(cat "$WORK/app/uid")" = "$(id -u mail)" ]
	check "tcpserver: its TCPLOCALHOST=0 (-l0) reaches the application, which runs as mail" $? "$(cat "$WORK/app/env")"
	stop_server
}

run_s6() {
	need_tool s6-envuidgid "s6" || return
	need_tool execlineb "execline" || return
	need_tool tcpserver "tcpserver" || return
	PORT=$(free_port)
	man_example s6 | localize | sed -e "s|^s6-tcpserver 0\.0\.0\.0 465$|tcpserver 127.0.0.1 $PORT|" \
		-e "s|^ucspi-tlsd |$WORK/bin/ucspi-tlsd |" >"$WORK/run"
	chmod 755 "$WORK/run"
	start_server "$WORK/s6.log" "$WORK/run" || { check "s6 run script listens" 1 "$(cat "$WORK/run")"; return; }
	session s6 immediate "$WORK/s6.log"
	[ "$(cat "$WORK/app/uid")" = "$(id -u mail)" ] && ! grep -qE '^(UID|GID|CERTFILE|KEYFILE)=' "$WORK/app/env"
	check "s6: the application runs as the s6-envuidgid user; UID, GID, CERTFILE, KEYFILE not passed on" $? \
		"uid $(cat "$WORK/app/uid"); $(grep -E '^(UID|GID|CERTFILE|KEYFILE)=' "$WORK/app/env")"
	stop_server
}

run_systemd() {
	need_tool systemd-analyze "systemd" || return
	mkdir -p "$WORK/units"
	local unit name out
	for unit in systemd-socket systemd-service; do
		name=$(man_example "$unit" | sed -n '1s|^# /etc/systemd/system/||p')
		man_example "$unit" | localize >"$WORK/units/$name"
	done
	out=$(cd "$WORK/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify ./*.socket ./*.service 2>&1)
	check "systemd: systemd-analyze verify of both units says nothing" "$([ -z "$out" ] && [ -n "$name" ]; echo $?)" "$out"
	need_tool systemd-socket-activate "systemd" || return
	grep -qx 'Accept=yes' "$WORK/units/"*.socket && grep -qx 'StandardInput=socket' "$WORK/units/$name"
	check "systemd: Accept=yes and StandardInput=socket" $? "$(cat "$WORK/units/"*)"
	local exec
	exec=$(sed -n 's/^ExecStart=//p' "$WORK/units/$name")
	PORT=$(free_port)
	# shellcheck disable=SC2086 # ExecStart= is split on spaces, as systemd does without quotes
	start_server "$WORK/systemd.log" systemd-socket-activate --inetd -a -l "127.0.0.1:$PORT" $exec ||
		{ check "systemd-socket-activate listens" 1 ""; return; }
	session systemd delayed "$WORK/systemd.log"
	stop_server
}

need_tool() { command -v "$1" >/dev/null || { skip_case "$2: $1 not installed"; return 1; }; }

run_xinetd() {
	local svc mode
	for svc in smtp submission smtps; do
		case $svc in smtps) mode=immediate ;; *) mode=delayed ;; esac
		start_xinetd_any "$SERVICES/$svc" -J "$WORK/empty" || { check "xinetd $svc listens" 1 ""; continue; }
		PORT=$XINETD_PORT
		session "xinetd.d/$svc" "$mode" "$SESSION_LOG"
		stop_xinetd
		! grep -v -e ': NOTICE: ' -e ': WARNING: Exiting\.\.\.$' "$XDIR/xinetd.log"
		check "xinetd.d/$svc: xinetd took every attribute without a complaint" $? "see above"
	done
}

# xinetd.d/smtp's per_source: that many sessions from one address are
# served (each gets its 220), the next is refused by xinetd.
run_per_source() {
	local limit
	limit=$(sed -n 's/^[[:space:]]*per_source[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$SERVICES/smtp")
	start_xinetd_any "$SERVICES/smtp" -J "$WORK/empty" || { check "xinetd smtp listens" 1 ""; return; }
	"$PYTHON" - "$XINETD_PORT" "$limit" <<'PY'
import socket, sys
port, limit = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(limit + 1):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.append(s)
    banner = s.makefile("rb").readline()
    ok = banner.startswith(b"220 ")
    if ok != (i < limit):
        sys.exit("connection %d of %d: %r" % (i + 1, limit + 1, banner))
PY
	check "xinetd.d/smtp: per_source = $limit sessions, the next one refused" $? "see above"
	stop_xinetd
}

run_inetd
run_tcpserver
run_s6
run_systemd
run_xinetd
run_per_source
echo "$passed passed, $failed failed${skipped:+, $skipped skipped}"
[ "$failed" = 0 ] || exit 1
[ "$passed" -gt 0 ] || exit 77
