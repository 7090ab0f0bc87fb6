import logging

import numpy as np

from spikestream.sources._base import TimeChecker
from spikestream.sources.serial_port import FrameParser, binary_frame


def _reference(t, x, period, factor=1.5):
    last, keep, st = None, [], dict(nonfinite=0, time=0, gaps=0, missing=0)
    for i in range(len(t)):
        if not np.isfinite(x[i]).all():
            st["nonfinite"] += 1
            continue
        if last is not None and t[i] <= last:
            st["time"] += 1
            continue
        if last is not None and t[i] - last > factor * period:
            st["gaps"] += 1
            st["missing"] += int(round((t[i] - last) / period)) - 1
        keep.append(i)
        last = t[i]
    return np.array(keep), st


def _stream(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.choice([1000, 1000, 1000, 1000, 3000, 0, -2000, 7000], n)).astype(np.int64)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    x[rng.random(n) < 0.02, rng.integers(0, 3)] = np.nan
    x[rng.random(n) < 0.01, 1] = np.inf
    return t, x


def test_admit_matches_reference_in_any_chunking():
    t, x = _stream()
    keep, st = _reference(t, x, 1000.0)
    for seed in range(4):
        stats = {}
        tc = TimeChecker(1000.0, stats, logging.getLogger("test"), "test")
        rng = np.random.default_rng(seed)
        got_t, got_x, k = [], [], 0
        while k < len(t):
            n = int(rng.integers(1, 300)) if seed else len(t)
            a, b = tc.admit(t[k:k + n], x[k:k + n])
            got_t.append(a)
            got_x.append(b)
            k += n
        np.testing.assert_array_equal(np.concatenate(got_t), t[keep])
        np.testing.assert_array_equal(np.concatenate(got_x), x[keep])
        assert (stats["rejected_nonfinite"], stats["rejected_time"], stats["gaps"], stats["missing_samples"]) == (
            st["nonfinite"], st["time"], st["gaps"], st["missing"])
        assert stats["samples"] == keep.size


def test_frame_parser_is_split_invariant():
    frames = b"".join(binary_frame(1000 * k, [k, -k]) for k in range(200)) + b"\xa5\x5a\x00"
    whole = FrameParser("binary", 2, True, {"rejected_frames": 0}).feed(frames, 0)
    rng = np.random.default_rng(0)
    p = FrameParser("binary", 2, True, {"rejected_frames": 0})
    rows, k = [], 0
    while k < len(frames):
        n = int(rng.integers(1, 40))
        rows += p.feed(frames[k:k + n], 0)
        k += n
    assert len(rows) == len(whole) == 200
    assert [r[0] for r in rows] == [r[0] for r in whole]
    np.testing.assert_array_equal(np.stack([r[1] for r in rows]), np.stack([r[1] for r in whole]))
