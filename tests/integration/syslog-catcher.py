#!/usr/bin/env python3
"""A syslog receiver for tests: bind an AF_UNIX datagram socket at PATH and
append every message to LOGFILE, one line each.  Prints 'ready' once bound.
Used inside a private mount namespace (see fd2-syslog.sh), never on the
machine's own /dev/log."""
import os
import socket
import sys

path, logfile = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
print("ready", flush=True)
with open(logfile, "ab", buffering=0) as out:
    while True:
        msg = s.recv(65536)
        out.write(msg.rstrip(b"\0\n") + b"\n")
