#!/usr/bin/env python3
# Boots a real systemd (the machine's /lib/systemd/systemd) with the built units and daemons installed, and
# checks that the units work as written: every service reaches active through READY=1, the sandbox and
# capabilities of each unit apply to its daemon (User=, CapEff/CapPrm/CapBnd, NoNewPrivs, seccomp), and
# what needs them still works inside it: the scanner's BPF owner iterator and setns() into procsync-api's
# private netns, the matcher's tag command as nobody, the exporter's DeepFlow sink (real gRPC to
# tests/deepflow_server.py, started in the private netns) and file sink under LogsDirectory=. The API
# socket activates procsync-api (unix socket, mode 0660 group procsync, and 127.0.0.1:9930); procctl works
# as root and as a member of group procsync; reload, the watchdog and Restart=on-failure work; stopping
# procsync.target leaves no failed unit.
#
# systemd runs as PID 1 of private PID, mount, network, cgroup, UTS and IPC namespaces, on a PRIVATE
# MINIMAL ROOT, never on the host's: a tmpfs (inside the new mount namespace only) with read-only binds of
# /usr, an /etc written here (passwd/group from procsync.sysusers applied with systemd-sysusers --root, the
# units in /etc/systemd/system, procsync.target enabled with systemctl --root, the config), fresh /run,
# /tmp, /var, a /proc of the new PID namespace, a read-only sysfs, a minimal /dev and, at /sys/fs/cgroup,
# cgroup2 rooted at a cgroup this test creates (its cgroup namespace). The host's unit directory
# (/usr/lib/systemd/system) and generators are hidden by tmpfs: only copies of the special targets of
# systemd.special(7) are there, so none of the host's services, tmpfiles or generators run. The console
# is a pty drained into console.log. The binaries are copied to the units' @bindir@ (a tmpfs there).
#
# Test instrumentation, in drop-ins (none touches the sandbox): each service's stdout/stderr appended to a
# log file; WatchdogSec=3s so the watchdog would fire within the test if WATCHDOG=1 did not come;
# ASAN_OPTIONS=detect_leaks=0 for a sanitizer build (LeakSanitizer needs ptrace, which the system call
# filters refuse; leaks are checked by the other tests and the valgrind stage).
#
# Everything is torn down at the end, also on failure: SIGKILL to the namespace's PID 1 (the kernel kills
# the rest of the namespace), the cgroup removed, the temporary directory removed when every check passed.
#
# Usage: test-units-systemd.py --bindir DIR --sysusers FILE --exe BIN... [--bpf yes|no] UNIT...
# (exit 77 when not root, without systemd or without a writable cgroup2 hierarchy)
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests')
sys.path.insert(0, TESTS)
import api_harness  # noqa: E402
from api_harness import finish, skip  # noqa: E402
from suite_harness import DeepflowTestServer  # noqa: E402

SYSTEMD = '/lib/systemd/system'
SYSTEMD_BIN = '/lib/systemd/systemd'
DAEMONS = ['scanner', 'matcher', 'exporter', 'api']
# The README's tables ("Running under systemd", "procsync-scanner" → privileges): the capabilities each
# daemon holds, both effective and bounding (linux/capability.h numbers).
CAPS = {
    'scanner': {'CAP_DAC_READ_SEARCH': 2, 'CAP_SYS_PTRACE': 19, 'CAP_SYS_ADMIN': 21, 'CAP_PERFMON': 38,
                'CAP_BPF': 39},
    'matcher': {'CAP_KILL': 5, 'CAP_SETGID': 6, 'CAP_SETUID': 7},
    'exporter': {},
    'api': {},
}
# The special targets of systemd.special(7) the boot to multi-user.target needs, copied from the host's
# unit directory into the hidden one.
TARGETS = ['sysinit', 'basic', 'sockets', 'paths', 'timers', 'slices', 'local-fs', 'local-fs-pre', 'swap',
           'shutdown', 'network', 'network-pre', 'network-online', 'multi-user', 'umount', 'final', 'exit']
# The DeepFlow test server listens on this port inside the private network namespace (nothing else can).
DEEPFLOW_PORT = 30035
CONFIG = f"""static_config:
  os-proc-sync-enabled: true
  os-proc-socket-sync-interval: 1
  os-proc-socket-min-lifetime: 0
  os-app-tag-exec: ['/etc/procsync/tags.sh']
  os-app-tag-exec-user: nobody
procsync:
  # As in the README's example config: procctl run by a member of group procsync (not root) would look in
  # ./var otherwise; the units pass --state-dir /var/lib/procsync to the daemons themselves.
  state_dir: /var/lib/procsync
  process_scan_interval: 1s
  exporter:
    sinks:
      - type: file
        path: /var/log/procsync/sink.jsonl
      - type: deepflow
        name: df
        controller_ips: [127.0.0.1]
        controller_port: {DEEPFLOW_PORT}
"""
# The tag command fails (exit 3) unless the matcher's child really became nobody with no capability left.
TAGS_SH = """#!/bin/sh
[ "$(id -u)" = 65534 ] && [ "$(id -g)" = 65534 ] || { echo "uid $(id -u) gid $(id -g)" >&2; exit 3; }
grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status || { grep ^Cap /proc/self/status >&2; exit 3; }
grep -q '^CapAmb:[[:space:]]*0*$' /proc/self/status || { grep ^Cap /proc/self/status >&2; exit 3; }
echo '- pid: 1'
echo '  tags:'
echo '    - {key: init, value: systemd}'
"""


