"""dv_camera node throughput from a dv-processing NetworkWriter on loopback: the writer (tests/sources/
dv_writer.py, its own process) streams an AEDAT 4 file of dv-generated events (640 x 480, 10 000 events per
10 ms batch) as fast as it can; the node (no filters, ``slice_us`` slices) is polled in a loop, as the runtime
does, until every event is through. A warm-up run first, so that the kernels come from Numba's cache.

    .venv/bin/python benchmarks/dv_camera.py [--batches 200] [--repeats 3] [--slice-us 1000]

Prints per run: events, wall time from the node's start to the last event, Mev/s, and the node process's CPU
seconds (the writer runs on the same cores, so wall figures include its share). Noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

WRITER = Path(__file__).resolve().parents[1] / "tests" / "sources" / "dv_writer.py"


def record(path: Path, batches: int) -> int:
    import dv_processing as dv

    w = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("bench", (640, 480)))
    for k in range(batches):
        w.writeEvents(dv.data.generate.uniformEventsWithinTimeRange(1_000_000 + 10_000 * k,
                                                                   timedelta(milliseconds=10), (640, 480), 10_000, k))
    del w
    return 10_000 * batches


def run(path: Path, n: int, slice_us: int) -> tuple[float, float]:
    from spikestream.testing import NodeHarness

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, str(WRITER), str(port), "file", str(path)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "listening"
        h = NodeHarness("dv_camera", {"address": f"127.0.0.1:{port}", "reconnect": False, "slice_us": slice_us})
        t0, c0 = time.perf_counter(), time.process_time()
        while h.node.counters["events_in"] < n:
            h.node.poll(time.time_ns())
            if time.perf_counter() - t0 > 120:
                raise SystemExit(f"timed out at {h.node.counters['events_in']} of {n} events")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert h.node.counters["dropped_events"] == 0
        h.node.close()
        return wall, cpu
    finally:
        p.kill()
        p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slice-us", type=int, default=1000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.aedat4"
        n = record(path, a.batches)
        run(path, n, a.slice_us)  # warm-up: kernels into the cache
        walls = []
        for i in range(a.repeats):
            wall, cpu = run(path, n, a.slice_us)
            walls.append(wall)
            print(f"run {i + 1}: {n} events in {wall:.2f} s wall = {n / wall / 1e6:.2f} Mev/s; "
                  f"node process CPU {cpu:.2f} s")
        print(f"median {n / statistics.median(walls) / 1e6:.2f} Mev/s")


if __name__ == "__main__":
    main()
