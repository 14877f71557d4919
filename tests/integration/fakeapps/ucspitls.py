#!/usr/bin/env python3
"""Fake UCSPI-TLS application (delayed mode) for behaviour.py.

Usage: ucspitls.py OUTDIR ACTION

Runs as the -u user.  First creates OUTDIR/marker (proof that it ran), then
records its descriptors, environment, uid and gid, writes a line on fd 2 and
'220 ready\\r\\n' on fd 1.  Everything it sees goes to OUTDIR/app.json,
rewritten after every step (so a hung or failed run still shows how far it
got).  Times are time.monotonic() (CLOCK_MONOTONIC, system-wide), so the test
can order them against its own.

ACTION:
  Y, y      write the byte on SSLCTLFD, read SSLCTLFD to EOF (the 'Y' block),
            check that fd 0 is at EOF, read one line from SSLREADFD and answer
            '250 LINE' on SSLWRITEFD; exit 0 (4 if SSLREADFD is at EOF)
  starttls  read one plaintext line from fd 0; if it is STARTTLS, answer
            '220 go ahead', write 'y', wait for EOF on SSLCTLFD, read the
            first line from SSLREADFD, answer '250 ok'; exit 0
  starttls-go  as starttls, but after the 220 wait until the test writes a
            byte into the FIFO OUTDIR/go (made by the test), then 'y'
  decline   close SSLCTLFD without a command; echo 3 plaintext lines from
            fd 0 to fd 1 as 'echo:LINE'; exit 5
  bad       write 'x' on SSLCTLFD, then read fd 0 to EOF; exit 0
  plain     an application started without UCSPITLS (ucspi-tlsd -o): touch
            no descriptor above 2; echo 2 plaintext lines from fd 0 to fd 1
            as 'echo:LINE'; exit 6
  yy        write 'yy' on SSLCTLFD at once, then read SSLCTLFD and fd 4 to
            EOF; exit 0
"""
import os
import stat
import fcntl


def probe_fds():
    """Open descriptors, found without opening anything (no extra fd)."""
    found = {}
    for fd in range(0, 1024):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        mode = st.st_mode
        kind = ('socket' if stat.S_ISSOCK(mode) else 'fifo' if stat.S_ISFIFO(mode)
                else 'chr' if stat.S_ISCHR(mode) else 'reg' if stat.S_ISREG(mode) else 'other')
        acc = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        try:
            target = os.readlink('/proc/self/fd/%d' % fd)
        except OSError:
            target = '?'
        found[str(fd)] = {'kind': kind, 'acc': {os.O_RDONLY: 'r', os.O_WRONLY: 'w'}.get(acc, 'rw'),
                          'target': target}
    return found


FDS = probe_fds()  # before anything else can open a descriptor

import json  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

OUT = sys.argv[1]
ACTION = sys.argv[2] if len(sys.argv) > 2 else 'Y'
STATE = {'action': ACTION, 'fds': FDS, 'steps': []}
WAIT = 8.0  # seconds; bounded waits, the test gives up earlier


def save():
    tmp = os.path.join(OUT, 'app.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(STATE, f, indent=1)
    os.rename(tmp, os.path.join(OUT, 'app.json'))


def step(name, **kw):
    kw['name'] = name
    kw['t'] = time.monotonic()
    STATE['steps'].append(kw)
    save()


def wait_readable(fd, timeout=WAIT):
    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


def read_line(fd):
    """One line, a byte at a time (never reads past the newline)."""
    line = b''
    while not line.endswith(b'\n'):
        if not wait_readable(fd):
            step('timeout', fd=fd, partial=line.decode('latin-1'))
            sys.exit(90)
        b = os.read(fd, 1)
        if not b:
            break
        line += b
    return line


def read_to_eof(fd, timeout=WAIT):
    """Returns (data, time of first byte or None, time of EOF or None)."""
    data, t_first = b'', None
    while True:
        if not wait_readable(fd, timeout):
            return data, t_first, None
        try:
            b = os.read(fd, 65536)
        except OSError as e:
            step('read_error', fd=fd, error=str(e))
            return data, t_first, None
        if not b:
            return data, t_first, time.monotonic()
        if t_first is None:
            t_first = time.monotonic()
        data += b


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def echo_lines(n):
    """Echo n plaintext lines from fd 0 to fd 1 as 'echo:LINE'."""
    lines = []
    for _ in range(n):
        line = read_line(0)
        lines.append(line.decode('latin-1'))
        write_all(1, b'echo:' + line)
    step('end', lines=lines)


def main():
    signal.alarm(30)  # never outlive a broken test
    with open(os.path.join(OUT, 'marker'), 'w'):
        pass
    STATE['env'] = dict(os.environ)
    STATE['uid'], STATE['gid'] = os.getuid(), os.getgid()
    save()
    os.write(2, b'fake app: stderr line\n')
    write_all(1, b'220 ready\r\n')
    step('sent_220')

    if ACTION in ('Y', 'y'):
        write_all(3, ACTION.encode())
        step('sent_command')
        block, t_first, t_eof = read_to_eof(3)
        os.close(3)
        step('ctl_done', block=block.decode('latin-1'), t_first=t_first, t_eof=t_eof)
        rest, _, t_eof0 = read_to_eof(0, 5.0)
        step('fd0_after', data=rest.decode('latin-1'), eof=t_eof0 is not None)
        line = read_line(4)
        step('tls_line', line=line.decode('latin-1'))
        if not line:  # TLS never came up: SSLREADFD is at EOF
            sys.exit(4)
        write_all(5, b'250 ' + line.rstrip(b'\r\n') + b'\r\n')
        os.close(5)
        rest, _, _ = read_to_eof(4)
        step('end', tls_rest=rest.decode('latin-1'))
        sys.exit(0)

    if ACTION in ('starttls', 'starttls-go'):
        line = read_line(0)
        step('plain_line', line=line.decode('latin-1'))
        if line.rstrip(b'\r\n').upper() != b'STARTTLS':
            sys.exit(91)
        write_all(1, b'220 go ahead\r\n')
        if ACTION == 'starttls-go':
            with open(os.path.join(OUT, 'go'), 'rb') as go:
                go.read(1)
        write_all(3, b'y')
        step('sent_command')
        block, t_first, t_eof = read_to_eof(3)
        os.close(3)
        step('ctl_done', block=block.decode('latin-1'), t_first=t_first, t_eof=t_eof)
        line = read_line(4)
        step('tls_line', line=line.decode('latin-1'))
        write_all(5, b'250 ok\r\n')
        os.close(5)
        rest, _, _ = read_to_eof(4)
        left, _, eof0 = read_to_eof(0, 2.0)
        step('end', tls_rest=rest.decode('latin-1'), fd0_left=left.decode('latin-1'), fd0_eof=eof0 is not None)
        sys.exit(0)

    if ACTION == 'decline':
        os.close(3)
        step('declined')
        echo_lines(3)
        sys.exit(5)

    if ACTION == 'plain':
        echo_lines(2)
        sys.exit(6)

    if ACTION == 'yy':
        write_all(3, b'yy')
        step('sent_command')
        block, _, _ = read_to_eof(3)
        rest, _, _ = read_to_eof(4)
        step('end', block=block.decode('latin-1'), tls=rest.decode('latin-1'))
        sys.exit(0)

    if ACTION == 'bad':
        write_all(3, b'x')
        step('sent_command')
        rest, _, t_eof = read_to_eof(0)
        step('end', fd0=rest.decode('latin-1'), eof=t_eof is not None)
        sys.exit(0)

    sys.exit(92)


if __name__ == '__main__':
    main()
