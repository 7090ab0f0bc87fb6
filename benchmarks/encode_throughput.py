"""Encoding throughput of every registered encoder at 8 and 64 channels, 10 kHz, against a plain-numpy
baseline (a per-sample Python loop vectorised over channels, or scipy's sosfilt for the filterbank)
measured in the same run. Prints rows/s, how many times faster than real time, and the ratio to numpy.

    .venv/bin/python benchmarks/encode_throughput.py [--quick]

Timings are process CPU time (one core; numba and numpy run single-threaded here), medians of several
repeats; on a shared machine they are still noisy. The baseline runs on fewer rows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import signal

from spikestream.registry import ENCODERS

FS = 10_000.0
PARAMS = {
    "delta": dict(threshold=0.05),
    "rate": dict(rate_hz=FS, max_rate_hz=500),
    "latency": dict(window_us=10_000),
    "sigma_delta": dict(threshold=1.0, gain=0.1),
    "step_forward": dict(threshold=0.05),
    "moving_window": dict(threshold=0.05, window=10),
    "tbr": dict(factor=0.5),
    "bsa": dict(filter_len=16, filter_amp=0.1),
    "population": dict(rate_hz=FS, n_neurons=8, max_rate_hz=500),
    "cochlea": dict(rate_hz=FS, n_bands=16, filters="butter"),
}


# ----------------------------------------------------------------------------- plain-numpy baselines
def np_delta(x, t, thr=0.05):
    ref = x[0].astype(np.float64).copy()
    out = []
    for i in range(x.shape[0]):
        d = x[i] - ref
        up, dn = d >= thr, d <= -thr
        ch = np.flatnonzero(up | dn)
        ref[ch] = x[i, ch]
        out.append(2 * ch + dn[ch])
    return out


def np_rate(x, t, p=0.05, rng=np.random.default_rng(0)):
    return [np.flatnonzero(rng.random(x.shape[1]) < np.clip(x[i], 0, 1) * p) for i in range(x.shape[0])]


def np_latency(x, t, window=10_000):
    win = np.full(x.shape[1], -1)
    target = np.full(x.shape[1], -1)
    out = []
    for i in range(x.shape[0]):
        w = t[i] // window
        new = win != w
        win[new] = w
        v = np.clip(x[i], 0, 1)
        target[new] = np.where(v[new] > 0, w * window + ((1 - v[new]) * 0.9 * window).astype(np.int64), -1)
        fire = (target >= 0) & (t[i] >= target)
        target[fire] = -1
        out.append(np.flatnonzero(fire))
    return out


def np_sigma_delta(x, t, thr=1.0, gain=0.1):
    acc = np.zeros(x.shape[1])
    out = []
    for i in range(x.shape[0]):
        acc += gain * x[i]
        up, dn = acc >= thr, acc <= -thr
        acc[up] -= thr
        acc[dn] += thr
        out.append(np.flatnonzero(up | dn))
    return out


def np_step_forward(x, t, thr=0.05):
    base = x[0].astype(np.float64).copy()
    out = []
    for i in range(x.shape[0]):
        up, dn = x[i] > base + thr, x[i] < base - thr
        base += thr * up - thr * dn
        out.append(np.flatnonzero(up | dn))
    return out


def np_moving_window(x, t, thr=0.05, w=10):
    out = []
    for i in range(1, x.shape[0]):
        base = x[max(0, i - w):i].mean(axis=0)
        out.append(np.flatnonzero((x[i] > base + thr) | (x[i] < base - thr)))
    return out


def np_tbr(x, t, factor=0.5, a=0.01):
    d = np.diff(x, axis=0)
    m = np.zeros(x.shape[1])
    v = np.zeros(x.shape[1])
    out = []
    for i in range(d.shape[0]):
        thr = m + factor * np.sqrt(v)
        out.append(np.flatnonzero((d[i] > thr) | (d[i] < -thr)))
        e = d[i] - m
        m += a * e
        v = (1 - a) * (v + a * e * e)
    return out


def np_bsa(x, t, L=16, amp=0.1):
    h = np.hanning(L + 2)[1:-1] * amp
    u = x.astype(np.float64).copy()
    out = []
    for k in range(x.shape[0] - L + 1):
        seg = u[k:k + L]
        fire = np.abs(seg - h[:, None]).sum(0) <= np.abs(seg).sum(0)
        u[k:k + L, fire] -= h[:, None]
        out.append(np.flatnonzero(fire))
    return out


def np_population(x, t, m=8, p=0.05):
    mu = (2 * np.arange(m) - 1) / 2 / (m - 2)
    inv = 1 / (2 * (1 / (1.5 * (m - 2))) ** 2)
    acc = np.zeros((x.shape[1], m))
    out = []
    for i in range(x.shape[0]):
        acc += np.exp(-(x[i][:, None] - mu) ** 2 * inv) * p
        fire = acc >= 1
        acc[fire] -= 1
        out.append(np.flatnonzero(fire))
    return out


def np_cochlea(x, t, bank=None):
    out = []
    for b in range(bank.shape[0]):  # scipy's C sosfilt per band: the strongest baseline here
        y = signal.sosfilt(bank[b], x, axis=0)
        c = np.cumsum(np.maximum(y, 0) ** 0.3, axis=0)
        out.append(np.diff(np.floor(c / 4.0), axis=0))
    return out


BASELINES = {"delta": np_delta, "rate": np_rate, "latency": np_latency, "sigma_delta": np_sigma_delta,
             "step_forward": np_step_forward, "moving_window": np_moving_window, "tbr": np_tbr, "bsa": np_bsa,
             "population": np_population, "cochlea": np_cochlea}


def _signal(n, c, seed=0):
    rng = np.random.default_rng(seed)
    k = np.arange(n)[:, None]
    x = 0.5 + 0.3 * np.sin(2 * np.pi * (5 + np.arange(c)) * k / FS) + 0.05 * rng.standard_normal((n, c))
    return np.round(np.arange(n) * 1e6 / FS).astype(np.int64), x.astype(np.float32)


def _median_time(fn, repeats):
    """Median CPU time of this process (less sensitive than wall time to other jobs on a shared machine)."""
    ts = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rows and repeats")
    ap.add_argument("--chunk", type=int, default=100, help="rows per encode() call (default 100 = 10 ms)")
    a = ap.parse_args()
    n = 20_000 if a.quick else 100_000
    n_base = 2_000 if a.quick else 5_000
    repeats = 3 if a.quick else 5
    print(f"{n} rows at {FS:g} Hz in chunks of {a.chunk}; numpy baseline on {n_base} rows; median of {repeats}")
    print(f"{'encoder':14s} {'ch':>3s} {'rows/s':>12s} {'x real time':>12s} {'numpy rows/s':>13s} {'speed-up':>9s}")
    worst, worst_kind = np.inf, ""
    cases = [(kind, c, PARAMS[kind]) for kind in ENCODERS.names() for c in (8, 64)]
    # a cochlea's "channels" are usually its frequency channels (a 64-channel silicon cochlea is one
    # input x 64 bands): measured too, beside the 64 inputs x 16 bands (1024 filters) row above it
    cases.append(("cochlea", 1, {**PARAMS["cochlea"], "n_bands": 64}))
    for kind, c, params in cases:
        t, x = _signal(n, c)
        enc = ENCODERS.create(kind, n_channels=c, **params)
        enc.encode(x[:10], t[:10])  # compile

        def run():
            enc.reset()
            for k in range(0, n, a.chunk):
                enc.encode(x[k:k + a.chunk], t[k:k + a.chunk])

        dt = _median_time(run, repeats)
        kw = {"bank": enc.sos} if kind == "cochlea" else {}
        bt = _median_time(lambda: BASELINES[kind](x[:n_base], t[:n_base], **kw), max(1, repeats // 2))
        rows, brows = n / dt, n_base / bt
        if c == 64 and rows / FS < worst:
            worst, worst_kind = rows / FS, kind
        label = f"{kind} x{params['n_bands']}" if kind == "cochlea" else kind
        print(f"{label:14s} {c:3d} {rows:12.4g} {rows / FS:12.1f} {brows:13.4g} {rows / brows:8.1f}x")
    print(f"slowest encoder at 64 input channels: {worst_kind} {worst:.0f}x real time (target >= 100x); "
          f"2-core machine shared with other jobs, so figures are noisy")


if __name__ == "__main__":
    main()
