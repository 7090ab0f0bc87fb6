"""The demo pipeline split across two hosts: one pipeline file, `spikestream run FILE --host NAME` on each.

Two Linux network namespaces joined by a veth pair stand in for two machines: each has its own loopback
and its own address, and the only way between them is the virtual wire. The input and output nodes run on
host "a", the SNN on host "b"; a listener on host "b" reads the control stream that host "a" publishes.
Needs root (CAP_NET_ADMIN) and iproute2, which CI has; `make system-deps` installs iproute2 where missing.
"""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from spikestream.transport import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]
ADDR = {"a": "10.231.0.1", "b": "10.231.0.2"}


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def two_hosts():
    tag = f"ss{os.getpid() % 100000}"
    ns = {h: f"{tag}{h}" for h in ADDR}
    try:
        for h, n in ns.items():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"{tag}va", "netns", ns["a"], "type", "veth", "peer", "name", f"{tag}vb", "netns", ns["b"])
        for h, n in ns.items():
            sh("ip", "-n", n, "addr", "add", f"{ADDR[h]}/24", "dev", f"{tag}v{h}")
            sh("ip", "-n", n, "link", "set", f"{tag}v{h}", "up")
        yield ns
    finally:
        for n in ns.values():
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def split_demo(path: Path) -> dict:
    """deploy/demo.toml with every node placed on a host and every output bound to its host's address at a
    fixed port (`:auto` would be resolved apart on each host). Stats stay ':auto': each host's supervisor
    collects its own nodes' stats on its own loopback."""
    place = {"emg": "a", "snn": "b", "output": "a"}
    lines, node, ports = [], None, set()
    for line in (ROOT / "deploy/demo.toml").read_text().splitlines():
        if line.startswith("[nodes.") and line.count(".") == 1:
            node = line[len("[nodes."):line.index("]")]
            lines += [line, f'host = "{place[node]}"']
            continue
        while node and "tcp://127.0.0.1:auto" in line:
            port = free_tcp_port()
            while port in ports:
                port = free_tcp_port()
            ports.add(port)
            line = line.replace("tcp://127.0.0.1:auto", f"tcp://{ADDR[place[node]]}:{port}", 1)
        lines.append(line.replace("calibrate_s = 10.0", "calibrate_s = 4.0"))
    path.write_text("\n".join(lines) + "\n")
    doc = tomllib.loads(path.read_text())
    assert {n: d["host"] for n, d in doc["nodes"].items()} == place
    return doc


@pytest.mark.slow
def test_the_demo_runs_split_across_two_hosts(two_hosts, tmp_path):
    doc = split_demo(tmp_path / "split.toml")
    py = [sys.executable, "-m", "spikestream"]
    runs = {h: subprocess.Popen(["ip", "netns", "exec", two_hosts[h], *py, "run", str(tmp_path / "split.toml"),
                                 "--host", h, "--duration", "16", "--report", str(tmp_path / f"{h}.json")],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{h}.log", "w"))
            for h in ADDR}
    tap = subprocess.Popen(["ip", "netns", "exec", two_hosts["b"], *py, "tap", doc["nodes"]["output"]["outputs"]["out"],
                            "--count", "500"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        codes = {h: p.wait(timeout=120) for h, p in runs.items()}
        tapped, _ = tap.communicate(timeout=30)
    finally:
        for p in [*runs.values(), tap]:
            p.kill()
    logs = {h: (tmp_path / f"{h}.log").read_text()[-3000:] for h in ADDR}
    assert codes == {"a": 0, "b": 0}, logs
    rep = {h: json.loads((tmp_path / f"{h}.json").read_text())["nodes"] for h in ADDR}
    assert set(rep["a"]) == {"emg", "output"} and set(rep["b"]) == {"snn"}  # each host ran only its own nodes
    st = {n: r["stats"] for h in ADDR for n, r in rep[h].items()}
    for n, s in st.items():
        assert s["errors"] == 0 and s["rejected"] == 0 and s["dropped"] == 0, (n, s)
    sent = st["emg"]["msgs_out"]["spikes"]
    assert sent > 5000, st["emg"]
    # spike packets crossed to b and came back to the output node on a, none lost on the way (dropped == 0
    # above counts sequence gaps and a late join). The two supervisors stop on their own clocks, so the
    # last few hundred ms of one host may find the other gone: the totals agree to within that.
    assert st["snn"]["msgs_out"]["out"] == st["snn"]["msgs_in"]["in"] > 0.9 * sent
    assert st["output"]["msgs_in"]["in"] > 0.9 * st["snn"]["msgs_out"]["out"], st
    assert st["output"]["latency_in_ms"]["p50"] < 20.0, st["output"]  # sensor on a -> b -> a, live
    assert st["output"]["msgs_in"]["target"] > 0 and st["output"]["msgs_out"]["out"] > 5000
    lines = [json.loads(x) for x in tapped.splitlines() if x.strip()]
    assert len(lines) == 500 and all(m["kind"] == "control" for m in lines), tapped[-500:]
    assert len({m["seq"] for m in lines}) == 500
