#!/usr/bin/env python3
"""procsync-api and procctl over a state.db filled by the real procsync-scanner and procsync-matcher (one
--once cycle each) on this host's live /proc, with processes this test starts and knows everything about:
a TCP server and a client connected to it (python3, recognisable cmdlines), and a tag command (cat of a
YAML file) giving the server a tag. The documents must describe exactly these processes and sockets:
pids, ppid, user, uid, cmdline, the name the rules gave, tags, the listening and both connected sockets
with their roles, the flow found by /v1/lookup from either end; `procctl --json` must equal the API.
The tag command part needs root (the matcher runs it as `nobody`).

With the exporter (one --once cycle, a file sink) every daemon has reported: /healthz is 200 and the
sink's acknowledged version is in the status.

Usage: test-api-live.py PROCSYNC_API PROCCTL PROCSYNC_SCANNER PROCSYNC_MATCHER PROCSYNC_EXPORTER
"""
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_harness import Api, check, finish, free_port, get, tcp_ready, wait_for  # noqa: E402

API, PROCCTL, SCANNER, MATCHER, EXPORTER = sys.argv[1:6]

SERVER = """
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
c, _ = s.accept()
sys.stdout.write("accepted\\n"); sys.stdout.flush()
sys.stdin.read()
"""
CLIENT = """
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sys.stdout.write("%d\\n" % c.getsockname()[1]); sys.stdout.flush()
sys.stdin.read()
"""


def run(*argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def main():
    root = os.geteuid() == 0
    tmp = tempfile.mkdtemp(prefix="procsync-api-live-")
    os.chmod(tmp, 0o755)  # the tag command runs as nobody and reads a file here
    state = os.path.join(tmp, "state")
    port, api_port = free_port(), free_port()

    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), "procsync-live-server"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    wait_for(tcp_ready(port), "the test server")
    # tcp_ready's probe connection was the server's one accept(): start it again with a fresh port.
    server.stdin.close()
    server.wait()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), "procsync-live-server"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def listening():
        try:
            with open("/proc/net/tcp") as f:
                return any(f":{port:04X} 00000000:0000 0A" in line for line in f)
        except OSError:
            return False
    wait_for(listening, "the test server to listen")
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), "procsync-live-client"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    client_port = int(client.stdout.readline())
    check("the server accepted the client", server.stdout.readline().strip() == "accepted")

    tags = os.path.join(tmp, "tags.yaml")
    with open(tags, "w") as f:
        f.write(f"- pid: {server.pid}\n  tags:\n  - key: app\n    value: live\n  - key: tier\n    value: web\n")
    os.chmod(tags, 0o644)
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write("os-proc-sync-enabled: true\n"
                "os-proc-socket-min-lifetime: 0\n"
                + (f"os-app-tag-exec: ['cat', '{tags}']\nos-app-tag-exec-user: nobody\n" if root else "")
                + "os-proc-regex:\n"
                  "  - match-regex: procsync-live-(\\w+)\n"
                  "    match-type: cmdline\n"
                  "    rewrite-name: live-$1\n"
                  "  - action: drop\n"
                  f"procsync:\n  state_dir: {state}\n"
                  f"  exporter:\n    sinks:\n      - type: file\n        path: {tmp}/sync.jsonl\n")

    try:
        rc, out = run(SCANNER, "-c", config, "--once")
        check("procsync-scanner --once", rc == 0, out)
        rc, out = run(MATCHER, "-c", config, "--once")
        check("procsync-matcher --once", rc == 0, out)
        rc, out = run(EXPORTER, "-c", config, "--once")
        check("procsync-exporter --once", rc == 0, out)
        api = Api(API, ["-c", config, "--listen", f"127.0.0.1:{api_port}"], ready=tcp_ready(api_port))
        try:
            checks(api_port, config, server, client, port, client_port, root, tmp)
        finally:
            rc = api.stop()
        check("procsync-api stops cleanly", rc == 0, api.output)
    finally:
        for p in (server, client):
            p.stdin.close()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


