"""Ring alignment: find, without labels, how far a ring of electrodes (an EMG armband) was rotated, and
undo it on the input spikes before the network sees them.

An armband's electrodes sit on a ring around the forearm; put on 45 degrees off, channel ``c`` reads what
channel ``c - 1`` read during calibration, and every pattern a network or a readout learned is scrambled
(a classical TD+LDA classifier falls from 96 % to 34 % on the Myo data). The stage learns, unsupervised,
a codebook of what aligned input looks like (competitive learning: the winner moves toward the input, as
the winner of a k-WTA layer does under STDP), then keeps asking which ring shift of the incoming input the
codebook explains best:

- features: per input neuron, ``log1p`` of its spike count in a box window (``window_ms``), read every
  ``step_ms`` of source time, in the *raw* (sensor) channel order;
- learning (the first ``learn_s`` seconds of source time with input, and only while ``learning``): the
  aligned features are kept, then clustered into ``codebook`` codewords (k-means, seeded k-means++ start,
  20 Lloyd iterations) — what a competitive (winner-take-all) layer converges to, computed in one go;
- detection (afterwards): for each shift ``s`` of the ring, ``d_s`` = squared distance of the feature rolled
  by ``s`` channels to its nearest codeword; ``D_s`` is its exponential average (``tau_s``); the stage
  switches to shift ``s*`` when ``D_{s*} < ratio * D_current`` after at least ``min_evidence_s`` of
  evidence since the last switch. Input spike ``i = per_channel * c + k`` then goes to
  ``per_channel * ((c - shift) mod ring) + k``.

Deterministic and chunk-invariant: decisions happen on the ``step_ms`` grid of source time, from the
spikes before each grid point only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream._statefield import state_field
from spikestream.decode._base import build_params


@dataclass(frozen=True)
class AlignParams:
    n_inputs: int
    ring: int = 8                  # electrodes on the ring
    per_channel: int = 2           # input neurons per electrode (delta encoders: UP, DOWN)
    window_ms: float = 260.0       # feature window
    step_ms: float = 25.0          # one feature (and one decision) every step_ms of source time
    codebook: int = 32             # codewords
    learn_s: float = 60.0          # source seconds of codebook learning (counted while input is active)
    tau_s: float = 20.0            # forgetting of the per-shift evidence
    ratio: float = 0.7             # switch when another shift explains the input this much better
    min_evidence_s: float = 20.0   # evidence needed before a switch (and between switches)
    min_spikes: int = 4            # a window with fewer spikes carries no placement information

    def __post_init__(self):
        if self.ring < 2 or self.per_channel < 1 or self.n_inputs != self.ring * self.per_channel:
            raise ValueError(f"align: n_inputs ({self.n_inputs}) must be ring ({self.ring}) x per_channel "
                             f"({self.per_channel})")
        for k in ("window_ms", "step_ms", "learn_s", "tau_s", "min_evidence_s"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"align.{k} must be a positive number, got {v!r}")
        if not 0 < self.ratio < 1:
            raise ValueError(f"align.ratio must be in (0, 1), got {self.ratio!r}")
        if self.codebook < 2 or self.window_ms < self.step_ms:
            raise ValueError("align: codebook must be >= 2 and window_ms >= step_ms")
        if self.learn_s * 1000 / self.step_ms < self.codebook:
            raise ValueError(f"align: learn_s ({self.learn_s}) must give at least one window per codeword "
                             f"({self.codebook} x step_ms)")


@njit(cache=True)
def _shift_evidence(x, rolls, cw, won, decay, D):
    """``D[s] = decay D[s] + (1 - decay) min_j |x[rolls[s]] - cw_j|^2`` over the codewords that won inputs."""
    ring, n = rolls.shape
    for s in range(ring):
        best = math.inf
        for j in range(cw.shape[0]):
            if won[j] <= 0.0:
                continue
            d = 0.0
            for i in range(n):
                e = x[rolls[s, i]] - cw[j, i]
                d += e * e
            if d < best:
                best = d
        D[s] = decay * D[s] + (1.0 - decay) * best


@njit(cache=True)
def _map_spikes(idx, t, until_us, lo, c, bins, perm, rolls, kept, cw, won, D, decay, min_ev, learn_steps,
                min_spikes, ratio, learning, step_us, out):
    """`RingAlign.map` from spike ``lo`` on: spikes before each grid point are mapped (``out``) and counted,
    then the grid point's decision is made (clock ``c``: see `RingAlign`). Returns (next spike, whether the
    codebook is due): the caller fits it and calls again."""
    nbins, n = bins.shape
    m = idx.size
    x = np.empty(n)
    while True:
        while lo < m and t[lo] < c[0]:
            out[lo] = perm[idx[lo]]
            bins[c[1], idx[lo]] += 1.0
            lo += 1
        if c[0] > until_us:
            return lo, False
        # the grid point: the window's counts, then the next bin
        total = 0.0
        for i in range(n):
            v = 0.0
            for b in range(nbins):
                v += bins[b, i]
            x[i] = v
            total += v
        c[0] += step_us
        c[1] = (c[1] + 1) % nbins
        bins[c[1], :] = 0.0
        if total < min_spikes or not learning:
            continue
        for i in range(n):
            x[i] = math.log1p(x[i])
        if c[3] < learn_steps:  # learning: keep the aligned window
            row = c[3] % kept.shape[0]
            for i in range(n):
                kept[row, i] = x[rolls[c[2], i]]
            c[3] += 1
            if c[3] == learn_steps:
                return lo, True
            continue
        _shift_evidence(x, rolls, cw, won, decay, D)
        c[4] += 1
        if c[4] < min_ev:
            continue
        best = np.argmin(D)
        if best != c[2] and D[best] < ratio * D[c[2]]:
            c[2] = best
            for i in range(n):
                perm[rolls[best, i]] = i
            c[4] = 0
            c[5] += 1


class RingAlign:
    """Undo an unknown rotation of a ring of sensors on the input spikes (see the module doc)."""

    def __init__(self, **kw):
        p = build_params(AlignParams, kw)
        self.params = p
        self.learning = True
        n = p.n_inputs
        self._step_us = int(p.step_ms * 1000)
        self._nbins = int(round(p.window_ms / p.step_ms))
        self.bins = np.zeros((self._nbins, n))   # ring of per-step counts (raw channel order)
        self.cw = np.zeros((p.codebook, n))        # codewords (aligned order)
        self.won = np.zeros(p.codebook)            # inputs each codeword has won
        self._learn_steps = int(p.learn_s * 1000 / p.step_ms)
        self.kept = np.zeros((self._learn_steps, n))  # aligned windows seen while learning
        self.D = np.zeros(p.ring)                  # evidence per shift (mean squared distance)
        # [next grid time us (-1 = not started), bin cursor, shift, learned steps, evidence steps, switches]
        self.clock = np.array([-1, 0, 0, 0, 0, 0], np.int64)
        self._decay = math.exp(-p.step_ms / (1000.0 * p.tau_s))
        self._min_ev = int(p.min_evidence_s * 1000 / p.step_ms)
        self._perm = np.arange(n)
        self._rolls = np.array([self._roll_index(s) for s in range(p.ring)])  # [shift, n]: aligned <- raw

    shift = state_field("clock", 2, int, "The ring shift in use (aligned channel c reads raw channel c + shift).")
    switches = state_field("clock", 5, int, "How often the evidence has switched the shift.")

    def _roll_index(self, s: int) -> np.ndarray:
        """Raw neuron feeding each aligned neuron under shift ``s``: aligned channel c reads raw c + s."""
        p = self.params
        c = (np.arange(p.ring)[:, None] + s) % p.ring
        return (c * p.per_channel + np.arange(p.per_channel)[None, :]).reshape(-1)

    # ------------------------------------------------------------------ streaming
    def map(self, idx: np.ndarray, t_us: np.ndarray, until_us: int) -> np.ndarray:
        """Spikes ``idx`` (raw neuron indices) at times ``t_us`` (sorted), the stream complete up to
        ``until_us``: returns the aligned indices. Each spike is mapped with the shift in force at its time."""
        # the wire's arrays are read-only: copied, so one compiled kernel serves (the one warmup makes), not a
        # second one compiled at the first packet
        idx, t = (a if a.flags.writeable else a.copy() for a in (np.asarray(idx, np.int64), np.asarray(t_us, np.int64)))
        c, p = self.clock, self.params
        if c[0] < 0:
            c[0] = ((int(t[0]) if t.size else int(until_us)) // self._step_us + 1) * self._step_us
        out = np.empty_like(idx)
        lo = 0
        while True:  # the kernel returns early only when the codebook is due: fit it, then go on
            lo, due = _map_spikes(idx, t, int(until_us), lo, c, self.bins, self._perm, self._rolls, self.kept,
                                  self.cw, self.won, self.D, self._decay, self._min_ev, self._learn_steps,
                                  p.min_spikes, p.ratio, self.learning, self._step_us, out)
            if not due:
                return out
            self.cw[:], self.won[:] = kmeans(self.kept, p.codebook, seed=0)

    def _set_shift(self, s: int) -> None:
        self.clock[2] = s
        self._perm = np.empty(self.params.n_inputs, np.int64)
        self._perm[self._rolls[s]] = np.arange(self.params.n_inputs)  # raw -> aligned

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        return {"bins": self.bins.copy(), "kept": self.kept.copy(), "cw": self.cw.copy(), "won": self.won.copy(), "D": self.D.copy(),
                "clock": self.clock.copy()}

    def set_state(self, s: dict[str, np.ndarray]) -> None:
        want = {"bins": self.bins.shape, "kept": self.kept.shape, "cw": self.cw.shape, "won": self.won.shape, "D": self.D.shape,
                "clock": self.clock.shape}
        arrs = {}
        for k, shp in want.items():
            a = np.asarray(s.get(k))
            if a.shape != shp or not np.all(np.isfinite(a)):
                raise ValueError(f"align state {k!r} missing, not of shape {shp}, or not finite")
            arrs[k] = a
        if not 0 <= arrs["clock"][2] < self.params.ring or np.any(arrs["won"] < 0):
            raise ValueError("align state: shift or counts out of range")
        for k, a in arrs.items():
            getattr(self, k)[...] = a
        self._set_shift(int(self.clock[2]))


def kmeans(X: np.ndarray, k: int, seed: int = 0, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Codewords [k, n] and their member counts for the rows of X (k-means++ start, Lloyd iterations)."""
    rng = np.random.default_rng(seed)
    X = X[np.isfinite(X).all(axis=1)]
    k = min(k, len(X))
    C = np.empty((k, X.shape[1]))
    C[0] = X[rng.integers(len(X))]
    d = ((X - C[0]) ** 2).sum(1)
    for j in range(1, k):
        C[j] = X[rng.choice(len(X), p=d / d.sum())] if d.sum() > 0 else X[rng.integers(len(X))]
        d = np.minimum(d, ((X - C[j]) ** 2).sum(1))
    for _ in range(iters):
        lab = ((X[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            m = lab == j
            if m.any():
                C[j] = X[m].mean(0)
    won = np.bincount(lab, minlength=k).astype(np.float64)
    return C, won
