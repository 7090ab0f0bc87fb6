"""What every decoder shares: the packet checks, the calibration switch, state save/restore by name, and the
declarations of the keys most decoders take (a decoder declares its table as a `spikestream.params.Params`,
its parameter record is `params_dataclass` of it, and the class's `PARAMS` lets the pipeline loader check a
``decoder = {kind = ...}`` table before any node starts; docs/reference.md lists them)."""

from __future__ import annotations


import numpy as np

from spikestream.arraycheck import all_finite
from spikestream.decode.features import check_spikes
from spikestream.params import REQUIRED, Param, build_dataclass

N_INPUTS = Param("n_inputs", int, REQUIRED, lo=1, doc="input neurons (the spike packets' size)")
N_OUTPUTS = Param("n_outputs", int, REQUIRED, lo=1, doc="decoded values")
N_CLASSES = Param("n_classes", int, REQUIRED, lo=2, doc="classes: labels 0 .. n_classes - 1")
OUTPUT = Param("output", str, "label", choices=("label", "scores"),
               doc='"label": the decided class (one value); "scores": one value per class')
CALIBRATING = Param("calibrating", bool, False,
                    doc="learning from the start (the output node sets it from its calibration schedule)")
WINDOWS = ("exp", "box")
WINDOW = Param("window", str, "exp", choices=WINDOWS,
               doc="rate features: an exponential filter (tau_ms) or a box window (window_ms)")
TAU_MS = Param("tau_ms", float, 100.0, unit="ms", lo=0, lo_open=True, doc="the exponential rate filter's time constant")
WINDOW_MS = Param("window_ms", float, 200.0, unit="ms", lo=0, lo_open=True, doc="the box window's length")


class Decoder:
    """Base for decoders. Subclasses implement `_decode(idx, t_us, until_us, target) -> float64[K]` and name
    their state in `_part_names` (attributes holding objects with get_state/set_state/reset, saved as
    ``"<name>.<key>"``) and `_array_names` (attributes holding their own arrays, saved by name)."""

    n_inputs: int
    n_outputs: int
    _part_names: tuple[str, ...] = ()
    _array_names: tuple[str, ...] = ()

    @classmethod
    def declared_outputs(cls, v: dict) -> tuple[int, bool] | None:
        """(outputs, whether they are class labels) of the decoder the checked values `v` of its `PARAMS`
        build: known before it is built (the output node's keys are checked against it at load). None:
        not known before (a decoder without an ``n_outputs`` key that does not say)."""
        return (v["n_outputs"], False) if isinstance(v.get("n_outputs"), int) else None

    def __init__(self, n_inputs: int, n_outputs: int, calibrating: bool = False):
        if int(n_inputs) != n_inputs or n_inputs < 1:
            raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}")
        if int(n_outputs) != n_outputs or n_outputs < 1:
            raise ValueError(f"n_outputs must be a positive integer, got {n_outputs!r}")
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self._calibrating = bool(calibrating)
        self.last_until = np.zeros(1, np.int64)  # array so that it travels with the state
        self.out = np.zeros(self.n_outputs)

    @property
    def calibrating(self) -> bool:
        return self._calibrating

    @calibrating.setter
    def calibrating(self, on: bool) -> None:
        on = bool(on)
        if on != self._calibrating:
            self._calibrating = on
            self._on_calibration(on)

    def _on_calibration(self, on: bool) -> None:
        """Hook: a decoder fitted from batch statistics (Kalman, LDA) fits here when calibration ends."""

    # -------------------------------------------------------------- the contract
    def decode(self, idx, t_us, until_us: int, target=None) -> np.ndarray:
        """The estimate at ``until_us`` from spikes in ``[previous until, until_us)``; learns from ``target``
        (float[K_target]) while `calibrating`. Returns a fresh float64[n_outputs] array."""
        until_us = int(until_us)
        idx, t_us = check_spikes(idx, t_us, until_us, self.n_inputs, int(self.last_until[0]))
        if target is not None:
            target = np.asarray(target, dtype=np.float64).reshape(-1)
            self._check_target(target)
            if not all_finite(target):
                raise ValueError("target holds NaN or inf")
        y = self._decode(idx, t_us, until_us, target if self.calibrating else None)
        self.last_until[0] = until_us
        return np.array(y, dtype=np.float64, copy=True)

    def _check_target(self, target: np.ndarray) -> None:
        if target.size != self.n_outputs:
            raise ValueError(f"target has {target.size} values, decoder has {self.n_outputs} outputs")

    def _decode(self, idx, t_us, until_us, target):  # pragma: no cover - abstract
        raise NotImplementedError

    def _parts(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self._part_names}

    def _arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays owned by the decoder itself (fitted parameters)."""
        return {"last_until": self.last_until, **{k: getattr(self, k) for k in self._array_names}}

    def restart_stream(self, t_us: int) -> None:
        """The upstream restarted its time base at ``t_us`` (earlier than before): forget the spike
        features, keep everything learned or fitted."""
        for part in self._parts().values():
            part.reset(int(t_us))
        self.last_until[0] = int(t_us)

    # -------------------------------------------------------------- state
    def get_state(self) -> dict[str, np.ndarray]:
        s = {k: np.array(v, copy=True) for k, v in self._arrays().items()}
        for name, part in self._parts().items():
            s.update({f"{name}.{k}": v for k, v in part.get_state().items()})
        return s

    def set_state(self, s: dict[str, np.ndarray]) -> None:
        own = self._arrays()
        for k, cur in own.items():
            if k not in s:
                raise ValueError(f"decoder state lacks {k!r}")
            if np.shape(s[k]) != cur.shape:
                raise ValueError(f"decoder state {k!r} has shape {np.shape(s[k])}, expected {cur.shape}")
        for name, part in self._parts().items():
            part.set_state({k[len(name) + 1:]: v for k, v in s.items() if k.startswith(name + ".")})
        for k, cur in own.items():
            cur[...] = np.asarray(s[k], dtype=cur.dtype)
        self._after_set_state()

    def _after_set_state(self) -> None:
        """Hook: recompute derived quantities after a restore."""


def build_params(cls, kw: dict):
    """``cls(**kw)`` with unknown (did you mean) or missing keys reported as ValueError naming the class
    (`spikestream.params.build_dataclass`)."""
    return build_dataclass(cls, kw)
