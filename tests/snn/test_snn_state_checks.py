"""SNN.set_state checks everything before writing anything (issue 11, "learned weights lost").

A bad file used to be half-loaded (core arrays written before the rest was checked), NaN weights loaded
silently (the network went dead), and an out-of-range pending input index segfaulted the kernel.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from spikestream.snn import build_snn

PARAMS = {"dt_us": 1000, "seed": 3, "outputs": ["h"], "layers": [{"name": "h", "n": 6, "model": "lif"}],
          "connections": [{"pre": "input", "post": "h", "weight": {"init": "uniform", "low": 2.0, "high": 6.0},
                           "delay_ms": 2.0, "plasticity": {"rule": "stdp_pair", "w_max": 10.0}}]}


def _net():
    snn = build_snn(PARAMS, 4)
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 50_000, 60))
    snn.advance(rng.integers(0, 4, 60), t, 49_500)  # some pending inputs, spikes in flight
    return snn


def _same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


BAD = {
    "nan weight": lambda s: s["w"].__setitem__(0, np.nan),
    "inf membrane": lambda s: s["S"].__setitem__((0, 5), np.inf),
    "negative weight": lambda s: s["w"].__setitem__(1, -1.0),
    "pend_idx too big": lambda s: s.update(pend_idx=np.array([10**6], np.int64), pend_t=np.array([60_000])),
    "pend_idx negative": lambda s: s.update(pend_idx=np.array([-1], np.int64), pend_t=np.array([60_000])),
    "pend_t unsorted": lambda s: s.update(pend_idx=np.array([0, 1]), pend_t=np.array([70_000, 60_000])),
    "refr negative": lambda s: s["refr"].__setitem__(4, -5),
    "flag not 0/1": lambda s: s["flag"].__setitem__(4, 7),
    "ring_used not 0/1": lambda s: s["ring_used"].__setitem__((0, 0), 3),
    "step out of range": lambda s: s.update(step=np.array([2**62], np.int64)),
    "step of wrong type": lambda s: s.update(step=np.array([1.5])),
    "weights as ints": lambda s: s.update(w=s["w"].astype(np.int64)),
    "reward channel negative": lambda s: s.update(rw_step=np.array([1]), rw_ch=np.array([-2]), rw_val=np.array([1.0])),
    "reward value nan": lambda s: s.update(rw_step=np.array([1]), rw_ch=np.array([0]), rw_val=np.array([np.nan])),
    "learning is text": lambda s: s.update(learning=np.array(["yes"])),
    "object array": lambda s: s.update(count=np.array([object()] * s["count"].size)),
    "not an array": lambda s: s.update(pend_idx={"a": 1}),
    "count negative": lambda s: s["count"].__setitem__(5, -1),
}


@pytest.mark.parametrize("what", sorted(BAD))
def test_a_bad_state_is_refused_and_changes_nothing(what):
    good = _net().get_state()
    target = _net()
    target.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), 80_000)  # diverge from `good`
    before = target.get_state()
    bad = {k: v.copy() for k, v in good.items()}
    BAD[what](bad)
    with pytest.raises(ValueError, match="SNN state"):
        target.set_state(bad)
    assert _same(target.get_state(), before)  # nothing written
    target.set_state(good)  # the good one still loads, and gives exactly the saved state back
    assert _same(target.get_state(), good)


def test_the_callers_arrays_are_not_kept():
    snn = _net()
    st = snn.get_state()
    other = _net()
    other.set_state(st)
    st["w"][:] = 123.0
    st["pend_idx"][:] = 0
    assert not np.any(other.get_state()["w"] == 123.0)


def test_restored_state_continues_exactly():
    a = _net()
    st = a.get_state()
    b = build_snn(PARAMS, 4)
    b.set_state(st)
    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(50_000, 90_000, 40))
    i = rng.integers(0, 4, 40)
    oa, ob = a.advance(i, t, 90_000), b.advance(i, t, 90_000)
    np.testing.assert_array_equal(oa[0], ob[0])
    np.testing.assert_array_equal(a.weights("input->h"), b.weights("input->h"))


def test_out_of_range_pending_index_does_not_reach_the_kernel():
    """On the old code this segfaulted the process (the kernel indexed seg_ptr with a huge neuron id)."""
    code = textwrap.dedent(f"""
        import numpy as np
        from spikestream.snn import build_snn
        P = {PARAMS!r}
        snn = build_snn(P, 4)
        st = snn.get_state()
        st["pend_idx"], st["pend_t"] = np.array([2**40], np.int64), np.array([500], np.int64)
        st["step"] = np.array([0], np.int64)
        try:
            snn.set_state(st)
        except ValueError as e:
            print("refused:", e)
        snn.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), 5000)
        print("alive")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused:" in r.stdout and "alive" in r.stdout


def test_advance_refuses_more_steps_than_allowed_before_changing_anything():
    snn = _net()
    before = snn.get_state()
    with pytest.raises(ValueError, match="steps"):
        snn.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), 10**15, max_steps=1000)
    assert _same(snn.get_state(), before)
    snn.advance(np.zeros(0, np.int64), np.zeros(0, np.int64), 51_000, max_steps=1000)
    assert snn.time_us == 51_000


def test_bias_is_bounded():
    snn = _net()
    snn.max_bias = 50.0
    snn.set_bias("h", 49.0)
    with pytest.raises(ValueError, match="max_bias"):
        snn.set_bias("h", 1e6)
    assert np.all(snn.get_state()["ibias"][4:] == 49.0)
    st = snn.get_state()
    st["ibias"][5] = 60.0
    with pytest.raises(ValueError, match="max_bias"):
        snn.set_state(st)
