"""Each compute node's `warm()` (issue 13, item 5): in a fresh process, after warm() the node's real messages
load no further kernel (every `Dispatcher.add_overload`, from Numba's cache or compiled, is counted), warm()
leaves the node's state as it was, and the node itself emits nothing during it. Without warm() the same
messages load the kernels then (the demo chain: 12 of them, measured), which is what the count would show."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
    import json, sys, tomllib
    import numpy as np
    from numba.core import dispatcher

    loads, armed = [], [False]
    _orig = dispatcher.Dispatcher.add_overload

    def _add_overload(self, cres):
        if armed[0]:
            loads.append(self.py_func.__qualname__)
        return _orig(self, cres)

    dispatcher.Dispatcher.add_overload = _add_overload
    from spikestream.testing import NodeHarness

    def warmed(h):
        before = {k: np.copy(v) for k, v in h.node.get_state().items()}
        h.node.warm()
        after = h.node.get_state()
        assert before.keys() == after.keys(), (h.name, sorted(before), sorted(after))
        changed = [k for k in before if not np.array_equal(before[k], after[k])]
        assert not changed, (h.name, changed)
        assert not h.out, (h.name, "emitted during warm()")
        return h
"""

DEMO = """
    from spikestream.runtime.demo import DEFAULT_PIPELINE
    cfg = tomllib.loads(DEFAULT_PIPELINE.read_text())["nodes"]
    src = warmed(NodeHarness(cfg["emg"]["kind"], {**cfg["emg"]["params"], "pace": "fast", "progress": False}, "emg"))
    snn = warmed(NodeHarness(cfg["snn"]["kind"], cfg["snn"]["params"], "snn"))
    out = warmed(NodeHarness(cfg["output"]["kind"], {**cfg["output"]["params"], "calibrate_s": 0.5}, "output"))
    armed[0] = True
    src.connect("spikes", snn).connect("out", out)
    src.connect("target", out, "target")
    for _ in range(30):  # 1920 rows: past the output's calibration, so the fit and the decoding run too
        src.poll()
    out.poll()
    packets = out.node.counters.get("packets", 0)
"""

LABELS = """
    # an LDA classifier calibrated by the target's phase column, with a vote, from an encoder node of its own
    enc = warmed(NodeHarness("encoder", {"kind": "delta", "threshold": 0.2,
                                         "conditioning": [{"kind": "bandpass", "low_hz": 20, "high_hz": 200}]}, "enc"))
    out = warmed(NodeHarness("control_output", {"decoder": {"kind": "lda", "n_inputs": 8, "n_classes": 3},
                                                 "calibrate": "target", "target_channels": [0], "phase_channel": 1,
                                                 "vote": 3, "safety": {"safe_value": 0}}, "output"))
    armed[0] = True
    from spikestream.protocol import Samples
    enc.connect("out", out)
    rng = np.random.default_rng(0)
    for k in range(60):
        t = np.arange(k * 10, (k + 1) * 10, dtype=np.int64) * 1000
        lab = np.c_[np.full(10, k // 5 % 3), np.full(10, 1.0 if k < 40 else 0.0)].astype(np.float32)
        out.send("target", Samples(t, lab, 1000.0))
        enc.send("in", Samples(t, rng.standard_normal((10, 4)).astype(np.float32), 1000.0))
    out.poll()
    packets = out.node.counters.get("packets", 0)
"""

EVENTS = """
    from spikestream.events.dtype import EVENT_DTYPE
    rng = np.random.default_rng(0)
    ev = np.zeros(20_000, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 40, ev.size), rng.integers(0, 30, ev.size)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 2_000_000, ev.size)), rng.integers(0, 2, ev.size)
    np.save("ev.npy", ev)
    filters = [{"kind": "refractory", "period_us": 500}, {"kind": "background_activity", "dt_us": 20_000}]
    cam = warmed(NodeHarness("event_camera", {"path": "ev.npy", "width": 40, "height": 30, "pace": "fast",
                                              "emit_events": True, "filters": filters}, "cam"))
    armed[0] = True
    while not cam.node.finished:
        cam.poll()
    packets = len(cam.emitted["out"])
"""

REPORT = 'print(json.dumps({"loads": loads, "packets": packets}))\n'


def _run(tmp_path, body):
    """Run PRELUDE + `body` in a fresh interpreter in `tmp_path`; `body` sets `packets` (what came out)."""
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(body) + REPORT
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_without_warm_the_same_messages_load_kernels(tmp_path):
    """The probe sees what warm() spares: with warm() a no-op, the first messages load the kernels."""
    got = _run(tmp_path, LABELS.replace("warmed(NodeHarness(", "(NodeHarness("))
    assert len(got["loads"]) >= 3, got


