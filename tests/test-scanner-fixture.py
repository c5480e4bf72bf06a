#!/usr/bin/env python3
"""procsync-scanner --once over the fake proc tree tests/fixtures/proc-basic (os-proc-root points at a copy).

Checks the exact rows of scan_processes, scan_netns, scan_sockets and scan_socket_owners against
tests/fixtures/proc-basic.expected; that a second run writes nothing (same generation, no row's last_seen
moves); that an exec (same pid and start ticks, new comm/cmdline/exe) updates the row and keeps first_seen,
a reused pid (new start ticks) is a new row with a new first_seen, a gone process and an unowned socket are
deleted; and that a bad os-proc-root is a clean failure.

usage: test-scanner-fixture.py SCANNER FIXTURES_DIR"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scanner_helpers import (check, expect_equal, heartbeat, main, now_ms, processes, query, run_once, sockets,
                             wait_next_ms, write_config)

SCANNER, FIXTURES = sys.argv[1], sys.argv[2]


def dump(state_dir):
    """The rows without the wall-clock columns, in the format of proc-basic.expected."""
    out = ["# scan_processes: pid|start_ticks|start_time|ppid|comm|cmdline|exe|uid|user|netns_inode|container_id|"
           "changed_generation"]
    for r in query(state_dir, "SELECT * FROM scan_processes ORDER BY pid"):
        out.append("|".join(str(r[k]) for k in ("pid", "start_ticks", "start_time", "ppid", "comm", "cmdline", "exe",
                                                  "uid", "user", "netns_inode", "container_id",
                                                  "changed_generation")))
    out.append("# scan_netns: inode|idx")
    for r in query(state_dir, "SELECT * FROM scan_netns ORDER BY idx"):
        out.append("%d|%d" % (r["inode"], r["idx"]))
    out.append("# scan_sockets: netns_inode|inode|proto|family|state|local_addr|local_port|remote_addr|remote_port|"
               "role|owners")
    for key, r in sorted(sockets(state_dir).items()):
        out.append("|".join(str(r[k]) for k in ("netns_inode", "inode", "proto", "family", "state", "local_addr",
                                                  "local_port", "remote_addr", "remote_port", "role")) +
                   "|" + ",".join(str(p) for p in r["owners"]))
    return "\n".join(out) + "\n"


def setup():
    tmp = tempfile.mkdtemp(prefix="procsync-scanner-fixture-")
    root = os.path.join(tmp, "proc")
    shutil.copytree(os.path.join(FIXTURES, "proc-basic"), root, symlinks=True)
    state = os.path.join(tmp, "state")
    os.mkdir(state)
    return tmp, root, state, write_config(tmp, proc_root=root)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_exact_rows_and_changes():
    tmp, root, state, config = setup()
    try:
        t0 = now_ms()
        run_once(SCANNER, config, state)
        t1 = now_ms()
        with open(os.path.join(FIXTURES, "proc-basic.expected"), encoding="utf-8", errors="surrogateescape") as f:
            want = f.read()
        expect_equal(dump(state), want, "rows after the first --once")

        hb = heartbeat(state)
        expect_equal(hb["generation"], 1, "generation after the first cycle")
        check(hb["last_error"] is None, "last_error %r" % hb["last_error"])
        check(hb["config_ok"] == 1, "config_ok")
        s = hb["stats"]
        expect_equal((s["processes"], s["kernel_threads"], s["vanished"], s["netns"], s["sockets"]), (8, 2, 2, 3, 7),
                     "figures (processes, kernel threads, vanished, netns, sockets)")
        expect_equal(s["socket_figures"]["netns_failed"], 1, "netns without tables (pid 300's)")
        first = processes(state)
        for r in list(first.values()) + query(state, "SELECT * FROM scan_sockets") + query(state,
                                                                                           "SELECT * FROM scan_netns"):
            check(t0 <= r["first_seen"] <= t1 and r["last_seen"] == r["first_seen"], "first/last_seen of %r" % r)
        socks1 = sockets(state)

        # The same tree again (a new process: state comes from the database): nothing is rewritten.
        wait_next_ms(t1)
        run_once(SCANNER, config, state)
        expect_equal(dump(state), want, "rows after the second --once")
        hb2 = heartbeat(state)
        expect_equal(hb2["generation"], 1, "generation after an unchanged cycle")
        check(hb2["last_cycle_at"] > hb["last_cycle_at"], "the heartbeat moves every cycle")
        expect_equal(hb2["stats"]["changed"], 0, "changed flag")
        expect_equal(processes(state), first, "process rows (incl. first_seen/last_seen) after an unchanged cycle")
        expect_equal(sockets(state), socks1, "socket rows after an unchanged cycle")

        # exec in pid 100 (same start ticks), pid 201 reused (new start ticks), 301 gone, 201 no longer owns 7101.
        t2 = now_ms()
        wait_next_ms(t2)
        with open(os.path.join(root, "100", "stat"), "rb") as f:
            stat = f.read()
        write(os.path.join(root, "100", "stat"), stat.replace(b"((a) b))", b"(python3)"))
        write(os.path.join(root, "100", "cmdline"), b"python3\0/srv/app.py\0")
        os.unlink(os.path.join(root, "100", "exe"))
        os.symlink("/usr/bin/python3.11", os.path.join(root, "100", "exe"))
        with open(os.path.join(root, "201", "stat"), "rb") as f:
            stat = f.read()
        write(os.path.join(root, "201", "stat"), stat.replace(b" 20001 1000 100 ", b" 25000 1000 100 "))
        os.unlink(os.path.join(root, "201", "fd", "4"))
        shutil.rmtree(os.path.join(root, "301"))
        run_once(SCANNER, config, state)
        t3 = now_ms()

        hb3 = heartbeat(state)
        expect_equal(hb3["generation"], 2, "generation after a changed cycle")
        w = hb3["stats"]["writes"]
        expect_equal((w["processes_inserted"], w["processes_updated"], w["processes_exec"], w["processes_deleted"],
                      w["sockets_deleted"]), (1, 1, 1, 1, 1), "writes (inserted, updated, exec, deleted, sockets)")
        now = processes(state)
        check(301 not in now, "pid 301 is gone")
        p = now[100]
        expect_equal((p["comm"], p["cmdline"], p["exe"], p["start_ticks"], p["first_seen"], p["changed_generation"]),
                     ("python3", "python3 /srv/app.py", "/usr/bin/python3.11", 12345, first[100]["first_seen"], 2),
                     "pid 100 after exec")
        check(t2 < p["last_seen"] <= t3, "pid 100's last_seen is the time of the change")
        p = now[201]
        expect_equal((p["start_ticks"], p["start_time"], p["changed_generation"]), (25000, 1700000250, 2),
                     "reused pid 201")
        check(t2 < p["first_seen"] <= t3, "a reused pid is a new process with a new first_seen")
        for pid in (1, 2, 3, 200, 300):
            expect_equal(now[pid], first[pid], "unchanged pid %d" % pid)
        socks = sockets(state)
        check((4026532001, 7101) not in socks, "socket 7101 lost its only owner and is gone")
        expect_equal(query(state, "SELECT count(*) AS n FROM scan_socket_owners o LEFT JOIN scan_sockets s "
                                  "ON s.id = o.socket_id WHERE s.id IS NULL")[0]["n"], 0, "orphan owners")
        expect_equal(socks[(4026532001, 7100)], socks1[(4026532001, 7100)], "the shared listener is untouched")
    finally:
        shutil.rmtree(tmp)


def test_bad_root():
    tmp = tempfile.mkdtemp(prefix="procsync-scanner-fixture-")
    try:
        state = os.path.join(tmp, "state")
        os.mkdir(state)
        os.mkdir(os.path.join(tmp, "empty"))
        config = write_config(tmp, proc_root=os.path.join(tmp, "empty"))
        p = run_once(SCANNER, config, state, check=False)
        check(p.returncode == 1, "exit status %d with a root that is not a procfs" % p.returncode)
        check("os-proc-root" in p.stderr and "empty" in p.stderr, "message names the root: %r" % p.stderr)
    finally:
        shutil.rmtree(tmp)


main([test_exact_rows_and_changes, test_bad_root])
