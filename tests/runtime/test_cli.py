"""The command line: tap prints a stream as JSON lines, cmd talks to a control channel, kinds lists."""

import json
import subprocess
import sys

import numpy as np
import zmq
from runtime_helpers import node_table, write_pipeline

from spikestream import protocol as P
from spikestream import transport

PY = sys.executable


def test_tap_prints_json_lines_and_reports(tmp_path):
    ep = f"tcp://127.0.0.1:{transport.free_tcp_port()}"
    pub = transport.pub(zmq.Context.instance(), ep, xpub=True)
    report = tmp_path / "tap.json"
    proc = subprocess.Popen([PY, "-m", "spikestream", "tap", ep, "--count", "3", "--duration", "60",
                             "--report", str(report)], stdout=subprocess.PIPE, text=True)
    try:
        assert pub.poll(30_000) and pub.recv()[:1] == b"\x01"  # the tap subscribed
        pub.send(b"junk")
        for k in range(3):
            pub.send(P.pack(P.Message(P.Spikes(0, 10, 4, np.array([k], np.uint32), np.array([k], np.int64)),
                                      "enc.out", k, 10, 1)))
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        pub.close(0)
    lines = [json.loads(x) for x in out.splitlines()]
    assert "error" in lines[0]
    assert [x["body"]["idx"] for x in lines[1:]] == [[0], [1], [2]]
    assert lines[1]["kind"] == "spikes" and lines[1]["stream"] == "enc.out"
    assert json.loads(report.read_text()) == {"endpoint": ep, "messages": 3, "by_kind": {"spikes": 3}, "rejected": 1}


def test_cmd_reports_a_dead_endpoint_clearly():
    ep = f"tcp://127.0.0.1:{transport.free_tcp_port()}"
    r = subprocess.run([PY, "-m", "spikestream", "cmd", ep, "ping", "--timeout", "0.3"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "no reply" in r.stderr


def test_kinds_lists_every_registry():
    r = subprocess.run([PY, "-m", "spikestream", "kinds"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    text = r.stdout
    for kind in ("emg_synth", "encoder", "snn", "control_output", "relay", "delta", "lif", "linear_rls"):
        assert kind in text, kind


def test_log_format_json_is_one_object_per_line_in_the_supervisor_and_its_nodes(tmp_path):
    """--log-format json: every line on stderr parses, the nodes `run` starts log the same way."""
    p = write_pipeline(tmp_path, node_table("src", "emg_synth", params="channels = 2, rate_hz = 200",
                                            outputs={"samples": f"tcp://127.0.0.1:{transport.free_tcp_port()}"}))
    r = subprocess.run([sys.executable, "-m", "spikestream", "--log-format", "json", "run", str(p), "--duration", "8"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    recs = [json.loads(ln) for ln in lines]  # each line is one JSON object
    assert {"t", "level", "logger", "pid", "msg"} <= set(recs[0])
    # the node's own lines (its own process) came as JSON too: the format reached the nodes `run` started
    assert any(d["logger"] == "spikestream.src" and "set up" in d["msg"] for d in recs), r.stderr
