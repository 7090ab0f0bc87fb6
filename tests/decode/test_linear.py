import numpy as np
import pytest
import decode_helpers as hp
import decode_reference as ref

from spikestream.decode.features import BoxCounts, ExpRates
from spikestream.registry import DECODERS


def _tuned(T=1500, N=30, K=2, dt_us=10_000, seed=1):
    rng = np.random.default_rng(seed)
    tt = np.arange(T) * dt_us / 1e6
    Y = np.stack([np.sin(2 * np.pi * 0.3 * tt + k) for k in range(K)], 1)
    G = rng.normal(size=(N, K))
    rates = 30 * np.clip(1 + 0.8 * Y @ G.T, 0.05, None)
    return hp.poisson_packets(rates, dt_us, seed), Y


def test_exp_rates_match_definition_and_are_chunk_invariant():
    pk, _ = _tuned(T=300)
    idx, t = hp.concat(pk)
    whole = ExpRates(30, 37.0)
    whole.add(idx, t)
    rng = np.random.default_rng(5)
    parts = ExpRates(30, 37.0)
    for i, tt, t0, t1 in hp.rechunk(pk, rng):
        parts.add(i, tt)
        if rng.random() < 0.3:  # reading must not change the state
            parts.read(t1, np.zeros(30))
    T = pk[-1][3]
    a, b = whole.read(T, np.zeros(30)), parts.read(T, np.zeros(30))
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a, ref.exp_rates(idx, t, T, 30, 37.0), rtol=1e-9)


def test_box_counts_match_definition_chunked_and_overflow_counted():
    pk, _ = _tuned(T=200)
    rng = np.random.default_rng(2)
    bc = BoxCounts(30, 55.0)
    idx, t = hp.concat(pk)
    for i, tt, t0, t1 in hp.rechunk(pk, rng):
        c = bc.advance(i, tt, t1)
        assert np.array_equal(c, ref.box_counts(idx, t, t1, 30, 55.0))
    small = BoxCounts(30, 1e6, capacity=10)
    small.advance(idx, t, pk[-1][3])
    assert small.counts.sum() == 10 and small.evicted == idx.size - 10


@pytest.mark.parametrize("kind", ["linear_rls", "linear_lms"])
def test_linear_decoders_equal_reference(kind):
    pk, Y = _tuned(T=400)
    extra = {"forgetting": 0.995, "reg": 0.5} if kind == "linear_rls" else {"mu": 0.3, "eps": 2.0}
    dec = DECODERS.create(kind, n_inputs=30, n_outputs=2, tau_ms=80.0, calibrating=True, **extra)
    got = np.array([dec.decode(i, t, t1, Y[k]) for k, (i, t, t0, t1) in enumerate(pk)])
    idx, tt = hp.concat(pk)
    X = np.array([np.append(ref.exp_rates(idx, tt, p[3], 30, 80.0), 1.0) for p in pk])
    if kind == "linear_rls":
        pred, W, P = ref.rls(X, Y, 0.995, 0.5)
        np.testing.assert_allclose(dec.P, P, rtol=1e-6, atol=1e-9)
        # and RLS is the exponentially weighted ridge solution, computed independently
        np.testing.assert_allclose(W, ref.weighted_ridge(X, Y, 0.995, 0.5), rtol=1e-6, atol=1e-8)
    else:
        pred, W = ref.nlms(X, Y, 0.3, 2.0)
    np.testing.assert_allclose(got, pred, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dec.W, W, rtol=1e-7, atol=1e-9)


def test_rls_learns_then_freezes_and_generalises():
    pk, Y = _tuned(T=2500)
    dec = DECODERS.create("linear_rls", n_inputs=30, n_outputs=2, tau_ms=100.0, calibrating=True)
    for k, (i, t, t0, t1) in enumerate(pk[:1500]):
        dec.decode(i, t, t1, Y[k])
    dec.calibrating = False
    W = dec.W.copy()
    est = np.array([dec.decode(i, t, t1, Y[1500 + k]) for k, (i, t, t0, t1) in enumerate(pk[1500:])])
    assert np.array_equal(W, dec.W)  # frozen: target ignored
    for k in range(2):
        assert np.corrcoef(est[:, k], Y[1500:, k])[0, 1] > 0.85


def test_state_roundtrip_continues_identically():
    pk, Y = _tuned(T=300)
    a = DECODERS.create("linear_rls", n_inputs=30, n_outputs=2, calibrating=True)
    for k, (i, t, t0, t1) in enumerate(pk[:150]):
        a.decode(i, t, t1, Y[k])
    b = DECODERS.create("linear_rls", n_inputs=30, n_outputs=2, calibrating=True)
    b.set_state(a.get_state())
    for k, (i, t, t0, t1) in enumerate(pk[150:], 150):
        assert np.array_equal(a.decode(i, t, t1, Y[k]), b.decode(i, t, t1, Y[k]))
    bad = a.get_state()
    bad["W"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="W"):
        b.set_state(bad)


def test_bad_input_and_params_raise_clearly():
    dec = DECODERS.create("linear_rls", n_inputs=4, n_outputs=1)
    with pytest.raises(ValueError, match="outside"):
        dec.decode(np.array([7]), np.array([5]), 10)
    with pytest.raises(ValueError, match="sorted"):
        dec.decode(np.array([0, 1]), np.array([5, 3]), 10)
    dec.decode(np.array([0]), np.array([5]), 10)
    with pytest.raises(ValueError, match="back"):
        dec.decode(np.array([], np.int64), np.array([], np.int64), 9)
    with pytest.raises(ValueError, match="target"):
        DECODERS.create("linear_rls", n_inputs=4, n_outputs=1, calibrating=True).decode([], [], 10, [1.0, 2.0])
    with pytest.raises(ValueError, match="forgetting"):
        DECODERS.create("linear_rls", n_inputs=4, n_outputs=1, forgetting=1.5)
    with pytest.raises(ValueError, match="unknown parameter"):
        DECODERS.create("linear_rls", n_inputs=4, n_outputs=1, tau=3)
    with pytest.raises(ValueError, match="mu"):
        DECODERS.create("linear_lms", n_inputs=4, n_outputs=1, mu=3.0)
