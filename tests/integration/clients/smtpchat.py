"""Shared code for the SMTP client drivers (python3 stdlib only).

Every driver is called as
    DRIVER MODE PORT VERSION CAFILE [TOKEN]
  MODE     delayed (STARTTLS) | immediate (TLS from the first byte, port 465 style)
  PORT     TCP port on 127.0.0.1
  VERSION  1.2 | 1.3 (forced from the client side)
  CAFILE   PEM file the client trusts (the self-signed server certificate)
  TOKEN    put in the Subject and the body (default: a random one)
and sends one message from a@example.org to b@example.org.  It prints the
transcript, then one last line
    PROTO=TLSv1.3 CIPHER=TLS_AES_256_GCM_SHA384 DATA=250 TOKEN=...
(PROTO/CIPHER as the client itself reports them, the cipher suite normalised to
its IANA name; DATA is the reply code after the end of the message, or "none")
and exits 0 when TLS was established and the message was accepted (250),
1 otherwise, 2 on a usage error.

The certificate is verified against CAFILE for the name mail.test (the
connection goes to 127.0.0.1), so a wrong certificate fails the driver.
"""

import os
import re
import select
import secrets
import subprocess
import sys
import time

SERVER_NAME = "mail.test"
MAIL_FROM = "a@example.org"
RCPT_TO = "b@example.org"
HELO = "client.test"
TIMEOUT = float(os.environ.get("CLIENT_TIMEOUT", "20"))


class Args:
    def __init__(self, argv):
        if len(argv) not in (5, 6) or argv[1] not in ("delayed", "immediate") \
                or argv[3] not in ("1.2", "1.3"):
            sys.stderr.write("usage: %s delayed|immediate PORT 1.2|1.3 CAFILE [TOKEN]\n" % argv[0])
            sys.exit(2)
        self.mode = argv[1]
        self.port = int(argv[2])
        self.version = argv[3]
        self.cafile = argv[4]
        self.token = argv[5] if len(argv) == 6 else "tok" + secrets.token_hex(8)


def message(token):
    """The message text, CRLF line ends, without the final dot.  mailfront's
    echo backend logs only the first two lines of the message (it expects a
    Received: line first), so the token goes in the first line as well as in
    the body."""
    return ("Subject: ucspi-tlsd test %s\r\n"
            "From: <%s>\r\n"
            "To: <%s>\r\n"
            "\r\n"
            "body line with the token %s\r\n") % (token, MAIL_FROM, RCPT_TO, token)


# ---- cipher suite names --------------------------------------------------

_stdnames = None


def iana_from_openssl(name):
    """Map an OpenSSL cipher name (ECDHE-RSA-AES256-GCM-SHA384) to the IANA
    name, using `openssl ciphers -stdname`.  TLS 1.3 names are already IANA."""
    global _stdnames
    if name.startswith("TLS_"):
        return name
    if _stdnames is None:
        _stdnames = {}
        try:
            out = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:@SECLEVEL=0"],
                                 capture_output=True, text=True, check=False).stdout
        except OSError:
            out = ""
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 3 and f[1] == "-":
                _stdnames[f[2]] = f[0]
    return _stdnames.get(name, name)


_GNUTLS_BULK = {
    "AES-256-GCM": "AES_256_GCM_SHA384",
    "AES-128-GCM": "AES_128_GCM_SHA256",
    "CHACHA20-POLY1305": "CHACHA20_POLY1305_SHA256",
    "AES-128-CCM": "AES_128_CCM_SHA256",
    "AES-256-CCM": "AES_256_CCM_SHA256",
}


def from_gnutls_description(desc):
    """(TLS1.2-X.509)-(ECDHE-SECP256R1)-(EdDSA-Ed25519)-(AES-256-GCM)
    -> ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")"""
    parts = re.findall(r"\(([^)]*)\)", desc)
    if len(parts) < 4:
        return None, None
    proto = parts[0].split("-")[0].replace("TLS", "TLSv")
    kx, sig, bulk = parts[1], parts[2], parts[3]
    b = _GNUTLS_BULK.get(bulk)
    if b is None:
        return proto, "GNUTLS:" + desc
    if proto == "TLSv1.3":
        return proto, "TLS_" + b
    auth = "RSA" if sig.upper().startswith("RSA") else "ECDSA"
    if kx.startswith("ECDHE"):
        ke = "ECDHE_" + auth
    elif kx.startswith("DHE"):
        ke = "DHE_" + auth
    else:
        ke = "RSA"
    return proto, "TLS_%s_WITH_%s" % (ke, b)


def result_line(proto, cipher, data, token):
    return "PROTO=%s CIPHER=%s DATA=%s TOKEN=%s" % (proto or "none", cipher or "none",
                                                     data or "none", token)


# ---- talking SMTP through a command-line TLS client ----------------------

class Chat:
    """Runs a TLS client (gnutls-cli, openssl s_client) with its stdin and
    stdout (stderr merged) on pipes, and talks SMTP through it."""

    REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")

    def __init__(self, argv):
        self.transcript = []
        self.buf = b""
        self.lines = []
        self.eof = False
        self.log("# " + " ".join(argv))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)

    def log(self, s):
        self.transcript.append(s)
        print(s, flush=True)

    def _fill(self, deadline):
        """Read more output; False on EOF or timeout."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.proc.stdout], [], [], left)
        if not r:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            self.eof = True
            if self.buf:
                self.lines.append(self.buf)
                self.buf = b""
            return True
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.lines.append(line.rstrip(b"\r"))
        return True

    def readline(self, deadline):
        while not self.lines:
            if not self._fill(deadline):
                return None
        line = self.lines.pop(0)
        text = line.decode("utf-8", "replace")
        self.log("S: " + text if self.REPLY.match(line) else "   " + text)
        return line

    def wait_for(self, pattern, timeout=TIMEOUT):
        """Read lines until one matches pattern (bytes regex); return the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            line = self.readline(deadline)
            if line is None:
                return None
            m = rx.search(line)
            if m:
                return m

    def reply(self, timeout=TIMEOUT):
        """Read up to the last line of an SMTP reply; return its code (str) or None."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(deadline)
            if line is None:
                return None
            m = self.REPLY.match(line)
            if m and m.group(2) == b" ":
                return m.group(1).decode()

    def send(self, text):
        for line in text.split("\r\n")[:-1] if text.endswith("\r\n") else [text]:
            self.log("C: " + line)
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.log("# client's stdin closed")

    def command(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def finish(self, timeout=5):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            while self.lines:
                self.readline(deadline)
        try:
            rc = self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            self.log("# client did not exit, killed")
        self.log("# client exit status %d" % rc)
        return rc


def smtp_session(chat, token, greeting_first):
    """After the TLS handshake: (220 when immediate,) EHLO, MAIL, RCPT, DATA,
    message, QUIT.  Returns the reply code after the message (or None)."""
    if greeting_first and chat.reply() != "220":
        return None
    if chat.command("EHLO " + HELO) != "250":
        return None
    if chat.command("MAIL FROM:<%s>" % MAIL_FROM) != "250":
        return None
    if chat.command("RCPT TO:<%s>" % RCPT_TO) != "250":
        return None
    if chat.command("DATA") != "354":
        return None
    chat.send(message(token) + ".\r\n")
    code = chat.reply()
    chat.command("QUIT")
    return code
