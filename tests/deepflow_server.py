#!/usr/bin/python3
"""A stand-in DeepFlow controller for the deepflow sink's tests: a real gRPC server (Debian's
python3-grpcio) serving agent.Synchronizer/GenesisSync and GPIDSync as the reference server does
(shared/reference/deepflow-sync.md):

- GenesisSync keeps one version per agent (agent_info.ip + agent_info.mac). A message with version 0, or
  without agent_info ip/mac, is ignored. A message without platform_data is a heartbeat: it is answered
  with the stored version (0 when there is none: a new or restarted server). A full message stores the
  processes and the platform data and is answered with its version.
- GPIDSync answers one entry per request entry, in order, with pid_0/pid_1 replaced by gpids: a stable
  counter per (agent ctrl_ip, ctrl_mac, pid), 0 for an unset pid. The far side of a connection is filled in
  when another entry (of any agent) names the same flow from the other end, as the reference server does
  with its other agents.

Stubs are generated at start from the project's .proto by python3-grpc-tools into a temporary folder.
After every call the whole received state is written as JSON to the state file (write + atomic rename):
counts, the header fields, every ProcessInfo field with the tags in order, every GPIDSync entry field
(null when unset) and the answer. The port is printed as "PORT <n>" on stdout once serving.

Usage: deepflow_server.py --proto FILE --state FILE [--port N] [--host ADDR]
"""

import argparse
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from grpc_tools import protoc

ENTRY_FIELDS = [
    "protocol", "epc_id_1", "ipv4_1", "port_1", "pid_1", "epc_id_0", "ipv4_0", "port_0", "pid_0",
    "epc_id_real", "ipv4_real", "port_real", "pid_real", "role_real", "netns_idx",
]
PROCESS_FIELDS = [
    "name", "pid", "process_name", "cmdline", "user", "start_time", "netns_id", "container_id", "biz_type",
]


def load_stubs(proto):
    out = tempfile.mkdtemp(prefix="deepflow-stubs-")
    try:
        rc = protoc.main([
            "grpc_tools.protoc",
            "--proto_path=" + os.path.dirname(os.path.abspath(proto)),
            "--python_out=" + out,
            "--grpc_python_out=" + out,
            os.path.abspath(proto),
        ])
        if rc != 0:
            raise SystemExit("protoc failed on %s" % proto)
        base = os.path.splitext(os.path.basename(proto))[0]
        sys.path.insert(0, out)
        pb2 = importlib.import_module(base + "_pb2")
        pb2_grpc = importlib.import_module(base + "_pb2_grpc")
        return pb2, pb2_grpc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def fields(msg, names):
    """Every named field, None when unset (proto2 presence)."""
    return {n: (getattr(msg, n) if msg.HasField(n) else None) for n in names}


class State:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.doc = {
            "pid": os.getpid(),
            "genesis": {"calls": 0, "full": 0, "heartbeat": 0, "ignored": 0, "last": None},
            "agents": {},
            "gpid": {"calls": 0, "last": None},
        }
        self.gpids = {}
        self.flows = {}

    def gpid(self, agent, pid):
        key = (agent, pid)
        if key not in self.gpids:
            self.gpids[key] = len(self.gpids) + 1
        return self.gpids[key]

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.path)


