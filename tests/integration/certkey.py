#!/usr/bin/env python3
"""Case C09, certificate and key problems, with behaviour.py's harness (the
real binary on a loopback connection; fixtures from make-fixtures.sh, made
at run time).  behaviour.py's StartupError covers a missing certificate or
key, a key of another certificate, garbage, a directory, an encrypted PKCS#8
key, a chain too long and a FIFO; this file adds the rest of C09:

- refused at start-up, in the parent, before any byte: an RSA certificate
  with an EC key, the key file given as the certificate and the certificate
  as the key, an old-style encrypted key, empty files;
- never a passphrase: bytes the client sends are never read (the close is a
  reset, which the kernel sends only when unread data is left);
- served: a chain with the intermediate before the leaf (reordered, so that
  a verifying client accepts it), CRLF line endings, text after -----END;
- -o: in delayed mode a certificate or key problem starts the application
  without UCSPITLS and without the UCSPI-TLS descriptors, logged.
"""
import os
import re
import shutil
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import behaviour as B  # noqa: E402
from behaviour import Base, BioClient, Plain, client_context, fx  # noqa: E402

# name: (options, file named in the message, the problem in words)
REFUSED = {
    'rsa_cert_ec_key': (lambda: dict(cert='rsa', keyfile=fx('ecdsa.key')), lambda: fx('ecdsa.key'),
                        r'^: the key does not match the certificate$'),
    'key_given_as_cert': (lambda: dict(certfile=fx('ecdsa.key'), keyfile=fx('ecdsa.key'), cert=None),
                          lambda: fx('ecdsa.key'), r'^: no PEM certificate in it$'),
    'cert_given_as_key': (lambda: dict(certfile=fx('ecdsa.crt'), keyfile=fx('ecdsa.crt'), cert=None),
                          lambda: fx('ecdsa.crt'), r'^: no PEM private key in it$'),
    'encrypted_pkcs8_key': (lambda: dict(cert='enc'), lambda: fx('enc.key'),
                            r'^: the key is encrypted; ucspi-tlsd reads no passphrase$'),
    'encrypted_legacy_key': (lambda: dict(cert='ecdsa', keyfile=fx('enc-legacy.key')), lambda: fx('enc-legacy.key'),
                             r'^: the key is encrypted; ucspi-tlsd reads no passphrase$'),
    'empty_cert': (lambda: dict(certfile=fx('empty.crt'), keyfile=fx('ecdsa.key'), cert=None),
                   lambda: fx('empty.crt'), r'^: empty file$'),
    'empty_key': (lambda: dict(cert='ecdsa', keyfile=fx('empty.key')), lambda: fx('empty.key'), r'^: empty file$'),
}


class Refused(Base):
    """Each problem: exit 111, no byte to the client, no application, one
    line naming the file and the problem (StartupError's checks)."""


def _refused_test(name, delayed):
    def test(self):
        saved = B.STARTUP.get(name)
        B.STARTUP[name] = REFUSED[name]
        try:
            B.StartupError.run_startup(self, name, delayed)
        finally:
            if saved is None:
                del B.STARTUP[name]
    test.__doc__ = 'C09: %s, %s mode: refused at start-up' % (name.replace('_', ' '),
                                                              'delayed' if delayed else 'immediate')
    return test


for _name in REFUSED:
    for _delayed in (False, True):
        setattr(Refused, 'test_%s_%s' % (_name, 'delayed' if _delayed else 'immediate'),
                _refused_test(_name, _delayed))


class NoPassphrase(Base):

    def no_read(self, delayed):
        """The client sends a would-be passphrase at once; ucspi-tlsd,
        with an encrypted key, exits 111 without reading it: the kernel
        then resets the connection (unread data), and no process asked."""
        mode = ('-n',) if delayed else ()
        app = self.app('ucspitls.py', 'Y') if delayed else self.app('immediate.sh')
        # queued before ucspi-tlsd starts: it cannot exit before they arrive
        c = self.start(self.argv(*mode, '-T', '5', cert='enc', app=app), initial=b'x\n')
        rc = c.wait()
        with self.assertRaises(ConnectionResetError, msg='unread bytes: a reset, not a close; log:\n' + c.log()):
            c.sock.recv(100)
        self.assertEqual(rc, B.EXIT_TEMP, c.log())
        self.assertFalse(self.ran())
        self.assertRegex(c.log(), re.escape(fx('enc.key')) + r': the key is encrypted; ucspi-tlsd reads no passphrase')

    def test_no_passphrase_read_immediate(self):
        self.no_read(False)

    def test_no_passphrase_read_delayed(self):
        self.no_read(True)


