#!/usr/bin/env python3
"""Fake applications that misbehave on purpose, for cases.py.

Usage: misbehave.py OUTDIR ACTION [ARG]

Runs as the -u user.  Writes what it saw as JSON to OUTDIR/app.json at the
end (and OUTDIR/marker at the start).  Delayed-mode actions first write
'220 ready\\r\\n' on fd 1.

ACTION:
  stale-220    (C02a) write '220 ready\\r\\n250 stale\\r\\n', then 'y'; then
               one line over TLS, answered '250 ok'
  early        (C02c) '220 ready', 'y', and at once '250-early\\r\\n' on
               SSLWRITEFD (before the handshake is done); then one line over
               TLS, answered '250 ok'
  nonblock     (C11a/c) O_NONBLOCK on fds 0 and 1, then 'y'; after TLS,
               blocking reads and writes on 4 and 5 without any EAGAIN
               handling: read ARG bytes, write ARG bytes; records the flags
  ctl-flood    (C12f) write ARG bytes of 'y' on SSLCTLFD
  y-again      (C12e) 'y', wait for EOF on SSLCTLFD, write 'y' again, then
               one line over TLS, answered '250 ok'
  decline-echo (C12c) close SSLCTLFD without a command, then echo plaintext
               lines as 'echo:LINE' until EOF on fd 0
  big-reply    (C03c) immediate mode: write ARG bytes (a pattern) and exit
  late-answer  (C03d) immediate mode: read fd 0 to EOF, pause 0.2 s, answer
               '250 late NBYTES\\r\\n'
  bulk         (C11b) immediate mode: read ARG bytes from fd 0 (blocking, no
               EAGAIN handling), then write ARG bytes to fd 1
  big-writer   (C05c) immediate mode: read one line, then write ARG bytes
               to fd 1; records how the writing ended
"""
import fcntl
import hashlib
import json
import os
import signal
import sys
import time

OUT = sys.argv[1]
ACTION = sys.argv[2]
ARG = int(sys.argv[3]) if len(sys.argv) > 3 else 0
STATE = {'action': ACTION}


def save():
    with open(os.path.join(OUT, 'app.json.tmp'), 'w') as f:
        json.dump(STATE, f)
    os.rename(os.path.join(OUT, 'app.json.tmp'), os.path.join(OUT, 'app.json'))


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def read_line(fd):
    line = b''
    while not line.endswith(b'\n'):
        b = os.read(fd, 1)
        if not b:
            break
        line += b
    return line


def read_to_eof(fd):
    data = b''
    while True:
        b = os.read(fd, 65536)
        if not b:
            return data
        data += b


def pattern(n):
    return (b'0123456789abcdef' * (n // 16 + 1))[:n]


def blocking(fd):
    return not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK


def read_exactly(fd, n):
    """Blocking reads, no EAGAIN handling: (bytes read, their sha256)."""
    got, h = 0, hashlib.sha256()
    while got < n:
        b = os.read(fd, min(65536, n - got))
        if not b:
            break
        got += len(b)
        h.update(b)
    return got, h.hexdigest()


def tls_echo_one():
    line = read_line(4)
    STATE['tls_line'] = line.decode('latin-1')
    write_all(5, b'250 ok\r\n')
    os.close(5)
    STATE['tls_rest'] = read_to_eof(4).decode('latin-1')


def main():
    signal.alarm(30)  # never outlive a broken test
    open(os.path.join(OUT, 'marker'), 'w').close()
    if ACTION in ('stale-220', 'early'):
        write_all(1, b'220 ready\r\n' + (b'250 stale\r\n' if ACTION == 'stale-220' else b''))
        write_all(3, b'y')
        if ACTION == 'early':
            write_all(5, b'250-early\r\n')
        STATE['ctl'] = read_to_eof(3).decode('latin-1')
        tls_echo_one()
    elif ACTION == 'nonblock':
        write_all(1, b'220 ready\r\n')
        for fd in (0, 1):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        write_all(3, b'y')
        read_to_eof(3)
        STATE['blocking'] = {str(fd): blocking(fd) for fd in (4, 5)}
        STATE['read'], STATE['read_sha256'] = read_exactly(4, ARG)
        write_all(5, pattern(ARG))
        os.close(5)
    elif ACTION == 'ctl-flood':
        write_all(1, b'220 ready\r\n')
        try:
            write_all(3, b'y' * ARG)
            STATE['ctl_write'] = 'ok'
        except OSError as e:
            STATE['ctl_write'] = e.strerror
        STATE['fd4'] = read_to_eof(4).decode('latin-1')
    elif ACTION == 'y-again':
        write_all(1, b'220 ready\r\n')
        write_all(3, b'y')
        STATE['ctl'] = read_to_eof(3).decode('latin-1')
        try:
            os.write(3, b'y')
            STATE['second_y'] = 'written'
        except OSError as e:
            STATE['second_y'] = e.strerror
        tls_echo_one()
    elif ACTION == 'decline-echo':
        write_all(1, b'220 ready\r\n')
        os.close(3)
        lines = 0
        while True:
            line = read_line(0)
            if not line:
                break
            lines += 1
            write_all(1, b'echo:' + line)
        STATE['lines'] = lines
    elif ACTION == 'big-reply':
        write_all(1, pattern(ARG))
    elif ACTION == 'late-answer':
        data = read_to_eof(0)
        time.sleep(0.2)  # the behaviour under test: an answer after the client's EOF
        write_all(1, b'250 late %d\r\n' % len(data))
    elif ACTION == 'bulk':
        STATE['blocking'] = {str(fd): blocking(fd) for fd in (0, 1)}
        STATE['read'], STATE['read_sha256'] = read_exactly(0, ARG)
        write_all(1, pattern(ARG))
    elif ACTION == 'big-writer':
        STATE['line'] = read_line(0).decode('latin-1')
        save()
        try:
            write_all(1, pattern(ARG))
            STATE['write'] = 'ok'
        except OSError as e:
            STATE['write'] = e.strerror
    else:
        sys.exit(92)
    save()
    sys.exit(0)


if __name__ == '__main__':
    main()