SYNFIRE = """
    # a template whose input connection is one_to_one: neither 1 nor 2 inputs build; warm() finds its size (100)
    from spikestream.protocol import Spikes
    snn = warmed(NodeHarness("snn", {"topology": "synfire", "topology_params": {"n_groups": 3}}, "snn"))
    armed[0] = True
    for k in range(20):
        idx = np.arange(100, dtype=np.uint32)
        snn.send("in", Spikes(k * 10_000, (k + 1) * 10_000, 100, idx, np.full(100, k * 10_000 + 500, np.int64)))
    packets = len(snn.emitted["out"])
"""


LIVE = """
    # a live source (LSL, serial, BrainFlow: LiveSourceNode) with an inline encoder: rows arrive as float32
    from spikestream.nodes.live_sources import LiveSourceNode
    from spikestream.sources._base import Chunk, TimeChecker, empty_chunk

    class Rows:  # what a live source does: rows through its TimeChecker, float32
        rate_hz, channels, stats = 1000.0, ["a", "b", "c"], {}

        def __init__(self):
            self.check, self.k = TimeChecker(1000.0, self.stats, None, "rows"), 0

        def read(self, n):
            if self.k >= 50:
                return empty_chunk(3)
            t = np.arange(self.k, self.k + 10, dtype=np.int64) * 1000
            self.k += 10
            t, d = self.check.admit(t, np.sin(t[:, None] * 1e-3 + np.arange(3)).astype(np.float32))
            return Chunk(t, d, 1)

        def close(self):
            pass

    class Live(LiveSourceNode):
        def _make_source(self):
            return Rows()

    h = warmed(NodeHarness(Live, {"encoder": {"kind": "delta", "threshold": 0.1}}, "live"))
    armed[0] = True
    h.poll()
    packets = len(h.emitted["spikes"])
"""


FRAMES = """
    # frames through the v2e-style emulator, replayed at twice the recorded pace (warm() replays its scratch fast)
    xs = np.arange(16)[None, None, :]
    frames = 40 + 150 * (np.abs(xs - np.arange(30)[:, None, None] * 0.5) < 2) * np.ones((1, 12, 1))
    np.save("frames.npy", frames.astype(np.float32))
    h = warmed(NodeHarness("frames_to_events", {"path": "frames.npy", "frame_rate_hz": 100, "speed": 2.0,
                                                "slice_us": 5_000, "emulator": {"seed": 4}}, "frames"))
    armed[0] = True
    h.run(t0_ns=0, step_ns=10**9)
    packets = len(h.emitted["out"])
"""


NO_CALIBRATION = """
    # a decoder the file does not calibrate (calibrate_s = 0), calibrated later by command
    from spikestream.protocol import Samples, Spikes
    out = warmed(NodeHarness("control_output", {"decoder": {"kind": "kalman", "n_inputs": 8, "n_outputs": 2},
                                                 "calibrate_s": 0.0}, "output"))
    armed[0] = True
    out.node.on_command("calibrate", {"on": True})
    for k in range(40):
        t = np.arange(k * 10, (k + 1) * 10, dtype=np.int64) * 1000
        out.send("target", Samples(t, np.full((10, 2), 0.5, np.float32), 1000.0))
        out.send("in", Spikes(int(t[0]), int(t[-1]) + 1000, 8, np.arange(8, dtype=np.uint32), t[:8]))
        if k == 30:
            out.node.on_command("calibrate", {"on": False})
    packets = out.node.counters.get("packets", 0)
"""


@pytest.mark.parametrize("body,lo,hi", [  # what the node(s) must put out: lo <= packets <= hi
    pytest.param(DEMO, 1001, math.inf, id="the_demo_chain"),
    pytest.param(LABELS, 60, 60, id="an_encoder_and_a_label_output"),
    pytest.param(EVENTS, 1001, math.inf, id="an_event_camera"),
    pytest.param(SYNFIRE, 20, 20, id="an_unsized_template_network"),
    pytest.param(LIVE, 5, 5, id="a_live_source_with_an_encoder"),
    # (without warm() the frames run loads _lin_log, _count, _emit, _map_events)
    pytest.param(FRAMES, 1, math.inf, id="frames_to_events"),
    pytest.param(NO_CALIBRATION, 40, 40, id="a_decoder_calibrated_by_command"),
])
def test_after_warm_the_nodes_messages_load_no_kernel(tmp_path, body, lo, hi):
    got = _run(tmp_path, body)
    assert lo <= got["packets"] <= hi, got["packets"]
    assert got["loads"] == []
