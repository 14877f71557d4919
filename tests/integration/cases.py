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

import behaviour as B
from behaviour import BioClient, Plain, client_context, fx, EXIT_TEMP, IO_TIMEOUT

MAILFRONT = os.environ.get('MAILFRONT', '/usr/sbin/mailfront')
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
MiB = 1 << 20
# More than the engine's pipes to the application hold (1 MiB), so that
# writes to them meet a full pipe.
BULK = 4 * MiB


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


def zombies():
    """[(pid, parent pid)] of every zombie."""
    found = []
    for name in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % name) as f:
                fields = f.read().rpartition(')')[2].split()
        except OSError:
            continue
        if fields[0] == 'Z':
            found.append((int(name), int(fields[1])))
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


def helpers(c):
    """(engine, application) pids of a running ucspi-tlsd."""
    kids = B.children(c.proc.pid)
    engine = [p for p in kids if B.proc_uids(p)[0] >= 0x70000000]
    return (engine[0] if engine else None), next((p for p in kids if p not in engine), None)


class Conn(B.Conn):
    """behaviour.Conn with the ways a launcher can differ: a non-blocking
    socket, fd 2 closed, signals ignored or blocked, or no socket at all
    (pipes or a socketpair as fds 0 and 1)."""

    def __init__(self, argv, env, logpath, transport='tcp', nonblock=False, close_fd2=False, signals=False):
        self.logpath, self.argv, self.rc = logpath, argv, None
        self.client_port = self.local_port = None
        if transport == 'tcp':
            srv = self.connect()
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

    def starttls_go(self, *opts, **how):
        """ucspitls.py starttls-go: STARTTLS sent, '220 go ahead' read; the
        application sends 'y' when the test calls go()."""
        os.mkfifo(os.path.join(self.out, 'go'), 0o666)
        c = self.start(self.argv('-n', '-T', '5', *opts, app=self.app('ucspitls.py', 'starttls-go')), **how)
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        c.sock.sendall(b'STARTTLS\r\n')
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')
        return c, pl

    def go(self):
        with open(os.path.join(self.out, 'go'), 'wb') as go:
            go.write(b'!')

    # -- mailfront with the queuedir backend: one file per accepted message

    def mailfront(self, *opts, delayed=True, out=None, **how):
        """ucspi-tlsd with mailfront and its queuedir backend; the queue
        (one file per accepted message) is shared by a test's sessions."""
        if not hasattr(self, 'queue'):
            self.queue = os.path.join(self.out, 'q')
            for d in ('', 'tmp', 'new'):
                os.makedirs(os.path.join(self.queue, d), exist_ok=True)
                os.chmod(os.path.join(self.queue, d), 0o777)
        app = [MAILFRONT, 'smtp', 'queuedir', 'starttls-ucspi:accept' if delayed else 'accept']
        env = self.env(QUEUEDIR=self.queue, QUEUEDIR_NOSYNC='1')
        mode = ('-n',) if delayed else ()
        return self.start(self.argv(*mode, '-T', '5', *opts, app=app), env, out=out, **how)

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
        return BioClient(c.sock, client_context(maximum=maximum), server_hostname='mail.example.org'), pl


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
    engine, app = helpers(c)

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

    def test_trailer_beyond_the_pipe_dropped(self):
        """C01: STARTTLS and 1 MiB + 32 KiB of RSETs in one go, all read by
        the engine before the application asks for TLS (more than the
        application's fd 0 pipe holds, so part of it waits in the engine):
        every byte is dropped and counted, none reaches the TLS side."""
        os.mkfifo(os.path.join(self.out, 'go'), 0o666)
        c = self.start(self.argv('-n', '-T', '5', app=self.app('ucspitls.py', 'starttls-go')))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        trailer = b'RSET\r\n' * ((MiB + (32 << 10)) // 6)
        c.sock.sendall(b'STARTTLS\r\n' + trailer)
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')
        poll_until(lambda: tcp_rx_queue(c.local_port, c.client_port) == 0, 'the engine to read the trailer')
        self.go()
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 ok\r\n')
        c.close()
        fields, log = self.finish(c, 0)
        self.assertIn('discarded %d bytes of plaintext' % len(trailer), log)
        st = self.app_state()
        self.assertEqual(self.step(st, 'tls_line')['line'], 'NOOP\r\n', 'the first line over TLS is the client\'s')
        self.assertEqual(self.step(st, 'end')['fd0_left'], '')

    def test_trailer_after_switch_fails_handshake(self):
        """C01: bytes in the socket after the switch are handshake input: a
        non-TLS line fails the handshake (logged), never reaches the app."""
        c, pl = self.starttls_go()
        self.go()
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
        c, pl = self.starttls_go()
        c.sock.sendall(b'RSET\r\n')
        poll_until(lambda: tcp_rx_queue(c.local_port, c.client_port) == 0, 'the engine to read the stale line')
        self.go()
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
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
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
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
                cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
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
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
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
        cl = BioClient(c.sock, client_context(maximum=maximum), server_hostname='mail.example.org')
        cl.handshake()
        self.assertTrue(cl.readline().startswith(b'220 '))
        token = os.urandom(8).hex().encode()
        cl.send(b'EHLO client.example.org\r\n' + TRANSACTION % token)
        rest = B.half_close(cl, c.sock, close_notify)
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
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
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

    def test_c_reply_waiting_in_the_pipe_at_exit(self):
        """C03c: the client reads nothing until the application, which
        wrote 1 MiB, has exited (over a socketpair, whose small buffers
        leave most of it in the application's pipe): all of it arrives."""
        n = MiB
        c = self.start(self.argv('-T', '5', app=self.misbehave('big-reply', n)), transport='socketpair')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        _, app = helpers(c)
        poll_until(lambda: not os.path.exists('/proc/%d' % app) or B.proc_state(app) == 'Z',
                   'the application to exit')
        data = cl.read_to_eof()
        self.assertEqual(len(data), n)
        self.assertEqual(data, pattern(n))
        c.close()
        self.assertEqual(c.wait(), 0)

    def test_d_client_half_closes_first(self):
        """C03d: the client sends and half-closes; the application answers
        200 ms after its EOF: the answer arrives, then close_notify."""
        c = self.start(self.argv('-T', '5', app=self.misbehave('late-answer')))
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'QUIT\r\n')
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(cl.read_to_eof(), b'250 late 6\r\n')
        self.assertTrue(cl.close_notify)
        c.close()
        self.finish(c, 0)


