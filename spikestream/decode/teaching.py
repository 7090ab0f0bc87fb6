"""Target rows for a decoder: the columns it learns from (and the phase column of ``calibrate = "target"``),
kept by time, looked up for each spike packet, and checked before a decoder is taught with them.

The output node's target port, as a library piece: `TargetRows.add` takes each target message, `aligned`
gives a packet's row and phase, `teaching_target` what (if anything) the decoder may learn from it. Each
returns the counter a refused row goes to (``target_rejected``, ``target_restarts``, ``calib_no_target``)
rather than counting it, so the caller keeps one set of counters.
"""

from __future__ import annotations

import numpy as np

from spikestream.decode.targets import TargetBuffer


class TargetRows:
    """The newest `cap` target rows, restricted to `channels` (with ``phase``: the phase channel travels as the
    last stored column); a row is used for `max_age_us` after its time."""

    def __init__(self, channels: list[int], phase: int | None, cap: int, max_age_us: int):
        ch = [*channels, phase] if phase is not None else list(channels)
        self.channels = np.asarray(ch, np.int64)
        self.by_phase = phase is not None
        self.max_age_us = max_age_us
        self.buffer = TargetBuffer(cap)

    def add(self, t_us: np.ndarray, data: np.ndarray) -> str | None:
        """Store a target message's rows; returns the counter to bump (a row too narrow for `channels`:
        ``target_rejected``, nothing stored; time going back or a new width: ``target_restarts``)."""
        data = np.asarray(data, np.float64)
        if self.channels.size:
            if self.channels.max() >= data.shape[1]:
                return "target_rejected"
            data = data[:, self.channels]
        tb = self.buffer
        restart = None
        if tb.width != data.shape[1] or (len(tb) and t_us.size and t_us[0] <= tb.last_t):
            if len(tb):
                restart = "target_restarts"
            tb.clear(data.shape[1])
        tb.append(np.asarray(t_us, np.int64), data)
        return restart

    def at(self, t_us: int) -> np.ndarray | None:
        """The stored row (all its columns) at `t_us`, or None (none at or before it, or too old)."""
        return self.buffer.at(t_us, self.max_age_us)

    def aligned(self, t_us: int) -> tuple[np.ndarray | None, int, bool]:
        """(label row without the phase column, phase 0/1 or -1 when unknown, whether the phase was invalid)
        at `t_us`. A phase that is neither 0 nor 1 leaves no row."""
        row = self.at(t_us)
        if not self.by_phase or row is None:
            return row, -1, False
        phase = int(row[-1]) if row[-1] in (0.0, 1.0) else -1
        return (row[:-1], phase, False) if phase >= 0 else (None, -1, True)

    def clear(self) -> None:
        self.buffer.clear()


def teaching_target(dec, row: np.ndarray | None, n_classes: int) -> tuple[np.ndarray | None, str | None]:
    """What a calibrating decoder `dec` may learn from `row`: (target or None, the counter to bump when
    none: ``calib_no_target`` without a row, ``target_rejected`` for a row of the wrong size or, for a
    classifier, an unknown label; its decision still goes out)."""
    if row is None:
        return None, "calib_no_target"
    if row.size != dec.n_outputs and not getattr(dec, "accepts_any_target", False):
        return None, "target_rejected"
    if n_classes and not _valid_label(dec, row):
        return None, "target_rejected"
    return row, None


def _valid_label(dec, target: np.ndarray) -> bool:
    try:
        dec.label_of(np.asarray(target, np.float64).reshape(-1))
        return True
    except ValueError:
        return False
