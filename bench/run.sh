#!/bin/sh
# bench/run.sh: what `make bench` runs (as root, from the build tree).
#
# Side by side on loopback, each under its own tcpserver, all with the same
# application (bench/tinysmtp) and the same client (bench/loadgen):
#   baseline        tcpserver straight to tinysmtp, no TLS
#   ucspi-tlsd      -n: STARTTLS, ECDSA P-256 key, TLS 1.3
#   tlswrapper      -n with tlswrapper-smtp (STARTTLS)
#   stunnel         protocol = smtp (STARTTLS), inetd mode with exec
#   and immediate-TLS rows for ucspi-tlsd, tlswrapper and stunnel.
# Every system keeps its own defaults (ciphers, protocol versions); the
# table says what each negotiated.  The systems take turns, in a rotating
# order, over BENCH_ROUNDS rounds; the table gives each figure's median,
# and each ratio is the median of the per-round ratios, so that the noise of
# a shared machine hits both sides of a ratio alike.  Memory: BENCH_HOLD
# sessions are held open after their last EHLO and the helpers' proportional
# set size (PSS: shared pages split among their users) and peak RSS
# (VmHWM) are summed over every process of the connection but tinysmtp.
#
# Environment (all optional): BENCH_ROUNDS (5), BENCH_SESSIONS (200),
# BENCH_CONCURRENCY (4), BENCH_BULK_MB (32 per session), BENCH_BULK_SESSIONS
# (3), BENCH_HOLD (20).  Ports: free ones on 127.0.0.1, picked at start.
set -eu

top_builddir=$(cd "${top_builddir:-.}" && pwd)
ROUNDS=${BENCH_ROUNDS:-5}
SESSIONS=${BENCH_SESSIONS:-200}
CONC=${BENCH_CONCURRENCY:-4}
BULK_MB=${BENCH_BULK_MB:-32}
BULK_SESSIONS=${BENCH_BULK_SESSIONS:-3}
HOLD=${BENCH_HOLD:-20}
LOADGEN=$top_builddir/bench/loadgen
APP=$top_builddir/bench/tinysmtp
UCSPI_TLSD=$top_builddir/ucspi-tlsd

