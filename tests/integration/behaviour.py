#!/usr/bin/env python3
"""Behaviour tests for ucspi-tlsd: the real binary, one loopback connection
per test, no super-server.

Each test makes a TCP connection pair on 127.0.0.1, starts ucspi-tlsd with
the accepted socket as fds 0 and 1 (and, for the inetd/xinetd case, 2), its
stderr (the log) in a file, and drives the client side with Python's ssl
module (MemoryBIO, so that the test decides when each byte goes out).  The
applications are the fake ones in fakeapps/; they run as nobody and write
what they saw into a world-writable directory.

Environment:
  UCSPI_TLSD    binary under test (default: $top_builddir/ucspi-tlsd when
                top_builddir is set, else ../../ucspi-tlsd from this file)
  KEEP_WORK=1   keep the scratch directory (it is kept anyway on failure)
  VERBOSE=0     one character per test instead of one line

Needs root (ucspi-tlsd jails its engine) and openssl and certtool (the
fixtures are made fresh for every run; no key is ever committed).  Exits 0
when all tests pass, 1 otherwise, 77 when it cannot run here, 99 on a hard
error.  The last line is "N passed, M failed[, K skipped]".
"""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
IO_TIMEOUT = 5.0      # every socket operation of the client
EXIT_TIMEOUT = 10.0   # ucspi-tlsd must have exited by then
FAST_FAIL = 5.0       # "within a few seconds"
EXIT_USAGE, EXIT_TEMP = 100, 111


def binary_path():
    if os.environ.get('UCSPI_TLSD'):
        return os.path.abspath(os.environ['UCSPI_TLSD'])
    if os.environ.get('top_builddir'):
        return os.path.abspath(os.path.join(os.environ['top_builddir'], 'ucspi-tlsd'))
    return os.path.abspath(os.path.join(HERE, '..', '..', 'ucspi-tlsd'))


BIN = binary_path()


class Work:
    """Scratch directory of one run: fixtures, jail, fake apps, outputs."""
    base = fx = jail = apps = None
    nobody = None
    stdnames = {}   # OpenSSL cipher name -> IANA name
    counter = 0


W = Work()


# ---------------------------------------------------------------- fixtures

def run_tool(*cmd):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(cmd), p.returncode, p.stdout.decode(errors='replace')))
    return p.stdout.decode(errors='replace')


def make_fixtures(d):
    """The certificates and keys of make-fixtures.sh (ECDSA P-256 by
    default, RSA 2048, Ed25519, expired, encrypted, mismatched, garbage)."""
    run_tool('sh', os.path.join(HERE, 'make-fixtures.sh'), d)
    # OpenSSL cipher names -> IANA names, from openssl itself
    for line in run_tool('openssl', 'ciphers', '-stdname', 'ALL:@SECLEVEL=0').splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == '-':
            W.stdnames[parts[2]] = parts[0]


def fx(name):
    return os.path.join(W.fx, name)


def cert_der(name):
    with open(fx(name)) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def iana(openssl_name):
    return W.stdnames.get(openssl_name, openssl_name)


# ---------------------------------------------------------------- clients

def client_context(maximum=None, minimum=None, ciphers=None):
    """A client context; the server's certificate is checked by comparing
    its DER with the fixture (getpeercert(True)), not by a trust store."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class Plain:
    """Plaintext phase of a connection: lines, never reading past what is
    asked for without keeping it (the rest goes to the TLS client)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.raw = b''   # everything received

    def readline(self):
        while b'\n' not in self.buf:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError('no plaintext line within %gs (got %r)' % (IO_TIMEOUT, self.buf))
            if not data:
                raise AssertionError('connection closed in the plaintext phase; got %r' % self.buf)
            self.buf += data
            self.raw += data
        line, _, self.buf = self.buf.partition(b'\n')
        return line + b'\n'

    def read_to_eof(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b''
            if not data:
                break
            self.buf += data
            self.raw += data
        out, self.buf = self.buf, b''
        return out


class BioClient:
    """TLS client over a MemoryBIO pair: the test decides when bytes go out."""

    def __init__(self, sock, ctx, server_hostname=None, initial=b''):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=False, server_hostname=server_hostname)
        self.raw = bytearray(initial)  # all bytes received from the server for TLS
        self.close_notify = False
        self.sock_eof = False
        self.pending = b''
        if initial:
            self.inc.write(initial)

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _recv(self):
        if self.sock_eof:
            self.inc.write_eof()
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b''
        if not data:
            self.sock_eof = True
            self.inc.write_eof()
            return False
        self.raw += data
        self.inc.write(data)
        return True

    def client_hello(self):
        """The first flight, not sent."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def handshake(self):
        """Completes the handshake.  The client's last flight (in TLS 1.3 its
        Finished, which completes the server's handshake) goes out only
        after this returns its time.monotonic(), so that the server cannot
        have finished its handshake before that time."""
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._recv()
        t = time.monotonic()
        self._flush()
        return t

    def send(self, data):
        self.obj.write(data)
        self._flush()

    def read(self):
        """Some plaintext; b'' at the end of the stream."""
        if self.pending:
            data, self.pending = self.pending, b''
            return data
        while True:
            try:
                data = self.obj.read(65536)
                if not data:  # ssl says b'' after a close_notify, raises on a bare EOF
                    self.close_notify = True
                return data
            except ssl.SSLWantReadError:
                self._flush()
                self._recv()
            except ssl.SSLZeroReturnError:
                self.close_notify = True
                return b''
            except ssl.SSLEOFError:
                return b''

    def readline(self):
        buf = b''
        while b'\n' not in buf:
            try:
                data = self.read()
            except TimeoutError:
                raise AssertionError('no line from the server over TLS within %gs (got %r)' % (IO_TIMEOUT, buf))
            if not data:
                raise AssertionError('the TLS stream ended before a whole line; got %r' % buf)
            buf += data
        line, _, self.pending = buf.partition(b'\n')
        return line + b'\n'

    def read_to_eof(self):
        buf = b''
        while True:
            try:
                data = self.read()
            except TimeoutError:
                raise AssertionError('the server did not end the TLS stream within %gs (got %r)' % (IO_TIMEOUT, buf))
            if not data:
                return buf
            buf += data

    def drain_raw(self):
        """After the TLS stream ended: whatever else the socket carries."""
        while not self.sock_eof:
            self._recv()

    def cipher(self):
        return self.obj.cipher()

    def version(self):
        return self.obj.version()


def half_close(cl, sock, close_notify):
    """The client ends its direction (after a close_notify, or with a bare
    FIN) and reads the rest; returns it."""
    if close_notify:
        try:
            cl.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        cl._flush()
    sock.shutdown(socket.SHUT_WR)
    return cl.read_to_eof()


def tls_records(raw):
    """Splits raw bytes into TLS records; returns an error text if they are
    not exactly a sequence of records."""
    i = 0
    while i < len(raw):
        head = raw[i:i + 5]
        if len(head) < 5:
            return 'truncated record header at offset %d: %r' % (i, bytes(raw[i:i + 80]))
        n = int.from_bytes(head[3:5], 'big')
        if head[0] not in (20, 21, 22, 23) or head[1:3] not in (b'\x03\x01', b'\x03\x03') or n > 18432:
            return 'not a TLS record at offset %d: %r' % (i, bytes(raw[i:i + 80]))
        if i + 5 + n > len(raw):
            return 'truncated record at offset %d' % i
        i += 5 + n
    return None


# ---------------------------------------------------------------- the server

DONE_RE = re.compile(r'^ucspi-tlsd\[\d+\]: done (.*)$', re.M)
FIELD_RE = re.compile(r'(\w+)=("[^"]*"|\S*)')


def parse_fields(text):
    return {k: v[1:-1] if v.startswith('"') else v for k, v in FIELD_RE.findall(text)}


def key_secrets(keyfile):
    """The private key's secret bytes: the DER of the key file and the
    first 32 bytes of each secret number, big- and little-endian."""
    with open(keyfile, 'rb') as f:
        pem = f.read()
    import base64
    der = base64.b64decode(b''.join(l for l in pem.splitlines() if not l.startswith(b'-----')))
    text = run_tool('openssl', 'pkey', '-in', keyfile, '-text', '-noout')
    found = {'der': der}
    for name in ('priv', 'privateExponent', 'prime1', 'prime2'):
        m = re.search(r'^%s:\s*\n((?:\s+[0-9a-f:]+\n)+)' % name, text, re.M)
        if m:
            b = bytes.fromhex(re.sub(r'[\s:]', '', m.group(1))).lstrip(b'\0')
            found[name] = b[:32]
            found[name + '-le'] = b[::-1][:32]
    return found


SCAN_LIMIT = 1 << 30   # a larger mapping is a sanitizer's reservation
SCAN_CHUNK = 16 << 20


def scannable(pid):
    """False in a sanitizer build, whose reserved mappings are terabytes."""
    with open('/proc/%d/maps' % pid) as maps:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split('-'))
            if end - start > SCAN_LIMIT:
                return False
    return True


def scan_memory(pid, secrets):
    """Names of the secrets found in the process's readable memory."""
    hits = set()
    overlap = max(len(v) for v in secrets.values())
    with open('/proc/%d/maps' % pid) as maps, open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            fields = line.split()
            if 'r' not in fields[1] or fields[-1] in ('[vvar]', '[vsyscall]'):
                continue
            start, end = (int(x, 16) for x in fields[0].split('-'))
            for pos in range(start, end, SCAN_CHUNK):
                try:
                    mem.seek(pos)
                    data = mem.read(min(SCAN_CHUNK + overlap, end - pos))
                except OSError:
                    break
                hits.update(name for name, value in secrets.items() if value in data)
    return hits