version_tests(C03, 'a', C03.a)
version_tests(C03, 'b', C03.b)



# ---------------------------------------------------------------- C04

def reset(sock):
    """Close with an RST (SO_LINGER {1, 0})."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()


def smtp_to_data(cl):
    """mailfront, TLS up: banner, EHLO, MAIL, RCPT, DATA -> 354."""
    assert cl.readline().startswith(b'220 ')
    cl.send(b'EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n')
    replies = [reply(cl.readline) for _ in range(4)]
    assert replies[3][0].startswith(b'354 '), replies


# The command of an application that exits at once and leaves a child
# behind that holds all its descriptors (C04, C10, C11).
GRANDCHILD = 'ls -l /proc/self/fd; env | sort; sleep 5 & exit 0'
# Delayed mode, the same after TLS: 'y', wait for the handshake, answer, exit.
GRANDCHILD_TLS = ("printf '220 ready\\r\\n'; printf y >&3; cat <&3 >/dev/null; "
                  "printf '250 bye\\r\\n' >&5; sleep 5 & exit 0")


class C04(Case):

    def test_a_close_after_221_without_close_notify(self):
        """C04a: after the 221 the client closes TCP without close_notify:
        a normal end, the application's status, no reason, not an error."""
        c = self.mailfront(delayed=False)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.example.org')
        cl.handshake()
        self.assertTrue(cl.readline().startswith(b'220 '))
        cl.send(b'QUIT\r\n')
        self.assertTrue(cl.readline().startswith(b'221 '))
        c.close()
        fields, log = self.finish(c, 0)
        self.assertNotIn('reason', fields, log)
        self.assert_nothing_left(c)

    def reset_mid_data(self, maximum, out=None):
        """One session: 512 KiB of a 1 MiB DATA, then an RST; returns
        (conn, seconds from the reset to ucspi-tlsd's exit)."""
        c = self.mailfront(delayed=False, out=out) if out else self.mailfront(delayed=False)
        cl = BioClient(c.sock, client_context(maximum=maximum), server_hostname='mail.example.org')
        cl.handshake()
        smtp_to_data(cl)
        cl.send(b'Subject: reset\r\n\r\n' + b'x' * 1022 + b'\r\n' * 1 + (b'y' * 1022 + b'\r\n') * 511)
        t = time.monotonic()
        reset(c.sock)
        c.wait()
        return c, time.monotonic() - t

    def reset(self, maximum):
        """C04b: RST halfway through a 1 MiB DATA: no message, a prompt exit, a reason, nothing left."""
        c, took = self.reset_mid_data(maximum)
        self.assertLess(took, 1.5, 'ucspi-tlsd exits within about a second of the reset')
        fields, log = self.finish(c, c.rc)
        self.assertGreaterEqual(c.rc, 0, 'ucspi-tlsd itself was killed by a signal')
        self.assertNotIn(c.rc, (128 + signal.SIGSEGV, 128 + signal.SIGABRT, 128 + signal.SIGPIPE), log)
        self.assertRegex(fields.get('reason', ''), 'reset', log)
        self.assertEqual(self.messages(), [], 'nothing accepted')
        self.assert_nothing_left(c)

    def test_c_half_record_then_fin(self):
        """C04c: half a TLS record, then FIN: the application sees EOF
        (mailfront ends), ucspi-tlsd exits within a second, nothing left."""
        c = self.mailfront(delayed=False)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.example.org')
        cl.handshake()
        self.assertTrue(cl.readline().startswith(b'220 '))
        c.sock.sendall(b'\x17\x03\x03\x00\x40' + b'\0' * 20)
        t = time.monotonic()
        c.sock.shutdown(socket.SHUT_WR)
        c.wait()
        self.assertLess(time.monotonic() - t, 1.5)
        self.finish(c, c.rc)
        self.assertGreaterEqual(c.rc, 0)
        self.assert_nothing_left(c)

    def test_d_parallel_resets(self):
        """C04d: sessions of (b) in parallel (C04_PARALLEL, default 40;
        make soak: 200): no zombie, no process left, no message."""
        n = int(os.environ.get('C04_PARALLEL', '40'))
        results, errors = [], []

        def one(i):
            out = os.path.join(self.out, str(i))
            os.makedirs(out)
            try:
                results.append(self.reset_mid_data(TLS13 if i % 2 else TLS12, out=out))
            except Exception as e:  # noqa: BLE001
                errors.append('%d: %r' % (i, e))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for c, took in results:
            self.assertGreaterEqual(c.rc, 0)
            self.assert_nothing_left(c)
        self.assertEqual(self.messages(), [])
        self.assertEqual([z for z in zombies() if z[1] == os.getpid()], [], 'zombie children of the test')

    def grandchild_eof(self, argv, tls):
        c = self.start(argv)
        if tls:
            cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
            cl.handshake()
            t = time.monotonic()
            data = cl.read_to_eof()
        else:
            pl = Plain(c.sock)
            t = time.monotonic()
            data = pl.read_to_eof()
        took = time.monotonic() - t
        self.assertLess(took, 1.5, 'EOF within a second of the application\'s exit, not when its child exits')
        c.close()
        self.finish(c, 0)
        return data

    def test_e_grandchild_immediate(self):
        """C04/C10/C11: the application exits while its background child
        holds fd 0/1: the client sees the end at once (immediate mode)."""
        self.grandchild_eof(self.argv('-T', '5', app=['sh', '-c', GRANDCHILD]), tls=True)

    def test_e_grandchild_delayed_plaintext(self):
        """C04/C10: the same in delayed mode, before any command."""
        self.grandchild_eof(self.argv('-n', '-T', '5', app=['sh', '-c', GRANDCHILD]), tls=False)

    def test_e_grandchild_delayed_tls(self):
        """C04/C10: the same in delayed mode after TLS (the child holds
        SSLREADFD and SSLWRITEFD): the last reply arrives, then the end."""
        c = self.start(self.argv('-n', '-T', '5', app=['sh', '-c', GRANDCHILD_TLS]))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        t = time.monotonic()
        self.assertEqual(cl.read_to_eof(), b'250 bye\r\n')
        self.assertLess(time.monotonic() - t, 1.5)
        self.assertTrue(cl.close_notify)
        c.close()
        self.finish(c, 0)


