"""Slicing events into fixed windows of neuron indices: reference, chunk invariance, empties, state."""

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.slicing import EventSlicer
from spikestream.protocol import Message, Spikes, pack, unpack

W, H = 12, 9


def _events(seed, n=2000, t_max=300_000):
    ev = ref.random_events(np.random.default_rng(seed), n, W, H, t_max=t_max)
    ev["t"] += 1_234
    ev["t"][n // 2:] += 50_000  # a gap: empty slices must still come out
    return ev


def _drain(s):
    return s.pop_all()


def _as_tuples(slices):
    return [(s.t0_us, s.t1_us, s.idx.tolist(), s.t_us.tolist()) for s in slices]


@pytest.mark.parametrize("polarity", ["both", "merge", "on", "off"])
@pytest.mark.parametrize("slice_us", [1_000, 7_777])
def test_slices_match_reference(polarity, slice_us):
    ev = _events(1)
    s = EventSlicer(W, H, slice_us, polarity)
    s.push(ev)
    s.finish()
    got = _drain(s)
    sel = ev if polarity in ("both", "merge") else ev[(ev["p"] == 1) == (polarity == "on")]
    t_start = (int(sel["t"][0]) // slice_us) * slice_us  # the grid starts at the first slice with an event
    t_end = (int(sel["t"][-1]) // slice_us + 1) * slice_us
    want = ref.slice_events(ev, W, H, slice_us, polarity, t_start, t_end)
    assert _as_tuples(got) == want
    assert any(len(w[2]) == 0 for w in want)  # the gap gave empty slices
    assert s.n_neurons == W * H * (2 if polarity == "both" else 1)
    for sl in got:  # every slice is a valid wire packet
        body = Spikes(sl.t0_us, sl.t1_us, s.n_neurons, sl.idx, sl.t_us)
        back = unpack(pack(Message(body, "s", 0, sl.t1_us, 0)))
        np.testing.assert_array_equal(back.body.idx, sl.idx)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunk_invariant(seed):
    ev = _events(seed + 10)
    whole = EventSlicer(W, H, 2_500, "both", keep_events=True)
    whole.push(ev)
    whole.finish()
    want = _drain(whole)
    rng = np.random.default_rng(seed)
    s = EventSlicer(W, H, 2_500, "both", keep_events=True)
    got, i = [], 0
    while i < ev.size:
        k = int(rng.integers(0, 200))
        s.push(ev[i:i + k])
        got += _drain(s)
        i += k
    s.finish()
    got += _drain(s)
    assert _as_tuples(got) == _as_tuples(want)
    np.testing.assert_array_equal(np.concatenate([g.events for g in got]), ev)


def test_slice_not_popped_before_it_is_complete_and_advance_closes_empties():
    s = EventSlicer(W, H, 1_000)
    ev = np.zeros(2, EVENT_DTYPE)
    ev["t"] = [100, 900]
    s.push(ev)
    assert s.pop() is None  # an event at 1000 may still come
    s.advance(3_000)
    out = _drain(s)
    assert [(o.t0_us, o.t1_us, o.idx.size) for o in out] == [(0, 1_000, 2), (1_000, 2_000, 0), (2_000, 3_000, 0)]


def test_out_of_order_times_are_clamped_and_late_events_dropped():
    s = EventSlicer(W, H, 1_000)
    ev = np.zeros(4, EVENT_DTYPE)
    ev["t"] = [100, 500, 400, 1_200]
    s.push(ev)
    first = s.pop()
    assert first.t_us.tolist() == [100, 500, 500] and s.reordered == 1
    late = np.zeros(1, EVENT_DTYPE)
    late["t"] = 50
    s.push(late)  # clamped to 1200, the latest time seen: stays in order
    s.finish()
    assert _drain(s)[0].t_us.tolist() == [1_200, 1_200]


def test_state_round_trip():
    ev = _events(3)
    a = EventSlicer(W, H, 3_000, "merge", keep_events=True)
    a.push(ev[:700])
    head = _drain(a)
    b = EventSlicer(W, H, 3_000, "merge", keep_events=True)
    b.set_state({k: v.copy() for k, v in a.get_state().items()})
    b.push(ev[700:])
    b.finish()
    full = EventSlicer(W, H, 3_000, "merge", keep_events=True)
    full.push(ev)
    full.finish()
    assert _as_tuples(head + _drain(b)) == _as_tuples(_drain(full))
    with pytest.raises(ValueError, match="state keys"):
        b.set_state({})


def test_max_events_per_slice_bounds_a_packet():
    s = EventSlicer(W, H, 1_000, max_events_per_slice=10)
    ev = np.zeros(25, EVENT_DTYPE)
    ev["t"] = 5
    s.push(ev)
    s.finish()
    assert s.pop().idx.size == 10 and s.overflow == 15


@pytest.mark.parametrize("kw,match", [({"slice_us": 0}, "slice_us"), ({"polarity": "up"}, "polarity"),
                                      ({"width": -1}, "width")])
def test_bad_parameters(kw, match):
    args = {"width": W, "height": H, "slice_us": 1000} | kw
    with pytest.raises(ValueError, match=match):
        EventSlicer(**args)
