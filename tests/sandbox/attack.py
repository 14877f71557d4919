#!/usr/bin/env python3
"""Attacks on the confinement that once succeeded: each test here failed
before its fix (a forbidden system call that killed a filtered process, or
a hang).

Runs the real ucspi-tlsd on loopback connections with the harness of
tests/integration/behaviour.py, like jail.py.
  - GnuTLS's own environment variables: SSLKEYLOGFILE made the engine open
    a file in its jail, GNUTLS_DEBUG_LEVEL made it write on fd 2; both
    killed it with SIGSYS.  GNUTLS_NO_IMPLICIT_INIT left GnuTLS
    uninitialised.
  - An inherited environment entry with no '=' (execve allows it) made the
    launcher spin for ever while it removed SSL_* variables.
  - An inherited SIGCHLD disposition of SIG_IGN lost the children's exit
    statuses.
  - A FIFO given as the client CA or CRL file blocked the engine (or, with
    -e, the parent) for ever.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import behaviour as B  # noqa: E402

# execve with an environment Python's own exec functions cannot make: an
# entry with no '='.  argv[1:] is the command.
RAW_EXEC = r'''
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
def array(items):
    a = (ctypes.c_char_p * (len(items) + 1))(*items)
    return a
env = [b'PATH=/usr/bin:/bin', b'SSL_CLIENT_S_DN', b'SSL_CLIENT_VERIFY=SUCCESS', b'SSL_CLIENT_S_DN_CN']
libc.execve(sys.argv[1].encode(), array([a.encode() for a in sys.argv[1:]]), array(env))
sys.exit('execve: errno %d' % ctypes.get_errno())
'''


class Attack(B.Base):

    def immediate_session(self, argv, env, cert='ecdsa'):
        """One immediate-mode session that must work: handshake, a line
        echoed, exit 7, no reason in the done line.  Returns the log."""
        c = self.start(argv, env)
        cl = B.BioClient(c.sock, B.client_context(), server_hostname='mail.test')
        self.expect(cl.handshake, 'handshake')
        cl.send(b'hi\r\n')
        self.assertEqual(self.expect(cl.readline, 'echo'), b'echo:hi\r\n')
        c.close()
        fields, log = self.finish(c, 7)
        self.assertNotIn('reason', fields, log)
        return log

    def test_keylog_file_variable_ignored(self):
        """SSLKEYLOGFILE would have GnuTLS open a file in the jail to write
        the session's secrets: the engine makes no such call, and no secret
        reaches a file."""
        keylog = os.path.join(self.out, 'keylog')
        self.immediate_session(self.argv('-T', '5', app=self.app('immediate.sh')), self.env(SSLKEYLOGFILE=keylog))
        self.assertFalse(os.path.exists(keylog), 'session secrets written to %s' % keylog)

    def test_gnutls_debug_variable_goes_to_the_log(self):
        """GNUTLS_DEBUG_LEVEL: GnuTLS's debug lines, in the engine too, go
        through ucspi-tlsd's log at -v, never straight to fd 2, and not so
        many of the engine's that the parent ends the session."""
        log = self.immediate_session(self.argv('-v', '-T', '5', app=self.app('immediate.sh')),
                                     self.env(GNUTLS_DEBUG_LEVEL='4'))
        self.assertRegex(log, r'ucspi-tlsd\[\d+\]: gnutls: ', 'GnuTLS lines through our log')
        # the engine's, within the parent's limit on its lines
        self.assertRegex(log, r'gnutls: HSK\[', "the engine's handshake lines")

    def test_gnutls_without_implicit_init(self):
        """GNUTLS_NO_IMPLICIT_INIT: GnuTLS was never initialised, and every
        session failed with a library error named after the certificate
        file."""
        self.immediate_session(self.argv('-T', '5', app=self.app('immediate.sh')),
                               self.env(GNUTLS_NO_IMPLICIT_INIT='1'))

    def fifo(self):
        path = os.path.join(self.out, 'ca.fifo')
        os.mkfifo(path)
        return path

    def assert_refused_at_once(self, argv, pattern):
        c = self.start(argv)
        self.assertEqual(c.wait(B.FAST_FAIL), B.EXIT_TEMP, c.log())
        self.assertRegex(c.log(), pattern)
        self.assertFalse(self.ran(), 'the application must not start')

    def test_client_ca_file_a_fifo(self):
        """-a FIFO (delayed mode): the engine blocked for ever opening it,
        the parent waiting with no deadline yet."""
        fifo = self.fifo()
        self.assert_refused_at_once(self.argv('-n', '-T', '2', '-a', fifo, app=self.app('ucspitls.py', 'Y')),
                                    r'-a %s: not a regular file' % re.escape(fifo))

    def test_crl_file_a_fifo(self):
        fifo = self.fifo()
        argv = self.argv('-n', '-T', '2', '-a', B.fx('ecdsa.crt'), '-C', fifo, app=self.app('ucspitls.py', 'Y'))
        self.assert_refused_at_once(argv, r'-C %s: not a regular file' % re.escape(fifo))

    def test_client_ca_file_a_fifo_with_tickets(self):
        """-A FIFO -e -s: the parent itself blocked opening it, before it
        forked (the ticket key is bound to the CA file's contents)."""
        fifo, key = self.fifo(), os.path.join(self.out, 'ticket.key')
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as f:
            f.write(os.urandom(64))
        argv = self.argv('-T', '2', '-A', fifo, '-e', '-s', key, app=self.app('immediate.sh'))
        self.assert_refused_at_once(argv, r'-A %s: not a regular file' % re.escape(fifo))

    def test_environment_entry_without_equals(self):
        """An entry 'SSL_CLIENT_S_DN' with no '=': unsetenv cannot remove
        it (the launcher looped on it for ever); no SSL_CLIENT_* variable
        of the caller reaches the application."""
        argv = [sys.executable, '-c', RAW_EXEC] + self.argv('-T', '5', app=self.app('immediate.sh'))
        self.immediate_session(argv, self.env())
        with open(os.path.join(self.out, 'env'), 'rb') as f:
            entries = [e for e in f.read().split(b'\0') if e]
        self.assertEqual([e for e in entries if e.startswith(b'SSL_CLIENT')], [], entries)
        self.assertIn(b'SSL_PROTOCOL=TLSv1.3', entries)

    def test_children_reaped_with_sigchld_ignored(self):
        """Started with SIGCHLD ignored (inherited across execve, as a
        wrapper may leave it): the kernel reaped the children itself and
        their statuses were lost (0 for an application that exits 7)."""
        ignore = 'import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])'
        argv = [sys.executable, '-c', ignore] + self.argv('-T', '5', app=self.app('immediate.sh'))
        self.immediate_session(argv, self.env())


if __name__ == '__main__':
    B.main(sys.modules[__name__])
