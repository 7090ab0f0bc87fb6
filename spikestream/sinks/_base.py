"""The sink contract: `publish` never blocks the node loop; `stats` for the node's counters; `close`."""

from __future__ import annotations

from typing import Any

import numpy as np


class Sink:
    def publish(self, values: np.ndarray, t_us: int, safe: bool = False, names: list[str] | None = None,
                origin_ns: int = 0) -> None:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def control_record(values: np.ndarray, t_us: int, safe: bool, names: list[str] | None, origin_ns: int) -> dict:
    """The JSON-friendly record every text sink writes: ``{"t_us", "origin_ns", "safe", "values", "names"}``."""
    return {"t_us": int(t_us), "origin_ns": int(origin_ns), "safe": bool(safe),
            "values": [float(v) for v in values], "names": list(names or [])}
