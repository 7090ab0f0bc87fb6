"""Streaming event filters: against the plain references, chunk invariance, state round trip, bad input."""

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.filters import FilterChain
from spikestream.registry import EVENT_FILTERS

W, H = 24, 16

CASES = [
    ({"kind": "background_activity", "dt_us": 5_000}, lambda e: ref.background_activity(e, W, H, 5_000)),
    ({"kind": "background_activity", "dt_us": 20_000, "neighbourhood": 4, "include_self": True},
     lambda e: ref.background_activity(e, W, H, 20_000, 4, True)),
    ({"kind": "refractory", "period_us": 3_000}, lambda e: ref.refractory(e, 3_000)),
    ({"kind": "refractory", "period_us": 3_000, "extend": True}, lambda e: ref.refractory(e, 3_000, True)),
    ({"kind": "hot_pixel", "window_us": 50_000, "max_events": 20}, lambda e: ref.hot_pixel(e, 50_000, 20)),
    ({"kind": "decimate", "n": 3}, lambda e: ref.decimate(e, 3)),
    ({"kind": "rate_limit", "window_us": 7_000, "max_events": 5}, lambda e: ref.rate_limit(e, 7_000, 5)),
    ({"kind": "roi", "x": 3, "y": 2, "width": 10, "height": 9}, lambda e: ref.roi(e, 3, 2, 10, 9)),
    ({"kind": "roi", "x": 3, "y": 2, "width": 10, "height": 9, "crop": False},
     lambda e: ref.roi(e, 3, 2, 10, 9, crop=False)),
    ({"kind": "polarity", "keep": "on"}, lambda e: e[e["p"] == 1]),
    ({"kind": "polarity", "keep": "off"}, lambda e: e[e["p"] == 0]),
    ({"kind": "downsample", "factor": 3}, lambda e: ref.downsample(e, 3, 3)),
    ({"kind": "downsample", "factor_x": 2, "factor_y": 5}, lambda e: ref.downsample(e, 2, 5)),
]
IDS = [f"{c[0]['kind']}-{i}" for i, c in enumerate(CASES)]


def _events(seed, n=3000):
    return ref.random_events(np.random.default_rng(seed), n, W, H, t_max=400_000, hot=(5, 7))


def _chunked(chain, ev, rng):
    out, i = [], 0
    while i < ev.size:
        k = int(rng.integers(0, 300))  # zero-length chunks included
        out.append(chain(ev[i:i + k]))
        i += k
    return np.concatenate(out) if out else np.zeros(0, EVENT_DTYPE)


@pytest.mark.parametrize("spec,reference", CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_filter_matches_reference(spec, reference, seed):
    ev = _events(seed)
    got = FilterChain([spec], W, H)(ev.copy())
    want = reference(ev.copy())
    assert got.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(got, want)
    if spec["kind"] not in ("downsample", "roi") or spec.get("crop") is False:
        assert 0 < got.size < ev.size or spec["kind"] == "downsample"


@pytest.mark.parametrize("spec,reference", CASES, ids=IDS)
def test_filter_chunk_invariant(spec, reference):
    ev = _events(7)
    whole = FilterChain([spec], W, H)(ev.copy())
    chunked = _chunked(FilterChain([spec], W, H), ev.copy(), np.random.default_rng(3))
    np.testing.assert_array_equal(chunked, whole)


def test_chain_geometry_and_chunk_invariance():
    specs = [{"kind": "hot_pixel", "window_us": 50_000, "max_events": 20},
             {"kind": "roi", "x": 2, "y": 1, "width": 20, "height": 14},
             {"kind": "downsample", "factor": 2},
             {"kind": "background_activity", "dt_us": 30_000},
             {"kind": "refractory", "period_us": 1_000}]
    chain = FilterChain(specs, W, H)
    assert (chain.out_width, chain.out_height) == (10, 7)
    ev = _events(11, 5000)
    whole = chain(ev.copy())
    assert 0 < whole.size < ev.size
    assert whole["x"].max() < 10 and whole["y"].max() < 7
    step = ref.hot_pixel(ev, 50_000, 20)
    step = ref.roi(step, 2, 1, 20, 14)
    step = ref.downsample(step, 2, 2)
    step = ref.background_activity(step, 10, 7, 30_000)
    np.testing.assert_array_equal(whole, ref.refractory(step, 1_000))
    np.testing.assert_array_equal(_chunked(FilterChain(specs, W, H), ev.copy(), np.random.default_rng(5)), whole)


def test_state_round_trip_resumes_exactly():
    specs = [{"kind": "hot_pixel", "window_us": 50_000, "max_events": 20}, {"kind": "rate_limit", "max_events": 3},
             {"kind": "background_activity"}, {"kind": "decimate", "n": 2}]
    ev = _events(2, 4000)
    a = FilterChain(specs, W, H)
    first = a(ev[:1500])
    state = {k: v.copy() for k, v in a.get_state().items()}
    b = FilterChain(specs, W, H)
    b.set_state(state)
    np.testing.assert_array_equal(np.concatenate([first, b(ev[1500:])]), FilterChain(specs, W, H)(ev))
    bad = dict(state)
    bad["0.hot_pixel.counts"] = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="shape"):
        b.set_state(bad)
    with pytest.raises(ValueError, match="state keys"):
        b.set_state({})


def test_out_of_sensor_events_are_counted_not_crashing():
    chain = FilterChain([{"kind": "refractory"}], W, H)
    ev = _events(3, 100)
    ev["x"][:5] = W + 3
    out = chain(ev)
    assert chain.rejected == 5 and out["x"].max() < W


@pytest.mark.parametrize("spec,match", [
    ({"kind": "nope"}, "unknown event filter 'nope'"),
    ({"kind": "refractory", "period": 3}, "unknown parameter"),
    ({"kind": "refractory", "period_us": -1}, "period_us must be an integer >= 0"),
    ({"kind": "background_activity", "neighbourhood": 6}, "neighbourhood must be 4 or 8"),
    ({"kind": "roi", "x": 20, "width": 10}, "exceeds"),
    ({"kind": "polarity", "keep": "both"}, "keep must be"),
    ({"kind": "downsample", "factor": 0}, "factor must be"),
    ({"period_us": 3}, "'kind' string"),
])
def test_bad_parameters_say_what_is_wrong(spec, match):
    with pytest.raises(ValueError, match=match):
        FilterChain([spec], W, H)


def test_registry_names_every_filter():
    assert {"background_activity", "refractory", "hot_pixel", "roi", "polarity", "downsample", "decimate",
            "rate_limit"} <= set(EVENT_FILTERS.names())


def test_wrong_dtype_is_refused():
    with pytest.raises(ValueError, match="EVENT_DTYPE"):
        FilterChain([], W, H)(np.zeros(3, np.int64))