def children(pid):
    with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def proc_uids(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Uid:'):
                return [int(x) for x in line.split()[1:]]
    return []


def proc_state(pid):
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


class Conn:
    """ucspi-tlsd on one side of a loopback connection, the test's socket on
    the other."""

    def __init__(self, argv, env, logpath, fd2_socket=False, initial=b''):
        srv = self.connect()
        self.sock.sendall(initial)  # in ucspi-tlsd's socket before it starts
        self.logpath = logpath
        self.argv = argv
        with open(logpath, 'wb') as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=srv.fileno(), stdout=srv.fileno(),
                                         stderr=srv.fileno() if fd2_socket else log,
                                         env=env, close_fds=True, start_new_session=True)
        srv.close()
        self.rc = None

    def connect(self):
        """The loopback connection: sets sock (the test's end) and the
        ports; returns the server's end."""
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(('127.0.0.1', 0))
        ls.listen(1)
        self.local_port = ls.getsockname()[1]
        self.sock = socket.create_connection(('127.0.0.1', self.local_port), timeout=IO_TIMEOUT)
        self.client_port = self.sock.getsockname()[1]
        srv, _ = ls.accept()
        ls.close()
        return srv

    def wait(self, timeout=EXIT_TIMEOUT):
        if self.rc is None:
            try:
                self.rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError('ucspi-tlsd did not exit within %gs; log:\n%s' % (timeout, self.log()))
            self.elapsed = time.monotonic() - self.started
        return self.rc

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)

    def log(self):
        with open(self.logpath, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        W.counter += 1
        self.out = os.path.join(W.base, 'out', '%03d-%s' % (W.counter, self._testMethodName))
        os.makedirs(self.out)
        os.chmod(self.out, 0o1777)  # the application runs as nobody
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
            c.kill()

    # -- starting

    def env(self, **extra):
        env = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin'}
        env.update(extra)
        return env

    def app(self, name, *args):
        return [os.path.join(W.apps, name), self.out, *args]

    def argv(self, *opts, cert='ecdsa', key=None, certfile=None, keyfile=None, app=()):
        cert_opts = []
        if certfile or cert:
            cert_opts += ['-c', certfile or fx(cert + '.crt')]
        if keyfile or cert:
            cert_opts += ['-k', keyfile or fx((key or cert) + '.key')]
        return [BIN, '-u', 'nobody', '-J', W.jail, *opts, *cert_opts, *app]

    def start(self, argv, env=None, fd2_socket=False, initial=b''):
        c = Conn(argv, env if env is not None else self.env(), os.path.join(self.out, 'log'), fd2_socket, initial)
        self.conns.append(c)
        return c

    # -- results

    def app_state(self):
        path = os.path.join(self.out, 'app.json')
        self.assertTrue(os.path.exists(path), 'the fake application left no app.json')
        with open(path) as f:
            return json.load(f)

    def step(self, state, name):
        for s in state['steps']:
            if s['name'] == name:
                return s
        self.fail('the fake application never got to %r; its steps: %s' % (name, state['steps']))

    def app_env(self):
        with open(os.path.join(self.out, 'env'), 'rb') as f:
            data = f.read()
        env = {}
        for item in data.split(b'\0'):
            if item:
                k, _, v = item.decode('latin-1').partition('=')
                env[k] = v
        return env

    def ran(self):
        return os.path.exists(os.path.join(self.out, 'marker'))

    def finish(self, c, status, timeout=EXIT_TIMEOUT):
        """Waits for ucspi-tlsd; asserts its exit status and that the log has
        exactly one done line with that status; returns (fields, log)."""
        rc = c.wait(timeout)
        log = c.log()
        self.assertEqual(rc, status, 'exit status of ucspi-tlsd; log:\n' + log)
        done = DONE_RE.findall(log)
        self.assertEqual(len(done), 1, 'one "done" line per connection; log:\n' + log)
        fields = parse_fields(done[0])
        for k in ('remote', 'mode', 'proto', 'cipher', 'sni', 'resumed', 'handshake_ms', 'in', 'out', 'status'):
            self.assertIn(k, fields, 'field %s in the done line: %s' % (k, done[0]))
        self.assertEqual(fields['status'], str(status), done[0])
        self.assertEqual(fields['remote'], '127.0.0.1:%d' % c.client_port, done[0])
        self.assertRegex(fields['handshake_ms'], r'^\d+$', done[0])
        return fields, log

    def assert_tls_done(self, fields, log, client, mode, sni='-'):
        self.assertEqual(fields['mode'], mode, log)
        self.assertEqual(fields['proto'], client.version(), log)
        self.assertEqual(fields['cipher'], iana(client.cipher()[0]), log)
        self.assertEqual(fields['resumed'], 'no', log)
        self.assertEqual(fields['sni'].lower(), sni, log)
        self.assertNotIn('reason', fields, log)

    def assert_block(self, block):
        """The 'Y' reply: NAME=value\\0 ... plus one more \\0; returns a dict."""
        self.assertTrue(block.endswith('\0\0'), 'block ends with an entry and one more NUL: %r' % block)
        entries = block[:-2].split('\0')
        names = []
        for e in entries:
            self.assertRegex(e, r'^[A-Z][A-Z0-9_]*=[\x20-\x7e]*$', 'entry %r in block %r' % (e, block))
            names.append(e.partition('=')[0])
        self.assertEqual(len(names), len(set(names)), 'no name twice: %r' % block)
        self.assertEqual(names[0], 'SSL_PROTOCOL', 'SSL_PROTOCOL first: %r' % block)
        return dict(e.partition('=')[::2] for e in entries)

    def assert_ssl_vars(self, env, client, sni=None):
        self.assertEqual(env.get('SSL_PROTOCOL'), client.version(), env)
        self.assertEqual(env.get('SSL_CIPHER'), iana(client.cipher()[0]), env)
        self.assertEqual(env.get('SSL_CIPHER_USEKEYSIZE'), str(client.cipher()[2]), env)
        self.assertEqual(env.get('SSL_SESSION_RESUMED'), 'Initial', env)
        if sni is None:
            self.assertNotIn('SSL_TLS_SNI_SERVERNAME', env)
        else:
            self.assertEqual(env.get('SSL_TLS_SNI_SERVERNAME'), sni)
        for k in env:  # no client certificate was requested
            self.assertFalse(k.startswith('SSL_CLIENT_'), 'unexpected %s' % k)

    def expect(self, fn, what):
        """fn(), with a socket timeout turned into a failure that says what
        did not come."""
        try:
            return fn()
        except TimeoutError:
            self.fail('no %s within %gs; log so far:\n%s' % (what, IO_TIMEOUT, self.conns[-1].log()))

    def assert_served(self, client, cert):
        self.assertEqual(client.obj.getpeercert(True), cert_der(cert + '.crt'), 'the certificate served')


# ---------------------------------------------------------------- 1, 2: immediate mode

class Immediate(Base):

    def run_immediate(self, ctx, server_hostname, env, cert='ecdsa', use_env_files=True):
        """The immediate.sh app: handshake, then one line echoed; exit 7."""
        if use_env_files:
            argv = self.argv('-T', '5', cert=None, app=self.app('immediate.sh'))
            env = dict(env, CERTFILE=fx(cert + '.crt'), KEYFILE=fx(cert + '.key'))
        else:
            argv = self.argv('-T', '5', cert=cert, app=self.app('immediate.sh'))
        c = self.start(argv, env)
        cl = BioClient(c.sock, ctx, server_hostname=server_hostname)
        cl.handshake()
        self.assert_served(cl, cert)
        line = b'hello Mail\r\n'
        cl.send(line)
        self.assertEqual(cl.readline(), b'echo:' + line)
        self.assertEqual(cl.read_to_eof(), b'', 'nothing after the echo')
        c.close()
        fields, log = self.finish(c, 7)
        self.assertEqual(fields['in'], str(len(line)), log)
        self.assertEqual(fields['out'], str(len(b'echo:' + line)), log)
        return c, cl, fields, log

    def assert_app_fds(self, state_text):
        """immediate.sh's list of /proc/$$/fd: exactly 0, 1, 2 besides the
        script file that sh itself holds; 0 and 1 are pipes, not the socket."""
        fds = {}
        for line in state_text.splitlines():
            m = re.match(r'(\d+) -> (.*)$', line)
            if m:
                fds[int(m.group(1))] = m.group(2)
        script = os.path.realpath(os.path.join(W.apps, 'immediate.sh'))
        own = [fd for fd, t in fds.items() if t == script and fd > 2]
        self.assertLessEqual(len(own), 1, state_text)
        for fd in own:
            del fds[fd]
        self.assertEqual(sorted(fds), [0, 1, 2], 'application descriptors:\n' + state_text)
        for fd in (0, 1):
            self.assertTrue(fds[fd].startswith('pipe:'), 'fd %d is %s, not a pipe' % (fd, fds[fd]))

    def test_01_env_fds_tls13_sni(self):
        """1: fds 0,1,2 only; uid nobody; tcp-environ; SSL_*; SNI lower-cased;
        CERTFILE/KEYFILE not passed on; exit 7 -> status 7."""
        c, cl, fields, log = self.run_immediate(client_context(), 'Mail.Test', self.env())
        self.assertTrue(self.ran())
        with open(os.path.join(self.out, 'fds')) as f:
            self.assert_app_fds(f.read())
        with open(os.path.join(self.out, 'uid')) as f:
            self.assertEqual(int(f.read()), W.nobody.pw_uid)
        with open(os.path.join(self.out, 'gid')) as f:
            self.assertEqual(int(f.read()), W.nobody.pw_gid)
        env = self.app_env()
        self.assertEqual(env.get('PROTO'), 'TCP')
        self.assertEqual(env.get('TCPREMOTEIP'), '127.0.0.1')
        self.assertEqual(env.get('TCPREMOTEPORT'), str(c.client_port))
        self.assertEqual(env.get('TCPLOCALIP'), '127.0.0.1')
        self.assertEqual(env.get('TCPLOCALPORT'), str(c.local_port))
        for k in ('TCPREMOTEHOST', 'TCPLOCALHOST', 'TCPREMOTEINFO', 'CERTFILE', 'KEYFILE', 'TLS_UID', 'TLS_GID',
                  'UCSPITLS', 'SSLCTLFD', 'SSLREADFD', 'SSLWRITEFD'):
            self.assertNotIn(k, env)
        self.assertEqual(cl.version(), 'TLSv1.3')
        self.assert_ssl_vars(env, cl, sni='mail.test')
        self.assertEqual(fields['proto'], 'TLSv1.3')
        self.assert_tls_done(fields, log, cl, 'immediate', sni='mail.test')

    def test_01_env_tls12_no_sni(self):
        """1: a TLS 1.2 client without SNI: SSL_PROTOCOL=TLSv1.2, the IANA
        suite name, no SSL_TLS_SNI_SERVERNAME."""
        ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2)
        c, cl, fields, log = self.run_immediate(ctx, None, self.env())
        env = self.app_env()
        self.assertEqual(cl.version(), 'TLSv1.2')
        self.assertTrue(iana(cl.cipher()[0]).startswith('TLS_ECDHE_ECDSA_WITH_'), cl.cipher())
        self.assert_ssl_vars(env, cl, sni=None)
        self.assertEqual(env.get('TCPREMOTEPORT'), str(c.client_port))
        self.assert_tls_done(fields, log, cl, 'immediate', sni='-')

    def test_02_proto_already_set(self):
        """2: PROTO set (tcpserver style): the UCSPI variables are left alone."""
        env = self.env(PROTO='TCP', TCPREMOTEIP='192.0.2.7')
        c, cl, fields, log = self.run_immediate(client_context(), 'mail.test', env)
        app = self.app_env()
        self.assertEqual(app.get('PROTO'), 'TCP')
        self.assertEqual(app.get('TCPREMOTEIP'), '192.0.2.7')
        for k in ('TCPREMOTEPORT', 'TCPLOCALIP', 'TCPLOCALPORT'):
            self.assertNotIn(k, app, 'left alone when PROTO is set')
        self.assertEqual(app.get('SSL_PROTOCOL'), 'TLSv1.3')

    def half_close(self, maximum, close_notify):
        """The client sends its last line, then closes its direction: with
        or without close_notify, the reply still reaches it (SPEC 7)."""
        ctx = client_context(maximum=maximum)
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')), self.env())
        cl = BioClient(c.sock, ctx, server_hostname='mail.test')
        cl.handshake()
        line = b'QUIT\r\n'
        cl.send(line)
        self.assertEqual(half_close(cl, c.sock, close_notify), b'echo:' + line)
        c.close()
        fields, log = self.finish(c, 7)
        self.assertNotIn('reason', fields, log)

    def test_02_half_close_without_close_notify_tls13(self):
        self.half_close(ssl.TLSVersion.TLSv1_3, close_notify=False)

    def test_02_half_close_without_close_notify_tls12(self):
        self.half_close(ssl.TLSVersion.TLSv1_2, close_notify=False)

    def test_02_half_close_with_close_notify_tls13(self):
        self.half_close(ssl.TLSVersion.TLSv1_3, close_notify=True)

    def test_02_engine_stopped_and_continued(self):
        """2c: SIGSTOP and SIGCONT to the engine (an administrator pausing
        or tracing a session) restart its interrupted poll: allowed by the
        seccomp policy, the session goes on."""
        c = self.start(self.argv('-T', '5', app=self.app('immediate.sh')), self.env())
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        engine = [p for p in children(c.proc.pid) if proc_uids(p)[0] >= 0x70000000]
        self.assertEqual(len(engine), 1, 'one engine child: %s' % children(c.proc.pid))
        os.kill(engine[0], signal.SIGSTOP)
        deadline = time.monotonic() + IO_TIMEOUT
        while proc_state(engine[0]) != 'T' and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the process state: no event to wait on
        self.assertEqual(proc_state(engine[0]), 'T')
        os.kill(engine[0], signal.SIGCONT)
        line = b'still there\r\n'
        cl.send(line)
        self.assertEqual(cl.readline(), b'echo:' + line)
        c.close()
        fields, log = self.finish(c, 7)
        self.assertNotIn('reason', fields, log)

    def test_02_inherited_ssl_variables_removed(self):
        """2b: SSL_* variables in ucspi-tlsd's own environment never reach
        the application (some servers grant relaying on SSL_CLIENT_S_DN)."""
        env = self.env(SSL_CLIENT_S_DN='CN=forged', SSL_CLIENT_VERIFY='SUCCESS', SSL_PROTOCOL='forged')
        self.run_immediate(client_context(), 'mail.test', env)
        app = self.app_env()
        self.assertNotIn('SSL_CLIENT_S_DN', app)
        self.assertNotIn('SSL_CLIENT_VERIFY', app)
        self.assertEqual(app.get('SSL_PROTOCOL'), 'TLSv1.3')


