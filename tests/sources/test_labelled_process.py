"""A fast labelled replay in real processes: lossless under back-pressure, and the run ends by itself."""

import json
import subprocess
import sys

import numpy as np
import pytest

from spikestream.transport import free_tcp_port

PY = sys.executable


def ep():
    return f"tcp://127.0.0.1:{free_tcp_port()}"


@pytest.mark.slow
def test_fast_labelled_replay_delivers_every_row_and_ends_the_run(tmp_path):
    d = tmp_path / "Person0" / "training0"
    d.mkdir(parents=True)
    frames = 300
    for k in range(6):  # frame j of file k holds k*1000 + j: what arrives shows order and loss
        np.repeat((k * 1000 + np.arange(frames))[:, None], 8, axis=1).astype("<i2").tofile(d / f"classe_{k}.dat")
    rec_s, rec_t = tmp_path / "samples.json", tmp_path / "target.json"
    text = f"""
[pipeline]
name = "replay"
flow = "lossless"

[nodes.rep]
kind = "labelled_replay"
hwm = 4  # a tiny queue: fast replay must wait for the recorders, never drop
outputs = {{ samples = "{ep()}", target = "{ep()}" }}
[nodes.rep.params]
dtype = "<i2"
channels = 8
rate_hz = 200
chunk = 5
pace = "fast"
progress = false
calibrate = "{d}/classe_[0-2].dat"
evaluate = "{d}/classe_[3-5].dat"
label = 'classe_(\\d+)'
label_map = "mod 7"

[nodes.rec_s]
kind = "recorder"
hwm = 4
inputs = {{ in = "rep.samples" }}
params = {{ path = "{rec_s}" }}

[nodes.rec_t]
kind = "recorder"
hwm = 4
inputs = {{ in = "rep.target" }}
params = {{ path = "{rec_t}" }}
"""
    p = tmp_path / "p.toml"
    p.write_text(text)
    report = tmp_path / "r.json"
    proc = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--report", str(report)], timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nodes = json.loads(report.read_text())["nodes"]
    src = nodes["rep"]["stats"]
    n_msgs = 6 * frames // 5
    assert src["msgs_out"] == {"samples": n_msgs, "target": n_msgs}
    assert src["node_counters"]["samples_out"] == 6 * frames and src["node_counters"]["files"] == 6
    got_s, got_t = json.loads(rec_s.read_text()), json.loads(rec_t.read_text())
    assert got_s["n"] == got_t["n"] == n_msgs
    expect = [k * 1000 + j for k in range(6) for j in range(frames)]
    assert got_s["values"] == expect  # every row, once, in order
    assert got_t["values"] == [float(k % 7) for k in range(6) for _ in range(frames)]
    assert got_s["last_t_us"] == got_t["last_t_us"] == (6 * frames - 1) * 5000
    for r in ("rec_s", "rec_t"):
        assert nodes[r]["stats"]["dropped"] == 0 and nodes[r]["stats"]["rejected"] == 0
