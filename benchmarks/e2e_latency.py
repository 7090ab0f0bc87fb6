"""End-to-end latency at a 1 kHz sample rate: the demo pipeline beside a bare pyzmq relay chain.

spikestream demo: deploy/demo.toml (input node: emg_synth + delta encoder -> snn -> control_output ->
actuator: 3 hops), every node its own process over tcp loopback, one sample per message. The actuator is
a process of its own, blocked on its socket; latency = its receipt time minus the sample's acquisition
time (origin_ns), for every control output after a 3 s warm-up.

spikestream relay nodes: the runtime alone (ramp_source -> relay nodes -> actuator process, same hops), to separate
what the runtime costs from what the stages cost.

Baseline: the same number of hops (source -> relays -> sink, one process each) moving an
8-byte timestamp with bare pyzmq PUB/SUB and nothing else — the floor that ZeroMQ and Python impose.

Scheduling: by default every process of all three chains runs at the SCHED_FIFO priorities the demo's
pipeline file gives its nodes, hop by hop (deploy/demo.toml: 50, 51, 52 from the source on; the actuator at
the highest), where this process may set them; `--rt 0` runs all three with normal scheduling instead,
`--rt PRIO` with every process at one priority.

    .venv/bin/python benchmarks/e2e_latency.py [--quick] [--duration S] [--repeats N] [--rt PRIO]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import struct
import sys
import time

import numpy as np
import zmq

from spikestream.runtime import pipeline
from spikestream.runtime.demo import DEFAULT_PIPELINE, DemoRun
from spikestream.transport import free_tcp_port


def _prioritise(rt: int | None) -> None:
    if rt:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(rt))


def _permitted(rt: int) -> bool:
    """Whether this process may use SCHED_FIFO at `rt` (tried on a throw-away child, not on us)."""
    if not rt:
        return True
    p = mp.Process(target=_prioritise, args=(rt,))
    p.start()
    p.join()
    return p.exitcode == 0


def _relay(up: str, down: str, rt: int | None) -> None:
    _prioritise(rt)
    ctx = zmq.Context()
    s, p = ctx.socket(zmq.SUB), ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    p.bind(down)
    s.connect(up)
    while True:
        m = s.recv()
        if m == b"stop":
            p.send(m)
            break
        p.send(m)


def _source(down: str, rate: float, n: int, ready, rt: int | None) -> None:
    _prioritise(rt)
    ctx = zmq.Context()
    p = ctx.socket(zmq.PUB)
    p.bind(down)
    ready.wait()
    t0 = time.perf_counter()
    for k in range(n):
        due = t0 + k / rate
        while (d := due - time.perf_counter()) > 0:
            time.sleep(d)
        p.send(struct.pack("<q", time.time_ns()))
    time.sleep(0.2)
    p.send(b"stop")


def _actuator(endpoint: str, n_wanted: int, warmup_s: float, conn, rt: int | None) -> None:
    """A separate process that listens like an actuator's driver: stamps each control/samples message on
    arrival and sends back the latencies (ms) of the `n_wanted` messages after `warmup_s` of source time."""
    from spikestream import protocol as P

    _prioritise(rt)
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    lat, t_first = [], None
    while len(lat) < n_wanted and s.poll(30_000):
        f = s.recv()
        now = time.time_ns()
        m = P.unpack(f)
        t_first = m.t_us if t_first is None else t_first
        if m.t_us - t_first >= warmup_s * 1e6 and not getattr(m.body, "safe", False):
            lat.append((now - m.origin_ns) * 1e-6)
    conn.send(np.asarray(lat))
    s.close(0)


def start_actuator(endpoint: str, n_wanted: int, warmup_s: float, rt: int | None):
    here, there = mp.Pipe(duplex=False)
    proc = mp.Process(target=_actuator, args=(endpoint, n_wanted, warmup_s, there, rt), daemon=True)
    proc.start()
    return proc, here


def bare_chain(rate: float, seconds: float, prios: list[int | None]) -> np.ndarray:
    """Source -> relays -> this process, one hop per entry of `prios` (each process's SCHED_FIFO priority)."""
    hops = len(prios)
    eps = [f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(hops)]
    ready = mp.Event()
    procs = [mp.Process(target=_relay, args=(eps[i], eps[i + 1], prios[i + 1]), daemon=True) for i in range(hops - 1)]
    src = mp.Process(target=_source, args=(eps[0], rate, int(rate * seconds), ready, prios[0]), daemon=True)
    for p in procs + [src]:
        p.start()
    ctx = zmq.Context.instance()
    sink = ctx.socket(zmq.SUB)
    sink.setsockopt(zmq.SUBSCRIBE, b"")
    sink.connect(eps[-1])
    time.sleep(1.0)  # let every SUB connect before the source starts (ZeroMQ's slow joiner)
    ready.set()
    lat = []
    while True:
        if not sink.poll(10_000):
            break
        m = sink.recv()
        if m == b"stop":
            break
        lat.append((time.time_ns() - struct.unpack("<q", m)[0]) * 1e-6)
    for p in procs + [src]:
        p.join(2)
        p.kill()
    sink.close(0)
    lat = np.asarray(lat)
    return lat[lat.size // 10:]  # the first tenth is connection warm-up


def runtime_chain(rate: float, seconds: float, prios: list[int | None], act_prio: int | None) -> np.ndarray:
    """The spikestream runtime alone: ramp_source -> relay nodes -> an actuator process, over tcp; one node
    per entry of `prios` (its rt_priority)."""
    hops = len(prios)
    from spikestream.runtime.supervisor import Supervisor

    doc = {"pipeline": {"name": "relay-chain"},
           "nodes": {"src": {"kind": "ramp_source", "outputs": {"out": "tcp://127.0.0.1:auto"},
                             "params": {"rate_hz": rate, "chunk": 1}}}}
    prev = "src"
    for i in range(hops - 1):
        doc["nodes"][f"r{i}"] = {"kind": "relay", "inputs": {"in": f"{prev}.out"}, "outputs": {"out": "tcp://127.0.0.1:auto"}}
        prev = f"r{i}"
    for nd, prio in zip(doc["nodes"].values(), prios):
        if prio:
            nd["rt_priority"] = prio
    pl = pipeline.from_dict(doc)
    n = int(rate * seconds)
    proc, result = start_actuator(pl.nodes[prev].outputs["out"], n, 1.0, act_prio)
    Supervisor(pl).run(None, until=lambda: result.poll() or not proc.is_alive())
    lat = result.recv() if result.poll(5) else np.zeros(0)
    proc.join(5)
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--rt", type=int, default=None, metavar="PRIO",
                    help="one SCHED_FIFO priority for every process of every chain (default: the demo pipeline's "
                         "own priorities, hop by hop; 0: normal scheduling)")
    a = ap.parse_args()
    shipped = [s.rt_priority for s in pipeline.load(DEFAULT_PIPELINE).nodes.values()]  # source first
    hops = len(shipped)  # into each node after the first, then out to the actuator
    prios = shipped if a.rt is None else [a.rt or None] * hops
    act_prio = max(p or 0 for p in prios) or None  # the actuator's driver: the highest
    if act_prio and not _permitted(act_prio):
        print(f"SCHED_FIFO {act_prio} is not permitted here: every chain runs with normal scheduling")
        prios, act_prio = [None] * hops, None
    _prioritise(act_prio)  # the listeners too (threads started from here inherit it), like an actuator's driver
    dur = a.duration or (8.0 if a.quick else 20.0)
    reps = a.repeats or (1 if a.quick else 3)
    demo_kw = {} if prios == shipped else {"rt_priority": prios[0]}  # the file's own, or one for every node
    rows = []
    for r in range(reps):
        base = bare_chain(1000.0, dur, prios)
        rt = runtime_chain(1000.0, dur, prios, act_prio)
        demo = DemoRun(warmup_s=3.0, **demo_kw)
        proc, result = start_actuator(demo.sup.pipeline.nodes["output"].outputs["out"], int(1000 * dur), 3.0, act_prio)
        s = demo.run(None, until=lambda: result.poll() or not proc.is_alive())
        act = result.recv() if result.poll(5) else np.zeros(0)
        proc.join(5)
        lat = {"p50": float(np.percentile(act, 50)), "p99": float(np.percentile(act, 99)), "n": int(act.size)} \
            if act.size else {}
        thread = s["latency_sensor_to_control_ms"]
        drops = sum(st["dropped"] for st in s["stages"])
        rows.append({"bare_p50": float(np.percentile(base, 50)), "bare_p99": float(np.percentile(base, 99)),
                     "rt_p50": float(np.percentile(rt, 50)), "rt_p99": float(np.percentile(rt, 99)),
                     "ss_p50": lat.get("p50", float("nan")), "ss_p99": lat.get("p99", float("nan")),
                     "ss_n": lat.get("n", 0), "drops": drops})
        print(f"run {r + 1}/{reps}: bare chain p50 {rows[-1]['bare_p50']:.3f} ms p99 {rows[-1]['bare_p99']:.3f} ms | "
              f"runtime relays p50 {rows[-1]['rt_p50']:.3f} ms p99 {rows[-1]['rt_p99']:.3f} ms | "
              f"spikestream p50 {rows[-1]['ss_p50']:.3f} ms p99 {rows[-1]['ss_p99']:.3f} ms "
              f"({rows[-1]['ss_n']} outputs, {drops} drops; the demo's in-process probe thread saw p50 "
              f"{thread.get('p50')} p99 {thread.get('p99')})", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    prio = (", normal scheduling (SCHED_OTHER)" if not any(prios) else
            f", SCHED_FIFO {'/'.join(map(str, prios))} from the source on, actuator {act_prio}")
    print(f"\nend-to-end latency at 1 kHz, {hops} tcp hops{prio}, median of {reps} run(s) of {dur:.0f} s:")
    print(f"  bare pyzmq relay chain : p50 {med['bare_p50']:.3f} ms   p99 {med['bare_p99']:.3f} ms")
    print(f"  spikestream relay nodes: p50 {med['rt_p50']:.3f} ms   p99 {med['rt_p99']:.3f} ms   (runtime only, no stages)")
    print(f"  spikestream demo       : p50 {med['ss_p50']:.3f} ms   p99 {med['ss_p99']:.3f} ms   drops {med['drops']:.0f}")
    print(f"  ratio spikestream/bare : p50 {med['ss_p50'] / med['bare_p50']:.2f}x   p99 {med['ss_p99'] / med['bare_p99']:.2f}x")
    print(f"  target                 : p50 <= 1 ms, p99 <= 3 ms, no drops")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": rows, "median": med, "duration_s": dur}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
