#!/bin/sh
# Stand-in for ucspi-tlsd WITHOUT TLS, for mailfront-plain.sh: accepts the
# ucspi-tlsd command line, sets what ucspi-tlsd sets for the plaintext phase
# (PROTO=TCP, UCSPITLS= with -n; no SSL*FD, so STARTTLS cannot succeed),
# runs the application as the -u user and logs a "done" line to stderr.
mode=immediate user=''
while getopts nc:k:u:j:J:T:t:p:vqU opt; do
	case $opt in
	n) mode=delayed ;;
	u) user=$OPTARG ;;
	c | k | j | J | T | t | p | v | q | U) ;; # no TLS here
	\?) echo "notls-stub: usage" >&2; exit 100 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "notls-stub: no program" >&2; exit 100; }
if [ "$mode" = delayed ]; then UCSPITLS=; export UCSPITLS; fi
PROTO=TCP; export PROTO
set -- ${user:+setpriv --reuid="$user" --regid="$user" --init-groups --} "$@"
"$@"
status=$?
echo "notls-stub[$$]: done mode=$mode proto=none status=$status" >&2
exit "$status"
