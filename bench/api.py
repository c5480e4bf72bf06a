#!/usr/bin/env python3
"""bench/api: wrk against procsync-api's /v1/processes and /v1/lookup with 2,000 synced processes (each
with a listening and an established socket, 4,000 sockets) in state.db. Prints requests/s and latency
percentiles per endpoint. wrk repeats one request, which procsync-api answers from its cache until the
database changes (ctl/api-cache.h), as it does for a monitoring tool polling between two scans; the
"uncached" lines time single requests each made right after a commit, i.e. building the document. The figures in the README come from an optimized build without sanitizers:

    meson setup build-release --buildtype=release && ninja -C build-release ctl/procsync-api
    bench/api.py build-release/ctl/procsync-api schema

Usage: api.py PROCSYNC_API SCHEMA_DIR [SECONDS] [CONNECTIONS]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from api_harness import Api, create_db, free_port, get, now_ms, tcp_ready  # noqa: E402

API, SCHEMA = sys.argv[1], sys.argv[2]
SECONDS = int(sys.argv[3]) if len(sys.argv) > 3 else 10
CONNECTIONS = int(sys.argv[4]) if len(sys.argv) > 4 else 16
N = 2000


def fill(db):
    t = now_ms()
    x = db.execute
    x("BEGIN")
    x("INSERT INTO scan_netns VALUES (4026531840, 1, ?, ?)", (t, t))
    for i in range(N):
        pid = 10000 + i
        x("INSERT INTO scan_processes VALUES (?, ?, 1700000000, 1, ?, ?, ?, 1000, 'app', 4026531840, '', ?, ?, 1)",
          (pid, pid, f"svc{i % 50}", f"/usr/bin/svc{i % 50} --instance {i} --config /etc/svc/{i}.yaml", 
           f"/usr/bin/svc{i % 50}", t, t))
        tags = json.dumps({"app": f"svc{i % 50}", "env": "prod", "team": f"team{i % 7}"}, sort_keys=True)
        x("INSERT INTO match_decisions VALUES (?, ?, 'accept', 0, ?, 'rule', 1, ?, ?)",
          (pid, pid, f"svc{i % 50}-{i}", tags, t))
        port = 20000 + i
        x("INSERT INTO scan_sockets VALUES (?, 4026531840, ?, 'tcp', 4, 'listen', '0.0.0.0', ?, '0.0.0.0', 0,"
          " 'server', ?, ?)", (2 * i + 1, 100000 + 2 * i, port, t, t))
        x("INSERT INTO scan_sockets VALUES (?, 4026531840, ?, 'tcp', 4, 'established', '10.1.0.1', ?,"
          " ?, ?, 'server', ?, ?)", (2 * i + 2, 100001 + 2 * i, port, f"10.2.{i // 250}.{i % 250}", 40000 + i, t, t))
        x("INSERT INTO scan_socket_owners VALUES (?, ?), (?, ?)", (2 * i + 1, pid, 2 * i + 2, pid))
    x("COMMIT")


def wrk(url):
    p = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", url],
                       capture_output=True, text=True, timeout=SECONDS + 60)
    out = p.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(rps.group(1)) if rps else 0.0, lat, errors.group(1) if errors else "0", out


def uncached(db, port, path, n=40):
    """Latency of building the answer: a commit before each request makes the cached one stale."""
    times = []
    for i in range(n):
        db.execute("UPDATE scan_netns SET last_seen = ?", (i,))
        t0 = time.perf_counter()
        r = get(("tcp", port), path)
        times.append(time.perf_counter() - t0)
        assert r.status == 200
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def main():
    if not shutil.which("wrk"):
        print("wrk is not installed (Debian package wrk)")
        return 77
    tmp = tempfile.mkdtemp(prefix="procsync-bench-api-")
    state = os.path.join(tmp, "state")
    db = create_db(state, SCHEMA)
    fill(db)
    port = free_port()
    api = Api(API, ["--state-dir", state, "--listen", f"127.0.0.1:{port}"], ready=tcp_ready(port))
    try:
        body = get(("tcp", port), "/v1/processes").body
        lookup = "/v1/lookup?proto=tcp&local=10.2.3.17:40767&remote=10.1.0.1:20767"
        hit = get(("tcp", port), lookup).json()
        assert len(hit["matches"]) == 1 and hit["matches"][0]["processes"][0]["pid"] == 10767, hit
        print(f"procsync-api: {N} processes, {2 * N} sockets; wrk -t2 -c{CONNECTIONS} -d{SECONDS}s on {os.cpu_count()} CPUs")
        for path, what in [("/v1/processes", f"/v1/processes ({len(body) // 1024} KiB)"),
                           (lookup, "/v1/lookup (one flow)"),
                           ("/v1/processes/10767", "/v1/processes/{pid}"),
                           ("/metrics", "/metrics")]:
            rps, lat, errors, out = wrk(f"http://127.0.0.1:{port}{path}")
            print(f"{what:32} {rps:10.0f} req/s   p50 {lat.get('50', '?'):>9}   p99 {lat.get('99', '?'):>9}"
                  f"   non-2xx {errors}", flush=True)
        for path, what in [("/v1/processes", "/v1/processes uncached"), (lookup, "/v1/lookup uncached")]:
            p50, p99 = uncached(db, port, path)
            print(f"{what:32} {'':>10}         p50 {p50:7.2f}ms   p99 {p99:7.2f}ms (one request at a time)",
                  flush=True)
    finally:
        api.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
