#!/bin/sh
# Fake application for behaviour.py, immediate mode (runs as the -u user).
# Usage: immediate.sh OUTDIR [STATUS]
# Creates OUTDIR/marker first (proof that it ran), then records its
# descriptors (those of /proc/$$/fd, the shell's own, as "FD -> TARGET"
# lines; sh itself keeps the script file open on a descriptor >= 10),
# environment (NUL-separated), uid and gid,
# writes a line on fd 2, echoes one line from fd 0 to fd 1 as "echo:LINE",
# and exits STATUS (default 7).
# The descriptor list is written by find itself (-fprintf): dash applies
# even a simple command's redirection in its own process (saving fd 1 on
# a new descriptor), which would show up in the list.
out=$1
: >"$out/marker"
find "/proc/$$/fd/" -mindepth 1 -fprintf "$out/fds" '%f -> %l\n'
env -0 >"$out/env"
id -u >"$out/uid"
id -g >"$out/gid"
echo "fake app: stderr line" >&2
IFS= read -r line
printf 'echo:%s\n' "$line"
exit "${2:-7}"
