#!/bin/bash
# The main job, from a fresh clone, as root on Debian 12: build ucspi-tlsd,
# make a throwaway certificate, run the shipped xinetd.d/smtp service under
# the real xinetd (foreground, a free loopback port) with Debian's mailfront
# as the UCSPI-TLS application, send one message through STARTTLS with
# swaks, and print the client's transcript and ucspi-tlsd's log line.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
. tests/deps.sh
install_packages
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p _build
echo "== building ucspi-tlsd in _build/"
(cd _build && { [ -f Makefile ] || "$top/configure" -q; } && make -s -j"$(nproc)" >/dev/null)

export UCSPI_TLSD=$top/_build/ucspi-tlsd top_builddir=$top/_build
set +u
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
it_init
make_fixtures "$WORK/fx" || hard_error "cannot make a certificate"
mkdir -m 755 "$WORK/empty"
TEST_CERT=$WORK/fx/ecdsa.crt TEST_KEY=$WORK/fx/ecdsa.key
start_xinetd_any "$top/xinetd.d/smtp" -J "$WORK/empty" || hard_error "xinetd did not start"
echo "== xinetd runs xinetd.d/smtp on 127.0.0.1:$XINETD_PORT:"
grep -E 'server(_args)?[[:space:]]*=' "$XDIR/xinetd.conf" | sed 's/^[[:space:]]*/   /'
echo "== swaks --tls (STARTTLS), the client's transcript:"
swaks --server "127.0.0.1:$XINETD_PORT" --tls --tls-ca-path "$TEST_CERT" --tls-verify \
	--ehlo client.test --from sender@example.org --to rcpt@example.org \
	--header "Subject: ucspi-tlsd demo" --body "Hello through ucspi-tlsd." 2>&1 | tee "$WORK/swaks.out"
wait_log '^ucspi-tlsd\[[0-9]+\]: done ' || hard_error "no log line from ucspi-tlsd"
echo "== ucspi-tlsd's log line for the session:"
grep -E '^ucspi-tlsd\[[0-9]+\]: ' "$SESSION_LOG"
echo "== mailfront (echo backend) received:"
grep -E '^mailfront\[[0-9]+\]: (MAIL|RCPT|Subject)' "$SESSION_LOG" || true
grep -q '^<~  250 ' "$WORK/swaks.out" && grep -q 'status=0' "$SESSION_LOG" && echo "== OK: message accepted over TLS"
