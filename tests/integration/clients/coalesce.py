#!/usr/bin/env python3
"""SMTP client driver that puts the first application data in the same TCP
segment as its last handshake message (python ssl over memory BIOs), to
check that the server does not leave data buffered inside the TLS library
after the handshake (GnuTLS: gnutls_record_check_pending) waiting for a
socket event that never comes.  Same arguments and output as the other
drivers (see smtpchat.py).

TLS 1.3 only: there the client's Finished is the last handshake message, so
the client can send data right behind it.  delayed: after STARTTLS, EHLO
goes out with the Finished.  immediate: EHLO goes out with the Finished,
i.e. before the 220 greeting, as a client-speaks-first protocol would
(mailfront reads it after sending the greeting).
"""
import os
import ssl
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpchat  # noqa: E402

a = smtpchat.Args(sys.argv)
if a.version != "1.3":
    sys.stderr.write("coalesce.py: TLS 1.3 only\n")
    sys.exit(2)
proto = cipher = data = None
try:
    b = smtpchat.BioSession(a.port, a.cafile, a.version)
    ok = a.mode == "immediate" or (
        b.plain_reply() == "220" and b.plain_cmd("EHLO " + smtpchat.HELO) == "250"
        and b.plain_cmd("STARTTLS") == "220")
    if ok:
        b.handshake_start()
        proto, cipher = b.handshake_finish(flush_last=False)
        print("# TLS established: %s %s" % (proto, cipher))
        print("# next: EHLO in the same segment as the client Finished")
        b.tls_send("EHLO %s\r\n" % smtpchat.HELO)
        data = b.tls_transaction(a.token, greeting=a.mode == "immediate")
except (OSError, ssl.SSLError, ConnectionError) as e:
    print("# error: %s: %s" % (type(e).__name__, e))
print(smtpchat.result_line(proto, cipher, data, a.token))
sys.exit(0 if proto and data == "250" else 1)
