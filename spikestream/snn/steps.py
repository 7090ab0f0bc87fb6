"""Times in ms to whole network steps, by Brian2 2.9's conventions (checked spike for spike against Brian2 in
tests/snn/test_brian2_lif.py).

* Refractory period: Brian2 tests ``timestep(t - lastspike, dt) >= timestep(t_ref, dt)`` with
  ``timestep(t, dt) = int((t + 1e-3 dt) / dt)`` (brian2/core/functions.py), i.e. floor(t_ref/dt + 1e-3)
  steps: 2.7 ms at dt = 1 ms is 2 steps (rounding to nearest gave 3).
* Synaptic delay: Brian2's C++ spike queue (the one its runtime targets use) takes ``int(d/dt + 0.5)``
  (brian2/synapses/cspikequeue.cpp), i.e. half a step rounds *up*: 2.5 ms at dt = 1 ms is 3 steps
  (numpy's round-half-to-even gave 2).
"""

from __future__ import annotations

import numpy as np


def refractory_steps(t_ref_ms: float, dt_ms: float) -> int:
    """Steps a neuron stays refractory after a spike: floor(t_ref/dt + 1e-3) (Brian2's `timestep`)."""
    return int(np.floor(t_ref_ms / dt_ms + 1e-3))


def delay_steps(d_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """Delays in ms -> whole steps (int64), half a step rounding up (Brian2's spike queue)."""
    return np.floor(np.asarray(d_ms, np.float64) / dt_ms + 0.5).astype(np.int64)


def check_steps(until_us: int, dt_us: int, step: int, max_steps: int | None, who: str = "") -> None:
    """Refuse (ValueError, `who` first in its text) an advance from `step` to `until_us` that would simulate
    more than `max_steps` steps (None: no bound), before anything changes: a stream node bounds the work one
    message can cause. The SNN and the conv layer share it."""
    if max_steps is None:
        return
    n_steps = int(until_us) // dt_us - step
    if n_steps > max_steps:
        raise ValueError(f"{who}advancing to t = {int(until_us)} us would simulate {n_steps} steps "
                         f"(at most {max_steps} per call)")
