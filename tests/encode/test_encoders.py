"""Every registered encoder: matches its slow reference, is chunk-invariant, restores its state, keeps
the output contract (sorted, indices in range, spikes at sample times of the chunk), rejects bad input."""

import numpy as np
import pytest

import encode_reference as ref
from spikestream.registry import ENCODERS

FS = 2000.0
N = 3000


def _signal(c=3, seed=0):
    rng = np.random.default_rng(seed)
    k = np.arange(N)
    x = 0.5 + 0.3 * np.sin(2 * np.pi * 3 * k / FS + np.arange(c)[:, None]).T
    x += 0.05 * rng.standard_normal((N, c))
    x[N // 2:, 0] += 0.3  # a step
    t = np.round(k * 1e6 / FS).astype(np.int64)
    return t, x.astype(np.float32)


CASES = {
    "delta": dict(threshold=0.05),
    "rate": dict(rate_hz=FS, max_rate_hz=300, mode="poisson", seed=3),
    "rate-regular": dict(rate_hz=FS, max_rate_hz=300, mode="regular"),
    "latency": dict(window_us=10_000, span=0.8),
    "sigma_delta": dict(threshold=1.0, gain=0.2, max_per_sample=2),
    "step_forward": dict(threshold=0.05),
    "moving_window": dict(threshold=0.08, window=7),
    "tbr": dict(factor=1.0, alpha=0.02, warmup=5),
    "bsa": dict(filter_len=12, filter_amp=0.1, threshold=0.01),
    "population": dict(rate_hz=FS, n_neurons=6, max_rate_hz=400),
    "cochlea": dict(rate_hz=FS, n_bands=6, f_lo=50, f_hi=800, filters="butter", threshold=0.5),
    "cochlea-gammatone": dict(rate_hz=FS, n_bands=4, f_lo=50, f_hi=800, threshold=0.5),
}


def _make(case, c=3):
    return ENCODERS.create(case.split("-")[0], n_channels=c, **CASES[case])


def _reference(case, enc, t, x):
    kw = CASES[case]
    kind = case.split("-")[0]
    if kind == "delta":
        return ref.delta_reference(x, t, kw["threshold"])
    if kind == "rate":
        return ref.rate_reference(x, t, FS, kw["max_rate_hz"], 0.0, 1.0, kw["mode"],
                                  np.random.SeedSequence(kw.get("seed", 0)).generate_state(x.shape[1], np.uint64))
    if kind == "latency":
        return ref.latency_reference(x, t, kw["window_us"], 0.0, 1.0, kw["span"])
    if kind == "sigma_delta":
        return ref.sigma_delta_reference(x, t, kw["threshold"], kw["gain"], kw["max_per_sample"])
    if kind == "step_forward":
        return ref.step_forward_reference(x, t, kw["threshold"])
    if kind == "moving_window":
        return ref.moving_window_reference(x, t, kw["threshold"], kw["window"])
    if kind == "tbr":
        return ref.tbr_reference(x, t, kw["factor"], kw["alpha"], kw["warmup"])
    if kind == "bsa":
        return ref.bsa_reference(x, t, enc.h, kw["threshold"], 0.0, 1.0)
    if kind == "population":
        return ref.population_reference(x, t, FS, kw["n_neurons"], 0.0, 1.0, 1.5, kw["max_rate_hz"])
    if kind == "cochlea":
        return ref.cochlea_reference(x, t, enc.sos, enc.gain, enc.exponent, enc.threshold)
    raise AssertionError(case)


def test_every_registered_encoder_is_covered():
    assert {c.split("-")[0] for c in CASES} == set(ENCODERS.names())


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    t, x = _signal()
    enc = _make(case)
    idx, tt = enc.encode(x, t)
    ri, rt = _reference(case, enc, t, x)
    assert idx.size > 20, "the test signal should make spikes"
    if case.startswith("cochlea"):  # scipy's sosfilt rounds differently: allow a spike's jitter at threshold
        assert abs(idx.size - ri.size) <= 2
        np.testing.assert_allclose(np.bincount(idx, minlength=enc.n_outputs), np.bincount(ri, minlength=enc.n_outputs), atol=2)
        return
    np.testing.assert_array_equal(idx, ri)
    np.testing.assert_array_equal(tt, rt)


@pytest.mark.parametrize("case", list(CASES))
def test_chunk_invariance_state_and_contract(case):
    t, x = _signal()
    whole_i, whole_t = _make(case).encode(x, t)
    assert whole_i.dtype == np.int32 and whole_t.dtype == np.int64
    enc = _make(case)
    assert whole_i.size == 0 or (whole_i.min() >= 0 and whole_i.max() < enc.n_outputs)
    key = whole_t * enc.n_outputs + whole_i
    assert np.all(np.diff(key) >= 0), "spikes must be sorted by time, then neuron"
    assert np.isin(whole_t, t).all()
    for seed in range(3):
        rng = np.random.default_rng(seed)
        enc = _make(case)
        parts, k = [], 0
        while k < N:
            n = int(rng.integers(1, 200))
            i, tt = enc.encode(x[k:k + n], t[k:k + n])
            assert tt.size == 0 or (tt[0] >= t[k] and tt[-1] <= t[min(k + n, N) - 1])
            parts.append((i, tt))
            k += n
            if seed == 0 and k - n < N // 2 <= k:  # move to a fresh encoder through the state
                enc2 = _make(case)
                enc2.set_state(enc.get_state())
                enc = enc2
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole_i)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole_t)
    enc.reset()
    i2, t2 = enc.encode(x, t)
    np.testing.assert_array_equal(i2, whole_i)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_leaves_state_alone(case):
    t, x = _signal()
    enc = _make(case)
    enc.encode(x[:100], t[:100])
    st = enc.get_state()
    bad = x[100:200].copy()
    bad[5, 0] = np.nan
    for args, match in (((bad, t[100:200]), "NaN"), ((x[100:200, :2], t[100:200]), "channels"),
                        ((x[100:200], t[:100]), "after the previous"), ((x[100:200], t[100:200][::-1]), "increasing"),
                        ((x[100:200, 0], t[100:200]), "2-d"), ((x[100:200], t[100:200].astype(float)), "integer")):
        with pytest.raises(ValueError, match=match):
            enc.encode(*args)
    for k, v in enc.get_state().items():
        np.testing.assert_array_equal(v, st[k])
    with pytest.raises(ValueError, match="shape"):
        enc.set_state({k: np.zeros(np.asarray(v).size + 1) for k, v in st.items()})


