#!/usr/bin/env python3
"""procsync-api started the ways systemd starts it: socket activation through systemd-socket-activate
(a TCP socket, a unix socket, both at once by name, and a socket with a foreign name, which must be left
alone), and READY=1 sent to a real NOTIFY_SOCKET listener (with and without activation). The first
connection, made before procsync-api even runs (systemd-socket-activate starts it on that connection), must
be answered from the inherited socket.

Usage: test-api-activation.py PROCSYNC_API SCHEMA_DIR
"""
import os
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_harness import (Api, check, create_db, finish, free_port, get, now_ms, skip, tcp_ready,  # noqa: E402
                         wait_for)

API, SCHEMA = sys.argv[1], sys.argv[2]
ACTIVATE = shutil.which("systemd-socket-activate")


class Notify:
    """A NOTIFY_SOCKET: the datagrams sd_notify() sends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []

    def poll(self):
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            pass
        return self.messages

    def saw(self, line):
        return any(line in m.split("\n") for m in self.poll())

    def close(self):
        self.sock.close()


def first_connection_answered(target):
    """The request that makes systemd-socket-activate start procsync-api."""
    try:
        r = get(target, "/v1/processes/1", timeout=30)
        return r.status, r.json()
    except OSError as e:
        return None, repr(e)


def main():
    if not ACTIVATE:
        skip("systemd-socket-activate is not installed")
    tmp = tempfile.mkdtemp(prefix="procsync-api-activation-")
    state = os.path.join(tmp, "state")
    db = create_db(state, SCHEMA)
    t = now_ms()
    db.execute("INSERT INTO scan_processes VALUES (1, 1, 1700000000, 0, 'init', '/sbin/init', '', 0, 'root', 1,"
               " '', ?, ?, 1)", (t, t))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}

    # 1. TCP by name, READY seen by the listener.
    port = free_port()
    notify = Notify(os.path.join(tmp, "notify1"))
    api = Api(ACTIVATE, ["-l", f"127.0.0.1:{port}", "--fdname=api", "-E", f"NOTIFY_SOCKET={notify.path}",
                         "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS", "-E", "LSAN_OPTIONS",
                         API, "--state-dir", state], env=env)
    wait_for(tcp_ready(port), "systemd-socket-activate to listen")
    st, doc = first_connection_answered(("tcp", port))
    check("TCP socket activation (--fdname=api): the first connection is answered", st == 200 and doc["pid"] == 1,
          doc)
    try:
        wait_for(lambda: notify.saw("READY=1"), "READY=1", 10)
        check("READY=1 reached NOTIFY_SOCKET", True)
    except TimeoutError:
        check("READY=1 reached NOTIFY_SOCKET", False, notify.messages)
    check("STATUS= names the inherited socket", any("STATUS=Listening on systemd:api" in m for m in notify.messages),
          notify.messages)
    check("no unix socket was created from the config (the inherited ones take precedence)",
          not os.path.exists(os.path.join(state, "api.sock")))
    rc = api.stop()
    check("stops cleanly, STOPPING=1 sent", rc == 0 and notify.saw("STOPPING=1"), f"{rc} {api.output}")
    notify.close()

    # 2. A unix socket, activated through a connection on it.
    path = os.path.join(tmp, "act.sock")
    api = Api(ACTIVATE, ["-l", path, "--fdname=api-unix", "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS",
                         "-E", "LSAN_OPTIONS", API, "--state-dir", state], env=env)
    wait_for(lambda: os.path.exists(path), "the unix socket")
    st, doc = first_connection_answered(("unix", path))
    check("unix socket activation (--fdname=api-unix)", st == 200 and doc["pid"] == 1, doc)
    check("a second request on it", get(("unix", path), "/healthz").status == 503)
    rc = api.stop()
    check("stops cleanly", rc == 0, api.output)
    check("an inherited unix socket file is systemd's: left in place", os.path.exists(path))

    # 3. Both at once, named as units/procsync-api.socket names them.
    port = free_port()
    path = os.path.join(tmp, "both.sock")
    api = Api(ACTIVATE, ["-l", f"127.0.0.1:{port}", "-l", path, "--fdname=api-tcp:api-unix",
                         "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS", "-E", "LSAN_OPTIONS",
                         API, "--state-dir", state], env=env)
    wait_for(tcp_ready(port), "systemd-socket-activate to listen")
    st, _ = first_connection_answered(("tcp", port))
    check("two sockets by name: TCP answered", st == 200)
    st, _ = first_connection_answered(("unix", path))
    check("two sockets by name: unix answered", st == 200)
    rc = api.stop()
    check("stops cleanly", rc == 0, api.output)

    # 4. A socket named for someone else is closed, not served; --listen applies instead.
    port, own = free_port(), free_port()
    api = Api(ACTIVATE, ["-l", f"127.0.0.1:{port}", "--fdname=metrics-exporter", "-E", "ASAN_OPTIONS",
                         "-E", "UBSAN_OPTIONS", "-E", "LSAN_OPTIONS",
                         API, "--state-dir", state, "--listen", f"127.0.0.1:{own}"], env=env)
    wait_for(tcp_ready(port), "systemd-socket-activate to listen")
    st, _ = first_connection_answered(("tcp", port))
    check("a foreign-named socket is not served", st is None)
    wait_for(tcp_ready(own), "--listen after ignoring the foreign socket")
    check("--listen is used instead", get(("tcp", own), "/healthz").status == 503)
    rc = api.stop()
    check("stops cleanly, and says what it ignored", rc == 0 and "metrics-exporter" in api.output, api.output)

    # 5. READY=1 without socket activation, and a stale unix socket file from an earlier run.
    port = free_port()
    sock_path = os.path.join(tmp, "own.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)
    stale.close()  # the file stays, nobody accepts on it
    notify = Notify(os.path.join(tmp, "notify2"))
    api = Api(API, ["--state-dir", state, "--listen", f"127.0.0.1:{port}", "--listen", f"unix:{sock_path}"],
              env={**env, "NOTIFY_SOCKET": notify.path}, ready=tcp_ready(port))
    try:
        wait_for(lambda: notify.saw("READY=1"), "READY=1", 10)
        check("READY=1 with --listen", True)
    except TimeoutError:
        check("READY=1 with --listen", False, notify.messages)
    check("a stale socket file is replaced", get(("unix", sock_path), "/healthz").status == 503)
    second = Api(API, ["--state-dir", state, "--listen", f"unix:{sock_path}"], env=env)
    second.proc.wait(30)
    check("a live socket file is not taken over (the second instance refuses to start)",
          second.proc.returncode == 1 and "in use" in second.proc.stdout.read())
    rc = api.stop()
    check("stops cleanly and removes its own socket file", rc == 0 and not os.path.exists(sock_path), api.output)
    notify.close()

    # 6. A path that is not a socket is never deleted.
    plain = os.path.join(tmp, "plain")
    with open(plain, "w") as f:
        f.write("keep me")
    bad = Api(API, ["--state-dir", state, "--listen", f"unix:{plain}"], env=env)
    bad.proc.wait(30)
    check("unix:PATH over a regular file: refuses, file kept", bad.proc.returncode == 1 and
          open(plain).read() == "keep me")
    bad = Api(API, ["--state-dir", state, "--listen", "127.0.0.1"], env=env)
    bad.proc.wait(30)
    check("--listen without a port: usage error (2)", bad.proc.returncode == 2)

    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
