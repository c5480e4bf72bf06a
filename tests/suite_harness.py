"""Shared by the end-to-end and fault tests (tests/e2e/): the whole suite under `procctl run` as a child
process, with its output collected line by line, the REST API over the state directory's unix socket, and
a re-exec of the calling script inside private PID, network and mount namespaces.

    suite = Suite(PROCCTL, config_path, state_dir)
    suite.wait_ready()                       # every daemon printed "... is ready (pid N)"
    doc = suite.api_json("/v1/processes")    # GET over <state_dir>/api.sock, parsed
    suite.wait_line(r"procsync-matcher \\(pid \\d+\\) was killed")
    rc = suite.stop()                        # SIGTERM, then the exit status; suite.output() has the log

TAP-style checks come from api_harness (check, finish, skip, wait_for)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_harness  # noqa: E402
from api_harness import check, finish, get  # noqa: E402

DAEMONS = ["procsync-scanner", "procsync-matcher", "procsync-exporter", "procsync-api"]


def in_namespaces(reason_if_not_root="needs root for private PID, network and mount namespaces"):
    """Re-executes the calling script under `unshare --pid --net --mount --fork --mount-proc` (once:
    $PROCSYNC_IN_NAMESPACES marks the inner run) with loopback up, and exits with its status. Skips (77)
    when not root. Returns in the inner run only."""
    if os.environ.get("PROCSYNC_IN_NAMESPACES") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        print(f"1..0 # SKIP {reason_if_not_root}", flush=True)
        raise SystemExit(77)
    env = dict(os.environ, PROCSYNC_IN_NAMESPACES="1")
    argv = ["unshare", "--pid", "--net", "--mount", "--fork", "--mount-proc", "--propagation", "private",
            sys.executable, *sys.argv]
    raise SystemExit(subprocess.run(argv, env=env).returncode)


class Suite:
    """`procctl -c CONFIG --state-dir STATE run` as a child, its stdout+stderr collected by a thread."""

    def __init__(self, procctl, config, state_dir, extra_args=(), env=None):
        self.state_dir = state_dir
        self.socket = os.path.join(state_dir, "api.sock")
        self._lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen([procctl, "-c", config, "--state-dir", state_dir, *extra_args, "run"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def lines(self):
        with self._cond:
            return list(self._lines)

    def output(self):
        return "\n".join(self.lines())

    def wait_line(self, pattern, timeout=30.0, start=0):
        """The first match (re.Match) of `pattern` in the output lines from index `start` on; waits at most
        `timeout` seconds. Raises TimeoutError with the output so far."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"no line matching {pattern!r} in:\n" + "\n".join(self._lines))
                self._cond.wait(min(left, 0.2))

    def line_count(self):
        with self._cond:
            return len(self._lines)

    def wait_ready(self, timeout=60.0):
        """Waits for every daemon's "is ready (pid N)" line; returns {daemon name: pid}."""
        return {d: int(self.wait_line(rf"{d} is ready \(pid (\d+)\)", timeout).group(1)) for d in DAEMONS}

    def api(self, path, timeout=10):
        """GET over the unix socket: an api_harness.Response (status, headers, body, json())."""
        return get(("unix", self.socket), path, timeout=timeout)

    def api_json(self, path, timeout=10):
        r = self.api(path, timeout)
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {r.body[:500]!r}")
        return json.loads(r.body)

    def generation(self, daemon):
        """The `generation` of "scanner", "matcher" or "exporter" in /v1/status."""
        return self.api_json("/v1/status")[daemon]["generation"]

    def wait_generation_after(self, daemon, generation, timeout=30.0):
        """Waits until `daemon`'s generation is above `generation`; returns the new one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                g = self.generation(daemon)
                if g is not None and g > generation:
                    return g
            except (OSError, RuntimeError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{daemon} generation stayed at {generation}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM to procctl run, then its exit status (SIGKILL to the whole group after `timeout`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


class DeepflowTestServer:
    """tests/deepflow_server.py (the gRPC stand-in for a DeepFlow controller) as a child process, its state
    file in `directory` (a stale one removed first). port 0: any free port; `.port` is the one it serves on.
    doc() is its last recorded state (None before the first write), agent(key) one agent's entry.
    prefix: argv run before it (e.g. nsenter into another network namespace); preexec_fn as for Popen."""

    def __init__(self, directory, port=0, tests_dir=None, prefix=(), preexec_fn=None):
        tests_dir = tests_dir or os.path.dirname(os.path.abspath(__file__))
        self.state = os.path.join(directory, "deepflow-state.json")
        if os.path.exists(self.state):
            os.unlink(self.state)
        proto = os.path.join(os.path.dirname(tests_dir), "exporter", "deepflow.proto")
        self.proc = subprocess.Popen([*prefix, "/usr/bin/python3", os.path.join(tests_dir, "deepflow_server.py"),
                                      "--proto", proto, "--state", self.state, "--port", str(port)],
                                     stdout=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"deepflow_server.py did not start: {line!r}")
        self.port = int(line.split()[1])

    def doc(self):
        try:
            with open(self.state) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def agent(self, key):
        """key: "CTRL_IP|CTRL_MAC"."""
        d = self.doc()
        return d and d["agents"].get(key)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(10)


def fast_config(state_dir, interval, file_sink, static_extra="", sink_extra=""):
    """A config for the fault tests: sync on, processes and sockets scanned every `interval` ("200ms"),
    min-lifetime 0, the API on <state_dir>/api.sock only, one file sink at `file_sink`. `static_extra`
    (lines under static_config:) and `sink_extra` (lines of the sink) are indented by the caller."""
    return (f"static_config:\n"
            f"  os-proc-sync-enabled: true\n"
            f"  os-proc-socket-sync-interval: {interval}\n"
            f"  os-proc-socket-min-lifetime: 0\n"
            f"{static_extra}"
            f"procsync:\n"
            f"  process_scan_interval: {interval}\n"
            f"  api:\n"
            f"    listen: ['unix:{state_dir}/api.sock']\n"
            f"  exporter:\n"
            f"    sinks:\n"
            f"      - type: file\n"
            f"        path: {file_sink}\n"
            f"{sink_extra}")


def conclude(output, tmp, tail=150):
    """The common end of a suite test: a check that `output` (the suite's) has no sanitizer report; `tmp`
    removed when every check passed, else the output's last `tail` lines printed to keep with the logs;
    then api_harness.finish() (exits)."""
    bad = [line for line in output.splitlines() if "Sanitizer" in line or "runtime error" in line]
    check("no sanitizer report", not bad, "\n".join(bad)[:3000])
    if not api_harness.failures:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"# procctl run output (last {tail} lines):\n# " + "\n# ".join(output.splitlines()[-tail:]))
    finish()
