"""The safety stage between every decoder and every actuator: guard, clamp, deadband, slew and
acceleration limits, and a watchdog that drives the output to a safe value when input goes stale.

Per output ``k``, for a fresh value ``u`` at time ``now``  (``dt = now - t_last``)::

    non-finite u          -> rejected (counted); the last valid command is kept (the output goes on moving
                             toward it under the limits) and the watchdog is NOT fed
    u  = clip(u, lo, hi)
    u  = y_last            if |u - y_last| <= deadband
    v* = sign(u - y) * min(|u - y| / dt, max_rate, a (sqrt(dt^2/4 + 2|u - y|/a) - dt/2))   (braking curve)
    v  = clip(v*, v_last - max_accel dt, v_last + max_accel dt)
    y  = y_last + v dt, snapped to u if it would pass u, then clipped to [lo, hi]

Priorities when limits conflict: range > no overshoot of the command > acceleration. The first value after
construction (or `reset`) starts from ``safe_value`` at rest, so the actuator never jumps at start-up.

Watchdog: once no valid value came for longer than ``timeout_s``, `watchdog(now)` returns the safe output.
``safe_mode = "immediate"`` (default) sets it at once: the last command came from a pipeline that may
be dead, and a safe value (zero velocity, motor off, open hand) is by definition safe to apply at once,
while slewing would keep executing a stale command for longer. ``"slew"`` moves there under the rate and
acceleration limits, for position-controlled actuators where a jump is itself dangerous.

Discrete outputs (``discrete = True``: class labels, automatic in the output node for a decoder with
``output = "label"``): a value is passed exactly as it is when it is an integer within ``[lo, hi]``, else
rejected like a non-finite one; no slew, acceleration or deadband (they would turn label 2 into
2.0000000000000004); the watchdog sets ``safe_value`` (a declared rest class) at once.

All times are seconds on one clock chosen by the caller (the output node uses the wall clock, since the
limits protect a physical actuator in real time).
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
from numba import njit

from spikestream._statefield import state_field
from spikestream.arraycheck import all_finite
from spikestream.params import (REQUIRED, NestedParamError, Param, ParamError, Params, build_dataclass, check_per_item,
                                params_dataclass, validate)

SAFE_MODES = ("immediate", "slew")


@njit(cache=True)
def _limit(y, v, u, dt, lo, hi, max_rate, max_accel):
    """Move ``y`` (in place) toward ``u`` in ``dt`` seconds under the limits; updates velocity ``v``."""
    for k in range(y.size):
        d = u[k] - y[k]
        vmax = max_rate[k]
        a = max_accel[k]
        if dt <= 0.0:  # no time passed: only an unlimited output may move
            if vmax == math.inf and a == math.inf:
                y[k] = min(max(u[k], lo[k]), hi[k])
                v[k] = 0.0
            continue
        if a < math.inf:
            # fastest speed from which braking at ``a`` in steps of dt still stops at u
            vb = a * (math.sqrt(0.25 * dt * dt + 2.0 * abs(d) / a) - 0.5 * dt)
            if vb < vmax:
                vmax = vb
        sp = abs(d) / dt
        limited = sp > vmax
        if limited:
            sp = vmax
        vd = sp if d > 0 else -sp
        if a < math.inf:
            lo_v = v[k] - a * dt
            hi_v = v[k] + a * dt
            if vd < lo_v:
                vd, limited = lo_v, True
            elif vd > hi_v:
                vd, limited = hi_v, True
        # a step no limit held back lands on u exactly (y + (d / dt) * dt may be one rounding off)
        yn = y[k] + vd * dt if limited else u[k]
        if (u[k] - yn) * d <= 0.0:
            yn = u[k]
        if yn < lo[k]:
            yn = lo[k]
        elif yn > hi[k]:
            yn = hi[k]
        v[k] = (yn - y[k]) / dt
        y[k] = yn


def _vec(name: str, v, n: int, lo_ok: float | None = None, allow_inf: bool = True) -> np.ndarray:
    return check_per_item(v, name, n, lo=lo_ok, finite=not allow_inf)


def _per_output(name: str, default: float, doc: str, unit: str = "", finite: bool = False, **kw) -> Param:
    return Param(name, (float, list), default, unit=unit, items=float, min_items=1, finite=finite,
                 doc=doc + " (one value, or a list: one per output)", **kw)


#: The safety stage's parameters (`SafetyParams` is built from them; docs/reference.md lists them).
SAFETY = Params(
    Param("n_outputs", int, REQUIRED, lo=1, doc="outputs (in the output node: the decoder's)"),
    _per_output("lo", -math.inf, "clamp range, lowest"),
    _per_output("hi", math.inf, "clamp range, highest"),
    _per_output("max_rate", math.inf, "slew limit (inf: none)", "units/s", lo=0, lo_open=True),
    _per_output("max_accel", math.inf, "acceleration limit (inf: none)", "units/s^2", lo=0, lo_open=True),
    _per_output("deadband", 0.0, "hold the last output while |u - y_last| <= deadband", lo=0, finite=True),
    _per_output("safe_value", 0.0, "what the watchdog sends", finite=True),
    Param("timeout_s", float, 0.5, unit="s", lo=0, lo_open=True, doc="watchdog: input older than this -> safe value"),
    Param("safe_mode", str, "immediate", choices=SAFE_MODES,
          doc='the watchdog sets the safe value at once ("immediate") or under the limits ("slew")'),
    Param("discrete", bool, False, doc="class labels: integers in [lo, hi], passed untouched (automatic for a "
          "decoder with output = \"label\")"),
)
#: A ``safety = {...}`` table of a pipeline file: what it leaves out (n_outputs, and for labels discrete, lo,
#: hi) follows the decoder (`safety_params`).
SAFETY_TABLE = Params(*(dataclasses.replace(p, default=None, doc="outputs (default: the decoder's)")
                        if p.name == "n_outputs" else p for p in SAFETY.params))


def check_safety_table(t: dict) -> dict:
    """A ``safety = {...}`` table checked at load (`SAFETY_TABLE`: unknown keys with a did-you-mean, types,
    ranges; across keys with the output count the lists give, as labels do not change these): the pipeline
    loader reports ``...params.safety: KEY ...``. What needs the decoder is checked when the stage is built."""
    try:
        v = validate(t, SAFETY_TABLE, "")
        n = v["n_outputs"] or max((len(x) for x in v.values() if isinstance(x, list)), default=1)
        _check_across(SimpleNamespace(**{**v, "n_outputs": n, "discrete": False}))
    except ParamError as e:
        raise NestedParamError(str(e)) from None
    except ValueError as e:
        raise NestedParamError(f": {e}") from None
    return t


def safety_params(table: dict, n_outputs: int, n_classes: int = 0, rest_label: int = 0,
                  where: str = "safety") -> SafetyParams:
    """The safety stage's parameters in front of a decoder of `n_outputs` values: what the table leaves out
    follows the decoder (``n_outputs``; with class labels ``n_classes > 0``: ``discrete`` and the label range
    [0, n_classes - 1], widened to a rest label outside the classes, such as a WTA's)."""
    saf = dict(table)
    saf.setdefault("n_outputs", n_outputs)
    saf.setdefault("discrete", n_classes > 0)
    if saf["discrete"] is True and n_classes:
        rest = rest_label if isinstance(rest_label, int) else 0
        saf.setdefault("lo", min(0, rest))
        saf.setdefault("hi", max(n_classes - 1, rest))
    if saf["n_outputs"] != n_outputs:
        raise ValueError(f"{where}.n_outputs {saf['n_outputs']} != decoder outputs {n_outputs}")
    return build_dataclass(SafetyParams, saf)


def _check_across(p) -> None:
    """The checks across keys, once the output count `p.n_outputs` is known (each key's own: `SAFETY`)."""
    n = p.n_outputs
    lo, hi = _vec("lo", p.lo, n), _vec("hi", p.hi, n)
    if np.any(lo >= hi):
        raise ValueError(f"lo {p.lo!r} must be below hi {p.hi!r}")
    sv = _vec("safe_value", p.safe_value, n, allow_inf=False)
    if np.any(sv < lo) or np.any(sv > hi):
        raise ValueError(f"safe_value {p.safe_value!r} lies outside [lo, hi]")
    rate, accel = _vec("max_rate", p.max_rate, n), _vec("max_accel", p.max_accel, n)
    dead = _vec("deadband", p.deadband, n)
    if p.discrete:
        if p.safe_mode != "immediate":
            raise ValueError("discrete: labels cannot slew (safe_mode must be 'immediate')")
        if not (np.all(np.isinf(rate)) and np.all(np.isinf(accel)) and np.all(dead == 0)):
            raise ValueError("discrete: class labels take no max_rate, max_accel or deadband")
        for name, v in (("lo", lo), ("hi", hi), ("safe_value", sv)):
            if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
                raise ValueError(f"discrete: {name} must be integer labels, got {getattr(p, name)!r}")
    if p.safe_mode == "slew" and not (np.all(np.isfinite(rate)) or np.all(np.isfinite(accel))):
        raise ValueError("safe_mode 'slew' needs a finite max_rate or max_accel")


SafetyParams = params_dataclass("SafetyParams", SAFETY, __name__, post=_check_across, where="safety",
                                doc="The safety stage's parameters: `SAFETY`, checked (each key, then across keys) "
                                    "when constructed.")


class SafetyStage:
    """Clamp, deadband, slew/acceleration limits, NaN guard and watchdog for K outputs (see module doc)."""

    def __init__(self, params: SafetyParams | None = None, **kw):
        p = params if params is not None else SafetyParams(**kw)
        self.params = p
        n = p.n_outputs
        self.n_outputs = n
        self.lo, self.hi = _vec("lo", p.lo, n), _vec("hi", p.hi, n)
        self.max_rate, self.max_accel = _vec("max_rate", p.max_rate, n), _vec("max_accel", p.max_accel, n)
        self.deadband = _vec("deadband", p.deadband, n)
        self.safe_value = _vec("safe_value", p.safe_value, n)
        self.y = self.safe_value.copy()
        self.v = np.zeros(n)
        self.times = np.full(2, np.nan)  # [t_last output, t_last valid input]
        self.flags = np.zeros(2, np.int64)  # [safe, rejected]
        self._u = self.safe_value.copy()  # the last valid command (clamped, deadbanded)

    safe = state_field("flags", 0, bool,
                       "True while the output is (moving to) the safe value because input went stale.")
    rejected = state_field("flags", 1, int, "Commands refused so far (non-finite; discrete: not a label in [lo, hi]).")

    def reset(self, now_s: float) -> None:
        """Start the clocks at ``now_s`` with the output at rest at the safe value."""
        self.y[:] = self.safe_value
        self._u[:] = self.safe_value
        self.v[:] = 0.0
        self.times[:] = now_s
        self.flags[0] = 0

    def apply(self, y, now_s: float) -> np.ndarray:
        """A fresh value: returns the output to send (a new array). Non-finite input is rejected: the last
        valid command stands (still approached under the limits) and the watchdog is not fed, so a stream
        of NaN ends in the safe value."""
        u = np.asarray(y, dtype=np.float64).reshape(-1)
        if u.size != self.n_outputs:
            raise ValueError(f"safety: {u.size} values for {self.n_outputs} outputs")
        if math.isnan(self.times[0]):
            self.reset(now_s)
        if self.params.discrete:
            return self._apply_label(u, now_s)
        if not all_finite(u):
            self.flags[1] += 1
            if not self.safe:
                self._step(self._u, now_s)
            return self.y.copy()
        self.times[1] = now_s
        self.flags[0] = 0
        np.clip(u, self.lo, self.hi, out=self._u)
        hold = np.abs(self._u - self.y) <= self.deadband
        self._u[hold] = self.y[hold]
        self._step(self._u, now_s)
        return self.y.copy()

    def _apply_label(self, u: np.ndarray, now_s: float) -> np.ndarray:
        """Discrete mode: an integer label within [lo, hi] passes exactly; anything else is rejected (the last
        label stands, the watchdog is not fed)."""
        if not all_finite(u) or np.any(u != np.round(u)) or np.any(u < self.lo) or np.any(u > self.hi):
            self.flags[1] += 1
            return self.y.copy()
        self.times[:] = now_s
        self.flags[0] = 0
        self.y[:] = u
        self._u[:] = u
        return self.y.copy()

    def watchdog(self, now_s: float) -> np.ndarray | None:
        """None while input is fresh; else the safe output (reached at once, or one slew step toward it)."""
        t_in = self.times[1]
        if not math.isnan(t_in) and now_s - t_in <= self.params.timeout_s:
            return None
        self.flags[0] = 1
        if self.params.safe_mode == "immediate" or math.isnan(self.times[0]):
            self.y[:] = self.safe_value
            self.v[:] = 0.0
            self.times[0] = now_s
        else:
            self._step(self.safe_value, now_s)
        return self.y.copy()

    def force_safe(self, now_s: float, immediate: bool = False) -> np.ndarray:
        """A fault (a failing callback, a node closing): count the input as stale from now on, so the output
        is (moving to) the safe value until fresh valid input; returns the output to send. ``immediate``
        sets the safe value itself whatever ``safe_mode`` (no later tick will slew there)."""
        self.times[1] = np.nan
        if immediate:
            self.flags[0] = 1
            self.y[:] = self.safe_value
            self.v[:] = 0.0
            self.times[0] = now_s
            return self.y.copy()
        return self.watchdog(now_s)

    def _step(self, u: np.ndarray, now_s: float) -> None:
        dt = float(now_s - self.times[0])
        _limit(self.y, self.v, u, dt, self.lo, self.hi, self.max_rate, self.max_accel)
        if dt > 0:
            self.times[0] = now_s

    def get_state(self) -> dict[str, np.ndarray]:
        return {"y": self.y.copy(), "v": self.v.copy(), "u": self._u.copy(), "times": self.times.copy(),
                "flags": self.flags.copy()}

    def set_state(self, s: dict[str, np.ndarray]) -> None:
        n = self.n_outputs
        want = {"y": (n,), "v": (n,), "u": (n,), "times": (2,), "flags": (2,)}
        for k, shp in want.items():
            if k not in s or np.shape(s[k]) != shp:
                raise ValueError(f"safety state {k!r} missing or not of shape {shp}")
        for k in ("y", "v", "times", "flags"):
            getattr(self, k)[...] = s[k]
        self._u[...] = s["u"]
