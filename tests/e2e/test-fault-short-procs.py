#!/usr/bin/env python3
"""Fault: 1,000 short-lived processes spawned and reaped while the suite scans (README "Reliability").

Inside private PID, network and mount namespaces (tests/suite_harness.py) the whole suite runs under
`procctl run` with 100 ms process and socket scans, min-lifetime 0 (so every short process can be scanned,
decided and exported) and a file sink. Once it has settled, 1,000 processes are started in parallel batches
of 50 and each exits within about 150 ms:
  - 400 forks of this script that listen on a TCP port (and one in two on a UDP port too), then exit;
  - 300 bash processes that connect to a listener of this script (/dev/tcp), then exit;
  - 300 `sh -c 'sleep 0.0N'` (an exec, then a second one).
Checked:
  - no daemon reports a last_error at any point (GET /v1/status polled throughout), no error or warning
    line in the suite's output, no daemon restarted;
  - afterwards the scanner's process and socket counts and the matcher's synced count return to the
    baseline taken before;
  - no leaks: the number of open fds of each daemon (/proc/PID/fd) is back within 4 of the baseline, the
    scanner's RSS grew by less than RSS_BOUND (both printed, so the figures are in the test log), and after
    a clean stop every daemon "stopped" (exit status 0: under ASan/LSan a leak or a sanitizer report would
    be a non-zero status or a signal in the launcher's line).

Usage: test-fault-short-procs.py PROCCTL BUILD_ROOT SOURCE_ROOT"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from suite_harness import DAEMONS, Suite, fast_config, in_namespaces  # noqa: E402

in_namespaces()
from api_harness import check, finish, wait_for  # noqa: E402

PROCCTL = sys.argv[1]
BATCH = 50
N_FORK, N_BASH, N_SH = 400, 300, 300
FD_BOUND = 2
RSS_BOUND = 4 * 1024 * 1024
# ASan keeps freed memory in quarantine (256 MiB by default) to catch use-after-free, which makes the RSS
# grow with any churn; a 1 MiB quarantine keeps that noise below RSS_BOUND.
ASAN_QUARANTINE = "quarantine_size_mb=1"



def fd_count(pid):
    """The fewest open fds in 10 samples 50 ms apart: a cycle in progress holds a few of its own."""
    n = None
    for _ in range(10):
        c = len(os.listdir(f"/proc/{pid}/fd"))
        n = c if n is None else min(n, c)
        time.sleep(0.05)
    return n


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def daemon_pids(doc):
    return {d: doc[d]["pid"] for d in ("scanner", "matcher", "exporter")}


def counts(doc):
    return (doc["scanner"]["counts"]["processes"], doc["scanner"]["counts"]["sockets"],
            doc["matcher"]["counts"]["synced"])


class Acceptor:
    """A listener of this script that the bash clients connect to; accepted connections are closed."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()


def fork_listener(rng):
    """A fork of this script that listens on TCP (and UDP, one in two), lives 0-150 ms and exits."""
    linger = rng.random() * 0.15
    udp = rng.random() < 0.5
    pid = os.fork()
    if pid == 0:
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            if udp:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.bind(("127.0.0.1", 0))
            time.sleep(linger)
        finally:
            os._exit(0)
    return pid


