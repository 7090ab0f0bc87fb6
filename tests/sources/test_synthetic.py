import numpy as np
import pytest

from spikestream.registry import SOURCES
from spikestream.sources.synthetic import EMGSynth


def _read_chunked(src, total, rng):
    parts = []
    got = 0
    while got < total:
        n = min(int(rng.integers(0, 700)), total - got)
        parts.append(src.read(n))
        got += n
    return [np.concatenate([getattr(p, f) for p in parts]) for f in ("t_us", "data", "target", "gesture")]


def test_emg_synth_is_deterministic_and_chunk_invariant():
    whole = EMGSynth(n_channels=6, rate_hz=2000, n_dof=3, seed=7).read(5000)
    for seed in range(3):
        parts = _read_chunked(EMGSynth(n_channels=6, rate_hz=2000, n_dof=3, seed=7), 5000, np.random.default_rng(seed))
        for a, b in zip(parts, (whole.t_us, whole.data, whole.target, whole.gesture)):
            np.testing.assert_array_equal(a, b)
    other = EMGSynth(n_channels=6, rate_hz=2000, n_dof=3, seed=8).read(5000)
    assert not np.array_equal(other.data, whole.data)


def test_emg_synth_shapes_time_base_and_unpacking():
    src = EMGSynth(n_channels=8, rate_hz=3000, n_dof=2, seed=0)
    t, x = src.read(4000)
    assert t.dtype == np.int64 and x.dtype == np.float32 and x.shape == (4000, 8)
    np.testing.assert_array_equal(t, np.round(np.arange(4000) * 1e6 / 3000).astype(np.int64))
    c = src.read(10)
    assert c.target.shape == (10, 2) and c.gesture.shape == (10,) and c.t_us[0] == round(4000 * 1e6 / 3000)
    assert src.read(0).data.shape == (0, 8)
    assert SOURCES.get("emg_synth") is EMGSynth


def test_emg_truth_drives_the_signal():
    src = EMGSynth(n_channels=8, rate_hz=1000, n_dof=2, seed=3)
    c = src.read(60_000)
    assert c.target.min() >= 0 and c.target.max() <= 1
    assert set(np.unique(c.gesture)) == {0, 1, 2, 3}  # rest and three gestures all occur in a minute
    # per-window RMS of each channel follows its activation (target @ mixing)
    w = 100
    rms = np.sqrt((c.data.astype(np.float64) ** 2).reshape(-1, w, 8).mean(axis=1))
    act = (c.target @ src.mixing).reshape(-1, w, 8).mean(axis=1)
    for ch in range(8):
        assert np.corrcoef(rms[:, ch], act[:, ch])[0, 1] > 0.8
    # rest: only the noise floor and the wander part remain -> lower power than during gestures
    g = c.gesture.reshape(-1, w)[:, 0]
    assert rms[g == 0].mean() < rms[g != 0].mean()
    # band-limited: little power below 10 Hz
    spec = np.abs(np.fft.rfft(c.data[:, 0].astype(np.float64))) ** 2
    f = np.fft.rfftfreq(c.data.shape[0], 1e-3)
    assert spec[f < 10].sum() < 0.02 * spec.sum()


def test_emg_state_restore_continues():
    a = EMGSynth(seed=2)
    a.read(1234)
    b = EMGSynth(seed=2)
    b.set_state(a.get_state())
    np.testing.assert_array_equal(a.read(3000).data, b.read(3000).data)


@pytest.mark.parametrize("kw,match", [
    (dict(n_channels=0), "n_channels"), (dict(rate_hz=-1), "rate_hz"), (dict(n_dof=0), "n_dof"),
    (dict(gesture_s=(2, 1)), "gesture_s"), (dict(rate_hz=30), "band_hz"), (dict(seed=-1), "seed"),
])
def test_emg_bad_params(kw, match):
    with pytest.raises(ValueError, match=match):
        EMGSynth(**kw)
