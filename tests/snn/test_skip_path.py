"""``outputs = ["input", ...]``: the input spikes pass through beside the network's (the readout's skip path)."""

import numpy as np
import pytest

from spikestream.snn import build_snn

P = {"dt_us": 1000, "seed": 3, "outputs": ["input", "hidden"],
     "layers": [{"name": "hidden", "n": 5, "model": "lif"}],
     "connections": [{"pre": "input", "post": "hidden", "rule": "all_to_all", "weight": 4.0, "delay_ms": 0.0}]}


def _input(seed=0, n=400):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 200_000, n)).astype(np.int64)
    return rng.integers(0, 3, n).astype(np.int64), t


def test_inputs_pass_through_first_stamped_by_step():
    idx, t = _input()
    net = build_snn(P, 3)
    assert net.n_outputs == 3 + 5
    oi, ot = net.advance(idx, t, 200_000)
    inp = oi < 3
    assert np.array_equal(oi[inp], idx)                  # every input spike, in order
    assert np.array_equal(ot[inp], t // 1000 * 1000)     # stamped with its step's start
    assert np.all(np.diff(ot) >= 0)
    plain = build_snn({**P, "outputs": ["hidden"]}, 3)
    hi, ht = plain.advance(idx, t, 200_000)
    assert np.array_equal(oi[~inp] - 3, hi) and np.array_equal(ot[~inp], ht)  # the network is unchanged
    assert hi.size > 0


def test_chunk_invariant():
    idx, t = _input(1)
    a = build_snn(P, 3)
    whole = a.advance(idx, t, 200_000)
    b = build_snn(P, 3)
    parts = []
    for lo in range(0, 200_000, 7_300):
        m = (t >= lo) & (t < lo + 7_300)
        parts.append(b.advance(idx[m], t[m], min(lo + 7_300, 200_000)))
    assert np.array_equal(whole[0], np.concatenate([p[0] for p in parts]))
    assert np.array_equal(whole[1], np.concatenate([p[1] for p in parts]))


def test_input_must_come_first():
    with pytest.raises(ValueError, match="first output"):
        build_snn({**P, "outputs": ["hidden", "input"]}, 3)
