#!/bin/sh
# Fake application for behaviour.py: creates OUTDIR/marker, then kills
# itself with SIGTERM (which must have the default disposition).
# Usage: killself.sh OUTDIR
: >"$1/marker"
kill -TERM $$
echo "fake app: SIGTERM did not kill me" >&2
exit 3
