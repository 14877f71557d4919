#!/usr/bin/env python3
"""Operator-facing behaviour of ucspi-tlsd: the environment variables of
existing run scripts (ucspi-tcp, s6-networking) and the log (levels,
syslog facility, -h, -V).  The real binary on a loopback connection, with
behaviour.py's harness; run by compat-logging.sh, which gives the syslog
tests a private /dev/log (SYSLOG_SOCKET) in a mount namespace of their own.
"""
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import behaviour as B  # noqa: E402
from behaviour import Base, BioClient, W, client_context, fx  # noqa: E402

# priorities: facility * 8 + severity (syslog.h)
LOG_MAIL, LOG_LOCAL3 = 2, 19
LOG_ERR, LOG_INFO, LOG_DEBUG = 3, 6, 7


class Session(Base):
    """One immediate-mode session with immediate.sh: a line echoed, exit 7."""

    def session(self, *opts, env=None, fd2_socket=False, during=None):
        c = self.start(self.argv('-T', '5', *opts, app=self.app('immediate.sh')),
                       env if env is not None else self.env(), fd2_socket=fd2_socket)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        if during:
            during(c)
        cl.send(b'ping\r\n')
        self.assertEqual(cl.readline(), b'echo:ping\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        return c

    def processes_by_uid(self, c):
        """uid -> pids of ucspi-tlsd's children (engine, application)."""
        found = {}
        for pid in B.children(c.proc.pid):
            found.setdefault(B.proc_uids(pid)[0], []).append(pid)
        return found


# ---------------------------------------------------------------- environment

class Environment(Session):

    def test_tls_uid_and_tls_gid_run_the_engine_and_are_removed(self):
        """TLS_UID/TLS_GID (s6-networking): the engine runs with exactly
        those ids; neither variable reaches the application."""
        seen = {}

        def look(c):
            seen.update(self.processes_by_uid(c))
            engine = seen.get(4242, [])
            self.assertEqual(len(engine), 1, 'one child with uid 4242 (the engine): %s' % seen)
            with open('/proc/%d/status' % engine[0]) as f:
                gids = re.search(r'^Gid:\s+(.*)$', f.read(), re.M).group(1).split()
            self.assertEqual(set(gids), {'4243'}, 'the engine gid')

        c = self.session(env=self.env(TLS_UID='4242', TLS_GID='4243'), during=look)
        self.finish(c, 7)
        env = self.app_env()
        self.assertNotIn('TLS_UID', env)
        self.assertNotIn('TLS_GID', env)

    def test_j_wins_over_tls_uid(self):
        """-j user is used even when TLS_UID/TLS_GID are set."""
        seen = {}
        c = self.session('-j', 'daemon', env=self.env(TLS_UID='4242', TLS_GID='4243'),
                         during=lambda c: seen.update(self.processes_by_uid(c)))
        self.finish(c, 7)
        import pwd
        self.assertIn(pwd.getpwnam('daemon').pw_uid, seen)
        self.assertNotIn(4242, seen)

    def test_U_takes_uid_and_gid_and_removes_them(self):
        """-U (tcpserver -U style): the application runs with UID and GID
        from the environment, and they are not passed on."""
        nobody = W.nobody
        env = self.env(UID=str(nobody.pw_uid), GID=str(nobody.pw_gid))
        argv = [a for a in self.argv('-T', '5', '-U', app=self.app('immediate.sh'))]
        del argv[1:3]  # no -u nobody
        c = self.start(argv, env)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'x\r\n')
        self.assertEqual(cl.readline(), b'echo:x\r\n')
        c.close()
        self.finish(c, 7)
        with open(os.path.join(self.out, 'uid')) as f:
            self.assertEqual(int(f.read()), nobody.pw_uid)
        with open(os.path.join(self.out, 'gid')) as f:
            self.assertEqual(int(f.read()), nobody.pw_gid)
        app = self.app_env()
        self.assertNotIn('UID', app)
        self.assertNotIn('GID', app)

    def test_uid_and_gid_left_alone_without_U(self):
        """Without -U, UID and GID are not ucspi-tlsd's: passed on as they are."""
        c = self.session(env=self.env(UID='1234', GID='5678'))
        self.finish(c, 7)
        app = self.app_env()
        self.assertEqual((app.get('UID'), app.get('GID')), ('1234', '5678'))

    def test_certfile_keyfile_from_environment_removed(self):
        """CERTFILE and KEYFILE (s6-networking, fehcom) serve when -c and -k
        are absent, and are not passed on."""
        argv = self.argv('-T', '5', cert=None, app=self.app('immediate.sh'))
        c = self.start(argv, self.env(CERTFILE=fx('rsa.crt'), KEYFILE=fx('rsa.key')))
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        self.assert_served(cl, 'rsa')
        cl.send(b'x\r\n')
        self.assertEqual(cl.readline(), b'echo:x\r\n')
        c.close()
        self.finish(c, 7)
        app = self.app_env()
        self.assertNotIn('CERTFILE', app)
        self.assertNotIn('KEYFILE', app)

    def test_flags_win_over_certfile_keyfile(self):
        """-c and -k are used even when CERTFILE and KEYFILE name others."""
        c = self.session(env=self.env(CERTFILE=fx('nonexistent.crt'), KEYFILE=fx('nonexistent.key')))
        self.finish(c, 7)

    def test_s6_tcpserver_variables_left_alone(self):
        """s6-tcpserver's variables (PROTO, TCP*, TCPCONNNUM) and
        s6-tcpserver-access's TCPREMOTEHOST reach the application exactly as
        they were, even where they differ from the socket."""
        given = dict(PROTO='TCP', TCPLOCALIP='192.0.2.1', TCPLOCALPORT='465', TCPREMOTEIP='198.51.100.9',
                     TCPREMOTEPORT='40000', TCPCONNNUM='3', TCPREMOTEHOST='client.example.org')
        c = self.session(env=self.env(**given))
        self.finish(c, 7)
        app = self.app_env()
        self.assertEqual({k: app.get(k) for k in given}, given)