def checks(api_port, config, server, client, port, client_port, root, tmp):
    tcp = ("tcp", api_port)
    me = pwd.getpwuid(os.getuid())
    procs = get(tcp, "/v1/processes").json()
    by_pid = {p["pid"]: p for p in procs["processes"]}
    check("processes: exactly the two test processes are synced (the last rule drops the rest)",
          sorted(by_pid) == sorted([server.pid, client.pid]), sorted(by_pid))
    now = time.time()
    for p, name, argv_tail in ((server, "live-server", f"{port} procsync-live-server"),
                               (client, "live-client", f"{port} procsync-live-client")):
        e = by_pid.get(p.pid, {})
        with open(f"/proc/{p.pid}/comm") as f:
            comm = f.read().rstrip("\n")
        want = {"pid": p.pid, "ppid": os.getpid(), "name": name, "process_name": comm, "user": me.pw_name,
                "uid": os.getuid(),
                "container_id": e.get("container_id"), "rule": 0, "gpid": None}
        check(f"{name}: pid, ppid, name from the rule, comm, user, uid, rule",
              {k: e.get(k) for k in want} == want, f"\n  got  {e}\n  want {want}")
        check(f"{name}: cmdline is argv joined by spaces",
              e.get("cmdline", "").startswith(sys.executable + " -c ") and e["cmdline"].endswith(argv_tail),
              e.get("cmdline"))
        check(f"{name}: start_time is its start (epoch seconds)", abs(e.get("start_time", 0) - now) < 120, e)
        check(f"{name}: netns_id is a small index", isinstance(e.get("netns_id"), int) and e["netns_id"] >= 1, e)
    if root:
        check("the tag command's tags are on the server", by_pid.get(server.pid, {}).get("tags") ==
              {"app": "live", "tier": "web"}, by_pid.get(server.pid))
        check("?tag=app:live finds the server only",
              [p["pid"] for p in get(tcp, "/v1/processes?tag=app:live").json()["processes"]] == [server.pid])
    else:
        print("# not root: the tag command (run as nobody) is not configured")

    all_ = get(tcp, "/v1/processes?all=1").json()
    mine = {p["pid"]: p for p in all_["processes"]}
    check("?all=1 lists this test process too, dropped by the catch-all rule",
          mine.get(os.getpid(), {}).get("action") == "drop" and mine[os.getpid()]["rule"] == 1 and
          mine[os.getpid()]["synced"] is False, mine.get(os.getpid()))
    kthreads = [p for p in all_["processes"] if p["cmdline"] == ""]
    check("kernel threads: dropped, rule null", all(p["rule"] is None and p["reason"] == "kernel-thread"
                                                    for p in kthreads), kthreads[:2])

    def sockets_of(pid):
        return {(s["proto"], s["state"], s["local"], s["remote"], s["role"]): s
                for s in get(tcp, f"/v1/sockets?pid={pid}").json()["sockets"]}
    srv = sockets_of(server.pid)
    cli = sockets_of(client.pid)
    a_srv, a_cli = f"127.0.0.1:{port}", f"127.0.0.1:{client_port}"
    check("server: its listening socket, role server",
          ("tcp", "listen", a_srv, None, "server") in srv, list(srv))
    check("server: the accepted connection, role server",
          ("tcp", "established", a_srv, a_cli, "server") in srv, list(srv))
    check("client: its connection, role client", ("tcp", "established", a_cli, a_srv, "client") in cli, list(cli))
    check("owners: the server's sockets name the server pid only",
          all(s["pids"] == [server.pid] for s in srv.values()), srv)

    lk = get(tcp, f"/v1/lookup?proto=tcp&local={a_cli}&remote={a_srv}").json()
    sides = {m["side"]: [p["pid"] for p in m["processes"]] for m in lk["matches"]}
    check("lookup of the flow from the client's end: client local, server remote",
          sides == {"local": [client.pid], "remote": [server.pid]}, lk)
    lk = get(tcp, f"/v1/lookup?proto=tcp&local={a_srv}&remote={a_cli}").json()
    sides = {m["side"]: [p["pid"] for p in m["processes"]] for m in lk["matches"]}
    check("lookup from the server's end", sides == {"local": [server.pid], "remote": [client.pid]}, lk)

    status = get(tcp, "/v1/status").json()
    check("status: the scanner and matcher reported (generation > 0) and exited (--once)",
          all(status[d]["generation"] and status[d]["alive"] is False and status[d]["fresh"]
              for d in ("scanner", "matcher")), {d: status[d] for d in ("scanner", "matcher")})
    check("status: counts agree with the documents",
          status["scanner"]["counts"]["processes"] == len(all_["processes"]) and
          status["matcher"]["counts"]["synced"] == 2, status["scanner"]["counts"])
    r = get(tcp, "/healthz")
    check("healthz: 200, every daemon reported (exited since: --once)", r.status == 200 and r.json() ==
          {"healthy": True, "problems": []}, r.body)
    sinks = status["exporter"]["sinks"]
    with open(os.path.join(tmp, "sync.jsonl")) as f:
        lines = f.read().splitlines()
    check("status: the file sink acknowledged the exporter's version, and the file has it",
          len(sinks) == 1 and sinks[0]["type"] == "file" and sinks[0]["in_sync"] is True and
          sinks[0]["acked_version"] == status["exporter"]["version"] and
          json.loads(lines[-1]).get("version") == sinks[0]["acked_version"], (sinks, lines[-1:]))

    for args, path in [(["processes"], "/v1/processes"), (["processes", "--all"], "/v1/processes?all=1"),
                       (["sockets", "--pid", str(server.pid)], f"/v1/sockets?pid={server.pid}"),
                       (["sockets"], "/v1/sockets")]:
        p = subprocess.run([PROCCTL, "-c", config, "--json", *args], capture_output=True, text=True, timeout=30)
        check(f"procctl {' '.join(args)} --json == GET {path}",
              p.returncode == 0 and json.loads(p.stdout or "null") == get(tcp, path).json(), p.stderr)
    metrics = get(tcp, "/metrics").body.decode()
    check("metrics: process_info of the server", f'name="live-server",pid="{server.pid}"' in metrics)


if __name__ == "__main__":
    main()
