#!/usr/bin/env python3
"""Fault test (README "Reliability"): SIGKILL each daemon in the middle of a cycle, under `procctl run`,
inside private PID, network and mount namespaces.

Workload: 120 `sleep` processes (a larger scan) and a churn server that holds one established connection
with this script and forks a short-lived child every 100 ms (each child inherits the listening and the
connected socket and binds a UDP socket of its own), so every 200 ms cycle of the scanner changes
processes, sockets and owners (every other cycle scans sockets: os-proc-socket-sync-interval 400 ms), the
matcher's decisions change, and the exporter writes a new version to a file sink.

Each writing daemon is killed while it holds the WAL write lock of state.db (seen in /proc/locks: a POSIX
write lock on byte 120 of state.db-shm, SQLite's WAL_WRITE_LOCK), i.e. inside its write transaction;
procsync-api while it holds a WAL read lock (inside a request's read transaction). Two rounds, so each
daemon is restarted twice (1 s then 2 s back-off). Checked:
  - the launcher prints "was killed by signal 9", "started" and "is ready" with a new pid; the new pid is
    the heartbeat row's (/v1/status) for scanner, matcher and exporter; the API answers again;
  - PRAGMA integrity_check is "ok" on state.db opened read-only right after each kill (with the killed
    writer's WAL left behind) and after the suite stopped;
  - while all this happens two threads poll the API without pause, and every answer is one whole cycle:
    /v1/sockets with the same scanner generation always has the same socket set; /v1/lookup of the
    churn connection lists, for each socket, exactly the processes of its owner pids (one snapshot); every
    /v1/processes has all the stable processes (none lost to a half-written decision set); in /v1/status
    the counts of the scanner's and the matcher's tables equal the figures their heartbeat row wrote in
    the same transaction;
  - the next cycle after each restart is complete: a generation bump of the restarted daemon, then every
    stable process and the churn sockets present (scanner, matcher); a new version in the file sink with
    every stable process (exporter);
  - `procctl run` stops with status 0, and no daemon printed a sanitizer report.

Usage: test-fault-kill.py PROCCTL BUILD_ROOT SOURCE_ROOT"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from suite_harness import Suite, conclude, in_namespaces  # noqa: E402
from api_harness import check, wait_for  # noqa: E402

in_namespaces()
PROCCTL = sys.argv[1]
N_SLEEPERS = 120
ROUNDS = 2
PORT = 7400

CHURN = r"""
import os, random, signal, socket, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(8)
print("listening", flush=True)
conn, _ = ls.accept()
while True:
    if os.fork() == 0:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        time.sleep(random.uniform(0.2, 1.5))
        os._exit(0)
    time.sleep(0.1)
