#!/usr/bin/env python3
"""Fault test (README "Reliability"): a reload to an invalid config, under `procctl run`, inside private
PID, network and mount namespaces.

The suite runs with a rule naming `sleep` processes "napper". The file is then rewritten with an invalid
regex on a known line, and reloaded twice: SIGHUP to `procctl run` (forwarded to every daemon), then
`procctl reload`. Checked:
  - the launcher prints, for each of the four daemons, "reloaded: Configuration error, keeping the
    previous one: FILE:LINE:COL: message" with the line of the bad regex;
  - the daemons keep the old config: a `sleep` started after the failed reload is still named "napper";
  - /v1/status: config.ok false, config.error and each daemon's config_error give FILE:LINE:COL, the same
    text as `procctl config check`; the error is a health warning;
  - `procctl status` prints it and exits 1 (README: 1 when anything is listed under warnings);
  - `procctl reload` exits 1 and says "kept the old config: FILE:LINE:COL" for each daemon;
  - the file is fixed (the rule now names them "dozer") and reloaded: every daemon says "configuration
    reloaded", /v1/status has config.ok true and no error, both sleeps are now "dozer", `procctl status`
    exits 0 and `procctl reload` exits 0;
  - `procctl run` stops with status 0.

Usage: test-fault-reload.py PROCCTL BUILD_ROOT SOURCE_ROOT"""
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from suite_harness import Suite, conclude, in_namespaces  # noqa: E402
from api_harness import check, wait_for  # noqa: E402

in_namespaces()
PROCCTL = sys.argv[1]
WRITERS = ["procsync-scanner", "procsync-matcher", "procsync-exporter"]

CONFIG = """os-proc-sync-enabled: true
os-proc-socket-min-lifetime: 0
procsync:
  process_scan_interval: 300ms
os-proc-regex:
  - match-regex: {regex}
    action: accept
    rewrite-name: {name}
"""
BAD_LINE = 6  # the match-regex line


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def names(suite, pids):
    doc = suite.api_json("/v1/processes")
    have = {p["pid"]: p["name"] for p in doc["processes"]}
    return [have.get(pid) for pid in pids]


def procctl(state, *args, config=None):
    argv = [PROCCTL] + (["-c", config] if config else []) + ["--state-dir", state, *args]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
                       env=dict(os.environ, COLUMNS="400"))
    return p.returncode, p.stdout