@pytest.mark.parametrize("kind,kw,match", [
    ("rate", dict(), "rate_hz"), ("rate", dict(rate_hz=100, max_rate_hz=200), "max_rate_hz"),
    ("rate", dict(rate_hz=100, lo=1, hi=0), "lo < hi"), ("latency", dict(window_us=0), "window_us"),
    ("sigma_delta", dict(gain=0), "gain"), ("step_forward", dict(threshold=-1), "threshold"),
    ("moving_window", dict(window=0), "window"), ("tbr", dict(alpha=2), "alpha"),
    ("bsa", dict(filter_len=1), "filter_len"), ("population", dict(rate_hz=FS, n_neurons=2), "n_neurons"),
    ("cochlea", dict(rate_hz=FS, f_hi=5000), "Nyquist"), ("cochlea", dict(rate_hz=FS, filters="x"), "filters"),
])
def test_bad_params(kind, kw, match):
    with pytest.raises(ValueError, match=match):
        ENCODERS.create(kind, n_channels=2, **kw)


def test_population_far_outside_the_range_matches_reference():
    t = np.arange(400, dtype=np.int64) * 500
    x = np.linspace(-3, 4, 400, dtype=np.float32)[:, None]
    enc = ENCODERS.create("population", n_channels=1, rate_hz=FS, n_neurons=12, max_rate_hz=900)
    i, tt = enc.encode(x, t)
    ri, rt = ref.population_reference(x, t, FS, 12, 0.0, 1.0, 1.5, 900)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(tt, rt)