"""


def shm_lock_holder(shm_inode, pid, offsets):
    """True when `pid` holds a POSIX lock on state.db-shm covering one of `offsets` (WRITE for 120)."""
    try:
        with open("/proc/locks") as f:
            data = f.read()
    except OSError:
        return False
    for line in data.splitlines():
        f = line.split()
        # "1: POSIX  ADVISORY  WRITE 123 00:2d:4567 120 120"; blocked waiters are "1: -> POSIX ..."
        if len(f) < 8 or f[1] != "POSIX" or int(f[4]) != pid:
            continue
        if int(f[5].rsplit(":", 1)[1]) != shm_inode:
            continue
        start, end = int(f[6]), (1 << 62) if f[7] == "EOF" else int(f[7])
        for off, kind in offsets:
            if f[3] == kind and start <= off <= end:
                return True
    return False


def integrity(db_path):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


class Poller:
    """Polls the API without pause and checks that each answer is one whole cycle."""

    def __init__(self, suite, stable, lookup_path):
        self.suite, self.stable, self.lookup_path = suite, stable, lookup_path
        self.sockets_by_gen = {}
        self.errors = []
        self.counts = {"sockets": 0, "lookup": 0, "processes": 0, "status": 0, "status_checked": 0,
                       "unavailable": 0}
        self.stop = False
        self.threads = [threading.Thread(target=self.run_sockets, daemon=True),
                        threading.Thread(target=self.run_other, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop = True
        for t in self.threads:
            t.join(30)

    def get(self, path):
        try:
            r = self.suite.api(path, timeout=5)
        except OSError:
            self.counts["unavailable"] += 1  # procsync-api killed or restarting
            return None
        if r.status == 503:
            self.counts["unavailable"] += 1
            return None
        if r.status != 200:
            self.errors.append(f"GET {path}: {r.status} {r.body[:300]!r}")
            return None
        return json.loads(r.body)

    def run_sockets(self):
        while not self.stop:
            doc = self.get("/v1/sockets")
            if doc is None:
                time.sleep(0.02)
                continue
            self.counts["sockets"] += 1
            key = frozenset((s["proto"], s["state"], s["local"], s["remote"], s["role"], s["inode"],
                             s["netns_id"], s["first_seen"], tuple(sorted(s["pids"]))) for s in doc["sockets"])
            old = self.sockets_by_gen.setdefault(doc["generation"], key)
            if old != key:
                self.errors.append(f"/v1/sockets generation {doc['generation']}: two different socket sets "
                                   f"({len(old)} and {len(key)} sockets; differing: {sorted(map(str, old ^ key))[:4]})")

    def run_other(self):
        while not self.stop:
            doc = self.get(self.lookup_path)
            if doc is not None:
                self.counts["lookup"] += 1
                if len(doc["matches"]) != 2:
                    self.errors.append(f"lookup of the churn connection: {len(doc['matches'])} matches: {doc}")
                for m in doc["matches"]:
                    pids = sorted(m["socket"]["pids"])
                    procs = sorted(p["pid"] for p in m["processes"])
                    if pids != procs:
                        self.errors.append(f"lookup ({m['side']}): socket owners {pids} but processes {procs}")
            doc = self.get("/v1/processes")
            if doc is not None:
                self.counts["processes"] += 1
                have = {p["pid"]: p["name"] for p in doc["processes"]}
                missing = [pid for pid, name in self.stable.items() if have.get(pid) != name]
                if missing:
                    self.errors.append(f"/v1/processes generation {doc['generation']}: stable processes "
                                       f"missing or misnamed: {missing[:10]} ({len(missing)})")
            status = self.get("/v1/status")
            if status is not None:
                self.counts["status"] += 1
                self.check_status(status)
            if doc is None:
                time.sleep(0.02)

    def check_status(self, status):
        """The counts of the tables and the figures of the heartbeat row, written in the same transaction."""
        sc, m = status["scanner"], status["matcher"]
        self.counts["status_checked"] += bool(sc.get("stats") and m.get("stats"))
        if sc.get("stats"):
            got = (sc["counts"]["processes"], sc["counts"]["sockets"])
            want = (sc["stats"]["processes"] + sc["stats"]["kernel_threads"], sc["stats"]["sockets"])
            if got != want:
                self.errors.append(f"/v1/status scanner generation {sc['generation']}: tables hold "
                                   f"{got} processes and sockets, its heartbeat says {want}")
        if m.get("stats"):
            got = (m["counts"]["decided"], m["counts"]["synced"])
            want = (m["stats"]["processes"], m["stats"]["synced"])
            if got != want:
                self.errors.append(f"/v1/status matcher generation {m['generation']}: tables hold "
                                   f"{got} decisions and synced, its heartbeat says {want}")


def last_file_version(path):
    """(version, pids) of the file sink's last full document, (0, set()) if none."""
    try:
        with open(path) as f:
            lines = [line for line in f.read().split("\n") if line]
    except FileNotFoundError:
        return 0, set()
    for line in reversed(lines):
        doc = json.loads(line)
        if doc.get("full"):
            return doc["version"], {p["pid"] for p in doc["processes"]}
    return 0, set()


