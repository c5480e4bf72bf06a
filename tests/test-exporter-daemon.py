#!/usr/bin/python3
"""procsync-exporter as a daemon: the file sink's lines (exactly the expected documents, one per new
version, none repeated across runs), SIGHUP reopening a rotated file, SIGHUP with a changed url (the new
receiver gets the full state), sync disabled (idle, status says so), the version kept across restarts,
the socket min-lifetime, and the heartbeat row."""

import json
import os
import signal
import time

from exporter_harness import run_tests
from http_receiver import Receiver


def scenario(env):
    env.add_process(300, "redis-server", "redis-server *:6379", "redis", user="redis", uid=101,
                    tags={"tier": "cache", "app": "shop"}, rule=2)
    env.add_socket(7001, "tcp", "listen", "0.0.0.0", 6379, "0.0.0.0", 0, "server", [300])
    env.publish()


def read_lines(path):
    with open(path) as f:
        data = f.read()
    assert data == "" or data.endswith("\n"), "torn last line in %s" % path
    return [json.loads(x) for x in data.splitlines()]


def test_file_sink_lines(env):
    scenario(env)
    path = os.path.join(env.dir, "sync.jsonl")
    env.write_config([{"name": "log", "type": "file", "path": path}])
    assert env.run_once() == 0, env.log()
    v = env.state_version()
    doc_v = env.expected(v)
    assert read_lines(path) == [doc_v]
    assert os.stat(path).st_mode & 0o777 == 0o640 & ~current_umask()

    # Same content, another run: the same version, no new line.
    assert env.run_once() == 0, env.log()
    assert env.state_version() == v and len(read_lines(path)) == 1

    # One change, one line with the whole new state.
    env.processes[0]["tags"]["tier"] = "db"
    env.publish()
    assert env.run_once() == 0, env.log()
    assert read_lines(path) == [doc_v, env.expected(v + 1)]
    row = env.sink_row("log")
    assert row["acked_version"] == v + 1 and row["failures"] == 0

    # A missing directory is an error, not created.
    env.write_config([{"name": "log", "type": "file", "path": os.path.join(env.dir, "nope", "x.jsonl")}])
    assert env.run_once() != 0
    assert not os.path.exists(os.path.join(env.dir, "nope"))
    assert "nope/x.jsonl" in env.sink_row("log")["last_error"]


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_sighup_reopens_rotated_file(env):
    scenario(env)
    path = os.path.join(env.dir, "sync.jsonl")
    env.write_config([{"name": "log", "type": "file", "path": path, "push_interval": "1s"}])
    env.start()
    env.wait_for(lambda: os.path.exists(path) and len(read_lines(path)) == 1, what="the first line")
    v = env.state_version()
    doc_v = env.expected(v)
    os.rename(path, path + ".1")
    env.proc.send_signal(signal.SIGHUP)
    env.wait_for(lambda: "reloaded" in env.log(), what="the reload")
    env.processes[0]["cmdline"] = "redis-server *:6380"
    env.publish()
    env.wait_for(lambda: os.path.exists(path) and len(read_lines(path)) == 1, what="a line in the new file")
    assert read_lines(path) == [env.expected(v + 1)]
    assert read_lines(path + ".1") == [doc_v]
    env.stop()


def test_sighup_new_url_gets_full_state(env):
    a, b = Receiver(), Receiver()
    try:
        scenario(env)
        env.write_config([{"name": "c", "type": "http", "url": a.url, "push_interval": "1s"}])
        env.start()
        a.wait_for(lambda r: r.version is not None, what="receiver a")
        v = env.state_version()
        env.write_config([{"name": "c", "type": "http", "url": b.url, "push_interval": "1s"}])
        env.proc.send_signal(signal.SIGHUP)
        b.wait_for(lambda r: r.version is not None, what="receiver b")
        assert b.requests[0]["full"] and b.doc == env.expected(v)
        env.stop()
    finally:
        a.stop()
        b.stop()


