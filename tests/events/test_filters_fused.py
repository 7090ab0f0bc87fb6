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


def _far_apart(seed, start_us):
    """Clustered bursts separated by jumps around and beyond the int32 rebase distance (2**30 us), some just
    inside the filters' windows of the jump, starting at ``start_us`` (far from zero, negative too)."""
    rng = np.random.default_rng(seed)
    parts, t0 = [], start_us
    for gap in [0, 1 << 30, (1 << 30) - 1, 1 << 31, 3, (1 << 32) + 7, 500, (1 << 30) + 1, 1 << 40, 2_000]:
        t0 += gap
        ev = ref.random_events(rng, 300, 8, 6, t_max=20_000)
        ev["t"] += t0
        parts.append(ev)
        t0 = int(ev["t"][-1])
    return np.concatenate(parts)


def _sweep(seed, start_us):
    """Small clusters every 2**22 us for 2.5 * 2**30 us: the tables rebase while the previous clusters are
    still inside the windows below."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(640):
        ev = ref.random_events(rng, 12, 8, 6, t_max=1_000)
        ev["t"] += start_us + k * (1 << 22)
        parts.append(ev)
    return np.concatenate(parts)


@pytest.mark.parametrize("start_us", [0, 1 << 40, -(1 << 41)])
@pytest.mark.parametrize("spec,reference", [
    ({"kind": "background_activity", "dt_us": 5 << 20}, lambda e: ref.background_activity(e, 8, 6, 5 << 20)),
    ({"kind": "refractory", "period_us": 9 << 20}, lambda e: ref.refractory(e, 9 << 20)),
    ({"kind": "refractory", "period_us": 3 << 20, "extend": True}, lambda e: ref.refractory(e, 3 << 20, True)),
])
def test_relative_int32_timestamps_keep_history_across_rebases(spec, reference, start_us):
    ev = _sweep(5, start_us)
    want = reference(ev)
    assert 0 < want.size < ev.size
    chain = FilterChain([spec], 8, 6)
    cuts = np.sort(np.random.default_rng(2).integers(0, ev.size, 40))
    np.testing.assert_array_equal(np.concatenate([chain(c) for c in np.split(ev, cuts)]), want)


@pytest.mark.parametrize("start_us", [0, 1 << 40, -(1 << 41)])
@pytest.mark.parametrize("spec,reference", [
    ({"kind": "background_activity", "dt_us": 3_000}, lambda e: ref.background_activity(e, 8, 6, 3_000)),
    ({"kind": "background_activity", "dt_us": 1 << 30, "neighbourhood": 4, "include_self": True},
     lambda e: ref.background_activity(e, 8, 6, 1 << 30, 4, True)),
    ({"kind": "refractory", "period_us": 2_000}, lambda e: ref.refractory(e, 2_000)),
    ({"kind": "refractory", "period_us": (1 << 30) - 1, "extend": True},
     lambda e: ref.refractory(e, (1 << 30) - 1, True)),
])
def test_relative_int32_timestamps_are_exact_across_rebases(spec, reference, start_us):
    ev = _far_apart(3, start_us)
    want = reference(ev)
    assert 0 < want.size < ev.size
    rng = np.random.default_rng(1)
    chain = FilterChain([spec], 8, 6)
    cuts = np.sort(rng.integers(0, ev.size, 25))
    got = np.concatenate([chain(c) for c in np.split(ev, cuts)])
    np.testing.assert_array_equal(got, want)
    again = FilterChain([spec], 8, 6)  # and through a saved state, mid-stream
    head = again(ev[:1700])
    resumed = FilterChain([spec], 8, 6)
    resumed.set_state({k: v.copy() for k, v in again.get_state().items()})
    np.testing.assert_array_equal(np.concatenate([head, resumed(ev[1700:])]), want)


@pytest.mark.parametrize("spec,match", [
    ({"kind": "background_activity", "dt_us": (1 << 30) + 1}, "dt_us must be at most"),
    ({"kind": "refractory", "period_us": 1 << 30}, "period_us must be below"),
])
def test_windows_beyond_the_int32_range_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        FilterChain([spec], 8, 6)


@pytest.mark.parametrize("later", [9, 10, 11])
def test_window_boundary_is_exact_when_a_rebase_lands_between_the_events(later):
    """The second event triggers the rebase (2**30 us after the first event, which set the base) and is
    compared with a pixel stored before it, at the window's very edge."""
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"] = [5, 0, 1], [5, 0, 0]
    ev["t"] = [0, (1 << 30) - 3, (1 << 30) - 3 + later]
    ba = FilterChain([{"kind": "background_activity", "dt_us": 10}], 8, 6)(ev)
    np.testing.assert_array_equal(ba, ref.background_activity(ev, 8, 6, 10))
    ev["x"][2] = 0
    rf = FilterChain([{"kind": "refractory", "period_us": 10}], 8, 6)(ev)
    np.testing.assert_array_equal(rf, ref.refractory(ev, 10))
    assert ba.size == (1 if later < 10 else 0) and rf.size == (3 if later > 10 else 2)


def _drain(s):
    return [(sl.t0_us, sl.t1_us, sl.idx.tolist(), sl.t_us.tolist()) for sl in s.pop_all()]


@pytest.mark.parametrize("polarity", ["both", "merge", "on"])
@pytest.mark.parametrize("specs", [
    [{"kind": "hot_pixel", "window_us": 50_000, "max_events": 20}, {"kind": "background_activity", "dt_us": 20_000},
     {"kind": "refractory", "period_us": 1_000}, {"kind": "downsample", "factor": 3}],
    [{"kind": "roi", "x": 2, "y": 1, "width": 20, "height": 14}, {"kind": "decimate", "n": 2}],
])
def test_chain_to_slicer_maps_in_the_filter_pass_exactly_as_chain_then_push(specs, polarity):
    from spikestream.events.slicing import EventSlicer

    ev = ref.random_events(np.random.default_rng(9), 6000, 24, 16, t_max=300_000, hot=(5, 7))
    ev["x"][::97] = 30  # outside the sensor: counted at the door
    ev["t"][500:520] -= 3_000  # times going backwards: clamped by the slicer's clock
    fused_chain, plain_chain = FilterChain(specs, 24, 16), FilterChain(specs, 24, 16)
    w, h = fused_chain.out_width, fused_chain.out_height
    fused, plain = EventSlicer(w, h, 2_000, polarity), EventSlicer(w, h, 2_000, polarity)
    got, want, kept_f, kept_p = [], [], 0, 0
    for c in np.split(ev, np.sort(np.random.default_rng(1).integers(0, ev.size, 50))):
        kept_f += fused_chain.to_slicer(c, fused)
        got += _drain(fused)
        k = plain_chain(c)
        kept_p += k.size
        plain.push(k)
        want += _drain(plain)
    fused.finish()
    plain.finish()
    assert got + _drain(fused) == want + _drain(plain)
    assert (kept_f, fused_chain.rejected, fused.reordered) == (kept_p, plain_chain.rejected, plain.reordered)
    assert fused.reordered > 0 and fused_chain.rejected > 0 and len(want) > 50
