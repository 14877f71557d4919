#!/bin/bash
# The inetd/xinetd convention (SPEC 4 and 8, case C06 a): the socket is on
# fds 0, 1 and 2.  Under the real xinetd, with no wrapper, and with an expired
# certificate so that ucspi-tlsd has a warning to log, not one byte of log
# text may reach the client: in delayed mode (xinetd.d/smtp) the first bytes
# are mailfront's "220 ", in immediate mode (xinetd.d/smtps) the first byte
# is 0x16, a TLS record.  The lines go to syslog instead: the test runs in a
# private mount namespace whose /dev has a log socket of the test's own (the
# machine's /dev is untouched), and checks the warning and the session's
# "done" line arrived there.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
in_private_mount_ns "$0" "$@"
it_init
[ -x "$UCSPI_TLSD" ] || skip "no ucspi-tlsd binary at $UCSPI_TLSD"
trap 'private_syslog_undo; it_cleanup' EXIT
private_syslog || hard_error "no private syslog"

# an expired certificate: served, with a warning in the log
make_fixtures "$WORK/fx" || hard_error "cannot make certificates"
TEST_CERT=$WORK/fx/expired.crt TEST_KEY=$WORK/fx/expired.key
mkdir -m 755 "$WORK/empty"

# start_raw SERVICEFILE: the service as shipped, ucspi-tlsd itself as the
# server, so that its fd 2 is the socket
start_raw() {
	local port
	port=$(free_port)
	XDIR=$WORK/x-$port
	mkdir -p "$XDIR"
	{
		printf 'defaults\n{\n\tlog_type\t= FILE %s\n}\n\n' "$XDIR/xinetd-service.log"
		rewrite_service "$1" "$port" "$UCSPI_TLSD" -J "$WORK/empty"
	} >"$XDIR/xinetd.conf"
	xinetd -dontfork -f "$XDIR/xinetd.conf" -filelog "$XDIR/xinetd.log" -pidfile "$XDIR/xinetd.pid" \
		</dev/null >"$XDIR/xinetd.out" 2>&1 &
	XINETD_PID=$! XINETD_PORT=$port
	poll 10 xinetd_listening || hard_error "xinetd did not listen"
}

# first_bytes MODE PORT: what the server sends first (delayed: the banner
# line; immediate: the first 5 bytes answering a real ClientHello), as hex
first_bytes() {
	"$PYTHON" - "$1" "$2" <<'PY'
import socket, ssl, sys
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "delayed":
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    s.sendall(b"QUIT\r\n")
else:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="mail.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s.sendall(out.read())
    data = b""
    while len(data) < 5:
        chunk = s.recv(5 - len(data))
        if not chunk:
            break
        data += chunk
s.close()
print(data.hex())
PY
}

failed=0 passed=0
check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "PASS: $1"; passed=$((passed + 1)); else
		echo "FAIL: $1: $3"; failed=$((failed + 1)); IT_FAILED=1; fi
}

for mode in delayed immediate; do
	: >"$SYSLOG"
	case $mode in delayed) start_raw "$SERVICES/smtp" ;; immediate) start_raw "$SERVICES/smtps" ;; esac
	hex=$(first_bytes "$mode" "$XINETD_PORT")
	case $mode in
	delayed) [[ $hex == 32323020* ]] ;;   # "220 "
	immediate) [[ $hex == 16* ]] ;;       # a TLS handshake record
	esac
	check "$mode: the client's first bytes are the application's or TLS's, no log text" $? "got $hex"
	poll 10 grep -qE 'ucspi-tlsd\[[0-9]+\]: done .*mode='"$mode" "$SYSLOG"
	check "$mode: the session's log line went to syslog" $? "$(cat "$SYSLOG")"
	grep -q 'certificate has expired' "$SYSLOG"
	check "$mode: the expired-certificate warning went to syslog" $? "$(cat "$SYSLOG")"
	stop_xinetd
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
