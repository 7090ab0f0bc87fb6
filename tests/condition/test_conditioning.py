import numpy as np
import pytest
from scipy import signal

from condition_reference import normalize_reference
from spikestream.condition._registry import CONDITIONERS, build_chain

FS = 2000.0


def _x(n=4000, c=3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    x = rng.standard_normal((n, c)) + 3 * np.sin(2 * np.pi * 50 * t)[:, None] + 2.0
    return (np.arange(n, dtype=np.int64) * 500), x.astype(np.float32)


SPECS = [
    ("bandpass", dict(low_hz=20, high_hz=450, order=4)),
    ("lowpass", dict(cutoff_hz=30)),
    ("highpass", dict(cutoff_hz=10, order=3)),
    ("notch", dict(freq_hz=50, q=20, harmonics=3)),
    ("rectify", {}),
    ("envelope", dict(cutoff_hz=5)),
    ("envelope", dict(cutoff_hz=8, mode="rms")),
    ("normalize", dict(tau_s=0.5)),
    ("normalize", dict(tau_s=0.5, center=False)),
]


@pytest.mark.parametrize("kind,kw", SPECS)
def test_chunk_invariance_and_state(kind, kw):
    t, x = _x()
    whole = CONDITIONERS.create(kind, n_channels=3, rate_hz=FS, **kw).process(x, t)
    assert whole.dtype == np.float32 and whole.shape == x.shape and np.isfinite(whole).all()
    rng = np.random.default_rng(1)
    st = CONDITIONERS.create(kind, n_channels=3, rate_hz=FS, **kw)
    parts, k = [], 0
    while k < len(t):
        n = int(rng.integers(1, 300))
        parts.append(st.process(x[k:k + n], t[k:k + n]))
        k += n
        if k > 2000 and k - n <= 2000:  # hand over mid-stream through the state
            st2 = CONDITIONERS.create(kind, n_channels=3, rate_hz=FS, **kw)
            st2.set_state(st.get_state())
            st = st2
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("kind,kw", SPECS[:4])
def test_iir_matches_scipy_sosfilt(kind, kw):
    t, x = _x()
    st = CONDITIONERS.create(kind, n_channels=3, rate_hz=FS, **kw)
    ref = signal.sosfilt(st.sos[0], x.astype(np.float64), axis=0)
    np.testing.assert_allclose(st.process(x, t), ref, rtol=1e-5, atol=1e-4)


def test_notch_removes_mains_and_bandpass_removes_dc():
    t, x = _x(n=20000)
    y = CONDITIONERS.create("notch", n_channels=3, rate_hz=FS, freq_hz=50, q=10).process(x, t)[5000:]
    f = np.fft.rfftfreq(y.shape[0], 1 / FS)
    px = np.abs(np.fft.rfft(x[5000:, 0]))
    py = np.abs(np.fft.rfft(y[:, 0]))
    k50 = np.argmin(np.abs(f - 50))
    assert py[k50] < 0.01 * px[k50]
    b = CONDITIONERS.create("bandpass", n_channels=3, rate_hz=FS, low_hz=20, high_hz=450).process(x, t)[5000:]
    assert abs(float(b.mean())) < 0.05


def test_envelope_tracks_amplitude():
    n = 20000
    t = np.arange(n, dtype=np.int64) * 500
    amp = np.where(np.arange(n) < n // 2, 0.5, 2.0)
    x = (amp * np.random.default_rng(0).standard_normal(n)).astype(np.float32)[:, None]
    e = CONDITIONERS.create("envelope", n_channels=1, rate_hz=FS, cutoff_hz=3, mode="rms").process(x, t)[:, 0]
    assert abs(e[8000:10000].mean() - 0.5) < 0.05 and abs(e[18000:].mean() - 2.0) < 0.2


def test_normalize_matches_reference():
    t, x = _x()
    st = CONDITIONERS.create("normalize", n_channels=3, rate_hz=FS, tau_s=0.2)
    np.testing.assert_allclose(st.process(x, t), normalize_reference(x, st.a), rtol=1e-5, atol=1e-5)
    t2, x2 = _x(seed=3)
    z = st.process(x2, t2 + 10**7)
    assert abs(float(z[2000:].std()) - 1.0) < 0.2


def test_chain_and_bad_params_and_bad_input():
    chain = build_chain([{"kind": "bandpass", "low_hz": 20, "high_hz": 400}, {"kind": "envelope"}], 3, FS)
    assert [type(c).__name__ for c in chain] == ["BandPass", "Envelope"]
    with pytest.raises(ValueError, match="Nyquist"):
        CONDITIONERS.create("bandpass", n_channels=3, rate_hz=FS, low_hz=20, high_hz=1500)
    with pytest.raises(ValueError, match="kind"):
        build_chain([{"low_hz": 3}], 3, FS)
    with pytest.raises(ValueError, match="notch: unknown parameter 'frq'; did you mean 'freq_hz'"):
        build_chain([{"kind": "notch", "frq": 3}], 3, FS)
    with pytest.raises(ValueError, match="bandpass: order must be >= 1 and <= 12, got 13"):
        build_chain([{"kind": "bandpass", "order": 13}], 3, FS)
    with pytest.raises(ValueError, match="tau_s"):
        CONDITIONERS.create("normalize", n_channels=3, rate_hz=FS, tau_s=0)
    st = CONDITIONERS.create("lowpass", n_channels=3, rate_hz=FS)
    t, x = _x(n=10)
    st.process(x, t)
    bad = x.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        st.process(bad, t + 10**6)
    with pytest.raises(ValueError, match="channels"):
        st.process(x[:, :2], t + 10**6)
    with pytest.raises(ValueError, match="after the previous"):
        st.process(x, t)
