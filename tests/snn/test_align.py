"""Ring alignment (spikestream.snn.align): an armband rotated by one electrode is found without labels and
undone; an unrotated stream is left alone; decisions do not depend on how the stream is cut."""

import numpy as np
import pytest
from snn_reference import ring_spikes

from spikestream.snn.align import RingAlign

STEP_US = 25_000
RING, PER = 8, 2


def _stream(seconds, shift, seed, t0_us=0):
    return ring_spikes(seconds, shift, seed, t0_us, RING, PER, STEP_US)


def _feed(al, idx, t, packet_us):
    out = []
    end = int(t[-1]) + 1
    start = int(t[0])
    for a in range(start, end + packet_us, packet_us):
        m = (t >= a) & (t < a + packet_us)
        out.append(al.map(idx[m], t[m], a + packet_us))
    return np.concatenate(out)


def _learned(seconds=20):
    al = RingAlign(n_inputs=RING * PER, learn_s=seconds)
    idx, t = _stream(seconds + 1, 0, seed=1)
    _feed(al, idx, t, STEP_US)
    return al, int(t[-1]) + STEP_US


def test_rotation_found_within_30_s_and_undone():
    al, t_end = _learned()
    idx, t = _stream(30, 1, seed=2, t0_us=t_end)
    out = _feed(al, idx, t, STEP_US)
    assert al.shift == 1 and al.switches == 1
    # once switched, each aligned neuron carries what it carried during learning
    late = t >= t[-1] - 5_000_000
    counts_aligned = np.bincount(out[late], minlength=RING * PER)
    counts_raw = np.bincount(idx[late], minlength=RING * PER)
    assert np.array_equal(counts_aligned, np.roll(counts_raw, -PER))


def test_no_switch_without_rotation():
    al, t_end = _learned()
    _feed(al, *_stream(60, 0, seed=3, t0_us=t_end), STEP_US)
    assert al.shift == 0 and al.switches == 0


def test_learning_off_never_switches():
    al, t_end = _learned()
    al.learning = False
    idx, t = _stream(40, 1, seed=2, t0_us=t_end)
    out = _feed(al, idx, t, STEP_US)
    assert al.shift == 0 and np.array_equal(out, idx)


def test_chunk_invariant():
    a1, t_end = _learned()
    a2, _ = _learned()
    idx, t = _stream(30, 1, seed=2, t0_us=t_end)
    o1 = _feed(a1, idx, t, STEP_US)
    o2 = _feed(a2, idx, t, 7_000)
    assert np.array_equal(o1, o2)
    for k, v in a1.get_state().items():
        assert np.array_equal(v, a2.get_state()[k]), k


def test_state_round_trip_and_bad_state_refused():
    al, t_end = _learned()
    s = al.get_state()
    fresh = RingAlign(n_inputs=RING * PER, learn_s=20)
    fresh.set_state(s)
    idx, t = _stream(30, 1, seed=2, t0_us=t_end)
    assert np.array_equal(_feed(al, idx, t, STEP_US), _feed(fresh, idx, t, STEP_US))
    bad = dict(s, cw=np.full_like(s["cw"], np.nan))
    before = fresh.get_state()
    with pytest.raises(ValueError):
        fresh.set_state(bad)
    with pytest.raises(ValueError):
        fresh.set_state(dict(s, clock=np.array([0, 0, 99, 0, 0, 0])))
    for k, v in fresh.get_state().items():
        assert np.array_equal(v, before[k]), k


def test_bad_parameters():
    with pytest.raises(ValueError):
        RingAlign(n_inputs=15)
    with pytest.raises(ValueError):
        RingAlign(n_inputs=16, ratio=1.5)
    with pytest.raises(ValueError, match="codeword"):
        RingAlign(n_inputs=16, learn_s=0.5)
