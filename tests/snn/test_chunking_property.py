"""Property: any split of the input stream and of until_us gives bit-identical output and state."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_reference import poisson_input

from spikestream.snn import build_snn

PARAMS = {
    "dt_us": 700, "seed": 5,
    "layers": [{"name": "a", "n": 12, "model": "izhikevich", "preset": "CH", "noise": 0.3},
               {"name": "b", "n": 6, "model": "lif", "wta_k": 2, "theta_plus": 0.3, "tau_theta_ms": 50.0}],
    "connections": [
        {"pre": "input", "post": "a", "weight": {"init": "uniform", "low": 0, "high": 8.0},
         "delay_ms": {"low": 0, "high": 4}, "plasticity": {"rule": "stdp_pair", "w_max": 10.0}},
        {"pre": "a", "post": "b", "weight": {"init": "uniform", "low": 0, "high": 6.0},
         "plasticity": {"rule": "stdp_triplet", "preset": "hippocampal_nearest", "w_max": 8.0}},
        {"pre": "b", "post": "a", "weight": 2.0, "receptor": "inh", "delay_ms": 1.4}],
    "outputs": ["a", "b"],
}
T = 150_000
IDX, TT = poisson_input(8, 60.0, T, seed=3)


def _run(cuts):
    snn = build_snn(PARAMS, 8)
    snn.start(0)
    prev, oi, ot = 0, [], []
    for c in list(cuts) + [T]:
        sel = (TT >= prev) & (TT < c)
        i, t = snn.advance(IDX[sel], TT[sel], c)
        oi.append(i)
        ot.append(t)
        prev = c
    return np.concatenate(oi), np.concatenate(ot), snn.get_state()


WHOLE = None


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, T - 1), max_size=40).map(lambda xs: sorted(set(xs))))
def test_any_split_gives_the_same_run(cuts):
    global WHOLE
    if WHOLE is None:
        WHOLE = _run([])
    oi, ot, s = _run(cuts)
    assert WHOLE[0].size > 50
    np.testing.assert_array_equal(oi, WHOLE[0])
    np.testing.assert_array_equal(ot, WHOLE[1])
    for k, v in s.items():
        np.testing.assert_array_equal(v, WHOLE[2][k], err_msg=k)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, T - 1), st.integers(1, T - 1))
def test_save_restore_anywhere_continues_exactly(cut, until):
    import io
    global WHOLE
    if WHOLE is None:
        WHOLE = _run([])
    a = build_snn(PARAMS, 8)
    a.start(0)
    sel = TT < cut
    oi1, ot1 = a.advance(IDX[sel], TT[sel], min(cut, until))   # inputs up to `cut`, clock possibly behind
    buf = io.BytesIO()
    np.savez(buf, **a.get_state())
    buf.seek(0)
    b = build_snn(PARAMS, 8)
    with np.load(buf) as z:
        b.set_state(dict(z))
    oi2, ot2 = b.advance(IDX[~sel], TT[~sel], T)
    np.testing.assert_array_equal(np.concatenate([oi1, oi2]), WHOLE[0])
    np.testing.assert_array_equal(np.concatenate([ot1, ot2]), WHOLE[1])
