"""Slow plain-Python references for the event filters, slicer and emulator (one event at a time)."""

from __future__ import annotations

import math

import numpy as np

from spikestream.events.dtype import EVENT_DTYPE


def random_events(rng: np.random.Generator, n: int, width: int, height: int, t_max: int = 1_000_000,
                  hot: tuple[int, int] | None = None) -> np.ndarray:
    """Sorted events with clusters (so neighbour filters have something to keep) and optional hot pixel."""
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    cx = rng.integers(0, width, n // 4 + 1).repeat(4)[:n]
    cy = rng.integers(0, height, n // 4 + 1).repeat(4)[:n]
    ev["x"] = np.clip(cx + rng.integers(-1, 2, n), 0, width - 1)
    ev["y"] = np.clip(cy + rng.integers(-1, 2, n), 0, height - 1)
    ev["p"] = rng.integers(0, 2, n)
    if hot is not None:
        sel = rng.random(n) < 0.3
        ev["x"][sel], ev["y"][sel] = hot
    return ev


def background_activity(ev, width, height, dt_us, neighbourhood=8, include_self=False):
    last = {}
    keep = []
    for e in ev:
        x, y, t = int(e["x"]), int(e["y"]), int(e["t"])
        ok = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dx == 0 and dy == 0 and not include_self:
                    continue
                if neighbourhood == 4 and dx != 0 and dy != 0:
                    continue
                if (x + dx, y + dy) in last and t - last[(x + dx, y + dy)] < dt_us:
                    ok = True
        keep.append(ok)
        last[(x, y)] = t
    return ev[np.array(keep, bool)]


def refractory(ev, period_us, extend=False):
    last = {}
    keep = []
    for e in ev:
        key, t = (int(e["x"]), int(e["y"])), int(e["t"])
        ok = key not in last or t - last[key] > period_us
        keep.append(ok)
        if ok or extend:
            last[key] = t
    return ev[np.array(keep, bool)]


def hot_pixel(ev, window_us, max_events):
    counts = {}  # (pixel, window) -> events so far
    keep = []
    for e in ev:
        key, w = (int(e["x"]), int(e["y"])), int(e["t"]) // window_us
        counts[(key, w)] = counts.get((key, w), 0) + 1
        keep.append(counts[(key, w)] <= max_events and counts.get((key, w - 1), 0) <= max_events)
    return ev[np.array(keep, bool)]


def decimate(ev, n):
    count = {}
    keep = []
    for e in ev:
        key = (int(e["x"]), int(e["y"]))
        count[key] = count.get(key, 0) + 1
        keep.append(count[key] % n == 0)
    return ev[np.array(keep, bool)]


def rate_limit(ev, window_us, max_events):
    count = {}
    keep = []
    for e in ev:
        w = int(e["t"]) // window_us
        count[w] = count.get(w, 0) + 1
        keep.append(count[w] <= max_events)
    return ev[np.array(keep, bool)]


def roi(ev, x0, y0, w, h, crop=True):
    out = [e for e in ev if x0 <= e["x"] < x0 + w and y0 <= e["y"] < y0 + h]
    out = np.array(out, EVENT_DTYPE) if out else np.zeros(0, EVENT_DTYPE)
    if crop:
        out["x"] -= x0
        out["y"] -= y0
    return out


def downsample(ev, fx, fy):
    out = ev.copy()
    for e in out:
        e["x"] = int(e["x"]) // fx
        e["y"] = int(e["y"]) // fy
    return out


def slice_events(ev, width, height, slice_us, polarity, t_start, t_end):
    """[(t0, t1, idx list, t list)] for every slice [t0, t0 + slice_us) from t_start up to t_end."""
    out = []
    t0 = t_start
    while t0 < t_end:
        idx, ts = [], []
        for e in ev:
            t = int(e["t"])
            if t0 <= t < t0 + slice_us:
                x, y, p = int(e["x"]), int(e["y"]), int(e["p"])
                if polarity == "both":
                    idx.append((p * height + y) * width + x)
                elif polarity == "merge" or (polarity == "on") == (p == 1):
                    idx.append(y * width + x)
                else:
                    continue
                ts.append(t)
        out.append((t0, t0 + slice_us, idx, ts))
        t0 += slice_us
    return out


def step_on_events(i0: float, i1: float, theta: float) -> int:
    """Ideal DVS pixel: ON events for a step from intensity i0 to i1 (log response, no noise)."""
    return int(math.floor((math.log(i1) - math.log(i0)) / theta + 1e-9))
