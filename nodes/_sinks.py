"""The output node's sinks fed as one: built from their ``{kind = ...}`` tables, each value published to all of
them, their figures mirrored into a counters mapping, all closed at the end. A failing sink never stops the others
nor the caller: its error is handed to `on_error` (publishing) or logged (closing). (Here, not in
`spikestream.sinks`: importing that package loads every sink kind, and a node without sinks loads none.)
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from spikestream.params import build_kind
from spikestream.registry import SINKS


def build_sinks(tables: list[dict], where: str, curve_keys: Any = None,
                log: logging.Logger | None = None) -> list:
    """The sinks `tables` name (``where[i]`` locates a bad one). A ``zmq_pub`` sink gets `curve_keys` when
    given (never plaintext beside an encrypted pipeline). When one cannot be built, those built already
    are closed and the error raised."""
    sinks: list = []
    try:
        for i, s in enumerate(tables):
            s = dict(s)
            if s.get("kind") == "zmq_pub" and curve_keys:
                s["curve_keys"] = curve_keys
            sinks.append(build_kind(SINKS, s, f"{where}[{i}]"))
    except Exception:
        close_sinks(sinks, log)
        raise
    return sinks


def publish_all(sinks: list, y: np.ndarray, t_us: int, safe: bool, names: list[str], origin_ns: int,
                on_error: Callable[[str], None]) -> None:
    """`y` to every sink; a sink that raises is reported to `on_error` and the rest still get it."""
    for s in sinks:
        try:
            s.publish(y, t_us, safe=safe, names=names, origin_ns=origin_ns)
        except Exception as e:  # a sink must never take the node down
            on_error(f"sink {type(s).__name__} failed: {e}")


def mirror_stats(sinks: list, counters: dict[str, Any]) -> None:
    """Each sink's numeric figures into `counters` as ``sink<i>.<name>``."""
    for i, sk in enumerate(sinks):
        for k, v in sk.stats().items():
            if isinstance(v, (int, float)):
                counters[f"sink{i}.{k}"] = v


def close_sinks(sinks: list, log: logging.Logger | None = None) -> None:
    """Close every sink; a failure is logged (when `log` is given) and the others still close."""
    for s in sinks:
        try:
            s.close()
        except Exception as e:
            if log is not None:
                log.warning("closing sink %s: %s", type(s).__name__, e)
