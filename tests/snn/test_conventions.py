"""Engine conventions (issue 12, item 7): time -> step rounding as in Brian2 2.9, and spikes a neuron would
fire beyond one per step counted and warned about. The spike-for-spike Brian2 comparisons of the two rounding
cases are in test_brian2_lif.py (slow); these are the fast checks."""

import logging

import numpy as np
import pytest

from spikestream.snn import build_snn
from spikestream.snn.steps import delay_steps, refractory_steps


def test_refractory_steps_follow_brian2_timestep():
    # floor(t_ref/dt + 1e-3): not rounded to nearest, robust to float error on exact multiples
    assert refractory_steps(2.7, 1.0) == 2
    assert refractory_steps(2.0, 1.0) == 2
    assert refractory_steps(0.3 * 3, 0.3) == 3   # 0.8999999999999999 / 0.3 = 2.9999999999999996
    assert refractory_steps(0.5, 1.0) == 0
    assert refractory_steps(0.0, 0.1) == 0


def test_half_step_delays_round_up_as_in_brian2():
    np.testing.assert_array_equal(delay_steps([0.5, 1.5, 2.5, 2.49, 0.0, 3.0], 1.0), [1, 2, 3, 2, 0, 3])


def test_network_uses_the_conventions():
    snn = build_snn({"dt_us": 1000, "layers": [{"name": "a", "n": 3, "t_ref_ms": 2.7}],
                     "connections": [{"pre": "input", "post": "a", "rule": "one_to_one", "weight": 1.0,
                                      "delay_ms": 2.5}]}, 3)
    assert set(snn.connectivity("input->a")[2]) == {3}
    a, b = snn.layers["a"]
    st = snn.get_state()
    st["refr"][a:b] = 2
    snn.set_state(st)          # 2 refractory steps is within this layer's range
    st["refr"][a:b] = 3        # a checkpoint from the round-to-nearest days (2.7 ms -> 3 steps): cut to 2
    snn.set_state(st)
    assert set(snn.get_state()["refr"][a:b]) == {2}
    st["refr"][a:b] = 4
    with pytest.raises(ValueError, match="refr"):
        snn.set_state(st)


def _chattering(dt_us, n=4, drive=(10.0, 20.0, 40.0, 80.0)):
    snn = build_snn({"dt_us": dt_us, "layers": [{"name": "ch", "n": n, "model": "izhikevich",
                                                 "preset": "CH"}]}, 1)
    snn.set_bias("ch", np.array(drive[:n]))
    return snn


def test_spikes_beyond_one_per_step_are_counted_and_warned_once(caplog):
    """Izhikevich chattering under strong constant drive at dt = 1 ms (10 sub-steps of 0.1 ms) crosses
    threshold more than once in some steps. The same neurons at dt = 0.1 ms do exactly the same arithmetic
    (one sub-step of 0.1 ms per step) and emit every spike: the coarse run's output plus its `lost_spikes`
    must equal the fine run's spike count, neuron by neuron."""
    T = 2_000_000
    fine = _chattering(100)
    fi, _ = fine.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), T)
    assert fine.lost_spikes == 0
    coarse = _chattering(1000)
    with caplog.at_level(logging.WARNING, logger="spikestream.snn"):
        ci = np.concatenate([coarse.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), t)[0]
                             for t in range(100_000, T + 1, 100_000)])
    n_fine = np.bincount(fi, minlength=4)
    n_coarse = np.bincount(ci, minlength=4)
    lost = n_fine - n_coarse
    assert lost.sum() > 0, "vacuous: no neuron fired twice in a step"
    assert coarse.lost_spikes == lost.sum()
    st = coarse.stats()
    assert st["lost_spikes"] == {"ch": int(lost.sum())}
    warnings = [r for r in caplog.records if "more than once" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]   # once per network, not per call
    assert "'ch'" in warnings[0].getMessage()


def test_crossing_models_count_their_extra_crossings_too():
    """FitzHugh-Nagumo run 50x faster (time_scale_ms = 0.02: a period of ~0.7 ms) crosses v_th more than once
    per 1 ms step; at dt = 2 us (one 2 us sub-step, the same arithmetic) every crossing is a spike."""
    def run(dt_us):
        snn = build_snn({"dt_us": dt_us, "layers": [{"name": "f", "n": 3, "model": "fhn", "time_scale_ms": 0.02,
                                                     "substep_ms": 0.002}]}, 1)
        snn.set_bias("f", np.array([0.5, 0.8, 1.2]))
        i, _ = snn.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), 200_000)
        return np.bincount(i, minlength=3), snn
    fine, fine_snn = run(2)
    coarse, coarse_snn = run(1000)
    assert fine_snn.lost_spikes == 0
    assert (fine - coarse).sum() > 100 and np.all(coarse > 0)
    assert coarse_snn.lost_spikes == (fine - coarse).sum()
