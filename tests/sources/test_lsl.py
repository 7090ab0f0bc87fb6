"""The LSL inlet against a real pylsl outlet on loopback (in the same process, or in one of its own that dies)."""

import os
import time
import uuid

import numpy as np
import pytest
from sources_live_helpers import collect, wait_for

pylsl = pytest.importorskip("pylsl")

from spikestream.sources.lsl import LSLSource  # noqa: E402
from spikestream.testing import NodeHarness  # noqa: E402



def _outlet(name, c=4, rate=1000.0, sid=None):
    info = pylsl.StreamInfo(name, "EMG", c, rate, "float32", sid or name)
    return pylsl.StreamOutlet(info)



@pytest.fixture
def name():
    return f"sstest-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def test_lsl_samples_and_timestamps_travel_exactly(name):
    out = _outlet(name)
    src = LSLSource(name=name, clocksync=False, resolve_timeout_s=0.2)
    try:
        assert src.wait_connected(10) and src.n_channels == 4 and src.rate_hz == 1000.0
        assert wait_for(lambda: out.have_consumers(), 5)
        t0 = pylsl.local_clock()
        x = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
        ts = t0 + np.arange(300) * 1e-3
        out.push_chunk(x, ts.tolist())
        t_us, data = collect(src, 300)
        np.testing.assert_array_equal(data, x)
        np.testing.assert_array_equal(t_us, np.round(ts * 1e6).astype(np.int64))
        assert src.stats["gaps"] == 0 and src.stats["samples"] == 300
        # a gap of 50 samples, a step back in time and a NaN row: counted, not passed on
        out.push_chunk(x[:10], (ts[-1] + (51 + np.arange(10)) * 1e-3).tolist())
        t2, _ = collect(src, 10)
        assert src.stats["gaps"] == 1 and src.stats["missing_samples"] == 50
        bad = x[:3].copy()
        bad[1, 2] = np.nan
        out.push_chunk(bad, (t2[-1] / 1e6 + np.array([1, 2, 3]) * 1e-3).tolist())
        out.push_chunk(x[:2], (t2[-1] / 1e6 + np.array([-5, 4]) * 1e-3).tolist())
        t3, _ = collect(src, 3)
        assert src.stats["rejected_nonfinite"] == 1 and src.stats["rejected_time"] == 1
        assert np.all(np.diff(np.concatenate([t_us, t2, t3])) > 0)
    finally:
        src.close()


# An outlet in a process of its own, pushing `value` rows at about 1 kHz until it is killed. A sender that
# disappears is a process that dies; tearing an outlet down in the test's own process while its inlet reads
# from it crashed liblsl once (SIGSEGV in StreamOutlet.__del__, tests/sinks).
_OUTLET_SCRIPT = """
import sys, time
import numpy as np, pylsl
name, value = sys.argv[1], float(sys.argv[2])
out = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", 2, 1000.0, "float32", name))
while True:
    out.push_chunk(np.full((5, 2), value, np.float32), (pylsl.local_clock() + np.arange(5) * 1e-3).tolist())
    time.sleep(0.005)
"""


def _outlet_process(name, value):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _OUTLET_SCRIPT, name, str(value)])


def test_lsl_source_disappears_and_comes_back(name):
    src = LSLSource(name=name, clocksync=False, stale_s=0.2, resolve_timeout_s=0.2)
    procs = [_outlet_process(name, 0.0)]
    try:
        assert src.wait_connected(15)
        assert wait_for(lambda: src.read(100).t_us.size > 0, 10)
        procs[0].kill()  # the sender dies
        procs[0].wait(10)
        assert wait_for(lambda: src.read(100).t_us.size == 0 and src.stats["stalls"] == 1, 10)
        procs.append(_outlet_process(name, 1.0))  # the same stream returns
        got = []

        def flowing():
            c = src.read(100)
            got.append(c.data[np.asarray(c.data)[:, 0] == 1.0].shape[0] if c.t_us.size else 0)
            return sum(got) > 0

        assert wait_for(flowing, 20)
        assert src.stats["gaps"] >= 1 and src.stats["stalls"] == 1
    finally:
        src.close()
        for p in procs:
            p.kill()
            p.wait(10)


def test_lsl_wrong_channel_count_is_refused_and_counted(name):
    out = _outlet(name, c=3)
    src = LSLSource(name=name, channels=5, resolve_timeout_s=0.1)
    try:
        assert wait_for(lambda: src.stats["rejected_streams"] >= 1, 10)
        assert not src.connected and src.read(10).t_us.size == 0
    finally:
        src.close()
    del out
    with pytest.raises(ValueError, match="name, type, source_id"):
        LSLSource()


def test_lsl_node_emits_with_origin_from_lsl_time(name):
    out = _outlet(name, c=2)
    h = NodeHarness("lsl_source", {"name": name, "clocksync": False}, name="lsl")
    node, got = h.node, h.out
    try:
        assert node.src.wait_connected(10) and wait_for(lambda: out.have_consumers(), 5)
        t0 = pylsl.local_clock()
        out.push_chunk(np.arange(20, dtype=np.float32).reshape(10, 2), (t0 + np.arange(10) * 1e-3).tolist())

        def polled():
            node.poll(time.time_ns())
            return sum(b.data.shape[0] for _, b, *_ in got) >= 10

        assert wait_for(polled, 10)
        now = time.time_ns()
        port, body, t_us, origin = got[0]
        assert port == "samples" and body.rate_hz == 1000.0 and t_us == body.t_us[-1]
        assert 0 <= now - origin < 5e9  # acquisition time mapped from LSL's clock onto the wall clock
        assert node.counters["samples"] == 10
        assert node.wake_at_ns() > now
    finally:
        node.close()
