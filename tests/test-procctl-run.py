#!/usr/bin/env python3
"""Integration test of `procctl run` (the launcher) and `procctl reload`, with real processes.

The main test runs the real procsync daemons of the build tree (BUILD_ROOT) where they are built, and a
stand-in for each one that is not (tests/launcher-stub.c, copied under the daemon's name; the stand-ins of
the scanner, matcher and exporter use the real daemon runtime: heartbeat rows, READY=1, SIGHUP reload).
With all four real, procctl finds them in its own build tree without any override; otherwise they are put
together in a directory given through $PROCSYNC_LIBEXEC_DIR. The tests of failures (a missing binary, exit
statuses, a daemon ignoring SIGTERM) use stand-ins only, as they need daemons that misbehave.

What is checked, against what DESIGN.md "procctl" and the task say:
  run:    one "is ready" line per daemon, pids equal to the heartbeat rows, the scanner ready before the
          others start; the API's addresses printed;
          each daemon a child of procctl in its own process group; a daemon killed with SIGKILL restarted
          (new pid printed and in its heartbeat row); SIGHUP forwarded (an invalid config is reported as
          kept, by every daemon, in the launcher's output and in the rows; a daemon that does not handle
          SIGHUP is restarted instead); a daemon exiting with status 3 restarted after 1, 2, 4 s; a missing
          binary reported and the others run; a second `procctl run` on the same state refused; SIGTERM and
          SIGINT stop everything with exit 0 and no process left (checked in /proc), a daemon that ignores
          SIGTERM killed after 10 s, or at once on a second SIGINT.
  reload: the launcher's daemons, procsync-api found by its unix socket; rows written by hand: a live stand-in daemon (reloaded; then "kept the old config" with the
          FILE:LINE:COL of an invalid file), the pid of a live process with another start time, the pid of
          a reaped child, a live process that does not handle SIGHUP (not signalled, still alive); exit
          status 1 when none could be signalled.

Usage: test-procctl-run.py PROCCTL STUB BUILD_ROOT
"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

PROCCTL, STUB = sys.argv[1], sys.argv[2]
BUILD_ROOT = sys.argv[3]
DAEMONS = ["scanner", "matcher", "exporter", "api"]
SUBDIRS = {"scanner": "scanner", "matcher": "matcher", "exporter": "exporter", "api": "ctl"}
REAL = {n: os.path.join(BUILD_ROOT, SUBDIRS[n], f"procsync-{n}") for n in DAEMONS
        if os.access(os.path.join(BUILD_ROOT, SUBDIRS[n], f"procsync-{n}"), os.X_OK)}
failures = 0
checks = 0

VALID_CONFIG = "os-proc-sync-enabled: true\nprocsync:\n  process_scan_interval: 1s\n"
INVALID_CONFIG = "os-proc-sync-enabled: true\nos-proc-socket-sync-interval: -5\n"


def check(what, cond, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print(f"ok - {what}", flush=True)
    else:
        failures += 1
        print(f"not ok - {what} {detail}", flush=True)
    return cond


def wait_for(cond, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def start_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(")") + 2:].split()[19])


def ppid_pgid(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[2])


def alive(pid):
    """A process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return False
    return s[s.rindex(")") + 2] != "Z"


def processes_running(state_dir):
    """Pids of live processes that were given this state directory (every daemon gets --state-dir)."""
    found = []
    needle = os.path.realpath(state_dir).encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline and alive(int(d)):
            found.append(int(d))
    return found


