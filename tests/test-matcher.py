#!/usr/bin/env python3
"""Integration test of procsync-matcher: the real binary against a temporary state directory whose
scan_processes the test fills by hand (standing in for the scanner), with a real tag command (a /bin/sh
script reading a file the test writes) run as an unprivileged user ('nobody' when root, else ourselves).

Checks, from DESIGN.md "Rules", "Tags" and "Lifetime and identity":
  - decisions with own and inherited tags under tagged-only, a tag rule seeing them, kernel threads;
  - the generation is bumped only when a decision changed;
  - a failing tag command (non-zero exit, a mapping, garbage) keeps the last good tags and says why in
    match_tag_exec; a malformed entry is skipped and counted;
  - the daemon wakes on a new scan generation (no polling: idle, it writes nothing), a too-young process
    becomes synced when it is old enough without any new scan, SIGHUP reloads, SIGTERM exits 0, READY=1.

Usage: test-matcher.py PROCSYNC_MATCHER
"""
import json
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

MATCHER = sys.argv[1]
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


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise TimeoutError(what)


tmp = tempfile.mkdtemp(prefix="test-matcher-")
os.chmod(tmp, 0o755)
state = os.path.join(tmp, "state")
tagfile = os.path.join(tmp, "tags.yaml")
failmark = os.path.join(tmp, "fail")
script = os.path.join(tmp, "tagcmd.sh")
config = os.path.join(tmp, "procsync.yaml")
user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name

with open(script, "w") as f:
    f.write(f"""#!/bin/sh
if [ -e {failmark} ]; then echo "tagger broke" >&2; exit 3; fi
cat {tagfile}
""")
os.chmod(script, 0o755)


def write_tags(text):
    with open(tagfile, "w") as f:
        f.write(text)
    os.chmod(tagfile, 0o644)


def write_config(tagged_only=True):
    with open(config, "w") as f:
        f.write(f"""os-proc-sync-enabled: true
os-proc-sync-tagged-only: {'true' if tagged_only else 'false'}
os-proc-socket-min-lifetime: 3s
os-app-tag-exec: ['{script}']
os-app-tag-exec-user: {user}
os-proc-regex:
  - {{match-regex: '^bash$', action: drop}}
  - {{match-regex: '^app:(.+)$', match-type: tag, rewrite-name: 'svc-$1'}}
procsync:
  state_dir: {state}
  process_scan_interval: 1h
  tag_exec: {{timeout: 5s}}
""")