def main():
    tmp = tempfile.mkdtemp(prefix="procsync-fault-kill-")
    os.chmod(tmp, 0o755)
    state = os.path.join(tmp, "state")
    sink = os.path.join(tmp, "sink.jsonl")
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(f"""os-proc-sync-enabled: true
os-proc-socket-sync-interval: 400ms
os-proc-socket-min-lifetime: 0
procsync:
  process_scan_interval: 200ms
  exporter:
    sinks:
      - type: file
        path: {sink}
        push_interval: 200ms
""")

    sleepers = [subprocess.Popen(["sleep", "1000"]) for _ in range(N_SLEEPERS)]
    churn = subprocess.Popen([sys.executable, "-c", CHURN, str(PORT)], stdout=subprocess.PIPE, text=True)
    assert churn.stdout.readline().strip() == "listening"
    client = socket.create_connection(("127.0.0.1", PORT))
    cport = client.getsockname()[1]
    stable = {p.pid: "sleep" for p in sleepers}
    stable[churn.pid] = "python3"
    stable[os.getpid()] = "python3"
    lookup = f"/v1/lookup?proto=tcp&local=127.0.0.1:{PORT}&remote=127.0.0.1:{cport}"

    suite = Suite(PROCCTL, config, state)
    poller = None
    try:
        pids = suite.wait_ready()
        check("every daemon is ready", len(pids) == 4, str(pids))
        db_path = os.path.join(state, "state.db")

        def complete_scan():
            doc = suite.api_json("/v1/processes")
            have = {p["pid"]: p["name"] for p in doc["processes"]}
            socks = suite.api_json("/v1/sockets")["sockets"]
            churn_socks = [s for s in socks if s["local"] == f"127.0.0.1:{PORT}"]
            return (all(have.get(pid) == name for pid, name in stable.items())
                    and any(s["state"] == "listen" and churn.pid in s["pids"] for s in churn_socks)
                    and any(s["state"] == "established" and churn.pid in s["pids"] for s in churn_socks))

        wait_for(complete_scan, "the first complete cycle", timeout=60, interval=0.2)
        wait_for(lambda: last_file_version(sink)[0] > 0, "a first version in the file sink", timeout=60,
                 interval=0.2)
        shm_inode = os.stat(db_path + "-shm").st_ino

        poller = Poller(suite, stable, lookup)
        poller.start()

        mid_tx = {"scanner": 0, "matcher": 0, "exporter": 0, "api": 0}
        for rnd in range(ROUNDS):
            for daemon in ["scanner", "matcher", "exporter", "api"]:
                name = f"procsync-{daemon}"
                pid = pids[name]
                status = suite.api_json("/v1/status")
                gen_before = status[daemon]["generation"] if daemon != "api" else None
                file_before = last_file_version(sink)[0]
                # A writer's transaction holds the WAL write lock (byte 120); a reader's holds a read
                # mark (bytes 123..127) for its whole read transaction.
                offsets = [(120, "WRITE")] if daemon != "api" else [(o, "READ") for o in range(123, 128)]
                deadline = time.monotonic() + 15
                hit = False
                while time.monotonic() < deadline:
                    if shm_lock_holder(shm_inode, pid, offsets):
                        hit = True
                        break
                mark = suite.line_count()
                os.kill(pid, signal.SIGKILL)
                mid_tx[daemon] += hit
                print(f"# round {rnd + 1}: SIGKILL {name} (pid {pid}), "
                      f"{'inside' if hit else 'NOT inside'} its {'write' if daemon != 'api' else 'read'} "
                      f"transaction", flush=True)
                integ = integrity(db_path)
                check(f"round {rnd + 1}, {daemon}: integrity_check right after the kill is ok",
                      integ == [("ok",)], str(integ))
                try:
                    suite.wait_line(rf"{name} \(pid {pid}\) was killed by signal 9", 10, mark)
                    suite.wait_line(rf"{name} started \(pid (\d+)\)", 30, mark)
                    new = int(suite.wait_line(rf"{name} is ready \(pid (\d+)\)", 30, mark).group(1))
                except TimeoutError as e:
                    check(f"round {rnd + 1}, {daemon}: restarted by the launcher", False, str(e)[-3000:])
                    raise
                check(f"round {rnd + 1}, {daemon}: restarted with a new pid ({pid} -> {new})", new != pid)
                pids[name] = new
                if daemon == "api":
                    ok = wait_for(lambda: suite.api_json("/v1/status"), "the API answers", timeout=30)
                    check(f"round {rnd + 1}, api: answers again", bool(ok))
                    continue
                wait_for(lambda: suite.api_json("/v1/status")[daemon]["pid"] == new,
                         f"{daemon} heartbeat names pid {new}", timeout=30, interval=0.05)
                check(f"round {rnd + 1}, {daemon}: its heartbeat row names the new pid", True)
                g = suite.wait_generation_after(daemon, gen_before, timeout=30)
                check(f"round {rnd + 1}, {daemon}: a new generation after the restart ({gen_before} -> {g})",
                      g > gen_before)
                if daemon in ("scanner", "matcher"):
                    ok = wait_for(complete_scan, "a complete cycle", timeout=30, interval=0.1)
                    check(f"round {rnd + 1}, {daemon}: the next cycle has every stable process and the "
                          "churn sockets", bool(ok))
                else:
                    ok = wait_for(lambda: last_file_version(sink)[0] > file_before
                                  and set(stable) <= last_file_version(sink)[1],
                                  "a new complete version in the file sink", timeout=30, interval=0.1)
                    check(f"round {rnd + 1}, exporter: a new version in the file sink with every stable "
                          "process", bool(ok))

        for daemon in ["scanner", "matcher", "exporter", "api"]:
            check(f"{daemon} was killed inside a transaction at least once ({mid_tx[daemon]} of {ROUNDS})",
                  mid_tx[daemon] > 0)
        time.sleep(0.5)  # a few more polls after the last restart (not a synchronisation)
        poller.join()
        print(f"# polls: {poller.counts}", flush=True)
        check("the API was polled throughout",
              all(poller.counts[k] > 20 for k in ["sockets", "lookup", "processes", "status_checked"]),
              str(poller.counts))
        check("no answer showed a half-written cycle", not poller.errors, "\n".join(poller.errors[:20]))
        check("several scanner generations were seen", len(poller.sockets_by_gen) > 10,
              str(len(poller.sockets_by_gen)))
    finally:
        if poller:
            poller.join()
        rc = suite.stop()
        for p in sleepers + [churn]:
            p.kill()
            p.wait()
    check("procctl run stopped with status 0", rc == 0, str(rc))
    integ = integrity(os.path.join(state, "state.db"))
    check("integrity_check after the stop is ok", integ == [("ok",)], str(integ))
    conclude(suite.output(), tmp)


main()
