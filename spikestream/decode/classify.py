"""Discrete decoders: an LDA classifier of gestures on spike-count features (Hudgins et al. 1993;
Englehart & Hudgins 2003) and a winner-take-all label decoder (Diehl & Cook 2015 style assignment).

Targets while calibrating: the class label as one value (rounded to an integer in ``[0, n_classes)``), or
``n_classes`` values of which the largest marks the class (one-hot). Other values are rejected.

LDA: features ``f`` = per-neuron spike counts in a box window ``window_ms`` (``log1p`` of them with
``log_counts``), class means ``mu_c`` and pooled covariance ``S`` from accumulated sums, shrunk as
``(1 - shrink) S + shrink (tr S / N) I`` so that it stays invertible; discriminants
``g_c(f) = mu_c^T S^-1 f - mu_c^T S^-1 mu_c / 2 + log pi_c``. Fitted when calibration ends. With
``pure_windows`` (the default) a calibration packet teaches only if its whole window carries one label: after
the label changes (a new gesture starts) the next ``window_ms`` of packets are left out, as a window that
still holds the previous gesture would pull both class means together (Myo data through the nodes, Male3:
83.7 % with them, 94.6 % without).

WTA: each neuron belongs to the class for which its mean rate during calibration was highest (or to
``assign[j]``); the output is the class whose neurons have the highest mean rate now, or ``rest_label``
while that rate is below ``min_rate_hz``.

LDA that keeps learning without labels (``adapt_rate > 0``; Vidovic et al. 2016, Sensinger et al. 2009):
after calibration, a decision whose posterior is at least ``adapt_confidence`` moves its class mean toward
the features, ``mu_c += adapt_rate (f - mu_c)``, unless ``f`` is an outlier for that class (squared
Mahalanobis distance above ``adapt_outlier * N``: input unlike anything calibrated teaches nothing), with the
covariance kept; the discriminant of that class is recomputed (O(N^2)). The class means then follow slow
changes no label announces (electrode gain, sweat, fatigue, a representation that keeps learning upstream)
while the confidence gate keeps a wrong decision from teaching itself. The decoder's ``adapt`` attribute
switches it at run time; ``adapt_rate = 0`` (the default) keeps the fitted means.

``output = "label"`` gives one value (the class); ``"scores"`` gives ``n_classes`` values (LDA posterior
probabilities; WTA mean rates per class).
"""

from __future__ import annotations

import numpy as np

from spikestream.decode._base import (CALIBRATING, N_CLASSES, N_INPUTS, OUTPUT, TAU_MS, WINDOW, WINDOW_MS, Decoder,
                                      build_params)
from spikestream.decode.decision import LabelHold
from spikestream.decode.rates import RateFeatures
from spikestream.params import Param, Params, params_dataclass
from spikestream.registry import DECODERS


class _Classifier(Decoder):
    accepts_any_target = True
    _part_names = ("features",)

    @classmethod
    def declared_outputs(cls, v: dict) -> tuple[int, bool]:
        return (1, True) if v["output"] == "label" else (v["n_classes"], False)

    def __init__(self, p):  # p: a params_dataclass record (n_classes >= 2 and output checked)
        super().__init__(p.n_inputs, 1 if p.output == "label" else p.n_classes, p.calibrating)
        self.params = p
        self.n_classes = int(p.n_classes)

    def _check_target(self, target):
        if target.size not in (1, self.n_classes):
            raise ValueError(f"target must be one label or {self.n_classes} one-hot values, got {target.size} values")

    def label_of(self, target: np.ndarray) -> int:
        if target.size == 1:
            c = int(round(float(target[0])))
            if not 0 <= c < self.n_classes:
                raise ValueError(f"target label {target[0]} outside [0, {self.n_classes})")
            return c
        return int(np.argmax(target))


