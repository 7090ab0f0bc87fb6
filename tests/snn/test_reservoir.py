"""Liquid state machine: a fixed reservoir plus a trained linear readout tells apart two spike patterns that
differ only in timing (one is the other played backwards), which spike counts cannot."""

import numpy as np
import pytest

from spikestream.snn.reservoir import LinearReadout, Reservoir, ReservoirParams

N_IN, L_US, GAP_US = 40, 300_000, 100_000
PARAMS = ReservoirParams(n_exc=200, n_inh=50, w_in=10.0, seed=1)


def templates(rng):
    idx, t = [], []
    for c in range(N_IN):
        k = rng.poisson(20 * L_US * 1e-6)
        idx += [c] * k
        t += list(rng.integers(0, L_US, k))
    idx, t = np.array(idx, np.int64), np.array(t, np.int64)
    return (idx, t), (idx, L_US - 1 - t)  # B = A backwards: the same spikes per channel


def trial(tmpl, rng, t0):
    idx, t = tmpl
    tj = np.clip(t + rng.normal(0, 4000, t.size).astype(np.int64), 0, L_US - 1)
    o = np.argsort(tj, kind="stable")
    return idx[o], tj[o] + t0


def test_reservoir_readout_classifies_temporal_patterns():
    rng = np.random.default_rng(0)
    A, B = templates(rng)
    res = Reservoir(PARAMS, N_IN)
    w_before = {p: res.snn.weights(p) for p in res.snn.projections}
    X, C, Y, t0, n_spk = [], [], [], 0, 0
    for _ in range(160):
        y = int(rng.integers(0, 2))
        idx, t = trial((A, B)[y], rng, t0)
        oi, _ = res.advance(idx, t, t0 + L_US)
        n_spk += oi.size
        X.append(res.state())
        C.append(np.bincount(idx, minlength=N_IN))
        Y.append(y)
        res.advance(idx[:0], t[:0], t0 + L_US + GAP_US)
        t0 += L_US + GAP_US
    X, C, Y = np.array(X), np.array(C), np.array(Y)
    rate = n_spk / res.n_outputs / (160 * L_US * 1e-6)
    assert 2 < rate < 80, f"reservoir rate {rate:.1f} Hz: silent or saturated"
    onehot = np.eye(2)[Y]
    acc = {}
    for name, F in (("reservoir", X), ("counts", C)):
        ro = LinearReadout(ridge=1.0).fit(F[:100], onehot[:100])
        acc[name] = float((ro.classify(F[100:]) == Y[100:]).mean())
    print(acc, f"rate {rate:.1f} Hz")
    assert acc["reservoir"] >= 0.85, acc
    assert acc["counts"] <= 0.75, acc  # the control: the patterns have the same spike counts
    for p, w in w_before.items():  # the reservoir itself stayed fixed
        np.testing.assert_array_equal(res.snn.weights(p), w)


def test_reservoir_chunked_equals_whole_and_state_roundtrip():
    rng = np.random.default_rng(3)
    A, _ = templates(rng)
    idx, t = trial(A, rng, 0)
    whole = Reservoir(PARAMS, N_IN)
    wi, wt = whole.advance(idx, t, L_US)
    parts = Reservoir(PARAMS, N_IN)
    cuts = list(np.sort(rng.integers(1, L_US, 9))) + [L_US]
    outs, prev, saved = [], 0, None
    for k, c in enumerate(cuts):
        sel = (t >= prev) & (t < c)
        outs.append(parts.advance(idx[sel], t[sel], int(c)))
        prev = c
        if k == 4:
            saved = (parts.get_state(), prev)
    np.testing.assert_array_equal(np.concatenate([o[0] for o in outs]), wi)
    np.testing.assert_array_equal(np.concatenate([o[1] for o in outs]), wt)
    np.testing.assert_array_equal(parts.state(), whole.state())
    assert whole.state().max() > 0
    st, t_saved = saved
    again = Reservoir(PARAMS, N_IN)
    again.set_state(st)
    sel = t >= t_saved
    again.advance(idx[sel], t[sel], L_US)
    np.testing.assert_array_equal(again.state(), whole.state())
    with pytest.raises(ValueError, match="readout_r"):
        Reservoir(ReservoirParams(n_exc=20, n_inh=5), N_IN).set_state(st)


def test_readout_validates_and_fits_a_linear_map():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    W = rng.normal(size=(5, 2))
    Y = X @ W + 3.0
    ro = LinearReadout(ridge=0.0).fit(X, Y)
    np.testing.assert_allclose(ro.predict(X), Y, atol=1e-9)
    with pytest.raises(ValueError, match="fit"):
        LinearReadout().predict(X)
    with pytest.raises(ValueError, match="finite"):
        LinearReadout().fit(np.full((3, 2), np.nan), np.zeros(3))
    with pytest.raises(ValueError, match="matching"):
        LinearReadout().fit(X, Y[:10])
    with pytest.raises(ValueError, match="ridge"):
        LinearReadout(ridge=-1)
    with pytest.raises(ValueError, match="tau_readout_ms"):
        ReservoirParams(tau_readout_ms=0)


def test_reservoir_clock_contract():
    rng = np.random.default_rng(5)
    A, _ = templates(rng)
    res = Reservoir(PARAMS, N_IN)
    assert res.time_us is None
    idx, t = trial(A, rng, 10_000_000)
    res.advance(idx, t, 10_000_000 + L_US)
    assert res.time_us == 10_000_000 + L_US
    r = res.state()
    assert r.max() > 0
    skipped = res.skip_to(res.time_us + 60_000)
    assert skipped == 60
    np.testing.assert_allclose(res.state(), r * np.exp(-60 / 30.0), rtol=1e-12)
    assert set(res.stats()["rates_hz"]) == {"E", "I"}
    with pytest.raises(ValueError, match="fixed"):
        res.reward([0], [1.0])
