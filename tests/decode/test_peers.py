"""Decoders against libraries nobody here wrote: scikit-learn's LDA and filterpy's Kalman filter
(test-only dependencies)."""


import numpy as np
import pytest
import decode_helpers as hp

from spikestream.registry import DECODERS

DT = 10_000


def _tuned_to_two_sines(rng, T, N, fa, fb, depth, seed):
    """Targets [T, 2]: a sine at `fa` Hz and a cosine at `fb` Hz, one row per packet of DT; and packets of N
    Poisson inputs around 30 Hz, each tuned (by `depth`) to a random mix of the two."""
    tt = np.arange(T) * DT / 1e6
    Y = np.stack([np.sin(2 * np.pi * fa * tt), np.cos(2 * np.pi * fb * tt)], 1)
    return Y, hp.poisson_packets(30 * np.clip(1 + depth * Y @ rng.normal(size=(2, N)), 0.05, None), DT, seed)


def test_lda_equals_scikit_learn_shrinkage_lda():
    lda_mod = pytest.importorskip("sklearn.discriminant_analysis")
    rng = np.random.default_rng(7)
    T, N, C = 2500, 20, 4
    lab = np.repeat(rng.integers(0, C, T // 25), 25)[:T]
    pk = hp.poisson_packets(rng.uniform(5, 60, (C, N))[lab], DT, 7)
    d = DECODERS.create("lda", n_inputs=N, n_classes=C, window_ms=100.0, calibrating=True, shrink=0.2,
                        output="scores", pure_windows=False)
    F = []
    for k, (i, t, t0, t1) in enumerate(pk[:1500]):
        d.decode(i, t, t1, [float(lab[k])])
        F.append(d.features.out.copy())
    d.calibrating = False
    sk = lda_mod.LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.2).fit(np.array(F), lab[:1500])
    np.testing.assert_allclose(d.Wd, sk.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(d.bd, sk.intercept_, rtol=1e-6, atol=1e-9)
    P, Ft = [], []
    for i, t, t0, t1 in pk[1500:]:
        P.append(d.decode(i, t, t1))
        Ft.append(d.features.out.copy())
    np.testing.assert_allclose(np.array(P), sk.predict_proba(np.array(Ft)), rtol=1e-6, atol=1e-9)


def test_kalman_equals_filterpy():
    kf_mod = pytest.importorskip("filterpy.kalman")
    rng = np.random.default_rng(8)
    T, N, K = 900, 30, 2
    Y, pk = _tuned_to_two_sines(rng, T, N, 0.3, 0.2, 0.5, 8)
    d = DECODERS.create("kalman", n_inputs=N, n_outputs=K, calibrating=True)
    for k, (i, t, t0, t1) in enumerate(pk[:600]):
        d.decode(i, t, t1, Y[k])
    d.calibrating = False
    f = kf_mod.KalmanFilter(dim_x=K, dim_z=N, dim_u=K)
    f.x, f.P = d.x.copy(), d.P.copy()
    f.F, f.B, f.Q, f.H = d.A.copy(), np.eye(K), d.W.copy(), d.H.copy()
    # Q (observation noise) is not kept by the decoder; rebuild it from the statistics, as `fit` does
    Hd = np.hstack([d.H, d.d[:, None]])
    n_obs = int(d.n_pairs[0])
    Qn = (d.Tzz - Hd @ d.Tz.T - d.Tz @ Hd.T + Hd @ d.T00 @ Hd.T) / n_obs
    f.R = 0.5 * (Qn + Qn.T) + d.params.q_floor * np.eye(N)
    for i, t, t0, t1 in pk[600:]:
        mine = d.decode(i, t, t1)
        f.predict(u=d.a)
        f.update(d.features.out - d.d)
        np.testing.assert_allclose(mine, f.x, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["linear_rls", "linear_lms"])
def test_linear_readouts_equal_padasip(kind):
    pa = pytest.importorskip("padasip")
    rng = np.random.default_rng(9)
    T, N, K = 500, 12, 2
    Y, pk = _tuned_to_two_sines(rng, T, N, 0.4, 0.15, 0.6, 9)
    if kind == "linear_rls":
        d = DECODERS.create(kind, n_inputs=N, n_outputs=K, calibrating=True, forgetting=0.99, reg=0.5)
        peers = [pa.filters.FilterRLS(N + 1, mu=0.99, eps=0.5, w="zeros") for _ in range(K)]
    else:
        d = DECODERS.create(kind, n_inputs=N, n_outputs=K, calibrating=True, mu=0.4, eps=3.0)
        peers = [pa.filters.FilterNLMS(N + 1, mu=0.4, eps=3.0, w="zeros") for _ in range(K)]
    for k, (i, t, t0, t1) in enumerate(pk):
        mine = d.decode(i, t, t1, Y[k])
        x = d.x.copy()
        theirs = [f.predict(x) for f in peers]
        for f, y in zip(peers, Y[k]):
            f.adapt(y, x)
        np.testing.assert_allclose(mine, theirs, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(d.W, np.stack([f.w for f in peers], 1), rtol=1e-7, atol=1e-9)
