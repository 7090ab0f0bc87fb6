"""The event_camera node in its own process under the real runtime, read back over ZeroMQ."""

import subprocess
import sys
import time

import numpy as np
import zmq

from spikestream import protocol as P
from spikestream import transport
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.slicing import EventSlicer


def test_event_camera_process_publishes_every_slice_then_exits(tmp_path):
    rng = np.random.default_rng(0)
    n, w, h = 20_000, 64, 48
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, w, n), rng.integers(0, h, n)
    ev["t"] = np.sort(rng.integers(0, 400_000, n))
    ev["p"] = rng.integers(0, 2, n)
    np.save(tmp_path / "ev.npy", ev)
    out = f"tcp://127.0.0.1:{transport.free_tcp_port()}"
    (tmp_path / "p.toml").write_text(f"""
[pipeline]
name = "cam"
[nodes.cam]
kind = "event_camera"
outputs = {{ out = "{out}" }}
start_wait_s = 10
[nodes.cam.params]
path = "{tmp_path / 'ev.npy'}"
width = {w}
height = {h}
speed = 4.0
slice_us = 10000
polarity = "merge"
# a reader of cam.out in the file (this test's socket stands in for it; the node is never started), so the
# camera node waits for a subscriber before its replay starts: a terminal port is not waited for, and the
# first slices went out before this test's socket had joined (8 of 40 lost when the kernels compiled first)
[nodes.rec]
kind = "recorder"
inputs = {{ in = "cam.out" }}
""")
    ctx = zmq.Context.instance()
    sub = transport.sub(ctx, [out])
    proc = subprocess.Popen([sys.executable, "-m", "spikestream", "node", str(tmp_path / "p.toml"), "cam"])
    got = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sub.poll(100):
                got.append(P.unpack(sub.recv()))
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        sub.close(linger=0)
    s = EventSlicer(w, h, 10_000, "merge")
    s.push(ev)
    s.finish()
    want = s.pop_all()
    assert [m.body.t0_us for m in got] == [x.t0_us for x in want]
    assert sum(m.body.idx.size for m in got) == n
    assert all(m.t_us == m.body.t1_us and m.body.n_neurons == w * h for m in got)
    # paced at 4x: slices 10 ms of source time apart arrive about 2.5 ms of wall time apart
    origins = np.array([m.origin_ns for m in got])
    np.testing.assert_allclose(np.diff(origins), 2_500_000, atol=2)
