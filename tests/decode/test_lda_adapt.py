"""LDA that keeps learning without labels: class means follow a slow drift on confident decisions; input
unlike anything calibrated (an outlier) teaches nothing; off by default."""

import numpy as np

from spikestream.decode.classify import LdaDecoder

N, C, STEP_US = 8, 3, 25_000
RATES = np.full((C, N), 10.0) + 30.0 * np.eye(C, N)  # class c: neuron c at 40 Hz, the rest at 10


def _packet(rng, rates, t0):
    n = rng.poisson(rates * STEP_US / 1e6)
    idx = np.repeat(np.arange(N), n)
    t = t0 + rng.integers(0, STEP_US, idx.size)
    o = np.argsort(t, kind="stable")
    return idx[o], t[o]


def _run(adapt_rate, drift, seconds=90, seed=0):
    rng = np.random.default_rng(seed)
    dec = LdaDecoder(n_inputs=N, n_classes=C, window_ms=250, log_counts=True, calibrating=True,
                     adapt_rate=adapt_rate)
    t = 0
    for k in range(int(30e6 // STEP_US)):  # calibration: 30 s, each class held 1 s
        c = (k * STEP_US // 1_000_000) % C
        idx, ts = _packet(rng, RATES[c], t)
        t += STEP_US
        dec.decode(idx, ts, t, np.array([float(c)]))
    dec.calibrating = False
    hits = []
    steps = int(seconds * 1e6 // STEP_US)
    for k in range(steps):  # gains drift exponentially over the run
        c = (k * STEP_US // 1_000_000) % C
        g = np.exp(drift * (k / steps) * np.log(4.0))
        idx, ts = _packet(rng, RATES[c] * g, t)
        t += STEP_US
        y = dec.decode(idx, ts, t)
        if k * STEP_US % 1_000_000 >= 250_000:  # the window lies inside one hold
            hits.append(int(y[0]) == c)
    last = hits[-len(hits) // 4:]
    return float(np.mean(last)), dec


DRIFT = np.array([1, 0, 0, 0, 0, 0, 0, 0], float)  # a gain on neuron 0's channel rising to x4


def test_adapting_follows_drift_frozen_does_not():
    frozen, _ = _run(0.0, DRIFT)
    adapting, dec = _run(0.005, DRIFT)
    assert adapting >= 0.95, adapting
    assert frozen <= adapting - 0.1, (frozen, adapting)
    assert dec.adapted[0] > 0


def test_no_drift_adapting_is_as_good_as_frozen():
    frozen, _ = _run(0.0, 0 * DRIFT, seconds=30)
    adapting, _ = _run(0.005, 0 * DRIFT, seconds=30)
    assert adapting >= frozen - 0.02 and adapting >= 0.95


def test_default_is_frozen_and_outliers_teach_nothing():
    _, dec = _run(0.0, 0 * DRIFT, seconds=5)
    assert dec.adapted[0] == 0
    _, dec = _run(0.005, 0 * DRIFT, seconds=5)
    mu = dec.mu.copy()
    rng = np.random.default_rng(9)
    t = int(dec.last_until[0])
    for _ in range(400):  # 10 s of input far from every class: all neurons at 400 Hz
        idx, ts = _packet(rng, np.full(N, 400.0), t)
        t += STEP_US
        dec.decode(idx, ts, t)
    assert np.array_equal(mu, dec.mu)


def test_state_round_trip_keeps_adapted_means():
    _, dec = _run(0.005, DRIFT, seconds=20)
    fresh = LdaDecoder(n_inputs=N, n_classes=C, window_ms=250, log_counts=True, adapt_rate=0.005)
    fresh.set_state(dec.get_state())
    assert np.array_equal(fresh.mu, dec.mu) and np.array_equal(fresh.Wd, dec.Wd)
