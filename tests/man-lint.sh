#!/bin/sh
# The man pages are clean under mandoc -Tlint (warnings and up).
: "${srcdir:=$(dirname "$0")/..}"
command -v mandoc >/dev/null || { echo "SKIP: no mandoc"; exit 77; }
out=$(mandoc -Tlint -Wwarning "$srcdir"/man/*.[1-9] 2>&1 | grep -v 'outdated mandoc.db')
[ -z "$out" ] || { echo "$out"; exit 1; }
echo "man pages lint clean"
