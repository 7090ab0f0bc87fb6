import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.safety import SafetyParams, SafetyStage
from spikestream.testing import NodeHarness


def test_nan_keeps_the_last_valid_command_under_the_rate_limit():
    s = SafetyStage(n_outputs=1, max_rate=1.0)
    s.apply([0.0], 0.0)
    s.apply([1.0], 0.1)
    assert s.apply([np.nan], 0.2)[0] == pytest.approx(0.2)  # still moving toward 1.0, not frozen
    assert s.apply([np.inf], 0.3)[0] == pytest.approx(0.3) and s.rejected == 2


def test_clamp_and_nan_guard_holds_last_and_starves_watchdog():
    s = SafetyStage(n_outputs=2, lo=[-1, 0], hi=[1, 5], timeout_s=0.5)
    assert np.array_equal(s.apply([3.0, -2.0], 0.0), [1.0, 0.0])
    assert np.array_equal(s.apply([0.5, 2.0], 0.1), [0.5, 2.0])
    for k, t in enumerate([0.2, 0.4, 0.55]):
        assert np.array_equal(s.apply([np.nan, 1.0], t), [0.5, 2.0])  # whole vector rejected, held
        assert s.rejected == k + 1
    assert s.watchdog(0.55) is None
    assert np.array_equal(s.watchdog(0.61), [0.0, 0.0]) and s.safe  # NaNs did not feed the watchdog
    s.apply([0.2, 0.2], 0.7)
    assert not s.safe


def test_start_from_safe_value_under_rate_limit():
    s = SafetyStage(n_outputs=1, max_rate=2.0, safe_value=0.0)
    assert s.apply([10.0], 5.0)[0] == 0.0  # first value: starts at rest at safe value
    assert s.apply([10.0], 5.5)[0] == pytest.approx(1.0)
    assert s.apply([10.0], 6.0)[0] == pytest.approx(2.0)
    assert s.apply([2.1], 7.0)[0] == pytest.approx(2.1)  # no overshoot


def test_deadband_holds_small_changes():
    s = SafetyStage(n_outputs=1, deadband=0.1)
    s.apply([1.0], 0.0)
    assert s.apply([1.05], 0.1)[0] == 1.0
    assert s.apply([0.91], 0.2)[0] == 1.0
    assert s.apply([1.2], 0.3)[0] == 1.2


@pytest.mark.parametrize("dt", [0.01, 0.003, 0.037])
def test_acceleration_ramp_and_braking(dt):
    a, vmax = 4.0, 2.0
    s = SafetyStage(n_outputs=1, max_rate=vmax, max_accel=a)
    s.apply([0.0], 0.0)
    ys = [s.apply([3.0], dt * k)[0] for k in range(1, int(4.0 / dt))]
    v = np.diff(np.r_[0.0, ys]) / dt
    # accel bound holds for the whole move, up to a fraction of a step at the final stop
    assert np.all(np.abs(np.diff(v)) <= 1.15 * a * dt + 1e-9)
    assert np.sum(np.abs(np.diff(v)) > a * dt + 1e-9) <= 1
    assert np.all(v <= vmax + 1e-9) and np.all(np.array(ys) <= 3.0 + 1e-12)
    assert ys[-1] == pytest.approx(3.0)
    # ideal trapezoid: 0.5 s accelerating, 1 s cruising, 0.5 s braking: arrives near t = 2.0 s
    arrive = (np.argmax(np.isclose(ys, 3.0, atol=1e-6)) + 1) * dt
    assert 1.95 <= arrive <= 2.15


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=60), st.floats(0.1, 50), st.floats(0.001, 0.2))
def test_properties_range_and_rate(us, rate, dt):
    s = SafetyStage(n_outputs=1, lo=-2.0, hi=3.0, max_rate=rate)
    prev = s.apply([us[0]], 0.0)[0]
    for k, u in enumerate(us[1:], 1):
        y = s.apply([u], k * dt)[0]
        assert -2.0 <= y <= 3.0
        assert abs(y - prev) <= rate * dt * (1 + 1e-9) + 1e-12
        prev = y


def test_watchdog_immediate_and_slew():
    s = SafetyStage(n_outputs=1, safe_value=0.0, timeout_s=0.2, max_rate=1.0)
    s.reset(0.0)
    for k in range(1, 31):
        s.apply([5.0], 0.1 * k)
    y_last = s.y[0]
    assert y_last == pytest.approx(3.0)
    assert s.watchdog(3.15) is None
    assert s.watchdog(3.21)[0] == 0.0 and s.safe  # immediate: at once
    sl = SafetyStage(n_outputs=1, safe_value=0.0, timeout_s=0.2, max_rate=1.0, safe_mode="slew")
    sl.reset(0.0)
    for k in range(1, 31):
        sl.apply([5.0], 0.1 * k)
    ys = [sl.watchdog(3.0 + 0.1 * k)[0] if sl.watchdog(3.0 + 0.1 * k) is not None else None for k in range(3, 40)]
    assert ys[0] is not None and ys[0] < 3.0
    got = [y for y in ys if y is not None]
    assert np.all(np.diff(got) <= 0) and got[-1] == 0.0