class Served(Base):

    def serve(self, cert, ctx, hostname='mail.test', keyfile=None):
        c = self.start(self.argv('-T', '5', cert=cert, keyfile=keyfile, app=self.app('immediate.sh')))
        cl = BioClient(c.sock, ctx, server_hostname=hostname)
        cl.handshake()
        cl.send(b'ping\r\n')
        self.assertEqual(cl.readline(), b'echo:ping\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 7)
        self.assertNotIn('reason', fields, log)
        return cl, log

    def test_intermediate_before_leaf_reordered(self):
        """C09: the chain file has the intermediate first; the client,
        which trusts only the CA and checks the name, gets leaf then
        intermediate."""
        ctx = ssl.create_default_context(cafile=fx('ca.crt'))
        cl, _ = self.serve('misordered', ctx)
        with open(fx('leaf.crt')) as f:
            self.assertEqual(cl.obj.getpeercert(True), ssl.PEM_cert_to_DER_cert(f.read()), 'the leaf is served')

    def test_key_readable_by_others_warned(self):
        """A key file others can read is served, with a warning naming it."""
        key = os.path.join(self.out, 'open.key')
        shutil.copy(fx('ecdsa.key'), key)
        os.chmod(key, 0o644)
        _, log = self.serve('ecdsa', client_context(), keyfile=key)
        self.assertIn('key file %s: readable by others than its owner' % key, log)

    def test_crlf_line_endings(self):
        cl, _ = self.serve('crlf', client_context())
        self.assert_served(cl, 'ecdsa')

    def test_text_after_end_line(self):
        cl, _ = self.serve('trailing', client_context())
        self.assert_served(cl, 'ecdsa')


# -o: name -> (options, file named, problem in words)
FALLBACK = {
    'missing_cert': (lambda: dict(certfile=fx('nonexistent.crt'), keyfile=fx('ecdsa.key'), cert=None),
                     lambda: fx('nonexistent.crt'), 'no such file'),
    'garbage_cert': (lambda: dict(certfile=fx('garbage.crt'), keyfile=fx('ecdsa.key'), cert=None),
                     lambda: fx('garbage.crt'), 'no PEM certificate in it'),
    'encrypted_key': (lambda: dict(cert='enc'), lambda: fx('enc.key'),
                      'the key is encrypted; ucspi-tlsd reads no passphrase'),
    'mismatched_key': (lambda: dict(cert='rsa', keyfile=fx('ecdsa.key')), lambda: fx('ecdsa.key'),
                       'the key does not match the certificate'),
}


class Fallback(Base):

    def run_fallback(self, name):
        """-n -o: plaintext to an application without UCSPITLS and without
        descriptors 3-5; the problem logged with the file; the status is
        the application's."""
        opts, path, problem = FALLBACK[name]
        c = self.start(self.argv('-n', '-o', '-T', '5', app=self.app('ucspitls.py', 'plain'), **opts()),
                       self.env(UCSPITLS='inherited'))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        for line in (b'EHLO client.test\r\n', b'QUIT\r\n'):
            c.sock.sendall(line)
            self.assertEqual(pl.readline(), b'echo:' + line)
        self.assertEqual(pl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 6)
        self.assertEqual((fields['mode'], fields['proto']), ('delayed', 'none'), log)
        self.assertIn('%s: %s; -o: the application runs without UCSPITLS (no STARTTLS)' % (path(), problem), log)
        st = self.app_state()
        for var in ('UCSPITLS', 'SSLCTLFD', 'SSLREADFD', 'SSLWRITEFD'):
            self.assertNotIn(var, st['env'], 'no %s for an application that cannot have TLS' % var)
        self.assertEqual(sorted(st['fds'], key=int), ['0', '1', '2'], 'descriptors 0-2 only: %s' % st['fds'])

    def test_fallback_keeps_tls_when_all_is_well(self):
        """-n -o with a good certificate and key: STARTTLS as always."""
        c = self.start(self.argv('-n', '-o', '-T', '5', app=self.app('ucspitls.py', 'Y')))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 NOOP\r\n')
        c.close()
        fields, log = self.finish(c, 0)
        self.assertEqual(fields['proto'], 'TLSv1.3', log)
        self.assertIn('UCSPITLS', self.app_state()['env'])

    def test_fallback_needs_delayed_mode(self):
        """-o without -n: a usage error (a port 465 client speaks TLS first)."""
        argv = self.argv('-o', app=self.app('immediate.sh'))
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env(), timeout=B.EXIT_TIMEOUT)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, B.EXIT_USAGE, err)
        self.assertRegex(err, r'^ucspi-tlsd\[\d+\]: usage: -o needs -n')
        self.assertFalse(self.ran())


def _fallback_test(name):
    def test(self):
        self.run_fallback(name)
    test.__doc__ = 'C09 -o: %s: the application runs without UCSPITLS' % name.replace('_', ' ')
    return test


for _name in FALLBACK:
    setattr(Fallback, 'test_fallback_%s' % _name, _fallback_test(_name))


if __name__ == '__main__':
    B.main(sys.modules[__name__])
