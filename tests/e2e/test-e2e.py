#!/usr/bin/python3
"""End to end: the whole suite under `procctl run`, in private PID, network and mount namespaces, with the
feature description's section-4 rules (tests/fixtures/feature-section4.yaml, verbatim under
static_config:), real workloads and a real DeepFlow test server (tests/deepflow_server.py).

Workloads: Debian's nginx (a master and two workers on a loopback port, its own nginx.conf), python3
clients with recognisable script names connected to it, a `python3 -c` process, `bash` running `sleep`,
and a tag command (run as nobody) that tags the nginx master (its workers inherit), one worker (its own
key wins) and the clients.

Part 1 asserts through the REST API exactly which processes are synced and under which names (rule
semantics of DESIGN.md "Rules"), their tags, their sockets with roles and owners, the lookup of a flow,
that a client started later appears (in the API and at the DeepFlow server, process and socket) only
once it is min-lifetime old, and that the DeepFlow server's state (GenesisSync processes, GPIDSync
entries) equals ours.
Part 2 stops the DeepFlow server, changes the workload while it is down (the sink's error shows in
/v1/status), restarts it on the same port and waits for its state to equal ours again.

Usage: test-e2e.py PROCCTL BUILD_ROOT SOURCE_ROOT"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import api_harness  # noqa: E402
from api_harness import check, finish, free_port, wait_for  # noqa: E402
from suite_harness import DeepflowTestServer, Suite, in_namespaces  # noqa: E402

PROCCTL, BUILD_ROOT, SOURCE_ROOT = sys.argv[1:4]
MIN_LIFETIME = 3.0
MAC = "02:00:00:00:00:01"
AGENT = "127.0.0.1|" + MAC
TIMEOUT = 45.0

# Connects and prints its local port; one more connection for every line on stdin; exits at EOF.
CLIENT = """import socket, sys
conns = []
while True:
    conns.append(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
    sys.stdout.write("%d\\n" % conns[-1].getsockname()[1])
    sys.stdout.flush()
    if not sys.stdin.readline():
        break
"""

NGINX_CONF = """daemon off;
master_process on;
worker_processes 2;
user nobody nogroup;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-tmp/body;
    proxy_temp_path {tmp}/nginx-tmp/proxy;
    fastcgi_temp_path {tmp}/nginx-tmp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-tmp/uwsgi;
    scgi_temp_path {tmp}/nginx-tmp/scgi;
    client_header_timeout 300s;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""

RULE1 = re.compile(r"python3 (.*)\.py")  # rule 1 of the section-4 config, for the test's own processes


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cmdline_of(pid):
    return " ".join(a.decode() for a in read(f"/proc/{pid}/cmdline").split(b"\0") if a)


def children_of(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(x) for x in read(f"/proc/{pid}/task/{tid}/children").split()]
        except OSError:
            pass
    return sorted(out)


def ipv4(text):
    return struct.unpack("!I", socket.inet_aton(text))[0]


def endpoint(text):
    addr, port = text.rsplit(":", 1)
    return addr, int(port)


def listening(port):
    try:
        with open("/proc/net/tcp") as f:
            return any(f":{port:04X} 00000000:0000 0A" in line for line in f)
    except OSError:
        return False


def write_atomic(path, text, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def tags_yaml(tags):
    """{pid: {k: v}} as the tag command's YAML."""
    out = []
    for pid, kv in sorted(tags.items()):
        out.append(f"- pid: {pid}\n  tags:\n")
        out += [f"  - key: {k}\n    value: {v}\n" for k, v in kv.items()]
    return "".join(out)


class DeepflowServer(DeepflowTestServer):
    def __init__(self, tmp, port=0):
        super().__init__(tmp, port)

    def agent(self):
        return super().agent(AGENT)


class World:
    """The workloads, the DeepFlow server and the suite; everything the checks need."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="procsync-e2e-")
        os.chmod(self.tmp, 0o755)  # the tag command runs as nobody and reads tags.yaml here
        self.procs = []
        self.suite = None
        self.server = None
        self.tags = {}

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **kw)
        self.procs.append(p)
        return p

    def client(self, script):
        # argv[0] "python3" (Debian's), so that the cmdline is exactly `python3 /path/X.py PORT`.
        p = self.spawn(["python3", script, str(self.port)], executable="/usr/bin/python3", cwd="/")
        p.local_port = int(p.stdout.readline())
        return p

    def set_tags(self, tags):
        self.tags = tags
        write_atomic(os.path.join(self.tmp, "tags.yaml"), tags_yaml(tags))

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.server:
            self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def config_text(w, server_port):
    with open(os.path.join(SOURCE_ROOT, "tests", "fixtures", "feature-section4.yaml")) as f:
        section4 = f.read()
    if not section4.startswith("static_config:\n"):
        raise RuntimeError("feature-section4.yaml no longer starts with static_config:")
    tag_cmd = os.path.join(w.tmp, "tags.sh")
    return (section4.rstrip("\n") + "\n"
            "  os-proc-socket-sync-interval: 1\n"
            f"  os-proc-socket-min-lifetime: {int(MIN_LIFETIME)}\n"
            f"  os-app-tag-exec: ['{tag_cmd}']\n"
            "  os-app-tag-exec-user: nobody\n"
            "procsync:\n"
            f"  state_dir: {w.state}\n"
            "  process_scan_interval: 1s\n"
            "  api:\n"
            f"    listen: ['unix:{w.state}/api.sock']\n"
            "  exporter:\n"
            "    sinks:\n"
            "      - type: deepflow\n"
            "        name: df\n"
            "        controller_ips: [127.0.0.1]\n"
            f"        controller_port: {server_port}\n"
            "        ctrl_ip: 127.0.0.1\n"
            f"        ctrl_mac: '{MAC}'\n"
            "        push_interval: 1s\n")


def start_workloads(w):
    w.port = free_port()
    os.makedirs(os.path.join(w.tmp, "nginx-tmp"))
    with open(os.path.join(w.tmp, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(tmp=w.tmp, port=w.port))
    w.nginx = w.spawn(["/usr/sbin/nginx", "-c", os.path.join(w.tmp, "nginx.conf"), "-p", w.tmp,
                       "-e", os.path.join(w.tmp, "nginx-error.log")])
    wait_for(lambda: listening(w.port) and len(children_of(w.nginx.pid)) == 2 or w.nginx.poll() is not None,
             "nginx to listen with two workers", timeout=TIMEOUT, interval=0.05)
    if w.nginx.poll() is not None:
        raise RuntimeError("nginx exited: " + read(os.path.join(w.tmp, "nginx-error.log")).decode())
    w.workers = children_of(w.nginx.pid)

    os.makedirs(os.path.join(w.tmp, "apps"))
    w.scripts = {}
    for name in ("billing", "apps/inventory", "late/reports"):
        path = os.path.join(w.tmp, name + ".py")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(CLIENT)
        w.scripts[name] = path
    w.billing = w.client(w.scripts["billing"])
    w.inventory = w.client(w.scripts["apps/inventory"])
    # A python3 that is not `python3 X.py`: the final .* drops it.
    w.pyc = w.spawn(["python3", "-c", "import sys; sys.stdin.read()"], executable="/usr/bin/python3")
    # bash with a child sleep (two commands, so bash does not exec sleep).
    w.bash = w.spawn(["bash", "-c", "sleep 1000; true"])
    wait_for(lambda: len(children_of(w.bash.pid)) == 1, "bash to start sleep", timeout=TIMEOUT)
    w.sleep = children_of(w.bash.pid)[0]

    write_atomic(os.path.join(w.tmp, "tags.sh"), f"#!/bin/sh\nexec cat {w.tmp}/tags.yaml\n", 0o755)
    w.set_tags({
        w.nginx.pid: {"app": "web", "tier": "frontend"},
        w.workers[0]: {"tier": "edge"},
        w.billing.pid: {"app": "billing", "team": "payments"},
        w.inventory.pid: {"app": "inventory"},
    })


def expected_tags(w, pid, parents):
    """Own tags over the nearer ancestors' (DESIGN.md "Tags")."""
    out = {}
    for p in [*reversed(parents), pid]:
        out.update(w.tags.get(p, {}))
    return out


def expected_processes(w):
    """{pid: (name, rule, tags)} of every process that must be synced."""
    exp = {
        w.workers[0]: ("nginx", 2, expected_tags(w, w.workers[0], [w.nginx.pid])),
        w.workers[1]: ("nginx", 2, expected_tags(w, w.workers[1], [w.nginx.pid])),
    }
    for p, name in ((w.billing, "billing"), (w.inventory, "apps/inventory"), (getattr(w, "reports", None),
                                                                             "late/reports")):
        if p is not None and p.poll() is None:
            exp[p.pid] = (f"{w.tmp}/{name}-py-script", 1, expected_tags(w, p.pid, []))
    # This test (pid 1 here) and the DeepFlow server are `python3 X.py` processes too: rule 1 names them.
    for pid in (os.getpid(), w.server.proc.pid):
        m = RULE1.search(cmdline_of(pid))
        if m:
            exp[pid] = (m.group(1) + "-py-script", 1, {})
    return exp


def synced(suite):
    return {p["pid"]: p for p in suite.api_json("/v1/processes")["processes"]}


def our_deepflow_state(w):
    """What the DeepFlow server must hold: (processes as deepflow_server.py records them, GPIDSync entries
    sorted), from the API; one read of each document, so a changing suite is seen as a mismatch."""
    procs = w.suite.api_json("/v1/processes")["processes"]
    socks = w.suite.api_json("/v1/sockets")["sockets"]
    pids = {p["pid"] for p in procs}
    netns = os.stat("/proc/self/ns/net").st_ino & 0xffffffff
    dprocs = [{"name": p["name"], "pid": p["pid"], "process_name": p["process_name"], "cmdline": p["cmdline"],
               "user": p["user"], "start_time": p["start_time"], "netns_id": netns,
               "container_id": p["container_id"] or "", "biz_type": None,
               "os_app_tags": sorted([k, v] for k, v in p["tags"].items())} for p in procs]
    now_ms = time.time() * 1000
    entries = []
    for s in socks:
        owners = sorted(p for p in s["pids"] if p in pids)
        if not owners or s["state"] not in ("established", "connected") or s["local"].startswith("["):
            continue
        if s["first_seen"] > now_ms - MIN_LIFETIME * 1000:
            continue
        (la, lp), (ra, rp) = endpoint(s["local"]), endpoint(s["remote"])
        e = dict.fromkeys(["epc_id_1", "epc_id_0", "epc_id_real", "ipv4_real", "port_real", "pid_real",
                           "role_real", "pid_0", "pid_1"])
        e.update(protocol=1 if s["proto"] == "tcp" else 2, netns_idx=s["netns_id"])
        side = "1" if s["role"] == "server" and s["proto"] == "tcp" else "0"
        far = "0" if side == "1" else "1"
        e.update({f"pid_{side}": owners[0], f"ipv4_{side}": ipv4(la), f"port_{side}": lp,
                  f"ipv4_{far}": ipv4(ra), f"port_{far}": rp})
        entries.append(e)
    return sorted(dprocs, key=lambda p: p["pid"]), sorted(entries, key=lambda e: json.dumps(e, sort_keys=True))


def deepflow_equals_ours(w):
    """(equal, detail): the server's processes, version and last GPIDSync entries against ours."""
    agent = w.server.agent()
    doc = w.server.doc()
    if not agent or not doc or not doc["gpid"]["last"]:
        return False, f"server has no agent or GPIDSync yet: {doc}"
    ours = our_deepflow_state(w)
    version = w.suite.api_json("/v1/status")["exporter"]["version"]
    theirs = (agent["processes"],
              sorted(doc["gpid"]["last"]["entries"], key=lambda e: json.dumps(e, sort_keys=True)))
    ok = theirs == ours and agent["version"] == version
    return ok, f"\n  version ours {version} theirs {agent['version']}\n  ours   {ours}\n  theirs {theirs}"


def wait_equal(w, what, n_entries=None):
    """Waits until the DeepFlow server's state equals ours (with `n_entries(entries)` true, when given:
    GPIDSync has the sockets the caller waits for, old enough by then)."""
    last = [None]

    def cond():
        ok, last[0] = deepflow_equals_ours(w)
        doc = w.server.doc() if ok and n_entries else None
        return ok and (not n_entries or (doc and n_entries(doc["gpid"]["last"]["entries"])))
    try:
        wait_for(cond, what, timeout=TIMEOUT, interval=0.2)
        return True, ""
    except TimeoutError:
        return False, last[0]


def part1(w):
    suite = w.suite
    exp = expected_processes(w)
    def as_expected():
        return {pid: (e["name"], e["rule"], e["tags"]) for pid, e in synced(suite).items()} == exp
    try:
        wait_for(as_expected, "the expected processes synced, named and tagged", timeout=TIMEOUT, interval=0.2)
    except TimeoutError:
        pass
    got = synced(suite)
    check("synced: exactly the nginx workers and the python3 X.py processes",
          sorted(got) == sorted(exp), f"\n  got  {sorted((p, got[p]['name']) for p in got)}\n  want {exp}")
    for pid, (name, rule, tags) in sorted(exp.items()):
        e = got.get(pid, {})
        check(f"pid {pid}: name {name!r} by rule {rule}, tags {tags}",
              (e.get("name"), e.get("rule"), e.get("tags")) == (name, rule, tags), e)
    for pid in w.workers:
        e = got.get(pid, {})
        check(f"nginx worker {pid}: comm nginx, ppid the master, user nobody, its cmdline",
              (e.get("process_name"), e.get("ppid"), e.get("user"), e.get("cmdline")) ==
              ("nginx", w.nginx.pid, "nobody", "nginx: worker process"), e)
    e = got.get(w.billing.pid, {})
    check("billing client: comm python3, user root, cmdline as started",
          (e.get("process_name"), e.get("user"), e.get("cmdline")) ==
          ("python3", "root", f"python3 {w.scripts['billing']} {w.port}"), e)

    # Every other process is dropped, by the rule the semantics give.
    all_ = {p["pid"]: p for p in suite.api_json("/v1/processes?all=1")["processes"]}
    for pid, rule, what in ((w.bash.pid, 0, "bash"), (w.sleep, 0, "sleep"),
                            (w.nginx.pid, 3, "the nginx master (its parent is not nginx)"),
                            (w.pyc.pid, 3, "python3 -c (not python3 X.py)")):
        e = all_.get(pid, {})
        check(f"{what}: dropped by rule {rule}",
              (e.get("action"), e.get("rule"), e.get("reason"), e.get("synced")) == ("drop", rule, "rule", False),
              e)
    daemons = [p for p in all_.values() if p["process_name"].startswith("procsync-") or
               p["process_name"] == "procctl"]
    check("procctl and the four daemons: dropped by the final .*",
          len(daemons) == 5 and all(p["action"] == "drop" and p["rule"] == 3 for p in daemons),
          [(p["process_name"], p["action"], p["rule"]) for p in daemons])
    check("the dropped nginx master still carries its own tags",
          all_.get(w.nginx.pid, {}).get("tags") == {"app": "web", "tier": "frontend"}, all_.get(w.nginx.pid))
    one = suite.api(f"/v1/processes/{w.billing.pid}")
    e = one.json() if one.status == 200 else {}
    check("/v1/processes/{pid}: the billing client, complete entry, synced",
          one.status == 200 and e.get("name") == f"{w.tmp}/billing-py-script" and e.get("synced") is True and
          e.get("action") == "accept" and e.get("rule") == 1, (one.status, one.body[:300]))
    e = suite.api_json(f"/v1/processes/{w.workers[1]}")
    check("/v1/processes/{pid}: a worker, inherited tags only", e.get("tags") == {"app": "web", "tier": "frontend"},
          e)
    check("/v1/processes/{pid}: an unknown pid is 404", suite.api("/v1/processes/999999").status == 404)
    check("?tag=app:web: the two workers",
          sorted(p["pid"] for p in suite.api_json("/v1/processes?tag=app:web")["processes"]) == sorted(w.workers))

    # Sockets: wait until nginx accepted both clients (a worker owns each accepted socket).
    srv = f"127.0.0.1:{w.port}"

    def nginx_sockets():
        return [s for s in suite.api_json("/v1/sockets")["sockets"]
                if s["proto"] == "tcp" and (s["local"] == srv or s["remote"] == srv)]
    try:
        wait_for(lambda: len([s for s in nginx_sockets() if s["pids"]]) == 5, "nginx's five sockets with owners",
                 timeout=TIMEOUT, interval=0.2)
    except TimeoutError:
        pass
    socks = nginx_sockets()
    listen = [s for s in socks if s["state"] == "listen"]
    check("the listening socket: role server, shared by the master and both workers, all listed",
          len(listen) == 1 and listen[0]["role"] == "server" and listen[0]["remote"] is None and
          listen[0]["pids"] == sorted([w.nginx.pid, *w.workers]), listen)
    for c in (w.billing, w.inventory):
        cli = f"127.0.0.1:{c.local_port}"
        mine = [s for s in socks if s["local"] == cli]
        acc = [s for s in socks if s["local"] == srv and s["remote"] == cli]
        check(f"client {c.pid}: its connection, role client, owned by it alone",
              len(mine) == 1 and (mine[0]["state"], mine[0]["remote"], mine[0]["role"], mine[0]["pids"]) ==
              ("established", srv, "client", [c.pid]), mine)
        check(f"client {c.pid}: nginx's accepted socket, role server, owned by one worker",
              len(acc) == 1 and acc[0]["state"] == "established" and acc[0]["role"] == "server" and
              len(acc[0]["pids"]) == 1 and acc[0]["pids"][0] in w.workers, acc)
        lk = suite.api_json(f"/v1/lookup?proto=tcp&local={cli}&remote={srv}")
        sides = {m["side"]: [p["pid"] for p in m["processes"]] for m in lk["matches"]}
        check(f"lookup {cli} -> {srv}: the client locally, the nginx worker at the far end",
              acc and sides == {"local": [c.pid], "remote": acc[0]["pids"]}, lk)
        if c is w.billing:
            names = {m["side"]: [(p["name"], p["tags"]) for p in m["processes"]] for m in lk["matches"]}
            check("lookup: names and tags (inherited ones included) of both ends",
                  acc and names == {"local": [(f"{w.tmp}/billing-py-script", {"app": "billing", "team": "payments"})],
                                    "remote": [("nginx", expected_tags(w, acc[0]["pids"][0], [w.nginx.pid]))]},
                  names)
    check("/v1/sockets?pid=: the billing client's one socket",
          [s["local"] for s in suite.api_json(f"/v1/sockets?pid={w.billing.pid}")["sockets"]] ==
          [f"127.0.0.1:{w.billing.local_port}"])

    def nginx_flows(entries):
        return len([e for e in entries if w.port in (e["port_0"], e["port_1"])]) == 4
    ok, detail = wait_equal(w, "the DeepFlow server's state to equal ours", nginx_flows)
    check("DeepFlow server: processes, version and GPIDSync entries equal ours", ok, detail)
    doc = w.server.doc()
    names = {p["pid"]: p["name"] for p in (w.server.agent() or {}).get("processes", [])}
    check("DeepFlow server: the billing client and both workers under their names",
          names.get(w.billing.pid) == f"{w.tmp}/billing-py-script" and
          all(names.get(p) == "nginx" for p in w.workers), names)
    # The gpids the server gave are ours (shown in the API) for every process behind a synced socket.
    answer = doc["gpid"]["last"]["answer"] if doc and doc["gpid"]["last"] else []
    given = {}
    for req, ans in zip(doc["gpid"]["last"]["entries"] if doc and doc["gpid"]["last"] else [], answer):
        for side in ("0", "1"):
            if req[f"pid_{side}"]:
                given[req[f"pid_{side}"]] = ans[f"pid_{side}"]

    def gpids_shown():
        procs = synced(suite)
        return given and all(procs.get(pid, {}).get("gpid") == g for pid, g in given.items())
    try:
        wait_for(gpids_shown, "the gpids in the API", timeout=TIMEOUT, interval=0.2)
    except TimeoutError:
        pass
    check("the server-assigned gpids show in /v1/processes", gpids_shown(),
          (given, {p: e["gpid"] for p, e in synced(suite).items()}))


def part_young(w):
    """A client started now: absent (API, DeepFlow processes and GPIDSync) while younger than min-lifetime,
    present after. Observations are timed from before its start, so 'age < min-lifetime' is certain."""
    suite = w.suite
    t0 = time.monotonic()
    w.reports = w.client(w.scripts["late/reports"])
    # And a new connection of an old process: the socket alone is young.
    w.billing.stdin.write("more\n")
    w.billing.stdin.flush()
    billing_port = int(w.billing.stdout.readline())
    w.set_tags({**w.tags, w.reports.pid: {"app": "reports"}})
    name = f"{w.tmp}/late/reports-py-script"
    cli = f"127.0.0.1:{w.reports.local_port}"
    early = {"api": 0, "deepflow": 0, "gpid": 0, "gpid-old-process": 0}
    late_violations = []
    seen_young = False
    first = {}
    deadline = time.monotonic() + TIMEOUT
    while len(first) < len(early) and time.monotonic() < deadline:
        in_api = w.reports.pid in synced(suite)
        r = suite.api(f"/v1/processes/{w.reports.pid}") if not in_api else None
        if r and r.status == 200 and r.json().get("reason") == "too-young":
            seen_young = True
        agent = w.server.agent() or {}
        in_df = any(p["pid"] == w.reports.pid for p in agent.get("processes", []))
        last = (w.server.doc() or {}).get("gpid", {}).get("last") or {}
        in_gpid = any(x["pid_0"] == w.reports.pid and x["port_0"] == w.reports.local_port
                      for x in last.get("entries", []))
        in_gpid_old = any(x["pid_0"] == w.billing.pid and x["port_0"] == billing_port
                          for x in last.get("entries", []))
        age_bound = time.monotonic() - t0  # the process and its sockets are at most this old
        for k, present in (("api", in_api), ("deepflow", in_df), ("gpid", in_gpid),
                           ("gpid-old-process", in_gpid_old)):
            if present:
                first.setdefault(k, age_bound)
                if age_bound < MIN_LIFETIME - 0.1:
                    late_violations.append((k, age_bound))
            elif k not in first:
                early[k] += 1
        time.sleep(0.1)
    if first and min(first.values()) < MIN_LIFETIME - 0.1 or all(early.values()):
        check("young client and a new socket of the billing client: absent from /v1/processes, the DeepFlow "
          "processes and GPIDSync at first",
              all(early.values()), early)
    else:
        print("# the first look came after min-lifetime (a loaded machine): absence while young not observed")
    check("young client and socket: never present while younger than min-lifetime", not late_violations,
          late_violations)
    check("young client: present everywhere after min-lifetime", len(first) == len(early), first)
    print(f"# young client seen as too-young: {seen_young}; first present at (upper bound of age) {first}")
    e = synced(suite).get(w.reports.pid, {})
    check("young client: its name and tags", (e.get("name"), e.get("tags")) == (name, {"app": "reports"}), e)
    socks = suite.api_json(f"/v1/sockets?pid={w.reports.pid}")["sockets"]
    check("young client: its socket, role client", [(s["local"], s["role"]) for s in socks] == [(cli, "client")],
          socks)
    ok, detail = wait_equal(w, "the DeepFlow server to have the young client")
    check("DeepFlow server equals ours with the young client", ok, detail)


def part_server_down(w):
    """The DeepFlow server down for a while, a change meanwhile, then back on the same port."""
    suite = w.suite
    port = w.server.port
    w.server.stop(signal.SIGKILL)
    os.unlink(w.server.state)
    v0 = suite.api_json("/v1/status")["exporter"]["version"]
    # The change: the inventory client goes away (a process and two sockets fewer).
    w.inventory.stdin.close()
    w.inventory.wait(10)

    def sink():
        return suite.api_json("/v1/status")["exporter"]["sinks"][0]
    try:
        wait_for(lambda: suite.api_json("/v1/status")["exporter"]["version"] != v0 and sink()["last_error"]
                 and w.inventory.pid not in synced(suite), "a new version and the sink's error", timeout=TIMEOUT,
                 interval=0.2)
    except TimeoutError:
        pass
    st = suite.api_json("/v1/status")["exporter"]
    s = st["sinks"][0]
    print(f"# sink while the server is down: {s}")
    check("server down: a new version, not acknowledged, the sink's error and failures in /v1/status",
          st["version"] != v0 and s["in_sync"] is False and s["acked_version"] != st["version"] and
          s["last_error"] and s["failures"] >= 1 and s["errors_total"] >= 1, st)
    health = suite.api_json("/v1/status")["health"]
    check("server down: a warning names the sink", any("df" in x for x in health["warnings"]), health)
    # A couple of cycles of the suite while the server stays down.
    for _ in range(2):
        at = suite.api_json("/v1/status")["scanner"]["last_cycle_at"]
        wait_for(lambda: suite.api_json("/v1/status")["scanner"]["last_cycle_at"] > at, "a scanner cycle",
                 timeout=TIMEOUT, interval=0.2)
    w.server = DeepflowServer(w.tmp, port)
    ok, detail = wait_equal(w, "the restarted server to hold our state")
    check("server back on the same port: its state equals ours (the exporter resent)", ok, detail)
    names = [p["pid"] for p in (w.server.agent() or {}).get("processes", [])]
    check("server back: the stopped client is not there", w.inventory.pid not in names, names)
    try:
        wait_for(lambda: sink()["in_sync"] and sink()["last_error"] is None, "the sink in sync",
                 timeout=TIMEOUT, interval=0.2)
    except TimeoutError:
        pass
    s, v = sink(), suite.api_json("/v1/status")["exporter"]["version"]
    check("server back: the sink is in sync, its error cleared, the version acknowledged",
          s["in_sync"] and s["last_error"] is None and s["acked_version"] == v, s)


def main():
    in_namespaces()
    if not os.path.exists("/usr/sbin/nginx"):
        print("1..0 # SKIP nginx is not installed (.ci/deps.sh installs it)")
        raise SystemExit(77)
    w = World()
    t_start = time.monotonic()
    try:
        w.state = os.path.join(w.tmp, "state")
        w.server = DeepflowServer(w.tmp)
        start_workloads(w)
        config = os.path.join(w.tmp, "procsync.yaml")
        with open(config, "w") as f:
            f.write(config_text(w, w.server.port))
        w.suite = Suite(PROCCTL, config, w.state)
        try:
            w.suite.wait_ready(TIMEOUT)
            part1(w)
            part_young(w)
            part_server_down(w)
        finally:
            rc = w.suite.stop()
            out = w.suite.output()
            check("procctl run stops with status 0", rc == 0, out[-3000:])
            bad = [line for line in out.splitlines()
                   if re.search(r"AddressSanitizer|runtime error|LeakSanitizer|was killed|exited with status", line)]
            check("no daemon died or reported a sanitizer error", not bad, bad)
            if api_harness.failures or os.environ.get("E2E_VERBOSE"):
                print("# procctl run output:\n" + "\n".join("#   " + line for line in out.splitlines()))
    finally:
        w.cleanup()
    print(f"# took {time.monotonic() - t_start:.1f} s")
    finish()


if __name__ == "__main__":
    main()