def _keytype_test(cert, maximum):
    def test(self):
        ctx = client_context(maximum=maximum)
        c, cl, fields, log = self.run_immediate(ctx, 'mail.test', self.env(), cert=cert, use_env_files=False)
        want = 'TLSv1.2' if maximum == ssl.TLSVersion.TLSv1_2 else 'TLSv1.3'
        self.assertEqual(cl.version(), want)
        self.assert_ssl_vars(self.app_env(), cl, sni='mail.test')
        self.assert_tls_done(fields, log, cl, 'immediate', sni='mail.test')
    test.__doc__ = '1: %s key, %s client: handshake through the key keeper, env, status' % (
        cert, 'TLS 1.2' if maximum else 'TLS 1.3')
    return test


for _cert in ('ecdsa', 'rsa', 'ed25519'):
    for _max, _v in ((None, '13'), (ssl.TLSVersion.TLSv1_2, '12')):
        setattr(Immediate, 'test_01_key_%s_tls%s' % (_cert, _v), _keytype_test(_cert, _max))


# ---------------------------------------------------------------- 3, 4, 5, 11: delayed mode

class Delayed(Base):

    def start_delayed(self, action, cert='ecdsa', fd2_socket=False, extra=()):
        c = self.start(self.argv('-n', '-T', '5', *extra, cert=cert, app=self.app('ucspitls.py', action)),
                       fd2_socket=fd2_socket)
        return c, Plain(c.sock)

    def run_command(self, cmd):
        """3: 'Y' or 'y' after the 220; one line round-trips encrypted."""
        c, pl = self.start_delayed(cmd)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='Mail.Test', initial=pl.buf)
        t_release = cl.handshake()
        self.assert_served(cl, 'ecdsa')
        line = b'EHLO client.test\r\n'
        cl.send(line)
        self.assertEqual(cl.readline(), b'250 EHLO client.test\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 0)
        self.assert_tls_done(fields, log, cl, 'delayed', sni='mail.test')
        self.assertEqual(fields['proto'], 'TLSv1.3')
        self.assertEqual(fields['in'], str(len(line)), log)
        self.assertEqual(fields['out'], str(len(b'220 ready\r\n250 EHLO client.test\r\n')), log)

        st = self.app_state()
        fds = st['fds']
        self.assertEqual(sorted(map(int, fds)), [0, 1, 2, 3, 4, 5], 'application descriptors: %s' % fds)
        self.assertEqual(fds['3']['kind'], 'socket', fds)
        self.assertEqual((fds['4']['kind'], fds['4']['acc']), ('fifo', 'r'), fds)
        self.assertEqual((fds['5']['kind'], fds['5']['acc']), ('fifo', 'w'), fds)
        for fd in ('0', '1'):
            self.assertNotEqual(fds[fd]['kind'], 'socket', 'fd %s must not be the network socket' % fd)
        env = st['env']
        self.assertEqual((env.get('SSLCTLFD'), env.get('SSLREADFD'), env.get('SSLWRITEFD')), ('3', '4', '5'))
        self.assertIn('UCSPITLS', env)
        self.assertEqual(env['UCSPITLS'], '')
        self.assertEqual(env.get('TCPREMOTEPORT'), str(c.client_port))
        self.assertEqual(st['uid'], W.nobody.pw_uid)
        for k in env:
            self.assertFalse(k.startswith('SSL_'), 'no SSL_* in the environment in delayed mode: %s' % k)

        ctl = self.step(st, 'ctl_done')
        self.assertIsNotNone(ctl['t_eof'], 'EOF on SSLCTLFD')
        self.assertGreater(ctl['t_eof'], t_release, 'SSLCTLFD closed only after the handshake')
        if cmd == 'y':
            self.assertEqual(ctl['block'], '', '"y" gets no reply')
        else:
            self.assertIsNotNone(ctl['t_first'])
            self.assertGreater(ctl['t_first'], t_release, 'the "Y" reply comes after the handshake')
            block = self.assert_block(ctl['block'])
            self.assert_ssl_vars(block, cl, sni='mail.test')
        after = self.step(st, 'fd0_after')
        self.assertEqual((after['data'], after['eof']), ('', True), 'fd 0 reads EOF once TLS started')
        self.assertEqual(self.step(st, 'tls_line')['line'], line.decode())

    def test_03_command_Y(self):
        """3: delayed mode, 'Y': fds, env, the well-formed reply block after
        the handshake, an encrypted round trip, status 0."""
        self.run_command('Y')

    def test_03_command_y(self):
        """3: delayed mode, 'y': EOF on SSLCTLFD with no bytes, after the handshake."""
        self.run_command('y')

    def test_04_declined(self):
        """4: the application closes SSLCTLFD without a command: plaintext
        goes on; the exit status is the application's; proto=none."""
        c, pl = self.start_delayed('decline')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        lines = [b'EHLO a\r\n', b'MAIL FROM:<a@b>\r\n', b'QUIT\r\n']
        for line in lines:
            c.sock.sendall(line)
            self.assertEqual(pl.readline(), b'echo:' + line)
        self.assertEqual(pl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 5)
        self.assertEqual((fields['mode'], fields['proto'], fields['cipher']), ('delayed', 'none', '-'), log)
        self.assertNotIn('reason', fields, log)
        self.assertEqual(fields['in'], str(sum(map(len, lines))), log)
        self.assertEqual(fields['out'], str(len(b'220 ready\r\n') + sum(len(b'echo:' + x) for x in lines)), log)
        self.assertEqual(self.step(self.app_state(), 'end')['lines'], [x.decode() for x in lines])

    def key_absent(self, cert):
        """12: the private key is never in the engine's or the application's
        memory, and not in the parent's once the handshake is done."""
        secrets = key_secrets(fx(cert + '.key'))
        c, pl = self.start_delayed('Y', cert=cert)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        parent = c.proc.pid
        kids = children(parent)
        self.assertEqual(len(kids), 2, 'engine and application: %s' % kids)
        if not scannable(parent):
            c.close()
            c.kill()
            self.skipTest('sanitizer build: its reserved address space is too large to scan')
        before = {pid: scan_memory(pid, secrets) for pid in [parent] + kids}
        self.assertTrue(before[parent], 'the scan finds the key where it is (the parent, before the handshake)')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()  # the parent wiped the key before it answered the one signature
        after = {pid: scan_memory(pid, secrets) for pid in [parent] + kids}
        for pid in kids:
            self.assertEqual(before[pid] | after[pid], set(), 'key material in child %d' % pid)
        self.assertEqual(after[parent], set(), 'key material left in the parent after the handshake')
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 NOOP\r\n')
        c.close()
        self.finish(c, 0)

    def test_12_key_absent_ecdsa(self):
        self.key_absent('ecdsa')

    def test_12_key_absent_ed25519(self):
        self.key_absent('ed25519')

    def test_12_key_absent_rsa(self):
        self.key_absent('rsa')

    def test_04_declined_line_starting_with_tls_byte(self):
        """4b: a plaintext line that looks like a TLS record is held back
        only while TLS may still start: once the application declined, it
        is the application's like any other line."""
        c, pl = self.start_delayed('decline')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        lines = [b'EHLO a\r\n', b'\x16\x03\x01 binary\r\n', b'QUIT\r\n']
        for line in lines:
            c.sock.sendall(line)
            self.assertEqual(pl.readline(), b'echo:' + line)
        c.close()
        self.finish(c, 5)

    def test_04_held_record_released_after_handshake_timeout(self):
        """4c: a TLS-looking line with no command from the application is
        handed to the application after -T seconds: never a hang."""
        c, pl = self.start_delayed('starttls', extra=('-T', '1'))
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        junk = b'\x16\x03\x01 not a hello\r\n'
        c.sock.sendall(junk)
        fields, log = self.finish(c, 91)  # the application: not STARTTLS
        self.assertEqual(self.step(self.app_state(), 'plain_line')['line'], junk.decode('latin-1'))

    def test_04_held_record_then_peer_eof_ends_promptly(self):
        """4d: while bytes are held, the client's FIN still ends the
        session (well before -T)."""
        c, pl = self.start_delayed('starttls', extra=('-T', '60'))
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        c.sock.sendall(b'\x16\x03\x01')
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(pl.read_to_eof(), b'')
        c.close()
        self.finish(c, 91, timeout=5)

    def test_05_second_command(self):
        """5b: 'yy' on SSLCTLFD: one handshake, then a deterministic end:
        logged as a protocol error, exit 111, nothing reaches the app."""
        c, pl = self.start_delayed('yy')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        try:
            cl.handshake()
            cl.send(b'NOOP\r\n')
        except (ssl.SSLError, OSError):
            pass  # the server may close before or after our Finished
        c.close()
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertRegex(log, 'second command', log)
        self.assertEqual(self.step(self.app_state(), 'end')['tls'], '', 'nothing decrypted reached the app')

    def test_05_bad_command(self):
        """5: 'x' on SSLCTLFD: the connection is closed, exit 111, logged."""
        c, pl = self.start_delayed('bad')
        got = pl.read_to_eof()
        self.assertTrue(b'220 ready\r\n'.startswith(got), 'at most the 220 before the close: %r' % got)
        c.close()
        fields, log = self.finish(c, EXIT_TEMP)
        self.assertEqual(fields['proto'], 'none', log)
        self.assertRegex(log, r'(?i)protocol error', 'the log says why')
        self.assertIn('reason', fields, log)

    def test_11_pipelined_plaintext_dropped(self):
        """11: 'STARTTLS\\r\\nMAIL FROM:<evil>\\r\\n' in one write: the
        application's first line over TLS is the client's first encrypted one."""
        c, pl = self.start_delayed('starttls')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        c.sock.sendall(b'STARTTLS\r\nMAIL FROM:<evil>\r\n')
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')
        self.assertEqual(pl.buf, b'', 'nothing after the 220 before the ClientHello')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        st = self.noop_over_tls(c, cl)
        self.assertNotIn('evil', self.step(st, 'end')['tls_rest'])

    def noop_over_tls(self, c, cl):
        """The 'starttls' app's session after the handshake: an encrypted
        NOOP is its first line over TLS and gets one 250; returns its state."""
        cl.send(b'NOOP\r\n')
        self.assertEqual(self.expect(cl.readline, 'answer to the encrypted NOOP'), b'250 ok\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 0)
        self.assert_tls_done(fields, log, cl, 'delayed', sni='mail.test')
        st = self.app_state()
        self.assertEqual(self.step(st, 'plain_line')['line'], 'STARTTLS\r\n')
        self.assertEqual(self.step(st, 'tls_line')['line'], 'NOOP\r\n', 'the first line over TLS')
        return st

    def test_11_clienthello_held_while_the_220_goes_out(self):
        """11b: the ClientHello arrives with STARTTLS and is held; the
        engine then relays the application's 220 (a write on the socket
        while holding) before the command byte comes: the held hello must
        survive that and start the handshake."""
        os.mkfifo(os.path.join(self.out, 'go'), 0o666)
        c, pl = self.start_delayed('starttls-go')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        c.sock.sendall(b'STARTTLS\r\n' + cl.client_hello())
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')  # relayed while holding
        with open(os.path.join(self.out, 'go'), 'wb') as go:
            go.write(b'!')
        cl.handshake()
        self.noop_over_tls(c, cl)

    def test_11_clienthello_with_starttls(self):
        """11: the ClientHello in the same write as STARTTLS (before the 220):
        the 220 arrives in plaintext, then the handshake succeeds."""
        c, pl = self.start_delayed('starttls')
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        hello = cl.client_hello()
        self.assertEqual(hello[:1], b'\x16')
        c.sock.sendall(b'STARTTLS\r\n' + hello)
        self.assertEqual(pl.readline(), b'220 go ahead\r\n')
        if pl.buf:
            cl.raw += pl.buf
            cl.inc.write(pl.buf)
            pl.buf = b''
        cl.handshake()
        self.assertEqual(cl.version(), 'TLSv1.3')
        self.noop_over_tls(c, cl)


# ---------------------------------------------------------------- 6: handshake failures

class HandshakeFailure(Base):

    def expect_failure(self, c):
        fields, log = self.finish(c, EXIT_TEMP, timeout=FAST_FAIL)
        self.assertLess(c.elapsed, FAST_FAIL)
        self.assertEqual((fields['mode'], fields['proto']), ('immediate', 'none'), log)
        self.assertTrue(fields.get('reason'), 'a reason in the done line: ' + log)
        self.assertFalse(self.ran(), 'the application must never start')
        return fields, log

    def read_all(self, sock):
        data = b''
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def no_sigalgs_hello(self, cert, suites):
        """A TLS 1.2 ClientHello without signature_algorithms (RFC 5246
        7.4.1.4.1: the server may then assume SHA-1): a clean handshake
        failure with an alert, never a SHA-1 signing request to the parent."""
        groups = b'\x00\x0a\x00\x04\x00\x02\x00\x17'   # secp256r1
        exts = groups + b'\x00\x0b\x00\x02\x01\x00' + b'\x00\x17\x00\x00'
        body = (b'\x03\x03' + os.urandom(32) + b'\x00' + struct.pack('>H', len(suites)) + suites +
                b'\x01\x00' + struct.pack('>H', len(exts)) + exts)
        hs = b'\x01' + struct.pack('>I', len(body))[1:] + body
        c = self.start(self.argv(cert=cert, app=self.app('immediate.sh')))
        c.sock.sendall(b'\x16\x03\x01' + struct.pack('>H', len(hs)) + hs)
        got = self.read_all(c.sock)
        self.assertTrue(got.startswith(b'\x15'), 'an alert goes back: %r' % got[:8])
        fields, log = self.expect_failure(c)
        self.assertNotIn('signing request', log)

    def test_06_silent_client_hint_and_quiet_logs_failures(self):
        """A client that sends nothing on an immediate-TLS port (a STARTTLS
        client, -n forgotten): the reason says so, and -q still logs it."""
        c = self.start(self.argv('-q', '-T', '1', app=self.app('immediate.sh')))
        self.assertEqual(self.read_all(c.sock), b'')
        c.close()
        fields, log = self.expect_failure(c)
        self.assertIn('needs -n', fields.get('reason', ''), log)

    def test_06_rsa_key_exchange_removed_from_any_priority(self):
        """-p NORMAL (which has RSA key exchange) and a client that offers
        only RSA key exchange: refused at the ServerHello, never a late
        'decryption failed'; the parent is asked for nothing."""
        c = self.start(self.argv('-p', 'NORMAL', cert='rsa', app=self.app('immediate.sh')))
        ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers='AES128-GCM-SHA256')
        cl = BioClient(c.sock, ctx, server_hostname='mail.test')
        with self.assertRaises(ssl.SSLError):
            cl.handshake()
        c.close()
        fields, log = self.expect_failure(c)
        self.assertNotRegex(log, '(?i)decrypt|signing request')

    def test_06_no_signature_algorithms_ecdsa(self):
        self.no_sigalgs_hello('ecdsa', b'\xc0\x2b\xc0\x2c')

    def test_06_no_signature_algorithms_rsa(self):
        self.no_sigalgs_hello('rsa', b'\xc0\x2f\xc0\x30')

    def test_06_plaintext_instead_of_clienthello(self):
        """6: 'EHLO x' instead of a ClientHello (default -T): 111 at once,
        proto=none and a reason; the application never ran."""
        c = self.start(self.argv(app=self.app('immediate.sh')))
        c.sock.sendall(b'EHLO x\r\n')
        got = self.read_all(c.sock)
        self.assertNotIn(b'echo', got)
        err = tls_records(got)
        self.assertIsNone(err, 'at most a TLS alert goes back: ' + str(err))
        c.close()
        self.expect_failure(c)

    def test_06_tls11_client(self):
        """6: a TLS 1.1-only client: refused, 111, proto=none, a reason."""
        ctx = client_context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1,
                             ciphers='DEFAULT:@SECLEVEL=0')
        c = self.start(self.argv(app=self.app('immediate.sh')))
        cl = BioClient(c.sock, ctx)
        hello = cl.client_hello()
        self.assertEqual((hello[0], hello[5], hello[9:11]), (0x16, 1, b'\x03\x02'), 'a TLS 1.1 ClientHello')
        c.sock.sendall(hello)
        with self.assertRaises(ssl.SSLError):
            cl.handshake()
        c.close()
        fields, log = self.expect_failure(c)
        self.assertRegex(fields['reason'], r'(?i)version|protocol', log)


    def test_06_handshake_timeout_immediate(self):
        """6: a client that never sends a ClientHello, -T 1: 111 after about
        a second, reason says timeout, the application never ran."""
        c = self.start(self.argv('-T', '1', app=self.app('immediate.sh')))
        try:
            got = c.sock.recv(65536)
        except ConnectionResetError:
            got = b''
        self.assertEqual(got, b'', 'the connection is closed with nothing sent')
        c.close()
        fields, log = self.expect_failure(c)
        self.assertRegex(fields['reason'], r'(?i)time', log)
        self.assertGreaterEqual(c.elapsed, 0.9, 'the timeout is -T 1, not less')

    def test_06_handshake_timeout_delayed(self):
        """6: delayed mode, 'Y' but the client never starts TLS, -T 1:
        nothing on SSLCTLFD, EOF on SSLCTLFD and SSLREADFD, the socket is
        closed, the reason logged; the status is the application's (SPEC
        section 7: 111 is for a handshake failure in immediate mode; the
        fake application exits 4 when SSLREADFD is at EOF)."""
        c = self.start(self.argv('-n', '-T', '1', app=self.app('ucspitls.py', 'Y')))
        pl = Plain(c.sock)
        self.assertEqual(pl.readline(), b'220 ready\r\n')
        self.assertEqual(pl.read_to_eof(), b'', 'nothing after the 220; then the close')
        c.close()
        fields, log = self.finish(c, 4, timeout=FAST_FAIL)
        self.assertEqual((fields['mode'], fields['proto']), ('delayed', 'none'), log)
        self.assertRegex(fields.get('reason', ''), r'(?i)time', log)
        st = self.app_state()
        ctl = self.step(st, 'ctl_done')
        self.assertEqual(ctl['block'], '', 'nothing written on SSLCTLFD after a failed handshake')
        self.assertIsNotNone(ctl['t_eof'], 'SSLCTLFD reaches EOF')
        self.assertEqual(self.step(st, 'tls_line')['line'], '', 'SSLREADFD reaches EOF')


