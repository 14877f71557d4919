#!/usr/bin/env python3
"""Test double of ucspi-tlsd, in Python (ssl module).  NOT the product and not
secure (no privilege separation, key in the same process): it exists so that
the integration harness and the client drivers can be checked against a
second, independent implementation of the same interface:

    UCSPI_TLSD=tests/integration/fake-ucspi-tlsd.py tests/integration/run-matrix.sh

Same command line (-p, -j, -J, -v, -q accepted and ignored), fd 0 = the
connected socket, UCSPI-TLS for -n (SSLCTLFD/SSLREADFD/SSLWRITEFD, UCSPITLS=,
commands y and Y), SSL_* variables for immediate mode, and the same one-line
log at the end on fd 2:
  ucspi-tlsd[PID]: done remote=IP:PORT mode=M proto=P cipher=C sni=S resumed=no
                   handshake_ms=N in=N out=N status=N [reason="..."]
"""
import getopt
import os
import pwd
import select
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
from smtpchat import iana_from_openssl  # noqa: E402

try:
    opts, app = getopt.getopt(sys.argv[1:], "nc:k:u:Uj:J:T:t:p:vq")
except getopt.GetoptError as e:
    sys.stderr.write("ucspi-tlsd: usage: %s\n" % e)
    sys.exit(100)
o = dict(opts)
delayed = "-n" in o
cert, key = o.get("-c", os.environ.get("CERTFILE")), o.get("-k", os.environ.get("KEYFILE"))
hs_timeout = int(o.get("-T", "30"))
if not app or not cert or not key:
    sys.stderr.write("ucspi-tlsd: usage: ucspi-tlsd [-n] -c cert -k key [-u user] prog...\n")
    sys.exit(100)

st = {"proto": "none", "cipher": "-", "sni": "-", "ms": 0, "in": 0, "out": 0, "reason": None}
t0 = time.monotonic()


def log_done(status):
    line = ("done remote=%s mode=%s proto=%s cipher=%s sni=%s resumed=no handshake_ms=%d "
            "in=%d out=%d status=%d") % (remote, "delayed" if delayed else "immediate",
                                          st["proto"], st["cipher"], st["sni"], st["ms"],
                                          st["in"], st["out"], status)
    if st["reason"]:
        line += ' reason="%s"' % st["reason"]
    os.write(2, ("ucspi-tlsd[%d]: %s\n" % (os.getpid(), line)).encode())


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
try:
    ctx.load_cert_chain(cert, key)
except (OSError, ssl.SSLError) as e:
    sys.stderr.write("ucspi-tlsd: cannot load %s / %s: %s\n" % (cert, key, e))
    sys.exit(111)


def sni_cb(obj, name, c):
    if name:
        st["sni"] = name.lower()


ctx.sni_callback = sni_cb

sock = socket.socket(fileno=os.dup(0))
peer = sock.getpeername()
remote = "%s:%d" % (peer[0], peer[1])
for fd in (0, 1):
    os.dup2(os.open(os.devnull, os.O_RDWR), fd)

env = dict(os.environ)
for v in ("CERTFILE", "KEYFILE", "TLS_UID", "TLS_GID"):
    env.pop(v, None)
if "PROTO" not in env:
    me = sock.getsockname()
    env.update(PROTO="TCP", TCPLOCALIP=me[0], TCPLOCALPORT=str(me[1]),
               TCPREMOTEIP=peer[0], TCPREMOTEPORT=str(peer[1]))
run_as = {}
if "-u" in o:
    pw = pwd.getpwnam(o["-u"])
    run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inb, outb, server_side=True)


def dbg(*a):
    if os.environ.get("FAKE_DEBUG"):
        sys.stderr.write("fake-debug %.3f: %s\n" % (time.monotonic() % 100, " ".join(map(str, a))))


def flush():
    data = outb.read()
    if data:
        sock.sendall(data)


def feed(deadline=None):
    """Read from the socket into the TLS input BIO; False on EOF/timeout."""
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and (left <= 0 or not select.select([sock], [], [], left)[0]):
        raise TimeoutError("handshake timeout")
    data = sock.recv(65536)
    dbg("net recv", len(data), data[:5].hex())
    if not data:
        inb.write_eof()
        return False
    inb.write(data)
    return True


def handshake():
    start = time.monotonic()
    deadline = start + hs_timeout
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            if not feed(deadline):
                raise ConnectionError("EOF during handshake")
    flush()
    st["ms"] = int((time.monotonic() - start) * 1000)
    st["proto"] = tls.version()
    st["cipher"] = iana_from_openssl(tls.cipher()[0])
    return [("SSL_PROTOCOL", st["proto"]), ("SSL_CIPHER", st["cipher"]),
            ("SSL_CIPHER_USEKEYSIZE", str(tls.cipher()[2])),
            ("SSL_CIPHER_ALGKEYSIZE", str(tls.cipher()[2])),
            ("SSL_SESSION_RESUMED", "Initial")] + \
        ([("SSL_TLS_SNI_SERVERNAME", st["sni"])] if st["sni"] != "-" else [])


