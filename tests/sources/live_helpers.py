"""Helpers shared by the live-source tests (LSL, serial): wait on a condition, collect rows."""

import time

import numpy as np


def wait_for(cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not (v := cond()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return v


def collect(src, n, timeout_s=10.0):
    """Read `src` until `n` rows arrived (or fail the test); return their times and data."""
    ts, xs = [], []

    def more():
        c = src.read(1000)
        if c.t_us.size:
            ts.append(c.t_us)
            xs.append(c.data)
        return sum(t.size for t in ts) >= n

    assert wait_for(more, timeout_s), f"got {sum(t.size for t in ts)} of {n} samples"
    return np.concatenate(ts), np.concatenate(xs)
