#!/usr/bin/env python3
"""Attacks on session tickets and client certificates (issue 8) that once
succeeded; each test failed before its fix.  The harness is features.py's
(real clients, one ucspi-tlsd per accepted connection).

  - -A (a client certificate required) was bypassed by resuming a ticket:
    a resumed TLS 1.3 session has no Certificate message, so a ticket
    minted by a service that shares the ticket key file but asks for no
    certificate, or one whose certificate has been revoked since, gave a
    session under -A with no verified client certificate.  The first now
    makes a full handshake (the ticket key is bound to the client
    certificate policy), the second fails.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import behaviour as B  # noqa: E402
import features as F  # noqa: E402


class RequiredCertificate(F.Features):

    openssl_resume = F.Tickets.openssl_resume

    def resume_across(self, first_opts, second_opts, cert):
        """openssl s_client: a session with first_opts saved, resumed (with
        the same client certificate at hand) against second_opts."""
        first = lambda n, out: self.tlsd('-v', '-s', F.ffx('ticket1.key'), *first_opts)(n, out)
        second = lambda n, out: self.tlsd('-v', '-s', F.ffx('ticket1.key'), *second_opts)(n, out)
        args = ['-cert', F.ffx(cert + '.crt'), '-key', F.ffx(cert + '.key')]
        out1, out2, s1, s2 = self.openssl_resume(first, second, *args)
        self.assertEqual(s1.proc.returncode, 7, s1.log())
        return out2, s2

    def assert_refused(self, second):
        self.assertIsNone(second.env(), 'the application ran under -A without a verified certificate:\n' +
                          second.log())
        self.assertEqual(second.proc.returncode, B.EXIT_TEMP, second.log())
        self.assertRegex(second.done().get('reason', ''), r'client certificate', second.log())

    def test_ticket_of_a_service_without_client_certificates(self):
        """-A -e: a ticket from another service with the same ticket key
        file and no -A (port 465 beside 587) does not resume a session
        without a certificate: the ticket key is bound to the policy, so
        the client makes a full handshake and shows its certificate."""
        out, second = self.resume_across((), ('-A', F.ffx('ca.crt'), '-e'), 'client')
        self.assertEqual(second.proc.returncode, 7, second.log())
        self.assertEqual(second.done()['resumed'], 'no', second.log())
        self.assertEqual(second.env().get('SSL_CLIENT_S_DN'), 'CN=Test Client', second.log())

    def test_revoked_since_the_ticket(self):
        """-A -e: a ticket minted before the client's certificate was
        revoked (-C) does not give a session without a verified one."""
        ca = F.ffx('ca.crt')
        out, second = self.resume_across(('-A', ca, '-e'), ('-A', ca, '-e', '-C', F.ffx('crl.pem')), 'revoked')
        self.assert_refused(second)


if __name__ == '__main__':
    F.main(sys.modules[__name__])
