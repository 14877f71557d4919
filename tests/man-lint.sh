#!/bin/sh
# The man pages are clean under mandoc -Tlint (warnings and up), and
# ucspi-tlsd(8) documents what the code has: every flag of the getopt
# string in src/options.c (an .It Fl entry), every environment variable
# src/options.c reads (.Ev), and every field of the done line that
# src/engine.c and src/keeper.c write (an .It Cm entry); both pages are in
# Makefile.am's dist_man_MANS, so make install installs them.
: "${srcdir:=$(dirname "$0")/..}"
command -v mandoc >/dev/null || { echo "SKIP: no mandoc"; exit 77; }
out=$(mandoc -Tlint -Wwarning "$srcdir"/man/*.[1-9] 2>&1 | grep -v 'outdated mandoc.db')
[ -z "$out" ] || { echo "$out"; exit 1; }
echo "man pages lint clean"
page=$srcdir/man/ucspi-tlsd.8
missing=''
flags=$(sed -n 's/.*getopt(argc, argv, "+\([^"]*\)").*/\1/p' "$srcdir/src/options.c" | tr -d ':')
[ -n "$flags" ] || { echo "no getopt string found in src/options.c"; exit 1; }
for f in $(printf '%s' "$flags" | sed 's/./& /g'); do
	grep -q "^\.It Fl $f\( \|$\)" "$page" || missing="$missing -$f"
done
for v in $(grep -o 'getenv_fn("[A-Z_]*")' "$srcdir/src/options.c" | sed 's/.*("\(.*\)")/\1/' | sort -u); do
	grep -q "^\.Ev $v\( \|$\)" "$page" || missing="$missing \$$v"
done
fields=$(cat "$srcdir/src/engine.c" "$srcdir/src/keeper.c" | grep -o '[a-z_]*=%' | sed 's/=%//' | sort -u)
for f in $fields; do
	grep -q "^\.It Cm \(.* \)\?$f\( \|,\|$\)" "$page" || missing="$missing field:$f"
done
for m in $(cd "$srcdir/man" && ls); do
	grep -q "man/$m" "$srcdir/Makefile.am" || missing="$missing install:$m"
done
[ -z "$missing" ] || { echo "not documented in ucspi-tlsd(8) or not installed:$missing"; exit 1; }
echo "every flag, environment variable and done-line field documented; every page installed"
