"""The one-value checks of spikestream.params that the library stages share (spec, topologies, weights,
safety, rate encoders, decoder and event-filter parameter classes)."""

import math

import numpy as np
import pytest

from spikestream.params import build_dataclass, check_number, check_per_item
from spikestream.registry import DECODERS, ENCODERS, EVENT_FILTERS
from spikestream.safety import SafetyParams


@pytest.mark.parametrize("v,kw,text", [
    (True, dict(integer=True, lo=1), "x must be an integer >= 1, got True"),
    (2.5, dict(integer=True), "x must be an integer, got 2.5"),
    (0, dict(lo=0, lo_open=True), "x must be a finite number > 0, got 0"),
    (math.inf, {}, "x must be a finite number, got inf"),
    (math.nan, dict(finite=False), "x must be a number, got nan"),
    ("3", {}, "x must be a finite number, got '3'"),
    (5, dict(hi=4, expect="a small number"), "x must be a small number, got 5"),
    (None, dict(required=True), "x is required"),
])
def test_check_number_refuses_with_one_line(v, kw, text):
    with pytest.raises(ValueError) as e:
        check_number(v, "x", **kw)
    assert str(e.value) == text


def test_check_number_converts():
    assert check_number(np.int64(3), "x", integer=True, lo=1) == 3
    assert check_number(3.0, "x", integer=True, whole_float=True) == 3
    assert check_number(math.inf, "x", finite=False) == math.inf
    assert type(check_number(2, "x")) is float


def test_check_per_item_broadcasts_and_checks_each():
    np.testing.assert_array_equal(check_per_item(2, "lo", 3), [2, 2, 2])
    with pytest.raises(ValueError, match="lo: one value or a list of 3"):
        check_per_item([1, 2], "lo", 3)
    with pytest.raises(ValueError, match="must be >= 0"):
        check_per_item([1, -1], "deadband", 2, lo=0)
    with pytest.raises(ValueError, match="must be finite"):
        check_per_item([1, math.inf], "safe_value", 2, finite=True)


def test_library_stages_share_the_checks_and_say_did_you_mean():
    with pytest.raises(ValueError, match="RLSParams: unknown parameter 'tau_mss'; did you mean 'tau_ms'"):
        DECODERS.create("linear_rls", n_inputs=2, n_outputs=1, tau_mss=10)
    with pytest.raises(ValueError, match="event filter 'refractory': unknown parameter 'period'; did you mean 'period_us'"):
        EVENT_FILTERS.get("refractory")(4, 4, period=10)
    with pytest.raises(ValueError, match="event filter 'refractory': period_us must be an integer >= 0, got -1"):
        EVENT_FILTERS.get("refractory")(4, 4, period_us=-1)
    with pytest.raises(ValueError, match=r"rate: rate_hz \(the sample rate\) is required"):
        ENCODERS.create("rate", n_channels=2)
    with pytest.raises(ValueError, match="safety: deadband must be >= 0"):
        SafetyParams(n_outputs=2, deadband=-1.0)
    with pytest.raises(ValueError, match="SafetyParams: missing parameter"):
        build_dataclass(SafetyParams, {})
