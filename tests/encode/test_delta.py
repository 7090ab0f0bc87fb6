import numpy as np
import pytest

from spikestream.encode.delta import DeltaEncoder, decode_delta
from spikestream.registry import ENCODERS
from spikestream.testing import encode_in_chunks

from encode_reference import delta_reference


def _signal(n=3000, c=4, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 1000
    x = np.cumsum(rng.standard_normal((n, c)), axis=0).astype(np.float32) * 0.05
    x[:, 0] += np.sin(np.arange(n) / 30).astype(np.float32)
    return t.astype(np.int64), x


def _chunked(enc, x, t, rng):
    return encode_in_chunks(enc, x, t, rng, 50)


@pytest.mark.parametrize("mode,max_per", [("reset", 1), ("level", 1), ("level", 5)])
def test_delta_matches_reference_and_is_chunk_invariant(mode, max_per):
    t, x = _signal()
    enc = DeltaEncoder(4, threshold=[0.1, 0.05, 0.2, 0.1], mode=mode, max_per_sample=max_per)
    i_all, t_all = enc.encode(x, t)
    ri, rt = delta_reference(x, t, [0.1, 0.05, 0.2, 0.1], mode, max_per)
    assert i_all.size > 100
    np.testing.assert_array_equal(i_all, ri)
    np.testing.assert_array_equal(t_all, rt)
    for seed in range(3):
        enc2 = DeltaEncoder(4, threshold=[0.1, 0.05, 0.2, 0.1], mode=mode, max_per_sample=max_per)
        ci, ct = _chunked(enc2, x, t, np.random.default_rng(seed))
        np.testing.assert_array_equal(ci, i_all)
        np.testing.assert_array_equal(ct, t_all)


def test_delta_output_layout_and_order():
    t = np.array([0, 10, 20, 30], np.int64)
    x = np.array([[0, 0], [1, -1], [1, -1], [0, 1]], np.float32)
    i, tt = DeltaEncoder(2, threshold=0.5).encode(x, t)
    np.testing.assert_array_equal(i, [0, 3, 1, 2])  # UP ch0, DOWN ch1 at t=10; DOWN ch0, UP ch1 at t=30
    np.testing.assert_array_equal(tt, [10, 10, 30, 30])
    assert ENCODERS.get("delta") is DeltaEncoder


def test_level_mode_decodes_within_one_threshold():
    t, x = _signal(c=3)
    thr = 0.05
    enc = DeltaEncoder(3, threshold=thr, mode="level", max_per_sample=1000)
    i, tt = enc.encode(x, t)
    rec = decode_delta(i, tt, t, 3, thr, x0=x[0])
    assert np.max(np.abs(rec - x)) < thr + 1e-6


def test_state_roundtrip_continues_the_stream():
    t, x = _signal()
    a = DeltaEncoder(4, threshold=0.1)
    a.encode(x[:1000], t[:1000])
    b = DeltaEncoder(4, threshold=0.1)
    b.set_state(a.get_state())
    ia, ta = a.encode(x[1000:], t[1000:])
    ib, tb = b.encode(x[1000:], t[1000:])
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(ta, tb)
    with pytest.raises(ValueError, match="shape"):
        b.set_state({**a.get_state(), "ref": np.zeros(3)})


@pytest.mark.parametrize("bad,match", [
    (dict(threshold=0), "threshold"), (dict(threshold=[0.1, 0.2]), "threshold"),
    (dict(mode="x"), "mode"), (dict(max_per_sample=0), "max_per_sample"),
])
def test_bad_params(bad, match):
    with pytest.raises(ValueError, match=match):
        DeltaEncoder(4, **bad)


def test_bad_input_is_rejected_without_touching_state():
    t, x = _signal(n=20)
    enc = DeltaEncoder(4, threshold=0.01)
    enc.encode(x[:10], t[:10])
    st = enc.get_state()
    with pytest.raises(ValueError, match="channels"):
        enc.encode(x[10:, :3], t[10:])
    bad = x[10:].copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        enc.encode(bad, t[10:])
    with pytest.raises(ValueError, match="after the previous"):
        enc.encode(x[10:], t[10:] - 5000)
    with pytest.raises(ValueError, match="strictly increasing"):
        enc.encode(x[10:], t[10:][::-1].copy())
    for k, v in enc.get_state().items():
        np.testing.assert_array_equal(v, st[k])


def test_amplitude_neurons_count_mean_absolute_value_and_keep_up_down():
    """AMP = 3c+2 integrates |x|: its count over a stretch is sum|x| / threshold within one spike, and the
    UP/DOWN spikes are those of the encoder without AMP, renumbered 2c+k -> 3c+k."""
    t, x = _signal()
    thr = [0.1, 0.05, 0.2, 0.1]
    plain_i, plain_t = DeltaEncoder(4, threshold=thr, mode="level", max_per_sample=1000).encode(x, t)
    enc = DeltaEncoder(4, threshold=thr, mode="level", max_per_sample=1000, amplitude=True)
    assert enc.n_outputs == 12
    i, tt = enc.encode(x, t)
    ud = i % 3 != 2
    np.testing.assert_array_equal(i[ud] // 3 * 2 + i[ud] % 3, plain_i)
    np.testing.assert_array_equal(tt[ud], plain_t)
    for c in range(4):
        n_amp = np.count_nonzero(i == 3 * c + 2)
        expect = np.abs(x[:, c].astype(np.float64)).sum() / thr[c]
        assert abs(n_amp - expect) <= 1.0, (c, n_amp, expect)
    order = np.lexsort((i, tt))  # sorted by time, then by neuron
    np.testing.assert_array_equal(order, np.arange(i.size))


def test_amplitude_is_chunk_invariant_and_its_state_round_trips():
    t, x = _signal()
    ref_i, ref_t = DeltaEncoder(4, threshold=0.1, mode="level", max_per_sample=3, amplitude=True).encode(x, t)
    enc = DeltaEncoder(4, threshold=0.1, mode="level", max_per_sample=3, amplitude=True)
    ci, ct = _chunked(enc, x[:1500], t[:1500], np.random.default_rng(1))
    b = DeltaEncoder(4, threshold=0.1, mode="level", max_per_sample=3, amplitude=True)
    b.set_state(enc.get_state())  # the AMP membranes travel with the state
    bi, bt = b.encode(x[1500:], t[1500:])
    np.testing.assert_array_equal(np.concatenate([ci, bi]), ref_i)
    np.testing.assert_array_equal(np.concatenate([ct, bt]), ref_t)
    assert "acc" in enc.get_state() and "acc" not in DeltaEncoder(4).get_state()  # old checkpoints still load
    # a burst far above the cap: at most max_per_sample AMP spikes per sample, and the excess is not banked
    big = np.full((5, 1), 100.0, np.float32)
    e = DeltaEncoder(1, threshold=1.0, mode="level", max_per_sample=3, amplitude=True, init=100.0)
    i, _ = e.encode(big, np.arange(5, dtype=np.int64))
    assert np.count_nonzero(i == 2) == 15 and e.acc[0] <= 1.0
    with pytest.raises(ValueError, match="amplitude"):
        DeltaEncoder(4, amplitude="yes")
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="amplitude_threshold"):
            DeltaEncoder(4, amplitude=True, amplitude_threshold=bad)


def test_amplitude_threshold_sets_the_amp_neurons_level_only():
    t, x = _signal()
    a = DeltaEncoder(4, threshold=0.1, mode="level", max_per_sample=1000, amplitude=True)
    b = DeltaEncoder(4, threshold=0.1, mode="level", max_per_sample=1000, amplitude=True, amplitude_threshold=0.4)
    ia, _ = a.encode(x, t)
    ib, _ = b.encode(x, t)
    np.testing.assert_array_equal(ia[ia % 3 != 2], ib[ib % 3 != 2])  # UP/DOWN untouched
    for c in range(4):
        expect = np.abs(x[:, c].astype(np.float64)).sum() / 0.4
        assert abs(np.count_nonzero(ib == 3 * c + 2) - expect) <= 1.0
