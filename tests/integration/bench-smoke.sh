#!/bin/bash
# Smoke test of the benchmark's two programs (no timing: `make bench` times).
# The real xinetd runs the shipped services with bench/tinysmtp as the
# application, and bench/loadgen drives them:
#   smtp  (ucspi-tlsd -n):  STARTTLS sessions with a DATA whose size tinysmtp
#                           must count back, TLS 1.3 negotiated;
#   smtps (immediate TLS):  the same over implicit TLS;
#   smtps without TLS (notls-stub.sh): plain sessions; a STARTTLS client
#                           fails there (loadgen reports failures, exit 1);
#   -H: held sessions are reported as held and then finish.
# The pipes between ucspi-tlsd's engine and the application hold 1 MiB
# (bulk DATA: fewer wake-ups): an application wrapper reports their sizes.
# Once TLS is up the engine reads the network ahead, several records at a
# time, instead of GnuTLS's two reads (header, body) per record: strace
# counts its reads of the socket during a 1 MiB DATA (64 records).
# And tinysmtp alone: STARTTLS with an empty UCSPI-TLS reply (no Y block)
# must end it with 111 instead of carrying on in plaintext.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"
it_init
LOADGEN=$top_builddir/bench/loadgen
MAILFRONT=$top_builddir/bench/tinysmtp # the application in the service files
[ -x "$LOADGEN" ] && [ -x "$MAILFRONT" ] || hard_error "bench/loadgen and bench/tinysmtp are not built"
make_fixtures "$WORK/fx" >/dev/null || hard_error "cannot make certificates"
TEST_CERT=$WORK/fx/ecdsa.crt TEST_KEY=$WORK/fx/ecdsa.key
passed=0 failed=0

check() { # NAME WHY-IF-FAILED (empty: passed)
	if [ -z "$2" ]; then
		echo "PASS: $1"; passed=$((passed + 1))
	else
		echo "FAIL: $1:$2"; failed=$((failed + 1)); IT_FAILED=1
	fi
}

# sessions NAME MODE EXPECT-RC PROTO [LOADGEN-ARGS...]: run loadgen against
# the current xinetd and check its exit status and its result line
sessions() {
	local name=$1 mode=$2 rc_want=$3 proto=$4 out why='' rc
	shift 4
	out=$("$LOADGEN" -m "$mode" -t 20 "$@" 127.0.0.1 "$XINETD_PORT" 2>"$WORK/loadgen.err")
	rc=$?
	[ "$rc" = "$rc_want" ] || why="$why loadgen exit $rc, not $rc_want ($(cat "$WORK/loadgen.err"));"
	if [ "$rc_want" = 0 ]; then
		[ "$(log_field "$out" failures)" = 0 ] || why="$why failures in: $out;"
		[ "$(log_field "$out" proto)" = "$proto" ] || why="$why protocol not $proto in: $out;"
	else
		[ "$(log_field "$out" failures)" != 0 ] || why="$why no failure counted in: $out;"
	fi
	check "$name" "$why"
}

start_xinetd_any "$SERVICES/smtp" || hard_error "xinetd did not start"
sessions "STARTTLS through ucspi-tlsd -n, DATA counted" starttls 0 TLS1.3 -n 4 -c 2 -d 300000
check "ucspi-tlsd logged a TLS 1.3 session with status 0" \
	"$(wait_log 'done .*mode=delayed proto=TLSv1.3 .*status=0$' || echo ' no such done line')"
held=$("$LOADGEN" -H -m starttls -n 2 -t 20 127.0.0.1 "$XINETD_PORT" </dev/null 2>&1)
check "-H holds every session, then finishes them" \
	"$(echo "$held" | grep -q '^holding 2$' && [ "$(log_field "$(echo "$held" | tail -n 1)" failures)" = 0 ] || echo " got: $held")"

start_xinetd_any "$SERVICES/smtps" || hard_error "xinetd did not start"
sessions "immediate TLS through ucspi-tlsd, DATA counted" tls 0 TLS1.3 -n 3 -c 3 -d 100000