def pump(app_in, app_out, proc):
    """Relay TLS <-> (app_in: we write, app_out: we read) until both ends are done."""
    net_open, app_open = True, True
    first = True    # the handshake may have left application data buffered
    while app_open or net_open:
        rl = ([sock] if net_open else []) + ([app_out] if app_open else [])
        if not rl:
            break
        r = [sock] if first else select.select(rl, [], [], 1.0)[0]
        if not r and proc.poll() is not None and not app_open:
            break
        if sock in r:
            alive = True if first else feed()
            first = False
            dbg("net readable, alive", alive)
            try:
                while True:
                    data = tls.read(65536)
                    dbg("tls read", data[:40])
                    if not data:
                        raise ssl.SSLZeroReturnError
                    st["in"] += len(data)
                    if app_in is not None:
                        try:
                            os.write(app_in, data)
                        except BrokenPipeError:
                            os.close(app_in)
                            app_in = None
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as e:
                dbg("tls closed", repr(e))
                alive = False
            flush()
            if not alive:
                net_open = False
                if app_in is not None:
                    os.close(app_in)
                    app_in = None
        if app_out in r:
            data = os.read(app_out, 65536)
            dbg("app said", data[:40])
            if data:
                st["out"] += len(data)
                tls.write(data)
                flush()
            else:
                app_open = False
                try:
                    tls.unwrap()
                    flush()
                    sock.shutdown(socket.SHUT_WR)
                except (ssl.SSLError, OSError):
                    pass    # the peer may be gone already
                net_open = False
    if app_in is not None:
        os.close(app_in)


def finish(proc):
    rc = proc.wait()
    status = rc if rc >= 0 else 128 - rc
    log_done(status)
    sys.exit(status)


def immediate():
    try:
        tlsenv = handshake()
    except (OSError, ssl.SSLError, ConnectionError) as e:
        st["reason"] = str(e).replace('"', "'")
        log_done(111)
        sys.exit(111)
    env.update(tlsenv)
    r1, w1 = os.pipe()   # to the app's fd 0
    r2, w2 = os.pipe()   # from the app's fd 1
    proc = subprocess.Popen(app, stdin=r1, stdout=w2, env=env, **run_as)
    os.close(r1)
    os.close(w2)
    pump(w1, r2, proc)
    finish(proc)


def delayed_mode():
    ctl_mine, ctl_app = socket.socketpair()
    p_in_r, p_in_w = os.pipe()     # plaintext phase, app fd 0
    p_out_r, p_out_w = os.pipe()   # plaintext phase, app fd 1
    t_in_r, t_in_w = os.pipe()     # SSLREADFD
    t_out_r, t_out_w = os.pipe()   # SSLWRITEFD
    fds = (ctl_app.fileno(), t_in_r, t_out_w)
    env.update(SSLCTLFD=str(fds[0]), SSLREADFD=str(fds[1]), SSLWRITEFD=str(fds[2]))
    env.setdefault("UCSPITLS", "")
    proc = subprocess.Popen(app, stdin=p_in_r, stdout=p_out_w, env=env, pass_fds=fds, **run_as)
    for fd in (p_in_r, p_out_w, t_in_r, t_out_w):
        os.close(fd)
    ctl_app.close()
    ctl = ctl_mine
    # plaintext phase
    net_open, app_open = True, True
    while True:
        rl = [p_out_r] + ([sock] if net_open else []) + ([ctl] if ctl else [])
        r = select.select(rl, [], [])[0]
        if ctl in r:
            c = ctl.recv(1)
            if c in (b"y", b"Y"):
                break
            if c:
                st["reason"] = "bad control byte %r" % c
                log_done(111)
                sys.exit(111)
            ctl.close()    # the app declined TLS
            ctl = None
        if sock in r:
            data = sock.recv(65536)
            if data:
                st["in"] += len(data)
                os.write(p_in_w, data)
            else:
                net_open = False
                os.close(p_in_w)
        if p_out_r in r:
            data = os.read(p_out_r, 65536)
            if not data:
                app_open = False
                break
            st["out"] += len(data)
            sock.sendall(data)
    if not app_open or ctl is None:
        finish(proc)
    # TLS: deliver what the app wrote on fd 1, EOF on its fd 0, handshake
    os.set_blocking(p_out_r, False)
    try:
        while True:
            data = os.read(p_out_r, 65536)
            if not data:
                break
            st["out"] += len(data)
            sock.sendall(data)
    except BlockingIOError:
        pass
    if net_open:
        os.close(p_in_w)
    try:
        tlsenv = handshake()
    except (OSError, ssl.SSLError, ConnectionError) as e:
        st["reason"] = str(e).replace('"', "'")
        ctl.close()
        os.close(t_in_w)
        os.close(t_out_r)
        sock.shutdown(socket.SHUT_RDWR)
        proc.wait()
        log_done(111)
        sys.exit(111)
    if c == b"Y":
        ctl.sendall(b"".join(b"%s=%s\0" % (k.encode(), v.encode()) for k, v in tlsenv) + b"\0")
    ctl.close()
    pump(t_in_w, t_out_r, proc)
    finish(proc)


delayed_mode() if delayed else immediate()
