"""Slow references for the conditioning kernels."""

import numpy as np


def normalize_reference(x, a, eps=1e-6, center=True):
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    for k in range(x.shape[1]):
        m, v = x[0, k], 0.0
        for i in range(x.shape[0]):
            out[i, k] = (x[i, k] - m) / np.sqrt(v + eps) if center else x[i, k] / np.sqrt(v + m * m + eps)
            d = x[i, k] - m
            m += a * d
            v = (1 - a) * (v + a * d * d)
    return out
