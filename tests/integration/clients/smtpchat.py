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
import socket
import ssl
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
    """Runs a TLS client (gnutls-cli, openssl s_client) with its stdin, stdout
    and stderr on pipes, and talks SMTP through it.  SMTP replies are taken
    from stdout only (that is where the client writes what the server sent);
    stderr is logged ("E: ") and searched by wait_for, never parsed as SMTP:
    openssl s_client, for one, echoes the last plaintext EHLO line there
    after the handshake."""

    REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")

    def __init__(self, argv):
        self.transcript = []
        self.lines = []          # (stream, line) in arrival order
        self.log("# " + " ".join(argv))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.open = {self.proc.stdout.fileno(): ["out", b""],
                     self.proc.stderr.fileno(): ["err", b""]}

    def log(self, s):
        self.transcript.append(s)
        print(s, flush=True)

    def _fill(self, deadline):
        """Read more output; False when both streams are at EOF or on timeout."""
        if not self.open:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select(list(self.open), [], [], left)
        if not r:
            return False
        for fd in r:
            name, buf = self.open[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                if buf:
                    self.lines.append((name, buf))
                del self.open[fd]
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.append((name, line.rstrip(b"\r")))
            self.open[fd][1] = buf
        return True

    def readline(self, deadline):
        """Next (stream, line), or (None, None) on EOF/timeout."""
        while not self.lines:
            if not self._fill(deadline):
                return None, None
        name, line = self.lines.pop(0)
        text = line.decode("utf-8", "replace")
        if name == "err":
            self.log("E: " + text)
        else:
            self.log(("S: " if self.REPLY.match(line) else "   ") + text)
        return name, line

    def wait_for(self, pattern, timeout=TIMEOUT):
        """Read lines (either stream) until one matches pattern (bytes regex)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            name, line = self.readline(deadline)
            if line is None:
                return None
            m = rx.search(line)
            if m:
                return m

    def reply(self, timeout=TIMEOUT):
        """Read up to the last line of an SMTP reply on stdout; return its
        code (str) or None."""
        deadline = time.monotonic() + timeout
        while True:
            name, line = self.readline(deadline)
            if line is None:
                return None
            m = self.REPLY.match(line)
            if name == "out" and m and m.group(2) == b" ":
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
        while self.readline(deadline)[1] is not None:
            pass
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


class BioSession:
    """SMTP over a plain socket and python ssl on memory BIOs, so that a
    driver decides exactly which bytes leave together (coalesce.py,
    eager-starttls.py).  Replies are printed as they come ("S: ")."""

    def __init__(self, port, cafile, version):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""           # plaintext bytes read but not used
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=cafile)
        v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inb, self.outb, server_hostname=SERVER_NAME)

    def _reply(self, more):
        """Parse one reply out of self.buf, calling more() for bytes."""
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                print("S: " + line.rstrip(b"\r").decode(errors="replace"), flush=True)
                if len(line) >= 4 and line[3:4] == b" ":
                    return line[:3].decode()
            data = more()
            if not data:
                return None
            self.buf += data

    def plain_reply(self):
        return self._reply(lambda: self.sock.recv(65536))

    def plain_cmd(self, line):
        print("C: " + line, flush=True)
        self.sock.sendall(line.encode() + b"\r\n")
        return self.plain_reply()

    def _flush(self):
        out = self.outb.read()
        if out:
            self.sock.sendall(out)

    def handshake_start(self):
        """Put the ClientHello in the output BIO (not sent yet)."""
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass

    def handshake_finish(self, flush_last=True):
        """Complete the handshake; plaintext bytes already read (self.buf)
        go to TLS first.  With flush_last=False the client's last flight
        stays in the output BIO, for the caller to send with data."""
        self.inb.write(self.buf)
        self.buf = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("EOF during the handshake")
                self.inb.write(data)
        if flush_last:
            self._flush()
        return self.tls.version(), iana_from_openssl(self.tls.cipher()[0])

    def _tls_more(self):
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                pass
            self._flush()
            data = self.sock.recv(65536)
            if not data:
                return b""
            self.inb.write(data)

    def tls_reply(self):
        return self._reply(self._tls_more)

    def tls_send(self, text, show=True):
        if show:
            for line in text.split("\r\n")[:-1]:
                print("C: " + line, flush=True)
        self.tls.write(text.encode())
        self._flush()

    def tls_cmd(self, line):
        self.tls_send(line + "\r\n")
        return self.tls_reply()

    def tls_transaction(self, token, greeting):
        """(220,) EHLO already sent by the caller; its reply, MAIL, RCPT,
        DATA, message, QUIT.  Returns the code after the message."""
        if greeting and self.tls_reply() != "220":
            return None
        if self.tls_reply() != "250" \
                or self.tls_cmd("MAIL FROM:<%s>" % MAIL_FROM) != "250" \
                or self.tls_cmd("RCPT TO:<%s>" % RCPT_TO) != "250" \
                or self.tls_cmd("DATA") != "354":
            return None
        self.tls_send(message(token) + ".\r\n")
        code = self.tls_reply()
        self.tls_cmd("QUIT")
        return code
