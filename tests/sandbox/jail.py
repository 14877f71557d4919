#!/usr/bin/env python3
"""The jail, proven on live sessions (issue 3 (b), (d), the uid rules and
the jail directory).

Runs the real ucspi-tlsd on loopback connections with the harness of
tests/integration/behaviour.py (same environment variables, exit codes and
fixtures) and looks at its processes from outside:
  - /proc of the engine and of the parent during a session: seccomp mode 2,
    no_new_privs, their own non-root uids, capabilities, not dumpable, the
    engine's root directory, descriptors and rlimits;
  - two concurrent sessions: four helper processes, four distinct uids;
  - the engine dies with its parent, whatever its uid;
  - strace -f over whole sessions (both modes, TLS 1.2 and 1.3, RSA, ECDSA
    and Ed25519): no open/openat/execve/socket/connect in the engine or the
    parent after each loaded its seccomp filter.
The key scans of /proc/<pid>/mem (issue 3 (c)) are behaviour.py's
test_12_key_absent_* tests.
"""
import os
import re
import select
import shutil
import signal
import ssl
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import behaviour as B  # noqa: E402
from cases import poll_until  # noqa: E402

UID_BASE = 0x70000000
CAP_KILL = 1 << 5
FORBIDDEN = ('open', 'openat', 'openat2', 'execve', 'execveat', 'socket', 'connect')


def status(pid):
    fields = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            fields[k] = v.split()
    return fields


