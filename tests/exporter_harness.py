"""Harness of procsync-exporter's integration tests: a state directory whose state.db is created from
schema/*.sql and filled by hand with the rows the scanner and the matcher would write (so these tests do
not depend on them), a config file, the real exporter binary as a child process, and the expected JSON
document computed here independently of the C serializer.

Usage: /usr/bin/python3 tests/test-exporter-*.py EXPORTER_BINARY SCHEMA_DIR
"""

import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

NETNS = 4026531840
NOW_MS = lambda: int(time.time() * 1000)  # noqa: E731


def args():
    if len(sys.argv) != 3:
        sys.exit("usage: %s EXPORTER SCHEMA_DIR" % sys.argv[0])
    return sys.argv[1], sys.argv[2]


class Env:
    """A state dir + state.db + config for one test."""

    def __init__(self, exporter, schema_dir):
        self.exporter = exporter
        self.dir = tempfile.mkdtemp(prefix="procsync-exporter-test-")
        self.db_path = os.path.join(self.dir, "state.db")
        self.config_path = os.path.join(self.dir, "procsync.yaml")
        self.proc = None
        self.log_path = os.path.join(self.dir, "exporter.log")
        self.processes = []
        self.sockets = []
        self.match_generation = 0
        db = self.db()
        files = sorted(glob.glob(os.path.join(schema_dir, "[0-9][0-9][0-9]-*.sql")))
        assert files, "no migrations in %s" % schema_dir
        db.execute("PRAGMA journal_mode = WAL")
        for f in files:
            with open(f) as fh:
                db.executescript(fh.read())
        db.execute("PRAGMA user_version = %d" % len(files))
        db.execute("INSERT INTO scan_netns (inode, idx, first_seen, last_seen) VALUES (?, 1, 1, 1)", (NETNS,))
        for table in ("scan_daemon", "match_daemon"):
            db.execute("INSERT INTO %s (id, pid, pid_start_ticks, started_at, generation) VALUES (1, 1, 1, 1, 0)"
                       % table)
        db.commit()
        db.close()

    def db(self):
        return sqlite3.connect(self.db_path, timeout=10, isolation_level=None)

    def query(self, sql, params=()):
        db = self.db()
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    # ---- what the scanner and the matcher would write -------------------------------------------------

    def add_process(self, pid, comm, cmdline, name, user="root", uid=0, tags=None, rule=0):
        self.processes.append(dict(pid=pid, comm=comm, cmdline=cmdline, name=name, user=user, uid=uid,
                                   tags=dict(tags or {}), rule=rule, start_time=1700000000 + pid, ppid=1))

    def add_socket(self, inode, proto, state, local, lport, remote, rport, role, pids, age_ms=60000):
        self.sockets.append(dict(inode=inode, proto=proto, state=state, local=local, lport=lport, remote=remote,
                                 rport=rport, role=role, pids=sorted(pids), first_seen=NOW_MS() - age_ms))

    def publish(self):
        """Writes the processes and sockets as one scanner + matcher cycle and bumps both generations (the
        commit wakes the exporter)."""
        db = self.db()
        db.execute("BEGIN IMMEDIATE")
        for t in ("scan_socket_owners", "scan_sockets", "scan_processes", "match_decisions"):
            db.execute("DELETE FROM %s" % t)
        for p in self.processes:
            db.execute("INSERT INTO scan_processes (pid, start_ticks, start_time, ppid, comm, cmdline, uid, user, "
                       "netns_inode, container_id, first_seen, last_seen, changed_generation) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', 1, 1, 1)",
                       (p["pid"], p["pid"] * 100, p["start_time"], p["ppid"], p["comm"], p["cmdline"], p["uid"],
                        p["user"], NETNS))
            db.execute("INSERT INTO match_decisions (pid, start_ticks, action, rule, name, reason, synced, tags, "
                       "decided_at) VALUES (?, ?, 'accept', ?, ?, 'rule', 1, ?, 1)",
                       (p["pid"], p["pid"] * 100, p["rule"], p["name"], json.dumps(p["tags"], sort_keys=True)))
        for i, s in enumerate(self.sockets, 1):
            db.execute("INSERT INTO scan_sockets (id, netns_inode, inode, proto, family, state, local_addr, "
                       "local_port, remote_addr, remote_port, role, first_seen, last_seen) "
                       "VALUES (?, ?, ?, ?, 4, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (i, NETNS, s["inode"], s["proto"], s["state"], s["local"], s["lport"], s["remote"],
                        s["rport"], s["role"], s["first_seen"], s["first_seen"]))
            for pid in s["pids"]:
                db.execute("INSERT INTO scan_socket_owners (socket_id, pid) VALUES (?, ?)", (i, pid))
        self.match_generation += 1
        db.execute("UPDATE match_daemon SET generation = ?", (self.match_generation,))
        db.execute("UPDATE scan_daemon SET generation = ?", (self.match_generation,))
        db.execute("COMMIT")
        db.close()
        # What every daemon's connection does after a commit (common/daemon.h): wakes the exporter.
        commit_file = os.path.join(self.dir, "state.db-commit")
        with open(commit_file, "a"):
            os.utime(commit_file)

    def expected(self, version, hostname=None):
        """The full document the exporter must deliver for the published rows (README "HTTP sink")."""
        procs = []
        for p in sorted(self.processes, key=lambda p: p["pid"]):
            procs.append({
                "pid": p["pid"], "ppid": p["ppid"], "start_time": p["start_time"], "name": p["name"],
                "process_name": p["comm"], "cmdline": p["cmdline"], "user": p["user"], "uid": p["uid"],
                "netns_id": 1, "container_id": "", "tags": dict(sorted(p["tags"].items())), "rule": p["rule"],
            })
        socks = []
        for s in sorted(self.sockets, key=lambda s: (s["proto"], s["local"], s["lport"], s["remote"], s["rport"],
                                                       s["inode"])):
            socks.append({
                "proto": s["proto"], "state": s["state"], "local": "%s:%d" % (s["local"], s["lport"]),
                "remote": "%s:%d" % (s["remote"], s["rport"]), "role": s["role"], "pids": s["pids"],
                "netns_id": 1, "inode": s["inode"], "first_seen": s["first_seen"],
            })
        return {"version": version, "hostname": hostname or os.uname().nodename, "full": True,
                "processes": procs, "sockets": socks}

    # ---- config and the daemon ------------------------------------------------------------------------

    def write_config(self, sinks, sync_enabled=True, socket_interval="10s", min_lifetime="3s"):
        lines = [
            "static_config:",
            "  os-proc-sync-enabled: %s" % ("true" if sync_enabled else "false"),
            "  os-proc-socket-sync-interval: %s" % socket_interval,
            "  os-proc-socket-min-lifetime: %s" % min_lifetime,
            "procsync:",
            "  state_dir: %s" % self.dir,
            "  exporter:",
            "    sinks:",
        ]
        for s in sinks:
            first = True
            for k, v in s.items():
                prefix = "      - " if first else "        "
                first = False
                if isinstance(v, list):
                    lines.append("%s%s:" % (prefix, k))
                    lines.extend("          - %s" % json.dumps(x) for x in v)
                else:
                    lines.append("%s%s: %s" % (prefix, k, json.dumps(v) if isinstance(v, str) else
                                                 ("true" if v is True else "false" if v is False else v)))
        if not sinks:
            lines[-1] = "    sinks: []"
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, *extra):
        assert self.proc is None or self.proc.poll() is not None
        env = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "NOTIFY_SOCKET"):
            env.pop(k, None)
        env["PROCSYNC_LOG_LEVEL"] = "debug"
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.exporter, "-c", self.config_path, "--state-dir", self.dir] + list(extra),
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        return self.proc

    def run_once(self, timeout=30):
        p = self.start("--once")
        return p.wait(timeout)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self):
        """SIGTERM; asserts a clean exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(30)
            assert rc == 0, "exporter exited %d on SIGTERM\n%s" % (rc, self.log())

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- the exporter's tables ------------------------------------------------------------------------

    def state_version(self):
        rows = self.query("SELECT version FROM export_state")
        return rows[0][0] if rows else None

    def sink_row(self, name):
        rows = self.query("SELECT acked_version, last_attempt_at, last_ok_at, last_error, failures, errors_total, "
                          "next_attempt_at FROM export_sinks WHERE name = ?", (name,))
        if not rows:
            return None
        keys = ("acked_version", "last_attempt_at", "last_ok_at", "last_error", "failures", "errors_total",
                "next_attempt_at")
        return dict(zip(keys, rows[0]))

    def wait_for(self, predicate, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except (sqlite3.OperationalError, TypeError, KeyError, IndexError):
                pass  # a row or a file not written yet
            if self.proc and self.proc.poll() is not None and self.proc.returncode != 0:
                raise AssertionError("exporter died (%d) while waiting for %s\n%s" %
                                     (self.proc.returncode, what, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s\n%s" % (what, self.log()[-4000:]))
            time.sleep(0.05)


def run_tests(tests):
    """Runs test functions (each gets a fresh Env); prints a line per test; exits 1 on the first failure."""
    exporter, schema_dir = args()
    for t in tests:
        env = Env(exporter, schema_dir)
        start = time.monotonic()
        try:
            t(env)
        except BaseException:
            print("FAIL %s (%.1f s)" % (t.__name__, time.monotonic() - start), flush=True)
            print("---- exporter log ----\n%s" % env.log()[-6000:], flush=True)
            env.cleanup()
            raise
        env.cleanup()
        print("ok   %s (%.1f s)" % (t.__name__, time.monotonic() - start), flush=True)
