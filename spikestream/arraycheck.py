"""Cheap checks on the small arrays of a real-time stream.

Validation runs on every message, and a 1 kHz stream's messages hold a handful of values, where numpy's
fixed cost per call (~1 us) is most of the work. Up to `SMALL` values these go through a Python list,
several times faster; larger arrays use numpy. The answers are the same either way.
"""

from __future__ import annotations

import math

import numpy as np

SMALL = 64


def all_finite(a: np.ndarray) -> bool:
    """No NaN or inf in a float array."""
    return all(map(math.isfinite, a.ravel().tolist())) if a.size <= SMALL else bool(np.isfinite(a).all())


def increasing(t: np.ndarray, strict: bool) -> bool:
    """Whether a 1-d integer array is (strictly) increasing."""
    if t.size <= SMALL:
        v = t.tolist()
        return all(map(int.__lt__ if strict else int.__le__, v, v[1:]))
    return not ((t[1:] <= t[:-1]) if strict else (t[1:] < t[:-1])).any()


def min_max(a: np.ndarray) -> tuple[int, int]:
    """Smallest and largest value of a non-empty integer array, as Python ints."""
    if a.size <= SMALL:
        v = a.tolist()
        return min(v), max(v)
    return int(a.min()), int(a.max())


def max_of(a: np.ndarray) -> int:
    """Largest value of a non-empty integer array, as a Python int (one pass where `min_max` makes two)."""
    return max(a.tolist()) if a.size <= SMALL else int(a.max())
