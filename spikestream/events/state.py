"""Restoring a stage's saved state into its live arrays (event filters, frame emulator)."""

from __future__ import annotations

import numpy as np


def check_arrays(owner: str, live: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> None:
    """ValueError unless `state` names the same keys as the `live` arrays and every array has its live one's
    shape; `owner` starts the error texts."""
    if set(state) != set(live):
        raise ValueError(f"{owner}: state keys {sorted(state)} where {sorted(live)} are expected")
    for k, cur in live.items():
        new = np.asarray(state[k])
        if new.shape != cur.shape:
            raise ValueError(f"{owner}: state {k!r} has shape {new.shape}, expected {cur.shape}")


def restore_arrays(owner: str, live: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> None:
    """Copy `state` into the `live` arrays (the stage's own, not get_state's copies) once all of it is
    checked (`check_arrays`): a refused state writes nothing."""
    check_arrays(owner, live, state)
    for k, cur in live.items():
        cur[...] = np.asarray(state[k])
