#!/usr/bin/env python3
"""SMTP client driver: gnutls-cli.  See smtpchat.py for arguments and output.
delayed: gnutls-cli --starttls-proto=smtp (it does EHLO/STARTTLS itself);
immediate: plain gnutls-cli.  Version forced with the priority string."""
import os
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpchat  # noqa: E402

a = smtpchat.Args(sys.argv)
argv = [os.environ.get("GNUTLS_CLI", "gnutls-cli"),
        "--port", str(a.port),
        "--x509cafile", a.cafile,
        "--verify-hostname", smtpchat.SERVER_NAME,
        "--priority", "NORMAL:-VERS-ALL:+VERS-TLS" + a.version]
if a.mode == "delayed":
    argv.append("--starttls-proto=smtp")
argv.append("127.0.0.1")

chat = smtpchat.Chat(argv)
proto = cipher = data = None
m = chat.wait_for(rb"^- Description: (.*)$")
if m:
    proto, cipher = smtpchat.from_gnutls_description(m.group(1).decode())
    if chat.wait_for(rb"^- Handshake was completed"):
        data = smtpchat.smtp_session(chat, a.token, a.mode == "immediate")
chat.finish()
print(smtpchat.result_line(proto, cipher, data, a.token))
sys.exit(0 if proto and data == "250" else 1)
