#!/usr/bin/env python3
"""SMTP client driver: python3 smtplib + ssl.  See smtpchat.py for arguments
and output.  delayed: SMTP + starttls(); immediate: SMTP_SSL.  The version is
forced with minimum_version = maximum_version; the certificate is verified
against CAFILE for mail.test (which is also sent as SNI)."""
import os
import smtplib
import ssl
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpchat  # noqa: E402

a = smtpchat.Args(sys.argv)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # verifies chain and host name
ctx.load_verify_locations(cafile=a.cafile)
v = ssl.TLSVersion.TLSv1_2 if a.version == "1.2" else ssl.TLSVersion.TLSv1_3
ctx.minimum_version = ctx.maximum_version = v

# smtplib sends stdout nothing; its debug output (level 1) goes to stderr
sys.stderr = sys.stdout
proto = cipher = data = None
try:
    cls = smtplib.SMTP if a.mode == "delayed" else smtplib.SMTP_SSL
    kw = {"context": ctx} if a.mode == "immediate" else {}
    s = cls(timeout=smtpchat.TIMEOUT, local_hostname=smtpchat.HELO, **kw)
    s.set_debuglevel(1)
    # smtplib verifies against (and sends as SNI) the name it connected to;
    # connect to 127.0.0.1 but check the certificate for mail.test
    s._host = smtpchat.SERVER_NAME
    code, msg = s.connect("127.0.0.1", a.port)
    print("S: %d %s" % (code, msg.decode(errors="replace")))
    if a.mode == "delayed":
        s.ehlo()
        code, msg = s.starttls(context=ctx)
        print("S: %d %s" % (code, msg.decode(errors="replace")))
    proto = s.sock.version()
    cipher = smtpchat.iana_from_openssl(s.sock.cipher()[0])
    print("# TLS established: %s %s" % (proto, s.sock.cipher()))
    s.ehlo()
    s.mail(smtpchat.MAIL_FROM)
    s.rcpt(smtpchat.RCPT_TO)
    code, msg = s.data(smtpchat.message(a.token).encode())
    data = str(code)
    print("S: %d %s" % (code, msg.decode(errors="replace")))
    s.quit()
except (smtplib.SMTPException, ssl.SSLError, OSError) as e:
    print("# error: %s: %s" % (type(e).__name__, e))
print(smtpchat.result_line(proto, cipher, data, a.token))
sys.exit(0 if proto and data == "250" else 1)
