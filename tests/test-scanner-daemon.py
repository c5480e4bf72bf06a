#!/usr/bin/env python3
"""procsync-scanner as a daemon: sd_notify READY=1 after the database is open, STATUS= with the cycle's
figures, WATCHDOG=1 when asked; cycles at the configured interval; SIGHUP with an invalid file keeps the old
configuration and reports it (config_ok = 0, config_error, STATUS=), a valid one applies; SIGTERM exits 0.
As root, also the capability sets of the running daemon: exactly CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE,
CAP_SYS_ADMIN, CAP_BPF and CAP_PERFMON in the effective, permitted and bounding sets, nothing inheritable or ambient, no_new_privs.

usage: test-scanner-daemon.py SCANNER FIXTURES_DIR"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scanner_helpers import check, expect_equal, heartbeat, main, wait_until, write_config

SCANNER, FIXTURES = sys.argv[1], sys.argv[2]

# CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21), CAP_PERFMON (38), CAP_BPF (39).
KEPT = (1 << 2) | (1 << 19) | (1 << 21) | (1 << 38) | (1 << 39)


class Notify:
    """A NOTIFY_SOCKET the daemon reports to."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except (socket.timeout, BlockingIOError):
                return

    def wait_for(self, predicate, what, timeout=20):
        def seen():
            self.drain()
            return any(predicate(m) for m in self.messages)
        wait_until(seen, timeout, what)

    def statuses(self):
        self.drain()
        return [line[len("STATUS="):] for m in self.messages for line in m.split("\n") if line.startswith("STATUS=")]


def caps(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def test_daemon():
    tmp = tempfile.mkdtemp(prefix="procsync-scanner-daemon-")
    proc = None
    try:
        state = os.path.join(tmp, "state")
        os.mkdir(state)
        root = os.path.join(FIXTURES, "proc-basic")
        config = write_config(tmp, proc_root=root, scan_interval="200ms", socket_interval=1)
        notify = Notify(tmp)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000")
        proc = subprocess.Popen([SCANNER, "-c", config, "--state-dir", state], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        notify.wait_for(lambda m: "READY=1" in m.split("\n"), "READY=1")
        check(os.path.exists(os.path.join(state, "state.db")), "READY=1 comes after the database exists")
        notify.wait_for(lambda m: m.startswith("STATUS=Generation") and "8 processes, 7 sockets in 3 network" in m,
                        "STATUS= with the cycle's figures")
        notify.wait_for(lambda m: "WATCHDOG=1" in m.split("\n"), "WATCHDOG=1")

        # Cycles keep coming at the 200 ms interval: the heartbeat advances.
        first = heartbeat(state)["last_cycle_at"]
        wait_until(lambda: heartbeat(state)["last_cycle_at"] > first, 10, "a later cycle")
        expect_equal(heartbeat(state)["generation"], 1, "generation of an unchanging tree")

        if os.geteuid() == 0:
            c = caps(proc.pid)
            for k in ("CapEff", "CapPrm", "CapBnd"):
                expect_equal(int(c[k], 16), KEPT, k + " of the running scanner")
            expect_equal(int(c["CapInh"], 16), 0, "CapInh")
            expect_equal(int(c.get("CapAmb", "0"), 16), 0, "CapAmb")
            expect_equal(c["NoNewPrivs"], "1", "NoNewPrivs")
        else:
            print("not root: capability sets not checked")

        # An invalid file on SIGHUP: the old one stays, the error is reported, cycles go on.
        with open(config, "a") as f:
            f.write("os-proc-socket-sync-interval: -3\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: heartbeat(state)["config_ok"] == 0, 10, "config_ok = 0 after a bad reload")
        hb = heartbeat(state)
        check(hb["config_error"] and "procsync.yaml" in hb["config_error"], "config_error %r" % hb["config_error"])
        before = hb["last_cycle_at"]
        wait_until(lambda: heartbeat(state)["last_cycle_at"] > before, 10, "a cycle after the bad reload")
        notify.wait_for(lambda m: "configuration error" in m, "STATUS= naming the configuration error")
        check(proc.poll() is None, "still running after a bad reload")

        # A valid file: applied (a root without tables changes nothing here; the socket interval does).
        write_config(tmp, proc_root=root, scan_interval="200ms", socket_interval=0)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: heartbeat(state)["config_ok"] == 1, 10, "config_ok = 1 after a good reload")
        wait_until(lambda: heartbeat(state)["stats"]["sockets"] == 0, 10,
                   "socket tables emptied once socket sync is off")

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        expect_equal(rc, 0, "exit status after SIGTERM")
        stderr = proc.stderr.read()
        check("Sanitizer" not in stderr and "runtime error" not in stderr, "stderr: %s" % stderr)
        proc = None
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp)


main([test_daemon])