version_tests(C04, 'b_reset_mid_data', C04.reset)


# ---------------------------------------------------------------- C05

class C05(Case):

    def test_a_signal_state(self):
        """C05a: ucspi-tlsd started with SIGPIPE ignored and SIGALRM
        blocked: the application has an empty mask and ignores nothing."""
        app = ['sh', '-c', 'grep -E "^Sig(Blk|Ign)" /proc/self/status']
        c = self.start(self.argv('-T', '5', app=app), signals=True)
        with open('/proc/%d/status' % c.proc.pid) as f:
            own = dict(line.split(':') for line in f if line.startswith(('SigBlk', 'SigIgn')))
        self.assertNotEqual(int(own['SigBlk'], 16), 0, 'precondition: ucspi-tlsd started with a signal blocked')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        got = {k: int(v, 16) for k, v in (line.split(b':\t') for line in cl.read_to_eof().splitlines())}
        self.assertEqual(got[b'SigBlk'], 0, 'an empty signal mask')
        # signals 1-31 are all at their default; glibc will not touch its own
        # 32 and 33, which keep what ucspi-tlsd itself inherited
        self.assertEqual(got[b'SigIgn'] & 0x7fffffff, 0, 'no standard signal ignored')
        self.assertEqual(got[b'SigIgn'] & ~int(own['SigIgn'], 16), 0, 'nothing ignored that was not inherited')
        c.close()
        self.finish(c, 0)

    def test_b_5000_noops_then_reset(self):
        """C05b: 5000 NOOPs pipelined, never read, then an RST: the reset is
        logged, the application ends, ucspi-tlsd exits normally (the
        application's status: 128+13 if SIGPIPE ended it), nothing left."""
        c = self.mailfront(delayed=False)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.example.org')
        cl.handshake()
        cl.send(b'NOOP\r\n' * 5000)
        reset(c.sock)
        fields, log = self.finish(c, c.wait())
        self.assertGreaterEqual(c.rc, 0, 'ucspi-tlsd itself was killed by a signal')
        self.assertRegex(fields.get('reason', ''), 'reset', log)
        self.assert_nothing_left(c)

    def test_c_client_vanishes_during_large_reply(self):
        """C05c: the client resets while the application writes 8 MiB: the
        application sees EPIPE (never the client's bytes), the reset is
        logged, ucspi-tlsd is not killed by SIGPIPE, nothing left."""
        c = self.start(self.argv('-T', '5', app=self.misbehave('big-writer', 8 * MiB)))
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'go\r\n')
        self.assertTrue(cl.read())  # the reply has started
        reset(c.sock)
        fields, log = self.finish(c, c.wait())
        self.assertEqual(c.rc, 0, 'the application\'s status (it handles EPIPE)')
        self.assertRegex(fields.get('reason', ''), 'reset', log)
        self.assertEqual(self.app_state().get('write'), 'Broken pipe')
        self.assert_nothing_left(c)



