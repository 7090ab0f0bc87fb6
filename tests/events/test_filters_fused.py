"""The fused chain kernel's compact state encodings and arithmetic tricks, checked where random streams rarely go."""

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.filters import DownsampleFilter, FilterChain, RefractoryFilter, _reciprocal


def test_downsample_reciprocal_equals_integer_division():
    x = np.arange(1 << 16, dtype=np.int64)
    rng = np.random.default_rng(0)
    factors = [*range(1, 260), *rng.integers(260, 1 << 16, 200).tolist(), 65534, 65535, 65536, 70_000, 1 << 40]
    for f in factors:
        np.testing.assert_array_equal((x * _reciprocal(f)) >> 32, x // f, err_msg=f"factor {f}")


def test_downsample_large_factor_maps_everything_to_zero():
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"] = [0, 65_000, 65_535]
    out = DownsampleFilter(65_536, 4, factor_x=70_000, factor_y=1)(ev)
    assert out["x"].tolist() == [0, 0, 0]


def _bursty(seed, n_windows=40, window_us=10_000, max_events=6):
    """A few pixels whose counts per window straddle max_events, with silent windows and gaps of several
    windows, so hot-in-the-window-before, its expiry and window skips all happen."""
    rng = np.random.default_rng(seed)
    parts = []
    for w in range(n_windows):
        for px in range(4):
            k = int(rng.choice([0, 0, 3, max_events, max_events + 1, 2 * max_events]))
            ev = np.zeros(k, EVENT_DTYPE)
            ev["x"], ev["y"] = px, px % 2
            ev["t"] = w * window_us + rng.integers(0, window_us, k)
            ev["p"] = rng.integers(0, 2, k)
            parts.append(ev)
    ev = np.concatenate(parts)
    return ev[np.argsort(ev["t"], kind="stable")]


@pytest.mark.parametrize("seed", range(6))
def test_hot_pixel_packed_state_matches_reference_on_bursts(seed):
    ev = _bursty(seed)
    spec = [{"kind": "hot_pixel", "window_us": 10_000, "max_events": 6}]
    want = ref.hot_pixel(ev, 10_000, 6)
    assert 0 < want.size < ev.size
    chain = FilterChain(spec, 4, 2)
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, ev.size, 30))
    got = np.concatenate([chain(c) for c in np.split(ev, cuts)])
    np.testing.assert_array_equal(got, want)


def test_filter_run_alone_then_in_its_chain_keeps_one_state():
    ev = ref.random_events(np.random.default_rng(4), 2000, 8, 6, t_max=50_000)
    chain = FilterChain([{"kind": "refractory", "period_us": 2_000}], 8, 6)
    f = chain.filters[0]
    assert isinstance(f, RefractoryFilter)
    a = chain(ev[:700])
    b = f(ev[700:1400])  # the same filter on its own: its state moves to its own program and back
    c = chain(ev[1400:])
    np.testing.assert_array_equal(np.concatenate([a, b, c]), ref.refractory(ev, 2_000))
