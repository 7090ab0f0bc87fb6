"""A spikes body is refused for the same reason, in the same order, whether its arrays are short (plain Python
checks) or long (numpy; sorted times give their extremes from the ends): index, then window, then order."""

import numpy as np
import pytest

from spikestream import protocol as P


def _reason(t0, t1, n, idx, t):
    """What the checks say, written plainly (all four extremes, then the order)."""
    if idx.size:
        if idx.max() >= n:
            return "n_neurons"
        if t.min() < t0 or t.max() >= t1:
            return "outside"
        if np.any(np.diff(t) < 0):
            return "sorted"
    return None


@pytest.mark.parametrize("size", [1, 5, 64, 65, 400])
def test_same_reason_as_the_plain_checks(size):
    rng = np.random.default_rng(size)
    for k in range(300):
        t = np.sort(rng.integers(1000, 2000, size))
        idx = rng.integers(0, 16, size)
        kind = k % 6
        if kind == 1:
            idx[rng.integers(size)] = 16 + k
        elif kind == 2 and size > 2:  # out of order inside the window
            i = rng.integers(1, size - 1)
            t[i], t[i + 1] = t[i + 1], t[i] - 1
        elif kind == 3:  # out of order, one time outside the window (not at an end)
            t[rng.integers(size)] = 2500
        elif kind == 4:
            t[0] = 999
        elif kind == 5:
            t[-1] = 2000
        body = P.Spikes(1000, 2000, 16, idx.astype(np.uint32), t.astype(np.int64))
        want = _reason(1000, 2000, 16, idx, t)
        frame = P.pack(P.Message(body))
        if want is None:
            got = P.unpack(frame).body
            assert np.array_equal(got.idx, idx) and np.array_equal(got.t_us, t)
        else:
            with pytest.raises(P.ProtocolError, match=want):
                P.unpack(frame)
