"""Shared by the procsync-api tests: a state.db built from schema/ with chosen rows, starting and stopping
procsync-api, HTTP over TCP or a unix socket, TAP-style checks, and a strict parser of the Prometheus text
format (used when promtool is not installed, and always as well)."""
import http.client
import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

failures = 0
checks = 0


def check(what, cond, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print(f"ok {checks} - {what}", flush=True)
    else:
        failures += 1
        print(f"not ok {checks} - {what} {detail}", flush=True)
    return cond


def finish():
    print(f"1..{checks}")
    print(f"{checks - failures} passed, {failures} failed")
    raise SystemExit(1 if failures else 0)


def skip(reason):
    print(f"1..0 # SKIP {reason}")
    raise SystemExit(77)


def wait_for(cond, what, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(interval)


def now_ms():
    return int(time.time() * 1000)


def start_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[19])


def create_db(state_dir, schema_dir):
    """An empty state.db at the current schema version, as the daemons would create it."""
    os.makedirs(state_dir, exist_ok=True)
    db = sqlite3.connect(os.path.join(state_dir, "state.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    files = sorted(f for f in os.listdir(schema_dir) if re.match(r"\d+-.*\.sql$", f))
    for f in files:
        with open(os.path.join(schema_dir, f)) as fh:
            db.executescript(fh.read())
    db.execute(f"PRAGMA user_version={len(files)}")
    return db


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(target, method, path, body=None, headers=None, timeout=10):
    """target: ("tcp", port) or ("unix", path)."""
    kind, where = target
    c = UnixHTTPConnection(where, timeout) if kind == "unix" else http.client.HTTPConnection(
        "127.0.0.1", where, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


def get(target, path, **kw):
    return request(target, "GET", path, **kw)


def raw(port, data, timeout=10, read=True):
    """Sends raw bytes on a new TCP connection; returns what came back until the server closed or the
    timeout, or b"" when the connection was refused/reset."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        if data:
            s.sendall(data)
        if read:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        pass
    finally:
        s.close()
    return out


def status_of(raw_answer):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw_answer)
    return int(m.group(1)) if m else None


class Api:
    """procsync-api as a child process."""

    def __init__(self, binary, args, env=None, ready=None):
        self.proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True)
        if ready:
            try:
                wait_for(lambda: self.proc.poll() is not None or ready(), "procsync-api to listen")
            except TimeoutError:
                self.stop()
                raise
            if self.proc.poll() is not None:
                raise RuntimeError(f"procsync-api exited {self.proc.returncode}: {self.proc.stdout.read()}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.output = self.proc.stdout.read()
        return self.proc.returncode


def tcp_ready(port):
    def ready():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False
    return ready


# ---- Prometheus text format (exposition format 0.0.4), strictly -------------------------------------------

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _parse_labels(s, i, line):
    """Parses {a="x",b="y"} starting at s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ValueError(f"bad label name at {i}: {line!r}")
        name = m.group(0)
        if name.startswith("__"):
            raise ValueError(f"reserved label name {name}: {line!r}")
        if name in labels:
            raise ValueError(f"label {name} twice: {line!r}")
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError(f"expected =\" after {name}: {line!r}")
        i += 2
        val = []
        while True:
            c = s[i]
            if c == "\\":
                n = s[i + 1]
                if n not in ('\\', '"', 'n'):
                    raise ValueError(f"bad escape \\{n}: {line!r}")
                val.append({"\\": "\\", '"': '"', "n": "\n"}[n])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError(f"raw newline in label value: {line!r}")
            else:
                val.append(c)
                i += 1
        labels[name] = "".join(val)
        if s[i] == ",":
            i += 1
            if s[i] == "}":
                return labels, i + 1
        elif s[i] != "}":
            raise ValueError(f"expected , or }} at {i}: {line!r}")


def parse_prometheus(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}; raises ValueError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # raises on invalid UTF-8
    if not text.endswith("\n"):
        raise ValueError("the text must end with a newline")
    families = {}
    seen_series = set()
    closed = set()
    current = None
    for line in text.split("\n")[:-1]:
        if line == "":
            raise ValueError("empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC_NAME.match(name):
                    raise ValueError(f"bad metric name {name!r}")
                if name in closed:
                    raise ValueError(f"family {name} resumed after another one")
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if current and current != name:
                    closed.add(current)
                current = name
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise ValueError(f"second HELP for {name}")
                    fam["help"] = parts[3] if len(parts) > 3 else ""
                else:
                    if fam["type"] is not None:
                        raise ValueError(f"second TYPE for {name}")
                    if fam["samples"]:
                        raise ValueError(f"TYPE after samples for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError(f"bad TYPE line {line!r}")
                    fam["type"] = parts[3]
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ValueError(f"bad sample line {line!r}")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, line)
        if i >= len(line) or line[i] != " ":
            raise ValueError(f"expected a space before the value: {line!r}")
        fields = line[i + 1:].split(" ")
        if len(fields) not in (1, 2):
            raise ValueError(f"bad value/timestamp: {line!r}")
        v = fields[0]
        if v not in ("NaN", "+Inf", "-Inf"):
            float(v)  # raises
            if not re.match(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$", v):
                raise ValueError(f"bad value {v!r}")
        if len(fields) == 2:
            int(fields[1])
        if name not in families:
            raise ValueError(f"sample of {name} without HELP/TYPE")
        if name != current:
            raise ValueError(f"sample of {name} outside its family block")
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise ValueError(f"duplicate series {key}")
        seen_series.add(key)
        families[name]["samples"].append((name, labels, float(v) if v not in ("NaN",) else math.nan))
    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None:
            raise ValueError(f"family {name} lacks HELP or TYPE")
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter {name} does not end in _total")
    return families


def promtool_check(text):
    """(ran, ok, output): promtool check metrics when promtool is installed."""
    exe = None
    for d in os.environ.get("PATH", "").split(":"):
        if d and os.access(os.path.join(d, "promtool"), os.X_OK):
            exe = os.path.join(d, "promtool")
            break
    if not exe:
        return False, True, "promtool not installed"
    p = subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, timeout=30)
    return True, p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
