import numpy as np
import pytest
import decode_helpers as hp

import spikestream.nodes  # noqa: F401  (registers node kinds)
from spikestream.protocol import Control, Message, Samples, Spikes
from spikestream.testing import NodeHarness

N, K, DT = 20, 2, 10_000


class Clock:
    def __init__(self):
        self.t = 1_000_000_000_000

    def __call__(self):
        return self.t


def _node(**params):
    base = {"decoder": {"kind": "linear_rls", "n_inputs": N, "n_outputs": K, "tau_ms": 80.0},
            "safety": {"lo": -3.0, "hi": 3.0, "timeout_s": 0.3}, "calibrate_s": 15.0}
    base.update(params)
    h = NodeHarness("control_output", base, name="out", setup=False)
    clk = Clock()
    h.node.clock_ns = h.node.wall_ns = clk  # one fake clock for both (the node's monotonic one and the wall)
    h.node.setup()
    return h.node, h.out, clk


def _at(n, clk, t_ns):
    """Move the fake clock to ``t_ns`` and run the watchdog tick there."""
    clk.t = t_ns
    n.poll(t_ns)


def _stream(T, seed=0):
    rng = np.random.default_rng(seed)
    tt = np.arange(T) * DT / 1e6
    Y = np.stack([np.sin(2 * np.pi * 0.4 * tt), np.cos(2 * np.pi * 0.25 * tt)], 1)
    G = rng.normal(size=(N, K))
    return hp.poisson_packets(30 * np.clip(1 + 0.8 * Y @ G.T, 0.05, None), DT, seed), Y


def _feed(n, clk, pk, Y, lo, hi, with_target=True, step_ns=DT * 1000):
    for k in range(lo, hi):
        i, t, t0, t1 = pk[k]
        if with_target:
            n.on_message("target", Message(Samples(np.array([t0], np.int64), Y[k:k + 1].astype(np.float32)), "tgt", k, t0))
        clk.t += step_ns
        n.on_message("in", Message(Spikes(t0, t1, N, i.astype(np.uint32), t), "sp", k, t0, origin_ns=clk.t - 1000))
        n.poll(clk.t)


def test_calibrates_then_freezes_and_tracks_target():
    n, out, clk = _node()
    pk, Y = _stream(2500)
    _feed(n, clk, pk, Y, 0, 2500)
    assert len(out) == 2500 and all(o[0] == "out" and isinstance(o[1], Control) and not o[1].safe for o in out)
    assert out[-1][2] == pk[-1][3] and out[-1][3] == clk.t - 1000  # t_us = packet end, origin passed through
    assert not n.decoder.calibrating
    est = np.array([o[1].values for o in out[1600:]])
    for k in range(K):
        assert np.corrcoef(est[:, k], Y[1600:, k])[0, 1] > 0.85
    assert n.on_command("stats", {})["counters"]["packets"] == 2500


def test_target_alignment_uses_sample_at_or_before_packet_end():
    n, out, clk = _node()
    n.on_message("target", Message(Samples(np.array([0, 5000, 10_000, 20_000], np.int64),
                                           np.arange(8, dtype=np.float32).reshape(4, 2)), "tgt", 0, 0))
    assert np.array_equal(n.targets.at(10_000), [4, 5])
    assert np.array_equal(n.targets.at(19_999), [4, 5])
    assert n.targets.at(-1) is None
    assert n.targets.at(20_000 + 100_001) is None  # older than target_max_age_ms


def test_watchdog_emits_safe_once_per_repeat_and_recovers():
    n, out, clk = _node(safety={"lo": -3.0, "hi": 3.0, "timeout_s": 0.3, "safe_value": [0.5, -0.5]}, safe_repeat_s=0.1)
    pk, Y = _stream(100)
    _feed(n, clk, pk, Y, 0, 50)
    assert not any(o[1].safe for o in out)
    wake = n.wake_at_ns()
    assert wake == pytest.approx(clk.t + 0.3e9, abs=2)
    _at(n, clk, wake - 10_000)
    assert not out[-1][1].safe
    _at(n, clk, wake)  # timeout + one tick
    assert out[-1][1].safe and np.array_equal(out[-1][1].values, [0.5, -0.5])
    k = len(out)
    for dt_ms in (1, 2, 50):
        _at(n, clk, wake + dt_ms * 1_000_000)
    assert len(out) == k  # not repeated within safe_repeat_s
    _at(n, clk, wake + 100_000_000)
    assert len(out) == k + 1 and out[-1][1].safe
    clk.t = wake + 200_000_000
    _feed(n, clk, pk, Y, 50, 60)
    assert not out[-1][1].safe and not n.on_command("stats", {})["safe"]
    _at(n, clk, n.wake_at_ns())  # a second outage is a second trip, reported at once
    assert out[-1][1].safe and n.counters["watchdog_trips"] == 2


def test_calibrate_command_and_state_roundtrip():
    n, out, clk = _node(calibrate_s=0.0)
    pk, Y = _stream(600)
    assert not n.decoder.calibrating
    assert n.on_command("calibrate", {"on": True}) == {"calibrating": True}
    _feed(n, clk, pk, Y, 0, 400)
    n.on_command("calibrate", {"on": False})
    W = n.decoder.W.copy()
    assert np.abs(W).sum() > 0
    st = n.get_state()
    m, out2, clk2 = _node(calibrate_s=0.0)
    m.set_state(st)
    clk2.t = clk.t
    _feed(n, clk, pk, Y, 400, 600)
    _feed(m, clk2, pk, Y, 400, 600)
    assert np.array_equal(m.decoder.W, W)
    assert all(np.array_equal(a[1].values, b[1].values) for a, b in zip(out[-200:], out2[-200:]))
    with pytest.raises(ValueError):
        n.on_command("calibrate", {"on": "yes"})
    with pytest.raises(ValueError, match="no command"):
        n.on_command("fly", {})


