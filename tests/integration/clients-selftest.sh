#!/bin/bash
# The client drivers checked against a TLS SMTP server that is not
# ucspi-tlsd: stunnel4 in front of mailfront (immediate TLS, port 465 style;
# stunnel has no server-side STARTTLS, so delayed mode is checked only
# against ucspi-tlsd, in run-matrix.sh).  For every driver and version, with
# the ECDSA and the Ed25519 certificate: the message is accepted and the
# driver reports the forced version and an AES-GCM suite.  And every driver
# must FAIL when it does not trust the certificate (another self-signed
# one as CA file).  Needs no ucspi-tlsd binary.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"
it_init
need_cmd stunnel4
need_cmd openssl
[ -x "$MAILFRONT" ] || skip "no $MAILFRONT"
make_fixtures "$WORK/fx" || hard_error "cannot make certificates"
passed=0 failed=0 skipped=0
declare -A client_cmd=([gnutls-cli]=gnutls-cli [openssl]=openssl [swaks]=swaks [python-smtplib]="$PYTHON")

start_stunnel() { # KEY
	STUNNEL_PORT=$(free_port)
	cat >"$WORK/stunnel.conf" <<-END
	foreground = yes
	pid =
	[smtps]
	accept = 127.0.0.1:$STUNNEL_PORT
	exec = $MAILFRONT
	execArgs = mailfront smtp echo accept
	cert = $WORK/fx/$1.crt
	key = $WORK/fx/$1.key
	END
	stunnel4 "$WORK/stunnel.conf" </dev/null >"$WORK/stunnel-$1.log" 2>&1 &
	STUNNEL_PID=$!
	poll 10 listening "$STUNNEL_PID" "$STUNNEL_PORT"
}
stop_stunnel() { kill "$STUNNEL_PID" 2>/dev/null; wait "$STUNNEL_PID" 2>/dev/null; }

check() { # NAME EXPECT(ok|fail) OUTFILE RC VERSION
	local res why=''
	res=$(grep -E '^PROTO=' "$3" | tail -n 1)
	if [ "$2" = ok ]; then
		[ "$4" = 0 ] || why="$why exit $4;"
		[ "$(log_field "$res" DATA)" = 250 ] || why="$why no 250 after DATA;"
		[ "$(log_field "$res" PROTO)" = "TLSv$5" ] || why="$why PROTO=$(log_field "$res" PROTO);"
		[[ $(log_field "$res" CIPHER) =~ AES_(128|256)_GCM ]] || why="$why CIPHER=$(log_field "$res" CIPHER);"
	else
		[ "$4" = 1 ] || why="$why exit $4, not 1;"
		[ "$(log_field "$res" PROTO)" = none ] || why="$why PROTO=$(log_field "$res" PROTO) with an untrusted certificate;"
	fi
	if [ -z "$why" ]; then
		echo "PASS: $1"; passed=$((passed + 1))
	else
		echo "FAIL: $1:$why"; sed 's/^/#   /' "$3"; failed=$((failed + 1)); IT_FAILED=1
	fi
}

for key in ecdsa ed25519; do
	start_stunnel "$key" || hard_error "stunnel did not start"
	for client in gnutls-cli openssl swaks python-smtplib; do
		if ! command -v "${client_cmd[$client]}" >/dev/null; then
			echo "SKIP: $client (not installed)"; skipped=$((skipped + 1)); continue
		fi
		for ver in 1.2 1.3; do
			out=$WORK/$client-$key-$ver.out
			"$PYTHON" "$CLIENTS/$client.py" immediate "$STUNNEL_PORT" "$ver" "$WORK/fx/$key.crt" >"$out" 2>&1
			check "stunnel $client $key TLSv$ver" ok "$out" $? "$ver"
		done
		# the rsa certificate is not the one the server shows
		out=$WORK/$client-$key-untrusted.out
		"$PYTHON" "$CLIENTS/$client.py" immediate "$STUNNEL_PORT" 1.3 "$WORK/fx/rsa.crt" >"$out" 2>&1
		check "stunnel $client $key untrusted certificate refused" fail "$out" $? 1.3
	done
	stop_stunnel
done
[ "$skipped" = 0 ] || echo "# $skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
[ "$passed" -gt 0 ] || exit 77