# ---------------------------------------------------------------- 7: start-up errors

STARTUP = {
    # name: (options, file named in the message, pattern of the problem)
    'missing_key': (lambda: dict(cert='ecdsa', keyfile=fx('nonexistent.key')), lambda: fx('nonexistent.key'),
                    r'(?i)no such file|not found|does not exist|missing'),
    'mismatched_key': (lambda: dict(cert='ecdsa', keyfile=fx('other.key')), lambda: fx('other.key'),
                       r'(?i)match'),
    'missing_cert': (lambda: dict(certfile=fx('nonexistent.crt'), keyfile=fx('ecdsa.key'), cert=None),
                     lambda: fx('nonexistent.crt'),
                     r'(?i)no such file|not found|does not exist|missing|cannot (read|open)'),
    'garbage_cert': (lambda: dict(certfile=fx('garbage.crt'), keyfile=fx('ecdsa.key'), cert=None),
                     lambda: fx('garbage.crt'), r'[A-Za-z]{3,}'),
    'directory_cert': (lambda: dict(certfile=fx('directory.crt'), keyfile=fx('ecdsa.key'), cert=None),
                       lambda: fx('directory.crt'), r'[A-Za-z]{3,}'),
    'encrypted_key': (lambda: dict(cert='enc'), lambda: fx('enc.key'), r'(?i)encrypt|passphrase|password'),
    'long_chain': (lambda: dict(certfile=fx('chain17.crt'), keyfile=fx('ecdsa.key'), cert=None),
                   lambda: fx('chain17.crt'), r'more than 16 certificates'),
    'fifo_key': (lambda: dict(cert='ecdsa', keyfile=fx('fifo.key')), lambda: fx('fifo.key'), r'not a regular file'),
}


