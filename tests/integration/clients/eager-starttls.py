#!/usr/bin/env python3
"""SMTP client driver, delayed mode only: sends STARTTLS and its ClientHello
in one TCP segment, without waiting for the 220 (python ssl over memory
BIOs).  RFC 3207 says to wait, but ucspi-tlsd is meant to cope: it holds a
TLS record that arrives in the plaintext phase for the handshake instead
of giving it to the application.  Then EHLO and a message over TLS, as
usual.  Same arguments and output as the other drivers (see smtpchat.py)."""
import os
import ssl
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpchat  # noqa: E402

a = smtpchat.Args(sys.argv)
if a.mode != "delayed":
    sys.stderr.write("eager-starttls.py: delayed mode only\n")
    sys.exit(2)
proto = cipher = data = None
try:
    b = smtpchat.BioSession(a.port, a.cafile, a.version)
    if b.plain_reply() == "220" and b.plain_cmd("EHLO " + smtpchat.HELO) == "250":
        b.handshake_start()
        print("C: STARTTLS   (and the ClientHello in the same segment)", flush=True)
        b.sock.sendall(b"STARTTLS\r\n" + b.outb.read())
        if b.plain_reply() == "220":
            proto, cipher = b.handshake_finish()
            print("# TLS established: %s %s" % (proto, cipher))
            b.tls_send("EHLO %s\r\n" % smtpchat.HELO)
            data = b.tls_transaction(a.token, greeting=False)
except (OSError, ssl.SSLError, ConnectionError) as e:
    print("# error: %s: %s" % (type(e).__name__, e))
print(smtpchat.result_line(proto, cipher, data, a.token))
sys.exit(0 if proto and data == "250" else 1)
