"""spikestream.sources.pacing: one pacing for every replaying node, and the nodes' two spellings of it."""

import numpy as np
import pytest

from spikestream.sources.pacing import Pacer, pacing_speed
from spikestream.testing import NodeHarness

T0 = 1_700_000_000_000_000_000


def test_due_times_follow_the_recorded_pace_times_speed_and_never_come_early():
    p = Pacer(speed=3.0)
    assert not p.anchored and not p.fast
    p.anchor(T0, 1_000)
    assert p.due_ns(1_000) == T0
    assert p.due_ns(1_001) == T0 + 334  # 333.3 ns rounds up: never before it is due
    assert p.source_us(T0 + 3_000_000) == 1_000 + 9_000
    p.anchor(T0, 5_000, t0_us=1_000)  # measured from a base: the same rounding whatever row anchored
    assert p.due_ns(5_000) == T0 and p.due_ns(5_001) == T0 + 333  # ceil(4_001_000 / 3) - ceil(4_000_000 / 3)
    p.set_speed(0)
    assert p.fast and not p.anchored
    with pytest.raises(ValueError):
        p.anchor(T0, 0)


def test_stale_rows_and_slices():
    p = Pacer(1.0, max_lag_s=0.1)
    assert not p.overdue(T0, T0 + 100_000_000) and p.overdue(T0, T0 + 100_000_001)
    assert p.rows_to_drop(5001, 1000.0, 10) == 4900  # keep 100 rows (0.1 s), whole chunks
    assert p.rows_to_drop(100, 1000.0, 10) == 0
    never = Pacer(1.0)
    assert never.rows_to_drop(10**9, 1000.0, 10) == 0 and not never.overdue(0, 10**18)
    with pytest.raises(ValueError):
        Pacer(-1.0)


def test_pace_and_speed_name_the_same_thing():
    assert pacing_speed({"pace": "fast", "speed": 2.0}) == 0.0
    assert pacing_speed({"pace": "realtime", "speed": 2.0}) == 2.0
    assert pacing_speed({"speed": 0.0}) == 0.0


def _samples(params):
    h = NodeHarness("emg_synth", {"channels": 2, "chunk": 50, "duration_s": 1.0, **params})
    polls = 0
    while not h.node.finished and polls < 100:
        assert h.node.wake_at_ns() == 0
        h.poll(T0 + polls)
        polls += 1
    return np.concatenate([b.data for b in h.bodies("samples")])


@pytest.mark.parametrize("fast", [{"speed": 0}, {"speed": "fast"}])
def test_a_samples_source_takes_the_event_nodes_spelling_of_fast(fast):
    np.testing.assert_array_equal(_samples(fast), _samples({"pace": "fast"}))


def test_an_event_node_takes_the_samples_sources_spelling_of_fast(tmp_path):
    ev = np.zeros(2000, [("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
    rng = np.random.default_rng(0)
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 8, 2000), rng.integers(0, 6, 2000), rng.integers(0, 2, 2000)
    ev["t"] = np.sort(rng.integers(0, 200_000, 2000))
    np.save(tmp_path / "ev.npy", ev)
    got = {}
    for name, fast in (("speed", {"speed": "fast"}), ("pace", {"pace": "fast"})):
        h = NodeHarness("event_camera", {"path": str(tmp_path / "ev.npy"), "width": 8, "height": 6,
                                         "slice_us": 10_000, **fast})
        for i in range(1000):
            if h.node.finished:
                break
            assert h.node.wake_at_ns() in (0, None)
            h.poll(T0 + i)
        got[name] = [(b.t1_us, b.idx.tolist()) for b in h.bodies("out")]
    assert len(got["pace"]) == 20 and got["pace"] == got["speed"]


@pytest.mark.parametrize("fast", ['pace = "fast"', "speed = 0", 'speed = "fast"'])
def test_every_spelling_of_a_fast_replay_is_warned_about_without_lossless_flow(tmp_path, caplog, fast):
    from spikestream.runtime import pipeline

    p = tmp_path / "p.toml"
    p.write_text(f"""
[nodes.src]
kind = "emg_synth"
outputs = {{ samples = "ipc://{tmp_path}/s" }}
params = {{ {fast} }}
[nodes.relay]
kind = "relay"
inputs = {{ in = "src.samples" }}
outputs = {{ out = "ipc://{tmp_path}/r" }}
""")
    pipeline.load(p)
    assert any("lossless" in r.message and r.levelname == "WARNING" for r in caplog.records)
