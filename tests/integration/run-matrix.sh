#!/bin/bash
# Client x key x TLS version matrix through the real xinetd:
#   delayed   (xinetd.d/smtp,  -n, STARTTLS): gnutls-cli openssl swaks python-smtplib
#   immediate (xinetd.d/smtps, port 465 style): gnutls-cli openssl
# x keys {rsa, ecdsa, ed25519} x versions {1.2, 1.3}; plus the extra
# drivers in MATRIX_EXTRAS (default "coalesce eager-starttls"; set it empty
# for the plain matrix): coalesce.py, both modes, TLS 1.3 only (first data
# in the segment of the client Finished), and eager-starttls.py, delayed
# mode (STARTTLS and ClientHello in one segment).  Per case: the client
# saw 250 after DATA, negotiated the forced version and an AES-GCM suite;
# mailfront's echo backend logged the token; ucspi-tlsd logged one "done"
# line with status=0, the mode, proto= the version and cipher= the suite the
# client saw.  One line per case, then "N passed, M failed".
#
# Narrow it down with MATRIX_MODES, MATRIX_CLIENTS, MATRIX_KEYS,
# MATRIX_VERSIONS (space-separated).  UCSPI_TLSD_ARGS: extra ucspi-tlsd
# options (default: -J <an empty scratch dir>; set it empty for none).
# Exit: 0 all passed, 1 a case failed, 77 skipped (no binary, not root, no
# xinetd), 99 harness error.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"
it_init_mailfront
echo "# ucspi-tlsd: $UCSPI_TLSD"
read -r -a tlsd_args <<<"${UCSPI_TLSD_ARGS--J $WORK/empty}"

passed=0 failed=0 skipped=0
declare -A client_cmd=([gnutls-cli]=gnutls-cli [openssl]=openssl [swaks]=swaks
	[python-smtplib]="$PYTHON" [coalesce]="$PYTHON" [eager-starttls]="$PYTHON")
extras=${MATRIX_EXTRAS-coalesce eager-starttls}

# run_case MODE CLIENT KEY VERSION: one session against the running xinetd
run_case() {
	local mode=$1 client=$2 key=$3 ver=$4 name="$1 $2 $3 TLSv$4"
	local out=$XDIR/$client-$ver.out token why='' res logline
	if ! command -v "${client_cmd[$client]}" >/dev/null; then
		echo "SKIP: $name (${client_cmd[$client]} not installed)"
		skipped=$((skipped + 1))
		return
	fi
	token=tok$RANDOM$RANDOM$RANDOM
	: >"$SESSION_LOG"
	"$PYTHON" "$CLIENTS/$client.py" "$mode" "$XINETD_PORT" "$ver" "$WORK/fx/$key.crt" "$token" \
		>"$out" 2>&1
	local rc=$?
	res=$(grep -E '^PROTO=' "$out" | tail -n 1)
	[ "$rc" = 0 ] || why="$why client exit $rc;"
	[ "$(log_field "$res" DATA)" = 250 ] || why="$why no 250 after DATA;"
	[ "$(log_field "$res" PROTO)" = "TLSv$ver" ] ||
		why="$why client negotiated $(log_field "$res" PROTO), not TLSv$ver;"
	local cipher
	cipher=$(log_field "$res" CIPHER)
	[[ $cipher =~ AES_(128|256)_GCM ]] || why="$why client cipher $cipher is not AES-GCM;"
	if wait_log '^ucspi-tlsd\[[0-9]+\]: done '; then
		[ "$(grep -c 'done ' "$SESSION_LOG")" = 1 ] || why="$why more than one done line;"
		logline=$(grep -E '^ucspi-tlsd\[[0-9]+\]: done ' "$SESSION_LOG" | tail -n 1)
		[ "$(log_field "$logline" status)" = 0 ] || why="$why log status=$(log_field "$logline" status);"
		[ "$(log_field "$logline" mode)" = "$mode" ] || why="$why log mode=$(log_field "$logline" mode);"
		[ "$(log_field "$logline" proto)" = "TLSv$ver" ] ||
			why="$why log proto=$(log_field "$logline" proto);"
		[ "$(log_field "$logline" cipher)" = "$cipher" ] ||
			why="$why log cipher=$(log_field "$logline" cipher) but the client saw $cipher;"
	else
		why="$why no done line in the log;"
	fi
	grep -q "^mailfront\[[0-9]*\]: Subject: ucspi-tlsd test $token" "$SESSION_LOG" ||
		why="$why mailfront's echo backend did not log the token;"
	if [ -z "$why" ]; then
		echo "PASS: $name ($cipher)"
		passed=$((passed + 1))
	else
		echo "FAIL: $name:$why"
		echo "#   client output ($out):"
		sed 's/^/#     /' "$out"
		echo "#   session log ($SESSION_LOG):"
		sed 's/^/#     /' "$SESSION_LOG"
		failed=$((failed + 1))
		IT_FAILED=1
	fi
}

for mode in ${MATRIX_MODES:-delayed immediate}; do
	case $mode in
	delayed) svc=smtp clients="gnutls-cli openssl swaks python-smtplib" ;;
	immediate) svc=smtps clients="gnutls-cli openssl" ;;
	*) hard_error "unknown mode $mode" ;;
	esac
	for key in ${MATRIX_KEYS:-rsa ecdsa ed25519}; do
		TEST_CERT=$WORK/fx/$key.crt TEST_KEY=$WORK/fx/$key.key
		start_xinetd_any "$SERVICES/$svc" "${tlsd_args[@]}" || hard_error "xinetd did not start"
		for client in ${MATRIX_CLIENTS:-$clients $extras}; do
			case " $clients $extras " in *" $client "*) ;; *) continue ;; esac
			[ "$client" = eager-starttls ] && [ "$mode" != delayed ] && continue
			for ver in ${MATRIX_VERSIONS:-1.2 1.3}; do
				[ "$client" = coalesce ] && [ "$ver" != 1.3 ] && continue
				run_case "$mode" "$client" "$key" "$ver"
			done
		done
		stop_xinetd
	done
done
[ "$skipped" = 0 ] || echo "# $skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
[ "$passed" -gt 0 ] || exit 77
exit 0
