"""A scripted HTTP receiver for procsync-exporter's http sink (README "HTTP sink protocol").

It speaks the protocol as a real receiver would: a full document ({"full": true, ...}) replaces what it
holds and is answered 200; a heartbeat ({"full": false}) is answered 200 when it holds that version and
409 otherwise. A test scripts the answers of the next requests with `script(...)`, one action per request:

    "ok"      the protocol above (the default once the script is used up)
    <int>     answer that status, store nothing
    "hang"    record the request, store nothing, never answer (until stop()/release())
    "store-and-hang"
              store the document as "ok" would, then never answer: the exporter cannot acknowledge it
    "forget"  drop what is held (a restarted receiver), then act as "ok"
    "redirect"
              answer 307 with Location: /elsewhere (the exporter must not follow it)

Every request is recorded with what was done (`requests`). Used in-process by the tests (a thread), or
standalone for manual checks:  /usr/bin/python3 tests/http_receiver.py PORT
"""

import http.server
import json
import sys
import threading
import time


class Receiver:
    def __init__(self, port=0, tls=None):
        """tls: (certfile, keyfile) to serve https."""
        self.lock = threading.Condition()
        self.version = None
        self.doc = None
        self.requests = []
        self._script = []
        self._release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # an exporter killed or timing out mid-request resets the connection: expected here

        self.server = Server(("127.0.0.1", port), Handler)
        scheme = "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d/sync" % (scheme, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, *actions):
        with self.lock:
            self._script = list(actions)

    def release(self):
        """Lets every hanging request return (without an answer) and stops new ones from hanging."""
        self._release.set()

    def stop(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h):
        length = int(h.headers.get("Content-Length", "0"))
        body = h.rfile.read(length)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        with self.lock:
            action = self._script.pop(0) if self._script else "ok"
            entry = {
                "at": time.monotonic(),
                "path": h.path,
                "headers": dict(h.headers.items()),
                "content_type": h.headers.get("Content-Type"),
                "size": len(body),
                "doc": doc,
                "full": bool(doc and doc.get("full")),
                "version": doc.get("version") if isinstance(doc, dict) else None,
                "action": action,
                "status": None,
            }
            if action == "forget":
                self.version, self.doc = None, None
                action = "ok"
            status = None
            if action in ("ok", "store-and-hang"):
                if not isinstance(doc, dict) or not isinstance(doc.get("version"), int):
                    status = 400
                elif doc.get("full"):
                    self.version, self.doc = doc["version"], doc
                    status = 200
                else:
                    status = 200 if self.version == doc["version"] else 409
                if action == "store-and-hang":
                    status = None
            elif isinstance(action, int):
                status = action
            elif action == "redirect":
                status = 307
            entry["status"] = status
            self.requests.append(entry)
            self.lock.notify_all()
        if status is None:
            self._release.wait()
            h.close_connection = True
            return
        answer = json.dumps({"version": self.version}).encode()
        h.send_response(status)
        if status == 307:
            h.send_header("Location", "/elsewhere")
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(answer)))
        h.end_headers()
        h.wfile.write(answer)

    def wait_for(self, predicate, timeout=20, what="condition"):
        """Waits until predicate(self) is true (checked under the lock at every request)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("receiver: timed out waiting for %s; requests: %s" %
                                         (what, self.summary()))
                self.lock.wait(min(left, 0.2))

    def summary(self):
        return [(r["version"], "full" if r["full"] else "hb", r["action"], r["status"]) for r in self.requests]

    def fulls(self):
        return [r for r in self.requests if r["full"]]


if __name__ == "__main__":
    r = Receiver(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(r.url, flush=True)
    try:
        while True:
            time.sleep(5)
            print(r.summary()[-5:], flush=True)
    except KeyboardInterrupt:
        r.stop()
