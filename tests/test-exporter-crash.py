#!/usr/bin/python3
"""procsync-exporter killed with SIGKILL between sending a version and storing the receiver's
acknowledgement, then restarted. The race is made deterministic by the receiver: it takes the request and
never answers, so the exporter is certainly inside the push when the test kills it.

"No lost version", precisely: after the restart the receiver's final version equals export_state.version
and its content equals the expected document of that version (computed by the test from the rows it
wrote); the versions the receiver stored, in order, strictly increase (no version stored twice, none
going back), and every version between the first and the last is either stored or superseded by a later
full state (each full document is the whole state, so a skipped version loses nothing)."""

from exporter_harness import run_tests
from http_receiver import Receiver


def scenario(env):
    env.add_process(100, "python3", "python3 app.py", "app-py-script", user="app", uid=1000, tags={"team": "shop"})
    env.add_process(200, "nginx", "nginx: master process", "nginx")
    env.add_socket(5001, "tcp", "listen", "0.0.0.0", 80, "0.0.0.0", 0, "server", [200])
    env.publish()


def stored_versions(r):
    return [x["version"] for x in r.requests if x["full"] and x["action"] in ("ok", "store-and-hang", "forget")
            and x["status"] in (200, None)]


def crash_between_send_and_ack(env, action):
    r = Receiver()
    try:
        scenario(env)
        env.write_config([{"name": "collector", "type": "http", "url": r.url, "push_interval": "1s",
                           "timeout": "30s"}])
        env.start()
        r.wait_for(lambda r: r.version is not None, what="first full")
        v = env.state_version()
        env.wait_for(lambda: env.sink_row("collector")["acked_version"] == v, what="acked v")

        r.script(action)
        env.processes[0]["name"] = "app-renamed"
        env.publish()
        r.wait_for(lambda r: any(x["full"] and x["version"] == v + 1 for x in r.requests), what="v + 1 sent")
        env.kill()
        # Killed inside the push: the version was stored before sending, the acknowledgement never was.
        assert env.state_version() == v + 1
        assert env.sink_row("collector")["acked_version"] == v
        r.release()

        n = len(r.requests)
        env.start()
        env.wait_for(lambda: env.sink_row("collector")["acked_version"] == v + 1, what="v + 1 acknowledged")
        after = r.requests[n:]
        if action == "store-and-hang":
            # The receiver already held v + 1: the restart's heartbeat probe finds it, nothing is resent.
            assert not any(x["full"] for x in after), r.summary()
            assert after[0]["version"] == v + 1 and after[0]["status"] == 200, r.summary()
        else:
            # It never stored v + 1: the probe is refused and the full state follows.
            assert [(x["full"], x["status"]) for x in after[:2]] == [(False, 409), (True, 200)], r.summary()

        stored = stored_versions(r)
        assert stored == sorted(set(stored)), "a version stored twice or going back: %s" % r.summary()
        assert stored[0] == v and stored[-1] == v + 1, stored
        assert r.version == env.state_version() == v + 1
        assert r.doc == env.expected(v + 1), (r.doc, env.expected(v + 1))
        env.stop()
    finally:
        r.stop()


def test_killed_after_the_receiver_stored(env):
    crash_between_send_and_ack(env, "store-and-hang")


def test_killed_before_the_receiver_stored(env):
    crash_between_send_and_ack(env, "hang")


def test_killed_before_sending(env):
    """Killed while the receiver is down (the version exists only in export_state): after the restart the
    receiver gets exactly that version, built again from the same rows."""
    r = Receiver()
    try:
        scenario(env)
        r.script(*[500] * 1000)
        env.write_config([{"name": "collector", "type": "http", "url": r.url, "push_interval": "1s",
                           "timeout": "2s"}])
        env.start()
        r.wait_for(lambda r: len(r.requests) >= 1, what="a refused attempt")
        v = env.state_version()
        env.kill()
        r.script()
        env.start()
        r.wait_for(lambda r: r.version is not None, what="the state after the restart")
        assert env.state_version() == v and r.version == v and r.doc == env.expected(v)
        env.stop()
    finally:
        r.stop()


if __name__ == "__main__":
    run_tests([
        test_killed_after_the_receiver_stored,
        test_killed_before_the_receiver_stored,
        test_killed_before_sending,
    ])
