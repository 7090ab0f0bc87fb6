"""Lab Streaming Layer outlet: one double64 channel per output plus a last ``safe`` channel (0/1).

Irregular rate (each control value is one sample), stamped with ``pylsl.local_clock()`` when published.
`push_sample` only copies into liblsl's own buffer (``max_buffered_s`` seconds), so it does not block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikestream.registry import SINKS
from spikestream.sinks._base import Sink


@SINKS.register("lsl")
class LslSink(Sink):
    def __init__(self, *, name: str = "spikestream-control", type: str = "Control", source_id: str = "",
                 safe_channel: bool = True, max_buffered_s: int = 10, chunk_size: int = 1):
        self._cfg = dict(name=name, type=type, source_id=source_id or name, max_buffered_s=int(max_buffered_s),
                         chunk_size=int(chunk_size))
        self.safe_channel = bool(safe_channel)
        self.outlet = None
        self.sent = 0
        self._buf = np.zeros(0)

    def open(self, n_outputs: int, names: list[str]) -> None:
        import pylsl

        c = self._cfg
        n = n_outputs + (1 if self.safe_channel else 0)
        info = pylsl.StreamInfo(c["name"], c["type"], n, pylsl.IRREGULAR_RATE, pylsl.cf_double64, c["source_id"])
        chans = info.desc().append_child("channels")
        labels = list(names) or [f"y{k}" for k in range(n_outputs)]
        for lab in labels + (["safe"] if self.safe_channel else []):
            chans.append_child("channel").append_child_value("label", lab)
        self.outlet = pylsl.StreamOutlet(info, c["chunk_size"], c["max_buffered_s"])
        self._buf = np.zeros(n)
        self._pylsl = pylsl

    def publish(self, values, t_us, safe=False, names=None, origin_ns=0) -> None:
        v = np.asarray(values, np.float64)
        if self.outlet is None:
            self.open(v.size, list(names or []))
        k = v.size
        self._buf[:k] = v
        if self.safe_channel:
            self._buf[k] = 1.0 if safe else 0.0
        self.outlet.push_sample(self._buf, self._pylsl.local_clock())
        self.sent += 1

    def stats(self) -> dict[str, Any]:
        return {"sent": self.sent}

    def close(self) -> None:
        self.outlet = None