def test_bad_packets_are_counted_not_fatal():
    n, out, clk = _node()
    n.on_message("in", Message(Spikes(0, 10, N + 1, np.array([N], np.uint32), np.array([3], np.int64)), "sp", 0, 0))
    n.on_message("in", Message(Spikes(100, 200, N, np.zeros(0, np.uint32), np.zeros(0, np.int64)), "sp", 1, 0))
    n.on_message("in", Message(Spikes(150, 190, N, np.array([1, 0], np.uint32), np.array([170, 160], np.int64)), "sp", 2, 0))
    assert n.counters["rejected_packets"] == 2 and len(out) == 1


def test_upstream_time_restart_restarts_features_keeps_learning():
    n, out, clk = _node(calibrate_s=2.0)
    pk, Y = _stream(600)
    _feed(n, clk, pk, Y, 0, 400)
    W = n.decoder.W.copy()
    assert not n.decoder.calibrating
    _feed(n, clk, pk, Y, 0, 100)  # the upstream restarted from source time 0
    assert n.counters["time_restarts"] == 1 and "rejected_packets" not in n.counters
    assert len(out) == 500 and np.array_equal(n.decoder.W, W) and not n.decoder.calibrating


@pytest.mark.filterwarnings("error")  # no integer overflow anywhere
def test_one_packet_far_in_the_future_neither_overflows_nor_recalibrates():
    n, out, clk = _node(calibrate_s=2.0)
    pk, Y = _stream(600)
    _feed(n, clk, pk, Y, 0, 400)
    W = n.decoder.W.copy()
    far = 3 * 2 ** 61  # a valid int64 time; twice its distance from 0 is not
    for lo in (400, 450):  # twice: the second jump used to overflow the schedule back into calibration
        clk.t += DT * 1000
        n.on_message("in", Message(Spikes(far, far + DT, N, np.zeros(0, np.uint32), np.zeros(0, np.int64)), "sp", lo,
                                   far))
        _feed(n, clk, pk, Y, lo, lo + 50)  # the stream goes on where it was
    assert not n.decoder.calibrating and np.array_equal(n.decoder.W, W)
    assert n.counters["time_restarts"] == 2 and "calib_no_target" not in n.counters
    assert len(out) == 502


@pytest.mark.parametrize("params, msg", [
    ({"decoder": {"kind": "nope", "n_inputs": 2, "n_outputs": 1}}, "unknown decoder"),
    ({"decoder": {"n_inputs": 2}}, "kind"),
    ({"speed": 3}, "unknown parameter"),
    ({"safety": {"lo": 1, "hi": 0}}, "below"),
    ({"safety": {"timeout": 1}}, "unknown parameter"),
    ({"names": ["a"]}, "names"),
    ({"sinks": [{"kind": "carrier_pigeon"}]}, "unknown sink"),
])
def test_bad_params(params, msg):
    with pytest.raises(ValueError, match=msg):
        _node(**params)


@pytest.mark.parametrize("kind", ["kalman", "linear_lms", "population_vector"])
def test_restored_node_continues_exactly(kind):
    dec = {"kind": kind, "n_inputs": N, "n_outputs": K}
    n, out, clk = _node(decoder=dec, calibrate_s=2.0)
    pk, Y = _stream(600)
    _feed(n, clk, pk, Y, 0, 400)
    m, out2, clk2 = _node(decoder=dec, calibrate_s=2.0)
    m.set_state(n.get_state())
    assert not m.decoder.calibrating
    clk2.t = clk.t
    _feed(n, clk, pk, Y, 400, 600)
    _feed(m, clk2, pk, Y, 400, 600)
    assert all(np.array_equal(a[1].values, b[1].values) for a, b in zip(out[-200:], out2[-200:]))
    with pytest.raises(ValueError, match="clock"):
        m.set_state({})


def test_calibration_without_usable_targets_is_reported():
    n, out, clk = _node(decoder={"kind": "lda", "n_inputs": N, "n_classes": 3}, calibrate_s=0.5)
    pk, _ = _stream(100)
    ones = np.zeros((100, 1))  # only class 0 ever shown: LDA cannot be fitted
    _feed(n, clk, pk, ones, 0, 100)
    assert n.counters["calibration_failed"] == 1 and np.all([o[1].values == 0 for o in out])


def test_target_alignment_is_chunk_invariant():
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(1, 3000, 500)).astype(np.int64)
    y = rng.normal(size=(500, 2)).astype(np.float32)
    a, _, _ = _node(target_buffer=600)
    a.on_message("target", Message(Samples(t, y), "tgt", 0, 0))
    b, _, _ = _node(target_buffer=600)
    i = 0
    while i < 500:
        k = int(rng.integers(1, 40))
        b.on_message("target", Message(Samples(t[i:i + k], y[i:i + k]), "tgt", i, int(t[i])))
        i += k
    for q in rng.integers(0, int(t[-1]) + 200_000, 300):
        ra, rb = a.targets.at(int(q)), b.targets.at(int(q))
        assert (ra is None and rb is None) or np.array_equal(ra, rb)