def main():
    tmp = tempfile.mkdtemp(prefix="procsync-fault-reload-")
    state = os.path.join(tmp, "state")
    config = os.path.join(tmp, "procsync.yaml")
    write(config, CONFIG.format(regex="'^sleep$'", name="napper"))

    first = subprocess.Popen(["sleep", "1000"])
    later = None
    suite = Suite(PROCCTL, config, state)
    try:
        suite.wait_ready()
        wait_for(lambda: names(suite, [first.pid]) == ["napper"], "the first sleep named napper", timeout=30,
                 interval=0.1)
        check("before: sleep is named by the rule (napper)", True)

        # ---- The invalid file.
        write(config, CONFIG.format(regex="'^(sleep$'", name="dozer"))
        rc, out = procctl(state, "config", "check", config)
        m = re.search(re.escape(config) + r":(\d+):(\d+): error: ([^\n]*)", out)
        check("procctl config check refuses the file with FILE:LINE:COL", rc != 0 and m is not None, out)
        where = f"{config}:{BAD_LINE}:"
        check(f"the error is on line {BAD_LINE}", m is not None and int(m.group(1)) == BAD_LINE, out)
        # The daemons report it as FILE:LINE:COL: MESSAGE (without config check's "error: ").
        error = f"{config}:{m.group(1)}:{m.group(2)}: {m.group(3)}" if m else where
        print(f"# the error: {error}", flush=True)

        mark = suite.line_count()
        suite.signal(signal.SIGHUP)
        for d in WRITERS:
            try:
                line = suite.wait_line(rf"{d} \(pid \d+\) reloaded: Configuration error, keeping the previous "
                                       rf"one: {re.escape(where)}", 30, mark)
                check(f"SIGHUP: {d} says it keeps the previous config, with FILE:LINE:COL", True)
            except TimeoutError as e:
                check(f"SIGHUP: {d} says it keeps the previous config, with FILE:LINE:COL", False,
                      str(e)[-2000:])
        try:
            suite.wait_line(r"procsync-api \(pid \d+\) reloaded: Configuration error, keeping the previous one: "
                            + re.escape(error), 30, mark)
            check("SIGHUP: procsync-api says it keeps the previous config, with FILE:LINE:COL", True)
        except TimeoutError as e:
            check("SIGHUP: procsync-api says it keeps the previous config, with FILE:LINE:COL", False,
                  str(e)[-2000:])

        status = suite.api_json("/v1/status")
        check("/v1/status: config.ok is false", status["config"]["ok"] is False, str(status["config"]))
        check("/v1/status: config.error has the error with FILE:LINE:COL",
              error in (status["config"]["error"] or ""), str(status["config"]))
        for d in ["scanner", "matcher", "exporter"]:
            check(f"/v1/status: {d} config_ok false and config_error has FILE:LINE:COL",
                  status[d]["config_ok"] is False and error in (status[d]["config_error"] or ""),
                  f"{status[d]['config_ok']} {status[d]['config_error']}")
        check("/v1/status: the config error is a health warning",
              any(error in w for w in status["health"]["warnings"]), str(status["health"]))

        # The old rules are still the ones in use: a process started now is still named napper.
        later = subprocess.Popen(["sleep", "1001"])
        ok = wait_for(lambda: names(suite, [first.pid, later.pid]) == ["napper", "napper"],
                      "both sleeps named napper", timeout=30, interval=0.1)
        check("after the failed reload: a new sleep is named by the old rule (napper)", bool(ok))

        rc, out = procctl(state, "status")
        check("procctl status exits 1", rc == 1, f"rc {rc}\n{out}")
        check("procctl status prints the error with FILE:LINE:COL", error in out, out)

        rc, out = procctl(state, "reload", config=config)
        check("procctl reload exits 1", rc == 1, f"rc {rc}\n{out}")
        for d in ["scanner", "matcher", "exporter"]:
            check(f"procctl reload: {d} kept the old config: FILE:LINE:COL",
                  re.search(rf"^{d} \(pid \d+\): kept the old config: {re.escape(where)}", out, re.M)
                  is not None, out)
        ok = wait_for(lambda: names(suite, [first.pid, later.pid]) == ["napper", "napper"],
                      "both sleeps named napper", timeout=10, interval=0.1)
        check("after procctl reload: still named by the old rule", bool(ok))

        # ---- Fixed.
        write(config, CONFIG.format(regex="'^sleep$'", name="dozer"))
        mark = suite.line_count()
        suite.signal(signal.SIGHUP)
        for d in WRITERS:
            try:
                suite.wait_line(rf"{d} \(pid \d+\) reloaded: Running, generation \d+, configuration reloaded",
                                30, mark)
                check(f"fixed, SIGHUP: {d} reloaded", True)
            except TimeoutError as e:
                check(f"fixed, SIGHUP: {d} reloaded", False, str(e)[-2000:])
        try:
            suite.wait_line(r"procsync-api \(pid \d+\) reloaded: Configuration reloaded", 30, mark)
            check("fixed, SIGHUP: procsync-api reloaded", True)
        except TimeoutError as e:
            check("fixed, SIGHUP: procsync-api reloaded", False, str(e)[-2000:])
        ok = wait_for(lambda: names(suite, [first.pid, later.pid]) == ["dozer", "dozer"],
                      "both sleeps named dozer", timeout=30, interval=0.1)
        check("fixed: the new rule names both sleeps (dozer)", bool(ok))
        status = wait_for(lambda: (lambda s: s if s["config"]["ok"] else None)(suite.api_json("/v1/status")),
                          "config ok in /v1/status", timeout=30, interval=0.1)
        check("fixed: /v1/status config ok and no error",
              status["config"]["ok"] is True and status["config"]["error"] is None, str(status["config"]))
        check("fixed: no daemon has a config error",
              all(status[d]["config_ok"] and status[d]["config_error"] is None
                  for d in ["scanner", "matcher", "exporter"]), str(status))
        rc, out = procctl(state, "status")
        check("fixed: procctl status exits 0 and shows no error", rc == 0 and where not in out,
              f"rc {rc}\n{out}")
        rc, out = procctl(state, "reload", config=config)
        check("fixed: procctl reload exits 0, every daemon reloaded",
              rc == 0 and all(re.search(rf"^{d} \(pid \d+\): reloaded$", out, re.M)
                              for d in ["scanner", "matcher", "exporter"]), f"rc {rc}\n{out}")
    finally:
        rc = suite.stop()
        for p in [first, later]:
            if p:
                p.kill()
                p.wait()
    check("procctl run stopped with status 0", rc == 0, str(rc))
    conclude(suite.output(), tmp)


main()
