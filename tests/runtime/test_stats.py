"""Latency histograms: percentiles within the 1% bin width of numpy's, exact count and max, any range."""

import numpy as np
import pytest

from spikestream.runtime.stats import LatencyHistogram


@pytest.mark.parametrize("seed,scale", [(0, 1e-3), (1, 50e-6), (2, 0.2)])
def test_percentiles_within_one_bin_of_numpy(seed, scale):
    x = np.random.default_rng(seed).lognormal(np.log(scale), 0.8, 50_000)
    h = LatencyHistogram()
    for v in x:
        h.add(float(v))
    s = h.summary_ms()
    want = np.percentile(x * 1e3, [50, 90, 99], method="inverted_cdf")
    got = np.array([s["p50"], s["p90"], s["p99"]])
    assert np.all(got >= want * (1 - 1e-9)) and np.all(got <= want * 1.0101)  # the bin's upper edge: <= 1% high
    assert s["n"] == x.size and s["max"] == pytest.approx(x.max() * 1e3)


def test_out_of_range_values_are_kept():
    h = LatencyHistogram()
    for v in (0.0, 1e-9, 5e-4, 1e4):
        h.add(v)
    s = h.summary_ms()
    assert s["n"] == 4 and s["max"] == 1e7 and s["p50"] <= 1e-3 * 1.0101
    assert LatencyHistogram().summary_ms() == {}
