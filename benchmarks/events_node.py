"""End-to-end event_camera node throughput (Mev/s): decode an EVT 2.0 file, filter, slice, pack each slice
as a Spikes message and publish it on a real ZeroMQ PUB socket, read back by a SUB on loopback TCP in a
thread. Beside it, in the same run, a bare baseline: decode + pack + publish the raw chunks (no filters, no
slicing). The node runs as fast as possible (speed = "fast"), driven by its own poll() like the runtime does.

    .venv/bin/python benchmarks/events_node.py [--quick] [--events N] [--repeats R]

Prints the median of R runs per configuration (after a warm-up), the ratio to the baseline, the fraction of
events the subscriber received, and the process's peak RSS. Target: >= 20 Mev/s in bounded memory.
The machine is shared by several engineers (2 cores): timings are noisy; compare ratios from one run.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq

from events_decode import size_args

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import open_reader, open_writer
from spikestream.protocol import Events, Message, pack
from spikestream.registry import NODES

W, H = 640, 480
RATE_EV_PER_S = 2_000_000  # recording rate: a busy scene


def synth(path: Path, n: int, seed: int = 0) -> None:
    """Moving edges plus uniform noise, written in chunks (never the whole file in memory)."""
    rng = np.random.default_rng(seed)
    chunk = 1 << 20
    with open_writer(path, format="evt2", width=W, height=H) as w:
        for a in range(0, n, chunk):
            k = min(chunk, n - a)
            t = (a + np.arange(k)) * 1_000_000 // RATE_EV_PER_S
            ev = np.zeros(k, EVENT_DTYPE)
            edge = (t // 2_000) % W  # an edge sweeping across the sensor
            noise = rng.random(k) < 0.2
            ev["x"] = np.where(noise, rng.integers(0, W, k), np.clip(edge + rng.integers(-2, 3, k), 0, W - 1))
            ev["y"] = rng.integers(0, H, k)
            ev["t"] = t
            ev["p"] = rng.integers(0, 2, k)
            w.write(ev)


class Subscriber(threading.Thread):
    def __init__(self, ctx: zmq.Context, endpoint: str):
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 10_000)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)
        self.messages = 0
        self.bytes = 0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            if self.sock.poll(50):
                while True:
                    try:
                        f = self.sock.recv(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self.messages += 1
                    self.bytes += len(f)
        self.sock.close(linger=0)


def with_bus(fn):
    """Run fn(send) with a PUB on loopback and a SUB thread; returns (fn's result, messages, bytes)."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 10_000)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = Subscriber(ctx, f"tcp://127.0.0.1:{port}")
    sub.start()
    # the slow-joiner: wait until the subscription is through before timing
    deadline = time.monotonic() + 5
    while sub.messages == 0 and time.monotonic() < deadline:
        pub.send(b"hello")
        time.sleep(0.01)
    sub.messages = sub.bytes = 0
    seq = [0]

    def send(stream, body, t_us, origin_ns):
        seq[0] += 1
        pub.send(pack(Message(body, stream, seq[0], t_us, origin_ns)), copy=False)

    t0, c0 = time.perf_counter(), time.thread_time()
    res = fn(send)
    dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
    deadline = time.monotonic() + 5
    while sub.messages < seq[0] and time.monotonic() < deadline:  # let the tail arrive
        time.sleep(0.005)
    sub.stop = True
    sub.join()
    pub.close(linger=0)
    ctx.term()
    return res, dt, cpu, sub.messages, seq[0]


def run_node(path: Path, params: dict):
    def fn(send):
        node = NODES.get("event_camera")("bench", {"path": str(path), "speed": "fast", **params},
                                         emit=lambda port, body, t_us, o: send(f"bench.{port}", body, t_us, o))
        node.setup()
        i = 0
        while not node.finished:
            node.poll(time.time_ns())
            i += 1
        node.close()
        return node.counters["events_in"]
    return fn


def run_baseline(path: Path, chunk: int):
    def fn(send):
        n = 0
        with open_reader(path, chunk_events=chunk) as r:
            while (ev := r.read(chunk)).size:
                t0, t1 = int(ev["t"][0]), int(ev["t"][-1]) + 1
                send("bare", Events(t0, t1, W, H, ev["x"], ev["y"], ev["t"], ev["p"]), t1, 0)
                n += ev.size
        return n
    return fn


def main() -> int:
    n, repeats = size_args(__doc__, quick=(2_000_000, 2), full=(20_000_000, 3))
    chunk = 1 << 16
    filters = [{"kind": "hot_pixel", "window_us": 100_000, "max_events": 1000},
               {"kind": "background_activity", "dt_us": 5_000},
               {"kind": "refractory", "period_us": 100}]
    configs = {
        "baseline: decode + publish": run_baseline,
        "node: slices 1 ms, no filters": {"slice_us": 1_000},
        "node: slices 10 ms, no filters": {"slice_us": 10_000},
        "node: 3 filters, downsample 2, 1 ms": {"slice_us": 1_000, "filters": filters, "downsample": 2},
        "node: 3 filters, downsample 2, 10 ms": {"slice_us": 10_000, "filters": filters, "downsample": 2},
        "node: downsample 2 first, 3 filters, 1 ms": {"slice_us": 1_000,
                                                      "filters": [{"kind": "downsample", "factor": 2}, *filters]},
    }
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.raw"
        print(f"writing {n / 1e6:.1f} M events ({n / RATE_EV_PER_S:.1f} s at {RATE_EV_PER_S / 1e6:.0f} Mev/s, "
              f"{W}x{H}) as EVT 2.0 ...", flush=True)
        synth(path, n)
        print(f"file: {path.stat().st_size / 2**20:.0f} MiB; {repeats} timed runs each after one warm-up; "
              "median; shared 2-core machine, noisy\n", flush=True)
        runners = {name: (cfg(path, chunk) if callable(cfg) else run_node(path, {**cfg, "chunk_events": chunk}))
                   for name, cfg in configs.items()}
        small = Path(d) / "warm.raw"
        synth(small, 200_000)
        for name, cfg in configs.items():  # warm-up (JIT compile, page cache)
            with_bus(cfg(small, chunk) if callable(cfg) else run_node(small, {**cfg, "chunk_events": chunk}))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results = {name: [] for name in runners}
        per_cpu = {name: [] for name in runners}
        delivered = {}
        for _ in range(repeats):
            for name, fn in runners.items():  # interleaved so background load hits all alike
                got, dt, cpu, received, sent = with_bus(fn)
                assert got == n, (name, got, n)
                results[name].append(n / dt / 1e6)
                per_cpu[name].append(n / cpu / 1e6)
                delivered[name] = received / max(sent, 1)
        base = statistics.median(results["baseline: decode + publish"])
        print(f"{'configuration':44s} {'Mev/s':>8s} {'x baseline':>11s} {'Mev/CPU-s':>10s} {'delivered':>10s}")
        for name, r in results.items():
            m = statistics.median(r)
            print(f"{name:44s} {m:8.1f} {m / base:11.2f} {statistics.median(per_cpu[name]):10.1f} "
                  f"{delivered[name]:10.1%}")
        print("(Mev/s: wall clock, what the loaded machine gave; Mev/CPU-s: per second of the node thread's own "
              "CPU time, what one free core would give)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak RSS: {rss_before:.0f} MiB after writing the file and warming up, {rss:.0f} MiB after all "
              f"timed runs over the {path.stat().st_size / 2**20:.0f} MiB file (growth = what streaming held)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
