import numpy as np
import pytest

from spikestream.protocol import Samples, pack, unpack, Message
from spikestream.sources.synthetic import EMGSynth
from spikestream.testing import NodeHarness

T0 = 1_700_000_000_000_000_000


def _node(**params):
    h = NodeHarness("emg_synth", params, name="emg")
    return h.node, h.out  # h.out: (port, body, t_us, origin_ns) per emit


def test_realtime_pacing_emits_due_samples_with_acquisition_origin():
    n, out = _node(channels=4, rate_hz=1000, dof=2, seed=1, chunk=1)
    assert n.wake_at_ns() is None
    n.poll(T0)
    assert [p for p, *_ in out] == ["samples", "target", "gesture"]  # sample 0 is due at the first poll
    assert n.wake_at_ns() == T0 + 1_000_000
    n.poll(T0 + 10_400_000)  # samples 1..10 are due
    samples = [(b, t, o) for p, b, t, o in out if p == "samples"]
    assert len(samples) == 11
    for k, (b, t, o) in enumerate(samples):
        assert b.t_us.tolist() == [k * 1000] and t == k * 1000 and o == T0 + k * 1_000_000
        assert b.data.shape == (1, 4) and b.rate_hz == 1000
    assert n.wake_at_ns() == T0 + 11_000_000
    n.poll(T0 + 10_900_000)
    assert len([1 for p, *_ in out if p == "samples"]) == 11  # nothing new is due


def test_chunks_concatenate_to_the_source_stream_and_survive_the_wire():
    n, out = _node(channels=3, rate_hz=2000, seed=5, chunk=7)
    n.poll(T0)
    assert out == []  # a 7-sample chunk is not complete at t=0
    assert n.wake_at_ns() == T0 + 3_000_000
    n.poll(T0 + 99_000_000)
    s = [b for p, b, *_ in out if p == "samples"]
    assert len(s) == 198 // 7 and all(b.data.shape == (7, 3) for b in s)
    ref = EMGSynth(n_channels=3, rate_hz=2000, seed=5).read(7 * len(s))
    np.testing.assert_array_equal(np.concatenate([b.data for b in s]), ref.data)
    tg = np.concatenate([b.data for p, b, *_ in out if p == "target"])
    np.testing.assert_array_equal(tg, ref.target)
    m = unpack(pack(Message(s[0], stream="emg", seq=0, t_us=int(s[0].t_us[-1]), origin_ns=T0)))
    np.testing.assert_array_equal(m.body.data, s[0].data)


def test_stall_drops_stale_samples_and_counts_them():
    n, out = _node(channels=2, rate_hz=1000, chunk=10, max_lag_s=0.1, truth=False)
    n.poll(T0)
    n.poll(T0 + 5_000_000_000)  # the loop stalled 5 s
    s = [b for p, b, *_ in out if p == "samples"]
    assert n.counters["dropped_samples"] > 4800
    assert sum(b.data.shape[0] for b in s) <= 110
    assert s[-1].t_us[-1] == 4_999_000  # caught up: rows 0..5000 are due, the last full 10-row chunk ends at 4999
    assert {p for p, *_ in out} == {"samples"}


def test_fast_mode_and_finite_duration():
    n, out = _node(channels=2, rate_hz=1000, chunk=50, pace="fast", duration_s=1.0, fast_msgs_per_poll=8)
    polls = 0
    while not n.finished and polls < 100:
        assert n.wake_at_ns() == 0
        n.poll(T0 + polls)
        polls += 1
    s = [b for p, b, *_ in out if p == "samples"]
    assert n.finished and sum(b.data.shape[0] for b in s) == 1000 and polls == 3


def test_state_restore_resumes_rows():
    a, out_a = _node(channels=2, chunk=5, seed=3)
    a.poll(T0)
    a.poll(T0 + 49_000_000)
    b, out_b = _node(channels=2, chunk=5, seed=3)
    b.set_state(a.get_state())
    b.poll(T0 + 10**12)  # restored row 50 is due now; its 5-sample chunk 4 ms later
    assert not out_b
    b.poll(T0 + 10**12 + 4_000_000)
    a.poll(T0 + 54_000_000)
    sa = [x for p, x, *_ in out_a if p == "samples"][-1]
    sb = [x for p, x, *_ in out_b if p == "samples"][0]
    np.testing.assert_array_equal(sa.t_us, sb.t_us)
    np.testing.assert_array_equal(sa.data, sb.data)


@pytest.mark.parametrize("params,match", [
    (dict(chunk=0), "chunk"), (dict(pace="slow"), "pace"), (dict(channels=0), "channels"),
    (dict(rate_hz="x"), "rate_hz"),
])
def test_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        _node(**params)


def test_truth_chunk_batches_the_ground_truth_and_flushes_the_rest_at_close():
    n, out = _node(channels=2, rate_hz=1000, seed=3, chunk=1, truth_chunk=10)
    n.poll(T0)
    n.poll(T0 + 24_500_000)  # samples 0..24 are due
    s = [b for p, b, *_ in out if p == "samples"]
    tg = [(b, t, o) for p, b, t, o in out if p == "target"]
    assert len(s) == 25 and [b.t_us.size for b, *_ in tg] == [10, 10]
    for j, (b, t, o) in enumerate(tg):  # stamped with the last row's time and the first row's acquisition
        assert b.t_us.tolist() == [k * 1000 for k in range(10 * j, 10 * j + 10)]
        assert t == (10 * j + 9) * 1000 and o == T0 + 10 * j * 1_000_000
    n.close()
    tg = [b for p, b, *_ in out if p == "target"]
    assert [b.t_us.size for b in tg] == [10, 10, 5]
    ref = EMGSynth(n_channels=2, rate_hz=1000, seed=3).read(25)
    np.testing.assert_array_equal(np.concatenate([b.data for b in tg]), ref.target)
    ges = [b for p, b, *_ in out if p == "gesture"]
    np.testing.assert_array_equal(np.concatenate([b.data[:, 0] for b in ges]), ref.gesture)
