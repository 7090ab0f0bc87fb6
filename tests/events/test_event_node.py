"""event_camera and frames_to_events nodes, driven without sockets through a capturing emit."""

import tracemalloc

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.emulator import FrameEmulator
from spikestream.events.filters import FilterChain
from spikestream.events.slicing import EventSlicer
from spikestream.protocol import Message, pack, unpack
from spikestream.registry import NODES
from spikestream.testing import NodeHarness

W, H = 40, 30
FILTERS = [{"kind": "refractory", "period_us": 500}, {"kind": "background_activity", "dt_us": 20_000}]


def _file(tmp_path, n=20_000, seed=0, name="ev.npy"):
    ev = ref.random_events(np.random.default_rng(seed), n, W, H, t_max=2_000_000)
    ev["t"] += 5_000
    path = tmp_path / name
    np.save(path, ev)
    return path, ev


def _node(kind, params):
    h = NodeHarness(kind, params, name="cam")
    return h.node, h.out  # h.out: (port, body, t_us, origin_ns) per emit


def _run_fast(n, limit=10_000):
    for i in range(limit):
        if n.finished:
            return
        n.poll(i)
    raise AssertionError("the node did not finish")


def _expected(ev, slice_us, polarity="both", filters=FILTERS, downsample=1):
    specs = [*filters, *([{"kind": "downsample", "factor": downsample}] if downsample > 1 else [])]
    chain = FilterChain(specs, W, H)
    s = EventSlicer(chain.out_width, chain.out_height, slice_us, polarity)
    s.push(chain(ev))
    s.finish()
    return s.pop_all(), s.n_neurons


@pytest.mark.parametrize("polarity,downsample", [("both", 1), ("merge", 2), ("on", 4)])
def test_fast_replay_emits_every_slice_of_the_filtered_stream(tmp_path, polarity, downsample):
    path, ev = _file(tmp_path)
    n, out = _node("event_camera", {"path": str(path), "width": W, "height": H, "speed": "fast", "slice_us": 10_000,
                                    "filters": FILTERS, "polarity": polarity, "downsample": downsample,
                                    "chunk_events": 777, "max_events_per_poll": 3000})
    _run_fast(n)
    want, n_neurons = _expected(ev, 10_000, polarity, downsample=downsample)
    got = [b for port, b, _, _ in out if port == "out"]
    assert len(got) == len(want) > 150
    for g, w in zip(got, want):
        assert (g.t0_us, g.t1_us, g.n_neurons) == (w.t0_us, w.t1_us, n_neurons)
        np.testing.assert_array_equal(g.idx, w.idx)
        np.testing.assert_array_equal(g.t_us, w.t_us)
    assert all(t == b.t1_us for port, b, t, _ in out)
    assert n.counters["events_in"] == ev.size and 0 < n.counters["events_kept"] < ev.size
    assert n.counters["slices_out"] == len(want)


