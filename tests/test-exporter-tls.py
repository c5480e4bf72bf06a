#!/usr/bin/python3
"""procsync-exporter's http sink over https: a receiver with a self-signed certificate is refused while
tls_verify is on (the default), and reached with tls_verify: false, which is logged as a warning. Needs the
openssl command to make the certificate (skipped, exit 77, without it)."""

import os
import shutil
import subprocess
import sys

from exporter_harness import run_tests
from http_receiver import Receiver


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def test_tls_verification(env):
    r = Receiver(tls=make_cert(env.dir))
    try:
        env.add_process(100, "python3", "python3 app.py", "app")
        env.publish()
        env.write_config([{"name": "tls", "type": "http", "url": r.url, "push_interval": "1s", "timeout": "2s"}])
        assert env.run_once() != 0
        row = env.sink_row("tls")
        assert row["acked_version"] == 0 and "certificate" in row["last_error"].lower(), row
        assert r.requests == []

        env.write_config([{"name": "tls", "type": "http", "url": r.url, "push_interval": "1s", "timeout": "2s",
                           "tls_verify": False}])
        assert env.run_once() == 0, env.log()
        assert r.version == env.state_version() and r.doc == env.expected(r.version)
        assert "TLS certificate verification is off" in env.log()
    finally:
        r.stop()


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIP: the openssl command is needed to make a test certificate")
        sys.exit(77)
    run_tests([test_tls_verification])
