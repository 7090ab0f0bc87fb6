"""When a decoder learns: the calibration schedule, usable without the runtime.

Two schedules, on *source* time (so a replay calibrates on exactly the rows the live run would):

- ``CalibrationSchedule(calibrate_s=10)``: learn for the first `calibrate_s` of source time after the first
  packet, then freeze (``calibrate_s = 0``: never learn); ``from_s=15`` starts that window 15 s after the first
  packet instead (while an SNN upstream learns without labels, the readout is fitted to its settled features:
  docs/learning.md measures it);
- ``CalibrationSchedule(by_target=True)``: learn exactly while the target row's phase column is 1 (0:
  evaluate; a packet without a valid phase leaves the decoder as it was).

``force(True|False)`` overrides either for good (the `calibrate` command). The schedule is a few integers
(`get_state` is four int64: first packet t0, mode 0 auto / 1 forced on / 2 frozen, last t1, packets seen
0/1), saved with the decoder. A notebook drives a decoder with it as the output node does::

    sched = CalibrationSchedule(calibrate_s=10.0)
    for sp, target in packets:                       # spike packets in time order, and their targets
        sched.begin(sp.t0_us)
        on = sched.calibrating_at(sp.t1_us)          # None: leave the decoder as it is
        if on is not None:
            dec.calibrating = on
        y = dec.decode(sp.idx, sp.t_us, sp.t1_us, target if dec.calibrating else None)
        sched.advance(sp.t1_us)
"""

from __future__ import annotations

import numpy as np

from spikestream._statefield import state_field
from spikestream.params import Param, Params

__all__ = ["CALIBRATION", "CalibrationSchedule", "check_calibration_keys", "target_columns"]

_AUTO, _ON, _FROZEN = 0, 1, 2


class CalibrationSchedule:
    """Whether a decoder calibrates, packet by packet (see the module docstring)."""

    def __init__(self, calibrate_s: float | None = None, by_target: bool = False, from_s: float | None = None):
        """`calibrate_s`, `from_s`: as the ``calibrate_s`` and ``calibrate_from_s`` keys of `CALIBRATION` (defaults
        and ranges from there)."""
        calibrate_s = _checked("calibrate_s", calibrate_s)
        from_s = _checked("calibrate_from_s", from_s)
        self.by_target = bool(by_target)
        self.calibrate_us = 0 if self.by_target else int(calibrate_s * 1e6)
        self.from_us = 0 if self.by_target or not self.calibrate_us else int(from_s * 1e6)
        #: Source time after the first packet at which calibration by time ends (0 by target).
        self.end_us = self.from_us + self.calibrate_us
        self._c = np.zeros(4, np.int64)  # [first t0, mode, last t1, seen]

    @property
    def initially_calibrating(self) -> bool:
        """What a fresh decoder starts as (by target: off until a phase-1 row arrives)."""
        return self.calibrate_us > 0 and self.from_us == 0

    def _in_window(self, elapsed_us: int) -> bool:
        return elapsed_us <= self.end_us and (self.from_us == 0 or elapsed_us > self.from_us)

    started = state_field("_c", 3, bool, "A packet has arrived.")
    last_t1_us = state_field("_c", 2, int, "The end of the last decoded packet (0 before any).")

    @property
    def elapsed_s(self) -> float:
        """Source time from the first packet to the last decoded one."""
        return (int(self._c[2]) - int(self._c[0])) / 1e6

    def begin(self, t0_us: int) -> None:
        """A packet starting at `t0_us` arrives (the first one starts the clock)."""
        if not self._c[3]:
            self._c[0], self._c[3] = t0_us, 1

    def calibrating_at(self, t1_us: int, phase: int = -1) -> bool | None:
        """Whether the packet ending at `t1_us` (with its target row's `phase`: 1, 0, or -1 unknown) is
        learned from; None: the schedule does not decide (forced or frozen, or by target without a phase)."""
        if self._c[1] != _AUTO or (self.by_target and phase < 0):
            return None
        return phase == 1 if self.by_target else self._in_window(t1_us - int(self._c[0]))

    def advance(self, t1_us: int) -> None:
        """The packet ending at `t1_us` was decoded."""
        self._c[2] = t1_us

    def force(self, on: bool) -> None:
        """Calibrate (True) or freeze (False) from now on, whatever the schedule said."""
        self._c[1] = _ON if on else _FROZEN

    def restart(self, t0_us: int) -> None:
        """Source time went back to `t0_us` (the upstream restarted): the schedule stays where it was.
        It only needs to know whether calibration is over, so a bogus jump ahead (t_us = 2**62 once) carries
        over neither into the new time base nor into an overflow."""
        elapsed = min(int(self._c[2]) - int(self._c[0]), self.end_us + 1)
        self._c[0] = t0_us - elapsed
        self._c[2] = t0_us

    def resumed_calibrating(self) -> bool:
        """After `set_state`: whether the decoder calibrates until the next packet decides."""
        c = self._c
        if c[1] == _AUTO and self.by_target:
            return False  # the next target row's phase decides
        if c[1] == _AUTO:
            return self.initially_calibrating if not c[3] else self._in_window(int(c[2] - c[0]))
        return bool(c[1] == _ON)

    def get_state(self) -> np.ndarray:
        return self._c.copy()

    def set_state(self, c: np.ndarray) -> None:
        if np.shape(c) != (4,):
            raise ValueError(f"a calibration schedule's state is 4 integers, got shape {np.shape(c)}")
        c = np.asarray(c, np.int64)
        if c[1] not in (_AUTO, _ON, _FROZEN) or c[3] not in (0, 1):
            raise ValueError(f"a calibration schedule's state has mode {c[1]} and seen {c[3]}")
        self._c[:] = c


