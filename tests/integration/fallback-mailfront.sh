#!/bin/bash
# C09, the -o fallback, with the real xinetd running the shipped
# xinetd.d/smtp service (delayed mode, mailfront with starttls-ucspi) and
# swaks as the client.  With a key problem:
#   -o        the message is accepted in plaintext (250 after DATA), mailfront
#             offers no STARTTLS, and every connection logs the problem
#             (two connections, two lines);
#   no -o     fail closed: no banner, status 111, mailfront never runs;
# with a certificate problem and -o: plaintext too; with a good key and -o:
# STARTTLS is offered as always.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"
it_init_mailfront
need_cmd swaks
passed=0 failed=0

result() { # NAME WHY ("" = passed)
	if [ -z "$2" ]; then
		echo "PASS: $1"; passed=$((passed + 1))
	else
		echo "FAIL: $1:$2"; failed=$((failed + 1)); IT_FAILED=1
		sed 's/^/#   /' "$SESSION_LOG" "$XDIR"/*.out 2>/dev/null
	fi
}

# send N: one message through swaks without TLS, transcript in $XDIR/N.out
send() {
	printf 'Subject: fallback\n\nbody\n' |
		swaks --server 127.0.0.1 --port "$XINETD_PORT" --helo client.test \
			--from a@example.org --to b@example.org --timeout 20 --data - >"$XDIR/$1.out" 2>&1
}

# plaintext N: the checks of one accepted plaintext session
plaintext() {
	local why=''
	send "$1" || why="$why swaks exit $?;"
	grep -qE '^<-  250 Received [0-9]+ bytes' "$XDIR/$1.out" || why="$why no 250 after DATA;"
	grep -q '^<-  220' "$XDIR/$1.out" || why="$why no banner;"
	! grep -q 'STARTTLS' "$XDIR/$1.out" || why="$why STARTTLS offered without TLS;"
	printf '%s' "$why"
}

# count_log EXTENDED-REGEX: lines of the session log that match
count_log() { grep -cE -- "$1" "$SESSION_LOG"; }

# A key problem with -o: two connections, both plaintext, both logged.
TEST_CERT=$WORK/fx/enc.crt TEST_KEY=$WORK/fx/enc.key
start_xinetd_any "$SERVICES/smtp" -J "$WORK/empty" -o || hard_error "xinetd did not start"
why=$(plaintext one)$(plaintext two)
poll 10 test "$(count_log ' done .* status=0$')" = 2 || why="$why not two done lines with status=0;"
problem="key file $WORK/fx/enc.key: the key is encrypted; ucspi-tlsd reads no passphrase; -o: the application runs without UCSPITLS \(no STARTTLS\)"
[ "$(count_log "$problem")" = 2 ] || why="$why the problem not logged once per connection;"
result "-o, encrypted key: plaintext, no STARTTLS, logged on each connection" "$why"
stop_xinetd

# The same key problem without -o: fail closed.
start_xinetd_any "$SERVICES/smtp" -J "$WORK/empty" || hard_error "xinetd did not start"
why=''
send closed && why="$why swaks succeeded;"
! grep -q '^<-  220' "$XDIR/closed.out" || why="$why a banner was sent;"
wait_log ' done .*status=111$' || why="$why no done line with status 111;"
! grep -q '^mailfront' "$SESSION_LOG" || why="$why mailfront ran;"
result "no -o, encrypted key: closed before any byte, status 111" "$why"
stop_xinetd

# A certificate problem with -o.
TEST_CERT=$WORK/fx/garbage.crt TEST_KEY=$WORK/fx/ecdsa.key
start_xinetd_any "$SERVICES/smtp" -J "$WORK/empty" -o || hard_error "xinetd did not start"
why=$(plaintext cert)
wait_log ' done .* status=0$' || why="$why no done line with status 0;"
[ "$(count_log "certificate file $WORK/fx/garbage.crt: no PEM certificate in it; -o: ")" = 1 ] ||
	why="$why the problem not logged;"
result "-o, garbage certificate: plaintext, no STARTTLS, logged" "$why"
stop_xinetd

# Nothing wrong, -o: STARTTLS as always.
TEST_CERT=$WORK/fx/ecdsa.crt TEST_KEY=$WORK/fx/ecdsa.key
start_xinetd_any "$SERVICES/smtp" -J "$WORK/empty" -o || hard_error "xinetd did not start"
why=''
swaks --server 127.0.0.1 --port "$XINETD_PORT" --helo client.test --quit-after EHLO --timeout 20 \
	>"$XDIR/good.out" 2>&1 || why="$why swaks exit $?;"
grep -q '^<-  250-STARTTLS' "$XDIR/good.out" || why="$why STARTTLS not offered;"
result "-o, good key: STARTTLS offered" "$why"
stop_xinetd

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