class StartupError(Base):

    def run_startup(self, name, delayed):
        opts, path, problem = STARTUP[name]
        mode = ('-n',) if delayed else ()
        app = self.app('ucspitls.py', 'Y') if delayed else self.app('immediate.sh')
        c = self.start(self.argv(*mode, '-T', '5', app=app, **opts()))
        try:
            got = c.sock.recv(65536)
        except ConnectionResetError:
            got = b'(connection reset)'
        self.assertEqual(got, b'', 'the client reads EOF and nothing else')
        c.close()
        rc = c.wait()
        log = c.log()
        self.assertEqual(rc, EXIT_TEMP, log)
        lines = [ln for ln in log.splitlines() if path() in ln]
        self.assertTrue(lines, 'an error line naming %s; log:\n%s' % (path(), log))
        after = [ln.split(path(), 1)[1] for ln in lines]
        self.assertTrue(any(re.search(problem, a) for a in after),
                        'the problem in words (%s) after the file name; log:\n%s' % (problem, log))
        self.assertFalse(self.ran(), 'the application must never start')
        done = DONE_RE.findall(log)
        self.assertEqual(len(done), 1, 'one done line for the connection: ' + log)
        f = parse_fields(done[0])
        self.assertEqual((f.get('proto'), f.get('status')), ('none', str(EXIT_TEMP)), log)