def limits(pid):
    """{'Max open files': (soft, hard), ...}"""
    out = {}
    with open('/proc/%d/limits' % pid) as f:
        next(f)
        for line in f:
            m = re.match(r'(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)', line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def fd_targets(pid):
    d = '/proc/%d/fd' % pid
    return {int(fd): os.readlink(os.path.join(d, fd)) for fd in os.listdir(d)}


def app_started(pid):
    try:
        return os.path.realpath('/proc/%d/exe' % pid) != os.path.realpath(B.BIN)
    except OSError:
        return False


def helpers(c):
    """(parent, engine, application) of a live connection after its
    handshake in immediate mode (the engine is jailed by then; wait until
    the application is exec'd, so that the engine has also closed the pipe
    that started it)."""
    parent = c.proc.pid
    kids = B.children(parent)
    engine = [p for p in kids if B.proc_uids(p)[0] >= UID_BASE]
    app = [p for p in kids if p not in engine]
    assert len(engine) == 1 and len(app) == 1, 'children of %d: %s' % (parent, kids)
    poll_until(lambda: app_started(app[0]), 'the application to start')
    return parent, engine[0], app[0]


class Confined(B.Base):

    def live_immediate(self, cert='ecdsa'):
        c = self.start(self.argv('-T', '5', cert=cert, app=self.app('immediate.sh')), self.env())
        cl = B.BioClient(c.sock, B.client_context(), server_hostname='mail.test')
        cl.handshake()
        return c, cl

    def end_immediate(self, c, cl):
        cl.send(b'bye\r\n')
        self.assertEqual(cl.readline(), b'echo:bye\r\n')
        c.close()
        self.finish(c, 7)

    def assert_own_uid(self, pid, who):
        st = status(pid)
        want = str(UID_BASE + pid)
        self.assertEqual(st['Uid'], [want] * 4, '%s: real, effective, saved, fs uid = base + its pid' % who)
        self.assertEqual(st['Gid'], [want] * 4, '%s: gids' % who)
        self.assertEqual(st['Groups'], [], '%s: no supplementary groups' % who)
        self.assertEqual(st['Seccomp'], ['2'], '%s: seccomp filter mode' % who)
        self.assertEqual(st['NoNewPrivs'], ['1'], '%s: no_new_privs' % who)
        # not dumpable: the kernel makes its /proc files root's
        self.assertEqual(os.stat('/proc/%d/status' % pid).st_uid, 0, '%s: not dumpable' % who)
        return st

    def test_engine_confined(self):
        """(b): the engine's uid, capabilities, seccomp, root, descriptors, rlimits."""
        c, cl = self.live_immediate()
        _, engine, _ = helpers(c)
        st = self.assert_own_uid(engine, 'engine')
        for cap in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb'):
            self.assertEqual(int(st[cap][0], 16), 0, 'engine %s' % cap)
        self.assertEqual(os.readlink('/proc/%d/root' % engine), os.path.realpath(B.W.jail))
        fds = fd_targets(engine)
        for fd in (0, 1, 2):
            self.assertEqual(fds.pop(fd), '/dev/null', 'engine fd %d' % fd)
        for fd, target in fds.items():
            self.assertRegex(target, r'^(socket|pipe):\[\d+\]$|^anon_inode:\[pidfd\]$',
                             'engine fd %d: only sockets, pipes and the application\'s pidfd' % fd)
        # the socket (in and out), key channel, start pipe, two pipes to the
        # application, the pidfd that tells when the application exits
        self.assertLessEqual(len(fds), 7, 'engine descriptors: %s' % fds)
        lim = limits(engine)
        self.assertEqual(lim['Max open files'][0], str(max(fds) + 1), 'NOFILE just above its highest descriptor')
        for name in ('Max processes', 'Max file size', 'Max core file size'):
            self.assertEqual(lim[name], ('0', '0'), name)
        if B.scannable(engine):  # the sanitizer build has no memory cap
            self.assertEqual(lim['Max address space'][0], str(64 << 20), 'memory cap')
        self.end_immediate(c, cl)

    def test_parent_confined(self):
        """(b) for the parent: once the key is loaded, its own uid with CAP_KILL
        alone, seccomp, not dumpable, no descriptor but the key channel."""
        c, cl = self.live_immediate()
        parent, engine, app = helpers(c)
        st = self.assert_own_uid(parent, 'parent')
        for cap in ('CapPrm', 'CapEff'):
            self.assertEqual(int(st[cap][0], 16), CAP_KILL, 'parent %s: CAP_KILL only' % cap)
        for cap in ('CapInh', 'CapAmb'):
            self.assertEqual(int(st[cap][0], 16), 0, 'parent %s' % cap)
        fds = fd_targets(parent)
        for fd in (0, 1):
            self.assertEqual(fds.pop(fd), '/dev/null', 'parent fd %d' % fd)
        fds.pop(2)  # the log file here
        self.assertEqual(len(fds), 1, 'the key channel only: %s' % fds)
        self.assertRegex(list(fds.values())[0], r'^socket:')
        self.assertEqual(B.proc_uids(app)[0], B.W.nobody.pw_uid, 'the application runs as -u')
        self.assertNotIn(B.proc_uids(app)[0], (UID_BASE + parent, UID_BASE + engine))
        self.end_immediate(c, cl)

    def test_concurrent_sessions_distinct_uids(self):
        """Two live sessions: four helper processes, four uids, so that no
        engine can signal or trace another's."""
        a, acl = self.live_immediate()
        b, bcl = self.live_immediate()
        uids = set()
        for c in (a, b):
            parent, engine, _ = helpers(c)
            uids.update(B.proc_uids(parent)[:1] + B.proc_uids(engine)[:1])
        self.assertEqual(len(uids), 4, uids)
        self.end_immediate(a, acl)
        self.end_immediate(b, bcl)

    def test_engine_dies_with_its_parent(self):
        """The parent-death signal is set after the engine's uid change (which
        clears it): SIGKILL to the parent ends the engine too."""
        c, cl = self.live_immediate()
        parent, engine, _ = helpers(c)
        watch = os.pidfd_open(engine)
        try:
            os.kill(parent, signal.SIGKILL)
            ready, _, _ = select.select([watch], [], [], B.FAST_FAIL)
            self.assertTrue(ready, 'the engine outlived its parent')
        finally:
            os.close(watch)
        c.wait()


# ---------------------------------------------------------------- the jail directory, root

class JailDir(B.Base):
    """-J: created safely when missing; refused (exit 100, one line naming
    -J and the problem, the application never run) when it could give the
    engine anything: writable, not root's, not empty, not a directory."""

    def usage(self, jail, pattern, preexec=None):
        argv = [B.BIN, '-u', 'nobody', '-J', jail, '-c', B.fx('ecdsa.crt'), '-k', B.fx('ecdsa.key'),
                *self.app('immediate.sh')]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env(), timeout=B.EXIT_TIMEOUT, preexec_fn=preexec)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, B.EXIT_USAGE, err)
        self.assertEqual(p.stdout, b'')
        self.assertEqual(len(err.splitlines()), 1, 'a one-line message: ' + err)
        self.assertRegex(err, pattern)
        self.assertFalse(self.ran(), 'the application must never start')

    def scratch(self, name):
        path = os.path.join(self.out, name)
        os.mkdir(path, 0o755)
        return path

    def test_missing_jail_created(self):
        jail = os.path.join(self.out, 'new', 'empty')
        c = self.start([B.BIN, '-u', 'nobody', '-J', jail, '-c', B.fx('ecdsa.crt'), '-k', B.fx('ecdsa.key'),
                        *self.app('immediate.sh')])
        cl = B.BioClient(c.sock, B.client_context(), server_hostname='mail.test')
        cl.handshake()
        cl.send(b'x\r\n')
        self.assertEqual(cl.readline(), b'echo:x\r\n')
        c.close()
        self.finish(c, 7)
        st = os.stat(jail)
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o755), 'created root-owned, 0755')

    def test_writable_jail_refused(self):
        jail = self.scratch('jail')
        os.chmod(jail, 0o775)
        self.usage(jail, r'^ucspi-tlsd\[\d+\]: -J %s: .*writable' % re.escape(jail))

    def test_jail_not_owned_by_root_refused(self):
        jail = self.scratch('jail')
        os.chown(jail, B.W.nobody.pw_uid, B.W.nobody.pw_gid)
        self.usage(jail, r'-J %s: .*owned by root' % re.escape(jail))

    def test_jail_under_a_directory_others_can_write_refused(self):
        """Another user could rename the jail away and put a full directory
        in its place between the check and the chroot."""
        above = self.scratch('open')
        os.chmod(above, 0o777)  # not sticky
        jail = os.path.join(above, 'jail')
        os.mkdir(jail, 0o755)
        self.usage(jail, r'-J %s: .*directory above the jail' % re.escape(jail))

    def test_jail_not_empty_refused(self):
        jail = self.scratch('jail')
        os.symlink('/', os.path.join(jail, 'escape'))
        self.usage(jail, r'-J %s: .*not empty' % re.escape(jail))

    def test_jail_not_a_directory_refused(self):
        path = os.path.join(self.out, 'file')
        open(path, 'w').close()
        self.usage(path, r'-J %s: .*not a directory' % re.escape(path))

    def test_not_root_refused(self):
        """Started without root (xinetd user = qmaild): refused, never a
        half-jail."""
        nobody = B.W.nobody

        def drop():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        self.usage(B.W.jail, r'must be started as root', preexec=drop)


