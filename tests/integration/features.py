#!/usr/bin/env python3
"""Tests of the TLS features of ucspi-tlsd with real clients (gnutls-cli,
openssl s_client, Python ssl): SNI certificate directory (-d, -x), several
certificates for one name, session tickets across connections (-s, -S, -e),
client certificates (-a, -A, -C), ALPN (-L), OCSP stapling (CERT.ocsp).

The harness is behaviour.py's (fixtures, fake applications, the done line);
here a listening socket hands each accepted connection to a fresh
ucspi-tlsd, so that command-line clients, and two connections in a row,
can be used.  Needs root, openssl, certtool, gnutls-cli and
python3-cryptography (for an expired OCSP response).  Exit codes as
behaviour.py's.
"""
import datetime
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

import behaviour as B

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_TIMEOUT = 20


class FX:
    """The feature fixtures (make-feature-fixtures.sh)."""
    dir = None


def ffx(name):
    return os.path.join(FX.dir, name)


def make_expired_ocsp(cert, out):
    """An OCSP response for cert (good status) whose nextUpdate has passed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    def load(name):
        with open(ffx(name), 'rb') as f:
            return f.read()
    ca = x509.load_pem_x509_certificate(load('ca.crt'))
    ca_key = serialization.load_pem_private_key(load('ca.key'), None)
    crt = x509.load_pem_x509_certificate(load(cert))
    then = datetime.datetime(2020, 1, 1)
    resp = (ocsp.OCSPResponseBuilder()
            .add_response(cert=crt, issuer=ca, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                          this_update=then, next_update=then + datetime.timedelta(days=1),
                          revocation_time=None, revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
            .sign(ca_key, hashes.SHA256()))
    with open(ffx(out), 'wb') as f:
        f.write(resp.public_bytes(serialization.Encoding.DER))


class Served:
    """One connection's ucspi-tlsd, as the listener started it."""

    def __init__(self, proc, logpath, out):
        self.proc, self.logpath, self.out = proc, logpath, out

    def log(self):
        with open(self.logpath, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def done(self):
        m = B.DONE_RE.findall(self.log())
        return B.parse_fields(m[0]) if len(m) == 1 else None

    def env(self):
        path = os.path.join(self.out, 'env')
        if not os.path.exists(path):
            return None
        with open(path, 'rb') as f:
            return dict(item.decode('latin-1').partition('=')[::2] for item in f.read().split(b'\0') if item)

    def signatures(self):
        return len(re.findall(r'signed for the engine', self.log()))


class Listener:
    """127.0.0.1:port; the n-th accepted connection runs argv_for(n, outdir)."""
    connections = 0   # every connection of the run has its own directory

    def __init__(self, test, argv_for, count):
        self.test, self.argv_for = test, argv_for
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(count)
        self.port = self.sock.getsockname()[1]
        self.served = []
        self.thread = threading.Thread(target=self._accept, args=(count,), daemon=True)
        self.thread.start()

    def _accept(self, count):
        self.sock.settimeout(CLIENT_TIMEOUT)
        for n in range(count):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            Listener.connections += 1
            out = os.path.join(self.test.out, 'conn%d' % Listener.connections)
            os.makedirs(out)
            os.chmod(out, 0o1777)
            logpath = os.path.join(out, 'log')
            with open(logpath, 'wb') as log:
                proc = subprocess.Popen(self.argv_for(n, out), stdin=conn.fileno(), stdout=conn.fileno(),
                                        stderr=log, env=self.test.env(), close_fds=True, start_new_session=True)
            conn.close()
            self.served.append(Served(proc, logpath, out))

    def finish(self, count):
        """Waits for every ucspi-tlsd; returns the Served list."""
        self.thread.join(CLIENT_TIMEOUT)
        self.sock.close()
        self.test.assertEqual(len(self.served), count, 'connections served')
        for s in self.served:
            try:
                s.proc.wait(B.EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                self.test.fail('ucspi-tlsd did not exit; log:\n' + s.log())
        return self.served


class Features(B.Base):
    """Runs command-line clients against ucspi-tlsd with the immediate.sh
    application (one line echoed, exit 7)."""

    def tlsd(self, *opts, cert='ecdsa'):
        return lambda n, out: [B.BIN, '-u', 'nobody', '-J', B.W.jail, '-T', '5', *opts,
                               '-c', B.fx(cert + '.crt'), '-k', B.fx(cert + '.key'),
                               os.path.join(B.W.apps, 'immediate.sh'), out]

    def client(self, argv, count=1, server=None, stdin=b'hello\n'):
        """Runs the client (PORT in argv is replaced); returns (output, served)."""
        lst = Listener(self, server, count)
        argv = [a.replace('PORT', str(lst.port)) for a in argv]
        try:
            p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail('%s did not finish' % argv[0])
        served = lst.finish(count)
        return p.stdout.decode('utf-8', 'replace'), served

    def gnutls_cli(self, *args, server=None, count=1, stdin=b'hello\n'):
        return self.client(['gnutls-cli', '--insecure', '--port', 'PORT', *args, '127.0.0.1'],
                           count=count, server=server, stdin=stdin)

    def s_client(self, *args, server=None, stdin=b'hello\n'):
        return self.client(['openssl', 's_client', '-connect', '127.0.0.1:PORT', '-ign_eof', *args],
                           server=server, stdin=stdin)

    def assert_echoed(self, output, served, status=7):
        self.assertIn('echo:hello', output, output)
        for s in served:
            self.assertEqual(s.proc.returncode, status, s.log())


def subject_cn(output):
    """The CN of the server certificate the client saw."""
    m = re.search(r"subject `CN=([^',]*)", output) or re.search(r'^subject=.*CN ?= ?([^,\n]*)', output, re.M)
    return m.group(1) if m else None


# ---------------------------------------------------------------- SNI

class Sni(Features):

    def sni_server(self, *opts):
        return self.tlsd('-d', os.path.join(FX.dir, 'sni'), *opts)

    def test_sni_names_and_cases(self):
        """-d: each name gets its own certificate, whatever the case and a
        trailing dot; *.wild.test covers one label; others get the default."""
        cases = [('a.test', 'a.test'), ('A.TeSt', 'a.test'), ('a.test.', 'a.test'),
                 ('mx.wild.test', '*.wild.test'), ('MX.Wild.Test', '*.wild.test'),
                 ('deep.mx.wild.test', 'mail.test'), ('wild.test', 'mail.test'),
                 ('unknown.test', 'mail.test'), ('mail.test', 'mail.test')]
        for sni, cn in cases:
            with self.subTest(sni=sni):
                out, served = self.gnutls_cli('--sni-hostname', sni, server=self.sni_server())
                self.assertEqual(subject_cn(out), cn, out)
                self.assert_echoed(out, served)
                self.assertEqual(served[0].done()['sni'], sni.lower().rstrip('.'), served[0].log())
                self.assertEqual(served[0].env().get('SSL_TLS_SNI_SERVERNAME'), sni.lower().rstrip('.'))

    def test_sni_openssl_tls12_no_sni(self):
        """openssl s_client, TLS 1.2: SNI chooses; without SNI the default."""
        for args, cn in ((['-servername', 'a.test'], 'a.test'), (['-noservername'], 'mail.test')):
            with self.subTest(args=args):
                out, served = self.s_client('-tls1_2', *args, server=self.sni_server())
                self.assertEqual(subject_cn(out), cn, out)
                self.assert_echoed(out, served)

    def test_sni_tls12_rsa_suite_preference_does_not_win(self):
        """TLS 1.2 with the RSA suites first: a.test still gets a.test's
        (ECDSA) certificate, never the name of another one that would suit
        the suite better (GnuTLS's own choice would)."""
        rsa_first = 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:%SERVER_PRECEDENCE'
        out, served = self.gnutls_cli('--sni-hostname', 'a.test', '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2',
                                      server=self.tlsd('-p', rsa_first, '-d', os.path.join(FX.dir, 'sni'), cert='rsa'))
        self.assertEqual(subject_cn(out), 'a.test', out)
        self.assert_echoed(out, served)

    def test_sni_refuse_unknown(self):
        """-x: an unknown name gets unrecognized_name and no application;
        known names and no SNI are served."""
        out, served = self.gnutls_cli('--sni-hostname', 'unknown.test', server=self.sni_server('-x'))
        self.assertRegex(out, r'(?i)unrecognized.name|server name', out)
        self.assertEqual(served[0].proc.returncode, B.EXIT_TEMP, served[0].log())
        self.assertIsNone(served[0].env(), 'the application did not run')
        self.assertIn('handshake failed', served[0].done().get('reason', ''), served[0].log())
        for args, cn in ((['--sni-hostname', 'A.test'], 'a.test'), (['--disable-sni'], 'mail.test')):
            out, served = self.gnutls_cli(*args, server=self.sni_server('-x'))
            self.assertEqual(subject_cn(out), cn, out)
            self.assert_echoed(out, served)

    def test_sni_path_like_name_is_refused(self):
        """No file name is made from the SNI: a path-like name never reaches
        a certificate of the directory (GnuTLS refuses '/' in SNI; the
        connection ends before any application runs)."""
        for sni in ('../sni/a', 'a.test/../a.test'):
            with self.subTest(sni=sni):
                out, served = self.s_client('-servername', sni, server=self.sni_server())
                self.assertNotEqual(subject_cn(out), 'a.test', out)
                self.assertEqual(served[0].proc.returncode, B.EXIT_TEMP, served[0].log())
                self.assertIsNone(served[0].env(), 'the application did not run')


# ---------------------------------------------------------------- several certificates for one name

class Dual(Features):

    def dual_server(self):
        return self.tlsd('-v', '-d', os.path.join(FX.dir, 'sni'))

    def test_dual_ecdsa_preferred(self):
        """dual.test has ECDSA and RSA: a client that can verify both gets
        ECDSA, in TLS 1.3 and 1.2, with gnutls-cli and openssl."""
        for args in ([], ['--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2']):
            out, served = self.gnutls_cli('--sni-hostname', 'dual.test', *args, server=self.dual_server())
            self.assertRegex(out, r'(?i)ECDSA', out)
            self.assertIn('sni/dual-ec.crt', served[0].log())
            self.assert_echoed(out, served)
        for args in ([], ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256']):
            out, served = self.s_client('-servername', 'dual.test', *args, server=self.dual_server())
            self.assertRegex(out, r'Peer signature type: ECDSA', out)

    def test_dual_rsa_for_clients_without_ecdsa(self):
        """A client whose signature algorithms are RSA only (TLS 1.3 RSA-PSS,
        TLS 1.2 PKCS#1), or that offers only RSA suites in TLS 1.2 (though
        ECDSA signatures), gets the RSA certificate, not a failure."""
        for args in (['-sigalgs', 'rsa_pss_rsae_sha256'], ['-tls1_2', '-sigalgs', 'RSA+SHA256'],
                     ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']):
            with self.subTest(args=args):
                out, served = self.s_client('-servername', 'dual.test', *args, server=self.dual_server())
                self.assertRegex(out, r'Peer signature type: RSA', out)
                self.assertIn('sni/dual-rsa.crt', served[0].log())
                self.assert_echoed(out, served)


    def test_dual_default_without_sni(self):
        """Most MTAs send no SNI: the default certificate (-c, ECDSA) and a
        certificate of -d with its subject (RSA) are a pair too, so an
        RSA-only client without SNI gets the RSA one, not a failure; others
        get the ECDSA default."""
        sni = os.path.join(FX.dir, 'sni')
        server = lambda n, out: [B.BIN, '-u', 'nobody', '-J', B.W.jail, '-T', '5', '-v', '-d', sni,  # noqa: E731
                                 '-c', ffx('sni/dual-ec.crt'), '-k', ffx('sni/dual-ec.key'),
                                 os.path.join(B.W.apps, 'immediate.sh'), out]
        for args, want in ((['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], 'RSA'),
                           (['-sigalgs', 'rsa_pss_rsae_sha256'], 'RSA'), ([], 'ECDSA')):
            with self.subTest(args=args):
                out, served = self.s_client('-noservername', *args, server=server)
                self.assertRegex(out, r'Peer signature type: %s' % want, out)
                self.assert_echoed(out, served)


# ---------------------------------------------------------------- session tickets

class Tickets(Features):

    def ticket_server(self, *opts, keys=('ticket1.key',)):
        """ucspi-tlsd -v (the parent logs each signature); the n-th
        connection uses keys[n] (the last one for the rest)."""
        return lambda n, out: self.tlsd('-v', *opts, *(['-s', ffx(keys[min(n, len(keys) - 1)])] if keys else []))(n, out)

    def assert_resumed(self, first, second, resumed):
        self.assertEqual(first.signatures(), 1, first.log())
        self.assertEqual(first.done()['resumed'], 'no', first.log())
        self.assertEqual(second.done()['resumed'], 'yes' if resumed else 'no', second.log())
        self.assertEqual(second.signatures(), 0 if resumed else 1, second.log())
        self.assertEqual(second.env().get('SSL_SESSION_RESUMED'), 'Resumed' if resumed else 'Initial')

    def gnutls_resume(self, server, *args):
        out, served = self.gnutls_cli('-r', *args, server=server, count=2)
        return out, served[0], served[1]

    def openssl_resume(self, first_server, second_server, *args):
        sess = os.path.join(self.out, 'session.pem')
        out1, (first,) = self.s_client('-sess_out', sess, *args, server=first_server)
        self.assertTrue(os.path.exists(sess), out1)
        out2, (second,) = self.s_client('-sess_in', sess, *args, server=second_server)
        return out1, out2, first, second

    def test_tickets_gnutls_cli_resumes_without_signature(self):
        """-s: gnutls-cli --resume: the second connection, another set of
        processes, resumes (TLS 1.3) and the parent signs nothing for it."""
        out, first, second = self.gnutls_resume(self.ticket_server())
        self.assertIn('This is a resumed session', out, out)
        self.assert_resumed(first, second, True)

    def test_tickets_openssl_resumes(self):
        """-s: openssl s_client -sess_out, then -sess_in: resumed; the
        ticket's lifetime is -S."""
        out1, out2, first, second = self.openssl_resume(self.ticket_server('-S', '120'),
                                                        self.ticket_server('-S', '120'))
        self.assertRegex(out2, r'Reused, TLSv1\.3', out2)
        self.assert_resumed(first, second, True)
        self.assertRegex(B.run_tool('openssl', 'sess_id', '-in', os.path.join(self.out, 'session.pem'),
                                    '-noout', '-text'), r'lifetime hint: 120 ')

    def test_tickets_other_key_no_resumption(self):
        """Two different ticket key files: no resumption across them."""
        out, first, second = self.gnutls_resume(self.ticket_server(keys=('ticket1.key', 'ticket2.key')))
        self.assertNotIn('This is a resumed session', out, out)
        self.assert_resumed(first, second, False)
        out1, out2, first, second = self.openssl_resume(self.ticket_server(keys=('ticket2.key',)),
                                                        self.ticket_server(keys=('ticket1.key',)))
        self.assertNotRegex(out2, r'Reused', out2)
        self.assert_resumed(first, second, False)

    def test_tickets_off_by_default(self):
        """Without -s no ticket is issued: no resumption."""
        out, first, second = self.gnutls_resume(self.ticket_server(keys=()))
        self.assert_resumed(first, second, False)

    def test_tickets_never_tls12(self):
        """-s, TLS 1.2: no ticket (it would carry the master secret)."""
        out1, out2, first, second = self.openssl_resume(self.ticket_server(), self.ticket_server(), '-tls1_2')
        self.assertNotRegex(out1, r'TLS session ticket:', out1)
        self.assert_resumed(first, second, False)

    def test_tickets_off_with_client_certs_unless_e(self):
        """-s with -a (or -A): no tickets, unless -e."""
        ca = ffx('ca.crt')
        out, first, second = self.gnutls_resume(self.ticket_server('-a', ca))
        self.assert_resumed(first, second, False)
        out, first, second = self.gnutls_resume(self.ticket_server('-a', ca, '-e'))
        self.assert_resumed(first, second, True)

    def test_tickets_key_file_checked(self):
        """The master key file: root's, 0600 or stricter, 32 bytes or more;
        else status 111 and a line naming it, before the client gets a byte."""
        bad = {'group-readable': (0o640, 0, 64, 'readable or writable by others'),
               'not-root': (0o600, B.W.nobody.pw_uid, 64, 'not owned by root'),
               'short': (0o600, 0, 16, 'shorter than 32 bytes')}
        for name, (mode, uid, size, why) in bad.items():
            with self.subTest(name=name):
                path = os.path.join(self.out, name)
                with open(path, 'wb') as f:
                    f.write(os.urandom(size))
                os.chmod(path, mode)
                os.chown(path, uid, 0)
                out, (served,) = self.gnutls_cli(server=self.tlsd('-s', path))
                self.assertEqual(served.proc.returncode, B.EXIT_TEMP, served.log())
                self.assertIn('ticket key file %s: %s' % (path, why), served.log())
                self.assertIsNone(served.env())


# ---------------------------------------------------------------- secrets in memory

class Secrets(Features):

    def scan_session(self, opts, secrets, sni):
        """Starts one immediate session, completes the handshake, and
        returns {pid: secrets found} for the parent, the engine and the
        application while the session is up."""
        c = self.start(self.argv('-T', '5', *opts, app=self.app('immediate.sh')))
        deadline = time.monotonic() + B.IO_TIMEOUT
        while len(B.children(c.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # polls for the two forks; orders nothing
        if not B.scannable(c.proc.pid):  # (its leak check also forks a tracer)
            self.skipTest('sanitizer build: its reserved address space is too large to scan')
        kids = B.children(c.proc.pid)
        self.assertEqual(len(kids), 2, 'engine and application: %s' % kids)
        cl = B.BioClient(c.sock, B.client_context(), server_hostname=sni)
        cl.handshake()
        while not os.path.exists(os.path.join(self.out, 'env')) and time.monotonic() < deadline + B.IO_TIMEOUT:
            time.sleep(0.01)  # polls for the application: the handshake is done
        found = {pid: B.scan_memory(pid, secrets) for pid in [c.proc.pid] + kids}
        cl.send(b'hello\n')
        self.assertEqual(cl.readline(), b'echo:hello\n')
        c.close()
        self.finish(c, 7)
        return found, c.proc.pid, kids

    def test_ticket_master_key_never_in_any_process(self):
        """-s: the master key is in no process (the parent wiped it before
        the fork); the engine holds the period's derived key."""
        with open(ffx('ticket1.key'), 'rb') as f:
            master = f.read()
        period = int(time.time()) // 21600
        derived = hmac.new(master, b'ucspi-tlsd session ticket key\0' + period.to_bytes(8, 'big'),
                           hashlib.sha512).digest()
        found, parent, kids = self.scan_session(['-s', ffx('ticket1.key')],
                                                {'master': master, 'master-half': master[:32], 'derived': derived},
                                                'mail.test')
        if int(time.time()) // 21600 != period:
            self.skipTest('the ticket period changed during the test')
        for pid, hits in found.items():
            self.assertFalse(hits & {'master', 'master-half'}, 'master key in process %d' % pid)
        self.assertTrue(any('derived' in found[pid] for pid in kids), 'the scan finds the derived key in the engine')

    def test_directory_keys_wiped_and_never_in_children(self):
        """-d: no key of the directory is in the engine or the application,
        nor in the parent once the handshake is done."""
        secrets = {}
        for name in ('a', 'wild', 'dual-ec', 'dual-rsa'):
            for k, v in B.key_secrets(ffx('sni/%s.key' % name)).items():
                secrets[name + ':' + k] = v
        found, parent, kids = self.scan_session(['-d', ffx('sni')], secrets, 'dual.test')
        for pid, hits in found.items():
            self.assertEqual(hits, set(), 'key material in process %d' % pid)


# ---------------------------------------------------------------- client certificates

CLIENT_VARS = ('SSL_CLIENT_S_DN', 'SSL_CLIENT_S_DN_CN', 'SSL_CLIENT_I_DN', 'SSL_CLIENT_M_SERIAL',
               'SSL_CLIENT_V_END', 'SSL_CLIENT_VERIFY')


class ClientCerts(Features):

    def gnutls_with(self, name, *opts, args=()):
        cert = ['--x509certfile', ffx(name + '.crt'), '--x509keyfile', ffx(name + '.key')] if name else []
        return self.gnutls_cli(*cert, *args, server=self.tlsd(*opts))

    def openssl_with(self, name, *opts, args=()):
        cert = ['-cert', ffx(name + '.crt'), '-key', ffx(name + '.key')] if name else []
        return self.s_client(*cert, *args, server=self.tlsd(*opts))

    def assert_client_vars(self, env):
        serial = B.run_tool('openssl', 'x509', '-in', ffx('client.crt'), '-noout', '-serial').strip().split('=')[1]
        end = B.run_tool('openssl', 'x509', '-in', ffx('client.crt'), '-noout', '-enddate').strip().split('=')[1]
        self.assertEqual(env.get('SSL_CLIENT_S_DN'), 'CN=Test Client', env)
        self.assertEqual(env.get('SSL_CLIENT_S_DN_CN'), 'Test Client', env)
        self.assertEqual(env.get('SSL_CLIENT_I_DN'), 'CN=Test CA', env)
        self.assertEqual(env.get('SSL_CLIENT_M_SERIAL'), serial.upper(), env)
        self.assertEqual(env.get('SSL_CLIENT_V_END'), end, env)
        self.assertEqual(env.get('SSL_CLIENT_VERIFY'), 'SUCCESS', env)

    def assert_no_client_vars(self, env):
        self.assertIsNotNone(env, 'the application ran')
        for k in CLIENT_VARS:
            self.assertNotIn(k, env)

    def test_request_good_certificate(self):
        """-a: a certificate the CA issued gives the SSL_CLIENT_* variables,
        TLS 1.3 (gnutls-cli) and TLS 1.2 (openssl)."""
        out, served = self.gnutls_with('client', '-a', ffx('ca.crt'))
        self.assert_echoed(out, served)
        self.assert_client_vars(served[0].env())
        out, served = self.openssl_with('client', '-a', ffx('ca.crt'), args=['-tls1_2'])
        self.assert_echoed(out, served)
        self.assert_client_vars(served[0].env())

    def test_request_absent_or_bad_certificate(self):
        """-a: no certificate, or one the CA did not issue: the session goes
        on, without any SSL_CLIENT_* variable."""
        out, served = self.gnutls_with(None, '-a', ffx('ca.crt'))
        self.assert_echoed(out, served)
        self.assert_no_client_vars(served[0].env())
        for client in (self.gnutls_with, self.openssl_with):
            out, served = client('rogue', '-a', ffx('ca.crt'))
            self.assert_echoed(out, served)
            self.assert_no_client_vars(served[0].env())
            self.assertIn('client certificate not accepted', served[0].log())

    def test_no_request_no_variables(self):
        """Without -a a client certificate is not asked for: no variables."""
        out, served = self.gnutls_with('client')
        self.assert_echoed(out, served)
        self.assert_no_client_vars(served[0].env())

    def test_require(self):
        """-A: no certificate or a bad one ends the handshake (status 111,
        no application); a good one gives the variables."""
        for name in (None, 'rogue'):
            for client in (self.gnutls_with, self.openssl_with):
                with self.subTest(name=name, client=client.__name__):
                    out, (served,) = client(name, '-A', ffx('ca.crt'))
                    self.assertEqual(served.proc.returncode, B.EXIT_TEMP, served.log())
                    self.assertIsNone(served.env(), 'the application did not run')
                    self.assertIn('handshake failed', served.done().get('reason', ''), served.log())
        out, served = self.gnutls_with('client', '-A', ffx('ca.crt'))
        self.assert_echoed(out, served)
        self.assert_client_vars(served[0].env())

    def test_crl(self):
        """-C: a revoked certificate is refused under -A and gives no
        variables under -a; without -C the same certificate verifies."""
        out, (served,) = self.gnutls_with('revoked', '-A', ffx('ca.crt'), '-C', ffx('crl.pem'))
        self.assertEqual(served.proc.returncode, B.EXIT_TEMP, served.log())
        out, served = self.gnutls_with('revoked', '-a', ffx('ca.crt'), '-C', ffx('crl.pem'))
        self.assert_echoed(out, served)
        self.assert_no_client_vars(served[0].env())
        out, served = self.gnutls_with('revoked', '-a', ffx('ca.crt'))
        self.assertEqual(served[0].env().get('SSL_CLIENT_S_DN'), 'CN=Revoked Client')

    def test_bad_ca_file(self):
        """An unreadable CA or CRL file: status 111, a line naming it."""
        missing = os.path.join(self.out, 'missing.pem')
        for opts, flag in ((['-a', missing], '-a'), (['-A', ffx('ca.crt'), '-C', missing], '-C')):
            out, (served,) = self.gnutls_with('client', *opts)
            self.assertEqual(served.proc.returncode, B.EXIT_TEMP, served.log())
            self.assertIn('%s %s' % (flag, missing), served.log())


    def test_delayed_Y_reply_carries_client_vars(self):
        """-n -a: after STARTTLS the 'Y' reply has the SSL_CLIENT_*
        variables of a verified certificate, and none for a rogue one."""
        for name, verified in (('client', True), ('rogue', False)):
            with self.subTest(name=name):
                self.out = os.path.join(self.out, name)
                os.makedirs(self.out)
                os.chmod(self.out, 0o1777)
                c = self.start(self.argv('-n', '-T', '5', '-a', ffx('ca.crt'), app=self.app('ucspitls.py', 'Y')))
                pl = B.Plain(c.sock)
                self.assertEqual(pl.readline(), b'220 ready\r\n')
                ctx = B.client_context()
                ctx.load_cert_chain(ffx(name + '.crt'), ffx(name + '.key'))
                cl = B.BioClient(c.sock, ctx, server_hostname='mail.test', initial=pl.buf)
                cl.handshake()
                cl.send(b'EHLO client.test\r\n')
                self.assertEqual(cl.readline(), b'250 EHLO client.test\r\n')
                c.close()
                self.finish(c, 0)
                block = self.assert_block(self.step(self.app_state(), 'ctl_done')['block'])
                if verified:
                    self.assert_client_vars(block)
                else:
                    self.assert_no_client_vars(block)
                self.out = os.path.dirname(self.out)

    def test_resumed_session_keeps_verified_client_vars(self):
        """-a -s -e: a session resumed with a ticket still has the client's
        (re-verified) certificate variables, and no signature was made."""
        server = lambda n, out: self.tlsd('-v', '-a', ffx('ca.crt'), '-s', ffx('ticket1.key'), '-e')(n, out)
        out, served = self.gnutls_cli('-r', '--x509certfile', ffx('client.crt'), '--x509keyfile', ffx('client.key'),
                                      server=server, count=2)
        self.assertIn('This is a resumed session', out, out)
        self.assertEqual(served[1].signatures(), 0, served[1].log())
        for s in served:
            self.assert_client_vars(s.env())


# ---------------------------------------------------------------- certificate directory errors

class DirErrors(Features):

    def dir_with(self, files):
        """A directory with files {name: fixture path}."""
        d = os.path.join(self.out, 'certs')
        os.mkdir(d)
        for name, src in files.items():
            shutil.copy(ffx(src), os.path.join(d, name))
        return d

    def test_directory_problems(self):
        """A missing key, a key of another certificate, no NAME.crt, no
        directory: status 111 and a line naming the file, before the
        client gets a byte."""
        missing = os.path.join(self.out, 'nonexistent')
        cases = [({'x.crt': 'sni/a.crt'}, 'key file {d}/x.key: '),
                 ({'x.crt': 'sni/a.crt', 'x.key': 'sni/wild.key'}, 'key file {d}/x.key: the key does not match'),
                 ({'x.pem': 'sni/a.crt'}, '-d {d}: no NAME.crt in it'),
                 (None, '-d %s: ' % missing)]
        for files, why in cases:
            with self.subTest(why=why):
                shutil.rmtree(os.path.join(self.out, 'certs'), ignore_errors=True)
                d = self.dir_with(files) if files is not None else missing
                out, (served,) = self.gnutls_cli(server=self.tlsd('-d', d))
                self.assertEqual(served.proc.returncode, B.EXIT_TEMP, served.log())
                self.assertIn(why.format(d=d), served.log())
                self.assertIsNone(served.env())
                self.assertNotIn('Handshake was completed', out)


# ---------------------------------------------------------------- ALPN

class Alpn(Features):

    def test_alpn_negotiated(self):
        """-L: the server's first protocol the client also offers; it is in
        SSL_ALPN_PROTOCOL."""
        out, served = self.gnutls_cli('--alpn', 'h2', '--alpn', 'imap', server=self.tlsd('-L', 'imap,h2'))
        self.assertIn('Application protocol: imap', out, out)
        self.assertEqual(served[0].env().get('SSL_ALPN_PROTOCOL'), 'imap')
        out, served = self.s_client('-alpn', 'foo,h2', server=self.tlsd('-L', 'imap,h2'))
        self.assertIn('ALPN protocol: h2', out, out)
        self.assertEqual(served[0].env().get('SSL_ALPN_PROTOCOL'), 'h2')

    def test_alpn_none(self):
        """No common protocol, or no ALPN from the client: no variable, the
        session goes on."""
        for args in (['--alpn', 'smtp'], []):
            out, served = self.gnutls_cli(*args, server=self.tlsd('-L', 'imap'))
            self.assert_echoed(out, served)
            self.assertNotIn('SSL_ALPN_PROTOCOL', served[0].env())


# ---------------------------------------------------------------- OCSP stapling

class Ocsp(Features):

    def ocsp_dir(self):
        """a.test with its good response, wild with an expired one, dual-ec
        with a.test's (another certificate's) response."""
        d = os.path.join(self.out, 'certs')
        os.mkdir(d)
        for name in ('a', 'wild', 'dual-ec'):
            for ext in ('.crt', '.key'):
                shutil.copy(ffx('sni/' + name + ext), d)
        shutil.copy(ffx('sni/a.crt.ocsp'), d)
        shutil.copy(ffx('sni/a.crt.ocsp'), os.path.join(d, 'dual-ec.crt.ocsp'))
        make_expired_ocsp('sni/wild.crt', os.path.join(d, 'wild.crt.ocsp'))
        return d

    def test_ocsp_stapled(self):
        """NAME.crt.ocsp is stapled, in TLS 1.3 and 1.2; the client gets
        the file's bytes."""
        d = self.ocsp_dir()
        with open(os.path.join(d, 'a.crt.ocsp'), 'rb') as f:
            response = f.read()
        for args in ([], ['--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2']):
            saved = os.path.join(self.out, 'saved%d.der' % len(args))
            out, served = self.gnutls_cli('--sni-hostname', 'a.test', '--save-ocsp', saved, *args,
                                          server=self.tlsd('-d', d))
            self.assert_echoed(out, served)
            with open(saved, 'rb') as f:
                self.assertEqual(f.read(), response)
        out, served = self.s_client('-servername', 'a.test', '-status', server=self.tlsd('-d', d))
        self.assertIn('OCSP Response Status: successful', out, out)
        self.assertRegex(out, r'Cert Status: good', out)

    def test_ocsp_expired_or_foreign_not_stapled(self):
        """An expired response, or one for another certificate, is not
        stapled, and the log says why."""
        d = self.ocsp_dir()
        for sni, why in (('x.wild.test', 'the response has expired'),
                         ('dual.test', 'the response is for another certificate')):
            with self.subTest(sni=sni):
                out, served = self.s_client('-servername', sni, '-status', server=self.tlsd('-d', d))
                self.assertIn('OCSP response: no response sent', out, out)
                self.assert_echoed(out, served)
                self.assertIn(why + ' (not stapled)', served[0].log())

    def test_no_ocsp_file_no_staple(self):
        """Without NAME.crt.ocsp nothing is stapled and nothing is logged."""
        out, served = self.s_client('-status', server=self.tlsd())
        self.assertIn('OCSP response: no response sent', out, out)
        self.assertNotIn('OCSP', served[0].log())


def have_cryptography():
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def setup_features():
    FX.dir = os.path.join(B.W.base, 'ffx')
    B.run_tool('sh', os.path.join(HERE, 'make-feature-fixtures.sh'), FX.dir)


def main(module=None):
    """Runs the tests of module (default: this one's)."""
    def skip(why):
        print('SKIP: ' + why)
        print('0 passed, 0 failed, 1 skipped')
        sys.exit(77)

    problems = [(os.geteuid() != 0, 'needs root (ucspi-tlsd jails its engine)'),
                (not os.access(B.BIN, os.X_OK), 'no ucspi-tlsd binary at %s (set UCSPI_TLSD)' % B.BIN)]
    problems += [(not shutil.which(t), t + ' is not installed') for t in ('openssl', 'certtool', 'gnutls-cli')]
    problems.append((not have_cryptography(), 'python3-cryptography is not installed'))
    for problem, why in problems:
        if problem:
            skip(why)
    B.W.nobody = B.pwd.getpwnam('nobody')
    try:
        B.setup_work()
        setup_features()
    except Exception as e:  # noqa: BLE001
        print('ERROR: cannot make the fixtures: %s' % e)
        sys.exit(99)
    print('# ucspi-tlsd: %s' % B.BIN)
    print('# scratch: %s' % B.W.base)
    loader = unittest.TestLoader()
    names = sys.argv[1:]
    module = module or sys.modules[__name__]
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    if failed or os.environ.get('KEEP_WORK') == '1':
        print('# scratch directory kept: %s' % B.W.base)
    else:
        shutil.rmtree(B.W.base, ignore_errors=True)
    print('%d passed, %d failed%s' % (result.testsRun - failed - skipped, failed,
                                      ', %d skipped' % skipped if skipped else ''))
    sys.exit(0 if failed == 0 else 1)


if __name__ == '__main__':
    main()
