"""Spike counts and rates as decoders (box or exponential window), pooled into groups of neurons.

``window = "exp"``: ``r_j(T)`` exponentially filtered rate (tau ``tau_ms``), see `features.ExpRates`.
``window = "box"``: ``c_j(T) / W`` with ``c_j`` the count in ``[T - W, T)``, ``W = window_ms``
(``unit = "count"`` gives the count itself). Output ``k`` is the mean over the neurons of group ``k``:
``groups`` lists, per output, its neuron indices; by default output ``k`` takes the contiguous block
``j * K // N == k`` (with ``K = N`` each neuron is its own output).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spikestream.decode._base import (CALIBRATING, N_INPUTS, TAU_MS, WINDOW, WINDOW_MS, WINDOWS, Decoder,
                                      build_params)
from spikestream.decode.features import BoxCounts, ExpRates
from spikestream.params import Param, Params, params_dataclass
from spikestream.registry import DECODERS

UNITS = ("hz", "count")


class RateFeatures:
    """Per-neuron rates (spikes/s) from an exponential or a box window; ``step`` returns float64[N]."""

    def __init__(self, n: int, window: str = WINDOW.default, tau_ms: float = TAU_MS.default,
                 window_ms: float = WINDOW_MS.default, unit: str = UNITS[0], capacity: int = 1 << 16):
        if window not in WINDOWS:
            raise ValueError(f"window must be 'exp' or 'box', got {window!r}")
        if unit not in UNITS:
            raise ValueError(f"unit must be 'hz' or 'count', got {unit!r}")
        self.window = window
        self.out = np.zeros(n)
        if window == "exp":
            self.f = ExpRates(n, tau_ms)
            self._scale = 1.0 if unit == "hz" else tau_ms * 1e-3  # filtered count = rate x tau
        else:
            self.f = BoxCounts(n, window_ms, capacity)
            self._scale = 1e3 / window_ms if unit == "hz" else 1.0

    def step(self, idx, t_us, until_us) -> np.ndarray:
        if self.window == "exp":
            self.f.add(idx, t_us)
            self.f.read(until_us, self.out)
        else:
            self.out[:] = self.f.advance(idx, t_us, until_us)
        if self._scale != 1.0:
            self.out *= self._scale
        return self.out

    def reset(self, t_us: int) -> None:
        self.f.reset(t_us)

    def get_state(self):
        return self.f.get_state()

    def set_state(self, s):
        self.f.set_state(s)


def check_groups(n: int, k: int, groups) -> None:
    """ValueError unless `groups` (per output, its neuron indices; empty: contiguous blocks) fits `n`
    neurons and `k` outputs."""
    if groups:
        if len(groups) != k:
            raise ValueError(f"groups: {len(groups)} groups for {k} outputs")
        for g, members in enumerate(groups):
            ok = isinstance(members, (list, tuple, np.ndarray)) and len(members) > 0
            members = np.asarray(members if ok else [-1]).reshape(-1)
            if not ok or members.dtype.kind not in "iu" or members.min() < 0 or members.max() >= n:
                raise ValueError(f"groups[{g}] must list neuron indices in [0, {n})")
    elif k > n:
        raise ValueError(f"{k} outputs from {n} neurons need explicit groups")


def _n_outputs(v) -> int:
    return v["n_outputs"] or (len(v["groups"]) if v["groups"] else v["n_inputs"])


RATE = Params(
    N_INPUTS,
    Param("n_outputs", int, 0, lo=0, doc="0: one per group, or one per neuron"),
    WINDOW, TAU_MS, WINDOW_MS,
    Param("unit", str, "hz", choices=UNITS, doc='"hz": spikes/s; "count": spikes in the window'),
    Param("groups", list, [], doc="per output, the neuron indices it averages (default: contiguous blocks)"),
    CALIBRATING,
    check=lambda v, t: check_groups(v["n_inputs"], _n_outputs(v), v["groups"]),
)
#: ``counts``: `RATE` with a box window counting spikes.
COUNTS = RATE.with_defaults(window="box", unit="count")
RateParams = params_dataclass("RateParams", RATE, __name__)


def group_matrix(n: int, k: int, groups) -> np.ndarray:
    """M[k, j] = 1/|group k| for j in group k: output = M @ rates."""
    check_groups(n, k, groups)
    M = np.zeros((k, n))
    if groups:
        for g, members in enumerate(groups):
            members = np.asarray(members, np.int64).reshape(-1)
            M[g, members] = 1.0 / members.size
    else:
        blk = np.arange(n) * k // n
        M[blk, np.arange(n)] = 1.0
        M /= M.sum(axis=1, keepdims=True)
    return M


@DECODERS.register("rate")
class RateDecoder(Decoder):
    """Spike rates or counts (box or exponential window), averaged over groups of neurons."""

    _part_names = ("features",)
    PARAMS = RATE

    def __init__(self, **kw):
        if "groups" in kw and not isinstance(kw["groups"], (list, tuple)):
            kw["groups"] = [list(g) for g in kw["groups"]]  # an array of index rows
        p = build_params(RateParams, kw)
        k = _n_outputs(dataclasses.asdict(p))
        super().__init__(p.n_inputs, k, p.calibrating)
        self.params = p
        self.features = RateFeatures(p.n_inputs, p.window, p.tau_ms, p.window_ms, p.unit)
        self.M = group_matrix(p.n_inputs, k, p.groups)
        self._identity = k == p.n_inputs and not p.groups

    @classmethod
    def declared_outputs(cls, v: dict) -> tuple[int, bool]:
        return _n_outputs(v), False

    def _check_target(self, target):  # a rate decoder learns nothing; any target is ignored
        pass

    accepts_any_target = True

    def _decode(self, idx, t_us, until_us, target):
        r = self.features.step(idx, t_us, until_us)
        if self._identity:
            self.out[:] = r
        else:
            np.dot(self.M, r, out=self.out)
        return self.out


@DECODERS.register("counts")
def counts_decoder(**kw):
    """Box-window spike counts (``rate`` with ``window = "box"``, ``unit = "count"``)."""
    kw.setdefault("window", COUNTS["window"].default)
    kw.setdefault("unit", COUNTS["unit"].default)
    return RateDecoder(**kw)


counts_decoder.PARAMS = COUNTS
counts_decoder.declared_outputs = RateDecoder.declared_outputs