LDA = Params(
    N_INPUTS, N_CLASSES,
    WINDOW_MS,
    Param("log_counts", bool, False, doc="features log(1 + count) instead of counts"),
    Param("shrink", float, 0.05, lo=0, hi=1, doc="covariance shrinkage: (1 - shrink) S + shrink (tr S / N) I"),
    OUTPUT, CALIBRATING,
    Param("adapt_rate", float, 0.0, lo=0, hi=1, hi_open=True,
          doc="class-mean step per confident decision after calibration (0: frozen)"),
    Param("adapt_confidence", float, 0.9, lo=0, lo_open=True, hi=1, doc="posterior needed to learn from a decision"),
    Param("adapt_outlier", float, 2.0, lo=0, lo_open=True,
          doc="... and a squared Mahalanobis distance to its class below this x n_inputs"),
    Param("pure_windows", bool, True, doc="calibrate only on windows that hold one label"),
)
LdaParams = params_dataclass("LdaParams", LDA, __name__)


@DECODERS.register("lda")
class LdaDecoder(_Classifier):
    """LDA classifier of box-window spike counts, fitted when calibration ends (see the module doc)."""

    _array_names = ("n_c", "S_c", "S_ff", "Wd", "bd", "fitted", "mu", "Si", "adapted")
    PARAMS = LDA

    def __init__(self, **kw):
        super().__init__(build_params(LdaParams, kw))
        N, C = self.n_inputs, self.n_classes
        self.features = RateFeatures(N, "box", window_ms=self.params.window_ms, unit="count")
        self.n_c = np.zeros(C)
        self.S_c = np.zeros((C, N))
        self.S_ff = np.zeros((N, N))
        self.Wd = np.zeros((C, N))
        self.bd = np.zeros(C)
        self.fitted = np.zeros(1, np.int64)
        self.mu = np.zeros((C, N))       # class means in use (the fit's, then adapted)
        self.Si = np.zeros((N, N))       # inverse of the shrunk pooled covariance
        self.adapted = np.zeros(1, np.int64)  # confident decisions learned from
        self.adapt = self.params.adapt_rate > 0  # switchable at run time
        self._g = np.zeros(C)
        self._hold = LabelHold()  # not saved: after a restart the first window is not taken as clean

    def fit(self) -> None:
        C, N = self.n_classes, self.n_inputs
        seen = self.n_c > 0
        n = self.n_c.sum()
        if seen.sum() < 2 or n <= seen.sum():
            raise ValueError("lda: calibration must contain at least two classes")
        mu = np.zeros((C, N))
        mu[seen] = self.S_c[seen] / self.n_c[seen, None]
        S = (self.S_ff - (mu.T * self.n_c) @ mu) / n  # pooled ML covariance, as scikit-learn's LDA
        lam = self.params.shrink
        S = (1 - lam) * S + lam * (max(np.trace(S), 1e-12) / N) * np.eye(N) + 1e-9 * np.eye(N)
        self.Si[:] = np.linalg.inv(S)
        self.mu[:] = mu
        self.Wd[:] = mu @ self.Si  # S symmetric: rows are S^-1 mu_c
        self.bd[:] = -0.5 * np.einsum("cn,cn->c", self.Wd, mu) + np.log(np.maximum(self.n_c, 1e-300) / n)
        self.bd[~seen] = -np.inf
        self.fitted[0] = 1

    def _adapt(self, c: int, f: np.ndarray, g: np.ndarray) -> None:
        """Move class ``c``'s mean toward ``f`` if the decision was confident (see the module doc)."""
        e = np.exp(g - g[c])
        if 1.0 / e.sum() < self.params.adapt_confidence:
            return
        d = f - self.mu[c]
        if float(d @ self.Si @ d) > self.params.adapt_outlier * self.n_inputs:
            return  # far from every class seen (a rotated armband, a new artefact): not evidence about c
        log_prior = self.bd[c] + 0.5 * float(self.Wd[c] @ self.mu[c])
        self.mu[c] += self.params.adapt_rate * (f - self.mu[c])
        self.Wd[c] = self.Si @ self.mu[c]
        self.bd[c] = log_prior - 0.5 * float(self.Wd[c] @ self.mu[c])
        self.adapted[0] += 1

    def _on_calibration(self, on: bool) -> None:
        if not on and np.count_nonzero(self.n_c) >= 2:
            self.fit()

    def _decode(self, idx, t_us, until_us, target):
        f = self.features.step(idx, t_us, until_us)
        if self.params.log_counts:
            f = np.log1p(f)
        if target is not None:
            c = self.label_of(target)
            held_us = self._hold.update(c, until_us)
            if not self.params.pure_windows or held_us >= self.params.window_ms * 1000.0:
                self.n_c[c] += 1
                self.S_c[c] += f
                self.S_ff += np.outer(f, f)
        if not self.fitted[0]:
            self.out[:] = 0.0
            return self.out
        g = np.dot(self.Wd, f, out=self._g)
        g += self.bd
        c = int(np.argmax(g))
        if self.adapt and not self.calibrating:
            self._adapt(c, f, g)
        if self.params.output == "label":
            self.out[0] = float(c)
        else:
            e = np.exp(g - g.max())
            self.out[:] = e / e.sum()
        return self.out


