"""TargetBuffer: the newest `cap` target rows by time, against a plain concatenate-and-trim reference."""

import numpy as np
import pytest

from spikestream.decode.targets import TargetBuffer


def test_lookups_match_a_concatenate_and_trim_reference_over_many_appends():
    rng = np.random.default_rng(0)
    cap = 37
    tb = TargetBuffer(cap)
    tb.clear(2)
    ref_t, ref_d = np.zeros(0, np.int64), np.zeros((0, 2))
    t = 0
    for _ in range(400):
        n = int(rng.integers(0, 60))  # sometimes more than cap at once
        ts = t + np.cumsum(rng.integers(1, 5, n))
        t = int(ts[-1]) if n else t
        rows = rng.normal(size=(n, 2))
        tb.append(ts, rows)
        ref_t, ref_d = np.concatenate([ref_t, ts])[-cap:], np.concatenate([ref_d, rows])[-cap:]
        assert len(tb) == ref_t.size and tb.last_t == (int(ref_t[-1]) if ref_t.size else None)
        for q in rng.integers(max(0, t - 300), t + 5, 5):
            i = int(np.searchsorted(ref_t, q, side="right")) - 1
            want = None if i < 0 or q - ref_t[i] > 50 else ref_d[i]
            got = tb.at(int(q), 50)
            assert (got is None and want is None) or np.array_equal(got, want)


def test_clear_sets_the_width_and_a_returned_row_is_a_copy():
    tb = TargetBuffer(4)
    tb.clear(3)
    tb.append(np.array([10, 20]), np.ones((2, 3)))
    row = tb.at(25, 100)
    row[:] = 7
    assert np.array_equal(tb.at(25, 100), np.ones(3))
    assert tb.at(5, 100) is None and tb.at(1000, 100) is None  # before the first row; too old
    tb.clear()
    assert len(tb) == 0 and tb.width == 3 and tb.last_t is None
    with pytest.raises(ValueError):
        TargetBuffer(0)
