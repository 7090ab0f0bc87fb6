import numpy as np
import pytest

from spikestream.encode.delta import DeltaEncoder, decode_delta
from spikestream.registry import ENCODERS

from encode_reference import delta_reference


def _signal(n=3000, c=4, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 1000
    x = np.cumsum(rng.standard_normal((n, c)), axis=0).astype(np.float32) * 0.05
    x[:, 0] += np.sin(np.arange(n) / 30).astype(np.float32)
    return t.astype(np.int64), x


def _chunked(enc, x, t, rng):
    out_i, out_t = [], []
    k = 0
    while k < len(t):
        n = int(rng.integers(1, 50))
        i, tt = enc.encode(x[k:k + n], t[k:k + n])
        out_i.append(i)
        out_t.append(tt)
        k += n
    return np.concatenate(out_i), np.concatenate(out_t)


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