def _startup_test(name, delayed):
    def test(self):
        self.run_startup(name, delayed)
    test.__doc__ = '7: %s, %s mode: exit 111, the file and the problem logged, no byte sent, no app' % (
        name.replace('_', ' '), 'delayed' if delayed else 'immediate')
    return test


for _name in STARTUP:
    for _delayed in (False, True):
        setattr(StartupError, 'test_07_%s_%s' % (_name, 'delayed' if _delayed else 'immediate'),
                _startup_test(_name, _delayed))


# ---------------------------------------------------------------- 8: usage errors

USAGE = {
    'no_program': ([], r'(?i)program'),
    'T_zero': (['-T', '0'], r'-T'),
    'T_not_a_number': (['-T', 'abc'], r'-T'),
    'unknown_option': (['-Z'], r'(?i)unknown option|-Z'),
    'no_such_user': (['-u', 'nosuchuser'], r'nosuchuser'),
    'engine_as_root': (['-j', 'root'], r'engine must not run as root'),
    'app_as_root': (['-u', 'root'], r'application must not run as root'),
    'jail_not_empty': (['-J', '/etc'], r'-J /etc: .*not empty'),
}


class UsageError(Base):

    def run_usage(self, name):
        opts, pattern = USAGE[name]
        argv = [BIN, '-u', 'nobody', '-J', W.jail, '-c', fx('ecdsa.crt'), '-k', fx('ecdsa.key'), *opts]
        if name != 'no_program':
            argv += self.app('immediate.sh')
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env(), timeout=EXIT_TIMEOUT)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, EXIT_USAGE, err)
        self.assertEqual(p.stdout, b'')
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, 'a one-line message; stderr:\n' + err)
        self.assertRegex(lines[0], pattern)
        self.assertFalse(self.ran())