# ---------------------------------------------------------------- (d) strace

def strace_lines(path):
    """[(pid, syscall name, line)] of an strace -f log."""
    out = []
    with open(path, errors='replace') as f:
        for line in f:
            m = re.match(r'(\d+)\s+([a-z_0-9]+)\(', line)
            if m:
                out.append((int(m.group(1)), m.group(2), line.rstrip()))
    return out


class Traced(B.Base):

    def traced_argv(self, *args, **kw):
        self.trace = os.path.join(self.out, 'strace')
        return ['strace', '-f', '-qq', '-o', self.trace] + self.argv(*args, **kw)

    def session(self, delayed, cert, maximum):
        ctx = B.client_context(maximum=maximum)
        env = self.env(ASAN_OPTIONS='detect_leaks=0')  # the sanitizer build: LSan cannot work under ptrace
        if delayed:
            c = self.start(self.traced_argv('-n', '-T', '5', cert=cert, app=self.app('ucspitls.py', 'Y')), env)
            pl = B.Plain(c.sock)
            self.assertEqual(pl.readline(), b'220 ready\r\n')
            cl = B.BioClient(c.sock, ctx, server_hostname='mail.test', initial=pl.buf)
            cl.handshake()
            cl.send(b'EHLO x\r\n')
            self.assertEqual(cl.readline(), b'250 EHLO x\r\n')
            status = 0
        else:
            c = self.start(self.traced_argv('-T', '5', cert=cert, app=self.app('immediate.sh')), env)
            cl = B.BioClient(c.sock, ctx, server_hostname='mail.test')
            cl.handshake()
            cl.send(b'hi\r\n')
            self.assertEqual(cl.readline(), b'echo:hi\r\n')
            status = 7
        self.assertEqual(cl.read_to_eof(), b'')
        c.close()
        self.assertEqual(c.wait(), status, c.log())
        return strace_lines(self.trace)

    def after_filter(self, lines, pid):
        """The system calls pid made after its seccomp filter was loaded."""
        idx = [i for i, (p, name, _) in enumerate(lines) if p == pid and name == 'seccomp']
        self.assertTrue(idx, 'process %d never loaded a seccomp filter' % pid)
        return [(name, line) for p, name, line in lines[idx[-1] + 1:] if p == pid]

    def check_trace(self, delayed, cert, maximum):
        lines = self.session(delayed, cert, maximum)
        parent = lines[0][0]
        engines = {p for p, name, _ in lines if name == 'chroot'}
        self.assertEqual(len(engines), 1, 'one process chroots: the engine')
        for who, pid in (('engine', engines.pop()), ('parent', parent)):
            calls = self.after_filter(lines, pid)
            self.assertTrue(calls, '%s: no system call traced after its filter' % who)
            bad = [line for name, line in calls if name in FORBIDDEN]
            self.assertEqual(bad, [], '%s opened or connected after its sandbox point' % who)


def _trace_test(delayed, cert, maximum):
    def test(self):
        self.check_trace(delayed, cert, maximum)
    test.__doc__ = '(d) strace: %s mode, %s key, TLS %s: nothing opened after the filters' % (
        'delayed' if delayed else 'immediate', cert, '1.2' if maximum else '1.3')
    return test


for _delayed in (False, True):
    for _cert in ('rsa', 'ecdsa', 'ed25519'):
        for _max, _v in ((None, '13'), (ssl.TLSVersion.TLSv1_2, '12')):
            setattr(Traced, 'test_strace_%s_%s_tls%s' % ('delayed' if _delayed else 'immediate', _cert, _v),
                    _trace_test(_delayed, _cert, _max))


if __name__ == '__main__':
    if not shutil.which('strace'):
        print('SKIP: strace is not installed')
        sys.exit(77)
    B.main(sys.modules[__name__])