def run_once():
    p = subprocess.run([MATCHER, "-c", config, "--once"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print(p.stderr)
    return p


def db():
    c = sqlite3.connect(os.path.join(state, "state.db"), timeout=10)
    c.row_factory = sqlite3.Row
    return c


OLD = int(time.time()) - 100
PROCS = [
    # pid, ppid, comm, cmdline
    (1, 0, "systemd", "/sbin/init"),
    (2, 0, "kthreadd", ""),
    (100, 1, "supervisor", "supervisord -n"),
    (200, 100, "python3", "python3 /srv/shop.py"),
    (300, 200, "worker", "worker --id 1"),
    (400, 1, "bash", "-bash"),
    (500, 1, "lonely", "lonely --daemon"),
]
scan_generation = 0


def set_scan(procs, start_times=None):
    """Replaces scan_processes and bumps the scanner's generation, in one transaction as the scanner does."""
    global scan_generation
    scan_generation += 1
    now_ms = int(time.time() * 1000)
    with db() as c:
        c.execute("INSERT OR IGNORE INTO scan_daemon (id, pid, pid_start_ticks, started_at) VALUES (1, 1, 0, ?)",
                  (now_ms,))
        c.execute("DELETE FROM scan_processes")
        for pid, ppid, comm, cmdline in procs:
            st = (start_times or {}).get(pid, OLD)
            c.execute("INSERT INTO scan_processes (pid, start_ticks, start_time, ppid, comm, cmdline, uid, user, "
                      "first_seen, last_seen, changed_generation) VALUES (?, ?, ?, ?, ?, ?, 0, 'root', ?, ?, ?)",
                      (pid, 1000 + pid, st, ppid, comm, cmdline, now_ms, now_ms, scan_generation))
        c.execute("UPDATE scan_daemon SET generation = ?, last_cycle_at = ? WHERE id = 1", (scan_generation, now_ms))
    # What every daemon's connection does after a commit (common/daemon.h): wakes the matcher.
    with open(os.path.join(state, "state.db-commit"), "a"):
        os.utime(os.path.join(state, "state.db-commit"))


def decisions():
    with db() as c:
        return {r["pid"]: dict(r) for r in c.execute("SELECT * FROM match_decisions")}


def short(d):
    return (d["action"], d["rule"], d["reason"], d["synced"], d["name"], json.loads(d["tags"]))


def match_daemon():
    with db() as c:
        return dict(c.execute("SELECT * FROM match_daemon").fetchone())


def tag_exec():
    with db() as c:
        return dict(c.execute("SELECT * FROM match_tag_exec").fetchone())


def tag_output():
    with db() as c:
        return sorted(tuple(r) for r in c.execute("SELECT pid, key, value FROM match_tag_output"))


def unprivileged_run():
    """As root: the matcher as user 'daemon' with only CAP_SETUID, CAP_SETGID and CAP_KILL (what main.c and the
    README say it needs) runs the tag command as 'nobody'; without CAP_SETUID it says why it cannot."""
    global state
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        print("# skipped: the unprivileged run needs root and setpriv")
        return
    state = os.path.join(tmp, "state-unprivileged")
    os.mkdir(state)
    os.chown(state, 1, 1)
    write_config()
    os.chmod(config, 0o644)

    def as_daemon(caps):
        return subprocess.run(["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups",
                               f"--inh-caps=-all,{caps}", f"--ambient-caps=-all,{caps}",
                               MATCHER, "-c", config, "--state-dir", state, "--once"],
                              capture_output=True, text=True, timeout=60)

    p = as_daemon("+setuid,+setgid,+kill")
    check("unprivileged: first --once", p.returncode == 0, p.stderr)
    set_scan(PROCS)
    p = as_daemon("+setuid,+setgid,+kill")
    te = tag_exec()
    check("unprivileged with CAP_SETUID/SETGID/KILL: tag command ok", p.returncode == 0 and te["ok"] == 1, te)
    check("unprivileged: no capability warning", "missing" not in p.stderr, p.stderr)
    check("unprivileged: tags applied", json.loads(decisions()[300]["tags"]) ==
          {"team": "pay", "env": "staging", "app": "billing"})
    p = as_daemon("+setgid,+kill")
    te = tag_exec()
    check("unprivileged without CAP_SETUID: refused with the reason",
          te["ok"] == 0 and te["error"] == "setresuid failed: Operation not permitted", te)
    check("unprivileged without CAP_SETUID: warned at start", "CAP_SETUID is missing" in p.stderr, p.stderr)
    check("unprivileged without CAP_SETUID: last good tags kept", json.loads(decisions()[300]["tags"]) ==
          {"team": "pay", "env": "staging", "app": "billing"})


GOOD_TAGS = """# the tagger's answer
- pid: 100
  tags: [{key: team, value: pay}, {key: env, value: prod}]
- {pid: 200, tags: [{key: env, value: staging}]}
- {pid: 300, tags: [{key: app, value: billing}]}
"""

try:
    write_config()
    write_tags(GOOD_TAGS)

    # The first start creates and migrates the database; nothing is scanned yet.
    p = run_once()
    check("first --once on an empty state succeeds", p.returncode == 0, p.stderr)
    check("no decisions without a scan", decisions() == {})
    gen0 = match_daemon()["generation"]

    set_scan(PROCS)
    p = run_once()
    check("--once with a scan succeeds", p.returncode == 0, p.stderr)
    d = decisions()
    team_env = {"team": "pay", "env": "prod"}
    expected = {
        1: ("accept", 2, "untagged", 0, "systemd", {}),
        2: ("drop", -1, "kernel-thread", 0, "kthreadd", {}),
        100: ("accept", 2, "default", 1, "supervisor", team_env),
        200: ("accept", 2, "default", 1, "python3", {"team": "pay", "env": "staging"}),
        300: ("accept", 1, "rule", 1, "svc-billing", {"team": "pay", "env": "staging", "app": "billing"}),
        400: ("drop", 0, "rule", 0, "bash", {}),
        500: ("accept", 2, "untagged", 0, "lonely", {}),
    }
    for pid, want in expected.items():
        got = short(d[pid]) if pid in d else None
        check(f"decision of pid {pid}", got == want, f"got {got}, expected {want}")
    check("tags JSON has sorted keys", d[300]["tags"] == '{"app":"billing","env":"staging","team":"pay"}',
          d[300]["tags"])
    md = match_daemon()
    check("generation bumped once on the first decisions", md["generation"] == gen0 + 1, md)
    check("scan_generation recorded", md["scan_generation"] == scan_generation, md)
    stats = json.loads(md["stats"])
    check("stats figures", (stats["processes"], stats["synced"], stats["untagged"], stats["kernel_threads"])
          == (7, 3, 2, 1), stats)
    te = tag_exec()
    check("tag_exec ok", te["ok"] == 1 and te["error"] is None and te["entries"] == 3 and te["failures"] == 0
          and te["last_ok"] == te["last_run"], te)
    check("tag output stored", tag_output() == [(100, "env", "prod"), (100, "team", "pay"),
                                                (200, "env", "staging"), (300, "app", "billing")], tag_output())
    with db() as c:
        rs = [tuple(r) for r in c.execute("SELECT rule, hits, limit_hits FROM match_rule_stats ORDER BY rule")]
    check("rule stats of the pass (2 rules + the implied accept)", rs == [(0, 1, 0), (1, 1, 0), (2, 4, 0)], rs)

    # Nothing changed: no new generation, decided_at untouched.
    before = decisions()
    p = run_once()
    check("unchanged --once succeeds", p.returncode == 0, p.stderr)
    check("unchanged: same generation", match_daemon()["generation"] == gen0 + 1)
    check("unchanged: rows untouched", decisions() == before)

    # A failing command keeps the last good tags and says why.
    good_ok = tag_exec()["last_ok"]
    open(failmark, "w").close()
    p = run_once()
    os.unlink(failmark)
    te = tag_exec()
    check("failing command: cycle still succeeds", p.returncode == 0, p.stderr)
    check("failing command: reason", te["ok"] == 0 and te["error"] == "exited with status 3", te)
    check("failing command: stderr excerpt", te["stderr_excerpt"] == "tagger broke\n", te)
    check("failing command: counted, last_ok kept", te["failures"] == 1 and te["last_ok"] == good_ok, te)
    check("failing command: last good tags kept", decisions() == before and len(tag_output()) == 4)
    check("failing command: generation unchanged", match_daemon()["generation"] == gen0 + 1)
    check("failing command: stderr logged", "tagger broke" in p.stderr, p.stderr)

    for text, reason in [
        ("app: shop\n", "output is not a list of {pid, tags} entries: line 1, column 1: expected a sequence of "
                        "{pid, tags} entries, found a mapping"),
        ("}{ garbage\n", "output is not a list of {pid, tags} entries: line 1, column 1: did not find expected "
                         "node content while parsing a block node"),
    ]:
        write_tags(text)
        p = run_once()
        te = tag_exec()
        check(f"bad output {text.strip()!r}: reason", te["ok"] == 0 and te["error"] == reason, te["error"])
        check(f"bad output {text.strip()!r}: last good tags kept", decisions() == before and len(tag_output()) == 4)

    # A malformed entry (quoted pid) is skipped and counted; the rest applies.
    write_tags(GOOD_TAGS + '- {pid: "500", tags: [{key: team, value: x}]}\n')
    p = run_once()
    te = tag_exec()
    check("quoted pid: run ok, entry skipped", te["ok"] == 1 and te["skipped"] == 1 and te["entries"] == 3, te)
    check("quoted pid: reason", (te["error"] or "").startswith("skipped 1 malformed entry, the first at line 6, "
                                                               "column 9: pid is a quoted string"), te["error"])
    check("quoted pid: pid 500 still untagged", decisions()[500]["reason"] == "untagged")

    # New tags: 100 loses its team; the generation moves.
    write_tags(GOOD_TAGS.replace("{key: team, value: pay}, ", ""))
    p = run_once()
    d = decisions()
    check("changed tags: inherited change", json.loads(d[300]["tags"]) == {"env": "staging", "app": "billing"},
          d[300]["tags"])
    check("changed tags: generation bumped", match_daemon()["generation"] == gen0 + 2)
    write_tags(GOOD_TAGS)

    # The daemon: READY=1, wakes on a new scan, makes a young process eligible without a new scan.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = os.path.join(tmp, "notify.sock")
    notify.bind(notify_path)
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    started_ms = int(time.time() * 1000)
    daemon = subprocess.Popen([MATCHER, "-c", config], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready = False
        deadline = time.monotonic() + 30
        while not ready and time.monotonic() < deadline:
            ready = b"READY=1" in notify.recv(4096)
        check("READY=1", ready)
        wait_for(lambda: match_daemon()["pid"] == daemon.pid and (match_daemon()["last_cycle_at"] or 0) >= started_ms,
                 "first cycle")

        # Idle: nothing due (process_scan_interval is 1h), so no cycle runs: no busy loop.
        idle = match_daemon()["last_cycle_at"]
        time.sleep(1.5)
        check("idle: no cycle without a reason", match_daemon()["last_cycle_at"] == idle)

        young_start = int(time.time()) - 1
        gen_before = match_daemon()["generation"]
        t0 = time.monotonic()
        set_scan(PROCS + [(600, 100, "young", "young --serve")], {600: young_start})
        row = wait_for(lambda: decisions().get(600), "the new process decided", timeout=5)
        check("woken by the new scan generation", time.monotonic() - t0 < 3, time.monotonic() - t0)
        check("young process: too-young", short(row)[:4] == ("accept", 2, "too-young", 0), short(row))
        check("young process: inherits tags while young", json.loads(row["tags"]) == team_env, row["tags"])
        gen_scan = scan_generation
        row = wait_for(lambda: decisions()[600]["synced"] == 1 and decisions()[600], "young process synced",
                       timeout=8)
        check("young process synced without a new scan", scan_generation == gen_scan and
              match_daemon()["scan_generation"] == gen_scan)
        check("young process: synced only once old enough", row["decided_at"] >= (young_start + 3) * 1000,
              (row["decided_at"], young_start))
        check("young process: reason now from the rules", short(row)[:4] == ("accept", 2, "default", 1), short(row))
        check("generation bumped for each change", match_daemon()["generation"] == gen_before + 2,
              (match_daemon()["generation"], gen_before))

        # SIGHUP: tagged-only off, so the untagged become synced.
        write_config(tagged_only=False)
        daemon.send_signal(signal.SIGHUP)
        row = wait_for(lambda: decisions()[500]["synced"] == 1 and decisions()[500], "reload applied")
        check("reload: untagged process now synced", short(row)[:4] == ("accept", 2, "default", 1), short(row))

        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=10)
        check("SIGTERM: exit 0", rc == 0, rc)

        unprivileged_run()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        err = daemon.stderr.read()
        if failures:
            print(err)
        notify.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{checks - failures}/{checks} checks passed")
sys.exit(1 if failures else 0)