def test_paced_replay_sends_each_slice_when_due(tmp_path):
    path, ev = _file(tmp_path, n=2000)
    n, out = _node("event_camera", {"path": str(path), "width": W, "height": H, "speed": 2.0, "slice_us": 100_000})
    t0 = 1_000_000_000
    n.poll(t0)
    assert out == []  # nothing is due yet
    first_t0 = (int(ev["t"][0]) // 100_000) * 100_000
    wake = n.wake_at_ns()
    assert wake == t0 + 100_000 * 1000 // 2  # one slice at double speed
    n.poll(wake - 1)
    assert out == []
    n.poll(wake)
    assert len(out) == 1 and out[0][1].t0_us == first_t0 and out[0][3] == wake
    n.poll(wake + 3 * 50_000_000 + 10)  # three more slices became due
    assert [o[3] - wake for o in out] == [0, 50_000_000, 100_000_000, 150_000_000]
    assert n.counters["slices_dropped"] == 0
    n.poll(wake + 10**10)  # the loop stalled for 10 s: stale slices are dropped, not queued
    assert n.counters["slices_dropped"] > 0


def test_loop_keeps_time_increasing(tmp_path):
    path, ev = _file(tmp_path, n=3000)
    n, out = _node("event_camera", {"path": str(path), "width": W, "height": H, "speed": 0, "slice_us": 50_000,
                                    "loop": True, "max_events_per_poll": 2000})
    for i in range(20):
        n.poll(i)
    assert not n.finished and n.counters["loops"] >= 2
    spikes = [b for port, b, _, _ in out if port == "out"]
    assert all(a.t1_us == b.t0_us for a, b in zip(spikes, spikes[1:]))  # contiguous windows, no gaps
    t = np.concatenate([b.t_us for b in spikes])
    assert np.all(np.diff(t) >= 0) and t[-1] > 2 * (ev["t"][-1] - ev["t"][0])


def test_state_restores_the_interrupted_run(tmp_path):
    path, ev = _file(tmp_path, n=8000)
    params = {"path": str(path), "width": W, "height": H, "speed": "fast", "slice_us": 20_000, "filters": FILTERS,
              "chunk_events": 500, "max_events_per_poll": 1000}
    full, out_full = _node("event_camera", params)
    _run_fast(full)
    a, out_a = _node("event_camera", params)
    for i in range(4):
        a.poll(i)
    state = {k: np.array(v, copy=True) for k, v in a.get_state().items()}
    b, out_b = _node("event_camera", params)
    b.set_state(state)
    _run_fast(b)
    got = [x[1] for x in out_a + out_b]
    want = [x[1] for x in out_full]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.t0_us, g.t1_us) == (w.t0_us, w.t1_us)
        np.testing.assert_array_equal(g.idx, w.idx)
    with pytest.raises(ValueError, match="replay"):
        b.set_state({})


def test_events_port_carries_valid_event_packets(tmp_path):
    path, ev = _file(tmp_path, n=3000)
    n, out = _node("event_camera", {"path": str(path), "width": W, "height": H, "speed": "fast",
                                    "slice_us": 100_000, "emit_events": True, "downsample": 2})
    _run_fast(n)
    evs = [b for port, b, _, _ in out if port == "events"]
    assert len(evs) == len([1 for port, *_ in out if port == "out"])
    assert sum(e.x.size for e in evs) == ev.size
    for e in evs[:5]:
        back = unpack(pack(Message(e, "cam.events", 0, e.t1_us, 0))).body
        assert (back.width, back.height) == (W // 2, H // 2)
        np.testing.assert_array_equal(back.x, e.x)


def test_large_file_streams_in_bounded_memory(tmp_path):
    n_ev = 3_000_000  # 39 MB on disk; the node must never hold it
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=EVENT_DTYPE, shape=(n_ev,))
    rng = np.random.default_rng(1)
    for a in range(0, n_ev, 500_000):
        k = min(500_000, n_ev - a)
        mm["x"][a:a + k] = rng.integers(0, W, k)
        mm["y"][a:a + k] = rng.integers(0, H, k)
        mm["t"][a:a + k] = np.arange(a, a + k)  # 1 Mev/s
        mm["p"][a:a + k] = rng.integers(0, 2, k)
    mm.flush()
    del mm
    count = [0]

    def emit(port, body, t_us, origin_ns):
        count[0] += body.idx.size

    node = NODES.get("event_camera")("cam", {"path": str(path), "width": W, "height": H, "speed": "fast",
                                             "slice_us": 1000, "filters": [{"kind": "refractory", "period_us": 1}],
                                             "max_events_per_poll": 1 << 18}, emit=emit)
    node.setup()
    node.poll(0)  # compile and warm up before measuring
    tracemalloc.start()
    try:
        i = 1
        while not node.finished:
            node.poll(i)
            i += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert node.counters["events_in"] == n_ev and count[0] == node.counters["events_kept"] > n_ev // 2
    assert peak < 16 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