die() { echo "bench: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (ucspi-tlsd and tlswrapper jail their processes)"
for f in "$LOADGEN" "$APP" "$UCSPI_TLSD"; do [ -x "$f" ] || die "$f: not built (run make first)"; done

missing=
for p in tlswrapper stunnel4 ucspi-tcp openssl procps iproute2; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bench: installing$missing"
	apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null ||
		die "cannot install$missing"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ucspi-tlsd-bench.XXXXXX")
chmod 755 "$WORK"
SERVERS=
cleanup() {
	for pid in $SERVERS; do kill "$pid" 2>/dev/null || :; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$WORK"

# One ECDSA P-256 certificate for everyone; tlswrapper wants key and chain
# in one file.  An empty root-owned jail for ucspi-tlsd and tlswrapper.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mail.test \
	-keyout key.pem -out cert.pem 2>/dev/null || die "openssl cannot make the certificate"
cat key.pem cert.pem >both.pem
mkdir -m 755 jail
stunnel_conf() { # FILE [protocol line]: inetd mode, the application exec'd
	printf 'foreground = yes\nsyslog = no\ndebug = 0\npid =\ncert = %s\nkey = %s\nexec = %s\n%s\n' \
		"$WORK/cert.pem" "$WORK/key.pem" "$APP" "${2:-}" >"$1"
}
stunnel_conf stunnel-smtp.conf 'protocol = smtp'
stunnel_conf stunnel-tls.conf

# name mode command... (one per line; the port is given by the position)
SYSTEMS="baseline plain $APP
ucspi-tlsd starttls $UCSPI_TLSD -n -u nobody -J $WORK/jail -c $WORK/cert.pem -k $WORK/key.pem $APP
tlswrapper starttls tlswrapper -n -f $WORK/both.pem -J $WORK/jail tlswrapper-smtp -J $WORK/jail $APP
stunnel starttls stunnel4 $WORK/stunnel-smtp.conf
ucspi-tlsd-imm tls $UCSPI_TLSD -u nobody -J $WORK/jail -c $WORK/cert.pem -k $WORK/key.pem $APP
tlswrapper-imm tls tlswrapper -f $WORK/both.pem -J $WORK/jail $APP
stunnel-imm tls stunnel4 $WORK/stunnel-tls.conf"
NAMES=$(echo "$SYSTEMS" | awk '{ print $1 }')

field() { # LINE KEY: the value of KEY=... in a loadgen line
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
free_port() { # a loopback TCP port that nothing listens on now
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
for name in $NAMES; do echo "$name $(free_port)"; done >ports
port_of() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/ports"; }
mode_of() { echo "$SYSTEMS" | awk -v n="$1" '$1 == n { print $2 }'; }
loadgen() { # NAME ARGS...: run the load generator against NAME, print its line
	name=$1
	shift
	"$LOADGEN" -m "$(mode_of "$name")" "$@" 127.0.0.1 "$(port_of "$name")" 2>>"$WORK/loadgen.err" ||
		die "$name: sessions failed: $(tail -n 1 "$WORK/loadgen.err")"
}

echo "$SYSTEMS" | while read -r name mode cmd; do
	# shellcheck disable=SC2086 # the command is words
	tcpserver -HRl0 -c 200 127.0.0.1 "$(port_of "$name")" $cmd 2>"$WORK/$name.log" &
	echo $! >>servers
done
SERVERS=$(cat servers)
i=0
for name in $NAMES; do # our tcpserver listens (not another program), and one session works
	i=$((i + 1))
	pid=$(echo "$SERVERS" | sed -n "${i}p")
	tries=0
	until ss -Hltnp "sport = :$(port_of "$name")" | grep -q "pid=$pid,"; do
		tries=$((tries + 1))
		[ "$tries" -lt 200 ] || die "$name: tcpserver does not listen (its log: $(tail -n 2 "$WORK/$name.log"))"
		sleep 0.05
	done
	"$LOADGEN" -m "$(mode_of "$name")" -n 1 -t 10 127.0.0.1 "$(port_of "$name")" >/dev/null 2>>loadgen.err ||
		die "$name: a first session failed: $(tail -n 1 loadgen.err) (its log: $(tail -n 2 "$WORK/$name.log"))"
done

# ---- rounds ----
round=1
while [ "$round" -le "$ROUNDS" ]; do
	printf 'round %s/%s:' "$round" "$ROUNDS" >&2
	# rotate the order each round
	order=$(echo "$NAMES" | awk -v r="$round" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1] }')
	for name in $order; do
		printf ' %s' "$name" >&2
		line=$(loadgen "$name" -n "$SESSIONS" -c "$CONC")
		echo "$round $(field "$line" rate) $(field "$line" p50_ms) $(field "$line" p99_ms)" >>"$name.sessions"
		echo "$(field "$line" proto) $(field "$line" cipher)" >"$name.suite"
		line=$(loadgen "$name" -n "$BULK_SESSIONS" -c 1 -d $((BULK_MB * 1048576)))
		echo "$round $(field "$line" mbps)" >>"$name.bulk"
	done
	echo >&2
	round=$((round + 1))
done

# ---- memory: HOLD sessions open at once ----
descendants() { # PID: it and all its descendants
	ps -e -o pid=,ppid=,comm= | awk -v root="$1" '
		{ parent[$1] = $2; comm[$1] = $3 }
		END {
			keep[root] = 1
			do { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } } while (grew)
			for (p in keep) if (p != root) print p, comm[p]
		}'
}
helper_memory() { # TCPSERVER-PID: "PSS-kB HWM-kB" summed over the helpers
	descendants "$1" | while read -r pid comm; do
		[ "$comm" = tinysmtp ] && continue
		pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		echo "${pss:-0} ${hwm:-0}"
	done | awk '{ p += $1; h += $2 } END { print p + 0, h + 0 }'
}
i=0
for name in $NAMES; do
	i=$((i + 1))
	server=$(echo "$SERVERS" | sed -n "${i}p")
	rm -f hold.in hold.out
	mkfifo hold.in
	"$LOADGEN" -H -m "$(mode_of "$name")" -n "$HOLD" 127.0.0.1 "$(port_of "$name")" <hold.in >hold.out 2>>loadgen.err &
	held=$!
	exec 3>hold.in
	tries=0
	until grep -q '^holding' hold.out; do
		tries=$((tries + 1))
		[ "$tries" -lt 600 ] || die "$name: the held sessions never opened"
		sleep 0.05
	done
	echo "$(helper_memory "$server") $HOLD" >"$name.memory"
	exec 3>&-
	wait "$held" || die "$name: held sessions failed: $(tail -n 1 loadgen.err)"
done

# ---- the table ----
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { # NAME FILE COLUMN: the median of that column
	awk -v c="$3" '{ print $c }' "$1.$2" | median
}
ratio() { # A B FILE COLUMN: median over rounds of A's value / B's value
	awk -v c="$4" 'NR == FNR { a[$1] = $c; next } ($1 in a) && $c > 0 { print a[$1] / $c }' "$1.$3" "$2.$3" | median
}
per_conn() { awk -v c="$2" '{ printf "%.0f\n", $c / $3 }' "$1.memory"; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo
echo "ucspi-tlsd bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu, $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$ROUNDS rounds; per round and system: $SESSIONS sessions at concurrency $CONC, then $BULK_SESSIONS x $BULK_MB MiB DATA one at a time; memory: $HOLD sessions held"
echo
printf '%-15s %-8s %10s %8s %8s %9s %10s %10s  %s\n' system mode sessions/s p50_ms p99_ms bulk_MB/s PSS_KiB/c peakRSS/c "protocol cipher"
for name in $NAMES; do
	printf '%-15s %-8s %10s %8s %8s %9s %10s %10s  %s\n' "$name" "$(mode_of "$name")" "$(col "$name" sessions 2)" \
		"$(col "$name" sessions 3)" "$(col "$name" sessions 4)" "$(col "$name" bulk 2)" \
		"$(per_conn "$name" 1)" "$(per_conn "$name" 2)" "$(cat "$name.suite")"
done
echo
echo "targets (median of per-round ratios; memory: PSS per connection):"
missed=0
target() { # TEXT VALUE OP LIMIT
	if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= l : v <= l) }'; then ok=met; else ok=MISSED; missed=$((missed + 1)); fi
	printf '  %-48s %6.2f  (%s %s) %s\n' "$1" "$2" "$3" "$4" "$ok"
}
target "STARTTLS sessions/s, ucspi-tlsd / tlswrapper" "$(ratio ucspi-tlsd tlswrapper sessions 2)" ">=" 1.5
target "STARTTLS sessions/s, ucspi-tlsd / baseline" "$(ratio ucspi-tlsd baseline sessions 2)" ">=" 0.35
target "bulk MB/s, ucspi-tlsd / stunnel" "$(ratio ucspi-tlsd stunnel bulk 2)" ">=" 2
target "bulk MB/s, ucspi-tlsd / baseline" "$(ratio ucspi-tlsd baseline bulk 2)" ">=" 0.6
target "p50 latency, ucspi-tlsd / tlswrapper" "$(ratio ucspi-tlsd tlswrapper sessions 3)" "<=" 0.7
target "helper memory per connection, ucspi-tlsd / tlswrapper" \
	"$(awk '{ print $1 }' ucspi-tlsd.memory tlswrapper.memory | paste -s -d' ' | awk '{ print $1 / $2 }')" "<=" 1
[ "$missed" = 0 ] && echo "all targets met" || echo "$missed target(s) missed"
