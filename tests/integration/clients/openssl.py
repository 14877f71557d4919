#!/usr/bin/env python3
"""SMTP client driver: openssl s_client.  See smtpchat.py for arguments and
output.  delayed: -starttls smtp (it does EHLO/STARTTLS itself); immediate:
plain s_client.  Version forced with -tls1_2 / -tls1_3.  -nocommands, or a
line starting with R (RCPT TO) would renegotiate."""
import os
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpchat  # noqa: E402

a = smtpchat.Args(sys.argv)
argv = [os.environ.get("OPENSSL", "openssl"), "s_client",
        "-connect", "127.0.0.1:%d" % a.port,
        "-CAfile", a.cafile,
        "-verify_hostname", smtpchat.SERVER_NAME,
        "-verify_return_error",
        "-servername", smtpchat.SERVER_NAME,
        "-nocommands",
        "-tls" + a.version.replace(".", "_")]
if a.mode == "delayed":
    argv += ["-starttls", "smtp", "-name", smtpchat.HELO]

chat = smtpchat.Chat(argv)
proto = cipher = data = None
# printed once the handshake is done, before any application data
# "Verification: OK" precedes the summary; a failed handshake prints
# "Verification error: ..." and still names the version and cipher it tried
ok = chat.wait_for(rb"^Verification: OK$|^Verification error") or None
ok = ok and ok.group(0) == b"Verification: OK"
m = ok and chat.wait_for(rb"^(?:New|Reused), (TLSv1\.[0-3]|SSLv3), Cipher is (\S+)")
if m:
    proto = m.group(1).decode()
    cipher = smtpchat.iana_from_openssl(m.group(2).decode())
    # the session block ends with a line "---"; SMTP follows
    if chat.wait_for(rb"^---$"):
        data = smtpchat.smtp_session(chat, a.token, a.mode == "immediate")
chat.finish()
print(smtpchat.result_line(proto, cipher, data, a.token))
sys.exit(0 if proto and data == "250" else 1)
