"""Slow plain-Python references for the encoder kernels (one sample, one channel at a time)."""

from __future__ import annotations

import numpy as np


def delta_reference(data, t_us, threshold, mode="reset", max_per_sample=1, init=None):
    data = np.asarray(data, np.float64)
    n, c_n = data.shape
    thr = np.broadcast_to(np.asarray(threshold, np.float64), (c_n,))
    ref = data[0].copy() if init is None else np.full(c_n, float(init))
    idx, tt = [], []
    for i in range(n):
        for c in range(c_n):
            x = float(np.float32(data[i, c]))
            d = x - ref[c]
            for up, cond in ((True, d >= thr[c]), (False, d <= -thr[c])):
                if not cond:
                    continue
                if mode == "level":
                    k = min(int(abs(d) / thr[c]), max_per_sample)
                    ref[c] += (k if up else -k) * thr[c]
                else:
                    k = 1
                    ref[c] = x
                idx += [2 * c + (0 if up else 1)] * k
                tt += [int(t_us[i])] * k
    return np.array(idx, np.int32), np.array(tt, np.int64)


def _out(ev):
    ev = sorted(ev)  # (t, idx)
    return np.array([e[1] for e in ev], np.int32), np.array([e[0] for e in ev], np.int64)


M64 = (1 << 64) - 1


def splitmix_reference(s):
    s = (s + 0x9E3779B97F4A7C15) & M64
    z = s
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return s, (z >> 11) / 2.0 ** 53


def rate_reference(x, t, rate_hz, max_rate_hz, lo, hi, mode, seed_state):
    n, cn = x.shape
    state = [int(v) for v in seed_state]
    phase = [0.0] * cn
    ev = []
    for i in range(n):
        for c in range(cn):
            v = min(max((float(x[i, c]) - lo) / (hi - lo), 0.0), 1.0)
            p = v * max_rate_hz / rate_hz
            if mode == "poisson":
                state[c], u = splitmix_reference(state[c])
                fire = u < p
            else:
                phase[c] += p
                fire = phase[c] >= 1.0
                if fire:
                    phase[c] -= 1.0
            if fire:
                ev.append((int(t[i]), c))
    return _out(ev)


def latency_reference(x, t, window_us, lo, hi, span):
    n, cn = x.shape
    ev = []
    for c in range(cn):
        cur, target = None, -1
        for i in range(n):
            w = int(t[i]) // window_us
            if w != cur:
                cur = w
                v = min((float(x[i, c]) - lo) / (hi - lo), 1.0)
                target = w * window_us + int((1 - v) * span * window_us) if v > 0 else -1
            if target >= 0 and t[i] >= target:
                ev.append((int(t[i]), c))
                target = -1
    return _out(ev)


def sigma_delta_reference(x, t, threshold, gain, max_per):
    n, cn = x.shape
    ev = []
    for c in range(cn):
        acc = 0.0
        for i in range(n):
            acc += gain * float(x[i, c])
            k = 0
            while acc >= threshold and k < max_per:
                acc -= threshold
                ev.append((int(t[i]), 2 * c))
                k += 1
            while acc <= -threshold and k < max_per:
                acc += threshold
                ev.append((int(t[i]), 2 * c + 1))
                k += 1
    return _out(ev)


def step_forward_reference(x, t, thr):
    n, cn = x.shape
    ev = []
    for c in range(cn):
        base = float(x[0, c])
        for i in range(n):
            v = float(x[i, c])
            if v > base + thr:
                base += thr
                ev.append((int(t[i]), 2 * c))
            elif v < base - thr:
                base -= thr
                ev.append((int(t[i]), 2 * c + 1))
    return _out(ev)


def moving_window_reference(x, t, thr, window):
    n, cn = x.shape
    ev = []
    for c in range(cn):
        for i in range(1, n):
            base = np.mean(x[max(0, i - window):i, c].astype(np.float64))
            v = float(x[i, c])
            if v > base + thr:
                ev.append((int(t[i]), 2 * c))
            elif v < base - thr:
                ev.append((int(t[i]), 2 * c + 1))
    return _out(ev)


def tbr_reference(x, t, factor, alpha, warmup):
    n, cn = x.shape
    ev = []
    for c in range(cn):
        m = v = 0.0
        for i in range(1, n):
            d = float(x[i, c]) - float(x[i - 1, c])
            if i > warmup:
                thr = m + factor * np.sqrt(v)
                if d > thr:
                    ev.append((int(t[i]), 2 * c))
                elif d < -thr:
                    ev.append((int(t[i]), 2 * c + 1))
            if i == 1:
                m, v = d, 0.0
            else:
                e = d - m
                m += alpha * e
                v = (1 - alpha) * (v + alpha * e * e)
    return _out(ev)


def bsa_reference(x, t, h, threshold, lo, hi):
    """Whole-signal BSA (Schrauwen 2003) with spikes stamped L-1 samples late, as the causal encoder does."""
    n, cn = x.shape
    L = len(h)
    ev = []
    for c in range(cn):
        u = (x[:, c].astype(np.float64) - lo) / (hi - lo)
        for k in range(n - L + 1):
            seg = u[k:k + L]
            if np.sum(np.abs(seg - h)) <= np.sum(np.abs(seg)) - threshold:
                u[k:k + L] -= h
                ev.append((int(t[k + L - 1]), c))
    return _out(ev)


def population_reference(x, t, rate_hz, n_neurons, lo, hi, beta, max_rate_hz):
    n, cn = x.shape
    mu = lo + (2 * np.arange(n_neurons) - 1) / 2 * (hi - lo) / (n_neurons - 2)
    sigma = (hi - lo) / (beta * (n_neurons - 2))
    ev = []
    for c in range(cn):
        for j in range(n_neurons):
            acc = 0.0
            for i in range(n):
                acc += np.exp(-(float(x[i, c]) - mu[j]) ** 2 / (2 * sigma ** 2)) * max_rate_hz / rate_hz
                if acc >= 1:
                    acc -= 1
                    ev.append((int(t[i]), c * n_neurons + j))
    return _out(ev)


def cochlea_reference(x, t, sos_bank, gain, exponent, threshold):
    from scipy import signal

    n, cn = x.shape
    nb = sos_bank.shape[0]
    ev = []
    for c in range(cn):
        for b in range(nb):
            y = signal.sosfilt(sos_bank[b], x[:, c].astype(np.float64))
            acc = 0.0
            for i in range(n):
                if y[i] > 0:
                    acc += (gain * y[i]) ** exponent
                if acc >= threshold:
                    acc -= threshold
                    if acc >= threshold:
                        acc = 0.0
                    ev.append((int(t[i]), c * nb + b))
    return _out(ev)
