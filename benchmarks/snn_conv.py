"""Convolutional SNN layer on event-camera input: 2 x 128 x 128 events (moving bars plus noise), 8 features of
5 x 5, pooling 2, k-WTA STDP on, dt = 1 ms. Prints input events per second of CPU time and the real-time
factor, beside a bare dense baseline measured in the same run: per step, accumulate the step's events into
a frame and correlate it with the kernels (scipy.signal.fftconvolve, no leak, no inhibition, no learning).

    .venv/bin/python benchmarks/snn_conv.py [--quick] [--repeats N]

Process CPU time, single-threaded; medians of several repeats; the machine is shared, so timings are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from scipy import signal

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.snn.conv import ConvLayer, ConvParams, events_to_spikes

H = W = 128
DT_US = 1000


def synthetic_events(T_us: int, rate_ev_s: float, seed: int = 0) -> np.ndarray:
    """Vertical and horizontal bars sweeping across the frame (ON leading edge, OFF trailing) + 10% noise."""
    rng = np.random.default_rng(seed)
    n = int(rate_ev_s * T_us * 1e-6)
    t = np.sort(rng.integers(0, T_us, n))
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = t
    phase = (t % 500_000) / 500_000 * W
    vertical = (t // 500_000) % 2 == 0
    pos = rng.integers(0, H, n)
    edge = np.clip(phase.astype(np.int64) + rng.integers(0, 3, n), 0, W - 1)
    ev["x"] = np.where(vertical, edge, pos)
    ev["y"] = np.where(vertical, pos, edge)
    ev["p"] = rng.random(n) < 0.5
    noise = rng.random(n) < 0.1
    ev["x"][noise] = rng.integers(0, W, noise.sum())
    ev["y"][noise] = rng.integers(0, H, noise.sum())
    return ev


def run_ours(idx, t, T_us, p):
    layer = ConvLayer(p)
    first = t < DT_US
    layer.advance(idx[first], t[first], DT_US)  # jit cache load
    c0 = time.process_time()
    oi, _ = layer.advance(idx[~first], t[~first], T_us)
    return time.process_time() - c0, oi.size


def run_dense(idx, t, T_us, w, threshold):
    steps = t // DT_US
    bounds = np.searchsorted(steps, np.arange(T_us // DT_US + 1))
    C = w.shape[1]
    v = None
    n_fire = 0
    c0 = time.process_time()
    for s in range(T_us // DT_US):
        k = idx[bounds[s]:bounds[s + 1]]
        frame = np.zeros(C * H * W)
        np.add.at(frame, k, 1.0)
        frame = frame.reshape(C, H, W)
        out = sum(signal.fftconvolve(frame[None, c], w[:, c, ::-1, ::-1], mode="valid", axes=(1, 2))
                  for c in range(C))
        v = out if v is None else v + out
        fired = v >= threshold
        n_fire += int(fired.sum())
        v[fired] = 0.0
    return time.process_time() - c0, n_fire


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    a = ap.parse_args()
    T_us = 500_000 if a.quick else 2_000_000
    reps = a.repeats or (2 if a.quick else 3)
    p = ConvParams(in_channels=2, height=H, width=W, n_features=8, kernel=5, pool=2, threshold=8.0,
                   tau_us=20_000, k_winners=4, inhibition_radius=3)
    print(f"conv SNN: {H}x{W}x2 events -> {p.n_features} features {p.kernel}x{p.kernel}, pool {p.pool}, "
          f"k-WTA STDP (k={p.k_winners}), dt 1 ms, {T_us / 1e6:g} s simulated; medians of {reps} repeats "
          f"(shared machine: noisy)")
    for rate in (1e5, 1e6):
        ev = synthetic_events(T_us, rate)
        idx, t = events_to_spikes(ev, H, W)
        runs = [run_ours(idx, t, T_us, p) for _ in range(reps)]
        cpu = statistics.median(r[0] for r in runs)
        w = ConvLayer(p).w
        T_base = min(T_us, 200_000)
        sel = t < T_base
        run_dense(idx[t < 10 * DT_US], t[t < 10 * DT_US], 10 * DT_US, w, p.threshold)  # warm-up (FFT plans)
        base = [run_dense(idx[sel], t[sel], T_base, w, p.threshold) for _ in range(max(1, reps - 1))]
        bcpu = statistics.median(r[0] for r in base) * (T_us / T_base)
        print(f"  {rate:9.0f} ev/s: spikestream {cpu:7.3f} s CPU, real-time factor {T_us / 1e6 / cpu:7.1f}x, "
              f"{idx.size / cpu / 1e6:6.2f} M events/s, {runs[0][1]} output spikes | dense scipy baseline "
              f"(no learning) {bcpu:7.3f} s CPU (from {T_base / 1e6:g} s), "
              f"real-time factor {T_us / 1e6 / bcpu:6.2f}x -> ratio {bcpu / cpu:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