def _checked(key: str, value) -> float:
    decl = CALIBRATION[key]
    try:
        return decl.default if value is None else decl.convert(value)
    except ValueError as e:
        raise ValueError(f"CalibrationSchedule: {key} {e}") from None


def target_columns(v: dict) -> tuple[list[int], int | None]:
    """The target columns a decoder uses and the phase column (None: calibration by time), from the
    ``calibrate``, ``target_channels`` and ``phase_channel`` keys."""
    ch = v.get("target_channels")
    by_target = v.get("calibrate") == "target"
    ch = ([0] if by_target else []) if ch is None else list(ch)
    phase = v.get("phase_channel")
    return ch, ((1 if phase is None else phase) if by_target else None)


def check_calibration_keys(v: dict, table: dict) -> None:
    """The calibration keys that go together (`v` the typed values, `table` the keys given)."""
    if v["calibrate"] == "target":
        for key in ("calibrate_s", "calibrate_from_s"):
            if key in table:
                raise ValueError(f'calibrate = "target" and {key} exclude each other')
        ch, ph = target_columns(v)
        if not ch or ph in ch:
            raise ValueError('calibrate = "target" needs target_channels (the label columns) and a different '
                             f"phase_channel, got {ch!r} and {ph!r}")
    elif "phase_channel" in table:
        raise ValueError('phase_channel needs calibrate = "target"')


#: The keys that schedule calibration (in `control_output`'s params; docs/reference.md).
CALIBRATION = Params(
    Param("calibrate_s", float, 10.0, unit="s", lo=0, doc="learn from `target` for the first N s of source time"),
    Param("calibrate_from_s", float, 0.0, unit="s", lo=0,
          doc="start that window N s of source time after the first packet (an SNN upstream settles first)"),
    Param("calibrate", str, "time", choices=("time", "target"),
          doc='"target": learn exactly while the target row\'s phase column is 1'),
    Param("phase_channel", int, None, lo=0, doc='with calibrate = "target": the phase column (default 1)'),
    Param("target_channels", list, None, items=int, lo=0,
          doc='target columns to use (default: all; [0] with calibrate = "target")'),
    check=check_calibration_keys,  # the keys that go together
)
