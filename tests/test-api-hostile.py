#!/usr/bin/env python3
"""procsync-api against hostile HTTP: malformed request lines and headers, unknown methods, bad
percent-encoding, oversized targets, headers and bodies (a 10 MiB body with a Content-Length and chunked),
500 concurrent connections, 500 idle ones, and slow clients (one byte per second; a reader that does not
read). After each the daemon must still run and answer the next request; requests from other clients are
answered while a slow client dribbles. At the end it must stop cleanly (exit 0, which under
AddressSanitizer also means no leak).

Usage: test-api-hostile.py PROCSYNC_API SCHEMA_DIR
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_harness import (Api, check, create_db, finish, free_port, get, now_ms, raw, status_of,  # noqa: E402
                         tcp_ready)

API, SCHEMA = sys.argv[1], sys.argv[2]


def fill(db, n):
    t = now_ms()
    db.execute("BEGIN")
    for pid in range(1000, 1000 + n):
        db.execute("INSERT INTO scan_processes VALUES (?, 1, 1700000000, 1, 'worker', ?, '', 0, 'root', 1, '',"
                   " ?, ?, 1)", (pid, "worker --id %d " % pid + "x" * 200, t, t))
        db.execute("INSERT INTO match_decisions VALUES (?, 1, 'accept', 0, 'w', 'rule', 1, '{\"a\":\"b\"}', ?)",
                   (pid, t))
    db.execute("COMMIT")


def main():
    tmp = tempfile.mkdtemp(prefix="procsync-api-hostile-")
    state = os.path.join(tmp, "state")
    db = create_db(state, SCHEMA)
    fill(db, 2000)
    port = free_port()
    tcp = ("tcp", port)
    api = Api(API, ["--state-dir", state, "--listen", f"127.0.0.1:{port}"], ready=tcp_ready(port))

    def next_ok(what):
        try:
            r = get(tcp, "/v1/processes/1000", timeout=10)
            ok = r.status == 200
        except OSError as e:
            ok, r = False, e
        check(f"{what}: still up and answers the next request", api.alive() and ok, r)

    try:
        cases = [
            ("garbage request line", b"GARBAGE\r\n\r\n", {400, None}),
            ("request line without target", b"GET\r\n\r\n", {400, None}),
            ("unknown HTTP version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", {400, 404, 505, None}),
            ("header line without colon", b"GET /v1/status HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
             {400, None}),
            ("NUL in the request line", b"GET /v1/sta\x00tus HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404, None}),
            ("raw space and control in the target", b"GET /v1/pro\x01cesses?a=b c HTTP/1.1\r\nHost: x\r\n\r\n",
             {400, None}),
            ("non-ASCII byte in the target", b"GET /v1/processes?name=\xff HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
            ("absolute-form target", b"GET http://x/v1/status HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
            ("asterisk target", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", {400, 405}),
            ("unknown method", b"BREW /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", {405}),
            ("lower-case method", b"get /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", {405, 400}),
            ("bad percent-encoding", b"GET /v1/processes?name=%G1 HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
            ("truncated percent-encoding", b"GET /v1/processes/%3 HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
            ("70 KiB target", b"GET /v1/processes?name=" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
             {414, 431, 400, 413, None}),
            ("100 KiB header", b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100000 + b"\r\n\r\n",
             {431, 413, 400, None}),
            ("10000 headers", b"GET /v1/status HTTP/1.1\r\n" + b"X-A: b\r\n" * 10000 + b"\r\n",
             {431, 413, 400, None}),
            ("negative Content-Length", b"POST /v1/rules/test HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
             b"\r\nContent-Length: -5\r\n\r\n", {400, None}),
            ("two Content-Lengths", b"POST /v1/rules/test HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
             b"\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", {400, None}),
            ("bad chunked encoding", b"POST /v1/rules/test HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
             b"\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", {400, None}),
            ("connection closed mid-request", b"GET /v1/processes HTTP/1.1\r\nHo", {None}),
        ]
        for what, data, statuses in cases:
            answer = raw(port, data, timeout=10)
            st = status_of(answer)
            check(f"{what}: answered {st}", st in statuses, answer[:300])
            next_ok(what)

        # A 10 MiB body: refused from its Content-Length before it is read. The answer comes without a
        # body byte sent (reading it first: once the server closes, more data from us would make the
        # kernel reset the connection and drop the answer before we read it).
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /v1/rules/test HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10485760\r\n\r\n")
        t0 = time.monotonic()
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                b = s.recv(4096)
                if not b:
                    break
                answer += b
            s.sendall(b"{" + b" " * (1 << 20))
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        s.close()
        check("10 MiB body with Content-Length: 413 before the body is read",
              status_of(answer) == 413 and time.monotonic() - t0 < 5, answer[:200])
        next_ok("10 MiB body with Content-Length")

        # The same amount chunked: no length up front, so the limit applies while reading.
        body = b"".join(b"%x\r\n%s\r\n" % (65536, b" " * 65536) for _ in range(160)) + b"0\r\n\r\n"
        answer = raw(port, b"POST /v1/rules/test HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body, timeout=30)
        check("10 MiB chunked body: 413", status_of(answer) == 413, answer[:200])
        next_ok("10 MiB chunked body")
        answer = raw(port, b"GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
        check("10 MiB body on a GET: 413", status_of(answer) == 413, answer[:200])
        next_ok("10 MiB body on a GET")

        # 500 concurrent clients, each with a real request.
        results = []
        lock = threading.Lock()

        def client():
            try:
                r = get(tcp, "/v1/processes/1500", timeout=60)
                st = r.status
            except OSError as e:
                st = repr(e)
            with lock:
                results.append(st)

        threads = [threading.Thread(target=client) for _ in range(500)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = results.count(200)
        check(f"500 concurrent requests: all answered 200 ({ok}/500 in {time.monotonic() - t0:.1f} s)",
              ok == 500, {x for x in results if x != 200})
        next_ok("500 concurrent requests")

        # 500 idle connections (more than the connection limit): the daemon stays up; once they are gone
        # the next request is answered at once.
        idle = []
        for _ in range(500):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)  # let the server accept what it will; nothing observable to poll for
        check(f"500 idle connections opened ({len(idle)})", len(idle) == 500 and api.alive())
        for s in idle:
            s.close()
        t0 = time.monotonic()
        next_ok("500 idle connections closed")
        check("... and promptly (< 5 s)", time.monotonic() - t0 < 5)

        # A slow client: one byte per second. Others are answered meanwhile, without waiting for it.
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        req = b"GET /v1/processes/1001 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        worst = 0.0
        for i in range(6):
            slow.sendall(req[i:i + 1])
            t0 = time.monotonic()
            r = get(tcp, "/v1/processes/1002")
            worst = max(worst, time.monotonic() - t0)
            time.sleep(1)
        check(f"while a client sends one byte per second, others are answered (worst {worst * 1000:.0f} ms)",
              worst < 1.0 and r.status == 200)
        slow.sendall(req[6:])
        answer = b""
        while True:
            b = slow.recv(65536)
            if not b:
                break
            answer += b
        slow.close()
        check("the slow client gets its answer in the end", status_of(answer) == 200, answer[:200])

        # A client that asks for a large document and does not read it.
        lazy = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /v1/processes HTTP/1.1\r\nHost: x\r\n\r\n")
            lazy.append(s)
        t0 = time.monotonic()
        r = get(tcp, "/healthz")
        check("20 clients not reading a 600 KB answer do not block others",
              r.status in (200, 503) and time.monotonic() - t0 < 2)
        for s in lazy:
            s.close()
        next_ok("lazy readers")
    finally:
        rc = api.stop()
    check("stops cleanly on SIGTERM after all that (exit 0; no leak under ASan)", rc == 0, api.output[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
