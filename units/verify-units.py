#!/usr/bin/env python3
# Checks the generated systemd units with `systemd-analyze verify` before they are installed.
#
# The units name the installed binaries (@bindir@), which need not exist when the test runs, so the units
# are copied into a temporary directory with that prefix pointed at placeholder executables. verify only
# warns (exit 0) about an unknown directive or a value it cannot parse, so any warning about one of our
# units fails the test; capability names, which verify silently ignores when unknown, are checked here
# against the kernel's list. Finally the checker proves it works: a copy with a misspelt directive and a
# copy with a misspelt capability must both be refused. With --sysusers, the sysusers.d file is applied
# to an empty root (systemd-sysusers --root) and every User=, Group= and SocketGroup= of the units must
# exist there.
#
# Usage: verify-units.py --bindir DIR [--sysusers FILE] UNIT...   (exit 77 without systemd-analyze)
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# linux/capability.h, CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40).
KNOWN_CAPS = set('''
CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID
CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW
CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT
CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD
CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG
CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE
'''.split())

EXEC_KEYS = ('ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost')


def stage(units, bindir, tmp, mutate=None):
    """Copies the units into tmp/units with bindir replaced by tmp/bin; returns the copied paths."""
    bin_dir = os.path.join(tmp, 'bin')
    unit_dir = os.path.join(tmp, 'units')
    os.makedirs(bin_dir, exist_ok=True)
    os.makedirs(unit_dir, exist_ok=True)
    out = []
    for src in units:
        with open(src) as f:
            text = f.read()
        if '@' in text and re.search(r'@[a-z_]+@', text):
            raise SystemExit(f'{src}: unsubstituted variable {re.search(r"@[a-z_]+@", text).group(0)}')
        text = text.replace(bindir.rstrip('/') + '/', bin_dir + '/')
        if mutate:
            text = mutate(os.path.basename(src), text)
        for line in text.splitlines():
            key, _, value = line.partition('=')
            if key.strip() in EXEC_KEYS:
                exe = value.strip().lstrip('@-:+!').split()[0]
                if exe.startswith(bin_dir + '/') and not os.path.exists(exe):
                    with open(exe, 'w') as f:
                        f.write('#!/bin/sh\nexit 0\n')
                    os.chmod(exe, 0o755)
        dst = os.path.join(unit_dir, os.path.basename(src))
        with open(dst, 'w') as f:
            f.write(text)
        out.append(dst)
    return out


def check(paths):
    """Returns a list of problems (empty when the units are fine)."""
    problems = []
    env = dict(os.environ, SYSTEMD_LOG_LEVEL='warning', SYSTEMD_LOG_COLOR='0')
    r = subprocess.run(['systemd-analyze', 'verify', '--man=no'] + paths, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Warnings about units of the host that verify loads as dependencies (multi-user.target, ...) are
    # not ours to fix; every line naming one of our units is.
    names = [os.path.basename(p) for p in paths]
    for line in r.stdout.splitlines():
        if any(n in line for n in names):
            problems.append('systemd-analyze: ' + line)
    if r.returncode != 0:
        problems.append(f'systemd-analyze verify exited with {r.returncode}:\n{r.stdout}')

    for p in paths:
        with open(p) as f:
            for no, line in enumerate(f, 1):
                key, _, value = line.partition('=')
                if key.strip() not in ('CapabilityBoundingSet', 'AmbientCapabilities'):
                    continue
                for cap in value.replace('~', ' ').split():
                    if cap not in KNOWN_CAPS:
                        problems.append(f'{os.path.basename(p)}:{no}: unknown capability {cap!r}')
    return problems


def check_users(units, sysusers, tmp):
    """Returns the problems: users and groups the units name that the sysusers.d file does not create."""
    root = os.path.join(tmp, 'root')
    os.makedirs(os.path.join(root, 'etc'))
    r = subprocess.run(['systemd-sysusers', '--root=' + root, os.path.abspath(sysusers)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return [f'systemd-sysusers failed on {sysusers}: {r.stdout}']
    known = {}
    for db in ('passwd', 'group'):
        with open(os.path.join(root, 'etc', db)) as f:
            known[db] = {line.split(':')[0] for line in f if line.strip()}
    problems = []
    for u in units:
        with open(u) as f:
            for no, line in enumerate(f, 1):
                key, _, value = line.strip().partition('=')
                db = {'User': 'passwd', 'Group': 'group', 'SocketGroup': 'group'}.get(key)
                if db and value and value != 'root' and value not in known[db]:
                    problems.append(f'{os.path.basename(u)}:{no}: {key}={value} is not created by {sysusers}')
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bindir', required=True)
    ap.add_argument('--sysusers')
    ap.add_argument('units', nargs='+')
    args = ap.parse_args()

    if not shutil.which('systemd-analyze'):
        print('systemd-analyze not installed (Debian package systemd); skipping')
        return 77

    with tempfile.TemporaryDirectory(prefix='procsync-units-') as tmp:
        problems = check(stage(args.units, args.bindir, os.path.join(tmp, 'ok')))
        if args.sysusers:
            problems += check_users(args.units, args.sysusers, tmp)
        for p in problems:
            print(p)
        if problems:
            return 1
        print(f'{len(args.units)} units verified' + (f', their users created by {args.sysusers}' if args.sysusers else ''))

        def typo_directive(name, text):
            return text.replace('ProtectSystem=', 'ProtectSystm=') if name.endswith('.service') else text

        def typo_capability(name, text):
            return text.replace('CAP_SYS_PTRACE', 'CAP_SYS_PTRAC')

        for what, mutate in (('a misspelt directive', typo_directive), ('a misspelt capability', typo_capability)):
            bad = check(stage(args.units, args.bindir, os.path.join(tmp, mutate.__name__), mutate))
            if not bad:
                print(f'the checker accepted units with {what}')
                return 1
            print(f'units with {what} refused as expected: {bad[0]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