def _check_assign(v: dict, table: dict) -> None:
    a, n, c = v["assign"], v["n_inputs"], v["n_classes"]
    if a and (len(a) != n or max(a) >= c):
        raise ValueError(f"assign must give each of {n} neurons a class in [0, {c}) (or -1)")


WTA = Params(
    N_INPUTS, N_CLASSES, WINDOW, TAU_MS, WINDOW_MS,
    Param("assign", list, [], items=int, lo=-1,
          doc="the class of each neuron, -1: none (default: learnt while calibrating)"),
    Param("min_rate_hz", float, 0.0, unit="Hz", doc="a winner below this rate decides rest_label"),
    Param("rest_label", int, 0, doc="the label decided when no class is active enough"),
    OUTPUT, CALIBRATING,
    check=_check_assign,
)
WtaParams = params_dataclass("WtaParams", WTA, __name__)


@DECODERS.register("wta")
class WtaDecoder(_Classifier):
    """Winner-take-all labels: the class whose assigned neurons fire most (see the module doc)."""

    _array_names = ("resp", "n_c", "assign")
    PARAMS = WTA

    def __init__(self, **kw):
        if "assign" in kw and not isinstance(kw["assign"], (list, tuple)):
            kw["assign"] = np.asarray(kw["assign"]).reshape(-1).tolist()  # an array
        super().__init__(build_params(WtaParams, kw))
        p = self.params
        N, C = self.n_inputs, self.n_classes
        self.features = RateFeatures(N, p.window, p.tau_ms, p.window_ms)
        self.resp = np.zeros((C, N))   # summed rates per class during calibration
        self.n_c = np.zeros(C)
        self.assign = np.full(N, -1, np.int64)
        if p.assign:
            self.assign[:] = p.assign
        self._update_members()

    def _update_members(self):
        C = self.n_classes
        M = np.zeros((C, self.n_inputs))
        for c in range(C):
            m = self.assign == c
            if m.any():
                M[c, m] = 1.0 / m.sum()
        self.M = M
        self._has = M.sum(axis=1) > 0
        self._score = np.zeros(C)

    def _decode(self, idx, t_us, until_us, target):
        r = self.features.step(idx, t_us, until_us)
        if target is not None:
            c = self.label_of(target)
            self.resp[c] += r
            self.n_c[c] += 1
            seen = self.n_c > 0
            mean = np.where(seen[:, None], self.resp / np.maximum(self.n_c, 1)[:, None], -np.inf)
            new = np.where(mean.max(axis=0) > 0, np.argmax(mean, axis=0), -1)
            if not np.array_equal(new, self.assign):
                self.assign[:] = new
                self._update_members()
        s = np.dot(self.M, r, out=self._score)
        s[~self._has] = -np.inf
        if self.params.output == "label":
            best = int(np.argmax(s))
            self.out[0] = float(best if s[best] > self.params.min_rate_hz else self.params.rest_label)
        else:
            self.out[:] = np.where(self._has, s, 0.0)
        return self.out

    def _after_set_state(self):
        self._update_members()