# ---------------------------------------------------------------- C06

class C06(Case):

    def no_log_text(self, data):
        self.assertNotIn(b'ucspi-tlsd', data)
        self.assertNotIn(b'handshake', data)

    def test_a_fd2_socket_bad_clienthello(self):
        """C06a: fd 2 is the socket, -v, a ClientHello with a corrupted
        length: only TLS records (the alert) go back, no log text."""
        c = self.start(self.argv('-v', '-T', '5', app=self.app('immediate.sh')), fd2_socket=True)
        hello = BioClient(c.sock, client_context()).client_hello()
        c.sock.sendall(hello[:5] + b'\xff' + hello[6:])
        data = Plain(c.sock).read_to_eof()
        self.no_log_text(data)
        self.assertIsNone(B.tls_records(data), data[:80])
        self.assertEqual(c.wait(), EXIT_TEMP)

    def test_a_fd2_socket_delayed_handshake_failure(self):
        """C06a: fd 2 is the socket, delayed mode, -v, junk after STARTTLS:
        the 220s, then TLS records only, no log text."""
        c, pl = self.starttls_go('-v', fd2_socket=True)
        self.go()
        poll_until(engine_switched(c), 'the engine to start the handshake')
        c.sock.sendall(b'this is not TLS\r\n')
        rest = pl.read_to_eof()
        self.no_log_text(pl.raw)
        self.assertIsNone(B.tls_records(rest), rest[:80])
        c.wait()

    def echo(self, transport):
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')), transport=transport)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'ping\r\n')
        self.assertEqual(cl.readline(), b'echo:ping\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        self.assertTrue(cl.close_notify)
        t = time.monotonic()
        cl.drain_raw()
        self.assertLess(time.monotonic() - t, 1.0, 'then the end of the stream (a pipe is closed: no shutdown)')
        c.sock.close()
        fields, log = self.finish_any_remote(c, 7)
        self.assertEqual(fields['proto'], 'TLSv1.3', log)

    def finish_any_remote(self, c, status):
        """finish() for a transport with no addresses: remote is '-'."""
        rc = c.wait()
        log = c.log()
        self.assertEqual(rc, status, log)
        done = B.DONE_RE.findall(log)
        self.assertEqual(len(done), 1, log)
        fields = B.parse_fields(done[0])
        self.assertEqual(fields['remote'], '-', log)
        self.assertNotIn('reason', fields, log)
        return fields, log

    def test_b_two_pipes(self):
        """C06b: fds 0 and 1 are two pipes: a full session (read/write
        transport, no shutdown on a pipe)."""
        self.echo('pipes')

    def test_c_socketpair(self):
        """C06c: fds 0 and 1 are one AF_UNIX socket: a full session."""
        self.echo('socketpair')

    def test_d_fd2_closed(self):
        """C06d: started with fd 2 closed: 0-2 are made valid first, so fd 2
        is /dev/null in every process, never a key, log or channel."""
        c = self.start(self.argv('-n', '-T', '5', app=self.app('ucspitls.py', 'Y')), close_fd2=True)
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        engine, app = helpers(c)
        for pid in (c.proc.pid, engine):
            self.assertEqual(os.readlink('/proc/%d/fd/2' % pid), '/dev/null', 'fd 2 of %d' % pid)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 NOOP\r\n')
        c.close()
        self.assertEqual(c.wait(), 0)
        self.assertEqual(self.app_state()['fds']['2']['target'], '/dev/null')


# ---------------------------------------------------------------- C07

class C07(Case):

    def test_c_trickled_clienthello(self):
        """C07c: a ClientHello one byte every 0.25 s: closed when -T 2
        expires from the start, trickling does not extend it; logged with
        its phase."""
        c = self.start(self.argv('-T', '2', app=self.app('immediate.sh')))
        hello = BioClient(c.sock, client_context()).client_hello()
        t0 = time.monotonic()
        sent = 0
        try:
            for b in hello:
                c.sock.sendall(bytes([b]))
                sent += 1
                if B.proc_state(c.proc.pid) == 'Z' or c.proc.poll() is not None:
                    break
                time.sleep(0.25)  # the trickle is the input under test
                if time.monotonic() - t0 > 5:
                    break
        except OSError:
            pass
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertLess(c.elapsed, 3.0, 'one deadline for the whole handshake')
        self.assertGreaterEqual(c.elapsed, 1.9)
        self.assertRegex(fields.get('reason', ''), 'handshake timeout', log)
        self.assertFalse(self.ran())

    def test_d_idle_after_handshake_not_killed(self):
        """C07d: idle for longer than -T after a full handshake: not ended
        by ucspi-tlsd (no -t)."""
        c = self.start(self.argv('-T', '1', app=self.app('immediate.sh')))
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        time.sleep(1.5)  # the idle period under test
        self.assertIsNone(c.proc.poll(), 'still running')
        cl.send(b'late\r\n')
        self.assertEqual(cl.readline(), b'echo:late\r\n')
        c.close()
        self.finish(c, 7)


# ---------------------------------------------------------------- C08

def sslv2_hello():
    """An SSLv2-format ClientHello (2-byte header, msg type 1)."""
    body = b'\x01\x00\x02' + b'\x00\x03' + b'\x00\x00' + b'\x00\x10' + b'\x01\x00\x80' + os.urandom(16)
    return bytes([0x80 | (len(body) >> 8), len(body) & 0xff]) + body


class C08(Case):

    def refused(self, send, ctx=None):
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')))
        if ctx is not None:
            cl = BioClient(c.sock, ctx)
            with self.assertRaises((ssl.SSLError, OSError)):
                cl.handshake()
            data = bytes(cl.raw)
        else:
            c.sock.sendall(send)
            data = Plain(c.sock).read_to_eof()
        t = time.monotonic()
        c.close()
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertLess(time.monotonic() - t, 1.0)
        self.assertTrue(fields.get('reason'), log)
        self.assertFalse(self.ran(), 'the application never starts')
        self.assertNotIn(b'echo', data)
        self.assert_nothing_left(c)
        return fields, data

    def test_silent_client_closes(self):
        """C08: a STARTTLS client on an immediate-TLS port (-n forgotten)
        waits for a greeting, then gives up and closes: the reason says -n."""
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')))
        c.sock.shutdown(socket.SHUT_WR)
        self.assertNotIn(b'220', Plain(c.sock).read_to_eof(), 'at most an alert, never a greeting')
        c.close()
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertIn('a STARTTLS port needs -n', fields.get('reason', ''), log)

    def test_http_get(self):
        """C08: 'GET / HTTP/1.0' on the TLS port: refused, 111, a reason."""
        fields, data = self.refused(b'GET / HTTP/1.0\r\n\r\n')
        self.assertIsNone(B.tls_records(data))

    def test_sslv2_hello(self):
        """C08: an SSLv2-style hello: refused, 111, a reason."""
        self.refused(sslv2_hello())

    def test_corrupted_length(self):
        """C08: a ClientHello whose handshake length is wrong: an alert, 111."""
        hello = BioClient(socket.socket(), client_context()).client_hello()
        fields, data = self.refused(hello[:6] + b'\x00\x00\x10' + hello[9:])
        self.assertTrue(data.startswith(b'\x15'), 'an alert: %r' % data[:8])

    def test_tls10_client(self):
        """C08: a TLS 1.0-only client: refused with an alert named in the log."""
        ctx = client_context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1, ciphers='DEFAULT:@SECLEVEL=0')
        fields, data = self.refused(None, ctx)
        self.assertRegex(fields['reason'], '(?i)version|protocol')

    def test_no_common_cipher(self):
        """C08: a TLS 1.2 client with only CBC suites: no common cipher, 111."""
        ctx = client_context(maximum=TLS12, ciphers='ECDHE-ECDSA-AES128-SHA:AES128-SHA')
        fields, data = self.refused(None, ctx)
        self.assertRegex(fields['reason'], '(?i)cipher|suite')

    def test_fin_after_serverhello(self):
        """C08: FIN right after the server's first flight: 111 within a second."""
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')))
        c.sock.sendall(BioClient(c.sock, client_context()).client_hello())
        self.assertEqual(c.sock.recv(5)[:1], b'\x16')
        c.sock.shutdown(socket.SHUT_WR)
        t = time.monotonic()
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertLess(time.monotonic() - t, 1.0)
        self.assertTrue(fields.get('reason'), log)
        self.assertFalse(self.ran())

    def test_delayed_clienthello_first(self):
        """C08: delayed mode, a ClientHello before the banner: ucspi-tlsd
        stays transparent; mailfront's own reply comes in plaintext."""
        c = self.mailfront('-T', '1')
        c.sock.sendall(BioClient(c.sock, client_context()).client_hello())
        pl = Plain(c.sock)
        self.assertTrue(pl.readline().startswith(b'220 '), 'the banner')
        c.sock.sendall(b'\r\nQUIT\r\n')
        replies = pl.read_to_eof().splitlines()
        self.assertTrue(replies and replies[-1].startswith(b'221 '), replies)
        for line in replies[:-1]:
            self.assertRegex(line, rb'^5\d\d ', 'mailfront answers the bytes itself, in plaintext')
        c.close()
        self.finish(c, 0)



