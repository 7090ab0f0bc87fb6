"""Latency of the LSL sample -> published spike packet path, against a bare pylsl -> ZeroMQ relay
measured in the same run.

A separate process pushes one 8-channel sample every millisecond (1 kHz, chunk 1) into an LSL outlet,
stamped with ``pylsl.local_clock()`` at the push. This process pulls it and publishes on a ZeroMQ PUB
socket (tcp loopback), two ways:

- bare:  ``inlet.pull_chunk(timeout=0)`` -> ``socket.send(raw bytes)``
- ours:  ``lsl_source`` node -> ``encoder`` node (delta) -> ``protocol.pack`` -> ``socket.send``

For each sample: ``wait`` = start of the poll that found it minus its push time (LSL transport plus the
polling interval), ``added`` = send time minus the start of that poll (what the path costs), ``total``.
Figures are medians and 99th percentiles in microseconds; the target is ``added`` < 1 ms.

    .venv/bin/python benchmarks/encode_lsl_latency.py [--quick]

The machine is shared (2 cores, other jobs): the tail is noisy, the median is the figure to read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import pylsl
import zmq

from spikestream.protocol import Message, pack
from spikestream.registry import NODES

SENDER = r"""
import sys, time, numpy as np, pylsl
name, n = sys.argv[1], int(sys.argv[2])
out = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", 8, 1000, "float32", name))
deadline = time.monotonic() + 20
while not out.have_consumers() and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)
x = np.random.default_rng(0).standard_normal((n, 8)).astype(np.float32)
t0 = time.perf_counter()
for k in range(n):
    while time.perf_counter() < t0 + k * 1e-3:
        pass
    out.push_sample(x[k], pylsl.local_clock())
time.sleep(0.5)
"""


def start_sender(name: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SENDER, name, str(n)])


def _stats(a) -> str:
    a = np.asarray(a) * 1e6
    return f"median {np.median(a):7.1f}  p99 {np.percentile(a, 99):7.1f}"


def bare(name: str, n: int, sock) -> dict:
    proc = start_sender(name, n)
    info = pylsl.resolve_byprop("name", name, 1, 10.0)[0]
    inlet = pylsl.StreamInlet(info, max_buflen=10)
    inlet.open_stream(timeout=10)
    buf = np.empty((1024, 8), np.float32)
    wait, added = [], []
    deadline = time.monotonic() + n / 1000 + 15
    while len(wait) < n and time.monotonic() < deadline:
        t_poll = pylsl.local_clock()
        _, ts = inlet.pull_chunk(timeout=0.0, max_samples=1024, dest_obj=buf)
        if ts:
            sock.send(buf[: len(ts)].tobytes())
            t_sent = pylsl.local_clock()
            for s in ts:
                wait.append(t_poll - s)
                added.append(t_sent - t_poll)
        else:
            time.sleep(5e-5)
    proc.wait()
    return {"wait": wait, "added": added}


def ours_with_wait(name: str, n: int, sock) -> dict:
    """As `ours`, recording each sample's LSL push time through the samples' t_us (clocksync off: same clock)."""
    proc = start_sender(name, n)
    rec = []
    state = {"t_poll": 0.0}

    def publish(port, body, t_us, origin_ns):
        sock.send(pack(Message(body, stream="enc.out", seq=len(rec), t_us=t_us, origin_ns=origin_ns)))
        t_sent = pylsl.local_clock()
        rec.append((t_sent, state["first_t"], state["rows"]))

    enc = NODES.get("encoder")("enc", {"encoder": "delta", "threshold": 0.5}, emit=publish)
    enc.setup()

    def to_encoder(port, body, t_us, origin_ns):
        state["first_t"] = body.t_us[0] / 1e6
        state["rows"] = body.t_us / 1e6
        enc.on_message("in", Message(body, stream="lsl.samples", seq=0, t_us=t_us, origin_ns=origin_ns))

    src = NODES.get("lsl_source")("lsl", {"name": name, "clocksync": False}, emit=to_encoder)
    src.setup()
    wait, added = [], []
    deadline = time.monotonic() + n / 1000 + 15
    while len(wait) < n and time.monotonic() < deadline:
        state["t_poll"] = t_poll = pylsl.local_clock()
        k0 = len(rec)
        src.poll(time.time_ns())
        for t_sent, _, rows in rec[k0:]:
            for s in rows:
                wait.append(t_poll - s)
                added.append(t_sent - t_poll)
        if len(rec) == k0:
            time.sleep(5e-5)
    src.close()
    proc.wait()
    return {"wait": wait, "added": added}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n = 500 if a.quick else 3000
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{port}")
    tag = f"sslat-{os.getpid()}"
    # warm up numba and the encoder once
    from spikestream.encode.delta import DeltaEncoder
    DeltaEncoder(8).encode(np.zeros((1, 8), np.float32), np.zeros(1, np.int64))
    b = bare(tag + "-bare", n, pub)
    o = ours_with_wait(tag + "-ours", n, pub)
    print(f"{n} samples, 8 channels, 1 kHz, one sample per LSL push; microseconds")
    print(f"bare  pylsl->zmq   wait  {_stats(b['wait'])}   added {_stats(b['added'])}   n={len(b['added'])}")
    print(f"ours  nodes->zmq   wait  {_stats(o['wait'])}   added {_stats(o['added'])}   n={len(o['added'])}")
    ratio = np.median(o["added"]) / max(np.median(b["added"]), 1e-9)
    print(f"added by our path: median {np.median(o['added']) * 1e6:.1f} us ({ratio:.1f}x the bare relay); "
          f"target < 1000 us; shared 2-core machine, noisy")
    sub.close()
    pub.close()
    ctx.term()


if __name__ == "__main__":
    main()