def make_servicer(pb2, pb2_grpc, state):
    class Synchronizer(pb2_grpc.SynchronizerServicer):
        def GenesisSync(self, req, context):
            with state.lock:
                g = state.doc["genesis"]
                g["calls"] += 1
                info = req.agent_info if req.HasField("agent_info") else None
                ip = info.ip if info is not None and info.HasField("ip") else ""
                mac = info.mac if info is not None and info.HasField("mac") else ""
                key = ip + "|" + mac
                agent = state.doc["agents"].get(key)
                stored = agent["version"] if agent else 0
                header = {
                    "version": req.version if req.HasField("version") else None,
                    "agent_type": req.agent_type if req.HasField("agent_type") else None,
                    "source_ip": req.source_ip if req.HasField("source_ip") else None,
                    "agent_id": req.agent_id if req.HasField("agent_id") else None,
                    "team_id": req.team_id if req.HasField("team_id") else None,
                    "agent_info": fields(info, ["ip", "mac", "team_id", "group_id"]) if info else None,
                    "has_platform_data": req.HasField("platform_data"),
                    "has_process_data": req.HasField("process_data"),
                }
                if not req.version or not ip or not mac:
                    kind = "ignored"
                    answer = stored
                elif not req.HasField("platform_data"):
                    kind = "heartbeat"
                    answer = stored
                else:
                    kind = "full"
                    pd = req.platform_data
                    procs = []
                    for p in req.process_data.process_entries:
                        d = fields(p, PROCESS_FIELDS)
                        d["os_app_tags"] = [[t.key, t.value] for t in p.os_app_tags]
                        procs.append(d)
                    agent = dict(header)
                    agent["platform"] = {
                        "raw_hostname": pd.raw_hostname if pd.HasField("raw_hostname") else None,
                        "platform_enabled": pd.platform_enabled if pd.HasField("platform_enabled") else None,
                        "interfaces": [
                            {"name": i.name, "mac": i.mac if i.HasField("mac") else None, "ip": list(i.ip)}
                            for i in pd.interfaces
                        ],
                        "ips": [i.ip for i in pd.ips],
                    }
                    agent["processes"] = procs
                    state.doc["agents"][key] = agent
                    answer = req.version
                g[kind] += 1
                header["kind"] = kind
                header["answer"] = answer
                g["last"] = header
                state.save()
                return pb2.GenesisSyncResponse(version=answer)

        def GPIDSync(self, req, context):
            with state.lock:
                agent = (req.ctrl_ip, req.ctrl_mac)
                entries = [fields(e, ENTRY_FIELDS) for e in req.entries]
                # Both ends of a flow, from every agent: (proto, ip0, port0, ip1, port1) -> side -> gpid.
                for e in req.entries:
                    flow = (e.protocol, e.ipv4_0, e.port_0, e.ipv4_1, e.port_1)
                    sides = state.flows.setdefault(flow, {})
                    if e.HasField("pid_0") and e.pid_0:
                        sides[0] = state.gpid(agent, e.pid_0)
                    if e.HasField("pid_1") and e.pid_1:
                        sides[1] = state.gpid(agent, e.pid_1)
                resp = pb2.GPIDSyncResponse(entries_compress_algorithm=0)
                for e in req.entries:
                    flow = (e.protocol, e.ipv4_0, e.port_0, e.ipv4_1, e.port_1)
                    sides = state.flows.get(flow, {})
                    r = resp.entries.add()
                    r.CopyFrom(e)
                    r.pid_0 = sides.get(0, 0)
                    r.pid_1 = sides.get(1, 0)
                state.doc["gpid"]["calls"] += 1
                state.doc["gpid"]["last"] = {
                    "ctrl_ip": req.ctrl_ip if req.HasField("ctrl_ip") else None,
                    "ctrl_mac": req.ctrl_mac if req.HasField("ctrl_mac") else None,
                    "agent_id": req.agent_id if req.HasField("agent_id") else None,
                    "team_id": req.team_id if req.HasField("team_id") else None,
                    "entries_compress_algorithm": (
                        req.entries_compress_algorithm if req.HasField("entries_compress_algorithm") else None
                    ),
                    "entries": entries,
                    "answer": [fields(r, ENTRY_FIELDS) for r in resp.entries],
                }
                state.save()
                return resp

    return Synchronizer()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    pb2, pb2_grpc = load_stubs(args.proto)
    state = State(args.state)
    state.save()

    # One worker: calls are handled one at a time, like the per-agent handling of the reference server.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    pb2_grpc.add_SynchronizerServicer_to_server(make_servicer(pb2, pb2_grpc, state), server)
    port = server.add_insecure_port("%s:%d" % (args.host, args.port))
    if port == 0:
        raise SystemExit("cannot bind %s:%d" % (args.host, args.port))
    server.start()
    print("PORT %d" % port, flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    # No server outlives its test: stop when the parent (the test) is gone.
    parent = os.getppid()
    while not done.wait(0.2):
        if os.getppid() != parent:
            break
    server.stop(0)


if __name__ == "__main__":
    main()
