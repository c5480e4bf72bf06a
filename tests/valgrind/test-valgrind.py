#!/usr/bin/python3
"""The four daemons and procctl under valgrind (memcheck), in a build without sanitizers (README
"Reliability"; tests/valgrind/run.sh builds build-valgrind/ and runs this).

procsync-scanner, -matcher, -exporter and -api run at once, each under its own valgrind, with short
intervals on this host's live /proc: a python3 TCP server and a client connected to it (so that there are
synced processes, sockets, a flow to look up; as root a listening one in a network namespace of its own), a
tag command tagging the server (as root: it runs as nobody), and three sinks: a file, an HTTP receiver
(tests/http_receiver.py, in this process) and the DeepFlow test server (tests/deepflow_server.py, real
gRPC). The receiver answers 500 first and later forgets what it holds (the http sink's retry and resend
paths). Once every sink holds the exporter's version, each daemon gets a SIGHUP and goes through three more
cycles, then a reload to a config that does not load (kept the old one, error reported) and back; every API
endpoint is asked over TCP and the unix socket (errors too), and the procctl verbs run once each under
valgrind. Then SIGTERM: each daemon must exit 0 and every valgrind log must end with "ERROR SUMMARY: 0
errors".

Not here: `procctl run` and `procctl reload` use pidfds, and Debian 12's valgrind 3.19 does not implement
pidfd_open (syscall 434): under valgrind the launcher cannot start anything. The scanner's openat2() of a
container's /etc/passwd (syscall 437, also unknown to valgrind 3.19: a warning in its log) fails there,
so that path runs as when the file cannot be read. The ASan build covers both.

valgrind: --leak-check=full --errors-for-leak-kinds=definite,possible --error-exitcode=1
--trace-children=no (the tag command and its cat are not ours). Definite and possible leaks are errors: a
block nothing points to any more (definite), or only something pointing into its middle (possible), can
never be freed, and in a daemon whatever leaks once per cycle grows without end. Indirect leaks hang off a
definite one, which already fails; "still reachable" memory at exit is what libraries keep for the
process's life (gRPC's and glibc's NSS singletons), not something that grows. tests/valgrind/procsync.supp holds
the few suppressions needed for libraries, each with its reason; none names our code.

Usage: test-valgrind.py SOURCE_ROOT PROCSYNC_SCANNER PROCSYNC_MATCHER PROCSYNC_EXPORTER PROCSYNC_API PROCCTL
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

SOURCE = sys.argv[1]
sys.path.insert(0, os.path.join(SOURCE, "tests"))
from api_harness import check, finish, free_port, get, request, skip, tcp_ready, wait_for  # noqa: E402
from http_receiver import Receiver  # noqa: E402

SCANNER, MATCHER, EXPORTER, API, PROCCTL = sys.argv[2:7]
SUPP = os.path.join(SOURCE, "tests", "valgrind", "procsync.supp")
VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,possible",
            "--errors-for-leak-kinds=definite,possible", "--error-exitcode=1", "--trace-children=no",
            "--track-origins=yes", "--num-callers=40", f"--suppressions={SUPP}"]
# A cycle under valgrind is far slower than natively: generous waits, never a timed assertion.
WAIT = 90.0

SERVER = """
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
sys.stdout.write("%d\\n" % s.getsockname()[1]); sys.stdout.flush()
c, _ = s.accept()
sys.stdin.read()
"""
# In a network namespace of its own (root only): the scanner's per-namespace socket walk.
NETNS_SERVER = """
import socket, sys
s = socket.socket(); s.bind(("0.0.0.0", 0)); s.listen(8)
sys.stdout.write("%d\\n" % s.getsockname()[1]); sys.stdout.flush()
sys.stdin.read()
"""
CLIENT = """
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sys.stdout.write("%d\\n" % c.getsockname()[1]); sys.stdout.flush()
sys.stdin.read()
"""


def vg_summary(log):
    """(errors, text) from a valgrind log: the ERROR SUMMARY count (None when missing) and the log."""
    try:
        with open(log) as f:
            text = f.read()
    except OSError:
        return None, ""
    m = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    return (int(m[-1]) if m else None), text


class Daemon:
    def __init__(self, tmp, binary, args):
        self.name = os.path.basename(binary)
        self.log = os.path.join(tmp, self.name + ".valgrind.log")
        self.out = open(os.path.join(tmp, self.name + ".out"), "w+")
        self.proc = subprocess.Popen([*VALGRIND, f"--log-file={self.log}", binary, *args],
                                     stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        self.out.seek(0)
        return self.out.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return self.proc.returncode


def valgrind_clean(what, log, rc=None):
    errors, text = vg_summary(log)
    # "unhandled eBPF command": the scanner must not try the BPF owner iterator under valgrind.
    ok = errors == 0 and (rc is None or rc == 0) and "unhandled eBPF" not in text
    check(f"{what}: valgrind reports no error" + ("" if rc is None else " and it exits 0"), ok,
          f"exit {rc}, ERROR SUMMARY {errors}; valgrind log {log}:\n{text[-12000:]}")
    return ok


def write_config(tmp, state, tags, http_url, df_port, api_port, root):
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write("static_config:\n"
                "  os-proc-sync-enabled: true\n"
                "  os-proc-socket-min-lifetime: 0\n"
                "  os-proc-socket-sync-interval: 1s\n"
                + (f"  os-app-tag-exec: ['cat', '{tags}']\n  os-app-tag-exec-user: nobody\n" if root else "")
                + "  os-proc-regex:\n"
                  "    - match-regex: procsync-vg-(\\w+)\n"
                  "      match-type: cmdline\n"
                  "      rewrite-name: vg-$1\n"
                  "    - match-regex: ^(sleep|bash)$\n"
                  "      action: drop\n"
                  "    - match-regex: python3\n"
                  "      match-type: parent_process_name\n"
                  "    - action: drop\n"
                  "procsync:\n"
                  f"  state_dir: {state}\n"
                  "  process_scan_interval: 1s\n"
                  "  api:\n"
                  f"    listen: ['127.0.0.1:{api_port}', 'unix:{state}/api.sock']\n"
                  "  exporter:\n"
                  "    sinks:\n"
                  f"      - {{type: file, path: '{tmp}/sync.jsonl', push_interval: 1s}}\n"
                  f"      - {{type: http, url: '{http_url}', push_interval: 1s,\n"
                  "         headers: {X-Procsync-Test: valgrind}}\n"
                  f"      - {{type: deepflow, name: df, controller_ips: ['127.0.0.1'], controller_port: {df_port},\n"
                  "         ctrl_ip: 127.0.0.1, ctrl_mac: '02:00:00:00:00:01', push_interval: 1s}\n")
    return config


def main():
    if not shutil.which("valgrind"):
        skip("valgrind is not installed")
    root = os.geteuid() == 0
    tmp = tempfile.mkdtemp(prefix="procsync-valgrind-")
    os.chmod(tmp, 0o755)  # the tag command runs as nobody and reads a file here
    state = os.path.join(tmp, "state")
    keep = False

    server = subprocess.Popen([sys.executable, "-c", SERVER, "procsync-vg-server"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), "procsync-vg-client"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    client_port = int(client.stdout.readline())
    netns = None
    if root:
        netns = subprocess.Popen(["unshare", "--net", sys.executable, "-c", NETNS_SERVER, "procsync-vg-netns"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        netns.port = int(netns.stdout.readline())
    tags = os.path.join(tmp, "tags.yaml")
    with open(tags, "w") as f:
        f.write(f"- pid: {server.pid}\n  tags:\n  - key: app\n    value: vg\n")
    os.chmod(tags, 0o644)

    receiver = Receiver()
    receiver.script(500)  # the http sink's error and retry path first
    df_state = os.path.join(tmp, "deepflow-state.json")
    df = subprocess.Popen(["/usr/bin/python3", os.path.join(SOURCE, "tests", "deepflow_server.py"),
                           "--proto", os.path.join(SOURCE, "exporter", "deepflow.proto"), "--state", df_state],
                          stdout=subprocess.PIPE, text=True)
    line = df.stdout.readline()
    api_port = free_port()
    daemons = []
    try:
        check("the DeepFlow test server started", line.startswith("PORT "), line)
        config = write_config(tmp, state, tags, receiver.url, int(line.split()[1]), api_port, root)
        # The four start at once: procsync-api binds its unix socket in the state directory, which the
        # scanner would create only once it gets that far (slow under valgrind). `procctl run` starts the
        # others after the scanner is ready, systemd creates StateDirectory= first; here the test does.
        os.makedirs(state, mode=0o755, exist_ok=True)
        for binary, args in ((SCANNER, []), (MATCHER, []), (EXPORTER, []), (API, [])):
            daemons.append(Daemon(tmp, binary, ["-c", config, *args]))
        api = daemons[3]
        wait_for(lambda: api.proc.poll() is not None or tcp_ready(api_port)(), "procsync-api to listen", WAIT, 0.2)
        check("procsync-api listens under valgrind", api.proc.poll() is None, api.output())

        tcp = ("tcp", api_port)

        def status():
            try:
                r = get(tcp, "/v1/status", timeout=30)
                return r.json() if r.status == 200 else None
            except (OSError, ValueError):
                return None

        def df_agent():
            try:
                with open(df_state) as f:
                    return json.load(f)["agents"].get("127.0.0.1|02:00:00:00:00:01")
            except (OSError, ValueError, KeyError):
                return None

        def in_sync():
            s = status()
            if not s or not s["exporter"]["version"] or not s["matcher"]["generation"]:
                return None
            sinks = s["exporter"]["sinks"]
            return s if len(sinks) == 3 and all(k["in_sync"] for k in sinks) else None

        s = wait_for(in_sync, "every sink in sync", WAIT, 0.5)
        check("every sink (file, http, deepflow) holds the exporter's version",
              receiver.version == s["exporter"]["version"] and df_agent() is not None,
              (s["exporter"], receiver.version))

        # Under valgrind the scanner lists socket owners with the /proc fd walk, not the BPF iterator
        # (memcheck does not know most bpf() commands): silently, so its stats say "fdwalk" and its log
        # has no valgrind warning about bpf().
        with sqlite3.connect(f"file:{state}/state.db?mode=ro", uri=True, timeout=10) as con:
            stats = json.loads(con.execute("SELECT stats FROM scan_daemon").fetchone()[0] or "{}")
        check("under valgrind the scanner's socket owners come from the fd walk",
              stats.get("socket_figures", {}).get("owner_source") == "fdwalk", stats.get("socket_figures"))

        # A few more cycles of each daemon, with one reload each in between, and a receiver that forgets
        # what it held (a heartbeat then gets 409 and the http sink sends everything again).
        gens = {d: s[d]["generation"] for d in ("scanner", "matcher", "exporter")}
        receiver.script("forget")
        for d in daemons:
            d.proc.send_signal(signal.SIGHUP)
        # A generation moves only when something changed: a new synced process every 2 s gives each daemon
        # a change to make (on a quiet host, e.g. with cold caches where everything settles before this
        # point, nothing else would).
        tickers = []

        def three_more():
            t = status()
            if t and all(t[d]["generation"] and t[d]["generation"] >= gens[d] + 3 for d in gens):
                return True
            if not tickers or time.monotonic() - tickers[-1][1] >= 2:
                tickers.append((subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)",
                                                  f"procsync-vg-tick{len(tickers)}"]), time.monotonic()))
            return False
        try:
            wait_for(three_more, "three more cycles of the scanner, the matcher and the exporter", WAIT, 0.5)
        finally:
            for p, _ in tickers:
                p.kill()
                p.wait()
        check("the daemons went through three more cycles and a reload under valgrind",
              all(d.proc.poll() is None for d in daemons), [(d.name, d.proc.returncode) for d in daemons])
        receiver.wait_for(lambda r: r.version is not None, WAIT, "the http sink to send everything again")
        statuses = [r["status"] for r in receiver.requests]
        check("the http sink went through a 500 and a forgetful receiver", statuses[0] == 500 and
              any(r["action"] == "forget" for r in receiver.requests), receiver.summary())

        # A reload to a config that does not load: each daemon keeps the old one and reports the error (the
        # error paths of the loaders), then a reload back to the good one.
        with open(config) as f:
            good = f.read()
        with open(config, "w") as f:
            f.write(good.replace("match-regex: procsync-vg-(\\w+)", "match-regex: procsync-vg-(\\w+"))
        for d in daemons:
            d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (lambda t: t and all(t[d]["config_ok"] is False for d in gens))(status()),
                 "the scanner, matcher and exporter to report the invalid config", WAIT, 0.5)
        wait_for(lambda: "keeping the previous configuration" in api.output(), "procsync-api to refuse it", WAIT, 0.2)
        with open(config, "w") as f:
            f.write(good)
        for d in daemons:
            d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (lambda t: t and all(t[d]["config_ok"] is True for d in gens))(status()),
                 "the scanner, matcher and exporter to take the good config again", WAIT, 0.5)
        check("a reload to an invalid config and back: the daemons report it and go on",
              all(d.proc.poll() is None for d in daemons), [(d.name, d.proc.returncode) for d in daemons])

        ask_endpoints(tcp, ("unix", os.path.join(state, "api.sock")), server.pid, port, client_port, root)
        if netns:
            socks = get(tcp, f"/v1/sockets?pid={netns.pid}", timeout=30).json()["sockets"]
            mine = get(tcp, f"/v1/sockets?pid={server.pid}", timeout=30).json()["sockets"]
            check("the listening socket in another network namespace, in a namespace of its own",
                  [(x["state"], x["local"]) for x in socks] == [("listen", f"0.0.0.0:{netns.port}")] and
                  socks[0]["netns_id"] not in {x["netns_id"] for x in mine}, (socks, mine))
        run_procctl(tmp, config, server.pid)
        for d in daemons:
            rc = d.stop()
            if not valgrind_clean(f"{d.name} (SIGTERM after the cycles)", d.log, rc):
                keep = True
                print("# its output:\n" + "\n".join("#   " + x for x in d.output().splitlines()[-40:]))
    except Exception:
        keep = True
        raise
    finally:
        for d in daemons:
            d.stop()
        for p in (server, client, netns):
            if p:
                p.stdin.close()
                p.wait()
        df.terminate()
        df.wait(30)
        receiver.stop()
    if keep:
        print(f"# logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


def ask_endpoints(tcp, unix, server_pid, port, client_port, root):
    a_srv, a_cli = f"127.0.0.1:{port}", f"127.0.0.1:{client_port}"
    paths = ["/v1/status", "/v1/processes", "/v1/processes?all=1", "/v1/processes?name=vg-server",
             "/v1/processes?tag=app:vg&tag=app", f"/v1/processes/{server_pid}", "/v1/processes/1",
             "/v1/sockets", f"/v1/sockets?pid={server_pid}",
             f"/v1/lookup?proto=tcp&local={urllib.parse.quote(a_cli)}&remote={urllib.parse.quote(a_srv)}",
             "/v1/rules", "/v1/config", "/metrics", "/healthz"]
    for target in (tcp, unix):
        answers = {p: get(target, p, timeout=30) for p in paths}
        bad = {p: (r.status, r.body[:200]) for p, r in answers.items() if r.status != 200}
        check(f"over {target[0]}: every endpoint answers 200", not bad, bad)
    procs = get(tcp, "/v1/processes", timeout=30).json()["processes"]
    names = sorted(p["name"] for p in procs if p["name"] in ("vg-client", "vg-server"))
    check("the test's server and client are synced under their rule's names", names == ["vg-client", "vg-server"],
          names)
    if root:
        srv = [p for p in procs if p["pid"] == server_pid]
        check("the tag command tagged the server", srv and srv[0]["tags"] == {"app": "vg"}, srv)
    lk = get(tcp, f"/v1/lookup?proto=tcp&local={a_cli}&remote={a_srv}", timeout=30).json()
    check("lookup finds both ends of the test's flow", len(lk.get("matches", [])) == 2, lk)
    body = json.dumps({"process_name": "python3", "cmdline": "python3 x.py procsync-vg-x", "parents": ["bash"],
                       "tags": {"app": "vg"}})
    r = request(tcp, "POST", "/v1/rules/test", body=body, headers={"Content-Type": "application/json"}, timeout=30)
    check("POST /v1/rules/test", r.status == 200 and r.json().get("name") == "vg-x", (r.status, r.body[:300]))
    r = request(tcp, "POST", "/v1/rules/test", body=json.dumps({"pid": server_pid}),
                headers={"Content-Type": "application/json"}, timeout=30)
    check("POST /v1/rules/test {pid}", r.status == 200 and r.json().get("name") == "vg-server",
          (r.status, r.body[:300]))
    for method, path, body, want in (("GET", "/v1/nope", None, 404), ("GET", "/v1/processes/abc", None, 400),
                                     ("POST", "/v1/rules/test", "{", 400), ("DELETE", "/v1/status", None, 405),
                                     ("GET", "/v1/lookup?proto=sctp", None, 400)):
        r = request(tcp, method, path, body=body, headers={"Content-Type": "application/json"}, timeout=30)
        check(f"{method} {path}: {want}", r.status == want, (r.status, r.body[:200]))


def run_procctl(tmp, config, server_pid):
    verbs = [["status"], ["--json", "status"], ["processes"], ["processes", "--all"], ["sockets"],
             ["--json", "sockets", "--pid", str(server_pid)], ["rules", "list"],
             ["rules", "test", "--name", "python3", "--cmdline", "python3 procsync-vg-x", "--parent", "bash"],
             ["rules", "test", "--pid", str(server_pid), "--tag", "app=vg"], ["config", "show"],
             ["--json", "config", "show"], ["config", "check", config]]
    for i, verb in enumerate(verbs):
        log = os.path.join(tmp, f"procctl-{i}.valgrind.log")
        p = subprocess.run([*VALGRIND, f"--log-file={log}", PROCCTL, "-c", config, *verb],
                           capture_output=True, text=True, timeout=WAIT, env=dict(os.environ, COLUMNS="120"))
        # status exits 1 when a slow (valgrind) daemon looks late: its output is checked, not its code.
        ok_rc = p.returncode in (0, 1) if verb[-1] == "status" else p.returncode == 0
        check(f"procctl {' '.join(verb)}: exit {p.returncode}", ok_rc and p.stdout, p.stdout[-2000:] + p.stderr[-2000:])
        valgrind_clean(f"procctl {' '.join(verb)}", log)


if __name__ == "__main__":
    main()
