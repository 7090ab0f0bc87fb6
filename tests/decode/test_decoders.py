import numpy as np
import pytest
import decode_helpers as hp
import decode_reference as ref

from spikestream.registry import DECODERS

DT = 10_000


def _continuous(T=2500, N=40, K=3, seed=3, gain=0.4):
    rng = np.random.default_rng(seed)
    tt = np.arange(T) * DT / 1e6
    Y = np.stack([np.sin(2 * np.pi * (0.2 + 0.07 * k) * tt + k) for k in range(K)], 1)
    G = rng.normal(size=(N, K))
    return hp.poisson_packets(30 * np.clip(1 + gain * Y @ G.T, 0.05, None), DT, seed), Y, G


def _gestures(T=3000, N=24, C=4, seed=4):
    rng = np.random.default_rng(seed)
    lab = np.repeat(rng.integers(0, C, T // 50), 50)[:T]
    profile = rng.uniform(5, 60, (C, N))
    return hp.poisson_packets(profile[lab], DT, seed), lab


def _run(dec, pk, Y=None, n_cal=0):
    out = []
    for k, (i, t, t0, t1) in enumerate(pk):
        if k == n_cal and n_cal:
            dec.calibrating = False
        out.append(dec.decode(i, t, t1, None if (Y is None or k >= n_cal) else Y[k]))
    return np.array(out)


def test_rate_decoder_exp_box_and_groups():
    pk, _, _ = _continuous(T=200, N=6)
    idx, t = hp.concat(pk)
    d = DECODERS.create("rate", n_inputs=6, tau_ms=40.0)
    got = _run(d, pk)
    np.testing.assert_allclose(got[-1], ref.exp_rates(idx, t, pk[-1][3], 6, 40.0), rtol=1e-9)
    b = DECODERS.create("counts", n_inputs=6, window_ms=50.0, groups=[[0, 1], [5]])
    got = _run(b, pk)
    c = ref.box_counts(idx, t, pk[-1][3], 6, 50.0)
    assert got.shape == (200, 2) and np.allclose(got[-1], [(c[0] + c[1]) / 2, c[5]])
    h = DECODERS.create("rate", n_inputs=6, n_outputs=3, window="box", window_ms=50.0)
    np.testing.assert_allclose(_run(h, pk)[-1], c.reshape(3, 2).mean(1) / 0.05)
    with pytest.raises(ValueError, match="groups"):
        DECODERS.create("rate", n_inputs=6, groups=[[0, 9]])
    with pytest.raises(ValueError, match="window"):
        DECODERS.create("rate", n_inputs=6, window="hann")


def test_kalman_fit_and_filter_match_batch_references():
    pk, Y, _ = _continuous(T=800)
    d = DECODERS.create("kalman", n_inputs=40, n_outputs=3, calibrating=True, q_floor=1e-9, w_floor=1e-12)
    Z = []
    for k, (i, t, t0, t1) in enumerate(pk[:600]):
        d.decode(i, t, t1, Y[k])
        Z.append(d.features.out.copy())
    d.calibrating = False
    A, a, W, H, dd, Q = ref.kalman_fit(Y[:600], np.array(Z))
    for mine, theirs in [(d.A, A), (d.a, a), (d.W, W), (d.H, H), (d.d, dd)]:
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)
    x0, P0 = d.x.copy(), d.P.copy()
    est, Zt = [], []
    for i, t, t0, t1 in pk[600:]:
        est.append(d.decode(i, t, t1))
        Zt.append(d.features.out.copy())
    Qf = Q + 1e-9 * np.eye(40)
    want = ref.kalman_filter(np.array(Zt), A, a, W + 1e-12 * np.eye(3), H, dd, Qf, x0, P0)
    np.testing.assert_allclose(np.array(est), want, rtol=1e-6, atol=1e-6)


def test_kalman_tracks_and_steady_state_agrees():
    pk, Y, _ = _continuous()
    outs = {}
    for kind in ("kalman", "kalman_ss"):
        d = DECODERS.create(kind, n_inputs=40, n_outputs=3, calibrating=True)
        outs[kind] = _run(d, pk, Y, n_cal=1500)[1500:]
        for k in range(3):
            assert np.corrcoef(outs[kind][:, k], Y[1500:, k])[0, 1] > 0.8
    assert np.abs(outs["kalman"] - outs["kalman_ss"]).max() < 1e-3


def test_population_vector_recovers_direction():
    N, T = 64, 2500
    ang = np.linspace(0, 2 * np.pi, N, endpoint=False)
    C = np.stack([np.cos(ang), np.sin(ang)], 1)
    tt = np.arange(T) * DT / 1e6
    Y = 0.8 * np.stack([np.cos(2 * np.pi * 0.3 * tt), np.sin(2 * np.pi * 0.3 * tt)], 1)
    pk = hp.poisson_packets(30 + 20 * Y @ C.T, DT, 0)
    given = DECODERS.create("population_vector", n_inputs=N, n_outputs=2, directions=C.tolist(),
                            baselines=[30.0] * N, depths=[20.0] * N, tau_ms=150.0)
    est = _run(given, pk)[200:]
    for k in range(2):
        assert np.corrcoef(est[:, k], Y[200:, k])[0, 1] > 0.9
    fitted = DECODERS.create("population_vector", n_inputs=N, n_outputs=2, tau_ms=150.0, calibrating=True)
    est = _run(fitted, pk, Y, n_cal=1500)[1500:]
    cos = np.sum(fitted.C * C, axis=1)
    assert np.median(cos) > 0.95  # fitted preferred directions match the true ones
    for k in range(2):
        assert np.corrcoef(est[:, k], Y[1500:, k])[0, 1] > 0.9


def test_lda_matches_batch_reference_and_classifies():
    pk, lab = _gestures()
    d = DECODERS.create("lda", n_inputs=24, n_classes=4, window_ms=100.0, calibrating=True, shrink=0.1,
                        pure_windows=False)
    F = []
    for k, (i, t, t0, t1) in enumerate(pk[:2000]):
        d.decode(i, t, t1, [float(lab[k])])
        F.append(d.features.out.copy())
    d.calibrating = False
    Wd, bd = ref.lda_fit(np.array(F), lab[:2000], 4, 0.1)
    np.testing.assert_allclose(d.Wd, Wd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(d.bd, bd, rtol=1e-6, atol=1e-9)
    st = d.get_state()
    pred = _run(d, pk[2000:])[:, 0]
    settled = np.r_[np.zeros(10, bool), lab[2010:] == lab[2000:-10]]  # 100 ms after a change
    assert np.mean(pred[settled] == lab[2000:][settled]) > 0.95
    proba = DECODERS.create("lda", n_inputs=24, n_classes=4, output="scores")
    proba.set_state(st)
    p = _run(proba, pk[2000:2100])
    assert p.shape == (100, 4) and np.allclose(p.sum(1), 1.0)


def test_lda_calibrates_only_on_windows_that_hold_one_label():
    """After a label change the next window_ms of packets teach nothing: the fit is the batch reference's
    on exactly the packets whose 100 ms window lies after the change (the first window of the stream too)."""
    pk, lab = _gestures()
    d = DECODERS.create("lda", n_inputs=24, n_classes=4, window_ms=100.0, calibrating=True, shrink=0.1)
    F, pure = [], []
    since = None
    for k, (i, t, t0, t1) in enumerate(pk[:2000]):
        d.decode(i, t, t1, [float(lab[k])])
        F.append(d.features.out.copy())
        if k == 0 or lab[k] != lab[k - 1]:
            since = t1 if k == 0 else pk[k - 1][3]
        pure.append(t1 - since >= 100_000)
    pure = np.array(pure)
    assert 0.5 < pure.mean() < 0.9  # the check leaves a real share out
    assert d.n_c.sum() == pure.sum()
    d.calibrating = False
    Wd, bd = ref.lda_fit(np.array(F)[pure], lab[:2000][pure], 4, 0.1)
    np.testing.assert_allclose(d.Wd, Wd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(d.bd, bd, rtol=1e-6, atol=1e-9)


def test_wta_learns_assignment_and_labels():
    pk, lab = _gestures()
    d = DECODERS.create("wta", n_inputs=24, n_classes=4, calibrating=True, tau_ms=80.0)
    onehot = np.eye(4)[lab]
    pred = _run(d, pk, onehot, n_cal=2000)[2000:, 0]
    settled = np.r_[np.zeros(20, bool), lab[2020:] == lab[2000:-20]]
    assert set(np.unique(d.assign)) <= {0, 1, 2, 3}
    assert np.mean(pred[settled] == lab[2000:][settled]) > 0.8
    fixed = DECODERS.create("wta", n_inputs=4, n_classes=2, assign=[0, 0, 1, 1], min_rate_hz=1.0, rest_label=-1)
    assert fixed.decode([], [], 1000)[0] == -1
    assert fixed.decode([2, 3, 2], [1000, 1500, 1800], 2000)[0] == 1


ALL = {
    "rate": {}, "counts": {}, "linear_rls": {"n_outputs": 3}, "linear_lms": {"n_outputs": 3},
    "kalman": {"n_outputs": 3}, "kalman_ss": {"n_outputs": 3}, "population_vector": {"n_outputs": 3},
    "lda": {"n_classes": 3}, "wta": {"n_classes": 3},
}


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_decoder_restores_state_exactly(kind):
    pk, Y, _ = _continuous(T=400)
    tgt = Y if kind not in ("lda", "wta") else np.eye(3)[(np.arange(400) // 40) % 3]
    a = DECODERS.create(kind, n_inputs=40, calibrating=True, **ALL[kind])
    _run(a, pk[:200], tgt)
    a.calibrating = False
    st = {k: v.copy() for k, v in a.get_state().items()}
    b = DECODERS.create(kind, n_inputs=40, **ALL[kind])
    b.set_state(st)
    assert not b.calibrating or kind in ("rate", "counts")
    assert np.array_equal(_run(a, pk[200:]), _run(b, pk[200:]))
    bad = dict(st)
    k0 = next(k for k in st if st[k].ndim >= 1 and st[k].size > 1)
    bad[k0] = np.zeros(st[k0].size + 1)
    with pytest.raises(ValueError):
        DECODERS.create(kind, n_inputs=40, **ALL[kind]).set_state(bad)


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_decoder_is_chunk_invariant_in_its_features(kind):
    """Cutting the same spikes into different packets gives the same estimate at shared packet ends
    for decoders that do not learn (frozen after the same calibration)."""
    pk, Y, _ = _continuous(T=300)
    tgt = Y if kind not in ("lda", "wta") else np.eye(3)[(np.arange(300) // 30) % 3]
    a = DECODERS.create(kind, n_inputs=40, calibrating=True, **ALL[kind])
    _run(a, pk[:150], tgt)
    a.calibrating = False
    b = DECODERS.create(kind, n_inputs=40, **ALL[kind])
    b.set_state(a.get_state())
    whole = {p[3]: v for p, v in zip(pk[150:], _run(a, pk[150:]))}
    if kind in ("kalman", "kalman_ss"):
        return  # a Kalman step is one packet by definition: re-cutting changes the model's time step
    parts = hp.rechunk(pk[150:], np.random.default_rng(1))
    for p, v in zip(parts, _run(b, parts)):
        np.testing.assert_array_equal(v, whole[p[3]])


def test_classifier_targets_checked():
    d = DECODERS.create("lda", n_inputs=4, n_classes=3, calibrating=True)
    with pytest.raises(ValueError, match="outside"):
        d.decode([], [], 10, [7.0])
    with pytest.raises(ValueError, match="one-hot"):
        d.decode([], [], 10, [0.0, 1.0])
    with pytest.raises(ValueError, match="n_classes"):
        DECODERS.create("wta", n_inputs=4, n_classes=1)


def test_lda_pure_windows_count_from_the_last_packet_of_the_other_label():
    """Packets without a target (e.g. left out by the caller) do not restart the count: a new label's window
    is pure once window_ms have passed since the last packet labelled otherwise."""
    pk, lab = _gestures(T=300)
    d = DECODERS.create("lda", n_inputs=24, n_classes=4, window_ms=100.0, calibrating=True)
    taught = []
    for k, (i, t, t0, t1) in enumerate(pk):
        first = k == 0 or lab[k] != lab[k - 1]
        gap = 0 < k and not first and lab[k] == lab[k - 1] and any(lab[j] != lab[k] for j in range(max(0, k - 10), k))
        before = d.n_c.sum()
        d.decode(i, t, t1, None if gap else [float(lab[k])])  # the caller leaves out the 100 ms after a change
        taught.append(d.n_c.sum() > before)
    after_change = [k for k in range(1, 300) if lab[k] != lab[k - 1]]
    assert after_change and all(taught[k + 10] for k in after_change if k + 10 < 300 and lab[k + 10] == lab[k])
