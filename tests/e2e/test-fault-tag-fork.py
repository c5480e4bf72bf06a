#!/usr/bin/env python3
"""Fault test (README "Reliability"): a tag command that forks daemons and exits, under `procctl run`,
inside private PID, network and mount namespaces.

The tag command (a shell script run as `nobody`) tags one process and, every time it runs, leaves behind:
  sleep 1001   a plain background child (in the command's process group);
  sleep 1002   a double fork `( sleep & ) &` (orphaned at once, still in the group);
  sleep 1003   `setsid sleep`: a new session, so out of the group (the script waits until it has left);
  sleep 1004   forked by a `setsid sh` that stays (sleep 1005): an escaped daemon with a child of its own.
All have their stdio on /dev/null, so the command's stdout reaches EOF when the script exits. The matcher
kills the command's process group when it exits (the first two) and, being a child subreaper, kills and
reaps whatever else it left behind (the last three, which come back to it as orphans). Checked, after at
least three runs of the tag command: the tag is applied (the command succeeded), and no process of the
namespace runs any of these `sleep`s (a zombie not yet reaped by this script, PID 1 of the namespace,
counts as dead); the matcher logs what it killed; `procctl run` stops with status 0.

Usage: test-fault-tag-fork.py PROCCTL BUILD_ROOT SOURCE_ROOT"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from suite_harness import Suite, conclude, in_namespaces  # noqa: E402
from api_harness import check, wait_for  # noqa: E402

in_namespaces()
PROCCTL = sys.argv[1]
LEFT_BEHIND = ["sleep 1001", "sleep 1002", "sleep 1003", "sleep 1004", "sleep 1005"]


def living(cmdlines):
    """{pid: cmdline} of the processes of this namespace running one of `cmdlines` (zombies excluded)."""
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if cmd in cmdlines and st[st.rindex(")") + 2] != "Z":
            found[int(d)] = cmd
    return found


def main():
    tmp = tempfile.mkdtemp(prefix="procsync-fault-tag-fork-")
    os.chmod(tmp, 0o755)
    marks = os.path.join(tmp, "marks")
    os.mkdir(marks)
    os.chmod(marks, 0o1777)  # the command runs as nobody
    target = subprocess.Popen(["sleep", "1000"])
    script = os.path.join(tmp, "tags.sh")
    quiet = os.path.join(tmp, "quiet")  # once it exists, the command only prints the tags
    with open(script, "w") as f:
        f.write(f"""#!/bin/sh
if [ ! -e {quiet} ]; then
sleep 1001 </dev/null >/dev/null 2>&1 &
( sleep 1002 </dev/null >/dev/null 2>&1 & ) &
setsid sh -c 'touch {marks}/a.$$; exec sleep 1003' </dev/null >/dev/null 2>&1 &
setsid sh -c 'sleep 1004 & touch {marks}/b.$$; exec sleep 1005' </dev/null >/dev/null 2>&1 &
# Exit only once both have left the process group, so that they really escape the group kill.
while [ "$(ls {marks} | wc -l)" -lt 2 ]; do sleep 0.01; done
rm -f {marks}/*
fi
echo '[{{"pid": {target.pid}, "tags": [{{"key": "role", "value": "worker"}}]}}]'
""")
    os.chmod(script, 0o755)
    config = os.path.join(tmp, "procsync.yaml")
    with open(config, "w") as f:
        f.write(f"""os-proc-sync-enabled: true
os-proc-socket-min-lifetime: 0
os-app-tag-exec: ['{script}']
os-app-tag-exec-user: nobody
procsync:
  process_scan_interval: 500ms
  tag_exec:
    timeout: 20s
""")

    suite = Suite(PROCCTL, config, os.path.join(tmp, "state"))
    try:
        suite.wait_ready()

        def tagged():
            doc = suite.api_json(f"/v1/processes/{target.pid}")
            return doc["tags"] == {"role": "worker"}

        try:
            ok = wait_for(tagged, "the target tagged", timeout=30, interval=0.1)
        except TimeoutError:
            print("# " + "\n# ".join(suite.output().splitlines()[-60:]))
            raise
        check("the tag command succeeded (the target is tagged)", bool(ok))

        def runs():
            return suite.api_json("/v1/status")["matcher"]["tag_exec"]

        first = runs()
        print(f"# tag_exec: {first}", flush=True)
        # Three more runs, each leaving its processes behind.
        last = first["last_run"]
        for i in range(3):
            last = wait_for(lambda: (lambda t: t["last_run"] if t["last_run"] != last else None)(runs()),
                            "another run of the tag command", timeout=30, interval=0.05)
        # Stop the forking, then wait for one more run: the one that may have been under way has ended.
        open(quiet, "w").close()
        wait_for(lambda: runs()["last_run"] != last, "a run after the quiet file", timeout=30, interval=0.05)
        t = runs()
        check("the tag command keeps succeeding", t["ok"] is True and t["failures"] == 0, str(t))
        left = living(LEFT_BEHIND)
        check("no process the tag command left behind is alive, in or out of its process group", not left,
              str(left))
        out = suite.output()
        # At least the three that left the group (sleep 1003, 1004, 1005) each run; a group member that
        # was not dead yet when the matcher looked may be counted too.
        killed = re.findall(r"procsync-matcher\[\d+\]: warning: Killed (\d+) process(?:es)? the tag command left "
                            r"behind", out)
        check("the matcher says it killed what was left behind (at least 3 a run)",
              len(killed) >= 4 and all(int(k) >= 3 for k in killed), str(killed))
    finally:
        rc = suite.stop()
        target.kill()
        target.wait()
    check("procctl run stopped with status 0", rc == 0, str(rc))
    out = suite.output()
    left = living(LEFT_BEHIND)
    check("nothing left after the stop either", not left, str(left))
    conclude(out, tmp, tail=100)


main()
