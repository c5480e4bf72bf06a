#!/usr/bin/python3
"""procsync-exporter's http sink against a real local HTTP server (tests/http_receiver.py): full state then
heartbeats, a new version on a rename, 500 retried with a growing backoff, a hanging receiver that times
out without holding up the next sink, 409/410 answered by an immediate full resend, a restart that probes
with a heartbeat instead of resending, an outage during which versions are superseded, and --once."""

import socket
import time

from exporter_harness import run_tests
from http_receiver import Receiver

HB_KEYS = {"version", "hostname", "full"}


def scenario(env):
    env.add_process(100, "python3", "python3 app.py", "app-py-script", user="app", uid=1000,
                    tags={"team": "shop", "env": "prod"}, rule=1)
    env.add_process(200, "nginx", "nginx: worker process", "nginx", user="www-data", uid=33, tags={"app": "web"})
    env.add_socket(5001, "tcp", "listen", "0.0.0.0", 80, "0.0.0.0", 0, "server", [200])
    env.add_socket(5002, "tcp", "established", "10.0.0.1", 80, "10.0.0.2", 40000, "server", [200])
    env.add_socket(5003, "udp", "connected", "10.0.0.1", 5353, "10.0.0.53", 53, "client", [100])
    env.publish()


def http_sink(name, receiver, **kw):
    s = {"name": name, "type": "http", "url": receiver.url, "push_interval": "1s", "timeout": "2s"}
    s.update(kw)
    return s


def test_full_then_heartbeats(env):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([http_sink("collector", r, headers=["X-Token: abc", "X-Host: a"])])
        env.start()
        r.wait_for(lambda r: r.version is not None, what="the first full state")
        v = env.state_version()
        first = r.requests[0]
        assert first["full"] and first["status"] == 200, r.summary()
        assert r.version == v
        assert r.doc == env.expected(v), (r.doc, env.expected(v))
        assert first["content_type"] == "application/json"
        assert first["headers"].get("X-Token") == "abc" and first["headers"].get("X-Host") == "a"
        assert first["path"] == "/sync"

        # Heartbeats at push_interval: header fields only.
        r.wait_for(lambda r: len(r.requests) >= 4, what="three heartbeats")
        hbs = r.requests[1:4]
        for hb in hbs:
            assert not hb["full"] and hb["status"] == 200, r.summary()
            assert set(hb["doc"]) == HB_KEYS and hb["doc"]["version"] == v and hb["doc"]["full"] is False
        for a, b in zip(hbs, hbs[1:]):
            assert 0.8 <= b["at"] - a["at"] <= 1.8, "heartbeat gap %.2f s" % (b["at"] - a["at"])
        env.wait_for(lambda: env.sink_row("collector")["acked_version"] == v, what="acked_version")
        row = env.sink_row("collector")
        assert row["failures"] == 0 and row["last_error"] is None and row["last_ok_at"], row

        # A rename is a new version, delivered as a full document.
        env.processes[1]["name"] = "nginx-renamed"
        env.publish()
        r.wait_for(lambda r: r.version == v + 1, timeout=2, what="version + 1")
        assert r.doc == env.expected(v + 1)
        assert env.state_version() == v + 1
        env.stop()
    finally:
        r.stop()


def test_retry_backoff(env):
    r = Receiver()
    try:
        scenario(env)
        r.script(500, 500, 500)
        env.write_config([http_sink("collector", r)])
        env.start()
        r.wait_for(lambda r: len(r.requests) >= 2, what="two failed attempts")
        env.wait_for(lambda: (env.sink_row("collector")["failures"] or 0) >= 2, what="failures in the row")
        row = env.sink_row("collector")
        assert "HTTP 500" in row["last_error"], row
        assert row["acked_version"] == 0 and row["next_attempt_at"] > row["last_attempt_at"], row

        r.wait_for(lambda r: r.version is not None, timeout=15, what="success after the retries")
        attempts = r.fulls()
        assert [a["status"] for a in attempts[:4]] == [500, 500, 500, 200], r.summary()
        gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:4])]
        # 1 s, 2 s, 4 s, each ±20%, plus scheduling slack.
        for gap, base in zip(gaps, (1, 2, 4)):
            assert base * 0.8 - 0.05 <= gap <= base * 1.2 + 0.5, "backoff gaps %s" % gaps
        v = env.state_version()
        env.wait_for(lambda: env.sink_row("collector")["acked_version"] == v, what="acknowledged")
        row = env.sink_row("collector")
        assert row["failures"] == 0 and row["errors_total"] == 3 and row["last_error"] is None, row
        assert r.doc == env.expected(v)
        env.stop()
    finally:
        r.stop()


def test_hang_does_not_block_other_sinks(env):
    hung, good = Receiver(), Receiver()
    try:
        scenario(env)
        hung.script(*["hang"] * 1000)
        env.write_config([http_sink("hung", hung, timeout="1s"), http_sink("good", good)])
        env.start()
        good.wait_for(lambda r: r.version is not None, timeout=4, what="the good sink, despite the hung one")
        env.wait_for(lambda: "timed out" in (env.sink_row("hung")["last_error"] or ""), what="the timeout error")
        # The good sink keeps its heartbeat while the hung one keeps timing out and retrying.
        good.wait_for(lambda r: len(r.requests) >= 5, timeout=10, what="heartbeats of the good sink")
        hung.wait_for(lambda r: len(r.requests) >= 3, timeout=10, what="retries of the hung sink")
        for a, b in zip(good.requests, good.requests[1:]):
            assert b["at"] - a["at"] <= 1 + 1 + 0.8, "the good sink was held up: %s" % good.summary()
        row = env.sink_row("hung")
        assert row["acked_version"] == 0 and row["failures"] >= 2 and row["errors_total"] >= 2, row
        assert env.sink_row("good")["failures"] == 0
        env.stop()
    finally:
        hung.stop()
        good.stop()