# ---------------------------------------------------------------- C10

class C10(Case):

    def inherit(self, delayed):
        env = self.env(RELAYCLIENT='', KEYFILE=fx('ecdsa.key'), CERTFILE=fx('ecdsa.crt'),
                       TLS_UID='65534', TLS_GID='65534')
        mode = ('-n',) if delayed else ()
        c = self.start(self.argv(*mode, '-T', '5', cert=None, app=['sh', '-c', GRANDCHILD]), env)
        self.assert_inheritance(c.sock, delayed)
        c.close()
        self.finish(c, 0)

    def assert_inheritance(self, sock, delayed):
        """Runs the GRANDCHILD application's session on sock and checks what
        it printed, and that the end came at once."""
        if delayed:
            reader = Plain(sock)
        else:
            reader = BioClient(sock, client_context(), server_hostname='mail.test')
            reader.handshake()
        t = time.monotonic()
        out = reader.read_to_eof().decode()
        self.assertLess(time.monotonic() - t, 1.5, 'EOF within a second of the exit; the sleep holds the fds')
        fds = {}
        for line in out.splitlines():
            parts = line.split(' -> ')
            if len(parts) == 2:
                fds[int(parts[0].split()[-1])] = parts[1]
        fds = {fd: t for fd, t in fds.items() if not t.startswith('/proc/')}  # ls's own directory
        self.assertEqual(sorted(fds), [0, 1, 2, 3, 4, 5] if delayed else [0, 1, 2], out)
        tcp = set()
        for name in ('/proc/net/tcp', '/proc/net/tcp6'):
            with open(name) as f:
                tcp |= {'socket:[%s]' % line.split()[9] for line in f.readlines()[1:]}
        for fd, target in fds.items():
            self.assertNotIn(target, tcp, 'fd %d is a TCP socket' % fd)
            self.assertNotRegex(target, r'\.(key|crt)$', 'fd %d is a key or certificate' % fd)
        env = dict(line.split('=', 1) for line in out.splitlines() if '=' in line and ' -> ' not in line)
        for k in ('PROTO', 'TCPREMOTEIP', 'TCPREMOTEPORT', 'TCPLOCALIP', 'TCPLOCALPORT'):
            self.assertIn(k, env)
        for k in ('KEYFILE', 'CERTFILE', 'TLS_UID', 'TLS_GID'):
            self.assertNotIn(k, env)
        self.assertEqual(env.get('RELAYCLIENT'), '', 'the operator\'s RELAYCLIENT stays')
        self.assertEqual(any(k.startswith('SSL_') for k in env), not delayed)

    def test_immediate(self):
        """C10: immediate mode: fds 0-2 only, no socket, no key; the UCSPI
        variables; none of ours; RELAYCLIENT kept; EOF despite the sleep."""
        self.inherit(delayed=False)

    def test_delayed(self):
        """C10: delayed mode: fds 0-5, the same environment rules."""
        self.inherit(delayed=True)


