#!/usr/bin/env python3
"""The failure cases C01-C13 (C09 aside) as tests: the real binary on one
loopback connection per test, raw Python clients, the fake applications of
fakeapps/ and Debian's mailfront (queuedir backend: an accepted message is
a file, so messages are counted).  Built on behaviour.py's harness; the map
from each case to its tests is in README.  Same environment and exit codes
as behaviour.py; names on the command line run single tests, e.g.
  cases.py C03.test_c_256k_final_reply
"""
import hashlib
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import unittest

import behaviour as B
from behaviour import BioClient, Plain, client_context, fx, EXIT_TEMP, IO_TIMEOUT

MAILFRONT = os.environ.get('MAILFRONT', '/usr/sbin/mailfront')
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
MiB = 1 << 20


def pattern(n):
    return (b'0123456789abcdef' * (n // 16 + 1))[:n]


def session_pids(sid):
    """Processes of session sid (ucspi-tlsd is started as a session
    leader): [(pid, state, comm)]."""
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                head, _, tail = f.read().rpartition(')')
        except OSError:
            continue
        fields = tail.split()
        if int(fields[3]) == sid:
            found.append((int(name), fields[0], head.partition('(')[2]))
    return found


def tcp_rx_queue(local_port, remote_port):
    """Bytes the kernel holds unread on the server's socket, from /proc/net/tcp."""
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if int(p[1].split(':')[1], 16) == local_port and int(p[2].split(':')[1], 16) == remote_port:
                return int(p[4].split(':')[1], 16)
    return None


def poll_until(cond, what, timeout=IO_TIMEOUT):
    """Waits for a state change that has no event to wait on (a queue in
    /proc); fails with what after timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.005)


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def reply(reader):
    """One SMTP reply (all its lines) from reader.readline."""
    lines = []
    while True:
        line = reader()
        lines.append(line)
        if len(line) < 4 or line[3:4] != b'-':
            return lines


class Client(BioClient):
    """BioClient that tells a close_notify (ssl returns b'') from a bare
    EOF (ssl raises SSLEOFError)."""

    def read(self):
        if self.pending:
            data, self.pending = self.pending, b''
            return data
        while True:
            try:
                data = self.obj.read(65536)
                if not data:
                    self.close_notify = True
                return data
            except ssl.SSLWantReadError:
                self._flush()
                self._recv()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as e:
                self.close_notify = isinstance(e, ssl.SSLZeroReturnError)
                return b''


class Conn(B.Conn):
    """behaviour.Conn with the ways a launcher can differ: a non-blocking
    socket, fd 2 closed, signals ignored or blocked, or no socket at all
    (pipes or a socketpair as fds 0 and 1)."""

    def __init__(self, argv, env, logpath, transport='tcp', nonblock=False, close_fd2=False, signals=False):
        self.logpath, self.argv, self.rc = logpath, argv, None
        self.client_port = self.local_port = None
        if transport == 'tcp':
            ls = socket.socket()
            ls.bind(('127.0.0.1', 0))
            ls.listen(1)
            self.local_port = ls.getsockname()[1]
            self.sock = socket.create_connection(('127.0.0.1', self.local_port), timeout=IO_TIMEOUT)
            self.client_port = self.sock.getsockname()[1]
            srv, _ = ls.accept()
            ls.close()
            srv.setblocking(not nonblock)  # O_NONBLOCK on the description ucspi-tlsd inherits
            fd_in = fd_out = srv.fileno()
            close = [srv]
        elif transport == 'socketpair':
            self.sock, srv = socket.socketpair()
            self.sock.settimeout(IO_TIMEOUT)
            fd_in = fd_out = srv.fileno()
            close = [srv]
        else:  # two pipes; self.sock is a socket-like wrapper
            r0, w0 = os.pipe()
            r1, w1 = os.pipe()
            fd_in, fd_out = r0, w1
            self.sock = PipePair(r1, w0)
            close = [r0, w1]

        def preexec():
            if signals:
                signal.signal(signal.SIGPIPE, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
            if close_fd2:
                os.close(2)

        with open(logpath, 'wb') as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=fd_in, stdout=fd_out, stderr=log, env=env, close_fds=True,
                                         start_new_session=True, preexec_fn=preexec, restore_signals=not signals)
        for c in close:
            c.close() if hasattr(c, 'close') else os.close(c)

    def pids(self):
        """(engine, application) pids while both run."""
        kids = B.children(self.proc.pid)
        engine = [p for p in kids if B.proc_uids(p)[0] >= 0x70000000]
        return (engine[0] if engine else None), next((p for p in kids if p not in engine), None)


class PipePair:
    """The client's end of two pipes, with the socket calls the tests use."""

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd

    def sendall(self, data):
        while data:
            data = data[os.write(self.wfd, data):]

    def recv(self, n):
        import select
        if not select.select([self.rfd], [], [], IO_TIMEOUT)[0]:
            raise TimeoutError
        return os.read(self.rfd, n)

    def shutdown(self, how):
        os.close(self.wfd)
        self.wfd = -1

    def close(self):
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                os.close(fd)
        self.rfd = self.wfd = -1


class Case(B.Base):
    """Starting ucspi-tlsd the ways the cases need, and what every case
    checks at the end: no process of the session left, no zombie."""

    def start(self, argv, env=None, fd2_socket=False, out=None, **how):
        if fd2_socket:
            return super().start(argv, env, fd2_socket=True)
        c = Conn(argv, env if env is not None else self.env(), os.path.join(out or self.out, 'log'), **how)
        self.conns.append(c)
        return c

    def tearDown(self):
        for c in self.conns:  # what a test left behind (a grandchild) goes too
            try:
                os.killpg(c.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        super().tearDown()

    def assert_nothing_left(self, c, except_comm=()):
        left = [p for p in session_pids(c.proc.pid) if p[2] not in except_comm]
        self.assertEqual(left, [], 'processes of the session left after ucspi-tlsd exited')

    def misbehave(self, action, arg=None):
        return self.app('misbehave.py', action, *([str(arg)] if arg is not None else []))

    def delayed(self, action, *opts, arg=None, **how):
        c = self.start(self.argv('-n', '-T', '5', *opts, app=self.misbehave(action, arg)), **how)
        return c, Plain(c.sock)

    def state(self):
        return self.app_state()

    # -- mailfront with the queuedir backend: one file per accepted message

    def mailfront(self, *opts, delayed=True, **how):
        self.queue = os.path.join(self.out, 'q')
        for d in ('', 'tmp', 'new'):
            os.makedirs(os.path.join(self.queue, d), exist_ok=True)
            os.chmod(os.path.join(self.queue, d), 0o777)
        app = [MAILFRONT, 'smtp', 'queuedir', 'starttls-ucspi:accept' if delayed else 'accept']
        mode = ('-n',) if delayed else ()
        env = self.env(QUEUEDIR=self.queue, QUEUEDIR_NOSYNC='1')
        return self.start(self.argv(*mode, '-T', '5', *opts, app=app), env, **how)

    def messages(self):
        out = []
        for name in os.listdir(os.path.join(self.queue, 'new')):
            with open(os.path.join(self.queue, 'new', name), 'rb') as f:
                out.append(f.read())
        return out

    def starttls(self, c, maximum=None, request=b'STARTTLS\r\n'):
        """mailfront: banner, EHLO, STARTTLS (with whatever request adds),
        the 220; returns the BioClient before its handshake and the Plain."""
        pl = Plain(c.sock)
        self.assertTrue(pl.readline().startswith(b'220 '))
        c.sock.sendall(b'EHLO client.example.org\r\n')
        self.assertIn(b'250-STARTTLS\r\n', reply(pl.readline))
        c.sock.sendall(request)
        self.assertTrue(pl.readline().startswith(b'220 '), 'the reply to STARTTLS')
        self.assertEqual(pl.buf, b'', 'nothing after the 220 before the ClientHello')
        return Client(c.sock, client_context(maximum=maximum), server_hostname='mail.example.org'), pl


TRANSACTION = (b'MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n'
               b'Subject: %s\r\n\r\nbody\r\n.\r\nQUIT\r\n')


def version_tests(cls, name, fn):
    """Adds name_tls12 and name_tls13, each running fn(self, maximum)."""
    for v, maximum in (('tls12', TLS12), ('tls13', TLS13)):
        def test(self, maximum=maximum):
            fn(self, maximum)
        test.__doc__ = '%s (%s)' % (fn.__doc__.strip().splitlines()[0], v)
        setattr(cls, 'test_%s_%s' % (name, v), test)


# ---------------------------------------------------------------- C01

class C01(Case):
    """Plaintext pipelined behind STARTTLS never runs inside TLS."""

    def injected(self, maximum, trailer):
        c = self.mailfront()
        cl, pl = self.starttls(c, maximum, b'STARTTLS\r\n' + trailer)
        try:
            cl.handshake()
        except (ssl.SSLError, OSError):
            c.close()  # the trailer reached the handshake: it failed, which is fine
            fields, log = self.finish(c, fields_status(c))
            self.assertRegex(fields.get('reason', ''), r'handshake failed', log)
            self.assertEqual(self.messages(), [])
            return
        cl.send(b'NOOP\r\nQUIT\r\n')
        replies = cl.read_to_eof().splitlines()
        # mailfront rejects what it read itself with STARTTLS, once, and
        # runs none of it
        notice = b'500 5.5.1 Unexpected pipelined commands following STARTTLS'
        self.assertEqual(replies[1:] if replies[:1] == [notice] else replies,
                         [b'250 2.3.0 OK', b'221 2.0.0 Good bye.'], 'one 250 for the NOOP, then the 221')
        c.close()
        fields, log = self.finish(c, 0)
        if replies[:1] != [notice]:
            self.assertRegex(log, r'discarded \d+ bytes of plaintext', 'the log counts what was dropped')
        self.assertEqual(self.messages(), [], 'no message from injected commands')

    def rset(self, maximum):
        """C01: 'STARTTLS\\r\\nRSET\\r\\n' in one segment, mailfront: the RSET never runs."""
        self.injected(maximum, b'RSET\r\n')

    def transaction(self, maximum):
        """C01: STARTTLS then MAIL, RCPT, DATA in one segment: no extra reply, no message."""
        self.injected(maximum, b'MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n')

    def noop_20k(self, maximum):
        """C01: STARTTLS then 20 KiB of NOOPs (several reads): none answered."""
        self.injected(maximum, b'NOOP\r\n' * 3500)


def fields_status(c):
    c.wait()
    return c.rc


version_tests(C01, 'rset', C01.rset)
version_tests(C01, 'transaction', C01.transaction)
version_tests(C01, 'noop_20k', C01.noop_20k)


def engine_switched(c):
    """True once the engine has left the plaintext phase: it holds neither
    of the application's fd 0/1 pipes any more."""
    engine, app = c.pids()

    def pipes(pid):
        out = set()
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                t = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if t.startswith('pipe:'):
                out.add(t)
        return out
    return lambda: not (pipes(engine) & {os.readlink('/proc/%d/fd/%d' % (app, fd)) for fd in (0, 1)})


class C01Socket(Case):

    def test_trailer_after_switch_fails_handshake(self):
        """C01: bytes in the socket after the switch are handshake input: a
        non-TLS line fails the handshake (logged), never reaches the app."""
        os.mkfifo(os.path.join(self.out, 'go'), 0o666)
        c = self.start(self.argv('-n', '-T', '5', app=self.app('ucspitls.py', 'starttls-go')))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        c.sock.sendall(b'STARTTLS\r\n')
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')
        with open(os.path.join(self.out, 'go'), 'wb') as go:
            go.write(b'!')
        poll_until(engine_switched(c), 'the engine to start the handshake')
        c.sock.sendall(b'RSET\r\n')
        self.assertIsNone(B.tls_records(pl.read_to_eof()), 'at most an alert after the 220')
        c.close()
        c.wait()
        fields, log = self.finish(c, c.rc)
        self.assertRegex(fields.get('reason', ''), r'handshake failed', log)
        st = self.app_state()
        self.assertEqual(self.step(st, 'tls_line')['line'], '', 'nothing decrypted reached the application')


# ---------------------------------------------------------------- C02

class C02(Case):

    def test_a_client_stale_line_dropped(self):
        """C02a: a line the client sends after the 220 but before the switch
        is dropped there (logged, counted), also from the application's fd 0
        pipe; it is not the first line over TLS, and not left for fd 0."""
        os.mkfifo(os.path.join(self.out, 'go'), 0o666)
        c = self.start(self.argv('-n', '-T', '5', app=self.app('ucspitls.py', 'starttls-go')))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        c.sock.sendall(b'STARTTLS\r\n')
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')
        c.sock.sendall(b'RSET\r\n')
        poll_until(lambda: tcp_rx_queue(c.local_port, c.client_port) == 0, 'the engine to read the stale line')
        with open(os.path.join(self.out, 'go'), 'wb') as go:
            go.write(b'!')
        cl = Client(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 ok\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 0)
        self.assertIn('discarded 6 bytes of plaintext', log)
        st = self.app_state()
        self.assertEqual(self.step(st, 'tls_line')['line'], 'NOOP\r\n')
        self.assertEqual(self.step(st, 'end')['fd0_left'], '', 'the stale line is not left on fd 0 either')

    def test_a_application_stale_line_relayed_in_order(self):
        """C02a (application side): '220 ready\\r\\n250 stale\\r\\n' then 'y'.
        The engine cannot tell a stale line from a reply (it does not parse
        SMTP): what the application wrote before 'y' goes out in order, in
        clear, and then only TLS records (README: the deviation)."""
        c, pl = self.delayed('stale-220')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        self.assertEqual(pl.readline(), b'250 stale\r\n')
        cl = Client(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        self.assertEqual(cl.raw[:1], b'\x16', 'the next server byte starts the ServerHello')
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 ok\r\n')
        c.close()
        self.finish(c, 0)

    def back_to_back(self, n, parallel=4):
        failures = []

        def one(i):
            out = os.path.join(self.out, str(i))
            os.mkdir(out)
            os.chmod(out, 0o1777)
            app = [os.path.join(B.W.apps, 'ucspitls.py'), out, 'starttls']
            c = self.start(self.argv('-n', '-T', '5', app=app), out=out)
            try:
                pl = Plain(c.sock)
                assert pl.readline() == b'220 ready\r\n'
                c.sock.sendall(b'STARTTLS\r\n')
                assert pl.readline() == b'220 go ahead\r\n', 'the 220'
                time.sleep((i * 7919 % 2000) / 1e6)  # 0-2 ms of jitter: a spread of timings, not a wait
                cl = Client(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
                cl.handshake()
                assert cl.raw[:1] == b'\x16', 'first byte after the 220: %r' % cl.raw[:8]
                assert pl.raw == b'220 ready\r\n220 go ahead\r\n', 'plaintext: %r' % pl.raw
                cl.send(b'NOOP\r\n')
                assert cl.readline() == b'250 ok\r\n'
                c.close()
                assert c.wait() == 0
            except Exception as e:  # noqa: BLE001
                failures.append('%d: %r' % (i, e))

        for start in range(0, n, parallel):
            ts = [threading.Thread(target=one, args=(i,)) for i in range(start, min(n, start + parallel))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        self.assertEqual(failures, [], '%d of %d sessions failed' % (len(failures), n))

    def test_b_back_to_back(self):
        """C02b: '220' and 'y' back to back, client jitter 0-2 ms: exactly
        the 220 in clear, then 0x16; 0 failures (C02_SESSIONS, default 100;
        make soak: 1000)."""
        self.back_to_back(int(os.environ.get('C02_SESSIONS', '100')))

    def test_c_early_write_on_sslwritefd(self):
        """C02c: bytes written on SSLWRITEFD right after 'y', before the
        handshake is done, arrive encrypted after it, never in clear."""
        c, pl = self.delayed('early')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = Client(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        self.assertEqual(pl.raw, b'220 ready\r\n', 'only the 220 in clear')
        self.assertEqual(cl.readline(), b'250-early\r\n')
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 ok\r\n')
        c.close()
        self.finish(c, 0)
        self.assertIsNone(B.tls_records(cl.raw), 'only TLS records after the 220')


# ---------------------------------------------------------------- C03

class C03(Case):

    def one_write(self, maximum, close_notify):
        c = self.mailfront(delayed=False)
        cl = Client(c.sock, client_context(maximum=maximum), server_hostname='mail.example.org')
        cl.handshake()
        self.assertTrue(cl.readline().startswith(b'220 '))
        token = os.urandom(8).hex().encode()
        cl.send(b'EHLO client.example.org\r\n' + TRANSACTION % token)
        if close_notify:
            try:
                cl.obj.unwrap()
            except ssl.SSLWantReadError:
                pass
            cl._flush()
        c.sock.shutdown(socket.SHUT_WR)
        rest = cl.read_to_eof()
        self.assertIn(b'250 2.6.0 Message accepted.\r\n221 ', rest)
        self.assertTrue(cl.close_notify, 'the server\'s close_notify before its FIN')
        cl.drain_raw()
        fields, log = self.finish(c, 0)
        self.assertNotIn('reason', fields, log)
        msgs = self.messages()
        self.assertEqual(len(msgs), 1, 'accepted exactly once')
        self.assertIn(b'Subject: ' + token, msgs[0])
        self.assert_nothing_left(c)

    def a(self, maximum):
        """C03a: a whole transaction in one write, FIN without close_notify: 250, 221, one message."""
        self.one_write(maximum, close_notify=False)

    def b(self, maximum):
        """C03b: the same with close_notify first (half-close): 250, 221, one message."""
        self.one_write(maximum, close_notify=True)

    def test_c_256k_final_reply(self):
        """C03c: the application writes 256 KiB and exits at once, the
        client idle: every byte (checksum), close_notify, FIN; ucspi-tlsd
        gone within a second of the client's end."""
        n = 256 << 10
        c = self.start(self.argv('-T', '5', app=self.misbehave('big-reply', n)))
        cl = Client(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        data = cl.read_to_eof()
        self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(pattern(n)).hexdigest(),
                         'got %d of %d bytes' % (len(data), n))
        self.assertTrue(cl.close_notify, 'close_notify after the data')
        cl.drain_raw()
        t = time.monotonic()
        c.close()
        self.finish(c, 0)
        self.assertLess(time.monotonic() - t, 1.5)
        self.assert_nothing_left(c)

    def test_d_client_half_closes_first(self):
        """C03d: the client sends and half-closes; the application answers
        200 ms after its EOF: the answer arrives, then close_notify."""
        c = self.start(self.argv('-T', '5', app=self.misbehave('late-answer')))
        cl = Client(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'QUIT\r\n')
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(cl.read_to_eof(), b'250 late 6\r\n')
        self.assertTrue(cl.close_notify)
        c.close()
        self.finish(c, 0)


version_tests(C03, 'a', C03.a)
version_tests(C03, 'b', C03.b)


if __name__ == '__main__':
    B.main(sys.modules[__name__])