def rows(state_dir):
    try:
        db = sqlite3.connect(f"file:{state_dir}/state.db?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return {}
    try:
        return {r[0]: {"pid": r[1], "config_ok": r[2], "config_error": r[3]}
                for r in db.execute("SELECT name, pid, config_ok, config_error FROM daemons")}
    except sqlite3.Error:
        return {}
    finally:
        db.close()


class Launcher:
    """`procctl run` with its stderr collected line by line."""

    def __init__(self, args, env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen([PROCCTL, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=env)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.mark = 0

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def expect(self, pattern, timeout=15.0, since=None):
        """The first match of pattern at or after `since` (default: the mark), waiting up to timeout."""
        rx = re.compile(pattern)
        start = self.mark if since is None else since
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    m = rx.search(self.lines[i])
                    if m:
                        return m, i
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    return None, None
                self.cond.wait(left)

    def set_mark(self):
        with self.cond:
            self.mark = len(self.lines)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def dump(self):
        with self.cond:
            return "\n".join("    | " + l for l in self.lines)


def make_bin_dir(tmp, names):
    d = os.path.join(tmp, "bin")
    os.makedirs(d, exist_ok=True)
    for n in names:
        shutil.copy(STUB, os.path.join(d, f"procsync-{n}"))
    return d


def ready_pids(l, names, since=None, timeout=20.0):
    pids = {}
    for n in names:
        m, _ = l.expect(rf"procsync-{n} is ready \(pid (\d+)\)", timeout=timeout, since=since)
        if m:
            pids[n] = int(m.group(1))
    return pids


def test_run_main(tmp):
    """Ready lines, restart after SIGKILL, SIGHUP forwarding, reload of an invalid config, SIGTERM."""
    print("# procctl run: ready, SIGKILL restart, SIGHUP, SIGTERM", flush=True)
    state = os.path.join(tmp, "state")
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(VALID_CONFIG)
    env = dict(os.environ)
    env.pop("PROCSYNC_LIBEXEC_DIR", None)
    if len(REAL) == len(DAEMONS) and \
            os.path.realpath(BUILD_ROOT) == os.path.realpath(os.path.join(os.path.dirname(PROCCTL), "..")):
        print("# all four daemons are real, found in procctl's build tree", flush=True)
    else:
        # The environment override here; test_run_failures gives --bin-dir.
        bin_dir = make_bin_dir(tmp, [n for n in DAEMONS if n not in REAL])
        for n, path in REAL.items():
            os.symlink(path, os.path.join(bin_dir, f"procsync-{n}"))
        env["PROCSYNC_LIBEXEC_DIR"] = bin_dir
        print(f"# real: {', '.join(REAL) or 'none'}; stand-ins: "
              f"{', '.join(n for n in DAEMONS if n not in REAL) or 'none'}", flush=True)
    args = ["-c", config, "--state-dir", state, "run"]
    l = Launcher(args, env=env)
    try:
        pids = ready_pids(l, DAEMONS)
        check("a ready line per daemon", len(pids) == 4, f"got {pids}\n{l.dump()}")
        if len(pids) != 4:
            return
        _, ready = l.expect(r"procsync-scanner is ready", since=0)
        _, started = l.expect(r"procsync-(matcher|exporter|api) started", since=0)
        check("the scanner (which creates state.db) is ready before the others start",
              ready is not None and started is not None and ready < started, l.dump())
        m, _ = l.expect(r"REST API on (.*); try: (curl .*)")
        check("the API's addresses are printed",
              m is not None and f"unix:{os.path.realpath(state)}/api.sock" in m.group(1)
              and "http://127.0.0.1:9930/" in m.group(1), l.dump())

        r = wait_for(lambda: (lambda x: x if all(n in x for n in DAEMONS[:3]) else None)(rows(state)))
        check("heartbeat rows name the printed pids",
              r is not None and all(r[n]["pid"] == pids[n] for n in DAEMONS[:3]), f"{r} vs {pids}")
        for n, pid in pids.items():
            ppid, pgid = ppid_pgid(pid)
            check(f"procsync-{n} is a child of procctl in its own process group",
                  ppid == l.p.pid and pgid == pid, f"ppid {ppid} pgid {pgid}")

        l.set_mark()
        os.kill(pids["matcher"], signal.SIGKILL)
        m, _ = l.expect(rf"procsync-matcher \(pid {pids['matcher']}\) was killed by signal 9 \(SIGKILL\); "
                        r"restarting in 1 s")
        check("SIGKILL of the matcher is reported with the restart delay", m is not None, l.dump())
        new = ready_pids(l, ["matcher"])
        check("the matcher is ready again with a new pid",
              "matcher" in new and new["matcher"] != pids["matcher"], f"{new}\n{l.dump()}")
        if "matcher" in new:
            pids["matcher"] = new["matcher"]
            check("its heartbeat row names the new pid",
                  wait_for(lambda: rows(state).get("matcher", {}).get("pid") == new["matcher"]))

        # SIGHUP with an invalid file: each daemon keeps its config and says so.
        l.set_mark()
        with open(config, "w") as f:
            f.write(INVALID_CONFIG)
        os.kill(l.p.pid, signal.SIGHUP)
        for n in DAEMONS[:3]:
            m, _ = l.expect(rf"procsync-{n} \(pid {pids[n]}\) reloaded: .*keeping the previous one: "
                            rf"{re.escape(config)}:2:\d+: ")
            check(f"SIGHUP reached procsync-{n}, which kept its config", m is not None, l.dump())
        r = wait_for(lambda: (lambda x: x if all(x.get(n, {}).get("config_ok") == 0 for n in DAEMONS[:3])
                              else None)(rows(state)))
        check("the rows say config_ok = 0 with FILE:LINE:COL",
              r is not None and all(r[n]["config_error"].startswith(f"{config}:2:") for n in DAEMONS[:3]), f"{r}")
        # The stand-in API dies of SIGHUP: the launcher restarts it instead. A real one may reload.
        m, _ = l.expect(r"procsync-api \(pid \d+\) (does not handle SIGHUP: restarting it|reloaded)")
        check("procsync-api reloaded or was restarted to reload", m is not None, l.dump())
        if m and "restarting" in m.group(1):
            new = ready_pids(l, ["api"])
            check("procsync-api is ready again", "api" in new and new["api"] != pids["api"], l.dump())
            pids.update(new)

        # procctl reload against the launcher's daemons: invalid file (needs --state-dir), then valid.
        p = subprocess.run([PROCCTL, "-c", config, "--state-dir", state, "reload"], capture_output=True, text=True,
                           timeout=30)
        for n in DAEMONS[:3]:
            check(f"procctl reload: {n} kept the old config",
                  re.search(rf"^{n} \(pid {pids[n]}\): kept the old config: {re.escape(config)}:2:\d+: ",
                            p.stdout, re.M) is not None, p.stdout + p.stderr)
        check("procctl reload with an invalid config exits 1", p.returncode == 1, str(p.returncode))
        p = subprocess.run([PROCCTL, "-c", config, "reload"], capture_output=True, text=True, timeout=30)
        check("without --state-dir an invalid config is not sent",
              p.returncode == 1 and "Not signalling" in p.stderr and p.stdout == "", p.stdout + p.stderr)
        with open(config, "w") as f:
            f.write(VALID_CONFIG)
        p = subprocess.run([PROCCTL, "-c", config, "--state-dir", state, "reload"], capture_output=True, text=True,
                           timeout=30)
        for n in DAEMONS[:3]:
            check(f"procctl reload: {n} reloaded",
                  re.search(rf"^{n} \(pid {pids[n]}\): reloaded$", p.stdout, re.M) is not None, p.stdout + p.stderr)
        check("procctl reload exits 0", p.returncode == 0, p.stdout + p.stderr)
        if "api" in REAL:
            check("procctl reload: the API (found by its unix socket) took the signal",
                  re.search(rf"^api \(pid {pids['api']}\): took the signal", p.stdout, re.M), p.stdout)
        else:
            check("procctl reload: the stand-in API (found by its unix socket) is not sent a deadly SIGHUP",
                  re.search(rf"^api \(pid {pids['api']}\): not signalled: it does not handle SIGHUP", p.stdout,
                            re.M) and alive(pids["api"]), p.stdout)

        # A second launcher on the same state directory is refused.
        p = subprocess.run([PROCCTL, "-c", config, "--state-dir", state, "run"], capture_output=True, text=True,
                           timeout=30, env=env)
        check("a second procctl run on the same state is refused",
              p.returncode == 1 and "already running" in p.stderr, p.stdout + p.stderr)

        l.set_mark()
        t0 = time.monotonic()
        os.kill(l.p.pid, signal.SIGTERM)
        rc = l.wait(15)
        check("SIGTERM: procctl exits 0", rc == 0, f"rc {rc}\n{l.dump()}")
        check("SIGTERM: stopped within the grace period", time.monotonic() - t0 < 10)
        for n in DAEMONS:
            m, _ = l.expect(rf"procsync-{n} \(pid {pids[n]}\) stopped", timeout=1)
            check(f"procsync-{n} stopped cleanly", m is not None, l.dump())
        check("no daemon process is left", not any(alive(p) for p in pids.values()) and
              not processes_running(state), f"{processes_running(state)}")
    finally:
        l.kill()


def test_run_failures(tmp):
    """A missing binary, a daemon exiting with status 3 (backoff), SIGINT with a daemon ignoring SIGTERM."""
    print("# procctl run: missing binary, exit status backoff, SIGKILL after 10 s", flush=True)
    state = os.path.join(tmp, "state")
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(VALID_CONFIG)
    bin_dir = make_bin_dir(tmp, DAEMONS[:3])
    env = dict(os.environ, PROCSYNC_STUB_EXIT="procsync-exporter:3", PROCSYNC_STUB_NO_TERM="procsync-scanner")
    l = Launcher(["-c", config, "--state-dir", state, "run", "--bin-dir", bin_dir], env=env)
    try:
        m, _ = l.expect(r"procsync-api was not found \(looked for (.*)\): running without it")
        check("a missing procsync-api is reported with where it was looked for",
              m is not None and f"{bin_dir}/procsync-api" in m.group(1) and f"{bin_dir}/ctl/procsync-api" in m.group(1),
              l.dump())
        pids = ready_pids(l, ["scanner", "matcher"])
        check("the other daemons run", len(pids) == 2, l.dump())
        t0 = time.monotonic()
        delays = []
        since = 0
        for _ in range(3):
            m, i = l.expect(r"procsync-exporter \(pid \d+\) exited with status 3; restarting in (\d+) s", since=since)
            if not m:
                break
            delays.append(int(m.group(1)))
            since = i + 1
        check("exit status 3 is reported; restarts after 1, 2, 4 s", delays == [1, 2, 4], f"{delays}\n{l.dump()}")
        check("the backoff is real (>= 3 s for the first two delays)", time.monotonic() - t0 >= 2.9)

        l.set_mark()
        t0 = time.monotonic()
        os.kill(l.p.pid, signal.SIGINT)
        rc = l.wait(20)
        took = time.monotonic() - t0
        check("SIGINT: procctl exits 0", rc == 0, f"rc {rc}\n{l.dump()}")
        m, _ = l.expect(rf"procsync-scanner \(pid {pids.get('scanner')}\) did not stop within 10 s; killing it",
                        timeout=1)
        check("a daemon ignoring SIGTERM is killed after 10 s", m is not None and 9.5 <= took < 15,
              f"took {took:.1f} s\n{l.dump()}")
        m, _ = l.expect(rf"procsync-matcher \(pid {pids.get('matcher')}\) stopped", timeout=1)
        check("the matcher stopped cleanly", m is not None, l.dump())
        check("no daemon process is left", not processes_running(state), f"{processes_running(state)}")
    finally:
        l.kill()


def test_run_second_interrupt(tmp):
    """A second Ctrl-C does not wait for the grace period."""
    print("# procctl run: a second SIGINT kills at once", flush=True)
    state = os.path.join(tmp, "state")
    bin_dir = make_bin_dir(tmp, ["scanner", "matcher"])
    env = dict(os.environ, PROCSYNC_STUB_NO_TERM="procsync-scanner")
    l = Launcher(["--state-dir", state, "run", f"--bin-dir={bin_dir}"], env=env)
    try:
        pids = ready_pids(l, ["scanner", "matcher"])
        check("both stand-ins are ready", len(pids) == 2, l.dump())
        t0 = time.monotonic()
        os.kill(l.p.pid, signal.SIGINT)
        m, _ = l.expect(r"Interrupted: stopping 2 daemons")
        check("the first SIGINT starts the stop", m is not None, l.dump())
        os.kill(l.p.pid, signal.SIGINT)
        rc = l.wait(10)
        took = time.monotonic() - t0
        m, _ = l.expect(rf"procsync-scanner \(pid {pids.get('scanner')}\) is still stopping after a second "
                        r"interrupt; killing it", timeout=1)
        check("the second SIGINT kills what is left at once", rc == 0 and m is not None and took < 5,
              f"rc {rc}, took {took:.1f} s\n{l.dump()}")
        check("no daemon process is left", not processes_running(state), f"{processes_running(state)}")
    finally:
        l.kill()


def test_reload_rows(tmp):
    """procctl reload against hand-written heartbeat rows."""
    print("# procctl reload: live, stale and foreign pids", flush=True)
    state = os.path.join(tmp, "state")
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(VALID_CONFIG)
    if "scanner" in REAL:
        scanner = REAL["scanner"]
    else:
        scanner = os.path.join(make_bin_dir(tmp, ["scanner"]), "procsync-scanner")
    daemon = subprocess.Popen([scanner, "-c", config, "--state-dir", state], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sleeper = subprocess.Popen(["sleep", "300"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        check("the scanner registers itself",
              wait_for(lambda: rows(state).get("scanner", {}).get("pid") == daemon.pid, timeout=20))
        db = sqlite3.connect(f"{state}/state.db", timeout=5)
        now = int(time.time() * 1000)
        db.execute("INSERT OR REPLACE INTO match_daemon (id, pid, pid_start_ticks, started_at) VALUES (1, ?, ?, ?)",
                   (sleeper.pid, start_ticks(sleeper.pid) + 1, now))
        db.execute("INSERT OR REPLACE INTO export_daemon (id, pid, pid_start_ticks, started_at) VALUES (1, ?, ?, ?)",
                   (gone.pid, 12345, now))
        db.commit()

        def reload(*extra):
            return subprocess.run([PROCCTL, "-c", config, "--state-dir", state, "reload", *extra],
                                  capture_output=True, text=True, timeout=30)

        p = reload()
        check("reload: the live scanner reloaded",
              re.search(rf"^scanner \(pid {daemon.pid}\): reloaded$", p.stdout, re.M), p.stdout + p.stderr)
        check("reload: a pid with another start time is stale",
              f"matcher: not running (stale heartbeat, pid {sleeper.pid} is another process)" in p.stdout, p.stdout)
        check("reload: a reaped pid is stale",
              f"exporter: not running (stale heartbeat, pid {gone.pid} is gone)" in p.stdout, p.stdout)
        check("reload: exit 0 when one daemon reloaded", p.returncode == 0, str(p.returncode))
        check("reload: the scanner is still running", daemon.poll() is None)

        with open(config, "w") as f:
            f.write(INVALID_CONFIG)
        p = reload()
        check("reload: an invalid file is reported as kept, with FILE:LINE:COL",
              re.search(rf"^scanner \(pid {daemon.pid}\): kept the old config: {re.escape(config)}:2:\d+: ",
                        p.stdout, re.M), p.stdout + p.stderr)
        check("reload: exit 1 when a daemon kept its old config", p.returncode == 1, str(p.returncode))
        with open(config, "w") as f:
            f.write(VALID_CONFIG)
        p = reload()
        check("reload: valid again", re.search(rf"^scanner \(pid {daemon.pid}\): reloaded$", p.stdout, re.M),
              p.stdout)

        # A live process with the right start time that does not handle SIGHUP is not killed by it.
        db.execute("UPDATE match_daemon SET pid_start_ticks = ? WHERE id = 1", (start_ticks(sleeper.pid),))
        db.commit()
        p = reload("--timeout", "0")
        check("reload: a process that does not handle SIGHUP is not signalled",
              f"matcher (pid {sleeper.pid}): not signalled: it does not handle SIGHUP" in p.stdout, p.stdout)
        check("reload --timeout 0 does not wait", f"scanner (pid {daemon.pid}): signalled" in p.stdout, p.stdout)
        check("reload: ... and it is still alive", sleeper.poll() is None)

        daemon.send_signal(signal.SIGTERM)
        check("the scanner stops on SIGTERM", daemon.wait(20) == 0)
        db.execute("UPDATE match_daemon SET pid_start_ticks = pid_start_ticks + 1 WHERE id = 1")
        db.commit()
        db.close()
        p = reload()
        check("reload: nothing to signal is exit 1",
              p.returncode == 1 and "No daemon could be signalled" in p.stderr and
              f"scanner: not running (stale heartbeat, pid {daemon.pid} is gone)" in p.stdout, p.stdout + p.stderr)
    finally:
        for c in (daemon, sleeper):
            if c.poll() is None:
                c.kill()
                c.wait()


def main():
    tests = [test_run_main, test_run_failures, test_run_second_interrupt, test_reload_rows]
    for t in tests:
        tmp = tempfile.mkdtemp(prefix="procsync-run-")
        try:
            t(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{checks}")
    if failures:
        print(f"# {failures} of {checks} checks failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