# ---------------------------------------------------------------- logging

class Levels(Session):

    def log_lines(self, c):
        return [ln for ln in c.log().splitlines() if ln.startswith('ucspi-tlsd[')]

    def test_default_logs_the_done_line_only(self):
        c = self.session()
        self.finish(c, 7)
        lines = self.log_lines(c)
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r'^ucspi-tlsd\[\d+\]: done ')

    def test_q_logs_nothing_for_a_good_session(self):
        c = self.session('-q')
        self.assertEqual(c.wait(), 7)
        self.assertEqual(self.log_lines(c), [], 'quiet: no line for a session that went well')

    def test_v_logs_the_signature_too(self):
        c = self.session('-v')
        self.finish(c, 7)
        self.assertTrue(any('signed for the engine' in ln for ln in self.log_lines(c)), c.log())

    def test_h_prints_the_synopsis(self):
        p = subprocess.run([B.BIN, '-h'], stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        usage = p.stdout.decode()
        self.assertTrue(usage.startswith('usage: ucspi-tlsd '), usage)
        for flag in ('-c certfile', '-k keyfile', '-u user', '-j user', '-J dir', '-T secs', '-t secs',
                     '-p priority', '-l facility', 'prog'):
            self.assertIn(flag, usage)

    def test_V_prints_the_version(self):
        p = subprocess.run([B.BIN, '-V'], stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        self.assertRegex(p.stdout.decode(), r'^ucspi-tlsd \d+\.\d+\S*\n$')

    def test_l_bad_facility_is_a_usage_error(self):
        p = subprocess.run(self.argv('-l', 'kern', app=self.app('immediate.sh')), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, B.EXIT_USAGE)
        self.assertIn(b'-l wants a syslog facility', p.stderr)


@unittest.skipUnless(os.environ.get('SYSLOG_SOCKET') == '/dev/log', 'needs a private /dev/log (compat-logging.sh)')
class Syslog(Session):
    """fd 2 is the socket (inetd, xinetd): the lines go to /dev/log, here a
    socket of the test's own in a private mount namespace."""

    def setUp(self):
        super().setUp()
        try:
            os.unlink('/dev/log')
        except FileNotFoundError:
            pass
        self.syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.syslog.bind('/dev/log')
        self.syslog.settimeout(B.IO_TIMEOUT)

    def tearDown(self):
        self.syslog.close()
        os.unlink('/dev/log')
        super().tearDown()

    def messages(self):
        """(priority, text) of every message received until the done line."""
        got = []
        while not any(' done ' in text for _, text in got):
            data = self.syslog.recv(65536).decode('utf-8', 'replace')
            m = re.match(r'^<(\d+)>(.*)$', data, re.S)
            self.assertTrue(m, 'an RFC 3164 message: %r' % data)
            got.append((int(m.group(1)), m.group(2)))
        return got

    def done_priority(self, *opts, status=7):
        c = self.session(*opts, fd2_socket=True)
        msgs = self.messages()
        self.assertEqual(c.wait(), status)
        done = [(p, t) for p, t in msgs if ' done ' in t]
        self.assertEqual(len(done), 1, msgs)
        self.assertRegex(done[0][1], r' ucspi-tlsd\[\d+\]: done remote=127\.0\.0\.1:')
        return done[0][0], msgs

    def test_facility_mail_by_default(self):
        prio, _ = self.done_priority()
        self.assertEqual(prio, LOG_MAIL * 8 + LOG_INFO)

    def test_l_sets_the_facility(self):
        prio, _ = self.done_priority('-l', 'local3')
        self.assertEqual(prio, LOG_LOCAL3 * 8 + LOG_INFO)

    def test_l_debug_lines_at_debug_severity(self):
        _, msgs = self.done_priority('-v', '-l', 'local3')
        debug = [p for p, t in msgs if 'signed for the engine' in t]
        self.assertEqual(debug, [LOG_LOCAL3 * 8 + LOG_DEBUG], msgs)

    def test_failed_session_at_error_severity(self):
        """A client that never sends a ClientHello: the done line is an
        error, in words, in the chosen facility."""
        c = self.start(self.argv('-T', '1', '-l', 'local3', app=self.app('immediate.sh')), fd2_socket=True)
        c.sock.shutdown(socket.SHUT_WR)
        msgs = self.messages()
        self.assertEqual(c.wait(), B.EXIT_TEMP)
        done = [(p, t) for p, t in msgs if ' done ' in t]
        self.assertEqual(done[0][0], LOG_LOCAL3 * 8 + LOG_ERR, msgs)
        self.assertRegex(done[0][1], r'reason="[a-z]')


if __name__ == '__main__':
    B.main(sys.modules[__name__])