def _usage_test(name):
    def test(self):
        self.run_usage(name)
    test.__doc__ = '8: usage error (%s): exit 100, one line on stderr' % name.replace('_', ' ')
    return test


for _name in USAGE:
    setattr(UsageError, 'test_08_%s' % _name, _usage_test(_name))


# ---------------------------------------------------------------- 9: fd 2 is the socket

class Fd2Socket(Base):

    def test_09_immediate(self):
        """9: fd 2 = the socket, expired certificate, -v: the first byte from
        the server is a TLS record and only TLS records ever come."""
        argv = self.argv('-v', '-T', '5', cert='expired', app=self.app('immediate.sh'))
        c = self.start(argv, fd2_socket=True)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        c.sock.sendall(cl.client_hello())
        first = c.sock.recv(65536)
        self.assertTrue(first, 'the server answers')
        self.assertEqual(first[:1], b'\x16', 'the first byte is a TLS handshake record: %r' % first[:80])
        cl.raw += first
        cl.inc.write(first)
        cl.handshake()
        self.assert_served(cl, 'expired')
        cl.send(b'ping\r\n')
        self.assertEqual(cl.readline(), b'echo:ping\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        rc = c.wait()
        cl.drain_raw()  # everything until the server's side is gone
        c.close()
        self.assertEqual(rc, 7)
        err = tls_records(cl.raw)
        self.assertIsNone(err, 'only TLS records on the wire: %s' % err)
        self.assertTrue(self.ran())
        with open(os.path.join(self.out, 'fds')) as f:
            self.assertIn('2 -> /dev/null', f.read().splitlines(), 'the application gets /dev/null as fd 2')

    def test_09_expired_warning_logged(self):
        """9 (precondition): with stderr a log file, the expired certificate
        is served with a warning that names the file."""
        argv = self.argv('-T', '5', cert='expired', app=self.app('immediate.sh'))
        c = self.start(argv)
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        self.assert_served(cl, 'expired')
        cl.send(b'ping\r\n')
        self.assertEqual(cl.readline(), b'echo:ping\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 7)
        self.assert_tls_done(fields, log, cl, 'immediate', sni='mail.test')
        warn = [ln for ln in log.splitlines() if fx('expired.crt') in ln]
        self.assertTrue(warn and re.search(r'(?i)expired', warn[0]), 'a warning names the file; log:\n' + log)

    def test_09_delayed(self):
        """9: fd 2 = the socket, delayed mode, expired certificate, -v: the
        first bytes are the application's 220, then only TLS records."""
        c = self.start(self.argv('-n', '-v', '-T', '5', cert='expired', app=self.app('ucspitls.py', 'Y')),
                       fd2_socket=True)
        pl = Plain(c.sock)
        line = pl.readline()
        self.assertEqual(pl.raw[:4], b'220 ', 'the first bytes: %r' % pl.raw[:80])
        self.assertEqual(line, b'220 ready\r\n')
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test', initial=pl.buf)
        cl.handshake()
        cl.send(b'NOOP\r\n')
        self.assertEqual(cl.readline(), b'250 NOOP\r\n')
        self.assertEqual(cl.read_to_eof(), b'')
        c.sock.shutdown(socket.SHUT_WR)
        rc = c.wait()
        cl.drain_raw()
        c.close()
        self.assertEqual(rc, 0)
        err = tls_records(cl.raw)
        self.assertIsNone(err, 'only TLS records after the 220: %s' % err)
        st = self.app_state()
        self.assertEqual(st['fds']['2']['target'], '/dev/null', 'the application gets /dev/null as fd 2')


# ---------------------------------------------------------------- 10: killed by a signal

class Signal(Base):

    def test_10_immediate(self):
        """10: the application kills itself with SIGTERM: exit 143, status=143."""
        c = self.start(self.argv('-T', '5', app=self.app('killself.sh')))
        cl = BioClient(c.sock, client_context(), server_hostname='mail.test')
        cl.handshake()
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 128 + signal.SIGTERM)
        self.assertEqual(fields['proto'], 'TLSv1.3', log)
        self.assertTrue(self.ran())
        self.assertNotIn('did not kill', log)

    def test_10_delayed(self):
        """10: the same in delayed mode."""
        c = self.start(self.argv('-n', '-T', '5', app=self.app('killself.sh')))
        self.assertEqual(Plain(c.sock).read_to_eof(), b'')
        c.close()
        fields, log = self.finish(c, 128 + signal.SIGTERM)
        self.assertEqual((fields['mode'], fields['proto']), ('delayed', 'none'), log)
        self.assertTrue(self.ran())


# ---------------------------------------------------------------- main

def setup_work():
    W.base = tempfile.mkdtemp(prefix='ucspi-tlsd-behaviour.')
    os.chmod(W.base, 0o755)  # nobody must reach the apps and the output dirs
    W.fx = os.path.join(W.base, 'fx')
    W.jail = os.path.join(W.base, 'jail')
    W.apps = os.path.join(W.base, 'apps')
    os.mkdir(W.fx, 0o700)
    os.mkdir(W.jail, 0o755)
    os.chmod(W.jail, 0o755)
    os.mkdir(os.path.join(W.base, 'out'), 0o755)
    # a copy, so that nobody can run them wherever the source tree is
    shutil.copytree(os.path.join(HERE, 'fakeapps'), W.apps)
    os.chmod(W.apps, 0o755)
    for name in os.listdir(W.apps):
        os.chmod(os.path.join(W.apps, name), 0o755)
    make_fixtures(W.fx)


def main(module=None):
    """Runs the tests of module (default: this one's)."""
    module = module or sys.modules[__name__]

    def skip(why):
        print('SKIP: ' + why)
        print('0 passed, 0 failed, 1 skipped')
        sys.exit(77)

    if os.geteuid() != 0:
        skip('needs root (ucspi-tlsd jails its engine)')
    if not os.access(BIN, os.X_OK):
        skip('no ucspi-tlsd binary at %s (set UCSPI_TLSD)' % BIN)
    for tool in ('openssl', 'certtool'):
        if not shutil.which(tool):
            skip(tool + ' is not installed (needed for the fixtures)')
    try:
        W.nobody = pwd.getpwnam('nobody')
    except KeyError:
        skip('no user nobody')
    try:
        setup_work()
    except Exception as e:  # noqa: BLE001
        print('ERROR: cannot make the fixtures: %s' % e)
        sys.exit(99)
    print('# ucspi-tlsd: %s' % BIN)
    print('# scratch: %s' % W.base)

    loader = unittest.TestLoader()
    names = sys.argv[1:]
    if names:
        suite = loader.loadTestsFromNames(names, module)
    else:
        suite = loader.loadTestsFromModule(module)
    verbosity = 2 if os.environ.get('VERBOSE', '1') != '0' else 1
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    if failed or os.environ.get('KEEP_WORK') == '1':
        print('# scratch directory kept: %s' % W.base)
    else:
        shutil.rmtree(W.base, ignore_errors=True)
    summary = '%d passed, %d failed' % (passed, failed)
    if skipped:
        summary += ', %d skipped' % skipped
    print(summary)
    sys.exit(0 if failed == 0 else 1)


if __name__ == '__main__':
    main()