def main():
    rng = random.Random(7)
    tmp = tempfile.mkdtemp(prefix="procsync-shortprocs-")
    state = os.path.join(tmp, "state")
    out = os.path.join(tmp, "export.jsonl")
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(fast_config(state, "100ms", out, sink_extra="        push_interval: 1s\n"))
    acceptor = Acceptor()

    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), ASAN_QUARANTINE]))
    suite = Suite(PROCCTL, config, state, env=env)
    errors_seen = []
    stop_polling = threading.Event()
    try:
        ready = suite.wait_ready()
        wait_for(lambda: suite.api_json("/v1/status")["health"]["healthy"], "healthy at start", 30, 0.1)
        suite.wait_line(r"procsync-exporter\[\d+\]: info: Sink 'file' holds version", 30)
        # The baseline: the scanner counts every process of the namespace (the suite and this script)
        # and the counts hold still for a second.
        def settled():
            seen = set()
            for _ in range(10):
                doc = suite.api_json("/v1/status")
                n_ns = sum(1 for e in os.listdir("/proc") if e.isdigit())
                if doc["scanner"]["counts"]["processes"] != n_ns:
                    return None
                seen.add(counts(doc))
                time.sleep(0.1)
            return doc if len(seen) == 1 else None

        base_doc = wait_for(settled, "counts settled at start", 30, 0.1)
        base = counts(base_doc)
        pids = dict(daemon_pids(base_doc), api=ready["procsync-api"])
        fds0 = {d: fd_count(p) for d, p in pids.items()}
        rss0 = rss_bytes(pids["scanner"])
        print(f"# baseline: {base[0]} processes, {base[1]} sockets, {base[2]} synced; fds {fds0}; "
              f"scanner RSS {rss0 // 1024} KiB", flush=True)
        gen0 = {d: base_doc[d]["generation"] for d in ("scanner", "matcher", "exporter")}

        def poll():
            while not stop_polling.is_set():
                try:
                    doc = suite.api_json("/v1/status")
                except (OSError, RuntimeError) as e:
                    errors_seen.append(f"GET /v1/status: {e}")
                    continue
                for d in ("scanner", "matcher", "exporter"):
                    if doc[d]["last_error"]:
                        errors_seen.append(f'{d}: {doc[d]["last_error"]}')
                stop_polling.wait(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()

        kinds = ["fork"] * N_FORK + ["bash"] * N_BASH + ["sh"] * N_SH
        rng.shuffle(kinds)

        def storm(kinds):
            """Runs `kinds` in batches of BATCH, each batch reaped before the next; returns the count."""
            spawned = 0
            for b in range(0, len(kinds), BATCH):
                forks, procs = [], []
                for k in kinds[b:b + BATCH]:
                    if k == "fork":
                        forks.append(fork_listener(rng))
                    elif k == "bash":
                        procs.append(subprocess.Popen(
                            ["bash", "-c",
                             f"exec 3<>/dev/tcp/127.0.0.1/{acceptor.port}; sleep 0.0{rng.randint(1, 9)}"]))
                    else:
                        procs.append(subprocess.Popen(["sh", "-c", f"sleep 0.0{rng.randint(1, 9)}; exit 0"]))
                for p in forks:
                    _, st = os.waitpid(p, 0)
                    if os.waitstatus_to_exitcode(st) != 0:
                        errors_seen.append(f"fork child {p} exited {os.waitstatus_to_exitcode(st)}")
                for p in procs:
                    if p.wait() != 0:
                        errors_seen.append(f"{p.args} exited {p.returncode}")
                spawned += len(forks) + len(procs)
            return spawned

        def back_to_baseline():
            try:
                return wait_for(lambda: counts(suite.api_json("/v1/status")) == base, "counts back", 30, 0.1)
            except TimeoutError:
                return False

        # Two halves: the first brings the caches (SQLite's page cache, the scanner's tables) to their
        # size under churn; the second must not grow the scanner's RSS any further.
        half = len(kinds) // 2
        t0 = time.monotonic()
        spawned = storm(kinds[:half])
        back1 = back_to_baseline()
        rss_mid = rss_bytes(pids["scanner"])
        spawned += storm(kinds[half:])
        took = time.monotonic() - t0
        gen1 = {d: suite.generation(d) for d in ("scanner", "matcher", "exporter")}
        print(f"# spawned and reaped {spawned} processes in {took:.1f} s; {acceptor.accepted} connections; "
              f"generations {gen0} -> {gen1}", flush=True)
        check("1,000 processes ran", spawned == N_FORK + N_BASH + N_SH and acceptor.accepted >= N_BASH,
              f"{spawned} spawned, {acceptor.accepted} accepted")
        check("the scanner saw the churn (its generation moved)", gen1["scanner"] > gen0["scanner"],
              f"{gen0} -> {gen1}")

        back2 = back_to_baseline()
        check("counts back to the baseline after each half (processes, sockets, synced)", back1 and back2,
              f"{counts(suite.api_json('/v1/status'))} vs {base}; first half {back1}")
        stop_polling.set()
        poller.join(5)
        check("no daemon reported a last_error", not errors_seen, "; ".join(sorted(set(errors_seen))[:10]))

        fds1 = {d: fd_count(p) for d, p in pids.items()}
        rss1 = rss_bytes(pids["scanner"])
        print(f"# after: fds {fds1}; scanner RSS {rss_mid // 1024} KiB after the first half "
              f"({(rss_mid - rss0) // 1024:+d} KiB), {rss1 // 1024} KiB after the second "
              f"({(rss1 - rss_mid) // 1024:+d} KiB)", flush=True)
        for d in pids:
            check(f"{d}: open fds back within {FD_BOUND} of the baseline", fds1[d] <= fds0[d] + FD_BOUND,
                  f"{fds0[d]} -> {fds1[d]}")
        check(f"scanner RSS grew by less than {RSS_BOUND // (1024 * 1024)} MiB in the second half",
              rss1 - rss_mid < RSS_BOUND, f"{rss_mid} -> {rss1}")
    finally:
        stop_polling.set()
        rc = suite.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = suite.lines()
    bad = [ln for ln in lines if re.search(r": (error|warning|critical): ", ln)]
    check("no error or warning line in the suite's output", not bad, "\n".join(bad[:20]))
    restarts = [ln for ln in lines if "restarting in" in ln]
    check("no daemon restarted", not restarts, "\n".join(restarts))
    check("procctl run exits 0", rc == 0, str(rc))
    for d in DAEMONS:
        ends = [ln for ln in lines if re.search(rf"{d} \(pid \d+\) ", ln)]
        check(f"{d} stopped with status 0 (no leak or sanitizer report)",
              len(ends) == 1 and ends[0].endswith("stopped"), "\n".join(ends))
    if os.environ.get("VERBOSE"):
        print("# " + "\n# ".join(lines), flush=True)
    finish()


main()