def test_never_fed_is_safe():
    s = SafetyStage(n_outputs=3, lo=-1, hi=1, safe_value=[0.0, 0.5, -1.0])
    assert np.array_equal(s.watchdog(100.0), [0.0, 0.5, -1.0])


def test_state_roundtrip():
    s = SafetyStage(n_outputs=2, max_rate=1.0, max_accel=3.0)
    for k in range(10):
        s.apply([1.0, -1.0], 0.05 * k)
    r = SafetyStage(n_outputs=2, max_rate=1.0, max_accel=3.0)
    r.set_state(s.get_state())
    for k in range(10, 30):
        assert np.array_equal(s.apply([2.0, 1.0], 0.05 * k), r.apply([2.0, 1.0], 0.05 * k))
    with pytest.raises(ValueError):
        r.set_state({"y": np.zeros(3)})


@pytest.mark.parametrize("kw, msg", [
    ({"lo": 1.0, "hi": 0.0}, "below"),
    ({"lo": 0.0, "hi": 1.0, "safe_value": 2.0}, "outside"),
    ({"max_rate": -1.0}, "max_rate must be > 0"),
    ({"deadband": -0.1}, "deadband"),
    ({"timeout_s": 0.0}, "timeout"),
    ({"safe_mode": "gentle"}, "safe_mode"),
    ({"safe_mode": "slew"}, "slew"),
    ({"lo": [0.0, 1.0, 2.0]}, "one per output"),
])
def test_bad_params(kw, msg):
    with pytest.raises(ValueError, match=msg):
        SafetyParams(n_outputs=2, **kw)


def test_wrong_length_input():
    with pytest.raises(ValueError, match="outputs"):
        SafetyStage(n_outputs=2).apply([1.0], 0.0)
    assert math.isinf(SafetyParams(n_outputs=1).hi)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(float("nan")), st.just(float("inf"))), min_size=1, max_size=60),
       st.floats(0.5, 50), st.floats(0.5, 200), st.floats(0.001, 0.1), st.floats(0, 0.5))
def test_properties_with_acceleration_deadband_and_bad_values(us, rate, acc, dt, db):
    s = SafetyStage(n_outputs=1, lo=-2.0, hi=3.0, max_rate=rate, max_accel=acc, deadband=db)
    prev = s.apply([0.0], 0.0)[0]
    for k, u in enumerate(us, 1):
        y = s.apply([u], k * dt)[0]
        assert np.isfinite(y) and -2.0 <= y <= 3.0
        assert abs(y - prev) <= rate * dt * (1 + 1e-9) + 1e-12
        prev = y
    assert s.rejected == sum(not np.isfinite(u) for u in us)


def test_slew_mode_node_emits_every_tick_until_safe():
    import spikestream.nodes  # noqa: F401

    h = NodeHarness("control_output", {"decoder": {"kind": "rate", "n_inputs": 2},
                                       "safety": {"timeout_s": 0.1, "max_rate": 1.0, "safe_mode": "slew"}},
                    name="o", setup=False)  # the clock is swapped before setup
    n, out = h.node, h.out
    clk = [0]
    n.clock_ns = lambda: clk[0]
    n.setup()
    n.safety.y[:] = [0.5, -0.5]  # where an earlier command left the actuator
    n.safety.times[:] = [0.0, 0.0]
    ys = []
    for k in range(1, 120):
        clk[0] = int(0.1e9) + k * 10_000_000
        n.poll(clk[0])
        ys.append(out[-1][1].values.copy())
    assert len(out) == 119 and all(o[1].safe for o in out)
    ys = np.array(ys)
    assert np.all(np.abs(np.diff(ys, axis=0)) <= 0.01 + 1e-12)  # 1 unit/s over 10 ms ticks
    assert np.array_equal(ys[-1], [0.0, 0.0])


def test_without_rate_limits_the_output_is_the_clamped_input_exactly():
    """No limit held the step back: the value sent is the decoded one, bit for bit (a replayed run gives the
    control values of the live one)."""
    rng = np.random.default_rng(3)
    s = SafetyStage(n_outputs=3, lo=-1.0, hi=1.0)
    t = 0.0
    for _ in range(5000):
        t += float(rng.uniform(1e-5, 0.02))
        u = rng.normal(0.0, 0.7, 3)
        y = s.apply(u.copy(), t)
        np.testing.assert_array_equal(y, np.clip(u, -1.0, 1.0))
