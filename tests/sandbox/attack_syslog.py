#!/usr/bin/env python3
"""The parent logs to syslog under its seccomp policy, which kills it on
socket() or connect(): the syslog daemon absent, restarted in the middle of
a session, or listening on a stream socket must neither kill nor stall it
(glibc's syslog(3) reconnects after a failed send, with both calls).

Each test runs the real ucspi-tlsd as inetd does (the socket on fds 0, 1
and 2, so that it logs to syslog) with -v, in a private mount namespace
whose /dev has a /dev/log of the test's own (the machine's is untouched),
with the harness of tests/integration/behaviour.py.
"""
import os
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import behaviour as B  # noqa: E402

LOG = '/dev/log'


def setUpModule():
    """A private /dev: the real null, zero, random and urandom, and room
    for the test's own log socket."""
    dev = os.path.join(B.W.base, 'dev')
    os.mkdir(dev, 0o755)
    for name in ('null', 'zero', 'random', 'urandom'):
        open(os.path.join(dev, name), 'w').close()
        subprocess.run(['mount', '--bind', '/dev/' + name, os.path.join(dev, name)], check=True)
    subprocess.run(['mount', '--rbind', dev, '/dev'], check=True)


class Syslogd:
    """A syslog daemon on /dev/log, datagram or stream.  lines(), once the
    logging processes have exited, is all it received: a datagram is queued
    when send returns, and a stream reader ends at the writer's close."""

    def __init__(self, kind):
        if os.path.lexists(LOG):
            os.unlink(LOG)
        self.sock = socket.socket(socket.AF_UNIX, kind)
        self.sock.bind(LOG)
        os.chmod(LOG, 0o666)
        self.kind, self.data, self.peers, self.readers = kind, [], [], []
        if kind == socket.SOCK_STREAM:
            self.sock.listen(8)
            threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                peer, _ = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer)
            t = threading.Thread(target=self.read, args=(peer,), daemon=True)
            self.readers.append(t)
            t.start()

    def read(self, peer):
        while True:
            try:
                data = peer.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.data.append(data)

    def lines(self):
        if self.kind == socket.SOCK_STREAM:
            for t in self.readers:
                t.join(B.FAST_FAIL)
            return b''.join(self.data).split(b'\0')
        while True:
            try:
                self.data.append(self.sock.recv(65536, socket.MSG_DONTWAIT))
            except BlockingIOError:
                return self.data

    def stop(self):
        """As a daemon that exits: its sockets closed, /dev/log gone."""
        for peer in self.peers:
            peer.shutdown(socket.SHUT_RDWR)
            peer.close()
        self.sock.close()
        os.unlink(LOG)


class ParentSyslog(B.Base):

    def tearDown(self):
        super().tearDown()
        for d in getattr(self, 'daemons', []):
            if d.sock.fileno() >= 0:
                d.stop()

    def daemon(self, kind):
        d = Syslogd(kind)
        self.daemons = getattr(self, 'daemons', []) + [d]
        return d

    def session(self, between=None):
        """A delayed-mode session with -v, inetd style; between() runs after
        the 220, before STARTTLS (the parent has logged nothing yet, and
        will log the signature and the done line)."""
        c = self.start(self.argv('-n', '-v', '-T', '5', app=self.app('ucspitls.py', 'Y')), fd2_socket=True)
        pl = B.Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        if between:
            between()
        cl = B.BioClient(c.sock, B.client_context(), server_hostname='mail.test', initial=pl.buf)
        self.expect(cl.handshake, 'handshake')
        cl.send(b'EHLO x\r\n')
        self.assertEqual(self.expect(cl.readline, 'EHLO reply'), b'250 EHLO x\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        self.assertEqual(c.wait(), 0, 'the parent exited badly (SIGSYS is 159, -31 here)')

    def assert_done_logged(self, d):
        self.assertTrue(any(b'ucspi-tlsd[' in l and b' done remote=' in l for l in d.lines()), d.lines())

    def test_datagram(self):
        d = self.daemon(socket.SOCK_DGRAM)
        self.session()
        self.assert_done_logged(d)

    def test_stream(self):
        """A stream /dev/log (syslog-ng's unix-stream): lines end with NUL."""
        d = self.daemon(socket.SOCK_STREAM)
        self.session()
        self.assert_done_logged(d)

    def test_absent(self):
        if os.path.lexists(LOG):
            os.unlink(LOG)
        self.session()

    def test_datagram_daemon_restarted(self):
        first = self.daemon(socket.SOCK_DGRAM)
        self.session(lambda: (first.stop(), self.daemon(socket.SOCK_DGRAM)))

    def test_stream_daemon_restarted(self):
        first = self.daemon(socket.SOCK_STREAM)
        self.session(lambda: (first.stop(), self.daemon(socket.SOCK_STREAM)))


if __name__ == '__main__':
    if os.geteuid() == 0 and not os.environ.get('ATTACK_SYSLOG_NS'):
        os.environ['ATTACK_SYSLOG_NS'] = '1'
        try:
            os.execvp('unshare', ['unshare', '--mount', '--propagation', 'private', sys.executable] + sys.argv)
        except OSError:
            print('SKIP: no unshare')
            sys.exit(77)
    B.main(sys.modules[__name__])