# ---------------------------------------------------------------- C11

class C11(Case):

    def test_a_c_app_nonblocking_then_blocking_stdio(self):
        """C11a/c: the application sets O_NONBLOCK on fds 0/1 before 'y',
        then uses blocking reads and writes without EAGAIN handling on 4/5:
        they are blocking, and 4 MiB each way arrive intact."""
        c, pl = self.delayed('nonblock', arg=BULK)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        cl.send(pattern(BULK))
        got = b''
        while len(got) < BULK:
            chunk = cl.read()
            self.assertTrue(chunk, 'the stream ended after %d bytes' % len(got))
            got += chunk
        self.assertEqual(got, pattern(BULK))
        c.close()
        self.finish(c, 0)
        st = self.app_state()
        self.assertEqual(st['blocking'], {'4': True, '5': True})
        self.assertEqual((st['read'], st['read_sha256']), (BULK, hashlib.sha256(pattern(BULK)).hexdigest()))

    def test_b_nonblocking_socket_from_the_launcher(self):
        """C11b: the socket arrives with O_NONBLOCK set: 4 MiB each way,
        and the application's own fds are blocking."""
        c = self.start(self.argv('-T', '5', app=self.misbehave('bulk', BULK)), nonblock=True)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(pattern(BULK))
        self.assertEqual(cl.read_to_eof(), pattern(BULK))
        c.close()
        self.finish(c, 0)
        st = self.app_state()
        self.assertEqual(st['blocking'], {'0': True, '1': True})
        self.assertEqual(st['read'], BULK)


