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