def test_sync_disabled_idles(env):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([{"name": "c", "type": "http", "url": r.url, "push_interval": "1s"}], sync_enabled=False)
        env.start()
        env.wait_for(lambda: [r for r in env.query("SELECT stats FROM export_daemon") if r[0]], what="heartbeat")
        stats = json.loads(env.query("SELECT stats FROM export_daemon")[0][0])
        assert stats["sync_enabled"] is False and stats["state"] == "disabled", stats
        time.sleep(1.5)  # nothing may happen during this time: there is no condition to poll for
        assert r.requests == [] and env.state_version() is None
        assert "disabled" in env.log()
        env.stop()
        assert env.run_once() == 0
    finally:
        r.stop()


def test_heartbeat_row_and_min_lifetime(env):
    scenario(env)
    # A socket seen 1 s ago is not synced before it is 3 s old.
    env.add_socket(7002, "tcp", "established", "10.0.0.5", 6379, "10.0.0.6", 50000, "server", [300], age_ms=1000)
    env.publish()
    path = os.path.join(env.dir, "sync.jsonl")
    env.write_config([{"name": "log", "type": "file", "path": path, "push_interval": "500ms"}])
    env.start()
    env.wait_for(lambda: os.path.exists(path) and len(read_lines(path)) >= 1, what="the first line")
    v = env.state_version()
    first = read_lines(path)[0]
    assert [s["inode"] for s in first["sockets"]] == [7001], first["sockets"]
    # Once old enough it appears without any new commit of the scanner or the matcher.
    env.wait_for(lambda: len(read_lines(path)) == 2, timeout=6, what="the socket after min-lifetime")
    assert read_lines(path)[1] == env.expected(v + 1)

    env.wait_for(lambda: json.loads(env.query("SELECT stats FROM export_daemon")[0][0])["version"] == v + 1,
                 what="the heartbeat row of the last cycle")
    row = env.query("SELECT pid, last_cycle_at, stats, last_error FROM export_daemon")[0]
    assert row[0] == env.proc.pid and row[1] > 0 and row[3] is None, row
    stats = json.loads(row[2])
    assert stats["sync_enabled"] is True and stats["processes"] == 1 and stats["sockets"] == 2, stats
    env.stop()


def test_bad_row_reported_without_spinning(env):
    scenario(env)
    db = env.db()
    db.execute("UPDATE match_decisions SET tags = '[1, 2]'")
    db.close()
    path = os.path.join(env.dir, "sync.jsonl")
    env.write_config([{"name": "log", "type": "file", "path": path, "push_interval": "1s"}])
    env.start()
    env.wait_for(lambda: [r for r in env.query("SELECT last_error FROM export_daemon") if r[0]],
                 what="the build error in status")
    assert "cannot build" in env.query("SELECT last_error FROM export_daemon")[0][0]
    # Its own heartbeat commit must not wake it into another failing build: one attempt, then the
    # retry timer (5 s). Nothing to poll for here; the absence of attempts is the point.
    time.sleep(2)
    assert env.log().count("Failed to build") == 1, env.log()
    assert not os.path.exists(path)

    # The matcher writes a good row: built at once, delivered, the error cleared.
    env.publish()
    env.wait_for(lambda: os.path.exists(path) and len(read_lines(path)) == 1, timeout=2,
                 what="the state once fixed, before the 5 s retry")
    assert read_lines(path) == [env.expected(env.state_version())]
    env.wait_for(lambda: env.query("SELECT last_error FROM export_daemon")[0][0] is None, what="error cleared")
    env.stop()


if __name__ == "__main__":
    run_tests([
        test_file_sink_lines,
        test_sighup_reopens_rotated_file,
        test_sighup_new_url_gets_full_state,
        test_sync_disabled_idles,
        test_heartbeat_row_and_min_lifetime,
        test_bad_row_reported_without_spinning,
    ])
