#!/usr/bin/env python3
"""SMTP client driver: swaks.  See smtpchat.py for arguments and output.
delayed: --tls; immediate: --tlsc.  Version forced with --tls-protocol;
certificate checked with --tls-verify --tls-ca-path CAFILE.  The message is
given whole (--data -) so that the token is in its first line, without its
last line end (swaks adds one)."""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpchat  # noqa: E402

a = smtpchat.Args(sys.argv)
argv = [os.environ.get("SWAKS", "swaks"),
        "--server", "127.0.0.1", "--port", str(a.port),
        "--helo", smtpchat.HELO,
        "--from", smtpchat.MAIL_FROM, "--to", smtpchat.RCPT_TO,
        "--tls" if a.mode == "delayed" else "--tlsc",
        "--tls-protocol", "tlsv" + a.version.replace(".", "_"),
        "--tls-verify", "--tls-ca-path", a.cafile,
        "--tls-sni", smtpchat.SERVER_NAME,
        "--timeout", str(int(smtpchat.TIMEOUT)),
        "--data", "-"]
print("# " + " ".join(argv), flush=True)
try:
    p = subprocess.run(argv, input=smtpchat.message(a.token).rstrip("\r\n").encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=smtpchat.TIMEOUT * 2, check=False)
    out, rc = p.stdout.decode(errors="replace"), p.returncode
except subprocess.TimeoutExpired as e:
    out, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
print(out, end="")
print("# swaks exit status %s" % rc)

proto = cipher = data = None
m = re.search(r"^=== TLS started with cipher (TLSv1\.[0-3]|SSLv3):(\S+?):\d+$", out, re.M)
if m:
    proto, cipher = m.group(1), smtpchat.iana_from_openssl(m.group(2))
# the reply to the end of data: first reply after the client's " ~> ." line
m = re.search(r"^ [~-]> \.\r?\n(?:.*\n)*?<[~-]\*?\s+(\d{3}) ", out, re.M)
if m:
    data = m.group(1)
print(smtpchat.result_line(proto, cipher, data, a.token))
sys.exit(0 if proto and data == "250" and rc == 0 else 1)
