#!/usr/bin/env python3
"""Fault: the state directory on a tiny tmpfs that fills up (README "Reliability").

Inside private PID, network and mount namespaces (tests/suite_harness.py), a 4 MiB tmpfs is mounted as
the state directory and the whole suite runs on it (`procctl run`, 200 ms scans, a file sink outside it).
Once it has settled (the WAL checkpointed, as on a host that has run for a while), a filler file takes
every free block. Checked:
  - steady state on the full disk (nothing new to store): the scanner keeps reporting, fresh, once its
    WAL has come to the end of its file (the heartbeat of a failed cycle checkpoints, and the WAL starts
    again in space it already has);
  - then 60 processes with 2 KiB command lines and a listening socket each: the scanner's transaction
    needs pages nobody can give. The scanner logs it; GET /v1/status is unhealthy and names the full
    state directory (the scanner's own last_error says "No space left on device" as long as its row can
    still be written, then the row goes stale) and `procctl status` exits non-zero saying so;
  - the exporter, SIGKILLed while the disk is full, is restarted by the launcher and registers again;
  - no other daemon dies or restarts (one "is ready" line each), the scanner keeps trying;
  - PRAGMA integrity_check is ok while full and after;
  - once the filler is deleted the suite recovers by itself: healthy, no last_error, a new scan generation
    with all 60 processes and their sockets, decided, and exported in the file sink's last line.
Finally the suite stops cleanly (every daemon "stopped", none with an exit status).

Usage: test-fault-disk-full.py PROCCTL BUILD_ROOT SOURCE_ROOT"""
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from suite_harness import DAEMONS, Suite, fast_config, in_namespaces  # noqa: E402

in_namespaces()
from api_harness import check, finish, wait_for  # noqa: E402

PROCCTL = sys.argv[1]
N_PROCS = 60
PAD = 2048


# A process that listens on a TCP port and waits for its stdin to close; its command line carries a tag
# and PAD bytes of padding, so each one is a few KiB of scan_processes rows.
CHILD = ("import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n"
         "sys.stdout.write('up\\n');sys.stdout.flush()\nsys.stdin.read()\n")


def statfs_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def status(suite):
    try:
        return suite.api_json("/v1/status")
    except (OSError, RuntimeError):
        return None


FULL = ("database or disk is full", "No space left on device")


def disk_full_reported(doc):
    """The full disk as /v1/status shows it: {"last_error": the scanner's, "problem": a health problem}
    with what was found (the scanner's own last_error needs a write, which may fail too)."""
    if not doc:
        return None
    found = {}
    err = doc["scanner"].get("last_error") or ""
    if any(f in err for f in FULL):
        found["last_error"] = err
    for p in doc["health"]["problems"]:
        if "is full" in p and "database or disk is full" in p:
            found["problem"] = p
    return found if "problem" in found and not doc["health"]["healthy"] else None