# pipe_sizes SERVICE MODE FDS: the sizes of the application's pipes FDS
# (F_GETPIPE_SZ, in the application), one session through SERVICE
pipe_sizes() {
	local app=$MAILFRONT
	mkdir -p -m 1777 "$WORK/pipes"
	rm -f "$WORK/pipes/sizes"
	cat >"$WORK/pipes/app" <<-EOF
	#!/bin/sh
	python3 -c 'import fcntl, sys; print(*(fcntl.fcntl(int(fd), fcntl.F_GETPIPE_SZ) for fd in sys.argv[2:]), file=open(sys.argv[1], "w"))' '$WORK/pipes/sizes' $3
	exec '$app'
	EOF
	chmod 755 "$WORK/pipes/app"
	MAILFRONT=$WORK/pipes/app start_xinetd_any "$SERVICES/$1" || hard_error "xinetd did not start"
	"$LOADGEN" -m "$2" -n 1 -t 20 127.0.0.1 "$XINETD_PORT" >/dev/null 2>&1
	stop_xinetd # this runs in $(...): the script's own cleanup never sees this xinetd
	cat "$WORK/pipes/sizes" 2>/dev/null
}
sizes=$(pipe_sizes smtps tls '0 1')
check "immediate mode: fds 0 and 1 are 1 MiB pipes" "$([ "$sizes" = '1048576 1048576' ] || echo " sizes: $sizes")"
sizes=$(pipe_sizes smtp starttls '0 1 4 5')
check "delayed mode: fds 0, 1, SSLREADFD and SSLWRITEFD are 1 MiB pipes" \
	"$([ "$sizes" = '1048576 1048576 1048576 1048576' ] || echo " sizes: $sizes")"

# socket_reads: reads with data on the engine's copy of the socket (the fd
# that fcntl(0, F_DUPFD_CLOEXEC) made) during one STARTTLS session of 1 MiB
socket_reads() {
	# the sanitizer build: LeakSanitizer cannot work under ptrace
	UCSPI_TLSD_PREFIX="env ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=read,fcntl -o $WORK/reads.trace" \
		start_xinetd_any "$SERVICES/smtp" ||
		hard_error "xinetd did not start"
	"$LOADGEN" -m starttls -n 1 -t 20 -d 1048576 127.0.0.1 "$XINETD_PORT" >/dev/null 2>&1 || echo "loadgen failed"
	stop_xinetd
	awk '/fcntl\(0, F_DUPFD_CLOEXEC/ && !fd { fd = $NF }
	     fd && $2 ~ "^read\\(" fd "," && $NF > 0 { n++ }
	     END { print n + 0 }' "$WORK/reads.trace"
}
if command -v strace >/dev/null; then
	reads=$(socket_reads)
	check "the engine reads the network ahead: fewer socket reads than 96 for 64 records" \
		"$([ "$reads" -gt 0 ] 2>/dev/null && [ "$reads" -lt 96 ] || echo " reads: $reads")"
fi

UCSPI_TLSD=$IT_DIR/notls-stub.sh
start_xinetd_any "$SERVICES/smtps" || hard_error "xinetd did not start"
sessions "plain sessions straight to tinysmtp, DATA counted" plain 0 - -n 3 -c 1 -d 100000
sessions "a STARTTLS client fails where STARTTLS is not offered" starttls 1 - -n 2 -c 1

# the decrypted stream (fd 4) would say QUIT: tinysmtp must not get there
out=$(printf 'EHLO x\r\nSTARTTLS\r\n' | UCSPITLS='' SSLCTLFD=3 SSLREADFD=4 SSLWRITEFD=1 "$MAILFRONT" 3<>/dev/null \
	4< <(printf 'QUIT\r\n') 2>&1)
rc=$?
check "tinysmtp: no Y reply, no TLS: exit 111 before QUIT" \
	"$([ "$rc" = 111 ] && echo "$out" | grep -q '^250-STARTTLS' && ! echo "$out" | grep -q '^221' || echo " exit $rc, output: $out")"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
