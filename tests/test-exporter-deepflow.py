#!/usr/bin/python3
"""procsync-exporter with a deepflow sink against tests/deepflow_server.py (a real gRPC server on Debian's
python3-grpcio, behaving as the reference controller): the processes and the version reach the server,
GPIDSync runs on the socket interval and its gpids land in export_gpids / export_socket_gpids, and a
server killed with SIGKILL and restarted on its port ends with exactly our state again (it answers 0 to
the heartbeat, the exporter resends everything)."""

import os
import signal

from exporter_harness import NETNS, run_tests
from suite_harness import DeepflowTestServer

HERE = os.path.dirname(os.path.abspath(__file__))
MAC = "02:00:00:00:00:01"


class Server(DeepflowTestServer):
    def __init__(self, env, port=0):
        super().__init__(env.dir, port, HERE)

    def agent(self):
        return super().agent("127.0.0.1|" + MAC)

    def kill(self):
        self.stop(signal.SIGKILL)
        if os.path.exists(self.state):
            os.unlink(self.state)


def scenario(env):
    env.add_process(100, "python3", "python3 client.py", "client-py-script", user="app", uid=1000,
                    tags={"team": "shop", "app": "cart"}, rule=1)
    env.add_process(200, "nginx", "nginx: worker process", "nginx", user="www-data", uid=33)
    env.add_socket(5001, "tcp", "listen", "0.0.0.0", 80, "0.0.0.0", 0, "server", [200])
    env.add_socket(5002, "tcp", "established", "10.0.0.1", 80, "10.0.0.2", 40000, "server", [200])
    env.add_socket(5003, "tcp", "established", "10.0.0.2", 40000, "10.0.0.1", 80, "client", [100])
    env.publish()


def expected_processes(env):
    return [{
        "name": p["name"], "pid": p["pid"], "process_name": p["comm"], "cmdline": p["cmdline"], "user": p["user"],
        "start_time": p["start_time"], "netns_id": NETNS & 0xffffffff, "container_id": "", "biz_type": None,
        "os_app_tags": [[k, v] for k, v in sorted(p["tags"].items())],
    } for p in sorted(env.processes, key=lambda p: p["pid"])]


def test_deepflow_through_the_exporter(env):
    server = Server(env)
    try:
        scenario(env)
        env.write_config([{"name": "df", "type": "deepflow", "controller_ips": ["127.0.0.1"],
                           "controller_port": server.port, "ctrl_ip": "127.0.0.1", "ctrl_mac": MAC,
                           "push_interval": "1s"}], socket_interval="1s")
        env.start()
        env.wait_for(lambda: server.agent() is not None, what="GenesisSync")
        v = env.state_version()
        agent = server.agent()
        assert agent["version"] == v and agent["processes"] == expected_processes(env), agent
        assert agent["platform"]["raw_hostname"] == os.uname().nodename
        env.wait_for(lambda: env.sink_row("df")["acked_version"] == v, what="acked")

        # GPIDSync: both established sockets, and their gpids stored.
        env.wait_for(lambda: server.doc()["gpid"]["calls"] >= 1, what="GPIDSync")
        env.wait_for(lambda: len(env.query("SELECT pid FROM export_gpids WHERE sink = 'df'")) == 2,
                     what="process gpids stored")
        gpids = dict(env.query("SELECT pid, gpid FROM export_gpids WHERE sink = 'df'"))
        assert set(gpids) == {100, 200} and all(g > 0 for g in gpids.values()), gpids
        socks = env.query("SELECT inode, local_gpid, remote_gpid FROM export_socket_gpids WHERE sink = 'df' "
                          "ORDER BY inode")
        # The two ends of 10.0.0.1:80 <-> 10.0.0.2:40000 are both ours: each side sees the other's gpid.
        assert socks == [(5002, gpids[200], gpids[100]), (5003, gpids[100], gpids[200])], socks

        # The server dies and comes back empty on the same port: everything is sent again.
        port = server.port
        server.kill()
        server = Server(env, port)
        env.wait_for(lambda: server.agent() is not None, timeout=30, what="full resend after the restart")
        agent = server.agent()
        assert agent["version"] == env.state_version() == v and agent["processes"] == expected_processes(env)

        # A tag change: a new version, delivered.
        env.processes[0]["tags"]["app"] = "checkout"
        env.publish()
        env.wait_for(lambda: (server.agent() or {}).get("version") == v + 1, what="version + 1")
        assert server.agent()["processes"] == expected_processes(env)
        env.stop()
    finally:
        server.stop()


if __name__ == "__main__":
    run_tests([test_deepflow_through_the_exporter])