def ck(cond, what, detail=''):
    return api_harness.check(what, cond, detail)


def wait(cond, timeout, what):
    return api_harness.wait_for(cond, what, timeout, interval=0.1)


def run(*cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)}: exit {r.returncode}: {r.stdout}')
    return r


# ---- Inside: PID 1 of the new namespaces builds the root and becomes systemd --------------------------

def inner(cfg):
    R = cfg['root']

    def mount(*a):
        run('mount', *a)

    mount('-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', R)
    for d in ('usr', 'etc', 'run', 'tmp', 'var', 'proc', 'sys', 'dev', 'root'):
        os.mkdir(os.path.join(R, d))
    # /bin, /sbin, /lib* as the host has them (symlinks into usr/ on a merged-/usr Debian).
    for name in os.listdir('/'):
        p = '/' + name
        if name in ('bin', 'sbin') or name.startswith('lib'):
            if os.path.islink(p):
                os.symlink(os.readlink(p), os.path.join(R, name))
            elif os.path.isdir(p):
                os.mkdir(os.path.join(R, name))
                mount('--bind', p, os.path.join(R, name))
                mount('-o', 'remount,bind,ro', os.path.join(R, name))
    mount('--bind', '/usr', R + '/usr')
    mount('-o', 'remount,bind,ro', R + '/usr')
    # The host's units and generators are hidden; the special targets are copied in.
    for d in ('usr/lib/systemd/system', 'usr/lib/systemd/system-generators'):
        mount('-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', os.path.join(R, d))
    for t in TARGETS:
        src = os.path.join(SYSTEMD, t + '.target')
        if os.path.exists(src):
            shutil.copy(src, os.path.join(R, 'usr/lib/systemd/system'))
    # The daemons at @bindir@.
    bindir = R + cfg['bindir']
    os.makedirs(bindir, exist_ok=True)
    mount('-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', bindir)
    for exe in cfg['exes']:
        shutil.copy(exe, bindir)

    # /etc: the minimum, the user from procsync.sysusers, the units, the config.
    etc = R + '/etc'

    def write(path, text, mode=0o644):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)

    write(etc + '/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:'
          '/usr/sbin/nologin\n')
    write(etc + '/group', 'root:x:0:\nnogroup:x:65534:\n')
    write(etc + '/shadow', 'root:!:1::::::\nnobody:!:1::::::\n', 0o600)
    write(etc + '/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n')
    write(etc + '/hosts', '127.0.0.1 localhost\n::1 localhost\n')
    write(etc + '/hostname', 'procsync-test\n')
    write(etc + '/machine-id', uuid.uuid4().hex + '\n', 0o444)
    os.symlink('../usr/lib/os-release', etc + '/os-release')
    for f in ('ld.so.cache', 'ld.so.conf'):
        if os.path.exists('/etc/' + f):
            shutil.copy('/etc/' + f, etc)
    if os.path.isdir('/etc/ld.so.conf.d'):
        shutil.copytree('/etc/ld.so.conf.d', etc + '/ld.so.conf.d')
    run('systemd-sysusers', '--root', R, cfg['sysusers'])
    write(etc + '/procsync/procsync.yaml', CONFIG, 0o640)
    write(etc + '/procsync/tags.sh', TAGS_SH, 0o755)
    gid = next(int(line.split(':')[2]) for line in open(etc + '/group') if line.startswith('procsync:'))
    os.chown(etc + '/procsync/procsync.yaml', 0, gid)
    unitdir = etc + '/systemd/system'
    os.makedirs(unitdir)
    for u in cfg['units']:
        shutil.copy(u, unitdir)
    for d in DAEMONS:
        env = 'Environment=ASAN_OPTIONS=detect_leaks=0\n' if cfg['asan'] else ''
        write(f'{unitdir}/procsync-{d}.service.d/test.conf',
              f'[Service]\nStandardOutput=append:/run/test-logs/{d}.log\nStandardError=inherit\n'
              f'WatchdogSec=3s\n{env}')
    # As the README says: systemctl enable procsync.target.
    run('systemctl', '--root', R, 'enable', 'procsync.target')

    mount('-t', 'tmpfs', '-o', 'mode=0755,nosuid,nodev', 'tmpfs', R + '/run')
    os.mkdir(R + '/run/test-logs')
    mount('--bind', cfg['logs'], R + '/run/test-logs')
    mount('-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'tmpfs', R + '/tmp')
    for d in ('var/lib', 'var/log', 'var/cache'):
        os.makedirs(os.path.join(R, d))
    os.symlink('../run', R + '/var/run')
    os.symlink('../run/lock', R + '/var/lock')
    os.makedirs(R + '/var/tmp', mode=0o1777)
    os.chmod(R + '/var/tmp', 0o1777)
    mount('-t', 'proc', '-o', 'nosuid,nodev,noexec', 'proc', R + '/proc')
    mount('-t', 'sysfs', '-o', 'ro,nosuid,nodev,noexec', 'sysfs', R + '/sys')
    mount('-t', 'cgroup2', '-o', 'nosuid,nodev,noexec', 'cgroup2', R + '/sys/fs/cgroup')
    # /dev: the nodes PrivateDevices= and systemd use, a devpts of our own, the console pty.
    mount('-t', 'tmpfs', '-o', 'mode=0755,nosuid', 'tmpfs', R + '/dev')
    for n in ('null', 'zero', 'full', 'random', 'urandom', 'tty'):
        open(f'{R}/dev/{n}', 'w').close()
        mount('--bind', '/dev/' + n, f'{R}/dev/{n}')
    open(R + '/dev/console', 'w').close()
    mount('--bind', os.ttyname(0), R + '/dev/console')
    os.mkdir(R + '/dev/pts')
    mount('-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=0620,nosuid,noexec', 'devpts', R + '/dev/pts')
    os.symlink('pts/ptmx', R + '/dev/ptmx')
    os.mkdir(R + '/dev/shm')
    mount('-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'tmpfs', R + '/dev/shm')
    for name, target in (('fd', '/proc/self/fd'), ('stdin', '/proc/self/fd/0'),
                         ('stdout', '/proc/self/fd/1'), ('stderr', '/proc/self/fd/2')):
        os.symlink(target, f'{R}/dev/{name}')

    # pivot_root(2) moves the root of every process of this mount namespace (only us) to R.
    os.chdir(R)
    os.mkdir('oldroot')
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(155, b'.', b'oldroot') != 0:  # SYS_pivot_root on x86_64
        raise OSError(ctypes.get_errno(), 'pivot_root')
    os.chdir('/')
    if libc.umount2(b'/oldroot', 2) != 0:  # MNT_DETACH
        raise OSError(ctypes.get_errno(), 'umount /oldroot')
    os.rmdir('/oldroot')
    os.execve(SYSTEMD_BIN, [SYSTEMD_BIN, '--unit=multi-user.target', '--log-target=console',
                            '--log-level=info', '--show-status=no'],
              {'container': 'procsync-test', 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'})


# ---- Outside: starts the namespaces, talks to that systemd through nsenter, tears everything down ------

def cgroup2_mount():
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            sep = fields.index('-')
            if fields[sep + 1] == 'cgroup2':
                return fields[4]
    return None


def own_cgroup2():
    with open('/proc/self/cgroup') as f:
        for line in f:
            if line.startswith('0::'):
                return line[3:].strip()
    return None


def remove_cgroup(path):
    """Removes a cgroup tree bottom-up once its processes are gone."""
    if not os.path.isdir(path):
        return
    for top, dirs, _ in os.walk(path, topdown=False):
        for _ in range(100):
            try:
                os.rmdir(top)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


class Machine:
    def __init__(self, args, tmp, cgroup):
        self.tmp = tmp
        self.logs = os.path.join(tmp, 'logs')
        os.mkdir(self.logs)
        self.console_path = os.path.join(tmp, 'console.log')
        master, slave = os.openpty()
        self.console = open(self.console_path, 'wb', buffering=0)
        self.master = master
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        cfg = {'root': os.path.join(tmp, 'root'), 'bindir': args.bindir, 'logs': self.logs,
               'exes': [os.path.abspath(e) for e in args.exe], 'sysusers': os.path.abspath(args.sysusers),
               'units': [os.path.abspath(u) for u in args.units],
               'asan': any(b'__asan_init' in open(e, 'rb').read() for e in args.exe)}
        os.mkdir(cfg['root'])
        with open(os.path.join(tmp, 'cfg.json'), 'w') as f:
            json.dump(cfg, f)

        def into_cgroup():
            with open(os.path.join(cgroup, 'cgroup.procs'), 'w') as f:
                f.write('0')
            # unshare dies with this test (then --kill-child kills the namespace's PID 1).
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

        # --kill-child: if this test dies, unshare's death kills the namespace's PID 1.
        self.unshare = subprocess.Popen(
            ['unshare', '--pid', '--mount', '--net', '--cgroup', '--uts', '--ipc', '--fork', '--kill-child',
             sys.executable, os.path.abspath(__file__), '--inner', os.path.join(tmp, 'cfg.json')],
            stdin=slave, stdout=slave, stderr=slave, preexec_fn=into_cgroup)
        os.close(slave)
        self.pid1 = None
        children = f'/proc/{self.unshare.pid}/task/{self.unshare.pid}/children'
        wait(lambda: self.unshare.poll() is not None or open(children).read().strip(), 10,
                 'the namespace PID 1 to be forked')
        if self.unshare.poll() is None:
            self.pid1 = int(open(children).read().split()[0])
        # The DeepFlow test server (tests/deepflow_server.py, real gRPC) in the namespace's network only.
        self.deepflow = None
        if self.pid1:
            net = ['nsenter', '--target', str(self.pid1), '--net', '--']
            subprocess.run(net + ['ip', 'link', 'set', 'lo', 'up'], check=True)
            self.deepflow = DeepflowTestServer(
                tmp, DEEPFLOW_PORT, tests_dir=TESTS, prefix=net,
                preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))  # dies with this test

    def deepflow_doc(self):
        return self.deepflow.doc() if self.deepflow else None

    def _drain(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.console.write(data)

    def console_text(self):
        with open(self.console_path, 'rb') as f:
            return f.read().decode(errors='replace').replace('\r', '')

    def private(self):
        """Whether the namespace's PID 1 is systemd on the private root. Until then entering its mount
        namespace would give the host's root (and a host systemd's /run/systemd/private): never done."""
        try:
            exe = os.readlink(f'/proc/{self.pid1}/exe')
            root = os.stat(f'/proc/{self.pid1}/root')
        except OSError:
            return False
        host = os.stat('/')
        return exe.endswith('/systemd/systemd') and (root.st_dev, root.st_ino) != (host.st_dev, host.st_ino)

    def ns(self, *cmd, timeout=30):
        """Runs cmd inside the namespaces (root, PID and network of the booted systemd)."""
        if not self.private():
            raise RuntimeError('the namespace\'s PID 1 is not systemd on the private root')
        return subprocess.run(['nsenter', '--target', str(self.pid1), '--mount', '--pid', '--net', '--uts',
                               '--ipc', '--'] + list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)

    def systemctl(self, *a, timeout=30):
        return self.ns('systemctl', '--no-pager', *a, timeout=timeout)

    def show(self, unit, *props):
        r = self.systemctl('show', '-p', ','.join(props), unit)
        return dict(line.split('=', 1) for line in r.stdout.splitlines() if '=' in line)

    def read(self, path):
        r = self.ns('cat', path)
        return r.stdout if r.returncode == 0 else None

    def http(self, url, unix=None, prefix=()):
        """GET url inside the network namespace, over the unix socket `unix` when given: (status, body)."""
        code = ('import http.client, socket, sys\n'
                'class U(http.client.HTTPConnection):\n'
                '    def connect(self):\n'
                '        self.sock = socket.socket(socket.AF_UNIX); self.sock.settimeout(20)\n'
                '        self.sock.connect(sys.argv[2])\n'
                'u = sys.argv[1]; host = u.split("/")[2]; path = "/" + u.split("/", 3)[3]\n'
                'c = U(host) if sys.argv[2] else http.client.HTTPConnection(host, timeout=20)\n'
                'c.request("GET", path); r = c.getresponse()\n'
                'sys.stdout.write(str(r.status) + "\\n" + r.read().decode())\n')
        r = self.ns(*prefix, '/usr/bin/python3', '-c', code, url, unix or '')
        if r.returncode != 0:
            return None, r.stderr
        status, _, body = r.stdout.partition('\n')
        return int(status), body

    def kill(self):
        if self.deepflow:
            self.deepflow.proc.kill()
            self.deepflow.proc.wait()
        if self.pid1:
            try:
                os.kill(self.pid1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.unshare.wait(10)
        except subprocess.TimeoutExpired:
            self.unshare.kill()
            self.unshare.wait()
        os.close(self.master)
        self.drain.join(5)
        self.console.close()


def caps_of(hexmask):
    v = int(hexmask, 16)
    return {i for i in range(64) if v >> i & 1}


def status_fields(text):
    return dict((k, v.strip()) for k, _, v in (line.partition(':') for line in text.splitlines()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--inner')
    ap.add_argument('--bindir')
    ap.add_argument('--sysusers')
    ap.add_argument('--exe', action='append', default=[])
    ap.add_argument('--bpf', default='no')
    ap.add_argument('units', nargs='*')
    args = ap.parse_args()
    if args.inner:
        with open(args.inner) as f:
            inner(json.load(f))
        return

    if os.geteuid() != 0:
        skip('needs root: boots systemd as PID 1 of private namespaces')
    if not os.access(SYSTEMD_BIN, os.X_OK) or not shutil.which('nsenter') or not shutil.which('unshare'):
        skip(f'needs {SYSTEMD_BIN} (Debian package systemd), nsenter and unshare')
    if args.bindir.rstrip('/') in ('/usr/bin', '/usr/sbin', '/bin', '/sbin'):
        skip(f'@bindir@ {args.bindir}: the test puts a tmpfs there, which would hide the system\'s tools')
    cg2, own = cgroup2_mount(), own_cgroup2()
    if cg2 is None or own is None:
        skip('needs a cgroup2 hierarchy (systemd runs in unified mode on a cgroup of its own)')
    cgroup = os.path.join(cg2 + own, f'procsync-units-test-{os.getpid()}')
    try:
        os.mkdir(cgroup)
    except OSError as e:
        skip(f'cannot create a cgroup under {cg2 + own}: {e}')

    # meson's timeout sends SIGTERM: tear down as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tmp = tempfile.mkdtemp(prefix='procsync-units-')
    m = None
    ok = False
    try:
        m = Machine(args, tmp, cgroup)
        ok = scenario(m, args)
    finally:
        if m:
            for d in DAEMONS:
                p = os.path.join(m.logs, d + '.log')
                if not ok and os.path.exists(p):
                    print(f'# ---- {d}.log')
                    print(''.join('# ' + line for line in open(p, errors='replace').readlines()[-40:]))
            m.kill()
            if not ok:
                print('# ---- console (systemd)')
                print(''.join('# ' + line for line in m.console_text().splitlines(True)[-120:]))
        remove_cgroup(cgroup)
        ck(not os.path.exists(cgroup), 'the test cgroup is removed (no process of the namespace is left)')
        with open('/proc/self/mountinfo') as f:
            leaked = [line for line in f if tmp in line]
        ck(not leaked, 'no mount of the private root in the host\'s mount namespace', leaked)
        if m and m.deepflow:
            ck(m.deepflow.proc.poll() is not None, 'the DeepFlow test server is gone')
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f'# kept {tmp}')
    finish()


def scenario(m, args):
    """The checks, in order; returns whether all passed (api_harness counts the failures)."""
    if m.pid1 is None:
        ck(False, 'unshare started the namespace', m.console_text())
        return False

    # Boot: multi-user.target with procsync.target enabled. A systemd that never answers on its private
    # socket could not boot here (a container without the privileges, a kernel without what it needs):
    # skipped with systemd's console. One that answers must reach "running".
    def answers():
        if m.unshare.poll() is not None:
            return 'gone'
        if not m.private():
            return False
        r = m.systemctl('is-system-running')
        return r.stdout.strip() not in ('', 'offline') and r.stdout.strip()
    try:
        first = wait(answers, 30, 'systemd to answer')
    except Exception:  # noqa: BLE001
        first = 'gone'
    if first == 'gone' and 'Traceback' in m.console_text():
        ck(False, 'the private root is built (inner setup)', m.console_text()[-3000:])
        return False
    if first == 'gone':
        print(''.join('# ' + line for line in m.console_text().splitlines(True)[-40:]))
        skip('systemd did not come up as PID 1 of the private namespaces here (its console above)')
    r = m.systemctl('is-system-running', '--wait', timeout=60)
    failed = m.systemctl('list-units', '--failed', '--no-legend', '--plain').stdout.strip()
    running = r.stdout.strip()
    if not ck(running == 'running', f'systemd booted: is-system-running = running ({running})',
              failed):
        return False

    # Every daemon active through READY=1 (Type=notify: "active" only after READY=1).
    units = {d: f'procsync-{d}.service' for d in DAEMONS}
    props = {}
    for d in ('scanner', 'matcher', 'exporter'):
        r = m.systemctl('is-active', units[d])
        ck(r.stdout.strip() == 'active', f'{units[d]}: is-active = active', r.stdout + r.stderr)
        p = m.show(units[d], 'ActiveState', 'SubState', 'MainPID', 'NRestarts', 'Type', 'StatusText')
        props[d] = p
        ck(p.get('StatusText', '') != '', f'{units[d]}: STATUS= seen ({p.get("StatusText")})')
        ck(p.get('ActiveState') == 'active' and p.get('SubState') == 'running' and p.get('Type') == 'notify'
              and int(p.get('MainPID', 0)) > 0 and p.get('NRestarts') == '0',
              f'{units[d]}: active/running, MainPID, no restart', p)
    s = m.show('procsync-api.socket', 'ActiveState', 'SubState')
    ck(s == {'ActiveState': 'active', 'SubState': 'listening'}, 'procsync-api.socket: active/listening', s)
    a = m.show(units['api'], 'ActiveState')
    ck(a.get('ActiveState') == 'inactive', 'procsync-api.service: not started before a connection', a)

    # Socket activation: the first connection starts procsync-api, which answers. All daemons alive.
    status, body = None, ''

    def answered():
        nonlocal status, body
        status, body = m.http('http://localhost/v1/status', unix='/run/procsync/api.sock')
        if status != 200:
            return False
        doc = json.loads(body)
        return all(x.get('alive') for x in daemons_of(doc).values()) and len(daemons_of(doc)) >= 3
    try:
        wait(answered, 30, '/v1/status: 200 with every daemon alive')
    except Exception:  # noqa: BLE001
        pass
    ck(status == 200, 'GET /v1/status over /run/procsync/api.sock: 200 (socket activation)', body[:2000])
    doc = json.loads(body) if status == 200 else {}
    alive = {k: v.get('alive') for k, v in daemons_of(doc).items()}
    ck(all(alive.get(d) for d in ('scanner', 'matcher', 'exporter')), f'/v1/status: daemons alive {alive}',
          body[:2000])
    p = m.show(units['api'], 'ActiveState', 'SubState', 'MainPID', 'NRestarts', 'Type')
    props['api'] = p
    ck(p.get('ActiveState') == 'active' and p.get('SubState') == 'running' and int(p.get('MainPID', 0)) > 0,
          'procsync-api.service: started by the socket, active/running', p)
    r = m.systemctl('is-active', units['api'])
    ck(r.stdout.strip() == 'active', 'procsync-api.service: is-active = active', r.stdout + r.stderr)
    st, body = m.http('http://127.0.0.1:9930/healthz')
    ck(st == 200, 'GET http://127.0.0.1:9930/healthz (TCP socket of the unit, private netns): 200', body)
    st, body = m.http('http://127.0.0.1:9930/v1/status')
    ck(st == 200, 'GET http://127.0.0.1:9930/v1/status: 200', body[:500])
    st, body = m.http('http://localhost/healthz', unix='/run/procsync/api.sock')
    ck(st == 200, 'GET /healthz over the unix socket: 200', body)
    ls = m.ns('stat', '-c', '%a %U %G', '/run/procsync/api.sock').stdout.strip()
    ck(ls == '660 root procsync', f'/run/procsync/api.sock: mode 0660 root:procsync ({ls})')

    # Hardening, from /proc/<MainPID>/status of each daemon.
    pw = {f[0]: f for f in (line.split(':') for line in m.read('/etc/passwd').splitlines())}
    uid, gid = pw['procsync'][2], pw['procsync'][3]
    for d in DAEMONS:
        pid = props[d].get('MainPID', '0')
        text = m.read(f'/proc/{pid}/status') or ''
        f = status_fields(text)
        ck(f.get('Uid', '').split() == [uid] * 4 and f.get('Gid', '').split() == [gid] * 4,
              f'{d}: Uid/Gid {uid}/{gid} (User=procsync)', (f.get('Uid'), f.get('Gid')))
        want = set(CAPS[d].values())
        eff, bnd = caps_of(f.get('CapEff', '0')), caps_of(f.get('CapBnd', '0'))
        ck(eff == want and bnd == want, f'{d}: CapEff = CapBnd = {sorted(CAPS[d]) or "none"}',
              f'CapEff {sorted(eff)} CapBnd {sorted(bnd)} want {sorted(want)}')
        ck(caps_of(f.get('CapPrm', '0')) == want, f'{d}: CapPrm the same', f.get('CapPrm'))
        ck(f.get('NoNewPrivs') == '1', f'{d}: NoNewPrivs 1', f.get('NoNewPrivs'))
        ck(f.get('Seccomp') == '2', f'{d}: Seccomp 2 (SystemCallFilter=)', f.get('Seccomp'))

    # The scanner's owner source under the unit's sandbox.
    figures = {}

    def owner_source():
        _, b = m.http('http://localhost/v1/status', unix='/run/procsync/api.sock')
        try:
            figures.update(daemons_of(json.loads(b))['scanner']['stats']['socket_figures'])
        except (KeyError, TypeError, ValueError):
            return False
        return figures.get('netns', 0) >= 2
    try:
        wait(owner_source, 20, 'the scanner to scan sockets in two network namespaces')
    except Exception:  # noqa: BLE001
        pass
    # What the machine allows outside any unit: the same scanner as root, --once, in the same namespaces.
    # "bpf" there must be "bpf" under the unit too, else the unit's sandbox is what takes it away.
    want_src = 'fdwalk'
    if args.bpf == 'yes':
        scanner = os.path.join(args.bindir, 'procsync-scanner')
        r = m.ns('/usr/bin/env', 'ASAN_OPTIONS=detect_leaks=0', scanner, '--once',
                 '-c', '/etc/procsync/procsync.yaml', '--state-dir', '/tmp/control-scan')
        q = m.ns('/usr/bin/python3', '-c', 'import sqlite3; print(sqlite3.connect('
                 '"/tmp/control-scan/state.db").execute("SELECT stats FROM scan_daemon").fetchone()[0])')
        try:
            want_src = json.loads(q.stdout)['socket_figures']['owner_source']
        except (KeyError, TypeError, ValueError):
            ck(False, 'procsync-scanner --once as root (control)', r.stderr[-1000:] + q.stderr[-1000:])
        print(f'# the scanner as root outside the units takes socket owners from: {want_src}')
    ck(figures.get('owner_source') == want_src,
          f'scanner: socket_figures.owner_source = {want_src} under the unit', figures)
    ck(figures.get('fd_denied') == 0, 'scanner: no fd denied', figures)
    ck(figures.get('netns', 0) >= 2 and figures.get('netns_failed') == 0,
       'scanner: sockets of both network namespaces (procsync-api\'s PrivateNetwork=) dumped, setns() '
       'allowed by RestrictNamespaces=net and the filter', figures)

    # The tag command, run by the matcher as nobody with no capability left (else tags.sh exits 3).
    tag = {}

    def tagged():
        _, b = m.http('http://localhost/v1/status', unix='/run/procsync/api.sock')
        try:
            tag.update(json.loads(b)['matcher']['tag_exec'])
        except (KeyError, TypeError, ValueError):
            return False
        return tag.get('last_run') is not None
    try:
        wait(tagged, 20, 'a run of the tag command')
    except Exception:  # noqa: BLE001
        pass
    ck(tag.get('ok') is True and tag.get('failures') == 0 and tag.get('entries', 0) >= 1,
       'matcher: the tag command ran as nobody without capabilities (setresuid/capset in the sandbox)', tag)

    # The DeepFlow sink: real gRPC to the test server, ctrl_ip from the route (AF_NETLINK).
    sink = {}

    def in_sync():
        _, b = m.http('http://localhost/v1/status', unix='/run/procsync/api.sock')
        try:
            sink.update(next(x for x in json.loads(b)['exporter']['sinks'] if x.get('name') == 'df'))
        except (KeyError, TypeError, ValueError, StopIteration):
            return False
        return sink.get('in_sync') is True
    try:
        wait(in_sync, 30, 'the deepflow sink in sync')
    except Exception:  # noqa: BLE001
        pass
    ck(sink.get('in_sync') is True, 'exporter: the deepflow sink is in sync', sink)
    agents = (m.deepflow_doc() or {}).get('agents', {})
    ck(any(a.get('processes') for a in agents.values()), 'DeepFlow test server: an agent with processes',
       list(agents))

    # procctl (healthy now that the DeepFlow sink is in sync), as an administrator runs it next to the
    # units: the installed config, /var/lib/procsync.
    r = m.ns(os.path.join(args.bindir, 'procctl'), 'status')
    ck(r.returncode == 0 and all(d in r.stdout for d in ('scanner', 'matcher', 'exporter')),
       'procctl status: exit 0, every daemon listed', r.stdout[-1500:] + r.stderr[-1500:])
    # A member of group procsync (README: may read state.db and use the API socket); nobody else may not.
    gid_ps = next(line.split(':')[2] for line in m.read('/etc/group').splitlines()
                  if line.startswith('procsync:'))
    member = ['setpriv', '--reuid=65534', '--regid=65534', f'--groups={gid_ps}', '--inh-caps=-all', '--']
    r = m.ns(*member, os.path.join(args.bindir, 'procctl'), 'status')
    ck(r.returncode == 0 and 'scanner' in r.stdout, 'procctl status as nobody in group procsync: exit 0',
       r.stdout[-1500:] + r.stderr[-1500:])
    st, body = m.http('http://localhost/healthz', unix='/run/procsync/api.sock', prefix=member)
    ck(st == 200, 'the API socket as nobody in group procsync: 200', body)
    outsider = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--']
    st, body = m.http('http://localhost/healthz', unix='/run/procsync/api.sock', prefix=outsider)
    ck(st is None and 'Permission denied' in body, 'the API socket as nobody outside the group: refused',
       (st, body[-300:]))

    # The file sink under LogsDirectory=.
    try:
        wait(lambda: (m.read('/var/log/procsync/sink.jsonl') or '').strip(), 20, 'the file sink')
        ck(True, 'exporter: the file sink /var/log/procsync/sink.jsonl written')
    except Exception as e:  # noqa: BLE001
        ck(False, 'exporter: the file sink /var/log/procsync/sink.jsonl written', str(e))

    # Reload (the matcher's, and the other two with ExecReload=): SIGHUP, RELOADING=1 then READY=1 seen by
    # systemd (its debug log), the same process.
    m.systemctl('log-level', 'debug')
    for d in ('matcher', 'scanner', 'exporter'):
        mark = len(m.console_text())
        r = m.systemctl('reload', units[d])
        ck(r.returncode == 0, f'systemctl reload {units[d]}: exit 0', r.stdout + r.stderr)
        pat = re.compile(re.escape(units[d]) + r': Got notification message from PID (\d+) \((.*)\)')
        seen = []

        def notified():
            seen[:] = [mm.group(2) for mm in pat.finditer(m.console_text()[mark:])]
            i = next((k for k, x in enumerate(seen) if 'RELOADING=1' in x), None)
            return i is not None and any('READY=1' in x
                                         for x in seen[i + 1:] + [seen[i].split('RELOADING=1')[1]])
        try:
            wait(notified, 20, f'RELOADING=1 then READY=1 from {d}')
            ck(True, f'{d}: systemd got RELOADING=1, then READY=1')
        except Exception:  # noqa: BLE001
            ck(False, f'{d}: systemd got RELOADING=1, then READY=1', seen)
        p = m.show(units[d], 'ActiveState', 'SubState', 'MainPID', 'NRestarts')
        ck(p.get('ActiveState') == 'active' and p.get('SubState') == 'running'
           and p.get('MainPID') == props[d]['MainPID'] and p.get('NRestarts') == '0',
           f'{d}: active/running after the reload, same MainPID, no restart', p)
    m.systemctl('log-level', 'info')

    # A reload to an invalid config keeps the old one and says so in STATUS= (systemctl status); fixing the
    # file and reloading clears it.
    conf = '/etc/procsync/procsync.yaml'
    m.ns('sh', '-c', f'cp -p {conf} {conf}.good && printf "procsync:\\n  process_scan_interval: [\\n" > {conf}')
    r = m.systemctl('reload', units['matcher'])
    st = {}

    def status_has(pred):
        st.update(m.show(units['matcher'], 'StatusText', 'ActiveState', 'MainPID', 'NRestarts'))
        return pred(st.get('StatusText', ''))
    try:
        wait(lambda: status_has(lambda t: 'configuration error' in t.lower()), 20, 'STATUS= with the error')
    except Exception:  # noqa: BLE001
        pass
    ck(r.returncode == 0 and 'configuration error' in st.get('StatusText', '').lower()
       and st.get('ActiveState') == 'active' and st.get('MainPID') == props['matcher']['MainPID']
       and st.get('NRestarts') == '0',
       'matcher: reload to an invalid config: still active, same process, STATUS= names the error', st)
    m.ns('mv', f'{conf}.good', conf)
    m.systemctl('reload', units['matcher'])
    try:
        wait(lambda: status_has(lambda t: 'configuration' not in t.lower() or 'reloaded' in t), 20,
             'STATUS= without the error')
    except Exception:  # noqa: BLE001
        pass
    ck('error' not in st.get('StatusText', '').lower(), 'matcher: the fixed config reloaded, the error gone', st)

    # The watchdog (3 s in the test's drop-in): pings keep coming, nothing is killed or restarted.
    def wd_stamp(d):
        return m.show(units[d], 'WatchdogTimestampMonotonic').get('WatchdogTimestampMonotonic')
    wd = {d: wd_stamp(d) for d in DAEMONS}
    try:
        wait(lambda: all(wd_stamp(d) != wd[d] for d in DAEMONS), 15, 'a new WATCHDOG=1 from every daemon')
        ck(True, 'every daemon sent WATCHDOG=1 again (WatchdogSec=3s)')
    except Exception:  # noqa: BLE001
        ck(False, 'every daemon sent WATCHDOG=1 again (WatchdogSec=3s)', wd)
    # Five more pings from each daemon (they ping every cycle, 1 s here, and at least every WatchdogSec/2):
    # more than one watchdog period passes, in which a missing ping would have made systemd kill the daemon
    # (checked next).
    seen_wd = {d: {wd[d]} for d in DAEMONS}

    def pinged():
        for d in DAEMONS:
            seen_wd[d].add(wd_stamp(d))
        return all(len(v) >= 6 for v in seen_wd.values())
    try:
        wait(pinged, 30, 'five more WATCHDOG=1 from every daemon')
    except Exception:  # noqa: BLE001
        pass
    ck(all(len(v) >= 6 for v in seen_wd.values()), 'five more WATCHDOG=1 from every daemon',
       {d: len(v) for d, v in seen_wd.items()})
    for d in DAEMONS:
        p = m.show(units[d], 'ActiveState', 'MainPID', 'NRestarts', 'Result')
        ck(p.get('ActiveState') == 'active' and p.get('MainPID') == props[d]['MainPID']
              and p.get('NRestarts') == '0' and p.get('Result') == 'success',
              f'{d}: still active, same MainPID, no restart, Result=success after the watchdog periods', p)
    ck('Watchdog timeout' not in m.console_text(), 'no watchdog timeout in systemd\'s log')

    # Restart=on-failure: a daemon killed by SIGKILL is started again (RestartSec=2s), READY=1 again.
    r = m.systemctl('kill', '--signal=SIGKILL', units['exporter'])
    ck(r.returncode == 0, 'systemctl kill --signal=SIGKILL procsync-exporter', r.stdout + r.stderr)
    p = {}

    def restarted():
        p.update(m.show(units['exporter'], 'ActiveState', 'SubState', 'MainPID', 'NRestarts'))
        return (p.get('NRestarts') == '1' and p.get('ActiveState') == 'active'
                and p.get('SubState') == 'running')
    try:
        wait(restarted, 20, 'the exporter restarted')
    except Exception:  # noqa: BLE001
        pass
    ck(restarted() and p.get('MainPID') != props['exporter']['MainPID'],
       'exporter: restarted once after SIGKILL (Restart=on-failure), active/running with a new MainPID', p)

    # Stop the suite: everything stops cleanly, no failed unit.
    r = m.systemctl('stop', 'procsync.target', timeout=60)
    ck(r.returncode == 0, 'systemctl stop procsync.target: exit 0', r.stdout + r.stderr)
    # The target stops first (it is ordered after the services); its stop job does not wait for theirs.
    try:
        wait(lambda: all(m.show(u, 'ActiveState').get('ActiveState') in ('inactive', 'failed')
                         for u in units.values()), 40, 'every daemon stopped')
    except Exception:  # noqa: BLE001
        pass
    for u in list(units.values()) + ['procsync-api.socket', 'procsync.target']:
        p = m.show(u, 'ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus')
        good = p.get('ActiveState') == 'inactive' and p.get('Result', 'success') == 'success'
        if u.endswith('.service'):
            good = good and p.get('ExecMainCode') == '1' and p.get('ExecMainStatus') == '0'
        ck(good, f'{u}: inactive, Result=success' + (', exited 0' if u.endswith('.service') else ''), p)
    failed = m.systemctl('list-units', '--failed', '--no-legend', '--plain').stdout.strip()
    ck(failed == '', 'no failed unit', failed)
    return api_harness.failures == 0


def daemons_of(doc):
    """The daemons of /v1/status (top-level objects named after them) as {name: object}."""
    if not isinstance(doc, dict):
        return {}
    return {d: doc[d] for d in ('scanner', 'matcher', 'exporter') if isinstance(doc.get(d), dict)}


if __name__ == '__main__':
    main()
