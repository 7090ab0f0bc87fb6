"""When an SNN learns, in stream time: the ``learning`` value of a network's node table.

``true`` / ``false`` learn from the start / never; ``{from_s = a, until_s = b}`` learns while the stream time
(the source time the network has simulated since its first packet) lies in [a, b): either bound may be left
out (0 and infinity). The SNN node follows the window packet by packet; a ``learning`` command overrides it.
"""

from __future__ import annotations

import math
from typing import Any


def learning_schedule(v: Any) -> tuple[bool, tuple[int, float] | None]:
    """The ``learning`` value checked: (learning at the start, window (from_us, until_us) or None)."""
    if isinstance(v, bool):
        return v, None
    if not isinstance(v, dict) or not v or set(v) - {"from_s", "until_s"}:
        raise ValueError(f"parameter 'learning' must be true, false or a table {{from_s = .., until_s = ..}}, "
                         f"got {v!r}")
    lo, hi = v.get("from_s", 0.0), v.get("until_s", math.inf)
    for k, x in (("from_s", lo), ("until_s", hi)):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x) or x < 0:
            raise ValueError(f"learning.{k} must be a number of seconds >= 0, got {x!r}")
    if not lo < hi or math.isinf(lo):
        raise ValueError(f"learning: from_s ({lo}) must be finite and before until_s ({hi})")
    return lo == 0, (int(lo * 1e6), hi * 1e6)


def learning_at(window: tuple[int, float], stream_us: int) -> bool:
    """Whether a network learns at `stream_us` under `window` (from `learning_schedule`)."""
    lo, hi = window
    return lo <= stream_us < hi