def test_sigterm_cuts_a_hanging_push(env):
    r = Receiver()
    try:
        scenario(env)
        r.script(*["hang"] * 10)
        env.write_config([http_sink("slow", r, timeout="30s")])
        env.start()
        r.wait_for(lambda r: len(r.requests) == 1, what="the hanging request")
        t = time.monotonic()
        env.stop()
        assert time.monotonic() - t < 5, "SIGTERM waited for the receiver's 30 s timeout"
        row = env.sink_row("slow")
        assert row["errors_total"] == 0 and row["last_error"] is None, row
    finally:
        r.stop()


def test_lost_state_full_resend(env):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([http_sink("collector", r)])
        env.start()
        r.wait_for(lambda r: len(r.requests) >= 2, what="full + heartbeat")
        v = env.state_version()
        for lost in ("forget", 410):
            n = len(r.requests)
            r.script(lost)
            r.wait_for(lambda r: len(r.requests) >= n + 2, what="heartbeat refused and full resend")
            hb, full = r.requests[n], r.requests[n + 1]
            assert not hb["full"] and hb["status"] == (409 if lost == "forget" else 410), r.summary()
            assert full["full"] and full["status"] == 200 and full["version"] == v, r.summary()
            assert full["at"] - hb["at"] < 0.5, "the full resend was not immediate"
            assert r.version == v and r.doc == env.expected(v)
        env.stop()
    finally:
        r.stop()


def test_restart_probes_instead_of_resending(env):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([http_sink("collector", r)])
        env.start()
        r.wait_for(lambda r: r.version is not None, what="full")
        v = env.state_version()
        env.wait_for(lambda: env.sink_row("collector")["acked_version"] == v, what="acked")
        env.stop()

        # Same content after a restart: same version; a heartbeat, no full.
        n = len(r.requests)
        env.start()
        r.wait_for(lambda r: len(r.requests) >= n + 2, what="requests after the restart")
        assert env.state_version() == v
        assert all(not x["full"] and x["status"] == 200 for x in r.requests[n:]), r.summary()
        env.stop()

        # Changed while stopped: the probe is refused and the full state follows.
        env.processes[0]["cmdline"] = "python3 app.py --workers 4"
        env.publish()
        n = len(r.requests)
        env.start()
        r.wait_for(lambda r: r.version == v + 1, what="version + 1 after the restart")
        assert [(x["full"], x["status"]) for x in r.requests[n:n + 2]] == [(False, 409), (True, 200)], r.summary()
        assert r.doc == env.expected(v + 1)
        env.stop()
    finally:
        r.stop()


def test_outage_supersedes_versions(env):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([http_sink("collector", r)])
        env.start()
        r.wait_for(lambda r: r.version is not None, what="full")
        v = env.state_version()
        r.script(*[503] * 3)
        env.processes[0]["tags"]["env"] = "staging"
        env.publish()
        env.wait_for(lambda: env.state_version() == v + 1, what="v + 1")
        env.processes[1]["user"] = "nginx"
        env.publish()
        env.wait_for(lambda: env.state_version() == v + 2, what="v + 2")
        r.wait_for(lambda r: r.version == v + 2, timeout=15, what="the latest version after the outage")
        stored = [x["version"] for x in r.requests if x["full"] and x["status"] == 200]
        assert stored == sorted(set(stored)), "a stored version repeated or went back: %s" % r.summary()
        assert r.doc == env.expected(v + 2)
        env.stop()
    finally:
        r.stop()


def test_no_redirects(env):
    r = Receiver()
    try:
        scenario(env)
        r.script("redirect")
        env.write_config([http_sink("collector", r)])
        env.start()
        env.wait_for(lambda: "HTTP 307" in (env.sink_row("collector")["last_error"] or ""), what="the 307 error")
        assert [x["path"] for x in r.requests] == ["/sync"], r.summary()
        r.wait_for(lambda r: r.version is not None, what="the retry")
        assert all(x["path"] == "/sync" for x in r.requests), r.summary()
        env.stop()
    finally:
        r.stop()


def test_once(env):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([http_sink("collector", r)])
        assert env.run_once() == 0, env.log()
        assert r.version == env.state_version() and r.doc == env.expected(r.version)

        # Nothing listens on this port: --once must fail.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env.write_config([{"name": "down", "type": "http", "url": "http://127.0.0.1:%d/" % port, "timeout": "2s"}])
        assert env.run_once() != 0, env.log()
        row = env.sink_row("down")
        assert row["last_error"] and row["failures"] == 1, row
        # The removed sink's row is gone.
        assert env.sink_row("collector") is None
    finally:
        r.stop()


if __name__ == "__main__":
    run_tests([
        test_full_then_heartbeats,
        test_retry_backoff,
        test_hang_does_not_block_other_sinks,
        test_sigterm_cuts_a_hanging_push,
        test_lost_state_full_resend,
        test_restart_probes_instead_of_resending,
        test_outage_supersedes_versions,
        test_no_redirects,
        test_once,
    ])
