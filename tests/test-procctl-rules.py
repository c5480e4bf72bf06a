#!/usr/bin/env python3
"""Integration test of `procctl rules list` and `procctl rules test` with the built procctl and the rules of
section 4 of the feature description (tests/fixtures/feature-section4.yaml), on described processes and on
live ones started here: a `sleep`, a `python3 .../foo.py`, and an "nginx" (a copy of sh) with a "worker"
(a copy of sleep) under it. Expected answers are written from DESIGN.md "Rules".

Usage: test-procctl-rules.py PROCCTL SECTION4_YAML
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PROCCTL, SECTION4 = sys.argv[1], sys.argv[2]
failures = 0
checks = 0


def check(what, cond, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print(f"ok - {what}")
    else:
        failures += 1
        print(f"not ok - {what} {detail}")


def procctl(*args, config=SECTION4):
    return subprocess.run([PROCCTL, "-c", config, *args], capture_output=True, text=True, timeout=30)


def decide(*args, config=SECTION4):
    p = procctl("rules", "test", "--json", *args, config=config)
    if p.returncode != 0:
        return {"exit": p.returncode, "stderr": p.stderr}
    d = json.loads(p.stdout)
    return {"rule": d["rule"], "action": d["action"], "name": d["name"]}


def expect(what, got, rule, action, name):
    check(what, got == {"rule": rule, "action": action, "name": name}, f"got {got}")


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise TimeoutError(what)


def comm_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


def child_of(ppid, comm):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and comm_of(int(d)) == comm:
            return int(d)
    return None


# rules list
p = procctl("rules", "list", "--json")
check("rules list --json exits 0", p.returncode == 0, p.stderr)
doc = json.loads(p.stdout)
check("four rules in file order", [r["index"] for r in doc["rules"]] == [0, 1, 2, 3])
check("rule 1 as configured", doc["rules"][1] == {"index": 1, "match-regex": "python3 (.*)\\.py",
                                                  "match-type": "cmdline", "action": "accept",
                                                  "rewrite-name": "$1-py-script", "line": doc["rules"][1]["line"]})
check("implied final accept has index 4", doc["implied"] == {"index": 4, "match-regex": ".*", "action": "accept"})
p = procctl("rules", "list")
check("rules list (table) shows the implied accept", p.returncode == 0 and "(implied)" in p.stdout, p.stdout)

# described processes
expect("sleep dropped by rule 0", decide("--name", "sleep", "--cmdline", "sleep 100"), 0, "drop", "sleep")
expect("bash dropped by rule 0", decide("--name", "bash", "--parent", "sshd"), 0, "drop", "bash")
expect("python3 script accepted by rule 1",
       decide("--name", "python3", "--cmdline", "python3 /srv/app/foo.py", "--parent", "bash"),
       1, "accept", "/srv/app/foo-py-script")
expect("nginx worker accepted through its parent, named by its own comm",
       decide("--name", "nginx", "--cmdline", "nginx: worker process", "--parent", "nginx", "--parent", "systemd"),
       2, "accept", "nginx")
expect("grandparent counts", decide("--name", "perl", "--cmdline", "perl x.pl", "--parent", "sh",
                                    "--parent", "nginx"), 2, "accept", "perl")
expect("nginx master dropped by rule 3",
       decide("--name", "nginx", "--cmdline", "nginx: master process", "--parent", "systemd"), 3, "drop", "nginx")
expect("--cmdline '' is a kernel thread", decide("--name", "kworker/0:1", "--cmdline", ""), None, "drop",
       "kworker/0:1")

p = procctl("rules", "test", "--name", "python3", "--cmdline", "python3 foo.py")
check("human output names rule, action and name",
      p.returncode == 0 and "Rule:     1 " in p.stdout and "Action:   accept" in p.stdout
      and "Name:     foo-py-script" in p.stdout, p.stdout + p.stderr)

# tags, from --tag
with tempfile.TemporaryDirectory() as tmp:
    cfg = os.path.join(tmp, "tags.yaml")
    with open(cfg, "w") as f:
        f.write("os-proc-regex:\n"
                "  - match-regex: 'app:(?<app>.+)'\n"
                "    match-type: tag\n"
                "    rewrite-name: 'svc-${app}'\n"
                "  - match-regex: .*\n"
                "    action: drop\n")
    expect("tag rule with rewrite", decide("--name", "java", "--tag", "team=web", "--tag", "app=shop", config=cfg),
           0, "accept", "svc-shop")
    expect("no tag: next rule", decide("--name", "java", config=cfg), 1, "drop", "java")

# usage errors
for what, args, code in [
        ("no process", [], 2),
        ("--pid with --name", ["--pid", "1", "--name", "x"], 2),
        ("bad --pid", ["--pid", "12x"], 2),
        ("bad --tag", ["--tag", "novalue"], 2),
        ("unknown option", ["--nope"], 2),
        ("pid that does not exist", ["--pid", "2147483647"], 1)]:
    p = procctl("rules", "test", *args)
    check(f"{what}: exit {code} with a message", p.returncode == code and p.stderr.strip() != "",
          f"exit {p.returncode}, stderr {p.stderr!r}")

# live processes
children = []  # each in its own session and process group, killed as a group
tmp = tempfile.mkdtemp()
try:
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    children.append(sleeper)
    wait_for(lambda: comm_of(sleeper.pid) == "sleep", "sleep exec")
    expect("--pid: sleep", decide("--pid", str(sleeper.pid)), 0, "drop", "sleep")

    script = os.path.join(tmp, "foo.py")
    with open(script, "w") as f:
        f.write("import time\ntime.sleep(60)\n")
    py = subprocess.Popen(["python3", script], start_new_session=True)
    children.append(py)
    wait_for(lambda: comm_of(py.pid) == "python3", "python3 exec")
    expect("--pid: python3 script", decide("--pid", str(py.pid)), 1, "accept",
           os.path.join(tmp, "foo") + "-py-script")

    nginx, worker_bin = os.path.join(tmp, "nginx"), os.path.join(tmp, "worker")
    shutil.copy("/bin/sh", nginx)
    shutil.copy(shutil.which("sleep"), worker_bin)
    master = subprocess.Popen([nginx, "-c", f"{worker_bin} 60; :"], start_new_session=True)
    children.append(master)
    worker = wait_for(lambda: child_of(master.pid, "worker"), "worker under nginx")
    expect("--pid: worker accepted through its nginx parent", decide("--pid", str(worker)), 2, "accept", "worker")
    expect("--pid: the nginx master itself is dropped", decide("--pid", str(master.pid)), 3, "drop", "nginx")

    if comm_of(2) == "kthreadd":
        expect("--pid 2: kernel thread", decide("--pid", "2"), None, "drop", "kthreadd")
    else:
        print("# skip kernel thread check: no kthreadd at pid 2 (pid namespace)")
finally:
    for c in children:
        try:
            os.killpg(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        c.wait()
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{checks - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
