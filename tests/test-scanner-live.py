#!/usr/bin/env python3
"""procsync-scanner --once on a real /proc, in a private PID, mount and network namespace (unshare): the test
script is pid 1 there, so the process table is exactly what it starts.

  - exact rows of known processes: `sleep 1000`, a child whose comm has spaces and parentheses, pid 1;
  - processes exiting during the scan: 20 --once runs while a churn keeps spawning and reaping short
    processes (at least 200): every run succeeds, no cycle error;
  - pid reuse: the same pid (forced with ns_last_pid) with a new start time is a new row, new first_seen;
  - exec without fork: same pid and start ticks, new comm/cmdline/exe: the row is updated, first_seen kept,
    changed_generation bumped;
  - sockets through the whole daemon: a listener shared by pid 1 and a forked child (both owners), an
    accepted connection (server) and its client (client), a connected UDP socket, an IPv6 listener; the
    stats name the owner source (socket_figures.owner_source: "bpf" where the iterator loads, else
    "fdwalk"; scanner/test-owner-bpf.c compares the two).

Needs root (CAP_SYS_ADMIN for the namespaces): exits 77 otherwise.
usage: test-scanner-live.py SCANNER FIXTURES_DIR"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scanner_helpers import (check, expect_equal, heartbeat, main, processes, run_once, skip, sockets,
                             wait_next_ms, wait_until, write_config)

SCANNER = os.path.abspath(sys.argv[1])
TMP = None
STATE = None
CONFIG = None


def outer():
    if os.geteuid() != 0:
        skip("needs root to create PID and network namespaces")
    unshare = shutil.which("unshare")
    if not unshare:
        skip("unshare(1) is not installed")
    cmd = [unshare, "--pid", "--fork", "--mount-proc", "--net", sys.executable, os.path.abspath(__file__),
           SCANNER, sys.argv[2], "--inner"]
    p = subprocess.run(cmd)
    if p.returncode != 0 and p.returncode != 77:
        probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "--net", "true"],
                               stderr=subprocess.PIPE, text=True)
        if probe.returncode != 0:
            skip("cannot create namespaces here: " + probe.stderr.strip())
    sys.exit(p.returncode)


def stat_fields(pid):
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    close = data.rindex(b")")
    comm = data[data.index(b"(") + 1:close].decode()
    rest = data[close + 2:].split()
    return comm, int(rest[1]), int(rest[19])  # comm, ppid, start ticks (fields 4 and 22)


def btime():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1])
    raise AssertionError("no btime")


def container_id(pid):
    """The same rule as the scanner, written independently: last 64-hex run of the first line that has one."""
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            path = line.rstrip("\n").split(":", 2)[2]
            ids = re.findall(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", path)
            if ids:
                return ids[-1].lower()
    return ""


def expected_row(pid, user="root"):
    comm, ppid, ticks = stat_fields(pid)
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        cmdline = f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
    return {
        "pid": pid, "ppid": ppid, "comm": comm, "cmdline": cmdline, "exe": os.readlink("/proc/%d/exe" % pid),
        "uid": os.stat("/proc/%d" % pid).st_uid, "user": user, "start_ticks": ticks,
        "start_time": btime() + ticks // os.sysconf("SC_CLK_TCK"),
        "netns_inode": os.stat("/proc/%d/ns/net" % pid).st_ino, "container_id": container_id(pid),
    }


def row_without_times(row):
    return {k: v for k, v in row.items() if k not in ("first_seen", "last_seen", "changed_generation")}


def is_scanner(row):
    return row["comm"] == "procsync-scanne"


def test_known_processes():
    sleeper = subprocess.Popen(["sleep", "1000"])
    worker = subprocess.Popen([sys.executable, "-c",
                               "import sys\n"
                               "open('/proc/self/comm', 'w').write('my worker (x) y')\n"
                               "sys.stdin.read()\n"], stdin=subprocess.PIPE)
    try:
        wait_until(lambda: stat_fields(worker.pid)[0] == "my worker (x) y", what="the worker's new comm")
        wait_until(lambda: os.readlink("/proc/%d/exe" % sleeper.pid).endswith("sleep"), what="sleep exec'd")
        run_once(SCANNER, CONFIG, STATE)
        rows = processes(STATE)
        others = {pid for pid, r in rows.items() if not is_scanner(r)}
        expect_equal(others, {1, sleeper.pid, worker.pid}, "pids in the table (besides the scanner itself)")
        check(sum(1 for r in rows.values() if is_scanner(r)) == 1, "the scanner sees itself once")
        for pid in (1, sleeper.pid, worker.pid):
            expect_equal(row_without_times(rows[pid]), expected_row(pid), "row of pid %d" % pid)
        expect_equal(rows[sleeper.pid]["cmdline"], "sleep 1000", "sleep's cmdline")
        expect_equal(rows[worker.pid]["comm"], "my worker (x) y", "comm with spaces and parentheses")
        expect_equal(heartbeat(STATE)["last_error"], None, "last_error")
    finally:
        for p in (sleeper, worker):
            p.kill()
            p.wait()


def test_exit_during_scan():
    stop = threading.Event()
    spawned = [0]

    def churn():
        while not stop.is_set():
            batch = [subprocess.Popen(["true"]) for _ in range(8)]
            for p in batch:
                p.wait()
            spawned[0] += len(batch)

    t = threading.Thread(target=churn)
    t.start()
    try:
        wait_until(lambda: spawned[0] >= 8, what="the churn to start")
        vanished = 0
        for i in range(20):
            p = run_once(SCANNER, CONFIG, STATE, check=False)
            expect_equal(p.returncode, 0, "exit status of run %d (stderr %r)" % (i, p.stderr))
            hb = heartbeat(STATE)
            expect_equal(hb["last_error"], None, "last_error of run %d" % i)
            vanished += hb["stats"]["vanished"]
        wait_until(lambda: spawned[0] >= 200, 30, "200 short processes")
    finally:
        stop.set()
        t.join()
    print("churn: %d short processes during 20 runs, %d seen vanishing mid-read" % (spawned[0], vanished))


def test_pid_reuse():
    a = subprocess.Popen(["sleep", "1000"])
    wait_until(lambda: os.readlink("/proc/%d/exe" % a.pid).endswith("sleep"), what="sleep exec'd")
    run_once(SCANNER, CONFIG, STATE)
    old = processes(STATE)[a.pid]
    gen = heartbeat(STATE)["generation"]
    a.kill()
    a.wait()

    # A new process must start at a later clock tick, or it would be indistinguishable by design.
    def uptime_ticks():
        with open("/proc/uptime") as f:
            return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))
    wait_until(lambda: uptime_ticks() > old["start_ticks"] + 1, what="the next clock tick")
    wait_next_ms(old["first_seen"])
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(a.pid - 1))
    b = subprocess.Popen(["sleep", "1000"])
    try:
        expect_equal(b.pid, a.pid, "pid forced with ns_last_pid")
        wait_until(lambda: os.readlink("/proc/%d/exe" % b.pid).endswith("sleep"), what="sleep exec'd")
        run_once(SCANNER, CONFIG, STATE)
        new = processes(STATE)[b.pid]
        check(new["start_ticks"] > old["start_ticks"], "new start ticks %r vs %r" % (new, old))
        check(new["first_seen"] > old["first_seen"], "a reused pid gets a new first_seen: %r vs %r" % (new, old))
        expect_equal(new["cmdline"], old["cmdline"], "same cmdline (only the start time tells them apart)")
        hb = heartbeat(STATE)
        check(hb["generation"] > gen, "generation bumped")
        expect_equal(new["changed_generation"], hb["generation"], "changed_generation of the new process")
        expect_equal(row_without_times(new), expected_row(b.pid), "row of the new process")
    finally:
        b.kill()
        b.wait()


def test_exec_without_fork():
    c = subprocess.Popen([sys.executable, "-c",
                          "import os, sys\nsys.stdin.readline()\nos.execv('/bin/sleep', ['sleep', '3000'])\n"],
                         stdin=subprocess.PIPE)
    try:
        wait_until(lambda: stat_fields(c.pid)[0].startswith("python"), what="python started")
        run_once(SCANNER, CONFIG, STATE)
        before = processes(STATE)[c.pid]
        check(" -c " in before["cmdline"], "cmdline before exec: %r" % before["cmdline"])
        wait_next_ms(before["first_seen"])
        c.stdin.write(b"\n")
        c.stdin.flush()
        wait_until(lambda: stat_fields(c.pid)[0] == "sleep", what="the exec")
        run_once(SCANNER, CONFIG, STATE)
        after = processes(STATE)[c.pid]
        hb = heartbeat(STATE)
        expect_equal((after["comm"], after["cmdline"], os.path.basename(after["exe"])), ("sleep", "sleep 3000", "sleep"),
                     "row after exec")
        expect_equal((after["start_ticks"], after["first_seen"]), (before["start_ticks"], before["first_seen"]),
                     "same identity and first_seen after exec")
        check(after["last_seen"] > before["last_seen"], "last_seen is the time of the change")
        expect_equal(after["changed_generation"], hb["generation"], "changed_generation after exec")
        check(hb["stats"]["writes"]["processes_exec"] >= 1, "exec counted: %r" % hb["stats"]["writes"])
    finally:
        c.kill()
        c.wait()


def test_sockets():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    netns = os.stat("/proc/self/ns/net").st_ino
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    listener6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener6.bind(("::1", 0))
    listener6.listen(4)
    port6 = listener6.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(("127.0.0.1", 53))

    child = os.fork()  # shares the listener (and the rest) with pid 1
    if child == 0:
        signal.pause()
        os._exit(0)
    client = subprocess.Popen([sys.executable, "-c",
                               "import socket, sys\n"
                               "s = socket.create_connection(('127.0.0.1', %d))\n"
                               "print(s.getsockname()[1], flush=True)\n"
                               "sys.stdin.read()\n" % port], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    conn = None
    try:
        conn, _ = listener.accept()
        cport = int(client.stdout.readline())
        run_once(SCANNER, CONFIG, STATE)
        socks = sockets(STATE)
        source = heartbeat(STATE)["stats"]["socket_figures"]["owner_source"]
        check(source in ("bpf", "fdwalk"), "owner_source %r" % source)
        print("socket owners from %s (bpf: the BPF iterator; fdwalk: /proc/<pid>/fd, when BPF is not "
              "available)" % source)

        def one(pred, what):
            found = [s for s in socks.values() if pred(s)]
            expect_equal(len(found), 1, what + " (in %r)" % list(socks.values()))
            s = found[0]
            expect_equal(s["netns_inode"], netns, what + ": netns")
            return s

        s = one(lambda s: s["proto"] == "tcp" and s["state"] == "listen" and s["local_port"] == port, "listener")
        expect_equal((s["local_addr"], s["role"], s["owners"]), ("127.0.0.1", "server", sorted([1, child])),
                     "listener shared by pid 1 and its child")
        s = one(lambda s: s["state"] == "established" and s["local_port"] == port, "accepted side")
        expect_equal((s["remote_port"], s["role"], s["owners"]), (cport, "server", [1]), "accepted side")
        s = one(lambda s: s["state"] == "established" and s["local_port"] == cport, "client side")
        expect_equal((s["remote_port"], s["role"], s["owners"]), (port, "client", [client.pid]), "client side")
        s = one(lambda s: s["family"] == 6, "IPv6 listener")
        expect_equal((s["local_addr"], s["local_port"], s["state"], s["owners"]), ("::1", port6, "listen", [1, child]),
                     "IPv6 listener")
        s = one(lambda s: s["proto"] == "udp", "connected UDP socket")
        expect_equal((s["state"], s["remote_addr"], s["remote_port"], s["role"]), ("connected", "127.0.0.1", 53,
                                                                                   "client"), "UDP socket")
        expect_equal(len(socks), 5, "sockets in the namespace")
        first_seen = {k: v["first_seen"] for k, v in socks.items()}

        # The client goes: its socket and the accepted one close; the rest keep their first_seen.
        wait_next_ms(max(first_seen.values()))
        client.kill()
        client.wait()
        conn.close()
        conn = None
        def established():
            with open("/proc/net/tcp") as f:
                return sum(1 for line in f.readlines()[1:] if line.split()[3] == "01")
        wait_until(lambda: established() == 0, what="the connection to close")
        run_once(SCANNER, CONFIG, STATE)
        after = sockets(STATE)
        expect_equal(len(after), 3, "sockets after the client left: %r" % list(after.values()))
        for k, v in after.items():
            expect_equal(v["first_seen"], first_seen[k], "first_seen of a surviving socket")
    finally:
        if conn:
            conn.close()
        if client.poll() is None:
            client.kill()
            client.wait()
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        for s in (listener, listener6, udp):
            s.close()


def inner():
    global TMP, STATE, CONFIG
    check(os.getpid() == 1, "running as pid 1 of a new PID namespace")
    TMP = tempfile.mkdtemp(prefix="procsync-scanner-live-")
    try:
        STATE = os.path.join(TMP, "state")
        os.mkdir(STATE)
        CONFIG = write_config(TMP)
        main([test_known_processes, test_exit_during_scan, test_pid_reuse, test_exec_without_fork, test_sockets])
    finally:
        shutil.rmtree(TMP)


if __name__ == "__main__":
    if sys.argv[-1] == "--inner":
        # pid 1 of a namespace ignores signals it has no handler for; reap whatever is orphaned to us.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        inner()
    else:
        outer()
