"""Our streaming filters against tonic's whole-recording reference transforms, where the semantics agree.

Differences (see docs/event-streaming.md): tonic's Denoise uses 4 neighbours and treats every pixel as having
fired at t = 0 (so events before ``filter_time`` pass); its RefractoryPeriod restarts the period on dropped
events too (our ``extend=True``) and treats every pixel as having fired at t = 0. Tests keep timestamps
clear of t = 0 where that matters. Tonic's Downsample multiplies by a float factor and truncates, which
equals our integer division for power-of-two factors.
"""

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.filters import FilterChain

tonic_transforms = pytest.importorskip("tonic.transforms")
pytestmark = pytest.mark.slow  # a peer comparison (quick, but needs the test-only tonic)

W, H = 32, 24


def _events(seed, n=20_000, t_min=0):
    ev = ref.random_events(np.random.default_rng(seed), n, W, H, t_max=2_000_000, hot=(3, 4))
    ev["t"] += t_min
    return ev


def _chunks(chain, ev, seed):
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, ev.size, 40))
    return np.concatenate([chain(c) for c in np.split(ev, cuts)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_background_activity_matches_tonic_denoise(seed):
    dt = 10_000
    ev = _events(seed, t_min=dt)  # tonic lets everything before filter_time through
    theirs = tonic_transforms.Denoise(filter_time=dt)(ev.copy())
    ours = _chunks(FilterChain([{"kind": "background_activity", "dt_us": dt, "neighbourhood": 4}], W, H), ev, seed)
    assert 0 < ours.size < ev.size
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refractory_extend_matches_tonic(seed):
    ev = _events(seed, t_min=1)  # tonic's memory starts at -delta: an event at t = 0 would be dropped
    theirs = tonic_transforms.RefractoryPeriod(delta=5_000)(ev.copy())
    ours = _chunks(FilterChain([{"kind": "refractory", "period_us": 5_000, "extend": True}], W, H), ev, seed)
    assert 0 < ours.size < ev.size
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("factor", [2, 4])
def test_downsample_matches_tonic(factor):
    ev = _events(4)
    theirs = tonic_transforms.Downsample(spatial_factor=1.0 / factor)(ev.copy())
    ours = _chunks(FilterChain([{"kind": "downsample", "factor": factor}], W, H), ev, 4)
    np.testing.assert_array_equal(ours, theirs)


def test_decimate_matches_tonic():
    ev = _events(5)
    theirs = tonic_transforms.Decimation(n=4)(ev.copy())
    ours = _chunks(FilterChain([{"kind": "decimate", "n": 4}], W, H), ev, 5)
    np.testing.assert_array_equal(ours, theirs.astype(ours.dtype))
