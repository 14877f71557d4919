#!/bin/bash
# The mailfront set-up of the shipped xinetd services, checked in plaintext:
# the real xinetd runs xinetd.d/smtp and xinetd.d/smtps (rewritten as in
# run-matrix.sh) with notls-stub.sh in place of ucspi-tlsd, and swaks sends
# one message without TLS.  Checks: the message is accepted (250 after DATA),
# mailfront's echo backend logged the token (on fd 2, the session log),
# STARTTLS is offered exactly when UCSPITLS is set (smtp: -n), and the
# application exited 0.  Needs no ucspi-tlsd binary.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"
it_init
need_cmd swaks
[ -x "$MAILFRONT" ] || skip "no $MAILFRONT"
command -v setpriv >/dev/null || skip "setpriv not installed"
UCSPI_TLSD=$IT_DIR/notls-stub.sh
TEST_CERT=/nonexistent TEST_KEY=/nonexistent
passed=0 failed=0

result() { # NAME OK-FLAG [WHY]
	if [ "$2" = 1 ]; then
		echo "PASS: $1"; passed=$((passed + 1))
	else
		echo "FAIL: $1: $3"; failed=$((failed + 1)); IT_FAILED=1
	fi
}

for svc in smtp smtps; do
	start_xinetd_any "$SERVICES/$svc" || hard_error "xinetd did not start"
	token=plain$RANDOM$RANDOM
	out=$XDIR/swaks.out
	printf 'Subject: plain %s\nFrom: <a@example.org>\n\nbody %s\n' "$token" "$token" |
		swaks --server 127.0.0.1 --port "$XINETD_PORT" --helo client.test \
			--from a@example.org --to b@example.org --timeout 20 --data - >"$out" 2>&1
	rc=$?
	why=
	[ "$rc" = 0 ] || why="$why swaks exit $rc;"
	grep -qE '^<-  250 Received [0-9]+ bytes' "$out" || why="$why no 250 after DATA;"
	if [ "$svc" = smtp ]; then
		grep -q '^<-  250-STARTTLS' "$out" || why="$why STARTTLS not offered with UCSPITLS set;"
	else
		! grep -q 'STARTTLS' "$out" || why="$why STARTTLS offered without UCSPITLS;"
	fi
	wait_log 'notls-stub\[[0-9]+\]: done ' || why="$why no done line;"
	grep -q "^mailfront\[[0-9]*\]: Subject: plain $token" "$SESSION_LOG" ||
		why="$why echo backend did not log the token;"
	grep -q 'done .* status=0$' "$SESSION_LOG" || why="$why application status not 0;"
	if [ -n "$why" ]; then
		sed 's/^/#   /' "$out" "$SESSION_LOG"
		result "plaintext $svc" 0 "$why"
	else
		result "plaintext $svc" 1
	fi
	stop_xinetd
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