def main():
    tmp = tempfile.mkdtemp(prefix="procsync-diskfull-")
    state = os.path.join(tmp, "state")
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "procsync-state", state], check=True)
    out = os.path.join(tmp, "export.jsonl")
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(fast_config(state, "200ms", out, static_extra="  os-proc-regex:\n"
                                                              "    - match-regex: '^(sleep|python3)$'\n"))

    suite = Suite(PROCCTL, config, state)
    children = []
    try:
        pids = suite.wait_ready()
        wait_for(lambda: (status(suite) or {}).get("health", {}).get("healthy"), "healthy at start", 30)
        # Every daemon past its start-up writes (the exporter's sink row comes after READY=1).
        suite.wait_line(r"procsync-exporter\[\d+\]: info: Version \d+:", 30)
        # ... and the matcher's first decisions written and exported: on a loaded machine they can come
        # after the exporter's first (empty) version, and then would need space the filler took.
        wait_for(lambda: ((status(suite) or {}).get("matcher") or {}).get("generation", 0) >= 1,
                 "the matcher's first decisions", 30)
        suite.wait_line(r"procsync-exporter\[\d+\]: info: Version \d+: [1-9]\d* processes", 30)
        wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, "the first export", 30)
        print(f"# tmpfs: {statfs_free(state)} bytes free at start; " + ", ".join(
            f"{n} {os.path.getsize(os.path.join(state, n))} bytes" for n in sorted(os.listdir(state))),
            flush=True)

        # A host that has run for a while has most pages in state.db and a WAL that checkpoints restart
        # in place; a checkpoint here gives the young database that shape (auto-checkpoints come only
        # every 1000 pages).
        db = sqlite3.connect(os.path.join(state, "state.db"))
        print(f"# checkpoint (busy, log, checkpointed): {db.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchone()}",
              flush=True)
        db.close()

        # Fill the tmpfs: every block.
        mark = suite.line_count()
        filler = os.path.join(state, "filler")
        # Unbuffered, so that nothing is left to flush (and fail) at close; 64 KiB, then page by page.
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        written = 0
        try:
            for chunk in (65536, 4096):
                try:
                    while True:
                        written += os.write(fd, b"\0" * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
            print(f"# filler: no space left after {written} bytes", flush=True)
        finally:
            os.close(fd)
        print(f"# tmpfs: {statfs_free(state)} bytes free after the filler", flush=True)

        # Steady state on the full disk: nothing new to store, so nothing needs new space; the WAL comes
        # to the end of its file within a few seconds of 200 ms cycles and must start again from the top.
        samples = []
        t_end = time.monotonic() + 6
        while time.monotonic() < t_end:
            doc = status(suite)
            if doc:
                samples.append((doc["scanner"]["last_cycle_at"], doc["scanner"]["fresh"], doc["matcher"]["fresh"],
                                doc["scanner"]["last_error"]))
            time.sleep(0.25)
        steady_failed = [ln for ln in suite.lines()[mark:] if "error:" in ln]
        print(f"# steady state, full disk: {len(steady_failed)} error lines, WAL "
              f"{os.path.getsize(os.path.join(state, 'state.db-wal'))} bytes, samples {samples[-4:]}", flush=True)
        for ln in steady_failed[:5]:
            print("# " + ln, flush=True)
        check("full disk, nothing new to store: the scanner keeps reporting", samples and samples[-1][1]
              and len({x[0] for x in samples[-8:]}) > 1, repr(samples))

        # A daemon restarted on the full disk registers again (its heartbeat row takes the write once the
        # WAL restarts in place) instead of exiting until space returns.
        mark = suite.line_count()
        os.kill(pids["procsync-exporter"], signal.SIGKILL)
        try:
            m = suite.wait_line(r"procsync-exporter is ready \(pid (\d+)\)", 30, mark)
            new_exporter = int(m.group(1))
        except TimeoutError:
            new_exporter = None
        check("the exporter, killed while the disk is full, is restarted and registers", new_exporter,
              "\n".join(suite.lines()[mark:]))
        try:
            wait_for(lambda: ((status(suite) or {}).get("exporter") or {}).get("pid") == new_exporter,
                     "the new exporter in /v1/status", 30, 0.2)
            ok = True
        except TimeoutError:
            ok = False
        check("its new pid is in /v1/status", ok, repr((status(suite) or {}).get("exporter")))
        mark = suite.line_count()

        for i in range(N_PROCS):
            p = subprocess.Popen([sys.executable, "-c", CHILD, f"fillme-{i:03d}-" + "x" * PAD],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            children.append(p)
        for p in children:
            p.stdout.readline()

        m = suite.wait_line(r"procsync-scanner\[\d+\]: error: .*(database or disk is full|No space left)",
                            30, mark)
        check("the scanner logs SQLITE_FULL", m is not None, m.group(0) if m else "")
        try:
            why = wait_for(lambda: disk_full_reported(status(suite)), "SQLITE_FULL in /v1/status", 30, 0.2)
        except TimeoutError:
            why = None
        check("GET /v1/status reports the full disk", why, repr(status(suite)))
        print(f"# /v1/status: {why}", flush=True)
        st = subprocess.run([PROCCTL, "--state-dir", state, "status"], capture_output=True, text=True)
        check("procctl status exits non-zero", st.returncode != 0, st.stdout + st.stderr)
        check("procctl status says why", "is full" in st.stdout and "database or disk is full" in st.stdout,
              st.stdout)
        print("# " + st.stdout.replace("\n", "\n# "), flush=True)
        # Now the WAL holds pages that state.db does not have yet, so no checkpoint can make room and the
        # row stops taking heartbeats: the API must still say why, for as long as it lasts.
        samples = []
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end:
            doc = status(suite)
            if doc:
                samples.append((doc["scanner"]["fresh"], doc["scanner"]["last_error"], disk_full_reported(doc)))
            time.sleep(0.2)
        failed = len([ln for ln in suite.lines()[mark:] if "procsync-scanner" in ln and "Cycle failed" in ln])
        print(f"# {failed} failed scanner cycles; scanner (fresh, last_error) at the end: {samples[-1][:2]}",
              flush=True)
        check("while full, every GET /v1/status is unhealthy and names the full state directory",
              samples and all(x[2] for x in samples), repr([x for x in samples if not x[2]][:3]))
        check("the scanner kept trying (cycles failed, no exit)", failed >= 5, str(failed))

        db = sqlite3.connect(f"file:{state}/state.db?mode=ro", uri=True)
        ic = db.execute("PRAGMA integrity_check").fetchall()
        db.close()
        check("integrity_check while full", ic == [("ok",)], repr(ic))

        # Space comes back.
        os.unlink(filler)
        mark2 = suite.line_count()
        g_full = suite.generation("scanner")

        def recovered():
            doc = status(suite)
            if not doc or not doc["health"]["healthy"] or doc["health"]["warnings"]:
                return None
            if any(doc[d]["last_error"] for d in ("scanner", "matcher", "exporter")):
                return None
            procs = suite.api_json("/v1/processes")["processes"]
            ours = {p["pid"] for p in procs if "fillme-" in (p.get("cmdline") or "")}
            if ours != {c.pid for c in children}:
                return None
            socks = suite.api_json("/v1/sockets")["sockets"]
            listening = {pid for s in socks if s["state"] == "listen" for pid in s["pids"]}
            if not ours <= listening:
                return None
            with open(out) as f:
                last = f.readlines()[-1]
            if not all(f"fillme-{i:03d}-" in last for i in range(N_PROCS)):
                return None
            return doc, ours

        try:
            doc, ours = wait_for(recovered, "recovery", 30, 0.2)
        except TimeoutError:
            doc, ours = None, []
        if not doc:
            procs = suite.api_json("/v1/processes")["processes"]
            print(f"# {len(procs)} synced: " + ", ".join(f'{p["pid"]} {p["name"]}' for p in procs),
                  flush=True)
        check("after the filler is gone: healthy, no last_error, every new process synced with its "
              "listening socket and exported", doc, repr(status(suite)))
        if doc:
            check("a new scanner generation", doc["scanner"]["generation"] > g_full,
                  f'{doc["scanner"]["generation"]} <= {g_full}')

        lines = suite.lines()
        killed = f"procsync-exporter (pid {pids['procsync-exporter']}) was killed"
        restarts = [ln for ln in lines if ("restarting in" in ln or "exited with status" in ln
                                           or "was killed" in ln) and killed not in ln]
        check("no daemon restarted but the one the test killed", not restarts, "\n".join(restarts))
        for d in DAEMONS:
            want = 2 if d == "procsync-exporter" else 1
            check(f"{d} started {want} time(s)", sum(1 for ln in lines if f"{d} is ready" in ln) == want)

        db = sqlite3.connect(f"file:{state}/state.db?mode=ro", uri=True)
        ic = db.execute("PRAGMA integrity_check").fetchall()
        db.close()
        check("integrity_check after recovery", ic == [("ok",)], repr(ic))
    finally:
        for p in children:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in children:
            p.wait()
        rc = suite.stop()
        print("# " + suite.output().replace("\n", "\n# ")[-20000:], flush=True)
        subprocess.run(["umount", "-l", state])
        shutil.rmtree(tmp, ignore_errors=True)
    check("procctl run exits 0", rc == 0, str(rc))
    for d in DAEMONS:
        check(f"{d} stopped cleanly", any(f"{d} (pid" in ln and ln.endswith("stopped") for ln in suite.lines()))
    finish()


main()
