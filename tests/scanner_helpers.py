"""Helpers shared by the procsync-scanner integration tests: run the real binary, read state.db, poll."""
import json
import os
import sqlite3
import subprocess
import sys
import time

SKIP = 77


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def now_ms():
    return time.time_ns() // 1_000_000


def wait_until(predicate, timeout=10.0, what="condition"):
    """Polls predicate() until it returns a true value; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.005)


def wait_next_ms(after):
    """Returns once the wall clock in ms is past `after`, so that a new first_seen differs from an old one."""
    wait_until(lambda: now_ms() > after, what="the next millisecond")


def write_config(directory, proc_root="/proc", socket_interval=10, scan_interval=10, extra=""):
    path = os.path.join(directory, "procsync.yaml")
    with open(path, "w") as f:
        f.write("os-proc-sync-enabled: true\n")
        f.write("os-proc-root: %s\n" % json.dumps(proc_root))
        f.write("os-proc-socket-sync-interval: %s\n" % socket_interval)
        f.write("procsync:\n  process_scan_interval: %s\n" % scan_interval)
        f.write(extra)
    return path


def run_once(scanner, config, state_dir, check=True):
    p = subprocess.run([scanner, "--once", "-c", config, "--state-dir", state_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("procsync-scanner --once failed (%d): %s" % (p.returncode, p.stderr))
    return p


def db(state_dir):
    con = sqlite3.connect("file:%s/state.db?mode=ro" % state_dir, uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    return con


def query(state_dir, sql, args=()):
    con = db(state_dir)
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def heartbeat(state_dir):
    rows = query(state_dir, "SELECT * FROM scan_daemon")
    assert len(rows) == 1, rows
    row = rows[0]
    row["stats"] = json.loads(row["stats"]) if row["stats"] else None
    return row


def processes(state_dir):
    return {r["pid"]: r for r in query(state_dir, "SELECT * FROM scan_processes")}


def sockets(state_dir):
    """Sockets keyed by (netns_inode, inode), each with its sorted owner list."""
    rows = query(state_dir,
                 "SELECT s.*, (SELECT group_concat(pid, ',') FROM (SELECT pid FROM scan_socket_owners o "
                 "WHERE o.socket_id = s.id ORDER BY pid)) AS owners FROM scan_sockets s")
    out = {}
    for r in rows:
        r["owners"] = [int(x) for x in r["owners"].split(",")] if r["owners"] else []
        out[(r["netns_inode"], r["inode"])] = r
    return out


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def expect_equal(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def main(tests):
    """Runs each test function; prints and exits 1 on the first failure."""
    for t in tests:
        print("== " + t.__name__, flush=True)
        t()
        print("ok " + t.__name__, flush=True)
