#!/usr/bin/env python3
"""Soak test: many sessions through ucspi-tlsd under the real xinetd, 8 at a
time, with mailfront (queuedir backend: one file per accepted message) as
the application.

Each session picks, from its number: immediate (implicit TLS) or delayed
(STARTTLS) mode, TLS 1.2 or 1.3, and one ending: a clean QUIT, a whole
transaction in one write then a half-close (with or without close_notify),
a reset in the middle of DATA, a failed handshake, or a handshake timeout.
Afterwards: xinetd has no child left, no zombie, no process of ours, the
same descriptors as before; one done line per session; and every message
the client saw accepted is in the queue exactly once, and no other.

Then two checks that need a super-server (C07e, C03): 60 silent clients
against a service with instances = 50 and -T 1, then a real swaks --tls
client, which must be served once the deadline frees the slots; and
SOAK_SWAKS swaks --tls --pipeline sessions in a row, each accepted once.

xinetd's own rate limit (cps, 50 a second and then 10 s off in the shipped
services) would refuse a soak; the services here set cps = 10000 1 and
per_source = UNLIMITED.  With those raised, xinetd is the super-server
(README).

Environment: SOAK_SESSIONS (default 600; make soak: 2000), SOAK_SWAKS
(default 20; make soak: 100), SOAK_PARALLEL (8), and behaviour.py's.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import behaviour as B
import cases as C

SESSIONS = int(os.environ.get('SOAK_SESSIONS', '600'))
SWAKS = int(os.environ.get('SOAK_SWAKS', '20'))
PARALLEL = int(os.environ.get('SOAK_PARALLEL', '8'))
MAILFRONT = C.MAILFRONT
ENDINGS = ('clean', 'clean', 'clean', 'pipelined', 'pipelined_notify', 'reset', 'reset',
           'handshake_failure', 'timeout', 'clean')


class Xinetd:
    """The real xinetd with our services on 127.0.0.1, logging each
    session's stderr to one file."""

    def __init__(self, base):
        self.dir = os.path.join(base, 'xinetd')
        os.makedirs(self.dir)
        self.session_log = os.path.join(self.dir, 'session.log')
        open(self.session_log, 'w').close()
        self.wrapper = os.path.join(self.dir, 'ucspi-tlsd')
        with open(self.wrapper, 'w') as f:
            f.write("#!/bin/sh\n# fd 2 is the socket (xinetd): log to a file\nexec 2>>'%s'\nexec '%s' \"$@\"\n"
                    % (self.session_log, B.BIN))
        os.chmod(self.wrapper, 0o755)
        self.services, self.proc = [], None

    def service(self, name, args, env=(), instances=50):
        port = free_port()
        self.services.append('''service %s
{
	type		= UNLISTED
	socket_type	= stream
	protocol	= tcp
	wait		= no
	user		= root
	bind		= 127.0.0.1
	port		= %d
	server		= %s
	server_args	= %s
	env		= %s
	instances	= %d
	per_source	= UNLIMITED
	cps		= 10000 1
}
''' % (name, port, self.wrapper, ' '.join(args), ' '.join(env) or 'SOAK=1', instances))
        return port

    def start(self):
        conf = os.path.join(self.dir, 'xinetd.conf')
        with open(conf, 'w') as f:
            f.write('defaults\n{\n\tlog_type\t= FILE %s\n}\n\n' % os.path.join(self.dir, 'service.log'))
            f.write('\n'.join(self.services))
        self.proc = subprocess.Popen(['xinetd', '-dontfork', '-f', conf, '-filelog', os.path.join(self.dir, 'xinetd.log'),
                                      '-pidfile', os.path.join(self.dir, 'pid')],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ports = [int(s.split('port\t\t= ')[1].split()[0]) for s in self.services]
        C.poll_until(lambda: all(listening(p) for p in ports), 'xinetd to listen', timeout=10)

    def children(self):
        try:
            return B.children(self.proc.pid)
        except OSError:
            return []

    def fds(self):
        return sorted(os.listdir('/proc/%d/fd' % self.proc.pid), key=int)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            for pid in self.children():
                os.kill(pid, signal.SIGKILL)
            self.proc.terminate()
            self.proc.wait(10)

    def done_lines(self):
        with open(self.session_log, errors='replace') as f:
            return [ln for ln in f if B.DONE_RE.match(ln)]


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """From /proc/net/tcp: a probe connection would start a session."""
    with open('/proc/net/tcp') as f:
        return any(int(line.split()[1].split(':')[1], 16) == port and line.split()[3] == '0A'
                   for line in f.readlines()[1:])


class Session:
    """One client session; .accepted says whether the client saw the 250
    for its message, .token names the message."""

    def __init__(self, i, ports):
        self.i = i
        self.delayed = i % 2 == 1
        self.maximum = C.TLS13 if (i // 2) % 2 else C.TLS12
        self.ending = ENDINGS[(i // 4) % len(ENDINGS)]
        self.port = ports['delayed' if self.delayed else 'immediate']
        self.token = 'soak%06d%s' % (i, os.urandom(4).hex())
        self.accepted = False
        self.error = None

    def run(self):
        try:
            self.sock = socket.create_connection(('127.0.0.1', self.port), timeout=15)
            getattr(self, self.ending)()
        except Exception as e:  # noqa: BLE001
            self.error = '%s/%s/%s: %r' % ('delayed' if self.delayed else 'immediate', self.maximum.name,
                                           self.ending, e)
        finally:
            self.sock.close()

    def tls(self):
        """Up to TLS, banner read (the mailfront banner comes first in
        delayed mode, after the handshake in immediate mode)."""
        pl = B.Plain(self.sock)
        if self.delayed:
            assert pl.readline().startswith(b'220 ')
            self.sock.sendall(b'EHLO soak.example.org\r\n')
            assert b'250-STARTTLS\r\n' in C.reply(pl.readline)
            self.sock.sendall(b'STARTTLS\r\n')
            assert pl.readline().startswith(b'220 ')
        cl = B.BioClient(self.sock, B.client_context(maximum=self.maximum), server_hostname='mail.example.org')
        cl.handshake()
        if not self.delayed:
            assert cl.readline().startswith(b'220 ')
        return cl

    def message(self):
        return C.TRANSACTION % self.token.encode()

    def clean(self):
        cl = self.tls()
        cl.send(b'EHLO soak.example.org\r\n')
        C.reply(cl.readline)
        for line in self.message().split(b'\r\n')[:3]:
            cl.send(line + b'\r\n')
            assert C.reply(cl.readline)[0][:1] in (b'2', b'3')
        cl.send(b'Subject: %s\r\n\r\nbody\r\n.\r\n' % self.token.encode())
        self.accepted = cl.readline().startswith(b'250 ')
        cl.send(b'QUIT\r\n')
        assert cl.readline().startswith(b'221 ')
        try:
            cl.obj.unwrap()
        except ssl.SSLError:
            pass
        cl._flush()

    def pipelined(self, notify=False):
        cl = self.tls()
        cl.send(b'EHLO soak.example.org\r\n' + self.message())
        rest = B.half_close(cl, self.sock, notify)
        self.accepted = b'\r\n250 2.6.0 Message accepted.\r\n' in rest
        assert rest.endswith(b'221 2.0.0 Good bye.\r\n'), rest[-80:]

    def pipelined_notify(self):
        self.pipelined(notify=True)

    def reset(self):
        cl = self.tls()
        C.smtp_to_data(_Banner(cl))
        cl.send(b'Subject: %s\r\n\r\n' % self.token.encode() + b'x' * 70000)
        C.reset(self.sock)

    def starttls_without_ehlo(self):
        if self.delayed:
            pl = B.Plain(self.sock)
            assert pl.readline().startswith(b'220 ')
            self.sock.sendall(b'STARTTLS\r\n')
            assert pl.readline().startswith(b'220 ')

    def handshake_failure(self):
        self.starttls_without_ehlo()
        self.sock.sendall(b'EHLO this is not TLS\r\n')
        self.drain()

    def timeout(self):
        self.starttls_without_ehlo()
        self.drain()

    def drain(self):
        while True:
            try:
                if not self.sock.recv(65536):
                    return
            except ConnectionResetError:
                return


class _Banner:
    """smtp_to_data() reads the banner itself; in soak sessions tls() has."""

    def __init__(self, cl):
        self.cl, self.first = cl, True

    def readline(self):
        if self.first:
            self.first = False
            return b'220 (read)\r\n'
        return self.cl.readline()

    def send(self, data):
        self.cl.send(data)


def run_parallel(items, fn, n):
    lock = threading.Lock()
    todo = list(items)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                item = todo.pop(0)
            fn(item)
    ts = [threading.Thread(target=worker) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


class Soak(C.Case):

    def setUp(self):
        super().setUp()
        for tool in ('xinetd', 'swaks'):
            if not shutil.which(tool):
                self.skipTest(tool + ' not installed')
        self.queue = os.path.join(self.out, 'q')
        for d in ('', 'tmp', 'new'):
            os.makedirs(os.path.join(self.queue, d), exist_ok=True)
            os.chmod(os.path.join(self.queue, d), 0o777)
        self.x = Xinetd(self.out)
        self.addCleanup(self.x.stop)
        env = ('QUEUEDIR=' + self.queue, 'QUEUEDIR_NOSYNC=1')
        common = ['-u', 'nobody', '-J', B.W.jail, '-T', '1', '-c', B.fx('ecdsa.crt'), '-k', B.fx('ecdsa.key')]
        self.ports = {
            'immediate': self.x.service('soak-immediate', common + [MAILFRONT, 'smtp', 'queuedir', 'accept'], env),
            'delayed': self.x.service('soak-delayed', ['-n'] + common + [MAILFRONT, 'smtp', 'queuedir',
                                                                         'starttls-ucspi:accept'], env),
            'slots': self.x.service('soak-slots', common + [MAILFRONT, 'smtp', 'queuedir', 'accept'], env,
                                    instances=50),
        }
        self.x.start()
        self.fds_before = self.x.fds()

    def queued_tokens(self):
        counts = {}
        for name in os.listdir(os.path.join(self.queue, 'new')):
            with open(os.path.join(self.queue, 'new', name), 'rb') as f:
                data = f.read()
            m = re.search(rb'Subject: (\S+)', data)
            tok = m.group(1).decode() if m else name
            counts[tok] = counts.get(tok, 0) + 1
        return counts

    def assert_clean_after(self, sessions_started):
        C.poll_until(lambda: not self.x.children(), 'the sessions under xinetd to end', timeout=15)
        self.assertEqual(self.x.fds(), self.fds_before, 'xinetd\'s descriptors, before and after')
        self.assertEqual([p for p in C.zombies() if p[1] in (self.x.proc.pid, os.getpid())], [], 'zombies')
        self.assertEqual(self.ours(), [], 'processes of ours left')
        C.poll_until(lambda: len(self.x.done_lines()) >= sessions_started, 'one done line per session', 5)
        done = self.x.done_lines()
        self.assertEqual(len(done), sessions_started, 'one done line per session')
        with open(self.x.session_log, errors='replace') as f:
            log = f.read()
        self.assertNotRegex(log, r'killed by signal|Segmentation|core dumped', 'no crash')

    def ours(self):
        """The soak's processes: xinetd gives ucspi-tlsd our QUEUEDIR, and
        its engine and application inherit it (other tests may run
        ucspi-tlsd at the same time: make -j)."""
        found = []
        for name in filter(str.isdigit, os.listdir('/proc')):
            try:
                with open('/proc/%s/environ' % name, 'rb') as f:
                    env = f.read()
                with open('/proc/%s/cmdline' % name, 'rb') as f:
                    cmd = f.read()
            except OSError:
                continue
            if b'QUEUEDIR=' + self.queue.encode() + b'\0' in env + b'\0' and int(name) != self.x.proc.pid:
                found.append((int(name), cmd))
        return found

    def test_soak(self):
        """2000 sessions (SOAK_SESSIONS; 600 in make check), 8 at a time,
        both modes, TLS 1.2 and 1.3, six endings: nothing left, no leak,
        every accepted message once."""
        t0 = time.monotonic()
        sessions = [Session(i, self.ports) for i in range(SESSIONS)]
        run_parallel(sessions, Session.run, PARALLEL)
        took = time.monotonic() - t0
        errors = [s.error for s in sessions if s.error]
        self.assertEqual(errors, [], '%d of %d sessions failed' % (len(errors), len(sessions)))
        self.assert_clean_after(len(sessions))
        queued = self.queued_tokens()
        accepted = {s.token for s in sessions if s.accepted}
        want_accepted = {s.token for s in sessions if s.ending in ('clean', 'pipelined', 'pipelined_notify')}
        self.assertEqual(accepted, want_accepted, 'the client saw the 250 in every completed transaction')
        self.assertEqual(queued, {t: 1 for t in accepted}, 'each accepted message queued exactly once, no other')
        print('\n# %d sessions in %.1f s (%.0f/s), %d messages accepted'
              % (len(sessions), took, len(sessions) / took, len(accepted)))

    def swaks(self, port, token, timeout=20, tls='--tls'):
        return subprocess.run(['swaks', '--server', '127.0.0.1', '--port', str(port), tls, '--pipeline',
                               '--helo', 'client.example.org', '--from', 'a@example.org', '--to', 'b@example.org',
                               '--header', 'Subject: ' + token, '--timeout', str(timeout)],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout + 10)

    def test_swaks_in_a_row(self):
        """C03: swaks --tls --pipeline sessions in a row (SOAK_SWAKS, 20 in
        make check, 100 in make soak): each message accepted exactly once."""
        tokens = ['swaks%04d%s' % (i, os.urandom(4).hex()) for i in range(SWAKS)]
        for tok in tokens:
            p = self.swaks(self.ports['delayed'], tok)
            self.assertEqual(p.returncode, 0, p.stdout.decode(errors='replace')[-2000:])
        self.assert_clean_after(len(tokens))
        self.assertEqual(self.queued_tokens(), {t: 1 for t in tokens})

    def test_slots_freed_by_the_deadline(self):
        """C07e: 60 clients against instances = 50 and -T 1 (immediate
        mode), half silent, half with the start of a ClientHello: the
        deadline frees the slots (xinetd refuses the 10 beyond the limit
        meanwhile) and a real swaks --tlsc client is served."""
        socks = []
        for i in range(60):
            s = socket.create_connection(('127.0.0.1', self.ports['slots']), timeout=15)
            if i % 2:
                s.sendall(b'\x16\x03\x01')
            socks.append(s)
        t = time.monotonic()
        C.poll_until(lambda: len(self.x.children()) == 50, 'xinetd to run 50 sessions (the limit)')
        C.poll_until(lambda: len(self.x.children()) == 0, 'the handshake deadline to free the slots', timeout=4)
        self.assertLess(time.monotonic() - t, 3.0, 'freed by -T 1, not by the application\'s timeout')
        p = self.swaks(self.ports['slots'], 'slots', tls='--tlsc')
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors='replace')[-2000:])
        for s in socks:
            s.close()
        self.assertEqual(self.queued_tokens(), {'slots': 1})


class Inheritance(C.Case):
    """C10 under the super-servers: the case's own sh command as the
    application, RELAYCLIENT= and KEYFILE/CERTFILE in ucspi-tlsd's
    environment."""
    assert_inheritance = C.C10.assert_inheritance
    ENV = ('RELAYCLIENT=', 'KEYFILE=' + '%(key)s', 'CERTFILE=' + '%(crt)s')

    def env_list(self):
        return [e % {'key': B.fx('ecdsa.key'), 'crt': B.fx('ecdsa.crt')} for e in self.ENV]

    def test_xinetd(self):
        """C10 under xinetd (immediate mode)."""
        x = Xinetd(self.out)
        self.addCleanup(x.stop)
        script = os.path.join(self.out, 'grandchild.sh')  # xinetd splits server_args at blanks, no quoting
        with open(script, 'w') as f:
            f.write(C.GRANDCHILD + '\n')
        os.chmod(script, 0o755)
        port = x.service('inherit', ['-u', 'nobody', '-J', B.W.jail, '-T', '5', 'sh', script], self.env_list())
        x.start()
        sock = socket.create_connection(('127.0.0.1', port), timeout=B.IO_TIMEOUT)
        self.assert_inheritance(sock, delayed=False)
        sock.close()
        C.poll_until(lambda: not [p for p in x.children() if B.proc_state(p) != 'Z'], 'the session to end')

    def test_tcpserver(self):
        """C10 under tcpserver (ucspi-tcp), delayed mode."""
        if not shutil.which('tcpserver'):
            self.skipTest('tcpserver not installed')
        port = free_port()
        log = open(os.path.join(self.out, 'tcpserver.log'), 'wb')
        self.addCleanup(log.close)
        p = subprocess.Popen(['tcpserver', '-HRl0', '127.0.0.1', str(port), 'env', *self.env_list(), B.BIN,
                              '-n', '-u', 'nobody', '-J', B.W.jail, '-T', '5', 'sh', '-c', C.GRANDCHILD],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.addCleanup(lambda: (os.killpg(p.pid, signal.SIGKILL), p.wait()))
        C.poll_until(lambda: listening(port), 'tcpserver to listen')
        sock = socket.create_connection(('127.0.0.1', port), timeout=B.IO_TIMEOUT)
        self.assert_inheritance(sock, delayed=True)
        sock.close()


if __name__ == '__main__':
    B.main(sys.modules[__name__])