# ---------------------------------------------------------------- C12

class C12(Case):

    def test_c_declined_no_spinning(self):
        """C12c: SSLCTLFD closed without a command, plaintext for a second:
        it keeps flowing and the engine uses almost no CPU."""
        c, pl = self.delayed('decline-echo')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        engine, _ = helpers(c)
        before = cpu_seconds(engine)
        for i in range(5):
            c.sock.sendall(b'line %d\r\n' % i)
            self.assertEqual(pl.readline(), b'echo:line %d\r\n' % i)
            time.sleep(0.2)  # the session's pace, during which the CPU is measured
        used = cpu_seconds(engine) - before
        self.assertLess(used, 0.2, 'engine CPU seconds in one idle second of plaintext')
        c.sock.shutdown(socket.SHUT_WR)
        pl.read_to_eof()
        self.finish(c, 0)

    def test_e_second_y_after_tls(self):
        """C12e: a second 'y' after TLS: SSLCTLFD is closed by then (the
        write fails), no second handshake, the session goes on."""
        c, pl = self.delayed('y-again')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 ok\r\n')
        c.close()
        self.finish(c, 0)
        self.assertEqual(self.app_state()['second_y'], 'Broken pipe')

    def test_f_64k_on_the_control_descriptor(self):
        """C12f: 64 KiB on SSLCTLFD: the session is aborted (111) with a
        log line; nothing decrypted reaches the application."""
        c, pl = self.delayed('ctl-flood', arg=64 << 10)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        try:
            cl.handshake()
            cl.send(b'NOOP\r\n')
        except (ssl.SSLError, OSError):
            pass
        c.close()
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertRegex(log, 'second command')
        self.assertEqual(self.app_state()['fd4'], '')

    def test_g_exit_before_anything(self):
        """C12g: the application exits 3 before writing anything: a clean
        end with its status."""
        c = self.start(self.argv('-n', '-T', '5', app=['sh', '-c', 'exit 3']))
        self.assertEqual(Plain(c.sock).read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 3)
        self.assertNotIn('reason', fields, log)
        self.assert_nothing_left(c)


# ---------------------------------------------------------------- C13