def test_frames_to_events_node_matches_the_emulator(tmp_path):
    n_frames, h, w = 30, 12, 16
    xs = np.arange(w)[None, None, :]
    frames = 40 + 150 * (np.abs(xs - np.arange(n_frames)[:, None, None] * 0.5) < 2) * np.ones((1, h, 1))
    np.save(tmp_path / "frames.npy", frames.astype(np.float32))
    emu = {"pos_thres": 0.25, "neg_thres": 0.25, "sigma_thres": 0.02, "seed": 4}
    node, out = _node("frames_to_events", {"path": str(tmp_path / "frames.npy"), "frame_rate_hz": 100,
                                           "speed": "fast", "slice_us": 5_000, "emulator": emu, "polarity": "merge"})
    _run_fast(node)
    ev = FrameEmulator(w, h, **emu).feed(frames.astype(np.float32), np.arange(n_frames, dtype=np.int64) * 10_000)
    s = EventSlicer(w, h, 5_000, "merge")
    s.push(ev)
    s.finish()
    want = s.pop_all()
    got = [b for port, b, _, _ in out]
    assert len(got) == len(want) > 10 and ev.size > 100
    for g, x in zip(got, want):
        assert (g.t0_us, g.n_neurons) == (x.t0_us, w * h)
        np.testing.assert_array_equal(g.idx, x.idx)


def test_frames_to_events_loop_and_state(tmp_path):
    frames = np.stack([np.full((4, 5), 30.0 + 20 * (i % 5), np.float32) for i in range(10)])
    np.save(tmp_path / "f.npy", frames)
    p = {"path": str(tmp_path / "f.npy"), "frame_rate_hz": 50, "speed": "fast", "slice_us": 20_000, "loop": True,
         "emulator": {"sigma_thres": 0.0, "pos_thres": 0.1}, "max_events_per_poll": 200}
    node, out = _node("frames_to_events", p)
    for i in range(30):
        node.poll(i)
    assert node.counters["loops"] >= 2 and not node.finished
    t1 = [b.t1_us for _, b, _, _ in out]
    assert t1 == sorted(t1) and t1[-1] > 2 * 200_000
    other, out2 = _node("frames_to_events", p)
    other.set_state({k: np.array(v, copy=True) for k, v in node.get_state().items()})
    other.poll(0)
    assert out2 and out2[0][1].t0_us == out[-1][1].t1_us


@pytest.mark.parametrize("params,match", [
    ({}, "'path'"),
    ({"path": "X", "speed": -1}, "speed"),
    ({"path": "X", "bogus": 1}, "unknown parameter"),
    ({"path": "X", "polarity": "up"}, "polarity"),
    ({"path": "X", "slice_us": 0}, "slice_us"),
    ({"path": "X", "max_lag_s": "soon"}, "max_lag_s"),
    ({"path": "X", "filters": [{"kind": "nope"}]}, "unknown event filter"),
    ({"path": "/nonexistent.npy"}, "cannot open"),
])
def test_bad_parameters_are_refused_clearly(tmp_path, params, match):
    path, _ = _file(tmp_path, n=100)
    params = {k: (str(path) if v == "X" else v) for k, v in params.items()}
    params.setdefault("width", W)
    params.setdefault("height", H)
    with pytest.raises(ValueError, match=match):
        NODES.get("event_camera")("cam", params).setup()


def test_file_without_sensor_size_needs_width_and_height(tmp_path):
    path, _ = _file(tmp_path, n=100)
    with pytest.raises(ValueError, match="set width and height"):
        NODES.get("event_camera")("cam", {"path": str(path)}).setup()


def test_empty_file_finishes_without_output(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros(0, EVENT_DTYPE))
    n, out = _node("event_camera", {"path": str(tmp_path / "empty.npy"), "width": W, "height": H, "loop": True})
    _run_fast(n, 10)
    assert out == []


def test_speed_and_status_commands(tmp_path):
    path, ev = _file(tmp_path, n=2000)
    n, out = _node("event_camera", {"path": str(path), "width": W, "height": H, "speed": 1.0, "slice_us": 100_000})
    n.poll(0)
    assert n.on_command("speed", {"value": 4}) == {"speed": 4.0}
    n.poll(10**9)  # re-anchored here: the next slice is due a quarter slice later
    assert n.wake_at_ns() == 10**9 + 25_000_000
    st = n.on_command("status", {})
    assert st["speed"] == 4.0 and st["n_neurons"] == 2 * W * H and st["events_in"] > 0
    with pytest.raises(ValueError, match="speed"):
        n.on_command("speed", {"value": "slow"})
    with pytest.raises(ValueError, match="no command"):
        n.on_command("rewind", {})