class GnuTLSClient:
    """A GnuTLS client through ctypes, for what Python's ssl cannot do:
    client-initiated renegotiation, a client without the secure
    renegotiation extension, KeyUpdate.  Blocking, on a socket's fd."""
    E_AGAIN, E_INTERRUPTED, E_WARNING_ALERT_RECEIVED = -28, -52, -16
    A_NO_RENEGOTIATION = 100

    def __init__(self, sock, priority):
        import ctypes
        self.c = ctypes
        self.g = g = ctypes.CDLL('libgnutls.so.30')
        g.gnutls_strerror.restype = ctypes.c_char_p
        g.gnutls_record_recv.restype = g.gnutls_record_send.restype = ctypes.c_ssize_t
        g.gnutls_record_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        g.gnutls_record_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        self.s, self.cred = ctypes.c_void_p(), ctypes.c_void_p()
        self.sock = sock
        sock.settimeout(None)  # blocking: GnuTLS reads the fd itself
        self.check(g.gnutls_init(ctypes.byref(self.s), 2))  # GNUTLS_CLIENT
        self.check(g.gnutls_priority_set_direct(self.s, priority.encode(), None))
        self.check(g.gnutls_certificate_allocate_credentials(ctypes.byref(self.cred)))
        self.check(g.gnutls_credentials_set(self.s, 1, self.cred))  # GNUTLS_CRD_CERTIFICATE
        g.gnutls_transport_set_int2(self.s, sock.fileno(), sock.fileno())
        g.gnutls_handshake_set_timeout(self.s, 5000)

    def check(self, ret):
        if ret < 0:
            raise AssertionError('GnuTLS: %s' % self.g.gnutls_strerror(ret).decode())
        return ret

    def handshake(self):
        """0, or the GnuTLS error code when not fatal (a warning alert)."""
        while True:
            ret = self.g.gnutls_handshake(self.s)
            if ret not in (self.E_AGAIN, self.E_INTERRUPTED):
                break
        if ret < 0 and self.g.gnutls_error_is_fatal(ret):
            self.check(ret)
        return ret

    def alert(self):
        return self.g.gnutls_alert_get(self.s)

    def key_update(self):
        self.check(self.g.gnutls_session_key_update(self.s, 1))  # GNUTLS_KU_PEER

    def send(self, data):
        self.check(self.g.gnutls_record_send(self.s, data, len(data)))

    def readline(self):
        buf = self.c.create_string_buffer(4096)
        line = b''
        while not line.endswith(b'\n'):
            n = self.g.gnutls_record_recv(self.s, buf, 1)
            if n in (self.E_AGAIN, self.E_INTERRUPTED):
                continue
            if n <= 0:
                self.check(n)
                break
            line += buf.raw[:n]
        return line

    def close(self):
        self.g.gnutls_deinit(self.s)
        self.g.gnutls_certificate_free_credentials(self.cred)


class C13(Case):

    def session(self, priority):
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')))
        cl = GnuTLSClient(c.sock, priority)
        self.addCleanup(cl.close)
        self.assertEqual(cl.handshake(), 0)
        engine, _ = helpers(c)
        return c, cl, engine, cpu_seconds(engine)

    def goes_on(self, c, cl):
        cl.send(b'after\r\n')
        self.assertEqual(cl.readline(), b'echo:after\r\n', 'the session goes on')
        c.close()
        fields, log = self.finish(c, 7)
        self.assertNotIn('reason', fields, log)

    def renegotiate(self, priority):
        """50 attempts, in sessions of 15: the GnuTLS 3.7.9 client library
        itself fails its 17th aborted renegotiation in one session (an
        internal error on the client's side; the server is fine)."""
        cpu = 0.0
        for n in (15, 15, 15, 5):
            c, cl, engine, cpu0 = self.session(priority)
            for _ in range(n):
                ret = cl.handshake()
                self.assertEqual((ret, cl.alert()), (cl.E_WARNING_ALERT_RECEIVED, cl.A_NO_RENEGOTIATION),
                                 'refused with a no_renegotiation warning')
            cpu += cpu_seconds(engine) - cpu0
            self.goes_on(c, cl)
            self.assertNotIn('signing request', c.log())
        self.assertLess(cpu, 1.0, 'engine CPU seconds for 50 attempts')

    def test_a_renegotiation_50_times(self):
        """C13a: a TLS 1.2 client asks to renegotiate 50 times: each refused
        with a warning, never performed, the session goes on, bounded CPU."""
        self.renegotiate('NORMAL:-VERS-ALL:+VERS-TLS1.2')

    def test_b_legacy_client_without_secure_renegotiation(self):
        """C13b: a client without the secure renegotiation extension
        connects, and its renegotiation attempts are refused the same way."""
        self.renegotiate('NORMAL:-VERS-ALL:+VERS-TLS1.2:%DISABLE_SAFE_RENEGOTIATION')

    def test_c_keyupdate(self):
        """C13c: 8 KeyUpdates in a row (each asking for the server's) are
        handled and the session goes on."""
        c, cl, engine, cpu0 = self.session('NORMAL:-VERS-ALL:+VERS-TLS1.3')
        for _ in range(8):
            cl.key_update()
        self.goes_on(c, cl)

    def test_c_keyupdate_flood(self):
        """C13c: 50 KeyUpdates at once: GnuTLS allows 8 a second, then the
        session ends at once with the reason logged; bounded CPU."""
        c, cl, engine, cpu0 = self.session('NORMAL:-VERS-ALL:+VERS-TLS1.3')
        for _ in range(50):
            cl.key_update()
        t = time.monotonic()
        c.wait()
        self.assertLess(time.monotonic() - t, 1.0, 'ended at once')
        fields, log = self.finish(c, c.rc)
        self.assertRegex(fields.get('reason', ''), 'Too many handshake packets', log)
        self.assert_nothing_left(c)

if __name__ == '__main__':
    B.main(sys.modules[__name__])
